/* gpuinfo.c: the GPU's model and driver from the NVIDIA driver's /proc
 * files. Their format (one "Key: value" per line, values padded with tabs
 * and spaces) is the driver's; a line this code does not know is skipped. */
#include "harness/gpuinfo.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/fsutil.h"

#define GPUINFO_FILE_MAX 8192

/* The value of "key:" in text, spaces trimmed, into out. 0 when found. */
static int value_of(const char *text, const char *key, char *out, size_t cap)
{
	size_t k = strlen(key);

	for (const char *line = text; line && *line; line = strchr(line, '\n') ? strchr(line, '\n') + 1 : NULL) {
		const char *v, *end;
		if (strncmp(line, key, k) || line[k] != ':')
			continue;
		for (v = line + k + 1; *v == ' ' || *v == '\t'; v++)
			;
		end = strchr(v, '\n');
		end = end ? end : v + strlen(v);
		while (end > v && isspace((unsigned char)end[-1]))
			end--;
		snprintf(out, cap, "%.*s", (int)(end - v), v);
		return 0;
	}
	return -1;
}

/* "NVRM version: NVIDIA UNIX x86_64 Kernel Module  580.159.04  Tue ..." ->
 * the first word made of digits and dots with at least one dot. */
static void driver_version(const char *text, char *out, size_t cap)
{
	const char *p = text;

	out[0] = '\0';
	while (*p && *p != '\n') {
		size_t n = strspn(p, "0123456789.");
		if (n > 2 && memchr(p, '.', n) && isdigit((unsigned char)p[0]) && (p == text || p[-1] == ' ')) {
			snprintf(out, cap, "%.*s", (int)n, p);
			return;
		}
		p += n ? n : 1;
	}
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The driver's /proc files report a size of 0, as pipes do: read to the
 * end (at most GPUINFO_FILE_MAX bytes), never by the size stat gives. */
static int read_text(const char *path, char **text, struct kerr *err)
{
	FILE *f = fopen(path, "re");
	size_t got = 0;
	int rc = -1;

	*text = NULL;
	if (!f)
		return kerr_errno(err, "gpu.info", path);
	if (!(*text = malloc(GPUINFO_FILE_MAX + 1))) {
		kerr_set(err, "gpu.info", "%s: out of memory", path);
		goto out;
	}
	got = fread(*text, 1, GPUINFO_FILE_MAX, f);
	if (ferror(f)) {
		kerr_errno(err, "gpu.info", path);
		goto out;
	}
	(*text)[got] = '\0';
	rc = 0;
out:
	if (rc < 0) {
		free(*text);
		*text = NULL;
	}
	fclose(f);
	return rc;
}

int gpuinfo_read(const char *proc_root, struct gpuinfo *g, struct kerr *err)
{
	char base[FS_PATH_MAX], path[FS_PATH_MAX], *text = NULL, *names[64];
	const char *root = proc_root ? proc_root : "/proc";
	struct dirent *de;
	int n = 0, rc = -1;
	DIR *d;

	memset(g, 0, sizeof *g);
	if (fs_join(base, sizeof base, err, "%s/driver/nvidia", root) < 0 ||
	    fs_join(path, sizeof path, err, "%s/version", base) < 0)
		return -1;
	if (fs_exists(path)) {
		if (read_text(path, &text, err) < 0)
			return -1;
		driver_version(strstr(text, "Kernel Module") ? strstr(text, "Kernel Module") : text, g->driver,
			       sizeof g->driver);
		free(text);
		text = NULL;
	}
	if (fs_join(path, sizeof path, err, "%s/gpus", base) < 0)
		return -1;
	if (!(d = opendir(path)))
		return errno == ENOENT ? 0 : kerr_errno(err, "gpu.info", path);
	while ((de = readdir(d)) && n < (int)(sizeof names / sizeof names[0]))
		if (de->d_name[0] != '.' && !(names[n++] = strdup(de->d_name))) {
			n--;
			kerr_set(err, "gpu.info", "out of memory");
			goto out;
		}
	qsort(names, (size_t)n, sizeof names[0], cmp_str);
	g->count = n;
	if (n > 0) {
		if (fs_join(path, sizeof path, err, "%s/gpus/%s/information", base, names[0]) < 0 ||
		    read_text(path, &text, err) < 0)
			goto out;
		if (value_of(text, "Model", g->model, sizeof g->model) < 0)
			snprintf(g->model, sizeof g->model, "%s", GPUINFO_UNKNOWN);
	}
	rc = 0;
out:
	closedir(d);
	for (int i = 0; i < n; i++)
		free(names[i]);
	free(text);
	return rc;
}

/* test_kerr.c: the error carrier every module returns through: a new
 * message may quote the old one (the call that set it read its own
 * buffer while writing it), a prefix keeps the code, which codes say
 * that memory ran out, and the operator's folder hidden from messages a
 * stranger reads, whole or cut short. */
#include "testutil.h"

static void quoting_itself(void **state)
{
	struct kerr e = { { 0 }, { 0 } };

	(void)state;
	kerr_set(&e, "fs.read", "short read of %s", "/srv/state/manifest.json");
	kerr_set(&e, "judge.unreadable", "bundle: no readable manifest.json: %s (%s)", e.msg, e.code);
	assert_string_equal(e.code, "judge.unreadable");
	assert_string_equal(e.msg, "bundle: no readable manifest.json: short read of /srv/state/manifest.json (fs.read)");
	kerr_prefix(&e, "check %d", 2);
	assert_string_equal(e.code, "judge.unreadable");
	assert_string_equal(e.msg,
			    "check 2: bundle: no readable manifest.json: short read of /srv/state/manifest.json (fs.read)");
}

static void out_of_memory_codes(void **state)
{
	static const char *const yes[] = { "fs.nomem", "judge.oom", "bundle.nomem", "log.nomem" };
	static const char *const no[] = { "nomem", "judge.nomem_x", "x.oomph", "", ".oom", "bundle.manifest_parse" };
	struct kerr e = { { 0 }, { 0 } };

	(void)state;
	for (size_t i = 0; i < sizeof yes / sizeof yes[0]; i++) {
		kerr_set(&e, yes[i], "m");
		if (!kerr_is_nomem(&e))
			fail_msg("%s should say memory ran out", yes[i]);
	}
	for (size_t i = 0; i < sizeof no / sizeof no[0]; i++) {
		kerr_set(&e, no[i], "m");
		if (kerr_is_nomem(&e))
			fail_msg("'%s' should not say memory ran out", no[i]);
	}
}

/* kerr_hide_path on text (a copy) in a buffer it fills (cut: it may have
 * been cut there) or one with room to spare, compared with want. */
static void hidden_in(const char *text, const char *path, const char *want, int cut)
{
	char buf[256];

	snprintf(buf, sizeof buf, "%s", text);
	kerr_hide_path(buf, cut ? strlen(text) + 1 : sizeof buf, path);
	if (strcmp(buf, want))
		fail_msg("hiding %s in \"%s\"%s: \"%s\", want \"%s\"", path, text, cut ? " (cut)" : "", buf, want);
}

static void hidden(const char *text, const char *path, const char *want)
{
	hidden_in(text, path, want, 0);
}

static void hidden_cut(const char *text, const char *path, const char *want)
{
	hidden_in(text, path, want, 1);
}

static void paths_hidden(void **state)
{
	(void)state;
	hidden("open /srv/karpa/state/work/x: gone (/srv/karpa/state)", "/srv/karpa/state",
	       "open STATE/work/x: gone (STATE)");
	/* a text that fills its buffer, cut inside the path, or right after
	 * its first bytes */
	hidden_cut("cannot read /srv/karpa/state/wo", "/srv/karpa/state", "cannot read STATE/wo");
	hidden_cut("cannot read /srv/karpa/sta", "/srv/karpa/state", "cannot read STATE");
	hidden_cut("cannot read /srv/kar", "/srv/karpa/state", "cannot read STATE"); /* KERR_HIDE_MIN bytes */
	hidden_cut("cannot read /srv/ka", "/srv/karpa/state", "cannot read /srv/ka"); /* fewer */
	hidden_cut("both /srv/karpa/state and /srv/karpa/st", "/srv/karpa/state", "both STATE and STATE");
	/* not cut: a tail that starts the path is the text's own (a request
	 * path quoted back), and hiding it would confirm a guess of the path
	 * a byte at a time */
	hidden("no route for /srv/karpa/sta", "/srv/karpa/state", "no route for /srv/karpa/sta");
	hidden("both /srv/karpa/state and /srv/karpa/st", "/srv/karpa/state", "both STATE and /srv/karpa/st");
	/* a path too short to hide, NULL, or absent: unchanged */
	hidden_cut("/srv/v/x", "/srv/v", "/srv/v/x");
	hidden_cut("/srv/karpa/state", NULL, "/srv/karpa/state");
	hidden("nothing here", "/srv/karpa/state", "nothing here");
	kerr_hide_path(NULL, 16, "/srv/karpa/state");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(quoting_itself),
		cmocka_unit_test(out_of_memory_codes),
		cmocka_unit_test(paths_hidden),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

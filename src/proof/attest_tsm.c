/* attest_tsm.c: talking to confidential-compute hardware, and the
 * structural checks of what it returns. Owns the Linux configfs-tsm report
 * protocol (one fresh entry per request, removed afterwards), the SEV-SNP
 * guest ioctl, and the byte layouts of a TDX quote and an SNP report.
 * Never accepts a blob it has not checked carries our 64 report-data bytes.
 * Vendor signatures are attest_chain.c's. */
#include "proof/attest.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "proof/attest_chain.h"
#include "util/fsutil.h"

#if defined(__has_include)
#if __has_include(<linux/sev-guest.h>)
#include <linux/sev-guest.h>
#define HAVE_SEV_GUEST_H 1
#endif
#endif

/* ---------------------------------------------------------------- layouts */

/* TDX quote (Intel TDX DCAP quote library, "Quote Format"): a 48-byte
 * header (version u16, attestation key type u16, TEE type u32, reserved,
 * QE vendor id, user data), then in v4 the TD report body directly, in v5 a
 * body descriptor (type u16, size u32) and the body; then a u32 signature
 * data length and the signature data. All little-endian. */
#define TDX_HEADER_BYTES 48
#define TDX_TEE_TYPE 0x81u        /* 0x00 would be an SGX quote */
#define TDX_AK_ECDSA_P256 2u      /* the only attestation key type Intel's QE uses */
#define TDX_V5_DESC_BYTES 6       /* body type u16 + body size u32 */
#define TDX_V5_BODY_TD10 2u       /* TDX 1.0 TD report body */
#define TDX_V5_BODY_TD15 3u       /* TDX 1.5: adds TEE_TCB_SVN2 and MRSERVICETD at the end */
#define TDX_BODY10_BYTES 584
#define TDX_BODY15_BYTES 648
#define TDX_BODY_REPORTDATA 520   /* after TCB SVN, MRSEAM, ..., RTMR0-3: same in 1.0 and 1.5 */
#define TDX_BODY_TDATTRIBUTES 120 /* after TEE_TCB_SVN 16, MRSEAM 48, MRSIGNERSEAM 48, SEAMATTRIBUTES 8 */
#define TDX_BODY_MRSIGNERSEAM 64  /* after TEE_TCB_SVN 16, MRSEAM 48 */
#define TDX_BODY_SEAMATTRIBUTES 112
#define TDX_TDATTR_DEBUG 0x01u    /* bit 0 of TDATTRIBUTES */
#define TDX_TDATTR_BYTE3_MIGRATABLE 0x20u /* bit 29 of TDATTRIBUTES, in its fourth byte */
#define TDX_SIG_BYTES_MIN 64      /* an ECDSA P-256 signature alone is 64 bytes */

/* SEV-SNP ATTESTATION_REPORT (AMD SEV-SNP ABI specification). */
#define SNP_VERSION_MIN 2         /* 2: first SNP firmware; 3 and 5 added fields in reserved space */
#define SNP_VERSION_MAX 5
#define SNP_OFF_POLICY 0x08
#define SNP_POLICY_DEBUG (1u << 19) /* GUEST_POLICY.DEBUG: the hypervisor may debug (read, write) the guest */
#define SNP_POLICY_MIGRATE_MA (1u << 18) /* GUEST_POLICY.MIGRATE_MA: a migration agent the host picks */
#define SNP_OFF_VMPL 0x30
#define SNP_OFF_SIG_ALGO 0x34
#define SNP_SIG_ALGO_ECDSA_P384 1u
#define SNP_OFF_REPORT_DATA 0x50
#define SNP_OFF_SIGNATURE 0x2a0
#define SNP_SIG_RS_BYTES 144      /* r and s, 72 bytes each, little-endian */
#define SNP_VMPL_MAX 3
/* MSG_REPORT_RSP, the payload the ioctl returns: status u32, report size
 * u32, 24 reserved bytes, then the report. */
#define SNP_RSP_OFF_REPORT 0x20

/* configfs-tsm attribute sizes: provider names are short words, generation a
 * decimal counter. */
#define TSM_SMALL_ATTR_BYTES 64

static uint32_t le16(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8;
}

static uint32_t le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

int attest_tdx_layout(const uint8_t *q, size_t n, size_t *body_off, size_t *sig_off, struct kerr *err)
{
	size_t body_len;
	uint32_t version, sig_len;

	if (n < TDX_HEADER_BYTES || n > ATTEST_TDX_QUOTE_BYTES_MAX)
		return kerr_set(err, "attest.bad_quote", "TDX quote: %zu bytes is not a plausible quote size", n);
	version = le16(q);
	if (version != 4 && version != 5)
		return kerr_set(err, "attest.bad_quote", "TDX quote: header version %u, expected 4 or 5", version);
	if (le32(q + 4) != TDX_TEE_TYPE)
		return kerr_set(err, "attest.bad_quote", "TDX quote: TEE type 0x%x, expected 0x81 (TDX)", le32(q + 4));
	if (le16(q + 2) != TDX_AK_ECDSA_P256)
		return kerr_set(err, "attest.bad_quote", "TDX quote: attestation key type %u, expected 2 (ECDSA P-256)",
				le16(q + 2));
	if (version == 4) {
		*body_off = TDX_HEADER_BYTES;
		body_len = TDX_BODY10_BYTES;
	} else {
		uint32_t type;

		if (n < TDX_HEADER_BYTES + TDX_V5_DESC_BYTES)
			return kerr_set(err, "attest.bad_quote", "TDX quote: v5 quote truncated before its body descriptor");
		type = le16(q + TDX_HEADER_BYTES);
		body_len = le32(q + TDX_HEADER_BYTES + 2);
		*body_off = TDX_HEADER_BYTES + TDX_V5_DESC_BYTES;
		if (!(type == TDX_V5_BODY_TD10 && body_len == TDX_BODY10_BYTES) &&
		    !(type == TDX_V5_BODY_TD15 && body_len == TDX_BODY15_BYTES))
			return kerr_set(err, "attest.bad_quote", "TDX quote: v5 body type %u of %zu bytes is not a TD report",
					type, body_len);
	}
	*sig_off = *body_off + body_len;
	if (n < *sig_off + 4)
		return kerr_set(err, "attest.bad_quote", "TDX quote: %zu bytes, truncated before the signature length", n);
	sig_len = le32(q + *sig_off);
	/* The kernel hands over exactly the quote the host returned: the
	 * signature data must end the blob, no shorter and no longer. */
	if (sig_len < TDX_SIG_BYTES_MIN || (size_t)sig_len != n - *sig_off - 4)
		return kerr_set(err, "attest.bad_quote", "TDX quote: signature data length %u does not fill the %zu-byte blob",
				sig_len, n);
	return 0;
}

int attest_check_tdx_quote(const uint8_t *q, size_t n, const uint8_t rd[ATTEST_REPORT_DATA_BYTES],
			   struct kerr *err)
{
	size_t body_off, sig_off;

	if (attest_tdx_layout(q, n, &body_off, &sig_off, err) < 0)
		return -1;
	/* The TDX module under the TD: Intel's own (MRSIGNERSEAM zero) and a
	 * production one (SEAMATTRIBUTES zero; bit 0 is a debug module, whose
	 * state the host can read and write like a debug TD's). */
	for (size_t i = 0; i < 48; i++)
		if (q[body_off + TDX_BODY_MRSIGNERSEAM + i])
			return kerr_set(err, "attest.bad_quote", "TDX quote: MRSIGNERSEAM is not zero, so the TDX module "
					"is not Intel's");
	for (size_t i = 0; i < 8; i++)
		if (q[body_off + TDX_BODY_SEAMATTRIBUTES + i])
			return kerr_set(err, "attest.debug", "TDX quote: SEAMATTRIBUTES is not zero (bit 0: a debug TDX "
					"module), so the host could have written its report data; run the proof on a "
					"production TDX module");
	/* A debug TD's memory is open to the host, which can then ask for a
	 * quote over any report data it likes: such a quote proves nothing. */
	if (q[body_off + TDX_BODY_TDATTRIBUTES] & TDX_TDATTR_DEBUG)
		return kerr_set(err, "attest.debug", "TDX quote: the TD runs in debug mode (TDATTRIBUTES.DEBUG), so the "
				"host could have written its report data; run the proof in a production TD");
	/* A migratable TD's state leaves it under a key a migration TD holds,
	 * and nothing in the quote says which one: the same opening. */
	if (q[body_off + TDX_BODY_TDATTRIBUTES + 3] & TDX_TDATTR_BYTE3_MIGRATABLE)
		return kerr_set(err, "attest.migratable", "TDX quote: the TD is migratable (TDATTRIBUTES.MIGRATABLE), so a "
				"migration TD the host chose holds its state; run the proof in a TD that is not migratable");
	if (memcmp(q + body_off + TDX_BODY_REPORTDATA, rd, ATTEST_REPORT_DATA_BYTES) != 0)
		return kerr_set(err, "attest.bad_quote", "TDX quote: REPORTDATA is not this manifest's report data");
	return 0;
}

int attest_check_snp_report(const uint8_t *r, size_t n, const uint8_t rd[ATTEST_REPORT_DATA_BYTES],
			    struct kerr *err)
{
	uint32_t version;
	int signed_nonzero = 0;

	if (n != ATTEST_SNP_REPORT_BYTES)
		return kerr_set(err, "attest.bad_quote", "SEV-SNP report: %zu bytes, expected %d", n,
				ATTEST_SNP_REPORT_BYTES);
	version = le32(r);
	if (version < SNP_VERSION_MIN || version > SNP_VERSION_MAX)
		return kerr_set(err, "attest.bad_quote", "SEV-SNP report: version %u, expected %d..%d", version,
				SNP_VERSION_MIN, SNP_VERSION_MAX);
	if (le32(r + SNP_OFF_VMPL) > SNP_VMPL_MAX)
		return kerr_set(err, "attest.bad_quote", "SEV-SNP report: VMPL %u out of range", le32(r + SNP_OFF_VMPL));
	if (le32(r + SNP_OFF_SIG_ALGO) != SNP_SIG_ALGO_ECDSA_P384)
		return kerr_set(err, "attest.bad_quote", "SEV-SNP report: signature algorithm %u, expected 1 (ECDSA P-384)",
				le32(r + SNP_OFF_SIG_ALGO));
	for (size_t i = 0; i < SNP_SIG_RS_BYTES; i++)
		signed_nonzero |= r[SNP_OFF_SIGNATURE + i];
	if (!signed_nonzero)
		return kerr_set(err, "attest.bad_quote", "SEV-SNP report: the signature field is all zero");
	/* As for TDX: a debuggable guest's report data is the host's to write. */
	if (le32(r + SNP_OFF_POLICY) & SNP_POLICY_DEBUG)
		return kerr_set(err, "attest.debug", "SEV-SNP report: the guest policy allows debugging (POLICY.DEBUG), "
				"so the host could have written its report data; run the proof in a production guest");
	/* A migration agent receives the guest's context and keys, and can
	 * ask for reports as the guest. */
	if (le32(r + SNP_OFF_POLICY) & SNP_POLICY_MIGRATE_MA)
		return kerr_set(err, "attest.migratable", "SEV-SNP report: the guest policy allows a migration agent "
				"(POLICY.MIGRATE_MA), which holds the guest's keys; run the proof in a guest without one");
	if (memcmp(r + SNP_OFF_REPORT_DATA, rd, ATTEST_REPORT_DATA_BYTES) != 0)
		return kerr_set(err, "attest.bad_quote", "SEV-SNP report: REPORT_DATA is not this manifest's report data");
	return 0;
}

/* ---------------------------------------------------------------- configfs-tsm */

static const char *tsm_root(const struct attest_opts *o)
{
	return o && o->tsm_root ? o->tsm_root : ATTEST_TSM_ROOT_DEFAULT;
}

static int hook(const struct attest_opts *o, enum attest_tsm_event ev, const char *entry, struct kerr *err)
{
	if (!o || !o->tsm_hook)
		return 0;
	if (o->tsm_hook(ev, entry, o->tsm_hook_arg) != 0)
		return kerr_set(err, "attest.tsm", "%s: configfs emulation hook failed (event %d)", entry, (int)ev);
	return 0;
}

/* A fresh entry per request: configfs-tsm keeps one report per entry, and
 * a private name means no other process shares (or reads) ours. */
static int entry_make(const struct attest_opts *o, char *entry, size_t cap, struct kerr *err)
{
	static unsigned seq;
	unsigned n = __atomic_add_fetch(&seq, 1, __ATOMIC_RELAXED);

	if (fs_join(entry, cap, err, "%s/karpa-%ld-%u", tsm_root(o), (long)getpid(), n) < 0)
		return -1;
	if (mkdir(entry, 0700) < 0) {
		int e = errno;
		return kerr_set(err, "attest.tsm", "%s: cannot create a report entry: %s%s", entry, strerror(e),
				e == ENXIO ? " (no attestation provider registered)" :
				e == EACCES || e == EPERM ? " (configfs-tsm reports need root)" : "");
	}
	if (hook(o, ATTEST_TSM_MKDIR, entry, err) < 0) {
		rmdir(entry);
		return -1;
	}
	return 0;
}

static int entry_drop(const struct attest_opts *o, const char *entry, struct kerr *err)
{
	if (hook(o, ATTEST_TSM_RMDIR, entry, err) < 0)
		return -1;
	if (rmdir(entry) < 0)
		return kerr_set(err, "attest.tsm", "%s: cannot remove the report entry: %s", entry, strerror(errno));
	return 0;
}

/* configfs attributes report no useful st_size, so read to EOF with a bound. */
static int read_attr(const char *entry, const char *name, size_t bytes_max, uint8_t **out, size_t *len,
		     struct kerr *err)
{
	char path[FS_PATH_MAX];
	uint8_t *buf = NULL;
	size_t got = 0;
	int fd = -1, rc = -1;

	*out = NULL;
	if (fs_join(path, sizeof path, err, "%s/%s", entry, name) < 0)
		return -1;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		kerr_set(err, "attest.tsm", "%s: %s", path, strerror(errno));
		goto out;
	}
	buf = malloc(bytes_max + 1);
	if (!buf) {
		kerr_set(err, "attest.tsm", "%s: out of memory", path);
		goto out;
	}
	for (;;) {
		ssize_t r = read(fd, buf + got, bytes_max + 1 - got);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			kerr_set(err, "attest.tsm", "%s: the provider failed: %s", path, strerror(errno));
			goto out;
		}
		if (r == 0)
			break;
		got += (size_t)r;
		if (got > bytes_max) {
			kerr_set(err, "attest.tsm", "%s: more than %zu bytes", path, bytes_max);
			goto out;
		}
	}
	buf[got] = '\0';
	*out = buf;
	*len = got;
	buf = NULL;
	rc = 0;
out:
	free(buf);
	if (fd >= 0)
		close(fd);
	return rc;
}

/* A short text attribute without its trailing newline. */
static int read_word(const char *entry, const char *name, char *out, size_t cap, struct kerr *err)
{
	uint8_t *buf;
	size_t len;

	if (read_attr(entry, name, TSM_SMALL_ATTR_BYTES, &buf, &len, err) < 0)
		return -1;
	while (len > 0 && (buf[len - 1] == '\n' || buf[len - 1] == ' '))
		len--;
	buf[len] = '\0';
	if (len == 0 || len >= cap || strlen((char *)buf) != len) {
		free(buf);
		return kerr_set(err, "attest.tsm", "%s/%s: empty or malformed", entry, name);
	}
	memcpy(out, buf, len + 1);
	free(buf);
	return 0;
}

/* configfs commits a binary attribute on close, so close's status counts. */
static int write_inblob(const char *entry, const uint8_t rd[ATTEST_REPORT_DATA_BYTES], struct kerr *err)
{
	char path[FS_PATH_MAX];
	int fd;

	if (fs_join(path, sizeof path, err, "%s/inblob", entry) < 0)
		return -1;
	fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return kerr_set(err, "attest.tsm", "%s: %s", path, strerror(errno));
	if (fs_write_fd(fd, rd, ATTEST_REPORT_DATA_BYTES, path, err) < 0) {
		close(fd);
		snprintf(err->code, sizeof err->code, "attest.tsm");
		return -1;
	}
	if (close(fd) < 0)
		return kerr_set(err, "attest.tsm", "%s: %s", path, strerror(errno));
	return 0;
}

static int provider_kind(const char *provider, char kind[32])
{
	if (!strcmp(provider, "tdx_guest"))
		snprintf(kind, 32, "tdx");
	else if (!strcmp(provider, "sev_guest"))
		snprintf(kind, 32, "sev-snp");
	else
		return -1;
	return 0;
}

int attest_tsm_probe(const struct attest_opts *o, char kind[32], struct kerr *err)
{
	char entry[FS_PATH_MAX], provider[TSM_SMALL_ATTR_BYTES];
	int rc = -1;

	if (!fs_is_dir(tsm_root(o)))
		return 0;
	if (entry_make(o, entry, sizeof entry, err) < 0)
		return -1;
	if (read_word(entry, "provider", provider, sizeof provider, err) < 0)
		goto out;
	if (provider_kind(provider, kind) < 0) {
		kerr_set(err, "attest.tsm", "%s: provider \"%s\" is not one Karpa understands (tdx_guest, sev_guest)",
			 entry, provider);
		goto out;
	}
	rc = 1;
out:
	if (entry_drop(o, entry, rc < 0 ? NULL : err) < 0)
		rc = -1;
	return rc;
}

/* Checks the outblob for the provider's kind; garbage is the provider's
 * fault, so the code is attest.tsm, with the structural reason kept. */
static int check_blob(const char *kind, const char *entry, const uint8_t *blob, size_t n,
		      const uint8_t rd[ATTEST_REPORT_DATA_BYTES], const char *code, struct kerr *err)
{
	int rc = !strcmp(kind, "tdx") ? attest_check_tdx_quote(blob, n, rd, err)
				      : attest_check_snp_report(blob, n, rd, err);

	if (rc < 0) {
		snprintf(err->code, sizeof err->code, "%s", code);
		kerr_prefix(err, "%s returned evidence Karpa refuses", entry);
	}
	return rc;
}

/* An entry whose provider does not expose auxblob has no certificate
 * table to give: the same as an empty one, not a failure. */
static int aux_exists(const char *entry)
{
	char path[FS_PATH_MAX];

	return snprintf(path, sizeof path, "%s/auxblob", entry) < (int)sizeof path && fs_exists(path);
}

int attest_tsm_report(const struct attest_opts *o, const uint8_t rd[ATTEST_REPORT_DATA_BYTES],
		      struct attest_hw *hw, struct kerr *err)
{
	char entry[FS_PATH_MAX], gen[TSM_SMALL_ATTR_BYTES];
	char *end = NULL;
	int rc = -1, made = 0;

	memset(hw, 0, sizeof *hw);
	if (entry_make(o, entry, sizeof entry, err) < 0)
		return -1;
	made = 1;
	if (write_inblob(entry, rd, err) < 0 || hook(o, ATTEST_TSM_INBLOB, entry, err) < 0)
		goto out;
	/* Reading outblob is what asks the hardware (and, for TDX, the host's
	 * quoting service) for the report. */
	if (read_attr(entry, "outblob", ATTEST_TDX_QUOTE_BYTES_MAX, &hw->blob, &hw->blob_len, err) < 0 ||
	    read_word(entry, "provider", hw->provider, sizeof hw->provider, err) < 0)
		goto out;
	if (provider_kind(hw->provider, hw->kind) < 0) {
		kerr_set(err, "attest.tsm", "%s: provider \"%s\" is not one Karpa understands (tdx_guest, sev_guest)",
			 entry, hw->provider);
		goto out;
	}
	/* SEV-SNP: the certificate table the host installed (VCEK, maybe ASK
	 * and ARK), from the same request as the outblob. Without it the report
	 * cannot be verified; the vendor check says so, not this one. */
	if (!strcmp(hw->kind, "sev-snp") && aux_exists(entry) &&
	    read_attr(entry, "auxblob", ATTEST_SNP_CERTS_BYTES_MAX, &hw->aux, &hw->aux_len, err) < 0)
		goto out;
	/* Read last, so that it vouches for everything read before it. */
	if (read_word(entry, "generation", gen, sizeof gen, err) < 0)
		goto out;
	errno = 0;
	hw->generation = strtol(gen, &end, 10);
	/* A fresh entry starts at generation 0 and our one inblob write makes it
	 * 1; anything else means another writer touched the entry mid-request. */
	if (errno || *end || hw->generation != 1) {
		kerr_set(err, "attest.tsm", "%s: generation \"%s\", expected 1: the entry changed during the request",
			 entry, gen);
		goto out;
	}
	if (check_blob(hw->kind, entry, hw->blob, hw->blob_len, rd, "attest.tsm", err) < 0)
		goto out;
	rc = 0;
out:
	if (made && entry_drop(o, entry, rc < 0 ? NULL : err) < 0)
		rc = -1;
	if (rc < 0) {
		free(hw->blob);
		free(hw->aux);
		memset(hw, 0, sizeof *hw);
	}
	return rc;
}

/* ---------------------------------------------------------------- guest devices */

#ifdef HAVE_SEV_GUEST_H
static int snp_ioctl_report(const char *dev, const uint8_t rd[ATTEST_REPORT_DATA_BYTES], struct attest_hw *hw,
			    struct kerr *err)
{
	struct snp_report_req req;
	struct snp_report_resp resp;
	struct snp_guest_request_ioctl g;
	uint32_t status, size;
	int fd, rc = -1;

	memset(&req, 0, sizeof req);
	memset(&resp, 0, sizeof resp);
	memset(&g, 0, sizeof g);
	memcpy(req.user_data, rd, ATTEST_REPORT_DATA_BYTES);
	g.msg_version = 1; /* the only message version the firmware defines */
	g.req_data = (uint64_t)(uintptr_t)&req;
	g.resp_data = (uint64_t)(uintptr_t)&resp;
	fd = open(dev, O_RDWR | O_CLOEXEC);
	if (fd < 0)
		return kerr_set(err, "attest.device", "%s: %s", dev, strerror(errno));
	if (ioctl(fd, SNP_GET_REPORT, &g) < 0) {
		kerr_set(err, "attest.device", "%s: SNP_GET_REPORT failed: %s (firmware error 0x%x, VMM error 0x%x)",
			 dev, strerror(errno), g.fw_error, g.vmm_error);
		goto out;
	}
	status = le32(resp.data);
	size = le32(resp.data + 4);
	if (status != 0 || size != ATTEST_SNP_REPORT_BYTES) {
		kerr_set(err, "attest.device", "%s: firmware status 0x%x, report size %u", dev, status, size);
		goto out;
	}
	if (check_blob("sev-snp", dev, resp.data + SNP_RSP_OFF_REPORT, size, rd, "attest.device", err) < 0)
		goto out;
	hw->blob = malloc(size);
	if (!hw->blob) {
		kerr_set(err, "attest.device", "%s: out of memory", dev);
		goto out;
	}
	memcpy(hw->blob, resp.data + SNP_RSP_OFF_REPORT, size);
	hw->blob_len = size;
	snprintf(hw->kind, sizeof hw->kind, "sev-snp");
	snprintf(hw->provider, sizeof hw->provider, "sev-guest-ioctl");
	rc = 0;
out:
	close(fd);
	return rc;
}
#endif

int attest_dev_report(const struct attest_opts *o, const char *kind, const uint8_t rd[ATTEST_REPORT_DATA_BYTES],
		      struct attest_hw *hw, struct kerr *err)
{
	const char *root = o && o->dev_root ? o->dev_root : "/dev";
	char dev[FS_PATH_MAX];

	memset(hw, 0, sizeof *hw);
	if (!strcmp(kind, "tdx")) {
		if (fs_join(dev, sizeof dev, err, "%s/tdx_guest", root) < 0)
			return -1;
		/* TDX_CMD_GET_REPORT0 yields a TD report, not a quote; turning it
		 * into a quote needs the host's quoting service, which the kernel
		 * reaches for us through configfs-tsm. */
		return kerr_set(err, "attest.device_unsupported",
				"%s exists but Karpa gets TDX quotes only through configfs-tsm; use a kernel with "
				"CONFIG_TSM_REPORTS (Linux 6.7 or later) and configfs mounted at /sys/kernel/config",
				dev);
	}
	if (fs_join(dev, sizeof dev, err, "%s/sev-guest", root) < 0)
		return -1;
#ifdef HAVE_SEV_GUEST_H
	return snp_ioctl_report(dev, rd, hw, err);
#else
	return kerr_set(err, "attest.device_unsupported",
			"%s exists but this build lacks <linux/sev-guest.h>; use a kernel with configfs-tsm "
			"(CONFIG_TSM_REPORTS, Linux 6.7 or later)", dev);
#endif
}

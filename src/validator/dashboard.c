/* dashboard.c: the validator's web page (GET /). One file,
 * src/validator/dashboard.html, with its one <style> and one <script>
 * inline, is built into the binary (.incbin below: no build step, no file
 * read at run time) and served under a Content-Security-Policy that allows
 * exactly those two blocks, by their SHA-256, and requests to this origin
 * only. Never serves anything but the embedded bytes; the page learns
 * everything else from the /v1 API. */
#include <pthread.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>

#include "util/hash.h"
#include "validator/service_int.h"

/* The page, NUL-terminated. The path is relative to the repository root,
 * where make runs the compiler; the Makefile makes this object depend on
 * the page, since -MMD does not see .incbin. */
__asm__(".section .rodata\n"
	".balign 16\n"
	".globl karpa_dashboard_html\n"
	".hidden karpa_dashboard_html\n"
	"karpa_dashboard_html:\n"
	".incbin \"src/validator/dashboard.html\"\n"
	".globl karpa_dashboard_html_end\n"
	".hidden karpa_dashboard_html_end\n"
	"karpa_dashboard_html_end:\n"
	".byte 0\n"
	".previous\n");
extern const char karpa_dashboard_html[];
extern const char karpa_dashboard_html_end[];

/* "sha256-" + base64 of 32 bytes (44 characters) + NUL */
#define CSP_HASH_BYTES (7 + 45)
#define CSP_BYTES 512

static pthread_once_t csp_once = PTHREAD_ONCE_INIT;
static char csp[CSP_BYTES]; /* "" when the page is malformed */

/* The text between the only `open` tag and the next `close` tag, as the
 * browser hashes it (the page is UTF-8 with LF line ends, so its bytes are
 * the text). -1 when there is not exactly one such element: a second
 * inline block would be refused by the browser, and is a bug here. */
static int element_hash(const char *page, const char *open, const char *close, char out[CSP_HASH_BYTES])
{
	const char *a = strstr(page, open), *b;
	uint8_t d[HASH_BYTES];

	if (!a || strstr(a + 1, open))
		return -1;
	a += strlen(open);
	if (!(b = strstr(a, close)))
		return -1;
	hash_buf(a, (size_t)(b - a), d);
	memcpy(out, "sha256-", 7);
	sodium_bin2base64(out + 7, CSP_HASH_BYTES - 7, d, sizeof d, sodium_base64_VARIANT_ORIGINAL);
	return 0;
}

static void csp_build(void)
{
	char style[CSP_HASH_BYTES], script[CSP_HASH_BYTES];

	if (element_hash(karpa_dashboard_html, "<style>", "</style>", style) < 0 ||
	    element_hash(karpa_dashboard_html, "<script>", "</script>", script) < 0)
		return;
	/* img-src data: is for the favicon, which is inline so that the
	 * browser asks for no /favicon.ico. */
	snprintf(csp, sizeof csp,
		 "default-src 'none'; script-src '%s'; style-src '%s'; connect-src 'self'; img-src 'self' data:;"
		 " base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
		 script, style);
}

int svc_get_dashboard(struct http_req *rq, void *ctx)
{
	size_t len = (size_t)(karpa_dashboard_html_end - karpa_dashboard_html);

	(void)ctx;
	pthread_once(&csp_once, csp_build);
	if (!csp[0])
		return http_reply_error(rq, 500, "service.dashboard",
					"the built-in page does not have exactly one <style> and one <script>");
	http_reply_header(rq, "Content-Security-Policy", csp);
	http_reply_header(rq, "X-Content-Type-Options", "nosniff");
	http_reply_header(rq, "Referrer-Policy", "no-referrer");
	http_reply_header(rq, "Cache-Control", "no-cache");
	return http_reply_bytes(rq, 200, "text/html; charset=utf-8", karpa_dashboard_html, len);
}

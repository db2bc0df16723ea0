/* interpose: built with open_file's attack (test_sandbox.c builds
 * "open_file+interpose"). Defines seccomp_load, the libseccomp call the
 * runner's inner layer installs its allowlist with, as a no-op that reports
 * success. Expect open_file's sandbox.violation: the build makes every
 * recipe definition but the recipe API's local, so the harness still calls
 * libseccomp's seccomp_load and the inner allowlist (no open) is in force. */
int seccomp_load(void *ctx);

int seccomp_load(void *ctx)
{
	(void)ctx;
	return 0;
}

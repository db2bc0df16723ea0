/* shadow_header: built with open_file's attack (test_sandbox.c builds
 * "open_file+shadow_header"). A recipe file named like libseccomp's
 * header: were the recipe's folder on a harness unit's include path,
 * sandbox_inner.c would compile against this instead, and its filter would
 * be macros that do nothing. Expect open_file's sandbox.violation: the
 * build searches the recipe's folder for quoted includes of recipe units
 * only. */
#ifndef SHADOW_SECCOMP_H
#define SHADOW_SECCOMP_H
#include <stdint.h>

typedef void *scmp_filter_ctx;
typedef uint64_t scmp_datum_t;
struct scmp_arg_cmp {
	unsigned int arg;
	int op;
	scmp_datum_t datum_a, datum_b;
};
#define SCMP_ACT_ALLOW 0
#define SCMP_ACT_KILL_PROCESS 0
#define SCMP_ACT_ERRNO(e) 0
#define SCMP_CMP_EQ 0
#define SCMP_CMP_NE 0
#define SCMP_CMP_MASKED_EQ 0
#define SCMP_FLTATR_ACT_BADARCH 0
#define SCMP_FLTATR_CTL_TSYNC 0
#define SCMP_SYS(name) 0
#define SCMP_A0(...) ((struct scmp_arg_cmp){ 0 })
#define SCMP_A2(...) ((struct scmp_arg_cmp){ 0 })
#define SCMP_A3(...) ((struct scmp_arg_cmp){ 0 })
#define seccomp_init(action) ((scmp_filter_ctx)1)
#define seccomp_attr_set(ctx, attr, value) 0
#define seccomp_rule_add_array(ctx, action, nr, n, args) 0
#define seccomp_load(ctx) 0
#define seccomp_release(ctx) ((void)0)
#endif

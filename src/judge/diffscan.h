/* diffscan.h: judgment check 1, the diff scan (PROTOCOL 5.1). Owns deciding,
 * from a patch and the king's sources alone, whether the patched recipe may
 * be built at all: paths (via reciperepo_patch_check), size limits, and
 * forbidden constructs found by lexing C properly (comments, strings,
 * character literals, line continuations and the preprocessor understood),
 * not by grepping raw text; the CUDA part's own rules are in
 * diffscan_cuda.h. Runs no code and no compiler. */
#ifndef KARPA_DIFFSCAN_H
#define KARPA_DIFFSCAN_H

#include <stddef.h>

#include "util/kerr.h"

/* Headers a recipe may include: the C library's pure parts, the harness's
 * recipe API, OpenMP, OpenBLAS's CBLAS, x86 intrinsics, and the recipe's own
 * headers (quoted includes that name a flat file of the recipe). */
#define DIFFSCAN_FILE_BYTES_MAX (1u << 20)
#define DIFFSCAN_FINDING_MAX 256
/* A recipe holds tens of files; a patch may add at most a few hundred
 * (RECIPEREPO_PATCH_FILES_MAX), so a tree beyond these is not a recipe. */
#define DIFFSCAN_TREE_FILES_MAX 512
#define DIFFSCAN_TREE_BYTES_MAX (16u << 20)

struct diffscan_finding {
	char code[64];   /* e.g. judge.forbidden_call */
	char file[128];
	int line;
	char what[160];  /* the construct, e.g. "fopen" or "#include <sys/socket.h>" */
};

/* Scans the full text of one C source or header file of the patched recipe.
 * Returns the number of findings written (at most cap), or -1 with err on a
 * lexing failure (judge.lex: unterminated comment/string) or a text over
 * DIFFSCAN_FILE_BYTES_MAX (judge.too_large). A byte-level
 * obfuscation finding (trigraph, NUL byte, lone CR, bidi control) comes
 * before lexing and wins over a lexing failure it may have caused. */
int diffscan_c_file(const char *name, const char *text, size_t len, struct diffscan_finding *out, int cap,
		    struct kerr *err);

/* The same for one file of the recipe's CUDA part (cuda/: CUDA C++ for
 * nvcc and the C beside it), held to docs/diffscan.md's "The CUDA part". */
int diffscan_cuda_file(const char *name, const char *text, size_t len, struct diffscan_finding *out, int cap,
		       struct kerr *err);

/* Scans every .c/.h file at the top of a patched recipe tree and every
 * .c/.h/.cu/.cuh file of its cuda/ folder. On the first finding returns -1
 * with err set to that finding's code and a message naming file:line and
 * construct. */
int diffscan_tree(const char *dir, struct kerr *err);

/* Whether check 1 refuses a call to name: the flat denylist, and with cuda
 * the CUDA part's on top. The recipe build's symbol check (symcheck.h)
 * holds the names the compiler resolved to the same lists. */
int diffscan_name_denied(const char *name, int cuda);

/* One line for a reason code ("judge.extern" -> why it is refused); a
 * generic line for codes it does not know. Never NULL. */
const char *diffscan_code_reason(const char *code);

#endif

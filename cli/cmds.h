/* cmds.h: the subcommand table's entry points, one file each (cmd_X.c
 * holds cmd_X). Each returns the process exit code: 0 ok, 1 failure (one
 * reason line on stderr), 2 usage. */
#ifndef KARPA_CMDS_H
#define KARPA_CMDS_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "sandbox/runbox.h"

#define EXIT_OK 0
#define EXIT_FAIL 1
#define EXIT_USAGE 2

int cmd_data(int argc, char **argv);
int cmd_train(int argc, char **argv);
int cmd_eval(int argc, char **argv);
int cmd_sample(int argc, char **argv);
int cmd_bench(int argc, char **argv);

int cmd_prove(int argc, char **argv);
int cmd_keygen(int argc, char **argv);
int cmd_recipe(int argc, char **argv);
int cmd_bundle(int argc, char **argv);
int cmd_validator(int argc, char **argv);
int cmd_corpus(int argc, char **argv);
int cmd_ledger(int argc, char **argv);
int cmd_judge(int argc, char **argv);
int cmd_dispute(int argc, char **argv);
int cmd_noise_floor(int argc, char **argv);
int cmd_submit(int argc, char **argv);
int cmd_status(int argc, char **argv);
int cmd_miner(int argc, char **argv);
/* `karpa chain keys|...`: the Bittensor adapter (cmd_chain.c). */
int cmd_chain(int argc, char **argv);
/* `karpa chain extrinsic` (cmd_chain_tx.c), dispatched by `karpa chain`. */
int cmd_chain_extrinsic(int argc, char **argv);
/* `karpa chain weights` (cmd_chain_send.c), dispatched by `karpa chain`. */
int cmd_chain_weights(int argc, char **argv);
/* `karpa validator serve` (cmd_serve.c), dispatched by cmd_validator. */
int validator_serve(int argc, char **argv);

/* Every --json object carries "version": CLI_JSON_VERSION and "ok". */
#define CLI_JSON_VERSION 1
/* --threads is 1..CLI_THREADS_MAX for every command. */
#define CLI_THREADS_MAX 256

/* Set by main when the command line has --json: a failure (cli_fail) or a
 * usage error then also prints the failure envelope on stdout, unless the
 * command already printed its object. */
void cli_set_json_mode(int on);
int cli_json_mode(void);
int cli_json_printed(void);

/* Prints "karpa: <code>: <msg>" to stderr and returns EXIT_FAIL; under
 * --json, first the failure envelope on stdout. */
struct kerr;
int cli_fail(const struct kerr *err);

/* common.c. Prints o as one compact JSON line on stdout (reals with 17
 * significant digits, plus jansson flags: JSON_SORT_KEYS or
 * JSON_PRESERVE_ORDER), adding "version" and "ok":true when o lacks them,
 * and releases it. When o is NULL or cannot be encoded, prints the failure
 * envelope with nomem_code (cli.nomem when NULL) and returns -1. */
int cli_print_json(json_t *o, size_t flags, const char *nomem_code);
/* With as_json, prints {"ok":false,"code","message"} from err (sorted keys)
 * on stdout; then cli_fail. */
int cli_fail_json(const struct kerr *err, int as_json, const char *nomem_code);
/* Parses the flags of a command taking one argument, --json and --help
 * (shortopts for getopt_long: "h" lets -h mean --help). Returns -1 when
 * the command should go on (argv[optind] is the argument), else the exit
 * code to return after printing usage: EXIT_OK for --help, EXIT_USAGE. */
int cli_json_arg(int argc, char **argv, const char *shortopts, int *as_json);
/* Decimal in lo..hi, no sign, nothing after it; 0 and *out, else -1. */
int cli_parse_u64(const char *s, uint64_t lo, uint64_t hi, uint64_t *out);
/* Decimal (strtol syntax) in lo..hi, nothing after it; 0 and *out, else -1. */
int cli_parse_int(const char *s, int lo, int hi, int *out);
/* Parses --threads' argument into 1..CLI_THREADS_MAX, or prints the one
 * message every command gives ("karpa CMD: --threads must be 1..256") and
 * returns -1 (the caller exits EXIT_USAGE). */
int cli_threads_arg(const char *cmd, const char *arg, int *threads);
/* Online CPUs, or 1 when that is unknown or above max. */
int cli_default_threads(int max);

/* The built-in recipe's runner when recipe_dir is NULL, else the folder
 * built with the pinned flags; either behind the pipe host, started by rb
 * under mode with threads (sandbox/runbox.h: a recipe folder is anyone's
 * code). The caller frees rb after the host is destroyed. */
struct recipe_host;
int cli_recipe_host(const char *recipe_dir, enum runbox_mode mode, int threads, struct runbox *rb,
		    struct recipe_host *h, int progress, struct kerr *err);
/* The same with the runner built for isa (NULL: this machine's) and run
 * under its emulator (recipe_build_isa), unconfined; without recipe_dir,
 * another ISA builds the source tree's recipe folder. For provers only
 * (train). */
int cli_recipe_host_isa(const char *recipe_dir, const char *isa, enum runbox_mode mode, int threads,
			struct runbox *rb, struct recipe_host *h, int progress, struct kerr *err);
/* The recipe's GPU runner (recipe_build_cuda) from recipe_dir, or from the
 * source tree's recipe folder when NULL, in the sandbox's GPU profile. */
int cli_recipe_host_cuda(const char *recipe_dir, enum runbox_mode mode, int threads, struct runbox *rb,
			 struct recipe_host *h, int progress, struct kerr *err);

#endif

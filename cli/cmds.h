/* cmds.h: the subcommand table's entry points, one file each (cmd_X.c
 * holds cmd_X). Each returns the process exit code: 0 ok, 1 failure (one
 * reason line on stderr), 2 usage. */
#ifndef KARPA_CMDS_H
#define KARPA_CMDS_H

#define EXIT_OK 0
#define EXIT_FAIL 1
#define EXIT_USAGE 2

int cmd_data(int argc, char **argv);
int cmd_train(int argc, char **argv);
int cmd_eval(int argc, char **argv);
int cmd_bench(int argc, char **argv);

int cmd_prove(int argc, char **argv);
int cmd_keygen(int argc, char **argv);
int cmd_recipe(int argc, char **argv);
int cmd_bundle(int argc, char **argv);
int cmd_validator(int argc, char **argv);
int cmd_corpus(int argc, char **argv);
int cmd_judge(int argc, char **argv);
int cmd_noise_floor(int argc, char **argv);

/* Prints "karpa: <code>: <msg>" to stderr and returns EXIT_FAIL. */
struct kerr;
int cli_fail(const struct kerr *err);

/* The in-process built-in recipe when recipe_dir is NULL, else the folder
 * built with the pinned flags and run behind the pipe host. */
struct recipe_host;
int cli_recipe_host(const char *recipe_dir, struct recipe_host *h, int progress, struct kerr *err);

#endif

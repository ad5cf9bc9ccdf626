/* cli.h - the subcommands of the `psgd` binary. Each is implemented in its
 * own cli_*.c file by the module that owns it; main.c only dispatches.
 * Each returns the process exit status (0 ok, 1 runtime failure, 2 usage or
 * bad input). */
#ifndef PSGD_CLI_H
#define PSGD_CLI_H

int cmd_train(int argc, char **argv); /* cli_train.c: one run from flags */
int cmd_run(int argc, char **argv);   /* cli_run.c: run an experiment file */
int cmd_list(int argc, char **argv);  /* cli_run.c: list an experiment's runs */
int cmd_hw(int argc, char **argv);    /* cli_hw.c: topology and placements */
int cmd_merge(int argc, char **argv); /* cli_merge.c: merge results databases */
int cmd_slurm(int argc, char **argv); /* cli_slurm.c: a sweep as a Slurm job array */

#endif

/* cli_train.h - the flags of `psgd train`, parsed into a run spec by one
 * table-driven function (cli_train.c). A new flag is one table row there. */
#ifndef PSGD_CLI_TRAIN_H
#define PSGD_CLI_TRAIN_H

#include <stddef.h>
#include <stdio.h>

#include "spec.h"

/* Fills *s from spec_default and the flags argv[1..argc) ("--flag value" or
 * "--flag=value"). Returns 0 on success, 1 if --help was given (nothing
 * else is done), -1 with err filled on an unknown flag, a missing or bad
 * value, or an inconsistent combination. */
int cli_train_parse(int argc, char **argv, run_spec *s, char *err, size_t errlen);

/* 1 if argv holds any parallel-engine flag (--threads, --algorithm, --store,
 * --backoff, --ps, --y0, --y-control, ..., --engine): cli_train_parse then
 * checks the algorithm settings at parse time (every run uses the engine,
 * which checks them again). */
int cli_train_wants_engine(int argc, char **argv);

/* The usage text of `psgd train`, generated from the flag table. */
void cli_train_usage(FILE *f);

#endif

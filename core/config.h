/* config.h - experiment files: parse, validate and expand into runs.
 *
 * An experiment file (libconfig syntax; the contract and every key in
 * EXPERIMENTS.md "Experiment file reference") describes fixed settings, a
 * sweep (product of value lists), named variants, repetitions and named
 * scales. config_load reads it with its @includes, validates every setting
 * (unknown keys with did-you-mean, types, ranges, impossible combinations,
 * missing datasets) and expands it into fully resolved run specs, each with
 * its stable key. Nothing is run and no database is touched here: a file that
 * fails validation has no effect at all.
 *
 * Precedence, lowest first: spec defaults (spec_default), included files (in
 * @include order, depth first), the file itself, the selected scale (from
 * every layer, in the same order), the variant, the sweep values. Groups
 * (stop, eval, sweep, scales.<name>) merge key by key; `variants` is replaced
 * as a whole. A key a variant sets is not swept for that variant.
 *
 * Errors follow common.h: one line "file:line: what", -1 / NULL. */
#ifndef PSGD_CONFIG_H
#define PSGD_CONFIG_H

#include <stddef.h>

#include "spec.h"

/* One run of an expanded experiment. */
typedef struct {
  run_spec spec;     /* fully resolved */
  char key[17];      /* spec_key(&spec) */
  char swept[256];   /* the values that vary across this experiment's runs, "y0=4 batch=16 rep=1" */
  int variant;       /* index into the variants, -1 when the file has none */
  double est_s;      /* expected wall time: stop.seconds, else the timeout, else 0 (unknown) */
  int est_bound;     /* 1: est_s is only an upper bound (an epoch, step, accuracy or epsilon
                        stop, or the timeout, may end the run earlier) */
} exp_run;

typedef struct {
  char path[SPEC_PATH];      /* as given */
  char name[SPEC_STR];       /* file stem: the spec's `experiment` */
  char scale[SPEC_STR];      /* selected scale */
  char description[512];
  int n_cores;               /* what "<f>x" thread counts were resolved against */
  int n_runs;
  exp_run *runs;             /* in expansion order: variants x sweep (first key slowest) x repeat */
  int n_duplicates;          /* expanded runs dropped because an earlier run had the same key */
} experiment;

typedef struct {
  const char *scale;   /* NULL -> "quick" */
  int n_cores;         /* <= 0 -> config_n_cores() */
  int check_data;      /* 1: a dataset whose files are missing is an error (the CLI sets it) */
} config_opts;

/* Reads, validates and expands the experiment file at `path`. Returns NULL
 * with err = "path:line: message" on the first problem. */
experiment *config_load(const char *path, const config_opts *opts, char *err, size_t errlen);
void config_free(experiment *e);

/* Cores of this machine available to this process (sched affinity, else
 * sysconf(_SC_NPROCESSORS_ONLN)), >= 1; $PSGD_CORES (a positive integer)
 * overrides it (psgd slurm's job scripts set it). */
int config_n_cores(void);

/* Run selection for `--only`. A filter is either index items "5", "3-7",
 * "1,4,9-12" (0-based, as `psgd list` numbers them) or "name=value" on a
 * spec field: experiment-file names (threads, y0, stop.seconds, label, ...),
 * spec JSON names (stop_seconds, dispatcher, ...) and `key` (the run key).
 * Numbers compare numerically. Several filters AND together.
 * config_filter_check validates a filter (0 / -1 with err); config_run_matches
 * says whether run i passes it (1 / 0). */
int config_filter_check(const char *filter, char *err, size_t errlen);
int config_run_matches(const experiment *e, int i, const char *filter);

/* Whether the dataset files of a spec are there and well-formed, checked
 * without loading them (data_check: regular files, headers, sizes). 0 if so,
 * -1 with err naming the file and the problem. */
int config_check_dataset(const run_spec *s, char *err, size_t errlen);

#endif

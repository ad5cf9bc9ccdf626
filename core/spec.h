/* spec.h - the run spec: one fully resolved training run. The config module
 * produces it (from an experiment file or CLI flags), the runner hashes and
 * records it, the engine executes it. A plain value type with fixed-size
 * strings, so it can be copied into a forked child as is.
 *
 * Every field is resolved: no "0.5x" thread counts, no defaults left to pick.
 * spec_to_json gives the canonical JSON (stable key order, used for the run
 * key hash and the runs.spec column). Every field has its row in the table
 * of run settings (setting.h): a new field needs one there, with its
 * default, JSON name, file key and flag. */
#ifndef PSGD_SPEC_H
#define PSGD_SPEC_H

#include <stddef.h>
#include <stdint.h>

#define SPEC_STR 64
#define SPEC_PATH 256

typedef struct {
  /* identity */
  char experiment[SPEC_STR];  /* experiment name (file stem), "" for psgd train */
  char label[SPEC_STR];       /* variant label for legends, e.g. "IntAsync y-decay y0=64" */
  int repetition;             /* 0-based */
  uint64_t seed;              /* recorded seed of this repetition */

  /* algorithm, resolved into its parts */
  char algorithm[SPEC_STR];   /* as written: sync|async|interval|elastic|hogwild|mutex|rwlock|leashed */
  char dispatcher[SPEC_STR];  /* async | interval | sync */
  char store[SPEC_STR];       /* hogwild | mutex | rwlock | leashed */
  char backoff[SPEC_STR];     /* none | linear | exponential | random */
  int ps_bound;               /* leashed persistence bound: 0, 1, or -1 = unbounded */
  char y_control[SPEC_STR];   /* const | decay | probing */
  long y0;                    /* initial interval size (interval only) */
  long y_decay_k;             /* decay: y -= 1 every K accepted steps */
  int probe_window;           /* probing over y or m: candidates in the window */
  long probe_steps;           /* p: accepted steps per candidate */
  long exec_steps;            /* x: accepted steps of execution after a probe */
  int elastic;                /* 1: elastic controller over m (ElAsyncSGD) */

  /* threads and placement */
  int threads;                /* m, resolved */
  char placement[SPEC_STR];   /* os | uma | compact | numa | spread | list:0,1,.. */
  char topology[SPEC_PATH];   /* "" = this machine, "synthetic:..." or an XML path */
  int bind_best_effort;       /* 1: binding failure is recorded, not fatal */
  int keep_core_free;         /* 1: leave one core for evaluator/recorder */
  int placement_nearest;      /* 1: an impossible placement runs as the nearest equivalent */
  int mem_interleave;         /* 1: shared state interleaved over the plan's NUMA nodes */

  /* data and model */
  char dataset[SPEC_STR];     /* fashion-mnist | mnist | cifar10 | cifar100 | synthetic */
  char data_dir[SPEC_PATH];
  int train_limit, test_limit;
  char model[SPEC_STR];       /* mlp | lenet5 */
  int n_hidden;
  int hidden[8];
  int batch;
  char optimizer[SPEC_STR];   /* sgd | momentum | mindthestep */
  double lr, momentum;

  /* stop conditions: the first one met ends the run; 0 = unused */
  double stop_seconds;
  double stop_epochs;
  long stop_steps;            /* accepted steps */
  double target_acc;          /* test accuracy in [0,1] */
  double epsilon;             /* stop when train loss <= epsilon * initial loss */
  double timeout_s;           /* runner's hard wall-clock limit per run */

  /* evaluation and recording */
  double eval_every_s;        /* 0 = only at the end */
  long eval_every_steps;      /* 0 = by time only */
  int eval_test_limit;        /* >0: evaluate on the first N test samples */
  int record_steps;           /* 1: one steps row per SGD step */

  /* execution clock (vclock.h) */
  char clock[16];             /* real | virtual */
  char step_time[SPEC_STR];   /* virtual: constant:<us> | lognormal:<mean_us>,<cv> */
  int compute_threads;        /* virtual: real gradient threads, 0 = all cores; not part of
                                 the JSON or run key (it never changes results) */
} run_spec;

/* Defaults for every field, from the table of run settings (paper defaults:
 * momentum lr 0.005 mu 0.5 batch 16, async over hogwild, 1 thread, os
 * placement, fashion-mnist, mlp 128x3). */
void spec_default(run_spec *s);

/* Canonical JSON of the spec into buf (NUL-terminated). Returns the length,
 * or -1 if buf is too small. The table's JSON names in its order;
 * repetition included, compute_threads not; placement_nearest and
 * mem_interleave only when set, clock and step_time only under the virtual
 * clock (so keys from before those settings existed hold). */
int spec_to_json(const run_spec *s, char *buf, size_t cap);

/* Stable run key: hex of a 64-bit FNV-1a hash of spec_to_json (16 chars + NUL). */
void spec_key(const run_spec *s, char key[17]);

#endif

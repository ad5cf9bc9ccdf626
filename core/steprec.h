/* steprec.h - the records the engine produces and the recorder stores.
 * Plain value types; column names in results.db follow these field names. */
#ifndef PSGD_STEPREC_H
#define PSGD_STEPREC_H

#include <stdint.h>

/* One SGD step, accepted or rejected (table `steps`). Times are ns since the
 * run's t0. tau = version_apply - version_read: the number of model updates
 * applied between this step's read of theta and its own apply (for a
 * rejected step: up to the moment it was rejected). */
typedef struct {
  uint64_t step;          /* start index i from try_start */
  uint64_t finish;        /* global finish order (0-based) */
  uint64_t t_start_ns;
  uint64_t t_end_ns;
  uint64_t version_read;  /* applied-version counter when theta was read */
  uint64_t version_apply; /* version this step's update got (or counter at rejection) */
  uint64_t interval;      /* interval id (0 for non-interval dispatchers) */
  int64_t staleness;      /* tau */
  float loss;             /* minibatch training loss */
  int32_t worker;
  int32_t pu;             /* OS index of the PU the worker was on, -1 unknown */
  uint32_t y;             /* interval size in force (0 if not interval) */
  uint32_t m;             /* active-thread bound in force */
  uint8_t accepted;
} step_rec;

/* One evaluation point (table `evals`). */
typedef struct {
  uint64_t t_ns;
  uint64_t steps_accepted;
  double epoch;           /* accepted samples / training set size */
  double train_loss;      /* running estimate (mean recent minibatch loss) */
  double test_loss;
  double test_acc;        /* in [0,1] */
} eval_rec;

/* One event (table `events`): kind e.g. "y", "m", "probe", "diverged". */
typedef struct {
  uint64_t t_ns;
  char kind[24];
  double value;
  char detail[104];
} event_rec;

/* Where one worker ran (table `placement`). */
typedef struct {
  int32_t worker, pu_os, core, node, package;
  int32_t bound;          /* 1 if thread binding succeeded and was verified */
} place_rec;

/* Outcome of one run (columns of `runs`). */
typedef enum {
  RUN_OK = 0,      /* a time/epoch/step limit ended it */
  RUN_CONVERGED,   /* target accuracy or epsilon reached */
  RUN_DIVERGED,    /* non-finite or exploding loss */
  RUN_TIMEOUT,     /* killed by the runner's wall-clock limit */
  RUN_CRASHED,     /* the child died (signal, abort, exit != 0) */
  RUN_INTERRUPTED, /* the user stopped the sweep (SIGINT/SIGTERM) mid-run */
  RUN_STATUS_COUNT
} run_status;

/* "ok", "converged", ... ("running" is the status of a run in progress). */
const char *run_status_name(run_status s);

typedef struct {
  run_status status;
  double wall_s;            /* timed region */
  uint64_t steps_started;
  uint64_t steps_accepted;
  double epochs;
  double initial_loss;      /* test-set (or first-batch) loss before training */
  double final_train_loss;
  double final_test_loss;
  double final_test_acc;
  double best_test_acc;
  double flush_s;           /* time spent writing step rows after/while running */
  int pinned;               /* 1 if all workers were bound and verified */
  char placement[512];      /* parallel engine: what the placement did, one line ("" otherwise) */
} run_result;

#endif

/* par.h - the parallel training loop under the engine: m worker threads
 * running paper Alg. 1 over any problem that can compute a minibatch
 * gradient, with a dispatcher (disp.h), a param store (ps.h), up to two
 * controllers (ctl.h), a monitor thread (stop conditions, evaluation
 * snapshots, progress) and optional per-step records (steplog.h).
 *
 * engine.c builds the problem from a run spec (dataset + model + GETBATCH);
 * the tests drive par_run directly with small problems (e.g. a quadratic
 * with injected delays) to check the dispatchers', stores' and controllers'
 * invariants without any data.
 *
 * Worker w, each step (Alg. 1, the two halves in step.h):
 *   t = try_start(w) -> read theta via the store (version_read) ->
 *   loss = grad(theta, step t.i) -> finish -> apply if accepted (version_apply)
 *   -> done -> step record -> controllers(n accepted, now)
 * Under the real clock (default) m threads run it in wall time; with
 * clock = PAR_CLOCK_VIRTUAL the same step runs in the virtual-time event loop
 * of vclock.h (times in the results are then virtual ns).
 * Workers beyond the active bound m sleep in the dispatcher. The timed
 * region (between the start barrier and the join) does not allocate, lock a
 * global mutex, print or touch SQLite on the worker path (the monitor may
 * allocate an evaluation snapshot; controllers lock their own mutex at
 * phase boundaries only).
 *
 * Evaluation does not distort the run: the monitor wakes every eval_every_s
 * (or every eval_every_steps accepted steps, checked every poll), copies
 * theta into a snapshot buffer with the time, accepted steps and running
 * training loss, and the caller evaluates the snapshots on the test set after
 * the run. Only when a stop condition needs accuracy during the run
 * (target_acc > 0) does the monitor evaluate online (eval_online). */
#ifndef PSGD_PAR_H
#define PSGD_PAR_H

#include <stddef.h>
#include <stdint.h>

#include "ctl.h"
#include "disp.h"
#include "optim.h"
#include "ps.h"
#include "steplog.h"
#include "steprec.h"

typedef struct {
  size_t d;                 /* floats in theta */
  const float *theta0;      /* initial theta (copied by the store) */
  void *ctx;
  /* Per-worker workspace, created on the worker's own thread after it was
   * bound (first touch places it on the worker's node). NULL: failure. */
  void *(*ws_create)(void *ctx, int w);
  void (*ws_free)(void *ctx, void *ws);
  /* Minibatch loss gradient of step `step` (GETBATCH(step)) at theta into
   * grad (d floats, fully written); returns the minibatch loss. */
  float (*grad)(void *ctx, void *ws, const float *theta, uint64_t step, float *grad);
} par_problem;

/* Who runs the step and what "now" is (step.h): m threads in wall time, or
 * a discrete-event loop over m virtual workers in virtual time (vclock.h). */
enum { PAR_CLOCK_REAL = 0, PAR_CLOCK_VIRTUAL = 1 };

typedef struct {
  /* algorithm */
  const disp_ops *disp;
  const ps_ops *store;
  const ctl_ops *ctl_y;      /* NULL or const: none */
  const ctl_ops *ctl_m;      /* NULL: none (elastic: &ctl_elastic_ops) */
  int n_workers;             /* threads started */
  int m0;                    /* initial active bound (1..n_workers) */
  long y0;
  long decay_k;
  int window;
  long probe_steps, exec_steps;
  optim_spec opt;
  ps_backoff backoff;
  int ps_bound;
  uint64_t seed;

  /* stop conditions (0 = unused); the first met ends the run */
  uint64_t max_steps;        /* accepted steps (in-flight steps may add up to m - 1) */
  double max_seconds;
  double epsilon;            /* running train loss <= epsilon * initial_loss */
  double target_acc;         /* needs eval_online */
  _Atomic int *stop_flag;    /* non-zero: stop (status RUN_INTERRUPTED) */
  double initial_loss;       /* reference for epsilon and divergence (0: unknown) */
  double diverge_factor;     /* minibatch loss > factor * initial_loss: diverged (0: 1e3) */

  /* evaluation */
  double eval_every_s;       /* 0: by steps only / end only */
  uint64_t eval_every_steps;
  double steps_per_epoch;    /* for eval_rec.epoch (0: epoch 0) */
  /* Online evaluation of theta (monitor thread): 0 ok. NULL: snapshots only.
   * Used for every eval point when target_acc > 0, and when the snapshot
   * memory budget is exhausted. */
  int (*eval_online)(void *ctx, const float *theta, double *test_loss, double *test_acc);
  void *eval_ctx;
  /* Called by the monitor at each eval point (test fields NaN unless
   * evaluated online), with accepted steps per second so far. */
  void (*on_eval)(void *ctx, const eval_rec *e, double steps_per_s);
  void *on_eval_ctx;
  size_t snap_budget_bytes;  /* memory for snapshots (0: 256 MiB) */
  int snap_prealloc;         /* snapshots allocated before the run */

  /* threads */
  size_t stack_bytes;        /* 0: 512 KiB (more under sanitizers) */
  /* Called on worker w's thread before anything else (binding): 0 ok, -1
   * fails the run with err; *pu = OS PU index it runs on (-1 unknown). */
  int (*on_thread)(void *ctx, int w, int *pu, int *bound, char *err, size_t errlen);
  void *thread_ctx;

  /* execution clock */
  int clock;                 /* PAR_CLOCK_REAL (default) | PAR_CLOCK_VIRTUAL */
  const char *step_time;     /* virtual: step-time model (vclock.h), NULL: "measured" */
  const uint64_t *replay_ns; /* virtual, step_time "run:<key>": that run's step durations */
  size_t n_replay;
  int compute_threads;       /* virtual: real threads computing gradients, the event
                                loop's included (0: all online CPUs); never changes results */
  int vclock_copy;           /* virtual: 1 = every read copies theta and gradients are
                                computed in start order (the reference make bench
                                compares against); 0 (default): reads share immutable
                                versions where the store can (vclock.h); never changes
                                results */

  steplog *log;              /* NULL: no step records; virtual clock: created for
                                1 worker (one chain, in finish order) */
  disp_open_fn on_open;      /* interval trace hook (tests), NULL: none */
  void *on_open_ctx;
  /* Test hook: called by worker w after finish decided (verdict DISP_*),
   * before the apply. NULL in production. */
  void (*after_finish)(void *ctx, int w, int verdict);
  void *after_finish_ctx;
} par_config;

/* Fills the defaults: async over hogwild, 1 worker, SGD lr 0.01, the
 * paper's controller settings (K = 4096, w = 12, p = 1024, x = 8192). */
void par_config_default(par_config *c);

typedef struct {
  eval_rec e;                /* test fields NaN unless evaluated online */
  float *theta;              /* snapshot (NULL if evaluated online or dropped) */
} par_snap;

typedef struct {
  run_status status;         /* OK, CONVERGED, DIVERGED, INTERRUPTED */
  double wall_s;             /* start barrier to join */
  uint64_t steps_started, steps_accepted, steps_rejected, steps_dropped;
  double final_train_loss;   /* running estimate at the end */
  par_snap *snaps;           /* in time order */
  int n_snaps;
  event_rec *events;         /* y/m changes, probing verdicts, divergence, ... */
  int n_events;
  uint64_t events_lost;      /* beyond the event buffer */
  ps_stats store;
  int *pu, *bound;           /* per worker: PU at start (-1 unknown), binding verified */
  uint64_t t0_ns;            /* absolute start time (psgd_now_ns) */
  int online_evals;          /* eval points evaluated during the run */
} par_result;

/* Runs the loop; theta_out (d floats, may be NULL) receives the final theta.
 * 0: ran (res->status says how it ended), -1 with err: could not run
 * (allocation, thread creation, a failing on_thread/ws_create). */
int par_run(const par_problem *p, const par_config *c, par_result *res, float *theta_out,
            char *err, size_t errlen);
void par_result_free(par_result *res);

#endif

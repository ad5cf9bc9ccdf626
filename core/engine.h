/* engine.h - executes one run spec: builds dataset, model, param store,
 * dispatcher, controllers and placement; starts m worker threads (paper
 * Alg. 1: try_start -> copy theta -> gradient -> finish -> apply if
 * accepted); evaluates periodically; stops on the spec's stop conditions;
 * detects divergence; hands step/eval/event/placement records to the
 * recorder (if r != NULL).
 *
 * Time comes from the engine: dispatchers and controllers are handed "now",
 * they never read the clock. Nothing in the timed region allocates, prints,
 * locks a global mutex or calls SQLite.
 *
 * Evaluation: the monitor thread snapshots theta every eval_every_s seconds
 * (and every eval_every_steps accepted steps); the snapshots are evaluated on
 * the test set after the run, so evaluating never competes with the workers.
 * Only with target_acc > 0 is each snapshot evaluated at once. io->progress is
 * called live at every snapshot (test_loss/test_acc NaN when deferred) and
 * again after the run for every deferred evaluation and the final one.
 *
 * Threads: engine_run is called from one thread (the runner's child process
 * or `psgd train`). */
#ifndef PSGD_ENGINE_H
#define PSGD_ENGINE_H

#include <stddef.h>
#include <stdint.h>

#include "algo.h"
#include "ctl.h"
#include "disp.h"
#include "ps.h"
#include "rec.h"
#include "spec.h"
#include "steprec.h"

/* Called from the engine's monitor thread at every evaluation (and may print):
 * the latest eval and the accepted-steps throughput since the start. */
typedef void (*engine_progress_fn)(void *ctx, const run_spec *s, const eval_rec *e,
                                   double steps_per_s);

typedef struct {
  rec *r;                      /* NULL: record nothing */
  int64_t run_id;              /* the runs row this run writes into */
  engine_progress_fn progress; /* NULL: silent */
  void *progress_ctx;
  _Atomic int *stop_flag;      /* optional: non-zero (set by a signal handler) stops the run early */
} engine_io;

/* The algorithm of a spec, resolved through the registries (algo.h). */
typedef algo_choice engine_algo;

/* algo_resolve plus the clock rules: 0, or -1 with err naming the unknown
 * or contradictory setting. */
int engine_resolve(const run_spec *s, engine_algo *a, char *err, size_t errlen);

/* Runs the spec. Returns 0 when the run executed (whatever its outcome, see
 * res->status: ok, converged, diverged), -1 when it could not run (bad
 * dataset, impossible placement, ...) with err filled. */
int engine_run(const run_spec *s, const engine_io *io, run_result *res, char *err,
               size_t errlen);

#endif

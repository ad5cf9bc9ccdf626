/* engine.h - executes one run spec: builds dataset, model, param store,
 * dispatcher, controllers and placement; starts m worker threads (paper
 * Alg. 1: try_start -> copy theta -> gradient -> finish -> apply if
 * accepted); evaluates periodically; stops on the spec's stop conditions;
 * detects divergence; hands step/eval/event/placement records to the
 * caller's sink (engine_sink; engine_sink_rec: the recorder).
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
#include "steplog.h"
#include "steprec.h"

/* Called from the engine's monitor thread at every evaluation (and may print):
 * the latest eval and the accepted-steps throughput since the start. */
typedef void (*engine_progress_fn)(void *ctx, const run_spec *s, const eval_rec *e,
                                   double steps_per_s);

/* Where a run's records go: the caller's, so the engine computes and
 * returns and never writes a database itself (engine_sink_rec below is the
 * recorder's; tests pass one that keeps everything in memory). Each
 * function returns 0, or -1 with err, which fails the run; a NULL member
 * drops that kind of record. All are called from engine_run's thread, after
 * the run, except steps_live (before the workers start). */
typedef struct {
  void *ctx;
  /* Step records (with the spec's record_steps, and only if steps_end is
   * set). steps_live (NULL: the log is held in memory): called before the
   * run when it may hold more rows than fit, to drain the log while the
   * workers push. steps_end: after the workers are joined, every row not
   * yet taken; *flush_s = the time that took. Called exactly once whenever
   * the log exists (also when the run failed: its error is then ignored). */
  int (*steps_live)(void *ctx, steplog *log, char *err, size_t errlen);
  int (*steps_end)(void *ctx, steplog *log, double *flush_s, char *err, size_t errlen);
  /* The machine the run was placed on (topology XML, NULL under the
   * virtual clock) and the library versions as a JSON object. */
  int (*run_info)(void *ctx, const char *topology_xml, const char *versions, char *err,
                  size_t errlen);
  int (*placement)(void *ctx, const place_rec *v, size_t n, char *err, size_t errlen);
  int (*evals)(void *ctx, const eval_rec *v, size_t n, char *err, size_t errlen);
  int (*events)(void *ctx, const event_rec *v, size_t n, char *err, size_t errlen);
  /* The one read: the step durations (ns, finish order; malloc'ed, the
   * engine frees them) of the recorded run with this key, for step_time
   * "run:<key>". NULL: no recorded runs to replay. */
  int (*step_durations)(void *ctx, const char *key, uint64_t **ns, size_t *n, char *err,
                        size_t errlen);
} engine_sink;

typedef struct {
  const engine_sink *sink;     /* NULL: record nothing */
  engine_progress_fn progress; /* NULL: silent */
  void *progress_ctx;
  _Atomic int *stop_flag;      /* optional: non-zero (set by a signal handler) stops the run early */
} engine_io;

/* The recorder as the engine's sink: every record into the rows of run
 * run_id of r; step rows flushed after the run, or (steps_live) by a
 * writer thread on its own connection while it runs (rec.h). *ctx must
 * outlive the run. */
typedef struct {
  rec *r;
  int64_t run_id;
  rec_writer *writer;
} engine_rec_sink;
engine_sink engine_sink_rec(engine_rec_sink *ctx, rec *r, int64_t run_id);

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

/* step.h - the one Alg. 1 step and the run state around it, shared by both
 * execution clocks: the real clock (par.c: m worker threads, wall time) and
 * the virtual clock (vclock.c: a discrete-event loop over m virtual workers
 * in virtual time). The dispatcher, param store and controllers are called
 * only from here, so both clocks run the same code; a clock only decides who
 * calls the two halves of a step, in which order, and what "now" is.
 *
 * A step of worker w (paper Alg. 1):
 *   step_begin:  t = try_start(w) -> now -> theta read (version_read)
 *   (the caller) loss = grad(theta, GETBATCH(t.i)) into W->grad
 *   step_end:    read_end -> finish -> apply | disp_reduce | contribute -> done ->
 *                now -> counters -> controllers(n accepted, now) -> step
 *                record -> stop and divergence checks
 * The monitor (stop flag, time limit, running loss, epsilon, evaluation
 * points) is step_monitor_tick; the real clock calls it from its monitor
 * thread every poll, the virtual clock from monitor events in virtual time.
 *
 * Threads: step_begin/step_end(W) from one thread at a time per worker
 * (real: W's own thread; virtual: the event loop); step_monitor_tick from
 * one thread; step_stop and step_event from any. */
#ifndef PSGD_STEP_H
#define PSGD_STEP_H

#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "par.h"

#define STEP_EVENT_CAP 65536
#define STEP_LOSS_WINDOW 256       /* accepted steps in the running train loss */
#define STEP_LOSS_RING 256         /* monitor polls remembered for it */
#define STEP_POLL_NS 10000000ull   /* monitor poll: 10 ms (of the run's clock) */
#define STEP_STATUS_RUNNING (-1)

typedef struct step_run step_run;

/* One worker: its buffers and counters. The counters are written by the
 * thread that runs the worker's steps only (relaxed load + store), read by
 * the monitor. */
typedef struct {
  _Alignas(64) step_run *P;
  int id;
  float *local, *grad;
  void *ws;
  _Atomic uint64_t started, accepted, rejected, dropped, loss_cnt;
  _Atomic double loss_sum;
  int pu, bound, failed;
  pthread_t th;                     /* real clock: the worker's thread */
  char err[256];
} step_worker;

/* One step in flight between its two halves. */
typedef struct {
  disp_ticket t;
  uint64_t ts;                      /* now at the start (absolute, the run's clock) */
  uint64_t vr;                      /* version_read */
  const float *theta;               /* what to compute the gradient on */
  float loss;                       /* set by the caller before step_end */
  /* between the phases of step_end (step_finish .. step_complete) */
  int verdict;                      /* disp_finish's DISP_* */
  int accepted;
  uint64_t va;                      /* version_apply */
  const float *g;                   /* the update applied (own or the round's mean) */
} step_state;

struct step_run {
  const par_problem *prob;
  const par_config *cfg;
  disp *d;
  ps *store;
  ctl *cy, *cm;
  step_worker *w;
  float *red;                       /* reducing dispatcher (sync): the round's update */
  const float **red_in;             /* its inputs: workers' gradients (n_workers slots) */
  /* the clock: now in ns on the run's time line (real: psgd_now_ns;
   * virtual: the event loop's time, t0 = 0) */
  uint64_t (*now)(void *clock_ctx);
  void *clock_ctx;
  int virtual_clock;                /* 1: step records carry pu = -1 */
  /* 1: step_end leaves an applied step's disp_done to the caller, who
   * calls step_done when the apply's time has passed (the virtual clock's
   * "measured" model); 0: step_end calls it right after the apply */
  int defer_done;
  /* called once by the step_stop that sets the status (NULL: nothing) */
  void (*on_stop)(void *stop_ctx);
  void *stop_ctx;
  /* relaxed: a flag; step_stop's CAS elects the one status, disp_stop wakes */
  _Alignas(64) _Atomic int status;
  _Alignas(64) _Atomic uint64_t accepted_total; /* relaxed: a numbering */
  _Alignas(64) _Atomic uint64_t finish_order;   /* relaxed: a numbering */
  uint64_t t0;
  double div_limit;
  event_rec *events;
  _Atomic int n_events;
  _Atomic uint64_t events_lost;
  /* monitor-owned (read after the run) */
  double ring_s[STEP_LOSS_RING];
  uint64_t ring_c[STEP_LOSS_RING];
  int ring_n, ring_i;
  float *eval_buf;                  /* scratch for online evaluation */
  par_snap *snaps;
  int n_snaps, cap_snaps, n_snap_bufs;
  size_t snap_bytes;
  int online_evals;
};

/* The monitor's own state between ticks. */
typedef struct {
  uint64_t every_ns, next_eval_ns, next_eval_steps, deadline;
  double eval_sum;
  uint64_t eval_cnt;
} step_monitor;

/* Checks the config and builds the run state: dispatcher, store,
 * controllers, events, snapshot buffers, the worker array (buffers not
 * allocated: the clock does that). now/clock_ctx/on_stop are the caller's
 * to set afterwards. 0, or -1 with err (P is then freed). */
int step_run_create(step_run **out, const par_problem *pr, const par_config *c, char *err,
                    size_t errlen);
/* Frees everything, including each worker's local/grad (psgd_free) and ws
 * (prob->ws_free). NULL: no-op. */
void step_run_free(step_run *P);

/* Fills res after the run (counters, loss, store stats, events, snapshots,
 * the final theta); wall_s = (t_end - t0). 0, or -1 with err. */
int step_run_result(step_run *P, uint64_t t_end, par_result *res, float *theta_out, char *err,
                    size_t errlen);

/* The first half: 1 with S filled (the gradient may be computed on
 * S->theta into W->grad), 0: the run stops. Blocks in the dispatcher's gate
 * while W->id >= m (the virtual clock never calls it then). */
int step_begin(step_run *P, step_worker *W, step_state *S);
/* The second half, once S->loss and W->grad hold the gradient's result. */
void step_end(step_run *P, step_worker *W, step_state *S);
/* The dispatcher's done of an applied step whose step_end deferred it
 * (defer_done): for interval, the apply that completes an interval opens the
 * next one here. */
void step_done(step_run *P, step_worker *W, step_state *S);

/* The phases of the two halves, for a clock that puts virtual time between
 * them (vclock.c: a lock's queue and hold, a CAS attempt, a reduction):
 *   step_begin = step_start, then step_read
 *   step_end   = step_finish, then step_apply (or step_update + the store's
 *                two-phase apply + step_applied), then step_complete
 * step_start: try_start, the start time, the started count (1; 0: the run
 * stops). step_read: the store's read. step_finish: read_end and
 * disp_finish; returns the verdict. step_update (DISP_APPLY / DISP_REDUCE):
 * the update to apply, W's gradient or the round's mean (computed once).
 * step_apply: applies it (ps_apply) and calls step_applied; for the other
 * verdicts records what they imply. step_applied: the store's result of an
 * apply, then disp_done (unless defer_done). step_complete: the end time, counters,
 * controllers, the step record, the stop and divergence checks. */
int step_start(step_run *P, step_worker *W, step_state *S);
void step_read(step_run *P, step_worker *W, step_state *S);
int step_finish(step_run *P, step_worker *W, step_state *S);
const float *step_update(step_run *P, step_worker *W, step_state *S);
void step_apply(step_run *P, step_worker *W, step_state *S);
void step_applied(step_run *P, step_worker *W, step_state *S, int applied, uint64_t va);
void step_complete(step_run *P, step_worker *W, step_state *S);

/* Ends the run with status s (the first call wins; later ones do nothing). */
void step_stop(step_run *P, run_status s);
int step_running(step_run *P);
/* Records an event at absolute time now. */
void step_event(step_run *P, uint64_t now_abs, const char *kind, double value,
                const char *detail);

void step_monitor_init(step_run *P, step_monitor *M);
/* One monitor poll at absolute time now: stop flag, time limit, running
 * loss, epsilon, evaluation point. */
void step_monitor_tick(step_run *P, step_monitor *M, uint64_t now);
/* When the monitor should poll next (> now while the run goes on). */
uint64_t step_monitor_wake(const step_monitor *M, uint64_t now);

#endif

/* vclock.h - the virtual execution clock: m virtual workers run the one
 * Alg. 1 step of step.h (the same dispatcher, param store and controller
 * code as the threaded engine) under a discrete-event loop in virtual time,
 * so a machine with few cores can show what m cores would do, the same way
 * every time.
 *
 * Events. A step of worker w is events: its start (try_start, and the
 * theta read for hogwild and leashed), the end of a read hold (lock
 * stores), its gradient's end (finish, and the apply for hogwild), the end
 * of a reduction (sync), the end of an apply hold or CAS attempt, each
 * calling the matching phase of step.h. Events are processed in the order
 * (time, kind, worker) with kind applied < finish < done < reduced <
 * read < start < monitor: at equal times every update lands before any read, so a
 * read sees exactly the updates applied up to and including its instant,
 * and a worker's next step starts right after its own end (hogwild under
 * "measured": after its apply time, see below). An apply is one
 * instant (or a whole exclusive hold): no torn reads, no interleaved
 * updates (HOGWILD!'s inconsistency is not modelled).
 * The monitor (stop conditions, evaluation points) polls every 10 ms of
 * virtual time, at evaluation times and at the time limit.
 *
 * Start. Worker w < m enters at w * mean / m (mean = the model's mean step
 * duration), as threads that start one after another would; workers
 * w >= m wait until a controller raises m.
 *
 * Step durations come from the step-time model, drawn per worker from its
 * own random stream (seeded by the run's seed and w), never from real
 * compute time:
 *   "constant:<us>"              every step takes <us> microseconds
 *   "lognormal:<mean_us>,<cv>"   lognormal with that mean and coefficient
 *                                of variation (cv = stddev / mean, >= 0)
 *   "measured" (default)         calibrated at the run's start on this
 *                                machine by min(m, cores) threads at once
 *                                on one shared scratch theta: copy of theta,
 *                                the gradient of this model and batch, the
 *                                apply (medians and robust spreads, 1.4826 x
 *                                MAD, recorded as the event "step_time"); a step
 *                                = copy(m) + lognormal(gradient, cv), then
 *                                its update lands (finish event: the real
 *                                store's version FAA is at the start of its
 *                                apply), then apply(m) before the worker's
 *                                next start (accepted steps only: a
 *                                rejected step applies nothing). Its record's
 *                                t_end_ns is the instant the update lands.
 *   "run:<run key>"              replay: each step's duration is drawn
 *                                (uniformly, per worker stream) from the step
 *                                durations of that recorded run (its
 *                                t_end_ns - t_start_ns), e.g. one made on a
 *                                large machine; the engine reads them from
 *                                the run's database (par_config.replay_ns)
 * Bandwidth model (measured only): copy and apply move d floats each (8d
 * bytes for the copy, 12d for an SGD apply, 20d with momentum), and the m
 * cores share the memory bandwidth of the reference machine, the paper's
 * AMD EPYC 9754 (128 cores, 12 DDR5-4800 channels: 12 x 38.4 = 460.8 GB/s).
 * A step cycle cannot be shorter than m x bytes / bandwidth, so
 *   copy(m) + apply(m) = max(copy(1) + apply(1), m x bytes / B - gradient)
 * (split between them in the measured proportion). Limits: caches, NUMA and
 * coherence traffic on shared theta are not modelled; the one-thread times
 * are this machine's, not the reference's. Results under "measured" depend on
 * the calibration, so they are reproducible only with the same numbers.
 *
 * Gradients are real: at a start event (lock stores: at the end of the
 * read hold) the loop takes the snapshot of
 * theta (the store's read) and queues gradient(snapshot, GETBATCH(i)) to a
 * pool of real threads while it goes on with later events; at the finish
 * event it waits for (or itself computes) that gradient. The loop is the
 * store's only caller, so (ps_one_caller) a store may hand out immutable
 * versions instead of copies: hogwild then reads without copying and applies
 * out of place into the next version (bit for bit the in-place update), a
 * version living while a step in flight reads it. The queue is ordered by
 * the steps' finish times (the one the loop needs next first), the loop
 * computes queued gradients itself while it waits, and a job takes its
 * gradient buffer from a last-in-first-out pool when it starts and gives it
 * back after its step ended (not for a dispatcher that reduces a round's
 * gradients), so the few buffers in use stay in cache. par_config.
 * vclock_copy = 1 copies on every read, computes in start order into one
 * buffer per worker (the reference make bench compares against). The order of events is a pure function of the
 * config and the seed, so step, eval and event records are identical
 * whatever the number of compute threads, vclock_copy and the machine's
 * load.
 *
 * Stores (ps_ops.virtual_clock). A step's drawn duration D is split into a
 * read hold C, a gradient G and an apply hold A (C + G + A = D): under
 * "measured" C and A are the calibrated copy and apply (the mutex: without
 * the bandwidth share, as it runs one at a time; the others: copy(m),
 * apply(m)) and G the draw after copy(m) (the gradient), else
 * fractions of D given as options after the model, ",copy=F,apply=F"
 * (defaults VCLOCK_COPY_FRAC, VCLOCK_APPLY_FRAC; the event "store_time"
 * says what a run assumed). With no waiting a step takes D, as under
 * hogwild.
 *   hogwild (PS_VT_INSTANT): a read and an apply are instants (C = A = 0).
 *   mutex (PS_VT_LOCK): one lock, a serialized resource: a read holds it
 *     for C, an apply for A; waiters queue FIFO by request time (equal
 *     times: in event order, applies before reads, then by worker). The
 *     store's read runs at the end of the hold, its apply likewise (nothing
 *     else touches theta during a hold).
 *   rwlock (PS_VT_RWLOCK): reads share the lock and enter whenever no apply
 *     holds it (readers preferred, as glibc's default rwlock the threaded
 *     store uses); applies are exclusive, FIFO among themselves.
 *   leashed (PS_VT_CAS): a read is an instant (no copy: the gradient is
 *     computed on the shared version); an apply is attempts of C + A each
 *     (copy the latest version, apply into the fresh one), built at the
 *     attempt's start and committed at its end through the store's own
 *     two-phase apply (ps.h): the CAS fails iff another commit landed in
 *     between; a failure retries at once, up to the persistence bound ps,
 *     then the update is dropped (a rejection, as in the threaded store).
 *   Backoff schemes (pause loops between try-locks or CASes) have no
 *     virtual-time cost model and are refused.
 * Sync: a round's m workers start when it opens; a contributor's step is
 * its C + G; the reducer (the last to finish) adds the other m - 1
 * gradients, (m - 1) x add (measured: the calibrated add of one gradient;
 * else ",add=F" of the mean step, default VCLOCK_ADD_FRAC), then applies;
 * done opens the next round. Round = the latest step end + the reduction
 * (+ the reducer's apply hold under a lock). A worker the dispatcher's own
 * gate would make wait (disp_can_start) is parked until a round opens.
 *
 * Representable: every dispatcher (async, interval, sync; w >= m parked
 * as by the gate of disp.c), every store without backoff, the
 * controllers. vclock_check refuses the rest with a message naming it.
 * Times in the result (wall_s, step, eval and event t_ns) are virtual. */
#ifndef PSGD_VCLOCK_H
#define PSGD_VCLOCK_H

#include <stddef.h>

#include "par.h"

#define VCLOCK_MAX_WORKERS 4096
#define VCLOCK_DEFAULT_STEP_TIME "measured"
#define VCLOCK_REF_BANDWIDTH_GBS 460.8 /* EPYC 9754: 12 channels DDR5-4800 */
/* Default store options (fractions of a step): this machine's calibration
 * of the paper's MLP at batch 16 (copy 14.9 us, apply 23.8 us of a 197 us
 * step; an add of one gradient about as long as the copy). */
#define VCLOCK_COPY_FRAC 0.075
#define VCLOCK_APPLY_FRAC 0.12
#define VCLOCK_ADD_FRAC 0.075

typedef enum { VCLOCK_CONSTANT = 0, VCLOCK_LOGNORMAL, VCLOCK_MEASURED, VCLOCK_RUN } vclock_kind;

typedef struct {
  vclock_kind kind;
  double mean_us;     /* > 0 (measured: after vclock_calibrate) */
  double cv;          /* lognormal, measured: of the gradient, >= 0 */
  /* measured: one-thread means and standard deviations (us), bytes moved by
   * one copy + apply, and copy(m) + apply(m) after the bandwidth model */
  double copy_us, copy_sd, grad_us, grad_sd, apply_us, apply_sd;
  double bytes, mem_us;
  double add_us, add_sd;  /* measured: one gradient added into a sum (sync's reduction) */
  /* constant, lognormal, run: the store options, fractions (vclock.h) */
  double copy_frac, apply_frac, add_frac;
  int has_frac;           /* 1: given in the string (else the defaults) */
  double apply_m_us;  /* measured: apply(m), the part of mem_us after the update lands */
  int cal_threads;    /* measured: threads that ran the calibration at once */
  char run_key[17];   /* run: the recorded run's key */
  const uint64_t *replay_ns; /* run: its durations (not owned) */
  size_t n_replay;
} vclock_model;

/* Parses a step-time model string (NULL or "": the default). 0, or -1 with
 * err saying what is wrong with it. */
int vclock_model_parse(const char *s, vclock_model *m, char *err, size_t errlen);

/* Calibrates a "measured" model on this machine for m workers: k = min(m,
 * online CPUs) threads at once (the caller's thread with ws, the others
 * with pr->ws_create workspaces) each time 31 rounds of a copy of d floats
 * from one shared scratch theta, pr->grad, and the update o applied to that
 * scratch theta (HOGWILD!-racy, as workers share the store's), after 3
 * warm-ups; medians and robust spreads over all k x 31 samples (shared state
 * of the run untouched), then the bandwidth model. 0, or -1 with err (out
 * of memory, a thread or workspace that could not be made). */
int vclock_calibrate(const par_problem *pr, void *ws, const optim_spec *o, int m,
                     vclock_model *mo, char *err, size_t errlen);

/* 0 if the dispatcher, store, worker count and step time can run under the
 * virtual clock; -1 with err naming what cannot be represented. */
int vclock_check(const disp_ops *d, const ps_ops *p, ps_backoff backoff, int n_workers,
                 const char *step_time, char *err, size_t errlen);

/* par_run under the virtual clock (par_run calls it for PAR_CLOCK_VIRTUAL).
 * Same contract as par_run; c->on_thread is not called (virtual workers
 * have no thread: pu -1, unbound). */
int vclock_run(const par_problem *p, const par_config *c, par_result *res, float *theta_out,
               char *err, size_t errlen);

#endif

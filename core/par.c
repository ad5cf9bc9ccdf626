/* par.c - the real-clock driver of the one Alg. 1 step (step.h): m worker
 * threads, each looping step_begin -> gradient -> step_end in wall time,
 * and a monitor thread polling step_monitor_tick. par_run hands a
 * virtual-clock config to vclock.c. */
#define _GNU_SOURCE
#include "par.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common.h"
#include "step.h"
#include "vclock.h"

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define DEFAULT_STACK ((size_t)8 << 20)
#else
#define DEFAULT_STACK ((size_t)512 << 10)
#endif

/* What only the real clock needs around the shared run state. */
typedef struct {
  step_run *R;
  /* start gate: workers report ready, then wait for go (set with t0) */
  pthread_mutex_t start_mu;
  pthread_cond_t start_cv;
  int n_ready, go;
  pthread_mutex_t mon_mu;
  pthread_cond_t mon_cv;
  _Atomic int setup_failed;
} par;

void par_config_default(par_config *c) {
  memset(c, 0, sizeof *c);
  c->disp = &disp_async_ops;
  c->store = &ps_hogwild_ops;
  c->n_workers = 1;
  c->m0 = 1;
  c->y0 = 64;
  c->decay_k = 4096;
  c->window = 3;
  c->probe_steps = 1024;
  c->exec_steps = 8192;
  c->opt.kind = OPTIM_SGD;
  c->opt.lr = 0.01f;
  c->ps_bound = -1;
  c->seed = 1;
}

static uint64_t wall_now(void *ctx) {
  (void)ctx;
  return psgd_now_ns();
}

/* step_stop's hook: wake the monitor so it sees the end at once */
static void wake_monitor(void *ctx) {
  par *Q = ctx;
  PSGD_CHECK(pthread_mutex_lock(&Q->mon_mu) == 0);
  PSGD_CHECK(pthread_cond_broadcast(&Q->mon_cv) == 0);
  PSGD_CHECK(pthread_mutex_unlock(&Q->mon_mu) == 0);
}

/* ------------------------------------------------------------ workers --- */

static void worker_setup(step_worker *W) {
  step_run *P = W->P;
  const par_config *c = P->cfg;
  const par_problem *pr = P->prob;
  W->pu = -1;
  W->bound = 0;
  if (c->on_thread && c->on_thread(c->thread_ctx, W->id, &W->pu, &W->bound, W->err,
                                   sizeof W->err)) {
    W->failed = 1;
    return;
  }
  /* after binding: first touch puts these on the worker's node */
  W->local = psgd_alloc(pr->d * sizeof(float));
  W->grad = psgd_calloc(pr->d * sizeof(float));
  if (!W->local || !W->grad) {
    snprintf(W->err, sizeof W->err, "worker %d: out of memory for d = %zu", W->id, pr->d);
    W->failed = 1;
    return;
  }
  memset(W->local, 0, pr->d * sizeof(float));
  if (pr->ws_create && !(W->ws = pr->ws_create(pr->ctx, W->id))) {
    snprintf(W->err, sizeof W->err, "worker %d: workspace allocation failed", W->id);
    W->failed = 1;
  }
}

typedef struct {
  par *Q;
  step_worker *W;
} worker_arg;

static void *worker_main(void *arg) {
  par *Q = ((worker_arg *)arg)->Q;
  step_worker *W = ((worker_arg *)arg)->W;
  step_run *P = Q->R;
  const par_problem *pr = P->prob;
  worker_setup(W);
  if (W->failed) atomic_store_explicit(&Q->setup_failed, 1, memory_order_relaxed);
  PSGD_CHECK(pthread_mutex_lock(&Q->start_mu) == 0);
  Q->n_ready++;
  PSGD_CHECK(pthread_cond_broadcast(&Q->start_cv) == 0);
  while (!Q->go) PSGD_CHECK(pthread_cond_wait(&Q->start_cv, &Q->start_mu) == 0);
  PSGD_CHECK(pthread_mutex_unlock(&Q->start_mu) == 0);

  step_state S;
  while (step_running(P)) {
    if (!step_begin(P, W, &S)) break;
    /* Alg. 1 lines 5-6: gradient on batch GETBATCH(i) */
    S.loss = pr->grad(pr->ctx, W->ws, S.theta, S.t.i, W->grad);
    step_end(P, W, &S);
  }
  return NULL;
}

/* ------------------------------------------------------------ monitor --- */

static void *monitor_main(void *arg) {
  par *Q = arg;
  step_run *P = Q->R;
  step_monitor M;
  step_monitor_init(P, &M);
  PSGD_CHECK(pthread_mutex_lock(&Q->mon_mu) == 0);
  while (step_running(P)) {
    uint64_t now = psgd_now_ns();
    uint64_t wake = step_monitor_wake(&M, now);
    if (wake > now) {
      struct timespec ts = {(time_t)(wake / 1000000000ull), (long)(wake % 1000000000ull)};
      int rc = pthread_cond_timedwait(&Q->mon_cv, &Q->mon_mu, &ts);
      PSGD_CHECK(rc == 0 || rc == ETIMEDOUT);
    }
    if (!step_running(P)) break;
    PSGD_CHECK(pthread_mutex_unlock(&Q->mon_mu) == 0);
    step_monitor_tick(P, &M, psgd_now_ns());
    PSGD_CHECK(pthread_mutex_lock(&Q->mon_mu) == 0);
  }
  PSGD_CHECK(pthread_mutex_unlock(&Q->mon_mu) == 0);
  return NULL;
}

/* ---------------------------------------------------------------- run --- */

static int cond_init_monotonic(pthread_cond_t *cv) {
  pthread_condattr_t a;
  if (pthread_condattr_init(&a)) return -1;
  int rc = pthread_condattr_setclock(&a, CLOCK_MONOTONIC);
  if (!rc) rc = pthread_cond_init(cv, &a);
  pthread_condattr_destroy(&a);
  return rc ? -1 : 0;
}

void par_result_free(par_result *res) {
  if (!res) return;
  for (int i = 0; i < res->n_snaps; i++) psgd_free(res->snaps[i].theta);
  free(res->snaps);
  free(res->events);
  free(res->pu);
  free(res->bound);
  memset(res, 0, sizeof *res);
}

/* Mutexes and condition variables of the start gate and the monitor. */
static int sync_init(par *Q, char *err, size_t errlen) {
  if (cond_init_monotonic(&Q->mon_cv) || pthread_mutex_init(&Q->mon_mu, NULL) ||
      pthread_mutex_init(&Q->start_mu, NULL) || pthread_cond_init(&Q->start_cv, NULL))
    return psgd_err(err, errlen, "par_run: mutex or condition variable init failed");
  return 0;
}

static void sync_destroy(par *Q) {
  pthread_cond_destroy(&Q->start_cv);
  pthread_mutex_destroy(&Q->start_mu);
  pthread_cond_destroy(&Q->mon_cv);
  pthread_mutex_destroy(&Q->mon_mu);
}

/* Starts the workers (each sets itself up, then waits at the gate); stops
 * at the first that cannot be created. -1 with err: the stack size was
 * refused (none started). Otherwise 0, *failed set if one could not start. */
static int start_workers(par *Q, worker_arg *args, int *n_started, int *failed, char *err,
                         size_t errlen) {
  step_run *P = Q->R;
  const int nw = P->cfg->n_workers;
  pthread_attr_t at;
  size_t stack = P->cfg->stack_bytes ? P->cfg->stack_bytes : DEFAULT_STACK;
  if (pthread_attr_init(&at)) return psgd_err(err, errlen, "par_run: pthread_attr_init failed");
  if (pthread_attr_setstacksize(&at, stack)) {
    pthread_attr_destroy(&at);
    return psgd_err(err, errlen, "par_run: stack size %zu refused", stack);
  }
  for (int i = 0; i < nw; i++) {
    args[i] = (worker_arg){Q, &P->w[i]};
    int e = pthread_create(&P->w[i].th, &at, worker_main, &args[i]);
    if (e) {
      psgd_err(err, errlen, "par_run: could not start worker %d of %d: %s", i, nw, strerror(e));
      *failed = 1;
      break;
    }
    (*n_started)++;
  }
  pthread_attr_destroy(&at);
  return 0;
}

/* The start gate: waits until every started worker is set up (bound,
 * buffers), takes t0, starts the monitor and lets everyone go. After a
 * failure (*failed on entry, a worker's setup, the monitor) the workers are
 * released into a stopped run and leave their loop at once; *setup_failed
 * says their own setup failed (the error is in their step_worker). */
static void open_gate(par *Q, int n_started, int *failed, int *setup_failed, pthread_t *mon,
                      int *have_mon, par_result *res, char *err, size_t errlen) {
  step_run *P = Q->R;
  PSGD_CHECK(pthread_mutex_lock(&Q->start_mu) == 0);
  while (Q->n_ready < n_started) PSGD_CHECK(pthread_cond_wait(&Q->start_cv, &Q->start_mu) == 0);
  *setup_failed = !*failed && atomic_load_explicit(&Q->setup_failed, memory_order_relaxed);
  if (*setup_failed) *failed = 1;
  if (*failed) {
    atomic_store_explicit(&P->status, RUN_OK, memory_order_relaxed);
    disp_stop(P->d);
  }
  P->t0 = psgd_now_ns();
  res->t0_ns = P->t0;
  if (!*failed) {
    int e = pthread_create(mon, NULL, monitor_main, Q);
    if (e) {
      psgd_err(err, errlen, "par_run: could not start the monitor: %s", strerror(e));
      atomic_store_explicit(&P->status, RUN_OK, memory_order_relaxed);
      disp_stop(P->d);
      *failed = 1;
    } else {
      *have_mon = 1;
    }
  }
  Q->go = 1;
  PSGD_CHECK(pthread_cond_broadcast(&Q->start_cv) == 0);
  PSGD_CHECK(pthread_mutex_unlock(&Q->start_mu) == 0);
}

/* Joins the workers, ends the run (wakes the monitor if the workers ended
 * by themselves) and joins the monitor; returns the end time. */
static uint64_t join_all(par *Q, int n_started, pthread_t mon, int have_mon) {
  step_run *P = Q->R;
  for (int i = 0; i < n_started; i++) PSGD_CHECK(pthread_join(P->w[i].th, NULL) == 0);
  uint64_t t_end = psgd_now_ns();
  step_stop(P, RUN_OK);
  if (have_mon) PSGD_CHECK(pthread_join(mon, NULL) == 0);
  return t_end;
}

int par_run(const par_problem *pr, const par_config *c, par_result *res, float *theta_out,
            char *err, size_t errlen) {
  memset(res, 0, sizeof *res);
  if (c->clock == PAR_CLOCK_VIRTUAL) return vclock_run(pr, c, res, theta_out, err, errlen);

  par Q;
  memset(&Q, 0, sizeof Q);
  atomic_init(&Q.setup_failed, 0);
  if (step_run_create(&Q.R, pr, c, err, errlen)) return -1;
  step_run *P = Q.R;
  P->now = wall_now;
  P->on_stop = wake_monitor;
  P->stop_ctx = &Q;
  int rc = -1, have_sync = 0, n_started = 0, failed = 0, setup_failed = 0, have_mon = 0;
  pthread_t mon;
  memset(&mon, 0, sizeof mon); /* joined only if started */
  worker_arg *args = calloc((size_t)c->n_workers, sizeof *args);
  if (!args) {
    psgd_err(err, errlen, "par_run: out of memory for %d workers", c->n_workers);
    goto out;
  }
  if (sync_init(&Q, err, errlen)) goto out;
  have_sync = 1;
  if (start_workers(&Q, args, &n_started, &failed, err, errlen)) goto out;
  open_gate(&Q, n_started, &failed, &setup_failed, &mon, &have_mon, res, err, errlen);
  uint64_t t_end = join_all(&Q, n_started, mon, have_mon);
  if (setup_failed) {
    for (int i = 0; i < c->n_workers; i++)
      if (P->w[i].failed) {
        psgd_err(err, errlen, "%s", P->w[i].err);
        break;
      }
  }
  if (failed || step_run_result(P, t_end, res, theta_out, err, errlen)) goto out;
  rc = 0;
out:
  if (have_sync) sync_destroy(&Q);
  free(args);
  step_run_free(P);
  return rc;
}

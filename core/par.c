/* par.c - the parallel training loop of par.h: worker threads (paper Alg. 1),
 * the sync reduction, the monitor thread (stop conditions, evaluation
 * snapshots, progress), events, and the run's counters. */
#define _GNU_SOURCE
#include "par.h"

#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common.h"

#define EVENT_CAP 65536
#define LOSS_WINDOW 256            /* accepted steps in the running train loss */
#define LOSS_RING 256              /* monitor polls remembered for it */
#define POLL_NS 10000000ull        /* monitor poll: 10 ms */
#define SNAP_BUDGET ((size_t)256 << 20)
#define STATUS_RUNNING (-1)

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define DEFAULT_STACK ((size_t)8 << 20)
#else
#define DEFAULT_STACK ((size_t)512 << 10)
#endif

typedef struct par par;

typedef struct {
  _Alignas(64) par *P;
  int id;
  float *local, *grad;
  void *ws;
  /* written by the owner only (relaxed load + store), read by the monitor */
  _Atomic uint64_t started, accepted, rejected, dropped, loss_cnt;
  _Atomic double loss_sum;
  int pu, bound, failed;
  pthread_t th;
  char err[256];
} worker;

struct par {
  const par_problem *prob;
  const par_config *cfg;
  disp *d;
  ps *store;
  ctl *cy, *cm;
  worker *w;
  float *red;                       /* sync: the averaged gradient */
  /* start gate: workers report ready, then wait for go (set with t0) */
  pthread_mutex_t start_mu;
  pthread_cond_t start_cv;
  int n_ready, go;
  /* relaxed: a flag; par_stop's CAS elects the one status, disp_stop wakes */
  _Alignas(64) _Atomic int status;
  _Alignas(64) _Atomic uint64_t accepted_total; /* relaxed: a numbering */
  _Alignas(64) _Atomic uint64_t finish_order;   /* relaxed: a numbering */
  uint64_t t0;
  double div_limit;
  event_rec *events;
  _Atomic int n_events;
  _Atomic uint64_t events_lost;
  pthread_mutex_t mon_mu;
  pthread_cond_t mon_cv;
  _Atomic int setup_failed;
  /* monitor-owned (read by par_run after the join) */
  double ring_s[LOSS_RING];
  uint64_t ring_c[LOSS_RING];
  int ring_n, ring_i;
  float *eval_buf;                  /* scratch for online evaluation */
  par_snap *snaps;
  int n_snaps, cap_snaps, n_snap_bufs;
  size_t snap_bytes;
  int online_evals;
};

void par_config_default(par_config *c) {
  memset(c, 0, sizeof *c);
  c->disp = &disp_async_ops;
  c->store = &ps_hogwild_ops;
  c->n_workers = 1;
  c->m0 = 1;
  c->y0 = 64;
  c->decay_k = 4096;
  c->window = 12;
  c->probe_steps = 1024;
  c->exec_steps = 8192;
  c->opt.kind = OPTIM_SGD;
  c->opt.lr = 0.01f;
  c->ps_bound = -1;
  c->seed = 1;
}

/* ------------------------------------------------------------ events ---- */

static void par_event(par *P, uint64_t now_abs, const char *kind, double value,
                      const char *detail) {
  int i = atomic_fetch_add_explicit(&P->n_events, 1, memory_order_relaxed);
  if (i >= EVENT_CAP) {
    atomic_fetch_add_explicit(&P->events_lost, 1, memory_order_relaxed);
    return;
  }
  event_rec *e = &P->events[i];
  memset(e, 0, sizeof *e);
  e->t_ns = now_abs > P->t0 ? now_abs - P->t0 : 0;
  snprintf(e->kind, sizeof e->kind, "%s", kind);
  e->value = value;
  if (detail) snprintf(e->detail, sizeof e->detail, "%s", detail);
}

/* ctl_event_fn: controllers stamp absolute times (t0_ns = 0 in their cfg). */
static void ctl_event_sink(void *ctx, const event_rec *e) {
  par_event(ctx, e->t_ns, e->kind, e->value, e->detail);
}

static void ctl_loss_source(void *ctx, double *sum, uint64_t *count) {
  par *P = ctx;
  double s = 0;
  uint64_t n = 0;
  for (int i = 0; i < P->cfg->n_workers; i++) {
    s += atomic_load_explicit(&P->w[i].loss_sum, memory_order_relaxed);
    n += atomic_load_explicit(&P->w[i].loss_cnt, memory_order_relaxed);
  }
  *sum = s;
  *count = n;
}

static void par_stop(par *P, run_status s) {
  int expect = STATUS_RUNNING;
  if (!atomic_compare_exchange_strong_explicit(&P->status, &expect, (int)s,
                                               memory_order_relaxed, memory_order_relaxed))
    return;
  disp_stop(P->d);
  PSGD_CHECK(pthread_mutex_lock(&P->mon_mu) == 0);
  PSGD_CHECK(pthread_cond_broadcast(&P->mon_cv) == 0);
  PSGD_CHECK(pthread_mutex_unlock(&P->mon_mu) == 0);
}

static int running(par *P) {
  return atomic_load_explicit(&P->status, memory_order_relaxed) == STATUS_RUNNING;
}

/* owner-only counter bump: no lock prefix needed */
static inline void bump(_Atomic uint64_t *x) {
  atomic_store_explicit(x, atomic_load_explicit(x, memory_order_relaxed) + 1,
                        memory_order_relaxed);
}

/* ------------------------------------------------------------ workers --- */

/* sync: the round's mean gradient, summed in worker order (deterministic) */
static const float *reduce(par *P, int w, int n) {
  if (n <= 1) return P->w[w].grad;
  const size_t d = P->prob->d;
  float *red = P->red;
  memcpy(red, P->w[0].grad, d * sizeof *red);
  for (int k = 1; k < n; k++) {
    const float *g = P->w[k].grad;
    for (size_t i = 0; i < d; i++) red[i] += g[i];
  }
  const float s = 1.0f / (float)n;
  for (size_t i = 0; i < d; i++) red[i] *= s;
  return red;
}

static void worker_setup(worker *W) {
  par *P = W->P;
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

static void *worker_main(void *arg) {
  worker *W = arg;
  par *P = W->P;
  const par_config *c = P->cfg;
  const par_problem *pr = P->prob;
  const int w = W->id;
  worker_setup(W);
  if (W->failed) atomic_store_explicit(&P->setup_failed, 1, memory_order_relaxed);
  PSGD_CHECK(pthread_mutex_lock(&P->start_mu) == 0);
  P->n_ready++;
  PSGD_CHECK(pthread_cond_broadcast(&P->start_cv) == 0);
  while (!P->go) PSGD_CHECK(pthread_cond_wait(&P->start_cv, &P->start_mu) == 0);
  PSGD_CHECK(pthread_mutex_unlock(&P->start_mu) == 0);

  const uint64_t t0 = P->t0;
  const int logging = c->log != NULL;
  disp_ticket t;
  step_rec r;
  memset(&r, 0, sizeof r);
  r.worker = w;
  while (running(P)) {
    if (!disp_try_start(P->d, w, &t)) break; /* sleeps while w >= m */
    const uint64_t ts = psgd_now_ns();
    bump(&W->started);
    uint64_t vr = 0, va = 0;
    /* Alg. 1 line 4: local copy of theta (or a consistent shared version) */
    const float *th = ps_read_begin(P->store, w, W->local, &vr);
    /* lines 5-6: gradient on batch GETBATCH(i) */
    const float loss = pr->grad(pr->ctx, W->ws, th, t.i, W->grad);
    ps_read_end(P->store, w);
    /* line 7 */
    const int v = disp_finish(P->d, w, &t);
    if (c->after_finish) c->after_finish(c->after_finish_ctx, w, v);
    int accepted = 0;
    switch (v) {
    case DISP_APPLY: /* line 8 */
      accepted = ps_apply(P->store, w, W->grad, vr, &va);
      disp_done(P->d, w, &t);
      break;
    case DISP_REDUCE:
      ps_apply(P->store, w, reduce(P, w, (int)t.m), vr, &va);
      disp_done(P->d, w, &t);
      accepted = 1;
      break;
    case DISP_CONTRIB:
      va = vr; /* one update of the round, all on the same theta: tau = 0 */
      accepted = 1;
      break;
    default:
      va = ps_version(P->store);
      break;
    }
    const uint64_t te = psgd_now_ns();
    if (accepted) {
      uint64_t n = atomic_fetch_add_explicit(&P->accepted_total, 1, memory_order_relaxed) + 1;
      atomic_store_explicit(&W->loss_sum,
                            atomic_load_explicit(&W->loss_sum, memory_order_relaxed) + loss,
                            memory_order_relaxed);
      bump(&W->loss_cnt);
      bump(&W->accepted);
      if (P->cy) ctl_on_accept(P->cy, n, te);
      if (P->cm) ctl_on_accept(P->cm, n, te);
      if (c->max_steps && n >= c->max_steps) par_stop(P, RUN_OK);
    } else if (v == DISP_REJECT) {
      bump(&W->rejected);
    } else {
      bump(&W->dropped);
    }
    if (logging) {
      r.step = t.i;
      r.finish = atomic_fetch_add_explicit(&P->finish_order, 1, memory_order_relaxed);
      r.t_start_ns = ts - t0;
      r.t_end_ns = te - t0;
      r.version_read = vr;
      r.version_apply = va;
      r.interval = t.interval;
      r.staleness = (int64_t)(va - vr);
      r.loss = loss;
      r.pu = sched_getcpu();
      r.y = t.y;
      r.m = t.m;
      r.accepted = (uint8_t)accepted;
      steplog_push(c->log, w, &r);
    }
    if (!isfinite(loss) || (P->div_limit > 0 && loss > P->div_limit)) {
      if (running(P)) par_event(P, te, "diverged", loss, "minibatch loss non-finite or exploding");
      par_stop(P, RUN_DIVERGED);
    }
  }
  return NULL;
}

/* ------------------------------------------------------------ monitor --- */

static void totals(par *P, double *sum, uint64_t *cnt) { ctl_loss_source(P, sum, cnt); }

/* The next snapshot buffer: preallocated, else grown within the budget;
 * NULL when the budget is spent. */
static float *snap_buffer(par *P) {
  int i = P->n_snaps;
  if (P->snaps[i].theta) return P->snaps[i].theta;
  size_t budget = P->cfg->snap_budget_bytes ? P->cfg->snap_budget_bytes : SNAP_BUDGET;
  if ((size_t)(P->n_snap_bufs + 1) * P->snap_bytes > budget) return NULL;
  if (!(P->snaps[i].theta = psgd_alloc(P->snap_bytes))) return NULL;
  P->n_snap_bufs++;
  return P->snaps[i].theta;
}

/* One evaluation point: a snapshot for after the run, or (target accuracy,
 * or no snapshot memory left) an evaluation now. */
static void eval_point(par *P, uint64_t now, uint64_t acc, double train_loss) {
  const par_config *c = P->cfg;
  if (P->n_snaps >= P->cap_snaps) return;
  par_snap *s = &P->snaps[P->n_snaps];
  s->e.t_ns = now - P->t0;
  s->e.steps_accepted = acc;
  s->e.epoch = c->steps_per_epoch > 0 ? (double)acc / c->steps_per_epoch : 0.0;
  s->e.train_loss = train_loss;
  s->e.test_loss = NAN;
  s->e.test_acc = NAN;
  float *buf = c->target_acc > 0 ? NULL : snap_buffer(P);
  if (buf) {
    ps_snapshot(P->store, c->n_workers, buf);
  } else if (c->eval_online && P->eval_buf) {
    ps_snapshot(P->store, c->n_workers, P->eval_buf);
    if (c->eval_online(c->eval_ctx, P->eval_buf, &s->e.test_loss, &s->e.test_acc) == 0)
      P->online_evals++;
  }
  P->n_snaps++;
  double el = (double)(now - P->t0) * 1e-9;
  if (c->on_eval) c->on_eval(c->on_eval_ctx, &s->e, el > 0 ? (double)acc / el : 0.0);
  if (c->target_acc > 0 && s->e.test_acc >= c->target_acc) {
    par_event(P, now, "target_acc", s->e.test_acc, "target accuracy reached");
    par_stop(P, RUN_CONVERGED);
  }
}

/* Remembers the loss totals of one monitor poll. */
static void ring_push(par *P, double s, uint64_t n) {
  P->ring_s[P->ring_i] = s;
  P->ring_c[P->ring_i] = n;
  P->ring_i = (P->ring_i + 1) % LOSS_RING;
  if (P->ring_n < LOSS_RING) P->ring_n++;
}

/* Mean minibatch loss over the most recent polls covering >= LOSS_WINDOW
 * accepted steps, given the totals now. Fewer steps than that: over all of
 * them while the ring still holds the first poll, else over the oldest poll
 * it remembers (LOSS_RING x POLL_NS ago). Slow runs (large batches, many
 * threads per core) make < LOSS_WINDOW steps in that span; a mean since the
 * start would keep their first, high losses in it forever and delay their
 * epsilon stop by seconds. */
static double running_loss(const par *P, double s, uint64_t n) {
  for (int k = 1; k <= P->ring_n; k++) {
    int j = (P->ring_i - k + LOSS_RING) % LOSS_RING;
    uint64_t dn = n - P->ring_c[j];
    if (dn >= LOSS_WINDOW) return (s - P->ring_s[j]) / (double)dn;
  }
  if (P->ring_n == LOSS_RING) {
    int j = P->ring_i; /* the oldest entry, overwritten next */
    uint64_t dn = n - P->ring_c[j];
    if (dn > 0) return (s - P->ring_s[j]) / (double)dn;
  }
  return n ? s / (double)n : NAN;
}

static void *monitor_main(void *arg) {
  par *P = arg;
  const par_config *c = P->cfg;
  const uint64_t t0 = P->t0;
  const uint64_t every_ns = c->eval_every_s > 0 ? (uint64_t)(c->eval_every_s * 1e9) : 0;
  uint64_t next_eval_ns = every_ns ? t0 + every_ns : UINT64_MAX;
  uint64_t next_eval_steps = c->eval_every_steps ? c->eval_every_steps : UINT64_MAX;
  const uint64_t deadline = c->max_seconds > 0 ? t0 + (uint64_t)(c->max_seconds * 1e9) : UINT64_MAX;
  double eval_sum = 0;
  uint64_t eval_cnt = 0;

  PSGD_CHECK(pthread_mutex_lock(&P->mon_mu) == 0);
  while (running(P)) {
    uint64_t now = psgd_now_ns();
    uint64_t wake = now + POLL_NS;
    if (next_eval_ns < wake) wake = next_eval_ns;
    if (deadline < wake) wake = deadline;
    if (wake > now) {
      struct timespec ts = {(time_t)(wake / 1000000000ull), (long)(wake % 1000000000ull)};
      int rc = pthread_cond_timedwait(&P->mon_cv, &P->mon_mu, &ts);
      PSGD_CHECK(rc == 0 || rc == ETIMEDOUT);
    }
    if (!running(P)) break;
    PSGD_CHECK(pthread_mutex_unlock(&P->mon_mu) == 0);

    now = psgd_now_ns();
    if (c->stop_flag && atomic_load_explicit(c->stop_flag, memory_order_relaxed))
      par_stop(P, RUN_INTERRUPTED);
    if (now >= deadline) par_stop(P, RUN_OK);

    /* running training loss: mean over the last >= LOSS_WINDOW accepted steps */
    double s;
    uint64_t n;
    totals(P, &s, &n);
    double rl = running_loss(P, s, n);
    ring_push(P, s, n);
    if (c->epsilon > 0 && c->initial_loss > 0 && n >= LOSS_WINDOW && running(P) &&
        rl <= c->epsilon * c->initial_loss) {
      par_event(P, now, "epsilon", rl, "running train loss <= epsilon x initial");
      par_stop(P, RUN_CONVERGED);
    }

    uint64_t acc = atomic_load_explicit(&P->accepted_total, memory_order_relaxed);
    if (running(P) && (now >= next_eval_ns || acc >= next_eval_steps)) {
      double tl = n > eval_cnt ? (s - eval_sum) / (double)(n - eval_cnt) : rl;
      eval_sum = s;
      eval_cnt = n;
      eval_point(P, now, acc, tl);
      while (next_eval_ns <= now) next_eval_ns += every_ns ? every_ns : UINT64_MAX;
      while (next_eval_steps <= acc) next_eval_steps += c->eval_every_steps;
    }
    PSGD_CHECK(pthread_mutex_lock(&P->mon_mu) == 0);
  }
  PSGD_CHECK(pthread_mutex_unlock(&P->mon_mu) == 0);
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

int par_run(const par_problem *pr, const par_config *c, par_result *res, float *theta_out,
            char *err, size_t errlen) {
  memset(res, 0, sizeof *res);
  if (!pr || !pr->grad || pr->d == 0 || !pr->theta0)
    return psgd_err(err, errlen, "par_run: the problem needs d > 0, theta0 and a gradient");
  if (!c->disp || !c->store)
    return psgd_err(err, errlen, "par_run: no dispatcher or param store");
  if (c->n_workers < 1 || c->m0 < 1 || c->m0 > c->n_workers)
    return psgd_err(err, errlen, "par_run: %d workers with m = %d (need 1 <= m <= workers)",
                    c->n_workers, c->m0);
  if (c->target_acc > 0 && !c->eval_online)
    return psgd_err(err, errlen, "par_run: target accuracy needs online evaluation");

  int rc = -1, n_started = 0, create_failed = 0, have_sync = 0, have_mon = 0;
  const int nw = c->n_workers;
  par *P = psgd_calloc(sizeof *P);
  if (!P) return psgd_err(err, errlen, "par_run: out of memory");
  P->prob = pr;
  P->cfg = c;
  atomic_init(&P->status, STATUS_RUNNING);
  atomic_init(&P->accepted_total, 0);
  atomic_init(&P->finish_order, 0);
  atomic_init(&P->n_events, 0);
  atomic_init(&P->events_lost, 0);
  atomic_init(&P->setup_failed, 0);
  P->div_limit = c->initial_loss > 0
                     ? (c->diverge_factor > 0 ? c->diverge_factor : 1e3) * c->initial_loss
                     : 0;

  P->w = psgd_calloc((size_t)nw * sizeof *P->w);
  P->events = calloc(EVENT_CAP, sizeof *P->events);
  if (!P->w || !P->events) {
    psgd_err(err, errlen, "par_run: out of memory for %d workers", nw);
    goto out;
  }
  if (c->disp->own_gate) {
    P->red = psgd_alloc(pr->d * sizeof *P->red);
    if (!P->red) {
      psgd_err(err, errlen, "par_run: out of memory for the sync reduction");
      goto out;
    }
  }

  disp_cfg dc = {nw, c->m0, c->y0, c->on_open, c->on_open_ctx};
  if (!(P->d = disp_create(c->disp, &dc, err, errlen))) goto out;
  ps_cfg sc = {pr->d, nw + 1, pr->theta0, c->opt, c->backoff, c->ps_bound, c->seed};
  if (!(P->store = ps_create(c->store, &sc, err, errlen))) goto out;
  ctl_cfg cc;
  memset(&cc, 0, sizeof cc);
  cc.d = P->d;
  cc.y0 = c->y0;
  cc.m0 = c->m0;
  cc.m_max = nw;
  cc.decay_k = c->decay_k;
  cc.window = c->window;
  cc.probe_steps = c->probe_steps;
  cc.exec_steps = c->exec_steps;
  cc.event = ctl_event_sink;
  cc.event_ctx = P;
  cc.loss = ctl_loss_source;
  cc.loss_ctx = P;
  cc.t0_ns = 0;
  if (c->ctl_y && c->ctl_y->on_accept && !(P->cy = ctl_create(c->ctl_y, &cc, err, errlen)))
    goto out;
  if (c->ctl_m && c->ctl_m->on_accept && !(P->cm = ctl_create(c->ctl_m, &cc, err, errlen)))
    goto out;

  /* evaluation snapshots */
  P->snap_bytes = pr->d * sizeof(float);
  size_t budget = c->snap_budget_bytes ? c->snap_budget_bytes : SNAP_BUDGET;
  size_t cap = budget / P->snap_bytes;
  if (cap < 2) cap = 2;
  if (cap > 100000) cap = 100000;
  P->cap_snaps = (int)cap + 1;
  P->snaps = calloc((size_t)P->cap_snaps, sizeof *P->snaps);
  if (!P->snaps) {
    psgd_err(err, errlen, "par_run: out of memory for evaluation snapshots");
    goto out;
  }
  int pre = c->snap_prealloc < P->cap_snaps ? c->snap_prealloc : P->cap_snaps;
  for (int i = 0; i < pre; i++) {
    if (!(P->snaps[i].theta = psgd_alloc(P->snap_bytes))) {
      psgd_err(err, errlen, "par_run: out of memory for %d evaluation snapshots", pre);
      goto out;
    }
    memset(P->snaps[i].theta, 0, P->snap_bytes); /* prefault outside the run */
    P->n_snap_bufs++;
  }

  if (c->eval_online && !(P->eval_buf = psgd_alloc(P->snap_bytes))) {
    psgd_err(err, errlen, "par_run: out of memory for online evaluation");
    goto out;
  }
  if (cond_init_monotonic(&P->mon_cv) || pthread_mutex_init(&P->mon_mu, NULL) ||
      pthread_mutex_init(&P->start_mu, NULL) || pthread_cond_init(&P->start_cv, NULL)) {
    psgd_err(err, errlen, "par_run: mutex or condition variable init failed");
    goto out;
  }
  have_sync = 1;

  pthread_attr_t at;
  size_t stack = c->stack_bytes ? c->stack_bytes : DEFAULT_STACK;
  if (pthread_attr_init(&at)) {
    psgd_err(err, errlen, "par_run: pthread_attr_init failed");
    goto out;
  }
  if (pthread_attr_setstacksize(&at, stack)) {
    pthread_attr_destroy(&at);
    psgd_err(err, errlen, "par_run: stack size %zu refused", stack);
    goto out;
  }
  for (int i = 0; i < nw; i++) {
    P->w[i].P = P;
    P->w[i].id = i;
    atomic_init(&P->w[i].loss_sum, 0.0);
    int e = pthread_create(&P->w[i].th, &at, worker_main, &P->w[i]);
    if (e) {
      psgd_err(err, errlen, "par_run: could not start worker %d of %d: %s", i, nw, strerror(e));
      create_failed = 1;
      break;
    }
    n_started++;
  }
  pthread_attr_destroy(&at);

  /* start gate: wait until every started worker is set up (bound, buffers) */
  PSGD_CHECK(pthread_mutex_lock(&P->start_mu) == 0);
  while (P->n_ready < n_started) PSGD_CHECK(pthread_cond_wait(&P->start_cv, &P->start_mu) == 0);
  int failed = create_failed || atomic_load_explicit(&P->setup_failed, memory_order_relaxed);
  if (failed) {
    /* released into a stopped run: they leave their loop at once */
    atomic_store_explicit(&P->status, RUN_OK, memory_order_relaxed);
    disp_stop(P->d);
  }
  P->t0 = psgd_now_ns();
  res->t0_ns = P->t0;
  pthread_t mon;
  if (!failed) {
    int e = pthread_create(&mon, NULL, monitor_main, P);
    if (e) {
      psgd_err(err, errlen, "par_run: could not start the monitor: %s", strerror(e));
      atomic_store_explicit(&P->status, RUN_OK, memory_order_relaxed);
      disp_stop(P->d);
      create_failed = failed = 1;
    } else {
      have_mon = 1;
    }
  }
  P->go = 1;
  PSGD_CHECK(pthread_cond_broadcast(&P->start_cv) == 0);
  PSGD_CHECK(pthread_mutex_unlock(&P->start_mu) == 0);

  for (int i = 0; i < n_started; i++) PSGD_CHECK(pthread_join(P->w[i].th, NULL) == 0);
  uint64_t t_end = psgd_now_ns();
  par_stop(P, RUN_OK); /* wakes the monitor if the workers ended by themselves */
  if (have_mon) PSGD_CHECK(pthread_join(mon, NULL) == 0);

  if (failed) {
    if (!create_failed) {
      for (int i = 0; i < nw; i++)
        if (P->w[i].failed) {
          psgd_err(err, errlen, "%s", P->w[i].err);
          break;
        }
    }
    goto out;
  }

  res->status = (run_status)atomic_load_explicit(&P->status, memory_order_relaxed);
  res->wall_s = (double)(t_end - P->t0) * 1e-9;
  for (int i = 0; i < nw; i++) {
    worker *W = &P->w[i];
    res->steps_started += atomic_load_explicit(&W->started, memory_order_relaxed);
    res->steps_accepted += atomic_load_explicit(&W->accepted, memory_order_relaxed);
    res->steps_rejected += atomic_load_explicit(&W->rejected, memory_order_relaxed);
    res->steps_dropped += atomic_load_explicit(&W->dropped, memory_order_relaxed);
  }
  double s;
  uint64_t n;
  totals(P, &s, &n);
  res->final_train_loss = running_loss(P, s, n);
  ps_get_stats(P->store, &res->store);
  if (theta_out) ps_snapshot(P->store, nw, theta_out);
  res->pu = malloc((size_t)nw * sizeof *res->pu);
  res->bound = malloc((size_t)nw * sizeof *res->bound);
  if (!res->pu || !res->bound) {
    free(res->pu);
    free(res->bound);
    res->pu = res->bound = NULL;
    psgd_err(err, errlen, "par_run: out of memory for the result");
    goto out;
  }
  for (int i = 0; i < nw; i++) {
    res->pu[i] = P->w[i].pu;
    res->bound[i] = P->w[i].bound;
  }
  res->n_events = atomic_load_explicit(&P->n_events, memory_order_relaxed);
  if (res->n_events > EVENT_CAP) res->n_events = EVENT_CAP;
  res->events_lost = atomic_load_explicit(&P->events_lost, memory_order_relaxed);
  res->events = P->events;
  P->events = NULL;
  /* hand over the recorded snapshots; the unused buffers are freed below */
  res->n_snaps = P->n_snaps;
  res->snaps = calloc((size_t)(P->n_snaps > 0 ? P->n_snaps : 1), sizeof *res->snaps);
  if (!res->snaps) {
    par_result_free(res);
    psgd_err(err, errlen, "par_run: out of memory for the result");
    goto out;
  }
  for (int i = 0; i < P->n_snaps; i++) {
    res->snaps[i] = P->snaps[i];
    P->snaps[i].theta = NULL;
  }
  res->online_evals = P->online_evals;
  rc = 0;
out:
  if (have_sync) {
    pthread_cond_destroy(&P->start_cv);
    pthread_mutex_destroy(&P->start_mu);
    pthread_cond_destroy(&P->mon_cv);
    pthread_mutex_destroy(&P->mon_mu);
  }
  for (int i = 0; P->w && i < nw; i++) {
    if (P->w[i].ws && pr->ws_free) pr->ws_free(pr->ctx, P->w[i].ws);
    psgd_free(P->w[i].local);
    psgd_free(P->w[i].grad);
  }
  if (P->snaps) {
    for (int i = 0; i < P->cap_snaps; i++) psgd_free(P->snaps[i].theta);
    free(P->snaps);
  }
  ctl_free(P->cm);
  ctl_free(P->cy);
  ps_free(P->store);
  disp_free(P->d);
  psgd_free(P->red);
  psgd_free(P->eval_buf);
  free(P->events);
  psgd_free(P->w);
  psgd_free(P);
  return rc;
}

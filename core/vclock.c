/* vclock.c - the virtual-clock driver of the one Alg. 1 step (vclock.h):
 * an event heap ordered by (time, kind, worker), per-worker step-duration
 * streams, and a pool of real threads computing the gradients of steps in
 * flight while the loop goes on. */
#define _GNU_SOURCE
#include "vclock.h"

#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common.h"
#include "step.h"

/* --------------------------------------------------------- the model ---- */

int vclock_model_parse(const char *s, vclock_model *m, char *err, size_t errlen) {
  if (!s || !*s) s = VCLOCK_DEFAULT_STEP_TIME;
  memset(m, 0, sizeof *m);
  char *end;
  if (!strncmp(s, "constant:", 9)) {
    errno = 0;
    double us = strtod(s + 9, &end);
    if (errno || end == s + 9 || *end || !isfinite(us) || !(us > 0) || us > 1e9)
      return psgd_err(err, errlen,
                      "step_time '%s': constant:<us> needs a step time in (0, 1e9] microseconds",
                      s);
    m->kind = VCLOCK_CONSTANT;
    m->mean_us = us;
    return 0;
  }
  if (!strncmp(s, "lognormal:", 10)) {
    errno = 0;
    double mean = strtod(s + 10, &end);
    if (errno || end == s + 10 || *end != ',' || !isfinite(mean) || !(mean > 0) || mean > 1e9)
      return psgd_err(err, errlen,
                      "step_time '%s': lognormal:<mean_us>,<cv> needs a mean in (0, 1e9] "
                      "microseconds, then a comma", s);
    const char *q = end + 1;
    double cv = strtod(q, &end);
    if (errno || end == q || *end || !isfinite(cv) || cv < 0 || cv > 100)
      return psgd_err(err, errlen,
                      "step_time '%s': lognormal:<mean_us>,<cv> needs a coefficient of variation "
                      "in [0, 100]", s);
    m->kind = VCLOCK_LOGNORMAL;
    m->mean_us = mean;
    m->cv = cv;
    return 0;
  }
  if (!strncmp(s, "run:", 4)) {
    const char *k = s + 4;
    size_t n = strlen(k);
    int ok = n == 16;
    for (size_t i = 0; ok && i < n; i++) ok = (k[i] >= '0' && k[i] <= '9') || (k[i] >= 'a' && k[i] <= 'f');
    if (!ok)
      return psgd_err(err, errlen,
                      "step_time '%s': run:<run key> needs the 16 hex digits of a run key (psgd "
                      "list shows them)", s);
    m->kind = VCLOCK_RUN;
    memcpy(m->run_key, k, 17);
    return 0;
  }
  if (!strcmp(s, "measured")) {
    m->kind = VCLOCK_MEASURED;
    return 0;
  }
  return psgd_err(err, errlen,
                  "step_time '%s': expected measured, constant:<us>, lognormal:<mean_us>,<cv> or "
                  "run:<run key>",
                  s);
}

int vclock_check(const disp_ops *d, const ps_ops *p, int n_workers, const char *step_time,
                 char *err, size_t errlen) {
  if (d && !d->virtual_clock)
    return psgd_err(err, errlen,
                    "clock virtual: dispatcher '%s' has no virtual-time form yet; "
                    "use async or interval, or clock = \"real\"", d->name);
  if (p && !p->virtual_clock)
    return psgd_err(err, errlen,
                    "clock virtual: param store '%s' has no virtual-time form yet (its lock or "
                    "CAS would not be modelled); use hogwild, or clock = \"real\"", p->name);
  if (n_workers < 1 || n_workers > VCLOCK_MAX_WORKERS)
    return psgd_err(err, errlen, "clock virtual: %d workers (1..%d)", n_workers,
                    VCLOCK_MAX_WORKERS);
  vclock_model m;
  return vclock_model_parse(step_time, &m, err, errlen);
}

static uint64_t mix64(uint64_t x) {
  x += UINT64_C(0x9E3779B97F4A7C15);
  x = (x ^ (x >> 30)) * UINT64_C(0xBF58476D1CE4E5B9);
  x = (x ^ (x >> 27)) * UINT64_C(0x94D049BB133111EB);
  return x ^ (x >> 31);
}

/* uniform in (0, 1) from a worker's stream (splitmix64) */
static double uniform(uint64_t *s) {
  *s += UINT64_C(0x9E3779B97F4A7C15);
  uint64_t z = *s;
  z = (z ^ (z >> 30)) * UINT64_C(0xBF58476D1CE4E5B9);
  z = (z ^ (z >> 27)) * UINT64_C(0x94D049BB133111EB);
  z ^= z >> 31;
  return ((double)(z >> 11) + 0.5) * 0x1.0p-53;
}

/* lognormal with mean m and cv: sigma^2 = ln(1 + cv^2), mu = ln m - sigma^2 / 2 */
static double lognormal(double mean, double cv, uint64_t *rng) {
  if (!(cv > 0)) return mean;
  double s2 = log1p(cv * cv);
  double mu = log(mean) - 0.5 * s2;
  double u1 = uniform(rng), u2 = uniform(rng);
  double z = sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2);
  return exp(mu + sqrt(s2) * z);
}

/* One step duration in ns (>= 1). */
static uint64_t draw_ns(const vclock_model *m, uint64_t *rng) {
  double us = m->mean_us;
  if (m->kind == VCLOCK_LOGNORMAL) us = lognormal(m->mean_us, m->cv, rng);
  else if (m->kind == VCLOCK_MEASURED) us = m->mem_us + lognormal(m->grad_us, m->cv, rng);
  else if (m->kind == VCLOCK_RUN) {
    size_t i = (size_t)(uniform(rng) * (double)m->n_replay);
    return m->replay_ns[i < m->n_replay ? i : m->n_replay - 1];
  }
  double ns = us * 1e3;
  if (!(ns >= 1)) return 1;
  if (ns > 1e15) return (uint64_t)1e15;
  return (uint64_t)llround(ns);
}

/* mean and standard deviation of n samples */
static void mean_sd(const double *x, int n, double *mean, double *sd) {
  double s = 0, q = 0;
  for (int i = 0; i < n; i++) s += x[i];
  *mean = s / n;
  for (int i = 0; i < n; i++) q += (x[i] - *mean) * (x[i] - *mean);
  *sd = n > 1 ? sqrt(q / (n - 1)) : 0;
}

#define CAL_N 31

int vclock_calibrate(const par_problem *pr, void *ws, const optim_spec *o, int m,
                     vclock_model *mo, char *err, size_t errlen) {
  const size_t d = pr->d;
  float *th = psgd_alloc(d * sizeof *th), *loc = psgd_alloc(d * sizeof *loc);
  float *g = psgd_calloc(d * sizeof *g), *v = psgd_calloc(d * sizeof *v);
  if (!th || !loc || !g || !v) {
    psgd_free(th);
    psgd_free(loc);
    psgd_free(g);
    psgd_free(v);
    return psgd_err(err, errlen, "step_time measured: out of memory for d = %zu", d);
  }
  memcpy(th, pr->theta0, d * sizeof *th);
  double tc[CAL_N], tg[CAL_N], ta[CAL_N];
  /* three rounds of warm-up (page faults, caches, BLAS), then the samples */
  for (int i = -3; i < CAL_N; i++) {
    uint64_t t0 = psgd_now_ns();
    memcpy(loc, th, d * sizeof *loc);
    uint64_t t1 = psgd_now_ns();
    pr->grad(pr->ctx, ws, loc, (uint64_t)(i + 3), g);
    uint64_t t2 = psgd_now_ns();
    ps_update(o, loc, v, g, d, 0); /* on the copy: theta0 stays as it was */
    uint64_t t3 = psgd_now_ns();
    if (i < 0) continue;
    tc[i] = (double)(t1 - t0) * 1e-3;
    tg[i] = (double)(t2 - t1) * 1e-3;
    ta[i] = (double)(t3 - t2) * 1e-3;
  }
  psgd_free(th);
  psgd_free(loc);
  psgd_free(g);
  psgd_free(v);
  mo->kind = VCLOCK_MEASURED;
  mean_sd(tc, CAL_N, &mo->copy_us, &mo->copy_sd);
  mean_sd(tg, CAL_N, &mo->grad_us, &mo->grad_sd);
  mean_sd(ta, CAL_N, &mo->apply_us, &mo->apply_sd);
  if (!(mo->grad_us > 0.001)) mo->grad_us = 0.001;
  mo->cv = mo->grad_sd / mo->grad_us;
  const int mom = o->momentum > 0 && o->kind != OPTIM_SGD;
  mo->bytes = 4.0 * (double)d * (2 + 3 + (mom ? 2 : 0));
  /* a step cycle moves `bytes`; m of them share the reference bandwidth */
  double floor_us = (double)m * mo->bytes / (VCLOCK_REF_BANDWIDTH_GBS * 1e3) - mo->grad_us;
  mo->mem_us = mo->copy_us + mo->apply_us;
  if (floor_us > mo->mem_us) mo->mem_us = floor_us;
  mo->mean_us = mo->mem_us + mo->grad_us;
  return 0;
}

/* ------------------------------------------------------------ events ---- */

enum { EV_FINISH = 0, EV_START = 1, EV_MONITOR = 2 };

typedef struct {
  uint64_t t;
  int32_t kind, w;
} vev;

static int ev_before(const vev *a, const vev *b) {
  if (a->t != b->t) return a->t < b->t;
  if (a->kind != b->kind) return a->kind < b->kind;
  return a->w < b->w;
}

typedef struct {
  vev *a;
  int n, cap;
} heap;

static void heap_push(heap *h, vev e) {
  PSGD_CHECK(h->n < h->cap);
  int i = h->n++;
  while (i > 0) {
    int p = (i - 1) / 2;
    if (!ev_before(&e, &h->a[p])) break;
    h->a[i] = h->a[p];
    i = p;
  }
  h->a[i] = e;
}

static vev heap_pop(heap *h) {
  vev top = h->a[0], last = h->a[--h->n];
  int i = 0;
  for (;;) {
    int l = 2 * i + 1, r = l + 1, m = i;
    const vev *best = &last;
    if (l < h->n && ev_before(&h->a[l], best)) m = l, best = &h->a[l];
    if (r < h->n && ev_before(&h->a[r], best)) m = r;
    if (m == i) break;
    h->a[i] = h->a[m];
    i = m;
  }
  if (h->n > 0) h->a[i] = last;
  return top;
}

/* -------------------------------------------------------- the pool ------ */

enum { JOB_NONE = 0, JOB_QUEUED, JOB_RUNNING, JOB_DONE };

typedef struct vloop vloop;

typedef struct {
  vloop *L;
  int k;          /* compute thread index (0: the event loop itself) */
  pthread_t th;
} vthread;

struct vloop {
  step_run *P;
  uint64_t now;                /* virtual ns */
  step_state *st;              /* per worker: the step in flight */
  /* pool: every field below under mu */
  pthread_mutex_t mu;
  pthread_cond_t work_cv, done_cv;
  int *queue, q_head, q_n, q_cap;
  uint64_t *due;               /* per worker: its finish time (the job heap's key) */
  int edf;                     /* 1: the queue is a heap, earliest finish first */
  int *job;                    /* per worker: JOB_* */
  /* gpool: gradient buffers are taken when a job starts and given back after
   * its step ended (last in, first out: the few in use stay in cache), not
   * one per worker; off for a dispatcher that reduces a round's gradients */
  int gpool;
  float **gfree;
  int n_gfree;
  int quit;
  int n_threads;               /* compute threads, the loop's included */
  void **ws;                   /* per compute thread */
  vthread *th;
};

static uint64_t virt_now(void *ctx) { return ((vloop *)ctx)->now; }

/* The gradient of worker w's step in flight, on compute thread k. Reads
 * the snapshot and writes the gradient buffer of w only: no other thread
 * touches them until the job is marked done (under mu). */
static void compute(vloop *L, int k, int w) {
  const par_problem *pr = L->P->prob;
  step_state *S = &L->st[w];
  S->loss = pr->grad(pr->ctx, L->ws[k], S->theta, S->t.i, L->P->w[w].grad);
}

/* job heap order: the order of the workers' finish events */
static int job_before(const vloop *L, int a, int b) {
  return L->due[a] != L->due[b] ? L->due[a] < L->due[b] : a < b;
}

static void q_push(vloop *L, int w) {
  if (!L->edf) {
    L->queue[(L->q_head + L->q_n) % L->q_cap] = w;
    L->q_n++;
    return;
  }
  int i = L->q_n++;
  while (i > 0) {
    int p = (i - 1) / 2;
    if (!job_before(L, w, L->queue[p])) break;
    L->queue[i] = L->queue[p];
    i = p;
  }
  L->queue[i] = w;
}

static int q_pop(vloop *L) {
  int w;
  if (!L->edf) {
    w = L->queue[L->q_head];
    L->q_head = (L->q_head + 1) % L->q_cap;
    L->q_n--;
  } else {
    w = L->queue[0];
    int last = L->queue[--L->q_n], i = 0;
    for (;;) {
      int l = 2 * i + 1, r = l + 1, m = i, best = last;
      if (l < L->q_n && job_before(L, L->queue[l], best)) m = l, best = L->queue[l];
      if (r < L->q_n && job_before(L, L->queue[r], best)) m = r;
      if (m == i) break;
      L->queue[i] = L->queue[m];
      i = m;
    }
    if (L->q_n > 0) L->queue[i] = last;
  }
  L->job[w] = JOB_RUNNING;
  if (L->gpool && !L->P->w[w].grad) { /* (one still held, not given back: reused) */
    PSGD_CHECK(L->n_gfree > 0);
    L->P->w[w].grad = L->gfree[--L->n_gfree];
  }
  return w;
}

/* After worker w's step ended: its gradient buffer back to the pool. */
static void grad_release(vloop *L, int w) {
  if (!L->gpool) return;
  PSGD_CHECK(pthread_mutex_lock(&L->mu) == 0);
  L->gfree[L->n_gfree++] = L->P->w[w].grad;
  L->P->w[w].grad = NULL;
  PSGD_CHECK(pthread_mutex_unlock(&L->mu) == 0);
}

static void *pool_main(void *arg) {
  vthread *T = arg;
  vloop *L = T->L;
  PSGD_CHECK(pthread_mutex_lock(&L->mu) == 0);
  for (;;) {
    while (!L->quit && L->q_n == 0) PSGD_CHECK(pthread_cond_wait(&L->work_cv, &L->mu) == 0);
    if (L->q_n == 0) break; /* quit */
    int w = q_pop(L);
    PSGD_CHECK(pthread_mutex_unlock(&L->mu) == 0);
    compute(L, T->k, w);
    PSGD_CHECK(pthread_mutex_lock(&L->mu) == 0);
    L->job[w] = JOB_DONE;
    PSGD_CHECK(pthread_cond_broadcast(&L->done_cv) == 0);
  }
  PSGD_CHECK(pthread_mutex_unlock(&L->mu) == 0);
  return NULL;
}

static void submit(vloop *L, int w, uint64_t due) {
  PSGD_CHECK(pthread_mutex_lock(&L->mu) == 0);
  PSGD_CHECK(L->q_n < L->q_cap && L->job[w] == JOB_NONE);
  L->due[w] = due;
  q_push(L, w);
  L->job[w] = JOB_QUEUED;
  PSGD_CHECK(pthread_cond_signal(&L->work_cv) == 0);
  PSGD_CHECK(pthread_mutex_unlock(&L->mu) == 0);
}

/* Until worker w's gradient is there; meanwhile the loop computes queued
 * gradients itself (the oldest first) rather than wait idle. */
static void await(vloop *L, int w) {
  PSGD_CHECK(pthread_mutex_lock(&L->mu) == 0);
  while (L->job[w] != JOB_DONE) {
    if (L->q_n > 0) {
      int x = q_pop(L);
      PSGD_CHECK(pthread_mutex_unlock(&L->mu) == 0);
      compute(L, 0, x);
      PSGD_CHECK(pthread_mutex_lock(&L->mu) == 0);
      L->job[x] = JOB_DONE;
      continue;
    }
    PSGD_CHECK(pthread_cond_wait(&L->done_cv, &L->mu) == 0);
  }
  L->job[w] = JOB_NONE;
  PSGD_CHECK(pthread_mutex_unlock(&L->mu) == 0);
}

/* -------------------------------------------------------------- run ----- */

int vclock_run(const par_problem *pr, const par_config *c, par_result *res, float *theta_out,
               char *err, size_t errlen) {
  memset(res, 0, sizeof *res);
  vclock_model model;
  if (vclock_check(c->disp, c->store, c->n_workers, c->step_time, err, errlen)) return -1;
  if (vclock_model_parse(c->step_time, &model, err, errlen)) return -1;
  const int nw = c->n_workers;
  int nt = c->compute_threads > 0 ? c->compute_threads : (int)sysconf(_SC_NPROCESSORS_ONLN);
  if (nt < 1) nt = 1;
  if (nt > 1024) nt = 1024;

  int rc = -1, have_sync = 0, n_pool = 0;
  vloop L;
  memset(&L, 0, sizeof L);
  heap H = {NULL, 0, 0};
  uint64_t *rng = NULL;
  uint8_t *parked = NULL;
  if (step_run_create(&L.P, pr, c, err, errlen)) return -1;
  step_run *P = L.P;
  if (!c->vclock_copy && ps_one_caller(P->store, err, errlen)) goto out;
  P->now = virt_now;
  P->clock_ctx = &L;
  P->virtual_clock = 1;
  P->t0 = 0;

  L.n_threads = nt;
  L.q_cap = nw;
  H.cap = nw + 2;
  L.st = calloc((size_t)nw, sizeof *L.st);
  L.queue = calloc((size_t)nw, sizeof *L.queue);
  L.due = calloc((size_t)nw, sizeof *L.due);
  L.edf = !c->vclock_copy;
  L.job = calloc((size_t)nw, sizeof *L.job);
  L.ws = calloc((size_t)nt, sizeof *L.ws);
  L.th = calloc((size_t)nt, sizeof *L.th);
  H.a = calloc((size_t)H.cap, sizeof *H.a);
  rng = calloc((size_t)nw, sizeof *rng);
  parked = calloc((size_t)nw, 1);
  if (!L.st || !L.queue || !L.due || !L.job || !L.ws || !L.th || !H.a || !rng || !parked) {
    psgd_err(err, errlen, "clock virtual: out of memory for %d workers", nw);
    goto out;
  }
  for (int i = 0; i < nw; i++) {
    step_worker *W = &P->w[i];
    /* untouched until a store copies into it: a store that hands out
     * versions (hogwild here) never faults its pages in */
    W->local = psgd_alloc(pr->d * sizeof(float));
    W->grad = psgd_alloc(pr->d * sizeof(float)); /* fully written by each gradient */
    if (!W->local || !W->grad) {
      psgd_err(err, errlen, "clock virtual: out of memory for worker %d of %d (d = %zu)", i, nw,
               pr->d);
      goto out;
    }
    rng[i] = mix64(c->seed ^ mix64(UINT64_C(0x7663) + (uint64_t)i));
  }
  L.gpool = L.edf && !c->disp->needs_reduce;
  if (L.gpool) { /* every worker's buffer into the pool (untouched until taken) */
    if (!(L.gfree = calloc((size_t)nw, sizeof *L.gfree))) {
      psgd_err(err, errlen, "clock virtual: out of memory for %d workers", nw);
      goto out;
    }
    for (int i = nw - 1; i >= 0; i--) {
      L.gfree[L.n_gfree++] = P->w[i].grad;
      P->w[i].grad = NULL;
    }
  }
  for (int k = 0; k < nt; k++) {
    if (pr->ws_create && !(L.ws[k] = pr->ws_create(pr->ctx, k))) {
      psgd_err(err, errlen, "clock virtual: workspace allocation failed (compute thread %d)", k);
      goto out;
    }
  }
  if (pthread_mutex_init(&L.mu, NULL) || pthread_cond_init(&L.work_cv, NULL) ||
      pthread_cond_init(&L.done_cv, NULL)) {
    psgd_err(err, errlen, "clock virtual: mutex or condition variable init failed");
    goto out;
  }
  have_sync = 1;
  for (int k = 1; k < nt; k++) {
    L.th[k] = (vthread){&L, k, 0};
    int e = pthread_create(&L.th[k].th, NULL, pool_main, &L.th[k]);
    if (e) {
      psgd_err(err, errlen, "clock virtual: could not start compute thread %d of %d: %s", k, nt,
               strerror(e));
      goto out;
    }
    n_pool++;
  }
  if (model.kind == VCLOCK_MEASURED) {
    if (vclock_calibrate(pr, L.ws[0], &c->opt, disp_m(P->d), &model, err, errlen)) goto out;
    char det[104];
    snprintf(det, sizeof det, "copy %.2f+-%.2f grad %.1f+-%.1f apply %.2f+-%.2f us; m %d: %.2f",
             model.copy_us, model.copy_sd, model.grad_us, model.grad_sd, model.apply_us,
             model.apply_sd, disp_m(P->d), model.mem_us);
    step_event(P, 0, "step_time", model.mean_us, det);
  }
  if (model.kind == VCLOCK_RUN) {
    if (!c->replay_ns || c->n_replay == 0) {
      psgd_err(err, errlen, "step_time run:%s: the recorded run's step durations were not given "
               "(a run: model needs the run's database: psgd run)", model.run_key);
      goto out;
    }
    model.replay_ns = c->replay_ns;
    model.n_replay = c->n_replay;
    double sum = 0;
    for (size_t i = 0; i < c->n_replay; i++) sum += (double)c->replay_ns[i];
    model.mean_us = sum / (double)c->n_replay * 1e-3;
  }
  res->t0_ns = psgd_now_ns();

  /* workers enter one after another over the first mean step time */
  const uint64_t mean_ns = (uint64_t)llround(model.mean_us * 1e3);
  int m_seen = disp_m(P->d);
  for (int w = 0; w < nw; w++) {
    uint64_t t = w < m_seen ? (uint64_t)((double)mean_ns * w / m_seen) : 0;
    heap_push(&H, (vev){t, EV_START, w});
  }
  step_monitor M;
  step_monitor_init(P, &M);
  heap_push(&H, (vev){step_monitor_wake(&M, 0), EV_MONITOR, -1});

  while (H.n > 0) {
    vev e = heap_pop(&H);
    L.now = e.t;
    if (e.kind == EV_FINISH) {
      step_worker *W = &P->w[e.w];
      await(&L, e.w);
      step_end(P, W, &L.st[e.w]);
      grad_release(&L, e.w);
      if (!step_running(P)) continue; /* the steps in flight still finish */
      int m = disp_m(P->d);
      if (m > m_seen) /* a controller raised m: the parked workers below it start now */
        for (int w = 0; w < m; w++)
          if (parked[w]) {
            parked[w] = 0;
            heap_push(&H, (vev){L.now, EV_START, w});
          }
      m_seen = m;
      heap_push(&H, (vev){L.now, EV_START, e.w});
    } else if (e.kind == EV_START) {
      if (!step_running(P)) continue;
      if (e.w >= disp_m(P->d)) { /* the gate of disp.c: w >= m may not start */
        parked[e.w] = 1;
        continue;
      }
      step_worker *W = &P->w[e.w];
      if (!step_begin(P, W, &L.st[e.w])) continue;
      const uint64_t due = L.now + draw_ns(&model, &rng[e.w]);
      submit(&L, e.w, due);
      heap_push(&H, (vev){due, EV_FINISH, e.w});
    } else {
      if (!step_running(P)) continue;
      step_monitor_tick(P, &M, L.now);
      if (step_running(P)) heap_push(&H, (vev){step_monitor_wake(&M, L.now), EV_MONITOR, -1});
    }
  }
  step_stop(P, RUN_OK); /* a run that ran out of events ends ok */
  if (step_run_result(P, L.now, res, theta_out, err, errlen)) goto out;
  rc = 0;
out:
  if (have_sync) {
    PSGD_CHECK(pthread_mutex_lock(&L.mu) == 0);
    L.quit = 1;
    PSGD_CHECK(pthread_cond_broadcast(&L.work_cv) == 0);
    PSGD_CHECK(pthread_mutex_unlock(&L.mu) == 0);
    for (int k = 1; k <= n_pool; k++) PSGD_CHECK(pthread_join(L.th[k].th, NULL) == 0);
    pthread_cond_destroy(&L.done_cv);
    pthread_cond_destroy(&L.work_cv);
    pthread_mutex_destroy(&L.mu);
  }
  for (int k = 0; L.ws && k < nt; k++)
    if (L.ws[k] && pr->ws_free) pr->ws_free(pr->ctx, L.ws[k]);
  free(L.ws);
  free(L.th);
  free(L.st);
  for (int i = 0; i < L.n_gfree; i++) psgd_free(L.gfree[i]); /* the rest: step_run_free */
  free(L.gfree);
  free(L.queue);
  free(L.due);
  free(L.job);
  free(H.a);
  free(rng);
  free(parked);
  step_run_free(P);
  return rc;
}

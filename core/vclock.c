/* vclock.c - the virtual-clock driver of the one Alg. 1 step (vclock.h):
 * an event heap ordered by (time, kind, worker), per-worker step-duration
 * streams, and a pool of real threads computing the gradients of steps in
 * flight while the loop goes on. */
#define _GNU_SOURCE
#include "vclock.h"

#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common.h"
#include "step.h"

/* --------------------------------------------------------- the model ---- */

/* The store options ",copy=F,apply=F,add=F" after a model (vclock.h). */
static int parse_options(const char *s, const char *opt, vclock_model *m, char *err,
                         size_t errlen) {
  m->copy_frac = VCLOCK_COPY_FRAC;
  m->apply_frac = VCLOCK_APPLY_FRAC;
  m->add_frac = VCLOCK_ADD_FRAC;
  const char *p = opt;
  while (*p) {
    PSGD_CHECK(*p == ',');
    p++;
    double *dst = NULL;
    size_t n = 0;
    if (!strncmp(p, "copy=", 5)) dst = &m->copy_frac, n = 5;
    else if (!strncmp(p, "apply=", 6)) dst = &m->apply_frac, n = 6;
    else if (!strncmp(p, "add=", 4)) dst = &m->add_frac, n = 4;
    if (!dst)
      return psgd_err(err, errlen,
                      "step_time '%s': unknown option at '%s' (known: copy=F, apply=F, add=F, "
                      "fractions of a step)", s, p);
    char *end;
    errno = 0;
    double f = strtod(p + n, &end);
    if (errno || end == p + n || (*end && *end != ',') || !isfinite(f) || f < 0 || f > 1)
      return psgd_err(err, errlen, "step_time '%s': %.*s needs a fraction in [0, 1]", s,
                      (int)(n - 1), p);
    *dst = f;
    m->has_frac = 1;
    p = end;
  }
  if (m->copy_frac + m->apply_frac > 1)
    return psgd_err(err, errlen,
                    "step_time '%s': copy + apply = %g is more than the whole step (at most 1)",
                    s, m->copy_frac + m->apply_frac);
  return 0;
}

int vclock_model_parse(const char *s, vclock_model *m, char *err, size_t errlen) {
  if (!s || !*s) s = VCLOCK_DEFAULT_STEP_TIME;
  memset(m, 0, sizeof *m);
  /* the model, then options from the first comma followed by a letter */
  const char *opt = s + strlen(s);
  for (const char *q = s; *q; q++)
    if (q[0] == ',' && q[1] >= 'a' && q[1] <= 'z') {
      opt = q;
      break;
    }
  char base[128];
  if ((size_t)(opt - s) >= sizeof base)
    return psgd_err(err, errlen, "step_time '%s': too long", s);
  memcpy(base, s, (size_t)(opt - s));
  base[opt - s] = '\0';
  if (parse_options(s, opt, m, err, errlen)) return -1;
  char *end;
  if (!strncmp(base, "constant:", 9)) {
    errno = 0;
    double us = strtod(base + 9, &end);
    if (errno || end == base + 9 || *end || !isfinite(us) || !(us > 0) || us > 1e9)
      return psgd_err(err, errlen,
                      "step_time '%s': constant:<us> needs a step time in (0, 1e9] microseconds",
                      s);
    m->kind = VCLOCK_CONSTANT;
    m->mean_us = us;
    return 0;
  }
  if (!strncmp(base, "lognormal:", 10)) {
    errno = 0;
    double mean = strtod(base + 10, &end);
    if (errno || end == base + 10 || *end != ',' || !isfinite(mean) || !(mean > 0) || mean > 1e9)
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
  if (!strncmp(base, "run:", 4)) {
    const char *k = base + 4;
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
  if (!strcmp(base, "measured")) {
    if (m->has_frac)
      return psgd_err(err, errlen,
                      "step_time '%s': measured calibrates the copy, apply and add times; the "
                      "options copy=, apply=, add= are for constant, lognormal and run", s);
    m->kind = VCLOCK_MEASURED;
    return 0;
  }
  return psgd_err(err, errlen,
                  "step_time '%s': expected measured, constant:<us>, lognormal:<mean_us>,<cv> or "
                  "run:<run key> (then optionally ,copy=F,apply=F,add=F)",
                  s);
}

int vclock_check(const disp_ops *d, const ps_ops *p, ps_backoff backoff, int n_workers,
                 const char *step_time, char *err, size_t errlen) {
  if (d && !d->virtual_clock)
    return psgd_err(err, errlen,
                    "clock virtual: dispatcher '%s' has no virtual-time form; "
                    "use clock = \"real\"", d->name);
  if (p && !p->virtual_clock)
    return psgd_err(err, errlen,
                    "clock virtual: param store '%s' has no virtual-time form; use clock = "
                    "\"real\"", p->name);
  if (p && p->virtual_clock == PS_VT_CAS && (!p->apply_build || !p->apply_commit))
    return psgd_err(err, errlen, "clock virtual: param store '%s' lacks its two-phase apply",
                    p->name);
  if (p && p->retries && backoff != PS_BACKOFF_NONE)
    return psgd_err(err, errlen,
                    "clock virtual: backoff '%s' with store '%s' is not modelled (its waits are "
                    "pause-instruction loops with no virtual-time cost); use backoff none "
                    "(waiters then queue in virtual time), or clock = \"real\"",
                    ps_backoff_name(backoff), p->name);
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

/* From a step's start (its read of theta) to the instant its update lands,
 * in ns (>= 1). For "measured" that is copy(m) + gradient: the real store
 * takes the update's version (its FAA) at the start of the apply, so a
 * step's tau counts the updates landed during its copy and gradient; the
 * apply itself follows (tail_ns). The other models have no tail: their
 * draw is the whole step. */
static uint64_t draw_ns(const vclock_model *m, uint64_t *rng) {
  double us = m->mean_us;
  if (m->kind == VCLOCK_LOGNORMAL) us = lognormal(m->mean_us, m->cv, rng);
  else if (m->kind == VCLOCK_MEASURED)
    us = m->mem_us - m->apply_m_us + lognormal(m->grad_us, m->cv, rng);
  else if (m->kind == VCLOCK_RUN) {
    size_t i = (size_t)(uniform(rng) * (double)m->n_replay);
    return m->replay_ns[i < m->n_replay ? i : m->n_replay - 1];
  }
  double ns = us * 1e3;
  if (!(ns >= 1)) return 1;
  if (ns > 1e15) return (uint64_t)1e15;
  return (uint64_t)llround(ns);
}

/* After a step's update landed, how long its worker is still busy before
 * its next start, in ns: the apply, apply(m), for an accepted step of the
 * "measured" model; a rejected step applies nothing, and the other models
 * have no tail (0). */
static uint64_t tail_ns(const vclock_model *m, int accepted) {
  if (m->kind != VCLOCK_MEASURED || !accepted) return 0;
  return (uint64_t)llround(m->apply_m_us * 1e3);
}

static int cmp_dbl(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

/* Median and robust standard deviation (1.4826 x the median absolute
 * deviation, which equals the standard deviation for normal samples) of n
 * samples; x is overwritten. Robust because a sample in which the OS took the
 * thread away (a time slice of another process: milliseconds) measures the
 * scheduler, not the step: with the mean, one such sample in 31 made a
 * calibrated 20 us apply 360 +- 1900 us on this loaded machine. */
static void median_sd(double *x, int n, double *med, double *sd) {
  PSGD_CHECK(n > 0);
  qsort(x, (size_t)n, sizeof *x, cmp_dbl);
  *med = n % 2 ? x[n / 2] : 0.5 * (x[n / 2 - 1] + x[n / 2]);
  /* the deviations in place: x is not needed sorted afterwards */
  for (int i = 0; i < n; i++) x[i] = fabs(x[i] - *med);
  qsort(x, (size_t)n, sizeof *x, cmp_dbl);
  *sd = 1.4826 * (n % 2 ? x[n / 2] : 0.5 * (x[n / 2 - 1] + x[n / 2]));
}

#define CAL_N 31
#define CAL_MAX_THREADS 256

/* The racy copy and update of HOGWILD! (ps_hogwild.c; tests/tsan.supp names
 * them): calibration threads share one scratch theta as real workers share
 * the store's. */
void ps_hogwild_copy(float *dst, const float *theta, size_t d);
void ps_hogwild_update(const optim_spec *o, float *theta, float *v, const float *g, size_t d,
                       long tau);

typedef struct {
  const par_problem *pr;
  const optim_spec *o;
  void *ws;
  float *th, *v;          /* shared scratch theta and momentum */
  float *loc, *g;         /* this thread's */
  double *tc, *tg, *ta, *tr; /* this thread's CAL_N samples (us) */
  uint64_t base;          /* its step indexes */
  _Atomic int *go;        /* 0: wait, 1: start, -1: give up (NULL: start) */
} cal_arg;

static void *cal_main(void *arg) {
  cal_arg *a = arg;
  const size_t d = a->pr->d;
  /* acquire: pairs with the release of the thread that starts them all */
  if (a->go) {
    int g;
    while ((g = atomic_load_explicit(a->go, memory_order_acquire)) == 0) sched_yield();
    if (g < 0) return NULL;
  }
  /* three rounds of warm-up (page faults, caches, BLAS), then the samples */
  for (int i = -3; i < CAL_N; i++) {
    uint64_t t0 = psgd_now_ns();
    ps_hogwild_copy(a->loc, a->th, d);
    uint64_t t1 = psgd_now_ns();
    a->pr->grad(a->pr->ctx, a->ws, a->loc, a->base + (uint64_t)(i + 3), a->g);
    uint64_t t2 = psgd_now_ns();
    ps_hogwild_update(a->o, a->th, a->v, a->g, d, 0);
    uint64_t t3 = psgd_now_ns();
    for (size_t k = 0; k < d; k++) a->loc[k] += a->g[k]; /* sync's add of one gradient */
    uint64_t t4 = psgd_now_ns();
    if (i < 0) continue;
    a->tr[i] = (double)(t4 - t3) * 1e-3;
    a->tc[i] = (double)(t1 - t0) * 1e-3;
    a->tg[i] = (double)(t2 - t1) * 1e-3;
    a->ta[i] = (double)(t3 - t2) * 1e-3;
  }
  return NULL;
}

int vclock_calibrate(const par_problem *pr, void *ws, const optim_spec *o, int m,
                     vclock_model *mo, char *err, size_t errlen) {
  const size_t d = pr->d;
  /* as many threads as the m workers of a real run could run at once here:
   * they copy from and apply to one shared theta, so the samples carry what
   * concurrent workers cost each other (shared caches, memory bandwidth,
   * the cache lines of theta moving between cores); one thread at m = 1 */
  long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
  int k = m < ncpu ? m : (int)ncpu;
  if (k < 1) k = 1;
  if (k > CAL_MAX_THREADS) k = CAL_MAX_THREADS;
  int rc = -1, n_started = 0;
  _Atomic int go = 0;
  float *th = psgd_alloc(d * sizeof *th), *v = psgd_calloc(d * sizeof *v);
  cal_arg *a = calloc((size_t)k, sizeof *a);
  pthread_t *t = calloc((size_t)k, sizeof *t);
  double *tc = malloc((size_t)k * CAL_N * sizeof *tc);
  double *tg = malloc((size_t)k * CAL_N * sizeof *tg);
  double *ta = malloc((size_t)k * CAL_N * sizeof *ta);
  double *tr = malloc((size_t)k * CAL_N * sizeof *tr);
  if (!th || !v || !a || !t || !tc || !tg || !ta || !tr) {
    psgd_err(err, errlen, "step_time measured: out of memory for d = %zu", d);
    goto out;
  }
  memcpy(th, pr->theta0, d * sizeof *th);
  for (int j = 0; j < k; j++) {
    a[j] = (cal_arg){pr, o, j ? NULL : ws, th, v, psgd_alloc(d * sizeof(float)),
                     psgd_calloc(d * sizeof(float)), tc + j * CAL_N, tg + j * CAL_N,
                     ta + j * CAL_N, tr + j * CAL_N, (uint64_t)j << 32, k > 1 ? &go : NULL};
    if (!a[j].loc || !a[j].g) {
      psgd_err(err, errlen, "step_time measured: out of memory for d = %zu", d);
      goto out;
    }
    if (j && pr->ws_create && !(a[j].ws = pr->ws_create(pr->ctx, j))) {
      psgd_err(err, errlen, "step_time measured: workspace allocation failed (thread %d)", j);
      goto out;
    }
  }
  for (int j = 1; j < k; j++) {
    int e = pthread_create(&t[j], NULL, cal_main, &a[j]);
    if (e) {
      psgd_err(err, errlen, "step_time measured: could not start calibration thread %d: %s", j,
               strerror(e));
      goto out;
    }
    n_started++;
  }
  /* release: the threads see theta's scratch copy and their buffers */
  atomic_store_explicit(&go, 1, memory_order_release);
  a[0].go = NULL;
  cal_main(&a[0]);
  for (int j = 1; j <= n_started; j++) PSGD_CHECK(pthread_join(t[j], NULL) == 0);
  n_started = 0;
  mo->kind = VCLOCK_MEASURED;
  median_sd(tc, k * CAL_N, &mo->copy_us, &mo->copy_sd);
  median_sd(tg, k * CAL_N, &mo->grad_us, &mo->grad_sd);
  median_sd(ta, k * CAL_N, &mo->apply_us, &mo->apply_sd);
  median_sd(tr, k * CAL_N, &mo->add_us, &mo->add_sd);
  mo->cal_threads = k;
  if (!(mo->grad_us > 0.001)) mo->grad_us = 0.001;
  mo->cv = mo->grad_sd / mo->grad_us;
  const int mom = o->momentum > 0 && o->kind != OPTIM_SGD;
  mo->bytes = 4.0 * (double)d * (2 + 3 + (mom ? 2 : 0));
  /* a step cycle moves `bytes`; m of them share the reference bandwidth */
  double floor_us = (double)m * mo->bytes / (VCLOCK_REF_BANDWIDTH_GBS * 1e3) - mo->grad_us;
  mo->mem_us = mo->copy_us + mo->apply_us;
  if (floor_us > mo->mem_us) mo->mem_us = floor_us;
  /* the apply's share of copy(m) + apply(m), in the measured proportion */
  const double ca = mo->copy_us + mo->apply_us;
  mo->apply_m_us = ca > 0 ? mo->mem_us * mo->apply_us / ca : 0;
  mo->mean_us = mo->mem_us + mo->grad_us;
  rc = 0;
out:
  if (rc) atomic_store_explicit(&go, -1, memory_order_release); /* the started ones give up */
  for (int j = 1; j <= n_started; j++) PSGD_CHECK(pthread_join(t[j], NULL) == 0);
  for (int j = 0; a && j < k; j++) {
    psgd_free(a[j].loc);
    psgd_free(a[j].g);
    if (j && a[j].ws && pr->ws_free) pr->ws_free(pr->ctx, a[j].ws);
  }
  free(a);
  free(t);
  free(tc);
  free(tg);
  free(ta);
  free(tr);
  psgd_free(th);
  psgd_free(v);
  return rc;
}

/* ------------------------------------------------------------ events ---- */

/* Kinds in their order at equal times (vclock.h): an update lands (the end
 * of an apply hold, a CAS commit) before a gradient's end, the end of a
 * hogwild apply under "measured" (EV_DONE: its dispatcher done, then the
 * worker's next start), a reduction's end, a read (the end of a read hold)
 * and a step's start; the monitor last. */
enum { EV_APPLIED = 0, EV_FINISH, EV_DONE, EV_REDUCED, EV_READ, EV_START, EV_MONITOR };

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

/* -------------------------------------------------- the store model ---- */

/* The event loop's state beyond the pool: the steps' time splits, the lock
 * of PS_VT_LOCK / PS_VT_RWLOCK stores, the parked workers. */
typedef struct {
  vloop *L;
  heap *H;
  step_run *P;
  const vclock_model *mo;
  ps_vtime vt;
  uint64_t *rng;
  uint64_t *c_ns, *g_ns, *a_ns; /* per worker, the step in flight: read hold, gradient, apply hold */
  uint64_t hold_c_ns, hold_a_ns, land_ns, add_ns; /* measured: holds, copy(m); one add */
  uint64_t tail_ns;             /* measured hogwild: apply(m) after the update lands */
  int writer;                   /* the lock's exclusive holder, -1: none */
  int readers;                  /* its shared holders (rwlock reads) */
  int *rq, rq_h, rq_n;          /* waiting shared requests, FIFO */
  int *xq, xq_h, xq_n;          /* waiting exclusive requests (w << 1 | apply), FIFO */
  int nw;
  uint8_t *parked;
  int n_parked, m_seen;
} vsim;

static void push(vsim *V, uint64_t t, int kind, int w) { heap_push(V->H, (vev){t, kind, w}); }

static void fifo_push(int *q, int h, int *n, int cap, int x) {
  PSGD_CHECK(*n < cap);
  q[(h + *n) % cap] = x;
  (*n)++;
}

static int fifo_pop(int *q, int *h, int *n, int cap) {
  int x = q[*h];
  *h = (*h + 1) % cap;
  (*n)--;
  return x;
}

/* The step's duration split: read hold, gradient, apply hold (vclock.h). */
static void split(vsim *V, int w) {
  const vclock_model *mo = V->mo;
  uint64_t D = draw_ns(mo, &V->rng[w]);
  uint64_t c = 0, a = 0;
  if (V->vt != PS_VT_INSTANT) {
    if (mo->kind == VCLOCK_MEASURED) { /* the draw is copy(m) + gradient */
      c = V->hold_c_ns;
      a = V->hold_a_ns;
      D = D > V->land_ns ? D - V->land_ns + c + a : c + a;
    } else {
      c = (uint64_t)llround((double)D * mo->copy_frac);
      a = (uint64_t)llround((double)D * mo->apply_frac);
      if (c > D) c = D;
      if (a > D - c) a = D - c;
    }
  }
  V->c_ns[w] = c;
  V->a_ns[w] = a;
  V->g_ns[w] = D - c - a;
}

/* A granted hold: its end is an event (a read's or an apply's). */
static void grant(vsim *V, int w, int apply) {
  push(V, V->L->now + (apply ? V->a_ns[w] : V->c_ns[w]), apply ? EV_APPLIED : EV_READ, w);
}

/* Worker w asks for the lock to read (apply 0) or to apply (1). A rwlock
 * read shares it and enters whenever no apply holds it (readers preferred,
 * as glibc's default rwlock of ps_rwlock.c); everything else is exclusive
 * and waits in FIFO order of request (ties: in event order). */
static void lk_request(vsim *V, int w, int apply) {
  if (!apply && V->vt == PS_VT_RWLOCK) {
    if (V->writer < 0) {
      V->readers++;
      grant(V, w, 0);
    } else {
      fifo_push(V->rq, V->rq_h, &V->rq_n, V->nw, w);
    }
    return;
  }
  if (V->writer < 0 && V->readers == 0 && V->xq_n == 0) {
    V->writer = w;
    grant(V, w, apply);
  } else {
    fifo_push(V->xq, V->xq_h, &V->xq_n, V->nw, w << 1 | apply);
  }
}

/* The end of w's hold: the lock passes on at this instant. */
static void lk_release(vsim *V, int apply) {
  if (!apply && V->vt == PS_VT_RWLOCK) V->readers--;
  else V->writer = -1;
  if (V->writer >= 0) return;
  while (V->rq_n > 0) { /* readers preferred: every waiting read enters */
    V->readers++;
    grant(V, fifo_pop(V->rq, &V->rq_h, &V->rq_n, V->nw), 0);
  }
  if (V->readers == 0 && V->xq_n > 0) {
    int x = fifo_pop(V->xq, &V->xq_h, &V->xq_n, V->nw);
    V->writer = x >> 1;
    grant(V, x >> 1, x & 1);
  }
}

/* The read (at the end of its hold, or an instant): then the gradient. */
static void read_done(vsim *V, int w) {
  step_run *P = V->P;
  step_read(P, &P->w[w], &V->L->st[w]);
  if (V->vt == PS_VT_LOCK || V->vt == PS_VT_RWLOCK) lk_release(V, 0);
  const uint64_t due = V->L->now + V->g_ns[w];
  submit(V->L, w, due);
  push(V, due, EV_FINISH, w);
}

/* Parked workers try again: those below m (a controller raised it), or
 * every one (sync: a round opened). */
static void unpark(vsim *V, int m, int all) {
  for (int x = 0; x < V->nw && V->n_parked > 0; x++)
    if (V->parked[x] && (all || x < m)) {
      V->parked[x] = 0;
      V->n_parked--;
      push(V, V->L->now, EV_START, x);
    }
}

/* A step's end: the record, then the worker's next start (and the parked
 * workers that may start now). Hogwild under "measured" (defer_done): the
 * update landed now, the worker applies for apply(m) more, and the
 * dispatcher's done and its next start come at EV_DONE. */
static void step_over(vsim *V, int w) {
  step_run *P = V->P;
  step_state *S = &V->L->st[w];
  const int v = S->verdict;
  step_complete(P, &P->w[w], S);
  grad_release(V->L, w); /* (a CAS apply kept it until its commit) */
  const uint64_t tail =
      P->defer_done && (v == DISP_APPLY || v == DISP_REDUCE) ? V->tail_ns : 0;
  if (tail) push(V, V->L->now + tail, EV_DONE, w); /* also after a stop: it finishes */
  if (!step_running(P)) return; /* the steps in flight still finish */
  const int m = disp_m(P->d);
  if (V->n_parked > 0 && (m > V->m_seen || (v == DISP_REDUCE && !tail)))
    unpark(V, m, v == DISP_REDUCE && !tail);
  V->m_seen = m;
  if (!tail) push(V, V->L->now, EV_START, w);
}

/* The end of a deferred apply (EV_DONE): the dispatcher's done. */
static void on_done(vsim *V, int w) {
  step_run *P = V->P;
  step_state *S = &V->L->st[w];
  step_done(P, &P->w[w], S);
  if (!step_running(P)) return;
  if (S->verdict == DISP_REDUCE && V->n_parked > 0) unpark(V, 0, 1); /* the next round */
  push(V, V->L->now, EV_START, w);
}

/* One CAS attempt of w's apply: built now, committed after its copy + apply. */
static void cas_attempt(vsim *V, int w) {
  step_run *P = V->P;
  step_worker *W = &P->w[w];
  step_state *S = &V->L->st[w];
  if (!ps_apply_build(P->store, w, step_update(P, W, S), S->vr)) {
    step_applied(P, W, S, 0, ps_version(P->store));
    step_over(V, w);
    return;
  }
  push(V, V->L->now + V->c_ns[w] + V->a_ns[w], EV_APPLIED, w);
}

/* After finish (and a reduction): the apply, per the store's form. */
static void apply_begin(vsim *V, int w) {
  step_run *P = V->P;
  switch (V->vt) {
  case PS_VT_LOCK:
  case PS_VT_RWLOCK:
    lk_request(V, w, 1);
    break;
  case PS_VT_CAS:
    cas_attempt(V, w);
    break;
  default:
    step_apply(P, &P->w[w], &V->L->st[w]);
    step_over(V, w);
    break;
  }
}

static void on_start(vsim *V, int w) {
  step_run *P = V->P;
  if (!step_running(P)) return;
  if (!disp_can_start(P->d, w)) { /* w >= m (disp.c's gate), or sync: not in the open round */
    if (!V->parked[w]) V->n_parked++;
    V->parked[w] = 1;
    return;
  }
  if (!step_start(P, &P->w[w], &V->L->st[w])) return;
  split(V, w);
  if (V->vt == PS_VT_LOCK || V->vt == PS_VT_RWLOCK) lk_request(V, w, 0);
  else read_done(V, w);
}

static void on_finish(vsim *V, int w) {
  step_run *P = V->P;
  step_worker *W = &P->w[w];
  step_state *S = &V->L->st[w];
  await(V->L, w);
  const int v = step_finish(P, W, S);
  if (v != DISP_APPLY && v != DISP_REDUCE) {
    step_apply(P, W, S);
    step_over(V, w);
    return;
  }
  /* sync: the reducer sums the round's other gradients into its own */
  uint64_t r = v == DISP_REDUCE && S->t.m > 1 ? (uint64_t)(S->t.m - 1) * V->add_ns : 0;
  if (r > 0) push(V, V->L->now + r, EV_REDUCED, w);
  else apply_begin(V, w);
}

static void on_applied(vsim *V, int w) {
  step_run *P = V->P;
  step_worker *W = &P->w[w];
  step_state *S = &V->L->st[w];
  if (V->vt == PS_VT_CAS) {
    uint64_t va = 0;
    int r = ps_apply_commit(P->store, w, &va);
    if (r == 0) { /* the latest version changed during the attempt: again */
      cas_attempt(V, w);
      return;
    }
    step_applied(P, W, S, r > 0, va);
  } else {
    step_apply(P, W, S);
    lk_release(V, 1);
  }
  step_over(V, w);
}

/* The event "store_time": what the run assumed of its store and
 * dispatcher in virtual time. */
static void describe(vsim *V, const par_config *c) {
  const vclock_model *mo = V->mo;
  char det[160], hold[96];
  if (V->vt == PS_VT_INSTANT && !c->disp->needs_reduce) return;
  if (mo->kind == VCLOCK_MEASURED)
    snprintf(hold, sizeof hold, "copy %.2f apply %.2f add %.2f us", V->hold_c_ns * 1e-3,
             V->hold_a_ns * 1e-3, V->add_ns * 1e-3);
  else
    snprintf(hold, sizeof hold, "copy=%g apply=%g add=%g of a step%s", mo->copy_frac,
             mo->apply_frac, mo->add_frac, mo->has_frac ? "" : " (defaults)");
  const char *how = V->vt == PS_VT_LOCK     ? "lock FIFO"
                    : V->vt == PS_VT_RWLOCK ? "rwlock readers first"
                    : V->vt == PS_VT_CAS    ? "CAS attempts"
                                            : "instant";
  snprintf(det, sizeof det, "%s %s%s: %s", c->store->name, how,
           c->disp->needs_reduce ? " + reduction" : "", hold);
  step_event(V->P, 0, "store_time", (double)(V->hold_c_ns + V->hold_a_ns) * 1e-3, det);
}

/* -------------------------------------------------------------- run ----- */

int vclock_run(const par_problem *pr, const par_config *c, par_result *res, float *theta_out,
               char *err, size_t errlen) {
  memset(res, 0, sizeof *res);
  vclock_model model;
  if (vclock_check(c->disp, c->store, c->backoff, c->n_workers, c->step_time, err, errlen))
    return -1;
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
  vsim V;
  memset(&V, 0, sizeof V);
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
  V.c_ns = calloc((size_t)nw, sizeof *V.c_ns);
  V.g_ns = calloc((size_t)nw, sizeof *V.g_ns);
  V.a_ns = calloc((size_t)nw, sizeof *V.a_ns);
  V.rq = calloc((size_t)nw, sizeof *V.rq);
  V.xq = calloc((size_t)nw, sizeof *V.xq);
  if (!L.st || !L.queue || !L.due || !L.job || !L.ws || !L.th || !H.a || !rng || !parked || !V.c_ns ||
      !V.g_ns || !V.a_ns || !V.rq || !V.xq) {
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
    /* hogwild: EV_DONE calls it, apply(m) after the update landed (the
     * other stores' applies take their hold or attempt instead) */
    P->defer_done = c->store->virtual_clock == PS_VT_INSTANT;
    if (vclock_calibrate(pr, L.ws[0], &c->opt, disp_m(P->d), &model, err, errlen)) goto out;
    char det[104];
    snprintf(det, sizeof det,
             "copy %.2f+-%.2f grad %.1f+-%.1f apply %.2f+-%.2f us; m %d: %.2f; %d threads",
             model.copy_us, model.copy_sd, model.grad_us, model.grad_sd, model.apply_us,
             model.apply_sd, disp_m(P->d), model.mem_us, model.cal_threads);
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
  V.L = &L;
  V.H = &H;
  V.P = P;
  V.mo = &model;
  V.vt = c->store->virtual_clock;
  V.rng = rng;
  V.nw = nw;
  V.parked = parked;
  V.writer = -1;
  V.m_seen = disp_m(P->d);
  if (model.kind == VCLOCK_MEASURED) {
    /* under the mutex one copy or apply runs at a time: one thread's times;
     * else the bandwidth model's split of copy(m) + apply(m) */
    double ca = model.copy_us + model.apply_us;
    double hc = V.vt == PS_VT_LOCK ? model.copy_us : model.mem_us * model.copy_us / ca;
    double ha = V.vt == PS_VT_LOCK ? model.apply_us : model.mem_us - hc;
    if (V.vt != PS_VT_INSTANT) { /* (hogwild: instants) */
      V.hold_c_ns = (uint64_t)llround(hc * 1e3);
      V.hold_a_ns = (uint64_t)llround(ha * 1e3);
    }
    V.land_ns = (uint64_t)llround((model.mem_us - model.apply_m_us) * 1e3);
    V.tail_ns = tail_ns(&model, 1);
    V.add_ns = (uint64_t)llround(model.add_us * 1e3);
  } else {
    V.add_ns = (uint64_t)llround(model.add_frac * model.mean_us * 1e3);
  }
  describe(&V, c);
  res->t0_ns = psgd_now_ns();

  /* workers enter one after another over the first mean step time */
  const uint64_t mean_ns = (uint64_t)llround(model.mean_us * 1e3);
  const int m0 = disp_m(P->d);
  for (int w = 0; w < nw; w++) {
    uint64_t t = w < m0 ? (uint64_t)((double)mean_ns * w / m0) : 0;
    heap_push(&H, (vev){t, EV_START, w});
  }
  step_monitor M;
  step_monitor_init(P, &M);
  heap_push(&H, (vev){step_monitor_wake(&M, 0), EV_MONITOR, -1});

  while (H.n > 0) {
    vev e = heap_pop(&H);
    L.now = e.t;
    switch (e.kind) {
    case EV_START:
      on_start(&V, e.w);
      continue;
    case EV_READ:
      read_done(&V, e.w);
      continue;
    case EV_FINISH:
      on_finish(&V, e.w);
      continue;
    case EV_REDUCED:
      apply_begin(&V, e.w);
      continue;
    case EV_APPLIED:
      on_applied(&V, e.w);
      continue;
    case EV_DONE:
      on_done(&V, e.w);
      continue;
    default:
      break;
    }
    if (!step_running(P)) continue; /* the monitor */
    step_monitor_tick(P, &M, L.now);
    if (step_running(P)) heap_push(&H, (vev){step_monitor_wake(&M, L.now), EV_MONITOR, -1});
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
  free(V.c_ns);
  free(V.g_ns);
  free(V.a_ns);
  free(V.rq);
  free(V.xq);
  step_run_free(P);
  return rc;
}

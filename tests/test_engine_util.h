/* test_engine_util.h - shared helpers of the engine tests: a small quadratic
 * problem with a deterministic per-step gradient and an injected-delay hook
 * (to shuffle the interleavings of workers), a steplog collector, an
 * interval trace (the dispatcher's on_open hook) and the invariant checks
 * that every dispatcher x store combination must satisfy. Header-only: each
 * test binary includes it once. Never asserts inside a worker thread. */
#ifndef TEST_ENGINE_UTIL_H
#define TEST_ENGINE_UTIL_H

#define _GNU_SOURCE
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common.h"
#include "par.h"
#include "steplog.h"

/* ------------------------------------------------------------ problem --- */

typedef struct {
  size_t d;
  float *c, *a;        /* minimum and curvature per coordinate */
  float *theta0;
  int delay_pct;       /* percent of steps that sleep */
  int delay_max_us;    /* up to this long */
  int spin_ns;         /* busy work per step (0: none) */
} quad;

static __attribute__((unused)) inline uint64_t tq_mix(uint64_t x) {
  x += UINT64_C(0x9E3779B97F4A7C15);
  x = (x ^ (x >> 30)) * UINT64_C(0xBF58476D1CE4E5B9);
  x = (x ^ (x >> 27)) * UINT64_C(0x94D049BB133111EB);
  return x ^ (x >> 31);
}

static __attribute__((unused)) void quad_init(quad *q, size_t d, uint64_t seed) {
  memset(q, 0, sizeof *q);
  q->d = d;
  q->c = psgd_alloc(d * sizeof(float));
  q->a = psgd_alloc(d * sizeof(float));
  q->theta0 = psgd_alloc(d * sizeof(float));
  for (size_t j = 0; j < d; j++) {
    uint64_t h = tq_mix(seed * 1000003 + j);
    q->c[j] = (float)((double)(h % 2001) / 1000.0 - 1.0);
    q->a[j] = 0.5f + (float)((h >> 20) % 100) / 100.0f;
    q->theta0[j] = 0.0f;
  }
}

static __attribute__((unused)) void quad_free(quad *q) {
  psgd_free(q->c);
  psgd_free(q->a);
  psgd_free(q->theta0);
}

/* the gradient of step i: exact gradient plus a deterministic +-0.05
 * "minibatch" perturbation, and the injected delay */
static __attribute__((unused)) float quad_grad(void *ctx, void *ws, const float *theta, uint64_t step, float *grad) {
  (void)ws;
  quad *q = ctx;
  uint64_t h = tq_mix(step);
  double loss = 0;
  for (size_t j = 0; j < q->d; j++) {
    float diff = theta[j] - q->c[j];
    float noise = ((h >> (j & 63)) & 1) ? 0.05f : -0.05f;
    grad[j] = q->a[j] * diff + noise;
    loss += 0.5 * q->a[j] * diff * diff;
  }
  if (q->delay_pct && (int)(h % 100) < q->delay_pct) {
    struct timespec ts = {0, (long)((h >> 8) % (uint64_t)(q->delay_max_us + 1)) * 1000L};
    nanosleep(&ts, NULL);
  }
  if (q->spin_ns) {
    uint64_t t = psgd_now_ns();
    while (psgd_now_ns() - t < (uint64_t)q->spin_ns) {
    }
  }
  return (float)loss;
}

static __attribute__((unused)) par_problem quad_problem(quad *q) {
  par_problem p = {q->d, q->theta0, q, NULL, NULL, quad_grad};
  return p;
}

/* ---------------------------------------------------- interval trace ---- */

#define TRACE_CAP (1 << 20)
typedef struct {
  uint64_t *first;
  long *y;
  _Atomic uint64_t n;     /* intervals opened */
  _Atomic int overflow;
} ivl_trace;

static __attribute__((unused)) void trace_init(ivl_trace *t) {
  t->first = calloc(TRACE_CAP, sizeof *t->first);
  t->y = calloc(TRACE_CAP, sizeof *t->y);
  atomic_init(&t->n, 0);
  atomic_init(&t->overflow, 0);
}

static __attribute__((unused)) void trace_free(ivl_trace *t) {
  free(t->first);
  free(t->y);
}

/* disp_open_fn: runs on the opening worker; ids are sequential */
static __attribute__((unused)) void trace_on_open(void *ctx, uint64_t id, uint64_t first, long y) {
  ivl_trace *t = ctx;
  if (id >= TRACE_CAP) {
    atomic_store_explicit(&t->overflow, 1, memory_order_relaxed);
    return;
  }
  t->first[id] = first;
  t->y[id] = y;
  /* release: the join publishes it anyway; keeps the count monotone */
  atomic_fetch_add_explicit(&t->n, 1, memory_order_release);
}

/* ---------------------------------------------------- step collection --- */

typedef struct {
  step_rec *v;
  size_t n, cap;
} steps;

static __attribute__((unused)) int steps_take(void *ctx, const step_rec *r, size_t n) {
  steps *s = ctx;
  if (s->n + n > s->cap) {
    size_t cap = (s->n + n) * 2;
    step_rec *v = realloc(s->v, cap * sizeof *v);
    if (!v) return -1;
    s->v = v;
    s->cap = cap;
  }
  memcpy(s->v + s->n, r, n * sizeof *r);
  s->n += n;
  return 0;
}

static __attribute__((unused)) void steps_collect(steplog *l, steps *s) {
  memset(s, 0, sizeof *s);
  steplog_drain(l, 1, steps_take, s);
}

/* ------------------------------------------------------- invariants ---- */

/* Checks what every dispatcher guarantees on its records; returns the
 * number of violations and prints the first few (main thread only). */
typedef struct {
  uint64_t accepted, rejected, max_tau, intervals_checked;
} inv_stats;

#define INV_FAIL(...)                                                         \
  do {                                                                        \
    if (bad++ < 5) fprintf(stderr, "invariant: " __VA_ARGS__);                \
  } while (0)

static __attribute__((unused)) int cmp_u64(const void *a, const void *b) {
  uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
  return x < y ? -1 : x > y;
}

static __attribute__((unused)) int check_invariants(const char *disp_name, const steps *s, const ivl_trace *tr,
                            int leashed_drops_allowed, inv_stats *st) {
  int bad = 0;
  const disp_ops *dop = disp_find(disp_name);
  if (!dop) {
    fprintf(stderr, "check_invariants: no dispatcher '%s'\n", disp_name);
    return 1;
  }
  memset(st, 0, sizeof *st);
  uint64_t n_iv = tr ? atomic_load(&tr->n) : 0;
  uint64_t *per_iv = n_iv ? calloc(n_iv, sizeof *per_iv) : NULL;
  uint64_t *idx = malloc((s->n + 1) * sizeof *idx);
  for (size_t k = 0; k < s->n; k++) {
    const step_rec *r = &s->v[k];
    idx[k] = r->step;
    if (r->staleness != (int64_t)(r->version_apply - r->version_read))
      INV_FAIL("step %llu: staleness %lld != apply - read\n", (unsigned long long)r->step,
               (long long)r->staleness);
    if (r->t_end_ns < r->t_start_ns) INV_FAIL("step %llu ends before it starts\n",
                                              (unsigned long long)r->step);
    if (r->accepted) {
      st->accepted++;
      if ((uint64_t)r->staleness > st->max_tau) st->max_tau = (uint64_t)r->staleness;
    } else {
      st->rejected++;
    }
    /* by capability, not by name: every registry entry is checked */
    if (!dop->rejects && !r->accepted && !leashed_drops_allowed)
      INV_FAIL("%s rejected step %llu\n", disp_name, (unsigned long long)r->step);
    if (dop->tau == DISP_TAU_ZERO) {
      if (!r->accepted) INV_FAIL("tau-0 dispatcher rejected step %llu\n", (unsigned long long)r->step);
      if (r->staleness != 0)
        INV_FAIL("sync step %llu has tau %lld\n", (unsigned long long)r->step,
                 (long long)r->staleness);
      if (r->version_read != r->interval)
        INV_FAIL("sync step %llu of round %llu read version %llu\n",
                 (unsigned long long)r->step, (unsigned long long)r->interval,
                 (unsigned long long)r->version_read);
    }
    /* every interval step, also a rejected one, records the y in force */
    if (dop->tau == DISP_TAU_Y && r->y < 1)
      INV_FAIL("interval step %llu (accepted %d) has y %u\n", (unsigned long long)r->step,
               (int)r->accepted, r->y);
    if (dop->tau == DISP_TAU_Y && r->accepted) {
      uint64_t iv = r->interval;
      if (iv >= n_iv) {
        INV_FAIL("step %llu in unknown interval %llu\n", (unsigned long long)r->step,
                 (unsigned long long)iv);
        continue;
      }
      per_iv[iv]++;
      if (r->step < tr->first[iv])
        INV_FAIL("step %llu accepted in interval %llu that began at %llu\n",
                 (unsigned long long)r->step, (unsigned long long)iv,
                 (unsigned long long)tr->first[iv]);
      if ((long)r->y != tr->y[iv])
        INV_FAIL("step %llu: y %u but interval %llu has y %ld\n", (unsigned long long)r->step,
                 r->y, (unsigned long long)iv, tr->y[iv]);
      if (r->staleness < 0 || r->staleness > (int64_t)r->y - 1)
        INV_FAIL("step %llu: tau %lld > y - 1 = %u\n", (unsigned long long)r->step,
                 (long long)r->staleness, r->y - 1);
    }
  }
  /* every start index handed out exactly once */
  qsort(idx, s->n, sizeof *idx, cmp_u64);
  for (size_t k = 1; k < s->n; k++)
    if (idx[k] == idx[k - 1]) INV_FAIL("start index %llu twice\n", (unsigned long long)idx[k]);
  if (dop->tau == DISP_TAU_Y) {
    /* every completed interval (all but the last opened) accepted exactly y */
    for (uint64_t iv = 0; iv + 1 < n_iv; iv++) {
      st->intervals_checked++;
      if ((long)per_iv[iv] != tr->y[iv])
        INV_FAIL("interval %llu accepted %llu steps, y = %ld\n", (unsigned long long)iv,
                 (unsigned long long)per_iv[iv], tr->y[iv]);
    }
    /* a new interval starts after every start index of the previous ones */
    for (uint64_t iv = 1; iv < n_iv; iv++)
      if (tr->first[iv] < tr->first[iv - 1])
        INV_FAIL("interval %llu begins at %llu before its predecessor\n",
                 (unsigned long long)iv, (unsigned long long)tr->first[iv]);
  }
  free(idx);
  free(per_iv);
  return bad;
}

#endif

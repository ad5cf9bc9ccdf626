/* ps_mutex.c - lock-based AsyncSGD (thesis Alg. 2 with a mutex): one pthread
 * mutex around the copy of theta (lines 10-12) and around the update (lines
 * 14-16). Consistent reads, blocking progress. With a backoff scheme the lock
 * is taken by try-lock in a loop with a wait after each failure (thesis
 * Alg. 4, Sec. 3.5); without, by pthread_mutex_lock (the thread sleeps).
 *
 * The version counter is atomic (seq_cst, ps.h) although it only changes
 * under the lock: the interval dispatcher's bound and the monitor read it. */
#define _POSIX_C_SOURCE 200809L
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"
#include "ps.h"

typedef struct {
  _Alignas(64) pthread_mutex_t mu;
  _Alignas(64) _Atomic uint64_t version;
  _Atomic uint64_t retries;
  size_t d;
  optim_spec opt;
  float *theta, *v;
  int n_slots;
  ps_backoff_state *bo; /* per slot */
} ps_mx;

static void *mx_create(const ps_cfg *cfg, char *err, size_t errlen) {
  ps_mx *s = psgd_calloc(sizeof *s);
  if (!s) goto oom;
  s->d = cfg->d;
  s->opt = cfg->opt;
  s->n_slots = cfg->n_slots;
  s->theta = psgd_alloc(cfg->d * sizeof *s->theta);
  s->bo = psgd_calloc((size_t)cfg->n_slots * sizeof *s->bo);
  if (!s->theta || !s->bo) goto oom_with_s;
  if (cfg->opt.momentum > 0 && cfg->opt.kind != OPTIM_SGD) {
    s->v = psgd_calloc(cfg->d * sizeof *s->v);
    if (!s->v) goto oom_with_s;
  }
  if (pthread_mutex_init(&s->mu, NULL)) goto oom_with_s;
  memcpy(s->theta, cfg->theta0, cfg->d * sizeof *s->theta);
  for (int i = 0; i < cfg->n_slots; i++)
    ps_backoff_init(&s->bo[i], cfg->backoff, cfg->seed + (uint64_t)i);
  atomic_init(&s->version, 0);
  atomic_init(&s->retries, 0);
  return s;
oom_with_s:
  psgd_free(s->v);
  psgd_free(s->bo);
  psgd_free(s->theta);
  psgd_free(s);
oom:
  psgd_err(err, errlen, "param store mutex: out of memory for d = %zu", cfg->d);
  return NULL;
}

static void mx_destroy(void *impl) {
  ps_mx *s = impl;
  if (!s) return;
  pthread_mutex_destroy(&s->mu);
  psgd_free(s->v);
  psgd_free(s->bo);
  psgd_free(s->theta);
  psgd_free(s);
}

/* thesis Alg. 4: try_lock in a loop with the backoff between attempts */
static void mx_lock(ps_mx *s, int slot) {
  ps_backoff_state *b = &s->bo[slot];
  if (b->kind == PS_BACKOFF_NONE) {
    PSGD_CHECK(pthread_mutex_lock(&s->mu) == 0);
    return;
  }
  while (pthread_mutex_trylock(&s->mu) != 0) {
    atomic_fetch_add_explicit(&s->retries, 1, memory_order_relaxed);
    ps_backoff_wait(b);
  }
  ps_backoff_reset(b);
}

static const float *mx_read_begin(void *impl, int slot, float *local, uint64_t *vr) {
  ps_mx *s = impl;
  mx_lock(s, slot);
  *vr = atomic_load_explicit(&s->version, memory_order_seq_cst);
  memcpy(local, s->theta, s->d * sizeof *local);
  PSGD_CHECK(pthread_mutex_unlock(&s->mu) == 0);
  return local;
}

static int mx_apply(void *impl, int slot, const float *g, uint64_t vr, uint64_t *va) {
  ps_mx *s = impl;
  mx_lock(s, slot);
  uint64_t a = atomic_fetch_add_explicit(&s->version, 1, memory_order_seq_cst);
  ps_update(&s->opt, s->theta, s->v, g, s->d, (long)(a - vr));
  PSGD_CHECK(pthread_mutex_unlock(&s->mu) == 0);
  *va = a;
  return 1;
}

static uint64_t mx_version(void *impl) {
  ps_mx *s = impl;
  return atomic_load_explicit(&s->version, memory_order_relaxed);
}

static void mx_snapshot(void *impl, int slot, float *theta) {
  uint64_t vr;
  mx_read_begin(impl, slot, theta, &vr);
}

static void mx_stats(void *impl, ps_stats *st) {
  ps_mx *s = impl;
  st->applied = atomic_load_explicit(&s->version, memory_order_relaxed);
  st->retries = atomic_load_explicit(&s->retries, memory_order_relaxed);
  for (int i = 0; i < s->n_slots; i++) st->backoffs += s->bo[i].n_waits;
  st->bytes = s->d * sizeof(float) * (s->v ? 2 : 1);
}

const ps_ops ps_mutex_ops = {
    .name = "mutex",
    .help = "AsyncSGD with one mutex around copy and update (consistent, blocking)",
    .retries = 1,
    .has_ps_bound = 0,
    .versions = 0,
    .consistent = 1,
    .virtual_clock = PS_VT_LOCK,
    .create = mx_create,
    .destroy = mx_destroy,
    .read_begin = mx_read_begin,
    .apply = mx_apply,
    .version = mx_version,
    .snapshot = mx_snapshot,
    .stats = mx_stats,
};

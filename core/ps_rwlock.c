/* ps_rwlock.c - lock-based AsyncSGD with a POSIX read-write lock (thesis
 * Sec. 3.1, Alg. 2 with a rw-lock): copies of theta share the lock (line 10,
 * read lock), updates hold it exclusively (line 14). The thesis' hypothesis:
 * shared reads lower contention on theta. With a backoff scheme the lock is
 * taken by tryrdlock/trywrlock in a loop with a wait after each failure
 * (thesis Alg. 4, Sec. 3.5).
 *
 * Default POSIX attributes, as in the thesis (glibc: readers preferred; the
 * thesis Sec. 2.2.3 discusses what reader/writer priority trades). */
#define _POSIX_C_SOURCE 200809L
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"
#include "ps.h"

typedef struct {
  _Alignas(64) pthread_rwlock_t lk;
  _Alignas(64) _Atomic uint64_t version;
  _Atomic uint64_t retries;
  size_t d;
  optim_spec opt;
  float *theta, *v;
  int n_slots;
  ps_backoff_state *bo;
} ps_rw;

static void *rw_create(const ps_cfg *cfg, char *err, size_t errlen) {
  ps_rw *s = psgd_calloc(sizeof *s);
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
  if (pthread_rwlock_init(&s->lk, NULL)) goto oom_with_s;
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
  psgd_err(err, errlen, "param store rwlock: out of memory or rwlock init failed, d = %zu",
           cfg->d);
  return NULL;
}

static void rw_destroy(void *impl) {
  ps_rw *s = impl;
  if (!s) return;
  pthread_rwlock_destroy(&s->lk);
  psgd_free(s->v);
  psgd_free(s->bo);
  psgd_free(s->theta);
  psgd_free(s);
}

static void rw_lock(ps_rw *s, int slot, int write) {
  ps_backoff_state *b = &s->bo[slot];
  if (b->kind == PS_BACKOFF_NONE) {
    PSGD_CHECK((write ? pthread_rwlock_wrlock(&s->lk) : pthread_rwlock_rdlock(&s->lk)) == 0);
    return;
  }
  while ((write ? pthread_rwlock_trywrlock(&s->lk) : pthread_rwlock_tryrdlock(&s->lk)) != 0) {
    atomic_fetch_add_explicit(&s->retries, 1, memory_order_relaxed);
    ps_backoff_wait(b);
  }
  ps_backoff_reset(b);
}

static const float *rw_read_begin(void *impl, int slot, float *local, uint64_t *vr) {
  ps_rw *s = impl;
  rw_lock(s, slot, 0);
  *vr = atomic_load_explicit(&s->version, memory_order_seq_cst);
  memcpy(local, s->theta, s->d * sizeof *local);
  PSGD_CHECK(pthread_rwlock_unlock(&s->lk) == 0);
  return local;
}

static int rw_apply(void *impl, int slot, const float *g, uint64_t vr, uint64_t *va) {
  ps_rw *s = impl;
  rw_lock(s, slot, 1);
  uint64_t a = atomic_fetch_add_explicit(&s->version, 1, memory_order_seq_cst);
  ps_update(&s->opt, s->theta, s->v, g, s->d, (long)(a - vr));
  PSGD_CHECK(pthread_rwlock_unlock(&s->lk) == 0);
  *va = a;
  return 1;
}

static uint64_t rw_version(void *impl) {
  ps_rw *s = impl;
  return atomic_load_explicit(&s->version, memory_order_relaxed);
}

static void rw_snapshot(void *impl, int slot, float *theta) {
  uint64_t vr;
  rw_read_begin(impl, slot, theta, &vr);
}

static void rw_stats(void *impl, ps_stats *st) {
  ps_rw *s = impl;
  st->applied = atomic_load_explicit(&s->version, memory_order_relaxed);
  st->retries = atomic_load_explicit(&s->retries, memory_order_relaxed);
  for (int i = 0; i < s->n_slots; i++) st->backoffs += s->bo[i].n_waits;
  st->bytes = s->d * sizeof(float) * (s->v ? 2 : 1);
}

const ps_ops ps_rwlock_ops = {
    .name = "rwlock",
    .help = "AsyncSGD with a POSIX rwlock: shared copies, exclusive updates (consistent)",
    .retries = 1,
    .has_ps_bound = 0,
    .versions = 0,
    .consistent = 1,
    .virtual_clock = PS_VT_RWLOCK,
    .create = rw_create,
    .destroy = rw_destroy,
    .read_begin = rw_read_begin,
    .apply = rw_apply,
    .version = rw_version,
    .snapshot = rw_snapshot,
    .stats = rw_stats,
};

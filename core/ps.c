/* ps.c - param stores: HOGWILD!, mutex, rwlock (see ps.h). */
#define _GNU_SOURCE
#include "ps.h"

#include <assert.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <string.h>
#include <time.h>

#include "common.h"

static const char *const ps_names[] = {"hogwild", "mutex", "rwlock", "leashed"};
static_assert(sizeof ps_names / sizeof ps_names[0] == PS_COUNT, "one name per store");
static const char *const bo_names[] = {"none", "linear", "exponential", "random"};
static_assert(sizeof bo_names / sizeof bo_names[0] == BO_COUNT, "one name per backoff");

int ps_parse(const char *name, ps_kind *out) {
  for (int k = 0; k < PS_COUNT; k++)
    if (!strcmp(name, ps_names[k])) return *out = (ps_kind)k, 0;
  return -1;
}

int ps_backoff_parse(const char *name, ps_backoff *out) {
  for (int k = 0; k < BO_COUNT; k++)
    if (!strcmp(name, bo_names[k])) return *out = (ps_backoff)k, 0;
  return -1;
}

struct ps {
  ps_kind kind;
  ps_backoff bo;
  optim_spec o;
  size_t d;
  float *theta; /* 64-byte aligned, d floats */
  float *mom;   /* momentum buffer, same layout (NULL when momentum == 0) */
  _Alignas(64) _Atomic uint64_t version;
  _Alignas(64) _Atomic uint64_t contended;
  _Alignas(64) pthread_mutex_t mu;
  pthread_rwlock_t rw;
};

ps *ps_create(ps_kind kind, ps_backoff bo, const float *theta0, size_t d, const optim_spec *o,
              char *err, size_t errlen) {
  if (kind == PS_LEASHED) {
    psgd_err(err, errlen, "store 'leashed' (Leashed-SGD) is not built in this version");
    return NULL;
  }
  ps *p = psgd_calloc(sizeof *p);
  if (!p) return psgd_err(err, errlen, "out of memory for the param store"), NULL;
  p->kind = kind;
  p->bo = bo;
  p->o = *o;
  p->d = d;
  p->theta = psgd_alloc(d * sizeof(float));
  p->mom = o->momentum > 0 ? psgd_calloc(d * sizeof(float)) : NULL;
  if (!p->theta || (o->momentum > 0 && !p->mom)) {
    ps_free(p);
    return psgd_err(err, errlen, "out of memory for theta (%zu floats)", d), NULL;
  }
  memcpy(p->theta, theta0, d * sizeof(float));
  atomic_init(&p->version, 0);
  atomic_init(&p->contended, 0);
  if (pthread_mutex_init(&p->mu, NULL) != 0 || pthread_rwlock_init(&p->rw, NULL) != 0) {
    psgd_free(p->theta);
    psgd_free(p->mom);
    psgd_free(p);
    return psgd_err(err, errlen, "cannot initialize the store's lock"), NULL;
  }
  return p;
}

void ps_free(ps *p) {
  if (!p) return;
  pthread_mutex_destroy(&p->mu);
  pthread_rwlock_destroy(&p->rw);
  psgd_free(p->theta);
  psgd_free(p->mom);
  psgd_free(p);
}

/* HOGWILD!: the intended data race. Plain float copies and updates of shared
 * theta, concurrent with other workers' updates (Niu et al. 2011); the only
 * two functions that touch theta without synchronization, named in
 * tests/tsan.supp. noinline keeps them visible to the suppression. */
__attribute__((noinline)) void ps_hogwild_copy(float *dst, const float *theta, size_t d) {
  memcpy(dst, theta, d * sizeof(float));
}

__attribute__((noinline)) void ps_hogwild_update(const optim_spec *o, float lr, float *theta,
                                                 float *mom, const float *g, size_t d) {
  optim_apply(o, lr, theta, mom, g, d);
}

/* Backoff after the k-th busy try (thesis Sec. 3.5): linear k x 1 us,
 * exponential 2^k us capped at 1 ms, random uniform in [0, 2^k us). */
static void backoff_wait(ps_backoff bo, int k, uint64_t *rng) {
  long ns;
  switch (bo) {
  case BO_LINEAR: ns = 1000L * k; break;
  case BO_EXPONENTIAL: ns = 1000L << (k < 10 ? k : 10); break;
  case BO_RANDOM: {
    uint64_t x = *rng ^= *rng << 13;
    x = *rng ^= x >> 7;
    *rng ^= x << 17;
    ns = (long)(*rng % (uint64_t)(1000L << (k < 10 ? k : 10)));
    break;
  }
  default: ns = 0;
  }
  if (ns <= 0) {
    sched_yield();
    return;
  }
  struct timespec ts = {0, ns};
  nanosleep(&ts, NULL);
}

static void lock_excl(ps *p, uint64_t *rng) {
  if (p->bo == BO_NONE) {
    PSGD_CHECK(p->kind == PS_MUTEX ? pthread_mutex_lock(&p->mu) == 0
                                   : pthread_rwlock_wrlock(&p->rw) == 0);
    return;
  }
  for (int k = 1;; k++) {
    int rc = p->kind == PS_MUTEX ? pthread_mutex_trylock(&p->mu) : pthread_rwlock_trywrlock(&p->rw);
    if (rc == 0) return;
    atomic_fetch_add_explicit(&p->contended, 1, memory_order_relaxed);
    backoff_wait(p->bo, k, rng);
  }
}

static void unlock_excl(ps *p) {
  PSGD_CHECK(p->kind == PS_MUTEX ? pthread_mutex_unlock(&p->mu) == 0
                                 : pthread_rwlock_unlock(&p->rw) == 0);
}

uint64_t ps_read(ps *p, float *local) {
  uint64_t v;
  switch (p->kind) {
  case PS_HOGWILD:
    /* acquire: updates that claimed a version before this load have at least
     * started; the copy may see some of them partly (HOGWILD! semantics) */
    v = atomic_load_explicit(&p->version, memory_order_acquire);
    ps_hogwild_copy(local, p->theta, p->d);
    return v;
  case PS_MUTEX:
    PSGD_CHECK(pthread_mutex_lock(&p->mu) == 0);
    v = atomic_load_explicit(&p->version, memory_order_relaxed);
    memcpy(local, p->theta, p->d * sizeof(float));
    PSGD_CHECK(pthread_mutex_unlock(&p->mu) == 0);
    return v;
  case PS_RWLOCK:
    PSGD_CHECK(pthread_rwlock_rdlock(&p->rw) == 0);
    v = atomic_load_explicit(&p->version, memory_order_relaxed);
    memcpy(local, p->theta, p->d * sizeof(float));
    PSGD_CHECK(pthread_rwlock_unlock(&p->rw) == 0);
    return v;
  default: PSGD_CHECK(!"store kind");
  }
}

uint64_t ps_apply(ps *p, const float *g, uint64_t version_read, uint64_t *rng) {
  uint64_t v;
  if (p->kind == PS_HOGWILD) {
    /* the version is claimed when the update starts: tau counts the updates
     * that started between this step's read and its own */
    v = atomic_fetch_add_explicit(&p->version, 1, memory_order_acq_rel);
    ps_hogwild_update(&p->o, optim_lr(&p->o, (long)(v - version_read)), p->theta, p->mom, g, p->d);
    return v;
  }
  lock_excl(p, rng);
  v = atomic_load_explicit(&p->version, memory_order_relaxed);
  optim_apply(&p->o, optim_lr(&p->o, (long)(v - version_read)), p->theta, p->mom, g, p->d);
  atomic_store_explicit(&p->version, v + 1, memory_order_relaxed); /* under the lock */
  unlock_excl(p);
  return v;
}

uint64_t ps_apply_lr(ps *p, const float *g, float lr_eff) {
  uint64_t rng = 1;
  if (p->kind == PS_HOGWILD) {
    uint64_t v = atomic_fetch_add_explicit(&p->version, 1, memory_order_acq_rel);
    ps_hogwild_update(&p->o, lr_eff, p->theta, p->mom, g, p->d);
    return v;
  }
  lock_excl(p, &rng);
  uint64_t v = atomic_load_explicit(&p->version, memory_order_relaxed);
  optim_apply(&p->o, lr_eff, p->theta, p->mom, g, p->d);
  atomic_store_explicit(&p->version, v + 1, memory_order_relaxed);
  unlock_excl(p);
  return v;
}

uint64_t ps_version(ps *p) { return atomic_load_explicit(&p->version, memory_order_acquire); }
const float *ps_theta(ps *p) { return p->theta; }
uint64_t ps_contended(ps *p) { return atomic_load_explicit(&p->contended, memory_order_relaxed); }

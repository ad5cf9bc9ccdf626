/* disp_sync.c - synchronous data-parallel SGD (paper Sec. 1 and 5, "Sync"):
 * lock-step rounds. Round r has n_r = m participants (workers 0..n_r-1,
 * m read when the round opens); each computes one gradient on the same
 * theta, on batch GETBATCH(base_r + w); the last to finish (the reducer)
 * averages the n_r gradients in worker order, applies them as one update,
 * and opens round r+1. Every step has tau = 0.
 *
 * Two-phase barrier on one mutex and condition variable: a worker waits in
 * try_start until a round it has not yet joined is open and includes it;
 * finish only counts arrivals and never waits, so a worker that stops
 * cannot strand another inside the barrier. disp_stop sets the stop flag
 * under the mutex and broadcasts, which releases every waiter: the run can
 * always shut down (a known fault of the authors' code is a sync barrier
 * that hangs at shutdown).
 *
 * Batches: base_r = sum of n_k for k < r, so the sequence of batches is the
 * sequential one and m = 1 is sequential SGD bit for bit. */
#define _POSIX_C_SOURCE 200809L
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"
#include "disp.h"

typedef struct {
  pthread_mutex_t mu;
  pthread_cond_t cv;
  uint64_t round;    /* the open round */
  uint64_t base;     /* its first start index */
  int n_part;        /* its participants: workers 0..n_part-1 */
  int n_arrived;
  int stop;
  int n_workers;
  uint64_t *joined;  /* per worker: 1 + the last round it started (0: none) */
  disp *d;
} sync_state;

static void *sync_create(disp *d, const disp_cfg *cfg, char *err, size_t errlen) {
  sync_state *s = psgd_calloc(sizeof *s);
  if (!s) goto oom;
  s->joined = calloc((size_t)cfg->n_workers, sizeof *s->joined);
  if (!s->joined) goto oom_with_s;
  if (pthread_mutex_init(&s->mu, NULL)) goto oom_with_joined;
  if (pthread_cond_init(&s->cv, NULL)) {
    pthread_mutex_destroy(&s->mu);
    goto oom_with_joined;
  }
  s->n_workers = cfg->n_workers;
  s->n_part = cfg->m;
  s->d = d;
  return s;
oom_with_joined:
  free(s->joined);
oom_with_s:
  psgd_free(s);
oom:
  psgd_err(err, errlen, "dispatcher sync: out of memory or pthread init failed");
  return NULL;
}

static void sync_destroy(void *impl) {
  sync_state *s = impl;
  if (!s) return;
  pthread_cond_destroy(&s->cv);
  pthread_mutex_destroy(&s->mu);
  free(s->joined);
  psgd_free(s);
}

/* Under mu: w must wait for a round that includes it and that it has not
 * joined yet. */
static int must_wait(const sync_state *s, int w) {
  return !s->stop && (w >= s->n_part || s->joined[w] == s->round + 1);
}

static int sync_can_start(void *impl, int w) {
  sync_state *s = impl;
  PSGD_CHECK(pthread_mutex_lock(&s->mu) == 0);
  int ok = !must_wait(s, w);
  PSGD_CHECK(pthread_mutex_unlock(&s->mu) == 0);
  return ok;
}

static int sync_try_start(disp *d, void *impl, int w, disp_ticket *t) {
  (void)d;
  sync_state *s = impl;
  PSGD_CHECK(pthread_mutex_lock(&s->mu) == 0);
  while (must_wait(s, w)) PSGD_CHECK(pthread_cond_wait(&s->cv, &s->mu) == 0);
  int ok = !s->stop;
  if (ok) {
    s->joined[w] = s->round + 1;
    t->i = s->base + (uint64_t)w;
    t->interval = s->round;
    t->m = (uint32_t)s->n_part;
    t->y = 0;
    t->priv = 0;
  }
  PSGD_CHECK(pthread_mutex_unlock(&s->mu) == 0);
  return ok;
}

static int sync_finish(disp *d, void *impl, int w, disp_ticket *t) {
  (void)d;
  (void)w;
  (void)t;
  sync_state *s = impl;
  /* the mutex also publishes this worker's gradient to the reducer */
  PSGD_CHECK(pthread_mutex_lock(&s->mu) == 0);
  int last = ++s->n_arrived == s->n_part;
  PSGD_CHECK(pthread_mutex_unlock(&s->mu) == 0);
  return last ? DISP_REDUCE : DISP_CONTRIB;
}

static void sync_done(disp *d, void *impl, int w, const disp_ticket *t) {
  (void)w;
  (void)t;
  sync_state *s = impl;
  PSGD_CHECK(pthread_mutex_lock(&s->mu) == 0);
  s->base += (uint64_t)s->n_part;
  s->round++;
  s->n_part = disp_m(d); /* the bound in force when the round opens */
  s->n_arrived = 0;
  PSGD_CHECK(pthread_cond_broadcast(&s->cv) == 0);
  PSGD_CHECK(pthread_mutex_unlock(&s->mu) == 0);
}

/* The round's mean gradient, summed in worker order (deterministic); one
 * participant: its own gradient. */
static const float *sync_reduce(const float *const *grads, int n, size_t d, float *out) {
  if (n <= 1) return grads[0];
  memcpy(out, grads[0], d * sizeof *out);
  for (int k = 1; k < n; k++) {
    const float *g = grads[k];
    for (size_t i = 0; i < d; i++) out[i] += g[i];
  }
  const float s = 1.0f / (float)n;
  for (size_t i = 0; i < d; i++) out[i] *= s;
  return out;
}

static void sync_on_stop(void *impl) {
  sync_state *s = impl;
  PSGD_CHECK(pthread_mutex_lock(&s->mu) == 0);
  s->stop = 1;
  PSGD_CHECK(pthread_cond_broadcast(&s->cv) == 0);
  PSGD_CHECK(pthread_mutex_unlock(&s->mu) == 0);
}

const disp_ops disp_sync_ops = {
    .name = "sync",
    .help = "lock-step data-parallel rounds: m gradients on one theta, averaged, one update",
    .own_gate = 1,
    .has_y = 0,
    .needs_reduce = 1,
    .rejects = 0,
    .tau = DISP_TAU_ZERO,
    .virtual_clock = 1,
    .create = sync_create,
    .destroy = sync_destroy,
    .try_start = sync_try_start,
    .finish = sync_finish,
    .done = sync_done,
    .on_stop = sync_on_stop,
    .can_start = sync_can_start,
    .reduce = sync_reduce,
};

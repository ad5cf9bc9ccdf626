/* disp.c - the dispatcher registry and what every dispatcher shares: the
 * active-thread bound m and its sleeping gate (paper Alg. 2 lines 7-8: a
 * worker w >= m may not start a step). The authors' workers spin on that
 * test; here they sleep on a condition variable and are woken when m grows
 * or the run stops, so idle threads cost nothing (256 threads on 2 cores). */
#define _POSIX_C_SOURCE 200809L
#include "disp.h"

#include <assert.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"

/* Unsized on purpose: the static_assert then fails when DISP_COUNT and the
 * entries disagree (a sized array would pad a missing entry with NULL). */
const disp_ops *const disp_registry[] = {&disp_async_ops, &disp_interval_ops, &disp_sync_ops};
static_assert(sizeof disp_registry / sizeof disp_registry[0] == DISP_COUNT,
              "DISP_COUNT must equal the number of registry entries");

struct disp {
  const disp_ops *ops;
  void *impl;
  int n_workers;
  /* relaxed everywhere: m publishes no data; a worker that misses an update
   * re-checks under gate_mu before sleeping, and set_m broadcasts under it */
  _Alignas(64) _Atomic int m;
  _Atomic int stop;
  pthread_mutex_t gate_mu;
  pthread_cond_t gate_cv;
};

const disp_ops *disp_find(const char *name) {
  for (int i = 0; i < DISP_COUNT; i++)
    if (name && !strcmp(name, disp_registry[i]->name)) return disp_registry[i];
  return NULL;
}

void disp_names(char *buf, size_t cap) {
  if (!cap) return;
  buf[0] = '\0';
  for (int i = 0; i < DISP_COUNT; i++) {
    if (i) strncat(buf, " | ", cap - strlen(buf) - 1);
    strncat(buf, disp_registry[i]->name, cap - strlen(buf) - 1);
  }
}

disp *disp_create(const disp_ops *ops, const disp_cfg *cfg, char *err, size_t errlen) {
  if (!ops) {
    psgd_err(err, errlen, "disp_create: no dispatcher");
    return NULL;
  }
  if (cfg->n_workers < 1 || cfg->m < 1 || cfg->m > cfg->n_workers) {
    psgd_err(err, errlen, "dispatcher %s: m = %d must be in [1, n_workers = %d]", ops->name,
             cfg->m, cfg->n_workers);
    return NULL;
  }
  disp *d = psgd_calloc(sizeof *d);
  if (!d) {
    psgd_err(err, errlen, "dispatcher %s: out of memory", ops->name);
    return NULL;
  }
  d->ops = ops;
  d->n_workers = cfg->n_workers;
  atomic_init(&d->m, cfg->m);
  atomic_init(&d->stop, 0);
  if (pthread_mutex_init(&d->gate_mu, NULL)) {
    psgd_err(err, errlen, "dispatcher %s: pthread_mutex_init failed", ops->name);
    goto out_with_d;
  }
  if (pthread_cond_init(&d->gate_cv, NULL)) {
    psgd_err(err, errlen, "dispatcher %s: pthread_cond_init failed", ops->name);
    goto out_with_mu;
  }
  d->impl = ops->create(d, cfg, err, errlen);
  if (!d->impl) goto out_with_cv;
  return d;
out_with_cv:
  pthread_cond_destroy(&d->gate_cv);
out_with_mu:
  pthread_mutex_destroy(&d->gate_mu);
out_with_d:
  psgd_free(d);
  return NULL;
}

void disp_free(disp *d) {
  if (!d) return;
  d->ops->destroy(d->impl);
  pthread_cond_destroy(&d->gate_cv);
  pthread_mutex_destroy(&d->gate_mu);
  psgd_free(d);
}

const disp_ops *disp_get_ops(const disp *d) { return d->ops; }

/* Sleeps while w >= m; 0 if the run stops meanwhile. */
static int gate(disp *d, int w) {
  if (w < atomic_load_explicit(&d->m, memory_order_relaxed)) return 1;
  PSGD_CHECK(pthread_mutex_lock(&d->gate_mu) == 0);
  while (!atomic_load_explicit(&d->stop, memory_order_relaxed) &&
         w >= atomic_load_explicit(&d->m, memory_order_relaxed))
    PSGD_CHECK(pthread_cond_wait(&d->gate_cv, &d->gate_mu) == 0);
  PSGD_CHECK(pthread_mutex_unlock(&d->gate_mu) == 0);
  return !atomic_load_explicit(&d->stop, memory_order_relaxed);
}

int disp_try_start(disp *d, int w, disp_ticket *t) {
  if (atomic_load_explicit(&d->stop, memory_order_relaxed)) return 0;
  if (!d->ops->own_gate && !gate(d, w)) return 0;
  return d->ops->try_start(d, d->impl, w, t);
}

int disp_can_start(disp *d, int w) {
  if (atomic_load_explicit(&d->stop, memory_order_relaxed)) return 1;
  if (!d->ops->own_gate) return w < atomic_load_explicit(&d->m, memory_order_relaxed);
  PSGD_CHECK(d->ops->can_start);
  return d->ops->can_start(d->impl, w);
}

int disp_finish(disp *d, int w, disp_ticket *t) { return d->ops->finish(d, d->impl, w, t); }

void disp_done(disp *d, int w, const disp_ticket *t) {
  if (d->ops->done) d->ops->done(d, d->impl, w, t);
}

const float *disp_reduce(const disp *d, const float *const *grads, int n, size_t dim,
                         float *out) {
  return d->ops->reduce(grads, n, dim, out);
}

void disp_set_m(disp *d, int m) {
  if (m < 1) m = 1;
  if (m > d->n_workers) m = d->n_workers;
  atomic_store_explicit(&d->m, m, memory_order_relaxed);
  /* broadcast under the mutex: a worker between its check and its wait
   * cannot miss this wake-up */
  PSGD_CHECK(pthread_mutex_lock(&d->gate_mu) == 0);
  PSGD_CHECK(pthread_cond_broadcast(&d->gate_cv) == 0);
  PSGD_CHECK(pthread_mutex_unlock(&d->gate_mu) == 0);
  if (d->ops->on_m) d->ops->on_m(d->impl);
}

int disp_m(const disp *d) {
  return atomic_load_explicit(&((disp *)d)->m, memory_order_relaxed);
}

int disp_n_workers(const disp *d) { return d->n_workers; }

void disp_set_y(disp *d, long y) {
  if (d->ops->set_y) d->ops->set_y(d->impl, y);
}

long disp_y(const disp *d) { return d->ops->get_y ? d->ops->get_y(d->impl) : 0; }

void disp_stop(disp *d) {
  atomic_store_explicit(&d->stop, 1, memory_order_relaxed);
  PSGD_CHECK(pthread_mutex_lock(&d->gate_mu) == 0);
  PSGD_CHECK(pthread_cond_broadcast(&d->gate_cv) == 0);
  PSGD_CHECK(pthread_mutex_unlock(&d->gate_mu) == 0);
  if (d->ops->on_stop) d->ops->on_stop(d->impl);
}

int disp_stopped(const disp *d) {
  return atomic_load_explicit(&((disp *)d)->stop, memory_order_relaxed);
}

/* ctl_decay.c - y-decay (paper Sec. 4.1): y <- y0 - floor(n / K), floor 1,
 * where n counts accepted steps; the paper decrements y by 1 every 4,096
 * accepted steps (Sec. 5.3). Every accepting worker computes the target from
 * its n, and the first to see a target below the current y sets it: the
 * worker whose n is the multiple of K may be preempted before it gets here
 * (oversubscribed threads, a loaded machine), and the next acceptances must
 * not wait for it. y only ever decreases, so workers racing in the wrong
 * order cannot raise it again. The new y takes effect when the next interval
 * opens (disp_interval.c). */
#define _POSIX_C_SOURCE 200809L
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>

#include "common.h"
#include "ctl.h"

typedef struct {
  ctl_cfg cfg;
  pthread_mutex_t mu; /* only when a boundary is crossed */
  _Atomic long y;     /* the y last set (written under mu) */
} decay;

static void *decay_create(const ctl_cfg *cfg, char *err, size_t errlen) {
  if (cfg->decay_k < 1 || cfg->y0 < 1) {
    psgd_err(err, errlen, "controller decay: K = %ld and y0 = %ld must be >= 1", cfg->decay_k,
             cfg->y0);
    return NULL;
  }
  decay *c = psgd_calloc(sizeof *c);
  if (!c || pthread_mutex_init(&c->mu, NULL)) {
    psgd_free(c);
    psgd_err(err, errlen, "controller decay: out of memory");
    return NULL;
  }
  c->cfg = *cfg;
  atomic_init(&c->y, cfg->y0);
  return c;
}

static void decay_destroy(void *impl) {
  decay *c = impl;
  if (!c) return;
  pthread_mutex_destroy(&c->mu);
  psgd_free(c);
}

static void decay_on_accept(void *impl, uint64_t n, uint64_t now_ns) {
  decay *c = impl;
  const uint64_t steps = n / (uint64_t)c->cfg.decay_k;
  long target = steps >= (uint64_t)c->cfg.y0 ? 1 : c->cfg.y0 - (long)steps;
  if (target < 1) target = 1;
  /* relaxed: a stale (larger) y only sends us to the lock, which rechecks */
  if (target >= atomic_load_explicit(&c->y, memory_order_relaxed)) return;
  PSGD_CHECK(pthread_mutex_lock(&c->mu) == 0);
  if (target < atomic_load_explicit(&c->y, memory_order_relaxed)) {
    atomic_store_explicit(&c->y, target, memory_order_relaxed);
    disp_set_y(c->cfg.d, target);
    char det[64];
    snprintf(det, sizeof det, "decay at %llu accepted",
             (unsigned long long)(steps * (uint64_t)c->cfg.decay_k));
    ctl_emit(&c->cfg, now_ns, "y", (double)target, det);
  }
  PSGD_CHECK(pthread_mutex_unlock(&c->mu) == 0);
}

const ctl_ops ctl_decay_ops = {
    .name = "decay",
    .help = "y-decay: y -= 1 every K accepted steps, floor 1 (paper Sec. 4.1)",
    .over_m = 0,
    .needs_y = 1,
    .create = decay_create,
    .destroy = decay_destroy,
    .on_accept = decay_on_accept,
};

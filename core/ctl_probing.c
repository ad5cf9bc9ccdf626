/* ctl_probing.c - window probing (paper Sec. 4.1 "Adaptive y through
 * window-probing", after ElAsyncSGD): one state machine shared by y-probing
 * ("probing", over the interval size y) and the elastic controller
 * ("elastic", over the active-thread bound m).
 *
 *   execution: x accepted steps at the current value v
 *   probe:     candidates c_0 < c_1 < ... (w of them, around v), p accepted
 *              steps each; candidate j's convergence rate is
 *                  r_j = (L_first - L_second) / ((t_end - t_start) / 2)
 *              where L_first / L_second are the mean minibatch losses of the
 *              accepted steps in the first / second half of its p steps and
 *              the halves' centres are (t_end - t_start) / 2 apart: how fast
 *              the running training loss drops, per second. Judging each
 *              candidate on its own halves keeps the overall downward trend
 *              of the loss from favouring whichever candidate comes first.
 *   verdict:   v <- argmax_j r_j, then execution again.
 *
 * Window (the paper writes [y - kw/2, y + kw/2] without fixing k): offsets
 * (j - floor(w/2)) * k, j = 0..w-1. For m, k = 1 (one thread more or less,
 * as ElAsyncSGD); for y, k = max(1, floor(v / 16)), a step of about 6% so the
 * window scales with y. A window running past [lo, hi] (y: [1, DISP_Y_MAX],
 * m: [1, m_max]) is shifted inside; if the range is narrower than the window,
 * it holds the distinct values that fit.
 *
 * Boundaries are counts of accepted steps. The first worker whose accepted
 * number n reaches the next boundary acts (under a mutex, so phases never
 * overlap); phase lengths run from that actual n. */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "common.h"
#include "ctl.h"

#define MAX_WINDOW 64

typedef enum { PH_EXEC, PH_FIRST_HALF, PH_SECOND_HALF } phase;

typedef struct {
  ctl_cfg cfg;
  int over_m;
  long lo, hi;
  pthread_mutex_t mu;
  /* relaxed: a trigger only; the state below is read and written under mu */
  _Alignas(64) _Atomic uint64_t next;
  phase ph;
  long cur;                 /* value in force */
  int n_cand, j;            /* candidates, the one being probed */
  long cand[MAX_WINDOW];
  double rate[MAX_WINDOW];
  double s0, s1;            /* loss sums at the candidate's start and midpoint */
  uint64_t c0, c1;          /* loss counts likewise */
  uint64_t t0;              /* candidate start time */
  uint64_t n_probes;        /* completed probes */
} prober;

static void set_value(prober *c, long v, uint64_t now, const char *why) {
  c->cur = v;
  if (c->over_m) disp_set_m(c->cfg.d, (int)v);
  else disp_set_y(c->cfg.d, v);
  ctl_emit(&c->cfg, now, c->over_m ? "m" : "y", (double)v, why);
}

static void make_window(prober *c) {
  long k = c->over_m ? 1 : (c->cur / 16 > 1 ? c->cur / 16 : 1);
  int w = c->cfg.window;
  long lo = c->cur - (long)(w / 2) * k;
  long hi = lo + (long)(w - 1) * k;
  if (hi > c->hi) {
    lo -= hi - c->hi;
    hi = c->hi;
  }
  if (lo < c->lo) {
    hi += c->lo - lo;
    lo = c->lo;
  }
  c->n_cand = 0;
  for (long v = lo; v <= hi && v <= c->hi && c->n_cand < w; v += k) c->cand[c->n_cand++] = v;
  if (c->n_cand == 0) c->cand[c->n_cand++] = c->cur;
}

static void *probe_create_common(const ctl_cfg *cfg, int over_m, char *err, size_t errlen) {
  const char *name = over_m ? "elastic" : "probing";
  if (cfg->window < 1 || cfg->window > MAX_WINDOW || cfg->probe_steps < 2 ||
      cfg->exec_steps < 1) {
    psgd_err(err, errlen,
             "controller %s: window %d must be in [1, %d], probe steps %ld >= 2, exec steps %ld "
             ">= 1",
             name, cfg->window, MAX_WINDOW, cfg->probe_steps, cfg->exec_steps);
    return NULL;
  }
  if (!cfg->loss) {
    psgd_err(err, errlen, "controller %s: needs a loss source", name);
    return NULL;
  }
  prober *c = psgd_calloc(sizeof *c);
  if (!c || pthread_mutex_init(&c->mu, NULL)) {
    psgd_free(c);
    psgd_err(err, errlen, "controller %s: out of memory", name);
    return NULL;
  }
  c->cfg = *cfg;
  c->over_m = over_m;
  c->lo = 1;
  if (over_m) {
    c->hi = cfg->m_max > 0 ? cfg->m_max : disp_n_workers(cfg->d);
    c->cur = cfg->m0 > 0 ? cfg->m0 : disp_m(cfg->d);
  } else {
    c->hi = DISP_Y_MAX;
    c->cur = cfg->y0 > 0 ? cfg->y0 : disp_y(cfg->d);
  }
  if (c->cur > c->hi) c->cur = c->hi;
  if (c->cur < 1) c->cur = 1;
  c->ph = PH_EXEC;
  atomic_init(&c->next, (uint64_t)cfg->exec_steps);
  return c;
}

static void *probing_create(const ctl_cfg *cfg, char *err, size_t errlen) {
  return probe_create_common(cfg, 0, err, errlen);
}

static void *elastic_create(const ctl_cfg *cfg, char *err, size_t errlen) {
  return probe_create_common(cfg, 1, err, errlen);
}

static void probe_destroy(void *impl) {
  prober *c = impl;
  if (!c) return;
  pthread_mutex_destroy(&c->mu);
  psgd_free(c);
}

static void start_candidate(prober *c, uint64_t n, uint64_t now, double s, uint64_t cnt) {
  char why[48];
  snprintf(why, sizeof why, "probe %llu candidate %d/%d", (unsigned long long)c->n_probes + 1,
           c->j + 1, c->n_cand);
  set_value(c, c->cand[c->j], now, why);
  c->s0 = s;
  c->c0 = cnt;
  c->t0 = now;
  c->ph = PH_FIRST_HALF;
  atomic_store_explicit(&c->next, n + (uint64_t)c->cfg.probe_steps / 2, memory_order_relaxed);
}

static void verdict(prober *c, uint64_t n, uint64_t now) {
  int best = 0;
  for (int j = 1; j < c->n_cand; j++)
    if (c->rate[j] > c->rate[best]) best = j;
  char det[104];
  int len = snprintf(det, sizeof det, "rates");
  for (int j = 0; j < c->n_cand && len < (int)sizeof det; j++)
    len += snprintf(det + len, sizeof det - (size_t)len, " %ld:%.3g", c->cand[j], c->rate[j]);
  c->n_probes++;
  ctl_emit(&c->cfg, now, "probe", (double)c->cand[best], det);
  set_value(c, c->cand[best], now, "execution: best of the probe");
  c->ph = PH_EXEC;
  atomic_store_explicit(&c->next, n + (uint64_t)c->cfg.exec_steps, memory_order_relaxed);
}

static void probe_on_accept(void *impl, uint64_t n, uint64_t now) {
  prober *c = impl;
  if (n < atomic_load_explicit(&c->next, memory_order_relaxed)) return;
  PSGD_CHECK(pthread_mutex_lock(&c->mu) == 0);
  if (n < atomic_load_explicit(&c->next, memory_order_relaxed)) goto out; /* another acted */
  double s;
  uint64_t cnt;
  c->cfg.loss(c->cfg.loss_ctx, &s, &cnt);
  switch (c->ph) {
  case PH_EXEC:
    make_window(c);
    c->j = 0;
    start_candidate(c, n, now, s, cnt);
    break;
  case PH_FIRST_HALF:
    c->s1 = s;
    c->c1 = cnt;
    c->ph = PH_SECOND_HALF;
    atomic_store_explicit(&c->next, n + (uint64_t)(c->cfg.probe_steps - c->cfg.probe_steps / 2),
                          memory_order_relaxed);
    break;
  case PH_SECOND_HALF: {
    double dt = (double)(now - c->t0) * 1e-9 / 2;
    double r = -INFINITY;
    if (c->c1 > c->c0 && cnt > c->c1 && dt > 0) {
      double l1 = (c->s1 - c->s0) / (double)(c->c1 - c->c0);
      double l2 = (s - c->s1) / (double)(cnt - c->c1);
      r = (l1 - l2) / dt;
      if (!isfinite(r)) r = -INFINITY;
    }
    c->rate[c->j] = r;
    if (++c->j < c->n_cand) start_candidate(c, n, now, s, cnt);
    else verdict(c, n, now);
    break;
  }
  }
out:
  PSGD_CHECK(pthread_mutex_unlock(&c->mu) == 0);
}

const ctl_ops ctl_probing_ops = {
    .name = "probing",
    .help = "y-probing: window probing over y (paper Sec. 4.1)",
    .over_m = 0,
    .needs_y = 1,
    .create = probing_create,
    .destroy = probe_destroy,
    .on_accept = probe_on_accept,
};

const ctl_ops ctl_elastic_ops = {
    .name = "elastic",
    .help = "elastic parallelism: window probing over m (ElAsyncSGD)",
    .over_m = 1,
    .needs_y = 0,
    .create = elastic_create,
    .destroy = probe_destroy,
    .on_accept = probe_on_accept,
};

/* step.c - the one Alg. 1 step (step.h) and the run state both clocks share:
 * setup and teardown, the two halves of a step, events,
 * the monitor's poll (stop conditions, running loss, evaluation snapshots)
 * and the run's result. */
#define _GNU_SOURCE
#include "step.h"

#include <math.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"

#define SNAP_BUDGET ((size_t)256 << 20)

/* ------------------------------------------------------------ events ---- */

void step_event(step_run *P, uint64_t now_abs, const char *kind, double value,
                const char *detail) {
  int i = atomic_fetch_add_explicit(&P->n_events, 1, memory_order_relaxed);
  if (i >= STEP_EVENT_CAP) {
    atomic_fetch_add_explicit(&P->events_lost, 1, memory_order_relaxed);
    return;
  }
  event_rec *e = &P->events[i];
  memset(e, 0, sizeof *e);
  e->t_ns = now_abs > P->t0 ? now_abs - P->t0 : 0;
  snprintf(e->kind, sizeof e->kind, "%s", kind);
  e->value = value;
  if (detail) snprintf(e->detail, sizeof e->detail, "%s", detail);
}

/* ctl_event_fn: controllers stamp absolute times (t0_ns = 0 in their cfg). */
static void ctl_event_sink(void *ctx, const event_rec *e) {
  step_event(ctx, e->t_ns, e->kind, e->value, e->detail);
}

static void loss_totals(step_run *P, double *sum, uint64_t *count) {
  double s = 0;
  uint64_t n = 0;
  for (int i = 0; i < P->cfg->n_workers; i++) {
    s += atomic_load_explicit(&P->w[i].loss_sum, memory_order_relaxed);
    n += atomic_load_explicit(&P->w[i].loss_cnt, memory_order_relaxed);
  }
  *sum = s;
  *count = n;
}

static void ctl_loss_source(void *ctx, double *sum, uint64_t *count) {
  loss_totals(ctx, sum, count);
}

void step_stop(step_run *P, run_status s) {
  int expect = STEP_STATUS_RUNNING;
  if (!atomic_compare_exchange_strong_explicit(&P->status, &expect, (int)s,
                                               memory_order_relaxed, memory_order_relaxed))
    return;
  disp_stop(P->d);
  if (P->on_stop) P->on_stop(P->stop_ctx);
}

int step_running(step_run *P) {
  return atomic_load_explicit(&P->status, memory_order_relaxed) == STEP_STATUS_RUNNING;
}

/* owner-only counter bump: no lock prefix needed */
static inline void bump(_Atomic uint64_t *x) {
  atomic_store_explicit(x, atomic_load_explicit(x, memory_order_relaxed) + 1,
                        memory_order_relaxed);
}

/* --------------------------------------------------------------- step --- */

/* The round's update from the gradients of workers 0..n-1 (the dispatcher's
 * reduction, disp_reduce). */
static const float *reduce(step_run *P, int n) {
  for (int k = 0; k < n; k++) P->red_in[k] = P->w[k].grad;
  return disp_reduce(P->d, P->red_in, n, P->prob->d, P->red);
}

int step_start(step_run *P, step_worker *W, step_state *S) {
  const int w = W->id;
  if (!disp_try_start(P->d, w, &S->t)) return 0; /* sleeps while w >= m */
  S->ts = P->now(P->clock_ctx);
  bump(&W->started);
  S->vr = 0;
  S->theta = NULL;
  S->loss = NAN;
  S->g = NULL;
  return 1;
}

void step_read(step_run *P, step_worker *W, step_state *S) {
  /* Alg. 1 line 4: local copy of theta (or a consistent shared version) */
  S->theta = ps_read_begin(P->store, W->id, W->local, &S->vr);
}

int step_begin(step_run *P, step_worker *W, step_state *S) {
  if (!step_start(P, W, S)) return 0;
  step_read(P, W, S);
  return 1;
}

int step_finish(step_run *P, step_worker *W, step_state *S) {
  const par_config *c = P->cfg;
  const int w = W->id;
  ps_read_end(P->store, w);
  /* line 7 */
  const int v = disp_finish(P->d, w, &S->t);
  if (c->after_finish) c->after_finish(c->after_finish_ctx, w, v);
  S->verdict = v;
  S->accepted = 0;
  S->va = 0;
  return v;
}

const float *step_update(step_run *P, step_worker *W, step_state *S) {
  if (!S->g)
    S->g = S->verdict == DISP_REDUCE ? reduce(P, (int)S->t.m) : W->grad;
  return S->g;
}

void step_applied(step_run *P, step_worker *W, step_state *S, int applied, uint64_t va) {
  S->va = va;
  /* sync: the round's update counts as accepted even if a store dropped it */
  S->accepted = S->verdict == DISP_REDUCE ? 1 : applied;
  if (!P->defer_done) disp_done(P->d, W->id, &S->t);
}

void step_apply(step_run *P, step_worker *W, step_state *S) {
  uint64_t va = 0;
  switch (S->verdict) {
  case DISP_APPLY: /* line 8 */
  case DISP_REDUCE: {
    int applied = ps_apply(P->store, W->id, step_update(P, W, S), S->vr, &va);
    step_applied(P, W, S, applied, va);
    break;
  }
  case DISP_CONTRIB:
    S->va = S->vr; /* one update of the round, all on the same theta: tau = 0 */
    S->accepted = 1;
    break;
  default:
    S->va = ps_version(P->store);
    break;
  }
}

void step_complete(step_run *P, step_worker *W, step_state *S) {
  const par_config *c = P->cfg;
  const int w = W->id;
  const disp_ticket *t = &S->t;
  const float loss = S->loss;
  const uint64_t vr = S->vr, va = S->va;
  const int accepted = S->accepted, v = S->verdict;
  const uint64_t te = P->now(P->clock_ctx);
  if (accepted) {
    uint64_t n = atomic_fetch_add_explicit(&P->accepted_total, 1, memory_order_relaxed) + 1;
    atomic_store_explicit(&W->loss_sum,
                          atomic_load_explicit(&W->loss_sum, memory_order_relaxed) + loss,
                          memory_order_relaxed);
    bump(&W->loss_cnt);
    bump(&W->accepted);
    if (P->cy) ctl_on_accept(P->cy, n, te);
    if (P->cm) ctl_on_accept(P->cm, n, te);
    if (c->max_steps && n >= c->max_steps) step_stop(P, RUN_OK);
  } else if (v == DISP_REJECT) {
    bump(&W->rejected);
  } else {
    bump(&W->dropped);
  }
  if (c->log) {
    step_rec r;
    memset(&r, 0, sizeof r);
    r.worker = w;
    r.step = t->i;
    r.finish = atomic_fetch_add_explicit(&P->finish_order, 1, memory_order_relaxed);
    r.t_start_ns = S->ts - P->t0;
    r.t_end_ns = te - P->t0;
    r.version_read = vr;
    r.version_apply = va;
    r.interval = t->interval;
    r.staleness = (int64_t)(va - vr);
    r.loss = loss;
    r.pu = P->virtual_clock ? -1 : sched_getcpu();
    r.y = t->y;
    r.m = t->m;
    r.accepted = (uint8_t)accepted;
    /* the virtual clock's one loop thread pushes every worker's records
     * into one chain (log created for 1 worker): rows in finish order, and
     * no chunk per worker (4096 x 352 KiB) */
    steplog_push(c->log, P->virtual_clock ? 0 : w, &r);
  }
  if (!isfinite(loss) || (P->div_limit > 0 && loss > P->div_limit)) {
    if (step_running(P)) step_event(P, te, "diverged", loss, "minibatch loss non-finite or exploding");
    step_stop(P, RUN_DIVERGED);
  }
}

void step_end(step_run *P, step_worker *W, step_state *S) {
  step_finish(P, W, S);
  step_apply(P, W, S);
  step_complete(P, W, S);
}

void step_done(step_run *P, step_worker *W, step_state *S) { disp_done(P->d, W->id, &S->t); }

/* ------------------------------------------------------------ monitor --- */

/* The next snapshot buffer: preallocated, else grown within the budget;
 * NULL when the budget is spent. */
static float *snap_buffer(step_run *P) {
  int i = P->n_snaps;
  if (P->snaps[i].theta) return P->snaps[i].theta;
  size_t budget = P->cfg->snap_budget_bytes ? P->cfg->snap_budget_bytes : SNAP_BUDGET;
  if ((size_t)(P->n_snap_bufs + 1) * P->snap_bytes > budget) return NULL;
  if (!(P->snaps[i].theta = psgd_alloc(P->snap_bytes))) return NULL;
  P->n_snap_bufs++;
  return P->snaps[i].theta;
}

/* One evaluation point: a snapshot for after the run, or (target accuracy,
 * or no snapshot memory left) an evaluation now. */
static void eval_point(step_run *P, uint64_t now, uint64_t acc, double train_loss) {
  const par_config *c = P->cfg;
  if (P->n_snaps >= P->cap_snaps) return;
  par_snap *s = &P->snaps[P->n_snaps];
  s->e.t_ns = now - P->t0;
  s->e.steps_accepted = acc;
  s->e.epoch = c->steps_per_epoch > 0 ? (double)acc / c->steps_per_epoch : 0.0;
  s->e.train_loss = train_loss;
  s->e.test_loss = NAN;
  s->e.test_acc = NAN;
  float *buf = c->target_acc > 0 ? NULL : snap_buffer(P);
  if (buf) {
    ps_snapshot(P->store, c->n_workers, buf);
  } else if (c->eval_online && P->eval_buf) {
    ps_snapshot(P->store, c->n_workers, P->eval_buf);
    if (c->eval_online(c->eval_ctx, P->eval_buf, &s->e.test_loss, &s->e.test_acc) == 0)
      P->online_evals++;
  }
  P->n_snaps++;
  double el = (double)(now - P->t0) * 1e-9;
  if (c->on_eval) c->on_eval(c->on_eval_ctx, &s->e, el > 0 ? (double)acc / el : 0.0);
  if (c->target_acc > 0 && s->e.test_acc >= c->target_acc) {
    step_event(P, now, "target_acc", s->e.test_acc, "target accuracy reached");
    step_stop(P, RUN_CONVERGED);
  }
}

/* Remembers the loss totals of one monitor poll. */
static void ring_push(step_run *P, double s, uint64_t n) {
  P->ring_s[P->ring_i] = s;
  P->ring_c[P->ring_i] = n;
  P->ring_i = (P->ring_i + 1) % STEP_LOSS_RING;
  if (P->ring_n < STEP_LOSS_RING) P->ring_n++;
}

/* Mean minibatch loss over the most recent polls covering >= LOSS_WINDOW
 * accepted steps, given the totals now. Fewer steps than that: over all of
 * them while the ring still holds the first poll, else over the oldest poll
 * it remembers (LOSS_RING x POLL_NS ago). Slow runs (large batches, many
 * threads per core) make < LOSS_WINDOW steps in that span; a mean since the
 * start would keep their first, high losses in it forever and delay their
 * epsilon stop by seconds. */
static double running_loss(const step_run *P, double s, uint64_t n) {
  for (int k = 1; k <= P->ring_n; k++) {
    int j = (P->ring_i - k + STEP_LOSS_RING) % STEP_LOSS_RING;
    uint64_t dn = n - P->ring_c[j];
    if (dn >= STEP_LOSS_WINDOW) return (s - P->ring_s[j]) / (double)dn;
  }
  if (P->ring_n == STEP_LOSS_RING) {
    int j = P->ring_i; /* the oldest entry, overwritten next */
    uint64_t dn = n - P->ring_c[j];
    if (dn > 0) return (s - P->ring_s[j]) / (double)dn;
  }
  return n ? s / (double)n : NAN;
}

void step_monitor_init(step_run *P, step_monitor *M) {
  const par_config *c = P->cfg;
  memset(M, 0, sizeof *M);
  M->every_ns = c->eval_every_s > 0 ? (uint64_t)(c->eval_every_s * 1e9) : 0;
  M->next_eval_ns = M->every_ns ? P->t0 + M->every_ns : UINT64_MAX;
  M->next_eval_steps = c->eval_every_steps ? c->eval_every_steps : UINT64_MAX;
  M->deadline = c->max_seconds > 0 ? P->t0 + (uint64_t)(c->max_seconds * 1e9) : UINT64_MAX;
}

uint64_t step_monitor_wake(const step_monitor *M, uint64_t now) {
  uint64_t wake = now + STEP_POLL_NS;
  if (M->next_eval_ns < wake) wake = M->next_eval_ns;
  if (M->deadline < wake) wake = M->deadline;
  return wake;
}

void step_monitor_tick(step_run *P, step_monitor *M, uint64_t now) {
  const par_config *c = P->cfg;
  if (c->stop_flag && atomic_load_explicit(c->stop_flag, memory_order_relaxed))
    step_stop(P, RUN_INTERRUPTED);
  if (now >= M->deadline) step_stop(P, RUN_OK);

  /* running training loss: mean over the last >= LOSS_WINDOW accepted steps */
  double s;
  uint64_t n;
  loss_totals(P, &s, &n);
  double rl = running_loss(P, s, n);
  ring_push(P, s, n);
  if (c->epsilon > 0 && c->initial_loss > 0 && n >= STEP_LOSS_WINDOW && step_running(P) &&
      rl <= c->epsilon * c->initial_loss) {
    step_event(P, now, "epsilon", rl, "running train loss <= epsilon x initial");
    step_stop(P, RUN_CONVERGED);
  }

  uint64_t acc = atomic_load_explicit(&P->accepted_total, memory_order_relaxed);
  if (step_running(P) && (now >= M->next_eval_ns || acc >= M->next_eval_steps)) {
    double tl = n > M->eval_cnt ? (s - M->eval_sum) / (double)(n - M->eval_cnt) : rl;
    M->eval_sum = s;
    M->eval_cnt = n;
    eval_point(P, now, acc, tl);
    while (M->next_eval_ns <= now) M->next_eval_ns += M->every_ns ? M->every_ns : UINT64_MAX;
    while (M->next_eval_steps <= acc) M->next_eval_steps += c->eval_every_steps;
  }
}

/* ---------------------------------------------------------- lifecycle --- */

int step_run_create(step_run **out, const par_problem *pr, const par_config *c, char *err,
                    size_t errlen) {
  *out = NULL;
  if (!pr || !pr->grad || pr->d == 0 || !pr->theta0)
    return psgd_err(err, errlen, "par_run: the problem needs d > 0, theta0 and a gradient");
  if (!c->disp || !c->store)
    return psgd_err(err, errlen, "par_run: no dispatcher or param store");
  if (c->n_workers < 1 || c->m0 < 1 || c->m0 > c->n_workers)
    return psgd_err(err, errlen, "par_run: %d workers with m = %d (need 1 <= m <= workers)",
                    c->n_workers, c->m0);
  if (c->target_acc > 0 && !c->eval_online)
    return psgd_err(err, errlen, "par_run: target accuracy needs online evaluation");

  const int nw = c->n_workers;
  step_run *P = psgd_calloc(sizeof *P);
  if (!P) return psgd_err(err, errlen, "par_run: out of memory");
  P->prob = pr;
  P->cfg = c;
  atomic_init(&P->status, STEP_STATUS_RUNNING);
  atomic_init(&P->accepted_total, 0);
  atomic_init(&P->finish_order, 0);
  atomic_init(&P->n_events, 0);
  atomic_init(&P->events_lost, 0);
  P->div_limit = c->initial_loss > 0
                     ? (c->diverge_factor > 0 ? c->diverge_factor : 1e3) * c->initial_loss
                     : 0;

  P->w = psgd_calloc((size_t)nw * sizeof *P->w);
  P->events = calloc(STEP_EVENT_CAP, sizeof *P->events);
  if (!P->w || !P->events) {
    psgd_err(err, errlen, "par_run: out of memory for %d workers", nw);
    goto fail;
  }
  for (int i = 0; i < nw; i++) {
    P->w[i].P = P;
    P->w[i].id = i;
    P->w[i].pu = -1;
    atomic_init(&P->w[i].loss_sum, 0.0);
  }
  if (c->disp->needs_reduce) {
    P->red = psgd_alloc(pr->d * sizeof *P->red);
    P->red_in = calloc((size_t)nw, sizeof *P->red_in);
    if (!P->red || !P->red_in) {
      psgd_err(err, errlen, "par_run: out of memory for the sync reduction");
      goto fail;
    }
  }

  disp_cfg dc = {nw, c->m0, c->y0, c->on_open, c->on_open_ctx};
  if (!(P->d = disp_create(c->disp, &dc, err, errlen))) goto fail;
  ps_cfg sc = {pr->d, nw + 1, pr->theta0, c->opt, c->backoff, c->ps_bound, c->seed};
  if (!(P->store = ps_create(c->store, &sc, err, errlen))) goto fail;
  ctl_cfg cc;
  memset(&cc, 0, sizeof cc);
  cc.d = P->d;
  cc.y0 = c->y0;
  cc.m0 = c->m0;
  cc.m_max = nw;
  cc.decay_k = c->decay_k;
  cc.window = c->window;
  cc.probe_steps = c->probe_steps;
  cc.exec_steps = c->exec_steps;
  cc.event = ctl_event_sink;
  cc.event_ctx = P;
  cc.loss = ctl_loss_source;
  cc.loss_ctx = P;
  cc.t0_ns = 0;
  if (c->ctl_y && c->ctl_y->on_accept && !(P->cy = ctl_create(c->ctl_y, &cc, err, errlen)))
    goto fail;
  if (c->ctl_m && c->ctl_m->on_accept && !(P->cm = ctl_create(c->ctl_m, &cc, err, errlen)))
    goto fail;

  /* evaluation snapshots */
  P->snap_bytes = pr->d * sizeof(float);
  size_t budget = c->snap_budget_bytes ? c->snap_budget_bytes : SNAP_BUDGET;
  size_t cap = budget / P->snap_bytes;
  if (cap < 2) cap = 2;
  if (cap > 100000) cap = 100000;
  P->cap_snaps = (int)cap + 1;
  P->snaps = calloc((size_t)P->cap_snaps, sizeof *P->snaps);
  if (!P->snaps) {
    psgd_err(err, errlen, "par_run: out of memory for evaluation snapshots");
    goto fail;
  }
  int pre = c->snap_prealloc < P->cap_snaps ? c->snap_prealloc : P->cap_snaps;
  for (int i = 0; i < pre; i++) {
    if (!(P->snaps[i].theta = psgd_alloc(P->snap_bytes))) {
      psgd_err(err, errlen, "par_run: out of memory for %d evaluation snapshots", pre);
      goto fail;
    }
    memset(P->snaps[i].theta, 0, P->snap_bytes); /* prefault outside the run */
    P->n_snap_bufs++;
  }
  if (c->eval_online && !(P->eval_buf = psgd_alloc(P->snap_bytes))) {
    psgd_err(err, errlen, "par_run: out of memory for online evaluation");
    goto fail;
  }
  *out = P;
  return 0;
fail:
  step_run_free(P);
  return -1;
}

void step_run_free(step_run *P) {
  if (!P) return;
  const par_problem *pr = P->prob;
  for (int i = 0; P->w && i < P->cfg->n_workers; i++) {
    if (P->w[i].ws && pr->ws_free) pr->ws_free(pr->ctx, P->w[i].ws);
    psgd_free(P->w[i].local);
    psgd_free(P->w[i].grad);
  }
  if (P->snaps) {
    for (int i = 0; i < P->cap_snaps; i++) psgd_free(P->snaps[i].theta);
    free(P->snaps);
  }
  ctl_free(P->cm);
  ctl_free(P->cy);
  ps_free(P->store);
  disp_free(P->d);
  psgd_free(P->red);
  free(P->red_in);
  psgd_free(P->eval_buf);
  free(P->events);
  psgd_free(P->w);
  psgd_free(P);
}

int step_run_result(step_run *P, uint64_t t_end, par_result *res, float *theta_out, char *err,
                    size_t errlen) {
  const int nw = P->cfg->n_workers;
  res->status = (run_status)atomic_load_explicit(&P->status, memory_order_relaxed);
  res->wall_s = (double)(t_end - P->t0) * 1e-9;
  for (int i = 0; i < nw; i++) {
    step_worker *W = &P->w[i];
    res->steps_started += atomic_load_explicit(&W->started, memory_order_relaxed);
    res->steps_accepted += atomic_load_explicit(&W->accepted, memory_order_relaxed);
    res->steps_rejected += atomic_load_explicit(&W->rejected, memory_order_relaxed);
    res->steps_dropped += atomic_load_explicit(&W->dropped, memory_order_relaxed);
  }
  double s;
  uint64_t n;
  loss_totals(P, &s, &n);
  res->final_train_loss = running_loss(P, s, n);
  ps_get_stats(P->store, &res->store);
  if (theta_out) ps_snapshot(P->store, nw, theta_out);
  res->pu = malloc((size_t)nw * sizeof *res->pu);
  res->bound = malloc((size_t)nw * sizeof *res->bound);
  if (!res->pu || !res->bound) {
    free(res->pu);
    free(res->bound);
    res->pu = res->bound = NULL;
    return psgd_err(err, errlen, "par_run: out of memory for the result");
  }
  for (int i = 0; i < nw; i++) {
    res->pu[i] = P->w[i].pu;
    res->bound[i] = P->w[i].bound;
  }
  res->n_events = atomic_load_explicit(&P->n_events, memory_order_relaxed);
  if (res->n_events > STEP_EVENT_CAP) res->n_events = STEP_EVENT_CAP;
  res->events_lost = atomic_load_explicit(&P->events_lost, memory_order_relaxed);
  res->events = P->events;
  P->events = NULL;
  /* hand over the recorded snapshots; the unused buffers are freed with P */
  res->n_snaps = P->n_snaps;
  res->snaps = calloc((size_t)(P->n_snaps > 0 ? P->n_snaps : 1), sizeof *res->snaps);
  if (!res->snaps) {
    par_result_free(res);
    return psgd_err(err, errlen, "par_run: out of memory for the result");
  }
  for (int i = 0; i < P->n_snaps; i++) {
    res->snaps[i] = P->snaps[i];
    P->snaps[i].theta = NULL;
  }
  res->online_evals = P->online_evals;
  return 0;
}

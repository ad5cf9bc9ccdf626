/* engine.c - executes one run spec with m worker threads (paper Alg. 1).
 *
 * Worker loop: try_start -> copy theta through the param store (version_read)
 * -> gradient on GETBATCH(i) -> finish -> apply if accepted (version_apply)
 * -> one step record into the worker's steplog buffer. Sync rounds (lock-step
 * data-parallel) gather the round's m gradients, average them and apply once.
 *
 * Evaluation does not run on the workers' cores during the run: a monitor
 * thread sleeps, wakes every eval_every_s to snapshot theta into preallocated
 * buffers (plus time, accepted steps, the running training loss), and checks
 * the stop conditions; snapshots are evaluated on the test set after the
 * workers are joined. Only when target_acc is set does the monitor evaluate
 * during the run (it must know the accuracy to stop).
 *
 * Controllers: y-decay runs on accepted-step counts inside the worker that
 * accepts the K-th step (no lock: exactly one worker sees each multiple of K).
 * Thread placement: "os" only in this version (hw/ binding is not linked in
 * yet); other placements are refused with a clear message. */
#define _GNU_SOURCE
#include "engine.h"

#include <math.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "common.h"
#include "data.h"
#include "disp.h"
#include "model.h"
#include "optim.h"
#include "ps.h"
#include "steplog.h"
#include "train_seq.h"

#define MAX_EVENTS 4096
#define DIVERGE_FACTOR 100.0
#define EMA 0.05

typedef struct {
  _Alignas(64) _Atomic double ema; /* running minibatch loss of this worker */
  _Atomic uint64_t n;
} wstat;

typedef struct {
  uint64_t t_ns, accepted;
  double train_loss;
  float *theta;
} snapshot;

typedef struct eng eng;
typedef struct {
  eng *e;
  int w;
  pthread_t tid;
} worker_arg;

struct eng {
  const run_spec *s;
  dataset ds;
  model *m;
  ps *p;
  disp d;
  optim_spec o;
  steplog *log;
  size_t dim, np;
  int n_threads;
  uint64_t t0;
  double initial_loss;
  uint64_t max_accepted;
  int record;
  _Alignas(64) _Atomic int stop;
  _Atomic int diverged;
  _Alignas(64) _Atomic uint64_t accepted;
  _Alignas(64) _Atomic uint64_t finished;
  _Alignas(64) _Atomic uint64_t started;
  wstat *ws;
  /* events: preallocated, one atomic slot index */
  event_rec *events;
  _Atomic int n_events;
  /* parked workers (w >= m) sleep here, never spin */
  pthread_mutex_t park_mu;
  pthread_cond_t park_cv;
  /* sync rounds */
  pthread_mutex_t sy_mu;
  pthread_cond_t sy_cv;
  float *sy_sum;
  int sy_arrived;
  uint64_t sy_round, sy_version;
  const _Atomic int *user_stop;
};

static void add_event(eng *e, uint64_t t_ns, const char *kind, double value, const char *detail) {
  int k = atomic_fetch_add_explicit(&e->n_events, 1, memory_order_relaxed);
  if (k >= MAX_EVENTS) return; /* counted; the overflow is reported at the end */
  event_rec *ev = &e->events[k];
  ev->t_ns = t_ns;
  snprintf(ev->kind, sizeof ev->kind, "%s", kind);
  ev->value = value;
  snprintf(ev->detail, sizeof ev->detail, "%s", detail ? detail : "");
}

static void request_stop(eng *e) {
  /* release: pairs with the workers' acquire loads of stop */
  atomic_store_explicit(&e->stop, 1, memory_order_release);
  pthread_mutex_lock(&e->park_mu);
  pthread_cond_broadcast(&e->park_cv);
  pthread_mutex_unlock(&e->park_mu);
  pthread_mutex_lock(&e->sy_mu);
  pthread_cond_broadcast(&e->sy_cv);
  pthread_mutex_unlock(&e->sy_mu);
}

static int stopping(eng *e) { return atomic_load_explicit(&e->stop, memory_order_acquire); }

static void note_loss(eng *e, int w, float loss) {
  wstat *st = &e->ws[w];
  uint64_t n = atomic_load_explicit(&st->n, memory_order_relaxed);
  double prev = atomic_load_explicit(&st->ema, memory_order_relaxed);
  double v = n == 0 ? loss : (1 - EMA) * prev + EMA * loss;
  atomic_store_explicit(&st->ema, v, memory_order_relaxed);
  atomic_store_explicit(&st->n, n + 1, memory_order_relaxed);
  if (!isfinite(loss) || loss > DIVERGE_FACTOR * fmax(e->initial_loss, 1.0)) {
    if (!atomic_exchange(&e->diverged, 1))
      add_event(e, psgd_now_ns() - e->t0, "diverged", loss, "minibatch loss non-finite or exploding");
    request_stop(e);
  }
}

static double train_loss_estimate(eng *e) {
  double sum = 0;
  int n = 0;
  for (int w = 0; w < e->n_threads; w++)
    if (atomic_load_explicit(&e->ws[w].n, memory_order_relaxed) > 0) {
      sum += atomic_load_explicit(&e->ws[w].ema, memory_order_relaxed);
      n++;
    }
  return n ? sum / n : NAN;
}

/* y-decay (paper Sec. 4.1): y -= 1 every K accepted steps, floor 1. Called by
 * the one worker whose accept made the count a multiple of K. */
static void controller_on_accept(eng *e, uint64_t count) {
  const run_spec *s = e->s;
  if (e->d.kind == DISP_INTERVAL && !strcmp(s->y_control, "decay") && s->y_decay_k > 0 &&
      count % (uint64_t)s->y_decay_k == 0) {
    uint32_t y = atomic_load_explicit(&e->d.y_next, memory_order_relaxed);
    if (y > 1) {
      disp_set_y(&e->d, y - 1);
      add_event(e, psgd_now_ns() - e->t0, "y", y - 1, "y-decay");
    }
  }
}

typedef struct {
  float *theta, *grad, *xb;
  uint8_t *yb;
  int *idx;
  model_ws *mws;
} wbuf;

static void wbuf_free(wbuf *b) {
  psgd_free(b->theta);
  psgd_free(b->grad);
  psgd_free(b->xb);
  free(b->yb);
  free(b->idx);
  model_ws_free(b->mws);
}

static int wbuf_alloc(eng *e, wbuf *b) {
  int B = e->s->batch;
  b->theta = psgd_alloc(e->np * sizeof(float));
  b->grad = psgd_alloc(e->np * sizeof(float));
  b->xb = psgd_alloc((size_t)B * e->dim * sizeof(float));
  b->yb = malloc((size_t)B);
  b->idx = malloc((size_t)B * sizeof(int));
  b->mws = model_ws_create(e->m, B);
  return b->theta && b->grad && b->xb && b->yb && b->idx && b->mws ? 0 : -1;
}

static void park(eng *e, int w) {
  pthread_mutex_lock(&e->park_mu);
  while (w >= disp_m(&e->d) && !stopping(e)) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_nsec += 20 * 1000000L;
    if (ts.tv_nsec >= 1000000000L) ts.tv_sec++, ts.tv_nsec -= 1000000000L;
    pthread_cond_timedwait(&e->park_cv, &e->park_mu, &ts);
  }
  pthread_mutex_unlock(&e->park_mu);
}

/* Sync: add this worker's gradient to the round; the last to arrive applies
 * the average (one update, tau 0) and opens the next round. Returns 1 and the
 * round's version in *v when the round completed; 0 when the stop flag
 * released this worker from a round that will never complete (no hang at
 * shutdown; that gradient is recorded as not accepted). */
static int sync_round(eng *e, const float *grad, int members, uint64_t *v) {
  pthread_mutex_lock(&e->sy_mu);
  uint64_t round = e->sy_round;
  for (size_t j = 0; j < e->np; j++) e->sy_sum[j] += grad[j];
  if (++e->sy_arrived == members) {
    float inv = 1.0f / (float)members;
    for (size_t j = 0; j < e->np; j++) e->sy_sum[j] *= inv;
    e->sy_version = ps_apply_lr(e->p, e->sy_sum, optim_lr(&e->o, 0));
    memset(e->sy_sum, 0, e->np * sizeof(float));
    e->sy_arrived = 0;
    e->sy_round++;
    pthread_cond_broadcast(&e->sy_cv);
  } else {
    while (e->sy_round == round && !stopping(e)) pthread_cond_wait(&e->sy_cv, &e->sy_mu);
  }
  int done = e->sy_round != round;
  *v = e->sy_version;
  pthread_mutex_unlock(&e->sy_mu);
  return done;
}

static void *worker_main(void *arg) {
  worker_arg *wa = arg;
  eng *e = wa->e;
  const int w = wa->w, B = e->s->batch, n = e->ds.train.n;
  wbuf b = {0};
  if (wbuf_alloc(e, &b) != 0) {
    add_event(e, 0, "error", w, "worker out of memory");
    request_stop(e);
    wbuf_free(&b);
    return NULL;
  }
  uint64_t rng = e->s->seed * 0x9e3779b97f4a7c15ull + (uint64_t)w + 1;
  const int is_sync = e->d.kind == DISP_SYNC;
  while (!stopping(e)) {
    uint64_t i;
    if (!disp_try_start(&e->d, w, &i)) {
      park(e, w);
      continue;
    }
    uint64_t t_start = psgd_now_ns() - e->t0;
    uint64_t vr = ps_read(e->p, b.theta);
    data_batch_indices(n, e->s->seed, i, B, b.idx);
    data_gather(&e->ds.train, b.idx, B, b.xb, b.yb);
    float loss = model_loss_grad(e->m, b.mws, b.theta, b.xb, b.yb, B, b.grad);
    step_rec r = {0};
    r.step = i;
    r.worker = w;
    r.version_read = vr;
    r.loss = loss;
    r.m = (uint32_t)disp_m(&e->d);
    if (is_sync) {
      if (stopping(e)) break;
      r.accepted = (uint8_t)sync_round(e, b.grad, e->n_threads, &r.version_apply);
      if (!r.accepted) r.version_apply = vr;
    } else {
      uint32_t y;
      r.accepted = (uint8_t)disp_finish(&e->d, i, &r.interval, &y);
      r.y = y;
      if (r.accepted) {
        r.version_apply = ps_apply(e->p, b.grad, vr, &rng);
        disp_applied(&e->d);
      } else {
        r.version_apply = ps_version(e->p);
      }
    }
    r.staleness = (int64_t)(r.version_apply - vr);
    r.finish = atomic_fetch_add_explicit(&e->finished, 1, memory_order_relaxed);
    r.t_end_ns = psgd_now_ns() - e->t0;
    r.t_start_ns = t_start;
    r.pu = sched_getcpu();
    atomic_fetch_add_explicit(&e->started, 1, memory_order_relaxed);
    if (e->record) steplog_push(e->log, w, &r);
    note_loss(e, w, loss);
    if (r.accepted && (!is_sync || w == 0)) {
      /* sync: one update per round, counted once (by worker 0) */
      uint64_t c = atomic_fetch_add_explicit(&e->accepted, 1, memory_order_relaxed) + 1;
      controller_on_accept(e, c);
      if (c >= e->max_accepted) request_stop(e);
    }
    if (e->user_stop && atomic_load_explicit(e->user_stop, memory_order_relaxed)) request_stop(e);
  }
  wbuf_free(&b);
  return NULL;
}

static void sleep_ns(uint64_t ns) {
  struct timespec ts = {(time_t)(ns / 1000000000ull), (long)(ns % 1000000000ull)};
  nanosleep(&ts, NULL);
}

static void evaluate(eng *e, model_ws *ws, const float *theta, double *loss, double *acc) {
  int nt = e->ds.test.n;
  if (e->s->eval_test_limit > 0 && e->s->eval_test_limit < nt) nt = e->s->eval_test_limit;
  int correct = 0;
  *loss = model_evaluate(e->m, ws, theta, e->ds.test.x, e->ds.test.y, nt, &correct);
  *acc = nt ? (double)correct / nt : 0;
}

int engine_run(const run_spec *s, const engine_io *io, run_result *res, char *err,
               size_t errlen) {
  memset(res, 0, sizeof *res);
  eng *e = psgd_calloc(sizeof *e);
  if (!e) return psgd_err(err, errlen, "out of memory");
  int rc = -1;
  worker_arg *wa = NULL;
  snapshot *snaps = NULL;
  int n_snaps = 0, cap_snaps = 0, n_started = 0;
  model_ws *eval_ws = NULL;
  float *theta0 = NULL;
  eval_rec *evals = NULL;
  e->s = s;
  e->user_stop = io ? io->stop_flag : NULL;
  pthread_mutex_init(&e->park_mu, NULL);
  pthread_cond_init(&e->park_cv, NULL);
  pthread_mutex_init(&e->sy_mu, NULL);
  pthread_cond_init(&e->sy_cv, NULL);

  disp_kind dk;
  ps_kind pk;
  ps_backoff bo;
  if (disp_parse(s->dispatcher, &dk) != 0) {
    psgd_err(err, errlen, "unknown dispatcher '%s'", s->dispatcher);
    goto out;
  }
  if (ps_parse(s->store, &pk) != 0 || ps_backoff_parse(s->backoff, &bo) != 0) {
    psgd_err(err, errlen, "unknown store '%s' or backoff '%s'", s->store, s->backoff);
    goto out;
  }
  if (strcmp(s->placement, "os") != 0) {
    psgd_err(err, errlen,
             "placement '%s' needs hw/ thread binding, which is not linked in this version; "
             "use placement \"os\"", s->placement);
    goto out;
  }
  if (s->elastic || !strcmp(s->y_control, "probing")) {
    psgd_err(err, errlen, "%s is not built in this version",
             s->elastic ? "the elastic controller (ElAsyncSGD)" : "y-probing");
    goto out;
  }
  if (s->threads < 1 || s->batch < 1) {
    psgd_err(err, errlen, "threads and batch must be >= 1");
    goto out;
  }
  if (train_load_data(s, &e->ds, err, errlen) != 0) goto out;
  model_blas_init();
  model_spec ms = train_model_spec(s, &e->ds);
  if (!(e->m = model_create(&ms, err, errlen))) goto out;
  if (train_optim_spec(s, &e->o, err, errlen) != 0) goto out;
  e->np = model_n_params(e->m);
  e->dim = (size_t)data_dim(&e->ds.train);
  e->n_threads = s->threads;
  theta0 = psgd_alloc(e->np * sizeof(float));
  eval_ws = model_ws_create(e->m, 256);
  e->ws = psgd_calloc((size_t)e->n_threads * sizeof *e->ws);
  e->events = psgd_calloc(MAX_EVENTS * sizeof *e->events);
  e->sy_sum = dk == DISP_SYNC ? psgd_calloc(e->np * sizeof(float)) : NULL;
  wa = calloc((size_t)e->n_threads, sizeof *wa);
  if (!theta0 || !eval_ws || !e->ws || !e->events || !wa || (dk == DISP_SYNC && !e->sy_sum)) {
    psgd_err(err, errlen, "out of memory for %d workers", e->n_threads);
    goto out;
  }
  model_init(e->m, theta0, s->seed);
  if (!(e->p = ps_create(pk, bo, theta0, e->np, &e->o, err, errlen))) goto out;
  disp_init(&e->d, dk, (uint32_t)(s->y0 > DISP_Y_MAX ? DISP_Y_MAX : s->y0 < 1 ? 1 : s->y0),
            e->n_threads);

  double test_loss, test_acc;
  evaluate(e, eval_ws, theta0, &test_loss, &test_acc);
  e->initial_loss = res->initial_loss = test_loss;

  const double n_train = e->ds.train.n;
  const double samples_per_update = (double)s->batch * (dk == DISP_SYNC ? s->threads : 1);
  e->max_accepted = UINT64_MAX;
  if (s->stop_epochs > 0)
    e->max_accepted = (uint64_t)ceil(s->stop_epochs * n_train / samples_per_update - 1e-9);
  if (s->stop_steps > 0 && (uint64_t)s->stop_steps < e->max_accepted)
    e->max_accepted = (uint64_t)s->stop_steps;
  if (e->max_accepted == UINT64_MAX && s->stop_seconds <= 0 && s->target_acc <= 0 &&
      s->epsilon <= 0) {
    psgd_err(err, errlen, "no stop condition (seconds, epochs, steps, target_acc or epsilon)");
    goto out;
  }
  e->record = s->record_steps && io && io->r;
  if (e->record) {
    size_t expect = e->max_accepted != UINT64_MAX ? (size_t)e->max_accepted * 2 : 0;
    if (!(e->log = steplog_create(e->n_threads, expect, err, errlen))) goto out;
  }
  if (io && io->r) {
    char versions[256];
    snprintf(versions, sizeof versions, "{\"dispatcher\":\"%s\",\"store\":\"%s\"}",
             disp_name(dk), s->store);
    if (rec_run_info(io->r, io->run_id, NULL, versions, err, errlen) != 0) goto out;
  }

  /* snapshots: preallocated for the expected duration, grown by the monitor */
  cap_snaps = 8;
  if (s->stop_seconds > 0 && s->eval_every_s > 0) cap_snaps = (int)(s->stop_seconds / s->eval_every_s) + 4;
  if (cap_snaps > 4096) cap_snaps = 4096;
  snaps = calloc((size_t)cap_snaps, sizeof *snaps);
  if (!snaps) {
    psgd_err(err, errlen, "out of memory for snapshots");
    goto out;
  }
  for (int k = 0; k < cap_snaps; k++)
    if (!(snaps[k].theta = psgd_alloc(e->np * sizeof(float)))) {
      psgd_err(err, errlen, "out of memory for snapshots");
      goto out;
    }

  e->t0 = psgd_now_ns();
  pthread_attr_t attr;
  pthread_attr_init(&attr);
  pthread_attr_setstacksize(&attr, 256 * 1024);
  for (int w = 0; w < e->n_threads; w++) {
    wa[w].e = e;
    wa[w].w = w;
    if (pthread_create(&wa[w].tid, &attr, worker_main, &wa[w]) != 0) {
      psgd_err(err, errlen, "cannot start worker %d of %d", w, e->n_threads);
      request_stop(e);
      break;
    }
    n_started++;
  }
  pthread_attr_destroy(&attr);

  /* monitor: stop conditions and snapshots, sleeping between checks */
  const uint64_t limit_ns = s->stop_seconds > 0 ? (uint64_t)(s->stop_seconds * 1e9) : UINT64_MAX;
  const uint64_t every_ns = s->eval_every_s > 0 ? (uint64_t)(s->eval_every_s * 1e9) : UINT64_MAX;
  uint64_t next_eval = every_ns;
  run_status status = RUN_OK;
  while (!stopping(e) && n_started == e->n_threads) {
    sleep_ns(2000000);
    uint64_t now = psgd_now_ns() - e->t0;
    if (now >= next_eval) {
      next_eval += every_ns;
      if (n_snaps == cap_snaps) {
        snapshot *g = realloc(snaps, (size_t)cap_snaps * 2 * sizeof *snaps);
        if (g) {
          snaps = g;
          for (int k = cap_snaps; k < cap_snaps * 2; k++) snaps[k].theta = NULL;
          for (int k = cap_snaps; k < cap_snaps * 2; k++)
            if (!(snaps[k].theta = psgd_alloc(e->np * sizeof(float)))) break;
          cap_snaps *= 2;
        }
      }
      if (n_snaps < cap_snaps && snaps[n_snaps].theta) {
        snapshot *sn = &snaps[n_snaps++];
        sn->t_ns = now;
        sn->accepted = atomic_load_explicit(&e->accepted, memory_order_relaxed);
        sn->train_loss = train_loss_estimate(e);
        ps_read(e->p, sn->theta);
        double tl = NAN, ta = NAN;
        if (s->target_acc > 0) evaluate(e, eval_ws, sn->theta, &tl, &ta);
        if (io && io->progress) {
          eval_rec ev = {now, sn->accepted, sn->accepted * samples_per_update / n_train,
                         sn->train_loss, tl, ta};
          io->progress(io->progress_ctx, s, &ev, sn->accepted / (now * 1e-9));
        }
        if (s->target_acc > 0 && ta >= s->target_acc) {
          status = RUN_CONVERGED;
          request_stop(e);
        }
        if (s->epsilon > 0 && sn->train_loss <= s->epsilon * e->initial_loss) {
          status = RUN_CONVERGED;
          request_stop(e);
        }
      }
    }
    if (now >= limit_ns) request_stop(e);
    if (e->user_stop && atomic_load_explicit(e->user_stop, memory_order_relaxed)) request_stop(e);
  }
  request_stop(e);
  for (int w = 0; w < n_started; w++) pthread_join(wa[w].tid, NULL);
  uint64_t t_end = psgd_now_ns() - e->t0;
  if (n_started < e->n_threads) goto out;

  res->wall_s = t_end * 1e-9;
  res->steps_started = atomic_load(&e->started);
  res->steps_accepted = atomic_load(&e->accepted);
  res->epochs = res->steps_accepted * samples_per_update / n_train;
  res->final_train_loss = train_loss_estimate(e);
  if (atomic_load(&e->diverged)) status = RUN_DIVERGED;
  if (e->user_stop && atomic_load(e->user_stop)) status = RUN_OK;

  /* evaluate the snapshots and the final theta, after the timed region */
  evals = calloc((size_t)n_snaps + 1, sizeof *evals);
  if (!evals) {
    psgd_err(err, errlen, "out of memory for evaluations");
    goto out;
  }
  for (int k = 0; k <= n_snaps; k++) {
    const float *th = k < n_snaps ? snaps[k].theta : ps_theta(e->p);
    eval_rec *ev = &evals[k];
    ev->t_ns = k < n_snaps ? snaps[k].t_ns : t_end;
    ev->steps_accepted = k < n_snaps ? snaps[k].accepted : res->steps_accepted;
    ev->epoch = ev->steps_accepted * samples_per_update / n_train;
    ev->train_loss = k < n_snaps ? snaps[k].train_loss : res->final_train_loss;
    evaluate(e, eval_ws, th, &ev->test_loss, &ev->test_acc);
    if (ev->test_acc > res->best_test_acc) res->best_test_acc = ev->test_acc;
  }
  res->final_test_loss = evals[n_snaps].test_loss;
  res->final_test_acc = evals[n_snaps].test_acc;
  if (s->target_acc > 0 && res->final_test_acc >= s->target_acc && status == RUN_OK)
    status = RUN_CONVERGED;
  res->status = status;
  if (io && io->progress) io->progress(io->progress_ctx, s, &evals[n_snaps], res->steps_accepted / fmax(res->wall_s, 1e-9));

  if (io && io->r) {
    uint64_t f0 = psgd_now_ns();
    if (e->record && rec_steplog_flush(io->r, io->run_id, e->log, 1, err, errlen) < 0) goto out;
    res->flush_s = (psgd_now_ns() - f0) * 1e-9;
    int ne = atomic_load(&e->n_events);
    if (ne > MAX_EVENTS) ne = MAX_EVENTS;
    place_rec *pl = calloc((size_t)e->n_threads, sizeof *pl);
    if (!pl) {
      psgd_err(err, errlen, "out of memory");
      goto out;
    }
    for (int w = 0; w < e->n_threads; w++)
      pl[w] = (place_rec){w, -1, -1, -1, -1, 0};
    int bad = rec_evals(io->r, io->run_id, evals, (size_t)n_snaps + 1, err, errlen) != 0 ||
              (ne > 0 && rec_events(io->r, io->run_id, e->events, (size_t)ne, err, errlen) != 0) ||
              rec_placement(io->r, io->run_id, pl, (size_t)e->n_threads, err, errlen) != 0;
    free(pl);
    if (bad) goto out;
  }
  rc = 0;
out:
  if (snaps)
    for (int k = 0; k < cap_snaps; k++) psgd_free(snaps[k].theta);
  free(snaps);
  free(evals);
  free(wa);
  steplog_free(e->log);
  ps_free(e->p);
  model_ws_free(eval_ws);
  psgd_free(theta0);
  model_free(e->m);
  data_free(&e->ds);
  psgd_free(e->ws);
  psgd_free(e->events);
  psgd_free(e->sy_sum);
  pthread_mutex_destroy(&e->park_mu);
  pthread_cond_destroy(&e->park_cv);
  pthread_mutex_destroy(&e->sy_mu);
  pthread_cond_destroy(&e->sy_cv);
  psgd_free(e);
  return rc;
}

/* train_seq.c - the sequential SGD trainer of train_seq.h: the loop
 * GETBATCH(i) -> gradient -> update (paper Alg. 1 with one worker and every
 * step accepted), periodic test-set evaluation outside the timed region, and
 * the stop conditions of the run spec. */
#define _POSIX_C_SOURCE 200809L
#include "train_seq.h"

#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"

/* Evaluation batch: larger than a training batch so the test pass is a few
 * big products rather than many small ones. */
#define EVAL_BATCH 256
/* A minibatch loss this many times the initial test loss means divergence:
 * cross-entropy stays O(log classes) unless the logits blow up. */
#define DIVERGE_FACTOR 100.0

int train_load_data(const run_spec *s, dataset *ds, char *err, size_t errlen) {
  data_opts o;
  data_opts_default(&o);
  o.data_dir = s->data_dir[0] ? s->data_dir : "data";
  o.train_limit = s->train_limit;
  o.test_limit = s->test_limit;
  o.syn_seed = 1; /* the synthetic set is part of the data, not of the run's seed */
  return data_load(s->dataset, &o, ds, err, errlen);
}

model_spec train_model_spec(const run_spec *s, const dataset *ds) {
  model_spec m;
  memset(&m, 0, sizeof m);
  m.name = s->model;
  m.c = ds->train.c;
  m.h = ds->train.h;
  m.w = ds->train.w;
  m.n_classes = ds->train.n_classes;
  m.n_hidden = s->n_hidden;
  for (int i = 0; i < s->n_hidden && i < 8; i++) m.hidden[i] = s->hidden[i];
  return m;
}

int train_optim_spec(const run_spec *s, optim_spec *o, char *err, size_t errlen) {
  memset(o, 0, sizeof *o);
  optim_kind k;
  if (optim_parse(s->optimizer, &k))
    return psgd_err(err, errlen, "unknown optimizer '%s' (known: sgd, momentum, mindthestep)",
                    s->optimizer);
  if (!(s->lr > 0) || !isfinite(s->lr))
    return psgd_err(err, errlen, "learning rate %g must be a positive number", s->lr);
  if (!(s->momentum >= 0 && s->momentum < 1))
    return psgd_err(err, errlen, "momentum %g must be in [0, 1)", s->momentum);
  o->kind = k;
  o->lr = (float)s->lr;
  o->momentum = k == OPTIM_SGD ? 0.0f : (float)s->momentum;
  /* MindTheStep's staleness scale: with m workers about m - 1 updates land
   * between a read and its apply (optim.c) */
  o->mts_tau0 = s->threads > 1 ? (float)(s->threads - 1) : 0.0f;
  return 0;
}

typedef struct {
  const run_spec *s;
  const dataset *ds;
  const model *m;
  model_ws *eval_ws;
  const float *theta;
} evaluator;

static void evaluate(const evaluator *ev, double *loss, double *acc) {
  const data_split *t = &ev->ds->test;
  int n = ev->s->eval_test_limit > 0 && ev->s->eval_test_limit < t->n ? ev->s->eval_test_limit
                                                                       : t->n;
  int correct = 0;
  *loss = model_evaluate(ev->m, ev->eval_ws, ev->theta, t->x, t->y, n, &correct);
  *acc = n > 0 ? (double)correct / n : 0.0;
}

int train_seq_run(const run_spec *s, const train_io *io, run_result *res, char *err,
                  size_t errlen) {
  memset(res, 0, sizeof *res);
  dataset ds;
  memset(&ds, 0, sizeof ds);
  model *m = NULL;
  model_ws *ws = NULL, *eval_ws = NULL;
  float *theta = NULL, *grad = NULL, *v = NULL, *xb = NULL;
  uint8_t *yb = NULL;
  int *idx = NULL, rc = -1;
  optim_spec o;

  if (s->batch < 1) return psgd_err(err, errlen, "batch size %d must be >= 1", s->batch);
  if (train_optim_spec(s, &o, err, errlen)) return -1;
  if (!(s->stop_epochs > 0 || s->stop_steps > 0 || s->stop_seconds > 0))
    return psgd_err(err, errlen, "no stop condition: set epochs, steps or seconds");
  if (train_load_data(s, &ds, err, errlen)) return -1;
  if (ds.train.n < 1 || ds.test.n < 1) {
    psgd_err(err, errlen, "%s: empty training or test set", s->dataset);
    goto out;
  }
  model_blas_init();
  model_spec ms = train_model_spec(s, &ds);
  if (!(m = model_create(&ms, err, errlen))) goto out;
  const size_t d = model_n_params(m), dim = (size_t)data_dim(&ds.train);
  const int b = s->batch;
  ws = model_ws_create(m, b);
  eval_ws = model_ws_create(m, EVAL_BATCH);
  theta = psgd_alloc(d * sizeof *theta);
  grad = psgd_alloc(d * sizeof *grad);
  v = psgd_calloc(d * sizeof *v);
  xb = psgd_alloc((size_t)b * dim * sizeof *xb);
  yb = malloc((size_t)b);
  idx = malloc((size_t)b * sizeof *idx);
  if (!ws || !eval_ws || !theta || !grad || !v || !xb || !yb || !idx) {
    psgd_err(err, errlen, "out of memory for %s batch %d", model_describe(m), b);
    goto out;
  }
  model_init(m, theta, s->seed);

  if (io && io->started) {
    char what[512];
    snprintf(what, sizeof what,
             "%s (%d train, %d test, %dx%dx%d, %d classes); %s; %s lr %g mu %g; batch %d; "
             "seed %llu",
             ds.name, ds.train.n, ds.test.n, ds.train.c, ds.train.h, ds.train.w,
             ds.train.n_classes, model_describe(m), optim_name(o.kind), s->lr,
             (double)o.momentum, b, (unsigned long long)s->seed);
    io->started(io->ctx, s, what);
  }

  evaluator ev = {s, &ds, m, eval_ws, theta};
  double test_loss, test_acc;
  evaluate(&ev, &test_loss, &test_acc);
  res->initial_loss = test_loss;

  const int n = ds.train.n;
  const double steps_per_epoch = (double)n / b;
  long max_steps = LONG_MAX;
  if (s->stop_epochs > 0) max_steps = (long)ceil(s->stop_epochs * steps_per_epoch - 1e-9);
  if (s->stop_steps > 0 && s->stop_steps < max_steps) max_steps = s->stop_steps;
  const uint64_t limit_ns = s->stop_seconds > 0 ? (uint64_t)(s->stop_seconds * 1e9) : UINT64_MAX;
  const float lr_eff = optim_lr(&o, 0); /* sequential: every step has staleness 0 */

  run_status status = RUN_OK;
  uint64_t train_ns = 0, t0 = psgd_now_ns();
  double loss_sum = 0.0, last_train_loss = NAN;
  long loss_cnt = 0, step = 0, last_eval_step = 0;
  long next_epoch_step = (long)ceil(steps_per_epoch - 1e-9);
  int epoch_no = 1;
  while (step < max_steps) {
    /* GETBATCH(i) (paper Alg. 1, line 5): the same sequence for every
     * dispatcher and thread count */
    data_batch_indices(n, s->seed, (uint64_t)step, b, idx);
    data_gather(&ds.train, idx, b, xb, yb);
    float loss = model_loss_grad(m, ws, theta, xb, yb, b, grad);
    optim_apply(&o, lr_eff, theta, v, grad, d);
    step++;
    if (!isfinite(loss) || loss > DIVERGE_FACTOR * fmax(res->initial_loss, 1.0)) {
      train_ns += psgd_now_ns() - t0;
      status = RUN_DIVERGED;
      last_train_loss = loss;
      break;
    }
    loss_sum += loss;
    loss_cnt++;

    int at_epoch = step >= next_epoch_step;
    int at_every = s->eval_every_steps > 0 && step % s->eval_every_steps == 0;
    int at_end = step >= max_steps;
    uint64_t now = psgd_now_ns();
    int timed_out = train_ns + (now - t0) >= limit_ns;
    if (!(at_epoch || at_every || at_end || timed_out)) continue;

    /* evaluation is outside the timed region */
    train_ns += now - t0;
    last_train_loss = loss_sum / (double)loss_cnt;
    evaluate(&ev, &test_loss, &test_acc);
    last_eval_step = step;
    if (test_acc > res->best_test_acc) res->best_test_acc = test_acc;
    if (io && io->progress) {
      eval_rec e = {train_ns, (uint64_t)step, (double)step * b / n, last_train_loss, test_loss,
                    test_acc};
      io->progress(io->ctx, s, &e, (double)step / (train_ns * 1e-9));
    }
    int converged = (s->target_acc > 0 && test_acc >= s->target_acc) ||
                    (s->epsilon > 0 && at_epoch && last_train_loss <= s->epsilon * res->initial_loss);
    if (at_epoch) {
      epoch_no++;
      next_epoch_step = (long)ceil(epoch_no * steps_per_epoch - 1e-9);
      loss_sum = 0.0;
      loss_cnt = 0;
    }
    if (converged) {
      status = RUN_CONVERGED;
      break;
    }
    if (timed_out) break;
    t0 = psgd_now_ns();
  }
  if (status == RUN_DIVERGED || last_eval_step != step) {
    /* the last steps since the final evaluation (or the diverged model) */
    evaluate(&ev, &test_loss, &test_acc);
    if (status != RUN_DIVERGED && loss_cnt) last_train_loss = loss_sum / (double)loss_cnt;
    if (isfinite(test_acc) && test_acc > res->best_test_acc) res->best_test_acc = test_acc;
    if (io && io->progress) {
      eval_rec e = {train_ns, (uint64_t)step, (double)step * b / n, last_train_loss, test_loss,
                    test_acc};
      io->progress(io->ctx, s, &e, train_ns ? (double)step / (train_ns * 1e-9) : 0.0);
    }
  }
  res->status = status;
  res->wall_s = train_ns * 1e-9;
  res->steps_started = res->steps_accepted = (uint64_t)step;
  res->epochs = (double)step * b / n;
  res->final_train_loss = last_train_loss;
  res->final_test_loss = test_loss;
  res->final_test_acc = test_acc;
  rc = 0;
out:
  free(idx);
  free(yb);
  psgd_free(xb);
  psgd_free(v);
  psgd_free(grad);
  psgd_free(theta);
  model_ws_free(eval_ws);
  model_ws_free(ws);
  model_free(m);
  data_free(&ds);
  return rc;
}

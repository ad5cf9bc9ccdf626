/* problem.c - the training problem of problem.h: the dataset + model
 * gradient adapter, and a run spec's data, model, update rule, evaluation
 * and step budget. */
#include "problem.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"

typedef struct {
  model_ws *ws;
  float *xb;    /* batch x input floats */
  uint8_t *yb;  /* batch labels */
  int *idx;     /* batch indices into the training set */
} problem_ws;

static void problem_ws_free(void *ctx, void *p) {
  (void)ctx;
  problem_ws *x = p;
  if (!x) return;
  model_ws_free(x->ws);
  psgd_free(x->xb);
  free(x->yb);
  free(x->idx);
  free(x);
}

static void *problem_ws_create(void *ctx, int w) {
  (void)w;
  const problem_model *pm = ctx;
  const int b = pm->batch;
  problem_ws *x = calloc(1, sizeof *x);
  if (!x) return NULL;
  x->ws = model_ws_create(pm->m, b);
  x->xb = psgd_alloc((size_t)b * (size_t)data_dim(&pm->ds->train) * sizeof(float));
  x->yb = malloc((size_t)b);
  x->idx = malloc((size_t)b * sizeof *x->idx);
  if (!x->ws || !x->xb || !x->yb || !x->idx) {
    problem_ws_free(ctx, x);
    return NULL;
  }
  return x;
}

/* Alg. 1 lines 5-6: B_i = GETBATCH(i), g = grad L_B(theta) */
static float problem_grad(void *ctx, void *p, const float *theta, uint64_t step, float *grad) {
  const problem_model *pm = ctx;
  problem_ws *x = p;
  const int b = pm->batch;
  data_batch_indices(pm->ds->train.n, pm->seed, step, b, x->idx);
  data_gather(&pm->ds->train, x->idx, b, x->xb, x->yb);
  return model_loss_grad(pm->m, x->ws, theta, x->xb, x->yb, b, grad);
}

par_problem problem_model_make(const problem_model *pm, const float *theta0) {
  par_problem p = {model_n_params(pm->m), theta0, (void *)pm, problem_ws_create, problem_ws_free,
                   problem_grad};
  return p;
}

/* ----------------------------------------------------- a run spec's ---- */

/* Evaluation batch: larger than a training batch so the test pass is a few
 * big products rather than many small ones. */
#define EVAL_BATCH 256

int problem_optim_spec(const run_spec *s, optim_spec *o, char *err, size_t errlen) {
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

uint64_t problem_max_steps(const run_spec *s, double steps_per_epoch) {
  uint64_t max_steps = 0;
  if (s->stop_epochs > 0) max_steps = (uint64_t)ceil(s->stop_epochs * steps_per_epoch - 1e-9);
  if (s->stop_steps > 0 && (max_steps == 0 || (uint64_t)s->stop_steps < max_steps))
    max_steps = (uint64_t)s->stop_steps;
  return max_steps;
}

static int load_data(const run_spec *s, dataset *ds, char *err, size_t errlen) {
  data_opts o;
  data_opts_default(&o);
  o.data_dir = s->data_dir[0] ? s->data_dir : "data";
  o.train_limit = s->train_limit;
  o.test_limit = s->test_limit;
  o.syn_seed = 1; /* the synthetic set is part of the data, not of the run's seed */
  return data_load(s->dataset, &o, ds, err, errlen);
}

static model_spec spec_model(const run_spec *s, const dataset *ds) {
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

int problem_setup_make(problem_setup *P, const run_spec *s, char *err, size_t errlen) {
  memset(P, 0, sizeof *P);
  P->s = s;
  if (s->batch < 1) return psgd_err(err, errlen, "batch size %d must be >= 1", s->batch);
  if (problem_optim_spec(s, &P->opt, err, errlen)) return -1;
  if (load_data(s, &P->ds, err, errlen)) return -1;
  if (P->ds.train.n < 1 || P->ds.test.n < 1) {
    psgd_err(err, errlen, "%s: empty training or test set", s->dataset);
    goto fail;
  }
  if (s->batch > P->ds.train.n) {
    psgd_err(err, errlen, "batch %d exceeds the %d training samples", s->batch, P->ds.train.n);
    goto fail;
  }
  model_blas_init();
  model_spec ms = spec_model(s, &P->ds);
  if (!(P->m = model_create(&ms, err, errlen))) goto fail;
  P->d = model_n_params(P->m);
  P->eval_ws = model_ws_create(P->m, EVAL_BATCH);
  P->theta0 = psgd_alloc(P->d * sizeof *P->theta0);
  if (!P->eval_ws || !P->theta0) {
    psgd_err(err, errlen, "out of memory for %s", model_describe(P->m));
    goto fail;
  }
  model_init(P->m, P->theta0, s->seed);
  const data_split *t = &P->ds.test;
  P->eval_n = s->eval_test_limit > 0 && s->eval_test_limit < t->n ? s->eval_test_limit : t->n;
  P->steps_per_epoch = (double)P->ds.train.n / s->batch;
  P->max_steps = problem_max_steps(s, P->steps_per_epoch);
  P->pm = (problem_model){&P->ds, P->m, s->batch, s->seed};
  return 0;
fail:
  problem_teardown(P);
  return -1;
}

void problem_teardown(problem_setup *P) {
  if (!P) return;
  psgd_free(P->theta0);
  model_ws_free(P->eval_ws);
  model_free(P->m);
  data_free(&P->ds);
  memset(P, 0, sizeof *P);
}

par_problem problem_setup_par(problem_setup *P) { return problem_model_make(&P->pm, P->theta0); }

int problem_evaluate(void *ctx, const float *theta, double *loss, double *acc) {
  problem_setup *P = ctx;
  const data_split *t = &P->ds.test;
  int correct = 0;
  *loss = model_evaluate(P->m, P->eval_ws, theta, t->x, t->y, P->eval_n, &correct);
  *acc = P->eval_n > 0 ? (double)correct / P->eval_n : 0.0;
  return 0;
}

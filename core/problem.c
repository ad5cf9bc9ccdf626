/* problem.c - the dataset + model training problem of problem.h. */
#include "problem.h"

#include <stdlib.h>

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

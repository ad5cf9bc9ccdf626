/* seq_oracle.h - the sequential SGD loop, written out, as the tests' oracle
 * for the engine at m = 1 (psgd train's path, both clocks): one thread,
 * step i on minibatch data_batch_indices(n, seed, i, batch) (GETBATCH(i),
 * paper Alg. 1 line 5), its gradient, the update rule with staleness 0,
 * every step accepted, for the spec's step budget. The data, model, update
 * rule, theta0 and evaluation come from problem.h (the engine's setup); the
 * loop does not go through the engine's gradient adapter, dispatcher or
 * param store, so a difference there shows.
 *
 * It was `psgd train`'s own loop until the engine took over; what the two
 * disagreed on (divergence, epsilon, time budget, evaluation points) is the
 * engine's now (EXPERIMENTS.md, "psgd train"), and the oracle has only the
 * step budget. Header-only: a test binary includes it once. */
#ifndef TEST_SEQ_ORACLE_H
#define TEST_SEQ_ORACLE_H

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"
#include "data.h"
#include "model.h"
#include "optim.h"
#include "problem.h"
#include "spec.h"

typedef struct {
  uint64_t steps;          /* run: the spec's step budget */
  double initial_loss;     /* test loss of theta0 */
  double test_loss, test_acc; /* of the final theta */
  float *losses;           /* minibatch loss of step i (malloc'ed, steps entries) */
  float *theta;            /* final theta (psgd_alloc'ed, d floats) */
  size_t d;
} seq_oracle;

static __attribute__((unused)) void seq_oracle_free(seq_oracle *o) {
  free(o->losses);
  psgd_free(o->theta);
  memset(o, 0, sizeof *o);
}

/* Runs the spec's step budget (stop_epochs / stop_steps; needs one). 0, or
 * -1 with err (bad spec, no budget, out of memory). */
static __attribute__((unused)) int seq_oracle_run(const run_spec *s, seq_oracle *o, char *err,
                                                  size_t errlen) {
  memset(o, 0, sizeof *o);
  problem_setup P;
  if (problem_setup_make(&P, s, err, errlen)) return -1;
  int rc = -1;
  const int b = s->batch;
  const size_t d = P.d, dim = (size_t)data_dim(&P.ds.train);
  model_ws *ws = model_ws_create(P.m, b);
  float *grad = psgd_alloc(d * sizeof *grad), *v = psgd_calloc(d * sizeof *v);
  float *xb = psgd_alloc((size_t)b * dim * sizeof *xb);
  uint8_t *yb = malloc((size_t)b);
  int *idx = malloc((size_t)b * sizeof *idx);
  o->d = d;
  o->steps = P.max_steps;
  o->theta = psgd_alloc(d * sizeof *o->theta);
  o->losses = malloc((o->steps ? o->steps : 1) * sizeof *o->losses);
  if (!P.max_steps) {
    psgd_err(err, errlen, "seq_oracle: the spec has no step budget");
    goto out;
  }
  if (!ws || !grad || !v || !xb || !yb || !idx || !o->theta || !o->losses) {
    psgd_err(err, errlen, "seq_oracle: out of memory");
    goto out;
  }
  memcpy(o->theta, P.theta0, d * sizeof *o->theta);
  double a0;
  problem_evaluate(&P, o->theta, &o->initial_loss, &a0);
  const float lr = optim_lr(&P.opt, 0); /* sequential: every step has staleness 0 */
  for (uint64_t i = 0; i < o->steps; i++) {
    data_batch_indices(P.ds.train.n, s->seed, i, b, idx);
    data_gather(&P.ds.train, idx, b, xb, yb);
    o->losses[i] = model_loss_grad(P.m, ws, o->theta, xb, yb, b, grad);
    optim_apply(&P.opt, lr, o->theta, v, grad, d);
  }
  problem_evaluate(&P, o->theta, &o->test_loss, &o->test_acc);
  rc = 0;
out:
  if (rc) seq_oracle_free(o);
  free(idx);
  free(yb);
  psgd_free(xb);
  psgd_free(v);
  psgd_free(grad);
  model_ws_free(ws);
  problem_teardown(&P);
  return rc;
}

#endif

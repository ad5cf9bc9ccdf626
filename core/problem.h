/* problem.h - the training problem of a dataset and a model as the engine
 * sees it (par.h's par_problem): Alg. 1 lines 5-6, B_i = GETBATCH(i) and
 * g = grad L_B(theta). One adapter for the engine (both clocks), the
 * benchmarks and the tests, so all of them compute the same gradient of the
 * same minibatch for a step index.
 *
 * GETBATCH(i) is data_batch_indices(n_train, seed, i, batch): a function of
 * the step index and the seed only, never of which worker or thread runs the
 * step. Each worker gets its own workspace (model scratch + gathered batch),
 * created on the worker's thread by par_run / vclock. */
#ifndef PSGD_PROBLEM_H
#define PSGD_PROBLEM_H

#include <stdint.h>

#include "data.h"
#include "model.h"
#include "par.h"

typedef struct {
  const dataset *ds;  /* its training set is sampled */
  const model *m;
  int batch;          /* >= 1 */
  uint64_t seed;      /* the shuffling seed of GETBATCH */
} problem_model;

/* The par_problem over *pm (which must outlive the run) starting from theta0
 * (model_n_params(pm->m) floats, copied by the param store). */
par_problem problem_model_make(const problem_model *pm, const float *theta0);

#endif

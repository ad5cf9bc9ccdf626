/* problem.h - the training problem of a run spec as the engine sees it, and
 * everything around it that every caller must build the same way: one
 * module for the engine (both clocks), the benchmarks and the tests, so all
 * of them load the same data, build the same model and update rule, start
 * from the same theta, compute the same gradient of the same minibatch for a
 * step index, evaluate on the same test samples and stop after the same
 * number of steps.
 *
 * Two levels:
 *   problem_model: dataset + model + batch + seed -> par.h's par_problem
 *     (Alg. 1 lines 5-6, B_i = GETBATCH(i) and g = grad L_B(theta)), for
 *     callers that build their own model (benchmarks, tests);
 *   problem_setup: a run spec -> its data, model, update rule, theta0,
 *     test-set evaluation and step budget, with the problem_model over them.
 *
 * GETBATCH(i) is data_batch_indices(n_train, seed, i, batch): a function of
 * the step index and the seed only, never of which worker or thread runs the
 * step. Each worker gets its own workspace (model scratch + gathered batch),
 * created on the worker's thread by par_run / vclock. */
#ifndef PSGD_PROBLEM_H
#define PSGD_PROBLEM_H

#include <stddef.h>
#include <stdint.h>

#include "data.h"
#include "model.h"
#include "optim.h"
#include "par.h"
#include "spec.h"

typedef struct {
  const dataset *ds;  /* its training set is sampled */
  const model *m;
  int batch;          /* >= 1 */
  uint64_t seed;      /* the shuffling seed of GETBATCH */
} problem_model;

/* The par_problem over *pm (which must outlive the run) starting from theta0
 * (model_n_params(pm->m) floats, copied by the param store). */
par_problem problem_model_make(const problem_model *pm, const float *theta0);

/* One run spec's problem. Owned by the caller between problem_setup and
 * problem_teardown; not copied (pm points into it). */
typedef struct {
  const run_spec *s;
  dataset ds;
  model *m;
  optim_spec opt;          /* the spec's update rule */
  float *theta0;           /* model_init(s->seed) */
  size_t d;                /* floats in theta */
  model_ws *eval_ws;       /* for problem_evaluate only */
  int eval_n;              /* test samples evaluated (eval_test_limit) */
  double steps_per_epoch;  /* training samples / batch */
  uint64_t max_steps;      /* step budget of stop_epochs / stop_steps (0: none) */
  problem_model pm;
} problem_setup;

/* Loads the spec's dataset (data_dir, train/test limits), builds its model
 * (n_hidden/hidden for the MLP) and update rule, initializes theta0 from
 * the seed and computes the step budget. 0, or -1 with err (bad batch,
 * unknown optimizer or model, missing data, empty sets); P is then torn down. */
int problem_setup_make(problem_setup *P, const run_spec *s, char *err, size_t errlen);
void problem_teardown(problem_setup *P);

/* The par_problem of the setup, starting from P->theta0. */
par_problem problem_setup_par(problem_setup *P);

/* Test loss and accuracy of theta on the first eval_n test samples; the
 * signature of par_config.eval_online (ctx = the problem_setup). One
 * caller at a time (one evaluation workspace). Returns 0. */
int problem_evaluate(void *ctx, const float *theta, double *loss, double *acc);

/* The update rule of a spec: kind from the optimizer name, lr, momentum,
 * and for mindthestep the expected staleness threads - 1. 0, or -1 with err. */
int problem_optim_spec(const run_spec *s, optim_spec *o, char *err, size_t errlen);

/* Accepted steps the spec asks for: ceil(stop_epochs x steps_per_epoch)
 * and stop_steps, the smaller of those set; 0 when neither is. */
uint64_t problem_max_steps(const run_spec *s, double steps_per_epoch);

#endif

/* train_seq.h - the sequential SGD trainer: one thread runs a run spec's
 * dataset, model and update rule, step i on minibatch
 * data_batch_indices(n, seed, i, batch) (the same batch sequence every
 * parallel dispatcher draws from), evaluating on the test set after each
 * epoch. It is the reference the parallel engine must equal for m = 1, and
 * `psgd train` without parallel options.
 *
 * Also the shared setup steps (spec -> data options, model spec, update
 * rule) so the engine builds the same objects from the same spec. */
#ifndef PSGD_TRAIN_SEQ_H
#define PSGD_TRAIN_SEQ_H

#include <stddef.h>

#include "data.h"
#include "model.h"
#include "optim.h"
#include "spec.h"
#include "steprec.h"

/* Progress after each evaluation; same shape as engine_progress_fn so one
 * printer serves both. steps_per_s: steps per second of training time
 * (evaluation excluded) since the start. */
typedef void (*train_progress_fn)(void *ctx, const run_spec *s, const eval_rec *e,
                                  double steps_per_s);

typedef struct {
  train_progress_fn progress; /* NULL: silent */
  /* Called once before training with a one-line description of the data,
   * model and update rule (NULL: none). */
  void (*started)(void *ctx, const run_spec *s, const char *what);
  void *ctx;
} train_io;

/* Loads the spec's dataset (data_dir, train/test limits). */
int train_load_data(const run_spec *s, dataset *ds, char *err, size_t errlen);
/* The model spec for the spec's model on this dataset's shape. */
model_spec train_model_spec(const run_spec *s, const dataset *ds);
/* The update rule (kind from the optimizer name, lr, momentum, and for
 * mindthestep the expected staleness threads - 1). */
int train_optim_spec(const run_spec *s, optim_spec *o, char *err, size_t errlen);

/* Runs the spec sequentially. Stops at the first of stop_epochs,
 * stop_steps, stop_seconds (training time), target_acc (checked at each
 * evaluation), epsilon (epoch training loss <= epsilon * initial loss), or
 * divergence (non-finite minibatch loss or above 100x the initial loss).
 * Evaluates after every epoch, every eval_every_steps steps if set, and at
 * the end. Returns 0 when the run executed (res->status says how it ended),
 * -1 if it could not start (data, model, settings) with err filled. */
int train_seq_run(const run_spec *s, const train_io *io, run_result *res, char *err,
                  size_t errlen);

#endif

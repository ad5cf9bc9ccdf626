/* model.h - models as a layout over ONE flat parameter vector theta.
 *
 * A model is a table of layers; each layer's parameters are views (64-byte
 * aligned offsets) into a float vector of length model_n_params(). The same
 * layout is used for theta, for a gradient, for momentum, and for a worker's
 * local copy: any buffer of that length can be bound. Layer math sees only
 * plain float pointers; it never sees shared state (only the param store
 * touches shared theta).
 *
 * Models: "mlp" (input -> hidden... -> classes, ReLU between dense layers)
 *         "lenet5" (conv 6@5x5 -> maxpool 2 -> conv 16@5x5 -> maxpool 2 ->
 *                   dense 120 -> dense 84 -> dense classes, ReLU), any CxHxW
 * Loss: softmax cross-entropy, mean over the batch.
 *
 * Thread use: a model is immutable after creation and may be shared by all
 * threads; each thread owns its own model_ws. Convolution uses im2col +
 * matrix products (gemm.h: libxsmm and OpenBLAS); callers must have made
 * OpenBLAS single-threaded (model_blas_init). */
#ifndef PSGD_MODEL_H
#define PSGD_MODEL_H

#include <stddef.h>
#include <stdint.h>

typedef struct model model;       /* opaque, immutable after create */
typedef struct model_ws model_ws; /* per-thread workspace, opaque */

typedef struct {
  const char *name;   /* "mlp" or "lenet5" */
  int c, h, w;        /* input shape */
  int n_classes;
  int n_hidden;       /* mlp only: number of hidden layers */
  int hidden[8];      /* mlp only: hidden layer sizes */
} model_spec;

/* Makes BLAS single-threaded for the whole process (openblas_set_num_threads(1)).
 * Call once before any thread runs model code. */
void model_blas_init(void);

/* 0 if `name` is a model model_create knows; else -1 with err listing them. */
int model_name_ok(const char *name, char *err, size_t errlen);

/* The model names, separated by sep, into buf. */
void model_names(char *buf, size_t cap, const char *sep);

/* NULL with err on a bad spec, on allocation failure, or when the BLAS
 * self-check (gemm.h: gemm_selfcheck, run once per process) finds that
 * sgemm computes wrong results here: no model, so nothing trains. */
model *model_create(const model_spec *spec, char *err, size_t errlen);
void model_free(model *m);

/* Number of floats in theta (includes alignment padding between layers). */
size_t model_n_params(const model *m);
/* Floating-point operations of one forward+backward pass per sample (approx,
 * multiply-add = 2). Used by benchmarks for GFLOP/s. */
double model_flops_per_sample(const model *m);
/* One-line description, e.g. "lenet5 3x32x32 -> 10, d=62006". */
const char *model_describe(const model *m);

/* The layout table (for tests and tools): tensor i in [0, model_n_tensors)
 * has a name ("conv1.w", "fc2.b", ...), a 64-byte aligned offset into theta
 * and a count of floats; floats between one tensor's end and the next
 * tensor's offset (and after the last) are padding. */
typedef struct {
  const char *name;
  size_t offset, count;
} model_tensor_info;
int model_n_tensors(const model *m);
model_tensor_info model_tensor(const model *m, int i);

/* Seeded initialization (He-uniform weights, zero biases; padding zero). */
void model_init(const model *m, float *theta, uint64_t seed);

/* Workspace for batches of up to max_batch samples. NULL on allocation failure. */
model_ws *model_ws_create(const model *m, int max_batch);
void model_ws_free(model_ws *ws);

/* Forward + backward on a batch: writes the mean-loss gradient into grad
 * (length model_n_params, fully overwritten, padding zero) and returns the
 * mean cross-entropy loss. x is b x (c*h*w), y is b labels. */
float model_loss_grad(const model *m, model_ws *ws, const float *theta, const float *x,
                      const uint8_t *y, int b, float *grad);

/* Forward only on n samples (processed in chunks of the workspace's batch):
 * returns the mean loss and writes the number of correct argmax predictions
 * into *n_correct (if non-NULL). */
float model_evaluate(const model *m, model_ws *ws, const float *theta, const float *x,
                     const uint8_t *y, int n, int *n_correct);

#endif

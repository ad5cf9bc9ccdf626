/* layer_dense.c - fully connected layer (and its fused bias+ReLU forward):
 * one matrix product over the whole batch per direction (gemm.h); see
 * layers.h for the layouts. */
#include "gemm.h"
#include "layers.h"

/* y[i][j] += bias[j], then max(0, .) if relu: the one pass that touches y
 * while it is still in cache. Built for AVX-512, AVX2 and baseline x86-64
 * (layers.h). */
PSGD_MULTIVERSION
static void bias_rows(float *restrict y, const float *restrict bias, int b, int out, int relu) {
  for (int i = 0; i < b; i++) {
    float *r = y + (size_t)i * out;
    if (relu)
      for (int j = 0; j < out; j++) {
        float v = r[j] + bias[j];
        r[j] = v > 0.0f ? v : 0.0f;
      }
    else
      for (int j = 0; j < out; j++) r[j] += bias[j];
  }
}

/* db[j] = sum_i dy[i][j] */
PSGD_MULTIVERSION
static void col_sums(const float *restrict dy, float *restrict db, int b, int out) {
  for (int j = 0; j < out; j++) db[j] = 0.0f;
  for (int i = 0; i < b; i++) {
    const float *r = dy + (size_t)i * out;
    for (int j = 0; j < out; j++) db[j] += r[j];
  }
}

void dense_forward(const float *x, const float *W, const float *bias, float *y, int b, int in,
                   int out) {
  /* y[b][out] = x[b][in] . W[in][out] */
  gemm_rm(0, 0, b, out, in, x, in, W, out, 0.0f, y, out);
  bias_rows(y, bias, b, out, 0);
}

void dense_relu_forward(const float *x, const float *W, const float *bias, float *y, int b,
                        int in, int out) {
  gemm_rm(0, 0, b, out, in, x, in, W, out, 0.0f, y, out);
  bias_rows(y, bias, b, out, 1);
}

void dense_backward(const float *x, const float *W, const float *dy, float *dx, float *dW,
                    float *db, int b, int in, int out) {
  /* dW[in][out] = x^T[in][b] . dy[b][out] */
  gemm_rm(1, 0, in, out, b, x, in, dy, out, 0.0f, dW, out);
  if (db) col_sums(dy, db, b, out);
  /* dx[b][in] = dy[b][out] . W^T[out][in] */
  if (dx)
    gemm_rm(0, 1, b, in, out, dy, out, W, out, 0.0f, dx, in);
}

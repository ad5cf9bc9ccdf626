/* layer_dense.c - fully connected layer (and its fused bias+ReLU forward):
 * one matrix product over the whole batch per direction (gemm.h: cut into
 * blocks that stay on OpenBLAS' fast path); see layers.h for the layouts. */
#include "gemm.h"
#include "layers.h"

void dense_forward(const float *x, const float *W, const float *bias, float *y, int b, int in,
                   int out) {
  /* y[b][out] = x[b][in] . W[in][out] */
  gemm_rm(0, 0, b, out, in, x, in, W, out, 0.0f, y, out);
  for (int i = 0; i < b; i++) {
    float *r = y + (size_t)i * out;
    for (int j = 0; j < out; j++) r[j] += bias[j];
  }
}

void dense_relu_forward(const float *x, const float *W, const float *bias, float *y, int b,
                        int in, int out) {
  gemm_rm(0, 0, b, out, in, x, in, W, out, 0.0f, y, out);
  /* bias and ReLU in the one pass that touches y while it is still in cache */
  for (int i = 0; i < b; i++) {
    float *r = y + (size_t)i * out;
    for (int j = 0; j < out; j++) {
      float v = r[j] + bias[j];
      r[j] = v > 0.0f ? v : 0.0f;
    }
  }
}

void dense_backward(const float *x, const float *W, const float *dy, float *dx, float *dW,
                    float *db, int b, int in, int out) {
  /* dW[in][out] = x^T[in][b] . dy[b][out] */
  gemm_rm(1, 0, in, out, b, x, in, dy, out, 0.0f, dW, out);
  if (db) {
    for (int j = 0; j < out; j++) db[j] = 0.0f;
    for (int i = 0; i < b; i++) {
      const float *r = dy + (size_t)i * out;
      for (int j = 0; j < out; j++) db[j] += r[j];
    }
  }
  /* dx[b][in] = dy[b][out] . W^T[out][in] */
  if (dx)
    gemm_rm(0, 1, b, in, out, dy, out, W, out, 0.0f, dx, in);
}

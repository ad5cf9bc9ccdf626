/* layer_act.c - elementwise and output layers: ReLU (alone and fused with a
 * bias gradient), softmax cross-entropy, and the CNHW <-> NCHW transposes
 * around LeNet5's flatten. */
#include <math.h>
#include <string.h>

#include "layers.h"

void relu_forward(const float *x, float *y, size_t n) {
  for (size_t i = 0; i < n; i++) y[i] = x[i] > 0.0f ? x[i] : 0.0f;
}

void relu_backward(const float *y, const float *dy, float *dx, size_t n) {
  for (size_t i = 0; i < n; i++) dx[i] = y[i] > 0.0f ? dy[i] : 0.0f;
}

/* Built for AVX-512, AVX2 and baseline x86-64 (layers.h). */
PSGD_MULTIVERSION
void relu_backward_bias(const float *y, float *dy, float *db, int b, int n) {
  for (int j = 0; j < n; j++) db[j] = 0.0f;
  for (int i = 0; i < b; i++) {
    const float *yr = y + (size_t)i * n;
    float *dr = dy + (size_t)i * n;
    for (int j = 0; j < n; j++) {
      float g = yr[j] > 0.0f ? dr[j] : 0.0f;
      dr[j] = g;
      db[j] += g;
    }
  }
}

float softmax_ce(const float *logits, const uint8_t *y, float *dlogits, int b, int n_classes,
                 int *n_correct) {
  double total = 0.0;
  int correct = 0;
  const float inv_b = 1.0f / (float)b;
  for (int i = 0; i < b; i++) {
    const float *z = logits + (size_t)i * n_classes;
    int arg = 0;
    float mx = z[0];
    for (int j = 1; j < n_classes; j++)
      if (z[j] > mx) {
        mx = z[j];
        arg = j;
      }
    correct += arg == y[i];
    /* log-sum-exp shifted by the max: no overflow for any finite logits */
    float s = 0.0f;
    float *e = dlogits ? dlogits + (size_t)i * n_classes : NULL;
    for (int j = 0; j < n_classes; j++) {
      float ej = expf(z[j] - mx);
      if (e) e[j] = ej;
      s += ej;
    }
    float lse = mx + logf(s);
    total += (double)lse - z[y[i]];
    if (dlogits) {
      /* d holds the exponentials summed into s (computed once, above) */
      float *d = dlogits + (size_t)i * n_classes;
      float scale = inv_b / s;
      for (int j = 0; j < n_classes; j++) d[j] *= scale;
      d[y[i]] -= inv_b;
    }
  }
  if (n_correct) *n_correct += correct;
  return (float)(total / b);
}

void cnhw_to_nchw(const float *x, float *y, int b, int c, int hw) {
  for (int ch = 0; ch < c; ch++)
    for (int n = 0; n < b; n++)
      memcpy(y + ((size_t)n * c + ch) * hw, x + ((size_t)ch * b + n) * hw, sizeof(float) * hw);
}

void nchw_to_cnhw(const float *x, float *y, int b, int c, int hw) {
  for (int ch = 0; ch < c; ch++)
    for (int n = 0; n < b; n++)
      memcpy(y + ((size_t)ch * b + n) * hw, x + ((size_t)n * c + ch) * hw, sizeof(float) * hw);
}

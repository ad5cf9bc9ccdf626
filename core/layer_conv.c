/* layer_conv.c - valid 2-D convolution, stride 1, by im2col + matrix
 * products (gemm.h), with the output in CNHW ([oc][b][oh*ow]: each channel
 * holds the batch's maps back to back), the layout the pooling and the next
 * conv read.
 *
 * With the channels as the short side of the forward product,
 * W^T[oc][K] . col[K][n*P], and the weight gradient as the NN product
 * col[K][n*P] . dy_t[n*P][oc] (dy_t: the output gradient in NHWC), every
 * product of a conv runs on libxsmm's kernels (gemm.c). The batch is cut
 * into blocks of `chunk` samples whose im2col matrix fits in a quarter of
 * L2, one product per block; the backward pass recomputes each block's
 * im2col instead of keeping the whole batch's (3.7 MB for conv1 at batch
 * 16). */
#include <string.h>

#include "gemm.h"
#include "layers.h"
/* Bytes of one im2col block: a quarter of this machine kind's 2 MB L2. */
#define CONV_COL_BUDGET (512.0 * 1024)

void conv_shape_init(conv_shape *s, int h, int w, int c, int k, int oc) {
  s->h = h;
  s->w = w;
  s->c = c;
  s->k = k;
  s->oc = oc;
  s->oh = h - k + 1;
  s->ow = w - k + 1;
  double P = (double)s->oh * s->ow, K = (double)k * k * c;
  int chunk = (int)(CONV_COL_BUDGET / (P * K * sizeof(float)));
  s->chunk = chunk < 1 ? 1 : chunk;
}

/* Copies the oh rows of ow floats of one (channel, ki, kj) row of col for
 * one sample. For the widths LeNet5 uses the row length is a compile-time
 * constant and the copy becomes a few inlined vector moves: measured here,
 * ~115k memcpy calls per step were a quarter of LeNet5's time. */
#define COPY_ROWS(OW)                                                           \
  for (int oy = 0; oy < oh; oy++) memcpy(dst + (size_t)oy * (OW), src + (size_t)oy * w, \
                                         sizeof(float) * (size_t)(OW))

/* Built for AVX-512, AVX2 and baseline x86-64, picked at load time (GCC
 * function multiversioning): the suite's build flags target baseline
 * x86-64, whose 16-byte moves made this copy the largest non-BLAS cost. */
PSGD_MULTIVERSION
static void copy_rows(float *restrict dst, const float *restrict src, int oh, int ow, int w) {
  switch (ow) {
    case 28: COPY_ROWS(28); break; /* conv1 on 32x32 */
    case 24: COPY_ROWS(24); break; /* conv1 on 28x28 */
    case 10: COPY_ROWS(10); break; /* conv2 on 14x14 */
    case 8: COPY_ROWS(8); break;   /* conv2 on 12x12 */
    default:
      for (int oy = 0; oy < oh; oy++)
        for (int ox = 0; ox < ow; ox++) dst[(size_t)oy * ow + ox] = src[(size_t)oy * w + ox];
  }
}

void im2col(const conv_shape *s, const float *x, size_t sn, size_t sc, float *col, int nb) {
  const int k = s->k, P = s->oh * s->ow;
  const size_t ld = (size_t)nb * P;
  for (int ch = 0; ch < s->c; ch++)
    for (int ki = 0; ki < k; ki++)
      for (int kj = 0; kj < k; kj++) {
        float *row = col + ((size_t)(ch * k + ki) * k + kj) * ld;
        for (int n = 0; n < nb; n++)
          copy_rows(row + (size_t)n * P, x + n * sn + ch * sc + (size_t)ki * s->w + kj, s->oh,
                    s->ow, s->w);
      }
}

/* dst[oy][0..ow) += src rows, for the oh rows of one window offset. */
PSGD_MULTIVERSION
static void add_rows(float *restrict dst, const float *restrict src, int oh, int ow, int w) {
  for (int oy = 0; oy < oh; oy++) {
    float *d = dst + (size_t)oy * w;
    const float *g = src + (size_t)oy * ow;
    for (int ox = 0; ox < ow; ox++) d[ox] += g[ox];
  }
}

void col2im(const conv_shape *s, const float *dcol, float *dx, size_t sn, size_t sc, int nb) {
  const int k = s->k, P = s->oh * s->ow;
  const size_t ld = (size_t)nb * P, hw = (size_t)s->h * s->w;
  for (int ch = 0; ch < s->c; ch++)
    for (int n = 0; n < nb; n++) memset(dx + n * sn + ch * sc, 0, sizeof(float) * hw);
  for (int ch = 0; ch < s->c; ch++)
    for (int ki = 0; ki < k; ki++)
      for (int kj = 0; kj < k; kj++) {
        const float *row = dcol + ((size_t)(ch * k + ki) * k + kj) * ld;
        for (int n = 0; n < nb; n++)
          add_rows(dx + n * sn + ch * sc + (size_t)ki * s->w + kj, row + (size_t)n * P, s->oh,
                   s->ow, s->w);
      }
}

void conv_forward(const conv_shape *s, const float *x, size_t sn, size_t sc, const float *W,
                  const float *bias, float *col, float *y, int b) {
  const int K = s->k * s->k * s->c, P = s->oh * s->ow;
  for (int n0 = 0; n0 < b; n0 += s->chunk) {
    int nb = b - n0 < s->chunk ? b - n0 : s->chunk;
    im2col(s, x + n0 * sn, sn, sc, col, nb);
    /* y[oc][n0 .. n0+nb)[P] = W^T[oc][K] . col[K][nb*P]; rows of y are b*P apart */
    gemm_rm(1, 0, s->oc, nb * P, K, W, s->oc, col, nb * P, 0.0f, y + (size_t)n0 * P, b * P);
  }
  if (bias)
    for (int o = 0; o < s->oc; o++) {
      float *r = y + (size_t)o * b * P;
      for (size_t i = 0; i < (size_t)b * P; i++) r[i] += bias[o];
    }
}

void conv_backward(const conv_shape *s, const float *x, size_t sn, size_t sc, const float *W,
                   const float *dy, const float *dy_t, float *col, float *dx, float *dW,
                   float *db, int b) {
  const int K = s->k * s->k * s->c, P = s->oh * s->ow;
  for (int n0 = 0; n0 < b; n0 += s->chunk) {
    int nb = b - n0 < s->chunk ? b - n0 : s->chunk;
    const float beta = n0 ? 1.0f : 0.0f; /* the first block writes dW */
    im2col(s, x + n0 * sn, sn, sc, col, nb);
    if (dy_t)
      /* dW[K][oc] (+)= col[K][nb*P] . dy_t[nb*P][oc]  (NN) */
      gemm_rm(0, 0, K, s->oc, nb * P, col, nb * P, dy_t + (size_t)n0 * P * s->oc, s->oc, beta,
                dW, s->oc);
    else
      /* dW[K][oc] (+)= col[K][nb*P] . dy[oc][nb*P]^T  (NT) */
      gemm_rm(0, 1, K, s->oc, nb * P, col, nb * P, dy + (size_t)n0 * P, b * P, beta, dW, s->oc);
    if (dx) {
      /* the block's im2col is dead: reuse it for dcol[K][nb*P] =
       * W[K][oc] . dy[oc][nb*P], then scatter-add it into dx */
      gemm_rm(0, 0, K, nb * P, s->oc, W, s->oc, dy + (size_t)n0 * P, b * P, 0.0f, col, nb * P);
      col2im(s, col, dx + n0 * sn, sn, sc, nb);
    }
  }
  if (db)
    for (int o = 0; o < s->oc; o++) {
      const float *r = dy + (size_t)o * b * P;
      float acc = 0.0f;
      for (size_t i = 0; i < (size_t)b * P; i++) acc += r[i];
      db[o] = acc;
    }
}

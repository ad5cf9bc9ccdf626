/* layers.h - the layer math the models are built from: forward/backward
 * function pairs over plain float pointers (internal to model.c and the
 * tests; the rest of the suite uses model.h).
 *
 * Layouts (row-major, shapes in comments as [dims]):
 *   activations of dense layers   [b][n]
 *   activations of conv layers    CNHW: [c][b][h][w]
 *   dense weights                 [in][out], bias [out]
 *   conv weights                  [c*k*k][oc] with rows ordered (c, ki, kj),
 *                                 bias [oc]
 * Backward functions write (never accumulate into) their outputs unless the
 * comment says otherwise. All matrix products go through gemm.h; callers
 * have made OpenBLAS single-threaded (model_blas_init). */
#ifndef PSGD_LAYERS_H
#define PSGD_LAYERS_H

#include <stddef.h>
#include <stdint.h>

/* Hot non-BLAS loops are compiled for AVX-512, AVX2 and baseline x86-64 and
 * the best is picked at load time (GCC target_clones over ifunc); the
 * suite's flags target baseline x86-64 so the binary runs anywhere. Other
 * compilers or targets get the plain function, and so does the TSan build:
 * its instrumented ifunc resolvers run during relocation, before the TSan
 * runtime exists, and crash every binary at startup. */
#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && defined(__linux__) && \
    !defined(__SANITIZE_THREAD__)
#define PSGD_MULTIVERSION \
  __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define PSGD_MULTIVERSION
#endif

/* ---- dense: y[b][out] = x[b][in] . W[in][out] + bias */
void dense_forward(const float *x, const float *W, const float *bias, float *y, int b, int in,
                   int out);
/* Same with ReLU fused into the bias pass: y = max(0, x.W + bias). */
void dense_relu_forward(const float *x, const float *W, const float *bias, float *y, int b,
                        int in, int out);
/* dW = x^T dy, db = column sums of dy (db may be NULL), dx = dy W^T (dx may
 * be NULL: the first layer needs no input gradient). */
void dense_backward(const float *x, const float *W, const float *dy, float *dx, float *dW,
                    float *db, int b, int in, int out);

/* ---- ReLU over n floats: y = max(0, x); dx = dy * (y > 0) (dx may equal dy). */
void relu_forward(const float *x, float *y, size_t n);
void relu_backward(const float *y, const float *dy, float *dx, size_t n);
/* In-place ReLU backward on dy[b][n] fused with the bias gradient of the
 * layer that produced y: dy *= (y > 0); db[j] = sum_b dy[b][j]. */
void relu_backward_bias(const float *y, float *dy, float *db, int b, int n);

/* ---- feature maps are addressed by strides: element (n, ch, y, x) of a map
 * stack is at n*sn + ch*sc + y*w + x. NCHW (the input batch): sn = c*h*w,
 * sc = h*w. CNHW over a batch of b (conv outputs): sn = h*w, sc = b*h*w. */

/* ---- convolution, valid, stride 1, square kernel k. Weights W[K][oc] with
 * K = c*k*k ordered (c, ki, kj); output y in CNHW [oc][b][oh*ow]. The batch
 * is processed in blocks of `chunk` samples (layer_conv.c says why); `col`
 * is scratch of conv_col_floats(s, s->chunk) floats. */
typedef struct {
  int h, w, c;   /* input */
  int k, oc;     /* kernel side, output channels */
  int oh, ow;    /* h - k + 1, w - k + 1 */
  int chunk;     /* samples per im2col block */
} conv_shape;
void conv_shape_init(conv_shape *s, int h, int w, int c, int k, int oc);
static inline size_t conv_col_floats(const conv_shape *s, int b) {
  return (size_t)b * s->oh * s->ow * s->k * s->k * s->c;
}
/* col[K][nb*oh*ow] from nb samples of x (strides sn, sc). */
void im2col(const conv_shape *s, const float *x, size_t sn, size_t sc, float *col, int nb);
/* The nb samples of dx (strides sn, sc) = sum of dcol over the windows
 * (overwritten). */
void col2im(const conv_shape *s, const float *dcol, float *dx, size_t sn, size_t sc, int nb);
/* y = conv(x) (+ bias if bias != NULL). */
void conv_forward(const conv_shape *s, const float *x, size_t sn, size_t sc, const float *W,
                  const float *bias, float *col, float *y, int b);
/* From the forward input x and dy (CNHW [oc][b][oh*ow]): dW, db (if non
 * NULL) and dx (if non NULL; same strides as x). dy_t, if non NULL, is the
 * same gradient in NHWC ([b][oh*ow][oc]), which makes dW an NN product. */
void conv_backward(const conv_shape *s, const float *x, size_t sn, size_t sc, const float *W,
                   const float *dy, const float *dy_t, float *col, float *dx, float *dW,
                   float *db, int b);

/* ---- 2x2 max pooling, stride 2, over `planes` maps of h x w; odd trailing
 * rows/cols are dropped. arg[planes][h/2][w/2] records which of the 4
 * inputs won (0..3). */
void maxpool2_forward(const float *x, float *y, uint8_t *arg, int planes, int h, int w);
/* dx[planes][h][w]: dy routed to the winners, zero elsewhere (fully written). */
void maxpool2_backward(const float *dy, const uint8_t *arg, float *dx, int planes, int h,
                       int w);
/* Fused bias + ReLU + pool of a CNHW conv output a[c][b][h][w] computed
 * without bias: y = max(0, max4(a) + bias[c]). Equal to pool(relu(a + bias))
 * because the bias is constant over a window and max commutes with the
 * monotone ReLU. */
void pool_bias_relu_forward(const float *a, const float *bias, float *y, uint8_t *arg, int b,
                            int c, int h, int w);
/* Backward of the fused op: da (CNHW, fully written), optionally da_t (the
 * same in NHWC, fully written), and db. */
void pool_bias_relu_backward(const float *y, const float *dy, const uint8_t *arg, float *da,
                             float *da_t, float *db, int b, int c, int h, int w);

/* ---- softmax cross-entropy on logits[b][n_classes]: returns the mean loss;
 * if dlogits != NULL writes d(mean loss)/d logits; if n_correct != NULL adds
 * the number of rows whose argmax equals the label. */
float softmax_ce(const float *logits, const uint8_t *y, float *dlogits, int b, int n_classes,
                 int *n_correct);

/* CNHW [c][b][hw] <-> NCHW [b][c][hw] (the flatten before LeNet5's dense
 * layers and its gradient). */
void cnhw_to_nchw(const float *x, float *y, int b, int c, int hw);
void nchw_to_cnhw(const float *x, float *y, int b, int c, int hw);

#endif

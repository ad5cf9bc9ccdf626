/* layer_pool.c - 2x2 max pooling (stride 2) over planes of h x w (CNHW
 * activations: plane = channel x sample), alone and fused with the
 * preceding conv's bias and ReLU (LeNet5: conv -> ReLU -> pool in one pass
 * over the conv output instead of three). */
#include <string.h>

#include "layers.h"

/* arg codes the winner of a window: 0 top-left, 1 top-right, 2 bottom-left,
 * 3 bottom-right. */
static inline size_t win_off(int a, int w) { return (size_t)(a >> 1) * w + (a & 1); }

/* One output row from two input rows, plus a constant and a ReLU when
 * relu != 0 (the fused conv bias). restrict (the uint8 arg row could
 * otherwise alias the floats) and the arithmetic form of the winner index
 * let the compiler vectorize this loop; with a select it did not. */
static inline void pool_row(const float *restrict r0, const float *restrict r1,
                            float *restrict out, uint8_t *restrict am, int pw, float add,
                            int relu) {
  for (int px = 0; px < pw; px++) {
    float a = r0[2 * px], b = r0[2 * px + 1], c = r1[2 * px], d = r1[2 * px + 1];
    /* first maximum wins ties, in the order a, b, c, d */
    int hb = b > a, hd = d > c;
    float m1 = hb ? b : a, m2 = hd ? d : c;
    int bot = m2 > m1;
    float v = (bot ? m2 : m1) + add;
    out[px] = relu && !(v > 0.0f) ? 0.0f : v;
    am[px] = (uint8_t)(hb + bot * (2 + hd - hb));
  }
}

/* Built for AVX-512, AVX2 and baseline x86-64 (layers.h). */
PSGD_MULTIVERSION
static void pool_planes(const float *x, float *y, uint8_t *arg, int planes, int h, int w,
                        const float *bias, int per_bias) {
  const int ph = h / 2, pw = w / 2;
  for (int p = 0; p < planes; p++) {
    const float add = bias ? bias[p / per_bias] : 0.0f;
    for (int py = 0; py < ph; py++) {
      const float *r0 = x + ((size_t)p * h + 2 * py) * w;
      size_t o = ((size_t)p * ph + py) * pw;
      pool_row(r0, r0 + w, y + o, arg + o, pw, add, bias != NULL);
    }
  }
}

void maxpool2_forward(const float *x, float *y, uint8_t *arg, int planes, int h, int w) {
  pool_planes(x, y, arg, planes, h, w, NULL, 1);
}

/* Scatters g (one value per pooled output) to the winners of dx, which is
 * zeroed first; rows/columns left over by an odd size stay zero. */
void maxpool2_backward(const float *dy, const uint8_t *arg, float *dx, int planes, int h,
                       int w) {
  const int ph = h / 2, pw = w / 2;
  memset(dx, 0, sizeof(float) * (size_t)planes * h * w);
  for (int p = 0; p < planes; p++)
    for (int py = 0; py < ph; py++) {
      float *base = dx + ((size_t)p * h + 2 * py) * w;
      size_t o = ((size_t)p * ph + py) * pw;
      for (int px = 0; px < pw; px++) base[2 * px + win_off(arg[o + px], w)] = dy[o + px];
    }
}

void pool_bias_relu_forward(const float *a, const float *bias, float *y, uint8_t *arg, int b,
                            int c, int h, int w) {
  /* planes are (channel, sample) in CNHW: plane p has bias[p / b] */
  pool_planes(a, y, arg, b * c, h, w, bias, b);
}

/* dy passes the ReLU where the pooled output is positive; that masked
 * gradient, summed, is the bias gradient, and it is routed to the window's
 * winner: in da (CNHW, like the conv output) and, if da_t != NULL, also in
 * da_t (NHWC [b][h][w][c]), the layout in which the conv's weight gradient
 * is an NN product (see layer_conv.c). Both are fully written: all four
 * inputs of every window of da (the winner's gradient or zero; only what an
 * odd size leaves over is cleared first), and da_t by clearing it whole and
 * storing the winners: one strided store per window instead of four was
 * measured 3x faster. */
void pool_bias_relu_backward(const float *y, const float *dy, const uint8_t *arg, float *da,
                             float *da_t, float *db, int b, int c, int h, int w) {
  const int ph = h / 2, pw = w / 2;
  const size_t hw = (size_t)h * w;
  if ((h | w) & 1) memset(da, 0, sizeof(float) * (size_t)b * c * hw);
  if (da_t) memset(da_t, 0, sizeof(float) * (size_t)b * c * hw);
  for (int ch = 0; ch < c; ch++) {
    float acc = 0.0f;
    for (int n = 0; n < b; n++) {
      const size_t plane = (size_t)ch * b + n;
      float *base = da + plane * hw;
      for (int py = 0; py < ph; py++) {
        size_t o = (plane * ph + py) * pw;
        float *r0 = base + (size_t)(2 * py) * w, *r1 = r0 + w;
        for (int px = 0; px < pw; px++) {
          float g = y[o + px] > 0.0f ? dy[o + px] : 0.0f;
          acc += g;
          /* zero the window, then store the winner: no branch on the
           * (data-dependent) winner, whose mispredictions were measured
           * to triple this loop's time */
          r0[2 * px] = r0[2 * px + 1] = r1[2 * px] = r1[2 * px + 1] = 0.0f;
          const size_t off = 2 * (size_t)px + win_off(arg[o + px], w);
          r0[off] = g;
          if (da_t) da_t[((size_t)n * hw + (size_t)(2 * py) * w + off) * c + ch] = g;
        }
      }
    }
    db[ch] = acc;
  }
}

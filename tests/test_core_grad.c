/* test_core_grad.c - finite-difference checks of every layer (dense, conv,
 * max pool, fused bias+ReLU+pool, ReLU, softmax cross-entropy) and of both
 * whole models (MLP, LeNet5 on 1-channel and 3-channel input).
 *
 * Layer checks: a scalar L = sum_i r_i * out_i (r random, accumulated in
 * double) is differentiated by central differences with respect to sampled
 * inputs and parameters, and compared with the backward pass fed dy = r.
 * Model checks: the same for the mean cross-entropy, per coordinate on a
 * sample of every tensor and along random directions through all of theta. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"
#include "layers.h"
#include "model.h"

static psgd_rng rng;

static float *rand_buf(size_t n, float scale) {
  float *p = psgd_alloc(n * sizeof(float));
  assert_non_null(p);
  for (size_t i = 0; i < n; i++) p[i] = (float)(scale * (2.0 * psgd_rng_uniform(&rng) - 1.0));
  return p;
}

/* Distinct values spaced 2/n apart in (-1, 1), none zero, shuffled: no ties
 * in a max-pool window and no ReLU or winner change under a perturbation of
 * 1e-3 (n <= 500). */
static float *distinct_buf(size_t n) {
  float *p = psgd_alloc(n * sizeof(float));
  int *perm = malloc(n * sizeof *perm);
  assert_true(p && perm);
  for (size_t i = 0; i < n; i++) perm[i] = (int)i;
  for (size_t i = n - 1; i > 0; i--) {
    size_t j = psgd_rng_below(&rng, i + 1);
    int t = perm[i];
    perm[i] = perm[j];
    perm[j] = t;
  }
  for (size_t i = 0; i < n; i++) p[i] = -1.0f + (2.0f * (float)perm[i] + 1.0f) / (float)n;
  free(perm);
  return p;
}

static double dot(const float *a, const float *r, size_t n) {
  double s = 0;
  for (size_t i = 0; i < n; i++) s += (double)a[i] * r[i];
  return s;
}

/* |num - ana| <= atol + rtol * max(|num|, |ana|) */
static int close_enough(double num, double ana, double rtol, double atol) {
  return fabs(num - ana) <= atol + rtol * fmax(fabs(num), fabs(ana));
}

/* Checks analytic gradient ga of L with respect to the n floats at p by
 * central differences at `samples` random coordinates (all if n is small).
 *
 * ReLU and max pooling make L piecewise smooth: a coordinate whose +-eps
 * perturbation crosses a kink has no meaningful central difference. With
 * allow_kinks, such a coordinate (its one-sided differences disagree even
 * at eps/10 and eps/100) is skipped and another one drawn, up to 3x samples draws (or all n, when
 * n <= samples); at least half of the wanted checks must be clean. A wrong gradient still fails: there both one-sided
 * differences agree with each other but not with the analytic value. */
typedef double (*loss_fn)(void *ctx);
static void check_coords_k(const char *what, float *p, const float *ga, size_t n, loss_fn L,
                           void *ctx, int samples, double eps, double rtol, double atol,
                           int allow_kinks) {
  int all = (size_t)samples >= n, clean = 0, tries = all ? (int)n : 3 * samples;
  double l0 = L(ctx);
  for (int s = 0; s < tries && (all || clean < samples); s++) {
    size_t i = all ? (size_t)s : psgd_rng_below(&rng, n);
    float keep = p[i];
    /* a disagreement of the one-sided differences is either a kink within
     * eps or plain curvature; both shrink or vanish with a smaller step */
    for (double e = eps; e >= eps * 0.009; e *= 0.1) {
      p[i] = keep + (float)e;
      double lp = L(ctx);
      float up = p[i];
      p[i] = keep - (float)e;
      double lm = L(ctx);
      float down = p[i];
      p[i] = keep;
      double num = (lp - lm) / ((double)up - down);
      double fwd = (lp - l0) / ((double)up - keep), bwd = (l0 - lm) / ((double)keep - down);
      if (allow_kinks && !close_enough(fwd, bwd, rtol, 2 * atol)) continue;
      clean++;
      if (!close_enough(num, ga[i], rtol, atol)) {
        fprintf(stderr, "%s[%zu]: numeric %.6g (one-sided %.6g %.6g) analytic %.6g\n", what, i,
                num, fwd, bwd, (double)ga[i]);
        fail();
      }
      break;
    }
  }
  if (clean * 2 < (all ? (int)n : samples)) {
    fprintf(stderr, "%s: only %d clean coordinates in %d draws\n", what, clean, tries);
    fail();
  }
}

/* Directional derivative along random directions v over the n floats at p:
 * sum(ga * v) against (L(p + eps v) - L(p - eps v)) / 2 eps. Directions
 * whose one-sided differences disagree (a kink within eps) are redrawn, up
 * to 24; at least 2 clean ones must be checked. */
static void check_directions(const char *what, float *p, const float *ga, size_t n, loss_fn L,
                             void *ctx, double eps, double rtol, double atol) {
  float *keep = psgd_alloc(n * sizeof(float)), *v = psgd_alloc(n * sizeof(float));
  assert_true(keep && v);
  memcpy(keep, p, n * sizeof(float));
  double l0 = L(ctx);
  int clean = 0;
  float *up = psgd_alloc(n * sizeof(float)), *down = psgd_alloc(n * sizeof(float));
  assert_true(up && down);
  for (int k = 0; k < 24 && clean < 3; k++) {
    for (size_t i = 0; i < n; i++) {
      v[i] = (float)(2.0 * psgd_rng_uniform(&rng) - 1.0);
      up[i] = keep[i] + (float)eps * v[i];
      down[i] = keep[i] - (float)eps * v[i];
    }
    /* the analytic side uses the steps as rounded to float */
    double ana = 0;
    for (size_t i = 0; i < n; i++) ana += (double)ga[i] * ((double)up[i] - down[i]) / (2 * eps);
    memcpy(p, up, n * sizeof(float));
    double lp = L(ctx);
    memcpy(p, down, n * sizeof(float));
    double lm = L(ctx);
    memcpy(p, keep, n * sizeof(float));
    double num = (lp - lm) / (2 * eps), fwd = (lp - l0) / eps, bwd = (l0 - lm) / eps;
    if (!close_enough(fwd, bwd, rtol, 2 * atol)) continue;
    clean++;
    if (!close_enough(num, ana, rtol, atol)) {
      fprintf(stderr, "%s direction %d: numeric %.6g analytic %.6g\n", what, k, num, ana);
      fail();
    }
  }
  if (clean < 2) {
    fprintf(stderr, "%s: only %d clean directions\n", what, clean);
    fail();
  }
  psgd_free(keep);
  psgd_free(v);
  psgd_free(up);
  psgd_free(down);
}

static void check_coords(const char *what, float *p, const float *ga, size_t n, loss_fn L,
                         void *ctx, int samples, double eps, double rtol, double atol) {
  check_coords_k(what, p, ga, n, L, ctx, samples, eps, rtol, atol, 0);
}

/* ------------------------------------------------------------- dense ---- */

typedef struct {
  int b, in, out, relu;
  float *x, *W, *bias, *y, *r;
} dense_ctx;

static double dense_loss(void *c) {
  dense_ctx *d = c;
  if (d->relu) dense_relu_forward(d->x, d->W, d->bias, d->y, d->b, d->in, d->out);
  else dense_forward(d->x, d->W, d->bias, d->y, d->b, d->in, d->out);
  return dot(d->y, d->r, (size_t)d->b * d->out);
}

static void test_dense_grad(void **state) {
  (void)state;
  for (int relu = 0; relu < 2; relu++) {
    dense_ctx d = {5, 13, 7, relu, NULL, NULL, NULL, NULL, NULL};
    d.x = rand_buf((size_t)d.b * d.in, 1);
    d.W = rand_buf((size_t)d.in * d.out, 0.5f);
    d.bias = rand_buf((size_t)d.out, 0.5f);
    d.y = rand_buf((size_t)d.b * d.out, 1);
    d.r = rand_buf((size_t)d.b * d.out, 1);
    float *dx = rand_buf((size_t)d.b * d.in, 1), *dW = rand_buf((size_t)d.in * d.out, 1),
          *db = rand_buf((size_t)d.out, 1), *dy = rand_buf((size_t)d.b * d.out, 1);
    dense_loss(&d);
    memcpy(dy, d.r, sizeof(float) * d.b * d.out);
    if (relu) relu_backward_bias(d.y, dy, db, d.b, d.out);
    dense_backward(d.x, d.W, dy, dx, dW, relu ? NULL : db, d.b, d.in, d.out);
    check_coords_k("dense dx", d.x, dx, (size_t)d.b * d.in, dense_loss, &d, 1000, 1e-2, 1e-3, 2e-4,
                   relu);
    check_coords_k("dense dW", d.W, dW, (size_t)d.in * d.out, dense_loss, &d, 1000, 1e-2, 1e-3,
                   2e-4, relu);
    check_coords_k("dense db", d.bias, db, (size_t)d.out, dense_loss, &d, 1000, 1e-2, 1e-3, 2e-4,
                   relu);
    /* dx may be NULL (first layer): dW and db must not change */
    float *dW2 = rand_buf((size_t)d.in * d.out, 1);
    dense_backward(d.x, d.W, dy, NULL, dW2, NULL, d.b, d.in, d.out);
    assert_memory_equal(dW, dW2, sizeof(float) * d.in * d.out);
    psgd_free(dW2);
    float *bufs[] = {d.x, d.W, d.bias, d.y, d.r, dx, dW, db, dy};
    for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++) psgd_free(bufs[i]);
  }
}

/* -------------------------------------------------------------- relu ---- */

typedef struct {
  size_t n;
  float *x, *y, *r;
} relu_ctx;

static double relu_loss(void *c) {
  relu_ctx *d = c;
  relu_forward(d->x, d->y, d->n);
  return dot(d->y, d->r, d->n);
}

static void test_relu_grad(void **state) {
  (void)state;
  relu_ctx d = {200, distinct_buf(200), rand_buf(200, 1), rand_buf(200, 1)};
  float *dx = rand_buf(200, 1);
  relu_loss(&d);
  relu_backward(d.y, d.r, dx, d.n);
  check_coords("relu dx", d.x, dx, d.n, relu_loss, &d, 1000, 1e-3, 1e-3, 1e-4);
  int zeros = 0;
  for (size_t i = 0; i < d.n; i++) zeros += d.y[i] == 0.0f;
  assert_true(zeros > 50 && zeros < 150); /* both branches were exercised */
  psgd_free(d.x);
  psgd_free(d.y);
  psgd_free(d.r);
  psgd_free(dx);
}

/* -------------------------------------------------------------- pool ---- */

typedef struct {
  int b, c, h, w, fused;
  float *x, *bias, *y, *r;
  uint8_t *arg;
} pool_ctx;

static double pool_loss(void *c) {
  pool_ctx *d = c;
  if (d->fused) pool_bias_relu_forward(d->x, d->bias, d->y, d->arg, d->b, d->c, d->h, d->w);
  else maxpool2_forward(d->x, d->y, d->arg, d->b * d->c, d->h, d->w);
  return dot(d->y, d->r, (size_t)d->b * d->c * (d->h / 2) * (d->w / 2));
}

static void test_pool_grad(void **state) {
  (void)state;
  /* odd sizes too: the dropped last row/column must get zero gradient */
  const int sizes[][2] = {{6, 8}, {7, 5}};
  for (int fused = 0; fused < 2; fused++)
    for (int s = 0; s < 2; s++) {
      pool_ctx d = {3, 2, sizes[s][0], sizes[s][1], fused, NULL, NULL, NULL, NULL, NULL};
      size_t nin = (size_t)d.b * d.c * d.h * d.w, nout = (size_t)d.b * d.c * (d.h / 2) * (d.w / 2);
      d.x = distinct_buf(nin);
      d.bias = rand_buf((size_t)d.c, 0.3f);
      d.y = rand_buf(nout, 1);
      d.r = rand_buf(nout, 1);
      d.arg = malloc(nout);
      float *dx = rand_buf(nin, 1), *dxt = rand_buf(nin, 1), *db = rand_buf((size_t)d.c, 1);
      pool_loss(&d);
      if (fused)
        pool_bias_relu_backward(d.y, d.r, d.arg, dx, dxt, db, d.b, d.c, d.h, d.w);
      else
        maxpool2_backward(d.r, d.arg, dx, d.b * d.c, d.h, d.w);
      /* fused: max + bias may land within eps of the ReLU's kink */
      check_coords_k("pool dx", d.x, dx, nin, pool_loss, &d, 100000, 1e-3, 1e-3, 1e-4, fused);
      if (fused) {
        check_coords_k("pool db", d.bias, db, (size_t)d.c, pool_loss, &d, 100, 1e-3, 3e-3, 1e-4,
                       1);
        /* the NHWC copy holds the same numbers: (n, pos, ch) <- (ch, n, pos) */
        size_t hw = (size_t)d.h * d.w;
        for (int ch = 0; ch < d.c; ch++)
          for (int n = 0; n < d.b; n++)
            for (size_t p = 0; p < hw; p++)
              assert_true(dxt[((size_t)n * hw + p) * d.c + ch] == dx[((size_t)ch * d.b + n) * hw + p]);
      }
      psgd_free(d.x);
      psgd_free(d.bias);
      psgd_free(d.y);
      psgd_free(d.r);
      free(d.arg);
      psgd_free(dx);
      psgd_free(dxt);
      psgd_free(db);
    }
}

/* -------------------------------------------------------------- conv ---- */

typedef struct {
  conv_shape s;
  int b;
  size_t sn, sc;
  float *x, *W, *bias, *col, *y, *r;
} conv_ctx;

static double conv_loss(void *c) {
  conv_ctx *d = c;
  conv_forward(&d->s, d->x, d->sn, d->sc, d->W, d->bias, d->col, d->y, d->b);
  return dot(d->y, d->r, (size_t)d->b * d->s.oc * d->s.oh * d->s.ow);
}

static void test_conv_grad(void **state) {
  (void)state;
  /* input NCHW (as conv1 reads the batch) and CNHW (as conv2 reads conv1's
   * pooled output); blocks of 2 samples over a batch of 3 so the block loop
   * and the dW accumulation across blocks are exercised; dW by NN (with the
   * NHWC copy of dy) and by NT. */
  for (int layout = 0; layout < 2; layout++)
    for (int use_t = 0; use_t < 2; use_t++) {
      conv_ctx d;
      memset(&d, 0, sizeof d);
      d.b = 3;
      conv_shape_init(&d.s, 7, 6, 2, 3, 4);
      d.s.chunk = 2;
      size_t hw = (size_t)d.s.h * d.s.w, P = (size_t)d.s.oh * d.s.ow;
      size_t K = (size_t)d.s.k * d.s.k * d.s.c, nin = (size_t)d.b * d.s.c * hw;
      size_t nout = (size_t)d.b * d.s.oc * P;
      d.sn = layout ? hw : d.s.c * hw;
      d.sc = layout ? d.b * hw : hw;
      d.x = rand_buf(nin, 1);
      d.W = rand_buf(K * d.s.oc, 0.5f);
      d.bias = rand_buf((size_t)d.s.oc, 0.5f);
      d.col = rand_buf(conv_col_floats(&d.s, d.s.chunk), 1);
      d.y = rand_buf(nout, 1);
      d.r = rand_buf(nout, 1);
      float *dx = rand_buf(nin, 1), *dW = rand_buf(K * d.s.oc, 1), *db = rand_buf((size_t)d.s.oc, 1);
      float *dyt = rand_buf(nout, 1);
      for (int o = 0; o < d.s.oc; o++)
        for (int n = 0; n < d.b; n++)
          for (size_t p = 0; p < P; p++)
            dyt[((size_t)n * P + p) * d.s.oc + o] = d.r[((size_t)o * d.b + n) * P + p];
      conv_loss(&d);
      conv_backward(&d.s, d.x, d.sn, d.sc, d.W, d.r, use_t ? dyt : NULL, d.col, dx, dW, db, d.b);
      check_coords("conv dx", d.x, dx, nin, conv_loss, &d, 100000, 1e-2, 1e-3, 2e-4);
      check_coords("conv dW", d.W, dW, K * d.s.oc, conv_loss, &d, 100000, 1e-2, 1e-3, 2e-4);
      check_coords("conv db", d.bias, db, (size_t)d.s.oc, conv_loss, &d, 100, 1e-2, 1e-3, 2e-4);
      float *bufs[] = {d.x, d.W, d.bias, d.col, d.y, d.r, dx, dW, db, dyt};
      for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++) psgd_free(bufs[i]);
    }
}

/* im2col/col2im are adjoint: <im2col(x), c> == <x, col2im(c)>. */
static void test_im2col_adjoint(void **state) {
  (void)state;
  conv_shape s;
  conv_shape_init(&s, 9, 8, 3, 5, 2);
  int b = 2;
  size_t nin = (size_t)b * s.c * s.h * s.w, ncol = conv_col_floats(&s, b);
  float *x = rand_buf(nin, 1), *c = rand_buf(ncol, 1), *col = rand_buf(ncol, 1),
        *dx = rand_buf(nin, 1);
  size_t hw = (size_t)s.h * s.w;
  im2col(&s, x, s.c * hw, hw, col, b);
  col2im(&s, c, dx, s.c * hw, hw, b);
  double a = dot(col, c, ncol), bb = dot(x, dx, nin);
  assert_true(fabs(a - bb) <= 1e-4 * fmax(1.0, fabs(a)));
  /* spot value: col row (ch=1, ki=2, kj=3), sample 1, output (oy=1, ox=2) */
  size_t P = (size_t)s.oh * s.ow, row = (size_t)(1 * 5 + 2) * 5 + 3;
  assert_true(col[row * b * P + 1 * P + 1 * s.ow + 2] ==
              x[1 * s.c * hw + 1 * hw + (1 + 2) * s.w + (2 + 3)]);
  psgd_free(x);
  psgd_free(c);
  psgd_free(col);
  psgd_free(dx);
}

/* --------------------------------------------------------- softmax-CE ---- */

typedef struct {
  int b, n;
  float *z;
  uint8_t *y;
} ce_ctx;

/* Reference mean cross-entropy in double (also the FD target, so the
 * check is not limited by float rounding of the loss). */
static double ce_ref(const ce_ctx *d, int *n_correct) {
  double total = 0;
  int correct = 0;
  for (int i = 0; i < d->b; i++) {
    const float *z = d->z + i * d->n;
    double mx = z[0], s = 0;
    int am = 0;
    for (int j = 1; j < d->n; j++)
      if (z[j] > mx) mx = z[j], am = j;
    for (int j = 0; j < d->n; j++) s += exp(z[j] - mx);
    total += mx + log(s) - z[d->y[i]];
    correct += am == d->y[i];
  }
  if (n_correct) *n_correct = correct;
  return total / d->b;
}

static double ce_loss(void *c) { return ce_ref(c, NULL); }

static void test_softmax_ce_grad(void **state) {
  (void)state;
  ce_ctx d = {6, 10, rand_buf(60, 3), malloc(6)};
  for (int i = 0; i < d.b; i++) d.y[i] = (uint8_t)psgd_rng_below(&rng, 10);
  float *dz = rand_buf(60, 1);
  int correct = 0;
  float loss = softmax_ce(d.z, d.y, dz, d.b, d.n, &correct);
  int ref_correct;
  double ref = ce_ref(&d, &ref_correct);
  assert_true(fabs(loss - ref) < 1e-5);
  assert_int_equal(correct, ref_correct);
  check_coords("softmax-ce dz", d.z, dz, 60, ce_loss, &d, 1000, 1e-3, 2e-3, 1e-5);
  /* huge logits stay finite */
  d.z[0] = 1e30f;
  d.z[1] = -1e30f;
  assert_true(isfinite(softmax_ce(d.z, d.y, dz, d.b, d.n, NULL)));
  psgd_free(d.z);
  free(d.y);
  psgd_free(dz);
}

/* ------------------------------------------------------------ models ---- */

/* Whole models are checked against an independent, plain-loop reference
 * forward pass in double precision over the same theta layout (conv weights
 * [c*k*k][oc] rows (c, ki, kj); dense [in][out]; LeNet5's flatten order
 * (channel, y, x)). Its loss has ~1e-16 rounding, so central differences
 * with steps of 1e-5..1e-6 are exact to well below the tolerance, and the
 * ReLU/max kinks that such small steps can still cross are detected by
 * comparing one-sided differences (check_coords_k, check_directions). */
typedef struct {
  const model *m;
  const model_spec *spec;
  model_ws *ws;
  float *theta, *x, *grad;
  uint8_t *y;
  int b;
} model_ctx;

static const float *tensor_at(const model_ctx *c, int t) {
  return c->theta + model_tensor(c->m, t).offset;
}

/* in[n_in] -> out[n_out] = in . W + bias, ReLU if relu */
static void ref_dense(const double *in, int n_in, const float *W, const float *bias, double *out,
                      int n_out, int relu) {
  for (int j = 0; j < n_out; j++) {
    double acc = bias[j];
    for (int i = 0; i < n_in; i++) acc += in[i] * W[(size_t)i * n_out + j];
    out[j] = relu && acc < 0 ? 0 : acc;
  }
}

static double ref_ce(const double *z, int n, int label) {
  double mx = z[0], s = 0;
  for (int j = 1; j < n; j++) mx = z[j] > mx ? z[j] : mx;
  for (int j = 0; j < n; j++) s += exp(z[j] - mx);
  return mx + log(s) - z[label];
}

/* conv (valid, 5x5 here but any k) + bias, then ReLU, then 2x2 max pool:
 * in[c][h][w] -> out[oc][(h-k+1)/2][(w-k+1)/2] */
static void ref_conv_relu_pool(const double *in, int c, int h, int w, const float *W,
                               const float *bias, int k, int oc, double *out) {
  int oh = h - k + 1, ow = w - k + 1, ph = oh / 2, pw = ow / 2;
  double *a = malloc(sizeof(double) * oc * oh * ow);
  assert_non_null(a);
  for (int o = 0; o < oc; o++)
    for (int y = 0; y < oh; y++)
      for (int x = 0; x < ow; x++) {
        double acc = bias[o];
        for (int ch = 0; ch < c; ch++)
          for (int ki = 0; ki < k; ki++)
            for (int kj = 0; kj < k; kj++)
              acc += in[((size_t)ch * h + y + ki) * w + x + kj] *
                     W[((size_t)(ch * k + ki) * k + kj) * oc + o];
        a[((size_t)o * oh + y) * ow + x] = acc > 0 ? acc : 0;
      }
  for (int o = 0; o < oc; o++)
    for (int y = 0; y < ph; y++)
      for (int x = 0; x < pw; x++) {
        const double *q = a + ((size_t)o * oh + 2 * y) * ow + 2 * x;
        double mx = fmax(fmax(q[0], q[1]), fmax(q[ow], q[ow + 1]));
        out[((size_t)o * ph + y) * pw + x] = mx;
      }
  free(a);
}

static double ref_loss(void *ctx) {
  model_ctx *c = ctx;
  const model_spec *s = c->spec;
  const int dim = s->c * s->h * s->w;
  double total = 0, buf[2][4096], in[4096];
  for (int n = 0; n < c->b; n++) {
    for (int i = 0; i < dim; i++) in[i] = c->x[(size_t)n * dim + i];
    const double *cur = in;
    int width = dim, t = 0;
    if (!strcmp(s->name, "lenet5")) {
      int h1 = (s->h - 4) / 2, w1 = (s->w - 4) / 2, h2 = (h1 - 4) / 2, w2 = (w1 - 4) / 2;
      ref_conv_relu_pool(in, s->c, s->h, s->w, tensor_at(c, 0), tensor_at(c, 1), 5, 6, buf[0]);
      ref_conv_relu_pool(buf[0], 6, h1, w1, tensor_at(c, 2), tensor_at(c, 3), 5, 16, buf[1]);
      cur = buf[1];
      width = 16 * h2 * w2;
      t = 4;
    }
    /* dense stack: every layer but the last has a ReLU */
    int layers = (model_n_tensors(c->m) - t) / 2, k = 0;
    for (int l = 0; l < layers; l++, t += 2) {
      model_tensor_info wi = model_tensor(c->m, t), bi = model_tensor(c->m, t + 1);
      int out = (int)bi.count;
      assert_int_equal(wi.count, (size_t)width * out);
      double *dst = cur == buf[0] ? buf[1] : buf[0];
      (void)k;
      ref_dense(cur, width, c->theta + wi.offset, c->theta + bi.offset, dst, out, l + 1 < layers);
      cur = dst;
      width = out;
    }
    total += ref_ce(cur, width, c->y[n]);
  }
  return total / c->b;
}

static void check_model(const model_spec *spec, int b) {
  char err[PSGD_ERRLEN];
  model *m = model_create(spec, err, sizeof err);
  if (!m) fprintf(stderr, "%s\n", err);
  assert_non_null(m);
  size_t d = model_n_params(m), dim = (size_t)spec->c * spec->h * spec->w;
  model_ctx c = {m, spec, model_ws_create(m, b), psgd_alloc(d * 4), rand_buf(b * dim, 1),
                 rand_buf(d, 1), malloc((size_t)b), b};
  assert_non_null(c.ws);
  model_init(m, c.theta, 11);
  for (int i = 0; i < b; i++) c.y[i] = (uint8_t)psgd_rng_below(&rng, (uint64_t)spec->n_classes);
  float loss = model_loss_grad(m, c.ws, c.theta, c.x, c.y, b, c.grad);
  double ref = ref_loss(&c);
  if (fabs(loss - ref) > 1e-5 * fmax(1.0, fabs(ref))) {
    fprintf(stderr, "%s: loss %.8g, reference %.8g\n", spec->name, loss, ref);
    fail();
  }
  /* evaluate gives the same loss and counts correct predictions */
  int correct = -1;
  float ev = model_evaluate(m, c.ws, c.theta, c.x, c.y, b, &correct);
  assert_true(fabs(ev - loss) < 1e-6 && correct >= 0 && correct <= b);
  for (int t = 0; t < model_n_tensors(m); t++) {
    model_tensor_info ti = model_tensor(m, t);
    check_coords_k(ti.name, c.theta + ti.offset, c.grad + ti.offset, ti.count, ref_loss, &c, 16,
                   2e-5, 1e-2, 1e-5, 1);
    check_directions(ti.name, c.theta + ti.offset, c.grad + ti.offset, ti.count, ref_loss, &c,
                     1e-6, 1e-2, 1e-5);
  }
  check_directions(spec->name, c.theta, c.grad, d, ref_loss, &c, 1e-6, 1e-2, 1e-5);
  /* padding gets zero gradient */
  for (int t = 0; t < model_n_tensors(m); t++) {
    model_tensor_info ti = model_tensor(m, t);
    size_t next = t + 1 < model_n_tensors(m) ? model_tensor(m, t + 1).offset : d;
    for (size_t i = ti.offset + ti.count; i < next; i++) assert_true(c.grad[i] == 0.0f);
  }
  model_ws_free(c.ws);
  psgd_free(c.theta);
  psgd_free(c.x);
  psgd_free(c.grad);
  free(c.y);
  model_free(m);
}

static void test_mlp_grad(void **state) {
  (void)state;
  model_spec s = {"mlp", 1, 6, 5, 7, 3, {16, 9, 12}};
  check_model(&s, 5);
}

static void test_lenet5_grad_gray(void **state) {
  (void)state;
  model_spec s = {"lenet5", 1, 16, 17, 10, 0, {0}};
  check_model(&s, 3);
}

static void test_lenet5_grad_rgb(void **state) {
  (void)state;
  /* 3x21x20: odd conv output sizes, so pooling drops a row */
  model_spec s = {"lenet5", 3, 21, 20, 5, 0, {0}};
  check_model(&s, 4);
}

static int setup(void **state) {
  (void)state;
  model_blas_init();
  /* PSGD_TEST_SEED lets a developer probe other draws; the default is fixed */
  const char *seed = getenv("PSGD_TEST_SEED");
  psgd_rng_seed(&rng, seed ? strtoull(seed, NULL, 10) : 12345);
  return 0;
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_dense_grad),       cmocka_unit_test(test_relu_grad),
      cmocka_unit_test(test_pool_grad),        cmocka_unit_test(test_conv_grad),
      cmocka_unit_test(test_im2col_adjoint),   cmocka_unit_test(test_softmax_ce_grad),
      cmocka_unit_test(test_mlp_grad),         cmocka_unit_test(test_lenet5_grad_gray),
      cmocka_unit_test(test_lenet5_grad_rgb),
  };
  return cmocka_run_group_tests(tests, setup, NULL);
}

/* model.c - the models of model.h over one flat parameter vector: the
 * registry of model names, the layout table (name, 64-byte aligned offset,
 * count per tensor), per-thread workspaces, and the forward/backward passes
 * of the MLP and of LeNet5 composed from the layer pairs in layers.h.
 *
 * LeNet5 keeps its conv activations in CNHW ([c][b][h][w], see layer_conv.c
 * for why) and transposes the last pooled map into the dense layers' [b][in]
 * (6400 floats at batch 16: negligible). Bias and ReLU of a conv are folded into its pooling pass
 * (layers.h: pool_bias_relu_*), and bias + ReLU of dense layers into the pass
 * after the sgemm: every activation is written once per direction. */
#define _POSIX_C_SOURCE 200809L
#include "model.h"

#include <assert.h>
#include <cblas.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "common.h"
#include "gemm.h"
#include "layers.h"

#define MLP_MAX_DENSE 9 /* 8 hidden + output */
#define MAX_TENSORS (2 * MLP_MAX_DENSE)

typedef enum { MODEL_MLP = 0, MODEL_LENET5, MODEL_KIND_COUNT } model_kind;

static const char *const kind_names[] = {"mlp", "lenet5"};
static_assert(sizeof kind_names / sizeof kind_names[0] == MODEL_KIND_COUNT,
              "one name per model kind");

typedef struct {
  char name[16];
  size_t offset, count;
  int fan_in; /* > 0: weights (He-uniform); 0: bias (zero) */
} tensor;

struct model {
  model_kind kind;
  model_spec spec;
  int n_tensors;
  tensor t[MAX_TENSORS];
  size_t d;
  double flops;
  char desc[160];
  /* MLP: widths[0] = input dim, widths[n_dense] = classes */
  int n_dense;
  int widths[MLP_MAX_DENSE + 1];
  /* LeNet5 */
  conv_shape c1, c2;
  int p1h, p1w, p2h, p2w; /* pooled sizes */
  int fc[4];              /* flat, 120, 84, classes */
};

/* LeNet5 widths (LeCun et al. 1998, as in the paper's CNN). */
#define LENET_C1 6
#define LENET_C2 16
#define LENET_K 5
#define LENET_F1 120
#define LENET_F2 84

static void add_tensor(model *m, const char *name, size_t count, int fan_in) {
  PSGD_CHECK(m->n_tensors < MAX_TENSORS);
  tensor *t = &m->t[m->n_tensors++];
  snprintf(t->name, sizeof t->name, "%s", name);
  t->offset = m->d;
  t->count = count;
  t->fan_in = fan_in;
  m->d += psgd_align_floats(count);
}

static void add_dense(model *m, const char *prefix, int in, int out) {
  char name[16];
  snprintf(name, sizeof name, "%s.w", prefix);
  add_tensor(m, name, (size_t)in * out, in);
  snprintf(name, sizeof name, "%s.b", prefix);
  add_tensor(m, name, (size_t)out, 0);
}

/* Forward 2 flops per multiply-add; backward the same for dW, and again
 * for dx on every layer but the first (it needs no input gradient). */
static double layer_flops(double macs, int first) { return 2 * macs * (first ? 2 : 3); }

static int build_mlp(model *m, char *err, size_t errlen) {
  const model_spec *s = &m->spec;
  if (s->n_hidden < 1 || s->n_hidden > 8)
    return psgd_err(err, errlen, "mlp: %d hidden layers, expected 1..8", s->n_hidden);
  m->n_dense = s->n_hidden + 1;
  m->widths[0] = s->c * s->h * s->w;
  for (int i = 0; i < s->n_hidden; i++) {
    if (s->hidden[i] < 1 || s->hidden[i] > 65536)
      return psgd_err(err, errlen, "mlp: hidden layer %d has width %d, expected 1..65536", i + 1,
                      s->hidden[i]);
    m->widths[i + 1] = s->hidden[i];
  }
  m->widths[m->n_dense] = s->n_classes;
  int len = snprintf(m->desc, sizeof m->desc, "mlp %dx%dx%d ->", s->c, s->h, s->w);
  for (int l = 0; l < m->n_dense; l++) {
    char prefix[8];
    snprintf(prefix, sizeof prefix, "fc%d", l + 1);
    add_dense(m, prefix, m->widths[l], m->widths[l + 1]);
    m->flops += layer_flops((double)m->widths[l] * m->widths[l + 1], l == 0);
    if (l + 1 < m->n_dense && len > 0 && (size_t)len < sizeof m->desc)
      len += snprintf(m->desc + len, sizeof m->desc - len, "%s%d", l ? "-" : " ",
                      m->widths[l + 1]);
  }
  if (len > 0 && (size_t)len < sizeof m->desc)
    snprintf(m->desc + len, sizeof m->desc - len, " -> %d, d=%zu", s->n_classes, m->d);
  return 0;
}

static int build_lenet5(model *m, char *err, size_t errlen) {
  const model_spec *s = &m->spec;
  /* two (valid 5x5 conv, 2x2 pool) stages must leave at least 1x1 */
  if (s->h < 16 || s->w < 16)
    return psgd_err(err, errlen, "lenet5: input %dx%d too small, needs at least 16x16", s->h,
                    s->w);
  if (s->h > 1024 || s->w > 1024 || s->c > 64)
    return psgd_err(err, errlen, "lenet5: input %dx%dx%d too large", s->c, s->h, s->w);
  conv_shape_init(&m->c1, s->h, s->w, s->c, LENET_K, LENET_C1);
  m->p1h = m->c1.oh / 2;
  m->p1w = m->c1.ow / 2;
  conv_shape_init(&m->c2, m->p1h, m->p1w, LENET_C1, LENET_K, LENET_C2);
  m->p2h = m->c2.oh / 2;
  m->p2w = m->c2.ow / 2;
  m->fc[0] = m->p2h * m->p2w * LENET_C2;
  m->fc[1] = LENET_F1;
  m->fc[2] = LENET_F2;
  m->fc[3] = s->n_classes;
  int k1 = LENET_K * LENET_K * s->c, k2 = LENET_K * LENET_K * LENET_C1;
  add_tensor(m, "conv1.w", (size_t)k1 * LENET_C1, k1);
  add_tensor(m, "conv1.b", LENET_C1, 0);
  add_tensor(m, "conv2.w", (size_t)k2 * LENET_C2, k2);
  add_tensor(m, "conv2.b", LENET_C2, 0);
  add_dense(m, "fc1", m->fc[0], m->fc[1]);
  add_dense(m, "fc2", m->fc[1], m->fc[2]);
  add_dense(m, "fc3", m->fc[2], m->fc[3]);
  m->flops = layer_flops((double)m->c1.oh * m->c1.ow * k1 * LENET_C1, 1) +
             layer_flops((double)m->c2.oh * m->c2.ow * k2 * LENET_C2, 0);
  for (int l = 0; l < 3; l++) m->flops += layer_flops((double)m->fc[l] * m->fc[l + 1], 0);
  snprintf(m->desc, sizeof m->desc, "lenet5 %dx%dx%d -> %d, d=%zu", s->c, s->h, s->w,
           s->n_classes, m->d);
  return 0;
}

void model_blas_init(void) { openblas_set_num_threads(1); }

static int kind_of(const char *name) {
  for (int k = 0; k < MODEL_KIND_COUNT; k++)
    if (name && !strcmp(name, kind_names[k])) return k;
  return -1;
}

void model_names(char *buf, size_t cap, const char *sep) {
  size_t len = 0;
  if (cap) buf[0] = '\0';
  for (int k = 0; k < MODEL_KIND_COUNT && len < cap; k++)
    len += (size_t)snprintf(buf + len, cap - len, "%s%s", k ? sep : "", kind_names[k]);
}

int model_name_ok(const char *name, char *err, size_t errlen) {
  if (kind_of(name) >= 0) return 0;
  char names[128] = "";
  for (int k = 0; k < MODEL_KIND_COUNT; k++) {
    strncat(names, kind_names[k], sizeof names - strlen(names) - 1);
    if (k + 1 < MODEL_KIND_COUNT) strncat(names, ", ", sizeof names - strlen(names) - 1);
  }
  return psgd_err(err, errlen, "unknown model '%s' (known: %s)", name ? name : "(null)", names);
}

model *model_create(const model_spec *spec, char *err, size_t errlen) {
  int kind = kind_of(spec->name);
  if (kind < 0) {
    model_name_ok(spec->name, err, errlen);
    return NULL;
  }
  if (spec->c < 1 || spec->h < 1 || spec->w < 1 || (long)spec->c * spec->h * spec->w > (1L << 22)) {
    psgd_err(err, errlen, "%s: bad input shape %dx%dx%d", spec->name, spec->c, spec->h, spec->w);
    return NULL;
  }
  /* labels are bytes */
  if (spec->n_classes < 2 || spec->n_classes > 256) {
    psgd_err(err, errlen, "%s: %d classes, expected 2..256", spec->name, spec->n_classes);
    return NULL;
  }
  /* every model runs on gemm.h's products: refuse before training if the
   * BLAS computes them wrongly on this CPU (checked once per process), run
   * as training runs them: one OpenBLAS thread per caller (else validation,
   * which makes models before any engine, let OpenBLAS start its own threads) */
  model_blas_init();
  if (gemm_selfcheck(err, errlen)) return NULL;
  model *m = calloc(1, sizeof *m);
  if (!m) {
    psgd_err(err, errlen, "%s: out of memory", spec->name);
    return NULL;
  }
  m->kind = (model_kind)kind;
  m->spec = *spec;
  m->spec.name = kind_names[kind];
  int rc = kind == MODEL_MLP ? build_mlp(m, err, errlen) : build_lenet5(m, err, errlen);
  if (rc) {
    free(m);
    return NULL;
  }
  return m;
}

void model_free(model *m) { free(m); }

size_t model_n_params(const model *m) { return m->d; }
double model_flops_per_sample(const model *m) { return m->flops; }
const char *model_describe(const model *m) { return m->desc; }
int model_n_tensors(const model *m) { return m->n_tensors; }

model_tensor_info model_tensor(const model *m, int i) {
  PSGD_CHECK(i >= 0 && i < m->n_tensors);
  model_tensor_info r = {m->t[i].name, m->t[i].offset, m->t[i].count};
  return r;
}

void model_init(const model *m, float *theta, uint64_t seed) {
  memset(theta, 0, m->d * sizeof *theta);
  for (int i = 0; i < m->n_tensors; i++) {
    const tensor *t = &m->t[i];
    if (t->fan_in <= 0) continue;
    /* one stream per tensor: a tensor's init depends on (seed, index) only */
    psgd_rng rng;
    psgd_rng_seed(&rng, seed * 0x9e3779b97f4a7c15ull + (uint64_t)i + 1);
    /* He-uniform: Var = 2 / fan_in keeps ReLU activations at unit scale */
    float bound = (float)sqrt(6.0 / t->fan_in);
    float *w = theta + t->offset;
    for (size_t j = 0; j < t->count; j++)
      w[j] = (float)((2.0 * psgd_rng_uniform(&rng) - 1.0) * bound);
  }
}

/* ---------------------------------------------------------- workspace ---- */

struct model_ws {
  int max_b;
  void *mem;
  /* MLP: outputs of each dense layer (last = logits), two gradient buffers */
  float *h[MLP_MAX_DENSE];
  float *g0, *g1;
  /* LeNet5 (conv activations CNHW). Backward buffers alias forward buffers
   * that are dead by then: da1 = a1, da2 = a2. col is the im2col scratch of
   * both convs (one block at a time). */
  float *col, *a1, *p1, *a2, *p2, *flat, *f1, *f2, *logits;
  float *dlogits, *df2, *df1, *dflat, *dp2, *da2_t, *dp1, *da1_t;
  uint8_t *arg1, *arg2;
};

/* Carves aligned sub-buffers from one allocation (two passes: size, then
 * assign). */
typedef struct {
  char *base;
  size_t used;
} carver;

static void *carve(carver *c, size_t bytes) {
  void *p = c->base ? c->base + c->used : NULL;
  c->used += (bytes + PSGD_ALIGN - 1) & ~(size_t)(PSGD_ALIGN - 1);
  return p;
}

static void ws_layout(const model *m, model_ws *ws, carver *c) {
  const size_t b = (size_t)ws->max_b, F = sizeof(float);
  if (m->kind == MODEL_MLP) {
    int wmax = 0;
    for (int l = 0; l < m->n_dense; l++) {
      ws->h[l] = carve(c, b * m->widths[l + 1] * F);
      if (m->widths[l + 1] > wmax) wmax = m->widths[l + 1];
    }
    ws->g0 = carve(c, b * wmax * F);
    ws->g1 = carve(c, b * wmax * F);
    return;
  }
  const model_spec *s = &m->spec;
  size_t a1 = (size_t)m->c1.oh * m->c1.ow * LENET_C1, p1 = (size_t)m->p1h * m->p1w * LENET_C1;
  size_t a2 = (size_t)m->c2.oh * m->c2.ow * LENET_C2, p2 = (size_t)m->fc[0];
  size_t col1 = conv_col_floats(&m->c1, m->c1.chunk), col2 = conv_col_floats(&m->c2, m->c2.chunk);
  ws->col = carve(c, (col1 > col2 ? col1 : col2) * F);
  ws->a1 = carve(c, b * a1 * F);
  ws->p1 = carve(c, b * p1 * F);
  ws->arg1 = carve(c, b * p1);
  ws->a2 = carve(c, b * a2 * F);
  ws->p2 = carve(c, b * p2 * F);
  ws->arg2 = carve(c, b * p2);
  ws->flat = carve(c, b * p2 * F);
  ws->f1 = carve(c, b * LENET_F1 * F);
  ws->f2 = carve(c, b * LENET_F2 * F);
  ws->logits = carve(c, b * s->n_classes * F);
  ws->dlogits = carve(c, b * s->n_classes * F);
  ws->df2 = carve(c, b * LENET_F2 * F);
  ws->df1 = carve(c, b * LENET_F1 * F);
  ws->dflat = carve(c, b * p2 * F);
  ws->dp2 = carve(c, b * p2 * F);
  ws->da2_t = carve(c, b * a2 * F);
  ws->dp1 = carve(c, b * p1 * F);
  ws->da1_t = carve(c, b * a1 * F);
}

model_ws *model_ws_create(const model *m, int max_batch) {
  if (max_batch < 1) return NULL;
  model_ws *ws = calloc(1, sizeof *ws);
  if (!ws) return NULL;
  ws->max_b = max_batch;
  carver c = {NULL, 0};
  ws_layout(m, ws, &c);
  ws->mem = psgd_alloc(c.used);
  if (!ws->mem) {
    free(ws);
    return NULL;
  }
  c.base = ws->mem;
  c.used = 0;
  ws_layout(m, ws, &c);
  return ws;
}

void model_ws_free(model_ws *ws) {
  if (!ws) return;
  psgd_free(ws->mem);
  free(ws);
}

/* ------------------------------------------------------------- passes ---- */

#define W(k) (theta + m->t[k].offset)
#define G(k) (grad + m->t[k].offset)

/* MLP forward to logits (ws->h[n_dense-1]). */
static const float *mlp_forward(const model *m, model_ws *ws, const float *theta, const float *x,
                                int b) {
  const float *in = x;
  for (int l = 0; l < m->n_dense; l++) {
    if (l + 1 < m->n_dense)
      dense_relu_forward(in, W(2 * l), W(2 * l + 1), ws->h[l], b, m->widths[l], m->widths[l + 1]);
    else
      dense_forward(in, W(2 * l), W(2 * l + 1), ws->h[l], b, m->widths[l], m->widths[l + 1]);
    in = ws->h[l];
  }
  return in;
}

static float mlp_loss_grad(const model *m, model_ws *ws, const float *theta, const float *x,
                           const uint8_t *y, int b, float *grad) {
  const int L = m->n_dense;
  const float *logits = mlp_forward(m, ws, theta, x, b);
  float *g = ws->g0, *g2 = ws->g1;
  float loss = softmax_ce(logits, y, g, b, m->widths[L], NULL);
  for (int l = L - 1; l >= 0; l--) {
    const float *in = l ? ws->h[l - 1] : x;
    float *db = G(2 * l + 1);
    /* hidden layers: mask by the ReLU and take the bias gradient in one pass */
    if (l + 1 < L) relu_backward_bias(ws->h[l], g, db, b, m->widths[l + 1]);
    dense_backward(in, W(2 * l), g, l ? g2 : NULL, G(2 * l), l + 1 < L ? NULL : db, b,
                   m->widths[l], m->widths[l + 1]);
    float *t = g;
    g = g2;
    g2 = t;
  }
  return loss;
}

enum { C1W, C1B, C2W, C2B, F1W, F1B, F2W, F2B, F3W, F3B };

static const float *lenet_forward(const model *m, model_ws *ws, const float *theta,
                                  const float *x, int b) {
  const model_spec *s = &m->spec;
  const size_t hw = (size_t)s->h * s->w, pp1 = (size_t)m->p1h * m->p1w;
  /* conv1 reads the NCHW input batch directly; conv outputs are CNHW */
  conv_forward(&m->c1, x, s->c * hw, hw, W(C1W), NULL, ws->col, ws->a1, b);
  pool_bias_relu_forward(ws->a1, W(C1B), ws->p1, ws->arg1, b, LENET_C1, m->c1.oh, m->c1.ow);
  conv_forward(&m->c2, ws->p1, pp1, b * pp1, W(C2W), NULL, ws->col, ws->a2, b);
  pool_bias_relu_forward(ws->a2, W(C2B), ws->p2, ws->arg2, b, LENET_C2, m->c2.oh, m->c2.ow);
  cnhw_to_nchw(ws->p2, ws->flat, b, LENET_C2, m->p2h * m->p2w);
  dense_relu_forward(ws->flat, W(F1W), W(F1B), ws->f1, b, m->fc[0], m->fc[1]);
  dense_relu_forward(ws->f1, W(F2W), W(F2B), ws->f2, b, m->fc[1], m->fc[2]);
  dense_forward(ws->f2, W(F3W), W(F3B), ws->logits, b, m->fc[2], m->fc[3]);
  return ws->logits;
}

static float lenet_loss_grad(const model *m, model_ws *ws, const float *theta, const float *x,
                             const uint8_t *y, int b, float *grad) {
  const model_spec *s = &m->spec;
  const size_t hw = (size_t)s->h * s->w, pp1 = (size_t)m->p1h * m->p1w;
  const float *logits = lenet_forward(m, ws, theta, x, b);
  float loss = softmax_ce(logits, y, ws->dlogits, b, m->fc[3], NULL);
  dense_backward(ws->f2, W(F3W), ws->dlogits, ws->df2, G(F3W), G(F3B), b, m->fc[2], m->fc[3]);
  relu_backward_bias(ws->f2, ws->df2, G(F2B), b, m->fc[2]);
  dense_backward(ws->f1, W(F2W), ws->df2, ws->df1, G(F2W), NULL, b, m->fc[1], m->fc[2]);
  relu_backward_bias(ws->f1, ws->df1, G(F1B), b, m->fc[1]);
  dense_backward(ws->flat, W(F1W), ws->df1, ws->dflat, G(F1W), NULL, b, m->fc[0], m->fc[1]);
  nchw_to_cnhw(ws->dflat, ws->dp2, b, LENET_C2, m->p2h * m->p2w);
  float *da2 = ws->a2, *da1 = ws->a1;
  /* a conv's dW as an NN product (libxsmm's kernels; gemm.c) needs its
   * gradient in NHWC too (da*_t) */
  pool_bias_relu_backward(ws->p2, ws->dp2, ws->arg2, da2, ws->da2_t, G(C2B), b, LENET_C2,
                          m->c2.oh, m->c2.ow);
  conv_backward(&m->c2, ws->p1, pp1, b * pp1, W(C2W), da2, ws->da2_t, ws->col, ws->dp1,
                G(C2W), NULL, b);
  pool_bias_relu_backward(ws->p1, ws->dp1, ws->arg1, da1, ws->da1_t, G(C1B), b, LENET_C1,
                          m->c1.oh, m->c1.ow);
  conv_backward(&m->c1, x, s->c * hw, hw, W(C1W), da1, ws->da1_t, ws->col, NULL, G(C1W), NULL,
                b);
  return loss;
}

float model_loss_grad(const model *m, model_ws *ws, const float *theta, const float *x,
                      const uint8_t *y, int b, float *grad) {
  PSGD_CHECK(b >= 1 && b <= ws->max_b);
  float loss = m->kind == MODEL_MLP ? mlp_loss_grad(m, ws, theta, x, y, b, grad)
                                    : lenet_loss_grad(m, ws, theta, x, y, b, grad);
  /* padding between tensors: the contract says zero, and updates over the
   * whole vector then leave theta's padding at zero too */
  for (int i = 0; i < m->n_tensors; i++) {
    size_t end = m->t[i].offset + m->t[i].count;
    size_t next = i + 1 < m->n_tensors ? m->t[i + 1].offset : m->d;
    if (next > end) memset(grad + end, 0, (next - end) * sizeof *grad);
  }
  return loss;
}

float model_evaluate(const model *m, model_ws *ws, const float *theta, const float *x,
                     const uint8_t *y, int n, int *n_correct) {
  const size_t dim = (size_t)m->spec.c * m->spec.h * m->spec.w;
  double total = 0.0;
  int correct = 0;
  for (int i = 0; i < n; i += ws->max_b) {
    int b = n - i < ws->max_b ? n - i : ws->max_b;
    const float *xb = x + (size_t)i * dim;
    const float *logits = m->kind == MODEL_MLP ? mlp_forward(m, ws, theta, xb, b)
                                               : lenet_forward(m, ws, theta, xb, b);
    total += (double)softmax_ce(logits, y + i, NULL, b, m->spec.n_classes, &correct) * b;
  }
  if (n_correct) *n_correct = correct;
  return n > 0 ? (float)(total / n) : 0.0f;
}

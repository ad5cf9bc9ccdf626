/* test_core_model.c - model layout and lifecycle (aligned tensor offsets,
 * padding, describe/flops, bad specs), deterministic seeded initialization,
 * the update rules (registry, SGD/momentum arithmetic, the MindTheStep step
 * size's documented properties), and 512 threads running LeNet5 forward and
 * backward through OpenBLAS at once, each on its own workspace (without the
 * gate in gemm.c, Debian's OpenBLAS 0.3.21 aborted or crashed here in about
 * one run in three on a 2-core machine: "too many memory regions"), and
 * the BLAS self-check: it passes with this environment's BLAS and, with a
 * wrong product injected through gemm.c's test hook, model_create refuses
 * with a message naming OPENBLAS_CORETYPE. */
#define _POSIX_C_SOURCE 200809L
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <math.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cblas.h>

#include "common.h"
#include "gemm.h"
#include "model.h"
#include "optim.h"

static model *make(const model_spec *s) {
  char err[PSGD_ERRLEN];
  model *m = model_create(s, err, sizeof err);
  if (!m) fprintf(stderr, "%s\n", err);
  assert_non_null(m);
  return m;
}

static void test_layout(void **state) {
  (void)state;
  model_spec ls = {"lenet5", 3, 32, 32, 10, 0, {0}};
  model *m = make(&ls);
  /* 6*75+6 + 16*150+16 + 400*120+120 + 120*84+84 + 84*10+10 = 62006 */
  size_t sum = 0;
  for (int t = 0; t < model_n_tensors(m); t++) {
    model_tensor_info ti = model_tensor(m, t);
    assert_int_equal(ti.offset % 16, 0); /* 64-byte aligned in any aligned buffer */
    if (t) {
      model_tensor_info prev = model_tensor(m, t - 1);
      assert_true(ti.offset >= prev.offset + prev.count);
    }
    sum += ti.count;
  }
  assert_int_equal(sum, 62006);
  assert_int_equal(model_n_tensors(m), 10);
  assert_string_equal(model_tensor(m, 0).name, "conv1.w");
  assert_string_equal(model_tensor(m, 9).name, "fc3.b");
  assert_true(model_n_params(m) >= sum && model_n_params(m) % 16 == 0);
  assert_non_null(strstr(model_describe(m), "lenet5 3x32x32 -> 10, d="));
  /* forward+backward flops: conv1 2*2*MAC, the rest 3*2*MAC */
  double want = 4.0 * 28 * 28 * 75 * 6 + 6.0 * 10 * 10 * 150 * 16 +
                6.0 * (400 * 120 + 120 * 84 + 84 * 10);
  assert_true(fabs(model_flops_per_sample(m) - want) < 1);
  model_free(m);

  model_spec ms = {"mlp", 1, 28, 28, 10, 3, {128, 128, 128}};
  m = make(&ms);
  assert_int_equal(model_n_tensors(m), 8);
  assert_string_equal(model_describe(m), "mlp 1x28x28 -> 128-128-128 -> 10, d=134800");
  model_free(m);
  model_free(NULL);
  model_ws_free(NULL);
}

static void test_bad_specs(void **state) {
  (void)state;
  static const struct {
    model_spec s;
    const char *expect;
  } cases[] = {
      {{"resnet", 1, 28, 28, 10, 0, {0}}, "unknown model 'resnet'"},
      {{"lenet5", 1, 12, 28, 10, 0, {0}}, "too small"},
      {{"mlp", 1, 28, 28, 1, 1, {8}}, "1 classes"},
      {{"mlp", 1, 28, 28, 300, 1, {8}}, "300 classes"},
      {{"mlp", 0, 28, 28, 10, 1, {8}}, "bad input shape"},
      {{"mlp", 1, 28, 28, 10, 0, {0}}, "0 hidden layers"},
      {{"mlp", 1, 28, 28, 10, 2, {8, 0}}, "hidden layer 2 has width 0"},
  };
  for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
    char err[PSGD_ERRLEN] = "";
    model *m = model_create(&cases[k].s, err, sizeof err);
    if (m || !strstr(err, cases[k].expect)) {
      fprintf(stderr, "case %zu: '%s'\n", k, err);
      fail();
    }
  }
}

static void test_init_deterministic(void **state) {
  (void)state;
  model_spec ls = {"lenet5", 1, 28, 28, 10, 0, {0}};
  model *m = make(&ls);
  size_t d = model_n_params(m);
  float *a = psgd_alloc(d * 4), *b = psgd_alloc(d * 4), *c = psgd_alloc(d * 4);
  memset(b, 0xff, d * 4); /* garbage: init must overwrite everything */
  model_init(m, a, 7);
  model_init(m, b, 7);
  model_init(m, c, 8);
  assert_memory_equal(a, b, d * 4);
  assert_memory_not_equal(a, c, 64);
  for (int t = 0; t < model_n_tensors(m); t++) {
    model_tensor_info ti = model_tensor(m, t);
    size_t next = t + 1 < model_n_tensors(m) ? model_tensor(m, t + 1).offset : d;
    int is_bias = strstr(ti.name, ".b") != NULL;
    double fan_in = 0, sq = 0;
    if (!is_bias) fan_in = (double)ti.count / (t == 0 ? 6 : t == 2 ? 16 : 1);
    for (size_t i = 0; i < ti.count; i++) {
      float v = a[ti.offset + i];
      if (is_bias) assert_true(v == 0.0f);
      sq += (double)v * v;
    }
    for (size_t i = ti.offset + ti.count; i < next; i++) assert_true(a[i] == 0.0f);
    if (!is_bias && t < 4) {
      /* He-uniform: variance 2 / fan_in (conv fan_in = K = count / oc) */
      double var = sq / ti.count;
      assert_true(fabs(var * fan_in / 2.0 - 1.0) < 0.25);
    }
  }
  psgd_free(a);
  psgd_free(b);
  psgd_free(c);
  model_free(m);
}

/* Same inputs, two workspaces, batch sizes up to the maximum: identical
 * results (a workspace holds no state between calls that leaks into them). */
static void test_ws_reuse(void **state) {
  (void)state;
  model_spec ls = {"lenet5", 3, 32, 32, 10, 0, {0}};
  model *m = make(&ls);
  size_t d = model_n_params(m), dim = 3 * 32 * 32;
  float *th = psgd_alloc(d * 4), *g1 = psgd_alloc(d * 4), *g2 = psgd_alloc(d * 4),
        *x = psgd_alloc(21 * dim * 4); /* 16 samples from 0, and 16 from 5 */
  uint8_t y[16];
  psgd_rng r;
  psgd_rng_seed(&r, 1);
  for (size_t i = 0; i < 21 * dim; i++) x[i] = (float)psgd_rng_normal(&r);
  for (int i = 0; i < 16; i++) y[i] = (uint8_t)(i % 10);
  model_init(m, th, 3);
  model_ws *w1 = model_ws_create(m, 16), *w2 = model_ws_create(m, 16);
  assert_null(model_ws_create(m, 0));
  float l1 = model_loss_grad(m, w1, th, x, y, 5, g1);
  model_loss_grad(m, w1, th, x + 5 * dim, y, 16, g2); /* a different, full batch */
  float l2 = model_loss_grad(m, w2, th, x, y, 5, g2);
  assert_true(l1 == l2);
  assert_memory_equal(g1, g2, d * 4);
  int correct;
  float ev = model_evaluate(m, w1, th, x, y, 16, &correct);
  float lf = model_loss_grad(m, w2, th, x, y, 16, g2);
  assert_true(fabsf(ev - lf) < 1e-5f);
  model_ws_free(w1);
  model_ws_free(w2);
  psgd_free(th);
  psgd_free(g1);
  psgd_free(g2);
  psgd_free(x);
  model_free(m);
}

/* ------------------------------------------------------------- optim ---- */

static void test_optim_registry(void **state) {
  (void)state;
  for (int k = 0; k < OPTIM_COUNT; k++) {
    optim_kind back;
    assert_int_equal(optim_parse(optim_name((optim_kind)k), &back), 0);
    assert_int_equal(back, k);
  }
  optim_kind x;
  assert_int_equal(optim_parse("adam", &x), -1);
  assert_int_equal(optim_parse(NULL, &x), -1);
  assert_string_equal(optim_name(OPTIM_COUNT), "unknown");
}

static void test_optim_updates(void **state) {
  (void)state;
  float th[3] = {1, 2, 3}, v[3] = {0.5f, 0, -1}, g[3] = {1, -2, 4};
  optim_spec sgd = {OPTIM_SGD, 0.1f, 0.9f, 0};
  assert_true(optim_lr(&sgd, 100) == 0.1f);
  optim_apply(&sgd, 0.1f, th, NULL, g, 3);
  assert_true(fabsf(th[0] - 0.9f) < 1e-7f && fabsf(th[1] - 2.2f) < 1e-7f &&
              fabsf(th[2] - 2.6f) < 1e-7f);
  optim_spec mom = {OPTIM_MOMENTUM, 0.1f, 0.5f, 0};
  float th2[3] = {1, 2, 3};
  optim_apply(&mom, 0.1f, th2, v, g, 3);
  /* v = 0.5 v + g = {1.25, -2, 3.5}; theta -= 0.1 v */
  assert_true(fabsf(v[0] - 1.25f) < 1e-7f && fabsf(v[1] + 2) < 1e-7f && fabsf(v[2] - 3.5f) < 1e-7f);
  assert_true(fabsf(th2[0] - 0.875f) < 1e-7f && fabsf(th2[1] - 2.2f) < 1e-7f &&
              fabsf(th2[2] - 2.65f) < 1e-6f);
  /* momentum 0 is plain SGD and needs no v */
  optim_spec mom0 = {OPTIM_MOMENTUM, 0.1f, 0.0f, 0};
  float th3[3] = {1, 2, 3};
  optim_apply(&mom0, 0.1f, th3, NULL, g, 3);
  assert_true(fabsf(th3[2] - 2.6f) < 1e-7f);
}

/* optim.c documents f(tau) = c exp(-beta tau), beta = 1/(tau0+1),
 * c = exp(tau0 (1 - exp(-beta))): check exactly those properties. */
static void test_mindthestep(void **state) {
  (void)state;
  optim_spec o = {OPTIM_MINDTHESTEP, 0.01f, 0.5f, 0};
  /* sequential: tau0 = 0, tau = 0 gives exactly lr */
  assert_true(optim_lr(&o, 0) == 0.01f);
  for (int m = 2; m <= 256; m *= 2) {
    o.mts_tau0 = (float)(m - 1);
    double lam = m - 1, mean = 0, p = exp(-lam);
    /* E[lr(tau)] under Poisson(tau0) staleness = lr */
    for (int t = 0; t < 4 * m + 60; t++) {
      mean += p * optim_lr(&o, t);
      p *= lam / (t + 1);
    }
    assert_true(fabs(mean / o.lr - 1.0) < 1e-4);
    /* decreasing in tau, bounded by e * lr at tau = 0 */
    assert_true(optim_lr(&o, 0) < 2.7183f * o.lr);
    for (int t = 1; t < 3 * m; t++) assert_true(optim_lr(&o, t) < optim_lr(&o, t - 1));
    /* negative staleness (clock noise) is treated as fresh */
    assert_true(optim_lr(&o, -3) == optim_lr(&o, 0));
  }
}

/* ------------------------------------------------------ 512 threads ---- */

#define N_THREADS 512

typedef struct {
  const model *m;
  const float *theta, *x;
  const uint8_t *y;
  int b;
  float *grad; /* this thread's result */
  float loss;
  int ok; /* recorded here, checked by the main thread */
} worker_arg;

static pthread_barrier_t start;

static void *worker(void *p) {
  worker_arg *a = p;
  model_ws *ws = model_ws_create(a->m, a->b);
  a->grad = psgd_alloc(model_n_params(a->m) * sizeof(float));
  /* everyone enters OpenBLAS together (and waits even after a failed
   * allocation, so the others are not left at the barrier) */
  pthread_barrier_wait(&start);
  if (!ws || !a->grad) {
    model_ws_free(ws);
    return NULL;
  }
  for (int rep = 0; rep < 3; rep++)
    a->loss = model_loss_grad(a->m, ws, a->theta, a->x, a->y, a->b, a->grad);
  model_ws_free(ws);
  a->ok = 1;
  return NULL;
}

static void test_512_threads_openblas(void **state) {
  (void)state;
  model_spec ls = {"lenet5", 3, 32, 32, 10, 0, {0}};
  model *m = make(&ls);
  const int b = 4;
  size_t d = model_n_params(m), dim = 3 * 32 * 32;
  float *th = psgd_alloc(d * 4), *x = psgd_alloc(b * dim * 4), *ref = psgd_alloc(d * 4);
  uint8_t y[4] = {1, 2, 3, 4};
  psgd_rng r;
  psgd_rng_seed(&r, 2);
  for (size_t i = 0; i < b * dim; i++) x[i] = (float)psgd_rng_normal(&r);
  model_init(m, th, 5);
  model_ws *ws = model_ws_create(m, b);
  float ref_loss = model_loss_grad(m, ws, th, x, y, b, ref);
  model_ws_free(ws);

  static worker_arg args[N_THREADS];
  pthread_t tid[N_THREADS];
  pthread_attr_t attr;
  assert_int_equal(pthread_attr_init(&attr), 0);
  /* small stacks: 512 threads must fit anywhere; the model needs little */
  assert_int_equal(pthread_attr_setstacksize(&attr, 256 * 1024), 0);
  assert_int_equal(pthread_barrier_init(&start, NULL, N_THREADS), 0);
  for (int i = 0; i < N_THREADS; i++) {
    args[i] = (worker_arg){m, th, x, y, b, NULL, 0, 0};
    assert_int_equal(pthread_create(&tid[i], &attr, worker, &args[i]), 0);
  }
  for (int i = 0; i < N_THREADS; i++) assert_int_equal(pthread_join(tid[i], NULL), 0);
  pthread_barrier_destroy(&start);
  pthread_attr_destroy(&attr);
  /* single-threaded BLAS is deterministic: every thread got the reference */
  for (int i = 0; i < N_THREADS; i++) {
    assert_int_equal(args[i].ok, 1);
    assert_true(args[i].loss == ref_loss);
    assert_memory_equal(args[i].grad, ref, d * 4);
    psgd_free(args[i].grad);
  }
  psgd_free(th);
  psgd_free(x);
  psgd_free(ref);
  model_free(m);
}

/* Wrong kernels of the kinds a mis-chosen BLAS core type produces: a
 * product that drops the last term of the inner dimension (a bad K tail),
 * and one that adds to C where beta = 0 asked it to overwrite. */
static void sgemm_rowmajor(int ta, int tb, int M, int N, int K, const float *A, int lda,
                           const float *B, int ldb, float beta, float *C, int ldc) {
  cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans, M,
              N, K, 1.0f, A, lda, B, ldb, beta, C, ldc);
}
static void bad_k_tail(int ta, int tb, int M, int N, int K, const float *A, int lda,
                       const float *B, int ldb, float beta, float *C, int ldc) {
  sgemm_rowmajor(ta, tb, M, N, K > 1 && K % 16 ? K - 1 : K, A, lda, B, ldb, beta, C, ldc);
}
static void bad_beta(int ta, int tb, int M, int N, int K, const float *A, int lda,
                     const float *B, int ldb, float beta, float *C, int ldc) {
  (void)beta;
  sgemm_rowmajor(ta, tb, M, N, K, A, lda, B, ldb, 1.0f, C, ldc);
}

static void test_blas_selfcheck(void **state) {
  (void)state;
  char err[PSGD_ERRLEN] = "";
  /* a fresh check with this environment's BLAS (OPENBLAS_CORETYPE as set) */
  gemm_set_hook(NULL);
  uint64_t t0 = psgd_now_ns();
  int rc = gemm_selfcheck(err, sizeof err);
  double ms = (double)(psgd_now_ns() - t0) * 1e-6;
  if (rc) fprintf(stderr, "%s\n", err);
  assert_int_equal(rc, 0);
  printf("# BLAS self-check: %.1f ms (%s)\n", ms, gemm_kernel_name());
  /* milliseconds, with room for a loaded 2-core machine; sanitizer builds
   * run the reference loop ~50x slower (1.4 s measured under TSan) */
#if !defined(__SANITIZE_THREAD__) && !defined(__SANITIZE_ADDRESS__)
  assert_true(ms < 1000.0);
#endif
  /* once per process: the second call answers from memory */
  t0 = psgd_now_ns();
  assert_int_equal(gemm_selfcheck(err, sizeof err), 0);
  assert_true((double)(psgd_now_ns() - t0) * 1e-6 < ms / 10 + 0.05);
  assert_non_null(strstr(gemm_kernel_name(), openblas_get_corename()));

  gemm_kernel_fn bad[2] = {bad_k_tail, bad_beta};
  model_spec ms_mlp = {"mlp", 1, 28, 28, 10, 3, {128, 128, 128}};
  for (int i = 0; i < 2; i++) {
    gemm_set_hook(bad[i]);
    err[0] = '\0';
    assert_int_equal(gemm_selfcheck(err, sizeof err), -1);
    assert_non_null(strstr(err, "BLAS self-check failed"));
    assert_non_null(strstr(err, "OPENBLAS_CORETYPE"));
    assert_non_null(strstr(err, "OPENBLAS_CORETYPE=Haswell"));
    /* the advice comes first: it survives the prefixes callers add (file:line,
     * dataset) within PSGD_ERRLEN */
    assert_true(strstr(err, "OPENBLAS_CORETYPE=Haswell") - err < 160);
    assert_non_null(strstr(err, "refusing to train"));
    /* no model, so no training, and the same message */
    char err2[PSGD_ERRLEN] = "";
    assert_null(model_create(&ms_mlp, err2, sizeof err2));
    assert_string_equal(err2, err);
    if (i == 0) printf("# refusal: %s\n", err);
  }
  /* the real BLAS again: the check runs anew and models are made */
  gemm_set_hook(NULL);
  assert_int_equal(gemm_selfcheck(err, sizeof err), 0);
  model_free(make(&ms_mlp));
}

static int setup(void **state) {
  (void)state;
  model_blas_init();
  return 0;
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_layout),           cmocka_unit_test(test_bad_specs),
      cmocka_unit_test(test_init_deterministic), cmocka_unit_test(test_ws_reuse),
      cmocka_unit_test(test_optim_registry),   cmocka_unit_test(test_optim_updates),
      cmocka_unit_test(test_mindthestep),      cmocka_unit_test(test_512_threads_openblas),
      cmocka_unit_test(test_blas_selfcheck),
  };
  return cmocka_run_group_tests(tests, setup, NULL);
}

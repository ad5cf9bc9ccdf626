/* gemm.c - the row-major sgemm of gemm.h on two kernel sets, the gate on
 * the number of threads inside OpenBLAS, and the BLAS self-check.
 *
 * Kernels. OpenBLAS 0.3.21 forced to its Haswell kernels (this machine
 * kind's environment) packs both operands on every call, and at the small
 * shapes of these models that packing was ~20% of the MLP step's samples in
 * perf. libxsmm 1.17's JIT kernels (chosen by instruction set: AVX-512
 * here) read the operands in place. Measured side by side on the models'
 * exact shapes (bench/bench_model.c prints the table in every run):
 * libxsmm is faster on every A.B and A^T.B product (10-140%: LeNet5's
 * conv1 forward 2.4x), and slower on A.B^T, which its generator cannot do
 * without an explicit transpose (the transpose + A.B cost more than
 * OpenBLAS). So: A.B and A^T.B go to libxsmm, A.B^T (and anything libxsmm
 * declines: beta other than 0 or 1, a shape it cannot generate) to OpenBLAS.
 * The choice depends on the call's arguments only, never on timing, so two
 * code paths of one build computing the same product get the same bits. */
#define _GNU_SOURCE
#include "gemm.h"

#include <cblas.h>
#include <errno.h>
#include <libxsmm.h>
#include <math.h>
#include <pthread.h>
#include <semaphore.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"
#include "layers.h"

/* OpenBLAS keeps the work buffers of concurrent calls in a fixed table sized
 * by its build's MAX_THREADS (Debian 0.3.21: 64, table 2 x 64, plus an
 * auxiliary array it adds with a warning). More threads inside sgemm at the
 * same instant than it can hold abort the process ("too many memory
 * regions ... maximum of 128 threads", seen in our 256-thread test on a
 * loaded 2-core machine) or, measured here with 512 threads on Zen, crash it
 * outright. Oversubscribed runs get there whenever the OS preempts threads
 * inside a product. So at most MAX_THREADS threads are inside OpenBLAS at
 * once: a counting semaphore, one uncontended atomic operation each way
 * (~0.05% of an MLP-b16 step), that waits only when that many threads are
 * inside a product together, i.e. only with more workers than MAX_THREADS.
 * libxsmm's kernels keep no per-call buffers and need no gate. */
static sem_t g_gate;
static int g_gate_n;
static pthread_once_t g_gate_once = PTHREAD_ONCE_INIT;

static void gate_init(void) {
  int n = 64;
  const char *cfg = openblas_get_config();
  const char *p = cfg ? strstr(cfg, "MAX_THREADS=") : NULL;
  if (p) {
    long v = strtol(p + 12, NULL, 10);
    if (v >= 1 && v <= 4096) n = (int)v;
  }
  g_gate_n = n;
  if (sem_init(&g_gate, 0, (unsigned)n) != 0) {
    fprintf(stderr, "psgd: gemm.c: sem_init: %s\n", strerror(errno));
    abort();
  }
}

int gemm_max_inside(void) {
  pthread_once(&g_gate_once, gate_init);
  return g_gate_n;
}

static void openblas_product(int ta, int tb, int M, int N, int K, const float *A, int lda,
                             const float *B, int ldb, float beta, float *C, int ldc) {
  pthread_once(&g_gate_once, gate_init);
  while (sem_wait(&g_gate) != 0) {
    /* only EINTR is possible on a valid semaphore: a signal handler ran */
  }
  cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans, M,
              N, K, 1.0f, A, lda, B, ldb, beta, C, ldc);
  sem_post(&g_gate);
}

static pthread_once_t g_xsmm_once = PTHREAD_ONCE_INIT;
static void xsmm_init(void) { libxsmm_init(); }

/* libxsmm is column-major: the row-major C[M][N] = op(A) op(B) is the
 * column-major C^T (N x M) = op(B)^T op(A)^T, i.e. m = N, n = M, first
 * operand B (leading dimension ldb), second A (lda). A^T in row-major is
 * TRANS_B there, which its generator supports; B^T would be TRANS_A, which
 * it does not. Kernels are generated on a shape's first use and looked up
 * in libxsmm's registry after (thread-safe). 0 if it ran, -1 if libxsmm
 * declined. */
static int xsmm_product(int ta, int M, int N, int K, const float *A, int lda, const float *B,
                        int ldb, float beta, float *C, int ldc) {
  if (beta != 0.0f && beta != 1.0f) return -1;
  pthread_once(&g_xsmm_once, xsmm_init);
  const libxsmm_blasint m = N, n = M, k = K, la = ldb, lb = lda, lc = ldc;
  const float alpha = 1.0f;
  const int flags = ta ? LIBXSMM_GEMM_FLAG_TRANS_B : LIBXSMM_GEMM_FLAG_NONE;
  /* no prefetch variant: its kernels take three more pointer arguments */
  const int prefetch = LIBXSMM_GEMM_PREFETCH_NONE;
  libxsmm_smmfunction f = libxsmm_smmdispatch(m, n, k, &la, &lb, &lc, &alpha, &beta, &flags,
                                              &prefetch);
  if (!f) return -1;
  f(B, A, C);
  return 0;
}

int gemm_rm_on(gemm_kernels which, int ta, int tb, int M, int N, int K, const float *A, int lda,
               const float *B, int ldb, float beta, float *C, int ldc) {
  if (which == GEMM_LIBXSMM)
    return !tb && M > 0 && N > 0 && K > 0 ? xsmm_product(ta, M, N, K, A, lda, B, ldb, beta, C, ldc)
                                          : -1;
  openblas_product(ta, tb, M, N, K, A, lda, B, ldb, beta, C, ldc);
  return 0;
}

/* The product function gemm_rm uses: NULL means the kernels above. Set only
 * by the test hook while no other thread runs model code (thread creation
 * orders it before the workers' loads), so relaxed loads suffice. */
static _Atomic(gemm_kernel_fn) g_kernel;

void gemm_rm(int ta, int tb, int M, int N, int K, const float *A, int lda, const float *B,
             int ldb, float beta, float *C, int ldc) {
  gemm_kernel_fn f = atomic_load_explicit(&g_kernel, memory_order_relaxed);
  if (f) {
    f(ta, tb, M, N, K, A, lda, B, ldb, beta, C, ldc);
    return;
  }
  if (!tb && M > 0 && N > 0 && K > 0 &&
      xsmm_product(ta, M, N, K, A, lda, B, ldb, beta, C, ldc) == 0)
    return;
  openblas_product(ta, tb, M, N, K, A, lda, B, ldb, beta, C, ldc);
}

/* ------------------------------------------------------- self-check ---- */

/* The products of the reference models (row-major ta, tb, M, N, K, extra
 * leading-dimension padding of C, beta): MLP 784-128-128-128-10 at batch 64
 * (forward NN, weight gradient TN, input gradient NT), LeNet5 at batch 16
 * (conv forward TN on one im2col block, conv weight gradients NT and NN,
 * the NN of conv2's input gradient, its dense layers), an accumulating
 * product (beta 1, as the blocked conv weight gradient does), and odd
 * shapes whose tails the kernels handle with separate edge code. */
typedef struct {
  int ta, tb, M, N, K, pad;
  float beta;
} check_shape;
static const check_shape k_shapes[] = {
    {0, 0, 64, 128, 784, 0, 0}, {1, 0, 784, 128, 64, 0, 0}, {0, 0, 64, 128, 128, 0, 0},
    {1, 0, 128, 128, 64, 0, 0}, {0, 1, 64, 128, 128, 0, 0}, {0, 0, 64, 10, 128, 0, 0},
    {1, 0, 128, 10, 64, 0, 0},  {0, 1, 64, 128, 10, 0, 0},  {1, 0, 6, 1568, 75, 11000, 0},
    {0, 1, 75, 6, 1568, 0, 0},  {1, 0, 16, 400, 150, 1200, 0}, {0, 0, 150, 16, 400, 0, 0},
    {0, 0, 150, 400, 16, 0, 0}, {0, 0, 16, 120, 400, 0, 0}, {1, 0, 400, 120, 16, 0, 0},
    {0, 1, 16, 400, 120, 0, 0}, {0, 0, 16, 84, 120, 0, 0},  {1, 0, 120, 84, 16, 0, 0},
    {0, 1, 16, 120, 84, 0, 0},  {0, 0, 16, 10, 84, 0, 0},   {1, 0, 84, 10, 16, 0, 0},
    {0, 1, 16, 84, 10, 0, 0},   {0, 0, 150, 16, 400, 0, 1}, {0, 0, 7, 13, 5, 3, 0},
    {1, 0, 7, 13, 5, 0, 0},     {0, 1, 7, 13, 5, 0, 0},     {1, 1, 7, 13, 5, 0, 0},
    {0, 0, 33, 17, 29, 0, 0},   {1, 0, 17, 33, 29, 0, 0},   {0, 1, 29, 33, 17, 0, 0},
};

/* The reference: R = op(A) op(B) in double, and S = |op(A)| |op(B)| (the
 * scale of the rounding error a float product may make), i-k-j order so the
 * inner loop runs over contiguous rows of op(B) (Bt holds op(B) as [K][N]). */
PSGD_MULTIVERSION
static void ref_product(const float *restrict At, const float *restrict Bt, double *restrict R,
                        double *restrict S, int M, int N, int K) {
  for (size_t i = 0; i < (size_t)M * N; i++) R[i] = S[i] = 0.0;
  for (int i = 0; i < M; i++)
    for (int k = 0; k < K; k++) {
      const double a = At[(size_t)i * K + k], aa = fabs(a);
      const float *b = Bt + (size_t)k * N;
      double *r = R + (size_t)i * N, *sc = S + (size_t)i * N;
      for (int j = 0; j < N; j++) {
        r[j] += a * b[j];
        sc[j] += aa * fabs((double)b[j]);
      }
    }
}

static pthread_mutex_t g_check_mu = PTHREAD_MUTEX_INITIALIZER;
static int g_check_state; /* 0 not run, 1 passed, -1 failed; under g_check_mu */
static char g_check_msg[PSGD_ERRLEN];

/* Which kernel set gemm_rm uses for a product (gemm.c's header comment). */
static const char *kernel_of(int tb) {
  if (atomic_load_explicit(&g_kernel, memory_order_relaxed)) return "injected test kernel";
  return tb ? "openblas" : "libxsmm";
}

/* Checks one shape; -1 with msg on a mismatch or allocation failure. */
static int check_one(const check_shape *c, uint64_t *seed, char *msg, size_t cap) {
  const int M = c->M, N = c->N, K = c->K, ldc = N + c->pad;
  const int lda = c->ta ? M : K, ldb = c->tb ? K : N;
  float *A = malloc(sizeof(float) * (size_t)M * K), *B = malloc(sizeof(float) * (size_t)K * N);
  float *At = malloc(sizeof(float) * (size_t)M * K), *Bt = malloc(sizeof(float) * (size_t)K * N);
  float *C = malloc(sizeof(float) * (size_t)M * ldc);
  double *R = malloc(sizeof(double) * (size_t)M * N), *S = malloc(sizeof(double) * (size_t)M * N);
  int rc = -1;
  if (!A || !B || !At || !Bt || !C || !R || !S) {
    snprintf(msg, cap, "out of memory");
    goto out;
  }
  /* values in [-1, 1) from a 64-bit LCG (top bits) */
  for (size_t i = 0; i < (size_t)M * K; i++) {
    *seed = *seed * 6364136223846793005ull + 1442695040888963407ull;
    A[i] = (float)((double)(*seed >> 40) / (double)(1 << 23) - 1.0);
  }
  for (size_t i = 0; i < (size_t)K * N; i++) {
    *seed = *seed * 6364136223846793005ull + 1442695040888963407ull;
    B[i] = (float)((double)(*seed >> 40) / (double)(1 << 23) - 1.0);
  }
  for (int i = 0; i < M; i++)
    for (int k = 0; k < K; k++) At[(size_t)i * K + k] = c->ta ? A[(size_t)k * lda + i] : A[(size_t)i * lda + k];
  for (int k = 0; k < K; k++)
    for (int j = 0; j < N; j++) Bt[(size_t)k * N + j] = c->tb ? B[(size_t)j * ldb + k] : B[(size_t)k * ldb + j];
  /* C starts at a value a kernel that ignored beta would leave visible */
  const float c0 = 0.375f;
  for (size_t i = 0; i < (size_t)M * ldc; i++) C[i] = c0;
  ref_product(At, Bt, R, S, M, N, K);
  gemm_rm(c->ta, c->tb, M, N, K, A, lda, B, ldb, c->beta, C, ldc);
  for (int i = 0; i < M; i++) {
    for (int j = 0; j < ldc; j++) {
      double got = C[(size_t)i * ldc + j];
      if (j >= N) {
        /* padding beyond N columns must be untouched */
        if (got != c0) {
          snprintf(msg, cap, "%s%s %dx%dx%d wrote outside C (column %d of row %d)",
                   c->ta ? "A^T" : "A", c->tb ? ".B^T" : ".B", M, N, K, j, i);
          goto out;
        }
        continue;
      }
      double want = R[(size_t)i * N + j] + c->beta * c0;
      /* float accumulation over K terms: far below 1e-4 of the absolute sum */
      double tol = 1e-4 * (S[(size_t)i * N + j] + fabs(c->beta * c0)) + 1e-30;
      if (!(fabs(got - want) <= tol)) {
        snprintf(msg, cap, "%s%s %dx%dx%d (beta %g, %s): C[%d][%d] = %.7g, reference %.7g",
                 c->ta ? "A^T" : "A", c->tb ? ".B^T" : ".B", M, N, K, c->beta, kernel_of(c->tb), i,
                 j, got, want);
        goto out;
      }
    }
  }
  rc = 0;
out:
  free(A);
  free(B);
  free(At);
  free(Bt);
  free(C);
  free(R);
  free(S);
  return rc;
}

int gemm_selfcheck(char *err, size_t errlen) {
  pthread_mutex_lock(&g_check_mu);
  if (g_check_state == 0) {
    uint64_t seed = 0x5eed;
    char what[PSGD_ERRLEN] = "";
    int bad = 0;
    for (size_t i = 0; i < sizeof k_shapes / sizeof k_shapes[0] && !bad; i++)
      bad = check_one(&k_shapes[i], &seed, what, sizeof what) != 0;
    g_check_state = bad ? -1 : 1;
    if (bad) {
      const char *env = getenv("OPENBLAS_CORETYPE");
      /* the advice first: callers prefix this line (file:line, dataset)
       * and PSGD_ERRLEN cuts what does not fit */
      snprintf(g_check_msg, sizeof g_check_msg,
               "BLAS self-check failed, refusing to train: set OPENBLAS_CORETYPE to a core type "
               "this CPU runs correctly (e.g. OPENBLAS_CORETYPE=Haswell; now %s%s%s), or "
               "LIBXSMM_TARGET (e.g. hsw) if libxsmm is wrong. sgemm %s. Kernels: %s",
               env ? "'" : "unset", env ? env : "", env ? "'" : "", what, gemm_kernel_name());
    }
  }
  int rc = g_check_state > 0 ? 0 : -1;
  if (rc) psgd_err(err, errlen, "%s", g_check_msg);
  pthread_mutex_unlock(&g_check_mu);
  return rc;
}

static char g_kernel_name[96];
static pthread_once_t g_name_once = PTHREAD_ONCE_INIT;

static void name_init(void) {
  const char *core = openblas_get_corename();
  pthread_once(&g_xsmm_once, xsmm_init);
  const char *arch = libxsmm_get_target_arch();
  snprintf(g_kernel_name, sizeof g_kernel_name, "libxsmm %s %s (A.B, A^T.B); openblas %s (A.B^T)",
           LIBXSMM_CONFIG_VERSION, arch ? arch : "unknown", core ? core : "unknown");
}

const char *gemm_kernel_name(void) {
  pthread_once(&g_name_once, name_init);
  return g_kernel_name;
}

void gemm_set_hook(gemm_kernel_fn f) {
  atomic_store_explicit(&g_kernel, f, memory_order_relaxed);
  pthread_mutex_lock(&g_check_mu);
  g_check_state = 0;
  pthread_mutex_unlock(&g_check_mu);
}

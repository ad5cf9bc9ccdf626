/* gemm.c - the blocked row-major sgemm of gemm.h: one cblas_sgemm per block
 * so that every call stays on OpenBLAS' small-matrix kernels, and a gate on
 * the number of threads inside OpenBLAS at once. */
#define _GNU_SOURCE
#include "gemm.h"

#include <cblas.h>
#include <errno.h>
#include <pthread.h>
#include <semaphore.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
 * inside a product together, i.e. only with more workers than MAX_THREADS. */
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

void gemm_call(int ta, int tb, int M, int N, int K, const float *A, int lda, const float *B,
               int ldb, float beta, float *C, int ldc) {
  pthread_once(&g_gate_once, gate_init);
  while (sem_wait(&g_gate) != 0) {
    /* only EINTR is possible on a valid semaphore: a signal handler ran */
  }
  cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans, M,
              N, K, 1.0f, A, lda, B, ldb, beta, C, ldc);
  sem_post(&g_gate);
}

/* Blocks thinner than this lose more to per-call overhead and to the
 * kernels' register tiles (16 rows or columns on AVX-512) than they gain. */
#define GEMM_MIN_SIDE 8

/* Block size for splitting `side` so that block * rest <= GEMM_BLOCK_MNK,
 * with the blocks as even as possible (64 rows at 1.05e6 become 2 x 32, not
 * 61 + 3); 0 if the blocks would be thinner than GEMM_MIN_SIDE. */
static int block_size(int side, double rest) {
  int nblk = (int)((double)side * rest / GEMM_BLOCK_MNK) + 1;
  for (;; nblk++) {
    int bs = (side + nblk - 1) / nblk;
    if (bs < GEMM_MIN_SIDE) return 0;
    if ((double)bs * rest <= GEMM_BLOCK_MNK) return bs;
  }
}

void gemm_rm(int ta, int tb, int M, int N, int K, const float *A, int lda, const float *B,
             int ldb, float beta, float *C, int ldc) {
  double mnk = (double)M * N * K;
  /* A . B^T is the exception: its small kernel was measured slower than the
   * packed path (64x128x128: 28.5 us in two blocks, 21.9 us in one call) */
  if (mnk <= GEMM_BLOCK_MNK || (!ta && tb) || M <= 0 || N <= 0 || K <= 0) {
    gemm_call(ta, tb, M, N, K, A, lda, B, ldb, beta, C, ldc);
    return;
  }
  int mb = block_size(M, (double)N * K);
  if (mb) {
    /* rows of C are independent: A's rows (or columns, transposed) */
    for (int m0 = 0; m0 < M; m0 += mb) {
      int m = M - m0 < mb ? M - m0 : mb;
      gemm_call(ta, tb, m, N, K, ta ? A + m0 : A + (long)m0 * lda, lda, B, ldb, beta,
           C + (long)m0 * ldc, ldc);
    }
    return;
  }
  int nb = block_size(N, (double)M * K);
  if (nb) {
    for (int n0 = 0; n0 < N; n0 += nb) {
      int n = N - n0 < nb ? N - n0 : nb;
      gemm_call(ta, tb, M, n, K, A, lda, tb ? B + (long)n0 * ldb : B + n0, ldb, beta, C + n0, ldc);
    }
    return;
  }
  /* long inner dimension: accumulate partial products into C */
  int kb = block_size(K, (double)M * N);
  if (!kb) kb = GEMM_MIN_SIDE;
  for (int k0 = 0; k0 < K; k0 += kb) {
    int k = K - k0 < kb ? K - k0 : kb;
    gemm_call(ta, tb, M, N, k, ta ? A + (long)k0 * lda : A + k0, lda,
         tb ? B + k0 : B + (long)k0 * ldb, ldb, k0 ? 1.0f : beta, C, ldc);
  }
}

/* gemm.h - row-major single-precision matrix product for the layers, cut
 * into blocks that OpenBLAS runs on its fast path (internal to the model). */
#ifndef PSGD_GEMM_H
#define PSGD_GEMM_H

/* OpenBLAS 0.3.21 on SkylakeX runs sgemm through unpacked "small matrix"
 * kernels only while M*N*K <= 1e6 (its sgemm_small_kernel_permit); above
 * that it packs both operands and, for the thin products of these models,
 * was measured 25-30% slower per flop (MLP fc1: 107 vs 82 us forward, 100 vs
 * 76 us weight gradient). Blocks of this size cost one extra call per
 * ~2 MFLOP elsewhere, which is negligible. */
#define GEMM_BLOCK_MNK 1000000.0

/* C[M][N] = A'[M][K] . B'[K][N] + beta * C, row-major, where A' is A or A^T
 * (ta != 0) and B' is B or B^T (tb != 0), leading dimensions as in cblas.
 * Splits the product into blocks of at most GEMM_BLOCK_MNK: over M first
 * (independent rows), else over N, else over K (accumulating); A . B^T
 * products are not split (gemm.c says why). */
/* One cblas_sgemm with alpha 1 (row-major, same arguments as gemm_rm), made
 * while holding one of gemm_max_inside() slots: every OpenBLAS call of the
 * model goes through here (gemm.c says why). */
void gemm_call(int ta, int tb, int M, int N, int K, const float *A, int lda, const float *B,
               int ldb, float beta, float *C, int ldc);
/* How many threads may be inside OpenBLAS at once (its build's MAX_THREADS). */
int gemm_max_inside(void);

void gemm_rm(int ta, int tb, int M, int N, int K, const float *A, int lda, const float *B,
             int ldb, float beta, float *C, int ldc);

#endif

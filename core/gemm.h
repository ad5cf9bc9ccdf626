/* gemm.h - row-major single-precision matrix product for the layers, cut
 * into blocks that OpenBLAS runs on its fast path (internal to the model). */
#ifndef PSGD_GEMM_H
#define PSGD_GEMM_H

#include <stddef.h>

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

/* The BLAS self-check: runs gemm_rm at the matrix shapes of the reference
 * models (MLP 784-128-128-128-10 batch 64 and LeNet5 batch 16, every
 * transpose combination they use, plus odd shapes that exercise the
 * kernels' edge tiles) and compares each product with a plain reference
 * loop. Runs once per process (a few milliseconds); later calls return the
 * first result. 0 if every product matches; else -1 with err naming the
 * shape, the error, the OpenBLAS core type and OPENBLAS_CORETYPE: OpenBLAS
 * built with DYNAMIC_ARCH picks its kernels by CPU model and can compute
 * wrong results on CPUs it does not know. Thread-safe. */
int gemm_selfcheck(char *err, size_t errlen);

/* The kernels in use, for the run record, e.g. "openblas Haswell". */
const char *gemm_kernel_name(void);

/* Test hook: every product of gemm_call goes to `f` instead of OpenBLAS
 * (NULL restores OpenBLAS), and the self-check's remembered result is
 * forgotten so that the next gemm_selfcheck runs again. Call only while no
 * other thread runs model code. */
typedef void (*gemm_kernel_fn)(int ta, int tb, int M, int N, int K, const float *A, int lda,
                               const float *B, int ldb, float beta, float *C, int ldc);
void gemm_set_kernel_for_test(gemm_kernel_fn f);

#endif

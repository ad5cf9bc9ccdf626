/* gemm.h - the row-major single-precision matrix product every layer
 * uses, on the kernels gemm.c picks per product (libxsmm or OpenBLAS), and
 * the BLAS self-check (internal to the model). */
#ifndef PSGD_GEMM_H
#define PSGD_GEMM_H

#include <stddef.h>

/* C[M][N] = A'[M][K] . B'[K][N] + beta * C, row-major, where A' is A or A^T
 * (ta != 0) and B' is B or B^T (tb != 0), leading dimensions as in cblas,
 * alpha 1. A.B and A^T.B run on libxsmm's JIT kernels, A.B^T on OpenBLAS
 * (gemm.c says why); the kernel depends on the arguments only. Thread-safe;
 * callers have made OpenBLAS single-threaded (model_blas_init). */
void gemm_rm(int ta, int tb, int M, int N, int K, const float *A, int lda, const float *B,
             int ldb, float beta, float *C, int ldc);

/* The same product on one named kernel set (for the benchmark's
 * per-shape comparison): 0 if it ran, -1 if that set cannot compute it
 * (libxsmm: A.B^T, beta other than 0 or 1, a shape it cannot generate). */
typedef enum { GEMM_OPENBLAS = 0, GEMM_LIBXSMM } gemm_kernels;
int gemm_rm_on(gemm_kernels which, int ta, int tb, int M, int N, int K, const float *A, int lda,
               const float *B, int ldb, float beta, float *C, int ldc);

/* How many threads may be inside OpenBLAS at once (its build's MAX_THREADS;
 * gemm_rm holds one of these slots around every OpenBLAS call). */
int gemm_max_inside(void);

/* The BLAS self-check: runs gemm_rm at the matrix shapes of the reference
 * models (MLP 784-128-128-128-10 batch 64 and LeNet5 batch 16, every
 * transpose combination they use, plus odd shapes that exercise the
 * kernels' edge tiles) and compares each product with a plain reference
 * loop. Runs once per process (a few milliseconds); later calls return the
 * first result. 0 if every product matches; else -1 with err saying what
 * to set (OPENBLAS_CORETYPE, LIBXSMM_TARGET), the failing shape and the
 * kernels in use: OpenBLAS
 * built with DYNAMIC_ARCH picks its kernels by CPU model and can compute
 * wrong results on CPUs it does not know. Thread-safe. */
int gemm_selfcheck(char *err, size_t errlen);

/* The kernels in use, for the run record, e.g. "libxsmm 1.17 cpx (A.B,
 * A^T.B); openblas Haswell (A.B^T)". */
const char *gemm_kernel_name(void);

/* Hook for tests and the benchmark: every product of gemm_rm goes to `f`
 * instead of the kernels (NULL restores them; `f` may call gemm_rm_on),
 * and the self-check's remembered result is forgotten so that the next
 * gemm_selfcheck runs again. Call only while no other thread runs model
 * code. */
typedef void (*gemm_kernel_fn)(int ta, int tb, int M, int N, int K, const float *A, int lda,
                               const float *B, int ldb, float beta, float *C, int ldc);
void gemm_set_hook(gemm_kernel_fn f);

#endif

/*
 * gemm.h — estc's own single-precision matrix product, for hosts whose vector
 * registers are wider than the BLAS kernels in use.
 *
 * The kernels call cblas_sgemm (row-major) for every product that is not a
 * small one (emit.c). Both backends hand them a function of their own in its
 * place (backend_dl.c, backend_link.c), which gives each product to
 * cg_gemm_take first and to OpenBLAS when that declines it.
 *
 * Why a product of our own: the JIT targets the host CPU, but OpenBLAS runs
 * the kernels of the core type it detects or is told (OPENBLAS_CORETYPE).
 * On an AVX-512 host whose OpenBLAS runs its AVX2 (Haswell) kernels, cg_gemm
 * is 1.7-2x faster on the shapes of the census DNN (docs/performance.md);
 * where OpenBLAS runs AVX-512 kernels itself, the two are within 10% and
 * OpenBLAS keeps the products.
 *
 * cg_gemm runs a large product on as many threads as OpenBLAS would (the
 * run setting `threads`, or OpenBLAS's own count), each on a block of C. It
 * is deterministic whatever the thread count: each element is the sum of its
 * k products in order, k blocks of 384 at a time, one fused multiply-add
 * after another.
 */
#ifndef ESTC_GEMM_H
#define ESTC_GEMM_H

/* row-major C[m,n] = alpha op(A) op(B) + beta C, op transposing when ta / tb;
 * lda, ldb, ldc as BLAS has them. beta 0: C is not read. Only where
 * cg_gemm_host() says the host can run it. */
void cg_gemm(int ta, int tb, int m, int n, int k, float alpha, const float *a, int lda,
             const float *b, int ldb, float beta, float *c, int ldc);

/* 1 if this build has cg_gemm's kernel and the CPU runs it (AVX-512F) */
int cg_gemm_host(void);

/* Whether cg_gemm should take the products: the host runs it, the BLAS core
 * type (openblas_get_corename(); NULL if unknown) is not an AVX-512 one, and
 * setting (ESTC_GEMM: "blas" or "estc"; NULL or "" to decide) does not say
 * otherwise ("estc" still needs the host). */
int cg_gemm_choose(const char *blas_core, const char *setting);

/* the threads cg_gemm may cut a product into (1 to 8) */
void cg_gemm_threads(int n);

/* The choice in force for the products of this process: cg_gemm_update
 * makes it (cg_gemm_choose with $ESTC_GEMM, and OpenBLAS's thread count for
 * cg_gemm's) when OpenBLAS is loaded and whenever its thread count changes;
 * cg_gemm_takes asks it for one product,
 * which must be row-major and have CG_GEMM_MIN_N columns or more (below that,
 * most of a vector would be masked off). */
void cg_gemm_update(const char *blas_core, int blas_threads);
int cg_gemm_takes(int row_major, int n);

/* cg_gemm of a cblas_sgemm call's product if cg_gemm_takes it: 1, else 0
 * (nothing done; the caller's BLAS computes it) */
int cg_gemm_take(int row_major, int ta, int tb, int m, int n, int k, float alpha, const float *a, int lda,
                 const float *b, int ldb, float beta, float *c, int ldc);
#define CG_GEMM_MIN_N 16

#endif

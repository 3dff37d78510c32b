/*
 * backend_link.c — the backend linked in (backend.h): what libestc and the
 * tests use. The estc command has backend_dl.c in its place.
 */
#include "backend.h"
#include "gemm.h"

#include <cblas.h>
#include <pthread.h>

const cg_backend *cg_backend_get(es_status *st)
{
    (void)st;
    return estc_llvm_backend();
}

/* who takes the products (gemm.h), from the library's core type and threads */
static void gemm_update(void) { cg_gemm_update(openblas_get_corename(), openblas_get_num_threads()); }
static pthread_once_t gemm_once = PTHREAD_ONCE_INIT;

void cg_blas_threads(int n)
{
    if (n <= 0) return;
    openblas_set_num_threads(n);
    pthread_once(&gemm_once, gemm_update);
    gemm_update();
}

static void sgemm(const enum CBLAS_ORDER order, const enum CBLAS_TRANSPOSE ta, const enum CBLAS_TRANSPOSE tb,
                  const blasint m, const blasint n, const blasint k, const float alpha, const float *a,
                  const blasint lda, const float *b, const blasint ldb, const float beta, float *c,
                  const blasint ldc)
{
    if (!cg_gemm_take(order == CblasRowMajor, ta == CblasTrans, tb == CblasTrans, m, n, k, alpha, a, lda, b, ldb,
                      beta, c, ldc))
        cblas_sgemm(order, ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
}

void *cg_blas_sgemm(void)
{
    pthread_once(&gemm_once, gemm_update);
    void (*f)(const enum CBLAS_ORDER, const enum CBLAS_TRANSPOSE, const enum CBLAS_TRANSPOSE, const blasint,
              const blasint, const blasint, const float, const float *, const blasint, const float *,
              const blasint, const float, float *, const blasint) = sgemm;
    void *a;
    memcpy(&a, &f, sizeof a);
    return a;
}

/* the backend is in this very binary */
int cg_backend_id(uint64_t *id)
{
    const cg_backend *(*self)(void) = estc_llvm_backend;
    void *addr;
    memcpy(&addr, &self, sizeof addr);
    return cg_build_id_of(addr, id);
}

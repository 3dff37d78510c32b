/*
 * backend_link.c — the backend linked in (backend.h): what libestc and the
 * tests use. The estc command has backend_dl.c in its place.
 */
#include "backend.h"

#include <cblas.h>

const cg_backend *cg_backend_get(es_status *st)
{
    (void)st;
    return estc_llvm_backend();
}

void cg_blas_threads(int n)
{
    if (n > 0) openblas_set_num_threads(n);
}

void *cg_blas_sgemm(void)
{
    void (*f)(void) = (void (*)(void))cblas_sgemm;
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

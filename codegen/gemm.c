/*
 * gemm.c — whether cg_gemm takes the products (gemm.h), and cg_gemm itself
 * where this build has no AVX-512 kernel (gemm_avx512.c): plain loops that
 * cg_gemm_host() keeps from ever being chosen.
 */
#include "gemm.h"

#include <ctype.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

static atomic_int chosen;

int cg_gemm_host(void)
{
#if defined(ESTC_GEMM_X86)
    return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("fma");
#else
    return 0;
#endif
}

/* does s contain w, ignoring case */
static int has_word(const char *s, const char *w)
{
    size_t n = strlen(w);
    for (; *s; s++) {
        size_t i = 0;
        while (i < n && s[i] && tolower((unsigned char)s[i]) == w[i]) i++;
        if (i == n) return 1;
    }
    return 0;
}

int cg_gemm_choose(const char *blas_core, const char *setting)
{
    if (setting && strcmp(setting, "blas") == 0) return 0;
    if (!cg_gemm_host()) return 0;
    if (setting && strcmp(setting, "estc") == 0) return 1;
    /* OpenBLAS's AVX-512 core types run as fast as cg_gemm: the library keeps them */
    static const char *const wide[] = { "skylakex", "cooperlake", "sapphirerapids" };
    for (size_t i = 0; blas_core && i < sizeof wide / sizeof wide[0]; i++)
        if (has_word(blas_core, wide[i])) return 0;
    return 1;
}

void cg_gemm_update(const char *blas_core, int blas_threads)
{
    cg_gemm_threads(blas_threads);
    atomic_store(&chosen, cg_gemm_choose(blas_core, getenv("ESTC_GEMM")));
}

int cg_gemm_takes(int row_major, int n)
{
    return row_major && n >= CG_GEMM_MIN_N && atomic_load_explicit(&chosen, memory_order_relaxed);
}

int cg_gemm_take(int row_major, int ta, int tb, int m, int n, int k, float alpha, const float *a, int lda,
                 const float *b, int ldb, float beta, float *c, int ldc)
{
    if (!cg_gemm_takes(row_major, n)) return 0;
    cg_gemm(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
    return 1;
}

#if !defined(ESTC_GEMM_X86)
void cg_gemm_threads(int n) { (void)n; }

void cg_gemm(int ta, int tb, int m, int n, int k, float alpha, const float *a, int lda,
             const float *b, int ldb, float beta, float *c, int ldc)
{
    for (int i = 0; i < m; i++)
        for (int j = 0; j < n; j++) {
            float s = 0;
            for (int p = 0; p < k; p++)
                s += (ta ? a[(size_t)p * lda + i] : a[(size_t)i * lda + p]) *
                     (tb ? b[(size_t)j * ldb + p] : b[(size_t)p * ldb + j]);
            float *r = &c[(size_t)i * ldc + j];
            *r = alpha * s + (beta == 0 ? 0 : beta * *r);
        }
}
#endif

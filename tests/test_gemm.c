/*
 * test_gemm.c — estc's own matrix product (codegen/gemm.h) against a double
 * reference: every transpose, alpha and beta, leading dimensions wider than
 * the matrices (what lies between must stay untouched), shapes on and around
 * the tile and block edges (12 rows, 32 columns, k blocks of 384, columns
 * packed 2048 at a time); then which products it takes and which it leaves
 * to OpenBLAS. On a CPU without AVX-512 the kernel cannot run: the first part
 * says so and checks that the choice never falls on it.
 */
#include "../codegen/gemm.h"
#include "check.h"

#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

static float frand(unsigned *s)
{
    *s = *s * 1103515245u + 12345u;
    return (float)((*s >> 8) & 0xffff) / 32768.0f - 1.0f;
}

/* one product against the reference; returns 1 if it agrees */
static int one(int ta, int tb, int m, int n, int k, float alpha, float beta, int pad, unsigned seed)
{
    int lda = (ta ? m : k) + pad, ldb = (tb ? k : n) + pad, ldc = n + pad;
    size_t na = (size_t)(ta ? k : m) * lda + 1, nb = (size_t)(tb ? n : k) * ldb + 1, nc = (size_t)m * ldc + 1;
    float *a = malloc(na * 4), *b = malloc(nb * 4), *c = malloc(nc * 4), *c0 = malloc(nc * 4);
    for (size_t i = 0; i < na; i++) a[i] = frand(&seed);
    for (size_t i = 0; i < nb; i++) b[i] = frand(&seed);
    for (size_t i = 0; i < nc; i++) c[i] = c0[i] = frand(&seed);
    if (beta == 0)        /* beta 0: C is not read, so a NaN there stays out of the result */
        for (int i = 0; i < m; i++) c[(size_t)i * ldc] = NAN;
    cg_gemm(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
    int ok = 1;
    for (int i = 0; i < m && ok; i++)
        for (int j = 0; j < ldc && ok; j++) {
            size_t at = (size_t)i * ldc + j;
            if (j >= n) { ok = memcmp(&c[at], &c0[at], 4) == 0; continue; }   /* the padding */
            double s = 0, mag = 0;
            for (int p = 0; p < k; p++) {
                double x = ta ? a[(size_t)p * lda + i] : a[(size_t)i * lda + p];
                double y = tb ? b[(size_t)j * ldb + p] : b[(size_t)p * ldb + j];
                s += x * y;
                mag += fabs(x * y);
            }
            double want = alpha * s + (beta == 0 ? 0 : beta * (double)c0[at]);
            double tol = 1e-6 * (fabs(alpha) * mag + fabs(beta * c0[at])) + 1e-6 * (k + 1) * 1e-3;
            ok = fabs(c[at] - want) <= tol * 4;
            if (!ok)
                fprintf(stderr, "  C[%d][%d] = %.9g, want %.9g (tolerance %.3g)\n", i, j, c[at], want, tol * 4);
        }
    ok &= memcmp(&c[nc - 1], &c0[nc - 1], 4) == 0;    /* past the last row */
    free(a); free(b); free(c); free(c0);
    return ok;
}

static void test_products(void)
{
    static const int ms[] = { 1, 11, 12, 13, 25, 96, 97, 200 };
    static const int ns[] = { 1, 15, 16, 31, 32, 33, 70 };
    static const int ks[] = { 0, 1, 7, 384, 385 };
    unsigned seed = 1;
    int bad = 0, runs = 0;
    for (int t = 0; t < 4; t++)
        for (size_t im = 0; im < sizeof ms / sizeof *ms; im++)
            for (size_t in = 0; in < sizeof ns / sizeof *ns; in++)
                for (size_t ik = 0; ik < sizeof ks / sizeof *ks; ik++) {
                    float alpha = (runs % 3) ? 1.0f : -0.5f, beta = (runs % 4 == 1) ? 0.0f : (runs % 4 == 2) ? 0.25f : 1.0f;
                    int pad = runs % 2 ? 3 : 0;
                    int ok = one(t & 1, t >> 1, ms[im], ns[in], ks[ik], alpha, beta, pad, seed++);
                    if (!ok && bad < 5)
                        fprintf(stderr, "  ta %d tb %d m %d n %d k %d alpha %g beta %g pad %d\n", t & 1, t >> 1,
                                ms[im], ns[in], ks[ik], alpha, beta, pad);
                    bad += !ok;
                    runs++;
                }
    CHECK(bad == 0, "%d of %d products disagree with the reference", bad, runs);
    /* columns past one packing of 2048, and k over two blocks */
    CHECK(one(0, 0, 13, 2100, 5, 1, 1, 1, 7), "2,100 columns (two column blocks)");
    CHECK(one(1, 1, 5, 40, 800, 1, 0, 2, 8), "k = 800 transposed (three k blocks)");
    CHECK(one(0, 1, 256, 256, 21, 1, 1, 0, 9), "the census DNN's first layer's shape");
}

/* a product on t threads: the same bits as on one, and the reference's value */
static int threads_same(int t, int ta, int tb, int m, int n, int k, unsigned seed)
{
    int lda = ta ? m : k, ldb = tb ? k : n;
    size_t na = (size_t)m * k, nb = (size_t)k * n, nc = (size_t)m * n;
    float *a = malloc(na * 4), *b = malloc(nb * 4), *c1 = malloc(nc * 4), *ct = malloc(nc * 4);
    for (size_t i = 0; i < na; i++) a[i] = frand(&seed);
    for (size_t i = 0; i < nb; i++) b[i] = frand(&seed);
    for (size_t i = 0; i < nc; i++) c1[i] = ct[i] = frand(&seed);
    cg_gemm_threads(1);
    cg_gemm(ta, tb, m, n, k, 0.5f, a, lda, b, ldb, 0.25f, c1, n);
    cg_gemm_threads(t);
    cg_gemm(ta, tb, m, n, k, 0.5f, a, lda, b, ldb, 0.25f, ct, n);
    cg_gemm_threads(1);
    int same = memcmp(c1, ct, nc * 4) == 0;
    free(a); free(b); free(c1); free(ct);
    return same && one(ta, tb, m, n, k, 0.5f, 0.25f, 0, seed);
}

typedef struct caller { int rounds, bad; unsigned seed; } caller;

/* products on two threads from several callers at once: each gets its own
 * right, whether the workers were free or it computed alone */
static void *call_many(void *arg)
{
    caller *c = arg;
    enum { M = 64, N = 256, K = 160 };
    float *a = malloc(M * K * 4), *b = malloc(K * N * 4), *want = malloc(M * N * 4), *got = malloc(M * N * 4);
    for (int i = 0; i < M * K; i++) a[i] = frand(&c->seed);
    for (int i = 0; i < K * N; i++) b[i] = frand(&c->seed);
    memset(want, 0, M * N * 4);
    for (int i = 0; i < M; i++)
        for (int j = 0; j < N; j++) {
            float s = 0;       /* the kernel's order: k in order, one rounding each (fused) */
            for (int p = 0; p < K; p++) s = fmaf(a[i * K + p], b[p * N + j], s);
            want[i * N + j] = s;
        }
    for (int r = 0; r < c->rounds; r++) {
        cg_gemm(0, 0, M, N, K, 1.0f, a, K, b, N, 0.0f, got, N);
        c->bad += memcmp(want, got, M * N * 4) != 0;
    }
    free(a); free(b); free(want); free(got);
    return NULL;
}

static void test_threads(void)
{
    CHECK(threads_same(2, 0, 0, 256, 256, 256, 21), "two threads, columns cut in two: the bits of one");
    CHECK(threads_same(2, 1, 1, 96, 40, 700, 22), "two threads, rows cut in two (40 columns), transposed");
    CHECK(threads_same(3, 0, 1, 13, 2100, 200, 23), "three threads over 2,100 columns");
    CHECK(threads_same(8, 1, 0, 300, 70, 500, 24), "eight threads, rows cut in eight");
    CHECK(threads_same(2, 0, 0, 256, 256, 256, 25), "two threads again, after eight (workers without a part)");
    cg_gemm_threads(2);
    pthread_t th[3];
    caller cs[3] = { { 40, 0, 31 }, { 40, 0, 32 }, { 40, 0, 33 } };
    for (int i = 0; i < 3; i++) pthread_create(&th[i], NULL, call_many, &cs[i]);
    for (int i = 0; i < 3; i++) pthread_join(th[i], NULL);
    cg_gemm_threads(1);
    CHECK(cs[0].bad + cs[1].bad + cs[2].bad == 0, "three callers at once on two threads: %d, %d, %d wrong of 40",
          cs[0].bad, cs[1].bad, cs[2].bad);
}

static void test_choice(void)
{
    int host = cg_gemm_host();
    CHECK(cg_gemm_choose("Haswell", NULL) == host, "OpenBLAS on AVX2 kernels: estc's, where it runs");
    CHECK(cg_gemm_choose("Zen", "") == host, "OpenBLAS's Zen kernels are AVX2 ones too");
    CHECK(cg_gemm_choose("SkylakeX", NULL) == 0, "OpenBLAS on AVX-512 kernels keeps the products");
    CHECK(cg_gemm_choose("Cooperlake", NULL) == 0 && cg_gemm_choose("sapphirerapids", NULL) == 0,
          "every AVX-512 core type of OpenBLAS, whatever its case");
    CHECK(cg_gemm_choose("Haswell", "blas") == 0, "ESTC_GEMM=blas leaves every product to OpenBLAS");
    CHECK(cg_gemm_choose("SkylakeX", "estc") == host, "ESTC_GEMM=estc takes them where the host runs it");
    CHECK(cg_gemm_choose(NULL, NULL) == host, "an unknown core type counts as a narrow one");
    cg_gemm_update("Haswell", 1);
    CHECK(cg_gemm_takes(1, 16) == host && cg_gemm_takes(1, 15) == 0 && cg_gemm_takes(0, 64) == 0,
          "once chosen: row-major products of 16 columns or more");
    cg_gemm_update("SkylakeX", 1);
    CHECK(cg_gemm_takes(1, 64) == 0, "and none once the choice is OpenBLAS");
}

int main(void)
{
    if (cg_gemm_host()) {
        test_products();
        test_threads();
    }
    else fprintf(stderr, "test_gemm: this CPU has no AVX-512, so estc's kernel is not run\n");
    test_choice();
    return check_done("test_gemm");
}

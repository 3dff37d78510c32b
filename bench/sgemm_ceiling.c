/*
 * sgemm_ceiling.c — the ceiling for B3: OpenBLAS cblas_sgemm alone on the
 * matrix products of one training step of an MLP, nothing else.
 *
 *     estc-bench-sgemm BATCH D0 D1 ... Dn [REPS]
 *
 * For layers D0 -> D1 -> ... -> Dn and a batch of BATCH rows, one step is
 *   forward   Y_l = X_l W_l             [B,Di] x [Di,Do]
 *   backward  dW_l = X_l^T dY_l          [Di,B] x [B,Do]
 *             dX_l = dY_l W_l^T          [B,Do] x [Do,Di]   (not for the first
 *                                        layer: the input needs no gradient)
 * in row-major, with the transposes a training step uses, three ways: each
 * product with beta = 0 (OpenBLAS zeroes C itself); each C zeroed with
 * memset and the product added (beta = 1), which is how estc calls OpenBLAS;
 * and the same with estc's own product (codegen/gemm.h), where the CPU runs
 * it, on as many threads as OpenBLAS. Prints one line:
 *
 *     gflops_per_s seconds_per_step flops_per_step gflops_beta0 gflops_memset gflops_estc
 *
 * the first two for the faster OpenBLAS way (median seconds per step over
 * REPS steps after two warm-up steps, OpenBLAS's two ways interleaved, after
 * estc's); gflops_estc is 0
 * where the CPU cannot run estc's product. The thread count is OpenBLAS's
 * (set OPENBLAS_NUM_THREADS), estc's product's too.
 */
#include "codegen/gemm.h"

#include <cblas.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static float *filled(size_t n)
{
    float *p = aligned_alloc(64, (n * sizeof(float) + 63) & ~(size_t)63);
    for (size_t i = 0; i < n; i++) p[i] = (float)((i * 2654435761u) % 1000) / 1000.0f - 0.5f;
    return p;
}

/* C = op(A) op(B) the way-th way: 0 OpenBLAS with beta = 0; 1 C zeroed by
 * memset, then OpenBLAS with beta = 1; 2 the same with estc's product */
static void gemm(int ta, int tb, int m, int n, int k, const float *a, int lda, const float *b, int ldb,
                 float *c, int way)
{
    int zeroed = way > 0;
    if (zeroed) memset(c, 0, (size_t)m * (size_t)n * sizeof *c);
    if (way == 2) { cg_gemm(ta, tb, m, n, k, 1.0f, a, lda, b, ldb, 1.0f, c, n); return; }
    cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans, m, n, k, 1.0f, a,
                lda, b, ldb, zeroed ? 1.0f : 0.0f, c, n);
}

/* the products of one training step, the way-th way; seconds */
static int B, L, *D;
static float **X, **W, **dW, **dX;
static double step(int way)
{
    double t0 = now();
    for (int l = 0; l < L; l++)
        gemm(0, 0, B, D[l + 1], D[l], X[l], D[l], W[l], D[l + 1], X[l + 1], way);
    for (int l = L - 1; l >= 0; l--) {
        gemm(1, 0, D[l], D[l + 1], B, X[l], D[l], dX[l + 1], D[l + 1], dW[l], way);
        if (l > 0) gemm(0, 1, B, D[l], D[l + 1], dX[l + 1], D[l + 1], W[l], D[l + 1], dX[l], way);
    }
    return now() - t0;
}

static int cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int main(int argc, char **argv)
{
    if (argc < 4) {
        fprintf(stderr, "usage: estc-bench-sgemm BATCH D0 D1 ... Dn [REPS]\n");
        return 2;
    }
    B = atoi(argv[1]);
    int nd = argc - 2, reps = 20;
    /* a trailing REPS is marked with a leading 'x', e.g. x30 */
    if (argv[argc - 1][0] == 'x') { reps = atoi(argv[argc - 1] + 1); nd--; }
    D = calloc((size_t)nd, sizeof *D);
    for (int i = 0; i < nd; i++) D[i] = atoi(argv[2 + i]);
    L = nd - 1;
    X = calloc((size_t)nd, sizeof *X); W = calloc((size_t)L, sizeof *W);
    dW = calloc((size_t)L, sizeof *dW); dX = calloc((size_t)nd, sizeof *dX);
    for (int l = 0; l < nd; l++) { X[l] = filled((size_t)B * D[l]); dX[l] = filled((size_t)B * D[l]); }
    for (int l = 0; l < L; l++) { W[l] = filled((size_t)D[l] * D[l + 1]); dW[l] = filled((size_t)D[l] * D[l + 1]); }
    double flops = 0;
    for (int l = 0; l < L; l++) flops += 2.0 * B * D[l] * D[l + 1] * (l == 0 ? 2 : 3);

    int ways = cg_gemm_host() ? 3 : 2;
    cg_gemm_threads(openblas_get_num_threads());
    double *t[3];
    for (int z = 0; z < 3; z++) t[z] = calloc((size_t)reps + 2, sizeof(double));
    /* estc's steps first: OpenBLAS's threads spin for a while after each of
     * its products, which would take the core estc's second thread runs on */
    for (int r = 0; ways == 3 && r < reps + 2; r++) t[2][r] = step(2);
    for (int r = 0; r < reps + 2; r++)
        for (int z = 0; z < 2; z++) t[z][r] = step(z);
    double med[3] = { 0, 0, 0 };
    for (int z = 0; z < ways; z++) {
        qsort(t[z] + 2, (size_t)reps, sizeof(double), cmp);
        med[z] = t[z][2 + reps / 2];
    }
    double best = med[0] < med[1] ? med[0] : med[1];
    printf("%.2f %.6f %.0f %.2f %.2f %.2f\n", flops / best / 1e9, best, flops, flops / med[0] / 1e9,
           flops / med[1] / 1e9, ways == 3 ? flops / med[2] / 1e9 : 0.0);
    return 0;
}

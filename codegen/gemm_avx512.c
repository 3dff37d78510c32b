/*
 * gemm_avx512.c — cg_gemm (gemm.h) for AVX-512: compiled with -mavx512f
 * -mfma on x86-64 only; elsewhere gemm.c says the host cannot run it.
 *
 * The blocking is the usual one (Goto's): op(B) is packed CG_GEMM_KC rows by
 * NC columns at a time into panels of NR columns, k-major, so a k step of the
 * micro-kernel loads one panel row as two vectors; op(A) is read where it
 * lies, MR rows by k (a row-major A gives MR row pointers, a transposed one
 * MR consecutive floats a step), except the last rows of a block when fewer
 * than MR are left, which are packed with zeros below. The micro-kernel keeps
 * an MR x NR tile of C in 24 of the 32 vector registers across the whole k
 * block and adds alpha times it to C once; columns past n are masked.
 */
#include "gemm.h"

#if defined(__AVX512F__) && defined(__FMA__)
#include <immintrin.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/core.h"

enum {
    MR = 12, NR = 32,           /* the tile: 12 rows x 2 vectors of 16 */
    KC = 384,                   /* k per block: a panel of B, KC x NR, stays in L1 */
    MC = 96,                    /* rows per block of A, MC x KC, in L2 */
    NC = 2048,                  /* columns packed at once: KC x NC floats */
};

/* ---- packing ---------------------------------------------------------------- */

/* rows [i0, i0 + mr) (mr < MR) by k [p0, p0 + kc) of op(A), k-major, zeros below */
static void pack_a(int ta, const float *a, int lda, int i0, int mr, int p0, int kc, float *ap)
{
    for (int p = 0; p < kc; p++, ap += MR) {
        for (int i = 0; i < mr; i++)
            ap[i] = ta ? a[(size_t)(p0 + p) * lda + i0 + i] : a[(size_t)(i0 + i) * lda + p0 + p];
        for (int i = mr; i < MR; i++) ap[i] = 0;
    }
}

/* k [p0, p0 + kc) by columns [j0, j0 + nc) of op(B), in panels of NR columns,
 * each k-major, zeros right of the last column */
static void pack_b(int tb, const float *b, int ldb, int p0, int kc, int j0, int nc, float *bp)
{
    for (int jr = 0; jr < nc; jr += NR, bp += (size_t)kc * NR) {
        int nr = nc - jr < NR ? nc - jr : NR;
        if (!tb) {
            for (int p = 0; p < kc; p++) {
                float *d = bp + (size_t)p * NR;
                memcpy(d, b + (size_t)(p0 + p) * ldb + j0 + jr, (size_t)nr * 4);
                if (nr < NR) memset(d + nr, 0, (size_t)(NR - nr) * 4);
            }
            continue;
        }
        /* op(B)[p][j] = b[j][p]: a column of the panel is a row of b */
        for (int j = 0; j < nr; j++) {
            const float *s = b + (size_t)(j0 + jr + j) * ldb + p0;
            for (int p = 0; p < kc; p++) bp[(size_t)p * NR + j] = s[p];
        }
        for (int p = 0; p < kc && nr < NR; p++) memset(bp + (size_t)p * NR + nr, 0, (size_t)(NR - nr) * 4);
    }
}

/* ---- the micro-kernel ------------------------------------------------------- */

/* C[mr, nr] += alpha * op(A)[MR, kc] x panel, where op(A)[i][p] is a[i * rs + p * cs] */
static inline __attribute__((always_inline)) void tile(int kc, const float *a, size_t rs, size_t cs,
                                                       const float *bp, float *c, int ldc, int mr, int nr,
                                                       float alpha)
{
    __m512 acc[MR][2];
    for (int i = 0; i < MR; i++) acc[i][0] = acc[i][1] = _mm512_setzero_ps();
    for (int p = 0; p < kc; p++, a += cs, bp += NR) {
        __m512 b0 = _mm512_load_ps(bp), b1 = _mm512_load_ps(bp + 16);
#pragma GCC unroll 12
        for (int i = 0; i < MR; i++) {
            __m512 x = _mm512_set1_ps(a[i * rs]);
            acc[i][0] = _mm512_fmadd_ps(x, b0, acc[i][0]);
            acc[i][1] = _mm512_fmadd_ps(x, b1, acc[i][1]);
        }
    }
    __m512 al = _mm512_set1_ps(alpha);
    __mmask16 m0 = nr >= 16 ? 0xffff : (__mmask16)((1u << nr) - 1);
    __mmask16 m1 = nr >= NR ? 0xffff : nr <= 16 ? 0 : (__mmask16)((1u << (nr - 16)) - 1);
    for (int i = 0; i < mr; i++) {
        float *r = c + (size_t)i * ldc;
        _mm512_mask_storeu_ps(r, m0, _mm512_fmadd_ps(al, acc[i][0], _mm512_maskz_loadu_ps(m0, r)));
        _mm512_mask_storeu_ps(r + 16, m1, _mm512_fmadd_ps(al, acc[i][1], _mm512_maskz_loadu_ps(m1, r + 16)));
    }
}

/* A row-major: MR row pointers, a step along each */
static void tile_rows(int kc, const float *a, int lda, const float *bp, float *c, int ldc, int nr, float alpha)
{
    tile(kc, a, (size_t)lda, 1, bp, c, ldc, MR, nr, alpha);
}

/* A transposed (or packed, lda = MR): MR consecutive floats a step */
static void tile_cols(int kc, const float *a, int lda, const float *bp, float *c, int ldc, int mr, int nr,
                      float alpha)
{
    tile(kc, a, 1, (size_t)lda, bp, c, ldc, mr, nr, alpha);
}

/* ---- the blocks ------------------------------------------------------------- */

/* each thread's packing space, grown as needed, freed when the thread ends */
typedef struct space { void *braw, *araw; float *bp, *ap; size_t bcap; } space;
static __thread space *mine;
static pthread_key_t space_key;
static pthread_once_t space_once = PTHREAD_ONCE_INIT;

static void space_free(void *p)
{
    space *s = p;
    free(s->braw);
    free(s->araw);
    free(s);
}

static void space_init(void) { (void)pthread_key_create(&space_key, space_free); }

/* n floats, 64-byte aligned, into *raw (what to free) */
static float *aligned(void **raw, size_t n)
{
    *raw = es_xmalloc(n * 4 + 64);
    return (float *)(((uintptr_t)*raw + 63) & ~(uintptr_t)63);
}

static space *space_get(size_t bfloats)
{
    if (!mine) {
        pthread_once(&space_once, space_init);
        mine = es_xcalloc(1, sizeof *mine);
        mine->ap = aligned(&mine->araw, (size_t)KC * MR);
        (void)pthread_setspecific(space_key, mine);
    }
    if (mine->bcap < bfloats) {
        free(mine->braw);
        mine->bp = aligned(&mine->braw, bfloats);
        mine->bcap = bfloats;
    }
    return mine;
}

/* the product on this thread */
static void serial(int ta, int tb, int m, int n, int k, float alpha, const float *a, int lda,
                   const float *b, int ldb, float beta, float *c, int ldc)
{
    if (m <= 0 || n <= 0) return;
    if (beta != 1)
        for (int i = 0; i < m; i++) {
            float *r = c + (size_t)i * ldc;
            if (beta == 0) memset(r, 0, (size_t)n * 4);
            else for (int j = 0; j < n; j++) r[j] *= beta;
        }
    if (k <= 0 || alpha == 0) return;
    int ncmax = n < NC ? n : NC;
    space *s = space_get((size_t)KC * (size_t)((ncmax + NR - 1) / NR * NR));
    for (int j0 = 0; j0 < n; j0 += NC) {
        int nc = n - j0 < NC ? n - j0 : NC;
        for (int p0 = 0; p0 < k; p0 += KC) {
            int kc = k - p0 < KC ? k - p0 : KC;
            pack_b(tb, b, ldb, p0, kc, j0, nc, s->bp);
            for (int i0 = 0; i0 < m; i0 += MC) {
                int mc = m - i0 < MC ? m - i0 : MC, full = mc / MR * MR;
                if (full < mc) pack_a(ta, a, lda, i0 + full, mc - full, p0, kc, s->ap);
                for (int jr = 0; jr < nc; jr += NR) {
                    int nr = nc - jr < NR ? nc - jr : NR;
                    const float *bp = s->bp + (size_t)(jr / NR) * kc * NR;
                    float *cj = c + j0 + jr;
                    for (int ir = i0; ir < i0 + full; ir += MR) {
                        if (ta) tile_cols(kc, a + (size_t)p0 * lda + ir, lda, bp, cj + (size_t)ir * ldc, ldc, MR, nr, alpha);
                        else tile_rows(kc, a + (size_t)ir * lda + p0, lda, bp, cj + (size_t)ir * ldc, ldc, nr, alpha);
                    }
                    if (full < mc)
                        tile_cols(kc, s->ap, MR, bp, cj + (size_t)(i0 + full) * ldc, ldc, mc - full, nr, alpha);
                }
            }
        }
    }
}

/* ---- threads ---------------------------------------------------------------- *
 * A product of at least PAR_FLOPS is cut into one part per thread: column
 * ranges of whole panels when there are enough, else row ranges of whole
 * tiles. The parts are disjoint blocks of C, each computed as the whole
 * product would compute it (the same k order), so the result does not depend
 * on the thread count. Workers start on first use and never end; between
 * products they spin for SPIN_SECONDS, then sleep. One product at a time uses
 * them: a second caller meanwhile (predictors on other threads) computes
 * its product alone. */

enum { MAXT = 8, PAR_FLOPS = 4 << 20 };
#define SPIN_SECONDS 50e-6

typedef struct job {
    int ta, tb, m, n, k, lda, ldb, ldc, parts, by_cols;
    float alpha, beta;
    const float *a, *b;
    float *c;
} job;

static struct {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    atomic_uint gen;          /* bumped for each product handed out */
    atomic_uint assigned[MAXT];   /* the gen whose part worker w has (a worker late to an
                                   * earlier product it had no part in must not take this one) */
    atomic_int left;          /* parts handed out not yet done */
    atomic_int busy;          /* a caller owns the workers */
    atomic_int threads;       /* parts a product may be cut into */
    int started;              /* workers running (under mu) */
    unsigned born[MAXT];      /* gen when worker w was started: what it has seen */
    job j;                    /* the product (written under mu before gen moves) */
} pool = { .mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER, .threads = 1 };

void cg_gemm_threads(int n) { atomic_store(&pool.threads, n < 1 ? 1 : n > MAXT ? MAXT : n); }

/* part p of j: its block of C, as a product of its own */
static void run_part(const job *j, int p)
{
    int lo, hi;
    if (j->by_cols) {
        int panels = (j->n + NR - 1) / NR;
        lo = (int)((int64_t)panels * p / j->parts) * NR;
        hi = p + 1 == j->parts ? j->n : (int)((int64_t)panels * (p + 1) / j->parts) * NR;
        serial(j->ta, j->tb, j->m, hi - lo, j->k, j->alpha, j->a, j->lda,
               j->tb ? j->b + (size_t)lo * j->ldb : j->b + lo, j->ldb, j->beta, j->c + lo, j->ldc);
    } else {
        int tiles = (j->m + MR - 1) / MR;
        lo = (int)((int64_t)tiles * p / j->parts) * MR;
        hi = p + 1 == j->parts ? j->m : (int)((int64_t)tiles * (p + 1) / j->parts) * MR;
        serial(j->ta, j->tb, hi - lo, j->n, j->k, j->alpha, j->ta ? j->a + lo : j->a + (size_t)lo * j->lda,
               j->lda, j->b, j->ldb, j->beta, j->c + (size_t)lo * j->ldc, j->ldc);
    }
}

static void *worker(void *arg)
{
    int me = (int)(intptr_t)arg;
    unsigned seen = pool.born[me];   /* written before pthread_create */
    for (;;) {
        double t0 = es_now();
        unsigned g;
        for (int spins = 0; (g = atomic_load_explicit(&pool.gen, memory_order_acquire)) == seen; spins++) {
            _mm_pause();
            if ((spins & 63) == 63 && es_now() - t0 > SPIN_SECONDS) {
                pthread_mutex_lock(&pool.mu);
                while ((g = atomic_load(&pool.gen)) == seen) pthread_cond_wait(&pool.cv, &pool.mu);
                pthread_mutex_unlock(&pool.mu);
                break;
            }
        }
        seen = g;
        if (atomic_load_explicit(&pool.assigned[me], memory_order_acquire) == g) {
            run_part(&pool.j, me);   /* stays as it is until this part is done */
            atomic_fetch_sub_explicit(&pool.left, 1, memory_order_release);
        }
    }
    return NULL;
}

void cg_gemm(int ta, int tb, int m, int n, int k, float alpha, const float *a, int lda,
             const float *b, int ldb, float beta, float *c, int ldc)
{
    int t = atomic_load_explicit(&pool.threads, memory_order_relaxed);
    job j = { ta, tb, m, n, k, lda, ldb, ldc, 1, 0, alpha, beta, a, b, c };
    if (t > 1 && 2.0 * m * n * k >= PAR_FLOPS) {
        if (n >= 2 * NR * t) j.by_cols = 1, j.parts = t;
        else if (m >= 2 * MR * t) j.parts = t;
    }
    if (j.parts == 1 || atomic_exchange(&pool.busy, 1)) {
        serial(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
        return;
    }
    pthread_mutex_lock(&pool.mu);
    while (pool.started < j.parts - 1) {
        pthread_t th;
        pthread_attr_t at;
        pthread_attr_init(&at);
        pthread_attr_setdetachstate(&at, PTHREAD_CREATE_DETACHED);
        pool.born[pool.started + 1] = atomic_load(&pool.gen);
        int rc = pthread_create(&th, &at, worker, (void *)(intptr_t)(pool.started + 1));
        pthread_attr_destroy(&at);
        if (rc != 0) break;
        pool.started++;
    }
    if (pool.started < j.parts - 1) j.parts = pool.started + 1;   /* no more threads to be had */
    pool.j = j;
    atomic_store(&pool.left, j.parts - 1);
    unsigned g = atomic_load(&pool.gen) + 1;
    for (int w = 1; w < j.parts; w++) atomic_store(&pool.assigned[w], g);
    atomic_store_explicit(&pool.gen, g, memory_order_release);
    pthread_cond_broadcast(&pool.cv);
    pthread_mutex_unlock(&pool.mu);
    run_part(&j, 0);
    while (atomic_load_explicit(&pool.left, memory_order_acquire) > 0) _mm_pause();
    atomic_store(&pool.busy, 0);
}
#else
typedef int cg_gemm_avx512_none;   /* a translation unit may not be empty */
#endif

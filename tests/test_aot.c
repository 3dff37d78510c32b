/*
 * test_aot.c — the pieces of an exported predictor that can be checked
 * in-process (tests/export.sh checks whole predictors against `estc predict`).
 *
 *  - The predictor's own XXH64 (codegen/prep.c emits it as IR, since a
 *    predictor may not link libxxhash), JIT-compiled, against libxxhash's
 *    es_hash64 on every length from 0 to 300 at every alignment, and against
 *    the published test vectors of XXH64.
 *  - cg_emit_ex(CG_EMIT_AOT): matrix products as loops instead of
 *    cblas_sgemm (column blocks held in vector registers, a plain remainder),
 *    for all four transpose combinations, three shapes and batch sizes 0, 1
 *    and 5, against the reference evaluator; the module names no BLAS
 *    function; a CONST's buffer is left alone unless the CONST is an output.
 */
#include "../codegen/codegen.h"
#include "../codegen/prep.h"
#include "check.h"

#include <llvm-c/Core.h>

#include <math.h>
#include <stdlib.h>
#include <string.h>

static es_span nospan(void) { es_span s; memset(&s, 0, sizeof s); return s; }

/* a session holding one module given as IR text; fn looked up by name */
static cg_jit *jit_ir(const char *ir, const char *name, void **fn)
{
    es_status st;
    es_status_clear(&st);
    cg_jit *j = cg_jit_new(NULL, NULL, 0, &st);
    CHECK(j != NULL, "an empty JIT session: %s", st.msg);
    if (!j) return NULL;
    int rc = cg_jit_add_ir(j, ir, &st);
    CHECK(rc == 0, "the module is accepted by the JIT: %s", st.msg);
    cg_entry_fn f = rc == 0 ? cg_jit_lookup(j, name) : NULL;
    CHECK(f != NULL, "%s is found in the JIT", name);
    memcpy(fn, &f, sizeof f);
    return j;
}

/* ---- XXH64 ----------------------------------------------------------------------- */

typedef uint64_t (*hash_fn)(const void *, int64_t);

static void test_xxh64(void)
{
    LLVMContextRef ctx = LLVMContextCreate();
    LLVMModuleRef m = LLVMModuleCreateWithNameInContext("xxh", ctx);
    cg_prep_xxh64_fn(m, "test_xxh64");
    char *ir = LLVMPrintModuleToString(m);
    void *p = NULL;
    cg_jit *j = jit_ir(ir, "test_xxh64", &p);
    LLVMDisposeMessage(ir);
    LLVMDisposeModule(m);
    LLVMContextDispose(ctx);
    if (!j || !p) { cg_jit_free(j); return; }
    hash_fn h;
    memcpy(&h, &p, sizeof h);

    /* XXH64 test vectors (seed 0), as published with xxHash */
    CHECK(h("", 0) == 0xEF46DB3751D8E999ull, "XXH64 of the empty string is EF46DB3751D8E999, got %016llx",
          (unsigned long long)h("", 0));
    CHECK(h("abc", 3) == 0x44BC2CF5AD770999ull, "XXH64 of \"abc\" is 44BC2CF5AD770999, got %016llx",
          (unsigned long long)h("abc", 3));

    /* every length through the 32-byte stripes and all three tails, at every alignment */
    unsigned char buf[320];
    es_rng rng;
    es_rng_seed(&rng, 11);
    for (size_t i = 0; i < sizeof buf; i++) buf[i] = (unsigned char)es_rng_next(&rng);
    int bad = 0;
    for (int off = 0; off < 8; off++)
        for (int len = 0; len <= 300; len++) {
            uint64_t want = es_hash64(buf + off, (size_t)len, 0), got = h(buf + off, len);
            if (want != got && bad++ < 5)
                CHECK(0, "XXH64 of %d bytes at offset %d: libxxhash %016llx, predictor %016llx", len, off,
                      (unsigned long long)want, (unsigned long long)got);
        }
    CHECK(bad == 0, "the predictor's XXH64 equals libxxhash's for 2408 inputs (%d differ)", bad);
    cg_jit_free(j);
}

/* ---- AOT emission: matmul loops, constants ------------------------------------------- */

static void fill(es_rng *rng, float *p, int64_t n)
{
    for (int64_t i = 0; i < n; i++) p[i] = (float)(4 * es_rng_uniform(rng) - 2);
}

/* x (input) times a constant w, transposed as asked; w is also an output
 * when w_out, so its buffer must then be written */
static void test_matmul(int ta, int tb, int w_out, int64_t K, int64_t N)
{
    es_arena *a = es_arena_new();
    gr_graph *g = gr_new(a, NULL);
    g->kind = GR_PROG_PREDICT;
    es_span sp = nospan();
    int x = gr_input(g, "x", GR_F32, ta ? gr_shape2(K, GR_BATCH) : gr_shape2(GR_BATCH, K), sp);
    float *wv = malloc(sizeof(float) * (size_t)(K * N));
    es_rng rng;
    es_rng_seed(&rng, (uint64_t)(1 + ta * 2 + tb + 4 * N));
    fill(&rng, wv, K * N);
    int w = gr_const(g, tb ? gr_shape2(N, K) : gr_shape2(K, N), wv, sp);
    int y = gr_matmul(g, x, w, ta, tb, sp);
    int z = gr_unary(g, GR_RELU, y, sp);
    CHECK(y != GR_NONE && z != GR_NONE, "matmul ta=%d tb=%d builds", ta, tb);
    if (y == GR_NONE || z == GR_NONE) { es_arena_free(a); free(wv); return; }
    gr_add_output(g, "y", z);
    if (w_out) gr_add_output(g, "w", w);
    gr_bind(g);

    es_status st;
    es_status_clear(&st);
    LLVMContextRef ctx = LLVMContextCreate();
    LLVMModuleRef m = cg_emit_ex(ctx, g, "aot_kernel", CG_EMIT_AOT, &st);
    CHECK(m != NULL, "cg_emit_ex(CG_EMIT_AOT): %s", st.msg);
    if (!m) { LLVMContextDispose(ctx); es_arena_free(a); free(wv); return; }
    char *ir = LLVMPrintModuleToString(m);
    CHECK(strstr(ir, "cblas") == NULL, "an AOT module does not call BLAS (ta=%d tb=%d)", ta, tb);
    void *p = NULL;
    cg_jit *j = jit_ir(ir, "aot_kernel", &p);
    LLVMDisposeMessage(ir);
    LLVMDisposeModule(m);
    LLVMContextDispose(ctx);
    if (!j || !p) { cg_jit_free(j); es_arena_free(a); free(wv); return; }
    cg_entry_fn fn;
    memcpy(&fn, &p, sizeof fn);

    const int64_t Bs[3] = { 0, 1, 5 };
    for (int bi = 0; bi < 3; bi++) {
        int64_t B = Bs[bi];
        void **ref = calloc((size_t)g->nbufs, sizeof *ref), **got = calloc((size_t)g->nbufs, sizeof *got);
        for (int i = 0; i < g->n; i++) {
            size_t bytes = gr_buf_bytes(g, i, B) + 4;
            ref[g->nodes[i].buf] = calloc(1, bytes);
            got[g->nodes[i].buf] = malloc(bytes);
            float *q = got[g->nodes[i].buf];
            for (size_t k = 0; k < bytes / 4; k++) q[k] = -777.0f;   /* unwritten stays visible */
        }
        int64_t nx = gr_numel(g->nodes[x].shape, B);
        fill(&rng, ref[g->nodes[x].buf], nx);
        memcpy(got[g->nodes[x].buf], ref[g->nodes[x].buf], (size_t)nx * 4);
        gr_eval(g, ref, B);
        fn(got, B);
        const float *r = ref[g->nodes[z].buf], *o = got[g->nodes[z].buf];
        int64_t nz = gr_numel(g->nodes[z].shape, B);
        int bad = 0;
        for (int64_t i = 0; i < nz; i++)
            /* a sum of K products of numbers in [-2, 2]: rounding grows with K */
            if (!check_close(o[i], r[i], 1e-5, 2e-6 * (double)K) && bad++ < 3)
                CHECK(0, "matmul ta=%d tb=%d K=%lld N=%lld B=%lld element %lld: loops %g, reference %g", ta, tb,
                      (long long)K, (long long)N, (long long)B, (long long)i, o[i], r[i]);
        CHECK(bad == 0, "the AOT matmul loops match the reference (ta=%d tb=%d K=%lld N=%lld B=%lld)", ta, tb,
              (long long)K, (long long)N, (long long)B);
        const float *wb = got[g->nodes[w].buf];
        if (w_out) CHECK(memcmp(wb, wv, sizeof(float) * (size_t)(K * N)) == 0, "a CONST that is an output is written");
        else CHECK(wb[0] == -777.0f && wb[K * N - 1] == -777.0f, "a CONST that is not an output keeps no buffer");
        for (int i = 0; i < g->nbufs; i++) { free(ref[i]); free(got[i]); }
        free(ref);
        free(got);
    }
    cg_jit_free(j);
    es_arena_free(a);
    free(wv);
}

int main(void)
{
    test_xxh64();
    /* N = 5: the plain loops only; N = 125: column blocks of 64, 32, 16, 8 and
     * 5 left over; N = 96: blocks only (C is never zero-filled first) */
    for (int ta = 0; ta < 2; ta++)
        for (int tb = 0; tb < 2; tb++) {
            test_matmul(ta, tb, ta == tb, 7, 5);
            test_matmul(ta, tb, ta != tb, 70, 125);
            test_matmul(ta, tb, 0, 9, 96);
        }
    return check_done("test_aot");
}

/*
 * test_codegen.c — compiled kernels against the reference evaluator.
 *
 * Every op of ops.def is built into small graphs (batch dimension,
 * broadcasting, ids out of range, duplicate ids), bound, and run twice on
 * identical data: by gr_eval (graph/eval.c, the oracle) and by the JIT-compiled
 * entry. Every buffer — outputs, intermediates, and for optimizer updates the
 * variables and slots changed in place — is compared element by element
 * (floats within rel 1e-5 / abs 1e-6, ids exactly) at two batch sizes. Buffers
 * a kernel should write start with different garbage in the two runs, so an
 * element the JIT forgets to write cannot match by accident. A table at the
 * end fails for any op no graph exercised.
 *
 * Then: whole training programs (forward, loss, gr_autodiff,
 * gr_apply_optimizer) for every optimizer over several steps; two JIT sessions
 * alive at once; and error paths (an unbound program, IR that does not parse
 * or verify, an unresolvable symbol, duplicate names) that must come back as
 * statuses. Input data comes from es_rng by the leaf's name: "pos" positive,
 * "int" small integers (ties for argmax), "bin" 0/1 labels, "big" wide
 * logits, "step" a step count; i32 leaves named "...:N" draw ids from
 * [-1, N], so some are invalid on purpose.
 *
 * The kernels call cblas_sgemm and libm by name; the JIT binds those to the
 * addresses codegen/jit.c was linked against, so linking OpenBLAS is enough
 * (CMake also builds tests with ENABLE_EXPORTS for anything else).
 */
#include "../codegen/codegen.h"
#include "check.h"

#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

static const double RTOL = 1e-5, ATOL = 1e-6;

typedef struct fixture {
    es_rng rng;
    int covered[GR_NUM_OPS];
} fixture;

static es_span nospan(void) { es_span s; memset(&s, 0, sizeof s); return s; }

/* ---- leaf data ---------------------------------------------------------------- */

static void fill_leaf(fixture *fx, const gr_node *n, void *buf, int64_t B)
{
    int64_t ne = gr_numel(n->shape, B);
    const char *name = n->name ? n->name : "";
    if (n->dtype == GR_I32) {
        const char *colon = strrchr(name, ':');
        int64_t hi = colon ? atoll(colon + 1) : 3;
        int32_t *p = buf;
        for (int64_t i = 0; i < ne; i++) p[i] = (int32_t)es_rng_below(&fx->rng, (uint64_t)hi + 2) - 1;
        return;
    }
    float *p = buf;
    for (int64_t i = 0; i < ne; i++) {
        double u = es_rng_uniform(&fx->rng);
        if (strncmp(name, "pos", 3) == 0) p[i] = (float)(0.1 + 2 * u);
        else if (strncmp(name, "int", 3) == 0) p[i] = (float)floor(3 * u);
        else if (strncmp(name, "bin", 3) == 0) p[i] = u < 0.5f ? 0.0f : 1.0f;
        else if (strncmp(name, "big", 3) == 0) p[i] = (float)(60 * u - 30);
        else if (strncmp(name, "step", 4) == 0) p[i] = (float)floor(5 * u);
        else p[i] = (float)(4 * u - 2);
    }
}

/* ---- two copies of a program's buffers ------------------------------------------ */

typedef struct twin {
    gr_graph *g;
    int64_t B;
    double rtol, atol;
    void **ref, **jit;
    cg_jit *j;
    cg_entry_fn fn;
} twin;

static void fill_garbage(const gr_node *n, void *p, int64_t B, float v)
{
    int64_t ne = gr_numel(n->shape, B);
    for (int64_t i = 0; i < ne; i++) {
        if (n->dtype == GR_I32) ((int32_t *)p)[i] = (int32_t)v;
        else ((float *)p)[i] = v;
    }
}

/* Compiles a bound g into a session of its own; NULL after reporting. */
static cg_jit *compile(gr_graph *g, cg_entry_fn *fn, const char *what)
{
    es_status st;
    es_status_clear(&st);
    const char *name = "kernel";
    cg_jit *j = cg_jit_new(&g, &name, 1, &st);
    CHECK(j != NULL, "%s: cg_jit_new failed: %s", what, st.msg);
    *fn = j ? cg_jit_lookup(j, name) : NULL;
    CHECK(!j || *fn, "%s: entry not found", what);
    return j;
}

/* Allocates both buffer sets of a bound g for batch size B and fills the
 * leaves (params by name, or by their initialisers when `init`). */
static void twin_init(twin *t, fixture *fx, gr_graph *g, int64_t B, int init, cg_entry_fn fn)
{
    memset(t, 0, sizeof *t);
    t->g = g;
    t->B = B;
    t->fn = fn;
    t->rtol = RTOL;
    t->atol = ATOL;
    t->ref = calloc((size_t)g->nbufs + 1, sizeof(void *));
    t->jit = calloc((size_t)g->nbufs + 1, sizeof(void *));
    for (int i = 0; i < g->n; i++) {
        const gr_node *n = &g->nodes[i];
        if (n->buf < 0) continue;
        size_t bytes = gr_buf_bytes(g, i, B);
        if (!t->ref[n->buf]) {   /* a slot shared by liveness is allocated once */
            t->ref[n->buf] = malloc(bytes ? bytes : 4);
            t->jit[n->buf] = malloc(bytes ? bytes : 4);
        }
        if (n->op == GR_PARAM || n->op == GR_INPUT) {
            if (init && n->op == GR_PARAM) gr_init_param(n, t->ref[n->buf], &fx->rng);
            else fill_leaf(fx, n, t->ref[n->buf], B);
            memcpy(t->jit[n->buf], t->ref[n->buf], bytes);
        } else {
            fill_garbage(n, t->ref[n->buf], B, -7777.0f);
            fill_garbage(n, t->jit[n->buf], B, 8888.0f);
        }
    }
}

static int bind_and_verify(gr_graph *g, const char *what)
{
    es_status st;
    es_status_clear(&st);
    gr_bind(g);
    int ok = gr_verify(g, &st) == 0;
    CHECK(ok, "%s: the test graph is invalid: %s", what, st.msg);
    return ok ? 0 : -1;
}

/* new batch data for every INPUT, the same in both copies */
static void twin_feed(twin *t, fixture *fx)
{
    for (int i = 0; i < t->g->n; i++) {
        const gr_node *n = &t->g->nodes[i];
        if (n->op != GR_INPUT) continue;
        fill_leaf(fx, n, t->ref[n->buf], t->B);
        memcpy(t->jit[n->buf], t->ref[n->buf], gr_buf_bytes(t->g, i, t->B));
    }
}

/* Runs both and compares every buffer; returns the number of buffers that differ. */
static int twin_run(twin *t, const char *what)
{
    gr_eval(t->g, t->ref, t->B);
    t->fn(t->jit, t->B);
    int bad = 0;
    for (int i = 0; i < t->g->n; i++) {
        const gr_node *n = &t->g->nodes[i];
        if (n->buf < 0) continue;
        int64_t ne = gr_numel(n->shape, t->B);
        for (int64_t k = 0; k < ne; k++) {
            int ok;
            double a, b;
            if (n->dtype == GR_I32) {
                a = ((int32_t *)t->jit[n->buf])[k];
                b = ((int32_t *)t->ref[n->buf])[k];
                ok = a == b;
            } else {
                a = ((float *)t->jit[n->buf])[k];
                b = ((float *)t->ref[n->buf])[k];
                ok = a == b || check_close(a, b, t->rtol, t->atol);   /* == for infinities */
            }
            if (!ok) {
                char sb[64];
                CHECK(0, "%s, B=%lld: node %%%d %s%s%s %s element %lld: jit %.9g, reference %.9g", what,
                      (long long)t->B, i, gr_ops[n->op].name, n->name ? " " : "", n->name ? n->name : "",
                      gr_shape_str(n->shape, sb, sizeof sb), (long long)k, a, b);
                bad++;
                break;
            }
        }
    }
    return bad;
}

static void twin_free(twin *t)
{
    for (int i = 0; t->ref && i < t->g->nbufs; i++) { free(t->ref[i]); free(t->jit[i]); }
    free(t->ref);
    free(t->jit);
}

/* One graph, compiled once, run at B = 1, 7, 19 and 0 (19: kernels that
 * take rows eight at a time, and the rest; an empty batch must be
 * harmless): all buffers must agree. */
static void check_graph(fixture *fx, gr_graph *g, const char *what)
{
    CHECK(g->nerrors == 0, "%s: building the test graph reported %d errors", what, g->nerrors);
    if (g->nerrors || bind_and_verify(g, what) != 0) return;
    for (int i = 0; i < g->n; i++) fx->covered[g->nodes[i].op] = 1;
    cg_entry_fn fn;
    cg_jit *j = compile(g, &fn, what);
    if (!fn) { cg_jit_free(j); return; }
    int64_t Bs[4] = { 1, 7, 19, 0 };
    for (int b = 0; b < 4; b++) {
        twin t;
        twin_init(&t, fx, g, Bs[b], 0, fn);
        int bad = twin_run(&t, what);
        CHECK(bad == 0, "%s, B=%lld: %d buffers differ from the reference", what, (long long)Bs[b], bad);
        twin_free(&t);
    }
    cg_jit_free(j);
}

/* ---- graphs, one or a few ops each ----------------------------------------------- */

typedef struct tg { es_arena *a; gr_graph *g; } tg;

static tg tg_new(void)
{
    tg t;
    t.a = es_arena_new();
    t.g = gr_new(t.a, NULL);
    return t;
}

static gr_shape sh(int rank, int64_t d0, int64_t d1, int64_t d2)
{
    gr_shape s = gr_shape0();
    s.rank = rank;
    s.d[0] = d0; s.d[1] = d1; s.d[2] = d2;
    return s;
}

#define B_ GR_BATCH

static int in_f(tg *t, const char *name, gr_shape s) { return gr_input(t->g, name, GR_F32, s, nospan()); }
static int in_i(tg *t, const char *name, gr_shape s) { return gr_input(t->g, name, GR_I32, s, nospan()); }
static int par(tg *t, const char *name, gr_shape s)
{
    return gr_param(t->g, name, s, GR_INIT_ZEROS, 0, 0, 1, nospan());
}

static void test_unary(fixture *fx)
{
    static const gr_op ops[] = { GR_NEG, GR_EXP, GR_LOG, GR_SQRT, GR_ABS, GR_SQUARE, GR_SIGMOID,
                                 GR_TANH, GR_RELU, GR_SOFTPLUS, GR_STEP, GR_SIGN };
    for (size_t i = 0; i < ES_ARRAY_LEN(ops); i++) {
        tg t = tg_new();
        int positive = ops[i] == GR_LOG || ops[i] == GR_SQRT;
        /* a wide range, so overflow-prone forms (exp in sigmoid, softplus) are
         * exercised, with the batch; a narrow one without it */
        gr_unary(t.g, ops[i], in_f(&t, positive ? "pos" : "big", sh(3, B_, 2, 3)), nospan());
        gr_unary(t.g, ops[i], in_f(&t, positive ? "pos2" : "x", sh(1, 4, 0, 0)), nospan());
        /* exact zeros of both signs: relu, step, sign and abs at 0 */
        if (!positive)
            gr_unary(t.g, ops[i], gr_const(t.g, sh(1, 3, 0, 0), (float[]){ 0.0f, -0.0f, 1.5f }, nospan()), nospan());
        char what[64];
        snprintf(what, sizeof what, "unary %s", gr_ops[ops[i]].name);
        check_graph(fx, t.g, what);
        es_arena_free(t.a);
    }
    tg t = tg_new();
    gr_unary(t.g, GR_CAST_F32, in_i(&t, "ids:100", sh(2, B_, 3, 0)), nospan());
    check_graph(fx, t.g, "cast_f32");
    es_arena_free(t.a);
}

static void test_binary(fixture *fx)
{
    static const gr_op ops[] = { GR_ADD, GR_SUB, GR_MUL, GR_DIV, GR_MAXIMUM, GR_MINIMUM };
    /* shape pairs: equal; trailing broadcast; both sides stretching; a scalar; rank 4 */
    static const struct { int ra; int64_t a[4]; int rb; int64_t b[4]; } pairs[] = {
        { 2, { B_, 3 }, 2, { B_, 3 } },
        { 2, { B_, 3 }, 1, { 3 } },
        { 2, { B_, 1 }, 2, { 1, 4 } },
        { 3, { 2, B_, 3 }, 3, { 2, 1, 1 } },
        { 2, { B_, 3 }, 0, { 0 } },
        { 1, { 1 }, 2, { B_, 2 } },
        { 4, { B_, 2, 1, 3 }, 3, { 2, 4, 1 } },
    };
    for (size_t i = 0; i < ES_ARRAY_LEN(ops); i++)
        for (size_t p = 0; p < ES_ARRAY_LEN(pairs); p++) {
            tg t = tg_new();
            gr_shape sa = gr_shape0(), sb = gr_shape0();
            sa.rank = pairs[p].ra; sb.rank = pairs[p].rb;
            memcpy(sa.d, pairs[p].a, sizeof sa.d);
            memcpy(sb.d, pairs[p].b, sizeof sb.d);
            /* "int" operands make equal pairs common: maximum/minimum ties */
            int x = in_f(&t, ops[i] == GR_MAXIMUM || ops[i] == GR_MINIMUM ? "int_a" : "x", sa);
            int y = in_f(&t, ops[i] == GR_DIV ? "pos" : ops[i] == GR_MAXIMUM || ops[i] == GR_MINIMUM ? "int_b" : "y", sb);
            gr_binary(t.g, ops[i], x, y, nospan());
            gr_binary(t.g, ops[i], y, x, nospan());
            char what[96];
            snprintf(what, sizeof what, "binary %s, shapes #%zu", gr_ops[ops[i]].name, p);
            check_graph(fx, t.g, what);
            es_arena_free(t.a);
        }
    /* a constant operand: read from the module's own global */
    tg t = tg_new();
    int c = gr_const(t.g, sh(1, 3, 0, 0), (float[]){ 0.5f, -2.0f, 3.0f }, nospan());
    int s = gr_scalar(t.g, 0.25, nospan());
    int x = in_f(&t, "x", sh(2, B_, 3, 0));
    gr_binary(t.g, GR_MUL, gr_binary(t.g, GR_ADD, x, c, nospan()), s, nospan());
    check_graph(fx, t.g, "binary with constants");
    es_arena_free(t.a);
}

static void test_shape_movers(fixture *fx)
{
    static const struct { int rx; int64_t x[4]; int rl; int64_t l[4]; } cases[] = {
        { 1, { 3 }, 3, { B_, 2, 3 } },
        { 2, { B_, 1 }, 2, { B_, 4 } },
        { 3, { 2, 1, 3 }, 4, { B_, 2, 5, 3 } },
        { 0, { 0 }, 2, { B_, 3 } },
        { 2, { B_, 3 }, 2, { B_, 3 } },
    };
    for (size_t i = 0; i < ES_ARRAY_LEN(cases); i++) {
        tg t = tg_new();
        gr_shape sx = gr_shape0(), sl = gr_shape0();
        sx.rank = cases[i].rx; sl.rank = cases[i].rl;
        memcpy(sx.d, cases[i].x, sizeof sx.d);
        memcpy(sl.d, cases[i].l, sizeof sl.d);
        int x = in_f(&t, "x", sx), like = in_f(&t, "like", sl);
        int bx = gr_binary(t.g, GR_BROADCAST, x, like, nospan());
        /* sum_to is broadcast's adjoint: the wide tensor back to x's shape */
        int wide = in_f(&t, "wide", sl);
        gr_binary(t.g, GR_SUM_TO, wide, x, nospan());
        gr_binary(t.g, GR_SUM_TO, bx, x, nospan());
        char what[64];
        snprintf(what, sizeof what, "broadcast/sum_to case %zu", i);
        check_graph(fx, t.g, what);
        es_arena_free(t.a);
    }
    tg t = tg_new();
    int x = in_f(&t, "x", sh(2, B_, 6, 0));
    int r = gr_reshape(t.g, x, sh(3, B_, 2, 3), nospan());
    gr_reshape(t.g, r, sh(2, 6, B_, 0), nospan());
    gr_reshape(t.g, in_i(&t, "ids:9", sh(2, B_, 4, 0)), sh(3, 2, B_, 2), nospan());
    check_graph(fx, t.g, "reshape");
    es_arena_free(t.a);
}

static void test_reductions(fixture *fx)
{
    tg t = tg_new();
    int x = in_f(&t, "x", sh(3, B_, 3, 4));
    gr_unary(t.g, GR_SUM, x, nospan());
    gr_unary(t.g, GR_MEAN, x, nospan());
    gr_unary(t.g, GR_NUMEL, x, nospan());
    for (int ax = 0; ax < 3; ax++) gr_sum_axis(t.g, x, ax, nospan());
    int w = in_f(&t, "w", sh(2, 5, B_, 0));
    gr_sum_axis(t.g, w, 0, nospan());
    gr_sum_axis(t.g, w, 1, nospan());
    gr_unary(t.g, GR_MEAN, w, nospan());
    int s = gr_scalar(t.g, 2.0, nospan());
    gr_unary(t.g, GR_SUM, s, nospan());
    gr_unary(t.g, GR_NUMEL, s, nospan());
    check_graph(fx, t.g, "reductions");
    es_arena_free(t.a);
}

static void test_matmul(fixture *fx)
{
    /* small products are loops, larger ones cblas_sgemm calls (emit.c's
     * CG_SMALL_MATMUL, 128 multiply-adds per example): both kinds, each
     * operand stored transposed or not. The second set has loops with
     * column blocks (40 = 16 + 16 + 8 and 24 = 16 + 8) over rows in tiles of
     * four and the rows left over (B = 7, 19; 5 rows of the gradient) */
    static const int64_t dims[3][4] = { { 4, 3, 5, 2 }, { 3, 40, 5, 24 }, { 16, 12, 20, 12 } };
    for (int set = 0; set < 3; set++)
        for (int ta = 0; ta < 2; ta++)
            for (int tb = 0; tb < 2; tb++) {
                int big = set == 2;
                int64_t k = dims[set][0], n = dims[set][1], gk = dims[set][2], gn = dims[set][3];
                tg t = tg_new();
                /* [B,k] x [k,n] */
                int a = in_f(&t, "a", ta ? sh(2, k, B_, 0) : sh(2, B_, k, 0));
                int b = par(&t, "b", tb ? sh(2, n, k, 0) : sh(2, k, n, 0));
                gr_matmul(t.g, a, b, ta, tb, nospan());
                /* a weight gradient: k is the batch (A^T[k=B] x dY[B,n]) */
                int x = in_f(&t, "x", ta ? sh(2, B_, gk, 0) : sh(2, gk, B_, 0));
                int dy = in_f(&t, "dy", tb ? sh(2, gn, B_, 0) : sh(2, B_, gn, 0));
                if (ta) gr_matmul(t.g, x, dy, 1, tb, nospan());
                else gr_matmul(t.g, x, dy, 0, tb, nospan());
                char what[64];
                snprintf(what, sizeof what, "matmul %s ta=%d tb=%d", big ? "sgemm" : set ? "column blocks" : "loops",
                         ta, tb);
                check_graph(fx, t.g, what);
                es_arena_free(t.a);
            }
}

static void test_sparse(fixture *fx)
{
    for (int multi = 0; multi < 2; multi++) {
        tg t = tg_new();
        int W = in_f(&t, "w", sh(2, 10, 3, 0));
        /* ids in [-1, 11]: -1, 10 and 11 are out of range and skipped */
        int ids = in_i(&t, "ids:11", multi ? sh(2, B_, 3, 0) : sh(1, B_, 0, 0));
        gr_binary(t.g, GR_GATHER_SUM, W, ids, nospan());
        int64_t depth[4] = { 6, 0, 0, 0 };
        gr_op_node(t.g, GR_ONE_HOT, 1, &ids, depth, NULL, nospan());
        int rows = in_f(&t, "rows", sh(2, B_, 3, 0));
        int like = par(&t, "like", sh(2, 10, 3, 0));
        gr_op_node(t.g, GR_SCATTER_ADD, 3, (int[]){ ids, rows, like }, NULL, NULL, nospan());
        check_graph(fx, t.g, multi ? "gather_sum/one_hot/scatter_add, ids [B,3]" : "gather_sum/one_hot/scatter_add, ids [B]");
        es_arena_free(t.a);
    }
    /* a one-column table (a linear model's weights), one id per row: the
     * kernel gathers eight rows at a time */
    for (int rank = 1; rank <= 2; rank++) {
        tg t = tg_new();
        int W = in_f(&t, "w", sh(2, 10, 1, 0));
        int z = gr_const(t.g, sh(2, 2, 1, 0), (float[]){ -0.0f, 1.5f }, nospan());
        int ids = in_i(&t, "ids:11", rank == 1 ? sh(1, B_, 0, 0) : sh(2, B_, 1, 0));
        gr_binary(t.g, GR_GATHER_SUM, W, ids, nospan());
        gr_add_output(t.g, "zeros", gr_binary(t.g, GR_GATHER_SUM, z, in_i(&t, "ids2:1", sh(1, B_, 0, 0)), nospan()));
        check_graph(fx, t.g, rank == 1 ? "gather_sum one column, ids [B]" : "gather_sum one column, ids [B,1]");
        es_arena_free(t.a);
    }
}

static void test_rowwise(fixture *fx)
{
    tg t = tg_new();
    int l = in_f(&t, "big", sh(2, B_, 5, 0));
    gr_unary(t.g, GR_SOFTMAX, l, nospan());
    gr_unary(t.g, GR_LOG_SOFTMAX, l, nospan());
    int l3 = in_f(&t, "x3", sh(3, B_, 2, 4));
    gr_unary(t.g, GR_SOFTMAX, l3, nospan());
    gr_unary(t.g, GR_LOG_SOFTMAX, l3, nospan());
    gr_unary(t.g, GR_ARGMAX, l3, nospan());
    gr_unary(t.g, GR_ARGMAX, in_f(&t, "int_ties", sh(2, B_, 6, 0)), nospan());
    /* labels in [-1, 5] for 5 classes: -1 and 5 give loss 0 and a zero gradient */
    int y = in_i(&t, "labels:5", sh(1, B_, 0, 0));
    gr_binary(t.g, GR_SOFTMAX_XENT, l, y, nospan());
    int dl = in_f(&t, "dloss", sh(2, B_, 1, 0));
    gr_op_node(t.g, GR_SOFTMAX_XENT_GRAD, 3, (int[]){ l, y, dl }, NULL, NULL, nospan());
    int z = in_f(&t, "big_z", sh(2, B_, 1, 0)), lab = in_f(&t, "bin", sh(2, B_, 1, 0));
    gr_binary(t.g, GR_SIGMOID_XENT, z, lab, nospan());
    check_graph(fx, t.g, "softmax/log_softmax/argmax/xent");
    es_arena_free(t.a);
}

/* APPLY_* directly, dense and sparse, with hand-set hyper-parameters */
static void test_apply(fixture *fx)
{
    static const gr_op ops[] = { GR_APPLY_SGD, GR_APPLY_ADAGRAD, GR_APPLY_ADAM, GR_APPLY_FTRL, GR_APPLY_FTRL };
    /* sparse = 1: a table of 6 rows, which SGD and Adagrad update whole
     * (emit_whole_apply); 2: the same ids into a table of 5000 rows, which
     * the kernels dedupe with a hash table rather than sums indexed by the
     * id; 3: a table of one column, whose sums the kernels split in partial
     * sums; 4: 100 rows, sums by id and a list of the rows touched */
    static const char *const forms[] = { "dense", "sparse", "sparse 5000 rows", "sparse one column",
                                         "sparse 100 rows" };
    for (size_t i = 0; i < ES_ARRAY_LEN(ops); i++)
        for (int sparse = 0; sparse < 5; sparse++) {
            tg t = tg_new();
            int64_t K = sparse == 3 ? 1 : 3;
            gr_shape vs = sh(2, sparse == 2 ? 5000 : sparse == 4 ? 100 : 6, K, 0);
            int in[GR_MAXIN], nin = 0;
            in[nin++] = par(&t, "var", vs);
            double f[4] = { 0.1, 0, 0, 0 };
            if (ops[i] == GR_APPLY_ADAGRAD) {
                in[nin++] = par(&t, "pos_accum", vs);
                f[1] = 1e-7;
            } else if (ops[i] == GR_APPLY_ADAM) {
                in[nin++] = par(&t, "m", vs);
                in[nin++] = par(&t, "pos_v", vs);
                in[nin++] = par(&t, "step", sh(1, 1, 0, 0));
                f[0] = 0.01; f[1] = 0.9; f[2] = 0.999; f[3] = 1e-8;
            } else if (ops[i] == GR_APPLY_FTRL) {
                in[nin++] = par(&t, "pos_accum", vs);
                in[nin++] = par(&t, "linear", vs);
                f[0] = 0.2; f[1] = 0.05; f[2] = 0.01; f[3] = i == 3 ? -0.5 : -0.7;   /* sqrt and pow paths */
            }
            if (sparse) {
                /* ids in [-1, 6]: duplicates, invalid ids (6 and -1 for the small
                 * table) and untouched rows */
                in[nin++] = in_i(&t, "ids:6", sh(2, B_, 2, 0));
                in[nin++] = in_f(&t, "rows", sh(2, B_, K, 0));
            } else {
                in[nin++] = in_f(&t, "grad", vs);
            }
            int64_t a[4] = { sparse != 0, 0, 0, 0 };
            gr_op_node(t.g, ops[i], nin, in, a, f, nospan());
            char what[96];
            snprintf(what, sizeof what, "%s %s%s", gr_ops[ops[i]].name, forms[sparse],
                     ops[i] == GR_APPLY_FTRL ? (i == 3 ? " lr_power -0.5" : " lr_power -0.7") : "");
            check_graph(fx, t.g, what);
            es_arena_free(t.a);
        }
}

/* ---- accuracy of the inline exp and log1p ------------------------------------------------- *
 * sigmoid, softplus and sigmoid_xent compute exp and log1p inline (emit.c:
 * exp_f32, log1p_unit) rather than through libm. Measured in ulps against
 * the double-precision functions over the whole f32 range (sigmoid is 0
 * where exp(-x) overflows f32, as with libm's expf): every binade
 * from the smallest denormal up, a fine sweep of [-110, 110] where results
 * go from 1 to denormal to overflow, and the special values. */

#define ULP_BOUND 4

/* distance in representable floats (0 for two NaNs; -0 and +0 are 1 apart) */
static int64_t ulps(float a, float b)
{
    if (isnan(a) || isnan(b)) return isnan(a) && isnan(b) ? 0 : INT64_MAX;
    int32_t ia, ib;
    memcpy(&ia, &a, 4);
    memcpy(&ib, &b, 4);
    int64_t oa = ia < 0 ? (int64_t)INT32_MIN - ia : ia, ob = ib < 0 ? (int64_t)INT32_MIN - ib : ib;
    return oa > ob ? oa - ob : ob - oa;
}

static double softplus_d(double x) { return (x > 0 ? x : 0) + log1p(exp(-fabs(x))); }

static void test_exp_log1p_ulps(fixture *fx)
{
    enum { SPECIALS = 9, SWEEP = 220001 };
    static const float specials[SPECIALS] = { 0.0f, -0.0f, INFINITY, -INFINITY, NAN, 1e-45f, -1e-45f,
                                              3.4028235e38f, -3.4028235e38f };
    int64_t n = SPECIALS + SWEEP + 2 * 277 * 64;
    float *x = malloc((size_t)n * sizeof *x), *y = malloc((size_t)n * sizeof *y);
    int64_t k = 0;
    for (int i = 0; i < SPECIALS; i++) x[k++] = specials[i];
    for (int i = 0; i < SWEEP; i++) x[k++] = (float)(-110.0 + 0.001 * i);
    for (int ex = -149; ex <= 127; ex++)
        for (int m = 0; m < 64; m++) {
            float v = ldexpf(1.0f + (float)es_rng_uniform(&fx->rng), ex);
            x[k++] = v;
            x[k++] = -v;
        }
    for (int64_t i = 0; i < n; i++) y[i] = (float)(i & 1);

    tg t = tg_new();
    int xi = in_f(&t, "x", sh(1, B_, 0, 0)), yi = in_f(&t, "y", sh(1, B_, 0, 0));
    int outs[3] = { gr_unary(t.g, GR_SIGMOID, xi, nospan()), gr_unary(t.g, GR_SOFTPLUS, xi, nospan()),
                    gr_binary(t.g, GR_SIGMOID_XENT, xi, yi, nospan()) };
    static const char *names[3] = { "sigmoid", "softplus", "sigmoid_xent" };
    for (int o = 0; o < 3; o++) gr_add_output(t.g, names[o], outs[o]);
    cg_entry_fn fn = NULL;
    cg_jit *j = bind_and_verify(t.g, "exp/log1p") == 0 ? compile(t.g, &fn, "exp/log1p") : NULL;
    if (fn) {
        void **bufs = calloc((size_t)t.g->nbufs, sizeof *bufs);
        bufs[t.g->nodes[xi].buf] = x;
        bufs[t.g->nodes[yi].buf] = y;
        for (int o = 0; o < 3; o++) bufs[t.g->nodes[outs[o]].buf] = malloc((size_t)n * sizeof(float));
        fn(bufs, n);
        for (int o = 0; o < 3; o++) {
            const float *got = bufs[t.g->nodes[outs[o]].buf];
            int64_t worst = 0, at = 0;
            for (int64_t i = 0; i < n; i++) {
                double xd = x[i], want;
                if (o == 0) want = exp(-xd) > FLT_MAX ? 0 : 1 / (1 + exp(-xd));   /* f32 exp(-x) is inf */
                else if (o == 1) want = softplus_d(xd);
                else want = (xd > 0 ? xd : 0) - xd * y[i] + log1p(exp(-fabs(xd)));
                int64_t u = ulps(got[i], (float)want);
                if (u > worst) { worst = u; at = i; }
            }
            CHECK(worst <= ULP_BOUND, "%s: %lld ulps from the double result at x = %.9g (got %.9g)", names[o],
                  (long long)worst, (double)x[at], (double)got[at]);
            free(bufs[t.g->nodes[outs[o]].buf]);
        }
        free(bufs);
    }
    cg_jit_free(j);
    es_arena_free(t.a);
    free(x);
    free(y);
}

/* ---- the model-function ops ------------------------------------------------------------ */

static int opn(tg *t, gr_op op, int nin, const int *in, int64_t a0, int64_t a1, int64_t a2, double f0)
{
    int64_t a[4] = { a0, a1, a2, 0 };
    double f[4] = { f0, 0, 0, 0 };
    return gr_op_node(t->g, op, nin, in, a, f, nospan());
}

static void test_activations(fixture *fx)
{
    tg t = tg_new();
    int big = in_f(&t, "big", sh(2, B_, 5, 0)), x = in_f(&t, "x", sh(1, 4, 0, 0));
    /* around 0 (elu's exp(x) - 1 must not cancel), saturated, overflowing, signed zeros */
    int c = gr_const(t.g, sh(1, 10, 0, 0), (float[]){ 1e-7f, -1e-7f, -1e-3f, 0.0f, -0.0f, -30, -100, 80, -0.5f, 3 },
                     nospan());
    static const double alphas[] = { 0.2, 0.01, 1.0, 1.7 };
    for (int k = 0; k < 4; k++) {
        int in3[3] = { big, x, c };
        for (int j = 0; j < 3; j++) {
            opn(&t, GR_LEAKY_RELU, 1, &in3[j], 0, 0, 0, alphas[k]);
            opn(&t, GR_ELU, 1, &in3[j], 0, 0, 0, alphas[k]);
        }
    }
    check_graph(fx, t.g, "leaky_relu/elu");
    es_arena_free(t.a);
}

static void test_compare_select(fixture *fx)
{
    tg t = tg_new();
    /* small integers make ties common; a NaN constant checks the unordered cases */
    int a = in_f(&t, "int_a", sh(2, B_, 3, 0)), b = in_f(&t, "int_b", sh(1, 3, 0, 0));
    int col = in_f(&t, "int_c", sh(2, B_, 1, 0));
    int nan = gr_const(t.g, sh(1, 3, 0, 0), (float[]){ NAN, 1, 2 }, nospan());
    for (gr_op op = GR_LESS; op <= GR_NOT_EQUAL; op++) {
        gr_binary(t.g, op, a, b, nospan());
        gr_binary(t.g, op, col, b, nospan());     /* [B,1] against [3] */
        gr_binary(t.g, op, a, nan, nospan());
        gr_binary(t.g, op, nan, nan, nospan());
    }
    int cond = in_f(&t, "bin", sh(2, B_, 1, 0));
    int x = in_f(&t, "x", sh(2, B_, 4, 0)), y = in_f(&t, "y", sh(1, 4, 0, 0));
    opn(&t, GR_SELECT, 3, (int[]){ cond, x, y }, 0, 0, 0, 0);
    opn(&t, GR_SELECT, 3, (int[]){ cond, gr_scalar(t.g, -3, nospan()), x }, 0, 0, 0, 0);
    opn(&t, GR_SELECT, 3, (int[]){ gr_binary(t.g, GR_GREATER, x, y, nospan()), x, y }, 0, 0, 0, 0);
    int cn = gr_const(t.g, sh(1, 4, 0, 0), (float[]){ NAN, 0, -0.0f, 2 }, nospan());
    opn(&t, GR_SELECT, 3, (int[]){ cn, x, y }, 0, 0, 0, 0);                    /* NaN counts as true */
    gr_shape s4 = sh(3, B_, 2, 1);
    s4.rank = 4;
    s4.d[3] = 3;
    int w4 = in_f(&t, "w4", s4);
    opn(&t, GR_SELECT, 3, (int[]){ gr_const(t.g, sh(2, 2, 1, 0), (float[]){ 1, 0 }, nospan()), w4,
                                   in_f(&t, "z", sh(3, 2, 1, 3)) }, 0, 0, 0, 0);      /* rank 4 */
    check_graph(fx, t.g, "comparisons/select");
    es_arena_free(t.a);
}

static void test_movers(fixture *fx)
{
    tg t = tg_new();
    int p = in_f(&t, "p", sh(2, B_, 2, 0)), q = in_f(&t, "q", sh(2, B_, 3, 0)), r = in_f(&t, "r", sh(2, B_, 1, 0));
    int cc = opn(&t, GR_CONCAT, 3, (int[]){ p, q, r }, 1, 0, 0, 0);              /* [B,6] */
    opn(&t, GR_CONCAT, 8, (int[]){ r, p, r, q, r, r, p, r }, 1, 0, 0, 0);       /* GR_MAXIN inputs */
    int w = par(&t, "w", sh(2, 2, 3, 0)), v = par(&t, "v", sh(2, 1, 3, 0));
    opn(&t, GR_CONCAT, 2, (int[]){ w, v }, 0, 0, 0, 0);                           /* axis 0, no batch */
    int tb = in_f(&t, "tb", sh(2, 2, B_, 0)), tc = in_f(&t, "tc", sh(2, 3, B_, 0));
    int c0 = opn(&t, GR_CONCAT, 2, (int[]){ tb, tc }, 0, 0, 0, 0);               /* [5,B]: blocks of B */
    int r3a = in_f(&t, "r3a", sh(3, B_, 2, 3)), r3b = in_f(&t, "r3b", sh(3, B_, 1, 3)), r3c = in_f(&t, "r3c", sh(3, B_, 2, 1));
    int m3 = opn(&t, GR_CONCAT, 2, (int[]){ r3a, r3b }, 1, 0, 0, 0);           /* [B,3,3], middle axis */
    opn(&t, GR_CONCAT, 2, (int[]){ r3a, r3c }, 2, 0, 0, 0);                     /* [B,2,4] */
    int ia = in_i(&t, "ids:9", sh(2, B_, 2, 0)), ib = in_i(&t, "idb:9", sh(2, B_, 1, 0));
    int ic = opn(&t, GR_CONCAT, 2, (int[]){ ia, ib }, 1, 0, 0, 0);              /* i32 */

    opn(&t, GR_SLICE, 1, &cc, 1, 2, 3, 0);
    opn(&t, GR_SLICE, 1, &cc, 1, 5, 1, 0);
    opn(&t, GR_SLICE, 1, &c0, 0, 1, 3, 0);
    opn(&t, GR_SLICE, 1, &m3, 1, 1, 2, 0);
    opn(&t, GR_SLICE, 1, &m3, 2, 0, 1, 0);
    opn(&t, GR_SLICE, 1, &ic, 1, 1, 2, 0);
    opn(&t, GR_PAD_SLICE, 2, (int[]){ q, cc }, 1, 2, 3, 0);
    opn(&t, GR_PAD_SLICE, 2, (int[]){ tc, c0 }, 0, 1, 3, 0);
    opn(&t, GR_PAD_SLICE, 2, (int[]){ r3b, m3 }, 1, 2, 1, 0);

    gr_unary(t.g, GR_TRANSPOSE, cc, nospan());
    gr_unary(t.g, GR_TRANSPOSE, c0, nospan());
    gr_unary(t.g, GR_TRANSPOSE, ic, nospan());
    gr_unary(t.g, GR_TRANSPOSE, w, nospan());
    check_graph(fx, t.g, "concat/slice/pad_slice/transpose");
    es_arena_free(t.a);
}

static void test_axis_reductions(fixture *fx)
{
    tg t = tg_new();
    int x = in_f(&t, "x", sh(3, B_, 3, 4));
    int ties = in_f(&t, "int_t", sh(3, B_, 3, 4));
    int w = in_f(&t, "w", sh(2, 5, B_, 0));
    for (int ax = 0; ax < 3; ax++) {
        opn(&t, GR_MEAN_AXIS, 1, &x, ax, 0, 0, 0);
        int m = opn(&t, GR_MAX_AXIS, 1, &ties, ax, 0, 0, 0);
        opn(&t, GR_MAX_AXIS, 1, &x, ax, 0, 0, 0);
        /* the gradient picks the first of tied maxima, in both */
        gr_shape gs = t.g->nodes[m].shape;
        opn(&t, GR_MAX_AXIS_GRAD, 2, (int[]){ ties, in_f(&t, ax == 0 ? "g0" : ax == 1 ? "g1" : "g2", gs) }, ax, 0, 0, 0);
    }
    for (int ax = 0; ax < 2; ax++) {
        opn(&t, GR_MEAN_AXIS, 1, &w, ax, 0, 0, 0);
        int m = opn(&t, GR_MAX_AXIS, 1, &w, ax, 0, 0, 0);
        opn(&t, GR_MAX_AXIS_GRAD, 2, (int[]){ w, m }, ax, 0, 0, 0);
    }
    /* NaNs never win; -inf everywhere keeps position 0 */
    int c = gr_const(t.g, sh(2, 2, 3, 0), (float[]){ NAN, 1, NAN, -INFINITY, -INFINITY, -INFINITY }, nospan());
    opn(&t, GR_MAX_AXIS, 1, &c, 1, 0, 0, 0);
    opn(&t, GR_MAX_AXIS_GRAD, 2, (int[]){ c, in_f(&t, "gc", sh(1, 2, 0, 0)) }, 1, 0, 0, 0);
    check_graph(fx, t.g, "mean_axis/max_axis/max_axis_grad");
    es_arena_free(t.a);
}

/* ids with M > 1 and much -1 padding ("pad:2" draws from [-1, 2] for a
 * 3-row table: padding, duplicates, and an out-of-range 3 never occurs, but
 * "big:4" below adds 4 and 5 past the end) through every op that reads ids */
static void test_ids(fixture *fx)
{
    for (int multi = 0; multi < 2; multi++) {
        tg t = tg_new();
        gr_shape is = multi ? sh(2, B_, 5, 0) : sh(1, B_, 0, 0);
        int ids = in_i(&t, "pad:2", is), idx = in_i(&t, "wide:4", is);
        int W = in_f(&t, "w", sh(2, 3, 4, 0));
        int wts = in_f(&t, "wts", is), rows = in_f(&t, "rows", sh(2, B_, 4, 0));
        int in2[2] = { ids, idx };
        for (int j = 0; j < 2; j++) {
            gr_binary(t.g, GR_GATHER_SUM, W, in2[j], nospan());
            opn(&t, GR_ONE_HOT, 1, &in2[j], 3, 0, 0, 0);
            opn(&t, GR_SHIFT_IDS, 1, &in2[j], 3, 7, 0, 0);
            gr_op_node(t.g, GR_SCATTER_ADD, 3, (int[]){ in2[j], rows, W }, NULL, NULL, nospan());
            opn(&t, GR_COUNT_IDS, 1, &in2[j], 3, 0, 0, 0);
            opn(&t, GR_GATHER_WSUM, 3, (int[]){ W, in2[j], wts }, 0, 0, 0, 0);
            opn(&t, GR_SCATTER_WADD, 4, (int[]){ in2[j], wts, rows, W }, 0, 0, 0, 0);
            opn(&t, GR_GATHER_DOT, 3, (int[]){ W, in2[j], rows }, 0, 0, 0, 0);
        }
        /* sparse updates with the same ids: lazy rows, duplicates summed */
        int var = par(&t, "var", sh(2, 3, 4, 0)), acc = par(&t, "pos_acc", sh(2, 3, 4, 0));
        gr_op_node(t.g, GR_APPLY_ADAGRAD, 4, (int[]){ var, acc, ids, rows }, (int64_t[]){ 1, 0, 0, 0 },
                   (double[]){ 0.1, 1e-7, 0, 0 }, nospan());
        int var2 = par(&t, "var2", sh(2, 3, 4, 0));
        gr_op_node(t.g, GR_APPLY_SGD, 3, (int[]){ var2, idx, rows }, (int64_t[]){ 1, 0, 0, 0 },
                   (double[]){ 0.5, 0, 0, 0 }, nospan());
        check_graph(fx, t.g, multi ? "ids [B,5] with -1 padding" : "ids [B] with -1");
        es_arena_free(t.a);
    }
}

static void test_assign_ema(fixture *fx)
{
    tg t = tg_new();
    int mean = par(&t, "moving_mean", sh(1, 4, 0, 0)), var = par(&t, "moving_var", sh(2, 2, 3, 0));
    int x = in_f(&t, "x", sh(2, B_, 4, 0));
    opn(&t, GR_ASSIGN_EMA, 2, (int[]){ mean, opn(&t, GR_MEAN_AXIS, 1, &x, 0, 0, 0, 0) }, 0, 0, 0, 0.99);
    opn(&t, GR_ASSIGN_EMA, 2, (int[]){ var, in_f(&t, "pos", sh(2, 2, 3, 0)) }, 0, 0, 0, 0.9);
    /* a read after the update sees the new value in both */
    gr_unary(t.g, GR_NEG, var, nospan());
    check_graph(fx, t.g, "assign_ema");
    es_arena_free(t.a);
}

/* Dropout: the tolerance comparison of check_graph, then the masks bit for
 * bit (a kept element is x * scale in both, a dropped one 0) over several
 * steps, both batch sizes, rates from 0 to nearly 1 and seeds of all 64 bits. */
static void test_dropout(fixture *fx)
{
    tg t = tg_new();
    int x = in_f(&t, "x", sh(2, B_, 33, 0)), xt = in_f(&t, "xt", sh(2, 3, B_, 0));
    int step = in_i(&t, "global_step:100000", sh(1, 1, 0, 0));
    static const struct { int64_t seed; double rate; } d[] = {
        { 1, 0.5 }, { -7, 0.1 }, { 3, 0.0 }, { (int64_t)0xDEADBEEFCAFEF00Dull, 0.999 }, { INT64_MAX, 1.0 / 3.0 },
    };
    int drop[6];
    for (int k = 0; k < 5; k++) drop[k] = opn(&t, GR_DROPOUT, 2, (int[]){ x, step }, d[k].seed, 0, 0, d[k].rate);
    drop[5] = opn(&t, GR_DROPOUT, 2, (int[]){ xt, step }, 5, 0, 0, 0.5);
    check_graph(fx, t.g, "dropout");
    if (t.g->nerrors || bind_and_verify(t.g, "dropout bits") != 0) { es_arena_free(t.a); return; }
    cg_entry_fn fn;
    cg_jit *j = compile(t.g, &fn, "dropout bits");
    int64_t Bs[2] = { 7, 1 };
    int differ = 0, kept = 0, total = 0;
    for (int bi = 0; fn && bi < 2; bi++) {
        twin tw;
        twin_init(&tw, fx, t.g, Bs[bi], 0, fn);
        for (int s = 0; s < 4; s++) {
            twin_feed(&tw, fx);
            twin_run(&tw, "dropout bits");
            for (int k = 0; k < 6; k++) {
                int b = t.g->nodes[drop[k]].buf;
                size_t bytes = gr_buf_bytes(t.g, drop[k], Bs[bi]);
                differ += memcmp(tw.ref[b], tw.jit[b], bytes) != 0;
                if (k == 0)
                    for (size_t e = 0; e < bytes / 4; e++, total++) kept += ((float *)tw.jit[b])[e] != 0;
            }
        }
        twin_free(&tw);
    }
    CHECK(differ == 0, "dropout masks and values are bit-identical in %d of 48 buffers", 48 - differ);
    CHECK(kept > total / 4 && kept < 3 * total / 4, "rate 0.5 keeps about half (%d of %d)", kept, total);
    cg_jit_free(j);
    es_arena_free(t.a);
}

/* ---- whole training programs --------------------------------------------------------- */

/* x [B,4] -> relu dense 5 -> 3 logits (+ an embedding of 2 ids per example,
 * trained sparsely) -> softmax xent; a sigmoid head beside it; an L2 term. */
static gr_graph *train_graph(es_arena *a, const gr_optimizer *opt)
{
    gr_graph *g = gr_new(a, NULL);
    es_span sp = nospan();
    int x = gr_input(g, "x", GR_F32, gr_shape2(GR_BATCH, 4), sp);
    int cat = gr_input(g, "cat:12", GR_I32, gr_shape2(GR_BATCH, 2), sp);
    int y = gr_input(g, "y:3", GR_I32, gr_shape1(GR_BATCH), sp);
    int yb = gr_input(g, "bin", GR_F32, gr_shape2(GR_BATCH, 1), sp);
    int W1 = gr_param(g, "w1", gr_shape2(4, 5), GR_INIT_GLOROT_UNIFORM, 0, 0, 1, sp);
    int b1 = gr_param(g, "b1", gr_shape1(5), GR_INIT_CONST, 0.1, 0, 1, sp);
    int W2 = gr_param(g, "w2", gr_shape2(5, 3), GR_INIT_GLOROT_UNIFORM, 0, 0, 1, sp);
    int b2 = gr_param(g, "b2", gr_shape1(3), GR_INIT_ZEROS, 0, 0, 1, sp);
    int E = gr_param(g, "emb", gr_shape2(12, 3), GR_INIT_NORMAL, 0, 0.5, 1, sp);
    int w3 = gr_param(g, "w3", gr_shape2(5, 1), GR_INIT_UNIFORM, -0.5, 0.5, 1, sp);
    int h = gr_unary(g, GR_RELU, gr_binary(g, GR_ADD, gr_matmul(g, x, W1, 0, 0, sp), b1, sp), sp);
    int logits = gr_binary(g, GR_ADD, gr_binary(g, GR_ADD, gr_matmul(g, h, W2, 0, 0, sp), b2, sp),
                           gr_binary(g, GR_GATHER_SUM, E, cat, sp), sp);
    int l1 = gr_unary(g, GR_MEAN, gr_binary(g, GR_SOFTMAX_XENT, logits, y, sp), sp);
    int l2 = gr_unary(g, GR_MEAN, gr_binary(g, GR_SIGMOID_XENT, gr_matmul(g, h, w3, 0, 0, sp), yb, sp), sp);
    int reg = gr_binary(g, GR_MUL, gr_scalar(g, 0.01, sp), gr_unary(g, GR_SUM, gr_unary(g, GR_SQUARE, W1, sp), sp), sp);
    int loss = gr_binary(g, GR_ADD, gr_binary(g, GR_ADD, l1, l2, sp), reg, sp);
    gr_add_output(g, "loss", loss);
    gr_add_output(g, "class_ids", gr_unary(g, GR_ARGMAX, logits, sp));
    gr_grad *grads;
    int ngrads;
    if (gr_autodiff(g, loss, &grads, &ngrads) != 0) return NULL;
    if (gr_apply_optimizer(g, grads, ngrads, opt, sp) != 0) return NULL;
    return g->nerrors ? NULL : g;
}

static void test_train(fixture *fx)
{
    static const gr_opt_kind kinds[] = { GR_OPT_SGD, GR_OPT_ADAGRAD, GR_OPT_ADAM, GR_OPT_FTRL };
    static const char *names[] = { "sgd", "adagrad", "adam", "ftrl" };
    for (size_t k = 0; k < ES_ARRAY_LEN(kinds); k++) {
        es_arena *a = es_arena_new();
        gr_optimizer opt;
        gr_optimizer_defaults(&opt, kinds[k]);
        opt.lr = kinds[k] == GR_OPT_ADAM ? 0.01 : 0.1;
        /* Adam divides m by sqrt(v) + eps: a gradient that cancels to rounding
         * noise (f32 sgemm here, double sums in the reference) would move its
         * weight by an arbitrary fraction of lr with eps = 1e-8. A larger eps
         * keeps the comparison well-conditioned; the APPLY_ADAM op test covers
         * eps = 1e-8 with gradients of ordinary size. */
        if (kinds[k] == GR_OPT_ADAM) opt.eps = 1e-3;
        if (kinds[k] == GR_OPT_FTRL) { opt.l1 = 0.001; opt.l2 = 0.001; }
        gr_graph *g = train_graph(a, &opt);
        CHECK(g != NULL, "train %s: building the program failed", names[k]);
        if (!g) { es_arena_free(a); continue; }
        int sparse = 0;
        for (int i = 0; i < g->n; i++) {
            fx->covered[g->nodes[i].op] = 1;
            if ((gr_ops[g->nodes[i].op].flags & GR_F_SIDE) && g->nodes[i].a[0]) sparse++;
        }
        CHECK(sparse == 1, "train %s: expected one sparse update (the embedding), got %d", names[k], sparse);
        char what[64];
        snprintf(what, sizeof what, "train %s", names[k]);
        cg_entry_fn fn = NULL;
        cg_jit *j = bind_and_verify(g, what) == 0 ? compile(g, &fn, what) : NULL;
        int64_t Bs[2] = { 7, 1 };
        for (int bi = 0; fn && bi < 2; bi++) {
            twin t;
            twin_init(&t, fx, g, Bs[bi], 1, fn);
            int w1 = gr_find_named(g, GR_PARAM, "w1");
            float w1_0 = ((float *)t.jit[g->nodes[w1].buf])[0];
            int bad = 0;
            for (int step = 0; step < 6 && !bad; step++) {
                twin_feed(&t, fx);
                bad = twin_run(&t, what);
            }
            CHECK(bad == 0, "%s, B=%lld: kernels and reference diverged", what, (long long)Bs[bi]);
            CHECK(((float *)t.jit[g->nodes[w1].buf])[0] != w1_0, "%s: the JIT's step did not change w1", what);
            twin_free(&t);
        }
        cg_jit_free(j);
        es_arena_free(a);
    }
}

/* ---- fusion -------------------------------------------------------------------------- *
 * Graphs go through gr_fuse: the fused kernels must match the reference, and
 * give the same bits as the unfused graph's kernels on the same data (every
 * output and every variable), since a fused step is its op's scalar rule. */

/* every kind of step: unary ops with and without an alpha, cast from ids, a
 * bias and a scalar broadcast, comparisons, select, rank 3, an output in the
 * middle of a chain (which splits it), an expression of ten inputs (more
 * than a fused node takes) */
static gr_graph *elementwise_graph(es_arena *a)
{
    tg t = { a, gr_new(a, NULL) };
    es_span s = nospan();
    int x = in_f(&t, "x", sh(2, B_, 4, 0)), bias = in_f(&t, "bias", sh(1, 4, 0, 0));
    int col = in_f(&t, "int_c", sh(2, B_, 1, 0)), ids = in_i(&t, "ids:5", sh(2, B_, 4, 0));
    int h = gr_binary(t.g, GR_ADD, gr_binary(t.g, GR_MUL, x, gr_scalar(t.g, 0.5, s), s), bias, s);
    h = gr_binary(t.g, GR_SUB, gr_unary(t.g, GR_TANH, h, s), gr_unary(t.g, GR_SIGMOID, x, s), s);
    gr_add_output(t.g, "mid", h);
    int l = opn(&t, GR_ELU, 1, (int[]){ opn(&t, GR_LEAKY_RELU, 1, &h, 0, 0, 0, 0.2) }, 0, 0, 0, 1.0);
    int sel = opn(&t, GR_SELECT, 3, (int[]){ gr_binary(t.g, GR_GREATER, l, col, s), l, bias }, 0, 0, 0, 0);
    int q = gr_binary(t.g, GR_DIV, sel, gr_binary(t.g, GR_ADD, gr_unary(t.g, GR_CAST_F32, ids, s),
                                                  gr_scalar(t.g, 2, s), s), s);
    q = gr_binary(t.g, GR_MAXIMUM, q, gr_binary(t.g, GR_MINIMUM, x, bias, s), s);
    q = gr_unary(t.g, GR_SOFTPLUS, gr_unary(t.g, GR_NEG, q, s), s);
    q = gr_binary(t.g, GR_MUL, gr_unary(t.g, GR_SQRT, gr_unary(t.g, GR_ABS, q, s), s),
                  gr_unary(t.g, GR_SIGN, gr_binary(t.g, GR_SUB, x, gr_unary(t.g, GR_STEP, x, s), s), s), s);
    q = gr_binary(t.g, GR_ADD, gr_unary(t.g, GR_LOG, gr_unary(t.g, GR_EXP, q, s), s),
                  gr_unary(t.g, GR_SQUARE, gr_unary(t.g, GR_RELU, q, s), s), s);
    gr_add_output(t.g, "out", q);
    gr_shape s3 = sh(3, B_, 2, 3);
    int w = in_f(&t, "w3", s3), v = in_f(&t, "v3", sh(2, 2, 1, 0));
    gr_add_output(t.g, "rank3", gr_unary(t.g, GR_EXP, gr_binary(t.g, GR_MUL, w, v, s), s));
    int sum = gr_unary(t.g, GR_NEG, x, s);
    for (int i = 0; i < 9; i++) {
        char name[8];
        snprintf(name, sizeof name, "x%d", i);
        sum = gr_binary(t.g, GR_ADD, sum, in_f(&t, name, sh(2, B_, 4, 0)), s);
    }
    gr_add_output(t.g, "sum", sum);
    return t.g;
}

/* matmul epilogues: large products (cblas_sgemm, and the loops for a batch
 * of few rows) and small ones (loops), transposed factors, a bias and relu,
 * sigmoid alone, tanh's gradient pattern, a product read twice (no head) */
static gr_graph *epilogue_graph(es_arena *a)
{
    tg t = { a, gr_new(a, NULL) };
    es_span s = nospan();
    int x = in_f(&t, "pos_x", sh(2, B_, 40, 0)), w = par(&t, "pos_w", sh(2, 40, 24, 0)), b = par(&t, "pos_b", sh(1, 24, 0, 0));
    int h = gr_unary(t.g, GR_RELU, gr_binary(t.g, GR_ADD, gr_matmul(t.g, x, w, 0, 0, s), b, s), s);
    int w2 = par(&t, "pos_w2", sh(2, 3, 24, 0));
    int z = gr_unary(t.g, GR_SIGMOID, gr_matmul(t.g, h, w2, 0, 1, s), s);          /* [B,3], small */
    int g = in_f(&t, "pos_g", sh(2, B_, 3, 0)), th = gr_unary(t.g, GR_TANH, h, s);
    int dh = gr_matmul(t.g, g, w2, 0, 0, s);                                      /* [B,24] */
    int one = gr_scalar(t.g, 1, s);
    int dz = gr_binary(t.g, GR_MUL, dh, gr_binary(t.g, GR_SUB, one, gr_unary(t.g, GR_SQUARE, th, s), s), s);
    int v = in_f(&t, "pos_v", sh(2, 40, B_, 0));
    int p2 = gr_matmul(t.g, v, w, 1, 0, s);                                       /* read twice */
    gr_add_output(t.g, "z", z);
    gr_add_output(t.g, "dz", dz);
    gr_add_output(t.g, "p2", gr_binary(t.g, GR_MUL, p2, p2, s));
    gr_add_output(t.g, "again", gr_unary(t.g, GR_SQRT, p2, s));
    return t.g;
}

static int count_fused(const gr_graph *g)
{
    int k = 0;
    for (int i = 0; i < g->n; i++) k += g->nodes[i].op == GR_FUSED;
    return k;
}

/* one twin per graph, the same leaves and inputs in both (the fixture's
 * generator is replayed); each twin's kernels against its reference, then
 * the two kernels' outputs and variables bit for bit. A train program's
 * fused graph runs with buffers shared by liveness (gr_bind_shared). */
static void check_fusion(fixture *fx, gr_graph *plain, gr_graph *fused, int64_t B, int steps, int init,
                         const char *what)
{
    if (bind_and_verify(plain, what) || bind_and_verify(fused, what)) return;
    if (init) {   /* train programs: the fused one also with buffers shared by liveness */
        es_status st = {0};
        size_t own = gr_scratch_bytes(fused, 7);
        gr_bind_shared(fused);
        CHECK(gr_verify(fused, &st) == 0, "%s: the shared binding does not verify: %s", what, st.msg);
        CHECK(gr_scratch_bytes(fused, 7) < own, "%s: sharing buffers saves nothing (%zu bytes)", what, own);
    }
    for (int i = 0; i < fused->n; i++) fx->covered[fused->nodes[i].op] = 1;
    cg_entry_fn fp = NULL, ff = NULL;
    cg_jit *jp = compile(plain, &fp, what), *jf = compile(fused, &ff, what);
    if (fp && ff) {
        twin tp, tf;
        es_rng r0 = fx->rng;
        twin_init(&tp, fx, plain, B, init, fp);
        fx->rng = r0;
        twin_init(&tf, fx, fused, B, init, ff);
        int bad = 0;
        for (int step = 0; step < steps && !bad; step++) {
            r0 = fx->rng;
            twin_feed(&tp, fx);
            fx->rng = r0;
            twin_feed(&tf, fx);
            bad = twin_run(&tp, what) + twin_run(&tf, what);
        }
        CHECK(bad == 0, "%s, B=%lld: kernels and reference differ", what, (long long)B);
        for (int i = 0; i < plain->n; i++) {
            const gr_node *n = &plain->nodes[i];
            int o = -1, other = -1;
            for (int k = 0; k < plain->noutputs; k++) if (plain->outputs[k].node == i) o = k;
            if (o >= 0) other = gr_find_output(fused, plain->outputs[o].name);
            else if (n->op == GR_PARAM) other = gr_find_named(fused, GR_PARAM, n->name);
            else continue;
            CHECK(other >= 0 && memcmp(tp.jit[n->buf], tf.jit[fused->nodes[other].buf], gr_buf_bytes(plain, i, B)) == 0,
                  "%s, B=%lld: %s %s differs with fusion", what, (long long)B, o >= 0 ? "output" : "variable",
                  o >= 0 ? plain->outputs[o].name : n->name);
        }
        twin_free(&tp);
        twin_free(&tf);
    }
    cg_jit_free(jp);
    cg_jit_free(jf);
}

static void test_fusion(fixture *fx)
{
    int64_t Bs[3] = { 7, 1, 0 };
    for (int b = 0; b < 3; b++) {
        es_arena *a = es_arena_new();
        gr_graph *plain = gr_dce(elementwise_graph(a)), *fused = gr_fuse(elementwise_graph(a));
        CHECK(count_fused(fused) >= 5 && fused->n < plain->n, "elementwise graph: %d fused nodes, %d -> %d nodes",
              count_fused(fused), plain->n, fused->n);
        check_fusion(fx, plain, fused, Bs[b], 1, 0, "fused elementwise");
        es_arena_free(a);
    }
    for (int b = 0; b < 3; b++) {
        es_arena *a = es_arena_new();
        gr_graph *plain = gr_dce(epilogue_graph(a)), *fused = gr_epilogue(gr_fuse(epilogue_graph(a)));
        int heads = 0;
        for (int i = 0; i < fused->n; i++) heads += gr_fused_head(&fused->nodes[i]);
        CHECK(heads == 3, "epilogue graph: %d matmul heads, expected 3", heads);
        check_fusion(fx, plain, fused, Bs[b] ? Bs[b] * 3 : 0, 1, 0, "matmul epilogues");
        es_arena_free(a);
    }
    static const gr_opt_kind kinds[] = { GR_OPT_SGD, GR_OPT_ADAM };
    for (size_t k = 0; k < ES_ARRAY_LEN(kinds); k++) {
        es_arena *a = es_arena_new();
        gr_optimizer opt;
        gr_optimizer_defaults(&opt, kinds[k]);
        opt.lr = 0.05;
        gr_graph *p = train_graph(a, &opt), *f = train_graph(a, &opt);
        CHECK(p && f, "fusion: the train program builds");
        if (p && f) {
            p = gr_dce(p);
            f = gr_epilogue(gr_fuse(f));
            CHECK(count_fused(f) >= 3, "fused train step: %d fused nodes", count_fused(f));
            check_fusion(fx, p, f, 7, 5, 1, kinds[k] == GR_OPT_SGD ? "fused train sgd" : "fused train adam");
        }
        es_arena_free(a);
    }
}

/* ---- sessions and errors ------------------------------------------------------------ */

static gr_graph *small_graph(es_arena *a, gr_op op)
{
    gr_graph *g = gr_new(a, NULL);
    int x = gr_input(g, "x", GR_F32, gr_shape2(GR_BATCH, 3), nospan());
    int y = gr_input(g, "y", GR_F32, gr_shape1(3), nospan());
    gr_add_output(g, "out", gr_binary(g, op, x, y, nospan()));
    gr_bind(g);
    return g;
}

static void run_small(cg_entry_fn fn, float *out, float xv, float yv)
{
    float x[6], y[3];
    for (int i = 0; i < 6; i++) x[i] = xv + (float)i;
    for (int i = 0; i < 3; i++) y[i] = yv;
    void *bufs[3] = { x, y, out };
    fn(bufs, 2);
}

static void test_sessions(fixture *fx)
{
    ES_UNUSED(fx);
    es_arena *a = es_arena_new();
    gr_graph *ga = small_graph(a, GR_ADD), *gm = small_graph(a, GR_MUL);
    es_status st;
    es_status_clear(&st);
    const char *na = "step", *nm = "step";   /* the same symbol name in two sessions */
    cg_jit *ja = cg_jit_new(&ga, &na, 1, &st);
    CHECK(ja != NULL, "first session: %s", st.msg);
    cg_jit *jm = cg_jit_new(&gm, &nm, 1, &st);
    CHECK(jm != NULL, "second session with the same entry name: %s", st.msg);
    if (ja && jm) {
        cg_entry_fn fa = cg_jit_lookup(ja, "step"), fm = cg_jit_lookup(jm, "step");
        CHECK(fa && fm && fa != fm, "two sessions give two distinct entries");
        float oa[6], om[6];
        run_small(fa, oa, 1, 10);
        run_small(fm, om, 1, 10);
        CHECK(oa[4] == 15.0f && om[4] == 50.0f, "sessions keep their own code: add gives %g (want 15), mul %g (want 50)",
              oa[4], om[4]);
        cg_jit_free(ja);
        ja = NULL;
        run_small(fm, om, 2, 3);
        CHECK(om[5] == 21.0f, "the second session works after the first is freed: %g (want 21)", om[5]);
        CHECK(cg_jit_lookup(jm, "no_such_entry") == NULL, "looking up a missing entry gives NULL");
    }
    cg_jit_free(ja);
    cg_jit_free(jm);

    /* two programs in one session */
    gr_graph *both[2] = { ga, gm };
    const char *names[2] = { "train_step", "eval_step" };
    cg_jit *j2 = cg_jit_new(both, names, 2, &st);
    CHECK(j2 != NULL, "two programs in one session: %s", st.msg);
    if (j2) {
        float o1[6], o2[6];
        run_small(cg_jit_lookup(j2, "train_step"), o1, 0, 2);
        run_small(cg_jit_lookup(j2, "eval_step"), o2, 0, 2);
        CHECK(o1[3] == 5.0f && o2[3] == 6.0f, "both programs of a session run: %g %g (want 5 6)", o1[3], o2[3]);
    }
    cg_jit_free(j2);

    /* IR text, unoptimised and optimised */
    char *txt = cg_module_text(ga, "add_kernel", 0, &st);
    CHECK(txt && strstr(txt, "define void @add_kernel(ptr") && strstr(txt, "noalias"),
          "unoptimised IR names the entry and marks node pointers noalias");
    free(txt);
    txt = cg_module_text(ga, "add_kernel", 1, &st);
    CHECK(txt && strstr(txt, "x float>"), "the optimised elementwise loop is vectorised");
    free(txt);
    es_arena_free(a);

    /* [B,16] x [16,16] calls cblas_sgemm; [B,16] x [16,1], a linear model's
     * product, and its gradient [1,B] x [B,1] are loops */
    es_arena *b = es_arena_new();
    for (int n = 16; n >= 1; n -= 15) {
        gr_graph *gmm = gr_new(b, NULL);
        int x = gr_input(gmm, "x", GR_F32, gr_shape2(GR_BATCH, 16), nospan());
        int w = gr_param(gmm, "w", gr_shape2(16, n), GR_INIT_ZEROS, 0, 0, 1, nospan());
        int y = gr_matmul(gmm, x, w, 0, 0, nospan());
        if (n == 1) gr_matmul(gmm, y, y, 1, 0, nospan());
        gr_bind(gmm);
        txt = cg_module_text(gmm, "mm", 0, &st);
        if (n == 16) CHECK(txt && strstr(txt, "@cblas_sgemm"), "a [B,16] x [16,16] matmul calls cblas_sgemm");
        else CHECK(txt && !strstr(txt, "cblas_sgemm") && strstr(txt, "mm.n3.matmul"),
                   "[B,16] x [16,1] and [1,B] x [B,1] are loops, no cblas_sgemm");
        free(txt);
    }
    CHECK(cg_host_cpu()[0] != 0 && strcmp(cg_host_cpu(), "unknown") != 0, "the host CPU has a name: %s", cg_host_cpu());
    es_arena_free(b);
}

static void test_errors(fixture *fx)
{
    ES_UNUSED(fx);
    es_arena *a = es_arena_new();
    es_status st;

    /* a program that was never bound */
    gr_graph *g = gr_new(a, NULL);
    int x = gr_input(g, "x", GR_F32, gr_shape1(GR_BATCH), nospan());
    gr_unary(g, GR_EXP, x, nospan());
    const char *name = "unbound";
    es_status_clear(&st);
    cg_jit *j = cg_jit_new(&g, &name, 1, &st);
    CHECK(j == NULL && st.code != 0 && strstr(st.msg, "gr_bind"), "an unbound program is refused: '%s'", st.msg);
    cg_jit_free(j);
    es_status_clear(&st);
    char *txt = cg_module_text(g, "unbound", 0, &st);
    CHECK(txt == NULL && st.code != 0, "cg_module_text refuses an unbound program too");
    free(txt);

    /* two programs with one name */
    gr_bind(g);
    gr_graph *two[2] = { g, g };
    const char *same[2] = { "dup", "dup" };
    es_status_clear(&st);
    j = cg_jit_new(two, same, 2, &st);
    CHECK(j == NULL && st.code != 0, "two programs named alike are refused: '%s'", st.msg);
    cg_jit_free(j);

    es_status_clear(&st);
    j = cg_jit_new(&g, &name, 1, &st);
    CHECK(j != NULL, "a bound program compiles: %s", st.msg);
    if (j) {
        es_status_clear(&st);
        CHECK(cg_jit_add_ir(j, "define void @f( {", &st) == -1 && strstr(st.msg, "parse"),
              "IR that does not parse is an error: '%s'", st.msg);
        es_status_clear(&st);
        const char *undominated =
            "define i32 @bad(i1 %c) {\n"
            "entry:\n  br i1 %c, label %a, label %b\n"
            "a:\n  %x = add i32 1, 2\n  br label %b\n"
            "b:\n  ret i32 %x\n}\n";
        CHECK(cg_jit_add_ir(j, undominated, &st) == -1 && strstr(st.msg, "verification"),
              "a module that fails the LLVM verifier is an error, not an abort: '%s'", st.msg);
        es_status_clear(&st);
        const char *dangling =
            "declare void @estc_test_no_such_symbol()\n"
            "define void @calls_nothing() {\n  call void @estc_test_no_such_symbol()\n  ret void\n}\n";
        CHECK(cg_jit_add_ir(j, dangling, &st) == -1 && strstr(st.msg, "estc_test_no_such_symbol"),
              "a module calling a symbol nothing defines is refused, naming it: '%s'", st.msg);
        CHECK(cg_jit_lookup(j, "calls_nothing") == NULL, "a refused module's functions are not found");
        es_status_clear(&st);
        CHECK(cg_jit_add_ir(j, "define void @unbound(ptr %b, i64 %n) {\n  ret void\n}\n", &st) == -1,
              "redefining an entry is an error: '%s'", st.msg);
        CHECK(cg_jit_lookup(j, "unbound") != NULL, "the session still works after the errors");
    }
    cg_jit_free(j);
    es_arena_free(a);
}

int main(void)
{
    fixture fx;
    memset(&fx, 0, sizeof fx);
    es_rng_seed(&fx.rng, 20240611);
    test_unary(&fx);
    test_exp_log1p_ulps(&fx);
    test_binary(&fx);
    test_shape_movers(&fx);
    test_reductions(&fx);
    test_matmul(&fx);
    test_sparse(&fx);
    test_rowwise(&fx);
    test_apply(&fx);
    test_activations(&fx);
    test_compare_select(&fx);
    test_movers(&fx);
    test_axis_reductions(&fx);
    test_ids(&fx);
    test_assign_ema(&fx);
    test_dropout(&fx);
    test_train(&fx);
    test_fusion(&fx);
    test_sessions(&fx);
    test_errors(&fx);
    for (int op = 0; op < GR_NUM_OPS; op++)
        CHECK(fx.covered[op], "op %s has no codegen test", gr_ops[op].name);
    return check_done("codegen");
}

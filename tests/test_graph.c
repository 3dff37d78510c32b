/*
 * test_graph.c — the graph layer without gradients: shape inference and its
 * messages, the verifier, dead-code elimination, the text form's round trip,
 * the reference evaluator on hand-computed values, parameter initialisers,
 * and one step of every optimizer (dense and sparse) against the formulas of
 * ops.def written out again here in double.
 */
#include "../graph/graph.h"
#include "check.h"

#include <math.h>
#include <stdlib.h>

static es_span nospan;

/* ---- a tiny harness: a graph, its diagnostics in memory, its buffers ---- */

typedef struct tg {
    es_arena *arena;
    es_diags diags;
    char *msgs;
    size_t msgs_len;
    FILE *mem;
    gr_graph *g;
    void **bufs;
    int64_t B;
} tg;

static tg *tg_new(void)
{
    tg *t = calloc(1, sizeof *t);
    t->arena = es_arena_new();
    t->mem = open_memstream(&t->msgs, &t->msgs_len);
    es_diags_init(&t->diags, t->mem);
    t->g = gr_new(t->arena, &t->diags);
    return t;
}

static const char *tg_msgs(tg *t)
{
    fflush(t->mem);
    return t->msgs ? t->msgs : "";
}

static void tg_alloc(tg *t, int64_t B)
{
    gr_bind(t->g);
    t->B = B;
    t->bufs = calloc((size_t)t->g->nbufs + 1, sizeof *t->bufs);
    for (int i = 0; i < t->g->n; i++) {
        const gr_node *n = &t->g->nodes[i];
        if (n->buf < 0) continue;
        size_t nb = gr_buf_bytes(t->g, i, B);
        t->bufs[n->buf] = calloc(1, nb ? nb : 4);
    }
}

static float *F(tg *t, int node) { return t->bufs[t->g->nodes[node].buf]; }
static int32_t *Iv(tg *t, int node) { return t->bufs[t->g->nodes[node].buf]; }

static void tg_free(tg *t)
{
    if (t->bufs)
        for (int i = 0; i < t->g->nbufs; i++) free(t->bufs[i]);
    free(t->bufs);
    fclose(t->mem);
    free(t->msgs);
    es_arena_free(t->arena);
    free(t);
}

static gr_shape S3(int64_t a, int64_t b, int64_t c)
{
    gr_shape s = gr_shape2(a, b);
    s.rank = 3;
    s.d[2] = c;
    return s;
}

static int shape_is(const gr_graph *g, int id, const char *want)
{
    char b[64];
    if (id == GR_NONE) return 0;
    return strcmp(gr_shape_str(g->nodes[id].shape, b, sizeof b), want) == 0;
}

/* ---- shape inference ------------------------------------------------------ */

static void test_shapes(void)
{
    tg *t = tg_new();
    gr_graph *g = t->g;
    int x = gr_input(g, "x", GR_F32, gr_shape2(GR_BATCH, 3), nospan);
    int w = gr_param(g, "w", gr_shape2(3, 4), GR_INIT_ZEROS, 0, 0, 1, nospan);
    int b = gr_param(g, "b", gr_shape1(4), GR_INIT_ZEROS, 0, 0, 1, nospan);
    int ids = gr_input(g, "ids", GR_I32, gr_shape1(GR_BATCH), nospan);
    int idm = gr_input(g, "idm", GR_I32, gr_shape2(GR_BATCH, 5), nospan);
    int tab = gr_param(g, "tab", gr_shape2(100, 8), GR_INIT_ZEROS, 0, 0, 1, nospan);

    int h = gr_matmul(g, x, w, 0, 0, nospan);
    CHECK(shape_is(g, h, "[B,4]"), "matmul [B,3]x[3,4] gives [B,4]");
    int z = gr_binary(g, GR_ADD, h, b, nospan);
    CHECK(shape_is(g, z, "[B,4]"), "add [B,4]+[4] broadcasts to [B,4]");
    int one = gr_param(g, "one", gr_shape2(1, 4), GR_INIT_ZEROS, 0, 0, 1, nospan);
    CHECK(shape_is(g, gr_binary(g, GR_MUL, z, one, nospan), "[B,4]"), "B broadcasts against 1");
    CHECK(shape_is(g, gr_binary(g, GR_MUL, gr_reshape(g, z, S3(GR_BATCH, 4, 1), nospan), b, nospan), "[B,4,4]"),
          "[B,4,1] * [4] gives [B,4,4]");
    CHECK(shape_is(g, gr_matmul(g, x, h, 1, 0, nospan), "[3,4]"), "matmul with B as the inner dimension");
    CHECK(shape_is(g, gr_matmul(g, w, x, 1, 1, nospan), "[4,B]"), "matmul with both transposed");
    CHECK(shape_is(g, gr_binary(g, GR_GATHER_SUM, tab, idm, nospan), "[B,8]"), "gather_sum [100,8] by [B,5] ids");
    int64_t depth[4] = { 7, 0, 0, 0 };
    int oh = gr_op_node(g, GR_ONE_HOT, 1, &ids, depth, NULL, nospan);
    CHECK(shape_is(g, oh, "[B,7]") && g->nodes[oh].dtype == GR_F32, "one_hot gives f32 [B,depth]");
    int am = gr_unary(g, GR_ARGMAX, z, nospan);
    CHECK(shape_is(g, am, "[B]") && g->nodes[am].dtype == GR_I32, "argmax gives i32 [B]");
    CHECK(g->nodes[gr_unary(g, GR_CAST_F32, ids, nospan)].dtype == GR_F32, "cast_f32 gives f32");
    int rows = gr_binary(g, GR_GATHER_SUM, tab, ids, nospan);
    int sc = gr_op_node(g, GR_SCATTER_ADD, 3, (int[]){ idm, rows, tab }, NULL, NULL, nospan);
    CHECK(shape_is(g, sc, "[100,8]"), "scatter_add gives its third input's shape");
    CHECK(shape_is(g, gr_binary(g, GR_BROADCAST, b, x, nospan), "") == 0, "broadcast [4] to [B,3] is refused");
    CHECK(shape_is(g, gr_binary(g, GR_BROADCAST, b, z, nospan), "[B,4]"), "broadcast gives the like shape");
    CHECK(shape_is(g, gr_binary(g, GR_SUM_TO, z, b, nospan), "[4]"), "sum_to gives the like shape");
    CHECK(shape_is(g, gr_sum_axis(g, z, 0, nospan), "[4]"), "sum_axis 0 removes the batch");
    CHECK(shape_is(g, gr_sum_axis(g, z, -1, nospan), "[B]"), "sum_axis -1 removes the last axis");
    CHECK(shape_is(g, gr_unary(g, GR_MEAN, z, nospan), "[]"), "mean gives a scalar");
    int lab = gr_input(g, "label", GR_I32, gr_shape1(GR_BATCH), nospan);
    int xe = gr_binary(g, GR_SOFTMAX_XENT, z, lab, nospan);
    CHECK(shape_is(g, xe, "[B,1]"), "softmax_xent gives [B,1]");
    int gapply = gr_op_node(g, GR_APPLY_SGD, 2, (int[]){ w, w }, NULL, (double[]){ 0.1, 0, 0, 0 }, nospan);
    CHECK(gapply != GR_NONE && g->nodes[gapply].dtype == GR_VOID && g->nodes[gapply].shape.rank == 0,
          "apply_sgd gives a void rank-0 result");
    CHECK(g->nerrors == 1, "only the refused broadcast was an error (%d errors)", g->nerrors);
    CHECK(strstr(tg_msgs(t), "broadcast: [4] cannot be broadcast to [B,3]") != NULL,
          "broadcast's refusal says why: %s", tg_msgs(t));
    tg_free(t);
}

/* each bad build reports one message naming the op and the shapes */
static void test_shape_errors(void)
{
    static const struct { const char *want; } cases[] = {
        { "matmul: inner dimensions 3 and 4 differ" },
        { "add: shapes [B,3] and [4] cannot broadcast" },
        { "mul: shapes [B,3] and [5,3] cannot broadcast" },
        { "reshape: cannot reshape [B,3] to [4,3]" },
        { "gather_sum: ids must be i32, not f32" },
        { "sum_axis: axis 2 is outside the 2 axes of [B,3]" },
        { "softmax_xent: the labels must be i32, not f32" },
        { "apply_sgd: gradient shape [3] differs from the variable's [3,4]" },
        { "param: shape [B,3] cannot have the batch dimension B (variable 'bad')" },
        { "log: its input must be f32, not i32" },
    };
    tg *t = tg_new();
    gr_graph *g = t->g;
    es_source src = { "model.est", ".", "h = x * y\n", 10 };
    es_span sp = { &src, 1, 5, 4, 5 };
    int x = gr_input(g, "x", GR_F32, gr_shape2(GR_BATCH, 3), nospan);
    int w = gr_param(g, "w", gr_shape2(4, 4), GR_INIT_ZEROS, 0, 0, 1, nospan);
    int w34 = gr_param(g, "w34", gr_shape2(3, 4), GR_INIT_ZEROS, 0, 0, 1, nospan);
    int v4 = gr_param(g, "v4", gr_shape1(4), GR_INIT_ZEROS, 0, 0, 1, nospan);
    int v3 = gr_param(g, "v3", gr_shape1(3), GR_INIT_ZEROS, 0, 0, 1, nospan);
    int f53 = gr_param(g, "f53", gr_shape2(5, 3), GR_INIT_ZEROS, 0, 0, 1, nospan);
    int ids = gr_input(g, "ids", GR_I32, gr_shape1(GR_BATCH), nospan);
    CHECK(g->nerrors == 0, "the setup builds");
    int r[10];
    r[0] = gr_matmul(g, x, w, 0, 0, nospan);
    r[1] = gr_binary(g, GR_ADD, x, v4, nospan);
    r[2] = gr_binary(g, GR_MUL, x, f53, sp);
    r[3] = gr_reshape(g, x, gr_shape2(4, 3), nospan);
    r[4] = gr_binary(g, GR_GATHER_SUM, f53, x, nospan);
    r[5] = gr_sum_axis(g, x, 2, nospan);
    r[6] = gr_binary(g, GR_SOFTMAX_XENT, x, x, nospan);
    r[7] = gr_op_node(g, GR_APPLY_SGD, 2, (int[]){ w34, v3 }, NULL, NULL, nospan);
    r[8] = gr_param(g, "bad", gr_shape2(GR_BATCH, 3), GR_INIT_ZEROS, 0, 0, 1, nospan);
    r[9] = gr_unary(g, GR_LOG, ids, nospan);
    const char *m = tg_msgs(t);
    for (size_t i = 0; i < ES_ARRAY_LEN(cases); i++) {
        CHECK(r[i] == GR_NONE, "bad build %zu returns GR_NONE", i);
        CHECK(strstr(m, cases[i].want) != NULL, "message \"%s\" is reported", cases[i].want);
    }
    CHECK(g->nerrors == (int)ES_ARRAY_LEN(cases), "one error per bad build (%d)", g->nerrors);
    CHECK(t->diags.nerrors == g->nerrors, "errors go to the diagnostics");
    CHECK(strstr(m, "model.est:1:5: error: mul:") != NULL, "the error carries file:line:col");
    CHECK(strstr(m, "    ^~~~~") != NULL, "and a caret under the span");
    /* a GR_NONE input fails silently: one mistake, one message */
    int before = g->nerrors;
    CHECK(gr_unary(g, GR_EXP, r[0], nospan) == GR_NONE, "a GR_NONE input gives GR_NONE");
    CHECK(gr_binary(g, GR_ADD, x, r[1], nospan) == GR_NONE, "a GR_NONE input gives GR_NONE");
    CHECK(g->nerrors == before, "without another message");
    tg_free(t);
}

/* ---- verifier ---------------------------------------------------------------- */

static gr_graph *small_graph(es_arena *a)
{
    gr_graph *g = gr_new(a, NULL);
    int x = gr_input(g, "x", GR_F32, gr_shape2(GR_BATCH, 3), nospan);
    int w = gr_param(g, "w", gr_shape2(3, 2), GR_INIT_GLOROT_UNIFORM, 0, 0, 1, nospan);
    int y = gr_matmul(g, x, w, 0, 0, nospan);
    gr_add_output(g, "y", gr_unary(g, GR_SIGMOID, y, nospan));
    return g;
}

static void test_verify(void)
{
    es_arena *a = es_arena_new();
    es_status st;
    gr_graph *g = small_graph(a);
    es_status_clear(&st);
    CHECK(gr_verify(g, &st) == 0, "a built graph verifies: %s", st.msg);

    g = small_graph(a);
    g->nodes[2].shape = gr_shape2(GR_BATCH, 3);
    CHECK(gr_verify(g, &st) != 0 && strstr(st.msg, "recorded as f32[B,3] but its inputs give f32[B,2]"),
          "a wrong recorded shape is caught: %s", st.msg);

    g = small_graph(a);
    g->nodes[2].in[1] = 3;
    CHECK(gr_verify(g, &st) != 0 && strstr(st.msg, "not an earlier node"), "a forward reference is caught: %s", st.msg);

    g = small_graph(a);
    g->nodes[3].dtype = GR_I32;
    CHECK(gr_verify(g, &st) != 0, "a wrong dtype is caught");

    g = small_graph(a);
    gr_param(g, "w", gr_shape2(3, 2), GR_INIT_ZEROS, 0, 0, 1, nospan);
    CHECK(gr_verify(g, &st) != 0 && strstr(st.msg, "\"w\" is also node"), "a duplicate param name is caught: %s", st.msg);

    g = small_graph(a);
    g->nodes[2].nin = 1;
    CHECK(gr_verify(g, &st) != 0 && strstr(st.msg, "expects 2 inputs"), "a wrong arity is caught: %s", st.msg);

    g = small_graph(a);
    g->outputs[0].node = 17;
    CHECK(gr_verify(g, &st) != 0 && strstr(st.msg, "does not exist"), "a dangling output is caught: %s", st.msg);

    g = small_graph(a);
    gr_bind(g);
    CHECK(gr_verify(g, &st) == 0, "a bound graph verifies");
    g->nodes[1].buf = 99;
    CHECK(gr_verify(g, &st) != 0 && strstr(st.msg, "buffer slot"), "a bad buffer slot is caught: %s", st.msg);
    es_arena_free(a);
}

/* ---- dead-code elimination ------------------------------------------------- */

/* Memory given back to an arena (es_release, gr_drop, a grown es_vec) is
 * what later allocations get, best fit first, with the rest kept; small
 * blocks are not kept; es_alloc still zeroes what it reuses. */
static void test_arena_reuse(void)
{
    es_arena *a = es_arena_new();
    char *p = es_alloc_raw(a, 4096);
    memset(p, 0xff, 4096);
    es_release(a, p, 4096);
    char *q = es_alloc(a, 2048);
    CHECK(q == p, "a released block is reused (%p, not %p)", (void *)q, (void *)p);
    int zero = 1;
    for (int i = 0; i < 2048; i++) zero &= q[i] == 0;
    CHECK(zero, "es_alloc zeroes reused memory");
    char *r = es_alloc_raw(a, 2048);
    CHECK(r == p + 2048, "the rest of a reused block is kept for the next one");
    char *s = es_alloc_raw(a, 2048);
    CHECK(s < p || s >= p + 4096, "a block is not handed out twice");

    char *big = es_alloc_raw(a, 8192), *fit = es_alloc_raw(a, 2048), *tiny = es_alloc_raw(a, 512);
    es_release(a, big, 8192);
    es_release(a, fit, 2048);
    es_release(a, tiny, 512);
    CHECK(es_alloc_raw(a, 2000) == fit, "the smallest block that fits is taken");
    CHECK(es_alloc_raw(a, 8192) == big, "a block is reused whole");
    CHECK(es_alloc_raw(a, 512) != tiny, "blocks under 1 KB are not kept");

    gr_graph *g = gr_new(a, NULL), *h = gr_new(a, NULL);
    gr_input(g, "x0", GR_F32, gr_shape1(GR_BATCH), nospan);
    gr_node *first = g->nodes;          /* 64 nodes; outgrown below */
    for (int i = 1; i < 100; i++) gr_input(g, es_sprintf(a, "x%d", i), GR_F32, gr_shape1(GR_BATCH), nospan);
    gr_node *nodes = g->nodes;
    gr_drop(g);
    CHECK(g->n == 0 && g->nodes == NULL, "a dropped graph is empty");
    gr_input(h, "y0", GR_F32, gr_shape1(GR_BATCH), nospan);
    CHECK(h->nodes == first, "the nodes a graph outgrew go to the next graph");
    for (int i = 1; i < 100; i++) gr_input(h, es_sprintf(a, "y%d", i), GR_F32, gr_shape1(GR_BATCH), nospan);
    CHECK(h->nodes == nodes, "a dropped graph's nodes go to the next graph");
    int ok = h->n == 100;
    for (int i = 0; i < h->n; i++) ok &= strcmp(h->nodes[i].name, es_sprintf(a, "y%d", i)) == 0;
    CHECK(ok, "the next graph keeps its nodes in them");

    ES_VEC(int) v = { 0 };
    for (int i = 0; i < 256; i++) es_vec_push(a, v, i);
    int *old = v.v;
    es_vec_push(a, v, 256);
    ok = v.n == 257;
    for (int i = 0; i < v.n; i++) ok &= v.v[i] == i;
    CHECK(ok, "a grown vector keeps its elements");
    CHECK(es_alloc_raw(a, 1024) == (void *)old, "the block a vector outgrew is reused");
    es_arena_free(a);
}

static void test_dce(void)
{
    es_arena *a = es_arena_new();
    gr_graph *g = gr_new(a, NULL);
    int x = gr_input(g, "x", GR_F32, gr_shape1(GR_BATCH), nospan);          /* 0 */
    int dead_in = gr_input(g, "unused", GR_F32, gr_shape1(3), nospan);      /* 1: dead */
    int w = gr_param(g, "w", gr_shape1(1), GR_INIT_ZEROS, 0, 0, 1, nospan);  /* 2 */
    int gw = gr_param(g, "gw", gr_shape1(1), GR_INIT_ZEROS, 0, 0, 0, nospan);/* 3 */
    int dead = gr_unary(g, GR_EXP, dead_in, nospan);                          /* 4: dead */
    int y = gr_binary(g, GR_MUL, x, w, nospan);                               /* 5 */
    int dead2 = gr_unary(g, GR_NEG, y, nospan);                               /* 6: dead */
    int upd = gr_op_node(g, GR_APPLY_SGD, 2, (int[]){ w, gw }, NULL, (double[]){ 0.5, 0, 0, 0 }, nospan); /* 7 */
    int out = gr_unary(g, GR_SQUARE, y, nospan);                              /* 8 */
    gr_add_output(g, "out", out);
    (void)dead; (void)dead2; (void)upd;
    gr_graph *d = gr_dce(g);
    CHECK(d->n == 6, "dce keeps 6 of 9 nodes (kept %d)", d->n);
    int kept_apply = 0, kept_exp = 0, kept_neg = 0;
    for (int i = 0; i < d->n; i++) {
        kept_apply += d->nodes[i].op == GR_APPLY_SGD;
        kept_exp += d->nodes[i].op == GR_EXP;
        kept_neg += d->nodes[i].op == GR_NEG;
    }
    CHECK(kept_apply == 1, "the side effect survives");
    CHECK(kept_exp == 0 && kept_neg == 0, "dead computations are dropped");
    CHECK(gr_find_named(d, GR_INPUT, "unused") == GR_NONE, "the unused input is dropped");
    CHECK(gr_find_named(d, GR_PARAM, "gw") != GR_NONE, "what the side effect reads survives");
    int o = gr_find_output(d, "out");
    CHECK(o != GR_NONE && d->nodes[o].op == GR_SQUARE && d->nodes[d->nodes[o].in[0]].op == GR_MUL,
          "the output is remapped to its node");
    es_status st;
    es_status_clear(&st);
    CHECK(gr_verify(d, &st) == 0, "the result verifies: %s", st.msg);
    (void)x;
    es_arena_free(a);
}

/* ---- text form ---------------------------------------------------------------- */

static char *print_to_string(const gr_graph *g)
{
    char *s = NULL;
    size_t n = 0;
    FILE *f = open_memstream(&s, &n);
    gr_print(g, f);
    fclose(f);
    return s;
}

/* a graph using every op, odd floats and a name that needs escaping */
static gr_graph *every_op_graph(es_arena *a)
{
    gr_graph *g = gr_new(a, NULL);
    g->kind = GR_PROG_EVAL;
    es_span s = nospan;
    int x = gr_input(g, "x \"quoted\"\\", GR_F32, gr_shape2(GR_BATCH, 4), s);
    int ids = gr_input(g, "ids", GR_I32, gr_shape2(GR_BATCH, 2), s);
    int lab = gr_input(g, "label", GR_I32, gr_shape1(GR_BATCH), s);
    int w = gr_param(g, "w", gr_shape2(4, 3), GR_INIT_TRUNC_NORMAL, 0.1, 1.0 / 3.0, 1, s);
    int tab = gr_param(g, "tab", gr_shape2(10, 3), GR_INIT_UNIFORM, -0.05, 0.05, 1, s);
    int acc = gr_param(g, "tab/accum", gr_shape2(10, 3), GR_INIT_CONST, 0.1, 0, 0, s);
    int lin = gr_param(g, "tab/linear", gr_shape2(10, 3), GR_INIT_ZEROS, 0, 0, 0, s);
    float cv[3] = { 1.0f / 3.0f, -2.5e-8f, 123456.789f };
    int c = gr_const(g, gr_shape1(3), cv, s);
    int k = gr_scalar(g, 0.1, s);
    int h = gr_matmul(g, x, w, 0, 0, s);
    for (gr_op op = GR_NEG; op <= GR_SIGN; op++) h = gr_unary(g, op, h, s);
    h = gr_binary(g, GR_ADD, h, c, s);
    for (gr_op op = GR_SUB; op <= GR_MINIMUM; op++) h = gr_binary(g, op, h, k, s);
    int e = gr_binary(g, GR_GATHER_SUM, tab, ids, s);
    h = gr_binary(g, GR_BROADCAST, gr_binary(g, GR_SUM_TO, h, c, s), e, s);
    h = gr_reshape(g, gr_reshape(g, h, gr_shape2(3, GR_BATCH), s), gr_shape2(GR_BATCH, 3), s);
    g->nodes[h].name = "named \"node\"";
    int64_t dep[4] = { 5, 0, 0, 0 };
    int oh = gr_op_node(g, GR_ONE_HOT, 1, &ids, dep, NULL, s);
    int sc = gr_op_node(g, GR_SCATTER_ADD, 3, (int[]){ ids, e, tab }, NULL, NULL, s);
    int sm = gr_unary(g, GR_SOFTMAX, h, s);
    int ls = gr_unary(g, GR_LOG_SOFTMAX, sm, s);
    int am = gr_unary(g, GR_ARGMAX, ls, s);
    int cf = gr_unary(g, GR_CAST_F32, am, s);
    int sx = gr_binary(g, GR_SIGMOID_XENT, h, sm, s);
    int xe = gr_binary(g, GR_SOFTMAX_XENT, ls, lab, s);
    int xg = gr_op_node(g, GR_SOFTMAX_XENT_GRAD, 3, (int[]){ ls, lab, xe }, NULL, NULL, s);
    int l = gr_binary(g, GR_ADD, gr_unary(g, GR_SUM, sx, s), gr_unary(g, GR_MEAN, xg, s), s);
    l = gr_binary(g, GR_ADD, l, gr_unary(g, GR_NUMEL, cf, s), s);
    l = gr_binary(g, GR_ADD, l, gr_unary(g, GR_SUM, gr_sum_axis(g, oh, 1, s), s), s);
    l = gr_binary(g, GR_ADD, l, gr_unary(g, GR_SUM, sc, s), s);
    /* the model-function ops, chained so each feeds the loss */
    int step = gr_input(g, "global_step", GR_I32, gr_shape1(1), s);
    int lr = gr_op_node(g, GR_LEAKY_RELU, 1, &h, NULL, (double[]){ 0.2, 0, 0, 0 }, s);
    int el = gr_op_node(g, GR_ELU, 1, &lr, NULL, (double[]){ 1.0, 0, 0, 0 }, s);
    int cmp = el;
    for (gr_op op = GR_LESS; op <= GR_NOT_EQUAL; op++) cmp = gr_binary(g, op, cmp, k, s);
    int se = gr_op_node(g, GR_SELECT, 3, (int[]){ cmp, el, k }, NULL, NULL, s);              /* [B,3] */
    int cc = gr_op_node(g, GR_CONCAT, 3, (int[]){ se, h, e }, (int64_t[]){ 1, 0, 0, 0 }, NULL, s);
    int64_t sla[4] = { 1, 2, 4, 0 };
    int sl = gr_op_node(g, GR_SLICE, 1, &cc, sla, NULL, s);                                  /* [B,4] */
    int ps = gr_op_node(g, GR_PAD_SLICE, 2, (int[]){ sl, cc }, sla, NULL, s);                /* [B,9] */
    int tr = gr_unary(g, GR_TRANSPOSE, ps, s);                                               /* [9,B] */
    int ma = gr_op_node(g, GR_MEAN_AXIS, 1, &tr, (int64_t[]){ 1, 0, 0, 0 }, NULL, s);        /* [9] */
    int mx = gr_op_node(g, GR_MAX_AXIS, 1, &tr, NULL, NULL, s);                              /* [B] */
    int mg = gr_op_node(g, GR_MAX_AXIS_GRAD, 2, (int[]){ tr, mx }, NULL, NULL, s);
    int dr = gr_op_node(g, GR_DROPOUT, 2, (int[]){ mg, step }, (int64_t[]){ (int64_t)0x9E3779B97F4A7C15ull, 0, 0, 0 },
                        (double[]){ 0.1, 0, 0, 0 }, s);
    int ci = gr_op_node(g, GR_COUNT_IDS, 1, &ids, (int64_t[]){ 10, 0, 0, 0 }, NULL, s);
    gr_op_node(g, GR_SHIFT_IDS, 1, &ids, (int64_t[]){ 10, 20, 0, 0 }, NULL, s);
    int wts = gr_unary(g, GR_CAST_F32, ids, s);
    int gw = gr_op_node(g, GR_GATHER_WSUM, 3, (int[]){ tab, ids, wts }, NULL, NULL, s);
    int sw = gr_op_node(g, GR_SCATTER_WADD, 4, (int[]){ ids, wts, gw, tab }, NULL, NULL, s);
    int gd = gr_op_node(g, GR_GATHER_DOT, 3, (int[]){ tab, ids, gw }, NULL, NULL, s);
    /* fused: a bias, an i32 input through cast, a select, an alpha that needs all its digits */
    gr_fstep fs[5] = {
        { GR_CAST_F32, { 2, 0, 0 }, 0 }, { GR_ADD, { 0, 3, 0 }, 0 },
        { GR_LEAKY_RELU, { 4, 0, 0 }, 0.1 }, { GR_GREATER, { 5, 1, 0 }, 0 },
        { GR_SELECT, { 6, 5, 1 }, 0 },
    };
    int fids = gr_input(g, "fused_ids", GR_I32, gr_shape2(GR_BATCH, 1), s);
    int fu = gr_fused(g, 3, (int[]){ se, k, fids }, fs, 5, s);
    /* the epilogue form: a transposed product, then a bias */
    int fw = gr_param(g, "fused_w", gr_shape2(3, 3), GR_INIT_ZEROS, 0, 0, 1, s);
    gr_fstep hs[2] = { { GR_MATMUL, { 0, 1, 2 }, 0 }, { GR_ADD, { 3, 2, 0 }, 0 } };
    fu = gr_binary(g, GR_ADD, fu, gr_fused(g, 3, (int[]){ se, fw, k }, hs, 2, s), s);
    int extra[7] = { ma, dr, ci, sw, gd, mx, fu };
    for (int j = 0; j < 7; j++) l = gr_binary(g, GR_ADD, l, gr_unary(g, GR_SUM, extra[j], s), s);
    int ema = gr_param(g, "tab/ema", gr_shape2(10, 3), GR_INIT_ZEROS, 0, 0, 0, s);
    gr_op_node(g, GR_ASSIGN_EMA, 2, (int[]){ ema, sw }, NULL, (double[]){ 0.999, 0, 0, 0 }, s);
    int64_t sparse[4] = { 1, 0, 0, 0 };
    double ff[4] = { 0.2, 0.001, 1e-300, -0.5 };
    gr_op_node(g, GR_APPLY_FTRL, 5, (int[]){ tab, acc, lin, ids, e }, sparse, ff, s);
    gr_add_output(g, "loss", l);
    gr_add_output(g, "probabilities", sm);
    return g;
}

static void test_text(void)
{
    es_arena *a = es_arena_new();
    gr_graph *g = every_op_graph(a);
    CHECK(g->nerrors == 0, "the every-op graph builds");
    int seen[GR_NUM_OPS] = { 0 };
    for (int i = 0; i < g->n; i++) seen[g->nodes[i].op] = 1;
    int missing = 0;
    for (int i = 0; i < GR_NUM_OPS; i++)
        if (!seen[i] && i != GR_APPLY_SGD && i != GR_APPLY_ADAGRAD && i != GR_APPLY_ADAM) {
            missing++;
            fprintf(stderr, "  op %s is not in the round-trip graph\n", gr_ops[i].name);
        }
    CHECK(missing == 0, "the round-trip graph uses every op but three applies");

    char *t1 = print_to_string(g);
    es_status st;
    es_status_clear(&st);
    gr_graph *p = gr_parse(a, t1, &st);
    CHECK(p != NULL, "the printed graph parses: %s", st.msg);
    if (p) {
        char *t2 = print_to_string(p);
        CHECK(strcmp(t1, t2) == 0, "print -> parse -> print is the identity:\n%s\n---\n%s", t1, t2);
        free(t2);
        CHECK(p->n == g->n && p->kind == GR_PROG_EVAL && p->noutputs == 2, "parse keeps nodes, kind, outputs");
        int same = 1;
        for (int i = 0; i < g->n; i++) {
            const gr_node *m = &g->nodes[i], *q = &p->nodes[i];
            same &= m->op == q->op && m->nin == q->nin && gr_shape_eq(m->shape, q->shape) && m->dtype == q->dtype &&
                    memcmp(m->in, q->in, sizeof m->in) == 0 && memcmp(m->a, q->a, sizeof m->a) == 0 &&
                    memcmp(m->f, q->f, sizeof m->f) == 0 && (!m->name) == (!q->name) &&
                    (!m->name || strcmp(m->name, q->name) == 0);
            if (m->op == GR_CONST)
                same &= memcmp(m->data, q->data, (size_t)gr_numel(m->shape, 1) * sizeof(float)) == 0;
            same &= m->nsteps == q->nsteps;
            for (int k = 0; same && k < m->nsteps; k++)
                same &= m->steps[k].op == q->steps[k].op && memcmp(m->steps[k].x, q->steps[k].x, sizeof m->steps[k].x) == 0 &&
                        memcmp(&m->steps[k].f, &q->steps[k].f, sizeof(double)) == 0;
        }
        CHECK(same, "every field survives the round trip bit for bit");
        CHECK(gr_verify(p, &st) == 0, "the parsed graph verifies: %s", st.msg);
    }
    free(t1);
    char *ts = print_to_string(small_graph(a));
    CHECK(strstr(ts, "%2:f32[B,2] = matmul(%0, %1)\n") != NULL, "a node prints as %%N:type = op(inputs):\n%s", ts);
    free(ts);

    /* hand-written text: gaps in numbering, comments, and checked types */
    const char *hand =
        "# a comment\n"
        "program predict\n"
        "%1:f32[B,3] = input \"x\"\n"
        "%5:f32[3] = param \"b\" init=zeros trainable=1\n"
        "\n"
        "%9:f32[B,3] = add(%1, %5)\n"
        "output \"y\" = %9\n";
    p = gr_parse(a, hand, &st);
    CHECK(p && p->n == 3 && p->kind == GR_PROG_PREDICT && gr_find_output(p, "y") == 2,
          "hand-written text with gaps and comments parses: %s", st.msg);
    struct { const char *text, *want; } bad[] = {
        { "%0:f32[B,3] = input \"x\"\n%1:f32[3] = sum(%0)\n", "line 2: sum: declared f32[3] but the inputs give f32[]" },
        { "%0:f32[B,3] = exp(%4)\n", "line 1: %4 is not defined above" },
        { "%0:f32[2] = const [1, 2]\n%0:f32[2] = exp(%0)\n", "line 2: node %0 does not follow %0" },
        { "%0:f32[2] = frobnicate(%0)\n", "line 1: unknown op 'frobnicate'" },
        { "%0:f32[2] = const [1, 2] junk\n", "line 1: unexpected text" },
        { "%0:f32[B,3] = input \"x\"\n%1:f32[B,3] = add(%0, %0, %0)\n", "line 2: add: expects 2 inputs, got 3" },
        { "%0:f32[B,3] = input \"x\"\n%1:f32[B,3] = fused(%0) { relu($1) }\n", "line 2: fused: $1 is not defined before step 0" },
        { "%0:f32[B,3] = input \"x\"\n%1:f32[B,3] = fused(%0) { exp($0); relu(#1) }\n", "line 2: fused: #1 is not defined before step 1" },
        { "%0:f32[B,3] = input \"x\"\n%1:f32[] = fused(%0) { sum($0) }\n", "line 2: fused: 'sum' is not an elementwise op" },
        { "%0:f32[B,3] = input \"x\"\n%1:f32[B,3] = fused(%0) { cast_f32($0) }\n", "line 2: fused: step 0 (cast_f32) reads f32, not i32" },
        { "%0:f32[B,3] = input \"x\"\n%1:f32[B,3] = fused(%0) { }\n", "line 2: expected a word" },
        { "%0:f32[B,3] = input \"x\"\n%1:f32[3,3] = input \"w\"\n%2:f32[B,3] = fused(%0, %1) { exp($0); matmul($0, $1) }\n",
          "line 3: fused: 'matmul' is not an elementwise op" },
        { "%0:f32[B,3] = input \"x\"\n%1:f32[3,3] = input \"w\"\n%2:f32[B,3] = fused(%0, %1) { matmul($0, $1); add(#0, $0) }\n",
          "line 3: fused: step 1 (add) reads a value not defined before it" },
        { "%0:f32[B,3] = input \"x\"\n%1:f32[4,3] = input \"w\"\n%2:f32[B,3] = fused(%0, %1) { matmul($0, $1); relu(#0) }\n",
          "line 3: matmul" },
        { "%0:f32[B,3] = input \"x\"\n%1:f32[3,3] = input \"w\"\n%2:f32[B,3] = fused(%0, %1) { matmul[2,0]($0, $1); relu(#0) }\n",
          "line 3: fused: matmul[ta,tb] takes 0 or 1" },
        { "%0:f32[B,3] = input \"x\"\n%1:f32[4] = input \"y\"\n%2:f32[B,3] = fused(%0, %1) { add($0, $1) }\n",
          "line 3: fused: input 1's shape [4] does not broadcast with [B,3]" },
    };
    for (size_t i = 0; i < ES_ARRAY_LEN(bad); i++) {
        es_status_clear(&st);
        CHECK(gr_parse(a, bad[i].text, &st) == NULL && strstr(st.msg, bad[i].want),
              "bad text %zu is refused with \"%s\" (got \"%s\")", i, bad[i].want, st.msg);
    }
    es_arena_free(a);
}

/* ---- the reference evaluator on hand-computed values ------------------------- */

static void test_eval(void)
{
    tg *t = tg_new();
    gr_graph *g = t->g;
    int x = gr_input(g, "x", GR_F32, gr_shape2(GR_BATCH, 3), nospan);
    int ids = gr_input(g, "ids", GR_I32, gr_shape2(GR_BATCH, 2), nospan);
    int tab = gr_param(g, "tab", gr_shape2(4, 2), GR_INIT_ZEROS, 0, 0, 1, nospan);
    int lab = gr_input(g, "lab", GR_I32, gr_shape1(GR_BATCH), nospan);
    int col = gr_param(g, "col", gr_shape2(2, 1), GR_INIT_ZEROS, 0, 0, 1, nospan);
    int am = gr_unary(g, GR_ARGMAX, x, nospan);
    int64_t d3[4] = { 3, 0, 0, 0 };
    int oh = gr_op_node(g, GR_ONE_HOT, 1, &ids, d3, NULL, nospan);
    int ga = gr_binary(g, GR_GATHER_SUM, tab, ids, nospan);
    int sc = gr_op_node(g, GR_SCATTER_ADD, 3, (int[]){ ids, ga, tab }, NULL, NULL, nospan);
    int sm = gr_unary(g, GR_SOFTMAX, x, nospan);
    int ls = gr_unary(g, GR_LOG_SOFTMAX, x, nospan);
    int xe = gr_binary(g, GR_SOFTMAX_XENT, x, lab, nospan);
    int sp = gr_unary(g, GR_SOFTPLUS, x, nospan);
    int sg = gr_unary(g, GR_SIGMOID, x, nospan);
    int mean = gr_unary(g, GR_MEAN, x, nospan);
    int ne = gr_unary(g, GR_NUMEL, x, nospan);
    int mm = gr_matmul(g, x, x, 1, 0, nospan);                     /* x^T x: [3,3] */
    int bc = gr_binary(g, GR_ADD, col, gr_sum_axis(g, x, 0, nospan), nospan); /* [2,1]+[3] */
    int xs = gr_binary(g, GR_SIGMOID_XENT, x, gr_unary(g, GR_SIGMOID, x, nospan), nospan);
    CHECK(g->nerrors == 0, "the evaluator's graph builds");
    CHECK(gr_binary(g, GR_SUM_TO, x, col, nospan) == GR_NONE && g->nerrors == 1,
          "sum_to [B,3] to [2,1] is refused (B does not stretch from 2)");
    tg_alloc(t, 2);
    /* row 0: a tie for the maximum and huge logits; row 1: ordinary values */
    float xv[6] = { 1000.0f, -1000.0f, 1000.0f, 0.5f, -1.0f, 2.0f };
    memcpy(F(t, x), xv, sizeof xv);
    int32_t idv[4] = { 2, 2, -1, 7 };     /* duplicate; missing and out of range */
    memcpy(Iv(t, ids), idv, sizeof idv);
    float tv[8] = { 1, 2, 3, 4, 5, 6, 7, 8 };
    memcpy(F(t, tab), tv, sizeof tv);
    int32_t lv[2] = { 1, 5 };              /* the second label is out of range */
    memcpy(Iv(t, lab), lv, sizeof lv);
    F(t, col)[0] = 10; F(t, col)[1] = 20;
    gr_eval(g, t->bufs, 2);

    CHECK(Iv(t, am)[0] == 0 && Iv(t, am)[1] == 2, "argmax: the first maximum wins (%d, %d)", Iv(t, am)[0], Iv(t, am)[1]);
    float ohw[6] = { 0, 0, 2, 0, 0, 0 };
    CHECK(memcmp(F(t, oh), ohw, sizeof ohw) == 0, "one_hot: duplicates add up, invalid ids are skipped");
    float gaw[4] = { 10, 12, 0, 0 };
    CHECK(memcmp(F(t, ga), gaw, sizeof gaw) == 0, "gather_sum: row 2 twice; no valid id gives zeros");
    float scw[8] = { 0, 0, 0, 0, 20, 24, 0, 0 };
    CHECK(memcmp(F(t, sc), scw, sizeof scw) == 0, "scatter_add: each id of a row receives the row");
    CHECK(check_close(F(t, sm)[0], 0.5, 1e-6, 0) && F(t, sm)[1] == 0 && check_close(F(t, sm)[2], 0.5, 1e-6, 0),
          "softmax of huge logits is finite (max subtracted)");
    double e0 = exp(0.5), e1 = exp(-1.0), e2 = exp(2.0), s = e0 + e1 + e2;
    CHECK(check_close(F(t, sm)[5], e2 / s, 1e-6, 0), "softmax row 1");
    CHECK(check_close(F(t, ls)[0], -log(2.0), 1e-6, 0) && check_close(F(t, ls)[4], -1.0 - log(s), 1e-6, 0),
          "log_softmax stays finite and exact");
    CHECK(check_close(F(t, xe)[0], log(2.0) + 2000.0, 1e-6, 0), "softmax_xent with huge logits: %g", F(t, xe)[0]);
    CHECK(F(t, xe)[1] == 0, "softmax_xent of an out-of-range label is 0");
    CHECK(F(t, sp)[0] == 1000.0f && F(t, sp)[1] == 0.0f && check_close(F(t, sp)[3], log1p(exp(0.5)), 1e-6, 0),
          "softplus is stable for large |x|");
    CHECK(F(t, sg)[0] == 1.0f && F(t, sg)[1] == 0.0f && !isnan(F(t, sg)[1]), "sigmoid saturates without NaN");
    CHECK(check_close(F(t, xs)[3], 0.5 - 0.5 * (1 / (1 + exp(-0.5))) + log1p(exp(-0.5)), 1e-6, 0)
          && isfinite(F(t, xs)[0]) && isfinite(F(t, xs)[1]), "sigmoid_xent is the stable formula");
    CHECK(check_close(F(t, mean)[0], (1000 - 1000 + 1000 + 0.5 - 1 + 2) / 6.0, 1e-6, 0), "mean divides by B*3");
    CHECK(F(t, ne)[0] == 6, "numel of [B,3] at B=2 is 6");
    CHECK(check_close(F(t, mm)[0], 1000.0 * 1000 + 0.25, 1e-6, 0) && check_close(F(t, mm)[5], -1000.0 * 1000 - 2, 1e-6, 0),
          "matmul with A transposed");
    /* col [2,1] + colsum [3] -> [2,3]: colsum = (1000.5, -1001, 1002) */
    float bcw[6] = { 1010.5f, -991, 1012, 1020.5f, -981, 1022 };
    CHECK(memcmp(F(t, bc), bcw, sizeof bcw) == 0, "add broadcasts [2,1] with [3]");
    tg_free(t);
}

/* ---- the model-function ops: shapes, messages, values --------------------------- */

static int opn(gr_graph *g, gr_op op, int nin, const int *in, int64_t a0, int64_t a1, int64_t a2, double f0)
{
    int64_t a[4] = { a0, a1, a2, 0 };
    double f[4] = { f0, 0, 0, 0 };
    return gr_op_node(g, op, nin, in, a, f, nospan);
}

static void test_model_op_shapes(void)
{
    tg *t = tg_new();
    gr_graph *g = t->g;
    int x = gr_input(g, "x", GR_F32, gr_shape2(GR_BATCH, 3), nospan);
    int y = gr_input(g, "y", GR_F32, gr_shape2(GR_BATCH, 2), nospan);
    int v = gr_param(g, "v", gr_shape1(3), GR_INIT_ZEROS, 0, 0, 1, nospan);
    int c = gr_param(g, "c", gr_shape2(2, 1), GR_INIT_ZEROS, 0, 0, 1, nospan);
    int ids = gr_input(g, "ids", GR_I32, gr_shape2(GR_BATCH, 4), nospan);
    int wts = gr_input(g, "wts", GR_F32, gr_shape2(GR_BATCH, 4), nospan);
    int tab = gr_param(g, "tab", gr_shape2(10, 5), GR_INIT_ZEROS, 0, 0, 1, nospan);
    int step = gr_input(g, "global_step", GR_I32, gr_shape1(1), nospan);

    CHECK(shape_is(g, opn(g, GR_LEAKY_RELU, 1, &x, 0, 0, 0, 0.2), "[B,3]"), "leaky_relu keeps the shape");
    CHECK(shape_is(g, opn(g, GR_ELU, 1, &x, 0, 0, 0, 1.0), "[B,3]"), "elu keeps the shape");
    int lt = gr_binary(g, GR_LESS, x, v, nospan);
    CHECK(shape_is(g, lt, "[B,3]") && g->nodes[lt].dtype == GR_F32, "less broadcasts and gives f32");
    CHECK(shape_is(g, gr_binary(g, GR_NOT_EQUAL, c, v, nospan), "[2,3]"), "not_equal [2,1] vs [3] gives [2,3]");
    int s3 = opn(g, GR_SELECT, 3, (int[]){ gr_binary(g, GR_GREATER, x, v, nospan), x, gr_scalar(g, 0, nospan) }, 0, 0, 0, 0);
    CHECK(shape_is(g, s3, "[B,3]"), "select broadcasts its three operands");
    int cc = opn(g, GR_CONCAT, 3, (int[]){ x, y, x }, 1, 0, 0, 0);
    CHECK(shape_is(g, cc, "[B,8]"), "concat on the last axis adds the widths");
    int r2 = gr_param(g, "r2", gr_shape2(2, 3), GR_INIT_ZEROS, 0, 0, 1, nospan);
    CHECK(shape_is(g, opn(g, GR_CONCAT, 2, (int[]){ r2, gr_reshape(g, v, gr_shape2(1, 3), nospan) }, 0, 0, 0, 0), "[3,3]"),
          "concat on a fixed first axis");
    int sl = opn(g, GR_SLICE, 1, &cc, 1, 3, 2, 0);
    CHECK(shape_is(g, sl, "[B,2]"), "slice keeps `length` elements of the axis");
    CHECK(shape_is(g, opn(g, GR_PAD_SLICE, 2, (int[]){ sl, cc }, 1, 3, 2, 0), "[B,8]"), "pad_slice gives like's shape");
    int ti = opn(g, GR_TRANSPOSE, 1, &ids, 0, 0, 0, 0);
    CHECK(shape_is(g, ti, "[4,B]") && g->nodes[ti].dtype == GR_I32, "transpose swaps the axes and keeps i32");
    CHECK(shape_is(g, opn(g, GR_MEAN_AXIS, 1, &x, 0, 0, 0, 0), "[3]"), "mean_axis 0 removes the batch");
    int mx = opn(g, GR_MAX_AXIS, 1, &x, 1, 0, 0, 0);
    CHECK(shape_is(g, mx, "[B]"), "max_axis 1 of [B,3] gives [B]");
    CHECK(shape_is(g, opn(g, GR_MAX_AXIS_GRAD, 2, (int[]){ x, mx }, 1, 0, 0, 0), "[B,3]"), "max_axis_grad gives x's shape");
    CHECK(shape_is(g, opn(g, GR_DROPOUT, 2, (int[]){ x, step }, 7, 0, 0, 0.5), "[B,3]"), "dropout keeps the shape");
    int si = opn(g, GR_SHIFT_IDS, 1, &ids, 10, 4, 0, 0);
    CHECK(shape_is(g, si, "[B,4]") && g->nodes[si].dtype == GR_I32, "shift_ids keeps the ids' shape and i32");
    int ci = opn(g, GR_COUNT_IDS, 1, &ids, 10, 0, 0, 0);
    CHECK(shape_is(g, ci, "[B,1]") && g->nodes[ci].dtype == GR_F32, "count_ids gives f32 [B,1]");
    int gw = opn(g, GR_GATHER_WSUM, 3, (int[]){ tab, ids, wts }, 0, 0, 0, 0);
    CHECK(shape_is(g, gw, "[B,5]"), "gather_wsum gives [B,K]");
    CHECK(shape_is(g, opn(g, GR_SCATTER_WADD, 4, (int[]){ ids, wts, gw, tab }, 0, 0, 0, 0), "[10,5]"),
          "scatter_wadd gives the table's shape");
    CHECK(shape_is(g, opn(g, GR_GATHER_DOT, 3, (int[]){ tab, ids, gw }, 0, 0, 0, 0), "[B,4]"), "gather_dot gives the ids' shape");
    int ema = gr_param(g, "ema", gr_shape1(3), GR_INIT_ZEROS, 0, 0, 0, nospan);
    int as = opn(g, GR_ASSIGN_EMA, 2, (int[]){ ema, v }, 0, 0, 0, 0.99);
    CHECK(as != GR_NONE && g->nodes[as].dtype == GR_VOID, "assign_ema is a void update");
    CHECK(g->nerrors == 0, "all of them build (%d errors): %s", g->nerrors, tg_msgs(t));

    static const char *const want[] = {
        "concat: cannot concatenate along the batch axis (axis 0 of [B,3])",
        "concat: shapes [B,3] and [2,1] differ outside axis 1",
        "concat: input 1 is i32, input 0 is f32",
        "slice: elements 2..3 are outside axis 1 of [B,3]",
        "slice: cannot slice the batch axis of [B,3]",
        "pad_slice: the slice has shape [B,3], but [B,8][axis 1: 3..4] is [B,2]",
        "select: shapes [B,3], [B,2] and [] cannot broadcast",
        "transpose: its input must have rank 2, but its shape is [3]",
        "max_axis: axis 2 is outside the 2 axes of [B,3]",
        "max_axis_grad: gradient [B,3] does not match [B,3] without axis 1",
        "dropout: rate 1 is outside [0, 1)",
        "dropout: the step must have shape [1], not [B,4]",
        "dropout: the step must be i32, not f32",
        "assign_ema: value [B,3] differs in shape from the variable's [3]",
        "gather_wsum: weights [B,3] must have the ids' shape [B,4]",
        "scatter_wadd: rows [B,5] do not match ids [B,4] and table [2,3]",
        "count_ids: the table size 0 must be positive",
        "less: shapes [B,3] and [B,2] cannot broadcast",
    };
    int bad[ES_ARRAY_LEN(want)], k = 0;
    bad[k++] = opn(g, GR_CONCAT, 2, (int[]){ x, x }, 0, 0, 0, 0);
    bad[k++] = opn(g, GR_CONCAT, 2, (int[]){ x, c }, 1, 0, 0, 0);
    bad[k++] = opn(g, GR_CONCAT, 2, (int[]){ x, gr_input(g, "xi", GR_I32, gr_shape2(GR_BATCH, 3), nospan) }, 1, 0, 0, 0);
    bad[k++] = opn(g, GR_SLICE, 1, &x, 1, 2, 2, 0);
    bad[k++] = opn(g, GR_SLICE, 1, &x, 0, 0, 1, 0);
    bad[k++] = opn(g, GR_PAD_SLICE, 2, (int[]){ x, cc }, 1, 3, 2, 0);
    bad[k++] = opn(g, GR_SELECT, 3, (int[]){ x, y, gr_scalar(g, 1, nospan) }, 0, 0, 0, 0);
    bad[k++] = opn(g, GR_TRANSPOSE, 1, &v, 0, 0, 0, 0);
    bad[k++] = opn(g, GR_MAX_AXIS, 1, &x, 2, 0, 0, 0);
    bad[k++] = opn(g, GR_MAX_AXIS_GRAD, 2, (int[]){ x, x }, 1, 0, 0, 0);
    bad[k++] = opn(g, GR_DROPOUT, 2, (int[]){ x, step }, 7, 0, 0, 1.0);
    bad[k++] = opn(g, GR_DROPOUT, 2, (int[]){ x, ids }, 7, 0, 0, 0.5);
    bad[k++] = opn(g, GR_DROPOUT, 2, (int[]){ x, gr_input(g, "fstep", GR_F32, gr_shape1(1), nospan) }, 7, 0, 0, 0.5);
    bad[k++] = opn(g, GR_ASSIGN_EMA, 2, (int[]){ ema, x }, 0, 0, 0, 0.9);
    bad[k++] = opn(g, GR_GATHER_WSUM, 3, (int[]){ tab, ids, x }, 0, 0, 0, 0);
    bad[k++] = opn(g, GR_SCATTER_WADD, 4, (int[]){ ids, wts, gw, r2 }, 0, 0, 0, 0);
    bad[k++] = opn(g, GR_COUNT_IDS, 1, &ids, 0, 0, 0, 0);
    bad[k++] = gr_binary(g, GR_LESS, x, y, nospan);
    const char *m = tg_msgs(t);
    for (int i = 0; i < k; i++) {
        CHECK(bad[i] == GR_NONE, "bad build \"%s\" returns GR_NONE", want[i]);
        CHECK(strstr(m, want[i]) != NULL, "message \"%s\" is reported", want[i]);
    }
    CHECK(g->nerrors == k, "one error per bad build (%d of %d)", g->nerrors, k);
    tg_free(t);
}

/* the mask ops.def defines for dropout, written out again from its text */
static uint64_t spec_mix(uint64_t z)
{
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static int spec_keep(int64_t seed, int32_t step, int64_t i, double rate)
{
    const uint64_t G = 0x9E3779B97F4A7C15ull;
    uint64_t key = spec_mix((uint64_t)seed + G * (uint64_t)((int64_t)step + 1));
    uint64_t h = spec_mix(key + G * (uint64_t)(i + 1));
    return (double)(h >> 40) >= ceil(rate * 16777216.0);
}

static void test_model_op_eval(void)
{
    tg *t = tg_new();
    gr_graph *g = t->g;
    int x = gr_input(g, "x", GR_F32, gr_shape2(GR_BATCH, 3), nospan);
    int y = gr_input(g, "y", GR_F32, gr_shape2(GR_BATCH, 1), nospan);
    int two = gr_scalar(g, 2, nospan);
    int lr = opn(g, GR_LEAKY_RELU, 1, &x, 0, 0, 0, 0.2);
    int el = opn(g, GR_ELU, 1, &x, 0, 0, 0, 1.5);
    int cmp[6];
    for (int k = 0; k < 6; k++) cmp[k] = gr_binary(g, (gr_op)(GR_LESS + k), x, two, nospan);
    int nan_ne = gr_binary(g, GR_NOT_EQUAL, y, y, nospan), nan_eq = gr_binary(g, GR_EQUAL, y, y, nospan);
    int col = gr_param(g, "col", gr_shape2(2, 1), GR_INIT_ZEROS, 0, 0, 1, nospan);
    int row = gr_param(g, "row", gr_shape1(3), GR_INIT_ZEROS, 0, 0, 1, nospan);
    int sel = opn(g, GR_SELECT, 3, (int[]){ col, row, gr_scalar(g, 9, nospan) }, 0, 0, 0, 0);
    int cc = opn(g, GR_CONCAT, 3, (int[]){ x, y, x }, 1, 0, 0, 0);                 /* [B,7] */
    int c0 = opn(g, GR_CONCAT, 2, (int[]){ gr_reshape(g, row, gr_shape2(1, 3), nospan), gr_binary(g, GR_BROADCAST, col, gr_param(g, "l23", gr_shape2(2, 3), GR_INIT_ZEROS, 0, 0, 1, nospan), nospan) }, 0, 0, 0, 0);
    int sl = opn(g, GR_SLICE, 1, &cc, 1, 2, 3, 0);                                 /* x[:,2], y, x[:,0] */
    int ps = opn(g, GR_PAD_SLICE, 2, (int[]){ sl, cc }, 1, 2, 3, 0);
    int tr = opn(g, GR_TRANSPOSE, 1, &x, 0, 0, 0, 0);
    int m0 = opn(g, GR_MEAN_AXIS, 1, &x, 0, 0, 0, 0), m1 = opn(g, GR_MEAN_AXIS, 1, &x, 1, 0, 0, 0);
    int mx = opn(g, GR_MAX_AXIS, 1, &x, 1, 0, 0, 0);
    int gin = gr_input(g, "g", GR_F32, gr_shape1(GR_BATCH), nospan);
    int mg = opn(g, GR_MAX_AXIS_GRAD, 2, (int[]){ x, gin }, 1, 0, 0, 0);
    int ids = gr_input(g, "ids", GR_I32, gr_shape2(GR_BATCH, 3), nospan);
    int ci = opn(g, GR_COUNT_IDS, 1, &ids, 6, 0, 0, 0);
    int W = gr_param(g, "W", gr_shape2(4, 2), GR_INIT_ZEROS, 0, 0, 1, nospan);
    int id2 = gr_input(g, "id2", GR_I32, gr_shape2(GR_BATCH, 2), nospan);
    int wts = gr_input(g, "wts", GR_F32, gr_shape2(GR_BATCH, 2), nospan);
    int rows = gr_input(g, "rows", GR_F32, gr_shape2(GR_BATCH, 2), nospan);
    int gw = opn(g, GR_GATHER_WSUM, 3, (int[]){ W, id2, wts }, 0, 0, 0, 0);
    int sw = opn(g, GR_SCATTER_WADD, 4, (int[]){ id2, wts, rows, W }, 0, 0, 0, 0);
    int gd = opn(g, GR_GATHER_DOT, 3, (int[]){ W, id2, rows }, 0, 0, 0, 0);
    int ema = gr_param(g, "ema", gr_shape1(3), GR_INIT_ZEROS, 0, 0, 0, nospan);
    opn(g, GR_ASSIGN_EMA, 2, (int[]){ ema, row }, 0, 0, 0, 0.9);
    CHECK(g->nerrors == 0, "the graph builds: %s", tg_msgs(t));
    tg_alloc(t, 2);
    float xv[6] = { -2, 0, 3, 5, 5, NAN };
    memcpy(F(t, x), xv, sizeof xv);
    F(t, y)[0] = 7; F(t, y)[1] = NAN;
    F(t, col)[0] = 1; F(t, col)[1] = 0;
    float rv[3] = { 1, 2, 3 };
    memcpy(F(t, row), rv, sizeof rv);
    F(t, gin)[0] = 10;
    F(t, gin)[1] = 20;
    int32_t iv[6] = { 0, -1, 5, 2, 2, 6 };            /* 6 is out of range for 6 rows */
    memcpy(Iv(t, ids), iv, sizeof iv);
    float Wv[8] = { 1, 2, 3, 4, 5, 6, 7, 8 };
    memcpy(F(t, W), Wv, sizeof Wv);
    int32_t i2[4] = { 0, 2, 3, -1 };
    memcpy(Iv(t, id2), i2, sizeof i2);
    float wv[4] = { 0.5f, 2, 1, 100 };
    memcpy(F(t, wts), wv, sizeof wv);
    float rw[4] = { 1, 1, 2, 3 };
    memcpy(F(t, rows), rw, sizeof rw);
    float ev[3] = { 10, 20, 30 };
    memcpy(F(t, ema), ev, sizeof ev);
    gr_eval(g, t->bufs, 2);

    CHECK(F(t, lr)[0] == -0.4f && F(t, lr)[1] == 0 && F(t, lr)[2] == 3, "leaky_relu: alpha x below 0, x above");
    CHECK(check_close(F(t, el)[0], 1.5 * (exp(-2.0) - 1), 1e-6, 0) && F(t, el)[1] == 0 && F(t, el)[2] == 3,
          "elu: alpha (exp(x) - 1) below 0, x above");
    /* x row 0 = -2, 0, 3 against 2 */
    static const float cw[6][3] = { { 1, 1, 0 }, { 1, 1, 0 }, { 0, 0, 1 }, { 0, 0, 1 }, { 0, 0, 0 }, { 1, 1, 1 } };
    for (int k = 0; k < 6; k++)
        CHECK(memcmp(F(t, cmp[k]), cw[k], sizeof cw[k]) == 0, "%s of (-2, 0, 3) and 2", gr_ops[GR_LESS + k].name);
    CHECK(F(t, cmp[4])[4] == 0 && F(t, cmp[3])[4] == 1 && F(t, cmp[0])[5] == 0 && F(t, cmp[3])[5] == 0,
          "equal(5, 2) is 0, greater_equal(5, 2) 1; any order with NaN is 0");
    CHECK(F(t, nan_ne)[0] == 0 && F(t, nan_ne)[1] == 1 && F(t, nan_eq)[0] == 1 && F(t, nan_eq)[1] == 0,
          "NaN != NaN is 1 and NaN == NaN is 0, as IEEE says");
    float sw_[6] = { 1, 2, 3, 9, 9, 9 };
    CHECK(memcmp(F(t, sel), sw_, sizeof sw_) == 0, "select: cond [2,1] picks the row [3] or the scalar 9");
    float ccw[14] = { -2, 0, 3, 7, -2, 0, 3, 5, 5, NAN, NAN, 5, 5, NAN };
    int cc_ok = 1;
    for (int i = 0; i < 14; i++) cc_ok &= check_close(F(t, cc)[i], ccw[i], 0, 0);
    CHECK(cc_ok, "concat on the last axis interleaves the rows of its inputs");
    float c0w[9] = { 1, 2, 3, 1, 1, 1, 0, 0, 0 };
    CHECK(memcmp(F(t, c0), c0w, sizeof c0w) == 0, "concat on axis 0 stacks the blocks");
    CHECK(F(t, sl)[0] == 3 && F(t, sl)[1] == 7 && F(t, sl)[2] == -2 && isnan(F(t, sl)[4]) && F(t, sl)[5] == 5,
          "slice keeps elements 2..4 of each row");
    CHECK(F(t, ps)[0] == 0 && F(t, ps)[1] == 0 && F(t, ps)[2] == 3 && F(t, ps)[4] == -2 && F(t, ps)[5] == 0 &&
          F(t, ps)[6] == 0 && F(t, ps)[7] == 0 && isnan(F(t, ps)[9]) && F(t, ps)[11] == 5 && F(t, ps)[13] == 0,
          "pad_slice puts the slice back between zeros");
    CHECK(F(t, tr)[0] == -2 && F(t, tr)[1] == 5 && F(t, tr)[2] == 0 && F(t, tr)[3] == 5 && F(t, tr)[4] == 3,
          "transpose [2,3] -> [3,2]");
    CHECK(F(t, m0)[0] == 1.5f && F(t, m0)[1] == 2.5f && isnan(F(t, m0)[2]), "mean_axis 0 divides by B");
    CHECK(check_close(F(t, m1)[0], 1.0 / 3.0, 1e-7, 0) && isnan(F(t, m1)[1]), "mean_axis 1 divides by 3");
    CHECK(F(t, mx)[0] == 3 && F(t, mx)[1] == 5, "max_axis skips NaN");
    float mgw[6] = { 0, 0, 10, 20, 0, 0 };
    CHECK(memcmp(F(t, mg), mgw, sizeof mgw) == 0, "max_axis_grad: all to the first maximum");
    CHECK(F(t, ci)[0] == 2 && F(t, ci)[1] == 2, "count_ids: -1 and 6 (of 6 rows) are not counted");
    float gww[4] = { 0.5f * 1 + 2 * 5, 0.5f * 2 + 2 * 6, 7, 8 };
    CHECK(memcmp(F(t, gw), gww, sizeof gww) == 0, "gather_wsum: weighted rows; an invalid id adds nothing");
    float sww[8] = { 0.5f, 0.5f, 0, 0, 2, 2, 2, 3 };
    CHECK(memcmp(F(t, sw), sww, sizeof sww) == 0, "scatter_wadd: each valid id gets its weight times its example's row");
    float gdw[4] = { 1 + 2, 5 + 6, 7 * 2 + 8 * 3, 0 };
    CHECK(memcmp(F(t, gd), gdw, sizeof gdw) == 0, "gather_dot: W[id] . rows[b], 0 for an invalid id");
    CHECK(check_close(F(t, ema)[0], 9.1, 1e-6, 0) && check_close(F(t, ema)[2], 27.3, 1e-6, 0),
          "assign_ema: 0.9 var + 0.1 value");
    tg_free(t);

    /* dropout: the documented mask, its scale, and its dependence on seed and step */
    t = tg_new();
    g = t->g;
    enum { W_ = 1000 };
    x = gr_input(g, "x", GR_F32, gr_shape2(GR_BATCH, W_), nospan);
    int step = gr_input(g, "global_step", GR_I32, gr_shape1(1), nospan);
    int d1 = opn(g, GR_DROPOUT, 2, (int[]){ x, step }, 42, 0, 0, 0.3);
    int d2 = opn(g, GR_DROPOUT, 2, (int[]){ x, step }, 43, 0, 0, 0.3);
    int d0 = opn(g, GR_DROPOUT, 2, (int[]){ x, step }, 42, 0, 0, 0.0);
    tg_alloc(t, 2);
    for (int i = 0; i < 2 * W_; i++) F(t, x)[i] = 1.0f + (float)(i % 7);
    float *first = malloc(2 * W_ * sizeof(float));
    int mism = 0, kept = 0, bad_scale = 0, diff_seed = 0, diff_step = 0, drop0 = 0;
    for (int s = 0; s < 2; s++) {
        Iv(t, step)[0] = 5 + s;
        gr_eval(g, t->bufs, 2);
        for (int i = 0; i < 2 * W_; i++) {
            float o = F(t, d1)[i], xi = F(t, x)[i];
            int keep = spec_keep(42, 5 + s, i, 0.3);
            mism += keep != (o != 0);
            if (s == 0) {
                kept += o != 0;
                bad_scale += o != 0 && o != xi * (float)(1 / 0.7);
                diff_seed += (o != 0) != (F(t, d2)[i] != 0);
                drop0 += F(t, d0)[i] != xi;
                first[i] = o;
            } else {
                diff_step += (o != 0) != (first[i] != 0);
            }
        }
    }
    CHECK(mism == 0, "dropout's mask is ops.def's formula (%d elements differ)", mism);
    /* 2000 draws at p = 0.7: sd = sqrt(2000 * 0.21) = 20.5, so +-80 is about 4 sd */
    CHECK(kept > 1400 - 80 && kept < 1400 + 80, "dropout keeps about 70%% (%d of 2000)", kept);
    CHECK(bad_scale == 0, "kept elements are scaled by 1/(1 - rate)");
    CHECK(diff_seed > 400 && diff_step > 400, "another seed (%d) or step (%d) gives another mask", diff_seed, diff_step);
    CHECK(drop0 == 0, "rate 0 keeps every element unchanged");
    free(first);
    tg_free(t);
}

/* ---- initialisers ------------------------------------------------------------ */

static void test_init(void)
{
    es_rng rng;
    es_rng_seed(&rng, 7);
    gr_node p;
    memset(&p, 0, sizeof p);
    p.op = GR_PARAM;
    p.shape = gr_shape2(200, 300);
    int64_t ne = 200 * 300;
    float *v = malloc((size_t)ne * sizeof *v);
    struct { gr_init init; double f0, f1, lo, hi, mean, sd; } cases[] = {
        { GR_INIT_ZEROS, 0, 0, 0, 0, 0, 0 },
        { GR_INIT_CONST, 0.1, 0, 0.1, 0.1, 0.1, 0 },
        { GR_INIT_UNIFORM, -2, 3, -2, 3, 0.5, 5 / sqrt(12.0) },
        { GR_INIT_NORMAL, 1, 0.5, -INFINITY, INFINITY, 1, 0.5 },
        /* a standard normal truncated at 2 has stddev 0.8796 */
        { GR_INIT_TRUNC_NORMAL, 1, 0.5, 0, 2, 1, 0.5 * 0.87962566103423978 },
        { GR_INIT_GLOROT_UNIFORM, 0, 0, -sqrt(6.0 / 500), sqrt(6.0 / 500), 0, sqrt(6.0 / 500) / sqrt(3.0) },
        { GR_INIT_GLOROT_NORMAL, 0, 0, -2 * sqrt(2.0 / 500) / 0.87962566103423978,
          2 * sqrt(2.0 / 500) / 0.87962566103423978, 0, sqrt(2.0 / 500) },
        { GR_INIT_HE_NORMAL, 0, 0, -2 * sqrt(2.0 / 200) / 0.87962566103423978,
          2 * sqrt(2.0 / 200) / 0.87962566103423978, 0, sqrt(2.0 / 200) },
    };
    for (size_t c = 0; c < ES_ARRAY_LEN(cases); c++) {
        p.a[0] = cases[c].init;
        p.f[0] = cases[c].f0;
        p.f[1] = cases[c].f1;
        gr_init_param(&p, v, &rng);
        double s = 0, s2 = 0;
        int out = 0;
        for (int64_t i = 0; i < ne; i++) {
            s += v[i];
            s2 += (double)v[i] * v[i];
            out += v[i] < (float)cases[c].lo || v[i] > (float)cases[c].hi;
        }
        double mean = s / (double)ne, sd = sqrt(s2 / (double)ne - mean * mean);
        CHECK(out == 0, "init %zu: %d values outside [%g, %g]", c, out, cases[c].lo, cases[c].hi);
        /* 60000 draws: the sample mean is within ~4 standard errors */
        CHECK(fabs(mean - cases[c].mean) <= 4 * cases[c].sd / sqrt((double)ne) + 1e-6,
              "init %zu: mean %g, expected %g", c, mean, cases[c].mean);
        CHECK(fabs(sd - cases[c].sd) <= 0.02 * cases[c].sd + 1e-6, "init %zu: stddev %g, expected %g", c, sd, cases[c].sd);
    }
    /* rank 1: fan_in = fan_out = d[0] */
    p.shape = gr_shape1(24);
    p.a[0] = GR_INIT_GLOROT_UNIFORM;
    gr_init_param(&p, v, &rng);
    int out = 0;
    for (int i = 0; i < 24; i++) out += fabs(v[i]) > sqrt(6.0 / 48);
    CHECK(out == 0, "glorot uniform of a vector uses fan_in = fan_out = d[0]");
    free(v);
}

/* ---- optimizers: one step against the formulas of ops.def, in double ----------- */

enum { V = 5, K = 2, NB = 4, M = 2 };

typedef struct ref_state { double w[V * K], s1[V * K], s2[V * K], step; } ref_state;

static void ref_update(gr_opt_kind kind, const gr_optimizer *o, double t, double g, double *w, double *s1, double *s2)
{
    switch (kind) {
    case GR_OPT_SGD:
        *w -= o->lr * g;
        break;
    case GR_OPT_ADAGRAD:
        *s1 += g * g;
        *w -= o->lr * g / (sqrt(*s1) + o->eps);
        break;
    case GR_OPT_ADAM:
        *s1 = o->beta1 * *s1 + (1 - o->beta1) * g;
        *s2 = o->beta2 * *s2 + (1 - o->beta2) * g * g;
        *w -= o->lr * sqrt(1 - pow(o->beta2, t)) / (1 - pow(o->beta1, t)) * *s1 / (sqrt(*s2) + o->eps);
        break;
    case GR_OPT_FTRL: {
        /* TensorFlow's ApplyFtrl: new_accum, sigma, linear, quadratic, then w */
        double p = o->lr_power, acc = *s1, an = acc + g * g;
        double sigma = (pow(an, -p) - pow(acc, -p)) / o->lr;
        *s2 += g - sigma * *w;
        double quad = pow(an, -p) / o->lr + 2 * o->l2;
        if (fabs(*s2) > o->l1) *w = ((*s2 > 0 ? o->l1 : -o->l1) - *s2) / quad;
        else *w = 0;
        *s1 = an;
        break;
    }
    }
}

static void test_optimizer(gr_opt_kind kind, int sparse)
{
    static const char *names[] = { "sgd", "adagrad", "adam", "ftrl" };
    tg *t = tg_new();
    gr_graph *g = t->g;
    int w = gr_param(g, "w", gr_shape2(V, K), GR_INIT_ZEROS, 0, 0, 1, nospan);
    gr_grad gd = { w, GR_NONE, GR_NONE, GR_NONE };
    int ids = GR_NONE, rows = GR_NONE, dense = GR_NONE;
    if (sparse) {
        ids = gr_input(g, "ids", GR_I32, gr_shape2(GR_BATCH, M), nospan);
        rows = gr_input(g, "rows", GR_F32, gr_shape2(GR_BATCH, K), nospan);
        gd.ids = ids;
        gd.rows = rows;
    } else {
        dense = gr_input(g, "grad", GR_F32, gr_shape2(V, K), nospan);
        gd.dense = dense;
    }
    gr_optimizer o;
    gr_optimizer_defaults(&o, kind);
    o.lr = 0.3;
    o.eps = kind == GR_OPT_ADAGRAD ? 0.01 : o.eps;
    o.l1 = 0.3;
    o.l2 = 0.02;
    CHECK(gr_apply_optimizer(g, &gd, 1, &o, nospan) == 0, "%s: optimizer builds", names[kind]);
    int s1 = GR_NONE, s2 = GR_NONE, step = GR_NONE;
    const char *n1 = kind == GR_OPT_ADAM ? "w/m" : "w/accum", *n2 = kind == GR_OPT_ADAM ? "w/v" : "w/linear";
    if (kind != GR_OPT_SGD) s1 = gr_find_named(g, GR_PARAM, n1);
    if (kind == GR_OPT_ADAM || kind == GR_OPT_FTRL) s2 = gr_find_named(g, GR_PARAM, n2);
    if (kind == GR_OPT_ADAM) step = gr_find_named(g, GR_PARAM, "w/step");
    CHECK(kind == GR_OPT_SGD || s1 != GR_NONE, "%s: slot %s exists", names[kind], n1);
    CHECK((kind != GR_OPT_ADAM && kind != GR_OPT_FTRL) || s2 != GR_NONE, "%s: slot %s exists", names[kind], n2);
    CHECK(kind != GR_OPT_ADAM || (step != GR_NONE && shape_is(g, step, "[1]")), "adam: step slot [1] exists");
    if (s1 != GR_NONE) {
        const gr_node *sn = &g->nodes[s1];
        CHECK(sn->a[1] == 0, "%s: slots are not trainable", names[kind]);
        int accum = kind == GR_OPT_ADAGRAD || kind == GR_OPT_FTRL;
        CHECK(accum ? sn->a[0] == GR_INIT_CONST && sn->f[0] == 0.1 : sn->a[0] == GR_INIT_ZEROS,
              "%s: %s starts at %s", names[kind], n1, accum ? "0.1" : "zeros");
    }
    es_status st;
    es_status_clear(&st);
    CHECK(gr_verify(g, &st) == 0, "%s: verifies: %s", names[kind], st.msg);
    if ((kind != GR_OPT_SGD && s1 == GR_NONE) || g->nerrors) { tg_free(t); return; }
    tg_alloc(t, NB);

    es_rng rng;
    es_rng_seed(&rng, 99 + (uint64_t)kind);
    ref_state r;
    for (int i = 0; i < V * K; i++) {
        r.w[i] = F(t, w)[i] = (float)(es_rng_uniform(&rng) - 0.5);
        if (s1 != GR_NONE)   /* accumulators positive; adam's m any sign */
            r.s1[i] = F(t, s1)[i] = (float)(kind == GR_OPT_ADAM ? es_rng_uniform(&rng) - 0.5 : 0.05 + es_rng_uniform(&rng));
        if (s2 != GR_NONE)
            r.s2[i] = F(t, s2)[i] = (float)(kind == GR_OPT_ADAM ? 0.01 + es_rng_uniform(&rng) : 0.2 * (es_rng_uniform(&rng) - 0.5));
    }
    if (step != GR_NONE) r.step = F(t, step)[0] = 3;     /* t = 4 in this apply */
    double gsum[V * K] = { 0 };
    int touched[V] = { 0 };
    if (sparse) {
        int32_t idv[NB * M] = { 3, 1, 1, -1, 3, 9, 0, 3 };   /* 3 thrice, 1 twice; -1 and 9 skipped */
        memcpy(Iv(t, ids), idv, sizeof idv);
        for (int b = 0; b < NB; b++)
            for (int k = 0; k < K; k++) F(t, rows)[b * K + k] = (float)(es_rng_uniform(&rng) - 0.5);
        for (int b = 0; b < NB; b++)
            for (int m = 0; m < M; m++) {
                int id = idv[b * M + m];
                if (id < 0 || id >= V) continue;
                touched[id] = 1;
                for (int k = 0; k < K; k++) gsum[id * K + k] += F(t, rows)[b * K + k];
            }
    } else {
        for (int i = 0; i < V * K; i++) gsum[i] = F(t, dense)[i] = (float)(es_rng_uniform(&rng) - 0.5);
        for (int v = 0; v < V; v++) touched[v] = 1;
    }
    ref_state before = r;
    double tt = r.step + 1;
    for (int v = 0; v < V; v++)
        for (int k = 0; k < K; k++) {
            int i = v * K + k;
            if (touched[v]) ref_update(kind, &o, tt, gsum[i], &r.w[i], &r.s1[i], &r.s2[i]);
        }
    gr_eval(g, t->bufs, NB);
    int bad = 0, moved_untouched = 0, zeroed = 0;
    for (int i = 0; i < V * K; i++) {
        bad += !check_close(F(t, w)[i], r.w[i], 1e-5, 1e-6);
        if (s1 != GR_NONE) bad += !check_close(F(t, s1)[i], r.s1[i], 1e-5, 1e-6);
        if (s2 != GR_NONE) bad += !check_close(F(t, s2)[i], r.s2[i], 1e-5, 1e-6);
        if (!touched[i / K]) moved_untouched += F(t, w)[i] != (float)before.w[i];
        zeroed += touched[i / K] && r.w[i] == 0;
    }
    CHECK(bad == 0, "%s %s: one apply matches the formula (%d values differ)", names[kind],
          sparse ? "sparse" : "dense", bad);
    CHECK(moved_untouched == 0, "%s sparse: untouched rows stay", names[kind]);
    if (kind == GR_OPT_FTRL) CHECK(zeroed > 0 && zeroed < 10, "ftrl: the l1 threshold zeroes some weights only (%d)", zeroed);
    if (step != GR_NONE) CHECK(F(t, step)[0] == 4, "adam: the step counter advances once per apply");
    tg_free(t);
}

static void test_optimizer_defaults(void)
{
    gr_optimizer o;
    gr_optimizer_defaults(&o, GR_OPT_ADAM);
    CHECK(o.beta1 == 0.9 && o.beta2 == 0.999 && o.eps == 1e-8, "adam defaults as TensorFlow 1.x");
    gr_optimizer_defaults(&o, GR_OPT_FTRL);
    CHECK(o.initial_accum == 0.1 && o.lr_power == -0.5 && o.l1 == 0 && o.l2 == 0, "ftrl defaults");
    gr_optimizer_defaults(&o, GR_OPT_ADAGRAD);
    CHECK(o.initial_accum == 0.1 && o.eps == 0, "adagrad defaults");
}

/* autodiff refuses a loss that reaches a parameter only through step/sign */
static void test_autodiff_errors(void)
{
    tg *t = tg_new();
    gr_graph *g = t->g;
    int w = gr_param(g, "w", gr_shape1(3), GR_INIT_ZEROS, 0, 0, 1, nospan);
    int l = gr_unary(g, GR_SUM, gr_unary(g, GR_STEP, w, nospan), nospan);
    gr_grad *gs;
    int n;
    CHECK(gr_autodiff(g, l, &gs, &n) != 0, "a path through step is refused");
    CHECK(strstr(tg_msgs(t), "through step, which has no useful gradient") != NULL, "and says why: %s", tg_msgs(t));
    int v = gr_unary(g, GR_EXP, w, nospan);
    CHECK(gr_autodiff(g, v, &gs, &n) != 0 && strstr(tg_msgs(t), "the loss must be an f32 scalar"),
          "a non-scalar loss is refused");
    /* a frozen param and inputs get no gradient */
    int fz = gr_param(g, "frozen", gr_shape1(3), GR_INIT_ZEROS, 0, 0, 0, nospan);
    int x = gr_input(g, "x", GR_F32, gr_shape1(3), nospan);
    int l2 = gr_unary(g, GR_SUM, gr_binary(g, GR_MUL, gr_binary(g, GR_MUL, x, fz, nospan), gr_unary(g, GR_EXP, w, nospan), nospan), nospan);
    CHECK(gr_autodiff(g, l2, &gs, &n) == 0 && n == 1 && gs[0].param == w, "only trainable params get gradients");
    /* a parameter reached only through a comparison gets no gradient, and that is no error */
    int u = gr_param(g, "u", gr_shape1(3), GR_INIT_ZEROS, 0, 0, 1, nospan);
    int l3 = gr_unary(g, GR_SUM, gr_binary(g, GR_MUL, gr_binary(g, GR_LESS, u, x, nospan), x, nospan), nospan);
    CHECK(gr_autodiff(g, l3, &gs, &n) == 0 && n == 0, "a comparison passes no gradient (%d gradients)", n);
    /* a second derivative through max_axis_grad is refused */
    int64_t ax0[4] = { 0, 0, 0, 0 };
    int mg = gr_op_node(g, GR_MAX_AXIS_GRAD, 2, (int[]){ x, gr_unary(g, GR_SUM, w, nospan) }, ax0, NULL, nospan);
    CHECK(gr_autodiff(g, gr_unary(g, GR_SUM, mg, nospan), &gs, &n) != 0 &&
          strstr(tg_msgs(t), "through max_axis_grad, which has no useful gradient"), "max_axis_grad has no gradient");
    tg_free(t);
}

int main(void)
{
    test_shapes();
    test_shape_errors();
    test_verify();
    test_arena_reuse();
    test_dce();
    test_text();
    test_eval();
    test_model_op_shapes();
    test_model_op_eval();
    test_init();
    for (int k = GR_OPT_SGD; k <= GR_OPT_FTRL; k++) {
        test_optimizer((gr_opt_kind)k, 0);
        test_optimizer((gr_opt_kind)k, 1);
    }
    test_optimizer_defaults();
    test_autodiff_errors();
    return check_done("test_graph");
}

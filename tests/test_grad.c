/*
 * test_grad.c — every differentiable op's gradient against central finite
 * differences, through gr_autodiff and the reference evaluator.
 *
 * Each case builds a small graph whose outputs y_k use the op (with
 * broadcasting and a batch dimension B = 3 where the op allows), adds
 * loss = sum_k SUM(y_k * r_k) with random weights r_k fed as inputs, and
 * differentiates. The finite-difference loss is recomputed in double from the
 * y_k buffers (not through the f32 SUM) so that rounding stays far below the
 * tolerance. Values are drawn away from kinks (relu, abs, max/min ties) and
 * from the edges of domains (log, sqrt, div).
 */
#include "../graph/graph.h"
#include "check.h"

#include <math.h>
#include <stdlib.h>

enum { BATCH = 3, MAXN = 512 };

typedef enum { V_UNI, V_POS, V_AWAY, V_SMALL, V_TINY, V_GRIDA, V_GRIDB, V_PROB, V_BIN, V_ONE, V_SPREAD,
               V_IDS } vkind;

typedef struct gcase {
    const char *name;
    es_arena *arena;
    es_diags diags;
    gr_graph *g;
    es_span sp;
    int outs[16], nout;
    vkind kind[MAXN];
    const int *ids[MAXN];
    int nids[MAXN];
    int want_sparse[MAXN];   /* 1: expect (ids, rows); 0: dense; -1: not a param of the case */
    int nparams;
} gcase;

static gcase *begin(const char *name)
{
    gcase *c = calloc(1, sizeof *c);
    c->name = name;
    c->arena = es_arena_new();
    es_diags_init(&c->diags, stderr);
    c->g = gr_new(c->arena, &c->diags);
    for (int i = 0; i < MAXN; i++) c->want_sparse[i] = -1;
    return c;
}

static int P(gcase *c, const char *name, gr_shape s, vkind k)
{
    int id = gr_param(c->g, name, s, GR_INIT_ZEROS, 0, 0, 1, c->sp);
    c->kind[id] = k;
    c->want_sparse[id] = 0;
    c->nparams++;
    return id;
}

static int X(gcase *c, const char *name, gr_shape s, vkind k)
{
    int id = gr_input(c->g, name, GR_F32, s, c->sp);
    c->kind[id] = k;
    return id;
}

static int I(gcase *c, const char *name, gr_shape s, const int *vals, int n)
{
    int id = gr_input(c->g, name, GR_I32, s, c->sp);
    c->kind[id] = V_IDS;
    c->ids[id] = vals;
    c->nids[id] = n;
    return id;
}

static void OUT(gcase *c, int y) { c->outs[c->nout++] = y; }

static gr_shape S3(int64_t a, int64_t b, int64_t d)
{
    gr_shape s = gr_shape2(a, b);
    s.rank = 3;
    s.d[2] = d;
    return s;
}

static float draw(es_rng *r, vkind k)
{
    static const float grida[] = { -1.0f, -0.6f, -0.2f, 0.2f, 0.6f, 1.0f };
    static const float gridb[] = { -0.8f, -0.4f, 0.0f, 0.4f, 0.8f };
    double u = es_rng_uniform(r);
    switch (k) {
    case V_UNI: return (float)(2 * u - 1);
    case V_POS: return (float)(0.5 + u);
    case V_AWAY: return (float)((es_rng_uniform(r) < 0.5 ? -1 : 1) * (0.3 + 0.7 * u));
    case V_SMALL: return (float)(0.2 * u - 0.1);
    case V_TINY: return (float)(0.04 * u - 0.02);
    case V_GRIDA: return grida[es_rng_below(r, 6)];
    case V_GRIDB: return gridb[es_rng_below(r, 5)];
    case V_PROB: return (float)u;
    case V_BIN: return u < 0.5 ? 0.0f : 1.0f;
    case V_ONE: return 1.0f;
    case V_SPREAD: case V_IDS: break;    /* by position: see spread() */
    }
    return 0;
}

/* element j of a V_SPREAD tensor: distinct values in [-1, 1) at least 2/53
 * apart for j < 53, so a nudge of eps = 0.01 never reorders them */
static float spread(int64_t j) { return (float)((double)((j * 37) % 53) / 26.5 - 1); }

/* the loss in double from the outputs' buffers */
static double loss_of(gcase *c, void **bufs, const int *r)
{
    double L = 0;
    for (int k = 0; k < c->nout; k++) {
        const gr_node *y = &c->g->nodes[c->outs[k]];
        const float *yv = bufs[y->buf], *rv = bufs[c->g->nodes[r[k]].buf];
        int64_t ne = gr_numel(y->shape, BATCH);
        for (int64_t i = 0; i < ne; i++) L += (double)yv[i] * rv[i];
    }
    return L;
}

static void run(gcase *c)
{
    gr_graph *g = c->g;
    int r[16], loss = GR_NONE;
    CHECK(g->nerrors == 0, "%s: building the case failed", c->name);
    if (g->nerrors) return;
    for (int k = 0; k < c->nout; k++) {
        char nm[16];
        snprintf(nm, sizeof nm, "__r%d", k);
        r[k] = X(c, nm, g->nodes[c->outs[k]].shape, V_UNI);
        int s = gr_unary(g, GR_SUM, gr_binary(g, GR_MUL, c->outs[k], r[k], c->sp), c->sp);
        loss = loss == GR_NONE ? s : gr_binary(g, GR_ADD, loss, s, c->sp);
    }
    gr_grad *grads;
    int ngrads;
    int rc = gr_autodiff(g, loss, &grads, &ngrads);
    CHECK(rc == 0 && g->nerrors == 0, "%s: autodiff failed", c->name);
    if (rc) return;
    CHECK(ngrads == c->nparams, "%s: %d gradients for %d parameters", c->name, ngrads, c->nparams);
    es_status st;
    es_status_clear(&st);
    CHECK(gr_verify(g, &st) == 0, "%s: graph after autodiff does not verify: %s", c->name, st.msg);

    gr_bind(g);
    void **bufs = calloc((size_t)g->nbufs, sizeof *bufs);
    es_rng rng;
    es_rng_seed(&rng, 1234);
    for (int i = 0; i < g->n; i++) {
        const gr_node *n = &g->nodes[i];
        if (n->buf < 0) continue;
        size_t nb = gr_buf_bytes(g, i, BATCH);
        bufs[n->buf] = calloc(1, nb ? nb : 4);
        if (n->op != GR_PARAM && n->op != GR_INPUT) continue;
        int64_t ne = gr_numel(n->shape, BATCH);
        if (c->kind[i] == V_IDS) {
            int32_t *iv = bufs[n->buf];
            for (int64_t j = 0; j < ne; j++) iv[j] = c->ids[i][j % c->nids[i]];
        } else {
            float *fv = bufs[n->buf];
            for (int64_t j = 0; j < ne; j++) fv[j] = c->kind[i] == V_SPREAD ? spread(j) : draw(&rng, c->kind[i]);
        }
    }
    gr_eval(g, bufs, BATCH);
    double L0 = loss_of(c, bufs, r);
    CHECK(check_close(*(float *)bufs[g->nodes[loss].buf], L0, 1e-4, 1e-5),
          "%s: the graph's loss %g differs from the double recomputation %g", c->name,
          *(float *)bufs[g->nodes[loss].buf], L0);

    /* every analytic gradient as a dense array (sparse rows scattered), taken
     * before any finite-difference evaluation disturbs the buffers */
    double **an = calloc((size_t)(ngrads ? ngrads : 1), sizeof *an);
    for (int q = 0; q < ngrads; q++) {
        const gr_grad *gd = &grads[q];
        const gr_node *p = &g->nodes[gd->param];
        int64_t ne = gr_numel(p->shape, 1);
        int sparse = gd->dense == GR_NONE;
        CHECK(sparse == c->want_sparse[gd->param], "%s: gradient of %s is %s, expected %s", c->name,
              p->name, sparse ? "sparse" : "dense", sparse ? "dense" : "sparse");
        an[q] = calloc((size_t)ne, sizeof **an);
        if (!sparse) {
            const float *gv = bufs[g->nodes[gd->dense].buf];
            for (int64_t j = 0; j < ne; j++) an[q][j] = gv[j];
        } else {
            const gr_node *idn = &g->nodes[gd->ids];
            const int32_t *ids = bufs[idn->buf];
            const float *rows = bufs[g->nodes[gd->rows].buf];
            int64_t V = p->shape.d[0], K = p->shape.d[1];
            int64_t N = BATCH, M = idn->shape.rank == 2 ? idn->shape.d[1] : 1;
            for (int64_t b = 0; b < N; b++)
                for (int64_t m = 0; m < M; m++) {
                    int64_t id = ids[b * M + m];
                    if (id < 0 || id >= V) continue;
                    for (int64_t k = 0; k < K; k++) an[q][id * K + k] += rows[b * K + k];
                }
        }
    }
    const double eps = 1e-2;
    for (int q = 0; q < ngrads; q++) {
        const gr_node *p = &g->nodes[grads[q].param];
        int64_t ne = gr_numel(p->shape, 1);
        float *pv = bufs[p->buf];
        int bad = 0;
        for (int64_t j = 0; j < ne; j++) {
            float v0 = pv[j];
            pv[j] = (float)(v0 + eps);
            gr_eval(g, bufs, BATCH);
            double Lp = loss_of(c, bufs, r);
            pv[j] = (float)(v0 - eps);
            gr_eval(g, bufs, BATCH);
            double Lm = loss_of(c, bufs, r);
            pv[j] = v0;
            double fd = (Lp - Lm) / ((double)(float)(v0 + eps) - (double)(float)(v0 - eps));
            if (!check_close(an[q][j], fd, 2e-2, 2e-3)) {
                if (bad++ < 4)
                    fprintf(stderr, "  %s: d loss / d %s[%lld]: autodiff %.6g, finite differences %.6g\n",
                            c->name, p->name, (long long)j, an[q][j], fd);
            }
        }
        CHECK(bad == 0, "%s: gradient of %s wrong in %d of %lld elements", c->name, p->name, bad,
              (long long)ne);
        free(an[q]);
    }
    free(an);
    for (int i = 0; i < g->nbufs; i++) free(bufs[i]);
    free(bufs);
}

static void finish(gcase *c)
{
    run(c);
    es_arena_free(c->arena);
    free(c);
}

/* ---- cases ------------------------------------------------------------------- */

static const gr_op unary_ops[] = {
    GR_NEG, GR_EXP, GR_LOG, GR_SQRT, GR_ABS, GR_SQUARE, GR_SIGMOID, GR_TANH, GR_RELU, GR_SOFTPLUS,
};

static void test_unary(void)
{
    for (size_t k = 0; k < ES_ARRAY_LEN(unary_ops); k++) {
        gr_op op = unary_ops[k];
        gcase *c = begin(gr_ops[op].name);
        int domain = op == GR_LOG || op == GR_SQRT;
        int kink = op == GR_ABS || op == GR_RELU;
        vkind big = domain ? V_POS : kink ? V_AWAY : V_UNI;
        /* y = op(p) on a param directly, and op(x + q) with q broadcast over [B,4] */
        int p = P(c, "p", gr_shape2(3, 4), big);
        OUT(c, gr_unary(c->g, op, p, c->sp));
        int x = X(c, "x", gr_shape2(GR_BATCH, 4), big);
        int q = P(c, "q", gr_shape1(4), domain || kink ? V_SMALL : V_UNI);
        OUT(c, gr_unary(c->g, op, gr_binary(c->g, GR_ADD, x, q, c->sp), c->sp));
        finish(c);
    }
}

static const gr_op binary_ops[] = { GR_ADD, GR_SUB, GR_MUL, GR_DIV, GR_MAXIMUM, GR_MINIMUM };

static void test_binary(void)
{
    for (size_t k = 0; k < ES_ARRAY_LEN(binary_ops); k++) {
        gr_op op = binary_ops[k];
        gcase *c = begin(gr_ops[op].name);
        int div = op == GR_DIV, mm = op == GR_MAXIMUM || op == GR_MINIMUM;
        /* left operands on one grid, right ones on another: no ties, no zero divisors */
        vkind lk = mm ? V_GRIDA : div ? V_POS : V_UNI, rk = div ? V_POS : mm ? V_GRIDB : V_UNI;
        vkind shift = mm ? V_TINY : V_UNI;
        int a = P(c, "a", gr_shape2(3, 4), lk);
        int b = P(c, "b", gr_shape1(4), rk);
        int cc = P(c, "c", gr_shape2(3, 1), lk);
        OUT(c, gr_binary(c->g, op, a, b, c->sp));              /* [3,4] op [4] */
        OUT(c, gr_binary(c->g, op, cc, b, c->sp));             /* [3,1] op [4] -> [3,4] */
        OUT(c, gr_binary(c->g, op, b, a, c->sp));              /* [4] op [3,4] */
        /* [B,4] op [B,1], each side depending on a param */
        int x = X(c, "x", gr_shape2(GR_BATCH, 4), lk);
        int q = P(c, "q", gr_shape1(4), shift);
        int xs = X(c, "xs", gr_shape2(GR_BATCH, 1), rk);
        int s = P(c, "s", gr_shape0(), div ? V_POS : shift);
        int lhs = gr_binary(c->g, GR_ADD, x, q, c->sp);
        int rhs = gr_binary(c->g, div ? GR_MUL : GR_ADD, xs, s, c->sp);
        OUT(c, gr_binary(c->g, op, lhs, rhs, c->sp));
        int s2 = P(c, "s2", gr_shape0(), rk);
        OUT(c, gr_binary(c->g, op, cc, s2, c->sp));            /* [3,1] op scalar */
        finish(c);
    }
}

static void test_shape_movers(void)
{
    gcase *c = begin("broadcast");
    int like = X(c, "like", S3(GR_BATCH, 3, 4), V_UNI);
    int p = P(c, "p", gr_shape1(4), V_UNI);
    int q = P(c, "q", gr_shape2(3, 1), V_UNI);
    OUT(c, gr_binary(c->g, GR_BROADCAST, p, like, c->sp));
    OUT(c, gr_binary(c->g, GR_BROADCAST, q, like, c->sp));
    finish(c);

    c = begin("sum_to");
    int x = X(c, "x", S3(GR_BATCH, 3, 4), V_UNI);
    int w = P(c, "w", gr_shape2(3, 4), V_UNI);
    int h = gr_binary(c->g, GR_MUL, x, w, c->sp);
    OUT(c, gr_binary(c->g, GR_SUM_TO, h, X(c, "l31", gr_shape2(3, 1), V_UNI), c->sp));
    OUT(c, gr_binary(c->g, GR_SUM_TO, h, X(c, "l4", gr_shape1(4), V_UNI), c->sp));
    OUT(c, gr_binary(c->g, GR_SUM_TO, h, X(c, "lb", S3(GR_BATCH, 1, 4), V_UNI), c->sp));
    OUT(c, gr_binary(c->g, GR_SUM_TO, w, X(c, "l0", gr_shape0(), V_UNI), c->sp));
    finish(c);

    c = begin("reshape");
    x = X(c, "x", gr_shape2(GR_BATCH, 6), V_UNI);
    w = P(c, "w", gr_shape1(6), V_UNI);
    OUT(c, gr_reshape(c->g, gr_binary(c->g, GR_MUL, x, w, c->sp), S3(GR_BATCH, 2, 3), c->sp));
    int w2 = P(c, "w2", gr_shape2(2, 6), V_UNI);
    OUT(c, gr_reshape(c->g, w2, gr_shape2(3, 4), c->sp));
    finish(c);
}

static void test_reductions(void)
{
    gcase *c = begin("sum");
    int x = X(c, "x", gr_shape2(GR_BATCH, 4), V_UNI);
    int w = P(c, "w", gr_shape1(4), V_UNI);
    int p = P(c, "p", gr_shape2(3, 4), V_UNI);
    OUT(c, gr_unary(c->g, GR_SUM, gr_binary(c->g, GR_MUL, x, w, c->sp), c->sp));
    OUT(c, gr_unary(c->g, GR_SUM, p, c->sp));
    finish(c);

    c = begin("mean");
    x = X(c, "x", gr_shape2(GR_BATCH, 4), V_UNI);
    w = P(c, "w", gr_shape1(4), V_UNI);
    p = P(c, "p", gr_shape2(3, 4), V_UNI);
    OUT(c, gr_unary(c->g, GR_MEAN, gr_binary(c->g, GR_MUL, x, w, c->sp), c->sp));  /* count has B */
    OUT(c, gr_unary(c->g, GR_MEAN, p, c->sp));                                      /* fixed count */
    finish(c);

    c = begin("sum_axis");
    x = X(c, "x", S3(GR_BATCH, 3, 4), V_UNI);
    p = P(c, "p", gr_shape2(3, 4), V_UNI);
    int h = gr_binary(c->g, GR_MUL, x, p, c->sp);
    for (int ax = 0; ax < 3; ax++) OUT(c, gr_sum_axis(c->g, h, ax, c->sp));
    OUT(c, gr_sum_axis(c->g, p, -1, c->sp));
    finish(c);
}

static void test_matmul(void)
{
    gcase *c = begin("matmul");
    /* the four transpose cases on params, each operand [rows, cols] as stored */
    int a = P(c, "a", gr_shape2(3, 4), V_UNI), at = P(c, "at", gr_shape2(4, 3), V_UNI);
    int b = P(c, "b", gr_shape2(4, 2), V_UNI), bt = P(c, "bt", gr_shape2(2, 4), V_UNI);
    OUT(c, gr_matmul(c->g, a, b, 0, 0, c->sp));
    OUT(c, gr_matmul(c->g, at, b, 1, 0, c->sp));
    OUT(c, gr_matmul(c->g, a, bt, 0, 1, c->sp));
    OUT(c, gr_matmul(c->g, at, bt, 1, 1, c->sp));
    /* with the batch: a dense layer, and B as the inner dimension */
    int x = X(c, "x", gr_shape2(GR_BATCH, 3), V_UNI);
    int s = P(c, "s", gr_shape1(3), V_UNI);
    int h = gr_binary(c->g, GR_MUL, x, s, c->sp);              /* [B,3], depends on s */
    int w = P(c, "w", gr_shape2(3, 2), V_UNI);
    int y = gr_matmul(c->g, h, w, 0, 0, c->sp);                /* [B,2] */
    OUT(c, y);
    OUT(c, gr_matmul(c->g, h, y, 1, 0, c->sp));                /* [3,B] x [B,2] */
    OUT(c, gr_matmul(c->g, bt, a, 0, 1, c->sp));               /* [2,4] x [3,4]^T */
    OUT(c, gr_matmul(c->g, w, h, 1, 1, c->sp));                /* [2,3] x [3,B] -> [2,B] */
    finish(c);
}

static const int ids_b[] = { 0, 3, -1 };                       /* [B]: one missing id */
static const int ids_bm[] = { 4, 3, 99, 3, 1, 1 };             /* [B,2]: out of range, duplicates */

static void test_sparse(void)
{
    gcase *c = begin("gather_sum");
    /* a table used by exactly one gather: the sparse form */
    int t = P(c, "t", gr_shape2(5, 3), V_UNI);
    c->want_sparse[t] = 1;
    int ids = I(c, "ids", gr_shape1(GR_BATCH), ids_b, 3);
    OUT(c, gr_binary(c->g, GR_GATHER_SUM, t, ids, c->sp));
    /* multi-valued ids, also sparse */
    int t2 = P(c, "t2", gr_shape2(5, 2), V_UNI);
    c->want_sparse[t2] = 1;
    int idm = I(c, "idm", gr_shape2(GR_BATCH, 2), ids_bm, 6);
    int x = X(c, "x", gr_shape2(GR_BATCH, 2), V_UNI);
    OUT(c, gr_binary(c->g, GR_MUL, gr_binary(c->g, GR_GATHER_SUM, t2, idm, c->sp), x, c->sp));
    /* a table with another use: densified (scatter_add) and accumulated */
    int t3 = P(c, "t3", gr_shape2(5, 2), V_UNI);
    OUT(c, gr_binary(c->g, GR_GATHER_SUM, t3, idm, c->sp));
    OUT(c, gr_unary(c->g, GR_TANH, t3, c->sp));
    /* a table in two gathers: dense too */
    int t4 = P(c, "t4", gr_shape2(5, 2), V_UNI);
    OUT(c, gr_binary(c->g, GR_GATHER_SUM, t4, idm, c->sp));
    OUT(c, gr_binary(c->g, GR_GATHER_SUM, t4, ids, c->sp));
    finish(c);

    c = begin("scatter_add");
    idm = I(c, "idm", gr_shape2(GR_BATCH, 2), ids_bm, 6);
    x = X(c, "x", gr_shape2(GR_BATCH, 3), V_UNI);
    int p = P(c, "p", gr_shape1(3), V_UNI);
    int like = X(c, "like", gr_shape2(5, 3), V_UNI);
    OUT(c, gr_op_node(c->g, GR_SCATTER_ADD, 3, (int[]){ idm, gr_binary(c->g, GR_MUL, x, p, c->sp), like },
                      NULL, NULL, c->sp));
    finish(c);

    c = begin("one_hot");     /* no gradient into ids; the product still differentiates */
    ids = I(c, "ids", gr_shape1(GR_BATCH), ids_b, 3);
    p = P(c, "p", gr_shape1(4), V_UNI);
    int64_t depth[4] = { 4, 0, 0, 0 };
    int oh = gr_op_node(c->g, GR_ONE_HOT, 1, &ids, depth, NULL, c->sp);
    OUT(c, gr_binary(c->g, GR_MUL, oh, p, c->sp));
    OUT(c, gr_binary(c->g, GR_MUL, gr_reshape(c->g, gr_unary(c->g, GR_CAST_F32, ids, c->sp),
                                              gr_shape2(GR_BATCH, 1), c->sp), p, c->sp));
    finish(c);
}

static const int labels[] = { 2, -1, 4 };   /* a missing label and one >= K: no loss, no gradient */
static const int labels_ok[] = { 1, 3, 0 };

static void test_losses(void)
{
    gcase *c = begin("softmax");
    int x = X(c, "x", gr_shape2(GR_BATCH, 4), V_UNI);
    int p = P(c, "p", gr_shape1(4), V_UNI);
    int w = P(c, "w", gr_shape2(3, 4), V_UNI);
    OUT(c, gr_unary(c->g, GR_SOFTMAX, gr_binary(c->g, GR_ADD, x, p, c->sp), c->sp));
    OUT(c, gr_unary(c->g, GR_SOFTMAX, w, c->sp));
    finish(c);

    c = begin("log_softmax");
    x = X(c, "x", gr_shape2(GR_BATCH, 4), V_UNI);
    p = P(c, "p", gr_shape1(4), V_UNI);
    w = P(c, "w", gr_shape2(3, 4), V_UNI);
    OUT(c, gr_unary(c->g, GR_LOG_SOFTMAX, gr_binary(c->g, GR_ADD, x, p, c->sp), c->sp));
    OUT(c, gr_unary(c->g, GR_LOG_SOFTMAX, w, c->sp));
    finish(c);

    c = begin("sigmoid_xent");
    x = X(c, "x", gr_shape2(GR_BATCH, 1), V_UNI);
    p = P(c, "p", gr_shape1(1), V_UNI);
    int y = X(c, "y", gr_shape2(GR_BATCH, 1), V_PROB);
    OUT(c, gr_binary(c->g, GR_SIGMOID_XENT, gr_binary(c->g, GR_MUL, x, p, c->sp), y, c->sp));
    w = P(c, "w", gr_shape2(3, 2), V_UNI);
    OUT(c, gr_binary(c->g, GR_SIGMOID_XENT, w, X(c, "yw", gr_shape2(3, 2), V_PROB), c->sp));
    finish(c);

    c = begin("softmax_xent");
    x = X(c, "x", gr_shape2(GR_BATCH, 4), V_UNI);
    p = P(c, "p", gr_shape1(4), V_UNI);
    int lab = I(c, "labels", gr_shape1(GR_BATCH), labels_ok, 3);
    int lab2 = I(c, "labels2", gr_shape1(GR_BATCH), labels, 3);
    int logits = gr_binary(c->g, GR_MUL, x, p, c->sp);
    OUT(c, gr_binary(c->g, GR_SOFTMAX_XENT, logits, lab, c->sp));
    OUT(c, gr_binary(c->g, GR_SOFTMAX_XENT, gr_binary(c->g, GR_ADD, x, p, c->sp), lab2, c->sp));
    finish(c);
}

/* ---- the model-function ops ----------------------------------------------------- */

static int opn(gcase *c, gr_op op, int nin, const int *in, int64_t a0, int64_t a1, int64_t a2, double f0)
{
    int64_t a[4] = { a0, a1, a2, 0 };
    double f[4] = { f0, 0, 0, 0 };
    return gr_op_node(c->g, op, nin, in, a, f, c->sp);
}

static void test_activations(void)
{
    static const struct { gr_op op; double alpha; } acts[] = {
        { GR_LEAKY_RELU, 0.2 }, { GR_LEAKY_RELU, 0.01 }, { GR_ELU, 1.0 }, { GR_ELU, 0.5 },
    };
    for (size_t k = 0; k < ES_ARRAY_LEN(acts); k++) {
        gcase *c = begin(gr_ops[acts[k].op].name);
        /* values away from the kink at 0 (elu with alpha != 1 has one) */
        int p = P(c, "p", gr_shape2(3, 4), V_AWAY);
        OUT(c, opn(c, acts[k].op, 1, &p, 0, 0, 0, acts[k].alpha));
        int x = X(c, "x", gr_shape2(GR_BATCH, 4), V_AWAY);
        int q = P(c, "q", gr_shape1(4), V_SMALL);
        int h = gr_binary(c->g, GR_ADD, x, q, c->sp);
        OUT(c, opn(c, acts[k].op, 1, &h, 0, 0, 0, acts[k].alpha));
        finish(c);
    }
}

static void test_compare_select(void)
{
    /* comparisons pass no gradient: a mask from them multiplies like a constant.
     * p and x lie on different grids, so p +- eps never changes the mask. */
    gcase *c = begin("comparisons as constants");
    int p = P(c, "p", gr_shape2(3, 4), V_GRIDA);
    int x = X(c, "x", gr_shape1(4), V_GRIDB);
    for (gr_op op = GR_LESS; op <= GR_NOT_EQUAL; op++)
        OUT(c, gr_binary(c->g, GR_MUL, gr_binary(c->g, op, p, x, c->sp), p, c->sp));
    finish(c);

    c = begin("select");
    int cond = X(c, "cond", gr_shape2(3, 1), V_BIN);
    int a = P(c, "a", gr_shape1(4), V_UNI), b = P(c, "b", gr_shape2(3, 4), V_UNI);
    OUT(c, opn(c, GR_SELECT, 3, (int[]){ cond, a, b }, 0, 0, 0, 0));          /* [3,1] ? [4] : [3,4] */
    int xc = X(c, "xc", gr_shape2(GR_BATCH, 4), V_BIN), xv = X(c, "xv", gr_shape2(GR_BATCH, 4), V_UNI);
    int q = P(c, "q", gr_shape1(4), V_UNI), s = P(c, "s", gr_shape0(), V_UNI);
    OUT(c, opn(c, GR_SELECT, 3, (int[]){ xc, gr_binary(c->g, GR_MUL, xv, q, c->sp), s }, 0, 0, 0, 0));
    /* the same node on both sides: both contributions add up */
    OUT(c, opn(c, GR_SELECT, 3, (int[]){ xc, q, q }, 0, 0, 0, 0));
    /* a condition computed from a parameter: no gradient through it */
    /* (|q * tiny| <= 0.02 never crosses a grid value, all >= 0.2 from 0) */
    int qt = gr_binary(c->g, GR_MUL, q, X(c, "tiny", gr_shape0(), V_TINY), c->sp);
    int gt = gr_binary(c->g, GR_GREATER, X(c, "xg", gr_shape2(GR_BATCH, 4), V_GRIDA), qt, c->sp);
    OUT(c, opn(c, GR_SELECT, 3, (int[]){ gt, xv, q }, 0, 0, 0, 0));
    finish(c);
}

static void test_movers(void)
{
    gcase *c = begin("concat");
    int a = P(c, "a", gr_shape2(3, 2), V_UNI), b = P(c, "b", gr_shape2(3, 1), V_UNI);
    OUT(c, opn(c, GR_CONCAT, 3, (int[]){ a, b, a }, 1, 0, 0, 0));             /* a twice */
    int r = P(c, "r", gr_shape2(1, 2), V_UNI);
    OUT(c, opn(c, GR_CONCAT, 2, (int[]){ r, a }, 0, 0, 0, 0));                 /* axis 0: [4,2] */
    int x = X(c, "x", gr_shape2(GR_BATCH, 2), V_UNI), q = P(c, "q", gr_shape1(2), V_UNI);
    int xb = X(c, "xb", gr_shape2(GR_BATCH, 3), V_UNI);
    OUT(c, opn(c, GR_CONCAT, 2, (int[]){ gr_binary(c->g, GR_MUL, x, q, c->sp), xb }, 1, 0, 0, 0));
    finish(c);

    c = begin("slice");
    int p = P(c, "p", gr_shape2(3, 5), V_UNI);
    OUT(c, opn(c, GR_SLICE, 1, &p, 1, 1, 3, 0));
    OUT(c, opn(c, GR_SLICE, 1, &p, 0, 2, 1, 0));
    x = X(c, "x", gr_shape2(GR_BATCH, 5), V_UNI);
    q = P(c, "q", gr_shape1(5), V_UNI);
    int h = gr_binary(c->g, GR_MUL, x, q, c->sp);
    OUT(c, opn(c, GR_SLICE, 1, &h, 1, 0, 2, 0));
    OUT(c, opn(c, GR_SLICE, 1, &h, 1, 4, 1, 0));
    finish(c);

    c = begin("pad_slice");
    p = P(c, "p", gr_shape2(3, 2), V_UNI);
    OUT(c, opn(c, GR_PAD_SLICE, 2, (int[]){ p, X(c, "like", gr_shape2(3, 5), V_UNI) }, 1, 2, 2, 0));
    x = X(c, "x", gr_shape2(GR_BATCH, 2), V_UNI);
    q = P(c, "q", gr_shape1(2), V_UNI);
    h = gr_binary(c->g, GR_MUL, x, q, c->sp);
    OUT(c, opn(c, GR_PAD_SLICE, 2, (int[]){ h, X(c, "likeb", gr_shape2(GR_BATCH, 4), V_UNI) }, 1, 0, 2, 0));
    finish(c);

    c = begin("transpose");
    p = P(c, "p", gr_shape2(3, 4), V_UNI);
    OUT(c, gr_unary(c->g, GR_TRANSPOSE, p, c->sp));
    x = X(c, "x", gr_shape2(GR_BATCH, 3), V_UNI);
    q = P(c, "q", gr_shape1(3), V_UNI);
    OUT(c, gr_unary(c->g, GR_TRANSPOSE, gr_binary(c->g, GR_MUL, x, q, c->sp), c->sp));
    finish(c);
}

static void test_axis_reductions(void)
{
    gcase *c = begin("mean_axis");
    int x = X(c, "x", S3(GR_BATCH, 3, 4), V_UNI);
    int p = P(c, "p", gr_shape2(3, 4), V_UNI);
    int h = gr_binary(c->g, GR_MUL, x, p, c->sp);
    for (int ax = 0; ax < 3; ax++) OUT(c, opn(c, GR_MEAN_AXIS, 1, &h, ax, 0, 0, 0));   /* axis 0 is B */
    OUT(c, opn(c, GR_MEAN_AXIS, 1, &p, 1, 0, 0, 0));
    finish(c);

    c = begin("max_axis");
    /* spread values: distinct and far apart compared with the step eps, so
     * the maximum never changes hands under a finite-difference nudge */
    p = P(c, "p", gr_shape2(5, 4), V_SPREAD);
    OUT(c, opn(c, GR_MAX_AXIS, 1, &p, 0, 0, 0, 0));
    OUT(c, opn(c, GR_MAX_AXIS, 1, &p, 1, 0, 0, 0));
    x = X(c, "x", gr_shape2(GR_BATCH, 6), V_SPREAD);
    int s = P(c, "s", gr_shape0(), V_POS);
    h = gr_binary(c->g, GR_MUL, x, s, c->sp);            /* scaling by s > 0 keeps the order */
    OUT(c, opn(c, GR_MAX_AXIS, 1, &h, 1, 0, 0, 0));
    OUT(c, opn(c, GR_MAX_AXIS, 1, &h, 0, 0, 0, 0));      /* over the batch */
    finish(c);
}

static const int step_7[] = { 7 };

static void test_dropout(void)
{
    gcase *c = begin("dropout");
    int step = I(c, "global_step", gr_shape1(1), step_7, 1);
    int p = P(c, "p", gr_shape2(4, 5), V_UNI);
    OUT(c, opn(c, GR_DROPOUT, 2, (int[]){ p, step }, 99, 0, 0, 0.4));
    int x = X(c, "x", gr_shape2(GR_BATCH, 5), V_UNI), q = P(c, "q", gr_shape1(5), V_UNI);
    int h = gr_binary(c->g, GR_MUL, x, q, c->sp);
    OUT(c, opn(c, GR_DROPOUT, 2, (int[]){ h, step }, -5, 0, 0, 0.5));
    /* dropout of dropout: the gradient applies both masks */
    int d = opn(c, GR_DROPOUT, 2, (int[]){ h, step }, 11, 0, 0, 0.25);
    OUT(c, opn(c, GR_DROPOUT, 2, (int[]){ d, step }, 12, 0, 0, 0.25));
    finish(c);
}

static const int ids_b4[] = { 2, -1, 4 };                     /* [B]: one missing id */

static void test_weighted(void)
{
    gcase *c = begin("gather_wsum");
    int t = P(c, "t", gr_shape2(5, 3), V_UNI);                 /* dense gradient, never sparse */
    int idm = I(c, "idm", gr_shape2(GR_BATCH, 2), ids_bm, 6);
    int x = X(c, "x", gr_shape2(GR_BATCH, 2), V_UNI), q = P(c, "q", gr_shape1(2), V_UNI);
    OUT(c, opn(c, GR_GATHER_WSUM, 3, (int[]){ t, idm, gr_binary(c->g, GR_MUL, x, q, c->sp) }, 0, 0, 0, 0));
    int t2 = P(c, "t2", gr_shape2(5, 2), V_UNI);
    int ids = I(c, "ids", gr_shape1(GR_BATCH), ids_b4, 3);
    OUT(c, opn(c, GR_GATHER_WSUM, 3, (int[]){ t2, ids, X(c, "w1", gr_shape1(GR_BATCH), V_UNI) }, 0, 0, 0, 0));
    finish(c);

    c = begin("scatter_wadd");
    idm = I(c, "idm", gr_shape2(GR_BATCH, 2), ids_bm, 6);
    x = X(c, "x", gr_shape2(GR_BATCH, 2), V_UNI);
    q = P(c, "q", gr_shape1(2), V_UNI);
    int xr = X(c, "xr", gr_shape2(GR_BATCH, 3), V_UNI), pr = P(c, "pr", gr_shape1(3), V_UNI);
    OUT(c, opn(c, GR_SCATTER_WADD, 4, (int[]){ idm, gr_binary(c->g, GR_MUL, x, q, c->sp),
                                              gr_binary(c->g, GR_MUL, xr, pr, c->sp),
                                              X(c, "like", gr_shape2(5, 3), V_UNI) }, 0, 0, 0, 0));
    finish(c);

    c = begin("gather_dot");
    t = P(c, "t", gr_shape2(5, 3), V_UNI);
    idm = I(c, "idm", gr_shape2(GR_BATCH, 2), ids_bm, 6);
    xr = X(c, "xr", gr_shape2(GR_BATCH, 3), V_UNI);
    pr = P(c, "pr", gr_shape1(3), V_UNI);
    OUT(c, opn(c, GR_GATHER_DOT, 3, (int[]){ t, idm, gr_binary(c->g, GR_MUL, xr, pr, c->sp) }, 0, 0, 0, 0));
    finish(c);

    /* the 'mean' embedding combiner: gather_sum / max(count_ids, 1) (sparse table) */
    c = begin("mean combiner");
    t = P(c, "t", gr_shape2(5, 3), V_UNI);
    c->want_sparse[t] = 1;
    idm = I(c, "idm", gr_shape2(GR_BATCH, 2), ids_bm, 6);
    int cnt = opn(c, GR_COUNT_IDS, 1, &idm, 5, 0, 0, 0);
    int den = gr_binary(c->g, GR_MAXIMUM, cnt, X(c, "one", gr_shape0(), V_ONE), c->sp);
    OUT(c, gr_binary(c->g, GR_DIV, gr_binary(c->g, GR_GATHER_SUM, t, idm, c->sp), den, c->sp));
    finish(c);
}

/* a small model end to end: dense layer + embedding + loss averaged over B */
static void test_model(void)
{
    gcase *c = begin("model");
    int x = X(c, "x", gr_shape2(GR_BATCH, 3), V_UNI);
    int ids = I(c, "ids", gr_shape1(GR_BATCH), ids_b, 3);
    int lab = I(c, "label", gr_shape1(GR_BATCH), labels_ok, 3);   /* 3 is >= K: skipped */
    int emb = P(c, "emb", gr_shape2(5, 2), V_UNI);
    c->want_sparse[emb] = 1;
    int w1 = P(c, "w1", gr_shape2(3, 4), V_UNI), b1 = P(c, "b1", gr_shape1(4), V_SMALL);
    int w2a = P(c, "w2a", gr_shape2(4, 3), V_UNI), w2b = P(c, "w2b", gr_shape2(2, 3), V_UNI);
    int b2 = P(c, "b2", gr_shape1(3), V_UNI);
    gr_graph *g = c->g;
    int h = gr_unary(g, GR_TANH, gr_binary(g, GR_ADD, gr_matmul(g, x, w1, 0, 0, c->sp), b1, c->sp), c->sp);
    int e = gr_binary(g, GR_GATHER_SUM, emb, ids, c->sp);
    int logits = gr_binary(g, GR_ADD, gr_binary(g, GR_ADD, gr_matmul(g, h, w2a, 0, 0, c->sp),
                                                gr_matmul(g, e, w2b, 0, 0, c->sp), c->sp), b2, c->sp);
    OUT(c, gr_unary(g, GR_MEAN, gr_binary(g, GR_SOFTMAX_XENT, logits, lab, c->sp), c->sp));
    finish(c);
}

int main(void)
{
    test_unary();
    test_binary();
    test_shape_movers();
    test_reductions();
    test_matmul();
    test_sparse();
    test_losses();
    test_activations();
    test_compare_select();
    test_movers();
    test_axis_reductions();
    test_dropout();
    test_weighted();
    test_model();
    return check_done("test_grad");
}

/*
 * onehot.c — the one-hot columns of a product become row lookups (gr_onehot).
 *
 * A DNN's first layer multiplies the concat of its feature columns by its
 * weights: numeric columns beside indicator columns, each a one_hot of ids
 * with one 1 per example in n columns. The product spends n multiply-adds per
 * example and output on those columns where one row of the weights would do,
 * and the weight gradient X^T dY the same again. So when the concat's one-hot
 * columns are many for their ids (at least 8, and at least twice as many as
 * ids per example), for the product P = matmul(X, W) of the concat X:
 *
 *   R  = concat(shift_ids(ids_i) a=[n_i, row_i])      each one-hot column's
 *        ids renumbered as rows of W (row_i: where its columns start in X),
 *        an invalid id -1 as before
 *   P  = matmul(X_d, W_d) + gather_sum(W, R)           X_d the concat of the
 *        other columns, W_d their rows of W (slices, concatenated)
 *
 * and for the weight gradient G = matmul(X, dY) a=[1,0] of the same X:
 *
 *   G  = scatter_add(R, dY, W) + pad_slice(rows of matmul(X_d, dY) a=[1,0])
 *
 * one pad_slice per run of adjacent dense rows. X and its one_hots are then
 * dead. The census DNN's first layer: 21 columns multiplied instead of 61,
 * five rows added per example.
 *
 * Exactness: not bit for bit. Each sum is the same set of terms (a one-hot
 * column contributes 1 * w exactly, or nothing), but split into the dense
 * product plus the looked-up rows, so it is rounded at other places: results
 * agree to float rounding, which tests/test_passes.c checks with a tolerance.
 * The new nodes are inserted just before the product they replace, so they
 * read W (and the columns) where the product did, before any update.
 */
#include "graph_impl.h"
#include "rewrite.h"

#define MAXLEAVES 64

typedef struct leaf { int node; int64_t col, width; int hot; } leaf;

typedef struct plan {
    leaf lv[MAXLEAVES];
    int nlv;
    int64_t hot, ids;            /* one-hot columns, ids per example */
    int nruns;                   /* runs of adjacent dense leaves: rows [start, start + len) of W */
    int64_t start[MAXLEAVES], len[MAXLEAVES];
    int R, Xd, Wd;               /* nodes of the new graph (GR_NONE until built) */
} plan;

/* the leaves of a tree of concats along axis 1, in column order; -1 if too many */
static int collect(const gr_graph *g, int x, plan *p, int64_t *col)
{
    const gr_node *c = &g->nodes[x];
    if (c->op == GR_CONCAT && c->a[0] == 1) {
        for (int k = 0; k < c->nin; k++)
            if (collect(g, c->in[k], p, col)) return -1;
        return 0;
    }
    if (p->nlv == MAXLEAVES || c->shape.rank != 2) return -1;
    p->lv[p->nlv++] = (leaf){ x, *col, c->shape.d[1], c->op == GR_ONE_HOT };
    *col += c->shape.d[1];
    if (c->op == GR_ONE_HOT) {
        const gr_shape ids = g->nodes[c->in[0]].shape;
        p->hot += c->shape.d[1];
        p->ids += ids.rank == 2 ? ids.d[1] : 1;
    }
    return 0;
}

/* the runs of adjacent dense leaves */
static void find_runs(plan *p)
{
    p->nruns = 0;
    for (int i = 0; i < p->nlv; i++) {
        const leaf *l = &p->lv[i];
        if (l->hot) continue;
        int r = p->nruns;
        if (r && p->start[r - 1] + p->len[r - 1] == l->col) { p->len[r - 1] += l->width; continue; }
        p->start[r] = l->col;
        p->len[r] = l->width;
        p->nruns++;
    }
}

/* Is m = matmul(X, W) a product worth rewriting? Fills p. */
static int worth(const gr_rw *rw, int m, plan *p)
{
    const gr_graph *g = rw->g;
    const gr_node *n = &g->nodes[m];
    if (n->op != GR_MATMUL || n->a[0] || n->a[1]) return 0;
    const gr_node *x = &g->nodes[n->in[0]], *w = &g->nodes[n->in[1]];
    if (x->op != GR_CONCAT || x->a[0] != 1 || x->shape.rank != 2 || gr_has_batch(w->shape)) return 0;
    *p = (plan){ .R = GR_NONE, .Xd = GR_NONE, .Wd = GR_NONE };
    int64_t col = 0;
    if (collect(g, n->in[0], p, &col)) return 0;
    if (p->hot < 8 || p->hot < 2 * p->ids || p->ids > 64) return 0;
    /* the product reads the columns where the concat stored them */
    for (int i = 0; i < p->nlv; i++)
        if (!gr_rw_unchanged(rw, p->lv[i].node, n->in[0], m)) return 0;
    find_runs(p);
    return 1;
}

/* concat along axis ax of n nodes, or the node itself when n is 1 */
static int join(gr_graph *ng, const int *in, int n, int ax, es_span sp)
{
    return n == 1 ? in[0] : gr_op_node(ng, GR_CONCAT, n, in, (int64_t[]){ ax, 0, 0, 0 }, NULL, sp);
}

/* R, X_d, W_d in the new graph, before the product (map: old ids to new) */
static void build_inputs(const gr_graph *g, gr_graph *ng, plan *p, const int *map, int w, es_span sp)
{
    int ids[MAXLEAVES], dense[MAXLEAVES], nids = 0, nd = 0;
    for (int i = 0; i < p->nlv; i++) {
        const leaf *l = &p->lv[i];
        if (!l->hot) { dense[nd++] = map[l->node]; continue; }
        const gr_node *oh = &g->nodes[l->node];
        int s = gr_op_node(ng, GR_SHIFT_IDS, 1, &map[oh->in[0]], (int64_t[]){ oh->a[0], l->col, 0, 0 }, NULL, sp);
        if (ng->nodes[s].shape.rank == 1) {
            gr_shape col = gr_shape2(ng->nodes[s].shape.d[0], 1);
            s = gr_reshape(ng, s, col, sp);
        }
        ids[nids++] = s;
    }
    p->R = join(ng, ids, nids, 1, sp);
    if (!nd) return;
    p->Xd = join(ng, dense, nd, 1, sp);
    int rows[MAXLEAVES];
    for (int r = 0; r < p->nruns; r++)
        rows[r] = gr_op_node(ng, GR_SLICE, 1, &w, (int64_t[]){ 0, p->start[r], p->len[r], 0 }, NULL, sp);
    p->Wd = join(ng, rows, p->nruns, 0, sp);
}

/* the forward product: matmul(X_d, W_d) + gather_sum(W, R) */
static int build_product(gr_graph *ng, const plan *p, int w, es_span sp)
{
    int gath = gr_op_node(ng, GR_GATHER_SUM, 2, (int[]){ w, p->R }, NULL, NULL, sp);
    if (p->Xd == GR_NONE) return gath;
    int d = gr_matmul(ng, p->Xd, p->Wd, 0, 0, sp);
    return gr_binary(ng, GR_ADD, d, gath, sp);
}

/* the weight gradient: scatter_add(R, dY, W) + each dense run's rows of X_d^T dY */
static int build_gradient(gr_graph *ng, const plan *p, int w, int dy, es_span sp)
{
    int sum = gr_op_node(ng, GR_SCATTER_ADD, 3, (int[]){ p->R, dy, w }, NULL, NULL, sp);
    if (p->Xd == GR_NONE) return sum;
    int gd = gr_matmul(ng, p->Xd, dy, 1, 0, sp);
    int64_t at = 0;
    for (int r = 0; r < p->nruns; r++) {
        int64_t len = p->len[r];
        int part = p->nruns == 1 ? gd : gr_op_node(ng, GR_SLICE, 1, &gd, (int64_t[]){ 0, at, len, 0 }, NULL, sp);
        int pad = gr_op_node(ng, GR_PAD_SLICE, 2, (int[]){ part, w }, (int64_t[]){ 0, p->start[r], len, 0 }, NULL, sp);
        sum = gr_binary(ng, GR_ADD, sum, pad, sp);
        at += len;
    }
    return sum;
}

gr_graph *gr_onehot(gr_graph *g)
{
    gr_rw rw;
    gr_rw_init(&rw, g);
    size_t cnt = (size_t)(g->n ? g->n : 1);
    plan **plans = es_alloc(g->arena, cnt * sizeof *plans);   /* by product node */
    int any = 0;
    for (int i = 0; i < g->n; i++) {
        plan p;
        if (!worth(&rw, i, &p)) continue;
        plans[i] = es_alloc(g->arena, sizeof p);
        *plans[i] = p;
        any = 1;
    }
    if (!any) return g;

    int *map = es_alloc(g->arena, cnt * sizeof *map);
    int *fwd = es_alloc(g->arena, cnt * sizeof *fwd);           /* X node -> its product */
    for (int i = 0; i < g->n; i++) fwd[i] = GR_NONE;
    for (int i = 0; i < g->n; i++)
        if (plans[i] && fwd[g->nodes[i].in[0]] == GR_NONE) fwd[g->nodes[i].in[0]] = i;
    gr_graph *ng = gr_rebuild_begin(g);
    for (int i = 0; i < g->n; i++) {
        gr_node n = g->nodes[i];
        for (int k = 0; k < n.nin; k++) n.in[k] = map[n.in[k]];
        n.buf = -1;
        plan *p = plans[i];
        int x = g->nodes[i].in[0];
        if (p && fwd[x] == i) {
            build_inputs(g, ng, p, map, n.in[1], n.span);
            map[i] = build_product(ng, p, n.in[1], n.span);
            continue;
        }
        if (n.op == GR_MATMUL && n.a[0] == 1 && n.a[1] == 0 && fwd[x] != GR_NONE && fwd[x] < i &&
            n.shape.d[0] == g->nodes[x].shape.d[1]) {
            const plan *fp = plans[fwd[x]];
            if (gr_shape_eq(g->nodes[g->nodes[fwd[x]].in[1]].shape, n.shape)) {
                map[i] = build_gradient(ng, fp, map[g->nodes[fwd[x]].in[1]], n.in[1], n.span);
                continue;
            }
        }
        map[i] = gr_push_raw(ng, &n);
    }
    gr_rebuild_outputs(ng, g, map);
    return gr_dce_drop(ng);
}

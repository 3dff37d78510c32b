/*
 * narrow.c — compute only the columns of a product that are read (gr_narrow).
 *
 * The gradient of a layer's input is dX = dY W^T, all of it, but the input
 * is often a concat of features of which only some have gradients to take:
 * a DNN's first layer reads numeric and one-hot columns beside embeddings,
 * and autodiff slices dX for the embeddings alone. When every reader of a
 * product is a slice along its last axis, the columns outside the slices'
 * union [lo, hi) are never read, and
 *
 *   matmul(a, b)[:, lo:hi] = matmul(a, b[:, lo:hi])       (b not transposed)
 *   matmul(a, b^T)[:, lo:hi] = matmul(a, b[lo:hi, :]^T)    (b transposed)
 *
 * so the product reads a slice of b instead (a new SLICE node just before
 * it, reading b where the product did) and its readers' starts move by -lo;
 * a reader that now covers the whole narrowed product is the product. For the
 * census DNN's first layer this multiplies 16 columns instead of 61.
 *
 * First, slice(slice(x)) along one axis becomes one slice of x, so the
 * readers of a product are seen through chains of slices (the DNN's
 * embedding gradients are slices of a slice of dX).
 *
 * Exactness: each element of the narrowed product is the same dot product
 * over the same k, accumulated in the same order (the loops and cblas_sgemm
 * alike), so the bits do not change; the slices copy values.
 */
#include "graph_impl.h"
#include "rewrite.h"

/* slice(slice(x, ax, s1, _), ax, s2, l2) -> slice(x, ax, s1 + s2, l2) */
static void merge_slices(gr_graph *g)
{
    gr_rw rw;
    gr_rw_init(&rw, g);
    for (int i = 0; i < g->n; i++) {
        gr_node *n = &g->nodes[i];
        if (n->op != GR_SLICE) continue;
        const gr_node *x = &g->nodes[n->in[0]];
        if (x->op != GR_SLICE || x->a[0] != n->a[0] || !gr_rw_unchanged(&rw, x->in[0], n->in[0], i)) continue;
        n->a[1] += x->a[1];
        n->in[0] = x->in[0];
    }
}

/* The column range [lo, hi) of product m that its readers read, when every
 * reader is a slice of its last axis; else 0. */
static int read_range(const gr_graph *g, int m, const int *uses, int64_t *lo, int64_t *hi)
{
    const gr_node *p = &g->nodes[m];
    if (p->op != GR_MATMUL || p->shape.rank != 2 || p->shape.d[1] == GR_BATCH || !uses[m]) return 0;
    for (int i = 0; i < g->noutputs; i++)
        if (g->outputs[i].node == m) return 0;
    *lo = p->shape.d[1];
    *hi = 0;
    int seen = 0;
    for (int i = m + 1; i < g->n; i++) {
        const gr_node *n = &g->nodes[i];
        for (int k = 0; k < n->nin; k++) {
            if (n->in[k] != m) continue;
            if (n->op != GR_SLICE || n->a[0] != 1) return 0;
            if (n->a[1] < *lo) *lo = n->a[1];
            if (n->a[1] + n->a[2] > *hi) *hi = n->a[1] + n->a[2];
            seen++;
        }
    }
    return seen == uses[m] && *hi - *lo < p->shape.d[1];
}

gr_graph *gr_narrow(gr_graph *g)
{
    merge_slices(g);
    g = gr_dce(g);                      /* the outer slices of merged chains go */
    size_t cnt = (size_t)(g->n ? g->n : 1);
    int *uses = es_alloc(g->arena, cnt * sizeof *uses);
    int64_t *lo = es_alloc(g->arena, cnt * sizeof *lo), *hi = es_alloc(g->arena, cnt * sizeof *hi);
    char *narrow = es_alloc(g->arena, cnt);
    int *map = es_alloc(g->arena, cnt * sizeof *map);
    for (int i = 0; i < g->n; i++)
        for (int k = 0; k < g->nodes[i].nin; k++) uses[g->nodes[i].in[k]]++;
    int any = 0;
    for (int i = 0; i < g->n; i++) {
        narrow[i] = (char)read_range(g, i, uses, &lo[i], &hi[i]);
        if (narrow[i]) {
            /* b's sliced axis must be fixed (a batch axis cannot be sliced) */
            const gr_node *b = &g->nodes[g->nodes[i].in[1]];
            int ax = g->nodes[i].a[1] ? 0 : 1;
            if (b->shape.d[ax] == GR_BATCH) narrow[i] = 0;
        }
        any |= narrow[i];
    }
    if (!any) return g;

    gr_graph *ng = gr_rebuild_begin(g);
    for (int i = 0; i < g->n; i++) {
        gr_node n = g->nodes[i];
        for (int k = 0; k < n.nin; k++) n.in[k] = map[n.in[k]];
        n.buf = -1;
        if (narrow[i]) {
            int64_t a[4] = { n.a[1] ? 0 : 1, lo[i], hi[i] - lo[i], 0 };
            n.in[1] = gr_op_node(ng, GR_SLICE, 1, &n.in[1], a, NULL, n.span);
            n.shape.d[1] = hi[i] - lo[i];
        } else if (n.op == GR_SLICE && narrow[g->nodes[i].in[0]]) {
            int src = g->nodes[i].in[0];
            n.a[1] -= lo[src];
            if (n.a[1] == 0 && n.a[2] == hi[src] - lo[src]) { map[i] = n.in[0]; continue; }
        }
        map[i] = gr_push_raw(ng, &n);
    }
    gr_rebuild_outputs(ng, g, map);
    gr_drop(g);                         /* our own copy, not the caller's */
    return gr_dce_drop(ng);
}

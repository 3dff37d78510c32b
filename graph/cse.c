/*
 * cse.c — common-subexpression elimination (gr_cse).
 *
 * Two nodes compute the same value when they have the same op, dtype, shape,
 * inputs (after earlier merges) and attributes, a[] and f[] compared as bits,
 * and no side effect overwrites one of those inputs between them. The later
 * one is merged into the earlier (its readers read the earlier one; it stays
 * until dce). Never merged:
 *   - INPUT and PARAM: each is its own named buffer, even with equal shapes;
 *   - updates (side effects): two identical updates apply twice;
 *   - nodes an update overwrites: their later readers see the new value;
 *   - fused nodes (their expression is not compared).
 * CONSTs merge when shape and every element are bit-identical (so -0 and +0,
 * or two values one ulp apart, stay apart). Commutative operands are not
 * reordered: add(x, y) and add(y, x) may differ in a NaN's payload.
 *
 * A hash table over the node fields finds candidates in one sweep in node
 * order; merges feed forward, so chains of duplicates collapse at once.
 */
#include "rewrite.h"

typedef struct key {          /* the fields that decide equality, padding zeroed */
    int op, dtype, rank, nin;
    int64_t d[GR_MAXDIMS];
    int in[GR_MAXIN];
    int64_t a[4];
    double f[4];
} key;

static int mergeable(const gr_rw *rw, int i)
{
    const gr_node *n = &rw->g->nodes[i];
    /* a fused node's expression is not part of the key: never merged */
    return n->op != GR_INPUT && n->op != GR_PARAM && n->op != GR_FUSED &&
           !(gr_ops[n->op].flags & GR_F_SIDE) && !rw->written[i];
}

static uint64_t hash(const gr_node *n)
{
    key k;
    memset(&k, 0, sizeof k);
    k.op = (int)n->op;
    k.dtype = (int)n->dtype;
    k.rank = n->shape.rank;
    k.nin = n->nin;
    memcpy(k.d, n->shape.d, sizeof k.d);
    for (int i = 0; i < n->nin; i++) k.in[i] = n->in[i];
    memcpy(k.a, n->a, sizeof k.a);
    memcpy(k.f, n->f, sizeof k.f);
    uint64_t h = es_hash64(&k, sizeof k, 0);
    if (n->op == GR_CONST) h = es_hash64(n->data, (size_t)gr_numel(n->shape, 1) * sizeof(float), h);
    return h;
}

static int same(const gr_node *m, const gr_node *n)
{
    if (m->op != n->op || m->dtype != n->dtype || !gr_shape_eq(m->shape, n->shape) || m->nin != n->nin)
        return 0;
    for (int k = 0; k < n->nin; k++)
        if (m->in[k] != n->in[k]) return 0;
    if (memcmp(m->a, n->a, sizeof m->a) != 0 || memcmp(m->f, n->f, sizeof m->f) != 0) return 0;
    if (n->op == GR_CONST)
        return memcmp(m->data, n->data, (size_t)gr_numel(n->shape, 1) * sizeof(float)) == 0;
    return 1;
}

/* a (earlier) and b read their inputs at their own positions: the same
 * values unless an update overwrites one of them in between */
static int same_inputs_between(const gr_rw *rw, int a, int b)
{
    const gr_node *n = &rw->g->nodes[b];
    for (int k = 0; k < n->nin; k++)
        if (!gr_rw_unchanged(rw, n->in[k], a, b)) return 0;
    return 1;
}

gr_graph *gr_cse(gr_graph *g)
{
    gr_rw rw;
    gr_rw_init(&rw, g);
    size_t cap = 16;
    while (cap < 2 * (size_t)g->n) cap *= 2;
    int *table = es_alloc(g->arena, cap * sizeof *table);
    for (size_t s = 0; s < cap; s++) table[s] = GR_NONE;

    for (int i = 0; i < g->n; i++) {
        gr_rw_inputs(&rw, i);
        if (!mergeable(&rw, i)) continue;
        gr_node *n = &g->nodes[i];
        size_t s = (size_t)hash(n) & (cap - 1);
        while (table[s] != GR_NONE && !same(&g->nodes[table[s]], n)) s = (s + 1) & (cap - 1);
        if (table[s] == GR_NONE) { table[s] = i; continue; }
        int a = table[s];
        if (!same_inputs_between(&rw, a, i)) { table[s] = i; continue; }   /* later ones may match i */
        rw.rep[i] = a;
        if (!g->nodes[a].name) g->nodes[a].name = n->name;    /* a label survives the merge */
    }
    gr_rw_outputs(&rw);
    return g;
}

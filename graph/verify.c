/*
 * verify.c — the graph checker run between passes (gr_verify).
 *
 * It trusts nothing a pass may have produced: every input refers to an
 * earlier node, every node's recorded shape and dtype is what its op's rule
 * (shape.c) gives for its inputs, INPUT and PARAM names are unique within
 * their kind (the runtime binds them by name), a bound graph's buffer slots
 * are consistent, and outputs name real nodes with a value.
 */
#include "graph_impl.h"

#include <stdlib.h>

typedef struct named { uint64_t h; int node; } named;

static int by_hash(const void *a, const void *b)
{
    const named *x = a, *y = b;
    if (x->h != y->h) return x->h < y->h ? -1 : 1;
    return x->node - y->node;
}

/* INPUT and PARAM names unique within their kind: sorted by a hash of kind
 * and name, so only equal hashes are compared (the verifier runs after every
 * pass, and a model has hundreds of variables) */
static int unique_names(const gr_graph *g, es_status *st)
{
    int k = 0;
    for (int i = 0; i < g->n; i++) k += g->nodes[i].op == GR_INPUT || g->nodes[i].op == GR_PARAM;
    if (k < 2) return 0;
    named *v = es_xcalloc((size_t)k, sizeof *v);
    k = 0;
    for (int i = 0; i < g->n; i++) {
        const gr_node *n = &g->nodes[i];
        if (n->op != GR_INPUT && n->op != GR_PARAM) continue;
        v[k++] = (named){ es_hash64(n->name, strlen(n->name), (uint64_t)n->op), i };
    }
    qsort(v, (size_t)k, sizeof *v, by_hash);
    int rc = 0;
    for (int a = 0; a < k && !rc; a++)
        for (int b = a + 1; b < k && v[b].h == v[a].h && !rc; b++) {
            const gr_node *x = &g->nodes[v[a].node], *y = &g->nodes[v[b].node];
            if (x->op == y->op && strcmp(x->name, y->name) == 0)
                rc = es_fail(st, ES_EINTERNAL, "node %%%d: %s \"%s\" is also node %%%d", v[b].node,
                             gr_ops[y->op].name, y->name, v[a].node);
        }
    free(v);
    return rc;
}

int gr_verify(const gr_graph *g, es_status *st)
{
    char b1[64], b2[64], msg[512];
    for (int i = 0; i < g->n; i++) {
        const gr_node *n = &g->nodes[i];
        if ((int)n->op < 0 || (int)n->op >= GR_NUM_OPS)
            return es_fail(st, ES_EINTERNAL, "node %%%d: op %d does not exist", i, (int)n->op);
        const char *op = gr_ops[n->op].name;
        if (n->nin < 0 || n->nin > GR_MAXIN)
            return es_fail(st, ES_EINTERNAL, "node %%%d (%s): %d inputs", i, op, n->nin);
        for (int k = 0; k < n->nin; k++)
            if (n->in[k] < 0 || n->in[k] >= i)
                return es_fail(st, ES_EINTERNAL,
                               "node %%%d (%s): input %d is %%%d, not an earlier node", i, op, k, n->in[k]);
        gr_node c = *n;
        int keeps_shape = (gr_ops[n->op].flags & GR_F_LEAF) || n->op == GR_RESHAPE;
        if (!keeps_shape) { c.shape = gr_shape0(); c.dtype = GR_F32; }
        if (gr_infer_msg(g, &c, msg, sizeof msg) != 0)
            return es_fail(st, ES_EINTERNAL, "node %%%d (%s): %s", i, op, msg);
        if (c.dtype != n->dtype || !gr_shape_eq(c.shape, n->shape))
            return es_fail(st, ES_EINTERNAL, "node %%%d (%s): recorded as %s%s but its inputs give %s%s",
                           i, op, gr_dtype_name(n->dtype), gr_shape_str(n->shape, b1, sizeof b1),
                           gr_dtype_name(c.dtype), gr_shape_str(c.shape, b2, sizeof b2));
        if (g->nbufs > 0) {
            int side = (gr_ops[n->op].flags & GR_F_SIDE) != 0;
            if (side ? n->buf != -1 : (n->buf < 0 || n->buf >= g->nbufs))
                return es_fail(st, ES_EINTERNAL, "node %%%d (%s): buffer slot %d is invalid", i, op, n->buf);
        }
    }
    if (unique_names(g, st) != 0) return -1;
    for (int i = 0; i < g->noutputs; i++) {
        int id = g->outputs[i].node;
        if (id < 0 || id >= g->n)
            return es_fail(st, ES_EINTERNAL, "output \"%s\" refers to node %%%d, which does not exist",
                           g->outputs[i].name, id);
        if (g->nodes[id].dtype == GR_VOID)
            return es_fail(st, ES_EINTERNAL, "output \"%s\" is node %%%d, an update with no value",
                           g->outputs[i].name, id);
    }
    return 0;
}

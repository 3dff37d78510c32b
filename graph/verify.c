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
        if (n->op == GR_INPUT || n->op == GR_PARAM)
            for (int j = 0; j < i; j++)
                if (g->nodes[j].op == n->op && strcmp(g->nodes[j].name, n->name) == 0)
                    return es_fail(st, ES_EINTERNAL, "node %%%d: %s \"%s\" is also node %%%d", i, op,
                                   n->name, j);
        if (g->nbufs > 0) {
            int side = (gr_ops[n->op].flags & GR_F_SIDE) != 0;
            if (side ? n->buf != -1 : (n->buf < 0 || n->buf >= g->nbufs))
                return es_fail(st, ES_EINTERNAL, "node %%%d (%s): buffer slot %d is invalid", i, op, n->buf);
        }
    }
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

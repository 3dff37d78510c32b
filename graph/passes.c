/*
 * passes.c — graph-to-graph passes.
 *
 * gr_dce: a node survives if it is an output, has a side effect (an optimizer
 * update), or feeds one that survives. The result is a new graph in the same
 * arena with the survivors in their original order (so still topological),
 * inputs and outputs renumbered, and no buffer binding (bind it again).
 */
#include "graph_impl.h"

gr_graph *gr_rebuild_begin(const gr_graph *g)
{
    gr_graph *ng = gr_new(g->arena, g->diags);
    ng->kind = g->kind;
    ng->nerrors = g->nerrors;
    gr_reserve(ng, g->n + 16);     /* a rebuild keeps about as many nodes */
    return ng;
}

void gr_rebuild_outputs(gr_graph *ng, const gr_graph *g, const int *map)
{
    for (int i = 0; i < g->noutputs; i++) {
        ng->outputs[i].name = g->outputs[i].name;
        ng->outputs[i].node = map[g->outputs[i].node];
    }
    ng->noutputs = g->noutputs;
}

gr_graph *gr_dce(gr_graph *g)
{
    char *keep = es_alloc(g->arena, (size_t)(g->n ? g->n : 1));
    int *map = es_alloc(g->arena, (size_t)(g->n ? g->n : 1) * sizeof *map);
    for (int i = 0; i < g->noutputs; i++) keep[g->outputs[i].node] = 1;
    for (int i = g->n - 1; i >= 0; i--) {
        const gr_node *n = &g->nodes[i];
        if (gr_ops[n->op].flags & GR_F_SIDE) keep[i] = 1;
        if (!keep[i]) continue;
        for (int k = 0; k < n->nin; k++) keep[n->in[k]] = 1;
    }
    gr_graph *ng = gr_rebuild_begin(g);
    for (int i = 0; i < g->n; i++) {
        map[i] = GR_NONE;
        if (!keep[i]) continue;
        gr_node n = g->nodes[i];
        for (int k = 0; k < n.nin; k++) n.in[k] = map[n.in[k]];
        n.buf = -1;
        map[i] = gr_push_raw(ng, &n);
    }
    gr_rebuild_outputs(ng, g, map);
    return ng;
}

gr_graph *gr_dce_drop(gr_graph *g)
{
    gr_graph *ng = gr_dce(g);
    gr_drop(g);
    return ng;
}

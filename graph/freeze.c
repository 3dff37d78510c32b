/*
 * freeze.c — a program's variables taken as known values (gr_freeze), for
 * the exported predictor, whose weights never change.
 *
 * The passes that serve training leave work in the predict program that
 * depends only on variables: `onehot` builds the dense rows of a first layer
 * as concat(slice(W), slice(W)), which a training step must redo as W
 * changes, but which an exported predictor would redo at every call for the
 * same result (21 x 256 floats copied per row of the census DNN). Freezing
 * copies the program into another arena, turns every variable into a
 * constant of its values, folds (gr_fold, so the values are gr_eval's
 * exactly), and then turns every constant that came from the variables —
 * each variable still read, and each folded result — back into a variable
 * holding those values: the predictor binds variables to read-only globals
 * out of line, where a constant would be folded into the code by LLVM (the
 * comment at the top of codegen/aot.c). Constants of the original program
 * stay constants. Dead code goes, and the copy is bound as the original was.
 *
 * A program with side effects (a variable written) is not frozen: NULL.
 */
#include "graph_impl.h"

#include <stdio.h>
#include <string.h>

gr_graph *gr_freeze(const gr_graph *g, const float *const *values, es_arena *a, const float ***out_values)
{
    for (int i = 0; i < g->n; i++)
        if (gr_ops[g->nodes[i].op].flags & GR_F_SIDE) return NULL;
    gr_graph *ng = gr_new(a, g->diags);
    ng->kind = g->kind;
    gr_reserve(ng, g->n + 1);
    /* what each node was: a constant stays one, a variable keeps its name */
    char *was = es_alloc(a, (size_t)g->n + 1);
    for (int i = 0; i < g->n; i++) {
        gr_node n = g->nodes[i];
        n.buf = -1;
        was[i] = n.op == GR_CONST ? 'c' : n.op == GR_PARAM ? 'p' : 0;
        if (n.op == GR_PARAM) {
            if (!values || !values[i]) return NULL;
            n.op = GR_CONST;
            n.data = (float *)values[i];     /* read only: fold copies what it computes */
        }
        gr_push_raw(ng, &n);
    }
    for (int i = 0; i < g->noutputs; i++) gr_add_output(ng, g->outputs[i].name, g->outputs[i].node);
    ng = gr_fold(ng);
    /* back to variables: a PARAM keeps its values in data until they are
     * collected below, after dce has renumbered the nodes */
    for (int i = 0; i < ng->n; i++) {
        gr_node *n = &ng->nodes[i];
        if (n->op != GR_CONST || was[i] == 'c') continue;
        n->op = GR_PARAM;
        n->a[1] = 0;                           /* not trainable */
        if (was[i] != 'p') {                   /* a folded result: a name of its own */
            char nm[32];
            snprintf(nm, sizeof nm, "frozen/%d", i);
            n->name = es_strdup(a, nm);
        }
    }
    ng = gr_dce_drop(ng);
    const float **v = es_alloc(a, ((size_t)ng->n + 1) * sizeof *v);
    for (int i = 0; i < ng->n; i++) {
        gr_node *n = &ng->nodes[i];
        if (n->op != GR_PARAM) continue;
        v[i] = n->data;
        n->data = NULL;
    }
    if (g->slot_a) gr_bind_shared(ng);
    else gr_bind(ng);
    *out_values = v;
    return ng;
}

/*
 * rewrite.h — what the in-place passes (fold, simplify, cse) share: which
 * buffers side effects overwrite, and redirecting uses of one node to another.
 *
 * Why a pass must care: gr_eval and the compiled kernels run the nodes in
 * order, and an optimizer update (APPLY_*) overwrites its variable and slot
 * buffers in place. A node that reads a variable before the update and an
 * identical one after it compute different values; and replacing x*1 by x,
 * where x is a variable updated later, would make a later reader (or an
 * output, read after the whole program) see the updated value. So a use may
 * be redirected to a node only when that node's buffer is not overwritten
 * between its definition and the use, and the overwritten operands of an
 * update are never redirected (that would change which buffer it writes).
 *
 * Memory comes from the graph's arena, like the graph's own.
 */
#ifndef ESTC_REWRITE_H
#define ESTC_REWRITE_H

#include "graph_impl.h"

typedef struct gr_rw {
    gr_graph *g;
    int *rep;            /* rep[i]: the node that now stands for node i (i itself if none) */
    char *written;       /* written[i]: some side effect overwrites node i's buffer */
    int nw;              /* overwrites, in node order: */
    int *w_node, *w_at;  /* buffer of node w_node[k] written by side effect w_at[k] */
} gr_rw;

void gr_rw_init(gr_rw *rw, gr_graph *g);

/* Does node n overwrite the buffer of its input k (an update's variable or slot)? */
int gr_rw_writes(const gr_node *n, int k);

/* No side effect strictly between positions `from` and `to` overwrites node x. */
int gr_rw_unchanged(const gr_rw *rw, int x, int from, int to);

/* Node j's inputs (except the ones it overwrites) follow rep as far as is safe
 * for a read at position j (an update's own writes included); then the
 * outputs, as reads at the end (g->n). */
void gr_rw_inputs(gr_rw *rw, int j);
void gr_rw_outputs(gr_rw *rw);

/* Is node c a CONST that no side effect writes, every element bit-equal to v? */
int gr_rw_const_all(const gr_rw *rw, int c, float v);

#endif

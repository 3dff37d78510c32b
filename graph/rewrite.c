/*
 * rewrite.c — the shared bookkeeping of the in-place passes (rewrite.h):
 * where side effects overwrite buffers, and redirecting uses safely.
 */
#include "rewrite.h"

int gr_rw_writes(const gr_node *n, int k)
{
    /* an update overwrites its variable (input 0) and its slots (1..slots) */
    int slots = -1;
    switch (n->op) {
    case GR_APPLY_SGD: slots = 0; break;
    case GR_APPLY_ADAGRAD: slots = 1; break;
    case GR_APPLY_ADAM: slots = 3; break;          /* m, v, step */
    case GR_APPLY_FTRL: slots = 2; break;
    case GR_ASSIGN_EMA: slots = 0; break;          /* the variable only */
    case GR_CONST: case GR_INPUT: case GR_PARAM:
    case GR_NEG: case GR_EXP: case GR_LOG: case GR_SQRT: case GR_ABS: case GR_SQUARE:
    case GR_SIGMOID: case GR_TANH: case GR_RELU: case GR_SOFTPLUS: case GR_STEP: case GR_SIGN:
    case GR_CAST_F32: case GR_ADD: case GR_SUB: case GR_MUL: case GR_DIV: case GR_MAXIMUM:
    case GR_MINIMUM: case GR_BROADCAST: case GR_SUM_TO: case GR_RESHAPE: case GR_SUM:
    case GR_MEAN: case GR_SUM_AXIS: case GR_NUMEL: case GR_MATMUL: case GR_GATHER_SUM:
    case GR_ONE_HOT: case GR_SCATTER_ADD: case GR_SOFTMAX: case GR_LOG_SOFTMAX: case GR_ARGMAX:
    case GR_SIGMOID_XENT: case GR_SOFTMAX_XENT: case GR_SOFTMAX_XENT_GRAD:
    case GR_LEAKY_RELU: case GR_ELU: case GR_LESS: case GR_LESS_EQUAL: case GR_GREATER:
    case GR_GREATER_EQUAL: case GR_EQUAL: case GR_NOT_EQUAL: case GR_SELECT: case GR_CONCAT:
    case GR_SLICE: case GR_PAD_SLICE: case GR_TRANSPOSE: case GR_MEAN_AXIS: case GR_MAX_AXIS:
    case GR_MAX_AXIS_GRAD: case GR_COUNT_IDS: case GR_SHIFT_IDS: case GR_GATHER_WSUM: case GR_SCATTER_WADD:
    case GR_GATHER_DOT: case GR_DROPOUT: case GR_FUSED:
        break;
    }
    return k >= 0 && k <= slots && k < n->nin;
}

void gr_rw_init(gr_rw *rw, gr_graph *g)
{
    size_t n = (size_t)(g->n ? g->n : 1);
    rw->g = g;
    rw->rep = es_alloc(g->arena, n * sizeof *rw->rep);
    rw->written = es_alloc(g->arena, n);
    rw->nw = 0;
    for (int i = 0; i < g->n; i++) {
        rw->rep[i] = i;
        for (int k = 0; k < g->nodes[i].nin; k++) rw->nw += gr_rw_writes(&g->nodes[i], k);
    }
    rw->w_node = es_alloc(g->arena, (size_t)(rw->nw ? rw->nw : 1) * sizeof *rw->w_node);
    rw->w_at = es_alloc(g->arena, (size_t)(rw->nw ? rw->nw : 1) * sizeof *rw->w_at);
    int w = 0;
    for (int i = 0; i < g->n; i++)
        for (int k = 0; k < g->nodes[i].nin; k++)
            if (gr_rw_writes(&g->nodes[i], k)) {
                rw->w_node[w] = g->nodes[i].in[k];
                rw->w_at[w] = i;
                rw->written[g->nodes[i].in[k]] = 1;
                w++;
            }
}

int gr_rw_unchanged(const gr_rw *rw, int x, int from, int to)
{
    if (!rw->written[x]) return 1;
    for (int k = 0; k < rw->nw; k++)
        if (rw->w_node[k] == x && rw->w_at[k] > from && rw->w_at[k] < to) return 0;
    return 1;
}

/* The node a read at position `at` of x should use: follow rep while the
 * target's buffer holds, from its definition to `at`, the value it had when
 * it was found equal (conservatively: is not overwritten in that window). */
static int target(const gr_rw *rw, int x, int at)
{
    int y = x;
    while (rw->rep[y] != y && gr_rw_unchanged(rw, rw->rep[y], rw->rep[y], at)) y = rw->rep[y];
    return y;
}

void gr_rw_inputs(gr_rw *rw, int j)
{
    gr_node *n = &rw->g->nodes[j];
    /* an update's own writes count too: apply_sgd(w, w*1) must not become
     * apply_sgd(w, w), one buffer read and written through two pointers
     * the kernels declare noalias */
    int at = (gr_ops[n->op].flags & GR_F_SIDE) ? j + 1 : j;
    for (int k = 0; k < n->nin; k++)
        if (!gr_rw_writes(n, k)) n->in[k] = target(rw, n->in[k], at);
}

void gr_rw_outputs(gr_rw *rw)
{
    for (int i = 0; i < rw->g->noutputs; i++)
        rw->g->outputs[i].node = target(rw, rw->g->outputs[i].node, rw->g->n);
}

int gr_rw_const_all(const gr_rw *rw, int c, float v)
{
    const gr_node *n = &rw->g->nodes[c];
    if (n->op != GR_CONST || rw->written[c]) return 0;
    int64_t ne = gr_numel(n->shape, 1);
    for (int64_t i = 0; i < ne; i++)
        if (memcmp(&n->data[i], &v, sizeof v) != 0) return 0;   /* bits: -0 is not +0 */
    return 1;
}

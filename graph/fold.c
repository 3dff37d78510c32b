/*
 * fold.c — constant folding (gr_fold).
 *
 * A node is folded when it computes a value (not a leaf, not an update, an
 * f32 result) from inputs that are all CONST, and neither it nor any input has
 * the batch dimension: its value is then the same at every call, so the pass
 * computes it once and the node becomes a CONST in place (same id, span and
 * name; its inputs may become dead, for dce). Nodes are visited in order, so a
 * chain of constant arithmetic folds in one sweep.
 *
 * Some inputs give only a shape (numel's input, the `like` of broadcast,
 * sum_to and scatter_add): they need not be CONST, only free of the batch
 * dimension, so numel of a [3,4] parameter folds to 12.
 *
 * The value comes from the reference evaluator itself, run on a two-level
 * graph (the constants, then a copy of the node), so folding is exact with
 * respect to gr_eval by construction. Folding never makes a constant of more
 * than FOLD_MAX elements unless its constant inputs were already that large:
 * broadcasting a scalar to a [1000000,8] shape would turn 4 bytes into 32 MB
 * of program data.
 */
#include "rewrite.h"

enum { FOLD_MAX = 1024 };

/* Is input k of op a value (1) or only a shape (0)? */
static int value_input(gr_op op, int k)
{
    switch (op) {
    case GR_NUMEL: return 0;
    case GR_BROADCAST: case GR_SUM_TO: return k == 0;
    case GR_SCATTER_ADD: return k != 2;
    case GR_SCATTER_WADD: return k != 3;
    case GR_PAD_SLICE: return k == 0;
    case GR_CONST: case GR_INPUT: case GR_PARAM:
    case GR_NEG: case GR_EXP: case GR_LOG: case GR_SQRT: case GR_ABS: case GR_SQUARE:
    case GR_SIGMOID: case GR_TANH: case GR_RELU: case GR_SOFTPLUS: case GR_STEP: case GR_SIGN:
    case GR_CAST_F32: case GR_ADD: case GR_SUB: case GR_MUL: case GR_DIV: case GR_MAXIMUM:
    case GR_MINIMUM: case GR_RESHAPE: case GR_SUM: case GR_MEAN: case GR_SUM_AXIS:
    case GR_MATMUL: case GR_GATHER_SUM: case GR_ONE_HOT: case GR_SOFTMAX:
    case GR_LOG_SOFTMAX: case GR_ARGMAX: case GR_SIGMOID_XENT: case GR_SOFTMAX_XENT:
    case GR_SOFTMAX_XENT_GRAD: case GR_APPLY_SGD: case GR_APPLY_ADAGRAD: case GR_APPLY_ADAM:
    case GR_APPLY_FTRL:
    case GR_LEAKY_RELU: case GR_ELU: case GR_LESS: case GR_LESS_EQUAL: case GR_GREATER:
    case GR_GREATER_EQUAL: case GR_EQUAL: case GR_NOT_EQUAL: case GR_SELECT: case GR_CONCAT:
    case GR_SLICE: case GR_TRANSPOSE: case GR_MEAN_AXIS: case GR_MAX_AXIS: case GR_MAX_AXIS_GRAD:
    case GR_COUNT_IDS: case GR_SHIFT_IDS: case GR_GATHER_WSUM: case GR_GATHER_DOT: case GR_DROPOUT:
    case GR_ASSIGN_EMA: case GR_FUSED:
        return 1;
    }
    return 1;
}

static int foldable(const gr_rw *rw, int i)
{
    const gr_graph *g = rw->g;
    const gr_node *n = &g->nodes[i];
    if ((gr_ops[n->op].flags & (GR_F_LEAF | GR_F_SIDE)) || n->dtype != GR_F32) return 0;
    /* a node an update writes needs a writable buffer of its own, and a
     * CONST's data may be frozen into read-only memory (the AOT predictor) */
    if (rw->written[i] || gr_has_batch(n->shape)) return 0;
    int64_t in_elems = 0;
    for (int k = 0; k < n->nin; k++) {
        const gr_node *x = &g->nodes[n->in[k]];
        if (gr_has_batch(x->shape)) return 0;
        if (!value_input(n->op, k)) continue;
        /* a CONST an update writes is a variable in disguise */
        if (x->op != GR_CONST || rw->written[n->in[k]]) return 0;
        in_elems += gr_numel(x->shape, 1);
    }
    int64_t ne = gr_numel(n->shape, 1);
    return ne <= FOLD_MAX || ne <= in_elems;
}

/* n's value, computed by gr_eval on a copy of n over CONST leaves (a zero CONST
 * of the same shape stands for a shape-only input); data in g's arena */
static float *evaluate(gr_graph *g, const gr_node *n, es_arena *scratch)
{
    gr_graph *t = gr_new(scratch, NULL);
    gr_node c = *n;
    for (int k = 0; k < n->nin; k++) {
        const gr_node *x = &g->nodes[n->in[k]];
        gr_node leaf;
        memset(&leaf, 0, sizeof leaf);
        leaf.op = GR_CONST;
        leaf.dtype = GR_F32;
        leaf.shape = x->shape;
        leaf.span = x->span;
        leaf.buf = -1;
        leaf.data = value_input(n->op, k) ? x->data
                                          : es_alloc(scratch, (size_t)gr_numel(x->shape, 1) * sizeof(float));
        c.in[k] = gr_push_raw(t, &leaf);
    }
    c.buf = -1;
    int out = gr_push_raw(t, &c);
    gr_bind(t);
    void **bufs = es_alloc(scratch, (size_t)t->nbufs * sizeof *bufs);
    for (int j = 0; j < t->n; j++)
        bufs[t->nodes[j].buf] = es_alloc(scratch, gr_buf_bytes(t, j, 1) + sizeof(float));
    gr_eval(t, bufs, 1);
    size_t bytes = gr_buf_bytes(t, out, 1);
    float *data = es_alloc(g->arena, bytes ? bytes : sizeof(float));
    memcpy(data, bufs[t->nodes[out].buf], bytes);
    return data;
}

gr_graph *gr_fold(gr_graph *g)
{
    gr_rw rw;
    gr_rw_init(&rw, g);
    es_arena *scratch = NULL;
    for (int i = 0; i < g->n; i++) {
        if (!foldable(&rw, i)) continue;
        if (!scratch) scratch = es_arena_new();
        gr_node *n = &g->nodes[i];
        float *data = evaluate(g, n, scratch);
        n->op = GR_CONST;
        n->nin = 0;
        memset(n->in, 0, sizeof n->in);
        memset(n->a, 0, sizeof n->a);
        memset(n->f, 0, sizeof n->f);
        n->data = data;
    }
    if (scratch) es_arena_free(scratch);
    return g;
}

/*
 * simplify.c — algebraic identities that hold bit for bit in IEEE f32
 * (gr_simplify).
 *
 *   mul(x, 1), mul(1, x), div(x, 1)          -> x
 *   add(x, -0), add(-0, x), sub(x, +0)        -> x
 *   neg(neg(x))                               -> x
 *   reshape(x) to x's own shape               -> x
 *   reshape(reshape(x))                       -> reshape(x)
 *   broadcast(x, like) with like shaped as x  -> x
 *
 * "1" and "0" are CONSTs whose every element has exactly those bits; a rule
 * fires only when the node's shape and dtype are x's (so mul([B,1], ones[3])
 * stays: it broadcasts). Not here, because they are not exact:
 *   x + (+0): for x = -0 it gives +0 (IEEE 754), not x;
 *   x - (-0): the same sum, written differently;
 *   sum_to(x, like) with equal shapes: the evaluator and the kernels add x
 *     into a +0 accumulator, which also maps -0 to +0.
 * Reading x's bits unchanged is the whole point: gr_eval computes each of the
 * rules' left sides in double and rounds once, which gives x back exactly.
 *
 * A rule records rep[i] = x; later reads of i then read x (rewrite.h says when
 * that is safe around optimizer updates). Nodes are visited in order with
 * their inputs already redirected, so neg(neg(neg(neg(x)))) becomes x in one
 * sweep. The rewritten nodes stay until dce.
 */
#include "rewrite.h"

/* the node that stands for node i, or i */
static int simplify(gr_rw *rw, int i)
{
    gr_graph *g = rw->g;
    gr_node *n = &g->nodes[i];
    const gr_node *x = n->nin > 0 ? &g->nodes[n->in[0]] : NULL;
    const gr_node *y = n->nin > 1 ? &g->nodes[n->in[1]] : NULL;
    int same_x = x && x->dtype == n->dtype && gr_shape_eq(x->shape, n->shape);
    int same_y = y && y->dtype == n->dtype && gr_shape_eq(y->shape, n->shape);
    switch (n->op) {
    case GR_MUL:
        if (same_x && gr_rw_const_all(rw, n->in[1], 1.0f)) return n->in[0];
        if (same_y && gr_rw_const_all(rw, n->in[0], 1.0f)) return n->in[1];
        return i;
    case GR_DIV:
        if (same_x && gr_rw_const_all(rw, n->in[1], 1.0f)) return n->in[0];
        return i;
    case GR_ADD:
        if (same_x && gr_rw_const_all(rw, n->in[1], -0.0f)) return n->in[0];
        if (same_y && gr_rw_const_all(rw, n->in[0], -0.0f)) return n->in[1];
        return i;
    case GR_SUB:
        if (same_x && gr_rw_const_all(rw, n->in[1], 0.0f)) return n->in[0];
        return i;
    case GR_NEG:
        /* the inner neg's buffer must still hold -x when i reads it; whether
         * x itself may stand in at a later read is target()'s check */
        if (x->op == GR_NEG && !rw->written[n->in[0]]) return x->in[0];
        return i;
    case GR_RESHAPE:
        if (x->op == GR_RESHAPE && !rw->written[n->in[0]] &&
            gr_rw_unchanged(rw, x->in[0], x->in[0], i)) {
            n->in[0] = x->in[0];            /* same elements, one copy fewer */
            x = &g->nodes[n->in[0]];
            same_x = x->dtype == n->dtype && gr_shape_eq(x->shape, n->shape);
        }
        return same_x ? n->in[0] : i;
    case GR_BROADCAST:
        return same_x ? n->in[0] : i;

    case GR_CONST: case GR_INPUT: case GR_PARAM:
    case GR_EXP: case GR_LOG: case GR_SQRT: case GR_ABS: case GR_SQUARE:
    case GR_SIGMOID: case GR_TANH: case GR_RELU: case GR_SOFTPLUS: case GR_STEP: case GR_SIGN:
    case GR_CAST_F32: case GR_MAXIMUM: case GR_MINIMUM: case GR_SUM_TO: case GR_SUM:
    case GR_MEAN: case GR_SUM_AXIS: case GR_NUMEL: case GR_MATMUL: case GR_GATHER_SUM:
    case GR_ONE_HOT: case GR_SCATTER_ADD: case GR_SOFTMAX: case GR_LOG_SOFTMAX: case GR_ARGMAX:
    case GR_SIGMOID_XENT: case GR_SOFTMAX_XENT: case GR_SOFTMAX_XENT_GRAD:
    case GR_APPLY_SGD: case GR_APPLY_ADAGRAD: case GR_APPLY_ADAM: case GR_APPLY_FTRL:
    case GR_LEAKY_RELU: case GR_ELU: case GR_LESS: case GR_LESS_EQUAL: case GR_GREATER:
    case GR_GREATER_EQUAL: case GR_EQUAL: case GR_NOT_EQUAL: case GR_SELECT: case GR_CONCAT:
    case GR_SLICE: case GR_PAD_SLICE: case GR_TRANSPOSE: case GR_MEAN_AXIS: case GR_MAX_AXIS:
    case GR_MAX_AXIS_GRAD: case GR_COUNT_IDS: case GR_SHIFT_IDS: case GR_GATHER_WSUM: case GR_SCATTER_WADD:
    case GR_GATHER_DOT: case GR_DROPOUT: case GR_ASSIGN_EMA: case GR_FUSED:
        return i;
    }
    return i;
}

gr_graph *gr_simplify(gr_graph *g)
{
    gr_rw rw;
    gr_rw_init(&rw, g);
    for (int i = 0; i < g->n; i++) {
        gr_rw_inputs(&rw, i);
        /* an overwritten node must keep its own buffer: its readers after
         * the update read the updated value */
        if (!rw.written[i] && !(gr_ops[g->nodes[i].op].flags & GR_F_SIDE))
            rw.rep[i] = simplify(&rw, i);
    }
    gr_rw_outputs(&rw);
    return g;
}

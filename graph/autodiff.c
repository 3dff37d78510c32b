/*
 * autodiff.c — reverse-mode differentiation and optimizer updates.
 *
 * gr_autodiff walks the forward nodes backwards from the loss and appends the
 * gradient nodes to the same graph. Only "active" nodes are visited: those
 * the loss needs and that depend on a trainable PARAM through edges that carry
 * gradient (never through ids, labels, the shape-only `like` inputs, or
 * numel). The adjoint of a node is the sum (ADD) of its consumers'
 * contributions, complete once every consumer — all later in topological
 * order — has been visited.
 *
 * Sparse gradients: a trainable table whose only active use is as the table of
 * one GATHER_SUM gets its gradient as (ids, rows) — the gather's ids and its
 * adjoint — so the optimizer can update only the touched rows. Any other table
 * is densified with SCATTER_ADD and accumulated like any gradient.
 *
 * A table read by gather_wsum (weighted ids) always gets a dense gradient
 * (scatter_wadd): the sparse form gives each example one row for all its ids,
 * and weighted ids need a row each.
 *
 * Ops whose gradient is zero almost everywhere (step, sign) or that have no
 * gradient rule (softmax_xent_grad, max_axis_grad: no second derivatives) are
 * errors when the loss depends on a parameter through them: a silently zero
 * gradient would train nothing. The comparisons and count_ids are different:
 * they are masks and counts the user asked for, so no gradient flows through
 * them and they are treated as constants, as TensorFlow does.
 */
#include "graph_impl.h"

#include <assert.h>

/* Does gradient flow from node op into its input i? */
static int diff_input(gr_op op, int i)
{
    switch (op) {
    case GR_CONST: case GR_INPUT: case GR_PARAM:
    case GR_CAST_F32: case GR_NUMEL: case GR_ONE_HOT: case GR_ARGMAX:
    case GR_APPLY_SGD: case GR_APPLY_ADAGRAD: case GR_APPLY_ADAM: case GR_APPLY_FTRL:
    case GR_LESS: case GR_LESS_EQUAL: case GR_GREATER: case GR_GREATER_EQUAL: case GR_EQUAL:
    case GR_NOT_EQUAL:                       /* piecewise constant: treated as constants */
    case GR_COUNT_IDS: case GR_SHIFT_IDS: case GR_ASSIGN_EMA:
        return 0;
    case GR_NEG: case GR_EXP: case GR_LOG: case GR_SQRT: case GR_ABS: case GR_SQUARE:
    case GR_SIGMOID: case GR_TANH: case GR_RELU: case GR_SOFTPLUS: case GR_STEP: case GR_SIGN:
    case GR_LEAKY_RELU: case GR_ELU:
    case GR_RESHAPE: case GR_SUM: case GR_MEAN: case GR_SUM_AXIS:
    case GR_SOFTMAX: case GR_LOG_SOFTMAX:
    case GR_SLICE: case GR_TRANSPOSE: case GR_MEAN_AXIS: case GR_MAX_AXIS:
    case GR_DROPOUT:                         /* not into the step */
    case GR_PAD_SLICE:                       /* `like` gives only a shape */
        return i == 0;
    case GR_ADD: case GR_SUB: case GR_MUL: case GR_DIV: case GR_MAXIMUM: case GR_MINIMUM:
    case GR_MATMUL: case GR_CONCAT:
    case GR_FUSED:                           /* made after autodiff; backprop refuses it */
        return 1;
    case GR_SELECT:                          /* not into the condition */
        return i == 1 || i == 2;
    case GR_GATHER_WSUM: case GR_GATHER_DOT: /* not into the ids */
        return i == 0 || i == 2;
    case GR_SCATTER_WADD:                    /* the weights and the rows */
        return i == 1 || i == 2;
    case GR_MAX_AXIS_GRAD:                   /* an error if reached, like softmax_xent_grad */
        return i == 1;
    case GR_BROADCAST: case GR_SUM_TO:       /* `like` gives only a shape */
    case GR_GATHER_SUM:                      /* not into the ids */
    case GR_SIGMOID_XENT: case GR_SOFTMAX_XENT:   /* not into the labels */
        return i == 0;
    case GR_SCATTER_ADD:
        return i == 1;
    case GR_SOFTMAX_XENT_GRAD:
        return i == 0 || i == 2;
    }
    return 0;
}

typedef struct ad {
    gr_graph *g;
    int *adj;           /* adjoint node of each forward node, or GR_NONE */
    int failed;
} ad;

/* ---- small builders in the span of the node being differentiated ---------- */

static int K(ad *c, double v, es_span sp) { return gr_scalar(c->g, v, sp); }
static int U(ad *c, gr_op op, int x, es_span sp) { return gr_unary(c->g, op, x, sp); }
static int Bn(ad *c, gr_op op, int x, int y, es_span sp) { return gr_binary(c->g, op, x, y, sp); }

static gr_shape shape_of(ad *c, int id) { return c->g->nodes[id].shape; }

/* c summed down to the shape of node `to` (undoing broadcasting) */
static int reduce_to(ad *c, int v, int to, es_span sp)
{
    if (v == GR_NONE) return GR_NONE;
    if (gr_shape_eq(shape_of(c, v), shape_of(c, to))) return v;
    return Bn(c, GR_SUM_TO, v, to, sp);
}

static void contrib(ad *c, int to, int v)
{
    if (v == GR_NONE) { c->failed = 1; return; }
    if (c->adj[to] == GR_NONE) { c->adj[to] = v; return; }
    int s = Bn(c, GR_ADD, c->adj[to], v, c->g->nodes[to].span);
    if (s == GR_NONE) c->failed = 1;
    c->adj[to] = s;
}

/* the shape of x with a 1 inserted at axis (keepdims of a reduction) */
static gr_shape keepdim(gr_shape s, int axis)
{
    gr_shape r = gr_shape0();
    for (int i = 0; i < s.rank; i++) {
        if (i == axis) r.d[r.rank++] = 1;
        r.d[r.rank++] = s.d[i];
    }
    if (axis == s.rank) r.d[r.rank++] = 1;
    return r;
}

/* select(cond, a, b) */
static int sel(ad *c, int cond, int a, int b, es_span sp)
{
    return gr_op_node(c->g, GR_SELECT, 3, (int[]){ cond, a, b }, NULL, NULL, sp);
}

/* sum of v over its last axis, kept as a size-1 axis so it broadcasts back */
static int sum_last_keep(ad *c, int v, es_span sp)
{
    gr_shape s = shape_of(c, v);
    int r = gr_sum_axis(c->g, v, s.rank - 1, sp);
    if (r == GR_NONE) return GR_NONE;
    return gr_reshape(c->g, r, keepdim(shape_of(c, r), s.rank - 1), sp);
}

/* Appends the contributions of node i (a copy, since building moves nodes)
 * to the adjoints of its active inputs. */
static void backprop(ad *c, int i, const gr_node *n, const char *active, const int *sparse_of)
{
    es_span sp = n->span;
    int dy = c->adj[i], out = i;
    int x = n->nin > 0 ? n->in[0] : GR_NONE, y = n->nin > 1 ? n->in[1] : GR_NONE;
    int ax = x != GR_NONE && active[x] && diff_input(n->op, 0);
    int ay = y != GR_NONE && active[y] && diff_input(n->op, 1);

    switch (n->op) {
    case GR_CONST: case GR_INPUT: case GR_PARAM:
    case GR_CAST_F32: case GR_NUMEL: case GR_ONE_HOT: case GR_ARGMAX:
    case GR_APPLY_SGD: case GR_APPLY_ADAGRAD: case GR_APPLY_ADAM: case GR_APPLY_FTRL:
        return;                                  /* nothing flows into the inputs */
    case GR_LESS: case GR_LESS_EQUAL: case GR_GREATER: case GR_GREATER_EQUAL: case GR_EQUAL:
    case GR_NOT_EQUAL: case GR_COUNT_IDS: case GR_SHIFT_IDS: case GR_ASSIGN_EMA:
        return;
    case GR_STEP: case GR_SIGN: case GR_SOFTMAX_XENT_GRAD: case GR_MAX_AXIS_GRAD: case GR_FUSED:
        gr_error(c->g, sp, "cannot differentiate the loss: it depends on a trainable "
                 "parameter through %s, which has no useful gradient", gr_ops[n->op].name);
        c->failed = 1;
        return;

    case GR_NEG: contrib(c, x, U(c, GR_NEG, dy, sp)); return;
    case GR_EXP: contrib(c, x, Bn(c, GR_MUL, dy, out, sp)); return;
    case GR_LOG: contrib(c, x, Bn(c, GR_DIV, dy, x, sp)); return;
    case GR_SQRT:   /* d sqrt(x) = 1 / (2 sqrt(x)) */
        contrib(c, x, Bn(c, GR_DIV, Bn(c, GR_MUL, dy, K(c, 0.5, sp), sp), out, sp));
        return;
    case GR_ABS: contrib(c, x, Bn(c, GR_MUL, dy, U(c, GR_SIGN, x, sp), sp)); return;
    case GR_SQUARE:
        contrib(c, x, Bn(c, GR_MUL, dy, Bn(c, GR_MUL, x, K(c, 2, sp), sp), sp));
        return;
    case GR_SIGMOID:   /* s (1 - s) */
        contrib(c, x, Bn(c, GR_MUL, dy, Bn(c, GR_MUL, out, Bn(c, GR_SUB, K(c, 1, sp), out, sp), sp), sp));
        return;
    case GR_TANH:      /* 1 - t^2 */
        contrib(c, x, Bn(c, GR_MUL, dy, Bn(c, GR_SUB, K(c, 1, sp), U(c, GR_SQUARE, out, sp), sp), sp));
        return;
    /* step(relu(x)) is step(x) for every x (NaN and -0 included), and reading the
     * output leaves x to relu alone, so the fuse pass can fold x's bias add
     * into relu's loop */
    case GR_RELU: contrib(c, x, Bn(c, GR_MUL, dy, U(c, GR_STEP, out, sp), sp)); return;
    case GR_SOFTPLUS: contrib(c, x, Bn(c, GR_MUL, dy, U(c, GR_SIGMOID, x, sp), sp)); return;
    case GR_LEAKY_RELU: {   /* x > 0 ? dy : alpha * dy */
        int cond = U(c, GR_STEP, x, sp);
        contrib(c, x, sel(c, cond, dy, Bn(c, GR_MUL, dy, K(c, n->f[0], sp), sp), sp));
        return;
    }
    case GR_ELU: {          /* x > 0 ? dy : dy * (y + alpha), since y + alpha = alpha exp(x) there */
        int cond = U(c, GR_STEP, x, sp);
        int neg = Bn(c, GR_MUL, dy, Bn(c, GR_ADD, out, K(c, n->f[0], sp), sp), sp);
        contrib(c, x, sel(c, cond, dy, neg, sp));
        return;
    }
    case GR_SELECT: {       /* cond picks which side the upstream goes to */
        int z = n->in[2];
        int zero = K(c, 0, sp);
        if (ay) contrib(c, y, reduce_to(c, sel(c, x, dy, zero, sp), y, sp));
        if (active[z] && diff_input(n->op, 2)) contrib(c, z, reduce_to(c, sel(c, x, zero, dy, sp), z, sp));
        return;
    }

    case GR_ADD:
        if (ax) contrib(c, x, reduce_to(c, dy, x, sp));
        if (ay) contrib(c, y, reduce_to(c, dy, y, sp));
        return;
    case GR_SUB:
        if (ax) contrib(c, x, reduce_to(c, dy, x, sp));
        if (ay) contrib(c, y, reduce_to(c, U(c, GR_NEG, dy, sp), y, sp));
        return;
    case GR_MUL:
        if (ax) contrib(c, x, reduce_to(c, Bn(c, GR_MUL, dy, y, sp), x, sp));
        if (ay) contrib(c, y, reduce_to(c, Bn(c, GR_MUL, dy, x, sp), y, sp));
        return;
    case GR_DIV:      /* d/dy (x/y) = -(x/y) / y */
        if (ax) contrib(c, x, reduce_to(c, Bn(c, GR_DIV, dy, y, sp), x, sp));
        if (ay) contrib(c, y, reduce_to(c, U(c, GR_NEG, Bn(c, GR_DIV, Bn(c, GR_MUL, dy, out, sp), y, sp), sp), y, sp));
        return;
    case GR_MAXIMUM: case GR_MINIMUM: {
        /* ties go to x, as the evaluator picks x: y's mask is y > x (max) or y < x (min) */
        int d = n->op == GR_MAXIMUM ? Bn(c, GR_SUB, y, x, sp) : Bn(c, GR_SUB, x, y, sp);
        int to_y = Bn(c, GR_MUL, dy, U(c, GR_STEP, d, sp), sp);
        if (ax) contrib(c, x, reduce_to(c, Bn(c, GR_SUB, dy, to_y, sp), x, sp));
        if (ay) contrib(c, y, reduce_to(c, to_y, y, sp));
        return;
    }

    case GR_BROADCAST: contrib(c, x, reduce_to(c, dy, x, sp)); return;
    case GR_SUM_TO: contrib(c, x, Bn(c, GR_BROADCAST, dy, x, sp)); return;
    case GR_RESHAPE: contrib(c, x, gr_reshape(c->g, dy, shape_of(c, x), sp)); return;

    case GR_CONCAT: {       /* input j gets its own stretch of the upstream */
        int64_t at = 0, axis = n->a[0];
        for (int j = 0; j < n->nin; j++) {
            int xj = n->in[j];
            int64_t len = shape_of(c, xj).d[axis];
            /* a node appearing twice gets both stretches: contrib adds them */
            if (active[xj]) {
                int64_t a[4] = { axis, at, len, 0 };
                contrib(c, xj, gr_op_node(c->g, GR_SLICE, 1, &dy, a, NULL, sp));
            }
            at += len;
        }
        return;
    }
    case GR_SLICE: contrib(c, x, gr_op_node(c->g, GR_PAD_SLICE, 2, (int[]){ dy, x }, n->a, NULL, sp)); return;
    case GR_PAD_SLICE: contrib(c, x, gr_op_node(c->g, GR_SLICE, 1, &dy, n->a, NULL, sp)); return;
    case GR_TRANSPOSE: contrib(c, x, U(c, GR_TRANSPOSE, dy, sp)); return;
    case GR_DROPOUT:        /* the same mask and scale: dropout is linear in x */
        contrib(c, x, gr_op_node(c->g, GR_DROPOUT, 2, (int[]){ dy, y }, n->a, n->f, sp));
        return;

    case GR_SUM: contrib(c, x, Bn(c, GR_BROADCAST, dy, x, sp)); return;
    case GR_MEAN: {
        /* divide by the element count: a constant unless it involves B */
        gr_shape s = shape_of(c, x);
        int scaled = gr_has_batch(s)
            ? Bn(c, GR_DIV, dy, U(c, GR_NUMEL, x, sp), sp)
            : Bn(c, GR_MUL, dy, K(c, 1.0 / (double)gr_numel(s, 1), sp), sp);
        contrib(c, x, Bn(c, GR_BROADCAST, scaled, x, sp));
        return;
    }
    case GR_SUM_AXIS: {
        int r = gr_reshape(c->g, dy, keepdim(shape_of(c, dy), (int)n->a[0]), sp);
        contrib(c, x, Bn(c, GR_BROADCAST, r, x, sp));
        return;
    }

    case GR_MEAN_AXIS: {    /* the sum's gradient divided by the axis's size (B: numel ratio) */
        int axis = (int)n->a[0];
        int r = gr_reshape(c->g, dy, keepdim(shape_of(c, dy), axis), sp);
        int bx = Bn(c, GR_BROADCAST, r, x, sp);
        int64_t d = shape_of(c, x).d[axis];
        int scaled = d != GR_BATCH
            ? Bn(c, GR_MUL, bx, K(c, 1.0 / (double)d, sp), sp)
            : Bn(c, GR_DIV, bx, Bn(c, GR_DIV, U(c, GR_NUMEL, x, sp), U(c, GR_NUMEL, out, sp), sp), sp);
        contrib(c, x, scaled);
        return;
    }
    case GR_MAX_AXIS:
        contrib(c, x, gr_op_node(c->g, GR_MAX_AXIS_GRAD, 2, (int[]){ x, dy }, n->a, NULL, sp));
        return;

    case GR_MATMUL: {
        int ta = n->a[0] != 0, tb = n->a[1] != 0;
        /* C = op(A) op(B): dA and dB for each of the four transpose cases */
        if (ax) {
            int v = !ta ? gr_matmul(c->g, dy, y, 0, !tb, sp)      /* dC op(B)^T */
                        : gr_matmul(c->g, y, dy, tb, 1, sp);      /* (dC op(B)^T)^T */
            contrib(c, x, v);
        }
        if (ay) {
            int v = !tb ? gr_matmul(c->g, x, dy, !ta, 0, sp)      /* op(A)^T dC */
                        : gr_matmul(c->g, dy, x, 1, ta, sp);      /* (op(A)^T dC)^T */
            contrib(c, y, v);
        }
        return;
    }

    case GR_GATHER_SUM:
        if (!ax) return;
        if (sparse_of[x] == i) return;           /* the table's sparse gradient: read later */
        contrib(c, x, gr_op_node(c->g, GR_SCATTER_ADD, 3, (int[]){ y, dy, x }, NULL, NULL, sp));
        return;
    case GR_SCATTER_ADD:   /* rows[b] went to rows ids[b,*]: gather their adjoints back */
        if (ay) contrib(c, y, Bn(c, GR_GATHER_SUM, dy, x, sp));
        return;
    case GR_GATHER_WSUM: {  /* (W, ids, weights): W densely, weights by row dot products */
        int w = n->in[2];
        if (ax) contrib(c, x, gr_op_node(c->g, GR_SCATTER_WADD, 4, (int[]){ y, w, dy, x }, NULL, NULL, sp));
        if (active[w]) contrib(c, w, gr_op_node(c->g, GR_GATHER_DOT, 3, (int[]){ x, y, dy }, NULL, NULL, sp));
        return;
    }
    case GR_SCATTER_WADD: { /* (ids, weights, rows, like) */
        int rows = n->in[2];
        if (ay) contrib(c, y, gr_op_node(c->g, GR_GATHER_DOT, 3, (int[]){ dy, x, rows }, NULL, NULL, sp));
        if (active[rows])
            contrib(c, rows, gr_op_node(c->g, GR_GATHER_WSUM, 3, (int[]){ dy, x, y }, NULL, NULL, sp));
        return;
    }
    case GR_GATHER_DOT: {   /* (W, ids, g): out[b,m] = W[id] . g[b] */
        int gg = n->in[2];
        if (ax) contrib(c, x, gr_op_node(c->g, GR_SCATTER_WADD, 4, (int[]){ y, dy, gg, x }, NULL, NULL, sp));
        if (active[gg]) contrib(c, gg, gr_op_node(c->g, GR_GATHER_WSUM, 3, (int[]){ x, y, dy }, NULL, NULL, sp));
        return;
    }

    case GR_SOFTMAX: {     /* s * (dy - sum(dy * s)) */
        int t = sum_last_keep(c, Bn(c, GR_MUL, dy, out, sp), sp);
        contrib(c, x, Bn(c, GR_MUL, out, Bn(c, GR_SUB, dy, t, sp), sp));
        return;
    }
    case GR_LOG_SOFTMAX: { /* dy - softmax(x) * sum(dy) */
        int t = sum_last_keep(c, dy, sp);
        contrib(c, x, Bn(c, GR_SUB, dy, Bn(c, GR_MUL, U(c, GR_EXP, out, sp), t, sp), sp));
        return;
    }
    case GR_SIGMOID_XENT:  /* sigmoid(l) - y */
        contrib(c, x, Bn(c, GR_MUL, dy, Bn(c, GR_SUB, U(c, GR_SIGMOID, x, sp), y, sp), sp));
        return;
    case GR_SOFTMAX_XENT:
        contrib(c, x, gr_op_node(c->g, GR_SOFTMAX_XENT_GRAD, 3, (int[]){ x, y, dy }, NULL, NULL, sp));
        return;
    }
}

int gr_autodiff(gr_graph *g, int loss, gr_grad **grads, int *ngrads)
{
    *grads = NULL;
    *ngrads = 0;
    if (loss == GR_NONE) return -1;
    const gr_node *ln = &g->nodes[loss];
    if (ln->dtype != GR_F32 || ln->shape.rank != 0) {
        char b[64];
        gr_error(g, ln->span, "the loss must be an f32 scalar, but it is %s%s (reduce it with sum or mean)",
                 gr_dtype_name(ln->dtype), gr_shape_str(ln->shape, b, sizeof b));
        return -1;
    }
    int n0 = g->n;
    char *dep = es_alloc(g->arena, (size_t)n0);
    char *need = es_alloc(g->arena, (size_t)n0);
    char *active = es_alloc(g->arena, (size_t)n0);
    int *uses = es_alloc(g->arena, (size_t)n0 * sizeof *uses);
    int *user = es_alloc(g->arena, (size_t)n0 * sizeof *user);
    int *sparse_of = es_alloc(g->arena, (size_t)n0 * sizeof *sparse_of);
    ad c = { g, es_alloc(g->arena, (size_t)n0 * sizeof(int)), 0 };

    for (int i = 0; i < n0; i++) {
        const gr_node *n = &g->nodes[i];
        c.adj[i] = GR_NONE;
        sparse_of[i] = GR_NONE;
        if (n->op == GR_PARAM) { dep[i] = n->a[1] != 0; continue; }
        if (n->dtype != GR_F32) continue;
        for (int k = 0; k < n->nin; k++)
            if (diff_input(n->op, k) && dep[n->in[k]]) dep[i] = 1;
    }
    need[loss] = 1;
    for (int i = loss; i >= 0; i--) {
        if (!need[i]) continue;
        for (int k = 0; k < g->nodes[i].nin; k++) need[g->nodes[i].in[k]] = 1;
    }
    for (int i = 0; i < n0; i++) active[i] = need[i] && dep[i];
    /* active uses along gradient edges: who would send a contribution */
    for (int i = 0; i < n0; i++) {
        const gr_node *n = &g->nodes[i];
        if (!active[i]) continue;
        for (int k = 0; k < n->nin; k++)
            if (diff_input(n->op, k) && active[n->in[k]]) { uses[n->in[k]]++; user[n->in[k]] = i; }
    }
    int np = 0;
    for (int i = 0; i < n0; i++) {
        const gr_node *n = &g->nodes[i];
        if (n->op != GR_PARAM || !active[i]) continue;
        np++;
        if (uses[i] == 1 && g->nodes[user[i]].op == GR_GATHER_SUM && g->nodes[user[i]].in[0] == i)
            sparse_of[i] = user[i];
    }

    if (!active[loss]) return 0;       /* no trainable parameter reaches the loss */
    c.adj[loss] = gr_scalar(g, 1.0, ln->span);
    for (int i = loss; i >= 0; i--) {
        if (!active[i] || c.adj[i] == GR_NONE) continue;
        gr_node n = g->nodes[i];
        backprop(&c, i, &n, active, sparse_of);
    }
    if (c.failed) return -1;

    gr_grad *gs = es_alloc(g->arena, (size_t)(np ? np : 1) * sizeof *gs);
    int k = 0;
    for (int i = 0; i < n0; i++) {
        if (g->nodes[i].op != GR_PARAM || !active[i]) continue;
        gr_grad gd = { i, GR_NONE, GR_NONE, GR_NONE };
        if (sparse_of[i] != GR_NONE) {
            gd.ids = g->nodes[sparse_of[i]].in[1];
            gd.rows = c.adj[sparse_of[i]];
        } else {
            gd.dense = c.adj[i];
        }
        assert(gd.dense != GR_NONE || gd.rows != GR_NONE);
        gs[k++] = gd;
    }
    *grads = gs;
    *ngrads = k;
    return 0;
}

/* ---- optimizers ---------------------------------------------------------------- */

void gr_optimizer_defaults(gr_optimizer *o, gr_opt_kind kind)
{
    memset(o, 0, sizeof *o);
    o->kind = kind;
    o->beta1 = 0.9;
    o->beta2 = 0.999;
    o->lr_power = -0.5;
    o->initial_accum = 0.1;
    switch (kind) {
    case GR_OPT_SGD: o->lr = 0.01; break;        /* Keras SGD's default */
    case GR_OPT_ADAGRAD: o->lr = 0.05; break;    /* TF's DNN estimators' default */
    case GR_OPT_ADAM: o->lr = 0.001; o->eps = 1e-8; break;
    case GR_OPT_FTRL: o->lr = 0.2; break;        /* TF's linear estimators' default (at most) */
    }
}

/* the slot "<param>/<name>", made once (a second optimizer pass reuses it) */
static int slot(gr_graph *g, const gr_node *p, const char *name, gr_shape s, gr_init init,
                double f0, es_span sp)
{
    const char *full = es_sprintf(g->arena, "%s/%s", p->name, name);
    int id = gr_find_named(g, GR_PARAM, full);
    if (id != GR_NONE) return id;
    return gr_param(g, full, s, init, f0, 0, 0, sp);
}

int gr_apply_optimizer(gr_graph *g, const gr_grad *grads, int ngrads, const gr_optimizer *opt,
                       es_span sp)
{
    int errs = g->nerrors;
    for (int i = 0; i < ngrads; i++) {
        gr_node p = g->nodes[grads[i].param];
        int sparse = grads[i].dense == GR_NONE;
        int in[GR_MAXIN], nin = 0;
        int64_t a[4] = { sparse, 0, 0, 0 };
        double f[4] = { opt->lr, 0, 0, 0 };
        gr_op op = GR_APPLY_SGD;
        in[nin++] = grads[i].param;
        switch (opt->kind) {
        case GR_OPT_SGD:
            break;
        case GR_OPT_ADAGRAD:
            op = GR_APPLY_ADAGRAD;
            in[nin++] = slot(g, &p, "accum", p.shape, GR_INIT_CONST, opt->initial_accum, sp);
            f[1] = opt->eps;
            break;
        case GR_OPT_ADAM:
            op = GR_APPLY_ADAM;
            in[nin++] = slot(g, &p, "m", p.shape, GR_INIT_ZEROS, 0, sp);
            in[nin++] = slot(g, &p, "v", p.shape, GR_INIT_ZEROS, 0, sp);
            in[nin++] = slot(g, &p, "step", gr_shape1(1), GR_INIT_ZEROS, 0, sp);
            f[1] = opt->beta1; f[2] = opt->beta2; f[3] = opt->eps;
            break;
        case GR_OPT_FTRL:
            op = GR_APPLY_FTRL;
            in[nin++] = slot(g, &p, "accum", p.shape, GR_INIT_CONST, opt->initial_accum, sp);
            in[nin++] = slot(g, &p, "linear", p.shape, GR_INIT_ZEROS, 0, sp);
            f[1] = opt->l1; f[2] = opt->l2; f[3] = opt->lr_power;
            break;
        }
        if (sparse) { in[nin++] = grads[i].ids; in[nin++] = grads[i].rows; }
        else in[nin++] = grads[i].dense;
        gr_op_node(g, op, nin, in, a, f, sp);
    }
    return g->nerrors == errs ? 0 : -1;
}

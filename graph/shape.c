/*
 * shape.c — the shape and dtype rule of every op (gr_infer).
 *
 * A rule reads the node's inputs and attributes and writes n->shape and
 * n->dtype; leaves and RESHAPE carry their shape in the node already and
 * their rule only checks it. Messages name the op and the shapes as the user
 * would write them ("[B,3]"), since they surface as diagnostics at the user's
 * line. The rules are the single source of truth: the verifier re-runs them
 * on every node and the text parser runs them on every parsed line.
 *
 * Batch dimension: GR_BATCH is one symbolic size, so it equals itself and
 * broadcasts only against 1. Params and consts never have it.
 */
#include "graph_impl.h"

#include <stdarg.h>

static int fail(char *msg, size_t len, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int fail(char *msg, size_t len, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, len, fmt, ap);
    va_end(ap);
    return -1;
}

/* the shape is well formed: rank in range, dims positive or B (at most one B) */
static int check_shape(const char *op, gr_shape s, int allow_batch, char *msg, size_t len)
{
    char b[64];
    if (s.rank < 0 || s.rank > GR_MAXDIMS)
        return fail(msg, len, "%s: rank %d is outside 0..%d", op, s.rank, GR_MAXDIMS);
    int nb = 0;
    for (int i = 0; i < s.rank; i++) {
        if (s.d[i] == GR_BATCH) nb++;
        else if (s.d[i] <= 0)
            return fail(msg, len, "%s: shape %s has a dimension that is not positive", op,
                        gr_shape_str(s, b, sizeof b));
    }
    if (nb && !allow_batch)
        return fail(msg, len, "%s: shape %s cannot have the batch dimension B", op,
                    gr_shape_str(s, b, sizeof b));
    if (nb > 1)
        return fail(msg, len, "%s: shape %s has more than one batch dimension", op,
                    gr_shape_str(s, b, sizeof b));
    return 0;
}

static int want_dtype(const char *op, const char *what, const gr_node *x, gr_dtype t,
                      char *msg, size_t len)
{
    if (x->dtype == t) return 0;
    return fail(msg, len, "%s: %s must be %s, not %s", op, what, gr_dtype_name(t),
                gr_dtype_name(x->dtype));
}

static int want_rank(const char *op, const char *what, const gr_node *x, int lo, int hi,
                     char *msg, size_t len)
{
    char b[64];
    if (x->shape.rank >= lo && x->shape.rank <= hi) return 0;
    if (lo == hi)
        return fail(msg, len, "%s: %s must have rank %d, but its shape is %s", op, what, lo,
                    gr_shape_str(x->shape, b, sizeof b));
    return fail(msg, len, "%s: %s must have rank %d to %d, but its shape is %s", op, what, lo,
                hi, gr_shape_str(x->shape, b, sizeof b));
}

/* ids: i32, [N] or [N,M] */
static int want_ids(const char *op, const gr_node *ids, char *msg, size_t len)
{
    if (want_dtype(op, "ids", ids, GR_I32, msg, len)) return -1;
    return want_rank(op, "ids", ids, 1, 2, msg, len);
}

static int dims_differ(int64_t a, int64_t b) { return a != b; }

/* optimizer updates: (var, slots..., grad) or, sparse, (var, slots..., ids, rows) */
static int infer_apply(const gr_graph *g, gr_node *n, int nslots, char *msg, size_t len)
{
    const char *op = gr_ops[n->op].name;
    char b1[64], b2[64], b3[64];
    int sparse = n->a[0] != 0;
    int want = 1 + nslots + (sparse ? 2 : 1);
    if (n->nin != want)
        return fail(msg, len, "%s: expects %d inputs (%s form), got %d", op, want,
                    sparse ? "sparse" : "dense", n->nin);
    const gr_node *var = &g->nodes[n->in[0]];
    if (want_dtype(op, "the variable", var, GR_F32, msg, len)) return -1;
    if (gr_has_batch(var->shape))
        return fail(msg, len, "%s: the variable cannot have the batch dimension", op);
    for (int i = 1; i <= nslots; i++) {
        const gr_node *s = &g->nodes[n->in[i]];
        gr_shape ws = var->shape;
        if (n->op == GR_APPLY_ADAM && i == 3) ws = gr_shape1(1);   /* the step counter */
        if (want_dtype(op, "an optimizer slot", s, GR_F32, msg, len)) return -1;
        if (!gr_shape_eq(s->shape, ws))
            return fail(msg, len, "%s: slot %d has shape %s, expected %s", op, i,
                        gr_shape_str(s->shape, b1, sizeof b1), gr_shape_str(ws, b2, sizeof b2));
    }
    if (!sparse) {
        const gr_node *gd = &g->nodes[n->in[1 + nslots]];
        if (want_dtype(op, "the gradient", gd, GR_F32, msg, len)) return -1;
        if (!gr_shape_eq(gd->shape, var->shape))
            return fail(msg, len, "%s: gradient shape %s differs from the variable's %s", op,
                        gr_shape_str(gd->shape, b1, sizeof b1),
                        gr_shape_str(var->shape, b2, sizeof b2));
    } else {
        const gr_node *ids = &g->nodes[n->in[1 + nslots]], *rows = &g->nodes[n->in[2 + nslots]];
        if (want_rank(op, "a sparsely updated variable", var, 2, 2, msg, len)) return -1;
        if (want_ids(op, ids, msg, len)) return -1;
        if (want_dtype(op, "the gradient rows", rows, GR_F32, msg, len)) return -1;
        if (want_rank(op, "the gradient rows", rows, 2, 2, msg, len)) return -1;
        if (dims_differ(rows->shape.d[0], ids->shape.d[0]) || rows->shape.d[1] != var->shape.d[1])
            return fail(msg, len, "%s: gradient rows %s do not match ids %s and variable %s", op,
                        gr_shape_str(rows->shape, b1, sizeof b1),
                        gr_shape_str(ids->shape, b2, sizeof b2),
                        gr_shape_str(var->shape, b3, sizeof b3));
    }
    n->dtype = GR_VOID;
    n->shape = gr_shape0();
    return 0;
}

/* axis in [0, rank) */
static int check_axis(const char *op, int64_t ax, gr_shape s, char *msg, size_t len)
{
    char b[64];
    if (ax >= 0 && ax < s.rank) return 0;
    return fail(msg, len, "%s: axis %lld is outside the %d axes of %s", op, (long long)ax, s.rank,
                gr_shape_str(s, b, sizeof b));
}

static gr_shape drop_axis(gr_shape s, int ax)
{
    gr_shape r = gr_shape0();
    for (int i = 0; i < s.rank; i++)
        if (i != ax) r.d[r.rank++] = s.d[i];
    return r;
}

/* slice a[] = axis, start, length within shape s (the axis fixed) */
static int check_slice(const char *op, const gr_node *n, gr_shape s, char *msg, size_t len)
{
    char b[64];
    int64_t ax = n->a[0], start = n->a[1], cnt = n->a[2];
    if (check_axis(op, ax, s, msg, len)) return -1;
    if (s.d[ax] == GR_BATCH)
        return fail(msg, len, "%s: cannot slice the batch axis of %s", op, gr_shape_str(s, b, sizeof b));
    if (start < 0 || cnt < 1 || start > s.d[ax] - cnt)
        return fail(msg, len, "%s: elements %lld..%lld are outside axis %lld of %s", op, (long long)start,
                    (long long)(start + cnt - 1), (long long)ax, gr_shape_str(s, b, sizeof b));
    return 0;
}

/* concat: one dtype and rank; equal except along the (fixed) axis */
static int infer_concat(const gr_graph *g, gr_node *n, char *msg, size_t len)
{
    char b1[64], b2[64];
    if (n->nin < 1) return fail(msg, len, "concat: needs at least one input");
    const gr_node *x = &g->nodes[n->in[0]];
    if (x->dtype != GR_F32 && x->dtype != GR_I32)
        return fail(msg, len, "concat: inputs must be f32 or i32");
    if (check_axis("concat", n->a[0], x->shape, msg, len)) return -1;
    int ax = (int)n->a[0];
    gr_shape r = x->shape;
    r.d[ax] = 0;
    for (int j = 0; j < n->nin; j++) {
        const gr_node *xj = &g->nodes[n->in[j]];
        if (xj->dtype != x->dtype)
            return fail(msg, len, "concat: input %d is %s, input 0 is %s", j, gr_dtype_name(xj->dtype),
                        gr_dtype_name(x->dtype));
        int same = xj->shape.rank == x->shape.rank;
        for (int i = 0; same && i < x->shape.rank; i++)
            if (i != ax && xj->shape.d[i] != x->shape.d[i]) same = 0;
        if (!same)
            return fail(msg, len, "concat: shapes %s and %s differ outside axis %d",
                        gr_shape_str(x->shape, b1, sizeof b1), gr_shape_str(xj->shape, b2, sizeof b2), ax);
        if (xj->shape.d[ax] == GR_BATCH)
            return fail(msg, len, "concat: cannot concatenate along the batch axis (axis %d of %s)", ax,
                        gr_shape_str(xj->shape, b1, sizeof b1));
        r.d[ax] += xj->shape.d[ax];
    }
    n->dtype = x->dtype;
    n->shape = r;
    return 0;
}

/* ---- fused expressions -------------------------------------------------------- */

int gr_fused_head(const gr_node *n)
{
    return n->op == GR_FUSED && n->nsteps > 0 && n->steps && n->steps[0].op == GR_MATMUL;
}

int gr_fused_arity(gr_op op)
{
    switch (op) {
    case GR_NEG: case GR_EXP: case GR_LOG: case GR_SQRT: case GR_ABS: case GR_SQUARE:
    case GR_SIGMOID: case GR_TANH: case GR_RELU: case GR_SOFTPLUS: case GR_STEP: case GR_SIGN:
    case GR_CAST_F32: case GR_LEAKY_RELU: case GR_ELU:
        return 1;
    case GR_ADD: case GR_SUB: case GR_MUL: case GR_DIV: case GR_MAXIMUM: case GR_MINIMUM:
    case GR_LESS: case GR_LESS_EQUAL: case GR_GREATER: case GR_GREATER_EQUAL: case GR_EQUAL:
    case GR_NOT_EQUAL:
        return 2;
    case GR_SELECT:
        return 3;
    case GR_CONST: case GR_INPUT: case GR_PARAM: case GR_FUSED:
    case GR_BROADCAST: case GR_SUM_TO: case GR_RESHAPE: case GR_CONCAT: case GR_SLICE:
    case GR_PAD_SLICE: case GR_TRANSPOSE: case GR_SUM: case GR_MEAN: case GR_SUM_AXIS:
    case GR_MEAN_AXIS: case GR_MAX_AXIS: case GR_MAX_AXIS_GRAD: case GR_NUMEL: case GR_MATMUL:
    case GR_GATHER_SUM: case GR_ONE_HOT: case GR_SCATTER_ADD: case GR_COUNT_IDS: case GR_SHIFT_IDS:
    case GR_GATHER_WSUM: case GR_SCATTER_WADD: case GR_GATHER_DOT: case GR_SOFTMAX:
    case GR_LOG_SOFTMAX: case GR_ARGMAX: case GR_SIGMOID_XENT: case GR_SOFTMAX_XENT:
    case GR_SOFTMAX_XENT_GRAD: case GR_DROPOUT: case GR_ASSIGN_EMA: case GR_APPLY_SGD:
    case GR_APPLY_ADAGRAD: case GR_APPLY_ADAM: case GR_APPLY_FTRL:
        return 0;
    }
    return 0;
}

/* FUSED: every step an elementwise op over earlier values; cast_f32 reads an
 * i32 input, everything else f32; the result is the inputs' broadcast shape.
 * With a matmul head (step 0 = matmul($0, $1)) the product stands for inputs
 * 0 and 1 in that shape, and no later step reads them. */
static int infer_fused(const gr_graph *g, gr_node *n, char *msg, size_t len)
{
    char b1[64], b2[64];
    if (n->nin < 1) return fail(msg, len, "fused: needs at least one input");
    if (n->nsteps < 1 || n->nsteps > GR_MAXSTEPS || !n->steps)
        return fail(msg, len, "fused: %d steps is outside 1..%d", n->nsteps, GR_MAXSTEPS);
    int head = gr_fused_head(n);
    gr_shape r = g->nodes[n->in[0]].shape;
    if (head) {
        const gr_fstep *st = &n->steps[0];
        gr_node mm = { .op = GR_MATMUL, .nin = 2, .in = { n->in[0], n->in[1] },
                       .a = { st->x[2] & 1, st->x[2] >> 1 & 1 } };
        if (n->nin < 2 || st->x[0] != 0 || st->x[1] != 1 || (st->x[2] & ~3))
            return fail(msg, len, "fused: a matmul step must be the first, of $0 and $1");
        if (gr_infer_msg(g, &mm, msg, len)) return -1;
        r = mm.shape;
    }
    for (int i = head ? 2 : 1; i < n->nin; i++) {
        gr_shape s = g->nodes[n->in[i]].shape;
        if (gr_broadcast(r, s, &r) != 0)
            return fail(msg, len, "fused: input %d's shape %s does not broadcast with %s", i,
                        gr_shape_str(s, b1, sizeof b1), gr_shape_str(r, b2, sizeof b2));
    }
    for (int k = head; k < n->nsteps; k++) {
        const gr_fstep *st = &n->steps[k];
        int ar = ((int)st->op >= 0 && (int)st->op < GR_NUM_OPS) ? gr_fused_arity(st->op) : 0;
        if (!ar) return fail(msg, len, "fused: step %d is not an elementwise op", k);
        for (int j = 0; j < ar; j++) {
            int v = st->x[j];
            if (v < 0 || v >= n->nin + k || (head && v < 2))
                return fail(msg, len, "fused: step %d (%s) reads a value not defined before it", k,
                            gr_ops[st->op].name);
            gr_dtype t = v < n->nin ? g->nodes[n->in[v]].dtype : GR_F32;
            gr_dtype want = st->op == GR_CAST_F32 ? GR_I32 : GR_F32;
            if (t != want)
                return fail(msg, len, "fused: step %d (%s) reads %s, not %s", k, gr_ops[st->op].name,
                            gr_dtype_name(t), gr_dtype_name(want));
        }
    }
    n->dtype = GR_F32;
    n->shape = r;
    return 0;
}

int gr_infer_msg(const gr_graph *g, gr_node *n, char *msg, size_t len)
{
    const char *op = gr_ops[n->op].name;
    const gr_opinfo *oi = &gr_ops[n->op];
    char b1[64], b2[64], b3[64];
    if (oi->arity >= 0 && n->nin != oi->arity)
        return fail(msg, len, "%s: expects %d input%s, got %d", op, oi->arity,
                    oi->arity == 1 ? "" : "s", n->nin);
    if (n->nin < 0 || n->nin > GR_MAXIN)
        return fail(msg, len, "%s: %d inputs is outside 0..%d", op, n->nin, GR_MAXIN);
    for (int i = 0; i < n->nin; i++)
        if (n->in[i] < 0 || n->in[i] >= g->n)
            return fail(msg, len, "%s: input %d refers to a node that does not exist", op, i);
    const gr_node *x = n->nin > 0 ? &g->nodes[n->in[0]] : NULL;
    const gr_node *y = n->nin > 1 ? &g->nodes[n->in[1]] : NULL;
    const gr_node *z = n->nin > 2 ? &g->nodes[n->in[2]] : NULL;
    /* no op consumes a side effect's (empty) result */
    for (int i = 0; i < n->nin; i++)
        if (g->nodes[n->in[i]].dtype == GR_VOID)
            return fail(msg, len, "%s: input %d is an update with no value", op, i);

    switch (n->op) {
    case GR_CONST:
        if (n->dtype != GR_F32) return fail(msg, len, "const: must be f32");
        if (check_shape(op, n->shape, 0, msg, len)) return -1;
        if (!n->data) return fail(msg, len, "const: has no values");
        return 0;
    case GR_INPUT:
        if (n->dtype != GR_F32 && n->dtype != GR_I32)
            return fail(msg, len, "input: dtype must be f32 or i32");
        if (!n->name || !n->name[0]) return fail(msg, len, "input: needs a name");
        return check_shape(op, n->shape, 1, msg, len);
    case GR_PARAM:
        if (n->dtype != GR_F32) return fail(msg, len, "param: must be f32");
        if (!n->name || !n->name[0]) return fail(msg, len, "param: needs a name");
        if (n->a[0] < GR_INIT_ZEROS || n->a[0] > GR_INIT_HE_NORMAL)
            return fail(msg, len, "param '%s': unknown initialiser %lld", n->name, (long long)n->a[0]);
        if (check_shape(op, n->shape, 0, msg, len)) {
            /* name the variable: "param: ..." alone would not tell which one */
            char inner[400];
            snprintf(inner, sizeof inner, "%s", msg);
            return fail(msg, len, "%s (variable '%s')", inner, n->name);
        }
        return 0;

    case GR_NEG: case GR_EXP: case GR_LOG: case GR_SQRT: case GR_ABS: case GR_SQUARE:
    case GR_SIGMOID: case GR_TANH: case GR_RELU: case GR_SOFTPLUS: case GR_STEP: case GR_SIGN:
    case GR_LEAKY_RELU: case GR_ELU:
        if (want_dtype(op, "its input", x, GR_F32, msg, len)) return -1;
        n->dtype = GR_F32;
        n->shape = x->shape;
        return 0;
    case GR_CAST_F32:
        if (want_dtype(op, "its input", x, GR_I32, msg, len)) return -1;
        n->dtype = GR_F32;
        n->shape = x->shape;
        return 0;

    case GR_ADD: case GR_SUB: case GR_MUL: case GR_DIV: case GR_MAXIMUM: case GR_MINIMUM:
    case GR_LESS: case GR_LESS_EQUAL: case GR_GREATER: case GR_GREATER_EQUAL: case GR_EQUAL:
    case GR_NOT_EQUAL:
        if (want_dtype(op, "the left operand", x, GR_F32, msg, len)) return -1;
        if (want_dtype(op, "the right operand", y, GR_F32, msg, len)) return -1;
        if (gr_broadcast(x->shape, y->shape, &n->shape) != 0)
            return fail(msg, len, "%s: shapes %s and %s cannot broadcast", op,
                        gr_shape_str(x->shape, b1, sizeof b1), gr_shape_str(y->shape, b2, sizeof b2));
        n->dtype = GR_F32;
        return 0;

    case GR_SELECT: {
        gr_shape r;
        if (want_dtype(op, "the condition", x, GR_F32, msg, len)) return -1;
        if (want_dtype(op, "the first choice", y, GR_F32, msg, len)) return -1;
        if (want_dtype(op, "the second choice", z, GR_F32, msg, len)) return -1;
        if (gr_broadcast(x->shape, y->shape, &r) != 0 || gr_broadcast(r, z->shape, &r) != 0)
            return fail(msg, len, "select: shapes %s, %s and %s cannot broadcast",
                        gr_shape_str(x->shape, b1, sizeof b1), gr_shape_str(y->shape, b2, sizeof b2),
                        gr_shape_str(z->shape, b3, sizeof b3));
        n->dtype = GR_F32;
        n->shape = r;
        return 0;
    }

    case GR_FUSED:
        return infer_fused(g, n, msg, len);

    case GR_BROADCAST: {
        gr_shape r;
        if (want_dtype(op, "its input", x, GR_F32, msg, len)) return -1;
        if (gr_broadcast(x->shape, y->shape, &r) != 0 || !gr_shape_eq(r, y->shape))
            return fail(msg, len, "broadcast: %s cannot be broadcast to %s",
                        gr_shape_str(x->shape, b1, sizeof b1), gr_shape_str(y->shape, b2, sizeof b2));
        n->dtype = GR_F32;
        n->shape = y->shape;
        return 0;
    }
    case GR_SUM_TO: {
        gr_shape r;
        if (want_dtype(op, "its input", x, GR_F32, msg, len)) return -1;
        if (gr_broadcast(y->shape, x->shape, &r) != 0 || !gr_shape_eq(r, x->shape))
            return fail(msg, len, "sum_to: %s cannot be summed to %s",
                        gr_shape_str(x->shape, b1, sizeof b1), gr_shape_str(y->shape, b2, sizeof b2));
        n->dtype = GR_F32;
        n->shape = y->shape;
        return 0;
    }
    case GR_RESHAPE: {
        if (check_shape(op, n->shape, 1, msg, len)) return -1;
        /* the same element count for every B: per-example counts equal and
         * the batch dimension present in both or in neither */
        int bx = gr_has_batch(x->shape), bn = gr_has_batch(n->shape);
        if (bx != bn || gr_numel(x->shape, 1) != gr_numel(n->shape, 1))
            return fail(msg, len, "reshape: cannot reshape %s to %s",
                        gr_shape_str(x->shape, b1, sizeof b1), gr_shape_str(n->shape, b2, sizeof b2));
        n->dtype = x->dtype;
        return 0;
    }

    case GR_CONCAT: return infer_concat(g, n, msg, len);
    case GR_SLICE: case GR_PAD_SLICE: {
        /* slice reads x; pad_slice writes into a tensor shaped like its `like` */
        const gr_node *full = n->op == GR_SLICE ? x : y;
        if (n->op == GR_PAD_SLICE && want_dtype(op, "its input", x, GR_F32, msg, len)) return -1;
        if (n->op == GR_SLICE && x->dtype != GR_F32 && x->dtype != GR_I32)
            return fail(msg, len, "slice: its input must be f32 or i32");
        if (check_slice(op, n, full->shape, msg, len)) return -1;
        gr_shape part = full->shape;
        part.d[n->a[0]] = n->a[2];
        if (n->op == GR_PAD_SLICE) {
            if (!gr_shape_eq(x->shape, part))
                return fail(msg, len, "pad_slice: the slice has shape %s, but %s[axis %lld: %lld..%lld] is %s",
                            gr_shape_str(x->shape, b1, sizeof b1), gr_shape_str(y->shape, b2, sizeof b2),
                            (long long)n->a[0], (long long)n->a[1], (long long)(n->a[1] + n->a[2] - 1),
                            gr_shape_str(part, b3, sizeof b3));
            n->dtype = GR_F32;
            n->shape = y->shape;
        } else {
            n->dtype = x->dtype;
            n->shape = part;
        }
        return 0;
    }
    case GR_TRANSPOSE:
        if (x->dtype != GR_F32 && x->dtype != GR_I32)
            return fail(msg, len, "transpose: its input must be f32 or i32");
        if (want_rank(op, "its input", x, 2, 2, msg, len)) return -1;
        n->dtype = x->dtype;
        n->shape = gr_shape2(x->shape.d[1], x->shape.d[0]);
        return 0;

    case GR_MEAN_AXIS: case GR_MAX_AXIS: {
        if (want_dtype(op, "its input", x, GR_F32, msg, len)) return -1;
        if (check_axis(op, n->a[0], x->shape, msg, len)) return -1;
        n->dtype = GR_F32;
        n->shape = drop_axis(x->shape, (int)n->a[0]);
        return 0;
    }
    case GR_MAX_AXIS_GRAD:
        if (want_dtype(op, "its input", x, GR_F32, msg, len)) return -1;
        if (want_dtype(op, "the gradient", y, GR_F32, msg, len)) return -1;
        if (check_axis(op, n->a[0], x->shape, msg, len)) return -1;
        if (!gr_shape_eq(y->shape, drop_axis(x->shape, (int)n->a[0])))
            return fail(msg, len, "max_axis_grad: gradient %s does not match %s without axis %lld",
                        gr_shape_str(y->shape, b1, sizeof b1), gr_shape_str(x->shape, b2, sizeof b2),
                        (long long)n->a[0]);
        n->dtype = GR_F32;
        n->shape = x->shape;
        return 0;

    case GR_DROPOUT:
        if (want_dtype(op, "its input", x, GR_F32, msg, len)) return -1;
        if (want_dtype(op, "the step", y, GR_I32, msg, len)) return -1;
        if (!gr_shape_eq(y->shape, gr_shape1(1)))
            return fail(msg, len, "dropout: the step must have shape [1], not %s",
                        gr_shape_str(y->shape, b1, sizeof b1));
        if (!(n->f[0] >= 0 && n->f[0] < 1))
            return fail(msg, len, "dropout: rate %g is outside [0, 1)", n->f[0]);
        n->dtype = GR_F32;
        n->shape = x->shape;
        return 0;

    case GR_ASSIGN_EMA:
        if (want_dtype(op, "the variable", x, GR_F32, msg, len)) return -1;
        if (want_dtype(op, "the value", y, GR_F32, msg, len)) return -1;
        if (gr_has_batch(x->shape))
            return fail(msg, len, "assign_ema: the variable cannot have the batch dimension");
        if (!gr_shape_eq(x->shape, y->shape))
            return fail(msg, len, "assign_ema: value %s differs in shape from the variable's %s",
                        gr_shape_str(y->shape, b1, sizeof b1), gr_shape_str(x->shape, b2, sizeof b2));
        n->dtype = GR_VOID;
        n->shape = gr_shape0();
        return 0;

    case GR_SUM: case GR_MEAN:
        if (want_dtype(op, "its input", x, GR_F32, msg, len)) return -1;
        n->dtype = GR_F32;
        n->shape = gr_shape0();
        return 0;
    case GR_NUMEL:
        n->dtype = GR_F32;
        n->shape = gr_shape0();
        return 0;
    case GR_SUM_AXIS: {
        if (want_dtype(op, "its input", x, GR_F32, msg, len)) return -1;
        int64_t ax = n->a[0];
        if (ax < 0 || ax >= x->shape.rank)
            return fail(msg, len, "sum_axis: axis %lld is outside the %d axes of %s", (long long)ax,
                        x->shape.rank, gr_shape_str(x->shape, b1, sizeof b1));
        gr_shape r = gr_shape0();
        for (int i = 0; i < x->shape.rank; i++)
            if (i != ax) r.d[r.rank++] = x->shape.d[i];
        n->dtype = GR_F32;
        n->shape = r;
        return 0;
    }

    case GR_MATMUL: {
        if (want_dtype(op, "the left operand", x, GR_F32, msg, len)) return -1;
        if (want_dtype(op, "the right operand", y, GR_F32, msg, len)) return -1;
        if (want_rank(op, "the left operand", x, 2, 2, msg, len)) return -1;
        if (want_rank(op, "the right operand", y, 2, 2, msg, len)) return -1;
        int ta = n->a[0] != 0, tb = n->a[1] != 0;
        int64_t m = x->shape.d[ta ? 1 : 0], k1 = x->shape.d[ta ? 0 : 1];
        int64_t k2 = y->shape.d[tb ? 1 : 0], nn = y->shape.d[tb ? 0 : 1];
        if (k1 != k2)   /* B against B counts as equal: the same runtime size */
            return fail(msg, len, "matmul: inner dimensions %s and %s differ",
                        gr_dim_str(k1, b1, sizeof b1), gr_dim_str(k2, b2, sizeof b2));
        n->dtype = GR_F32;
        n->shape = gr_shape2(m, nn);
        return check_shape(op, n->shape, 1, msg, len);
    }

    case GR_GATHER_SUM:
        if (want_dtype(op, "the table", x, GR_F32, msg, len)) return -1;
        if (want_rank(op, "the table", x, 2, 2, msg, len)) return -1;
        if (gr_has_batch(x->shape)) return fail(msg, len, "gather_sum: the table cannot have the batch dimension");
        if (want_ids(op, y, msg, len)) return -1;
        n->dtype = GR_F32;
        n->shape = gr_shape2(y->shape.d[0], x->shape.d[1]);
        return 0;
    case GR_ONE_HOT:
        if (want_ids(op, x, msg, len)) return -1;
        if (n->a[0] <= 0)
            return fail(msg, len, "one_hot: depth %lld must be positive", (long long)n->a[0]);
        n->dtype = GR_F32;
        n->shape = gr_shape2(x->shape.d[0], n->a[0]);
        return 0;
    case GR_SCATTER_ADD:
        if (want_ids(op, x, msg, len)) return -1;
        if (want_dtype(op, "the rows", y, GR_F32, msg, len)) return -1;
        if (want_rank(op, "the rows", y, 2, 2, msg, len)) return -1;
        if (want_rank(op, "the table shape", z, 2, 2, msg, len)) return -1;
        if (gr_has_batch(z->shape)) return fail(msg, len, "scatter_add: the table cannot have the batch dimension");
        if (dims_differ(y->shape.d[0], x->shape.d[0]) || y->shape.d[1] != z->shape.d[1])
            return fail(msg, len, "scatter_add: rows %s do not match ids %s and table %s",
                        gr_shape_str(y->shape, b1, sizeof b1), gr_shape_str(x->shape, b2, sizeof b2),
                        gr_shape_str(z->shape, b3, sizeof b3));
        n->dtype = GR_F32;
        n->shape = z->shape;
        return 0;

    case GR_COUNT_IDS:
        if (want_ids(op, x, msg, len)) return -1;
        if (n->a[0] <= 0)
            return fail(msg, len, "count_ids: the table size %lld must be positive", (long long)n->a[0]);
        n->dtype = GR_F32;
        n->shape = gr_shape2(x->shape.d[0], 1);
        return 0;
    case GR_SHIFT_IDS:
        if (want_ids(op, x, msg, len)) return -1;
        if (n->a[0] <= 0 || n->a[1] < 0 || n->a[0] + n->a[1] > INT32_MAX)
            return fail(msg, len, "shift_ids: depth %lld and offset %lld must be positive, non-negative and "
                        "fit in i32", (long long)n->a[0], (long long)n->a[1]);
        n->dtype = GR_I32;
        n->shape = x->shape;
        return 0;
    case GR_GATHER_WSUM: case GR_GATHER_DOT: {
        /* (W [V,K], ids, weights shaped like ids) or (W [V,K], ids, g [N,K]) */
        if (want_dtype(op, "the table", x, GR_F32, msg, len)) return -1;
        if (want_rank(op, "the table", x, 2, 2, msg, len)) return -1;
        if (gr_has_batch(x->shape)) return fail(msg, len, "%s: the table cannot have the batch dimension", op);
        if (want_ids(op, y, msg, len)) return -1;
        if (n->op == GR_GATHER_WSUM) {
            if (want_dtype(op, "the weights", z, GR_F32, msg, len)) return -1;
            if (!gr_shape_eq(z->shape, y->shape))
                return fail(msg, len, "gather_wsum: weights %s must have the ids' shape %s",
                            gr_shape_str(z->shape, b1, sizeof b1), gr_shape_str(y->shape, b2, sizeof b2));
            n->shape = gr_shape2(y->shape.d[0], x->shape.d[1]);
        } else {
            if (want_dtype(op, "the rows", z, GR_F32, msg, len)) return -1;
            if (!gr_shape_eq(z->shape, gr_shape2(y->shape.d[0], x->shape.d[1])))
                return fail(msg, len, "gather_dot: rows %s do not match ids %s and table %s",
                            gr_shape_str(z->shape, b1, sizeof b1), gr_shape_str(y->shape, b2, sizeof b2),
                            gr_shape_str(x->shape, b3, sizeof b3));
            n->shape = y->shape;
        }
        n->dtype = GR_F32;
        return 0;
    }
    case GR_SCATTER_WADD: {
        const gr_node *like = &g->nodes[n->in[3]];
        if (want_ids(op, x, msg, len)) return -1;
        if (want_dtype(op, "the weights", y, GR_F32, msg, len)) return -1;
        if (!gr_shape_eq(y->shape, x->shape))
            return fail(msg, len, "scatter_wadd: weights %s must have the ids' shape %s",
                        gr_shape_str(y->shape, b1, sizeof b1), gr_shape_str(x->shape, b2, sizeof b2));
        if (want_dtype(op, "the rows", z, GR_F32, msg, len)) return -1;
        if (want_rank(op, "the table shape", like, 2, 2, msg, len)) return -1;
        if (gr_has_batch(like->shape)) return fail(msg, len, "scatter_wadd: the table cannot have the batch dimension");
        if (!gr_shape_eq(z->shape, gr_shape2(x->shape.d[0], like->shape.d[1])))
            return fail(msg, len, "scatter_wadd: rows %s do not match ids %s and table %s",
                        gr_shape_str(z->shape, b1, sizeof b1), gr_shape_str(x->shape, b2, sizeof b2),
                        gr_shape_str(like->shape, b3, sizeof b3));
        n->dtype = GR_F32;
        n->shape = like->shape;
        return 0;
    }

    case GR_SOFTMAX: case GR_LOG_SOFTMAX:
        if (want_dtype(op, "its input", x, GR_F32, msg, len)) return -1;
        if (want_rank(op, "its input", x, 1, GR_MAXDIMS, msg, len)) return -1;
        n->dtype = GR_F32;
        n->shape = x->shape;
        return 0;
    case GR_ARGMAX: {
        if (want_dtype(op, "its input", x, GR_F32, msg, len)) return -1;
        if (want_rank(op, "its input", x, 1, GR_MAXDIMS, msg, len)) return -1;
        gr_shape r = x->shape;
        r.rank--;
        r.d[r.rank] = 0;
        n->dtype = GR_I32;
        n->shape = r;
        return 0;
    }
    case GR_SIGMOID_XENT:
        if (want_dtype(op, "the logits", x, GR_F32, msg, len)) return -1;
        if (want_dtype(op, "the labels", y, GR_F32, msg, len)) return -1;
        if (!gr_shape_eq(x->shape, y->shape))
            return fail(msg, len, "sigmoid_xent: logits %s and labels %s differ in shape",
                        gr_shape_str(x->shape, b1, sizeof b1), gr_shape_str(y->shape, b2, sizeof b2));
        n->dtype = GR_F32;
        n->shape = x->shape;
        return 0;
    case GR_SOFTMAX_XENT: case GR_SOFTMAX_XENT_GRAD:
        if (want_dtype(op, "the logits", x, GR_F32, msg, len)) return -1;
        if (want_rank(op, "the logits", x, 2, 2, msg, len)) return -1;
        if (want_dtype(op, "the labels", y, GR_I32, msg, len)) return -1;
        if (want_rank(op, "the labels", y, 1, 1, msg, len)) return -1;
        if (dims_differ(y->shape.d[0], x->shape.d[0]))
            return fail(msg, len, "%s: labels %s do not match logits %s", op,
                        gr_shape_str(y->shape, b1, sizeof b1), gr_shape_str(x->shape, b2, sizeof b2));
        if (n->op == GR_SOFTMAX_XENT) {
            n->shape = gr_shape2(x->shape.d[0], 1);
        } else {
            if (want_dtype(op, "the loss gradient", z, GR_F32, msg, len)) return -1;
            if (!gr_shape_eq(z->shape, gr_shape2(x->shape.d[0], 1)))
                return fail(msg, len, "%s: loss gradient %s should be [%s,1]", op,
                            gr_shape_str(z->shape, b1, sizeof b1), gr_dim_str(x->shape.d[0], b2, sizeof b2));
            n->shape = x->shape;
        }
        n->dtype = GR_F32;
        return 0;

    case GR_APPLY_SGD: return infer_apply(g, n, 0, msg, len);
    case GR_APPLY_ADAGRAD: return infer_apply(g, n, 1, msg, len);
    case GR_APPLY_ADAM: return infer_apply(g, n, 3, msg, len);
    case GR_APPLY_FTRL: return infer_apply(g, n, 2, msg, len);
    }
    return fail(msg, len, "unknown op %d", (int)n->op);
}

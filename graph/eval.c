/*
 * eval.c — the reference evaluator (gr_eval) and parameter initialisers.
 *
 * gr_eval is the oracle every compiled kernel and every gradient is checked
 * against, so each op is the plainest loop that states its definition in
 * ops.def; speed is not a goal. Sums (reductions, matmul, sum_to, gradient
 * rows of sparse updates) accumulate in double so the oracle's own rounding
 * stays far below the tolerance of the tests that compare with it; results
 * are stored as f32 like every buffer.
 *
 * Broadcasting: a shape is viewed as four dimensions padded with leading 1s;
 * an input's stride is 0 along a dimension it stretches. Ids outside [0, V)
 * (or the number of classes) are skipped everywhere, as ops.def says.
 *
 * Optimizer updates change the variable and slot buffers in place; the
 * sparse forms first sum the gradient rows of duplicate ids, then update only
 * the touched rows, each once.
 */
#include "graph.h"

#include <assert.h>
#include <math.h>
#include <stdlib.h>

typedef struct { int64_t d[GR_MAXDIMS]; } dims4;

static int64_t dim_at(int64_t d, int64_t B) { return d == GR_BATCH ? B : d; }

/* s padded to four dimensions with leading 1s, batch set to B */
static dims4 pad4(gr_shape s, int64_t B)
{
    dims4 r;
    int off = GR_MAXDIMS - s.rank;
    for (int i = 0; i < GR_MAXDIMS; i++) r.d[i] = i < off ? 1 : dim_at(s.d[i - off], B);
    return r;
}

/* strides of `in` read at the indices of a broadcast shape: 0 where in has 1 */
static dims4 bstrides(gr_shape in, int64_t B)
{
    dims4 d = pad4(in, B), st;
    int64_t acc = 1;
    for (int i = GR_MAXDIMS - 1; i >= 0; i--) {
        st.d[i] = d.d[i] == 1 ? 0 : acc;
        acc *= d.d[i];
    }
    return st;
}

static int64_t offset(const dims4 *st, const int64_t ix[GR_MAXDIMS])
{
    int64_t o = 0;
    for (int i = 0; i < GR_MAXDIMS; i++) o += ix[i] * st->d[i];
    return o;
}

/* advances a row-major 4-d index over dims; 0 when it wraps around */
static int next_index(int64_t ix[GR_MAXDIMS], const dims4 *d)
{
    for (int i = GR_MAXDIMS - 1; i >= 0; i--) {
        if (++ix[i] < d->d[i]) return 1;
        ix[i] = 0;
    }
    return 0;
}

static double sigmoid(double x)
{
    if (x >= 0) return 1.0 / (1.0 + exp(-x));
    double e = exp(x);
    return e / (1.0 + e);
}

static double softplus(double x) { return x > 0 ? x + log1p(exp(-x)) : log1p(exp(x)); }

static double unary(gr_op op, double x, double alpha)
{
    switch (op) {
    case GR_NEG: return -x;
    case GR_EXP: return exp(x);
    case GR_LOG: return log(x);
    case GR_SQRT: return sqrt(x);
    case GR_ABS: return fabs(x);
    case GR_SQUARE: return x * x;
    case GR_SIGMOID: return sigmoid(x);
    case GR_TANH: return tanh(x);
    case GR_RELU: return x > 0 ? x : 0;
    case GR_SOFTPLUS: return softplus(x);
    case GR_STEP: return x > 0 ? 1 : 0;
    case GR_SIGN: return x > 0 ? 1 : x < 0 ? -1 : 0;
    case GR_CAST_F32: return x;
    case GR_LEAKY_RELU: return x > 0 ? x : alpha * x;
    case GR_ELU: return x > 0 ? x : alpha * expm1(x);
    case GR_CONST: case GR_INPUT: case GR_PARAM:
    case GR_ADD: case GR_SUB: case GR_MUL: case GR_DIV: case GR_MAXIMUM: case GR_MINIMUM:
    case GR_LESS: case GR_LESS_EQUAL: case GR_GREATER: case GR_GREATER_EQUAL: case GR_EQUAL:
    case GR_NOT_EQUAL: case GR_SELECT: case GR_CONCAT: case GR_SLICE: case GR_PAD_SLICE:
    case GR_TRANSPOSE: case GR_MEAN_AXIS: case GR_MAX_AXIS: case GR_MAX_AXIS_GRAD: case GR_COUNT_IDS: case GR_SHIFT_IDS:
    case GR_GATHER_WSUM: case GR_SCATTER_WADD: case GR_GATHER_DOT: case GR_DROPOUT: case GR_ASSIGN_EMA: case GR_FUSED:
    case GR_BROADCAST: case GR_SUM_TO: case GR_RESHAPE: case GR_SUM: case GR_MEAN:
    case GR_SUM_AXIS: case GR_NUMEL: case GR_MATMUL: case GR_GATHER_SUM: case GR_ONE_HOT:
    case GR_SCATTER_ADD: case GR_SOFTMAX: case GR_LOG_SOFTMAX: case GR_ARGMAX:
    case GR_SIGMOID_XENT: case GR_SOFTMAX_XENT: case GR_SOFTMAX_XENT_GRAD:
    case GR_APPLY_SGD: case GR_APPLY_ADAGRAD: case GR_APPLY_ADAM: case GR_APPLY_FTRL:
        break;
    }
    assert(!"not a unary op");
    return 0;
}

static double binary(gr_op op, double x, double y)
{
    switch (op) {
    case GR_ADD: return x + y;
    case GR_SUB: return x - y;
    case GR_MUL: return x * y;
    case GR_DIV: return x / y;
    case GR_MAXIMUM: return x >= y ? x : y;
    case GR_MINIMUM: return x <= y ? x : y;
    case GR_LESS: return x < y;
    case GR_LESS_EQUAL: return x <= y;
    case GR_GREATER: return x > y;
    case GR_GREATER_EQUAL: return x >= y;
    case GR_EQUAL: return x == y;
    case GR_NOT_EQUAL: return x != y;
    case GR_CONST: case GR_INPUT: case GR_PARAM:
    case GR_NEG: case GR_EXP: case GR_LOG: case GR_SQRT: case GR_ABS: case GR_SQUARE:
    case GR_SIGMOID: case GR_TANH: case GR_RELU: case GR_SOFTPLUS: case GR_STEP: case GR_SIGN:
    case GR_CAST_F32: case GR_LEAKY_RELU: case GR_ELU: case GR_SELECT: case GR_CONCAT: case GR_SLICE:
    case GR_PAD_SLICE: case GR_TRANSPOSE: case GR_MEAN_AXIS: case GR_MAX_AXIS: case GR_MAX_AXIS_GRAD:
    case GR_COUNT_IDS: case GR_SHIFT_IDS: case GR_GATHER_WSUM: case GR_SCATTER_WADD: case GR_GATHER_DOT: case GR_DROPOUT:
    case GR_ASSIGN_EMA: case GR_FUSED:
    case GR_BROADCAST: case GR_SUM_TO: case GR_RESHAPE: case GR_SUM: case GR_MEAN:
    case GR_SUM_AXIS: case GR_NUMEL: case GR_MATMUL: case GR_GATHER_SUM: case GR_ONE_HOT:
    case GR_SCATTER_ADD: case GR_SOFTMAX: case GR_LOG_SOFTMAX: case GR_ARGMAX:
    case GR_SIGMOID_XENT: case GR_SOFTMAX_XENT: case GR_SOFTMAX_XENT_GRAD:
    case GR_APPLY_SGD: case GR_APPLY_ADAGRAD: case GR_APPLY_ADAM: case GR_APPLY_FTRL:
        break;
    }
    assert(!"not a binary op");
    return 0;
}

/* ---- optimizer updates ------------------------------------------------------ */

/* One element of an update, in double from the f32 state, exactly the
 * formulas of ops.def. s1/s2 are the op's slots in input order (adagrad:
 * accum; adam: m, v; ftrl: accum, linear); alpha is adam's step size for this
 * apply, lr * sqrt(1-b2^t) / (1-b1^t). */
static void update_elem(const gr_node *n, double alpha, double g, float *w, float *s1, float *s2)
{
    double lr = n->f[0];
    switch (n->op) {
    case GR_APPLY_SGD:
        *w = (float)(*w - lr * g);
        return;
    case GR_APPLY_ADAGRAD: {
        double acc = (double)*s1 + g * g;
        *s1 = (float)acc;
        *w = (float)(*w - lr * g / (sqrt(acc) + n->f[1]));
        return;
    }
    case GR_APPLY_ADAM: {
        double b1 = n->f[1], b2 = n->f[2], eps = n->f[3];
        double m = b1 * *s1 + (1 - b1) * g;
        double v = b2 * *s2 + (1 - b2) * g * g;
        *s1 = (float)m;
        *s2 = (float)v;
        *w = (float)(*w - alpha * m / (sqrt(v) + eps));
        return;
    }
    case GR_APPLY_FTRL: {
        double l1 = n->f[1], l2 = n->f[2], p = n->f[3];
        double acc = *s1, an = acc + g * g, lin = *s2;
        double sigma = (pow(an, -p) - pow(acc, -p)) / lr;
        lin += g - sigma * *w;
        double quad = pow(an, -p) / lr + 2 * l2;
        double sgn = lin > 0 ? 1 : lin < 0 ? -1 : 0;
        *w = fabs(lin) > l1 ? (float)((sgn * l1 - lin) / quad) : 0.0f;
        *s2 = (float)lin;
        *s1 = (float)an;
        return;
    }
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
    case GR_GATHER_DOT: case GR_DROPOUT: case GR_ASSIGN_EMA: case GR_FUSED:
        break;
    }
    assert(!"not an optimizer op");
}

static int nslots(gr_op op)
{
    return op == GR_APPLY_ADAGRAD ? 1 : op == GR_APPLY_ADAM ? 3 : op == GR_APPLY_FTRL ? 2 : 0;
}

static void eval_apply(const gr_graph *g, const gr_node *n, void **bufs, int64_t B)
{
    const gr_node *var = &g->nodes[n->in[0]];
    float *w = bufs[var->buf];
    int ns = nslots(n->op);
    float *s1 = ns >= 1 ? bufs[g->nodes[n->in[1]].buf] : NULL;
    float *s2 = ns >= 2 ? bufs[g->nodes[n->in[2]].buf] : NULL;
    float *step = n->op == GR_APPLY_ADAM ? bufs[g->nodes[n->in[3]].buf] : NULL;
    double alpha = 0;
    if (step) {
        double t = (double)step[0] + 1, b1 = n->f[1], b2 = n->f[2];
        alpha = n->f[0] * sqrt(1 - pow(b2, t)) / (1 - pow(b1, t));
        step[0] = (float)t;
    }
    if (!n->a[0]) {                           /* dense */
        const float *gd = bufs[g->nodes[n->in[1 + ns]].buf];
        int64_t ne = gr_numel(var->shape, 1);
        for (int64_t j = 0; j < ne; j++)
            update_elem(n, alpha, gd[j], &w[j], s1 ? &s1[j] : NULL, s2 ? &s2[j] : NULL);
        return;
    }
    /* sparse: sum the rows of duplicate ids, then update each touched row once */
    const gr_node *idn = &g->nodes[n->in[1 + ns]], *rn = &g->nodes[n->in[2 + ns]];
    const int32_t *ids = bufs[idn->buf];
    const float *rows = bufs[rn->buf];
    int64_t V = var->shape.d[0], K = var->shape.d[1];
    int64_t N = dim_at(idn->shape.d[0], B), M = idn->shape.rank == 2 ? dim_at(idn->shape.d[1], B) : 1;
    int64_t *slot = es_xmalloc((size_t)V * sizeof *slot);
    for (int64_t v = 0; v < V; v++) slot[v] = -1;
    int64_t maxt = N * M < V ? N * M : V, nt = 0;
    int64_t *touched = es_xmalloc((size_t)(maxt ? maxt : 1) * sizeof *touched);
    double *gsum = es_xcalloc((size_t)(maxt ? maxt : 1) * (size_t)K, sizeof *gsum);
    for (int64_t b = 0; b < N; b++)
        for (int64_t m = 0; m < M; m++) {
            int64_t id = ids[b * M + m];
            if (id < 0 || id >= V) continue;
            if (slot[id] < 0) { slot[id] = nt; touched[nt++] = id; }
            for (int64_t k = 0; k < K; k++) gsum[slot[id] * K + k] += rows[b * K + k];
        }
    for (int64_t t = 0; t < nt; t++)
        for (int64_t k = 0; k < K; k++) {
            int64_t j = touched[t] * K + k;
            update_elem(n, alpha, gsum[t * K + k], &w[j], s1 ? &s1[j] : NULL, s2 ? &s2[j] : NULL);
        }
    free(slot);
    free(touched);
    free(gsum);
}

/* ---- shape movers and axis reductions ------------------------------------------ */

/* outer / mid / inner extents of s around axis ax: s viewed as [outer, mid, inner] */
static void split_at(gr_shape s, int ax, int64_t B, int64_t *outer, int64_t *mid, int64_t *inner)
{
    *outer = 1;
    *inner = 1;
    for (int i = 0; i < ax; i++) *outer *= dim_at(s.d[i], B);
    *mid = dim_at(s.d[ax], B);
    for (int i = ax + 1; i < s.rank; i++) *inner *= dim_at(s.d[i], B);
}

/* CONCAT, SLICE, PAD_SLICE, TRANSPOSE: element copies, any 4-byte dtype */
static void eval_move(const gr_graph *g, const gr_node *n, void **bufs, int64_t B)
{
    const gr_node *x = &g->nodes[n->in[0]];
    uint32_t *out = bufs[n->buf];
    const uint32_t *xv = bufs[x->buf];
    int ax = (int)n->a[0];
    int64_t outer, mid, inner;
    switch (n->op) {
    case GR_CONCAT: {
        split_at(n->shape, ax, B, &outer, &mid, &inner);
        int64_t at = 0;               /* where input j starts along the axis */
        for (int j = 0; j < n->nin; j++) {
            const gr_node *xj = &g->nodes[n->in[j]];
            const uint32_t *v = bufs[xj->buf];
            int64_t dj = xj->shape.d[ax];
            for (int64_t o = 0; o < outer; o++)
                for (int64_t k = 0; k < dj * inner; k++)
                    out[(o * mid + at) * inner + k] = v[o * dj * inner + k];
            at += dj;
        }
        return;
    }
    case GR_SLICE: case GR_PAD_SLICE: {
        /* full: the sliced tensor's shape; part: the slice's */
        const gr_node *full = n->op == GR_SLICE ? x : n;
        split_at(full->shape, ax, B, &outer, &mid, &inner);
        int64_t start = n->a[1], cnt = n->a[2];
        if (n->op == GR_PAD_SLICE) memset(out, 0, (size_t)(outer * mid * inner) * sizeof *out);
        for (int64_t o = 0; o < outer; o++)
            for (int64_t k = 0; k < cnt * inner; k++) {
                int64_t fi = (o * mid + start) * inner + k, pi = o * cnt * inner + k;
                if (n->op == GR_SLICE) out[pi] = xv[fi];
                else out[fi] = xv[pi];
            }
        return;
    }
    case GR_TRANSPOSE: {
        int64_t R = dim_at(x->shape.d[0], B), C = dim_at(x->shape.d[1], B);
        for (int64_t r = 0; r < R; r++)
            for (int64_t c = 0; c < C; c++) out[c * R + r] = xv[r * C + c];
        return;
    }
    case GR_CONST: case GR_INPUT: case GR_PARAM:
    case GR_NEG: case GR_EXP: case GR_LOG: case GR_SQRT: case GR_ABS: case GR_SQUARE:
    case GR_SIGMOID: case GR_TANH: case GR_RELU: case GR_SOFTPLUS: case GR_STEP: case GR_SIGN:
    case GR_CAST_F32: case GR_LEAKY_RELU: case GR_ELU: case GR_ADD: case GR_SUB: case GR_MUL:
    case GR_DIV: case GR_MAXIMUM: case GR_MINIMUM: case GR_LESS: case GR_LESS_EQUAL: case GR_GREATER:
    case GR_GREATER_EQUAL: case GR_EQUAL: case GR_NOT_EQUAL: case GR_SELECT: case GR_BROADCAST:
    case GR_SUM_TO: case GR_RESHAPE: case GR_SUM: case GR_MEAN: case GR_SUM_AXIS: case GR_MEAN_AXIS:
    case GR_MAX_AXIS: case GR_MAX_AXIS_GRAD: case GR_NUMEL: case GR_MATMUL: case GR_GATHER_SUM:
    case GR_ONE_HOT: case GR_SCATTER_ADD: case GR_COUNT_IDS: case GR_SHIFT_IDS: case GR_GATHER_WSUM: case GR_SCATTER_WADD:
    case GR_GATHER_DOT: case GR_SOFTMAX: case GR_LOG_SOFTMAX: case GR_ARGMAX: case GR_SIGMOID_XENT:
    case GR_SOFTMAX_XENT: case GR_SOFTMAX_XENT_GRAD: case GR_DROPOUT: case GR_ASSIGN_EMA: case GR_FUSED:
    case GR_APPLY_SGD: case GR_APPLY_ADAGRAD: case GR_APPLY_ADAM: case GR_APPLY_FTRL:
        break;
    }
    assert(!"not a shape mover");
}

/* MEAN_AXIS, MAX_AXIS, MAX_AXIS_GRAD over x viewed as [outer, mid, inner]. The
 * maximum is the first element greater than every one before it, starting from
 * -inf (NaNs never win; -inf with its position 0 when nothing does). */
static void eval_axis(const gr_node *n, const gr_node *x, const float *xf, const float *gf,
                      float *out, int64_t B)
{
    int64_t outer, mid, inner;
    split_at(x->shape, (int)n->a[0], B, &outer, &mid, &inner);
    if (n->op == GR_MAX_AXIS_GRAD) memset(out, 0, (size_t)(outer * mid * inner) * sizeof *out);
    for (int64_t o = 0; o < outer; o++)
        for (int64_t k = 0; k < inner; k++) {
            const float *v = xf + o * mid * inner + k;
            if (n->op == GR_MEAN_AXIS) {
                double s = 0;
                for (int64_t m = 0; m < mid; m++) s += v[m * inner];
                out[o * inner + k] = (float)(s / (double)mid);
                continue;
            }
            float best = -INFINITY;
            int64_t at = 0;
            for (int64_t m = 0; m < mid; m++)
                if (v[m * inner] > best) { best = v[m * inner]; at = m; }
            if (n->op == GR_MAX_AXIS) out[o * inner + k] = best;
            else if (mid > 0) out[(o * mid + at) * inner + k] = gf[o * inner + k];
        }
}

/* GATHER_WSUM(W, ids, w) -> [N,K]; SCATTER_WADD(ids, w, rows, like) -> [V,K];
 * GATHER_DOT(W, ids, g) -> ids' shape. Invalid ids are skipped. */
static void eval_weighted(const gr_graph *g, const gr_node *n, void **bufs, int64_t B)
{
    int scatter = n->op == GR_SCATTER_WADD;
    const gr_node *idn = &g->nodes[n->in[scatter ? 0 : 1]];
    const gr_node *tab = scatter ? n : &g->nodes[n->in[0]];
    const int32_t *ids = bufs[idn->buf];
    const float *W = scatter ? NULL : bufs[tab->buf];
    const float *w = n->op == GR_GATHER_DOT ? NULL : bufs[g->nodes[n->in[scatter ? 1 : 2]].buf];
    const float *rows = scatter ? bufs[g->nodes[n->in[2]].buf]
                      : n->op == GR_GATHER_DOT ? bufs[g->nodes[n->in[2]].buf] : NULL;
    float *out = bufs[n->buf];
    int64_t V = tab->shape.d[0], K = tab->shape.d[1];
    int64_t N = dim_at(idn->shape.d[0], B), M = idn->shape.rank == 2 ? dim_at(idn->shape.d[1], B) : 1;
    int64_t ne = gr_numel(n->shape, B);
    double *acc = es_xcalloc((size_t)(ne ? ne : 1), sizeof *acc);
    for (int64_t b = 0; b < N; b++)
        for (int64_t m = 0; m < M; m++) {
            int64_t id = ids[b * M + m];
            if (id < 0 || id >= V) continue;
            for (int64_t k = 0; k < K; k++) {
                if (n->op == GR_GATHER_WSUM) acc[b * K + k] += (double)w[b * M + m] * W[id * K + k];
                else if (scatter) acc[id * K + k] += (double)w[b * M + m] * rows[b * K + k];
                else acc[b * M + m] += (double)W[id * K + k] * rows[b * K + k];
            }
        }
    for (int64_t j = 0; j < ne; j++) out[j] = (float)acc[j];
    free(acc);
}

/* ---- dropout's counter-based mask (graph.h) ------------------------------------- */

uint64_t gr_mix64(uint64_t z)
{
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

uint64_t gr_dropout_key(int64_t seed, int32_t step)
{
    return gr_mix64((uint64_t)seed + GR_GOLDEN64 * ((uint64_t)(int64_t)step + 1));
}

uint32_t gr_dropout_threshold(double rate)
{
    double t = ceil(rate * 16777216.0);
    return t <= 0 ? 0 : t >= 16777216.0 ? 16777216u : (uint32_t)t;
}

float gr_dropout_scale(double rate) { return (float)(1.0 / (1.0 - rate)); }

/* ---- the evaluator ------------------------------------------------------------ */

/* out [M,N] = op(x) op(y), each element a double sum rounded once */
static void matmul(const gr_node *x, const gr_node *y, const float *xf, const float *yf, gr_shape os,
                   int ta, int tb, float *out, int64_t B)
{
    int64_t xc = dim_at(x->shape.d[1], B), yc = dim_at(y->shape.d[1], B);
    int64_t M = dim_at(os.d[0], B), N = dim_at(os.d[1], B);
    int64_t K = dim_at(x->shape.d[ta ? 0 : 1], B);
    for (int64_t i = 0; i < M; i++)
        for (int64_t j = 0; j < N; j++) {
            double s = 0;
            for (int64_t k = 0; k < K; k++) {
                double a = ta ? xf[k * xc + i] : xf[i * xc + k];
                double b = tb ? yf[j * yc + k] : yf[k * yc + j];
                s += a * b;
            }
            out[i * N + j] = (float)s;
        }
}

/* FUSED: per output element, every step as its own node would compute it
 * (unary/binary in double, rounded to f32), so the result has the bits of
 * the unfused nodes. A matmul head is computed first, as MATMUL would. */
static void eval_fused(const gr_graph *g, const gr_node *n, void **bufs, int64_t B)
{
    float *out = bufs[n->buf];
    int head = gr_fused_head(n);
    dims4 d = pad4(n->shape, B), st[GR_MAXIN];
    for (int k = 0; k < n->nin; k++) st[k] = bstrides(g->nodes[n->in[k]].shape, B);
    double v[GR_MAXIN + GR_MAXSTEPS];
    int64_t ix[GR_MAXDIMS] = { 0 }, i = 0, ne = gr_numel(n->shape, B);
    if (ne == 0) return;
    float *prod = NULL;
    if (head) {
        const gr_node *x = &g->nodes[n->in[0]], *y = &g->nodes[n->in[1]];
        prod = es_xcalloc((size_t)ne, sizeof *prod);
        matmul(x, y, bufs[x->buf], bufs[y->buf], n->shape, n->steps[0].x[2] & 1, n->steps[0].x[2] >> 1 & 1,
               prod, B);
    }
    do {
        if (head) v[n->nin] = prod[i];
        for (int k = head ? 2 : 0; k < n->nin; k++) {
            const gr_node *x = &g->nodes[n->in[k]];
            int64_t o = offset(&st[k], ix);
            v[k] = x->dtype == GR_I32 ? (double)((const int32_t *)bufs[x->buf])[o]
                                      : (double)((const float *)bufs[x->buf])[o];
        }
        for (int s = head; s < n->nsteps; s++) {
            const gr_fstep *f = &n->steps[s];
            double a = v[f->x[0]], r;
            switch (gr_fused_arity(f->op)) {
            case 1: r = unary(f->op, a, f->f); break;
            case 2: r = binary(f->op, a, v[f->x[1]]); break;
            default: r = a != 0 ? v[f->x[1]] : v[f->x[2]]; break;   /* select */
            }
            v[n->nin + s] = (float)r;
        }
        out[i++] = (float)v[n->nin + n->nsteps - 1];
    } while (next_index(ix, &d));
    free(prod);
}

static void eval_node(const gr_graph *g, const gr_node *n, void **bufs, int64_t B)
{
    const gr_node *x = n->nin > 0 ? &g->nodes[n->in[0]] : NULL;
    const gr_node *y = n->nin > 1 ? &g->nodes[n->in[1]] : NULL;
    const gr_node *z = n->nin > 2 ? &g->nodes[n->in[2]] : NULL;
    float *out = n->buf >= 0 ? bufs[n->buf] : NULL;
    int64_t ne = gr_numel(n->shape, B);
    const float *xf = x ? bufs[x->buf] : NULL;
    const float *yf = y ? bufs[y->buf] : NULL;

    switch (n->op) {
    case GR_CONST:
        memcpy(out, n->data, (size_t)ne * sizeof(float));
        return;
    case GR_INPUT: case GR_PARAM:
        return;                                /* the caller's data */

    case GR_NEG: case GR_EXP: case GR_LOG: case GR_SQRT: case GR_ABS: case GR_SQUARE:
    case GR_SIGMOID: case GR_TANH: case GR_RELU: case GR_SOFTPLUS: case GR_STEP: case GR_SIGN:
    case GR_LEAKY_RELU: case GR_ELU:
        for (int64_t i = 0; i < ne; i++) out[i] = (float)unary(n->op, xf[i], n->f[0]);
        return;
    case GR_CAST_F32: {
        const int32_t *xi = bufs[x->buf];
        for (int64_t i = 0; i < ne; i++) out[i] = (float)xi[i];
        return;
    }

    case GR_ADD: case GR_SUB: case GR_MUL: case GR_DIV: case GR_MAXIMUM: case GR_MINIMUM:
    case GR_LESS: case GR_LESS_EQUAL: case GR_GREATER: case GR_GREATER_EQUAL: case GR_EQUAL:
    case GR_NOT_EQUAL: {
        dims4 d = pad4(n->shape, B), sx = bstrides(x->shape, B), sy = bstrides(y->shape, B);
        int64_t ix[GR_MAXDIMS] = { 0 }, i = 0;
        if (ne == 0) return;
        do {
            /* single f32 rounding of each result, as codegen's f32 math does */
            out[i++] = (float)binary(n->op, xf[offset(&sx, ix)], yf[offset(&sy, ix)]);
        } while (next_index(ix, &d));
        return;
    }

    case GR_SELECT: {
        const float *zf = bufs[z->buf];
        dims4 d = pad4(n->shape, B), sx = bstrides(x->shape, B), sy = bstrides(y->shape, B),
              sz = bstrides(z->shape, B);
        int64_t ix[GR_MAXDIMS] = { 0 }, i = 0;
        if (ne == 0) return;
        do out[i++] = xf[offset(&sx, ix)] != 0 ? yf[offset(&sy, ix)] : zf[offset(&sz, ix)];
        while (next_index(ix, &d));
        return;
    }

    case GR_FUSED:
        eval_fused(g, n, bufs, B);
        return;

    case GR_BROADCAST: {
        dims4 d = pad4(n->shape, B), sx = bstrides(x->shape, B);
        int64_t ix[GR_MAXDIMS] = { 0 }, i = 0;
        if (ne == 0) return;
        do out[i++] = xf[offset(&sx, ix)]; while (next_index(ix, &d));
        return;
    }
    case GR_SUM_TO: {
        /* walk x; each element lands on the out element it was broadcast from */
        dims4 d = pad4(x->shape, B), so = bstrides(n->shape, B);
        int64_t ix[GR_MAXDIMS] = { 0 }, i = 0;
        double *acc = es_xcalloc((size_t)(ne ? ne : 1), sizeof *acc);
        if (gr_numel(x->shape, B) > 0)
            do acc[offset(&so, ix)] += xf[i++]; while (next_index(ix, &d));
        for (int64_t j = 0; j < ne; j++) out[j] = (float)acc[j];
        free(acc);
        return;
    }
    case GR_RESHAPE:
        memcpy(out, bufs[x->buf], (size_t)ne * gr_dtype_size(n->dtype));
        return;

    case GR_CONCAT: case GR_SLICE: case GR_PAD_SLICE: case GR_TRANSPOSE:
        eval_move(g, n, bufs, B);
        return;
    case GR_MEAN_AXIS: case GR_MAX_AXIS: case GR_MAX_AXIS_GRAD:
        eval_axis(n, x, xf, yf, out, B);
        return;
    case GR_DROPOUT: {
        uint64_t key = gr_dropout_key(n->a[0], *(const int32_t *)bufs[y->buf]);
        uint32_t thr = gr_dropout_threshold(n->f[0]);
        float scale = gr_dropout_scale(n->f[0]);
        for (int64_t i = 0; i < ne; i++) {
            uint64_t h = gr_mix64(key + GR_GOLDEN64 * (uint64_t)(i + 1));
            out[i] = (h >> 40) >= thr ? xf[i] * scale : 0.0f;   /* one f32 product, as the kernels */
        }
        return;
    }
    case GR_ASSIGN_EMA: {
        float *w = bufs[x->buf];
        double d = n->f[0];
        int64_t nv = gr_numel(x->shape, 1);
        for (int64_t i = 0; i < nv; i++) w[i] = (float)(w[i] * d + yf[i] * (1 - d));
        return;
    }

    case GR_SUM: case GR_MEAN: {
        int64_t nx = gr_numel(x->shape, B);
        double s = 0;
        for (int64_t i = 0; i < nx; i++) s += xf[i];
        out[0] = (float)(n->op == GR_MEAN ? s / (double)nx : s);
        return;
    }
    case GR_NUMEL:
        out[0] = (float)gr_numel(x->shape, B);
        return;
    case GR_SUM_AXIS: {
        int ax = (int)n->a[0];
        int64_t outer = 1, mid = dim_at(x->shape.d[ax], B), inner = 1;
        for (int i = 0; i < ax; i++) outer *= dim_at(x->shape.d[i], B);
        for (int i = ax + 1; i < x->shape.rank; i++) inner *= dim_at(x->shape.d[i], B);
        for (int64_t o = 0; o < outer; o++)
            for (int64_t k = 0; k < inner; k++) {
                double s = 0;
                for (int64_t m = 0; m < mid; m++) s += xf[(o * mid + m) * inner + k];
                out[o * inner + k] = (float)s;
            }
        return;
    }

    case GR_MATMUL:
        matmul(x, y, xf, yf, n->shape, n->a[0] != 0, n->a[1] != 0, out, B);
        return;

    case GR_GATHER_SUM: {
        const int32_t *ids = bufs[y->buf];
        int64_t V = x->shape.d[0], K = x->shape.d[1];
        int64_t N = dim_at(y->shape.d[0], B), M = y->shape.rank == 2 ? dim_at(y->shape.d[1], B) : 1;
        for (int64_t b = 0; b < N; b++)
            for (int64_t k = 0; k < K; k++) {
                double s = 0;
                for (int64_t m = 0; m < M; m++) {
                    int64_t id = ids[b * M + m];
                    if (id >= 0 && id < V) s += xf[id * K + k];
                }
                out[b * K + k] = (float)s;
            }
        return;
    }
    case GR_ONE_HOT: {
        const int32_t *ids = bufs[x->buf];
        int64_t D = n->a[0];
        int64_t N = dim_at(x->shape.d[0], B), M = x->shape.rank == 2 ? dim_at(x->shape.d[1], B) : 1;
        memset(out, 0, (size_t)ne * sizeof(float));
        for (int64_t b = 0; b < N; b++)
            for (int64_t m = 0; m < M; m++) {
                int64_t id = ids[b * M + m];
                if (id >= 0 && id < D) out[b * D + id] += 1.0f;
            }
        return;
    }
    case GR_SCATTER_ADD: {
        const int32_t *ids = bufs[x->buf];
        int64_t V = z->shape.d[0], K = z->shape.d[1];
        int64_t N = dim_at(x->shape.d[0], B), M = x->shape.rank == 2 ? dim_at(x->shape.d[1], B) : 1;
        double *acc = es_xcalloc((size_t)(ne ? ne : 1), sizeof *acc);
        for (int64_t b = 0; b < N; b++)
            for (int64_t m = 0; m < M; m++) {
                int64_t id = ids[b * M + m];
                if (id < 0 || id >= V) continue;
                for (int64_t k = 0; k < K; k++) acc[id * K + k] += yf[b * K + k];
            }
        for (int64_t j = 0; j < ne; j++) out[j] = (float)acc[j];
        free(acc);
        return;
    }

    case GR_COUNT_IDS: {
        const int32_t *ids = bufs[x->buf];
        int64_t N = dim_at(x->shape.d[0], B), M = x->shape.rank == 2 ? dim_at(x->shape.d[1], B) : 1;
        for (int64_t b = 0; b < N; b++) {
            int64_t c = 0;
            for (int64_t m = 0; m < M; m++) c += ids[b * M + m] >= 0 && ids[b * M + m] < n->a[0];
            out[b] = (float)c;
        }
        return;
    }
    case GR_SHIFT_IDS: {
        const int32_t *ids = bufs[x->buf];
        int32_t *o = bufs[n->buf];
        for (int64_t i = 0; i < ne; i++)
            o[i] = ids[i] >= 0 && ids[i] < n->a[0] ? (int32_t)(ids[i] + n->a[1]) : -1;
        return;
    }
    case GR_GATHER_WSUM: case GR_SCATTER_WADD: case GR_GATHER_DOT:
        eval_weighted(g, n, bufs, B);
        return;

    case GR_SOFTMAX: case GR_LOG_SOFTMAX: {
        int64_t K = dim_at(x->shape.d[x->shape.rank - 1], B), R = K ? ne / K : 0;
        for (int64_t r = 0; r < R; r++) {
            const float *l = xf + r * K;
            double mx = l[0], s = 0;
            for (int64_t k = 1; k < K; k++) if (l[k] > mx) mx = l[k];
            for (int64_t k = 0; k < K; k++) s += exp(l[k] - mx);
            for (int64_t k = 0; k < K; k++)
                out[r * K + k] = (float)(n->op == GR_SOFTMAX ? exp(l[k] - mx) / s
                                                              : l[k] - mx - log(s));
        }
        return;
    }
    case GR_ARGMAX: {
        int32_t *o = (int32_t *)out;
        int64_t K = dim_at(x->shape.d[x->shape.rank - 1], B);
        for (int64_t r = 0; r < ne; r++) {
            const float *l = xf + r * K;
            int32_t best = 0;
            for (int64_t k = 1; k < K; k++)
                if (l[k] > l[best]) best = (int32_t)k;    /* strict: the first maximum wins */
            o[r] = best;
        }
        return;
    }
    case GR_SIGMOID_XENT:
        for (int64_t i = 0; i < ne; i++) {
            double l = xf[i], t = yf[i];
            out[i] = (float)((l > 0 ? l : 0) - l * t + log1p(exp(-fabs(l))));
        }
        return;
    case GR_SOFTMAX_XENT: case GR_SOFTMAX_XENT_GRAD: {
        const int32_t *lab = bufs[y->buf];
        const float *dl = z ? bufs[z->buf] : NULL;
        int64_t N = dim_at(x->shape.d[0], B), K = x->shape.d[1];
        for (int64_t b = 0; b < N; b++) {
            const float *l = xf + b * K;
            int64_t c = lab[b];
            int valid = c >= 0 && c < K;
            double mx = l[0], s = 0;
            for (int64_t k = 1; k < K; k++) if (l[k] > mx) mx = l[k];
            for (int64_t k = 0; k < K; k++) s += exp(l[k] - mx);
            if (n->op == GR_SOFTMAX_XENT) {
                out[b] = valid ? (float)(mx + log(s) - l[c]) : 0.0f;
                continue;
            }
            for (int64_t k = 0; k < K; k++)
                out[b * K + k] = valid ? (float)((exp(l[k] - mx) / s - (k == c)) * dl[b]) : 0.0f;
        }
        return;
    }

    case GR_APPLY_SGD: case GR_APPLY_ADAGRAD: case GR_APPLY_ADAM: case GR_APPLY_FTRL:
        eval_apply(g, n, bufs, B);
        return;
    }
}

void gr_eval(const gr_graph *g, void **bufs, int64_t B)
{
    for (int i = 0; i < g->n; i++) eval_node(g, &g->nodes[i], bufs, B);
}

/* ---- initialisers ------------------------------------------------------------- */

/* Keras's constant: the stddev of a standard normal truncated at +-2, so that
 * truncated variance-scaling draws have the intended stddev. */
#define TRUNC2_STDDEV 0.87962566103423978

static double trunc_normal(es_rng *rng)
{
    double z;
    do z = es_rng_normal(rng); while (fabs(z) > 2.0);
    return z;
}

/* fans as Keras computes them: rank 2 [in, out]; rank 1 both d[0]; higher
 * ranks multiply the receptive field into both */
static void fans(gr_shape s, double *fin, double *fout)
{
    if (s.rank == 0) { *fin = *fout = 1; return; }
    if (s.rank == 1) { *fin = *fout = (double)s.d[0]; return; }
    double rf = 1;
    for (int i = 0; i < s.rank - 2; i++) rf *= (double)s.d[i];
    *fin = (double)s.d[s.rank - 2] * rf;
    *fout = (double)s.d[s.rank - 1] * rf;
}

void gr_init_param(const gr_node *p, float *out, es_rng *rng)
{
    int64_t ne = gr_numel(p->shape, 1);
    double fin, fout;
    fans(p->shape, &fin, &fout);
    switch ((gr_init)p->a[0]) {
    case GR_INIT_ZEROS:
        for (int64_t i = 0; i < ne; i++) out[i] = 0;
        return;
    case GR_INIT_CONST:
        for (int64_t i = 0; i < ne; i++) out[i] = (float)p->f[0];
        return;
    case GR_INIT_UNIFORM:
        for (int64_t i = 0; i < ne; i++) out[i] = (float)(p->f[0] + (p->f[1] - p->f[0]) * es_rng_uniform(rng));
        return;
    case GR_INIT_NORMAL:
        for (int64_t i = 0; i < ne; i++) out[i] = (float)(p->f[0] + p->f[1] * es_rng_normal(rng));
        return;
    case GR_INIT_TRUNC_NORMAL:
        for (int64_t i = 0; i < ne; i++) out[i] = (float)(p->f[0] + p->f[1] * trunc_normal(rng));
        return;
    case GR_INIT_GLOROT_UNIFORM: {
        double lim = sqrt(6.0 / (fin + fout));
        for (int64_t i = 0; i < ne; i++) out[i] = (float)(lim * (2 * es_rng_uniform(rng) - 1));
        return;
    }
    case GR_INIT_GLOROT_NORMAL: {
        double sd = sqrt(2.0 / (fin + fout)) / TRUNC2_STDDEV;
        for (int64_t i = 0; i < ne; i++) out[i] = (float)(sd * trunc_normal(rng));
        return;
    }
    case GR_INIT_HE_NORMAL: {
        double sd = sqrt(2.0 / fin) / TRUNC2_STDDEV;
        for (int64_t i = 0; i < ne; i++) out[i] = (float)(sd * trunc_normal(rng));
        return;
    }
    }
    assert(!"unknown initialiser");
}

/*
 * graph.c — the op table, graph construction, shape helpers and buffer binding.
 *
 * Invariants kept here: nodes are appended only through gr_push (or, for
 * copies of already-checked nodes, gr_push_raw), so a node's inputs always
 * have smaller ids and its shape and dtype were inferred when it was built.
 * A builder that fails reports once, at the node's span, and returns GR_NONE;
 * a builder handed a GR_NONE input returns GR_NONE silently, so one mistake in
 * a model gives one message however far it propagates.
 */
#include "graph_impl.h"

#include <assert.h>
#include <stdarg.h>

const gr_opinfo gr_ops[GR_NUM_OPS] = {
#define OP(e, nm, ar, fl) [GR_##e] = { nm, ar, fl },
#include "ops.def"
#undef OP
};

const char *gr_dtype_name(gr_dtype t)
{
    switch (t) {
    case GR_F32: return "f32";
    case GR_I32: return "i32";
    case GR_VOID: return "void";
    }
    return "?";
}

size_t gr_dtype_size(gr_dtype t)
{
    switch (t) {
    case GR_F32: return 4;
    case GR_I32: return 4;
    case GR_VOID: return 0;
    }
    return 0;
}

gr_graph *gr_new(es_arena *a, es_diags *diags)
{
    gr_graph *g = es_alloc(a, sizeof *g);
    g->arena = a;
    g->diags = diags;
    g->kind = GR_PROG_TRAIN;
    return g;
}

/* ---- errors ---------------------------------------------------------------- */

void gr_error(gr_graph *g, es_span sp, const char *fmt, ...)
{
    g->nerrors++;
    if (!g->diags) return;
    va_list ap;
    va_start(ap, fmt);
    es_vdiag(g->diags, ES_DIAG_ERROR, sp, fmt, ap);
    va_end(ap);
}

int gr_infer(gr_graph *g, gr_node *n)
{
    char msg[512];
    if (gr_infer_msg(g, n, msg, sizeof msg) == 0) return 0;
    gr_error(g, n->span, "%s", msg);
    return -1;
}

/* ---- appending ------------------------------------------------------------- */

void gr_reserve(gr_graph *g, int n)
{
    if (n <= g->cap) return;
    gr_node *nv = es_alloc_raw(g->arena, (size_t)n * sizeof *nv);   /* each slot is written when pushed */
    if (g->n) memcpy(nv, g->nodes, (size_t)g->n * sizeof *nv);
    es_release(g->arena, g->nodes, (size_t)g->cap * sizeof *nv);
    g->nodes = nv;
    g->cap = n;
}

void gr_drop(gr_graph *g)
{
    if (!g) return;
    es_release(g->arena, g->nodes, (size_t)g->cap * sizeof *g->nodes);
    g->nodes = NULL;
    g->n = g->cap = g->noutputs = 0;
}

int gr_push_raw(gr_graph *g, const gr_node *nd)
{
    if (g->n == g->cap) gr_reserve(g, g->cap ? g->cap * 2 : 64);
    g->nodes[g->n] = *nd;
    return g->n++;
}

int gr_push(gr_graph *g, const gr_node *nd)
{
    gr_node n = *nd;
    assert(n.nin >= 0 && n.nin <= GR_MAXIN);
    for (int i = 0; i < n.nin; i++) {
        if (n.in[i] == GR_NONE) return GR_NONE;
        assert(n.in[i] >= 0 && n.in[i] < g->n);
    }
    n.buf = -1;
    if (gr_infer(g, &n) != 0) return GR_NONE;
    return gr_push_raw(g, &n);
}

/* ---- builders -------------------------------------------------------------- */

static gr_node node_init(gr_op op, es_span sp)
{
    gr_node n;
    memset(&n, 0, sizeof n);
    n.op = op;
    n.span = sp;
    n.buf = -1;
    return n;
}

int gr_const(gr_graph *g, gr_shape s, const float *vals, es_span sp)
{
    gr_node n = node_init(GR_CONST, sp);
    n.dtype = GR_F32;
    n.shape = s;
    if (s.rank < 0 || s.rank > GR_MAXDIMS || gr_has_batch(s)) {
        char b[64];
        gr_error(g, sp, "const: shape %s must be fixed (no batch dimension)",
                 gr_shape_str(s, b, sizeof b));
        return GR_NONE;
    }
    int64_t ne = gr_numel(s, 1);
    if (ne < 0) {
        gr_error(g, sp, "const: negative dimension");
        return GR_NONE;
    }
    n.data = es_alloc(g->arena, (size_t)(ne ? ne : 1) * sizeof(float));
    if (ne) memcpy(n.data, vals, (size_t)ne * sizeof(float));
    return gr_push(g, &n);
}

int gr_scalar(gr_graph *g, double v, es_span sp)
{
    float x = (float)v;
    return gr_const(g, gr_shape0(), &x, sp);
}

int gr_input(gr_graph *g, const char *name, gr_dtype t, gr_shape s, es_span sp)
{
    gr_node n = node_init(GR_INPUT, sp);
    n.dtype = t;
    n.shape = s;
    n.name = es_strdup(g->arena, name);
    return gr_push(g, &n);
}

int gr_param(gr_graph *g, const char *name, gr_shape s, gr_init init, double f0, double f1,
             int trainable, es_span sp)
{
    gr_node n = node_init(GR_PARAM, sp);
    n.dtype = GR_F32;
    n.shape = s;
    n.name = es_strdup(g->arena, name);
    n.a[0] = init;
    n.a[1] = trainable ? 1 : 0;
    n.f[0] = f0;
    n.f[1] = f1;
    return gr_push(g, &n);
}

int gr_op_node(gr_graph *g, gr_op op, int nin, const int *in, const int64_t *a, const double *f,
               es_span sp)
{
    /* leaves and reshape carry their shape in the node: they have their own builders */
    assert(!(gr_ops[op].flags & GR_F_LEAF) && op != GR_RESHAPE);
    assert(nin >= 0 && nin <= GR_MAXIN);
    gr_node n = node_init(op, sp);
    n.nin = nin;
    for (int i = 0; i < nin; i++) n.in[i] = in[i];
    if (a) memcpy(n.a, a, sizeof n.a);
    if (f) memcpy(n.f, f, sizeof n.f);
    return gr_push(g, &n);
}

int gr_fused(gr_graph *g, int nin, const int *in, const gr_fstep *steps, int nsteps, es_span sp)
{
    assert(nin >= 0 && nin <= GR_MAXIN && nsteps >= 0 && nsteps <= GR_MAXSTEPS);
    gr_node n = node_init(GR_FUSED, sp);
    gr_fstep *copy = es_alloc(g->arena, (size_t)(nsteps ? nsteps : 1) * sizeof *copy);
    memcpy(copy, steps, (size_t)nsteps * sizeof *copy);
    n.nin = nin;
    for (int i = 0; i < nin; i++) n.in[i] = in[i];
    n.steps = copy;
    n.nsteps = nsteps;
    return gr_push(g, &n);
}

int gr_unary(gr_graph *g, gr_op op, int x, es_span sp)
{
    return gr_op_node(g, op, 1, &x, NULL, NULL, sp);
}

int gr_binary(gr_graph *g, gr_op op, int x, int y, es_span sp)
{
    int in[2] = { x, y };
    return gr_op_node(g, op, 2, in, NULL, NULL, sp);
}

int gr_matmul(gr_graph *g, int x, int y, int ta, int tb, es_span sp)
{
    int in[2] = { x, y };
    int64_t a[4] = { ta ? 1 : 0, tb ? 1 : 0, 0, 0 };
    return gr_op_node(g, GR_MATMUL, 2, in, a, NULL, sp);
}

int gr_reshape(gr_graph *g, int x, gr_shape s, es_span sp)
{
    gr_node n = node_init(GR_RESHAPE, sp);
    n.nin = 1;
    n.in[0] = x;
    n.shape = s;
    return gr_push(g, &n);
}

int gr_sum_axis(gr_graph *g, int x, int axis, es_span sp)
{
    /* a negative axis counts from the end, as in NumPy */
    if (x != GR_NONE && axis < 0) axis += g->nodes[x].shape.rank;
    int64_t a[4] = { axis, 0, 0, 0 };
    return gr_op_node(g, GR_SUM_AXIS, 1, &x, a, NULL, sp);
}

/* ---- outputs and look-ups --------------------------------------------------- */

void gr_add_output(gr_graph *g, const char *name, int node)
{
    if (node == GR_NONE) return;            /* already reported */
    for (int i = 0; i < g->noutputs; i++)
        if (strcmp(g->outputs[i].name, name) == 0) { g->outputs[i].node = node; return; }
    if (g->noutputs == (int)ES_ARRAY_LEN(g->outputs)) {
        gr_error(g, g->nodes[node].span, "too many outputs (at most %d)",
                 (int)ES_ARRAY_LEN(g->outputs));
        return;
    }
    g->outputs[g->noutputs].name = es_strdup(g->arena, name);
    g->outputs[g->noutputs].node = node;
    g->noutputs++;
}

int gr_find_output(const gr_graph *g, const char *name)
{
    for (int i = 0; i < g->noutputs; i++)
        if (strcmp(g->outputs[i].name, name) == 0) return g->outputs[i].node;
    return GR_NONE;
}

int gr_find_named(const gr_graph *g, gr_op op, const char *name)
{
    for (int i = 0; i < g->n; i++)
        if (g->nodes[i].op == op && g->nodes[i].name && strcmp(g->nodes[i].name, name) == 0)
            return i;
    return GR_NONE;
}

/* ---- shapes ------------------------------------------------------------------- */

gr_shape gr_shape0(void) { gr_shape s; memset(&s, 0, sizeof s); return s; }
gr_shape gr_shape1(int64_t d0) { gr_shape s = gr_shape0(); s.rank = 1; s.d[0] = d0; return s; }
gr_shape gr_shape2(int64_t d0, int64_t d1)
{
    gr_shape s = gr_shape0();
    s.rank = 2; s.d[0] = d0; s.d[1] = d1;
    return s;
}

int gr_shape_eq(gr_shape a, gr_shape b)
{
    if (a.rank != b.rank) return 0;
    for (int i = 0; i < a.rank; i++)
        if (a.d[i] != b.d[i]) return 0;
    return 1;
}

int64_t gr_numel(gr_shape s, int64_t B)
{
    int64_t n = 1;
    for (int i = 0; i < s.rank; i++) n *= s.d[i] == GR_BATCH ? B : s.d[i];
    return n;
}

int gr_has_batch(gr_shape s)
{
    for (int i = 0; i < s.rank; i++)
        if (s.d[i] == GR_BATCH) return 1;
    return 0;
}

int gr_broadcast(gr_shape a, gr_shape b, gr_shape *out)
{
    gr_shape r = gr_shape0();
    r.rank = a.rank > b.rank ? a.rank : b.rank;
    for (int i = 0; i < r.rank; i++) {
        /* align at the trailing dimension; a missing dimension acts as 1 */
        int ia = a.rank - r.rank + i, ib = b.rank - r.rank + i;
        int64_t da = ia >= 0 ? a.d[ia] : 1, db = ib >= 0 ? b.d[ib] : 1;
        if (da == db) r.d[i] = da;
        else if (da == 1) r.d[i] = db;
        else if (db == 1) r.d[i] = da;
        else return -1;          /* includes B against a fixed size other than 1 */
    }
    if (out) *out = r;
    return 0;
}

const char *gr_dim_str(int64_t d, char *buf, size_t n)
{
    if (d == GR_BATCH) snprintf(buf, n, "B");
    else snprintf(buf, n, "%lld", (long long)d);
    return buf;
}

const char *gr_shape_str(gr_shape s, char *buf, size_t n)
{
    size_t k = 0;
    if (n == 0) return buf;
    buf[0] = 0;
    k += (size_t)snprintf(buf + k, n - k, "[");
    for (int i = 0; i < s.rank && k < n; i++) {
        char d[32];
        k += (size_t)snprintf(buf + k, n - k, "%s%s", i ? "," : "", gr_dim_str(s.d[i], d, sizeof d));
    }
    if (k < n) snprintf(buf + k, n - k, "]");
    return buf;
}

/* ---- buffers ------------------------------------------------------------------ */

void gr_bind(gr_graph *g)
{
    int k = 0;
    for (int i = 0; i < g->n; i++) {
        gr_node *n = &g->nodes[i];
        n->buf = (gr_ops[n->op].flags & GR_F_SIDE) ? -1 : k++;
    }
    g->nbufs = k;
    g->slot_a = g->slot_b = NULL;
}

size_t gr_buf_bytes(const gr_graph *g, int node, int64_t B)
{
    const gr_node *n = &g->nodes[node];
    if (n->buf < 0) return 0;
    if (g->slot_a && g->slot_a[n->buf] >= 0) return (size_t)(g->slot_a[n->buf] * B + g->slot_b[n->buf]);
    return (size_t)gr_numel(n->shape, B) * gr_dtype_size(n->dtype);
}

/*
 * fuse.c — elementwise fusion (gr_fuse).
 *
 * Codegen gives every node a loop of its own, so x*scale + bias then relu
 * is three passes over memory with two intermediate buffers. This pass
 * finds, for each elementwise node (the root), the largest tree below it
 * that one loop can compute: an input joins the group when it is an
 * elementwise op of the root's shape (so nothing is computed more than once
 * per element) and every reader of it is in the group (so its value need
 * not be stored). Everything else the group reads — smaller shapes such as a
 * bias vector or a scalar, matrix products, reductions, inputs — is an
 * external input, broadcast by the loop. The root becomes one FUSED node
 * whose expression lists the members in node order; the members lose their
 * last reader and dce, which ends the pass, removes them.
 *
 * Roots are taken from the last node backwards, and a group grows over the
 * candidates in descending order: a node's readers all come after it, so
 * when it is considered every group member that reads it is known, and
 * "all its readers are in the group" is a count comparison. Groups stop at
 * GR_MAXIN external inputs and GR_MAXSTEPS steps.
 *
 * Exactness: the fused node computes every step as its own node would, each
 * rounded to f32 (eval.c, emit.c), so the bits are those of the nodes it
 * replaces. A member is evaluated at the root's position rather than its
 * own, so it may join only when no update overwrites one of its inputs in
 * between (rewrite.h).
 */
#include "rewrite.h"

typedef struct fuser {
    gr_rw rw;
    int *uses;       /* readers of each node (an output counts as one) */
    int *refs;       /* reads of each node by the group being grown */
    char *member;    /* in the group being grown */
    int *val;        /* a value number of the FUSED expression */
} fuser;

static int can_step(const gr_node *n) { return gr_fused_arity(n->op) != 0 && n->dtype == GR_F32; }

/* distinct inputs of n that the group does not read yet */
static int new_inputs(const fuser *f, const gr_node *n)
{
    int c = 0;
    for (int k = 0; k < n->nin; k++) {
        int seen = f->refs[n->in[k]] != 0;
        for (int j = 0; j < k; j++) if (n->in[j] == n->in[k]) seen = 1;
        c += !seen;
    }
    return c;
}

/* may node k join the group of root r, which has `ext` external inputs? */
static int joins(const fuser *f, int k, int r, int nmem, int ext)
{
    const gr_graph *g = f->rw.g;
    const gr_node *n = &g->nodes[k];
    if (!f->refs[k] || f->refs[k] != f->uses[k] || !can_step(n) || f->rw.written[k]) return 0;
    if (!gr_shape_eq(n->shape, g->nodes[r].shape) || nmem == GR_MAXSTEPS) return 0;
    if (ext - 1 + new_inputs(f, n) > GR_MAXIN) return 0;
    for (int j = 0; j < n->nin; j++)
        if (!gr_rw_unchanged(&f->rw, n->in[j], k, r)) return 0;
    return 1;
}

static void add_member(fuser *f, int k, int *mem, int *nmem, int *ext)
{
    const gr_node *n = &f->rw.g->nodes[k];
    *ext += new_inputs(f, n) - 1;
    f->member[k] = 1;
    mem[(*nmem)++] = k;
    for (int j = 0; j < n->nin; j++) f->refs[n->in[j]]++;
}

/* rewrites root r (mem: the members, r first, then descending ids) as FUSED */
static void make_fused(fuser *f, int r, const int *mem, int nmem)
{
    gr_graph *g = f->rw.g;
    gr_node fused = g->nodes[r];
    gr_fstep *steps = es_alloc(g->arena, (size_t)nmem * sizeof *steps);
    fused.op = GR_FUSED;
    fused.nin = 0;
    memset(fused.a, 0, sizeof fused.a);
    memset(fused.f, 0, sizeof fused.f);
    /* external inputs numbered in the order the steps first read them */
    for (int s = nmem - 1; s >= 0; s--) {
        const gr_node *n = &g->nodes[mem[s]];
        for (int k = 0; k < n->nin; k++) {
            int x = n->in[k];
            if (f->member[x] || f->val[x] >= 0) continue;
            f->val[x] = fused.nin;
            fused.in[fused.nin++] = x;
        }
    }
    for (int s = nmem - 1, t = 0; s >= 0; s--, t++) {
        const gr_node *n = &g->nodes[mem[s]];
        gr_fstep *st = &steps[t];
        memset(st, 0, sizeof *st);
        st->op = n->op;
        st->f = n->f[0];
        for (int k = 0; k < n->nin; k++) st->x[k] = f->val[n->in[k]];
        f->val[mem[s]] = fused.nin + t;
    }
    fused.steps = steps;
    fused.nsteps = nmem;
    g->nodes[r] = fused;
}

/* grows the group of root r; rewrites r when at least two ops fuse */
static void fuse_root(fuser *f, int r)
{
    const gr_graph *g = f->rw.g;
    int mem[GR_MAXSTEPS], nmem = 0, ext = 1;   /* add_member trades an input for its inputs */
    int lo = r;
    add_member(f, r, mem, &nmem, &ext);
    for (int k = 0; k < g->nodes[r].nin; k++) if (g->nodes[r].in[k] < lo) lo = g->nodes[r].in[k];
    for (int k = r - 1; k >= lo; k--) {
        if (!joins(f, k, r, nmem, ext)) continue;
        add_member(f, k, mem, &nmem, &ext);
        for (int j = 0; j < g->nodes[k].nin; j++) if (g->nodes[k].in[j] < lo) lo = g->nodes[k].in[j];
    }
    if (nmem >= 2) make_fused(f, r, mem, nmem);
    for (int k = lo; k <= r; k++) { f->refs[k] = 0; f->val[k] = -1; }   /* members stay marked */
}

static void fuser_init(fuser *f, gr_graph *g)
{
    size_t n = (size_t)(g->n ? g->n : 1);
    gr_rw_init(&f->rw, g);
    f->uses = es_alloc(g->arena, n * sizeof *f->uses);
    f->refs = es_alloc(g->arena, n * sizeof *f->refs);
    f->val = es_alloc(g->arena, n * sizeof *f->val);
    f->member = es_alloc(g->arena, n);
    for (int i = 0; i < g->n; i++) {
        f->uses[i] = f->refs[i] = 0;
        f->val[i] = -1;
        f->member[i] = 0;
    }
    for (int i = 0; i < g->n; i++)
        for (int k = 0; k < g->nodes[i].nin; k++) f->uses[g->nodes[i].in[k]]++;
    for (int i = 0; i < g->noutputs; i++) f->uses[g->outputs[i].node]++;
}

gr_graph *gr_fuse(gr_graph *g)
{
    fuser f;
    fuser_init(&f, g);
    for (int r = g->n - 1; r >= 0; r--)
        if (!f.member[r] && can_step(&g->nodes[r])) fuse_root(&f, r);
    return gr_dce(g);
}

/* ---- epilogues ---------------------------------------------------------------------- *
 * gr_epilogue: an elementwise node or a fused one (r) that reads a matrix
 * product M of its own shape, when r is M's only reader, takes M in as the
 * head of its expression (gr_fused_head): inputs $0, $1 become M's factors,
 * step 0 the product, and the kernel applies r's steps to each element of
 * the product as it is stored, instead of storing the product and reading it
 * back in another loop (after cblas_sgemm: one pass over the product, in
 * place; no buffer for it). As in fuse, M's factors must not be overwritten
 * between M and r. */

/* the input of r (a value number) that is a product r can take as its head, or -1 */
static int head_input(const fuser *f, const gr_node *r, int at)
{
    const gr_graph *g = f->rw.g;
    if (r->nin + 1 > GR_MAXIN || (r->op == GR_FUSED && gr_fused_head(r))) return -1;
    for (int k = 0; k < r->nin; k++) {
        int m = r->in[k], reads = 0;
        const gr_node *mm = &g->nodes[m];
        for (int j = 0; j < r->nin; j++) reads += r->in[j] == m;
        if (mm->op != GR_MATMUL || f->uses[m] != reads || f->rw.written[m]) continue;
        if (!gr_shape_eq(mm->shape, r->shape) || mm->nsteps) continue;
        if (!gr_rw_unchanged(&f->rw, mm->in[0], m, at) || !gr_rw_unchanged(&f->rw, mm->in[1], m, at)) continue;
        return k;
    }
    return -1;
}

/* r (elementwise or fused, reading product in[k]) rewritten with the product as its head */
static void take_head(gr_graph *g, int at, int k)
{
    gr_node r = g->nodes[at];
    const gr_node *m = &g->nodes[r.in[k]];
    gr_fstep one = { .op = r.op, .x = { 0, 1, 2 }, .f = r.f[0] };
    const gr_fstep *old = r.op == GR_FUSED ? r.steps : &one;
    int nold = r.op == GR_FUSED ? r.nsteps : 1, prod = r.in[k];
    gr_node n = r;
    n.op = GR_FUSED;
    memset(n.a, 0, sizeof n.a);
    memset(n.f, 0, sizeof n.f);
    n.nin = 2;
    n.in[0] = m->in[0];
    n.in[1] = m->in[1];
    int map[GR_MAXIN + GR_MAXSTEPS];
    for (int j = 0; j < r.nin; j++)
        if (r.in[j] != prod) { map[j] = n.nin; n.in[n.nin++] = r.in[j]; }
    for (int j = 0; j < r.nin; j++)
        if (r.in[j] == prod) map[j] = n.nin;                       /* step 0 */
    for (int t = 0; t < nold; t++) map[r.nin + t] = n.nin + 1 + t;
    gr_fstep *steps = es_alloc(g->arena, (size_t)(nold + 1) * sizeof *steps);
    memset(steps, 0, (size_t)(nold + 1) * sizeof *steps);
    steps[0].op = GR_MATMUL;
    steps[0].x[0] = 0;
    steps[0].x[1] = 1;
    steps[0].x[2] = (m->a[0] != 0) + 2 * (m->a[1] != 0);
    for (int t = 0; t < nold; t++) {
        steps[t + 1] = old[t];
        for (int j = 0; j < gr_fused_arity(old[t].op); j++) steps[t + 1].x[j] = map[old[t].x[j]];
    }
    n.steps = steps;
    n.nsteps = nold + 1;
    g->nodes[at] = n;
}

gr_graph *gr_epilogue(gr_graph *g)
{
    fuser f;
    fuser_init(&f, g);
    for (int r = 0; r < g->n; r++) {
        const gr_node *n = &g->nodes[r];
        if (n->op != GR_FUSED && !can_step(n)) continue;
        int k = head_input(&f, n, r);
        if (k >= 0) take_head(g, r, k);
    }
    return gr_dce(g);
}

/*
 * test_passes.c — the optimisation passes keep every program's meaning, bit
 * for bit.
 *
 * Each graph is evaluated with the reference evaluator before and after the
 * passes, on the same inputs (drawn from each input's name and the step, so
 * the optimised graph gets the same data even though its node ids changed)
 * and the same initial variables (drawn from each param's name). Every output
 * of every step and every variable at the end must have the same bytes: the
 * rewrites are exact by construction, so there is no tolerance. Outputs are
 * read after the whole program, updates included, which is what makes a
 * wrong rewrite around an update visible.
 *
 * Graphs: a full train step (gr_autodiff + gr_apply_optimizer, every
 * optimizer, a sparse embedding) with redundancy put in on purpose, and
 * random graphs that mix batch and fixed shapes, constants built to trigger
 * the rules (ones, +0, -0), exact duplicates of earlier nodes, and updates in
 * the middle with reads of the variable after them. Input data include +0 and
 * -0, so a rewrite that loses the sign of a zero fails. Each pass runs alone
 * and in the pipeline. Also checked: spans survive (every node of the result
 * is a node of the input, or the CONST it folded to), updates are never
 * removed, the passes find what they should on the train step, and
 * ESTC_DISABLE / unknown pass names behave.
 */
#include "../graph/graph.h"
#include "check.h"

#include <math.h>
#include <stdlib.h>

static es_span nospan;

/* ---- evaluating a graph by names ----------------------------------------------- */

typedef struct entry { char key[128]; unsigned char *bytes; size_t n; } entry;
typedef struct record { entry e[512]; int n; } record;

static void put(record *r, const char *kind, int step, const char *name, const void *p, size_t n)
{
    if (r->n == (int)ES_ARRAY_LEN(r->e)) return;
    entry *e = &r->e[r->n++];
    snprintf(e->key, sizeof e->key, "%s %d %s", kind, step, name);
    e->bytes = malloc(n ? n : 1);
    memcpy(e->bytes, p, n);
    e->n = n;
}

static const entry *find(const record *r, const char *key)
{
    for (int i = 0; i < r->n; i++)
        if (strcmp(r->e[i].key, key) == 0) return &r->e[i];
    return NULL;
}

static void record_free(record *r)
{
    for (int i = 0; i < r->n; i++) free(r->e[i].bytes);
    r->n = 0;
}

static es_rng rng_for(const char *name, uint64_t salt)
{
    es_rng r;
    es_rng_seed(&r, es_hash64(name, strlen(name), salt));
    return r;
}

/* f32 data in [-2, 2) with exact +0 and -0 mixed in; ids in [-1, 3] */
static void fill_input(const gr_node *n, void *buf, int64_t B, int step)
{
    es_rng r = rng_for(n->name, 1000 + (uint64_t)step);
    int64_t ne = gr_numel(n->shape, B);
    for (int64_t i = 0; i < ne; i++) {
        if (n->dtype == GR_I32) { ((int32_t *)buf)[i] = (int32_t)es_rng_below(&r, 5) - 1; continue; }
        uint64_t k = es_rng_below(&r, 10);
        ((float *)buf)[i] = k == 0 ? 0.0f : k == 1 ? -0.0f : (float)(4 * es_rng_uniform(&r) - 2);
    }
}

/* binds g (a graph of its own; buffers shared by liveness when `shared`)
 * and runs `steps` steps at batch size B */
static void evaluate_bound(gr_graph *g, int64_t B, int steps, record *rec, int shared)
{
    if (shared) gr_bind_shared(g);
    else gr_bind(g);
    void **bufs = calloc((size_t)g->nbufs + 1, sizeof *bufs);
    for (int i = 0; i < g->n; i++) {
        const gr_node *n = &g->nodes[i];
        if (n->buf < 0 || bufs[n->buf]) continue;   /* a shared slot is allocated once */
        size_t nb = gr_buf_bytes(g, i, B);
        bufs[n->buf] = calloc(1, nb ? nb : 4);
        if (n->op == GR_PARAM) {
            es_rng r = rng_for(n->name, 7);
            gr_init_param(n, bufs[n->buf], &r);
            put(rec, "init", 0, n->name, bufs[n->buf], nb);
        }
    }
    for (int s = 0; s < steps; s++) {
        for (int i = 0; i < g->n; i++)
            if (g->nodes[i].op == GR_INPUT) fill_input(&g->nodes[i], bufs[g->nodes[i].buf], B, s);
        gr_eval(g, bufs, B);
        for (int o = 0; o < g->noutputs; o++) {
            int id = g->outputs[o].node;
            put(rec, "output", s, g->outputs[o].name, bufs[g->nodes[id].buf], gr_buf_bytes(g, id, B));
        }
    }
    for (int i = 0; i < g->n; i++)
        if (g->nodes[i].op == GR_PARAM)
            put(rec, "final", 0, g->nodes[i].name, bufs[g->nodes[i].buf], gr_buf_bytes(g, i, B));
    for (int i = 0; i < g->nbufs; i++) free(bufs[i]);
    free(bufs);
}

static void evaluate(gr_graph *g, int64_t B, int steps, record *rec) { evaluate_bound(g, B, steps, rec, 0); }

/* every output and every variable of `before` has the same bytes in `after`;
 * a variable the optimised graph no longer has must have kept its initial value */
static int same_results(const record *before, const record *after, const char *what)
{
    int ok = 1;
    for (int i = 0; i < before->n; i++) {
        const entry *e = &before->e[i];
        if (strncmp(e->key, "init", 4) == 0) continue;
        const entry *f = find(after, e->key);
        if (!f && strncmp(e->key, "final", 5) == 0) {
            char k[128];
            snprintf(k, sizeof k, "init 0 %s", e->key + strlen("final 0 "));
            f = find(before, k);
        }
        if (!f || f->n != e->n || memcmp(f->bytes, e->bytes, e->n) != 0) {
            if (ok) fprintf(stderr, "%s: '%s' %s\n", what, e->key, f ? "differs" : "is missing");
            ok = 0;
        }
    }
    return ok;
}

/* a copy of g with its own node array (CONST data are shared: no pass writes them) */
static gr_graph *copy_graph(es_arena *a, const gr_graph *g)
{
    gr_graph *c = gr_new(a, NULL);
    *c = *g;
    c->arena = a;
    c->cap = g->n ? g->n : 1;
    c->nodes = es_alloc(a, (size_t)c->cap * sizeof *c->nodes);
    memcpy(c->nodes, g->nodes, (size_t)g->n * sizeof *g->nodes);
    return c;
}

static int count_op(const gr_graph *g, gr_op op)
{
    int k = 0;
    for (int i = 0; i < g->n; i++) k += g->nodes[i].op == op;
    return k;
}

static int count_side(const gr_graph *g)
{
    int k = 0;
    for (int i = 0; i < g->n; i++) k += (gr_ops[g->nodes[i].op].flags & GR_F_SIDE) != 0;
    return k;
}

/* Every node of opt is the node of orig whose line its span carries (stamped
 * i + 1 before optimising), with the same type, and the same op unless it was
 * folded to a CONST or an elementwise op became the root of a FUSED node; no
 * node appears twice; updates all survive. A product narrowed to the columns
 * its readers read (narrow) keeps its line with fewer columns, and the slice
 * of its operand inserted just before it carries the same line. */
static int spans_kept(const gr_graph *orig, const gr_graph *opt)
{
    char *seen = calloc((size_t)orig->n + 1, 1);
    int ok = 1;
    for (int i = 0; i < opt->n; i++) {
        const gr_node *n = &opt->nodes[i];
        int L = n->span.line;
        if (L < 1 || L > orig->n || seen[L]) { ok = 0; break; }
        const gr_node *o = &orig->nodes[L - 1];
        if (n->op == GR_SLICE && o->op == GR_MATMUL && i + 1 < opt->n && opt->nodes[i + 1].span.line == L)
            continue;                                               /* narrow's operand slice */
        seen[L] = 1;
        int same_op = n->op == o->op || n->op == GR_CONST ||
                      (n->op == GR_FUSED && gr_fused_arity(o->op));   /* a fused root keeps its span */
        gr_shape s = n->shape;
        if (o->op == GR_MATMUL && s.rank == 2 && s.d[1] < o->shape.d[1]) s.d[1] = o->shape.d[1];
        if (!same_op || n->dtype != o->dtype || !gr_shape_eq(s, o->shape)) ok = 0;
    }
    free(seen);
    return ok && count_side(orig) == count_side(opt);
}

static void stamp_spans(gr_graph *g)
{
    for (int i = 0; i < g->n; i++) g->nodes[i].span.line = i + 1;
}

typedef enum { RUN_PIPELINE, RUN_LIST } run_kind;

/* optimises a copy of g (the pipeline, or the given pass list), evaluates
 * both, and checks results, spans and the verifier. Returns the optimised graph. */
static gr_graph *check_exact(es_arena *a, gr_graph *g, run_kind k, const char *passes, int64_t B,
                             int steps, const char *what)
{
    es_status st = {0};
    gr_graph *opt = copy_graph(a, g);
    opt = k == RUN_PIPELINE ? gr_optimize(opt, &st) : gr_run_passes(opt, passes, &st);
    CHECK(opt != NULL, "%s: the passes fail: %s", what, st.msg);
    if (!opt) return NULL;
    CHECK(gr_verify(opt, &st) == 0, "%s: the result does not verify: %s", what, st.msg);
    CHECK(spans_kept(g, opt), "%s: a node of the result is not a node of the input (span, type or op)", what);
    record before = {0}, after = {0}, shared = {0};
    evaluate(copy_graph(a, g), B, steps, &before);
    gr_graph *run = copy_graph(a, opt);
    evaluate(run, B, steps, &after);
    CHECK(same_results(&before, &after, what), "%s: outputs or variables differ after the passes", what);
    /* and with buffers shared by liveness: the same outputs and variables */
    evaluate_bound(copy_graph(a, opt), B, steps, &shared, 1);
    CHECK(same_results(&after, &shared, what), "%s: buffers shared by liveness change the results", what);
    record_free(&before);
    record_free(&after);
    record_free(&shared);
    return opt;
}

/* ---- a full train step ------------------------------------------------------------ */

/* x [B,4] -> relu dense 5 -> 3 logits + an embedding of 2 ids (sparse) ->
 * softmax xent, a sigmoid head beside it, an L2 term; plus redundancy on
 * purpose: a scale 0.5 * 2 (folds to 1, then x*1 goes), a logits matmul
 * written twice (cse), neg(neg(.)) and a reshape to the same shape (simplify). */
static gr_graph *train_graph(es_arena *a, const gr_optimizer *opt)
{
    gr_graph *g = gr_new(a, NULL);
    es_span sp = nospan;
    int x = gr_input(g, "x", GR_F32, gr_shape2(GR_BATCH, 4), sp);
    int cat = gr_input(g, "cat", GR_I32, gr_shape2(GR_BATCH, 2), sp);
    int y = gr_input(g, "y", GR_I32, gr_shape1(GR_BATCH), sp);
    int yb = gr_input(g, "bin", GR_F32, gr_shape2(GR_BATCH, 1), sp);
    int W1 = gr_param(g, "w1", gr_shape2(4, 5), GR_INIT_GLOROT_UNIFORM, 0, 0, 1, sp);
    int b1 = gr_param(g, "b1", gr_shape1(5), GR_INIT_CONST, 0.1, 0, 1, sp);
    int W2 = gr_param(g, "w2", gr_shape2(5, 3), GR_INIT_GLOROT_UNIFORM, 0, 0, 1, sp);
    int b2 = gr_param(g, "b2", gr_shape1(3), GR_INIT_ZEROS, 0, 0, 1, sp);
    int E = gr_param(g, "emb", gr_shape2(12, 3), GR_INIT_NORMAL, 0, 0.5, 1, sp);
    int w3 = gr_param(g, "w3", gr_shape2(5, 1), GR_INIT_UNIFORM, -0.5, 0.5, 1, sp);
    int scale = gr_binary(g, GR_MUL, gr_scalar(g, 0.5, sp), gr_scalar(g, 2, sp), sp);
    int h = gr_unary(g, GR_RELU, gr_binary(g, GR_ADD, gr_matmul(g, x, W1, 0, 0, sp), b1, sp), sp);
    h = gr_binary(g, GR_MUL, h, scale, sp);
    int logits = gr_binary(g, GR_ADD, gr_binary(g, GR_ADD, gr_matmul(g, h, W2, 0, 0, sp), b2, sp),
                           gr_binary(g, GR_GATHER_SUM, E, cat, sp), sp);
    int again = gr_binary(g, GR_ADD, gr_binary(g, GR_ADD, gr_matmul(g, h, W2, 0, 0, sp), b2, sp),
                          gr_binary(g, GR_GATHER_SUM, E, cat, sp), sp);
    int l1 = gr_unary(g, GR_MEAN, gr_binary(g, GR_SOFTMAX_XENT, logits, y, sp), sp);
    int z = gr_reshape(g, gr_matmul(g, h, w3, 0, 0, sp), gr_shape2(GR_BATCH, 1), sp);
    /* a head over x beside an embedding: only the embedding's columns of the
     * input gradient are read (narrow) */
    int w4 = gr_param(g, "w4", gr_shape2(7, 1), GR_INIT_UNIFORM, -0.5, 0.5, 1, sp);
    int xe = gr_op_node(g, GR_CONCAT, 2, (int[]){ x, gr_binary(g, GR_GATHER_SUM, E, cat, sp) },
                        (int64_t[]){ 1, 0, 0, 0 }, NULL, sp);
    z = gr_binary(g, GR_ADD, z, gr_matmul(g, xe, w4, 0, 0, sp), sp);
    int l2 = gr_unary(g, GR_MEAN, gr_binary(g, GR_SIGMOID_XENT, z, yb, sp), sp);
    l2 = gr_unary(g, GR_NEG, gr_unary(g, GR_NEG, l2, sp), sp);
    int reg = gr_binary(g, GR_MUL, gr_scalar(g, 0.01, sp),
                        gr_unary(g, GR_SUM, gr_unary(g, GR_SQUARE, W1, sp), sp), sp);
    int loss = gr_binary(g, GR_ADD, gr_binary(g, GR_ADD, l1, l2, sp), reg, sp);
    gr_add_output(g, "loss", loss);
    gr_add_output(g, "class_ids", gr_unary(g, GR_ARGMAX, again, sp));
    gr_add_output(g, "probabilities", gr_unary(g, GR_SOFTMAX, logits, sp));
    gr_grad *grads;
    int ngrads;
    if (gr_autodiff(g, loss, &grads, &ngrads) != 0) return NULL;
    if (gr_apply_optimizer(g, grads, ngrads, opt, sp) != 0) return NULL;
    if (g->nerrors) return NULL;
    stamp_spans(g);
    return g;
}

static void test_train_step(void)
{
    static const gr_opt_kind kinds[] = { GR_OPT_SGD, GR_OPT_ADAGRAD, GR_OPT_ADAM, GR_OPT_FTRL };
    static const char *names[] = { "sgd", "adagrad", "adam", "ftrl" };
    for (size_t k = 0; k < ES_ARRAY_LEN(kinds); k++) {
        es_arena *a = es_arena_new();
        gr_optimizer o;
        gr_optimizer_defaults(&o, kinds[k]);
        o.lr = 0.1;
        if (kinds[k] == GR_OPT_FTRL) { o.l1 = 0.001; o.l2 = 0.001; }
        gr_graph *g = train_graph(a, &o);
        CHECK(g != NULL, "train %s: the program builds", names[k]);
        if (!g) { es_arena_free(a); continue; }
        char what[64];
        snprintf(what, sizeof what, "train %s (pipeline)", names[k]);
        gr_graph *opt = check_exact(a, g, RUN_PIPELINE, NULL, 5, 3, what);
        if (opt) {
            CHECK(opt->n < g->n, "train %s: the pipeline removes nothing (%d nodes)", names[k], g->n);
            int heads = 0;   /* products the epilogue pass moved into fused nodes */
            for (int i = 0; i < opt->n; i++) heads += gr_fused_head(&opt->nodes[i]);
            CHECK(count_op(opt, GR_MATMUL) + heads == count_op(g, GR_MATMUL) - 1,
                  "train %s: the duplicated logits matmul is not merged (%d -> %d matmuls)", names[k],
                  count_op(g, GR_MATMUL), count_op(opt, GR_MATMUL) + heads);
            CHECK(heads >= 2, "train %s: %d matmul epilogues", names[k], heads);
            int narrowed = 0;   /* slices of a weight read by a product (narrow) */
            for (int i = 0; i + 1 < opt->n; i++)
                narrowed += opt->nodes[i].op == GR_SLICE && opt->nodes[opt->nodes[i].in[0]].op == GR_PARAM;
            CHECK(narrowed == 1, "train %s: %d products narrowed to the embedding's columns", names[k], narrowed);
            CHECK(count_op(opt, GR_GATHER_SUM) == 1, "train %s: the duplicated gather_sum is not merged",
                  names[k]);
            CHECK(count_op(opt, GR_NEG) <= count_op(g, GR_NEG) - 2, "train %s: neg(neg(l2)) survives",
                  names[k]);
            /* relu(add(matmul, b1)): the bias add and relu become one node, and so do
             * relu's gradient (step times the upstream) and its neighbours */
            CHECK(count_op(opt, GR_FUSED) >= 2, "train %s: %d fused nodes", names[k], count_op(opt, GR_FUSED));
            CHECK(count_op(opt, GR_RELU) == 0, "train %s: relu is not fused with its bias add", names[k]);
            /* a second run finds nothing left to do */
            es_status st = {0};
            gr_graph *twice = gr_optimize(copy_graph(a, opt), &st);
            CHECK(twice && twice->n == opt->n, "train %s: a second pipeline run still changes the graph "
                  "(%d -> %d nodes)", names[k], opt->n, twice ? twice->n : -1);
        }
        static const char *const alone[] = { "fold", "simplify", "cse", "dce", "fold,dce",
                                             "simplify,dce", "cse,dce", "cse,simplify,fold,dce",
                                             "fuse", "fold,fuse", "fuse,cse,fold,simplify,dce",
                                             "epilogue", "fuse,epilogue,cse,dce", "narrow",
                                             "narrow,dce", "cse,narrow,fuse,epilogue" };
        for (size_t p = 0; p < ES_ARRAY_LEN(alone); p++) {
            snprintf(what, sizeof what, "train %s (%s)", names[k], alone[p]);
            check_exact(a, g, RUN_LIST, alone[p], 5, 2, what);
        }
        es_arena_free(a);
    }
}

/* ---- a train step with the model-function ops ---------------------------------------- *
 * Dropout twice with seed 1 on the same input (cse merges them: the same mask)
 * and once with seed 2 (never merged: another mask); a batch-norm style
 * moving average (assign_ema, a side effect dce keeps though nothing reads
 * it); concat, slice, select, comparisons, leaky_relu, elu, max_axis,
 * mean_axis and a weighted embedding in the forward pass, and their
 * gradients. */
static int opn(gr_graph *g, gr_op op, int nin, const int *in, int64_t a0, int64_t a1, int64_t a2, double f0)
{
    int64_t a[4] = { a0, a1, a2, 0 };
    double f[4] = { f0, 0, 0, 0 };
    return gr_op_node(g, op, nin, in, a, f, nospan);
}

/* differentiates loss and adds Adagrad (learning rate 0.1) updates; 1 if all builds */
static int adagrad_step(gr_graph *g, int loss)
{
    gr_grad *grads;
    int ngrads;
    gr_optimizer o;
    gr_optimizer_defaults(&o, GR_OPT_ADAGRAD);
    o.lr = 0.1;
    return gr_autodiff(g, loss, &grads, &ngrads) == 0 && gr_apply_optimizer(g, grads, ngrads, &o, nospan) == 0 &&
           g->nerrors == 0;
}

static void test_model_step(void)
{
    es_arena *a = es_arena_new();
    gr_graph *g = gr_new(a, NULL);
    es_span sp = nospan;
    int x = gr_input(g, "x", GR_F32, gr_shape2(GR_BATCH, 4), sp);
    int cat = gr_input(g, "cat", GR_I32, gr_shape2(GR_BATCH, 3), sp);
    int wts = gr_input(g, "wts", GR_F32, gr_shape2(GR_BATCH, 3), sp);
    int y = gr_input(g, "y", GR_I32, gr_shape1(GR_BATCH), sp);
    int step = gr_input(g, "global_step", GR_I32, gr_shape1(1), sp);
    int W1 = gr_param(g, "w1", gr_shape2(4, 5), GR_INIT_GLOROT_UNIFORM, 0, 0, 1, sp);
    int b1 = gr_param(g, "b1", gr_shape1(5), GR_INIT_CONST, 0.1, 0, 1, sp);
    int E = gr_param(g, "emb", gr_shape2(4, 2), GR_INIT_NORMAL, 0, 0.5, 1, sp);
    int W2 = gr_param(g, "w2", gr_shape2(8, 3), GR_INIT_GLOROT_UNIFORM, 0, 0, 1, sp);
    int mm = gr_param(g, "moving_mean", gr_shape1(5), GR_INIT_ZEROS, 0, 0, 0, sp);
    int h = opn(g, GR_LEAKY_RELU, 1, (int[]){ gr_binary(g, GR_ADD, gr_matmul(g, x, W1, 0, 0, sp), b1, sp) }, 0, 0, 0, 0.2);
    int ema = opn(g, GR_ASSIGN_EMA, 2, (int[]){ mm, opn(g, GR_MEAN_AXIS, 1, &h, 0, 0, 0, 0) }, 0, 0, 0, 0.99);
    int d1 = opn(g, GR_DROPOUT, 2, (int[]){ h, step }, 1, 0, 0, 0.3);
    int d1b = opn(g, GR_DROPOUT, 2, (int[]){ h, step }, 1, 0, 0, 0.3);
    int d2 = opn(g, GR_DROPOUT, 2, (int[]){ h, step }, 2, 0, 0, 0.3);
    int gw = opn(g, GR_GATHER_WSUM, 3, (int[]){ E, cat, wts }, 0, 0, 0, 0);
    int hc = opn(g, GR_CONCAT, 3, (int[]){ d1, d2, gw }, 1, 0, 0, 0);               /* [B,12] */
    int sl = opn(g, GR_SLICE, 1, &hc, 1, 2, 8, 0);
    int logits = gr_matmul(g, sl, W2, 0, 0, sp);
    int zero = gr_scalar(g, 0, sp);
    int act = opn(g, GR_SELECT, 3, (int[]){ gr_binary(g, GR_GREATER, logits, zero, sp), logits,
                                            opn(g, GR_ELU, 1, &logits, 0, 0, 0, 1.0) }, 0, 0, 0, 0);
    int l1 = gr_unary(g, GR_MEAN, gr_binary(g, GR_SOFTMAX_XENT, act, y, sp), sp);
    int l2 = gr_unary(g, GR_MEAN, opn(g, GR_MAX_AXIS, 1, &act, 1, 0, 0, 0), sp);
    int loss = gr_binary(g, GR_ADD, l1, gr_binary(g, GR_MUL, l2, gr_scalar(g, 0.01, sp), sp), sp);
    gr_add_output(g, "loss", loss);
    gr_add_output(g, "aux", gr_unary(g, GR_SUM, d1b, sp));
    int ok = adagrad_step(g, loss);
    CHECK(ok, "the model-function train step builds");
    if (!ok) { es_arena_free(a); return; }
    stamp_spans(g);
    gr_graph *opt = check_exact(a, g, RUN_PIPELINE, NULL, 5, 3, "model-function step (pipeline)");
    if (opt) {
        int has[3] = { 0, 0, 0 }, lines[3] = { d1 + 1, d1b + 1, d2 + 1 }, has_ema = 0;
        for (int i = 0; i < opt->n; i++) {
            for (int k = 0; k < 3; k++) has[k] += opt->nodes[i].span.line == lines[k];
            has_ema += opt->nodes[i].span.line == ema + 1 && opt->nodes[i].op == GR_ASSIGN_EMA;
        }
        CHECK(has[0] && !has[1], "two dropouts with one seed on one input merge into one");
        CHECK(has[2], "a dropout with another seed stays");
        CHECK(has_ema == 1, "assign_ema survives although nothing reads it");
    }
    static const char *const alone[] = { "fold", "simplify", "cse", "dce", "cse,dce", "cse,simplify,fold,dce" };
    for (size_t p = 0; p < ES_ARRAY_LEN(alone); p++) {
        char what[64];
        snprintf(what, sizeof what, "model-function step (%s)", alone[p]);
        check_exact(a, g, RUN_LIST, alone[p], 5, 2, what);
    }
    es_arena_free(a);
}

/* ---- onehot: equal to float rounding ------------------------------------------------ *
 * A first layer over numeric columns, an embedding and two one-hot columns
 * (one with two ids per example), trained with Adagrad: the pipeline with
 * onehot and without it give the same outputs and variables up to float
 * rounding (the pass splits each sum in two), never exactly required. */

/* every f32 value of before within 1e-5 relative (1e-6 absolute) in after */
static int near_results(const record *before, const record *after, const char *what)
{
    int ok = 1;
    for (int i = 0; i < before->n; i++) {
        const entry *e = &before->e[i];
        const entry *f = find(after, e->key);
        if (!f || f->n != e->n) {
            fprintf(stderr, "%s: '%s' is missing or resized\n", what, e->key);
            ok = 0;
            continue;
        }
        const float *x = (const float *)e->bytes, *y = (const float *)f->bytes;
        for (size_t k = 0; k < e->n / sizeof *x; k++)
            if (!(fabsf(x[k] - y[k]) <= 1e-6f + 1e-5f * fabsf(x[k]))) {
                if (ok) fprintf(stderr, "%s: '%s'[%zu] %.9g against %.9g\n", what, e->key, k, x[k], y[k]);
                ok = 0;
                break;
            }
    }
    return ok;
}

static void test_onehot_step(void)
{
    es_arena *a = es_arena_new();
    gr_graph *g = gr_new(a, NULL);
    es_span sp = nospan;
    int x = gr_input(g, "x", GR_F32, gr_shape2(GR_BATCH, 3), sp);
    int ia = gr_input(g, "a", GR_I32, gr_shape1(GR_BATCH), sp);
    int ib = gr_input(g, "b", GR_I32, gr_shape2(GR_BATCH, 2), sp);
    int ic = gr_input(g, "c", GR_I32, gr_shape1(GR_BATCH), sp);
    int y = gr_input(g, "y", GR_F32, gr_shape2(GR_BATCH, 1), sp);
    int E = gr_param(g, "emb", gr_shape2(5, 2), GR_INIT_NORMAL, 0, 0.5, 1, sp);
    int W1 = gr_param(g, "w1", gr_shape2(15, 6), GR_INIT_GLOROT_UNIFORM, 0, 0, 1, sp);
    int b1 = gr_param(g, "b1", gr_shape1(6), GR_INIT_CONST, 0.1, 0, 1, sp);
    int w2 = gr_param(g, "w2", gr_shape2(6, 1), GR_INIT_GLOROT_UNIFORM, 0, 0, 1, sp);
    int oa = opn(g, GR_ONE_HOT, 1, &ia, 6, 0, 0, 0), ob = opn(g, GR_ONE_HOT, 1, &ib, 4, 0, 0, 0);
    int X = opn(g, GR_CONCAT, 4, (int[]){ x, oa, gr_binary(g, GR_GATHER_SUM, E, ic, sp), ob }, 1, 0, 0, 0);
    int h = gr_unary(g, GR_RELU, gr_binary(g, GR_ADD, gr_matmul(g, X, W1, 0, 0, sp), b1, sp), sp);
    int loss = gr_unary(g, GR_MEAN, gr_binary(g, GR_SIGMOID_XENT, gr_matmul(g, h, w2, 0, 0, sp), y, sp), sp);
    gr_add_output(g, "loss", loss);
    gr_add_output(g, "hidden", h);
    int ok = adagrad_step(g, loss);
    CHECK(ok, "the one-hot train step builds");
    if (!ok) { es_arena_free(a); return; }
    es_status st = {0};
    gr_graph *with = gr_optimize(copy_graph(a, g), &st);
    gr_graph *without = gr_run_passes(copy_graph(a, g), "fold,simplify,cse,narrow,dce,fuse,epilogue", &st);
    CHECK(with && without, "the passes run: %s", st.msg);
    if (!with || !without) { es_arena_free(a); return; }
    CHECK(count_op(with, GR_ONE_HOT) == 0 && count_op(with, GR_SHIFT_IDS) == 2,
          "onehot replaces both one-hot columns (%d one_hot, %d shift_ids left)", count_op(with, GR_ONE_HOT),
          count_op(with, GR_SHIFT_IDS));
    CHECK(count_op(without, GR_ONE_HOT) == 2, "without onehot the one-hot columns stay");
    record r0 = {0}, r1 = {0}, r2 = {0};
    evaluate(copy_graph(a, g), 7, 4, &r0);
    evaluate(copy_graph(a, with), 7, 4, &r1);
    evaluate_bound(copy_graph(a, with), 7, 4, &r2, 1);
    CHECK(r0.n > 4 && near_results(&r0, &r1, "onehot"), "onehot changes the results beyond rounding");
    CHECK(same_results(&r1, &r2, "onehot (shared)"), "onehot with shared buffers changes the results");
    record_free(&r0);
    record_free(&r1);
    record_free(&r2);
    es_arena_free(a);
}

/* g (bound) run once at batch B with PARAM i holding values[i]: outputs into rec */
static void evaluate_values(const gr_graph *g, const float *const *values, int64_t B, record *rec)
{
    void **bufs = calloc((size_t)g->nbufs + 1, sizeof *bufs);
    for (int i = 0; i < g->n; i++) {
        const gr_node *n = &g->nodes[i];
        if (n->buf < 0 || bufs[n->buf]) continue;
        size_t nb = gr_buf_bytes(g, i, B);
        bufs[n->buf] = calloc(1, nb ? nb : 4);
        if (n->op == GR_PARAM) memcpy(bufs[n->buf], values[i], nb);
        if (n->op == GR_INPUT) fill_input(n, bufs[n->buf], B, 0);
    }
    gr_eval(g, bufs, B);
    for (int o = 0; o < g->noutputs; o++) {
        int id = g->outputs[o].node;
        put(rec, "output", 0, g->outputs[o].name, bufs[g->nodes[id].buf], gr_buf_bytes(g, id, B));
    }
    for (int i = 0; i < g->nbufs; i++) free(bufs[i]);
    free(bufs);
}

/* gr_freeze on a predict program that onehot leaves slices of its first
 * layer's kernel in: those become one variable of the trained values, and
 * the outputs keep their bits */
static void test_freeze(void)
{
    es_arena *a = es_arena_new();
    gr_graph *g = gr_new(a, NULL);
    g->kind = GR_PROG_PREDICT;
    es_span sp = nospan;
    int x = gr_input(g, "x", GR_F32, gr_shape2(GR_BATCH, 3), sp);
    int ia = gr_input(g, "a", GR_I32, gr_shape1(GR_BATCH), sp);
    int x2 = gr_input(g, "x2", GR_F32, gr_shape2(GR_BATCH, 2), sp);
    int W1 = gr_param(g, "w1", gr_shape2(15, 5), GR_INIT_GLOROT_UNIFORM, 0, 0, 1, sp);
    int b1 = gr_param(g, "b1", gr_shape1(5), GR_INIT_CONST, 0.1, 0, 1, sp);
    int mean = gr_param(g, "mean", gr_shape1(3), GR_INIT_NORMAL, 0, 1, 0, sp);
    int xn = gr_binary(g, GR_SUB, x, mean, sp);
    /* dense rows 0-2 and 13-14 of w1 around ten one-hot ones */
    int X = opn(g, GR_CONCAT, 3, (int[]){ xn, opn(g, GR_ONE_HOT, 1, &ia, 10, 0, 0, 0), x2 }, 1, 0, 0, 0);
    int h = gr_unary(g, GR_RELU, gr_binary(g, GR_ADD, gr_matmul(g, X, W1, 0, 0, sp), b1, sp), sp);
    gr_add_output(g, "hidden", h);
    es_status st = {0};
    gr_graph *opt = gr_optimize(g, &st);
    CHECK(opt != NULL, "the passes run: %s", st.msg);
    if (!opt) { es_arena_free(a); return; }
    gr_bind_shared(opt);
    const float **values = es_alloc(a, (size_t)opt->n * sizeof *values);
    for (int i = 0; i < opt->n; i++) {
        const gr_node *n = &opt->nodes[i];
        if (n->op != GR_PARAM) continue;
        float *v = es_alloc(a, gr_buf_bytes(opt, i, 1));
        es_rng r = rng_for(n->name, 7);
        gr_init_param(n, v, &r);
        values[i] = v;
    }
    const float **fv = NULL;
    gr_graph *fz = gr_freeze(opt, values, a, &fv);
    CHECK(fz != NULL, "a predict program freezes");
    if (!fz) { es_arena_free(a); return; }
    int folded = 0;
    for (int i = 0; i < fz->n; i++)
        if (fz->nodes[i].op == GR_PARAM && strncmp(fz->nodes[i].name, "frozen/", 7) == 0) folded++;
    CHECK(count_op(opt, GR_SLICE) > 0 && count_op(fz, GR_SLICE) == 0 && folded == 1,
          "the kernel's slices (%d before) become one frozen variable (%d slices left, %d frozen)",
          count_op(opt, GR_SLICE), count_op(fz, GR_SLICE), folded);
    CHECK(gr_find_named(fz, GR_PARAM, "mean") != GR_NONE && gr_find_named(fz, GR_PARAM, "b1") != GR_NONE,
          "variables read by the batch's work stay variables");
    CHECK(gr_verify(fz, &st) == 0, "the frozen program verifies: %s", st.msg);
    record r0 = {0}, r1 = {0};
    evaluate_values(opt, values, 7, &r0);
    evaluate_values(fz, fv, 7, &r1);
    CHECK(r0.n == 1 && same_results(&r0, &r1, "freeze"), "freezing changes the outputs");
    record_free(&r0);
    record_free(&r1);
    /* a program that writes a variable is left alone */
    gr_graph *t = gr_new(a, NULL);
    int p = gr_param(t, "p", gr_shape1(2), GR_INIT_ZEROS, 0, 0, 1, sp);
    int in = gr_input(t, "g", GR_F32, gr_shape1(2), sp);
    opn(t, GR_APPLY_SGD, 2, (int[]){ p, in }, 0, 0, 0, 0.1);
    gr_bind(t);
    const float *tv[3] = { (float[]){ 1, 2 }, NULL, NULL };
    const float **tfv = NULL;
    CHECK(gr_freeze(t, tv, a, &tfv) == NULL, "a program with an update is not frozen");
    es_arena_free(a);
}

/* ---- random graphs --------------------------------------------------------------- */

typedef struct rg {
    gr_graph *g;
    es_rng r;
    int params[4], nupdates;
} rg;

static int pick(rg *c) { return (int)es_rng_below(&c->r, (uint64_t)c->g->n); }

/* a random earlier node with an f32 value */
static int pick_f32(rg *c)
{
    for (;;) {
        int i = pick(c);
        if (c->g->nodes[i].dtype == GR_F32) return i;
    }
}

static int konst(rg *c, gr_shape s, float v, int random)
{
    float d[9];
    int64_t ne = gr_numel(s, 1);
    for (int64_t i = 0; i < ne; i++) d[i] = random ? (float)(4 * es_rng_uniform(&c->r) - 2) : v;
    return gr_const(c->g, s, d, nospan);
}

static int special_const(rg *c)
{
    static const float vals[] = { 1.0f, -0.0f, 0.0f, 1.0f, 2.0f };
    gr_shape shapes[] = { gr_shape0(), gr_shape1(3), gr_shape2(1, 3) };
    return konst(c, shapes[es_rng_below(&c->r, 3)], vals[es_rng_below(&c->r, 5)], 0);
}

static gr_op pick_unary(rg *c)
{
    static const gr_op ops[] = { GR_NEG, GR_NEG, GR_EXP, GR_LOG, GR_SQRT, GR_ABS, GR_SQUARE, GR_SIGMOID,
                                 GR_TANH, GR_RELU, GR_SOFTPLUS, GR_STEP, GR_SIGN };
    return ops[es_rng_below(&c->r, ES_ARRAY_LEN(ops))];
}

static gr_op pick_binary(rg *c)
{
    static const gr_op ops[] = { GR_ADD, GR_SUB, GR_MUL, GR_DIV, GR_MAXIMUM, GR_MINIMUM };
    return ops[es_rng_below(&c->r, ES_ARRAY_LEN(ops))];
}

/* one random node (or none when the drawn combination does not fit) */
static void grow(rg *c)
{
    gr_graph *g = c->g;
    uint64_t what = es_rng_below(&c->r, 100);
    int x = pick_f32(c);
    gr_shape xs = g->nodes[x].shape;
    if (what < 25) {
        gr_unary(g, pick_unary(c), x, nospan);
    } else if (what < 55) {
        int y = es_rng_below(&c->r, 3) == 0 ? special_const(c) : pick_f32(c);
        if (es_rng_below(&c->r, 2)) { int t = x; x = y; y = t; }
        if (gr_broadcast(g->nodes[x].shape, g->nodes[y].shape, NULL) == 0)
            gr_binary(g, pick_binary(c), x, y, nospan);
    } else if (what < 62) {
        gr_shape s = xs;
        if (es_rng_below(&c->r, 2) && s.rank < GR_MAXDIMS) s.d[s.rank++] = 1;   /* else: its own shape */
        gr_reshape(g, x, s, nospan);
        if (es_rng_below(&c->r, 2)) gr_reshape(g, g->n - 1, xs, nospan);
    } else if (what < 70) {
        int like = pick(c);
        gr_shape r, ls = g->nodes[like].shape;
        int in[2] = { x, like };
        if (g->nodes[like].dtype == GR_VOID) return;
        int to = gr_broadcast(xs, ls, &r) == 0 && gr_shape_eq(r, ls);
        int from = gr_broadcast(ls, xs, &r) == 0 && gr_shape_eq(r, xs);
        if (to && from) to = (int)es_rng_below(&c->r, 2);   /* equal shapes: either */
        if (to) gr_op_node(g, GR_BROADCAST, 2, in, NULL, NULL, nospan);
        else if (from) gr_op_node(g, GR_SUM_TO, 2, in, NULL, NULL, nospan);
    } else if (what < 76) {
        static const gr_op red[] = { GR_SUM, GR_MEAN, GR_NUMEL, GR_SUM_AXIS };
        gr_op op = red[es_rng_below(&c->r, 4)];
        if (op != GR_SUM_AXIS) gr_unary(g, op, x, nospan);
        else if (xs.rank > 0) gr_sum_axis(g, x, (int)es_rng_below(&c->r, (uint64_t)xs.rank), nospan);
    } else if (what < 81) {
        if (xs.rank == 2 && xs.d[1] == 3) gr_matmul(g, x, c->params[1], 0, es_rng_below(&c->r, 2), nospan);
        else if (xs.rank >= 1) gr_unary(g, es_rng_below(&c->r, 2) ? GR_SOFTMAX : GR_LOG_SOFTMAX, x, nospan);
    } else if (what < 95) {
        /* an exact copy of an earlier computed node: cse's work */
        int d = pick(c);
        for (int t = 0; t < 20 && (gr_ops[g->nodes[d].op].flags & (GR_F_LEAF | GR_F_SIDE)); t++) d = pick(c);
        if (gr_ops[g->nodes[d].op].flags & (GR_F_LEAF | GR_F_SIDE)) return;
        gr_node cp = g->nodes[d];
        if (cp.op == GR_RESHAPE) gr_reshape(g, cp.in[0], cp.shape, nospan);
        else gr_op_node(g, cp.op, cp.nin, cp.in, cp.a, cp.f, nospan);
    } else if (c->nupdates < 2) {
        /* an update in the middle: later nodes read the new value. Its
         * variable is a param, or now and then a computed copy of one (the
         * evaluator updates whatever buffer it is given) */
        int p = c->params[es_rng_below(&c->r, 4)];
        gr_shape ps = g->nodes[p].shape;
        if (es_rng_below(&c->r, 3) == 0) p = gr_reshape(g, p, ps, nospan);
        int grad = x;
        if (!gr_shape_eq(xs, ps)) {
            gr_shape r;
            int in[2] = { x, p };
            if (gr_broadcast(ps, xs, &r) != 0 || !gr_shape_eq(r, xs)) return;
            grad = gr_op_node(g, GR_SUM_TO, 2, in, NULL, NULL, nospan);
        }
        int in[2] = { p, grad };
        double f[4] = { 0.25, 0, 0, 0 };
        gr_op_node(g, GR_APPLY_SGD, 2, in, NULL, f, nospan);
        c->nupdates++;
    }
}

static gr_graph *random_graph(es_arena *a, uint64_t seed)
{
    rg c = { .g = gr_new(a, NULL) };
    gr_graph *g = c.g;
    es_rng_seed(&c.r, seed);
    gr_input(g, "x", GR_F32, gr_shape2(GR_BATCH, 3), nospan);
    gr_input(g, "u", GR_F32, gr_shape2(GR_BATCH, 1), nospan);
    int ids = gr_input(g, "ids", GR_I32, gr_shape1(GR_BATCH), nospan);
    c.params[0] = gr_param(g, "p", gr_shape1(3), GR_INIT_UNIFORM, -1, 1, 1, nospan);
    c.params[1] = gr_param(g, "q", gr_shape2(3, 3), GR_INIT_UNIFORM, -1, 1, 1, nospan);
    c.params[2] = gr_param(g, "r", gr_shape2(1, 3), GR_INIT_UNIFORM, -1, 1, 1, nospan);
    /* the same shape and initialiser as p, and x's twin: names alone tell them apart */
    c.params[3] = gr_param(g, "p2", gr_shape1(3), GR_INIT_UNIFORM, -1, 1, 1, nospan);
    gr_input(g, "x2", GR_F32, gr_shape2(GR_BATCH, 3), nospan);
    int table = gr_param(g, "table", gr_shape2(5, 3), GR_INIT_UNIFORM, -1, 1, 1, nospan);
    gr_binary(g, GR_GATHER_SUM, table, ids, nospan);
    gr_unary(g, GR_CAST_F32, ids, nospan);
    konst(&c, gr_shape1(3), 0, 1);
    konst(&c, gr_shape2(3, 3), 0, 1);
    konst(&c, gr_shape0(), 0.5f, 0);
    for (int k = 0; k < 6; k++) special_const(&c);
    int target = 20 + (int)es_rng_below(&c.r, 30);
    for (int tries = 0; g->n < target && tries < 400; tries++) grow(&c);
    /* outputs: every computed value nothing reads (so little is dead and
     * duplicates are live), at most 32 */
    char *used = es_alloc(a, (size_t)g->n);
    for (int i = 0; i < g->n; i++)
        for (int k = 0; k < g->nodes[i].nin; k++) used[g->nodes[i].in[k]] = 1;
    char name[16];
    for (int i = g->n - 1, o = 0; i >= 0 && o < 32; i--) {
        if (used[i] || g->nodes[i].dtype == GR_VOID || (gr_ops[g->nodes[i].op].flags & GR_F_LEAF)) continue;
        snprintf(name, sizeof name, "out%d", o++);
        gr_add_output(g, name, i);
    }
    stamp_spans(g);
    return g->nerrors ? NULL : g;
}

static void test_random(void)
{
    static const char *const lists[] = { "fold", "simplify", "cse", "dce", "fold,simplify,cse,dce", "fuse",
                                         "fuse,epilogue" };
    int graphs = 0, folded = 0, simplified = 0, merged = 0, updates = 0, fused = 0, heads = 0;
    for (uint64_t seed = 1; seed <= 300; seed++) {
        es_arena *a = es_arena_new();
        gr_graph *g = random_graph(a, seed);
        CHECK(g != NULL, "random graph %llu: builds without errors", (unsigned long long)seed);
        if (!g) { es_arena_free(a); continue; }
        graphs++;
        updates += count_side(g) > 0;
        char what[80];
        for (size_t l = 0; l < ES_ARRAY_LEN(lists); l++) {
            snprintf(what, sizeof what, "random graph %llu (%s)", (unsigned long long)seed, lists[l]);
            gr_graph *opt = check_exact(a, g, RUN_LIST, lists[l], 4, 2, what);
            if (!opt) continue;
            /* did the pass do anything? (counted, to show the test exercises it) */
            if (l == 0) folded += count_op(opt, GR_CONST) > count_op(g, GR_CONST);
            if (l < 3) {
                gr_graph *d = gr_dce(copy_graph(a, opt)), *d0 = gr_dce(copy_graph(a, g));
                if (l == 1) simplified += d->n < d0->n;
                if (l == 2) merged += d->n < d0->n;
            }
            if (l == 5) fused += count_op(opt, GR_FUSED) > 0;
            for (int i = 0; l == 6 && i < opt->n; i++) heads += gr_fused_head(&opt->nodes[i]);
        }
        snprintf(what, sizeof what, "random graph %llu (gr_optimize)", (unsigned long long)seed);
        check_exact(a, g, RUN_PIPELINE, NULL, 3, 2, what);
        es_arena_free(a);
    }
    /* the generator must actually feed each pass work, or the test proves little */
    CHECK(graphs >= 290 && folded > 50 && simplified > 50 && merged > 50 && updates > 30 && fused > 50 &&
          heads > 5, "random graphs exercise every pass: %d graphs, fold changed %d, simplify %d, cse %d, "
          "fuse %d, epilogue %d, %d with updates", graphs, folded, simplified, merged, fused, heads, updates);
}

/* ---- smaller behaviours ------------------------------------------------------------- */

static gr_graph *parse(es_arena *a, const char *text)
{
    es_status st = {0};
    gr_graph *g = gr_parse(a, text, &st);
    CHECK(g != NULL, "test graph parses: %s", st.msg);
    return g;
}

static const char small[] =
    "program predict\n"
    "%0:f32[B,3] = input \"x\"\n"
    "%1:f32[] = const [2]\n"
    "%2:f32[] = exp(%1)\n"
    "%3:f32[B,3] = mul(%0, %2)\n"
    "output \"y\" = %3\n";

static void test_environment(void)
{
    es_arena *a = es_arena_new();
    es_status st = {0};
    gr_graph *g;

    setenv("ESTC_DISABLE", "fold", 1);
    g = gr_optimize(parse(a, small), &st);
    CHECK(g && count_op(g, GR_EXP) == 1, "ESTC_DISABLE=fold keeps exp(2) unfolded");
    setenv("ESTC_DISABLE", " cse , fold ,", 1);
    g = gr_optimize(parse(a, small), &st);
    CHECK(g && count_op(g, GR_EXP) == 1, "ESTC_DISABLE tolerates blanks and empty names");
    unsetenv("ESTC_DISABLE");
    g = gr_optimize(parse(a, small), &st);
    CHECK(g && count_op(g, GR_EXP) == 0 && g->n == 3, "without ESTC_DISABLE exp(2) is folded (%d nodes)",
          g ? g->n : -1);

    setenv("ESTC_DISABLE", "fold,csee", 1);
    es_status_clear(&st);
    g = gr_optimize(parse(a, small), &st);
    CHECK(!g && strstr(st.msg, "ESTC_DISABLE: unknown pass 'csee'"), "a misspelt pass is an error: %s", st.msg);
    unsetenv("ESTC_DISABLE");
    setenv("ESTC_DUMP", "nope", 1);
    es_status_clear(&st);
    g = gr_optimize(parse(a, small), &st);
    CHECK(!g && strstr(st.msg, "ESTC_DUMP: unknown pass 'nope'"), "ESTC_DUMP checks names too: %s", st.msg);
    unsetenv("ESTC_DUMP");

    es_status_clear(&st);
    g = gr_run_passes(parse(a, small), "fold,xyz", &st);
    CHECK(!g && strstr(st.msg, "unknown pass 'xyz'"), "gr_run_passes refuses unknown names: %s", st.msg);
    es_status_clear(&st);
    g = gr_run_passes(parse(a, small), "", &st);
    CHECK(g && g->n == 4, "an empty pass list leaves the graph as it is");

    /* the verifier runs first: a graph with two inputs named x is refused */
    gr_graph *bad = gr_new(a, NULL);
    int x1 = gr_input(bad, "x", GR_F32, gr_shape1(3), nospan);
    int x2 = gr_input(bad, "x", GR_F32, gr_shape1(3), nospan);
    gr_add_output(bad, "y", gr_binary(bad, GR_ADD, x1, x2, nospan));
    es_status_clear(&st);
    CHECK(gr_optimize(bad, &st) == NULL && strstr(st.msg, "is also node"),
          "gr_optimize verifies its input: %s", st.msg);
    es_arena_free(a);
}

/* folding never inflates a small constant into a large one */
static void test_fold_size(void)
{
    es_arena *a = es_arena_new();
    gr_graph *g = gr_new(a, NULL);
    float big[2000];
    for (int i = 0; i < 2000; i++) big[i] = (float)i;
    int c = gr_const(g, gr_shape2(40, 50), big, nospan);
    int two = gr_scalar(g, 2, nospan);
    int p = gr_param(g, "p", gr_shape2(40, 50), GR_INIT_ZEROS, 0, 0, 0, nospan);
    gr_add_output(g, "neg", gr_unary(g, GR_NEG, c, nospan));          /* 2000 from 2000: folds */
    int in[2] = { two, p };
    gr_add_output(g, "bc", gr_op_node(g, GR_BROADCAST, 2, in, NULL, NULL, nospan));   /* 2000 from 1: stays */
    gr_fold(g);
    const gr_node *neg = &g->nodes[gr_find_output(g, "neg")];
    CHECK(neg->op == GR_CONST && neg->data[1999] == -1999.0f && neg->data[0] == 0.0f && signbit(neg->data[0]),
          "neg of a 2000-element constant folds (and -0 is -0)");
    CHECK(g->nodes[gr_find_output(g, "bc")].op == GR_BROADCAST,
          "a scalar broadcast to 2000 elements is not folded into a 2000-element constant");
    es_arena_free(a);
}

/* ---- fusion ----------------------------------------------------------------------- */

/* g's text form, read back through a temporary file (malloc'd) */
static char *text_of(const gr_graph *g)
{
    FILE *f = tmpfile();
    if (!f) return NULL;
    gr_print(g, f);
    long len = ftell(f);
    char *t = calloc((size_t)len + 1, 1);
    rewind(f);
    if (len < 0 || fread(t, 1, (size_t)len, f) != (size_t)len) { free(t); t = NULL; }
    fclose(f);
    return t;
}

/* An update between a member and its root: %4 reads w before apply_sgd
 * overwrites it, %6 after, so %4 must not move into %6's loop (it would read
 * the new w); %6 and %7 still fuse. Eleven inputs summed: every group stops
 * at GR_MAXIN inputs. */
static const char guarded[] =
    "program train\n"
    "%0:f32[3] = param \"w\" init=uniform trainable=1 f=[-1,1]\n"
    "%1:f32[3] = input \"g\"\n"
    "%2:f32[] = const [2]\n"
    "%4:f32[3] = mul(%0, %2)\n"
    "%5:void[] = apply_sgd(%0, %1) f=[0.5]\n"
    "%6:f32[3] = add(%4, %1)\n"
    "%7:f32[3] = exp(%6)\n"
    "output \"e\" = %7\n";

static void test_fuse(void)
{
    es_arena *a = es_arena_new();
    gr_graph *g = parse(a, guarded);
    if (g) stamp_spans(g);
    gr_graph *opt = g ? check_exact(a, g, RUN_LIST, "fuse", 3, 2, "update inside a group") : NULL;
    CHECK(opt && count_op(opt, GR_FUSED) == 1 && count_op(opt, GR_MUL) == 1,
          "the product read before the update stays out of the fused node");

    /* eleven inputs summed: groups of at most GR_MAXIN inputs, the same bits */
    gr_graph *w = gr_new(a, NULL);
    int sum = GR_NONE;
    for (int i = 0; i < 11; i++) {
        char name[8];
        snprintf(name, sizeof name, "x%d", i);
        int x = gr_input(w, name, GR_F32, gr_shape2(GR_BATCH, 2), nospan);
        sum = sum == GR_NONE ? gr_unary(w, GR_TANH, x, nospan) : gr_binary(w, GR_ADD, sum, x, nospan);
    }
    gr_add_output(w, "sum", sum);
    stamp_spans(w);
    opt = check_exact(a, w, RUN_LIST, "fuse", 4, 1, "eleven inputs");
    CHECK(opt && count_op(opt, GR_FUSED) == 2 && count_op(opt, GR_ADD) == 0 && count_op(opt, GR_TANH) == 0,
          "eleven inputs make two fused nodes (%d)", opt ? count_op(opt, GR_FUSED) : -1);

    /* the optimised train step prints, parses back and prints the same text,
     * and the parsed graph gives the same bits */
    gr_optimizer o;
    gr_optimizer_defaults(&o, GR_OPT_ADAGRAD);
    gr_graph *t = train_graph(a, &o);
    es_status st = {0};
    opt = t ? gr_optimize(copy_graph(a, t), &st) : NULL;
    CHECK(opt && count_op(opt, GR_FUSED) > 0, "the train step has fused nodes");
    if (opt) {
        char *t1 = text_of(opt);
        gr_graph *back = t1 ? gr_parse(a, t1, &st) : NULL;
        CHECK(back != NULL, "a graph with fused nodes parses back: %s", st.msg);
        char *t2 = back ? text_of(back) : NULL;
        CHECK(t1 && t2 && strcmp(t1, t2) == 0, "print -> parse -> print is the identity with fused nodes");
        record r1 = {0}, r2 = {0};
        evaluate(copy_graph(a, opt), 5, 2, &r1);
        if (back) evaluate(back, 5, 2, &r2);
        CHECK(back && same_results(&r1, &r2, "parsed fused graph"), "the parsed fused graph computes the same bits");
        record_free(&r1);
        record_free(&r2);
        free(t1);
        free(t2);
    }
    es_arena_free(a);
}

int main(void)
{
    unsetenv("ESTC_DISABLE");
    unsetenv("ESTC_DUMP");
    test_environment();
    test_fold_size();
    test_train_step();
    test_model_step();
    test_onehot_step();
    test_freeze();
    test_random();
    test_fuse();
    return check_done("test_passes");
}

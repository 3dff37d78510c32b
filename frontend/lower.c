/*
 * lower.c — turns a checked model into the es_spec data contract and the
 * three graph programs (train, eval, predict).
 *
 * The linear estimators follow TensorFlow's linear_model: the logits are a
 * sum of one term per listed feature plus a bias,
 *   categorical f:  gather_sum(W_f [num_buckets, K], ids_f)    (the 'sum' combiner)
 *   indicator(f):   matmul(one_hot(ids_f, num_buckets), W [num_buckets, K])
 *   numeric f:      matmul(normalize(x_f [B, w]), W_f [w, K])
 *   bias:           "linear/bias" [K]
 * with every weight zero-initialised (TensorFlow's choice for linear models),
 * K = 1 for binary classification and regression, n_classes otherwise. The
 * heads are TensorFlow's: sigmoid cross-entropy (binary), softmax
 * cross-entropy (multi-class), squared error (regression), each averaged over
 * the batch for the training loss.
 *
 * Invariants: the three programs are built by the same forward code, so their
 * PARAMs have identical names and shapes (the runtime shares variables by
 * name); every node carries the span of the declaration that caused it (a
 * feature's term its feature, the head the estimator, the label input the
 * label); graph inputs are named after es_spec.used features plus "label".
 */
#include "lower.h"

#include <stdlib.h>
#include <string.h>

typedef struct lower {
    fe_checked *c;
    gr_graph *g;
    es_arena *a;
    es_diags *d;
    int K;
} lower;

/* A broken invariant between sema and lowering: reported, never fatal. */
static int internal(lower *l, es_span sp, const char *what)
{
    es_diag(l->d, ES_DIAG_ERROR, sp, "internal error: %s", what);
    l->g->nerrors++;
    return GR_NONE;
}

static const char *weights_name(lower *l, const es_feature *f)
{
    return es_sprintf(l->a, "linear/%s/weights", f->name);
}

/* The graph input of a used feature, made once per program. */
static int input_of(lower *l, const es_feature *f)
{
    int id = gr_find_named(l->g, GR_INPUT, f->name);
    if (id != GR_NONE) return id;
    if (f->categorical) return gr_input(l->g, f->name, GR_I32, gr_shape1(GR_BATCH), f->span);
    return gr_input(l->g, f->name, GR_F32, gr_shape2(GR_BATCH, f->width), f->span);
}

/* A normalize expression over x (sema checked its shape: numbers, x, + - * /,
 * a few functions). */
static int lower_norm_expr(lower *l, const fe_expr *e, int x, es_span sp)
{
    switch (e->kind) {
    case FE_E_NUMBER: return gr_scalar(l->g, e->num, sp);
    case FE_E_IDENT: return x;
    case FE_E_NEG: return gr_unary(l->g, GR_NEG, lower_norm_expr(l, e->lhs, x, sp), sp);
    case FE_E_BINARY: {
        int a = lower_norm_expr(l, e->lhs, x, sp);
        int b = lower_norm_expr(l, e->rhs, x, sp);
        gr_op op = e->op == '+' ? GR_ADD : e->op == '-' ? GR_SUB : e->op == '*' ? GR_MUL : GR_DIV;
        return gr_binary(l->g, op, a, b, sp);
    }
    case FE_E_CALL: {
        static const struct { const char *name; gr_op op; } fns[] = {
            { "log", GR_LOG }, { "exp", GR_EXP }, { "sqrt", GR_SQRT }, { "abs", GR_ABS },
            { "square", GR_SQUARE }, { "sigmoid", GR_SIGMOID }, { "tanh", GR_TANH },
            { "relu", GR_RELU }, { "softplus", GR_SOFTPLUS }, { "min", GR_MINIMUM },
            { "max", GR_MAXIMUM },
        };
        for (size_t i = 0; i < ES_ARRAY_LEN(fns); i++) {
            if (strcmp(fns[i].name, e->str) != 0) continue;
            int a = lower_norm_expr(l, e->args[0].value, x, sp);
            if (e->nargs == 1) return gr_unary(l->g, fns[i].op, a, sp);
            return gr_binary(l->g, fns[i].op, a, lower_norm_expr(l, e->args[1].value, x, sp), sp);
        }
        break;
    }
    case FE_E_STRING: case FE_E_BOOL: case FE_E_LIST: case FE_E_MAP: case FE_E_ERROR:
        break;
    }
    return internal(l, e->span, "a normalize expression sema should have refused");
}

static int normalize(lower *l, const es_feature *f, int x)
{
    gr_shape w = gr_shape1(f->width);
    es_span sp = f->span;
    switch (f->norm) {
    case ES_NORM_NONE:
        return x;
    case ES_NORM_ZSCORE: {
        /* statistics filled by the runtime's pre-pass; until then the identity */
        int mean = gr_param(l->g, es_sprintf(l->a, "%s/mean", f->name), w, GR_INIT_ZEROS, 0, 0, 0, sp);
        int std = gr_param(l->g, es_sprintf(l->a, "%s/std", f->name), w, GR_INIT_CONST, 1, 0, 0, sp);
        return gr_binary(l->g, GR_DIV, gr_binary(l->g, GR_SUB, x, mean, sp), std, sp);
    }
    case ES_NORM_MINMAX: {
        int lo = gr_param(l->g, es_sprintf(l->a, "%s/min", f->name), w, GR_INIT_ZEROS, 0, 0, 0, sp);
        int hi = gr_param(l->g, es_sprintf(l->a, "%s/max", f->name), w, GR_INIT_CONST, 1, 0, 0, sp);
        return gr_binary(l->g, GR_DIV, gr_binary(l->g, GR_SUB, x, lo, sp),
                         gr_binary(l->g, GR_SUB, hi, lo, sp), sp);
    }
    case ES_NORM_EXPR: {
        int idx = -1;
        for (int i = 0; i < l->c->spec.nfeatures; i++)
            if (l->c->spec.features[i] == f) idx = i;
        if (idx < 0 || !l->c->norm_expr[idx]) return internal(l, sp, "a feature lost its normalize expression");
        return lower_norm_expr(l, l->c->norm_expr[idx], x, sp);
    }
    }
    return GR_NONE;
}

/* One feature's contribution to the logits, [B, K]. */
static int linear_term(lower *l, const es_feature *f)
{
    es_span sp = f->span;
    switch (f->kind) {
    case ES_FEAT_BUCKETIZED: case ES_FEAT_VOCAB: case ES_FEAT_IDENTITY: case ES_FEAT_HASHED:
    case ES_FEAT_CROSSED: {
        int w = gr_param(l->g, weights_name(l, f), gr_shape2(f->num_buckets, l->K), GR_INIT_ZEROS, 0, 0, 1, sp);
        int in[2] = { w, input_of(l, f) };
        return gr_op_node(l->g, GR_GATHER_SUM, 2, in, NULL, NULL, sp);
    }
    case ES_FEAT_INDICATOR: {
        const es_feature *of = f->of;
        int64_t a[4] = { of->num_buckets, 0, 0, 0 };
        int ids = input_of(l, of);
        int oh = gr_op_node(l->g, GR_ONE_HOT, 1, &ids, a, NULL, sp);
        int w = gr_param(l->g, weights_name(l, f), gr_shape2(of->num_buckets, l->K), GR_INIT_ZEROS, 0, 0, 1, sp);
        return gr_matmul(l->g, oh, w, 0, 0, sp);
    }
    case ES_FEAT_NUMERIC: {
        int x = normalize(l, f, input_of(l, f));
        int w = gr_param(l->g, weights_name(l, f), gr_shape2(f->width, l->K), GR_INIT_ZEROS, 0, 0, 1, sp);
        return gr_matmul(l->g, x, w, 0, 0, sp);
    }
    }
    return GR_NONE;
}

static int logits(lower *l)
{
    es_span sp = l->c->est_span;
    int sum = GR_NONE;
    for (int i = 0; i < l->c->nest_features; i++) {
        const es_feature *f = l->c->est_features[i];
        int t = linear_term(l, f);
        sum = i == 0 ? t : gr_binary(l->g, GR_ADD, sum, t, f->span);
    }
    int bias = gr_param(l->g, "linear/bias", gr_shape1(l->K), GR_INIT_ZEROS, 0, 0, 1, sp);
    return gr_binary(l->g, GR_ADD, sum, bias, sp);
}

/* Per-example loss [B,1] of the head. */
static int example_loss(lower *l, int z)
{
    const es_spec *spec = &l->c->spec;
    es_span lsp = spec->label.span, sp = l->c->est_span;
    gr_shape b1 = gr_shape2(GR_BATCH, 1);
    switch (spec->head) {
    case ES_HEAD_BINARY: {
        int y = gr_input(l->g, "label", GR_I32, gr_shape1(GR_BATCH), lsp);
        int yf = gr_reshape(l->g, gr_unary(l->g, GR_CAST_F32, y, sp), b1, sp);
        return gr_binary(l->g, GR_SIGMOID_XENT, z, yf, sp);
    }
    case ES_HEAD_MULTICLASS: {
        int y = gr_input(l->g, "label", GR_I32, gr_shape1(GR_BATCH), lsp);
        return gr_binary(l->g, GR_SOFTMAX_XENT, z, y, sp);
    }
    case ES_HEAD_REGRESSION: {
        int y = gr_input(l->g, "label", GR_F32, gr_shape1(GR_BATCH), lsp);
        int yr = gr_reshape(l->g, y, b1, sp);
        return gr_unary(l->g, GR_SQUARE, gr_binary(l->g, GR_SUB, z, yr, sp), sp);
    }
    }
    return GR_NONE;
}

/* The predict outputs of the head (frontend.h lists them). */
static void predictions(lower *l, int z)
{
    es_span sp = l->c->est_span;
    gr_graph *g = l->g;
    switch (l->c->spec.head) {
    case ES_HEAD_BINARY: {
        /* [1-p, p] as softmax([0, z]): z [B,1] times [[0, 1]] gives [0, z] */
        static const float zero_one[2] = { 0, 1 };
        int two = gr_matmul(g, z, gr_const(g, gr_shape2(1, 2), zero_one, sp), 0, 0, sp);
        gr_add_output(g, "logits", z);
        gr_add_output(g, "logistic", gr_unary(g, GR_SIGMOID, z, sp));
        gr_add_output(g, "probabilities", gr_unary(g, GR_SOFTMAX, two, sp));
        gr_add_output(g, "class_ids", gr_unary(g, GR_ARGMAX, two, sp));
        return;
    }
    case ES_HEAD_MULTICLASS:
        gr_add_output(g, "logits", z);
        gr_add_output(g, "probabilities", gr_unary(g, GR_SOFTMAX, z, sp));
        gr_add_output(g, "class_ids", gr_unary(g, GR_ARGMAX, z, sp));
        return;
    case ES_HEAD_REGRESSION:
        gr_add_output(g, "predictions", z);
        return;
    }
}

static gr_graph *build(lower *l, es_diags *d, gr_prog_kind kind)
{
    l->g = gr_new(l->a, d);
    l->g->kind = kind;
    int z = logits(l);
    switch (kind) {
    case GR_PROG_TRAIN: {
        int loss = gr_unary(l->g, GR_MEAN, example_loss(l, z), l->c->est_span);
        gr_add_output(l->g, "loss", loss);
        if (loss == GR_NONE) break;
        gr_grad *grads = NULL;
        int ngrads = 0;
        if (gr_autodiff(l->g, loss, &grads, &ngrads) == 0)
            gr_apply_optimizer(l->g, grads, ngrads, &l->c->opt, l->c->opt_span);
        break;
    }
    case GR_PROG_EVAL:
        predictions(l, z);
        gr_add_output(l->g, "example_loss", example_loss(l, z));
        break;
    case GR_PROG_PREDICT:
        predictions(l, z);
        break;
    }
    return l->g;
}

/* spec.used: the features the graph reads, in estimator order, an indicator
 * replaced by the feature it wraps, each once. */
static void fill_used(fe_checked *c, es_arena *a)
{
    es_spec *s = &c->spec;
    s->used = es_alloc(a, sizeof(es_feature *) * (size_t)(c->nest_features + 1));
    s->nused = 0;
    for (int i = 0; i < c->nest_features; i++) {
        es_feature *f = c->est_features[i];
        if (f->kind == ES_FEAT_INDICATOR) f = f->of;
        int seen = 0;
        for (int j = 0; j < s->nused; j++) if (s->used[j] == f) seen = 1;
        if (!seen) s->used[s->nused++] = f;
    }
}

typedef struct named_shape { const char *name; gr_shape shape; } named_shape;

static int by_name(const void *x, const void *y)
{
    return strcmp(((const named_shape *)x)->name, ((const named_shape *)y)->name);
}

/* es_hash64 (seed 0) over the train program's PARAMs sorted by name, each
 * written as its name, a NUL byte, then rank and dimensions as int64 in
 * host byte order. Two model files that share it can share a model_dir. */
static uint64_t fingerprint(const gr_graph *g)
{
    int n = 0;
    for (int i = 0; i < g->n; i++) if (g->nodes[i].op == GR_PARAM) n++;
    named_shape *v = es_xcalloc((size_t)(n ? n : 1), sizeof *v);
    size_t bytes = 0;
    n = 0;
    for (int i = 0; i < g->n; i++)
        if (g->nodes[i].op == GR_PARAM) {
            v[n].name = g->nodes[i].name;
            v[n].shape = g->nodes[i].shape;
            bytes += strlen(v[n].name) + 1 + sizeof(int64_t) * (size_t)(1 + v[n].shape.rank);
            n++;
        }
    qsort(v, (size_t)n, sizeof *v, by_name);
    unsigned char *buf = es_xmalloc(bytes ? bytes : 1), *p = buf;
    for (int i = 0; i < n; i++) {
        size_t k = strlen(v[i].name) + 1;
        memcpy(p, v[i].name, k);
        p += k;
        int64_t r = v[i].shape.rank;
        memcpy(p, &r, sizeof r);
        p += sizeof r;
        for (int j = 0; j < v[i].shape.rank; j++) {
            memcpy(p, &v[i].shape.d[j], sizeof(int64_t));
            p += sizeof(int64_t);
        }
    }
    uint64_t h = es_hash64(buf, bytes, 0);
    free(buf);
    free(v);
    return h;
}

int fe_lower(fe_checked *c, fe_model *m, es_diags *d)
{
    lower l = { c, NULL, m->arena, d, 1 };
    l.K = c->spec.head == ES_HEAD_MULTICLASS ? c->n_classes : 1;
    fill_used(c, m->arena);
    m->spec = c->spec;
    m->estimator = c->est_class;
    int errors = 0;
    static const gr_prog_kind kinds[3] = { GR_PROG_TRAIN, GR_PROG_EVAL, GR_PROG_PREDICT };
    for (int i = 0; i < 3; i++) {
        m->prog[kinds[i]] = build(&l, d, kinds[i]);
        errors += m->prog[kinds[i]]->nerrors;
    }
    if (errors) return -1;
    for (int i = 0; i < 3; i++) {
        es_status st;
        es_status_clear(&st);
        if (gr_verify(m->prog[i], &st) != 0) {
            es_diag(d, ES_DIAG_ERROR, c->est_span, "internal error: the %s program does not verify: %s",
                    i == GR_PROG_TRAIN ? "train" : i == GR_PROG_EVAL ? "eval" : "predict", st.msg);
            return -1;
        }
    }
    m->fingerprint = fingerprint(m->prog[GR_PROG_TRAIN]);
    return 0;
}

/*
 * model.c — runs model functions at compile time to build the graphs
 * (see model.h for what a model can see and the reporting rules).
 *
 * The evaluator is a small tree-walking interpreter over the AST. Values are
 * immutable and live in the compilation's arena: numbers, booleans, strings,
 * none, lists, maps, tensors (a graph node), feature columns, functions
 * (built-in or a `def`), optimizers and initialisers. Statements bind names
 * in the running function's frame (blocks open no scope, as in Python);
 * `for` unrolls, `if` decides at compile time, `scope` prefixes the names of
 * the variables made inside it (TensorFlow's variable scopes).
 *
 * Tensor operations call the graph builders, which check shapes and report
 * at the span given. The graph's messages are captured (the graph writes to
 * a memory stream) and passed on through `report`, so that they take part
 * in the frontend's ordering and de-duplication like every other message.
 *
 * Termination: loops run over finite lists (at most MAX_ITER items), a helper
 * that calls itself (directly or not) is an error, calls nest at most
 * MAX_CALLS deep, and a program's elaboration stops with a message after
 * MAX_STEPS statements or MAX_NODES graph nodes (nested loops could
 * otherwise multiply), so elaboration always ends, in bounded memory.
 */
#define _GNU_SOURCE
#include "model.h"

#include <ctype.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_ITER 100000        /* items of a list (range, concatenation) */
#define MAX_STEPS 1000000      /* statements run for one program */
#define MAX_NODES 2000000      /* graph nodes of one program */
#define MAX_STRING (1 << 20)   /* bytes of a string */
#define MAX_CALLS 32
#define MAX_ARGS 24

/* ---- values --------------------------------------------------------------------- */

typedef enum { V_POISON, V_NONE, V_NUM, V_BOOL, V_STR, V_LIST, V_MAP, V_TENSOR, V_COLUMN, V_FUNC,
               V_OPT, V_INIT } vkind;

typedef enum { COL_FEATURE, COL_INDICATOR, COL_EMBEDDING } colkind;

/* A feature column as a model sees it: a declared feature, or a dense form
 * made in the model (indicator(...), embedding(...), shared_embeddings). */
typedef struct column {
    colkind kind;
    const es_feature *f;      /* the feature, or the categorical feature wrapped */
    const char *name;         /* "age", "occ_indicator", "occ_embedding" (variable names) */
    int dim;                  /* embedding */
    const char *combiner;     /* "sum", "mean", "sqrtn" */
    gr_init init;
    double f0, f1;
    int trainable;
    const char *table;        /* embedding table name inside the scope ("occ_embedding") */
    int64_t buckets;          /* shared tables: the largest bucket count */
} column;

typedef struct elab elab;
typedef struct value value;
typedef value *(*builtin_fn)(elab *E, const fe_expr *call, value **a);

/* An evaluated argument of a call. */
typedef struct argval {
    const char *name;         /* NULL: positional */
    es_span name_span, span;
    value *v;
} argval;

enum { B_PLAIN, B_OPTIMIZER, B_INIT, B_ACTIVATION };

typedef struct builtin {
    const char *name;
    const char *params;       /* "x axis? keepdims?": '?' optional */
    builtin_fn fn;
    int kind;                 /* B_OPTIMIZER and B_INIT are called with no arguments when
                                 passed as a bare name where one is expected */
} builtin;

typedef struct func {
    const char *name;
    const builtin *b;         /* or */
    const fe_decl *decl;      /* a def */
    int module;               /* 0 the user's file, 1 the stdlib */
} func;

struct value {
    vkind k;
    es_span sp;               /* where it was written: messages about it point here */
    double num;
    int is_int;
    int b;
    const char *s;
    int n;                    /* LIST, MAP */
    value **items;
    const char **keys;        /* MAP */
    int node;                 /* TENSOR */
    int absent;               /* TENSOR: needs the label, which predict has not */
    const column *col;
    const func *fn;
    gr_optimizer opt;         /* OPT */
    int lr_set;
    gr_init init;             /* INIT */
    double f0, f1;
};

/* ---- the elaborator's state ------------------------------------------------------ */

typedef struct binding { const char *name; value *v; } binding;

typedef struct frame {
    struct frame *up;
    int module;
    const fe_decl *fn;        /* the def or model running (NULL: the estimator's arguments) */
    ES_VEC(binding) vars;
    es_span user_span;        /* where the user's file led here */
    value *ret;
} frame;

typedef struct scope_use { const char *path; int count; } scope_use;
typedef struct reported { const es_source *src; int off; const char *msg; } reported;

struct elab {
    const fe_elab_in *in;
    es_arena *a;
    gr_graph *g;
    gr_prog_kind mode;
    frame *fr;
    frame top;                /* the user's file: the estimator's arguments */
    int depth;
    const fe_decl *stack[MAX_CALLS + 1];
    const char *scope;        /* "dnn/hiddenlayer_0", "" at the top */
    ES_VEC(scope_use) scopes;
    int ndropout;
    /* graph messages, captured */
    es_diags gd;
    FILE *gf;
    char *gbuf;
    size_t glen, gread;
    int gseen;
    ES_VEC(reported) done;
    int nerrors;              /* distinct errors reported */
    int mode_errors;          /* errors met in the current mode, repeats included */
    int last_dup;             /* the last error repeated an earlier one (its notes are skipped) */
    int64_t steps;            /* statements run for this program */
    int too_long;             /* the step or node budget was exceeded (said once) */
    /* the estimator's values for the model's `param` statements */
    const char *override_names[MAX_ARGS * 2];
    value *override_vals[MAX_ARGS * 2];
    int noverrides;
    const fe_expr *model_call;
    const char *pending_target;   /* `name = call(...)`: the name, until the call starts */
    const char *call_target;      /* ... and while that call's built-in runs */
};

/* ---- messages ------------------------------------------------------------------- */

static int is_user(const elab *E, es_span sp) { return sp.src && sp.src == E->in->src; }

/* Where a graph node or a message about expression e belongs: e itself in
 * the user's file, else the user's call site that led into the stdlib. */
static es_span at(const elab *E, const fe_expr *e)
{
    if (e && is_user(E, e->span)) return e->span;
    return E->fr->user_span;
}

/* A value's own span if the user wrote it, else at(e). */
static es_span at_value(const elab *E, const value *v, const fe_expr *e)
{
    if (v && is_user(E, v->sp)) return v->sp;
    return at(E, e);
}

static void emit(elab *E, es_diag_kind k, es_span sp, const char *msg)
{
    if (k == ES_DIAG_ERROR) E->mode_errors++;
    E->last_dup = 0;
    for (int i = 0; i < E->done.n; i++)
        if (E->done.v[i].src == sp.src && E->done.v[i].off == sp.off && strcmp(E->done.v[i].msg, msg) == 0) {
            E->last_dup = 1;   /* said in an earlier mode: so were its notes */
            return;
        }
    reported r = { sp.src, sp.off, msg };
    es_vec_push(E->a, E->done, r);
    if (k == ES_DIAG_ERROR) E->nerrors++;
    E->in->report(E->in->ctx, k, sp, msg);
}

static void __attribute__((format(printf, 3, 4))) err(elab *E, es_span sp, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *m = NULL;
    if (vasprintf(&m, fmt, ap) < 0) m = NULL;
    va_end(ap);
    emit(E, ES_DIAG_ERROR, sp, m ? es_strdup(E->a, m) : "out of memory");
    free(m);
}

static void __attribute__((format(printf, 3, 4))) note(elab *E, es_span sp, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *m = NULL;
    if (vasprintf(&m, fmt, ap) < 0) m = NULL;
    va_end(ap);
    if (m && !E->last_dup) E->in->report(E->in->ctx, ES_DIAG_NOTE, sp, es_strdup(E->a, m));
    free(m);
}

/* After a graph builder: passes on the message of a failed build. */
static int G(elab *E, int id, es_span sp)
{
    if (E->g->nerrors == E->gseen) return id;
    E->gseen = E->g->nerrors;
    fflush(E->gf);
    const char *t = E->gbuf ? E->gbuf + E->gread : "";
    const char *m = strstr(t, ": error: ");
    const char *msg = "the graph could not be built here";
    if (m) {
        m += 9;
        const char *e = strchr(m, '\n');
        msg = es_strndup(E->a, m, e ? (size_t)(e - m) : strlen(m));
    }
    E->gread = E->glen;
    emit(E, ES_DIAG_ERROR, sp, msg);
    return GR_NONE;
}


typedef struct hint { const char *best; int dist; } hint;

static void hint_try(hint *h, const char *name, const char *cand)
{
    int d = es_edit_distance(name, cand);
    int limit = (int)strlen(name) / 3;
    if (limit < 1) limit = 1;
    if (limit > 3) limit = 3;
    /* dense_layer for dense: one is the other with a part added */
    size_t ln = strlen(name), lc = strlen(cand), k = ln < lc ? ln : lc;
    if (k >= 4 && strncmp(name, cand, k) == 0 && d > limit) d = limit;
    if (d <= limit && (!h->best || d < h->dist)) { h->best = cand; h->dist = d; }
}

static const char *hint_text(elab *E, const hint *h)
{
    return h->best ? es_sprintf(E->a, " (did you mean '%s'?)", h->best) : "";
}

static const char *join_names(elab *E, const char *const *names, int n)
{
    char *r = "";
    for (int i = 0; i < n; i++)
        r = es_sprintf(E->a, "%s%s%s", r, i == 0 ? "" : i == n - 1 ? " or " : ", ", names[i]);
    return r;
}

/* ---- value constructors ---------------------------------------------------------- */

static value *mk(elab *E, vkind k, es_span sp)
{
    value *v = es_alloc(E->a, sizeof *v);
    v->k = k;
    v->sp = sp;
    v->node = GR_NONE;
    return v;
}

static value *poison(elab *E) { return mk(E, V_POISON, (es_span){ 0 }); }
static value *none_v(elab *E, es_span sp) { return mk(E, V_NONE, sp); }

static value *num_v(elab *E, double x, int is_int, es_span sp)
{
    value *v = mk(E, V_NUM, sp);
    v->num = x;
    v->is_int = is_int;
    return v;
}

static value *bool_v(elab *E, int b, es_span sp)
{
    value *v = mk(E, V_BOOL, sp);
    v->b = b != 0;
    return v;
}

static value *str_v(elab *E, const char *s, es_span sp)
{
    value *v = mk(E, V_STR, sp);
    v->s = s;
    return v;
}

static value *list_v(elab *E, int n, value **items, es_span sp)
{
    value *v = mk(E, V_LIST, sp);
    v->n = n;
    v->items = items;
    return v;
}

/* A tensor from a builder's result: GR_NONE (already reported) is poison. */
static value *tensor_v(elab *E, int node, es_span sp)
{
    if (node == GR_NONE) return poison(E);
    value *v = mk(E, V_TENSOR, sp);
    v->node = node;
    return v;
}

static value *absent_v(elab *E, es_span sp)
{
    value *v = mk(E, V_TENSOR, sp);
    v->absent = 1;
    return v;
}

static value *func_v(elab *E, const func *f, es_span sp)
{
    value *v = mk(E, V_FUNC, sp);
    v->fn = f;
    return v;
}

static const gr_node *node_of(const elab *E, const value *v) { return &E->g->nodes[v->node]; }

static const char *shape_text(elab *E, gr_shape s)
{
    char b[96];
    return es_strdup(E->a, gr_shape_str(s, b, sizeof b));
}

/* "a number (3)", "a tensor f32[B,4]", ... for messages */
static const char *describe(elab *E, const value *v)
{
    switch (v->k) {
    case V_POISON: return "an invalid value";
    case V_NONE: return "none";
    case V_NUM: return es_sprintf(E->a, "the number %g", v->num);
    case V_BOOL: return v->b ? "true" : "false";
    case V_STR: return es_sprintf(E->a, "the string \"%s\"", v->s);
    case V_LIST: return es_sprintf(E->a, "a list of %d", v->n);
    case V_MAP: return "a map";
    case V_TENSOR:
        if (v->absent) return "a tensor computed from the label";
        return es_sprintf(E->a, "a tensor %s%s", gr_dtype_name(node_of(E, v)->dtype),
                          shape_text(E, node_of(E, v)->shape));
    case V_COLUMN: return es_sprintf(E->a, "the feature column '%s'", v->col->name);
    case V_FUNC: return es_sprintf(E->a, "the function %s", v->fn->name);
    case V_OPT: return "an optimizer";
    case V_INIT: return "an initializer";
    }
    return "a value";
}

/* ---- frames and names ------------------------------------------------------------ */

static value *local(const frame *f, const char *name)
{
    for (int i = f->vars.n - 1; i >= 0; i--)
        if (strcmp(f->vars.v[i].name, name) == 0) return f->vars.v[i].v;
    return NULL;
}

static void bind(elab *E, frame *f, const char *name, value *v)
{
    for (int i = f->vars.n - 1; i >= 0; i--)
        if (strcmp(f->vars.v[i].name, name) == 0) { f->vars.v[i].v = v; return; }
    binding b = { name, v };
    es_vec_push(E->a, f->vars, b);
}

static const fe_global *global(const elab *E, const char *name)
{
    for (int i = 0; i < E->in->nglobals; i++)
        if (strcmp(E->in->globals[i].name, name) == 0) return &E->in->globals[i];
    return NULL;
}

/* A def or model of the stdlib. */
static const fe_decl *stdlib_decl(const elab *E, const char *name, fe_decl_kind k)
{
    for (int i = 0; i < E->in->nstdlib; i++) {
        const fe_file *f = E->in->stdlib[i];
        for (int j = 0; j < f->decls.n; j++)
            if (f->decls.v[j]->kind == k && strcmp(f->decls.v[j]->name, name) == 0) return f->decls.v[j];
    }
    return NULL;
}

int fe_stdlib_models(const fe_file *const *stdlib, int nstdlib, const char **names, int max)
{
    int n = 0;
    for (int i = 0; i < nstdlib; i++)
        for (int j = 0; j < stdlib[i]->decls.n; j++)
            if (stdlib[i]->decls.v[j]->kind == FE_D_MODEL && n < max) names[n++] = stdlib[i]->decls.v[j]->name;
    return n;
}

/* ---- graph building ---------------------------------------------------------------- */

static int un(elab *E, gr_op op, int x, es_span sp) { return G(E, gr_unary(E->g, op, x, sp), sp); }
static int bin(elab *E, gr_op op, int x, int y, es_span sp) { return G(E, gr_binary(E->g, op, x, y, sp), sp); }
static int opn(elab *E, gr_op op, int nin, const int *in, const int64_t *a, const double *f, es_span sp)
{
    return G(E, gr_op_node(E->g, op, nin, in, a, f, sp), sp);
}
static int scalar(elab *E, double x, es_span sp) { return G(E, gr_scalar(E->g, x, sp), sp); }
static int reshape(elab *E, int x, gr_shape s, es_span sp) { return G(E, gr_reshape(E->g, x, s, sp), sp); }
static int matmul(elab *E, int x, int y, int ta, int tb, es_span sp)
{
    return G(E, gr_matmul(E->g, x, y, ta, tb, sp), sp);
}

static gr_shape shape_of(const elab *E, int node) { return E->g->nodes[node].shape; }
static gr_dtype dtype_of(const elab *E, int node) { return E->g->nodes[node].dtype; }

/* The full name of a variable made in the current scope. */
static const char *scoped(elab *E, const char *name)
{
    return *E->scope ? es_sprintf(E->a, "%s/%s", E->scope, name) : name;
}

/* ---- inputs: features and the label ----------------------------------------------- */

/* The graph input of a feature, made once per program. */
static int feat_input(elab *E, const es_feature *f)
{
    int id = gr_find_named(E->g, GR_INPUT, f->name);
    if (id != GR_NONE) return id;
    if (f->kind == ES_FEAT_WEIGHTED) {
        /* the weights, f32 [B, M] like the ids of f->of (spec.h) */
        int64_t m = f->of && f->of->max_values > 1 ? f->of->max_values : 1;
        return G(E, gr_input(E->g, f->name, GR_F32, gr_shape2(GR_BATCH, m), f->span), f->span);
    }
    if (f->categorical && f->value_separator) {
        /* multivalent: ids i32 [B, M] padded with -1 */
        int64_t m = f->max_values > 1 ? f->max_values : 1;
        return G(E, gr_input(E->g, f->name, GR_I32, gr_shape2(GR_BATCH, m), f->span), f->span);
    }
    if (f->categorical) return G(E, gr_input(E->g, f->name, GR_I32, gr_shape1(GR_BATCH), f->span), f->span);
    return G(E, gr_input(E->g, f->name, GR_F32, gr_shape2(GR_BATCH, f->width), f->span), f->span);
}

static int stat_param(elab *E, const es_feature *f, const char *what, gr_init init, double v, es_span sp)
{
    const char *name = es_sprintf(E->a, "%s/%s", f->name, what);
    int id = gr_find_named(E->g, GR_PARAM, name);
    if (id != GR_NONE) return id;
    return G(E, gr_param(E->g, name, gr_shape1(f->width), init, v, 0, 0, sp), sp);
}

static int norm_expr(elab *E, const fe_expr *e, int x, es_span sp)
{
    switch (e->kind) {
    case FE_E_NUMBER: return scalar(E, e->num, sp);
    case FE_E_IDENT: return x;
    case FE_E_NEG: return un(E, GR_NEG, norm_expr(E, e->lhs, x, sp), sp);
    case FE_E_BINARY: {
        int l = norm_expr(E, e->lhs, x, sp);
        int r = norm_expr(E, e->rhs, x, sp);
        gr_op op = e->op == '+' ? GR_ADD : e->op == '-' ? GR_SUB : e->op == '*' ? GR_MUL : GR_DIV;
        return bin(E, op, l, r, sp);
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
            int a = norm_expr(E, e->args[0].value, x, sp);
            if (e->nargs == 1) return un(E, fns[i].op, a, sp);
            return bin(E, fns[i].op, a, norm_expr(E, e->args[1].value, x, sp), sp);
        }
        break;
    }
    case FE_E_STRING: case FE_E_BOOL: case FE_E_LIST: case FE_E_MAP: case FE_E_ERROR: case FE_E_NOT:
    case FE_E_INDEX: case FE_E_SLICE: case FE_E_ATTR:
        break;
    }
    err(E, sp, "internal error: a normalize expression sema should have refused");
    return GR_NONE;
}

/* A numeric feature's value as the model reads it: normalised in the graph. */
static int numeric_input(elab *E, const es_feature *f)
{
    es_span sp = f->span;
    int x = feat_input(E, f);
    if (x == GR_NONE) return GR_NONE;
    switch (f->norm) {
    case ES_NORM_NONE:
        return x;
    case ES_NORM_ZSCORE: {
        /* statistics filled by the runtime's pre-pass (spec.h) */
        int mean = stat_param(E, f, "mean", GR_INIT_ZEROS, 0, sp);
        int std = stat_param(E, f, "std", GR_INIT_CONST, 1, sp);
        return bin(E, GR_DIV, bin(E, GR_SUB, x, mean, sp), std, sp);
    }
    case ES_NORM_MINMAX: {
        int lo = stat_param(E, f, "min", GR_INIT_ZEROS, 0, sp);
        int hi = stat_param(E, f, "max", GR_INIT_CONST, 1, sp);
        return bin(E, GR_DIV, bin(E, GR_SUB, x, lo, sp), bin(E, GR_SUB, hi, lo, sp), sp);
    }
    case ES_NORM_EXPR:
        for (int i = 0; i < E->in->spec->nfeatures; i++)
            if (E->in->spec->features[i] == f && E->in->norm_expr[i])
                return norm_expr(E, E->in->norm_expr[i], x, sp);
        err(E, sp, "internal error: feature '%s' lost its normalize expression", f->name);
        return GR_NONE;
    }
    return GR_NONE;
}

/* The label as a tensor: class ids i32 [B], or a regression target f32 [B,1].
 * Predict has no label: its uses are absent, and so is what is computed from it. */
static value *label_value(elab *E, es_span sp)
{
    const es_label_spec *l = &E->in->spec->label;
    if (!E->in->label_ok) return poison(E);
    if (E->mode == GR_PROG_PREDICT) return absent_v(E, sp);
    int y = gr_find_named(E->g, GR_INPUT, "label");
    int numeric = l->kind == ES_LABEL_NUMERIC;
    if (y == GR_NONE)
        y = G(E, gr_input(E->g, "label", numeric ? GR_F32 : GR_I32, gr_shape1(GR_BATCH), l->span), l->span);
    if (numeric && y != GR_NONE) y = reshape(E, y, gr_shape2(GR_BATCH, 1), l->span);
    return tensor_v(E, y, sp);
}

/* ---- feature columns ------------------------------------------------------------- */

static value *column_v(elab *E, const column *c, es_span sp)
{
    value *v = mk(E, V_COLUMN, sp);
    v->col = c;
    return v;
}

static int col_categorical(const column *c)
{
    return c->kind == COL_FEATURE && c->f->categorical;
}

static int64_t col_buckets(const column *c) { return c->f->num_buckets; }

/* sum, mean or sqrtn of the rows of table [V,K] at ids [B] or [B,M] -> [B,K]. With one id per
 * example the three agree (a missing id gives zeros in each), so only multivalent ids divide. */
static int gather(elab *E, int table, int ids, const char *combiner, es_span sp)
{
    int in[2] = { table, ids };
    int s = opn(E, GR_GATHER_SUM, 2, in, NULL, NULL, sp);
    if (s == GR_NONE || shape_of(E, ids).rank == 1 || strcmp(combiner, "sum") == 0) return s;
    int64_t rows[4] = { shape_of(E, table).d[0], 0, 0, 0 };
    int cnt = opn(E, GR_COUNT_IDS, 1, &ids, rows, NULL, sp);
    cnt = bin(E, GR_MAXIMUM, cnt, scalar(E, 1, sp), sp);
    if (strcmp(combiner, "sqrtn") == 0) cnt = un(E, GR_SQRT, cnt, sp);
    return bin(E, GR_DIV, s, cnt, sp);
}

/* The ids of a categorical feature: a weighted one stands for the ids of its `of`. */
static int ids_input(elab *E, const es_feature *f)
{
    return feat_input(E, f->kind == ES_FEAT_WEIGHTED ? f->of : f);
}

/* Rows of table [V,K] at a categorical feature's ids, combined -> [B,K]. A weighted
 * feature (TensorFlow's weighted_categorical_column) scales each row by its weight:
 * "sum" = the weighted sum, "mean" = that divided by the sum of the weights,
 * "sqrtn" = divided by the square root of the sum of squared weights (a zero
 * divisor counts as 1: an example without weights gives zeros). */
static int lookup_rows(elab *E, int table, const es_feature *f, const char *combiner, es_span sp)
{
    if (f->kind != ES_FEAT_WEIGHTED) return gather(E, table, feat_input(E, f), combiner, sp);
    int in[3] = { table, feat_input(E, f->of), feat_input(E, f) };
    if (in[1] == GR_NONE || in[2] == GR_NONE) return GR_NONE;
    int s = opn(E, GR_GATHER_WSUM, 3, in, NULL, NULL, sp);
    if (s == GR_NONE || strcmp(combiner, "sum") == 0) return s;
    int w = in[2];
    if (strcmp(combiner, "sqrtn") == 0) w = un(E, GR_SQUARE, w, sp);
    int64_t ax[4] = { 1, 0, 0, 0 };
    int den = reshape(E, opn(E, GR_SUM_AXIS, 1, &w, ax, NULL, sp), gr_shape2(GR_BATCH, 1), sp);
    den = bin(E, GR_ADD, den, bin(E, GR_EQUAL, den, scalar(E, 0, sp), sp), sp);
    if (strcmp(combiner, "sqrtn") == 0) den = un(E, GR_SQRT, den, sp);
    return bin(E, GR_DIV, s, den, sp);
}

/* The dense form of a column, f32 [B, width]. */
static int dense_of(elab *E, const column *c, es_span sp)
{
    const es_feature *f = c->f;
    switch (c->kind) {
    case COL_FEATURE:
        if (f->kind == ES_FEAT_INDICATOR) {
            int64_t a[4] = { f->of->num_buckets, 0, 0, 0 };
            int ids = feat_input(E, f->of);
            return opn(E, GR_ONE_HOT, 1, &ids, a, NULL, sp);
        }
        if (f->categorical) {
            err(E, sp, "feature '%s' is categorical (it gives ids): use indicator(%s) or embedding(%s, DIMENSION) "
                "for a dense input", f->name, f->name, f->name);
            return GR_NONE;
        }
        return numeric_input(E, f);
    case COL_INDICATOR: {
        int64_t a[4] = { f->num_buckets, 0, 0, 0 };
        int ids = feat_input(E, f);
        return opn(E, GR_ONE_HOT, 1, &ids, a, NULL, sp);
    }
    case COL_EMBEDDING: {
        const char *name = scoped(E, es_sprintf(E->a, "%s/embedding_weights", c->table));
        int64_t rows = c->buckets > 0 ? c->buckets : f->num_buckets;
        gr_shape s = gr_shape2(rows, c->dim);
        int w = gr_find_named(E->g, GR_PARAM, name);
        if (w == GR_NONE) w = G(E, gr_param(E->g, name, s, c->init, c->f0, c->f1, c->trainable, sp), sp);
        if (w == GR_NONE) return GR_NONE;
        return lookup_rows(E, w, f, c->combiner, sp);
    }
    }
    return GR_NONE;
}

/* ---- values as graph nodes --------------------------------------------------------- */

/* v as a node: a tensor, a number (a constant), or a dense column. GR_NONE after
 * a message, or silently for poison. what names the operand in messages. */
static int to_node(elab *E, value *v, const fe_expr *e, const char *fn, const char *what)
{
    switch (v->k) {
    case V_TENSOR: return v->node;
    case V_NUM: return scalar(E, v->num, at(E, e));
    case V_COLUMN: return dense_of(E, v->col, at_value(E, v, e));
    case V_POISON: return GR_NONE;
    case V_NONE: case V_BOOL: case V_STR: case V_LIST: case V_MAP: case V_FUNC: case V_OPT: case V_INIT:
        break;
    }
    err(E, at_value(E, v, e), "%s%s%s must be a tensor, not %s", fn ? fn : "", fn ? "(): " : "", what,
        describe(E, v));
    return GR_NONE;
}

/* ---- argument helpers for built-ins ------------------------------------------------ *
 * Each reports "fn(): what must be ..., not ..." at the value (when the user wrote
 * it) or the call, and returns -1; poison returns -1 silently. */

static const char *fname(const fe_expr *call) { return call->str; }

static int want_num(elab *E, const fe_expr *call, value *v, const char *what, double *out)
{
    if (v->k == V_NUM) { *out = v->num; return 0; }
    if (v->k != V_POISON)
        err(E, at_value(E, v, call), "%s(): %s must be a number, not %s", fname(call), what, describe(E, v));
    return -1;
}

static int want_int(elab *E, const fe_expr *call, value *v, const char *what, int64_t *out)
{
    double d;
    if (want_num(E, call, v, what, &d)) return -1;
    if (d != floor(d) || fabs(d) > 9e15) {
        err(E, at_value(E, v, call), "%s(): %s must be a whole number, not %g", fname(call), what, d);
        return -1;
    }
    *out = (int64_t)d;
    return 0;
}

static int want_bool(elab *E, const fe_expr *call, value *v, const char *what, int *out)
{
    if (v->k == V_BOOL) { *out = v->b; return 0; }
    if (v->k != V_POISON)
        err(E, at_value(E, v, call), "%s(): %s must be true or false, not %s", fname(call), what, describe(E, v));
    return -1;
}

static int want_str(elab *E, const fe_expr *call, value *v, const char *what, const char **out)
{
    if (v->k == V_STR) { *out = v->s; return 0; }
    if (v->k != V_POISON)
        err(E, at_value(E, v, call), "%s(): %s must be a string, not %s", fname(call), what, describe(E, v));
    return -1;
}

static int want_list(elab *E, const fe_expr *call, value *v, const char *what)
{
    if (v->k == V_LIST) return 0;
    if (v->k != V_POISON)
        err(E, at_value(E, v, call), "%s(): %s must be a list [...], not %s", fname(call), what, describe(E, v));
    return -1;
}

static int want_node(elab *E, const fe_expr *call, value *v, const char *what)
{
    return to_node(E, v, call, fname(call), what);
}

/* An f32 tensor (i32 ids are converted); GR_NONE after a message. */
static int want_f32(elab *E, const fe_expr *call, value *v, const char *what)
{
    int x = want_node(E, call, v, what);
    if (x != GR_NONE && dtype_of(E, x) == GR_I32) x = un(E, GR_CAST_F32, x, at(E, call));
    return x;
}

static int want_column(elab *E, const fe_expr *call, value *v, const char *what, const column **out)
{
    if (v->k == V_COLUMN) { *out = v->col; return 0; }
    if (v->k != V_POISON)
        err(E, at_value(E, v, call), "%s(): %s must be a feature column, not %s", fname(call), what,
            describe(E, v));
    return -1;
}

/* An axis of a tensor of rank r, negative counting from the end. */
static int want_axis(elab *E, const fe_expr *call, value *v, int rank, int *out)
{
    int64_t ax;
    if (want_int(E, call, v, "axis", &ax)) return -1;
    if (ax < 0) ax += rank;
    if (ax < 0 || ax >= rank) {
        err(E, at_value(E, v, call), "%s(): axis %g is outside the %d axes of its input", fname(call), v->num, rank);
        return -1;
    }
    *out = (int)ax;
    return 0;
}

/* ---- built-ins: numbers, lists, checks ------------------------------------------------- */

static value *bi_len(elab *E, const fe_expr *call, value **a)
{
    if (a[0]->k == V_LIST || a[0]->k == V_MAP) return num_v(E, a[0]->n, 1, at(E, call));
    if (a[0]->k == V_STR) return num_v(E, (double)strlen(a[0]->s), 1, at(E, call));
    if (a[0]->k != V_POISON)
        err(E, at_value(E, a[0], call), "len() takes a list, a map or a string, not %s", describe(E, a[0]));
    return poison(E);
}

static value *bi_range(elab *E, const fe_expr *call, value **a)
{
    int64_t lo = 0, hi;
    if (a[1]) {
        if (want_int(E, call, a[0], "start", &lo) | want_int(E, call, a[1], "stop", &hi)) return poison(E);
    } else if (want_int(E, call, a[0], "stop", &hi)) return poison(E);
    if (hi - lo > MAX_ITER) {
        err(E, at(E, call), "range(): %lld items is more than %d", (long long)(hi - lo), MAX_ITER);
        return poison(E);
    }
    int n = hi > lo ? (int)(hi - lo) : 0;
    value **items = es_alloc(E->a, sizeof(value *) * (size_t)(n ? n : 1));
    for (int i = 0; i < n; i++) items[i] = num_v(E, (double)(lo + i), 1, at(E, call));
    return list_v(E, n, items, at(E, call));
}

static value *bi_str(elab *E, const fe_expr *call, value **a)
{
    value *v = a[0];
    switch (v->k) {
    case V_STR: return v;
    case V_NUM:
        if (v->is_int) return str_v(E, es_sprintf(E->a, "%lld", (long long)v->num), v->sp);
        return str_v(E, es_sprintf(E->a, "%g", v->num), v->sp);
    case V_BOOL: return str_v(E, v->b ? "true" : "false", v->sp);
    case V_NONE: return str_v(E, "none", v->sp);
    case V_POISON: return v;
    case V_LIST: case V_MAP: case V_TENSOR: case V_COLUMN: case V_FUNC: case V_OPT: case V_INIT:
        break;
    }
    err(E, at_value(E, v, call), "str() takes a number, a string or a boolean, not %s", describe(E, v));
    return poison(E);
}

static value *bi_int(elab *E, const fe_expr *call, value **a)
{
    double d;
    if (want_num(E, call, a[0], "its argument", &d)) return poison(E);
    return num_v(E, d < 0 ? ceil(d) : floor(d), 1, a[0]->sp);
}

static value *bi_float(elab *E, const fe_expr *call, value **a)
{
    double d;
    if (want_num(E, call, a[0], "its argument", &d)) return poison(E);
    return num_v(E, d, 0, a[0]->sp);
}

/* require(condition, message, at = value): a check written in the language; the
 * message goes to the value's place if the user wrote it, else to the call's. */
static value *bi_require(elab *E, const fe_expr *call, value **a)
{
    int ok;
    const char *msg;
    if (want_bool(E, call, a[0], "the condition", &ok) | want_str(E, call, a[1], "the message", &msg))
        return poison(E);
    if (!ok) {
        es_span sp = a[2] && is_user(E, a[2]->sp) ? a[2]->sp : at(E, call);
        err(E, sp, "%s", msg);
        E->fr->ret = poison(E);   /* a failed check ends the helper (or model) that made it */
        return poison(E);
    }
    return none_v(E, at(E, call));
}

/* error(message, at = value): reports, and ends the running helper or model, whose
 * result is then invalid (so no follow-on message comes from it) */
static value *bi_error(elab *E, const fe_expr *call, value **a)
{
    const char *msg;
    if (want_str(E, call, a[0], "the message", &msg)) return poison(E);
    err(E, a[1] && is_user(E, a[1]->sp) ? a[1]->sp : at(E, call), "%s", msg);
    E->fr->ret = poison(E);
    return poison(E);
}

static int plain_equal(const value *a, const value *b, int *eq);

/* contains(list, x): whether x is an item of the list (== on plain values, the
 * same feature for columns) */
static value *bi_contains(elab *E, const fe_expr *call, value **a)
{
    if (want_list(E, call, a[0], "the list")) return poison(E);
    for (int i = 0; i < a[0]->n; i++) {
        const value *it = a[0]->items[i];
        int eq = 0;
        if (it->k == V_COLUMN && a[1]->k == V_COLUMN) eq = strcmp(it->col->name, a[1]->col->name) == 0;
        else if (plain_equal(it, a[1], &eq) != 0) eq = 0;
        if (eq) return bool_v(E, 1, at(E, call));
    }
    return bool_v(E, 0, at(E, call));
}

/* The sum of a list of tensors, left to right. */
static value *bi_add_n(elab *E, const fe_expr *call, value **a)
{
    if (want_list(E, call, a[0], "its argument")) return poison(E);
    if (a[0]->n == 0) {
        err(E, at_value(E, a[0], call), "add_n(): the list is empty");
        return poison(E);
    }
    es_span sp = at(E, call);
    int acc = GR_NONE;
    for (int i = 0; i < a[0]->n; i++) {
        if (a[0]->items[i]->k == V_TENSOR && a[0]->items[i]->absent) return absent_v(E, sp);
        int x = want_node(E, call, a[0]->items[i], "each item");
        if (x == GR_NONE) return poison(E);
        acc = i == 0 ? x : bin(E, GR_ADD, acc, x, sp);
    }
    return tensor_v(E, acc, sp);
}

/* ---- built-ins: elementwise math ---------------------------------------------------- */

static value *unary(elab *E, const fe_expr *call, value *x, gr_op op, double (*num)(double))
{
    if (x->k == V_NUM && num) {
        double r = num(x->num);
        if (!isfinite(r)) {
            err(E, at_value(E, x, call), "%s(%g) is not a finite number", fname(call), x->num);
            return poison(E);
        }
        return num_v(E, r, 0, at(E, call));
    }
    int n = want_f32(E, call, x, "its input");
    return tensor_v(E, n == GR_NONE ? GR_NONE : un(E, op, n, at(E, call)), at(E, call));
}

static double sigmoid_d(double x) { return 1 / (1 + exp(-x)); }
static double relu_d(double x) { return x > 0 ? x : 0; }
static double square_d(double x) { return x * x; }
static double softplus_d(double x) { return x > 30 ? x : log1p(exp(x)); }

#define UNARY(name, op, f) \
    static value *bi_##name(elab *E, const fe_expr *call, value **a) { return unary(E, call, a[0], op, f); }
UNARY(exp, GR_EXP, exp)
UNARY(log, GR_LOG, log)
UNARY(sqrt, GR_SQRT, sqrt)
UNARY(abs, GR_ABS, fabs)
UNARY(square, GR_SQUARE, square_d)
UNARY(sigmoid, GR_SIGMOID, sigmoid_d)
UNARY(tanh, GR_TANH, tanh)
UNARY(relu, GR_RELU, relu_d)
UNARY(softplus, GR_SOFTPLUS, softplus_d)
UNARY(sign, GR_SIGN, NULL)
UNARY(softmax, GR_SOFTMAX, NULL)
UNARY(log_softmax, GR_LOG_SOFTMAX, NULL)
#undef UNARY

static value *bi_linear(elab *E, const fe_expr *call, value **a)
{
    if (a[0]->k == V_NUM || a[0]->k == V_TENSOR) return a[0];
    int n = want_node(E, call, a[0], "its input");
    return tensor_v(E, n, at(E, call));
}

static value *bi_leaky_relu(elab *E, const fe_expr *call, value **a)
{
    double alpha = 0.2;
    if (a[1] && want_num(E, call, a[1], "alpha", &alpha)) return poison(E);
    int x = want_f32(E, call, a[0], "its input");
    if (x == GR_NONE) return poison(E);
    double f[4] = { alpha, 0, 0, 0 };
    return tensor_v(E, opn(E, GR_LEAKY_RELU, 1, &x, NULL, f, at(E, call)), at(E, call));
}

static value *bi_elu(elab *E, const fe_expr *call, value **a)
{
    double alpha = 1.0;
    if (a[1] && want_num(E, call, a[1], "alpha", &alpha)) return poison(E);
    int x = want_f32(E, call, a[0], "its input");
    if (x == GR_NONE) return poison(E);
    double f[4] = { alpha, 0, 0, 0 };
    return tensor_v(E, opn(E, GR_ELU, 1, &x, NULL, f, at(E, call)), at(E, call));
}

/* min/max: of numbers, elementwise of two tensors, or (max only) a reduction */
static value *reduce_axis(elab *E, const fe_expr *call, value *x, value *axis, value *keep, gr_op all_op,
                          gr_op axis_op);

static value *minmax(elab *E, const fe_expr *call, value **a, int is_max)
{
    if (!a[1]) {
        if (a[0]->k == V_LIST) {
            double best = 0;
            if (a[0]->n == 0) {
                err(E, at_value(E, a[0], call), "%s(): the list is empty", fname(call));
                return poison(E);
            }
            int is_int = 1;
            for (int i = 0; i < a[0]->n; i++) {
                double d;
                if (want_num(E, call, a[0]->items[i], "each item", &d)) return poison(E);
                if (i == 0 || (is_max ? d > best : d < best)) best = d;
                is_int &= a[0]->items[i]->is_int;
            }
            return num_v(E, best, is_int, at(E, call));
        }
        if (is_max && a[0]->k != V_NUM) return reduce_axis(E, call, a[0], a[2], a[3], GR_COUNT_IDS, GR_MAX_AXIS);
        err(E, at(E, call), "%s() takes two values (or a list of numbers%s)", fname(call),
            is_max ? ", or a tensor to reduce" : "");
        return poison(E);
    }
    if (a[0]->k == V_NUM && a[1]->k == V_NUM) {
        int pick0 = is_max ? a[0]->num >= a[1]->num : a[0]->num <= a[1]->num;
        return num_v(E, pick0 ? a[0]->num : a[1]->num, a[0]->is_int && a[1]->is_int, at(E, call));
    }
    int x = want_f32(E, call, a[0], "its first input"), y = want_f32(E, call, a[1], "its second input");
    if (x == GR_NONE || y == GR_NONE) return poison(E);
    return tensor_v(E, bin(E, is_max ? GR_MAXIMUM : GR_MINIMUM, x, y, at(E, call)), at(E, call));
}

static value *bi_min(elab *E, const fe_expr *call, value **a) { return minmax(E, call, a, 0); }
static value *bi_max(elab *E, const fe_expr *call, value **a) { return minmax(E, call, a, 1); }

static value *bi_maximum(elab *E, const fe_expr *call, value **a)
{
    value *b[4] = { a[0], a[1], NULL, NULL };
    return minmax(E, call, b, 1);
}

static value *bi_minimum(elab *E, const fe_expr *call, value **a)
{
    value *b[4] = { a[0], a[1], NULL, NULL };
    return minmax(E, call, b, 0);
}

static value *bi_to_float(elab *E, const fe_expr *call, value **a)
{
    if (a[0]->k == V_NUM) return num_v(E, a[0]->num, 0, a[0]->sp);
    return tensor_v(E, want_f32(E, call, a[0], "its input"), at(E, call));
}

static value *bi_select(elab *E, const fe_expr *call, value **a)
{
    int c = want_f32(E, call, a[0], "the condition");
    int x = want_f32(E, call, a[1], "the value where the condition holds");
    int y = want_f32(E, call, a[2], "the value where it does not");
    if (c == GR_NONE || x == GR_NONE || y == GR_NONE) return poison(E);
    int in[3] = { c, x, y };
    return tensor_v(E, opn(E, GR_SELECT, 3, in, NULL, NULL, at(E, call)), at(E, call));
}

/* ---- built-ins: shapes, reductions, linear algebra ----------------------------------- */

static value *bi_matmul(elab *E, const fe_expr *call, value **a)
{
    int ta = 0, tb = 0;
    if (a[2] && want_bool(E, call, a[2], "transpose_a", &ta)) return poison(E);
    if (a[3] && want_bool(E, call, a[3], "transpose_b", &tb)) return poison(E);
    int x = want_f32(E, call, a[0], "its left operand"), y = want_f32(E, call, a[1], "its right operand");
    if (x == GR_NONE || y == GR_NONE) return poison(E);
    return tensor_v(E, matmul(E, x, y, ta, tb, at(E, call)), at(E, call));
}

/* Puts back a reduced axis as a dimension of 1 (keepdims). */
static int keep_axis(elab *E, int r, gr_shape in, int axis, es_span sp)
{
    gr_shape s = in;
    s.d[axis] = 1;
    return reshape(E, r, s, sp);
}

static value *reduce_axis(elab *E, const fe_expr *call, value *xv, value *axis, value *keep, gr_op all_op,
                          gr_op axis_op)
{
    es_span sp = at(E, call);
    int x = want_f32(E, call, xv, "its input");
    int keepdims = 0;
    if (keep && want_bool(E, call, keep, "keepdims", &keepdims)) return poison(E);
    if (x == GR_NONE) return poison(E);
    gr_shape s = shape_of(E, x);
    if (!axis || axis->k == V_NONE) {
        if (all_op != GR_COUNT_IDS) return tensor_v(E, un(E, all_op, x, sp), sp);
        /* max over everything: one axis at a time, from the last */
        int r = x;
        for (int i = s.rank - 1; i >= 0 && r != GR_NONE; i--) {
            int64_t at_[4] = { i, 0, 0, 0 };
            r = opn(E, axis_op, 1, &r, at_, NULL, sp);
        }
        return tensor_v(E, r, sp);
    }
    int ax;
    if (want_axis(E, call, axis, s.rank, &ax)) return poison(E);
    int64_t at_[4] = { ax, 0, 0, 0 };
    int r = opn(E, axis_op, 1, &x, at_, NULL, sp);
    if (r != GR_NONE && keepdims) r = keep_axis(E, r, s, ax, sp);
    return tensor_v(E, r, sp);
}

static value *bi_sum(elab *E, const fe_expr *call, value **a)
{
    if (a[0]->k == V_LIST) {
        double t = 0;
        int is_int = 1;
        for (int i = 0; i < a[0]->n; i++) {
            double d;
            if (want_num(E, call, a[0]->items[i], "each item", &d)) return poison(E);
            t += d;
            is_int &= a[0]->items[i]->is_int;
        }
        return num_v(E, t, is_int, at(E, call));
    }
    return reduce_axis(E, call, a[0], a[1], a[2], GR_SUM, GR_SUM_AXIS);
}

static value *bi_mean(elab *E, const fe_expr *call, value **a)
{
    return reduce_axis(E, call, a[0], a[1], a[2], GR_MEAN, GR_MEAN_AXIS);
}

/* dim(x, axis): a fixed dimension as a number (the batch size is not one) */
static value *bi_dim(elab *E, const fe_expr *call, value **a)
{
    int x = want_node(E, call, a[0], "its input");
    if (x == GR_NONE) return poison(E);
    gr_shape s = shape_of(E, x);
    int ax;
    if (want_axis(E, call, a[1], s.rank, &ax)) return poison(E);
    if (s.d[ax] == GR_BATCH) {
        err(E, at_value(E, a[1], call), "dim(): axis %d of %s is the batch size, which is not known until "
            "the model runs", ax, shape_text(E, s));
        return poison(E);
    }
    return num_v(E, (double)s.d[ax], 1, at(E, call));
}

/* reshape(x, [d, ...]): -1 marks the batch dimension */
static value *bi_reshape(elab *E, const fe_expr *call, value **a)
{
    int x = want_node(E, call, a[0], "its input");
    if (want_list(E, call, a[1], "the shape") || x == GR_NONE) return poison(E);
    if (a[1]->n > GR_MAXDIMS) {
        err(E, at_value(E, a[1], call), "reshape(): a shape has at most %d dimensions", GR_MAXDIMS);
        return poison(E);
    }
    gr_shape s = gr_shape0();
    for (int i = 0; i < a[1]->n; i++) {
        int64_t d;
        if (want_int(E, call, a[1]->items[i], "each dimension", &d)) return poison(E);
        if (d == -1) d = GR_BATCH;
        else if (d <= 0) {
            err(E, at_value(E, a[1]->items[i], call), "reshape(): dimension %lld must be positive (or -1 for "
                "the batch)", (long long)d);
            return poison(E);
        }
        s.d[s.rank++] = d;
    }
    return tensor_v(E, reshape(E, x, s, at(E, call)), at(E, call));
}

static int concat_nodes(elab *E, const int *xs, int n, int axis, es_span sp)
{
    /* the op takes at most GR_MAXIN inputs: longer lists concatenate in groups */
    int parts[GR_MAXIN], np = 0, i = 0;
    if (n == 1) return xs[0];
    while (i < n) {
        int k = n - i < GR_MAXIN ? n - i : GR_MAXIN;
        if (np == GR_MAXIN - 1) k = n - i;   /* the last group takes the rest, recursively */
        int64_t at_[4] = { axis, 0, 0, 0 };
        parts[np++] = k == 1 ? xs[i] : k <= GR_MAXIN ? opn(E, GR_CONCAT, k, xs + i, at_, NULL, sp)
                                     : concat_nodes(E, xs + i, k, axis, sp);
        if (parts[np - 1] == GR_NONE) return GR_NONE;
        i += k;
    }
    if (np == 1) return parts[0];
    int64_t at_[4] = { axis, 0, 0, 0 };
    return opn(E, GR_CONCAT, np, parts, at_, NULL, sp);
}

static value *bi_concat(elab *E, const fe_expr *call, value **a)
{
    if (want_list(E, call, a[0], "its argument")) return poison(E);
    es_span sp = at(E, call);
    int n = a[0]->n;
    if (n == 0) {
        err(E, at_value(E, a[0], call), "concat(): the list is empty");
        return poison(E);
    }
    int *xs = es_alloc(E->a, sizeof(int) * (size_t)n);
    for (int i = 0; i < n; i++) {
        if (a[0]->items[i]->k == V_TENSOR && a[0]->items[i]->absent) return absent_v(E, sp);
        if ((xs[i] = want_f32(E, call, a[0]->items[i], "each item")) == GR_NONE) return poison(E);
    }
    int rank = shape_of(E, xs[0]).rank, ax = rank - 1;
    if (a[1] && want_axis(E, call, a[1], rank, &ax)) return poison(E);
    return tensor_v(E, concat_nodes(E, xs, n, ax, sp), sp);
}

static int slice_node(elab *E, int x, int axis, int64_t start, int64_t len, es_span sp)
{
    int64_t at_[4] = { axis, start, len, 0 };
    return opn(E, GR_SLICE, 1, &x, at_, NULL, sp);
}

static value *bi_slice(elab *E, const fe_expr *call, value **a)
{
    int x = want_f32(E, call, a[0], "its input");
    int64_t start, len;
    if (x == GR_NONE) return poison(E);
    int ax;
    if (want_axis(E, call, a[1], shape_of(E, x).rank, &ax) || want_int(E, call, a[2], "start", &start) ||
        want_int(E, call, a[3], "length", &len))
        return poison(E);
    return tensor_v(E, slice_node(E, x, ax, start, len, at(E, call)), at(E, call));
}

static value *bi_transpose(elab *E, const fe_expr *call, value **a)
{
    int x = want_f32(E, call, a[0], "its input");
    if (x == GR_NONE) return poison(E);
    return tensor_v(E, un(E, GR_TRANSPOSE, x, at(E, call)), at(E, call));
}

static value *bi_argmax(elab *E, const fe_expr *call, value **a)
{
    int x = want_f32(E, call, a[0], "its input");
    return tensor_v(E, x == GR_NONE ? GR_NONE : un(E, GR_ARGMAX, x, at(E, call)), at(E, call));
}

static value *bi_one_hot(elab *E, const fe_expr *call, value **a)
{
    int x = want_node(E, call, a[0], "the ids");
    int64_t depth;
    if (want_int(E, call, a[1], "depth", &depth) || x == GR_NONE) return poison(E);
    int64_t at_[4] = { depth, 0, 0, 0 };
    return tensor_v(E, opn(E, GR_ONE_HOT, 1, &x, at_, NULL, at(E, call)), at(E, call));
}

/* tensor([[0, 1]]): a constant from nested lists of numbers */
static int const_dims(elab *E, const fe_expr *call, value *v, gr_shape *s, int depth)
{
    if (v->k == V_NUM) return 0;
    if (v->k != V_LIST || v->n == 0 || depth >= GR_MAXDIMS) {
        err(E, at_value(E, v, call), "tensor(): expected nested non-empty lists of numbers (at most %d deep), "
            "found %s", GR_MAXDIMS, describe(E, v));
        return -1;
    }
    s->d[depth] = v->n;
    if (s->rank < depth + 1) s->rank = depth + 1;
    return const_dims(E, call, v->items[0], s, depth + 1);
}

static int const_fill(elab *E, const fe_expr *call, value *v, gr_shape s, int depth, float *out, int64_t *k)
{
    if (depth == s.rank) {
        double d;
        if (want_num(E, call, v, "each entry", &d)) return -1;
        out[(*k)++] = (float)d;
        return 0;
    }
    if (v->k != V_LIST || v->n != s.d[depth]) {
        err(E, at_value(E, v, call), "tensor(): the lists are ragged (expected %lld items here)",
            (long long)s.d[depth]);
        return -1;
    }
    for (int i = 0; i < v->n; i++)
        if (const_fill(E, call, v->items[i], s, depth + 1, out, k)) return -1;
    return 0;
}

static value *bi_tensor(elab *E, const fe_expr *call, value **a)
{
    gr_shape s = gr_shape0();
    if (const_dims(E, call, a[0], &s, 0)) return poison(E);
    int64_t n = gr_numel(s, 1), k = 0;
    float *vals = es_alloc(E->a, sizeof(float) * (size_t)(n ? n : 1));
    if (const_fill(E, call, a[0], s, 0, vals, &k)) return poison(E);
    return tensor_v(E, G(E, gr_const(E->g, s, vals, at(E, call)), at(E, call)), at(E, call));
}

/* batch_broadcast(x): x (a number, [k]) repeated for every example, [B,k]. The batch
 * size comes from an input already read (or the first declared feature): ones [B,1]
 * broadcast from its shape alone, times x as a row — exact, and no feature value is read. */
static value *bi_batch_broadcast(elab *E, const fe_expr *call, value **a)
{
    es_span sp = at(E, call);
    int x = want_f32(E, call, a[0], "its input");
    if (x == GR_NONE) return poison(E);
    gr_shape xs = shape_of(E, x);
    if (xs.rank > 1 || gr_has_batch(xs)) {
        err(E, at_value(E, a[0], call), "batch_broadcast(): the input must be a number or a vector [k], not %s",
            shape_text(E, xs));
        return poison(E);
    }
    int like = GR_NONE;
    for (int i = 0; i < E->g->n && like == GR_NONE; i++)
        if (E->g->nodes[i].op == GR_INPUT && E->g->nodes[i].shape.rank >= 1 &&
            E->g->nodes[i].shape.d[0] == GR_BATCH && strcmp(E->g->nodes[i].name, "label") != 0)
            like = i;
    for (int i = 0; i < E->in->spec->nfeatures && like == GR_NONE; i++) {
        const es_feature *f = E->in->spec->features[i];
        if (f->kind != ES_FEAT_INDICATOR) like = ids_input(E, f);
    }
    if (like == GR_NONE) {
        err(E, sp, "batch_broadcast(): the model reads no feature, so the batch size is unknown: declare one");
        return poison(E);
    }
    gr_shape ls = shape_of(E, like);
    int64_t per = gr_numel(ls, 1);
    int shaped = per == 1 ? reshape(E, like, gr_shape2(GR_BATCH, 1), sp)
                          : slice_node(E, reshape(E, like, gr_shape2(GR_BATCH, per), sp), 1, 0, 1, sp);
    float one = 1;
    int c = G(E, gr_const(E->g, gr_shape1(1), &one, sp), sp);
    int in[2] = { c, shaped };
    int ones = opn(E, GR_BROADCAST, 2, in, NULL, NULL, sp);
    int64_t k = xs.rank == 1 ? xs.d[0] : 1;
    int row = reshape(E, x, gr_shape2(1, k), sp);
    if (ones == GR_NONE || row == GR_NONE) return poison(E);
    return tensor_v(E, matmul(E, ones, row, 0, 0, sp), sp);
}

/* ---- built-ins: variables and mode-dependent layers --------------------------------- */

int64_t fe_dropout_seed(uint64_t run_seed, int layer)
{
    uint64_t key[2] = { run_seed, (uint64_t)layer };
    return (int64_t)(es_hash64(key, sizeof key, 0xd20) & 0x7fffffffffffll);
}

static const builtin *find_builtin(const char *name);
static value *call_builtin(elab *E, const builtin *b, const fe_expr *call, const argval *args, int nargs);

/* An initializer value: INIT, or a bare initializer function called with no arguments. */
static int want_init(elab *E, const fe_expr *call, value *v, const char *what, const value **out)
{
    if (v->k == V_FUNC && v->fn->b && v->fn->b->kind == B_INIT)
        v = call_builtin(E, v->fn->b, call, NULL, 0);
    if (v->k == V_INIT) { *out = v; return 0; }
    if (v->k != V_POISON)
        err(E, at_value(E, v, call), "%s(): %s must be an initializer such as glorot_uniform or "
            "truncated_normal(stddev = 0.1), not %s", fname(call), what, describe(E, v));
    return -1;
}

/* variable(shape, init, trainable, name): a model variable named scope/name; the
 * name defaults to the one it is assigned to (`kernel = variable(...)`). */
static value *bi_variable(elab *E, const fe_expr *call, value **a)
{
    es_span sp = at(E, call);
    const char *name = E->call_target;
    if (a[3] && want_str(E, call, a[3], "name", &name)) return poison(E);
    if (!name || !*name) {
        err(E, sp, "variable() needs a name: assign it (w = variable(...)) or give name = \"...\"");
        return poison(E);
    }
    if (want_list(E, call, a[0], "the shape")) return poison(E);
    if (a[0]->n > GR_MAXDIMS) {
        err(E, at_value(E, a[0], call), "variable(): a shape has at most %d dimensions", GR_MAXDIMS);
        return poison(E);
    }
    gr_shape s = gr_shape0();
    for (int i = 0; i < a[0]->n; i++) {
        int64_t d;
        if (want_int(E, call, a[0]->items[i], "each dimension", &d)) return poison(E);
        if (d <= 0) {
            err(E, at_value(E, a[0]->items[i], call), "variable(): dimension %lld of the shape must be positive",
                (long long)d);
            return poison(E);
        }
        s.d[s.rank++] = d;
    }
    const value *init = NULL;
    value glorot = { .k = V_INIT, .init = GR_INIT_GLOROT_UNIFORM };
    if (a[1]) {
        if (want_init(E, call, a[1], "init", &init)) return poison(E);
    } else init = &glorot;
    int trainable = 1;
    if (a[2] && want_bool(E, call, a[2], "trainable", &trainable)) return poison(E);
    const char *full = scoped(E, name);
    int prev = gr_find_named(E->g, GR_PARAM, full);
    if (prev != GR_NONE) {
        err(E, sp, "variable '%s' is made twice: give each its own name or put it in its own scope { }", full);
        if (E->g->nodes[prev].span.src) note(E, E->g->nodes[prev].span, "the first one is made here");
        return poison(E);
    }
    return tensor_v(E, G(E, gr_param(E->g, full, s, init->init, init->f0, init->f1, trainable, sp), sp), sp);
}

/* dropout(x, rate): drops a fraction `rate` of x and scales the rest by 1/(1-rate)
 * in training; the identity in eval and predict. The mask comes from a counter-based
 * generator keyed on the run's seed, the layer and the global step. */
static value *bi_dropout(elab *E, const fe_expr *call, value **a)
{
    es_span sp = at(E, call);
    double rate = 0;
    if (a[1] && a[1]->k != V_NONE && want_num(E, call, a[1], "rate", &rate)) return poison(E);
    if (rate < 0 || rate >= 1) {
        err(E, at_value(E, a[1], call), "dropout(): rate must be in [0, 1), not %g", rate);
        return poison(E);
    }
    int x = want_f32(E, call, a[0], "its input");
    if (x == GR_NONE) return poison(E);
    E->ndropout++;
    if (E->mode != GR_PROG_TRAIN || rate == 0) return tensor_v(E, x, sp);
    int step = gr_find_named(E->g, GR_INPUT, "global_step");
    if (step == GR_NONE) step = G(E, gr_input(E->g, "global_step", GR_I32, gr_shape1(1), sp), sp);
    int64_t at_[4] = { fe_dropout_seed(E->in->spec->run.seed, E->ndropout), 0, 0, 0 };
    double f[4] = { rate, 0, 0, 0 };
    int in[2] = { x, step };
    return tensor_v(E, opn(E, GR_DROPOUT, 2, in, at_, f, sp), sp);
}

/* assign_moving_average(variable, value, momentum): in training, after the step,
 * variable = momentum * variable + (1 - momentum) * value. Does nothing in eval
 * and predict (those programs only read moving averages). */
static value *bi_assign_moving_average(elab *E, const fe_expr *call, value **a)
{
    es_span sp = at(E, call);
    double m;
    if (want_num(E, call, a[2], "momentum", &m)) return poison(E);
    if (m < 0 || m >= 1) {
        err(E, at_value(E, a[2], call), "assign_moving_average(): momentum must be in [0, 1), not %g", m);
        return poison(E);
    }
    int var = want_node(E, call, a[0], "the variable"), val = want_f32(E, call, a[1], "the value");
    if (var == GR_NONE || val == GR_NONE) return poison(E);
    if (E->g->nodes[var].op != GR_PARAM) {
        err(E, at_value(E, a[0], call), "assign_moving_average(): the first argument must be a variable");
        return poison(E);
    }
    if (E->mode != GR_PROG_TRAIN) return none_v(E, sp);
    double f[4] = { m, 0, 0, 0 };
    int in[2] = { var, val };
    opn(E, GR_ASSIGN_EMA, 2, in, NULL, f, sp);
    return none_v(E, sp);
}

/* ---- built-ins: feature columns ---------------------------------------------------- */

static int is_absent(const value *v) { return v->k == V_TENSOR && v->absent; }

typedef ES_VEC(const value *) value_vec;

/* Appends the columns of v (a column or nested lists of them) to out. */
static int collect_columns(elab *E, const fe_expr *call, value *v, value_vec *out, int depth)
{
    if (v->k == V_LIST && depth < 4) {
        int bad = 0;
        for (int i = 0; i < v->n; i++) bad |= collect_columns(E, call, v->items[i], out, depth + 1);
        return bad;
    }
    if (v->k == V_POISON) return -1;
    if (v->k != V_COLUMN && v->k != V_TENSOR) {
        err(E, at_value(E, v, call), "%s(): each entry must be a feature column, not %s", fname(call),
            describe(E, v));
        return -1;
    }
    es_vec_push(E->a, *out, v);
    return 0;
}

/* input_layer(columns): the dense forms of the columns side by side, [B, total width]
 * (numeric values normalised, indicator one-hot, embeddings looked up), in the order given. */
static value *bi_input_layer(elab *E, const fe_expr *call, value **a)
{
    value_vec cols = { 0 };
    if (collect_columns(E, call, a[0], &cols, 0)) return poison(E);
    if (cols.n == 0) {
        err(E, at_value(E, a[0], call), "input_layer(): the list of columns is empty");
        return poison(E);
    }
    int *xs = es_alloc(E->a, sizeof(int) * (size_t)cols.n);
    int bad = 0;
    for (int i = 0; i < cols.n; i++) {
        const value *c = cols.v[i];
        es_span sp = at_value(E, c, call);
        xs[i] = c->k == V_TENSOR ? c->node : dense_of(E, c->col, sp);
        if (xs[i] == GR_NONE) { bad = 1; continue; }
        gr_shape s = shape_of(E, xs[i]);
        if (s.rank != 2 || s.d[0] != GR_BATCH) {
            err(E, sp, "input_layer(): each input must be [B, width], not %s", shape_text(E, s));
            bad = 1;
        }
    }
    if (bad) return poison(E);
    return tensor_v(E, concat_nodes(E, xs, cols.n, 1, at(E, call)), at(E, call));
}

static int want_categorical(elab *E, const fe_expr *call, value *v, const column **out)
{
    if (want_column(E, call, v, "the column", out)) return -1;
    if (!col_categorical(*out)) {
        err(E, at_value(E, v, call), "%s(): '%s' is not categorical (it gives no ids)%s", fname(call),
            (*out)->name, (*out)->kind == COL_FEATURE && (*out)->f->kind == ES_FEAT_NUMERIC
                          ? ": bucketize it first" : "");
        return -1;
    }
    return 0;
}

static int want_combiner(elab *E, const fe_expr *call, value *v, const char **out)
{
    *out = "mean";
    if (!v) return 0;
    if (want_str(E, call, v, "combiner", out)) return -1;
    if (strcmp(*out, "sum") && strcmp(*out, "mean") && strcmp(*out, "sqrtn")) {
        err(E, at_value(E, v, call), "%s(): combiner must be \"sum\", \"mean\" or \"sqrtn\", not \"%s\"",
            fname(call), *out);
        return -1;
    }
    return 0;
}

/* The embedding's initializer: TensorFlow's truncated normal, stddev 1/sqrt(dimension). */
static int embedding_init(elab *E, const fe_expr *call, value *v, int64_t dim, column *c)
{
    c->init = GR_INIT_TRUNC_NORMAL;
    c->f0 = 0;
    c->f1 = 1 / sqrt((double)dim);
    if (!v) return 0;
    const value *iv;
    if (want_init(E, call, v, "initializer", &iv)) return -1;
    c->init = iv->init;
    c->f0 = iv->f0;
    c->f1 = iv->f1;
    return 0;
}

static int want_dimension(elab *E, const fe_expr *call, value *v, int64_t *dim)
{
    if (want_int(E, call, v, "dimension", dim)) return -1;
    if (*dim < 1 || *dim > 1 << 20) {
        err(E, at_value(E, v, call), "%s(): dimension must be at least 1, not %lld", fname(call), (long long)*dim);
        return -1;
    }
    return 0;
}

/* embedding(column, dimension, combiner = "mean", initializer, trainable) */
static value *bi_embedding(elab *E, const fe_expr *call, value **a)
{
    const column *of;
    int64_t dim;
    const char *comb;
    if (want_categorical(E, call, a[0], &of) | want_dimension(E, call, a[1], &dim) |
        want_combiner(E, call, a[2], &comb))
        return poison(E);
    column *c = es_alloc(E->a, sizeof *c);
    c->kind = COL_EMBEDDING;
    c->f = of->f;
    c->name = es_sprintf(E->a, "%s_embedding", of->f->name);
    c->table = c->name;
    c->dim = (int)dim;
    c->combiner = comb;
    c->trainable = 1;
    if (embedding_init(E, call, a[3], dim, c)) return poison(E);
    if (a[4] && want_bool(E, call, a[4], "trainable", &c->trainable)) return poison(E);
    return column_v(E, c, at(E, call));
}

/* shared_embeddings([a, b], dimension, combiner): one table for several categorical
 * columns (TensorFlow's shared_embedding_columns); a list of columns. */
static value *bi_shared_embeddings(elab *E, const fe_expr *call, value **a)
{
    int64_t dim;
    const char *comb;
    if (want_list(E, call, a[0], "the columns") | want_dimension(E, call, a[1], &dim) |
        want_combiner(E, call, a[2], &comb))
        return poison(E);
    int n = a[0]->n;
    if (n < 1) {
        err(E, at_value(E, a[0], call), "shared_embeddings(): the list of columns is empty");
        return poison(E);
    }
    const column **of = es_alloc(E->a, sizeof(column *) * (size_t)n);
    const char *table = "";
    int64_t rows = 0;
    for (int i = 0; i < n; i++) {
        if (want_categorical(E, call, a[0]->items[i], &of[i])) return poison(E);
        table = es_sprintf(E->a, "%s%s%s", table, i ? "_" : "", of[i]->f->name);
        if (of[i]->f->num_buckets > rows) rows = of[i]->f->num_buckets;
    }
    table = es_sprintf(E->a, "%s_shared_embedding", table);
    value **items = es_alloc(E->a, sizeof(value *) * (size_t)n);
    for (int i = 0; i < n; i++) {
        column *c = es_alloc(E->a, sizeof *c);
        c->kind = COL_EMBEDDING;
        c->f = of[i]->f;
        c->name = es_sprintf(E->a, "%s_shared_embedding", of[i]->f->name);
        c->table = table;
        c->buckets = rows;
        c->dim = (int)dim;
        c->combiner = comb;
        c->trainable = 1;
        if (embedding_init(E, call, a[3], dim, c)) return poison(E);
        items[i] = column_v(E, c, at(E, call));
    }
    return list_v(E, n, items, at(E, call));
}

static value *bi_indicator(elab *E, const fe_expr *call, value **a)
{
    const column *of;
    if (want_categorical(E, call, a[0], &of)) return poison(E);
    if (of->f->kind == ES_FEAT_WEIGHTED) {
        err(E, at_value(E, a[0], call), "indicator(): '%s' is weighted, which indicator() does not support: "
            "use embedding(%s, DIMENSION) or a linear model", of->name, of->name);
        return poison(E);
    }
    column *c = es_alloc(E->a, sizeof *c);
    c->kind = COL_INDICATOR;
    c->f = of->f;
    c->name = es_sprintf(E->a, "%s_indicator", of->f->name);
    return column_v(E, c, at(E, call));
}

static value *bi_ids(elab *E, const fe_expr *call, value **a)
{
    const column *c;
    if (want_categorical(E, call, a[0], &c)) return poison(E);
    return tensor_v(E, ids_input(E, c->f), at(E, call));
}

static value *bi_is_categorical(elab *E, const fe_expr *call, value **a)
{
    const column *c;
    if (want_column(E, call, a[0], "its argument", &c)) return poison(E);
    return bool_v(E, col_categorical(c), at(E, call));
}

static value *bi_num_buckets(elab *E, const fe_expr *call, value **a)
{
    const column *c;
    if (want_categorical(E, call, a[0], &c)) return poison(E);
    return num_v(E, (double)col_buckets(c), 1, at(E, call));
}

static value *bi_column_name(elab *E, const fe_expr *call, value **a)
{
    const column *c;
    if (want_column(E, call, a[0], "its argument", &c)) return poison(E);
    return str_v(E, c->name, at(E, call));
}

/* gather(table, ids, combiner = "sum"): rows of a [V,K] table at ids, combined */
static value *bi_gather(elab *E, const fe_expr *call, value **a)
{
    const char *comb = "sum";
    if (a[2] && want_combiner(E, call, a[2], &comb)) return poison(E);
    if (a[1]->k == V_COLUMN && col_categorical(a[1]->col)) {
        /* a categorical column instead of ids: its ids, and a weighted column's weights */
        int t = want_node(E, call, a[0], "the table");
        if (t == GR_NONE) return poison(E);
        return tensor_v(E, lookup_rows(E, t, a[1]->col->f, comb, at(E, call)), at(E, call));
    }
    int t = want_node(E, call, a[0], "the table"), ids = want_node(E, call, a[1], "the ids");
    if (t == GR_NONE || ids == GR_NONE) return poison(E);
    return tensor_v(E, gather(E, t, ids, comb, at(E, call)), at(E, call));
}

/* ---- built-ins: losses and the label ------------------------------------------------ */

/* sigmoid_cross_entropy(logits [B,1], labels): per-example [B,1]; labels are class
 * ids (0/1) or probabilities. Numerically stable for any logit. */
static value *bi_sigmoid_xent(elab *E, const fe_expr *call, value **a)
{
    es_span sp = at(E, call);
    int z = want_f32(E, call, a[0], "the logits");
    int y = want_node(E, call, a[1], "the labels");
    if (z == GR_NONE || y == GR_NONE) return poison(E);
    gr_shape ys = shape_of(E, y);
    if (dtype_of(E, y) == GR_I32) y = un(E, GR_CAST_F32, y, sp);
    if (y != GR_NONE && ys.rank == 1) y = reshape(E, y, gr_shape2(ys.d[0], 1), sp);
    return tensor_v(E, y == GR_NONE ? GR_NONE : bin(E, GR_SIGMOID_XENT, z, y, sp), sp);
}

/* softmax_cross_entropy(logits [B,K], labels i32 [B]): per-example [B,1] */
static value *bi_softmax_xent(elab *E, const fe_expr *call, value **a)
{
    es_span sp = at(E, call);
    int z = want_f32(E, call, a[0], "the logits");
    int y = want_node(E, call, a[1], "the labels");
    if (z == GR_NONE || y == GR_NONE) return poison(E);
    if (dtype_of(E, y) != GR_I32) {
        err(E, at_value(E, a[1], call), "softmax_cross_entropy(): the labels must be class ids (i32), not %s",
            describe(E, a[1]));
        return poison(E);
    }
    gr_shape ys = shape_of(E, y);
    if (ys.rank == 2 && ys.d[1] == 1) y = reshape(E, y, gr_shape1(ys.d[0]), sp);
    return tensor_v(E, y == GR_NONE ? GR_NONE : bin(E, GR_SOFTMAX_XENT, z, y, sp), sp);
}

static value *bi_label_n_classes(elab *E, const fe_expr *call, value **a)
{
    (void)a;
    if (!E->in->label_ok) return poison(E);
    const es_label_spec *l = &E->in->spec->label;
    return num_v(E, l->kind == ES_LABEL_NUMERIC ? 0 : l->n_classes, 1, at(E, call));
}

static value *bi_label_vocabulary(elab *E, const fe_expr *call, value **a)
{
    (void)a;
    if (!E->in->label_ok) return poison(E);
    const es_label_spec *l = &E->in->spec->label;
    if (l->kind != ES_LABEL_CLASS_VOCAB) return none_v(E, at(E, call));
    value **items = es_alloc(E->a, sizeof(value *) * (size_t)l->n_classes);
    for (int i = 0; i < l->n_classes; i++) items[i] = str_v(E, l->vocab[i], l->span);
    return list_v(E, l->n_classes, items, l->span);
}

static value *bi_label_name(elab *E, const fe_expr *call, value **a)
{
    (void)a;
    if (!E->in->label_ok) return poison(E);
    return str_v(E, E->in->spec->label.name, at(E, call));
}

/* "binary", "multi_class" or "regression": the head the label implies */
static value *bi_head_kind(elab *E, const fe_expr *call, value **a)
{
    (void)a;
    if (!E->in->label_ok) return poison(E);
    switch (E->in->spec->head) {
    case ES_HEAD_BINARY: return str_v(E, "binary", at(E, call));
    case ES_HEAD_MULTICLASS: return str_v(E, "multi_class", at(E, call));
    case ES_HEAD_REGRESSION: return str_v(E, "regression", at(E, call));
    }
    return poison(E);
}

/* ---- built-ins: optimizers and initializers ------------------------------------------ */

/* A number within (lo, hi); closed says which ends are allowed. */
static int num_in(elab *E, const fe_expr *call, value *v, const char *what, double *out, double lo,
                  int lo_closed, double hi, int hi_closed, const char *range)
{
    if (!v) return 0;
    double x;
    if (v->k != V_NUM) {
        if (v->k != V_POISON) err(E, at_value(E, v, call), "%s must be a number, not %s", what, describe(E, v));
        return -1;
    }
    x = v->num;
    if ((lo_closed ? x < lo : x <= lo) || (hi_closed ? x > hi : x >= hi)) {
        err(E, at_value(E, v, call), "%s must be %s, not %g", what, range, x);
        return -1;
    }
    *out = x;
    return 0;
}

static value *opt_v(elab *E, const fe_expr *call, gr_opt_kind k)
{
    value *v = mk(E, V_OPT, at(E, call));
    gr_optimizer_defaults(&v->opt, k);
    return v;
}

/* The graph layer's defaults are TensorFlow 1.x's (accumulators 0.1, lr_power -0.5,
 * Adam 0.9/0.999/1e-8); only the learning rates are decided here. */
static value *bi_sgd(elab *E, const fe_expr *call, value **a)
{
    value *v = opt_v(E, call, GR_OPT_SGD);
    if (num_in(E, call, a[0], "learning_rate", &v->opt.lr, 0, 0, INFINITY, 0, "above 0")) return poison(E);
    v->lr_set = 1;
    return v;
}

static value *bi_adagrad(elab *E, const fe_expr *call, value **a)
{
    value *v = opt_v(E, call, GR_OPT_ADAGRAD);
    int bad = num_in(E, call, a[0], "learning_rate", &v->opt.lr, 0, 0, INFINITY, 0, "above 0");
    bad |= num_in(E, call, a[1], "initial_accumulator_value", &v->opt.initial_accum, 0, 0, INFINITY, 0, "above 0");
    v->lr_set = 1;
    return bad ? poison(E) : v;
}

static value *bi_adam(elab *E, const fe_expr *call, value **a)
{
    value *v = opt_v(E, call, GR_OPT_ADAM);
    v->opt.lr = 0.001;
    v->lr_set = 1;
    int bad = num_in(E, call, a[0], "learning_rate", &v->opt.lr, 0, 0, INFINITY, 0, "above 0");
    bad |= num_in(E, call, a[1], "beta1", &v->opt.beta1, 0, 1, 1, 0, "in [0, 1)");
    bad |= num_in(E, call, a[2], "beta2", &v->opt.beta2, 0, 1, 1, 0, "in [0, 1)");
    bad |= num_in(E, call, a[3], "epsilon", &v->opt.eps, 0, 0, INFINITY, 0, "above 0");
    return bad ? poison(E) : v;
}

/* ftrl() without a learning rate: 0.2, or the model's own rule (the linear
 * estimators apply TensorFlow's min(0.2, 1/sqrt(number of columns))). */
static value *bi_ftrl(elab *E, const fe_expr *call, value **a)
{
    value *v = opt_v(E, call, GR_OPT_FTRL);
    v->opt.lr = 0.2;
    v->lr_set = a[0] != NULL;
    int bad = num_in(E, call, a[0], "learning_rate", &v->opt.lr, 0, 0, INFINITY, 0, "above 0");
    bad |= num_in(E, call, a[1], "learning_rate_power", &v->opt.lr_power, -INFINITY, 0, 0, 1, "0 or less");
    bad |= num_in(E, call, a[2], "initial_accumulator_value", &v->opt.initial_accum, 0, 1, INFINITY, 0, "0 or more");
    bad |= num_in(E, call, a[3], "l1", &v->opt.l1, 0, 1, INFINITY, 0, "0 or more");
    bad |= num_in(E, call, a[4], "l2", &v->opt.l2, 0, 1, INFINITY, 0, "0 or more");
    return bad ? poison(E) : v;
}

/* An optimizer value: OPT, or a bare optimizer function called with no arguments. */
static int want_opt(elab *E, const fe_expr *call, value **v, const char *what)
{
    if ((*v)->k == V_FUNC && (*v)->fn->b && (*v)->fn->b->kind == B_OPTIMIZER)
        *v = call_builtin(E, (*v)->fn->b, call, NULL, 0);
    if ((*v)->k == V_OPT) return 0;
    if ((*v)->k != V_POISON)
        err(E, at_value(E, *v, call), "%s must be an optimizer such as adagrad(learning_rate = 0.05), not %s",
            what, describe(E, *v));
    return -1;
}

/* default_learning_rate(optimizer, rate): the optimizer, with rate as its learning
 * rate unless the user gave one. */
static value *bi_default_lr(elab *E, const fe_expr *call, value **a)
{
    double lr;
    value *o = a[0];
    if (want_opt(E, call, &o, "default_learning_rate(): the optimizer") |
        want_num(E, call, a[1], "the rate", &lr))
        return poison(E);
    if (o->lr_set) return o;
    value *v = mk(E, V_OPT, o->sp);
    *v = *o;
    v->opt.lr = lr;
    v->lr_set = 1;
    return v;
}

static value *init_v(elab *E, const fe_expr *call, gr_init k, double f0, double f1)
{
    value *v = mk(E, V_INIT, at(E, call));
    v->init = k;
    v->f0 = f0;
    v->f1 = f1;
    return v;
}

static value *bi_zeros(elab *E, const fe_expr *call, value **a) { (void)a; return init_v(E, call, GR_INIT_ZEROS, 0, 0); }
static value *bi_ones(elab *E, const fe_expr *call, value **a) { (void)a; return init_v(E, call, GR_INIT_CONST, 1, 0); }
static value *bi_glorot_uniform(elab *E, const fe_expr *call, value **a)
{
    (void)a;
    return init_v(E, call, GR_INIT_GLOROT_UNIFORM, 0, 0);
}
static value *bi_glorot_normal(elab *E, const fe_expr *call, value **a)
{
    (void)a;
    return init_v(E, call, GR_INIT_GLOROT_NORMAL, 0, 0);
}
static value *bi_he_normal(elab *E, const fe_expr *call, value **a)
{
    (void)a;
    return init_v(E, call, GR_INIT_HE_NORMAL, 0, 0);
}

static value *bi_constant(elab *E, const fe_expr *call, value **a)
{
    double x;
    if (want_num(E, call, a[0], "the value", &x)) return poison(E);
    return init_v(E, call, GR_INIT_CONST, x, 0);
}

static value *bi_uniform(elab *E, const fe_expr *call, value **a)
{
    double lo = -0.05, hi = 0.05;
    if ((a[0] && want_num(E, call, a[0], "minval", &lo)) || (a[1] && want_num(E, call, a[1], "maxval", &hi)))
        return poison(E);
    if (!(hi > lo)) {
        err(E, at(E, call), "uniform(): maxval %g must be above minval %g", hi, lo);
        return poison(E);
    }
    return init_v(E, call, GR_INIT_UNIFORM, lo, hi);
}

static value *normal_init(elab *E, const fe_expr *call, value **a, gr_init k)
{
    double mean = 0, sd = 1;
    if ((a[0] && want_num(E, call, a[0], "mean", &mean)) || (a[1] && want_num(E, call, a[1], "stddev", &sd)))
        return poison(E);
    if (!(sd > 0)) {
        err(E, at_value(E, a[1], call), "%s(): stddev must be above 0, not %g", fname(call), sd);
        return poison(E);
    }
    return init_v(E, call, k, mean, sd);
}

static value *bi_normal(elab *E, const fe_expr *call, value **a) { return normal_init(E, call, a, GR_INIT_NORMAL); }
static value *bi_truncated_normal(elab *E, const fe_expr *call, value **a)
{
    return normal_init(E, call, a, GR_INIT_TRUNC_NORMAL);
}

/* ---- the table of built-ins -------------------------------------------------------- */

static const builtin builtins[] = {
    /* numbers and lists */
    { "len", "x", bi_len, B_PLAIN },
    { "range", "start stop?", bi_range, B_PLAIN },
    { "str", "x", bi_str, B_PLAIN },
    { "int", "x", bi_int, B_PLAIN },
    { "float", "x", bi_float, B_PLAIN },
    { "require", "condition message at?", bi_require, B_PLAIN },
    { "error", "message at?", bi_error, B_PLAIN },
    { "contains", "list x", bi_contains, B_PLAIN },
    /* math on numbers and tensors */
    { "exp", "x", bi_exp, B_ACTIVATION },
    { "log", "x", bi_log, B_ACTIVATION },
    { "sqrt", "x", bi_sqrt, B_ACTIVATION },
    { "abs", "x", bi_abs, B_ACTIVATION },
    { "square", "x", bi_square, B_ACTIVATION },
    { "sign", "x", bi_sign, B_ACTIVATION },
    { "sigmoid", "x", bi_sigmoid, B_ACTIVATION },
    { "tanh", "x", bi_tanh, B_ACTIVATION },
    { "relu", "x", bi_relu, B_ACTIVATION },
    { "softplus", "x", bi_softplus, B_ACTIVATION },
    { "leaky_relu", "x alpha?", bi_leaky_relu, B_ACTIVATION },
    { "elu", "x alpha?", bi_elu, B_ACTIVATION },
    { "linear", "x", bi_linear, B_ACTIVATION },
    { "softmax", "x", bi_softmax, B_ACTIVATION },
    { "log_softmax", "x", bi_log_softmax, B_ACTIVATION },
    { "min", "x y? axis? keepdims?", bi_min, B_PLAIN },
    { "max", "x y? axis? keepdims?", bi_max, B_PLAIN },
    { "minimum", "x y", bi_minimum, B_PLAIN },
    { "maximum", "x y", bi_maximum, B_PLAIN },
    { "to_float", "x", bi_to_float, B_PLAIN },
    { "select", "condition x y", bi_select, B_PLAIN },
    { "add_n", "tensors", bi_add_n, B_PLAIN },
    /* shapes, reductions, linear algebra */
    { "matmul", "a b transpose_a? transpose_b?", bi_matmul, B_PLAIN },
    { "sum", "x axis? keepdims?", bi_sum, B_PLAIN },
    { "mean", "x axis? keepdims?", bi_mean, B_PLAIN },
    { "dim", "x axis", bi_dim, B_PLAIN },
    { "reshape", "x shape", bi_reshape, B_PLAIN },
    { "concat", "tensors axis?", bi_concat, B_PLAIN },
    { "slice", "x axis start length", bi_slice, B_PLAIN },
    { "transpose", "x", bi_transpose, B_PLAIN },
    { "argmax", "x", bi_argmax, B_PLAIN },
    { "one_hot", "ids depth", bi_one_hot, B_PLAIN },
    { "tensor", "values", bi_tensor, B_PLAIN },
    { "batch_broadcast", "x", bi_batch_broadcast, B_PLAIN },
    /* variables and modes */
    { "variable", "shape init? trainable? name?", bi_variable, B_PLAIN },
    { "dropout", "x rate", bi_dropout, B_PLAIN },
    { "assign_moving_average", "variable value momentum", bi_assign_moving_average, B_PLAIN },
    /* feature columns */
    { "input_layer", "columns", bi_input_layer, B_PLAIN },
    { "embedding", "column dimension combiner? initializer? trainable?", bi_embedding, B_PLAIN },
    { "shared_embeddings", "columns dimension combiner? initializer?", bi_shared_embeddings, B_PLAIN },
    { "indicator", "column", bi_indicator, B_PLAIN },
    { "ids", "column", bi_ids, B_PLAIN },
    { "is_categorical", "column", bi_is_categorical, B_PLAIN },
    { "num_buckets", "column", bi_num_buckets, B_PLAIN },
    { "column_name", "column", bi_column_name, B_PLAIN },
    { "gather", "table ids combiner?", bi_gather, B_PLAIN },
    /* losses and the label */
    { "sigmoid_cross_entropy", "logits labels", bi_sigmoid_xent, B_PLAIN },
    { "softmax_cross_entropy", "logits labels", bi_softmax_xent, B_PLAIN },
    { "label_n_classes", "", bi_label_n_classes, B_PLAIN },
    { "label_classes", "", bi_label_vocabulary, B_PLAIN },
    { "label_name", "", bi_label_name, B_PLAIN },
    { "head_kind", "", bi_head_kind, B_PLAIN },
    /* optimizers */
    { "sgd", "learning_rate", bi_sgd, B_OPTIMIZER },
    { "adagrad", "learning_rate | initial_accumulator_value?", bi_adagrad, B_OPTIMIZER },
    { "adam", "learning_rate? | beta1? beta2? epsilon?", bi_adam, B_OPTIMIZER },
    { "ftrl", "learning_rate? | learning_rate_power? initial_accumulator_value? l1? l2?", bi_ftrl, B_OPTIMIZER },
    { "default_learning_rate", "optimizer rate", bi_default_lr, B_PLAIN },
    /* initializers */
    { "zeros", "", bi_zeros, B_INIT },
    { "ones", "", bi_ones, B_INIT },
    { "constant", "value", bi_constant, B_INIT },
    { "uniform", "minval? maxval?", bi_uniform, B_INIT },
    { "normal", "mean? stddev?", bi_normal, B_INIT },
    { "truncated_normal", "mean? stddev?", bi_truncated_normal, B_INIT },
    { "glorot_uniform", "", bi_glorot_uniform, B_INIT },
    { "glorot_normal", "", bi_glorot_normal, B_INIT },
    { "he_normal", "", bi_he_normal, B_INIT },
};

static const builtin *find_builtin(const char *name)
{
    for (size_t i = 0; i < ES_ARRAY_LEN(builtins); i++)
        if (strcmp(builtins[i].name, name) == 0) return &builtins[i];
    return NULL;
}

/* ---- binding arguments to parameters ---------------------------------------------- */

typedef struct pdesc {
    const char *name;
    int required;
    int positional;
} pdesc;

/* A built-in's parameters from its spec: "x alpha? | named?" ('?' optional, names
 * after '|' cannot be given by position). */
static int builtin_params(const builtin *b, pdesc *p, char names[][32])
{
    int n = 0, positional = 1;
    const char *s = b->params;
    while (*s && n < MAX_ARGS) {
        while (*s == ' ') s++;
        if (!*s) break;
        if (*s == '|') { positional = 0; s++; continue; }
        int k = 0;
        while (*s && *s != ' ' && *s != '?' && k < 31) names[n][k++] = *s++;
        names[n][k] = 0;
        p[n].name = names[n];
        p[n].required = *s != '?';
        p[n].positional = positional;
        if (*s == '?') s++;
        n++;
    }
    return n;
}

static es_span arg_span(const elab *E, const argval *g, const fe_expr *call)
{
    return is_user(E, g->span) ? g->span : at(E, call);
}

static es_span name_at(const elab *E, const fe_expr *call)
{
    return call && is_user(E, call->name_span) ? call->name_span : E->fr->user_span;
}

/* Binds arguments to parameters: slot[i] is the argument of parameter i or -1.
 * Reports positional-after-named, too many positional arguments, unknown and
 * duplicate names, and missing required ones. word: "option", "hyper-parameter". */
static int bind_args(elab *E, const char *fn, const char *word, const fe_expr *call, const pdesc *p, int np,
                     const argval *args, int nargs, int *slot)
{
    int bad = 0, npos = 0, given_pos = 0, seen_named = 0, misplaced = 0;
    const char *names[2 * MAX_ARGS + 8];
    for (int i = 0; i < np; i++) {
        slot[i] = -1;
        if (p[i].positional) npos++;
        names[i] = p[i].name;
    }
    for (int k = 0; k < nargs; k++) {
        const argval *g = &args[k];
        if (!g->name) {
            if (seen_named) {
                err(E, arg_span(E, g, call), "positional argument after a named one: name it (for example %s = ...)",
                    given_pos < npos ? p[given_pos].name : word);
                bad = misplaced = 1;
                continue;
            }
            if (given_pos >= npos) {
                if (npos == 0)
                    err(E, arg_span(E, g, call), "%s() takes no positional arguments: name this one (%s = ...)", fn,
                        np ? p[0].name : "name");
                else
                    err(E, arg_span(E, g, call), "%s() takes %d positional argument%s (%s), then named ones "
                        "(name = value)", fn, npos, npos == 1 ? "" : "s", join_names(E, names, npos));
                bad = 1;
                given_pos++;
                continue;
            }
            slot[given_pos++] = k;
            continue;
        }
        seen_named = 1;
        int j = 0;
        while (j < np && strcmp(p[j].name, g->name) != 0) j++;
        if (j == np) {
            hint h = { 0 };
            for (int i = 0; i < np; i++) hint_try(&h, g->name, p[i].name);
            es_span sp = is_user(E, g->name_span) ? g->name_span : at(E, call);
            if (h.best) err(E, sp, "%s() has no %s '%s'%s", fn, word, g->name, hint_text(E, &h));
            else if (np) err(E, sp, "%s() has no %s '%s' (its %ss: %s)", fn, word, g->name, word,
                             join_names(E, names, np));
            else err(E, sp, "%s() takes no arguments", fn);
            bad = 1;
            continue;
        }
        if (slot[j] >= 0) {
            es_span sp = is_user(E, g->name_span) ? g->name_span : at(E, call);
            const argval *first = &args[slot[j]];
            if (first->name) {
                err(E, sp, "%s '%s' is given twice", word, g->name);
                if (is_user(E, first->name_span)) note(E, first->name_span, "first given here");
            } else {
                err(E, sp, "'%s' is given twice: by position and by name", g->name);
                if (is_user(E, first->span)) note(E, first->span, "given by position here");
            }
            bad = 1;
            continue;
        }
        slot[j] = k;
    }
    for (int i = 0; i < np && !misplaced; i++)
        if (p[i].required && slot[i] < 0) {
            err(E, name_at(E, call), "%s() needs '%s'", fn, p[i].name);
            bad = 1;
        }
    return bad ? -1 : 0;
}

/* ---- types of parameters ---------------------------------------------------------- */

/* A value with a broken part (an item of a list, an entry of a map): using it
 * would only produce follow-on messages. */
static int has_poison(const value *v, int depth)
{
    if (v->k == V_POISON) return 1;
    if ((v->k == V_LIST || v->k == V_MAP) && depth < 8)
        for (int i = 0; i < v->n; i++) if (has_poison(v->items[i], depth + 1)) return 1;
    return 0;
}

static const char *type_words(const char *t)
{
    static const struct { const char *t, *w; } tw[] = {
        { "int", "a whole number" }, { "float", "a number" }, { "number", "a number" },
        { "bool", "true or false" }, { "string", "a string" }, { "list", "a list" },
        { "list[int]", "a list of whole numbers" }, { "list[float]", "a list of numbers" },
        { "list[number]", "a list of numbers" }, { "list[string]", "a list of strings" },
        { "list[column]", "a list of feature columns" }, { "column", "a feature column" },
        { "tensor", "a tensor" }, { "optimizer", "an optimizer" }, { "function", "a function" },
        { "initializer", "an initializer" }, { "map", "a map" }, { "any", "any value" },
    };
    for (size_t i = 0; i < ES_ARRAY_LEN(tw); i++)
        if (strcmp(tw[i].t, t) == 0) return tw[i].w;
    return NULL;
}

/* The type a default implies, read from its text: [64, 32] is a list of whole
 * numbers, adagrad(...) an optimizer. NULL: anything goes. */
static const char *infer_type(const fe_expr *d)
{
    if (!d) return NULL;
    switch (d->kind) {
    case FE_E_NUMBER: return d->is_int ? "int" : "float";
    case FE_E_NEG: return d->lhs->kind == FE_E_NUMBER ? (d->lhs->is_int ? "int" : "float") : NULL;
    case FE_E_STRING: return "string";
    case FE_E_BOOL: return "bool";
    case FE_E_MAP: return NULL;
    case FE_E_LIST: {
        int ints = 1, nums = 1, strs = 1;
        for (int i = 0; i < d->nitems; i++) {
            if (d->items[i]->kind != FE_E_NUMBER) ints = nums = 0;
            else if (!d->items[i]->is_int) ints = 0;
            if (d->items[i]->kind != FE_E_STRING) strs = 0;
        }
        if (d->nitems == 0) return "list";
        return ints ? "list[int]" : nums ? "list[float]" : strs ? "list[string]" : "list";
    }
    case FE_E_CALL: case FE_E_IDENT: {
        const builtin *b = find_builtin(d->str);
        if (!b) return NULL;
        if (b->kind == B_OPTIMIZER) return "optimizer";
        if (b->kind == B_INIT) return "initializer";
        if (b->kind == B_ACTIVATION && d->kind == FE_E_IDENT) return "function";
        return NULL;
    }
    case FE_E_BINARY: case FE_E_NOT: case FE_E_INDEX: case FE_E_SLICE: case FE_E_ATTR: case FE_E_ERROR:
        return NULL;
    }
    return NULL;
}

static int is_type(elab *E, const char *t, value **vp, const fe_expr *call, int *bad_item)
{
    value *v = *vp;
    if (bad_item) *bad_item = -1;
    if (strcmp(t, "any") == 0) return 1;
    if (strcmp(t, "int") == 0) return v->k == V_NUM && v->num == floor(v->num);
    if (strcmp(t, "float") == 0 || strcmp(t, "number") == 0) return v->k == V_NUM;
    if (strcmp(t, "bool") == 0) return v->k == V_BOOL;
    if (strcmp(t, "string") == 0) return v->k == V_STR;
    if (strcmp(t, "map") == 0) return v->k == V_MAP;
    if (strcmp(t, "column") == 0) return v->k == V_COLUMN;
    if (strcmp(t, "tensor") == 0) return v->k == V_TENSOR || v->k == V_COLUMN || v->k == V_NUM;
    if (strcmp(t, "function") == 0) return v->k == V_FUNC;
    if (strcmp(t, "optimizer") == 0) {
        if (v->k == V_MAP) {
            for (int i = 0; i < v->n; i++) {
                value *o = v->items[i];
                if (o->k == V_FUNC && o->fn->b && o->fn->b->kind == B_OPTIMIZER)
                    v->items[i] = o = call_builtin(E, o->fn->b, call, NULL, 0);
                if (o->k != V_OPT && o->k != V_POISON) return 0;
            }
            return 1;
        }
        if (v->k == V_FUNC && v->fn->b && v->fn->b->kind == B_OPTIMIZER)
            *vp = v = call_builtin(E, v->fn->b, call, NULL, 0);
        return v->k == V_OPT || v->k == V_POISON;
    }
    if (strcmp(t, "initializer") == 0) {
        if (v->k == V_FUNC && v->fn->b && v->fn->b->kind == B_INIT)
            *vp = v = call_builtin(E, v->fn->b, call, NULL, 0);
        return v->k == V_INIT || v->k == V_POISON;
    }
    if (strncmp(t, "list", 4) == 0) {
        if (v->k != V_LIST) return 0;
        if (t[4] != '[') return 1;
        char inner[32];
        snprintf(inner, sizeof inner, "%.*s", (int)strlen(t) - 6, t + 5);
        for (int i = 0; i < v->n; i++) {
            value *it = v->items[i];
            if (it->k == V_POISON) continue;
            if (!is_type(E, inner, &it, call, NULL)) {
                if (bad_item) *bad_item = i;
                return 0;
            }
            v->items[i] = it;
        }
        return 1;
    }
    return 1;
}

/* Checks (and coerces: a bare optimizer or initializer name is called) the value
 * of parameter pname against its annotation or the type its default implies. */
static int check_param_type(elab *E, const char *fn, const char *pname, const char *annot, es_span annot_span,
                            const fe_expr *def, es_span decl_span, value **vp, const fe_expr *call)
{
    value *v = *vp;
    if (has_poison(v, 0)) {
        *vp = poison(E);
        return -1;
    }
    if (annot && !type_words(annot)) {
        err(E, is_user(E, annot_span) ? annot_span : annot_span, "unknown type '%s' (the types: int, float, "
            "bool, string, list, list[int], list[float], list[string], list[column], column, tensor, optimizer, "
            "function, initializer, map, any)", annot);
        return -1;
    }
    const char *t = annot ? annot : infer_type(def);
    if (!t) return 0;
    /* a parameter whose default is none may be none */
    if (v->k == V_NONE && def && def->kind == FE_E_IDENT && strcmp(def->str, "none") == 0) return 0;
    int bad_item;
    if (is_type(E, t, vp, call, &bad_item)) return 0;
    es_span sp = is_user(E, v->sp) ? v->sp : at(E, call);
    if (bad_item >= 0) {
        const value *it = v->items[bad_item];
        char inner[32];
        snprintf(inner, sizeof inner, "%.*s", (int)strlen(t) - 6, t + 5);
        err(E, is_user(E, it->sp) ? it->sp : sp, "%s(): each entry of '%s' must be %s, not %s", fn, pname,
            type_words(inner), describe(E, it));
    } else if (def && !annot)
        err(E, sp, "%s(): '%s' must be %s (like its default %.*s), not %s", fn, pname, type_words(t),
            def->span.len > 40 ? 40 : def->span.len, def->span.src->text + def->span.off, describe(E, v));
    else err(E, sp, "%s(): '%s' must be %s, not %s", fn, pname, type_words(t), describe(E, v));
    if (is_user(E, decl_span)) note(E, decl_span, "'%s' is declared here", pname);
    *vp = poison(E);
    return -1;
}

/* ---- calls ------------------------------------------------------------------------- */

static value *eval(elab *E, const fe_expr *e);
static void exec_block(elab *E, const fe_block *b, int top);

static value *call_builtin(elab *E, const builtin *b, const fe_expr *call, const argval *args, int nargs)
{
    pdesc p[MAX_ARGS] = { { 0 } };
    char names[MAX_ARGS][32];
    int np = builtin_params(b, p, names), slot[MAX_ARGS];
    int bad = bind_args(E, b->name, "option", call, p, np, args, nargs, slot);
    value *a[MAX_ARGS + 4];
    memset(a, 0, sizeof a);
    int absent = 0;
    for (int i = 0; i < np; i++) {
        if (slot[i] < 0) {
            if (p[i].required) return poison(E);
            continue;
        }
        a[i] = args[slot[i]].v;
        if (a[i]->k == V_POISON) return poison(E);
        if (is_absent(a[i])) absent = 1;
    }
    if (absent) return absent_v(E, at(E, call));
    const char *target = E->call_target;
    /* after a misnamed option the others are still checked: one run, every mistake */
    value *r = b->fn(E, call, a);
    E->call_target = target;
    return bad ? poison(E) : r;
}

/* "f() -> g() -> f()" */
static const char *call_chain(elab *E, int from, const char *last)
{
    char *r = "";
    for (int i = from; i < E->depth; i++) r = es_sprintf(E->a, "%s%s() -> ", r, E->stack[i]->name);
    return es_sprintf(E->a, "%s%s()", r, last);
}

static value *call_def(elab *E, const func *fn, const fe_expr *call, const argval *args, int nargs)
{
    const fe_decl *d = fn->decl;
    for (int i = 0; i < E->depth; i++)
        if (E->stack[i] == d) {
            err(E, at(E, call), "recursive call: %s (helpers are expanded when the model is compiled, so a "
                "helper cannot call itself)", call_chain(E, i, d->name));
            return poison(E);
        }
    if (E->depth >= MAX_CALLS) {
        err(E, at(E, call), "helpers call each other more than %d deep", MAX_CALLS);
        return poison(E);
    }
    pdesc p[MAX_ARGS] = { { 0 } };
    if (d->nparams > MAX_ARGS) {
        err(E, at(E, call), "%s() has %d parameters; a def takes at most %d", d->name, d->nparams, MAX_ARGS);
        return poison(E);
    }
    int np = d->nparams, slot[MAX_ARGS];
    for (int i = 0; i < np; i++) {
        p[i].name = d->params[i].name;
        p[i].required = d->params[i].def == NULL;
        p[i].positional = 1;
    }
    if (bind_args(E, d->name, "parameter", call, p, np, args, nargs, slot)) return poison(E);
    for (int i = 0; i < np; i++)
        if (slot[i] >= 0 && has_poison(args[slot[i]].v, 0)) return poison(E);
    frame f;
    memset(&f, 0, sizeof f);
    f.up = E->fr;
    f.module = fn->module;
    f.fn = d;
    f.user_span = is_user(E, call->span) ? call->span : E->fr->user_span;
    E->stack[E->depth++] = d;
    frame *caller = E->fr;
    E->fr = &f;
    int bad = 0;
    for (int i = 0; i < np; i++) {
        const fe_param *pp = &d->params[i];
        value *v = slot[i] >= 0 ? args[slot[i]].v : eval(E, pp->def);
        if (check_param_type(E, d->name, pp->name, pp->type, pp->type_span, pp->def, pp->span, &v, call)) bad = 1;
        bind(E, &f, pp->name, v);
    }
    if (!bad) exec_block(E, &d->body, 0);
    E->fr = caller;
    E->depth--;
    if (bad) return poison(E);
    return f.ret ? f.ret : none_v(E, at(E, call));
}

static value *lookup(elab *E, const fe_expr *e, int report);

static value *eval_call(elab *E, const fe_expr *e)
{
    const char *target = E->pending_target;
    E->pending_target = NULL;
    /* the callee: a local holding a function, a def, or a built-in */
    const func *fn = NULL;
    value *lv = local(E->fr, e->str);
    if (lv) {
        if (lv->k == V_POISON) return lv;
        if (lv->k != V_FUNC) {
            err(E, name_at(E, e), "'%s' is %s, not a function", e->str, describe(E, lv));
            return poison(E);
        }
        fn = lv->fn;
    } else {
        fe_expr id = *e;
        id.kind = FE_E_IDENT;
        id.span = e->name_span;
        value *gv = lookup(E, &id, 0);
        if (gv && gv->k == V_FUNC) fn = gv->fn;
        else if (gv && gv->k != V_POISON) {
            err(E, name_at(E, e), "'%s' is %s, not a function", e->str, describe(E, gv));
            return poison(E);
        } else if (gv) return gv;
    }
    if (!fn) {
        const fe_global *g = E->fr->module == 0 ? global(E, e->str) : NULL;
        if (g && g->kind == FE_G_MODEL)
            err(E, name_at(E, e), "'%s' is a model: models are not called, an estimator declaration "
                "instantiates one (estimator e = %s(...))", e->str, e->str);
        else {
            hint h = { 0 };
            for (size_t i = 0; i < ES_ARRAY_LEN(builtins); i++) hint_try(&h, e->str, builtins[i].name);
            for (int i = 0; i < E->in->nglobals; i++)
                if (E->in->globals[i].kind == FE_G_DEF) hint_try(&h, e->str, E->in->globals[i].name);
            for (int i = 0; i < E->in->nstdlib; i++)
                for (int j = 0; j < E->in->stdlib[i]->decls.n; j++)
                    if (E->in->stdlib[i]->decls.v[j]->kind == FE_D_DEF)
                        hint_try(&h, e->str, E->in->stdlib[i]->decls.v[j]->name);
            err(E, name_at(E, e), "unknown function '%s'%s", e->str, hint_text(E, &h));
        }
        return poison(E);
    }
    argval *args = es_alloc(E->a, sizeof(argval) * (size_t)(e->nargs ? e->nargs : 1));
    for (int i = 0; i < e->nargs; i++) {
        args[i].name = e->args[i].name;
        args[i].name_span = e->args[i].name_span;
        args[i].span = e->args[i].span;
        args[i].v = eval(E, e->args[i].value);
    }
    if (fn->b) {
        E->call_target = target;
        value *r = call_builtin(E, fn->b, e, args, e->nargs);
        E->call_target = NULL;
        return r;
    }
    return call_def(E, fn, e, args, e->nargs);
}

/* ---- names ------------------------------------------------------------------------- */

static const func *def_func(elab *E, const fe_decl *d, int module)
{
    func *f = es_alloc(E->a, sizeof *f);
    f->name = d->name;
    f->decl = d;
    f->module = module;
    return f;
}

static const func *builtin_func(elab *E, const builtin *b)
{
    func *f = es_alloc(E->a, sizeof *f);
    f->name = b->name;
    f->b = b;
    return f;
}

static value *feature_value(elab *E, const fe_global *g, es_span sp)
{
    if (g->column) {
        /* a column declared at the top (feature e = embedding(occ, 8)): evaluated where it is used */
        frame f;
        memset(&f, 0, sizeof f);
        f.up = E->fr;
        f.module = 0;
        f.user_span = g->column->span;
        frame *caller = E->fr;
        E->fr = &f;
        value *v = eval(E, g->column);
        E->fr = caller;
        if (v->k == V_COLUMN) {
            column *c = es_alloc(E->a, sizeof *c);
            *c = *v->col;
            c->name = g->name;
            if (c->kind == COL_EMBEDDING && c->table == v->col->name) c->table = g->name;
            return column_v(E, c, sp);
        }
        if (v->k != V_POISON)
            err(E, g->column->span, "feature '%s' must be a feature column, not %s", g->name, describe(E, v));
        return poison(E);
    }
    if (!g->feature) return poison(E);
    column *c = es_alloc(E->a, sizeof *c);
    c->kind = COL_FEATURE;
    c->f = g->feature;
    c->name = g->feature->name;
    return column_v(E, c, sp);
}

/* The value of a name; NULL (after a message if report) when it has none. */
static value *lookup(elab *E, const fe_expr *e, int report)
{
    const char *name = e->str;
    es_span sp = e->span;
    value *v = local(E->fr, name);
    if (v) return v;
    if (E->fr->module == 0) {
        const fe_global *g = global(E, name);
        if (g) {
            switch (g->kind) {
            case FE_G_FEATURE: return feature_value(E, g, sp);
            case FE_G_LABEL: return label_value(E, sp);
            case FE_G_DEF: return func_v(E, def_func(E, g->decl, 0), sp);
            case FE_G_MODEL:
                err(E, at(E, e), "'%s' is a model: an estimator declaration instantiates it", name);
                return poison(E);
            case FE_G_SOURCE: case FE_G_ESTIMATOR:
                err(E, at(E, e), "'%s' is a %s, not a value a model can use", name,
                    g->kind == FE_G_SOURCE ? "source" : "estimator");
                return poison(E);
            }
        }
    }
    const fe_decl *d = stdlib_decl(E, name, FE_D_DEF);
    if (d) return func_v(E, def_func(E, d, 1), sp);
    if (strcmp(name, "none") == 0) return none_v(E, sp);
    if (strcmp(name, "labels") == 0) return label_value(E, sp);
    if (strcmp(name, "training") == 0) return bool_v(E, E->mode == GR_PROG_TRAIN, sp);
    if (strcmp(name, "mode") == 0)
        return str_v(E, E->mode == GR_PROG_TRAIN ? "train" : E->mode == GR_PROG_EVAL ? "eval" : "predict", sp);
    const builtin *b = find_builtin(name);
    if (b) return func_v(E, builtin_func(E, b), sp);
    if (!report) return NULL;
    const es_source_spec *train = E->in->spec->train;
    if (E->fr->module == 0 && train)
        for (int i = 0; i < train->ncols; i++)
            if (strcmp(train->cols[i].name, name) == 0) {
                err(E, at(E, e), "'%s' is a column, not a feature: declare one, e.g. feature %s_f = numeric(%s)",
                    name, name, name);
                return poison(E);
            }
    hint h = { 0 };
    for (frame *f = E->fr; f; f = NULL)
        for (int i = 0; i < f->vars.n; i++) hint_try(&h, name, f->vars.v[i].name);
    if (E->fr->module == 0)
        for (int i = 0; i < E->in->nglobals; i++)
            if (E->in->globals[i].kind != FE_G_SOURCE && E->in->globals[i].kind != FE_G_ESTIMATOR)
                hint_try(&h, name, E->in->globals[i].name);
    for (size_t i = 0; i < ES_ARRAY_LEN(builtins); i++) hint_try(&h, name, builtins[i].name);
    static const char *const special[] = { "none", "labels", "training", "mode" };
    for (size_t i = 0; i < ES_ARRAY_LEN(special); i++) hint_try(&h, name, special[i]);
    err(E, at(E, e), "unknown name '%s'%s", name, hint_text(E, &h));
    return poison(E);
}

/* ---- expressions ------------------------------------------------------------------- */

static const char *op_text(int op)
{
    switch (op) {
    case '+': return "+";
    case '-': return "-";
    case '*': return "*";
    case '/': return "/";
    case '@': return "@";
    case '<': return "<";
    case '>': return ">";
    case FE_OP_LE: return "<=";
    case FE_OP_GE: return ">=";
    case FE_OP_EQ: return "==";
    case FE_OP_NE: return "!=";
    case FE_OP_AND: return "and";
    case FE_OP_OR: return "or";
    default: return "?";
    }
}

static int is_tensorish(const value *v) { return v->k == V_TENSOR || v->k == V_COLUMN; }

/* == and != on plain values */
static int plain_equal(const value *a, const value *b, int *eq)
{
    if (a->k != b->k) {
        *eq = 0;
        return a->k == V_NONE || b->k == V_NONE || (a->k != V_TENSOR && b->k != V_TENSOR) ? 0 : -1;
    }
    switch (a->k) {
    case V_NONE: *eq = 1; return 0;
    case V_NUM: *eq = a->num == b->num; return 0;
    case V_BOOL: *eq = a->b == b->b; return 0;
    case V_STR: *eq = strcmp(a->s, b->s) == 0; return 0;
    case V_LIST:
        if (a->n != b->n) { *eq = 0; return 0; }
        for (int i = 0; i < a->n; i++) {
            if (plain_equal(a->items[i], b->items[i], eq)) return -1;
            if (!*eq) return 0;
        }
        *eq = 1;
        return 0;
    case V_FUNC: *eq = a->fn->b ? a->fn->b == b->fn->b : a->fn->decl == b->fn->decl; return 0;
    case V_POISON: case V_MAP: case V_TENSOR: case V_COLUMN: case V_OPT: case V_INIT:
        break;
    }
    return -1;
}

static value *binop(elab *E, const fe_expr *e, value *l, value *r)
{
    es_span sp = at(E, e);
    int op = e->op;
    if (l->k == V_POISON || r->k == V_POISON) return poison(E);
    if ((op == FE_OP_EQ || op == FE_OP_NE) &&
        (l->k == V_NONE || r->k == V_NONE || (!is_tensorish(l) && !is_tensorish(r)))) {
        int eq;
        if (plain_equal(l, r, &eq) == 0) return bool_v(E, op == FE_OP_EQ ? eq : !eq, sp);
        err(E, sp, "cannot compare %s with %s", describe(E, l), describe(E, r));
        return poison(E);
    }
    if (l->k == V_NUM && r->k == V_NUM) {
        double a = l->num, b = r->num, x;
        int is_int = l->is_int && r->is_int;
        switch (op) {
        case '+': x = a + b; break;
        case '-': x = a - b; break;
        case '*': x = a * b; break;
        case '/':
            if (b == 0) { err(E, at(E, e->rhs), "division by zero"); return poison(E); }
            x = a / b;
            is_int = 0;
            break;
        case '<': return bool_v(E, a < b, sp);
        case '>': return bool_v(E, a > b, sp);
        case FE_OP_LE: return bool_v(E, a <= b, sp);
        case FE_OP_GE: return bool_v(E, a >= b, sp);
        default:
            err(E, sp, "'%s' needs %s on both sides, not numbers", op_text(op),
                op == '@' ? "tensors" : "true or false");
            return poison(E);
        }
        if (!isfinite(x)) { err(E, sp, "this arithmetic overflows"); return poison(E); }
        return num_v(E, x, is_int, sp);
    }
    if (op == '+' && l->k == V_STR && r->k == V_STR) {
        if (strlen(l->s) + strlen(r->s) > MAX_STRING) {
            err(E, sp, "this string would be longer than %d bytes", MAX_STRING);
            return poison(E);
        }
        return str_v(E, es_sprintf(E->a, "%s%s", l->s, r->s), sp);
    }
    if (op == '+' && l->k == V_LIST && r->k == V_LIST) {
        if (l->n + r->n > MAX_ITER) {
            err(E, sp, "this list would have more than %d items", MAX_ITER);
            return poison(E);
        }
        value **items = es_alloc(E->a, sizeof(value *) * (size_t)(l->n + r->n + 1));
        for (int i = 0; i < l->n; i++) items[i] = l->items[i];
        for (int i = 0; i < r->n; i++) items[l->n + i] = r->items[i];
        return list_v(E, l->n + r->n, items, sp);
    }
    int tl = is_tensorish(l) || l->k == V_NUM, tr = is_tensorish(r) || r->k == V_NUM;
    if (!tl || !tr || op == FE_OP_AND || op == FE_OP_OR) {
        if (op == '+' && (l->k == V_STR || r->k == V_STR))
            err(E, sp, "'+' joins two strings, not %s and %s (convert a number with str())", describe(E, l),
                describe(E, r));
        else
            err(E, sp, "'%s' does not apply to %s and %s", op_text(op), describe(E, l), describe(E, r));
        return poison(E);
    }
    if (is_absent(l) || is_absent(r)) return absent_v(E, sp);
    int x = to_node(E, l, e->lhs, NULL, "the left operand"), y = to_node(E, r, e->rhs, NULL, "the right operand");
    if (x == GR_NONE || y == GR_NONE) return poison(E);
    if (dtype_of(E, x) == GR_I32) x = un(E, GR_CAST_F32, x, sp);
    if (dtype_of(E, y) == GR_I32) y = un(E, GR_CAST_F32, y, sp);
    gr_op g;
    switch (op) {
    case '+': g = GR_ADD; break;
    case '-': g = GR_SUB; break;
    case '*': g = GR_MUL; break;
    case '/': g = GR_DIV; break;
    case '@': return tensor_v(E, matmul(E, x, y, 0, 0, sp), sp);
    case '<': g = GR_LESS; break;
    case '>': g = GR_GREATER; break;
    case FE_OP_LE: g = GR_LESS_EQUAL; break;
    case FE_OP_GE: g = GR_GREATER_EQUAL; break;
    case FE_OP_EQ: g = GR_EQUAL; break;
    case FE_OP_NE: g = GR_NOT_EQUAL; break;
    default: return poison(E);
    }
    return tensor_v(E, bin(E, g, x, y, sp), sp);
}

static int want_index(elab *E, const fe_expr *e, value *v, int64_t n, int64_t *out, int allow_end)
{
    if (v->k != V_NUM || v->num != floor(v->num)) {
        if (v->k != V_POISON) err(E, at(E, e), "an index must be a whole number, not %s", describe(E, v));
        return -1;
    }
    int64_t k = (int64_t)v->num;
    if (k < 0) k += n;
    if (k < 0 || k > n || (!allow_end && k == n)) {
        err(E, at(E, e), "index %lld is out of range (the size is %lld)", (long long)v->num, (long long)n);
        return -1;
    }
    *out = k;
    return 0;
}

/* x[a, b:c, :]: an item of a list or map, or slices of a tensor */
static value *eval_index(elab *E, const fe_expr *e)
{
    value *x = eval(E, e->lhs);
    if (x->k == V_POISON) return x;
    if (x->k == V_LIST || x->k == V_MAP || x->k == V_STR) {
        if (e->nitems != 1 || e->items[0]->kind == FE_E_SLICE) {
            err(E, at(E, e), "a %s takes one index in [...]", x->k == V_MAP ? "map" : "list");
            return poison(E);
        }
        value *k = eval(E, e->items[0]);
        if (k->k == V_POISON) return k;
        if (x->k == V_MAP) {
            if (k->k != V_STR) {
                err(E, at(E, e->items[0]), "a map's keys are strings, not %s", describe(E, k));
                return poison(E);
            }
            for (int i = 0; i < x->n; i++) if (strcmp(x->keys[i], k->s) == 0) return x->items[i];
            hint h = { 0 };
            for (int i = 0; i < x->n; i++) hint_try(&h, k->s, x->keys[i]);
            err(E, at(E, e->items[0]), "the map has no entry \"%s\"%s", k->s, hint_text(E, &h));
            return poison(E);
        }
        int64_t i;
        int64_t n = x->k == V_STR ? (int64_t)strlen(x->s) : x->n;
        if (want_index(E, e->items[0], k, n, &i, 0)) return poison(E);
        if (x->k == V_STR) return str_v(E, es_strndup(E->a, x->s + i, 1), at(E, e));
        return x->items[i];
    }
    if (is_absent(x)) return x;
    int t = to_node(E, x, e->lhs, NULL, "what is indexed");
    if (t == GR_NONE) return poison(E);
    gr_shape s = shape_of(E, t);
    es_span sp = at(E, e);
    if (e->nitems > s.rank) {
        err(E, sp, "%d indices for a tensor of rank %d (%s)", e->nitems, s.rank, shape_text(E, s));
        return poison(E);
    }
    int drop[GR_MAXDIMS] = { 0 }, ndrop = 0;
    for (int ax = 0; ax < e->nitems; ax++) {
        const fe_expr *sub = e->items[ax];
        int64_t d = s.d[ax], start = 0, stop = d;
        if (sub->kind == FE_E_SLICE) {
            value *a = sub->lhs ? eval(E, sub->lhs) : NULL, *b = sub->rhs ? eval(E, sub->rhs) : NULL;
            if (!a && !b) continue;
            if (d == GR_BATCH) {
                err(E, at(E, sub), "axis %d is the batch: it can only be taken whole (:)", ax);
                return poison(E);
            }
            if ((a && want_index(E, sub->lhs, a, d, &start, 1)) || (b && want_index(E, sub->rhs, b, d, &stop, 1)))
                return poison(E);
            if (stop <= start) {
                err(E, at(E, sub), "the slice %lld:%lld is empty", (long long)start, (long long)stop);
                return poison(E);
            }
        } else {
            value *k = eval(E, sub);
            if (d == GR_BATCH) {
                err(E, at(E, sub), "axis %d is the batch: it can only be taken whole (:)", ax);
                return poison(E);
            }
            if (want_index(E, sub, k, d, &start, 0)) return poison(E);
            stop = start + 1;
            drop[ax] = 1;
            ndrop++;
        }
        if (start == 0 && stop == d && !drop[ax]) continue;
        t = slice_node(E, t, ax, start, stop - start, sp);
        if (t == GR_NONE) return poison(E);
    }
    if (ndrop) {
        gr_shape r = gr_shape0(), cur = shape_of(E, t);
        for (int i = 0; i < cur.rank; i++) if (!drop[i]) r.d[r.rank++] = cur.d[i];
        t = reshape(E, t, r, sp);
    }
    return tensor_v(E, t, sp);
}

static value *eval(elab *E, const fe_expr *e)
{
    switch (e->kind) {
    case FE_E_NUMBER: return num_v(E, e->num, e->is_int, e->span);
    case FE_E_STRING: return str_v(E, e->str, e->span);
    case FE_E_BOOL: return bool_v(E, e->b, e->span);
    case FE_E_IDENT: return lookup(E, e, 1);
    case FE_E_CALL: return eval_call(E, e);
    case FE_E_LIST: {
        value **items = es_alloc(E->a, sizeof(value *) * (size_t)(e->nitems ? e->nitems : 1));
        for (int i = 0; i < e->nitems; i++) items[i] = eval(E, e->items[i]);
        return list_v(E, e->nitems, items, e->span);
    }
    case FE_E_MAP: {
        value *m = mk(E, V_MAP, e->span);
        m->n = e->nargs;
        m->items = es_alloc(E->a, sizeof(value *) * (size_t)(e->nargs ? e->nargs : 1));
        m->keys = es_alloc(E->a, sizeof(char *) * (size_t)(e->nargs ? e->nargs : 1));
        for (int i = 0; i < e->nargs; i++) {
            m->keys[i] = e->args[i].name;
            for (int j = 0; j < i; j++)
                if (strcmp(m->keys[j], m->keys[i]) == 0) {
                    err(E, is_user(E, e->args[i].name_span) ? e->args[i].name_span : at(E, e),
                        "\"%s\" appears twice in this map", m->keys[i]);
                    return poison(E);
                }
            m->items[i] = eval(E, e->args[i].value);
        }
        return m;
    }
    case FE_E_BINARY: {
        value *l = eval(E, e->lhs);
        if (e->op == FE_OP_AND || e->op == FE_OP_OR) {
            if (l->k == V_POISON) return l;
            if (l->k != V_BOOL) {
                err(E, at_value(E, l, e->lhs), "'%s' needs true or false, not %s", op_text(e->op), describe(E, l));
                return poison(E);
            }
            if (e->op == FE_OP_AND ? !l->b : l->b) return bool_v(E, l->b, at(E, e));
            value *r = eval(E, e->rhs);
            if (r->k == V_POISON) return r;
            if (r->k != V_BOOL) {
                err(E, at_value(E, r, e->rhs), "'%s' needs true or false, not %s", op_text(e->op), describe(E, r));
                return poison(E);
            }
            return bool_v(E, r->b, at(E, e));
        }
        return binop(E, e, l, eval(E, e->rhs));
    }
    case FE_E_NEG: {
        value *x = eval(E, e->lhs);
        if (x->k == V_POISON || is_absent(x)) return x;
        if (x->k == V_NUM) return num_v(E, -x->num, x->is_int, at(E, e));
        int n = to_node(E, x, e->lhs, NULL, "the operand of '-'");
        if (n != GR_NONE && dtype_of(E, n) == GR_I32) n = un(E, GR_CAST_F32, n, at(E, e));
        return tensor_v(E, n == GR_NONE ? GR_NONE : un(E, GR_NEG, n, at(E, e)), at(E, e));
    }
    case FE_E_NOT: {
        value *x = eval(E, e->lhs);
        if (x->k == V_POISON) return x;
        if (x->k != V_BOOL) {
            err(E, at_value(E, x, e->lhs), "'not' needs true or false, not %s", describe(E, x));
            return poison(E);
        }
        return bool_v(E, !x->b, at(E, e));
    }
    case FE_E_INDEX: return eval_index(E, e);
    case FE_E_ATTR: {
        value *m = eval(E, e->lhs);
        if (m->k == V_POISON || is_absent(m)) return m;
        if (m->k != V_MAP) {
            err(E, at(E, e), "'.%s' reads an entry of a map, and this is %s", e->str, describe(E, m));
            return poison(E);
        }
        for (int i = 0; i < m->n; i++) if (strcmp(m->keys[i], e->str) == 0) return m->items[i];
        hint h = { 0 };
        for (int i = 0; i < m->n; i++) hint_try(&h, e->str, m->keys[i]);
        err(E, is_user(E, e->name_span) ? e->name_span : at(E, e), "the map has no entry '%s'%s", e->str,
            hint_text(E, &h));
        return poison(E);
    }
    case FE_E_SLICE:
        err(E, at(E, e), "a slice a:b belongs inside [...]");
        return poison(E);
    case FE_E_ERROR:
        return poison(E);
    }
    return poison(E);
}

/* ---- statements ------------------------------------------------------------------- */

static int builtin_name(const char *n)
{
    return strcmp(n, "none") == 0 || strcmp(n, "labels") == 0 || strcmp(n, "training") == 0 ||
           strcmp(n, "mode") == 0;
}

/* The model's hyper-parameter `param name = default`, or the estimator's value for it. */
static void exec_param(elab *E, const fe_stmt *s, int top)
{
    if (!top || !E->fr->fn || E->fr->fn->kind != FE_D_MODEL) {
        err(E, is_user(E, s->span) ? s->span : E->fr->user_span, "'param' declares a hyper-parameter: it "
            "belongs at the top of a model's body, not in a def or inside a block");
        return;
    }
    value *v = NULL;
    for (int i = 0; i < E->noverrides; i++)
        if (strcmp(E->override_names[i], s->name) == 0) v = E->override_vals[i];
    const char *model = E->fr->fn->name;
    if (!v) v = eval(E, s->value);
    else check_param_type(E, model, s->name, s->type, s->type_span, s->value, s->name_span, &v, E->model_call);
    bind(E, E->fr, s->name, v);
}

static void exec_stmt(elab *E, const fe_stmt *s, int top);

static void exec_block(elab *E, const fe_block *b, int top)
{
    for (int i = 0; i < b->n && !E->fr->ret; i++) exec_stmt(E, b->v[i], top);
}

static void exec_stmt(elab *E, const fe_stmt *s, int top)
{
    if (++E->steps > MAX_STEPS || E->g->n > MAX_NODES) {
        if (!E->too_long)
            err(E, is_user(E, s->span) ? s->span : E->fr->user_span, "the model takes too long to build: more "
                "than %d statements or %d graph nodes (loops inside loops?)", MAX_STEPS, MAX_NODES);
        E->too_long = 1;
        E->fr->ret = poison(E);
        return;
    }
    switch (s->kind) {
    case FE_S_ASSIGN: {
        if (builtin_name(s->name)) {
            err(E, is_user(E, s->name_span) ? s->name_span : at(E, s->value), "'%s' is built in and cannot be "
                "assigned", s->name);
            return;
        }
        E->pending_target = s->value->kind == FE_E_CALL ? s->name : NULL;
        value *v = eval(E, s->value);
        E->pending_target = NULL;
        bind(E, E->fr, s->name, v);
        return;
    }
    case FE_S_PARAM:
        exec_param(E, s, top);
        return;
    case FE_S_EXPR: {
        /* a call made for its effect that failed (a check) ends this function too */
        value *v = eval(E, s->value);
        if (v->k == V_POISON) E->fr->ret = v;
        return;
    }
    case FE_S_RETURN:
        if (!E->fr->fn || E->fr->fn->kind != FE_D_DEF) {
            err(E, at(E, s->value), "'return' belongs in a def; a model assigns its outputs (loss, "
                "predictions, metrics, optimizer)");
            return;
        }
        E->fr->ret = eval(E, s->value);
        return;
    case FE_S_IF: {
        value *c = eval(E, s->value);
        if (c->k == V_POISON) return;
        if (c->k != V_BOOL) {
            err(E, at_value(E, c, s->value), "'if' needs true or false, not %s (conditions are decided when the "
                "model is compiled; for a condition per example use select())", describe(E, c));
            return;
        }
        if (c->b) exec_block(E, &s->body, 0);
        else if (s->has_else) exec_block(E, &s->else_body, 0);
        return;
    }
    case FE_S_FOR: {
        value *it = eval(E, s->value);
        if (it->k == V_POISON) return;
        if (it->k != V_LIST) {
            err(E, at_value(E, it, s->value), "'for' goes over a list, not %s", describe(E, it));
            return;
        }
        for (int i = 0; i < it->n && !E->fr->ret; i++) {
            if (s->name2) {
                bind(E, E->fr, s->name, num_v(E, i, 1, at(E, s->value)));
                bind(E, E->fr, s->name2, it->items[i]);
            } else bind(E, E->fr, s->name, it->items[i]);
            exec_block(E, &s->body, 0);
        }
        return;
    }
    case FE_S_SCOPE: {
        value *n = eval(E, s->value);
        if (n->k == V_POISON) return;
        if (n->k != V_STR || !*n->s) {
            err(E, at_value(E, n, s->value), "'scope' needs a name (a non-empty string), not %s", describe(E, n));
            return;
        }
        const char *path = scoped(E, n->s), *use = path;
        int found = -1;
        for (int i = 0; i < E->scopes.n; i++) if (strcmp(E->scopes.v[i].path, path) == 0) found = i;
        if (found < 0) {
            scope_use u = { path, 1 };
            es_vec_push(E->a, E->scopes, u);
        } else use = es_sprintf(E->a, "%s_%d", path, E->scopes.v[found].count++);
        const char *saved = E->scope;
        E->scope = use;
        exec_block(E, &s->body, 0);
        E->scope = saved;
        return;
    }
    }
}

/* ---- the model's outputs ------------------------------------------------------------ */

/* Where a message about an output belongs: its value if the user wrote it, else
 * the estimator declaration (for a stdlib model) or the model's name. */
static es_span out_span(elab *E, const value *v, const fe_decl *model)
{
    if (v && is_user(E, v->sp)) return v->sp;
    if (is_user(E, model->name_span)) return model->name_span;
    return E->fr->user_span;
}

static int out_count_ok(elab *E, es_span sp)
{
    if (E->g->noutputs < (int)ES_ARRAY_LEN(E->g->outputs)) return 1;
    err(E, sp, "a program has at most %d outputs (predictions and metrics together)",
        (int)ES_ARRAY_LEN(E->g->outputs));
    return 0;
}

/* A per-example value as [B,1] f32 ([B] is reshaped, ids converted); GR_NONE after a message. */
static int per_example(elab *E, value *v, es_span sp, const char *what)
{
    int x = to_node(E, v, NULL, NULL, what);
    if (x == GR_NONE) return GR_NONE;
    if (dtype_of(E, x) == GR_I32) x = un(E, GR_CAST_F32, x, sp);
    gr_shape s = shape_of(E, x);
    if (s.rank == 1 && s.d[0] == GR_BATCH) return reshape(E, x, gr_shape2(GR_BATCH, 1), sp);
    if (s.rank == 2 && s.d[0] == GR_BATCH && s.d[1] == 1) return x;
    err(E, sp, "%s must have one value per example ([B] or [B,1]), not %s", what, shape_text(E, s));
    return GR_NONE;
}

/* The training loss: the mean of per-example losses, or a number for the batch. */
static int train_loss(elab *E, value *loss, es_span sp)
{
    int x = to_node(E, loss, NULL, NULL, "loss");
    if (x == GR_NONE) return GR_NONE;
    gr_shape s = shape_of(E, x);
    if (s.rank == 0) return x;
    if ((s.rank == 1 && s.d[0] == GR_BATCH) || (s.rank == 2 && s.d[0] == GR_BATCH && s.d[1] == 1))
        return un(E, GR_MEAN, x, sp);
    err(E, sp, "loss must be one number per example ([B] or [B,1]) or one number for the batch, not %s",
        shape_text(E, s));
    return GR_NONE;
}

static int find_out(elab *E, const char *name) { return gr_find_output(E->g, name); }

static int out_is(elab *E, int node, int64_t cols)
{
    gr_shape s = shape_of(E, node);
    return s.rank == 2 && s.d[0] == GR_BATCH && s.d[1] == cols && dtype_of(E, node) == GR_F32;
}

/* The head's conventional outputs, which the runtime's metrics and `estc
 * predict` read (frontend.h), made from what the model predicts when it did not
 * name them itself: a binary model giving only probabilities [B,2] still gets
 * logistic, class_ids and logits. */
static void complete_head(elab *E, es_span sp)
{
    es_head head = E->in->spec->head;
    int logits = find_out(E, "logits"), prob = find_out(E, "probabilities");
    int logistic = find_out(E, "logistic"), cls = find_out(E, "class_ids");
    switch (head) {
    case ES_HEAD_BINARY:
        if (logistic == GR_NONE) {
            if (prob != GR_NONE && out_is(E, prob, 2)) logistic = slice_node(E, prob, 1, 1, 1, sp);
            else if (logits != GR_NONE && out_is(E, logits, 1)) logistic = un(E, GR_SIGMOID, logits, sp);
            else {
                err(E, sp, "a binary classifier's predictions need 'logistic' [B,1] (the probability of class 1), "
                    "or 'probabilities' [B,2] or 'logits' [B,1] to compute it from");
                return;
            }
            gr_add_output(E->g, "logistic", logistic);
        } else if (!out_is(E, logistic, 1)) {
            err(E, sp, "prediction 'logistic' must be [B,1] (the probability of class 1), not %s",
                shape_text(E, shape_of(E, logistic)));
            return;
        }
        if (prob == GR_NONE) {
            int q = bin(E, GR_SUB, scalar(E, 1, sp), logistic, sp);
            int in[2] = { q, logistic };
            int64_t ax[4] = { 1, 0, 0, 0 };
            gr_add_output(E->g, "probabilities", prob = opn(E, GR_CONCAT, 2, in, ax, NULL, sp));
        } else if (!out_is(E, prob, 2)) {
            err(E, sp, "prediction 'probabilities' of a binary classifier must be [B,2], not %s",
                shape_text(E, shape_of(E, prob)));
            return;
        }
        if (cls == GR_NONE) gr_add_output(E->g, "class_ids", un(E, GR_ARGMAX, prob, sp));
        if (logits == GR_NONE) {
            /* log(p / (1 - p)), the logit of class 1 */
            int p1 = logistic, q = bin(E, GR_SUB, scalar(E, 1, sp), p1, sp);
            gr_add_output(E->g, "logits", bin(E, GR_SUB, un(E, GR_LOG, p1, sp), un(E, GR_LOG, q, sp), sp));
        } else if (!out_is(E, logits, 1)) {
            err(E, sp, "prediction 'logits' of a binary classifier must be [B,1] (the logit of class 1), not %s",
                shape_text(E, shape_of(E, logits)));
        }
        return;
    case ES_HEAD_MULTICLASS: {
        int64_t K = E->in->spec->label.n_classes;
        if (prob == GR_NONE) {
            if (logits == GR_NONE || !out_is(E, logits, K)) {
                err(E, sp, "a %lld-class classifier's predictions need 'probabilities' [B,%lld] or 'logits' "
                    "[B,%lld]", (long long)K, (long long)K, (long long)K);
                return;
            }
            gr_add_output(E->g, "probabilities", prob = un(E, GR_SOFTMAX, logits, sp));
        } else if (!out_is(E, prob, K)) {
            err(E, sp, "prediction 'probabilities' must be [B,%lld], not %s", (long long)K,
                shape_text(E, shape_of(E, prob)));
            return;
        }
        if (cls == GR_NONE) gr_add_output(E->g, "class_ids", un(E, GR_ARGMAX, prob, sp));
        if (logits == GR_NONE) gr_add_output(E->g, "logits", un(E, GR_LOG, prob, sp));
        else if (!out_is(E, logits, K))
            err(E, sp, "prediction 'logits' must be [B,%lld], not %s", (long long)K,
                shape_text(E, shape_of(E, logits)));
        return;
    }
    case ES_HEAD_REGRESSION: {
        int p = find_out(E, "predictions");
        if (p == GR_NONE)
            err(E, sp, "a regression model's predictions need an entry 'predictions' [B,1]");
        else if (!out_is(E, p, 1))
            err(E, sp, "prediction 'predictions' must be [B,1], not %s", shape_text(E, shape_of(E, p)));
        return;
    }
    }
}

static void add_predictions(elab *E, value *pred, const fe_decl *model)
{
    es_span sp = out_span(E, pred, model);
    if (!pred) {
        err(E, sp, "model '%s' sets no predictions: assign predictions = { NAME = tensor, ... }", model->name);
        return;
    }
    if (pred->k == V_POISON) return;
    if (pred->k == V_TENSOR || pred->k == V_COLUMN) {
        int x = to_node(E, pred, NULL, NULL, "predictions");
        if (x != GR_NONE) gr_add_output(E->g, "predictions", x);
    } else if (pred->k != V_MAP) {
        err(E, sp, "predictions must be a map { NAME = tensor, ... }, not %s", describe(E, pred));
        return;
    } else {
        for (int i = 0; i < pred->n; i++) {
            value *v = pred->items[i];
            if (v->k == V_POISON) return;
            int x = to_node(E, v, NULL, NULL, es_sprintf(E->a, "prediction '%s'", pred->keys[i]));
            if (x == GR_NONE) return;
            if (!gr_has_batch(shape_of(E, x)) || shape_of(E, x).d[0] != GR_BATCH) {
                err(E, out_span(E, v, model), "prediction '%s' must have the batch first (one row per example), "
                    "not %s", pred->keys[i], shape_text(E, shape_of(E, x)));
                return;
            }
            if (!out_count_ok(E, sp)) return;
            gr_add_output(E->g, pred->keys[i], x);
        }
    }
    complete_head(E, sp);
}

static void add_metrics(elab *E, value *m, const fe_decl *model)
{
    if (!m || m->k == V_POISON) return;
    es_span sp = out_span(E, m, model);
    if (m->k != V_MAP) {
        err(E, sp, "metrics must be a map { NAME = per-example value, ... }, not %s", describe(E, m));
        return;
    }
    for (int i = 0; i < m->n; i++) {
        if (m->items[i]->k == V_POISON) continue;
        es_span vs = out_span(E, m->items[i], model);
        int x = per_example(E, m->items[i], vs, es_sprintf(E->a, "metric '%s'", m->keys[i]));
        if (x == GR_NONE || !out_count_ok(E, vs)) continue;
        gr_add_output(E->g, es_sprintf(E->a, "metric/%s", m->keys[i]), x);
    }
}

/* The optimizer updates: one optimizer for every variable, or one per scope. */
static void add_updates(elab *E, int loss, value *opt, const fe_decl *model, es_span loss_sp)
{
    es_span sp = out_span(E, opt, model);
    if (!opt) {
        err(E, sp, "model '%s' sets no optimizer: assign optimizer = adagrad(learning_rate = 0.05) (or one "
            "per scope: optimizer = { linear: ftrl(), dnn: adagrad(0.05) })", model->name);
        return;
    }
    if (opt->k == V_POISON) return;
    if (opt->k != V_MAP && want_opt(E, NULL, &opt, "optimizer")) return;
    if (opt->k == V_MAP)
        for (int i = 0; i < opt->n; i++)
            if (want_opt(E, NULL, &opt->items[i], es_sprintf(E->a, "the optimizer of scope '%s'", opt->keys[i])))
                return;
    gr_grad *grads = NULL;
    int ngrads = 0;
    int before = E->g->nerrors;
    gr_autodiff(E->g, loss, &grads, &ngrads);
    G(E, GR_NONE, loss_sp);
    if (E->g->nerrors != before) return;
    if (opt->k == V_OPT) {
        gr_apply_optimizer(E->g, grads, ngrads, &opt->opt, sp);
        G(E, GR_NONE, sp);
        return;
    }
    /* per scope: a variable belongs to the group whose key is its name's first part(s) */
    gr_grad *sub = es_alloc(E->a, sizeof(gr_grad) * (size_t)(ngrads ? ngrads : 1));
    int *owner = es_alloc(E->a, sizeof(int) * (size_t)(ngrads ? ngrads : 1));
    for (int j = 0; j < ngrads; j++) {
        const char *name = E->g->nodes[grads[j].param].name;
        owner[j] = -1;
        for (int i = 0; i < opt->n; i++) {
            size_t k = strlen(opt->keys[i]);
            if (strncmp(name, opt->keys[i], k) == 0 && (name[k] == '/' || name[k] == 0)) { owner[j] = i; break; }
        }
        if (owner[j] < 0) {
            err(E, sp, "variable '%s' is in none of the optimizer's scopes (%s)", name,
                join_names(E, (const char *const *)opt->keys, opt->n));
            return;
        }
    }
    for (int i = 0; i < opt->n; i++) {
        int n = 0;
        for (int j = 0; j < ngrads; j++) if (owner[j] == i) sub[n++] = grads[j];
        if (n == 0) continue;
        gr_apply_optimizer(E->g, sub, n, &opt->items[i]->opt, out_span(E, opt->items[i], model));
        G(E, GR_NONE, sp);
    }
}

static void outputs(elab *E, frame *mf, const fe_decl *model)
{
    value *loss = local(mf, "loss"), *pred = local(mf, "predictions");
    value *metrics = local(mf, "metrics"), *opt = local(mf, "optimizer");
    es_span lsp = out_span(E, loss, model);
    if (!loss) {
        err(E, lsp, "model '%s' sets no loss: assign loss = ... (per example, or one number for the batch)",
            model->name);
        return;
    }
    switch (E->mode) {
    case GR_PROG_TRAIN: {
        if (loss->k == V_POISON) return;
        int l = train_loss(E, loss, lsp);
        if (l == GR_NONE) return;
        gr_add_output(E->g, "loss", l);
        add_updates(E, l, opt, model, lsp);
        return;
    }
    case GR_PROG_EVAL: {
        add_predictions(E, pred, model);
        if (loss->k == V_POISON) return;
        if (train_loss(E, loss, lsp) == GR_NONE) return;   /* the same checks as training */
        int x = to_node(E, loss, NULL, NULL, "loss");
        if (x == GR_NONE) return;
        gr_shape s = shape_of(E, x);
        int ex;
        if (s.rank == 0) {
            /* one number for the batch: every example carries it */
            value *y = label_value(E, lsp);
            int like = y->k == V_TENSOR && !y->absent ? per_example(E, y, lsp, "the label") : GR_NONE;
            int in[2] = { x, like };
            ex = like == GR_NONE ? GR_NONE : opn(E, GR_BROADCAST, 2, in, NULL, NULL, lsp);
        } else ex = per_example(E, loss, lsp, "loss");
        if (ex != GR_NONE) gr_add_output(E->g, "example_loss", ex);
        /* example_weight (a head's weight_column) weights every metric */
        value *wt = local(mf, "example_weight");
        if (wt && wt->k == V_TENSOR && !wt->absent) {
            int w = per_example(E, wt, out_span(E, wt, model), "example_weight");
            if (w != GR_NONE) gr_add_output(E->g, "example_weight", w);
        }
        add_metrics(E, metrics, model);
        return;
    }
    case GR_PROG_PREDICT:
        add_predictions(E, pred, model);
        return;
    }
}

/* ---- instantiating the estimator's model ------------------------------------------ */

/* The model an estimator declaration names: the user's, then the stdlib's. */
static const fe_decl *find_model(elab *E, const fe_expr *call, int *module)
{
    const fe_global *g = global(E, call->str);
    if (g && g->kind == FE_G_MODEL) { *module = 0; return g->decl; }
    const fe_decl *d = stdlib_decl(E, call->str, FE_D_MODEL);
    if (d) { *module = 1; return d; }
    if (g && g->kind == FE_G_DEF) {
        err(E, call->name_span, "'%s' is a helper (def), not a model: an estimator instantiates a model", call->str);
        return NULL;
    }
    const char *names[64];
    int n = fe_stdlib_models(E->in->stdlib, E->in->nstdlib, names, 48);
    for (int i = 0; i < E->in->nglobals && n < 64; i++)
        if (E->in->globals[i].kind == FE_G_MODEL) names[n++] = E->in->globals[i].name;
    hint h = { 0 };
    for (int i = 0; i < n; i++) hint_try(&h, call->str, names[i]);
    if (h.best) err(E, call->name_span, "unknown estimator '%s'%s", call->str, hint_text(E, &h));
    else err(E, call->name_span, "unknown estimator '%s' (known: %s, or a model declared in this file)", call->str,
             join_names(E, names, n));
    return NULL;
}

static void instantiate(elab *E)
{
    const fe_decl *est = E->in->estimator;
    const fe_expr *call = est->value;
    E->top.user_span = est->name_span;
    E->fr = &E->top;
    if (call->kind != FE_E_CALL) {
        err(E, call->span, "this estimator must be a call such as LinearClassifier(features = [...]) or a model "
            "of this file, not %s", fe_expr_kind_name(call));
        return;
    }
    int module;
    const fe_decl *m = find_model(E, call, &module);
    if (!m) return;
    E->model_call = call;
    /* the estimator's arguments, evaluated in the user's file */
    argval *args = es_alloc(E->a, sizeof(argval) * (size_t)(call->nargs ? call->nargs : 1));
    for (int i = 0; i < call->nargs; i++) {
        args[i].name = call->args[i].name;
        args[i].name_span = call->args[i].name_span;
        args[i].span = call->args[i].span;
        args[i].v = eval(E, call->args[i].value);
    }
    /* hyper-parameters: the header's (by position or name), then the body's `param`s (by name) */
    pdesc p[MAX_ARGS * 2];
    const fe_stmt *body_params[MAX_ARGS];
    int np = 0, nbody = 0, nbody_all = 0;
    for (int i = 0; i < m->body.n; i++) nbody_all += m->body.v[i]->kind == FE_S_PARAM;
    if (m->nparams > MAX_ARGS || nbody_all > MAX_ARGS) {
        err(E, call->name_span, "model '%s' has more than %d hyper-parameters in its header or its body",
            m->name, MAX_ARGS);
        return;
    }
    for (int i = 0; i < m->nparams && np < MAX_ARGS; i++) {
        p[np].name = m->params[i].name;
        p[np].required = m->params[i].def == NULL;
        p[np].positional = 1;
        np++;
    }
    for (int i = 0; i < m->body.n && nbody < MAX_ARGS; i++)
        if (m->body.v[i]->kind == FE_S_PARAM) {
            body_params[nbody++] = m->body.v[i];
            p[np].name = m->body.v[i]->name;
            p[np].required = 0;
            p[np].positional = 0;
            np++;
        }
    int slot[MAX_ARGS * 2];
    int bad = bind_args(E, m->name, "hyper-parameter", call, p, np, args, call->nargs, slot);
    frame f;
    memset(&f, 0, sizeof f);
    f.up = &E->top;
    f.module = module;
    f.fn = m;
    f.user_span = call->name_span;
    E->fr = &f;
    for (int i = 0; i < m->nparams && i < MAX_ARGS; i++) {
        const fe_param *pp = &m->params[i];
        value *v;
        if (slot[i] >= 0) v = args[slot[i]].v;
        else if (pp->def) v = eval(E, pp->def);
        else v = poison(E);
        if (v->k != V_POISON)
            check_param_type(E, m->name, pp->name, pp->type, pp->type_span, pp->def, pp->span, &v, call);
        if (v->k == V_POISON) bad = 1;
        bind(E, &f, pp->name, v);
    }
    E->noverrides = 0;
    for (int i = 0; i < nbody; i++) {
        int k = slot[m->nparams < MAX_ARGS ? m->nparams + i : MAX_ARGS + i];
        if (k < 0) continue;
        E->override_names[E->noverrides] = body_params[i]->name;
        E->override_vals[E->noverrides++] = args[k].v;
    }
    if (!bad) {
        exec_block(E, &m->body, 1);
        if (E->mode_errors == 0 && !f.ret) outputs(E, &f, m);
    }
    E->fr = &E->top;
}

int fe_elaborate(const fe_elab_in *in, fe_elab_out *out)
{
    elab E;
    memset(&E, 0, sizeof E);
    E.in = in;
    E.a = in->arena;
    memset(out, 0, sizeof *out);
    E.gf = open_memstream(&E.gbuf, &E.glen);
    if (!E.gf) {
        in->report(in->ctx, ES_DIAG_ERROR, (es_span){ 0 }, "cannot open a memory stream");
        return 1;
    }
    es_diags_init(&E.gd, E.gf);
    E.gd.max_errors = 1 << 30;
    E.top.module = 0;
    if (in->estimator && in->estimator->value) out->model_name = in->estimator->value->str;
    static const gr_prog_kind modes[3] = { GR_PROG_TRAIN, GR_PROG_EVAL, GR_PROG_PREDICT };
    for (int k = 0; k < 3 && in->estimator; k++) {
        E.mode = modes[k];
        E.g = gr_new(E.a, &E.gd);
        E.g->kind = modes[k];
        E.gseen = 0;
        E.scope = "";
        E.scopes.n = 0;
        E.ndropout = 0;
        E.depth = 0;
        E.mode_errors = 0;
        E.steps = 0;
        E.too_long = 0;
        memset(&E.top, 0, sizeof E.top);
        /* every mode runs even after errors: most repeat (and are said once),
         * some belong to one mode (metrics are evaluated only in eval) */
        instantiate(&E);
        out->prog[modes[k]] = E.g;
    }
    fclose(E.gf);
    free(E.gbuf);
    return E.nerrors;
}

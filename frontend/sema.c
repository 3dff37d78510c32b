/*
 * sema.c — gives a parsed .est file its meaning and checks it.
 *
 * The parser accepts any expression as a declaration's value; this file
 * knows what the calls mean: csv(...) for sources; vocabulary/identity/numeric
 * for labels; numeric, bucketized, vocabulary, identity, hashed, crossed and
 * indicator for features; LinearClassifier/LinearRegressor for the estimator
 * with sgd/adagrad/adam/ftrl optimizers; and the run block's settings. Each
 * call is checked against a parameter table (positional vs named arguments,
 * unknown, duplicate and missing options with "did you mean" hints), then each
 * value against its type and range.
 *
 * Name spaces: declarations (sources, label, features, estimator) share one;
 * the columns of the training source are another, so `feature age =
 * numeric(age)` is fine. Where a name may be either (bucketized's source, a
 * cross's keys), a feature wins over a column. A feature may refer only to
 * features declared before it, so definitions can never form a cycle.
 *
 * Invariants: checking never stops at the first error. A declaration that
 * fails is recorded as bad, and anything referring to it stays silent (its
 * own error is the one message). Messages are collected and reported sorted
 * by source position (a note stays with its error), because the checks run
 * in dependency order (sources, then the run block's choice of training
 * data, then label and features), not file order.
 */
#define _GNU_SOURCE
#include "sema.h"
#include "model.h"

#include <ctype.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

/* ---- messages, sorted by position ---------------------------------------- */

typedef struct sem_msg {
    es_diag_kind kind;
    es_span span;
    const char *text;
    int key;               /* sort key: offset of the error (notes take their error's) */
    int seq;
} sem_msg;

typedef enum { N_SOURCE, N_LABEL, N_FEATURE, N_ESTIMATOR, N_MODEL, N_DEF } sem_name_kind;

typedef struct sem_name {
    const char *name;
    sem_name_kind kind;
    const fe_decl *decl;
    int ok;                /* checked without error */
    int cols_ok;           /* source: its columns are known and sound (other options may be bad) */
    int done;              /* checked (ok or not) */
    void *obj;             /* es_source_spec * or es_feature * */
    int index;             /* source: index in sources; feature: index in features */
    const fe_expr *column; /* feature: a model-level column (embedding(...)) made by the model */
} sem_name;

typedef struct sema {
    es_arena *a;
    es_diags *d;
    const fe_file *file;
    const es_source *src;
    ES_VEC(sem_msg) msgs;
    int nerrors;
    int last_key;
    ES_VEC(sem_name) names;
    ES_VEC(es_source_spec *) sources;
    ES_VEC(sem_name *) source_names;
    ES_VEC(es_feature *) features;
    ES_VEC(const fe_expr *) norm;
    es_source_spec *train;     /* NULL when unknown or broken: column checks are skipped */
    int train_ok;              /* 0: references to columns cannot be checked */
    const fe_decl *run;
    fe_checked *out;
} sema;

static void vreport(sema *s, es_diag_kind k, es_span sp, const char *fmt, va_list ap)
{
    va_list aq;
    va_copy(aq, ap);
    int n = vsnprintf(NULL, 0, fmt, ap);
    char *t = es_alloc(s->a, (size_t)n + 1);
    vsnprintf(t, (size_t)n + 1, fmt, aq);
    va_end(aq);
    sem_msg m = { k, sp, t, 0, s->msgs.n };
    if (k == ES_DIAG_NOTE) m.key = s->last_key;
    else m.key = s->last_key = sp.src ? sp.off : 1 << 30;
    es_vec_push(s->a, s->msgs, m);
    if (k == ES_DIAG_ERROR) s->nerrors++;
}

static void __attribute__((format(printf, 3, 4))) error(sema *s, es_span sp, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vreport(s, ES_DIAG_ERROR, sp, fmt, ap);
    va_end(ap);
}

static void __attribute__((format(printf, 3, 4))) note(sema *s, es_span sp, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vreport(s, ES_DIAG_NOTE, sp, fmt, ap);
    va_end(ap);
}

static void __attribute__((format(printf, 3, 4))) warning(sema *s, es_span sp, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vreport(s, ES_DIAG_WARNING, sp, fmt, ap);
    va_end(ap);
}

static int msg_cmp(const void *x, const void *y)
{
    const sem_msg *a = x, *b = y;
    if (a->key != b->key) return a->key < b->key ? -1 : 1;
    return a->seq < b->seq ? -1 : a->seq > b->seq;
}

static void flush(sema *s)
{
    if (s->msgs.n > 1) qsort(s->msgs.v, (size_t)s->msgs.n, sizeof *s->msgs.v, msg_cmp);
    for (int i = 0; i < s->msgs.n; i++)
        es_diag(s->d, s->msgs.v[i].kind, s->msgs.v[i].span, "%s", s->msgs.v[i].text);
}

/* ---- "did you mean" -------------------------------------------------------- */


typedef struct hint { const char *best; int dist; } hint;

static void hint_try(hint *h, const char *name, const char *cand)
{
    int d = es_edit_distance(name, cand);
    int limit = (int)strlen(name) / 3;
    if (limit < 1) limit = 1;
    if (limit > 3) limit = 3;
    if (d <= limit && (!h->best || d < h->dist)) { h->best = cand; h->dist = d; }
}

/* " (did you mean 'x'?)" or "" */
static const char *hint_text(sema *s, const hint *h)
{
    return h->best ? es_sprintf(s->a, " (did you mean '%s'?)", h->best) : "";
}

static const char *hint_among(sema *s, const char *name, const char *const *cands, int n)
{
    hint h = { 0 };
    for (int i = 0; i < n; i++) hint_try(&h, name, cands[i]);
    return hint_text(s, &h);
}

/* "a, b or c" */
static const char *join_names(sema *s, const char *const *names, int n)
{
    char *r = "";
    for (int i = 0; i < n; i++)
        r = es_sprintf(s->a, "%s%s%s", r, i == 0 ? "" : i == n - 1 ? " or " : ", ", names[i]);
    return r;
}

/* ---- names ---------------------------------------------------------------- */

static const char *kind_word(sem_name_kind k)
{
    switch (k) {
    case N_SOURCE: return "source";
    case N_LABEL: return "label";
    case N_FEATURE: return "feature";
    case N_ESTIMATOR: return "estimator";
    case N_MODEL: return "model";
    case N_DEF: return "helper function";
    }
    return "declaration";
}

static sem_name *lookup(sema *s, const char *name)
{
    for (int i = 0; i < s->names.n; i++)
        if (strcmp(s->names.v[i].name, name) == 0) return &s->names.v[i];
    return NULL;
}

static const char *hint_decl(sema *s, const char *name, sem_name_kind k)
{
    hint h = { 0 };
    for (int i = 0; i < s->names.n; i++)
        if (s->names.v[i].kind == k) hint_try(&h, name, s->names.v[i].name);
    return hint_text(s, &h);
}

static int column_index(const es_source_spec *src, const char *name)
{
    for (int i = 0; i < src->ncols; i++)
        if (strcmp(src->cols[i].name, name) == 0) return i;
    return -1;
}

static const char *hint_column(sema *s, const char *name)
{
    hint h = { 0 };
    if (s->train)
        for (int i = 0; i < s->train->ncols; i++) hint_try(&h, name, s->train->cols[i].name);
    return hint_text(s, &h);
}

static const char *coltype_name(es_coltype t)
{
    switch (t) {
    case ES_COL_FLOAT: return "float";
    case ES_COL_INT: return "int";
    case ES_COL_STRING: return "string";
    }
    return "?";
}

static const char *feat_kind_name(es_feat_kind k)
{
    switch (k) {
    case ES_FEAT_NUMERIC: return "numeric";
    case ES_FEAT_BUCKETIZED: return "bucketized";
    case ES_FEAT_VOCAB: return "vocabulary";
    case ES_FEAT_IDENTITY: return "identity";
    case ES_FEAT_HASHED: return "hashed";
    case ES_FEAT_CROSSED: return "crossed";
    case ES_FEAT_INDICATOR: return "indicator";
    case ES_FEAT_WEIGHTED: return "weighted";
    }
    return "?";
}

/* ---- calls and their parameters --------------------------------------------- */

typedef struct sem_param {
    const char *name;
    int positional;         /* may be given by position (such params come first) */
    int required;
} sem_param;

#define MAXP 16

/* Binds the arguments of call to params: out[i] is the argument for params[i]
 * or NULL. Reports positional-after-named, too many positional arguments,
 * unknown and duplicate names, and missing required ones. Returns 0 if the
 * call's shape is right (values are checked by the caller). */
static int bind_args(sema *s, const fe_expr *call, const sem_param *params, int n, const fe_arg **out)
{
    int bad = 0, npos = 0, seen_named = 0, given_pos = 0, seen_misplaced = 0;
    for (int i = 0; i < n; i++) {
        out[i] = NULL;
        if (params[i].positional) npos++;
    }
    const char *names[MAXP];
    for (int i = 0; i < n; i++) names[i] = params[i].name;
    for (int k = 0; k < call->nargs; k++) {
        const fe_arg *g = &call->args[k];
        if (!g->name) {
            if (seen_named) {
                error(s, g->span, "positional argument after a named one: name it (for example %s = ...)",
                      given_pos < npos ? params[given_pos].name : "option");
                bad = seen_misplaced = 1;   /* "needs 'x'" would only repeat this */
                continue;
            }
            if (given_pos >= npos) {
                if (npos == 0)
                    error(s, g->span, "%s() takes no positional arguments: name this one (%s = ...)",
                          call->str, params[0].name);
                else
                    error(s, g->span, "%s() takes %d positional argument%s (%s), then named ones "
                          "(name = value)", call->str, npos, npos == 1 ? "" : "s",
                          join_names(s, names, npos));
                bad = 1;
                given_pos++;
                continue;
            }
            out[given_pos++] = g;
            continue;
        }
        seen_named = 1;
        int j = 0;
        while (j < n && strcmp(params[j].name, g->name) != 0) j++;
        if (j == n) {
            const char *h = hint_among(s, g->name, names, n);
            if (*h) error(s, g->name_span, "%s() has no option '%s'%s", call->str, g->name, h);
            else error(s, g->name_span, "%s() has no option '%s' (its options: %s)", call->str,
                       g->name, join_names(s, names, n));
            bad = 1;
            continue;
        }
        if (out[j]) {
            if (out[j]->name) {
                error(s, g->name_span, "option '%s' is given twice", g->name);
                note(s, out[j]->name_span, "first given here");
            } else {
                error(s, g->name_span, "'%s' is given twice: by position and by name", g->name);
                note(s, out[j]->span, "given by position here");
            }
            bad = 1;
            continue;
        }
        out[j] = g;
    }
    for (int i = 0; i < n && !seen_misplaced; i++)
        if (params[i].required && !out[i]) {
            error(s, call->name_span, "%s() needs '%s'", call->str, params[i].name);
            bad = 1;
        }
    return bad ? -1 : 0;
}

/* ---- values ------------------------------------------------------------------ */

static const char *found(sema *s, const fe_expr *e)
{
    switch (e->kind) {
    case FE_E_IDENT: return es_sprintf(s->a, "the name '%s'", e->str);
    case FE_E_CALL: return es_sprintf(s->a, "a call to %s()", e->str);
    case FE_E_NUMBER: case FE_E_STRING: case FE_E_BOOL: case FE_E_LIST: case FE_E_MAP:
    case FE_E_BINARY: case FE_E_NEG: case FE_E_ERROR: case FE_E_NOT: case FE_E_INDEX: case FE_E_SLICE:
    case FE_E_ATTR:
        return fe_expr_kind_name(e);
    }
    return fe_expr_kind_name(e);
}

/* A constant number: a literal or arithmetic over literals. */
static int const_num(sema *s, const fe_expr *e, const char *what, double *v)
{
    double l, r;
    switch (e->kind) {
    case FE_E_NUMBER: *v = e->num; return 0;
    case FE_E_NEG:
        if (const_num(s, e->lhs, what, &l)) return -1;
        *v = -l;
        return 0;
    case FE_E_BINARY:
        if (const_num(s, e->lhs, what, &l) | const_num(s, e->rhs, what, &r)) return -1;
        switch (e->op) {
        case '+': *v = l + r; break;
        case '-': *v = l - r; break;
        case '*': *v = l * r; break;
        default:
            if (r == 0) { error(s, e->rhs->span, "division by zero"); return -1; }
            *v = l / r;
        }
        if (!isfinite(*v)) { error(s, e->span, "%s overflows", what); return -1; }
        return 0;
    case FE_E_STRING: case FE_E_BOOL: case FE_E_IDENT: case FE_E_CALL: case FE_E_LIST:
    case FE_E_MAP: case FE_E_ERROR: case FE_E_NOT: case FE_E_INDEX: case FE_E_SLICE: case FE_E_ATTR:
        break;
    }
    error(s, e->span, "%s must be a number, not %s", what, found(s, e));
    return -1;
}

static int const_int(sema *s, const fe_expr *e, const char *what, int64_t *v)
{
    if (e->kind == FE_E_NUMBER && e->is_int) { *v = e->ival; return 0; }
    double d;
    if (const_num(s, e, what, &d)) return -1;
    if (d != floor(d)) { error(s, e->span, "%s must be a whole number, not %g", what, d); return -1; }
    if (fabs(d) >= 9.2e18) { error(s, e->span, "%s is too large", what); return -1; }
    *v = (int64_t)d;
    return 0;
}

static int get_str(sema *s, const fe_expr *e, const char *what, const char **v)
{
    if (e->kind == FE_E_STRING) { *v = e->str; return 0; }
    if (e->kind == FE_E_IDENT)
        error(s, e->span, "%s must be a string in double quotes, not the name '%s' (write \"%s\")",
              what, e->str, e->str);
    else error(s, e->span, "%s must be a string, not %s", what, found(s, e));
    return -1;
}

static int get_bool(sema *s, const fe_expr *e, const char *what, int *v)
{
    if (e->kind == FE_E_BOOL) { *v = e->b; return 0; }
    error(s, e->span, "%s must be true or false, not %s", what, found(s, e));
    return -1;
}

static int get_name(sema *s, const fe_expr *e, const char *what, const char **v)
{
    if (e->kind == FE_E_IDENT) { *v = e->str; return 0; }
    if (e->kind == FE_E_STRING)
        error(s, e->span, "%s must be a name, not a string (write %s without quotes)", what, e->str);
    else error(s, e->span, "%s must be a name, not %s", what, found(s, e));
    return -1;
}

static int get_list(sema *s, const fe_expr *e, const char *what)
{
    if (e->kind == FE_E_LIST) return 0;
    error(s, e->span, "%s must be a list [...], not %s", what, found(s, e));
    return -1;
}

/* ints that index i32 ids: 1 .. INT32_MAX */
static int bucket_count(sema *s, const fe_expr *e, const char *what, int64_t *v)
{
    if (const_int(s, e, what, v)) return -1;
    if (*v <= 0) { error(s, e->span, "%s must be at least 1, not %lld", what, (long long)*v); return -1; }
    if (*v > INT32_MAX) {
        error(s, e->span, "%s must be at most %d (ids are 32-bit), not %lld", what, INT32_MAX,
              (long long)*v);
        return -1;
    }
    return 0;
}

/* The call a declaration's value must be, among known callees. */
static const fe_expr *expect_call(sema *s, const fe_decl *d, const char *what, const char *const *known,
                                  int nknown, const char *example, int *which)
{
    const fe_expr *e = d->value;
    if (e->kind != FE_E_CALL) {
        error(s, e->span, "this %s must be a call such as %s, not %s", what, example, found(s, e));
        return NULL;
    }
    for (int i = 0; i < nknown; i++)
        if (strcmp(e->str, known[i]) == 0) { *which = i; return e; }
    const char *h = hint_among(s, e->str, known, nknown);
    if (*h) error(s, e->name_span, "unknown %s '%s'%s", what, e->str, h);
    else error(s, e->name_span, "unknown %s '%s' (known: %s)", what, e->str, join_names(s, known, nknown));
    return NULL;
}

/* ---- declarations: names ---------------------------------------------------- */

static void collect_names(sema *s)
{
    const fe_decl *first_label = NULL, *first_est = NULL;
    for (int i = 0; i < s->file->decls.n; i++) {
        const fe_decl *d = s->file->decls.v[i];
        if (d->kind == FE_D_RUN) {
            if (s->run) {
                error(s, d->kw_span, "only one run block is allowed");
                note(s, s->run->kw_span, "the first one is here");
            } else s->run = d;
            continue;
        }
        sem_name_kind k = d->kind == FE_D_SOURCE ? N_SOURCE : d->kind == FE_D_LABEL ? N_LABEL
                        : d->kind == FE_D_FEATURE ? N_FEATURE : d->kind == FE_D_MODEL ? N_MODEL
                        : d->kind == FE_D_DEF ? N_DEF : N_ESTIMATOR;
        sem_name *prev = lookup(s, d->name);
        if (prev) {
            error(s, d->name_span, "'%s' is already declared (as a %s)", d->name, kind_word(prev->kind));
            note(s, prev->decl->name_span, "the first declaration is here");
            continue;
        }
        if (k == N_LABEL) {
            if (first_label) {
                error(s, d->kw_span, "a model has one label; '%s' is a second one", d->name);
                note(s, first_label->name_span, "the label is declared here");
                continue;
            }
            first_label = d;
        }
        if (k == N_ESTIMATOR) {
            if (first_est) {
                error(s, d->kw_span, "a model has one estimator; '%s' is a second one", d->name);
                note(s, first_est->name_span, "the estimator is declared here");
                continue;
            }
            first_est = d;
        }
        sem_name n = { d->name, k, d, 0, 0, 0, NULL, -1, NULL };
        es_vec_push(s->a, s->names, n);
    }
}

/* Where to point at something missing from the whole file: just after the
 * last declaration (or the start of an empty file). */
static es_span end_span(sema *s)
{
    if (s->file->decls.n == 0) return (es_span){ s->src, 1, 1, 0, 0 };
    return fe_span_after(s->file->decls.v[s->file->decls.n - 1]->span);
}

/* ---- sources ------------------------------------------------------------------ */

static const sem_param csv_params[] = {
    { "path", 1, 1 }, { "separator", 0, 0 }, { "header", 0, 0 }, { "skip_rows", 0, 0 },
    { "comment", 0, 0 }, { "missing", 0, 0 }, { "bad_rows", 0, 0 }, { "schema", 0, 0 },
    { "cache", 0, 0 },
};
enum { CSV_PATH, CSV_SEP, CSV_HEADER, CSV_SKIP, CSV_COMMENT, CSV_MISSING, CSV_BAD, CSV_SCHEMA, CSV_CACHE,
       CSV_N };

/* Returns -1 if the columns cannot be used (a duplicate or an unknown type);
 * a bad default only sets *bad_default, since the columns still resolve. */
static int check_columns(sema *s, const fe_decl *d, es_source_spec *ss, int *bad_default)
{
    int bad = 0;
    ss->ncols = d->ncols;
    ss->cols = es_alloc(s->a, sizeof(es_column) * (size_t)(d->ncols ? d->ncols : 1));
    static const char *const types[] = { "float", "int", "string" };
    for (int i = 0; i < d->ncols; i++) {
        const fe_col *c = &d->cols[i];
        es_column *col = &ss->cols[i];
        col->name = c->name;
        col->span = c->span;
        for (int j = 0; j < i; j++)
            if (strcmp(d->cols[j].name, c->name) == 0) {
                error(s, c->name_span, "column '%s' is declared twice", c->name);
                note(s, d->cols[j].name_span, "the first one is here");
                bad = 1;
                break;
            }
        int t = -1;
        for (int j = 0; j < 3; j++) if (strcmp(c->type, types[j]) == 0) t = j;
        if (t < 0) {
            error(s, c->type_span, "unknown column type '%s'%s: a column is float, int or string", c->type,
                  hint_among(s, c->type, types, 3));
            bad = 1;
            continue;
        }
        col->type = (es_coltype)t;
        if (!c->def) continue;
        const char *what = es_sprintf(s->a, "the default of column '%s'", c->name);
        if (col->type == ES_COL_STRING) {
            if (get_str(s, c->def, what, &col->str_default)) { *bad_default = 1; continue; }
        } else if (col->type == ES_COL_INT) {
            int64_t v;
            if (const_int(s, c->def, what, &v)) { *bad_default = 1; continue; }
            col->num_default = (double)v;
        } else if (const_num(s, c->def, what, &col->num_default)) { *bad_default = 1; continue; }
        col->has_default = 1;
    }
    return bad ? -1 : 0;
}

static void check_source(sema *s, sem_name *n)
{
    const fe_decl *d = n->decl;
    es_source_spec *ss = es_alloc(s->a, sizeof *ss);
    ss->name = d->name;
    ss->span = d->span;
    ss->separator = ",";
    ss->bad_rows = ES_BAD_ROWS_ERROR;
    n->obj = ss;
    n->index = s->sources.n;
    es_vec_push(s->a, s->sources, ss);
    es_vec_push(s->a, s->source_names, n);
    n->done = 1;

    static const char *const known[] = { "csv" };
    int which, bad = 0;
    const fe_expr *call = expect_call(s, d, "data source", known, 1, "csv(\"data.csv\")", &which);
    if (!call) {
        int bad_default = 0;
        if (d->has_cols && d->ncols > 0 && check_columns(s, d, ss, &bad_default) == 0) n->cols_ok = 1;
        return;
    }
    const fe_arg *a[CSV_N];
    if (bind_args(s, call, csv_params, CSV_N, a)) bad = 1;
    const char *path;
    if (a[CSV_PATH]) {
        if (get_str(s, a[CSV_PATH]->value, "the path", &path)) bad = 1;
        else if (!*path) { error(s, a[CSV_PATH]->value->span, "the path is empty"); bad = 1; }
        else ss->path = es_path_join(s->a, s->src->dir, path);
    }
    if (a[CSV_SEP]) {
        if (get_str(s, a[CSV_SEP]->value, "separator", &ss->separator)) bad = 1;
        else if (!*ss->separator) { error(s, a[CSV_SEP]->value->span, "separator is empty"); bad = 1; }
    }
    if (a[CSV_HEADER] && get_bool(s, a[CSV_HEADER]->value, "header", &ss->header)) bad = 1;
    if (a[CSV_CACHE] && get_bool(s, a[CSV_CACHE]->value, "cache", &ss->cache)) bad = 1;
    if (a[CSV_SKIP]) {
        int64_t v;
        if (const_int(s, a[CSV_SKIP]->value, "skip_rows", &v)) bad = 1;
        else if (v < 0 || v > INT32_MAX) {
            error(s, a[CSV_SKIP]->value->span, "skip_rows must be 0 or more, not %lld", (long long)v);
            bad = 1;
        } else ss->skip_rows = (int)v;
    }
    if (a[CSV_COMMENT]) {
        if (get_str(s, a[CSV_COMMENT]->value, "comment", &ss->comment)) bad = 1;
        else if (!*ss->comment) {
            error(s, a[CSV_COMMENT]->value->span, "comment is empty (it would skip every line)");
            bad = 1;
        }
    }
    if (a[CSV_MISSING]) {
        if (get_str(s, a[CSV_MISSING]->value, "missing", &ss->missing)) bad = 1;
        else if (!*ss->missing) {
            error(s, a[CSV_MISSING]->value->span, "missing is empty (empty fields are always missing)");
            bad = 1;
        }
    }
    if (a[CSV_BAD]) {
        const fe_expr *v = a[CSV_BAD]->value;
        if (v->kind == FE_E_STRING && strcmp(v->str, "error") == 0) ss->bad_rows = ES_BAD_ROWS_ERROR;
        else if (v->kind == FE_E_STRING && strcmp(v->str, "skip") == 0) ss->bad_rows = ES_BAD_ROWS_SKIP;
        else {
            error(s, v->span, "bad_rows must be \"error\" or \"skip\"");
            bad = 1;
        }
    }
    if (a[CSV_SCHEMA]) {
        const char *other;
        const fe_expr *v = a[CSV_SCHEMA]->value;
        if (d->has_cols) {
            error(s, a[CSV_SCHEMA]->span, "source '%s' has both schema = and its own columns; keep one",
                  d->name);
            bad = 1;
        } else if (get_name(s, v, "schema", &other)) bad = 1;
        else {
            sem_name *o = lookup(s, other);
            if (!o || o->kind != N_SOURCE) {
                if (o) error(s, v->span, "schema must name a source; '%s' is a %s", other, kind_word(o->kind));
                else error(s, v->span, "unknown source '%s'%s", other, hint_decl(s, other, N_SOURCE));
                bad = 1;
            } else if (o == n) {
                error(s, v->span, "source '%s' cannot take its columns from itself", other);
                bad = 1;
            } else if (!o->done) {
                error(s, v->span, "source '%s' is declared later; declare it before '%s'", other, d->name);
                bad = 1;
            } else if (!o->cols_ok) bad = 1;     /* its own error says why */
            else {
                const es_source_spec *os = o->obj;
                ss->ncols = os->ncols;
                ss->cols = os->cols;
                n->cols_ok = 1;
            }
        }
    } else if (!d->has_cols) {
        error(s, d->name_span, "source '%s' has no columns: add { name: type, ... } after csv(...) "
              "or schema = ANOTHER_SOURCE", d->name);
        bad = 1;
    }
    if (d->has_cols) {
        if (d->ncols == 0) {
            error(s, d->name_span, "source '%s' has an empty column block", d->name);
            bad = 1;
        } else if (check_columns(s, d, ss, &bad)) bad = 1;
        else n->cols_ok = 1;
    }
    n->ok = !bad;
}

/* ---- the run block --------------------------------------------------------- */

static const char *const run_settings[] = {
    "train_data", "eval_data", "batch_size", "epochs", "steps", "shuffle_buffer", "seed",
    "model_dir", "log_every", "eval_batch_size", "threads",
    /* the safe training loop (check_loop_settings) */
    "max_steps", "save_checkpoints_steps", "save_checkpoints_secs", "keep_checkpoint_max",
    "log_step_count_steps", "save_summary_steps", "eval_every_steps", "eval_every_secs",
    "early_stopping", "early_stopping_patience", "nan_guard", "histograms", "warm_start_from",
    "warm_start_vars",
};
enum { R_TRAIN, R_EVAL, R_BATCH, R_EPOCHS, R_STEPS, R_SHUFFLE, R_SEED, R_MODEL_DIR, R_LOG,
       R_EVAL_BATCH, R_THREADS,
       R_MAX_STEPS, R_CKPT_STEPS, R_CKPT_SECS, R_KEEP, R_LOG_STEPS, R_SUMMARY_STEPS, R_EVAL_STEPS,
       R_EVAL_SECS, R_EARLY, R_PATIENCE, R_NAN_GUARD, R_HISTOGRAMS, R_WARM_FROM, R_WARM_VARS, R_N };

/* The run block's settings by name (NULL where not given); reports unknown
 * and duplicate settings when report is set. */
static void run_bind(sema *s, const fe_arg **r, int report)
{
    for (int i = 0; i < R_N; i++) r[i] = NULL;
    if (!s->run) return;
    for (int k = 0; k < s->run->nsettings; k++) {
        const fe_arg *g = &s->run->settings[k];
        int j = 0;
        while (j < R_N && strcmp(run_settings[j], g->name) != 0) j++;
        if (j == R_N) {
            if (!report) continue;
            const char *h = hint_among(s, g->name, run_settings, R_N);
            if (*h) error(s, g->name_span, "unknown run setting '%s'%s", g->name, h);
            else error(s, g->name_span, "unknown run setting '%s' (the settings: %s)", g->name,
                       join_names(s, run_settings, R_N));
            continue;
        }
        if (r[j]) {
            if (report) {
                error(s, g->name_span, "run setting '%s' is given twice", g->name);
                note(s, r[j]->name_span, "first given here");
            }
            continue;
        }
        r[j] = g;
    }
}

/* A run setting naming a source; NULL (after a message) if it does not. */
static sem_name *run_source(sema *s, const fe_arg *g)
{
    const char *name;
    if (get_name(s, g->value, g->name, &name)) return NULL;
    sem_name *n = lookup(s, name);
    if (!n || n->kind != N_SOURCE) {
        if (n) error(s, g->value->span, "%s must name a source; '%s' is a %s", g->name, name,
                     kind_word(n->kind));
        else error(s, g->value->span, "unknown source '%s'%s", name, hint_decl(s, name, N_SOURCE));
        return NULL;
    }
    return n;
}

static int same_columns(const es_source_spec *a, const es_source_spec *b, int *at)
{
    int n = a->ncols < b->ncols ? a->ncols : b->ncols;
    for (int i = 0; i < n; i++)
        if (strcmp(a->cols[i].name, b->cols[i].name) != 0 || a->cols[i].type != b->cols[i].type) {
            *at = i;
            return 0;
        }
    *at = n;
    return a->ncols == b->ncols;
}

/* Picks the training and evaluation sources (before features are checked,
 * since features name the training source's columns). */
static void choose_sources(sema *s)
{
    const fe_arg *r[R_N];
    run_bind(s, r, 0);
    es_spec *sp = &s->out->spec;
    sem_name *train = NULL, *eval = NULL;
    if (r[R_TRAIN]) train = run_source(s, r[R_TRAIN]);
    else if (s->sources.n == 1) {
        train = s->source_names.v[0];
    } else if (s->sources.n == 0) {
        error(s, end_span(s), "the model has no data: declare a source, e.g. "
              "source data = csv(\"data.csv\") { x: float, y: string }");
    } else {
        error(s, s->run ? s->run->kw_span : s->source_names.v[1]->decl->kw_span,
              "%d sources are declared; say which one trains the model with run { train_data = %s }",
              s->sources.n, s->sources.v[0]->name);
    }
    if (r[R_EVAL]) eval = run_source(s, r[R_EVAL]);
    if (train) sp->train = train->obj;
    sp->eval = eval ? eval->obj : sp->train;
    s->train = train && train->cols_ok ? train->obj : NULL;
    s->train_ok = s->train != NULL;
    if (train && eval && train->cols_ok && eval->cols_ok && train != eval) {
        int at;
        const es_source_spec *ts = train->obj, *es = eval->obj;
        if (!same_columns(ts, es, &at)) {
            if (at < ts->ncols && at < es->ncols)
                error(s, r[R_EVAL]->value->span, "eval_data '%s' does not have the columns of train_data "
                      "'%s': its column %d is '%s: %s', expected '%s: %s' (declare it with schema = %s)",
                      es->name, ts->name, at + 1, es->cols[at].name, coltype_name(es->cols[at].type),
                      ts->cols[at].name, coltype_name(ts->cols[at].type), ts->name);
            else
                error(s, r[R_EVAL]->value->span, "eval_data '%s' has %d columns, train_data '%s' has %d "
                      "(declare it with schema = %s)", es->name, es->ncols, ts->name, ts->ncols, ts->name);
        }
    }
}

/* The training loop's settings (checkpoints, summaries, evaluation during
 * training, hooks, warm start): each "not given" unless set, so the runtime
 * can apply its defaults after the command line has had its say. */
static void check_loop_settings(sema *s, const fe_arg *const *r, es_run_spec *run)
{
    run->keep_checkpoint_max = -1;
    run->save_summary_steps = -1;
    run->nan_guard = -1;
    struct { int idx; int64_t *dst; int64_t min; } ints[] = {
        { R_MAX_STEPS, &run->max_steps, 1 }, { R_CKPT_STEPS, &run->save_checkpoints_steps, 1 },
        { R_KEEP, &run->keep_checkpoint_max, 0 }, { R_LOG_STEPS, &run->log_every, 1 },
        { R_SUMMARY_STEPS, &run->save_summary_steps, 0 }, { R_EVAL_STEPS, &run->eval_every_steps, 1 },
        { R_PATIENCE, &run->early_stopping_patience, 1 },
    };
    for (size_t i = 0; i < ES_ARRAY_LEN(ints); i++) {
        const fe_arg *g = r[ints[i].idx];
        int64_t v;
        if (!g || const_int(s, g->value, g->name, &v)) continue;
        if (v < ints[i].min)
            error(s, g->value->span, "%s must be at least %lld, not %lld", g->name,
                  (long long)ints[i].min, (long long)v);
        else *ints[i].dst = v;
    }
    struct { int idx; double *dst; } secs[] = {
        { R_CKPT_SECS, &run->save_checkpoints_secs }, { R_EVAL_SECS, &run->eval_every_secs } };
    for (size_t i = 0; i < ES_ARRAY_LEN(secs); i++) {
        const fe_arg *g = r[secs[i].idx];
        double v;
        if (!g || const_num(s, g->value, g->name, &v)) continue;
        if (!(v > 0)) error(s, g->value->span, "%s must be a positive number of seconds, not %g", g->name, v);
        else *secs[i].dst = v;
    }
    struct { int idx; int *dst; } bools[] = { { R_NAN_GUARD, &run->nan_guard }, { R_HISTOGRAMS, &run->histograms } };
    for (size_t i = 0; i < ES_ARRAY_LEN(bools); i++)
        if (r[bools[i].idx]) get_bool(s, r[bools[i].idx]->value, r[bools[i].idx]->name, bools[i].dst);
    const char *str;
    if (r[R_EARLY] && !get_str(s, r[R_EARLY]->value, "early_stopping (a metric name)", &str))
        run->early_stopping = str;
    if (r[R_WARM_FROM] && !get_str(s, r[R_WARM_FROM]->value, "warm_start_from", &str))
        run->warm_start_from = es_path_join(s->a, s->src->dir, str);
    if (r[R_WARM_VARS] && !get_str(s, r[R_WARM_VARS]->value, "warm_start_vars", &str))
        run->warm_start_vars = str;
    /* pairs that exclude one another, and settings that need another */
    static const int excl[][2] = { { R_CKPT_STEPS, R_CKPT_SECS }, { R_EVAL_STEPS, R_EVAL_SECS }, { R_LOG, R_LOG_STEPS } };
    for (size_t i = 0; i < ES_ARRAY_LEN(excl); i++)
        if (r[excl[i][0]] && r[excl[i][1]]) {
            const fe_arg *a = r[excl[i][0]], *b = r[excl[i][1]];
            if (b->name_span.off < a->name_span.off) { const fe_arg *t = a; a = b; b = t; }
            error(s, b->name_span, "give %s or %s, not both", a->name, b->name);
            note(s, a->name_span, "%s is given here", a->name);
        }
    if (r[R_EARLY] && !r[R_EVAL_STEPS] && !r[R_EVAL_SECS])
        error(s, r[R_EARLY]->name_span, "early_stopping watches evaluations during training: "
              "set eval_every_steps or eval_every_secs too");
    if (r[R_PATIENCE] && !r[R_EARLY])
        error(s, r[R_PATIENCE]->name_span, "early_stopping_patience needs early_stopping = \"METRIC\"");
    if (r[R_WARM_VARS] && !r[R_WARM_FROM])
        error(s, r[R_WARM_VARS]->name_span, "warm_start_vars needs warm_start_from = \"MODEL_DIR\"");
    /* max_steps without epochs: train to that step, however many passes it takes */
    if (r[R_MAX_STEPS] && !r[R_EPOCHS]) run->epochs = 0;
}

static void check_run(sema *s)
{
    const fe_arg *r[R_N];
    run_bind(s, r, 1);
    es_run_spec *run = &s->out->spec.run;
    run->batch_size = 64;
    run->epochs = 1;
    run->steps = 0;
    run->shuffle_buffer = 10000;
    run->seed = 42;
    run->log_every = 100;
    run->eval_batch_size = 1024;
    struct { int idx; int64_t *dst; int64_t min; const char *why; } ints[] = {
        { R_BATCH, &run->batch_size, 1, "" },
        { R_EPOCHS, &run->epochs, 1, "" },
        { R_STEPS, &run->steps, 0, " (0 = until the epochs are done)" },
        { R_SHUFFLE, &run->shuffle_buffer, 0, " (0 = no shuffling)" },
        { R_LOG, &run->log_every, 1, "" },
        { R_EVAL_BATCH, &run->eval_batch_size, 1, "" },
        { R_THREADS, &run->threads, 0, " (0 = OpenBLAS's own choice)" },
    };
    for (size_t i = 0; i < ES_ARRAY_LEN(ints); i++) {
        const fe_arg *g = r[ints[i].idx];
        if (!g) continue;
        int64_t v;
        if (const_int(s, g->value, g->name, &v)) continue;
        if (v < ints[i].min)
            error(s, g->value->span, "%s must be at least %lld%s, not %lld", g->name,
                  (long long)ints[i].min, ints[i].why, (long long)v);
        else *ints[i].dst = v;
    }
    /* steps without epochs: train for that many steps, however many passes it takes */
    if (r[R_STEPS] && !r[R_EPOCHS] && run->steps > 0) run->epochs = 0;
    check_loop_settings(s, r, run);
    run->log_every_given = r[R_LOG] || r[R_LOG_STEPS];
    if (r[R_SEED]) {
        int64_t v;
        if (!const_int(s, r[R_SEED]->value, "seed", &v)) {
            if (v < 0) error(s, r[R_SEED]->value->span, "seed must be 0 or more, not %lld", (long long)v);
            else run->seed = (uint64_t)v;
        }
    }
    const char *dir = NULL;
    if (r[R_MODEL_DIR]) {
        if (!get_str(s, r[R_MODEL_DIR]->value, "model_dir", &dir) && !*dir) {
            error(s, r[R_MODEL_DIR]->value->span, "model_dir is empty");
            dir = NULL;
        }
    }
    if (!dir) dir = es_sprintf(s->a, "model/%s", s->out->est_name ? s->out->est_name : "model");
    run->model_dir = es_path_join(s->a, s->src->dir, dir);
}

/* ---- label ------------------------------------------------------------------- */

/* A column of the training source named by e (an identifier). -1 after a
 * message, or -2 silently when the training source is unknown. */
static int column_ref(sema *s, const fe_expr *e, const char *fn)
{
    const char *name;
    if (get_name(s, e, es_sprintf(s->a, "the column of %s()", fn), &name)) return -1;
    if (!s->train_ok) return -2;
    int c = column_index(s->train, name);
    if (c >= 0) return c;
    sem_name *n = lookup(s, name);
    if (n && n->kind == N_FEATURE)
        error(s, e->span, "%s() reads a column, and source '%s' has no column '%s' ('%s' is a feature)",
              fn, s->train->name, name, name);
    else error(s, e->span, "source '%s' has no column '%s'%s", s->train->name, name, hint_column(s, name));
    return -1;
}

static int column_of_type(sema *s, int c, const fe_expr *e, const char *fn, int allow_float, int allow_int,
                          int allow_string, const char *advice)
{
    if (c < 0) return -1;
    es_coltype t = s->train->cols[c].type;
    if ((t == ES_COL_FLOAT && allow_float) || (t == ES_COL_INT && allow_int) ||
        (t == ES_COL_STRING && allow_string))
        return 0;
    const char *need = allow_string && !allow_float && !allow_int ? "a string column"
                     : allow_int && !allow_float && !allow_string ? "an int column" : "a numeric column";
    error(s, e->span, "%s() needs %s; '%s' is a %s column%s", fn, need, s->train->cols[c].name,
          coltype_name(t), advice);
    return -1;
}

/* A list of distinct strings (a vocabulary or the class names). */
static int string_list(sema *s, const fe_expr *e, const char *what, int *n, const char ***out)
{
    if (get_list(s, e, what)) return -1;
    if (e->nitems == 0) { error(s, e->span, "%s is empty", what); return -1; }
    const char **v = es_alloc(s->a, sizeof(char *) * (size_t)e->nitems);
    int bad = 0;
    for (int i = 0; i < e->nitems; i++) {
        const fe_expr *it = e->items[i];
        if (get_str(s, it, es_sprintf(s->a, "each entry of %s", what), &v[i])) { bad = 1; v[i] = NULL; continue; }
        for (int j = 0; j < i; j++)
            if (v[j] && strcmp(v[j], v[i]) == 0) {
                error(s, it->span, "\"%s\" appears twice in %s", v[i], what);
                note(s, e->items[j]->span, "first here");
                bad = 1;
                break;
            }
    }
    *n = e->nitems;
    *out = v;
    return bad ? -1 : 0;
}

static const sem_param label_vocab_params[] = {
    { "column", 1, 1 }, { "vocabulary_list", 1, 1 }, { "rstrip", 0, 0 }, { "lowercase", 0, 0 },
    { "aliases", 0, 0 },
};
static const sem_param label_identity_params[] = { { "column", 1, 1 }, { "num_classes", 0, 1 } };
static const sem_param label_numeric_params[] = { { "column", 1, 1 } };

static int check_label(sema *s, sem_name *n)
{
    const fe_decl *d = n->decl;
    es_label_spec *l = &s->out->spec.label;
    l->name = d->name;
    l->span = d->span;
    l->column = -1;
    static const char *const known[] = { "vocabulary", "identity", "numeric" };
    int which, bad = 0;
    const fe_expr *call = expect_call(s, d, "label", known, 3, "vocabulary(COLUMN, [\"no\", \"yes\"])", &which);
    if (!call) return -1;
    const fe_arg *a[5];
    if (which == 0) {
        l->kind = ES_LABEL_CLASS_VOCAB;
        if (bind_args(s, call, label_vocab_params, 5, a)) bad = 1;
        if (a[0]) {
            l->column = column_ref(s, a[0]->value, "vocabulary");
            if (column_of_type(s, l->column, a[0]->value, "vocabulary", 0, 0, 1,
                               " (use identity(COLUMN, num_classes = N) for int class ids)")) bad = 1;
        }
        if (a[1]) {
            if (string_list(s, a[1]->value, "the class list", &l->n_classes, &l->vocab)) bad = 1;
            else if (l->n_classes < 2) {
                error(s, a[1]->value->span, "a classification label needs at least 2 classes");
                bad = 1;
            }
        }
        if (a[2] && get_str(s, a[2]->value, "rstrip", &l->rstrip)) bad = 1;
        if (a[3] && get_bool(s, a[3]->value, "lowercase", &l->lowercase)) bad = 1;
        if (a[4]) {
            const fe_expr *m = a[4]->value;
            if (m->kind != FE_E_MAP) {
                error(s, m->span, "aliases must be a map {\"written\": \"class\", ...}, not %s", found(s, m));
                bad = 1;
            } else {
                l->nalias = m->nargs;
                l->alias_from = es_alloc(s->a, sizeof(char *) * (size_t)(m->nargs + 1));
                l->alias_to = es_alloc(s->a, sizeof(char *) * (size_t)(m->nargs + 1));
                for (int i = 0; i < m->nargs; i++) {
                    l->alias_from[i] = m->args[i].name;
                    for (int j = 0; j < i; j++)
                        if (strcmp(l->alias_from[j], m->args[i].name) == 0) {
                            error(s, m->args[i].name_span, "alias \"%s\" is given twice", m->args[i].name);
                            bad = 1;
                        }
                    if (get_str(s, m->args[i].value, "an alias's class", &l->alias_to[i])) { bad = 1; continue; }
                    int found_class = 0;
                    for (int j = 0; l->vocab && j < l->n_classes; j++)
                        if (l->vocab[j] && strcmp(l->vocab[j], l->alias_to[i]) == 0) found_class = 1;
                    if (l->vocab && !found_class) {
                        error(s, m->args[i].value->span, "alias target \"%s\" is not one of the classes",
                              l->alias_to[i]);
                        bad = 1;
                    }
                }
            }
        }
    } else if (which == 1) {
        l->kind = ES_LABEL_CLASS_INT;
        if (bind_args(s, call, label_identity_params, 2, a)) bad = 1;
        if (a[0]) {
            l->column = column_ref(s, a[0]->value, "identity");
            if (column_of_type(s, l->column, a[0]->value, "identity", 0, 1, 0,
                               " (use vocabulary(COLUMN, [...]) for class names)")) bad = 1;
        }
        if (a[1]) {
            int64_t k;
            if (const_int(s, a[1]->value, "num_classes", &k)) bad = 1;
            else if (k < 2 || k > INT32_MAX) {
                error(s, a[1]->value->span, "num_classes must be at least 2, not %lld", (long long)k);
                bad = 1;
            } else l->n_classes = (int)k;
        }
    } else {
        l->kind = ES_LABEL_NUMERIC;
        if (bind_args(s, call, label_numeric_params, 1, a)) bad = 1;
        if (a[0]) {
            l->column = column_ref(s, a[0]->value, "numeric");
            if (column_of_type(s, l->column, a[0]->value, "numeric", 1, 1, 0,
                               " (a regression label is a number)")) bad = 1;
        }
    }
    if (l->column < 0) bad = 1;
    return bad ? -1 : 0;
}

/* ---- features ----------------------------------------------------------------- */

/* The feature named e, declared before the one being checked. NULL after a
 * message, or silently when that feature has its own error. */
static es_feature *feature_ref(sema *s, const fe_expr *e, const sem_name *self, const char *what)
{
    const char *name;
    if (get_name(s, e, what, &name)) return NULL;
    sem_name *n = lookup(s, name);
    if (!n || n->kind != N_FEATURE) {
        if (n) error(s, e->span, "%s must be a feature; '%s' is a %s", what, name, kind_word(n->kind));
        else if (s->train_ok && column_index(s->train, name) >= 0)
            error(s, e->span, "'%s' is a column, not a feature: declare one, e.g. feature %s_ids = "
                  "vocabulary(%s, [...])", name, name, name);
        else error(s, e->span, "unknown feature '%s'%s", name, hint_decl(s, name, N_FEATURE));
        return NULL;
    }
    if (n == self) { error(s, e->span, "feature '%s' cannot be defined in terms of itself", name); return NULL; }
    if (n->column) {
        error(s, e->span, "%s must be a feature of the data; '%s' is an embedding, which the model makes",
              what, name);
        return NULL;
    }
    if (!n->done) {
        error(s, e->span, "feature '%s' is declared later; declare it before '%s'", name, self->name);
        return NULL;
    }
    if (!n->ok) return NULL;
    return n->obj;
}

/* The value of a constant arithmetic expression, silently (0 if not constant). */
static int const_value(const fe_expr *e, double *v)
{
    double l, r;
    switch (e->kind) {
    case FE_E_NUMBER: *v = e->num; return 1;
    case FE_E_NEG:
        if (!const_value(e->lhs, &l)) return 0;
        *v = -l;
        return 1;
    case FE_E_BINARY:
        if (!const_value(e->lhs, &l) || !const_value(e->rhs, &r)) return 0;
        *v = e->op == '+' ? l + r : e->op == '-' ? l - r : e->op == '*' ? l * r : l / r;
        return 1;
    case FE_E_STRING: case FE_E_BOOL: case FE_E_IDENT: case FE_E_CALL: case FE_E_LIST:
    case FE_E_MAP: case FE_E_ERROR: case FE_E_NOT: case FE_E_INDEX: case FE_E_SLICE: case FE_E_ATTR:
        break;
    }
    return 0;
}

static const char *const norm_fns1[] = { "log", "exp", "sqrt", "abs", "square", "sigmoid", "tanh",
                                         "relu", "softplus" };
static const char *const norm_fns2[] = { "min", "max" };

/* A normalize expression: numbers, x, + - * /, and a few functions. Sets
 * *uses_x when x appears. */
static int check_norm_expr(sema *s, const fe_expr *e, int *uses_x)
{
    switch (e->kind) {
    case FE_E_NUMBER: return 0;
    case FE_E_IDENT:
        if (strcmp(e->str, "x") == 0) { *uses_x = 1; return 0; }
        error(s, e->span, "unknown name '%s' in a normalize expression (x is the column's value)", e->str);
        return -1;
    case FE_E_NEG: return check_norm_expr(s, e->lhs, uses_x);
    case FE_E_BINARY: {
        int a = check_norm_expr(s, e->lhs, uses_x);
        int rx = 0;
        int b = check_norm_expr(s, e->rhs, &rx);
        double r;
        if (!b && !rx && e->op == '/' && const_value(e->rhs, &r) && r == 0) {
            error(s, e->rhs->span, "division by zero");
            b = -1;
        }
        *uses_x |= rx;
        return a | b;
    }
    case FE_E_CALL: {
        int arity = 0;
        for (size_t i = 0; i < ES_ARRAY_LEN(norm_fns1); i++) if (strcmp(e->str, norm_fns1[i]) == 0) arity = 1;
        for (size_t i = 0; i < ES_ARRAY_LEN(norm_fns2); i++) if (strcmp(e->str, norm_fns2[i]) == 0) arity = 2;
        if (!arity) {
            const char *all[ES_ARRAY_LEN(norm_fns1) + ES_ARRAY_LEN(norm_fns2)];
            int k = 0;
            for (size_t i = 0; i < ES_ARRAY_LEN(norm_fns1); i++) all[k++] = norm_fns1[i];
            for (size_t i = 0; i < ES_ARRAY_LEN(norm_fns2); i++) all[k++] = norm_fns2[i];
            const char *h = hint_among(s, e->str, all, k);
            if (*h) error(s, e->name_span, "unknown function '%s'%s", e->str, h);
            else error(s, e->name_span, "unknown function '%s' (known: %s)", e->str, join_names(s, all, k));
            return -1;
        }
        if (e->nargs != arity) {
            error(s, e->span, "%s() takes %d argument%s, not %d", e->str, arity, arity == 1 ? "" : "s", e->nargs);
            return -1;
        }
        int bad = 0;
        for (int i = 0; i < e->nargs; i++) {
            if (e->args[i].name) {
                error(s, e->args[i].name_span, "%s() takes no named arguments", e->str);
                bad = 1;
            } else if (check_norm_expr(s, e->args[i].value, uses_x)) bad = 1;
        }
        return bad ? -1 : 0;
    }
    case FE_E_STRING: case FE_E_BOOL: case FE_E_LIST: case FE_E_MAP: case FE_E_ERROR: case FE_E_NOT:
    case FE_E_INDEX: case FE_E_SLICE: case FE_E_ATTR:
        break;
    }
    error(s, e->span, "a normalize expression is arithmetic in x, not %s", found(s, e));
    return -1;
}

static const sem_param numeric_params[] = { { "column", 1, 1 }, { "normalize", 0, 0 }, { "default", 0, 0 } };
static const sem_param bucket_params[] = { { "source", 1, 1 }, { "boundaries", 1, 1 } };
static const sem_param vocab_params[] = {
    { "column", 1, 1 }, { "vocabulary_list", 1, 0 }, { "file", 0, 0 }, { "num_oov_buckets", 0, 0 },
    { "default_value", 0, 0 }, { "separator", 0, 0 }, { "max_values", 0, 0 },
};
static const sem_param identity_params[] = {
    { "column", 1, 1 }, { "num_buckets", 0, 1 }, { "default_value", 0, 0 }, { "separator", 0, 0 },
    { "max_values", 0, 0 },
};
static const sem_param hashed_params[] = {
    { "column", 1, 1 }, { "hash_bucket_size", 1, 1 }, { "separator", 0, 0 }, { "max_values", 0, 0 },
};
static const sem_param weighted_params[] = { { "categorical_column", 1, 1 }, { "weight_column", 1, 1 } };

/* separator = "|", max_values = M: a multivalent feature (spec.h). Both or neither. */
#define MAX_VALUES_LIMIT 4096
static void multi_args(sema *s, es_feature *f, const char *fn, const fe_arg *sep, const fe_arg *maxv, int *bad)
{
    f->max_values = 1;
    if (!sep && !maxv) return;
    if (sep && !maxv) {
        error(s, sep->span, "%s(): separator needs max_values too (the most values a field may hold), "
              "e.g. max_values = 8", fn);
        *bad = 1;
        return;
    }
    if (maxv && !sep) {
        error(s, maxv->span, "%s(): max_values needs a separator too (what joins the values of a field), "
              "e.g. separator = \"|\"", fn);
        *bad = 1;
        return;
    }
    const char *v;
    if (get_str(s, sep->value, "separator", &v)) *bad = 1;
    else if (!v[0]) { error(s, sep->value->span, "%s(): the separator must not be empty", fn); *bad = 1; }
    else f->value_separator = v;
    int64_t m;
    if (const_int(s, maxv->value, "max_values", &m)) *bad = 1;
    else if (m < 1 || m > MAX_VALUES_LIMIT) {
        error(s, maxv->value->span, "max_values must be between 1 and %d, not %lld", MAX_VALUES_LIMIT, (long long)m);
        *bad = 1;
    } else f->max_values = (int)m;
}
static const sem_param crossed_params[] = { { "keys", 1, 1 }, { "hash_bucket_size", 1, 1 } };
static const sem_param indicator_params[] = { { "categorical_column", 1, 1 } };

static void f_numeric(sema *s, es_feature *f, const fe_arg **a, int *bad)
{
    f->kind = ES_FEAT_NUMERIC;
    f->width = 1;
    if (a[0]) {
        f->column = column_ref(s, a[0]->value, "numeric");
        if (column_of_type(s, f->column, a[0]->value, "numeric", 1, 1, 0,
                           " (use vocabulary or hashed for strings)")) *bad = 1;
    }
    if (a[1]) {
        const fe_expr *e = a[1]->value;
        if (e->kind == FE_E_IDENT && strcmp(e->str, "zscore") == 0) f->norm = ES_NORM_ZSCORE;
        else if (e->kind == FE_E_IDENT && strcmp(e->str, "minmax") == 0) f->norm = ES_NORM_MINMAX;
        else if (e->kind == FE_E_IDENT && strcmp(e->str, "x") != 0) {
            static const char *const norms[] = { "zscore", "minmax" };
            error(s, e->span, "unknown normalization '%s'%s: use zscore, minmax or an expression in x",
                  e->str, hint_among(s, e->str, norms, 2));
            *bad = 1;
        } else if (e->kind == FE_E_STRING) {
            error(s, e->span, "normalize takes zscore, minmax or an expression in x, not a string");
            *bad = 1;
        } else {
            int uses_x = 0;
            if (check_norm_expr(s, e, &uses_x)) *bad = 1;
            else if (!uses_x) {
                error(s, e->span, "this normalize expression does not use x, the column's value");
                *bad = 1;
            } else {
                f->norm = ES_NORM_EXPR;
                s->norm.v[s->norm.n - 1] = e;
            }
        }
    }
    if (a[2] && const_num(s, a[2]->value, "default", &f->num_default)) *bad = 1;
}

static void f_bucketized(sema *s, sem_name *self, es_feature *f, const fe_arg **a, int *bad)
{
    f->kind = ES_FEAT_BUCKETIZED;
    f->categorical = 1;
    if (a[0]) {
        const fe_expr *e = a[0]->value;
        sem_name *n = e->kind == FE_E_IDENT ? lookup(s, e->str) : NULL;
        if (n && n->kind == N_FEATURE) {
            es_feature *src = feature_ref(s, e, self, "the source of bucketized()");
            if (!src) *bad = 1;
            else if (src->kind != ES_FEAT_NUMERIC) {
                error(s, e->span, "bucketized() needs a numeric column or numeric feature; '%s' is a %s "
                      "feature", src->name, feat_kind_name(src->kind));
                *bad = 1;
            } else {
                f->column = src->column;
                f->num_default = src->num_default;
            }
        } else {
            f->column = column_ref(s, e, "bucketized");
            if (column_of_type(s, f->column, e, "bucketized", 1, 1, 0, " (use vocabulary or hashed for strings)"))
                *bad = 1;
        }
    }
    if (a[1]) {
        const fe_expr *e = a[1]->value;
        if (get_list(s, e, "boundaries")) { *bad = 1; return; }
        if (e->nitems == 0) { error(s, e->span, "boundaries is empty: give at least one"); *bad = 1; return; }
        f->nbounds = e->nitems;
        f->bounds = es_alloc(s->a, sizeof(double) * (size_t)e->nitems);
        int ok = 1;
        for (int i = 0; i < e->nitems; i++) {
            if (const_num(s, e->items[i], "a boundary", &f->bounds[i])) { ok = 0; continue; }
            if (ok && i > 0 && !(f->bounds[i] > f->bounds[i - 1])) {
                error(s, e->items[i]->span, "boundaries must be strictly ascending: %g follows %g",
                      f->bounds[i], f->bounds[i - 1]);
                ok = 0;
            }
        }
        if (!ok) *bad = 1;
        f->num_buckets = f->nbounds + 1;
    }
}

/* Reads a vocabulary file: one entry per line, a final newline optional,
 * '\r' before it ignored (files written on Windows). */
static int read_vocab_file(sema *s, const fe_arg *g, const char *rel, es_feature *f)
{
    const char *path = es_path_join(s->a, s->src->dir, rel);
    es_status st;
    es_status_clear(&st);
    size_t len;
    char *text = es_read_file(path, &len, &st);
    if (!text) {
        error(s, g->value->span, "vocabulary file: %s", st.msg);
        return -1;
    }
    ES_VEC(const char *) v = { 0 };
    int bad = 0, line = 0;
    size_t i = 0;
    while (i < len) {
        size_t j = i;
        while (j < len && text[j] != '\n') j++;
        line++;
        size_t e = j;
        if (e > i && text[e - 1] == '\r') e--;
        if (memchr(text + i, 0, e - i)) {
            error(s, g->value->span, "vocabulary file '%s' line %d contains a NUL byte", path, line);
            bad = 1;
        } else if (e == i) {
            /* blank lines are an error unless only blank lines follow */
            size_t k = j;
            while (k < len && (text[k] == '\n' || text[k] == '\r')) k++;
            if (k < len) {
                error(s, g->value->span, "vocabulary file '%s' line %d is empty (one entry per line)", path, line);
                bad = 1;
            }
        } else {
            const char *w = es_strndup(s->a, text + i, e - i);
            for (int k = 0; k < v.n; k++)
                if (strcmp(v.v[k], w) == 0) {
                    error(s, g->value->span, "vocabulary file '%s' has \"%s\" twice (lines %d and %d)", path, w,
                          k + 1, line);
                    bad = 1;
                    break;
                }
            es_vec_push(s->a, v, w);
        }
        i = j + 1;
    }
    free(text);
    if (!bad && v.n == 0) {
        error(s, g->value->span, "vocabulary file '%s' is empty", path);
        bad = 1;
    }
    f->nvocab = v.n;
    f->vocab = v.v;
    return bad ? -1 : 0;
}

static void f_vocabulary(sema *s, es_feature *f, const fe_arg **a, int *bad)
{
    f->kind = ES_FEAT_VOCAB;
    f->categorical = 1;
    f->default_id = -1;
    if (a[0]) {
        f->column = column_ref(s, a[0]->value, "vocabulary");
        if (column_of_type(s, f->column, a[0]->value, "vocabulary", 0, 0, 1,
                           " (use bucketized for numbers, identity for int ids)")) *bad = 1;
    }
    int have_list = 0;
    if (a[1] && a[2]) {
        error(s, a[2]->span, "vocabulary() takes a list or a file, not both");
        *bad = 1;
    } else if (a[1]) {
        if (string_list(s, a[1]->value, "the vocabulary", &f->nvocab, &f->vocab)) *bad = 1;
        else have_list = 1;
    } else if (a[2]) {
        const char *rel;
        if (get_str(s, a[2]->value, "file", &rel)) *bad = 1;
        else if (read_vocab_file(s, a[2], rel, f)) *bad = 1;
        else have_list = 1;
    } else {
        error(s, a[0] ? a[0]->span : f->span, "vocabulary() needs its values: a list [\"a\", \"b\"] or "
              "file = \"values.txt\"");
        *bad = 1;
    }
    if (a[3]) {
        if (const_int(s, a[3]->value, "num_oov_buckets", &f->num_oov)) *bad = 1;
        else if (f->num_oov < 0 || f->num_oov > INT32_MAX) {
            error(s, a[3]->value->span, "num_oov_buckets must be 0 or more, not %lld", (long long)f->num_oov);
            *bad = 1;
        }
    }
    if (a[4]) {
        if (const_int(s, a[4]->value, "default_value", &f->default_id)) *bad = 1;
        else if (f->num_oov > 0 && f->default_id != -1) {
            error(s, a[4]->span, "default_value and num_oov_buckets cannot both be set: unknown values "
                  "either hash into the extra buckets or get the default id");
            *bad = 1;
        } else if (have_list && (f->default_id < -1 || f->default_id >= f->nvocab)) {
            error(s, a[4]->value->span, "default_value must be -1 (no id) or an id below %d, not %lld",
                  f->nvocab, (long long)f->default_id);
            *bad = 1;
        }
    }
    multi_args(s, f, "vocabulary", a[5], a[6], bad);
    f->num_buckets = (int64_t)f->nvocab + f->num_oov;
    if (f->num_buckets > INT32_MAX) {
        error(s, f->span, "vocabulary() has %lld ids; ids are 32-bit", (long long)f->num_buckets);
        *bad = 1;
    }
}

static void f_identity(sema *s, es_feature *f, const fe_arg **a, int *bad)
{
    f->kind = ES_FEAT_IDENTITY;
    f->categorical = 1;
    f->default_id = -1;
    multi_args(s, f, "identity", a[3], a[4], bad);
    if (a[0]) {
        f->column = column_ref(s, a[0]->value, "identity");
        if (f->value_separator) {
            if (column_of_type(s, f->column, a[0]->value, "identity", 0, 0, 1,
                               " (a multivalent identity reads a string of separator-joined integers)"))
                *bad = 1;
        } else if (column_of_type(s, f->column, a[0]->value, "identity", 0, 1, 0,
                                  " (identity ids are integers; use bucketized for floats, vocabulary for strings)"))
            *bad = 1;
    }
    if (a[1] && bucket_count(s, a[1]->value, "num_buckets", &f->num_buckets)) *bad = 1;
    if (a[2]) {
        if (const_int(s, a[2]->value, "default_value", &f->default_id)) *bad = 1;
        else if (f->num_buckets > 0 && (f->default_id < -1 || f->default_id >= f->num_buckets)) {
            error(s, a[2]->value->span, "default_value must be -1 (no id) or an id below %lld, not %lld",
                  (long long)f->num_buckets, (long long)f->default_id);
            *bad = 1;
        }
    }
}

static void f_hashed(sema *s, es_feature *f, const fe_arg **a, int *bad)
{
    f->kind = ES_FEAT_HASHED;
    f->categorical = 1;
    if (a[0]) {
        f->column = column_ref(s, a[0]->value, "hashed");
        if (column_of_type(s, f->column, a[0]->value, "hashed", 0, 0, 1,
                           " (use bucketized for numbers, identity for int ids)")) *bad = 1;
    }
    if (a[1] && bucket_count(s, a[1]->value, "hash_bucket_size", &f->num_buckets)) *bad = 1;
    multi_args(s, f, "hashed", a[2], a[3], bad);
}

static void f_crossed(sema *s, sem_name *self, es_feature *f, const fe_arg **a, int *bad)
{
    f->kind = ES_FEAT_CROSSED;
    f->categorical = 1;
    f->column = -1;
    if (a[1] && bucket_count(s, a[1]->value, "hash_bucket_size", &f->num_buckets)) *bad = 1;
    if (!a[0]) return;
    const fe_expr *e = a[0]->value;
    if (e->kind != FE_E_LIST) {
        error(s, e->span, "crossed() takes a list of features first, e.g. crossed([a, b], 1000)");
        *bad = 1;
        return;
    }
    if (e->nitems < 2) {
        error(s, e->span, "a cross needs at least 2 keys, not %d", e->nitems);
        *bad = 1;
        return;
    }
    f->ncross = e->nitems;
    f->cross = es_alloc(s->a, sizeof(es_feature *) * (size_t)e->nitems);
    for (int i = 0; i < e->nitems; i++) {
        const fe_expr *k = e->items[i];
        const char *name;
        if (get_name(s, k, "a key of crossed()", &name)) { *bad = 1; continue; }
        for (int j = 0; j < i; j++)
            if (e->items[j]->kind == FE_E_IDENT && strcmp(e->items[j]->str, name) == 0) {
                error(s, k->span, "'%s' is crossed with itself", name);
                *bad = 1;
            }
        sem_name *n = lookup(s, name);
        if (n && n->kind == N_FEATURE) {
            es_feature *in = feature_ref(s, k, self, "a key of crossed()");
            if (!in) { *bad = 1; continue; }
            if (!in->categorical) {
                error(s, k->span, "crossed() keys must be categorical; '%s' is a %s feature%s", name,
                      feat_kind_name(in->kind),
                      in->kind == ES_FEAT_NUMERIC ? " (bucketize it first)" : " (cross the feature it wraps)");
                *bad = 1;
                continue;
            }
            if (in->value_separator || in->kind == ES_FEAT_WEIGHTED) {
                error(s, k->span, "crossed() keys must have one value per example; '%s' is %s", name,
                      in->kind == ES_FEAT_WEIGHTED ? "weighted" : "multivalent");
                *bad = 1;
                continue;
            }
            f->cross[i] = in;
            continue;
        }
        /* a raw string column: a hidden hashed feature (spec.h) */
        if (!s->train_ok) { *bad = 1; continue; }
        int c = column_index(s->train, name);
        if (c < 0) {
            hint h = { 0 };
            for (int j = 0; j < s->names.n; j++)
                if (s->names.v[j].kind == N_FEATURE) hint_try(&h, name, s->names.v[j].name);
            for (int j = 0; j < s->train->ncols; j++) hint_try(&h, name, s->train->cols[j].name);
            error(s, k->span, "unknown feature or column '%s'%s", name, hint_text(s, &h));
            *bad = 1;
            continue;
        }
        if (s->train->cols[c].type != ES_COL_STRING) {
            error(s, k->span, "column '%s' is %s: only string columns can be crossed directly (bucketize "
                  "it, or use identity for int ids, and cross that feature)", name,
                  coltype_name(s->train->cols[c].type));
            *bad = 1;
            continue;
        }
        es_feature *h = es_alloc(s->a, sizeof *h);
        h->name = s->train->cols[c].name;
        h->kind = ES_FEAT_HASHED;
        h->column = c;
        h->categorical = 1;
        h->num_buckets = 0;
        h->default_id = -1;
        h->span = k->span;
        f->cross[i] = h;
    }
}

static void f_indicator(sema *s, sem_name *self, es_feature *f, const fe_arg **a, int *bad)
{
    f->kind = ES_FEAT_INDICATOR;
    f->column = -1;
    if (!a[0]) return;
    es_feature *of = feature_ref(s, a[0]->value, self, "the argument of indicator()");
    if (!of) { *bad = 1; return; }
    if (!of->categorical) {
        error(s, a[0]->value->span, "indicator() needs a categorical feature; '%s' is %s", of->name,
              of->kind == ES_FEAT_NUMERIC ? "numeric (use it directly)" : "already dense");
        *bad = 1;
        return;
    }
    if (of->kind == ES_FEAT_WEIGHTED) {
        error(s, a[0]->value->span, "indicator() of a weighted feature is not supported: use embedding(%s, "
              "DIMENSION) or a linear model", of->name);
        *bad = 1;
        return;
    }
    f->of = of;
    f->width = (int)of->num_buckets;
}

static void f_weighted(sema *s, sem_name *self, es_feature *f, const fe_arg **a, int *bad)
{
    f->kind = ES_FEAT_WEIGHTED;
    f->categorical = 1;
    f->column = -1;
    if (a[1]) {
        f->column = column_ref(s, a[1]->value, "weighted");
        if (column_of_type(s, f->column, a[1]->value, "weighted", 0, 0, 1,
                           " (weights are read as separator-joined numbers, one per value of the ids)"))
            *bad = 1;
    }
    if (!a[0]) return;
    es_feature *of = feature_ref(s, a[0]->value, self, "the first argument of weighted()");
    if (!of) { *bad = 1; return; }
    if ((of->kind != ES_FEAT_VOCAB && of->kind != ES_FEAT_IDENTITY && of->kind != ES_FEAT_HASHED) ||
        !of->value_separator) {
        error(s, a[0]->value->span, "weighted() needs a multivalent vocabulary, identity or hashed feature "
              "(one with separator = and max_values =); '%s' is %s %s feature", of->name,
              of->value_separator ? "a" : "a univalent", feat_kind_name(of->kind));
        *bad = 1;
        return;
    }
    f->of = of;
    f->num_buckets = of->num_buckets;
    f->max_values = of->max_values;
    f->value_separator = of->value_separator;
}

static void check_feature(sema *s, sem_name *n)
{
    const fe_decl *d = n->decl;
    if (d->value->kind == FE_E_CALL && strcmp(d->value->str, "embedding") == 0) {
        /* a dense column the model makes (it owns a table of weights): checked where a
         * model reads it, since only the model knows its scope */
        n->column = d->value;
        n->ok = n->done = 1;
        return;
    }
    es_feature *f = es_alloc(s->a, sizeof *f);
    f->name = d->name;
    f->span = d->span;
    f->column = -1;
    f->default_id = -1;
    f->num_default = NAN;     /* no default: a missing value is an error (runtime) */
    n->obj = f;
    n->index = s->features.n;
    es_vec_push(s->a, s->features, f);
    es_vec_push(s->a, s->norm, (const fe_expr *)NULL);

    static const char *const known[] = { "numeric", "bucketized", "vocabulary", "identity", "hashed",
                                         "crossed", "indicator", "embedding", "weighted" };
    int which, bad = 0;
    const fe_expr *call = expect_call(s, d, "feature column", known, 9, "numeric(COLUMN) or bucketized(COLUMN, [...])",
                                      &which);
    if (!call) { n->done = 1; return; }
    static const struct { const sem_param *p; int n; } sigs[] = {
        { numeric_params, 3 }, { bucket_params, 2 }, { vocab_params, 7 }, { identity_params, 5 },
        { hashed_params, 4 }, { crossed_params, 2 }, { indicator_params, 1 }, { NULL, 0 },
        { weighted_params, 2 },
    };
    if (which == 5 && call->nargs > 0 && !call->args[0].name && call->args[0].value->kind == FE_E_IDENT) {
        /* crossed(a, b, 100): the keys written without their list brackets */
        int k = 0;
        while (k < call->nargs && !call->args[k].name && call->args[k].value->kind == FE_E_IDENT) k++;
        es_span keys = fe_span_join(call->args[0].span, call->args[k - 1].span);
        error(s, keys, "crossed() takes its keys as a list: write [%.*s]", keys.len, s->src->text + keys.off);
        n->done = 1;
        return;
    }
    const fe_arg *a[MAXP];
    if (bind_args(s, call, sigs[which].p, sigs[which].n, a)) bad = 1;
    switch (which) {
    case 0: f_numeric(s, f, a, &bad); break;
    case 1: f_bucketized(s, n, f, a, &bad); break;
    case 2: f_vocabulary(s, f, a, &bad); break;
    case 3: f_identity(s, f, a, &bad); break;
    case 4: f_hashed(s, f, a, &bad); break;
    case 5: f_crossed(s, n, f, a, &bad); break;
    case 8: f_weighted(s, n, f, a, &bad); break;
    default: f_indicator(s, n, f, a, &bad); break;
    }
    if (!s->train_ok) bad = 1;
    n->done = 1;
    n->ok = !bad;
}

/* ---- estimator ------------------------------------------------------------------ *
 * The estimator is a model instantiated with hyper-parameters: one of the file
 * or a pre-made one of the stdlib. model.c runs it (the three graphs); here the
 * file's declarations are handed over and its messages join the others. */

/* Does f read column c of the training source, itself or through its inputs? */
static int reads_column(const es_feature *f, int c)
{
    if (f->column == c && f->kind != ES_FEAT_CROSSED && f->kind != ES_FEAT_INDICATOR) return 1;   /* weighted: its weights */
    for (int i = 0; i < f->ncross; i++) if (f->cross[i] && reads_column(f->cross[i], c)) return 1;
    if (f->of) return reads_column(f->of, c);
    return 0;
}

static void report_elab(void *ctx, es_diag_kind k, es_span sp, const char *msg)
{
    sema *s = ctx;
    if (k == ES_DIAG_ERROR) error(s, sp, "%s", msg);
    else if (k == ES_DIAG_WARNING) warning(s, sp, "%s", msg);
    else note(s, sp, "%s", msg);
}

/* spec.used: the features the programs read (their INPUT nodes), in the order the
 * train program first reads them, each once. */
static void fill_used(sema *s, gr_graph *const *prog)
{
    es_spec *sp = &s->out->spec;
    sp->used = es_alloc(s->a, sizeof(es_feature *) * (size_t)(s->features.n + 1));
    sp->nused = 0;
    for (int k = 0; k < 3; k++) {
        const gr_graph *g = prog[k];
        if (!g) continue;
        for (int i = 0; i < g->n; i++) {
            if (g->nodes[i].op != GR_INPUT) continue;
            for (int j = 0; j < s->features.n; j++) {
                es_feature *f = s->features.v[j];
                if (strcmp(f->name, g->nodes[i].name) != 0) continue;
                int seen = 0;
                for (int u = 0; u < sp->nused; u++) if (sp->used[u] == f) seen = 1;
                if (!seen) sp->used[sp->nused++] = f;
            }
        }
    }
}

static void check_estimator(sema *s, sem_name *n, int label_ok, const fe_file *const *stdlib, int nstdlib)
{
    fe_checked *o = s->out;
    o->est_name = n->decl->name;
    o->est_span = n->decl->span;
    fe_global *globals = es_alloc(s->a, sizeof(fe_global) * (size_t)(s->names.n + 1));
    for (int i = 0; i < s->names.n; i++) {
        sem_name *m = &s->names.v[i];
        fe_global *g = &globals[i];
        g->name = m->name;
        g->decl = m->decl;
        switch (m->kind) {
        case N_SOURCE: g->kind = FE_G_SOURCE; break;
        case N_LABEL: g->kind = FE_G_LABEL; break;
        case N_FEATURE:
            g->kind = FE_G_FEATURE;
            g->feature = m->ok && !m->column ? m->obj : NULL;
            g->column = m->column;
            break;
        case N_ESTIMATOR: g->kind = FE_G_ESTIMATOR; break;
        case N_MODEL: g->kind = FE_G_MODEL; break;
        case N_DEF: g->kind = FE_G_DEF; break;
        }
    }
    fe_elab_in in;
    memset(&in, 0, sizeof in);
    in.arena = s->a;
    in.src = s->src;
    in.spec = &o->spec;
    in.label_ok = label_ok;
    in.norm_expr = s->norm.v;
    in.globals = globals;
    in.nglobals = s->names.n;
    in.stdlib = stdlib;
    in.nstdlib = nstdlib;
    in.estimator = n->decl;
    in.report = report_elab;
    in.ctx = s;
    /* spec.features is read while the model runs (batch sizes, normalisation) */
    o->spec.nfeatures = s->features.n;
    o->spec.features = s->features.v;
    fe_elab_out out;
    int errors = fe_elaborate(&in, &out);
    o->est_class = out.model_name;
    for (int k = 0; k < 3; k++) o->prog[k] = out.prog[k];
    n->ok = errors == 0;
    n->done = 1;
    if (errors) return;
    fill_used(s, o->prog);
    /* the label's column among the inputs gives the answer away */
    const es_label_spec *l = &o->spec.label;
    if (label_ok && l->column >= 0)
        for (int i = 0; i < o->spec.nused; i++)
            if (reads_column(o->spec.used[i], l->column))
                warning(s, o->spec.used[i]->span, "feature '%s' reads the label's column '%s': the model would be "
                        "given the answer", o->spec.used[i]->name, s->train->cols[l->column].name);
}

/* ---- the whole file -------------------------------------------------------------- */

int fe_sema(es_arena *a, const fe_file *file, const fe_file *const *stdlib, int nstdlib, es_diags *d,
            fe_checked *out)
{
    sema s;
    memset(&s, 0, sizeof s);
    s.a = a;
    s.d = d;
    s.file = file;
    s.src = file->src;
    s.out = out;
    memset(out, 0, sizeof *out);

    collect_names(&s);
    for (int i = 0; i < s.names.n; i++)
        if (s.names.v[i].kind == N_SOURCE) check_source(&s, &s.names.v[i]);
    choose_sources(&s);

    sem_name *label = NULL, *est = NULL;
    for (int i = 0; i < s.names.n; i++) {
        if (s.names.v[i].kind == N_LABEL) label = &s.names.v[i];
        if (s.names.v[i].kind == N_ESTIMATOR) est = &s.names.v[i];
    }
    int label_ok = 0;
    if (label) {
        label_ok = check_label(&s, label) == 0 && s.train_ok;
        label->ok = label_ok;
        label->done = 1;
        /* the head follows the label, as TensorFlow's heads do */
        const es_label_spec *l = &out->spec.label;
        out->spec.head = l->kind == ES_LABEL_NUMERIC ? ES_HEAD_REGRESSION
                       : l->n_classes == 2 ? ES_HEAD_BINARY : ES_HEAD_MULTICLASS;
    }
    for (int i = 0; i < s.names.n; i++)
        if (s.names.v[i].kind == N_FEATURE) check_feature(&s, &s.names.v[i]);
    if (est) out->est_name = est->decl->name;
    check_run(&s);
    if (est && est->decl->value) check_estimator(&s, est, label_ok, stdlib, nstdlib);
    else error(&s, end_span(&s), "the model has no estimator: declare one, e.g. "
               "estimator model = LinearClassifier(features = [...])");
    if (!label)
        error(&s, est ? est->decl->kw_span : end_span(&s), "the model has no label: declare the column to "
              "predict, e.g. label y = vocabulary(COLUMN, [\"no\", \"yes\"]) or label y = numeric(COLUMN)");

    out->nsources = s.sources.n;
    out->sources = s.sources.v;
    out->spec.nfeatures = s.features.n;
    out->spec.features = s.features.v;
    out->norm_expr = s.norm.v;
    flush(&s);
    return s.nerrors;
}

/*
 * ast.c — builders for the syntax tree, called by the grammar actions of
 * parser.y and by nothing else that builds trees.
 *
 * Builders only allocate and link nodes; the one check they make is the
 * nesting depth, because that bound is what keeps every later recursive walk
 * safe: a node deeper than FE_MAX_NESTING is replaced by an error node (and
 * the problem is reported once per file).
 */
#include "ast.h"

#include <stdarg.h>

es_span fe_span_after(es_span sp)
{
    es_span r = sp;
    r.off = sp.off + sp.len;
    r.len = 0;
    if (!sp.src) return r;
    const char *t = sp.src->text;
    for (int i = sp.off; i < r.off; i++) {
        if (t[i] == '\n') { r.line++; r.col = 1; }
        else r.col++;
    }
    return r;
}

es_span fe_span_join(es_span a, es_span b)
{
    es_span r = a;
    int end = b.off + b.len;
    if (end < a.off + a.len) end = a.off + a.len;
    r.len = end - a.off;
    return r;
}

void fe_syntax_error(fe_parser *p, es_span sp, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    es_vdiag(p->diags, ES_DIAG_ERROR, sp, fmt, ap);
    va_end(ap);
    p->syntax_errors++;
}

static fe_expr *new_expr(fe_parser *p, fe_expr_kind k, es_span sp)
{
    fe_expr *e = es_alloc(p->arena, sizeof *e);
    e->kind = k;
    e->span = sp;
    e->depth = 1;
    return e;
}

/* Gives e its depth from its children; too deep becomes an error node. */
static fe_expr *nest(fe_parser *p, fe_expr *e, int child_depth)
{
    e->depth = child_depth + 1;
    if (e->depth <= FE_MAX_NESTING) return e;
    if (!p->nesting_reported) {
        p->nesting_reported = 1;
        fe_syntax_error(p, e->span, "expression nested too deeply (more than %d levels)",
                        FE_MAX_NESTING);
    }
    fe_expr *err = new_expr(p, FE_E_ERROR, e->span);
    err->depth = FE_MAX_NESTING + 1;    /* stays too deep: said once, not at every level */
    return err;
}

static int depth_of(const fe_expr *e) { return e ? e->depth : 0; }

fe_expr *fe_ast_number(fe_parser *p, es_span sp, fe_tok t)
{
    fe_expr *e = new_expr(p, FE_E_NUMBER, sp);
    e->num = t.num;
    e->ival = t.ival;
    e->is_int = t.is_int;
    return e;
}

fe_expr *fe_ast_string(fe_parser *p, es_span sp, fe_tok t)
{
    fe_expr *e = new_expr(p, FE_E_STRING, sp);
    e->str = t.s;
    return e;
}

fe_expr *fe_ast_bool(fe_parser *p, es_span sp, fe_tok t)
{
    fe_expr *e = new_expr(p, FE_E_BOOL, sp);
    e->b = t.b;
    return e;
}

fe_expr *fe_ast_ident(fe_parser *p, es_span sp, fe_tok t)
{
    fe_expr *e = new_expr(p, FE_E_IDENT, sp);
    e->str = t.s;
    return e;
}

fe_expr *fe_ast_error(fe_parser *p, es_span sp) { return new_expr(p, FE_E_ERROR, sp); }

fe_expr *fe_ast_binary(fe_parser *p, es_span sp, int op, fe_expr *l, fe_expr *r)
{
    fe_expr *e = new_expr(p, FE_E_BINARY, sp);
    e->op = op;
    e->lhs = l;
    e->rhs = r;
    int d = depth_of(l) > depth_of(r) ? depth_of(l) : depth_of(r);
    return nest(p, e, d);
}

fe_expr *fe_ast_neg(fe_parser *p, es_span sp, fe_expr *x)
{
    fe_expr *e = new_expr(p, FE_E_NEG, sp);
    e->lhs = x;
    return nest(p, e, depth_of(x));
}

/* Parentheses leave no node, but the span widens to include them so a
 * message about "(x - 1) / 2" underlines what the user wrote; they still
 * count as a level of nesting. */
fe_expr *fe_ast_paren(fe_parser *p, es_span sp, fe_expr *x)
{
    fe_expr *e = es_alloc(p->arena, sizeof *e);
    *e = *x;
    e->span = sp;
    if (x->kind == FE_E_ERROR) return e;
    return nest(p, e, depth_of(x));
}

fe_expr *fe_ast_call(fe_parser *p, es_span sp, fe_tok name, es_span name_span, fe_arg_vec *args)
{
    fe_expr *e = new_expr(p, FE_E_CALL, sp);
    e->str = name.s;
    e->name_span = name_span;
    int d = 0;
    if (args) {
        e->nargs = args->n;
        e->args = args->v;
        for (int i = 0; i < args->n; i++)
            if (depth_of(args->v[i].value) > d) d = depth_of(args->v[i].value);
    }
    return nest(p, e, d);
}

fe_expr *fe_ast_list(fe_parser *p, es_span sp, fe_expr_vec *items)
{
    fe_expr *e = new_expr(p, FE_E_LIST, sp);
    int d = 0;
    if (items) {
        e->nitems = items->n;
        e->items = items->v;
        for (int i = 0; i < items->n; i++)
            if (depth_of(items->v[i]) > d) d = depth_of(items->v[i]);
    }
    return nest(p, e, d);
}

fe_expr *fe_ast_map(fe_parser *p, es_span sp, fe_arg_vec *entries)
{
    fe_expr *e = new_expr(p, FE_E_MAP, sp);
    int d = 0;
    if (entries) {
        e->nargs = entries->n;
        e->args = entries->v;
        for (int i = 0; i < entries->n; i++)
            if (depth_of(entries->v[i].value) > d) d = depth_of(entries->v[i].value);
    }
    return nest(p, e, d);
}

fe_expr_vec *fe_ast_expr_vec(fe_parser *p, fe_expr_vec *v, fe_expr *x)
{
    if (!v) v = es_alloc(p->arena, sizeof *v);
    if (x) es_vec_push(p->arena, *v, x);
    return v;
}

fe_arg_vec *fe_ast_arg_vec(fe_parser *p, fe_arg_vec *v, fe_arg a)
{
    if (!v) v = es_alloc(p->arena, sizeof *v);
    if (a.value) es_vec_push(p->arena, *v, a);
    return v;
}

fe_arg fe_ast_arg(fe_parser *p, es_span sp, const fe_tok *name, es_span name_span, fe_expr *value)
{
    ES_UNUSED(p);
    fe_arg a;
    memset(&a, 0, sizeof a);
    a.name = name ? name->s : NULL;
    a.name_span = name ? name_span : sp;
    a.value = value;
    a.span = sp;
    return a;
}

fe_col_vec *fe_ast_col_vec(fe_parser *p, fe_col_vec *v, fe_col *c)
{
    if (!v) v = es_alloc(p->arena, sizeof *v);
    if (c) es_vec_push(p->arena, *v, *c);
    return v;
}

fe_col *fe_ast_col(fe_parser *p, es_span sp, fe_tok name, es_span name_span, fe_tok type,
                   es_span type_span, fe_expr *def)
{
    fe_col *c = es_alloc(p->arena, sizeof *c);
    c->name = name.s;
    c->name_span = name_span;
    c->type = type.s;
    c->type_span = type_span;
    c->def = def;
    c->span = sp;
    return c;
}

static void add_decl(fe_parser *p, fe_decl *d) { es_vec_push(p->arena, p->file->decls, d); }

void fe_ast_decl(fe_parser *p, es_span sp, fe_decl_kind k, es_span kw_span, fe_tok name,
                 es_span name_span, fe_expr *value, fe_col_vec *cols)
{
    fe_decl *d = es_alloc(p->arena, sizeof *d);
    d->kind = k;
    d->name = name.s;
    d->name_span = name_span;
    d->kw_span = kw_span;
    d->value = value;
    if (cols) {
        d->has_cols = 1;
        d->ncols = cols->n;
        d->cols = cols->v;
    }
    d->span = sp;
    add_decl(p, d);
}

void fe_ast_run(fe_parser *p, es_span sp, es_span kw_span, fe_arg_vec *settings)
{
    fe_decl *d = es_alloc(p->arena, sizeof *d);
    d->kind = FE_D_RUN;
    d->kw_span = kw_span;
    d->name_span = kw_span;
    if (settings) {
        d->nsettings = settings->n;
        d->settings = settings->v;
    }
    d->span = sp;
    add_decl(p, d);
}

fe_expr *fe_ast_not(fe_parser *p, es_span sp, fe_expr *x)
{
    fe_expr *e = new_expr(p, FE_E_NOT, sp);
    e->lhs = x;
    return nest(p, e, depth_of(x));
}

fe_expr *fe_ast_index(fe_parser *p, es_span sp, fe_expr *x, fe_expr_vec *subs)
{
    fe_expr *e = new_expr(p, FE_E_INDEX, sp);
    e->lhs = x;
    int d = depth_of(x);
    if (subs) {
        e->nitems = subs->n;
        e->items = subs->v;
        for (int i = 0; i < subs->n; i++)
            if (depth_of(subs->v[i]) > d) d = depth_of(subs->v[i]);
    }
    return nest(p, e, d);
}

fe_expr *fe_ast_slice(fe_parser *p, es_span sp, fe_expr *from, fe_expr *to)
{
    fe_expr *e = new_expr(p, FE_E_SLICE, sp);
    e->lhs = from;
    e->rhs = to;
    int d = depth_of(from) > depth_of(to) ? depth_of(from) : depth_of(to);
    return nest(p, e, d);
}

fe_expr *fe_ast_attr(fe_parser *p, es_span sp, fe_expr *x, fe_tok name, es_span name_span)
{
    fe_expr *e = new_expr(p, FE_E_ATTR, sp);
    e->lhs = x;
    e->str = name.s;
    e->name_span = name_span;
    return nest(p, e, depth_of(x));
}

/* ---- models and helper functions ----------------------------------------- */

fe_param_vec *fe_ast_param_vec(fe_parser *p, fe_param_vec *v, fe_param *x)
{
    if (!v) v = es_alloc(p->arena, sizeof *v);
    if (x) es_vec_push(p->arena, *v, *x);
    return v;
}

fe_param *fe_ast_param(fe_parser *p, es_span sp, fe_tok name, es_span name_span, const fe_tok *type,
                       const fe_tok *type2, es_span type_span, fe_expr *def)
{
    fe_param *x = es_alloc(p->arena, sizeof *x);
    x->name = name.s;
    x->name_span = name_span;
    if (type) x->type = type2 ? es_sprintf(p->arena, "%s[%s]", type->s, type2->s) : type->s;
    x->type_span = type_span;
    x->def = def;
    x->span = sp;
    return x;
}

fe_stmt_vec *fe_ast_stmt_vec(fe_parser *p, fe_stmt_vec *v, fe_stmt *x)
{
    if (!v) v = es_alloc(p->arena, sizeof *v);
    if (x) es_vec_push(p->arena, *v, x);
    return v;
}

static int stmt_depth(const fe_stmt *s)
{
    int d = s->body.depth;
    if (s->has_else && s->else_body.depth > d) d = s->else_body.depth;
    return d;
}

/* Blocks nest like expressions and share their bound, so walking statements
 * recursively is as safe as walking expressions. */
fe_block fe_ast_block(fe_parser *p, es_span sp, fe_stmt_vec *v)
{
    fe_block b;
    memset(&b, 0, sizeof b);
    b.span = sp;
    int d = 0;
    if (v) {
        b.n = v->n;
        b.v = v->v;
        for (int i = 0; i < v->n; i++)
            if (stmt_depth(v->v[i]) > d) d = stmt_depth(v->v[i]);
    }
    b.depth = d + 1;
    if (b.depth > FE_MAX_NESTING) {
        if (!p->nesting_reported) {
            p->nesting_reported = 1;
            fe_syntax_error(p, sp, "blocks nested too deeply (more than %d levels)", FE_MAX_NESTING);
        }
        b.n = 0;
        b.v = NULL;
    }
    return b;
}

fe_block fe_ast_block_of(fe_parser *p, fe_stmt *s)
{
    fe_stmt_vec *v = fe_ast_stmt_vec(p, NULL, s);
    return fe_ast_block(p, s ? s->span : (es_span){ 0 }, v);
}

static fe_stmt *new_stmt(fe_parser *p, fe_stmt_kind k, es_span sp)
{
    fe_stmt *s = es_alloc(p->arena, sizeof *s);
    s->kind = k;
    s->span = sp;
    return s;
}

fe_stmt *fe_ast_stmt(fe_parser *p, es_span sp, fe_stmt_kind k, const fe_tok *name, es_span name_span,
                     fe_expr *value)
{
    fe_stmt *s = new_stmt(p, k, sp);
    if (name) s->name = name->s;
    s->name_span = name_span;
    s->value = value;
    return s;
}

fe_stmt *fe_ast_param_stmt(fe_parser *p, es_span sp, fe_param *param)
{
    if (!param) return NULL;
    fe_stmt *s = new_stmt(p, FE_S_PARAM, sp);
    s->name = param->name;
    s->name_span = param->name_span;
    s->type = param->type;
    s->type_span = param->type_span;
    s->value = param->def;
    return s;
}

fe_stmt *fe_ast_for(fe_parser *p, es_span sp, fe_tok name, es_span name_span, const fe_tok *name2,
                    es_span name2_span, fe_expr *iter, fe_block body)
{
    fe_stmt *s = new_stmt(p, FE_S_FOR, sp);
    s->name = name.s;
    s->name_span = name_span;
    if (name2) {
        s->name2 = name2->s;
        s->name2_span = name2_span;
    }
    s->value = iter;
    s->body = body;
    return s;
}

fe_stmt *fe_ast_if(fe_parser *p, es_span sp, fe_expr *cond, fe_block body, const fe_block *else_body)
{
    fe_stmt *s = new_stmt(p, FE_S_IF, sp);
    s->value = cond;
    s->body = body;
    if (else_body) {
        s->has_else = 1;
        s->else_body = *else_body;
    }
    return s;
}

fe_stmt *fe_ast_scope(fe_parser *p, es_span sp, fe_expr *name, fe_block body)
{
    fe_stmt *s = new_stmt(p, FE_S_SCOPE, sp);
    s->value = name;
    s->body = body;
    return s;
}

void fe_ast_function(fe_parser *p, es_span sp, fe_decl_kind k, es_span kw_span, fe_tok name,
                     es_span name_span, fe_param_vec *params, fe_block body)
{
    fe_decl *d = es_alloc(p->arena, sizeof *d);
    d->kind = k;
    d->name = name.s;
    d->name_span = name_span;
    d->kw_span = kw_span;
    if (params) {
        d->nparams = params->n;
        d->params = params->v;
    }
    d->body = body;
    d->span = sp;
    add_decl(p, d);
}

const char *fe_expr_kind_name(const fe_expr *e)
{
    switch (e->kind) {
    case FE_E_NUMBER: return "a number";
    case FE_E_STRING: return "a string";
    case FE_E_BOOL: return "a boolean";
    case FE_E_IDENT: return "a name";
    case FE_E_CALL: return "a call";
    case FE_E_LIST: return "a list";
    case FE_E_MAP: return "a map";
    case FE_E_BINARY: return "an arithmetic expression";
    case FE_E_NEG: return "an arithmetic expression";
    case FE_E_NOT: return "a condition";
    case FE_E_INDEX: return "a subscript";
    case FE_E_SLICE: return "a slice";
    case FE_E_ATTR: return "an entry of a map";
    case FE_E_ERROR: return "an invalid expression";
    }
    return "an expression";
}

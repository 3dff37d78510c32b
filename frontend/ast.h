/*
 * ast.h — the syntax tree of a .est file, its builders, and the parser's
 * entry point (frontend-internal; the public interface is frontend.h).
 *
 * The tree is what the user wrote and nothing more: a file is a list of
 * declarations whose values are generic expressions (calls, lists, maps,
 * arithmetic). The parser knows nothing of what `csv`, `vocabulary` or
 * `LinearClassifier` mean; sema.c gives them meaning.
 *
 * Invariants: every node carries the es_span of its whole source text; all
 * memory belongs to the arena of the fe_parser that built it; the grammar
 * actions in parser.y only call the fe_ast_* builders below. An expression's
 * nesting depth is bounded (FE_MAX_NESTING), so every recursive walk over the
 * tree (sema, lowering) has bounded stack use whatever the input.
 */
#ifndef ESTC_FE_AST_H
#define ESTC_FE_AST_H

#include "../core/core.h"

/* Deepest expression nesting accepted; deeper input is an error, not a crash. */
#define FE_MAX_NESTING 100

typedef enum {
    FE_E_NUMBER,    /* num (is_int: written without '.' or exponent; then ival is exact) */
    FE_E_STRING,    /* str, escapes already processed */
    FE_E_BOOL,      /* b */
    FE_E_IDENT,     /* str */
    FE_E_CALL,      /* str = callee, name_span; args */
    FE_E_LIST,      /* items */
    FE_E_MAP,       /* args: name = the key string, value */
    FE_E_BINARY,    /* op (fe_binop: '+', '-', '*', '/', '@', '<', '>', FE_OP_*), lhs, rhs */
    FE_E_NEG,       /* lhs */
    FE_E_NOT,       /* not lhs */
    FE_E_INDEX,     /* lhs[items]: each item an expression or a FE_E_SLICE */
    FE_E_SLICE,     /* lhs:rhs inside a subscript; either may be NULL */
    FE_E_ATTR,      /* lhs.str (a map's entry), name_span = the name after '.' */
    FE_E_ERROR,     /* a part that failed to parse (already reported) */
} fe_expr_kind;

/* Binary operators besides the one-character ones ('+' '-' '*' '/' '@' '<' '>'). */
enum { FE_OP_LE = 256, FE_OP_GE, FE_OP_EQ, FE_OP_NE, FE_OP_AND, FE_OP_OR };

typedef struct fe_expr fe_expr;

/* An argument of a call or a setting of a run block: `name = value` or a
 * positional value (name == NULL). */
typedef struct fe_arg {
    const char *name;
    es_span name_span;
    fe_expr *value;
    es_span span;            /* the whole argument */
} fe_arg;

struct fe_expr {
    fe_expr_kind kind;
    es_span span;
    int depth;               /* 1 for a leaf */
    double num;
    int64_t ival;
    int is_int;
    int b;
    const char *str;
    es_span name_span;       /* call: the callee's name */
    int op;
    fe_expr *lhs, *rhs;
    int nargs;
    fe_arg *args;
    int nitems;
    fe_expr **items;
};

/* A column of a source's column block: `name: type [= default]`. */
typedef struct fe_col {
    const char *name;
    es_span name_span;
    const char *type;
    es_span type_span;
    fe_expr *def;            /* NULL if none */
    es_span span;
} fe_col;

typedef enum { FE_D_SOURCE, FE_D_LABEL, FE_D_FEATURE, FE_D_ESTIMATOR, FE_D_RUN, FE_D_MODEL,
               FE_D_DEF } fe_decl_kind;

/* A parameter of a model or def: `name [: type] [= default]`. */
typedef struct fe_param {
    const char *name;
    es_span name_span;
    const char *type;        /* NULL, "int", "list", or "list[int]" style */
    es_span type_span;
    fe_expr *def;            /* NULL: required */
    es_span span;
} fe_param;

typedef struct fe_stmt fe_stmt;
typedef struct fe_block { int n; fe_stmt **v; es_span span; int depth; } fe_block;

typedef enum {
    FE_S_ASSIGN,    /* name = value */
    FE_S_PARAM,     /* param name [: type] = value (a hyper-parameter; models only) */
    FE_S_EXPR,      /* value (a call, for its effect) */
    FE_S_FOR,       /* for name in value { body }  /  for name, name2 in value { body } */
    FE_S_IF,        /* if value { body } else { else_body } */
    FE_S_SCOPE,     /* scope value { body } */
    FE_S_RETURN,    /* return value */
} fe_stmt_kind;

struct fe_stmt {
    fe_stmt_kind kind;
    const char *name, *name2;   /* assign/param target; for's variables (name2: the item when two) */
    es_span name_span, name2_span;
    const char *type;           /* param's annotation or NULL */
    es_span type_span;
    fe_expr *value;
    fe_block body, else_body;
    int has_else;
    es_span span;
};

typedef struct fe_decl {
    fe_decl_kind kind;
    const char *name;        /* NULL for run */
    es_span name_span;
    es_span kw_span;         /* the keyword */
    fe_expr *value;          /* NULL for run */
    int has_cols;            /* source: a { ... } column block was written */
    int ncols;
    fe_col *cols;
    int nsettings;           /* run */
    fe_arg *settings;
    int nparams;             /* model, def */
    fe_param *params;
    fe_block body;
    es_span span;            /* the whole declaration */
} fe_decl;

typedef struct fe_file {
    const es_source *src;
    ES_VEC(fe_decl *) decls;     /* in source order */
} fe_file;

/* ---- the parser's state (shared by parser.y, lexer.l and ast.c) ---------- */

/* Token values handed from the scanner to the parser. */
typedef struct fe_tok {
    const char *s;           /* identifier name or processed string */
    double num;
    int64_t ival;
    int is_int;
    int b;
} fe_tok;

/* An open bracket the scanner has seen but not yet seen closed. */
typedef struct fe_open { int ch; es_span span; int errors_before; } fe_open;

typedef struct fe_parser {
    es_arena *arena;
    es_diags *diags;
    const es_source *src;
    fe_file *file;
    int syntax_errors;       /* reported by the parser or the scanner */
    int nesting_reported;    /* "nested too deeply" is said once per file */
    /* scanner position (byte offset, 1-based line and column) */
    int off, line, col;
    /* bracket tracking for closers inserted before a declaration keyword */
    ES_VEC(fe_open) open;
    int pending_tok;         /* a token held back while closers are emitted (0 = none) */
    fe_tok pending_val;
    es_span pending_loc;
    /* the last two tokens handed to the parser: at a syntax error the last is
     * the unexpected lookahead and prev the token it came after */
    int last_tok, prev_tok;
    es_span last_loc, prev_loc;
} fe_parser;

/* Parses src into a file (never NULL); errors go to d. */
fe_file *fe_parse(es_arena *a, const es_source *src, es_diags *d, int *nerrors);

/* A span from the end of sp (zero length), with its line and column. */
es_span fe_span_after(es_span sp);
/* The span from the start of a to the end of b (same source). */
es_span fe_span_join(es_span a, es_span b);
/* Reports a syntax-level error (counted in p->syntax_errors). */
void fe_syntax_error(fe_parser *p, es_span sp, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* ---- builders (the only calls grammar actions make) ------------------------ */

typedef ES_VEC(fe_expr *) fe_expr_vec;
typedef ES_VEC(fe_arg) fe_arg_vec;
typedef ES_VEC(fe_col) fe_col_vec;
typedef ES_VEC(fe_param) fe_param_vec;
typedef ES_VEC(fe_stmt *) fe_stmt_vec;

fe_expr *fe_ast_number(fe_parser *p, es_span sp, fe_tok t);
fe_expr *fe_ast_string(fe_parser *p, es_span sp, fe_tok t);
fe_expr *fe_ast_bool(fe_parser *p, es_span sp, fe_tok t);
fe_expr *fe_ast_ident(fe_parser *p, es_span sp, fe_tok t);
fe_expr *fe_ast_error(fe_parser *p, es_span sp);
fe_expr *fe_ast_binary(fe_parser *p, es_span sp, int op, fe_expr *l, fe_expr *r);
fe_expr *fe_ast_neg(fe_parser *p, es_span sp, fe_expr *x);
fe_expr *fe_ast_paren(fe_parser *p, es_span sp, fe_expr *x);
fe_expr *fe_ast_call(fe_parser *p, es_span sp, fe_tok name, es_span name_span, fe_arg_vec *args);
fe_expr *fe_ast_list(fe_parser *p, es_span sp, fe_expr_vec *items);
fe_expr *fe_ast_map(fe_parser *p, es_span sp, fe_arg_vec *entries);
fe_expr *fe_ast_not(fe_parser *p, es_span sp, fe_expr *x);
fe_expr *fe_ast_index(fe_parser *p, es_span sp, fe_expr *x, fe_expr_vec *subs);
fe_expr *fe_ast_slice(fe_parser *p, es_span sp, fe_expr *from, fe_expr *to);
fe_expr *fe_ast_attr(fe_parser *p, es_span sp, fe_expr *x, fe_tok name, es_span name_span);

fe_expr_vec *fe_ast_expr_vec(fe_parser *p, fe_expr_vec *v, fe_expr *x);   /* v NULL: a new vector */
fe_arg_vec *fe_ast_arg_vec(fe_parser *p, fe_arg_vec *v, fe_arg a);
/* name NULL: positional; value NULL: a part that failed to parse (dropped) */
fe_arg fe_ast_arg(fe_parser *p, es_span sp, const fe_tok *name, es_span name_span, fe_expr *value);
fe_col_vec *fe_ast_col_vec(fe_parser *p, fe_col_vec *v, fe_col *c);   /* c NULL: dropped */
fe_col *fe_ast_col(fe_parser *p, es_span sp, fe_tok name, es_span name_span, fe_tok type,
                   es_span type_span, fe_expr *def);

/* A named declaration (source, label, feature, estimator); cols may be NULL. */
void fe_ast_decl(fe_parser *p, es_span sp, fe_decl_kind k, es_span kw_span, fe_tok name,
                 es_span name_span, fe_expr *value, fe_col_vec *cols);
void fe_ast_run(fe_parser *p, es_span sp, es_span kw_span, fe_arg_vec *settings);

/* Models and helper functions. type NULL: no annotation; type2 is the element
 * type of `list[T]` (NULL if none). */
fe_param_vec *fe_ast_param_vec(fe_parser *p, fe_param_vec *v, fe_param *x);   /* x NULL: dropped */
fe_param *fe_ast_param(fe_parser *p, es_span sp, fe_tok name, es_span name_span, const fe_tok *type,
                       const fe_tok *type2, es_span type_span, fe_expr *def);
fe_stmt_vec *fe_ast_stmt_vec(fe_parser *p, fe_stmt_vec *v, fe_stmt *x);       /* x NULL: dropped */
fe_block fe_ast_block(fe_parser *p, es_span sp, fe_stmt_vec *v);
fe_stmt *fe_ast_stmt(fe_parser *p, es_span sp, fe_stmt_kind k, const fe_tok *name, es_span name_span,
                     fe_expr *value);
fe_stmt *fe_ast_param_stmt(fe_parser *p, es_span sp, fe_param *param);
fe_stmt *fe_ast_for(fe_parser *p, es_span sp, fe_tok name, es_span name_span, const fe_tok *name2,
                    es_span name2_span, fe_expr *iter, fe_block body);
fe_stmt *fe_ast_if(fe_parser *p, es_span sp, fe_expr *cond, fe_block body, const fe_block *else_body);
fe_stmt *fe_ast_scope(fe_parser *p, es_span sp, fe_expr *name, fe_block body);
fe_block fe_ast_block_of(fe_parser *p, fe_stmt *s);   /* `else if`: a block of one statement */
void fe_ast_function(fe_parser *p, es_span sp, fe_decl_kind k, es_span kw_span, fe_tok name,
                     es_span name_span, fe_param_vec *params, fe_block body);

/* Names for messages: "number", "string", "list", ... */
const char *fe_expr_kind_name(const fe_expr *e);

#endif

/*
 * parser.y — the grammar of the .est language (pure bison, prefix fe_yy).
 *
 *   file     := decl*
 *   decl     := 'source' IDENT '=' expr columns?
 *             | ('label' | 'feature' | 'estimator') IDENT '=' expr
 *             | 'run' '{' (setting (','? setting)* ','?)? '}'
 *             | ('model' | 'def') IDENT '(' (param (',' param)* ','?)? ')' block
 *   columns  := '{' (col (',' col)* ','?)? '}'
 *   col      := IDENT ':' IDENT ('=' expr)?
 *   setting  := IDENT '=' expr
 *   param    := IDENT (':' type)? ('=' expr)?          type := IDENT ('[' IDENT ']')?
 *   block    := '{' (stmt | ';')* '}'
 *   stmt     := IDENT '=' expr | call | 'param' param | 'return' expr
 *             | 'for' IDENT (',' IDENT)? 'in' expr block
 *             | 'if' expr block ('else' (block | if-stmt))?
 *             | 'scope' expr block
 *   expr     := NUMBER | STRING | BOOL | IDENT | call | list | map | '(' expr ')'
 *             | expr OP expr | '-' expr | 'not' expr | expr '[' sub (',' sub)* ']' | expr '.' IDENT
 *             OP: 'or' < 'and' < comparisons (== != < <= > >=) < '+' '-' < '*' '/' '@'
 *   sub      := expr | expr? ':' expr?
 *   call     := IDENT '(' (arg (',' arg)* ','?)? ')'     arg := expr | IDENT '=' expr
 *   list     := '[' (expr (',' expr)* ','?)? ']'
 *   map      := '{' (key (',' key)* ','?)? '}'         key := (STRING | IDENT) ':' expr | IDENT '=' expr
 *
 * Statements need no separator: every statement starts with a name or a
 * keyword, and no expression can continue with one ('a = b  c = d' is two
 * statements); ';' is allowed between statements.
 *
 * The grammar is deliberately loose about what a declaration's value is
 * (any expression): "this label must be a call such as vocabulary(...)"
 * from sema is a better message than a syntax error.
 *
 * Invariants: actions call the fe_ast_* builders of ast.c and nothing else,
 * except yyerrok in two places that decide when error recovery is over (a new
 * declaration keyword, a list separator), so the first error after a recovered
 * one is reported rather than swallowed by bison's three-token rule.
 * Recovery: `error` at declaration level skips to the next declaration
 * keyword; `error` inside argument lists, lists, maps, column blocks and run
 * blocks skips to the next ',' or closing bracket. Brackets left open when a
 * declaration keyword (or the end of the file) arrives are closed by fe_yylex,
 * so a missing ')' never swallows the next declaration.
 */

%code top {
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

/* Spans: a rule covers its first symbol through its last; an empty rule is
 * an empty span where the previous symbol ends. */
#define YYLLOC_DEFAULT(Cur, Rhs, N) do {                                       \
        if (N) (Cur) = fe_span_join(YYRHSLOC(Rhs, 1), YYRHSLOC(Rhs, N));        \
        else (Cur) = fe_span_after(YYRHSLOC(Rhs, 0));                           \
    } while (0)
}

%code requires {
#include "frontend/ast.h"
}

%code provides {
int fe_scan_open(fe_parser *p, void **scanner);
void fe_scan_close(void *scanner);
int fe_scan_lex(FE_YYSTYPE *lval, es_span *lloc, void *scanner);
}

%code {
static int fe_yylex(FE_YYSTYPE *lval, es_span *lloc, void *scanner, fe_parser *p);
static void fe_yyerror(es_span *loc, void *scanner, fe_parser *p, const char *msg);
}

%define api.pure full
%define api.prefix {fe_yy}
%define api.token.prefix {TK_}
%define api.location.type {es_span}
%define parse.error custom
%define parse.lac full
%locations
%expect 0
%param {void *scanner} {fe_parser *p}

%initial-action {
    @$.src = p->src;
    @$.line = 1;
    @$.col = 1;
}

%union {
    fe_tok tok;
    fe_param *param;
    fe_param_vec *params;
    fe_stmt *stmt;
    fe_stmt_vec *stmts;
    fe_block block;
    fe_expr *expr;
    fe_arg arg;
    fe_arg_vec *args;
    fe_expr_vec *exprs;
    fe_col *col;
    fe_col_vec *cols;
}

%token SOURCE "'source'" LABEL "'label'" FEATURE "'feature'" ESTIMATOR "'estimator'" RUN "'run'"
%token MODEL "'model'" DEF "'def'" PARAM "'param'" FOR "'for'" IN "'in'" IF "'if'" ELSE "'else'"
%token RETURN "'return'" SCOPE "'scope'" AND "'and'" OR "'or'" NOT "'not'"
%token EQ "'=='" NE "'!='" LE "'<='" GE "'>='"
%token <tok> IDENT "identifier" NUMBER "number" STRING "string" BOOL "boolean"

%type <expr> expr primary call list map item
%type <arg> arg setting entry
%type <args> arg_list setting_list settings entries
%type <exprs> items subs
%type <expr> sub
%type <param> param
%type <params> params param_list
%type <stmt> stmt if_stmt
%type <stmts> stmts
%type <block> block
%type <col> col
%type <cols> columns col_list

%left OR
%left AND
%precedence NOT
%nonassoc '<' '>' LE GE EQ NE
%left '+' '-'
%left '*' '/' '@'
%precedence NEG

%%

file:
    %empty
  | file decl
  | file error
  ;

/* The keyword of a declaration ends any error recovery before it. */
kw_source:    SOURCE    { yyerrok; } ;
kw_label:     LABEL     { yyerrok; } ;
kw_feature:   FEATURE   { yyerrok; } ;
kw_estimator: ESTIMATOR { yyerrok; } ;
kw_run:       RUN       { yyerrok; } ;
kw_model:     MODEL     { yyerrok; } ;
kw_def:       DEF       { yyerrok; } ;

comma: ',' { yyerrok; } ;

decl:
    kw_source IDENT '=' expr            { fe_ast_decl(p, @$, FE_D_SOURCE, @1, $2, @2, $4, NULL); }
  | kw_source IDENT '=' expr columns    { fe_ast_decl(p, @$, FE_D_SOURCE, @1, $2, @2, $4, $5); }
  | kw_label IDENT '=' expr             { fe_ast_decl(p, @$, FE_D_LABEL, @1, $2, @2, $4, NULL); }
  | kw_feature IDENT '=' expr           { fe_ast_decl(p, @$, FE_D_FEATURE, @1, $2, @2, $4, NULL); }
  | kw_estimator IDENT '=' expr         { fe_ast_decl(p, @$, FE_D_ESTIMATOR, @1, $2, @2, $4, NULL); }
  | kw_run '{' settings '}'             { fe_ast_run(p, @$, @1, $3); }
  | kw_model IDENT '(' params ')' block { fe_ast_function(p, @$, FE_D_MODEL, @1, $2, @2, $4, $6); }
  | kw_def IDENT '(' params ')' block   { fe_ast_function(p, @$, FE_D_DEF, @1, $2, @2, $4, $6); }
  ;

params:
    %empty                      { $$ = NULL; }
  | param_list                  { $$ = $1; }
  | param_list comma            { $$ = $1; }
  ;

param_list:
    param                       { $$ = fe_ast_param_vec(p, NULL, $1); }
  | param_list comma param      { $$ = fe_ast_param_vec(p, $1, $3); }
  ;

param:
    IDENT                                       { $$ = fe_ast_param(p, @$, $1, @1, NULL, NULL, @1, NULL); }
  | IDENT '=' expr                              { $$ = fe_ast_param(p, @$, $1, @1, NULL, NULL, @1, $3); }
  | IDENT ':' IDENT                             { $$ = fe_ast_param(p, @$, $1, @1, &$3, NULL, @3, NULL); }
  | IDENT ':' IDENT '=' expr                    { $$ = fe_ast_param(p, @$, $1, @1, &$3, NULL, @3, $5); }
  | IDENT ':' IDENT '[' IDENT ']'               { $$ = fe_ast_param(p, @$, $1, @1, &$3, &$5, fe_span_join(@3, @6), NULL); }
  | IDENT ':' IDENT '[' IDENT ']' '=' expr      { $$ = fe_ast_param(p, @$, $1, @1, &$3, &$5, fe_span_join(@3, @6), $8); }
  | error                                       { $$ = NULL; }
  ;

block:
    '{' stmts '}'               { $$ = fe_ast_block(p, @$, $2); }
  ;

stmts:
    %empty                      { $$ = NULL; }
  | stmts stmt                  { $$ = fe_ast_stmt_vec(p, $1, $2); }
  | stmts ';'                   { $$ = $1; }
  ;

stmt:
    IDENT '=' expr              { $$ = fe_ast_stmt(p, @$, FE_S_ASSIGN, &$1, @1, $3); }
  | call                        { $$ = fe_ast_stmt(p, @$, FE_S_EXPR, NULL, @1, $1); }
  | PARAM param                 { $$ = fe_ast_param_stmt(p, @$, $2); }
  | RETURN expr                 { $$ = fe_ast_stmt(p, @$, FE_S_RETURN, NULL, @1, $2); }
  | FOR IDENT IN expr block     { $$ = fe_ast_for(p, @$, $2, @2, NULL, @2, $4, $5); }
  | FOR IDENT ',' IDENT IN expr block { $$ = fe_ast_for(p, @$, $2, @2, &$4, @4, $6, $7); }
  | if_stmt
  | SCOPE expr block            { $$ = fe_ast_scope(p, @$, $2, $3); }
  | error                       { $$ = NULL; }
  ;

if_stmt:
    IF expr block               { $$ = fe_ast_if(p, @$, $2, $3, NULL); }
  | IF expr block ELSE block    { $$ = fe_ast_if(p, @$, $2, $3, &$5); }
  | IF expr block ELSE if_stmt  { fe_block b = fe_ast_block_of(p, $5); $$ = fe_ast_if(p, @$, $2, $3, &b); }
  ;

columns:
    '{' '}'                     { $$ = fe_ast_col_vec(p, NULL, NULL); }
  | '{' col_list '}'            { $$ = $2; }
  | '{' col_list comma '}'      { $$ = $2; }
  ;

col_list:
    col                         { $$ = fe_ast_col_vec(p, NULL, $1); }
  | col_list comma col          { $$ = fe_ast_col_vec(p, $1, $3); }
  ;

col:
    IDENT ':' IDENT             { $$ = fe_ast_col(p, @$, $1, @1, $3, @3, NULL); }
  | IDENT ':' IDENT '=' expr    { $$ = fe_ast_col(p, @$, $1, @1, $3, @3, $5); }
  | error                       { $$ = NULL; }
  ;

settings:
    %empty                      { $$ = fe_ast_arg_vec(p, NULL, fe_ast_arg(p, @$, NULL, @$, NULL)); }
  | setting_list                { $$ = $1; }
  | setting_list comma          { $$ = $1; }
  ;

setting_list:
    setting                     { $$ = fe_ast_arg_vec(p, NULL, $1); }
  | setting_list setting        { $$ = fe_ast_arg_vec(p, $1, $2); }
  | setting_list comma setting  { $$ = fe_ast_arg_vec(p, $1, $3); }
  ;

setting:
    IDENT '=' expr              { $$ = fe_ast_arg(p, @$, &$1, @1, $3); }
  | error                       { $$ = fe_ast_arg(p, @$, NULL, @$, NULL); }
  ;

expr:
    primary
  | expr '+' expr               { $$ = fe_ast_binary(p, @$, '+', $1, $3); }
  | expr '-' expr               { $$ = fe_ast_binary(p, @$, '-', $1, $3); }
  | expr '*' expr               { $$ = fe_ast_binary(p, @$, '*', $1, $3); }
  | expr '/' expr               { $$ = fe_ast_binary(p, @$, '/', $1, $3); }
  | expr '@' expr               { $$ = fe_ast_binary(p, @$, '@', $1, $3); }
  | expr '<' expr               { $$ = fe_ast_binary(p, @$, '<', $1, $3); }
  | expr '>' expr               { $$ = fe_ast_binary(p, @$, '>', $1, $3); }
  | expr LE expr                { $$ = fe_ast_binary(p, @$, FE_OP_LE, $1, $3); }
  | expr GE expr                { $$ = fe_ast_binary(p, @$, FE_OP_GE, $1, $3); }
  | expr EQ expr                { $$ = fe_ast_binary(p, @$, FE_OP_EQ, $1, $3); }
  | expr NE expr                { $$ = fe_ast_binary(p, @$, FE_OP_NE, $1, $3); }
  | expr AND expr               { $$ = fe_ast_binary(p, @$, FE_OP_AND, $1, $3); }
  | expr OR expr                { $$ = fe_ast_binary(p, @$, FE_OP_OR, $1, $3); }
  | '-' expr %prec NEG          { $$ = fe_ast_neg(p, @$, $2); }
  | NOT expr                    { $$ = fe_ast_not(p, @$, $2); }
  ;

primary:
    NUMBER                      { $$ = fe_ast_number(p, @$, $1); }
  | STRING                      { $$ = fe_ast_string(p, @$, $1); }
  | BOOL                        { $$ = fe_ast_bool(p, @$, $1); }
  | IDENT                       { $$ = fe_ast_ident(p, @$, $1); }
  | call
  | list
  | map
  | '(' expr ')'                { $$ = fe_ast_paren(p, @$, $2); }
  | '(' error ')'               { $$ = fe_ast_error(p, @$); }
  | primary '[' subs ']'        { $$ = fe_ast_index(p, @$, $1, $3); }
  | primary '.' IDENT           { $$ = fe_ast_attr(p, @$, $1, $3, @3); }
  ;

subs:
    sub                         { $$ = fe_ast_expr_vec(p, NULL, $1); }
  | subs comma sub              { $$ = fe_ast_expr_vec(p, $1, $3); }
  ;

sub:
    expr
  | ':'                         { $$ = fe_ast_slice(p, @$, NULL, NULL); }
  | expr ':'                    { $$ = fe_ast_slice(p, @$, $1, NULL); }
  | ':' expr                    { $$ = fe_ast_slice(p, @$, NULL, $2); }
  | expr ':' expr               { $$ = fe_ast_slice(p, @$, $1, $3); }
  | error                       { $$ = fe_ast_error(p, @$); }
  ;

call:
    IDENT '(' ')'                   { $$ = fe_ast_call(p, @$, $1, @1, NULL); }
  | IDENT '(' arg_list ')'          { $$ = fe_ast_call(p, @$, $1, @1, $3); }
  | IDENT '(' arg_list comma ')'    { $$ = fe_ast_call(p, @$, $1, @1, $3); }
  ;

arg_list:
    arg                         { $$ = fe_ast_arg_vec(p, NULL, $1); }
  | arg_list comma arg          { $$ = fe_ast_arg_vec(p, $1, $3); }
  ;

arg:
    expr                        { $$ = fe_ast_arg(p, @$, NULL, @$, $1); }
  | IDENT '=' expr              { $$ = fe_ast_arg(p, @$, &$1, @1, $3); }
  | error                       { $$ = fe_ast_arg(p, @$, NULL, @$, NULL); }
  ;

list:
    '[' ']'                     { $$ = fe_ast_list(p, @$, NULL); }
  | '[' items ']'               { $$ = fe_ast_list(p, @$, $2); }
  | '[' items comma ']'         { $$ = fe_ast_list(p, @$, $2); }
  ;

items:
    item                        { $$ = fe_ast_expr_vec(p, NULL, $1); }
  | items comma item            { $$ = fe_ast_expr_vec(p, $1, $3); }
  ;

item:
    expr
  | error                       { $$ = fe_ast_error(p, @$); }
  ;

map:
    '{' '}'                     { $$ = fe_ast_map(p, @$, NULL); }
  | '{' entries '}'             { $$ = fe_ast_map(p, @$, $2); }
  | '{' entries comma '}'       { $$ = fe_ast_map(p, @$, $2); }
  ;

entries:
    entry                       { $$ = fe_ast_arg_vec(p, NULL, $1); }
  | entries comma entry         { $$ = fe_ast_arg_vec(p, $1, $3); }
  ;

entry:
    STRING ':' expr             { $$ = fe_ast_arg(p, @$, &$1, @1, $3); }
  | IDENT ':' expr              { $$ = fe_ast_arg(p, @$, &$1, @1, $3); }
  | IDENT '=' expr              { $$ = fe_ast_arg(p, @$, &$1, @1, $3); }
  | error                       { $$ = fe_ast_arg(p, @$, NULL, @$, NULL); }
  ;

%%

/* ---- the token stream between scanner and parser ------------------------ *
 * fe_yylex passes the scanner's tokens through, tracking open brackets. When
 * a declaration keyword or the end of the file arrives while brackets are
 * open, the declaration before it is unfinished: the open brackets are
 * reported (unless a syntax error inside them was already reported) and
 * matching closers are handed to the parser first, so the new declaration
 * parses on its own instead of being swallowed by error recovery. Keywords
 * are reserved, so one can never legitimately appear inside brackets. */

static int is_decl_start(int t)
{
    return t == TK_SOURCE || t == TK_LABEL || t == TK_FEATURE || t == TK_ESTIMATOR || t == TK_RUN ||
           t == TK_MODEL || t == TK_DEF;
}

/* Whether a declaration keyword at loc really starts a declaration: the
 * token before it can end one (or there is none), and if brackets are open
 * it begins its line (declarations conventionally do). Otherwise it is a
 * keyword misused as a name. */
static int starts_decl(const fe_parser *p, const es_span *loc)
{
    int t = p->last_tok, line_start = 1;
    for (int i = loc->off - 1; i >= 0 && p->src->text[i] != '\n'; i--)
        if (p->src->text[i] != ' ' && p->src->text[i] != '\t' && p->src->text[i] != '\r') line_start = 0;
    /* at the start of a line it is one, whatever came before (a stray token
     * the parser is recovering from, say) */
    if (line_start) return 1;
    if (t != 0 && t != TK_IDENT && t != TK_NUMBER && t != TK_STRING && t != TK_BOOL && t != ')' &&
        t != ']' && t != '}')
        return 0;
    return p->open.n == 0;
}

static int closer_of(int open) { return open == '(' ? ')' : open == '[' ? ']' : '}'; }

static int hand(fe_parser *p, int t, const es_span *loc)
{
    p->prev_tok = p->last_tok;
    p->prev_loc = p->last_loc;
    p->last_tok = t;
    p->last_loc = *loc;
    return t;
}

static int fe_yylex(FE_YYSTYPE *lval, es_span *lloc, void *scanner, fe_parser *p)
{
    int t;
    if (p->pending_tok) {
        if (p->open.n > 0) {
            fe_open o = p->open.v[--p->open.n];
            memset(lval, 0, sizeof *lval);
            *lloc = fe_span_after(p->last_loc);
            return hand(p, closer_of(o.ch), lloc);
        }
        t = p->pending_tok == -1 ? 0 : p->pending_tok;
        p->pending_tok = 0;
        lval->tok = p->pending_val;
        *lloc = p->pending_loc;
        return hand(p, t, lloc);
    }
    t = fe_scan_lex(lval, lloc, scanner);
    if (is_decl_start(t) && !starts_decl(p, lloc)) {
        /* `feature label = ...`, `[a, source]`: a keyword where a name belongs */
        fe_syntax_error(p, *lloc, "'%.*s' is a keyword and cannot be used as a name", lloc->len,
                        p->src->text + lloc->off);
        lval->tok.s = es_strndup(p->arena, p->src->text + lloc->off, (size_t)lloc->len);
        t = TK_IDENT;
    }
    if ((t == 0 || is_decl_start(t)) && p->open.n > 0) {
        int errors = p->syntax_errors;
        for (int i = p->open.n - 1; i >= 0; i--) {
            fe_open *o = &p->open.v[i];
            if (o->errors_before != errors) continue;
            fe_syntax_error(p, o->span, "'%c' is not closed: expected '%c' before %s", o->ch,
                            closer_of(o->ch), t == 0 ? "the end of the file" : "the next declaration");
        }
        /* mark them all reported: one message per missing closer */
        for (int i = 0; i < p->open.n; i++) p->open.v[i].errors_before = -1;
        p->pending_tok = t == 0 ? -1 : t;
        p->pending_val = lval->tok;
        p->pending_loc = *lloc;
        fe_open o = p->open.v[--p->open.n];
        memset(lval, 0, sizeof *lval);
        *lloc = fe_span_after(p->last_loc);
        return hand(p, closer_of(o.ch), lloc);
    }
    if (t == '(' || t == '[' || t == '{') {
        fe_open o = { t, *lloc, p->syntax_errors };
        es_vec_push(p->arena, p->open, o);
    } else if ((t == ')' || t == ']' || t == '}') && p->open.n > 0 &&
               closer_of(p->open.v[p->open.n - 1].ch) == t) {
        /* only a matching closer pops: the parser reports a mismatched one and
         * its error recovery discards it, so both stay in step */
        p->open.n--;
    }
    return hand(p, t, lloc);
}

/* bison calls this only when its stack is exhausted (syntax errors go
 * through yyreport_syntax_error) */
static void fe_yyerror(es_span *loc, void *scanner, fe_parser *p, const char *msg)
{
    (void)scanner;
    (void)msg;
    fe_syntax_error(p, *loc, "the model is nested too deeply to parse");
}

/* ---- syntax error messages ------------------------------------------------ *
 * "expected ')' or ',' after argument, found identifier 'foo'". The expected
 * set comes from bison (exact, thanks to LAC); it is folded into what a person
 * would say: a whole class of tokens becomes "an expression" or "a new
 * declaration", operators are left out after a complete operand, and a list
 * separator names what it follows. */

typedef struct msgbuf { char s[512]; size_t n; } msgbuf;

static void put(msgbuf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    if (b->n < sizeof b->s) {
        int k = vsnprintf(b->s + b->n, sizeof b->s - b->n, fmt, ap);
        if (k > 0) b->n += (size_t)k;
        if (b->n >= sizeof b->s) b->n = sizeof b->s - 1;
    }
    va_end(ap);
}

/* The source text of a token, shortened for a message. */
static void put_text(msgbuf *b, const fe_parser *p, es_span loc)
{
    int len = loc.len, cut = 0;
    if (len > 32) { len = 29; cut = 1; }
    for (int i = 0; i < len; i++) {
        unsigned char c = (unsigned char)p->src->text[loc.off + i];
        if (c == 0) put(b, "\\0");
        else put(b, "%c", c);
    }
    if (cut) put(b, "...");
}

static void put_found(msgbuf *b, const fe_parser *p, yysymbol_kind_t k, es_span loc)
{
    switch (k) {
    case YYSYMBOL_YYEOF: put(b, "end of file"); return;
    case YYSYMBOL_IDENT: put(b, "identifier '"); put_text(b, p, loc); put(b, "'"); return;
    case YYSYMBOL_NUMBER: put(b, "number "); put_text(b, p, loc); return;
    case YYSYMBOL_STRING: put(b, "string "); put_text(b, p, loc); return;
    case YYSYMBOL_BOOL: put(b, "'"); put_text(b, p, loc); put(b, "'"); return;
    case YYSYMBOL_SOURCE: case YYSYMBOL_LABEL: case YYSYMBOL_FEATURE:
    case YYSYMBOL_ESTIMATOR: case YYSYMBOL_RUN: case YYSYMBOL_MODEL: case YYSYMBOL_DEF:
    case YYSYMBOL_PARAM: case YYSYMBOL_FOR: case YYSYMBOL_IN: case YYSYMBOL_IF: case YYSYMBOL_ELSE:
    case YYSYMBOL_RETURN: case YYSYMBOL_SCOPE: case YYSYMBOL_AND: case YYSYMBOL_OR: case YYSYMBOL_NOT:
        put(b, "keyword %s", yysymbol_name(k)); return;
    default:
        if (loc.len == 0) put(b, "%s", yysymbol_name(k));   /* a closer fe_yylex inserted */
        else { put(b, "'"); put_text(b, p, loc); put(b, "'"); }
        return;
    }
}

/* the symbol kind of a one-character token */
#define S(c) YYTRANSLATE(c)

static int has(const yysymbol_kind_t *e, int n, yysymbol_kind_t k)
{
    for (int i = 0; i < n; i++) if (e[i] == k) return 1;
    return 0;
}

static int yyreport_syntax_error(const yypcontext_t *ctx, void *scanner, fe_parser *p)
{
    (void)scanner;
    yysymbol_kind_t exp[YYNTOKENS];
    int n = yypcontext_expected_tokens(ctx, exp, YYNTOKENS);
    if (n < 0) n = 0;
    yysymbol_kind_t la = yypcontext_token(ctx);
    es_span loc = *yypcontext_location(ctx);

    int expr_start = has(exp, n, YYSYMBOL_IDENT) && has(exp, n, YYSYMBOL_NUMBER);
    int decl_start = has(exp, n, YYSYMBOL_SOURCE);
    int operand_done = has(exp, n, S('+')) || has(exp, n, S('*'));
    const char *after = NULL;
    yysymbol_kind_t only[4];
    int nonly = 0;       /* restrict the list to these separators */
    if (has(exp, n, S(')')) && has(exp, n, S(',')) && !expr_start) {
        after = "after argument";
        only[nonly++] = S(')'); only[nonly++] = S(',');
    } else if (has(exp, n, S(']')) && has(exp, n, S(',')) && !expr_start) {
        after = "after list element";
        only[nonly++] = S(']'); only[nonly++] = S(',');
    } else if (has(exp, n, S('}')) && has(exp, n, S(',')) && has(exp, n, YYSYMBOL_IDENT)
               && !expr_start) {
        after = "after setting";
        only[nonly++] = S(','); only[nonly++] = S('}');
    } else if (has(exp, n, S('}')) && has(exp, n, S(',')) && !expr_start) {
        only[nonly++] = S(','); only[nonly++] = S('}');
        if (has(exp, n, S('='))) after = "after column";
    }

    /* the list of alternatives, in words */
    const char *alt[YYNTOKENS + 4];
    int nalt = 0;
    char names[YYNTOKENS][24];
    if (nonly) {
        for (int i = 0; i < nonly; i++) alt[nalt++] = yysymbol_name(only[i]);
    } else {
        if (expr_start) alt[nalt++] = "an expression";
        for (int i = 0; i < n; i++) {
            yysymbol_kind_t k = exp[i];
            if (expr_start && (k == YYSYMBOL_IDENT || k == YYSYMBOL_NUMBER || k == YYSYMBOL_STRING ||
                               k == YYSYMBOL_BOOL || k == S('(') || k == S('[') ||
                               k == S('{') || k == S('-') || k == YYSYMBOL_NOT))
                continue;
            if (decl_start && (k == YYSYMBOL_SOURCE || k == YYSYMBOL_LABEL || k == YYSYMBOL_FEATURE ||
                               k == YYSYMBOL_ESTIMATOR || k == YYSYMBOL_RUN || k == YYSYMBOL_MODEL ||
                               k == YYSYMBOL_DEF || k == YYSYMBOL_YYEOF))
                continue;
            if (operand_done && (k == S('+') || k == S('-') || k == S('*') || k == S('/') ||
                                 k == S('(') || k == S('@') || k == S('<') || k == S('>') ||
                                 k == S('[') || k == S('.') || k == YYSYMBOL_LE || k == YYSYMBOL_GE ||
                                 k == YYSYMBOL_EQ || k == YYSYMBOL_NE || k == YYSYMBOL_AND ||
                                 k == YYSYMBOL_OR))
                continue;
            if (k == YYSYMBOL_YYerror || k == YYSYMBOL_YYUNDEF) continue;
            snprintf(names[i], sizeof names[i], "%s", yysymbol_name(k));
            alt[nalt++] = names[i];
        }
        if (operand_done && nalt == 0 && !decl_start) alt[nalt++] = "an operator";
        if (decl_start)
            alt[nalt++] = "a new declaration (source, label, feature, estimator, model, def or run)";
    }

    msgbuf b = { .n = 0 };
    b.s[0] = 0;
    if (has(exp, n, YYSYMBOL_IDENT) && la >= YYSYMBOL_SOURCE && la <= YYSYMBOL_NOT && la != YYSYMBOL_IDENT &&
        la != YYSYMBOL_NUMBER && la != YYSYMBOL_STRING && la != YYSYMBOL_BOOL) {
        /* `feature for = ...`: a keyword where a name belongs */
        put(&b, "'");
        put_text(&b, p, loc);
        put(&b, "' is a keyword and cannot be used as a name");
        fe_syntax_error(p, loc, "%s", b.s);
        return 0;
    }
    if (nalt == 0) put(&b, "unexpected ");
    else {
        put(&b, "expected ");
        for (int i = 0; i < nalt; i++) {
            if (i > 0) put(&b, i == nalt - 1 ? " or " : ", ");
            put(&b, "%s", alt[i]);
        }
        if (after) put(&b, " %s", after);
        else if (p->prev_tok > 0 && p->prev_loc.len > 0) {
            put(&b, " after '");
            put_text(&b, p, p->prev_loc);
            put(&b, "'");
        }
        put(&b, ", found ");
    }
    put_found(&b, p, la, loc);
    fe_syntax_error(p, loc, "%s", b.s);
    return 0;
}

fe_file *fe_parse(es_arena *a, const es_source *src, es_diags *d, int *nerrors)
{
    fe_parser p;
    memset(&p, 0, sizeof p);
    p.arena = a;
    p.diags = d;
    p.src = src;
    p.line = 1;
    p.col = 1;
    p.file = es_alloc(a, sizeof *p.file);
    p.file->src = src;
    void *scanner = NULL;
    if (fe_scan_open(&p, &scanner) != 0) {
        es_diag(d, ES_DIAG_ERROR, (es_span){ 0 }, "cannot start the scanner for %s", src->path);
        *nerrors = 1;
        return p.file;
    }
    fe_yyparse(scanner, &p);
    fe_scan_close(scanner);
    *nerrors = p.syntax_errors;
    return p.file;
}

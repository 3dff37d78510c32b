/*
 * text.c — the graph's text form (gr_print, gr_parse).
 *
 * One node per line, so a pass's effect reads as a diff and golden files can
 * be checked with FileCheck:
 *
 *   program train
 *   %0:f32[B,3] = input "x"
 *   %1:f32[3,1] = param "w" init=glorot_uniform trainable=1
 *   %2:f32[] = const [0.5]
 *   %3:f32[B,1] = matmul(%0, %1)
 *   %4:f32[B,1] = add(%3, %2) name="logits"
 *   output "logits" = %4
 *
 * Integer attributes print as a=[...] and float ones as f=[...], up to the
 * last non-zero one (a param's a[0], a[1] print as init= and trainable=).
 * Numbers print as the shortest decimal that reads back bit for bit (as f32
 * for const data, as f64 for attributes), so print -> parse -> print is the
 * identity. Spans are not
 * kept. The parser accepts any increasing node numbers (a hand-written golden
 * file need not renumber after deleting a line), whole-line comments starting
 * with '#' or ';', and re-runs every shape rule: a declared type that the
 * inputs do not give is an error, which makes the text form a checked format.
 */
#include "graph_impl.h"

#include <ctype.h>
#include <errno.h>
#include <stdlib.h>

static const char *const init_names[] = {
    [GR_INIT_ZEROS] = "zeros", [GR_INIT_CONST] = "const", [GR_INIT_UNIFORM] = "uniform",
    [GR_INIT_NORMAL] = "normal", [GR_INIT_TRUNC_NORMAL] = "trunc_normal",
    [GR_INIT_GLOROT_UNIFORM] = "glorot_uniform", [GR_INIT_GLOROT_NORMAL] = "glorot_normal",
    [GR_INIT_HE_NORMAL] = "he_normal",
};

static const char *const prog_names[] = {
    [GR_PROG_TRAIN] = "train", [GR_PROG_EVAL] = "eval", [GR_PROG_PREDICT] = "predict",
};

/* ---- printing ------------------------------------------------------------------ */

static void print_str(FILE *out, const char *s)
{
    fputc('"', out);
    for (; *s; s++) {
        if (*s == '"' || *s == '\\') fprintf(out, "\\%c", *s);
        else if (*s == '\n') fputs("\\n", out);
        else fputc(*s, out);
    }
    fputc('"', out);
}

static void print_type(FILE *out, const gr_node *n)
{
    char b[64];
    fprintf(out, "%s%s", gr_dtype_name(n->dtype), gr_shape_str(n->shape, b, sizeof b));
}

/* the shortest decimal that reads back as exactly v (as a double, or as a float) */
static void print_num(FILE *out, double v, int as_float)
{
    char b[40];
    for (int prec = as_float ? 6 : 15; prec <= 17; prec++) {
        snprintf(b, sizeof b, "%.*g", prec, v);
        double r = strtod(b, NULL);
        if (as_float ? (float)r == (float)v : r == v) break;
    }
    fputs(b, out);
}

/* attributes print up to the last non-zero one: a=[1] is a[0]=1, the rest 0 */
static void print_attrs(FILE *out, const char *key, const int64_t *a, const double *f)
{
    int last = -1;
    for (int i = 0; i < 4; i++)
        if (a ? a[i] != 0 : f[i] != 0) last = i;
    if (last < 0) return;
    fprintf(out, " %s=[", key);
    for (int i = 0; i <= last; i++) {
        if (i) fputc(',', out);
        if (a) fprintf(out, "%lld", (long long)a[i]);
        else print_num(out, f[i], 0);
    }
    fputc(']', out);
}

/* a fused node's expression: { sub($0, $1); leaky_relu[0.2](#0) } */
static void print_steps(FILE *out, const gr_node *n)
{
    fputs(" {", out);
    for (int k = 0; k < n->nsteps; k++) {
        const gr_fstep *st = &n->steps[k];
        fprintf(out, "%s %s", k ? ";" : "", gr_ops[st->op].name);
        if (st->f != 0) { fputc('[', out); print_num(out, st->f, 0); fputc(']', out); }
        int matmul = st->op == GR_MATMUL;
        if (matmul && st->x[2]) fprintf(out, "[%d,%d]", st->x[2] & 1, st->x[2] >> 1 & 1);
        fputc('(', out);
        for (int j = 0; j < (matmul ? 2 : gr_fused_arity(st->op)); j++) {
            int v = st->x[j];
            if (v < n->nin) fprintf(out, "%s$%d", j ? ", " : "", v);
            else fprintf(out, "%s#%d", j ? ", " : "", v - n->nin);
        }
        fputc(')', out);
    }
    fputs(" }", out);
}

void gr_print(const gr_graph *g, FILE *out)
{
    fprintf(out, "program %s\n", prog_names[g->kind]);
    for (int i = 0; i < g->n; i++) {
        const gr_node *n = &g->nodes[i];
        fprintf(out, "%%%d:", i);
        print_type(out, n);
        fprintf(out, " = %s", gr_ops[n->op].name);
        switch (n->op) {
        case GR_CONST: {
            int64_t ne = gr_numel(n->shape, 1);
            fputs(" [", out);
            for (int64_t k = 0; k < ne; k++) {
                if (k) fputs(", ", out);
                print_num(out, n->data[k], 1);
            }
            fputc(']', out);
            break;
        }
        case GR_INPUT:
            fputc(' ', out);
            print_str(out, n->name);
            break;
        case GR_PARAM:
            fputc(' ', out);
            print_str(out, n->name);
            fprintf(out, " init=%s trainable=%d", init_names[n->a[0]], (int)n->a[1]);
            break;
        case GR_NEG: case GR_EXP: case GR_LOG: case GR_SQRT: case GR_ABS: case GR_SQUARE:
        case GR_SIGMOID: case GR_TANH: case GR_RELU: case GR_SOFTPLUS: case GR_STEP: case GR_SIGN:
        case GR_CAST_F32: case GR_ADD: case GR_SUB: case GR_MUL: case GR_DIV: case GR_MAXIMUM:
        case GR_MINIMUM: case GR_BROADCAST: case GR_SUM_TO: case GR_RESHAPE: case GR_SUM:
        case GR_MEAN: case GR_SUM_AXIS: case GR_NUMEL: case GR_MATMUL: case GR_GATHER_SUM:
        case GR_ONE_HOT: case GR_SCATTER_ADD: case GR_SOFTMAX: case GR_LOG_SOFTMAX: case GR_ARGMAX:
        case GR_SIGMOID_XENT: case GR_SOFTMAX_XENT: case GR_SOFTMAX_XENT_GRAD:
        case GR_APPLY_SGD: case GR_APPLY_ADAGRAD: case GR_APPLY_ADAM: case GR_APPLY_FTRL:
        case GR_LEAKY_RELU: case GR_ELU: case GR_LESS: case GR_LESS_EQUAL: case GR_GREATER:
        case GR_GREATER_EQUAL: case GR_EQUAL: case GR_NOT_EQUAL: case GR_SELECT: case GR_CONCAT:
        case GR_SLICE: case GR_PAD_SLICE: case GR_TRANSPOSE: case GR_MEAN_AXIS: case GR_MAX_AXIS:
        case GR_MAX_AXIS_GRAD: case GR_COUNT_IDS: case GR_SHIFT_IDS: case GR_GATHER_WSUM: case GR_SCATTER_WADD:
        case GR_GATHER_DOT: case GR_DROPOUT: case GR_ASSIGN_EMA: case GR_FUSED:
            fputc('(', out);
            for (int k = 0; k < n->nin; k++) fprintf(out, "%s%%%d", k ? ", " : "", n->in[k]);
            fputc(')', out);
            if (n->op == GR_FUSED) print_steps(out, n);
            print_attrs(out, "a", n->a, NULL);
            if (n->name) { fputs(" name=", out); print_str(out, n->name); }
            break;
        }
        print_attrs(out, "f", NULL, n->f);
        fputc('\n', out);
    }
    for (int i = 0; i < g->noutputs; i++) {
        fputs("output ", out);
        print_str(out, g->outputs[i].name);
        fprintf(out, " = %%%d\n", g->outputs[i].node);
    }
}

/* ---- parsing -------------------------------------------------------------------- */

typedef struct ps {
    es_arena *arena;
    const char *p;      /* cursor within the current line */
    int line;
    es_status *st;
    int failed;
} ps;

static int perr(ps *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int perr(ps *s, const char *fmt, ...)
{
    if (s->failed) return -1;
    char m[768];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(m, sizeof m, fmt, ap);
    va_end(ap);
    s->failed = 1;
    return es_fail(s->st, ES_EINVAL, "line %d: %s", s->line, m);
}

static void skip_ws(ps *s) { while (*s->p == ' ' || *s->p == '\t' || *s->p == '\r') s->p++; }

static int at_end(ps *s) { skip_ws(s); return *s->p == '\n' || *s->p == 0; }

static int accept(ps *s, const char *tok)
{
    skip_ws(s);
    size_t n = strlen(tok);
    if (strncmp(s->p, tok, n) != 0) return 0;
    s->p += n;
    return 1;
}

static int expect(ps *s, const char *tok)
{
    if (accept(s, tok)) return 0;
    return perr(s, "expected '%s'", tok);
}

/* an identifier: letters, digits, '_' */
static int word(ps *s, char *buf, size_t n)
{
    skip_ws(s);
    size_t k = 0;
    while (isalnum((unsigned char)*s->p) || *s->p == '_') {
        if (k + 1 < n) buf[k++] = *s->p;
        s->p++;
    }
    buf[k] = 0;
    if (k == 0) return perr(s, "expected a word");
    return 0;
}

static int integer(ps *s, int64_t *v)
{
    skip_ws(s);
    char *e;
    errno = 0;
    long long x = strtoll(s->p, &e, 10);
    if (e == s->p || errno) return perr(s, "expected an integer");
    s->p = e;
    *v = x;
    return 0;
}

static int number(ps *s, double *v)
{
    skip_ws(s);
    char *e;
    double x = strtod(s->p, &e);
    if (e == s->p) return perr(s, "expected a number");
    s->p = e;
    *v = x;
    return 0;
}

static int string(ps *s, const char **out)
{
    skip_ws(s);
    if (*s->p != '"') return perr(s, "expected a quoted string");
    s->p++;
    const char *b = s->p;
    size_t n = 0;
    for (const char *q = b; *q != '"'; q++, n++) {
        if (*q == 0 || *q == '\n') return perr(s, "unterminated string");
        if (*q == '\\') q++;
    }
    char *r = es_alloc(s->arena, n + 1), *w = r;
    while (*s->p != '"') {
        if (*s->p == '\\') { s->p++; *w++ = *s->p == 'n' ? '\n' : *s->p; }
        else *w++ = *s->p;
        s->p++;
    }
    s->p++;
    *out = r;
    return 0;
}

/* %N (the text's own number) */
static int ref(ps *s, int64_t *v)
{
    if (expect(s, "%")) return -1;
    return integer(s, v);
}

/* f32[B,3] */
static int type(ps *s, gr_dtype *t, gr_shape *sh)
{
    char w[16];
    if (word(s, w, sizeof w)) return -1;
    if (strcmp(w, "f32") == 0) *t = GR_F32;
    else if (strcmp(w, "i32") == 0) *t = GR_I32;
    else if (strcmp(w, "void") == 0) *t = GR_VOID;
    else return perr(s, "unknown dtype '%s'", w);
    *sh = gr_shape0();
    if (expect(s, "[")) return -1;
    if (accept(s, "]")) return 0;
    do {
        int64_t d;
        if (sh->rank == GR_MAXDIMS) return perr(s, "more than %d dimensions", GR_MAXDIMS);
        if (accept(s, "B")) d = GR_BATCH;
        else if (integer(s, &d)) return -1;
        sh->d[sh->rank++] = d;
    } while (accept(s, ","));
    return expect(s, "]");
}

static int float_list(ps *s, double *v, int max, int *n)
{
    *n = 0;
    if (expect(s, "[")) return -1;
    if (accept(s, "]")) return 0;
    do {
        double x = 0;
        if (number(s, &x)) return -1;
        if (*n < max) v[*n] = x;
        (*n)++;
    } while (accept(s, ","));
    return expect(s, "]");
}

typedef struct idmap { int *v; int64_t n; } idmap;

static int lookup(ps *s, const idmap *m, int64_t t, int *out)
{
    if (t < 0 || t >= m->n || m->v[t] == GR_NONE) return perr(s, "%%%lld is not defined above", (long long)t);
    *out = m->v[t];
    return 0;
}

static void define(es_arena *a, idmap *m, int64_t t, int id)
{
    if (t >= m->n) {
        int64_t nn = m->n ? m->n : 64;
        while (nn <= t) nn *= 2;
        int *nv = es_alloc(a, (size_t)nn * sizeof *nv);
        for (int64_t i = 0; i < nn; i++) nv[i] = i < m->n ? m->v[i] : GR_NONE;
        m->v = nv;
        m->n = nn;
    }
    m->v[t] = id;
}

static int op_by_name(const char *w, gr_op *op)
{
    for (int i = 0; i < GR_NUM_OPS; i++)
        if (strcmp(gr_ops[i].name, w) == 0) { *op = (gr_op)i; return 0; }
    return -1;
}

/* a fused node's { op($k, #k); ... } (checked further by the shape rule) */
static int parse_steps(ps *s, es_arena *a, gr_node *n)
{
    gr_fstep st[GR_MAXSTEPS];
    int ns = 0;
    char w[64];
    if (expect(s, "{")) return -1;
    do {
        gr_fstep *f = &st[ns];
        memset(f, 0, sizeof *f);
        if (ns == GR_MAXSTEPS) return perr(s, "fused: more than %d steps", GR_MAXSTEPS);
        if (word(s, w, sizeof w)) return -1;
        int matmul = ns == 0 && strcmp(w, "matmul") == 0;   /* the epilogue form's head */
        if (op_by_name(w, &f->op) || (!matmul && !gr_fused_arity(f->op)))
            return perr(s, "fused: '%s' is not an elementwise op", w);
        if (matmul && accept(s, "[")) {
            int64_t ta, tb;
            if (integer(s, &ta) || expect(s, ",") || integer(s, &tb) || expect(s, "]")) return -1;
            if ((ta != 0 && ta != 1) || (tb != 0 && tb != 1)) return perr(s, "fused: matmul[ta,tb] takes 0 or 1");
            f->x[2] = (int)(ta + 2 * tb);
        } else if (accept(s, "[") && (number(s, &f->f) || expect(s, "]"))) return -1;
        if (expect(s, "(")) return -1;
        for (int j = 0; j < (matmul ? 2 : gr_fused_arity(f->op)); j++) {
            int64_t v;
            if (j && expect(s, ",")) return -1;
            int step = accept(s, "#");
            if (!step && expect(s, "$")) return -1;
            if (integer(s, &v)) return -1;
            if (v < 0 || v >= (step ? ns : n->nin))
                return perr(s, "fused: %c%lld is not defined before step %d", step ? '#' : '$', (long long)v, ns);
            f->x[j] = (int)(step ? n->nin + v : v);
        }
        if (expect(s, ")")) return -1;
        ns++;
    } while (accept(s, ";"));
    if (expect(s, "}")) return -1;
    gr_fstep *copy = es_alloc(a, (size_t)ns * sizeof *copy);
    memcpy(copy, st, (size_t)ns * sizeof *copy);
    n->steps = copy;
    n->nsteps = ns;
    return 0;
}

/* %N:type = op ... ; on success appends the node and records N */
static int node_line(ps *s, gr_graph *g, idmap *m, int64_t *last)
{
    int64_t t;
    gr_node n;
    char w[64], b1[64], b2[64], msg[512];
    memset(&n, 0, sizeof n);
    n.buf = -1;
    if (ref(s, &t)) return -1;
    if (t <= *last) return perr(s, "node %%%lld does not follow %%%lld", (long long)t, (long long)*last);
    if (expect(s, ":") || type(s, &n.dtype, &n.shape) || expect(s, "=") || word(s, w, sizeof w))
        return -1;
    if (op_by_name(w, &n.op)) return perr(s, "unknown op '%s'", w);
    switch (n.op) {
    case GR_CONST: {
        if (gr_has_batch(n.shape) || n.shape.rank > GR_MAXDIMS) return perr(s, "const: shape cannot have B");
        int64_t ne = gr_numel(n.shape, 1);
        if (ne < 0) return perr(s, "const: negative dimension");
        n.data = es_alloc(g->arena, (size_t)(ne ? ne : 1) * sizeof(float));
        if (expect(s, "[")) return -1;
        for (int64_t k = 0; k < ne; k++) {
            double v = 0;
            if ((k && expect(s, ",")) || number(s, &v)) return -1;
            n.data[k] = (float)v;
        }
        if (expect(s, "]")) return -1;
        break;
    }
    case GR_INPUT:
        if (string(s, &n.name)) return -1;
        break;
    case GR_PARAM: {
        int64_t tr;
        if (string(s, &n.name) || expect(s, "init=") || word(s, w, sizeof w)) return -1;
        n.a[0] = -1;
        for (int k = 0; k < (int)ES_ARRAY_LEN(init_names); k++)
            if (strcmp(init_names[k], w) == 0) n.a[0] = k;
        if (n.a[0] < 0) return perr(s, "unknown initialiser '%s'", w);
        if (expect(s, "trainable=") || integer(s, &tr)) return -1;
        n.a[1] = tr;
        break;
    }
    case GR_NEG: case GR_EXP: case GR_LOG: case GR_SQRT: case GR_ABS: case GR_SQUARE:
    case GR_SIGMOID: case GR_TANH: case GR_RELU: case GR_SOFTPLUS: case GR_STEP: case GR_SIGN:
    case GR_CAST_F32: case GR_ADD: case GR_SUB: case GR_MUL: case GR_DIV: case GR_MAXIMUM:
    case GR_MINIMUM: case GR_BROADCAST: case GR_SUM_TO: case GR_RESHAPE: case GR_SUM:
    case GR_MEAN: case GR_SUM_AXIS: case GR_NUMEL: case GR_MATMUL: case GR_GATHER_SUM:
    case GR_ONE_HOT: case GR_SCATTER_ADD: case GR_SOFTMAX: case GR_LOG_SOFTMAX: case GR_ARGMAX:
    case GR_SIGMOID_XENT: case GR_SOFTMAX_XENT: case GR_SOFTMAX_XENT_GRAD:
    case GR_APPLY_SGD: case GR_APPLY_ADAGRAD: case GR_APPLY_ADAM: case GR_APPLY_FTRL:
    case GR_LEAKY_RELU: case GR_ELU: case GR_LESS: case GR_LESS_EQUAL: case GR_GREATER:
    case GR_GREATER_EQUAL: case GR_EQUAL: case GR_NOT_EQUAL: case GR_SELECT: case GR_CONCAT:
    case GR_SLICE: case GR_PAD_SLICE: case GR_TRANSPOSE: case GR_MEAN_AXIS: case GR_MAX_AXIS:
    case GR_MAX_AXIS_GRAD: case GR_COUNT_IDS: case GR_SHIFT_IDS: case GR_GATHER_WSUM: case GR_SCATTER_WADD:
    case GR_GATHER_DOT: case GR_DROPOUT: case GR_ASSIGN_EMA: case GR_FUSED:
        if (expect(s, "(")) return -1;
        if (!accept(s, ")")) {
            do {
                int64_t r;
                if (n.nin == GR_MAXIN) return perr(s, "more than %d inputs", GR_MAXIN);
                if (ref(s, &r) || lookup(s, m, r, &n.in[n.nin])) return -1;
                n.nin++;
            } while (accept(s, ","));
            if (expect(s, ")")) return -1;
        }
        if (n.op == GR_FUSED && parse_steps(s, g->arena, &n)) return -1;
        if (accept(s, "a=")) {
            /* read as integers, not through double: a dropout seed uses all 64 bits */
            int k = 0;
            if (expect(s, "[")) return -1;
            do {
                int64_t v;
                if (integer(s, &v)) return -1;
                if (k < 4) n.a[k] = v;
                k++;
            } while (accept(s, ","));
            if (expect(s, "]")) return -1;
            if (k > 4) return perr(s, "a= takes 1 to 4 integers");
        }
        if (accept(s, "name=") && string(s, &n.name)) return -1;
        break;
    }
    if (accept(s, "f=")) {
        int k;
        if (float_list(s, n.f, 4, &k)) return -1;
        if (k < 1 || k > 4) return perr(s, "f= takes 1 to 4 numbers");
    }
    if (!at_end(s)) return perr(s, "unexpected text '%.20s'", s->p);

    gr_dtype want_t = n.dtype;
    gr_shape want_s = n.shape;
    int keeps_shape = (gr_ops[n.op].flags & GR_F_LEAF) || n.op == GR_RESHAPE;
    if (!keeps_shape) { n.shape = gr_shape0(); n.dtype = GR_F32; }
    if (gr_infer_msg(g, &n, msg, sizeof msg)) return perr(s, "%s", msg);
    if (n.dtype != want_t || !gr_shape_eq(n.shape, want_s))
        return perr(s, "%s: declared %s%s but the inputs give %s%s", gr_ops[n.op].name,
                    gr_dtype_name(want_t), gr_shape_str(want_s, b1, sizeof b1),
                    gr_dtype_name(n.dtype), gr_shape_str(n.shape, b2, sizeof b2));
    define(g->arena, m, t, gr_push_raw(g, &n));
    *last = t;
    return 0;
}

gr_graph *gr_parse(es_arena *a, const char *text, es_status *st)
{
    gr_graph *g = gr_new(a, NULL);
    ps s = { a, text, 0, st, 0 };
    idmap m = { NULL, 0 };
    int64_t last = -1;
    for (const char *line = text; *line; ) {
        s.p = line;
        s.line++;
        skip_ws(&s);
        if (*s.p == '%') {
            if (node_line(&s, g, &m, &last)) return NULL;
        } else if (accept(&s, "output")) {
            const char *name;
            int64_t r;
            int id = GR_NONE;
            if (string(&s, &name) || expect(&s, "=") || ref(&s, &r) || lookup(&s, &m, r, &id)) return NULL;
            if (!at_end(&s)) { perr(&s, "unexpected text after output"); return NULL; }
            if (g->noutputs == (int)ES_ARRAY_LEN(g->outputs)) { perr(&s, "too many outputs"); return NULL; }
            g->outputs[g->noutputs].name = name;
            g->outputs[g->noutputs].node = id;
            g->noutputs++;
        } else if (accept(&s, "program")) {
            char w[16];
            int k = -1;
            if (word(&s, w, sizeof w)) return NULL;
            for (int i = 0; i < (int)ES_ARRAY_LEN(prog_names); i++)
                if (strcmp(prog_names[i], w) == 0) k = i;
            if (k < 0) { perr(&s, "unknown program kind '%s'", w); return NULL; }
            g->kind = (gr_prog_kind)k;
        } else if (*s.p != '#' && *s.p != ';' && *s.p != '\n' && *s.p) {
            perr(&s, "expected a node (%%N:type = op ...), 'output' or 'program'");
            return NULL;
        }
        const char *nl = strchr(line, '\n');
        line = nl ? nl + 1 : line + strlen(line);
    }
    return g;
}

/*
 * prep.c — the feature-column preprocessing of an exported predictor, as LLVM
 * IR (see prep.h for the contract; runtime/reader.c is the reference it
 * follows, rule for rule).
 *
 * What is emitted into the predictor's module:
 *   <prefix>.xxh64(ptr, i64) -> i64   XXH64 with seed 0 (Yann Collet's
 *                                      algorithm, written out here: a predictor
 *                                      may not link libxxhash)
 *   <prefix>.encode(in, bufs, r) -> i32 one input row -> row r of every fed
 *                                      feature buffer
 *   constant data: per vocabulary an open-addressing table (capacity a power
 *   of two >= 2n, linear probing, keyed by the string's XXH64, first
 *   occurrence wins as in the reader) over one blob of the strings, so a big
 *   vocabulary costs no relocations; bucket boundaries as doubles.
 *
 * The encoder is straight-line code with one alloca per (id, key) pair of a
 * categorical feature, each computed once per row even when several crosses
 * read it; mem2reg turns them into registers. A value that cannot be used
 * returns 1 + its CSV column at once. libc's strlen, strcmp and memcmp are the
 * only calls besides the module's own XXH64.
 */
#include "prep.h"

#include <ctype.h>
#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

typedef struct penc {
    const es_feature *f;
    LLVMValueRef id, key;        /* allocas: i32 id, i64 key (reader.c's fenc) */
    LLVMValueRef ids, nvals;     /* multivalent: allocas [M x i32] ids (-1 padded), i32 values */
    int emitted;
} penc;

/* How a column is passed: one value, or a list and its count (prep.h). */
enum { COL_ONE, COL_STRINGS, COL_DOUBLES };

struct cg_prep {
    LLVMContextRef ctx;
    LLVMModuleRef mod;
    LLVMBuilderRef b;
    char *prefix;
    const es_spec *spec;
    const es_source_spec *src;
    int ncols;
    char **field;                /* per column: C field name, NULL if left out */
    char **count_field;          /* per list column: the C name of its count, else NULL */
    int *field_index;            /* per column: index in the struct (a list's count follows), -1 if left out */
    int *col_kind;               /* per column: COL_* */
    const char **col_sep;        /* per list column: the separator of its values */
    int *col_max;                /* per list column: the fewest max_values of the features reading it */
    LLVMTypeRef in_type;
    LLVMTypeRef i1, i8, i32, i64, f32, f64, ptr;
    penc *enc;                   /* every categorical feature reached from spec->used */
    int nenc;
    int nvocab_tables;

    /* the encoder being emitted */
    LLVMValueRef fn, xxh, split, in, bufs, r;
    LLVMBasicBlockRef allocas;
};

/* ---- C names -------------------------------------------------------------------- */

static const char *const reserved[] = {
    "auto", "break", "case", "char", "const", "continue", "default", "do", "double", "else", "enum",
    "extern", "float", "for", "goto", "if", "inline", "int", "long", "register", "restrict", "return",
    "short", "signed", "sizeof", "static", "struct", "switch", "typedef", "union", "unsigned", "void",
    "volatile", "while", "bool", "true", "false", "class", "namespace", "new", "delete", "template",
    "this", "typename", "virtual", "public", "private", "protected", "operator", "friend", "try",
    "catch", "throw", "explicit", "mutable", "using", "export", "asm", "and", "or", "not", "xor",
    "nullptr", "alignas", "alignof", "constexpr", "decltype", "noexcept", "static_assert",
    "thread_local", "typeid", "wchar_t", "char16_t", "char32_t",
};

/* s as a C identifier that is no keyword of C or C++ (malloc'd) */
char *cg_prep_c_ident(const char *s)
{
    size_t n = strlen(s);
    char *out = es_xmalloc(n + 3);
    size_t k = 0;
    if (!(s[0] == '_' || (s[0] >= 'A' && s[0] <= 'Z') || (s[0] >= 'a' && s[0] <= 'z'))) out[k++] = '_';
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        int ok = c == '_' || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
        out[k++] = ok ? c : '_';
    }
    out[k] = 0;
    for (size_t i = 0; i < ES_ARRAY_LEN(reserved); i++)
        if (strcmp(out, reserved[i]) == 0) { out[k++] = '_'; out[k] = 0; break; }
    return out;
}

/* ---- checks and the encoder list (reader.c's setup and get_enc) ----------------- */

static int col_is_string(const cg_prep *p, int col) { return p->src->cols[col].type == ES_COL_STRING; }

static int check_col(const cg_prep *p, const es_feature *f, int want_string, es_status *st)
{
    if (f->column < 0 || f->column >= p->ncols)
        return es_fail(st, ES_EMODEL, "feature %s reads column %d, but source %s has %d columns", f->name,
                       f->column, p->src->name ? p->src->name : "?", p->ncols);
    if (want_string != col_is_string(p, f->column))
        return es_fail(st, ES_EMODEL, "feature %s needs a %s column, but column %s is not", f->name,
                       want_string ? "string" : "numeric", p->src->cols[f->column].name);
    return 0;
}

static penc *find_enc(cg_prep *p, const es_feature *f)
{
    for (int i = 0; i < p->nenc; i++) if (p->enc[i].f == f) return &p->enc[i];
    return NULL;
}

/* Multivalent = read with a separator (even with max_values 1), as in reader.c. */
static int multivalent(const es_feature *f) { return f->value_separator != NULL; }
static int nvalues(const es_feature *f) { return f->max_values > 1 ? f->max_values : 1; }

int cg_prep_feed_width(const es_feature *f)
{
    if (f->kind == ES_FEAT_WEIGHTED) return f->of ? nvalues(f->of) : 1;
    return f->categorical && multivalent(f) ? nvalues(f) : 1;
}

int cg_prep_feed_is_ids(const es_feature *f) { return f->categorical && f->kind != ES_FEAT_WEIGHTED; }

static int add_enc(cg_prep *p, const es_feature *f, int depth, es_status *st)
{
    if (find_enc(p, f)) return 0;
    if (depth > 16) return es_fail(st, ES_EMODEL, "feature %s: crosses nest too deeply (a cycle?)", f->name);
    if (multivalent(f)) {
        if (f->kind != ES_FEAT_VOCAB && f->kind != ES_FEAT_HASHED && f->kind != ES_FEAT_IDENTITY)
            return es_fail(st, ES_EMODEL, "feature %s: only vocabulary, identity and hashed features can be multivalent",
                           f->name);
        if (!f->value_separator[0]) return es_fail(st, ES_EMODEL, "feature %s: the value separator is empty", f->name);
        if (f->kind == ES_FEAT_HASHED && f->num_buckets <= 0)
            return es_fail(st, ES_EMODEL, "feature %s needs a positive bucket count", f->name);
    }
    switch (f->kind) {
    case ES_FEAT_BUCKETIZED:
        if (check_col(p, f, 0, st) < 0) return -1;
        for (int i = 1; i < f->nbounds; i++)
            if (!(f->bounds[i - 1] < f->bounds[i]))
                return es_fail(st, ES_EMODEL, "feature %s: bucket boundaries must be strictly ascending", f->name);
        break;
    case ES_FEAT_VOCAB:
        if (check_col(p, f, 1, st) < 0) return -1;
        if (f->num_oov < 0 || (int64_t)f->nvocab + f->num_oov > INT32_MAX)
            return es_fail(st, ES_EMODEL, "feature %s: num_oov must be >= 0 and ids must fit in 32 bits", f->name);
        break;
    case ES_FEAT_IDENTITY:   /* a multivalent identity reads separator-joined integers from a string */
        if (check_col(p, f, multivalent(f), st) < 0) return -1;
        break;
    case ES_FEAT_HASHED:
        if (check_col(p, f, 1, st) < 0) return -1;
        break;
    case ES_FEAT_CROSSED:
        if (f->ncross < 1 || f->num_buckets <= 0)
            return es_fail(st, ES_EMODEL, "feature %s: a cross needs inputs and a positive bucket count", f->name);
        for (int i = 0; i < f->ncross; i++) {
            const es_feature *in = f->cross[i];
            if (!in || !in->categorical || in->kind == ES_FEAT_NUMERIC || in->kind == ES_FEAT_INDICATOR ||
                in->kind == ES_FEAT_WEIGHTED)
                return es_fail(st, ES_EMODEL, "feature %s: cross input %s is not categorical", f->name,
                               in ? in->name : "(null)");
            if (multivalent(in))
                return es_fail(st, ES_EMODEL, "feature %s: cross input %s is multivalent (not supported)", f->name,
                               in->name);
            if (add_enc(p, in, depth + 1, st) < 0) return -1;
        }
        break;
    case ES_FEAT_NUMERIC:
    case ES_FEAT_INDICATOR:
    case ES_FEAT_WEIGHTED:
        return es_fail(st, ES_EINTERNAL, "feature %s is not categorical", f->name);
    }
    p->enc = es_xrealloc(p->enc, (size_t)(p->nenc + 1) * sizeof *p->enc);
    p->enc[p->nenc++] = (penc){ .f = f };
    return 0;
}

static int check_spec(cg_prep *p, es_status *st)
{
    const es_spec *spec = p->spec;
    for (int i = 0; i < spec->nused; i++) {
        const es_feature *f = spec->used[i];
        if (f->kind == ES_FEAT_INDICATOR)
            return es_fail(st, ES_EMODEL, "feature %s: indicator features are made in the graph", f->name);
        if (f->kind == ES_FEAT_WEIGHTED) {
            if (!f->of || !f->of->categorical || f->of->kind == ES_FEAT_WEIGHTED || !multivalent(f->of))
                return es_fail(st, ES_EMODEL, "feature %s: a weighted feature needs a multivalent ids feature "
                               "(one read with a separator)", f->name);
            if (!f->value_separator || !f->value_separator[0])
                return es_fail(st, ES_EMODEL, "feature %s: a weighted feature needs a value separator", f->name);
            if (check_col(p, f, 1, st) < 0 || add_enc(p, f->of, 0, st) < 0) return -1;
            continue;
        }
        if (f->kind == ES_FEAT_NUMERIC) {
            if (check_col(p, f, 0, st) < 0) return -1;
            if (f->width > 1)
                return es_fail(st, ES_EMODEL, "feature %s: numeric features of width %d are not supported "
                               "(one column gives one float)", f->name, f->width);
            continue;
        }
        if ((f->kind == ES_FEAT_HASHED || f->kind == ES_FEAT_IDENTITY) && f->num_buckets <= 0)
            return es_fail(st, ES_EMODEL, "feature %s needs a positive bucket count", f->name);
        if (f->num_buckets > INT32_MAX)
            return es_fail(st, ES_EMODEL, "feature %s: %lld buckets do not fit 32-bit ids", f->name,
                           (long long)f->num_buckets);
        if (add_enc(p, f, 0, st) < 0) return -1;
    }
    return 0;
}

/* does any feature the encoder computes read column col? */
static int col_read(const cg_prep *p, int col)
{
    for (int i = 0; i < p->spec->nused; i++) {
        const es_feature *f = p->spec->used[i];
        if ((f->kind == ES_FEAT_NUMERIC || f->kind == ES_FEAT_WEIGHTED) && f->column == col) return 1;
    }
    for (int i = 0; i < p->nenc; i++)
        if (p->enc[i].f->kind != ES_FEAT_CROSSED && p->enc[i].f->column == col) return 1;
    return 0;
}

/* One reader of column col as one value (kind COL_ONE) or as a list with
 * separator sep and at most maxv values: a column is passed one way only. */
static int read_as(cg_prep *p, int col, int kind, const char *sep, int maxv, const es_feature *f, es_status *st)
{
    static const char *const what[] = { "one value", "a list of strings", "a list of weights" };
    if (p->col_kind[col] < 0) {
        p->col_kind[col] = kind;
        p->col_sep[col] = sep;
        p->col_max[col] = maxv;
        return 0;
    }
    if (p->col_kind[col] != kind)
        return es_fail(st, ES_EMODEL, "feature %s reads column %s as %s, another feature as %s: an exported "
                       "predictor passes a column one way only", f->name, p->src->cols[col].name, what[kind],
                       what[p->col_kind[col]]);
    if (kind != COL_ONE && strcmp(p->col_sep[col], sep) != 0)
        return es_fail(st, ES_EMODEL, "feature %s splits column %s on \"%s\", another feature on \"%s\": an "
                       "exported predictor passes a column one way only", f->name, p->src->cols[col].name, sep,
                       p->col_sep[col]);
    if (maxv < p->col_max[col]) p->col_max[col] = maxv;
    return 0;
}

/* Decides how each column is passed: lists for multivalent and weights columns. */
static int classify_cols(cg_prep *p, es_status *st)
{
    p->col_kind = es_xcalloc((size_t)p->ncols + 1, sizeof *p->col_kind);
    p->col_sep = es_xcalloc((size_t)p->ncols + 1, sizeof *p->col_sep);
    p->col_max = es_xcalloc((size_t)p->ncols + 1, sizeof *p->col_max);
    for (int c = 0; c < p->ncols; c++) p->col_kind[c] = -1;
    for (int i = 0; i < p->spec->nused; i++) {
        const es_feature *f = p->spec->used[i];
        int rc = 0;
        if (f->kind == ES_FEAT_NUMERIC) rc = read_as(p, f->column, COL_ONE, NULL, 1, f, st);
        else if (f->kind == ES_FEAT_WEIGHTED)
            rc = read_as(p, f->column, COL_DOUBLES, f->value_separator, nvalues(f->of), f, st);
        if (rc < 0) return -1;
    }
    for (int i = 0; i < p->nenc; i++) {
        const es_feature *f = p->enc[i].f;
        if (f->kind == ES_FEAT_CROSSED) continue;
        if (read_as(p, f->column, multivalent(f) ? COL_STRINGS : COL_ONE, f->value_separator, nvalues(f), f, st) < 0)
            return -1;
    }
    for (int c = 0; c < p->ncols; c++) if (p->col_kind[c] < 0) p->col_kind[c] = COL_ONE;
    return 0;
}

/* is s a field or count name of a column before col? */
static int name_taken(const cg_prep *p, int col, const char *s)
{
    for (int k = 0; k < col; k++)
        if ((p->field[k] && strcmp(p->field[k], s) == 0) || (p->count_field[k] && strcmp(p->count_field[k], s) == 0))
            return 1;
    return 0;
}

static char *with_suffix(const char *s, const char *sfx)
{
    char *out = es_xmalloc(strlen(s) + strlen(sfx) + 1);
    strcpy(out, s);
    strcat(out, sfx);
    return out;
}

/* Names column c's field (and count) apart from the earlier ones: two names that
 * sanitise alike, or a column named like another's count, get "_<c>" appended. */
static void name_field(cg_prep *p, int c, int list)
{
    char *name = cg_prep_c_ident(p->src->cols[c].name), *count = list ? with_suffix(name, "_count") : NULL;
    char sfx[16];
    snprintf(sfx, sizeof sfx, "_%d", c);
    while (name_taken(p, c, name) || (count && name_taken(p, c, count))) {
        char *n2 = with_suffix(name, sfx);
        free(name);
        free(count);
        name = n2;
        count = list ? with_suffix(name, "_count") : NULL;
    }
    p->field[c] = name;
    p->count_field[c] = count;
}

cg_prep *cg_prep_new(LLVMModuleRef m, const char *prefix, const es_spec *spec, es_status *st)
{
    cg_prep *p = es_xcalloc(1, sizeof *p);
    p->mod = m;
    p->ctx = LLVMGetModuleContext(m);
    p->prefix = es_xstrdup(prefix);
    p->spec = spec;
    p->src = spec->eval ? spec->eval : spec->train;
    if (!p->src) { es_fail(st, ES_EMODEL, "the model has no data source"); cg_prep_free(p); return NULL; }
    p->ncols = p->src->ncols;
    if (check_spec(p, st) != 0 || classify_cols(p, st) != 0) { cg_prep_free(p); return NULL; }

    p->i1 = LLVMInt1TypeInContext(p->ctx);
    p->i8 = LLVMInt8TypeInContext(p->ctx);
    p->i32 = LLVMInt32TypeInContext(p->ctx);
    p->i64 = LLVMInt64TypeInContext(p->ctx);
    p->f32 = LLVMFloatTypeInContext(p->ctx);
    p->f64 = LLVMDoubleTypeInContext(p->ctx);
    p->ptr = LLVMPointerTypeInContext(p->ctx, 0);

    /* the struct: every column in order, the label's left out unless a feature reads it */
    p->field = es_xcalloc((size_t)p->ncols + 1, sizeof *p->field);
    p->count_field = es_xcalloc((size_t)p->ncols + 1, sizeof *p->count_field);
    p->field_index = es_xcalloc((size_t)p->ncols + 1, sizeof *p->field_index);
    LLVMTypeRef *ft = es_xcalloc(2 * (size_t)p->ncols + 1, sizeof *ft);
    int nf = 0;
    for (int c = 0; c < p->ncols; c++) {
        p->field_index[c] = -1;
        if (c == spec->label.column && !col_read(p, c)) continue;
        name_field(p, c, p->col_kind[c] != COL_ONE);
        p->field_index[c] = nf;
        const es_column *col = &p->src->cols[c];
        ft[nf++] = col->type == ES_COL_STRING ? p->ptr : col->type == ES_COL_INT ? p->i64 : p->f64;
        if (p->col_kind[c] != COL_ONE) ft[nf++] = p->i32;   /* the count */
    }
    char tname[512];
    snprintf(tname, sizeof tname, "%s.input", prefix);
    p->in_type = LLVMStructCreateNamed(p->ctx, tname);
    LLVMStructSetBody(p->in_type, ft, (unsigned)nf, 0);
    free(ft);
    return p;
}

void cg_prep_free(cg_prep *p)
{
    if (!p) return;
    for (int c = 0; c < p->ncols; c++) {
        if (p->field) free(p->field[c]);
        if (p->count_field) free(p->count_field[c]);
    }
    free(p->field);
    free(p->count_field);
    free(p->col_kind);
    free(p->col_sep);
    free(p->col_max);
    free(p->field_index);
    free(p->enc);
    free(p->prefix);
    free(p);
}

LLVMTypeRef cg_prep_input_type(const cg_prep *p) { return p->in_type; }

const char *cg_prep_field_name(const cg_prep *p, int col)
{
    return col >= 0 && col < p->ncols ? p->field[col] : NULL;
}

/* ---- XXH64 ------------------------------------------------------------------------ */

#define P64_1 0x9E3779B185EBCA87ull
#define P64_2 0xC2B2AE3D27D4EB4Full
#define P64_3 0x165667B19E3779F9ull
#define P64_4 0x85EBCA77C2B2AE63ull
#define P64_5 0x27D4EB2F165667C5ull

typedef struct hx { LLVMModuleRef m; LLVMContextRef ctx; LLVMBuilderRef b; LLVMTypeRef i8, i32, i64; } hx;

static LLVMValueRef hk(hx *h, uint64_t v) { return LLVMConstInt(h->i64, v, 0); }

static LLVMValueRef rotl(hx *h, LLVMValueRef x, int r)
{
    unsigned id = LLVMLookupIntrinsicID("llvm.fshl", 9);
    LLVMValueRef f = LLVMGetIntrinsicDeclaration(h->m, id, &h->i64, 1);
    LLVMValueRef a[3] = { x, x, hk(h, (uint64_t)r) };
    return LLVMBuildCall2(h->b, LLVMIntrinsicGetType(h->ctx, id, &h->i64, 1), f, a, 3, "");
}

/* acc += input * P2; acc = rotl(acc, 31); acc *= P1 */
static LLVMValueRef xround(hx *h, LLVMValueRef acc, LLVMValueRef in)
{
    acc = LLVMBuildAdd(h->b, acc, LLVMBuildMul(h->b, in, hk(h, P64_2), ""), "");
    return LLVMBuildMul(h->b, rotl(h, acc, 31), hk(h, P64_1), "");
}

static LLVMValueRef xmerge(hx *h, LLVMValueRef acc, LLVMValueRef v)
{
    acc = LLVMBuildXor(h->b, acc, xround(h, hk(h, 0), v), "");
    return LLVMBuildAdd(h->b, LLVMBuildMul(h->b, acc, hk(h, P64_1), ""), hk(h, P64_4), "");
}

/* an unaligned little-endian load of type t at data + off */
static LLVMValueRef xload(hx *h, LLVMTypeRef t, LLVMValueRef data, LLVMValueRef off)
{
    LLVMValueRef p = LLVMBuildInBoundsGEP2(h->b, h->i8, data, &off, 1, "");
    LLVMValueRef v = LLVMBuildLoad2(h->b, t, p, "");
    LLVMSetAlignment(v, 1);
    return t == h->i64 ? v : LLVMBuildZExt(h->b, v, h->i64, "");
}

static LLVMValueRef emit_xxh64(LLVMModuleRef m, const char *name, int internal)
{
    hx h = { .m = m, .ctx = LLVMGetModuleContext(m) };
    h.i8 = LLVMInt8TypeInContext(h.ctx);
    h.i32 = LLVMInt32TypeInContext(h.ctx);
    h.i64 = LLVMInt64TypeInContext(h.ctx);
    LLVMTypeRef pt[2] = { LLVMPointerTypeInContext(h.ctx, 0), h.i64 };
    LLVMValueRef fn = LLVMAddFunction(m, name, LLVMFunctionType(h.i64, pt, 2, 0));
    if (internal) LLVMSetLinkage(fn, LLVMInternalLinkage);
    unsigned nounwind = LLVMGetEnumAttributeKindForName("nounwind", 8);
    LLVMAddAttributeAtIndex(fn, LLVMAttributeFunctionIndex, LLVMCreateEnumAttribute(h.ctx, nounwind, 0));
    LLVMValueRef data = LLVMGetParam(fn, 0), len = LLVMGetParam(fn, 1);
    h.b = LLVMCreateBuilderInContext(h.ctx);
    LLVMBuilderRef b = h.b;
#define BLOCK(n) LLVMAppendBasicBlockInContext(h.ctx, fn, n)
    LLVMBasicBlockRef entry = BLOCK("entry"), big = BLOCK("big"), stripe = BLOCK("stripe"),
                      merge = BLOCK("merge"), small = BLOCK("small"), tail = BLOCK("tail"),
                      w8 = BLOCK("w8"), b8 = BLOCK("b8"), c4 = BLOCK("c4"), b4 = BLOCK("b4"),
                      w1 = BLOCK("w1"), b1 = BLOCK("b1"), fin = BLOCK("fin");
#undef BLOCK
    LLVMPositionBuilderAtEnd(b, entry);
    LLVMValueRef hv = LLVMBuildAlloca(b, h.i64, "h"), iv = LLVMBuildAlloca(b, h.i64, "i"), v[4];
    for (int k = 0; k < 4; k++) v[k] = LLVMBuildAlloca(b, h.i64, "v");
    LLVMBuildStore(b, hk(&h, 0), iv);
    LLVMBuildCondBr(b, LLVMBuildICmp(b, LLVMIntUGE, len, hk(&h, 32), ""), big, small);

    /* 32-byte stripes into four accumulators (seed 0) */
    LLVMPositionBuilderAtEnd(b, big);
    const uint64_t init[4] = { P64_1 + P64_2, P64_2, 0, (uint64_t)0 - P64_1 };
    for (int k = 0; k < 4; k++) LLVMBuildStore(b, hk(&h, init[k]), v[k]);
    LLVMBuildBr(b, stripe);
    LLVMPositionBuilderAtEnd(b, stripe);
    LLVMValueRef i = LLVMBuildLoad2(b, h.i64, iv, "");
    for (int k = 0; k < 4; k++) {
        LLVMValueRef x = xload(&h, h.i64, data, LLVMBuildAdd(b, i, hk(&h, 8 * (uint64_t)k), ""));
        LLVMBuildStore(b, xround(&h, LLVMBuildLoad2(b, h.i64, v[k], ""), x), v[k]);
    }
    LLVMValueRef i2 = LLVMBuildAdd(b, i, hk(&h, 32), "");
    LLVMBuildStore(b, i2, iv);
    LLVMBuildCondBr(b, LLVMBuildICmp(b, LLVMIntULE, LLVMBuildAdd(b, i2, hk(&h, 32), ""), len, ""), stripe, merge);
    LLVMPositionBuilderAtEnd(b, merge);
    LLVMValueRef vv[4];
    for (int k = 0; k < 4; k++) vv[k] = LLVMBuildLoad2(b, h.i64, v[k], "");
    LLVMValueRef acc = LLVMBuildAdd(b, LLVMBuildAdd(b, rotl(&h, vv[0], 1), rotl(&h, vv[1], 7), ""),
                                    LLVMBuildAdd(b, rotl(&h, vv[2], 12), rotl(&h, vv[3], 18), ""), "");
    for (int k = 0; k < 4; k++) acc = xmerge(&h, acc, vv[k]);
    LLVMBuildStore(b, acc, hv);
    LLVMBuildBr(b, tail);
    LLVMPositionBuilderAtEnd(b, small);
    LLVMBuildStore(b, hk(&h, P64_5), hv);
    LLVMBuildBr(b, tail);

    /* the length, then the remaining 8-, 4- and 1-byte pieces */
    LLVMPositionBuilderAtEnd(b, tail);
    LLVMBuildStore(b, LLVMBuildAdd(b, LLVMBuildLoad2(b, h.i64, hv, ""), len, ""), hv);
    LLVMBuildBr(b, w8);
    LLVMPositionBuilderAtEnd(b, w8);
    i = LLVMBuildLoad2(b, h.i64, iv, "");
    LLVMBuildCondBr(b, LLVMBuildICmp(b, LLVMIntULE, LLVMBuildAdd(b, i, hk(&h, 8), ""), len, ""), b8, c4);
    LLVMPositionBuilderAtEnd(b, b8);
    LLVMValueRef k1 = xround(&h, hk(&h, 0), xload(&h, h.i64, data, i));
    acc = LLVMBuildXor(b, LLVMBuildLoad2(b, h.i64, hv, ""), k1, "");
    acc = LLVMBuildAdd(b, LLVMBuildMul(b, rotl(&h, acc, 27), hk(&h, P64_1), ""), hk(&h, P64_4), "");
    LLVMBuildStore(b, acc, hv);
    LLVMBuildStore(b, LLVMBuildAdd(b, i, hk(&h, 8), ""), iv);
    LLVMBuildBr(b, w8);
    LLVMPositionBuilderAtEnd(b, c4);
    i = LLVMBuildLoad2(b, h.i64, iv, "");
    LLVMBuildCondBr(b, LLVMBuildICmp(b, LLVMIntULE, LLVMBuildAdd(b, i, hk(&h, 4), ""), len, ""), b4, w1);
    LLVMPositionBuilderAtEnd(b, b4);
    acc = LLVMBuildXor(b, LLVMBuildLoad2(b, h.i64, hv, ""),
                       LLVMBuildMul(b, xload(&h, h.i32, data, i), hk(&h, P64_1), ""), "");
    acc = LLVMBuildAdd(b, LLVMBuildMul(b, rotl(&h, acc, 23), hk(&h, P64_2), ""), hk(&h, P64_3), "");
    LLVMBuildStore(b, acc, hv);
    LLVMBuildStore(b, LLVMBuildAdd(b, i, hk(&h, 4), ""), iv);
    LLVMBuildBr(b, w1);
    LLVMPositionBuilderAtEnd(b, w1);
    i = LLVMBuildLoad2(b, h.i64, iv, "");
    LLVMBuildCondBr(b, LLVMBuildICmp(b, LLVMIntULT, i, len, ""), b1, fin);
    LLVMPositionBuilderAtEnd(b, b1);
    acc = LLVMBuildXor(b, LLVMBuildLoad2(b, h.i64, hv, ""),
                       LLVMBuildMul(b, xload(&h, h.i8, data, i), hk(&h, P64_5), ""), "");
    LLVMBuildStore(b, LLVMBuildMul(b, rotl(&h, acc, 11), hk(&h, P64_1), ""), hv);
    LLVMBuildStore(b, LLVMBuildAdd(b, i, hk(&h, 1), ""), iv);
    LLVMBuildBr(b, w1);

    /* avalanche */
    LLVMPositionBuilderAtEnd(b, fin);
    acc = LLVMBuildLoad2(b, h.i64, hv, "");
    acc = LLVMBuildMul(b, LLVMBuildXor(b, acc, LLVMBuildLShr(b, acc, hk(&h, 33), ""), ""), hk(&h, P64_2), "");
    acc = LLVMBuildMul(b, LLVMBuildXor(b, acc, LLVMBuildLShr(b, acc, hk(&h, 29), ""), ""), hk(&h, P64_3), "");
    acc = LLVMBuildXor(b, acc, LLVMBuildLShr(b, acc, hk(&h, 32), ""), "");
    LLVMBuildRet(b, acc);
    LLVMDisposeBuilder(b);
    return fn;
}

LLVMValueRef cg_prep_xxh64_fn(LLVMModuleRef m, const char *name) { return emit_xxh64(m, name, 0); }

/* ---- small builders for the encoder -------------------------------------------------- */

static LLVMValueRef k64(cg_prep *p, int64_t v) { return LLVMConstInt(p->i64, (unsigned long long)v, 1); }
static LLVMValueRef k32(cg_prep *p, int64_t v) { return LLVMConstInt(p->i32, (unsigned long long)v, 1); }
static LLVMValueRef kf64(cg_prep *p, double v) { return LLVMConstReal(p->f64, v); }

static LLVMBasicBlockRef block(cg_prep *p, const char *name)
{
    return LLVMAppendBasicBlockInContext(p->ctx, p->fn, name);
}

/* an alloca in the encoder's entry block, where mem2reg looks */
static LLVMValueRef local(cg_prep *p, LLVMTypeRef t, const char *name)
{
    return cg_entry_alloca(p->ctx, p->allocas, t, name);
}

static LLVMValueRef get(cg_prep *p, LLVMValueRef var) { return LLVMBuildLoad2(p->b, LLVMGetAllocatedType(var), var, ""); }
static void set(cg_prep *p, LLVMValueRef var, LLVMValueRef v) { LLVMBuildStore(p->b, v, var); }

/* the rest of the row is skipped: return 1 + col (in a block of its own) */
static void fail_row(cg_prep *p, int col) { LLVMBuildRet(p->b, k32(p, col + 1)); }

static LLVMValueRef libc(cg_prep *p, const char *name, LLVMTypeRef ret, LLVMTypeRef *pt, LLVMValueRef *args, int n)
{
    LLVMTypeRef ft = LLVMFunctionType(ret, pt, (unsigned)n, 0);
    LLVMValueRef f = LLVMGetNamedFunction(p->mod, name);
    if (!f) {
        f = LLVMAddFunction(p->mod, name, ft);
        unsigned nounwind = LLVMGetEnumAttributeKindForName("nounwind", 8);
        LLVMAddAttributeAtIndex(f, LLVMAttributeFunctionIndex, LLVMCreateEnumAttribute(p->ctx, nounwind, 0));
    }
    return LLVMBuildCall2(p->b, ft, f, args, (unsigned)n, "");
}

static LLVMValueRef call_strlen(cg_prep *p, LLVMValueRef s) { return libc(p, "strlen", p->i64, &p->ptr, &s, 1); }

static LLVMValueRef call_xxh(cg_prep *p, LLVMValueRef data, LLVMValueRef len)
{
    LLVMTypeRef pt[2] = { p->ptr, p->i64 };
    LLVMValueRef a[2] = { data, len };
    return LLVMBuildCall2(p->b, LLVMFunctionType(p->i64, pt, 2, 0), p->xxh, a, 2, "");
}

/* a private constant global holding bytes */
static LLVMValueRef const_bytes(cg_prep *p, const char *suffix, const void *data, size_t n)
{
    char name[512];
    snprintf(name, sizeof name, "%s.%s", p->prefix, suffix);
    LLVMValueRef init = LLVMConstStringInContext2(p->ctx, data, n, 1);
    LLVMValueRef g = LLVMAddGlobal(p->mod, LLVMTypeOf(init), name);
    LLVMSetInitializer(g, init);
    LLVMSetGlobalConstant(g, 1);
    LLVMSetLinkage(g, LLVMPrivateLinkage);
    LLVMSetUnnamedAddress(g, LLVMGlobalUnnamedAddr);
    LLVMSetAlignment(g, 8);
    return g;
}

static LLVMValueRef const_str(cg_prep *p, const char *suffix, const char *s)
{
    return const_bytes(p, suffix, s, strlen(s) + 1);
}

static LLVMValueRef field_ptr(cg_prep *p, int col)
{
    return LLVMBuildStructGEP2(p->b, p->in_type, p->in, (unsigned)p->field_index[col], "");
}

/* ---- values of one row (reader.c's col_num and col_str) ----------------------------- */

/* The numeric value of column col as the reader sees it, with fdefault the
 * reading feature's default (NaN = none). *present (may be NULL unless
 * allow_none) receives an i1: 0 when missing without any default. */
static LLVMValueRef num_value(cg_prep *p, int col, double fdefault, int allow_none, LLVMValueRef *present)
{
    LLVMBuilderRef b = p->b;
    const es_column *c = &p->src->cols[col];
    LLVMValueRef res = local(p, p->f64, "num"), pres = local(p, p->i1, "present");
    LLVMValueRef v, miss;
    if (c->type == ES_COL_INT) {
        LLVMValueRef x = LLVMBuildLoad2(b, p->i64, field_ptr(p, col), "");
        miss = LLVMBuildICmp(b, LLVMIntEQ, x, k64(p, CG_PREP_MISSING_INT), "");
        v = LLVMBuildSIToFP(b, x, p->f64, "");
    } else {
        v = LLVMBuildLoad2(b, p->f64, field_ptr(p, col), "");
        miss = LLVMBuildFCmp(b, LLVMRealUNO, v, v, "");
    }
    LLVMBasicBlockRef lmiss = block(p, "missing"), lok = block(p, "value"), cont = block(p, "num.done");
    LLVMBuildCondBr(b, miss, lmiss, lok);

    LLVMPositionBuilderAtEnd(b, lmiss);
    if (c->has_default || !isnan(fdefault) || allow_none) {
        set(p, res, kf64(p, c->has_default ? c->num_default : !isnan(fdefault) ? fdefault : 0.0));
        set(p, pres, LLVMConstInt(p->i1, c->has_default || !isnan(fdefault), 0));
        LLVMBuildBr(b, cont);
    } else {
        fail_row(p, col);
    }

    LLVMPositionBuilderAtEnd(b, lok);
    if (c->type != ES_COL_INT) {   /* the reader refuses non-finite numbers */
        unsigned id = LLVMLookupIntrinsicID("llvm.fabs", 9);
        LLVMValueRef fabs_fn = LLVMGetIntrinsicDeclaration(p->mod, id, &p->f64, 1);
        LLVMValueRef av = LLVMBuildCall2(b, LLVMIntrinsicGetType(p->ctx, id, &p->f64, 1), fabs_fn, &v, 1, "");
        LLVMBasicBlockRef finite = block(p, "finite"), bad = block(p, "not.finite");
        LLVMBuildCondBr(b, LLVMBuildFCmp(b, LLVMRealOLT, av, kf64(p, INFINITY), ""), finite, bad);
        LLVMPositionBuilderAtEnd(b, bad);
        fail_row(p, col);
        LLVMPositionBuilderAtEnd(b, finite);
    }
    set(p, res, v);
    set(p, pres, LLVMConstInt(p->i1, 1, 0));
    LLVMBuildBr(b, cont);

    LLVMPositionBuilderAtEnd(b, cont);
    if (present) *present = get(p, pres);
    return get(p, res);
}

/* Branches to lmiss when string s (of column col) is missing -- NULL, "" or
 * the source's `missing` token -- else to lok. */
static void branch_missing(cg_prep *p, LLVMValueRef s, int col, LLVMBasicBlockRef lmiss, LLVMBasicBlockRef lok)
{
    LLVMBuilderRef b = p->b;
    LLVMBasicBlockRef notnull = block(p, "str.notnull");
    LLVMBuildCondBr(b, LLVMBuildIsNull(b, s, ""), lmiss, notnull);
    LLVMPositionBuilderAtEnd(b, notnull);
    LLVMValueRef c0 = LLVMBuildLoad2(b, p->i8, s, "");
    if (p->src->missing) {
        LLVMBasicBlockRef cmp = block(p, "str.cmp");
        LLVMBuildCondBr(b, LLVMBuildICmp(b, LLVMIntEQ, c0, LLVMConstInt(p->i8, 0, 0), ""), lmiss, cmp);
        LLVMPositionBuilderAtEnd(b, cmp);
        char sfx[64];
        snprintf(sfx, sizeof sfx, "missing.c%d", col);
        LLVMTypeRef pt[2] = { p->ptr, p->ptr };
        LLVMValueRef a[2] = { s, const_str(p, sfx, p->src->missing) };
        LLVMValueRef r = libc(p, "strcmp", p->i32, pt, a, 2);
        LLVMBuildCondBr(b, LLVMBuildICmp(b, LLVMIntEQ, r, k32(p, 0), ""), lmiss, lok);
    } else {
        LLVMBuildCondBr(b, LLVMBuildICmp(b, LLVMIntEQ, c0, LLVMConstInt(p->i8, 0, 0), ""), lmiss, lok);
    }
}

/* The string of column col, or a null pointer when missing without a column
 * default. Missing: NULL, "" or the source's `missing` token. */
static LLVMValueRef str_value(cg_prep *p, int col)
{
    LLVMBuilderRef b = p->b;
    const es_column *c = &p->src->cols[col];
    LLVMValueRef res = local(p, p->ptr, "str");
    LLVMValueRef s = LLVMBuildLoad2(b, p->ptr, field_ptr(p, col), "");
    LLVMBasicBlockRef lmiss = block(p, "str.missing"), lok = block(p, "str.value"), cont = block(p, "str.done");
    branch_missing(p, s, col, lmiss, lok);
    LLVMPositionBuilderAtEnd(b, lok);
    set(p, res, s);
    LLVMBuildBr(b, cont);
    LLVMPositionBuilderAtEnd(b, lmiss);
    if (c->has_default && c->str_default) {
        char sfx[64];
        snprintf(sfx, sizeof sfx, "default.c%d", col);
        set(p, res, const_str(p, sfx, c->str_default));
    } else {
        set(p, res, LLVMConstPointerNull(p->ptr));
    }
    LLVMBuildBr(b, cont);
    LLVMPositionBuilderAtEnd(b, cont);
    return get(p, res);
}

/* ---- vocabulary tables ------------------------------------------------------------- */

/* a slot: the string's XXH64, its offset in the blob, its length (-1: empty), its id */
typedef struct vslot { uint64_t hash, off; int32_t len, val; } vslot;

/* The lookup of s (length len, hash h) in f's vocabulary: its id, or -1. */
static LLVMValueRef vocab_lookup(cg_prep *p, const es_feature *f, LLVMValueRef s, LLVMValueRef len, LLVMValueRef h)
{
    LLVMBuilderRef b = p->b;
    uint32_t cap = 8;
    while (cap < 2u * (uint32_t)f->nvocab) cap *= 2;
    vslot *tab = es_xcalloc(cap, sizeof *tab);
    for (uint32_t i = 0; i < cap; i++) tab[i].len = -1;
    size_t blob_n = 0;
    for (int i = 0; i < f->nvocab; i++) blob_n += strlen(f->vocab[i]);
    char *blob = es_xmalloc(blob_n + 1);
    size_t at = 0;
    for (int i = 0; i < f->nvocab; i++) {   /* reader.c's vtab_put: the first occurrence wins */
        size_t n = strlen(f->vocab[i]);
        uint64_t hh = es_hash64(f->vocab[i], n, 0);
        for (uint32_t k = (uint32_t)hh & (cap - 1);; k = (k + 1) & (cap - 1)) {
            if (tab[k].len < 0) {
                memcpy(blob + at, f->vocab[i], n);
                tab[k] = (vslot){ hh, at, (int32_t)n, i };
                at += n;
                break;
            }
            if (tab[k].hash == hh && (size_t)tab[k].len == n && memcmp(blob + tab[k].off, f->vocab[i], n) == 0) break;
        }
    }
    /* the table as an LLVM constant: [cap x {i64, i64, i32, i32}] */
    LLVMTypeRef st_fields[4] = { p->i64, p->i64, p->i32, p->i32 };
    LLVMTypeRef slot_t = LLVMStructTypeInContext(p->ctx, st_fields, 4, 0);
    LLVMValueRef *elems = es_xmalloc(cap * sizeof *elems);
    for (uint32_t i = 0; i < cap; i++) {
        LLVMValueRef fv[4] = { LLVMConstInt(p->i64, tab[i].hash, 0), LLVMConstInt(p->i64, tab[i].off, 0),
                               k32(p, tab[i].len), k32(p, tab[i].val) };
        elems[i] = LLVMConstStructInContext(p->ctx, fv, 4, 0);
    }
    LLVMValueRef init = LLVMConstArray2(slot_t, elems, cap);
    char name[512];
    snprintf(name, sizeof name, "%s.vocab%d", p->prefix, p->nvocab_tables);
    LLVMValueRef table = LLVMAddGlobal(p->mod, LLVMTypeOf(init), name);
    LLVMSetInitializer(table, init);
    LLVMSetGlobalConstant(table, 1);
    LLVMSetLinkage(table, LLVMPrivateLinkage);
    LLVMSetUnnamedAddress(table, LLVMGlobalUnnamedAddr);
    snprintf(name, sizeof name, "vocab%d.strings", p->nvocab_tables++);
    LLVMValueRef strings = const_bytes(p, name, blob, at ? at : 1);
    free(elems);
    free(blob);
    free(tab);

    /* i = h & mask; while slot i is taken: compare, i = (i + 1) & mask */
    LLVMValueRef idx = local(p, p->i64, "slot"), res = local(p, p->i32, "vocab.id");
    set(p, idx, LLVMBuildAnd(b, h, k64(p, cap - 1), ""));
    set(p, res, k32(p, -1));
    LLVMBasicBlockRef probe = block(p, "probe"), taken = block(p, "probe.taken"), same = block(p, "probe.same"),
                      next = block(p, "probe.next"), hit = block(p, "probe.hit"), done = block(p, "probe.done");
    LLVMBuildBr(b, probe);
    LLVMPositionBuilderAtEnd(b, probe);
    LLVMValueRef i = get(p, idx);
    LLVMValueRef gi[2] = { k64(p, 0), i };
    LLVMValueRef slot = LLVMBuildInBoundsGEP2(b, LLVMGlobalGetValueType(table), table, gi, 2, "");
    LLVMValueRef sl = LLVMBuildLoad2(b, p->i32, LLVMBuildStructGEP2(b, slot_t, slot, 2, ""), "");
    LLVMBuildCondBr(b, LLVMBuildICmp(b, LLVMIntSLT, sl, k32(p, 0), ""), done, taken);
    LLVMPositionBuilderAtEnd(b, taken);
    LLVMValueRef sh = LLVMBuildLoad2(b, p->i64, LLVMBuildStructGEP2(b, slot_t, slot, 0, ""), "");
    LLVMValueRef eq = LLVMBuildAnd(b, LLVMBuildICmp(b, LLVMIntEQ, sh, h, ""),
                                   LLVMBuildICmp(b, LLVMIntEQ, LLVMBuildZExt(b, sl, p->i64, ""), len, ""), "");
    LLVMBuildCondBr(b, eq, same, next);
    LLVMPositionBuilderAtEnd(b, same);
    LLVMValueRef off = LLVMBuildLoad2(b, p->i64, LLVMBuildStructGEP2(b, slot_t, slot, 1, ""), "");
    LLVMTypeRef pt[3] = { p->ptr, p->ptr, p->i64 };
    LLVMValueRef a[3] = { LLVMBuildInBoundsGEP2(b, p->i8, strings, &off, 1, ""), s, len };
    LLVMValueRef cmp = libc(p, "memcmp", p->i32, pt, a, 3);
    LLVMBuildCondBr(b, LLVMBuildICmp(b, LLVMIntEQ, cmp, k32(p, 0), ""), hit, next);
    LLVMPositionBuilderAtEnd(b, hit);
    set(p, res, LLVMBuildLoad2(b, p->i32, LLVMBuildStructGEP2(b, slot_t, slot, 3, ""), ""));
    LLVMBuildBr(b, done);
    LLVMPositionBuilderAtEnd(b, next);
    set(p, idx, LLVMBuildAnd(b, LLVMBuildAdd(b, i, k64(p, 1), ""), k64(p, cap - 1), ""));
    LLVMBuildBr(b, probe);
    LLVMPositionBuilderAtEnd(b, done);
    return get(p, res);
}

/* ---- categorical features (reader.c's enc_id) ----------------------------------------- */

/* if (cond) { ...: returns the block to continue in after the body */
static LLVMBasicBlockRef if_begin(cg_prep *p, LLVMValueRef cond, const char *name)
{
    LLVMBasicBlockRef then = block(p, name), cont = block(p, "endif");
    LLVMBuildCondBr(p->b, cond, then, cont);
    LLVMPositionBuilderAtEnd(p->b, then);
    return cont;
}

static void if_end(cg_prep *p, LLVMBasicBlockRef cont)
{
    LLVMBuildBr(p->b, cont);
    LLVMPositionBuilderAtEnd(p->b, cont);
}

/* key % n as an i32 id */
static LLVMValueRef bucket_of(cg_prep *p, LLVMValueRef key, int64_t n)
{
    return LLVMBuildTrunc(p->b, LLVMBuildURem(p->b, key, k64(p, n), ""), p->i32, "");
}

/* ---- multivalent and weighted features (reader.c's next_value, enc_multi, enc_weights) ---- */

static void emit_enc(cg_prep *p, penc *e);

typedef struct ploop { LLVMBasicBlockRef head, exit; LLVMValueRef var, i; } ploop;

/* for (i = 0; i < n; i++) { -- returns i */
static LLVMValueRef loop_begin(cg_prep *p, ploop *l, LLVMValueRef n, const char *name)
{
    l->var = local(p, p->i64, name);
    set(p, l->var, k64(p, 0));
    l->head = block(p, name);
    LLVMBasicBlockRef body = block(p, "body");
    l->exit = block(p, "done");
    LLVMBuildBr(p->b, l->head);
    LLVMPositionBuilderAtEnd(p->b, l->head);
    l->i = get(p, l->var);
    LLVMBuildCondBr(p->b, LLVMBuildICmp(p->b, LLVMIntSLT, l->i, n, ""), body, l->exit);
    LLVMPositionBuilderAtEnd(p->b, body);
    return l->i;
}

static void loop_end(cg_prep *p, ploop *l)
{
    set(p, l->var, LLVMBuildAdd(p->b, l->i, k64(p, 1), ""));
    LLVMBuildBr(p->b, l->head);
    LLVMPositionBuilderAtEnd(p->b, l->exit);
}

static LLVMValueRef count_ptr(cg_prep *p, int col)
{
    return LLVMBuildStructGEP2(p->b, p->in_type, p->in, (unsigned)p->field_index[col] + 1, "");
}

/* isspace() of the C locale, which the reader trims with: ' ' and '\t'..'\r' */
static LLVMValueRef is_space(cg_prep *p, LLVMValueRef c)
{
    LLVMBuilderRef b = p->b;
    LLVMValueRef ctl = LLVMBuildICmp(b, LLVMIntULE, LLVMBuildSub(b, c, LLVMConstInt(p->i8, 9, 0), ""),
                                     LLVMConstInt(p->i8, 4, 0), "");
    return LLVMBuildOr(b, ctl, LLVMBuildICmp(b, LLVMIntEQ, c, LLVMConstInt(p->i8, ' ', 0), ""), "");
}

static LLVMValueRef byte_at(cg_prep *p, LLVMValueRef s, LLVMValueRef i)
{
    return LLVMBuildLoad2(p->b, p->i8, LLVMBuildInBoundsGEP2(p->b, p->i8, s, &i, 1, ""), "");
}

/* Emits (once) the splitter, reader.c's next_value:
 *     internal ptr <prefix>.next_value(ptr s, ptr sep, i64 seplen, ptr out)
 * finds the next non-empty value of the separator-joined text at s (trimmed of
 * blanks), stores its start and end in out[0], out[1] and returns where the
 * search goes on; null when no value is left. It never reads past s's NUL:
 * the separator is matched byte by byte and is not empty. */
static LLVMValueRef emit_split(cg_prep *p)
{
    if (p->split) return p->split;
    LLVMValueRef save_fn = p->fn;
    LLVMBasicBlockRef save_allocas = p->allocas;
    LLVMBuilderRef save_b = p->b;
    char name[512];
    snprintf(name, sizeof name, "%s.next_value", p->prefix);
    LLVMTypeRef pt[4] = { p->ptr, p->ptr, p->i64, p->ptr };
    p->fn = LLVMAddFunction(p->mod, name, LLVMFunctionType(p->ptr, pt, 4, 0));
    LLVMSetLinkage(p->fn, LLVMInternalLinkage);
    unsigned nounwind = LLVMGetEnumAttributeKindForName("nounwind", 8);
    LLVMAddAttributeAtIndex(p->fn, LLVMAttributeFunctionIndex, LLVMCreateEnumAttribute(p->ctx, nounwind, 0));
    LLVMBuilderRef b = p->b = LLVMCreateBuilderInContext(p->ctx);
    p->allocas = block(p, "entry");
    LLVMBasicBlockRef value = block(p, "value");
    LLVMPositionBuilderAtEnd(b, p->allocas);
    LLVMBuildBr(b, value);
    LLVMValueRef sep = LLVMGetParam(p->fn, 1), seplen = LLVMGetParam(p->fn, 2), out = LLVMGetParam(p->fn, 3);
    LLVMValueRef cur = local(p, p->ptr, "cur"), q = local(p, p->ptr, "q"), k = local(p, p->i64, "k"),
                 endv = local(p, p->ptr, "end"), nextv = local(p, p->ptr, "next"), bv = local(p, p->ptr, "b"),
                 ev = local(p, p->ptr, "e");
    LLVMPositionBuilderBefore(b, LLVMGetBasicBlockTerminator(p->allocas));
    set(p, cur, LLVMGetParam(p->fn, 0));
    LLVMBasicBlockRef none = block(p, "none"), more = block(p, "more"), scan = block(p, "scan"),
                      ch = block(p, "char"), match = block(p, "match"), mbyte = block(p, "match.byte"),
                      mstep = block(p, "match.step"), step = block(p, "step"), found = block(p, "separator"),
                      fend = block(p, "field.end"), lead = block(p, "lead"), leadc = block(p, "lead.char"),
                      leadi = block(p, "lead.skip"), trail0 = block(p, "trail.start"), trail = block(p, "trail"),
                      trailc = block(p, "trail.char"), traild = block(p, "trail.skip"), got = block(p, "got"),
                      yes = block(p, "nonempty");
    LLVMValueRef zero8 = LLVMConstInt(p->i8, 0, 0), null = LLVMConstPointerNull(p->ptr);

    /* value: s = cur; no text left -> null */
    LLVMPositionBuilderAtEnd(b, value);
    LLVMValueRef s = get(p, cur);
    LLVMBuildCondBr(b, LLVMBuildICmp(b, LLVMIntEQ, LLVMBuildLoad2(b, p->i8, s, ""), zero8, ""), none, more);
    LLVMPositionBuilderAtEnd(b, none);
    LLVMBuildRet(b, null);
    LLVMPositionBuilderAtEnd(b, more);
    set(p, q, s);
    LLVMBuildBr(b, scan);

    /* scan for the separator or the NUL */
    LLVMPositionBuilderAtEnd(b, scan);
    LLVMValueRef qq = get(p, q);
    LLVMBuildCondBr(b, LLVMBuildICmp(b, LLVMIntEQ, LLVMBuildLoad2(b, p->i8, qq, ""), zero8, ""), fend, ch);
    LLVMPositionBuilderAtEnd(b, ch);
    set(p, k, k64(p, 0));
    LLVMBuildBr(b, match);
    LLVMPositionBuilderAtEnd(b, match);
    LLVMValueRef kk = get(p, k);
    LLVMBuildCondBr(b, LLVMBuildICmp(b, LLVMIntEQ, kk, seplen, ""), found, mbyte);
    LLVMPositionBuilderAtEnd(b, mbyte);
    LLVMBuildCondBr(b, LLVMBuildICmp(b, LLVMIntEQ, byte_at(p, qq, kk), byte_at(p, sep, kk), ""), mstep, step);
    LLVMPositionBuilderAtEnd(b, mstep);
    set(p, k, LLVMBuildAdd(b, kk, k64(p, 1), ""));
    LLVMBuildBr(b, match);
    LLVMPositionBuilderAtEnd(b, step);
    LLVMValueRef one = k64(p, 1);
    set(p, q, LLVMBuildInBoundsGEP2(b, p->i8, qq, &one, 1, ""));
    LLVMBuildBr(b, scan);
    LLVMPositionBuilderAtEnd(b, found);
    set(p, endv, qq);
    set(p, nextv, LLVMBuildInBoundsGEP2(b, p->i8, qq, &seplen, 1, ""));
    LLVMBuildBr(b, lead);
    LLVMPositionBuilderAtEnd(b, fend);
    set(p, endv, qq);
    set(p, nextv, qq);
    LLVMBuildBr(b, lead);

    /* trim: [b, e) without leading and trailing blanks */
    LLVMPositionBuilderAtEnd(b, lead);
    LLVMValueRef bb = get(p, bv);
    LLVMBuildCondBr(b, LLVMBuildICmp(b, LLVMIntULT, bb, get(p, endv), ""), leadc, trail0);
    LLVMPositionBuilderAtEnd(b, leadc);
    LLVMBuildCondBr(b, is_space(p, LLVMBuildLoad2(b, p->i8, bb, "")), leadi, trail0);
    LLVMPositionBuilderAtEnd(b, leadi);
    set(p, bv, LLVMBuildInBoundsGEP2(b, p->i8, bb, &one, 1, ""));
    LLVMBuildBr(b, lead);
    LLVMPositionBuilderAtEnd(b, trail0);
    set(p, ev, get(p, endv));
    LLVMBuildBr(b, trail);
    LLVMPositionBuilderAtEnd(b, trail);
    LLVMValueRef e = get(p, ev), minus1 = k64(p, -1);
    LLVMBuildCondBr(b, LLVMBuildICmp(b, LLVMIntUGT, e, get(p, bv), ""), trailc, got);
    LLVMPositionBuilderAtEnd(b, trailc);
    LLVMValueRef prev = LLVMBuildGEP2(b, p->i8, e, &minus1, 1, "");
    LLVMBuildCondBr(b, is_space(p, LLVMBuildLoad2(b, p->i8, prev, "")), traild, got);
    LLVMPositionBuilderAtEnd(b, traild);
    set(p, ev, prev);
    LLVMBuildBr(b, trail);

    /* a value, or on to the next piece */
    LLVMPositionBuilderAtEnd(b, got);
    LLVMValueRef vb = get(p, bv), ve = get(p, ev), nx = get(p, nextv);
    set(p, cur, nx);
    LLVMBuildCondBr(b, LLVMBuildICmp(b, LLVMIntUGT, ve, vb, ""), yes, value);
    LLVMPositionBuilderAtEnd(b, yes);
    LLVMBuildStore(b, vb, out);
    LLVMBuildStore(b, ve, LLVMBuildInBoundsGEP2(b, p->ptr, out, &one, 1, ""));
    LLVMBuildRet(b, nx);

    /* set b = s where the trimming starts (s is only known in block value) */
    LLVMPositionBuilderBefore(b, LLVMGetBasicBlockTerminator(more));
    set(p, bv, s);

    LLVMDisposeBuilder(b);
    p->split = p->fn;
    p->fn = save_fn;
    p->allocas = save_allocas;
    p->b = save_b;
    return p->split;
}

/* A private constant array of n elements of type t. */
static LLVMValueRef const_array(cg_prep *p, const char *suffix, LLVMTypeRef t, LLVMValueRef *v, unsigned n)
{
    char name[512];
    snprintf(name, sizeof name, "%s.%s", p->prefix, suffix);
    LLVMValueRef init = LLVMConstArray2(t, v, n);
    LLVMValueRef g = LLVMAddGlobal(p->mod, LLVMTypeOf(init), name);
    LLVMSetInitializer(g, init);
    LLVMSetGlobalConstant(g, 1);
    LLVMSetLinkage(g, LLVMPrivateLinkage);
    LLVMSetUnnamedAddress(g, LLVMGlobalUnnamedAddr);
    return g;
}

/* the count of list column col as an i64, a negative one taken as 0 */
static LLVMValueRef list_count(cg_prep *p, int col)
{
    LLVMBuilderRef b = p->b;
    LLVMValueRef n = LLVMBuildSExt(b, LLVMBuildLoad2(b, p->i32, count_ptr(p, col), ""), p->i64, "");
    return LLVMBuildSelect(b, LLVMBuildICmp(b, LLVMIntSLT, n, k64(p, 0), ""), k64(p, 0), n, "");
}

/* The elements of string list column col and their number (i64), after the
 * reader's rule for a missing field (prep.h): a NULL array, or one element
 * that is NULL, "" or the missing token, is the column default as one element,
 * or no element. (An empty array is a field without values: no default.) */
static void str_list(cg_prep *p, int col, LLVMValueRef *arr, LLVMValueRef *n)
{
    LLVMBuilderRef b = p->b;
    const es_column *c = &p->src->cols[col];
    LLVMValueRef resa = local(p, p->ptr, "elements"), resn = local(p, p->i64, "count");
    LLVMValueRef a = LLVMBuildLoad2(b, p->ptr, field_ptr(p, col), "");
    LLVMValueRef cnt = list_count(p, col);
    set(p, resa, a);
    set(p, resn, cnt);
    LLVMBasicBlockRef some = block(p, "list.some"), first = block(p, "list.first"), lmiss = block(p, "list.missing"),
                      cont = block(p, "list.done");
    LLVMBuildCondBr(b, LLVMBuildIsNull(b, a, ""), lmiss, some);
    LLVMPositionBuilderAtEnd(b, some);
    LLVMBuildCondBr(b, LLVMBuildICmp(b, LLVMIntEQ, cnt, k64(p, 1), ""), first, cont);
    LLVMPositionBuilderAtEnd(b, first);
    branch_missing(p, LLVMBuildLoad2(b, p->ptr, a, ""), col, lmiss, cont);
    LLVMPositionBuilderAtEnd(b, lmiss);
    if (c->has_default && c->str_default) {
        char sfx[64];
        snprintf(sfx, sizeof sfx, "default.c%d", col);
        LLVMValueRef s = const_str(p, sfx, c->str_default);
        snprintf(sfx, sizeof sfx, "default.list.c%d", col);
        set(p, resa, const_array(p, sfx, p->ptr, &s, 1));
        set(p, resn, k64(p, 1));
    } else {
        set(p, resn, k64(p, 0));
    }
    LLVMBuildBr(b, cont);
    LLVMPositionBuilderAtEnd(b, cont);
    *arr = get(p, resa);
    *n = get(p, resn);
}

/* reader.c's next_value in C, for the column defaults parsed at export time */
static int next_text_value(const char **s, const char *sep, const char **vb, const char **ve)
{
    size_t sl = strlen(sep);
    while (**s) {
        const char *b = *s, *e = strstr(b, sep);
        if (!e) e = b + strlen(b);
        *s = *e ? e + sl : e;
        while (b < e && isspace((unsigned char)*b)) b++;
        while (e > b && isspace((unsigned char)e[-1])) e--;
        if (e > b) { *vb = b; *ve = e; return 1; }
    }
    return 0;
}

/* The weights text s parsed as the reader parses a weights field: the number
 * of weights into *n and the values (malloc'd), or -1 when one would be refused. */
static int parse_weights(const char *s, const char *sep, double **out, int *n)
{
    const char *b, *e;
    *n = 0;
    *out = NULL;
    for (const char *q = s; next_text_value(&q, sep, &b, &e);) {
        char buf[64], *end;
        size_t len = (size_t)(e - b);
        if (len >= sizeof buf) { free(*out); return -1; }
        memcpy(buf, b, len);
        buf[len] = 0;
        double v = strtod(buf, &end);
        if (end == buf || *end || !isfinite(v) || fabs(v) > FLT_MAX) { free(*out); return -1; }
        *out = es_xrealloc(*out, (size_t)(*n + 1) * sizeof **out);
        (*out)[(*n)++] = v;
    }
    return 0;
}

/* The weights of list column col and their number (i64); a missing field (a
 * NULL array) takes the column default, parsed here, else has no weights. A
 * default the reader would refuse makes every row without weights an error. */
static void dbl_list(cg_prep *p, int col, const char *sep, LLVMValueRef *arr, LLVMValueRef *n)
{
    LLVMBuilderRef b = p->b;
    const es_column *c = &p->src->cols[col];
    LLVMValueRef resa = local(p, p->ptr, "weights"), resn = local(p, p->i64, "count");
    LLVMValueRef a = LLVMBuildLoad2(b, p->ptr, field_ptr(p, col), "");
    LLVMValueRef cnt = list_count(p, col);
    set(p, resa, a);
    set(p, resn, cnt);
    LLVMBasicBlockRef lmiss = block(p, "weights.missing"), cont = block(p, "weights.done");
    LLVMBuildCondBr(b, LLVMBuildIsNull(b, a, ""), lmiss, cont);
    LLVMPositionBuilderAtEnd(b, lmiss);
    double *w = NULL;
    int nw = 0;
    if (!(c->has_default && c->str_default)) {
        set(p, resn, k64(p, 0));
    } else if (parse_weights(c->str_default, sep, &w, &nw) < 0) {
        fail_row(p, col);
        LLVMPositionBuilderAtEnd(b, cont);
        *arr = get(p, resa);
        *n = get(p, resn);
        return;
    } else if (nw > 0) {
        LLVMValueRef *v = es_xmalloc((size_t)nw * sizeof *v);
        for (int i = 0; i < nw; i++) v[i] = kf64(p, w[i]);
        char sfx[64];
        snprintf(sfx, sizeof sfx, "default.weights.c%d", col);
        set(p, resa, const_array(p, sfx, p->f64, v, (unsigned)nw));
        set(p, resn, k64(p, nw));
        free(v);
    } else {
        set(p, resn, k64(p, 0));
    }
    free(w);
    LLVMBuildBr(b, cont);
    LLVMPositionBuilderAtEnd(b, cont);
    *arr = get(p, resa);
    *n = get(p, resn);
}

/* A multivalent identity value [s, s + len): reader.c's strtoll of it, and the
 * id (default_id out of range); anything else returns 1 + column. */
static LLVMValueRef identity_value(cg_prep *p, const es_feature *f, LLVMValueRef s, LLVMValueRef len)
{
    LLVMBuilderRef b = p->b;
    LLVMBasicBlockRef bad = block(p, "int.bad"), start = block(p, "int.start"), digits = block(p, "int.digits"),
                      head = block(p, "int.loop"), body = block(p, "int.char"), digit = block(p, "int.digit"),
                      ok = block(p, "int.ok"), done = block(p, "int.done");
    LLVMValueRef acc = local(p, p->i64, "acc"), iv = local(p, p->i64, "i");
    /* the reader copies a value of 32 characters or more cut short and refuses it */
    LLVMBuildCondBr(b, LLVMBuildICmp(b, LLVMIntUGE, len, k64(p, 32), ""), bad, start);
    LLVMPositionBuilderAtEnd(b, bad);
    fail_row(p, f->column);

    LLVMPositionBuilderAtEnd(b, start);
    LLVMValueRef c0 = LLVMBuildLoad2(b, p->i8, s, "");
    LLVMValueRef neg = LLVMBuildICmp(b, LLVMIntEQ, c0, LLVMConstInt(p->i8, '-', 0), "");
    LLVMValueRef sign = LLVMBuildOr(b, neg, LLVMBuildICmp(b, LLVMIntEQ, c0, LLVMConstInt(p->i8, '+', 0), ""), "");
    LLVMValueRef i0 = LLVMBuildZExt(b, sign, p->i64, "");
    set(p, iv, i0);
    set(p, acc, k64(p, 0));
    LLVMBuildCondBr(b, LLVMBuildICmp(b, LLVMIntEQ, i0, len, ""), bad, digits);   /* no digits */
    LLVMPositionBuilderAtEnd(b, digits);
    /* |value| at most INT64_MAX, or 2^63 when negative: strtoll's ERANGE */
    LLVMValueRef limit = LLVMBuildSelect(b, neg, k64(p, INT64_MIN), k64(p, INT64_MAX), "");
    LLVMBuildBr(b, head);
    LLVMPositionBuilderAtEnd(b, head);
    LLVMValueRef i = get(p, iv);
    LLVMBuildCondBr(b, LLVMBuildICmp(b, LLVMIntULT, i, len, ""), body, done);
    LLVMPositionBuilderAtEnd(b, body);
    LLVMValueRef d = LLVMBuildSub(b, LLVMBuildZExt(b, byte_at(p, s, i), p->i64, ""), k64(p, '0'), "");
    LLVMBuildCondBr(b, LLVMBuildICmp(b, LLVMIntULT, d, k64(p, 10), ""), digit, bad);
    LLVMPositionBuilderAtEnd(b, digit);
    LLVMValueRef a = get(p, acc);
    LLVMValueRef room = LLVMBuildUDiv(b, LLVMBuildSub(b, limit, d, ""), k64(p, 10), "");
    LLVMBuildCondBr(b, LLVMBuildICmp(b, LLVMIntUGT, a, room, ""), bad, ok);
    LLVMPositionBuilderAtEnd(b, ok);
    set(p, acc, LLVMBuildAdd(b, LLVMBuildMul(b, a, k64(p, 10), ""), d, ""));
    set(p, iv, LLVMBuildAdd(b, i, k64(p, 1), ""));
    LLVMBuildBr(b, head);

    LLVMPositionBuilderAtEnd(b, done);
    a = get(p, acc);
    LLVMValueRef v = LLVMBuildSelect(b, neg, LLVMBuildSub(b, k64(p, 0), a, ""), a, "");
    LLVMValueRef in = LLVMBuildAnd(b, LLVMBuildICmp(b, LLVMIntSGE, v, k64(p, 0), ""),
                                   LLVMBuildICmp(b, LLVMIntSLT, v, k64(p, f->num_buckets), ""), "");
    return LLVMBuildSelect(b, in, LLVMBuildTrunc(b, v, p->i32, ""), k32(p, (int32_t)f->default_id), "");
}

/* The id of one value [s, s + len) of multivalent feature f (reader.c's enc_multi). */
static LLVMValueRef value_id(cg_prep *p, const es_feature *f, LLVMValueRef s, LLVMValueRef len)
{
    LLVMBuilderRef b = p->b;
    switch (f->kind) {
    case ES_FEAT_VOCAB: {
        LLVMValueRef h = call_xxh(p, s, len);
        LLVMValueRef id = vocab_lookup(p, f, s, len, h);
        LLVMValueRef unknown = f->num_oov > 0 ? LLVMBuildAdd(b, k32(p, f->nvocab), bucket_of(p, h, f->num_oov), "")
                                              : k32(p, (int32_t)f->default_id);
        return LLVMBuildSelect(b, LLVMBuildICmp(b, LLVMIntSLT, id, k32(p, 0), ""), unknown, id, "");
    }
    case ES_FEAT_HASHED:
        return bucket_of(p, call_xxh(p, s, len), f->num_buckets);
    case ES_FEAT_IDENTITY:
        return identity_value(p, f, s, len);
    case ES_FEAT_NUMERIC: case ES_FEAT_BUCKETIZED: case ES_FEAT_CROSSED:
    case ES_FEAT_INDICATOR: case ES_FEAT_WEIGHTED:
        break;   /* add_enc refused them */
    }
    return k32(p, -1);
}

/* Ids of multivalent feature f: every value of every element, in order, into
 * e->ids (-1 padded), their number into e->nvals; more than max_values values
 * return 1 + column. */
static void emit_multi(cg_prep *p, penc *e)
{
    LLVMBuilderRef b = p->b;
    const es_feature *f = e->f;
    int m = nvalues(f);
    e->ids = local(p, LLVMArrayType2(p->i32, (uint64_t)m), f->name);
    e->nvals = local(p, p->i32, "nvals");
    LLVMBuildMemSet(b, e->ids, LLVMConstInt(p->i8, 0xff, 0), k64(p, 4 * (int64_t)m), 4);   /* -1 everywhere */
    set(p, e->nvals, k32(p, 0));
    LLVMValueRef arr, n;
    str_list(p, f->column, &arr, &n);
    LLVMValueRef split = emit_split(p);
    char sfx[600];
    snprintf(sfx, sizeof sfx, "separator.%s", f->name);
    LLVMValueRef sep = const_str(p, sfx, f->value_separator);
    LLVMValueRef out = local(p, LLVMArrayType2(p->ptr, 2), "value");
    LLVMValueRef cur = local(p, p->ptr, "rest");

    ploop l;
    LLVMValueRef i = loop_begin(p, &l, n, "elements");
    LLVMValueRef el = LLVMBuildLoad2(b, p->ptr, LLVMBuildInBoundsGEP2(b, p->ptr, arr, &i, 1, ""), "");
    LLVMBasicBlockRef cont = if_begin(p, LLVMBuildIsNotNull(b, el, ""), "element");
    set(p, cur, el);
    LLVMBasicBlockRef head = block(p, "values"), body = block(p, "value"), room = block(p, "value.room"),
                      full = block(p, "too.many"), done = block(p, "values.done");
    LLVMBuildBr(b, head);
    LLVMPositionBuilderAtEnd(b, head);
    LLVMTypeRef pt[4] = { p->ptr, p->ptr, p->i64, p->ptr };
    LLVMValueRef args[4] = { get(p, cur), sep, k64(p, (int64_t)strlen(f->value_separator)), out };
    LLVMValueRef nx = LLVMBuildCall2(b, LLVMFunctionType(p->ptr, pt, 4, 0), split, args, 4, "");
    LLVMBuildCondBr(b, LLVMBuildIsNull(b, nx, ""), done, body);
    LLVMPositionBuilderAtEnd(b, body);
    set(p, cur, nx);
    LLVMValueRef k = get(p, e->nvals);
    LLVMBuildCondBr(b, LLVMBuildICmp(b, LLVMIntSLT, k, k32(p, m), ""), room, full);
    LLVMPositionBuilderAtEnd(b, full);
    fail_row(p, f->column);
    LLVMPositionBuilderAtEnd(b, room);
    LLVMValueRef one = k64(p, 1);
    LLVMValueRef vb = LLVMBuildLoad2(b, p->ptr, out, "");
    LLVMValueRef ve = LLVMBuildLoad2(b, p->ptr, LLVMBuildInBoundsGEP2(b, p->ptr, out, &one, 1, ""), "");
    LLVMValueRef len = LLVMBuildSub(b, LLVMBuildPtrToInt(b, ve, p->i64, ""), LLVMBuildPtrToInt(b, vb, p->i64, ""), "");
    LLVMValueRef id = value_id(p, f, vb, len);
    LLVMValueRef k64v = LLVMBuildSExt(b, k, p->i64, "");
    LLVMBuildStore(b, id, LLVMBuildInBoundsGEP2(b, p->i32, e->ids, &k64v, 1, ""));
    set(p, e->nvals, LLVMBuildAdd(b, k, k32(p, 1), ""));
    LLVMBuildBr(b, head);
    LLVMPositionBuilderAtEnd(b, done);
    if_end(p, cont);
    loop_end(p, &l);
    e->emitted = 1;
}

static LLVMValueRef fabs64(cg_prep *p, LLVMValueRef v)
{
    unsigned id = LLVMLookupIntrinsicID("llvm.fabs", 9);
    LLVMValueRef fn = LLVMGetIntrinsicDeclaration(p->mod, id, &p->f64, 1);
    return LLVMBuildCall2(p->b, LLVMIntrinsicGetType(p->ctx, id, &p->f64, 1), fn, &v, 1, "");
}

/* The weights of weighted feature f, a local [M x float] (reader.c's
 * enc_weights): each weight finite and within float range, one per value of
 * f->of, 0 where its id is -1; else 1 + the weights column. */
static LLVMValueRef emit_weights(cg_prep *p, const es_feature *f)
{
    LLVMBuilderRef b = p->b;
    penc *ie = find_enc(p, f->of);
    emit_enc(p, ie);
    int m = nvalues(f->of);
    LLVMValueRef w = local(p, LLVMArrayType2(p->f32, (uint64_t)m), f->name);
    LLVMBuildMemSet(b, w, LLVMConstInt(p->i8, 0, 0), k64(p, 4 * (int64_t)m), 4);
    LLVMValueRef arr, n;
    dbl_list(p, f->column, f->value_separator, &arr, &n);
    LLVMValueRef nv = LLVMBuildSExt(b, get(p, ie->nvals), p->i64, "");

    ploop l;
    LLVMValueRef k = loop_begin(p, &l, n, "weights");
    LLVMValueRef v = LLVMBuildLoad2(b, p->f64, LLVMBuildInBoundsGEP2(b, p->f64, arr, &k, 1, ""), "");
    LLVMBasicBlockRef good = block(p, "weight.ok"), bad = block(p, "weight.bad");
    LLVMBuildCondBr(b, LLVMBuildFCmp(b, LLVMRealOLE, fabs64(p, v), kf64(p, FLT_MAX), ""), good, bad);   /* NaN: bad */
    LLVMPositionBuilderAtEnd(b, bad);
    fail_row(p, f->column);
    LLVMPositionBuilderAtEnd(b, good);
    LLVMBasicBlockRef c1 = if_begin(p, LLVMBuildICmp(b, LLVMIntSLT, k, nv, ""), "weight.value");
    LLVMValueRef id = LLVMBuildLoad2(b, p->i32, LLVMBuildInBoundsGEP2(b, p->i32, ie->ids, &k, 1, ""), "");
    LLVMBasicBlockRef c2 = if_begin(p, LLVMBuildICmp(b, LLVMIntSGE, id, k32(p, 0), ""), "weight.id");
    LLVMBuildStore(b, LLVMBuildFPTrunc(b, v, p->f32, ""), LLVMBuildInBoundsGEP2(b, p->f32, w, &k, 1, ""));
    if_end(p, c2);
    if_end(p, c1);
    loop_end(p, &l);

    LLVMBasicBlockRef same = block(p, "weights.count.ok"), differ = block(p, "weights.count.bad");
    LLVMBuildCondBr(b, LLVMBuildICmp(b, LLVMIntEQ, n, nv, ""), same, differ);
    LLVMPositionBuilderAtEnd(b, differ);
    fail_row(p, f->column);
    LLVMPositionBuilderAtEnd(b, same);
    return w;
}

static void emit_enc(cg_prep *p, penc *e)
{
    if (e->emitted) return;
    const es_feature *f = e->f;
    if (multivalent(f)) { emit_multi(p, e); return; }
    if (f->kind == ES_FEAT_CROSSED)
        for (int i = 0; i < f->ncross; i++) emit_enc(p, find_enc(p, f->cross[i]));
    LLVMBuilderRef b = p->b;
    e->id = local(p, p->i32, f->name);
    e->key = local(p, p->i64, "key");
    set(p, e->id, k32(p, -1));
    set(p, e->key, k64(p, -1));    /* (uint64_t)(int64_t)-1, as the reader's key of "no id" */
    switch (f->kind) {
    case ES_FEAT_BUCKETIZED: {
        /* the number of bounds <= v (the bounds ascend strictly, so this is the
         * reader's binary search) */
        LLVMValueRef v = num_value(p, f->column, f->num_default, 0, NULL);
        LLVMValueRef cnt = k32(p, 0);
        if (f->nbounds <= 64) {
            for (int k = 0; k < f->nbounds; k++)
                cnt = LLVMBuildAdd(b, cnt, LLVMBuildZExt(b, LLVMBuildFCmp(b, LLVMRealOLE, kf64(p, f->bounds[k]), v, ""),
                                                         p->i32, ""), "");
        } else {
            char sfx[600];
            snprintf(sfx, sizeof sfx, "bounds.%s", f->name);
            LLVMValueRef g = const_bytes(p, sfx, f->bounds, (size_t)f->nbounds * sizeof(double));
            LLVMValueRef kv = local(p, p->i64, "k"), acc = local(p, p->i32, "count");
            set(p, kv, k64(p, 0));
            set(p, acc, k32(p, 0));
            LLVMBasicBlockRef head = block(p, "bounds"), body = block(p, "bounds.body"), out = block(p, "bounds.done");
            LLVMBuildBr(b, head);
            LLVMPositionBuilderAtEnd(b, head);
            LLVMValueRef k = get(p, kv);
            LLVMBuildCondBr(b, LLVMBuildICmp(b, LLVMIntSLT, k, k64(p, f->nbounds), ""), body, out);
            LLVMPositionBuilderAtEnd(b, body);
            LLVMValueRef bk = LLVMBuildLoad2(b, p->f64, LLVMBuildInBoundsGEP2(b, p->f64, g, &k, 1, ""), "");
            set(p, acc, LLVMBuildAdd(b, get(p, acc), LLVMBuildZExt(b, LLVMBuildFCmp(b, LLVMRealOLE, bk, v, ""), p->i32, ""), ""));
            set(p, kv, LLVMBuildAdd(b, k, k64(p, 1), ""));
            LLVMBuildBr(b, head);
            LLVMPositionBuilderAtEnd(b, out);
            cnt = get(p, acc);
        }
        set(p, e->id, cnt);
        set(p, e->key, LLVMBuildZExt(b, cnt, p->i64, ""));
        break;
    }
    case ES_FEAT_VOCAB: {
        LLVMValueRef s = str_value(p, f->column);
        LLVMBasicBlockRef cont = if_begin(p, LLVMBuildIsNotNull(b, s, ""), "vocab");
        LLVMValueRef len = call_strlen(p, s), h = call_xxh(p, s, len);
        LLVMValueRef id = vocab_lookup(p, f, s, len, h);
        LLVMValueRef unknown;
        if (f->num_oov > 0)
            unknown = LLVMBuildAdd(b, k32(p, f->nvocab), bucket_of(p, h, f->num_oov), "");
        else
            unknown = k32(p, (int32_t)f->default_id);
        id = LLVMBuildSelect(b, LLVMBuildICmp(b, LLVMIntSLT, id, k32(p, 0), ""), unknown, id, "");
        set(p, e->id, id);
        set(p, e->key, LLVMBuildSExt(b, id, p->i64, ""));
        if_end(p, cont);
        break;
    }
    case ES_FEAT_IDENTITY: {
        LLVMValueRef present;
        LLVMValueRef v = num_value(p, f->column, f->num_default, 1, &present);
        LLVMBasicBlockRef cont = if_begin(p, present, "identity");
        unsigned fid = LLVMLookupIntrinsicID("llvm.floor", 10);
        LLVMValueRef floor_fn = LLVMGetIntrinsicDeclaration(p->mod, fid, &p->f64, 1);
        LLVMValueRef fl = LLVMBuildCall2(b, LLVMIntrinsicGetType(p->ctx, fid, &p->f64, 1), floor_fn, &v, 1, "");
        LLVMBasicBlockRef whole = block(p, "identity.whole"), bad = block(p, "identity.fraction");
        LLVMBuildCondBr(b, LLVMBuildFCmp(b, LLVMRealUNE, v, fl, ""), bad, whole);
        LLVMPositionBuilderAtEnd(b, bad);
        fail_row(p, f->column);
        LLVMPositionBuilderAtEnd(b, whole);
        LLVMValueRef in = LLVMBuildAnd(b, LLVMBuildFCmp(b, LLVMRealOGE, v, kf64(p, 0), ""),
                                       LLVMBuildFCmp(b, LLVMRealOLT, v, kf64(p, (double)f->num_buckets), ""), "");
        /* fptosi only where it is defined: out-of-range values take the default */
        LLVMValueRef safe = LLVMBuildSelect(b, in, v, kf64(p, 0), "");
        LLVMValueRef id = LLVMBuildSelect(b, in, LLVMBuildFPToSI(b, safe, p->i32, ""), k32(p, (int32_t)f->default_id), "");
        set(p, e->id, id);
        set(p, e->key, LLVMBuildSExt(b, id, p->i64, ""));
        if_end(p, cont);
        break;
    }
    case ES_FEAT_HASHED: {
        LLVMValueRef s = str_value(p, f->column);
        set(p, e->key, k64(p, 0));
        LLVMBasicBlockRef cont = if_begin(p, LLVMBuildIsNotNull(b, s, ""), "hashed");
        LLVMValueRef key = call_xxh(p, s, call_strlen(p, s));
        set(p, e->key, key);
        /* a hidden input of a cross may have no bucket count: only its key matters */
        set(p, e->id, f->num_buckets > 0 && f->num_buckets <= INT32_MAX ? bucket_of(p, key, f->num_buckets) : k32(p, 0));
        if_end(p, cont);
        break;
    }
    case ES_FEAT_CROSSED: {
        LLVMValueRef ok = LLVMConstInt(p->i1, 1, 0);
        for (int i = 0; i < f->ncross; i++) {
            penc *in = find_enc(p, f->cross[i]);
            ok = LLVMBuildAnd(b, ok, LLVMBuildICmp(b, LLVMIntSGE, get(p, in->id), k32(p, 0), ""), "");
        }
        LLVMBasicBlockRef cont = if_begin(p, ok, "crossed");
        LLVMValueRef keys = local(p, LLVMArrayType2(p->i64, (uint64_t)f->ncross), "keys");
        for (int i = 0; i < f->ncross; i++) {
            LLVMValueRef gi[2] = { k64(p, 0), k64(p, i) };
            LLVMBuildStore(b, get(p, find_enc(p, f->cross[i])->key),
                           LLVMBuildInBoundsGEP2(b, LLVMGetAllocatedType(keys), keys, gi, 2, ""));
        }
        LLVMValueRef id = bucket_of(p, call_xxh(p, keys, k64(p, 8 * (int64_t)f->ncross)), f->num_buckets);
        set(p, e->id, id);
        set(p, e->key, LLVMBuildSExt(b, id, p->i64, ""));
        if_end(p, cont);
        break;
    }
    case ES_FEAT_NUMERIC:
    case ES_FEAT_INDICATOR:
    case ES_FEAT_WEIGHTED:
        break;   /* never an encoder: check_spec refused them */
    }
    e->emitted = 1;
}

/* ---- the encoder ------------------------------------------------------------------- */

LLVMValueRef cg_prep_encoder(cg_prep *p, const int *feed_slot)
{
    char name[512];
    snprintf(name, sizeof name, "%s.xxh64", p->prefix);
    p->xxh = emit_xxh64(p->mod, name, 1);
    snprintf(name, sizeof name, "%s.encode", p->prefix);
    LLVMTypeRef pt[3] = { p->ptr, p->ptr, p->i64 };
    p->fn = LLVMAddFunction(p->mod, name, LLVMFunctionType(p->i32, pt, 3, 0));
    LLVMSetLinkage(p->fn, LLVMInternalLinkage);
    unsigned nounwind = LLVMGetEnumAttributeKindForName("nounwind", 8);
    LLVMAddAttributeAtIndex(p->fn, LLVMAttributeFunctionIndex, LLVMCreateEnumAttribute(p->ctx, nounwind, 0));
    p->in = LLVMGetParam(p->fn, 0);
    p->bufs = LLVMGetParam(p->fn, 1);
    p->r = LLVMGetParam(p->fn, 2);
    LLVMSetValueName2(p->in, "in", 2);
    LLVMSetValueName2(p->bufs, "bufs", 4);
    LLVMSetValueName2(p->r, "r", 1);
    p->b = LLVMCreateBuilderInContext(p->ctx);
    LLVMBuilderRef b = p->b;
    p->allocas = block(p, "entry");
    LLVMBasicBlockRef start = block(p, "start");
    LLVMPositionBuilderAtEnd(b, p->allocas);
    LLVMBuildBr(b, start);
    LLVMPositionBuilderAtEnd(b, start);

    /* every used feature in order, fed or not: a row the reader refuses is refused here too */
    for (int i = 0; i < p->spec->nused; i++) {
        const es_feature *f = p->spec->used[i];
        LLVMValueRef val = NULL, row = NULL;   /* one value, or a row of cg_prep_feed_width(f) in an alloca */
        LLVMTypeRef t;
        if (f->kind == ES_FEAT_WEIGHTED) {
            row = emit_weights(p, f);
            t = p->f32;
        } else if (f->kind == ES_FEAT_NUMERIC) {
            LLVMValueRef v = num_value(p, f->column, f->num_default, 0, NULL);
            unsigned id = LLVMLookupIntrinsicID("llvm.fabs", 9);
            LLVMValueRef fabs_fn = LLVMGetIntrinsicDeclaration(p->mod, id, &p->f64, 1);
            LLVMValueRef av = LLVMBuildCall2(b, LLVMIntrinsicGetType(p->ctx, id, &p->f64, 1), fabs_fn, &v, 1, "");
            LLVMBasicBlockRef ok = block(p, "in.range"), bad = block(p, "out.of.range");
            LLVMBuildCondBr(b, LLVMBuildFCmp(b, LLVMRealOGT, av, kf64(p, FLT_MAX), ""),
                            bad, ok);
            LLVMPositionBuilderAtEnd(b, bad);
            fail_row(p, f->column);
            LLVMPositionBuilderAtEnd(b, ok);
            val = LLVMBuildFPTrunc(b, v, p->f32, "");
            t = p->f32;
        } else {
            penc *e = find_enc(p, f);
            emit_enc(p, e);
            if (multivalent(f)) row = e->ids;
            else val = get(p, e->id);
            t = p->i32;
        }
        if (feed_slot[i] < 0) continue;
        LLVMValueRef k = k64(p, feed_slot[i]);
        LLVMValueRef buf = LLVMBuildLoad2(b, p->ptr, LLVMBuildInBoundsGEP2(b, p->ptr, p->bufs, &k, 1, ""), "");
        if (row) {
            int64_t w = cg_prep_feed_width(f);
            LLVMValueRef at = LLVMBuildMul(b, p->r, k64(p, w), "");
            LLVMBuildMemCpy(b, LLVMBuildInBoundsGEP2(b, t, buf, &at, 1, ""), 4, row, 4, k64(p, 4 * w));
        } else {
            LLVMBuildStore(b, val, LLVMBuildInBoundsGEP2(b, t, buf, &p->r, 1, ""));
        }
    }
    LLVMBuildRet(b, k32(p, 0));
    LLVMDisposeBuilder(b);
    p->b = NULL;
    return p->fn;
}

/* ---- the C declaration ------------------------------------------------------------- */

/* what a missing value of column col turns into, for the field's comment */
static void describe_missing(const cg_prep *p, int col, char *buf, size_t n)
{
    const es_column *c = &p->src->cols[col];
    if (c->type == ES_COL_STRING) {
        if (c->has_default && c->str_default) snprintf(buf, n, "missing: \"%s\"", c->str_default);
        else snprintf(buf, n, "missing: %s", p->col_kind[col] == COL_STRINGS ? "no values"
                                             : p->col_kind[col] == COL_DOUBLES ? "no weights" : "no id");
        return;
    }
    if (c->has_default) { snprintf(buf, n, "missing: %.17g", c->num_default); return; }
    int error = 0, feat_default = 0;
    for (int i = 0; i < p->spec->nused; i++) {
        const es_feature *f = p->spec->used[i];
        if (f->kind == ES_FEAT_NUMERIC && f->column == col) { if (isnan(f->num_default)) error = 1; else feat_default = 1; }
    }
    for (int i = 0; i < p->nenc; i++) {
        const es_feature *f = p->enc[i].f;
        if (f->kind != ES_FEAT_BUCKETIZED && f->kind != ES_FEAT_IDENTITY) continue;
        if (f->column != col) continue;
        if (!isnan(f->num_default)) feat_default = 1;
        else if (f->kind == ES_FEAT_BUCKETIZED) error = 1;
    }
    if (error) snprintf(buf, n, "missing: an error (no default)");
    else if (feat_default) snprintf(buf, n, "missing: the feature's default");
    else snprintf(buf, n, "missing: no id");
}

void cg_write_c_string(FILE *out, const char *s)
{
    fputc('"', out);
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\') fprintf(out, "\\%c", c);
        else if (c < 0x20 || c >= 0x7f) fprintf(out, "\\%03o", c);
        else fputc(c, out);
    }
    fputc('"', out);
}

/* the features reading column c, after " -> ", or 0 when none does */
static int write_readers(const cg_prep *p, FILE *out, int c)
{
    int k = 0;
    for (int i = 0; i < p->spec->nused; i++) {
        const es_feature *f = p->spec->used[i];
        if ((f->kind == ES_FEAT_NUMERIC || f->kind == ES_FEAT_WEIGHTED) && f->column == c)
            fprintf(out, "%s%s", k++ ? ", " : " -> ", f->name);
    }
    for (int i = 0; i < p->nenc; i++) {
        const es_feature *f = p->enc[i].f;
        if (f->kind != ES_FEAT_CROSSED && f->column == c) fprintf(out, "%s%s", k++ ? ", " : " -> ", f->name);
    }
    return k;
}

static const char *const kind_names[] = { "ONE", "STRINGS", "DOUBLES" };

void cg_prep_write_input(const cg_prep *p, FILE *out, const char *type_name, const char *macro)
{
    const es_label_spec *l = &p->spec->label;
    int lists = 0;
    for (int c = 0; c < p->ncols; c++) lists |= p->field_index[c] >= 0 && p->col_kind[c] != COL_ONE;
    fprintf(out, "/* One input row: the columns of source %s in file order", p->src->name ? p->src->name : "?");
    if (l->column >= 0 && l->column < p->ncols && p->field_index[l->column] < 0)
        fprintf(out, ", without the label column %s", p->src->cols[l->column].name);
    fprintf(out, ".\n * Pass each value as the CSV field holds it (strings trimmed of surrounding\n"
                 " * blanks, as estc reads them). Missing values: NaN, %s_MISSING_INT, or NULL, \"\"%s%s%s.\n",
            macro, p->src->missing ? " or \"" : "", p->src->missing ? p->src->missing : "", p->src->missing ? "\"" : "");
    if (lists)
        fprintf(out, " *\n"
                     " * A multivalent column is a list: an array of strings and its length FIELD_count.\n"
                     " * Each element is split on %s_SEPARATOR_FIELD as the CSV field would be (so\n"
                     " * one element may hold the whole joined text), each value trimmed of blanks;\n"
                     " * empty values and NULL elements are skipped. More than %s_MAX_VALUES_FIELD\n"
                     " * values make the row an error. The field is missing (its default, else no\n"
                     " * values) when the array is NULL, or its one element is NULL, \"\" or the\n"
                     " * missing token; an empty array (FIELD_count 0) is a field without values.\n"
                     " * A weights column is an array of doubles and its length: one weight per\n"
                     " * value of its ids column, else the row is an error; NULL is a missing field.\n",
                macro, macro);
    fprintf(out, " */\n");
    fprintf(out, "typedef struct %s {\n", type_name);
    for (int c = 0; c < p->ncols; c++) {
        if (p->field_index[c] < 0) continue;
        const es_column *col = &p->src->cols[c];
        int kind = p->col_kind[c];
        char decl[600];
        snprintf(decl, sizeof decl, "%s%s;",
                 kind == COL_STRINGS ? "const char *const *" : kind == COL_DOUBLES ? "const double *"
                 : col->type == ES_COL_STRING ? "const char *" : col->type == ES_COL_INT ? "int64_t " : "double ",
                 p->field[c]);
        fprintf(out, "    %-28s /* column %d %s", decl, c, col->name);
        if (!write_readers(p, out, c)) {
            fprintf(out, ": not used by the model */\n");
        } else {
            char miss[128];
            describe_missing(p, c, miss, sizeof miss);
            if (kind == COL_STRINGS) fprintf(out, "; values, at most %d", p->col_max[c]);
            if (kind == COL_DOUBLES) fprintf(out, "; one weight per value");
            fprintf(out, "; %s */\n", miss);
        }
        if (kind != COL_ONE) {
            snprintf(decl, sizeof decl, "int32_t %s;", p->count_field[c]);
            fprintf(out, "    %-28s /* elements in %s */\n", decl, p->field[c]);
        }
    }
    fprintf(out, "} %s;\n\n", type_name);
    fprintf(out, "/* X(field, csv_column, DOUBLE | INT | STRING%s) for each field of %s%s */\n",
            lists ? " | STRINGS | DOUBLES" : "", type_name, lists ? "; a list's length is field##_count" : "");
    fprintf(out, "#define %s_INPUT_COLUMNS(X) \\\n", macro);
    for (int c = 0; c < p->ncols; c++) {
        if (p->field_index[c] < 0) continue;
        const es_column *col = &p->src->cols[c];
        fprintf(out, "    X(%s, %d, %s) \\\n", p->field[c], c,
                p->col_kind[c] != COL_ONE ? kind_names[p->col_kind[c]]
                : col->type == ES_COL_STRING ? "STRING" : col->type == ES_COL_INT ? "INT" : "DOUBLE");
    }
    fprintf(out, "    /* end */\n\n");
    if (!lists) return;
    fprintf(out, "/* Per list field: the separator that joins its values in a CSV field, and the\n"
                 " * most values a row may have. */\n");
    for (int c = 0; c < p->ncols; c++) {
        if (p->field_index[c] < 0 || p->col_kind[c] == COL_ONE) continue;
        fprintf(out, "#define %s_SEPARATOR_%s ", macro, p->field[c]);
        cg_write_c_string(out, p->col_sep[c]);
        fprintf(out, "\n#define %s_MAX_VALUES_%s %d\n", macro, p->field[c], p->col_max[c]);
    }
    fprintf(out, "\n");
}

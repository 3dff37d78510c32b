/*
 * reader.c — CSV rows to encoded examples (the feature-column transforms).
 *
 * A reader owns one rt_csv and, built once at open, everything a row needs:
 * an encoder per categorical feature reachable from spec->used (crossed
 * features pull in their inputs, which may be hidden HASHED features), hash
 * tables for vocabulary and label lookups, and per-column caches so a column
 * read by several features (age and bucketized age) is parsed once per row.
 * The numeric columns the encoders read are parsed by the CSV reader while it
 * splits the row (rt_csv_next_parsed) straight into those caches, and plain
 * numeric features are then stored in one loop (encode_direct); anything
 * unusual in a row (a missing value, a number strtod must read, a value out
 * of float range) sends the row through the general per-feature path, so
 * values and error messages are those of splitting first and parsing after
 * (rt_reader_parse_in_split(r, 0), which the tests compare with).
 *
 * Contract points worth knowing:
 *  - A field is missing when it is empty or equals the source's `missing`
 *    token. A missing numeric value takes the column default, else the
 *    feature's num_default, else it is an error naming the column. NaN in
 *    es_feature.num_default means "no default" (the frontend sets it so when
 *    the user gave none; zero would silently invent data). A missing string
 *    takes the column default, else the feature yields no id (-1), as a
 *    missing categorical value contributes nothing in TensorFlow.
 *  - Ids: bucketized = number of bounds <= value; vocabulary = position, OOV
 *    hashes into [nvocab, nvocab + num_oov) with XXH64(s, seed 0) % num_oov,
 *    else default_id; identity = the integer, out of range -> default_id;
 *    hashed = XXH64(s, seed 0) % num_buckets; crossed = XXH64 over the inputs'
 *    uint64 keys in host (little-endian) byte order, seed 0, % num_buckets,
 *    where a hashed input's key is its full hash and any other input's key is
 *    its id; -1 if any input has no id.
 *  - Multivalent features (max_values M > 1) split their field on
 *    value_separator (each value trimmed of spaces; empty values skipped) and
 *    give M ids padded with -1; more than M values is a row error (no silent
 *    truncation: dropped values would change what the model learns). A
 *    weighted feature splits its weights column the same way and needs exactly
 *    one number per value of its ids feature (else a row error); the weight
 *    of an id that is -1 (unknown, padding) is stored as 0.
 *  - Types are checked at open, not assumed from sema: string features need a
 *    string column, numeric ones a float or int column.
 *  - A row error (field count, parse, unknown label) stops the reader, or is
 *    counted and skipped when the source says bad_rows = skip. CSV syntax
 *    errors (an unterminated quote) always stop it: the rest of the file can
 *    no longer be split reliably.
 */
#define _GNU_SOURCE
#include "runtime.h"

#include <ctype.h>
#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* XXH64 compiled into this file (what es_hash64 calls in the library): the
 * keys hashed per row are a few bytes long, where a call costs as much as
 * the hash. */
#define XXH_INLINE_ALL
#include <xxhash.h>
#ifdef __SSE2__
#include <emmintrin.h>
#endif
#if defined(__x86_64__) && defined(__GNUC__)
#define RT_NARROW_AVX 1
#include <immintrin.h>
#endif

static inline uint64_t hash64(const void *p, size_t n) { return XXH64(p, n, 0); }

/* Equal bytes? Keys are short: a byte loop inlined beats a call to memcmp. */
static inline int same_bytes(const char *a, const char *b, size_t n)
{
    for (size_t i = 0; i < n; i++) if (a[i] != b[i]) return 0;
    return 1;
}

/* ---- string -> int hash table (vocabularies, labels) ------------------------ */

typedef struct vtab {
    uint32_t mask;            /* capacity - 1; capacity a power of two >= 2n */
    const char **key;         /* NULL = empty slot */
    size_t *klen;
    uint64_t *hash;
    int32_t *val;
} vtab;

static void vtab_init(vtab *t, es_arena *a, int n)
{
    uint32_t cap = 8;
    while (cap < 2u * (uint32_t)n) cap *= 2;
    t->mask = cap - 1;
    t->key = es_alloc(a, cap * sizeof *t->key);
    t->klen = es_alloc(a, cap * sizeof *t->klen);
    t->hash = es_alloc(a, cap * sizeof *t->hash);
    t->val = es_alloc(a, cap * sizeof *t->val);
}

static int32_t vtab_get(const vtab *t, const char *s, size_t len, uint64_t h)
{
    for (uint32_t i = (uint32_t)h & t->mask;; i = (i + 1) & t->mask) {
        if (!t->key[i]) return -1;
        if (t->hash[i] == h && t->klen[i] == len && same_bytes(t->key[i], s, len)) return t->val[i];
    }
}

/* Adds key -> val unless key is present (the first occurrence wins). */
static void vtab_put(vtab *t, const char *s, int32_t val)
{
    size_t len = strlen(s);
    uint64_t h = hash64(s, len);
    for (uint32_t i = (uint32_t)h & t->mask;; i = (i + 1) & t->mask) {
        if (!t->key[i]) {
            t->key[i] = s; t->klen[i] = len; t->hash[i] = h; t->val[i] = val;
            return;
        }
        if (t->hash[i] == h && t->klen[i] == len && memcmp(t->key[i], s, len) == 0) return;
    }
}

/* ---- encoders ------------------------------------------------------------------ */

typedef struct fenc fenc;
struct fenc {
    const es_feature *f;
    vtab vocab;               /* ES_FEAT_VOCAB */
    int ncross;
    fenc **cross;
    uint64_t *keys;           /* crossed: scratch for the inputs' keys */
    int64_t stamp;            /* row for which id/key are valid */
    int32_t id;
    uint64_t key;
    int32_t *ids;             /* multivalent: [max_values] ids of this row, -1 padded */
    int nvals;                /* multivalent: values in this row's field */
};

struct rt_reader {
    const es_spec *spec;
    const es_source_spec *src;
    rt_csv *csv;
    int with_label;
    es_arena *arena;
    rt_layout lay;
    ES_VEC(fenc *) enc;       /* every distinct categorical feature reached */
    fenc **used_enc;          /* per used feature: its encoder, NULL if dense */
    vtab label_vocab;
    char *lbuf;               /* label normalisation scratch */
    size_t lcap;
    int64_t rows, skipped, stamp;
    int64_t *col_stamp;       /* column's value cached for this row stamp */
    double *col_val;
    int nfields;
    char **fields;
    int *flen;                /* [ncols] strlen of each field of the row */
    rt_csv_plan plan;         /* the columns parsed while the row is split */
    int in_split;             /* use the plan (rt_reader_parse_in_split) */
    int nplanned;             /* columns the plan parses */
    int ndirect;              /* numeric features whose column the plan parses: */
    int *direct_col, *direct_slot;   /* their column and float slot, */
    int nruns;                /* ... and the same as runs of consecutive columns */
    int *run_col, *run_slot, *run_len;   /* going to consecutive slots, */
    int nrest, *rest;         /* and the other used features (indices into spec->used) */
    int64_t mem_row;          /* without a file: the row being encoded, for messages */
    int err_col;              /* column of the last row error, -1 for none or the whole row */
};

static const char *col_name(const rt_reader *r, int col) { return r->src->cols[col].name; }

static int row_fail(rt_reader *r, es_status *st, int col, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* "FILE:LINE: column NAME: what" */
static int row_fail(rt_reader *r, es_status *st, int col, const char *fmt, ...)
{
    char what[768];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    r->err_col = col;
    if (!r->csv) {
        if (col >= 0) return es_fail(st, ES_EDATA, "row %lld: column %s: %s", (long long)r->mem_row, col_name(r, col), what);
        return es_fail(st, ES_EDATA, "row %lld: %s", (long long)r->mem_row, what);
    }
    if (col >= 0)
        return es_fail(st, ES_EDATA, "%s:%lld: column %s: %s", rt_csv_path(r->csv),
                       (long long)rt_csv_line(r->csv), col_name(r, col), what);
    return es_fail(st, ES_EDATA, "%s:%lld: %s", rt_csv_path(r->csv), (long long)rt_csv_line(r->csv), what);
}

static int is_missing(const rt_reader *r, const char *s)
{
    const char *m = r->src->missing;
    return s[0] == 0 || (m && s[0] == m[0] && strcmp(s, m) == 0);   /* most fields differ at once */
}

/* Parses a whole field as a float or an integer according to the column type,
 * as strtoll/strtod would (number.c reads the common forms faster, exactly). */
static int parse_num(rt_reader *r, int col, const char *s, double *v, es_status *st)
{
    const es_column *c = &r->src->cols[col];
    int erange;
    if (c->type == ES_COL_INT) {
        int64_t x;
        if (!rt_parse_i64(s, &x, &erange)) return row_fail(r, st, col, "cannot parse \"%s\" as an int", s);
        if (erange) return row_fail(r, st, col, "\"%s\" is out of range for a 64-bit int", s);
        *v = (double)x;
        return 0;
    }
    double x;
    if (!rt_parse_f64(s, &x, &erange)) return row_fail(r, st, col, "cannot parse \"%s\" as a float", s);
    if (!isfinite(x)) return row_fail(r, st, col, "\"%s\" is not a finite number", s);
    if (erange && fabs(x) > 1.0) return row_fail(r, st, col, "\"%s\" is out of range", s);
    *v = x;
    return 0;
}

/* A numeric value of column col for a feature whose own default is fdefault
 * (NaN = none). *present = 0 when missing without any default and allow_none. */
static int col_num(rt_reader *r, int col, double fdefault, const char *who, int allow_none,
                   int *present, double *v, es_status *st)
{
    *present = 1;
    if (r->col_stamp[col] == r->stamp) { *v = r->col_val[col]; return 0; }
    const char *s = r->fields[col];
    const es_column *c = &r->src->cols[col];
    if (is_missing(r, s)) {
        if (c->has_default) { *v = c->num_default; return 0; }
        if (!isnan(fdefault)) { *v = fdefault; return 0; }
        if (allow_none) { *present = 0; return 0; }
        return row_fail(r, st, col, "the value is missing and neither the column nor feature %s has a default", who);
    }
    if (parse_num(r, col, s, v, st) < 0) return -1;
    r->col_stamp[col] = r->stamp;
    r->col_val[col] = *v;
    return 0;
}

/* A string value and its length; NULL when missing without a column default. */
static const char *col_str(rt_reader *r, int col, size_t *len)
{
    const char *s = r->fields[col];
    if (!is_missing(r, s)) { *len = (size_t)r->flen[col]; return s; }
    const es_column *c = &r->src->cols[col];
    s = c->has_default && c->str_default ? c->str_default : NULL;
    *len = s ? strlen(s) : 0;
    return s;
}

/* Number of bounds <= v (bounds ascending): TensorFlow's bucketized_column. */
static int32_t bucketize(const double *b, int n, double v)
{
    int lo = 0, hi = n;
    while (lo < hi) {
        int mid = lo + (hi - lo) / 2;
        if (b[mid] <= v) lo = mid + 1; else hi = mid;
    }
    return lo;
}

static int enc_id(rt_reader *r, fenc *e, es_status *st)
{
    if (e->stamp == r->stamp) return 0;
    const es_feature *f = e->f;
    int32_t id = -1;
    uint64_t key = 0;
    const char *who = f->name;    /* named in messages only; no formatting per row */
    switch (f->kind) {
    case ES_FEAT_BUCKETIZED: {
        double v; int present;
        if (col_num(r, f->column, f->num_default, who, 0, &present, &v, st) < 0) return -1;
        id = bucketize(f->bounds, f->nbounds, v);
        key = (uint64_t)id;
        break;
    }
    case ES_FEAT_VOCAB: {
        size_t len;
        const char *s = col_str(r, f->column, &len);
        if (s) {
            uint64_t h = hash64(s, len);
            id = vtab_get(&e->vocab, s, len, h);
            if (id < 0) id = f->num_oov > 0 ? (int32_t)((int64_t)f->nvocab + (int64_t)(h % (uint64_t)f->num_oov))
                                            : (int32_t)f->default_id;
        }
        key = (uint64_t)(int64_t)id;
        break;
    }
    case ES_FEAT_IDENTITY: {
        double v; int present;
        if (col_num(r, f->column, f->num_default, who, 1, &present, &v, st) < 0) return -1;
        if (present) {
            if (v != floor(v))
                return row_fail(r, st, f->column, "identity feature %s needs an integer, found %.17g",
                                f->name, v);
            id = v >= 0 && v < (double)f->num_buckets ? (int32_t)v : (int32_t)f->default_id;
        }
        key = (uint64_t)(int64_t)id;
        break;
    }
    case ES_FEAT_HASHED: {
        size_t len;
        const char *s = col_str(r, f->column, &len);
        if (s) {
            key = hash64(s, len);
            /* a hidden input of a cross may have no bucket count: only its key matters */
            id = f->num_buckets > 0 && f->num_buckets <= INT32_MAX ? (int32_t)(key % (uint64_t)f->num_buckets) : 0;
        }
        break;
    }
    case ES_FEAT_CROSSED: {
        int ok = 1;
        for (int i = 0; i < e->ncross; i++) {
            if (enc_id(r, e->cross[i], st) < 0) return -1;
            if (e->cross[i]->id < 0) ok = 0;
            e->keys[i] = e->cross[i]->key;
        }
        if (ok) {
            uint64_t h = hash64(e->keys, (size_t)e->ncross * sizeof *e->keys);
            id = (int32_t)(h % (uint64_t)f->num_buckets);
        }
        key = (uint64_t)(int64_t)id;
        break;
    }
    case ES_FEAT_NUMERIC:
    case ES_FEAT_INDICATOR:
    case ES_FEAT_WEIGHTED:
        return es_fail(st, ES_EINTERNAL, "feature %s is not categorical", f->name);
    }
    e->id = id;
    e->key = key;
    e->stamp = r->stamp;
    return 0;
}

/* Multivalent = read with a separator (even with max_values 1: its ids are then [batch, 1]). */
static int multivalent(const es_feature *f) { return f->value_separator != NULL; }
static int nvalues(const es_feature *f) { return f->max_values > 1 ? f->max_values : 1; }

/* The next value of a separator-joined field: [*b, *e) trimmed, *p advanced past
 * it. 0 when the field is done. */
static int next_value(const char **p, const char *sep, const char **b, const char **e)
{
    size_t sl = strlen(sep);
    while (**p) {
        const char *s = *p, *end = sl ? strstr(s, sep) : NULL;
        if (!end) end = s + strlen(s);
        *p = *end ? end + sl : end;
        while (s < end && isspace((unsigned char)*s)) s++;
        const char *t = end;
        while (t > s && isspace((unsigned char)t[-1])) t--;
        if (t > s) { *b = s; *e = t; return 1; }
    }
    return 0;
}

/* Ids of a multivalent feature for this row, into e->ids / e->nvals. */
static int enc_multi(rt_reader *r, fenc *e, es_status *st)
{
    if (e->stamp == r->stamp) return 0;
    const es_feature *f = e->f;
    int m = nvalues(f);
    for (int k = 0; k < m; k++) e->ids[k] = -1;
    e->nvals = 0;
    size_t slen;
    const char *s = col_str(r, f->column, &slen), *b, *end;
    if (s) {
        int n = 0;
        for (const char *p = s; next_value(&p, f->value_separator, &b, &end);) n++;
        if (n > m) return row_fail(r, st, f->column, "%d values, at most %d", n, m);
        n = 0;
        for (const char *p = s; next_value(&p, f->value_separator, &b, &end); n++) {
            size_t len = (size_t)(end - b);
            int32_t id = -1;
            switch (f->kind) {
            case ES_FEAT_VOCAB: {
                uint64_t h = hash64(b, len);
                id = vtab_get(&e->vocab, b, len, h);
                if (id < 0) id = f->num_oov > 0 ? (int32_t)((int64_t)f->nvocab + (int64_t)(h % (uint64_t)f->num_oov))
                                                : (int32_t)f->default_id;
                break;
            }
            case ES_FEAT_HASHED:
                id = (int32_t)(hash64(b, len) % (uint64_t)f->num_buckets);
                break;
            case ES_FEAT_IDENTITY: {
                char buf[32];
                int whole = len < sizeof buf;   /* longer than any int64: kept short for the message */
                if (!whole) len = sizeof buf - 1;
                memcpy(buf, b, len);
                buf[len] = 0;
                int64_t v;
                int erange;
                if (!whole || !rt_parse_i64(buf, &v, &erange) || erange)
                    return row_fail(r, st, f->column, "identity feature %s needs integers, found \"%s\"", f->name, buf);
                id = v >= 0 && v < f->num_buckets ? (int32_t)v : (int32_t)f->default_id;
                break;
            }
            case ES_FEAT_NUMERIC: case ES_FEAT_BUCKETIZED: case ES_FEAT_CROSSED:
            case ES_FEAT_INDICATOR: case ES_FEAT_WEIGHTED:
                return es_fail(st, ES_EINTERNAL, "feature %s cannot be multivalent", f->name);
            }
            e->ids[n] = id;
        }
        e->nvals = n;
    }
    e->stamp = r->stamp;
    return 0;
}

/* The weights of weighted feature f (ids encoder ie, already run) into out[M]. */
static int enc_weights(rt_reader *r, const es_feature *f, const fenc *ie, float *out, es_status *st)
{
    int m = nvalues(f->of);
    for (int k = 0; k < m; k++) out[k] = 0;
    size_t slen;
    const char *s = col_str(r, f->column, &slen), *b, *end;
    int n = 0;
    if (s) {
        for (const char *p = s; next_value(&p, f->value_separator, &b, &end); n++) {
            char buf[64];
            size_t len = (size_t)(end - b);
            int whole = len < sizeof buf;   /* a longer weight is refused, shown cut */
            if (!whole) len = sizeof buf - 1;
            memcpy(buf, b, len);
            buf[len] = 0;
            double v;
            int erange;
            if (!whole || !rt_parse_f64(buf, &v, &erange) || !isfinite(v) || fabs(v) > FLT_MAX)
                return row_fail(r, st, f->column, "weight \"%s\" of feature %s is not a finite number", buf, f->name);
            if (n < ie->nvals && ie->ids[n] >= 0) out[n] = (float)v;
        }
    }
    if (n != ie->nvals)
        return row_fail(r, st, f->column, "%d weight%s for %d value%s of column %s", n, n == 1 ? "" : "s",
                        ie->nvals, ie->nvals == 1 ? "" : "s", col_name(r, f->of->column));
    return 0;
}

/* Label text as compared: rstrip'ed, maybe lowercased, in r->lbuf (or s
 * itself when that changes nothing). n = strlen(s). */
static const char *label_norm(rt_reader *r, const char *s, size_t n, size_t *len)
{
    const es_label_spec *l = &r->spec->label;
    if (!l->lowercase && (!l->rstrip || n == 0 || !strchr(l->rstrip, s[n - 1]))) { *len = n; return s; }
    if (n + 1 > r->lcap) { r->lcap = n + 64; r->lbuf = es_xrealloc(r->lbuf, r->lcap); }
    memcpy(r->lbuf, s, n + 1);
    if (l->rstrip) while (n > 0 && strchr(l->rstrip, r->lbuf[n - 1])) r->lbuf[--n] = 0;
    if (l->lowercase) for (size_t i = 0; i < n; i++) r->lbuf[i] = (char)tolower((unsigned char)r->lbuf[i]);
    *len = n;
    return r->lbuf;
}

static int enc_label(rt_reader *r, void *out, es_status *st)
{
    const es_label_spec *l = &r->spec->label;
    int col = l->column;
    const char *s = r->fields[col];
    int32_t id = -1;
    switch (l->kind) {
    case ES_LABEL_CLASS_VOCAB: {
        size_t vlen, len;
        const char *v = col_str(r, col, &vlen);
        if (!v) {
            if (r->with_label) return row_fail(r, st, col, "the label is missing");
        } else {
            const char *k = label_norm(r, v, vlen, &len);
            id = vtab_get(&r->label_vocab, k, len, hash64(k, len));
            if (id < 0 && r->with_label) {
                char list[512];
                size_t o = 0;
                for (int i = 0; i < l->n_classes && o < sizeof list - 32; i++) {
                    if (i == 10) { o += (size_t)snprintf(list + o, sizeof list - o, ", ... (%d classes)", l->n_classes); break; }
                    o += (size_t)snprintf(list + o, sizeof list - o, "%s\"%s\"", i ? ", " : "", l->vocab[i]);
                }
                return row_fail(r, st, col, "label \"%s\" is not one of %s", v, list);
            }
        }
        memcpy(out, &id, sizeof id);
        return 0;
    }
    case ES_LABEL_CLASS_INT: {
        double v; int present;
        if (col_num(r, col, NAN, "the label", !r->with_label, &present, &v, st) < 0) return -1;
        if (present) {
            if (v == floor(v) && v >= 0 && v < l->n_classes) id = (int32_t)v;
            else if (r->with_label)
                return row_fail(r, st, col, "label %s is not a class id in [0, %d)", s, l->n_classes);
        }
        memcpy(out, &id, sizeof id);
        return 0;
    }
    case ES_LABEL_NUMERIC: {
        double v; int present;
        float x = NAN;
        if (col_num(r, col, NAN, "the label", !r->with_label, &present, &v, st) < 0) return -1;
        if (present) x = (float)v;
        memcpy(out, &x, sizeof x);
        return 0;
    }
    }
    return es_fail(st, ES_EINTERNAL, "unknown label kind %d", (int)l->kind);
}

/* Encodes used feature i of this row into the record. */
static int encode_feature(rt_reader *r, int i, int32_t *ids, float *dense, es_status *st)
{
    const es_feature *f = r->spec->used[i];
    if (f->kind == ES_FEAT_WEIGHTED) {
        if (enc_multi(r, r->used_enc[i], st) < 0) return -1;
        if (enc_weights(r, f, r->used_enc[i], dense + r->lay.offset[i], st) < 0) return -1;
    } else if (r->used_enc[i] && multivalent(f)) {
        if (enc_multi(r, r->used_enc[i], st) < 0) return -1;
        memcpy(ids + r->lay.offset[i], r->used_enc[i]->ids, (size_t)nvalues(f) * sizeof *ids);
    } else if (r->used_enc[i]) {
        if (enc_id(r, r->used_enc[i], st) < 0) return -1;
        ids[r->lay.offset[i]] = r->used_enc[i]->id;
    } else {
        double v; int present;
        if (r->col_stamp[f->column] == r->stamp) v = r->col_val[f->column];   /* parsed while split */
        else if (col_num(r, f->column, f->num_default, f->name, 0, &present, &v, st) < 0) return -1;
        if (fabs(v) > FLT_MAX)
            return row_fail(r, st, f->column, "%.17g is out of range for a 32-bit float", v);
        dense[r->lay.offset[i]] = (float)v;
    }
    return 0;
}

/* the conversion of v[k, n) one value at a time, into *in */
static void narrow_tail(const double *v, float *out, int k, int n, int *in)
{
    for (; k < n; k++) {
        int ok = fabs(v[k]) <= FLT_MAX;
        *in &= ok;
        out[k] = ok ? (float)v[k] : 0.0f;
    }
}

int rt_narrow_sse2(const double *v, float *out, int n)
{
    int k = 0, in = 1;
#ifdef __SSE2__
    const __m128d mag = _mm_castsi128_pd(_mm_set1_epi64x(INT64_MAX)), lim = _mm_set1_pd(FLT_MAX);
    __m128d all = _mm_castsi128_pd(_mm_set1_epi64x(-1));
    for (; k + 4 <= n; k += 4) {
        __m128d a = _mm_loadu_pd(v + k), b = _mm_loadu_pd(v + k + 2);
        __m128d oka = _mm_cmple_pd(_mm_and_pd(a, mag), lim), okb = _mm_cmple_pd(_mm_and_pd(b, mag), lim);
        all = _mm_and_pd(all, _mm_and_pd(oka, okb));
        __m128 fa = _mm_cvtpd_ps(_mm_and_pd(a, oka)), fb = _mm_cvtpd_ps(_mm_and_pd(b, okb));
        _mm_storeu_ps(out + k, _mm_movelh_ps(fa, fb));
    }
    in = _mm_movemask_pd(all) == 3;
#endif
    narrow_tail(v, out, k, n, &in);
    return in;
}

#ifdef RT_NARROW_AVX
/* the same four at a time in one AVX register: half the instructions */
__attribute__((target("avx"))) static int narrow_avx(const double *v, float *out, int n)
{
    int k = 0;
    const __m256d mag = _mm256_castsi256_pd(_mm256_set1_epi64x(INT64_MAX)), lim = _mm256_set1_pd(FLT_MAX);
    __m256d all = _mm256_castsi256_pd(_mm256_set1_epi64x(-1));
    for (; k + 4 <= n; k += 4) {
        __m256d a = _mm256_loadu_pd(v + k);
        __m256d ok = _mm256_cmp_pd(_mm256_and_pd(a, mag), lim, _CMP_LE_OQ);
        all = _mm256_and_pd(all, ok);
        _mm_storeu_ps(out + k, _mm256_cvtpd_ps(_mm256_and_pd(a, ok)));
    }
    int in = _mm256_movemask_pd(all) == 15;
    narrow_tail(v, out, k, n, &in);
    return in;
}
#endif

int rt_narrow(const double *v, float *out, int n)
{
#ifdef RT_NARROW_AVX
    if (__builtin_cpu_supports("avx")) return narrow_avx(v, out, n);
#endif
    return rt_narrow_sse2(v, out, n);
}

/* The numeric features whose value was parsed while splitting, in a tight
 * loop; 0 when one was not (missing, read by strtod) or is out of float
 * range, for the general loop to handle in feature order, errors included.
 * When the split parsed every column of the plan, each value is current and
 * only its range is checked. */
static int encode_direct(rt_reader *r, float *dense)
{
    if (rt_csv_parsed(r->csv) == r->nplanned) {
        /* locals: the float stores may alias the reader's fields */
        const double *val = r->col_val;
        int in = 1;
        for (int k = 0, n = r->nruns; k < n; k++)
            in &= rt_narrow(val + r->run_col[k], dense + r->run_slot[k], r->run_len[k]);
        return in;
    }
    int ok = 1;
    for (int k = 0; k < r->ndirect; k++) {
        int c = r->direct_col[k];
        double v = r->col_val[c];
        int in = fabs(v) <= FLT_MAX;
        ok &= (r->col_stamp[c] == r->stamp) & in;
        dense[r->direct_slot[k]] = in ? (float)v : 0.0f;   /* converting a larger double is undefined */
    }
    return ok;
}

static int encode_row(rt_reader *r, void *rec, es_status *st)
{
    if (r->nfields != r->src->ncols)
        return row_fail(r, st, -1, "expected %d fields, found %d", r->src->ncols, r->nfields);
    int32_t *ids = rec;
    float *dense = (float *)((char *)rec + (size_t)r->lay.ncat * 4);
    if (r->in_split && encode_direct(r, dense)) {
        for (int k = 0; k < r->nrest; k++)
            if (encode_feature(r, r->rest[k], ids, dense, st) < 0) return -1;
    } else {
        for (int i = 0; i < r->spec->nused; i++)
            if (encode_feature(r, i, ids, dense, st) < 0) return -1;
    }
    return enc_label(r, (char *)rec + (size_t)(r->lay.ncat + r->lay.ndense) * 4, st);
}

/* ---- layout ----------------------------------------------------------------------- */

static int feat_width(const es_feature *f) { return f->width > 1 ? f->width : 1; }

void rt_layout_init(rt_layout *l, const es_spec *spec, es_arena *a)
{
    memset(l, 0, sizeof *l);
    l->nfeat = spec->nused;
    size_t nf = (size_t)(spec->nused ? spec->nused : 1);
    l->offset = es_alloc(a, nf * sizeof *l->offset);
    l->width = es_alloc(a, nf * sizeof *l->width);
    l->dense = es_alloc(a, nf);
    for (int i = 0; i < spec->nused; i++) {
        const es_feature *f = spec->used[i];
        l->dense[i] = f->kind == ES_FEAT_WEIGHTED || !f->categorical;
        l->width[i] = f->kind == ES_FEAT_WEIGHTED ? (f->of ? nvalues(f->of) : 1)
                    : f->categorical ? nvalues(f) : feat_width(f);
        l->offset[i] = l->dense[i] ? l->ndense : l->ncat;
        if (l->dense[i]) l->ndense += l->width[i];
        else l->ncat += l->width[i];
    }
    l->label_is_class = spec->label.kind != ES_LABEL_NUMERIC;
    l->rec_bytes = (size_t)(l->ncat + l->ndense + 1) * 4;
    l->word = es_alloc(a, nf * sizeof *l->word);
    l->all_width1 = 1;
    for (int i = 0; i < spec->nused; i++) {
        l->word[i] = l->dense[i] ? l->ncat + l->offset[i] : l->offset[i];
        if (l->width[i] != 1) l->all_width1 = 0;
    }
}

void rt_layout_scatter(const rt_layout *l, const void *rec, void *const *feat, void *label, int64_t row)
{
    rt_layout_gather(l, &rec, 1, feat, label, row);
}

void rt_layout_gather(const rt_layout *l, const void *const *recs, int64_t n, void *const *feat, void *label,
                      int64_t row)
{
#define REC(r, off) ((const char *)recs[r] + (off))
    for (int i = 0; i < l->nfeat; i++) {
        const size_t w = (size_t)l->width[i] * 4, off = (size_t)l->word[i] * 4;
        char *dst = (char *)feat[i] + (size_t)row * w;
#ifdef __SSE2__
        /* four one-word features side by side: blocks of 4 x 4 words transposed */
        if (w == 4 && i + 4 <= l->nfeat && l->width[i + 1] == 1 && l->width[i + 2] == 1 && l->width[i + 3] == 1 &&
            l->word[i + 1] == l->word[i] + 1 && l->word[i + 2] == l->word[i] + 2 && l->word[i + 3] == l->word[i] + 3) {
            float *d0 = (float *)dst, *d1 = (float *)feat[i + 1] + row, *d2 = (float *)feat[i + 2] + row,
                  *d3 = (float *)feat[i + 3] + row;
            int64_t r = 0;
            for (; r + 4 <= n; r += 4) {
                __m128 a = _mm_loadu_ps((const float *)(const void *)REC(r, off));
                __m128 b = _mm_loadu_ps((const float *)(const void *)REC(r + 1, off));
                __m128 c = _mm_loadu_ps((const float *)(const void *)REC(r + 2, off));
                __m128 d = _mm_loadu_ps((const float *)(const void *)REC(r + 3, off));
                _MM_TRANSPOSE4_PS(a, b, c, d);
                _mm_storeu_ps(d0 + r, a);
                _mm_storeu_ps(d1 + r, b);
                _mm_storeu_ps(d2 + r, c);
                _mm_storeu_ps(d3 + r, d);
            }
            for (; r < n; r++) {
                const char *q = REC(r, off);
                memcpy(d0 + r, q, 4);
                memcpy(d1 + r, q + 4, 4);
                memcpy(d2 + r, q + 8, 4);
                memcpy(d3 + r, q + 12, 4);
            }
            i += 3;
            continue;
        }
#endif
        if (w == 4) {
            for (int64_t r = 0; r < n; r++) memcpy(dst + r * 4, REC(r, off), 4);
        } else {
            for (int64_t r = 0; r < n; r++) memcpy(dst + (size_t)r * w, REC(r, off), w);
        }
    }
    if (label) {
        const size_t off = (size_t)(l->ncat + l->ndense) * 4;
        for (int64_t r = 0; r < n; r++) memcpy((char *)label + (row + r) * 4, REC(r, off), 4);
    }
#undef REC
}

/* ---- open: check the spec against the source, build encoders ------------------- */

static int check_col(const es_source_spec *src, const es_feature *f, int want_string, es_status *st)
{
    if (f->column < 0 || f->column >= src->ncols)
        return es_fail(st, ES_EMODEL, "feature %s reads column %d, but source %s has %d columns",
                       f->name, f->column, src->name ? src->name : "?", src->ncols);
    const es_column *c = &src->cols[f->column];
    if (want_string && c->type != ES_COL_STRING)
        return es_fail(st, ES_EMODEL, "feature %s needs a string column, but column %s is %s",
                       f->name, c->name, c->type == ES_COL_INT ? "an int" : "a float");
    if (!want_string && c->type == ES_COL_STRING)
        return es_fail(st, ES_EMODEL, "feature %s needs a numeric column, but column %s is a string",
                       f->name, c->name);
    return 0;
}

/* Finds or builds the encoder of categorical feature f (depth guards cycles). */
static fenc *get_enc(rt_reader *r, const es_feature *f, int depth, es_status *st)
{
    for (int i = 0; i < r->enc.n; i++) if (r->enc.v[i]->f == f) return r->enc.v[i];
    if (depth > 16) { es_fail(st, ES_EMODEL, "feature %s: crosses nest too deeply (a cycle?)", f->name); return NULL; }
    fenc *e = es_alloc(r->arena, sizeof *e);
    e->f = f;
    e->stamp = -1;
    if (multivalent(f)) {
        if (f->kind != ES_FEAT_VOCAB && f->kind != ES_FEAT_HASHED && f->kind != ES_FEAT_IDENTITY) {
            es_fail(st, ES_EMODEL, "feature %s: only vocabulary, identity and hashed features can be multivalent", f->name);
            return NULL;
        }
        if (!f->value_separator[0]) {
            es_fail(st, ES_EMODEL, "feature %s: the value separator is empty", f->name);
            return NULL;
        }
        if (f->kind == ES_FEAT_IDENTITY && check_col(r->src, f, 1, st) < 0) return NULL;
        if (f->kind == ES_FEAT_HASHED && f->num_buckets <= 0) {
            es_fail(st, ES_EMODEL, "feature %s needs a positive bucket count", f->name);
            return NULL;
        }
        e->ids = es_alloc(r->arena, (size_t)nvalues(f) * sizeof *e->ids);
    }
    switch (f->kind) {
    case ES_FEAT_BUCKETIZED:
        if (check_col(r->src, f, 0, st) < 0) return NULL;
        for (int i = 1; i < f->nbounds; i++)
            if (!(f->bounds[i - 1] < f->bounds[i])) {
                es_fail(st, ES_EMODEL, "feature %s: bucket boundaries must be strictly ascending", f->name);
                return NULL;
            }
        break;
    case ES_FEAT_VOCAB:
        if (check_col(r->src, f, 1, st) < 0) return NULL;
        if (f->num_oov < 0 || (int64_t)f->nvocab + f->num_oov > INT32_MAX) {
            es_fail(st, ES_EMODEL, "feature %s: num_oov must be >= 0 and ids must fit in 32 bits", f->name);
            return NULL;
        }
        vtab_init(&e->vocab, r->arena, f->nvocab);
        for (int i = 0; i < f->nvocab; i++) vtab_put(&e->vocab, f->vocab[i], i);
        break;
    case ES_FEAT_IDENTITY:
        if (check_col(r->src, f, multivalent(f), st) < 0) return NULL;
        break;
    case ES_FEAT_HASHED:
        if (check_col(r->src, f, 1, st) < 0) return NULL;
        break;
    case ES_FEAT_CROSSED:
        if (f->ncross < 1 || f->num_buckets <= 0) {
            es_fail(st, ES_EMODEL, "feature %s: a cross needs inputs and a positive bucket count", f->name);
            return NULL;
        }
        e->ncross = f->ncross;
        e->cross = es_alloc(r->arena, (size_t)f->ncross * sizeof *e->cross);
        e->keys = es_alloc(r->arena, (size_t)f->ncross * sizeof *e->keys);
        for (int i = 0; i < f->ncross; i++) {
            const es_feature *in = f->cross[i];
            if (!in || !in->categorical || in->kind == ES_FEAT_NUMERIC || in->kind == ES_FEAT_INDICATOR ||
                in->kind == ES_FEAT_WEIGHTED) {
                es_fail(st, ES_EMODEL, "feature %s: cross input %s is not categorical", f->name,
                        in ? in->name : "(null)");
                return NULL;
            }
            if (multivalent(in)) {
                es_fail(st, ES_EMODEL, "feature %s: cross input %s is multivalent (not supported)", f->name, in->name);
                return NULL;
            }
            if (!(e->cross[i] = get_enc(r, in, depth + 1, st))) return NULL;
        }
        break;
    case ES_FEAT_NUMERIC:
    case ES_FEAT_INDICATOR:
    case ES_FEAT_WEIGHTED:
        es_fail(st, ES_EINTERNAL, "feature %s is not categorical", f->name);
        return NULL;
    }
    es_vec_push(r->arena, r->enc, e);
    return e;
}

static int check_header(rt_reader *r, es_status *st)
{
    int n;
    const char *const *h = rt_csv_header(r->csv, &n);
    if (!h) return 0;
    const char *path = rt_csv_path(r->csv);
    long long line = (long long)rt_csv_line(r->csv);
    if (n != r->src->ncols)
        return es_fail(st, ES_EDATA, "%s:%lld: the header has %d columns but source %s declares %d",
                       path, line, n, r->src->name ? r->src->name : "?", r->src->ncols);
    for (int i = 0; i < n; i++)
        if (strcmp(h[i], r->src->cols[i].name) != 0)
            return es_fail(st, ES_EDATA, "%s:%lld: the header names column %d \"%s\" but source %s calls it "
                           "\"%s\" (columns are matched by position: check their order)",
                           path, line, i + 1, h[i], r->src->name ? r->src->name : "?", r->src->cols[i].name);
    return 0;
}

static int setup(rt_reader *r, es_status *st)
{
    const es_spec *spec = r->spec;
    r->used_enc = es_alloc(r->arena, (size_t)(spec->nused ? spec->nused : 1) * sizeof *r->used_enc);
    for (int i = 0; i < spec->nused; i++) {
        const es_feature *f = spec->used[i];
        if (f->kind == ES_FEAT_INDICATOR)
            return es_fail(st, ES_EMODEL, "feature %s: indicator features are made in the graph, "
                           "feed the feature they wrap instead", f->name);
        if (f->categorical != (f->kind != ES_FEAT_NUMERIC))
            return es_fail(st, ES_EMODEL, "feature %s: its categorical flag does not match its kind", f->name);
        if (f->kind == ES_FEAT_WEIGHTED) {
            if (!f->of || !f->of->categorical || f->of->kind == ES_FEAT_WEIGHTED || !multivalent(f->of))
                return es_fail(st, ES_EMODEL, "feature %s: a weighted feature needs a multivalent ids feature "
                               "(one read with a separator)", f->name);
            if (!f->value_separator || !f->value_separator[0])
                return es_fail(st, ES_EMODEL, "feature %s: a weighted feature needs a value separator", f->name);
            if (check_col(r->src, f, 1, st) < 0) return -1;
            if (!(r->used_enc[i] = get_enc(r, f->of, 0, st))) return -1;
            continue;
        }
        if (f->kind == ES_FEAT_NUMERIC) {
            if (check_col(r->src, f, 0, st) < 0) return -1;
            if (f->width > 1)
                return es_fail(st, ES_EMODEL, "feature %s: numeric features of width %d are not supported "
                               "yet (one column gives one float)", f->name, f->width);
            continue;
        }
        if ((f->kind == ES_FEAT_HASHED || f->kind == ES_FEAT_IDENTITY) && f->num_buckets <= 0)
            return es_fail(st, ES_EMODEL, "feature %s needs a positive bucket count", f->name);
        if (f->num_buckets > INT32_MAX)
            return es_fail(st, ES_EMODEL, "feature %s: %lld buckets do not fit 32-bit ids", f->name,
                           (long long)f->num_buckets);
        if (!(r->used_enc[i] = get_enc(r, f, 0, st))) return -1;
    }
    const es_label_spec *l = &spec->label;
    if (l->column < 0 || l->column >= r->src->ncols)
        return es_fail(st, ES_EMODEL, "label %s reads column %d, but source %s has %d columns",
                       l->name ? l->name : "?", l->column, r->src->name ? r->src->name : "?", r->src->ncols);
    const es_column *lc = &r->src->cols[l->column];
    if (l->kind == ES_LABEL_CLASS_VOCAB) {
        if (lc->type != ES_COL_STRING)
            return es_fail(st, ES_EMODEL, "label %s: a class vocabulary needs a string column, but column %s is not",
                           l->name ? l->name : "?", lc->name);
        vtab_init(&r->label_vocab, r->arena, l->n_classes + l->nalias);
        size_t len;
        for (int i = 0; i < l->n_classes; i++)
            vtab_put(&r->label_vocab, es_strdup(r->arena, label_norm(r, l->vocab[i], strlen(l->vocab[i]), &len)), i);
        for (int i = 0; i < l->nalias; i++) {
            const char *to = es_strdup(r->arena, label_norm(r, l->alias_to[i], strlen(l->alias_to[i]), &len));
            int32_t id = vtab_get(&r->label_vocab, to, len, hash64(to, len));
            if (id < 0)
                return es_fail(st, ES_EMODEL, "label %s: alias \"%s\" maps to \"%s\", which is not a class",
                               l->name ? l->name : "?", l->alias_from[i], l->alias_to[i]);
            vtab_put(&r->label_vocab, es_strdup(r->arena, label_norm(r, l->alias_from[i], strlen(l->alias_from[i]), &len)), id);
        }
    } else if (lc->type == ES_COL_STRING) {
        return es_fail(st, ES_EMODEL, "label %s needs a numeric column, but column %s is a string",
                       l->name ? l->name : "?", lc->name);
    }
    return r->csv ? check_header(r, st) : 0;
}

/* Marks for parsing while splitting every numeric column whose value the
 * encoders read (through col_num). Not when a missing token could look like
 * a number: col_num must see such a field as missing first. */
static void plan_columns(rt_reader *r)
{
    int n = r->src->ncols;
    unsigned char *kind = es_alloc(r->arena, (size_t)(n > 0 ? n : 1));
    memset(kind, RT_CSV_TEXT, (size_t)(n > 0 ? n : 1));
    r->plan = (rt_csv_plan){ n, kind, es_alloc(r->arena, (size_t)(n > 0 ? n : 1) * sizeof(char *)), r->flen,
                             r->col_val, r->col_stamp, 0 };
    const char *m = r->src->missing;
    if (!rt_csv_can_parse(r->csv) || (m && m[0] && strchr("+-.0123456789", m[0]))) return;
    int *cols = es_alloc(r->arena, (size_t)(r->spec->nused + r->enc.n + 1) * sizeof *cols);
    int k = 0;
    for (int i = 0; i < r->spec->nused; i++)
        if (r->spec->used[i]->kind == ES_FEAT_NUMERIC) cols[k++] = r->spec->used[i]->column;
    for (int i = 0; i < r->enc.n; i++) {
        const es_feature *f = r->enc.v[i]->f;
        if (f->kind == ES_FEAT_BUCKETIZED || (f->kind == ES_FEAT_IDENTITY && !multivalent(f))) cols[k++] = f->column;
    }
    if (r->spec->label.kind != ES_LABEL_CLASS_VOCAB) cols[k++] = r->spec->label.column;
    for (int i = 0; i < k; i++) {
        const es_column *c = &r->src->cols[cols[i]];
        if (c->type != ES_COL_STRING) kind[cols[i]] = c->type == ES_COL_INT ? RT_CSV_I64 : RT_CSV_F64;
    }
    /* columns only numeric features read want their value alone: no
     * encoder, weight list or label reads their text (or their cache, which
     * the split still fills) */
    char *text = es_alloc(r->arena, (size_t)(n > 0 ? n : 1));   /* zeroed */
    for (int i = 0; i < r->spec->nused; i++) {
        const es_feature *f = r->spec->used[i];
        if (f->kind != ES_FEAT_NUMERIC && f->column >= 0 && f->column < n) text[f->column] = 1;
        if (f->of && f->of->column >= 0 && f->of->column < n) text[f->of->column] = 1;
    }
    for (int i = 0; i < r->enc.n; i++) {
        int col = r->enc.v[i]->f->column;
        if (col >= 0 && col < n) text[col] = 1;
    }
    int lc = r->spec->label.column;
    if (lc >= 0 && lc < n) text[lc] = 1;
    for (int c = 0; c < n; c++)
        if (kind[c] != RT_CSV_TEXT && !text[c]) kind[c] |= RT_CSV_VALUE_ONLY;
    for (int i = 0; i < n; i++) r->nplanned += kind[i] != RT_CSV_TEXT;
}

/* Splits the used features into those encode_direct handles (numeric, their
 * column parsed while splitting) and the rest. */
static void plan_features(rt_reader *r)
{
    size_t n = (size_t)(r->spec->nused ? r->spec->nused : 1);
    r->direct_col = es_alloc(r->arena, n * sizeof *r->direct_col);
    r->direct_slot = es_alloc(r->arena, n * sizeof *r->direct_slot);
    r->run_col = es_alloc(r->arena, n * sizeof *r->run_col);
    r->run_slot = es_alloc(r->arena, n * sizeof *r->run_slot);
    r->run_len = es_alloc(r->arena, n * sizeof *r->run_len);
    r->rest = es_alloc(r->arena, n * sizeof *r->rest);
    for (int i = 0; i < r->spec->nused; i++) {
        const es_feature *f = r->spec->used[i];
        if (f->kind == ES_FEAT_NUMERIC && r->plan.kind[f->column] != RT_CSV_TEXT) {
            r->direct_col[r->ndirect] = f->column;
            r->direct_slot[r->ndirect++] = r->lay.offset[i];
            int k = r->nruns - 1;
            if (k >= 0 && f->column == r->run_col[k] + r->run_len[k] && r->lay.offset[i] == r->run_slot[k] + r->run_len[k]) {
                r->run_len[k]++;
            } else {
                r->run_col[++k] = f->column;
                r->run_slot[k] = r->lay.offset[i];
                r->run_len[k] = 1;
                r->nruns++;
            }
        } else {
            r->rest[r->nrest++] = i;
        }
    }
}

rt_reader *rt_reader_open(const es_spec *spec, const es_source_spec *src, const char *path,
                          int with_label, es_status *st)
{
    rt_reader *r = es_xcalloc(1, sizeof *r);
    r->spec = spec;
    r->src = src;
    r->with_label = with_label;
    r->arena = es_arena_new();
    rt_layout_init(&r->lay, spec, r->arena);
    r->col_stamp = es_alloc(r->arena, (size_t)(src->ncols > 0 ? src->ncols : 1) * sizeof *r->col_stamp);
    r->col_val = es_alloc(r->arena, (size_t)(src->ncols > 0 ? src->ncols : 1) * sizeof *r->col_val);
    r->flen = es_alloc(r->arena, (size_t)(src->ncols > 0 ? src->ncols : 1) * sizeof *r->flen);
    for (int i = 0; i < src->ncols; i++) r->col_stamp[i] = -1;
    r->csv = rt_csv_open(src, path, st);
    if (!r->csv || setup(r, st) < 0) { rt_reader_close(r); return NULL; }
    plan_columns(r);
    plan_features(r);
    r->in_split = 1;
    return r;
}

rt_reader *rt_reader_open_mem(const es_spec *spec, const es_source_spec *src, es_status *st)
{
    rt_reader *r = es_xcalloc(1, sizeof *r);
    r->spec = spec;
    r->src = src;
    r->arena = es_arena_new();
    rt_layout_init(&r->lay, spec, r->arena);
    size_t nc = (size_t)(src->ncols > 0 ? src->ncols : 1);
    r->col_stamp = es_alloc(r->arena, nc * sizeof *r->col_stamp);
    r->col_val = es_alloc(r->arena, nc * sizeof *r->col_val);
    r->fields = es_alloc(r->arena, nc * sizeof *r->fields);
    r->flen = es_alloc(r->arena, nc * sizeof *r->flen);
    for (int i = 0; i < src->ncols; i++) r->col_stamp[i] = -1;
    if (setup(r, st) < 0) { rt_reader_close(r); return NULL; }
    return r;
}

int rt_reader_encode(rt_reader *r, const char **fields, const double *nums, int64_t row, void *rec,
                     es_status *st)
{
    static char empty[1];
    r->stamp++;
    r->mem_row = row;
    r->nfields = r->src->ncols;
    for (int c = 0; c < r->src->ncols; c++) {
        r->flen[c] = 0;
        if (c == r->spec->label.column) { r->fields[c] = empty; continue; }
        if (fields[c]) { r->fields[c] = (char *)fields[c]; r->flen[c] = (int)strlen(fields[c]); continue; }
        r->fields[c] = empty;
        if (r->src->cols[c].type == ES_COL_STRING || isnan(nums[c])) continue;
        if (!isfinite(nums[c])) return row_fail(r, st, c, "%g is not a finite number", nums[c]);
        r->col_stamp[c] = r->stamp;    /* col_num reads the value, not the (empty) text */
        r->col_val[c] = nums[c];
    }
    return encode_row(r, rec, st);
}

int rt_reader_next(rt_reader *r, void *rec, es_status *st)
{
    for (;;) {
        r->plan.now = ++r->stamp;
        int k = rt_csv_next_parsed(r->csv, r->in_split ? &r->plan : NULL, &r->nfields, &r->fields, st);
        if (k <= 0) return k;
        if (r->fields != r->plan.fields)      /* not walked: the lengths are not known yet */
            for (int c = 0; c < r->nfields && c < r->src->ncols; c++) r->flen[c] = (int)strlen(r->fields[c]);
        if (encode_row(r, rec, st) == 0) { r->rows++; return 1; }
        if (st->code != ES_EDATA || r->src->bad_rows != ES_BAD_ROWS_SKIP) return -1;
        r->skipped++;
        es_status_clear(st);
    }
}

void rt_reader_parse_in_split(rt_reader *r, int on) { r->in_split = on; }
int64_t rt_reader_skipped(const rt_reader *r) { return r->skipped; }
int rt_reader_error_column(const rt_reader *r) { return r->err_col; }
int64_t rt_reader_rows(const rt_reader *r) { return r->rows; }
int64_t rt_reader_line(const rt_reader *r) { return rt_csv_line(r->csv); }
int64_t rt_reader_offset(const rt_reader *r) { return rt_csv_offset(r->csv); }

void rt_reader_close(rt_reader *r)
{
    if (!r) return;
    if (r->csv) rt_csv_close(r->csv);
    free(r->lbuf);
    es_arena_free(r->arena);
    free(r);
}

/* ---- statistics pre-pass ---------------------------------------------------------- *
 * Welford's update in double for every dense (numeric) feature, over exactly the
 * rows training will see (same reader, same skipping). std is the population
 * standard deviation (divide by n, as sklearn's StandardScaler); a constant
 * column (std 0) and an empty file report std 1 so that a zscore never divides
 * by zero. min/max are reported as found; for a constant column they are equal. */
/* Running mean and variance (Welford) and the range of each numeric feature,
 * over records in one layout, in the order given. */
struct rt_stats_acc {
    const es_spec *spec;
    rt_stats *out;
    double *m2;
};

rt_stats_acc *rt_stats_begin(const es_spec *spec, rt_stats *out)
{
    for (int i = 0; i < spec->nused; i++) out[i] = (rt_stats){ 0, 1, 0, 0, 0 };
    rt_stats_acc *a = es_xmalloc(sizeof *a);
    a->spec = spec;
    a->out = out;
    a->m2 = es_xcalloc((size_t)(spec->nused ? spec->nused : 1), sizeof *a->m2);
    return a;
}

void rt_stats_add(rt_stats_acc *a, const rt_layout *lay, const void *rec)
{
    const float *dense = (const float *)((const char *)rec + (size_t)lay->ncat * 4);
    for (int i = 0; i < a->spec->nused; i++) {
        if (a->spec->used[i]->categorical) continue;
        double x = dense[lay->offset[i]];
        rt_stats *s = &a->out[i];
        if (s->count == 0) { s->min = s->max = x; s->mean = 0; }
        s->count++;
        double d = x - s->mean;
        s->mean += d / (double)s->count;
        a->m2[i] += d * (x - s->mean);
        if (x < s->min) s->min = x;
        if (x > s->max) s->max = x;
    }
}

void rt_stats_end(rt_stats_acc *a)
{
    for (int i = 0; i < a->spec->nused; i++) {
        rt_stats *s = &a->out[i];
        if (a->spec->used[i]->categorical || s->count == 0) continue;
        double var = a->m2[i] / (double)s->count;
        s->std = var > 0 ? sqrt(var) : 1.0;
    }
    free(a->m2);
    free(a);
}

int rt_compute_stats(const es_spec *spec, const char *path, rt_stats *out, es_status *st)
{
    rt_stats_acc *a = rt_stats_begin(spec, out);
    rt_reader *r = rt_reader_open(spec, spec->train, path, 1, st);
    if (!r) { rt_stats_end(a); return -1; }
    void *rec = es_xmalloc(r->lay.rec_bytes);
    int k;
    while ((k = rt_reader_next(r, rec, st)) == 1) rt_stats_add(a, &r->lay, rec);
    rt_stats_end(a);
    free(rec);
    rt_reader_close(r);
    return k < 0 ? -1 : 0;
}

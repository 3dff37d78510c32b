/*
 * ckpt.c — checkpoints as safetensors files, written atomically.
 *
 * A checkpoint is model_dir/model-<step>.safetensors:
 *   8 bytes    N, little-endian u64
 *   N bytes    JSON header, padded with spaces so that 8 + N is a multiple of 8:
 *              {"__metadata__": {"format": "estc-1", "global_step": "123",
 *                                "fingerprint": "<16 hex>", "checksum": "<16 hex>",
 *                                "header_checksum": "<16 hex>", "estc_version": "...",
 *                                ...the training input's position, early stopping...},
 *               "<variable>": {"dtype": "F32", "shape": [..], "data_offsets": [b, e]}, ...}
 *   the data   every variable's floats, little-endian, back to back in store order
 * checksum is XXH64 (seed 0) of the data section. header_checksum is XXH64 of the
 * N header bytes with its own 16 hex digits written as '0's: the data checksum
 * alone would let a flipped digit in global_step or a shape pass unnoticed.
 * Other tools read these files as ordinary safetensors (the extra metadata keys
 * are plain strings, which the format allows).
 *
 * Optional metadata (all decimal strings unless noted), present when training
 * wrote the checkpoint:
 *   input_examples, input_epoch, input_in_epoch, input_offset (-1 between
 *   epochs), input_rows_skipped, input_rng (4 x 16 hex: the shuffle generator),
 *   input_buffer_hash (16 hex), input_seed, input_shuffle_buffer,
 *   input_batch_size                       — rt_stream_pos and its stream;
 *   early_stopping_metric, early_stopping_best (%.17g, "nan" before a
 *   finite evaluation), early_stopping_best_step,
 *   early_stopping_bad_evals               — the early-stopping hook's state.
 * Nothing in a checkpoint depends on the clock, so two runs that reach the
 * same state write byte-identical files.
 *
 * model_dir/checkpoint is the index, rewritten atomically after each save:
 *   latest: model-123.safetensors
 *   all: model-100.safetensors       (oldest first, at most keep_max lines)
 *   all: model-123.safetensors
 * Files that fall off the list are deleted after the new index is in place, so
 * the index never names a missing file. A save killed between its rename and
 * the index update leaves a complete file the index does not name; restoring
 * considers such files too.
 *
 * Loading trusts nothing in the file: a strict JSON parser with bounds checks
 * on every byte, offsets that must tile the data section exactly, both
 * checksums verified, and every variable matched by name and shape before a
 * single value is copied (all or nothing). rt_ckpt_load ignores tensors the
 * store does not have, as TensorFlow's restore ignores them (an eval-only
 * store has no optimizer slots); rt_ckpt_restore can insist on an exact match.
 * A damaged checkpoint is never loaded: restore passes over it to the previous
 * one and says so.
 */
#define _GNU_SOURCE
#include "runtime.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <regex.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>
#include <xxhash.h>

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "checkpoints store floats little-endian; add byte swapping for this host"
#endif

#ifndef ESTC_VERSION
#define ESTC_VERSION "unknown"
#endif

enum { RT_CKPT_KEEP = 5, RT_CKPT_MAX_HEADER = 100 * 1000 * 1000, RT_JSON_MAX_DEPTH = 8 };
#define RT_CKPT_FORMAT "estc-1"
#define RT_CKPT_INDEX "checkpoint"

/* ---- a growable byte buffer ---------------------------------------------------- */

typedef struct sbuf { char *p; size_t n, cap; } sbuf;

static void sb_put(sbuf *b, const void *s, size_t n)
{
    if (b->n + n + 1 > b->cap) {
        while (b->n + n + 1 > b->cap) b->cap = b->cap ? b->cap * 2 : 4096;
        b->p = es_xrealloc(b->p, b->cap);
    }
    memcpy(b->p + b->n, s, n);
    b->n += n;
    b->p[b->n] = 0;
}

static void sb_printf(sbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void sb_printf(sbuf *b, const char *fmt, ...)
{
    char tmp[256];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    sb_put(b, tmp, (size_t)n < sizeof tmp ? (size_t)n : sizeof tmp - 1);
}

static void sb_json_string(sbuf *b, const char *s)
{
    sb_put(b, "\"", 1);
    for (; *s; s++) {
        unsigned char ch = (unsigned char)*s;
        if (ch == '"' || ch == '\\') { char e[2] = { '\\', (char)ch }; sb_put(b, e, 2); }
        else if (ch < 0x20) sb_printf(b, "\\u%04x", ch);
        else sb_put(b, s, 1);
    }
    sb_put(b, "\"", 1);
}

/* ---- the index -------------------------------------------------------------------- */

typedef struct ckpt_index {
    char *latest;
    int n, cap;
    char **all;               /* oldest first */
} ckpt_index;

static void index_free(ckpt_index *ix)
{
    free(ix->latest);
    for (int i = 0; i < ix->n; i++) free(ix->all[i]);
    free(ix->all);
    memset(ix, 0, sizeof *ix);
}

static void index_push(ckpt_index *ix, const char *name)
{
    if (ix->n == ix->cap) {
        ix->cap = ix->cap ? ix->cap * 2 : 8;
        ix->all = es_xrealloc(ix->all, (size_t)ix->cap * sizeof *ix->all);
    }
    ix->all[ix->n++] = es_xstrdup(name);
}

/* A checkpoint file name as the index may hold it: a plain name in model_dir. */
static int plain_name(const char *s)
{
    return s[0] && !strchr(s, '/') && strcmp(s, ".") != 0 && strcmp(s, "..") != 0;
}

/* Parses the index text. Lines other than "latest: X" and "all: X" are ignored
 * so a future version can add some; an unusable name is an error. */
static int index_parse(const char *text, const char *path, ckpt_index *ix, es_status *st)
{
    memset(ix, 0, sizeof *ix);
    const char *p = text;
    int lineno = 0;
    while (*p) {
        const char *e = strchr(p, '\n');
        size_t n = e ? (size_t)(e - p) : strlen(p);
        lineno++;
        char line[1024];
        if (n >= sizeof line) return es_fail(st, ES_EDATA, "%s:%d: line too long", path, lineno);
        memcpy(line, p, n);
        line[n] = 0;
        while (n > 0 && (line[n - 1] == '\r' || line[n - 1] == ' ')) line[--n] = 0;
        const char *val = NULL;
        int is_latest = 0;
        if (strncmp(line, "latest:", 7) == 0) { val = line + 7; is_latest = 1; }
        else if (strncmp(line, "all:", 4) == 0) val = line + 4;
        if (val) {
            while (*val == ' ') val++;
            if (!plain_name(val))
                return es_fail(st, ES_EDATA, "%s:%d: \"%s\" is not a checkpoint file name", path, lineno, val);
            if (is_latest) { free(ix->latest); ix->latest = es_xstrdup(val); }
            else index_push(ix, val);
        }
        p += n + (e ? 1 : 0);
        if (!e) break;
    }
    return 0;
}

/* ---- save ------------------------------------------------------------------------- */

static char *join(const char *dir, const char *name)
{
    size_t n = strlen(dir) + strlen(name) + 2;
    char *p = es_xmalloc(n);
    snprintf(p, n, "%s/%s", dir, name);
    return p;
}

static void shape_json(sbuf *b, gr_shape s)
{
    sb_put(b, "[", 1);
    for (int i = 0; i < s.rank; i++) sb_printf(b, "%s%lld", i ? "," : "", (long long)s.d[i]);
    sb_put(b, "]", 1);
}

/* Rewrites the index with `name` as the latest file; deletes files beyond the
 * last `keep` (0 = keep all) once the new index no longer names them. */
static int update_index(const char *model_dir, const char *name, int keep, es_status *st)
{
    char *ipath = join(model_dir, RT_CKPT_INDEX);
    ckpt_index ix = { 0 };
    struct stat sb;
    if (stat(ipath, &sb) == 0) {
        char *text = es_read_file(ipath, NULL, st);
        if (!text) { free(ipath); return -1; }
        es_status ignore = { 0 };
        if (index_parse(text, ipath, &ix, &ignore) < 0) index_free(&ix);  /* start afresh */
        free(text);
    }
    /* the list, oldest first, without an older copy of name */
    char **list = es_xmalloc((size_t)(ix.n + 1) * sizeof *list);
    int n = 0;
    for (int i = 0; i < ix.n; i++)
        if (strcmp(ix.all[i], name) != 0) list[n++] = ix.all[i];
    list[n++] = (char *)name;
    int drop = keep > 0 && n > keep ? n - keep : 0;
    sbuf b = { 0 };
    sb_printf(&b, "latest: %s\n", name);
    for (int i = drop; i < n; i++) sb_printf(&b, "all: %s\n", list[i]);
    int rc = es_write_file_atomic(ipath, b.p, b.n, st);
    if (rc == 0) {
        for (int i = 0; i < drop; i++) {
            char *old = join(model_dir, list[i]);
            unlink(old);   /* already gone is fine */
            free(old);
        }
    }
    free(list);
    free(b.p);
    free(ipath);
    index_free(&ix);
    return rc;
}

static void meta_int(sbuf *h, const char *key, long long v)
{
    sb_printf(h, ",\"%s\":\"%lld\"", key, v);
}

static void meta_hex(sbuf *h, const char *key, uint64_t v)
{
    sb_printf(h, ",\"%s\":\"%016llx\"", key, (unsigned long long)v);
}

int rt_ckpt_write(const char *model_dir, const rt_vars *vs, const rt_ckpt_meta *meta, int keep_max,
                  es_status *st)
{
    if (es_mkdirs(model_dir, st) < 0) return -1;
    /* the data checksum, streamed over the variables in store order */
    XXH64_state_t *hs = XXH64_createState();
    if (!hs) return es_fail(st, ES_EINTERNAL, "out of memory");
    XXH64_reset(hs, 0);
    size_t total = 0;
    for (int i = 0; i < vs->n; i++) {
        size_t bytes = (size_t)vs->v[i].numel * sizeof(float);
        if (bytes) XXH64_update(hs, vs->v[i].data, bytes);
        total += bytes;
    }
    uint64_t sum = XXH64_digest(hs);
    XXH64_freeState(hs);

    sbuf h = { 0 };
    sb_printf(&h, "{\"__metadata__\":{\"format\":\"%s\",\"global_step\":\"%lld\","
              "\"fingerprint\":\"%016llx\",\"checksum\":\"%016llx\",\"header_checksum\":\"",
              RT_CKPT_FORMAT, (long long)meta->global_step, (unsigned long long)meta->fingerprint,
              (unsigned long long)sum);
    size_t hsum_at = h.n;
    sb_printf(&h, "0000000000000000\",\"estc_version\":");
    sb_json_string(&h, ESTC_VERSION);
    if (meta->has_input) {
        const rt_stream_pos *in = &meta->input;
        meta_int(&h, "input_examples", in->examples);
        meta_int(&h, "input_epoch", in->epoch);
        meta_int(&h, "input_in_epoch", in->in_epoch);
        meta_int(&h, "input_offset", in->offset);
        meta_int(&h, "input_rows_skipped", in->rows_skipped);
        sb_printf(&h, ",\"input_rng\":\"%016llx%016llx%016llx%016llx\"",
                  (unsigned long long)in->rng[0], (unsigned long long)in->rng[1],
                  (unsigned long long)in->rng[2], (unsigned long long)in->rng[3]);
        meta_hex(&h, "input_buffer_hash", in->buffer_hash);
        sb_printf(&h, ",\"input_seed\":\"%llu\"", (unsigned long long)meta->seed);
        meta_int(&h, "input_shuffle_buffer", meta->shuffle_buffer);
        meta_int(&h, "input_batch_size", meta->batch_size);
    }
    if (meta->has_early) {
        sb_printf(&h, ",\"early_stopping_metric\":");
        sb_json_string(&h, meta->early_metric);
        sb_printf(&h, ",\"early_stopping_best\":\"%.17g\"", meta->early_best);
        meta_int(&h, "early_stopping_best_step", meta->early_best_step);
        meta_int(&h, "early_stopping_bad_evals", meta->early_bad);
    }
    sb_put(&h, "}", 1);
    size_t off = 0;
    for (int i = 0; i < vs->n; i++) {
        const rt_var *v = &vs->v[i];
        size_t bytes = (size_t)v->numel * sizeof(float);
        sb_put(&h, ",", 1);
        sb_json_string(&h, v->name);
        sb_printf(&h, ":{\"dtype\":\"F32\",\"shape\":");
        shape_json(&h, v->shape);
        sb_printf(&h, ",\"data_offsets\":[%zu,%zu]}", off, off + bytes);
        off += bytes;
    }
    sb_put(&h, "}", 1);
    while (h.n % 8) sb_put(&h, " ", 1);
    char hex[17];
    snprintf(hex, sizeof hex, "%016llx", (unsigned long long)es_hash64(h.p, h.n, 0));
    memcpy(h.p + hsum_at, hex, 16);

    size_t len = 8 + h.n + total;
    unsigned char *file = es_xmalloc(len);
    uint64_t hn = h.n;
    for (int i = 0; i < 8; i++) file[i] = (unsigned char)(hn >> (8 * i));
    memcpy(file + 8, h.p, h.n);
    unsigned char *d = file + 8 + h.n;
    for (int i = 0; i < vs->n; i++) {
        size_t bytes = (size_t)vs->v[i].numel * sizeof(float);
        if (bytes) memcpy(d, vs->v[i].data, bytes);
        d += bytes;
    }
    free(h.p);

    char name[64];
    snprintf(name, sizeof name, "model-%lld.safetensors", (long long)meta->global_step);
    char *path = join(model_dir, name);
    int rc = es_write_file_atomic(path, file, len, st);
    free(path);
    free(file);
    if (rc < 0) return -1;
    return update_index(model_dir, name, keep_max, st);
}

int rt_ckpt_save(const char *model_dir, const rt_vars *vs, int64_t global_step,
                 uint64_t fingerprint, es_status *st)
{
    rt_ckpt_meta meta;
    memset(&meta, 0, sizeof meta);
    meta.global_step = global_step;
    meta.fingerprint = fingerprint;
    return rt_ckpt_write(model_dir, vs, &meta, RT_CKPT_KEEP, st);
}

/* ---- a strict JSON parser for the header ----------------------------------------- */

typedef enum { JV_OBJ, JV_ARR, JV_STR, JV_NUM, JV_TRUE, JV_FALSE, JV_NULL } jv_kind;

typedef struct jv jv;
struct jv {
    jv_kind k;
    size_t off;               /* byte offset of the value in the header */
    const char *s;            /* JV_STR: decoded (NUL-terminated); JV_NUM: the text */
    size_t slen;
    int n;                    /* JV_OBJ / JV_ARR: members */
    const char **keys;        /* JV_OBJ */
    jv **items;
};

typedef struct jparser {
    const char *base, *p, *end;
    es_arena *a;
    char err[160];
} jparser;

static int jfail(jparser *j, const char *what)
{
    if (!j->err[0])
        snprintf(j->err, sizeof j->err, "header byte %zu: %s", (size_t)(j->p - j->base), what);
    return -1;
}

static void jws(jparser *j)
{
    while (j->p < j->end && (*j->p == ' ' || *j->p == '\t' || *j->p == '\n' || *j->p == '\r')) j->p++;
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* Lowercase only, as written: a digit whose case flipped is damage, not a synonym. */
static int hexval_lower(char c) { return c >= 'A' && c <= 'F' ? -1 : hexval(c); }

static int j_u4(jparser *j, unsigned *u)
{
    if (j->end - j->p < 4) return jfail(j, "truncated \\u escape");
    *u = 0;
    for (int i = 0; i < 4; i++) {
        int h = hexval(j->p[i]);
        if (h < 0) return jfail(j, "bad \\u escape");
        *u = *u * 16 + (unsigned)h;
    }
    j->p += 4;
    return 0;
}

/* string: '"' chars '"' with JSON's escapes; decoded into the arena as UTF-8 */
static int j_string(jparser *j, const char **out, size_t *outlen)
{
    if (j->p >= j->end || *j->p != '"') return jfail(j, "expected a string");
    j->p++;
    /* decoded text is never longer than the source text */
    const char *q = j->p;
    while (q < j->end && *q != '"') q += (*q == '\\' && q + 1 < j->end) ? 2 : 1;
    if (q >= j->end) return jfail(j, "unterminated string");
    char *buf = es_alloc(j->a, (size_t)(q - j->p) + 1);
    size_t n = 0;
    while (*j->p != '"') {
        unsigned char c = (unsigned char)*j->p;
        if (c < 0x20) return jfail(j, "control character in a string");
        if (c != '\\') { buf[n++] = (char)c; j->p++; continue; }
        j->p++;
        char e = *j->p++;
        switch (e) {
        case '"': buf[n++] = '"'; break;
        case '\\': buf[n++] = '\\'; break;
        case '/': buf[n++] = '/'; break;
        case 'b': buf[n++] = '\b'; break;
        case 'f': buf[n++] = '\f'; break;
        case 'n': buf[n++] = '\n'; break;
        case 'r': buf[n++] = '\r'; break;
        case 't': buf[n++] = '\t'; break;
        case 'u': {
            unsigned u;
            if (j_u4(j, &u) < 0) return -1;
            if (u >= 0xD800 && u <= 0xDBFF) {
                unsigned lo;
                if (j->end - j->p < 2 || j->p[0] != '\\' || j->p[1] != 'u') return jfail(j, "unpaired surrogate");
                j->p += 2;
                if (j_u4(j, &lo) < 0) return -1;
                if (lo < 0xDC00 || lo > 0xDFFF) return jfail(j, "unpaired surrogate");
                u = 0x10000 + ((u - 0xD800) << 10) + (lo - 0xDC00);
            } else if (u >= 0xDC00 && u <= 0xDFFF) {
                return jfail(j, "unpaired surrogate");
            }
            if (u == 0) return jfail(j, "NUL in a string");
            /* 6 source bytes (12 for a pair) always cover the <= 4 UTF-8 bytes */
            if (u < 0x80) buf[n++] = (char)u;
            else if (u < 0x800) { buf[n++] = (char)(0xC0 | (u >> 6)); buf[n++] = (char)(0x80 | (u & 0x3F)); }
            else if (u < 0x10000) {
                buf[n++] = (char)(0xE0 | (u >> 12)); buf[n++] = (char)(0x80 | ((u >> 6) & 0x3F));
                buf[n++] = (char)(0x80 | (u & 0x3F));
            } else {
                buf[n++] = (char)(0xF0 | (u >> 18)); buf[n++] = (char)(0x80 | ((u >> 12) & 0x3F));
                buf[n++] = (char)(0x80 | ((u >> 6) & 0x3F)); buf[n++] = (char)(0x80 | (u & 0x3F));
            }
            break;
        }
        default:
            j->p--;
            return jfail(j, "bad escape in a string");
        }
    }
    j->p++;
    buf[n] = 0;
    *out = buf;
    *outlen = n;
    return 0;
}

/* number: -? (0 | [1-9][0-9]*) (. [0-9]+)? ([eE] [+-]? [0-9]+)? */
static int j_number(jparser *j, jv *v)
{
    const char *s = j->p;
    if (j->p < j->end && *j->p == '-') j->p++;
    if (j->p >= j->end) return jfail(j, "truncated number");
    if (*j->p == '0') j->p++;
    else if (*j->p >= '1' && *j->p <= '9') while (j->p < j->end && *j->p >= '0' && *j->p <= '9') j->p++;
    else return jfail(j, "bad number");
    if (j->p < j->end && *j->p == '.') {
        j->p++;
        if (j->p >= j->end || *j->p < '0' || *j->p > '9') return jfail(j, "bad number");
        while (j->p < j->end && *j->p >= '0' && *j->p <= '9') j->p++;
    }
    if (j->p < j->end && (*j->p == 'e' || *j->p == 'E')) {
        j->p++;
        if (j->p < j->end && (*j->p == '+' || *j->p == '-')) j->p++;
        if (j->p >= j->end || *j->p < '0' || *j->p > '9') return jfail(j, "bad number");
        while (j->p < j->end && *j->p >= '0' && *j->p <= '9') j->p++;
    }
    v->k = JV_NUM;
    v->s = s;
    v->slen = (size_t)(j->p - s);
    return 0;
}

static int j_value(jparser *j, jv **out, int depth);

static int j_members(jparser *j, jv *v, int depth, int is_obj)
{
    ES_VEC(jv *) items = { 0 };
    ES_VEC(const char *) keys = { 0 };
    char close = is_obj ? '}' : ']';
    j->p++;
    jws(j);
    if (j->p < j->end && *j->p == close) { j->p++; goto done; }
    for (;;) {
        jws(j);
        if (is_obj) {
            const char *k;
            size_t kl;
            if (j_string(j, &k, &kl) < 0) return -1;
            if (strlen(k) != kl) return jfail(j, "NUL in a key");
            for (int i = 0; i < keys.n; i++) if (strcmp(keys.v[i], k) == 0) return jfail(j, "duplicate key");
            es_vec_push(j->a, keys, k);
            jws(j);
            if (j->p >= j->end || *j->p != ':') return jfail(j, "expected ':'");
            j->p++;
        }
        jv *item;
        if (j_value(j, &item, depth + 1) < 0) return -1;
        es_vec_push(j->a, items, item);
        jws(j);
        if (j->p >= j->end) return jfail(j, is_obj ? "expected ',' or '}'" : "expected ',' or ']'");
        if (*j->p == ',') { j->p++; continue; }
        if (*j->p == close) { j->p++; break; }
        return jfail(j, is_obj ? "expected ',' or '}'" : "expected ',' or ']'");
    }
done:
    v->k = is_obj ? JV_OBJ : JV_ARR;
    v->n = items.n;
    v->items = items.v;
    v->keys = keys.v;
    return 0;
}

static int j_value(jparser *j, jv **out, int depth)
{
    if (depth > RT_JSON_MAX_DEPTH) return jfail(j, "nested too deeply");
    jws(j);
    if (j->p >= j->end) return jfail(j, "unexpected end of the header");
    jv *v = es_alloc(j->a, sizeof *v);
    v->off = (size_t)(j->p - j->base);
    *out = v;
    char c = *j->p;
    if (c == '{' || c == '[') return j_members(j, v, depth, c == '{');
    if (c == '"') { v->k = JV_STR; return j_string(j, &v->s, &v->slen); }
    if (c == '-' || (c >= '0' && c <= '9')) return j_number(j, v);
    static const struct { const char *w; jv_kind k; } lits[] = {
        { "true", JV_TRUE }, { "false", JV_FALSE }, { "null", JV_NULL } };
    for (size_t i = 0; i < ES_ARRAY_LEN(lits); i++) {
        size_t n = strlen(lits[i].w);
        if ((size_t)(j->end - j->p) >= n && memcmp(j->p, lits[i].w, n) == 0) {
            j->p += n;
            v->k = lits[i].k;
            return 0;
        }
    }
    return jfail(j, "expected a value");
}

static const jv *j_get(const jv *o, const char *key)
{
    for (int i = 0; i < o->n; i++) if (strcmp(o->keys[i], key) == 0) return o->items[i];
    return NULL;
}

/* A non-negative integer that fits in uint64 (shapes, offsets). */
static int j_uint(const jv *v, uint64_t *out)
{
    if (v->k != JV_NUM || v->slen == 0 || v->slen > 20) return -1;
    uint64_t x = 0;
    for (size_t i = 0; i < v->slen; i++) {
        char c = v->s[i];
        if (c < '0' || c > '9') return -1;
        if (x > (UINT64_MAX - (uint64_t)(c - '0')) / 10) return -1;
        x = x * 10 + (uint64_t)(c - '0');
    }
    *out = x;
    return 0;
}

static int parse_hex64(const char *s, uint64_t *out)
{
    if (strlen(s) != 16) return -1;
    uint64_t x = 0;
    for (int i = 0; i < 16; i++) {
        int h = hexval_lower(s[i]);
        if (h < 0) return -1;
        x = x << 4 | (uint64_t)h;
    }
    *out = x;
    return 0;
}

/* ---- load ------------------------------------------------------------------------- */

typedef struct tinfo {
    const char *name;
    const char *dtype;
    int rank;
    uint64_t d[GR_MAXDIMS];
    uint64_t begin, end;
} tinfo;

static size_t dtype_size(const char *t)
{
    static const struct { const char *n; size_t s; } tab[] = {
        { "F64", 8 }, { "F32", 4 }, { "F16", 2 }, { "BF16", 2 }, { "I64", 8 }, { "I32", 4 },
        { "I16", 2 }, { "I8", 1 }, { "U64", 8 }, { "U32", 4 }, { "U16", 2 }, { "U8", 1 },
        { "BOOL", 1 }, { "F8_E5M2", 1 }, { "F8_E4M3", 1 } };
    for (size_t i = 0; i < ES_ARRAY_LEN(tab); i++) if (strcmp(tab[i].n, t) == 0) return tab[i].s;
    return 0;
}

static int cmp_begin(const void *a, const void *b)
{
    const tinfo *x = *(const tinfo *const *)a, *y = *(const tinfo *const *)b;
    return x->begin < y->begin ? -1 : x->begin > y->begin;
}

static void tshape_text(const tinfo *t, char *buf, size_t n)
{
    size_t o = (size_t)snprintf(buf, n, "[");
    for (int i = 0; i < t->rank && o < n; i++)
        o += (size_t)snprintf(buf + o, n - o, "%s%llu", i ? "," : "", (unsigned long long)t->d[i]);
    if (o < n) snprintf(buf + o, n - o, "]");
}

static void vshape_text(gr_shape s, char *buf, size_t n)
{
    size_t o = (size_t)snprintf(buf, n, "[");
    for (int i = 0; i < s.rank && o < n; i++)
        o += (size_t)snprintf(buf + o, n - o, "%s%lld", i ? "," : "", (long long)s.d[i]);
    if (o < n) snprintf(buf + o, n - o, "]");
}

/* Validates the tensor entries of the header against a data section of dlen bytes. */
static int read_tensors(const jv *top, const char *fpath, uint64_t dlen, es_arena *a,
                        tinfo ***out, int *nout, const jv **meta, es_status *st)
{
    tinfo **ts = es_alloc(a, (size_t)(top->n ? top->n : 1) * sizeof *ts);
    int n = 0;
    *meta = NULL;
    for (int i = 0; i < top->n; i++) {
        const char *name = top->keys[i];
        const jv *v = top->items[i];
        if (strcmp(name, "__metadata__") == 0) {
            if (v->k != JV_OBJ) return es_fail(st, ES_EDATA, "checkpoint %s is damaged: __metadata__ is not an object", fpath);
            for (int k = 0; k < v->n; k++)
                if (v->items[k]->k != JV_STR)
                    return es_fail(st, ES_EDATA, "checkpoint %s is damaged: metadata %s is not a string", fpath, v->keys[k]);
            *meta = v;
            continue;
        }
        const jv *dt = v->k == JV_OBJ ? j_get(v, "dtype") : NULL;
        const jv *sh = v->k == JV_OBJ ? j_get(v, "shape") : NULL;
        const jv *of = v->k == JV_OBJ ? j_get(v, "data_offsets") : NULL;
        if (!dt || !sh || !of || v->n != 3 || dt->k != JV_STR || sh->k != JV_ARR || of->k != JV_ARR || of->n != 2)
            return es_fail(st, ES_EDATA, "checkpoint %s is damaged: tensor %s needs exactly dtype, shape "
                           "and data_offsets [begin, end]", fpath, name);
        tinfo *t = es_alloc(a, sizeof *t);
        t->name = name;
        t->dtype = dt->s;
        size_t es = dtype_size(dt->s);
        if (!es) return es_fail(st, ES_EDATA, "checkpoint %s: tensor %s has unknown dtype \"%s\"", fpath, name, dt->s);
        if (sh->n > GR_MAXDIMS)
            return es_fail(st, ES_EDATA, "checkpoint %s: tensor %s has rank %d (estc allows %d)", fpath, name, sh->n, GR_MAXDIMS);
        t->rank = sh->n;
        uint64_t numel = 1;
        for (int k = 0; k < sh->n; k++) {
            if (j_uint(sh->items[k], &t->d[k]) < 0)
                return es_fail(st, ES_EDATA, "checkpoint %s is damaged: tensor %s has a bad shape", fpath, name);
            if (t->d[k] && numel > UINT64_MAX / 16 / t->d[k])
                return es_fail(st, ES_EDATA, "checkpoint %s is damaged: tensor %s is impossibly large", fpath, name);
            numel *= t->d[k];
        }
        if (j_uint(of->items[0], &t->begin) < 0 || j_uint(of->items[1], &t->end) < 0 ||
            t->begin > t->end || t->end > dlen || t->end - t->begin != numel * es)
            return es_fail(st, ES_EDATA, "checkpoint %s is damaged: tensor %s has data_offsets that do not fit "
                           "its shape or the file (%llu data bytes)", fpath, name, (unsigned long long)dlen);
        ts[n++] = t;
    }
    /* safetensors: the tensors tile the data section with no gap or overlap */
    tinfo **sorted = es_alloc(a, (size_t)(n ? n : 1) * sizeof *sorted);
    memcpy(sorted, ts, (size_t)n * sizeof *ts);
    qsort(sorted, (size_t)n, sizeof *sorted, cmp_begin);
    uint64_t at = 0;
    for (int i = 0; i < n; i++) {
        if (sorted[i]->begin != at)
            return es_fail(st, ES_EDATA, "checkpoint %s is damaged: tensor data overlaps or leaves a gap at byte %llu",
                           fpath, (unsigned long long)at);
        at = sorted[i]->end;
    }
    if (at != dlen)
        return es_fail(st, ES_EDATA, "checkpoint %s is damaged: %llu data bytes but the tensors cover %llu",
                       fpath, (unsigned long long)dlen, (unsigned long long)at);
    *out = ts;
    *nout = n;
    return 0;
}

static const char *meta_str(const jv *meta, const char *key)
{
    const jv *v = meta ? j_get(meta, key) : NULL;
    return v ? v->s : NULL;
}

/* ---- one checkpoint file, checked ------------------------------------------------ */

typedef struct ckpt_file {
    es_arena *a;
    char *bytes;              /* the whole file (malloc'd) */
    const unsigned char *data;
    uint64_t dlen;
    tinfo **ts;
    int nt;
    rt_ckpt_meta meta;
} ckpt_file;

static void ckpt_close(ckpt_file *cf)
{
    if (cf->a) es_arena_free(cf->a);
    free(cf->bytes);
    memset(cf, 0, sizeof *cf);
}

/* A decimal integer that is the whole string (min: the smallest allowed). */
static int parse_i64(const char *s, int64_t min, int64_t *out)
{
    if (!s || !*s) return -1;
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (*end || errno || v < min) return -1;
    *out = v;
    return 0;
}

/* The optional metadata: the input position and early-stopping state. A key
 * present with a bad value is damage (the header checksum already passed, so
 * only a writer bug gets here); absent keys just mean "not recorded". */
static int read_extra_meta(const jv *meta, rt_ckpt_meta *m, const char *fpath, es_status *st)
{
    const char *ex = meta_str(meta, "input_examples");
    if (ex) {
        rt_stream_pos *in = &m->input;
        const char *rng = meta_str(meta, "input_rng");
        const char *seed = meta_str(meta, "input_seed");
        int bad = parse_i64(ex, 0, &in->examples) || parse_i64(meta_str(meta, "input_epoch"), 0, &in->epoch) ||
                  parse_i64(meta_str(meta, "input_in_epoch"), 0, &in->in_epoch) ||
                  parse_i64(meta_str(meta, "input_offset"), -1, &in->offset) ||
                  parse_i64(meta_str(meta, "input_rows_skipped"), 0, &in->rows_skipped) ||
                  parse_i64(meta_str(meta, "input_shuffle_buffer"), 0, &m->shuffle_buffer) ||
                  parse_i64(meta_str(meta, "input_batch_size"), 0, &m->batch_size) ||
                  !meta_str(meta, "input_buffer_hash") ||
                  parse_hex64(meta_str(meta, "input_buffer_hash"), &in->buffer_hash) < 0 ||
                  !rng || strlen(rng) != 64 || !seed || !*seed;
        for (int k = 0; !bad && k < 4; k++) {
            char part[17];
            memcpy(part, rng + 16 * k, 16);
            part[16] = 0;
            bad = parse_hex64(part, &in->rng[k]) < 0;
        }
        if (!bad) {
            char *end;
            errno = 0;
            unsigned long long u = strtoull(seed, &end, 10);
            bad = *end || errno || seed[0] == '-';
            m->seed = u;
        }
        if (bad) return es_fail(st, ES_EDATA, "checkpoint %s is damaged: bad input position metadata", fpath);
        m->has_input = 1;
    }
    const char *eb = meta_str(meta, "early_stopping_best");
    if (eb) {
        const char *em = meta_str(meta, "early_stopping_metric");
        if (!em || strlen(em) >= sizeof m->early_metric)
            return es_fail(st, ES_EDATA, "checkpoint %s is damaged: bad early-stopping metadata", fpath);
        snprintf(m->early_metric, sizeof m->early_metric, "%s", em);
        char *end;
        errno = 0;
        m->early_best = strtod(eb, &end);
        if (!*eb || *end || errno == ERANGE ||
            parse_i64(meta_str(meta, "early_stopping_best_step"), 0, &m->early_best_step) ||
            parse_i64(meta_str(meta, "early_stopping_bad_evals"), 0, &m->early_bad))
            return es_fail(st, ES_EDATA, "checkpoint %s is damaged: bad early-stopping metadata", fpath);
        m->has_early = 1;
    }
    return 0;
}

/* Reads and checks a whole checkpoint file: structure, both checksums and the
 * metadata. Damage is ES_EDATA, a file that cannot be read ES_EIO. */
static int ckpt_open(const char *fpath, ckpt_file *cf, es_status *st)
{
    memset(cf, 0, sizeof *cf);
    size_t len;
    cf->bytes = es_read_file(fpath, &len, st);
    if (!cf->bytes) return -1;
    const unsigned char *file = (const unsigned char *)cf->bytes;
    if (len < 8) {
        es_fail(st, ES_EDATA, "checkpoint %s is damaged: truncated to %zu bytes", fpath, len);
        goto bad;
    }
    uint64_t hn = 0;
    for (int i = 0; i < 8; i++) hn |= (uint64_t)file[i] << (8 * i);
    if (hn > RT_CKPT_MAX_HEADER) {
        es_fail(st, ES_EDATA, "checkpoint %s is damaged: header length %llu is not plausible",
                fpath, (unsigned long long)hn);
        goto bad;
    }
    if (hn > len - 8) {
        es_fail(st, ES_EDATA, "checkpoint %s is damaged: truncated (%zu bytes, the header alone needs %llu)",
                fpath, len, (unsigned long long)(hn + 8));
        goto bad;
    }
    const char *hdr = (const char *)file + 8;
    cf->data = file + 8 + hn;
    cf->dlen = len - 8 - hn;
    es_arena *a = cf->a = es_arena_new();
    jparser j = { .base = hdr, .p = hdr, .end = hdr + hn, .a = a };
    jv *top;
    if (j_value(&j, &top, 0) < 0) {
        es_fail(st, ES_EDATA, "checkpoint %s is damaged: %s", fpath, j.err);
        goto bad;
    }
    jws(&j);
    if (j.p != j.end) {
        jfail(&j, "unexpected text after the header object");
        es_fail(st, ES_EDATA, "checkpoint %s is damaged: %s", fpath, j.err);
        goto bad;
    }
    if (top->k != JV_OBJ) { es_fail(st, ES_EDATA, "checkpoint %s is damaged: the header is not a JSON object", fpath); goto bad; }
    const jv *meta = NULL;
    if (read_tensors(top, fpath, cf->dlen, a, &cf->ts, &cf->nt, &meta, st) < 0) goto bad;
    /* the header checksum first, so that damage anywhere in the header (even
     * in the format key) reads as damage: its own digits count as zeros */
    const jv *hsv = meta ? j_get(meta, "header_checksum") : NULL;
    const char *format = meta_str(meta, "format");
    uint64_t want;
    if (hsv) {
        if (parse_hex64(hsv->s, &want) < 0 || hsv->off + 18 > hn || hdr[hsv->off + 17] != '"') {
            es_fail(st, ES_EDATA, "checkpoint %s is damaged: no valid header_checksum", fpath);
            goto bad;
        }
        char *copy = es_alloc(a, hn + 1);
        memcpy(copy, hdr, hn);
        memset(copy + hsv->off + 1, '0', 16);
        if (es_hash64(copy, hn, 0) != want) {
            es_fail(st, ES_EDATA, "checkpoint %s is damaged: the header checksum does not match", fpath);
            goto bad;
        }
    }
    if (!format || strcmp(format, RT_CKPT_FORMAT) != 0) {
        es_fail(st, ES_EDATA, "checkpoint %s is not an estc checkpoint (metadata format is %s%s%s, expected \"%s\")",
                fpath, format ? "\"" : "", format ? format : "missing", format ? "\"" : "", RT_CKPT_FORMAT);
        goto bad;
    }
    if (!hsv) {
        es_fail(st, ES_EDATA, "checkpoint %s is damaged: no valid header_checksum", fpath);
        goto bad;
    }
    const char *cs = meta_str(meta, "checksum");
    if (!cs || parse_hex64(cs, &want) < 0) {
        es_fail(st, ES_EDATA, "checkpoint %s is damaged: no valid data checksum", fpath);
        goto bad;
    }
    if (es_hash64(cf->data, cf->dlen, 0) != want) {
        es_fail(st, ES_EDATA, "checkpoint %s is damaged: the data checksum does not match", fpath);
        goto bad;
    }
    const char *fp = meta_str(meta, "fingerprint");
    if (parse_i64(meta_str(meta, "global_step"), 0, &cf->meta.global_step) < 0 || !fp ||
        parse_hex64(fp, &cf->meta.fingerprint) < 0) {
        es_fail(st, ES_EDATA, "checkpoint %s is damaged: bad global_step or fingerprint", fpath);
        goto bad;
    }
    if (read_extra_meta(meta, &cf->meta, fpath, st) < 0) goto bad;
    return 0;
bad:
    ckpt_close(cf);
    return -1;
}

static int shape_matches(const tinfo *t, gr_shape s)
{
    if (t->rank != s.rank) return 0;
    for (int k = 0; k < t->rank; k++) if ((int64_t)t->d[k] != s.d[k]) return 0;
    return 1;
}

static const tinfo *find_tensor(const ckpt_file *cf, const char *name)
{
    for (int k = 0; k < cf->nt; k++) if (strcmp(cf->ts[k]->name, name) == 0) return cf->ts[k];
    return NULL;
}

/* Copies a checked checkpoint into vs: every variable must be there with its
 * shape before a single value is copied (all or nothing). strict: so must
 * every tensor of the checkpoint be in vs. Mismatches are ES_EMODEL. */
static int ckpt_apply(const char *model_dir, const char *fpath, const ckpt_file *cf, rt_vars *vs,
                      int strict, es_status *st)
{
    const tinfo **match = es_alloc(cf->a, (size_t)(vs->n ? vs->n : 1) * sizeof *match);
    for (int i = 0; i < vs->n; i++) {
        const rt_var *v = &vs->v[i];
        const tinfo *t = find_tensor(cf, v->name);
        if (!t)
            return es_fail(st, ES_EMODEL, "model_dir %s was trained with a different model: variable %s is not in "
                           "the checkpoint %s", model_dir, v->name, fpath);
        if (!shape_matches(t, v->shape)) {
            char here[128], there[128];
            vshape_text(v->shape, here, sizeof here);
            tshape_text(t, there, sizeof there);
            return es_fail(st, ES_EMODEL, "model_dir %s was trained with a different model: variable %s has shape %s "
                           "here but %s in the checkpoint", model_dir, v->name, here, there);
        }
        if (strcmp(t->dtype, "F32") != 0)
            return es_fail(st, ES_EDATA, "checkpoint %s: variable %s is stored as %s, estc variables are F32",
                           fpath, v->name, t->dtype);
        match[i] = t;
    }
    if (strict)
        for (int k = 0; k < cf->nt; k++) {
            const char *name = cf->ts[k]->name;
            int found = 0;
            for (int i = 0; i < vs->n && !found; i++) found = strcmp(vs->v[i].name, name) == 0;
            if (!found)
                return es_fail(st, ES_EMODEL, "model_dir %s was trained with a different model: the checkpoint %s "
                               "has a variable %s that this model does not have", model_dir, fpath, name);
        }
    for (int i = 0; i < vs->n; i++)
        if (vs->v[i].numel) memcpy(vs->v[i].data, cf->data + match[i]->begin, (size_t)vs->v[i].numel * sizeof(float));
    return 0;
}

/* ---- finding checkpoints ---------------------------------------------------------- */

/* Reads model_dir's index. Returns 1 read, 0 there is none, -1 unreadable (st). */
static int index_read(const char *model_dir, ckpt_index *ix, es_status *st)
{
    memset(ix, 0, sizeof *ix);
    char *ipath = join(model_dir, RT_CKPT_INDEX);
    struct stat sb;
    if (stat(ipath, &sb) != 0) {
        int e = errno;
        free(ipath);
        if (e == ENOENT || e == ENOTDIR) return 0;
        return es_fail(st, ES_EIO, "cannot read %s/%s: %s", model_dir, RT_CKPT_INDEX, strerror(e));
    }
    char *text = es_read_file(ipath, NULL, st);
    if (!text) { free(ipath); return -1; }
    int rc = index_parse(text, ipath, ix, st);
    free(text);
    if (rc == 0 && !ix->latest) rc = es_fail(st, ES_EDATA, "%s names no latest checkpoint", ipath);
    free(ipath);
    if (rc < 0) { index_free(ix); return -1; }
    return 1;
}

/* model-<digits>.safetensors: the step, or -1 for any other name. */
static int64_t ckpt_name_step(const char *name)
{
    const char *p = name;
    if (strncmp(p, "model-", 6) != 0) return -1;
    p += 6;
    if (*p < '0' || *p > '9') return -1;
    int64_t v = 0;
    while (*p >= '0' && *p <= '9') {
        if (v > (INT64_MAX - 9) / 10) return -1;
        v = v * 10 + (*p++ - '0');
    }
    return strcmp(p, ".safetensors") == 0 ? v : -1;
}

typedef struct name_step { char *name; int64_t step; } name_step;

static int by_step(const void *x, const void *y)
{
    int64_t a = ((const name_step *)x)->step, b = ((const name_step *)y)->step;
    return a < b ? -1 : a > b;
}

/* Every model-<step>.safetensors file in dir, by step ascending (malloc'd). */
static int scan_dir(const char *dir, name_step **out, int *n)
{
    *out = NULL;
    *n = 0;
    DIR *d = opendir(dir);
    if (!d) return 0;
    int cap = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        int64_t step = ckpt_name_step(e->d_name);
        if (step < 0) continue;
        if (*n == cap) {
            cap = cap ? cap * 2 : 16;
            *out = es_xrealloc(*out, (size_t)cap * sizeof **out);
        }
        (*out)[*n].name = es_xstrdup(e->d_name);
        (*out)[(*n)++].step = step;
    }
    closedir(d);
    if (*n > 1) qsort(*out, (size_t)*n, sizeof **out, by_step);
    return 0;
}

static void free_names(name_step *v, int n)
{
    for (int i = 0; i < n; i++) free(v[i].name);
    free(v);
}

/* The order in which to try checkpoints: the index's latest, the rest of its
 * list newest first, then files the index does not name, newest first (a
 * save killed between its rename and the index update leaves one). */
static void note_damage(rt_ckpt_meta *meta, const char *msg);

static int candidates(const char *model_dir, char ***out, int *n, rt_ckpt_meta *meta)
{
    ckpt_index ix;
    es_status ist = { 0 };
    int r = index_read(model_dir, &ix, &ist);
    if (r < 0) note_damage(meta, ist.msg);   /* the files themselves may still be good */
    name_step *files;
    int nf;
    scan_dir(model_dir, &files, &nf);
    char **list = es_xmalloc((size_t)(ix.n + nf + 1) * sizeof *list);
    int k = 0;
#define ADD(nm) do {                                                        \
        int dup_ = 0;                                                       \
        for (int q_ = 0; q_ < k && !dup_; q_++) dup_ = !strcmp(list[q_], (nm)); \
        if (!dup_) list[k++] = es_xstrdup(nm);                              \
    } while (0)
    if (r == 1) {
        ADD(ix.latest);
        for (int i = ix.n - 1; i >= 0; i--) ADD(ix.all[i]);
    }
    for (int i = nf - 1; i >= 0; i--) ADD(files[i].name);
#undef ADD
    index_free(&ix);
    free_names(files, nf);
    *out = list;
    *n = k;
    return 0;
}

static void free_list(char **v, int n)
{
    for (int i = 0; i < n; i++) free(v[i]);
    free(v);
}

static void note_damage(rt_ckpt_meta *meta, const char *msg)
{
    size_t used = strlen(meta->damaged);
    snprintf(meta->damaged + used, sizeof meta->damaged - used, "%s%s", used ? "; " : "", msg);
}

/* Opens the newest good checkpoint of model_dir (damaged ones noted in meta). */
static int open_newest(const char *model_dir, ckpt_file *cf, char **fpath_out, rt_ckpt_meta *meta,
                       es_status *st)
{
    char **list;
    int n;
    candidates(model_dir, &list, &n, meta);
    if (n == 0) {
        free(list);
        if (meta->damaged[0]) return es_fail(st, ES_EDATA, "no usable checkpoint in %s: %s", model_dir, meta->damaged);
        return 0;
    }
    for (int i = 0; i < n; i++) {
        char *fpath = join(model_dir, list[i]);
        es_status e = { 0 };
        if (ckpt_open(fpath, cf, &e) == 0) {
            snprintf(meta->file, sizeof meta->file, "%s", list[i]);
            *fpath_out = fpath;
            free_list(list, n);
            return 1;
        }
        note_damage(meta, e.msg);
        free(fpath);
    }
    free_list(list, n);
    return es_fail(st, ES_EDATA, "no usable checkpoint in %s: %s", model_dir, meta->damaged);
}

int rt_ckpt_restore(const char *model_dir, rt_vars *vs, int strict, rt_ckpt_meta *meta, es_status *st)
{
    memset(meta, 0, sizeof *meta);
    ckpt_file cf;
    char *fpath = NULL;
    rt_ckpt_meta found;
    memset(&found, 0, sizeof found);
    int r = open_newest(model_dir, &cf, &fpath, &found, st);
    if (r <= 0) {
        if (r < 0) memcpy(meta->damaged, found.damaged, sizeof meta->damaged);
        return r;
    }
    int rc = ckpt_apply(model_dir, fpath, &cf, vs, strict, st);
    if (rc == 0) {
        *meta = cf.meta;
        memcpy(meta->file, found.file, sizeof meta->file);
        memcpy(meta->damaged, found.damaged, sizeof meta->damaged);
    }
    ckpt_close(&cf);
    free(fpath);
    return rc < 0 ? -1 : 1;
}

/* The index's latest only: the strict behaviour the first callers wanted. */
int rt_ckpt_load(const char *model_dir, rt_vars *vs, int64_t *global_step,
                 uint64_t *fingerprint, es_status *st)
{
    ckpt_index ix;
    int r = index_read(model_dir, &ix, st);
    if (r <= 0) return r;
    char *fpath = join(model_dir, ix.latest);
    index_free(&ix);
    ckpt_file cf;
    int rc = ckpt_open(fpath, &cf, st);
    if (rc == 0) rc = ckpt_apply(model_dir, fpath, &cf, vs, 0, st);
    if (rc == 0) {
        if (global_step) *global_step = cf.meta.global_step;
        if (fingerprint) *fingerprint = cf.meta.fingerprint;
    }
    ckpt_close(&cf);
    free(fpath);
    return rc < 0 ? -1 : 1;
}

int rt_ckpt_list(const char *model_dir, rt_ckpt_info **out, int *n, es_status *st)
{
    *out = NULL;
    *n = 0;
    struct stat dsb;
    if (stat(model_dir, &dsb) != 0) return es_fail(st, ES_EIO, "cannot read %s: %s", model_dir, strerror(errno));
    if (!S_ISDIR(dsb.st_mode)) return es_fail(st, ES_EIO, "cannot read %s: not a directory", model_dir);
    ckpt_index ix;
    es_status ist = { 0 };
    int have_index = index_read(model_dir, &ix, &ist);
    if (have_index < 0) return es_fail(st, ist.code, "%s", ist.msg);
    name_step *files;
    int nf;
    scan_dir(model_dir, &files, &nf);
    rt_ckpt_info *v = es_xcalloc((size_t)(nf + (have_index ? ix.n + 1 : 0) + 1), sizeof *v);
    int k = 0;
    for (int i = 0; i < nf; i++) {
        rt_ckpt_info *c = &v[k++];
        snprintf(c->file, sizeof c->file, "%s", files[i].name);
        char *fpath = join(model_dir, files[i].name);
        struct stat sb;
        c->bytes = stat(fpath, &sb) == 0 ? (int64_t)sb.st_size : -1;
        ckpt_file cf;
        es_status e = { 0 };
        int opened = ckpt_open(fpath, &cf, &e);
        if (opened < 0 && stat(fpath, &sb) != 0 && errno == ENOENT) {
            memset(c, 0, sizeof *c);   /* deleted by a trainer since the directory was read: not damage */
            k--;
            free(fpath);
            continue;
        }
        if (opened == 0) {
            c->ok = 1;
            c->global_step = cf.meta.global_step;
            if (c->global_step != files[i].step) {
                c->ok = 0;
                snprintf(c->problem, sizeof c->problem, "its metadata says global step %lld",
                         (long long)c->global_step);
            }
            ckpt_close(&cf);
        } else {
            c->global_step = -1;
            snprintf(c->problem, sizeof c->problem, "%.*s", (int)sizeof c->problem - 1, e.msg);
        }
        free(fpath);
    }
    if (have_index == 1) {
        /* names the index lists that are not on disk are problems too */
        for (int j = -1; j < ix.n; j++) {
            const char *nm = j < 0 ? ix.latest : ix.all[j];
            int at = -1;
            for (int i = 0; i < k && at < 0; i++) if (!strcmp(v[i].file, nm)) at = i;
            if (at < 0) {
                at = k++;
                snprintf(v[at].file, sizeof v[at].file, "%s", nm);
                v[at].global_step = -1;
                v[at].bytes = -1;
                snprintf(v[at].problem, sizeof v[at].problem, "named by %s/%s but missing", model_dir, RT_CKPT_INDEX);
            }
            v[at].listed = 1;
            if (j < 0) v[at].latest = 1;
        }
        index_free(&ix);
    }
    free_names(files, nf);
    *out = v;
    *n = k;
    return 0;
}

/* ---- warm start ---------------------------------------------------------------------- */

int rt_ckpt_warm_start(const char *from, rt_vars *vs, const char *pattern, int *nvars,
                       int64_t *from_step, es_status *st)
{
    *nvars = 0;
    if (!pattern) pattern = ".*";
    regex_t re;
    size_t pl = strlen(pattern);
    char *anchored = es_xmalloc(pl + 8);
    snprintf(anchored, pl + 8, "^(%s)", pattern);
    int err = regcomp(&re, anchored, REG_EXTENDED | REG_NOSUB);
    free(anchored);
    if (err) {
        char why[256];
        regerror(err, &re, why, sizeof why);
        return es_fail(st, ES_EINVAL, "warm_start_vars \"%s\" is not a regular expression: %s", pattern, why);
    }
    ckpt_file cf;
    char *fpath = NULL;
    rt_ckpt_meta found;
    memset(&found, 0, sizeof found);
    struct stat sb;
    int rc = -1;
    if (stat(from, &sb) == 0 && S_ISREG(sb.st_mode)) {
        if (ckpt_open(from, &cf, st) < 0) goto out;
        fpath = es_xstrdup(from);
    } else {
        int r = open_newest(from, &cf, &fpath, &found, st);
        if (r == 0) es_fail(st, ES_EIO, "warm_start_from %s: no checkpoint there", from);
        if (r <= 0) goto out;
    }
    /* check every match before copying anything */
    for (int pass = 0; pass < 2; pass++) {
        for (int i = 0; i < vs->n; i++) {
            rt_var *v = &vs->v[i];
            if (!v->trainable || regexec(&re, v->name, 0, NULL, 0) != 0) continue;
            const tinfo *t = find_tensor(&cf, v->name);
            if (pass == 0) {
                if (!t) {
                    es_fail(st, ES_EMODEL, "warm_start_from %s: variable %s is not in the checkpoint %s",
                            from, v->name, fpath);
                    goto done;
                }
                if (!shape_matches(t, v->shape) || strcmp(t->dtype, "F32") != 0) {
                    char here[128], there[128];
                    vshape_text(v->shape, here, sizeof here);
                    tshape_text(t, there, sizeof there);
                    es_fail(st, ES_EMODEL, "warm_start_from %s: variable %s has shape %s here but %s %s in %s",
                            from, v->name, here, t->dtype, there, fpath);
                    goto done;
                }
            } else {
                if (v->numel) memcpy(v->data, cf.data + t->begin, (size_t)v->numel * sizeof(float));
                (*nvars)++;
            }
        }
    }
    if (*nvars == 0) {
        es_fail(st, ES_EINVAL, "warm_start_vars \"%s\" matches no trainable variable of this model", pattern);
        goto done;
    }
    if (from_step) *from_step = cf.meta.global_step;
    rc = 0;
done:
    ckpt_close(&cf);
out:
    free(fpath);
    regfree(&re);
    return rc;
}

/* ---- the training lock, leftovers ------------------------------------------------------ */

int rt_ckpt_lock(const char *model_dir, es_status *st)
{
    if (es_mkdirs(model_dir, st) < 0) return -1;
    char *path = join(model_dir, ".estc.lock");
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0) {
        es_fail(st, ES_EIO, "cannot open %s: %s", path, strerror(errno));
        free(path);
        return -1;
    }
    if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
        int e = errno;
        close(fd);
        if (e == EWOULDBLOCK)
            es_fail(st, ES_EIO, "model_dir %s is being trained by another process (it holds %s)", model_dir, path);
        else
            es_fail(st, ES_EIO, "cannot lock %s: %s", path, strerror(e));
        free(path);
        return -1;
    }
    free(path);
    return fd;
}

void rt_ckpt_unlock(int fd)
{
    if (fd >= 0) close(fd);   /* closing releases the flock */
}

/* Two kinds of leftovers, both from a writer killed mid-save, removed with the
 * lock held (so no live writer owns them): es_write_file_atomic's temporaries
 * "<name>.tmp.<pid>", and checkpoint files a readable index does not list (a
 * save killed after its rename but before the index update, or an index
 * update killed before it deleted the files it dropped). Without a readable
 * index nothing but temporaries is touched. */
void rt_ckpt_clean(const char *model_dir)
{
    ckpt_index ix;
    es_status ist = { 0 };
    if (index_read(model_dir, &ix, &ist) == 1) {
        name_step *files;
        int nf;
        scan_dir(model_dir, &files, &nf);
        for (int i = 0; i < nf; i++) {
            int listed = !strcmp(files[i].name, ix.latest);
            for (int k = 0; k < ix.n && !listed; k++) listed = !strcmp(files[i].name, ix.all[k]);
            if (listed) continue;
            char *p = join(model_dir, files[i].name);
            unlink(p);
            free(p);
        }
        free_names(files, nf);
        index_free(&ix);
    }

    DIR *d = opendir(model_dir);
    if (!d) return;
    struct dirent *e;
    while ((e = readdir(d))) {
        const char *t = strstr(e->d_name, ".tmp.");
        if (!t) continue;
        size_t base = (size_t)(t - e->d_name);
        int ours = (base == strlen(RT_CKPT_INDEX) && !strncmp(e->d_name, RT_CKPT_INDEX, base));
        if (!ours) {
            char nm[256];
            if (base >= sizeof nm) continue;
            memcpy(nm, e->d_name, base);
            nm[base] = 0;
            ours = ckpt_name_step(nm) >= 0;
        }
        const char *pid = t + 5;
        if (!*pid) ours = 0;
        for (const char *q = pid; *q && ours; q++) ours = *q >= '0' && *q <= '9';
        if (!ours) continue;
        char *p = join(model_dir, e->d_name);
        unlink(p);
        free(p);
    }
    closedir(d);
}

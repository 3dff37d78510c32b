/*
 * test_reader.c — rows to encoded examples, and examples to batches.
 *
 * Every expected id is derived here independently: bucket ids by hand from
 * the boundaries, hashes with xxHash's own XXH64 (not through estc), crosses
 * by hashing the key array in the test. Errors are checked word for word with
 * file and line. The stream is checked for determinism, seed sensitivity and
 * "every example exactly once per epoch". The specs are built by hand: this
 * test does not depend on the frontend.
 */
#define _GNU_SOURCE
#include "check.h"
#include "../runtime/runtime.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <xxhash.h>

static char tmpdir[64];
static es_arena *A;

static const char *write_tmp(const char *name, const char *data)
{
    char *p = es_sprintf(A, "%s/%s", tmpdir, name);
    FILE *f = fopen(p, "wb");
    fputs(data, f);
    fclose(f);
    return p;
}

/* ---- building specs by hand --------------------------------------------------- */

static es_source_spec *source(const char *path, const char *sep, int ncols, const char *const *names,
                              const es_coltype *types)
{
    es_source_spec *s = es_alloc(A, sizeof *s);
    s->name = "src";
    s->path = path;
    s->separator = sep;
    s->ncols = ncols;
    s->cols = es_alloc(A, (size_t)ncols * sizeof *s->cols);
    for (int i = 0; i < ncols; i++) { s->cols[i].name = names[i]; s->cols[i].type = types[i]; }
    return s;
}

static es_feature *feature(const char *name, es_feat_kind k, int col)
{
    es_feature *f = es_alloc(A, sizeof *f);
    f->name = name;
    f->kind = k;
    f->column = col;
    f->categorical = k != ES_FEAT_NUMERIC;
    f->width = 1;
    f->num_default = NAN;      /* no default */
    f->default_id = -1;
    return f;
}

static es_feature *bucketized(const char *name, int col, int n, const double *b)
{
    es_feature *f = feature(name, ES_FEAT_BUCKETIZED, col);
    f->nbounds = n;
    f->bounds = (double *)b;
    f->num_buckets = n + 1;
    return f;
}

static es_feature *vocab(const char *name, int col, int n, const char **words, int64_t oov)
{
    es_feature *f = feature(name, ES_FEAT_VOCAB, col);
    f->nvocab = n;
    f->vocab = words;
    f->num_oov = oov;
    f->num_buckets = n + oov;
    return f;
}

static es_feature *hashed(const char *name, int col, int64_t buckets)
{
    es_feature *f = feature(name, ES_FEAT_HASHED, col);
    f->num_buckets = buckets;
    return f;
}

static es_feature *crossed(const char *name, int n, es_feature **in, int64_t buckets)
{
    es_feature *f = feature(name, ES_FEAT_CROSSED, -1);
    f->ncross = n;
    f->cross = es_alloc(A, (size_t)n * sizeof *f->cross);
    memcpy(f->cross, in, (size_t)n * sizeof *in);
    f->num_buckets = buckets;
    return f;
}

static es_spec *spec_of(es_source_spec *src, int nused, es_feature **used)
{
    es_spec *s = es_alloc(A, sizeof *s);
    s->train = s->eval = src;
    s->nfeatures = s->nused = nused;
    s->features = s->used = es_alloc(A, (size_t)(nused ? nused : 1) * sizeof *used);
    if (nused) memcpy(s->used, used, (size_t)nused * sizeof *used);
    s->head = ES_HEAD_BINARY;
    return s;
}

static void label_vocab(es_spec *s, int col, int n, const char **classes, const char *rstrip)
{
    s->label.name = "label";
    s->label.kind = ES_LABEL_CLASS_VOCAB;
    s->label.column = col;
    s->label.n_classes = n;
    s->label.vocab = classes;
    s->label.rstrip = rstrip;
}

static uint64_t xxh(const char *s) { return XXH64(s, strlen(s), 0); }

/* Reads all records of a file into 64-byte slots; returns the count (or -1 with st set). */
static int read_all(const es_spec *spec, const es_source_spec *src, int with_label, void *recs, int max,
                    es_status *st, rt_reader **keep)
{
    es_status_clear(st);
    rt_reader *r = rt_reader_open(spec, src, NULL, with_label, st);
    if (!r) return -1;
    rt_layout l;
    rt_layout_init(&l, spec, A);
    CHECK(l.rec_bytes <= 64, "test records fit 64 bytes");
    int n = 0, k = 0;
    while (n < max && (k = rt_reader_next(r, (char *)recs + (size_t)n * 64, st)) == 1) n++;
    if (k < 0) n = -1;
    if (keep) *keep = r; else rt_reader_close(r);
    return n;
}

/* ---- transforms --------------------------------------------------------------- */

static const char *const COLS[] = { "age", "name", "n", "city", "inc" };
static const es_coltype TYPES[] = { ES_COL_FLOAT, ES_COL_STRING, ES_COL_INT, ES_COL_STRING, ES_COL_STRING };

static void test_transforms(void)
{
    const char *path = write_tmp("t.csv",
        "17, ann, 3, rome, <=50K\n"
        "18, bob, 12, oslo, >50K\n"
        "24.5, cy, 0, paris, >50K.\n"
        "30, dee, 9, ?, <=50K\n"
        "99, ?, -1, rome, >50K\n");
    es_source_spec *src = source(path, ", ", 5, COLS, TYPES);
    src->missing = "?";
    static const double bounds[] = { 18, 25, 30 };
    static const char *cities[] = { "paris", "rome" };
    static const char *classes[] = { "<=50K", ">50K" };
    es_feature *age = feature("age", ES_FEAT_NUMERIC, 0);
    es_feature *age_b = bucketized("age_b", 0, 3, bounds);
    es_feature *city = vocab("city", 3, 2, cities, 0);
    es_feature *city_oov = vocab("city_oov", 3, 2, cities, 3);
    es_feature *n_id = feature("n_id", ES_FEAT_IDENTITY, 2);
    n_id->num_buckets = 10;
    n_id->default_id = 7;
    es_feature *name_h = hashed("name_h", 1, 100);
    es_feature *in1[] = { city, name_h };
    es_feature *cross = crossed("city_x_name", 2, in1, 50);
    /* a raw string column in a cross: a hidden hashed feature with no buckets */
    es_feature *hidden = hashed("name_raw", 1, 0);
    es_feature *in2[] = { age_b, hidden };
    es_feature *cross2 = crossed("age_x_name", 2, in2, 1000);
    es_feature *used[] = { age, age_b, city, city_oov, n_id, name_h, cross, cross2 };
    es_spec *spec = spec_of(src, 8, used);
    label_vocab(spec, 4, 2, classes, ".");

    rt_layout l;
    rt_layout_init(&l, spec, A);
    CHECK(l.ncat == 7 && l.ndense == 1 && l.label_is_class && l.rec_bytes == 9 * 4,
          "layout: 7 ids, 1 float, an int label");
    CHECK(l.offset[0] == 0 && l.offset[1] == 0 && l.offset[2] == 1 && l.offset[7] == 6,
          "layout offsets follow spec->used");

    char recs[8][64];
    es_status st;
    rt_reader *r;
    int n = read_all(spec, src, 1, recs, 8, &st, &r);
    CHECK(n == 5, "5 rows encoded, got %d (%s)", n, st.msg);
    if (n != 5) { if (r) rt_reader_close(r); return; }
    CHECK(rt_reader_rows(r) == 5 && rt_reader_skipped(r) == 0, "rows and skipped counters");
    rt_reader_close(r);

    struct {
        float age; int32_t age_b, city, city_oov, n_id; const char *name, *cityname; int32_t label;
    } want[] = {
        { 17, 0, 1, 1, 3, "ann", "rome", 0 },
        { 18, 1, -1, -2, 7, "bob", "oslo", 1 },     /* city_oov filled below; 12 is out of range */
        { 24.5f, 1, 0, 0, 0, "cy", "paris", 1 },    /* label ">50K." with rstrip "." */
        { 30, 3, -1, -1, 9, "dee", NULL, 0 },       /* missing city: no id */
        { 99, 3, 1, 1, 7, NULL, "rome", 1 },        /* missing name; n = -1 out of range */
    };
    want[1].city_oov = (int32_t)(2 + xxh("oslo") % 3);
    for (int i = 0; i < 5; i++) {
        const int32_t *ids = (const int32_t *)recs[i];
        const float *dense = (const float *)(recs[i] + 7 * 4);
        int32_t label;
        memcpy(&label, recs[i] + 8 * 4, 4);
        CHECK(dense[0] == want[i].age, "row %d: numeric age %g, want %g", i, dense[0], want[i].age);
        CHECK(ids[0] == want[i].age_b, "row %d: bucketized age id %d, want %d", i, ids[0], want[i].age_b);
        CHECK(ids[1] == want[i].city, "row %d: vocabulary id %d, want %d", i, ids[1], want[i].city);
        CHECK(ids[2] == want[i].city_oov, "row %d: vocabulary with OOV buckets id %d, want %d", i, ids[2], want[i].city_oov);
        CHECK(ids[3] == want[i].n_id, "row %d: identity id %d, want %d", i, ids[3], want[i].n_id);
        int32_t h = want[i].name ? (int32_t)(xxh(want[i].name) % 100) : -1;
        CHECK(ids[4] == h, "row %d: hashed id %d, want XXH64 %% 100 = %d", i, ids[4], h);
        int32_t x = -1;
        if (want[i].city >= 0 && want[i].name) {
            uint64_t keys[2] = { (uint64_t)want[i].city, xxh(want[i].name) };
            x = (int32_t)(XXH64(keys, sizeof keys, 0) % 50);
        }
        CHECK(ids[5] == x, "row %d: crossed id %d, want %d", i, ids[5], x);
        int32_t x2 = -1;
        if (want[i].name) {
            uint64_t keys[2] = { (uint64_t)want[i].age_b, xxh(want[i].name) };
            x2 = (int32_t)(XXH64(keys, sizeof keys, 0) % 1000);
        }
        CHECK(ids[6] == x2, "row %d: cross with a raw string column id %d, want %d", i, ids[6], x2);
        CHECK(label == want[i].label, "row %d: label %d, want %d", i, label, want[i].label);
    }
}

/* ---- defaults and errors ---------------------------------------------------------- */

static void expect_fail(const char *what, const es_spec *spec, const es_source_spec *src, int with_label,
                        const char *msg)
{
    char recs[8][64];
    es_status st;
    int n = read_all(spec, src, with_label, recs, 8, &st, NULL);
    CHECK(n == -1, "%s: expected an error, got %d rows", what, n);
    CHECK(strcmp(st.msg, msg) == 0, "%s: message\n  got  %s\n  want %s", what, st.msg, msg);
}

static void test_defaults_and_errors(void)
{
    static const char *const cols[] = { "age", "income_bracket" };
    static const es_coltype types[] = { ES_COL_FLOAT, ES_COL_STRING };
    static const char *classes[] = { "<=50K", ">50K" };
    const char *p1 = write_tmp("d.csv", "40,>50K\n?,<=50K\n,>50K\n");
    es_source_spec *src = source(p1, ",", 2, cols, types);
    src->missing = "?";
    es_feature *age = feature("age", ES_FEAT_NUMERIC, 0);
    es_spec *spec = spec_of(src, 1, &age);
    label_vocab(spec, 1, 2, classes, NULL);

    expect_fail("a missing numeric value without any default", spec, src, 1,
                es_sprintf(A, "%s:2: column age: the value is missing and neither the column nor feature age has a default", p1));
    age->num_default = 5;
    char recs[8][64];
    es_status st;
    int n = read_all(spec, src, 1, recs, 8, &st, NULL);
    CHECK(n == 3 && ((float *)recs[1])[0] == 5 && ((float *)recs[2])[0] == 5,
          "missing token and empty field take the feature's num_default");
    src->cols[0].has_default = 1;
    src->cols[0].num_default = -2;
    n = read_all(spec, src, 1, recs, 8, &st, NULL);
    CHECK(n == 3 && ((float *)recs[0])[0] == 40 && ((float *)recs[1])[0] == -2,
          "the column default wins over the feature's");

    const char *p2 = write_tmp("e.csv", "40,>50K\n41\n");
    src->path = p2;
    expect_fail("wrong field count", spec, src, 1, es_sprintf(A, "%s:2: expected 2 fields, found 1", p2));
    const char *p3 = write_tmp("f.csv", "40,>50K\nabc,>50K\n");
    src->path = p3;
    expect_fail("a float that does not parse", spec, src, 1,
                es_sprintf(A, "%s:2: column age: cannot parse \"abc\" as a float", p3));
    const char *p3b = write_tmp("f2.csv", "40x,>50K\n");
    src->path = p3b;
    expect_fail("trailing junk after a number", spec, src, 1,
                es_sprintf(A, "%s:1: column age: cannot parse \"40x\" as a float", p3b));
    const char *p4 = write_tmp("g.csv", "40,>50K\n\n# x\n41,>60K\n");
    src->path = p4;
    src->comment = "#";
    expect_fail("an unknown label", spec, src, 1,
                es_sprintf(A, "%s:4: column income_bracket: label \">60K\" is not one of \"<=50K\", \">50K\"", p4));
    n = read_all(spec, src, 0, recs, 8, &st, NULL);
    int32_t lab;
    memcpy(&lab, recs[1] + 4, 4);
    CHECK(n == 2 && lab == -1, "with_label = 0: an unknown label reads as -1 (n=%d, label=%d)", n, lab);

    /* bad_rows = skip: the same bad rows are counted, not fatal */
    const char *p5 = write_tmp("h.csv", "1,>50K\nx,>50K\n2,<=50K\n3\n4,>50K\n5,maybe\n");
    src->path = p5;
    src->bad_rows = ES_BAD_ROWS_SKIP;
    rt_reader *r;
    n = read_all(spec, src, 1, recs, 8, &st, &r);
    CHECK(n == 3, "bad_rows = skip keeps the 3 good rows, got %d (%s)", n, st.msg);
    CHECK(r && rt_reader_skipped(r) == 3, "and counts 3 skipped rows");
    CHECK(n == 3 && ((float *)recs[0])[0] == 1 && ((float *)recs[1])[0] == 2 && ((float *)recs[2])[0] == 4,
          "the good rows come through in order");
    rt_reader_close(r);
    src->bad_rows = ES_BAD_ROWS_ERROR;

    /* int columns */
    static const char *const icols[] = { "k", "y" };
    static const es_coltype itypes[] = { ES_COL_INT, ES_COL_INT };
    const char *p6 = write_tmp("i.csv", "3,1\n2.5,0\n");
    es_source_spec *isrc = source(p6, ",", 2, icols, itypes);
    es_feature *k = feature("k", ES_FEAT_IDENTITY, 0);
    k->num_buckets = 5;
    es_spec *ispec = spec_of(isrc, 1, &k);
    ispec->label = (es_label_spec){ .name = "y", .kind = ES_LABEL_CLASS_INT, .column = 1, .n_classes = 2 };
    expect_fail("an int column given a float", ispec, isrc, 1,
                es_sprintf(A, "%s:2: column k: cannot parse \"2.5\" as an int", p6));
    const char *p7 = write_tmp("j.csv", "3,1\n4,2\n");
    isrc->path = p7;
    expect_fail("a class id out of range", ispec, isrc, 1,
                es_sprintf(A, "%s:2: column y: label 2 is not a class id in [0, 2)", p7));

    /* types are checked at open, not assumed */
    es_feature *bad = hashed("h", 0, 10);
    es_spec *bspec = spec_of(src, 1, &bad);
    label_vocab(bspec, 1, 2, classes, NULL);
    es_status_clear(&st);
    CHECK(rt_reader_open(bspec, src, NULL, 1, &st) == NULL &&
          strcmp(st.msg, "feature h needs a string column, but column age is a float") == 0,
          "hashed over a float column is refused at open: %s", st.msg);
}

static void test_label_options(void)
{
    static const char *const cols[] = { "y" };
    static const es_coltype types[] = { ES_COL_STRING };
    static const char *classes[] = { "no", "yes" };
    static const char *from[] = { "Y", "n" };
    static const char *to[] = { "yes", "NO" };
    const char *p = write_tmp("l.csv", "YES\ny\nN\nno!.\n");
    es_source_spec *src = source(p, ",", 1, cols, types);
    es_spec *spec = spec_of(src, 0, NULL);
    label_vocab(spec, 0, 2, classes, "!.");
    spec->label.lowercase = 1;
    spec->label.nalias = 2;
    spec->label.alias_from = from;
    spec->label.alias_to = to;
    char recs[8][64];
    es_status st;
    int n = read_all(spec, src, 1, recs, 8, &st, NULL);
    int32_t y[4] = { -9, -9, -9, -9 };
    for (int i = 0; i < n && i < 4; i++) memcpy(&y[i], recs[i], 4);
    CHECK(n == 4 && y[0] == 1 && y[1] == 1 && y[2] == 0 && y[3] == 0,
          "lowercase, aliases and rstrip of several characters: got %d rows %d %d %d %d (%s)",
          n, y[0], y[1], y[2], y[3], st.msg);

    static const char *const rcols[] = { "x", "y" };
    static const es_coltype rtypes[] = { ES_COL_FLOAT, ES_COL_FLOAT };
    const char *p2 = write_tmp("r.csv", "1,2.5\n2,-1\n");
    es_source_spec *rsrc = source(p2, ",", 2, rcols, rtypes);
    es_feature *x = feature("x", ES_FEAT_NUMERIC, 0);
    es_spec *rspec = spec_of(rsrc, 1, &x);
    rspec->head = ES_HEAD_REGRESSION;
    rspec->label = (es_label_spec){ .name = "y", .kind = ES_LABEL_NUMERIC, .column = 1 };
    n = read_all(rspec, rsrc, 1, recs, 8, &st, NULL);
    float ry[2];
    memcpy(&ry[0], recs[0] + 4, 4);
    memcpy(&ry[1], recs[1] + 4, 4);
    CHECK(n == 2 && ry[0] == 2.5f && ry[1] == -1.0f, "a numeric label is a float");

    /* header names checked against the schema */
    const char *p3 = write_tmp("hd.csv", "y,x\n1,2\n");
    rsrc->path = p3;
    rsrc->header = 1;
    es_status_clear(&st);
    CHECK(rt_reader_open(rspec, rsrc, NULL, 1, &st) == NULL &&
          strcmp(st.msg, es_sprintf(A, "%s:1: the header names column 1 \"y\" but source src calls it \"x\" "
                                    "(columns are matched by position: check their order)", p3)) == 0,
          "a header that disagrees with the schema: %s", st.msg);
}

/* ---- statistics ------------------------------------------------------------------------ */

static void test_stats(void)
{
    static const char *const cols[] = { "a", "c", "s", "y" };
    static const es_coltype types[] = { ES_COL_FLOAT, ES_COL_INT, ES_COL_STRING, ES_COL_INT };
    const char *p = write_tmp("s.csv", "1,7,u,0\n2,7,v,1\n3,7,u,0\n10,7,w,1\n");
    es_source_spec *src = source(p, ",", 4, cols, types);
    es_feature *a = feature("a", ES_FEAT_NUMERIC, 0);
    a->norm = ES_NORM_ZSCORE;
    es_feature *c = feature("c", ES_FEAT_NUMERIC, 1);
    c->norm = ES_NORM_MINMAX;
    es_feature *s = hashed("s", 2, 10);
    es_feature *used[] = { s, a, c };
    es_spec *spec = spec_of(src, 3, used);
    spec->label = (es_label_spec){ .name = "y", .kind = ES_LABEL_CLASS_INT, .column = 3, .n_classes = 2 };
    rt_stats out[3];
    es_status st;
    es_status_clear(&st);
    CHECK(rt_compute_stats(spec, NULL, out, &st) == 0, "stats pass: %s", st.msg);
    /* by hand: a = 1,2,3,10: mean 4, deviations -3,-2,-1,6, squares sum 50, population var 12.5 */
    CHECK(out[1].count == 4 && check_close(out[1].mean, 4.0, 1e-12, 0), "mean of a is 4, got %g", out[1].mean);
    CHECK(check_close(out[1].std, sqrt(12.5), 1e-12, 0), "population std of a is sqrt(12.5), got %g", out[1].std);
    CHECK(out[1].min == 1 && out[1].max == 10, "min/max of a");
    CHECK(out[2].count == 4 && out[2].mean == 7 && out[2].std == 1 && out[2].min == 7 && out[2].max == 7,
          "a constant column reports std 1 (not 0), so zscore never divides by zero");
    CHECK(out[0].count == 0, "no statistics for a categorical feature");
}

/* ---- the stream ---------------------------------------------------------------------- */

enum { NROWS = 103 };

static es_spec *stream_spec(const char **path_out)
{
    static const char *const cols[] = { "i", "v", "y" };
    static const es_coltype types[] = { ES_COL_INT, ES_COL_FLOAT, ES_COL_FLOAT };
    char *text = es_alloc(A, NROWS * 40);
    size_t o = 0;
    for (int i = 0; i < NROWS; i++) o += (size_t)sprintf(text + o, "%d,%d.5,%d\n", i, i, 2 * i);
    const char *p = write_tmp("stream.csv", text);
    es_source_spec *src = source(p, ",", 3, cols, types);
    es_feature *id = feature("i", ES_FEAT_IDENTITY, 0);
    id->num_buckets = 1000;
    es_feature *v = feature("v", ES_FEAT_NUMERIC, 1);
    es_feature *used[] = { id, v };
    es_spec *spec = spec_of(src, 2, used);
    spec->head = ES_HEAD_REGRESSION;
    spec->label = (es_label_spec){ .name = "y", .kind = ES_LABEL_NUMERIC, .column = 2 };
    *path_out = p;
    return spec;
}

/* Runs a stream to the end; returns the ids in order (count in *n). */
static int *run_stream(const es_spec *spec, int64_t bs, int64_t epochs, int64_t shuf, uint64_t seed,
                       int *n, int *nbatches, int *last, int *consistent)
{
    es_status st;
    es_status_clear(&st);
    rt_stream *s = rt_stream_open(spec, spec->train, NULL, 1, bs, epochs, shuf, seed, &st);
    CHECK(s != NULL, "stream open: %s", st.msg);
    int *ids = es_alloc(A, (size_t)(NROWS * (epochs > 0 ? epochs : 1)) * sizeof *ids);
    *n = *nbatches = *last = 0;
    *consistent = 1;
    rt_batch b;
    int k;
    while (s && (k = rt_stream_next(s, &b, &st)) == 1) {
        (*nbatches)++;
        *last = (int)b.n;
        const int32_t *bi = b.feat[0];
        const float *bv = b.feat[1], *by = b.label;
        for (int64_t j = 0; j < b.n; j++) {
            if (bv[j] != (float)bi[j] + 0.5f || by[j] != 2.0f * (float)bi[j]) *consistent = 0;
            ids[(*n)++] = bi[j];
        }
    }
    if (s) {
        CHECK(k == 0, "stream ends cleanly: %s", st.msg);
        CHECK(rt_stream_next(s, &b, &st) == 0, "and stays ended");
        rt_stream_close(s);
    }
    return ids;
}

static int is_permutation(const int *ids, int n)
{
    char seen[NROWS] = { 0 };
    for (int i = 0; i < n; i++) {
        if (ids[i] < 0 || ids[i] >= NROWS || seen[ids[i]]) return 0;
        seen[ids[i]] = 1;
    }
    return n == NROWS;
}

static void test_stream(void)
{
    const char *path;
    es_spec *spec = stream_spec(&path);
    int n, nb, last, ok;

    int *plain = run_stream(spec, 10, 1, 0, 1, &n, &nb, &last, &ok);
    int inorder = n == NROWS;
    for (int i = 0; i < n; i++) if (plain[i] != i) inorder = 0;
    CHECK(inorder, "shuffle_buffer 0 keeps file order");
    CHECK(nb == 11 && last == 3, "103 rows in batches of 10: 11 batches, the last of 3 (got %d, %d)", nb, last);
    CHECK(ok, "features and label of one example stay together in a batch");

    int *a = run_stream(spec, 10, 3, 16, 42, &n, &nb, &last, &ok);
    CHECK(n == 3 * NROWS, "3 epochs give 309 examples, got %d", n);
    CHECK(nb == 31 && last == 9, "batches span epochs: 30 full batches and one of 9 (got %d, last %d)", nb, last);
    CHECK(ok, "examples stay whole through the shuffle buffer");
    for (int e = 0; e < 3; e++)
        CHECK(is_permutation(a + e * NROWS, NROWS), "epoch %d holds every example exactly once", e);
    int moved = 0, differ = 0;
    for (int i = 0; i < NROWS; i++) { moved += a[i] != i; differ += a[i] != a[NROWS + i]; }
    CHECK(moved > NROWS / 2, "a buffer of 16 shuffles (only %d of 103 moved)", moved);
    CHECK(differ > 0, "epochs are shuffled differently (the generator continues)");
    /* a buffer of 16 cannot move an example earlier than 15 places before its row */
    int bounded = 1;
    for (int i = 0; i < NROWS; i++) if (a[i] > i + 15) bounded = 0;
    CHECK(bounded, "tf.data's buffer: output i can only be one of the first i + 16 rows");

    int *b = run_stream(spec, 7, 3, 16, 42, &n, &nb, &last, &ok);
    CHECK(memcmp(a, b, 3 * NROWS * sizeof *a) == 0, "the same seed gives the same order (batch size aside)");
    int *c = run_stream(spec, 10, 3, 16, 43, &n, &nb, &last, &ok);
    CHECK(memcmp(a, c, 3 * NROWS * sizeof *a) != 0, "another seed gives another order");
    int *d = run_stream(spec, 64, 2, 100000, 5, &n, &nb, &last, &ok);
    CHECK(n == 2 * NROWS && is_permutation(d, NROWS) && is_permutation(d + NROWS, NROWS),
          "a buffer larger than the file is a full shuffle of each epoch");

    es_status st;
    es_status_clear(&st);
    CHECK(rt_stream_open(spec, spec->train, "/nonexistent.csv", 1, 10, 1, 0, 1, &st) == NULL &&
          strstr(st.msg, "cannot open /nonexistent.csv"), "a bad path fails at open: %s", st.msg);
}

/* ---- the real census files ---------------------------------------------------------- */

static const char *const ADULT[] = { "age", "workclass", "fnlwgt", "education", "education_num",
    "marital_status", "occupation", "relationship", "race", "gender", "capital_gain",
    "capital_loss", "hours_per_week", "native_country", "income_bracket" };

static void test_adult(void)
{
    es_coltype types[15];
    for (int i = 0; i < 15; i++) types[i] = ES_COL_STRING;
    int numeric[] = { 0, 2, 4, 10, 11, 12 };
    for (size_t i = 0; i < ES_ARRAY_LEN(numeric); i++) types[numeric[i]] = ES_COL_FLOAT;
    static const char *classes[] = { "<=50K", ">50K" };
    static const double ages[] = { 18, 25, 30, 35, 40, 45, 50, 55, 60, 65 };
    static const char *wc[] = { "Self-emp-not-inc", "Private", "State-gov", "Federal-gov", "Local-gov",
                                "Self-emp-inc", "Without-pay", "Never-worked" };
    struct { const char *file; int skip; int rows, neg, pos; } cases[] = {
        { "examples/census/data/adult.data", 0, 32561, 24720, 7841 },
        { "examples/census/data/adult.test", 1, 16281, 12435, 3846 },
    };
    for (size_t k = 0; k < ES_ARRAY_LEN(cases); k++) {
        es_source_spec *src = source(check_src(cases[k].file), ", ", 15, ADULT, types);
        src->missing = "?";
        src->skip_rows = cases[k].skip;
        es_feature *age = feature("age", ES_FEAT_NUMERIC, 0);
        age->norm = ES_NORM_ZSCORE;
        es_feature *age_b = bucketized("age_b", 0, 10, ages);
        es_feature *work = vocab("workclass", 1, 8, wc, 1);
        es_feature *occ = hashed("occupation", 6, 1000);
        es_feature *in[] = { age_b, occ };
        es_feature *x = crossed("age_x_occ", 2, in, 1000);
        es_feature *used[] = { age, age_b, work, occ, x };
        es_spec *spec = spec_of(src, 5, used);
        label_vocab(spec, 14, 2, classes, ".");

        es_status st;
        es_status_clear(&st);
        rt_reader *r = rt_reader_open(spec, src, NULL, 1, &st);
        CHECK(r != NULL, "%s: open: %s", cases[k].file, st.msg);
        if (!r) continue;
        char rec[64];
        int rows = 0, cnt[2] = { 0, 0 }, noocc = 0, nox = 0, kk;
        while ((kk = rt_reader_next(r, rec, &st)) == 1) {
            int32_t y, ids[4];
            memcpy(&y, rec + 5 * 4, 4);
            memcpy(ids, rec, sizeof ids);
            rows++;
            if (y == 0 || y == 1) cnt[y]++;
            noocc += ids[2] < 0;
            nox += ids[3] < 0;
        }
        CHECK(kk == 0, "%s: read to the end: %s", cases[k].file, st.msg);
        CHECK(rows == cases[k].rows, "%s: %d rows, want %d", cases[k].file, rows, cases[k].rows);
        CHECK(cnt[0] == cases[k].neg && cnt[1] == cases[k].pos, "%s: labels %d/%d, want %d/%d",
              cases[k].file, cnt[0], cnt[1], cases[k].neg, cases[k].pos);
        CHECK(noocc > 0 && noocc == nox, "%s: a missing occupation ('?') has no id and neither has its cross",
              cases[k].file);
        rt_reader_close(r);

        if (k == 0) {
            /* the stats pass against a plain two-pass computation over the raw text */
            rt_stats stats[5];
            CHECK(rt_compute_stats(spec, NULL, stats, &st) == 0, "adult stats: %s", st.msg);
            es_source_spec *raw = source(check_src(cases[k].file), ", ", 15, ADULT, types);
            rt_csv *c = rt_csv_open(raw, NULL, &st);
            double sum = 0, sq = 0;
            long cntr = 0;
            int nf;
            char **f;
            while (rt_csv_next(c, &nf, &f, &st) == 1) { sum += atof(f[0]); cntr++; }
            rt_csv_close(c);
            double mean = sum / (double)cntr;
            c = rt_csv_open(raw, NULL, &st);
            while (rt_csv_next(c, &nf, &f, &st) == 1) sq += (atof(f[0]) - mean) * (atof(f[0]) - mean);
            rt_csv_close(c);
            CHECK(stats[0].count == cntr && check_close(stats[0].mean, mean, 1e-12, 0) &&
                  check_close(stats[0].std, sqrt(sq / (double)cntr), 1e-10, 0) &&
                  stats[0].min == 17 && stats[0].max == 90,
                  "adult age: mean %.6f std %.6f min %g max %g vs two-pass %.6f %.6f",
                  stats[0].mean, stats[0].std, stats[0].min, stats[0].max, mean, sqrt(sq / (double)cntr));
        }
    }
}

/* ---- multivalent and weighted columns ---------------------------------------------- */

static es_feature *multi(es_feature *f, int m)
{
    f->max_values = m;
    f->value_separator = "|";
    return f;
}

static void test_multivalent(void)
{
    static const char *const cols[] = { "tags", "w", "nums", "y" };
    static const es_coltype types[] = { ES_COL_STRING, ES_COL_STRING, ES_COL_STRING, ES_COL_STRING };
    static const char *words[] = { "a", "b", "c" };
    static const char *classes[] = { "no", "yes" };
    /* row 2: spaces trimmed, the empty value after the last "|" skipped, "zz" unknown
     * (no id, so its weight is stored as 0); row 3: both fields missing */
    const char *p = write_tmp("mv.csv", "a|b,0.5|2,3|1,yes\nc| zz |,1|2.5,,no\n,,7,yes\n");
    es_source_spec *src = source(p, ",", 4, cols, types);
    es_feature *tags = multi(vocab("tags", 0, 3, words, 0), 3);
    es_feature *wt = feature("wt", ES_FEAT_WEIGHTED, 1);
    wt->of = tags;
    wt->max_values = 3;
    wt->value_separator = "|";
    wt->num_buckets = 3;
    es_feature *h = multi(hashed("h", 0, 100), 3);
    es_feature *ids = multi(feature("ids", ES_FEAT_IDENTITY, 2), 2);
    ids->num_buckets = 5;
    es_feature *used[] = { tags, wt, h, ids };
    es_spec *spec = spec_of(src, 4, used);
    label_vocab(spec, 3, 2, classes, NULL);
    rt_layout l;
    rt_layout_init(&l, spec, A);
    CHECK(l.ncat == 3 + 3 + 2 && l.ndense == 3, "layout: %d id slots (want 8), %d floats (want 3)", l.ncat, l.ndense);
    char recs[8][64];
    es_status st;
    int n = read_all(spec, src, 1, recs, 8, &st, NULL);
    CHECK(n == 3, "three multivalent rows: %d (%s)", n, st.msg);
    if (n != 3) return;
    int32_t hb = (int32_t)(xxh("b") % 100), ha = (int32_t)(xxh("a") % 100), hc = (int32_t)(xxh("c") % 100),
            hz = (int32_t)(xxh("zz") % 100);
    const int32_t want_tags[3][3] = { { 0, 1, -1 }, { 2, -1, -1 }, { -1, -1, -1 } };
    const int32_t want_h[3][3] = { { ha, hb, -1 }, { hc, hz, -1 }, { -1, -1, -1 } };
    const int32_t want_ids[3][2] = { { 3, 1 }, { -1, -1 }, { -1, -1 } };   /* 7 >= 5 buckets: default -1 */
    const float want_w[3][3] = { { 0.5f, 2, 0 }, { 1, 0, 0 }, { 0, 0, 0 } };
    const int32_t want_y[3] = { 1, 0, 1 };
    for (int r = 0; r < 3; r++) {
        const int32_t *ri = (const int32_t *)recs[r];
        const float *rd = (const float *)(recs[r] + l.ncat * 4);
        int32_t y;
        memcpy(&y, recs[r] + (l.ncat + l.ndense) * 4, 4);
        for (int k = 0; k < 3; k++) {
            CHECK(ri[l.offset[0] + k] == want_tags[r][k], "row %d tags[%d] = %d, want %d", r, k,
                  ri[l.offset[0] + k], want_tags[r][k]);
            CHECK(rd[l.offset[1] + k] == want_w[r][k], "row %d weight[%d] = %g, want %g", r, k,
                  rd[l.offset[1] + k], want_w[r][k]);
            CHECK(ri[l.offset[2] + k] == want_h[r][k], "row %d hashed[%d] = %d, want %d", r, k,
                  ri[l.offset[2] + k], want_h[r][k]);
        }
        for (int k = 0; k < 2; k++)
            CHECK(ri[l.offset[3] + k] == want_ids[r][k], "row %d identity[%d] = %d, want %d", r, k,
                  ri[l.offset[3] + k], want_ids[r][k]);
        CHECK(y == want_y[r], "row %d label %d, want %d", r, y, want_y[r]);
    }

    /* batch assembly: ids [B, M] and weights [B, M], example after example */
    es_status_clear(&st);
    rt_stream *sm = rt_stream_open(spec, src, NULL, 1, 3, 1, 0, 1, &st);
    CHECK(sm != NULL, "stream open: %s", st.msg);
    rt_batch b;
    if (sm && rt_stream_next(sm, &b, &st) == 1) {
        CHECK(b.n == 3, "one batch of 3, got %lld", (long long)b.n);
        const int32_t *bt = b.feat[0], *bh = b.feat[2], *bid = b.feat[3];
        const float *bw = b.feat[1];
        for (int r = 0; r < 3 && r < b.n; r++) {
            for (int k = 0; k < 3; k++) {
                CHECK(bt[r * 3 + k] == want_tags[r][k], "batch tags[%d][%d]", r, k);
                CHECK(bw[r * 3 + k] == want_w[r][k], "batch weights[%d][%d]", r, k);
                CHECK(bh[r * 3 + k] == want_h[r][k], "batch hashed[%d][%d]", r, k);
            }
            for (int k = 0; k < 2; k++) CHECK(bid[r * 2 + k] == want_ids[r][k], "batch identity[%d][%d]", r, k);
        }
    } else {
        CHECK(0, "stream gives a batch: %s", st.msg);
    }
    rt_stream_close(sm);

    /* row errors */
    const char *p2 = write_tmp("mv_many.csv", "a|b|c|a,1|1|1|1,1,yes\n");
    expect_fail("too many values", spec, source(p2, ",", 4, cols, types), 1,
                es_sprintf(A, "%s:1: column tags: 4 values, at most 3", p2));
    const char *p3 = write_tmp("mv_count.csv", "a|b,1,1,yes\n");
    expect_fail("weights count", spec, source(p3, ",", 4, cols, types), 1,
                es_sprintf(A, "%s:1: column w: 1 weight for 2 values of column tags", p3));
    const char *p4 = write_tmp("mv_weight.csv", "a|b,1|x,1,yes\n");
    expect_fail("bad weight", spec, source(p4, ",", 4, cols, types), 1,
                es_sprintf(A, "%s:1: column w: weight \"x\" of feature wt is not a finite number", p4));
    const char *p5 = write_tmp("mv_ident.csv", "a,1,1|q,yes\n");
    expect_fail("identity value", spec, source(p5, ",", 4, cols, types), 1,
                es_sprintf(A, "%s:1: column nums: identity feature ids needs integers, found \"q\"", p5));
    /* a cross of a multivalent feature is refused at open */
    es_feature *in2[] = { tags, h };
    es_feature *x = crossed("x", 2, in2, 10);
    es_feature *used2[] = { x };
    es_spec *spec2 = spec_of(src, 1, used2);
    label_vocab(spec2, 3, 2, classes, NULL);
    expect_fail("cross of multivalent", spec2, src, 1, "feature x: cross input tags is multivalent (not supported)");
}

/* ---- records into batches ------------------------------------------------------ */

/* rt_layout_gather of n records, each wherever it lies (here in reverse
 * order), against the layout's words copied one by one; rt_layout_scatter of
 * each too; for every n up to rows, at a row offset. */
static void check_gather(const rt_layout *l, int rows, uint64_t seed, const char *what)
{
    enum { OFF = 5 };
    int nf = l->nfeat;
    es_rng g;
    es_rng_seed(&g, seed);
    unsigned char *recs = es_alloc(A, (size_t)rows * l->rec_bytes);
    for (size_t i = 0; i < (size_t)rows * l->rec_bytes; i++) recs[i] = (unsigned char)es_rng_below(&g, 256);
    void **want = es_alloc(A, (size_t)nf * sizeof *want), **got = es_alloc(A, (size_t)nf * sizeof *got);
    void **one = es_alloc(A, (size_t)nf * sizeof *one);
    const void **at = es_alloc(A, (size_t)rows * sizeof *at);
    int32_t *wl = es_alloc(A, (size_t)(OFF + rows) * 4), *gl = es_alloc(A, (size_t)(OFF + rows) * 4);
    int32_t *ol = es_alloc(A, (size_t)(OFF + rows) * 4);
    for (int r = 0; r < rows; r++) at[r] = recs + (size_t)(rows - 1 - r) * l->rec_bytes;
    int bad = 0;
    for (int n = 0; n <= rows && bad < 4; n++) {
        for (int i = 0; i < nf; i++) {
            size_t bytes = (size_t)(OFF + rows) * (size_t)l->width[i] * 4;
            /* a pattern around the rows: nothing outside them may be written */
            want[i] = memset(es_xmalloc(bytes), 0xa5, bytes);
            got[i] = memset(es_xmalloc(bytes), 0xa5, bytes);
            one[i] = memset(es_xmalloc(bytes), 0xa5, bytes);
            for (int r = 0; r < n; r++)
                memcpy((char *)want[i] + (size_t)(OFF + r) * l->width[i] * 4,
                       (const char *)at[r] + (size_t)l->word[i] * 4, (size_t)l->width[i] * 4);
        }
        memset(wl, 0xa5, (size_t)(OFF + rows) * 4);
        memset(gl, 0xa5, (size_t)(OFF + rows) * 4);
        memset(ol, 0xa5, (size_t)(OFF + rows) * 4);
        for (int r = 0; r < n; r++) {
            memcpy(&wl[OFF + r], (const char *)at[r] + (size_t)(l->ncat + l->ndense) * 4, 4);
            rt_layout_scatter(l, at[r], one, ol, OFF + r);
        }
        rt_layout_gather(l, at, n, got, gl, OFF);
        for (int i = 0; i < nf; i++) {
            size_t bytes = (size_t)(OFF + rows) * (size_t)l->width[i] * 4;
            int ok = memcmp(want[i], got[i], bytes) == 0, ok1 = memcmp(want[i], one[i], bytes) == 0;
            CHECK(ok, "%s, %d records: feature %d differs", what, n, i);
            CHECK(ok1, "%s, %d records one by one: feature %d differs", what, n, i);
            bad += !ok + !ok1;
            free(want[i]);
            free(got[i]);
            free(one[i]);
        }
        CHECK(memcmp(wl, ol, (size_t)(OFF + rows) * 4) == 0, "%s, %d records one by one: the labels differ", what, n);
        CHECK(memcmp(wl, gl, (size_t)(OFF + rows) * 4) == 0, "%s, %d records: labels differ", what, n);
    }
}

/* Two layouts: runs of one-word floats (moved four by four), features wider
 * than a word, ids between the floats; and 40 one-word features, ids and
 * floats alternating, so that the words are not in the features' order
 * (41 words with the label) and the runs of four are broken. */
static void test_gather(void)
{
    static const char *const cols[] = { "c0", "c1", "c2", "c3", "c4", "c5", "c6" };
    static const es_coltype types[] = { ES_COL_FLOAT, ES_COL_FLOAT, ES_COL_FLOAT, ES_COL_FLOAT, ES_COL_FLOAT,
                                        ES_COL_STRING, ES_COL_FLOAT };
    es_source_spec *src = source("unused.csv", ",", 7, cols, types);
    es_feature *used[40];
    for (int i = 0; i < 5; i++) used[i] = feature(cols[i], ES_FEAT_NUMERIC, i);     /* floats 0..4 */
    used[5] = multi(hashed("h", 5, 100), 3);                                      /* 3 ids */
    used[6] = feature("wide", ES_FEAT_NUMERIC, 6);
    used[6]->width = 2;                                                             /* floats 5, 6 */
    for (int i = 7; i < 11; i++) used[i] = feature(cols[i - 7], ES_FEAT_NUMERIC, i - 7);   /* floats 7..10 */
    es_spec *spec = spec_of(src, 11, used);
    spec->label = (es_label_spec){ .name = "y", .kind = ES_LABEL_NUMERIC, .column = 6 };
    rt_layout l;
    rt_layout_init(&l, spec, A);
    CHECK(l.ncat == 3 && l.ndense == 11 && !l.all_width1, "gather layout: %d ids, %d floats", l.ncat, l.ndense);
    check_gather(&l, 19, 11, "wide features");

    for (int i = 0; i < 40; i++)
        used[i] = i % 2 ? feature(es_sprintf(A, "f%d", i), ES_FEAT_NUMERIC, 0) : hashed(es_sprintf(A, "h%d", i), 5, 100);
    spec = spec_of(src, 40, used);
    spec->label = (es_label_spec){ .name = "y", .kind = ES_LABEL_NUMERIC, .column = 6 };
    rt_layout_init(&l, spec, A);
    CHECK(l.ncat == 20 && l.ndense == 20 && l.all_width1 && l.rec_bytes == 41 * 4,
          "one-word layout: %d ids, %d floats, %zu bytes", l.ncat, l.ndense, l.rec_bytes);
    check_gather(&l, 40, 12, "one-word features");
}

/* ---- numbers parsed while splitting == split, then parsed --------------------- */

/* One random field for a column of the given type, in the shapes files hold
 * and some they should not: numbers plain and long, hex and exponents beyond
 * the fast path, blanks around, empty and missing fields, junk. */
static void random_field(es_rng *g, es_coltype t, char *o, int allow_bad)
{
    static const char *const odd_f[] = { "0x1p-3", "1e-320", "123456789012345678901234.5", "1e30", "-0",
                                         "+.5", "5.", "00012.50", "1.5E+3", "2.2250738585072011e-308" };
    static const char *const bad[] = { "12x", "1e", "--1", "1.2.3", "abc", "1e99999", "nan", "12345678901234567890",
                                       "3.5e38", "-1e39" };   /* the last two: beyond a float */
    static const char *const words[] = { "red", "green", "blue", "teal", "a b" };
    const char *pad = es_rng_below(g, 5) == 0 ? (es_rng_below(g, 2) ? " " : "  ") : "";
    uint64_t k = es_rng_below(g, 40);
    if (k == 0) { *o = 0; return; }                    /* empty: missing */
    if (k == 1) { sprintf(o, "%s?%s", pad, pad); return; }
    if (k == 2 && allow_bad) { strcpy(o, bad[es_rng_below(g, ES_ARRAY_LEN(bad))]); return; }
    if (t == ES_COL_STRING) {
        char rnd[24];
        const char *w = words[es_rng_below(g, ES_ARRAY_LEN(words))];
        if (es_rng_below(g, 2)) {      /* many distinct values, alike in length, prefix and suffix */
            int n = 1 + (int)es_rng_below(g, 20);
            for (int i = 0; i < n; i++) rnd[i] = "ab"[es_rng_below(g, 2)];
            rnd[n] = 0;
            w = rnd;
        }
        if (es_rng_below(g, 8) == 0) sprintf(o, "%s\"%s\"%s", pad, w, pad);   /* quoted: the other parser */
        else sprintf(o, "%s%s%s", pad, w, pad);
        return;
    }
    if (t == ES_COL_INT) {
        sprintf(o, "%s%lld%s", pad, (long long)es_rng_below(g, 2000) - 1000, pad);
        if (k == 3) strcpy(o, "-1234567890123456789");           /* past the fast path: strtoll */
        if (k == 4) strcpy(o, "-0");                              /* an int's zero has no sign */
        if (k == 5) strcpy(o, "00042");
        if (k == 6 && allow_bad) strcpy(o, "12.5");               /* no int */
        return;
    }
    double x = (es_rng_uniform(g) - 0.3) * pow(10.0, (double)es_rng_below(g, 12) - 6);
    switch (k % 6) {
    case 0: sprintf(o, "%s%.17g%s", pad, x, pad); break;
    case 1: sprintf(o, "%s%g%s", pad, x, pad); break;
    case 2: sprintf(o, "%s%.2f%s", pad, x, pad); break;
    case 3: sprintf(o, "%s%.4e%s", pad, x, pad); break;
    case 4: sprintf(o, "%s%d%s", pad, (int)x, pad); break;
    default: strcpy(o, odd_f[es_rng_below(g, ES_ARRAY_LEN(odd_f))]); break;
    }
}

/* Reads path both ways; every record, the count, the skipped rows and any
 * error message must agree. */
static void compare_paths(const es_spec *spec, const es_source_spec *src, const char *what, int64_t min_rows)
{
    rt_layout l;
    rt_layout_init(&l, spec, A);
    rt_reader *r[2];
    es_status st[2] = { 0 };
    for (int i = 0; i < 2; i++) {
        r[i] = rt_reader_open(spec, src, NULL, 1, &st[i]);
        CHECK(r[i] != NULL, "%s: open: %s", what, st[i].msg);
        if (!r[i]) return;
    }
    rt_reader_parse_in_split(r[1], 0);
    char *rec[2] = { es_xcalloc(1, l.rec_bytes), es_xcalloc(1, l.rec_bytes) };
    int64_t rows = 0, diffs = 0;
    for (;;) {
        int k0 = rt_reader_next(r[0], rec[0], &st[0]), k1 = rt_reader_next(r[1], rec[1], &st[1]);
        if (k0 != k1 || (k0 == 1 && memcmp(rec[0], rec[1], l.rec_bytes) != 0)) {
            if (diffs++ < 3) CHECK(0, "%s: row %lld differs (%d vs %d; %s / %s)", what, (long long)rows, k0, k1,
                                   st[0].msg, st[1].msg);
            if (k0 != k1) break;
        }
        if (k0 != 1) {
            CHECK(strcmp(st[0].msg, st[1].msg) == 0, "%s: the end differs:\n  %s\n  %s", what, st[0].msg, st[1].msg);
            break;
        }
        rows++;
    }
    CHECK(rt_reader_skipped(r[0]) == rt_reader_skipped(r[1]), "%s: %lld vs %lld rows skipped", what,
          (long long)rt_reader_skipped(r[0]), (long long)rt_reader_skipped(r[1]));
    CHECK(rows >= min_rows, "%s: only %lld rows were read (%s)", what, (long long)rows, st[0].msg);
    for (int i = 0; i < 2; i++) { rt_reader_close(r[i]); free(rec[i]); }
}

static void test_parse_in_split(void)
{
    /* a0..a4, i0..i3: numeric features on consecutive columns of one type
     * (runs, for the split), stored side by side */
    enum { NC = 16 };
    static const char *const cols[NC] = { "f", "g", "n", "s", "t", "unused", "y", "a0", "a1", "a2", "a3", "a4",
                                          "i0", "i1", "i2", "i3" };
    static const es_coltype types[NC] = { ES_COL_FLOAT, ES_COL_FLOAT, ES_COL_INT, ES_COL_STRING, ES_COL_STRING,
                                          ES_COL_FLOAT, ES_COL_FLOAT, ES_COL_FLOAT, ES_COL_FLOAT, ES_COL_FLOAT,
                                          ES_COL_FLOAT, ES_COL_FLOAT, ES_COL_INT, ES_COL_INT, ES_COL_INT, ES_COL_INT };
    /* the last: a missing token that reads as a number must stay missing */
    static const char *const seps[] = { ",", ", ", ";", "\t", " ;", "::", "-", "," };
    static const char *const missing[] = { "?", "?", "?", "?", "?", "?", "?", "-0" };
    static const char *words[] = { "red", "green", "blue" };
    static const double bounds[] = { -1, 0, 0.5, 10 };
    es_rng g;
    es_rng_seed(&g, 31337);
    for (size_t si = 0; si < ES_ARRAY_LEN(seps); si++) {
        /* "-" splits negative numbers: rows go wrong, so only with bad rows skipped */
        for (int bad = seps[si][0] == '-'; bad < 2; bad++) {
            char *text = NULL, field[128];
            size_t textlen = 0;
            FILE *b = open_memstream(&text, &textlen);
            for (int row = 0; row < 3000; row++) {
                int nf = NC;
                if (bad && es_rng_below(&g, 100) == 0) nf = es_rng_below(&g, 2) ? NC - 1 : NC + 1;   /* wrong field count */
                for (int c = 0; c < nf; c++) {
                    random_field(&g, types[c < NC ? c : 0], field, bad);
                    /* a number, then the first byte of a longer separator but not the rest */
                    if (bad && seps[si][1] && es_rng_below(&g, 50) == 0) sprintf(field, "1.5%cx", seps[si][0]);
                    /* with "-", a field holding one (a negative number, an exponent)
                     * splits: nine rows in ten are kept free of them, so that
                     * rows are read too */
                    if (seps[si][0] == '-' && row % 10 != 0 && strchr(field, '-')) strcpy(field, "2");
                    if (!bad && c != 3 && c != 4 &&
                        (field[0] == 0 || strchr(field, '?') || strcmp(field, missing[si]) == 0))
                        strcpy(field, "1");
                    fprintf(b, "%s%s", c ? seps[si] : "", field);
                }
                fputs(es_rng_below(&g, 10) == 0 ? "\r\n" : "\n", b);
            }
            fclose(b);
            const char *path = write_tmp("walk.csv", text);
            free(text);
            es_source_spec *src = source(path, seps[si], NC, cols, types);
            src->missing = missing[si];
            src->bad_rows = bad ? ES_BAD_ROWS_SKIP : ES_BAD_ROWS_ERROR;
            es_feature *fs[16] = { feature("f", ES_FEAT_NUMERIC, 0), bucketized("g", 1, 4, bounds),
                                  feature("n", ES_FEAT_IDENTITY, 2), vocab("s", 3, 3, words, 97), hashed("t", 4, 50) };
            fs[0]->num_default = 7;
            fs[2]->num_buckets = 600;
            es_feature *hs = hashed("hs", 3, 1 << 20);
            fs[5] = crossed("s_x_t", 2, (es_feature *[]){ hs, fs[4] }, 1 << 20);
            fs[6] = crossed("g_x_s_x_t", 3, (es_feature *[]){ fs[1], fs[3], fs[4] }, 1 << 20);
            for (int c = 7; c < NC; c++) {
                fs[c] = feature(cols[c], ES_FEAT_NUMERIC, c);
                fs[c]->num_default = c;
            }
            es_spec *spec = spec_of(src, 16, fs);
            spec->label = (es_label_spec){ .name = "y", .kind = ES_LABEL_NUMERIC, .column = 6 };
            char *what = es_sprintf(A, "separator \"%s\", missing \"%s\"%s", seps[si], missing[si],
                                    bad ? ", bad rows skipped" : "");
            compare_paths(spec, src, what, !bad ? 3000 : 100);
            src->bad_rows = ES_BAD_ROWS_ERROR;       /* the first bad row's message, both ways */
            if (bad) compare_paths(spec, src, es_sprintf(A, "%s, then stopping", what), 0);
        }
    }
}

/* Long runs of number columns, which the split reads as two chains
 * (csv_walk.h, walk_run2): odd and even lengths, a run that ends the line,
 * and rows where any field of either half is missing, bad or read the long
 * way; every record and message must be the general parser's. */
static void test_long_runs(void)
{
    enum { NA = 37, NI = 16, NB = 20, NC = 2 + NA + NI + NB };
    static const char *const seps[] = { ",", ";", "\t", ", " };
    const char *cols[NC];
    es_coltype types[NC];
    for (int c = 0; c < NC; c++) {
        cols[c] = es_sprintf(A, "c%d", c);
        types[c] = c == 1 ? ES_COL_STRING : c >= 2 + NA && c < 2 + NA + NI ? ES_COL_INT : ES_COL_FLOAT;
    }
    es_rng g;
    es_rng_seed(&g, 4242);
    for (size_t si = 0; si < ES_ARRAY_LEN(seps); si++) {
        for (int bad = 0; bad < 2; bad++) {
            char *text = NULL, field[128];
            size_t textlen = 0;
            FILE *b = open_memstream(&text, &textlen);
            for (int row = 0; row < 2000; row++) {
                /* most rows clean, so that whole runs are read; in the others
                 * one field or a few are not the usual number */
                int odd = es_rng_below(&g, 2) ? 0 : 1 + (int)es_rng_below(&g, 3);
                int at[3] = { (int)es_rng_below(&g, NC), (int)es_rng_below(&g, NC), (int)es_rng_below(&g, NC) };
                /* a bad row may end anywhere: inside either half of a run */
                int nf = bad && es_rng_below(&g, 20) == 0 ? 1 + (int)es_rng_below(&g, NC - 1) : NC;
                for (int c = 0; c < nf; c++) {
                    int irregular = 0;
                    for (int k = 0; k < odd; k++) irregular |= at[k] == c;
                    if (c == 1) strcpy(field, "w");
                    else if (irregular) random_field(&g, types[c], field, bad);
                    else if (types[c] == ES_COL_INT) sprintf(field, "%lld", (long long)es_rng_below(&g, 200000) - 100000);
                    else {
                        double x = (es_rng_uniform(&g) - 0.3) * pow(10.0, (double)es_rng_below(&g, 8) - 4);
                        static const char *const fmts[] = { "%.6f", "%.1f", "%g", "%.2f", "%.4e", "%.17g", "%.16g" };
                        sprintf(field, fmts[es_rng_below(&g, ES_ARRAY_LEN(fmts))], x);
                    }
                    if (!bad && (field[0] == 0 || strchr(field, '?'))) strcpy(field, "1");
                    fprintf(b, "%s%s", c ? seps[si] : "", field);
                }
                fputs("\n", b);
            }
            fclose(b);
            const char *path = write_tmp("runs.csv", text);
            free(text);
            es_source_spec *src = source(path, seps[si], NC, cols, types);
            src->missing = "?";
            src->bad_rows = bad ? ES_BAD_ROWS_SKIP : ES_BAD_ROWS_ERROR;
            es_feature *fs[NC];
            int nused = 0;
            for (int c = 2; c < NC; c++) {
                fs[nused] = feature(cols[c], ES_FEAT_NUMERIC, c);
                fs[nused++]->num_default = c;
            }
            es_spec *spec = spec_of(src, nused, fs);
            spec->label = (es_label_spec){ .name = "c0", .kind = ES_LABEL_NUMERIC, .column = 0 };
            char *what = es_sprintf(A, "long runs, separator \"%s\"%s", seps[si], bad ? ", bad rows skipped" : "");
            compare_paths(spec, src, what, bad ? 500 : 2000);
            src->bad_rows = ES_BAD_ROWS_ERROR;
            if (bad) compare_paths(spec, src, es_sprintf(A, "%s, then stopping", what), 0);
        }
    }
}

int main(void)
{
    A = es_arena_new();
    snprintf(tmpdir, sizeof tmpdir, "/tmp/estc_test_reader_XXXXXX");
    if (!mkdtemp(tmpdir)) { perror("mkdtemp"); return 1; }
    test_transforms();
    test_defaults_and_errors();
    test_label_options();
    test_stats();
    test_stream();
    test_adult();
    test_multivalent();
    test_gather();
    test_parse_in_split();
    test_long_runs();
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", tmpdir);
    es_arena_free(A);
    return check_done("test_reader");
}

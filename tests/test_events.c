/*
 * test_events.c — TensorBoard event files, written and read.
 *
 * Everything estc writes is decoded twice: by estc's own reader, and by an
 * independent decoder written here from the format alone (a bit-by-bit
 * CRC32C, no table; a protobuf walker of its own). CRC32C itself is checked
 * against the published check values (RFC 3720 B.4 and the "123456789"
 * check). Then the real event files in ../shared/data/tfevents (TF2/Keras
 * tensor-encoded scalars, PyTorch simple_value scalars) are read and their
 * values compared with those their README lists; the test says so and skips
 * that part when the directory is absent. Finally the log-directory loader's
 * TensorBoard purge rule (SessionLog START) and the SVG plot. And the files a
 * real training run writes (census model, through the public API) go through
 * the independent decoder too.
 */
#define _GNU_SOURCE
#include "check.h"
#include "../runtime/runtime.h"
#include "estc/estc.h"

#include <dirent.h>
#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char tmpdir[64];
static es_arena *A;   /* test strings, freed at the end */

/* ---- an independent decoder ------------------------------------------------------- */

static uint32_t crc32c_bitwise(const unsigned char *p, size_t n)
{
    uint32_t crc = 0xffffffffu;
    for (size_t i = 0; i < n; i++) {
        crc ^= p[i];
        for (int k = 0; k < 8; k++) crc = (crc >> 1) ^ (0x82F63B78u & (0u - (crc & 1u)));
    }
    return ~crc;
}

static uint32_t masked(uint32_t crc) { return ((crc >> 15) | (crc << 17)) + 0xa282ead8u; }

static uint64_t le(const unsigned char *p, int n)
{
    uint64_t v = 0;
    for (int i = 0; i < n; i++) v |= (uint64_t)p[i] << (8 * i);
    return v;
}

typedef struct rd { const unsigned char *p, *e; int bad; } rd;

static uint64_t varint(rd *r)
{
    uint64_t v = 0;
    int s = 0;
    while (r->p < r->e) {
        unsigned char c = *r->p++;
        v |= (uint64_t)(c & 127) << s;
        if (!(c & 128)) return v;
        s += 7;
        if (s > 63) break;
    }
    r->bad = 1;
    return 0;
}

/* Reads one field: its number and wire type, with a sub-reader for
 * length-delimited fields and the raw value for the others. */
static int field(rd *r, int *num, int *wt, rd *sub, uint64_t *raw)
{
    if (r->p >= r->e) return 0;
    uint64_t key = varint(r);
    *num = (int)(key >> 3);
    *wt = (int)(key & 7);
    switch (*wt) {
    case 0: *raw = varint(r); break;
    case 1: if (r->e - r->p < 8) { r->bad = 1; return 0; } *raw = le(r->p, 8); r->p += 8; break;
    case 5: if (r->e - r->p < 4) { r->bad = 1; return 0; } *raw = le(r->p, 4); r->p += 4; break;
    case 2: {
        uint64_t n = varint(r);
        if (n > (uint64_t)(r->e - r->p)) { r->bad = 1; return 0; }
        sub->p = r->p; sub->e = r->p + n; sub->bad = 0;
        r->p += n;
        break;
    }
    default: r->bad = 1; return 0;
    }
    return !r->bad;
}

typedef struct decoded {
    int records, crc_errors;
    char first_version[32];
    int nscalars;
    char tag[512][48];
    int64_t step[512];
    double value[512];
    int session_starts;
    int64_t session_step;
    int nhisto;
    double h_min, h_max, h_num, h_sum, h_sq, h_counts;
    int h_bracketed;          /* values found inside a non-empty bucket */
} decoded;

static const double hist_values[] = { 0.0, 1.0, 1.0, 2.5, -3.0 };

static double f32(uint64_t raw) { uint32_t u = (uint32_t)raw; float f; memcpy(&f, &u, 4); return f; }
static double f64(uint64_t raw) { double d; memcpy(&d, &raw, 8); return d; }

static void decode_histo(rd h, decoded *d)
{
    int num, wt;
    rd sub;
    uint64_t raw;
    double lim[4096], cnt[4096];
    int nl = 0, nc = 0;
    while (field(&h, &num, &wt, &sub, &raw)) {
        if (num == 1) d->h_min = f64(raw);
        else if (num == 2) d->h_max = f64(raw);
        else if (num == 3) d->h_num = f64(raw);
        else if (num == 4) d->h_sum = f64(raw);
        else if (num == 5) d->h_sq = f64(raw);
        else if (num == 6) for (; sub.e - sub.p >= 8 && nl < 4096; sub.p += 8) lim[nl++] = f64(le(sub.p, 8));
        else if (num == 7) for (; sub.e - sub.p >= 8 && nc < 4096; sub.p += 8) cnt[nc++] = f64(le(sub.p, 8));
    }
    d->h_counts = 0;
    for (int i = 0; i < nc; i++) d->h_counts += cnt[i];
    /* bucket i holds values in [lim[i-1], lim[i]) */
    d->h_bracketed = 0;
    for (size_t v = 0; v < ES_ARRAY_LEN(hist_values); v++)
        for (int i = 0; i < nc && i < nl; i++) {
            double lo = i ? lim[i - 1] : -DBL_MAX;
            if (cnt[i] > 0 && hist_values[v] >= lo && hist_values[v] < lim[i]) { d->h_bracketed++; break; }
        }
    d->nhisto++;
}

static void decode_event(rd ev, decoded *d)
{
    int num, wt;
    rd sub;
    uint64_t raw;
    int64_t step = 0;
    /* values are collected after the step field is known: keep the summary aside */
    rd summary = { 0 }, slog = { 0 };
    int have_summary = 0, have_log = 0;
    while (field(&ev, &num, &wt, &sub, &raw)) {
        if (num == 2 && wt == 0) step = (int64_t)raw;
        else if (num == 3 && wt == 2 && d->records == 1)
            snprintf(d->first_version, sizeof d->first_version, "%.*s", (int)(sub.e - sub.p), (const char *)sub.p);
        else if (num == 5 && wt == 2) { summary = sub; have_summary = 1; }
        else if (num == 7 && wt == 2) { slog = sub; have_log = 1; }
    }
    if (have_log) {
        while (field(&slog, &num, &wt, &sub, &raw))
            if (num == 1 && raw == 1) { d->session_starts++; d->session_step = step; }
    }
    if (!have_summary) return;
    while (field(&summary, &num, &wt, &sub, &raw)) {
        if (num != 1 || wt != 2) continue;
        rd val = sub, s2;
        char tag[48] = "";
        int has_value = 0;
        double v = 0;
        int n2, w2;
        uint64_t r2;
        while (field(&val, &n2, &w2, &s2, &r2)) {
            if (n2 == 1 && w2 == 2) snprintf(tag, sizeof tag, "%.*s", (int)(s2.e - s2.p), (const char *)s2.p);
            else if (n2 == 2 && w2 == 5) { v = f32(r2); has_value = 1; }
            else if (n2 == 5 && w2 == 2) decode_histo(s2, d);
            else if (n2 == 8 && w2 == 2) {
                /* TensorProto: dtype 1 = DT_FLOAT with 4 bytes of tensor_content (what Keras writes) */
                rd t = s2, s3;
                int n3, w3;
                uint64_t r3;
                int64_t dtype = 0;
                const unsigned char *content = NULL;
                long clen = 0;
                while (field(&t, &n3, &w3, &s3, &r3)) {
                    if (n3 == 1) dtype = (int64_t)r3;
                    else if (n3 == 4) { content = s3.p; clen = (long)(s3.e - s3.p); }
                    else if (n3 == 5 && w3 == 2 && s3.e - s3.p == 4) { v = f32(le(s3.p, 4)); has_value = 1; }
                }
                if (dtype == 1 && content && clen == 4) { v = f32(le(content, 4)); has_value = 1; }
            }
        }
        if (has_value && d->nscalars < 512) {
            snprintf(d->tag[d->nscalars], sizeof d->tag[0], "%s", tag);
            d->step[d->nscalars] = step;
            d->value[d->nscalars] = v;
            d->nscalars++;
        }
    }
}

static int decode_file(const char *path, decoded *d)
{
    memset(d, 0, sizeof *d);
    FILE *f = fopen(path, "rb");
    if (!f) return -1;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *b = malloc((size_t)n + 1);
    if (fread(b, 1, (size_t)n, f) != (size_t)n) { fclose(f); free(b); return -1; }
    fclose(f);
    long off = 0;
    while (off + 12 <= n) {
        uint64_t len = le(b + off, 8);
        if (masked(crc32c_bitwise(b + off, 8)) != (uint32_t)le(b + off + 8, 4)) d->crc_errors++;
        if ((uint64_t)(n - off - 12) < len + 4) break;
        const unsigned char *payload = b + off + 12;
        if (masked(crc32c_bitwise(payload, (size_t)len)) != (uint32_t)le(payload + len, 4)) d->crc_errors++;
        d->records++;
        rd ev = { payload, payload + len, 0 };
        decode_event(ev, d);
        off += 12 + (long)len + 4;
    }
    free(b);
    return off == n ? 0 : 1;
}

/* ---- estc's reader, collected ------------------------------------------------------ */

typedef struct collected {
    int events, scalars, others, starts;
    char version[32];
    char tag[512][48];
    int64_t step[512];
    double value[512];
} collected;

static int collect(void *ctx, const rt_event *e)
{
    collected *c = ctx;
    if (c->events == 0 && e->file_version) snprintf(c->version, sizeof c->version, "%s", e->file_version);
    c->events++;
    if (e->session_status == 1) c->starts++;
    for (int i = 0; i < e->nvalues; i++) {
        if (e->values[i].kind != RT_VALUE_SCALAR) { c->others++; continue; }
        if (c->scalars < 512) {
            snprintf(c->tag[c->scalars], sizeof c->tag[0], "%s", e->values[i].tag);
            c->step[c->scalars] = e->step;
            c->value[c->scalars] = e->values[i].value;
        }
        c->scalars++;
    }
    return 0;
}

/* ---- tests ----------------------------------------------------------------------------- */

static void test_crc32c(void)
{
    unsigned char zeros[32] = { 0 }, ones[32], inc[32];
    memset(ones, 0xff, 32);
    for (int i = 0; i < 32; i++) inc[i] = (unsigned char)i;
    CHECK(rt_crc32c(0, "123456789", 9) == 0xE3069283u, "CRC32C(\"123456789\") = e3069283, got %08x",
          rt_crc32c(0, "123456789", 9));
    CHECK(rt_crc32c(0, zeros, 32) == 0x8A9136AAu, "RFC 3720: 32 zero bytes = 8a9136aa");
    CHECK(rt_crc32c(0, ones, 32) == 0x62A8AB43u, "RFC 3720: 32 0xff bytes = 62a8ab43");
    CHECK(rt_crc32c(0, inc, 32) == 0x46DD794Eu, "RFC 3720: bytes 0..31 = 46dd794e");
    CHECK(rt_crc32c(rt_crc32c(0, inc, 10), inc + 10, 22) == 0x46DD794Eu, "CRC32C continues across calls");
    CHECK(crc32c_bitwise((const unsigned char *)"123456789", 9) == 0xE3069283u, "the test's own CRC agrees");
    CHECK(rt_crc32c_masked("123456789", 9) == masked(0xE3069283u), "masking");
}

static void test_write_and_read_back(void)
{
    char *dir = es_xstrdup(tmpdir);
    es_status st;
    es_status_clear(&st);
    rt_events *w = rt_events_open(dir, &st);
    CHECK(w != NULL, "open an event file: %s", st.msg);
    if (!w) { free(dir); return; }
    const char *base = strrchr(rt_events_path(w), '/') + 1;
    char host[256];
    gethostname(host, sizeof host);
    char want_prefix[300];
    snprintf(want_prefix, sizeof want_prefix, "events.out.tfevents.");
    CHECK(strncmp(base, want_prefix, strlen(want_prefix)) == 0 && strstr(base, host),
          "named events.out.tfevents.<seconds>.<host>: %s", base);
    static const char *const tags[] = { "loss", "global_step/sec", "a tag with spaces & <xml>" };
    int n = 0;
    for (int64_t step = 0; step <= 300; step += 100)
        for (int t = 0; t < 3; t++) {
            rt_events_scalar(w, step, tags[t], (double)step * 0.001 + t + 0.25);
            n++;
        }
    rt_events_session_start(w, 300);
    rt_events_histogram(w, 300, "weights", (const float[]){ 0.0f, 1.0f, 1.0f, 2.5f, -3.0f }, 5);
    CHECK(rt_events_flush(w, &st) == 0, "flush: %s", st.msg);
    char *path = es_xstrdup(rt_events_path(w));
    rt_events_close(w);

    /* the independent decoder */
    decoded *d = calloc(1, sizeof *d);
    int r = decode_file(path, d);
    CHECK(r == 0, "the file is a whole number of records");
    CHECK(d->crc_errors == 0, "every length and data CRC verifies (%d errors)", d->crc_errors);
    CHECK(d->records == 1 + n + 2, "%d records: file_version, %d scalars, session start, histogram; got %d",
          1 + n + 2, n, d->records);
    CHECK(strcmp(d->first_version, "brain.Event:2") == 0, "first event's file_version: %s", d->first_version);
    CHECK(d->nscalars == n, "%d scalars decoded, got %d", n, d->nscalars);
    int ok = 1;
    for (int i = 0; i < d->nscalars && i < n; i++) {
        int64_t step = (i / 3) * 100;
        double want = (float)((double)step * 0.001 + i % 3 + 0.25);
        if (strcmp(d->tag[i], tags[i % 3]) || d->step[i] != step || d->value[i] != want) ok = 0;
    }
    CHECK(ok, "tags, steps and float values as written (step 0 omitted, read back as 0)");
    CHECK(d->session_starts == 1 && d->session_step == 300, "SessionLog START at step 300");
    CHECK(d->nhisto == 1, "one histogram");
    CHECK(d->h_min == -3 && d->h_max == 2.5 && d->h_num == 5 && d->h_sum == 1.5 && d->h_sq == 17.25,
          "histogram min %g max %g num %g sum %g sum_squares %g", d->h_min, d->h_max, d->h_num, d->h_sum, d->h_sq);
    CHECK(d->h_counts == 5, "bucket counts add up to 5 (got %g)", d->h_counts);
    CHECK(d->h_bracketed == 5, "each value lies in a non-empty bucket [previous limit, limit) (%d of 5)",
          d->h_bracketed);

    /* estc's reader */
    collected *c = calloc(1, sizeof *c);
    int truncated = -1;
    CHECK(rt_events_read(path, collect, c, &truncated, &st) == 0, "estc reads its file: %s", st.msg);
    CHECK(truncated == 0, "not truncated");
    CHECK(c->events == 1 + n + 2 && c->scalars == n && c->others == 1 && c->starts == 1,
          "events %d, scalars %d, other values %d, session starts %d", c->events, c->scalars, c->others, c->starts);
    CHECK(strcmp(c->version, "brain.Event:2") == 0, "file_version read back");
    ok = c->scalars == d->nscalars;
    for (int i = 0; ok && i < c->scalars; i++)
        ok = !strcmp(c->tag[i], d->tag[i]) && c->step[i] == d->step[i] && c->value[i] == d->value[i];
    CHECK(ok, "estc's reader and the independent decoder agree on every scalar");

    /* a record cut short (a writer killed mid-write) ends the file quietly */
    struct stat sb;
    stat(path, &sb);
    CHECK(truncate(path, sb.st_size - 3) == 0, "truncate");
    memset(c, 0, sizeof *c);
    CHECK(rt_events_read(path, collect, c, &truncated, &st) == 0 && truncated == 1 && c->events == 1 + n + 1,
          "a cut-off last record: the others are read and truncation reported (%d events)", c->events);
    /* a flipped byte inside a record is damage */
    FILE *f = fopen(path, "r+b");
    fseek(f, 40, SEEK_SET);
    int ch = fgetc(f);
    fseek(f, 40, SEEK_SET);
    fputc(ch ^ 0x10, f);
    fclose(f);
    es_status_clear(&st);
    memset(c, 0, sizeof *c);
    CHECK(rt_events_read(path, collect, c, NULL, &st) == -1 && strstr(st.msg, "is damaged"),
          "a flipped byte is reported: %s", st.msg);
    free(c);
    free(d);
    free(path);
    free(dir);
}

/* TensorBoard's rule: a SessionLog START at step s drops the run's earlier points at steps >= s. */
static void test_purge_and_runs(void)
{
    char *dir = es_sprintf(A, "%s/purge", tmpdir);
    es_status st;
    es_status_clear(&st);
    rt_events *a = rt_events_open(dir, &st);
    for (int s = 1; s <= 10; s++) rt_events_scalar(a, s, "loss", s);
    rt_events_close(a);
    rt_events *b = rt_events_open(dir, &st);   /* same second: a ".1" suffix keeps the order */
    rt_events_session_start(b, 5);
    for (int s = 5; s <= 12; s++) rt_events_scalar(b, s, "loss", 100 + s);
    rt_events_close(b);
    char *evdir = es_sprintf(A, "%s/eval", dir);
    rt_events *e = rt_events_open(evdir, &st);
    rt_events_scalar(e, 10, "accuracy", 0.5);
    rt_events_close(e);

    rt_scalars sc;
    CHECK(rt_scalars_load(dir, 1, &sc, &st) == 0, "load a log dir: %s", st.msg);
    int nloss = 0, ok = 1, nacc = 0;
    for (int i = 0; i < sc.n; i++) {
        if (!strcmp(sc.v[i].tag, "accuracy")) { nacc++; ok &= !strcmp(sc.v[i].run, "eval") && sc.v[i].value == 0.5; continue; }
        nloss++;
        ok &= !strcmp(sc.v[i].run, ".");
        int64_t s = sc.v[i].step;
        ok &= s == nloss && sc.v[i].value == (s < 5 ? s : 100 + s);
    }
    CHECK(nloss == 12 && nacc == 1 && ok, "purged: steps 1-4 of the first run, 5-12 of the restart, "
          "eval as its own run (%d loss points, %d accuracy)", nloss, nacc);
    CHECK(sc.nfiles == 3, "three event files read (%d)", sc.nfiles);
    rt_scalars_free(&sc);
    CHECK(rt_scalars_load(dir, 0, &sc, &st) == 0 && sc.n == 10 + 8 + 1, "without purging every point is kept (%d)", sc.n);

    /* the plot: one panel per tag, a line per run, escaped text */
    char *svg = es_sprintf(A, "%s/plot.svg", tmpdir);
    FILE *f = fopen(svg, "w");
    CHECK(rt_plot_svg(&sc, "run <1> & co", f, &st) == 0, "plot: %s", st.msg);
    fclose(f);
    rt_scalars_free(&sc);
    size_t len;
    char *text = es_read_file(svg, &len, &st);
    int panels = 0, lines = 0;
    for (const char *p = text; (p = strstr(p, "<g transform")); p++) panels++;
    for (const char *p = text; (p = strstr(p, "<polyline")); p++) lines++;
    CHECK(text && strstr(text, "<svg xmlns=\"http://www.w3.org/2000/svg\"") && strstr(text, "</svg>\n"),
          "an SVG document");
    CHECK(panels == 2, "a panel per tag (loss, accuracy): %d", panels);
    CHECK(lines == 1, "one polyline (the single accuracy point is a dot): %d", lines);
    CHECK(strstr(text, "run &lt;1&gt; &amp; co") != NULL, "the title is escaped");
    CHECK(strstr(text, "<script") == NULL && strstr(text, "href") == NULL, "self-contained");
    free(text);
}

static const char *shared_dir(void)
{
    static char buf[1024];
    const char *src = getenv("ESTC_SOURCE_DIR");
    snprintf(buf, sizeof buf, "%s/../shared/data/tfevents", src ? src : ".");
    struct stat sb;
    return stat(buf, &sb) == 0 ? buf : NULL;
}

static int find_scalar(const collected *c, const char *tag, int64_t step, double *v)
{
    for (int i = 0; i < c->scalars && i < 512; i++)
        if (!strcmp(c->tag[i], tag) && c->step[i] == step) { *v = c->value[i]; return 1; }
    return 0;
}

static int count_tag(const collected *c, const char *tag)
{
    int n = 0;
    for (int i = 0; i < c->scalars && i < 512; i++) n += !strcmp(c->tag[i], tag);
    return n;
}

static void test_real_files(void)
{
    const char *dir = shared_dir();
    if (!dir) {
        printf("SKIP: ../shared/data/tfevents is absent: real TensorFlow and PyTorch event files not checked\n");
        return;
    }
    static const struct { const char *sub; int records; } files[] = {
        { "keras_tf2/events.out.tfevents.1745818297.LAPTOP-AI4N0T77.19592.0.v2", 41 },
        { "keras_tf2/events.out.tfevents.1745818301.LAPTOP-AI4N0T77.19592.1.v2", 53 },
        { "pytorch/events.out.tfevents.1622543341.janoshs-mbp.lan.86862.0", 101 },
        { "pytorch/events.out.tfevents.1622966509.janoshs-mbp.lan.86059.0", 421 },
    };
    collected *c[4];
    es_status st;
    for (int i = 0; i < 4; i++) {
        char path[1200];
        snprintf(path, sizeof path, "%s/%s", dir, files[i].sub);
        decoded *d = calloc(1, sizeof *d);
        CHECK(decode_file(path, d) == 0 && d->crc_errors == 0 && d->records == files[i].records,
              "%s: %d records, all CRCs good (independent decoder: %d records, %d CRC errors)", files[i].sub,
              files[i].records, d->records, d->crc_errors);
        CHECK(strcmp(d->first_version, "brain.Event:2") == 0, "%s starts with brain.Event:2", files[i].sub);
        c[i] = calloc(1, sizeof *c[i]);
        es_status_clear(&st);
        int truncated = -1;
        CHECK(rt_events_read(path, collect, c[i], &truncated, &st) == 0 && truncated == 0,
              "estc reads %s: %s", files[i].sub, st.msg);
        CHECK(c[i]->events == files[i].records, "%s: %d events, estc read %d", files[i].sub, files[i].records,
              c[i]->events);
        int ok = c[i]->scalars == d->nscalars;
        for (int k = 0; ok && k < c[i]->scalars && k < 512; k++)
            ok = !strcmp(c[i]->tag[k], d->tag[k]) && c[i]->step[k] == d->step[k] && c[i]->value[k] == d->value[k];
        CHECK(ok, "%s: estc and the independent decoder agree on all %d scalars", files[i].sub, c[i]->scalars);
        free(d);
    }
    double v;
    /* Keras: tensor-encoded float scalars; the "keras" model config is a string tensor, not a scalar */
    CHECK(c[0]->scalars == 39 && c[0]->others == 1, "keras train: 13 x 3 scalars and 1 non-scalar (%d, %d)",
          c[0]->scalars, c[0]->others);
    CHECK(find_scalar(c[0], "epoch_accuracy", 0, &v) && v == 0.79812503f, "epoch_accuracy at step 0 = 0.79812503");
    CHECK(find_scalar(c[0], "epoch_loss", 0, &v) && v == 0.45596904f, "epoch_loss at step 0 = 0.45596904");
    CHECK(find_scalar(c[0], "epoch_learning_rate", 0, &v) && v == 0.001f, "epoch_learning_rate = 0.001");
    CHECK(count_tag(c[0], "epoch_loss") == 13 && find_scalar(c[0], "epoch_loss", 12, &v), "steps 0..12");
    CHECK(c[1]->scalars == 52, "keras validation: 52 scalars (%d)", c[1]->scalars);
    CHECK(find_scalar(c[1], "evaluation_accuracy_vs_iterations", 250, &v) && v == 0.829f, "accuracy vs iterations at 250");
    CHECK(find_scalar(c[1], "evaluation_loss_vs_iterations", 250, &v) && v == 0.39914694f, "loss vs iterations at 250");
    CHECK(find_scalar(c[1], "evaluation_loss_vs_iterations", 3250, &v), "... up to step 3250");
    /* PyTorch: simple_value */
    CHECK(c[2]->scalars == 100 && count_tag(c[2], "strict/foo") == 100, "strict: 100 points of strict/foo");
    CHECK(find_scalar(c[2], "strict/foo", 0, &v) && v == 1.4962566f, "strict/foo at 0 = 1.4962566");
    CHECK(find_scalar(c[2], "strict/foo", 5, &v) && v == 1.7682219f, "strict/foo at 5 = 1.7682219");
    CHECK(find_scalar(c[2], "strict/foo", 495, &v) && v == 1.2120903f, "strict/foo at 495 = 1.2120903");
    CHECK(c[3]->scalars == 420 && count_tag(c[3], "dup_steps/foo") == 210 && count_tag(c[3], "dup_steps/bar") == 210,
          "duplicate_steps: 210 points of each tag");
    for (int i = 0; i < 4; i++) free(c[i]);

    /* the log-directory view: version-2 files purge only on SessionLog START, so
     * TensorBoard shows (and estc lists) the duplicate steps 90-99 twice */
    char sub[1200];
    snprintf(sub, sizeof sub, "%s/pytorch", dir);
    rt_scalars sc;
    es_status_clear(&st);
    CHECK(rt_scalars_load(sub, 1, &sc, &st) == 0 && sc.n == 520, "pytorch dir: 100 + 420 scalars (%d) %s", sc.n, st.msg);
    rt_scalars_free(&sc);
}


/* The event files of an actual training run (the public API, as `estc train`). */
static void test_training_run_files(void)
{
    char *md = es_sprintf(A, "%s/trained", tmpdir);
    estc_open_options o;
    estc_open_options_init(&o);
    o.model_dir = md;
    o.max_steps = 200;
    o.save_summary_steps = 50;
    o.log_step_count_steps = 100;
    o.eval_every_steps = 100;
    o.save_checkpoints_steps = 1000;
    estc_status st;
    estc_model *m = estc_model_open(check_src("examples/census/linear.est"), &o, &st);
    CHECK(m != NULL, "open the census model: %s", st.message);
    if (!m) return;
    estc_train_result r;
    CHECK(estc_train(m, NULL, &r, &st) == 0 && r.global_step == 200, "train 200 steps: %s", st.message);
    estc_model_free(m);
    const char *sub[2] = { "", "/eval" };
    for (int k = 0; k < 2; k++) {
        char *dir = es_sprintf(A, "%s%s", md, sub[k]);
        char *path = NULL;
        DIR *d = opendir(dir);
        struct dirent *e;
        while (d && (e = readdir(d)))
            if (!strncmp(e->d_name, "events.out.tfevents.", 20)) path = es_sprintf(A, "%s/%s", dir, e->d_name);
        if (d) closedir(d);
        CHECK(path != NULL, "an event file in %s", dir);
        if (!path) continue;
        decoded *dc = calloc(1, sizeof *dc);
        CHECK(decode_file(path, dc) == 0 && dc->crc_errors == 0 && !strcmp(dc->first_version, "brain.Event:2"),
              "%s: whole records, good CRCs, brain.Event:2 first (independent decoder)", path);
        collected *c = calloc(1, sizeof *c);
        es_status es;
        es_status_clear(&es);
        CHECK(rt_events_read(path, collect, c, NULL, &es) == 0 && c->events == dc->records, "estc reads it too");
        int agree = c->scalars == dc->nscalars;
        for (int i = 0; agree && i < c->scalars && i < 512; i++)
            agree = !strcmp(c->tag[i], dc->tag[i]) && c->step[i] == dc->step[i] && c->value[i] == dc->value[i];
        CHECK(agree, "both readers agree on its %d scalars", c->scalars);
        double v;
        if (k == 0) {
            CHECK(count_tag(c, "loss") == 4 && find_scalar(c, "loss", 200, &v) && isfinite(v) && v > 0 && v < 1,
                  "training: a loss at steps 50, 100, 150, 200");
            CHECK(find_scalar(c, "learning_rate", 50, &v) && v == 0.2f, "the learning rate, ftrl's 0.2");
            CHECK(count_tag(c, "global_step/sec") == 2, "global_step/sec every 100 steps");
        } else {
            CHECK(find_scalar(c, "auc", 100, &v) && v > 0.5 && v < 1 && find_scalar(c, "auc", 200, &v),
                  "eval: auc at steps 100 and 200");
            CHECK(count_tag(c, "global_step") == 0 && count_tag(c, "accuracy") == 2, "every metric but global_step");
        }
        free(c);
        free(dc);
    }
}

static void test_summary_of_a_missing_dir(void)
{
    rt_scalars sc;
    es_status st;
    es_status_clear(&st);
    CHECK(rt_scalars_load("/nonexistent/estc", 1, &sc, &st) == -1 && strstr(st.msg, "cannot read"),
          "a missing directory is reported: %s", st.msg);
    rt_scalars_free(&sc);
    char *empty = es_sprintf(A, "%s/empty", tmpdir);
    mkdir(empty, 0755);
    es_status_clear(&st);
    CHECK(rt_scalars_load(empty, 1, &sc, &st) == -1 && strstr(st.msg, "no event files"),
          "a directory without event files is reported: %s", st.msg);
    rt_scalars_free(&sc);
}

int main(void)
{
    snprintf(tmpdir, sizeof tmpdir, "/tmp/estc_test_events_XXXXXX");
    if (!mkdtemp(tmpdir)) { perror("mkdtemp"); return 1; }
    A = es_arena_new();
    test_crc32c();
    test_write_and_read_back();
    test_purge_and_runs();
    test_real_files();
    test_summary_of_a_missing_dir();
    test_training_run_files();
    es_arena_free(A);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", tmpdir);
    return check_done("events");
}

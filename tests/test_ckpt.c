/*
 * test_ckpt.c — the variable store and safetensors checkpoints.
 *
 * The file layout is checked byte by byte from the safetensors spec (length
 * prefix, JSON header, padding, offsets, raw little-endian floats, checksum
 * recomputed here with xxHash itself). Damage is checked exhaustively: every
 * single flipped byte and every truncation of a small checkpoint must be
 * refused with a message, never loaded and never crash (run this one under
 * ASan). Also: round trip, the wrong-shape message, missing directories,
 * keep-last-5, and rt_vars_add_graph's sharing and shape conflicts.
 */
#define _GNU_SOURCE
#include "check.h"
#include "../runtime/runtime.h"

#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <xxhash.h>

static char tmpdir[64];

static char *path_in(const char *dir, const char *name)
{
    static char buf[4][512];
    static int k;
    char *p = buf[k++ % 4];
    snprintf(p, sizeof buf[0], "%s/%s", dir, name);
    return p;
}

static int exists(const char *p) { struct stat sb; return stat(p, &sb) == 0; }

static unsigned char *slurp(const char *p, size_t *n)
{
    es_status st;
    return (unsigned char *)es_read_file(p, n, &st);
}

static void spit(const char *p, const void *d, size_t n)
{
    FILE *f = fopen(p, "wb");
    fwrite(d, 1, n, f);
    fclose(f);
}

/* A store of the shapes the census model has, plus awkward cases. */
static void make_store(rt_vars *vs, int64_t age_rows, int fill)
{
    es_status st;
    rt_vars_init(vs);
    rt_var *a = rt_vars_add(vs, "linear/age_b/weights", gr_shape2(age_rows, 1), 1, &st);
    rt_var *b = rt_vars_add(vs, "linear/bias", gr_shape1(1), 1, &st);
    rt_var *c = rt_vars_add(vs, "hours/mean", gr_shape0(), 0, &st);
    rt_var *d = rt_vars_add(vs, "odd \"name\"\\x", gr_shape2(2, 3), 1, &st);
    if (!fill) return;
    for (int64_t i = 0; i < a->numel; i++) a->data[i] = (float)i * 0.25f - 1.0f;
    b->data[0] = 3.5f;
    c->data[0] = 40.25f;
    for (int64_t i = 0; i < d->numel; i++) d->data[i] = -(float)i;
}

static void test_layout_and_round_trip(void)
{
    char *dir = es_xstrdup(path_in(tmpdir, "rt/model"));   /* created by save, parents too */
    rt_vars vs;
    make_store(&vs, 11, 1);
    es_status st;
    es_status_clear(&st);
    CHECK(rt_ckpt_save(dir, &vs, 100, 0x0123456789abcdefULL, &st) == 0, "save: %s", st.msg);

    size_t n;
    unsigned char *f = slurp(path_in(dir, "model-100.safetensors"), &n);
    CHECK(f != NULL, "model-100.safetensors exists");
    if (!f) return;
    uint64_t hn = 0;
    for (int i = 0; i < 8; i++) hn |= (uint64_t)f[i] << (8 * i);
    size_t data_bytes = (11 + 1 + 1 + 6) * 4;
    CHECK(8 + hn + data_bytes == n, "file = 8 + header + data (%zu = 8 + %llu + %zu)", n, (unsigned long long)hn, data_bytes);
    CHECK((8 + hn) % 8 == 0, "the data starts 8-byte aligned");
    char *h = strndup((char *)f + 8, hn);
    CHECK(h[0] == '{', "the header is a JSON object");
    size_t e = hn;
    while (e > 0 && h[e - 1] == ' ') e--;
    CHECK(e > 0 && h[e - 1] == '}', "padded with spaces after the closing brace");
    CHECK(strstr(h, "\"linear/age_b/weights\":{\"dtype\":\"F32\",\"shape\":[11,1],\"data_offsets\":[0,44]}") != NULL,
          "tensor entry for the weights: %s", h);
    CHECK(strstr(h, "\"linear/bias\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[44,48]}") != NULL, "bias entry");
    CHECK(strstr(h, "\"hours/mean\":{\"dtype\":\"F32\",\"shape\":[],\"data_offsets\":[48,52]}") != NULL, "a scalar has shape []");
    CHECK(strstr(h, "\"odd \\\"name\\\"\\\\x\":{") != NULL, "names are JSON-escaped");
    CHECK(strstr(h, "\"global_step\":\"100\"") && strstr(h, "\"fingerprint\":\"0123456789abcdef\"") &&
          strstr(h, "\"format\":\"estc-1\""), "metadata: step, fingerprint, format as strings");
    char want[64];
    snprintf(want, sizeof want, "\"checksum\":\"%016llx\"", (unsigned long long)XXH64(f + 8 + hn, data_bytes, 0));
    CHECK(strstr(h, want) != NULL, "checksum is XXH64 of the data section");
    float first, bias;
    memcpy(&first, f + 8 + hn + 4, 4);
    memcpy(&bias, f + 8 + hn + 44, 4);
    CHECK(first == -0.75f && bias == 3.5f, "raw little-endian floats at their offsets");
    free(h);
    free(f);

    char *idx = (char *)slurp(path_in(dir, "checkpoint"), &n);
    CHECK(idx && strcmp(idx, "latest: model-100.safetensors\nall: model-100.safetensors\n") == 0,
          "the index names the latest file: %s", idx ? idx : "(none)");
    free(idx);

    rt_vars back;
    make_store(&back, 11, 0);
    int64_t step = -1;
    uint64_t fp = 0;
    int r = rt_ckpt_load(dir, &back, &step, &fp, &st);
    CHECK(r == 1, "load: %s", st.msg);
    CHECK(step == 100 && fp == 0x0123456789abcdefULL, "step and fingerprint come back");
    int same = 1;
    for (int i = 0; i < vs.n; i++)
        if (memcmp(vs.v[i].data, back.v[i].data, (size_t)vs.v[i].numel * 4) != 0) same = 0;
    CHECK(same, "every variable comes back bit for bit");
    rt_vars_free(&back);

    /* an eval-only store (a subset) loads; the extra tensors are ignored */
    rt_vars sub;
    rt_vars_init(&sub);
    rt_var *b = rt_vars_add(&sub, "linear/bias", gr_shape1(1), 1, &st);
    CHECK(rt_ckpt_load(dir, &sub, NULL, NULL, &st) == 1 && b->data[0] == 3.5f, "a subset of variables loads");
    rt_vars_free(&sub);

    /* the wrong model */
    rt_vars other;
    make_store(&other, 12, 0);
    es_status_clear(&st);
    r = rt_ckpt_load(dir, &other, &step, &fp, &st);
    char msg[1024];
    snprintf(msg, sizeof msg, "model_dir %s was trained with a different model: variable linear/age_b/weights "
             "has shape [12,1] here but [11,1] in the checkpoint", dir);
    CHECK(r == -1 && strcmp(st.msg, msg) == 0, "wrong shape:\n  got  %s\n  want %s", st.msg, msg);
    CHECK(other.v[1].data[0] == 0, "nothing is copied when a variable does not match");
    rt_var *extra = rt_vars_add(&other, "dnn/hidden/kernel", gr_shape2(4, 4), 1, &st);
    ES_UNUSED(extra);
    other.v[0].shape.d[0] = 11;   /* fix the first so the missing one is reported */
    other.v[0].numel = 11;
    r = rt_ckpt_load(dir, &other, &step, &fp, &st);
    CHECK(r == -1 && strstr(st.msg, "variable dnn/hidden/kernel is not in the checkpoint"),
          "a missing variable is named: %s", st.msg);
    rt_vars_free(&other);
    rt_vars_free(&vs);
    free(dir);
}

static void test_damage(void)
{
    char *dir = es_xstrdup(path_in(tmpdir, "damage"));
    rt_vars vs;
    make_store(&vs, 11, 1);
    es_status st;
    CHECK(rt_ckpt_save(dir, &vs, 7, 42, &st) == 0, "save: %s", st.msg);
    char *file = es_xstrdup(path_in(dir, "model-7.safetensors"));
    size_t n;
    unsigned char *orig = slurp(file, &n);
    unsigned char *buf = malloc(n);

    rt_vars back;
    make_store(&back, 11, 0);
    int undetected = 0, loaded_any = 0;
    for (size_t i = 0; i < n; i++) {
        memcpy(buf, orig, n);
        buf[i] ^= 0x01;
        spit(file, buf, n);
        es_status_clear(&st);
        int r = rt_ckpt_load(dir, &back, NULL, NULL, &st);
        if (r != -1 || st.msg[0] == 0) { undetected++; if (undetected < 4) fprintf(stderr, "  byte %zu flip not detected\n", i); }
        if (r == 1) loaded_any = 1;
    }
    CHECK(undetected == 0, "every one of %zu single-byte flips is refused (%d were not)", n, undetected);
    CHECK(!loaded_any, "a damaged file never loads");

    /* specific messages */
    memcpy(buf, orig, n);
    buf[n - 3] ^= 0x40;
    spit(file, buf, n);
    CHECK(rt_ckpt_load(dir, &back, NULL, NULL, &st) == -1 && strstr(st.msg, "the data checksum does not match"),
          "a flipped data byte: %s", st.msg);
    memcpy(buf, orig, n);
    char *gs = memmem(buf, n, "\"global_step\":\"7\"", 17);
    CHECK(gs != NULL, "the step is in the header");
    if (gs) {
        gs[15] = '8';
        spit(file, buf, n);
        CHECK(rt_ckpt_load(dir, &back, NULL, NULL, &st) == -1 && strstr(st.msg, "the header checksum does not match"),
              "an edited step (valid JSON) is caught by the header checksum: %s", st.msg);
    }

    int crashed_or_loaded = 0;
    for (size_t len = 0; len < n; len++) {
        spit(file, orig, len);
        es_status_clear(&st);
        if (rt_ckpt_load(dir, &back, NULL, NULL, &st) != -1 || !st.msg[0]) crashed_or_loaded++;
    }
    CHECK(crashed_or_loaded == 0, "every truncation is refused (%d were not)", crashed_or_loaded);
    spit(file, orig, n / 2);
    CHECK(rt_ckpt_load(dir, &back, NULL, NULL, &st) == -1 && strstr(st.msg, "is damaged"), "truncated: %s", st.msg);
    spit(file, orig, 5);
    CHECK(rt_ckpt_load(dir, &back, NULL, NULL, &st) == -1 && strstr(st.msg, "truncated"), "truncated to 5 bytes: %s", st.msg);

    /* a valid safetensors file from another tool is not an estc checkpoint */
    const char *foreign = "{\"x\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}   ";
    unsigned char fb[8 + 64 + 4] = { 0 };
    size_t fl = strlen(foreign);
    fb[0] = (unsigned char)fl;
    memcpy(fb + 8, foreign, fl);
    spit(file, fb, 8 + fl + 4);
    CHECK(rt_ckpt_load(dir, &back, NULL, NULL, &st) == -1 && strstr(st.msg, "is not an estc checkpoint"),
          "a foreign safetensors file: %s", st.msg);

    /* a hostile index */
    const char *ix = "latest: ../../etc/passwd\n";
    spit(path_in(dir, "checkpoint"), ix, strlen(ix));
    CHECK(rt_ckpt_load(dir, &back, NULL, NULL, &st) == -1 && strstr(st.msg, "is not a checkpoint file name"),
          "the index may only name files in model_dir: %s", st.msg);
    spit(path_in(dir, "checkpoint"), "", 0);
    CHECK(rt_ckpt_load(dir, &back, NULL, NULL, &st) == -1 && strstr(st.msg, "names no latest checkpoint"),
          "an empty index: %s", st.msg);

    free(buf);
    free(orig);
    free(file);
    rt_vars_free(&back);
    rt_vars_free(&vs);
    free(dir);
}

static void test_missing_and_keep(void)
{
    rt_vars vs;
    make_store(&vs, 11, 1);
    es_status st;
    es_status_clear(&st);
    CHECK(rt_ckpt_load(path_in(tmpdir, "no/such/dir"), &vs, NULL, NULL, &st) == 0, "no model_dir: nothing to load");
    char *dir = es_xstrdup(path_in(tmpdir, "keep"));
    mkdir(dir, 0755);
    CHECK(rt_ckpt_load(dir, &vs, NULL, NULL, &st) == 0, "a model_dir without an index: nothing to load");

    for (int s = 1; s <= 8; s++) {
        vs.v[1].data[0] = (float)s;
        CHECK(rt_ckpt_save(dir, &vs, s * 10, 1, &st) == 0, "save %d: %s", s, st.msg);
    }
    CHECK(rt_ckpt_save(dir, &vs, 80, 1, &st) == 0, "saving the same step again");
    char name[64];
    int kept = 0, gone = 0;
    for (int s = 1; s <= 8; s++) {
        snprintf(name, sizeof name, "model-%d.safetensors", s * 10);
        if (s <= 3) gone += !exists(path_in(dir, name));
        else kept += exists(path_in(dir, name));
    }
    CHECK(gone == 3 && kept == 5, "the last 5 checkpoints are kept, older ones deleted (kept %d, gone %d)", kept, gone);
    size_t n;
    char *idx = (char *)slurp(path_in(dir, "checkpoint"), &n);
    const char *want = "latest: model-80.safetensors\nall: model-40.safetensors\nall: model-50.safetensors\n"
                       "all: model-60.safetensors\nall: model-70.safetensors\nall: model-80.safetensors\n";
    CHECK(idx && strcmp(idx, want) == 0, "index lists them oldest first, once each:\n%s", idx ? idx : "");
    free(idx);
    int64_t step;
    vs.v[1].data[0] = 0;
    CHECK(rt_ckpt_load(dir, &vs, &step, NULL, &st) == 1 && step == 80 && vs.v[1].data[0] == 8,
          "load takes the latest");
    rt_vars_free(&vs);
    free(dir);
}

static void test_vars_from_graphs(void)
{
    es_arena *a = es_arena_new();
    es_span sp = { 0 };
    gr_graph *g1 = gr_new(a, NULL);
    gr_param(g1, "w", gr_shape2(3, 2), GR_INIT_CONST, 0.25, 0, 1, sp);
    gr_param(g1, "v", gr_shape1(40), GR_INIT_NORMAL, 0, 1, 1, sp);
    gr_param(g1, "w/accum", gr_shape2(3, 2), GR_INIT_CONST, 0.1, 0, 0, sp);
    gr_graph *g2 = gr_new(a, NULL);
    gr_param(g2, "w", gr_shape2(3, 2), GR_INIT_CONST, 9, 0, 1, sp);
    gr_graph *g3 = gr_new(a, NULL);
    gr_param(g3, "w", gr_shape2(2, 3), GR_INIT_CONST, 0, 0, 1, sp);

    rt_vars vs, vs2;
    rt_vars_init(&vs);
    rt_vars_init(&vs2);
    es_rng r1, r2;
    es_rng_seed(&r1, 42);
    es_rng_seed(&r2, 42);
    es_status st;
    es_status_clear(&st);
    CHECK(rt_vars_add_graph(&vs, g1, &r1, &st) == 0 && vs.n == 3, "three PARAMs become three variables");
    rt_var *w = rt_vars_find(&vs, "w"), *v = rt_vars_find(&vs, "v"), *acc = rt_vars_find(&vs, "w/accum");
    CHECK(w && v && acc, "found by name");
    if (!w || !v || !acc) return;
    CHECK(w->numel == 6 && w->data[0] == 0.25f && w->data[5] == 0.25f, "a constant initialiser fills every element");
    CHECK(w->trainable && !acc->trainable, "trainable flags come from the PARAMs");
    CHECK(((uintptr_t)w->data % 64) == 0 && ((uintptr_t)v->data % 64) == 0, "storage is 64-byte aligned");
    CHECK(rt_vars_add_graph(&vs, g2, &r1, &st) == 0 && vs.n == 3 && rt_vars_find(&vs, "w")->data[0] == 0.25f,
          "a second program shares same-named variables (not re-initialised)");
    es_status_clear(&st);
    CHECK(rt_vars_add_graph(&vs, g3, &r1, &st) == -1 &&
          strcmp(st.msg, "variable w has shape [3,2] in one program but [2,3] in another") == 0,
          "a same-named PARAM of another shape is refused: %s", st.msg);
    CHECK(rt_vars_add_graph(&vs2, g1, &r2, &st) == 0, "second store");
    v = rt_vars_find(&vs, "v");
    CHECK(memcmp(v->data, rt_vars_find(&vs2, "v")->data, 40 * 4) == 0, "the same seed gives the same initial values");
    int spread = 0;
    for (int i = 1; i < 40; i++) spread += v->data[i] != v->data[0];
    CHECK(spread > 30, "a normal initialiser draws different values");
    CHECK(rt_vars_add(&vs, "w", gr_shape1(1), 1, &st) == NULL, "rt_vars_add refuses a duplicate name");
    gr_shape batch = gr_shape2(GR_BATCH, 2);
    CHECK(rt_vars_add(&vs, "b", batch, 1, &st) == NULL && strstr(st.msg, "no batch dimension"),
          "a variable cannot have a batch dimension: %s", st.msg);
    rt_vars_free(&vs);
    rt_vars_free(&vs2);
    es_arena_free(a);
}


/* ---- the training loop's checkpoints: metadata, fallback, listing, warm start -------- */

static void flip_byte(const char *path, long at)
{
    size_t n;
    unsigned char *f = slurp(path, &n);
    if (!f) return;
    if (at < 0) at += (long)n;
    f[at] ^= 0x01;
    spit(path, f, n);
    free(f);
}

static rt_ckpt_meta full_meta(int64_t step)
{
    rt_ckpt_meta m;
    memset(&m, 0, sizeof m);
    m.global_step = step;
    m.fingerprint = 0xfeedfacecafebeefULL;
    m.has_input = 1;
    m.input = (rt_stream_pos){ .examples = step * 64 - 7, .epoch = 3, .in_epoch = 1234, .offset = -1,
                               .rows_skipped = 9, .rng = { 1, UINT64_MAX, 0x0123456789abcdefULL, 42 },
                               .buffer_hash = 0xdeadbeef00112233ULL };
    m.seed = UINT64_MAX - 5;
    m.shuffle_buffer = 10000;
    m.batch_size = 64;
    m.has_early = 1;
    snprintf(m.early_metric, sizeof m.early_metric, "auc_precision_recall");
    m.early_best = 0.1 + 0.2;   /* not exactly representable in decimal: must round-trip */
    m.early_best_step = step / 2;
    m.early_bad = 2;
    return m;
}

static void test_meta_round_trip(void)
{
    char *dir = es_xstrdup(path_in(tmpdir, "meta"));
    rt_vars vs, back;
    make_store(&vs, 11, 1);
    make_store(&back, 11, 0);
    es_status st;
    es_status_clear(&st);
    rt_ckpt_meta m = full_meta(500);
    CHECK(rt_ckpt_write(dir, &vs, &m, 5, &st) == 0, "write: %s", st.msg);
    rt_ckpt_meta r;
    CHECK(rt_ckpt_restore(dir, &back, 1, &r, &st) == 1, "restore: %s", st.msg);
    CHECK(r.global_step == 500 && r.fingerprint == m.fingerprint, "step and fingerprint");
    CHECK(r.has_input && r.input.examples == m.input.examples && r.input.epoch == 3 && r.input.in_epoch == 1234 &&
          r.input.offset == -1 && r.input.rows_skipped == 9 && !memcmp(r.input.rng, m.input.rng, sizeof m.input.rng) &&
          r.input.buffer_hash == m.input.buffer_hash, "the input position comes back field by field");
    CHECK(r.seed == m.seed && r.shuffle_buffer == 10000 && r.batch_size == 64, "the stream's settings (seed %llu)",
          (unsigned long long)r.seed);
    CHECK(r.has_early && r.early_best == m.early_best && r.early_best_step == 250 && r.early_bad == 2 &&
          !strcmp(r.early_metric, "auc_precision_recall"), "early-stopping state, the double exactly");
    CHECK(strcmp(r.file, "model-500.safetensors") == 0 && r.damaged[0] == 0, "which file, nothing damaged");
    CHECK(memcmp(back.v[0].data, vs.v[0].data, (size_t)vs.v[0].numel * 4) == 0, "the variables");
    /* two identical states give byte-identical files: nothing depends on the clock */
    char *dir2 = es_xstrdup(path_in(tmpdir, "meta2"));
    CHECK(rt_ckpt_write(dir2, &vs, &m, 5, &st) == 0, "write again");
    size_t n1, n2;
    unsigned char *f1 = slurp(path_in(dir, "model-500.safetensors"), &n1);
    unsigned char *f2 = slurp(path_in(dir2, "model-500.safetensors"), &n2);
    CHECK(f1 && f2 && n1 == n2 && !memcmp(f1, f2, n1), "the same state writes the same bytes");
    free(f1);
    free(f2);
    /* a checkpoint without the optional keys (rt_ckpt_save) has none */
    CHECK(rt_ckpt_save(dir2, &vs, 600, 1, &st) == 0, "plain save");
    CHECK(rt_ckpt_restore(dir2, &back, 1, &r, &st) == 1 && !r.has_input && !r.has_early && r.global_step == 600,
          "no position or early-stopping state recorded");
    rt_vars_free(&vs);
    rt_vars_free(&back);
    free(dir);
    free(dir2);
}

static void test_fallback(void)
{
    char *dir = es_xstrdup(path_in(tmpdir, "fallback"));
    rt_vars vs;
    make_store(&vs, 11, 1);
    es_status st;
    es_status_clear(&st);
    for (int s = 1; s <= 3; s++) {
        vs.v[1].data[0] = (float)s;
        rt_ckpt_meta m = full_meta(s * 100);
        CHECK(rt_ckpt_write(dir, &vs, &m, 5, &st) == 0, "write %d", s);
    }
    flip_byte(path_in(dir, "model-300.safetensors"), -2);   /* in the data */
    vs.v[1].data[0] = 0;
    rt_ckpt_meta r;
    CHECK(rt_ckpt_restore(dir, &vs, 1, &r, &st) == 1 && r.global_step == 200 && vs.v[1].data[0] == 2,
          "a damaged latest checkpoint: the previous one is restored (step %lld)", (long long)r.global_step);
    CHECK(strstr(r.damaged, "model-300.safetensors is damaged: the data checksum does not match") != NULL,
          "and the damage is reported: %s", r.damaged);
    es_status_clear(&st);
    CHECK(rt_ckpt_load(dir, &vs, NULL, NULL, &st) == -1, "rt_ckpt_load still refuses the damaged latest");
    flip_byte(path_in(dir, "model-200.safetensors"), 20);   /* in the header */
    CHECK(rt_ckpt_restore(dir, &vs, 1, &r, &st) == 1 && r.global_step == 100 && strstr(r.damaged, "model-200"),
          "two damaged: back to step 100 (%s)", r.damaged);
    flip_byte(path_in(dir, "model-100.safetensors"), 9);
    es_status_clear(&st);
    CHECK(rt_ckpt_restore(dir, &vs, 1, &r, &st) == -1 && strstr(st.msg, "no usable checkpoint") &&
          strstr(st.msg, "model-100"), "all damaged: an error naming them: %s", st.msg);

    /* without the index, the files themselves are found (newest first) */
    char *d2 = es_xstrdup(path_in(tmpdir, "noindex"));
    for (int s = 1; s <= 2; s++) {
        vs.v[1].data[0] = (float)(10 * s);
        rt_ckpt_meta m = full_meta(s * 7);
        rt_ckpt_write(d2, &vs, &m, 5, &st);
    }
    unlink(path_in(d2, "checkpoint"));
    CHECK(rt_ckpt_restore(d2, &vs, 1, &r, &st) == 1 && r.global_step == 14 && vs.v[1].data[0] == 20,
          "a missing index: the newest file is used");
    /* a damaged index is reported, the files still used */
    spit(path_in(d2, "checkpoint"), "latest: ../etc/passwd\n", 22);
    CHECK(rt_ckpt_restore(d2, &vs, 1, &r, &st) == 1 && r.global_step == 14 && strstr(r.damaged, "not a checkpoint file name"),
          "a damaged index: reported (%s), files used", r.damaged);
    /* a complete file the index does not name (killed between rename and index update) is
     * not preferred over the index's latest */
    rt_ckpt_meta m = full_meta(7);
    unlink(path_in(d2, "checkpoint"));
    rt_ckpt_write(d2, &vs, &m, 5, &st);          /* index: latest model-7 */
    CHECK(rt_ckpt_restore(d2, &vs, 1, &r, &st) == 1 && r.global_step == 7, "the index's latest wins over an "
          "unlisted newer file (step %lld)", (long long)r.global_step);
    rt_vars_free(&vs);
    free(dir);
    free(d2);
}

static void test_strict_and_keep(void)
{
    char *dir = es_xstrdup(path_in(tmpdir, "strict"));
    rt_vars big, small;
    make_store(&big, 11, 1);
    rt_vars_init(&small);
    es_status st;
    es_status_clear(&st);
    rt_var *b = rt_vars_add(&small, "linear/bias", gr_shape1(1), 1, &st);
    ES_UNUSED(b);
    rt_ckpt_meta m = full_meta(10), r;
    rt_ckpt_write(dir, &big, &m, 5, &st);
    CHECK(rt_ckpt_restore(dir, &small, 0, &r, &st) == 1, "not strict: a subset of variables loads");
    es_status_clear(&st);
    CHECK(rt_ckpt_restore(dir, &small, 1, &r, &st) == -1 && st.code == ES_EMODEL &&
          strstr(st.msg, "has a variable linear/age_b/weights that this model does not have"),
          "strict: the first extra variable is named: %s", st.msg);
    rt_vars_free(&small);

    /* keep_max 2, then 0 (all) */
    char *d2 = es_xstrdup(path_in(tmpdir, "keep2"));
    for (int s = 1; s <= 4; s++) { m = full_meta(s); rt_ckpt_write(d2, &big, &m, 2, &st); }
    CHECK(!exists(path_in(d2, "model-1.safetensors")) && !exists(path_in(d2, "model-2.safetensors")) &&
          exists(path_in(d2, "model-3.safetensors")) && exists(path_in(d2, "model-4.safetensors")),
          "keep_checkpoint_max 2 keeps the last two");
    char *d3 = es_xstrdup(path_in(tmpdir, "keep0"));
    for (int s = 1; s <= 9; s++) { m = full_meta(s); rt_ckpt_write(d3, &big, &m, 0, &st); }
    int all = 1;
    for (int s = 1; s <= 9; s++) {
        char nm[64];
        snprintf(nm, sizeof nm, "model-%d.safetensors", s);
        all &= exists(path_in(d3, nm));
    }
    CHECK(all, "keep_checkpoint_max 0 keeps every checkpoint");

    /* listing: every file checked, the index's names marked */
    flip_byte(path_in(d3, "model-4.safetensors"), -1);
    unlink(path_in(d3, "model-2.safetensors"));
    rt_ckpt_info *info;
    int n;
    CHECK(rt_ckpt_list(d3, &info, &n, &st) == 0 && n == 9, "list: 8 files and 1 missing (%d)", n);
    int ok = 1, seen_missing = 0, seen_bad = 0;
    for (int i = 0; i < n; i++) {
        if (!strcmp(info[i].file, "model-2.safetensors")) { seen_missing = !info[i].ok && strstr(info[i].problem, "missing"); continue; }
        if (!strcmp(info[i].file, "model-4.safetensors")) { seen_bad = !info[i].ok && strstr(info[i].problem, "checksum"); continue; }
        ok &= info[i].ok && info[i].listed && info[i].bytes > 0;
        ok &= info[i].latest == !strcmp(info[i].file, "model-9.safetensors");
    }
    CHECK(ok && seen_missing && seen_bad, "list: ok files listed, the latest marked, the damaged and the missing reported");
    free(info);
    rt_vars_free(&big);
    free(dir);
    free(d2);
    free(d3);
}

static void test_warm_start(void)
{
    char *from = es_xstrdup(path_in(tmpdir, "warm_from"));
    rt_vars src, dst;
    make_store(&src, 11, 1);
    es_status st;
    es_status_clear(&st);
    rt_ckpt_meta m = full_meta(77);
    rt_ckpt_write(from, &src, &m, 5, &st);
    make_store(&dst, 11, 0);
    int n = -1;
    int64_t step = 0;
    CHECK(rt_ckpt_warm_start(from, &dst, "linear/", &n, &step, &st) == 0 && n == 2 && step == 77,
          "pattern linear/ copies the two linear variables from step 77 (%d): %s", n, st.msg);
    CHECK(dst.v[0].data[3] == src.v[0].data[3] && dst.v[1].data[0] == 3.5f, "their values");
    CHECK(dst.v[2].data[0] == 0 && dst.v[3].data[0] == 0, "others untouched (the non-trainable hours/mean too)");
    rt_vars_free(&dst);
    make_store(&dst, 11, 0);
    CHECK(rt_ckpt_warm_start(from, &dst, NULL, &n, &step, &st) == 0 && n == 3 && dst.v[2].data[0] == 0,
          "the default pattern takes every trainable variable, not hours/mean (%d)", n);
    rt_vars_free(&dst);
    /* from a file */
    make_store(&dst, 11, 0);
    CHECK(rt_ckpt_warm_start(path_in(from, "model-77.safetensors"), &dst, "linear/bias", &n, &step, &st) == 0 &&
          n == 1 && dst.v[1].data[0] == 3.5f, "from a checkpoint file");
    rt_vars_free(&dst);
    /* refusals */
    make_store(&dst, 12, 0);
    es_status_clear(&st);
    CHECK(rt_ckpt_warm_start(from, &dst, "linear/age", &n, &step, &st) == -1 &&
          strstr(st.msg, "variable linear/age_b/weights has shape [12,1] here but F32 [11,1]"),
          "a shape mismatch names the variable: %s", st.msg);
    es_status_clear(&st);
    CHECK(rt_ckpt_warm_start(from, &dst, "nothing", &n, &step, &st) == -1 && strstr(st.msg, "matches no trainable variable"),
          "a pattern matching nothing: %s", st.msg);
    es_status_clear(&st);
    CHECK(rt_ckpt_warm_start(from, &dst, "(", &n, &step, &st) == -1 && strstr(st.msg, "not a regular expression"),
          "a bad pattern: %s", st.msg);
    rt_var *extra = rt_vars_add(&dst, "linear/extra", gr_shape1(2), 1, &st);
    ES_UNUSED(extra);
    es_status_clear(&st);
    CHECK(rt_ckpt_warm_start(from, &dst, "linear/(bias|extra)", &n, &step, &st) == -1 &&
          strstr(st.msg, "variable linear/extra is not in the checkpoint"), "a variable missing there: %s", st.msg);
    es_status_clear(&st);
    CHECK(rt_ckpt_warm_start(path_in(tmpdir, "no_such"), &dst, NULL, &n, &step, &st) == -1 && strstr(st.msg, "no checkpoint"),
          "no checkpoint to warm-start from: %s", st.msg);
    rt_vars_free(&dst);
    rt_vars_free(&src);
    free(from);
}

static void test_lock_and_temps(void)
{
    char *dir = es_xstrdup(path_in(tmpdir, "lock"));
    es_status st;
    es_status_clear(&st);
    int a = rt_ckpt_lock(dir, &st);
    CHECK(a >= 0, "lock a model_dir: %s", st.msg);
    int b = rt_ckpt_lock(dir, &st);
    CHECK(b < 0 && strstr(st.msg, "is being trained by another process"), "a second lock is refused: %s", st.msg);
    rt_ckpt_unlock(a);
    b = rt_ckpt_lock(dir, &st);
    CHECK(b >= 0, "free again after unlocking");
    rt_ckpt_unlock(b);
    static const char *const names[] = { "model-5.safetensors.tmp.123", "checkpoint.tmp.99", "notes.tmp.1",
                                         "model-5.safetensors.tmp.x1", "model-5.safetensors" };
    for (int i = 0; i < 5; i++) spit(path_in(dir, names[i]), "x", 1);
    rt_ckpt_clean(dir);
    CHECK(!exists(path_in(dir, names[0])) && !exists(path_in(dir, names[1])), "writers' leftovers removed");
    CHECK(exists(path_in(dir, names[2])) && exists(path_in(dir, names[3])) && exists(path_in(dir, names[4])),
          "other files kept (model-5 too: without an index nothing says it is stale)");
    /* with an index, checkpoint files it does not list are leftovers of a killed save */
    rt_vars vs;
    make_store(&vs, 3, 1);
    rt_ckpt_meta m = full_meta(7);
    rt_ckpt_write(dir, &vs, &m, 5, &st);
    spit(path_in(dir, "model-9.safetensors"), "x", 1);
    rt_ckpt_clean(dir);
    CHECK(exists(path_in(dir, "model-7.safetensors")) && !exists(path_in(dir, "model-5.safetensors")) &&
          !exists(path_in(dir, "model-9.safetensors")) && exists(path_in(dir, "notes.tmp.1")),
          "unlisted checkpoint files are removed, the listed one and other files kept");
    rt_vars_free(&vs);
    free(dir);
}

int main(void)
{
    snprintf(tmpdir, sizeof tmpdir, "/tmp/estc_test_ckpt_XXXXXX");
    if (!mkdtemp(tmpdir)) { perror("mkdtemp"); return 1; }
    test_layout_and_round_trip();
    test_damage();
    test_missing_and_keep();
    test_vars_from_graphs();
    test_meta_round_trip();
    test_fallback();
    test_strict_and_keep();
    test_warm_start();
    test_lock_and_temps();
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", tmpdir);
    return check_done("test_ckpt");
}

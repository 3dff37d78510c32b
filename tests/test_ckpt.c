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

int main(void)
{
    snprintf(tmpdir, sizeof tmpdir, "/tmp/estc_test_ckpt_XXXXXX");
    if (!mkdtemp(tmpdir)) { perror("mkdtemp"); return 1; }
    test_layout_and_round_trip();
    test_damage();
    test_missing_and_keep();
    test_vars_from_graphs();
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", tmpdir);
    return check_done("test_ckpt");
}

/*
 * test_cache.c — the JIT object cache (codegen/jit.c).
 *
 * A program compiled twice with the same cache directory is compiled once and
 * taken from the cache the second time; both sessions compute what the
 * reference evaluator computes. A damaged cache file is ignored, the program
 * recompiled and the file rewritten, and so is one whose checksum holds but
 * whose object the loader refuses. ESTC_NO_CACHE bypasses the cache, and a
 * different program gets a different entry. A hit is found from the graph
 * alone, without emitting IR. The fast tier computes the same bits as the
 * optimised tier; its entries are separate, used only by a fast session that
 * finds no optimised one, and removed when the optimised one is stored.
 */
#include "../codegen/codegen.h"
#include "check.h"

#include <dirent.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static es_span nospan(void) { es_span s; memset(&s, 0, sizeof s); return s; }

/* y = tanh(x @ w + b) * scale, a few ops of different kinds */
static gr_graph *program(es_arena *a, double scale)
{
    gr_graph *g = gr_new(a, NULL);
    int x = gr_input(g, "x", GR_F32, gr_shape2(GR_BATCH, 3), nospan());
    int w = gr_param(g, "w", gr_shape2(3, 2), GR_INIT_UNIFORM, -1, 1, 1, nospan());
    int b = gr_param(g, "b", gr_shape1(2), GR_INIT_UNIFORM, -1, 1, 1, nospan());
    int y = gr_unary(g, GR_TANH, gr_binary(g, GR_ADD, gr_matmul(g, x, w, 0, 0, nospan()), b, nospan()), nospan());
    y = gr_binary(g, GR_MUL, y, gr_scalar(g, scale, nospan()), nospan());
    gr_add_output(g, "y", y);
    gr_bind(g);
    return g;
}

enum { B = 5 };
static float last_y[B * 2];     /* the JIT's output in the last run_both */
static cg_timings last_time;    /* the last session's timings */

/* runs the JIT entry and the reference on the same data; returns max |diff| */
static double run_both(gr_graph *g, cg_entry_fn fn)
{
    void **jb = calloc((size_t)g->nbufs, sizeof(void *)), **rb = calloc((size_t)g->nbufs, sizeof(void *));
    es_rng rng;
    es_rng_seed(&rng, 3);
    for (int i = 0; i < g->n; i++) {
        gr_node *n = &g->nodes[i];
        if (n->buf < 0) continue;
        size_t bytes = gr_buf_bytes(g, i, B) + 16;
        jb[n->buf] = calloc(1, bytes);
        rb[n->buf] = calloc(1, bytes);
        if (n->op == GR_INPUT || n->op == GR_PARAM) {
            float *p = jb[n->buf];
            for (int64_t k = 0; k < gr_numel(n->shape, B); k++) p[k] = (float)(es_rng_uniform(&rng) * 2 - 1);
            memcpy(rb[n->buf], jb[n->buf], bytes);
        }
    }
    fn(jb, B);
    gr_eval(g, rb, B);
    int out = gr_find_output(g, "y");
    const float *a = jb[g->nodes[out].buf], *r = rb[g->nodes[out].buf];
    memcpy(last_y, a, sizeof last_y);
    double worst = 0;
    for (int k = 0; k < B * 2; k++) if (fabs(a[k] - r[k]) > worst) worst = fabs(a[k] - r[k]);
    for (int i = 0; i < g->nbufs; i++) { free(jb[i]); free(rb[i]); }
    free(jb); free(rb);
    return worst;
}

/* compiles g (fast: letting the fast tier serve a miss) and checks it; nfast:
 * how many programs must run fast-tier code */
static cg_cache_stats compile_tier_and_check(gr_graph *g, int fast, int nfast, const char *what)
{
    es_status st = {0};
    const char *name = "cached_entry";
    cg_jit *j = cg_jit_new_tiered(&g, &name, 1, fast, &st);
    cg_cache_stats s = {0};
    CHECK(j != NULL, "%s: the program compiles (%s)", what, st.msg);
    if (!j) return s;
    double d = run_both(g, cg_jit_lookup(j, name));
    CHECK(d < 1e-5, "%s: the compiled program matches the reference (max diff %g)", what, d);
    s = cg_jit_cache_stats(j);
    last_time = cg_jit_timings(j);
    CHECK(cg_jit_fast_programs(j) == nfast, "%s: %d fast-tier programs, expected %d", what,
          cg_jit_fast_programs(j), nfast);
    CHECK((cg_jit_fast_cost(j) > 0) == (nfast > 0), "%s: the fast compile's cost is known (%g s)", what,
          cg_jit_fast_cost(j));
    cg_jit_free(j);
    return s;
}

static cg_cache_stats compile_and_check(gr_graph *g, const char *what)
{
    return compile_tier_and_check(g, 0, 0, what);
}

static int count_entries(const char *dir, char *last, size_t n)
{
    DIR *d = opendir(dir);
    if (!d) return 0;
    int k = 0;
    struct dirent *e;
    while ((e = readdir(d)))
        if (strstr(e->d_name, ".o") && !strstr(e->d_name, ".tmp")) {
            k++;
            snprintf(last, n, "%s/%s", dir, e->d_name);
        }
    closedir(d);
    return k;
}

/* flips a byte in the middle of the file; 1 if done */
static int flip_middle_byte(const char *path)
{
    FILE *f = fopen(path, "r+b");
    if (!f) return 0;
    fseek(f, 0, SEEK_END);
    long len = ftell(f);
    fseek(f, len / 2, SEEK_SET);
    int c = fgetc(f);
    fseek(f, len / 2, SEEK_SET);
    fputc(c ^ 0x40, f);
    return fclose(f) == 0;
}

/* spoils the ELF magic of the entry's object and writes the checksum the
 * spoilt entry has (jit.c: magic, checksum of the rest, cost, object); 1 if done */
static int spoil_object(const char *path)
{
    es_status st;
    es_status_clear(&st);
    size_t len = 0;
    char *data = es_read_file(path, &len, &st);
    int ok = 0;
    if (data && len > 24) {
        data[24 + 1] = 'X';
        uint64_t sum = es_hash64(data + 16, len - 16, 0);
        memcpy(data + 8, &sum, 8);
        FILE *f = fopen(path, "wb");
        ok = f && fwrite(data, 1, len, f) == len;
        if (f && fclose(f) != 0) ok = 0;
    }
    free(data);
    return ok;
}

/* fn on every entry of the cache directory; how many it changed */
static int each_entry(const char *dir, int (*fn)(const char *path))
{
    DIR *d = opendir(dir);
    struct dirent *e;
    int n = 0;
    while (d && (e = readdir(d))) {
        if (!strstr(e->d_name, ".o")) continue;
        char p[4200];
        snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
        n += fn(p);
    }
    if (d) closedir(d);
    return n;
}

/* spoils every entry with fn; then the program's entry must be ignored,
 * recompiled and rewritten, and the rewritten one used */
static void check_recovers(const char *dir, gr_graph *g, int (*fn)(const char *path), const char *what)
{
    CHECK(each_entry(dir, fn) == 3, "%s: three entries spoilt", what);
    cg_cache_stats s = compile_and_check(g, what);
    CHECK(s.rejected == 1 && s.compiled == 1 && s.written == 1 && s.hits == 0,
          "%s is ignored, recompiled and rewritten (rejected %d, compiled %d, written %d)", what, s.rejected,
          s.compiled, s.written);
    s = compile_and_check(g, what);
    CHECK(s.hits == 1 && s.compiled == 0, "%s: the rewritten entry is used (hits %d)", what, s.hits);
}

int main(void)
{
    char dir[] = "/tmp/estc-test-cache-XXXXXX";
    if (!mkdtemp(dir)) { perror("mkdtemp"); return 1; }
    setenv("ESTC_CACHE_DIR", dir, 1);
    unsetenv("ESTC_NO_CACHE");
    es_arena *a = es_arena_new();
    char entry[4096] = "";

    cg_cache_stats s = compile_and_check(program(a, 2.0), "cold");
    CHECK(s.compiled == 1 && s.hits == 0 && s.written == 1, "a cold start compiles and writes one entry "
          "(compiled %d, hits %d, written %d)", s.compiled, s.hits, s.written);
    CHECK(count_entries(dir, entry, sizeof entry) == 1, "one file in the cache directory");

    s = compile_and_check(program(a, 2.0), "warm");
    CHECK(s.compiled == 0 && s.hits == 1, "the same program comes from the cache (compiled %d, hits %d)",
          s.compiled, s.hits);
    CHECK(last_time.emit == 0 && last_time.optimize == 0, "a hit emits no IR (%g s) and optimises nothing",
          last_time.emit);
    s = compile_tier_and_check(program(a, 2.0), 1, 0, "fast tier, warm");
    CHECK(s.compiled == 0 && s.hits == 1, "the fast tier takes the optimised entry (compiled %d, hits %d)",
          s.compiled, s.hits);

    s = compile_and_check(program(a, 3.0), "other program");
    CHECK(s.compiled == 1 && s.hits == 0, "a different constant is a different entry (compiled %d, hits %d)",
          s.compiled, s.hits);
    CHECK(count_entries(dir, entry, sizeof entry) == 2, "two files in the cache directory");

    setenv("ESTC_NO_CACHE", "1", 1);
    compile_and_check(program(a, 4.0), "optimised, no cache");
    unsetenv("ESTC_NO_CACHE");
    float opt_y[B * 2];
    memcpy(opt_y, last_y, sizeof opt_y);
    s = compile_tier_and_check(program(a, 4.0), 1, 1, "fast tier, cold");
    CHECK(s.compiled == 1 && s.hits == 0 && s.written == 1,
          "the fast tier compiles and stores its object (compiled %d, hits %d, written %d)", s.compiled, s.hits,
          s.written);
    CHECK(count_entries(dir, entry, sizeof entry) == 3, "three files in the cache directory");
    CHECK(memcmp(last_y, opt_y, sizeof opt_y) == 0, "the fast and the optimised tier compute the same bits");
    s = compile_tier_and_check(program(a, 4.0), 1, 1, "fast tier, warm");
    CHECK(s.compiled == 0 && s.hits == 1, "a fast session takes the fast entry (compiled %d, hits %d)", s.compiled,
          s.hits);
    s = compile_and_check(program(a, 4.0), "optimised after the fast tier");
    CHECK(s.compiled == 1 && s.hits == 0 && s.written == 1,
          "an optimised session ignores the fast entry (compiled %d, hits %d, written %d)", s.compiled, s.hits,
          s.written);
    CHECK(count_entries(dir, entry, sizeof entry) == 3, "the optimised entry replaced the fast one");
    s = compile_tier_and_check(program(a, 4.0), 1, 0, "fast session, optimised entry");
    CHECK(s.hits == 1, "a fast session prefers the optimised entry (hits %d)", s.hits);

    /* damaged entries: a byte flipped in the middle of each; an object the
     * loader refuses under a checksum that holds */
    check_recovers(dir, program(a, 2.0), flip_middle_byte, "a damaged entry");
    check_recovers(dir, program(a, 2.0), spoil_object, "an entry the loader refuses");

    setenv("ESTC_NO_CACHE", "1", 1);
    s = compile_and_check(program(a, 2.0), "no cache");
    CHECK(s.hits == 0 && s.compiled == 1 && s.written == 0, "ESTC_NO_CACHE bypasses the cache "
          "(hits %d, compiled %d, written %d)", s.hits, s.compiled, s.written);

    es_arena_free(a);
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", dir);
    return check_done("test_cache");
}

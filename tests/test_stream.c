/*
 * test_stream.c — the cache and the background reading thread change where
 * records come from, never what the stream gives.
 *
 * Each stream is read in four ways: on the caller's thread, with the
 * background thread, with the source's cache, and with both. Against the
 * first (the reference), the others must hand out the same batches, report
 * the same position after every batch (what a checkpoint records: epoch,
 * example, byte offset, bad rows, generator state, shuffle-buffer hash), the
 * same skip counts and epoch size, and end at the same moment. The file has
 * bad rows (bad_rows = "skip") and more rows than one block of the thread's
 * queue. A malformed row under bad_rows = "error", and a file that cannot be
 * re-opened for the second epoch, must stop every variant after the same
 * examples with the same message. The cache is shown to serve later epochs
 * from memory (they go on after the file is gone); skipping (resume) lands
 * where reading does in every variant, even with the thread running; and
 * closing a stream whose thread is busy returns (the ASan build checks that
 * nothing leaks). The specs are built by hand, without the frontend.
 */
#define _GNU_SOURCE
#include "check.h"
#include "../runtime/runtime.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char tmpdir[64];
static es_arena *A;

enum { NROWS = 2000 };

/* Rows i = 0..n-1: "i,i.5,2i"; every row in bad_every (0 = none) is malformed. */
static const char *write_data(const char *name, int n, int bad_every)
{
    char *p = es_sprintf(A, "%s/%s", tmpdir, name);
    FILE *f = fopen(p, "wb");
    for (int i = 0; i < n; i++) {
        if (bad_every && i % bad_every == bad_every - 1) fprintf(f, "%d,oops,%d\n", i, i);
        else fprintf(f, "%d,%d.5,%d\n", i, i, 2 * i);
    }
    fclose(f);
    return p;
}

static es_spec *make_spec(const char *path, es_bad_rows bad, int cache)
{
    return check_stream_spec(A, path, bad, cache, 1 << 20);
}

/* The variants: bit 0 = background thread, bit 1 = cache, bit 2 = the
 * cache preloaded right after opening (rt_stream_preload), bit 3 = batches
 * asked ahead (rt_stream_request) by read_in_step. */
static const char *const mode_name[] = { "plain", "thread", "cache", "cache+thread", "", "",
                                         "preloaded", "preloaded+thread", "ahead", "thread+ahead", "",
                                         "cache+thread+ahead", "", "", "", "preloaded+thread+ahead" };
enum { NMODES = 16 };

/* The same spec with the source's cache set as the mode says. */
static es_spec *with_mode(const es_spec *spec, int mode)
{
    es_spec *s = es_alloc(A, sizeof *s);
    *s = *spec;
    es_source_spec *src = es_alloc(A, sizeof *src);
    *src = *spec->train;
    src->cache = (mode & 2) != 0;
    s->train = s->eval = src;
    return s;
}

static rt_stream *open_mode(const es_spec *spec, int mode, int64_t bs, int64_t epochs, int64_t shuffle,
                            uint64_t seed, es_status *st)
{
    es_spec *s = with_mode(spec, mode);
    rt_stream *r = rt_stream_open(s, s->train, NULL, 1, bs, epochs, shuffle, seed, st);
    if (r && (mode & 4)) {
        int k = rt_stream_preload(r, st);
        CHECK(k == (epochs > 1), "%s: preload gives %d: %s", mode_name[mode], k, st->msg);
        if (k < 0) { rt_stream_close(r); return NULL; }
    }
    if (r) rt_stream_background(r, mode & 1);
    return r;
}

static int same_pos(const rt_stream_pos *a, const rt_stream_pos *b)
{
    return a->examples == b->examples && a->epoch == b->epoch && a->in_epoch == b->in_epoch &&
           a->offset == b->offset && a->rows_skipped == b->rows_skipped &&
           !memcmp(a->rng, b->rng, sizeof a->rng) && a->buffer_hash == b->buffer_hash;
}

static int same_batch(const rt_batch *a, const rt_batch *b)
{
    return a->n == b->n && !memcmp(a->feat[0], b->feat[0], (size_t)a->n * 4) &&
           !memcmp(a->feat[1], b->feat[1], (size_t)a->n * 4) && !memcmp(a->label, b->label, (size_t)a->n * 4);
}

/* Reads `ref` and `s` in step, batch by batch; returns the batches read.
 * Stops at the first difference (reported) or when either ends or fails. */
static char last_error[1024];   /* the error read_in_step stopped at */

static int64_t read_in_step(rt_stream *ref, rt_stream *s, int mode, const char *what)
{
    last_error[0] = 0;
    es_status sa, sb;
    es_status_clear(&sa);
    es_status_clear(&sb);
    rt_batch ba, bb;
    int64_t nb = 0;
    for (;;) {
        int ka = rt_stream_next(ref, &ba, &sa), kb = rt_stream_next(s, &bb, &sb);
        if (ka != kb) { CHECK(0, "%s: batch %lld: next returns %d, not %d (%s%s)", what, (long long)nb, kb, ka, sa.msg, sb.msg); return nb; }
        if (ka < 0) {
            CHECK(!strcmp(sa.msg, sb.msg), "%s: the same error after %lld batches: '%s' vs '%s'", what,
                  (long long)nb, sb.msg, sa.msg);
            snprintf(last_error, sizeof last_error, "%s", sb.msg);
            CHECK(rt_stream_skipped(ref) == rt_stream_skipped(s), "%s: skip count at the error", what);
            return nb;
        }
        if (ka == 0) {
            CHECK(rt_stream_done(s), "%s: done at the end", what);
            break;
        }
        /* asked ahead two batches in three: the next one is assembled while
         * this one is compared (it must stay intact), and the positions are
         * compared when none is asked */
        int ahead = (mode & 8) && nb % 3 != 2;
        if (ahead) rt_stream_request(s);
        if (!same_batch(&ba, &bb)) { CHECK(0, "%s: batch %lld differs", what, (long long)nb); return nb; }
        if (ahead) { nb++; continue; }
        rt_stream_pos pa, pb;
        rt_stream_position(ref, &pa);
        rt_stream_position(s, &pb);
        if (!same_pos(&pa, &pb)) {
            CHECK(0, "%s: after batch %lld the position differs: epoch %lld/%lld example %lld/%lld offset %lld/%lld "
                  "skipped %lld/%lld", what, (long long)nb, (long long)pb.epoch, (long long)pa.epoch,
                  (long long)pb.in_epoch, (long long)pa.in_epoch, (long long)pb.offset, (long long)pa.offset,
                  (long long)pb.rows_skipped, (long long)pa.rows_skipped);
            return nb;
        }
        if (rt_stream_skipped(ref) != rt_stream_skipped(s) ||
            rt_stream_epoch_rows(ref) != rt_stream_epoch_rows(s) || rt_stream_done(ref) != rt_stream_done(s)) {
            CHECK(0, "%s: after batch %lld skipped/epoch rows/done differ", what, (long long)nb);
            return nb;
        }
        nb++;
    }
    CHECK(1, "%s", what);
    return nb;
}

static void test_variants_agree(const es_spec *spec)
{
    static const int64_t shuffles[] = { 0, 7, 300, 5000 };
    static const int64_t batches[] = { 1, 64, 700 };
    for (size_t a = 0; a < ES_ARRAY_LEN(shuffles); a++)
        for (size_t b = 0; b < ES_ARRAY_LEN(batches); b++)
            for (int mode = 1; mode < NMODES; mode++) {
                if (!mode_name[mode][0]) continue;
                es_status st;
                es_status_clear(&st);
                rt_stream *ref = open_mode(spec, 0, batches[b], 4, shuffles[a], 5, &st);
                rt_stream *s = open_mode(spec, mode, batches[b], 4, shuffles[a], 5, &st);
                CHECK(ref && s, "open: %s", st.msg);
                if (!ref || !s) return;
                char *what = es_sprintf(A, "%s, shuffle %lld, batch %lld", mode_name[mode], (long long)shuffles[a],
                                        (long long)batches[b]);
                int64_t nb = read_in_step(ref, s, mode, what);
                int64_t want = (4 * (NROWS - NROWS / 9) + batches[b] - 1) / batches[b];
                CHECK(nb == want, "%s: %lld batches, expected %lld", what, (long long)nb, (long long)want);
                CHECK(rt_stream_skipped(s) == 4 * (NROWS / 9), "%s: bad rows counted every epoch: %lld", what,
                      (long long)rt_stream_skipped(s));
                rt_stream_close(ref);
                rt_stream_close(s);
            }
}

/* Every example id of a stream; *k gets rt_stream_next's last result. */
static int32_t *read_ids(rt_stream *s, int64_t *n, int *k, es_status *st)
{
    int64_t cap = 1024;
    int32_t *ids = malloc((size_t)cap * sizeof *ids);
    rt_batch b;
    *n = 0;
    while ((*k = rt_stream_next(s, &b, st)) == 1)
        for (int64_t j = 0; j < b.n; j++) {
            if (*n == cap) ids = realloc(ids, (size_t)(cap *= 2) * sizeof *ids);
            ids[(*n)++] = ((const int32_t *)b.feat[0])[j];
        }
    return ids;
}

/* With the cache, the epochs after the first do not read the file: they go
 * on after it is gone, and give what the file gave. Without, they cannot. */
static void test_cache_serves_later_epochs(void)
{
    const char *path = write_data("moving.csv", 500, 7);
    char *moved = es_sprintf(A, "%s.away", path);
    es_spec *spec = make_spec(path, ES_BAD_ROWS_SKIP, 0);
    es_status st;
    es_status_clear(&st);
    rt_stream *ref = open_mode(spec, 0, 32, 3, 100, 9, &st);
    int64_t nref;
    int k;
    int32_t *want = read_ids(ref, &nref, &k, &st);
    rt_stream_close(ref);
    CHECK(k == 0 && nref == 3 * (500 - 500 / 7), "the reference reads 3 epochs: %lld", (long long)nref);
    for (int mode = 0; mode < 4; mode++) {
        es_status_clear(&st);
        rt_stream *s = open_mode(spec, mode, 32, 3, 100, 9, &st);
        /* read into the second epoch: the first has been read to its end */
        int64_t n = 0, cap = nref + 32;
        int32_t *got = malloc((size_t)cap * sizeof *got);
        rt_batch b;
        rt_stream_pos p = { 0 };
        while (p.epoch < 2 && (k = rt_stream_next(s, &b, &st)) == 1) {
            memcpy(got + n, b.feat[0], (size_t)b.n * 4);
            n += b.n;
            rt_stream_position(s, &p);
        }
        CHECK(p.epoch == 2, "%s: reached the second epoch", mode_name[mode]);
        CHECK(rename(path, moved) == 0, "move the file away");
        while ((k = rt_stream_next(s, &b, &st)) == 1 && n + b.n <= cap) {
            memcpy(got + n, b.feat[0], (size_t)b.n * 4);
            n += b.n;
        }
        if (mode & 2)
            CHECK(k == 0 && n == nref && !memcmp(got, want, (size_t)n * 4),
                  "%s: the later epochs come from memory, the same examples (%lld of %lld): %s",
                  mode_name[mode], (long long)n, (long long)nref, st.msg);
        else if (mode == 0)   /* (the thread may have opened the third epoch's file already) */
            CHECK(k == -1 && strstr(st.msg, "cannot open"), "%s: without the cache the file is needed: %s",
                  mode_name[mode], st.msg);
        CHECK(rename(moved, path) == 0, "move the file back");
        free(got);
        rt_stream_close(s);
    }
    free(want);
}

/* A malformed row stops every variant after the same examples, and so does
 * a file that cannot be opened again for the second epoch. */
static void test_errors_at_the_same_moment(void)
{
    const char *path = write_data("bad.csv", NROWS, 1500);   /* row 1499 (line 1500) is malformed */
    es_spec *spec = make_spec(path, ES_BAD_ROWS_ERROR, 0);
    static const int modes[] = { 1, 2, 3, 8, 9, 11 };
    for (size_t mi = 0; mi < ES_ARRAY_LEN(modes); mi++) {
        int mode = modes[mi];
        es_status st;
        es_status_clear(&st);
        rt_stream *ref = open_mode(spec, 0, 16, 3, 40, 3, &st);
        rt_stream *s = open_mode(spec, mode, 16, 3, 40, 3, &st);
        char *what = es_sprintf(A, "%s, malformed row", mode_name[mode]);
        int64_t nb = read_in_step(ref, s, mode, what);
        CHECK(nb == (1499 - 40 + 1) / 16, "%s: stops after %lld batches", what, (long long)nb);
        CHECK(strstr(last_error, "bad.csv:1500:") != NULL, "%s: located error: %s", what, last_error);
        rt_stream_close(ref);
        rt_stream_close(s);
    }
    /* preloading reads the whole first epoch at once: the error comes then */
    es_status pst;
    es_status_clear(&pst);
    es_spec *c = with_mode(spec, 2);
    rt_stream *p = rt_stream_open(c, c->train, NULL, 1, 16, 3, 40, 3, &pst);
    CHECK(p && rt_stream_preload(p, &pst) == -1 && strstr(pst.msg, "bad.csv:1500:"),
          "preload stops at the malformed row: %s", pst.msg);
    rt_stream_close(p);
    const char *gone = write_data("gone.csv", 300, 0);
    es_spec *g = make_spec(gone, ES_BAD_ROWS_SKIP, 0);
    for (int mode = 1; mode < 2; mode++) {
        es_status st;
        es_status_clear(&st);
        rt_stream *ref = open_mode(g, 0, 16, 3, 10, 3, &st);
        rt_stream *s = open_mode(g, mode, 16, 3, 10, 3, &st);
        CHECK(unlink(gone) == 0, "remove the file once open");
        int64_t nb = read_in_step(ref, s, mode, "thread, file removed after the first epoch opened");
        CHECK(nb == 300 / 16 && strstr(last_error, "cannot open"),
              "the first epoch is read, then the error: %lld batches, '%s'", (long long)nb, last_error);
        rt_stream_close(ref);
        rt_stream_close(s);
    }
}

/* Statistics read from the preloaded cache are those of the file, bit for
 * bit, and the preloaded stream needs the file no more, its first epoch
 * included. */
static void test_preload_stats(void)
{
    const char *path = write_data("stats.csv", NROWS, 9);
    es_spec *spec = make_spec(path, ES_BAD_ROWS_SKIP, 1);
    rt_stats want[2], got[2];
    es_status st;
    es_status_clear(&st);
    CHECK(rt_compute_stats(spec, path, want, &st) == 0, "statistics from the file: %s", st.msg);
    rt_stream *ref = open_mode(spec, 2, 32, 2, 100, 9, &st);
    rt_stream *s = open_mode(spec, 6, 32, 2, 100, 9, &st);
    CHECK(ref && s, "open: %s", st.msg);
    if (!ref || !s) return;
    CHECK(rt_stream_stats(ref, got) == -1, "no statistics from a stream that has not read its epoch");
    CHECK(rt_stream_stats(s, got) == 0, "statistics from the preloaded cache");
    CHECK(got[1].count == NROWS - NROWS / 9 && !memcmp(&got[1], &want[1], sizeof got[1]),
          "the same statistics: count %lld/%lld mean %.17g/%.17g std %.17g/%.17g min %g/%g max %g/%g",
          (long long)got[1].count, (long long)want[1].count, got[1].mean, want[1].mean, got[1].std, want[1].std,
          got[1].min, want[1].min, got[1].max, want[1].max);
    char *moved = es_sprintf(A, "%s.away", path);
    CHECK(rename(path, moved) == 0, "move the file away");
    /* ref has its file open and caches it for the second epoch; s reads memory only */
    read_in_step(ref, s, 6, "preloaded, file gone");
    CHECK(rename(moved, path) == 0, "move the file back");
    rt_stream_close(ref);
    rt_stream_close(s);
    /* without the cache (one epoch), nothing is preloaded */
    s = rt_stream_open(spec, spec->train, NULL, 1, 32, 1, 100, 9, &st);
    CHECK(s && rt_stream_preload(s, &st) == 0 && rt_stream_stats(s, got) == -1, "one epoch: no preload");
    rt_stream_close(s);
}

/* Skipping (what a resumed run does) lands where reading does, in every
 * variant, before and after the thread has started. */
static void test_skip_in_every_variant(const es_spec *spec)
{
    const int64_t per_epoch = NROWS - NROWS / 9;
    const int64_t skips[] = { 0, 5, per_epoch - 1, per_epoch, per_epoch + 3, 2 * per_epoch + 100, 5 * per_epoch };
    for (size_t i = 0; i < ES_ARRAY_LEN(skips); i++)
        for (int mode = 0; mode < NMODES; mode++)
            for (int warm = 0; warm < 2 && mode_name[mode][0]; warm++) {
                es_status st;
                es_status_clear(&st);
                int64_t bs = 10, n = skips[i], first = warm ? 3 * bs : 0;
                /* the reference reads first + n examples one batch of 1 at a time */
                rt_stream *ref = open_mode(spec, 0, 1, 4, 300, 11, &st);
                rt_batch b;
                for (int64_t k = 0; k < first + n; k++) rt_stream_next(ref, &b, &st);
                rt_stream *s = open_mode(spec, mode, 1, 4, 300, 11, &st);
                for (int64_t k = 0; k < first; k++) rt_stream_next(s, &b, &st);   /* starts the thread */
                int64_t want = first + n <= 4 * per_epoch ? n : 4 * per_epoch - first;
                int64_t done = rt_stream_skip(s, n, &st);
                char *what = es_sprintf(A, "%s, %s, skip %lld", mode_name[mode], warm ? "after 30 read" : "at open",
                                        (long long)n);
                CHECK(done == want, "%s: skipped %lld, expected %lld", what, (long long)done, (long long)want);
                rt_stream_pos pa, pb;
                rt_stream_position(ref, &pa);
                rt_stream_position(s, &pb);
                CHECK(same_pos(&pa, &pb), "%s: the position of reading", what);
                read_in_step(ref, s, mode, what);
                rt_stream_close(ref);
                rt_stream_close(s);
            }
}

/* Closing while the thread reads ahead (or waits for room) returns and
 * frees everything; so does a stream whose thread never started. */
static void test_close_while_reading(const es_spec *spec)
{
    int64_t inf = INT64_MAX / 4;
    for (int k = 0; k < 40; k++) {
        es_status st;
        es_status_clear(&st);
        rt_stream *s = open_mode(spec, 1 | (k & 2), 1 + k % 5 * 50, inf, k % 3 ? 100 : 0, (uint64_t)k, &st);
        rt_batch b;
        for (int j = 0; j < k; j++) rt_stream_next(s, &b, &st);
        if (k % 4 == 1) usleep(1000);    /* let the queue fill up */
        rt_stream_close(s);
    }
    CHECK(1, "40 streams closed mid-read");
}

int main(void)
{
    snprintf(tmpdir, sizeof tmpdir, "/tmp/estc_test_stream_XXXXXX");
    if (!mkdtemp(tmpdir)) { perror("mkdtemp"); return 1; }
    A = es_arena_new();
    es_spec *spec = make_spec(write_data("data.csv", NROWS, 9), ES_BAD_ROWS_SKIP, 0);
    test_variants_agree(spec);
    test_cache_serves_later_epochs();
    test_errors_at_the_same_moment();
    test_preload_stats();
    test_skip_in_every_variant(spec);
    test_close_while_reading(spec);
    es_arena_free(A);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", tmpdir);
    return check_done("stream");
}

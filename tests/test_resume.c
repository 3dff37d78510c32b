/*
 * test_resume.c — the data stream can be resumed exactly.
 *
 * A resumed training run re-opens its stream with the same seed and skips the
 * examples the checkpoint had consumed (rt_stream_skip). The property checked
 * here is the one bit-identical resume rests on: for every skip count n, the
 * examples after skip(n) are exactly the examples after position n of a
 * stream read batch by batch, and both streams report the same position
 * (epoch, example, byte offset, bad rows, generator state, buffer contents).
 * The reference sequence comes from ordinary rt_stream_next calls, not from
 * the skipping code. Skip counts cover: inside the first epoch, exactly at
 * epoch boundaries, several epochs ahead (where epochs are replayed on the
 * generator alone), and past the end. Shuffle buffers cover file order, a
 * buffer smaller than the file, equal to it and larger. The file has bad
 * rows skipped by bad_rows = "skip", so the per-epoch counts are exercised.
 * The specs are built by hand: this test does not depend on the frontend.
 */
#define _GNU_SOURCE
#include "check.h"
#include "../runtime/runtime.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char tmpdir[64];
static es_arena *A;

enum { NROWS = 61, NBAD = 3 };   /* 61 rows of which 3 are malformed: 58 examples per epoch */

static const char *write_tmp(const char *name, const char *data)
{
    char *p = es_sprintf(A, "%s/%s", tmpdir, name);
    FILE *f = fopen(p, "wb");
    fputs(data, f);
    fclose(f);
    return p;
}

static es_spec *make_spec(const char *text)
{
    return check_stream_spec(A, write_tmp(es_sprintf(A, "data%zu.csv", strlen(text)), text), ES_BAD_ROWS_SKIP, 0, 1000);
}

static const char *data_text(void)
{
    char *t = es_alloc(A, NROWS * 40);
    size_t o = 0;
    for (int i = 0; i < NROWS; i++) {
        if (i == 3 || i == 30 || i == 59) o += (size_t)sprintf(t + o, "%d,oops,%d\n", i, i);   /* bad rows */
        else o += (size_t)sprintf(t + o, "%d,%d.5,%d\n", i, i, 2 * i);
    }
    return t;
}

/* Every example id of a stream, read batch by batch. */
static int *read_ids(rt_stream *s, int *n)
{
    int cap = 4096, k = 0;
    int *ids = malloc((size_t)cap * sizeof *ids);
    rt_batch b;
    es_status st;
    es_status_clear(&st);
    int r;
    while ((r = rt_stream_next(s, &b, &st)) == 1)
        for (int64_t j = 0; j < b.n; j++) {
            if (k == cap) ids = realloc(ids, (size_t)(cap *= 2) * sizeof *ids);
            ids[k++] = ((const int32_t *)b.feat[0])[j];
        }
    CHECK(r == 0, "the stream ends cleanly: %s", st.msg);
    *n = k;
    return ids;
}

static int same_pos(const rt_stream_pos *a, const rt_stream_pos *b)
{
    return a->examples == b->examples && a->epoch == b->epoch && a->in_epoch == b->in_epoch &&
           a->offset == b->offset && a->rows_skipped == b->rows_skipped &&
           !memcmp(a->rng, b->rng, sizeof a->rng) && a->buffer_hash == b->buffer_hash;
}

static void test_skip_equals_reading(const es_spec *spec)
{
    const int64_t epochs = 5, per_epoch = NROWS - NBAD, total = epochs * per_epoch;
    static const int64_t shuffles[] = { 0, 1, 7, 58, 200 };
    static const int64_t skips[] = { 0, 1, 5, 57, 58, 59, 116, 117, 200, 289, 290, 291, 1000 };
    es_status st;
    for (size_t a = 0; a < ES_ARRAY_LEN(shuffles); a++) {
        uint64_t seed = 1234 + a;
        es_status_clear(&st);
        rt_stream *ref = rt_stream_open(spec, spec->train, NULL, 1, 16, epochs, shuffles[a], seed, &st);
        CHECK(ref != NULL, "open: %s", st.msg);
        if (!ref) return;
        int n_all;
        int *all = read_ids(ref, &n_all);
        CHECK(n_all == total, "shuffle %lld: %lld examples in %lld epochs, got %d", (long long)shuffles[a],
              (long long)total, (long long)epochs, n_all);
        CHECK(rt_stream_skipped(ref) == epochs * NBAD, "bad rows counted each epoch: %lld",
              (long long)rt_stream_skipped(ref));
        rt_stream_close(ref);
        for (size_t k = 0; k < ES_ARRAY_LEN(skips); k++) {
            int64_t n = skips[k];
            /* the resumed stream: skip n, then read the rest */
            rt_stream *s = rt_stream_open(spec, spec->train, NULL, 1, 16, epochs, shuffles[a], seed, &st);
            int64_t done = rt_stream_skip(s, n, &st);
            int64_t want = n < total ? n : total;
            CHECK(done == want, "shuffle %lld: skip(%lld) skipped %lld, expected %lld (%s)",
                  (long long)shuffles[a], (long long)n, (long long)done, (long long)want, st.msg);
            CHECK(rt_stream_done(s) == (n >= total), "shuffle %lld skip %lld: done is %d",
                  (long long)shuffles[a], (long long)n, rt_stream_done(s));
            rt_stream_pos ps;
            rt_stream_position(s, &ps);
            /* the uninterrupted stream, stopped after exactly `want` examples (batches of 1) */
            rt_stream *r = rt_stream_open(spec, spec->train, NULL, 1, 1, epochs, shuffles[a], seed, &st);
            rt_batch b;
            for (int64_t i = 0; i < want; i++) rt_stream_next(r, &b, &st);
            rt_stream_pos pr;
            rt_stream_position(r, &pr);
            CHECK(same_pos(&ps, &pr), "shuffle %lld skip %lld: position after skipping (epoch %lld, example %lld, "
                  "byte %lld, bad %lld) = after reading (epoch %lld, example %lld, byte %lld, bad %lld), "
                  "generator and buffer too", (long long)shuffles[a], (long long)n, (long long)ps.epoch,
                  (long long)ps.in_epoch, (long long)ps.offset, (long long)ps.rows_skipped,
                  (long long)pr.epoch, (long long)pr.in_epoch, (long long)pr.offset, (long long)pr.rows_skipped);
            CHECK(ps.examples == want, "the position counts %lld examples", (long long)ps.examples);
            rt_stream_close(r);
            int n_rest;
            int *rest = read_ids(s, &n_rest);
            int same = n_rest == total - want && (n_rest == 0 || !memcmp(rest, all + want, (size_t)n_rest * sizeof *rest));
            CHECK(same, "shuffle %lld: after skip(%lld) the stream goes on exactly as the uninterrupted one "
                  "(%d examples left, expected %lld)", (long long)shuffles[a], (long long)n, n_rest,
                  (long long)(total - want));
            free(rest);
            rt_stream_close(s);
        }
        free(all);
    }
}

/* Skipping in several calls (as several resumes do) lands where one skip does. */
static void test_skips_compose(const es_spec *spec)
{
    es_status st;
    es_status_clear(&st);
    int64_t inf = INT64_MAX / 4;
    rt_stream *a = rt_stream_open(spec, spec->train, NULL, 1, 64, inf, 10, 99, &st);
    rt_stream *b = rt_stream_open(spec, spec->train, NULL, 1, 64, inf, 10, 99, &st);
    CHECK(rt_stream_skip(a, 1000, &st) == 1000, "skip 1000 of an endless stream");
    CHECK(rt_stream_skip(b, 300, &st) == 300 && rt_stream_skip(b, 1, &st) == 1 && rt_stream_skip(b, 699, &st) == 699,
          "skip 300 + 1 + 699");
    rt_stream_pos pa, pb;
    rt_stream_position(a, &pa);
    rt_stream_position(b, &pb);
    CHECK(same_pos(&pa, &pb), "the same position either way");
    CHECK(pa.epoch == 1000 / (NROWS - NBAD) + 1 && pa.in_epoch == 1000 % (NROWS - NBAD),
          "1000 examples = epoch %d example %d, got epoch %lld example %lld", 1000 / (NROWS - NBAD) + 1,
          1000 % (NROWS - NBAD), (long long)pa.epoch, (long long)pa.in_epoch);
    CHECK(rt_stream_epoch_rows(a) == NROWS - NBAD, "epoch size known: %lld", (long long)rt_stream_epoch_rows(a));
    rt_batch ba, bb;
    rt_stream_next(a, &ba, &st);
    rt_stream_next(b, &bb, &st);
    CHECK(ba.n == 64 && bb.n == 64 && !memcmp(ba.feat[0], bb.feat[0], 64 * 4) && !memcmp(ba.label, bb.label, 64 * 4),
          "and the next batch is the same");
    rt_stream_close(a);
    rt_stream_close(b);
}

static void test_another_seed_differs(const es_spec *spec)
{
    es_status st;
    es_status_clear(&st);
    rt_stream *a = rt_stream_open(spec, spec->train, NULL, 1, 8, 3, 20, 1, &st);
    rt_stream *b = rt_stream_open(spec, spec->train, NULL, 1, 8, 3, 20, 2, &st);
    rt_stream_skip(a, 70, &st);
    rt_stream_skip(b, 70, &st);
    rt_stream_pos pa, pb;
    rt_stream_position(a, &pa);
    rt_stream_position(b, &pb);
    CHECK(pa.epoch == pb.epoch && pa.in_epoch == pb.in_epoch, "the same place in the epochs");
    CHECK(memcmp(pa.rng, pb.rng, sizeof pa.rng) != 0, "but another generator state (a checkpoint can tell)");
    rt_stream_close(a);
    rt_stream_close(b);
}

static void test_empty_file(void)
{
    es_spec *spec = make_spec("1,oops,2\n");   /* one bad row, no examples */
    es_status st;
    es_status_clear(&st);
    rt_stream *s = rt_stream_open(spec, spec->train, NULL, 1, 8, 10, 0, 1, &st);
    CHECK(s != NULL, "open: %s", st.msg);
    rt_batch b;
    CHECK(rt_stream_next(s, &b, &st) == -1 && strstr(st.msg, "has no examples to repeat"),
          "an epoch without examples cannot be repeated: %s", st.msg);
    rt_stream_close(s);
    es_status_clear(&st);
    s = rt_stream_open(spec, spec->train, NULL, 1, 8, 1, 0, 1, &st);
    CHECK(rt_stream_next(s, &b, &st) == 0, "a single empty epoch just ends: %s", st.msg);
    rt_stream_close(s);
}

int main(void)
{
    snprintf(tmpdir, sizeof tmpdir, "/tmp/estc_test_resume_XXXXXX");
    if (!mkdtemp(tmpdir)) { perror("mkdtemp"); return 1; }
    A = es_arena_new();
    es_spec *spec = make_spec(data_text());
    test_skip_equals_reading(spec);
    test_skips_compose(spec);
    test_another_seed_differs(spec);
    test_empty_file();
    es_arena_free(A);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", tmpdir);
    return check_done("resume");
}

/*
 * stream.c — encoded examples to batches: shuffle buffer, epochs, seed.
 *
 * The shuffle is tf.data's: fill a buffer with the first S examples of the
 * epoch, then for every output pick a uniformly random slot (es_rng_below),
 * emit it and refill that slot from the file; when the file is exhausted, the
 * picked slot is filled with the last one and the buffer shrinks until it
 * drains. Each epoch re-opens the file and refills the buffer, so every example
 * appears exactly once per epoch (dataset.shuffle(S).repeat(E)); the generator
 * is seeded once, so epochs differ from one another yet a seed fixes them all.
 * Batches span epoch boundaries (.batch(B) after .repeat()), so only the last
 * batch of the whole run can be short. Memory is bounded by the buffer: S
 * records of rt_layout.rec_bytes plus one batch.
 *
 * The sequence of examples is therefore a function of (file, seed, shuffle
 * buffer) alone: the batch size only cuts it, and the number of epochs only
 * ends it. That is what makes resuming exact: a resumed run re-opens the
 * stream with the same seed and skips the examples the checkpoint had
 * consumed (rt_stream_skip), arriving in the state the uninterrupted run had.
 * Skipping never assembles batches, and whole epochs after the first are not
 * read at all: the generator's draws in an epoch depend only on the number of
 * rows R and the buffer size (the buffer holds min(S, R) examples, stays full
 * for R - min(S, R) + 1 draws, then shrinks by one per draw), so once one
 * epoch has been read to its end the others are replayed on the generator
 * alone. rt_stream_position reports what a checkpoint records to check this.
 *
 * The producer (next_example) is separate from batch assembly so that a
 * background parsing thread can later take the producer's place behind a
 * queue without touching the batch layout.
 */
#include "runtime.h"

#include <stdlib.h>
#include <string.h>

struct rt_stream {
    const es_spec *spec;
    const es_source_spec *src;
    char *path;               /* NULL = the source's own path */
    int with_label;
    es_arena *arena;
    rt_layout lay;
    int64_t batch_size, epochs, epoch;   /* epoch: epochs started (1 = the first) */
    int64_t in_epoch;         /* examples emitted in the current epoch */
    int64_t emitted;          /* examples emitted in all */
    int64_t epoch_rows;       /* rows per epoch, once an epoch was read to its end (-1 before) */
    int64_t epoch_skipped;    /* bad rows skipped per epoch (known with epoch_rows) */

    rt_reader *rd;            /* open during an epoch */
    int input_done;           /* the current epoch's file is exhausted */
    int64_t skipped_closed;   /* rows skipped by readers already closed */

    int64_t cap;              /* shuffle buffer slots (>= 1) */
    int64_t fill;
    unsigned char *buf;
    unsigned char *out;       /* the example just emitted */
    es_rng rng;

    void **feat;              /* batch storage, per used feature */
    void *label;
    int state;                /* 0 running, 1 exhausted, -1 failed */
};

static unsigned char *slot(rt_stream *s, int64_t i) { return s->buf + (size_t)i * s->lay.rec_bytes; }

/* Opens the next epoch's reader and fills the buffer. */
static int start_epoch(rt_stream *s, es_status *st)
{
    s->rd = rt_reader_open(s->spec, s->src, s->path, s->with_label, st);
    if (!s->rd) return -1;
    s->epoch++;
    s->in_epoch = 0;
    s->input_done = 0;
    s->fill = 0;
    while (s->fill < s->cap) {
        int k = rt_reader_next(s->rd, slot(s, s->fill), st);
        if (k < 0) return -1;
        if (k == 0) { s->input_done = 1; break; }
        s->fill++;
    }
    return 0;
}

/* Closes a drained epoch. An epoch without a single example can only be
 * followed by more of the same: repeating it would loop for ever. */
static int end_epoch(rt_stream *s, es_status *st)
{
    int64_t rows = rt_reader_rows(s->rd);
    s->epoch_rows = rows;
    s->epoch_skipped = rt_reader_skipped(s->rd);
    s->skipped_closed += rt_reader_skipped(s->rd);
    rt_reader_close(s->rd);
    s->rd = NULL;
    if (rows == 0 && s->epoch < s->epochs)
        return es_fail(st, ES_EDATA, "%s has no examples to repeat (%lld rows skipped as bad)",
                       s->path ? s->path : s->src->path, (long long)s->epoch_skipped);
    return 0;
}

/* The next example into s->out: 1, 0 after the last epoch, -1 on error. */
static int next_example(rt_stream *s, es_status *st)
{
    for (;;) {
        if (!s->rd) {
            if (s->epoch >= s->epochs) return 0;
            if (start_epoch(s, st) < 0) return -1;
        }
        if (s->fill == 0) {
            if (end_epoch(s, st) < 0) return -1;
            continue;
        }
        int64_t i = (int64_t)es_rng_below(&s->rng, (uint64_t)s->fill);
        size_t rb = s->lay.rec_bytes;
        memcpy(s->out, slot(s, i), rb);
        s->in_epoch++;
        s->emitted++;
        if (!s->input_done) {
            int k = rt_reader_next(s->rd, slot(s, i), st);
            if (k < 0) return -1;
            if (k == 1) return 1;
            s->input_done = 1;
        }
        s->fill--;
        if (i != s->fill) memcpy(slot(s, i), slot(s, s->fill), rb);
        return 1;
    }
}

rt_stream *rt_stream_open(const es_spec *spec, const es_source_spec *src, const char *path,
                          int with_label, int64_t batch_size, int64_t epochs,
                          int64_t shuffle_buffer, uint64_t seed, es_status *st)
{
    if (batch_size <= 0) { es_fail(st, ES_EINVAL, "batch size must be positive, not %lld", (long long)batch_size); return NULL; }
    if (shuffle_buffer < 0) { es_fail(st, ES_EINVAL, "shuffle buffer must be >= 0, not %lld", (long long)shuffle_buffer); return NULL; }
    rt_stream *s = es_xcalloc(1, sizeof *s);
    s->spec = spec;
    s->src = src;
    s->with_label = with_label;
    s->arena = es_arena_new();
    s->path = path ? es_strdup(s->arena, path) : NULL;
    rt_layout_init(&s->lay, spec, s->arena);
    s->batch_size = batch_size;
    s->epochs = epochs > 0 ? epochs : 1;
    s->cap = shuffle_buffer > 0 ? shuffle_buffer : 1;   /* one slot = file order */
    s->epoch_rows = -1;
    s->buf = es_xmalloc((size_t)s->cap * s->lay.rec_bytes);
    s->out = es_xmalloc(s->lay.rec_bytes);
    es_rng_seed(&s->rng, seed);
    s->feat = es_alloc(s->arena, (size_t)(spec->nused ? spec->nused : 1) * sizeof *s->feat);
    for (int i = 0; i < spec->nused; i++) {
        const es_feature *f = spec->used[i];
        size_t per = f->kind == ES_FEAT_WEIGHTED ? (size_t)(f->of && f->of->max_values > 1 ? f->of->max_values : 1)
                   : f->categorical ? (size_t)(f->max_values > 1 ? f->max_values : 1)
                   : (size_t)(f->width > 1 ? f->width : 1);
        s->feat[i] = es_alloc(s->arena, (size_t)batch_size * per * 4);
    }
    s->label = es_alloc(s->arena, (size_t)batch_size * 4);
    /* open the first epoch now so a bad path or spec fails here, not at the first batch */
    if (start_epoch(s, st) < 0) { rt_stream_close(s); return NULL; }
    return s;
}

int rt_stream_next(rt_stream *s, rt_batch *b, es_status *st)
{
    memset(b, 0, sizeof *b);
    if (s->state != 0) {
        if (s->state < 0) return es_fail(st, ES_EINVAL, "the stream has already failed");
        return 0;
    }
    const rt_layout *l = &s->lay;
    int64_t n = 0;
    while (n < s->batch_size) {
        int k = next_example(s, st);
        if (k < 0) { s->state = -1; return -1; }
        if (k == 0) { s->state = 1; break; }
        rt_layout_scatter(l, s->out, s->feat, s->label, n);
        n++;
    }
    if (n == 0) return 0;
    b->n = n;
    b->nfeat = l->nfeat;
    b->feat = s->feat;
    b->label = s->label;
    return 1;
}

/* The generator's draws of one whole epoch of R rows, without the file. */
static void replay_epoch(rt_stream *s, int64_t R)
{
    int64_t F = R < s->cap ? R : s->cap;
    for (int64_t k = 0; k < R; k++) {
        int64_t fill = k <= R - F ? F : F - (k - (R - F));
        es_rng_below(&s->rng, (uint64_t)fill);
    }
}

int64_t rt_stream_skip(rt_stream *s, int64_t n, es_status *st)
{
    if (s->state < 0) return es_fail(st, ES_EINVAL, "the stream has already failed");
    int64_t done = 0;
    while (done < n && s->state == 0) {
        /* a drained epoch is closed now, as next_example would close it */
        if (s->rd && s->fill == 0) {
            if (end_epoch(s, st) < 0) { s->state = -1; return -1; }
        }
        int64_t R = s->epoch_rows;
        if (!s->rd && R > 0 && s->epoch < s->epochs && n - done >= R) {
            replay_epoch(s, R);
            s->epoch++;
            s->in_epoch = R;
            s->emitted += R;
            s->skipped_closed += s->epoch_skipped;
            done += R;
            continue;
        }
        int k = next_example(s, st);
        if (k < 0) { s->state = -1; return -1; }
        if (k == 0) { s->state = 1; break; }
        done++;
    }
    return done;
}

void rt_stream_position(const rt_stream *s, rt_stream_pos *p)
{
    memset(p, 0, sizeof *p);
    p->examples = s->emitted;
    p->epoch = s->epoch;
    p->in_epoch = s->in_epoch;
    p->rows_skipped = rt_stream_skipped(s);
    memcpy(p->rng, s->rng.s, sizeof p->rng);
    /* a drained epoch and a closed one are the same position */
    int open = s->rd && s->fill > 0;
    p->offset = open ? rt_reader_offset(s->rd) : -1;
    p->buffer_hash = es_hash64(s->buf, open ? (size_t)s->fill * s->lay.rec_bytes : 0, 0);
}

int64_t rt_stream_epoch_rows(const rt_stream *s) { return s->epoch_rows; }

int rt_stream_done(const rt_stream *s)
{
    if (s->state != 0) return s->state > 0;
    int drained = !s->rd || (s->fill == 0 && s->input_done);
    return drained && s->epoch >= s->epochs;
}

int64_t rt_stream_skipped(const rt_stream *s)
{
    return s->skipped_closed + (s->rd ? rt_reader_skipped(s->rd) : 0);
}

void rt_stream_close(rt_stream *s)
{
    if (!s) return;
    rt_reader_close(s->rd);
    free(s->buf);
    free(s->out);
    es_arena_free(s->arena);
    free(s);
}

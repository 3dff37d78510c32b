/*
 * stream.c — encoded examples to batches: shuffle buffer, epochs, seed; an
 * in-memory cache of the first epoch and a background reading thread.
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
 * records of rt_layout.rec_bytes plus one batch (and the cache, below).
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
 * Where an epoch's records come from is the "input" (rt_input): the file
 * read on this thread, a queue filled by a background thread reading the
 * file, or the cache. Whichever it is, the shuffle sees the same records in
 * the same order, and after each one the input reports what the file's
 * reader would have said at that point (the offset of the next unread row,
 * the bad rows skipped so far): so the examples, the positions recorded in
 * checkpoints and the skip counts do not depend on where records come from.
 *
 * The cache (a source's `cache = true`, as dataset.cache()): the first epoch
 * keeps every encoded record in file order, with the reader's offset after
 * it and where bad rows were skipped; later epochs read them from memory.
 * It costs rec_bytes + 8 bytes per row; if memory runs out while it grows,
 * the cache is dropped and every epoch reads the file as without it.
 *
 * The background thread (rt_stream_background): only reading and encoding
 * move to it. It fills blocks of records in file order, each record with the
 * reader's offset and skip count after it, into a queue of QBLOCKS blocks;
 * the shuffle, the generator and batch assembly stay on the caller's thread,
 * so the generator state and the shuffle buffer a checkpoint records are
 * exactly those of the batches handed out, not of the thread's read-ahead.
 * A reader error travels in the queue after the records read before it, so
 * it stops the stream when the records before it have been consumed, as
 * without the thread. The thread carries on into the next epochs' files
 * (unless the cache will serve them), and the blocks hold about a shuffle
 * buffer's worth of records (S / 3 + 1 each, between 256 and 8192), so the
 * next epoch's fill is read while the buffer drains at the end of an epoch:
 * the queue costs up to as much memory again as the shuffle buffer, plus 16
 * bytes a record. The thread starts at the first rt_stream_next (the first
 * epoch's fill at open and a resume's skipping run on the caller's thread),
 * and it is stopped and its read-ahead discarded when skipping replays
 * whole epochs or the stream is closed.
 */
#include "runtime.h"

#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

enum { IN_NONE, IN_FILE, IN_QUEUE, IN_CACHE };

/* The current epoch's input, and what its reader would report after the
 * last record taken. */
typedef struct rt_input {
    int kind;                 /* IN_NONE between epochs */
    rt_reader *rd;            /* IN_FILE */
    int64_t taken;            /* records taken this epoch */
    int64_t offset;           /* byte offset of the next unread row */
    int64_t skipped;          /* bad rows skipped so far this epoch */
    int64_t rows;             /* once the input has ended: rows the epoch had */
    int64_t bad;              /* IN_CACHE: the cache's bad rows passed so far */
} rt_input;

/* The first epoch's records, in file order. */
typedef struct rt_cache {
    int on;                   /* filling during the first epoch, or complete */
    int complete;             /* the whole first epoch is held */
    unsigned char *rec;
    int64_t *offset;          /* per record: the reader's offset after it */
    int64_t n, cap;
    int64_t *bad_at;          /* per bad row skipped: records read before it */
    int64_t nbad, badcap;
    int64_t end_offset;       /* the reader's offset at the end of the file */
    int dropped;              /* it did not fit (memory, or ESTC_CACHE_MAX_MB) and was dropped */
    size_t max_bytes;         /* ESTC_CACHE_MAX_MB, in bytes; 0: as much as memory allows */
} rt_cache;

/* ---- the background reader ------------------------------------------------- */

#define QBLOCKS 4             /* blocks in the queue, the one being read included */

typedef struct qblock {
    unsigned char *rec;       /* up to blk_recs records */
    int64_t *offset, *skipped;/* per record: the reader's offset and skip count after it */
    int n;
    int end;                  /* the epoch's file ended after these records */
    int64_t end_rows, end_skipped, end_offset;
    int fail;                 /* 1: the reader failed after these records; 2: the file did not open */
    int64_t fail_skipped;
    es_status err;
} qblock;

typedef struct producer {
    pthread_t th;
    pthread_mutex_t mu;
    pthread_cond_t ready, room;
    qblock blk[QBLOCKS];
    int head, count;          /* published blocks [head, head + count); the front one is being read */
    qblock *front;            /* the block being read (NULL: ask queue_front) */
    int pos;                  /* records taken from it */
    int finished;             /* the thread has published its last block */
    atomic_int stop;          /* the stream asks the thread to end */
    /* the thread's own */
    rt_reader *rd;            /* the epoch being read (handed over, or opened by the thread) */
    int64_t to_open;          /* epochs still to open after rd's */
    const es_spec *spec;
    const es_source_spec *src;
    const char *path;
    int with_label;
    size_t rec_bytes;
    int blk_recs;
} producer;

/* Examples staged before they are moved into a batch: enough to make the
 * move a loop per feature, few enough to stay in the first-level cache. */
enum { RT_STAGE = 16 };

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

    rt_input in;
    int input_done;           /* the current epoch's input is exhausted */
    int64_t skipped_closed;   /* rows skipped in epochs already closed */
    rt_cache cache;
    int background;           /* read on a background thread */
    producer *prod;           /* running (or finished, not yet joined) */

    int64_t cap;              /* shuffle buffer slots (>= 1) */
    int64_t fill;
    unsigned char *buf;
    /* A cached epoch's buffer holds indices of cache records, not copies:
     * drawing an example then moves four bytes instead of a record in and a
     * record out of a random slot (by_index; ibuf has min(cap, cache rows)). */
    int by_index;
    uint32_t *ibuf;
    unsigned char *out;       /* the example just emitted */
    unsigned char *stage;     /* RT_STAGE examples on their way into a batch, */
    const void *staged[RT_STAGE];   /* each where it lies: in stage, or a record of the cache */
    es_rng rng;
    /* prefetch_next's draw, kept for next_example: valid while the stream's
     * generator and fill are still those it was drawn from */
    struct { es_rng before, after; int64_t fill, i; } ahead;

    void **feat[2];           /* batch storage, per used feature: two sets, used in turn */
    void *label[2];
    int set;                  /* the set of the batch last handed out */
    int state;                /* 0 running, 1 exhausted, -1 failed */
    struct assembler *as;     /* the thread that assembles a batch asked ahead */
    double batch_s;           /* seconds a batch takes to assemble, a moving average (0: none yet) */
    unsigned timed;           /* batches assembled: every BATCH_TIMED-th is timed */
};

static void settle(const rt_stream *s);

static unsigned char *slot(rt_stream *s, int64_t i) { return s->buf + (size_t)i * s->lay.rec_bytes; }

/* The record slot i holds, in either form of the buffer. */
static const unsigned char *slot_rec(const rt_stream *s, int64_t i)
{
    size_t rb = s->lay.rec_bytes;
    return s->by_index ? s->cache.rec + (size_t)s->ibuf[i] * rb : s->buf + (size_t)i * rb;
}

/* record p, its first and last bytes asked for ahead of their use */
static const unsigned char *prefetched(const rt_stream *s, const unsigned char *p)
{
    __builtin_prefetch(p);
    __builtin_prefetch(p + s->lay.rec_bytes - 1);
    return p;
}

/* Fills block b from the file; returns 1 when it is the thread's last. */
static int produce_block(producer *p, qblock *b)
{
    b->n = 0;
    b->end = b->fail = 0;
    if (!p->rd) {
        p->rd = rt_reader_open(p->spec, p->src, p->path, p->with_label, &b->err);
        if (!p->rd) { b->fail = 2; b->fail_skipped = 0; return 1; }
        p->to_open--;
    }
    while (b->n < p->blk_recs) {
        if (atomic_load_explicit(&p->stop, memory_order_relaxed)) return 1;
        int k = rt_reader_next(p->rd, b->rec + (size_t)b->n * p->rec_bytes, &b->err);
        if (k < 0) { b->fail = 1; b->fail_skipped = rt_reader_skipped(p->rd); return 1; }
        if (k == 0) {
            b->end = 1;
            b->end_rows = rt_reader_rows(p->rd);
            b->end_skipped = rt_reader_skipped(p->rd);
            b->end_offset = rt_reader_offset(p->rd);
            rt_reader_close(p->rd);
            p->rd = NULL;
            /* an empty epoch would repeat empty: the stream stops there */
            return p->to_open <= 0 || b->end_rows == 0;
        }
        b->offset[b->n] = rt_reader_offset(p->rd);
        b->skipped[b->n] = rt_reader_skipped(p->rd);
        b->n++;
    }
    return 0;
}

static void *produce(void *arg)
{
    producer *p = arg;
    for (int last = 0; !last;) {
        pthread_mutex_lock(&p->mu);
        while (p->count == QBLOCKS && !atomic_load(&p->stop)) pthread_cond_wait(&p->room, &p->mu);
        qblock *b = &p->blk[(p->head + p->count) % QBLOCKS];
        pthread_mutex_unlock(&p->mu);
        if (atomic_load(&p->stop)) break;
        last = produce_block(p, b);       /* outside the lock: the stream reads other blocks */
        pthread_mutex_lock(&p->mu);
        p->count++;
        pthread_cond_signal(&p->ready);
        pthread_mutex_unlock(&p->mu);
    }
    rt_reader_close(p->rd);
    p->rd = NULL;
    pthread_mutex_lock(&p->mu);
    p->finished = 1;
    pthread_cond_signal(&p->ready);
    pthread_mutex_unlock(&p->mu);
    return NULL;
}

static void producer_free(producer *p)
{
    for (int i = 0; i < QBLOCKS; i++) {
        free(p->blk[i].rec);
        free(p->blk[i].offset);
        free(p->blk[i].skipped);
    }
    pthread_cond_destroy(&p->ready);
    pthread_cond_destroy(&p->room);
    pthread_mutex_destroy(&p->mu);
    free(p);
}

/* Ends the thread (wherever it is), discards what it read, frees it. */
static void producer_stop(rt_stream *s)
{
    producer *p = s->prod;
    if (!p) return;
    atomic_store(&p->stop, 1);
    pthread_mutex_lock(&p->mu);
    pthread_cond_signal(&p->room);
    pthread_mutex_unlock(&p->mu);
    pthread_join(p->th, NULL);
    producer_free(p);
    s->prod = NULL;
}

/* Starts the thread on rd (the rest of an epoch; NULL = none) and then
 * to_open more epochs. Returns -1 if no thread could be made: the stream
 * then reads on the caller's thread, as without the option. */
static int producer_start(rt_stream *s, rt_reader *rd, int64_t to_open)
{
    producer *p = es_xcalloc(1, sizeof *p);
    p->rd = rd;
    p->to_open = to_open;
    p->spec = s->spec;
    p->src = s->src;
    p->path = s->path;
    p->with_label = s->with_label;
    p->rec_bytes = s->lay.rec_bytes;
    /* The blocks ahead of the one being read hold a shuffle buffer's worth
     * when they can: while the buffer drains at the end of an epoch (no
     * reads) the thread then reads what the next epoch's fill will take.
     * At least a batch and 256 records, at most 8192 records a block. */
    int64_t k = s->cap / (QBLOCKS - 1) + 1;
    if (k < s->batch_size) k = s->batch_size;
    if (k < 256) k = 256;
    if (k > 8192) k = 8192;
    p->blk_recs = (int)k;
    for (int i = 0; i < QBLOCKS; i++) {
        p->blk[i].rec = es_xmalloc((size_t)k * p->rec_bytes);
        p->blk[i].offset = es_xmalloc((size_t)k * sizeof(int64_t));
        p->blk[i].skipped = es_xmalloc((size_t)k * sizeof(int64_t));
    }
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->ready, NULL);
    pthread_cond_init(&p->room, NULL);
    atomic_init(&p->stop, 0);
    /* signals go to the caller's thread (its stop flag), never to the reader */
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    int rc = pthread_create(&p->th, NULL, produce, p);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (rc != 0) { producer_free(p); return -1; }
    s->prod = p;
    return 0;
}

/* The front published block, waiting for the thread; NULL once the thread
 * has finished and everything it published has been taken. */
static qblock *queue_front(producer *p)
{
    pthread_mutex_lock(&p->mu);
    while (p->count == 0 && !p->finished) pthread_cond_wait(&p->ready, &p->mu);
    qblock *b = p->count ? &p->blk[p->head] : NULL;
    pthread_mutex_unlock(&p->mu);
    return b;
}

static void queue_pop(producer *p)
{
    pthread_mutex_lock(&p->mu);
    p->head = (p->head + 1) % QBLOCKS;
    p->count--;
    p->front = NULL;
    p->pos = 0;
    pthread_cond_signal(&p->room);
    pthread_mutex_unlock(&p->mu);
}

/* Hands the reading to a thread when the stream has one to give it: the
 * rest of the open epoch's file and, unless the cache will serve them, the
 * files of the epochs after it. */
static void start_background(rt_stream *s)
{
    if (!s->background || s->prod || s->state != 0) return;
    int64_t left = s->epochs - s->epoch;     /* epochs not started yet */
    if (s->in.kind == IN_FILE && !s->input_done) {
        if (producer_start(s, s->in.rd, s->cache.on ? 0 : left) == 0) {
            s->in.rd = NULL;
            s->in.kind = IN_QUEUE;
        }
    } else if (!s->cache.on && left > 0 && s->in.kind != IN_QUEUE) {
        producer_start(s, NULL, left);
    }
}

/* ---- the cache -------------------------------------------------------------- */

static void cache_drop(rt_cache *c)
{
    free(c->rec);
    free(c->offset);
    free(c->bad_at);
    memset(c, 0, sizeof *c);
}

/* The cache does not fit: dropped, and remembered for rt_stream_cache_dropped */
static void cache_overflow(rt_cache *c)
{
    cache_drop(c);
    c->dropped = 1;
}

/* Keeps the record just taken from the first epoch's file (rec == NULL: the
 * file has ended), with the bad rows skipped before it. Out of memory, the
 * cache is dropped: the epochs after the first then read the file again. */
static void cache_add(rt_stream *s, const void *rec, int64_t skipped_before)
{
    rt_cache *c = &s->cache;
    const rt_input *in = &s->in;
    int64_t records_before = rec ? in->taken - 1 : in->taken;
    for (int64_t k = skipped_before; k < in->skipped; k++) {
        if (c->nbad == c->badcap) {
            int64_t n = c->badcap ? 2 * c->badcap : 64;
            int64_t *b = realloc(c->bad_at, (size_t)n * sizeof *b);
            if (!b) { cache_overflow(c); return; }
            c->bad_at = b;
            c->badcap = n;
        }
        c->bad_at[c->nbad++] = records_before;
    }
    if (!rec) {
        c->end_offset = in->offset;
        c->complete = 1;
        return;
    }
    size_t rb = s->lay.rec_bytes;
    if (c->n == c->cap) {
        int64_t n = c->cap ? 2 * c->cap : 1024;
        if (c->max_bytes && (size_t)n * (rb + sizeof *c->offset) > c->max_bytes) {
            /* the cap: as much as it would hold, not the doubled array */
            n = (int64_t)(c->max_bytes / (rb + sizeof *c->offset));
            if (n <= c->cap) { cache_overflow(c); return; }
        }
        unsigned char *r = realloc(c->rec, (size_t)n * rb);
        if (!r) { cache_overflow(c); return; }
        c->rec = r;
        int64_t *o = realloc(c->offset, (size_t)n * sizeof *o);
        if (!o) { cache_overflow(c); return; }
        c->offset = o;
        c->cap = n;
    }
    memcpy(c->rec + (size_t)c->n * rb, rec, rb);
    c->offset[c->n++] = in->offset;
}

/* ---- the input ---------------------------------------------------------------- */

static int queue_next(rt_stream *s, void *rec, es_status *st)
{
    producer *p = s->prod;
    rt_input *in = &s->in;
    size_t rb = s->lay.rec_bytes;
    for (;;) {
        qblock *b = p->front ? p->front : (p->front = queue_front(p));   /* a lock per block, not per record */
        if (!b) return es_fail(st, ES_EINTERNAL, "the reading thread ended before the data did");
        if (p->pos < b->n) {
            memcpy(rec, b->rec + (size_t)p->pos * rb, rb);
            in->offset = b->offset[p->pos];
            in->skipped = b->skipped[p->pos];
            p->pos++;
            return 1;
        }
        if (b->end) {
            in->rows = b->end_rows;
            in->skipped = b->end_skipped;
            in->offset = b->end_offset;
            queue_pop(p);
            return 0;
        }
        if (b->fail) {
            in->skipped = b->fail_skipped;
            *st = b->err;     /* the block stays: the stream has failed */
            return -1;
        }
        queue_pop(p);
    }
}

/* Takes the cache's next record: its index, or -1 at the epoch's end. */
static int64_t cache_take(rt_stream *s)
{
    const rt_cache *c = &s->cache;
    rt_input *in = &s->in;
    if (in->taken == c->n) {
        in->rows = c->n;
        in->skipped = c->nbad;
        in->offset = c->end_offset;
        return -1;
    }
    int64_t r = in->taken++;
    in->offset = c->offset[r];
    while (in->bad < c->nbad && c->bad_at[in->bad] < in->taken) in->bad++;
    in->skipped = in->bad;
    return r;
}

static int cache_next(rt_stream *s, void *rec)
{
    int64_t r = cache_take(s);
    if (r < 0) return 0;
    size_t rb = s->lay.rec_bytes;
    memcpy(rec, s->cache.rec + (size_t)r * rb, rb);
    return 1;
}

/* The next record of the epoch into rec: 1, 0 at its end, -1 on error. */
static int input_next(rt_stream *s, void *rec, es_status *st)
{
    rt_input *in = &s->in;
    if (in->kind == IN_CACHE) return cache_next(s, rec);
    int64_t before = in->skipped;
    int k;
    if (in->kind == IN_QUEUE) k = queue_next(s, rec, st);
    else {
        k = rt_reader_next(in->rd, rec, st);
        in->offset = rt_reader_offset(in->rd);
        in->skipped = rt_reader_skipped(in->rd);
        if (k == 0) in->rows = rt_reader_rows(in->rd);
    }
    if (k == 1) in->taken++;
    if (k >= 0 && s->cache.on && !s->cache.complete) cache_add(s, k ? rec : NULL, before);
    return k;
}

/* Opens the next epoch's input: the cache, the thread's queue, or the file. */
static int input_open(rt_stream *s, es_status *st)
{
    memset(&s->in, 0, sizeof s->in);
    if (s->cache.complete) {
        producer_stop(s);      /* it stopped after the first epoch */
        s->in.kind = IN_CACHE;
        return 0;
    }
    if (s->prod && !queue_front(s->prod)) producer_stop(s);   /* finished, nothing left */
    start_background(s);
    if (s->prod) {
        qblock *b = queue_front(s->prod);
        if (b && b->fail == 2) { *st = b->err; return -1; }
        s->in.kind = IN_QUEUE;
        return 0;
    }
    s->in.rd = rt_reader_open(s->spec, s->src, s->path, s->with_label, st);
    if (!s->in.rd) return -1;
    s->in.kind = IN_FILE;
    return 0;
}

static void input_close(rt_stream *s)
{
    rt_reader_close(s->in.rd);
    memset(&s->in, 0, sizeof s->in);
}

/* ---- epochs and examples ------------------------------------------------------- */

/* Whether a buffer filled from the cache can hold indices (the cache is
 * complete and its rows fit 32 bits); allocates them the first time. */
static int index_ready(rt_stream *s)
{
    const rt_cache *c = &s->cache;
    if (!c->complete || c->n > (int64_t)UINT32_MAX) return 0;
    if (!s->ibuf) s->ibuf = es_xmalloc((size_t)(s->cap < c->n ? s->cap : c->n ? c->n : 1) * sizeof *s->ibuf);
    return 1;
}

/* Puts the input's next record in slot i: 1, 0 at the input's end, -1 on error. */
static int refill(rt_stream *s, int64_t i, es_status *st)
{
    if (!s->by_index) return input_next(s, slot(s, i), st);
    int64_t r = cache_take(s);
    if (r < 0) return 0;
    s->ibuf[i] = (uint32_t)r;
    return 1;
}

/* Opens the next epoch's input and fills the buffer. */
static int start_epoch(rt_stream *s, es_status *st)
{
    if (input_open(s, st) < 0) return -1;
    s->epoch++;
    s->in_epoch = 0;
    s->input_done = 0;
    s->fill = 0;
    s->by_index = s->in.kind == IN_CACHE && index_ready(s);
    while (s->fill < s->cap) {
        int k = refill(s, s->fill, st);
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
    int64_t rows = s->in.rows;
    s->epoch_rows = rows;
    s->epoch_skipped = s->in.skipped;
    s->skipped_closed += s->in.skipped;
    input_close(s);
    if (rows == 0 && s->epoch < s->epochs)
        return es_fail(st, ES_EDATA, "%s has no examples to repeat (%lld rows skipped as bad)",
                       s->path ? s->path : s->src->path, (long long)s->epoch_skipped);
    return 0;
}

/* The next example into out: 1, 0 after the last epoch, -1 on error. */
static int next_example(rt_stream *s, void *out, es_status *st)
{
    for (;;) {
        if (s->in.kind == IN_NONE) {
            if (s->epoch >= s->epochs) return 0;
            if (start_epoch(s, st) < 0) return -1;
        }
        if (s->fill == 0) {
            if (end_epoch(s, st) < 0) return -1;
            continue;
        }
        int64_t i;
        if (s->ahead.fill == s->fill && memcmp(&s->ahead.before, &s->rng, sizeof s->rng) == 0) {
            i = s->ahead.i;
            s->rng = s->ahead.after;
        } else {
            i = (int64_t)es_rng_below(&s->rng, (uint64_t)s->fill);
        }
        s->ahead.fill = -1;
        size_t rb = s->lay.rec_bytes;
        memcpy(out, slot_rec(s, i), rb);
        s->in_epoch++;
        s->emitted++;
        if (!s->input_done) {
            int k = refill(s, i, st);
            if (k < 0) return -1;
            if (k == 1) return 1;
            s->input_done = 1;
        }
        s->fill--;
        if (i != s->fill) {
            if (s->by_index) s->ibuf[i] = s->ibuf[s->fill];
            else memcpy(slot(s, i), slot(s, s->fill), rb);
        }
        return 1;
    }
}

/* Prefetches the slot the next draw will pick (computed on a copy of the
 * generator, so the stream's state is untouched): a shuffle buffer larger
 * than the cache makes that read a miss, most of a cached epoch's time. The
 * draw is kept (ahead): it is a function of the generator's state and the
 * fill alone, so next_example takes it when both are unchanged. */
static void prefetch_next(rt_stream *s)
{
    if (s->fill <= 0) return;
    es_rng r = s->rng;
    int64_t i = (int64_t)es_rng_below(&r, (uint64_t)s->fill);
    s->ahead.before = s->rng;
    s->ahead.after = r;
    s->ahead.fill = s->fill;
    s->ahead.i = i;
    prefetched(s, slot_rec(s, i));
}

/* Up to n examples of a cached epoch, together: while the cache has
 * records left, every draw refills its slot and the buffer stays as full, so
 * the n draws do not depend on what they pick and are made first; the
 * records they pick are then prefetched together, and their addresses put in
 * out in the order next_example would take them (the cache does not change
 * while it is read). Once the cache is drawn to its end, the buffer drains:
 * each draw is then from one slot fewer, its slot taking the last one's
 * index, as in next_example. Returns how many it took: 0 when the stream is
 * not in either state (next_example takes the example). */
static int64_t take_block(rt_stream *s, const void **out, int64_t n)
{
    if (!s->by_index || s->in.kind != IN_CACHE || s->fill == 0) return 0;
    int64_t most = s->input_done ? s->fill : s->cache.n - s->in.taken;
    if (n > most) n = most;
    if (n > RT_STAGE) n = RT_STAGE;
    const unsigned char *rec = s->cache.rec;
    const size_t rb = s->lay.rec_bytes;
    if (s->input_done) {
        for (int64_t k = 0; k < n; k++) {
            int64_t i = (int64_t)es_rng_below(&s->rng, (uint64_t)s->fill);
            out[k] = prefetched(s, rec + (size_t)s->ibuf[i] * rb);
            if (i != --s->fill) s->ibuf[i] = s->ibuf[s->fill];
        }
    } else {
        int64_t pick[RT_STAGE];
        for (int64_t k = 0; k < n; k++) pick[k] = (int64_t)es_rng_below(&s->rng, (uint64_t)s->fill);
        for (int64_t k = 0; k < n; k++) {
            out[k] = prefetched(s, rec + (size_t)s->ibuf[pick[k]] * rb);
            s->ibuf[pick[k]] = (uint32_t)cache_take(s);
        }
    }
    s->ahead.fill = -1;
    s->in_epoch += n;
    s->emitted += n;
    return n;
}

rt_stream *rt_stream_open(const es_spec *spec, const es_source_spec *src, const char *path,
                          int with_label, int64_t batch_size, int64_t epochs,
                          int64_t shuffle_buffer, uint64_t seed, es_status *st)
{
    if (batch_size <= 0) { es_fail(st, ES_EINVAL, "batch size must be positive, not %lld", (long long)batch_size); return NULL; }
    if (shuffle_buffer < 0) { es_fail(st, ES_EINVAL, "shuffle buffer must be >= 0, not %lld", (long long)shuffle_buffer); return NULL; }
    rt_stream *s = es_xcalloc(1, sizeof *s);
    s->ahead.fill = -1;
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
    s->cache.on = src->cache && s->epochs > 1;
    const char *cap = getenv("ESTC_CACHE_MAX_MB");
    double mb = cap && cap[0] ? strtod(cap, NULL) : 0;
    if (mb > 0 && mb < 1e12) s->cache.max_bytes = (size_t)(mb * 1048576.0);
    s->buf = es_xmalloc((size_t)s->cap * s->lay.rec_bytes);
    s->out = es_xmalloc(s->lay.rec_bytes);
    s->stage = es_xmalloc(RT_STAGE * s->lay.rec_bytes);
    es_rng_seed(&s->rng, seed);
    for (int k = 0; k < 2; k++) {
        s->feat[k] = es_alloc(s->arena, (size_t)(spec->nused ? spec->nused : 1) * sizeof *s->feat[k]);
        for (int i = 0; i < spec->nused; i++) {
            const es_feature *f = spec->used[i];
            size_t per = f->kind == ES_FEAT_WEIGHTED ? (size_t)(f->of && f->of->max_values > 1 ? f->of->max_values : 1)
                       : f->categorical ? (size_t)(f->max_values > 1 ? f->max_values : 1)
                       : (size_t)(f->width > 1 ? f->width : 1);
            s->feat[k][i] = es_alloc(s->arena, (size_t)batch_size * per * 4);
        }
        s->label[k] = es_alloc(s->arena, (size_t)batch_size * 4);
    }
    /* open the first epoch now so a bad path or spec fails here, not at the first batch */
    if (start_epoch(s, st) < 0) { rt_stream_close(s); return NULL; }
    return s;
}

void rt_stream_background(rt_stream *s, int on) { s->background = on; }

/* Reads the rest of the first epoch's file into the cache now, while the
 * stream stands where rt_stream_open left it, then serves the epoch from the
 * cache from where it was. Nothing the stream emits changes: only when the
 * file is read. Should the cache be dropped for lack of memory, the file is
 * reopened at the same record and the epoch goes on from it. */
int rt_stream_preload(rt_stream *s, es_status *st)
{
    rt_cache *c = &s->cache;
    rt_input *in = &s->in;
    settle(s);
    if (c->complete) return 1;
    if (!c->on || in->kind != IN_FILE || s->epoch != 1 || s->emitted != 0) return 0;
    int64_t taken = in->taken;
    int k;
    do k = input_next(s, s->out, st);     /* each record goes into the cache */
    while (k == 1 && c->on);
    if (k < 0) return -1;
    rt_reader_close(in->rd);
    in->rd = NULL;
    if (!c->on) {     /* dropped: back to the file, at the record the stream stood at */
        in->rd = rt_reader_open(s->spec, s->src, s->path, s->with_label, st);
        if (!in->rd) return -1;
        for (int64_t i = 0; i < taken; i++) {
            k = rt_reader_next(in->rd, s->out, st);
            if (k < 0) return -1;
            if (k == 0) return es_fail(st, ES_EIO, "%s changed while it was read", s->path ? s->path : s->src->path);
        }
        in->taken = taken;
        in->offset = rt_reader_offset(in->rd);
        in->skipped = rt_reader_skipped(in->rd);
        in->rows = 0;
        return 0;
    }
    in->kind = IN_CACHE;
    in->taken = taken;
    in->rows = 0;
    in->bad = 0;
    while (in->bad < c->nbad && c->bad_at[in->bad] < taken) in->bad++;
    in->skipped = in->bad;
    in->offset = taken ? c->offset[taken - 1] : 0;
    /* the buffer holds the first `taken` records, which the cache holds too */
    if (s->fill == taken && index_ready(s)) {
        for (int64_t j = 0; j < s->fill; j++) s->ibuf[j] = (uint32_t)j;
        s->by_index = 1;
    }
    return 1;
}

int rt_stream_cache_dropped(const rt_stream *s)
{
    settle(s);
    return s->cache.dropped;
}

int rt_stream_stats(const rt_stream *s, rt_stats *out)
{
    const rt_cache *c = &s->cache;
    if (!c->complete) return -1;
    rt_stats_acc *a = rt_stats_begin(s->spec, out);
    for (int64_t i = 0; i < c->n; i++) rt_stats_add(a, &s->lay, c->rec + (size_t)i * s->lay.rec_bytes);
    rt_stats_end(a);
    return 0;
}

/* One batch in this many is timed for batch_s: reading the clock twice
 * costs about 60 ns here, a tenth of a cached census batch. The stream's
 * first batch and a batch that opens an epoch are not counted: cold caches
 * and filling the shuffle buffer made such a cached census batch take 5-10
 * us against the others' 0.6, and that one sample had training start the
 * input thread (0.2-2 ms here) for batches never worth handing over. */
#define BATCH_TIMED 8

/* The next batch into storage set k: rt_stream_next's work. */
static int assemble(rt_stream *s, int k, rt_batch *b, es_status *st)
{
    memset(b, 0, sizeof *b);
    if (s->state != 0) {
        if (s->state < 0) return es_fail(st, ES_EINVAL, "the stream has already failed");
        return 0;
    }
    int timed = s->timed++ % BATCH_TIMED == 0;
    double t0 = timed ? es_now() : 0;
    int64_t epoch = s->epoch;
    start_background(s);
    const rt_layout *l = &s->lay;
    const size_t rb = l->rec_bytes;
    /* examples are staged RT_STAGE at a time and moved into the batch's
     * per-feature arrays a feature at a time */
    int64_t n = 0, staged = 0;
    while (n < s->batch_size) {
        int64_t got = take_block(s, s->staged + staged, s->batch_size - n < RT_STAGE - staged
                                 ? s->batch_size - n : RT_STAGE - staged);
        if (got == 0) {
            s->staged[staged] = s->stage + (size_t)staged * rb;
            int r = next_example(s, s->stage + (size_t)staged * rb, st);
            if (r < 0) { s->state = -1; return -1; }
            if (r == 0) { s->state = 1; break; }
            prefetch_next(s);
            got = 1;
        }
        n += got;
        if ((staged += got) == RT_STAGE) {
            rt_layout_gather(l, s->staged, staged, s->feat[k], s->label[k], n - staged);
            staged = 0;
        }
    }
    if (staged) rt_layout_gather(l, s->staged, staged, s->feat[k], s->label[k], n - staged);
    if (timed && s->epoch == epoch && s->timed > 1) {
        double dt = es_now() - t0;
        s->batch_s = s->batch_s > 0 ? 0.875 * s->batch_s + 0.125 * dt : dt;
    }
    if (n == 0) return 0;
    b->n = n;
    b->nfeat = l->nfeat;
    b->feat = s->feat[k];
    b->label = s->label[k];
    return 1;
}

/* ---- a batch assembled ahead, on a thread ------------------------------------ */

/* IDLE -> ASKED (the caller asks) -> WORKING (the thread took it) -> DONE;
 * or ASKED -> IDLE again when the caller needs the batch before the thread
 * took it (withdraw): then it assembles the batch itself. */
enum { AS_IDLE, AS_ASKED, AS_WORKING, AS_DONE };

typedef struct assembler {
    pthread_t th;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    atomic_int state;         /* AS_*: while AS_WORKING the thread owns the stream */
    atomic_int quit;
    int spin[2];              /* per side (0 the stream's caller, 1 the thread): spin before sleeping */
    int result;               /* assemble's, for the batch asked */
    rt_batch b;
    es_status st;
} assembler;

/* A batch takes microseconds: a side that waits for the other spins a
 * little before it sleeps, so that a tight loop hands batches over without
 * a system call. Whether it spins follows its last wait: one that ended while
 * spinning, or after a short sleep, spins again; after a long one (a slow
 * step: a large model) it goes to sleep at once and burns nothing.
 * The caller never waits for a batch the thread has not started: on a busy
 * machine the thread may not run for a while, and the caller withdraws the
 * request and assembles the batch itself (withdraw). It waits only while the
 * thread is assembling. */
#define SPINS 4000
#define SHORT_WAIT 200e-6     /* seconds */

static inline void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#endif
}

static void set_state(assembler *a, int state)
{
    pthread_mutex_lock(&a->mu);
    atomic_store_explicit(&a->state, state, memory_order_release);
    pthread_cond_broadcast(&a->cv);
    pthread_mutex_unlock(&a->mu);
}

/* Waits, on side `side`, until the state is `want` (is_not: until it is not). */
static void wait_state(assembler *a, int side, int want, int is_not)
{
#define DONE_WAITING(st) (is_not ? (st) != want : (st) == want)
    int spins = a->spin[side] ? SPINS : 1;
    for (int i = 0; i < spins; i++) {
        if (DONE_WAITING(atomic_load_explicit(&a->state, memory_order_acquire)) || atomic_load(&a->quit)) return;
        cpu_relax();
    }
    double t0 = es_now();
    pthread_mutex_lock(&a->mu);
    while (!DONE_WAITING(atomic_load_explicit(&a->state, memory_order_acquire)) && !atomic_load(&a->quit))
        pthread_cond_wait(&a->cv, &a->mu);
    pthread_mutex_unlock(&a->mu);
    a->spin[side] = es_now() - t0 < SHORT_WAIT;
#undef DONE_WAITING
}

static void *assemble_ahead(void *arg)
{
    rt_stream *s = arg;
    assembler *a = s->as;
    for (;;) {
        wait_state(a, 1, AS_ASKED, 0);
        if (atomic_load(&a->quit)) break;
        int asked = AS_ASKED;
        if (!atomic_compare_exchange_strong(&a->state, &asked, AS_WORKING)) continue;   /* withdrawn */
        es_status_clear(&a->st);
        a->result = assemble(s, s->set ^ 1, &a->b, &a->st);
        set_state(a, AS_DONE);
    }
    return NULL;
}

/* Takes back a request the thread has not started; 1 if it did. */
static int withdraw(assembler *a)
{
    int asked = AS_ASKED;
    return atomic_compare_exchange_strong(&a->state, &asked, AS_IDLE);
}

/* Waits until no batch is being assembled (a request not started is
 * withdrawn): the stream is the caller's again. */
static void settle(const rt_stream *s)
{
    if (!s->as || withdraw(s->as)) return;
    wait_state(s->as, 0, AS_WORKING, 1);
}

static void assembler_stop(rt_stream *s)
{
    assembler *a = s->as;
    if (!a) return;
    settle(s);
    pthread_mutex_lock(&a->mu);
    atomic_store(&a->quit, 1);
    pthread_cond_broadcast(&a->cv);
    pthread_mutex_unlock(&a->mu);
    pthread_join(a->th, NULL);
    pthread_cond_destroy(&a->cv);
    pthread_mutex_destroy(&a->mu);
    free(a);
    s->as = NULL;
}

void rt_stream_request(rt_stream *s)
{
    if (s->state != 0) return;            /* nothing to assemble: the next call says so at once */
    if (!s->as) {
        assembler *a = es_xcalloc(1, sizeof *a);
        pthread_mutex_init(&a->mu, NULL);
        pthread_cond_init(&a->cv, NULL);
        a->spin[0] = a->spin[1] = 1;
        s->as = a;
        sigset_t all, old;
        sigfillset(&all);
        pthread_sigmask(SIG_SETMASK, &all, &old);
        int rc = pthread_create(&a->th, NULL, assemble_ahead, s);
        pthread_sigmask(SIG_SETMASK, &old, NULL);
        if (rc != 0) {        /* no thread: the next call assembles on the caller's */
            pthread_cond_destroy(&a->cv);
            pthread_mutex_destroy(&a->mu);
            free(a);
            s->as = NULL;
            return;
        }
    }
    if (atomic_load(&s->as->state) == AS_IDLE) set_state(s->as, AS_ASKED);
}

int rt_stream_next(rt_stream *s, rt_batch *b, es_status *st)
{
    assembler *a = s->as;
    if (a) {
        settle(s);
        if (atomic_load(&a->state) == AS_DONE) {
            atomic_store(&a->state, AS_IDLE);
            s->set ^= 1;
            *b = a->b;
            if (a->result < 0) *st = a->st;
            return a->result;
        }
    }
    s->set ^= 1;
    return assemble(s, s->set, b, st);
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
    settle(s);
    if (s->state < 0) return es_fail(st, ES_EINVAL, "the stream has already failed");
    int64_t done = 0;
    while (done < n && s->state == 0) {
        /* a drained epoch is closed now, as next_example would close it */
        if (s->in.kind != IN_NONE && s->fill == 0) {
            if (end_epoch(s, st) < 0) { s->state = -1; return -1; }
        }
        int64_t R = s->epoch_rows;
        if (s->in.kind == IN_NONE && R > 0 && s->epoch < s->epochs && n - done >= R) {
            producer_stop(s);     /* what it read ahead is the epoch replayed here */
            replay_epoch(s, R);
            s->epoch++;
            s->in_epoch = R;
            s->emitted += R;
            s->skipped_closed += s->epoch_skipped;
            done += R;
            continue;
        }
        int k = next_example(s, s->out, st);
        if (k < 0) { s->state = -1; return -1; }
        if (k == 0) { s->state = 1; break; }
        done++;
    }
    return done;
}

void rt_stream_position(const rt_stream *s, rt_stream_pos *p)
{
    settle(s);
    memset(p, 0, sizeof *p);
    p->examples = s->emitted;
    p->epoch = s->epoch;
    p->in_epoch = s->in_epoch;
    p->rows_skipped = rt_stream_skipped(s);
    memcpy(p->rng, s->rng.s, sizeof p->rng);
    /* a drained epoch and a closed one are the same position */
    int open = s->in.kind != IN_NONE && s->fill > 0;
    p->offset = open ? s->in.offset : -1;
    size_t n = open ? (size_t)s->fill : 0;
    p->buffer_hash = s->by_index ? es_hash64_gather(s->cache.rec, s->ibuf, n, s->lay.rec_bytes, 0)
                                 : es_hash64(s->buf, n * s->lay.rec_bytes, 0);
}

int64_t rt_stream_epoch_rows(const rt_stream *s)
{
    settle(s);
    return s->epoch_rows;
}

int rt_stream_done(const rt_stream *s)
{
    settle(s);
    if (s->state != 0) return s->state > 0;
    int drained = s->in.kind == IN_NONE || (s->fill == 0 && s->input_done);
    return drained && s->epoch >= s->epochs;
}

double rt_stream_batch_seconds(const rt_stream *s)
{
    settle(s);
    return s->batch_s;
}

int64_t rt_stream_skipped(const rt_stream *s)
{
    settle(s);
    return s->skipped_closed + (s->in.kind != IN_NONE ? s->in.skipped : 0);
}

void rt_stream_close(rt_stream *s)
{
    if (!s) return;
    assembler_stop(s);
    producer_stop(s);
    input_close(s);
    cache_drop(&s->cache);
    free(s->buf);
    free(s->ibuf);
    free(s->out);
    free(s->stage);
    es_arena_free(s->arena);
    free(s);
}

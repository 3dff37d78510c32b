/*
 * core.h — the few things every layer of estc shares: arenas, source spans,
 * diagnostics, statuses and small helpers.
 *
 * Invariants: nothing here knows about models, graphs or LLVM. An arena owns
 * every allocation made from it and frees them all at once; nothing allocated
 * from an arena is freed on its own. Diagnostics collect located messages for
 * the user; a status carries one message back through an API call. Library
 * code reports through these two and never calls exit().
 */
#ifndef ESTC_CORE_H
#define ESTC_CORE_H

#include <stddef.h>
#include <stdint.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#define ES_UNUSED(x) ((void)(x))
#define ES_ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

/* ---- arena ---------------------------------------------------------------- */

typedef struct es_arena es_arena;

es_arena *es_arena_new(void);
void es_arena_free(es_arena *a);
void *es_alloc(es_arena *a, size_t n);          /* zeroed, 16-byte aligned */
void *es_alloc_raw(es_arena *a, size_t n);      /* not zeroed: for what is written at once */
/* Gives back n bytes at p, allocated from a, for a later allocation of a to
 * reuse (memory touched once costs less than fresh pages): only for what no
 * pointer refers to any more. Blocks under 1 KB are left alone. */
void es_release(es_arena *a, void *p, size_t n);
char *es_strdup(es_arena *a, const char *s);
char *es_strndup(es_arena *a, const char *s, size_t n);
char *es_sprintf(es_arena *a, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* A growable array whose storage lives in an arena. It starts at 64 bytes
 * (two elements if they are larger); a block it outgrows is given back to the
 * arena (es_release), so no pointer into it may be kept across a push. */
#define ES_VEC(T) struct { T *v; int n, cap; }
#define es_vec_push(arena, vec, x) do {                                        \
        if ((vec).n == (vec).cap) {                                            \
            size_t sz_ = sizeof(*(vec).v);                                     \
            int ncap_ = (vec).cap ? (vec).cap * 2 : sz_ >= 32 ? 2 : (int)(64 / sz_); \
            void *nv_ = es_alloc((arena), (size_t)ncap_ * sz_);                \
            if ((vec).n) memcpy(nv_, (vec).v, (size_t)(vec).n * sz_);          \
            es_release((arena), (vec).v, (size_t)(vec).cap * sz_);             \
            (vec).v = nv_; (vec).cap = ncap_;                                  \
        }                                                                      \
        (vec).v[(vec).n++] = (x);                                              \
    } while (0)

/* ---- heap helpers that never return NULL silently ------------------------- */

void *es_xmalloc(size_t n);   /* aborts with a message on out-of-memory (an invariant, not user input) */
void *es_xcalloc(size_t n, size_t sz);
void *es_xrealloc(void *p, size_t n);
char *es_xstrdup(const char *s);

/* ---- source spans ---------------------------------------------------------- */

/* A source file kept whole in memory so diagnostics can quote its lines. */
typedef struct es_source {
    const char *path;      /* as the user named it */
    const char *dir;       /* directory of path, for relative data paths ("." if none) */
    const char *text;      /* NUL-terminated contents */
    size_t len;
} es_source;

/* A span is a byte range in one source; line/col (1-based) of its start are kept
 * for speed. Every AST node and every graph node built from one carries a span. */
typedef struct es_span {
    const es_source *src;  /* NULL for nodes the compiler made up */
    int line, col;         /* 1-based, col counts bytes */
    int off, len;          /* byte offset and length */
} es_span;

/* ---- diagnostics ------------------------------------------------------------ */

typedef enum { ES_DIAG_ERROR, ES_DIAG_WARNING, ES_DIAG_NOTE } es_diag_kind;

typedef struct es_diags {
    FILE *out;             /* where messages go as they are reported (may be NULL) */
    int nerrors, nwarnings;
    int max_errors;        /* stop reporting after this many (0 = 50) */
    int color;             /* reserved; output is plain text */
} es_diags;

void es_diags_init(es_diags *d, FILE *out);
/* file:line:col: error: message, then the source line and a caret under the span. */
void es_diag(es_diags *d, es_diag_kind k, es_span sp, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
void es_vdiag(es_diags *d, es_diag_kind k, es_span sp, const char *fmt, va_list ap);

/* ---- status (API-level errors) ------------------------------------------ */

typedef struct es_status {
    int code;              /* 0 = ok; otherwise one of ES_E* */
    char msg[1024];
} es_status;

enum { ES_OK = 0, ES_EINVAL = 1, ES_EIO = 2, ES_EDATA = 3, ES_EMODEL = 4, ES_ECOMPILE = 5, ES_EINTERNAL = 6 };

int es_fail(es_status *st, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
void es_status_clear(es_status *st);

/* ---- files -------------------------------------------------------------- */

/* Reads a whole (small) file; returns NULL and sets st on failure. Caller frees. */
char *es_read_file(const char *path, size_t *len, es_status *st);
/* Writes data atomically: temp file in the same directory, fsync, rename, fsync dir. */
int es_write_file_atomic(const char *path, const void *data, size_t len, es_status *st);
/* mkdir -p */
int es_mkdirs(const char *path, es_status *st);
/* Joins dir and a relative path; absolute paths are returned unchanged. */
char *es_path_join(es_arena *a, const char *dir, const char *path);
char *es_dirname(es_arena *a, const char *path);

/* ---- hashing and random numbers --------------------------------------- */

uint64_t es_hash64(const void *data, size_t len, uint64_t seed);   /* xxHash XXH64 */
/* es_hash64 of the concatenation of n records of `size` bytes, record k at
 * base + idx[k] * size: the hash of a gathered copy, without the copy. */
uint64_t es_hash64_gather(const void *base, const uint32_t *idx, size_t n, size_t size, uint64_t seed);

/* A small counter-free generator (SplitMix64 seeding xoshiro256**): deterministic
 * across machines given the seed; its state is four words so a checkpoint can keep it. */
typedef struct es_rng { uint64_t s[4]; } es_rng;
void es_rng_seed(es_rng *r, uint64_t seed);
double es_rng_uniform(es_rng *r);            /* [0, 1) */
double es_rng_normal(es_rng *r);             /* standard normal (Box-Muller, no cached pair) */

static inline uint64_t es_rotl64(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

/* the next 64 random bits (xoshiro256**); inline: the shuffle draws one per example */
static inline uint64_t es_rng_next(es_rng *r)
{
    uint64_t *s = r->s;
    uint64_t result = es_rotl64(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0]; s[3] ^= s[1]; s[1] ^= s[2]; s[0] ^= s[3];
    s[2] ^= t;
    s[3] = es_rotl64(s[3], 45);
    return result;
}

/* [0, n), unbiased, by Lemire's multiply-and-shift: the high word of x * n
 * for a random x; the draws whose low word falls below 2^64 mod n are
 * rejected, so every value has the same number of x. The remainder, a
 * division, is computed only when the low word is below n, which it almost
 * never is. */
static inline uint64_t es_rng_below(es_rng *r, uint64_t n)
{
    if (n <= 1) return 0;
    unsigned __int128 m = (unsigned __int128)es_rng_next(r) * n;
    if ((uint64_t)m < n) {
        uint64_t t = (0 - n) % n;   /* 2^64 mod n */
        while ((uint64_t)m < t) m = (unsigned __int128)es_rng_next(r) * n;
    }
    return (uint64_t)(m >> 64);
}

/* ---- strings ---------------------------------------------------------------- */
/* Edit distance ignoring case, a swap of neighbours counting as one edit
 * ("trian" is one from "train"); for "did you mean" hints. Names longer
 * than 63 bytes are 99 apart. */
int es_edit_distance(const char *a, const char *b);

/* ---- time ----------------------------------------------------------------- */
double es_now(void);                         /* monotonic seconds */
double es_now_coarse(void);                  /* the same clock at its last tick (a few ms):
                                                a tenth of es_now's cost, for per-step checks */

#endif

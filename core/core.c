/*
 * core.c — arenas, diagnostics, statuses, files, hashing, random numbers.
 *
 * The arena is a list of large blocks; an allocation bigger than a block gets
 * a block of its own. Diagnostics print as they are reported so a crash later
 * still leaves the user the messages that came before it.
 */
#define _GNU_SOURCE
#include "core.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#define XXH_STATIC_LINKING_ONLY   /* XXH64_state_t on the stack */
#include <xxhash.h>
#include <math.h>
#include <ctype.h>

/* ---- arena ---------------------------------------------------------------- */

/* A block given back with es_release: its first bytes hold the free list. */
typedef struct es_freed { struct es_freed *next; size_t n; } es_freed;
typedef struct es_block { struct es_block *next; size_t used, cap; max_align_t data[]; } es_block;
struct es_arena { es_block *head; es_freed *freed; };

/* ES_REUSE: blocks smaller than this are not worth a place on the free list */
enum { ES_BLOCK = 64 * 1024, ES_REUSE = 1024 };

/* AddressSanitizer is told which released bytes must not be touched, so a
 * pointer kept into a released block is reported where it is used. */
#if defined(__SANITIZE_ADDRESS__)
#define ES_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define ES_ASAN 1
#endif
#endif
#ifdef ES_ASAN
#include <sanitizer/asan_interface.h>
#define poison(p, n) ASAN_POISON_MEMORY_REGION((p), (n))
#define unpoison(p, n) ASAN_UNPOISON_MEMORY_REGION((p), (n))
#else
#define poison(p, n) ((void)(p), (void)(n))
#define unpoison(p, n) ((void)(p), (void)(n))
#endif

es_arena *es_arena_new(void) { return es_xcalloc(1, sizeof(es_arena)); }

void es_arena_free(es_arena *a)
{
    if (!a) return;
    for (es_block *b = a->head, *nx; b; b = nx) {
        nx = b->next;
        unpoison(b->data, b->cap);    /* malloc's own bookkeeping may reuse them */
        free(b);
    }
    free(a);
}

static size_t round16(size_t n) { n = (n + 15) & ~(size_t)15; return n ? n : 16; }

/* the smallest released block of at least n bytes, taken off the list (its
 * tail goes back if it is worth keeping), or NULL */
static void *reuse(es_arena *a, size_t n)
{
    es_freed **best = NULL;
    for (es_freed **f = &a->freed; *f; f = &(*f)->next)
        if ((*f)->n >= n && (!best || (*f)->n < (*best)->n)) best = f;
    if (!best) return NULL;
    es_freed *b = *best;
    *best = b->next;
    size_t have = b->n;
    unpoison(b, n);
    if (have - n >= ES_REUSE) es_release(a, (char *)b + n, have - n);
    return b;
}

/* n bytes from the arena, not cleared (16-byte aligned) */
void *es_alloc_raw(es_arena *a, size_t n)
{
    n = round16(n);
    if (n >= ES_REUSE && a->freed) {
        void *p = reuse(a, n);
        if (p) return p;
    }
    es_block *b = a->head;
    if (!b || b->cap - b->used < n) {
        size_t cap = n > ES_BLOCK ? n : ES_BLOCK;
        es_block *nb = es_xmalloc(sizeof(es_block) + cap);
        nb->used = 0; nb->cap = cap;
        if (b && n > ES_BLOCK) {            /* keep the current block for small ones */
            nb->next = b->next; b->next = nb;
            nb->used = n;
            return nb->data;
        }
        nb->next = b; a->head = nb; b = nb;
    }
    void *p = (char *)b->data + b->used;
    b->used += n;
    return p;
}

void *es_alloc(es_arena *a, size_t n)
{
    void *p = es_alloc_raw(a, n);
    memset(p, 0, n);
    return p;
}

void es_release(es_arena *a, void *p, size_t n)
{
    n &= ~(size_t)15;     /* a tail of a rounded-up block is not counted on */
    if (!p || n < ES_REUSE) return;
    es_freed *f = p;
    unpoison(f, sizeof *f);   /* the tail of a reused block was poisoned */
    f->n = n;
    f->next = a->freed;
    a->freed = f;
    poison((char *)p + sizeof *f, n - sizeof *f);
}

char *es_strndup(es_arena *a, const char *s, size_t n)
{
    char *p = es_alloc(a, n + 1);
    memcpy(p, s, n);
    p[n] = 0;
    return p;
}

char *es_strdup(es_arena *a, const char *s) { return es_strndup(a, s, strlen(s)); }

char *es_sprintf(es_arena *a, const char *fmt, ...)
{
    va_list ap, aq;
    va_start(ap, fmt);
    va_copy(aq, ap);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    char *p = es_alloc(a, (size_t)n + 1);
    vsnprintf(p, (size_t)n + 1, fmt, aq);
    va_end(aq);
    return p;
}

/* ---- heap ------------------------------------------------------------------ */

static void *oom(size_t n)
{
    fprintf(stderr, "estc: out of memory (%zu bytes)\n", n);
    abort();
}

void *es_xmalloc(size_t n) { void *p = malloc(n ? n : 1); return p ? p : oom(n); }
void *es_xcalloc(size_t n, size_t sz) { void *p = calloc(n ? n : 1, sz ? sz : 1); return p ? p : oom(n * sz); }
void *es_xrealloc(void *p, size_t n) { void *q = realloc(p, n ? n : 1); return q ? q : oom(n); }
char *es_xstrdup(const char *s) { size_t n = strlen(s) + 1; char *p = es_xmalloc(n); memcpy(p, s, n); return p; }

/* ---- diagnostics ------------------------------------------------------------- */

void es_diags_init(es_diags *d, FILE *out)
{
    memset(d, 0, sizeof *d);
    d->out = out;
    d->max_errors = 50;
}

static const char *kind_name(es_diag_kind k)
{
    switch (k) {
    case ES_DIAG_ERROR: return "error";
    case ES_DIAG_WARNING: return "warning";
    case ES_DIAG_NOTE: return "note";
    }
    return "?";
}

void es_vdiag(es_diags *d, es_diag_kind k, es_span sp, const char *fmt, va_list ap)
{
    if (k == ES_DIAG_ERROR) d->nerrors++;
    if (k == ES_DIAG_WARNING) d->nwarnings++;
    if (!d->out) return;
    if (k == ES_DIAG_ERROR && d->nerrors > d->max_errors) {
        if (d->nerrors == d->max_errors + 1)
            fprintf(d->out, "estc: too many errors, stopping here\n");
        return;
    }
    if (sp.src)
        fprintf(d->out, "%s:%d:%d: %s: ", sp.src->path, sp.line, sp.col, kind_name(k));
    else
        fprintf(d->out, "estc: %s: ", kind_name(k));
    vfprintf(d->out, fmt, ap);
    fputc('\n', d->out);
    if (!sp.src || sp.off < 0 || (size_t)sp.off > sp.src->len) return;
    /* the source line and a caret under the span (clipped to the line) */
    const char *t = sp.src->text;
    int ls = sp.off, le = sp.off;
    while (ls > 0 && t[ls - 1] != '\n') ls--;
    while ((size_t)le < sp.src->len && t[le] != '\n') le++;
    fprintf(d->out, "%5d | %.*s\n", sp.line, le - ls, t + ls);
    fprintf(d->out, "      | ");
    /* pad and underline by characters, not bytes: UTF-8 continuation bytes
     * (10xxxxxx) take no column of their own */
    for (int i = ls; i < sp.off; i++)
        if (((unsigned char)t[i] & 0xC0) != 0x80) fputc(t[i] == '\t' ? '\t' : ' ', d->out);
    int n = sp.len;
    if (sp.off + n > le) n = le - sp.off;
    fputc('^', d->out);
    for (int i = sp.off + 1; i < sp.off + n; i++)
        if (((unsigned char)t[i] & 0xC0) != 0x80) fputc('~', d->out);
    fputc('\n', d->out);
}

void es_diag(es_diags *d, es_diag_kind k, es_span sp, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    es_vdiag(d, k, sp, fmt, ap);
    va_end(ap);
}

/* ---- status ----------------------------------------------------------------- */

int es_fail(es_status *st, int code, const char *fmt, ...)
{
    if (!st) return -1;
    st->code = code;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(st->msg, sizeof st->msg, fmt, ap);
    va_end(ap);
    return -1;
}

void es_status_clear(es_status *st) { st->code = 0; st->msg[0] = 0; }

/* ---- files ------------------------------------------------------------------- */

char *es_read_file(const char *path, size_t *len, es_status *st)
{
    FILE *f = fopen(path, "rb");
    if (!f) { es_fail(st, ES_EIO, "cannot open %s: %s", path, strerror(errno)); return NULL; }
    size_t cap = 1 << 16, n = 0;
    char *buf = es_xmalloc(cap);
    for (;;) {
        if (n + 1 >= cap) { cap *= 2; buf = es_xrealloc(buf, cap); }
        size_t r = fread(buf + n, 1, cap - n - 1, f);
        n += r;
        if (r == 0) break;
    }
    int err = ferror(f);
    fclose(f);
    if (err) { free(buf); es_fail(st, ES_EIO, "cannot read %s", path); return NULL; }
    buf[n] = 0;
    if (len) *len = n;
    return buf;
}

int es_write_file_atomic(const char *path, const void *data, size_t len, es_status *st)
{
    size_t pl = strlen(path);
    char *tmp = es_xmalloc(pl + 32);
    snprintf(tmp, pl + 32, "%s.tmp.%ld", path, (long)getpid());
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0) {
        es_fail(st, ES_EIO, "cannot write %s: %s", path, strerror(errno));
        free(tmp);
        return -1;
    }
    const char *p = data;
    size_t left = len;
    while (left > 0) {
        ssize_t w = write(fd, p, left);
        if (w < 0) {
            if (errno == EINTR) continue;
            es_fail(st, ES_EIO, "cannot write %s: %s", path, strerror(errno));
            close(fd); unlink(tmp); free(tmp);
            return -1;
        }
        p += w; left -= (size_t)w;
    }
    if (fsync(fd) != 0 || close(fd) != 0) {
        es_fail(st, ES_EIO, "cannot write %s: %s", path, strerror(errno));
        unlink(tmp); free(tmp);
        return -1;
    }
    if (rename(tmp, path) != 0) {
        es_fail(st, ES_EIO, "cannot rename %s to %s: %s", tmp, path, strerror(errno));
        unlink(tmp); free(tmp);
        return -1;
    }
    free(tmp);
    /* make the rename itself durable */
    char *dir = es_xstrdup(path);
    char *slash = strrchr(dir, '/');
    if (slash) { if (slash == dir) slash[1] = 0; else *slash = 0; } else strcpy(dir, ".");
    int dfd = open(dir, O_RDONLY | O_DIRECTORY);
    if (dfd >= 0) { fsync(dfd); close(dfd); }
    free(dir);
    return 0;
}

int es_mkdirs(const char *path, es_status *st)
{
    char *p = es_xstrdup(path);
    size_t n = strlen(p);
    for (size_t i = 1; i <= n; i++) {
        if (p[i] == '/' || p[i] == 0) {
            char c = p[i];
            p[i] = 0;
            if (mkdir(p, 0755) != 0 && errno != EEXIST) {
                es_fail(st, ES_EIO, "cannot create directory %s: %s", p, strerror(errno));
                free(p);
                return -1;
            }
            p[i] = c;
        }
    }
    struct stat sb;
    if (stat(path, &sb) != 0 || !S_ISDIR(sb.st_mode)) {
        es_fail(st, ES_EIO, "%s is not a directory", path);
        free(p);
        return -1;
    }
    free(p);
    return 0;
}

char *es_path_join(es_arena *a, const char *dir, const char *path)
{
    if (path[0] == '/' || !dir || !dir[0] || strcmp(dir, ".") == 0) return es_strdup(a, path);
    return es_sprintf(a, "%s/%s", dir, path);
}

char *es_dirname(es_arena *a, const char *path)
{
    const char *s = strrchr(path, '/');
    if (!s) return es_strdup(a, ".");
    if (s == path) return es_strdup(a, "/");
    return es_strndup(a, path, (size_t)(s - path));
}

/* ---- hashing and random numbers ------------------------------------------------ */

uint64_t es_hash64(const void *data, size_t len, uint64_t seed) { return XXH64(data, len, seed); }

uint64_t es_hash64_gather(const void *base, const uint32_t *idx, size_t n, size_t size, uint64_t seed)
{
    XXH64_state_t h;
    XXH64_reset(&h, seed);
    for (size_t k = 0; k < n; k++) XXH64_update(&h, (const char *)base + (size_t)idx[k] * size, size);
    return XXH64_digest(&h);
}

static uint64_t splitmix64(uint64_t *x)
{
    uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

void es_rng_seed(es_rng *r, uint64_t seed)
{
    uint64_t x = seed;
    for (int i = 0; i < 4; i++) r->s[i] = splitmix64(&x);
}

double es_rng_uniform(es_rng *r) { return (double)(es_rng_next(r) >> 11) * 0x1.0p-53; }

double es_rng_normal(es_rng *r)
{
    double u1 = es_rng_uniform(r), u2 = es_rng_uniform(r);
    if (u1 < 1e-300) u1 = 1e-300;
    return sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2);
}

int es_edit_distance(const char *a, const char *b)
{
    int la = (int)strlen(a), lb = (int)strlen(b);
    if (la > 63 || lb > 63) return 99;
    int d[64][64];
    for (int i = 0; i <= la; i++) d[i][0] = i;
    for (int j = 0; j <= lb; j++) d[0][j] = j;
    for (int i = 1; i <= la; i++)
        for (int j = 1; j <= lb; j++) {
            int ai = tolower((unsigned char)a[i - 1]), bj = tolower((unsigned char)b[j - 1]);
            int v = d[i - 1][j - 1] + (ai != bj);
            if (d[i - 1][j] + 1 < v) v = d[i - 1][j] + 1;
            if (d[i][j - 1] + 1 < v) v = d[i][j - 1] + 1;
            if (i > 1 && j > 1 && ai == tolower((unsigned char)b[j - 2]) &&
                tolower((unsigned char)a[i - 2]) == bj && d[i - 2][j - 2] + 1 < v)
                v = d[i - 2][j - 2] + 1;
            d[i][j] = v;
        }
    return d[la][lb];
}

double es_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

double es_now_coarse(void)
{
#ifdef CLOCK_MONOTONIC_COARSE
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
#else
    return es_now();
#endif
}

/*
 * csv_walk.h — the CSV reader's state and its walk over a plain line (csv.c),
 * in a header so that the walk is compiled three times: for any x86-64
 * (SSE2) in csv.c; with SSSE3 in csv_ssse3.c, whose short float parse
 * (scan.h) closes the point with one shuffle and pairs digits with one
 * multiply-add; and with AVX2 and BMI in csv_avx2.c, whose three-operand
 * forms keep the parse's constants in registers. csv.c picks the best build
 * the CPU can run, once, when the file is opened.
 */
#ifndef ESTC_RUNTIME_CSV_WALK_H
#define ESTC_RUNTIME_CSV_WALK_H

#include "runtime.h"
#include "scan.h"

#include <stdlib.h>
#include <string.h>
#ifdef __AVX2__
#include <immintrin.h>
#endif

/* The walk's builds, by the instructions they need: any x86-64 (or any
 * other CPU: csv.c), SSSE3, and AVX2 with BMI1, BMI2 and FMA. */
enum { RT_CSV_SSE2, RT_CSV_SSSE3, RT_CSV_AVX2 };

/* runs of at least this many columns are read as two chains (walk_run2) */
enum { RT_CSV_TWO_CHAINS = 16 };

/* SLACK bytes past the end of the buffer let word-wide scans load 8 bytes,
 * and rt_scan_f64_padded its RT_SCAN_PAD, at any position before the end of
 * the data (what they read there is ignored). */
enum { RT_CSV_BUFSIZE = 1 << 20, SLACK = RT_SCAN_PAD > 8 ? RT_SCAN_PAD : 8 };

struct rt_csv {
    int fd;
    char *path;
    char *buf;
    size_t cap, len, pos;    /* unread data is buf[pos, len) */
    int64_t buf_off;         /* file offset of buf[0] */
    int eof;                 /* read(2) has returned 0 */
    int64_t pos_line;        /* 1-based line number at buf[pos] */
    int64_t row_line;        /* line where the last returned row began */

    const char *sep;
    size_t seplen;
    const char *comment;
    size_t commentlen;
    int trim_space, trim_tab;
    int inplace;             /* the separator allows split_inplace (no quote, CR or LF in it) */
    int walked;              /* the last row was split by walk_inplace, into the plan's fields */
    int parsed;              /* ... and how many of its number fields it parsed */
    int skip_left;           /* physical lines still to skip */
    const unsigned char *run_for;   /* the plan's kinds that run[] was made for */
    int run_cols, *run;      /* run[c]: columns from c on of c's kind, F64 or (< 0) I64, VALUE_ONLY */
    int any_run;             /* some run[c] != 0 */
    int isa;                 /* RT_CSV_SSE2, _SSSE3 or _AVX2: the walk's build that runs */

    char *row;               /* unquoted field text of the current row */
    size_t rowcap;
    char **fields;           /* pointers into row */
    int nfields, fieldcap;

    int nheader;             /* header names (copies), when src->header */
    char **header;
};

static inline int is_trim(const rt_csv *c, char ch)
{
    return (ch == ' ' && c->trim_space) || (ch == '\t' && c->trim_tab);
}

/* Does the rest of a multi-byte separator follow its first byte at p (< e)?
 * Byte by byte: separators are short, and a call to memcmp costs more. */
static inline int sep_rest(const rt_csv *c, const char *p, const char *e)
{
    if ((size_t)(e - p) < c->seplen) return 0;
    for (size_t i = 1; i < c->seplen; i++) if (p[i] != c->sep[i]) return 0;
    return 1;
}

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
#define RT_CSV_SWAR 1
#define ONES UINT64_C(0x0101010101010101)
#define LOW7 UINT64_C(0x7f7f7f7f7f7f7f7f)
/* 0x80 in each byte of w equal to the byte of pat (ONES * byte), else 0: exact,
 * no false positives, so the bits can be walked. */
static inline uint64_t bytes_equal(uint64_t w, uint64_t pat)
{
    uint64_t x = w ^ pat;
    return ~(((x & LOW7) + LOW7) | x | LOW7);
}
#endif

/* The first separator in [p, e), or e: the leftmost match, as split_inplace
 * finds it, eight bytes at a time (SLACK makes the loads past e safe). */
__attribute__((always_inline)) static inline char *find_sep(const rt_csv *c, char *p, char *e)
{
    const char s0 = c->sep[0];
#ifdef RT_CSV_SWAR
    const uint64_t pat = ONES * (unsigned char)s0;
    for (; p < e; p += 8) {
        uint64_t w;
        memcpy(&w, p, 8);
        for (uint64_t m = bytes_equal(w, pat); m; m &= m - 1) {
            char *at = p + (__builtin_ctzll(m) >> 3);
            if (at >= e) return e;
            if (c->seplen == 1 || sep_rest(c, at, e)) return at;
        }
    }
    return e;
#else
    for (; p < e; p++)
        if (*p == s0 && (c->seplen == 1 || sep_rest(c, p, e))) return p;
    return e;
#endif
}

/* A separator at p (< e)? */
static inline int sep_here(const rt_csv *c, const char *p, const char *e)
{
    return *p == c->sep[0] && (c->seplen == 1 || sep_rest(c, p, e));
}

/* A number field of the plan starting at p: its value into the plan when the
 * whole trimmed field [p, next separator or e) is a decimal that the fast
 * path reads. Returns where the field ends (a separator or e), or NULL to
 * have the field split as text. *b and *t are the trimmed field. */
static inline char *parse_field(const rt_csv *c, const rt_csv_plan *plan, int col, char *p, char *e,
                         char **b, char **t)
{
    while (p < e && is_trim(c, *p) && !sep_here(c, p, e)) p++;
    /* an empty field (missing: the caller decides) fails the scan below, as
     * neither a separator (rt_csv_can_parse) nor a line end starts a number */
    double v;
    const char *q = (plan->kind[col] & ~RT_CSV_VALUE_ONLY) == RT_CSV_F64 ? rt_scan_f64_padded(p, &v)
                                                                         : rt_scan_int_until(p, &v, 256);
    if (!q) return NULL;
    char *n = (char *)q, *f = n;
    for (; f < e && !sep_here(c, f, e); f++)
        if (!is_trim(c, *f)) return NULL;                /* more than a number */
    plan->val[col] = v;
    plan->stamp[col] = plan->now;
    *b = p;
    *t = n;
    return f;
}

/* Where a run of fields stopped: the next field, the end of the number
 * that stopped it (NULL: none) and that number's value. */
typedef struct run_t {
    char *p;
    const char *q;
    double v;
} run_t;

/* Columns [n, m) of a run from r->p on, while each holds a number followed by
 * the separator: their values into the plan, r->p past each. Returns the
 * column it stopped at (m when all were read). */
__attribute__((always_inline)) static inline int walk_run(const rt_csv *c, const rt_csv_plan *plan, run_t *r,
                                                          const char *e, int n, const int m, const size_t sl,
                                                          const int integer)
{
    double *val = plan->val;
    int64_t *stamp = plan->stamp;
    const int64_t now = plan->now;
    const char s0 = c->sep[0];
    char *p = r->p;
    const char *q = NULL;
    double v = 0;
    const rt_scan_k k = rt_scan_k_make();
    size_t i = (size_t)n;
    for (; i < (size_t)m; i++) {
        q = integer ? rt_scan_int_until_k(k, p, &v, s0) : rt_scan_f64_until_k(k, p, &v, s0);
        if (!q || *q != s0 || (sl > 1 && !sep_rest(c, q, e))) break;
        val[i] = v;
        stamp[i] = now;
        p = (char *)q + sl;
    }
    r->p = p;
    r->q = q;
    r->v = v;
    return (int)i;
}

#ifdef __AVX2__
/* Where the field k >= 1 fields after the one at p starts: past the k-th
 * byte s0 in [p, e), found 32 bytes at a time; NULL when the line has fewer.
 * The line holds no quote (walk), so with a one-byte separator every s0
 * ends a field. */
static inline char *nth_field(char *p, const char *e, size_t k, const char s0)
{
    const __m256i sep = _mm256_set1_epi8(s0);
    for (; p < e; p += 32) {
        uint64_t mask = (uint32_t)_mm256_movemask_epi8(
            _mm256_cmpeq_epi8(_mm256_loadu_si256((const __m256i *)(const void *)p), sep));
        if (e - p < 32) mask &= (UINT64_C(1) << (e - p)) - 1;
        size_t cnt = (size_t)__builtin_popcountll(mask);
        if (cnt >= k) {
            while (--k) mask &= mask - 1;
            return p + __builtin_ctzll(mask) + 1;
        }
        k -= cnt;
    }
    return NULL;
}

/* stamp[0, n) = now */
static inline void fill_stamps(int64_t *stamp, size_t n, const int64_t now)
{
    size_t t = 0;
    const __m256i v = _mm256_set1_epi64x(now);
    for (; t + 4 <= n; t += 4) _mm256_storeu_si256((__m256i *)(void *)(stamp + t), v);
    for (; t < n; t++) stamp[t] = now;
}

/* walk_run for a one-byte separator as two chains: the run's second half
 * starts where nth_field finds it, and each step reads a field of either
 * half. A field's start hangs on where the number before it ended, a chain
 * of some thirty cycles through a load, the compares and the bit scans;
 * two such chains run side by side in the core. Where either half meets a
 * field that is not a number and the separator, each half is finished one
 * field after the other (so the stop and r are walk_run's). */
__attribute__((always_inline)) static inline int walk_run2(const rt_csv *c, const rt_csv_plan *plan, run_t *r,
                                                           const char *e, const int n, const int m,
                                                           const int integer)
{
    const size_t h = (size_t)n + (size_t)(m - n) / 2;
    const char s0 = c->sep[0];
    char *pa = r->p, *pb = nth_field(pa, e, h - (size_t)n, s0);
    if (!pb) return walk_run(c, plan, r, e, n, m, 1, integer);
    double *val = plan->val;
    int64_t *stamp = plan->stamp;
    const int64_t now = plan->now;
    const rt_scan_k k = rt_scan_k_make();
    size_t i = (size_t)n, j = h;
    for (; i < h; i++, j++) {
        double va, vb;
        const char *qa = integer ? rt_scan_int_until_k(k, pa, &va, s0) : rt_scan_f64_until_k(k, pa, &va, s0);
        const char *qb = integer ? rt_scan_int_until_k(k, pb, &vb, s0) : rt_scan_f64_until_k(k, pb, &vb, s0);
        if (!qa || *qa != s0 || !qb || *qb != s0) break;
        val[i] = va;
        val[j] = vb;
        pa = (char *)qa + 1;
        pb = (char *)qb + 1;
    }
    /* the stamps after the loop, four to a store: two fewer live values
     * and two fewer stores a step in it */
    fill_stamps(stamp + n, i - (size_t)n, now);
    fill_stamps(stamp + h, j - h, now);
    if (i < h) {                /* the first half on its own, up to where the second was */
        r->p = pa;
        int stop = walk_run(c, plan, r, e, (int)i, (int)h, 1, integer);
        if (stop < (int)h) return stop;
    }
    r->p = pb;                  /* the rest of the second half (one field, when all went well and m - n is odd) */
    return walk_run(c, plan, r, e, (int)j, m, 1, integer);
}
#endif

/* walk_run compiled apart for floats and ints, one-byte separators and
 * longer: out of line, the loop has the registers to itself. Long runs of
 * a one-byte separator take two chains in the AVX2 build; with SSE's two-
 * operand forms and 16 registers, the second chain spills more than it
 * gains (measured). */
#ifdef __AVX2__
#define RT_CSV_CHAINS2(sl, integer) \
    if ((sl) == 1 && m - n >= RT_CSV_TWO_CHAINS) return walk_run2(c, plan, r, e, n, m, integer);
#else
#define RT_CSV_CHAINS2(sl, integer)
#endif
#define RT_CSV_RUN(name, sl, integer)                                                                   \
    __attribute__((noinline)) static int name(const rt_csv *c, const rt_csv_plan *plan, run_t *r,      \
                                              const char *e, int n, const int m, const size_t seplen)  \
    {                                                                                                   \
        (void)seplen;                                                                                   \
        RT_CSV_CHAINS2(sl, integer)                                                                     \
        return walk_run(c, plan, r, e, n, m, sl, integer);                                              \
    }
RT_CSV_RUN(run_f64_1, 1, 0)
RT_CSV_RUN(run_i64_1, 1, 1)
RT_CSV_RUN(run_f64_n, seplen, 0)
RT_CSV_RUN(run_i64_n, seplen, 1)
#undef RT_CSV_RUN
#undef RT_CSV_CHAINS2

/* The plain line [p, nl) split into plan->fields as split_inplace splits it
 * (trimmed, NUL-terminated where they lie), parsing the plan's number
 * columns on the way: a number is read where it starts, and the separator is
 * then expected where it stops, so those fields are not scanned twice. */
__attribute__((always_inline)) static inline void walk(rt_csv *c, const rt_csv_plan *plan, char *p, char *nl,
                                                       const size_t sl, const int runs)
{
    char *e = nl > p && nl[-1] == '\r' ? nl - 1 : nl;
    /* the plan's arrays in locals: the NUL stores below may alias anything */
    const int ncols = plan->ncols;
    const unsigned char *kind = plan->kind;
    char **fields = plan->fields;
    int *len = plan->len;
    double *val = plan->val;
    int64_t *stamp = plan->stamp;
    const int64_t now = plan->now;
    const int *run = c->run;
    const char s0 = c->sep[0];
    int n = 0, parsed = 0;
    for (;;) {
        if (runs && n < ncols && run[n]) {
            /* a run of number columns of one type that want their value
             * alone: the usual field, a number and then the separator, in a
             * loop of its own (run[n] < 0 for ints) */
            const int m = n + abs(run[n]), from = n;
            run_t r = { p, NULL, 0 };
            if (sl == 1) n = run[n] > 0 ? run_f64_1(c, plan, &r, e, n, m, 1) : run_i64_1(c, plan, &r, e, n, m, 1);
            else n = run[n] > 0 ? run_f64_n(c, plan, &r, e, n, m, sl) : run_i64_n(c, plan, &r, e, n, m, sl);
            p = r.p;
            parsed += n - from;
            if (n == m) continue;
            if (r.q == e) {               /* the line's last field */
                val[n] = r.v;
                stamp[n] = now;
                parsed++;
                break;
            }
            /* anything else: field n the general way, below */
        }
        char *b = p, *t, *at = NULL;
        int k = n < ncols ? kind[n] : RT_CSV_TEXT;
        if (k != RT_CSV_TEXT) {
            /* the usual field: a number right at p and the separator (or the
             * line's end) right after it; anything else the general way. The
             * number is read here as parse_field reads it: a helper shared by
             * the two, even forced inline, cost 1% more instructions here */
            double v;
            const char *q;
            if ((k & ~RT_CSV_VALUE_ONLY) == RT_CSV_F64) {
                q = rt_scan_f64_until(p, &v, s0);
            } else {
                q = rt_scan_int_until(p, &v, s0);
            }
            /* a line end is never s0; a longer separator ("a, b") is checked whole */
            if (q && (*q == s0 ? sl == 1 || sep_rest(c, q, e) : q == e)) {
                val[n] = v;
                stamp[n] = now;
                parsed++;
                if (k & RT_CSV_VALUE_ONLY) {      /* no text wanted: on to the next field */
                    if (q == e) break;
                    p = (char *)q + sl;
                    n++;
                    continue;
                }
                at = t = (char *)q;
            } else {
                at = parse_field(c, plan, n, p, e, &b, &t);
                parsed += at != NULL;
            }
        }
        if (!at) {
            at = find_sep(c, p, e);
            t = at;
            while (b < t && is_trim(c, *b)) b++;
            while (t > b && is_trim(c, t[-1])) t--;
        }
        *t = 0;
        if (n < ncols) {
            fields[n] = b;
            if (len) len[n] = (int)(t - b);
        }
        if (at == e) break;
        p = at + sl;
        n++;
    }
    c->nfields = n + 1;
    c->walked = 1;
    c->parsed = parsed;
}

/* walk, compiled apart for the usual one-byte separator, and for plans
 * with and without runs */
#define RT_CSV_WALK(c, plan, p, nl)                                       \
    do {                                                                  \
        if ((c)->seplen == 1) {                                           \
            if ((c)->any_run) walk(c, plan, p, nl, 1, 1);                 \
            else walk(c, plan, p, nl, 1, 0);                              \
        } else {                                                          \
            if ((c)->any_run) walk(c, plan, p, nl, (c)->seplen, 1);       \
            else walk(c, plan, p, nl, (c)->seplen, 0);                    \
        }                                                                 \
    } while (0)

/* the walk's SSSE3 and AVX2 builds (csv_ssse3.c, csv_avx2.c), when compiled */
void rt_csv_walk_ssse3(rt_csv *c, const rt_csv_plan *plan, char *p, char *nl);
void rt_csv_walk_avx2(rt_csv *c, const rt_csv_plan *plan, char *p, char *nl);

#endif

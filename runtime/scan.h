/*
 * scan.h — the short way to read a float field, inline where fields are read
 * (csv.c) and behind rt_parse_f64 (number.c).
 *
 * rt_scan_f64_padded reads the usual field of at most 15 digits without a
 * loop per digit, whose exit, at a different place in every field, costs a
 * mispredicted branch whenever the lengths vary: one 16-byte compare finds
 * where the digits and the point are, and the digits are gathered and
 * converted in SSE2 registers. The mantissa (< 10^15 < 2^53) and the exponent
 * then take Clinger's step as in number.c; any other shape goes to
 * rt_scan_f64_long (number.c: two windows for up to 19 digits, else
 * rt_scan_f64), so the results are rt_scan_f64's.
 */
#ifndef ESTC_RUNTIME_SCAN_H
#define ESTC_RUNTIME_SCAN_H

#include "runtime.h"

#include <string.h>

#if defined(__SSE2__) && defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
#define RT_SCAN_SSE2 1
#include <emmintrin.h>
#ifdef __SSSE3__
#include <tmmintrin.h>
#endif
#endif

/* 10^0 .. 10^22: exact doubles */
static const double rt_pow10[] = {
    1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11,
    1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22,
};
/* the same with the sign of a number: [neg][k] = (-1)^neg 10^k; x * -p and
 * x / -p are -(x * p) and -(x / p) exactly (rounding to nearest is
 * symmetric), and 0 * -p is -0, so the sign costs no operation of its own.
 * Rows of 32, so that a row is found with a shift. */
static const double rt_pow10_signed[2][32] = {
    { 1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11,
      1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22 },
    { -1e0, -1e1, -1e2, -1e3, -1e4, -1e5, -1e6, -1e7, -1e8, -1e9, -1e10, -1e11,
      -1e12, -1e13, -1e14, -1e15, -1e16, -1e17, -1e18, -1e19, -1e20, -1e21, -1e22 },
};

/* [neg][n]: the divisor for a short number with n integer digits (scan.h):
 * (-1)^neg 10^(15 - n) */
static const double rt_pow10_div[2][16] = {
    { 1e15, 1e14, 1e13, 1e12, 1e11, 1e10, 1e9, 1e8, 1e7, 1e6, 1e5, 1e4, 1e3, 1e2, 1e1, 1e0 },
    { -1e15, -1e14, -1e13, -1e12, -1e11, -1e10, -1e9, -1e8, -1e7, -1e6, -1e5, -1e4, -1e3, -1e2, -1e1, -1e0 },
};

static inline int rt_is_digit(char c) { return (unsigned)(c - '0') < 10; }

/* An exponent part at p, if any ('e' or 'E', a sign, digits): *e10 gets its
 * value (clamped far beyond any double's range) or 0 when there is none, and
 * the return value is where it ends; NULL for a marker without digits, where
 * strtod would stop before the 'e' (a whole field is then no number). */
static inline const char *rt_scan_exponent(const char *p, int *e10)
{
    *e10 = 0;
    if ((*p | 0x20) != 'e') return p;
    p++;
    int neg = *p == '-';
    if (*p == '-' || *p == '+') p++;
    if (!rt_is_digit(*p)) return NULL;
    int x = 0;
    for (; rt_is_digit(*p); p++) if (x < 100000) x = x * 10 + (*p - '0');
    *e10 = neg ? -x : x;
    return p;
}

#ifdef RT_SCAN_SSE2
/* A 16-byte load at rt_first_bytes + 16 - n has its first n bytes set. */
static const unsigned char rt_first_bytes[32] = { 255, 255, 255, 255, 255, 255, 255, 255,
                                                  255, 255, 255, 255, 255, 255, 255, 255 };

/* The value of the 16 digits held one per byte in d (0..9, the first, most
 * significant, in byte 0): neighbours are paired into two-digit numbers
 * (16-bit lanes), pairs into four-digit ones (32-bit lanes, one multiply-add),
 * and those, packed back to 16 bits, into two eight-digit halves. */
__attribute__((always_inline)) static inline uint64_t rt_sixteen_digits(__m128i d)
{
    __m128i tens = _mm_and_si128(d, _mm_set1_epi16(0xff)), ones = _mm_srli_epi16(d, 8);
    __m128i pairs = _mm_add_epi16(_mm_mullo_epi16(tens, _mm_set1_epi16(10)), ones);
    __m128i quads = _mm_madd_epi16(pairs, _mm_setr_epi16(100, 1, 100, 1, 100, 1, 100, 1));
    __m128i eights = _mm_madd_epi16(_mm_packs_epi32(quads, quads),
                                    _mm_setr_epi16(10000, 1, 10000, 1, 10000, 1, 10000, 1));
    uint64_t both = (uint64_t)_mm_cvtsi128_si64(eights);
    return (both & 0xffffffff) * 100000000 + (both >> 32);
}

#ifdef __SSSE3__
/* rt_gather_digits[neg][n1][end]: the shuffle that, for digits in bytes
 * [neg, end) with the point at n1 (n1 == end: no point) and a sign in byte 0
 * when neg, puts a cleared byte first and then the digits in order, the
 * point dropped, and clears the rest: out[0] = 0, out[k] = in[k - 1 + neg]
 * while that is before n1, then in[k + neg] while before end, then 0. */
#define RT_GD(g, n1, end, k) \
    ((k) == 0 ? 0x80 : (k) - 1 + (g) < (n1) ? (k) - 1 + (g) : (k) + (g) < (end) ? (k) + (g) : 0x80)
#define RT_GD_ROW(g, n1, end)                                                                                  \
    { RT_GD(g, n1, end, 0), RT_GD(g, n1, end, 1), RT_GD(g, n1, end, 2), RT_GD(g, n1, end, 3),                 \
      RT_GD(g, n1, end, 4), RT_GD(g, n1, end, 5), RT_GD(g, n1, end, 6), RT_GD(g, n1, end, 7),                 \
      RT_GD(g, n1, end, 8), RT_GD(g, n1, end, 9), RT_GD(g, n1, end, 10), RT_GD(g, n1, end, 11),               \
      RT_GD(g, n1, end, 12), RT_GD(g, n1, end, 13), RT_GD(g, n1, end, 14), RT_GD(g, n1, end, 15) }
#define RT_GD_ROWS(g, n1)                                                                                      \
    { RT_GD_ROW(g, n1, 0), RT_GD_ROW(g, n1, 1), RT_GD_ROW(g, n1, 2), RT_GD_ROW(g, n1, 3),                     \
      RT_GD_ROW(g, n1, 4), RT_GD_ROW(g, n1, 5), RT_GD_ROW(g, n1, 6), RT_GD_ROW(g, n1, 7),                     \
      RT_GD_ROW(g, n1, 8), RT_GD_ROW(g, n1, 9), RT_GD_ROW(g, n1, 10), RT_GD_ROW(g, n1, 11),                   \
      RT_GD_ROW(g, n1, 12), RT_GD_ROW(g, n1, 13), RT_GD_ROW(g, n1, 14), RT_GD_ROW(g, n1, 15) }
#define RT_GD_SIGN(g)                                                                                          \
    { RT_GD_ROWS(g, 0), RT_GD_ROWS(g, 1), RT_GD_ROWS(g, 2), RT_GD_ROWS(g, 3), RT_GD_ROWS(g, 4),              \
      RT_GD_ROWS(g, 5), RT_GD_ROWS(g, 6), RT_GD_ROWS(g, 7), RT_GD_ROWS(g, 8), RT_GD_ROWS(g, 9),              \
      RT_GD_ROWS(g, 10), RT_GD_ROWS(g, 11), RT_GD_ROWS(g, 12), RT_GD_ROWS(g, 13), RT_GD_ROWS(g, 14),         \
      RT_GD_ROWS(g, 15) }
static const unsigned char rt_gather_digits[2][16][16][16] __attribute__((aligned(16))) = {
    RT_GD_SIGN(0), RT_GD_SIGN(1),
};
#undef RT_GD_SIGN
#undef RT_GD_ROWS
#undef RT_GD_ROW
#undef RT_GD

/* rt_close_point[n1]: the shuffle that drops the byte n1 (a point) from 16
 * and clears the last: out[k] = in[k] for k < n1, in[k + 1] for n1 <= k < 15 */
#define RT_CP(n1, k) ((k) < (n1) ? (k) : (k) < 15 ? (k) + 1 : 0x80)
#define RT_CP_ROW(n1)                                                                                     \
    { RT_CP(n1, 0), RT_CP(n1, 1), RT_CP(n1, 2), RT_CP(n1, 3), RT_CP(n1, 4), RT_CP(n1, 5), RT_CP(n1, 6),    \
      RT_CP(n1, 7), RT_CP(n1, 8), RT_CP(n1, 9), RT_CP(n1, 10), RT_CP(n1, 11), RT_CP(n1, 12), RT_CP(n1, 13), \
      RT_CP(n1, 14), RT_CP(n1, 15) }
static const unsigned char rt_close_point[16][16] __attribute__((aligned(16))) = {
    RT_CP_ROW(0), RT_CP_ROW(1), RT_CP_ROW(2), RT_CP_ROW(3), RT_CP_ROW(4), RT_CP_ROW(5), RT_CP_ROW(6),
    RT_CP_ROW(7), RT_CP_ROW(8), RT_CP_ROW(9), RT_CP_ROW(10), RT_CP_ROW(11), RT_CP_ROW(12), RT_CP_ROW(13),
    RT_CP_ROW(14), RT_CP_ROW(15),
};
#undef RT_CP_ROW
#undef RT_CP
#endif

/* The constants of the short way, made once before a loop of scans: opaque
 * to the compiler, which otherwise rebuilds them in the loop when registers
 * are short. */
typedef struct rt_scan_k {
    __m128i zero, nine, dot, minus_dot;     /* minus_dot: '-' then 15 '.' */
} rt_scan_k;

__attribute__((always_inline)) static inline rt_scan_k rt_scan_k_make(void)
{
    rt_scan_k k = { _mm_set1_epi8('0'), _mm_set1_epi8(9), _mm_set1_epi8('.'),
                    _mm_setr_epi8('-', '.', '.', '.', '.', '.', '.', '.', '.', '.', '.', '.', '.', '.', '.', '.') };
    __asm__("" : "+x"(k.zero), "+x"(k.nine), "+x"(k.dot), "+x"(k.minus_dot));
    return k;
}

/* The short way for s (at its sign, if any: a '+' goes the long way, and
 * so does a leading '.' in the SSSE3 builds) when the sign, the digits, the
 * point and the byte after them lie within s[0, 16): at most 15 digits, 14
 * after a '-' in the SSSE3 builds. Everything is
 * found and gathered in 16-byte registers, with no branch on the number's
 * shape: one compare marks the digits, the first non-digit after the sign
 * is the point when it is a '.', and the number ends at the next non-digit.
 * Every byte that is not one of its digits is cleared (the sign and the
 * point too), and the digits are closed up over the point. The 16 bytes,
 * under a leading zero, then hold m * 10^(15 - nd) for the nd digits' value
 * m: below 10^15 < 2^53, exact as a double, and the value is that times
 * 10^(n - 15 + exponent) for n integer digits, which takes Clinger's step
 * (the same rational, so the same one rounding), negated for a '-'. In the
 * SSSE3 builds the sign is read from the same 16 bytes, one compare with
 * the point's: a field's start then hangs on the last one's end through one
 * load, not two. Returns the end, or NULL for any other shape (no digit,
 * longer, an exponent marker without digits, a final exponent beyond +-22),
 * which the caller reads the long way. */
__attribute__((always_inline)) static inline const char *rt_scan_short(const rt_scan_k k, const char *s, double *v,
                                                                      const int integer, const int stop)
{
#ifndef __SSSE3__
    const size_t neg = *s == '-';
    s += neg;
#endif
    __m128i w = _mm_loadu_si128((const __m128i *)(const void *)s);
    __m128i d = _mm_sub_epi8(w, k.zero);
    /* digits are the bytes that d leaves in 0..9, compared unsigned */
    __m128i isdigit = _mm_cmpeq_epi8(_mm_min_epu8(d, k.nine), d);
    uint64_t digit = (uint64_t)(unsigned)_mm_movemask_epi8(isdigit);
#ifdef __SSSE3__
    /* bit 0: a '-' first; the others: points */
    uint64_t dots = (uint64_t)(unsigned)_mm_movemask_epi8(_mm_cmpeq_epi8(w, k.minus_dot));
    const size_t neg = dots & 1;
    uint64_t other = (digit ^ 0x1ffffu) & ~(uint64_t)neg;   /* non-digits after the sign, a stop past the window */
#else
    uint64_t dots = (uint64_t)(unsigned)_mm_movemask_epi8(_mm_cmpeq_epi8(w, k.dot));
    uint64_t other = digit ^ 0x1ffffu;                  /* non-digits, and a stop past the window */
#endif
    uint64_t first = other & -other;                    /* the first non-digit */
    __asm__("" : "+r"(first));                          /* one blsi, not reassociated with dots */
    uint64_t point = first & dots;                      /* ... if a '.' */
    size_t n1 = (size_t)__builtin_ctzll(other);         /* past the integer digits */
    size_t end = (size_t)__builtin_ctzll(other ^ point); /* past the fraction's digits */
    /* long, or no digit before end (neither the sign nor the point is one) */
    if (end > 15 || !(digit & ((UINT64_C(1) << end) - 1))) return NULL;
    if (integer && point) return NULL;
#ifdef __SSSE3__
    /* one shuffle: a leading zero, the digits closed over the point, the
     * rest cleared; digit pairs with one multiply-add of bytes */
    d = _mm_shuffle_epi8(d, _mm_load_si128((const __m128i *)(const void *)rt_gather_digits[neg][n1][end]));
    __m128i pairs = _mm_maddubs_epi16(d, _mm_set1_epi16(0x010a));
    const size_t nint = n1 - neg;                       /* integer digits */
#else
    /* bytes from end on cleared; the point's byte, the one non-digit before
     * end, is dropped by the move below; a leading zero shifted in */
    d = _mm_and_si128(d, _mm_loadu_si128((const __m128i *)(const void *)(rt_first_bytes + 16 - end)));
    __m128i keep = _mm_loadu_si128((const __m128i *)(const void *)(rt_first_bytes + 16 - n1));
    d = _mm_slli_si128(_mm_or_si128(_mm_and_si128(keep, d), _mm_andnot_si128(keep, _mm_srli_si128(d, 1))), 1);
    __m128i tens = _mm_and_si128(d, _mm_set1_epi16(0xff)), ones = _mm_srli_epi16(d, 8);
    __m128i pairs = _mm_add_epi16(_mm_mullo_epi16(tens, _mm_set1_epi16(10)), ones);
    const size_t nint = n1;
#endif
    __m128i quads = _mm_madd_epi16(pairs, _mm_setr_epi16(100, 1, 100, 1, 100, 1, 100, 1));
    __m128i eights = _mm_madd_epi16(_mm_packs_epi32(quads, quads),
                                    _mm_setr_epi16(10000, 1, 10000, 1, 10000, 1, 10000, 1));
    /* the two eight-digit halves a and b as doubles: a * 10^8 is exact (a *
     * 5^8 < 2^53, times 2^8), and so is the sum, m < 10^15 */
    __m128d ab = _mm_cvtepi32_pd(eights);
    double f = _mm_cvtsd_f64(_mm_add_sd(_mm_mul_sd(ab, _mm_set_sd(1e8)), _mm_unpackhi_pd(ab, ab)));
    int e10 = 0;
    const char *p = s + end;
    const double *pw = rt_pow10_signed[neg];
    if (*p == stop) {           /* the usual end: no exponent, a divide by 10^(15 - nint) */
        double x = f / rt_pow10_div[neg][nint];
        *v = integer ? x + 0.0 : x;
        return p;
    }
    if (integer) {
        if ((*p | 0x20) == 'e') return NULL;
    } else {
        p = rt_scan_exponent(p, &e10);
    }
    e10 += (int)nint - 15;
    if (!p || (unsigned)(e10 + 22) > 44) return NULL;
    double x = e10 >= 0 ? f * pw[e10] : f / pw[-e10];
    *v = integer ? x + 0.0 : x;         /* an integer's -0 is 0 */
    return p;
}

#ifdef __SSSE3__
/* The 17 digits a double is printed with ("0.8444218515250481"): s (past
 * any sign) holds 16 to 19 digits with the point among its first 16 bytes
 * and no exponent. The point is closed with one shuffle and the 17th digit
 * shifted in, the 16 digits paired as in rt_scan_short, and the up to three
 * after them added: the mantissa m < 10^19, whose value m /
 * 10^(digits after the point) takes Clinger's divide below 2^53 and the
 * Eisel-Lemire step (rt_f64_decimal) above. Returns the end, or NULL for any
 * other shape. */
__attribute__((always_inline)) static inline const char *rt_scan_wide(const rt_scan_k k, const char *s, size_t neg,
                                                                     double *v)
{
    __m128i w0 = _mm_loadu_si128((const __m128i *)(const void *)s);
    __m128i w1 = _mm_loadu_si128((const __m128i *)(const void *)(s + 16));
    __m128i d0 = _mm_sub_epi8(w0, k.zero), d1 = _mm_sub_epi8(w1, k.zero);
    uint64_t digit = (uint64_t)(unsigned)_mm_movemask_epi8(_mm_cmpeq_epi8(_mm_min_epu8(d0, k.nine), d0)) |
                     (uint64_t)(unsigned)_mm_movemask_epi8(_mm_cmpeq_epi8(_mm_min_epu8(d1, k.nine), d1)) << 16;
    uint64_t dots = (uint64_t)(unsigned)_mm_movemask_epi8(_mm_cmpeq_epi8(w0, k.dot));
    uint64_t other = digit ^ UINT64_C(0x1ffffffff);
    uint64_t first = other & -other;
    __asm__("" : "+r"(first));
    uint64_t point = first & dots;
    size_t n1 = (size_t)__builtin_ctzll(other), end = (size_t)__builtin_ctzll(other ^ point);
    size_t nd = end - 1;                                /* digits: all but the point */
    if (!point || nd - 16 > 3 || (s[end] | 0x20) == 'e') return NULL;
    /* the 16 first digits: s[16], a digit, moves into the byte the point frees */
    d0 = _mm_or_si128(_mm_shuffle_epi8(d0, _mm_load_si128((const __m128i *)(const void *)rt_close_point[n1])),
                      _mm_slli_si128(d1, 15));
    __m128i pairs = _mm_maddubs_epi16(d0, _mm_set1_epi16(0x010a));
    __m128i quads = _mm_madd_epi16(pairs, _mm_setr_epi16(100, 1, 100, 1, 100, 1, 100, 1));
    __m128i eights = _mm_madd_epi16(_mm_packs_epi32(quads, quads),
                                    _mm_setr_epi16(10000, 1, 10000, 1, 10000, 1, 10000, 1));
    uint64_t both = (uint64_t)_mm_cvtsi128_si64(eights);
    uint64_t m = (both & 0xffffffff) * 100000000 + (both >> 32);
    /* the t = nd - 16 digits after those, moved to the end of three bytes
     * (the first digit in the low byte), with no branch on t */
    size_t t = nd - 16;
    uint64_t tail = (uint32_t)_mm_cvtsi128_si32(_mm_srli_si128(d1, 1));
    tail = (tail & ((UINT64_C(1) << 8 * t) - 1)) << (24 - 8 * t);
    m = m * (uint64_t)rt_pow10[t] + (tail & 0xff) * 100 + (tail >> 8 & 0xff) * 10 + (tail >> 16 & 0xff);
    size_t nf = nd - n1;                                /* digits after the point: 1 to 19 */
    double x;
    if (m < (UINT64_C(1) << 53)) x = (double)m / rt_pow10[nf];
    else if (!rt_f64_decimal(m, -(int)nf, &x)) return NULL;
    *v = neg ? -x : x;
    return s + end;
}
#endif
#else
typedef struct rt_scan_k {
    int none;
} rt_scan_k;

static inline rt_scan_k rt_scan_k_make(void)
{
    rt_scan_k k = { 0 };
    return k;
}
#endif

/* What the short way declines: the printed doubles' 17 digits in this
 * build's registers where it has SSSE3, anything else the long way. Out of
 * line, so that a loop of scans keeps its registers; one copy per build. */
__attribute__((noinline, unused)) static const char *rt_scan_f64_slow(const char *s, double *v)
{
#ifdef __SSSE3__
    size_t neg = *s == '-';
    double y;
    const char *p = rt_scan_wide(rt_scan_k_make(), s + neg, neg, &y);
    if (p) {
        *v = y;
        return p;
    }
#endif
    double x;                       /* not v: its address would keep v out of registers */
    const char *q = rt_scan_f64_long(s, &x);
    *v = x;
    return q;
}

/* What the short way declines of an int: rt_scan_i64, out of line as
 * rt_scan_f64_slow is. */
__attribute__((noinline, unused)) static const char *rt_scan_int_slow(const char *s, double *v)
{
    int64_t x = 0;
    const char *q = rt_scan_i64(s, &x);
    *v = (double)x;
    return q;
}

/* rt_scan_f64_padded (integer: rt_scan_i64, its value as a double) where
 * the text usually goes on with the byte stop (a separator; 256 for none):
 * then the number ends without an exponent, which is checked for only when
 * it does not. An int's value is rt_scan_i64's for the at most 15 digits
 * the short way reads. */
__attribute__((always_inline)) static inline const char *rt_scan_until_k(const rt_scan_k k, const char *s, double *v,
                                                                        const int integer, const int stop)
{
#ifdef RT_SCAN_SSE2
    const char *p = rt_scan_short(k, s, v, integer, stop);
    if (p) return p;
#else
    (void)k;
    (void)stop;
#endif
    double x;                       /* not v: its address would keep v out of registers */
    const char *q = integer ? rt_scan_int_slow(s, &x) : rt_scan_f64_slow(s, &x);
    *v = x;
    return q;
}

__attribute__((always_inline)) static inline const char *rt_scan_f64_until_k(const rt_scan_k k, const char *s,
                                                                            double *v, const int stop)
{
    return rt_scan_until_k(k, s, v, 0, stop);
}

__attribute__((always_inline)) static inline const char *rt_scan_int_until_k(const rt_scan_k k, const char *s,
                                                                            double *v, const int stop)
{
    return rt_scan_until_k(k, s, v, 1, stop);
}

/* the same with the constants made here, for a scan outside a loop */
__attribute__((always_inline)) static inline const char *rt_scan_f64_until(const char *s, double *v, const int stop)
{
    return rt_scan_f64_until_k(rt_scan_k_make(), s, v, stop);
}

__attribute__((always_inline)) static inline const char *rt_scan_int_until(const char *s, double *v, const int stop)
{
    return rt_scan_int_until_k(rt_scan_k_make(), s, v, stop);
}

/* rt_scan_f64 for a text followed by at least RT_SCAN_PAD readable bytes. */
__attribute__((always_inline)) static inline const char *rt_scan_f64_padded(const char *s, double *v)
{
    return rt_scan_f64_until(s, v, 256);
}



#endif

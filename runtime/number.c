/*
 * number.c — whole-field number parsing that gives exactly what strtod and
 * strtoll give in the "C" locale, without their cost in the common case.
 *
 * A field like "0.123456", "-12.5" or "3e-05" is read into a uint64 mantissa
 * (its significant digits, at most 19) and a decimal exponent. When the
 * mantissa is below 2^53 and the exponent within +-22, both the mantissa and
 * the power of ten are exact doubles, so one IEEE multiply or divide gives the
 * correctly rounded result, which is what strtod returns (Clinger's fast
 * path). Longer mantissas (up to 19 digits, such as the 17 digits a double is
 * printed with) and exponents up to +-27 take the Eisel-Lemire step instead:
 * a 64 x 128-bit product with a table of powers of five decides the rounding
 * exactly (eisel_lemire). Where the compiler has no 128-bit integers, a long
 * double with a 64-bit mantissa (x87) does that job, except when it lands
 * exactly halfway between two doubles: those rare cases go to strtod.
 * Everything else — leading white space, "inf", "nan", hexadecimal,
 * more digits, larger exponents, and anything strtod would reject — is left
 * to strtod/strtoll themselves, so acceptance, values and range errors are
 * theirs by construction.
 *
 * Numbers always use '.' as the decimal point, whatever the process's locale
 * (a program embedding estc may have called setlocale): the fast paths never
 * consult it, and the libc fallbacks are strtod_l/strtoll_l with a "C" locale
 * object made once.
 *
 * rt_scan_f64_padded (scan.h) tries a shorter way first.
 */
#define _GNU_SOURCE
#include "runtime.h"

#include <errno.h>
#include <float.h>
#include <locale.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "scan.h"

#ifdef __SIZEOF_INT128__
#define RT_EISEL_LEMIRE 1
/* rt_pow5_128[q + 27]: the 128 most significant bits of 5^q, q in [-27, 27]
 * (scripts/pow5_table.py prints them) */
static const uint64_t rt_pow5_128[55][2] = {
    { UINT64_C(0x9e74d1b791e07e48), UINT64_C(0x775ea264cf55347e) },   /* 5^-27 */
    { UINT64_C(0xc612062576589dda), UINT64_C(0x95364afe032a819e) },   /* 5^-26 */
    { UINT64_C(0xf79687aed3eec551), UINT64_C(0x3a83ddbd83f52205) },   /* 5^-25 */
    { UINT64_C(0x9abe14cd44753b52), UINT64_C(0xc4926a9672793543) },   /* 5^-24 */
    { UINT64_C(0xc16d9a0095928a27), UINT64_C(0x75b7053c0f178294) },   /* 5^-23 */
    { UINT64_C(0xf1c90080baf72cb1), UINT64_C(0x5324c68b12dd6339) },   /* 5^-22 */
    { UINT64_C(0x971da05074da7bee), UINT64_C(0xd3f6fc16ebca5e04) },   /* 5^-21 */
    { UINT64_C(0xbce5086492111aea), UINT64_C(0x88f4bb1ca6bcf585) },   /* 5^-20 */
    { UINT64_C(0xec1e4a7db69561a5), UINT64_C(0x2b31e9e3d06c32e6) },   /* 5^-19 */
    { UINT64_C(0x9392ee8e921d5d07), UINT64_C(0x3aff322e62439fd0) },   /* 5^-18 */
    { UINT64_C(0xb877aa3236a4b449), UINT64_C(0x09befeb9fad487c3) },   /* 5^-17 */
    { UINT64_C(0xe69594bec44de15b), UINT64_C(0x4c2ebe687989a9b4) },   /* 5^-16 */
    { UINT64_C(0x901d7cf73ab0acd9), UINT64_C(0x0f9d37014bf60a11) },   /* 5^-15 */
    { UINT64_C(0xb424dc35095cd80f), UINT64_C(0x538484c19ef38c95) },   /* 5^-14 */
    { UINT64_C(0xe12e13424bb40e13), UINT64_C(0x2865a5f206b06fba) },   /* 5^-13 */
    { UINT64_C(0x8cbccc096f5088cb), UINT64_C(0xf93f87b7442e45d4) },   /* 5^-12 */
    { UINT64_C(0xafebff0bcb24aafe), UINT64_C(0xf78f69a51539d749) },   /* 5^-11 */
    { UINT64_C(0xdbe6fecebdedd5be), UINT64_C(0xb573440e5a884d1c) },   /* 5^-10 */
    { UINT64_C(0x89705f4136b4a597), UINT64_C(0x31680a88f8953031) },   /* 5^-9 */
    { UINT64_C(0xabcc77118461cefc), UINT64_C(0xfdc20d2b36ba7c3e) },   /* 5^-8 */
    { UINT64_C(0xd6bf94d5e57a42bc), UINT64_C(0x3d32907604691b4d) },   /* 5^-7 */
    { UINT64_C(0x8637bd05af6c69b5), UINT64_C(0xa63f9a49c2c1b110) },   /* 5^-6 */
    { UINT64_C(0xa7c5ac471b478423), UINT64_C(0x0fcf80dc33721d54) },   /* 5^-5 */
    { UINT64_C(0xd1b71758e219652b), UINT64_C(0xd3c36113404ea4a9) },   /* 5^-4 */
    { UINT64_C(0x83126e978d4fdf3b), UINT64_C(0x645a1cac083126ea) },   /* 5^-3 */
    { UINT64_C(0xa3d70a3d70a3d70a), UINT64_C(0x3d70a3d70a3d70a4) },   /* 5^-2 */
    { UINT64_C(0xcccccccccccccccc), UINT64_C(0xcccccccccccccccd) },   /* 5^-1 */
    { UINT64_C(0x8000000000000000), UINT64_C(0x0000000000000000) },   /* 5^0 */
    { UINT64_C(0xa000000000000000), UINT64_C(0x0000000000000000) },   /* 5^1 */
    { UINT64_C(0xc800000000000000), UINT64_C(0x0000000000000000) },   /* 5^2 */
    { UINT64_C(0xfa00000000000000), UINT64_C(0x0000000000000000) },   /* 5^3 */
    { UINT64_C(0x9c40000000000000), UINT64_C(0x0000000000000000) },   /* 5^4 */
    { UINT64_C(0xc350000000000000), UINT64_C(0x0000000000000000) },   /* 5^5 */
    { UINT64_C(0xf424000000000000), UINT64_C(0x0000000000000000) },   /* 5^6 */
    { UINT64_C(0x9896800000000000), UINT64_C(0x0000000000000000) },   /* 5^7 */
    { UINT64_C(0xbebc200000000000), UINT64_C(0x0000000000000000) },   /* 5^8 */
    { UINT64_C(0xee6b280000000000), UINT64_C(0x0000000000000000) },   /* 5^9 */
    { UINT64_C(0x9502f90000000000), UINT64_C(0x0000000000000000) },   /* 5^10 */
    { UINT64_C(0xba43b74000000000), UINT64_C(0x0000000000000000) },   /* 5^11 */
    { UINT64_C(0xe8d4a51000000000), UINT64_C(0x0000000000000000) },   /* 5^12 */
    { UINT64_C(0x9184e72a00000000), UINT64_C(0x0000000000000000) },   /* 5^13 */
    { UINT64_C(0xb5e620f480000000), UINT64_C(0x0000000000000000) },   /* 5^14 */
    { UINT64_C(0xe35fa931a0000000), UINT64_C(0x0000000000000000) },   /* 5^15 */
    { UINT64_C(0x8e1bc9bf04000000), UINT64_C(0x0000000000000000) },   /* 5^16 */
    { UINT64_C(0xb1a2bc2ec5000000), UINT64_C(0x0000000000000000) },   /* 5^17 */
    { UINT64_C(0xde0b6b3a76400000), UINT64_C(0x0000000000000000) },   /* 5^18 */
    { UINT64_C(0x8ac7230489e80000), UINT64_C(0x0000000000000000) },   /* 5^19 */
    { UINT64_C(0xad78ebc5ac620000), UINT64_C(0x0000000000000000) },   /* 5^20 */
    { UINT64_C(0xd8d726b7177a8000), UINT64_C(0x0000000000000000) },   /* 5^21 */
    { UINT64_C(0x878678326eac9000), UINT64_C(0x0000000000000000) },   /* 5^22 */
    { UINT64_C(0xa968163f0a57b400), UINT64_C(0x0000000000000000) },   /* 5^23 */
    { UINT64_C(0xd3c21bcecceda100), UINT64_C(0x0000000000000000) },   /* 5^24 */
    { UINT64_C(0x84595161401484a0), UINT64_C(0x0000000000000000) },   /* 5^25 */
    { UINT64_C(0xa56fa5b99019a5c8), UINT64_C(0x0000000000000000) },   /* 5^26 */
    { UINT64_C(0xcecb8f27f4200f3a), UINT64_C(0x0000000000000000) },   /* 5^27 */
};

/* m * 10^q (m > 0, q in [-27, 27]: a normal double) correctly rounded, by
 * the Eisel-Lemire method: the top 64 bits of m (normalised) times 5^q's
 * top 128 bits hold the double's 53 bits and the rounding bit, 2^q's part
 * goes to the exponent with q's binary logarithm, and an exact halfway case
 * (possible only for q in [-4, 23]) rounds to even. For mantissas of at most
 * 19 digits these bits always decide (Mushtak and Lemire, 2023), so there is
 * no fallback. */
static double eisel_lemire(uint64_t m, int q)
{
    int lz = __builtin_clzll(m);
    uint64_t w = m << lz;
    const uint64_t *t = rt_pow5_128[q + 27];
    unsigned __int128 p = (unsigned __int128)w * t[0];
    uint64_t hi = (uint64_t)(p >> 64), lo = (uint64_t)p;
    if ((hi & 0x1ff) == 0x1ff) {            /* the next 64 bits may carry into these */
        uint64_t s = (uint64_t)(((unsigned __int128)w * t[1]) >> 64);
        lo += s;
        hi += lo < s;
    }
    int upper = (int)(hi >> 63);
    uint64_t mant = hi >> (upper + 9);
    int t2 = 217706 * q;                    /* floor(q log2 10) = t2 / 2^16, rounded down */
    int log2q = t2 >= 0 ? t2 >> 16 : -((-t2 + 65535) >> 16);
    int e2 = log2q + 63 + upper - lz + 1023;
    if (lo <= 1 && q >= -4 && q <= 23 && (mant & 3) == 1 && (mant << (upper + 9)) == hi)
        mant &= ~UINT64_C(1);               /* exactly halfway: to even, not up */
    mant += mant & 1;
    mant >>= 1;
    if (mant >= UINT64_C(2) << 52) {        /* rounded up to the next power of two */
        mant = UINT64_C(1) << 52;
        e2++;
    }
    uint64_t bits = (mant & ~(UINT64_C(1) << 52)) | (uint64_t)e2 << 52;
    double d;
    memcpy(&d, &bits, sizeof d);
    return d;
}
#elif LDBL_MANT_DIG == 64 && defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
#define RT_LONG_DOUBLE_PATH 1
/* 10^k = 2^k * 5^k is exact in a 64-bit mantissa while 5^k < 2^64, k <= 27 */
static const long double pow10_ld[] = {
    1e0L, 1e1L, 1e2L, 1e3L, 1e4L, 1e5L, 1e6L, 1e7L, 1e8L, 1e9L, 1e10L, 1e11L, 1e12L, 1e13L,
    1e14L, 1e15L, 1e16L, 1e17L, 1e18L, 1e19L, 1e20L, 1e21L, 1e22L, 1e23L, 1e24L, 1e25L,
    1e26L, 1e27L,
};
#endif


/* A decimal at s: [+-] digits [. digits] [(e|E) [+-] digits] with at least
 * one mantissa digit and at most 19 significant ones, read as far as that
 * grammar goes: *m, *e10 and *neg such that the value is (-1)^neg * m * 10^e10,
 * and the return value is where it stopped. NULL when s does not start with
 * such a decimal, or an exponent marker is not followed by digits (strtod
 * would then stop before the 'e', which callers reading a whole field treat
 * as an error anyway, so the fast path simply declines). The digit loops
 * carry no checks: a mantissa of more than 19 digits wraps around, and is
 * then refused by its digit count. */
static const char *scan_decimal(const char *s, uint64_t *m, int *e10, int *neg)
{
    *neg = *s == '-';
    if (*s == '-' || *s == '+') s++;
    const char *p = s;
    while (*p == '0') p++;                /* leading zeros are not significant */
    const char *d = p;
    uint64_t v = 0;
    for (; rt_is_digit(*p); p++) v = v * 10 + (uint64_t)(*p - '0');
    long sig = p - d, exp = 0;
    int any = p > s;
    if (*p == '.') {
        const char *f = ++p;
        if (sig == 0) while (*p == '0') p++;
        d = p;
        for (; rt_is_digit(*p); p++) v = v * 10 + (uint64_t)(*p - '0');
        sig += p - d;
        exp = -(p - f);
        any |= p > f;
    }
    if (!any || sig > 19) return NULL;
    int x;
    p = rt_scan_exponent(p, &x);
    if (!p) return NULL;
    exp += x;
    *m = v;
    *e10 = (int)exp;
    return p;
}

/* The correctly rounded double of m * 10^e10, when it can be had cheaply. */
int rt_f64_decimal(uint64_t m, int e10, double *out)
{
    if (m == 0) { *out = 0.0; return 1; }
    if (m < (UINT64_C(1) << 53) && e10 >= -22 && e10 <= 22) {
        double x = (double)m;
        *out = e10 >= 0 ? x * rt_pow10[e10] : x / rt_pow10[-e10];
        return 1;
    }
#if defined(RT_EISEL_LEMIRE)
    if (e10 >= -27 && e10 <= 27) {
        *out = eisel_lemire(m, e10);
        return 1;
    }
#elif defined(RT_LONG_DOUBLE_PATH)
    if (e10 >= -27 && e10 <= 27) {
        long double x = (long double)m;
        long double r = e10 >= 0 ? x * pow10_ld[e10] : x / pow10_ld[-e10];
        /* r is normal and far from double's limits here, so rounding to double
         * drops its 11 lowest mantissa bits; 0x400 there is an exact halfway
         * case, where the exact value may lie on either side */
        uint64_t bits;
        memcpy(&bits, &r, sizeof bits);
        if ((bits & 0x7ff) == 0x400) return 0;
        *out = (double)r;
        return 1;
    }
#endif
    return 0;
}

const char *rt_scan_f64(const char *s, double *v)
{
    uint64_t m;
    int e10, neg;
    const char *p = scan_decimal(s, &m, &e10, &neg);
    if (!p || !rt_f64_decimal(m, e10, v)) return NULL;
    if (neg) *v = -*v;
    return p;
}

#ifdef RT_SCAN_SSE2
/* The decimals of 16 to 31 characters (sign aside) with at most 19 digits and
 * the point, if any, among the first 16: the 17 digits a double is printed
 * with, "0.8444218515250481". As in rt_scan_short, over two 16-byte windows:
 * the first is closed over the point and takes the second's first digit in
 * its last byte, and the up to three digits after those 16 are read one by
 * one: the mantissa m (< 10^19 < 2^64) for rt_f64_decimal. */
static const char *scan_wide(const char *s, double *v)
{
    const __m128i zero = _mm_set1_epi8('0'), nine = _mm_set1_epi8(9), dot = _mm_set1_epi8('.');
    __m128i w0 = _mm_loadu_si128((const __m128i *)(const void *)s);
    __m128i w1 = _mm_loadu_si128((const __m128i *)(const void *)(s + 16));
    __m128i d0 = _mm_sub_epi8(w0, zero), d1 = _mm_sub_epi8(w1, zero);
    uint64_t digit = (uint64_t)(unsigned)_mm_movemask_epi8(_mm_cmpeq_epi8(_mm_min_epu8(d0, nine), d0)) |
                     (uint64_t)(unsigned)_mm_movemask_epi8(_mm_cmpeq_epi8(_mm_min_epu8(d1, nine), d1)) << 16;
    uint64_t dots = (uint64_t)(unsigned)_mm_movemask_epi8(_mm_cmpeq_epi8(w0, dot));
    uint64_t other = (~digit & 0xffffffffu) | (UINT64_C(1) << 32);
    uint64_t point = other & -other & dots;            /* the point, when among the first 16 */
    int n1 = __builtin_ctzll(other), end = __builtin_ctzll(other ^ point);
    int has_dot = point != 0, nd = end - has_dot, n2 = has_dot ? end - n1 - 1 : 0;
    if (end > 31 || nd > 19 || nd < 16 || (!has_dot && s[n1] == '.')) return NULL;
    if (has_dot) {
        __m128i keep = _mm_loadu_si128((const __m128i *)(const void *)(rt_first_bytes + 16 - n1));
        d0 = _mm_or_si128(_mm_and_si128(keep, d0), _mm_andnot_si128(keep, _mm_srli_si128(d0, 1)));
        d0 = _mm_or_si128(_mm_and_si128(d0, _mm_loadu_si128((const __m128i *)(const void *)(rt_first_bytes + 1))),
                          _mm_slli_si128(d1, 15));
        d1 = _mm_srli_si128(d1, 1);
    }
    /* the digits after the first 16: nd - 16 of them, the rest cleared */
    d1 = _mm_and_si128(d1, _mm_loadu_si128((const __m128i *)(const void *)(rt_first_bytes + 16 - (nd - 16))));
    uint32_t tail = (uint32_t)_mm_cvtsi128_si32(d1);
    /* the digits' own value, not scaled to 19 digits: below 2^53 (most of
     * 16 and 17 digits) it takes Clinger's one divide */
    uint64_t m = rt_sixteen_digits(d0);
    for (int k = 16; k < nd; k++, tail >>= 8) m = m * 10 + (tail & 0xff);
    int e10;
    const char *p = rt_scan_exponent(s + end, &e10);
    if (!p || !rt_f64_decimal(m, e10 - n2, v)) return NULL;
    return p;
}
#endif

const char *rt_scan_f64_long(const char *s, double *v)
{
#ifdef RT_SCAN_SSE2
    int neg = *s == '-';
    const char *p = scan_wide(s + (neg | (*s == '+')), v);
    if (p) {
        if (neg) *v = -*v;
        return p;
    }
#endif
    return rt_scan_f64(s, v);
}

/* The "C" locale as an object, for the libc fallbacks: made once, never freed. */
static locale_t c_locale;
static pthread_once_t c_locale_once = PTHREAD_ONCE_INIT;
static void make_c_locale(void) { c_locale = newlocale(LC_ALL_MASK, "C", (locale_t)0); }

static locale_t the_c_locale(void)
{
    pthread_once(&c_locale_once, make_c_locale);
    return c_locale;
}

int rt_parse_f64(const char *s, double *v, int *erange)
{
    *erange = 0;
    /* a copy with the padding the short path reads (fields are short; a longer
     * one is read in place by the digit loop) */
    char pad[64 + RT_SCAN_PAD] = { 0 };
    size_t n = strnlen(s, 64);
    const char *p;
    if (n < 64) {
        memcpy(pad, s, n);
        p = rt_scan_f64_padded(pad, v);
        p = p ? s + (p - pad) : NULL;
    } else {
        p = rt_scan_f64(s, v);
    }
    if (p && *p == 0) return 1;
    locale_t c = the_c_locale();
    if (!c) return 0;
    char *end;
    errno = 0;
    *v = strtod_l(s, &end, c);
    *erange = errno == ERANGE;
    return end != s && *end == 0;
}

const char *rt_scan_i64(const char *s, int64_t *v)
{
    const char *p = s;
    int neg = *p == '-';
    if (*p == '-' || *p == '+') p++;
    uint64_t x = 0;
    int n = 0;
    for (; rt_is_digit(*p) && n < 19; p++, n++) x = x * 10 + (uint64_t)(*p - '0');
    if (n == 0 || n == 19) return NULL;    /* 18 digits cannot overflow */
    *v = neg ? -(int64_t)x : (int64_t)x;
    return p;
}

int rt_parse_i64(const char *s, int64_t *v, int *erange)
{
    *erange = 0;
    const char *p = rt_scan_i64(s, v);
    if (p && *p == 0) return 1;
    locale_t c = the_c_locale();
    if (!c) return 0;
    char *end;
    errno = 0;
    long long y = strtoll_l(s, &end, 10, c);
    *v = y;
    *erange = errno == ERANGE;
    return end != s && *end == 0;
}

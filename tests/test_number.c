/*
 * test_number.c — rt_parse_f64 and rt_parse_i64 against strtod and strtoll on
 * millions of strings: random decimals of every shape the fast paths take
 * (short and long mantissas, leading zeros, exponents near the limits of each
 * path), exact halfway cases between doubles, printf output of random doubles
 * over the whole range, and hand-picked edge cases and garbage. For each the
 * verdict (a whole number or not), the double's bits and the range error must
 * be those of the libc call.
 */
#define _GNU_SOURCE
#include "check.h"
#include "../runtime/runtime.h"
#include "../runtime/scan.h"

#include <errno.h>
#include <float.h>
#include <locale.h>
#include <stddef.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

static int64_t f64_mismatches, i64_mismatches;

static void cmp_f64(const char *s)
{
    double got, want;
    int er, ok = rt_parse_f64(s, &got, &er);
    char *end;
    errno = 0;
    want = strtod(s, &end);
    int want_er = errno == ERANGE, want_ok = end != s && *end == 0;
    int same = ok == want_ok && (!ok || (memcmp(&got, &want, sizeof got) == 0 && er == want_er));
    if (!same && f64_mismatches++ < 10)
        CHECK(0, "\"%s\": rt_parse_f64 says %s %a (range error %d), strtod says %s %a (range error %d)", s,
              ok ? "number" : "not a number", ok ? got : 0.0, er, want_ok ? "number" : "not a number",
              want_ok ? want : 0.0, want_er);
}

static void cmp_i64(const char *s)
{
    int64_t got;
    int er, ok = rt_parse_i64(s, &got, &er);
    char *end;
    errno = 0;
    long long want = strtoll(s, &end, 10);
    int want_er = errno == ERANGE, want_ok = end != s && *end == 0;
    int same = ok == want_ok && (!ok || (got == want && er == want_er));
    if (!same && i64_mismatches++ < 10)
        CHECK(0, "\"%s\": rt_parse_i64 says %s %lld (range error %d), strtoll says %s %lld (range error %d)", s,
              ok ? "number" : "not a number", (long long)got, er, want_ok ? "number" : "not a number",
              want, want_er);
    /* the CSV walk's int scan, s followed by a separator and slack: where
     * rt_scan_i64 stops, with its value as a double (an int's zero unsigned) */
    size_t n = strlen(s);
    char *buf = malloc(n + 2 + RT_SCAN_PAD);
    memcpy(buf, s, n);
    buf[n] = ',';
    memset(buf + n + 1, '7', RT_SCAN_PAD + 1);
    int64_t x = 0;
    const char *q = rt_scan_i64(buf, &x);
    static const char stops[] = { ',', ';', 'x' };
    for (size_t i = 0; i < sizeof stops; i++) {
        double v, wv = (double)x;
        const char *r = rt_scan_int_until(buf, &v, stops[i]);
        if ((r != q || (q && memcmp(&v, &wv, sizeof v) != 0)) && i64_mismatches++ < 10)
            CHECK(0, "\"%s\": the walk's int scan (until '%c') stops at %td with %a, rt_scan_i64 at %td with %lld",
                  s, stops[i], r ? r - buf : (ptrdiff_t)-1, r ? v : 0.0, q ? q - buf : (ptrdiff_t)-1,
                  (long long)x);
    }
    free(buf);
}

static const char *const edge_f64[] = {
    "0", "-0", "+0", "0.0", "-0.0", "00000", "0.", ".0", "-.0", "+.5", ".5", "5.", "1.e3", "1e3", "1E3",
    "1e+3", "1e-3", "-1e-3", "1e0", "1e-0", "1e+0", "0e0", "0e99999", "-0e-99999", "0e-400",
    "", ".", "-", "+", "e5", "E5", ".e1", "-.e1", "1e", "1e+", "1e-", "1ee5", "1e5e5", "1..2", "1.2.3",
    "--1", "+-1", "-+1", "1-", "1+", " 1", "1 ", "\t1", "1\t", "\n1", "1\n", "1,5", "1_000", "abc", "1a",
    "0x10", "0x1p3", "0X1P-2", "0x", "-0x1.8p1", "inf", "INF", "-inf", "+Infinity", "infinity", "infinit",
    "nan", "NaN", "-nan", "nan(123)", "nan()", "nanx",
    "1e22", "1e23", "1e-22", "1e-23", "9007199254740991", "9007199254740992", "9007199254740993",
    "9007199254740994", "9007199254740995", "9007199254740993e-5", "18446744073709551615",
    "18446744073709551616", "9999999999999999999", "99999999999999999999", "1234567890123456789e27",
    "1234567890123456789e-27", "1234567890123456789e28", "1234567890123456789e-28",
    "0.1", "0.2", "0.3", "0.7", "1.1", "2.675", "3e-05", "-12.5", "0.123456", "1234.56", "-3.9147e+03",
    "0.8444218515250481", "0.09782385784405156", "0.30000000000000004", "1.7976931348623157e308",
    "1.7976931348623159e308", "1e308", "1e309", "-1e309", "2.2250738585072014e-308",
    "2.2250738585072011e-308", "4.9406564584124654e-324", "5e-324", "2e-324", "3e-324", "1e-400",
    "-1e-400", "0.000000000000000000000000000001", "100000000000000000000000000000000",
    "00000000000000000000000000000000001.5", "1.00000000000000000000000000000000",
    "123456789012345678", "1234567890123456789", "12345678901234567890", "0.1234567890123456789",
    "0.12345678901234567891", "1:", "12345678:", "1234567:", "0.1234567:", ":1", "1/", "/1", "12345/78",
    "1.5/", "3\xb5", "1234567\xb9", "\xb1", "1.\xb0", "1;", "1234567@", "12345678@1",
};

static const char *const edge_i64[] = {
    "0", "-0", "+0", "7", "-7", "+7", "00000000000000000000000042", "123456789012345678",
    "-123456789012345678", "999999999999999999", "1000000000000000000", "9223372036854775807",
    "-9223372036854775807", "-9223372036854775808", "9223372036854775808", "-9223372036854775809",
    "99999999999999999999", "-99999999999999999999999", "", "-", "+", " 1", "1 ", "\t-1", "1\n", "1.0",
    "1e3", "0x10", "1a", "a1", "--1", "+-1", "1-", "١", "12 34", "1:", "12345678:", "1234567/", "12345678/9",
    "5\xb5", "123456789\xb0",
};

/* A random decimal string of the shapes the fast paths read. */
static void random_decimal(es_rng *r, char *out)
{
    char *o = out;
    uint64_t k = es_rng_below(r, 4);
    if (k == 0) *o++ = '-';
    else if (k == 1) *o++ = '+';
    int zeros = es_rng_below(r, 4) == 0 ? (int)es_rng_below(r, 5) : 0;
    int nint = (int)es_rng_below(r, 12), nfrac = (int)es_rng_below(r, 12);
    if (es_rng_below(r, 3) == 0) nint = (int)es_rng_below(r, 24);   /* sometimes very long */
    for (int i = 0; i < zeros; i++) *o++ = '0';
    for (int i = 0; i < nint; i++) *o++ = (char)('0' + es_rng_below(r, 10));
    if (nfrac > 0 || es_rng_below(r, 8) == 0) {
        *o++ = '.';
        if (es_rng_below(r, 4) == 0) for (int i = (int)es_rng_below(r, 6); i > 0; i--) *o++ = '0';
        for (int i = 0; i < nfrac; i++) *o++ = (char)('0' + es_rng_below(r, 10));
    }
    if (es_rng_below(r, 3) == 0) {
        *o++ = es_rng_below(r, 2) ? 'e' : 'E';
        k = es_rng_below(r, 3);
        if (k == 0) *o++ = '-';
        else if (k == 1) *o++ = '+';
        o += sprintf(o, "%d", (int)es_rng_below(r, 40));
    }
    *o = 0;
    /* now and then, a stray byte somewhere */
    if (es_rng_below(r, 50) == 0 && o > out) {
        static const char junk[] = " x.e-+\t,:/\xb5";
        out[es_rng_below(r, (uint64_t)(o - out))] = junk[es_rng_below(r, sizeof junk - 1)];
    }
}

/* Exact halfway points between neighbouring doubles that have short decimal
 * forms: integers between 2^53 and 2^64, and those scaled by powers of ten. */
static void halfway(es_rng *r, char *out)
{
    int b = 53 + (int)es_rng_below(r, 11);               /* the double's binade: [2^b, 2^(b+1)) */
    uint64_t ulp = UINT64_C(1) << (b - 52);
    uint64_t d = (UINT64_C(1) << b) + ulp * es_rng_below(r, UINT64_C(1) << 52);
    uint64_t mid = d + ulp / 2;
    int64_t delta = (int64_t)es_rng_below(r, 3) - 1;      /* the midpoint, or one either side */
    int e = (int)es_rng_below(r, 30) - 15;
    sprintf(out, "%llue%d", (unsigned long long)(mid + (uint64_t)delta), e);
}

static void test_f64(void)
{
    for (size_t i = 0; i < ES_ARRAY_LEN(edge_f64); i++) cmp_f64(edge_f64[i]);
    es_rng r;
    es_rng_seed(&r, 12345);
    char s[128];
    for (int i = 0; i < 2000000; i++) {
        random_decimal(&r, s);
        cmp_f64(s);
    }
    for (int i = 0; i < 300000; i++) {
        halfway(&r, s);
        cmp_f64(s);
    }
    /* printf output of random doubles: every exponent, every precision */
    static const char *const fmts[] = { "%.17g", "%.16g", "%.15g", "%.6g", "%g", "%.6f", "%.2f", "%.1f",
                                        "%.10e", "%.3e", "%.20g", "%.25f" };
    for (int i = 0; i < 600000; i++) {
        double x;
        if (i % 2) {
            uint64_t bits = es_rng_next(&r);
            memcpy(&x, &bits, sizeof x);
        } else {
            x = (es_rng_uniform(&r) - 0.5) * pow(10.0, (double)es_rng_below(&r, 60) - 30);
        }
        snprintf(s, sizeof s, fmts[es_rng_below(&r, ES_ARRAY_LEN(fmts))], x);
        cmp_f64(s);
    }
    CHECK(f64_mismatches == 0, "%lld strings parsed differently from strtod", (long long)f64_mismatches);
}

/* Long mantissas (15 to 19 digits) with exponents over [-90, 90], the
 * decimal point anywhere: mantissas past 2^53 and exponents past 10^22 and
 * 10^27, the edges of the fast paths. Also dyadic fractions written out
 * exactly (0.5, 0.375, 1.0009765625): values that are exactly a double. */
static void test_long_mantissas(void)
{
    es_rng r;
    es_rng_seed(&r, 4242);
    char s[128];
    for (int i = 0; i < 1000000; i++) {
        int nd = 15 + (int)es_rng_below(&r, 5), point = (int)es_rng_below(&r, (uint64_t)nd + 1);
        char *o = s;
        if (es_rng_below(&r, 2)) *o++ = '-';
        for (int j = 0; j < nd; j++) {
            if (j == point) *o++ = '.';
            *o++ = (char)('0' + (j == 0 ? 1 + es_rng_below(&r, 9) : es_rng_below(&r, 10)));
        }
        sprintf(o, "e%d", (int)es_rng_below(&r, 181) - 90);
        cmp_f64(s);
    }
    for (int i = 0; i < 200000; i++) {
        int bits = 1 + (int)es_rng_below(&r, 20);
        double x = (double)(es_rng_below(&r, UINT64_C(1) << 20) + 1) / (double)(UINT64_C(1) << bits);
        snprintf(s, sizeof s, "%.*f", bits, x);
        cmp_f64(s);
    }
    /* 19-digit mantissas with every exponent of the Eisel-Lemire step, and
     * exact midpoints between neighbouring doubles, (2a + 1) 2^k and (2a +
     * 1) 5^k 10^-k for a 53-bit a, which must round to even */
    for (int i = 0; i < 1000000; i++) {
        uint64_t m = es_rng_below(&r, UINT64_C(10000000000000000000));
        snprintf(s, sizeof s, "%llue%d", (unsigned long long)m, (int)es_rng_below(&r, 55) - 27);
        cmp_f64(s);
    }
    for (int i = 0; i < 300000; i++) {
        uint64_t a = es_rng_below(&r, UINT64_C(1) << 52) | UINT64_C(1) << 52, odd = 2 * a + 1;
        int k = (int)es_rng_below(&r, 11);
        if (k < 10 && odd < (UINT64_C(10000000000000000000) >> k)) {
            snprintf(s, sizeof s, "%llu", (unsigned long long)(odd << k));
            cmp_f64(s);
        }
        uint64_t x = odd;
        int j = 0;
        for (; j < 3 && x < UINT64_C(10000000000000000000) / 5; j++) x *= 5;
        snprintf(s, sizeof s, "%llue-%d", (unsigned long long)x, j);
        cmp_f64(s);
    }
    CHECK(f64_mismatches == 0, "%lld strings parsed differently from strtod", (long long)f64_mismatches);
}

/* rt_scan_* read a number inside a longer text and stop where it ends; and
 * the fast path does take the common shapes (so the speed is really had):
 * printf output of 15 and 6 significant digits over 10^-7..10^7. */
static void test_scan(void)
{
    static const char *const cases[] = { "12.5,3", "-0.8444218515250481, x", "3e-05\n", "1234.56\r\n",
                                         "-3.9147e+03|", "7;", "+0.1 ", "1e5e", "0.000123457,\"" };
    for (size_t i = 0; i < ES_ARRAY_LEN(cases); i++) {
        const char *s = cases[i];
        size_t n = strcspn(s, ",\n\r| ;\"");
        if (i == 7) n = 3;                               /* "1e5" then 'e' */
        char whole[64];
        memcpy(whole, s, n);
        whole[n] = 0;
        double v, want;
        int er;
        const char *end = rt_scan_f64(s, &v);
        CHECK(end == s + n, "\"%s\": the number stops at %td, want %zu", s, end ? end - s : (ptrdiff_t)-1, n);
        CHECK(rt_parse_f64(whole, &want, &er) && end && memcmp(&v, &want, sizeof v) == 0, "\"%s\" reads as %a, want %a",
              s, v, want);
    }
    int64_t x;
    const char *end = rt_scan_i64("-417,2", &x);
    CHECK(end && *end == ',' && x == -417, "\"-417,2\" scans as %lld", (long long)x);
    CHECK(!rt_scan_i64("1234567890123456789,", &x), "19 digits are left to strtoll");
    CHECK(!rt_scan_f64("inf,", &(double){0}) && !rt_scan_f64(",1", &(double){0}), "only decimals are scanned");
    es_rng r;
    es_rng_seed(&r, 99);
    int fast = 0, n = 100000;
    char s[64];
    for (int i = 0; i < n; i++) {
        double y = (es_rng_uniform(&r) + 0.01) * pow(10.0, (double)es_rng_below(&r, 15) - 7), v;
        snprintf(s, sizeof s, i % 2 ? "%.15g" : "%.6g", y);
        fast += rt_scan_f64(s, &v) != NULL;
    }
    CHECK(fast > n * 99 / 100, "the fast path read %d of %d printed doubles", fast, n);
}

/* rt_scan_f64_padded where the CSV reader calls it: a number inside a line,
 * followed by a separator and more fields (digits, points: what its 16- and
 * 32-byte windows also see), then a line end and RT_SCAN_PAD bytes of digits
 * at the very end of the allocation (so that a read past the padding is an
 * AddressSanitizer error). Where it reads a number, strtod must stop at the
 * same place with the same bits; where it declines, rt_scan_f64 must too or
 * give the same (the callers then read the field the long way). And it does
 * take the common shapes, including the 16 to 19 digits of printed doubles. */
static void cmp_padded(const char *num, const char *after, int64_t *fast, int64_t *bad)
{
    size_t n = strlen(num), na = strlen(after);
    char *buf = malloc(n + na + 1 + RT_SCAN_PAD);
    memcpy(buf, num, n);
    memcpy(buf + n, after, na);
    buf[n + na] = '\n';                        /* a line's end, then the slack: */
    memset(buf + n + na + 1, '7', RT_SCAN_PAD); /* digits, which must not be read */
    double v, w, want;
    const char *p = rt_scan_f64_padded(buf, &v), *q = rt_scan_f64(buf, &w);
    char *end;
    errno = 0;
    want = strtod(buf, &end);
    /* read: strtod's value where it stops there too; where strtod goes on
     * ("0x10"), both scans stop at the same place with the same value (a
     * field ending there is no number, and the callers then ask strtod).
     * Declined: rt_scan_f64 declines as well. */
    int ok = !p ? !q
           : p == end ? memcmp(&v, &want, sizeof v) == 0 && errno != ERANGE && (!q || (q == p && memcmp(&v, &w, sizeof v) == 0))
           : p < end && q == p && memcmp(&v, &w, sizeof v) == 0;
    *fast += p != NULL;
    if (!ok && (*bad)++ < 10)
        CHECK(0, "\"%s\" then \"%s\": padded scan %s %a (stops at %td), strtod %a (stops at %td), rt_scan_f64 %s",
              num, after, p ? "reads" : "declines", p ? v : 0.0, p ? p - buf : (ptrdiff_t)-1, want, end - buf,
              q ? "reads" : "declines");
    /* told the separator that usually follows (the CSV walk's way): the same
     * end and value, whatever follows */
    static const char stops[] = { ',', '|', ';', '\n', ' ' };
    for (size_t i = 0; i < sizeof stops; i++) {
        double u;
        const char *r = rt_scan_f64_until(buf, &u, stops[i]);
        if ((r != p || (p && memcmp(&u, &v, sizeof u) != 0)) && (*bad)++ < 10)
            CHECK(0, "\"%s\" then \"%s\": the scan until '%c' %s %a (stops at %td), the padded scan %a (at %td)",
                  num, after, stops[i], r ? "reads" : "declines", r ? u : 0.0, r ? r - buf : (ptrdiff_t)-1,
                  p ? v : 0.0, p ? p - buf : (ptrdiff_t)-1);
    }
    free(buf);
}

static void test_padded(void)
{
    static const char *const after[] = { "", ",", ",9.9", ",0.0000000000000001", "\n", "\r\n", "|12345678901234567",
                                         " ,1", ";.5", "\t3", ", 7", "e", "e+", "E-1x", ".5", "..", "x" };
    int64_t fast = 0, bad = 0;
    for (size_t i = 0; i < ES_ARRAY_LEN(edge_f64); i++)
        for (size_t j = 0; j < ES_ARRAY_LEN(after); j++) cmp_padded(edge_f64[i], after[j], &fast, &bad);
    es_rng r;
    es_rng_seed(&r, 2024);
    char s[128];
    for (int i = 0; i < 400000; i++) {
        random_decimal(&r, s);
        cmp_padded(s, after[es_rng_below(&r, ES_ARRAY_LEN(after))], &fast, &bad);
    }
    /* every length from 1 to 31 characters, the point anywhere or nowhere,
     * a sign or not, an exponent or not: the edges of both windows */
    for (int i = 0; i < 400000; i++) {
        int len = 1 + (int)es_rng_below(&r, 31), point = (int)es_rng_below(&r, (uint64_t)len + 4);
        char *o = s;
        if (es_rng_below(&r, 3) == 0) *o++ = es_rng_below(&r, 2) ? '-' : '+';
        for (int j = 0; j < len; j++) *o++ = j == point ? '.' : (char)('0' + es_rng_below(&r, 10));
        if (es_rng_below(&r, 4) == 0) o += sprintf(o, "e%d", (int)es_rng_below(&r, 61) - 30);
        *o = 0;
        cmp_padded(s, after[es_rng_below(&r, ES_ARRAY_LEN(after))], &fast, &bad);
    }
    CHECK(bad == 0, "%lld padded scans differ from strtod", (long long)bad);
    /* the common shapes are read by the padded scan, not left to strtod */
    static const char *const fmts[] = { "%.6f", "%.1f", "%.2f", "%g", "%.4e", "%.15g", "%.16g", "%.17g" };
    int64_t shapes = 0;
    fast = 0;
    for (int i = 0; i < 200000; i++) {
        double x = (es_rng_uniform(&r) - 0.3) * pow(10.0, (double)es_rng_below(&r, 9) - 4);
        snprintf(s, sizeof s, fmts[i % ES_ARRAY_LEN(fmts)], x);
        cmp_padded(s, ",1.5", &fast, &bad);
        shapes++;
    }
    CHECK(bad == 0, "%lld padded scans of printed doubles differ from strtod", (long long)bad);
    CHECK(fast >= shapes * 99 / 100, "the padded scan read %lld of %lld printed doubles", (long long)fast,
          (long long)shapes);
}

/* '.' is the decimal point whatever the locale: under one whose point is ','
 * (ESTC_TEST_LOCALE names it; else the first of a few common ones that is
 * installed) numbers read as in the "C" locale, on the fast paths and on the
 * libc fallbacks alike (more digits than the fast paths take, hexadecimal,
 * out of range, 19-digit ints), and "1,5" is no number. */
static void test_locale(void)
{
    static const char *const names[] = { "de_DE.UTF-8", "de_DE.utf8", "fr_FR.UTF-8", "fr_FR.utf8", "ru_RU.UTF-8",
                                         "nl_NL.UTF-8", "es_ES.UTF-8", "it_IT.UTF-8" };
    const char *want = getenv("ESTC_TEST_LOCALE"), *got = NULL;
    if (want && want[0]) {
        got = setlocale(LC_ALL, want);
        CHECK(got != NULL, "the locale %s (ESTC_TEST_LOCALE) cannot be set", want);
    } else {
        for (size_t i = 0; i < ES_ARRAY_LEN(names) && !got; i++) got = setlocale(LC_ALL, names[i]);
    }
    if (!got) {
        printf("test_number: no locale with a ',' decimal point is installed (tests/number_locale.sh makes one)\n");
        return;
    }
    CHECK(strcmp(localeconv()->decimal_point, ",") == 0, "locale %s: its decimal point is \"%s\", not \",\"", got,
          localeconv()->decimal_point);
    static const struct { const char *s; double v; int erange; } f[] = {
        { "1.5", 1.5, 0 }, { "-0.125", -0.125, 0 }, { "3e-05", 3e-05, 0 }, { "0.8444218515250481", 0.8444218515250481, 0 },
        { "0.100000000000000000000000001", 0.1, 0 }, { "1.00000000000000000000000000001e2", 100.0, 0 },
        { "0x1.8p1", 3.0, 0 }, { "2.5e-400", 0.0, 1 }, { "12345678901234567890123.5", 12345678901234567890123.5, 0 },
    };
    for (size_t i = 0; i < ES_ARRAY_LEN(f); i++) {
        double v;
        int er, ok = rt_parse_f64(f[i].s, &v, &er);
        CHECK(ok && v == f[i].v && er == f[i].erange, "locale %s: \"%s\" reads as %s %.17g (range error %d)", got,
              f[i].s, ok ? "" : "no number", v, er);
    }
    static const char *const bad[] = { "1,5", "0,8444218515250481", "1,00000000000000000000000000001" };
    for (size_t i = 0; i < ES_ARRAY_LEN(bad); i++) {
        double v;
        int er;
        CHECK(!rt_parse_f64(bad[i], &v, &er), "locale %s: \"%s\" reads as a number", got, bad[i]);
    }
    int64_t n;
    int er;
    CHECK(rt_parse_i64("-9223372036854775807", &n, &er) && n == -INT64_MAX && !er, "locale %s: 19-digit int reads as %lld",
          got, (long long)n);
    setlocale(LC_ALL, "C");
}

static void test_i64(void)
{
    for (size_t i = 0; i < ES_ARRAY_LEN(edge_i64); i++) cmp_i64(edge_i64[i]);
    es_rng r;
    es_rng_seed(&r, 777);
    char s[64];
    for (int i = 0; i < 1000000; i++) {
        char *o = s;
        uint64_t k = es_rng_below(&r, 4);
        if (k == 0) *o++ = '-';
        else if (k == 1) *o++ = '+';
        int n = (int)es_rng_below(&r, es_rng_below(&r, 4) == 0 ? 24 : 12);
        for (int j = 0; j < n; j++) *o++ = (char)('0' + es_rng_below(&r, 10));
        *o = 0;
        if (es_rng_below(&r, 50) == 0 && o > s) s[es_rng_below(&r, (uint64_t)(o - s))] = ".e x:/"[es_rng_below(&r, 6)];
        cmp_i64(s);
    }
    /* around the int64 limits */
    for (int64_t d = -1000; d <= 1000; d++) {
        snprintf(s, sizeof s, "%lld", (long long)(INT64_MAX - 1000 + d));
        cmp_i64(s);
        snprintf(s, sizeof s, "-%llu", (unsigned long long)INT64_MAX + 1 + (unsigned long long)(d + 1000) - 1000);
        cmp_i64(s);
    }
    CHECK(i64_mismatches == 0, "%lld strings parsed differently from strtoll", (long long)i64_mismatches);
}

/* The values themselves on a few cases, so that a parser agreeing with a broken
 * libc would still be caught. */
static void test_values(void)
{
    static const struct { const char *s; double v; } cases[] = {
        { "0.123456", 0.123456 }, { "-12.5", -12.5 }, { "3e-05", 3e-05 }, { "0.8444218515250481", 0.8444218515250481 },
        { "9007199254740993", 9007199254740992.0 }, { "1e23", 1e23 }, { "-0.0", -0.0 },
    };
    for (size_t i = 0; i < ES_ARRAY_LEN(cases); i++) {
        double v;
        int er;
        int ok = rt_parse_f64(cases[i].s, &v, &er);
        CHECK(ok && v == cases[i].v && signbit(v) == signbit(cases[i].v) && !er, "\"%s\" reads as %.17g, want %.17g",
              cases[i].s, v, cases[i].v);
    }
    int64_t n;
    int er;
    CHECK(rt_parse_i64("-9223372036854775808", &n, &er) && n == INT64_MIN && !er, "INT64_MIN reads as %lld", (long long)n);
    CHECK(rt_parse_i64("9223372036854775808", &n, &er) && er, "2^63 is a range error");
    CHECK(!rt_parse_i64("12x", &n, &er), "12x is not an int");
}

/* rt_narrow against a conversion one value at a time: every length up to 11
 * (the four-wide loop and its tail), values in range and at its edges, and
 * out of it (then 0 stored and 0 returned) at every position. */
static void test_narrow(void)
{
    static const double edge[] = { 0.0, -0.0, 1.5, -3.25e-40, FLT_MAX, -FLT_MAX, 1e-50, 3.4028235e38,
                                   3.5e38, -1e39, INFINITY, -INFINITY, NAN, DBL_MAX };
    es_rng g;
    es_rng_seed(&g, 7);
    for (int n = 0; n <= 11; n++) {
        for (int trial = 0; trial < 200; trial++) {
            double v[11];
            float out[12], want[12];
            int want_in = 1;
            for (int i = 0; i < n; i++) {
                v[i] = es_rng_below(&g, 3) ? (es_rng_uniform(&g) - 0.5) * pow(10.0, (double)es_rng_below(&g, 60) - 30)
                                           : edge[es_rng_below(&g, ES_ARRAY_LEN(edge))];
                int ok = fabs(v[i]) <= FLT_MAX;
                want_in &= ok;
                want[i] = ok ? (float)v[i] : 0.0f;
            }
            /* the form this CPU runs (AVX where it has it), and SSE2's */
            for (int form = 0; form < 2; form++) {
                out[n] = want[n] = 42.0f;             /* nothing past n is written */
                int in = form ? rt_narrow_sse2(v, out, n) : rt_narrow(v, out, n);
                CHECK(in == want_in, "length %d, trial %d, %s: in range %d, want %d", n, trial,
                      form ? "SSE2" : "rt_narrow", in, want_in);
                CHECK(memcmp(out, want, (size_t)(n + 1) * sizeof *out) == 0, "length %d, trial %d, %s: floats differ",
                      n, trial, form ? "SSE2" : "rt_narrow");
            }
        }
    }
}

#if defined(__AVX2__)
#define TEST_NAME "test_number (AVX2)"
#elif defined(__SSSE3__)
#define TEST_NAME "test_number (SSSE3)"
#else
#define TEST_NAME "test_number"
#endif

int main(void)
{
#if defined(__AVX2__)
    __builtin_cpu_init();
    if (!__builtin_cpu_supports("avx2") || !__builtin_cpu_supports("bmi") || !__builtin_cpu_supports("bmi2") ||
        !__builtin_cpu_supports("fma")) {
        puts(TEST_NAME ": this CPU has no AVX2, BMI or FMA, nothing to test");
        return 0;
    }
#elif defined(__SSSE3__)
    __builtin_cpu_init();
    if (!__builtin_cpu_supports("ssse3")) {
        puts(TEST_NAME ": this CPU has no SSSE3, nothing to test");
        return 0;
    }
#endif
    const char *loc = getenv("ESTC_TEST_LOCALE");
    if (loc && loc[0]) {         /* the comparisons with strtod need the "C" locale */
        test_locale();
        return check_done(TEST_NAME);
    }
    test_values();
    test_narrow();
    test_f64();
    test_long_mantissas();
    test_scan();
    test_i64();
    test_padded();
    test_locale();
    return check_done(TEST_NAME);
}

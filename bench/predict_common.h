/*
 * predict_common.h — what bench/predict_aot.c and bench/predict_api.c share:
 * reading a data file's rows into memory (parsing is never timed), the timer,
 * and the statistics they print. Header-only so each program is one command.
 *
 * Every result goes to stdout as one line of key=value pairs that
 * bench/predict.sh collects:
 *   result model=M path=P median_ns=.. p99_ns=.. timer_ns=.. calls=.. batch=.. rows_per_s=..
 */
#ifndef BENCH_PREDICT_COMMON_H
#define BENCH_PREDICT_COMMON_H

#define _POSIX_C_SOURCE 200809L   /* getline, clock_gettime */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* The fields of one data row; they point into `line`. */
typedef struct bench_row {
    char *line;
    char **field;
    int nfields;
} bench_row;

static void *bench_xmalloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    if (!p) { fprintf(stderr, "bench: out of memory\n"); exit(2); }
    return p;
}

/* Splits s in place on `sep` into fields trimmed of blanks, as estc's reader
 * does for an unquoted field; returns how many (at most max are kept). */
static int bench_split(char *s, const char *sep, char **field, int max)
{
    size_t seplen = strlen(sep);
    int n = 0;
    for (char *p = s;;) {
        while (*p == ' ' || *p == '\t') p++;
        char *start = p, *next = strstr(p, sep);
        char *end = next ? next : p + strlen(p);
        while (end > start && (end[-1] == ' ' || end[-1] == '\t')) end--;
        *end = 0;
        if (n < max) field[n] = start;
        n++;
        if (!next) return n;
        p = next + seplen;
    }
}

/* Reads every data row of path (after `skip` lines; blank lines left out),
 * each split into exactly `ncols` fields; exits with a message otherwise. */
static bench_row *bench_read_rows(const char *path, const char *sep, int skip, int ncols, int *nrows)
{
    FILE *f = fopen(path, "r");
    if (!f) { perror(path); exit(2); }
    int n = 0, cap = 1024;
    bench_row *rows = bench_xmalloc(sizeof *rows * (size_t)cap);
    char *line = NULL;
    size_t lcap = 0;
    ssize_t len;
    long lineno = 0;
    while ((len = getline(&line, &lcap, f)) >= 0) {
        lineno++;
        while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r')) line[--len] = 0;
        if (lineno <= skip || strspn(line, " \t") == (size_t)len) continue;
        if (n == cap) {
            cap *= 2;
            bench_row *grown = realloc(rows, sizeof *rows * (size_t)cap);
            if (!grown) { fprintf(stderr, "bench: out of memory\n"); exit(2); }
            rows = grown;
        }
        bench_row *r = &rows[n++];
        r->line = strdup(line);
        r->field = bench_xmalloc(sizeof *r->field * (size_t)(ncols + 1));
        if (!r->line) { fprintf(stderr, "bench: out of memory\n"); exit(2); }
        r->nfields = bench_split(r->line, sep, r->field, ncols + 1);
        if (r->nfields != ncols) {
            fprintf(stderr, "%s:%ld: expected %d fields, found %d\n", path, lineno, ncols, r->nfields);
            exit(2);
        }
    }
    free(line);
    fclose(f);
    if (n == 0) { fprintf(stderr, "%s: no data rows\n", path); exit(2); }
    *nrows = n;
    return rows;
}

/* The timed loops add an output of every call here, so that no call could be
 * optimised away. */
static volatile double bench_sink;

static inline int64_t bench_now_ns(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (int64_t)t.tv_sec * 1000000000 + t.tv_nsec;
}

static int bench_cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

/* The q-quantile (0..1) of v[0..n), sorting v. */
static int64_t bench_quantile(int64_t *v, int64_t n, double q)
{
    qsort(v, (size_t)n, sizeof *v, bench_cmp_i64);
    int64_t i = (int64_t)(q * (double)(n - 1) + 0.5);
    return v[i];
}

/* The cost of the timer itself: the median of back-to-back readings. It is
 * subtracted from every per-call figure (each call is bracketed by two). */
static int64_t bench_timer_overhead(int64_t *scratch, int64_t n)
{
    for (int64_t i = 0; i < n; i++) {
        int64_t t0 = bench_now_ns();
        int64_t t1 = bench_now_ns();
        scratch[i] = t1 - t0;
    }
    return bench_quantile(scratch, n, 0.5);
}

static void bench_print(const char *model, const char *path, int64_t *ns, int64_t calls, int64_t timer,
                        int batch, double rows_per_s)
{
    int64_t med = bench_quantile(ns, calls, 0.5) - timer, p99 = bench_quantile(ns, calls, 0.99) - timer;
    printf("result model=%s path=%s median_ns=%lld p99_ns=%lld timer_ns=%lld calls=%lld batch=%d rows_per_s=%.0f\n",
           model, path, (long long)med, (long long)p99, (long long)timer, (long long)calls, batch, rows_per_s);
}

#endif

/*
 * score.c — scores CSV rows from stdin with a predictor made by `estc export`,
 * and prints what `estc predict --format csv` prints for them.
 *
 * A plain C program: no estc, no LLVM, no BLAS, no CMake. Build it against an
 * export named "census" in directory DIR:
 *
 *     cc -O2 -I DIR examples/embed/score.c DIR/libcensus.a -lm -o score
 *     ./score < examples/census/data/adult.test            one row at a time
 *     ./score --batch 512 < examples/census/data/adult.test   512 rows per call
 *
 * Nothing here is specific to one model: the fields come from
 * CENSUS_INPUT_COLUMNS and the file layout (separator, missing-value token,
 * rows to skip) from the CENSUS_CSV_* macros of census.h, so any model exported
 * with --name census works. The CSV splitting follows estc's reader (fields
 * trimmed of blanks, quoted fields with "" for a quote, blank lines and
 * comment lines skipped) except that a quoted field may not span lines.
 *
 * A multivalent column (STRINGS) is split on its CENSUS_SEPARATOR_* into an
 * array of values, a weights column (DOUBLES) into an array of numbers, as
 * the reader splits them. With --joined, a STRINGS field is passed as the CSV
 * holds it, as one element, and the predictor splits it (and tells a missing
 * field).
 */
#define _POSIX_C_SOURCE 200809L   /* getline */
#include "census.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct row {
    char *line;            /* the row's text; fields point into it */
    size_t cap;
    long lineno;
    const char **strs;     /* the values of the row's STRINGS fields */
    size_t nstrs, strs_cap;
    double *nums;          /* the numbers of its DOUBLES fields */
    size_t nnums, nums_cap;
    census_input in;
} row;

static int joined;         /* --joined: pass STRINGS fields whole */

static int is_blank(char c, int keep_space, int keep_tab)
{
    return (c == ' ' && !keep_space) || (c == '\t' && !keep_tab);
}

/* Splits s in place on the separator into at most max fields; returns how many. */
static int split(char *s, char **field, int max)
{
    const char *sep = CENSUS_CSV_SEPARATOR;
    size_t seplen = strlen(sep);
    /* a separator made only of blanks is not trimmed away (as estc's reader) */
    int only_blanks = strspn(sep, " \t") == seplen;
    int keep_space = only_blanks && strchr(sep, ' '), keep_tab = only_blanks && strchr(sep, '\t');
    int n = 0;
    char *p = s;
    for (;;) {
        while (is_blank(*p, keep_space, keep_tab) && strncmp(p, sep, seplen) != 0) p++;
        char *start = p, *out = p, *end;
        if (*p == '"') {                       /* quoted: "" stands for one quote */
            for (p++; *p && !(p[0] == '"' && p[1] != '"'); p++) {
                if (p[0] == '"') p++;
                *out++ = *p;
            }
            if (*p == '"') p++;
            end = out;
            while (*p && strncmp(p, sep, seplen) != 0) p++;
        } else {
            while (*p && strncmp(p, sep, seplen) != 0) p++;
            end = p;
            while (end > start && is_blank(end[-1], keep_space, keep_tab)) end--;
        }
        int last = *p == 0;
        if (n < max) field[n] = start;
        n++;
        *end = 0;
        if (last) return n;
        p += seplen;
    }
}

static int is_missing(const char *s)
{
    const char *tok = CENSUS_CSV_MISSING;
    return s[0] == 0 || (tok && strcmp(s, tok) == 0);
}

/* The field parsers estc's reader uses; 0 or -1 (message printed). */
static inline int set_DOUBLE(double *v, const char *s, long line, const char *col)
{
    if (is_missing(s)) { *v = NAN; return 0; }
    char *end;
    errno = 0;
    double x = strtod(s, &end);
    if (end == s || *end || !isfinite(x) || (errno == ERANGE && fabs(x) > 1.0)) {
        fprintf(stderr, "score: line %ld: column %s: cannot use \"%s\" as a number\n", line, col, s);
        return -1;
    }
    *v = x;
    return 0;
}

static inline int set_INT(int64_t *v, const char *s, long line, const char *col)
{
    if (is_missing(s)) { *v = CENSUS_MISSING_INT; return 0; }
    char *end;
    errno = 0;
    long long x = strtoll(s, &end, 10);
    if (end == s || *end || errno == ERANGE) {
        fprintf(stderr, "score: line %ld: column %s: cannot use \"%s\" as an int\n", line, col, s);
        return -1;
    }
    *v = x;
    return 0;
}

static inline int set_STRING(const char **v, const char *s, long line, const char *col)
{
    (void)line; (void)col;
    *v = is_missing(s) ? NULL : s;
    return 0;
}

/* How many values a separator-joined field can hold at most. */
static inline size_t max_values(const char *s, const char *sep)
{
    size_t n = 1, sl = strlen(sep);
    for (const char *p = strstr(s, sep); p; p = strstr(p + sl, sep)) n++;
    return n;
}

/* The next value of a separator-joined field as estc's reader splits it
 * (trimmed of blanks, empty values skipped), NUL-terminated in place; NULL
 * when none is left. */
static inline char *next_value(char **p, const char *sep)
{
    size_t sl = strlen(sep);
    while (**p) {
        char *b = *p, *e = strstr(b, sep);
        if (!e) e = b + strlen(b);
        *p = *e ? e + sl : e;
        while (b < e && isspace((unsigned char)*b)) b++;
        while (e > b && isspace((unsigned char)e[-1])) e--;
        if (e > b) { *e = 0; return b; }
    }
    return NULL;
}

/* A multivalent field: its values into r->strs (room made by parse_row). A
 * missing field is a NULL array; a field of separators and blanks only is
 * passed as it is (an empty array would do too, but the text keeps "present,
 * without values" obvious). */
static inline int set_STRINGS(const char *const **v, int32_t *count, char *s, const char *sep, row *r)
{
    const char **vals = r->strs + r->nstrs;
    int32_t n = 0;
    if (joined) {                /* the predictor applies the missing-field rule too */
        vals[n++] = s;
    } else if (is_missing(s)) {
        *v = NULL;
        *count = 0;
        return 0;
    } else {
        for (char *p = s, *val; (val = next_value(&p, sep));) vals[n++] = val;
        if (n == 0) vals[n++] = s;
    }
    r->nstrs += (size_t)n;
    *v = vals;
    *count = n;
    return 0;
}

/* A weights field: its numbers into r->nums, parsed as the reader parses them
 * (a value beyond float range is passed on: the predictor refuses it). */
static inline int set_DOUBLES(const double **v, int32_t *count, char *s, const char *sep, row *r, const char *col)
{
    if (is_missing(s)) { *v = NULL; *count = 0; return 0; }
    double *vals = r->nums + r->nnums;
    int32_t n = 0;
    for (char *p = s, *val; (val = next_value(&p, sep));) {
        char *end;
        double x = strlen(val) < 64 ? strtod(val, &end) : NAN;
        if (strlen(val) >= 64 || end == val || *end || !isfinite(x)) {
            fprintf(stderr, "score: line %ld: column %s: cannot use \"%s\" as a weight\n", r->lineno, col, val);
            return -1;
        }
        vals[n++] = x;
    }
    r->nnums += (size_t)n;
    *v = vals;
    *count = n;
    return 0;
}

/* room for n more elements in *pool (of cap elements, each `size` bytes) */
static void *reserve(void *pool, size_t *cap, size_t n, size_t size)
{
    if (n <= *cap) return pool;
    void *p = realloc(pool, n * size);
    if (!p) { fprintf(stderr, "score: out of memory\n"); exit(1); }
    *cap = n;
    return p;
}

/* Fills r->in from r->line; 0, or -1 for a row to leave out (reported). */
static int parse_row(row *r)
{
    char *f[CENSUS_CSV_COLUMNS + 1];
    int n = split(r->line, f, CENSUS_CSV_COLUMNS + 1);
    if (n != CENSUS_CSV_COLUMNS) {
        fprintf(stderr, "score: line %ld: expected %d fields, found %d\n", r->lineno, CENSUS_CSV_COLUMNS, n);
        return -1;
    }
    memset(&r->in, 0, sizeof r->in);
    int bad = 0;
    /* room for every value of the list fields first: r->in points into the pools */
    size_t nstrs = 0, nnums = 0;
#define ROOM(field, col, kind) ROOM_##kind(field, col)
#define ROOM_DOUBLE(field, col)
#define ROOM_INT(field, col)
#define ROOM_STRING(field, col)
#define ROOM_STRINGS(field, col) nstrs += max_values(f[col], CENSUS_SEPARATOR_##field);
#define ROOM_DOUBLES(field, col) nnums += max_values(f[col], CENSUS_SEPARATOR_##field);
    CENSUS_INPUT_COLUMNS(ROOM)
    r->strs = reserve(r->strs, &r->strs_cap, nstrs, sizeof *r->strs);
    r->nums = reserve(r->nums, &r->nums_cap, nnums, sizeof *r->nums);
    r->nstrs = r->nnums = 0;
#define SET(field, col, kind) SET_##kind(field, col)
#define SET_DOUBLE(field, col) bad |= set_DOUBLE(&r->in.field, f[col], r->lineno, #field);
#define SET_INT(field, col) bad |= set_INT(&r->in.field, f[col], r->lineno, #field);
#define SET_STRING(field, col) bad |= set_STRING(&r->in.field, f[col], r->lineno, #field);
#define SET_STRINGS(field, col) \
    bad |= set_STRINGS(&r->in.field, &r->in.field##_count, f[col], CENSUS_SEPARATOR_##field, r);
#define SET_DOUBLES(field, col) \
    bad |= set_DOUBLES(&r->in.field, &r->in.field##_count, f[col], CENSUS_SEPARATOR_##field, r, #field);
    CENSUS_INPUT_COLUMNS(SET)
    return bad ? -1 : 0;
}

static const char *column_name(int col)
{
#define NAME(field, c, kind) if (col == c) return #field;
    CENSUS_INPUT_COLUMNS(NAME)
#undef NAME
    return "?";
}

static void print_floats(const float *v, int n)
{
    for (int i = 0; i < n; i++) printf(i ? ";%.9g" : "%.9g", (double)v[i]);
}

/* One output row; 0, or -1 when the predictor could not use a value. */
static int print_output(const row *r, const census_output *out)
{
    if (out->error) {
        fprintf(stderr, "score: line %ld: column %s: the value is missing without a default, or unusable\n",
                r->lineno, column_name(out->error - 1));
        return -1;
    }
#if CENSUS_IS_REGRESSION
    printf("%.9g\n", (double)out->predictions);
#else
    printf("%d,%s,", out->class_id, out->class_name ? out->class_name : "");
    print_floats(out->probabilities, CENSUS_N_PROBABILITIES);
    putchar(',');
    print_floats(out->logits, CENSUS_N_LOGITS);
    putchar('\n');
#endif
    return 0;
}

/* The next data row of stdin into r (skipping what estc's reader skips); 0 at the end. */
static int next_row(row *r, long *lineno)
{
    static int skip = CENSUS_CSV_SKIP_ROWS, header = CENSUS_CSV_HEADER;
    const char *comment = CENSUS_CSV_COMMENT;
    for (;;) {
        ssize_t len = getline(&r->line, &r->cap, stdin);
        if (len < 0) return 0;
        ++*lineno;
        while (len > 0 && (r->line[len - 1] == '\n' || r->line[len - 1] == '\r')) r->line[--len] = 0;
        if (skip > 0) { skip--; continue; }
        if (comment && strncmp(r->line, comment, strlen(comment)) == 0) continue;
        if (strspn(r->line, " \t") == (size_t)len) continue;
        if (header) { header = 0; continue; }
        r->lineno = *lineno;
        return 1;
    }
}

int main(int argc, char **argv)
{
    size_t batch = 1;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--batch") == 0 && i + 1 < argc && atol(argv[i + 1]) > 0) {
            batch = (size_t)atol(argv[++i]);
        } else if (strcmp(argv[i], "--joined") == 0) {
            joined = 1;
        } else {
            fprintf(stderr, "usage: %s [--batch N] [--joined] < rows.csv\n", argv[0]);
            return 2;
        }
    }
    row *rows = calloc(batch, sizeof *rows);
    census_input *in = calloc(batch, sizeof *in);
    census_output *out = calloc(batch, sizeof *out);
    size_t wsbytes = census_workspace_bytes(batch);
    void *ws = batch > 1 ? malloc(wsbytes) : NULL;
    if (!rows || !in || !out || (batch > 1 && !ws)) { fprintf(stderr, "score: out of memory\n"); return 1; }

    printf(CENSUS_IS_REGRESSION ? "predictions\n" : "class_ids,class,probabilities,logits\n");
    long lineno = 0;
    int failed = 0, more = 1;
    while (more) {
        size_t n = 0;
        while (n < batch && (more = next_row(&rows[n], &lineno)))
            if (parse_row(&rows[n]) == 0) { in[n] = rows[n].in; n++; } else failed = 1;
        if (n == 0) continue;
        if (batch == 1) census_predict(&in[0], &out[0]);
        else if (census_predict_batch(in, out, n, ws, wsbytes) < 0) {
            fprintf(stderr, "score: the workspace is too small\n");
            return 1;
        }
        for (size_t i = 0; i < n; i++)
            if (print_output(&rows[i], &out[i]) != 0) failed = 1;
    }
    for (size_t i = 0; i < batch; i++) {
        free(rows[i].line);
        free(rows[i].strs);
        free(rows[i].nums);
    }
    free(rows);
    free(in);
    free(out);
    free(ws);
    if (fflush(stdout) != 0) return 1;
    return failed;
}

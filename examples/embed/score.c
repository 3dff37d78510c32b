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
 */
#define _POSIX_C_SOURCE 200809L   /* getline */
#include "census.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct row {
    char *line;            /* the row's text; fields point into it */
    size_t cap;
    long lineno;
    census_input in;
} row;

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
#define SET(field, col, kind) bad |= set_##kind(&r->in.field, f[col], r->lineno, #field);
    CENSUS_INPUT_COLUMNS(SET)
#undef SET
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
    if (argc == 3 && strcmp(argv[1], "--batch") == 0 && atol(argv[2]) > 0) batch = (size_t)atol(argv[2]);
    else if (argc != 1) {
        fprintf(stderr, "usage: %s [--batch N] < rows.csv\n", argv[0]);
        return 2;
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
    for (size_t i = 0; i < batch; i++) free(rows[i].line);
    free(rows);
    free(in);
    free(out);
    free(ws);
    if (fflush(stdout) != 0) return 1;
    return failed;
}

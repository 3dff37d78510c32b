/*
 * predict_aot.c — latency and throughput of a predictor made by `estc export`.
 *
 * Compiled once per export, against its header and static library:
 *
 *     cc -O2 -DPRED=census_linear -DPRED_UP=CENSUS_LINEAR -I OUT \
 *        bench/predict_aot.c OUT/libcensus_linear.a -lm -o predict_aot_linear
 *     ./predict_aot_linear DATA.csv [--calls N] [--batch B] [--dump FILE]
 *
 * The data file's rows are parsed once into PRED_input structs (the raw column
 * values the predictor takes: numbers as doubles, strings as pointers), then
 *  - single row: PRED_predict on one row per call, cycling through the rows,
 *    each call timed on its own (median and p99, the timer's cost subtracted);
 *  - batch: PRED_predict_batch on B rows per call with a workspace for B rows,
 *    the whole loop timed once (rows/s).
 * --dump writes the probability of class 1 of every row (single-row calls) for
 * the correctness check of bench/predict.sh, and checks the batch path against it.
 */
#include "predict_common.h"

#include <errno.h>
#include <math.h>

#if !defined(PRED) || !defined(PRED_UP)
#error "compile with -DPRED=NAME -DPRED_UP=UPPERCASE_NAME -I DIR (where DIR/NAME.h is)"
#endif

#define CAT_(a, b) a##b
#define CAT(a, b) CAT_(a, b)
#define P(x) CAT(PRED, x)          /* P(_predict): census_linear_predict */
#define U(x) CAT(PRED_UP, x)       /* U(_CSV_MISSING): CENSUS_LINEAR_CSV_MISSING */
#define STR_(x) #x
#define STR(x) STR_(x)

#include STR(PRED.h)

#if U(_IS_REGRESSION)
#error "the outputs read here are a classifier's"
#endif

typedef P(_input) pred_input;
typedef P(_output) pred_output;

static int is_missing(const char *s)
{
    const char *tok = U(_CSV_MISSING);
    return s[0] == 0 || (tok && strcmp(s, tok) == 0);
}

__attribute__((unused)) static void set_DOUBLE(double *v, const char *s)
{
    char *end;
    errno = 0;
    *v = is_missing(s) ? NAN : strtod(s, &end);
    if (!is_missing(s) && (*end || errno)) { fprintf(stderr, "predict_aot: not a number: \"%s\"\n", s); exit(2); }
}

__attribute__((unused)) static void set_INT(int64_t *v, const char *s)
{
    char *end;
    errno = 0;
    *v = is_missing(s) ? U(_MISSING_INT) : strtoll(s, &end, 10);
    if (!is_missing(s) && (*end || errno)) { fprintf(stderr, "predict_aot: not an integer: \"%s\"\n", s); exit(2); }
}

__attribute__((unused)) static void set_STRING(const char **v, const char *s) { *v = is_missing(s) ? NULL : s; }

static float prob1(const pred_output *o) { return o->probabilities[U(_N_PROBABILITIES) - 1]; }

/* Writes every row's probability of class 1 to path, and returns the largest
 * difference between the single-row and the batch path over all rows. */
static double dump(const char *path, const pred_input *in, int n, int batch)
{
    pred_output *one = bench_xmalloc(sizeof *one * (size_t)n), *many = bench_xmalloc(sizeof *many * (size_t)n);
    size_t wsbytes = P(_workspace_bytes)((size_t)batch);
    void *ws = bench_xmalloc(wsbytes);
    for (int i = 0; i < n; i++)
        if (P(_predict)(&in[i], &one[i]) != 0) { fprintf(stderr, "predict_aot: row %d refused\n", i); exit(1); }
    for (int i = 0; i < n; i += batch) {
        size_t k = (size_t)(n - i < batch ? n - i : batch);
        if (P(_predict_batch)(&in[i], &many[i], k, ws, wsbytes) != 0) { fprintf(stderr, "predict_aot: batch refused\n"); exit(1); }
    }
    FILE *f = fopen(path, "w");
    if (!f) { perror(path); exit(2); }
    double worst = 0;
    for (int i = 0; i < n; i++) {
        fprintf(f, "%.9g\n", (double)prob1(&one[i]));
        worst = fmax(worst, fabs((double)prob1(&one[i]) - (double)prob1(&many[i])));
    }
    if (fclose(f) != 0) { perror(path); exit(2); }
    free(one); free(many); free(ws);
    return worst;
}

int main(int argc, char **argv)
{
    const char *data = NULL, *dump_path = NULL;
    long calls = 200000, batch = 256;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--calls") == 0 && i + 1 < argc) calls = atol(argv[++i]);
        else if (strcmp(argv[i], "--batch") == 0 && i + 1 < argc) batch = atol(argv[++i]);
        else if (strcmp(argv[i], "--dump") == 0 && i + 1 < argc) dump_path = argv[++i];
        else if (argv[i][0] != '-' && !data) data = argv[i];
        else data = NULL, i = argc;
    }
    if (!data || calls < 1000 || batch < 1) {
        fprintf(stderr, "usage: %s DATA.csv [--calls N (>= 1000)] [--batch B] [--dump FILE]\n", argv[0]);
        return 2;
    }

    int n;
    bench_row *rows = bench_read_rows(data, U(_CSV_SEPARATOR), U(_CSV_SKIP_ROWS), U(_CSV_COLUMNS), &n);
    pred_input *in = bench_xmalloc(sizeof *in * (size_t)n);
    for (int i = 0; i < n; i++) {
        memset(&in[i], 0, sizeof in[i]);
#define SET(name, col, kind) set_##kind(&in[i].name, rows[i].field[col]);
        U(_INPUT_COLUMNS)(SET)
#undef SET
    }
    if (dump_path) {
        double worst = dump(dump_path, in, n, (int)batch);
        printf("check model=%s path=aot rows=%d batch_vs_single=%.3g\n", STR(PRED), n, worst);
        return 0;
    }

    /* single row: warm up on every row, then time each call */
    pred_output out;
    for (int i = 0; i < n; i++) { P(_predict)(&in[i], &out); bench_sink += prob1(&out); }
    int64_t *ns = bench_xmalloc(sizeof *ns * (size_t)calls);
    int64_t timer = bench_timer_overhead(ns, calls);
    for (long c = 0, i = 0; c < calls; c++, i = i + 1 == n ? 0 : i + 1) {
        int64_t t0 = bench_now_ns();
        P(_predict)(&in[i], &out);
        int64_t t1 = bench_now_ns();
        ns[c] = t1 - t0;
        bench_sink += prob1(&out);
    }

    /* batch: whole chunks of `batch` rows, cycling, until `calls` rows and 0.2 s */
    size_t wsbytes = P(_workspace_bytes)((size_t)batch);
    void *ws = bench_xmalloc(wsbytes);
    pred_output *bout = bench_xmalloc(sizeof *bout * (size_t)batch);
    long chunks = n / batch;
    if (chunks == 0) { fprintf(stderr, "predict_aot: fewer rows than one batch\n"); return 2; }
    for (long k = 0; k < chunks; k++) P(_predict_batch)(&in[k * batch], bout, (size_t)batch, ws, wsbytes);
    int64_t done = 0, b0 = bench_now_ns(), b1;
    for (long k = 0;; k = k + 1 == chunks ? 0 : k + 1) {
        P(_predict_batch)(&in[k * batch], bout, (size_t)batch, ws, wsbytes);
        bench_sink += prob1(&bout[0]);
        done += batch;
        b1 = bench_now_ns();
        if (done >= calls && b1 - b0 >= 200000000) break;
    }
    bench_print(STR(PRED), "aot", ns, calls, timer, (int)batch, (double)done * 1e9 / (double)(b1 - b0));
    return 0;
}

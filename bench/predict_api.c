/*
 * predict_api.c — latency and throughput of in-process prediction through
 * libestc's C API (estc_predictor, estc_predict_rows).
 *
 *     cc -O2 -I include bench/predict_api.c -L build -lestc -Wl,-rpath,$PWD/build -o predict_api
 *     ./predict_api MODEL.est --model-dir DIR DATA.csv [--name NAME] [--calls N] [--batch B] [--dump FILE]
 *
 * The model is opened (compiled) and its checkpoint restored once. The data
 * file's rows (", "-separated, one junk line skipped: adult.test's layout; the
 * label field left out) become estc_value rows up front: numeric columns as
 * numbers (ESTC_NUM, NaN when missing), string columns as text (ESTC_STR,
 * the missing token left for the predictor to recognise). Then
 *  - single row: estc_predict_rows with n = 1, cycling through the rows, each
 *    call timed on its own (median and p99, the timer's cost subtracted);
 *  - batch: n = B rows per call, the whole loop timed once (rows/s).
 * --dump writes the probability of class 1 of every row (single-row calls)
 * for the correctness check of bench/predict.sh, and checks the batch path.
 */
#include "predict_common.h"

#include <estc/estc.h>
#include <math.h>

typedef struct api_bench {
    estc_model *m;
    estc_predictor *p;
    int ncol;
    estc_value *rows;       /* n * ncol values */
    int n;
} api_bench;

/* The rows of data as estc_values; fields stay owned by the bench_rows. */
static void load_rows(api_bench *b, const char *data, const char *sep, int skip)
{
    int label = estc_predictor_label_column(b->p);
    bench_row *r = bench_read_rows(data, sep, skip, b->ncol + 1, &b->n);
    b->rows = bench_xmalloc(sizeof *b->rows * (size_t)b->n * (size_t)b->ncol);
    for (int i = 0; i < b->n; i++) {
        for (int c = 0, k = 0; c <= b->ncol; c++) {
            if (c == label) continue;
            int is_string;
            estc_predictor_column(b->p, k, &is_string);
            const char *s = r[i].field[c];
            estc_value *v = &b->rows[(size_t)i * (size_t)b->ncol + (size_t)k++];
            if (is_string) { *v = ESTC_STR(s); continue; }
            char *end;
            double x = strtod(s, &end);
            if (end == s || *end) x = NAN;   /* adult.test's "?" */
            *v = ESTC_NUM(x);
        }
    }
}

static void predict_or_die(api_bench *b, int64_t first, int64_t n, estc_prediction *out)
{
    estc_status st;
    if (estc_predict_rows(b->p, &b->rows[first * b->ncol], n, out, &st) != 0) {
        fprintf(stderr, "predict_api: %s\n", st.message);
        exit(1);
    }
}

static float prob1(const estc_prediction *o, int K) { return o->probabilities[K - 1]; }

/* Writes every row's probability of class 1 to path, and returns the largest
 * difference between the single-row and the batch path over all rows. */
static double dump(api_bench *b, const char *path, int batch)
{
    int K = estc_predictor_nclasses(b->p);
    float *one = bench_xmalloc(sizeof *one * (size_t)b->n);
    estc_prediction *out = bench_xmalloc(sizeof *out * (size_t)batch);
    FILE *f = fopen(path, "w");
    if (!f) { perror(path); exit(2); }
    for (int i = 0; i < b->n; i++) {
        predict_or_die(b, i, 1, out);
        one[i] = prob1(&out[0], K);
        fprintf(f, "%.9g\n", (double)one[i]);
    }
    if (fclose(f) != 0) { perror(path); exit(2); }
    double worst = 0;
    for (int i = 0; i < b->n; i += batch) {
        int k = b->n - i < batch ? b->n - i : batch;
        predict_or_die(b, i, k, out);
        for (int j = 0; j < k; j++) worst = fmax(worst, fabs((double)prob1(&out[j], K) - (double)one[i + j]));
    }
    free(one);
    free(out);
    return worst;
}

int main(int argc, char **argv)
{
    const char *model = NULL, *data = NULL, *dump_path = NULL, *name = "model";
    long calls = 200000, batch = 256;
    estc_open_options opt;
    estc_open_options_init(&opt);
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--model-dir") == 0 && i + 1 < argc) opt.model_dir = argv[++i];
        else if (strcmp(argv[i], "--name") == 0 && i + 1 < argc) name = argv[++i];
        else if (strcmp(argv[i], "--calls") == 0 && i + 1 < argc) calls = atol(argv[++i]);
        else if (strcmp(argv[i], "--batch") == 0 && i + 1 < argc) batch = atol(argv[++i]);
        else if (strcmp(argv[i], "--dump") == 0 && i + 1 < argc) dump_path = argv[++i];
        else if (argv[i][0] != '-' && !model) model = argv[i];
        else if (argv[i][0] != '-' && !data) data = argv[i];
        else model = NULL, i = argc;
    }
    if (!model || !data || calls < 1000 || batch < 1) {
        fprintf(stderr, "usage: %s MODEL.est --model-dir DIR DATA.csv [--name NAME] [--calls N (>= 1000)] "
                "[--batch B] [--dump FILE]\n", argv[0]);
        return 2;
    }

    estc_status st;
    api_bench b = { 0 };
    if (!(b.m = estc_model_open(model, &opt, &st)) || !(b.p = estc_predictor_new(b.m, &st))) {
        fprintf(stderr, "predict_api: %s\n", st.message);
        return 1;
    }
    b.ncol = estc_predictor_ncolumns(b.p);
    load_rows(&b, data, ", ", 1);
    if (dump_path) {
        double worst = dump(&b, dump_path, (int)batch);
        printf("check model=%s path=api rows=%d batch_vs_single=%.3g\n", name, b.n, worst);
        return 0;
    }

    /* single row: warm up on every row, then time each call */
    estc_prediction *out = bench_xmalloc(sizeof *out * (size_t)batch);
    for (int i = 0; i < b.n; i++) { predict_or_die(&b, i, 1, out); bench_sink += out[0].value; }
    int64_t *ns = bench_xmalloc(sizeof *ns * (size_t)calls);
    int64_t timer = bench_timer_overhead(ns, calls);
    for (long c = 0, i = 0; c < calls; c++, i = i + 1 == b.n ? 0 : i + 1) {
        int64_t t0 = bench_now_ns();
        estc_predict_rows(b.p, &b.rows[i * b.ncol], 1, out, &st);
        int64_t t1 = bench_now_ns();
        ns[c] = t1 - t0;
        bench_sink += out[0].value;
    }

    /* batch: whole chunks of `batch` rows, cycling, until `calls` rows and 0.2 s */
    long chunks = b.n / batch;
    if (chunks == 0) { fprintf(stderr, "predict_api: fewer rows than one batch\n"); return 2; }
    for (long k = 0; k < chunks; k++) predict_or_die(&b, k * batch, batch, out);
    int64_t done = 0, b0 = bench_now_ns(), b1;
    for (long k = 0;; k = k + 1 == chunks ? 0 : k + 1) {
        estc_predict_rows(b.p, &b.rows[k * batch * b.ncol], batch, out, &st);
        bench_sink += out[0].value;
        done += batch;
        b1 = bench_now_ns();
        if (done >= calls && b1 - b0 >= 200000000) break;
    }
    bench_print(name, "api", ns, calls, timer, (int)batch, (double)done * 1e9 / (double)(b1 - b0));
    estc_predictor_free(b.p);
    estc_model_free(b.m);
    return 0;
}

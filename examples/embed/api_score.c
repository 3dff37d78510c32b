/*
 * api_score.c — scores CSV rows from stdin in-process with libestc's C API,
 * and prints what `estc predict --format csv` prints for them.
 *
 * The model file is opened (parsed, checked, compiled) and its newest
 * checkpoint restored once; then rows go through estc_predict_rows, one at a
 * time or --batch N per call. Build it against an installed estc:
 *
 *     cc -O2 examples/embed/api_score.c $(pkg-config --cflags --libs estc) -o api_score
 *     ./api_score examples/census/linear.est --model-dir /tmp/census-model --skip 1 \
 *         < examples/census/data/adult.test
 *
 * Rows are comma-separated, each field trimmed of blanks; a row may carry the
 * label (estc_predictor_label_column says where) or not. Every field is
 * passed as text: the predictor parses numbers as estc's reader does.
 */
#define _POSIX_C_SOURCE 200809L   /* getline */
#include <estc/estc.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Splits s in place on commas into at most max fields, trimmed; returns how many. */
static int split(char *s, char **field, int max)
{
    int n = 0;
    for (char *p = s;; p++) {
        while (*p == ' ' || *p == '\t') p++;
        char *start = p;
        while (*p && *p != ',') p++;
        char *end = p;
        while (end > start && (end[-1] == ' ' || end[-1] == '\t')) end--;
        int last = *p == 0;
        *end = 0;
        if (n < max) field[n] = start;
        n++;
        if (last) return n;
    }
}

static void print_floats(const float *v, int n)
{
    for (int i = 0; i < n; i++) printf(i ? ";%.9g" : "%.9g", (double)v[i]);
}

static int usage(const char *argv0)
{
    fprintf(stderr, "usage: %s MODEL.est [--model-dir DIR] [--batch N] [--skip ROWS] < rows.csv\n", argv0);
    return 2;
}

int main(int argc, char **argv)
{
    const char *model = NULL;
    estc_open_options opt;
    estc_open_options_init(&opt);
    long batch = 1, skip = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--model-dir") == 0 && i + 1 < argc) opt.model_dir = argv[++i];
        else if (strcmp(argv[i], "--batch") == 0 && i + 1 < argc && atol(argv[i + 1]) > 0) batch = atol(argv[++i]);
        else if (strcmp(argv[i], "--skip") == 0 && i + 1 < argc) skip = atol(argv[++i]);
        else if (argv[i][0] != '-' && !model) model = argv[i];
        else return usage(argv[0]);
    }
    if (!model) return usage(argv[0]);

    estc_status st;
    estc_model *m = estc_model_open(model, &opt, &st);
    if (!m) { fprintf(stderr, "api_score: %s\n", st.message); return 2; }
    estc_predictor *p = estc_predictor_new(m, &st);
    if (!p) { fprintf(stderr, "api_score: %s\n", st.message); estc_model_free(m); return 1; }

    int ncol = estc_predictor_ncolumns(p), label = estc_predictor_label_column(p);
    int K = estc_predictor_nclasses(p), nlogits = K == 2 ? 1 : K;
    char **lines = calloc((size_t)batch, sizeof *lines);
    size_t *caps = calloc((size_t)batch, sizeof *caps);
    estc_value *rows = calloc((size_t)batch * (size_t)ncol, sizeof *rows);
    estc_prediction *out = calloc((size_t)batch, sizeof *out);
    char **f = calloc((size_t)ncol + 2, sizeof *f);
    if (!lines || !caps || !rows || !out || !f) { fprintf(stderr, "api_score: out of memory\n"); return 1; }

    printf(K ? "class_ids,class,probabilities,logits\n" : "predictions\n");
    int failed = 0, more = 1;
    long lineno = 0;
    while (more) {
        long n = 0;
        while (n < batch) {
            ssize_t len = getline(&lines[n], &caps[n], stdin);
            if (len < 0) { more = 0; break; }
            lineno++;
            while (len > 0 && (lines[n][len - 1] == '\n' || lines[n][len - 1] == '\r')) lines[n][--len] = 0;
            if (lineno <= skip || strspn(lines[n], " \t") == (size_t)len) continue;
            int nf = split(lines[n], f, ncol + 2);
            if (nf != ncol && nf != ncol + 1) {
                fprintf(stderr, "api_score: line %ld: expected %d fields (or %d with the label), found %d\n",
                        lineno, ncol, ncol + 1, nf);
                failed = 1;
                continue;
            }
            for (int c = 0, k = 0; c < nf; c++) {
                if (nf == ncol + 1 && c == label) continue;   /* the label's field */
                rows[n * ncol + k++] = ESTC_STR(f[c]);
            }
            n++;
        }
        if (n == 0) continue;
        int64_t bad = estc_predict_rows(p, rows, n, out, &st);
        if (bad < 0) { fprintf(stderr, "api_score: %s\n", st.message); return 1; }
        if (bad > 0) { fprintf(stderr, "api_score: %lld row(s) left out; the first: %s\n", (long long)bad, st.message); failed = 1; }
        for (long i = 0; i < n; i++) {
            if (out[i].error) continue;
            if (!K) { printf("%.9g\n", (double)out[i].value); continue; }
            printf("%d,%s,", out[i].class_id, out[i].class_name ? out[i].class_name : "");
            print_floats(out[i].probabilities, K);
            putchar(',');
            print_floats(out[i].logits, nlogits);
            putchar('\n');
        }
    }
    for (long i = 0; i < batch; i++) free(lines[i]);
    free(lines); free(caps); free(rows); free(out); free(f);
    estc_predictor_free(p);
    estc_model_free(m);
    if (fflush(stdout) != 0) return 1;
    return failed;
}

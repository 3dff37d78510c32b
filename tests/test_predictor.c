/*
 * test_predictor.c — in-process prediction on rows in memory (estc_predictor).
 *
 * Trains the census linear model briefly, then scores every row of
 * adult.test through estc_predict_rows and holds it to estc_predict over the
 * file (the same text for every row: class ids, probabilities and logits
 * printed to 9 digits): as text fields, as numbers, one row per call and all
 * rows in one call, and from two threads at once with a predictor each. Then
 * what a caller can get wrong: missing values without a default, unparsable
 * and non-finite numbers (the row is reported, the others predicted), bad
 * arguments, a model_dir without a checkpoint.
 */
#define _GNU_SOURCE
#include "check.h"
#include "estc/estc.h"

#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

static char tmpdir[64];

typedef struct table {
    int nrows, ncols;
    char **text;              /* nrows * ncols fields (strings into lines) */
    char **lines;
    char **expect;            /* estc_predict's output line per row */
} table;

static estc_model *open_model(const char *dir, int64_t steps)
{
    estc_open_options o;
    estc_open_options_init(&o);
    o.model_dir = dir;
    o.steps = steps;
    o.save_summary_steps = 0;
    o.seed = 5;
    o.data = NULL;
    estc_status st;
    estc_model *m = estc_model_open(check_src("examples/census/linear.est"), &o, &st);
    CHECK(m != NULL, "open the census model: %s", st.message);
    return m;
}

/* adult.test without its first line and without the label field (the last). */
static int load_rows(table *t, int ncols)
{
    FILE *f = fopen(check_src("examples/census/data/adult.test"), "r");
    if (!f) return -1;
    char *line = NULL;
    size_t cap = 0;
    int cap_rows = 0, lineno = 0;
    t->ncols = ncols;
    while (getline(&line, &cap, f) > 0) {
        if (lineno++ == 0) continue;
        line[strcspn(line, "\r\n")] = 0;
        if (!line[0]) continue;
        if (t->nrows == cap_rows) {
            cap_rows = cap_rows ? 2 * cap_rows : 1024;
            t->lines = realloc(t->lines, (size_t)cap_rows * sizeof *t->lines);
            t->text = realloc(t->text, (size_t)cap_rows * (size_t)ncols * sizeof *t->text);
        }
        char *s = t->lines[t->nrows] = strdup(line);
        for (int c = 0; c < ncols; c++) {
            t->text[t->nrows * ncols + c] = s;
            char *sep = strstr(s, ", ");
            if (!sep) { if (c != ncols - 1) return -1; break; }
            *sep = 0;
            s = sep + 2;
        }
        t->nrows++;
    }
    free(line);
    fclose(f);
    return 0;
}

/* estc_predict's CSV for the file: one line per row after the header. */
static int load_expected(estc_model *m, table *t)
{
    char path[128];
    snprintf(path, sizeof path, "%s/predict.csv", tmpdir);
    FILE *out = fopen(path, "w");
    estc_status st;
    int rc = estc_predict(m, out, ESTC_FORMAT_CSV, &st);
    fclose(out);
    CHECK(rc == 0, "estc_predict over adult.test: %s", st.message);
    if (rc != 0) return -1;
    FILE *in = fopen(path, "r");
    char *line = NULL;
    size_t cap = 0;
    t->expect = calloc((size_t)t->nrows, sizeof *t->expect);
    int i = -1;
    while (getline(&line, &cap, in) > 0) {
        line[strcspn(line, "\n")] = 0;
        if (i >= 0 && i < t->nrows) t->expect[i] = strdup(line);
        i++;
    }
    free(line);
    fclose(in);
    CHECK(i == t->nrows, "estc_predict wrote %d rows, the file has %d", i, t->nrows);
    return i == t->nrows ? 0 : -1;
}

static void format(const estc_prediction *p, char *buf, size_t n)
{
    snprintf(buf, n, "%d,%s,%.9g;%.9g,%.9g", p->class_id, p->class_name ? p->class_name : "",
             (double)p->probabilities[0], (double)p->probabilities[1], (double)p->logits[0]);
}

/* Rows [0, n) through p, `per_call` rows per call; returns the rows that differ. */
static int score(estc_predictor *p, const table *t, const estc_value *vals, int per_call)
{
    int differ = 0;
    estc_prediction *out = calloc((size_t)per_call, sizeof *out);
    estc_status st;
    for (int i = 0; i < t->nrows; i += per_call) {
        int n = t->nrows - i < per_call ? t->nrows - i : per_call;
        int64_t bad = estc_predict_rows(p, vals + (size_t)i * (size_t)t->ncols, n, out, &st);
        if (bad != 0) { differ += n; continue; }
        for (int k = 0; k < n; k++) {
            char buf[256];
            format(&out[k], buf, sizeof buf);
            if (strcmp(buf, t->expect[i + k]) != 0) {
                if (differ == 0) fprintf(stderr, "row %d: %s, estc_predict %s\n", i + k, buf, t->expect[i + k]);
                differ++;
            }
        }
    }
    free(out);
    return differ;
}

typedef struct tjob { estc_predictor *p; const table *t; const estc_value *vals; int per_call, differ; } tjob;

static void *run_job(void *arg)
{
    tjob *j = arg;
    for (int rep = 0; rep < 3; rep++) j->differ += score(j->p, j->t, j->vals, j->per_call);
    return NULL;
}

static void test_errors(estc_predictor *p, const table *t)
{
    estc_value row[3][14];
    for (int r = 0; r < 3; r++)
        for (int c = 0; c < 14; c++) row[r][c] = ESTC_STR(t->text[r * t->ncols + c]);
    int age = estc_predictor_column_index(p, "age"), wc = estc_predictor_column_index(p, "workclass");
    estc_prediction out[3];
    estc_status st;

    row[1][age] = ESTC_NUM(NAN);            /* missing, and age has no default */
    int64_t bad = estc_predict_rows(p, &row[0][0], 3, out, &st);
    CHECK(bad == 1 && out[1].error == age + 1 && out[1].class_id == -1 && isnan(out[1].probabilities[0]) &&
          isnan(out[1].value), "a missing age: row 1 reported (error %d, class %d)", out[1].error, out[1].class_id);
    CHECK(st.code == ESTC_EDATA && strstr(st.message, "row 1: column age:") && strstr(st.message, "missing"),
          "the message names the row and the column: %s", st.message);
    CHECK(out[0].error == 0 && out[2].error == 0 && out[0].class_id >= 0 && out[2].class_id >= 0,
          "the other rows are predicted");

    row[1][age] = ESTC_STR("forty");
    bad = estc_predict_rows(p, &row[0][0], 3, out, &st);
    CHECK(bad == 1 && out[1].error == age + 1 && strstr(st.message, "cannot parse \"forty\""),
          "unparsable text for a number: %s", st.message);
    row[1][age] = ESTC_NUM(INFINITY);
    bad = estc_predict_rows(p, &row[0][0], 3, out, &st);
    CHECK(bad == 1 && out[1].error == age + 1, "an infinite number is refused: %s", st.message);
    row[1][age] = ESTC_STR("?");            /* the source's missing token */
    bad = estc_predict_rows(p, &row[0][0], 3, out, &st);
    CHECK(bad == 1 && strstr(st.message, "missing"), "the missing token counts as missing: %s", st.message);

    /* a missing or unknown category is not an error: it contributes nothing */
    row[1][age] = ESTC_NUM(40);
    row[1][wc] = ESTC_STR(NULL);
    estc_prediction a, b;
    CHECK(estc_predict_rows(p, &row[1][0], 1, &a, &st) == 0 && a.error == 0, "missing workclass: predicted");
    row[1][wc] = ESTC_STR("Astronaut");
    CHECK(estc_predict_rows(p, &row[1][0], 1, &b, &st) == 0 && b.error == 0, "unknown workclass: predicted");
    CHECK(a.value == b.value, "missing and unknown categories give the same prediction (%g, %g)",
          (double)a.value, (double)b.value);
    row[1][wc] = ESTC_STR("Private");
    CHECK(estc_predict_rows(p, &row[1][0], 1, &b, &st) == 0 && b.value != a.value,
          "a known workclass changes the prediction");

    CHECK(estc_predict_rows(p, &row[0][0], -1, out, &st) == -1 && st.code == ESTC_EINVAL, "a negative count");
    CHECK(estc_predict_rows(p, NULL, 2, out, &st) == -1 && st.code == ESTC_EINVAL, "NULL rows");
    CHECK(estc_predict_rows(p, NULL, 0, NULL, &st) == 0, "no rows: nothing to do");
}

int main(void)
{
    snprintf(tmpdir, sizeof tmpdir, "/tmp/estc_test_predictor_XXXXXX");
    if (!mkdtemp(tmpdir)) { perror("mkdtemp"); return 1; }
    char dir[128], empty[128];
    snprintf(dir, sizeof dir, "%s/m", tmpdir);
    snprintf(empty, sizeof empty, "%s/empty", tmpdir);

    estc_status st;
    estc_model *e = open_model(empty, 0);
    if (e) {
        estc_predictor *none = estc_predictor_new(e, &st);
        CHECK(none == NULL && st.code == ESTC_EIO && strstr(st.message, "no checkpoint"),
              "no checkpoint: %s", st.message);
        estc_model_free(e);
    }

    estc_model *m = open_model(dir, 400);
    if (!m) return check_done("predictor");
    estc_train_result r;
    CHECK(estc_train(m, NULL, &r, &st) == 0, "train 400 steps: %s", st.message);
    estc_predictor *p = estc_predictor_new(m, &st);
    CHECK(p != NULL, "a predictor: %s", st.message);
    if (!p) { estc_model_free(m); return check_done("predictor"); }

    int nc = estc_predictor_ncolumns(p), is_str = -1;
    CHECK(nc == 14 && estc_predictor_label_column(p) == 14, "14 input columns, the label at 14 (%d)", nc);
    CHECK(strcmp(estc_predictor_column(p, 0, &is_str), "age") == 0 && is_str == 0, "column 0: age, a number");
    CHECK(strcmp(estc_predictor_column(p, 1, &is_str), "workclass") == 0 && is_str == 1, "column 1: a string");
    CHECK(estc_predictor_column(p, 14, NULL) == NULL && estc_predictor_column_index(p, "income_bracket") == -1,
          "the label is not an input column");
    CHECK(estc_predictor_nclasses(p) == 2 && strcmp(estc_predictor_class_name(p, 1), ">50K") == 0 &&
          estc_predictor_class_name(p, 2) == NULL, "two classes, named");

    table t = {0};
    CHECK(load_rows(&t, nc) == 0 && t.nrows == 16281, "adult.test: %d rows", t.nrows);
    if (t.nrows > 0 && load_expected(m, &t) == 0) {
        size_t nv = (size_t)t.nrows * (size_t)nc;
        estc_value *as_text = malloc(nv * sizeof *as_text), *as_num = malloc(nv * sizeof *as_num);
        for (size_t i = 0; i < nv; i++) {
            as_text[i] = ESTC_STR(t.text[i]);
            int c = (int)(i % (size_t)nc);
            estc_predictor_column(p, c, &is_str);
            char *end;
            double x = is_str ? 0 : strtod(t.text[i], &end);
            as_num[i] = is_str ? ESTC_STR(strcmp(t.text[i], "?") ? t.text[i] : NULL) : ESTC_NUM(x);
        }
        CHECK(score(p, &t, as_text, t.nrows) == 0, "all rows in one call, as text = estc_predict");
        CHECK(score(p, &t, as_num, 1) == 0, "one row per call, numbers as doubles = estc_predict");
        CHECK(score(p, &t, as_num, 97) == 0, "97 rows per call = estc_predict");

        /* two threads, a predictor each, scoring at once */
        estc_predictor *q = estc_predictor_new(m, &st);
        CHECK(q != NULL, "a second predictor: %s", st.message);
        if (q) {
            tjob j1 = { p, &t, as_text, 64, 0 }, j2 = { q, &t, as_num, 1, 0 };
            pthread_t th1, th2;
            pthread_create(&th1, NULL, run_job, &j1);
            pthread_create(&th2, NULL, run_job, &j2);
            pthread_join(th1, NULL);
            pthread_join(th2, NULL);
            CHECK(j1.differ == 0 && j2.differ == 0, "two threads at once: %d and %d rows differ", j1.differ, j2.differ);
            estc_predictor_free(q);
        }
        test_errors(p, &t);
        free(as_text);
        free(as_num);
    }
    for (int i = 0; i < t.nrows; i++) { free(t.lines[i]); if (t.expect) free(t.expect[i]); }
    free(t.lines); free(t.text); free(t.expect);
    estc_predictor_free(p);
    estc_model_free(m);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", tmpdir);
    return check_done("predictor");
}

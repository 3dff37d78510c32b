/*
 * test_frontend.c — the .est frontend: what examples/census/linear.est
 * compiles to (the es_spec contract and the three programs), the numbers the
 * lowered graphs compute (checked against hand computation through the
 * reference evaluator), TensorFlow's defaults, the fingerprint, source spans,
 * and that bad input gives diagnostics, never a crash.
 *
 * Expected values come from reading the model file and the data description
 * (adult.names), not from the compiler's output.
 */
#define _GNU_SOURCE
#include "check.h"
#include "frontend/frontend.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* ---- helpers ---------------------------------------------------------------- */

static char *slurp(const char *path)
{
    es_status st;
    es_status_clear(&st);
    char *t = es_read_file(path, NULL, &st);
    if (!t) fprintf(stderr, "cannot read %s: %s\n", path, st.msg);
    return t;
}

/* Compiles text; diagnostics are captured in *msgs (caller frees). */
static fe_model *compile_capture(const char *path, const char *text, int *nerrors, char **msgs)
{
    size_t n;
    FILE *f = open_memstream(msgs, &n);
    es_diags d;
    es_diags_init(&d, f);
    fe_model *m = fe_compile_text(path, text, &d);
    fclose(f);
    *nerrors = d.nerrors;
    return m;
}

static fe_model *compile_ok(const char *what, const char *text)
{
    int ne;
    char *msgs = NULL;
    fe_model *m = compile_capture("test.est", text, &ne, &msgs);
    CHECK(m && ne == 0, "%s compiles (errors: %s)", what, msgs);
    free(msgs);
    return m;
}

static const es_feature *feature(const es_spec *s, const char *name)
{
    for (int i = 0; i < s->nfeatures; i++)
        if (strcmp(s->features[i]->name, name) == 0) return s->features[i];
    return NULL;
}

static const gr_node *named(const gr_graph *g, gr_op op, const char *name)
{
    int id = gr_find_named(g, op, name);
    return id == GR_NONE ? NULL : &g->nodes[id];
}

static int shape_is(const gr_node *n, int rank, int64_t d0, int64_t d1)
{
    if (!n || n->shape.rank != rank) return 0;
    if (rank > 0 && n->shape.d[0] != d0) return 0;
    if (rank > 1 && n->shape.d[1] != d1) return 0;
    return 1;
}

static const gr_node *output(const gr_graph *g, const char *name)
{
    int id = gr_find_output(g, name);
    return id == GR_NONE ? NULL : &g->nodes[id];
}

static int ninputs(const gr_graph *g)
{
    int n = 0;
    for (int i = 0; i < g->n; i++) n += g->nodes[i].op == GR_INPUT;
    return n;
}

/* reference-evaluator buffers: tests/check.h */
typedef check_run run;

static void set_f(run *r, gr_op op, const char *name, const float *v, int n)
{
    memcpy(check_run_buf(r, op, name), v, sizeof(float) * (size_t)n);
}

static void set_i(run *r, const char *name, const int32_t *v, int n)
{
    memcpy(check_run_buf(r, GR_INPUT, name), v, sizeof(int32_t) * (size_t)n);
}

static void *out_buf(run *r, const char *name)
{
    int id = gr_find_output(r->g, name);
    if (id == GR_NONE) { fprintf(stderr, "no output %s\n", name); abort(); }
    return r->bufs[r->g->nodes[id].buf];
}

static double sigmoid(double z) { return 1 / (1 + exp(-z)); }

/* ---- the census model ---------------------------------------------------------- */

static void test_census_spec(const fe_model *m, const char *vocab_path)
{
    const es_spec *s = &m->spec;
    /* the columns, in the order of adult.names */
    static const char *const cols[15] = {
        "age", "workclass", "fnlwgt", "education", "education_num", "marital_status", "occupation",
        "relationship", "race", "gender", "capital_gain", "capital_loss", "hours_per_week",
        "native_country", "income_bracket" };
    static const es_coltype types[15] = {
        ES_COL_FLOAT, ES_COL_STRING, ES_COL_FLOAT, ES_COL_STRING, ES_COL_FLOAT, ES_COL_STRING,
        ES_COL_STRING, ES_COL_STRING, ES_COL_STRING, ES_COL_STRING, ES_COL_FLOAT, ES_COL_FLOAT,
        ES_COL_FLOAT, ES_COL_STRING, ES_COL_STRING };
    CHECK(s->train && strcmp(s->train->name, "adult") == 0, "train source is adult");
    CHECK(s->eval && strcmp(s->eval->name, "adult_test") == 0, "eval source is adult_test");
    if (!s->train || !s->eval) return;
    CHECK(s->train->ncols == 15, "adult has 15 columns, got %d", s->train->ncols);
    for (int i = 0; i < 15 && i < s->train->ncols; i++) {
        CHECK(strcmp(s->train->cols[i].name, cols[i]) == 0, "column %d is %s", i, cols[i]);
        CHECK(s->train->cols[i].type == types[i], "column %s has its declared type", cols[i]);
    }
    CHECK(s->eval->ncols == 15 && strcmp(s->eval->cols[14].name, "income_bracket") == 0,
          "schema = adult gives adult_test adult's columns");
    const char *p = s->train->path;
    size_t pl = strlen(p);
    CHECK(pl >= 31 && strcmp(p + pl - 31, "examples/census/data/adult.data") == 0,
          "the data path is resolved next to the .est file: %s", p);
    CHECK(strcmp(s->train->separator, ", ") == 0, "separator \", \"");
    CHECK(s->train->missing && strcmp(s->train->missing, "?") == 0, "missing \"?\"");
    CHECK(s->train->header == 0 && s->train->skip_rows == 0, "adult.data: no header, no skipped rows");
    CHECK(s->eval->skip_rows == 1, "adult.test skips its first line");
    CHECK(s->train->bad_rows == ES_BAD_ROWS_ERROR, "bad rows are errors by default");

    /* the label */
    CHECK(strcmp(s->label.name, "income") == 0 && s->label.kind == ES_LABEL_CLASS_VOCAB,
          "label income from a vocabulary");
    CHECK(s->label.column == 14, "the label reads income_bracket (column 14), got %d", s->label.column);
    CHECK(s->label.n_classes == 2 && strcmp(s->label.vocab[0], "<=50K") == 0 &&
          strcmp(s->label.vocab[1], ">50K") == 0, "classes <=50K, >50K");
    CHECK(s->label.rstrip && strcmp(s->label.rstrip, ".") == 0, "rstrip \".\"");
    CHECK(s->head == ES_HEAD_BINARY, "two classes make a binary head");
    CHECK(m->estimator && strcmp(m->estimator, "LinearClassifier") == 0, "LinearClassifier");

    /* the features, in declaration order */
    static const char *const decl[] = { "age", "age_b", "education", "marital", "relation", "workclass",
                                        "occupation", "country", "gain", "loss", "hours", "edu_occ",
                                        "age_edu_occ", "gain_b" };
    CHECK(s->nfeatures == 14, "14 features declared, got %d", s->nfeatures);
    for (int i = 0; i < 14 && i < s->nfeatures; i++)
        CHECK(strcmp(s->features[i]->name, decl[i]) == 0, "feature %d is %s", i, decl[i]);

    const es_feature *f = feature(s, "age_b");
    CHECK(f && f->kind == ES_FEAT_BUCKETIZED && f->column == 0 && f->categorical, "age_b bucketizes age");
    CHECK(f && f->nbounds == 10 && f->num_buckets == 11 && f->bounds[0] == 18 && f->bounds[9] == 65,
          "age_b: 10 boundaries 18..65, 11 buckets");
    /* the vocabulary file, counted here independently */
    char *voc = slurp(vocab_path);
    int lines = 0;
    for (char *q = voc; q && *q; q++) lines += *q == '\n';
    f = feature(s, "education");
    CHECK(f && f->kind == ES_FEAT_VOCAB && f->column == 3, "education: vocabulary of column 3");
    CHECK(f && f->nvocab == lines && lines == 16 && f->num_buckets == 16,
          "education.vocab's %d lines are its ids", lines);
    CHECK(f && voc && strncmp(voc, f->vocab[0], strlen(f->vocab[0])) == 0 && voc[strlen(f->vocab[0])] == '\n',
          "id 0 is the file's first line");
    CHECK(f && strcmp(f->vocab[15], "Preschool") == 0, "id 15 is the last line");
    free(voc);
    f = feature(s, "marital");
    CHECK(f && f->nvocab == 7 && f->num_buckets == 7 && f->num_oov == 0 && f->default_id == -1,
          "marital: 7 values, unknown -> no id");
    f = feature(s, "relation");
    CHECK(f && f->nvocab == 6 && f->column == 7, "relation: 6 values of relationship");
    f = feature(s, "workclass");
    CHECK(f && f->nvocab == 8 && f->num_oov == 1 && f->num_buckets == 9, "workclass: 8 values + 1 oov bucket");
    f = feature(s, "occupation");
    CHECK(f && f->kind == ES_FEAT_HASHED && f->column == 6 && f->num_buckets == 1000, "occupation hashed in 1000");
    f = feature(s, "country");
    CHECK(f && f->kind == ES_FEAT_HASHED && f->column == 13 && f->num_buckets == 1000, "country hashed in 1000");
    f = feature(s, "gain");
    CHECK(f && f->kind == ES_FEAT_NUMERIC && f->norm == ES_NORM_EXPR && f->column == 10 && f->width == 1,
          "gain: numeric with an expression");
    f = feature(s, "loss");
    CHECK(f && f->norm == ES_NORM_MINMAX && f->column == 11 && !f->categorical, "loss: minmax");
    f = feature(s, "hours");
    CHECK(f && f->norm == ES_NORM_ZSCORE && f->column == 12, "hours: zscore");
    f = feature(s, "edu_occ");
    CHECK(f && f->kind == ES_FEAT_CROSSED && f->ncross == 2 && f->num_buckets == 1000 &&
          f->cross[0] == feature(s, "education") && f->cross[1] == feature(s, "occupation"),
          "edu_occ crosses the education and occupation features");
    f = feature(s, "age_edu_occ");
    CHECK(f && f->ncross == 3 && f->cross[0] == feature(s, "age_b"), "age_edu_occ crosses three features");
    f = feature(s, "gain_b");
    CHECK(f && f->nbounds == 5 && f->num_buckets == 6 && f->column == 10, "gain_b: 6 buckets of capital_gain");

    /* what the model reads: the estimator's list, in its order */
    static const char *const used[] = { "age_b", "education", "marital", "relation", "workclass", "occupation",
                                        "country", "gain_b", "loss", "hours", "edu_occ", "age_edu_occ" };
    CHECK(s->nused == 12, "12 features used, got %d", s->nused);
    for (int i = 0; i < 12 && i < s->nused; i++)
        CHECK(strcmp(s->used[i]->name, used[i]) == 0, "used[%d] is %s", i, used[i]);

    /* the run block; log_every and eval_batch_size keep their defaults */
    CHECK(s->run.batch_size == 64 && s->run.epochs == 10 && s->run.shuffle_buffer == 10000 &&
          s->run.seed == 42 && s->run.steps == 0, "run settings as written");
    CHECK(s->run.log_every == 100 && s->run.eval_batch_size == 1024, "run defaults");
    const char *md = s->run.model_dir;
    CHECK(md && strlen(md) >= 28 && strcmp(md + strlen(md) - 28, "examples/census/model/linear") == 0,
          "model_dir next to the .est file: %s", md);
}

static void test_census_programs(const fe_model *m)
{
    const es_spec *s = &m->spec;
    for (int p = 0; p < 3; p++) {
        const gr_graph *g = m->prog[p];
        CHECK(g != NULL, "program %d exists", p);
        if (!g) return;
        int want = p == GR_PROG_PREDICT ? s->nused : s->nused + 1;
        CHECK(ninputs(g) == want, "program %d has %d inputs, got %d", p, want, ninputs(g));
        for (int i = 0; i < s->nused; i++) {
            const gr_node *in = named(g, GR_INPUT, s->used[i]->name);
            if (s->used[i]->categorical)
                CHECK(in && in->dtype == GR_I32 && shape_is(in, 1, GR_BATCH, 0), "%s: ids i32 [B]", s->used[i]->name);
            else
                CHECK(in && in->dtype == GR_F32 && shape_is(in, 2, GR_BATCH, 1), "%s: f32 [B,1]", s->used[i]->name);
            const gr_node *w = named(g, GR_PARAM, es_sprintf(m->arena, "linear/%s/weights", s->used[i]->name));
            int64_t rows = s->used[i]->categorical ? s->used[i]->num_buckets : 1;
            CHECK(w && shape_is(w, 2, rows, 1) && w->a[0] == GR_INIT_ZEROS && w->a[1] == 1,
                  "linear/%s/weights: zeros [%lld,1], trainable", s->used[i]->name, (long long)rows);
        }
        const gr_node *label = named(g, GR_INPUT, "label");
        if (p == GR_PROG_PREDICT) CHECK(!label, "predict takes no label");
        else CHECK(label && label->dtype == GR_I32 && shape_is(label, 1, GR_BATCH, 0), "label: i32 [B]");
        const gr_node *bias = named(g, GR_PARAM, "linear/bias");
        CHECK(bias && shape_is(bias, 1, 1, 0), "linear/bias [1]");
        const gr_node *mean = named(g, GR_PARAM, "hours/mean"), *std = named(g, GR_PARAM, "hours/std");
        CHECK(mean && std && mean->a[1] == 0 && std->a[1] == 0 && shape_is(mean, 1, 1, 0),
              "zscore statistics hours/mean, hours/std: [1], not trainable");
        CHECK(named(g, GR_PARAM, "loss/min") && named(g, GR_PARAM, "loss/max"), "minmax statistics loss/min, loss/max");
        CHECK(!named(g, GR_PARAM, "linear/age/weights") && !named(g, GR_INPUT, "gain"),
              "declared but unused features are not in the graph");
    }
    const gr_graph *t = m->prog[GR_PROG_TRAIN];
    CHECK(t->noutputs == 1 && shape_is(output(t, "loss"), 0, 0, 0), "train outputs the scalar loss only");
    const gr_node *acc = named(t, GR_PARAM, "linear/occupation/weights/accum");
    CHECK(acc && shape_is(acc, 2, 1000, 1) && acc->f[0] == 0.1, "ftrl slots with TF's initial accumulator 0.1");
    int nftrl = 0;
    for (int i = 0; i < t->n; i++)
        if (t->nodes[i].op == GR_APPLY_FTRL) {
            nftrl++;
            CHECK(t->nodes[i].f[0] == 0.2 && t->nodes[i].f[3] == -0.5, "ftrl(learning_rate = 0.2), lr_power -0.5");
        }
    CHECK(nftrl == 13, "one FTRL update per weight and the bias, got %d", nftrl);
    for (int p = GR_PROG_EVAL; p <= GR_PROG_PREDICT; p++) {
        const gr_graph *g = m->prog[p];
        CHECK(shape_is(output(g, "logits"), 2, GR_BATCH, 1), "binary logits [B,1]");
        CHECK(shape_is(output(g, "logistic"), 2, GR_BATCH, 1), "logistic [B,1]");
        CHECK(shape_is(output(g, "probabilities"), 2, GR_BATCH, 2), "probabilities [B,2]");
        const gr_node *c = output(g, "class_ids");
        CHECK(c && c->dtype == GR_I32 && shape_is(c, 1, GR_BATCH, 0), "class_ids i32 [B]");
    }
    CHECK(shape_is(output(m->prog[GR_PROG_EVAL], "example_loss"), 2, GR_BATCH, 1), "eval: example_loss [B,1]");
    CHECK(!output(m->prog[GR_PROG_PREDICT], "example_loss"), "predict: no loss");

    /* spans: a weight made by the stdlib points at the user's call site (the
     * estimator's class name), an input at its feature, the label input at the label */
    const char *text = m->src->text;
    const char *fd = strstr(text, "feature age_b"), *ld = strstr(text, "label income");
    const char *ed = strstr(text, "LinearClassifier(");
    int fline = 1, lline = 1, eline = 1, ecol = 1;
    for (const char *q = text; q < fd; q++) fline += *q == '\n';
    for (const char *q = text; q < ld; q++) lline += *q == '\n';
    for (const char *q = text; q < ed; q++) {
        eline += *q == '\n';
        ecol = *q == '\n' ? 1 : ecol + 1;
    }
    const gr_node *w = named(t, GR_PARAM, "linear/age_b/weights");
    CHECK(w && w->span.src == m->src && w->span.line == eline && w->span.col == ecol,
          "linear/age_b/weights carries the estimator's place %d:%d, got %d:%d", eline, ecol,
          w ? w->span.line : -1, w ? w->span.col : -1);
    const gr_node *in = named(t, GR_INPUT, "age_b");
    CHECK(in && in->span.src == m->src && in->span.line == fline && in->span.col == 1,
          "input age_b carries line %d of its declaration, got %d", fline, in ? in->span.line : -1);
    const gr_node *lab = named(t, GR_INPUT, "label");
    CHECK(lab && lab->span.line == lline, "the label input carries the label's line");
    int spanless = 0;
    for (int i = 0; i < t->n; i++) spanless += t->nodes[i].span.src == NULL;
    CHECK(spanless == 0, "every train node has a source span (%d without)", spanless);
}

/* ---- numbers: the lowered graphs compute what the model means ------------------ */

static const char binary_model[] =
    "source s = csv(\"d.csv\") { a: float, c: string, y: string }\n"
    "label y = vocabulary(y, [\"n\", \"p\"])\n"
    "feature ab = bucketized(a, [0, 10])\n"
    "feature cv = vocabulary(c, [\"u\", \"v\", \"w\"])\n"
    "feature an = numeric(a, normalize = (x - 2) / 4)\n"
    "feature ci = indicator(cv)\n"
    "estimator e = LinearClassifier(features = [ab, cv, an, ci])\n";

static void test_binary_numbers(void)
{
    fe_model *m = compile_ok("the binary model", binary_model);
    if (!m) return;
    CHECK(m->spec.nused == 3 && strcmp(m->spec.used[2]->name, "an") == 0,
          "indicator(cv) reads cv, which is used once");
    for (int p = GR_PROG_EVAL; p <= GR_PROG_PREDICT; p++) {
        run r = check_run_new(m->prog[p], 3);
        set_f(&r, GR_PARAM, "linear/ab/weights", (float[]){ 0.5f, -1, 2 }, 3);
        set_f(&r, GR_PARAM, "linear/cv/weights", (float[]){ 0.25f, 0, -0.75f }, 3);
        set_f(&r, GR_PARAM, "linear/an/weights", (float[]){ 3 }, 1);
        set_f(&r, GR_PARAM, "linear/ci/weights", (float[]){ 1, 2, 3 }, 3);
        set_f(&r, GR_PARAM, "linear/bias", (float[]){ 0.1f }, 1);
        set_i(&r, "ab", (int32_t[]){ 0, 2, -1 }, 3);
        set_i(&r, "cv", (int32_t[]){ 1, 2, 0 }, 3);
        set_f(&r, GR_INPUT, "an", (float[]){ 2, 6, -2 }, 3);
        if (p == GR_PROG_EVAL) set_i(&r, "label", (int32_t[]){ 1, 0, 0 }, 3);
        gr_eval(r.g, r.bufs, 3);
        /* by hand: ab's weight + cv's weight + 3 (a-2)/4 + ci's weight at cv's id + 0.1;
         * an id of -1 contributes nothing */
        const double z[3] = { 0.5 + 0 + 0 + 2 + 0.1, 2 - 0.75 + 3 + 3 + 0.1, 0 + 0.25 - 3 + 1 + 0.1 };
        const float *lg = out_buf(&r, "logits"), *lo = out_buf(&r, "logistic"), *pr = out_buf(&r, "probabilities");
        const int32_t *cls = out_buf(&r, "class_ids");
        for (int i = 0; i < 3; i++) {
            CHECK(check_close(lg[i], z[i], 1e-6, 1e-6), "logit %d: %g, by hand %g", i, lg[i], z[i]);
            CHECK(check_close(lo[i], sigmoid(z[i]), 1e-5, 1e-6), "logistic %d", i);
            CHECK(check_close(pr[2 * i + 1], sigmoid(z[i]), 1e-5, 1e-6) &&
                  check_close(pr[2 * i], 1 - sigmoid(z[i]), 1e-5, 1e-6), "probabilities %d = [1-p, p]", i);
            CHECK(cls[i] == (z[i] > 0), "class_ids %d", i);
        }
        if (p == GR_PROG_EVAL) {
            const float *el = out_buf(&r, "example_loss");
            const int y[3] = { 1, 0, 0 };
            for (int i = 0; i < 3; i++) {
                double want = y[i] ? -log(sigmoid(z[i])) : -log(1 - sigmoid(z[i]));
                CHECK(check_close(el[i], want, 1e-5, 1e-6), "example_loss %d: %g, cross-entropy %g", i, el[i], want);
            }
        }
        check_run_free(&r);
    }
    fe_model_free(m);
}

/* One SGD step of a regressor from zero weights, derived by hand:
 * loss = mean((w.x + b - y)^2), so dL/dw = (2/B) sum (pred - y) x = -(2/B) sum y x. */
static void test_regression_step(void)
{
    fe_model *m = compile_ok("the regressor",
        "source s = csv(\"d.csv\") { a: float, b: float, y: float }\n"
        "label y = numeric(y)\n"
        "feature fa = numeric(a)\n"
        "feature fb = numeric(b, normalize = zscore)\n"
        "estimator e = LinearRegressor(features = [fa, fb], optimizer = sgd(0.5))\n");
    if (!m) return;
    CHECK(m->spec.head == ES_HEAD_REGRESSION && m->spec.label.kind == ES_LABEL_NUMERIC, "numeric label: regression");
    const gr_node *y = named(m->prog[GR_PROG_TRAIN], GR_INPUT, "label");
    CHECK(y && y->dtype == GR_F32 && shape_is(y, 1, GR_BATCH, 0), "regression label: f32 [B]");
    CHECK(shape_is(output(m->prog[GR_PROG_PREDICT], "predictions"), 2, GR_BATCH, 1), "predictions [B,1]");
    run r = check_run_new(m->prog[GR_PROG_TRAIN], 2);
    set_f(&r, GR_PARAM, "fb/mean", (float[]){ 1 }, 1);
    set_f(&r, GR_PARAM, "fb/std", (float[]){ 2 }, 1);
    set_f(&r, GR_INPUT, "fa", (float[]){ 1, 3 }, 2);
    set_f(&r, GR_INPUT, "fb", (float[]){ 3, 5 }, 2);        /* normalised: 1, 2 */
    set_f(&r, GR_INPUT, "label", (float[]){ 2, -1 }, 2);
    gr_eval(r.g, r.bufs, 2);
    const float *loss = out_buf(&r, "loss");
    CHECK(check_close(*loss, (4 + 1) / 2.0, 1e-6, 1e-6), "loss = mean(y^2) = 2.5, got %g", *loss);
    const float *wa = check_run_buf(&r, GR_PARAM, "linear/fa/weights"), *wb = check_run_buf(&r, GR_PARAM, "linear/fb/weights");
    const float *b = check_run_buf(&r, GR_PARAM, "linear/bias"), *mean = check_run_buf(&r, GR_PARAM, "fb/mean");
    /* w_a = 0.5 (2/2)(2*1 - 1*3) = -0.5; w_b = 0.5 (2*1 - 1*2) = 0; b = 0.5 (2 - 1) = 0.5 */
    CHECK(check_close(wa[0], -0.5, 1e-6, 1e-6), "w_a after one step: %g", wa[0]);
    CHECK(check_close(wb[0], 0, 1e-6, 1e-6), "w_b after one step (zscored input): %g", wb[0]);
    CHECK(check_close(b[0], 0.5, 1e-6, 1e-6), "bias after one step: %g", b[0]);
    CHECK(mean[0] == 1, "statistics are not trained");
    check_run_free(&r);
    fe_model_free(m);
}

static void test_multiclass(void)
{
    fe_model *m = compile_ok("the multi-class model",
        "source s = csv(\"d.csv\") { k: int, c: string }\n"
        "label k = identity(k, num_classes = 3)\n"
        "feature h = hashed(c, 10)\n"
        "estimator e = LinearClassifier(features = [h], n_classes = 3, optimizer = adagrad(0.1))\n");
    if (!m) return;
    CHECK(m->spec.head == ES_HEAD_MULTICLASS && m->spec.label.kind == ES_LABEL_CLASS_INT &&
          m->spec.label.n_classes == 3, "identity label, 3 classes: multi-class head");
    const gr_graph *t = m->prog[GR_PROG_TRAIN];
    CHECK(shape_is(named(t, GR_PARAM, "linear/h/weights"), 2, 10, 3), "weights [10,3]");
    CHECK(shape_is(named(t, GR_PARAM, "linear/bias"), 1, 3, 0), "bias [3]");
    CHECK(named(t, GR_PARAM, "linear/h/weights/accum") != NULL, "adagrad's accumulator slot");
    CHECK(!output(m->prog[GR_PROG_PREDICT], "logistic"), "no logistic output for multi-class");
    run r = check_run_new(m->prog[GR_PROG_EVAL], 2);
    float w[30] = { 0 };
    w[3 * 4 + 0] = 1; w[3 * 4 + 1] = 2; w[3 * 4 + 2] = -1;      /* row 4 */
    set_f(&r, GR_PARAM, "linear/h/weights", w, 30);
    set_f(&r, GR_PARAM, "linear/bias", (float[]){ 0, 0.5f, 0 }, 3);
    set_i(&r, "h", (int32_t[]){ 4, 7 }, 2);
    set_i(&r, "label", (int32_t[]){ 1, 2 }, 2);
    gr_eval(r.g, r.bufs, 2);
    const double z[2][3] = { { 1, 2.5, -1 }, { 0, 0.5, 0 } };
    const float *pr = out_buf(&r, "probabilities"), *el = out_buf(&r, "example_loss");
    const int32_t *cls = out_buf(&r, "class_ids");
    for (int i = 0; i < 2; i++) {
        double se = exp(z[i][0]) + exp(z[i][1]) + exp(z[i][2]);
        for (int k = 0; k < 3; k++)
            CHECK(check_close(pr[3 * i + k], exp(z[i][k]) / se, 1e-5, 1e-6), "softmax %d,%d", i, k);
        int y = i == 0 ? 1 : 2;
        CHECK(check_close(el[i], log(se) - z[i][y], 1e-5, 1e-6), "softmax cross-entropy %d", i);
        CHECK(cls[i] == 1, "class_ids %d is the largest logit", i);
    }
    check_run_free(&r);
    fe_model_free(m);
}

/* TensorFlow's LinearClassifier default: FTRL, learning rate min(0.2, 1/sqrt(#features)). */
static void test_default_optimizer(void)
{
    char *text = strdup("source s = csv(\"d.csv\") { c: string, y: float }\nlabel y = numeric(y)\n");
    char *list = strdup("");
    for (int i = 0; i < 30; i++) {
        char *t2, *l2;
        if (asprintf(&t2, "%sfeature f%d = hashed(c, %d)\n", text, i, 10 + i) < 0) abort();
        if (asprintf(&l2, "%s%sf%d", list, i ? ", " : "", i) < 0) abort();
        free(text); free(list);
        text = t2; list = l2;
    }
    char *full;
    if (asprintf(&full, "%sestimator e = LinearRegressor(features = [%s])\n", text, list) < 0) abort();
    fe_model *m = compile_ok("30 features", full);
    if (m) {
        const gr_graph *t = m->prog[GR_PROG_TRAIN];
        int n = 0, ok = 1;
        for (int i = 0; i < t->n; i++)
            if (t->nodes[i].op == GR_APPLY_FTRL) {
                n++;
                ok &= check_close(t->nodes[i].f[0], 1 / sqrt(30.0), 1e-12, 0);
            }
        CHECK(n == 31 && ok, "default optimizer: ftrl at 1/sqrt(30) for 30 features");
        fe_model_free(m);
    }
    free(text); free(list); free(full);
    m = compile_ok("2 features",
        "source s = csv(\"d.csv\") { c: string, y: float }\nlabel y = numeric(y)\n"
        "feature a = hashed(c, 5)\nfeature b = hashed(c, 7)\n"
        "estimator e = LinearRegressor(features = [a, b], optimizer = ftrl(l1 = 0.5))\n");
    if (m) {
        const gr_graph *t = m->prog[GR_PROG_TRAIN];
        for (int i = 0; i < t->n; i++)
            if (t->nodes[i].op == GR_APPLY_FTRL)
                CHECK(t->nodes[i].f[0] == 0.2 && t->nodes[i].f[1] == 0.5,
                      "ftrl() keeps the 0.2 cap with few features; l1 passes through");
        fe_model_free(m);
    }
}

/* ---- the fingerprint identifies a model_dir's variables ------------------------- */

static uint64_t fingerprint_of(const char *path, const char *text)
{
    int ne;
    char *msgs = NULL;
    fe_model *m = compile_capture(path, text, &ne, &msgs);
    free(msgs);
    uint64_t h = m ? m->fingerprint : 0;
    fe_model_free(m);
    return h;
}

static char *replace(const char *s, const char *from, const char *to)
{
    const char *p = strstr(s, from);
    if (!p) return strdup(s);
    char *r;
    if (asprintf(&r, "%.*s%s%s", (int)(p - s), s, to, p + strlen(from)) < 0) abort();
    return r;
}

static void test_fingerprint(const char *path, const char *census)
{
    uint64_t h = fingerprint_of(path, census);
    CHECK(h != 0 && h == fingerprint_of(path, census), "the fingerprint is deterministic");
    char *t1 = replace(census, "hashed(occupation, 1000)", "hashed(occupation, 1001)");
    char *t2 = replace(census, "learning_rate = 0.2", "learning_rate = 0.05");
    char *t3 = replace(census, "optimizer = ftrl(learning_rate = 0.2, l1 = 0.0, l2 = 0.0)", "optimizer = sgd(0.1)");
    char *t4 = replace(census, "features = [age_b, education,", "features = [education, age_b,");
    CHECK(fingerprint_of(path, t1) != h, "a changed bucket count changes the fingerprint");
    CHECK(fingerprint_of(path, t2) == h, "a changed learning rate keeps it");
    CHECK(fingerprint_of(path, t3) != h, "another optimizer (other slots) changes it");
    CHECK(fingerprint_of(path, t4) == h, "the order of the feature list keeps it");
    free(t1); free(t2); free(t3); free(t4);
}

/* ---- bad input: diagnostics, never a crash ---------------------------------------- */

static void expect_errors(const char *what, const char *text, int nerrors, const char *needle)
{
    int ne;
    char *msgs = NULL;
    fe_model *m = compile_capture("bad.est", text, &ne, &msgs);
    CHECK(!m, "%s: no model", what);
    CHECK(nerrors < 0 ? ne > 0 : ne == nerrors, "%s: %d errors expected, got %d:\n%s", what, nerrors, ne, msgs);
    CHECK(!needle || (msgs && strstr(msgs, needle)), "%s: the message says \"%s\":\n%s", what, needle, msgs);
    fe_model_free(m);
    free(msgs);
}

static void test_errors(void)
{
    static const char head[] = "source s = csv(\"d.csv\") { a: float, c: string, y: float }\nlabel y = numeric(y)\n";
    char *t;
    if (asprintf(&t, "%sfeature f = bucketize(a, [1])\nestimator e = LinearRegressor(features = [f])\n", head) < 0) abort();
    expect_errors("a misspelt feature column", t, 1, "bad.est:3:13: error: unknown feature column 'bucketize' "
                  "(did you mean 'bucketized'?)");
    free(t);
    if (asprintf(&t, "%sfeature f = hashed(a, 10)\nestimator e = LinearRegressor(features = [f, g])\n", head) < 0) abort();
    expect_errors("a float column hashed, an unknown feature", t, 2, "hashed() needs a string column; 'a' is a float column");
    free(t);
    expect_errors("two syntax errors in one file", "feature a = f(x y)\nfeature b = g(1 2)\n", 2,
                  "bad.est:2:17: error: expected ')' or ',' after argument, found number 2");
    expect_errors("an unterminated string", "source s = csv(\"d.csv) { a: float }\n", -1, "unterminated string");
    char *deep = malloc(300010);
    strcpy(deep, "feature a = ");
    size_t n = strlen(deep);
    for (int i = 0; i < 100000; i++) deep[n++] = '(';
    deep[n++] = '1';
    for (int i = 0; i < 100000; i++) deep[n++] = ')';
    deep[n] = 0;
    expect_errors("100000 nested parentheses", deep, -1, "nested too deeply");
    n = strlen("feature a = ");
    for (int i = 0; i < 100000; i++) deep[n++] = '-';
    deep[n++] = '1';
    deep[n] = 0;
    expect_errors("100000 minus signs", deep, -1, "nested too deeply");
    free(deep);

    /* the file readers: a missing file, NUL and invalid UTF-8 bytes */
    es_diags d;
    char *msgs = NULL;
    size_t len;
    FILE *f = open_memstream(&msgs, &len);
    es_diags_init(&d, f);
    int ne = fe_check_file("/nonexistent/model.est", &d);
    fclose(f);
    CHECK(ne == 1 && strstr(msgs, "cannot open /nonexistent/model.est"), "a missing file is one error: %s", msgs);
    free(msgs);
    char path[] = "/tmp/estc_frontend_XXXXXX";
    int fd = mkstemp(path);
    static const char bytes[] = "feature a = hashed(c, 1)\x00\xff\nrun { }\n";
    CHECK(fd >= 0 && write(fd, bytes, sizeof bytes - 1) == (ssize_t)(sizeof bytes - 1), "temp file written");
    if (fd >= 0) close(fd);
    f = open_memstream(&msgs, &len);
    es_diags_init(&d, f);
    ne = fe_check_file(path, &d);
    fclose(f);
    CHECK(ne == 2 && strstr(msgs, "NUL byte") && strstr(msgs, "invalid UTF-8 byte 0xFF"),
          "NUL and 0xFF bytes are two located errors:\n%s", msgs);
    free(msgs);
    unlink(path);
}

int main(void)
{
    const char *census_path = check_src("examples/census/linear.est");
    char *census = slurp(census_path);
    CHECK(census != NULL, "examples/census/linear.est is readable");
    if (!census) return check_done("test_frontend");
    es_diags d;
    es_diags_init(&d, stderr);
    fe_model *m = fe_compile_file(census_path, &d);
    CHECK(m && d.nerrors == 0 && d.nwarnings == 0, "linear.est compiles without a diagnostic");
    if (m) {
        test_census_spec(m, check_src("examples/census/data/education.vocab"));
        test_census_programs(m);
        fe_model_free(m);
    }
    test_binary_numbers();
    test_regression_step();
    test_multiclass();
    test_default_optimizer();
    test_fingerprint(census_path, census);
    test_errors();
    free(census);
    return check_done("test_frontend");
}

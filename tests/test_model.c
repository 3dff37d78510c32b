/*
 * test_model.c — model functions: what the language's constructs compute
 * (run through the reference evaluator and compared with the arithmetic done
 * by hand here), how variables are named and initialised, what differs
 * between the train, eval and predict programs (dropout, batch
 * normalisation, the label), hyper-parameter overrides, optimizer groups,
 * the head's conventional outputs, and that broken models give diagnostics,
 * never a crash or a hang.
 *
 * Expected values come from the model text and hand computation, not from
 * the compiler's output.
 */
#define _GNU_SOURCE
#include "check.h"
#include "frontend/frontend.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* ---- helpers ---------------------------------------------------------------------- */

static fe_model *compile(const char *text, int *nerrors, char **msgs)
{
    size_t n;
    FILE *f = open_memstream(msgs, &n);
    es_diags d;
    es_diags_init(&d, f);
    fe_model *m = fe_compile_text("test.est", text, &d);
    fclose(f);
    *nerrors = d.nerrors;
    return m;
}

static fe_model *compile_ok(const char *what, const char *text)
{
    int ne;
    char *msgs = NULL;
    fe_model *m = compile(text, &ne, &msgs);
    CHECK(m && ne == 0, "%s compiles (errors: %s)", what, msgs);
    free(msgs);
    return m;
}

/* Compiles text that must fail with nerrors errors, one mentioning needle. */
static void expect_errors(const char *what, const char *text, int nerrors, const char *needle)
{
    int ne;
    char *msgs = NULL;
    fe_model *m = compile(text, &ne, &msgs);
    CHECK(!m && ne == nerrors && msgs && strstr(msgs, needle), "%s: %d error(s) mentioning '%s' expected, got %d:\n%s",
          what, nerrors, needle, ne, msgs ? msgs : "");
    fe_model_free(m);
    free(msgs);
}

static const gr_node *named(const gr_graph *g, gr_op op, const char *name)
{
    int id = gr_find_named(g, op, name);
    return id == GR_NONE ? NULL : &g->nodes[id];
}

static int count_op(const gr_graph *g, gr_op op)
{
    int n = 0;
    for (int i = 0; i < g->n; i++) n += g->nodes[i].op == op;
    return n;
}

/* reference-evaluator buffers: tests/check.h */
typedef check_run run;

static float *out_f(run *r, const char *name)
{
    int id = gr_find_output(r->g, name);
    if (id == GR_NONE) { fprintf(stderr, "no output %s\n", name); abort(); }
    return r->bufs[r->g->nodes[id].buf];
}

#define SRC2 "source s = csv(\"x.csv\") { a: float, b: float, c: string, y: float }\n"

/* ---- tensor expressions compute what they say ------------------------------------- */

static void test_expressions(void)
{
    const char *text = SRC2
        "label y = numeric(y)\n"
        "feature a = numeric(a)\n"
        "feature b = numeric(b)\n"
        "model m(x = input_layer([a, b])) {\n"
        "    w = variable([2, 3], init = constant(0.5))\n"
        "    h = x @ w\n"                                   /* [B,3]: (a+b)/2 each */
        "    z = concat([h, x])\n"                          /* [B,5]: h, a, b */
        "    part = z[:, 2:4]\n"                            /* [B,2]: h, a */
        "    r = sum(part, axis = 1, keepdims = true) + max(z, axis = 1, keepdims = true)\n"
        "    r = r - mean(x, axis = -1, keepdims = true) * 2\n"
        "    out = select(x[:, 0:1] > 1, r, -r)\n"
        "    q = transpose(reshape(x[:, 1], [-1, 1]))\n"    /* [1,B] */
        "    loss = square(out - labels)\n"
        "    predictions = { predictions = out, second = leaky_relu(x - 1, alpha = 0.5) }\n"
        "    metrics = { big = out > 0 }\n"
        "    optimizer = sgd(0.1)\n"
        "}\n"
        "estimator e = m()\n";
    fe_model *m = compile_ok("tensor expressions", text);
    if (!m) return;
    gr_graph *g = m->prog[GR_PROG_EVAL];
    run r = check_run_new(g, 2);
    float x[4] = { 2, 1, 0.5f, 3 };   /* rows (a, b) */
    memcpy(check_run_buf(&r, GR_INPUT, "a"), (float[]){ x[0], x[2] }, sizeof(float) * 2);
    memcpy(check_run_buf(&r, GR_INPUT, "b"), (float[]){ x[1], x[3] }, sizeof(float) * 2);
    memcpy(check_run_buf(&r, GR_INPUT, "label"), (float[]){ 1, -2 }, sizeof(float) * 2);
    gr_eval(g, r.bufs, 2);
    const float *out = out_f(&r, "predictions"), *loss = out_f(&r, "example_loss");
    const float *second = out_f(&r, "second"), *big = out_f(&r, "metric/big");
    float y[2] = { 1, -2 };
    for (int i = 0; i < 2; i++) {
        double a = x[2 * i], b = x[2 * i + 1], h = (a + b) / 2;
        double mx = fmax(fmax(h, a), b);
        double rv = h + a + mx - (a + b) / 2 * 2;
        double want = a > 1 ? rv : -rv;
        CHECK(check_close(out[i], want, 1e-6, 1e-6), "row %d: out %g, by hand %g", i, out[i], want);
        CHECK(check_close(loss[i], (want - y[i]) * (want - y[i]), 1e-5, 1e-5), "row %d: the loss is the squared error", i);
        CHECK(check_close(big[i], want > 0, 0, 0), "row %d: a comparison gives 1/0 per example", i);
        double la = a - 1 > 0 ? a - 1 : 0.5 * (a - 1), lb = b - 1 > 0 ? b - 1 : 0.5 * (b - 1);
        CHECK(check_close(second[2 * i], la, 1e-6, 0) && check_close(second[2 * i + 1], lb, 1e-6, 0),
              "row %d: leaky_relu with alpha 0.5", i);
    }
    CHECK(gr_find_output(g, "metric/big") != GR_NONE, "metrics are eval outputs named metric/NAME");
    CHECK(gr_find_output(m->prog[GR_PROG_TRAIN], "metric/big") == GR_NONE, "train has no metric outputs");
    CHECK(named(m->prog[GR_PROG_PREDICT], GR_INPUT, "label") == NULL, "predict reads no label");
    CHECK(gr_find_output(m->prog[GR_PROG_PREDICT], "predictions") != GR_NONE, "predict has the predictions");
    check_run_free(&r);
    fe_model_free(m);
}

/* Numbers, lists, strings and control flow are evaluated when the model compiles. */
static void test_compile_time(void)
{
    const char *ok = SRC2
        "label y = numeric(y)\n"
        "feature a = numeric(a)\n"
        "def widths(n, base = 2) {\n"
        "    r = []\n"
        "    for i in range(n) { r = r + [base * (i + 1)] }\n"
        "    return r\n"
        "}\n"
        "model m(x = input_layer([a])) {\n"
        "    param sizes = widths(3)\n"
        "    h = x\n"
        "    for i, n in sizes { h = dense(h, n, name = \"layer_\" + str(i)) }\n"
        "    if len(sizes) == 3 and not (sizes[0] != 2) { h = dense(h, 1, name = \"out\") }\n"
        "    else { h = dense(h, 2, name = \"wrong\") }\n"
        "    loss = square(h - labels)\n"
        "    predictions = { predictions = h }\n"
        "    optimizer = sgd(0.1)\n"
        "}\n"
        "estimator e = m()\n";
    fe_model *m = compile_ok("loops, helpers and conditions", ok);
    if (!m) return;
    const gr_graph *t = m->prog[GR_PROG_TRAIN];
    const gr_node *k0 = named(t, GR_PARAM, "layer_0/kernel"), *k2 = named(t, GR_PARAM, "layer_2/kernel");
    const gr_node *o = named(t, GR_PARAM, "out/kernel");
    CHECK(k0 && k0->shape.d[0] == 1 && k0->shape.d[1] == 2, "layer_0/kernel is [1,2]");
    CHECK(k2 && k2->shape.d[0] == 4 && k2->shape.d[1] == 6, "layer_2/kernel is [4,6]");
    CHECK(o && o->shape.d[0] == 6 && o->shape.d[1] == 1, "the if took its true branch: out/kernel [6,1]");
    CHECK(!named(t, GR_PARAM, "wrong/kernel"), "the else branch made nothing");
    CHECK(k0 && k0->a[0] == GR_INIT_GLOROT_UNIFORM, "dense kernels are Glorot-uniform (TensorFlow's default)");
    const gr_node *b0 = named(t, GR_PARAM, "layer_0/bias");
    CHECK(b0 && b0->a[0] == GR_INIT_ZEROS, "dense biases start at zero");
    fe_model_free(m);
}

/* ---- names, scopes, initialisers, overrides ------------------------------------------ */

static const char census_head[] =
    "source adult = csv(\"data/adult.data\") { age: float, occupation: string, education: string,"
    " hours: float, income: string }\n"
    "label income = vocabulary(income, [\"<=50K\", \">50K\"])\n"
    "feature age = numeric(age, normalize = zscore)\n"
    "feature hours = numeric(hours)\n"
    "feature occ = hashed(occupation, 100)\n"
    "feature edu = hashed(education, 16)\n"
    "feature unused = numeric(hours)\n";

static char *with_head(const char *rest)
{
    char *s = NULL;
    if (asprintf(&s, "%s%s", census_head, rest) < 0) abort();
    return s;
}

static void test_dnn_names(void)
{
    char *text = with_head("estimator e = DNNClassifier(hidden_units = [8, 4], "
                           "feature_columns = [age, embedding(occ, 6), indicator(edu)], dropout = 0.25)\n");
    fe_model *m = compile_ok("a DNNClassifier", text);
    free(text);
    if (!m) return;
    const gr_graph *t = m->prog[GR_PROG_TRAIN];
    const gr_node *k0 = named(t, GR_PARAM, "dnn/hiddenlayer_0/kernel");
    const gr_node *k1 = named(t, GR_PARAM, "dnn/hiddenlayer_1/kernel");
    const gr_node *kl = named(t, GR_PARAM, "dnn/logits/kernel");
    const gr_node *emb = named(t, GR_PARAM, "dnn/occ_embedding/embedding_weights");
    CHECK(k0 && k0->shape.d[0] == 1 + 6 + 16 && k0->shape.d[1] == 8,
          "hidden layer 0 reads age (1) + the embedding (6) + the one-hot (16)");
    CHECK(k1 && k1->shape.d[0] == 8 && k1->shape.d[1] == 4, "hidden layer 1 is [8,4]");
    CHECK(kl && kl->shape.d[0] == 4 && kl->shape.d[1] == 1, "two classes: one logit");
    CHECK(emb && emb->shape.d[0] == 100 && emb->shape.d[1] == 6, "the embedding table is [buckets, dimension]");
    CHECK(emb && emb->a[0] == GR_INIT_TRUNC_NORMAL && check_close(emb->f[1], 1 / sqrt(6.0), 1e-12, 0),
          "embeddings: truncated normal with stddev 1/sqrt(dimension), as TensorFlow");
    CHECK(count_op(t, GR_APPLY_ADAGRAD) == 7, "Adagrad updates every trainable variable (got %d)",
          count_op(t, GR_APPLY_ADAGRAD));
    for (int i = 0; i < t->n; i++)
        if (t->nodes[i].op == GR_APPLY_ADAGRAD)
            CHECK(check_close(t->nodes[i].f[0], 0.05, 1e-12, 0), "DNN's default learning rate is 0.05");
    /* dropout only in training, keyed on the global step */
    /* forward and backward: the gradient is a dropout with the same seed */
    CHECK(count_op(t, GR_DROPOUT) == 4, "a dropout per hidden layer and its gradient (got %d)", count_op(t, GR_DROPOUT));
    CHECK(named(t, GR_INPUT, "global_step") != NULL, "train reads the global step (dropout masks)");
    for (int p = GR_PROG_EVAL; p <= GR_PROG_PREDICT; p++) {
        CHECK(count_op(m->prog[p], GR_DROPOUT) == 0, "no dropout in eval or predict");
        CHECK(named(m->prog[p], GR_INPUT, "global_step") == NULL, "eval/predict do not read the step");
    }
    int64_t seeds[8];
    int nseeds = 0;
    for (int i = 0; i < t->n; i++)
        if (t->nodes[i].op == GR_DROPOUT) {
            int seen = 0;
            for (int k = 0; k < nseeds; k++) seen |= seeds[k] == t->nodes[i].a[0];
            if (!seen && nseeds < 8) seeds[nseeds++] = t->nodes[i].a[0];
            CHECK(check_close(t->nodes[i].f[0], 0.25, 0, 0), "dropout rate 0.25");
        }
    CHECK(nseeds == 2, "each dropout layer has its own seed (%d distinct)", nseeds);
    /* another run seed re-keys every dropout node, forward and gradient alike */
    int64_t before[16];
    int nd = 0;
    for (int i = 0; i < t->n && nd < 16; i++) if (t->nodes[i].op == GR_DROPOUT) before[nd++] = t->nodes[i].a[0];
    fe_model_reseed(m, 7);
    int changed = 0, k = 0;
    int64_t after[16];
    for (int i = 0; i < t->n && k < 16; i++)
        if (t->nodes[i].op == GR_DROPOUT) { after[k] = t->nodes[i].a[0]; changed += after[k] != before[k]; k++; }
    CHECK(changed == nd && m->spec.run.seed == 7, "reseeding changes all %d dropout seeds (%d changed)", nd, changed);
    int pairs_kept = 1;
    for (int i = 0; i < nd; i++)
        for (int j = 0; j < nd; j++)
            if ((before[i] == before[j]) != (after[i] == after[j])) pairs_kept = 0;
    CHECK(pairs_kept, "a gradient keeps its forward layer's seed after reseeding");
    /* spec.used: what the programs read; the unused feature is not fed */
    int has_unused = 0, has_occ = 0;
    for (int i = 0; i < m->spec.nused; i++) {
        has_unused |= strcmp(m->spec.used[i]->name, "unused") == 0;
        has_occ |= strcmp(m->spec.used[i]->name, "occ") == 0;
    }
    CHECK(!has_unused && has_occ && m->spec.nused == 3, "used = age, occ, edu (got %d)", m->spec.nused);
    CHECK(m->estimator && strcmp(m->estimator, "DNNClassifier") == 0, "the estimator's model is named");
    fe_model_free(m);
}

static void test_batch_norm_modes(void)
{
    char *text = with_head("estimator e = DNNRegressor(hidden_units = [4], feature_columns = [age, hours], "
                           "batch_norm = true)\n");
    /* the label is a class: DNNRegressor refuses it, at the estimator */
    int ne;
    char *msgs = NULL;
    fe_model *bad = compile(text, &ne, &msgs);
    CHECK(!bad && ne == 1 && strstr(msgs, "DNNRegressor needs a numeric label"), "a regressor on classes: %s", msgs);
    free(msgs);
    free(text);
    text = with_head("estimator e = DNNClassifier(hidden_units = [4], feature_columns = [age, hours], "
                     "batch_norm = true)\n");
    fe_model *m = compile_ok("DNN with batch normalisation", text);
    free(text);
    if (!m) return;
    const gr_graph *t = m->prog[GR_PROG_TRAIN], *e = m->prog[GR_PROG_EVAL];
    CHECK(count_op(t, GR_ASSIGN_EMA) == 2, "train moves the two moving averages (got %d)", count_op(t, GR_ASSIGN_EMA));
    CHECK(count_op(e, GR_ASSIGN_EMA) == 0, "eval changes no statistics");
    CHECK(count_op(t, GR_MEAN_AXIS) >= 2 && count_op(e, GR_MEAN_AXIS) == 0,
          "train normalises with batch statistics, eval with the moving averages");
    const gr_node *mv = named(t, GR_PARAM, "dnn/batchnorm_0/moving_variance");
    CHECK(mv && mv->a[1] == 0 && mv->a[0] == GR_INIT_CONST && mv->f[0] == 1,
          "moving_variance: not trained, starts at 1");
    for (int i = 0; i < t->n; i++)
        if (t->nodes[i].op == GR_ASSIGN_EMA)
            CHECK(check_close(t->nodes[i].f[0], 0.999, 1e-12, 0), "TensorFlow's DNN batch norm momentum 0.999");
    fe_model_free(m);
}

static void test_overrides_and_groups(void)
{
    char *text = with_head(
        "model tower(x = input_layer([age, hours]), y = income) {\n"
        "    param width = 3\n"
        "    param opt = sgd(1)\n"
        "    scope \"deep\" { h = dense(x, width, relu) }\n"
        "    scope \"wide\" { w = variable([2, 1], init = zeros) }\n"
        "    logits = dense(h, 1) + x @ w\n"
        "    loss = sigmoid_cross_entropy(logits, y)\n"
        "    predictions = { probabilities = concat([1 - sigmoid(logits), sigmoid(logits)]) }\n"
        "    optimizer = { wide: ftrl(learning_rate = 0.3), deep: opt, dense: sgd(0.5) }\n"
        "}\n"
        "estimator e = tower(width = 7, opt = adam)\n");
    fe_model *m = compile_ok("hyper-parameter overrides and optimizer groups", text);
    free(text);
    if (!m) return;
    const gr_graph *t = m->prog[GR_PROG_TRAIN];
    const gr_node *k = named(t, GR_PARAM, "deep/dense/kernel");
    CHECK(k && k->shape.d[1] == 7, "width = 7 overrides the default 3");
    CHECK(count_op(t, GR_APPLY_FTRL) == 1 && count_op(t, GR_APPLY_ADAM) == 2 && count_op(t, GR_APPLY_SGD) == 2,
          "wide: ftrl (1 variable), deep: adam (2), dense: sgd (2); got %d %d %d", count_op(t, GR_APPLY_FTRL),
          count_op(t, GR_APPLY_ADAM), count_op(t, GR_APPLY_SGD));
    for (int i = 0; i < t->n; i++)
        if (t->nodes[i].op == GR_APPLY_SGD)
            CHECK(t->nodes[i].f[0] == 0.5, "sgd at 0.5 only for the dense scope: the default sgd(1) was "
                  "overridden by a bare optimizer name (a call with its defaults)");
    /* the head's outputs the model did not name are made from what it predicts */
    for (int p = GR_PROG_EVAL; p <= GR_PROG_PREDICT; p++) {
        const gr_graph *g = m->prog[p];
        int lg = gr_find_output(g, "logistic"), ci = gr_find_output(g, "class_ids"), lo = gr_find_output(g, "logits");
        CHECK(lg != GR_NONE && g->nodes[lg].shape.rank == 2 && g->nodes[lg].shape.d[1] == 1,
              "binary head: logistic [B,1] from probabilities");
        CHECK(ci != GR_NONE && g->nodes[ci].dtype == GR_I32, "binary head: class_ids");
        CHECK(lo != GR_NONE && g->nodes[lo].shape.d[1] == 1, "binary head: logits [B,1]");
    }
    fe_model_free(m);
}

/* The linear estimators' FTRL rate follows TensorFlow: min(0.2, 1/sqrt(n)) for
 * linear models, min(0.005, 1/sqrt(n)) for the linear part of wide & deep. */
static void test_default_rates(void)
{
    char *text = with_head("estimator e = DNNLinearCombinedClassifier(linear_feature_columns = [occ, edu],"
                           " dnn_feature_columns = [age], dnn_hidden_units = [2])\n");
    fe_model *m = compile_ok("wide & deep", text);
    free(text);
    if (!m) return;
    const gr_graph *t = m->prog[GR_PROG_TRAIN];
    int nf = 0, na = 0;
    for (int i = 0; i < t->n; i++) {
        const gr_node *n = &t->nodes[i];
        const char *var = t->nodes[n->in[0]].name;
        if (n->op == GR_APPLY_FTRL) {
            nf++;
            CHECK(strncmp(var, "linear/", 7) == 0 && check_close(n->f[0], 0.005, 1e-12, 0),
                  "%s: FTRL at min(0.005, 1/sqrt(2))", var);
        }
        if (n->op == GR_APPLY_ADAGRAD) {
            na++;
            CHECK(strncmp(var, "dnn/", 4) == 0 && check_close(n->f[0], 0.001, 1e-12, 0),
                  "%s: Adagrad at 0.001", var);
        }
    }
    CHECK(nf == 3 && na == 4, "3 linear variables on FTRL, 4 DNN variables on Adagrad (got %d, %d)", nf, na);
    fe_model_free(m);

    char many[4096] = "";
    for (int i = 0; i < 30; i++) {
        char line[80];
        snprintf(line, sizeof line, "feature f%d = hashed(occupation, %d)\n", i, 10 + i);
        strcat(many, line);
    }
    strcat(many, "estimator e = LinearClassifier(features = [");
    for (int i = 0; i < 30; i++) {
        char item[16];
        snprintf(item, sizeof item, "%sf%d", i ? ", " : "", i);
        strcat(many, item);
    }
    strcat(many, "])\n");
    text = with_head(many);
    m = compile_ok("a linear model of 30 features", text);
    free(text);
    if (!m) return;
    t = m->prog[GR_PROG_TRAIN];
    int checked = 0;
    for (int i = 0; i < t->n; i++)
        if (t->nodes[i].op == GR_APPLY_FTRL) {
            checked++;
            CHECK(check_close(t->nodes[i].f[0], 1 / sqrt(30.0), 1e-9, 0), "FTRL at 1/sqrt(30) < 0.2");
        }
    CHECK(checked == 31, "30 weight tables and the bias (got %d)", checked);
    fe_model_free(m);
}

/* Baseline: one bias per class, the same logits for every example. */
static void test_baseline(void)
{
    char *text = with_head("estimator e = BaselineClassifier()\n");
    fe_model *m = compile_ok("a BaselineClassifier", text);
    free(text);
    if (!m) return;
    gr_graph *g = m->prog[GR_PROG_PREDICT];
    run r = check_run_new(g, 3);
    float *bias = check_run_buf(&r, GR_PARAM, "baseline/bias");
    bias[0] = 0.75f;
    gr_eval(g, r.bufs, 3);
    const float *logits = out_f(&r, "logits"), *p = out_f(&r, "logistic");
    for (int i = 0; i < 3; i++) {
        CHECK(logits[i] == 0.75f, "example %d: the logit is the bias (%g)", i, logits[i]);
        CHECK(check_close(p[i], 1 / (1 + exp(-0.75)), 1e-6, 0), "example %d: sigmoid of the bias", i);
    }
    const gr_graph *t = m->prog[GR_PROG_TRAIN];
    CHECK(count_op(t, GR_APPLY_FTRL) == 1 && check_close(t->nodes[t->n - 1].f[0], 0.3, 1e-12, 0),
          "FTRL 0.3 on the bias alone");
    check_run_free(&r);
    fe_model_free(m);
}

/* weight_column multiplies each example's loss. */
static void test_weights(void)
{
    char *text = with_head("feature w = numeric(hours)\n"
                           "estimator e = LinearClassifier(features = [age], weight_column = w)\n");
    fe_model *m = compile_ok("a weighted linear model", text);
    free(text);
    if (!m) return;
    gr_graph *g = m->prog[GR_PROG_EVAL];
    run r = check_run_new(g, 2);
    memcpy(check_run_buf(&r, GR_INPUT, "age"), (float[]){ 1, 2 }, sizeof(float) * 2);
    memcpy(check_run_buf(&r, GR_INPUT, "w"), (float[]){ 3, 0.5f }, sizeof(float) * 2);
    memcpy(check_run_buf(&r, GR_INPUT, "label"), (int32_t[]){ 1, 0 }, sizeof(int32_t) * 2);
    gr_eval(g, r.bufs, 2);
    const float *l = out_f(&r, "example_loss");
    /* zero weights: logit 0, loss log 2 per example, times its weight */
    CHECK(check_close(l[0], 3 * log(2.0), 1e-6, 0) && check_close(l[1], 0.5 * log(2.0), 1e-6, 0),
          "example losses %g %g are weight * log 2", l[0], l[1]);
    check_run_free(&r);
    fe_model_free(m);
}

/* ---- broken models: diagnostics, not crashes ------------------------------------------ */

static void test_errors(void)
{
    char *t;
    t = with_head("def f(x) { return g(x) }\ndef g(x) { return f(x) }\n"
                  "model m(x = input_layer([age])) { loss = f(x) predictions = { p = x } optimizer = sgd(1) }\n"
                  "estimator e = m()\n");
    expect_errors("mutual recursion", t, 1, "recursive call: f() -> g() -> f()");
    free(t);
    t = with_head("model m(x = input_layer([age])) {\n"
                  "    h = x\n    for i in range(100001) { h = h + 1 }\n"
                  "    loss = h predictions = { p = h } optimizer = sgd(1) }\n"
                  "estimator e = m()\n");
    expect_errors("a loop that is too long", t, 1, "more than 100000");
    free(t);
    t = with_head("model m(x = input_layer([age])) {\n"
                  "    r = range(5000) for i in r { for j in r { k = i } }\n"
                  "    loss = mean(x) predictions = { p = x } optimizer = sgd(1) }\n"
                  "estimator e = m()\n");
    expect_errors("loops inside loops end with a message", t, 1, "the model takes too long to build");
    free(t);
    t = with_head("model m(x = input_layer([age])) {\n"
                  "    s = \"ab\" for i in range(40) { s = s + s }\n"
                  "    loss = mean(x) predictions = { p = x } optimizer = sgd(1) }\n"
                  "estimator e = m()\n");
    expect_errors("a string that doubles forever", t, 1, "longer than 1048576 bytes");
    free(t);
    t = with_head("estimator e = DNNClassifier(hidden_units = [4], feature_columns = [occ])\n");
    expect_errors("a categorical column fed to a DNN", t, 1, "use indicator(occ) or embedding(occ, DIMENSION)");
    free(t);
    t = with_head("estimator e = DNNClassifier(hidden_units = [4], feature_columns = [age], n_classes = 3)\n");
    expect_errors("n_classes against the label", t, 1, "n_classes is 3 but label 'income' has 2 classes");
    free(t);
    t = with_head("estimator e = LinearClassifier(features = [age], label_vocabulary = [\"a\", \"b\"])\n");
    expect_errors("label_vocabulary against the label", t, 1, "label_vocabulary differs");
    free(t);
    t = with_head("model m(x = input_layer([age])) { w = variable([1, 2]) loss = mean(x @ w)\n"
                  "    predictions = { p = x @ transpose(w) } optimizer = sgd(1) }\n"
                  "estimator e = m()\n");
    expect_errors("matmul shapes", t, 1, "matmul: inner dimensions 1 and 2 differ");
    free(t);
    t = with_head("model m(x = input_layer([age])) { loss = mean(x) predictions = { p = x[:, 3] }\n"
                  "    optimizer = sgd(1) }\nestimator e = m()\n");
    expect_errors("an index out of range", t, 1, "index 3 is out of range (the size is 1)");
    free(t);
    t = with_head("model m(x = input_layer([age])) { loss = mean(x) predictions = { p = x[0] }\n"
                  "    optimizer = sgd(1) }\nestimator e = m()\n");
    expect_errors("indexing the batch", t, 1, "axis 0 is the batch");
    free(t);
    t = with_head("model m(x = input_layer([age]), y = income) { loss = mean(x) predictions = { p = x }\n"
                  "    optimizer = sgd(1) }\nestimator e = m(z = 1, 2)\n");
    expect_errors("arguments of an estimator", t, 2, "has no hyper-parameter 'z'");
    free(t);
    t = with_head("feature e8 = embedding(occ, 8)\nfeature bad = indicator(e8)\n"
                  "estimator e = DNNClassifier(hidden_units = [2], feature_columns = [e8])\n");
    expect_errors("an embedding is not categorical", t, 1, "'e8' is an embedding, which the model makes");
    free(t);
}

/* A column declared at the top, used by two models' inputs in one program. */
static void test_top_level_embedding(void)
{
    char *text = with_head("feature occ_e = embedding(occ, 4, combiner = \"sqrtn\")\n"
                           "estimator e = DNNClassifier(hidden_units = [2], feature_columns = [age, occ_e])\n");
    fe_model *m = compile_ok("an embedding declared as a feature", text);
    free(text);
    if (!m) return;
    const gr_node *emb = named(m->prog[GR_PROG_TRAIN], GR_PARAM, "dnn/occ_e/embedding_weights");
    CHECK(emb && emb->shape.d[0] == 100 && emb->shape.d[1] == 4, "the table is named after the feature");
    fe_model_free(m);
}

/* The model of the language's design sketch (docs/language.md) compiles as written. */
static void test_design_sketch(void)
{
    char *text = with_head(
        "feature occ_b = hashed(occupation, 10)\n"
        "model mlp(x = input_layer([age, embedding(occ, 8), indicator(edu), hours]), y = income) {\n"
        "    param hidden = [64, 32]\n"
        "    param rate = 0.1\n"
        "    h = x\n"
        "    for n in hidden { h = dropout(dense(h, n, relu), rate) }\n"
        "    logits = dense(h, 2)\n"
        "    loss        = softmax_cross_entropy(logits, y)\n"
        "    predictions = { class_ids = argmax(logits), probabilities = softmax(logits) }\n"
        "    metrics     = { accuracy = accuracy(y, argmax(logits)) }\n"
        "    optimizer   = adam(learning_rate = 0.001)\n"
        "}\n"
        "estimator e = mlp(hidden = [128, 64])\n");
    fe_model *m = compile_ok("the design sketch's mlp", text);
    free(text);
    if (!m) return;
    const gr_graph *e = m->prog[GR_PROG_EVAL];
    CHECK(gr_find_output(e, "metric/accuracy") != GR_NONE, "metric/accuracy in eval");
    const gr_node *k = named(m->prog[GR_PROG_TRAIN], GR_PARAM, "dense_1/kernel");
    CHECK(k && k->shape.d[0] == 128 && k->shape.d[1] == 64, "the second dense layer is [128,64] (hidden overridden)");
    int lg = gr_find_output(e, "logistic");
    CHECK(lg != GR_NONE, "a two-class softmax model still gets logistic (from probabilities)");
    fe_model_free(m);
}

int main(void)
{
    test_design_sketch();
    test_expressions();
    test_compile_time();
    test_dnn_names();
    test_batch_norm_modes();
    test_overrides_and_groups();
    test_default_rates();
    test_baseline();
    test_weights();
    test_errors();
    test_top_level_embedding();
    return check_done("test_model");
}

/*
 * test_metrics.c — the head metric sets against independent computations:
 * ROC AUC against a brute-force count over every (positive, negative) pair,
 * PR AUC against hand-worked examples and a numerical integration of the
 * interpolated precision-recall curve, accuracy/precision/recall/loss by hand.
 */
#include "check.h"
#include "../runtime/runtime.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static double get(const char **names, const double *values, int n, const char *key)
{
    for (int i = 0; i < n; i++) if (strcmp(names[i], key) == 0) return values[i];
    CHECK(0, "metric %s is missing", key);
    return NAN;
}

static void binary_by_hand(void)
{
    rt_metrics *m = rt_metrics_new(ES_HEAD_BINARY, 2);
    float p1[] = { 0.9f, 0.6f, 0.5f, 0.4f }, p2[] = { 0.2f, 0.7f };
    int32_t y1[] = { 1, 0, 1, 0 }, y2[] = { 0, 1 };
    float l1[] = { 1, 1, 1, 1 }, l2[] = { 4, 4 };
    rt_metrics_add(m, 4, l1, p1, y1);
    rt_metrics_add(m, 2, l2, p2, y2);
    const char **names;
    const double *v;
    int n = rt_metrics_result(m, 1234, &names, &v);
    static const char *keys[] = { "accuracy", "accuracy_baseline", "auc", "auc_precision_recall",
        "average_loss", "global_step", "label/mean", "loss", "precision", "prediction/mean", "recall" };
    CHECK(n == 11, "binary head: 11 metrics, got %d", n);
    for (int i = 0; i < n && i < 11; i++)
        CHECK(strcmp(names[i], keys[i]) == 0, "key %d is %s, want %s (sorted, as Estimator logs them)", i, names[i], keys[i]);
    /* predicted positive iff p > 0.5: 1,1,0,0,0,1 (0.5 itself is negative)
     * tp = {0.9, 0.7}, fp = {0.6}, fn = {0.5}, tn = {0.4, 0.2} */
    CHECK(check_close(get(names, v, n, "accuracy"), 4.0 / 6, 1e-12, 0), "accuracy 4/6");
    CHECK(check_close(get(names, v, n, "precision"), 2.0 / 3, 1e-12, 0), "precision 2/3");
    CHECK(check_close(get(names, v, n, "recall"), 2.0 / 3, 1e-12, 0), "recall 2/3");
    CHECK(check_close(get(names, v, n, "label/mean"), 0.5, 1e-12, 0), "label/mean 0.5");
    CHECK(check_close(get(names, v, n, "accuracy_baseline"), 0.5, 1e-12, 0), "baseline max(0.5, 0.5)");
    CHECK(check_close(get(names, v, n, "prediction/mean"), 3.3 / 6, 1e-6, 0), "prediction/mean 0.55");
    /* losses: examples (4*1 + 2*4)/6 = 2; batches (1 + 4)/2 = 2.5 */
    CHECK(check_close(get(names, v, n, "average_loss"), 2.0, 1e-12, 0), "average_loss is per example");
    CHECK(check_close(get(names, v, n, "loss"), 2.5, 1e-12, 0), "loss is the mean of batch means");
    CHECK(get(names, v, n, "global_step") == 1234, "global_step");
    /* AUC by hand: positives 0.9, 0.5, 0.7; negatives 0.6, 0.4, 0.2.
     * pairs won: 0.9 beats 3, 0.7 beats 3, 0.5 beats 2 -> 8/9 */
    CHECK(check_close(get(names, v, n, "auc"), 8.0 / 9, 1e-12, 0), "auc 8/9, got %g", get(names, v, n, "auc"));
    rt_metrics_free(m);

    /* baseline with skewed labels, and precision with no predicted positives */
    m = rt_metrics_new(ES_HEAD_BINARY, 2);
    float p3[] = { 0.1f, 0.2f, 0.3f, 0.4f };
    int32_t y3[] = { 0, 0, 0, 1 };
    float l3[] = { 0, 0, 0, 0 };
    rt_metrics_add(m, 4, l3, p3, y3);
    n = rt_metrics_result(m, 0, &names, &v);
    CHECK(check_close(get(names, v, n, "accuracy_baseline"), 0.75, 1e-12, 0), "baseline max(0.25, 0.75)");
    CHECK(get(names, v, n, "precision") == 0, "precision is 0 with no predicted positives (div_no_nan)");
    CHECK(get(names, v, n, "recall") == 0, "recall 0");
    CHECK(get(names, v, n, "auc") == 1, "a perfect ranking has auc 1");
    CHECK(check_close(get(names, v, n, "auc_precision_recall"), 1, 1e-12, 0), "and PR auc 1");
    rt_metrics_free(m);

    m = rt_metrics_new(ES_HEAD_BINARY, 2);
    rt_metrics_add(m, 3, l3, p3, y3);   /* only negatives */
    n = rt_metrics_result(m, 0, &names, &v);
    CHECK(isnan(get(names, v, n, "auc")) && isnan(get(names, v, n, "auc_precision_recall")),
          "AUCs are undefined (NaN) without positives");
    rt_metrics_free(m);
}

static double pr_auc_of(int n, const float *p, const int32_t *y)
{
    rt_metrics *m = rt_metrics_new(ES_HEAD_BINARY, 2);
    float *l = calloc((size_t)n, sizeof *l);
    rt_metrics_add(m, n, l, p, y);
    const char **names;
    const double *v;
    int k = rt_metrics_result(m, 0, &names, &v);
    double r = get(names, v, k, "auc_precision_recall");
    rt_metrics_free(m);
    free(l);
    return r;
}

static void pr_auc_by_hand(void)
{
    /* 0.9 pos, 0.8 neg, 0.7 pos. Points (P, TP): (0,0) (1,1) (2,1) (3,2).
     * (0,0)->(1,1): precision 1 over recall 0..0.5            -> 0.5
     * (1,1)->(2,1): no recall gained                          -> 0
     * (2,1)->(3,2): TP = P - 1, precision 1 - 1/P, dR = dP/2  -> (1 - ln(3/2)) / 2 */
    float p[] = { 0.9f, 0.8f, 0.7f };
    int32_t y[] = { 1, 0, 1 };
    double want = 0.5 + (1 - log(1.5)) / 2;
    CHECK(check_close(pr_auc_of(3, p, y), want, 1e-12, 0), "PR auc by hand: %.12f, want %.12f", pr_auc_of(3, p, y), want);
    /* ties: 0.9 pos, 0.9 neg, 0.1 pos: (0,0)->(2,1): precision 1/2 over recall 0..1/2 -> 1/4;
     * (2,1)->(3,2): TP = P - 1 again -> (1 - ln(3/2)) / 2 */
    float pt[] = { 0.9f, 0.9f, 0.1f };
    int32_t yt[] = { 1, 0, 1 };
    want = 0.25 + (1 - log(1.5)) / 2;
    CHECK(check_close(pr_auc_of(3, pt, yt), want, 1e-12, 0), "PR auc with a tie: %.12f, want %.12f", pr_auc_of(3, pt, yt), want);
}

/* A small deterministic generator for the random cases (independent of es_rng). */
static uint32_t lcg(uint32_t *s) { *s = *s * 1664525u + 1013904223u; return *s >> 8; }

static void random_against_brute_force(void)
{
    uint32_t seed = 12345;
    for (int trial = 0; trial < 20; trial++) {
        int n = 50 + (int)(lcg(&seed) % 400);
        int levels = trial % 2 ? 10 : 1000000;   /* odd trials have many ties */
        float *p = malloc((size_t)n * sizeof *p), *l = malloc((size_t)n * sizeof *l);
        int32_t *y = malloc((size_t)n * sizeof *y);
        for (int i = 0; i < n; i++) {
            y[i] = lcg(&seed) % 3 == 0;
            /* informative but noisy scores */
            double u = (double)(lcg(&seed) % 1000) / 1000.0;
            double s = 0.6 * u + 0.4 * y[i] * (double)(lcg(&seed) % 1000) / 1000.0;
            p[i] = (float)(floor(s * levels) / levels);
            l[i] = (float)(lcg(&seed) % 100) / 10.0f;
        }
        rt_metrics *m = rt_metrics_new(ES_HEAD_BINARY, 2);
        /* in uneven batches */
        for (int i = 0; i < n;) {
            int b = 1 + (int)(lcg(&seed) % 64);
            if (b > n - i) b = n - i;
            rt_metrics_add(m, b, l + i, p + i, y + i);
            i += b;
        }
        const char **names;
        const double *v;
        int k = rt_metrics_result(m, 0, &names, &v);

        double won = 0, P = 0, N = 0;
        for (int i = 0; i < n; i++) { if (y[i]) P++; else N++; }
        for (int i = 0; i < n; i++)
            for (int j = 0; j < n; j++)
                if (y[i] && !y[j]) won += p[i] > p[j] ? 1 : p[i] == p[j] ? 0.5 : 0;
        CHECK(check_close(get(names, v, k, "auc"), won / (P * N), 1e-12, 0),
              "trial %d: auc %.12f vs pairwise count %.12f", trial, get(names, v, k, "auc"), won / (P * N));

        /* PR auc: integrate precision d(recall) numerically along the same curve,
         * true positives linear in predicted positives between distinct thresholds */
        double integral = 0, tp0 = 0, pp0 = 0;
        float *u = malloc((size_t)n * sizeof *u);
        memcpy(u, p, (size_t)n * sizeof *u);
        for (;;) {   /* visit thresholds from the top: the largest remaining score */
            float t = -1;
            for (int i = 0; i < n; i++) if (u[i] > t) t = u[i];
            if (t < 0) break;
            double gp = 0, gn = 0;
            for (int i = 0; i < n; i++) if (u[i] == t) { if (y[i]) gp++; else gn++; u[i] = -2; }
            const int steps = 2000;
            for (int s = 0; s < steps; s++) {
                double a = (s + 0.5) / steps;                 /* midpoint rule */
                double pp = pp0 + a * (gp + gn), tp = tp0 + a * gp;
                integral += (tp / pp) * (gp / steps) / P;
            }
            tp0 += gp;
            pp0 += gp + gn;
        }
        free(u);
        CHECK(check_close(get(names, v, k, "auc_precision_recall"), integral, 1e-5, 1e-7),
              "trial %d: PR auc %.9f vs numerical integral %.9f", trial, get(names, v, k, "auc_precision_recall"), integral);
        double lsum = 0;
        for (int i = 0; i < n; i++) lsum += l[i];
        CHECK(check_close(get(names, v, k, "average_loss"), lsum / n, 1e-9, 0), "trial %d: average_loss", trial);
        rt_metrics_free(m);
        free(p); free(l); free(y);
    }
}

static void multiclass_and_regression(void)
{
    rt_metrics *m = rt_metrics_new(ES_HEAD_MULTICLASS, 3);
    float p[] = { 0.2f, 0.5f, 0.3f,     /* argmax 1 */
                  0.4f, 0.4f, 0.2f,     /* tie: the first maximum, 0 */
                  0.1f, 0.1f, 0.8f };   /* 2 */
    int32_t y[] = { 1, 1, 2 };
    float l[] = { 0.5f, 1.5f, 1.0f };
    rt_metrics_add(m, 3, l, p, y);
    const char **names;
    const double *v;
    int n = rt_metrics_result(m, 7, &names, &v);
    static const char *keys[] = { "accuracy", "average_loss", "global_step", "loss" };
    CHECK(n == 4, "multi-class head: 4 metrics");
    for (int i = 0; i < n && i < 4; i++) CHECK(strcmp(names[i], keys[i]) == 0, "multi-class key %d: %s", i, names[i]);
    CHECK(check_close(get(names, v, n, "accuracy"), 2.0 / 3, 1e-12, 0), "multi-class accuracy 2/3");
    CHECK(check_close(get(names, v, n, "average_loss"), 1.0, 1e-12, 0), "multi-class average_loss");
    rt_metrics_free(m);

    m = rt_metrics_new(ES_HEAD_REGRESSION, 0);
    float pr[] = { 1, 2, 3, 4 }, yr[] = { 1, 4, 0, 4 }, lr[] = { 0, 4, 9, 0 };
    rt_metrics_add(m, 4, lr, pr, yr);
    n = rt_metrics_result(m, 3, &names, &v);
    static const char *rkeys[] = { "average_loss", "global_step", "label/mean", "loss", "mae", "prediction/mean", "rmse" };
    CHECK(n == 7, "regression head: 7 metrics");
    for (int i = 0; i < n && i < 7; i++) CHECK(strcmp(names[i], rkeys[i]) == 0, "regression key %d: %s", i, names[i]);
    /* errors 0, -2, 3, 0 */
    CHECK(check_close(get(names, v, n, "rmse"), sqrt(13.0 / 4), 1e-12, 0), "rmse sqrt(13/4)");
    CHECK(check_close(get(names, v, n, "mae"), 5.0 / 4, 1e-12, 0), "mae 5/4");
    CHECK(check_close(get(names, v, n, "label/mean"), 9.0 / 4, 1e-12, 0), "label/mean");
    CHECK(check_close(get(names, v, n, "prediction/mean"), 10.0 / 4, 1e-12, 0), "prediction/mean");
    CHECK(check_close(get(names, v, n, "average_loss"), 13.0 / 4, 1e-12, 0), "average_loss");
    rt_metrics_free(m);
}

/* Integer weights are the same as repeating examples: every binary metric but
 * "loss" (a mean of batch means) must agree with the repeated, unweighted set;
 * the weighted ROC AUC also equals a brute-force weighted pair count. */
static void weights_are_repetitions(void)
{
    enum { N = 300 };
    uint32_t seed = 77;
    float p[N], loss[N], wloss[N], wt[N];
    int32_t y[N];
    float rp[N * 4], rloss[N * 4];
    int32_t ry[N * 4];
    int rn = 0;
    for (int i = 0; i < N; i++) {
        p[i] = (float)(lcg(&seed) % 50) / 50.0f;          /* ties on purpose */
        y[i] = (int32_t)(lcg(&seed) % 3 == 0);
        loss[i] = (float)(lcg(&seed) % 1000) / 500.0f;
        wt[i] = (float)(lcg(&seed) % 4);                   /* 0..3, zero weights too */
        wloss[i] = loss[i] * wt[i];
        for (int k = 0; k < (int)wt[i]; k++) { rp[rn] = p[i]; ry[rn] = y[i]; rloss[rn] = loss[i]; rn++; }
    }
    rt_metrics *a = rt_metrics_new(ES_HEAD_BINARY, 1), *b = rt_metrics_new(ES_HEAD_BINARY, 1);
    rt_metrics_add_weighted(a, N, wloss, p, y, wt);
    rt_metrics_add(b, rn, rloss, rp, ry);
    const char **na, **nb;
    const double *va, *vb;
    int n = rt_metrics_result(a, 1, &na, &va);
    int m = rt_metrics_result(b, 1, &nb, &vb);
    CHECK(n == m, "weighted and repeated sets have the same keys");
    for (int i = 0; i < n && i < m; i++) {
        if (strcmp(na[i], "loss") == 0) continue;
        CHECK(check_close(va[i], vb[i], 1e-9, 1e-12), "weighted %s %.12g equals the repeated examples' %.12g",
              na[i], va[i], vb[i]);
    }
    double num = 0, den = 0;
    for (int i = 0; i < N; i++)
        for (int j = 0; j < N; j++)
            if (y[i] == 1 && y[j] == 0) {
                double w = (double)wt[i] * wt[j];
                num += w * (p[i] > p[j] ? 1 : p[i] == p[j] ? 0.5 : 0);
                den += w;
            }
    CHECK(check_close(get(na, va, n, "auc"), num / den, 1e-9, 1e-12), "weighted auc %.12g equals the weighted pair count %.12g",
          get(na, va, n, "auc"), num / den);
    rt_metrics_free(a);
    rt_metrics_free(b);
}

int main(void)
{
    binary_by_hand();
    pr_auc_by_hand();
    random_against_brute_force();
    multiclass_and_regression();
    weights_are_repetitions();
    return check_done("test_metrics");
}

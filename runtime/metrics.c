/*
 * metrics.c — evaluation metrics, the key sets of TensorFlow's canned heads.
 *
 * Computed exactly, not with TensorFlow's 200-bucket threshold approximation:
 * the binary head keeps every (probability, label) pair of the evaluation
 * (8 bytes per example) and sorts them once at the end.
 *
 *  - "loss" is, as in Estimator.evaluate, the mean over batches of each batch's
 *    mean loss (metrics_lib.mean(estimator_spec.loss)); "average_loss" is the
 *    mean over examples. They differ only when batches differ in size. Each
 *    rt_metrics_add call is one batch.
 *  - Binary: an example is predicted positive when p > 0.5 (TensorFlow's
 *    class_ids: logit > 0); label 1 is positive, anything else negative.
 *    precision and recall are 0 when their denominator is 0 (TensorFlow's
 *    div_no_nan).
 *  - auc: the exact ROC area, the trapezoid rule over the ROC points at every
 *    distinct probability; ties between a positive and a negative count one
 *    half, so it equals the Mann-Whitney statistic.
 *  - auc_precision_recall: TensorFlow's summation_method='careful_interpolation'
 *    (Davis & Goadrich 2006) evaluated at every distinct probability instead of
 *    200 fixed thresholds. Between two consecutive points (tp0, p0) -> (tp1, p1)
 *    (p = predicted positives) true positives grow linearly with p, so
 *    precision = slope + b/p and the exact integral of precision d(recall) is
 *    slope * (dtp + b * ln(p1/p0)) / P. The first segment starts at (0, 0),
 *    where it reduces to precision * recall of the first point.
 *  - auc is NaN when the labels hold only one class, auc_precision_recall
 *    when there is no positive label (both undefined).
 *    Averages over zero examples are NaN as well.
 *  - Keys come out sorted, the order in which Estimator logs them.
 *  - Example weights (a head's weight_column; rt_metrics_add_weighted) weight
 *    every metric as TensorFlow's heads do: counts become sums of weights,
 *    means weighted means, the ROC and PR curves weighted true and false
 *    positives; average_loss is sum(weighted loss) / sum(weights). "loss"
 *    stays the mean of the batches' training losses. Without weights every
 *    example weighs 1.
 */
#include "runtime.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

enum { RT_MAX_METRICS = 16 };

typedef struct scored { float p; int32_t y; float w; } scored;

struct rt_metrics {
    es_head head;
    int K;
    int64_t n, nbatches;
    double loss_sum, batch_mean_sum;
    double pred_sum, label_sum;
    double wsum;              /* sum of example weights */
    double correct, tp, fp, fn;
    double sq_err, abs_err;
    scored *sc;               /* binary: every example */
    int64_t nsc, capsc;
    int nres;
    const char *names[RT_MAX_METRICS];
    double values[RT_MAX_METRICS];
};

rt_metrics *rt_metrics_new(es_head head, int n_classes)
{
    rt_metrics *m = es_xcalloc(1, sizeof *m);
    m->head = head;
    m->K = n_classes;
    return m;
}

void rt_metrics_add(rt_metrics *m, int64_t n, const float *loss, const float *pred,
                    const void *labels)
{
    rt_metrics_add_weighted(m, n, loss, pred, labels, NULL);
}

void rt_metrics_add_weighted(rt_metrics *m, int64_t n, const float *loss, const float *pred,
                             const void *labels, const float *weights)
{
    if (n <= 0) return;
    double bl = 0;
    for (int64_t i = 0; i < n; i++) bl += loss[i];
    m->loss_sum += bl;
    m->batch_mean_sum += bl / (double)n;
    m->nbatches++;
    m->n += n;
    for (int64_t i = 0; i < n; i++) m->wsum += weights ? weights[i] : 1.0;
    switch (m->head) {
    case ES_HEAD_BINARY: {
        const int32_t *y = labels;
        if (m->nsc + n > m->capsc) {
            while (m->nsc + n > m->capsc) m->capsc = m->capsc ? m->capsc * 2 : 4096;
            m->sc = es_xrealloc(m->sc, (size_t)m->capsc * sizeof *m->sc);
        }
        for (int64_t i = 0; i < n; i++) {
            int pos = y[i] == 1, said = pred[i] > 0.5f;
            double w = weights ? weights[i] : 1.0;
            m->pred_sum += w * pred[i];
            m->label_sum += w * pos;
            m->correct += w * (pos == said);
            m->tp += w * (pos && said);
            m->fp += w * (!pos && said);
            m->fn += w * (pos && !said);
            m->sc[m->nsc++] = (scored){ pred[i], pos, (float)w };
        }
        break;
    }
    case ES_HEAD_MULTICLASS: {
        const int32_t *y = labels;
        for (int64_t i = 0; i < n; i++) {
            const float *p = pred + i * m->K;
            int best = 0;
            for (int k = 1; k < m->K; k++) if (p[k] > p[best]) best = k;
            m->correct += (weights ? weights[i] : 1.0) * (best == y[i]);
        }
        break;
    }
    case ES_HEAD_REGRESSION: {
        const float *y = labels;
        for (int64_t i = 0; i < n; i++) {
            double w = weights ? weights[i] : 1.0;
            double d = (double)pred[i] - (double)y[i];
            m->pred_sum += w * pred[i];
            m->label_sum += w * y[i];
            m->sq_err += w * d * d;
            m->abs_err += w * fabs(d);
        }
        break;
    }
    }
}

/* Descending, NaN (a diverged model) last and equal to itself, so that qsort
 * sees a consistent order and ties group. */
static int by_p_desc(const void *a, const void *b)
{
    float x = ((const scored *)a)->p, y = ((const scored *)b)->p;
    if (isnan(x) || isnan(y)) return (isnan(x) != 0) - (isnan(y) != 0);
    return x > y ? -1 : x < y;
}

static int same_p(float x, float y) { return x == y || (isnan(x) && isnan(y)); }

/* Exact ROC AUC and careful-interpolation PR AUC (see the file comment). */
static void binary_aucs(rt_metrics *m, double *roc, double *pr)
{
    qsort(m->sc, (size_t)m->nsc, sizeof *m->sc, by_p_desc);
    double P = 0, N = 0;
    for (int64_t i = 0; i < m->nsc; i++) { if (m->sc[i].y) P += m->sc[i].w; else N += m->sc[i].w; }
    if (P == 0) { *roc = *pr = NAN; return; }
    double area = 0, pr_area = 0, tp = 0, fp = 0;
    for (int64_t i = 0; i < m->nsc;) {
        double gp = 0, gn = 0;
        int64_t j = i;
        for (; j < m->nsc && same_p(m->sc[j].p, m->sc[i].p); j++) {
            if (m->sc[j].y) gp += m->sc[j].w; else gn += m->sc[j].w;
        }
        /* ROC: the negatives of this group rank below tp positives and tie with gp */
        area += gn * (tp + gp / 2);
        /* PR: from (tp, tp+fp) to (tp+gp, tp+gp+fp+gn) */
        if (gp > 0 && gp + gn > 0) {
            double p0 = tp + fp, p1 = p0 + gp + gn;
            double slope = gp / (gp + gn);
            double b = tp - slope * p0;
            double ratio = p0 > 0 ? p1 / p0 : 1;
            pr_area += slope * (gp + b * log(ratio)) / P;
        }
        tp += gp;
        fp += gn;
        i = j;
    }
    *roc = N > 0 ? area / (P * N) : NAN;
    *pr = pr_area;
}

static void put(rt_metrics *m, const char *name, double v)
{
    m->names[m->nres] = name;
    m->values[m->nres++] = v;
}

int rt_metrics_result(rt_metrics *m, int64_t global_step, const char ***names,
                      const double **values)
{
    double n = m->wsum;       /* the number of examples when unweighted */
    double avg = m->n && n > 0 ? m->loss_sum / n : NAN;
    double loss = m->nbatches ? m->batch_mean_sum / (double)m->nbatches : NAN;
    double acc = m->n && n > 0 ? m->correct / n : NAN;
    m->nres = 0;
    switch (m->head) {
    case ES_HEAD_BINARY: {
        double lm = m->n ? m->label_sum / n : NAN;
        double roc = NAN, pr = NAN;
        if (m->nsc) binary_aucs(m, &roc, &pr);
        put(m, "accuracy", acc);
        put(m, "accuracy_baseline", m->n ? (lm > 1 - lm ? lm : 1 - lm) : NAN);
        put(m, "auc", roc);
        put(m, "auc_precision_recall", pr);
        put(m, "average_loss", avg);
        put(m, "global_step", (double)global_step);
        put(m, "label/mean", lm);
        put(m, "loss", loss);
        put(m, "precision", m->tp + m->fp > 0 ? m->tp / (m->tp + m->fp) : 0.0);
        put(m, "prediction/mean", m->n ? m->pred_sum / n : NAN);
        put(m, "recall", m->tp + m->fn > 0 ? m->tp / (m->tp + m->fn) : 0.0);
        break;
    }
    case ES_HEAD_MULTICLASS:
        put(m, "accuracy", acc);
        put(m, "average_loss", avg);
        put(m, "global_step", (double)global_step);
        put(m, "loss", loss);
        break;
    case ES_HEAD_REGRESSION:
        put(m, "average_loss", avg);
        put(m, "global_step", (double)global_step);
        put(m, "label/mean", m->n ? m->label_sum / n : NAN);
        put(m, "loss", loss);
        put(m, "mae", m->n ? m->abs_err / n : NAN);
        put(m, "prediction/mean", m->n ? m->pred_sum / n : NAN);
        put(m, "rmse", m->n ? sqrt(m->sq_err / n) : NAN);
        break;
    }
    *names = m->names;
    *values = m->values;
    return m->nres;
}

void rt_metrics_free(rt_metrics *m)
{
    if (!m) return;
    free(m->sc);
    free(m);
}

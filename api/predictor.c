/*
 * predictor.c — in-process prediction on rows in memory (estc_predictor).
 *
 * A predictor owns what one thread needs to score rows: a file-less reader
 * (runtime/reader.c) whose encoders turn raw values into feature ids and
 * floats exactly as when reading the data file, the predict program's buffers
 * (inputs and scratch, sized for the largest call so far) and the output
 * views. It shares the compiled program and the variables with its model, so
 * making one costs no compilation once the model has compiled its predict
 * program, and several predictors of one model may run in parallel.
 *
 * A call encodes each row into an example record and scatters it into the
 * program's input arrays; rows whose values cannot be used are left out of
 * the batch (their predictions are NaN with error set), the rest run in one
 * call of the native code.
 */
#define _GNU_SOURCE
#include "estc/estc.h"

#include "core/core.h"
#include "core/spec.h"
#include "graph/graph.h"
#include "internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

struct estc_predictor {
    const es_spec *sp;
    const es_source_spec *src;
    const gr_graph *g;
    cg_entry_fn fn;
    rt_vars *vars;            /* the model's: weights are read in place */
    es_arena *arena;
    rt_reader *rd;
    rt_layout lay;
    int ncols;                /* input columns = source columns but the label */
    int *col;                 /* input column -> source column */
    int nclasses, nlogits;
    int32_t step_feed[4];     /* an INPUT "global_step": the restored global step */
    /* buffers of the program, for batches of up to cap rows */
    int64_t cap;
    void **bufs;
    void **owned;             /* per buffer: allocated here (inputs, scratch) */
    void **feat;              /* per used feature: its input array (NULL if the program does not read it) */
    void *label;              /* a label input, if the program has one */
    unsigned char *rec;
    const char **fields;      /* per source column, for the reader */
    double *nums;
    int64_t *slot;            /* per row of the call: its row in the batch, -1 on error */
    float nan[256];           /* what an error row's arrays point at */
    int out_ids, out_probs, out_logits, out_pred;   /* buffer ids, -1 if absent */
};

static int output_buf(const gr_graph *g, const char *name)
{
    int id = gr_find_output(g, name);
    return id == GR_NONE ? -1 : g->nodes[id].buf;
}

/* (Re)allocates the program's buffers for batches of cap rows. */
static int grow(estc_predictor *p, int64_t cap, estc_status *st)
{
    const gr_graph *g = p->g;
    if (p->owned) for (int i = 0; i < g->nbufs; i++) free(p->owned[i]);
    free(p->owned);
    free(p->bufs);
    free(p->slot);
    p->bufs = es_xcalloc((size_t)g->nbufs + 1, sizeof(void *));
    p->owned = es_xcalloc((size_t)g->nbufs + 1, sizeof(void *));
    p->slot = es_xmalloc((size_t)cap * sizeof *p->slot);
    p->cap = cap;
    p->label = NULL;
    for (int f = 0; f < p->sp->nused; f++) p->feat[f] = NULL;
    for (int i = 0; i < g->n; i++) {
        const gr_node *n = &g->nodes[i];
        if (n->buf < 0 || p->bufs[n->buf]) continue;
        if (n->op == GR_PARAM) {
            rt_var *v = rt_vars_find(p->vars, n->name);
            if (!v) return estc__fail(st, ESTC_EINTERNAL, "variable %s has no storage", n->name);
            p->bufs[n->buf] = v->data;
            continue;
        }
        if (n->op == GR_INPUT && strcmp(n->name, "global_step") == 0) {
            p->bufs[n->buf] = p->step_feed;
            continue;
        }
        size_t bytes = (gr_buf_bytes(g, i, cap) + 63) & ~(size_t)63;
        void *b = aligned_alloc(64, bytes ? bytes : 64);
        if (!b) return estc__fail(st, ESTC_EINTERNAL, "out of memory for a batch of %lld rows", (long long)cap);
        memset(b, 0, bytes ? bytes : 64);
        p->owned[n->buf] = p->bufs[n->buf] = b;
        if (n->op != GR_INPUT) continue;
        if (strcmp(n->name, "label") == 0) { p->label = b; continue; }
        int f;
        for (f = 0; f < p->sp->nused; f++)
            if (strcmp(p->sp->used[f]->name, n->name) == 0) { p->feat[f] = b; break; }
        if (f == p->sp->nused)
            return estc__fail(st, ESTC_EINTERNAL, "program input %s is not a feature", n->name);
    }
    return 0;
}

estc_predictor *estc_predictor_new(estc_model *m, estc_status *st)
{
    estc_model_view v;
    cg_entry_fn fn;
    if (estc__predict_entry(m, &fn, st) != 0 || estc_model_view_get(m, &v, st) != 0) return NULL;
    estc_predictor *p = es_xcalloc(1, sizeof *p);
    p->sp = &v.fm->spec;
    p->src = p->sp->eval;
    p->g = v.predict;
    p->fn = fn;
    p->vars = v.vars;
    p->arena = es_arena_new();
    p->step_feed[0] = (int32_t)v.global_step;
    es_status es = {0};
    if (!(p->rd = rt_reader_open_mem(p->sp, p->src, &es))) {
        estc__status_from(st, &es);
        estc_predictor_free(p);
        return NULL;
    }
    rt_layout_init(&p->lay, p->sp, p->arena);
    p->rec = es_alloc(p->arena, p->lay.rec_bytes);
    int nc = p->src->ncols;
    p->fields = es_alloc(p->arena, (size_t)(nc ? nc : 1) * sizeof *p->fields);
    p->nums = es_alloc(p->arena, (size_t)(nc ? nc : 1) * sizeof *p->nums);
    p->col = es_alloc(p->arena, (size_t)(nc ? nc : 1) * sizeof *p->col);
    for (int c = 0; c < nc; c++)
        if (c != p->sp->label.column) p->col[p->ncols++] = c;
    p->feat = es_alloc(p->arena, (size_t)(p->sp->nused ? p->sp->nused : 1) * sizeof *p->feat);
    if (p->sp->head != ES_HEAD_REGRESSION) {
        p->nclasses = p->sp->head == ES_HEAD_MULTICLASS ? p->sp->label.n_classes : 2;
        p->nlogits = p->sp->head == ES_HEAD_MULTICLASS ? p->nclasses : 1;
    }
    for (size_t i = 0; i < sizeof p->nan / sizeof *p->nan; i++) p->nan[i] = NAN;
    if (p->nclasses > (int)(sizeof p->nan / sizeof *p->nan)) {
        estc__fail(st, ESTC_EMODEL, "a predictor holds at most %d classes; this model has %d",
                   (int)(sizeof p->nan / sizeof *p->nan), p->nclasses);
        estc_predictor_free(p);
        return NULL;
    }
    p->out_ids = output_buf(p->g, "class_ids");
    p->out_probs = output_buf(p->g, "probabilities");
    p->out_logits = output_buf(p->g, "logits");
    p->out_pred = output_buf(p->g, "predictions");
    int ok = p->nclasses ? p->out_ids >= 0 && p->out_probs >= 0 && p->out_logits >= 0 : p->out_pred >= 0;
    if (!ok) {
        estc__fail(st, ESTC_EMODEL, "the predict program lacks the head's outputs (%s)",
                   p->nclasses ? "class_ids, probabilities, logits" : "predictions");
        estc_predictor_free(p);
        return NULL;
    }
    if (grow(p, 16, st) != 0) { estc_predictor_free(p); return NULL; }
    return p;
}

void estc_predictor_free(estc_predictor *p)
{
    if (!p) return;
    if (p->owned) for (int i = 0; i < p->g->nbufs; i++) free(p->owned[i]);
    free(p->owned);
    free(p->bufs);
    free(p->slot);
    rt_reader_close(p->rd);
    es_arena_free(p->arena);
    free(p);
}

int estc_predictor_ncolumns(const estc_predictor *p) { return p->ncols; }

const char *estc_predictor_column(const estc_predictor *p, int i, int *is_string)
{
    if (i < 0 || i >= p->ncols) return NULL;
    const es_column *c = &p->src->cols[p->col[i]];
    if (is_string) *is_string = c->type == ES_COL_STRING;
    return c->name;
}

int estc_predictor_label_column(const estc_predictor *p) { return p->sp->label.column; }

int estc_predictor_column_index(const estc_predictor *p, const char *name)
{
    for (int i = 0; i < p->ncols; i++)
        if (strcmp(p->src->cols[p->col[i]].name, name) == 0) return i;
    return -1;
}

int estc_predictor_nclasses(const estc_predictor *p) { return p->nclasses; }

const char *estc_predictor_class_name(const estc_predictor *p, int k)
{
    if (k < 0 || k >= p->nclasses || !p->sp->label.vocab) return NULL;
    return p->sp->label.vocab[k];
}

int64_t estc_predict_rows(estc_predictor *p, const estc_value *rows, int64_t n, estc_prediction *out,
                          estc_status *st)
{
    st->code = 0;              /* not a memset: a call on one row must stay cheap */
    st->message[0] = 0;
    if (n < 0 || (n > 0 && (!rows || !out)))
        return estc__fail(st, ESTC_EINVAL, "estc_predict_rows: %s", n < 0 ? "negative row count" : "NULL rows or out");
    if (n > p->cap) {
        int64_t cap = p->cap;
        while (cap < n) cap *= 2;
        if (grow(p, cap, st) != 0) return -1;
    }
    int64_t bad = 0, B = 0;
    es_status es;
    es_status_clear(&es);
    for (int64_t i = 0; i < n; i++) {
        const estc_value *r = rows + i * p->ncols;
        for (int k = 0; k < p->ncols; k++) {
            p->fields[p->col[k]] = r[k].str;
            p->nums[p->col[k]] = r[k].num;
        }
        if (rt_reader_encode(p->rd, p->fields, p->nums, i, p->rec, &es) != 0) {
            if (es.code != ES_EDATA) return estc__status_from(st, &es);
            int col = -1, sc = rt_reader_error_column(p->rd);
            for (int k = 0; k < p->ncols; k++) if (p->col[k] == sc) col = k;
            if (bad++ == 0) { estc__status_from(st, &es); st->code = ESTC_EDATA; }
            es_status_clear(&es);
            p->slot[i] = -1;
            out[i] = (estc_prediction){ -1, NULL, NAN, p->nclasses ? p->nan : NULL, p->nclasses ? p->nan : NULL,
                                        col >= 0 ? col + 1 : 1 };
            continue;
        }
        rt_layout_scatter(&p->lay, p->rec, p->feat, NULL, B);
        p->slot[i] = B++;
    }
    if (B > 0) p->fn(p->bufs, B);
    const int32_t *ids = p->nclasses ? p->bufs[p->out_ids] : NULL;
    const float *probs = p->nclasses ? p->bufs[p->out_probs] : NULL;
    const float *logits = p->nclasses ? p->bufs[p->out_logits] : NULL;
    const float *pred = p->nclasses ? NULL : p->bufs[p->out_pred];
    for (int64_t i = 0; i < n; i++) {
        int64_t j = p->slot[i];
        if (j < 0) continue;
        if (!p->nclasses) {
            out[i] = (estc_prediction){ -1, NULL, pred[j], NULL, NULL, 0 };
            continue;
        }
        int c = ids[j];
        const float *pr = probs + j * p->nclasses;
        out[i] = (estc_prediction){ c, estc_predictor_class_name(p, c), c >= 0 && c < p->nclasses ? pr[c] : NAN,
                                    pr, logits + j * p->nlogits, 0 };
    }
    return bad;
}

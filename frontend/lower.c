/*
 * lower.c — the last step from a checked model to what the rest of estc
 * consumes: the es_spec data contract and the three programs (train, eval,
 * predict), verified, with the model's fingerprint.
 *
 * The programs themselves are built by running the estimator's model
 * (model.c, during sema); the linear estimators are models of the stdlib
 * like every other pre-made one (stdlib/linear.est).
 *
 * Invariants: the three programs were built by the same model code, so their
 * PARAMs have identical names and shapes (the runtime shares variables by
 * name); graph inputs are named after es_spec.used features, plus "label"
 * (train, eval) and "global_step" (when the model has dropout).
 */
#include "lower.h"

#include <stdlib.h>
#include <string.h>

typedef struct named_shape { const char *name; gr_shape shape; } named_shape;

static int by_name(const void *x, const void *y)
{
    return strcmp(((const named_shape *)x)->name, ((const named_shape *)y)->name);
}

/* es_hash64 (seed 0) over the train program's PARAMs sorted by name, each
 * written as its name, a NUL byte, then rank and dimensions as int64 in
 * host byte order. Two model files that share it can share a model_dir. */
static uint64_t fingerprint(const gr_graph *g)
{
    int n = 0;
    for (int i = 0; i < g->n; i++) if (g->nodes[i].op == GR_PARAM) n++;
    named_shape *v = es_xcalloc((size_t)(n ? n : 1), sizeof *v);
    size_t bytes = 0;
    n = 0;
    for (int i = 0; i < g->n; i++)
        if (g->nodes[i].op == GR_PARAM) {
            v[n].name = g->nodes[i].name;
            v[n].shape = g->nodes[i].shape;
            bytes += strlen(v[n].name) + 1 + sizeof(int64_t) * (size_t)(1 + v[n].shape.rank);
            n++;
        }
    qsort(v, (size_t)n, sizeof *v, by_name);
    unsigned char *buf = es_xmalloc(bytes ? bytes : 1), *p = buf;
    for (int i = 0; i < n; i++) {
        size_t k = strlen(v[i].name) + 1;
        memcpy(p, v[i].name, k);
        p += k;
        int64_t r = v[i].shape.rank;
        memcpy(p, &r, sizeof r);
        p += sizeof r;
        for (int j = 0; j < v[i].shape.rank; j++) {
            memcpy(p, &v[i].shape.d[j], sizeof(int64_t));
            p += sizeof(int64_t);
        }
    }
    uint64_t h = es_hash64(buf, bytes, 0);
    free(buf);
    free(v);
    return h;
}

int fe_lower(fe_checked *c, fe_model *m, es_diags *d)
{
    m->spec = c->spec;
    m->estimator = c->est_class;
    for (int i = 0; i < 3; i++) {
        m->prog[i] = c->prog[i];
        es_status st;
        es_status_clear(&st);
        if (!m->prog[i] || gr_verify(m->prog[i], &st) != 0) {
            es_diag(d, ES_DIAG_ERROR, c->est_span, "internal error: the %s program does not verify: %s",
                    i == GR_PROG_TRAIN ? "train" : i == GR_PROG_EVAL ? "eval" : "predict",
                    m->prog[i] ? st.msg : "it was not built");
            return -1;
        }
    }
    /* what the model keeps: variables no output or update reads do not count */
    gr_graph *live = gr_dce(m->prog[GR_PROG_TRAIN]);
    m->fingerprint = fingerprint(live);
    gr_drop(live);
    return 0;
}

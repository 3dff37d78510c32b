/* check.c — counters and helpers for tests/check.h. */
#include "check.h"
#include "../graph/graph.h"
#include "../core/spec.h"

#include <math.h>
#include <stdlib.h>

int check_passed, check_failed;

int check_close(double a, double b, double rtol, double atol)
{
    if (isnan(a) || isnan(b)) return isnan(a) && isnan(b);
    return fabs(a - b) <= atol + rtol * fabs(b);
}

const char *check_src(const char *rel)
{
    static char buf[8][4096];
    static int k;
    const char *root = getenv("ESTC_SOURCE_DIR");
    char *b = buf[k++ % 8];
    snprintf(b, sizeof buf[0], "%s/%s", root ? root : ".", rel);
    return b;
}

int check_done(const char *suite)
{
    printf("%s: %d passed, %d failed\n", suite, check_passed, check_failed);
    return check_failed ? 1 : 0;
}

check_run check_run_new(gr_graph *g, int64_t B)
{
    check_run r = { g, NULL, B };
    gr_bind(g);
    r.bufs = calloc((size_t)g->nbufs + 1, sizeof(void *));
    es_rng rng;
    es_rng_seed(&rng, 1);
    for (int i = 0; i < g->n; i++) {
        if (g->nodes[i].buf < 0) continue;
        r.bufs[g->nodes[i].buf] = calloc(1, gr_buf_bytes(g, i, B) + 16);
        if (g->nodes[i].op == GR_PARAM) gr_init_param(&g->nodes[i], r.bufs[g->nodes[i].buf], &rng);
    }
    return r;
}

void check_run_free(check_run *r)
{
    for (int i = 0; i < r->g->nbufs; i++) free(r->bufs[i]);
    free(r->bufs);
}

void *check_run_buf(check_run *r, int op, const char *name)
{
    int id = gr_find_named(r->g, (gr_op)op, name);
    if (id == GR_NONE || r->g->nodes[id].buf < 0) { fprintf(stderr, "no %s\n", name); abort(); }
    return r->bufs[r->g->nodes[id].buf];
}

es_spec *check_stream_spec(es_arena *a, const char *path, int bad_rows, int cache, int64_t id_buckets)
{
    static const char *const names[] = { "i", "v", "y" };
    static const es_coltype types[] = { ES_COL_INT, ES_COL_FLOAT, ES_COL_FLOAT };
    es_source_spec *src = es_alloc(a, sizeof *src);
    src->name = "src";
    src->path = path;
    src->separator = ",";
    src->bad_rows = (es_bad_rows)bad_rows;
    src->cache = cache;
    src->ncols = 3;
    src->cols = es_alloc(a, 3 * sizeof *src->cols);
    for (int i = 0; i < 3; i++) { src->cols[i].name = names[i]; src->cols[i].type = types[i]; }
    es_feature *id = es_alloc(a, sizeof *id), *v = es_alloc(a, sizeof *v);
    *id = (es_feature){ .name = "i", .kind = ES_FEAT_IDENTITY, .column = 0, .categorical = 1,
                        .num_buckets = id_buckets, .width = 1, .num_default = NAN, .default_id = -1 };
    *v = (es_feature){ .name = "v", .kind = ES_FEAT_NUMERIC, .column = 1, .width = 1, .num_default = NAN };
    es_spec *s = es_alloc(a, sizeof *s);
    s->train = s->eval = src;
    s->nfeatures = s->nused = 2;
    s->features = s->used = es_alloc(a, 2 * sizeof *s->used);
    s->used[0] = id;
    s->used[1] = v;
    s->head = ES_HEAD_REGRESSION;
    s->label = (es_label_spec){ .name = "y", .kind = ES_LABEL_NUMERIC, .column = 2 };
    return s;
}

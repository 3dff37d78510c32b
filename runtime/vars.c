/*
 * vars.c — the variable store: every PARAM of every program, by name.
 *
 * Programs of one model (train, eval, predict) share their variables by name:
 * the first program that mentions a PARAM creates it, later ones bind to the
 * same storage, and a same-named PARAM with another shape is an error (two
 * programs that disagree about a weight are two different models). Storage is
 * 64-byte aligned (one cache line, full AVX-512 vectors) and owned here; names
 * are copied, so the store may outlive the graphs that created it.
 */
#define _GNU_SOURCE
#include "runtime.h"

#include <stdlib.h>
#include <string.h>

static int shape_same(gr_shape a, gr_shape b)
{
    if (a.rank != b.rank) return 0;
    for (int i = 0; i < a.rank; i++) if (a.d[i] != b.d[i]) return 0;
    return 1;
}

static void shape_text(gr_shape s, char *buf, size_t n)
{
    size_t o = (size_t)snprintf(buf, n, "[");
    for (int i = 0; i < s.rank && o < n; i++)
        o += (size_t)snprintf(buf + o, n - o, "%s%lld", i ? "," : "", (long long)s.d[i]);
    if (o < n) snprintf(buf + o, n - o, "]");
}

void rt_vars_init(rt_vars *vs) { memset(vs, 0, sizeof *vs); }

void rt_vars_free(rt_vars *vs)
{
    for (int i = 0; i < vs->n; i++) {
        free(vs->v[i].data);
        free((char *)vs->v[i].name);
    }
    free(vs->v);
    memset(vs, 0, sizeof *vs);
}

rt_var *rt_vars_find(rt_vars *vs, const char *name)
{
    for (int i = 0; i < vs->n; i++) if (strcmp(vs->v[i].name, name) == 0) return &vs->v[i];
    return NULL;
}

rt_var *rt_vars_add(rt_vars *vs, const char *name, gr_shape shape, int trainable, es_status *st)
{
    char sh[128];
    if (rt_vars_find(vs, name)) {
        es_fail(st, ES_EINTERNAL, "variable %s is already in the store", name);
        return NULL;
    }
    if (shape.rank < 0 || shape.rank > GR_MAXDIMS) {
        es_fail(st, ES_EINTERNAL, "variable %s has rank %d", name, shape.rank);
        return NULL;
    }
    int64_t numel = 1;
    for (int i = 0; i < shape.rank; i++) {
        if (shape.d[i] < 0 || (shape.d[i] > 0 && numel > INT64_MAX / 4 / shape.d[i])) {
            shape_text(shape, sh, sizeof sh);
            es_fail(st, ES_EMODEL, "variable %s has shape %s: a variable needs fixed, non-negative "
                    "dimensions (no batch dimension)", name, sh);
            return NULL;
        }
        numel *= shape.d[i];
    }
    if (vs->n == vs->cap) {
        vs->cap = vs->cap ? vs->cap * 2 : 16;
        vs->v = es_xrealloc(vs->v, (size_t)vs->cap * sizeof *vs->v);
    }
    size_t bytes = ((size_t)numel * sizeof(float) + 63) & ~(size_t)63;
    if (bytes == 0) bytes = 64;
    float *data = aligned_alloc(64, bytes);
    if (!data) {
        es_fail(st, ES_EINTERNAL, "out of memory for variable %s (%zu bytes)", name, bytes);
        return NULL;
    }
    memset(data, 0, bytes);
    rt_var *v = &vs->v[vs->n++];
    v->name = es_xstrdup(name);
    v->shape = shape;
    v->numel = numel;
    v->data = data;
    v->trainable = trainable;
    return v;
}

int rt_vars_add_graph(rt_vars *vs, const gr_graph *g, es_rng *rng, es_status *st)
{
    for (int i = 0; i < g->n; i++) {
        const gr_node *nd = &g->nodes[i];
        if (nd->op != GR_PARAM) continue;
        if (!nd->name) return es_fail(st, ES_EINTERNAL, "PARAM node %%%d has no name", i);
        rt_var *v = rt_vars_find(vs, nd->name);
        if (v) {
            if (!shape_same(v->shape, nd->shape)) {
                char a[128], b[128];
                shape_text(v->shape, a, sizeof a);
                shape_text(nd->shape, b, sizeof b);
                return es_fail(st, ES_EMODEL, "variable %s has shape %s in one program but %s in another",
                               nd->name, a, b);
            }
            continue;
        }
        if (!(v = rt_vars_add(vs, nd->name, nd->shape, nd->a[1] != 0, st))) return -1;
        gr_init_param(nd, v->data, rng);
    }
    return 0;
}

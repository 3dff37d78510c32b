/*
 * guard.c — finding the first non-finite value after a program run (the NaN
 * guard's diagnosis).
 *
 * A step's buffers still hold what it computed when the loss turns out NaN
 * or infinite, so the scan walks them in program (topological) order and
 * names the first node whose result holds a NaN or an infinity: that node
 * is where the trouble entered, every later one only inherits it. PARAMs are
 * not scanned here because the step has already overwritten them with their
 * updates; the caller reports non-finite variables separately. Only f32
 * buffers can hold non-finite values.
 */
#include "runtime.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static int64_t first_bad(const float *v, int64_t n)
{
    for (int64_t i = 0; i < n; i++) if (!isfinite(v[i])) return i;
    return -1;
}

int rt_first_nonfinite(const gr_graph *g, void *const *bufs, int64_t B, char *what, size_t n)
{
    /* a buffer shared by several nodes holds only the last writer's values */
    int *users = es_xcalloc((size_t)(g->nbufs > 0 ? g->nbufs : 1), sizeof *users);
    for (int i = 0; i < g->n; i++)
        if (g->nodes[i].buf >= 0 && g->nodes[i].buf < g->nbufs) users[g->nodes[i].buf]++;
    int found = 0;
    for (int i = 0; i < g->n && !found; i++) {
        const gr_node *nd = &g->nodes[i];
        if (nd->buf < 0 || nd->buf >= g->nbufs || users[nd->buf] != 1) continue;
        if (nd->op == GR_PARAM || nd->dtype != GR_F32 || !bufs[nd->buf]) continue;
        int64_t at = first_bad(bufs[nd->buf], gr_numel(nd->shape, B));
        if (at < 0) continue;
        float bad = ((const float *)bufs[nd->buf])[at];
        char sh[64];
        gr_shape_str(nd->shape, sh, sizeof sh);
        const char *val = isnan(bad) ? "NaN" : bad > 0 ? "+inf" : "-inf";
        if (nd->op == GR_INPUT)
            snprintf(what, n, "input '%s' (%s at element %lld)", nd->name, val, (long long)at);
        else {
            char where[256] = "";
            if (nd->span.src)
                snprintf(where, sizeof where, ", from %s:%d:%d", nd->span.src->path, nd->span.line, nd->span.col);
            const char *out = NULL;
            for (int k = 0; k < g->noutputs && !out; k++) if (g->outputs[k].node == i) out = g->outputs[k].name;
            snprintf(what, n, "%s%s%snode %%%d = %s %s%s (%s at element %lld%s)",
                     out ? "output '" : "", out ? out : "", out ? "', " : "", i, gr_ops[nd->op].name,
                     gr_dtype_name(nd->dtype), sh, val, (long long)at, where);
        }
        found = 1;
    }
    free(users);
    return found;
}

const rt_var *rt_vars_first_nonfinite(const rt_vars *vs, int *count)
{
    const rt_var *first = NULL;
    int c = 0;
    for (int i = 0; i < vs->n; i++)
        if (first_bad(vs->v[i].data, vs->v[i].numel) >= 0) {
            if (!first) first = &vs->v[i];
            c++;
        }
    if (count) *count = c;
    return first;
}

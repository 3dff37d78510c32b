/*
 * share.c — buffers shared by liveness (gr_bind_shared, gr_scratch_bytes).
 *
 * gr_bind gives every node a buffer of its own, so a train step's scratch is
 * the sum of every intermediate it ever computes, most of them dead long
 * before the step ends. Here an intermediate lives from the node that writes
 * it to its last reader (in node order, the order the evaluator and the
 * kernels run), and a greedy interval assignment lets intermediates whose
 * lives do not overlap take the same slot.
 *
 * Never shared: leaves (inputs and params are the caller's memory, a
 * constant's buffer holds its values), outputs (read after the whole
 * program), buffers an update writes in place, and [B,B] values. A node takes its slot
 * before its inputs give theirs back, so no kernel writes a buffer it reads
 * (a matmul epilogue could not write its product over a factor); the
 * kernels' noalias marks stay true.
 *
 * A slot is as large as the largest node it holds at every batch size: node
 * sizes are affine in B (a * B + b, one dimension at most being B; a node
 * with two, [B,B], keeps its own slot), and the slot keeps the largest a and the largest b, which gr_buf_bytes reports for
 * every node of the slot. A free slot is picked for a node by best fit at a
 * batch of 256 (the least growth and slack); taking any free slot never costs
 * more than a new one.
 */
#include "rewrite.h"

#include <stdlib.h>

#define FIT_BATCH 256

typedef struct planner {
    int nslots;
    int64_t *a, *b;      /* per slot: bytes per batch row, fixed bytes */
    char *busy;          /* per slot: held by a live node */
} planner;

static int64_t cost(int64_t a, int64_t b) { return a * FIT_BATCH + b; }

/* the free slot that fits a node of size (na, nb) best, or a new one */
static int take(planner *p, int64_t na, int64_t nb)
{
    int best = -1;
    int64_t best_cost = 0;
    for (int s = 0; s < p->nslots; s++) {
        if (p->busy[s]) continue;
        int64_t ma = p->a[s] > na ? p->a[s] : na, mb = p->b[s] > nb ? p->b[s] : nb;
        int64_t after = cost(ma, mb);
        int64_t c = 2 * (after - cost(p->a[s], p->b[s])) + (after - cost(na, nb));   /* growth, then slack */
        if (best < 0 || c < best_cost) { best = s; best_cost = c; }
    }
    if (best < 0) {
        best = p->nslots++;
        p->a[best] = p->b[best] = 0;
    }
    if (na > p->a[best]) p->a[best] = na;
    if (nb > p->b[best]) p->b[best] = nb;
    p->busy[best] = 1;
    return best;
}

void gr_bind_shared(gr_graph *g)
{
    gr_bind(g);
    size_t n = (size_t)(g->n ? g->n : 1);
    int *last = es_alloc(g->arena, n * sizeof *last);
    char *own = es_alloc(g->arena, n);
    for (int i = 0; i < g->n; i++) {
        const gr_node *nd = &g->nodes[i];
        last[i] = i;
        own[i] = (gr_ops[nd->op].flags & GR_F_LEAF) != 0;
        for (int k = 0; k < nd->nin; k++) {
            last[nd->in[k]] = i;
            if (gr_rw_writes(nd, k)) own[nd->in[k]] = 1;
        }
    }
    for (int i = 0; i < g->noutputs; i++) own[g->outputs[i].node] = 1;

    planner p = { 0 };
    p.a = es_alloc(g->arena, n * sizeof *p.a);
    p.b = es_alloc(g->arena, n * sizeof *p.b);
    p.busy = es_alloc(g->arena, n);
    for (int i = 0; i < g->n; i++) {
        gr_node *nd = &g->nodes[i];
        if (nd->buf >= 0) {
            int64_t sz = (int64_t)gr_dtype_size(nd->dtype);
            int64_t b0 = gr_numel(nd->shape, 0) * sz, b1 = gr_numel(nd->shape, 1) * sz;
            /* [B,B] (broadcasting [B,1] with [B]) grows with B squared: not
             * affine, so its slot keeps the node's own size (a = -1) */
            int square = gr_numel(nd->shape, 2) * sz - b1 != b1 - b0;
            if (square) own[i] = 1;
            if (own[i]) {
                int s = p.nslots++;
                p.a[s] = square ? -1 : b1 - b0;
                p.b[s] = b0;
                p.busy[s] = 1;          /* for good */
                nd->buf = s;
            } else {
                nd->buf = take(&p, b1 - b0, b0);
            }
        }
        /* then the slots whose last reader this is (a value nobody reads dies at once) */
        for (int k = 0; k < nd->nin; k++) {
            int x = nd->in[k];
            if (!own[x] && last[x] == i && g->nodes[x].buf >= 0) p.busy[g->nodes[x].buf] = 0;
        }
        if (nd->buf >= 0 && !own[i] && last[i] == i) p.busy[nd->buf] = 0;
    }
    g->nbufs = p.nslots;
    g->slot_a = p.a;
    g->slot_b = p.b;
}

size_t gr_scratch_bytes(const gr_graph *g, int64_t B)
{
    char *seen = es_xcalloc((size_t)g->nbufs + 1, 1);
    size_t total = 0;
    for (int i = 0; i < g->n; i++) {      /* slots of inputs and params are the caller's */
        const gr_node *n = &g->nodes[i];
        if (n->buf >= 0 && (n->op == GR_INPUT || n->op == GR_PARAM)) seen[n->buf] = 1;
    }
    for (int i = 0; i < g->n; i++) {
        const gr_node *n = &g->nodes[i];
        if (n->buf < 0 || seen[n->buf]) continue;
        seen[n->buf] = 1;
        total += gr_buf_bytes(g, i, B);
    }
    free(seen);
    return total;
}

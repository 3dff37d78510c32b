/*
 * graph_impl.h — what the files of graph/ share among themselves and nobody
 * else needs (the public interface is graph.h).
 *
 * gr_infer_msg is gr_infer without the reporting: the verifier and the text
 * parser want the message as a string, the builders want it as a located
 * diagnostic. gr_push is the one place a node enters a graph.
 */
#ifndef ESTC_GRAPH_IMPL_H
#define ESTC_GRAPH_IMPL_H

#include "graph.h"

/* Shape/dtype rule of n's op; on error writes a user-facing message ("add:
 * shapes [B,3] and [4] cannot broadcast") into msg and returns -1. */
int gr_infer_msg(const gr_graph *g, gr_node *n, char *msg, size_t len);

/* Appends nd after inferring its shape and dtype (errors reported through
 * g->diags at nd->span). Returns the new id, or GR_NONE (silently when an
 * input is GR_NONE). */
int gr_push(gr_graph *g, const gr_node *nd);

/* Makes room for n nodes in all (the passes that rebuild a graph know how
 * many: growing by doubling would leave every smaller array in the arena). */
void gr_reserve(gr_graph *g, int n);

/* Appends nd as is (no inference): for copies of nodes known to be valid. */
int gr_push_raw(gr_graph *g, const gr_node *nd);

/* The passes that rebuild a graph (dce, narrow, onehot): an empty graph of
 * g's kind in g's arena, and g's outputs carried over through map (g's node
 * ids to the new graph's). */
gr_graph *gr_rebuild_begin(const gr_graph *g);
/* gr_dce of an intermediate graph of a pass, which is dropped (gr_drop) */
gr_graph *gr_dce_drop(gr_graph *g);
void gr_rebuild_outputs(gr_graph *ng, const gr_graph *g, const int *map);

/* Reports an error at sp through g->diags and counts it in g->nerrors. */
void gr_error(gr_graph *g, es_span sp, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Printable dimension: "B" for GR_BATCH. */
const char *gr_dim_str(int64_t d, char *buf, size_t n);

#endif

/*
 * graph.h — estc's computation graph (prefix gr_).
 *
 * A graph is an append-only list of nodes in topological order: a node's
 * inputs always have smaller ids. Nodes are built through gr_* builders that
 * infer the result's shape and dtype at once (an error is reported with the
 * node's source span and the builder returns GR_NONE so callers can go on and
 * find more errors). All memory belongs to the graph's arena.
 *
 * A "program" is a graph with a purpose (train step, eval step, predict) and a
 * buffer binding: every node that holds data owns one buffer slot, and a
 * program runs as entry(void **bufs, int64_t B). PARAM slots point at
 * variables, INPUT slots at fed batches, the others at scratch the caller
 * allocates for the largest batch (gr_buf_bytes). The reference evaluator
 * (gr_eval) and the compiled kernels (codegen) use the same binding, so their
 * results can be compared buffer by buffer.
 *
 * The graph knows nothing of the frontend or of data files.
 */
#ifndef ESTC_GRAPH_H
#define ESTC_GRAPH_H

#include "../core/core.h"

typedef enum {
#define OP(e, name, arity, flags) GR_##e,
#include "ops.def"
#undef OP
} gr_op;
/* The count lives in its own enum so that a switch over gr_op lists exactly
 * the ops (no case for a count that is not an op). */
enum {
#define OP(e, name, arity, flags) GR_COUNT_##e,
#include "ops.def"
#undef OP
    GR_NUM_OPS
};

enum { GR_F_ELEM = 1, GR_F_SIDE = 2, GR_F_LEAF = 4 };

typedef struct gr_opinfo { const char *name; int arity; int flags; } gr_opinfo;
extern const gr_opinfo gr_ops[GR_NUM_OPS];

typedef enum { GR_F32, GR_I32, GR_VOID } gr_dtype;
const char *gr_dtype_name(gr_dtype t);

#define GR_MAXDIMS 4
#define GR_MAXIN 8
#define GR_BATCH ((int64_t)-1)   /* the symbolic batch dimension */
#define GR_NONE (-1)             /* "no node": a failed build */

typedef struct gr_shape { int rank; int64_t d[GR_MAXDIMS]; } gr_shape;

/* initialisers for PARAM (a[0]) */
typedef enum {
    GR_INIT_ZEROS, GR_INIT_CONST,        /* f[0] = value */
    GR_INIT_UNIFORM,                     /* [f[0], f[1]) */
    GR_INIT_NORMAL,                      /* mean f[0], stddev f[1] */
    GR_INIT_TRUNC_NORMAL,                /* mean f[0], stddev f[1], redrawn beyond 2 stddev */
    GR_INIT_GLOROT_UNIFORM, GR_INIT_GLOROT_NORMAL, GR_INIT_HE_NORMAL,
} gr_init;

/* One step of a FUSED node's expression (ops.def): an elementwise op whose
 * operands x[0..arity) are values numbered inputs first: v < nin is the
 * node's input v, v >= nin the result of step v - nin (an earlier step).
 * f is the op's f[0] (the alpha of leaky_relu and elu). Step 0 may instead be
 * a matmul of inputs 0 and 1 (gr_fused_head), x[2] its transposes. */
typedef struct gr_fstep { gr_op op; int x[3]; double f; } gr_fstep;
#define GR_MAXSTEPS 48

typedef struct gr_node {
    gr_op op;
    gr_dtype dtype;
    gr_shape shape;
    int nin;
    int in[GR_MAXIN];
    int64_t a[4];            /* integer attributes (see ops.def) */
    double f[4];             /* float attributes (see ops.def) */
    const char *name;        /* INPUT/PARAM name; optional for others */
    float *data;             /* CONST values */
    es_span span;            /* where in the user's model this came from */
    int buf;                 /* buffer slot, or -1 if the node holds no data */
    const gr_fstep *steps;   /* FUSED: its expression (in the graph's arena) */
    int nsteps;
} gr_node;

typedef enum { GR_PROG_TRAIN, GR_PROG_EVAL, GR_PROG_PREDICT } gr_prog_kind;

/* A named result of a program (loss, logits, probabilities, class_ids, ...). */
typedef struct gr_output { const char *name; int node; } gr_output;

typedef struct gr_graph {
    es_arena *arena;
    int n, cap;
    gr_node *nodes;
    int noutputs;
    gr_output outputs[32];
    gr_prog_kind kind;
    int nbufs;               /* after gr_bind */
    int64_t *slot_a, *slot_b;  /* gr_bind_shared: each slot's bytes per batch row and fixed
                                * bytes (slot_a -1: the size of its one node) */
    es_diags *diags;         /* where builder errors go (may be NULL: then they are counted only) */
    int nerrors;
} gr_graph;

gr_graph *gr_new(es_arena *a, es_diags *diags);
/* Gives g's node array back to its arena for later graphs to reuse; g is left
 * empty. For an intermediate graph nothing refers to any more (what its nodes
 * point to, constants and names, stays). */
void gr_drop(gr_graph *g);

/* ---- builders: each returns the new node's id or GR_NONE ------------------ *
 * A builder given a GR_NONE input returns GR_NONE without a second message.   */
int gr_const(gr_graph *g, gr_shape s, const float *vals, es_span sp);
int gr_scalar(gr_graph *g, double v, es_span sp);
int gr_input(gr_graph *g, const char *name, gr_dtype t, gr_shape s, es_span sp);
int gr_param(gr_graph *g, const char *name, gr_shape s, gr_init init, double f0, double f1,
             int trainable, es_span sp);
/* generic: op with inputs and attributes; shape and dtype inferred (gr_infer) */
int gr_op_node(gr_graph *g, gr_op op, int nin, const int *in, const int64_t *a, const double *f,
               es_span sp);
/* FUSED (ops.def): the steps are copied into the graph's arena */
int gr_fused(gr_graph *g, int nin, const int *in, const gr_fstep *steps, int nsteps, es_span sp);
int gr_unary(gr_graph *g, gr_op op, int x, es_span sp);
int gr_binary(gr_graph *g, gr_op op, int x, int y, es_span sp);
int gr_matmul(gr_graph *g, int x, int y, int ta, int tb, es_span sp);
int gr_reshape(gr_graph *g, int x, gr_shape s, es_span sp);
int gr_sum_axis(gr_graph *g, int x, int axis, es_span sp);   /* axis < 0 counts from the end */

/* Shape and dtype rule of node n's op given its inputs; writes n->shape/n->dtype.
 * Returns 0 or -1 after reporting a diagnostic at n->span. */
int gr_infer(gr_graph *g, gr_node *n);

void gr_add_output(gr_graph *g, const char *name, int node);
int gr_find_output(const gr_graph *g, const char *name);   /* node id or GR_NONE */
int gr_find_named(const gr_graph *g, gr_op op, const char *name);

/* ---- shapes ---------------------------------------------------------------- */
gr_shape gr_shape0(void);
gr_shape gr_shape1(int64_t d0);
gr_shape gr_shape2(int64_t d0, int64_t d1);
int gr_shape_eq(gr_shape a, gr_shape b);
/* number of elements with the batch dimension set to B */
int64_t gr_numel(gr_shape s, int64_t B);
int gr_has_batch(gr_shape s);
/* NumPy broadcasting of a and b (GR_BATCH matches only GR_BATCH or 1); 0 or -1 */
int gr_broadcast(gr_shape a, gr_shape b, gr_shape *out);
/* "[B,10]" into buf */
const char *gr_shape_str(gr_shape s, char *buf, size_t n);
size_t gr_dtype_size(gr_dtype t);

/* ---- programs ------------------------------------------------------------ *
 * gr_autodiff: appends to g the gradient of scalar node `loss` with respect to
 * every trainable PARAM reachable from it. For each such param p, grads[p] is
 * filled with a gr_grad: either a dense node, or a sparse (ids, rows) pair when
 * every use of p is the table of one GATHER_SUM. *grads lives in g's arena.
 * Returns 0, or -1 after reporting diagnostics (a non-scalar loss, or a
 * path from a parameter through an op without a useful gradient: step,
 * sign, softmax_xent_grad). A loss that no trainable param reaches gives 0
 * gradients. Mean's gradient uses NUMEL when the count involves B. */
typedef struct gr_grad {
    int param;
    int dense;          /* node id of a dense gradient, or GR_NONE */
    int ids, rows;      /* sparse form (GR_NONE when dense) */
} gr_grad;
int gr_autodiff(gr_graph *g, int loss, gr_grad **grads, int *ngrads);

/* Optimizers. gr_apply_optimizer appends, for every gradient, the slot PARAMs
 * the optimizer needs (named "<param>/<slot>": adagrad "accum"; adam "m", "v",
 * "step"; ftrl "accum", "linear") and one APPLY_* node (sparse when the gradient
 * is). Defaults follow TensorFlow 1.x: adagrad initial_accum 0.1, ftrl
 * initial_accum 0.1 and lr_power -0.5, adam beta1 0.9 beta2 0.999 eps 1e-8. */
typedef enum { GR_OPT_SGD, GR_OPT_ADAGRAD, GR_OPT_ADAM, GR_OPT_FTRL } gr_opt_kind;
typedef struct gr_optimizer {
    gr_opt_kind kind;
    double lr;
    double initial_accum;     /* adagrad, ftrl */
    double beta1, beta2, eps; /* adam (eps also adagrad's, default 0) */
    double l1, l2, lr_power;  /* ftrl */
} gr_optimizer;
void gr_optimizer_defaults(gr_optimizer *o, gr_opt_kind kind);
int gr_apply_optimizer(gr_graph *g, const gr_grad *grads, int ngrads, const gr_optimizer *opt,
                       es_span sp);

/* Verifier: topological order, arity, dtypes and shapes re-inferred and equal,
 * named inputs/params unique, outputs valid. Returns 0 or -1 with a message. */
int gr_verify(const gr_graph *g, es_status *st);

/* Assigns buffer slots: every node except side-effect ones gets one. */
void gr_bind(gr_graph *g);
/* gr_bind, then intermediates whose lives (writer to last reader, in node
 * order) do not overlap share slots (graph/share.c). Leaves, outputs and
 * buffers updates write keep their own. A caller must then allocate each
 * slot once, gr_buf_bytes of any of its nodes (they all report the slot's
 * size), and not expect a shared slot to hold any but its last writer's
 * values after a run. */
void gr_bind_shared(gr_graph *g);
/* Bytes needed for node n's buffer at batch size B (its slot's, when shared). */
size_t gr_buf_bytes(const gr_graph *g, int node, int64_t B);
/* The scratch a bound program needs at batch size B: every slot but those
 * of inputs and params, each counted once. */
size_t gr_scratch_bytes(const gr_graph *g, int64_t B);

/* Dead-code elimination: keeps outputs, side-effect nodes and what they need.
 * Returns a new graph (node ids change; outputs are remapped). */
gr_graph *gr_dce(gr_graph *g);

/* ---- optimisation passes (graph/fold.c, simplify.c, cse.c, pipeline.c) ---- *
 * Each takes a verified graph and returns the optimised one: the same graph
 * changed in place (fold, simplify, cse: nodes that lose their last use stay
 * until dce) or a new one in the same arena (dce). All keep outputs, side
 * effects, spans and topological order, and are exact: gr_eval gives the same
 * bits before and after. Bind the result again (gr_bind) before running it.
 * docs/passes.md describes each rewrite. */
gr_graph *gr_fold(gr_graph *g);       /* constant folding */
/* The program with its variables as known values (graph/freeze.c): values[i]
 * holds PARAM i's; what depends on them alone is computed once, and comes
 * back as variables (*out_values, per node of the result) of a new bound
 * graph in a. NULL when g has side effects. For the exported predictor. */
gr_graph *gr_freeze(const gr_graph *g, const float *const *values, es_arena *a, const float ***out_values);
/* gr_freeze as the pipeline's pass "freeze": skipped (NULL) when ESTC_DISABLE
 * names it, verified and dumped (ESTC_DUMP) like the others; NULL with st
 * set when the environment or the verifier fails, NULL with st clear when
 * the program is left as it is. */
gr_graph *gr_optimize_frozen(const gr_graph *g, const float *const *values, es_arena *a, const float ***out_values,
                             es_status *st);
gr_graph *gr_simplify(gr_graph *g);   /* exact algebraic identities */
gr_graph *gr_cse(gr_graph *g);        /* common-subexpression elimination */
/* Narrowing (graph/narrow.c): a product whose readers are all slices of its
 * last axis computes only the columns they read. Exact; returns a new graph
 * (it ends with dce). */
gr_graph *gr_narrow(gr_graph *g);
/* One-hot lookups (graph/onehot.c): the one-hot columns of a product's concat
 * input become rows of the weights looked up by id (gather_sum), and its
 * weight gradient a scatter_add. Not bit-exact: sums are rounded at other
 * places. Returns a new graph (it ends with dce). */
gr_graph *gr_onehot(gr_graph *g);
/* Elementwise fusion (graph/fuse.c): every maximal tree of elementwise ops
 * over one shape whose inner nodes have no other reader becomes one FUSED
 * node (computed per element in registers by codegen). Exact like the others;
 * returns a new graph (it ends with dce). */
gr_graph *gr_fuse(gr_graph *g);
/* Matmul epilogues (graph/fuse.c): a matrix product read only by one
 * elementwise or fused node of its shape becomes the head of that node's
 * expression (gr_fused_head), so its bias add and activation (or the
 * activation's gradient) are applied in one pass over the product as it is
 * stored. Exact; runs after fuse; returns a new graph (it ends with dce). */
gr_graph *gr_epilogue(gr_graph *g);
/* The operand count of op as an elementwise FUSED step (1, 2 or 3 for
 * select), or 0 if op cannot be one. */
int gr_fused_arity(gr_op op);
/* Does FUSED node n start with a matmul (its epilogue form: step 0 is
 * matmul($0, $1), x[2] = transpose A + 2 * transpose B)? */
int gr_fused_head(const gr_node *n);

/* The pipeline: verify, fold, simplify, cse, narrow, onehot, dce, fuse, epilogue, with the verifier after every
 * pass. Environment (read here and nowhere else in the graph layer):
 *   ESTC_DISABLE=cse,fold   skip these passes (names as above, "verify" too)
 *   ESTC_DUMP=fold,dce      print "# after <pass>" and the graph to stderr
 *                           after these passes ("all": after every one)
 * Returns the optimised graph, or NULL with st set when a name in either
 * variable is unknown or the verifier fails (naming the pass that broke it). */
gr_graph *gr_optimize(gr_graph *g, es_status *st);
/* The same machinery over an explicit comma-separated list of pass names
 * ("fold,cse,dce"; "" runs none): verifies the input, then runs each pass in
 * order with the verifier after it. For estc-opt and pass tests. */
gr_graph *gr_run_passes(gr_graph *g, const char *passes, es_status *st);

/* Reference evaluator: runs every node in order with naive C loops.
 * bufs[n->buf] must point at storage of gr_buf_bytes(g, n, B) for every node. */
void gr_eval(const gr_graph *g, void **bufs, int64_t B);

/* DROPOUT's mask (ops.def), shared by the evaluator and codegen so both draw
 * the same bits: key once per call, then element i is kept when
 * (gr_mix64(key + GR_GOLDEN64 * (i + 1)) >> 40) >= gr_dropout_threshold(rate).
 * The scale applied to kept elements is gr_dropout_scale(rate). */
#define GR_GOLDEN64 0x9E3779B97F4A7C15ull
uint64_t gr_mix64(uint64_t z);                       /* splitmix64's finaliser */
uint64_t gr_dropout_key(int64_t seed, int32_t step);
uint32_t gr_dropout_threshold(double rate);          /* ceil(rate * 2^24) */
float gr_dropout_scale(double rate);                 /* (float)(1 / (1 - rate)) */

/* Initial values of a PARAM (by its initialiser), drawn from rng. */
void gr_init_param(const gr_node *p, float *out, es_rng *rng);

/* Text form: one node per line, e.g.
 *   %3:f32[1,B] = matmul(%1, %2) a=[1,1]     (a[] = ta, tb; trailing zeros omitted)
 * gr_print writes it; gr_parse reads it back (used by pass tests). The full
 * format is described in graph/text.c. gr_parse returns NULL with st set to
 * "line N: ..." on error; the parsed graph has no diagnostics sink. */
void gr_print(const gr_graph *g, FILE *out);
gr_graph *gr_parse(es_arena *a, const char *text, es_status *st);

#endif

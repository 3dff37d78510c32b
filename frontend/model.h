/*
 * model.h — elaboration of model functions (frontend-internal).
 *
 * A `model` declaration is a program that runs at compile time: fe_elaborate
 * instantiates the estimator declaration's model (a user `model` of the file
 * or one of the stdlib's pre-made estimators) once per mode — train, eval,
 * predict — as TensorFlow calls a model_fn once per ModeKeys, and each run
 * builds that mode's graph. Hyper-parameters, lists, loops, `if` and helper
 * calls are evaluated away; only tensors become graph nodes.
 *
 * Names a model can see: its own locals and parameters; the declarations of
 * the file it is written in (for the user's file: features, the label by its
 * name, its models and defs); the stdlib's defs; then the built-ins
 * (docs/language.md lists them). Stdlib code does not see the user's file.
 *
 * Invariants: every problem is reported through `report` with a span in the
 * user's file when the cause lies there (code running in the stdlib reports
 * at the user's call site that led to it), and the same message at the same
 * place is reported once although three modes run. A mistake makes a
 * "poison" value that every later use passes on silently, so one mistake
 * gives one message.
 */
#ifndef ESTC_FE_MODEL_H
#define ESTC_FE_MODEL_H

#include "ast.h"
#include "../core/spec.h"
#include "../graph/graph.h"

typedef enum { FE_G_FEATURE, FE_G_LABEL, FE_G_MODEL, FE_G_DEF, FE_G_SOURCE, FE_G_ESTIMATOR } fe_global_kind;

/* A declaration of the user's file as the elaborator sees it. */
typedef struct fe_global {
    const char *name;
    fe_global_kind kind;
    const fe_decl *decl;
    es_feature *feature;     /* FE_G_FEATURE checked without error; NULL = broken (stay silent) */
    const fe_expr *column;   /* FE_G_FEATURE declared as a model-level column (embedding(...)) */
} fe_global;

typedef void (*fe_report_fn)(void *ctx, es_diag_kind k, es_span sp, const char *msg);

typedef struct fe_elab_in {
    es_arena *arena;
    const es_source *src;           /* the user's file */
    const es_spec *spec;            /* label, head, features, run.seed */
    int label_ok;                   /* 0: the label has an error (label values are poison) */
    const fe_expr *const *norm_expr;   /* per spec->features[i]: ES_NORM_EXPR's expression */
    const fe_global *globals;
    int nglobals;
    const fe_file *const *stdlib;   /* the parsed stdlib files */
    int nstdlib;
    const fe_decl *estimator;       /* the estimator declaration (NULL: none) */
    fe_report_fn report;
    void *ctx;
} fe_elab_in;

typedef struct fe_elab_out {
    gr_graph *prog[3];              /* indexed by gr_prog_kind; not bound, not optimised */
    const char *model_name;         /* "DNNClassifier", or the user's model */
} fe_elab_out;

/* Runs the estimator's model in the three modes. Returns the number of errors
 * reported (0: out->prog[] are complete). */
int fe_elaborate(const fe_elab_in *in, fe_elab_out *out);

/* The seed of the layer-th dropout call of a model (1-based, in the order the
 * model makes them) under a run's seed: the DROPOUT node's a[0]. */
int64_t fe_dropout_seed(uint64_t run_seed, int layer);

/* Names of the stdlib's models (the pre-made estimators), for messages. */
int fe_stdlib_models(const fe_file *const *stdlib, int nstdlib, const char **names, int max);

/* The embedded stdlib sources, generated at build time from the .est files of stdlib/. */
typedef struct fe_stdlib_file { const char *name; const char *text; } fe_stdlib_file;
extern const fe_stdlib_file fe_stdlib_files[];
extern const int fe_stdlib_nfiles;

#endif

/*
 * frontend.h — from a .est file to a checked, lowered model (prefix fe_).
 *
 * Stages: lexer.l (reentrant flex) -> parser.y (pure bison, builds the AST
 * through ast.c builders only) -> sema.c (names, types, options, values; every
 * problem a located diagnostic, checking goes on after an error) -> lower.c
 * (the es_spec data contract and the three graph programs).
 *
 * The frontend is the only layer that knows the language. Its output, an
 * fe_model, is what the rest of estc consumes: the runtime reads model->spec,
 * codegen compiles model->prog[].
 */
#ifndef ESTC_FRONTEND_H
#define ESTC_FRONTEND_H

#include "../core/core.h"
#include "../core/spec.h"
#include "../graph/graph.h"

typedef struct fe_model {
    es_arena *arena;          /* owns everything below */
    es_source *src;           /* the .est file */
    es_spec spec;
    /* prog[GR_PROG_TRAIN], prog[GR_PROG_EVAL], prog[GR_PROG_PREDICT]; not yet bound,
     * built by running the estimator's model (a stdlib or user `model`) per mode.
     * Inputs: one INPUT per es_spec.used feature, named as the feature (i32 [B]
     * ids for categorical, f32 [B,width] for dense), "label" (i32 [B] for a
     * classifier, f32 [B] for a regressor) in train and eval, and "global_step"
     * (i32 [1], the step being run) in train when the model has dropout.
     * Outputs:
     *   train:   "loss" (scalar)
     *   eval:    the predict outputs, "example_loss" [B,1], and "metric/NAME" [B,1]
     *            per metric of the model (the runtime reports each one's mean)
     *   predict: the model's named predictions, always including the head's:
     *            binary     "logits" [B,1], "logistic" [B,1], "probabilities" [B,2], "class_ids" i32 [B]
     *            multiclass "logits" [B,K], "probabilities" [B,K], "class_ids" i32 [B]
     *            regression "predictions" [B,1]                                          */
    gr_graph *prog[3];
    const char *estimator;    /* the model instantiated, e.g. "LinearClassifier" or a user model */
    uint64_t fingerprint;     /* hash of variable names and shapes: a model_dir's identity */
    double parse_seconds;     /* parsing (the stdlib too) and checking */
    double lower_seconds;     /* elaboration and lowering to the three programs */
} fe_model;

/* Parses, checks and lowers the file at path. On any error the diagnostics go
 * to d and NULL is returned (d->nerrors > 0). */
fe_model *fe_compile_file(const char *path, es_diags *d);
/* The same from text in memory (path is used in messages and to resolve
 * relative data paths). */
fe_model *fe_compile_text(const char *path, const char *text, es_diags *d);
void fe_model_free(fe_model *m);

/* Changes the run's seed after compilation (`estc train --seed N`): sets
 * spec.run.seed and re-keys the dropout layers, whose masks derive from it,
 * so a different seed draws different masks. Call it on the programs as
 * compiled (m->prog, before any optimisation pass copies them). */
void fe_model_reseed(fe_model *m, uint64_t seed);

/* Parse and check only (no lowering): `estc check`. Returns the error count. */
int fe_check_file(const char *path, es_diags *d);

#endif

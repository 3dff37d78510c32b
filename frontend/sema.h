/*
 * sema.h — semantic checks of a parsed .est file (frontend-internal).
 *
 * fe_sema resolves every name, checks every call against what the language
 * defines (csv, vocabulary, bucketized, ...), reads vocabulary files, and
 * produces a checked model: the data half of es_spec (sources, features,
 * label, head, run settings). Then it runs the estimator's model (model.c)
 * in the three modes, whose messages join the file's, and completes the spec
 * (spec.used) from the programs' inputs. Lowering (lower.c) verifies the
 * programs and fingerprints them.
 *
 * Invariants: every problem is a located diagnostic and checking goes on
 * after it; a declaration with an error is marked bad and references to it
 * report nothing more, so one mistake gives one message. Diagnostics are
 * reported in source order whatever order the checks run in. When fe_sema
 * returns 0 errors, the checked model is complete and consistent: every
 * reference resolved, every number in range, n_classes agreeing with the label.
 */
#ifndef ESTC_FE_SEMA_H
#define ESTC_FE_SEMA_H

#include "ast.h"
#include "../core/spec.h"
#include "../graph/graph.h"

typedef struct fe_checked {
    es_spec spec;                 /* complete: used is filled from the programs' inputs */
    int nsources;
    es_source_spec **sources;     /* in declaration order */
    const fe_expr **norm_expr;    /* per spec.features[i]: the normalize expression (ES_NORM_EXPR) */

    /* the estimator */
    const char *est_name;         /* the declaration's name, e.g. "linear" */
    const char *est_class;        /* the model it instantiates: "LinearClassifier", a user model */
    es_span est_span;             /* the estimator declaration */
    gr_graph *prog[3];            /* built by running the model (model.c), per gr_prog_kind */
} fe_checked;

/* Checks file and fills out, running the estimator's model (a model of the file or
 * of the parsed stdlib) to build its programs; returns the number of errors reported. */
int fe_sema(es_arena *a, const fe_file *file, const fe_file *const *stdlib, int nstdlib, es_diags *d,
            fe_checked *out);

#endif

/*
 * sema.h — semantic checks of a parsed .est file (frontend-internal).
 *
 * fe_sema resolves every name, checks every call against what the language
 * defines (csv, vocabulary, bucketized, LinearClassifier, ftrl, ...), reads
 * vocabulary files, and produces a checked model: the data half of es_spec
 * (sources, features, label, head, run settings) and the estimator's
 * configuration. Lowering (lower.c) turns that into graphs and completes the
 * spec (spec.used).
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

typedef enum { FE_EST_LINEAR_CLASSIFIER, FE_EST_LINEAR_REGRESSOR } fe_est_kind;

typedef struct fe_checked {
    es_spec spec;                 /* all but spec.used (lowering decides that) */
    int nsources;
    es_source_spec **sources;     /* in declaration order */
    const fe_expr **norm_expr;    /* per spec.features[i]: the normalize expression (ES_NORM_EXPR) */

    /* the estimator */
    const char *est_name;         /* the declaration's name, e.g. "linear" */
    const char *est_class;        /* "LinearClassifier" */
    fe_est_kind est_kind;
    int nest_features;
    es_feature **est_features;    /* as listed (indicators included), no duplicates */
    int n_classes;                /* 1 for a regressor */
    gr_optimizer opt;
    const char *opt_name;         /* "ftrl", ... */
    int opt_default_lr;           /* 1 if the learning rate came from the default rule */
    es_span est_span;             /* the estimator declaration */
    es_span opt_span;             /* the optimizer call (or the estimator if defaulted) */
} fe_checked;

/* Checks file and fills out; returns the number of errors reported. */
int fe_sema(es_arena *a, const fe_file *file, es_diags *d, fe_checked *out);

#endif

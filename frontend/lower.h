/*
 * lower.h — from a checked model to graphs (frontend-internal).
 *
 * fe_lower completes the spec (spec.used) and builds the train, eval and
 * predict programs of the estimator into m->prog[], with the fingerprint.
 * It runs only on a model sema accepted; a graph builder error here is an
 * internal inconsistency, reported like any diagnostic at the declaration
 * that caused it.
 */
#ifndef ESTC_FE_LOWER_H
#define ESTC_FE_LOWER_H

#include "frontend.h"
#include "sema.h"

/* Returns 0, or -1 after reporting to d. */
int fe_lower(fe_checked *c, fe_model *m, es_diags *d);

#endif

/*
 * lower.h — from a checked model to graphs (frontend-internal).
 *
 * fe_lower hands the checked spec and the programs sema built to m, verifies
 * the programs and computes the fingerprint. It runs only on a model sema
 * accepted; a program that does not verify is an internal inconsistency,
 * reported at the estimator declaration.
 */
#ifndef ESTC_FE_LOWER_H
#define ESTC_FE_LOWER_H

#include "frontend.h"
#include "sema.h"

/* Returns 0, or -1 after reporting to d. */
int fe_lower(fe_checked *c, fe_model *m, es_diags *d);

#endif

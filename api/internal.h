/*
 * internal.h — what the API's own files share about an open model (not
 * installed; include/estc/ is the public interface).
 *
 * struct estc_model is private to api/estc.c; other API files (export.c) see
 * a model through estc_model_view, filled there.
 */
#ifndef ESTC_API_INTERNAL_H
#define ESTC_API_INTERNAL_H

#include "estc/estc.h"
#include "frontend/frontend.h"
#include "runtime/runtime.h"
#include "codegen/codegen.h"

typedef struct estc_model_view {
    const fe_model *fm;       /* spec, fingerprint, source file, estimator name */
    const gr_graph *predict;  /* the predict program, optimised and bound */
    rt_vars *vars;            /* every variable, restored from model_dir's newest good checkpoint */
    int64_t global_step;      /* of that checkpoint */
    const char *model_dir;
} estc_model_view;

/* Restores the variables if no call did yet (a checkpoint is required, as for
 * estc_predict) and fills v; everything it points at belongs to m. Returns 0,
 * or -1 with st set. Defined in api/estc.c. */
int estc_model_view_get(estc_model *m, estc_model_view *v, estc_status *st);

/* Restores the variables and compiles the predict program, if no call did
 * yet; *fn is its entry (buffers bound as view.predict says). */
int estc__predict_entry(estc_model *m, cg_entry_fn *fn, estc_status *st);

/* An estc_status from a layer's es_status, or from a message; both return -1.
 * Defined in api/estc.c. */
int estc__status_from(estc_status *st, const es_status *es);
int estc__fail(estc_status *st, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

#endif

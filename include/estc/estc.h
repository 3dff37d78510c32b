/*
 * estc.h — the public C API of estc (libestc).
 *
 * Open a model file once (it is parsed, checked, lowered and compiled), then
 * train, evaluate and predict with it. The `estc` command is a thin layer over
 * these calls.
 *
 * Ownership: estc_model_open returns a model the caller frees with
 * estc_model_free; everything it points at belongs to it. Strings passed in are
 * copied or only read during the call.
 * Threads: one estc_model is used by one thread at a time; distinct models are
 * independent (no global state), so several may run in parallel.
 * Errors: every call that can fail returns 0 on success and -1 on failure with
 * estc_status filled (code and a one-line message). Diagnostics about the model
 * file itself (file:line:col with a caret) go to the `diagnostics` stream given
 * at open time. Nothing here calls exit().
 */
#ifndef ESTC_ESTC_H
#define ESTC_ESTC_H

#include <stdint.h>
#include <stdio.h>

#ifdef __cplusplus
extern "C" {
#endif

#define ESTC_VERSION_STRING "0.1.0"

typedef struct estc_status {
    int code;            /* 0 ok; ESTC_E* otherwise */
    char message[1024];
} estc_status;

enum {
    ESTC_OK = 0,
    ESTC_EINVAL = 1,     /* bad argument */
    ESTC_EIO = 2,        /* a file could not be read or written */
    ESTC_EDATA = 3,      /* bad data: a malformed row, a non-finite loss */
    ESTC_EMODEL = 4,     /* the model file has errors (diagnostics were printed) or a
                            model_dir belongs to another model */
    ESTC_ECOMPILE = 5,   /* code generation failed */
    ESTC_EINTERNAL = 6,
};

typedef struct estc_model estc_model;

typedef struct estc_open_options {
    FILE *diagnostics;        /* where model-file diagnostics go; NULL = stderr */
    const char *model_dir;    /* overrides the run block's model_dir */
    const char *data;         /* overrides the data file of the command's source */
    int64_t seed;             /* overrides run.seed when >= 0 */
    int64_t steps;            /* overrides run.steps when > 0 */
    int64_t epochs;           /* overrides run.epochs when > 0 */
} estc_open_options;

/* Defaults: every override unset. */
void estc_open_options_init(estc_open_options *o);

estc_model *estc_model_open(const char *path, const estc_open_options *opt, estc_status *st);
void estc_model_free(estc_model *m);

typedef struct estc_train_result {
    int64_t global_step;      /* after training */
    int64_t steps_run;        /* by this call */
    int64_t examples;         /* examples consumed by this call */
    double final_loss;        /* mean loss of the last logging window */
    double seconds;
    int64_t rows_skipped;     /* bad rows skipped (bad_rows = "skip") */
} estc_train_result;

/* Trains from the latest checkpoint in model_dir (or from initial values), for the
 * run's epochs or steps, logging to `log` (NULL = silent), and saves a checkpoint. */
int estc_train(estc_model *m, FILE *log, estc_train_result *res, estc_status *st);

/* Evaluation metrics, in TensorFlow's order for the model's head. */
typedef struct estc_metrics {
    int n;
    const char *name[32];
    double value[32];
} estc_metrics;

int estc_evaluate(estc_model *m, estc_metrics *out, estc_status *st);

typedef enum { ESTC_FORMAT_CSV, ESTC_FORMAT_JSONL } estc_format;

/* Writes one prediction per input row to out. */
int estc_predict(estc_model *m, FILE *out, estc_format fmt, estc_status *st);

/* The text form of one program ("train", "eval" or "predict"), or its LLVM IR. */
int estc_dump_graph(estc_model *m, const char *program, int llvm, FILE *out, estc_status *st);

#ifdef __cplusplus
}
#endif
#endif

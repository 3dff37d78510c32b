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

#include <signal.h>
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

    /* The training loop (docs/model_dir.md); each overrides the run block's
     * setting of the same name when set. steps and max_steps given here
     * without epochs also lift the run block's epochs limit. */
    int64_t max_steps;                /* > 0: train until the global step reaches it */
    int64_t save_checkpoints_steps;   /* > 0: save every N steps (no time-based saves) */
    double save_checkpoints_secs;     /* > 0: save every S seconds (no step-based saves) */
    int64_t keep_checkpoint_max;      /* >= 0 (0 = keep all); -1 = unset */
    int64_t log_step_count_steps;     /* > 0: a log line every N steps exactly (unset: every 100,
                                       at most one each 0.1 s; docs/running.md) */
    int64_t save_summary_steps;       /* >= 0 (0 = no summaries); -1 = unset */
    int64_t eval_every_steps;         /* > 0: evaluate during training every N steps */
    double eval_every_secs;           /* > 0: ... or every S seconds */
    const char *eval_data;            /* data file for evaluation during training */
    const char *early_stopping;       /* eval metric whose stalling stops training */
    int64_t early_stopping_patience;  /* > 0: evaluations without improvement allowed */
    const char *warm_start_from;      /* model_dir or .safetensors file */
    const char *warm_start_vars;      /* regex over trainable variable names */
    int nan_guard;                    /* -1 unset (default on), 0 off, 1 on */
    int histograms;                   /* -1 unset, 0 off, 1 weight histograms in the summaries */
    int progress;                     /* -1: a progress bar when the log is a terminal; 0 never; 1 always */
    /* When *stop becomes non-zero (a signal handler sets it), training saves a
     * checkpoint after the current step and returns with ESTC_STOP_SIGNAL. */
    const volatile sig_atomic_t *stop;
    int threads;                      /* > 0: overrides run.threads, the cores matrix products use */
} estc_open_options;

/* Defaults: every override unset. Always start from this: in a zeroed struct
 * some fields read as set (keep_checkpoint_max 0 = keep all, nan_guard 0 = off). */
void estc_open_options_init(estc_open_options *o);

estc_model *estc_model_open(const char *path, const estc_open_options *opt, estc_status *st);
void estc_model_free(estc_model *m);

typedef struct estc_train_result {
    int64_t global_step;      /* after training */
    int64_t steps_run;        /* by this call */
    int64_t examples;         /* examples consumed by this call */
    double final_loss;        /* mean loss of the last logging window */
    double seconds;           /* in the training loop (compiling and fast-forwarding excluded) */
    int64_t rows_skipped;     /* bad rows skipped (bad_rows = "skip") */
    int stop_reason;          /* ESTC_STOP_* */
    int64_t checkpoint_step;  /* step of the last checkpoint saved by this call, -1 if none */
    double final_seconds;     /* of seconds: after the last step (the last evaluation, summaries and
                               * checkpoint); examples / (seconds - final_seconds) is the steps' speed */
} estc_train_result;

enum {
    ESTC_STOP_DONE = 0,       /* the run's epochs, steps or max_steps were reached */
    ESTC_STOP_NOTHING = 1,    /* the model_dir had already reached them: nothing was done */
    ESTC_STOP_SIGNAL = 2,     /* *estc_open_options.stop was set */
    ESTC_STOP_EARLY = 3,      /* early stopping: the watched metric stopped improving */
};

/* Trains from the latest good checkpoint in model_dir (or from initial values,
 * or warm-started), until the run's targets: `epochs` and `max_steps` are
 * absolute for the model_dir, `steps` counts from where it stands. Logs to
 * `log` (NULL = silent), saves checkpoints as configured and one at the end,
 * writes summaries. A resumed run continues at the same place in the data
 * stream, so it ends bit-identical to a run never interrupted. */
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

/* ---- in-process prediction ---------------------------------------------------
 *
 * A predictor scores rows held in memory with the model's compiled predict
 * program and the weights restored from model_dir: both are prepared once, by
 * estc_predictor_new (or an earlier call on the model); a call then only
 * encodes the rows' features and runs native code — no graph is rebuilt and
 * no checkpoint re-read.
 *
 * A row is one estc_value per input column: the columns of the model's predict
 * source in file order, without the label column (estc_predictor_column names
 * them). Missing values and unknown categories follow the model's declared
 * defaults, as when reading the data file.
 *
 * Ownership: a predictor belongs to its caller (estc_predictor_free); it reads
 * the model's code and variables, so the model must outlive it and must not
 * be trained while it is in use. Threads: estc_predictor_new uses the model
 * as every call does (one thread at a time); once made, distinct predictors of
 * one model may run in parallel, one thread each (make one per thread). */

typedef struct estc_value {
    const char *str;   /* the value as text, as a data file's field holds it ("" or the
                          source's missing token = missing); NULL: see num */
    double num;        /* with str NULL: a numeric column's value (NaN = missing); a
                          string column's value is then missing */
} estc_value;

#define ESTC_NUM(x) ((estc_value){ NULL, (double)(x) })
#define ESTC_STR(s) ((estc_value){ (s), 0.0 })

typedef struct estc_predictor estc_predictor;

/* Restores the variables and compiles the predict program if needed. Fails
 * (ESTC_EIO) when model_dir has no checkpoint. */
estc_predictor *estc_predictor_new(estc_model *m, estc_status *st);
void estc_predictor_free(estc_predictor *p);

int estc_predictor_ncolumns(const estc_predictor *p);
/* Name of input column i; *is_string (if not NULL) tells its type. */
const char *estc_predictor_column(const estc_predictor *p, int i, int *is_string);
/* Where the data file's rows hold the label: their fields are the input
 * columns with the label's field inserted at this position. */
int estc_predictor_label_column(const estc_predictor *p);
/* Index of the input column called name, or -1. */
int estc_predictor_column_index(const estc_predictor *p, const char *name);
/* Classes of a classifier (0 for a regressor) and their names (NULL without
 * a label vocabulary). */
int estc_predictor_nclasses(const estc_predictor *p);
const char *estc_predictor_class_name(const estc_predictor *p, int k);

typedef struct estc_prediction {
    int32_t class_id;            /* classifiers: argmax of the logits; -1 for a regressor or on error */
    const char *class_name;      /* its label-vocabulary name, or NULL */
    float value;                 /* regressor: the prediction; classifier: the probability of class_id */
    const float *probabilities;  /* classifiers: nclasses values; NULL for a regressor */
    const float *logits;         /* classifiers: 1 logit (binary) or nclasses */
    int error;                   /* 0, or 1 + the input column of a value that could not be used */
} estc_prediction;

/* Predicts rows[0..n) (n * ncolumns values, row-major) into out[0..n). The
 * arrays out[i] points at belong to the predictor, valid until its next call.
 * A row whose value cannot be used (missing without a default, unparsable,
 * not finite) gets error != 0, class_id -1 and NaNs; the other rows are
 * predicted. Returns the number of such rows (st then holds the first one's
 * message, "row I: column NAME: ...", with code ESTC_EDATA), or -1 with st set
 * on a bad argument. */
int64_t estc_predict_rows(estc_predictor *p, const estc_value *rows, int64_t n, estc_prediction *out,
                          estc_status *st);

/* ---- compiling ahead of use ---------------------------------------------------
 *
 * estc_compile JIT-compiles every program of the model (train, eval and
 * predict) that no call compiled yet, and does nothing else: no data is read
 * and model_dir is not touched. Programs are compiled on up to one thread per
 * processor ($ESTC_COMPILE_THREADS overrides the count). Compiled objects are
 * taken from and stored in the object cache unless $ESTC_NO_CACHE is set. */
typedef struct estc_compile_timings {
    /* milliseconds; the phases of estc_model_open */
    double parse_ms;       /* parse and check (the model file and the stdlib) */
    double lower_ms;       /* elaboration of the model and lowering to three programs */
    double passes_ms;      /* graph passes and buffer binding */
    /* the phases of code generation, summed over the programs (threads overlap them) */
    double setup_ms;       /* creating the JIT sessions */
    double emit_ms;        /* LLVM IR emission */
    double cache_ms;       /* cache key, lookup and load (or store) */
    double optimize_ms;    /* LLVM's optimiser */
    double codegen_ms;     /* machine code */
    double link_ms;        /* JIT link */
    double open_ms;        /* estc_model_open, wall clock */
    double compile_ms;     /* estc_compile, wall clock */
    double total_ms;       /* open_ms + compile_ms: from the .est file to ready kernels */
    int programs;          /* programs ready after the call */
    int compiled;          /* of them, compiled by LLVM in this call */
    int cached;            /* of them, loaded from the object cache in this call */
    int threads;           /* threads that compiled them */
    /* the two tiers: programs the cache did not hold are first compiled for
     * speed of compiling, then optimised on a background thread and swapped
     * in between steps (both tiers compute the same bits) */
    int fast;              /* programs ready with fast-tier code */
    int optimized;         /* of them, optimised since (estc_compile_wait) */
    double optimized_ms;   /* from estc_compile to the last optimised one (estc_compile_wait) */
} estc_compile_timings;

/* t may be NULL. Returns 0, or -1 with st set (ESTC_ECOMPILE). Returns when
 * every program can run, possibly as fast-tier code. */
int estc_compile(estc_model *m, estc_compile_timings *t, estc_status *st);
/* Waits until the programs estc_compile gave fast-tier code are optimised
 * (and stored in the object cache); fills t's optimized and optimized_ms.
 * Returns t->optimized. */
int estc_compile_wait(estc_model *m, estc_compile_timings *t);

/* The text form of one program ("train", "eval" or "predict"), or its LLVM IR. */
int estc_dump_graph(estc_model *m, const char *program, int llvm, FILE *out, estc_status *st);

/* ---- model_dir contents (no model file needed) ------------------------------ */

/* The scalars of TensorBoard event files: `path` is a model_dir (its own files
 * are run ".", model_dir/eval's run "eval"), any log directory, or one event
 * file. With purge, points a restarted run superseded are dropped as
 * TensorBoard drops them. */
typedef struct estc_scalar {
    const char *run;
    const char *tag;
    int64_t step;
    double wall_time;
    double value;
} estc_scalar;
typedef struct estc_summaries estc_summaries;
estc_summaries *estc_summaries_read(const char *path, int purge, estc_status *st);
int estc_summaries_count(const estc_summaries *s);
const estc_scalar *estc_summaries_get(const estc_summaries *s, int i);
/* A self-contained SVG: one panel per tag, one line per run. */
int estc_summaries_plot(const estc_summaries *s, const char *title, FILE *out, estc_status *st);
void estc_summaries_free(estc_summaries *s);

/* Every checkpoint file of a model_dir, checked (structure and checksums). */
typedef struct estc_checkpoint {
    char file[128];
    int64_t global_step;      /* -1 if unreadable */
    int64_t bytes;            /* -1 if missing */
    int listed;               /* named by model_dir/checkpoint */
    int latest;               /* the index's latest */
    int ok;
    char problem[512];
} estc_checkpoint;
/* *out is malloc'd (free it); oldest first. */
int estc_list_checkpoints(const char *model_dir, estc_checkpoint **out, int *n, estc_status *st);

#ifdef __cplusplus
}
#endif
#endif

/*
 * spec.h — the data contract of a model: where examples come from, how raw
 * columns become the numbers the kernels see, and how a run is configured.
 *
 * The frontend fills an es_spec from a checked .est file; the runtime reads it
 * to stream CSV rows into batches; the graph never sees it (the frontend
 * lowers the model to graph inputs whose names match the feature names here).
 * All memory is owned by the arena the spec was built in.
 *
 * Encoding of one example (what the input pipeline produces per row):
 *   - each CATEGORICAL feature gives ids, an int32 array [batch] (-1 = no id:
 *     contributes nothing, as TensorFlow's default_value=-1), or [batch, M]
 *     for a multivalent one (max_values M > 1), padded with -1;
 *   - each WEIGHTED feature gives its weights, floats [batch, M];
 *   - each DENSE feature gives floats [batch, width] (raw values; any
 *     normalisation is part of the graph, see es_feature.norm);
 *   - the label gives an int32 class id [batch] (classification) or a float
 *     [batch] (regression).
 * The graph input for feature f is named f->name; for the label "label".
 */
#ifndef ESTC_SPEC_H
#define ESTC_SPEC_H

#include "core.h"

typedef enum { ES_COL_FLOAT, ES_COL_INT, ES_COL_STRING } es_coltype;

typedef struct es_column {
    const char *name;
    es_coltype type;
    int has_default;          /* value used when the field is missing */
    double num_default;       /* float/int columns */
    const char *str_default;  /* string columns */
    es_span span;
} es_column;

typedef enum { ES_BAD_ROWS_ERROR, ES_BAD_ROWS_SKIP } es_bad_rows;

typedef struct es_source_spec {
    const char *name;
    const char *path;         /* resolved against the .est file's directory */
    const char *separator;    /* e.g. "," or ", "; a field's surrounding spaces are also trimmed */
    int header;               /* first (non-skipped) row names the columns */
    int skip_rows;            /* rows skipped before anything else */
    const char *comment;      /* lines starting with this are skipped (NULL = none) */
    const char *missing;      /* token meaning "missing" besides the empty field (NULL = none) */
    es_bad_rows bad_rows;
    int cache;                /* keep the encoded examples of the first epoch in memory
                                 for the later ones (the runtime's stream) */
    int ncols;
    es_column *cols;
    es_span span;
} es_source_spec;

typedef enum {
    ES_FEAT_NUMERIC,          /* dense: raw column value(s) */
    ES_FEAT_BUCKETIZED,       /* categorical: index of the bucket the value falls in */
    ES_FEAT_VOCAB,            /* categorical: index in a vocabulary list */
    ES_FEAT_IDENTITY,         /* categorical: the integer value itself */
    ES_FEAT_HASHED,           /* categorical: xxHash64(string) % buckets */
    ES_FEAT_CROSSED,          /* categorical: hash of the inputs' keys % buckets */
    ES_FEAT_INDICATOR,        /* dense: one-hot of a categorical feature (made in the graph) */
    ES_FEAT_WEIGHTED,         /* categorical ids of `of`, each with a weight read from `column` */
} es_feat_kind;

typedef enum { ES_NORM_NONE, ES_NORM_ZSCORE, ES_NORM_MINMAX, ES_NORM_EXPR } es_norm_kind;

typedef struct es_feature es_feature;
struct es_feature {
    const char *name;
    es_feat_kind kind;
    int column;               /* index into the source's columns (-1 for crossed/indicator) */
    int categorical;          /* 1 if it yields ids */
    int64_t num_buckets;      /* categorical: ids lie in [0, num_buckets) */
    int width;                /* dense: floats per example */

    /* numeric */
    es_norm_kind norm;        /* applied in the graph, not by the runtime. zscore/minmax
                                 statistics come from the training data (a pre-pass) and
                                 live in the model as non-trainable variables named
                                 "<feature>/mean", "<feature>/std" (zscore) or
                                 "<feature>/min", "<feature>/max" (minmax), each shape
                                 [width]; the runtime fills them before the first step. */
    double num_default;       /* value for a missing field when the column has no default;
                                 NaN = none, and a missing value is then an error naming the
                                 column (the runtime reads it so; 0 would invent data) */

    /* bucketized */
    int nbounds;
    double *bounds;           /* ascending; id = number of bounds <= value */

    /* vocabulary */
    int nvocab;
    const char **vocab;       /* id = position */
    int64_t num_oov;          /* out-of-vocabulary strings hash into [nvocab, nvocab+num_oov) */
    int64_t default_id;       /* when num_oov == 0: id for unknown values (-1 = none) */

    /* crossed: the inputs, categorical features. A raw string column named in a
     * cross appears as a hidden HASHED feature. Each input contributes a 64-bit
     * key: hashed -> the full xxHash64 of the string (before the modulo), every
     * other kind -> its id. id = XXH64(keys[], seed 0) % num_buckets. */
    int ncross;
    es_feature **cross;

    /* indicator: handled by the frontend (one_hot of `of`'s ids in the graph);
     * an indicator feature never appears in es_spec.used, `of` does.
     * weighted: `of` is the (vocabulary/identity/hashed) ids feature, `column` a
     * string column of value_separator-joined numbers, one weight per id of `of`
     * (a different count is a row error). Its graph input, named after it, is
     * f32 [batch, max_values] (= of->max_values), 0 where `of`'s id is -1;
     * `of` is fed too (its ids). categorical = 1 (it stands for ids). */
    es_feature *of;

    /* multivalent (vocabulary, identity, hashed): the field holds up to
     * max_values values joined by value_separator; ids are int32
     * [batch, max_values], padded with -1. max_values 1 = univalent, ids [batch].
     * A field with more values than max_values is a row error. */
    int max_values;
    const char *value_separator;   /* NULL when max_values == 1 */

    es_span span;
};

/* The head decides loss, predictions and metric set, as TensorFlow's heads do. */
typedef enum { ES_HEAD_BINARY, ES_HEAD_MULTICLASS, ES_HEAD_REGRESSION } es_head;

typedef enum { ES_LABEL_CLASS_VOCAB, ES_LABEL_CLASS_INT, ES_LABEL_NUMERIC } es_label_kind;

typedef struct es_label_spec {
    const char *name;
    es_label_kind kind;
    int column;
    int n_classes;            /* classification */
    const char **vocab;       /* CLASS_VOCAB: class names, id = position */
    int nalias;
    const char **alias_from;  /* alias_from[i] reads as alias_to[i] */
    const char **alias_to;
    const char *rstrip;       /* characters removed from the end before lookup (e.g. ".") */
    int lowercase;            /* compare case-insensitively */
    es_span span;
} es_label_spec;

typedef struct es_run_spec {
    int64_t batch_size;       /* default 64 */
    int64_t epochs;           /* default 1 when steps is not set */
    int64_t steps;            /* 0 = until epochs are done */
    int64_t shuffle_buffer;   /* 0 = no shuffle; default 10000 */
    uint64_t seed;            /* default 42 */
    const char *model_dir;    /* resolved against the .est file's directory */
    int64_t log_every;        /* log loss every N steps (default 100; the run block's
                                 log_every or log_step_count_steps) */
    int log_every_given;      /* log_every was set (run block or command line): its
                                 lines are not thinned out (docs/running.md) */
    int64_t eval_batch_size;  /* default 1024 */
    int64_t threads;          /* cores the matrix products use; 0 = OpenBLAS's own choice
                                 (every core, or OPENBLAS_NUM_THREADS) */

    /* The safe training loop (docs/model_dir.md). 0 / NULL = not given; the
     * runtime applies the defaults noted, so a CLI flag can still override. */
    int64_t max_steps;        /* absolute target global step for the model_dir */
    int64_t save_checkpoints_steps;   /* save every N steps ... */
    double save_checkpoints_secs;     /* ... or every S seconds (default 600 when neither) */
    int64_t keep_checkpoint_max;      /* -1 = not given (default 5); 0 = keep all */
    int64_t save_summary_steps;       /* -1 = not given (default 100); 0 = no summaries */
    int64_t eval_every_steps;         /* train-and-evaluate on the eval source ... */
    double eval_every_secs;           /* ... every N steps or S seconds (0 = never) */
    const char *early_stopping;       /* eval metric to watch (NULL = no early stopping) */
    int64_t early_stopping_patience;  /* evaluations without improvement before stopping (0 = default 5) */
    int nan_guard;                    /* -1 = not given (default on), 0 off, 1 on */
    int histograms;                   /* write weight histograms with the summaries */
    const char *warm_start_from;      /* model_dir or .safetensors file (resolved against the .est dir) */
    const char *warm_start_vars;      /* regex over variable names (NULL = ".*") */
} es_run_spec;

typedef struct es_spec {
    es_source_spec *train;    /* source used by train */
    es_source_spec *eval;     /* source used by evaluate/predict (defaults to train) */
    int nfeatures;
    es_feature **features;    /* in declaration order; only those the model uses are fed */
    int nused;
    es_feature **used;        /* the features the model consumes, each a graph input */
    es_label_spec label;
    es_head head;
    es_run_spec run;
} es_spec;

#endif

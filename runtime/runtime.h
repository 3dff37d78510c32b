/*
 * runtime.h — what runs a compiled model on data (prefix rt_).
 *
 * The runtime knows the data contract (core/spec.h) and the graph's buffer
 * binding (graph/graph.h); it never sees the .est source or LLVM. Compiled
 * programs reach it as plain entry functions with the graph they came from.
 *
 *   rt_csv      streaming CSV reader: one row at a time from a fixed-size buffer,
 *               so files larger than memory work; quoted fields; located errors.
 *   rt_reader   rows -> encoded examples (feature-column transforms: vocabulary
 *               lookup, hashing, bucketizing, crossing; raw numeric values; label).
 *   rt_stream   encoded examples -> batches: shuffle buffer, epochs, seed.
 *   rt_vars     the variable store: every PARAM of every program by name.
 *   rt_ckpt     checkpoints (safetensors files written atomically).
 *   rt_metrics  evaluation metrics (TensorFlow's head metric sets).
 */
#ifndef ESTC_RUNTIME_H
#define ESTC_RUNTIME_H

#include "../core/core.h"
#include "../core/spec.h"
#include "../graph/graph.h"

/* ---- CSV ------------------------------------------------------------------ */

typedef struct rt_csv rt_csv;

/* Opens path with the source's format options (separator, header, skip_rows,
 * comment). Returns NULL and sets st ("cannot open PATH: reason") on failure. */
rt_csv *rt_csv_open(const es_source_spec *src, const char *path, es_status *st);
/* Reads the next data row. Returns 1 with fields set, 0 at end of file, -1 on
 * an I/O error or a malformed row that cannot be split (st set). Field strings
 * are NUL-terminated, trimmed of surrounding spaces, unquoted, and valid until
 * the next call. Blank lines are skipped. */
int rt_csv_next(rt_csv *c, int *nfields, char ***fields, es_status *st);
int64_t rt_csv_line(const rt_csv *c);        /* 1-based line number of the last row */
const char *rt_csv_path(const rt_csv *c);
/* Byte offset of the start of the next unread row (for checkpointing a position). */
int64_t rt_csv_offset(const rt_csv *c);
void rt_csv_close(rt_csv *c);
/* rt_csv_open with a chosen initial buffer size (rt_csv_open uses 1 MiB); the
 * buffer still grows for a row longer than it. Tests use tiny buffers. */
rt_csv *rt_csv_open_bufsize(const es_source_spec *src, const char *path, size_t bufsize,
                            es_status *st);
/* The header row's names when the source has a header (else n = 0, NULL). */
const char *const *rt_csv_header(const rt_csv *c, int *n);

/* ---- encoding examples ------------------------------------------------------ *
 * An encoded example is a fixed-size record:
 *   int32 ids[ncat] | float dense[ndense_floats] | label (int32 or float)
 * The layout follows spec->used in order (categorical features take one id;
 * dense features take `width` floats). */
typedef struct rt_layout {
    int nfeat;              /* = spec->nused */
    int *offset;            /* per used feature: index of its first id or float */
    int ncat, ndense;       /* number of id slots and float slots */
    int label_is_class;     /* label stored as int32 class id */
    size_t rec_bytes;
} rt_layout;

void rt_layout_init(rt_layout *l, const es_spec *spec, es_arena *a);

typedef struct rt_reader rt_reader;

/* A reader for one data file of the given source. path NULL = the source's path.
 * with_label 0 lets predict run on files whose label field is empty or unknown. */
rt_reader *rt_reader_open(const es_spec *spec, const es_source_spec *src, const char *path,
                          int with_label, es_status *st);
/* Encodes the next valid row into rec (rt_layout.rec_bytes). Returns 1, 0 at end,
 * -1 on error with st = "FILE:LINE: column NAME: what is wrong". Rows with bad
 * fields are skipped and counted when the source says bad_rows = skip. */
int rt_reader_next(rt_reader *r, void *rec, es_status *st);
int64_t rt_reader_skipped(const rt_reader *r);
int64_t rt_reader_rows(const rt_reader *r);   /* rows encoded so far */
int64_t rt_reader_line(const rt_reader *r);
void rt_reader_close(rt_reader *r);

/* Pre-pass statistics for numeric features with zscore/minmax normalisation:
 * reads the whole training file once and returns, per used feature, mean, std,
 * min and max of its (raw) values. path NULL = spec->train's path. Every dense
 * feature gets statistics; categorical ones get count 0. std is the population
 * std, and 1 for a constant column (so a zscore never divides by zero). */
typedef struct rt_stats { double mean, std, min, max; int64_t count; } rt_stats;
int rt_compute_stats(const es_spec *spec, const char *path, rt_stats *out, es_status *st);

/* ---- batches ------------------------------------------------------------- */

typedef struct rt_batch {
    int64_t n;              /* examples in this batch (the last one may be short) */
    int nfeat;
    void **feat;            /* per used feature: int32[n] ids or float[n*width] */
    void *label;            /* int32[n] or float[n] */
} rt_batch;

typedef struct rt_stream rt_stream;

/* Batches over `epochs` passes of a file (epochs <= 0: one pass), shuffled
 * through a buffer of shuffle_buffer examples (0 = file order) with a
 * generator seeded by seed. Deterministic given (file, seed, options). */
rt_stream *rt_stream_open(const es_spec *spec, const es_source_spec *src, const char *path,
                          int with_label, int64_t batch_size, int64_t epochs,
                          int64_t shuffle_buffer, uint64_t seed, es_status *st);
/* Fills b with the next batch (storage owned by the stream, valid until the next
 * call). Returns 1, 0 when the data is exhausted, -1 on error (st set). */
int rt_stream_next(rt_stream *s, rt_batch *b, es_status *st);
int64_t rt_stream_skipped(const rt_stream *s);
void rt_stream_close(rt_stream *s);

/* ---- variables --------------------------------------------------------------- */

typedef struct rt_var {
    const char *name;
    gr_shape shape;         /* never has a batch dimension */
    int64_t numel;
    float *data;            /* 64-byte aligned */
    int trainable;
} rt_var;

typedef struct rt_vars { int n, cap; rt_var *v; } rt_vars;

void rt_vars_init(rt_vars *vs);
void rt_vars_free(rt_vars *vs);
/* Adds every PARAM of g not yet present (initialised with gr_init_param from rng,
 * in node order, so a seed gives the same values). Returns -1 if a PARAM of the
 * same name has another shape (st names it). */
int rt_vars_add_graph(rt_vars *vs, const gr_graph *g, es_rng *rng, es_status *st);
rt_var *rt_vars_find(rt_vars *vs, const char *name);
/* Adds one zero-filled variable (for state that no graph declares, and tests).
 * Returns NULL with st set if the name exists or the shape is not fixed. */
rt_var *rt_vars_add(rt_vars *vs, const char *name, gr_shape shape, int trainable, es_status *st);

/* ---- checkpoints --------------------------------------------------------- *
 * model_dir/model-<step>.safetensors holds every variable (F32, shape as declared) and
 * __metadata__ { "format": "estc-1", "global_step": "N", "fingerprint": "hex",
 * "checksum": "hex", "header_checksum": "hex", "estc_version": "..." } (ckpt.c has
 * the details). model_dir/checkpoint is a small text index naming the latest file
 * and the kept ones (the last 5; older files are deleted). Writes go to a
 * temporary file, are fsynced and renamed, then the directory is fsynced. */
int rt_ckpt_save(const char *model_dir, const rt_vars *vs, int64_t global_step,
                 uint64_t fingerprint, es_status *st);
/* Loads into existing variables. Returns 1 if a checkpoint was loaded, 0 if
 * model_dir has none, -1 on error: unreadable, damaged, or from an incompatible
 * model (st names the first variable that is missing or differs in shape). */
int rt_ckpt_load(const char *model_dir, rt_vars *vs, int64_t *global_step,
                 uint64_t *fingerprint, es_status *st);

/* ---- metrics -------------------------------------------------------------- */

typedef struct rt_metrics rt_metrics;
rt_metrics *rt_metrics_new(es_head head, int n_classes);
/* Adds a batch: per example loss; binary: probability of class 1 (probs[n]) and
 * int labels; multi-class: probabilities [n,K] and int labels; regression: the
 * prediction and float labels. */
void rt_metrics_add(rt_metrics *m, int64_t n, const float *loss, const float *pred,
                    const void *labels);
/* Final values, in TensorFlow's key order. names/values point into m. */
int rt_metrics_result(rt_metrics *m, int64_t global_step, const char ***names,
                      const double **values);
void rt_metrics_free(rt_metrics *m);

#endif

/*
 * runtime.h — what runs a compiled model on data (prefix rt_).
 *
 * The runtime knows the data contract (core/spec.h) and the graph's buffer
 * binding (graph/graph.h); it never sees the .est source or LLVM. Compiled
 * programs reach it as plain entry functions with the graph they came from.
 *
 *   rt_csv      streaming CSV reader: one row at a time from a fixed-size buffer,
 *               so files larger than memory work; quoted fields; located errors.
 *   rt_parse_*  numbers as strtod/strtoll read them, with a fast exact path.
 *   rt_reader   rows -> encoded examples (feature-column transforms: vocabulary
 *               lookup, hashing, bucketizing, crossing; raw numeric values; label).
 *   rt_stream   encoded examples -> batches: shuffle buffer, epochs, seed.
 *   rt_vars     the variable store: every PARAM of every program by name.
 *   rt_ckpt     checkpoints (safetensors files written atomically), their
 *               index, damage fallback, warm starting.
 *   rt_metrics  evaluation metrics (TensorFlow's head metric sets).
 *   rt_events   TensorBoard event files: TFRecord framing, Event protos,
 *               writer and reader; rt_scalars reads a log directory's scalars.
 *   rt_plot     an SVG of scalar curves.
 *   rt_guard    finding the first non-finite tensor of a program run.
 *   rt_progress log lines and a terminal progress bar.
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

/* Splitting and number parsing in one pass. rt_csv_next_parsed reads the next
 * row as rt_csv_next does (same fields, same errors), and for a row that is
 * one plain line (no '"'), the common case, it also parses the columns whose
 * kind is RT_CSV_F64 or RT_CSV_I64 while it splits: when such a field is a
 * plain decimal that rt_scan_f64 / rt_scan_i64 read exactly, val[c] is its
 * value (an int converted to double) and stamp[c] is set to now. Any other
 * field (empty, a missing token, a number needing strtod, garbage) is only
 * split, for the caller to handle from its text. The fields of such a row go
 * into the plan's own array (its first ncols; *nfields still counts them
 * all); a row that needed the quote-aware parser comes in the reader's array
 * with nothing parsed. A plan's kinds are read once (runs of columns are
 * worked out from them): they must not change between calls. */
enum { RT_CSV_TEXT, RT_CSV_F64, RT_CSV_I64,
       /* a flag on F64 and I64: only the value is wanted, so a field parsed
        * at once leaves fields[c] and len[c] as they were (and the row's
        * bytes unterminated); one that is not is split as usual */
       RT_CSV_VALUE_ONLY = 4 };
typedef struct rt_csv_plan {
    int ncols;
    const unsigned char *kind;   /* [ncols] RT_CSV_* */
    char **fields;               /* [ncols] */
    int *len;                    /* [ncols] the fields' lengths (strlen), or NULL */
    double *val;                 /* [ncols] */
    int64_t *stamp;              /* [ncols] */
    int64_t now;
} rt_csv_plan;
int rt_csv_next_parsed(rt_csv *c, const rt_csv_plan *plan, int *nfields, char ***fields, es_status *st);
/* Can a column of this source be parsed while splitting? Not when the
 * separator starts with a character a number may hold (a number would run
 * into it). */
int rt_csv_can_parse(const rt_csv *c);
/* How many of the plan's number fields the last rt_csv_next_parsed parsed
 * (each has its stamp set to now); -1 when that row was not walked. */
int rt_csv_parsed(const rt_csv *c);

/* ---- numbers (number.c) ----------------------------------------------------- *
 * The whole of s as strtod / strtoll (base 10) read it in the "C" locale
 * (whatever the process's locale: '.' is always the decimal point), but
 * quicker: 1 when all of s is a number (*v set; *erange as strtod/strtoll
 * would set errno to ERANGE), 0 when it is not (*v is then meaningless).
 * Values, acceptance and range errors are bit for bit those of the libc calls. */
int rt_parse_f64(const char *s, double *v, int *erange);
int rt_parse_i64(const char *s, int64_t *v, int *erange);
/* The fast paths alone, for a number inside a longer text (a field of a CSV
 * line, not NUL-terminated): when s starts with a plain decimal that the fast
 * path reads exactly, *v is set and the return value is where the number
 * stops; NULL otherwise (the caller then reads the whole field with
 * rt_parse_f64 / rt_parse_i64). When the text from s to the returned pointer
 * is the whole field, *v is what rt_parse_f64 / rt_parse_i64 give for it, and
 * with no range error. */
const char *rt_scan_f64(const char *s, double *v);
const char *rt_scan_i64(const char *s, int64_t *v);
/* rt_scan_f64_padded (scan.h, inline) is rt_scan_f64, quicker, for a text
 * followed by at least RT_SCAN_PAD readable bytes (from s on, whatever they
 * hold: the CSV buffer keeps such a slack after its data); same results. */
enum { RT_SCAN_PAD = 32 };
/* Its longer shapes (out of line): the same results as rt_scan_f64. */
const char *rt_scan_f64_long(const char *s, double *v);
/* The correctly rounded double of m * 10^e10 into *v, when the fast paths
 * have it (Clinger's, or Eisel-Lemire's for e10 in [-27, 27]); 0 if not. */
int rt_f64_decimal(uint64_t m, int e10, double *v);

/* ---- encoding examples ------------------------------------------------------ *
 * An encoded example is a fixed-size record:
 *   int32 ids[ncat] | float dense[ndense_floats] | label (int32 or float)
 * The layout follows spec->used in order (categorical features take one id;
 * dense features take `width` floats). */
typedef struct rt_layout {
    int nfeat;              /* = spec->nused */
    int *offset;            /* per used feature: index of its first id or float */
    int *width;             /* per used feature: its slots per example (ids or floats) */
    unsigned char *dense;   /* per used feature: 1 when its slots are floats */
    int ncat, ndense;       /* number of id slots and float slots */
    int label_is_class;     /* label stored as int32 class id */
    size_t rec_bytes;
    int *word;              /* per used feature: index of its first slot in the record, in 4-byte words */
    int all_width1;         /* every feature has one slot (the common case, scattered word by word) */
} rt_layout;

void rt_layout_init(rt_layout *l, const es_spec *spec, es_arena *a);
/* n doubles to floats: 1, or 0 when one is beyond a float's range or NaN
 * (stored as 0: converting it is undefined). Four at a time, in one AVX
 * register where the CPU has them, else in two SSE2 registers where there
 * are; rt_narrow_sse2 is the latter whatever the CPU (for tests). */
int rt_narrow(const double *v, float *out, int n);
int rt_narrow_sse2(const double *v, float *out, int n);
/* Copies encoded example rec into row `row` of per-feature arrays feat[i]
 * (int32 [B, width] or float [B, width]) and of label (4 bytes a row; may be NULL). */
void rt_layout_scatter(const rt_layout *l, const void *rec, void *const *feat, void *label, int64_t row);
/* rt_layout_scatter of the n records recs[0 .. n) (wherever each lies) into
 * rows [row, row + n), a feature at a time. */
void rt_layout_gather(const rt_layout *l, const void *const *recs, int64_t n, void *const *feat, void *label,
                      int64_t row);

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
int64_t rt_reader_offset(const rt_reader *r);  /* byte offset of the next unread row */
void rt_reader_close(rt_reader *r);

/* A reader without a file, for rows given in memory (the embedding API):
 * rt_reader_encode encodes one row of src->ncols values. fields[c] is a
 * column's text as a CSV field would hold it ("" or the missing token =
 * missing), or NULL for a numeric column whose value is nums[c] (NaN =
 * missing); the label column is ignored. Errors read "row ROW: column NAME: ...".
 * Returns 0, or -1 with st set (ES_EDATA for a value that cannot be used). */
rt_reader *rt_reader_open_mem(const es_spec *spec, const es_source_spec *src, es_status *st);
int rt_reader_encode(rt_reader *r, const char **fields, const double *nums, int64_t row, void *rec,
                     es_status *st);
/* The source column the last row error was about (-1: the row as a whole). */
int rt_reader_error_column(const rt_reader *r);
/* Numbers parsed while rows are split (rt_csv_next_parsed): on by default.
 * Off, every row is split first and each field then read from its text, the
 * simpler path the tests compare the fast one with. */
void rt_reader_parse_in_split(rt_reader *r, int on);

/* Pre-pass statistics for numeric features with zscore/minmax normalisation:
 * reads the whole training file once and returns, per used feature, mean, std,
 * min and max of its (raw) values. path NULL = spec->train's path. Every dense
 * feature gets statistics; categorical ones get count 0. std is the population
 * std, and 1 for a constant column (so a zscore never divides by zero). */
typedef struct rt_stats { double mean, std, min, max; int64_t count; } rt_stats;
int rt_compute_stats(const es_spec *spec, const char *path, rt_stats *out, es_status *st);
/* The same statistics over records the caller has (rt_stream_stats). */
typedef struct rt_stats_acc rt_stats_acc;
rt_stats_acc *rt_stats_begin(const es_spec *spec, rt_stats *out);
void rt_stats_add(rt_stats_acc *a, const rt_layout *lay, const void *rec);
void rt_stats_end(rt_stats_acc *a);

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
 * generator seeded by seed. Deterministic given (file, seed, options). When
 * the source says cache and there are several epochs, the first epoch's
 * encoded records are kept in memory (rec_bytes + 8 bytes a row) and the
 * later epochs read them instead of the file, in the same order. */
rt_stream *rt_stream_open(const es_spec *spec, const es_source_spec *src, const char *path,
                          int with_label, int64_t batch_size, int64_t epochs,
                          int64_t shuffle_buffer, uint64_t seed, es_status *st);
/* With on, the stream reads and encodes the file on a background thread from
 * the next rt_stream_next on, while the caller computes (off by default). The
 * batches, positions, skip counts and errors are exactly those of a stream
 * without it. With the source's `cache`, epochs after the first are served
 * from memory and the thread only reads the first. */
void rt_stream_background(rt_stream *s, int on);
/* Right after rt_stream_open, with the source's cache on: reads the whole
 * first epoch into the cache now instead of as it is consumed (the batches
 * are the same). 1 when the epoch is held in memory, 0 when it is not (no
 * cache, or dropped for lack of memory), -1 on error. */
int rt_stream_preload(rt_stream *s, es_status *st);
/* rt_compute_stats over the preloaded cache: the same records in the same
 * order, so the same figures, without reading the file again. -1 when the
 * cache is not complete. */
int rt_stream_stats(const rt_stream *s, rt_stats *out);
/* 1 when the source's cache (src->cache) did not fit, in memory or under
 * ESTC_CACHE_MAX_MB, and was dropped: the epochs after the first then read
 * the file again (what they give is the same). Waits for a batch being
 * assembled ahead. */
int rt_stream_cache_dropped(const rt_stream *s);
/* Fills b with the next batch (storage owned by the stream, valid until the next
 * call). Returns 1, 0 when the data is exhausted, -1 on error (st set). */
int rt_stream_next(rt_stream *s, rt_batch *b, es_status *st);
/* Starts assembling the next batch on a thread while the caller works; the
 * next rt_stream_next returns it (waiting if need be). The batch, its order
 * and any error are those rt_stream_next would have given; the batch last
 * returned stays valid meanwhile (two storage sets are used in turn). The
 * stream then stands after the batch asked for: rt_stream_position and the
 * other queries wait for it and describe the stream after it, so a caller
 * that records positions (checkpoints) asks ahead only when it will not
 * record one before the next rt_stream_next. Without a thread it does
 * nothing and the next call assembles as usual. */
void rt_stream_request(rt_stream *s);
/* What a batch has taken to assemble, wherever it was assembled: a moving
 * average of the last few, in seconds (0 before the first). A caller weighs
 * it against what handing a batch between threads costs before asking ahead. */
double rt_stream_batch_seconds(const rt_stream *s);
int64_t rt_stream_skipped(const rt_stream *s);
void rt_stream_close(rt_stream *s);

/* Where a stream is: what a checkpoint records so that a resumed run can be
 * checked to stand exactly where the interrupted one stood. */
typedef struct rt_stream_pos {
    int64_t examples;         /* examples emitted since the stream was opened */
    int64_t epoch;            /* epochs started (1 = the first) */
    int64_t in_epoch;         /* examples emitted in that epoch */
    int64_t offset;           /* byte offset of the next unread row of the epoch's
                                 file; -1 when the epoch's file is exhausted and its
                                 buffer drained */
    int64_t rows_skipped;     /* bad rows skipped so far */
    uint64_t rng[4];          /* the shuffle generator's state */
    uint64_t buffer_hash;     /* XXH64 of the shuffle buffer's records */
} rt_stream_pos;
void rt_stream_position(const rt_stream *s, rt_stream_pos *p);
/* Consumes the next n examples without assembling batches (whole epochs after
 * the first one read are replayed on the generator without reading the file).
 * Afterwards the stream is in exactly the state n examples of rt_stream_next
 * batches would have left it in. Returns the number skipped (< n when the
 * stream's epochs run out), or -1 on a read error (st set). */
int64_t rt_stream_skip(rt_stream *s, int64_t n, es_status *st);
/* Rows per epoch, known once an epoch has been read to its end; else -1. */
int64_t rt_stream_epoch_rows(const rt_stream *s);
/* 1 if the stream has no example left (its epochs are done), without reading. */
int rt_stream_done(const rt_stream *s);

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

/* What a checkpoint's metadata says besides the variables (all stored as
 * strings in the safetensors __metadata__; ckpt.c lists the keys). */
typedef struct rt_ckpt_meta {
    int64_t global_step;
    uint64_t fingerprint;
    int has_input;            /* the training input's position below is recorded */
    rt_stream_pos input;
    uint64_t seed;            /* the stream that position belongs to */
    int64_t shuffle_buffer, batch_size;
    int has_early;            /* early-stopping state is recorded */
    char early_metric[64];    /* the metric it watches */
    double early_best;        /* best value of the watched metric so far (NaN: none yet) */
    int64_t early_best_step;  /* global step of that evaluation */
    int64_t early_bad;        /* evaluations since then without improvement */
    /* filled by rt_ckpt_restore */
    char file[128];           /* the checkpoint file loaded (a name in model_dir) */
    char damaged[1024];       /* newer checkpoints passed over as damaged, one message each, "; "-separated */
} rt_ckpt_meta;

/* Saves like rt_ckpt_save with the full metadata. keep_max: checkpoints kept
 * (older ones are deleted once the index no longer names them); 0 keeps all. */
int rt_ckpt_write(const char *model_dir, const rt_vars *vs, const rt_ckpt_meta *meta, int keep_max,
                  es_status *st);
/* Loads the latest good checkpoint of model_dir into vs. A damaged or missing
 * latest checkpoint is reported in meta->damaged and the previous one in the
 * index is tried, then any other model-*.safetensors in model_dir, newest
 * first. strict: a tensor in the checkpoint that vs lacks is also a mismatch
 * (a store holding every program's variables expects them all). Returns 1
 * loaded, 0 none (a fresh model_dir), -1 on error: every checkpoint damaged,
 * or the model is incompatible (ES_EMODEL, naming the first mismatch). */
int rt_ckpt_restore(const char *model_dir, rt_vars *vs, int strict, rt_ckpt_meta *meta, es_status *st);

/* One checkpoint file of a model_dir, checked without a model (structure and
 * both checksums). */
typedef struct rt_ckpt_info {
    char file[128];
    int64_t global_step;      /* -1 if unreadable */
    int64_t bytes;
    int listed;               /* named by the index */
    int latest;               /* the index's latest */
    int ok;
    char problem[512];        /* why not ok */
} rt_ckpt_info;
/* Every model-<step>.safetensors in model_dir, oldest first; *out is malloc'd. */
int rt_ckpt_list(const char *model_dir, rt_ckpt_info **out, int *n, es_status *st);

/* Warm start (TensorFlow's WarmStartSettings): copies every trainable variable
 * of vs whose name matches `pattern` (a POSIX extended regular expression
 * matched from the start of the name, as TensorFlow's re.match; NULL = ".*")
 * from the latest good checkpoint of `from` (a model_dir or a .safetensors
 * file). A matching variable missing from that checkpoint or shaped
 * differently is an error naming it, and so is a pattern matching nothing.
 * On success *nvars variables were copied from the checkpoint at *from_step. */
int rt_ckpt_warm_start(const char *from, rt_vars *vs, const char *pattern, int *nvars,
                       int64_t *from_step, es_status *st);

/* Takes model_dir's training lock (model_dir/.estc.lock, an flock released
 * when the process ends however it ends). Returns the lock's fd, or -1 with
 * st naming the problem (another process trains this model_dir). */
int rt_ckpt_lock(const char *model_dir, es_status *st);
void rt_ckpt_unlock(int fd);
/* Removes what a writer killed mid-save left in model_dir: temporary files,
 * and checkpoint files that a readable index does not list. Call it with the
 * lock held. */
void rt_ckpt_clean(const char *model_dir);

/* ---- metrics -------------------------------------------------------------- */

typedef struct rt_metrics rt_metrics;
rt_metrics *rt_metrics_new(es_head head, int n_classes);
/* Adds a batch: per example loss; binary: probability of class 1 (probs[n]) and
 * int labels; multi-class: probabilities [n,K] and int labels; regression: the
 * prediction and float labels. */
void rt_metrics_add(rt_metrics *m, int64_t n, const float *loss, const float *pred,
                    const void *labels);
/* The same with a weight per example (NULL = all 1); loss is then the weighted
 * per-example loss, and average_loss divides its sum by the sum of weights. */
void rt_metrics_add_weighted(rt_metrics *m, int64_t n, const float *loss, const float *pred,
                             const void *labels, const float *weights);
/* Final values, in TensorFlow's key order. names/values point into m. */
int rt_metrics_result(rt_metrics *m, int64_t global_step, const char ***names,
                      const double **values);
void rt_metrics_free(rt_metrics *m);

/* ---- TensorBoard event files (events.c) -------------------------------------- *
 * A file is a sequence of TFRecords: u64 length (little-endian), masked CRC32C
 * of those 8 bytes, the payload, masked CRC32C of the payload; the mask is
 * ((crc >> 15) | (crc << 17)) + 0xa282ead8. Each payload is an Event proto:
 * wall_time=1 (double), step=2 (int64), file_version=3 ("brain.Event:2" in the
 * first record), summary=5 { value=1 { tag=1, simple_value=2 (float),
 * histo=5, tensor=8 } }, session_log=7 { status=1 }. */
uint32_t rt_crc32c(uint32_t crc, const void *data, size_t n);   /* Castagnoli; start with crc 0 */
uint32_t rt_crc32c_masked(const void *data, size_t n);

typedef struct rt_events rt_events;
/* Creates dir and dir/events.out.tfevents.<seconds>.<host> (".N" appended if a
 * file of that name exists), and writes the file_version event. */
rt_events *rt_events_open(const char *dir, es_status *st);
const char *rt_events_path(const rt_events *w);
/* Queue one event (written by rt_events_flush, each record whole in one write). */
void rt_events_scalar(rt_events *w, int64_t step, const char *tag, double value);
/* A histogram of v with TensorFlow's default bucket limits. */
void rt_events_histogram(rt_events *w, int64_t step, const char *tag, const float *v, int64_t n);
/* SessionLog START at step: TensorBoard drops the run's points at steps >= step
 * written before it (what a run that crashed after its last checkpoint wrote). */
void rt_events_session_start(rt_events *w, int64_t step);
int rt_events_flush(rt_events *w, es_status *st);
void rt_events_close(rt_events *w);

typedef enum { RT_VALUE_SCALAR, RT_VALUE_OTHER } rt_value_kind;
typedef struct rt_event_value {
    const char *tag;
    rt_value_kind kind;       /* SCALAR: simple_value, or a one-element numeric tensor */
    double value;
} rt_event_value;
typedef struct rt_event {
    double wall_time;
    int64_t step;             /* 0 when the field is absent (proto3 default) */
    const char *file_version; /* NULL if absent */
    int session_status;       /* SessionLog.status; 0 if there is none (1 = START) */
    int nvalues;
    rt_event_value *values;
} rt_event;
/* Calls fn for each event of the file (strings valid during the call). Every
 * length and payload CRC is checked; a damaged record is an error naming its
 * byte offset. A record cut short at the end of the file (a writer killed
 * mid-record) ends the file without error; *truncated (if given) says so. */
typedef int (*rt_event_fn)(void *ctx, const rt_event *e);
int rt_events_read(const char *path, rt_event_fn fn, void *ctx, int *truncated, es_status *st);

/* Every scalar of a log directory as TensorBoard shows them: the event files
 * of `path` itself form the run "." and those of each subdirectory (one level,
 * e.g. model_dir/eval) a run named after it; `path` may also be one event
 * file. Files of a run are read in name order (their names start with the
 * creation time). With purge, TensorBoard's rules apply: a SessionLog START at
 * step s drops the run's earlier points at steps >= s, and a tag whose step
 * goes backwards drops its earlier points at steps >= the new one. Points are
 * kept in reading order. */
typedef struct rt_scalar { const char *run, *tag; int64_t step; double wall_time, value; } rt_scalar;
typedef struct rt_scalars { es_arena *arena; int n, cap; rt_scalar *v; int nfiles; } rt_scalars;
int rt_scalars_load(const char *path, int purge, rt_scalars *out, es_status *st);
void rt_scalars_free(rt_scalars *s);

/* ---- plot (plot.c) ---------------------------------------------------------- */
/* A self-contained SVG: one panel per tag, one line per run, axes with ticks. */
int rt_plot_svg(const rt_scalars *s, const char *title, FILE *out, es_status *st);

/* ---- non-finite values (guard.c) -------------------------------------------- */
/* After a program run, names the first non-finite value in program order:
 * a fed INPUT, then each computed node in topological order. PARAMs are left
 * to rt_vars_first_nonfinite (a step has already updated them). Writes a
 * description ("node %12 = mul f32[B,1] (model.est:3:5)", "input 'hours'")
 * and returns 1, or 0 if every value is finite. Nodes sharing a buffer with
 * another node are not scanned (their values may be overwritten). */
int rt_first_nonfinite(const gr_graph *g, void *const *bufs, int64_t B, char *what, size_t n);
/* The first variable of the store holding a NaN or an infinity, or NULL;
 * *count gets how many variables do. */
const rt_var *rt_vars_first_nonfinite(const rt_vars *vs, int *count);

/* ---- progress (progress.c) ------------------------------------------------------ *
 * Log lines on a stream, and on a terminal a progress bar under them that is
 * redrawn in place (at most ten times a second). */
typedef struct rt_progress rt_progress;
rt_progress *rt_progress_new(FILE *out, int bar);
/* total <= 0: unknown (no percentage or ETA). Speed counts from the first update. */
void rt_progress_update(rt_progress *p, int64_t step, int64_t total, double loss);
void rt_progress_log(rt_progress *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void rt_progress_free(rt_progress *p);   /* clears the bar */

#endif

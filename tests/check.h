/*
 * check.h — the tiny test harness every tests/test_*.c uses.
 *
 * CHECK(cond, fmt, ...) records a failure with file:line and a message saying
 * which behaviour broke, and the test goes on; check_done() prints
 * "N passed, N failed" and returns the exit status.
 */
#ifndef ESTC_CHECK_H
#define ESTC_CHECK_H

#include <stdint.h>
#include <stdio.h>

struct es_arena;
struct es_spec;

extern int check_passed, check_failed;

#define CHECK(cond, ...) do {                                               \
        if (cond) check_passed++;                                           \
        else {                                                              \
            check_failed++;                                                 \
            fprintf(stderr, "%s:%d: FAIL: ", __FILE__, __LINE__);           \
            fprintf(stderr, __VA_ARGS__);                                   \
            fputc('\n', stderr);                                            \
        }                                                                   \
    } while (0)

/* |a - b| <= atol + rtol * |b| */
int check_close(double a, double b, double rtol, double atol);
/* path of a file in the source tree (ESTC_SOURCE_DIR or the working directory) */
const char *check_src(const char *rel);
/* The stream tests' data contract: a CSV source `path` with columns i (int),
 * v (float), y (float); features i (identity, id_buckets ids) and v (numeric);
 * a regression label y. */
struct es_spec *check_stream_spec(struct es_arena *a, const char *path, int bad_rows, int cache,
                                  int64_t id_buckets);
int check_done(const char *suite);

/* A program's buffers for the reference evaluator (graph/eval.c): gr_bind,
 * zeroed storage for every buffer at batch size B, PARAMs at their initial
 * values (seed 1). check_run_buf aborts when no node has that op and name. */
struct gr_graph;
typedef struct check_run { struct gr_graph *g; void **bufs; int64_t B; } check_run;
check_run check_run_new(struct gr_graph *g, int64_t B);
void check_run_free(check_run *r);
void *check_run_buf(check_run *r, int op, const char *name);

#endif

/*
 * estc-input — measures the input pipeline alone: CSV rows to encoded batches
 * through the model's reader and stream, with no kernel run. The tool behind
 * benchmark B4 (bench/input.sh).
 *
 *   estc-input MODEL.est [--data FILE] [--batch N]
 *
 * It compiles the model only as far as its data contract (no code
 * generation), opens the training source (or FILE, read with the training
 * source's format) as one epoch with shuffling off, takes every batch and
 * prints what it read: rows, bytes (the file's size), wall and CPU seconds,
 * and MB/s (10^6 bytes per second) against both clocks. The stream is single
 * threaded, so the CPU figure is the speed per core. Errors go to stderr with
 * exit status 1.
 */
#define _GNU_SOURCE
#include "frontend/frontend.h"
#include "runtime/runtime.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>

static const char usage[] =
    "usage: estc-input MODEL.est [--data FILE] [--batch N]\n"
    "\n"
    "Streams every batch of the model's training source (or FILE, read with that\n"
    "source's format) through the reader, one epoch, no shuffling, and prints\n"
    "rows, bytes, seconds and MB/s. --batch defaults to the run block's batch size.\n";

static double wall_now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

/* user + system time of this process */
static double cpu_now(void)
{
    struct rusage u;
    getrusage(RUSAGE_SELF, &u);
    return (double)u.ru_utime.tv_sec + 1e-6 * (double)u.ru_utime.tv_usec +
           (double)u.ru_stime.tv_sec + 1e-6 * (double)u.ru_stime.tv_usec;
}

/* Streams the file; returns 0 or -1 with st set. */
static int run(const es_spec *sp, const char *path, int64_t batch, es_status *st)
{
    struct stat sb;
    if (stat(path, &sb) != 0) return es_fail(st, ES_EIO, "cannot open %s: %s", path, strerror(errno));
    double w0 = wall_now(), c0 = cpu_now();
    rt_stream *s = rt_stream_open(sp, sp->train, path, 1, batch, 1, 0, 0, st);
    if (!s) return -1;
    rt_batch b;
    int64_t rows = 0, batches = 0;
    int k;
    while ((k = rt_stream_next(s, &b, st)) == 1) {
        rows += b.n;
        batches++;
    }
    int64_t skipped = rt_stream_skipped(s);
    rt_stream_close(s);
    if (k < 0) return -1;
    double wall = wall_now() - w0, cpu = cpu_now() - c0;
    double mb = (double)sb.st_size / 1e6;
    printf("file     %s\n", path);
    printf("rows     %lld (%lld batches of %lld, %lld rows skipped)\n", (long long)rows,
           (long long)batches, (long long)batch, (long long)skipped);
    printf("bytes    %lld\n", (long long)sb.st_size);
    printf("seconds  %.3f wall, %.3f cpu\n", wall, cpu);
    printf("MB/s     %.1f wall, %.1f per cpu second\n", wall > 0 ? mb / wall : 0.0, cpu > 0 ? mb / cpu : 0.0);
    return 0;
}

int main(int argc, char **argv)
{
    const char *model = NULL, *data = NULL;
    int64_t batch = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            fputs(usage, stdout);
            return 0;
        } else if (strcmp(argv[i], "--data") == 0 || strcmp(argv[i], "--batch") == 0) {
            if (i + 1 == argc) { fprintf(stderr, "estc-input: %s needs a value\n%s", argv[i], usage); return 1; }
            if (argv[i][2] == 'd') { data = argv[++i]; continue; }
            char *end;
            batch = strtoll(argv[++i], &end, 10);
            if (*end || batch <= 0) { fprintf(stderr, "estc-input: --batch needs a positive integer, not '%s'\n", argv[i]); return 1; }
        } else if (argv[i][0] == '-' && argv[i][1]) {
            fprintf(stderr, "estc-input: unknown option '%s'\n%s", argv[i], usage);
            return 1;
        } else if (model) {
            fprintf(stderr, "estc-input: one model file only ('%s' and '%s')\n", model, argv[i]);
            return 1;
        } else {
            model = argv[i];
        }
    }
    if (!model) { fprintf(stderr, "estc-input: missing the model file\n%s", usage); return 1; }

    es_diags d;
    es_diags_init(&d, stderr);
    fe_model *fm = fe_compile_file(model, &d);
    if (!fm) { fprintf(stderr, "estc-input: %s: %d error%s\n", model, d.nerrors, d.nerrors == 1 ? "" : "s"); return 1; }
    const es_spec *sp = &fm->spec;
    int rc = 1;
    es_status st = {0};
    if (!sp->train) fprintf(stderr, "estc-input: %s has no training source\n", model);
    else {
        const char *path = data ? data : sp->train->path;
        if (batch <= 0) batch = sp->run.batch_size > 0 ? sp->run.batch_size : 64;
        if (run(sp, path ? path : "", batch, &st) < 0) fprintf(stderr, "estc-input: %s\n", st.msg);
        else rc = fflush(stdout) == 0 ? 0 : 1;
    }
    fe_model_free(fm);
    return rc;
}

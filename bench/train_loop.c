/*
 * train_loop.c — estc's training compute alone, without the input pipeline.
 *
 *     estc-bench-loop MODEL.est [EPOCHS [BATCH]]
 *
 * Compiles the model's train program exactly as `estc train` does (the same
 * passes, binding and JIT), reads one epoch of the training data through the
 * runtime's stream (shuffled as the run block says) into memory, copying each
 * batch, and then times EPOCHS passes of the compiled step over those batches.
 * What is timed is what a training step costs once parsing is out of the way:
 * binding the batch's inputs and calling the kernels. Prints one line:
 *
 *     examples_per_s seconds examples mean_loss_of_last_epoch compile_seconds cpu_examples_per_s
 *
 * (the last: examples per second of this process's CPU time, steadier than
 * the wall clock on a machine shared with other work).
 *
 *     estc-bench-loop --dump DIR MODEL.est
 *
 * writes the encoded examples instead, so a peer framework trains on exactly
 * estc's ids: DIR/train/NAME.bin (one epoch, in the stream's shuffled order)
 * and DIR/test/NAME.bin (the eval source in file order), raw little-endian
 * int32 ids or float32 values per used feature and for the label, and
 * DIR/meta.txt with one line per array: NAME cat|num|label WIDTH NUM_BUCKETS
 * NORM, NORM being a numeric feature's normalisation (none, zscore, minmax,
 * expr: the peer applies it; "-" for the others).
 *
 *     estc-bench-loop --stream MODEL.est [EPOCHS [REPEATS]]
 *
 * times the input pipeline alone: the training source's stream as `estc
 * train` opens it (its cache; the run block's batch size, shuffle buffer and
 * seed), the cache read in before the clock starts (as the statistics pass
 * reads it), then every batch of EPOCHS epochs taken on this thread, REPEATS
 * times (default 5). It prints, from the CPU time of the repeats:
 *
 *     best_examples_per_s median_examples_per_s ns_per_example_best examples
 *
 * The run block's `threads` applies, as in `estc train`.
 *
 * With ESTC_SHARED_BUFFERS=1 the program's intermediates share buffers by
 * liveness (gr_bind_shared) instead of having one each.
 *
 * The variables start from the model's initialisers with the training data's
 * normalisation statistics, as a fresh `estc train`, so the loss is a real
 * training curve (it should fall from epoch to epoch).
 */
#include "core/core.h"
#include "core/spec.h"
#include "graph/graph.h"
#include "codegen/codegen.h"
#include "runtime/runtime.h"
#include "frontend/frontend.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef struct stored_batch {
    int64_t n;
    void **in;            /* per graph node: a copy of its INPUT data, else NULL */
} stored_batch;

static void die(const char *what, const es_status *st)
{
    fprintf(stderr, "estc-bench-loop: %s: %s\n", what, st ? st->msg : "");
    exit(1);
}

static double cpu_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* the batch array a train INPUT reads (label, a used feature), or NULL */
static const void *batch_input(const es_spec *sp, const rt_batch *b, const char *name)
{
    if (strcmp(name, "label") == 0) return b->label;
    for (int f = 0; f < sp->nused; f++)
        if (strcmp(sp->used[f]->name, name) == 0) return b->feat[f];
    return NULL;
}

/* zscore / minmax statistics, as the API fills them for a fresh model */
static void fill_statistics(const es_spec *sp, rt_vars *vars)
{
    rt_stats *stats = calloc((size_t)sp->nused + 1, sizeof *stats);
    es_status st = {0};
    if (rt_compute_stats(sp, sp->train->path, stats, &st) != 0) die("statistics", &st);
    for (int i = 0; i < sp->nused; i++) {
        const es_feature *f = sp->used[i];
        if (f->kind != ES_FEAT_NUMERIC || (f->norm != ES_NORM_ZSCORE && f->norm != ES_NORM_MINMAX)) continue;
        int z = f->norm == ES_NORM_ZSCORE;
        char name[512];
        snprintf(name, sizeof name, "%s/%s", f->name, z ? "mean" : "min");
        rt_var *a = rt_vars_find(vars, name);
        snprintf(name, sizeof name, "%s/%s", f->name, z ? "std" : "max");
        rt_var *b = rt_vars_find(vars, name);
        if (!a || !b) continue;
        for (int64_t j = 0; j < a->numel; j++) a->data[j] = (float)(z ? stats[i].mean : stats[i].min);
        for (int64_t j = 0; j < b->numel; j++) b->data[j] = (float)(z ? stats[i].std : stats[i].max);
    }
    free(stats);
}

/* every example of src through the stream, each used feature and the label
 * appended to DIR/SPLIT/NAME.bin */
static void dump_split(const es_spec *sp, const es_source_spec *src, int64_t shuffle, const char *dir,
                       const char *split)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, split);
    es_status st = {0};
    if (es_mkdirs(path, &st) != 0) die(path, &st);
    FILE **f = calloc((size_t)sp->nused + 1, sizeof *f);
    for (int i = 0; i <= sp->nused; i++) {
        snprintf(path, sizeof path, "%s/%s/%s.bin", dir, split, i < sp->nused ? sp->used[i]->name : "label");
        if (!(f[i] = fopen(path, "wb"))) { perror(path); exit(1); }
    }
    rt_stream *s = rt_stream_open(sp, src, src->path, 1, 1024, 1, shuffle, sp->run.seed, &st);
    if (!s) die("data", &st);
    rt_batch b;
    int got;
    while ((got = rt_stream_next(s, &b, &st)) == 1) {
        for (int i = 0; i < sp->nused; i++) {
            const es_feature *ft = sp->used[i];
            size_t w = ft->categorical ? (size_t)ft->max_values : (size_t)ft->width;
            fwrite(b.feat[i], 4, (size_t)b.n * (w ? w : 1), f[i]);
        }
        fwrite(b.label, 4, (size_t)b.n, f[sp->nused]);
    }
    if (got < 0) die("data", &st);
    rt_stream_close(s);
    for (int i = 0; i <= sp->nused; i++) fclose(f[i]);
    free(f);
}

static int dump(const char *dir, const char *model)
{
    es_diags d;
    es_diags_init(&d, stderr);
    fe_model *fm = fe_compile_file(model, &d);
    if (!fm) die("the model does not compile", NULL);
    const es_spec *sp = &fm->spec;
    for (int i = 0; i < sp->nused; i++)
        if (sp->used[i]->kind == ES_FEAT_WEIGHTED) {
            fprintf(stderr, "estc-bench-loop: --dump does not write weighted features (%s)\n", sp->used[i]->name);
            return 1;
        }
    dump_split(sp, sp->train, sp->run.shuffle_buffer, dir, "train");
    dump_split(sp, sp->eval, 0, dir, "test");
    char path[4096];
    snprintf(path, sizeof path, "%s/meta.txt", dir);
    FILE *m = fopen(path, "w");
    if (!m) { perror(path); return 1; }
    for (int i = 0; i < sp->nused; i++) {
        const es_feature *ft = sp->used[i];
        static const char *const norms[] = { "none", "zscore", "minmax", "expr" };
        fprintf(m, "%s %s %d %lld %s\n", ft->name, ft->categorical ? "cat" : "num",
                ft->categorical ? (ft->max_values > 1 ? ft->max_values : 1) : ft->width, (long long)ft->num_buckets,
                ft->categorical ? "-" : norms[ft->norm]);
    }
    fprintf(m, "label label 1 %d -\n", sp->label.n_classes);
    fclose(m);
    fe_model_free(fm);
    return 0;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static int stream_only(const char *model, int epochs, int repeats)
{
    if (repeats < 1 || repeats > 1000 || epochs < 1) {
        fprintf(stderr, "estc-bench-loop: EPOCHS must be >= 1 and REPEATS 1 to 1000\n");
        return 2;
    }
    es_diags d;
    es_diags_init(&d, stderr);
    fe_model *fm = fe_compile_file(model, &d);
    if (!fm) die("the model does not compile", NULL);
    const es_spec *sp = &fm->spec;
    double *secs = calloc((size_t)repeats, sizeof *secs);
    int64_t examples = 0;
    for (int r = 0; r < repeats; r++) {
        es_status st = {0};
        rt_stream *s = rt_stream_open(sp, sp->train, sp->train->path, 1, sp->run.batch_size, epochs,
                                      sp->run.shuffle_buffer, sp->run.seed, &st);
        if (!s) die("data", &st);
        if (rt_stream_preload(s, &st) < 0) die("data", &st);
        rt_batch b;
        int got;
        examples = 0;
        double t0 = cpu_now();
        while ((got = rt_stream_next(s, &b, &st)) == 1) examples += b.n;
        secs[r] = cpu_now() - t0;
        if (got < 0) die("data", &st);
        rt_stream_close(s);
    }
    qsort(secs, (size_t)repeats, sizeof *secs, cmp_double);
    printf("%.0f %.0f %.2f %lld\n", (double)examples / secs[0], (double)examples / secs[repeats / 2],
           1e9 * secs[0] / (double)examples, (long long)examples);
    free(secs);
    fe_model_free(fm);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc == 4 && strcmp(argv[1], "--dump") == 0) return dump(argv[2], argv[3]);
    if (argc >= 3 && strcmp(argv[1], "--stream") == 0)
        return stream_only(argv[2], argc > 3 ? atoi(argv[3]) : 10, argc > 4 ? atoi(argv[4]) : 5);
    if (argc < 2) {
        fprintf(stderr, "usage: estc-bench-loop MODEL.est [EPOCHS [BATCH]]\n");
        return 2;
    }
    int epochs = argc > 2 ? atoi(argv[2]) : 10;
    es_diags d;
    es_diags_init(&d, stderr);
    fe_model *fm = fe_compile_file(argv[1], &d);
    if (!fm) die("the model does not compile", NULL);
    es_spec *sp = &fm->spec;
    if (sp->run.threads > 0) cg_blas_threads((int)sp->run.threads);   /* as estc train does */
    int64_t bs = argc > 3 ? atoll(argv[3]) : sp->run.batch_size;
    es_status st = {0};
    gr_graph *g = gr_optimize(fm->prog[GR_PROG_TRAIN], &st);
    if (!g) die("passes", &st);
    /* ESTC_SHARED_BUFFERS=1: intermediates share buffers by liveness (gr_bind_shared) */
    const char *shared = getenv("ESTC_SHARED_BUFFERS");
    if (shared && strcmp(shared, "1") == 0) gr_bind_shared(g);
    else gr_bind(g);

    rt_vars vars;
    rt_vars_init(&vars);
    es_rng rng;
    es_rng_seed(&rng, sp->run.seed);
    if (rt_vars_add_graph(&vars, g, &rng, &st) != 0) die("variables", &st);
    fill_statistics(sp, &vars);

    double t0 = es_now();
    const char *entry = "estc_train_step";
    cg_jit *jit = cg_jit_new(&g, &entry, 1, &st);
    if (!jit) die("compile", &st);
    cg_entry_fn fn = cg_jit_lookup(jit, entry);
    double compile_s = es_now() - t0;

    /* buffers: params into the store, scratch for the rest, inputs per batch */
    void **bufs = calloc((size_t)g->nbufs + 1, sizeof *bufs);
    int32_t step_feed[4] = {0};
    for (int i = 0; i < g->n; i++) {
        gr_node *n = &g->nodes[i];
        if (n->buf < 0 || n->op == GR_INPUT || bufs[n->buf]) continue;   /* a shared slot once */
        if (n->op == GR_PARAM) { bufs[n->buf] = rt_vars_find(&vars, n->name)->data; continue; }
        size_t bytes = (gr_buf_bytes(g, i, bs) + 63) & ~(size_t)63;
        bufs[n->buf] = aligned_alloc(64, bytes ? bytes : 64);
        memset(bufs[n->buf], 0, bytes ? bytes : 64);
    }

    /* one epoch of batches, copied out of the stream */
    rt_stream *s = rt_stream_open(sp, sp->train, sp->train->path, 1, bs, 1, sp->run.shuffle_buffer,
                                  sp->run.seed, &st);
    if (!s) die("data", &st);
    int nb = 0, cap = 0;
    stored_batch *batches = NULL;
    rt_batch b;
    int got;
    while ((got = rt_stream_next(s, &b, &st)) == 1) {
        if (nb == cap) batches = realloc(batches, (size_t)(cap = cap ? 2 * cap : 256) * sizeof *batches);
        stored_batch *sb = &batches[nb++];
        sb->n = b.n;
        sb->in = calloc((size_t)g->n, sizeof *sb->in);
        for (int i = 0; i < g->n; i++) {
            gr_node *n = &g->nodes[i];
            if (n->op != GR_INPUT || strcmp(n->name, "global_step") == 0) continue;
            const void *p = batch_input(sp, &b, n->name);
            if (!p) { fprintf(stderr, "estc-bench-loop: input %s is not fed\n", n->name); return 1; }
            size_t bytes = gr_buf_bytes(g, i, b.n);
            sb->in[i] = malloc(bytes ? bytes : 1);
            memcpy(sb->in[i], p, bytes);
        }
    }
    if (got < 0) die("data", &st);
    rt_stream_close(s);

    int loss_node = gr_find_output(g, "loss");
    const float *loss = bufs[g->nodes[loss_node].buf];
    int64_t examples = 0, step = 0;
    double loss_sum = 0;
    t0 = es_now();
    double c0 = cpu_now();
    for (int ep = 0; ep < epochs; ep++) {
        loss_sum = 0;
        for (int k = 0; k < nb; k++) {
            stored_batch *sb = &batches[k];
            step_feed[0] = (int32_t)step;
            for (int i = 0; i < g->n; i++) {
                gr_node *n = &g->nodes[i];
                if (n->op != GR_INPUT) continue;
                bufs[n->buf] = sb->in[i] ? sb->in[i] : (void *)step_feed;
            }
            fn(bufs, sb->n);
            loss_sum += *loss;
            examples += sb->n;
            step++;
        }
    }
    double secs = es_now() - t0, cpu = cpu_now() - c0;
    printf("%.0f %.4f %lld %.6f %.3f %.0f\n", secs > 0 ? (double)examples / secs : 0.0, secs,
           (long long)examples, nb ? loss_sum / nb : 0.0, compile_s, cpu > 0 ? (double)examples / cpu : 0.0);
    cg_jit_free(jit);
    return 0;
}

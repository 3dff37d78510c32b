/*
 * estc.c — the public API: ties the frontend, the code generator and the
 * runtime together into train / evaluate / predict.
 *
 * A model is opened once: parsed, checked, lowered to three programs, each
 * dead-code-eliminated, verified and bound. Programs are JIT-compiled lazily,
 * the first time a command needs them, so `estc predict` never pays for the
 * training kernels. Variables live in one store shared by the programs (same
 * names, same buffers), so a checkpoint loaded once serves all of them.
 *
 * Code comes in two tiers (codegen.h). A program the object cache does not
 * hold is first compiled by the fast tier, so it can run at once, and then
 * again by the optimised tier on a thread of the model's own (the optimiser);
 * the optimised entry is swapped in between two steps, never during one. The
 * tiers compute the same bits, so where the swap falls changes nothing in a
 * checkpoint. estc_compile asks for the optimised tier at once. A run asks
 * for it only when it should pay: the optimised compile is expected to cost
 * OPT_COST times the fast one and to save OPT_GAIN of the time the fast code
 * would still take, and must pay back OPT_MARGIN times over. Training that
 * knows its last step (a step target, or epochs once the first has been
 * counted) weighs the two once a few steps have timed the fast code. Other
 * runs (and training in its first epoch, whose length the stream learns only
 * at its end) cannot know what is left, so they ask once the fast code has
 * been in use for OPT_MARGIN times as long as the optimised compile is
 * expected to take: as in renting skis until the rent paid would have
 * bought them, a short run never pays for an optimisation it cannot use (nor
 * waits for it at exit, LLVM being uninterruptible), and a long one pays at
 * most a bounded multiple (1 + OPT_MARGIN) of the best choice made in
 * hindsight. The rent is counted across runs too: fast code found in the
 * cache was compiled by an earlier run, so the program is in repeated use and
 * is optimised at once; the fast tier therefore never sticks. $ESTC_JIT_TIER=fast or =opt keeps one tier
 * (tests, benchmarks); $ESTC_JIT_SWAP_STEP=N makes the swap happen exactly
 * before global step N (waiting for the optimiser if need be), for the test
 * that shows where the swap falls changes nothing.
 *
 * A program run binds buffers by kind: PARAM -> the variable's storage, INPUT
 * -> the batch's feature or label array (or the global step, for an INPUT
 * named "global_step"), everything else -> scratch sized for the largest
 * batch, allocated once.
 *
 * Training is the safe loop of docs/model_dir.md: the model_dir is locked,
 * the newest good checkpoint restored (a damaged one is reported and passed
 * over), the data stream re-opened with the run's seed and fast-forwarded to
 * the checkpoint's position (which is then verified), and each step is
 * followed by the hooks in a fixed order — NaN guard, logging, summaries,
 * evaluation and early stopping, checkpoint — so that what a checkpoint
 * records is exactly the state after its step. Everything that shapes the
 * arithmetic (variables, data order, the global step fed to the program)
 * comes from the checkpoint, never from the clock, which is why a resumed
 * run ends bit-identical to one never stopped.
 */
#define _GNU_SOURCE
#include "estc/estc.h"

#include "core/core.h"
#include "core/spec.h"
#include "graph/graph.h"
#include "codegen/codegen.h"
#include "runtime/runtime.h"
#include "frontend/frontend.h"
#include "internal.h"

#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <limits.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static const char *const prog_names[3] = { "estc_train_step", "estc_eval_step", "estc_predict" };

typedef struct prog_run {
    gr_graph *g;
    cg_jit *jit;             /* the first session: optimised, or the fast tier */
    cg_jit *jit_opt;         /* the optimiser's session, when jit is the fast tier */
    cg_entry_fn fn;          /* the entry steps call */
    _Atomic(cg_entry_fn) fn_opt;   /* the optimiser's entry, published when ready */
    int opt_state;           /* OPT_NONE, OPT_WANTED, OPT_BUSY, OPT_DONE (under opt_lock) */
    int swap_pending;        /* fn is fast-tier code; fn_opt may replace it (stepping thread only) */
    double opt_after;        /* > 0: deferred; the optimised compile's expected cost (seconds) */
    double first_use;        /* es_now() at the first step on fast-tier code */
    int64_t first_step;      /* the global step then */
    void **bufs;
    void **scratch;          /* per buffer, owned (NULL for PARAM/INPUT) */
    int64_t max_batch;
    int nfeeds;              /* the program's inputs, resolved on the first batch: */
    int *feed_buf;           /* the buffer each one binds */
    int *feed_src;           /* what feeds it: a used feature's index, FEED_LABEL or FEED_STEP */
} prog_run;

enum { FEED_LABEL = -1, FEED_STEP = -2 };

struct estc_model {
    fe_model *fm;
    es_diags diags;
    rt_vars vars;
    int vars_ready;          /* initialised and restored from model_dir */
    int64_t global_step;
    int32_t step_feed[4];    /* what an INPUT "global_step" reads: the step being run */
    prog_run run[3];
    cg_jit *jit_cached;      /* one session for the programs estc_compile found in the cache */
    const char *data_override;
    const char *eval_data;   /* evaluation during training reads this file */
    int progress;
    const volatile sig_atomic_t *stop;
    /* where training stands besides the variables: restored from the
     * checkpoint, then kept up to date by estc_train */
    rt_ckpt_meta state;
    int have_state;          /* a checkpoint (or a previous estc_train call) set it */
    double passes_seconds;   /* estc_model_open: graph passes and binding */
    /* the optimiser: one thread compiling the optimised tier of the programs
     * that run fast-tier code (prog_compile) */
    pthread_mutex_t opt_lock;
    pthread_cond_t opt_cond;
    pthread_t opt_thread;
    int opt_started, opt_stop;
    int tier_mode;           /* TIER_AUTO, TIER_FAST, TIER_OPT ($ESTC_JIT_TIER) */
    int64_t swap_step;       /* $ESTC_JIT_SWAP_STEP, or -1: swap when ready */
    double compile_start;    /* es_now() when estc_compile began */
    double opt_ready;        /* es_now() when the optimiser last published an entry */
    int64_t train_last;      /* the step estc_train expects to end at, 0 if unknown or not training */
    double open_seconds;     /* estc_model_open, all of it */
    rt_stream *train_stream; /* opened early to read the statistics from its cache */
};

static void tier_options(estc_model *m);
static void optimiser_stop(estc_model *m);

int estc__status_from(estc_status *st, const es_status *es)
{
    st->code = es->code ? es->code : ESTC_EINTERNAL;
    snprintf(st->message, sizeof st->message, "%s", es->msg);
    return -1;
}

int estc__fail(estc_status *st, int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    st->code = code;
    vsnprintf(st->message, sizeof st->message, fmt, ap);
    va_end(ap);
    return -1;
}

void estc_open_options_init(estc_open_options *o)
{
    memset(o, 0, sizeof *o);
    o->seed = -1;
    o->keep_checkpoint_max = -1;
    o->save_summary_steps = -1;
    o->nan_guard = -1;
    o->histograms = -1;
    o->progress = -1;
}

/* Command-line settings win over the run block; then the defaults of the
 * settings the run block leaves open (TensorFlow's RunConfig defaults). */
static void apply_options(es_run_spec *run, es_arena *a, const estc_open_options *opt)
{
    if (opt->model_dir) run->model_dir = es_strdup(a, opt->model_dir);
    if (opt->seed >= 0) run->seed = (uint64_t)opt->seed;
    if (opt->steps > 0) run->steps = opt->steps;
    if (opt->max_steps > 0) run->max_steps = opt->max_steps;
    if (opt->epochs > 0) run->epochs = opt->epochs;
    else if (opt->steps > 0 || opt->max_steps > 0) run->epochs = 0;   /* a step target replaces epochs */
    if (opt->save_checkpoints_steps > 0) { run->save_checkpoints_steps = opt->save_checkpoints_steps; run->save_checkpoints_secs = 0; }
    if (opt->save_checkpoints_secs > 0) { run->save_checkpoints_secs = opt->save_checkpoints_secs; run->save_checkpoints_steps = 0; }
    if (opt->keep_checkpoint_max >= 0) run->keep_checkpoint_max = opt->keep_checkpoint_max;
    if (opt->log_step_count_steps > 0) { run->log_every = opt->log_step_count_steps; run->log_every_given = 1; }
    if (opt->save_summary_steps >= 0) run->save_summary_steps = opt->save_summary_steps;
    if (opt->eval_every_steps > 0) { run->eval_every_steps = opt->eval_every_steps; run->eval_every_secs = 0; }
    if (opt->eval_every_secs > 0) { run->eval_every_secs = opt->eval_every_secs; run->eval_every_steps = 0; }
    if (opt->warm_start_from) run->warm_start_from = es_strdup(a, opt->warm_start_from);
    if (opt->warm_start_vars) run->warm_start_vars = es_strdup(a, opt->warm_start_vars);
    if (opt->early_stopping) run->early_stopping = es_strdup(a, opt->early_stopping);
    if (opt->early_stopping_patience > 0) run->early_stopping_patience = opt->early_stopping_patience;
    if (opt->nan_guard >= 0) run->nan_guard = opt->nan_guard;
    if (opt->histograms >= 0) run->histograms = opt->histograms;
    if (opt->threads > 0) run->threads = opt->threads;

    if (run->save_checkpoints_steps <= 0 && run->save_checkpoints_secs <= 0) run->save_checkpoints_secs = 600;
    if (run->keep_checkpoint_max < 0) run->keep_checkpoint_max = 5;
    if (run->save_summary_steps < 0) run->save_summary_steps = 100;
    if (run->nan_guard < 0) run->nan_guard = 1;
    if (run->log_every <= 0) run->log_every = 100;
    if (run->early_stopping_patience <= 0) run->early_stopping_patience = 5;
}

estc_model *estc_model_open(const char *path, const estc_open_options *opt, estc_status *st)
{
    estc_open_options defaults;
    if (!opt) { estc_open_options_init(&defaults); opt = &defaults; }
    memset(st, 0, sizeof *st);
    double t_open = es_now();
    estc_model *m = es_xcalloc(1, sizeof *m);
    pthread_mutex_init(&m->opt_lock, NULL);
    pthread_cond_init(&m->opt_cond, NULL);
    tier_options(m);
    es_diags_init(&m->diags, opt->diagnostics ? opt->diagnostics : stderr);
    m->fm = fe_compile_file(path, &m->diags);
    if (!m->fm) {
        if (m->diags.nerrors == 0) estc__fail(st, ESTC_EINTERNAL, "%s: could not be compiled", path);
        else estc__fail(st, ESTC_EMODEL, "%s: %d error%s", path, m->diags.nerrors,
                  m->diags.nerrors == 1 ? "" : "s");
        free(m);
        return NULL;
    }
    es_spec *sp = &m->fm->spec;
    es_arena *a = m->fm->arena;
    /* --seed also re-derives the seeds compiled into the programs (dropout) */
    if (opt->seed >= 0) fe_model_reseed(m->fm, (uint64_t)opt->seed);
    apply_options(&sp->run, a, opt);
    if (sp->run.threads > 0) cg_blas_threads((int)sp->run.threads);
    if (opt->data) m->data_override = es_strdup(a, opt->data);
    if (opt->eval_data) m->eval_data = es_strdup(a, opt->eval_data);
    m->progress = opt->progress;
    m->stop = opt->stop;

    double t_passes = es_now();
    for (int k = 0; k < 3; k++) {
        es_status es = {0};
        gr_graph *g = gr_optimize(m->fm->prog[k], &es);
        if (!g) {
            estc__fail(st, ESTC_EINTERNAL, "%s program: %s",
                 k == GR_PROG_TRAIN ? "train" : k == GR_PROG_EVAL ? "eval" : "predict", es.msg);
            estc_model_free(m);
            return NULL;
        }
        /* the passes rewrote or copied the program: its nodes' memory goes to the next one's */
        if (g != m->fm->prog[k]) gr_drop(m->fm->prog[k]);
        m->fm->prog[k] = g;
        /* intermediates whose lives do not overlap share memory; not in a
         * train program the NaN guard watches, whose report names the first
         * non-finite tensor of the step (a shared buffer keeps only its last) */
        if (k == GR_PROG_TRAIN && m->fm->spec.run.nan_guard) gr_bind(g);
        else gr_bind_shared(g);
        m->run[k].g = g;
    }
    rt_vars_init(&m->vars);
    m->passes_seconds = es_now() - t_passes;
    m->open_seconds = es_now() - t_open;
    return m;
}

static void prog_release(prog_run *r)
{
    if (r->scratch) {
        for (int i = 0; i < r->g->nbufs; i++) free(r->scratch[i]);
        free(r->scratch);
    }
    free(r->bufs);
    free(r->feed_buf);
    free(r->feed_src);
    if (r->jit) cg_jit_free(r->jit);
    if (r->jit_opt) cg_jit_free(r->jit_opt);
    memset(r, 0, sizeof *r);
}

void estc_model_free(estc_model *m)
{
    if (!m) return;
    optimiser_stop(m);
    for (int k = 0; k < 3; k++) if (m->run[k].g) prog_release(&m->run[k]);
    cg_jit_free(m->jit_cached);
    rt_vars_free(&m->vars);
    rt_stream_close(m->train_stream);
    if (m->fm) fe_model_free(m->fm);
    pthread_cond_destroy(&m->opt_cond);
    pthread_mutex_destroy(&m->opt_lock);
    free(m);
}

/* ---- variables: create, restore or initialise ----------------------------- */

static const char *model_dir(estc_model *m) { return m->fm->spec.run.model_dir; }

static const char *data_path(estc_model *m, const es_source_spec *src)
{
    return m->data_override ? m->data_override : src->path;
}

/* The training stream from its first example, with the run's batch size,
 * epochs (0: until stopped), shuffle buffer and seed. */
static rt_stream *train_stream_new(estc_model *m, es_status *es)
{
    es_spec *sp = &m->fm->spec;
    es_run_spec *run = &sp->run;
    int64_t epochs = run->epochs > 0 ? run->epochs : INT64_MAX / 4;
    return rt_stream_open(sp, sp->train, data_path(m, sp->train), 1, run->batch_size, epochs,
                          run->shuffle_buffer, run->seed, es);
}

/* Statistics for zscore/minmax normalisation, computed from the training file. */
static int fill_statistics(estc_model *m, estc_status *st)
{
    es_spec *sp = &m->fm->spec;
    int need = 0;
    for (int i = 0; i < sp->nused; i++)
        if (sp->used[i]->kind == ES_FEAT_NUMERIC &&
            (sp->used[i]->norm == ES_NORM_ZSCORE || sp->used[i]->norm == ES_NORM_MINMAX)) need = 1;
    if (!need) return 0;
    rt_stats *stats = es_xcalloc((size_t)sp->nused, sizeof *stats);
    es_status es = {0};
    if (!m->train_stream && sp->train->cache) {
        /* a cached source is read once: the statistics come from the cache
         * the first epoch then trains from */
        m->train_stream = train_stream_new(m, &es);
        if (!m->train_stream) { free(stats); return estc__status_from(st, &es); }
        int k = rt_stream_preload(m->train_stream, &es);
        if (k < 0) { free(stats); return estc__status_from(st, &es); }
        if (k == 0) { rt_stream_close(m->train_stream); m->train_stream = NULL; }
    }
    if (m->train_stream) rt_stream_stats(m->train_stream, stats);
    else if (rt_compute_stats(sp, data_path(m, sp->train), stats, &es) != 0) {
        free(stats);
        return estc__status_from(st, &es);
    }
    for (int i = 0; i < sp->nused; i++) {
        es_feature *f = sp->used[i];
        if (f->kind != ES_FEAT_NUMERIC) continue;
        const char *n0 = f->norm == ES_NORM_ZSCORE ? "mean" : "min";
        const char *n1 = f->norm == ES_NORM_ZSCORE ? "std" : "max";
        double v0 = f->norm == ES_NORM_ZSCORE ? stats[i].mean : stats[i].min;
        double v1 = f->norm == ES_NORM_ZSCORE ? stats[i].std : stats[i].max;
        if (f->norm != ES_NORM_ZSCORE && f->norm != ES_NORM_MINMAX) continue;
        char name[512];
        snprintf(name, sizeof name, "%s/%s", f->name, n0);
        rt_var *a = rt_vars_find(&m->vars, name);
        snprintf(name, sizeof name, "%s/%s", f->name, n1);
        rt_var *b = rt_vars_find(&m->vars, name);
        if (!a || !b) continue;    /* the model does not read this statistic */
        for (int64_t j = 0; j < a->numel; j++) a->data[j] = (float)v0;
        for (int64_t j = 0; j < b->numel; j++) b->data[j] = (float)v1;
    }
    free(stats);
    return 0;
}

/* Creates every variable; restores them from the newest good checkpoint of
 * model_dir (a damaged newer one is reported on `log` and passed over). A
 * fresh model gets its normalisation statistics and, when training with
 * warm_start_from, the matching variables of another model_dir.
 * require_ckpt: evaluate/predict need a trained model. */
static int prepare_vars(estc_model *m, int require_ckpt, FILE *log, estc_status *st)
{
    if (m->vars_ready) return 0;
    es_run_spec *run = &m->fm->spec.run;
    es_rng rng;
    es_rng_seed(&rng, run->seed);
    es_status es = {0};
    for (int k = 0; k < 3; k++)
        if (rt_vars_add_graph(&m->vars, m->run[k].g, &rng, &es) != 0) return estc__status_from(st, &es);
    rt_ckpt_meta meta;
    int r = rt_ckpt_restore(model_dir(m), &m->vars, 1, &meta, &es);
    if (r == 1 && meta.damaged[0] && log)
        fprintf(log, "warning: %s; restored %s/%s (step %lld) instead\n", meta.damaged, model_dir(m),
                meta.file, (long long)meta.global_step);
    if (r < 0) return estc__status_from(st, &es);
    if (r == 1 && meta.fingerprint != m->fm->fingerprint)
        return estc__fail(st, ESTC_EMODEL, "model_dir %s was trained with a different model "
                    "(fingerprint %016llx, this model %016llx)", model_dir(m),
                    (unsigned long long)meta.fingerprint, (unsigned long long)m->fm->fingerprint);
    if (r == 0) {
        if (require_ckpt)
            return estc__fail(st, ESTC_EIO, "no checkpoint in %s: run `estc train` first", model_dir(m));
        memset(&meta, 0, sizeof meta);
        if (fill_statistics(m, st) != 0) return -1;
        if (run->warm_start_from) {
            int n;
            int64_t from_step = 0;
            if (rt_ckpt_warm_start(run->warm_start_from, &m->vars, run->warm_start_vars, &n, &from_step, &es) != 0)
                return estc__status_from(st, &es);
            if (log)
                fprintf(log, "warm-started %d variable%s matching \"%s\" from %s (step %lld)\n", n, n == 1 ? "" : "s",
                        run->warm_start_vars ? run->warm_start_vars : ".*", run->warm_start_from,
                        (long long)from_step);
        }
    }
    m->global_step = meta.global_step;
    m->state = meta;
    m->have_state = r == 1;
    m->vars_ready = 1;
    return 0;
}

/* ---- programs: compile on first use, bind buffers ---------------------------- */

enum { TIER_AUTO, TIER_FAST, TIER_OPT };
enum { OPT_NONE, OPT_WANTED, OPT_BUSY, OPT_DONE };
/* When the optimised tier is asked for (prog_compile): now, by the caller
 * (estc_compile, once every fast compile is done), or after some use. */
enum { OPT_NOW, OPT_BY_CALLER, OPT_DEFER };
/* an optimised compile costs about this many fast ones (CPU time, measured
 * on every example: 4.6 to 7.1), and optimised kernels take about half the
 * fast tier's time (2.1x to 2.2x faster on linear, dnn and wide & deep;
 * docs/performance.md) */
#define OPT_COST 6.0
#define OPT_GAIN 0.5
/* ... and a compile is asked for only when it should pay back this many
 * times over: the estimates err, the compile takes cores from the run, and
 * one unfinished when the run ends is waited for (census dnn, 3 epochs on 2
 * busy cores: asking at 1x made the run 2x slower than either tier alone) */
#define OPT_MARGIN 2.0

static void tier_options(estc_model *m)
{
    const char *t = getenv("ESTC_JIT_TIER"), *s = getenv("ESTC_JIT_SWAP_STEP");
    m->tier_mode = t && strcmp(t, "fast") == 0 ? TIER_FAST : t && strcmp(t, "opt") == 0 ? TIER_OPT : TIER_AUTO;
    m->swap_step = s && *s ? strtoll(s, NULL, 10) : -1;
}

/* The next wanted program, marked busy, or -1 (opt_lock held). */
static int optimiser_take(estc_model *m)
{
    for (int k = 0; k < 3; k++)
        if (m->run[k].opt_state == OPT_WANTED) {
            m->run[k].opt_state = OPT_BUSY;
            return k;
        }
    return -1;
}

/* Compiles program k (taken) with the optimised tier, which stores it in the
 * object cache, and publishes its entry; called and returning with opt_lock
 * held. A program whose optimised compile fails keeps its fast-tier code,
 * which is correct. */
static void optimise_program(estc_model *m, int k)
{
    prog_run *r = &m->run[k];
    pthread_mutex_unlock(&m->opt_lock);
    es_status es = {0};
    gr_graph *gs[1] = { r->g };
    const char *names[1] = { prog_names[k] };
    cg_jit *j = cg_jit_new_tiered(gs, names, 1, 0, &es);
    cg_entry_fn fn = j ? cg_jit_lookup(j, prog_names[k]) : NULL;
    pthread_mutex_lock(&m->opt_lock);
    r->jit_opt = j;
    if (fn) atomic_store_explicit(&r->fn_opt, fn, memory_order_release);
    r->opt_state = OPT_DONE;
    m->opt_ready = es_now();
    pthread_cond_broadcast(&m->opt_cond);
}

/* The optimiser thread: optimises the wanted programs until stopped. */
static void *optimiser(void *arg)
{
    estc_model *m = arg;
    pthread_mutex_lock(&m->opt_lock);
    while (!m->opt_stop) {
        int k = optimiser_take(m);
        if (k < 0) pthread_cond_wait(&m->opt_cond, &m->opt_lock);
        else optimise_program(m, k);
    }
    pthread_mutex_unlock(&m->opt_lock);
    return NULL;
}

static void optimiser_want(estc_model *m, int k)
{
    pthread_mutex_lock(&m->opt_lock);
    m->run[k].opt_state = OPT_WANTED;
    pthread_mutex_unlock(&m->opt_lock);
}

/* asks for program k's optimised tier if a run left it waiting for use */
static void optimiser_ask(estc_model *m, int k)
{
    prog_run *r = &m->run[k];
    if (r->opt_after <= 0) return;
    r->opt_after = 0;
    optimiser_want(m, k);
}

/* starts the optimiser, or wakes it, if a program wants it */
static void optimiser_kick(estc_model *m)
{
    pthread_mutex_lock(&m->opt_lock);
    int want = 0;
    for (int k = 0; k < 3; k++) want |= m->run[k].opt_state == OPT_WANTED;
    if (want && !m->opt_started && pthread_create(&m->opt_thread, NULL, optimiser, m) == 0) m->opt_started = 1;
    if (!m->opt_started)   /* no thread: the fast tier stays */
        for (int k = 0; k < 3; k++) if (m->run[k].opt_state == OPT_WANTED) m->run[k].opt_state = OPT_DONE;
    pthread_cond_broadcast(&m->opt_cond);
    pthread_mutex_unlock(&m->opt_lock);
}

/* Stops the optimiser: programs not started are dropped, the one being
 * compiled is finished (LLVM cannot be interrupted; its object still goes to
 * the cache for the next run). */
static void optimiser_stop(estc_model *m)
{
    if (!m->opt_started) return;
    pthread_mutex_lock(&m->opt_lock);
    m->opt_stop = 1;
    pthread_cond_broadcast(&m->opt_cond);
    pthread_mutex_unlock(&m->opt_lock);
    pthread_join(m->opt_thread, NULL);
    m->opt_started = 0;
}

/* Waits until program k's optimised tier is ready (or failed), optimising
 * wanted programs on this thread meanwhile: a caller that waits anyway is a
 * second optimiser. */
static void optimiser_wait(estc_model *m, int k)
{
    pthread_mutex_lock(&m->opt_lock);
    while (m->run[k].opt_state == OPT_WANTED || m->run[k].opt_state == OPT_BUSY) {
        int w = optimiser_take(m);
        if (w >= 0) optimise_program(m, w);
        else pthread_cond_wait(&m->opt_cond, &m->opt_lock);
    }
    pthread_mutex_unlock(&m->opt_lock);
}

/* Whether program k, deferred, should now be optimised (see the top). */
static int optimise_pays(estc_model *m, int k)
{
    prog_run *r = &m->run[k];
    double now = es_now();
    if (!r->first_use) {
        r->first_use = now;
        r->first_step = m->global_step;
        return 0;
    }
    double used = now - r->first_use;
    if (k == GR_PROG_TRAIN && m->train_last > 0) {
        int64_t done = m->global_step - r->first_step, left = m->train_last - m->global_step;
        if (done < 8) return 0;      /* too few steps to time */
        return used / (double)done * (double)left * OPT_GAIN > OPT_MARGIN * r->opt_after;
    }
    return used >= OPT_MARGIN * r->opt_after;
}

/* The entry the next step of program k calls: the optimised one as soon as
 * it is published (or, with $ESTC_JIT_SWAP_STEP, exactly at that step). */
static cg_entry_fn prog_entry(estc_model *m, int k)
{
    prog_run *r = &m->run[k];
    if (!r->swap_pending) return r->fn;
    if (r->opt_after > 0) {
        if (!optimise_pays(m, k)) return r->fn;
        optimiser_ask(m, k);
        optimiser_kick(m);
        return r->fn;
    }
    if (m->swap_step >= 0) {
        if (m->global_step < m->swap_step) return r->fn;
        if (m->global_step == m->swap_step) optimiser_wait(m, k);
    }
    cg_entry_fn f = atomic_load_explicit(&r->fn_opt, memory_order_acquire);
    if (f) {
        r->fn = f;
        r->swap_pending = 0;
    }
    return r->fn;
}

/* Compiles program k if no call did yet: from the cache, else by the fast
 * tier with the optimised tier asked for `when` (OPT_*), unless `tiered` is
 * 0 or the tier mode says otherwise. */
static int prog_compile(estc_model *m, int k, int tiered, int when, estc_status *st)
{
    prog_run *r = &m->run[k];
    if (!r->fn) {
        es_status es = {0};
        gr_graph *gs[1] = { r->g };
        const char *names[1] = { prog_names[k] };
        int fast = tiered && m->tier_mode != TIER_OPT;
        r->jit = cg_jit_new_tiered(gs, names, 1, fast, &es);
        if (!r->jit) { estc__status_from(st, &es); st->code = ESTC_ECOMPILE; return -1; }
        r->fn = cg_jit_lookup(r->jit, prog_names[k]);
        if (!r->fn) {
            cg_jit_free(r->jit);
            r->jit = NULL;
            return estc__fail(st, ESTC_ECOMPILE, "compiled program has no entry %s", prog_names[k]);
        }
        if (m->tier_mode == TIER_AUTO && cg_jit_fast_programs(r->jit) > 0) {
            r->swap_pending = 1;
            /* fast code from the cache: an earlier run already paid the rent */
            if (when == OPT_DEFER && cg_jit_cache_stats(r->jit).hits > 0) when = OPT_NOW;
            if (when == OPT_DEFER) {
                double after = OPT_COST * cg_jit_fast_cost(r->jit);
                r->opt_after = after > 1e-6 ? after : 1e-6;   /* > 0: deferred */
            } else {
                optimiser_want(m, k);
                if (when == OPT_NOW) optimiser_kick(m);
            }
        }
    }
    return 0;
}

static int prog_ready(estc_model *m, int k, int64_t max_batch, estc_status *st)
{
    prog_run *r = &m->run[k];
    /* the swap-step test wants the optimised code as soon as possible */
    if (prog_compile(m, k, 1, m->swap_step >= 0 ? OPT_NOW : OPT_DEFER, st) != 0) return -1;
    if (r->bufs && r->max_batch >= max_batch) return 0;
    if (r->scratch) {
        for (int i = 0; i < r->g->nbufs; i++) free(r->scratch[i]);
        free(r->scratch);
    }
    free(r->bufs);
    r->bufs = es_xcalloc((size_t)r->g->nbufs + 1, sizeof(void *));
    r->scratch = es_xcalloc((size_t)r->g->nbufs + 1, sizeof(void *));
    r->max_batch = max_batch;
    for (int i = 0; i < r->g->n; i++) {
        gr_node *n = &r->g->nodes[i];
        if (n->buf < 0) continue;
        if (n->op == GR_PARAM) {
            rt_var *v = rt_vars_find(&m->vars, n->name);
            if (!v) return estc__fail(st, ESTC_EINTERNAL, "variable %s has no storage", n->name);
            r->bufs[n->buf] = v->data;
        } else if (n->op != GR_INPUT && !r->scratch[n->buf]) {   /* a shared slot once */
            size_t bytes = gr_buf_bytes(r->g, i, max_batch);
            bytes = (bytes + 63) & ~(size_t)63;
            r->scratch[n->buf] = aligned_alloc(64, bytes ? bytes : 64);
            if (!r->scratch[n->buf]) return estc__fail(st, ESTC_EINTERNAL, "out of memory");
            memset(r->scratch[n->buf], 0, bytes);
            r->bufs[n->buf] = r->scratch[n->buf];
        }
    }
    return 0;
}

/* ---- estc_compile: every program, on parallel threads ----------------------------
 * Each program has its own JIT session and LLVM context (codegen.h), so the
 * three compile independently; workers take them in order, train (usually the
 * largest) first. */

typedef struct compile_job {
    estc_model *m;
    pthread_mutex_t lock;
    int next;                /* the next program a worker takes */
    int rc[3];
    estc_status st[3];
} compile_job;

static void *compile_worker(void *arg)
{
    compile_job *job = arg;
    for (;;) {
        pthread_mutex_lock(&job->lock);
        int k = job->next++;
        pthread_mutex_unlock(&job->lock);
        if (k >= 3) return NULL;
        job->rc[k] = prog_compile(job->m, k, 1, OPT_BY_CALLER, &job->st[k]);
    }
}

/* $ESTC_COMPILE_THREADS, else one per online processor */
static int compile_threads(void)
{
    const char *e = getenv("ESTC_COMPILE_THREADS");
    long n = e && *e ? strtol(e, NULL, 10) : sysconf(_SC_NPROCESSORS_ONLN);
    return n < 1 ? 1 : n > 3 ? 3 : (int)n;
}

static void add_timings(estc_compile_timings *t, const cg_jit *j)
{
    cg_timings c = cg_jit_timings(j);
    cg_cache_stats s = cg_jit_cache_stats(j);
    t->setup_ms += 1e3 * c.setup;
    t->emit_ms += 1e3 * c.emit;
    t->cache_ms += 1e3 * c.cache;
    t->optimize_ms += 1e3 * c.optimize;
    t->codegen_ms += 1e3 * c.codegen;
    t->link_ms += 1e3 * c.link;
    t->compiled += s.compiled;
    t->cached += s.hits;
}

/* The programs whose optimised objects the cache holds, loaded into one
 * session on this thread: a cached start then pays for one JIT session, not
 * one per program, and starts no threads. Returns the session (NULL if fewer
 * than two programs qualify, or on any failure: prog_compile then does the
 * work and reports it). */
static cg_jit *load_cached(estc_model *m, const int *fresh)
{
    gr_graph *gs[3];
    const char *names[3];
    int ks[3], n = 0;
    for (int k = 0; k < 3; k++)
        if (fresh[k] && m->tier_mode != TIER_FAST && cg_jit_cached(m->run[k].g, prog_names[k]) == 2) {
            gs[n] = m->run[k].g;
            names[n] = prog_names[k];
            ks[n++] = k;
        }
    if (n < 2) return NULL;
    es_status es = {0};
    cg_jit *j = cg_jit_new(gs, names, n, &es);
    if (!j) return NULL;
    for (int i = 0; i < n; i++) m->run[ks[i]].fn = cg_jit_lookup(j, names[i]);
    return j;
}

int estc_compile(estc_model *m, estc_compile_timings *t, estc_status *st)
{
    memset(st, 0, sizeof *st);
    estc_compile_timings ignore;
    if (!t) t = &ignore;
    memset(t, 0, sizeof *t);
    double t0 = es_now();
    m->compile_start = t0;
    int fresh[3], todo = 0;
    for (int k = 0; k < 3; k++) todo += fresh[k] = m->run[k].fn == NULL;
    cg_jit *shared = m->jit_cached ? NULL : load_cached(m, fresh);
    if (shared) {
        m->jit_cached = shared;
        todo = 0;
        for (int k = 0; k < 3; k++) todo += m->run[k].fn == NULL;
    }
    compile_job job = { .m = m };
    pthread_mutex_init(&job.lock, NULL);
    int want = compile_threads() < todo ? compile_threads() : todo, started = 0;
    pthread_t th[3];
    for (int i = 1; i < want; i++)
        if (pthread_create(&th[started], NULL, compile_worker, &job) == 0) started++;
    compile_worker(&job);      /* this thread is a worker too */
    for (int i = 0; i < started; i++) pthread_join(th[i], NULL);
    pthread_mutex_destroy(&job.lock);
    for (int k = 0; k < 3; k++) optimiser_ask(m, k);   /* programs a run left waiting for use */
    optimiser_kick(m);     /* only now: the fast tier had every core */
    int rc = 0;
    for (int k = 0; k < 3 && rc == 0; k++)
        if (job.rc[k] != 0) { *st = job.st[k]; rc = -1; }
    t->parse_ms = 1e3 * m->fm->parse_seconds;
    t->lower_ms = 1e3 * m->fm->lower_seconds;
    t->passes_ms = 1e3 * m->passes_seconds;
    t->open_ms = 1e3 * m->open_seconds;
    for (int k = 0; k < 3; k++) {
        if (fresh[k] && m->run[k].jit) add_timings(t, m->run[k].jit);
        if (k == 0 && shared) add_timings(t, shared);
        t->programs += m->run[k].fn != NULL;
        t->fast += fresh[k] && m->run[k].jit && cg_jit_fast_programs(m->run[k].jit) > 0;
    }
    t->threads = todo ? started + 1 : shared ? 1 : 0;
    t->compile_ms = 1e3 * (es_now() - t0);
    t->total_ms = t->open_ms + t->compile_ms;
    return rc;
}

int estc_compile_wait(estc_model *m, estc_compile_timings *t)
{
    for (int k = 0; k < 3; k++) {
        if (!m->run[k].swap_pending) continue;
        optimiser_wait(m, k);
        if (m->run[k].jit_opt) t->optimized += cg_jit_fast_programs(m->run[k].jit_opt) == 0;
    }
    t->optimized_ms = m->opt_ready > m->compile_start ? 1e3 * (m->opt_ready - m->compile_start) : t->compile_ms;
    return t->optimized;
}

/* Points the program's INPUT buffers at a batch. An INPUT named "global_step"
 * (i32 [1], e.g. for dropout masks that must differ per step yet be
 * reproducible) reads the global step of the step being run: the number of
 * steps taken before it, as TensorFlow's global step reads inside a step. */
/* Which batch array feeds each input of the program, found by name once. */
static int resolve_feeds(estc_model *m, prog_run *r, estc_status *st)
{
    es_spec *sp = &m->fm->spec;
    int n = 0;
    for (int i = 0; i < r->g->n; i++) n += r->g->nodes[i].op == GR_INPUT;
    r->feed_buf = es_xmalloc((size_t)(n ? n : 1) * sizeof *r->feed_buf);
    r->feed_src = es_xmalloc((size_t)(n ? n : 1) * sizeof *r->feed_src);
    for (int i = 0; i < r->g->n; i++) {
        gr_node *nd = &r->g->nodes[i];
        if (nd->op != GR_INPUT) continue;
        int src = INT_MIN;
        if (strcmp(nd->name, "label") == 0) src = FEED_LABEL;
        else if (strcmp(nd->name, "global_step") == 0) src = FEED_STEP;
        else
            for (int f = 0; f < sp->nused; f++)
                if (strcmp(sp->used[f]->name, nd->name) == 0) { src = f; break; }
        if (src == INT_MIN) {
            free(r->feed_buf);
            free(r->feed_src);
            r->feed_buf = r->feed_src = NULL;
            r->nfeeds = 0;
            return estc__fail(st, ESTC_EINTERNAL, "program input %s is not fed", nd->name);
        }
        r->feed_buf[r->nfeeds] = nd->buf;
        r->feed_src[r->nfeeds++] = src;
    }
    return 0;
}

static int bind_batch(estc_model *m, prog_run *r, const rt_batch *b, estc_status *st)
{
    if (!r->feed_buf && resolve_feeds(m, r, st) != 0) return -1;
    m->step_feed[0] = (int32_t)m->global_step;
    for (int i = 0; i < r->nfeeds; i++) {
        int src = r->feed_src[i];
        r->bufs[r->feed_buf[i]] = src == FEED_LABEL ? b->label : src == FEED_STEP ? (void *)m->step_feed : b->feat[src];
    }
    return 0;
}

static const float *output_f32(prog_run *r, const char *name)
{
    int id = gr_find_output(r->g, name);
    if (id == GR_NONE) return NULL;
    return r->bufs[r->g->nodes[id].buf];
}

/* Streams read and encode the data on a second thread while the kernels run,
 * and training assembles its next batch there, unless ESTC_INPUT_THREAD=0
 * (to compare: the results are the same). */
static int input_thread(void)
{
    const char *v = getenv("ESTC_INPUT_THREAD");
    return !(v && strcmp(v, "0") == 0);
}

static void stream_thread(rt_stream *s) { rt_stream_background(s, input_thread()); }

/* Training asks for its next batch ahead only when a batch takes at least
 * this long to assemble: handing one between the threads costs 1-2 us, the
 * batch's arrays moving from one core's cache to the other's (a cached census
 * batch of 64 takes 1 us to assemble, and the thread made the loop 0.8x;
 * parsing one from the file takes 20-40 us, and there it pays). */
#define AHEAD_MIN_SECONDS 5e-6

/* ESTC_STEP_DELAY_US=N sleeps N microseconds after every train step: tests
 * that interrupt training at a chosen step (SIGKILL, SIGTERM) watch the log
 * from outside, and a step of a few microseconds outruns any polling. 0 (or
 * unset): no delay. */
static long step_delay_us(void)
{
    const char *v = getenv("ESTC_STEP_DELAY_US");
    long us = v && *v ? strtol(v, NULL, 10) : 0;
    return us > 0 && us <= 1000000 ? us : 0;
}

static void step_delay(long us)
{
    if (us <= 0) return;
    struct timespec ts = { us / 1000000, (us % 1000000) * 1000 };
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {}
}

/* ---- evaluation (estc_evaluate and train-and-evaluate) ---------------------------- */

static int run_eval(estc_model *m, const char *path, estc_metrics *out, estc_status *st)
{
    memset(out, 0, sizeof *out);
    es_spec *sp = &m->fm->spec;
    es_status es = {0};
    int64_t bs = sp->run.eval_batch_size > 0 ? sp->run.eval_batch_size : 1024;
    if (prog_ready(m, GR_PROG_EVAL, bs, st) != 0) return -1;
    prog_run *r = &m->run[GR_PROG_EVAL];
    rt_stream *s = rt_stream_open(sp, sp->eval, path, 1, bs, 1, 0, 0, &es);
    if (!s) return estc__status_from(st, &es);
    stream_thread(s);
    int K = sp->head == ES_HEAD_MULTICLASS ? sp->label.n_classes : 1;
    rt_metrics *mt = rt_metrics_new(sp->head, K);
    const char *pred_name = sp->head == ES_HEAD_BINARY ? "logistic"
                          : sp->head == ES_HEAD_MULTICLASS ? "probabilities" : "predictions";
    /* a model's own metrics: eval outputs "metric/NAME" [B,1], reported as their
     * mean over the data (TensorFlow's tf.metrics.mean) */
    enum { MAXCUSTOM = 16 };
    int ncustom = 0, cnode[MAXCUSTOM];
    double csum[MAXCUSTOM] = {0};
    for (int i = 0; i < r->g->noutputs && ncustom < MAXCUSTOM; i++)
        if (strncmp(r->g->outputs[i].name, "metric/", 7) == 0) cnode[ncustom++] = r->g->outputs[i].node;
    int64_t seen = 0;
    int rc = 0;
    rt_batch b;
    for (;;) {
        int got = rt_stream_next(s, &b, &es);
        if (got < 0) { rc = estc__status_from(st, &es); break; }
        if (got == 0) break;
        if (bind_batch(m, r, &b, st) != 0) { rc = -1; break; }
        prog_entry(m, GR_PROG_EVAL)(r->bufs, b.n);
        rt_metrics_add_weighted(mt, b.n, output_f32(r, "example_loss"), output_f32(r, pred_name), b.label,
                                output_f32(r, "example_weight"));
        for (int c = 0; c < ncustom; c++) {
            const float *v = r->bufs[r->g->nodes[cnode[c]].buf];
            for (int64_t i = 0; i < b.n; i++) csum[c] += v[i];
        }
        seen += b.n;
    }
    rt_stream_close(s);
    if (rc == 0) {
        const char **names;
        const double *vals;
        int n = rt_metrics_result(mt, m->global_step, &names, &vals);
        int cap = (int)ES_ARRAY_LEN(out->name);
        for (int i = 0; i < n && out->n < cap; i++, out->n++) {
            /* names live in mt: copy into the model's arena so they outlive it */
            out->name[out->n] = es_strdup(m->fm->arena, names[i]);
            out->value[out->n] = vals[i];
        }
        for (int c = 0; c < ncustom && out->n < cap; c++, out->n++) {
            out->name[out->n] = es_strdup(m->fm->arena, r->g->nodes[cnode[c]].name
                                          ? r->g->nodes[cnode[c]].name : "metric");
            for (int i = 0; i < r->g->noutputs; i++)
                if (r->g->outputs[i].node == cnode[c] && strncmp(r->g->outputs[i].name, "metric/", 7) == 0)
                    out->name[out->n] = es_strdup(m->fm->arena, r->g->outputs[i].name + 7);
            out->value[out->n] = seen ? csum[c] / (double)seen : NAN;
        }
        /* one order for every metric, as TensorFlow logs them: by name */
        for (int i = 1; i < out->n; i++)
            for (int k = i; k > 0 && strcmp(out->name[k - 1], out->name[k]) > 0; k--) {
                const char *tn = out->name[k]; out->name[k] = out->name[k - 1]; out->name[k - 1] = tn;
                double tv = out->value[k]; out->value[k] = out->value[k - 1]; out->value[k - 1] = tv;
            }
    }
    rt_metrics_free(mt);
    return rc;
}

/* ---- train ---------------------------------------------------------------- */

/* Which way is better for a metric early stopping may watch: +1 higher, -1
 * lower, 0 neither (a mean of predictions or labels has no better). */
static int metric_direction(const char *name)
{
    static const char *const up[] = { "accuracy", "auc", "auc_precision_recall", "precision", "recall" };
    static const char *const down[] = { "loss", "average_loss", "rmse", "mae" };
    for (size_t i = 0; i < ES_ARRAY_LEN(up); i++) if (!strcmp(name, up[i])) return 1;
    for (size_t i = 0; i < ES_ARRAY_LEN(down); i++) if (!strcmp(name, down[i])) return -1;
    return 0;
}

/* The learning rate of the model's optimizer, when one constant one is known:
 * every optimizer op (apply_*) keeps it in f[0]. */
static int learning_rate(const gr_graph *g, double *lr)
{
    int found = 0;
    for (int i = 0; i < g->n; i++) {
        const gr_node *n = &g->nodes[i];
        if (strncmp(gr_ops[n->op].name, "apply_", 6) != 0) continue;
        if (found && n->f[0] != *lr) return 0;   /* several rates: none is "the" rate */
        *lr = n->f[0];
        found = 1;
    }
    return found;
}

typedef struct trainer {
    estc_model *m;
    es_run_spec *run;
    prog_run *r;
    rt_stream *s;
    rt_progress *pg;
    FILE *log;
    rt_events *ev, *ev_eval;  /* model_dir and model_dir/eval summaries (NULL = none yet) */
    double lr;
    int have_lr;
    int64_t first_step;       /* global step when this call started */
    int64_t target;           /* global step to stop at (INT64_MAX = none) */
    int64_t total;            /* best estimate of the final step for the progress bar, 0 unknown */
    /* windows: the logging hook's, the log line's, the summaries' */
    double t_log, loss_sum, sum_loss;
    int64_t step_log, ex_log, loss_n, sum_n;
    double t_line, line_loss;
    int64_t step_line, ex_line, line_n;
    double t_ckpt, t_eval;
    int64_t last_saved, last_eval;
    /* early stopping */
    int early_dir;            /* 0 = off */
    const char *early_metric;
    estc_train_result *res;
    int bar;                  /* a progress bar replaces the periodic log lines */
    int64_t consumed0;        /* examples of the stream consumed before this call */
    int total_final;          /* total no longer changes */
    int ahead;                /* the next batch may be assembled during a step */
    int cache_warned;         /* the dropped cache has been reported */
} trainer;

static void log_line(trainer *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void log_line(trainer *t, const char *fmt, ...)
{
    if (!t->log) return;
    char buf[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    rt_progress_log(t->pg, "%s", buf);
}

static int flush_events(rt_events *w, estc_status *st)
{
    es_status es = {0};
    if (w && rt_events_flush(w, &es) != 0) return estc__status_from(st, &es);
    return 0;
}

/* The NaN guard's report: the step, the first non-finite value of the step's
 * computation, and the variables the step's update has spoiled. */
static int nan_stop(trainer *t, double loss, int64_t batch_n, estc_status *st)
{
    estc_model *m = t->m;
    char what[768];
    int found = rt_first_nonfinite(t->r->g, t->r->bufs, batch_n, what, sizeof what);
    int nbad;
    const rt_var *v = rt_vars_first_nonfinite(&m->vars, &nbad);
    char vars[512] = "";
    if (v) snprintf(vars, sizeof vars, "; after its update %d variable%s hold non-finite values, the first "
                    "variable %s", nbad, nbad == 1 ? "" : "s", v->name);
    char kept[256];
    if (t->last_saved >= 0 || m->have_state)
        snprintf(kept, sizeof kept, "the last good checkpoint, step %lld, is kept in %s",
                 (long long)(t->last_saved >= 0 ? t->last_saved : m->state.global_step), model_dir(m));
    else snprintf(kept, sizeof kept, "%s has no checkpoint yet", model_dir(m));
    return estc__fail(st, ESTC_EDATA, "NaN guard: the loss is %s at step %lld; the first non-finite tensor is %s%s. "
                "Training stopped without saving; %s",
                isnan(loss) ? "NaN" : "infinite", (long long)(m->global_step + 1),
                found ? what : "none of the step's (only the loss)", vars, kept);
}

static int save_checkpoint(trainer *t, estc_status *st)
{
    estc_model *m = t->m;
    if (t->last_saved == m->global_step) return 0;
    if (t->run->nan_guard) {
        int nbad;
        const rt_var *v = rt_vars_first_nonfinite(&m->vars, &nbad);
        if (v)
            return estc__fail(st, ESTC_EDATA, "NaN guard: at step %lld the first non-finite tensor is variable %s "
                        "(%d variable%s hold NaN or infinity) though the loss was finite; not saving it: "
                        "the last good checkpoint in %s is kept", (long long)m->global_step, v->name, nbad,
                        nbad == 1 ? "" : "s", model_dir(m));
    }
    rt_ckpt_meta *meta = &m->state;
    meta->global_step = m->global_step;
    meta->fingerprint = m->fm->fingerprint;
    meta->has_input = 1;
    rt_stream_position(t->s, &meta->input);
    if (!t->cache_warned && rt_stream_cache_dropped(t->s)) {
        const es_source_spec *src = m->fm->spec.train;
        t->cache_warned = 1;
        log_line(t, "warning: source %s: its examples did not fit in memory (cache = true%s), so they are not "
                 "cached: every epoch reads the file", src->name ? src->name : "?",
                 getenv("ESTC_CACHE_MAX_MB") ? ", ESTC_CACHE_MAX_MB" : "");
    }
    meta->seed = t->run->seed;
    meta->shuffle_buffer = t->run->shuffle_buffer;
    meta->batch_size = t->run->batch_size;
    es_status es = {0};
    if (rt_ckpt_write(model_dir(m), &m->vars, meta, (int)t->run->keep_checkpoint_max, &es) != 0)
        return estc__status_from(st, &es);
    m->have_state = 1;
    t->last_saved = m->global_step;
    t->res->checkpoint_step = m->global_step;
    t->t_ckpt = es_now();
    log_line(t, "saved checkpoint model-%lld.safetensors", (long long)m->global_step);
    return 0;
}

/* Evaluation during training: metrics logged and written to model_dir/eval;
 * then early stopping's verdict (*stop = 1). */
static int evaluate_now(trainer *t, int *stop, estc_status *st)
{
    estc_model *m = t->m;
    es_spec *sp = &m->fm->spec;
    estc_metrics mt;
    if (run_eval(m, m->eval_data ? m->eval_data : sp->eval->path, &mt, st) != 0) return -1;
    t->last_eval = m->global_step;
    t->t_eval = es_now();
    es_status es = {0};
    if (!t->ev_eval) {
        char *dir = es_path_join(m->fm->arena, model_dir(m), "eval");
        if (!(t->ev_eval = rt_events_open(dir, &es))) return estc__status_from(st, &es);
        if (t->first_step > 0) rt_events_session_start(t->ev_eval, t->first_step + 1);
    }
    char line[1024];
    size_t k = (size_t)snprintf(line, sizeof line, "eval at step %lld:", (long long)m->global_step);
    double watched = NAN;
    int have_watched = 0;
    for (int i = 0; i < mt.n; i++) {
        if (!strcmp(mt.name[i], "global_step")) continue;
        rt_events_scalar(t->ev_eval, m->global_step, mt.name[i], mt.value[i]);
        if (k < sizeof line) k += (size_t)snprintf(line + k, sizeof line - k, " %s = %.6g", mt.name[i], mt.value[i]);
        if (t->early_dir && !strcmp(mt.name[i], t->early_metric)) { watched = mt.value[i]; have_watched = 1; }
    }
    log_line(t, "%s", line);
    if (flush_events(t->ev_eval, st) != 0) return -1;
    if (!t->early_dir || !have_watched) return 0;
    rt_ckpt_meta *s = &m->state;
    if (s->has_early && strcmp(s->early_metric, t->early_metric) != 0) {
        log_line(t, "note: early stopping now watches %s, not %s: its history starts afresh", t->early_metric,
                 s->early_metric);
        s->has_early = 0;
    }
    if (!s->has_early) {
        s->has_early = 1;
        snprintf(s->early_metric, sizeof s->early_metric, "%s", t->early_metric);
        s->early_best = NAN;
        s->early_best_step = m->global_step;
        s->early_bad = 0;
    }
    /* a NaN evaluation never improves, and a NaN best is beaten by any number */
    int better = isfinite(watched) && (!isfinite(s->early_best) ||
                 (t->early_dir > 0 ? watched > s->early_best : watched < s->early_best));
    if (better) {
        s->early_best = watched;
        s->early_best_step = m->global_step;
        s->early_bad = 0;
    } else {
        s->early_bad++;
    }
    if (s->early_bad >= t->run->early_stopping_patience) {
        log_line(t, "early stopping at step %lld: %s has not improved for %lld evaluations "
                 "(best %.6g at step %lld)", (long long)m->global_step, t->early_metric,
                 (long long)s->early_bad, s->early_best, (long long)s->early_best_step);
        *stop = 1;
    }
    return 0;
}

/* Opens the training stream at the position the model_dir stands at and
 * checks it against what the checkpoint recorded. */
static int open_stream(trainer *t, estc_status *st)
{
    estc_model *m = t->m;
    es_run_spec *run = t->run;
    es_status es = {0};
    t->s = m->train_stream ? m->train_stream : train_stream_new(m, &es);
    m->train_stream = NULL;
    if (!t->s) return estc__status_from(st, &es);
    stream_thread(t->s);
    const rt_ckpt_meta *cm = &m->state;
    int64_t consumed = 0;
    if (m->have_state && cm->has_input) consumed = cm->input.examples;
    else if (m->global_step > 0) {
        consumed = m->global_step * run->batch_size;
        log_line(t, "note: the checkpoint records no input position (an older estc wrote it); "
                 "assuming %lld examples were consumed", (long long)consumed);
    }
    t->consumed0 = consumed;
    if (consumed > 0) {
        double t0 = es_now();
        int64_t done = rt_stream_skip(t->s, consumed, &es);
        if (done < 0) return estc__status_from(st, &es);
        if (done == consumed && m->have_state && cm->has_input) {
            rt_stream_pos now;
            rt_stream_position(t->s, &now);
            const rt_stream_pos *was = &cm->input;
            if (cm->seed != run->seed || cm->shuffle_buffer != run->shuffle_buffer)
                log_line(t, "note: the checkpoint's data order used seed %llu and shuffle_buffer %lld, this run "
                         "seed %llu and shuffle_buffer %lld: training continues at example %lld of the new order",
                         (unsigned long long)cm->seed, (long long)cm->shuffle_buffer,
                         (unsigned long long)run->seed, (long long)run->shuffle_buffer, (long long)consumed);
            else if (now.epoch != was->epoch || now.in_epoch != was->in_epoch || now.offset != was->offset ||
                     now.rows_skipped != was->rows_skipped || memcmp(now.rng, was->rng, sizeof now.rng) ||
                     now.buffer_hash != was->buffer_hash)
                log_line(t, "warning: the training data is not what the checkpoint saw: after %lld examples the "
                         "checkpoint was at epoch %lld, example %lld, byte %lld, %lld bad rows; this data is at "
                         "epoch %lld, example %lld, byte %lld, %lld bad rows%s. Training continues, but not "
                         "exactly as the interrupted run would have", (long long)consumed,
                         (long long)was->epoch, (long long)was->in_epoch, (long long)was->offset,
                         (long long)was->rows_skipped, (long long)now.epoch, (long long)now.in_epoch,
                         (long long)now.offset, (long long)now.rows_skipped,
                         now.buffer_hash != was->buffer_hash ? " and other shuffle-buffer contents" : "");
        }
        if (done < consumed || rt_stream_done(t->s)) return 1;   /* the epochs are done: nothing left */
        log_line(t, "resuming at step %lld: skipped %lld examples of the data stream in %.2f s",
                 (long long)m->global_step, (long long)consumed, es_now() - t0);
    }
    return rt_stream_done(t->s) ? 1 : 0;
}

/* The progress bar's idea of the last step: the step target, or where the
 * epochs end once an epoch's size is known. */
static void estimate_total(trainer *t)
{
    int64_t total = t->target != INT64_MAX ? t->target : 0;
    int64_t R = rt_stream_epoch_rows(t->s);
    if (t->run->epochs > 0 && R > 0) {
        int64_t left = t->run->epochs * R - (t->consumed0 + t->res->examples);
        int64_t bs = t->run->batch_size;
        int64_t e = t->m->global_step + (left > 0 ? (left + bs - 1) / bs : 0);
        if (!total || e < total) total = e;
        t->total_final = 1;
    }
    t->total = total;
}

/* A log line comes at most this often when log_every is the default: a
 * small model's 100 steps take a few hundred microseconds, and a line each
 * (thousands a second) is more than anyone reads and, on a pipe, a system
 * call that wakes the reader each time (a tenth of a fast model's training). */
#define LOG_LINE_MIN_SECONDS 0.1

/* The logging hook: every log_every steps, the window's mean loss (the final
 * loss) and speed as summaries (TensorFlow's global_step/sec, examples/sec),
 * and a log line (unless a progress bar shows them). With log_every left at
 * its default a line waits until LOG_LINE_MIN_SECONDS have passed since the
 * last; its loss and speed are then those of the steps since that line. */
static void log_hook(trainer *t)
{
    estc_model *m = t->m;
    double now = es_now(), dt = now - t->t_log;
    double sps = dt > 0 ? (double)(m->global_step - t->step_log) / dt : 0;
    double eps = dt > 0 ? (double)(t->res->examples - t->ex_log) / dt : 0;
    double mean = t->loss_n ? t->loss_sum / (double)t->loss_n : NAN;
    t->res->final_loss = mean;
    if (t->ev) {
        rt_events_scalar(t->ev, m->global_step, "global_step/sec", sps);
        rt_events_scalar(t->ev, m->global_step, "examples/sec", eps);
    }
    t->line_loss += t->loss_sum;
    t->line_n += t->loss_n;
    double lt = now - t->t_line;
    if (!t->bar && (t->run->log_every_given || lt >= LOG_LINE_MIN_SECONDS)) {
        log_line(t, "step %lld: loss = %.6f (%.1f global_step/sec, %.0f examples/sec)",
                 (long long)m->global_step, t->line_n ? t->line_loss / (double)t->line_n : NAN,
                 lt > 0 ? (double)(m->global_step - t->step_line) / lt : 0,
                 lt > 0 ? (double)(t->res->examples - t->ex_line) / lt : 0);
        t->t_line = now;
        t->step_line = m->global_step;
        t->ex_line = t->res->examples;
        t->line_loss = 0;
        t->line_n = 0;
    }
    t->t_log = now;
    t->step_log = m->global_step;
    t->ex_log = t->res->examples;
    t->loss_sum = 0;
    t->loss_n = 0;
}

/* The summary hook: the mean loss since the last summary, the learning rate,
 * and (with histograms) every trainable variable. */
static int summary_hook(trainer *t, estc_status *st)
{
    estc_model *m = t->m;
    if (!t->ev) return 0;
    rt_events_scalar(t->ev, m->global_step, "loss", t->sum_n ? t->sum_loss / (double)t->sum_n : NAN);
    if (t->have_lr) rt_events_scalar(t->ev, m->global_step, "learning_rate", t->lr);
    if (t->run->histograms)
        for (int i = 0; i < m->vars.n; i++)
            if (m->vars.v[i].trainable)
                rt_events_histogram(t->ev, m->global_step, m->vars.v[i].name, m->vars.v[i].data, m->vars.v[i].numel);
    t->sum_loss = 0;
    t->sum_n = 0;
    return flush_events(t->ev, st);
}

int estc_train(estc_model *m, FILE *log, estc_train_result *res, estc_status *st)
{
    memset(st, 0, sizeof *st);
    estc_train_result dummy;
    if (!res) res = &dummy;
    memset(res, 0, sizeof *res);
    res->checkpoint_step = -1;
    es_spec *sp = &m->fm->spec;
    es_run_spec *run = &sp->run;
    es_status es = {0};
    double t0 = es_now(), t_steps = 0;   /* t_steps: when the last step ended */

    trainer t;
    memset(&t, 0, sizeof t);
    t.m = m;
    t.run = run;
    t.log = log;
    t.res = res;
    t.last_saved = t.last_eval = -1;
    t.bar = log && (m->progress > 0 || (m->progress < 0 && isatty(fileno(log))));
    t.pg = rt_progress_new(log, t.bar);

    int lock = rt_ckpt_lock(model_dir(m), &es);
    if (lock < 0) { rt_progress_free(t.pg); return estc__status_from(st, &es); }
    rt_ckpt_clean(model_dir(m));
    int rc = 0;
#define FAIL_OUT() do { rc = -1; goto out; } while (0)
    if (prepare_vars(m, 0, log, st) != 0) FAIL_OUT();
    t.first_step = m->global_step;
    res->global_step = m->global_step;

    /* the targets: max_steps is absolute, steps counts from here */
    t.target = INT64_MAX;
    if (run->max_steps > 0) t.target = run->max_steps;
    if (run->steps > 0 && m->global_step + run->steps < t.target) t.target = m->global_step + run->steps;
    if (m->global_step >= t.target) {
        res->stop_reason = ESTC_STOP_NOTHING;
        if (log)
            fprintf(log, "nothing to do: the global step of %s is %lld, which has reached max_steps %lld "
                    "(use --steps N to train N more steps, or a larger --max-steps)\n",
                    model_dir(m), (long long)m->global_step, (long long)run->max_steps);
        goto out;
    }
    if (run->early_stopping) {
        t.early_metric = run->early_stopping;
        t.early_dir = metric_direction(run->early_stopping);
        int K = sp->head == ES_HEAD_MULTICLASS ? sp->label.n_classes : 1;
        rt_metrics *mt = rt_metrics_new(sp->head, K);
        const char **names;
        const double *vals;
        int n = rt_metrics_result(mt, 0, &names, &vals), known = 0;
        char list[512] = "";
        size_t k = 0;
        for (int i = 0; i < n; i++) {
            if (!strcmp(names[i], run->early_stopping)) known = 1;
            if (metric_direction(names[i]) && k < sizeof list)
                k += (size_t)snprintf(list + k, sizeof list - k, "%s%s", k ? ", " : "", names[i]);
        }
        rt_metrics_free(mt);
        if (!known || !t.early_dir) {
            rc = estc__fail(st, ESTC_EINVAL, "early_stopping cannot watch \"%s\": %s; it can watch %s", run->early_stopping,
                      known ? "that metric has no better direction" : "this model's evaluation has no such metric",
                      list);
            goto out;
        }
        if (run->eval_every_steps <= 0 && run->eval_every_secs <= 0) {
            rc = estc__fail(st, ESTC_EINVAL, "early_stopping needs evaluations during training: set eval_every_steps "
                      "or eval_every_secs");
            goto out;
        }
    }

    int r = open_stream(&t, st);
    if (r < 0) FAIL_OUT();
    if (r == 1 && m->global_step == 0) {
        rc = estc__fail(st, ESTC_EDATA, "%s has no examples to train on", data_path(m, sp->train));
        goto out;
    }
    if (r == 1) {
        res->stop_reason = ESTC_STOP_NOTHING;
        if (log)
            fprintf(log, "nothing to do: %s has already been trained for %lld epoch%s (global step %lld); "
                    "use --epochs N with a larger N, or --steps N, to train more\n", model_dir(m),
                    (long long)run->epochs, run->epochs == 1 ? "" : "s", (long long)m->global_step);
        goto out;
    }
    if (prog_ready(m, GR_PROG_TRAIN, run->batch_size, st) != 0) FAIL_OUT();
    prog_run *pr = t.r = &m->run[GR_PROG_TRAIN];
    t.have_lr = learning_rate(pr->g, &t.lr);
    if (run->save_summary_steps > 0) {
        if (!(t.ev = rt_events_open(model_dir(m), &es))) { rc = estc__status_from(st, &es); goto out; }
        /* TensorBoard drops what a crashed run wrote after the checkpoint's step,
         * which this run writes again; the points at that step are kept (the
         * hooks ran before the checkpoint was saved, see the loop) */
        if (m->global_step > 0) rt_events_session_start(t.ev, m->global_step + 1);
    }

    t.t_log = t.t_line = t.t_ckpt = t.t_eval = t0 = es_now();   /* speed counts the loop, not compiling */
    t.step_log = t.step_line = m->global_step;
    estimate_total(&t);
    m->train_last = t.total;   /* what the tier choice weighs (prog_entry) */
    int stop = 0, asked = 0;
    long delay = step_delay_us();
    t.ahead = input_thread();
    rt_batch b;
    for (;;) {
        /* a batch asked ahead has moved the stream: it is trained on before
         * stopping, so that the checkpoint's data position matches its step */
        int signalled = m->stop && *m->stop;
        if (signalled && !asked) { res->stop_reason = ESTC_STOP_SIGNAL; break; }
        if (m->global_step >= t.target) break;
        int got = rt_stream_next(t.s, &b, &es);
        asked = 0;
        if (got < 0) { rc = estc__status_from(st, &es); break; }
        if (got == 0) break;
        if (bind_batch(m, pr, &b, st) != 0) { rc = -1; break; }
        /* What follows this step is decided before it (time included, on the
         * coarse clock: a few ms against seconds), so
         * that the next batch can be assembled during the step exactly when
         * nothing after it records the data position: a checkpoint, an
         * evaluation that may stop training early, the last step. */
        int64_t next = m->global_step + 1;
        int eval_now = run->eval_every_steps > 0 ? next % run->eval_every_steps == 0
                     : run->eval_every_secs > 0 && es_now_coarse() - t.t_eval >= run->eval_every_secs;
        int save_now = run->save_checkpoints_steps > 0 ? next % run->save_checkpoints_steps == 0
                     : es_now_coarse() - t.t_ckpt >= run->save_checkpoints_secs;
        if (!t.total_final) {      /* the first epoch's end tells how many steps are left */
            estimate_total(&t);
            m->train_last = t.total;
        }
        if (t.ahead && !signalled && !save_now && !(eval_now && t.early_dir) && next < t.target &&
            rt_stream_batch_seconds(t.s) >= AHEAD_MIN_SECONDS) {
            rt_stream_request(t.s);
            asked = 1;
        }
        prog_entry(m, GR_PROG_TRAIN)(pr->bufs, b.n);
        float loss = *output_f32(pr, "loss");
        if (run->nan_guard && !isfinite(loss)) { rc = nan_stop(&t, loss, b.n, st); break; }
        m->global_step++;
        res->steps_run++;
        res->examples += b.n;
        t.loss_sum += loss; t.loss_n++;
        t.sum_loss += loss; t.sum_n++;
        int64_t gs = m->global_step;
        if (gs % run->log_every == 0) log_hook(&t);
        if (run->save_summary_steps > 0 && gs % run->save_summary_steps == 0 && summary_hook(&t, st) != 0) { rc = -1; break; }
        if (eval_now) {
            if (evaluate_now(&t, &stop, st) != 0) { rc = -1; break; }
            if (stop) res->stop_reason = ESTC_STOP_EARLY;
        }
        if (save_now && save_checkpoint(&t, st) != 0) { rc = -1; break; }
        if (stop) break;
        if (t.bar) rt_progress_update(t.pg, gs, t.total, loss);
        step_delay(delay);
    }
    t_steps = es_now();
    if (rc != 0) goto out;
    /* the end: a last evaluation (not after a signal: the user wants out), then the checkpoint */
    if (res->steps_run > 0 && res->stop_reason == ESTC_STOP_DONE && t.last_eval != m->global_step &&
        (run->eval_every_steps > 0 || run->eval_every_secs > 0)) {
        int ignore = 0;
        if (evaluate_now(&t, &ignore, st) != 0) FAIL_OUT();
    }
    if (res->steps_run > 0) {
        if (t.ev && t.sum_n && summary_hook(&t, st) != 0) FAIL_OUT();
        if (save_checkpoint(&t, st) != 0) FAIL_OUT();
    }
out:
    m->train_last = 0;
#undef FAIL_OUT
    if (t.loss_n) res->final_loss = t.loss_sum / (double)t.loss_n;
    if (rc != 0 && res->steps_run > 0) {
        /* the store holds a failed step's values: the next call starts over from model_dir */
        rt_vars_free(&m->vars);
        rt_vars_init(&m->vars);
        m->vars_ready = 0;
        m->have_state = 0;
        for (int k = 0; k < 3; k++) {
            prog_run *p = &m->run[k];
            free(p->bufs);   /* they point into the freed store */
            p->bufs = NULL;
            if (p->scratch) {
                for (int i = 0; i < p->g->nbufs; i++) free(p->scratch[i]);
                free(p->scratch);
                p->scratch = NULL;
            }
        }
    }
    if (t.s) {
        res->rows_skipped = rt_stream_skipped(t.s);
        if (rc == 0) {
            /* a second estc_train on this handle continues from here */
            rt_stream_position(t.s, &m->state.input);
            m->state.has_input = 1;
            m->state.seed = run->seed;
            m->state.shuffle_buffer = run->shuffle_buffer;
            m->state.batch_size = run->batch_size;
            m->have_state = 1;
        }
        rt_stream_close(t.s);
    }
    double t_end = es_now();
    res->seconds = t_end - t0;
    if (t_steps > 0) res->final_seconds = t_end - t_steps;
    res->global_step = m->global_step;
    es_status ignore = {0};
    if (t.ev && rt_events_flush(t.ev, &ignore) != 0 && rc == 0) rc = estc__status_from(st, &ignore);
    rt_events_close(t.ev);
    rt_events_close(t.ev_eval);
    rt_progress_free(t.pg);
    if (rc == 0 && log && res->steps_run > 0) {
        double steps_s = res->seconds - res->final_seconds;
        fprintf(log, "trained %lld steps (%lld examples) in %.2f s: %.0f examples/s in the steps, "
                "%.3f s after them to finish; final loss %.6f\n",
                (long long)res->steps_run, (long long)res->examples, res->seconds,
                steps_s > 0 ? (double)res->examples / steps_s : 0.0, res->final_seconds, res->final_loss);
        if (res->rows_skipped)
            fprintf(log, "skipped %lld malformed rows\n", (long long)res->rows_skipped);
        if (res->stop_reason == ESTC_STOP_SIGNAL)
            fprintf(log, "stopped by a signal at step %lld; the checkpoint is saved: run the same command "
                    "to continue\n", (long long)m->global_step);
        fprintf(log, "global step %lld; latest checkpoint in %s\n", (long long)m->global_step, model_dir(m));
    } else if (rc == 0 && log && res->stop_reason == ESTC_STOP_SIGNAL) {
        fprintf(log, "stopped by a signal before the first step; nothing to save\n");
    }
    rt_ckpt_unlock(lock);
    return rc;
}

/* ---- evaluate ------------------------------------------------------------------ */

int estc_evaluate(estc_model *m, estc_metrics *out, estc_status *st)
{
    memset(st, 0, sizeof *st);
    memset(out, 0, sizeof *out);
    if (prepare_vars(m, 1, m->diags.out, st) != 0) return -1;
    return run_eval(m, data_path(m, m->fm->spec.eval), out, st);
}

/* ---- predict ---------------------------------------------------------------------- */

static void write_floats(FILE *out, const float *v, int n, int json)
{
    if (json) fputc('[', out);
    for (int i = 0; i < n; i++) {
        if (i) fputc(json ? ',' : ';', out);
        fprintf(out, "%.9g", (double)v[i]);
    }
    if (json) fputc(']', out);
}

/* The predict outputs a model names besides the head's own: written after
 * them, one field (CSV) or key (JSON) each, a vector per example. */
static int is_head_output(const char *name)
{
    static const char *const head[] = { "logits", "logistic", "probabilities", "class_ids", "predictions" };
    for (size_t i = 0; i < ES_ARRAY_LEN(head); i++)
        if (strcmp(head[i], name) == 0) return 1;
    return 0;
}

static void write_extra_header(FILE *out, const gr_graph *g)
{
    for (int k = 0; k < g->noutputs; k++)
        if (!is_head_output(g->outputs[k].name)) fprintf(out, ",%s", g->outputs[k].name);
}

static void write_json_string(FILE *out, const char *s)
{
    fputc('"', out);
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\') fprintf(out, "\\%c", c);
        else if (c < 0x20) fprintf(out, "\\u%04x", c);
        else fputc(c, out);
    }
    fputc('"', out);
}

/* row i of every extra output; json: ,"name":[...] ; csv: ,v;v;v */
static void write_extras(FILE *out, const prog_run *r, int64_t i, int json)
{
    const gr_graph *g = r->g;
    for (int k = 0; k < g->noutputs; k++) {
        if (is_head_output(g->outputs[k].name)) continue;
        const gr_node *n = &g->nodes[g->outputs[k].node];
        int64_t w = gr_numel(n->shape, 1);     /* per example, or the whole tensor */
        int64_t base = gr_has_batch(n->shape) ? i * w : 0;
        fputc(',', out);
        if (json) { write_json_string(out, g->outputs[k].name); fputs(":[", out); }
        for (int64_t j = 0; j < w; j++) {
            if (j) fputc(json ? ',' : ';', out);
            if (n->dtype == GR_I32) fprintf(out, "%d", ((const int32_t *)r->bufs[n->buf])[base + j]);
            else fprintf(out, "%.9g", (double)((const float *)r->bufs[n->buf])[base + j]);
        }
        if (json) fputc(']', out);
    }
}

int estc_predict(estc_model *m, FILE *out, estc_format fmt, estc_status *st)
{
    memset(st, 0, sizeof *st);
    es_spec *sp = &m->fm->spec;
    es_status es = {0};
    if (prepare_vars(m, 1, m->diags.out, st) != 0) return -1;
    int64_t bs = sp->run.eval_batch_size > 0 ? sp->run.eval_batch_size : 1024;
    if (prog_ready(m, GR_PROG_PREDICT, bs, st) != 0) return -1;
    prog_run *r = &m->run[GR_PROG_PREDICT];
    rt_stream *s = rt_stream_open(sp, sp->eval, data_path(m, sp->eval), 0, bs, 1, 0, 0, &es);
    if (!s) return estc__status_from(st, &es);
    stream_thread(s);
    int json = fmt == ESTC_FORMAT_JSONL;
    int K = sp->head == ES_HEAD_MULTICLASS ? sp->label.n_classes : sp->head == ES_HEAD_BINARY ? 2 : 0;
    int nlogits = sp->head == ES_HEAD_MULTICLASS ? K : 1;
    if (!json) {
        if (sp->head == ES_HEAD_REGRESSION) fprintf(out, "predictions");
        else fprintf(out, "class_ids,class,probabilities,logits");
        write_extra_header(out, r->g);
        fputc('\n', out);
    }
    int rc = 0;
    rt_batch b;
    for (;;) {
        int got = rt_stream_next(s, &b, &es);
        if (got < 0) { rc = estc__status_from(st, &es); break; }
        if (got == 0) break;
        if (bind_batch(m, r, &b, st) != 0) { rc = -1; break; }
        prog_entry(m, GR_PROG_PREDICT)(r->bufs, b.n);
        if (sp->head == ES_HEAD_REGRESSION) {
            const float *p = output_f32(r, "predictions");
            for (int64_t i = 0; i < b.n; i++) {
                fprintf(out, json ? "{\"predictions\":[%.9g]" : "%.9g", (double)p[i]);
                write_extras(out, r, i, json);
                fputs(json ? "}\n" : "\n", out);
            }
            continue;
        }
        const int32_t *ids = (const int32_t *)output_f32(r, "class_ids");
        const float *probs = output_f32(r, "probabilities");
        const float *logits = output_f32(r, "logits");
        for (int64_t i = 0; i < b.n; i++) {
            int c = ids[i];
            const char *cname = sp->label.vocab && c >= 0 && c < sp->label.n_classes
                              ? sp->label.vocab[c] : NULL;
            if (json) {
                fprintf(out, "{\"class_ids\":[%d],", c);
                if (cname) { fputs("\"classes\":[", out); write_json_string(out, cname); fputs("],", out); }
                fprintf(out, "\"probabilities\":");
                write_floats(out, probs + i * K, K, 1);
                fprintf(out, ",\"logits\":");
                write_floats(out, logits + i * nlogits, nlogits, 1);
                write_extras(out, r, i, 1);
                fprintf(out, "}\n");
            } else {
                fprintf(out, "%d,%s,", c, cname ? cname : "");
                write_floats(out, probs + i * K, K, 0);
                fputc(',', out);
                write_floats(out, logits + i * nlogits, nlogits, 0);
                write_extras(out, r, i, 0);
                fputc('\n', out);
            }
        }
    }
    rt_stream_close(s);
    if (fflush(out) != 0 || ferror(out)) return estc__fail(st, ESTC_EIO, "cannot write predictions");
    return rc;
}

/* ---- graph dump ----------------------------------------------------------------------- */

int estc_dump_graph(estc_model *m, const char *program, int llvm, FILE *out, estc_status *st)
{
    memset(st, 0, sizeof *st);
    int k = strcmp(program, "train") == 0 ? GR_PROG_TRAIN
          : strcmp(program, "eval") == 0 ? GR_PROG_EVAL
          : strcmp(program, "predict") == 0 ? GR_PROG_PREDICT : -1;
    if (k < 0) return estc__fail(st, ESTC_EINVAL, "unknown program '%s' (expected train, eval or predict)", program);
    if (!llvm) {
        gr_print(m->run[k].g, out);
        return 0;
    }
    es_status es = {0};
    char *text = cg_module_text(m->run[k].g, prog_names[k], 1, &es);
    if (!text) return estc__status_from(st, &es);
    fputs(text, out);
    free(text);
    return 0;
}

/* ---- model_dir contents ------------------------------------------------------------------ */

struct estc_summaries {
    rt_scalars s;
    estc_scalar *v;
};

estc_summaries *estc_summaries_read(const char *path, int purge, estc_status *st)
{
    memset(st, 0, sizeof *st);
    estc_summaries *out = es_xcalloc(1, sizeof *out);
    es_status es = {0};
    if (rt_scalars_load(path, purge, &out->s, &es) != 0) {
        estc__status_from(st, &es);
        rt_scalars_free(&out->s);
        free(out);
        return NULL;
    }
    out->v = es_xcalloc((size_t)(out->s.n ? out->s.n : 1), sizeof *out->v);
    for (int i = 0; i < out->s.n; i++) {
        const rt_scalar *p = &out->s.v[i];
        out->v[i] = (estc_scalar){ p->run, p->tag, p->step, p->wall_time, p->value };
    }
    return out;
}

int estc_summaries_count(const estc_summaries *s) { return s->s.n; }

const estc_scalar *estc_summaries_get(const estc_summaries *s, int i)
{
    return i >= 0 && i < s->s.n ? &s->v[i] : NULL;
}

int estc_summaries_plot(const estc_summaries *s, const char *title, FILE *out, estc_status *st)
{
    memset(st, 0, sizeof *st);
    es_status es = {0};
    if (rt_plot_svg(&s->s, title, out, &es) != 0) return estc__status_from(st, &es);
    return 0;
}

void estc_summaries_free(estc_summaries *s)
{
    if (!s) return;
    rt_scalars_free(&s->s);
    free(s->v);
    free(s);
}

int estc_list_checkpoints(const char *dir, estc_checkpoint **out, int *n, estc_status *st)
{
    memset(st, 0, sizeof *st);
    *out = NULL;
    *n = 0;
    rt_ckpt_info *v;
    int k;
    es_status es = {0};
    if (rt_ckpt_list(dir, &v, &k, &es) != 0) return estc__status_from(st, &es);
    estc_checkpoint *c = es_xcalloc((size_t)(k ? k : 1), sizeof *c);
    for (int i = 0; i < k; i++) {
        memcpy(c[i].file, v[i].file, sizeof c[i].file);
        c[i].global_step = v[i].global_step;
        c[i].bytes = v[i].bytes;
        c[i].listed = v[i].listed;
        c[i].latest = v[i].latest;
        c[i].ok = v[i].ok;
        memcpy(c[i].problem, v[i].problem, sizeof c[i].problem);
    }
    free(v);
    *out = c;
    *n = k;
    return 0;
}

/* ---- for the API's other files (internal.h) ------------------------------------------------ */

int estc_model_view_get(estc_model *m, estc_model_view *v, estc_status *st)
{
    memset(st, 0, sizeof *st);
    memset(v, 0, sizeof *v);
    if (prepare_vars(m, 1, m->diags.out, st) != 0) return -1;
    v->fm = m->fm;
    v->predict = m->run[GR_PROG_PREDICT].g;
    v->vars = &m->vars;
    v->global_step = m->global_step;
    v->model_dir = model_dir(m);
    return 0;
}

int estc__predict_entry(estc_model *m, cg_entry_fn *fn, estc_status *st)
{
    memset(st, 0, sizeof *st);
    if (prepare_vars(m, 1, m->diags.out, st) != 0) return -1;
    /* a predictor keeps the entry it is given: make it the optimised one */
    if (prog_compile(m, GR_PROG_PREDICT, 0, OPT_NOW, st) != 0) return -1;
    optimiser_ask(m, GR_PROG_PREDICT);   /* compiled fast by a run: optimise it now */
    optimiser_kick(m);
    optimiser_wait(m, GR_PROG_PREDICT);
    *fn = prog_entry(m, GR_PROG_PREDICT);
    return 0;
}

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
 * A program run binds buffers by kind: PARAM -> the variable's storage, INPUT
 * -> the batch's feature or label array, everything else -> scratch sized for
 * the largest batch, allocated once.
 */
#define _GNU_SOURCE
#include "estc/estc.h"

#include "core/core.h"
#include "core/spec.h"
#include "graph/graph.h"
#include "codegen/codegen.h"
#include "runtime/runtime.h"
#include "frontend/frontend.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static const char *const prog_names[3] = { "estc_train_step", "estc_eval_step", "estc_predict" };

typedef struct prog_run {
    gr_graph *g;
    cg_jit *jit;
    cg_entry_fn fn;
    void **bufs;
    void **scratch;          /* per buffer, owned (NULL for PARAM/INPUT) */
    int64_t max_batch;
} prog_run;

struct estc_model {
    fe_model *fm;
    es_diags diags;
    rt_vars vars;
    int vars_ready;          /* initialised and restored from model_dir */
    int64_t global_step;
    prog_run run[3];
    const char *data_override;
    int32_t step_input;      /* fed to programs with a "global_step" INPUT (dropout) */
};

static int status_from(estc_status *st, const es_status *es)
{
    st->code = es->code ? es->code : ESTC_EINTERNAL;
    snprintf(st->message, sizeof st->message, "%s", es->msg);
    return -1;
}

static int fail(estc_status *st, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int fail(estc_status *st, int code, const char *fmt, ...)
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
}

estc_model *estc_model_open(const char *path, const estc_open_options *opt, estc_status *st)
{
    estc_open_options defaults;
    if (!opt) { estc_open_options_init(&defaults); opt = &defaults; }
    memset(st, 0, sizeof *st);
    estc_model *m = es_xcalloc(1, sizeof *m);
    es_diags_init(&m->diags, opt->diagnostics ? opt->diagnostics : stderr);
    m->fm = fe_compile_file(path, &m->diags);
    if (!m->fm) {
        if (m->diags.nerrors == 0) fail(st, ESTC_EINTERNAL, "%s: could not be compiled", path);
        else fail(st, ESTC_EMODEL, "%s: %d error%s", path, m->diags.nerrors,
                  m->diags.nerrors == 1 ? "" : "s");
        free(m);
        return NULL;
    }
    es_spec *sp = &m->fm->spec;
    es_arena *a = m->fm->arena;
    if (opt->model_dir) sp->run.model_dir = es_strdup(a, opt->model_dir);
    if (opt->seed >= 0) fe_model_reseed(m->fm, (uint64_t)opt->seed);
    if (opt->steps > 0) sp->run.steps = opt->steps;
    if (opt->epochs > 0) sp->run.epochs = opt->epochs;
    if (opt->data) m->data_override = es_strdup(a, opt->data);

    for (int k = 0; k < 3; k++) {
        es_status es = {0};
        gr_graph *g = gr_optimize(m->fm->prog[k], &es);
        if (!g) {
            fail(st, ESTC_EINTERNAL, "%s program: %s",
                 k == GR_PROG_TRAIN ? "train" : k == GR_PROG_EVAL ? "eval" : "predict", es.msg);
            estc_model_free(m);
            return NULL;
        }
        gr_bind(g);
        m->run[k].g = g;
    }
    rt_vars_init(&m->vars);
    return m;
}

static void prog_release(prog_run *r)
{
    if (r->scratch) {
        for (int i = 0; i < r->g->nbufs; i++) free(r->scratch[i]);
        free(r->scratch);
    }
    free(r->bufs);
    if (r->jit) cg_jit_free(r->jit);
    memset(r, 0, sizeof *r);
}

void estc_model_free(estc_model *m)
{
    if (!m) return;
    for (int k = 0; k < 3; k++) if (m->run[k].g) prog_release(&m->run[k]);
    rt_vars_free(&m->vars);
    if (m->fm) fe_model_free(m->fm);
    free(m);
}

/* ---- variables: create, restore or initialise ----------------------------- */

static const char *model_dir(estc_model *m) { return m->fm->spec.run.model_dir; }

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
    const char *path = m->data_override ? m->data_override : sp->train->path;
    if (rt_compute_stats(sp, path, stats, &es) != 0) { free(stats); return status_from(st, &es); }
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

/* Creates every variable; restores them from model_dir when a checkpoint
 * exists. require_ckpt: evaluate/predict need a trained model. */
static int prepare_vars(estc_model *m, int require_ckpt, estc_status *st)
{
    if (m->vars_ready) return 0;
    es_rng rng;
    es_rng_seed(&rng, m->fm->spec.run.seed);
    es_status es = {0};
    for (int k = 0; k < 3; k++)
        if (rt_vars_add_graph(&m->vars, m->run[k].g, &rng, &es) != 0) return status_from(st, &es);
    int64_t step = 0;
    uint64_t fp = 0;
    int r = rt_ckpt_load(model_dir(m), &m->vars, &step, &fp, &es);
    if (r < 0) return status_from(st, &es);
    if (r == 1 && fp != m->fm->fingerprint)
        return fail(st, ESTC_EMODEL, "model_dir %s was trained with a different model "
                    "(fingerprint %016llx, this model %016llx)", model_dir(m),
                    (unsigned long long)fp, (unsigned long long)m->fm->fingerprint);
    if (r == 0) {
        if (require_ckpt)
            return fail(st, ESTC_EIO, "no checkpoint in %s: run `estc train` first", model_dir(m));
        if (fill_statistics(m, st) != 0) return -1;
    }
    m->global_step = step;
    m->vars_ready = 1;
    return 0;
}

/* ---- programs: compile on first use, bind buffers ---------------------------- */

static int prog_ready(estc_model *m, int k, int64_t max_batch, estc_status *st)
{
    prog_run *r = &m->run[k];
    if (!r->jit) {
        es_status es = {0};
        gr_graph *gs[1] = { r->g };
        const char *names[1] = { prog_names[k] };
        r->jit = cg_jit_new(gs, names, 1, &es);
        if (!r->jit) { status_from(st, &es); st->code = ESTC_ECOMPILE; return -1; }
        r->fn = cg_jit_lookup(r->jit, prog_names[k]);
        if (!r->fn) return fail(st, ESTC_ECOMPILE, "compiled program has no entry %s", prog_names[k]);
    }
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
            if (!v) return fail(st, ESTC_EINTERNAL, "variable %s has no storage", n->name);
            r->bufs[n->buf] = v->data;
        } else if (n->op != GR_INPUT) {
            size_t bytes = gr_buf_bytes(r->g, i, max_batch);
            bytes = (bytes + 63) & ~(size_t)63;
            r->scratch[n->buf] = aligned_alloc(64, bytes ? bytes : 64);
            if (!r->scratch[n->buf]) return fail(st, ESTC_EINTERNAL, "out of memory");
            memset(r->scratch[n->buf], 0, bytes);
            r->bufs[n->buf] = r->scratch[n->buf];
        }
    }
    return 0;
}

/* Points the program's INPUT buffers at a batch. */
static int bind_batch(estc_model *m, prog_run *r, const rt_batch *b, estc_status *st)
{
    es_spec *sp = &m->fm->spec;
    for (int i = 0; i < r->g->n; i++) {
        gr_node *n = &r->g->nodes[i];
        if (n->op != GR_INPUT) continue;
        void *p = NULL;
        if (strcmp(n->name, "label") == 0) p = b->label;
        else if (strcmp(n->name, "global_step") == 0) {
            m->step_input = (int32_t)m->global_step;
            p = &m->step_input;
        }
        else
            for (int f = 0; f < sp->nused; f++)
                if (strcmp(sp->used[f]->name, n->name) == 0) { p = b->feat[f]; break; }
        if (!p) return fail(st, ESTC_EINTERNAL, "program input %s is not fed", n->name);
        r->bufs[n->buf] = p;
    }
    return 0;
}

static const float *output_f32(prog_run *r, const char *name)
{
    int id = gr_find_output(r->g, name);
    if (id == GR_NONE) return NULL;
    return r->bufs[r->g->nodes[id].buf];
}

static const char *data_path(estc_model *m, const es_source_spec *src)
{
    return m->data_override ? m->data_override : src->path;
}

/* ---- train ---------------------------------------------------------------- */

int estc_train(estc_model *m, FILE *log, estc_train_result *res, estc_status *st)
{
    memset(st, 0, sizeof *st);
    estc_train_result dummy;
    if (!res) res = &dummy;
    memset(res, 0, sizeof *res);
    es_spec *sp = &m->fm->spec;
    es_run_spec *run = &sp->run;
    es_status es = {0};

    if (es_mkdirs(model_dir(m), &es) != 0) return status_from(st, &es);
    if (prepare_vars(m, 0, st) != 0) return -1;
    if (prog_ready(m, GR_PROG_TRAIN, run->batch_size, st) != 0) return -1;
    prog_run *r = &m->run[GR_PROG_TRAIN];

    /* A resumed run draws a fresh shuffle order: the seed is mixed with the step. */
    uint64_t seed = run->seed;
    if (m->global_step > 0) seed ^= es_hash64(&m->global_step, sizeof m->global_step, 0x5eed);
    int64_t epochs = run->steps > 0 ? 1000000000 : (run->epochs > 0 ? run->epochs : 1);
    rt_stream *s = rt_stream_open(sp, sp->train, data_path(m, sp->train), 1, run->batch_size,
                                  epochs, run->shuffle_buffer, seed, &es);
    if (!s) return status_from(st, &es);

    double t0 = es_now(), tlog = t0;
    double loss_sum = 0;
    int64_t loss_n = 0, steps_at_log = 0;
    int rc = 0;
    rt_batch b;
    for (;;) {
        if (run->steps > 0 && res->steps_run >= run->steps) break;
        int got = rt_stream_next(s, &b, &es);
        if (got < 0) { rc = status_from(st, &es); break; }
        if (got == 0) break;
        if (bind_batch(m, r, &b, st) != 0) { rc = -1; break; }
        r->fn(r->bufs, b.n);
        float loss = *output_f32(r, "loss");
        if (!isfinite(loss)) {
            rc = fail(st, ESTC_EDATA, "loss is %s at step %lld; stopping without saving "
                      "(the last checkpoint in %s is kept)", isnan(loss) ? "NaN" : "infinite",
                      (long long)(m->global_step + 1), model_dir(m));
            break;
        }
        m->global_step++;
        res->steps_run++;
        res->examples += b.n;
        loss_sum += loss;
        loss_n++;
        if (log && run->log_every > 0 && m->global_step % run->log_every == 0) {
            double now = es_now();
            fprintf(log, "step %lld: loss = %.6f (%.0f steps/s)\n", (long long)m->global_step,
                    loss_sum / (double)loss_n, (double)(res->steps_run - steps_at_log) / (now - tlog));
            res->final_loss = loss_sum / (double)loss_n;
            loss_sum = 0; loss_n = 0; tlog = now; steps_at_log = res->steps_run;
        }
    }
    res->rows_skipped = rt_stream_skipped(s);
    rt_stream_close(s);
    if (loss_n) res->final_loss = loss_sum / (double)loss_n;
    res->seconds = es_now() - t0;
    res->global_step = m->global_step;
    if (rc != 0) return rc;
    if (rt_ckpt_save(model_dir(m), &m->vars, m->global_step, m->fm->fingerprint, &es) != 0)
        return status_from(st, &es);
    if (log) {
        fprintf(log, "trained %lld steps (%lld examples) in %.2f s: %.0f examples/s; final loss %.6f\n",
                (long long)res->steps_run, (long long)res->examples, res->seconds,
                res->seconds > 0 ? (double)res->examples / res->seconds : 0.0, res->final_loss);
        if (res->rows_skipped)
            fprintf(log, "skipped %lld malformed rows\n", (long long)res->rows_skipped);
        fprintf(log, "saved checkpoint at step %lld in %s\n", (long long)m->global_step, model_dir(m));
    }
    return 0;
}

/* ---- evaluate ------------------------------------------------------------------ */

int estc_evaluate(estc_model *m, estc_metrics *out, estc_status *st)
{
    memset(st, 0, sizeof *st);
    memset(out, 0, sizeof *out);
    es_spec *sp = &m->fm->spec;
    es_status es = {0};
    if (prepare_vars(m, 1, st) != 0) return -1;
    int64_t bs = sp->run.eval_batch_size > 0 ? sp->run.eval_batch_size : 1024;
    if (prog_ready(m, GR_PROG_EVAL, bs, st) != 0) return -1;
    prog_run *r = &m->run[GR_PROG_EVAL];
    rt_stream *s = rt_stream_open(sp, sp->eval, data_path(m, sp->eval), 1, bs, 1, 0, 0, &es);
    if (!s) return status_from(st, &es);
    int K = sp->head == ES_HEAD_MULTICLASS ? sp->label.n_classes : 1;
    rt_metrics *mt = rt_metrics_new(sp->head, K);
    const char *pred_name = sp->head == ES_HEAD_BINARY ? "logistic"
                          : sp->head == ES_HEAD_MULTICLASS ? "probabilities" : "predictions";
    int rc = 0;
    rt_batch b;
    for (;;) {
        int got = rt_stream_next(s, &b, &es);
        if (got < 0) { rc = status_from(st, &es); break; }
        if (got == 0) break;
        if (bind_batch(m, r, &b, st) != 0) { rc = -1; break; }
        r->fn(r->bufs, b.n);
        rt_metrics_add(mt, b.n, output_f32(r, "example_loss"), output_f32(r, pred_name), b.label);
    }
    rt_stream_close(s);
    if (rc == 0) {
        const char **names;
        const double *vals;
        int n = rt_metrics_result(mt, m->global_step, &names, &vals);
        for (int i = 0; i < n && i < (int)ES_ARRAY_LEN(out->name); i++) {
            /* names live in mt: copy into the model's arena so they outlive it */
            out->name[i] = es_strdup(m->fm->arena, names[i]);
            out->value[i] = vals[i];
        }
        out->n = n < (int)ES_ARRAY_LEN(out->name) ? n : (int)ES_ARRAY_LEN(out->name);
    }
    rt_metrics_free(mt);
    return rc;
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

int estc_predict(estc_model *m, FILE *out, estc_format fmt, estc_status *st)
{
    memset(st, 0, sizeof *st);
    es_spec *sp = &m->fm->spec;
    es_status es = {0};
    if (prepare_vars(m, 1, st) != 0) return -1;
    int64_t bs = sp->run.eval_batch_size > 0 ? sp->run.eval_batch_size : 1024;
    if (prog_ready(m, GR_PROG_PREDICT, bs, st) != 0) return -1;
    prog_run *r = &m->run[GR_PROG_PREDICT];
    rt_stream *s = rt_stream_open(sp, sp->eval, data_path(m, sp->eval), 0, bs, 1, 0, 0, &es);
    if (!s) return status_from(st, &es);
    int json = fmt == ESTC_FORMAT_JSONL;
    int K = sp->head == ES_HEAD_MULTICLASS ? sp->label.n_classes : sp->head == ES_HEAD_BINARY ? 2 : 0;
    int nlogits = sp->head == ES_HEAD_MULTICLASS ? K : 1;
    if (!json) {
        if (sp->head == ES_HEAD_REGRESSION) fprintf(out, "predictions\n");
        else fprintf(out, "class_ids,class,probabilities,logits\n");
    }
    int rc = 0;
    rt_batch b;
    for (;;) {
        int got = rt_stream_next(s, &b, &es);
        if (got < 0) { rc = status_from(st, &es); break; }
        if (got == 0) break;
        if (bind_batch(m, r, &b, st) != 0) { rc = -1; break; }
        r->fn(r->bufs, b.n);
        if (sp->head == ES_HEAD_REGRESSION) {
            const float *p = output_f32(r, "predictions");
            for (int64_t i = 0; i < b.n; i++)
                fprintf(out, json ? "{\"predictions\":[%.9g]}\n" : "%.9g\n", (double)p[i]);
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
                if (cname) fprintf(out, "\"classes\":[\"%s\"],", cname);
                fprintf(out, "\"probabilities\":");
                write_floats(out, probs + i * K, K, 1);
                fprintf(out, ",\"logits\":");
                write_floats(out, logits + i * nlogits, nlogits, 1);
                fprintf(out, "}\n");
            } else {
                fprintf(out, "%d,%s,", c, cname ? cname : "");
                write_floats(out, probs + i * K, K, 0);
                fputc(',', out);
                write_floats(out, logits + i * nlogits, nlogits, 0);
                fputc('\n', out);
            }
        }
    }
    rt_stream_close(s);
    if (fflush(out) != 0 || ferror(out)) return fail(st, ESTC_EIO, "cannot write predictions");
    return rc;
}

/* ---- graph dump ----------------------------------------------------------------------- */

int estc_dump_graph(estc_model *m, const char *program, int llvm, FILE *out, estc_status *st)
{
    memset(st, 0, sizeof *st);
    int k = strcmp(program, "train") == 0 ? GR_PROG_TRAIN
          : strcmp(program, "eval") == 0 ? GR_PROG_EVAL
          : strcmp(program, "predict") == 0 ? GR_PROG_PREDICT : -1;
    if (k < 0) return fail(st, ESTC_EINVAL, "unknown program '%s' (expected train, eval or predict)", program);
    if (!llvm) {
        gr_print(m->run[k].g, out);
        return 0;
    }
    es_status es = {0};
    char *text = cg_module_text(m->run[k].g, prog_names[k], 1, &es);
    if (!text) return status_from(st, &es);
    fputs(text, out);
    free(text);
    return 0;
}

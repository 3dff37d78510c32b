/*
 * main.c — the `estc` command: argument parsing and output formatting over the
 * public API (include/estc/estc.h). Nothing here knows how models are compiled.
 *
 * Exit status: 0 success; 1 a run failed (bad data, I/O, incompatible
 * model_dir, a damaged checkpoint listed by `estc checkpoints`); 2 the model
 * file is invalid or the command line is wrong; 128 + N when training was
 * stopped by signal N (SIGINT 130, SIGTERM 143) after saving a checkpoint, as
 * a shell reports a process killed by that signal.
 *
 * Signals: `train` catches SIGINT and SIGTERM once (SA_RESETHAND): the
 * handler only records the signal, the training loop sees it between steps,
 * saves and returns. A second Ctrl-C kills the process the ordinary way.
 */
#define _GNU_SOURCE
#include "estc/estc.h"
#include "estc/export.h"

#include <errno.h>
#include <limits.h>
#include <stddef.h>
#include <math.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

enum { EXIT_RUN = 1, EXIT_USAGE = 2 };

static const char usage_main[] =
    "usage: estc COMMAND FILE.est [options]\n"
    "\n"
    "estc compiles a model written in the .est language to native code and runs it.\n"
    "\n"
    "commands:\n"
    "  check        parse and check a model file, report every error\n"
    "  compile      compile the model's programs to native code, and nothing else\n"
    "  train        train the model, resuming from the latest checkpoint in model_dir\n"
    "  evaluate     compute the model's metrics on its evaluation data\n"
    "  predict      write one prediction per input row\n"
    "  graph        print a compiled program as graph text (or LLVM IR)\n"
    "  export       compile the trained model into a standalone C predictor\n"
    "\n"
    "commands on a model_dir (no model file needed):\n"
    "  summaries    print the scalars of its TensorBoard event files\n"
    "  plot         draw its loss and metric curves as an SVG file\n"
    "  checkpoints  list its checkpoints and check each one\n"
    "\n"
    "options common to the commands that run a model:\n"
    "  --model-dir DIR   where checkpoints live (default: the run block's model_dir)\n"
    "  --data PATH       data file instead of the source's own path\n"
    "  --seed N          random seed (default: the run block's seed)\n"
    "  --no-cache        compile afresh, without the object cache (~/.cache/estc)\n"
    "\n"
    "`estc COMMAND --help` describes one command; `estc --version` prints the version.\n";

static const struct { const char *cmd, *help; } cmd_help[] = {
    { "check", "usage: estc check FILE.est\n\n"
               "Parses and checks FILE.est and prints every problem as file:line:col with the\n"
               "source line. Exit status 0 if the model is valid, 2 if not.\n" },
    { "compile", "usage: estc compile FILE.est [--no-cache] [--timings]\n\n"
                 "Parses, checks and lowers FILE.est and JIT-compiles its three programs (train,\n"
                 "eval, predict), then stops: no data is read and model_dir is not touched.\n"
                 "Compiled objects go to (and come from) the object cache. A program the cache\n"
                 "does not hold is first compiled by a fast tier (ready soonest), then optimised;\n"
                 "the summary gives both times, and only optimised code is cached.\n"
                 "  --no-cache   compile afresh, without the object cache\n"
                 "  --timings    print the time of each phase, in milliseconds\n" },
    { "train", "usage: estc train FILE.est [options]\n\n"
               "Trains the model on its training source (or PATH), continuing from the latest good\n"
               "checkpoint in model_dir at the same place in the data stream. Flags override the\n"
               "run block's settings of the same name.\n"
               "  --model-dir DIR              where checkpoints and summaries live\n"
               "  --data PATH                  training data file instead of the source's own\n"
               "  --seed N                     random seed (initial values, shuffling)\n"
               "  --epochs N                   train until the model_dir has seen N passes of the data\n"
               "  --steps N                    train N more steps\n"
               "  --max-steps N                train until the global step is N (a finished run does nothing)\n"
               "  --save-checkpoints-steps N   save a checkpoint every N steps ...\n"
               "  --save-checkpoints-secs S    ... or every S seconds (default 600)\n"
               "  --keep-checkpoint-max N      checkpoints kept (default 5; 0 keeps all)\n"
               "  --log-step-count-steps N     log loss and speed every N steps (default 100)\n"
               "  --save-summary-steps N       TensorBoard summaries every N steps (default 100; 0 none)\n"
               "  --histograms                 also write weight histograms with the summaries\n"
               "  --eval-every-steps N         evaluate during training every N steps ...\n"
               "  --eval-every-secs S          ... or every S seconds\n"
               "  --eval-data PATH             data file for those evaluations (default: eval_data's)\n"
               "  --early-stopping METRIC      stop when METRIC (auc, loss, ...) stops improving ...\n"
               "  --early-stopping-patience N  ... for N evaluations (default 5)\n"
               "  --warm-start-from DIR        a fresh model starts from another model_dir's variables\n"
               "  --warm-start-vars REGEX      ... those whose names match REGEX (default .*)\n"
               "  --no-nan-guard               keep training when the loss is NaN or infinite\n"
               "  --progress, --no-progress    force the progress bar on or off (default: on a terminal)\n"
               "  --quiet                      no progress or log lines\n"
               "  --threads N                  cores the matrix products use (default: OpenBLAS's choice)\n"
               "SIGINT or SIGTERM saves a checkpoint after the current step and exits with 128+signal.\n" },
    { "evaluate", "usage: estc evaluate FILE.est [--model-dir DIR] [--data PATH] [--json] [--threads N]\n\n"
                  "Evaluates the trained model on its evaluation source (or PATH) and prints\n"
                  "the metrics of its head (TensorFlow's names).\n"
                  "  --json        print one JSON object of metric name -> value on stdout\n"
                  "  --threads N   cores the matrix products use (default: OpenBLAS's choice)\n" },
    { "predict", "usage: estc predict FILE.est [--model-dir DIR] [--data PATH] [--out PATH] [--format csv|jsonl]\n"
                 "                    [--threads N]\n\n"
                 "Writes one prediction per row of the evaluation source (or PATH): class_ids,\n"
                 "class, probabilities and logits for classifiers; predictions for regressors.\n"
                 "  --out PATH    write to PATH (atomically) instead of stdout\n"
                 "  --format F    csv (default) or jsonl\n"
                 "  --threads N   cores the matrix products use (default: OpenBLAS's choice)\n" },
    { "graph", "usage: estc graph FILE.est [--program train|eval|predict] [--llvm]\n\n"
               "Prints a program of the model in estc's graph text form, after dead-code\n"
               "elimination, or with --llvm the optimised LLVM IR of its kernels.\n" },
    { "export", "usage: estc export FILE.est --out DIR [--model-dir DIR] [--name NAME] [--cpu CPU]\n\n"
                "Compiles the trained model (the newest good checkpoint in model_dir) into a\n"
                "standalone predictor: DIR/NAME.h, NAME.o, libNAME.a, libNAME.so and README.txt.\n"
                "The predictor takes the raw columns of the evaluation source, computes the\n"
                "feature columns itself and needs only libc and libm at run time. Linking\n"
                "libNAME.so needs a C compiler now ($CC, else cc). See docs/export.md.\n"
                "  --out DIR    the output directory (created if missing)\n"
                "  --name NAME  prefix of the C names and of the files (default: the model\n"
                "               file's name, e.g. linear for linear.est)\n"
                "  --cpu CPU    native (default: this machine's CPU and features) or an LLVM\n"
                "               CPU name such as x86-64-v2 or x86-64-v3, to run elsewhere\n"
                "  --quiet      do not list the files written\n" },
    { "summaries", "usage: estc summaries DIR [--csv] [--no-purge]\n\n"
                   "Prints every scalar of the TensorBoard event files in DIR (a model_dir: its own\n"
                   "files are run \".\", model_dir/eval's run \"eval\"; or any log directory, or one\n"
                   "event file): run, tag, step and value. Points that a restarted run superseded are\n"
                   "dropped as TensorBoard drops them, unless --no-purge.\n"
                   "  --csv   run,tag,step,wall_time,value lines with a header\n" },
    { "plot", "usage: estc plot DIR [-o FILE.svg] [--no-purge]\n\n"
              "Draws the scalars of DIR's event files (see `estc summaries`) as a self-contained\n"
              "SVG: one panel per tag, one line per run. Written atomically to FILE.svg, or to\n"
              "stdout without -o.\n" },
    { "checkpoints", "usage: estc checkpoints MODEL_DIR\n\n"
                     "Lists the checkpoints of MODEL_DIR with their global step and size and checks\n"
                     "each (structure and checksums). Exit status 1 if any is damaged or missing.\n" },
};

static const char *help_for(const char *cmd)
{
    for (size_t i = 0; i < sizeof cmd_help / sizeof cmd_help[0]; i++)
        if (strcmp(cmd_help[i].cmd, cmd) == 0) return cmd_help[i].help;
    return NULL;
}

typedef struct args {
    const char *cmd, *file;
    const char *model_dir, *data, *out, *format, *program;
    const char *eval_data, *warm_from, *warm_vars, *early;
    const char *name, *cpu;                      /* export */
    long long seed, steps, epochs, max_steps, ckpt_steps, keep, log_steps, summary_steps, eval_steps, patience;
    long long threads;
    double ckpt_secs, eval_secs;
    int json, llvm, quiet, csv, no_purge, no_nan_guard, histograms, progress, no_cache, timings;
} args;

static int usage_error(const char *cmd, const char *fmt, const char *arg)
{
    fprintf(stderr, "estc: ");
    fprintf(stderr, fmt, arg);
    fprintf(stderr, "\n%s", cmd && help_for(cmd) ? help_for(cmd) : usage_main);
    return EXIT_USAGE;
}

static int parse_secs(const char *s, double *out)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || end == s || *end || !(v > 0) || !isfinite(v)) return -1;
    *out = v;
    return 0;
}

static int parse_int(const char *s, long long *out)
{
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno || end == s || *end || v < 0) return -1;
    *out = v;
    return 0;
}

/* Returns -1 to go on, or an exit status. */
static int parse_args(int argc, char **argv, args *a)
{
    memset(a, 0, sizeof *a);
    a->seed = a->keep = a->summary_steps = a->threads = -1;
    a->progress = -1;
    a->program = "train";
    if (argc < 2) { fputs(usage_main, stderr); return EXIT_USAGE; }
    if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
        if (argc > 2 && help_for(argv[2])) fputs(help_for(argv[2]), stdout);
        else fputs(usage_main, stdout);
        return 0;
    }
    if (!strcmp(argv[1], "--version")) { printf("estc %s\n", ESTC_VERSION_STRING); return 0; }
    a->cmd = argv[1];
    if (!help_for(a->cmd)) return usage_error(NULL, "unknown command '%s'", a->cmd);
    static const struct { const char *flag; int off; } flags[] = {
        { "--json", offsetof(args, json) }, { "--llvm", offsetof(args, llvm) },
        { "--quiet", offsetof(args, quiet) }, { "-q", offsetof(args, quiet) },
        { "--csv", offsetof(args, csv) }, { "--no-purge", offsetof(args, no_purge) },
        { "--no-nan-guard", offsetof(args, no_nan_guard) }, { "--histograms", offsetof(args, histograms) },
        { "--no-cache", offsetof(args, no_cache) }, { "--timings", offsetof(args, timings) },
    };
    static const struct { const char *flag; int off; } strs[] = {
        { "--model-dir", offsetof(args, model_dir) }, { "--data", offsetof(args, data) },
        { "--out", offsetof(args, out) }, { "-o", offsetof(args, out) },
        { "--format", offsetof(args, format) }, { "--program", offsetof(args, program) },
        { "--eval-data", offsetof(args, eval_data) }, { "--warm-start-from", offsetof(args, warm_from) },
        { "--warm-start-vars", offsetof(args, warm_vars) }, { "--early-stopping", offsetof(args, early) },
        { "--name", offsetof(args, name) }, { "--cpu", offsetof(args, cpu) },
    };
    static const struct { const char *flag; int off; } ints[] = {
        { "--seed", offsetof(args, seed) }, { "--steps", offsetof(args, steps) },
        { "--epochs", offsetof(args, epochs) }, { "--max-steps", offsetof(args, max_steps) },
        { "--save-checkpoints-steps", offsetof(args, ckpt_steps) },
        { "--keep-checkpoint-max", offsetof(args, keep) },
        { "--log-step-count-steps", offsetof(args, log_steps) },
        { "--save-summary-steps", offsetof(args, summary_steps) },
        { "--eval-every-steps", offsetof(args, eval_steps) },
        { "--early-stopping-patience", offsetof(args, patience) },
        { "--threads", offsetof(args, threads) },
    };
    static const struct { const char *flag; int off; } secs[] = {
        { "--save-checkpoints-secs", offsetof(args, ckpt_secs) }, { "--eval-every-secs", offsetof(args, eval_secs) },
    };
    for (int i = 2; i < argc; i++) {
        const char *o = argv[i];
        if (!strcmp(o, "--help") || !strcmp(o, "-h")) { fputs(help_for(a->cmd), stdout); return 0; }
        if (!strcmp(o, "--progress")) { a->progress = 1; continue; }
        if (!strcmp(o, "--no-progress")) { a->progress = 0; continue; }
        int done = 0;
        for (size_t k = 0; k < sizeof flags / sizeof flags[0] && !done; k++)
            if (!strcmp(o, flags[k].flag)) { *(int *)((char *)a + flags[k].off) = 1; done = 1; }
        if (done) continue;
        const char **sval = NULL;
        long long *ival = NULL;
        double *dval = NULL;
        for (size_t k = 0; k < sizeof strs / sizeof strs[0]; k++)
            if (!strcmp(o, strs[k].flag)) sval = (const char **)((char *)a + strs[k].off);
        for (size_t k = 0; k < sizeof ints / sizeof ints[0]; k++)
            if (!strcmp(o, ints[k].flag)) ival = (long long *)((char *)a + ints[k].off);
        for (size_t k = 0; k < sizeof secs / sizeof secs[0]; k++)
            if (!strcmp(o, secs[k].flag)) dval = (double *)((char *)a + secs[k].off);
        if (!sval && !ival && !dval) {
            if (o[0] == '-' && o[1]) return usage_error(a->cmd, "unknown option '%s'", o);
            if (!a->file) { a->file = o; continue; }
            return usage_error(a->cmd, "unexpected argument '%s'", o);
        }
        if (i + 1 >= argc) return usage_error(a->cmd, "option '%s' needs a value", o);
        i++;
        if (sval) *sval = argv[i];
        else if (ival && parse_int(argv[i], ival) != 0)
            return usage_error(a->cmd, "option needs a non-negative integer, got '%s'", argv[i]);
        else if (dval && parse_secs(argv[i], dval) != 0)
            return usage_error(a->cmd, "option needs a positive number of seconds, got '%s'", argv[i]);
    }
    if (a->threads == 0) return usage_error(a->cmd, "%s needs at least 1 (leave it out for OpenBLAS's choice)", "--threads");
    int dir_cmd = !strcmp(a->cmd, "summaries") || !strcmp(a->cmd, "plot") || !strcmp(a->cmd, "checkpoints");
    if (!a->file && dir_cmd) return usage_error(a->cmd, "%s: missing the directory", a->cmd);
    if (!a->file) return usage_error(a->cmd, "%s: missing the model file", a->cmd);
    if (!strcmp(a->cmd, "export") && !a->out) return usage_error(a->cmd, "%s: missing --out DIR", a->cmd);
    if (a->format && strcmp(a->format, "csv") && strcmp(a->format, "jsonl"))
        return usage_error(a->cmd, "unknown format '%s' (expected csv or jsonl)", a->format);
    return -1;
}

static int run_failed(const estc_status *st)
{
    fprintf(stderr, "estc: error: %s\n", st->message);
    return EXIT_RUN;
}

static void json_string(FILE *f, const char *s)
{
    fputc('"', f);
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\') fprintf(f, "\\%c", c);
        else if (c < 0x20) fprintf(f, "\\u%04x", c);
        else fputc(c, f);
    }
    fputc('"', f);
}

static int cmd_evaluate(estc_model *m, const args *a)
{
    estc_metrics mt;
    estc_status st;
    if (estc_evaluate(m, &mt, &st) != 0) return run_failed(&st);
    if (a->json) {
        printf("{");
        for (int i = 0; i < mt.n; i++) {
            if (i) printf(", ");
            json_string(stdout, mt.name[i]);
            printf(": %.17g", mt.value[i]);
        }
        printf("}\n");
    } else {
        for (int i = 0; i < mt.n; i++) {
            if (!strcmp(mt.name[i], "global_step")) printf("%-22s %lld\n", mt.name[i], (long long)mt.value[i]);
            else printf("%-22s %.6f\n", mt.name[i], mt.value[i]);
        }
    }
    return 0;
}

static int cmd_predict(estc_model *m, const args *a)
{
    estc_format fmt = a->format && !strcmp(a->format, "jsonl") ? ESTC_FORMAT_JSONL : ESTC_FORMAT_CSV;
    estc_status st;
    if (!a->out) return estc_predict(m, stdout, fmt, &st) == 0 ? 0 : run_failed(&st);
    /* write beside the target and rename: a failed run leaves no half-written file */
    size_t n = strlen(a->out) + 32;
    char *tmp = malloc(n);
    if (!tmp) return EXIT_RUN;
    snprintf(tmp, n, "%s.tmp.%ld", a->out, (long)getpid());
    FILE *f = fopen(tmp, "w");
    if (!f) {
        fprintf(stderr, "estc: error: cannot write %s: %s\n", a->out, strerror(errno));
        free(tmp);
        return EXIT_RUN;
    }
    int rc = estc_predict(m, f, fmt, &st);
    if (fclose(f) != 0 && rc == 0) {
        rc = -1;
        st.code = ESTC_EIO;
        snprintf(st.message, sizeof st.message, "cannot write %s: %s", a->out, strerror(errno));
    }
    if (rc == 0 && rename(tmp, a->out) != 0) {
        rc = -1;
        st.code = ESTC_EIO;
        snprintf(st.message, sizeof st.message, "cannot write %s: %s", a->out, strerror(errno));
    }
    if (rc != 0) unlink(tmp);
    free(tmp);
    return rc == 0 ? 0 : run_failed(&st);
}

static int cmd_export(estc_model *m, const args *a)
{
    estc_export_options o;
    estc_export_options_init(&o);
    o.out_dir = a->out;
    o.name = a->name;
    o.cpu = a->cpu;
    o.log = a->quiet ? NULL : stderr;
    estc_status st;
    return estc_export(m, &o, &st) == 0 ? 0 : run_failed(&st);
}

/* Writes through fn to a temporary file beside path and renames it: a failed
 * run leaves nothing half-written. Returns fn's exit status. */
static int write_atomically(const char *path, int (*fn)(FILE *f, const void *ctx), const void *ctx)
{
    size_t n = strlen(path) + 32;
    char *tmp = malloc(n);
    if (!tmp) return EXIT_RUN;
    snprintf(tmp, n, "%s.tmp.%ld", path, (long)getpid());
    FILE *f = fopen(tmp, "w");
    if (!f) {
        fprintf(stderr, "estc: error: cannot write %s: %s\n", path, strerror(errno));
        free(tmp);
        return EXIT_RUN;
    }
    int rc = fn(f, ctx);
    if (fclose(f) != 0 && rc == 0) {
        fprintf(stderr, "estc: error: cannot write %s: %s\n", path, strerror(errno));
        rc = EXIT_RUN;
    }
    if (rc == 0 && rename(tmp, path) != 0) {
        fprintf(stderr, "estc: error: cannot write %s: %s\n", path, strerror(errno));
        rc = EXIT_RUN;
    }
    if (rc != 0) unlink(tmp);
    free(tmp);
    return rc;
}

typedef struct plot_ctx { const estc_summaries *s; const char *title; } plot_ctx;

static int plot_to(FILE *f, const void *ctx)
{
    const plot_ctx *p = ctx;
    estc_status st;
    return estc_summaries_plot(p->s, p->title, f, &st) == 0 ? 0 : run_failed(&st);
}

/* The shortest text that reads back as the same value. Summaries hold floats
 * (simple_value, DT_FLOAT tensors): one representable as a float prints as
 * that float's shortest form (0.79812503, not 0.798125029); anything else
 * with all the digits a double needs. */
static void format_value(char *buf, size_t n, double v)
{
    if (isfinite(v) && (double)(float)v == v) {
        for (int p = 1; p <= 9; p++) {
            snprintf(buf, n, "%.*g", p, v);
            if ((float)strtod(buf, NULL) == (float)v) return;
        }
    }
    snprintf(buf, n, "%.17g", v);
}

static int cmd_summaries(const args *a)
{
    estc_status st;
    estc_summaries *s = estc_summaries_read(a->file, !a->no_purge, &st);
    if (!s) return run_failed(&st);
    int n = estc_summaries_count(s), rc = 0;
    if (!strcmp(a->cmd, "plot")) {
        plot_ctx p = { s, a->file };
        rc = a->out ? write_atomically(a->out, plot_to, &p) : plot_to(stdout, &p);
        estc_summaries_free(s);
        return rc;
    }
    int wr = 3, wt = 3;
    for (int i = 0; i < n; i++) {
        const estc_scalar *v = estc_summaries_get(s, i);
        if ((int)strlen(v->run) > wr) wr = (int)strlen(v->run);
        if ((int)strlen(v->tag) > wt) wt = (int)strlen(v->tag);
    }
    if (a->csv) printf("run,tag,step,wall_time,value\n");
    else printf("%-*s  %-*s  %10s  %s\n", wr, "run", wt, "tag", "step", "value");
    for (int i = 0; i < n; i++) {
        const estc_scalar *v = estc_summaries_get(s, i);
        if (a->csv) {
            printf("%s,", v->run);
            /* a tag with a comma or quote is quoted, CSV style */
            if (strpbrk(v->tag, ",\"\n")) {
                putchar('"');
                for (const char *c = v->tag; *c; c++) { if (*c == '"') putchar('"'); putchar(*c); }
                putchar('"');
            } else fputs(v->tag, stdout);
            char val[64];
            format_value(val, sizeof val, v->value);
            printf(",%lld,%.6f,%s\n", (long long)v->step, v->wall_time, val);
        } else {
            char val[64];
            format_value(val, sizeof val, v->value);
            printf("%-*s  %-*s  %10lld  %s\n", wr, v->run, wt, v->tag, (long long)v->step, val);
        }
    }
    estc_summaries_free(s);
    if (fflush(stdout) != 0) rc = EXIT_RUN;
    return rc;
}

static int cmd_checkpoints(const args *a)
{
    estc_status st;
    estc_checkpoint *c;
    int n;
    if (estc_list_checkpoints(a->file, &c, &n, &st) != 0) return run_failed(&st);
    if (n == 0) {
        printf("no checkpoints in %s\n", a->file);
        free(c);
        return 0;
    }
    int bad = 0;
    printf("%10s  %10s  %-28s  %s\n", "step", "bytes", "file", "status");
    for (int i = 0; i < n; i++) {
        char step[32] = "?", bytes[32] = "-";
        if (c[i].global_step >= 0) snprintf(step, sizeof step, "%lld", (long long)c[i].global_step);
        if (c[i].bytes >= 0) snprintf(bytes, sizeof bytes, "%lld", (long long)c[i].bytes);
        printf("%10s  %10s  %-28s  %s%s%s%s\n", step, bytes, c[i].file, c[i].ok ? "ok" : "DAMAGED: ",
               c[i].ok ? "" : c[i].problem, c[i].latest ? " (latest)" : "",
               !c[i].listed && c[i].ok ? " (not in the index)" : "");
        if (!c[i].ok) bad++;
    }
    free(c);
    if (bad) fprintf(stderr, "estc: %d damaged or missing checkpoint%s in %s\n", bad, bad == 1 ? "" : "s", a->file);
    return bad ? EXIT_RUN : 0;
}

/* `estc compile`: one summary line, or with --timings one line per phase.
 * Code generation phases are summed over the programs, which compile on
 * parallel threads, so they can add up to more than the wall-clock total. */
static int cmd_compile(estc_model *m, const args *a)
{
    estc_compile_timings t;
    estc_status st;
    if (estc_compile(m, &t, &st) != 0) return run_failed(&st);
    /* the optimised tier is waited for, so the cache holds it afterwards */
    if (t.fast) estc_compile_wait(m, &t);
    printf("%s: %d programs ready (%d compiled, %d from the cache) in %.1f ms", a->file, t.programs,
           t.compiled, t.cached, t.total_ms);
    if (t.fast) printf(", %d of them fast-tier code", t.fast);
    if (t.optimized) printf("; %d optimised in %.1f ms", t.optimized, t.open_ms + t.optimized_ms);
    printf("\n");
    if (!a->timings) return 0;
    const struct { const char *what; double ms; } rows[] = {
        { "parse+sema", t.parse_ms }, { "lowering/elaboration", t.lower_ms }, { "graph passes", t.passes_ms },
        { "JIT session setup", t.setup_ms }, { "IR emission", t.emit_ms },
        { "cache lookup/load/store", t.cache_ms }, { "LLVM optimisation", t.optimize_ms },
        { "machine code", t.codegen_ms }, { "JIT link", t.link_ms },
    };
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) printf("  %-24s %9.2f ms\n", rows[i].what, rows[i].ms);
    printf("  %-24s %9.2f ms\n", "open (wall)", t.open_ms);
    printf("  %-24s %9.2f ms  (%d thread%s)\n", "compile (wall)", t.compile_ms, t.threads, t.threads == 1 ? "" : "s");
    printf("  %-24s %9.2f ms\n", "total", t.total_ms);
    if (t.optimized) printf("  %-24s %9.2f ms\n", "total, optimised tier", t.open_ms + t.optimized_ms);
    return 0;
}

static volatile sig_atomic_t stop_signal;

static void on_stop_signal(int sig) { stop_signal = sig; }

static void catch_stop_signals(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_stop_signal;
    sa.sa_flags = SA_RESETHAND;   /* a second signal acts as if estc did not catch it */
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
}

int main(int argc, char **argv)
{
    args a;
    int rc = parse_args(argc, argv, &a);
    if (rc >= 0) return rc;
    if (!strcmp(a.cmd, "summaries") || !strcmp(a.cmd, "plot")) return cmd_summaries(&a);
    if (!strcmp(a.cmd, "checkpoints")) return cmd_checkpoints(&a);
    /* the code generator reads this when it opens its cache (codegen/jit.c) */
    if (a.no_cache) setenv("ESTC_NO_CACHE", "1", 1);

    estc_open_options opt;
    estc_open_options_init(&opt);
    opt.model_dir = a.model_dir;
    opt.data = a.data;
    opt.seed = a.seed;
    opt.steps = a.steps;
    opt.epochs = a.epochs;
    opt.max_steps = a.max_steps;
    opt.save_checkpoints_steps = a.ckpt_steps;
    opt.save_checkpoints_secs = a.ckpt_secs;
    opt.keep_checkpoint_max = a.keep;
    opt.log_step_count_steps = a.log_steps;
    opt.save_summary_steps = a.summary_steps;
    opt.eval_every_steps = a.eval_steps;
    opt.eval_every_secs = a.eval_secs;
    opt.eval_data = a.eval_data;
    opt.warm_start_from = a.warm_from;
    opt.warm_start_vars = a.warm_vars;
    opt.early_stopping = a.early;
    opt.early_stopping_patience = a.patience;
    opt.threads = a.threads > INT_MAX ? INT_MAX : a.threads > 0 ? (int)a.threads : 0;
    if (a.no_nan_guard) opt.nan_guard = 0;
    if (a.histograms) opt.histograms = 1;
    opt.progress = a.progress;
    opt.stop = &stop_signal;
    estc_status st;
    estc_model *m = estc_model_open(a.file, &opt, &st);
    if (!m) {
        if (st.code == ESTC_EMODEL) {
            fprintf(stderr, "estc: %s\n", st.message);
            return EXIT_USAGE;
        }
        fprintf(stderr, "estc: error: %s\n", st.message);
        return EXIT_RUN;
    }
    if (!strcmp(a.cmd, "check")) {
        printf("%s: ok\n", a.file);
    } else if (!strcmp(a.cmd, "compile")) {
        rc = cmd_compile(m, &a);
    } else if (!strcmp(a.cmd, "train")) {
        estc_train_result res;
        catch_stop_signals();
        if (estc_train(m, a.quiet ? NULL : stderr, &res, &st) != 0) rc = run_failed(&st);
        else if (res.stop_reason == ESTC_STOP_SIGNAL) rc = 128 + stop_signal;
    } else if (!strcmp(a.cmd, "evaluate")) {
        rc = cmd_evaluate(m, &a);
    } else if (!strcmp(a.cmd, "predict")) {
        rc = cmd_predict(m, &a);
    } else if (!strcmp(a.cmd, "export")) {
        rc = cmd_export(m, &a);
    } else if (!strcmp(a.cmd, "graph")) {
        if (estc_dump_graph(m, a.program, a.llvm, stdout, &st) != 0) rc = run_failed(&st);
    }
    estc_model_free(m);
    return rc < 0 ? 0 : rc;
}

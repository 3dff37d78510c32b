/*
 * main.c — the `estc` command: argument parsing and output formatting over the
 * public API (include/estc/estc.h). Nothing here knows how models are compiled.
 *
 * Exit status: 0 success; 1 a run failed (bad data, I/O, incompatible
 * model_dir); 2 the model file is invalid or the command line is wrong.
 */
#define _GNU_SOURCE
#include "estc/estc.h"

#include <errno.h>
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
    "  check      parse and check a model file, report every error\n"
    "  train      train the model, resuming from the latest checkpoint in model_dir\n"
    "  evaluate   compute the model's metrics on its evaluation data\n"
    "  predict    write one prediction per input row\n"
    "  graph      print a compiled program as graph text (or LLVM IR)\n"
    "\n"
    "options common to the commands that run a model:\n"
    "  --model-dir DIR   where checkpoints live (default: the run block's model_dir)\n"
    "  --data PATH       data file instead of the source's own path\n"
    "  --seed N          random seed (default: the run block's seed)\n"
    "\n"
    "`estc COMMAND --help` describes one command; `estc --version` prints the version.\n";

static const struct { const char *cmd, *help; } cmd_help[] = {
    { "check", "usage: estc check FILE.est\n\n"
               "Parses and checks FILE.est and prints every problem as file:line:col with the\n"
               "source line. Exit status 0 if the model is valid, 2 if not.\n" },
    { "train", "usage: estc train FILE.est [--model-dir DIR] [--data PATH] [--steps N] [--epochs N] [--seed N]\n\n"
               "Trains the model on its training source (or PATH), starting from the latest\n"
               "checkpoint in model_dir if there is one, and saves a checkpoint at the end.\n"
               "  --steps N    train N more steps (default: the run block's epochs)\n"
               "  --epochs N   passes over the data (default: the run block's)\n"
               "  --quiet      no progress lines\n" },
    { "evaluate", "usage: estc evaluate FILE.est [--model-dir DIR] [--data PATH] [--json]\n\n"
                  "Evaluates the trained model on its evaluation source (or PATH) and prints\n"
                  "the metrics of its head (TensorFlow's names).\n"
                  "  --json   print one JSON object of metric name -> value on stdout\n" },
    { "predict", "usage: estc predict FILE.est [--model-dir DIR] [--data PATH] [--out PATH] [--format csv|jsonl]\n\n"
                 "Writes one prediction per row of the evaluation source (or PATH): class_ids,\n"
                 "class, probabilities and logits for classifiers; predictions for regressors.\n"
                 "  --out PATH   write to PATH (atomically) instead of stdout\n"
                 "  --format F   csv (default) or jsonl\n" },
    { "graph", "usage: estc graph FILE.est [--program train|eval|predict] [--llvm]\n\n"
               "Prints a program of the model in estc's graph text form, after dead-code\n"
               "elimination, or with --llvm the optimised LLVM IR of its kernels.\n" },
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
    long long seed, steps, epochs;
    int json, llvm, quiet;
} args;

static int usage_error(const char *cmd, const char *fmt, const char *arg)
{
    fprintf(stderr, "estc: ");
    fprintf(stderr, fmt, arg);
    fprintf(stderr, "\n%s", cmd && help_for(cmd) ? help_for(cmd) : usage_main);
    return EXIT_USAGE;
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
    a->seed = -1;
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
    for (int i = 2; i < argc; i++) {
        const char *o = argv[i];
        const char **sval = NULL;
        long long *ival = NULL;
        if (!strcmp(o, "--help") || !strcmp(o, "-h")) { fputs(help_for(a->cmd), stdout); return 0; }
        else if (!strcmp(o, "--json")) { a->json = 1; continue; }
        else if (!strcmp(o, "--llvm")) { a->llvm = 1; continue; }
        else if (!strcmp(o, "--quiet") || !strcmp(o, "-q")) { a->quiet = 1; continue; }
        else if (!strcmp(o, "--model-dir")) sval = &a->model_dir;
        else if (!strcmp(o, "--data")) sval = &a->data;
        else if (!strcmp(o, "--out") || !strcmp(o, "-o")) sval = &a->out;
        else if (!strcmp(o, "--format")) sval = &a->format;
        else if (!strcmp(o, "--program")) sval = &a->program;
        else if (!strcmp(o, "--seed")) ival = &a->seed;
        else if (!strcmp(o, "--steps")) ival = &a->steps;
        else if (!strcmp(o, "--epochs")) ival = &a->epochs;
        else if (o[0] == '-' && o[1]) return usage_error(a->cmd, "unknown option '%s'", o);
        else if (!a->file) { a->file = o; continue; }
        else return usage_error(a->cmd, "unexpected argument '%s'", o);
        if (i + 1 >= argc) return usage_error(a->cmd, "option '%s' needs a value", o);
        i++;
        if (sval) *sval = argv[i];
        else if (parse_int(argv[i], ival) != 0)
            return usage_error(a->cmd, "option needs a non-negative integer, got '%s'", argv[i]);
    }
    if (!a->file) return usage_error(a->cmd, "%s: missing the model file", a->cmd);
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

int main(int argc, char **argv)
{
    args a;
    int rc = parse_args(argc, argv, &a);
    if (rc >= 0) return rc;

    estc_open_options opt;
    estc_open_options_init(&opt);
    opt.model_dir = a.model_dir;
    opt.data = a.data;
    opt.seed = a.seed;
    opt.steps = a.steps;
    opt.epochs = a.epochs;
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
    } else if (!strcmp(a.cmd, "train")) {
        estc_train_result res;
        if (estc_train(m, a.quiet ? NULL : stderr, &res, &st) != 0) rc = run_failed(&st);
    } else if (!strcmp(a.cmd, "evaluate")) {
        rc = cmd_evaluate(m, &a);
    } else if (!strcmp(a.cmd, "predict")) {
        rc = cmd_predict(m, &a);
    } else if (!strcmp(a.cmd, "graph")) {
        if (estc_dump_graph(m, a.program, a.llvm, stdout, &st) != 0) rc = run_failed(&st);
    }
    estc_model_free(m);
    return rc < 0 ? 0 : rc;
}

/*
 * estc-opt — runs graph passes on a graph written in the text form
 * (graph/text.c) and prints the result: the tool behind the golden pass
 * tests in tests/graph/, and a way to watch a pass at work by hand.
 *
 *   estc-opt [--passes fold,cse,...] FILE.gr     (FILE "-" reads stdin)
 *   estc-opt --scratch B [--passes ...] FILE.gr   the scratch bytes of the
 *       result at batch size B, with a buffer per node (gr_bind) and with
 *       buffers shared by liveness (gr_bind_shared), instead of the graph
 *
 * Without --passes it runs the whole pipeline (gr_optimize); with it, exactly
 * the listed passes in order, each followed by the verifier. ESTC_DUMP and
 * ESTC_DISABLE apply as in the compiler. The graph goes to stdout; errors go
 * to stderr with exit status 1.
 */
#include "graph/graph.h"

#include <stdlib.h>

static const char usage[] =
    "usage: estc-opt [--passes NAME,NAME,...] [--scratch B] FILE.gr\n"
    "\n"
    "Reads a graph in estc's text form, runs passes on it and prints the result.\n"
    "Without --passes it runs the full pipeline (verify, fold, simplify, cse,\n"
    "narrow, onehot, dce, fuse, epilogue). Passes: verify, fold, simplify, cse,\n"
    "narrow, onehot, dce, fuse, epilogue.\n"
    "FILE \"-\" reads standard input. --scratch B prints, instead of the graph, the\n"
    "scratch bytes of the result at batch size B with a buffer per node and with\n"
    "buffers shared by liveness.\n"
    "Environment: ESTC_DISABLE=NAME,... skips passes; ESTC_DUMP=NAME,...|all prints\n"
    "the graph to stderr after them.\n";

/* the whole of stdin, NUL-terminated */
static char *read_stdin(void)
{
    size_t n = 0, cap = 4096;
    char *b = es_xmalloc(cap);
    for (size_t got; (got = fread(b + n, 1, cap - n - 1, stdin)) > 0; ) {
        n += got;
        if (cap - n - 1 == 0) b = es_xrealloc(b, cap *= 2);
    }
    b[n] = 0;
    return b;
}

int main(int argc, char **argv)
{
    const char *passes = NULL, *path = NULL;
    long long scratch = -1;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            fputs(usage, stdout);
            return 0;
        } else if (strcmp(argv[i], "--passes") == 0) {
            if (i + 1 == argc) { fprintf(stderr, "estc-opt: --passes needs a value\n%s", usage); return 1; }
            passes = argv[++i];
        } else if (strncmp(argv[i], "--passes=", 9) == 0) {
            passes = argv[i] + 9;
        } else if (strcmp(argv[i], "--scratch") == 0) {
            char *end = NULL;
            scratch = i + 1 < argc ? strtoll(argv[++i], &end, 10) : -1;
            if (!end || *end || scratch < 0) { fprintf(stderr, "estc-opt: --scratch needs a batch size\n%s", usage); return 1; }
        } else if (argv[i][0] == '-' && argv[i][1]) {
            fprintf(stderr, "estc-opt: unknown option '%s'\n%s", argv[i], usage);
            return 1;
        } else if (path) {
            fprintf(stderr, "estc-opt: one input file only ('%s' and '%s')\n", path, argv[i]);
            return 1;
        } else {
            path = argv[i];
        }
    }
    if (!path) { fprintf(stderr, "estc-opt: missing the input file\n%s", usage); return 1; }

    es_status st = {0};
    char *text = strcmp(path, "-") == 0 ? read_stdin() : es_read_file(path, NULL, &st);
    if (!text) { fprintf(stderr, "estc-opt: %s\n", st.msg); return 1; }
    es_arena *a = es_arena_new();
    int rc = 1;
    gr_graph *g = gr_parse(a, text, &st);
    if (!g) fprintf(stderr, "estc-opt: %s: %s\n", path, st.msg);
    else if (!(g = passes ? gr_run_passes(g, passes, &st) : gr_optimize(g, &st)))
        fprintf(stderr, "estc-opt: %s: %s\n", path, st.msg);
    else if (scratch >= 0) {
        gr_bind(g);
        size_t own = gr_scratch_bytes(g, scratch);
        int nown = g->nbufs;
        gr_bind_shared(g);
        printf("scratch at B=%lld: %zu bytes in %d buffers; shared by liveness: %zu bytes in %d buffers\n",
               scratch, own, nown, gr_scratch_bytes(g, scratch), g->nbufs);
        rc = fflush(stdout) == 0 ? 0 : 1;
    } else {
        gr_print(g, stdout);
        rc = fflush(stdout) == 0 ? 0 : 1;
    }
    es_arena_free(a);
    free(text);
    return rc;
}

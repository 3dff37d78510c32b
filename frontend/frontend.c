/*
 * frontend.c — the frontend's entry points: read, parse, check, lower.
 *
 * The stdlib's pre-made estimators (embedded .est files) are parsed with
 * every compilation: they are models like the user's own, so a compilation
 * sees the user's file and the stdlib together.
 *
 * Each stage runs only if the one before it reported no error: a file with
 * syntax errors is not checked (its recovered tree has holes that would
 * produce misleading follow-on messages), and a model sema refused is not
 * lowered. Warnings do not stop anything.
 *
 * Ownership: everything a compilation makes lives in one arena, owned by
 * the returned fe_model (or freed here on failure).
 */
#include "frontend.h"
#include "ast.h"
#include "sema.h"
#include "lower.h"
#include "model.h"

#include <stdlib.h>
#include <string.h>

/* Parses the embedded stdlib (the .est files of stdlib/), named <stdlib>/FILE in messages.
 * A syntax error there is estc's own bug, reported like any other. */
static int parse_stdlib(es_arena *a, es_diags *d, const fe_file ***out)
{
    const fe_file **files = es_alloc(a, sizeof(fe_file *) * (size_t)(fe_stdlib_nfiles + 1));
    int errors = 0;
    for (int i = 0; i < fe_stdlib_nfiles; i++) {
        es_source *src = es_alloc(a, sizeof *src);
        src->path = es_sprintf(a, "<stdlib>/%s", fe_stdlib_files[i].name);
        src->dir = "<stdlib>";
        src->text = fe_stdlib_files[i].text;
        src->len = strlen(src->text);
        int e = 0;
        files[i] = fe_parse(a, src, d, &e);
        errors += e;
    }
    *out = files;
    return errors;
}

/* Parses and checks text into c; returns the number of errors. *srcp gets
 * the source (owned by a). */
static int front(es_arena *a, const char *path, const char *text, size_t len, es_diags *d,
                 fe_checked *c, es_source **srcp)
{
    es_source *src = es_alloc(a, sizeof *src);
    src->path = es_strdup(a, path);
    src->dir = es_dirname(a, path);
    src->text = es_strndup(a, text, len);
    src->len = len;
    *srcp = src;
    int errors = 0;
    fe_file *f = fe_parse(a, src, d, &errors);
    if (errors) return errors;
    const fe_file **stdlib;
    if ((errors = parse_stdlib(a, d, &stdlib)) != 0) return errors;
    return fe_sema(a, f, stdlib, fe_stdlib_nfiles, d, c);
}

static fe_model *compile(const char *path, const char *text, size_t len, es_diags *d)
{
    es_arena *a = es_arena_new();
    fe_model *m = es_alloc(a, sizeof *m);
    m->arena = a;
    fe_checked *c = es_alloc(a, sizeof *c);
    double t0 = es_now();
    if (front(a, path, text, len, d, c, &m->src) != 0) {
        es_arena_free(a);
        return NULL;
    }
    double t1 = es_now();
    if (fe_lower(c, m, d) != 0) {
        es_arena_free(a);
        return NULL;
    }
    m->parse_seconds = t1 - t0;
    m->lower_seconds = es_now() - t1;
    return m;
}

/* The file's contents, or NULL after a diagnostic. Caller frees. */
static char *read_model(const char *path, size_t *len, es_diags *d)
{
    es_status st;
    es_status_clear(&st);
    char *text = es_read_file(path, len, &st);
    if (!text) es_diag(d, ES_DIAG_ERROR, (es_span){ 0 }, "%s", st.msg);
    return text;
}

fe_model *fe_compile_file(const char *path, es_diags *d)
{
    size_t len;
    char *text = read_model(path, &len, d);
    if (!text) return NULL;
    fe_model *m = compile(path, text, len, d);
    free(text);
    return m;
}

fe_model *fe_compile_text(const char *path, const char *text, es_diags *d)
{
    return compile(path, text, strlen(text), d);
}

void fe_model_free(fe_model *m)
{
    if (m) es_arena_free(m->arena);
}

/* A dropout node's seed is fe_dropout_seed(run seed, layer), the gradient's a copy of
 * its forward node's: so the layer of each seed is found among the seeds the old
 * run seed gives to layers 1, 2, ... */
void fe_model_reseed(fe_model *m, uint64_t seed)
{
    uint64_t old = m->spec.run.seed;
    m->spec.run.seed = seed;
    for (int k = 0; k < 3; k++) {
        gr_graph *g = m->prog[k];
        if (!g) continue;
        for (int i = 0; i < g->n; i++) {
            if (g->nodes[i].op != GR_DROPOUT) continue;
            for (int layer = 1; layer <= 100000; layer++)
                if (fe_dropout_seed(old, layer) == g->nodes[i].a[0]) {
                    g->nodes[i].a[0] = fe_dropout_seed(seed, layer);
                    break;
                }
        }
    }
}

int fe_check_file(const char *path, es_diags *d)
{
    int before = d->nerrors;
    size_t len;
    char *text = read_model(path, &len, d);
    if (!text) return d->nerrors - before;
    es_arena *a = es_arena_new();
    fe_checked *c = es_alloc(a, sizeof *c);
    es_source *src;
    front(a, path, text, len, d, c, &src);
    es_arena_free(a);
    free(text);
    return d->nerrors - before;
}

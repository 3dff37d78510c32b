/*
 * frontend.c — the frontend's entry points: read, parse, check, lower.
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

#include <stdlib.h>
#include <string.h>

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
    return fe_sema(a, f, d, c);
}

static fe_model *compile(const char *path, const char *text, size_t len, es_diags *d)
{
    es_arena *a = es_arena_new();
    fe_model *m = es_alloc(a, sizeof *m);
    m->arena = a;
    fe_checked *c = es_alloc(a, sizeof *c);
    if (front(a, path, text, len, d, c, &m->src) != 0 || fe_lower(c, m, d) != 0) {
        es_arena_free(a);
        return NULL;
    }
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

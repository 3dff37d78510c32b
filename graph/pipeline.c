/*
 * pipeline.c — the order the passes run in (gr_optimize), running passes by
 * name (gr_run_passes), and the two environment variables that help debug
 * them. This is the only file of the graph layer that reads the environment:
 *
 *   ESTC_DISABLE=cse,fold   these passes are skipped wherever they are listed
 *   ESTC_DUMP=fold,dce      "# after <pass>" and the graph (gr_print) go to
 *                           stderr after each of these passes; "all" = every one
 *
 * A name that is not a pass is an error rather than silently ignored: a typo
 * in ESTC_DISABLE would otherwise leave the pass one is hunting running.
 *
 * The verifier runs on the input and again after every pass, so a pass that
 * breaks an invariant is named at once instead of surfacing as a wrong
 * number in a kernel. It costs one walk over the graph per pass.
 */
#include "graph_impl.h"

#include <assert.h>
#include <stdlib.h>

typedef struct pass {
    const char *name;
    gr_graph *(*run)(gr_graph *g);   /* NULL: the verifier alone */
} pass;

static const pass passes[] = {
    { "verify", NULL },
    { "fold", gr_fold },
    { "simplify", gr_simplify },
    { "cse", gr_cse },
    { "narrow", gr_narrow },
    { "onehot", gr_onehot },
    { "dce", gr_dce },
    { "fuse", gr_fuse },
    { "epilogue", gr_epilogue },
    { "freeze", NULL },          /* export only: gr_optimize_frozen */
};
enum { NPASSES = (int)ES_ARRAY_LEN(passes), VERIFY = 0 /* passes[VERIFY] */ };

typedef struct pipeline {
    char disabled[NPASSES];
    char dump[NPASSES];
    es_status *st;
    const gr_graph *input;   /* the caller's graph: the passes' own copies are dropped */
} pipeline;

static int find(const char *name, size_t len)
{
    for (int i = 0; i < NPASSES; i++)
        if (strlen(passes[i].name) == len && strncmp(passes[i].name, name, len) == 0) return i;
    return -1;
}

static int unknown(es_status *st, const char *where, const char *name, size_t len)
{
    return es_fail(st, ES_EINVAL, "%s: unknown pass '%.*s' (passes: verify, fold, simplify, cse, narrow, onehot, dce, fuse, epilogue, freeze)",
                   where, (int)len, name);
}

/* Calls each(name, len) for every comma-separated name of list (blanks trimmed,
 * empty names skipped); stops at the first failure. */
static int each_name(const char *list, int (*each)(void *, const char *, size_t), void *ctx)
{
    for (const char *p = list; p && *p; ) {
        while (*p == ' ' || *p == ',') p++;
        const char *e = p;
        while (*e && *e != ',') e++;
        size_t len = (size_t)(e - p);
        while (len && p[len - 1] == ' ') len--;
        if (len && each(ctx, p, len)) return -1;
        p = e;
    }
    return 0;
}

typedef struct flag_ctx { char *flags; const char *var; es_status *st; int all; } flag_ctx;

static int set_flag(void *vc, const char *name, size_t len)
{
    flag_ctx *c = vc;
    if (c->all && len == 3 && strncmp(name, "all", 3) == 0) {
        memset(c->flags, 1, NPASSES);
        return 0;
    }
    int k = find(name, len);
    if (k < 0) return unknown(c->st, c->var, name, len);
    c->flags[k] = 1;
    return 0;
}

static int pipe_init(pipeline *p, es_status *st, const gr_graph *input)
{
    memset(p, 0, sizeof *p);
    p->st = st;
    p->input = input;
    flag_ctx dis = { p->disabled, "ESTC_DISABLE", st, 0 };
    flag_ctx dump = { p->dump, "ESTC_DUMP", st, 1 };
    if (each_name(getenv("ESTC_DISABLE"), set_flag, &dis)) return -1;
    return each_name(getenv("ESTC_DUMP"), set_flag, &dump);
}

/* runs pass k on g (unless disabled), verifies, dumps; NULL stays NULL */
static gr_graph *run(pipeline *p, gr_graph *g, int k)
{
    if (!g || p->disabled[k]) return g;
    const pass *ps = &passes[k];
    if (ps->run) {
        gr_graph *ng = ps->run(g);
        if (ng != g && g != p->input) gr_drop(g);   /* its memory goes to the next copy */
        g = ng;
    }
    if (!p->disabled[VERIFY]) {
        es_status vs = {0};
        if (gr_verify(g, &vs) != 0) {
            if (ps->run) es_fail(p->st, ES_EINTERNAL, "after pass %s: %s", ps->name, vs.msg);
            else es_fail(p->st, ES_EINVAL, "the graph is invalid: %s", vs.msg);
            return NULL;
        }
    }
    if (p->dump[k]) {
        fprintf(stderr, "# after %s\n", ps->name);
        gr_print(g, stderr);
    }
    return g;
}

static gr_graph *step(pipeline *p, gr_graph *g, const char *name)
{
    int k = find(name, strlen(name));
    assert(k >= 0 && "a pass of the pipeline missing from passes[]");
    return run(p, g, k);
}

gr_graph *gr_optimize(gr_graph *g, es_status *st)
{
    pipeline p;
    if (pipe_init(&p, st, g)) return NULL;
    g = step(&p, g, "verify");     /* the input is blamed on its builder, not on a pass */
    g = step(&p, g, "fold");
    g = step(&p, g, "simplify");
    g = step(&p, g, "cse");
    g = step(&p, g, "narrow");
    g = step(&p, g, "onehot");
    g = step(&p, g, "dce");        /* the others leave dead nodes behind */
    g = step(&p, g, "fuse");       /* these two change what the kernels are, not what they compute */
    g = step(&p, g, "epilogue");
    return g;                      /* verified after every pass above */
}

typedef struct list_ctx { pipeline *p; gr_graph *g; const char *list; } list_ctx;

static int check_name(void *vc, const char *name, size_t len)
{
    list_ctx *c = vc;
    int k = find(name, len);
    if (k >= 0 && !passes[k].run && k != VERIFY)
        return es_fail(c->p->st, ES_EINVAL, "pass list \"%s\": pass '%.*s' runs only at export, on the trained values",
                       c->list, (int)len, name);
    if (k >= 0) return 0;
    char where[256];
    snprintf(where, sizeof where, "pass list \"%s\"", c->list);
    return unknown(c->p->st, where, name, len);
}

static int run_name(void *vc, const char *name, size_t len)
{
    list_ctx *c = vc;
    c->g = run(c->p, c->g, find(name, len));
    return c->g ? 0 : -1;
}

gr_graph *gr_run_passes(gr_graph *g, const char *list, es_status *st)
{
    pipeline p;
    if (pipe_init(&p, st, g)) return NULL;
    list_ctx c = { &p, g, list ? list : "" };
    if (each_name(list, check_name, &c)) return NULL;   /* all names first: no half-run */
    c.g = step(&p, c.g, "verify");
    each_name(list, run_name, &c);
    return c.g;
}

gr_graph *gr_optimize_frozen(const gr_graph *g, const float *const *values, es_arena *a, const float ***out_values,
                             es_status *st)
{
    pipeline p;
    if (pipe_init(&p, st, g)) return NULL;
    int k = find("freeze", 6);
    if (p.disabled[k]) return NULL;
    gr_graph *ng = gr_freeze(g, values, a, out_values);
    return ng ? run(&p, ng, k) : NULL;
}

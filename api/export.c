/*
 * export.c — estc_export: a trained model as a standalone predictor
 * (include/estc/export.h; docs/export.md).
 *
 * Steps: restore the variables (estc_model_view_get), hand the optimised,
 * bound predict program and its variables' values to codegen/aot.c, which
 * freezes them into the object, then write the files: NAME.h, NAME.o,
 * libNAME.a (an ar archive written here, with its symbol index, so no `ar`
 * is needed), README.txt, and libNAME.so linked by the C compiler. Every file goes
 * through a temporary name and a rename, so an export that fails half-way
 * leaves complete files of the previous export, never torn ones.
 *
 * The C compiler is run with fork/execvp (no shell) and its output captured
 * into the status message when it fails. `-Wl,-z,defs` makes the link fail
 * if the object needed anything beyond libc and libm; -nostartfiles leaves
 * out the C runtime's start files, whose weak references (__cxa_finalize,
 * __gmon_start__, ...) a library without constructors does not need, so the
 * .so's dynamic symbols are the predictor's own and libc's and libm's.
 */
#define _GNU_SOURCE
#include "estc/export.h"
#include "internal.h"

#include "codegen/aot.h"
#include "codegen/prep.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>


void estc_export_options_init(estc_export_options *o) { memset(o, 0, sizeof *o); }

/* Per node of g: a PARAM's trained values (NULL for other nodes); *hash
 * chains XXH64 over them in program order. -1 with st set if a variable is
 * missing (the store holds every program's variables, so it never is). */
static int param_values(const gr_graph *g, rt_vars *vars, const float **values, uint64_t *hash, es_status *st)
{
    *hash = 0;
    for (int i = 0; i < g->n; i++) {
        const gr_node *n = &g->nodes[i];
        values[i] = NULL;
        if (n->op != GR_PARAM) continue;
        rt_var *v = rt_vars_find(vars, n->name);
        if (!v || v->numel != gr_numel(n->shape, 1))
            return es_fail(st, ES_EINTERNAL, "export: variable %s has no stored value of its shape", n->name);
        values[i] = v->data;
        *hash = es_hash64(v->data, (size_t)v->numel * sizeof(float), *hash);
    }
    return 0;
}

/* "linear" for ".../linear.est", as a C identifier */
static char *default_name(const char *path)
{
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    size_t n = strlen(base);
    if (n > 4 && !strcmp(base + n - 4, ".est")) n -= 4;
    char *s = es_xmalloc(n + 1);
    memcpy(s, base, n);
    s[n] = 0;
    char *id = cg_prep_c_ident(s[0] ? s : "model");
    free(s);
    return id;
}

/* ---- ar archive ----------------------------------------------------------------------- *
 * GNU format: "!<arch>\n", then members of a 60-byte header and data padded
 * to an even size. The first member "/" is the symbol index (count and member
 * offsets as 32-bit big-endian numbers, then the NUL-terminated names), which
 * the linker needs; "//" holds a member name longer than 15 characters.
 * Timestamps, owners and mode are fixed, so an archive depends only on its
 * object. */

typedef struct bytes { char *p; size_t n, cap; } bytes;

static void put(bytes *b, const void *d, size_t n)
{
    if (b->n + n > b->cap) {
        b->cap = (b->n + n) * 2 + 256;
        b->p = es_xrealloc(b->p, b->cap);
    }
    memcpy(b->p + b->n, d, n);
    b->n += n;
}

static void member_header(bytes *b, const char *name, size_t size)
{
    /* name 0-15, mtime 16-27, uid 28-33, gid 34-39, mode 40-47, size 48-57, "`\n" */
    char h[60], num[32];
    memset(h, ' ', sizeof h);
    size_t n = strlen(name);
    memcpy(h, name, n < 16 ? n : 16);
    h[16] = h[28] = h[34] = '0';
    memcpy(h + 40, "644", 3);
    int k = snprintf(num, sizeof num, "%zu", size);
    memcpy(h + 48, num, (size_t)k);
    h[58] = '`';
    h[59] = '\n';
    put(b, h, 60);
}

static void be32(bytes *b, uint32_t v)
{
    unsigned char c[4] = { (unsigned char)(v >> 24), (unsigned char)(v >> 16), (unsigned char)(v >> 8), (unsigned char)v };
    put(b, c, 4);
}

static char *archive(const char *member, const void *obj, size_t objn, char *const *syms, int nsyms, size_t *len)
{
    bytes b = {0};
    put(&b, "!<arch>\n", 8);
    size_t symsz = 4 + 4 * (size_t)nsyms;
    for (int i = 0; i < nsyms; i++) symsz += strlen(syms[i]) + 1;
    size_t mlen = strlen(member);
    int longname = mlen + 1 > 15;
    size_t longsz = longname ? mlen + 2 : 0;     /* "NAME.o/\n" */
    size_t obj_at = 8 + 60 + symsz + (symsz & 1) + (longname ? 60 + longsz + (longsz & 1) : 0);
    member_header(&b, "/", symsz);
    be32(&b, (uint32_t)nsyms);
    for (int i = 0; i < nsyms; i++) be32(&b, (uint32_t)obj_at);
    for (int i = 0; i < nsyms; i++) put(&b, syms[i], strlen(syms[i]) + 1);
    if (symsz & 1) put(&b, "\n", 1);
    char hname[32];
    if (longname) {
        member_header(&b, "//", longsz);
        put(&b, member, mlen);
        put(&b, "/\n", 2);
        if (longsz & 1) put(&b, "\n", 1);
        snprintf(hname, sizeof hname, "/0");
    } else {
        snprintf(hname, sizeof hname, "%s/", member);
    }
    member_header(&b, hname, objn);
    put(&b, obj, objn);
    if (objn & 1) put(&b, "\n", 1);
    *len = b.n;
    return b.p;
}

/* ---- the C compiler ------------------------------------------------------------------------ */

/* Runs argv (no shell); its stdout and stderr end up in *output (malloc'd).
 * Returns the exit status, or -1 if it could not be run (errno-style text in output). */
static int run_tool(char *const *argv, char **output)
{
    int pfd[2];
    *output = NULL;
    if (pipe(pfd) != 0) { *output = es_xstrdup(strerror(errno)); return -1; }
    pid_t pid = fork();
    if (pid < 0) {
        *output = es_xstrdup(strerror(errno));
        close(pfd[0]);
        close(pfd[1]);
        return -1;
    }
    if (pid == 0) {
        dup2(pfd[1], 1);
        dup2(pfd[1], 2);
        close(pfd[0]);
        close(pfd[1]);
        execvp(argv[0], argv);
        fprintf(stderr, "cannot run %s: %s", argv[0], strerror(errno));
        _exit(127);
    }
    close(pfd[1]);
    bytes out = {0};
    char buf[4096];
    ssize_t k;
    while ((k = read(pfd[0], buf, sizeof buf)) != 0) {
        if (k < 0) { if (errno == EINTR) continue; break; }
        if (out.n < 16384) put(&out, buf, (size_t)k);
    }
    close(pfd[0]);
    put(&out, "", 1);
    *output = out.p;
    int status;
    while (waitpid(pid, &status, 0) < 0)
        if (errno != EINTR) return -1;
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + (WIFSIGNALED(status) ? WTERMSIG(status) : 0);
}

/* cc -shared -o tmp NAME.o ...: then renamed to libNAME.so */
static int link_shared(const char *cc, const char *obj, const char *so, const char *soname, es_status *st)
{
    char *words = es_xstrdup(cc);
    char *argv[64];
    int n = 0;
    for (char *t = strtok(words, " \t"); t && n < 48; t = strtok(NULL, " \t")) argv[n++] = t;
    if (n == 0) { free(words); return es_fail(st, ES_EINVAL, "export: the C compiler's name is empty"); }
    char *tmp = es_xmalloc(strlen(so) + 32), *sonamearg = es_xmalloc(strlen(soname) + 16);
    sprintf(tmp, "%s.tmp.%ld", so, (long)getpid());
    sprintf(sonamearg, "-Wl,-soname,%s", soname);
    argv[n++] = "-shared";
    argv[n++] = "-o";
    argv[n++] = tmp;
    argv[n++] = (char *)obj;
    argv[n++] = sonamearg;
    argv[n++] = "-Wl,-z,defs";
    argv[n++] = "-nostartfiles";   /* no crt code: the library has no constructors */
    argv[n++] = "-lm";
    argv[n] = NULL;
    char *output;
    int rc = run_tool(argv, &output);
    if (rc != 0) {
        size_t len = strlen(output);
        while (len && (output[len - 1] == '\n' || output[len - 1] == ' ')) output[--len] = 0;
        es_fail(st, ES_ECOMPILE, "export: linking %s with `%s` failed%s%s (exporting needs a C compiler: "
                "set CC or install cc)", so, cc, len ? ": " : "", output);
        unlink(tmp);
    } else if (rename(tmp, so) != 0) {
        es_fail(st, ES_EIO, "export: cannot write %s: %s", so, strerror(errno));
        unlink(tmp);
        rc = -1;
    }
    free(output);
    free(words);
    free(tmp);
    free(sonamearg);
    return rc == 0 ? 0 : -1;
}

/* ---- README.txt ------------------------------------------------------------------------------ */

static char *readme(const char *name, const char *dir, const estc_model_view *v, const cg_aot_out *o)
{
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    if (!f) return NULL;
    const es_spec *sp = &v->fm->spec;
    fprintf(f, "%s: a predictor compiled by `estc export` (estc %s)\n", name, ESTC_VERSION);
    fprintf(f, "model %s (%s), weights of global step %lld from %s\n\n", v->fm->src->path,
            v->fm->estimator ? v->fm->estimator : "model function", (long long)v->global_step, v->model_dir);
    char fh[600], fo[600], fa[600], fso[600];
    snprintf(fh, sizeof fh, "%s.h", name);
    snprintf(fo, sizeof fo, "%s.o", name);
    snprintf(fa, sizeof fa, "lib%s.a", name);
    snprintf(fso, sizeof fso, "lib%s.so", name);
    int w = (int)strlen(fso) + 2;
    fprintf(f, "Files\n");
    fprintf(f, "  %-*s the C interface: %s_input (one field per raw column; lists with a count),\n", w, fh, name);
    fprintf(f, "  %-*s %s_output, %s_predict, %s_predict_batch, %s_workspace_bytes\n", w, "", name, name, name, name);
    fprintf(f, "  %-*s the predictor, a position-independent object\n", w, fo);
    fprintf(f, "  %-*s the same as a static library\n", w, fa);
    fprintf(f, "  %-*s the same as a shared library\n\n", w, fso);
    fprintf(f, "Build a program with it (a C compiler; nothing else is needed):\n"
               "  cc -O2 -I %s prog.c %s/lib%s.a -lm\n"
               "  cc -O2 -I %s prog.c -L %s -l%s -lm -Wl,-rpath,%s\n\n", dir, dir, name, dir, dir, name, dir);
    fprintf(f, "  #include \"%s.h\"\n  ...\n  %s_input in = { 0 };   /* then set the fields: see %s.h */\n"
               "  %s_output out;\n  if (%s_predict(&in, &out) == 0)\n",
            name, name, name, name, name);
    if (sp->head == ES_HEAD_REGRESSION) fprintf(f, "      printf(\"%%g\\n\", out.predictions);\n\n");
    else fprintf(f, "      printf(\"%%d %%s\\n\", out.class_id, out.class_name ? out.class_name : \"\");\n\n");
    fprintf(f, "At run time the predictor uses only libc and libm; it is thread-safe and\n"
               "never allocates (%s_predict keeps %zu bytes on the stack).\n\n", name, o->stack_bytes);
    fprintf(f, "Compiled for CPU %s: the code uses its instructions and may not run on\n"
               "older CPUs; for other machines export again with --cpu x86-64-v2 (or\n"
               "another LLVM CPU name).\n", o->cpu);
    if (o->features[0]) {   /* the features switched on, wrapped */
        fprintf(f, "CPU features used:");
        int col = 18;
        char *feats = es_xstrdup(o->features), *save = NULL;
        for (char *t = strtok_r(feats, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
            if (t[0] != '+') continue;
            int n = (int)strlen(t + 1);
            if (col + n + 1 > 76) { fprintf(f, "\n "); col = 1; }
            fprintf(f, " %s", t + 1);
            col += n + 1;
        }
        fprintf(f, "\n");
        free(feats);
    }
    fclose(f);
    return text;
}

/* ---- estc_export ------------------------------------------------------------------------ */

static int write_file(const char *dir, const char *file, const void *data, size_t n, FILE *log, estc_status *st)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, file);
    es_status es = {0};
    if (es_write_file_atomic(path, data, n, &es) != 0) return estc__status_from(st, &es);
    if (log) fprintf(log, "wrote %s (%zu bytes)\n", path, n);
    return 0;
}

int estc_export(estc_model *m, const estc_export_options *o, estc_status *st)
{
    memset(st, 0, sizeof *st);
    if (!o || !o->out_dir || !o->out_dir[0]) return estc__fail(st, ESTC_EINVAL, "export: no output directory given");
    estc_model_view v;
    if (estc_model_view_get(m, &v, st) != 0) return -1;
    char *name = o->name ? es_xstrdup(o->name) : default_name(v.fm->src->path);
    es_arena *a = es_arena_new();
    es_status es = {0};
    cg_aot_out out = {0};
    char *text = NULL, *ar = NULL;
    int rc = -1;

    uint64_t whash;
    const float **values = es_alloc(a, (size_t)(v.predict->n + 1) * sizeof *values);
    if (param_values(v.predict, v.vars, values, &whash, &es) != 0) { estc__status_from(st, &es); goto out; }
    /* what depends on the weights alone, computed once here (graph/freeze.c) */
    const gr_graph *prog = v.predict;
    const float **fvalues = NULL;
    gr_graph *frozen = gr_optimize_frozen(v.predict, values, a, &fvalues, &es);
    if (frozen) {
        prog = frozen;
        values = fvalues;
    } else if (es.code) {
        estc__status_from(st, &es);
        goto out;
    }
    cg_aot_model am = {
        .name = name, .cpu = o->cpu, .prog = prog, .param_values = values, .spec = &v.fm->spec,
        .model_file = v.fm->src->path, .estimator = v.fm->estimator, .model_dir = v.model_dir,
        .version = ESTC_VERSION, .fingerprint = v.fm->fingerprint, .weights_hash = whash,
        .global_step = v.global_step,
    };
    if (cg_aot_compile(&am, &out, &es) != 0) { estc__status_from(st, &es); goto out; }

    if (es_mkdirs(o->out_dir, &es) != 0) { estc__status_from(st, &es); goto out; }
    char file[600], obj[4096], so[4096], soname[600];
    snprintf(file, sizeof file, "%s.h", name);
    if (write_file(o->out_dir, file, out.header, strlen(out.header), o->log, st) != 0) goto out;
    snprintf(file, sizeof file, "%s.o", name);
    if (write_file(o->out_dir, file, out.object, out.object_size, o->log, st) != 0) goto out;
    snprintf(obj, sizeof obj, "%s/%s", o->out_dir, file);
    size_t arlen;
    ar = archive(file, out.object, out.object_size, out.symbols, out.nsymbols, &arlen);
    snprintf(file, sizeof file, "lib%s.a", name);
    if (write_file(o->out_dir, file, ar, arlen, o->log, st) != 0) goto out;
    text = readme(name, o->out_dir, &v, &out);
    if (!text) { estc__fail(st, ESTC_EINTERNAL, "export: out of memory"); goto out; }
    if (write_file(o->out_dir, "README.txt", text, strlen(text), o->log, st) != 0) goto out;
    snprintf(soname, sizeof soname, "lib%s.so", name);
    snprintf(so, sizeof so, "%s/%s", o->out_dir, soname);
    const char *cc = o->cc ? o->cc : getenv("CC") && *getenv("CC") ? getenv("CC") : "cc";
    if (link_shared(cc, obj, so, soname, &es) != 0) { estc__status_from(st, &es); goto out; }
    if (o->log) fprintf(o->log, "wrote %s (linked by %s)\n", so, cc);
    rc = 0;
out:
    free(ar);
    free(text);
    cg_aot_out_free(&out);
    es_arena_free(a);
    free(name);
    return rc;
}

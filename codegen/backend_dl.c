/*
 * backend_dl.c — the backend as a module of its own (backend.h), for the estc
 * command: libestc-llvm.so holds LLVM, statically linked, with emit.c,
 * target.c, prep.c, aot.c and llvm.c, and is dlopen()ed the first time the
 * command compiles or exports. A start whose kernels all come from the cache
 * never maps it: LLVM's static initialisers, its relocations and its page
 * faults cost a start-up longer than the cached compile itself
 * (docs/performance.md, B5).
 *
 * Where: $ESTC_LLVM_MODULE if set, else next to the executable
 * (/proc/self/exe's directory, the build tree), else the install location
 * relative to it (bin/../lib/estc), else the one configured at build time.
 * The backend's functions the rest of estc calls by name (the IR text, export,
 * C identifiers) are defined here as calls through the loaded table.
 *
 * OpenBLAS is loaded late too: mapping and initialising it is most of what
 * is left of the command's start (some 3 ms of CPU), and only a kernel with
 * a matrix product calls it. Kernels call cblas_sgemm through lazy_sgemm,
 * which loads the library the first time (the one estc was built against,
 * else the system's libopenblas.so.0). When the first is missing, linking a
 * kernel that needs it loads the second at once, and fails the link if it
 * cannot. Only a library that is there but will not load (a broken file)
 * leaves the first call without a caller to return an error to: like the
 * dynamic linker with a missing lazy symbol, it prints what it looked for
 * and aborts.
 */
#define _GNU_SOURCE
#include "backend.h"
#include "gemm.h"
#include "prep.h"

#include <cblas.h>
#include <dlfcn.h>
#include <libgen.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#define MODULE_NAME "libestc-llvm.so"

static struct {
    char path[PATH_MAX + 64];    /* the module found, or the first place looked */
    const cg_backend *be;
    char error[PATH_MAX + 512];
    uint64_t id;
    int id_ok;
} mod;
static pthread_once_t find_once = PTHREAD_ONCE_INIT, load_once = PTHREAD_ONCE_INIT;

static int exists(const char *p) { return access(p, R_OK) == 0; }

static void find_module(void)
{
    const char *env = getenv("ESTC_LLVM_MODULE");
    if (env && *env) {
        snprintf(mod.path, sizeof mod.path, "%s", env);
    } else {
        char exe[PATH_MAX];
        ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
        char cand[PATH_MAX + 64];
        mod.path[0] = 0;
        if (n > 0) {
            exe[n] = 0;
            const char *dir = dirname(exe);
            snprintf(mod.path, sizeof mod.path, "%s/" MODULE_NAME, dir);
            snprintf(cand, sizeof cand, "%s/../" ESTC_MODULE_LIBDIR "/estc/" MODULE_NAME, dir);
            if (!exists(mod.path) && exists(cand)) snprintf(mod.path, sizeof mod.path, "%s", cand);
        }
        if (!mod.path[0] || (!exists(mod.path) && exists(ESTC_MODULE_INSTALL_PATH)))
            snprintf(mod.path, sizeof mod.path, "%s", ESTC_MODULE_INSTALL_PATH);
    }
    mod.id_ok = cg_build_id_file(mod.path, &mod.id) == 0;
}

static void load_module(void)
{
    pthread_once(&find_once, find_module);
    void *h = dlopen(mod.path, RTLD_NOW | RTLD_LOCAL);
    if (!h) {
        const char *e = dlerror();
        snprintf(mod.error, sizeof mod.error,
                 "compiling needs LLVM, which estc loads from %s, and that failed: %s", mod.path, e ? e : "?");
        return;
    }
    const cg_backend *(*entry)(void);
    void *sym = dlsym(h, "estc_llvm_backend");
    memcpy(&entry, &sym, sizeof entry);
    const cg_backend *be = sym ? entry() : NULL;
    if (!be || be->version != CG_BACKEND_VERSION || be->size != sizeof *be) {
        snprintf(mod.error, sizeof mod.error, "%s is not the LLVM module of this estc (rebuild both)", mod.path);
        dlclose(h);
        return;
    }
    mod.be = be;   /* kept loaded for the life of the process */
}

const cg_backend *cg_backend_get(es_status *st)
{
    pthread_once(&load_once, load_module);
    if (!mod.be) es_fail(st, ES_ECOMPILE, "codegen: %s", mod.error);
    return mod.be;
}

int cg_backend_id(uint64_t *id)
{
    pthread_once(&find_once, find_module);
    if (mod.id_ok) *id = mod.id;
    return mod.id_ok ? 0 : -1;
}

char *cg_module_text(gr_graph *prog, const char *name, int optimized, es_status *st)
{
    const cg_backend *be = cg_backend_get(st);
    return be ? be->module_text(prog, name, optimized, st) : NULL;
}

int cg_aot_compile(const cg_aot_model *m, cg_aot_out *out, es_status *st)
{
    const cg_backend *be = cg_backend_get(st);
    return be ? be->aot_compile(m, out, st) : -1;
}

void cg_aot_out_free(cg_aot_out *o)
{
    es_status st;
    const cg_backend *be = cg_backend_get(&st);
    if (be) be->aot_out_free(o);   /* without the module nothing was compiled */
}

/* Export asks for this before it compiles; without the module that export
 * fails in cg_aot_compile, naming the file, so any name serves till then. */
char *cg_prep_c_ident(const char *s)
{
    es_status st;
    const cg_backend *be = cg_backend_get(&st);
    return be ? be->c_ident(s) : es_xstrdup(s);
}

/* ---- OpenBLAS, on first use ---------------------------------------------------- */

typedef void (*sgemm_fn)(const enum CBLAS_ORDER, const enum CBLAS_TRANSPOSE, const enum CBLAS_TRANSPOSE,
                         const blasint, const blasint, const blasint, const float, const float *, const blasint,
                         const float *, const blasint, const float, float *, const blasint);
static sgemm_fn blas_sgemm;
static void (*blas_set_threads)(int);
static int (*blas_get_threads)(void);
static char *(*blas_corename)(void);
static _Atomic int blas_threads;        /* asked for before the load; 0 = OpenBLAS's choice */
static char blas_error[1024];
static pthread_once_t blas_once = PTHREAD_ONCE_INIT;

/* who takes the products (gemm.h), from the library's core type and threads */
static void gemm_update(void)
{
    cg_gemm_update(blas_corename ? blas_corename() : NULL, blas_get_threads ? blas_get_threads() : 0);
}

static void load_blas(void)
{
    const char *names[] = { ESTC_OPENBLAS_LIB, "libopenblas.so.0" };
    for (size_t i = 0; i < sizeof names / sizeof names[0] && !blas_sgemm; i++) {
        void *h = dlopen(names[i], RTLD_NOW | RTLD_GLOBAL);
        void *f = h ? dlsym(h, "cblas_sgemm") : NULL;
        if (f) memcpy(&blas_sgemm, &f, sizeof f);
        else if (!blas_error[0]) snprintf(blas_error, sizeof blas_error, "%s", dlerror());
        void *t = f ? dlsym(h, "openblas_set_num_threads") : NULL;
        if (t) memcpy(&blas_set_threads, &t, sizeof t);
        void *g = f ? dlsym(h, "openblas_get_num_threads") : NULL;
        if (g) memcpy(&blas_get_threads, &g, sizeof g);
        void *c = f ? dlsym(h, "openblas_get_corename") : NULL;
        if (c) memcpy(&blas_corename, &c, sizeof c);
    }
    int n = blas_threads;
    if (n > 0 && blas_set_threads) blas_set_threads(n);
    gemm_update();
}

void cg_blas_threads(int n)
{
    if (n <= 0) return;
    blas_threads = n;
    /* once loaded (blas_once done), apply it here; else load_blas will */
    if (blas_sgemm && blas_set_threads) {
        blas_set_threads(n);
        gemm_update();
    }
}

static void lazy_sgemm(const enum CBLAS_ORDER order, const enum CBLAS_TRANSPOSE ta, const enum CBLAS_TRANSPOSE tb,
                       const blasint m, const blasint n, const blasint k, const float alpha, const float *a,
                       const blasint lda, const float *b, const blasint ldb, const float beta, float *c,
                       const blasint ldc)
{
    pthread_once(&blas_once, load_blas);
    if (!blas_sgemm) {
        fprintf(stderr, "estc: a kernel needs OpenBLAS, which cannot be loaded from %s or libopenblas.so.0: %s\n",
                ESTC_OPENBLAS_LIB, blas_error);
        abort();
    }
    if (!cg_gemm_take(order == CblasRowMajor, ta == CblasTrans, tb == CblasTrans, m, n, k, alpha, a, lda, b, ldb,
                      beta, c, ldc))
        blas_sgemm(order, ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
}

void *cg_blas_sgemm(void)
{
    /* linking a kernel that calls it: when the library estc was built
     * against is not there, load now (the system's), so that a missing
     * OpenBLAS is the link's error (an undefined cblas_sgemm), not an abort */
    if (access(ESTC_OPENBLAS_LIB, R_OK) != 0) {
        pthread_once(&blas_once, load_blas);
        if (!blas_sgemm) return NULL;
    }
    sgemm_fn f = lazy_sgemm;
    void *a;
    memcpy(&a, &f, sizeof a);
    return a;
}

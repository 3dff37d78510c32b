/*
 * jit.c — compiled programs in a JIT session (cg_jit_*), and the IR text of
 * a program (cg_module_text).
 *
 * A cg_jit owns the objects it has loaded and, from its first cache miss
 * on, its backend state (an LLVM context and target machines, backend.h),
 * so two models in one process share nothing. On a miss the backend emits
 * the module, verifies and optimises it for the host and compiles it to a
 * relocatable object; objload.c links objects into the process. This file
 * needs no LLVM: a start served from the cache never loads it (the estc
 * command has the backend in a module of its own, backend_dl.c). An object is linked when it is added, so a
 * module that cannot be linked (a missing symbol) fails cg_jit_new or
 * cg_jit_add_ir with a status naming the symbol. The external functions
 * kernels call (cblas_sgemm, the libm calls that intrinsics lower to,
 * malloc/free) resolve to the addresses this file was linked against, so
 * they resolve even when the linker dropped an "unused" libopenblas
 * (--as-needed) or the executable does not export its symbols; anything
 * else resolves from the session's own objects, then the running process
 * (dlsym).
 *
 * Object cache. Every module is compiled to a relocatable object, so the
 * same object can be kept on disk: under $ESTC_CACHE_DIR, else
 * $XDG_CACHE_HOME/estc, else ~/.cache/estc, named by a 64-bit xxHash of what
 * the code is made from: the bound graph and the build ID of the binary that
 * emits it (program_key; a hit then emits no IR at all), or for IR given as
 * text its bitcode, with the backend's build ID (its emitter, pass lists and
 * LLVM), the host CPU as cpuid describes it (ident.c), the LLVM version and
 * estc's version. The fast tier's objects (codegen.h)
 * are stored under keys of their own, found only when there is no optimised
 * one, which removes them when it is stored. Every entry records how long
 * its compile took, for the runtime's cost estimates. A file holds a magic
 * word, the hash of its payload and the object; one that fails the check, or
 * whose object the loader refuses, is counted as rejected, compiled again and
 * rewritten. ESTC_NO_CACHE=1 (the CLI's --no-cache) bypasses the cache.
 * Writes are atomic, so two processes racing on one entry leave a whole file
 * either way.
 */
#define _GNU_SOURCE   /* RTLD_DEFAULT */
#include "backend.h"
#include "codegen.h"
#include "objload.h"

#include <dlfcn.h>
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef struct cg_sym { char *name; cg_entry_fn fn; } cg_sym;

struct cg_jit {
    const cg_backend *be;        /* from the first cache miss on */
    cg_llvm *llvm;
    cg_obj **objs;               /* the loaded objects, in the order added */
    int nobjs;
    int fast;                    /* a miss is compiled by the fast tier */
    int nfast;                   /* programs that run fast-tier code */
    double fast_cost;            /* seconds their fast compiles took */
    char *cache_dir;             /* NULL: no cache */
    cg_cache_stats stats;
    cg_timings time;
    cg_sym *syms;
    int nsyms, cap;
};

static char *cache_dir_from_env(void);
static uint64_t target_key(uint64_t h);

/* every external function emit.c calls or LLVM lowers its intrinsics to,
 * but cblas_sgemm (cg_blas_sgemm) */
static const struct { const char *name; void (*addr)(void); } known_symbols[] = {
#define SYM(f) { #f, (void (*)(void))(f) }
    SYM(expf), SYM(logf), SYM(powf), SYM(pow), SYM(tanhf), SYM(log1pf),
    SYM(memset), SYM(memcpy), SYM(memmove), SYM(malloc), SYM(calloc), SYM(free), SYM(abort),
#undef SYM
};

/* the address of an external symbol: the session's own objects first, then
 * the known functions, then the process */
static void *resolve_symbol(void *ctx, const char *name)
{
    cg_jit *j = ctx;
    if (strcmp(name, "cblas_sgemm") == 0) return cg_blas_sgemm();
    for (int i = 0; i < j->nobjs; i++) {
        void *a = cg_obj_symbol(j->objs[i], name);
        if (a) return a;
    }
    for (size_t i = 0; i < sizeof known_symbols / sizeof known_symbols[0]; i++)
        if (strcmp(known_symbols[i].name, name) == 0) {
            void *a;
            memcpy(&a, &known_symbols[i].addr, sizeof a);   /* a function pointer as an address */
            return a;
        }
    return dlsym(RTLD_DEFAULT, name);
}

static cg_jit *jit_create(void)
{
    cg_jit *j = es_xcalloc(1, sizeof *j);
    j->cache_dir = cache_dir_from_env();
    return j;
}

/* the backend and the session's state in it, made on first use: a start
 * served from the cache never needs them */
static cg_llvm *jit_backend(cg_jit *j, es_status *st)
{
    if (!j->llvm && (j->be || (j->be = cg_backend_get(st)))) j->llvm = j->be->open();
    return j->llvm;
}

/* ---- object cache ---------------------------------------------------------- */

/* an entry: this magic, the hash of the rest, the seconds its compile took
 * (a double: the runtime's cost estimate for the next tier), the object */
static const char cache_magic[8] = { 'E', 'S', 'T', 'C', 'O', 'B', 'J', '2' };
enum { CACHE_HEAD = 24 };

static char *cache_dir_from_env(void)
{
    const char *off = getenv("ESTC_NO_CACHE");
    if (off && *off && strcmp(off, "0") != 0) return NULL;
    const char *d = getenv("ESTC_CACHE_DIR");
    if (d && *d) return es_xstrdup(d);
    const char *xdg = getenv("XDG_CACHE_HOME"), *home = getenv("HOME");
    char buf[4096];
    if (xdg && *xdg) snprintf(buf, sizeof buf, "%s/estc", xdg);
    else if (home && *home) snprintf(buf, sizeof buf, "%s/.cache/estc", home);
    else return NULL;
    return es_xstrdup(buf);
}

/* The cache key of a module: its IR and everything else that decides the
 * machine code. */
static uint64_t cache_key(cg_jit *j, void *m) { return target_key(j->be->module_hash(m)); }

/* ---- keys without IR ------------------------------------------------------
 * A hit should not pay for emitting the IR it would hash, so a program's key
 * is computed from what the IR is made of: the bound graph (every field the
 * emitter reads) and the code that makes it and turns it into IR, identified
 * by the GNU build IDs of the binary this file is linked into and of the
 * backend (target_key; one and the same binary where the backend is linked
 * in): any rebuilt emitter has a new one. Without build IDs the key falls
 * back to the bitcode, which needs the backend. */

static struct { int ok; uint64_t id; } build;
static pthread_once_t build_once = PTHREAD_ONCE_INIT;

static void build_init(void)
{
    void (*self)(void) = build_init;
    void *addr;
    memcpy(&addr, &self, sizeof addr);
    build.ok = cg_build_id_of(addr, &build.id) == 0;
}

static void hash_into(uint64_t *h, const void *p, size_t n) { *h = es_hash64(p, n, *h); }

static void hash_str(uint64_t *h, const char *s)
{
    size_t n = s ? strlen(s) + 1 : 0;   /* NULL and "" differ */
    hash_into(h, &n, sizeof n);
    if (s) hash_into(h, s, n);
}

/* What decides the machine code besides the IR: the backend's code (its
 * build ID covers the pass lists and a statically linked LLVM), the host,
 * LLVM's and estc's versions. "keys 2": keys before it hashed LLVM's host
 * CPU name and features instead of cpuid. */
static uint64_t target_key(uint64_t h)
{
    uint64_t backend;
    if (cg_backend_id(&backend) != 0) backend = 0;   /* then only bitcode keys, made by the backend */
    char ctx[256];
    int n = snprintf(ctx, sizeof ctx, "keys 2|backend %016llx|host %016llx|llvm %s|estc %s",
                     (unsigned long long)backend, (unsigned long long)cg_host_id(), ESTC_LLVM_VERSION, ESTC_VERSION);
    if (n < 0 || n >= (int)sizeof ctx) n = (int)sizeof ctx - 1;   /* truncated: still a key */
    return es_hash64(ctx, (size_t)n, h);
}

/* The key of prog's optimised object, or 0 when there is no build ID (the
 * caller then hashes the emitted module). Field by field, never the raw
 * struct, whose padding is not defined. */
static uint64_t program_key(const gr_graph *g, const char *name)
{
    pthread_once(&build_once, build_init);
    uint64_t backend;
    if (!build.ok || cg_backend_id(&backend) != 0) return 0;
    uint64_t h = build.id;
    hash_str(&h, name);
    int head[3] = { (int)g->kind, g->n, g->nbufs };
    hash_into(&h, head, sizeof head);
    for (int i = 0; i < g->n; i++) {
        const gr_node *n = &g->nodes[i];
        int ints[4 + GR_MAXIN] = { (int)n->op, (int)n->dtype, n->nin, n->buf };
        memcpy(ints + 4, n->in, sizeof n->in);
        for (int k = n->nin; k < GR_MAXIN; k++) ints[4 + k] = 0;   /* unused slots */
        hash_into(&h, ints, sizeof ints);
        hash_into(&h, &n->shape.rank, sizeof n->shape.rank);
        hash_into(&h, n->shape.d, (size_t)(n->shape.rank > 0 ? n->shape.rank : 0) * sizeof n->shape.d[0]);
        hash_into(&h, n->a, sizeof n->a);
        hash_into(&h, n->f, sizeof n->f);
        hash_str(&h, n->name);
        if (n->op == GR_CONST && n->data)
            hash_into(&h, n->data, (size_t)gr_numel(n->shape, 1) * sizeof *n->data);
        hash_into(&h, &n->nsteps, sizeof n->nsteps);      /* a fused node's expression */
        if (n->nsteps > 0) hash_into(&h, n->steps, (size_t)n->nsteps * sizeof *n->steps);
    }
    for (int i = 0; i < g->noutputs; i++) {
        hash_str(&h, g->outputs[i].name);
        hash_into(&h, &g->outputs[i].node, sizeof g->outputs[i].node);
    }
    h = target_key(h);
    return h ? h : 1;   /* 0 means "no key" */
}

static char *cache_path_in(const char *dir, uint64_t key)
{
    size_t n = strlen(dir) + 32;
    char *p = es_xmalloc(n);
    snprintf(p, n, "%s/%016llx.o", dir, (unsigned long long)key);
    return p;
}

static char *cache_path(const cg_jit *j, uint64_t key) { return cache_path_in(j->cache_dir, key); }

/* a cache entry read into memory: the file, and the object within it */
typedef struct cached { char *file; const char *obj; size_t n; double cost; int fast; } cached;

/* The entry stored under key; 0, or -1 if absent or damaged (then ignored). */
static int cache_read(cg_jit *j, uint64_t key, cached *c)
{
    char *path = cache_path(j, key);
    es_status st = {0};
    size_t len = 0;
    char *data = es_read_file(path, &len, &st);
    free(path);
    if (!data) return -1;
    uint64_t sum;
    if (len > CACHE_HEAD && memcmp(data, cache_magic, 8) == 0 && (memcpy(&sum, data + 8, 8), 1) &&
        sum == es_hash64(data + 16, len - 16, 0)) {
        memcpy(&c->cost, data + 16, sizeof c->cost);
        c->file = data;
        c->obj = data + CACHE_HEAD;
        c->n = len - CACHE_HEAD;
        return 0;
    }
    j->stats.rejected++;
    free(data);
    return -1;
}

/* data to path through a temporary file and a rename, so a reader sees a
 * whole file or none. No fsync: a cache entry a crash tears fails its
 * checksum and is rebuilt, so durability is not worth a disk flush per
 * program on every cold compile. */
static int write_entry(const char *path, const char *data, size_t n)
{
    size_t pl = strlen(path) + 48;
    char *tmp = es_xmalloc(pl);
    snprintf(tmp, pl, "%s.tmp.%ld.%p", path, (long)getpid(), (const void *)data);   /* unique per writer */
    FILE *f = fopen(tmp, "wb");
    int ok = f && fwrite(data, 1, n, f) == n;
    if (f && fclose(f) != 0) ok = 0;
    if (ok && rename(tmp, path) != 0) ok = 0;
    if (!ok && f) unlink(tmp);
    free(tmp);
    return ok ? 0 : -1;
}

static void cache_write(cg_jit *j, uint64_t key, const void *obj, size_t n, double cost)
{
    es_status st = {0};
    if (es_mkdirs(j->cache_dir, &st) != 0) return;     /* no cache is not an error */
    char *data = es_xmalloc(n + CACHE_HEAD);
    memcpy(data, cache_magic, 8);
    memcpy(data + 16, &cost, sizeof cost);
    memcpy(data + CACHE_HEAD, obj, n);
    uint64_t sum = es_hash64(data + 16, n + CACHE_HEAD - 16, 0);
    memcpy(data + 8, &sum, 8);
    char *path = cache_path(j, key);
    if (write_entry(path, data, n + CACHE_HEAD) == 0) j->stats.written++;
    free(path);
    free(data);
}

/* the fast tier's entries live under keys of their own (its pipeline is
 * the backend's, which the key already names) */
static uint64_t fast_key(uint64_t key) { return es_hash64("fast tier", 9, key); }

/* The entry cached for key: the optimised one, else, in a fast session, the
 * fast tier's. 0, or -1 if there is none. */
static int cache_lookup(cg_jit *j, uint64_t key, cached *c)
{
    double t = es_now();
    memset(c, 0, sizeof *c);
    int rc = cache_read(j, key, c);
    if (rc != 0 && j->fast && (rc = cache_read(j, fast_key(key), c)) == 0) c->fast = 1;
    j->time.cache += es_now() - t;
    return rc;
}

/* Has the backend optimise m for the session's tier and compile it to an
 * object, stored under key (0: not stored), or under fast_key(key) for the
 * fast tier. An optimised entry supersedes the fast one, which is removed.
 * m is kept. 0, or -1 with st set. */
static int compile_module(cg_jit *j, void *m, uint64_t key, cg_object *obj, es_status *st)
{
    int fast = j->fast;
    double t0 = es_now();
    if (j->be->compile(j->llvm, m, fast, obj, st) != 0) return -1;
    double t = es_now();
    j->time.optimize += obj->optimize;
    j->time.codegen += obj->codegen;
    j->stats.compiled++;
    if (fast) {
        j->nfast++;
        j->fast_cost += t - t0;
    }
    if (j->cache_dir && key) {
        cache_write(j, fast ? fast_key(key) : key, obj->data, obj->size, t - t0);
        if (!fast) {
            char *old = cache_path(j, fast_key(key));
            unlink(old);
            free(old);
        }
    }
    j->time.cache += es_now() - t;
    return 0;
}

/* links the object data[0..n) into the session; a symbol it defines that
 * the session already has is an error */
static int add_object(cg_jit *j, const void *data, size_t n, es_status *st)
{
    double t = es_now();
    cg_obj *o = cg_obj_load(data, n, resolve_symbol, j, st);
    const char *dup = NULL;
    for (int i = 0; o && !dup && i < cg_obj_nexports(o); i++)
        for (int k = 0; k < j->nobjs && !dup; k++)
            if (cg_obj_symbol(j->objs[k], cg_obj_export(o, i))) dup = cg_obj_export(o, i);
    if (dup) {
        es_fail(st, ES_ECOMPILE, "codegen: symbol '%s' is already defined in this session", dup);
        cg_obj_free(o);
        o = NULL;
    }
    if (o) {
        j->objs = es_xrealloc(j->objs, (size_t)(j->nobjs + 1) * sizeof *j->objs);
        j->objs[j->nobjs++] = o;
    }
    j->time.link += es_now() - t;
    return o ? 0 : -1;
}

/* Links a cached entry (freed); 0, or -1 if the loader refuses it: then it
 * counts as rejected, and the caller compiles the module again. */
static int add_cached(cg_jit *j, cached *c)
{
    es_status st = {0};
    int rc = add_object(j, c->obj, c->n, &st);
    free(c->file);
    if (rc != 0) {
        j->stats.rejected++;
        return -1;
    }
    j->stats.hits++;
    if (c->fast) {
        j->nfast++;
        j->fast_cost += c->cost;
    }
    return 0;
}

/* Adds the backend's module m (consumed either way): the object cached under
 * key, or under its bitcode's hash when key is 0, or a fresh compile. */
static int jit_add_module(cg_jit *j, void *m, uint64_t key, es_status *st)
{
    cached c;
    if (j->cache_dir && !key) {
        double t = es_now();
        key = cache_key(j, m);
        j->time.cache += es_now() - t;
        if (cache_lookup(j, key, &c) == 0 && add_cached(j, &c) == 0) {
            j->be->dispose(m);
            return 0;
        }
    }
    cg_object obj = { 0 };
    int rc = compile_module(j, m, key, &obj, st);
    j->be->dispose(m);
    if (rc == 0) rc = add_object(j, obj.data, obj.size, st);
    free(obj.data);
    return rc;
}

cg_cache_stats cg_jit_cache_stats(const cg_jit *j) { return j->stats; }
cg_timings cg_jit_timings(const cg_jit *j) { return j->time; }

/* the entry `name` among the session's objects */
static cg_entry_fn jit_resolve(cg_jit *j, const char *name, es_status *st)
{
    void *a = NULL;
    for (int i = 0; i < j->nobjs && !a; i++) a = cg_obj_symbol(j->objs[i], name);
    if (!a) {
        es_fail(st, ES_ECOMPILE, "codegen: no compiled function is named '%s'", name);
        return NULL;
    }
    cg_entry_fn fn;
    memcpy(&fn, &a, sizeof fn);   /* an address to a function pointer, without a cast warning */
    return fn;
}

static void remember(cg_jit *j, const char *name, cg_entry_fn fn)
{
    if (j->nsyms == j->cap) {
        j->cap = j->cap ? 2 * j->cap : 8;
        j->syms = es_xrealloc(j->syms, (size_t)j->cap * sizeof *j->syms);
    }
    j->syms[j->nsyms].name = es_xstrdup(name);
    j->syms[j->nsyms].fn = fn;
    j->nsyms++;
}

/* prog's object from the cache by its graph key (emitting nothing), else
 * emitted and compiled */
static int jit_add_program(cg_jit *j, gr_graph *prog, const char *name, es_status *st)
{
    uint64_t key = 0;
    if (j->cache_dir) {
        double t = es_now();
        key = program_key(prog, name);
        j->time.cache += es_now() - t;
        cached c;
        if (key && cache_lookup(j, key, &c) == 0 && add_cached(j, &c) == 0) return 0;
    }
    if (!jit_backend(j, st)) return -1;
    double t = es_now();
    void *m = j->be->emit(j->llvm, prog, name, j->fast, st);
    j->time.emit += es_now() - t;
    return m ? jit_add_module(j, m, key, st) : -1;
}

int cg_jit_cached(const gr_graph *prog, const char *name)
{
    char *dir = cache_dir_from_env();
    uint64_t key = dir ? program_key(prog, name) : 0;
    int found = 0;
    for (int tier = 0; key && tier < 2 && !found; tier++) {
        char *path = cache_path_in(dir, tier ? fast_key(key) : key);
        if (access(path, R_OK) == 0) found = tier ? 1 : 2;
        free(path);
    }
    free(dir);
    return found;
}

cg_jit *cg_jit_new(gr_graph *const *progs, const char *const *names, int nprogs, es_status *st)
{
    return cg_jit_new_tiered(progs, names, nprogs, 0, st);
}

int cg_jit_fast_programs(const cg_jit *j) { return j->nfast; }
double cg_jit_fast_cost(const cg_jit *j) { return j->fast_cost; }

cg_jit *cg_jit_new_tiered(gr_graph *const *progs, const char *const *names, int nprogs, int fast,
                          es_status *st)
{
    for (int i = 0; i < nprogs; i++)
        for (int k = 0; k < i; k++)
            if (strcmp(names[i], names[k]) == 0) {
                es_fail(st, ES_EINVAL, "codegen: two programs are both named '%s'", names[i]);
                return NULL;
            }
    double t = es_now();
    cg_jit *j = jit_create();
    j->time.setup = es_now() - t;
    j->fast = fast;
    for (int i = 0; i < nprogs; i++)
        if (jit_add_program(j, progs[i], names[i], st) != 0) { cg_jit_free(j); return NULL; }
    t = es_now();
    for (int i = 0; i < nprogs; i++) {
        cg_entry_fn fn = jit_resolve(j, names[i], st);
        if (!fn) { cg_jit_free(j); return NULL; }
        remember(j, names[i], fn);
    }
    j->time.link += es_now() - t;
    return j;
}

int cg_jit_add_ir(cg_jit *j, const char *ir_text, es_status *st)
{
    if (!jit_backend(j, st)) return -1;
    void *m = j->be->parse_ir(j->llvm, ir_text, st);
    return m ? jit_add_module(j, m, 0, st) : -1;
}

cg_entry_fn cg_jit_lookup(cg_jit *j, const char *name)
{
    for (int i = 0; i < j->nsyms; i++)
        if (strcmp(j->syms[i].name, name) == 0) return j->syms[i].fn;
    es_status st;
    cg_entry_fn fn = jit_resolve(j, name, &st);
    if (fn) remember(j, name, fn);
    return fn;
}

void cg_jit_free(cg_jit *j)
{
    if (!j) return;
    for (int i = 0; i < j->nobjs; i++) cg_obj_free(j->objs[i]);
    free(j->objs);
    if (j->llvm) j->be->close(j->llvm);
    free(j->cache_dir);
    for (int i = 0; i < j->nsyms; i++) free(j->syms[i].name);
    free(j->syms);
    free(j);
}

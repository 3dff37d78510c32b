/*
 * backend.h — the LLVM half of the JIT, seen from the half that needs no LLVM.
 *
 * jit.c (the session, the object cache, the loader) compiles nothing itself:
 * on a cache miss it asks the backend (llvm.c, with emit.c, target.c, prep.c
 * and aot.c) through this table. The library and the tests link the backend
 * in (backend_link.c); the estc command loads it from libestc-llvm.so the
 * first time it compiles or exports (backend_dl.c), so a start served from
 * the cache never maps, relocates or initialises LLVM.
 */
#ifndef ESTC_BACKEND_H
#define ESTC_BACKEND_H

#include "aot.h"
#include "codegen.h"

#include <stddef.h>

/* the table's layout: a module built from other sources is refused */
enum { CG_BACKEND_VERSION = 2 };

typedef struct cg_llvm cg_llvm;   /* one session's LLVM context and target machines */

/* a compiled object: malloc'd bytes, and the seconds each phase took */
typedef struct cg_object { void *data; size_t size; double optimize, codegen; } cg_object;

typedef struct cg_backend {
    int version;                  /* CG_BACKEND_VERSION */
    size_t size;                  /* sizeof(cg_backend) */
    cg_llvm *(*open)(void);
    void (*close)(cg_llvm *l);
    /* a module (opaque) for a program (fast: for the first tier, cg_emit_ex's
     * CG_EMIT_FAST), or for IR text; NULL and st set on failure */
    void *(*emit)(cg_llvm *l, const gr_graph *prog, const char *name, int fast, es_status *st);
    void *(*parse_ir)(cg_llvm *l, const char *text, es_status *st);
    uint64_t (*module_hash)(void *module);          /* of its bitcode */
    /* verifies, optimises (fast: the first tier's pipeline) and compiles the
     * module, which is kept; 0, or -1 with st set */
    int (*compile)(cg_llvm *l, void *module, int fast, cg_object *out, es_status *st);
    void (*dispose)(void *module);
    /* what codegen.h, aot.h and prep.h offer the rest of estc */
    char *(*module_text)(gr_graph *prog, const char *name, int optimized, es_status *st);
    int (*aot_compile)(const cg_aot_model *m, cg_aot_out *out, es_status *st);
    void (*aot_out_free)(cg_aot_out *o);
    char *(*c_ident)(const char *s);
} cg_backend;

/* The backend, linked in or loaded on first use; NULL and st set (naming the
 * file looked for) if it cannot be loaded. Thread-safe. */
const cg_backend *cg_backend_get(es_status *st);
/* What identifies the backend's code, for cache keys, without loading it
 * (its build ID); 0, or -1 if unknown. */
int cg_backend_id(uint64_t *id);
/* The address kernels call for cblas_sgemm: OpenBLAS's, or in the estc
 * command a function that loads OpenBLAS on its first call (a start that
 * runs no kernel then never pays for loading it). */
void *cg_blas_sgemm(void);
/* The table itself (llvm.c), exported by libestc-llvm.so. */
const cg_backend *estc_llvm_backend(void);

/* ---- identities (ident.c) ---------------------------------------------------- */
/* The host CPU as the code generator sees it, from cpuid: vendor, family,
 * model, stepping and every feature bit LLVM's host detection reads. */
uint64_t cg_host_id(void);
/* The GNU build ID (hashed) of the loaded object holding `addr`, or of the
 * ELF file at path; 0, or -1 if it has none. */
int cg_build_id_of(const void *addr, uint64_t *id);
int cg_build_id_file(const char *path, uint64_t *id);

#endif

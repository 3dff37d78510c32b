/*
 * codegen.h — from a bound graph program to native code (prefix cg_).
 *
 * cg_emit builds one LLVM module for a program: one internal function per
 * node (or fused group) and one exported entry
 *     void <name>(void **bufs, int64_t B)
 * with the buffer binding of gr_bind. The module is verified, optimised with
 * the new pass manager for the host CPU (its name and real features; 512-bit
 * vectors where AVX-512 exists) with a pass list chosen for compile speed
 * (cg_jit_pipeline; export uses default<O2>), compiled to a relocatable
 * object and linked into the process by objload.c; the programs of a model
 * may compile on parallel threads.
 * Each cg_jit owns its own thread-safe context, so several models can live in
 * one process. Dense matrix products call OpenBLAS cblas_sgemm; the session
 * binds it and the libm/libc functions kernels call to the addresses libestc
 * was linked against, and anything else to the running process's symbols.
 */
#ifndef ESTC_CODEGEN_H
#define ESTC_CODEGEN_H

#include "../graph/graph.h"

typedef void (*cg_entry_fn)(void **bufs, int64_t B);

typedef struct cg_jit cg_jit;

/* Compiles the programs (each already bound with gr_bind) into one JIT session.
 * names[i] is the entry symbol of progs[i]. Returns NULL and sets st on failure. */
cg_jit *cg_jit_new(gr_graph *const *progs, const char *const *names, int nprogs, es_status *st);
cg_entry_fn cg_jit_lookup(cg_jit *j, const char *name);
void cg_jit_free(cg_jit *j);

/* What the object cache did for one session (see jit.c): modules compiled,
 * modules taken from the cache, cache files written, damaged files ignored. */
typedef struct cg_cache_stats { int compiled, hits, written, rejected; } cg_cache_stats;
cg_cache_stats cg_jit_cache_stats(const cg_jit *j);

/* Where a session's time went, in seconds of the thread that did the work:
 * creating the session, emitting the IR, the cache (key, lookup, load or
 * store), LLVM's optimiser, its code generator, and linking the objects. */
typedef struct cg_timings { double setup, emit, cache, optimize, codegen, link; } cg_timings;
cg_timings cg_jit_timings(const cg_jit *j);

/* The LLVM IR text of a program's module (for `estc graph --llvm` and tests); malloc'd. */
char *cg_module_text(gr_graph *prog, const char *name, int optimized, es_status *st);

/* The host target as LLVM sees it ("znver3", "+avx2,+fma,..."), for reports. */
const char *cg_host_cpu(void);
/* The number of threads the kernels' matrix products (OpenBLAS) use, n > 0;
 * applied now if OpenBLAS is loaded, else when it is. Without a call,
 * OpenBLAS's own choice stands (every core, or OPENBLAS_NUM_THREADS). */
void cg_blas_threads(int n);
const char *cg_host_features(void);

/* Adds a module given as LLVM IR text (for tools and tests): parsed, verified,
 * optimised and added like an emitted one; its functions are then found with
 * cg_jit_lookup. Returns 0, or -1 with st set (bad text, a module that fails
 * verification, a symbol already defined, a symbol nothing defines). */
int cg_jit_add_ir(cg_jit *j, const char *ir_text, es_status *st);

/* ---- shared by the JIT and the AOT back end (codegen/ only) ----------------
 * Declared with LLVM's struct tags so this header needs no LLVM include:
 * struct LLVMOpaqueModule * is LLVMModuleRef, and so on. */
struct LLVMOpaqueContext;
struct LLVMOpaqueModule;
struct LLVMOpaqueTargetMachine;

/* Emits prog (bound with gr_bind) into ctx as one unverified, unoptimised
 * module whose only external symbol is the entry `name`. NULL and st set if
 * the program cannot be compiled (e.g. it was never bound). */
struct LLVMOpaqueModule *cg_emit(struct LLVMOpaqueContext *ctx, const gr_graph *prog,
                                 const char *name, es_status *st);
/* cg_emit with flags. CG_EMIT_AOT is for a standalone predictor (codegen/aot.c):
 * matrix products become plain loops instead of cblas_sgemm calls, and a
 * CONST's buffer is written only when the CONST is a program output (kernels
 * read constants from their globals), so the caller need not allocate it. */
/* CG_EMIT_FAST is for the first tier (FastISel): the same results from code
 * that is quicker to compile, where a vector form exists only for speed (a
 * one-column gather takes its rows one at a time, not eight lanes at once,
 * which FastISel cannot select and hands to the slower selector). */
enum { CG_EMIT_AOT = 1, CG_EMIT_FAST = 2 };
struct LLVMOpaqueModule *cg_emit_ex(struct LLVMOpaqueContext *ctx, const gr_graph *prog,
                                    const char *name, int flags, es_status *st);
/* A target machine for the host CPU and its features at O2; `pic` for code
 * that goes into shared objects. NULL and st set on failure. */
struct LLVMOpaqueTargetMachine *cg_host_target_machine(int pic, es_status *st);
/* Gives m the host's triple, data layout and per-function target attributes,
 * verifies it (a failure is reported in st, never an abort) and optimises it:
 * not at all (CG_OPT_NONE), with default<O2> (CG_OPT_O2, for export) or with
 * the JIT's pass list (CG_OPT_JIT, cg_jit_pipeline). Returns 0 or -1. */
enum { CG_OPT_NONE = 0, CG_OPT_O2 = 1, CG_OPT_JIT = 2 };
/* The JIT's pass pipeline, in LLVM's textual syntax (see target.c). */
const char *cg_jit_pipeline(void);
int cg_prepare_module(struct LLVMOpaqueModule *m, struct LLVMOpaqueTargetMachine *tm, int optimize,
                      es_status *st);
/* default<O2> with loop and SLP vectorisation, interleaving and unrolling on
 * tm's target (what cg_prepare_module runs when it optimises). 0 or -1. */
int cg_run_o2(struct LLVMOpaqueModule *m, struct LLVMOpaqueTargetMachine *tm, es_status *st);

struct LLVMOpaqueBasicBlock;
struct LLVMOpaqueType;
struct LLVMOpaqueValue;

/* An alloca of type t placed before the terminator of `entry` (a function's
 * first block), where mem2reg finds it: the local variables of the emitters. */
struct LLVMOpaqueValue *cg_entry_alloca(struct LLVMOpaqueContext *ctx, struct LLVMOpaqueBasicBlock *entry,
                                        struct LLVMOpaqueType *t, const char *name);

/* ---- tiers ------------------------------------------------------------------
 * A cache miss can be served in two tiers. The fast tier (cg_fast_pipeline,
 * then LLVM's code generator at CodeGenOpt::None, i.e. FastISel and the fast
 * register allocator) has kernels ready in a fraction of the time; the
 * optimised tier is cg_jit_pipeline at the default level. Both compute the
 * same bits: the emitted IR carries no fast-math or contract flags, so no
 * pass may reassociate, contract into FMA or approximate, and the vectoriser
 * leaves float reductions in order; the library-call rewrites (pow with a
 * constant exponent) are InstCombine's, which both tiers run. Both tiers'
 * objects go into the cache; an optimised one is preferred and replaces the
 * fast one. */
enum { CG_OPT_FAST = 3 };
const char *cg_fast_pipeline(void);
enum { CG_CODEGEN_NONE = 0, CG_CODEGEN_LESS = 1, CG_CODEGEN_DEFAULT = 2 };
/* cg_host_target_machine at a code generation level (CG_CODEGEN_*). */
struct LLVMOpaqueTargetMachine *cg_host_target_machine_at(int pic, int level, es_status *st);

/* cg_jit_new, where `fast` lets a program the cache does not hold be compiled
 * by the fast tier (an optimised session is then still to be made, on another
 * thread, and its entries swapped in). */
cg_jit *cg_jit_new_tiered(gr_graph *const *progs, const char *const *names, int nprogs, int fast,
                          es_status *st);
/* How many of the session's programs run fast-tier code (0: all optimised),
 * and the seconds their fast compiles took (recorded in the cache for those
 * taken from it): what the runtime weighs an optimised compile against. */
int cg_jit_fast_programs(const cg_jit *j);
double cg_jit_fast_cost(const cg_jit *j);
/* What the object cache holds for prog: 2 an optimised object, 1 only a fast
 * tier's, 0 nothing. A cheap probe (a hash of the graph and a file test)
 * that lets a caller load several programs into one session instead of
 * compiling them in parallel ones. */
int cg_jit_cached(const gr_graph *prog, const char *name);

#endif

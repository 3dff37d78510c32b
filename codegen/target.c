/*
 * target.c — the host target and the module pipeline shared by JIT and AOT:
 * host CPU name and features, a target machine for them, and
 * cg_prepare_module (triple, data layout, per-function target attributes,
 * LLVM verifier, then the JIT's pass list or default<O2>).
 *
 * The JIT's pipeline (cg_jit_pipeline) is a hand-picked list rather than
 * default<O2>, because compiling dominates a short run: for the census
 * models LLVM took more than half of a 3-epoch `estc train`, the kernels a
 * few percent. Measured on them (docs/performance.md), the list gives
 * kernels as fast as O2's in about half the compile time:
 *   - mergefunc first: a program has many node functions with identical
 *     bodies (one optimizer update per table of the same shape...), and each
 *     distinct body is then optimised and compiled once (wide & deep's train
 *     program: 136 functions, 95 distinct);
 *   - no inliner: every node's loop nest stays a function of its own, which
 *     keeps functions small for the code generator and loses nothing, since
 *     each call does a whole batch's work;
 *   - the function passes that matter for our loops: SROA (the emitted
 *     accumulators), early CSE, InstCombine and SimplifyCFG around loop
 *     rotation, LICM and induction-variable simplification, then the loop
 *     vectoriser. default<O1>, which does not vectorise, made the dnn
 *     kernels three times slower.
 * Export (aot.c) keeps default<O2>: there compile time is paid once.
 *
 * Targeting the host explicitly matters for speed: LLVM 19 models
 * AVX-512 CPUs (e.g. rocketlake) with the "prefer-256-bit" tuning, which
 * halves vector width. Where the features include +avx512f we turn that
 * tuning off and ask for 512-bit vectors on every function.
 *
 * The only process-wide state is LLVM's own target registry, initialised
 * once, and the host's CPU name and feature string, computed once and
 * immutable after (pthread_once), so cg_host_cpu can hand out a plain
 * const char *.
 */
#include "codegen.h"

#include <llvm-c/Analysis.h>
#include <llvm-c/Core.h>
#include <llvm-c/Target.h>
#include <llvm-c/TargetMachine.h>
#include <llvm-c/Transforms/PassBuilder.h>

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

typedef struct cg_host {
    int ok;
    char *triple, *cpu, *features;
    int avx512;
    char error[256];
} cg_host;

static cg_host host_info;
static pthread_once_t host_once = PTHREAD_ONCE_INIT;

/* "+avx512f" as a whole item of the comma-separated feature list */
static int has_feature(const char *list, const char *feat)
{
    size_t n = strlen(feat);
    for (const char *p = list; (p = strstr(p, feat)) != NULL; p += n)
        if ((p == list || p[-1] == ',') && (p[n] == ',' || p[n] == 0)) return 1;
    return 0;
}

static void host_init(void)
{
    cg_host *h = &host_info;
    if (LLVMInitializeNativeTarget() || LLVMInitializeNativeAsmPrinter()) {
        snprintf(h->error, sizeof h->error, "LLVM has no native target for this machine");
        return;
    }
    h->triple = LLVMGetDefaultTargetTriple();
    h->cpu = LLVMGetHostCPUName();
    char *feats = LLVMGetHostCPUFeatures();
    h->avx512 = has_feature(feats, "+avx512f");
    /* the features as passed to the target: host features, and on AVX-512
     * machines the 256-bit preference switched off */
    size_t n = strlen(feats) + 32;
    h->features = malloc(n);
    if (!h->features) abort();
    snprintf(h->features, n, "%s%s", feats, h->avx512 ? ",-prefer-256-bit" : "");
    LLVMDisposeMessage(feats);
    h->ok = 1;
}

static const cg_host *host(void)
{
    pthread_once(&host_once, host_init);
    return &host_info;
}

const char *cg_host_cpu(void) { return host()->ok ? host()->cpu : "unknown"; }
const char *cg_host_features(void) { return host()->ok ? host()->features : ""; }

LLVMTargetMachineRef cg_host_target_machine(int pic, es_status *st)
{
    return cg_host_target_machine_at(pic, CG_CODEGEN_DEFAULT, st);
}

LLVMTargetMachineRef cg_host_target_machine_at(int pic, int level, es_status *st)
{
    const cg_host *h = host();
    if (!h->ok) { es_fail(st, ES_ECOMPILE, "codegen: %s", h->error); return NULL; }
    LLVMTargetRef t;
    char *err = NULL;
    if (LLVMGetTargetFromTriple(h->triple, &t, &err)) {
        es_fail(st, ES_ECOMPILE, "codegen: no LLVM target for %s: %s", h->triple, err ? err : "?");
        LLVMDisposeMessage(err);
        return NULL;
    }
    LLVMTargetMachineRef tm = LLVMCreateTargetMachine(t, h->triple, h->cpu, h->features,
                                                      level == CG_CODEGEN_NONE   ? LLVMCodeGenLevelNone
                                                      : level == CG_CODEGEN_LESS ? LLVMCodeGenLevelLess
                                                                                 : LLVMCodeGenLevelDefault,
                                                      pic ? LLVMRelocPIC : LLVMRelocDefault,
                                                      pic ? LLVMCodeModelDefault : LLVMCodeModelJITDefault);
    if (!tm) es_fail(st, ES_ECOMPILE, "codegen: cannot create a target machine for %s (%s)", h->triple, h->cpu);
    return tm;
}

static void set_str_attr(LLVMContextRef ctx, LLVMValueRef f, const char *k, const char *v)
{
    LLVMAddAttributeAtIndex(f, LLVMAttributeFunctionIndex,
                            LLVMCreateStringAttribute(ctx, k, (unsigned)strlen(k), v, (unsigned)strlen(v)));
}

const char *cg_jit_pipeline(void)
{
    return "mergefunc,function(sroa,early-cse<memssa>,simplifycfg,instcombine<no-verify-fixpoint>,"
           "loop-simplify,lcssa,loop-rotate,loop-mssa(licm),indvars,loop-vectorize,"
           "instcombine<no-verify-fixpoint>,simplifycfg)";
}

/* The first tier's list: only what makes the fast code generator's input
 * small (mergefunc; SROA turns the emitted accumulators into registers) and
 * the exact rewrites InstCombine makes whatever the tier. See cg_fast_pipeline
 * in codegen.h for why the two tiers compute the same bits. */
const char *cg_fast_pipeline(void)
{
    return "mergefunc,function(sroa,early-cse<memssa>,instcombine<no-verify-fixpoint>)";
}

static int run_passes(LLVMModuleRef m, LLVMTargetMachineRef tm, const char *pipeline, es_status *st)
{
    LLVMPassBuilderOptionsRef opts = LLVMCreatePassBuilderOptions();
    LLVMPassBuilderOptionsSetLoopVectorization(opts, 1);
    LLVMPassBuilderOptionsSetSLPVectorization(opts, 1);
    LLVMPassBuilderOptionsSetLoopInterleaving(opts, 1);
    LLVMPassBuilderOptionsSetLoopUnrolling(opts, 1);
    LLVMErrorRef err = LLVMRunPasses(m, pipeline, tm, opts);
    LLVMDisposePassBuilderOptions(opts);
    if (err) {
        char *em = LLVMGetErrorMessage(err);
        es_fail(st, ES_ECOMPILE, "codegen: optimisation failed: %s", em);
        LLVMDisposeErrorMessage(em);
        return -1;
    }
    return 0;
}

int cg_prepare_module(LLVMModuleRef m, LLVMTargetMachineRef tm, int optimize, es_status *st)
{
    const cg_host *h = host();
    LLVMContextRef ctx = LLVMGetModuleContext(m);
    char *triple = LLVMGetTargetMachineTriple(tm);
    LLVMSetTarget(m, triple);
    LLVMDisposeMessage(triple);
    LLVMTargetDataRef dl = LLVMCreateTargetDataLayout(tm);
    LLVMSetModuleDataLayout(m, dl);
    LLVMDisposeTargetData(dl);
    /* per function, as clang does: the target the optimiser's cost models see */
    char *cpu = LLVMGetTargetMachineCPU(tm), *feats = LLVMGetTargetMachineFeatureString(tm);
    for (LLVMValueRef f = LLVMGetFirstFunction(m); f; f = LLVMGetNextFunction(f)) {
        if (LLVMIsDeclaration(f)) continue;
        set_str_attr(ctx, f, "target-cpu", cpu);
        set_str_attr(ctx, f, "target-features", feats);
        if (h->ok && h->avx512) {
            set_str_attr(ctx, f, "prefer-vector-width", "512");
            set_str_attr(ctx, f, "min-legal-vector-width", "512");
        }
    }
    LLVMDisposeMessage(cpu);
    LLVMDisposeMessage(feats);

    char *msg = NULL;
    if (LLVMVerifyModule(m, LLVMReturnStatusAction, &msg)) {
        size_t len;
        const char *name = LLVMGetModuleIdentifier(m, &len);
        es_fail(st, ES_ECOMPILE, "codegen: module '%.*s' fails LLVM verification: %s", (int)len, name,
                msg ? msg : "(no message)");
        LLVMDisposeMessage(msg);
        return -1;
    }
    LLVMDisposeMessage(msg);
    if (optimize == CG_OPT_NONE) return 0;
    if (optimize == CG_OPT_FAST) return run_passes(m, tm, cg_fast_pipeline(), st);
    return optimize == CG_OPT_JIT ? run_passes(m, tm, cg_jit_pipeline(), st) : cg_run_o2(m, tm, st);
}

int cg_run_o2(LLVMModuleRef m, LLVMTargetMachineRef tm, es_status *st)
{
    return run_passes(m, tm, "default<O2>", st);
}

LLVMValueRef cg_entry_alloca(LLVMContextRef ctx, LLVMBasicBlockRef entry, LLVMTypeRef t, const char *name)
{
    LLVMBuilderRef ab = LLVMCreateBuilderInContext(ctx);
    LLVMPositionBuilderBefore(ab, LLVMGetBasicBlockTerminator(entry));
    LLVMValueRef v = LLVMBuildAlloca(ab, t, name);
    LLVMDisposeBuilder(ab);
    return v;
}

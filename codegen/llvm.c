/*
 * llvm.c — the JIT's LLVM half (backend.h): a session's context and target
 * machines, emitting or parsing a module, hashing its bitcode, optimising
 * and compiling it to an object; and the table through which jit.c and the
 * estc command reach it, with the IR text, export and identifier functions.
 *
 * The target machines are made on the first compile of their tier: the
 * optimiser's view of the host, and one object emitter per tier (position
 * independent, small code model: what objload.c loads).
 */
#include "backend.h"
#include "prep.h"

#include <llvm-c/BitWriter.h>
#include <llvm-c/Core.h>
#include <llvm-c/IRReader.h>
#include <llvm-c/TargetMachine.h>

#include <stdlib.h>
#include <string.h>

struct cg_llvm {
    LLVMContextRef ctx;
    LLVMTargetMachineRef tm;     /* the optimiser's view of the host */
    LLVMTargetMachineRef objtm;  /* emits the optimised tier's objects */
    LLVMTargetMachineRef fasttm; /* the fast tier's emitter (CodeGenOpt::None) */
};

static cg_llvm *llvm_open(void)
{
    cg_llvm *l = es_xcalloc(1, sizeof *l);
    l->ctx = LLVMContextCreate();
    /* value names only serve readers of the IR text (cg_module_text uses a
     * context of its own); without them emission, the cache key and the
     * optimiser all do less work */
    LLVMContextSetDiscardValueNames(l->ctx, 1);
    return l;
}

static void llvm_close(cg_llvm *l)
{
    if (!l) return;
    if (l->tm) LLVMDisposeTargetMachine(l->tm);
    if (l->objtm) LLVMDisposeTargetMachine(l->objtm);
    if (l->fasttm) LLVMDisposeTargetMachine(l->fasttm);
    LLVMContextDispose(l->ctx);
    free(l);
}

static void *llvm_emit(cg_llvm *l, const gr_graph *prog, const char *name, int fast, es_status *st)
{
    return cg_emit_ex(l->ctx, prog, name, fast ? CG_EMIT_FAST : 0, st);
}

static void *llvm_parse_ir(cg_llvm *l, const char *text, es_status *st)
{
    LLVMMemoryBufferRef buf = LLVMCreateMemoryBufferWithMemoryRangeCopy(text, strlen(text), "ir");
    LLVMModuleRef m = NULL;
    char *msg = NULL;
    /* the IR parser needs names (its text refers to values by name) */
    LLVMContextSetDiscardValueNames(l->ctx, 0);
    int bad = LLVMParseIRInContext(l->ctx, buf, &m, &msg);   /* consumes buf */
    LLVMContextSetDiscardValueNames(l->ctx, 1);
    if (bad) {
        es_fail(st, ES_ECOMPILE, "codegen: cannot parse IR: %s", msg ? msg : "?");
        LLVMDisposeMessage(msg);
        return NULL;
    }
    return m;
}

/* The IR is hashed as bitcode, which LLVM writes several times faster than
 * the text form and which holds the same module. */
static uint64_t llvm_module_hash(void *m)
{
    LLVMMemoryBufferRef bc = LLVMWriteBitcodeToMemoryBuffer(m);
    uint64_t h = es_hash64(LLVMGetBufferStart(bc), LLVMGetBufferSize(bc), 0);
    LLVMDisposeMemoryBuffer(bc);
    return h;
}

static int llvm_compile(cg_llvm *l, void *module, int fast, cg_object *out, es_status *st)
{
    LLVMModuleRef m = module;
    LLVMTargetMachineRef *emitter = fast ? &l->fasttm : &l->objtm;
    if ((!l->tm && !(l->tm = cg_host_target_machine(0, st))) ||
        (!*emitter && !(*emitter = cg_host_target_machine_at(1, fast ? CG_CODEGEN_NONE : CG_CODEGEN_DEFAULT, st))))
        return -1;
    double t = es_now();
    if (cg_prepare_module(m, l->tm, fast ? CG_OPT_FAST : CG_OPT_JIT, st) != 0) return -1;
    double t1 = es_now();
    out->optimize = t1 - t;
    char *msg = NULL;
    LLVMMemoryBufferRef obj = NULL;
    if (LLVMTargetMachineEmitToMemoryBuffer(*emitter, m, LLVMObjectFile, &msg, &obj)) {
        es_fail(st, ES_ECOMPILE, "codegen: cannot emit machine code: %s", msg ? msg : "?");
        LLVMDisposeMessage(msg);
        return -1;
    }
    out->size = LLVMGetBufferSize(obj);
    out->data = es_xmalloc(out->size ? out->size : 1);
    memcpy(out->data, LLVMGetBufferStart(obj), out->size);
    LLVMDisposeMemoryBuffer(obj);
    out->codegen = es_now() - t1;
    return 0;
}

static void llvm_dispose(void *m) { LLVMDisposeModule(m); }

char *cg_module_text(gr_graph *prog, const char *name, int optimized, es_status *st)
{
    LLVMTargetMachineRef tm = cg_host_target_machine(0, st);
    if (!tm) return NULL;
    LLVMContextRef ctx = LLVMContextCreate();
    char *text = NULL;
    LLVMModuleRef m = cg_emit(ctx, prog, name, st);
    if (m && cg_prepare_module(m, tm, optimized ? CG_OPT_JIT : CG_OPT_NONE, st) == 0) {
        char *s = LLVMPrintModuleToString(m);
        text = es_xstrdup(s);
        LLVMDisposeMessage(s);
    }
    if (m) LLVMDisposeModule(m);
    LLVMContextDispose(ctx);
    LLVMDisposeTargetMachine(tm);
    return text;
}

static const cg_backend backend = {
    .version = CG_BACKEND_VERSION,
    .size = sizeof(cg_backend),
    .open = llvm_open,
    .close = llvm_close,
    .emit = llvm_emit,
    .parse_ir = llvm_parse_ir,
    .module_hash = llvm_module_hash,
    .compile = llvm_compile,
    .dispose = llvm_dispose,
    .module_text = cg_module_text,
    .aot_compile = cg_aot_compile,
    .aot_out_free = cg_aot_out_free,
    .c_ident = cg_prep_c_ident,
};

const cg_backend *estc_llvm_backend(void) { return &backend; }

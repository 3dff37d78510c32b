/*
 * emit.c — one LLVM module per bound graph program (cg_emit).
 *
 * Shape of the module: one exported entry
 *     void <name>(ptr bufs, i64 B)
 * that, in node order, loads each node's buffer pointer from bufs[node.buf]
 * and calls one internal function per node:
 *     void <name>.n<id>.<op>(ptr noalias out, ptr in0, ..., i64 B)
 * (APPLY_* and ASSIGN_EMA nodes have no out: their first pointers are the
 * variable and its slots, written in place). CONST values are private
 * constant globals; a consumer reads the global directly (so O2 folds scalar
 * constants into the loops) and the entry also copies them into the CONST's
 * own buffer, so every buffer ends up holding what the reference evaluator
 * (graph/eval.c) puts there. The op semantics are ops.def's; eval.c is the
 * oracle the tests hold this file to.
 *
 * Invariants relied on: the program went through gr_bind (every node that
 * holds data has a buffer slot) and gr_infer (shapes are consistent); dims
 * are static except GR_BATCH, which is the runtime B. A pointer parameter is
 * marked noalias unless another parameter of the same call is bound to the
 * same buffer, so a future memory planner that shares buffers stays correct.
 *
 * Loops are plain top-tested basic-block loops with phi induction variables
 * over contiguous memory (the last dimension of every operand has stride 1
 * or 0), which is what the O2 loop vectoriser wants. Accumulators live in
 * memory (the output, or allocas that mem2reg promotes); float math keeps
 * strict IEEE semantics (no fast-math), so results match the reference to a
 * few ulps (FTRL's update runs in double, see apply_elem). Any B >= 0 works,
 * including an empty batch. Sparse optimizer updates sum the rows of
 * duplicate ids: for a small table in sums indexed by the id, zero-initialised
 * globals of the node's own that every call leaves zero again (so a train
 * program's entry is not reentrant: one thread steps a model at a time); for
 * a large one in per-call scratch (on the stack when small) through a hash
 * table sized by the number of ids (never by the table's row count), so a
 * million-row table costs only its touched rows (emit_sparse_apply).
 *
 * cg_emit_ex(CG_EMIT_AOT) serves the ahead-of-time predictor (aot.c): matrix
 * products are loops rather than cblas_sgemm calls, and CONSTs that are not
 * outputs are never copied into buffers. A predict program then calls nothing
 * but libm and memset/memcpy.
 */
#include "codegen.h"

#include <llvm-c/Core.h>

#include <assert.h>
#include <stdlib.h>
#include <string.h>

typedef struct cg_emitter {
    LLVMContextRef ctx;
    LLVMModuleRef mod;
    LLVMBuilderRef b;
    const gr_graph *g;
    const char *name;            /* entry symbol; prefix of everything internal */
    int flags;                   /* CG_EMIT_* */
    LLVMTypeRef f32, f64, i1, i8, i32, i64, ptr, vd;
    LLVMValueRef *consts;        /* per node: the global of a CONST, else NULL */

    /* the function being emitted */
    LLVMValueRef fn;
    LLVMValueRef B;              /* its batch-size argument */
    LLVMValueRef *arg;           /* its pointer arguments */
    LLVMBasicBlockRef allocas;   /* entry block holding allocas only */
} cg_emitter;

/* ---- small builders --------------------------------------------------------- */

static LLVMValueRef ci(cg_emitter *e, int64_t v) { return LLVMConstInt(e->i64, (unsigned long long)v, 1); }
static LLVMValueRef ci32(cg_emitter *e, int32_t v) { return LLVMConstInt(e->i32, (unsigned long long)(int64_t)v, 1); }
static LLVMValueRef cf(cg_emitter *e, double v) { return LLVMConstReal(e->f32, v); }

/* a dimension as an i64 value: static, or the runtime batch size */
static LLVMValueRef dimv(cg_emitter *e, int64_t d) { return d == GR_BATCH ? e->B : ci(e, d); }

/* is v the integer constant k? (index arithmetic skips x*0, x*1, x+0, so
 * the unoptimised IR of `estc graph --llvm` stays readable) */
static int is_const(LLVMValueRef v, long long k)
{
    return LLVMIsAConstantInt(v) && LLVMConstIntGetSExtValue(v) == k;
}

static LLVMValueRef mul(cg_emitter *e, LLVMValueRef a, LLVMValueRef b)
{
    if (is_const(a, 0) || is_const(b, 1)) return a;
    if (is_const(b, 0) || is_const(a, 1)) return b;
    return LLVMBuildNSWMul(e->b, a, b, "");
}

static LLVMValueRef add(cg_emitter *e, LLVMValueRef a, LLVMValueRef b)
{
    if (is_const(a, 0)) return b;
    if (is_const(b, 0)) return a;
    return LLVMBuildNSWAdd(e->b, a, b, "");
}

/* product of dims [from, to) of s */
static LLVMValueRef dims_prod(cg_emitter *e, gr_shape s, int from, int to)
{
    LLVMValueRef p = ci(e, 1);
    for (int i = from; i < to; i++) p = mul(e, p, dimv(e, s.d[i]));
    return p;
}

static LLVMValueRef numel(cg_emitter *e, gr_shape s) { return dims_prod(e, s, 0, s.rank); }

static LLVMTypeRef elem_type(cg_emitter *e, gr_dtype t) { return t == GR_I32 ? e->i32 : e->f32; }

static LLVMValueRef gep(cg_emitter *e, LLVMTypeRef t, LLVMValueRef base, LLVMValueRef idx)
{
    return LLVMBuildInBoundsGEP2(e->b, t, base, &idx, 1, "");
}

static LLVMValueRef ld(cg_emitter *e, LLVMTypeRef t, LLVMValueRef base, LLVMValueRef idx)
{
    return LLVMBuildLoad2(e->b, t, gep(e, t, base, idx), "");
}

static void put(cg_emitter *e, LLVMValueRef v, LLVMValueRef base, LLVMValueRef idx)
{
    LLVMBuildStore(e->b, v, gep(e, LLVMTypeOf(v), base, idx));
}

static LLVMValueRef ldf(cg_emitter *e, LLVMValueRef base, LLVMValueRef idx) { return ld(e, e->f32, base, idx); }

/* base[idx] += v (f32) */
static void accum(cg_emitter *e, LLVMValueRef base, LLVMValueRef idx, LLVMValueRef v)
{
    LLVMValueRef p = gep(e, e->f32, base, idx);
    LLVMBuildStore(e->b, LLVMBuildFAdd(e->b, LLVMBuildLoad2(e->b, e->f32, p, ""), v, ""), p);
}

static void zero_fill(cg_emitter *e, LLVMValueRef p, LLVMValueRef nelem)
{
    LLVMBuildMemSet(e->b, p, LLVMConstInt(e->i8, 0, 0), mul(e, nelem, ci(e, 4)), 4);
}

/* an alloca in the function's entry block, where mem2reg looks for them */
static LLVMValueRef local(cg_emitter *e, LLVMTypeRef t, const char *name)
{
    return cg_entry_alloca(e->ctx, e->allocas, t, name);
}

static LLVMValueRef get(cg_emitter *e, LLVMValueRef var) { return LLVMBuildLoad2(e->b, LLVMGetAllocatedType(var), var, ""); }
static void set(cg_emitter *e, LLVMValueRef var, LLVMValueRef v) { LLVMBuildStore(e->b, v, var); }

/* ---- control flow ----------------------------------------------------------- */

typedef struct cg_loop { LLVMBasicBlockRef head, exit; LLVMValueRef iv; } cg_loop;

/* for (i = 0; i < n; i++) { ...: returns i; the body goes where the builder is */
static LLVMValueRef loop_begin(cg_emitter *e, cg_loop *l, LLVMValueRef n, const char *name)
{
    LLVMBasicBlockRef pre = LLVMGetInsertBlock(e->b);
    l->head = LLVMAppendBasicBlockInContext(e->ctx, e->fn, name);
    LLVMBasicBlockRef body = LLVMAppendBasicBlockInContext(e->ctx, e->fn, "body");
    l->exit = LLVMAppendBasicBlockInContext(e->ctx, e->fn, "done");
    LLVMBuildBr(e->b, l->head);
    LLVMPositionBuilderAtEnd(e->b, l->head);
    l->iv = LLVMBuildPhi(e->b, e->i64, name);
    LLVMValueRef zero = ci(e, 0);
    LLVMAddIncoming(l->iv, &zero, &pre, 1);
    LLVMBuildCondBr(e->b, LLVMBuildICmp(e->b, LLVMIntSLT, l->iv, n, ""), body, l->exit);
    LLVMPositionBuilderAtEnd(e->b, body);
    return l->iv;
}

/* } — the block the builder is in becomes the latch */
static void loop_end(cg_emitter *e, cg_loop *l)
{
    LLVMValueRef next = LLVMBuildNSWAdd(e->b, l->iv, ci(e, 1), "");
    LLVMBasicBlockRef latch = LLVMGetInsertBlock(e->b);
    LLVMAddIncoming(l->iv, &next, &latch, 1);
    LLVMBuildBr(e->b, l->head);
    LLVMPositionBuilderAtEnd(e->b, l->exit);
}

typedef struct cg_if { LLVMBasicBlockRef cont; } cg_if;

static void if_begin(cg_emitter *e, cg_if *f, LLVMValueRef cond)
{
    LLVMBasicBlockRef then = LLVMAppendBasicBlockInContext(e->ctx, e->fn, "then");
    f->cont = LLVMAppendBasicBlockInContext(e->ctx, e->fn, "endif");
    LLVMBuildCondBr(e->b, cond, then, f->cont);
    LLVMPositionBuilderAtEnd(e->b, then);
}

static void if_end(cg_emitter *e, cg_if *f)
{
    LLVMBuildBr(e->b, f->cont);
    LLVMPositionBuilderAtEnd(e->b, f->cont);
}

/* 0 <= id < n, for an i32 id and i64 n */
static LLVMValueRef id_valid(cg_emitter *e, LLVMValueRef id32, LLVMValueRef n)
{
    LLVMValueRef id = LLVMBuildSExt(e->b, id32, e->i64, "");
    /* one unsigned compare covers both bounds: a negative id is huge unsigned */
    return LLVMBuildICmp(e->b, LLVMIntULT, id, n, "");
}

/* ---- calls ------------------------------------------------------------------ */

static LLVMValueRef intrinsic(cg_emitter *e, const char *name, LLVMTypeRef t, LLVMValueRef *args, int n)
{
    unsigned id = LLVMLookupIntrinsicID(name, strlen(name));
    assert(id != 0);
    LLVMValueRef f = LLVMGetIntrinsicDeclaration(e->mod, id, &t, 1);
    LLVMTypeRef ft = LLVMIntrinsicGetType(e->ctx, id, &t, 1);
    return LLVMBuildCall2(e->b, ft, f, args, (unsigned)n, "");
}

static LLVMValueRef intr1(cg_emitter *e, const char *name, LLVMValueRef x)
{
    return intrinsic(e, name, LLVMTypeOf(x), &x, 1);
}

static LLVMValueRef intr2(cg_emitter *e, const char *name, LLVMValueRef x, LLVMValueRef y)
{
    LLVMValueRef a[2] = { x, y };
    return intrinsic(e, name, LLVMTypeOf(x), a, 2);
}

static void add_fn_attr(cg_emitter *e, LLVMValueRef f, const char *kind, uint64_t val)
{
    unsigned k = LLVMGetEnumAttributeKindForName(kind, strlen(kind));
    assert(k != 0);
    LLVMAddAttributeAtIndex(f, LLVMAttributeFunctionIndex, LLVMCreateEnumAttribute(e->ctx, k, val));
}

/* An external C function, declared once per module. `pure` declares it
 * memory(none): true of the libm functions for the arguments used here (no
 * domain errors are possible, so errno is never written), and it lets loops
 * that call them be hoisted and vectorised around. */
static LLVMValueRef extern_fn(cg_emitter *e, const char *name, LLVMTypeRef ft, int pure)
{
    LLVMValueRef f = LLVMGetNamedFunction(e->mod, name);
    if (f) return f;
    f = LLVMAddFunction(e->mod, name, ft);
    add_fn_attr(e, f, "nounwind", 0);
    if (pure) {
        add_fn_attr(e, f, "willreturn", 0);
        add_fn_attr(e, f, "memory", 0);   /* MemoryEffects::none() */
    }
    return f;
}

static LLVMValueRef call(cg_emitter *e, const char *name, LLVMTypeRef ret, LLVMTypeRef *pt,
                         LLVMValueRef *args, int n, int pure)
{
    LLVMTypeRef ft = LLVMFunctionType(ret, pt, (unsigned)n, 0);
    LLVMValueRef f = extern_fn(e, name, ft, pure);
    return LLVMBuildCall2(e->b, ft, f, args, (unsigned)n, "");
}

static LLVMValueRef libm1(cg_emitter *e, const char *name, LLVMValueRef x)
{
    return call(e, name, e->f32, &e->f32, &x, 1, 1);
}

static LLVMValueRef fexp(cg_emitter *e, LLVMValueRef x) { return intr1(e, "llvm.exp", x); }
static LLVMValueRef flog(cg_emitter *e, LLVMValueRef x) { return intr1(e, "llvm.log", x); }
static LLVMValueRef fsqrt(cg_emitter *e, LLVMValueRef x) { return intr1(e, "llvm.sqrt", x); }
static LLVMValueRef fabs_(cg_emitter *e, LLVMValueRef x) { return intr1(e, "llvm.fabs", x); }

/* a > b ? a : b: the reference's comparison (it differs from maxnum only on
 * NaN) and what x86 max computes */
static LLVMValueRef fmax_(cg_emitter *e, LLVMValueRef a, LLVMValueRef b)
{
    return LLVMBuildSelect(e->b, LLVMBuildFCmp(e->b, LLVMRealOGT, a, b, ""), a, b, "");
}

/* an i1 as f32 1.0 / 0.0 */
static LLVMValueRef flag(cg_emitter *e, LLVMValueRef c) { return LLVMBuildSelect(e->b, c, cf(e, 1), cf(e, 0), ""); }

/* exp(x) - 1 without cancellation for small |x| (Kahan's trick): with u =
 * exp(x) rounded, (u - 1) * x / log(u) divides out the rounding of u. Built
 * from the exp and log every kernel may call rather than libm's expm1f, so the
 * JIT needs no new symbol. */
static LLVMValueRef expm1_(cg_emitter *e, LLVMValueRef x)
{
    LLVMBuilderRef b = e->b;
    LLVMValueRef u = fexp(e, x), um1 = LLVMBuildFSub(b, u, cf(e, 1), "");
    LLVMValueRef q = LLVMBuildFDiv(b, LLVMBuildFMul(b, um1, x, ""), flog(e, u), "");
    /* u == 1: x is below the rounding of exp, and expm1(x) = x; u - 1 == -1
     * (x < -17): -1, and u may be denormal, where log(u) is too coarse for
     * the trick; u == inf: inf (q would be inf/inf) */
    q = LLVMBuildSelect(b, LLVMBuildFCmp(b, LLVMRealOEQ, u, cf(e, 1), ""), x, q, "");
    q = LLVMBuildSelect(b, LLVMBuildFCmp(b, LLVMRealOEQ, um1, cf(e, -1), ""), cf(e, -1), q, "");
    return LLVMBuildSelect(b, LLVMBuildFCmp(b, LLVMRealOEQ, u, LLVMConstReal(e->f32, __builtin_inf()), ""), u, q, "");
}

/* ---- exp and log1p as inline f32 arithmetic ---------------------------------
 * The losses and sigmoids run exp and log1p once per example; as calls to
 * libm they are scalar calls the loop vectoriser cannot widen, and they were
 * the largest single cost of a linear model's step. These forms are plain
 * f32 arithmetic, compares, selects and integer bit moves, with no branch and
 * no call, so the loop around them vectorises; with no fast-math flag they
 * round the same way in every tier and on every vector width. Accuracy: a
 * few ulp against the double-precision functions (test_codegen measures it
 * over the whole f32 range, denormal results, infinities and NaN included). */

static LLVMValueRef fbits(cg_emitter *e, LLVMValueRef x) { return LLVMBuildBitCast(e->b, x, e->i32, ""); }

/* 2^n for an i32 n in [-126, 127], built in the exponent field */
static LLVMValueRef pow2i(cg_emitter *e, LLVMValueRef n)
{
    LLVMValueRef bits = LLVMBuildShl(e->b, LLVMBuildAdd(e->b, n, ci32(e, 127), ""), ci32(e, 23), "");
    return LLVMBuildBitCast(e->b, bits, e->f32, "");
}

/* exp(x): n = round(x / ln 2) by the 1.5 * 2^23 trick, r = x - n ln 2 in two
 * parts (Cody and Waite: n * C1 is exact for |n| < 2^15), exp(r) by its
 * Taylor series to r^7 (|r| <= ln 2 / 2: truncation below 1e-8), times 2^n
 * in two factors so that results down to the smallest denormal and up to
 * overflow round once. x is clamped to [-104, 89] first, which keeps n in
 * [-150, 128] and changes no result (exp(-104) rounds to 0, exp(89) to inf);
 * a NaN fails both compares and stays NaN. */
static LLVMValueRef exp_f32(cg_emitter *e, LLVMValueRef x)
{
    LLVMBuilderRef b = e->b;
    const double magic = 12582912.0;   /* 1.5 * 2^23 */
    x = LLVMBuildSelect(b, LLVMBuildFCmp(b, LLVMRealOLT, x, cf(e, -104), ""), cf(e, -104), x, "");
    x = LLVMBuildSelect(b, LLVMBuildFCmp(b, LLVMRealOGT, x, cf(e, 89), ""), cf(e, 89), x, "");
    LLVMValueRef kf = LLVMBuildFAdd(b, LLVMBuildFMul(b, x, cf(e, 1.4426950408889634), ""), cf(e, magic), "");
    LLVMValueRef n = LLVMBuildSub(b, fbits(e, kf), fbits(e, cf(e, magic)), "");
    LLVMValueRef nf = LLVMBuildFSub(b, kf, cf(e, magic), "");
    LLVMValueRef r = LLVMBuildFSub(b, x, LLVMBuildFMul(b, nf, cf(e, 0.693359375), ""), "");
    r = LLVMBuildFSub(b, r, LLVMBuildFMul(b, nf, cf(e, -2.12194440054690583e-4), ""), "");
    /* q = 1/2! + r/3! + ... + r^5/7!, exp(r) = 1 + (r + r^2 q) */
    static const double inv_fact[] = { 1.0 / 5040, 1.0 / 720, 1.0 / 120, 1.0 / 24, 1.0 / 6, 1.0 / 2 };
    LLVMValueRef q = cf(e, inv_fact[0]);
    for (size_t i = 1; i < ES_ARRAY_LEN(inv_fact); i++)
        q = LLVMBuildFAdd(b, LLVMBuildFMul(b, q, r, ""), cf(e, inv_fact[i]), "");
    LLVMValueRef p = LLVMBuildFAdd(b, r, LLVMBuildFMul(b, LLVMBuildFMul(b, r, r, ""), q, ""), "");
    p = LLVMBuildFAdd(b, cf(e, 1), p, "");
    LLVMValueRef n1 = LLVMBuildAShr(b, n, ci32(e, 1), ""), n2 = LLVMBuildSub(b, n, n1, "");
    return LLVMBuildFMul(b, LLVMBuildFMul(b, p, pow2i(e, n1), ""), pow2i(e, n2), "");
}

/* log1p(t) for t in [0, 1] (or NaN): with s = t / (2 + t) in [0, 1/3],
 * log1p(t) = 2 atanh(s) = 2s + s * (2s^2/3 + 2s^4/5 + ... + 2s^14/15); the
 * first term left out, 2s^17/17, is below 2e-9 of the result. Exact at 0,
 * and t for a tiny t. */
static LLVMValueRef log1p_unit(cg_emitter *e, LLVMValueRef t)
{
    LLVMBuilderRef b = e->b;
    LLVMValueRef s = LLVMBuildFDiv(b, t, LLVMBuildFAdd(b, cf(e, 2), t, ""), "");
    LLVMValueRef z = LLVMBuildFMul(b, s, s, "");
    LLVMValueRef q = cf(e, 2.0 / 15);
    for (int k = 13; k >= 3; k -= 2) q = LLVMBuildFAdd(b, LLVMBuildFMul(b, q, z, ""), cf(e, 2.0 / k), "");
    LLVMValueRef tail = LLVMBuildFMul(b, s, LLVMBuildFMul(b, z, q, ""), "");
    return LLVMBuildFAdd(b, LLVMBuildFAdd(b, s, s, ""), tail, "");
}

/* log(1 + exp(-|x|)): the tail shared by softplus and sigmoid_xent */
static LLVMValueRef log1p_exp_neg_abs(cg_emitter *e, LLVMValueRef x)
{
    return log1p_unit(e, exp_f32(e, LLVMBuildFNeg(e->b, fabs_(e, x), "")));
}

static LLVMValueRef heap_alloc(cg_emitter *e, LLVMValueRef bytes, int zeroed)
{
    LLVMValueRef p;
    if (zeroed) {
        LLVMTypeRef pt[2] = { e->i64, e->i64 };
        LLVMValueRef a[2] = { bytes, ci(e, 1) };
        p = call(e, "calloc", e->ptr, pt, a, 2, 0);
    } else {
        p = call(e, "malloc", e->ptr, &e->i64, &bytes, 1, 0);
    }
    /* out of memory is an invariant failure, as in es_xmalloc: stop here
     * rather than write through NULL */
    cg_if f;
    if_begin(e, &f, LLVMBuildIsNull(e->b, p, ""));
    call(e, "abort", e->vd, NULL, NULL, 0, 0);
    if_end(e, &f);
    return p;
}

static void heap_free(cg_emitter *e, LLVMValueRef p) { call(e, "free", e->vd, &e->ptr, &p, 1, 0); }

/* Per-call scratch of `bytes` (uninitialised, 16-byte aligned): on the stack
 * up to CG_STACK_SCRATCH bytes, else from the heap. A train step of a sparse
 * model calls this once per sparse update, and malloc + free cost more than
 * the update of a small batch itself. The block is released when the
 * function returns (scratch_free frees only a heap block); callers sit in no
 * loop, so the stack grows once per call. *on_heap is the i1 to pass on. */
#define CG_STACK_SCRATCH 32768
static LLVMValueRef scratch_alloc(cg_emitter *e, LLVMValueRef bytes, LLVMValueRef *on_heap)
{
    LLVMBuilderRef b = e->b;
    *on_heap = LLVMBuildICmp(b, LLVMIntUGT, bytes, ci(e, CG_STACK_SCRATCH), "on_heap");
    LLVMBasicBlockRef stack = LLVMAppendBasicBlockInContext(e->ctx, e->fn, "scratch.stack");
    LLVMBasicBlockRef heap = LLVMAppendBasicBlockInContext(e->ctx, e->fn, "scratch.heap");
    LLVMBasicBlockRef join = LLVMAppendBasicBlockInContext(e->ctx, e->fn, "scratch.done");
    LLVMBuildCondBr(b, *on_heap, heap, stack);
    LLVMPositionBuilderAtEnd(b, stack);
    LLVMValueRef sp = LLVMBuildArrayAlloca(b, e->i8, bytes, "scratch");
    LLVMSetAlignment(sp, 16);
    LLVMBuildBr(b, join);
    LLVMPositionBuilderAtEnd(b, heap);
    LLVMValueRef hp = heap_alloc(e, bytes, 0);
    LLVMBasicBlockRef heap_end = LLVMGetInsertBlock(b);
    LLVMBuildBr(b, join);
    LLVMPositionBuilderAtEnd(b, join);
    LLVMValueRef p = LLVMBuildPhi(b, e->ptr, "scratch");
    LLVMValueRef v[2] = { sp, hp };
    LLVMBasicBlockRef from[2] = { stack, heap_end };
    LLVMAddIncoming(p, v, from, 2);
    return p;
}

static void scratch_free(cg_emitter *e, LLVMValueRef p, LLVMValueRef on_heap)
{
    cg_if f;
    if_begin(e, &f, on_heap);
    heap_free(e, p);
    if_end(e, &f);
}

/* n bytes rounded up to a multiple of 16 */
static LLVMValueRef round16(cg_emitter *e, LLVMValueRef n)
{
    return LLVMBuildAnd(e->b, add(e, n, ci(e, 15)), ci(e, ~(int64_t)15), "");
}

/* ---- elementwise ------------------------------------------------------------ */

/* The scalar rule of an elementwise op (x, y: f32 values, or x: i32 for
 * CAST_F32). Ops that are not elementwise return NULL. */
static LLVMValueRef scalar_op(cg_emitter *e, const gr_node *n, LLVMValueRef x, LLVMValueRef y)
{
    LLVMBuilderRef b = e->b;
    switch (n->op) {
    case GR_NEG: return LLVMBuildFNeg(b, x, "");
    case GR_EXP: return fexp(e, x);
    case GR_LOG: return flog(e, x);
    case GR_SQRT: return fsqrt(e, x);
    case GR_ABS: return fabs_(e, x);
    case GR_SQUARE: return LLVMBuildFMul(b, x, x, "");
    case GR_SIGMOID:
        /* 1 / (1 + exp(-x)): exp overflowing to inf gives exactly 0 */
        return LLVMBuildFDiv(b, cf(e, 1), LLVMBuildFAdd(b, cf(e, 1), exp_f32(e, LLVMBuildFNeg(b, x, "")), ""), "");
    case GR_TANH: return libm1(e, "tanhf", x);
    case GR_RELU: return LLVMBuildSelect(b, LLVMBuildFCmp(b, LLVMRealOGT, x, cf(e, 0), ""), x, cf(e, 0), "");
    case GR_SOFTPLUS:
        /* max(x, 0) + log1p(exp(-|x|)): no overflow for large |x| */
        return LLVMBuildFAdd(b, fmax_(e, x, cf(e, 0)), log1p_exp_neg_abs(e, x), "");
    case GR_STEP: return LLVMBuildSelect(b, LLVMBuildFCmp(b, LLVMRealOGT, x, cf(e, 0), ""), cf(e, 1), cf(e, 0), "");
    case GR_SIGN:
        return LLVMBuildSelect(b, LLVMBuildFCmp(b, LLVMRealOGT, x, cf(e, 0), ""), cf(e, 1),
                               LLVMBuildSelect(b, LLVMBuildFCmp(b, LLVMRealOLT, x, cf(e, 0), ""),
                                               cf(e, -1), cf(e, 0), ""), "");
    case GR_CAST_F32: return LLVMBuildSIToFP(b, x, e->f32, "");
    case GR_ADD: return LLVMBuildFAdd(b, x, y, "");
    case GR_SUB: return LLVMBuildFSub(b, x, y, "");
    case GR_MUL: return LLVMBuildFMul(b, x, y, "");
    case GR_DIV: return LLVMBuildFDiv(b, x, y, "");
    /* x >= y ? x : y, as the reference (ties keep the left operand's -0) */
    case GR_MAXIMUM: return LLVMBuildSelect(b, LLVMBuildFCmp(b, LLVMRealOGE, x, y, ""), x, y, "");
    case GR_MINIMUM: return LLVMBuildSelect(b, LLVMBuildFCmp(b, LLVMRealOLE, x, y, ""), x, y, "");
    case GR_SIGMOID_XENT:
        /* x = logits, y = labels: max(x,0) - x*y + log(1 + exp(-|x|)) */
        return LLVMBuildFAdd(b, LLVMBuildFSub(b, fmax_(e, x, cf(e, 0)), LLVMBuildFMul(b, x, y, ""), ""),
                             log1p_exp_neg_abs(e, x), "");
    case GR_BROADCAST: return x;   /* a copy; the loop nest does the stretching */
    case GR_LEAKY_RELU:
        return LLVMBuildSelect(b, LLVMBuildFCmp(b, LLVMRealOGT, x, cf(e, 0), ""), x,
                               LLVMBuildFMul(b, cf(e, n->f[0]), x, ""), "");
    case GR_ELU:
        return LLVMBuildSelect(b, LLVMBuildFCmp(b, LLVMRealOGT, x, cf(e, 0), ""), x,
                               LLVMBuildFMul(b, cf(e, n->f[0]), expm1_(e, x), ""), "");
    /* ordered compares are false on a NaN; not_equal is unordered, so true (as C's !=) */
    case GR_LESS: return flag(e, LLVMBuildFCmp(b, LLVMRealOLT, x, y, ""));
    case GR_LESS_EQUAL: return flag(e, LLVMBuildFCmp(b, LLVMRealOLE, x, y, ""));
    case GR_GREATER: return flag(e, LLVMBuildFCmp(b, LLVMRealOGT, x, y, ""));
    case GR_GREATER_EQUAL: return flag(e, LLVMBuildFCmp(b, LLVMRealOGE, x, y, ""));
    case GR_EQUAL: return flag(e, LLVMBuildFCmp(b, LLVMRealOEQ, x, y, ""));
    case GR_NOT_EQUAL: return flag(e, LLVMBuildFCmp(b, LLVMRealUNE, x, y, ""));

    /* not elementwise: emitted by their own functions below */
    case GR_CONST: case GR_INPUT: case GR_PARAM:
    case GR_SUM_TO: case GR_RESHAPE: case GR_SUM: case GR_MEAN: case GR_SUM_AXIS: case GR_NUMEL:
    case GR_MATMUL: case GR_GATHER_SUM: case GR_ONE_HOT: case GR_SCATTER_ADD:
    case GR_SOFTMAX: case GR_LOG_SOFTMAX: case GR_ARGMAX: case GR_SOFTMAX_XENT:
    case GR_SOFTMAX_XENT_GRAD:
    case GR_APPLY_SGD: case GR_APPLY_ADAGRAD: case GR_APPLY_ADAM: case GR_APPLY_FTRL:
    case GR_SELECT:                /* three operands: body_elem */
    case GR_CONCAT: case GR_SLICE: case GR_PAD_SLICE: case GR_TRANSPOSE: case GR_MEAN_AXIS:
    case GR_MAX_AXIS: case GR_MAX_AXIS_GRAD: case GR_COUNT_IDS: case GR_SHIFT_IDS: case GR_GATHER_WSUM:
    case GR_SCATTER_WADD: case GR_GATHER_DOT: case GR_DROPOUT: case GR_ASSIGN_EMA:
    case GR_FUSED:                 /* its steps go through here one by one: emit_fused */
        return NULL;
    }
    return NULL;
}

/* ---- strided loop nests ----------------------------------------------------- *
 * A nest runs over `loop` (rank <= 4) in row-major order; each operand p has a
 * shape aligned with the loop's at the trailing dimension, and its offset
 * advances by its stride in every loop dimension: 0 where the operand's
 * dimension is missing or 1 (broadcast, or a reduced dimension when the
 * operand is an accumulator), its row-major stride otherwise. Broadcasting and
 * reduction are therefore the same nest read in two directions. */

#define CG_MAXOPS (GR_MAXIN + 1)   /* a fused node: its output and every input */

typedef struct cg_nest {
    int nops;
    gr_shape loop;
    gr_shape ops[CG_MAXOPS];
} cg_nest;

typedef void (*cg_body)(cg_emitter *e, const gr_node *n, LLVMValueRef *off);

/* stride of operand shape s along loop dimension k of a rank-r loop */
static LLVMValueRef op_stride(cg_emitter *e, gr_shape s, int r, int k)
{
    int kk = k - (r - s.rank);
    if (kk < 0 || s.d[kk] == 1) return ci(e, 0);
    return dims_prod(e, s, kk + 1, s.rank);
}

/* every operand either covers the loop exactly or is a single element:
 * then one flat loop over the element count does */
static int nest_is_flat(const cg_nest *ns)
{
    for (int p = 0; p < ns->nops; p++) {
        gr_shape s = ns->ops[p];
        int scalar = 1, same = s.rank <= ns->loop.rank;
        for (int i = 0; i < s.rank; i++) if (s.d[i] != 1) scalar = 0;
        for (int k = 0; same && k < ns->loop.rank; k++) {
            int kk = k - (ns->loop.rank - s.rank);
            int64_t d = kk < 0 ? 1 : s.d[kk];
            if (d != ns->loop.d[k]) same = 0;
        }
        if (!scalar && !same) return 0;
    }
    return 1;
}

static void nest_level(cg_emitter *e, const gr_node *n, const cg_nest *ns, int k,
                       LLVMValueRef *off, cg_body body)
{
    if (k == ns->loop.rank) { body(e, n, off); return; }
    if (ns->loop.d[k] == 1) { nest_level(e, n, ns, k + 1, off, body); return; }
    LLVMValueRef stride[CG_MAXOPS], inner[CG_MAXOPS];
    for (int p = 0; p < ns->nops; p++) stride[p] = op_stride(e, ns->ops[p], ns->loop.rank, k);
    cg_loop l;
    LLVMValueRef i = loop_begin(e, &l, dimv(e, ns->loop.d[k]), "i");
    for (int p = 0; p < ns->nops; p++) inner[p] = add(e, off[p], mul(e, i, stride[p]));
    nest_level(e, n, ns, k + 1, inner, body);
    loop_end(e, &l);
}

static void emit_nest(cg_emitter *e, const gr_node *n, const cg_nest *ns, cg_body body)
{
    LLVMValueRef off[CG_MAXOPS];
    if (nest_is_flat(ns)) {
        int whole[CG_MAXOPS];
        for (int p = 0; p < ns->nops; p++) {
            whole[p] = 0;
            for (int i = 0; i < ns->ops[p].rank; i++) if (ns->ops[p].d[i] != 1) whole[p] = 1;
        }
        cg_loop l;
        LLVMValueRef i = loop_begin(e, &l, numel(e, ns->loop), "i");
        for (int p = 0; p < ns->nops; p++) off[p] = whole[p] ? i : ci(e, 0);
        body(e, n, off);
        loop_end(e, &l);
        return;
    }
    for (int p = 0; p < ns->nops; p++) off[p] = ci(e, 0);
    nest_level(e, n, ns, 0, off, body);
}

static const gr_node *input(cg_emitter *e, const gr_node *n, int i) { return &e->g->nodes[n->in[i]]; }

/* out[o0] = op(in0[o1], in1[o2]); select: in0[o1] != 0 ? in1[o2] : in2[o3] */
static void body_elem(cg_emitter *e, const gr_node *n, LLVMValueRef *off)
{
    int nargs = (n->op == GR_BROADCAST) ? 1 : n->nin;
    LLVMValueRef v[3] = { NULL, NULL, NULL };
    for (int j = 0; j < nargs; j++)
        v[j] = ld(e, elem_type(e, input(e, n, j)->dtype), e->arg[1 + j], off[1 + j]);
    if (n->op == GR_SELECT) {   /* unordered: a NaN condition picks the first choice, as C's != 0 */
        LLVMValueRef c = LLVMBuildFCmp(e->b, LLVMRealUNE, v[0], cf(e, 0), "");
        put(e, LLVMBuildSelect(e->b, c, v[1], v[2], ""), e->arg[0], off[0]);
        return;
    }
    put(e, scalar_op(e, n, v[0], v[1]), e->arg[0], off[0]);
}

static void emit_elementwise(cg_emitter *e, const gr_node *n)
{
    cg_nest ns = { .loop = n->shape };
    ns.ops[ns.nops++] = n->shape;
    int nargs = (n->op == GR_BROADCAST) ? 1 : n->nin;
    for (int j = 0; j < nargs; j++) ns.ops[ns.nops++] = input(e, n, j)->shape;
    emit_nest(e, n, &ns, body_elem);
}

/* a fused node: every input loaded once, the steps in order in registers,
 * one store. Each step is the scalar rule of its op, as in its own loop, so
 * the element gets the bits the unfused nodes would give it. With a matmul
 * head the product is already in the output: the loop reads it there and
 * overwrites it (inputs 0 and 1, its factors, are not read). */
static void body_fused(cg_emitter *e, const gr_node *n, LLVMValueRef *off)
{
    LLVMValueRef v[GR_MAXIN + GR_MAXSTEPS];
    int head = gr_fused_head(n);
    if (head) v[n->nin] = ldf(e, e->arg[0], off[0]);
    for (int k = head ? 2 : 0; k < n->nin; k++)
        v[k] = ld(e, elem_type(e, input(e, n, k)->dtype), e->arg[1 + k], off[1 + k]);
    for (int s = head; s < n->nsteps; s++) {
        const gr_fstep *st = &n->steps[s];
        LLVMValueRef x = v[st->x[0]], r;
        if (st->op == GR_SELECT) {   /* as body_elem: a NaN condition picks the first choice */
            LLVMValueRef c = LLVMBuildFCmp(e->b, LLVMRealUNE, x, cf(e, 0), "");
            r = LLVMBuildSelect(e->b, c, v[st->x[1]], v[st->x[2]], "");
        } else {
            gr_node one = { .op = st->op, .f = { st->f } };
            r = scalar_op(e, &one, x, gr_fused_arity(st->op) > 1 ? v[st->x[1]] : NULL);
        }
        v[n->nin + s] = r;
    }
    put(e, v[n->nin + n->nsteps - 1], e->arg[0], off[0]);
}

static void emit_matmul(cg_emitter *e, const gr_node *n);

/* the epilogue form: the product written into the output as a MATMUL node
 * writes it (cblas_sgemm or the loops), then one pass over it in place */
static void emit_fused(cg_emitter *e, const gr_node *n)
{
    int head = gr_fused_head(n);
    cg_nest ns = { .loop = n->shape };
    ns.ops[ns.nops++] = n->shape;
    for (int k = 0; k < n->nin; k++) ns.ops[ns.nops++] = head && k < 2 ? n->shape : input(e, n, k)->shape;
    if (head) {
        gr_node mm = *n;
        mm.op = GR_MATMUL;
        mm.a[0] = n->steps[0].x[2] & 1;
        mm.a[1] = n->steps[0].x[2] >> 1 & 1;
        emit_matmul(e, &mm);
    }
    emit_nest(e, n, &ns, body_fused);
}

/* out[o0] += in0[o1]: operand 0 is the (zeroed) accumulator */
static void body_accum(cg_emitter *e, const gr_node *n, LLVMValueRef *off)
{
    ES_UNUSED(n);
    accum(e, e->arg[0], off[0], ldf(e, e->arg[1], off[1]));
}

/* SUM_TO, SUM, MEAN, SUM_AXIS: zero the output, then add every input element
 * into its place (input order, as the reference does) */
static void emit_reduce(cg_emitter *e, const gr_node *n)
{
    const gr_node *x = input(e, n, 0);
    cg_nest ns = { .loop = x->shape, .nops = 2 };
    ns.ops[1] = x->shape;
    if (n->op == GR_SUM_AXIS || n->op == GR_MEAN_AXIS) {   /* x's shape with the axis kept as 1 */
        ns.ops[0] = x->shape;
        ns.ops[0].d[n->a[0]] = 1;
    } else if (n->op == GR_SUM_TO) {
        ns.ops[0] = n->shape;
    } else {
        ns.ops[0] = gr_shape0();         /* SUM, MEAN: one accumulator */
    }
    zero_fill(e, e->arg[0], numel(e, n->shape));
    emit_nest(e, n, &ns, body_accum);
    if (n->op == GR_MEAN) {
        LLVMValueRef cnt = LLVMBuildSIToFP(e->b, numel(e, x->shape), e->f32, "");
        put(e, LLVMBuildFDiv(e->b, ldf(e, e->arg[0], ci(e, 0)), cnt, ""), e->arg[0], ci(e, 0));
    }
    if (n->op == GR_MEAN_AXIS) {         /* each sum divided by the axis's runtime size */
        LLVMValueRef cnt = LLVMBuildSIToFP(e->b, dimv(e, x->shape.d[n->a[0]]), e->f32, "");
        cg_loop l;
        LLVMValueRef i = loop_begin(e, &l, numel(e, n->shape), "i");
        put(e, LLVMBuildFDiv(e->b, ldf(e, e->arg[0], i), cnt, ""), e->arg[0], i);
        loop_end(e, &l);
    }
}

/* ---- linear algebra ----------------------------------------------------------- */

/* C[m,n] = op(A) op(B) through cblas_sgemm (row-major). m, n, k may be the
 * runtime B; an empty product still defines C (zeros when k is 0), and BLAS is
 * not called with an empty operand, whose leading dimension it would reject. */
static void emit_matmul_loops(cg_emitter *e, const gr_node *n, int tiles);

/* A product whose fixed dimensions multiply to at most this many is emitted
 * as loops, however large the batch: a linear model's [B,k] x [k,1] and its
 * gradient [1,B] x [B,1] are a few multiply-adds per example, less than what
 * a cblas_sgemm call spends on dispatch, packing and its beta pass. */
#define CG_SMALL_MATMUL 128

static int matmul_is_small(const cg_emitter *e, const gr_node *n)
{
    const gr_node *a = &e->g->nodes[n->in[0]];
    int64_t dims[3] = { n->shape.d[0], n->shape.d[1], a->shape.d[n->a[0] ? 0 : 1] }, fixed = 1;
    for (int i = 0; i < 3; i++)
        if (dims[i] != GR_BATCH) fixed *= dims[i];
    return fixed <= CG_SMALL_MATMUL;
}

/* A batch of at most this many rows multiplies a large matrix with the loops
 * too: the rows stream the weights once each, where cblas_sgemm would first
 * pack the whole weight matrix (most of a one-row prediction's time). */
#define CG_FEW_ROWS 4

static void emit_matmul_blas(cg_emitter *e, const gr_node *n);

static void emit_matmul(cg_emitter *e, const gr_node *n)
{
    /* row tiles pay for their code where many rows can come: not in the
     * fast tier, whose point is a short compile, nor for the few rows below */
    if ((e->flags & CG_EMIT_AOT) || matmul_is_small(e, n)) {
        emit_matmul_loops(e, n, !(e->flags & CG_EMIT_FAST));
        return;
    }
    if (n->shape.d[0] != GR_BATCH || n->a[1] || n->shape.d[1] == GR_BATCH) { emit_matmul_blas(e, n); return; }
    LLVMValueRef few = LLVMBuildICmp(e->b, LLVMIntSLE, dimv(e, n->shape.d[0]), ci(e, CG_FEW_ROWS), "");
    cg_if f;
    if_begin(e, &f, few);
    emit_matmul_loops(e, n, 0);
    if_end(e, &f);
    if_begin(e, &f, LLVMBuildNot(e->b, few, ""));
    emit_matmul_blas(e, n);
    if_end(e, &f);
}

static void emit_matmul_blas(cg_emitter *e, const gr_node *n)
{
    const gr_node *a = input(e, n, 0), *bm = input(e, n, 1);
    int ta = n->a[0] != 0, tb = n->a[1] != 0;
    LLVMValueRef M = dimv(e, n->shape.d[0]), N = dimv(e, n->shape.d[1]);
    LLVMValueRef K = dimv(e, a->shape.d[ta ? 0 : 1]);
    LLVMValueRef lda = dimv(e, a->shape.d[1]), ldb = dimv(e, bm->shape.d[1]);
    LLVMValueRef zero = ci(e, 0);

    /* C is zeroed here and the product added to it (beta = 1): OpenBLAS's own
     * beta = 0 pass (sgemm_beta) zeroes C more slowly than memset, and 0 + x
     * is x, so the bits are the same. An empty product leaves the zeros. */
    zero_fill(e, e->arg[0], mul(e, M, N));
    LLVMValueRef ok = LLVMBuildAnd(e->b,
        LLVMBuildAnd(e->b, LLVMBuildICmp(e->b, LLVMIntSGT, M, zero, ""),
                     LLVMBuildICmp(e->b, LLVMIntSGT, N, zero, ""), ""),
        LLVMBuildICmp(e->b, LLVMIntSGT, K, zero, ""), "");
    cg_if f;
    if_begin(e, &f, ok);
    LLVMTypeRef pt[14] = { e->i32, e->i32, e->i32, e->i32, e->i32, e->i32, e->f32,
                           e->ptr, e->i32, e->ptr, e->i32, e->f32, e->ptr, e->i32 };
#define I32(v) LLVMBuildTrunc(e->b, (v), e->i32, "")
    LLVMValueRef args[14] = {
        ci32(e, 101),                       /* CblasRowMajor */
        ci32(e, ta ? 112 : 111),            /* CblasTrans : CblasNoTrans */
        ci32(e, tb ? 112 : 111),
        I32(M), I32(N), I32(K), cf(e, 1.0),
        e->arg[1], I32(lda), e->arg[2], I32(ldb), cf(e, 1.0),
        e->arg[0], I32(N),
    };
#undef I32
    call(e, "cblas_sgemm", e->vd, pt, args, 14, 0);
    if_end(e, &f);
}

/* The same product as loops, for predictors that link no BLAS (CG_EMIT_AOT)
 * and for small products (matmul_is_small).
 * Each C[i,j] is the sum of its products in p order, starting from zero,
 * however the loops are arranged. Without a transposed B and with N fixed,
 * the columns go in blocks of 8 or more whose sums stay in vector registers
 * across the whole p loop (C is written once per block, not once per p):
 * with `tiles`, rows four at a time in tiles of 4 x 16 (and 4 x 8), so that
 * each vector of B loaded serves four rows, and the rows left over (all of a
 * single-row prediction; all rows without tiles) one at a time in blocks of
 * 64, 32, 16 and 8. Tiles are left out where their code costs more than it
 * gives: in the fast tier (compile time: the census DNN's cold start grew by
 * a third with them) and in the JIT's branch for a batch of at most four rows. The last N % 8
 * columns, and the transposed cases, take the plain i, p, j loops, whose
 * innermost loop walks a row of C. */
#define CG_TILE_ROWS 4

/* C[i0 .. i0 + rows, j0 .. j0 + width) as rows x width sums held across
 * the p loop: per p, one load of B's row segment, and per row one element
 * of A broadcast, multiplied and added. */
static void matmul_tile(cg_emitter *e, LLVMValueRef i0, int rows, LLVMValueRef j0, int64_t width, LLVMValueRef K,
                        int ta, LLVMValueRef lda, LLVMValueRef ldb, LLVMValueRef N)
{
    LLVMBuilderRef b = e->b;
    LLVMTypeRef vt = LLVMVectorType(e->f32, (unsigned)width);
    LLVMValueRef acc[CG_TILE_ROWS];
    for (int r = 0; r < rows; r++) {
        acc[r] = local(e, vt, "acc");
        set(e, acc[r], LLVMConstNull(vt));
    }
    cg_loop lp;
    LLVMValueRef p = loop_begin(e, &lp, K, "p");
    LLVMValueRef bv = LLVMBuildLoad2(b, vt, gep(e, e->f32, e->arg[2], add(e, mul(e, p, ldb), j0)), "");
    LLVMSetAlignment(bv, 4);
    LLVMValueRef zeros = LLVMConstNull(LLVMVectorType(e->i32, (unsigned)width));
    for (int r = 0; r < rows; r++) {
        LLVMValueRef i = add(e, i0, ci(e, r));
        LLVMValueRef av = ldf(e, e->arg[1], ta ? add(e, mul(e, p, lda), i) : add(e, mul(e, i, lda), p));
        LLVMValueRef splat = LLVMBuildInsertElement(b, LLVMGetPoison(vt), av, ci32(e, 0), "");
        splat = LLVMBuildShuffleVector(b, splat, LLVMGetPoison(vt), zeros, "");
        set(e, acc[r], LLVMBuildFAdd(b, get(e, acc[r]), LLVMBuildFMul(b, splat, bv, ""), ""));
    }
    loop_end(e, &lp);
    for (int r = 0; r < rows; r++) {
        LLVMValueRef i = add(e, i0, ci(e, r));
        LLVMValueRef st = LLVMBuildStore(b, get(e, acc[r]), gep(e, e->f32, e->arg[0], add(e, mul(e, i, N), j0)));
        LLVMSetAlignment(st, 4);
    }
}

static void emit_matmul_loops(cg_emitter *e, const gr_node *n, int tiles)
{
    const gr_node *a = input(e, n, 0), *bm = input(e, n, 1);
    int ta = n->a[0] != 0, tb = n->a[1] != 0;
    LLVMValueRef M = dimv(e, n->shape.d[0]), N = dimv(e, n->shape.d[1]);
    LLVMValueRef K = dimv(e, a->shape.d[ta ? 0 : 1]);
    LLVMValueRef lda = dimv(e, a->shape.d[1]), ldb = dimv(e, bm->shape.d[1]);
    int blocked = !tb && n->shape.d[1] != GR_BATCH;
    int64_t Nc = blocked ? n->shape.d[1] : 0, done = blocked ? Nc / 8 * 8 : 0;
    if (done < Nc || !blocked) zero_fill(e, e->arg[0], mul(e, M, N));   /* the plain loops accumulate in C */
    cg_loop li, lp, lj, lb;
    if (done > 0) {
        LLVMValueRef first = ci(e, 0);
        if (tiles) {      /* rows in fours */
            LLVMValueRef groups = LLVMBuildUDiv(e->b, M, ci(e, CG_TILE_ROWS), "");
            LLVMValueRef i0 = mul(e, loop_begin(e, &li, groups, "ig"), ci(e, CG_TILE_ROWS));
            if (Nc >= 16) {
                LLVMValueRef jb = loop_begin(e, &lb, ci(e, Nc / 16), "jb");
                matmul_tile(e, i0, CG_TILE_ROWS, mul(e, jb, ci(e, 16)), 16, K, ta, lda, ldb, N);
                loop_end(e, &lb);
            }
            if (Nc % 16 >= 8) matmul_tile(e, i0, CG_TILE_ROWS, ci(e, Nc / 16 * 16), 8, K, ta, lda, ldb, N);
            loop_end(e, &li);
            first = mul(e, groups, ci(e, CG_TILE_ROWS));
        }
        /* the rows left over (all of them without tiles), one by one */
        LLVMValueRef i = add(e, first, loop_begin(e, &li, LLVMBuildSub(e->b, M, first, ""), "i"));
        int64_t c = 0;
        if (Nc >= 64) {
            LLVMValueRef jb = loop_begin(e, &lb, ci(e, Nc / 64), "jb");
            matmul_tile(e, i, 1, mul(e, jb, ci(e, 64)), 64, K, ta, lda, ldb, N);
            loop_end(e, &lb);
            c = Nc / 64 * 64;
        }
        for (int64_t w = 32; w >= 8; w /= 2)
            if (Nc - c >= w) {
                matmul_tile(e, i, 1, ci(e, c), w, K, ta, lda, ldb, N);
                c += w;
            }
        loop_end(e, &li);
    }
    if (done < Nc || !blocked) {
        LLVMValueRef i = loop_begin(e, &li, M, "i");
        LLVMValueRef j0 = ci(e, done);
        LLVMValueRef p = loop_begin(e, &lp, K, "p");
        LLVMValueRef av = ldf(e, e->arg[1], ta ? add(e, mul(e, p, lda), i) : add(e, mul(e, i, lda), p));
        LLVMValueRef j = add(e, loop_begin(e, &lj, LLVMBuildSub(e->b, N, j0, ""), "j"), j0);
        LLVMValueRef bv = ldf(e, e->arg[2], tb ? add(e, mul(e, j, ldb), p) : add(e, mul(e, p, ldb), j));
        accum(e, e->arg[0], add(e, mul(e, i, N), j), LLVMBuildFMul(e->b, av, bv, ""));
        loop_end(e, &lj);
        loop_end(e, &lp);
        loop_end(e, &li);
    }
}

/* ---- sparse (categorical) ------------------------------------------------------ */

/* ids [R] or [R,M]: R and M as values */
static void ids_dims(cg_emitter *e, const gr_node *ids, LLVMValueRef *R, LLVMValueRef *M)
{
    *R = dimv(e, ids->shape.d[0]);
    *M = dims_prod(e, ids->shape, 1, ids->shape.rank);
}

/* for (r < R) for (m < M) { id = ids[r * M + m]; if (0 <= id < V) { ...:
 * the body goes where the builder is, with r, i = r * M + m and the i32 id */
typedef struct cg_ids_loop { cg_loop r, m; cg_if valid; LLVMValueRef ri, i, id; } cg_ids_loop;

static void ids_begin(cg_emitter *e, cg_ids_loop *l, LLVMValueRef idp, LLVMValueRef R, LLVMValueRef M, int64_t V)
{
    l->ri = loop_begin(e, &l->r, R, "r");
    l->i = add(e, mul(e, l->ri, M), loop_begin(e, &l->m, M, "m"));
    l->id = ld(e, e->i32, idp, l->i);
    if_begin(e, &l->valid, id_valid(e, l->id, ci(e, V)));
}

static void ids_end(cg_emitter *e, cg_ids_loop *l)
{
    if_end(e, &l->valid);
    loop_end(e, &l->m);
    loop_end(e, &l->r);
}

#define CG_GATHER_LANES 8

/* out[r .. r + 8) of a one-column GATHER_SUM of one id per row, as one
 * gather of every lane (invalid ids read row 0) and a select of +0 for the
 * invalid ones: no branch, where a gather masked by the valid lanes is
 * scalarised into a branch per lane on processors with slow gathers */
static void gather_lanes(cg_emitter *e, int64_t V, LLVMValueRef r)
{
    LLVMBuilderRef b = e->b;
    unsigned L = CG_GATHER_LANES;
    LLVMTypeRef vi = LLVMVectorType(e->i32, L), vf = LLVMVectorType(e->f32, L), vp = LLVMVectorType(e->ptr, L);
    LLVMValueRef ids = LLVMBuildLoad2(b, vi, gep(e, e->i32, e->arg[2], r), "");
    LLVMSetAlignment(ids, 4);
    LLVMValueRef vs[CG_GATHER_LANES];
    for (unsigned j = 0; j < L; j++) vs[j] = ci32(e, (int32_t)V);
    LLVMValueRef valid = LLVMBuildICmp(b, LLVMIntULT, ids, LLVMConstVector(vs, L), "");   /* 0 <= id < V */
    LLVMValueRef idx = LLVMBuildSExt(b, LLVMBuildSelect(b, valid, ids, LLVMConstNull(vi), ""),
                                     LLVMVectorType(e->i64, L), "");
    LLVMValueRef ptrs = LLVMBuildInBoundsGEP2(b, e->f32, e->arg[1], &idx, 1, "");
    unsigned id = LLVMLookupIntrinsicID("llvm.masked.gather", 18);
    LLVMTypeRef over[2] = { vf, vp };
    LLVMValueRef fn = LLVMGetIntrinsicDeclaration(e->mod, id, over, 2);
    LLVMValueRef args[4] = { ptrs, ci32(e, 4), LLVMConstAllOnes(LLVMVectorType(e->i1, L)), LLVMGetPoison(vf) };
    LLVMValueRef w = LLVMBuildCall2(b, LLVMIntrinsicGetType(e->ctx, id, over, 2), fn, args, 4, "");
    w = LLVMBuildSelect(b, valid, w, LLVMConstNull(vf), "");
    LLVMValueRef st = LLVMBuildStore(b, LLVMBuildFAdd(b, w, LLVMConstNull(vf), ""), gep(e, e->f32, e->arg[0], r));
    LLVMSetAlignment(st, 4);
}

/* GATHER_SUM of one id per row (ids [R] or [R,1]): out[r] = W[id] + 0, or
 * +0 for an invalid id (the reference's sum from zero, -0 included), with no
 * branch and no clearing of the output first. A one-column table (a linear
 * model) takes the rows eight at a time (gather_lanes), the rest one by one;
 * a wider one vectorises along the row. */
static void emit_gather_one(cg_emitter *e, const gr_node *n, LLVMValueRef R)
{
    LLVMBuilderRef b = e->b;
    int64_t V = input(e, n, 0)->shape.d[0], K = input(e, n, 0)->shape.d[1];
    cg_loop lr, lk;
    LLVMValueRef r0 = ci(e, 0);
    if (K == 1 && V <= INT32_MAX && !(e->flags & CG_EMIT_FAST)) {
        LLVMValueRef nv = LLVMBuildUDiv(b, R, ci(e, CG_GATHER_LANES), "");
        LLVMValueRef v = loop_begin(e, &lr, nv, "v");
        gather_lanes(e, V, mul(e, v, ci(e, CG_GATHER_LANES)));
        loop_end(e, &lr);
        r0 = mul(e, nv, ci(e, CG_GATHER_LANES));
    }
    LLVMValueRef r = add(e, loop_begin(e, &lr, LLVMBuildSub(b, R, r0, ""), "r"), r0);
    LLVMValueRef id32 = ld(e, e->i32, e->arg[2], r);
    LLVMValueRef valid = id_valid(e, id32, ci(e, V));
    LLVMValueRef row = mul(e, LLVMBuildSExt(b, LLVMBuildSelect(b, valid, id32, ci32(e, 0), ""), e->i64, ""), ci(e, K));
    LLVMValueRef k = loop_begin(e, &lk, ci(e, K), "k");
    LLVMValueRef w = LLVMBuildSelect(b, valid, ldf(e, e->arg[1], add(e, row, k)), cf(e, 0), "");
    put(e, LLVMBuildFAdd(b, w, cf(e, 0), ""), e->arg[0], add(e, mul(e, r, ci(e, K)), k));
    loop_end(e, &lk);
    loop_end(e, &lr);
}

/* GATHER_SUM(W [V,K], ids) -> [R,K]; ONE_HOT(ids) -> [R,depth];
 * SCATTER_ADD(ids, rows [R,K], like [V,K]) -> [V,K]. Invalid ids are skipped. */
static void emit_sparse(cg_emitter *e, const gr_node *n)
{
    const gr_node *ids = input(e, n, n->op == GR_GATHER_SUM ? 1 : 0);
    LLVMValueRef idp = e->arg[n->op == GR_GATHER_SUM ? 2 : 1];
    LLVMValueRef R, M;
    ids_dims(e, ids, &R, &M);
    if (n->op == GR_GATHER_SUM && is_const(M, 1)) {
        emit_gather_one(e, n, R);
        return;
    }
    zero_fill(e, e->arg[0], numel(e, n->shape));
    int64_t V, K;
    if (n->op == GR_ONE_HOT) { V = n->a[0]; K = 1; }
    else if (n->op == GR_GATHER_SUM) { V = input(e, n, 0)->shape.d[0]; K = input(e, n, 0)->shape.d[1]; }
    else { V = n->shape.d[0]; K = n->shape.d[1]; }

    cg_ids_loop l;
    cg_loop lk;
    ids_begin(e, &l, idp, R, M, V);
    LLVMValueRef r = l.ri, id = LLVMBuildSExt(e->b, l.id, e->i64, "");
    if (n->op == GR_ONE_HOT) {
        accum(e, e->arg[0], add(e, mul(e, r, ci(e, V)), id), cf(e, 1));
    } else {
        LLVMValueRef k = loop_begin(e, &lk, ci(e, K), "k");
        LLVMValueRef rowk = add(e, mul(e, r, ci(e, K)), k), idk = add(e, mul(e, id, ci(e, K)), k);
        if (n->op == GR_GATHER_SUM)
            accum(e, e->arg[0], rowk, ldf(e, e->arg[1], idk));
        else
            accum(e, e->arg[0], idk, ldf(e, e->arg[2], rowk));
        loop_end(e, &lk);
    }
    ids_end(e, &l);
}

/* SHIFT_IDS(ids) a=[depth, offset]: a valid id (0 <= id < depth) + offset, else -1 */
static void emit_shift_ids(cg_emitter *e, const gr_node *n)
{
    cg_loop l;
    LLVMValueRef i = loop_begin(e, &l, numel(e, n->shape), "i");
    LLVMValueRef id = ld(e, e->i32, e->arg[1], i);
    LLVMValueRef moved = LLVMBuildAdd(e->b, id, ci32(e, n->a[1]), "");
    put(e, LLVMBuildSelect(e->b, id_valid(e, id, ci(e, n->a[0])), moved, ci32(e, -1), ""), e->arg[0], i);
    loop_end(e, &l);
}

/* ---- row-wise ops over the last axis ---------------------------------------------- */

/* max over x[base .. base+K) (first element wins ties; -inf for none) */
static LLVMValueRef row_max(cg_emitter *e, LLVMValueRef x, LLVMValueRef base, LLVMValueRef K)
{
    LLVMValueRef mx = local(e, e->f32, "max");
    set(e, mx, LLVMConstReal(e->f32, -__builtin_inf()));
    cg_loop l;
    LLVMValueRef k = loop_begin(e, &l, K, "k");
    set(e, mx, fmax_(e, ldf(e, x, add(e, base, k)), get(e, mx)));
    loop_end(e, &l);
    return get(e, mx);
}

/* sum of exp(x - mx) over the row; with `out`, also stores each exp there */
static LLVMValueRef row_sumexp(cg_emitter *e, LLVMValueRef x, LLVMValueRef out, LLVMValueRef base,
                               LLVMValueRef K, LLVMValueRef mx)
{
    LLVMValueRef s = local(e, e->f32, "sum");
    set(e, s, cf(e, 0));
    cg_loop l;
    LLVMValueRef k = loop_begin(e, &l, K, "k");
    LLVMValueRef v = fexp(e, LLVMBuildFSub(e->b, ldf(e, x, add(e, base, k)), mx, ""));
    if (out) put(e, v, out, add(e, base, k));
    set(e, s, LLVMBuildFAdd(e->b, get(e, s), v, ""));
    loop_end(e, &l);
    return get(e, s);
}

static void emit_rowwise(cg_emitter *e, const gr_node *n)
{
    const gr_node *x = input(e, n, 0);
    LLVMValueRef xp = e->arg[1], out = e->arg[0];
    LLVMValueRef K = dimv(e, x->shape.d[x->shape.rank - 1]);
    LLVMValueRef R = dims_prod(e, x->shape, 0, x->shape.rank - 1);
    cg_loop lr, lk;
    LLVMValueRef r = loop_begin(e, &lr, R, "r");
    LLVMValueRef base = mul(e, r, K);

    if (n->op == GR_ARGMAX) {
        LLVMValueRef best = local(e, e->f32, "best"), at = local(e, e->i32, "at");
        set(e, best, LLVMConstReal(e->f32, -__builtin_inf()));
        set(e, at, ci32(e, 0));
        LLVMValueRef k = loop_begin(e, &lk, K, "k");
        LLVMValueRef v = ldf(e, xp, add(e, base, k));
        LLVMValueRef gt = LLVMBuildFCmp(e->b, LLVMRealOGT, v, get(e, best), "");   /* first max wins */
        set(e, best, LLVMBuildSelect(e->b, gt, v, get(e, best), ""));
        set(e, at, LLVMBuildSelect(e->b, gt, LLVMBuildTrunc(e->b, k, e->i32, ""), get(e, at), ""));
        loop_end(e, &lk);
        put(e, get(e, at), out, r);
        loop_end(e, &lr);
        return;
    }

    if (n->op == GR_SOFTMAX || n->op == GR_LOG_SOFTMAX) {
        LLVMValueRef mx = row_max(e, xp, base, K);
        if (n->op == GR_SOFTMAX) {
            LLVMValueRef s = row_sumexp(e, xp, out, base, K, mx);
            LLVMValueRef k = loop_begin(e, &lk, K, "k");
            LLVMValueRef i = add(e, base, k);
            put(e, LLVMBuildFDiv(e->b, ldf(e, out, i), s, ""), out, i);
            loop_end(e, &lk);
        } else {
            LLVMValueRef ls = flog(e, row_sumexp(e, xp, NULL, base, K, mx));
            LLVMValueRef k = loop_begin(e, &lk, K, "k");
            LLVMValueRef i = add(e, base, k);
            put(e, LLVMBuildFSub(e->b, LLVMBuildFSub(e->b, ldf(e, xp, i), mx, ""), ls, ""), out, i);
            loop_end(e, &lk);
        }
        loop_end(e, &lr);
        return;
    }

    /* SOFTMAX_XENT, SOFTMAX_XENT_GRAD: a label outside [0,K) gives loss 0 and
     * a zero gradient row */
    LLVMValueRef y32 = ld(e, e->i32, e->arg[2], r);
    LLVMValueRef valid = id_valid(e, y32, K);
    LLVMValueRef y = LLVMBuildSExt(e->b, y32, e->i64, "");
    LLVMBasicBlockRef yes = LLVMAppendBasicBlockInContext(e->ctx, e->fn, "labelled");
    LLVMBasicBlockRef no = LLVMAppendBasicBlockInContext(e->ctx, e->fn, "unlabelled");
    LLVMBasicBlockRef cont = LLVMAppendBasicBlockInContext(e->ctx, e->fn, "next");
    LLVMBuildCondBr(e->b, valid, yes, no);

    LLVMPositionBuilderAtEnd(e->b, yes);
    LLVMValueRef mx = row_max(e, xp, base, K);
    if (n->op == GR_SOFTMAX_XENT) {
        /* logsumexp(l) - l[y] = (mx - l[y]) + log(sum exp(l - mx)) */
        LLVMValueRef ls = flog(e, row_sumexp(e, xp, NULL, base, K, mx));
        LLVMValueRef ly = ldf(e, xp, add(e, base, y));
        put(e, LLVMBuildFAdd(e->b, LLVMBuildFSub(e->b, mx, ly, ""), ls, ""), out, r);
    } else {
        LLVMValueRef s = row_sumexp(e, xp, out, base, K, mx);
        LLVMValueRef d = ldf(e, e->arg[3], r);
        LLVMValueRef k = loop_begin(e, &lk, K, "k");
        LLVMValueRef i = add(e, base, k);
        LLVMValueRef p = LLVMBuildFDiv(e->b, ldf(e, out, i), s, "");
        LLVMValueRef hot = LLVMBuildSelect(e->b, LLVMBuildICmp(e->b, LLVMIntEQ, k, y, ""), cf(e, 1), cf(e, 0), "");
        put(e, LLVMBuildFMul(e->b, LLVMBuildFSub(e->b, p, hot, ""), d, ""), out, i);
        loop_end(e, &lk);
    }
    LLVMBuildBr(e->b, cont);

    LLVMPositionBuilderAtEnd(e->b, no);
    if (n->op == GR_SOFTMAX_XENT) put(e, cf(e, 0), out, r);
    else zero_fill(e, gep(e, e->f32, out, base), K);
    LLVMBuildBr(e->b, cont);

    LLVMPositionBuilderAtEnd(e->b, cont);
    loop_end(e, &lr);
}

/* ---- optimizer updates -------------------------------------------------------------- */

typedef struct cg_apply {
    LLVMValueRef var, slot[2];   /* per-element slots (adagrad accum; adam m, v; ftrl accum, linear) */
    LLVMValueRef alpha;          /* adam: lr * sqrt(1 - b2^t) / (1 - b1^t) of this step */
} cg_apply;

/* Adagrad's step for gradient g once the accumulator holds acc:
 * lr * g / (sqrt(acc) + eps), subtracted from the weight */
static LLVMValueRef adagrad_step(cg_emitter *e, const gr_node *n, LLVMValueRef g, LLVMValueRef acc)
{
    LLVMBuilderRef b = e->b;
    LLVMValueRef den = LLVMBuildFAdd(b, fsqrt(e, acc), cf(e, n->f[1]), "");
    return LLVMBuildFDiv(b, LLVMBuildFMul(b, cf(e, n->f[0]), g, ""), den, "");
}

/* One element i of the variable receives gradient g (ops.def's formulas). */
static void apply_elem(cg_emitter *e, const gr_node *n, const cg_apply *ap, LLVMValueRef i, LLVMValueRef g)
{
    LLVMBuilderRef b = e->b;
    LLVMValueRef lr = cf(e, n->f[0]);
    LLVMValueRef w = ldf(e, ap->var, i);
    if (n->op == GR_APPLY_SGD) {
        put(e, LLVMBuildFSub(b, w, LLVMBuildFMul(b, lr, g, ""), ""), ap->var, i);
    } else if (n->op == GR_APPLY_ADAGRAD) {
        LLVMValueRef acc = LLVMBuildFAdd(b, ldf(e, ap->slot[0], i), LLVMBuildFMul(b, g, g, ""), "");
        put(e, acc, ap->slot[0], i);
        put(e, LLVMBuildFSub(b, w, adagrad_step(e, n, g, acc), ""), ap->var, i);
    } else if (n->op == GR_APPLY_ADAM) {
        double b1 = n->f[1], b2 = n->f[2];
        LLVMValueRef m = LLVMBuildFAdd(b, LLVMBuildFMul(b, cf(e, b1), ldf(e, ap->slot[0], i), ""),
                                       LLVMBuildFMul(b, cf(e, 1 - b1), g, ""), "");
        LLVMValueRef v = LLVMBuildFAdd(b, LLVMBuildFMul(b, cf(e, b2), ldf(e, ap->slot[1], i), ""),
                                       LLVMBuildFMul(b, cf(e, 1 - b2), LLVMBuildFMul(b, g, g, ""), ""), "");
        put(e, m, ap->slot[0], i);
        put(e, v, ap->slot[1], i);
        LLVMValueRef den = LLVMBuildFAdd(b, fsqrt(e, v), cf(e, n->f[3]), "");
        put(e, LLVMBuildFSub(b, w, LLVMBuildFDiv(b, LLVMBuildFMul(b, ap->alpha, m, ""), den, ""), ""), ap->var, i);
    } else {
        /* FTRL in double: sigma subtracts two nearly equal roots when g is small
         * next to the accumulator, which f32 would round to nothing; the
         * update is memory-bound, so the wider math costs nothing */
        assert(n->op == GR_APPLY_FTRL);
        double l1 = n->f[1], l2 = n->f[2], p = n->f[3];
        LLVMTypeRef d = e->f64;
#define D(v) LLVMBuildFPExt(b, (v), d, "")
#define C(v) LLVMConstReal(d, (v))
        LLVMValueRef acc = D(ldf(e, ap->slot[0], i)), lin = D(ldf(e, ap->slot[1], i));
        LLVMValueRef wd = D(w), gd = D(g), lrd = C(n->f[0]);
        LLVMValueRef an = LLVMBuildFAdd(b, acc, LLVMBuildFMul(b, gd, gd, ""), "");
        /* x^-p; TensorFlow's default p = -0.5 is a square root, which vectorises */
        LLVMValueRef pa, pan;
        if (p == -0.5) {
            pa = fsqrt(e, acc);
            pan = fsqrt(e, an);
        } else {
            pa = intr2(e, "llvm.pow", acc, C(-p));
            pan = intr2(e, "llvm.pow", an, C(-p));
        }
        LLVMValueRef sigma = LLVMBuildFDiv(b, LLVMBuildFSub(b, pan, pa, ""), lrd, "");
        lin = LLVMBuildFAdd(b, lin, LLVMBuildFSub(b, gd, LLVMBuildFMul(b, sigma, wd, ""), ""), "");
        LLVMValueRef quad = LLVMBuildFAdd(b, LLVMBuildFDiv(b, pan, lrd, ""), C(2 * l2), "");
        LLVMValueRef sl1 = LLVMBuildSelect(b, LLVMBuildFCmp(b, LLVMRealOGT, lin, C(0), ""), C(l1),
                                           LLVMBuildSelect(b, LLVMBuildFCmp(b, LLVMRealOLT, lin, C(0), ""),
                                                           C(-l1), C(0), ""), "");
        LLVMValueRef nw = LLVMBuildFDiv(b, LLVMBuildFSub(b, sl1, lin, ""), quad, "");
        nw = LLVMBuildSelect(b, LLVMBuildFCmp(b, LLVMRealOGT, fabs_(e, lin), C(l1), ""), nw, C(0), "");
#undef D
#undef C
        put(e, LLVMBuildFPTrunc(b, nw, e->f32, ""), ap->var, i);
        put(e, LLVMBuildFPTrunc(b, lin, e->f32, ""), ap->slot[1], i);
        put(e, LLVMBuildFPTrunc(b, an, e->f32, ""), ap->slot[0], i);
    }
}

static int apply_nslots(gr_op op)
{
    return op == GR_APPLY_ADAGRAD ? 1 : op == GR_APPLY_ADAM ? 3 : op == GR_APPLY_FTRL ? 2 : 0;
}

/* Duplicate ids are summed first, then each touched row is updated once:
 * uniq[u] is the u-th distinct valid id (in order of first occurrence). The
 * sums live in one of:
 *
 * - dense, when the sums of every row take at most CG_DENSE_ELEMS floats:
 *   sums[V][K] indexed by the id itself, with seen[V] flags. Both are
 *   zero-initialised globals of the node's own that every call leaves as it
 *   found them (the update clears the rows it touched), so a call costs
 *   nothing per row of the table and no store waits on a load: a train
 *   program is run by one thread at a time, as the variables it updates in
 *   place require anyway.
 * - else compact, acc[u][K] in per-call scratch (scratch_alloc), with a hash
 *   table from id to u (open addressing, power-of-two size > 2 * ids, cleared
 *   per call), so a million-row table costs only its touched rows
 *   (dedupe_hash). acc is not cleared: the first row of an id adds to a row
 *   of zeros (row -1) instead of to its sum, the choice being of the address,
 *   not of the loaded value (an f32 select becomes a branch on x86,
 *   mispredicted on every new id).
 *
 * Rows are summed in order of occurrence, except in a dense table of one
 * column (a linear model's weights): there the i-th id of the batch adds into
 * partial sum i % CG_BANKS of its row, and the update adds the partial sums.
 * A column that is nearly always the same id (a bucketized capital gain, a
 * country) would otherwise be one chain of dependent adds through memory;
 * the reference sums in double, so any fixed order is as good. */
#define CG_DENSE_ELEMS 4096
#define CG_BANKS 4

typedef struct cg_dedupe {
    int dense;
    int64_t banks;            /* partial sums per element: CG_BANKS or 1 */
    LLVMValueRef uniq;        /* i32 [nids + 1] */
    LLVMValueRef acc;         /* f32 [V][banks][K] (dense) or [nids][K] */
    LLVMValueRef seen;        /* dense: i8 [V] flags */
    LLVMValueRef cnt;         /* the alloca of the number of unique ids */
    LLVMValueRef K;
} cg_dedupe;

/* acc[at] = acc[at | fresh] + rows[r], at the id (dense) or u; fresh is -1
 * for the first row of a compact sum (row -1 is zeros), else 0 */
static void dedupe_add(cg_emitter *e, const cg_dedupe *d, LLVMValueRef at, LLVMValueRef fresh, LLVMValueRef rows,
                       LLVMValueRef r)
{
    LLVMValueRef base = mul(e, at, d->K), from = mul(e, LLVMBuildOr(e->b, at, fresh, ""), d->K);
    LLVMValueRef rbase = mul(e, r, d->K);
    cg_loop lk;
    LLVMValueRef k = loop_begin(e, &lk, d->K, "k");
    LLVMValueRef old = ldf(e, d->acc, add(e, from, k));
    put(e, LLVMBuildFAdd(e->b, old, ldf(e, rows, add(e, rbase, k)), ""), d->acc, add(e, base, k));
    loop_end(e, &lk);
}

/* the dense step for the i-th id, valid. Every store address comes from the
 * id (and i) alone, so the processor never waits on whether a later load
 * reads what an earlier store wrote; no branch depends on whether the id is
 * new; and the only dependence carried from id to id is count += fresh. */
static void dedupe_dense(cg_emitter *e, const cg_dedupe *d, LLVMValueRef id, LLVMValueRef i, LLVMValueRef rows,
                         LLVMValueRef r)
{
    LLVMBuilderRef b = e->b;
    LLVMValueRef id64 = LLVMBuildSExt(b, id, e->i64, ""), n = get(e, d->cnt);
    LLVMValueRef fresh = LLVMBuildICmp(b, LLVMIntEQ, ld(e, e->i8, d->seen, id64), LLVMConstInt(e->i8, 0, 0), "");
    put(e, LLVMConstInt(e->i8, 1, 0), d->seen, id64);
    put(e, id, d->uniq, LLVMBuildZExt(b, n, e->i64, ""));   /* kept only if fresh: count moves past it */
    set(e, d->cnt, LLVMBuildAdd(b, n, LLVMBuildZExt(b, fresh, e->i32, ""), ""));
    LLVMValueRef at = id64;
    if (d->banks > 1) at = add(e, mul(e, id64, ci(e, d->banks)), LLVMBuildAnd(b, i, ci(e, d->banks - 1), ""));
    dedupe_add(e, d, at, ci(e, 0), rows, r);
}

/* the hash table's step for one valid id (keys[] starts all -1) */
static void dedupe_hash(cg_emitter *e, const cg_dedupe *d, LLVMValueRef keys, LLVMValueRef where,
                        LLVMValueRef mask, LLVMValueRef id, LLVMValueRef rows, LLVMValueRef r)
{
    LLVMBuilderRef b = e->b;
    /* hash: Fibonacci multiply, fold the high half down */
    LLVMValueRef h = LLVMBuildMul(b, id, LLVMConstInt(e->i32, 0x9E3779B1u, 0), "");
    h = LLVMBuildXor(b, h, LLVMBuildLShr(b, h, ci32(e, 16), ""), "");
    h = LLVMBuildAnd(b, LLVMBuildZExt(b, h, e->i64, ""), mask, "");
    LLVMBasicBlockRef pre = LLVMGetInsertBlock(b);
    LLVMBasicBlockRef probe = LLVMAppendBasicBlockInContext(e->ctx, e->fn, "probe");
    LLVMBasicBlockRef notfound = LLVMAppendBasicBlockInContext(e->ctx, e->fn, "probe.other");
    LLVMBasicBlockRef next = LLVMAppendBasicBlockInContext(e->ctx, e->fn, "probe.next");
    LLVMBasicBlockRef found = LLVMAppendBasicBlockInContext(e->ctx, e->fn, "probe.found");
    LLVMBasicBlockRef insert = LLVMAppendBasicBlockInContext(e->ctx, e->fn, "probe.insert");
    LLVMBasicBlockRef have = LLVMAppendBasicBlockInContext(e->ctx, e->fn, "probe.done");
    LLVMBuildBr(b, probe);
    LLVMPositionBuilderAtEnd(b, probe);
    LLVMValueRef hv = LLVMBuildPhi(b, e->i64, "h");
    LLVMAddIncoming(hv, &h, &pre, 1);
    LLVMValueRef key = ld(e, e->i32, keys, hv);
    LLVMBuildCondBr(b, LLVMBuildICmp(b, LLVMIntEQ, key, id, ""), found, notfound);
    LLVMPositionBuilderAtEnd(b, notfound);
    LLVMBuildCondBr(b, LLVMBuildICmp(b, LLVMIntEQ, key, ci32(e, -1), ""), insert, next);
    LLVMPositionBuilderAtEnd(b, next);
    LLVMValueRef hn = LLVMBuildAnd(b, LLVMBuildAdd(b, hv, ci(e, 1), ""), mask, "");
    LLVMAddIncoming(hv, &hn, &next, 1);
    LLVMBuildBr(b, probe);
    LLVMPositionBuilderAtEnd(b, found);
    LLVMValueRef u_old = ld(e, e->i32, where, hv);
    LLVMBuildBr(b, have);
    LLVMPositionBuilderAtEnd(b, insert);
    LLVMValueRef u_new = get(e, d->cnt);
    put(e, id, keys, hv);
    put(e, u_new, where, hv);
    put(e, id, d->uniq, LLVMBuildZExt(b, u_new, e->i64, ""));
    set(e, d->cnt, LLVMBuildNSWAdd(b, u_new, ci32(e, 1), ""));
    LLVMBuildBr(b, have);
    LLVMPositionBuilderAtEnd(b, have);
    LLVMValueRef u = LLVMBuildPhi(b, e->i32, "u");
    LLVMValueRef uv[2] = { u_old, u_new };
    LLVMBasicBlockRef ub[2] = { found, insert };
    LLVMAddIncoming(u, uv, ub, 2);
    LLVMValueRef fresh = LLVMBuildPhi(b, e->i1, "fresh");
    LLVMValueRef fv[2] = { LLVMConstInt(e->i1, 0, 0), LLVMConstInt(e->i1, 1, 0) };
    LLVMAddIncoming(fresh, fv, ub, 2);
    dedupe_add(e, d, LLVMBuildZExt(b, u, e->i64, ""), LLVMBuildSExt(b, fresh, e->i64, ""), rows, r);
}

/* element k of the summed gradient of touched row u (id row); with partial
 * sums (K is 1), their sum in order. A dense sum is cleared as it is taken. */
static LLVMValueRef dedupe_take(cg_emitter *e, const cg_dedupe *d, LLVMValueRef u, LLVMValueRef row, LLVMValueRef k)
{
    if (!d->dense) return ldf(e, d->acc, add(e, mul(e, u, d->K), k));
    LLVMValueRef at = add(e, mul(e, row, mul(e, ci(e, d->banks), d->K)), k);
    if (d->banks == 1) {
        LLVMValueRef g = ldf(e, d->acc, at);
        put(e, cf(e, 0), d->acc, at);
        return g;
    }
    /* the partial sums as one vector: one load, one store of zeros */
    LLVMTypeRef vt = LLVMVectorType(e->f32, (unsigned)d->banks);
    LLVMValueRef p = gep(e, e->f32, d->acc, at);
    LLVMValueRef v = LLVMBuildLoad2(e->b, vt, p, "");
    LLVMSetAlignment(v, 4);
    LLVMSetAlignment(LLVMBuildStore(e->b, LLVMConstNull(vt), p), 4);
    LLVMValueRef g = LLVMBuildExtractElement(e->b, v, ci32(e, 0), "");
    for (int64_t j = 1; j < d->banks; j++)
        g = LLVMBuildFAdd(e->b, g, LLVMBuildExtractElement(e->b, v, ci32(e, (int32_t)j), ""), "");
    return g;
}

/* after the last dedupe_take of a row: its flag cleared for the next call */
static void dedupe_done(cg_emitter *e, const cg_dedupe *d, LLVMValueRef row)
{
    if (d->dense) put(e, LLVMConstInt(e->i8, 0, 0), d->seen, row);
}

/* Adagrad over the nu touched rows in three passes, so that the square
 * roots and divisions run over contiguous arrays, where the loop vectoriser
 * widens them: the gradients and new accumulators of the rows, gathered
 * into g[] and sq[]; every step, into g[] in place; the steps subtracted
 * from the rows' weights. The same operations as apply_elem's, so the same
 * bits. */
static void sparse_adagrad(cg_emitter *e, const gr_node *n, const cg_apply *ap, const cg_dedupe *d,
                           LLVMValueRef g, LLVMValueRef sq, LLVMValueRef nu)
{
    LLVMBuilderRef b = e->b;
    cg_loop lu, lk;
    for (int pass = 0; pass < 3; pass++) {
        if (pass == 1) {
            LLVMValueRef t = loop_begin(e, &lu, mul(e, nu, d->K), "t");
            put(e, adagrad_step(e, n, ldf(e, g, t), ldf(e, sq, t)), g, t);
            loop_end(e, &lu);
            continue;
        }
        LLVMValueRef u = loop_begin(e, &lu, nu, "u");
        LLVMValueRef row = LLVMBuildSExt(b, ld(e, e->i32, d->uniq, u), e->i64, "");
        LLVMValueRef k = loop_begin(e, &lk, d->K, "k");
        LLVMValueRef j = add(e, mul(e, row, d->K), k), t = add(e, mul(e, u, d->K), k);
        if (pass == 0) {
            LLVMValueRef gv = dedupe_take(e, d, u, row, k);
            LLVMValueRef a = LLVMBuildFAdd(b, ldf(e, ap->slot[0], j), LLVMBuildFMul(b, gv, gv, ""), "");
            put(e, a, ap->slot[0], j);
            put(e, a, sq, t);
            put(e, gv, g, t);
        } else {
            put(e, LLVMBuildFSub(b, ldf(e, ap->var, j), ldf(e, g, t), ""), ap->var, j);
        }
        loop_end(e, &lk);
        if (pass == 0) dedupe_done(e, d, row);
        loop_end(e, &lu);
    }
}

/* a zero-initialised global of node n's own, private to the module */
static LLVMValueRef node_global(cg_emitter *e, const gr_node *n, const char *what, LLVMTypeRef t)
{
    char gname[512];
    snprintf(gname, sizeof gname, "%s.n%d.%s", e->name, (int)(n - e->g->nodes), what);
    LLVMValueRef gv = LLVMAddGlobal(e->mod, t, gname);
    LLVMSetInitializer(gv, LLVMConstNull(t));
    LLVMSetLinkage(gv, LLVMInternalLinkage);
    LLVMSetAlignment(gv, 64);
    return gv;
}

/* A table of at most this many elements, updated by SGD or Adagrad, is
 * updated whole (emit_whole_apply) */
#define CG_WHOLE_ELEMS 64

/* A small table (the one-hot columns of a linear model: 6 to 16 rows): the
 * ids' gradients are summed by id as in the dense form, then one loop over
 * the whole table updates every row, with no flags and no list of the rows
 * touched: for 64 ids and 16 rows, keeping those cost more than the rows
 * they spare. A row whose summed gradient is zero (no id touched it) keeps
 * its weight and accumulator, selected rather than computed (with an
 * accumulator of zero its step would be 0/0); a touched row gets exactly
 * apply_elem's operations, so the bits of the other forms. */
static void emit_whole_apply(cg_emitter *e, const gr_node *n, const cg_apply *ap, cg_dedupe *d, LLVMValueRef idp,
                             LLVMValueRef R, LLVMValueRef M, LLVMValueRef rows, int64_t Vc, int64_t Kc)
{
    LLVMBuilderRef b = e->b;
    d->acc = node_global(e, n, "sums", LLVMArrayType(e->f32, (unsigned)(Vc * d->banks * Kc)));
    cg_ids_loop l;
    ids_begin(e, &l, idp, R, M, Vc);
    LLVMValueRef at = LLVMBuildSExt(b, l.id, e->i64, "");
    if (d->banks > 1) at = add(e, mul(e, at, ci(e, d->banks)), LLVMBuildAnd(b, l.i, ci(e, d->banks - 1), ""));
    dedupe_add(e, d, at, ci(e, 0), rows, l.ri);
    ids_end(e, &l);

    cg_loop lr, lk;
    LLVMValueRef row = loop_begin(e, &lr, ci(e, Vc), "row");
    LLVMValueRef k = loop_begin(e, &lk, d->K, "k");
    LLVMValueRef j = add(e, mul(e, row, d->K), k);
    LLVMValueRef g = dedupe_take(e, d, row, row, k);
    LLVMValueRef untouched = LLVMBuildFCmp(b, LLVMRealOEQ, g, cf(e, 0), "");
    LLVMValueRef w = ldf(e, ap->var, j), step;
    if (n->op == GR_APPLY_ADAGRAD) {
        LLVMValueRef a0 = ldf(e, ap->slot[0], j);
        LLVMValueRef a = LLVMBuildFAdd(b, a0, LLVMBuildFMul(b, g, g, ""), "");
        put(e, LLVMBuildSelect(b, untouched, a0, a, ""), ap->slot[0], j);
        step = adagrad_step(e, n, g, a);
    } else {
        step = LLVMBuildFMul(b, cf(e, n->f[0]), g, "");
    }
    put(e, LLVMBuildSelect(b, untouched, w, LLVMBuildFSub(b, w, step, ""), ""), ap->var, j);
    loop_end(e, &lk);
    loop_end(e, &lr);
}

static void emit_sparse_apply(cg_emitter *e, const gr_node *n, const cg_apply *ap, int nslots)
{
    const gr_node *var = input(e, n, 0), *ids = input(e, n, 1 + nslots);
    LLVMValueRef idp = e->arg[1 + nslots], rows = e->arg[2 + nslots];
    LLVMValueRef R, M;
    ids_dims(e, ids, &R, &M);
    int64_t Vc = var->shape.d[0], Kc = var->shape.d[1];
    cg_dedupe d = { .K = ci(e, Kc), .banks = Kc == 1 ? CG_BANKS : 1 };
    d.dense = Vc * Kc * d.banks <= CG_DENSE_ELEMS;
    if (!d.dense) d.banks = 1;
    LLVMValueRef nids = mul(e, R, M);
    LLVMBuilderRef b = e->b;
    int adagrad = n->op == GR_APPLY_ADAGRAD;
    if (d.dense && (adagrad || n->op == GR_APPLY_SGD) && Vc * Kc <= CG_WHOLE_ELEMS) {
        emit_whole_apply(e, n, ap, &d, idp, R, M, rows, Vc, Kc);
        return;
    }

    /* per-call scratch, one block: the hash table (keys[cap], where[cap],
     * cap the power of two above max(2 * nids, 15)); uniq[nids + 1] (the
     * extra entry takes the dense step's store for an id already seen); the
     * row of zeros and acc of the compact form; for Adagrad, g and sq */
    LLVMValueRef mask = NULL, map_bytes = ci(e, 0);
    if (!d.dense) {
        LLVMValueRef x = LLVMBuildOr(b, mul(e, nids, ci(e, 2)), ci(e, 15), "");
        LLVMValueRef lz[2] = { x, LLVMConstInt(e->i1, 0, 0) };
        LLVMValueRef cap = LLVMBuildShl(b, ci(e, 1), LLVMBuildSub(b, ci(e, 64), intrinsic(e, "llvm.ctlz", e->i64, lz, 2), ""), "");
        mask = LLVMBuildSub(b, cap, ci(e, 1), "");
        map_bytes = mul(e, cap, ci(e, 8));
    }
    LLVMValueRef uniq_bytes = round16(e, mul(e, add(e, nids, ci(e, 1)), ci(e, 4)));
    LLVMValueRef compact_bytes = round16(e, mul(e, mul(e, nids, d.K), ci(e, 4)));
    int64_t zero_bytes = (Kc * 4 + 15) & ~(int64_t)15;
    LLVMValueRef acc_bytes = d.dense ? ci(e, 0) : add(e, compact_bytes, ci(e, zero_bytes));
    LLVMValueRef bytes = add(e, add(e, map_bytes, uniq_bytes), acc_bytes);
    if (adagrad) bytes = add(e, bytes, mul(e, compact_bytes, ci(e, 2)));
    LLVMValueRef on_heap;
    LLVMValueRef map = scratch_alloc(e, bytes, &on_heap);
    d.uniq = gep(e, e->i8, map, map_bytes);
    LLVMValueRef after = gep(e, e->i8, d.uniq, add(e, uniq_bytes, acc_bytes));   /* Adagrad's g, sq */
    LLVMValueRef where = NULL;
    if (d.dense) {
        d.acc = node_global(e, n, "sums", LLVMArrayType(e->f32, (unsigned)(Vc * d.banks * Kc)));
        d.seen = node_global(e, n, "seen", LLVMArrayType(e->i8, (unsigned)Vc));
    } else {
        d.acc = gep(e, e->i8, d.uniq, add(e, uniq_bytes, ci(e, zero_bytes)));
        LLVMBuildMemSet(b, gep(e, e->f32, d.acc, ci(e, -Kc)), LLVMConstInt(e->i8, 0, 0), ci(e, Kc * 4), 4);
        LLVMValueRef half = LLVMBuildLShr(b, map_bytes, ci(e, 1), "");
        where = gep(e, e->i8, map, half);
        LLVMBuildMemSet(b, map, LLVMConstInt(e->i8, 0xff, 0), half, 4);   /* -1: empty */
    }
    d.cnt = local(e, e->i32, "nuniq");
    set(e, d.cnt, ci32(e, 0));

    cg_ids_loop l;
    ids_begin(e, &l, idp, R, M, Vc);
    if (d.dense) dedupe_dense(e, &d, l.id, l.i, rows, l.ri);
    else dedupe_hash(e, &d, map, where, mask, l.id, rows, l.ri);
    ids_end(e, &l);

    /* one update per touched row */
    LLVMValueRef nu = LLVMBuildZExt(b, get(e, d.cnt), e->i64, "");
    if (adagrad) {
        sparse_adagrad(e, n, ap, &d, after, gep(e, e->i8, after, compact_bytes), nu);
    } else {
        cg_loop lr, lk;
        LLVMValueRef u = loop_begin(e, &lr, nu, "u");
        LLVMValueRef row = LLVMBuildSExt(b, ld(e, e->i32, d.uniq, u), e->i64, "");
        LLVMValueRef k = loop_begin(e, &lk, d.K, "k");
        apply_elem(e, n, ap, add(e, mul(e, row, d.K), k), dedupe_take(e, &d, u, row, k));
        loop_end(e, &lk);
        dedupe_done(e, &d, row);
        loop_end(e, &lr);
    }

    scratch_free(e, map, on_heap);
}

static void emit_apply(cg_emitter *e, const gr_node *n)
{
    int nslots = apply_nslots(n->op);
    const gr_node *var = input(e, n, 0);
    cg_apply ap = { .var = e->arg[0] };
    for (int s = 0; s < nslots && s < 2; s++) ap.slot[s] = e->arg[1 + s];
    if (n->op == GR_APPLY_ADAM) {
        /* t = step + 1, stored back; the bias correction in double, once per call */
        LLVMValueRef stepp = e->arg[3];
        LLVMValueRef t = LLVMBuildFAdd(e->b, ldf(e, stepp, ci(e, 0)), cf(e, 1), "t");
        put(e, t, stepp, ci(e, 0));
        LLVMValueRef td = LLVMBuildFPExt(e->b, t, e->f64, "");
        LLVMValueRef one = LLVMConstReal(e->f64, 1);
        LLVMValueRef b1t = intr2(e, "llvm.pow", LLVMConstReal(e->f64, n->f[1]), td);
        LLVMValueRef b2t = intr2(e, "llvm.pow", LLVMConstReal(e->f64, n->f[2]), td);
        LLVMValueRef alpha = LLVMBuildFDiv(e->b,
            LLVMBuildFMul(e->b, LLVMConstReal(e->f64, n->f[0]), fsqrt(e, LLVMBuildFSub(e->b, one, b2t, "")), ""),
            LLVMBuildFSub(e->b, one, b1t, ""), "");
        ap.alpha = LLVMBuildFPTrunc(e->b, alpha, e->f32, "alpha");
    }
    if (n->a[0]) { emit_sparse_apply(e, n, &ap, nslots); return; }
    LLVMValueRef grad = e->arg[1 + nslots];
    cg_loop l;
    LLVMValueRef i = loop_begin(e, &l, numel(e, var->shape), "i");
    apply_elem(e, n, &ap, i, ldf(e, grad, i));
    loop_end(e, &l);
}

/* ---- shape movers, axis reductions, weighted ids, dropout, assignment ------------------ */

/* s viewed as [outer, mid, inner] around axis ax, as values */
static void split_at(cg_emitter *e, gr_shape s, int ax, LLVMValueRef *outer, LLVMValueRef *mid,
                     LLVMValueRef *inner)
{
    *outer = dims_prod(e, s, 0, ax);
    *mid = dimv(e, s.d[ax]);
    *inner = dims_prod(e, s, ax + 1, s.rank);
}

/* dst[di ..] = src[si ..], n elements of 4 bytes (f32 or i32) */
static void copy4(cg_emitter *e, LLVMValueRef dst, LLVMValueRef di, LLVMValueRef src, LLVMValueRef si,
                  LLVMValueRef n)
{
    LLVMBuildMemCpy(e->b, gep(e, e->f32, dst, di), 4, gep(e, e->f32, src, si), 4, mul(e, n, ci(e, 4)));
}

/* CONCAT, SLICE, PAD_SLICE: one contiguous block per outer index and input
 * (everything after the axis moves together); TRANSPOSE: a 2-D loop. */
static void emit_move(cg_emitter *e, const gr_node *n)
{
    const gr_node *x = input(e, n, 0);
    int ax = (int)n->a[0];
    LLVMValueRef outer, mid, inner;
    cg_loop lo, li;
    if (n->op == GR_TRANSPOSE) {
        LLVMValueRef R = dimv(e, x->shape.d[0]), C = dimv(e, x->shape.d[1]);
        LLVMTypeRef t = elem_type(e, x->dtype);
        LLVMValueRef r = loop_begin(e, &lo, R, "r");
        LLVMValueRef c = loop_begin(e, &li, C, "c");
        put(e, ld(e, t, e->arg[1], add(e, mul(e, r, C), c)), e->arg[0], add(e, mul(e, c, R), r));
        loop_end(e, &li);
        loop_end(e, &lo);
        return;
    }
    if (n->op == GR_CONCAT) {
        split_at(e, n->shape, ax, &outer, &mid, &inner);
        LLVMValueRef o = loop_begin(e, &lo, outer, "o");
        int64_t at = 0;
        for (int j = 0; j < n->nin; j++) {
            int64_t dj = input(e, n, j)->shape.d[ax];
            LLVMValueRef blk = mul(e, ci(e, dj), inner);
            copy4(e, e->arg[0], mul(e, add(e, mul(e, o, mid), ci(e, at)), inner), e->arg[1 + j], mul(e, o, blk), blk);
            at += dj;
        }
        loop_end(e, &lo);
        return;
    }
    /* SLICE reads from x, PAD_SLICE writes into its zeroed output: the full tensor */
    split_at(e, n->op == GR_SLICE ? x->shape : n->shape, ax, &outer, &mid, &inner);
    if (n->op == GR_PAD_SLICE) zero_fill(e, e->arg[0], numel(e, n->shape));
    LLVMValueRef blk = mul(e, ci(e, n->a[2]), inner);
    LLVMValueRef o = loop_begin(e, &lo, outer, "o");
    LLVMValueRef fi = mul(e, add(e, mul(e, o, mid), ci(e, n->a[1])), inner), pi = mul(e, o, blk);
    if (n->op == GR_SLICE) copy4(e, e->arg[0], pi, e->arg[1], fi, blk);
    else copy4(e, e->arg[0], fi, e->arg[1], pi, blk);
    loop_end(e, &lo);
}

/* MAX_AXIS: the first element greater than all before it, from -inf (NaNs
 * never win); MAX_AXIS_GRAD: g at that element, zeros elsewhere (nothing when
 * the axis is empty). */
static void emit_max_axis(cg_emitter *e, const gr_node *n)
{
    const gr_node *x = input(e, n, 0);
    LLVMValueRef outer, mid, inner;
    split_at(e, x->shape, (int)n->a[0], &outer, &mid, &inner);
    if (n->op == GR_MAX_AXIS_GRAD) zero_fill(e, e->arg[0], numel(e, n->shape));
    LLVMValueRef best = local(e, e->f32, "best"), at = local(e, e->i64, "at");
    cg_loop lo, lk, lm;
    LLVMValueRef o = loop_begin(e, &lo, outer, "o");
    LLVMValueRef k = loop_begin(e, &lk, inner, "k");
    set(e, best, LLVMConstReal(e->f32, -__builtin_inf()));
    set(e, at, ci(e, 0));
    LLVMValueRef m = loop_begin(e, &lm, mid, "m");
    LLVMValueRef v = ldf(e, e->arg[1], add(e, mul(e, add(e, mul(e, o, mid), m), inner), k));
    LLVMValueRef gt = LLVMBuildFCmp(e->b, LLVMRealOGT, v, get(e, best), "");
    set(e, best, LLVMBuildSelect(e->b, gt, v, get(e, best), ""));
    set(e, at, LLVMBuildSelect(e->b, gt, m, get(e, at), ""));
    loop_end(e, &lm);
    LLVMValueRef ok = add(e, mul(e, o, inner), k);
    if (n->op == GR_MAX_AXIS) {
        put(e, get(e, best), e->arg[0], ok);
    } else {
        cg_if f;
        if_begin(e, &f, LLVMBuildICmp(e->b, LLVMIntSGT, mid, ci(e, 0), ""));
        put(e, ldf(e, e->arg[2], ok), e->arg[0], add(e, mul(e, add(e, mul(e, o, mid), get(e, at)), inner), k));
        if_end(e, &f);
    }
    loop_end(e, &lk);
    loop_end(e, &lo);
}

/* COUNT_IDS(ids) -> [R,1]; GATHER_WSUM(W, ids, w) -> [R,K];
 * SCATTER_WADD(ids, w, rows, like) -> [V,K]; GATHER_DOT(W, ids, g) -> ids' shape.
 * One pass over the ids; an invalid id is skipped (and counts 0). */
static void emit_weighted(cg_emitter *e, const gr_node *n)
{
    int ids_at = n->op == GR_COUNT_IDS || n->op == GR_SCATTER_WADD ? 0 : 1;
    const gr_node *ids = input(e, n, ids_at);
    LLVMValueRef idp = e->arg[1 + ids_at];
    LLVMValueRef R, M;
    ids_dims(e, ids, &R, &M);
    int64_t V, K = 1;
    if (n->op == GR_COUNT_IDS) V = n->a[0];
    else if (n->op == GR_SCATTER_WADD) { V = n->shape.d[0]; K = n->shape.d[1]; }
    else { V = input(e, n, 0)->shape.d[0]; K = input(e, n, 0)->shape.d[1]; }
    zero_fill(e, e->arg[0], numel(e, n->shape));

    cg_ids_loop l;
    cg_loop lk;
    ids_begin(e, &l, idp, R, M, V);
    LLVMValueRef r = l.ri, rm = l.i, id = LLVMBuildSExt(e->b, l.id, e->i64, "");
    if (n->op == GR_COUNT_IDS) {
        accum(e, e->arg[0], r, cf(e, 1));
    } else if (n->op == GR_GATHER_DOT) {
        LLVMValueRef s = local(e, e->f32, "dot");
        set(e, s, cf(e, 0));
        LLVMValueRef k = loop_begin(e, &lk, ci(e, K), "k");
        LLVMValueRef p = LLVMBuildFMul(e->b, ldf(e, e->arg[1], add(e, mul(e, id, ci(e, K)), k)),
                                       ldf(e, e->arg[3], add(e, mul(e, r, ci(e, K)), k)), "");
        set(e, s, LLVMBuildFAdd(e->b, get(e, s), p, ""));
        loop_end(e, &lk);
        put(e, get(e, s), e->arg[0], rm);
    } else {
        int wsum = n->op == GR_GATHER_WSUM;
        LLVMValueRef w = ldf(e, e->arg[wsum ? 3 : 2], rm);
        LLVMValueRef k = loop_begin(e, &lk, ci(e, K), "k");
        LLVMValueRef rowk = add(e, mul(e, r, ci(e, K)), k), idk = add(e, mul(e, id, ci(e, K)), k);
        if (wsum) accum(e, e->arg[0], rowk, LLVMBuildFMul(e->b, w, ldf(e, e->arg[1], idk), ""));
        else accum(e, e->arg[0], idk, LLVMBuildFMul(e->b, w, ldf(e, e->arg[3], rowk), ""));
        loop_end(e, &lk);
    }
    ids_end(e, &l);
}

/* splitmix64's finaliser, as gr_mix64 (graph/eval.c) */
static LLVMValueRef mix64(cg_emitter *e, LLVMValueRef z)
{
    LLVMBuilderRef b = e->b;
    z = LLVMBuildMul(b, LLVMBuildXor(b, z, LLVMBuildLShr(b, z, ci(e, 30), ""), ""),
                     LLVMConstInt(e->i64, 0xBF58476D1CE4E5B9ull, 0), "");
    z = LLVMBuildMul(b, LLVMBuildXor(b, z, LLVMBuildLShr(b, z, ci(e, 27), ""), ""),
                     LLVMConstInt(e->i64, 0x94D049BB133111EBull, 0), "");
    return LLVMBuildXor(b, z, LLVMBuildLShr(b, z, ci(e, 31), ""), "");
}

/* DROPOUT: ops.def's counter-based mask, bit for bit the reference's (the key
 * from the step once per call, then one mix per element; wrapping u64 math) */
static void emit_dropout(cg_emitter *e, const gr_node *n)
{
    LLVMBuilderRef b = e->b;
    LLVMValueRef G = LLVMConstInt(e->i64, GR_GOLDEN64, 0);
    LLVMValueRef step = LLVMBuildSExt(b, ld(e, e->i32, e->arg[2], ci(e, 0)), e->i64, "");
    LLVMValueRef key = mix64(e, LLVMBuildAdd(b, LLVMConstInt(e->i64, (unsigned long long)n->a[0], 0),
                                             LLVMBuildMul(b, G, LLVMBuildAdd(b, step, ci(e, 1), ""), ""), ""));
    LLVMValueRef thr = LLVMConstInt(e->i64, gr_dropout_threshold(n->f[0]), 0);
    LLVMValueRef scale = LLVMConstReal(e->f32, gr_dropout_scale(n->f[0]));
    cg_loop l;
    LLVMValueRef i = loop_begin(e, &l, numel(e, n->shape), "i");
    LLVMValueRef h = mix64(e, LLVMBuildAdd(b, key, LLVMBuildMul(b, G, LLVMBuildAdd(b, i, ci(e, 1), ""), ""), ""));
    LLVMValueRef keep = LLVMBuildICmp(b, LLVMIntUGE, LLVMBuildLShr(b, h, ci(e, 40), ""), thr, "");
    LLVMValueRef y = LLVMBuildFMul(b, ldf(e, e->arg[1], i), scale, "");
    put(e, LLVMBuildSelect(b, keep, y, cf(e, 0), ""), e->arg[0], i);
    loop_end(e, &l);
}

/* ASSIGN_EMA(var, value): var = var * d + value * (1 - d), in place */
static void emit_assign_ema(cg_emitter *e, const gr_node *n)
{
    LLVMBuilderRef b = e->b;
    double d = n->f[0];
    cg_loop l;
    LLVMValueRef i = loop_begin(e, &l, numel(e, input(e, n, 0)->shape), "i");
    LLVMValueRef v = LLVMBuildFAdd(b, LLVMBuildFMul(b, ldf(e, e->arg[0], i), cf(e, d), ""),
                                   LLVMBuildFMul(b, ldf(e, e->arg[1], i), cf(e, 1 - d), ""), "");
    put(e, v, e->arg[0], i);
    loop_end(e, &l);
}

/* ---- one function per node ------------------------------------------------------------ */

static void emit_body(cg_emitter *e, const gr_node *n)
{
    switch (n->op) {
    case GR_CONST: case GR_INPUT: case GR_PARAM:
        break;   /* leaves: no function (the entry copies CONST data) */
    case GR_NEG: case GR_EXP: case GR_LOG: case GR_SQRT: case GR_ABS: case GR_SQUARE:
    case GR_SIGMOID: case GR_TANH: case GR_RELU: case GR_SOFTPLUS: case GR_STEP: case GR_SIGN:
    case GR_CAST_F32:
    case GR_ADD: case GR_SUB: case GR_MUL: case GR_DIV: case GR_MAXIMUM: case GR_MINIMUM:
    case GR_SIGMOID_XENT: case GR_BROADCAST:
    case GR_LEAKY_RELU: case GR_ELU: case GR_LESS: case GR_LESS_EQUAL: case GR_GREATER:
    case GR_GREATER_EQUAL: case GR_EQUAL: case GR_NOT_EQUAL: case GR_SELECT:
        emit_elementwise(e, n);
        break;
    case GR_SUM_TO: case GR_SUM: case GR_MEAN: case GR_SUM_AXIS: case GR_MEAN_AXIS:
        emit_reduce(e, n);
        break;
    case GR_CONCAT: case GR_SLICE: case GR_PAD_SLICE: case GR_TRANSPOSE:
        emit_move(e, n);
        break;
    case GR_MAX_AXIS: case GR_MAX_AXIS_GRAD:
        emit_max_axis(e, n);
        break;
    case GR_COUNT_IDS: case GR_GATHER_WSUM: case GR_SCATTER_WADD: case GR_GATHER_DOT:
        emit_weighted(e, n);
        break;
    case GR_DROPOUT:
        emit_dropout(e, n);
        break;
    case GR_FUSED:
        emit_fused(e, n);
        break;
    case GR_ASSIGN_EMA:
        emit_assign_ema(e, n);
        break;
    case GR_RESHAPE: {
        const gr_node *x = input(e, n, 0);
        LLVMValueRef bytes = mul(e, numel(e, n->shape), ci(e, (int64_t)gr_dtype_size(x->dtype)));
        LLVMBuildMemCpy(e->b, e->arg[0], 4, e->arg[1], 4, bytes);
        break;
    }
    case GR_NUMEL:
        put(e, LLVMBuildSIToFP(e->b, numel(e, input(e, n, 0)->shape), e->f32, ""), e->arg[0], ci(e, 0));
        break;
    case GR_MATMUL:
        emit_matmul(e, n);
        break;
    case GR_GATHER_SUM: case GR_ONE_HOT: case GR_SCATTER_ADD:
        emit_sparse(e, n);
        break;
    case GR_SHIFT_IDS:
        emit_shift_ids(e, n);
        break;
    case GR_SOFTMAX: case GR_LOG_SOFTMAX: case GR_ARGMAX: case GR_SOFTMAX_XENT: case GR_SOFTMAX_XENT_GRAD:
        emit_rowwise(e, n);
        break;
    case GR_APPLY_SGD: case GR_APPLY_ADAGRAD: case GR_APPLY_ADAM: case GR_APPLY_FTRL:
        emit_apply(e, n);
        break;
    }
}

static int is_leaf(const gr_node *n) { return (gr_ops[n->op].flags & GR_F_LEAF) != 0; }
static int is_side(const gr_node *n) { return (gr_ops[n->op].flags & GR_F_SIDE) != 0; }

/* identity of the memory behind a pointer argument: a buffer slot, or the
 * CONST's own global */
static int mem_key(cg_emitter *e, int node)
{
    const gr_node *x = &e->g->nodes[node];
    return x->op == GR_CONST ? -2 - node : x->buf;
}

/* the pointer operands of node id: its output (unless an update), then its inputs */
static int node_ptrs(cg_emitter *e, int id, int *keys)
{
    const gr_node *n = &e->g->nodes[id];
    int np = 0;
    if (!is_side(n)) keys[np++] = n->buf;
    for (int j = 0; j < n->nin; j++) keys[np++] = mem_key(e, n->in[j]);
    return np;
}

static LLVMValueRef emit_node_fn(cg_emitter *e, int id)
{
    const gr_node *n = &e->g->nodes[id];
    int keys[GR_MAXIN + 1];
    int np = node_ptrs(e, id, keys);
    LLVMTypeRef pt[GR_MAXIN + 2];
    for (int p = 0; p < np; p++) pt[p] = e->ptr;
    pt[np] = e->i64;
    char fname[512];
    snprintf(fname, sizeof fname, "%s.n%d.%s", e->name, id, gr_ops[n->op].name);
    LLVMValueRef fn = LLVMAddFunction(e->mod, fname, LLVMFunctionType(e->vd, pt, (unsigned)np + 1, 0));
    LLVMSetLinkage(fn, LLVMInternalLinkage);
    add_fn_attr(e, fn, "nounwind", 0);
    unsigned noalias = LLVMGetEnumAttributeKindForName("noalias", 7);
    LLVMValueRef args[GR_MAXIN + 1];
    for (int p = 0; p < np; p++) {
        args[p] = LLVMGetParam(fn, (unsigned)p);
        char pname[16];
        int j = is_side(n) ? p : p - 1;   /* input index, -1 for the output */
        if (j < 0) snprintf(pname, sizeof pname, "out");
        else snprintf(pname, sizeof pname, "in%d", j);
        LLVMSetValueName2(args[p], pname, strlen(pname));
        int shared = 0;
        for (int q = 0; q < np; q++) if (q != p && keys[q] == keys[p]) shared = 1;
        if (!shared)
            LLVMAddAttributeAtIndex(fn, (unsigned)p + 1, LLVMCreateEnumAttribute(e->ctx, noalias, 0));
    }
    e->fn = fn;
    e->B = LLVMGetParam(fn, (unsigned)np);
    LLVMSetValueName2(e->B, "B", 1);
    e->arg = args;
    e->allocas = LLVMAppendBasicBlockInContext(e->ctx, fn, "entry");
    LLVMBasicBlockRef start = LLVMAppendBasicBlockInContext(e->ctx, fn, "start");
    LLVMPositionBuilderAtEnd(e->b, e->allocas);
    LLVMBuildBr(e->b, start);
    LLVMPositionBuilderAtEnd(e->b, start);
    emit_body(e, n);
    LLVMBuildRetVoid(e->b);
    e->arg = NULL;
    return fn;
}

/* ---- the module ------------------------------------------------------------------------- */

/* what emission relies on and a hand-built or unbound graph might break */
static int check_program(const gr_graph *g, es_status *st)
{
    for (int i = 0; i < g->n; i++) {
        const gr_node *n = &g->nodes[i];
        if (!is_side(n) && (n->buf < 0 || n->buf >= g->nbufs))
            return es_fail(st, ES_EINTERNAL, "codegen: node %%%d (%s) has no buffer: bind the program (gr_bind) before compiling",
                           i, gr_ops[n->op].name);
        if (n->shape.rank < 0 || n->shape.rank > GR_MAXDIMS)
            return es_fail(st, ES_EINTERNAL, "codegen: node %%%d (%s) has rank %d", i, gr_ops[n->op].name, n->shape.rank);
        if (n->op == GR_CONST && !n->data)
            return es_fail(st, ES_EINTERNAL, "codegen: const node %%%d has no values", i);
        if (is_side(n) && (n->nin < 2 + apply_nslots(n->op) + (n->a[0] ? 1 : 0)))
            return es_fail(st, ES_EINTERNAL, "codegen: %s node %%%d has %d inputs", gr_ops[n->op].name, i, n->nin);
        for (int j = 0; j < n->nin; j++)
            if (n->in[j] < 0 || n->in[j] >= i)
                return es_fail(st, ES_EINTERNAL, "codegen: node %%%d reads node %%%d, which does not come before it",
                               i, n->in[j]);
    }
    return 0;
}

static int is_output(const gr_graph *g, int node)
{
    for (int k = 0; k < g->noutputs; k++) if (g->outputs[k].node == node) return 1;
    return 0;
}

LLVMModuleRef cg_emit(LLVMContextRef ctx, const gr_graph *prog, const char *name, es_status *st)
{
    return cg_emit_ex(ctx, prog, name, 0, st);
}

LLVMModuleRef cg_emit_ex(LLVMContextRef ctx, const gr_graph *prog, const char *name, int flags, es_status *st)
{
    if (!name || !name[0]) { es_fail(st, ES_EINVAL, "codegen: the entry needs a name"); return NULL; }
    if (check_program(prog, st) != 0) return NULL;

    cg_emitter e = { .ctx = ctx, .g = prog, .name = name, .flags = flags };
    e.mod = LLVMModuleCreateWithNameInContext(name, ctx);
    e.b = LLVMCreateBuilderInContext(ctx);
    e.f32 = LLVMFloatTypeInContext(ctx);
    e.f64 = LLVMDoubleTypeInContext(ctx);
    e.i1 = LLVMInt1TypeInContext(ctx);
    e.i8 = LLVMInt8TypeInContext(ctx);
    e.i32 = LLVMInt32TypeInContext(ctx);
    e.i64 = LLVMInt64TypeInContext(ctx);
    e.ptr = LLVMPointerTypeInContext(ctx, 0);
    e.vd = LLVMVoidTypeInContext(ctx);
    e.consts = es_xcalloc((size_t)prog->n, sizeof *e.consts);
    LLVMValueRef *fns = es_xcalloc((size_t)prog->n, sizeof *fns);

    /* constants: raw little-endian f32 bytes, so a big frozen table costs one
     * ConstantDataArray rather than a value per element */
    for (int i = 0; i < prog->n; i++) {
        const gr_node *n = &prog->nodes[i];
        if (n->op != GR_CONST) continue;
        size_t bytes = (size_t)gr_numel(n->shape, 1) * sizeof(float);
        char gname[512];
        snprintf(gname, sizeof gname, "%s.c%d", name, i);
        LLVMValueRef init = LLVMConstStringInContext2(ctx, (const char *)n->data, bytes, 1);
        LLVMValueRef gv = LLVMAddGlobal(e.mod, LLVMTypeOf(init), gname);
        LLVMSetInitializer(gv, init);
        LLVMSetGlobalConstant(gv, 1);
        LLVMSetLinkage(gv, LLVMPrivateLinkage);
        LLVMSetUnnamedAddress(gv, LLVMGlobalUnnamedAddr);
        LLVMSetAlignment(gv, 64);
        e.consts[i] = gv;
    }
    for (int i = 0; i < prog->n; i++)
        if (!is_leaf(&prog->nodes[i])) fns[i] = emit_node_fn(&e, i);

    /* the entry: void name(void **bufs, int64_t B) */
    LLVMTypeRef pt[2] = { e.ptr, e.i64 };
    LLVMValueRef entry = LLVMAddFunction(e.mod, name, LLVMFunctionType(e.vd, pt, 2, 0));
    add_fn_attr(&e, entry, "nounwind", 0);
    LLVMValueRef bufs = LLVMGetParam(entry, 0), B = LLVMGetParam(entry, 1);
    LLVMSetValueName2(bufs, "bufs", 4);
    LLVMSetValueName2(B, "B", 1);
    LLVMPositionBuilderAtEnd(e.b, LLVMAppendBasicBlockInContext(ctx, entry, "entry"));
    /* every slot pointer loaded once: the caller does not change bufs during a call */
    LLVMValueRef *slot = es_xcalloc((size_t)prog->nbufs, sizeof *slot);
    for (int k = 0; k < prog->nbufs; k++) {
        LLVMValueRef idx = LLVMConstInt(e.i64, (unsigned long long)k, 0);
        slot[k] = LLVMBuildLoad2(e.b, e.ptr, LLVMBuildInBoundsGEP2(e.b, e.ptr, bufs, &idx, 1, ""), "");
    }
    for (int i = 0; i < prog->n; i++) {
        const gr_node *n = &prog->nodes[i];
        if (n->op == GR_CONST) {
            if ((flags & CG_EMIT_AOT) && !is_output(prog, i)) continue;   /* consumers read the global */
            size_t bytes = (size_t)gr_numel(n->shape, 1) * sizeof(float);
            LLVMBuildMemCpy(e.b, slot[n->buf], 4, e.consts[i], 64, LLVMConstInt(e.i64, bytes, 0));
            continue;
        }
        if (!fns[i]) continue;
        LLVMValueRef args[GR_MAXIN + 2];
        int na = 0;
        if (!is_side(n)) args[na++] = slot[n->buf];
        for (int j = 0; j < n->nin; j++) {
            const gr_node *x = &prog->nodes[n->in[j]];
            args[na++] = x->op == GR_CONST ? e.consts[n->in[j]] : slot[x->buf];
        }
        args[na++] = B;
        LLVMBuildCall2(e.b, LLVMGlobalGetValueType(fns[i]), fns[i], args, (unsigned)na, "");
    }
    LLVMBuildRetVoid(e.b);

    free(slot);
    free(fns);
    free(e.consts);
    LLVMDisposeBuilder(e.b);
    return e.mod;
}

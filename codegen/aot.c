/*
 * aot.c — a standalone predictor: the frozen predict program, the feature
 * preprocessing and a C ABI in one object, plus its header (aot.h).
 *
 * Module layout (every symbol internal except the three NAME_* functions):
 *   NAME.program      cg_emit_ex(CG_EMIT_AOT) of the program; reads its
 *                     frozen weights from private constant globals
 *   NAME.encode       prep.c: one NAME_input -> row r of every fed INPUT
 *   NAME.run          R rows: buffers carved from a 64-byte-aligned
 *                     workspace, encode each row, run the program once for
 *                     all R, copy each row's outputs into NAME_output
 *   NAME_predict      one row, its workspace an alloca (the header states
 *                     the size)
 *   NAME_predict_batch  rows in chunks as large as the caller's workspace
 *                     allows; without a workspace, one row at a time
 *   NAME_workspace_bytes  the workspace for R rows
 * Buffer slot k of the program takes round64(a_k * R + b_k) bytes of the
 * workspace (gr_buf_bytes is affine in the batch size; checked). CONST slots
 * take none (the program reads constants from their globals) unless the
 * CONST is an output; an INPUT "global_step" points at a constant holding
 * the checkpoint's step, as `estc predict` feeds it.
 *
 * The trained weights stay PARAMs of the program, bound to private constant
 * globals (64-byte aligned, in .rodata) the way the JIT binds them to the
 * variable store, and NAME.program is kept out of line. Were they CONSTs, or
 * the program inlined where the pointers are known, O2 would unroll the
 * matrix loops over known weights and fold every weight into the code: a
 * bigger object, many times the compile time, and no faster.
 *
 * Nothing here allocates at run time or writes a global: the predictor is
 * thread-safe by construction. A row whose values cannot be used (prep.h)
 * still goes through the program with ids -1 and zeros, so a batch never
 * branches around rows; its output gets error = 1 + column, class_id -1 and
 * NaNs. After optimisation the module's external declarations are checked
 * against a list of libc/libm functions, so a predictor that would need
 * BLAS, malloc or anything else fails to export instead of failing to link.
 *
 * The header's structs are generated from the same field lists as the LLVM
 * struct types, and carry _Static_assert(sizeof) with the sizes LLVM's data
 * layout gives, so a compiler whose ABI disagrees stops at compile time.
 */
#define _GNU_SOURCE
#include "aot.h"
#include "prep.h"

#include <llvm-c/Core.h>
#include <llvm-c/Target.h>
#include <llvm-c/TargetMachine.h>
#include <llvm-c/Transforms/PassBuilder.h>

#include <math.h>
#include <stdlib.h>
#include <string.h>

enum { OF_CLASS_ID, OF_CLASS_NAME, OF_VALUE, OF_ERROR };

typedef struct ofield {
    char *cname;                 /* C field name */
    int kind;                    /* OF_* */
    int node;                    /* OF_CLASS_ID, OF_VALUE: the output node */
    gr_dtype dtype;              /* OF_VALUE */
    int64_t count;               /* elements per row */
    int array;                   /* declared as an array (even of one element) */
    const char *output;          /* the program's name for it */
} ofield;

typedef struct aot {
    const cg_aot_model *m;
    const gr_graph *g;
    LLVMContextRef ctx;
    LLVMModuleRef mod;
    LLVMBuilderRef b;
    LLVMTypeRef i1, i8, i32, i64, f32, ptr, vd;
    LLVMTypeRef in_t, out_t;
    cg_prep *prep;
    LLVMValueRef program, encode;
    char *upper;                 /* NAME in capitals, for macros */

    /* workspace layout, per buffer slot */
    int nslots;
    int64_t *sa, *sb;            /* bytes = sa * R + sb */
    int *need;                   /* 1: carved from the workspace */
    LLVMValueRef *param;         /* per slot: the constant global of a PARAM, or NULL */
    int gstep_slot;              /* the INPUT global_step's slot, or -1 */
    LLVMValueRef gstep;          /* its constant */
    int nfeed;                   /* fed INPUT nodes (ids or floats the encoder writes) */
    int *feed_node;

    int nfields;
    ofield *fields;
    LLVMValueRef class_blob, class_off;
    int nclasses;

    /* the function being built */
    LLVMValueRef fn;
    LLVMBasicBlockRef allocas;
} aot;

/* ---- small builders -------------------------------------------------------------------- */

static LLVMValueRef k64(aot *a, int64_t v) { return LLVMConstInt(a->i64, (unsigned long long)v, 1); }
static LLVMValueRef k32(aot *a, int64_t v) { return LLVMConstInt(a->i32, (unsigned long long)v, 1); }

static LLVMValueRef begin_fn(aot *a, const char *name, LLVMTypeRef ret, LLVMTypeRef *pt, int n, int internal)
{
    a->fn = LLVMAddFunction(a->mod, name, LLVMFunctionType(ret, pt, (unsigned)n, 0));
    if (internal) LLVMSetLinkage(a->fn, LLVMInternalLinkage);
    unsigned nounwind = LLVMGetEnumAttributeKindForName("nounwind", 8);
    LLVMAddAttributeAtIndex(a->fn, LLVMAttributeFunctionIndex, LLVMCreateEnumAttribute(a->ctx, nounwind, 0));
    a->allocas = LLVMAppendBasicBlockInContext(a->ctx, a->fn, "entry");
    LLVMBasicBlockRef start = LLVMAppendBasicBlockInContext(a->ctx, a->fn, "start");
    LLVMPositionBuilderAtEnd(a->b, a->allocas);
    LLVMBuildBr(a->b, start);
    LLVMPositionBuilderAtEnd(a->b, start);
    return a->fn;
}

static LLVMValueRef local(aot *a, LLVMTypeRef t, const char *name)
{
    return cg_entry_alloca(a->ctx, a->allocas, t, name);
}

static LLVMValueRef get(aot *a, LLVMValueRef var) { return LLVMBuildLoad2(a->b, LLVMGetAllocatedType(var), var, ""); }
static void set(aot *a, LLVMValueRef var, LLVMValueRef v) { LLVMBuildStore(a->b, v, var); }

static LLVMBasicBlockRef block(aot *a, const char *name) { return LLVMAppendBasicBlockInContext(a->ctx, a->fn, name); }

typedef struct lp { LLVMBasicBlockRef head, exit; LLVMValueRef var, i; } lp;

/* for (i = from; i < n; i++) { */
static LLVMValueRef loop_begin(aot *a, lp *l, LLVMValueRef from, LLVMValueRef n, const char *name)
{
    l->var = local(a, a->i64, name);
    set(a, l->var, from);
    l->head = block(a, name);
    LLVMBasicBlockRef body = block(a, "body");
    l->exit = block(a, "done");
    LLVMBuildBr(a->b, l->head);
    LLVMPositionBuilderAtEnd(a->b, l->head);
    l->i = get(a, l->var);
    LLVMBuildCondBr(a->b, LLVMBuildICmp(a->b, LLVMIntULT, l->i, n, ""), body, l->exit);
    LLVMPositionBuilderAtEnd(a->b, body);
    return l->i;
}

/* } with i += step */
static void loop_end(aot *a, lp *l, LLVMValueRef step)
{
    set(a, l->var, LLVMBuildAdd(a->b, l->i, step, ""));
    LLVMBuildBr(a->b, l->head);
    LLVMPositionBuilderAtEnd(a->b, l->exit);
}

static LLVMValueRef gep(aot *a, LLVMTypeRef t, LLVMValueRef base, LLVMValueRef idx)
{
    return LLVMBuildInBoundsGEP2(a->b, t, base, &idx, 1, "");
}

static LLVMValueRef call(aot *a, LLVMValueRef f, LLVMValueRef *args, int n)
{
    return LLVMBuildCall2(a->b, LLVMGlobalGetValueType(f), f, args, (unsigned)n, "");
}

static LLVMValueRef private_bytes(aot *a, const char *suffix, const void *data, size_t n, unsigned align)
{
    char name[512];
    snprintf(name, sizeof name, "%s.%s", a->m->name, suffix);
    LLVMValueRef init = LLVMConstStringInContext2(a->ctx, data, n, 1);
    LLVMValueRef g = LLVMAddGlobal(a->mod, LLVMTypeOf(init), name);
    LLVMSetInitializer(g, init);
    LLVMSetGlobalConstant(g, 1);
    LLVMSetLinkage(g, LLVMPrivateLinkage);
    LLVMSetUnnamedAddress(g, LLVMGlobalUnnamedAddr);
    LLVMSetAlignment(g, align);
    return g;
}

/* ---- the program's shape: slots, fed inputs, outputs ---------------------------------- */

static int is_output(const gr_graph *g, int node)
{
    for (int k = 0; k < g->noutputs; k++) if (g->outputs[k].node == node) return 1;
    return 0;
}

static int plan_slots(aot *a, es_status *st)
{
    const gr_graph *g = a->g;
    const es_spec *sp = a->m->spec;
    a->nslots = g->nbufs;
    a->sa = es_xcalloc((size_t)g->nbufs + 1, sizeof *a->sa);
    a->sb = es_xcalloc((size_t)g->nbufs + 1, sizeof *a->sb);
    a->need = es_xcalloc((size_t)g->nbufs + 1, sizeof *a->need);
    a->param = es_xcalloc((size_t)g->nbufs + 1, sizeof *a->param);
    a->feed_node = es_xcalloc((size_t)g->n + 1, sizeof *a->feed_node);
    a->gstep_slot = -1;
    for (int i = 0; i < g->n; i++) {
        const gr_node *n = &g->nodes[i];
        if (n->op == GR_PARAM) {
            const float *v = a->m->param_values ? a->m->param_values[i] : NULL;
            if (!v) return es_fail(st, ES_EINTERNAL, "export: variable %s has no value", n->name ? n->name : "?");
            char sfx[600];
            snprintf(sfx, sizeof sfx, "param.%d", i);
            a->param[n->buf] = private_bytes(a, sfx, v, (size_t)gr_numel(n->shape, 1) * sizeof(float), 64);
            continue;
        }
        if (n->buf < 0) {
            if (gr_ops[n->op].flags & GR_F_SIDE)
                return es_fail(st, ES_EMODEL, "export: the predict program updates a variable (%s)", gr_ops[n->op].name);
            continue;
        }
        if (n->op == GR_INPUT) {
            if (n->name && strcmp(n->name, "global_step") == 0 && n->dtype == GR_I32 && gr_numel(n->shape, 1) == 1
                && !gr_has_batch(n->shape)) {
                a->gstep_slot = n->buf;
                continue;
            }
            int f = -1;
            for (int k = 0; k < sp->nused; k++) if (n->name && strcmp(sp->used[k]->name, n->name) == 0) f = k;
            if (f < 0)
                return es_fail(st, ES_EMODEL, "export: the predict program reads input %s, which is not a feature",
                               n->name ? n->name : "?");
            int want_ids = cg_prep_feed_is_ids(sp->used[f]), width = cg_prep_feed_width(sp->used[f]);
            if (n->dtype != (want_ids ? GR_I32 : GR_F32) || n->shape.rank < 1 || n->shape.d[0] != GR_BATCH
                || gr_numel(n->shape, 1) != width)
                return es_fail(st, ES_EINTERNAL, "export: input %s does not have the shape of its feature (%d %s%s per row)",
                               n->name, width, want_ids ? "id" : "float", width == 1 ? "" : "s");
            a->feed_node[a->nfeed++] = i;
        }
        if (n->op == GR_CONST && !is_output(g, i)) continue;
        int64_t b0 = (int64_t)gr_buf_bytes(g, i, 0), b1 = (int64_t)gr_buf_bytes(g, i, 1),
                b2 = (int64_t)gr_buf_bytes(g, i, 2);
        if (b2 - b1 != b1 - b0)
            return es_fail(st, ES_EINTERNAL, "export: node %%%d (%s) grows faster than the batch size", i, gr_ops[n->op].name);
        /* a slot shared by several nodes (a memory planner) is as big as its biggest */
        if (b1 - b0 > a->sa[n->buf]) a->sa[n->buf] = b1 - b0;
        if (b0 > a->sb[n->buf]) a->sb[n->buf] = b0;
        a->need[n->buf] = 1;
    }
    return 0;
}

/* exact workspace bytes for R rows (the IR below computes the same) */
static int64_t layout_bytes(const aot *a, int64_t R)
{
    int64_t total = 0;
    for (int k = 0; k < a->nslots; k++)
        if (a->need[k]) total += (a->sa[k] * R + a->sb[k] + 63) & ~(int64_t)63;
    return total;
}

static void add_field(aot *a, ofield f)
{
    a->fields = es_xrealloc(a->fields, (size_t)(a->nfields + 1) * sizeof *a->fields);
    a->fields[a->nfields++] = f;
}

static int name_taken(const aot *a, const char *s)
{
    for (int i = 0; i < a->nfields; i++) if (strcmp(a->fields[i].cname, s) == 0) return 1;
    return !strcmp(s, "error");
}

static int plan_outputs(aot *a, es_status *st)
{
    const gr_graph *g = a->g;
    const es_spec *sp = a->m->spec;
    int classifier = sp->head != ES_HEAD_REGRESSION;
    int cls = gr_find_output(g, "class_ids");
    if (classifier && cls != GR_NONE) {
        const gr_node *n = &g->nodes[cls];
        if (n->dtype != GR_I32 || n->shape.rank != 1 || n->shape.d[0] != GR_BATCH)
            return es_fail(st, ES_EINTERNAL, "export: output class_ids is not one i32 per row");
        add_field(a, (ofield){ es_xstrdup("class_id"), OF_CLASS_ID, cls, GR_I32, 1, 0, "class_ids" });
        add_field(a, (ofield){ es_xstrdup("class_name"), OF_CLASS_NAME, cls, GR_I32, 1, 0, NULL });
    }
    for (int k = 0; k < g->noutputs; k++) {
        const gr_output *o = &g->outputs[k];
        if (o->node == cls && classifier) continue;
        const gr_node *n = &g->nodes[o->node];
        if (n->shape.rank < 1 || n->shape.d[0] != GR_BATCH) continue;   /* not per row: no field */
        for (int d = 1; d < n->shape.rank; d++)
            if (n->shape.d[d] == GR_BATCH)
                return es_fail(st, ES_EINTERNAL, "export: output %s has a second batch dimension", o->name);
        int64_t count = gr_numel(n->shape, 1);
        char *cname = cg_prep_c_ident(o->name);
        while (name_taken(a, cname)) {
            char *c2 = es_xmalloc(strlen(cname) + 2);
            sprintf(c2, "%s_", cname);
            free(cname);
            cname = c2;
        }
        int array = count > 1 || !strcmp(o->name, "logits") || !strcmp(o->name, "probabilities");
        add_field(a, (ofield){ cname, OF_VALUE, o->node, n->dtype, count, array, o->name });
    }
    add_field(a, (ofield){ es_xstrdup("error"), OF_ERROR, -1, GR_I32, 1, 0, NULL });

    LLVMTypeRef *ft = es_xcalloc((size_t)a->nfields, sizeof *ft);
    for (int i = 0; i < a->nfields; i++) {
        const ofield *f = &a->fields[i];
        LLVMTypeRef et = f->kind == OF_CLASS_NAME ? a->ptr : f->dtype == GR_I32 ? a->i32 : a->f32;
        ft[i] = f->array ? LLVMArrayType2(et, (uint64_t)f->count) : et;
    }
    char tname[512];
    snprintf(tname, sizeof tname, "%s.output", a->m->name);
    a->out_t = LLVMStructCreateNamed(a->ctx, tname);
    LLVMStructSetBody(a->out_t, ft, (unsigned)a->nfields, 0);
    free(ft);

    /* class names: one blob, offsets into it (no relocations) */
    if (classifier && sp->label.vocab && sp->label.n_classes > 0) {
        a->nclasses = sp->label.n_classes;
        size_t n = 0;
        for (int c = 0; c < a->nclasses; c++) n += strlen(sp->label.vocab[c]) + 1;
        char *blob = es_xmalloc(n);
        LLVMValueRef *offs = es_xmalloc((size_t)a->nclasses * sizeof *offs);
        size_t at = 0;
        for (int c = 0; c < a->nclasses; c++) {
            size_t len = strlen(sp->label.vocab[c]) + 1;
            memcpy(blob + at, sp->label.vocab[c], len);
            offs[c] = k64(a, (int64_t)at);
            at += len;
        }
        a->class_blob = private_bytes(a, "class_names", blob, n, 1);
        LLVMValueRef init = LLVMConstArray2(a->i64, offs, (uint64_t)a->nclasses);
        char gname[512];
        snprintf(gname, sizeof gname, "%s.class_offsets", a->m->name);
        a->class_off = LLVMAddGlobal(a->mod, LLVMTypeOf(init), gname);
        LLVMSetInitializer(a->class_off, init);
        LLVMSetGlobalConstant(a->class_off, 1);
        LLVMSetLinkage(a->class_off, LLVMPrivateLinkage);
        free(offs);
        free(blob);
    }
    return 0;
}

/* ---- the wrappers ------------------------------------------------------------------------ */

/* Points bufs[k] (when bufs is not NULL) into the workspace ws for R rows and
 * returns the bytes used: layout_bytes in IR. */
static LLVMValueRef emit_layout(aot *a, LLVMValueRef bufs, LLVMValueRef ws, LLVMValueRef R)
{
    LLVMBuilderRef b = a->b;
    LLVMValueRef off = k64(a, 0);
    for (int k = 0; k < a->nslots; k++) {
        LLVMValueRef p = NULL;
        if (a->need[k]) {
            if (bufs) p = gep(a, a->i8, ws, off);
            LLVMValueRef bytes = LLVMBuildAdd(b, LLVMBuildMul(b, k64(a, a->sa[k]), R, ""), k64(a, a->sb[k] + 63), "");
            off = LLVMBuildAdd(b, off, LLVMBuildAnd(b, bytes, k64(a, ~(int64_t)63), ""), "");
        } else if (a->param[k]) {
            p = a->param[k];
        } else if (k == a->gstep_slot) {
            p = a->gstep;
        } else {
            p = LLVMConstPointerNull(a->ptr);
        }
        if (bufs) LLVMBuildStore(b, p, gep(a, a->ptr, bufs, k64(a, k)));
    }
    return off;
}

static LLVMValueRef field_ptr(aot *a, LLVMValueRef row, int i)
{
    return LLVMBuildStructGEP2(a->b, a->out_t, row, (unsigned)i, "");
}

static LLVMValueRef slot_ptr(aot *a, LLVMValueRef bufs, int node)
{
    return LLVMBuildLoad2(a->b, a->ptr, gep(a, a->ptr, bufs, k64(a, a->g->nodes[node].buf)), "");
}

/* one output row: copied from the program's buffers, or the error values */
static void emit_output_row(aot *a, LLVMValueRef bufs, LLVMValueRef orow, LLVMValueRef r, int error)
{
    LLVMBuilderRef b = a->b;
    LLVMValueRef nan = LLVMConstReal(a->f32, NAN);
    for (int i = 0; i < a->nfields; i++) {
        const ofield *f = &a->fields[i];
        LLVMValueRef dst = field_ptr(a, orow, i);
        switch (f->kind) {
        case OF_ERROR:
            break;
        case OF_CLASS_ID:
            LLVMBuildStore(b, error ? k32(a, -1) : LLVMBuildLoad2(b, a->i32, gep(a, a->i32, slot_ptr(a, bufs, f->node), r), ""), dst);
            break;
        case OF_CLASS_NAME: {
            LLVMValueRef name = LLVMConstPointerNull(a->ptr);
            if (!error && a->class_blob) {
                LLVMValueRef id = LLVMBuildLoad2(b, a->i32, gep(a, a->i32, slot_ptr(a, bufs, f->node), r), "");
                LLVMValueRef idx = LLVMBuildSExt(b, id, a->i64, "");
                LLVMValueRef ok = LLVMBuildICmp(b, LLVMIntULT, idx, k64(a, a->nclasses), "");
                LLVMValueRef safe = LLVMBuildSelect(b, ok, idx, k64(a, 0), "");
                LLVMValueRef gi[2] = { k64(a, 0), safe };
                LLVMValueRef off = LLVMBuildLoad2(b, a->i64, LLVMBuildInBoundsGEP2(b, LLVMGlobalGetValueType(a->class_off),
                                                                                  a->class_off, gi, 2, ""), "");
                name = LLVMBuildSelect(b, ok, gep(a, a->i8, a->class_blob, off), name, "");
            }
            LLVMBuildStore(b, name, dst);
            break;
        }
        case OF_VALUE: {
            LLVMTypeRef et = f->dtype == GR_I32 ? a->i32 : a->f32;
            LLVMValueRef fillv = f->dtype == GR_I32 ? k32(a, -1) : nan;
            if (error && f->count <= 16) {
                for (int64_t j = 0; j < f->count; j++) LLVMBuildStore(b, fillv, gep(a, et, dst, k64(a, j)));
            } else if (error) {
                lp l;
                LLVMValueRef j = loop_begin(a, &l, k64(a, 0), k64(a, f->count), "fill");
                LLVMBuildStore(b, fillv, gep(a, et, dst, j));
                loop_end(a, &l, k64(a, 1));
            } else {
                LLVMValueRef src = gep(a, et, slot_ptr(a, bufs, f->node), LLVMBuildMul(b, r, k64(a, f->count), ""));
                LLVMBuildMemCpy(b, dst, 4, src, 4, k64(a, f->count * 4));
            }
            break;
        }
        }
    }
}

/* internal i64 NAME.run(ptr in, ptr out, i64 R, ptr ws): the number of rows with errors */
static LLVMValueRef emit_run(aot *a)
{
    char name[512];
    snprintf(name, sizeof name, "%s.run", a->m->name);
    LLVMTypeRef pt[4] = { a->ptr, a->ptr, a->i64, a->ptr };
    LLVMValueRef fn = begin_fn(a, name, a->i64, pt, 4, 1);
    LLVMBuilderRef b = a->b;
    LLVMValueRef in = LLVMGetParam(fn, 0), out = LLVMGetParam(fn, 1), R = LLVMGetParam(fn, 2), ws = LLVMGetParam(fn, 3);
    LLVMValueRef bufs = local(a, LLVMArrayType2(a->ptr, (uint64_t)(a->nslots ? a->nslots : 1)), "bufs");
    emit_layout(a, bufs, ws, R);
    int err_field = a->nfields - 1;

    /* encode every row; a refused row feeds ids -1 and zeros */
    lp l;
    LLVMValueRef r = loop_begin(a, &l, k64(a, 0), R, "encode");
    LLVMValueRef orow = gep(a, a->out_t, out, r);
    LLVMValueRef args[3] = { gep(a, a->in_t, in, r), bufs, r };
    LLVMValueRef code = call(a, a->encode, args, 3);
    LLVMBuildStore(b, code, field_ptr(a, orow, err_field));
    LLVMBasicBlockRef bad = block(a, "refused"), next = block(a, "encoded");
    LLVMBuildCondBr(b, LLVMBuildICmp(b, LLVMIntNE, code, k32(a, 0), ""), bad, next);
    LLVMPositionBuilderAtEnd(b, bad);
    for (int k = 0; k < a->nfeed; k++) {   /* the row of each input: ids -1, floats 0 */
        const gr_node *n = &a->g->nodes[a->feed_node[k]];
        int64_t w = gr_numel(n->shape, 1);
        LLVMValueRef p = slot_ptr(a, bufs, a->feed_node[k]);
        LLVMValueRef at = gep(a, a->i32, p, LLVMBuildMul(b, r, k64(a, w), ""));
        LLVMBuildMemSet(b, at, LLVMConstInt(a->i8, n->dtype == GR_I32 ? 0xff : 0, 0), k64(a, 4 * w), 4);
    }
    LLVMBuildBr(b, next);
    LLVMPositionBuilderAtEnd(b, next);
    loop_end(a, &l, k64(a, 1));

    LLVMValueRef pargs[2] = { bufs, R };
    call(a, a->program, pargs, 2);

    LLVMValueRef nerr = local(a, a->i64, "errors");
    set(a, nerr, k64(a, 0));
    r = loop_begin(a, &l, k64(a, 0), R, "copy");
    orow = gep(a, a->out_t, out, r);
    LLVMValueRef e = LLVMBuildLoad2(b, a->i32, field_ptr(a, orow, err_field), "");
    LLVMBasicBlockRef ok = block(a, "row.ok"), fail = block(a, "row.error"), cont = block(a, "row.done");
    LLVMBuildCondBr(b, LLVMBuildICmp(b, LLVMIntEQ, e, k32(a, 0), ""), ok, fail);
    LLVMPositionBuilderAtEnd(b, ok);
    emit_output_row(a, bufs, orow, r, 0);
    LLVMBuildBr(b, cont);
    LLVMPositionBuilderAtEnd(b, fail);
    emit_output_row(a, bufs, orow, r, 1);
    set(a, nerr, LLVMBuildAdd(b, get(a, nerr), k64(a, 1), ""));
    LLVMBuildBr(b, cont);
    LLVMPositionBuilderAtEnd(b, cont);
    loop_end(a, &l, k64(a, 1));
    LLVMBuildRet(b, get(a, nerr));
    return fn;
}

/* i32 NAME_predict(ptr in, ptr out): one row on the stack; returns out->error */
static LLVMValueRef emit_predict(aot *a, LLVMValueRef run, int64_t stack_bytes)
{
    char name[512];
    snprintf(name, sizeof name, "%s_predict", a->m->name);
    LLVMTypeRef pt[2] = { a->ptr, a->ptr };
    LLVMValueRef fn = begin_fn(a, name, a->i32, pt, 2, 0);
    LLVMValueRef ws = local(a, LLVMArrayType2(a->i8, (uint64_t)(stack_bytes ? stack_bytes : 64)), "workspace");
    LLVMSetAlignment(ws, 64);
    LLVMValueRef args[4] = { LLVMGetParam(fn, 0), LLVMGetParam(fn, 1), k64(a, 1), ws };
    call(a, run, args, 4);
    LLVMBuildRet(a->b, LLVMBuildLoad2(a->b, a->i32, field_ptr(a, LLVMGetParam(fn, 1), a->nfields - 1), ""));
    return fn;
}

/* i64 NAME_workspace_bytes(i64 rows): layout plus 63 bytes of alignment slack */
static LLVMValueRef emit_workspace_bytes(aot *a)
{
    char name[512];
    snprintf(name, sizeof name, "%s_workspace_bytes", a->m->name);
    LLVMValueRef fn = begin_fn(a, name, a->i64, &a->i64, 1, 0);
    LLVMValueRef n = emit_layout(a, NULL, NULL, LLVMGetParam(fn, 0));
    LLVMBuildRet(a->b, LLVMBuildAdd(a->b, n, k64(a, 63), ""));
    return fn;
}

/* i64 NAME_predict_batch(ptr in, ptr out, i64 n, ptr ws, i64 bytes): rows in
 * chunks that fit the workspace; without one, row by row on the stack. The
 * number of rows with errors, or -1 when the workspace cannot hold one row. */
static LLVMValueRef emit_batch(aot *a, LLVMValueRef run, LLVMValueRef predict)
{
    char name[512];
    snprintf(name, sizeof name, "%s_predict_batch", a->m->name);
    LLVMTypeRef pt[5] = { a->ptr, a->ptr, a->i64, a->ptr, a->i64 };
    LLVMValueRef fn = begin_fn(a, name, a->i64, pt, 5, 0);
    LLVMBuilderRef b = a->b;
    LLVMValueRef in = LLVMGetParam(fn, 0), out = LLVMGetParam(fn, 1), n = LLVMGetParam(fn, 2),
                 ws = LLVMGetParam(fn, 3), wsb = LLVMGetParam(fn, 4);
    LLVMValueRef nerr = local(a, a->i64, "errors");
    set(a, nerr, k64(a, 0));

    LLVMBasicBlockRef none = block(a, "no.workspace"), have = block(a, "workspace"), done = block(a, "return");
    LLVMBuildCondBr(b, LLVMBuildIsNull(b, ws, ""), none, have);

    LLVMPositionBuilderAtEnd(b, none);
    lp l;
    LLVMValueRef r = loop_begin(a, &l, k64(a, 0), n, "row");
    LLVMValueRef args[2] = { gep(a, a->in_t, in, r), gep(a, a->out_t, out, r) };
    LLVMValueRef e = call(a, predict, args, 2);
    set(a, nerr, LLVMBuildAdd(b, get(a, nerr), LLVMBuildZExt(b, LLVMBuildICmp(b, LLVMIntNE, e, k32(a, 0), ""), a->i64, ""), ""));
    loop_end(a, &l, k64(a, 1));
    LLVMBuildBr(b, done);

    /* align the workspace; rows per chunk from the upper bound
     * bytes(R) <= R * sum(a_k) + sum(b_k + 63), then at least one row if it fits */
    LLVMPositionBuilderAtEnd(b, have);
    LLVMValueRef addr = LLVMBuildPtrToInt(b, ws, a->i64, "");
    LLVMValueRef pad = LLVMBuildAnd(b, LLVMBuildSub(b, k64(a, 0), addr, ""), k64(a, 63), "");
    LLVMValueRef base = gep(a, a->i8, ws, pad);
    LLVMValueRef avail = LLVMBuildSelect(b, LLVMBuildICmp(b, LLVMIntUGE, wsb, pad, ""), LLVMBuildSub(b, wsb, pad, ""), k64(a, 0), "");
    int64_t sum_a = 0, sum_b = 0;
    for (int k = 0; k < a->nslots; k++) if (a->need[k]) { sum_a += a->sa[k]; sum_b += a->sb[k] + 63; }
    LLVMValueRef rows;
    if (sum_a == 0) {
        rows = n;
    } else {
        LLVMValueRef room = LLVMBuildSelect(b, LLVMBuildICmp(b, LLVMIntUGE, avail, k64(a, sum_b), ""),
                                            LLVMBuildSub(b, avail, k64(a, sum_b), ""), k64(a, 0), "");
        rows = LLVMBuildUDiv(b, room, k64(a, sum_a), "");
        rows = LLVMBuildSelect(b, LLVMBuildICmp(b, LLVMIntEQ, rows, k64(a, 0), ""),
                               LLVMBuildZExt(b, LLVMBuildICmp(b, LLVMIntULE, k64(a, layout_bytes(a, 1)), avail, ""), a->i64, ""),
                               rows, "");
    }
    LLVMValueRef empty = LLVMBuildICmp(b, LLVMIntEQ, n, k64(a, 0), "");
    LLVMBasicBlockRef small = block(a, "too.small"), chunks = block(a, "chunks");
    LLVMBuildCondBr(b, LLVMBuildAnd(b, LLVMBuildICmp(b, LLVMIntEQ, rows, k64(a, 0), ""),
                                    LLVMBuildNot(b, empty, ""), ""), small, chunks);
    LLVMPositionBuilderAtEnd(b, small);
    set(a, nerr, k64(a, -1));
    LLVMBuildBr(b, done);

    LLVMPositionBuilderAtEnd(b, chunks);
    LLVMValueRef off = loop_begin(a, &l, k64(a, 0), n, "chunk");
    LLVMValueRef left = LLVMBuildSub(b, n, off, "");
    LLVMValueRef cnt = LLVMBuildSelect(b, LLVMBuildICmp(b, LLVMIntULT, left, rows, ""), left, rows, "");
    LLVMValueRef rargs[4] = { gep(a, a->in_t, in, off), gep(a, a->out_t, out, off), cnt, base };
    set(a, nerr, LLVMBuildAdd(b, get(a, nerr), call(a, run, rargs, 4), ""));
    set(a, l.var, LLVMBuildAdd(b, off, cnt, ""));
    LLVMBuildBr(b, l.head);
    LLVMPositionBuilderAtEnd(b, l.exit);
    LLVMBuildBr(b, done);

    LLVMPositionBuilderAtEnd(b, done);
    LLVMBuildRet(b, get(a, nerr));
    return fn;
}

/* ---- target and pipeline ------------------------------------------------------------------ */

/* LLVM 19's x86 CPUs that run 64-bit code (`llc-19 -mtriple=x86_64-linux-gnu
 * -mcpu=help`, less the 32-bit ones): LLVM aborts on any other name for an
 * x86-64 target, so export checks first. */
static const char *const x86_64_cpus[] = {
    "alderlake", "amdfam10", "arrowlake", "arrowlake-s", "arrowlake_s", "athlon-fx", "athlon64",
    "athlon64-sse3", "atom", "atom_sse4_2", "atom_sse4_2_movbe", "barcelona", "bdver1", "bdver2",
    "bdver3", "bdver4", "bonnell", "broadwell", "btver1", "btver2", "cannonlake", "cascadelake",
    "clearwaterforest", "cooperlake", "core-avx-i", "core-avx2", "core2", "core_2_duo_sse4_1",
    "core_2_duo_ssse3", "core_2nd_gen_avx", "core_3rd_gen_avx", "core_4th_gen_avx",
    "core_4th_gen_avx_tsx", "core_5th_gen_avx", "core_5th_gen_avx_tsx", "core_aes_pclmulqdq",
    "core_i7_sse4_2", "corei7", "corei7-avx", "emeraldrapids", "generic", "goldmont", "goldmont-plus",
    "goldmont_plus", "gracemont", "grandridge", "graniterapids", "graniterapids-d", "graniterapids_d",
    "haswell", "icelake-client", "icelake-server", "icelake_client", "icelake_server", "ivybridge",
    "k8", "k8-sse3", "knl", "knm", "lunarlake", "meteorlake", "mic_avx512", "nehalem", "nocona",
    "opteron", "opteron-sse3", "pantherlake", "penryn", "raptorlake", "rocketlake", "sandybridge",
    "sapphirerapids", "sierraforest", "silvermont", "skx", "skylake", "skylake-avx512",
    "skylake_avx512", "slm", "tigerlake", "tremont", "westmere", "x86-64", "x86-64-v2", "x86-64-v3",
    "x86-64-v4", "znver1", "znver2", "znver3", "znver4", "znver5",
};

static int is_native(const char *cpu) { return !cpu || !*cpu || !strcmp(cpu, "native"); }

static LLVMTargetMachineRef aot_target(const char *cpu, es_status *st)
{
    if (is_native(cpu)) return cg_host_target_machine(1, st);
    for (const char *c = cpu; *c; c++)
        if (!((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') || (*c >= '0' && *c <= '9') || *c == '-' || *c == '_' || *c == '.')) {
            es_fail(st, ES_EINVAL, "export: '%s' is not a CPU name (e.g. native, x86-64-v2, x86-64-v3, znver3)", cpu);
            return NULL;
        }
    (void)cg_host_cpu();   /* initialises LLVM's native target */
    char *triple = LLVMGetDefaultTargetTriple();
    if (!strncmp(triple, "x86_64", 6)) {
        int known = 0;
        for (size_t i = 0; i < ES_ARRAY_LEN(x86_64_cpus); i++) if (!strcmp(cpu, x86_64_cpus[i])) known = 1;
        if (!known) {
            es_fail(st, ES_EINVAL, "export: '%s' is not an x86-64 CPU LLVM knows (e.g. native, x86-64-v2, x86-64-v3, "
                    "x86-64-v4, haswell, skylake-avx512, znver3; `llc-19 -mcpu=help` lists them all)", cpu);
            LLVMDisposeMessage(triple);
            return NULL;
        }
    }
    LLVMTargetRef t;
    char *err = NULL;
    if (LLVMGetTargetFromTriple(triple, &t, &err)) {
        es_fail(st, ES_ECOMPILE, "export: no LLVM target for %s: %s", triple, err ? err : "?");
        LLVMDisposeMessage(err);
        LLVMDisposeMessage(triple);
        return NULL;
    }
    LLVMTargetMachineRef tm = LLVMCreateTargetMachine(t, triple, cpu, "", LLVMCodeGenLevelDefault, LLVMRelocPIC,
                                                      LLVMCodeModelDefault);
    if (!tm) es_fail(st, ES_ECOMPILE, "export: cannot create a target machine for %s (%s)", triple, cpu);
    LLVMDisposeMessage(triple);
    return tm;
}

/* verify and optimise at O2 for tm; for another CPU than the host, without
 * the host's 512-bit vector preference (cg_prepare_module adds it) */
static int optimize(LLVMModuleRef m, LLVMTargetMachineRef tm, int native, es_status *st)
{
    if (native) return cg_prepare_module(m, tm, 1, st);
    if (cg_prepare_module(m, tm, 0, st) != 0) return -1;
    for (LLVMValueRef f = LLVMGetFirstFunction(m); f; f = LLVMGetNextFunction(f)) {
        LLVMRemoveStringAttributeAtIndex(f, LLVMAttributeFunctionIndex, "prefer-vector-width", 19);
        LLVMRemoveStringAttributeAtIndex(f, LLVMAttributeFunctionIndex, "min-legal-vector-width", 22);
    }
    return cg_run_o2(m, tm, st);
}

/* what a predictor may call: libc and libm (LLVM lowers its intrinsics to these) */
static const char *const allowed_externals[] = {
    "memset", "memcpy", "memmove", "memcmp", "bcmp", "strlen", "strcmp",
    "expf", "logf", "tanhf", "log1pf", "powf", "sqrtf", "floorf", "fabsf",
    "exp", "log", "pow", "floor", "sqrt", "fabs", "exp2f", "exp2", "log2f", "log2",
};

static int check_externals(LLVMModuleRef m, es_status *st)
{
    for (LLVMValueRef f = LLVMGetFirstFunction(m); f; f = LLVMGetNextFunction(f)) {
        if (!LLVMIsDeclaration(f)) continue;
        size_t len;
        const char *name = LLVMGetValueName2(f, &len);
        if (len > 5 && !strncmp(name, "llvm.", 5)) continue;
        int ok = 0;
        for (size_t i = 0; i < ES_ARRAY_LEN(allowed_externals); i++)
            if (strlen(allowed_externals[i]) == len && !memcmp(allowed_externals[i], name, len)) ok = 1;
        if (!ok)
            return es_fail(st, ES_ECOMPILE, "export: the predictor would call %.*s, which is not part of libc or "
                           "libm; an exported predictor may depend on nothing else", (int)len, name);
    }
    return 0;
}

/* ---- the header ------------------------------------------------------------------------- */

static const char *head_name(es_head h)
{
    return h == ES_HEAD_BINARY ? "binary" : h == ES_HEAD_MULTICLASS ? "multiclass" : "regression";
}

/* text inside a C comment: no "* /" sequence, no newline */
static void comment_text(FILE *out, const char *s)
{
    for (; *s; s++) {
        if (s[0] == '*' && s[1] == '/') { fputs("* /", out); s++; continue; }
        fputc(*s == '\n' ? ' ' : *s, out);
    }
}

static void field_doc(const aot *a, const ofield *f, char *buf, size_t n)
{
    const es_spec *sp = a->m->spec;
    switch (f->kind) {
    case OF_CLASS_ID: snprintf(buf, n, "the predicted class: argmax of the logits (-1 on error)"); return;
    case OF_CLASS_NAME:
        snprintf(buf, n, a->class_blob ? "its name in the label's vocabulary (NULL on error)" : "NULL: the label's classes have no names");
        return;
    case OF_ERROR:
        snprintf(buf, n, "0, or 1 + the CSV column of a value that could not be used");
        return;
    case OF_VALUE:
        break;
    }
    if (!strcmp(f->output, "probabilities")) snprintf(buf, n, "per class, summing to 1 (NaN on error)");
    else if (!strcmp(f->output, "logits"))
        snprintf(buf, n, sp->head == ES_HEAD_BINARY ? "the logit of class 1 (NaN on error)" : "per class (NaN on error)");
    else if (!strcmp(f->output, "logistic")) snprintf(buf, n, "sigmoid of the logit: the probability of class 1");
    else if (!strcmp(f->output, "predictions")) snprintf(buf, n, "the predicted value (NaN on error)");
    else snprintf(buf, n, "output \"%s\" of the model function", f->output);
}

static char *write_header(aot *a, const cg_aot_out *o, LLVMTargetDataRef td)
{
    const cg_aot_model *m = a->m;
    const es_spec *sp = m->spec;
    const char *N = m->name, *U = a->upper;
    char *text = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&text, &len);
    if (!out) return NULL;
    const es_source_spec *src = sp->eval ? sp->eval : sp->train;
    uint64_t in_size = LLVMABISizeOfType(td, a->in_t), out_size = LLVMABISizeOfType(td, a->out_t);

    fprintf(out, "/*\n * %s.h — a compiled predictor, generated by `estc export` (estc %s).\n", N, m->version);
    fprintf(out, " *\n * Model: ");
    comment_text(out, m->model_file ? m->model_file : "?");
    fprintf(out, "%s%s, %s head", m->estimator ? ", " : "", m->estimator ? m->estimator : "", head_name(sp->head));
    if (sp->head != ES_HEAD_REGRESSION) fprintf(out, ", %d classes", sp->label.n_classes);
    fprintf(out, ";\n * weights of global step %lld from ", (long long)m->global_step);
    comment_text(out, m->model_dir ? m->model_dir : "?");
    fprintf(out, ".\n * Compiled for CPU %s%s: it uses that CPU's\n"
                 " * instructions and may not run on older CPUs (export with --cpu x86-64-v2\n"
                 " * for those).\n",
            o->cpu, o->features[0] ? " (with this machine's features)" : "");
    fprintf(out,
            " *\n"
            " * Use: fill a %s_input per row (the raw columns, as in the data file),\n"
            " * call %s_predict, read %s_output. Link with lib%s.a or lib%s.so\n"
            " * and -lm; the predictor needs nothing but libc and libm at run time.\n"
            " *\n"
            " * Threads: the functions keep no state and write no global: any number of\n"
            " * threads may call them at once, on distinct outputs and workspaces.\n"
            " * Memory: they never allocate. %s_predict keeps %zu bytes of scratch\n"
            " * on the stack. %s_predict_batch uses the workspace you pass\n"
            " * (%s_workspace_bytes(R) bytes let it run R rows per chunk; any\n"
            " * alignment), or, given none, runs row by row on the stack.\n"
            " * Missing values and unknown categories follow the model's declared defaults\n"
            " * (see each field); a value that cannot be used (missing without a default,\n"
            " * not finite, out of range) makes the row's output carry error = 1 + its\n"
            " * column, class_id -1 and NaNs, and the other rows are unaffected.\n"
            " */\n",
            N, N, N, N, N, N, o->stack_bytes, N, N);
    fprintf(out, "#ifndef ESTC_PREDICTOR_%s_H\n#define ESTC_PREDICTOR_%s_H\n\n", U, U);
    fprintf(out, "#include <stddef.h>\n#include <stdint.h>\n\n#ifdef __cplusplus\nextern \"C\" {\n#endif\n\n");

    fprintf(out, "#define %s_ESTC_VERSION \"%s\"\n", U, m->version);
    fprintf(out, "#define %s_FINGERPRINT UINT64_C(0x%016llx)   /* variable names and shapes, as in checkpoints */\n",
            U, (unsigned long long)m->fingerprint);
    fprintf(out, "#define %s_WEIGHTS_HASH UINT64_C(0x%016llx)  /* XXH64 of the frozen weights */\n", U,
            (unsigned long long)m->weights_hash);
    fprintf(out, "#define %s_GLOBAL_STEP %lld\n", U, (long long)m->global_step);
    fprintf(out, "#define %s_TARGET_CPU \"%s\"\n", U, o->cpu);
    fprintf(out, "#define %s_HEAD \"%s\"\n", U, head_name(sp->head));
    fprintf(out, "#define %s_IS_REGRESSION %d\n", U, sp->head == ES_HEAD_REGRESSION);
    if (sp->head != ES_HEAD_REGRESSION) {
        fprintf(out, "#define %s_N_CLASSES %d\n", U, sp->label.n_classes);
        if (sp->label.vocab) {
            fprintf(out, "#define %s_CLASS_NAMES {", U);
            for (int c = 0; c < sp->label.n_classes; c++) {
                fputs(c ? ", " : " ", out);
                cg_write_c_string(out, sp->label.vocab[c]);
            }
            fprintf(out, " }\n");
        }
    }
    for (int i = 0; i < a->nfields; i++)
        if (a->fields[i].array) {
            char *fu = es_xstrdup(a->fields[i].cname);
            for (char *c = fu; *c; c++) if (*c >= 'a' && *c <= 'z') *c = (char)(*c - 'a' + 'A');
            fprintf(out, "#define %s_N_%s %lld\n", U, fu, (long long)a->fields[i].count);
            free(fu);
        }
    fprintf(out, "#define %s_MISSING_INT INT64_MIN        /* a missing int column value */\n\n", U);

    fprintf(out, "/* The CSV layout of source %s (what estc reads), for programs that score\n"
                 " * rows of such files. */\n", src->name ? src->name : "?");
    fprintf(out, "#define %s_CSV_COLUMNS %d\n", U, src->ncols);
    fprintf(out, "#define %s_CSV_SEPARATOR ", U);
    cg_write_c_string(out, src->separator ? src->separator : ",");
    fprintf(out, "\n#define %s_CSV_MISSING ", U);
    if (src->missing) cg_write_c_string(out, src->missing); else fputs("NULL", out);
    fprintf(out, "\n#define %s_CSV_COMMENT ", U);
    if (src->comment) cg_write_c_string(out, src->comment); else fputs("NULL", out);
    fprintf(out, "\n#define %s_CSV_SKIP_ROWS %d\n#define %s_CSV_HEADER %d\n\n", U, src->skip_rows, U, src->header);

    char tname[600];
    snprintf(tname, sizeof tname, "%s_input", N);
    cg_prep_write_input(a->prep, out, tname, U);

    fprintf(out, "/* One prediction. */\ntypedef struct %s_output {\n", N);
    for (int i = 0; i < a->nfields; i++) {
        const ofield *f = &a->fields[i];
        char decl[600], doc[256];
        const char *t = f->kind == OF_CLASS_NAME ? "const char *" : f->dtype == GR_I32 && f->kind != OF_ERROR ? "int32_t " : f->kind == OF_ERROR ? "int " : "float ";
        if (f->array) snprintf(decl, sizeof decl, "%s%s[%lld];", t, f->cname, (long long)f->count);
        else snprintf(decl, sizeof decl, "%s%s;", t, f->cname);
        field_doc(a, f, doc, sizeof doc);
        fprintf(out, "    %-28s /* %s */\n", decl, doc);
    }
    fprintf(out, "} %s_output;\n\n", N);

    fprintf(out, "/* Predicts one row. Returns out->error (0: ok). */\n");
    fprintf(out, "int %s_predict(const %s_input *in, %s_output *out);\n\n", N, N, N);
    fprintf(out, "/* Predicts rows in[0..n) into out[0..n). workspace: NULL (row by row), or\n"
                 " * workspace_bytes bytes of scratch; %s_workspace_bytes(R) lets it run R rows\n"
                 " * at a time. Returns the number of rows whose error is set, or -1 when the\n"
                 " * workspace cannot hold even one row (%s_workspace_bytes(1)). */\n", N, N);
    fprintf(out, "int64_t %s_predict_batch(const %s_input *in, %s_output *out, size_t n,\n"
                 "        void *workspace, size_t workspace_bytes);\n\n", N, N, N);
    fprintf(out, "/* Bytes of workspace for chunks of `rows` rows (any alignment). */\n");
    fprintf(out, "size_t %s_workspace_bytes(size_t rows);\n\n", N);

    fprintf(out, "/* The structs above must have the layout the object was compiled with. */\n");
    fprintf(out, "#ifdef __cplusplus\n#define %s_STATIC_ASSERT static_assert\n#else\n#define %s_STATIC_ASSERT _Static_assert\n#endif\n", U, U);
    fprintf(out, "%s_STATIC_ASSERT(sizeof(%s_input) == %llu, \"%s_input: unexpected layout\");\n", U, N,
            (unsigned long long)in_size, N);
    fprintf(out, "%s_STATIC_ASSERT(sizeof(%s_output) == %llu, \"%s_output: unexpected layout\");\n\n", U, N,
            (unsigned long long)out_size, N);
    fprintf(out, "#ifdef __cplusplus\n}\n#endif\n#endif\n");
    fclose(out);
    return text;
}

/* ---- compile -------------------------------------------------------------------------- */

static int check_name(const char *name, es_status *st)
{
    size_t n = strlen(name);
    int ok = n > 0 && n <= 64 && !(name[0] >= '0' && name[0] <= '9');
    for (size_t i = 0; ok && i < n; i++) {
        char c = name[i];
        ok = c == '_' || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
    }
    if (ok) {
        char *id = cg_prep_c_ident(name);
        ok = strcmp(id, name) == 0;   /* not a keyword */
        free(id);
    }
    if (!ok)
        return es_fail(st, ES_EINVAL, "export: the name '%s' is not usable as a C identifier (letters, digits "
                       "and '_', not starting with a digit, at most 64 characters, no keyword)", name);
    return 0;
}

static int build(aot *a, LLVMTargetMachineRef tm, cg_aot_out *o, es_status *st)
{
    const cg_aot_model *m = a->m;
    LLVMTargetDataRef td = LLVMCreateTargetDataLayout(tm);
    int rc = -1;
    if (LLVMByteOrder(td) != LLVMLittleEndian) {
        es_fail(st, ES_ECOMPILE, "export: big-endian targets are not supported (feature crosses hash their keys' bytes)");
        goto out;
    }
    char name[512];
    snprintf(name, sizeof name, "%s.program", m->name);
    a->mod = cg_emit_ex(a->ctx, a->g, name, CG_EMIT_AOT, st);
    if (!a->mod) goto out;
    LLVMSetModuleIdentifier(a->mod, m->name, strlen(m->name));
    a->program = LLVMGetNamedFunction(a->mod, name);
    LLVMSetLinkage(a->program, LLVMInternalLinkage);
    unsigned noinline = LLVMGetEnumAttributeKindForName("noinline", 8);
    LLVMAddAttributeAtIndex(a->program, LLVMAttributeFunctionIndex, LLVMCreateEnumAttribute(a->ctx, noinline, 0));
    a->b = LLVMCreateBuilderInContext(a->ctx);
    a->i1 = LLVMInt1TypeInContext(a->ctx);
    a->i8 = LLVMInt8TypeInContext(a->ctx);
    a->i32 = LLVMInt32TypeInContext(a->ctx);
    a->i64 = LLVMInt64TypeInContext(a->ctx);
    a->f32 = LLVMFloatTypeInContext(a->ctx);
    a->ptr = LLVMPointerTypeInContext(a->ctx, 0);
    a->vd = LLVMVoidTypeInContext(a->ctx);

    if (plan_slots(a, st) != 0 || plan_outputs(a, st) != 0) goto out;
    if (a->gstep_slot >= 0) {
        int32_t step = m->global_step > INT32_MAX ? INT32_MAX : (int32_t)m->global_step;
        a->gstep = private_bytes(a, "global_step", &step, sizeof step, 4);
    }
    a->prep = cg_prep_new(a->mod, m->name, m->spec, st);
    if (!a->prep) goto out;
    a->in_t = cg_prep_input_type(a->prep);
    int *feed_slot = es_xcalloc((size_t)m->spec->nused + 1, sizeof *feed_slot);
    for (int i = 0; i < m->spec->nused; i++) {
        feed_slot[i] = -1;
        for (int k = 0; k < a->nfeed; k++)
            if (!strcmp(a->g->nodes[a->feed_node[k]].name, m->spec->used[i]->name))
                feed_slot[i] = a->g->nodes[a->feed_node[k]].buf;
    }
    a->encode = cg_prep_encoder(a->prep, feed_slot);
    free(feed_slot);

    o->stack_bytes = (size_t)layout_bytes(a, 1);
    LLVMValueRef run = emit_run(a);
    LLVMValueRef predict = emit_predict(a, run, (int64_t)o->stack_bytes);
    LLVMValueRef batch = emit_batch(a, run, predict);
    LLVMValueRef wsb = emit_workspace_bytes(a);
    LLVMValueRef exported[3] = { predict, batch, wsb };
    o->nsymbols = 3;
    o->symbols = es_xcalloc(3, sizeof *o->symbols);
    for (int i = 0; i < 3; i++) {
        size_t len;
        const char *s = LLVMGetValueName2(exported[i], &len);
        o->symbols[i] = es_xstrdup(s);
    }

    char *cpu = LLVMGetTargetMachineCPU(tm), *feats = LLVMGetTargetMachineFeatureString(tm);
    o->cpu = es_xstrdup(cpu);
    o->features = es_xstrdup(feats);
    LLVMDisposeMessage(cpu);
    LLVMDisposeMessage(feats);

    if (optimize(a->mod, tm, is_native(m->cpu), st) != 0) goto out;
    if (check_externals(a->mod, st) != 0) goto out;

    char *msg = NULL;
    LLVMMemoryBufferRef buf = NULL;
    if (LLVMTargetMachineEmitToMemoryBuffer(tm, a->mod, LLVMObjectFile, &msg, &buf)) {
        es_fail(st, ES_ECOMPILE, "export: cannot emit the object: %s", msg ? msg : "?");
        LLVMDisposeMessage(msg);
        goto out;
    }
    o->object_size = LLVMGetBufferSize(buf);
    o->object = es_xmalloc(o->object_size ? o->object_size : 1);
    memcpy(o->object, LLVMGetBufferStart(buf), o->object_size);
    LLVMDisposeMemoryBuffer(buf);

    o->header = write_header(a, o, td);
    if (!o->header) { es_fail(st, ES_EINTERNAL, "export: out of memory writing the header"); goto out; }
    rc = 0;
out:
    LLVMDisposeTargetData(td);
    return rc;
}

int cg_aot_compile(const cg_aot_model *m, cg_aot_out *o, es_status *st)
{
    memset(o, 0, sizeof *o);
    if (check_name(m->name, st) != 0) return -1;
    LLVMTargetMachineRef tm = aot_target(m->cpu, st);
    if (!tm) return -1;
    aot a = { .m = m, .g = m->prog };
    a.upper = es_xstrdup(m->name);
    for (char *c = a.upper; *c; c++) if (*c >= 'a' && *c <= 'z') *c = (char)(*c - 'a' + 'A');
    a.ctx = LLVMContextCreate();
    int rc = build(&a, tm, o, st);
    cg_prep_free(a.prep);
    if (a.b) LLVMDisposeBuilder(a.b);
    if (a.mod) LLVMDisposeModule(a.mod);
    LLVMContextDispose(a.ctx);
    LLVMDisposeTargetMachine(tm);
    for (int i = 0; i < a.nfields; i++) free(a.fields[i].cname);
    free(a.fields);
    free(a.sa);
    free(a.sb);
    free(a.need);
    free(a.param);
    free(a.feed_node);
    free(a.upper);
    if (rc != 0) cg_aot_out_free(o);
    return rc;
}

void cg_aot_out_free(cg_aot_out *o)
{
    if (!o) return;
    free(o->object);
    free(o->header);
    for (int i = 0; i < o->nsymbols; i++) free(o->symbols[i]);
    free(o->symbols);
    free(o->cpu);
    free(o->features);
    memset(o, 0, sizeof *o);
}

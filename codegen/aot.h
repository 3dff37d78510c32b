/*
 * aot.h — ahead-of-time compiled predictors (prefix cg_aot_).
 *
 * cg_aot_compile turns a bound predict program and the trained values of its
 * PARAMs into one relocatable, position-independent object, with the values
 * frozen in as constant data, and writes the C header that describes it.
 * The object holds the program (emitted by cg_emit_ex with CG_EMIT_AOT: no
 * BLAS), the feature-column preprocessing (prep.c: raw columns in), and three
 * exported functions:
 *     int      NAME_predict(const NAME_input *in, NAME_output *out);
 *     int64_t  NAME_predict_batch(const NAME_input *in, NAME_output *out, size_t n,
 *                                 void *workspace, size_t workspace_bytes);
 *     size_t   NAME_workspace_bytes(size_t rows);
 * It calls nothing but libc (strlen, strcmp, memcmp, memset, memcpy) and
 * libm; cg_aot_compile fails if anything else would be needed. The header is
 * the contract: docs/export.md describes it for users.
 */
#ifndef ESTC_AOT_H
#define ESTC_AOT_H

#include "codegen.h"
#include "../core/spec.h"

typedef struct cg_aot_model {
    const char *name;          /* a C identifier: prefix of every type, function and macro */
    const char *cpu;           /* NULL or "native": this machine; else an LLVM CPU name
                                  ("x86-64-v3", "znver3", ...) */
    const gr_graph *prog;      /* the predict program, bound (gr_bind) */
    const float *const *param_values;   /* per node of prog: a PARAM's trained values
                                           (gr_numel(shape, 1) floats), NULL for others */
    const es_spec *spec;       /* its data contract (input columns, feature columns, head) */
    /* provenance, printed in the header */
    const char *model_file;    /* the .est file */
    const char *estimator;     /* e.g. "LinearClassifier" (may be NULL) */
    const char *model_dir;
    const char *version;       /* estc's */
    uint64_t fingerprint;      /* the model's (variable names and shapes) */
    uint64_t weights_hash;     /* XXH64 chained over the PARAM values, in program order */
    int64_t global_step;       /* of the checkpoint the weights come from */
} cg_aot_model;

typedef struct cg_aot_out {
    void *object;              /* ELF relocatable object, PIC (malloc'd) */
    size_t object_size;
    char *header;              /* NAME.h (malloc'd) */
    int nsymbols;
    char **symbols;            /* the object's exported functions (for an archive index) */
    char *cpu;                 /* the CPU compiled for */
    char *features;            /* its feature string ("" = the CPU's own) */
    size_t stack_bytes;        /* scratch NAME_predict keeps on the stack */
} cg_aot_out;

/* Returns 0 with *out filled, or -1 with st set (a program or spec a
 * predictor cannot hold, an LLVM failure). Free *out with cg_aot_out_free. */
int cg_aot_compile(const cg_aot_model *m, cg_aot_out *out, es_status *st);
void cg_aot_out_free(cg_aot_out *o);

#endif

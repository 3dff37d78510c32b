/*
 * export.h — ahead-of-time compiled predictors: `estc export` as a call.
 *
 * estc_export compiles a trained model's predict program, with the weights of
 * the newest good checkpoint in its model_dir frozen in as constants and the
 * feature-column preprocessing compiled in, into a directory holding
 *     NAME.h        the C interface (structs of raw input columns and of
 *                   outputs, NAME_predict, NAME_predict_batch)
 *     NAME.o        the predictor as a position-independent object
 *     libNAME.a     the same as a static library
 *     libNAME.so    the same as a shared library (linked by a C compiler)
 *     README.txt    how to build against it
 * A predictor needs only libc and libm at run time; exporting needs a C
 * compiler (`cc`, or $CC) for libNAME.so. docs/export.md has the details.
 *
 * Ownership and threads as estc.h: the model is only read (its variables are
 * restored from model_dir if no earlier call did); one thread at a time per
 * model. Files are written atomically (temporary file, rename).
 */
#ifndef ESTC_EXPORT_H
#define ESTC_EXPORT_H

#include "estc.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct estc_export_options {
    const char *out_dir;      /* where the files go (created if missing); required */
    const char *name;         /* prefix of the C names and the files; a C identifier.
                                 NULL = the model file's name ("linear" for linear.est) */
    const char *cpu;          /* NULL or "native": this machine's CPU and features; else an
                                 LLVM CPU name ("x86-64-v2", "x86-64-v3", "znver3", ...) for
                                 a predictor that runs on other machines */
    const char *cc;           /* C compiler that links libNAME.so: NULL = $CC, else "cc" */
    FILE *log;                /* one line per file written; NULL = silent */
} estc_export_options;

/* Defaults: everything NULL. */
void estc_export_options_init(estc_export_options *o);

/* Returns 0, or -1 with st set: no checkpoint in model_dir (ESTC_EIO), a bad
 * name or CPU (ESTC_EINVAL), a model a predictor cannot hold (ESTC_EMODEL),
 * code generation or the C compiler failing (ESTC_ECOMPILE), a file that
 * cannot be written (ESTC_EIO). */
int estc_export(estc_model *m, const estc_export_options *o, estc_status *st);

#ifdef __cplusplus
}
#endif
#endif

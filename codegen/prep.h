/*
 * prep.h — feature-column preprocessing compiled into a predictor (cg_prep_,
 * codegen/ only; aot.c is its user).
 *
 * The runtime turns CSV fields into feature ids and floats with C code
 * (runtime/reader.c); an exported predictor must do the same inside its own
 * object, with no libxxhash, estc or LLVM at run time. cg_prep emits that
 * code as LLVM IR into the predictor's module: one raw input row (a struct
 * with a field per column of the model's evaluation source, the label column
 * left out) in, one row of every fed graph INPUT out, following reader.c's
 * contract point for point (missing values, column and feature defaults,
 * vocabulary lookup with OOV buckets, XXH64 hashing, bucketizing, identity,
 * crossing), so a predictor and `estc predict` agree on every id.
 *
 * Values in the input struct: float columns are `double` (the reader parses
 * to double and bucketizes in double, so a float field would move values
 * across boundaries like 0.7), int columns `int64_t`, string columns
 * `const char *` (NUL-terminated, as the CSV field after trimming). Missing:
 * NaN, CG_PREP_MISSING_INT, or NULL / "" / the source's `missing` token.
 * Two kinds of column are lists, a pointer and a count (`NAME_count`, int32):
 *  - the column of a multivalent feature: `const char *const *`, elements
 *    each split on the separator as the reader splits the field (so one
 *    element may be the whole joined text), values trimmed, empty values and
 *    NULL elements skipped. The field is missing (column default, else no
 *    values) when the array is NULL, or its one element is NULL, "" or the
 *    missing token: the reader's missing field. An empty array is a field
 *    without values (the reader's "|"), which takes no default;
 *  - the weights column of a weighted feature: `const double *`, one per
 *    value of the ids feature (the reader's strtod of each value); missing
 *    when the array is NULL.
 *
 * Assumes a little-endian target (crossed features hash their keys' bytes in
 * host order, as the reader does); aot.c checks.
 */
#ifndef ESTC_PREP_H
#define ESTC_PREP_H

#include "codegen.h"
#include "../core/spec.h"

#include <llvm-c/Core.h>
#include <stdio.h>

#define CG_PREP_MISSING_INT INT64_MIN

typedef struct cg_prep cg_prep;

/* Prepares the encoder of spec's used features for module m; symbols get the
 * prefix `prefix` ("<prefix>.encode", ...). NULL and st set when the spec has
 * something a predictor cannot compute (reader.c rejects the same things). */
cg_prep *cg_prep_new(LLVMModuleRef m, const char *prefix, const es_spec *spec, es_status *st);
void cg_prep_free(cg_prep *p);

/* The LLVM struct type of one input row (field order as cg_prep_write_input). */
LLVMTypeRef cg_prep_input_type(const cg_prep *p);

/* Emits (once) the row encoder
 *     internal i32 <prefix>.encode(ptr in, ptr bufs, i64 r)
 * which reads the input row `in` and writes row r of each fed feature:
 * feed_slot[i] is the buffer slot (an index into bufs) of spec->used[i]'s
 * graph INPUT, or -1 when the program does not read it. Returns 0, or 1 + the
 * CSV column index of the first value that cannot be used (missing without a
 * default, not finite, not an integer for an identity feature, beyond float
 * range for a dense feature, more values than max_values, a weight count
 * that differs from the value count); the row's buffers are then partly
 * written. Row r of a fed INPUT of width w (cg_prep_feed_width) is elements
 * [r * w, r * w + w) of its buffer. */
LLVMValueRef cg_prep_encoder(cg_prep *p, const int *feed_slot);

/* The C text of the input struct `<type_name>` and of the X-macro
 * <MACRO>_INPUT_COLUMNS(X), which lists X(field, csv_column, DOUBLE | INT |
 * STRING | STRINGS | DOUBLES) for each field, so code can fill the struct from
 * a CSV row generically; a list field (STRINGS, DOUBLES) comes with its count
 * field##_count and the macros <MACRO>_SEPARATOR_field (what joins its values
 * in the CSV field) and <MACRO>_MAX_VALUES_field. */
void cg_prep_write_input(const cg_prep *p, FILE *out, const char *type_name, const char *macro);

/* Elements per row of spec feature f's graph INPUT (max_values for a
 * multivalent or weighted feature, else 1), and whether they are ids (i32)
 * rather than floats (a weighted feature's input is its weights). */
int cg_prep_feed_width(const es_feature *f);
int cg_prep_feed_is_ids(const es_feature *f);

/* The C field name of CSV column col, or NULL for the label column. */
const char *cg_prep_field_name(const cg_prep *p, int col);
/* s as the text of a C string literal (quotes, escapes, octal for the rest) */
void cg_write_c_string(FILE *out, const char *s);

/* s as a C identifier that is no keyword of C or C++ (malloc'd): characters
 * other than letters, digits and '_' become '_'; a keyword gets a '_' appended. */
char *cg_prep_c_ident(const char *s);

/* Emits an external function `i64 name(ptr data, i64 len)`: XXH64 with seed 0,
 * the predictor's own copy (for tests that hold it to libxxhash). */
LLVMValueRef cg_prep_xxh64_fn(LLVMModuleRef m, const char *name);

#endif

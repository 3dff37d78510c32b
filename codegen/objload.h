/*
 * objload.h — a loader for the relocatable objects the JIT compiles and
 * caches (prefix cg_obj_). It needs no LLVM: a cached start links its kernels
 * with this alone.
 *
 * cg_obj_load takes an ELF64 x86-64 relocatable object (ET_REL, as LLVM
 * emits it for the small, position-independent code model), lays out its
 * allocated sections in one mapping, resolves its undefined symbols with the
 * caller's resolver, applies its RELA relocations and makes its code
 * read+execute. It never trusts the bytes: a truncated or damaged file, a
 * relocation type it does not know, a symbol the resolver cannot find (named
 * in the message) or a value out of a relocation's range is an error in st,
 * never a crash.
 */
#ifndef ESTC_OBJLOAD_H
#define ESTC_OBJLOAD_H

#include "../core/core.h"

#include <stddef.h>

typedef struct cg_obj cg_obj;

/* The address of an external symbol, or NULL if there is none. */
typedef void *(*cg_obj_resolver)(void *ctx, const char *name);

/* Loads the object data[0..size) (which is not kept). NULL and st set on failure. */
cg_obj *cg_obj_load(const void *data, size_t size, cg_obj_resolver resolve, void *ctx, es_status *st);
/* The address of a global symbol the object defines, or NULL. */
void *cg_obj_symbol(const cg_obj *o, const char *name);
/* The object's global symbols, by index (0 <= i < cg_obj_nexports). */
int cg_obj_nexports(const cg_obj *o);
const char *cg_obj_export(const cg_obj *o, int i);
void cg_obj_free(cg_obj *o);

#endif

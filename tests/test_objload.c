/*
 * test_objload.c — the object loader (codegen/objload.c).
 *
 * A real object: LLVM compiles a module the way the JIT does (the host's
 * position-independent target machine) with code, constants (a switch's
 * jump table, a float table), writable data, a call to libm, a call to a
 * function of this test and the address of a variable of this test; the
 * loader links it and its functions compute what they should.
 *
 * Broken objects, made from that one: truncated at several lengths, a bad
 * magic, a relocation type the loader does not know, a relocation naming a
 * symbol that does not exist, a symbol the resolver cannot find, a section
 * of constructors. Each is an
 * error whose message says what is wrong; then a few thousand random byte
 * changes, each loaded (not run): none may crash (the ASan build checks that
 * nothing is read or written out of bounds).
 */
#include "../codegen/codegen.h"
#include "../codegen/objload.h"
#include "check.h"

#include <llvm-c/Core.h>
#include <llvm-c/IRReader.h>
#include <llvm-c/TargetMachine.h>

#include <elf.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

static const char *ir =
    "@table = private unnamed_addr constant [4 x float] [float 1.0, float 2.0, float 3.0, float 4.0]\n"
    "@calls = global i64 0\n"
    "@objload_test_value = external global i64\n"
    "declare float @expf(float)\n"
    "declare i64 @objload_test_hook(i64)\n"
    "define float @table_exp(i64 %i) {\n"
    "  %p = getelementptr [4 x float], ptr @table, i64 0, i64 %i\n"
    "  %v = load float, ptr %p\n"
    "  %e = call float @expf(float %v)\n"
    "  %c = load i64, ptr @calls\n"
    "  %c1 = add i64 %c, 1\n"
    "  store i64 %c1, ptr @calls\n"
    "  ret float %e\n"
    "}\n"
    "define i64 @hooked(i64 %x) {\n"
    "  %h = call i64 @objload_test_hook(i64 %x)\n"
    "  %v = load i64, ptr @objload_test_value\n"
    "  %r = add i64 %h, %v\n"
    "  ret i64 %r\n"
    "}\n"
    "define i64 @pick(i64 %x) {\n"
    "entry:\n"
    "  switch i64 %x, label %d [ i64 0, label %a  i64 1, label %b  i64 2, label %c\n"
    "                            i64 3, label %e  i64 4, label %f  i64 5, label %g ]\n"
    "a:\n  ret i64 17\nb:\n  ret i64 4\nc:\n  ret i64 99\ne:\n  ret i64 23\n"
    "f:\n  ret i64 5\ng:\n  ret i64 61\nd:\n  ret i64 -1\n"
    "}\n"
    "define i64 @call_count() {\n"
    "  %c = load i64, ptr @calls\n"
    "  ret i64 %c\n"
    "}\n";

int64_t objload_test_hook(int64_t x);
int64_t objload_test_hook(int64_t x) { return 3 * x + 1; }
int64_t objload_test_value = 1000;

/* the externals the module names; NULL for anything else */
static void *resolve(void *ctx, const char *name)
{
    (void)ctx;
    void *a = NULL;
    if (strcmp(name, "expf") == 0) {
        float (*f)(float) = expf;
        memcpy(&a, &f, sizeof a);
    } else if (strcmp(name, "objload_test_hook") == 0) {
        int64_t (*f)(int64_t) = objload_test_hook;
        memcpy(&a, &f, sizeof a);
    } else if (strcmp(name, "objload_test_value") == 0) {
        a = &objload_test_value;
    }
    return a;
}

/* the same, but without the test's hook */
static void *resolve_no_hook(void *ctx, const char *name)
{
    return strcmp(name, "objload_test_hook") == 0 ? NULL : resolve(ctx, name);
}

/* the module compiled to an object by LLVM, as the JIT compiles; malloc'd */
static unsigned char *compile_ir(size_t *n)
{
    es_status st;
    es_status_clear(&st);
    LLVMTargetMachineRef tm = cg_host_target_machine_at(1, CG_CODEGEN_DEFAULT, &st);
    CHECK(tm != NULL, "a target machine: %s", st.msg);
    if (!tm) return NULL;
    LLVMContextRef ctx = LLVMContextCreate();
    LLVMMemoryBufferRef buf = LLVMCreateMemoryBufferWithMemoryRangeCopy(ir, strlen(ir), "objload");
    LLVMModuleRef m = NULL;
    char *msg = NULL;
    unsigned char *obj = NULL;
    if (LLVMParseIRInContext(ctx, buf, &m, &msg)) {
        CHECK(0, "the test's IR parses: %s", msg ? msg : "?");
        LLVMDisposeMessage(msg);
    } else if (cg_prepare_module(m, tm, CG_OPT_JIT, &st) != 0) {
        CHECK(0, "the test's IR verifies: %s", st.msg);
    } else {
        LLVMMemoryBufferRef out = NULL;
        if (LLVMTargetMachineEmitToMemoryBuffer(tm, m, LLVMObjectFile, &msg, &out)) {
            CHECK(0, "LLVM emits an object: %s", msg ? msg : "?");
            LLVMDisposeMessage(msg);
        } else {
            *n = LLVMGetBufferSize(out);
            obj = malloc(*n);
            memcpy(obj, LLVMGetBufferStart(out), *n);
            LLVMDisposeMemoryBuffer(out);
        }
    }
    if (m) LLVMDisposeModule(m);
    LLVMContextDispose(ctx);
    LLVMDisposeTargetMachine(tm);
    return obj;
}

static void *sym(cg_obj *o, const char *name)
{
    void *a = cg_obj_symbol(o, name);
    CHECK(a != NULL, "the object exports %s", name);
    return a;
}

static void check_runs(const unsigned char *obj, size_t n)
{
    es_status st;
    es_status_clear(&st);
    cg_obj *o = cg_obj_load(obj, n, resolve, NULL, &st);
    CHECK(o != NULL, "LLVM's object loads: %s", st.msg);
    if (!o) return;
    float (*table_exp)(int64_t) = NULL;
    int64_t (*hooked)(int64_t) = NULL, (*pick)(int64_t) = NULL, (*call_count)(void) = NULL;
    void *a;
    if ((a = sym(o, "table_exp"))) memcpy(&table_exp, &a, sizeof a);
    if ((a = sym(o, "hooked"))) memcpy(&hooked, &a, sizeof a);
    if ((a = sym(o, "pick"))) memcpy(&pick, &a, sizeof a);
    if ((a = sym(o, "call_count"))) memcpy(&call_count, &a, sizeof a);
    CHECK(cg_obj_symbol(o, "table") == NULL, "a private constant is not exported");
    CHECK(cg_obj_symbol(o, "expf") == NULL, "an external symbol is not one of the object's");
    if (!table_exp || !hooked || !pick || !call_count) { cg_obj_free(o); return; }
    for (int i = 0; i < 4; i++)
        CHECK(table_exp(i) == expf((float)(i + 1)), "table_exp(%d) = %g, expected expf(%d)", i, table_exp(i), i + 1);
    CHECK(call_count() == 4, "the writable global counted 4 calls, not %lld", (long long)call_count());
    CHECK(hooked(5) == 16 + 1000, "a call to the test's function and a GOT load: %lld", (long long)hooked(5));
    objload_test_value = 7;
    CHECK(hooked(5) == 16 + 7, "the GOT entry holds the variable's address: %lld", (long long)hooked(5));
    const int64_t want[] = { 17, 4, 99, 23, 5, 61, -1, -1 };
    for (int i = 0; i < 8; i++)
        CHECK(pick(i) == want[i], "the jump table: pick(%d) = %lld, expected %lld", i, (long long)pick(i),
              (long long)want[i]);
    CHECK(cg_obj_nexports(o) == 5, "five global symbols (4 functions, 1 variable): %d", cg_obj_nexports(o));
    cg_obj_free(o);
}

/* loads obj and expects an error containing `want` */
static void check_refused(const unsigned char *obj, size_t n, cg_obj_resolver r, const char *want, const char *what)
{
    es_status st;
    es_status_clear(&st);
    cg_obj *o = cg_obj_load(obj, n, r, NULL, &st);
    CHECK(o == NULL && st.code != 0 && strstr(st.msg, want), "%s is refused with \"%s\": '%s'", what, want, st.msg);
    cg_obj_free(o);
}

/* the first relocation of a loaded section (.rela.text) in obj, or NULL */
static Elf64_Rela *first_text_relocation(unsigned char *obj)
{
    const Elf64_Ehdr *eh = (const void *)obj;
    Elf64_Shdr *sh = (void *)(obj + eh->e_shoff);
    for (int i = 0; i < eh->e_shnum; i++)
        if (sh[i].sh_type == SHT_RELA && sh[i].sh_size && (sh[sh[i].sh_info].sh_flags & SHF_EXECINSTR))
            return (void *)(obj + sh[i].sh_offset);
    return NULL;
}

static void check_broken(const unsigned char *obj, size_t n)
{
    unsigned char *b = malloc(n);
    check_refused(obj, 0, resolve, "truncated", "an empty file");
    check_refused(obj, 40, resolve, "truncated", "a file shorter than the ELF header");
    check_refused(obj, n / 2, resolve, "truncated", "half of the object");
    check_refused(obj, n - 1, resolve, "truncated", "the object less its last byte");

    memcpy(b, obj, n);
    b[1] = 'X';
    check_refused(b, n, resolve, "bad magic", "a bad magic");

    memcpy(b, obj, n);
    ((Elf64_Ehdr *)(void *)b)->e_type = ET_DYN;
    check_refused(b, n, resolve, "not a relocatable object", "a shared object");

    memcpy(b, obj, n);
    Elf64_Rela *r = first_text_relocation(b);
    CHECK(r != NULL, "the object's code has relocations");
    if (r) {
        r->r_info = ELF64_R_INFO(ELF64_R_SYM(r->r_info), 250);
        check_refused(b, n, resolve, "unknown relocation type 250", "an unknown relocation type");
        memcpy(b, obj, n);
        r->r_info = ELF64_R_INFO(1u << 30, ELF64_R_TYPE(r->r_info));
        check_refused(b, n, resolve, "names no symbol", "a relocation's symbol out of the table");
        memcpy(b, obj, n);
        r->r_offset = 1ull << 40;
        check_refused(b, n, resolve, "outside", "a relocation outside its section");
    }
    check_refused(obj, n, resolve_no_hook, "undefined symbol 'objload_test_hook'", "an unresolved symbol");

    /* a section of constructors: the loader would have to run them */
    memcpy(b, obj, n);
    const Elf64_Ehdr *eh = (const void *)b;
    Elf64_Shdr *sh = (void *)(b + eh->e_shoff);
    int data = -1;
    for (int i = 0; i < eh->e_shnum; i++)
        if ((sh[i].sh_flags & SHF_ALLOC) && (sh[i].sh_flags & SHF_WRITE) && sh[i].sh_size) data = i;
    CHECK(data >= 0, "the object has writable data");
    if (data >= 0) {
        sh[data].sh_type = SHT_INIT_ARRAY;
        check_refused(b, n, resolve, "constructors", "a section of constructors");
    }

    /* random damage: loaded or refused, never a crash */
    es_rng rng;
    es_rng_seed(&rng, 20261126);
    int loaded = 0, refused = 0;
    for (int k = 0; k < 3000; k++) {
        memcpy(b, obj, n);
        int flips = 1 + (int)es_rng_below(&rng, 4);
        for (int f = 0; f < flips; f++) {
            /* mostly the headers and tables, where a change matters most */
            size_t at = es_rng_below(&rng, 2) ? es_rng_below(&rng, n) : es_rng_below(&rng, n < 64 ? n : 64);
            if (es_rng_below(&rng, 3) == 0 && ((const Elf64_Ehdr *)(const void *)obj)->e_shoff < n)
                at = ((const Elf64_Ehdr *)(const void *)obj)->e_shoff + es_rng_below(&rng, n - ((const Elf64_Ehdr *)(const void *)obj)->e_shoff);
            b[at] ^= (unsigned char)(1 + es_rng_below(&rng, 255));
        }
        es_status st;
        es_status_clear(&st);
        cg_obj *o = cg_obj_load(b, n, resolve, NULL, &st);
        if (o) loaded++;
        else if (st.code != 0 && strncmp(st.msg, "object loader: ", 15) == 0) refused++;
        cg_obj_free(o);
    }
    CHECK(loaded + refused == 3000, "every damaged object is loaded or refused with a message (%d + %d)", loaded,
          refused);
    CHECK(refused > 0, "some damage is noticed (%d of 3000)", refused);
    free(b);
}

int main(void)
{
    size_t n = 0;
    unsigned char *obj = compile_ir(&n);
    if (obj) {
        check_runs(obj, n);
        /* an object at an odd address (inside a cache file, say) loads the same */
        unsigned char *odd = malloc(n + 1);
        memcpy(odd + 1, obj, n);
        es_status st;
        es_status_clear(&st);
        cg_obj *o = cg_obj_load(odd + 1, n, resolve, NULL, &st);
        CHECK(o != NULL && cg_obj_symbol(o, "pick") != NULL, "an unaligned object loads: %s", st.msg);
        cg_obj_free(o);
        free(odd);
        check_broken(obj, n);
    }
    free(obj);
    return check_done("test_objload");
}

/*
 * objload.c — loads ELF64 x86-64 relocatable objects into this process
 * (objload.h), in place of a general JIT linker: the objects come from one
 * compiler with one configuration (LLVM, small code model, position
 * independent; target.c), so a few relocation types cover them.
 *
 * Layout. The allocated sections go into one anonymous mapping, in three
 * page-aligned regions: code (with the call stubs), read-only data (with the
 * GOT) and writable data (.data, .bss, common symbols). Relocations are applied
 * while all of it is writable; then the code becomes read+execute and the
 * read-only region read-only, so no page is ever writable and executable
 * at once. Everything is within one mapping, so the 32-bit PC-relative
 * references between sections always reach.
 *
 * External symbols. A call (R_X86_64_PLT32) to a function outside the object
 * goes straight to it when it is within ±2 GiB of the call, else through a
 * stub the loader builds (jmp *GOT(%rip)); an address taken through the GOT
 * (GOTPCREL and its relaxable forms) gets a GOT entry here. The loader does
 * not rewrite relaxable instructions: the GOT load costs one memory read.
 *
 * Unwind tables (.eh_frame) are loaded like any data but not registered:
 * the kernels are C-like code that never unwinds.
 *
 * Profiling. With ESTC_PERF_MAP=1 in the environment, every function of a
 * loaded object (local ones too: a program's node functions) is appended to
 * /tmp/perf-PID.map, the file `perf report` reads to name code it found in
 * anonymous memory: one line "START SIZE NAME", in one write per object, so
 * objects loaded on parallel threads do not interleave their lines.
 */
#define _GNU_SOURCE
#include "objload.h"

#include <elf.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

typedef struct cg_export { char *name; void *addr; } cg_export;

struct cg_obj {
    unsigned char *map;
    size_t maplen;
    cg_export *exports;
    int nexports;
};

enum { REGION_TEXT, REGION_RO, REGION_RW, NREGIONS };
enum { STUB_SIZE = 8, GOT_SIZE = 8 };

/* one load in progress: the file's tables, checked, and what is laid out */
typedef struct loader {
    const unsigned char *data;
    size_t size;
    const Elf64_Shdr *sh;
    int nsec;
    const char *shstr;           /* section names */
    size_t shstrsize;
    const Elf64_Sym *syms;
    int nsyms, symtab;           /* the symbol table and its section index */
    const char *str;             /* symbol names */
    size_t strsize;
    size_t *secoff;              /* per section: offset in its region */
    int *secregion;              /* per section: its region, -1 if not loaded */
    size_t regsize[NREGIONS], regbase[NREGIONS];
    uintptr_t *symaddr;          /* per symbol: its address */
    unsigned char *symok;        /* per symbol: symaddr is known */
    int *got, *stub;             /* per symbol: slot + 1, 0 if none */
    int ngot, nstub;
    size_t gotoff, stuboff;      /* in REGION_RO and REGION_TEXT */
    size_t *commonoff;           /* per symbol: offset of a common symbol in REGION_RW */
    unsigned char *map;
    es_status *st;
} loader;

/* fmt has one %s, for detail */
static int bad(loader *L, const char *fmt, const char *detail)
{
    char m[256];
    snprintf(m, sizeof m, fmt, detail);
    return es_fail(L->st, ES_ECOMPILE, "object loader: %s", m);
}

/* a[off .. off+len) lies within a file of `size` bytes (no overflow) */
static int within(uint64_t off, uint64_t len, uint64_t size) { return off <= size && len <= size - off; }

static const char *sec_name(const loader *L, int i)
{
    uint32_t n = L->sh[i].sh_name;
    return n < L->shstrsize ? L->shstr + n : "?";
}

static const char *sym_name(const loader *L, int i)
{
    uint32_t n = L->syms[i].st_name;
    return n < L->strsize ? L->str + n : "?";
}

/* a string table: inside the file and ending in a NUL, so every name in it ends */
static int string_table(loader *L, int i, const char **s, size_t *n)
{
    const Elf64_Shdr *h = &L->sh[i];
    if (h->sh_type != SHT_STRTAB || h->sh_size == 0 || L->data[h->sh_offset + h->sh_size - 1] != 0)
        return bad(L, "%s", "a string table is damaged");
    *s = (const char *)L->data + h->sh_offset;
    *n = h->sh_size;
    return 0;
}

static int read_header(loader *L)
{
    const Elf64_Ehdr *eh = (const void *)L->data;
    if (L->size < sizeof *eh) return bad(L, "%s", "truncated object (no ELF header)");
    if (memcmp(eh->e_ident, ELFMAG, SELFMAG) != 0) return bad(L, "%s", "not an ELF object (bad magic)");
    if (eh->e_ident[EI_CLASS] != ELFCLASS64 || eh->e_ident[EI_DATA] != ELFDATA2LSB || eh->e_machine != EM_X86_64)
        return bad(L, "%s", "not an ELF64 x86-64 little-endian object");
    if (eh->e_type != ET_REL) return bad(L, "%s", "not a relocatable object (ET_REL)");
    if (eh->e_shentsize != sizeof(Elf64_Shdr) || eh->e_shnum == 0 || eh->e_shstrndx >= eh->e_shnum)
        return bad(L, "%s", "damaged section header table");
    if (!within(eh->e_shoff, (uint64_t)eh->e_shnum * sizeof(Elf64_Shdr), L->size) || eh->e_shoff % 8)
        return bad(L, "%s", "truncated object (section headers past the end)");
    L->sh = (const void *)(L->data + eh->e_shoff);
    L->nsec = eh->e_shnum;
    for (int i = 0; i < L->nsec; i++) {
        const Elf64_Shdr *h = &L->sh[i];
        if (h->sh_type != SHT_NOBITS && !within(h->sh_offset, h->sh_size, L->size))
            return bad(L, "%s", "truncated object (a section runs past the end)");
    }
    return string_table(L, eh->e_shstrndx, &L->shstr, &L->shstrsize);
}

static int read_symbols(loader *L)
{
    L->symtab = -1;
    for (int i = 0; i < L->nsec; i++) {
        if (L->sh[i].sh_type == SHT_SYMTAB_SHNDX) return bad(L, "%s", "extended section indices are not supported");
        if (L->sh[i].sh_type != SHT_SYMTAB) continue;
        if (L->symtab >= 0) return bad(L, "%s", "more than one symbol table");
        L->symtab = i;
    }
    if (L->symtab < 0) return 0;   /* nothing to resolve or export */
    const Elf64_Shdr *h = &L->sh[L->symtab];
    if (h->sh_entsize != sizeof(Elf64_Sym) || h->sh_size % sizeof(Elf64_Sym) || h->sh_offset % 8 ||
        h->sh_link >= (unsigned)L->nsec || h->sh_size / sizeof(Elf64_Sym) > INT32_MAX)
        return bad(L, "%s", "damaged symbol table");
    L->syms = (const void *)(L->data + h->sh_offset);
    L->nsyms = (int)(h->sh_size / sizeof(Elf64_Sym));
    return string_table(L, (int)h->sh_link, &L->str, &L->strsize);
}

/* the relocation section i's entries, checked; NULL (not an error) if i
 * relocates a section that is not loaded */
static const Elf64_Rela *relocations(loader *L, int i, size_t *n, int *fail)
{
    const Elf64_Shdr *h = &L->sh[i];
    *fail = 0;
    if (h->sh_info >= (unsigned)L->nsec || L->secregion[h->sh_info] < 0) return NULL;
    if (h->sh_type == SHT_REL) { *fail = bad(L, "%s", "REL relocations are not supported (x86-64 uses RELA)"); return NULL; }
    if (h->sh_entsize != sizeof(Elf64_Rela) || h->sh_size % sizeof(Elf64_Rela) || h->sh_offset % 8 ||
        (int)h->sh_link != L->symtab) {
        *fail = bad(L, "damaged relocation section %s", sec_name(L, i));
        return NULL;
    }
    *n = h->sh_size / sizeof(Elf64_Rela);
    return (const void *)(L->data + h->sh_offset);
}

static int is_got_type(unsigned t)
{
    return t == R_X86_64_GOTPCREL || t == R_X86_64_GOTPCRELX || t == R_X86_64_REX_GOTPCRELX;
}

static int is_reloc_section(const Elf64_Shdr *h) { return h->sh_type == SHT_RELA || h->sh_type == SHT_REL; }

/* fn on every relocation of a loaded section, in order; stops at an error */
static int each_relocation(loader *L, int (*fn)(loader *, const Elf64_Rela *, int target))
{
    for (int i = 0; i < L->nsec; i++) {
        if (!is_reloc_section(&L->sh[i])) continue;
        size_t n = 0;
        int fail;
        const Elf64_Rela *r = relocations(L, i, &n, &fail);
        if (fail) return -1;
        for (size_t k = 0; r && k < n; k++)
            if (fn(L, &r[k], (int)L->sh[i].sh_info) != 0) return -1;
    }
    return 0;
}

/* Notes whether r's symbol needs a GOT entry or a call stub (one each per
 * symbol at most); checks the symbol index, which apply then trusts. */
static int note_indirection(loader *L, const Elf64_Rela *r, int target)
{
    uint64_t s = ELF64_R_SYM(r->r_info);
    unsigned t = ELF64_R_TYPE(r->r_info);
    if (s >= (uint64_t)L->nsyms && !(s == 0 && L->nsyms == 0))
        return bad(L, "a relocation in %s names no symbol", sec_name(L, target));
    int undef = s && L->syms[s].st_shndx == SHN_UNDEF;
    if ((is_got_type(t) || (t == R_X86_64_PLT32 && undef)) && !L->got[s]) L->got[s] = ++L->ngot;
    if (t == R_X86_64_PLT32 && undef && !L->stub[s]) L->stub[s] = ++L->nstub;
    return 0;
}

static size_t align_up(size_t v, size_t a) { return (v + a - 1) & ~(a - 1); }

static size_t page_size(void)
{
    long p = sysconf(_SC_PAGESIZE);
    return p > 0 ? (size_t)p : 4096;
}

/* each allocated section's region and offset, then the stubs, the GOT and
 * the common symbols; the regions' sizes and bases */
static int lay_out(loader *L)
{
    size_t page = page_size();
    memset(L->regsize, 0, sizeof L->regsize);
    for (int i = 0; i < L->nsec; i++) {
        const Elf64_Shdr *h = &L->sh[i];
        L->secregion[i] = -1;
        if (!(h->sh_flags & SHF_ALLOC)) continue;
        /* what a loaded object would need run or set up per thread: the
         * kernels have neither, so an object that does is not one of ours */
        if (h->sh_flags & SHF_TLS) return bad(L, "section %s holds thread-local data, which is not supported", sec_name(L, i));
        if ((h->sh_type == SHT_INIT_ARRAY || h->sh_type == SHT_PREINIT_ARRAY || h->sh_type == SHT_FINI_ARRAY) &&
            h->sh_size)
            return bad(L, "section %s holds constructors or destructors, which are not supported", sec_name(L, i));
        uint64_t al = h->sh_addralign ? h->sh_addralign : 1;
        if (al & (al - 1) || al > page) return bad(L, "section %s has an alignment the loader cannot give", sec_name(L, i));
        int r = h->sh_flags & SHF_EXECINSTR ? REGION_TEXT : h->sh_flags & SHF_WRITE ? REGION_RW : REGION_RO;
        if (h->sh_size > (1u << 30)) return bad(L, "section %s is too large", sec_name(L, i));
        L->secregion[i] = r;
        L->secoff[i] = align_up(L->regsize[r], al);
        L->regsize[r] = L->secoff[i] + h->sh_size;
    }
    L->stuboff = align_up(L->regsize[REGION_TEXT], STUB_SIZE);
    L->regsize[REGION_TEXT] = L->stuboff + (size_t)L->nstub * STUB_SIZE;
    L->gotoff = align_up(L->regsize[REGION_RO], GOT_SIZE);
    L->regsize[REGION_RO] = L->gotoff + (size_t)L->ngot * GOT_SIZE;
    for (int s = 1; s < L->nsyms; s++) {
        if (L->syms[s].st_shndx != SHN_COMMON) continue;
        uint64_t al = L->syms[s].st_value ? L->syms[s].st_value : 1, sz = L->syms[s].st_size;
        if (al & (al - 1) || al > page || sz > (1u << 30)) return bad(L, "common symbol '%s' is damaged", sym_name(L, s));
        L->commonoff[s] = align_up(L->regsize[REGION_RW], al);
        L->regsize[REGION_RW] = L->commonoff[s] + sz;
    }
    size_t at = 0;
    for (int r = 0; r < NREGIONS; r++) {
        L->regbase[r] = at;
        at += align_up(L->regsize[r], page);
    }
    return 0;
}

static uintptr_t sec_addr(const loader *L, int i)
{
    return (uintptr_t)L->map + L->regbase[L->secregion[i]] + L->secoff[i];
}

/* every symbol's address: in the object, or from the resolver */
static int resolve_symbols(loader *L, cg_obj_resolver resolve, void *ctx)
{
    for (int s = 1; s < L->nsyms; s++) {
        const Elf64_Sym *y = &L->syms[s];
        unsigned bind = ELF64_ST_BIND(y->st_info);
        if (y->st_shndx == SHN_UNDEF) {
            void *a = resolve ? resolve(ctx, sym_name(L, s)) : NULL;
            if (!a && bind != STB_WEAK) return bad(L, "undefined symbol '%s'", sym_name(L, s));
            L->symaddr[s] = (uintptr_t)a;
        } else if (y->st_shndx == SHN_ABS) {
            L->symaddr[s] = y->st_value;
        } else if (y->st_shndx == SHN_COMMON) {
            L->symaddr[s] = (uintptr_t)L->map + L->regbase[REGION_RW] + L->commonoff[s];
        } else if (y->st_shndx >= SHN_LORESERVE || y->st_shndx >= L->nsec) {
            return bad(L, "symbol '%s' is in a section the loader does not know", sym_name(L, s));
        } else if (L->secregion[y->st_shndx] < 0) {
            continue;   /* in a section that is not loaded (debug information): unusable */
        } else {
            if (y->st_value > L->sh[y->st_shndx].sh_size) return bad(L, "symbol '%s' lies outside its section", sym_name(L, s));
            L->symaddr[s] = sec_addr(L, y->st_shndx) + y->st_value;
        }
        L->symok[s] = 1;
    }
    return 0;
}

/* the GOT entries, and the stubs that jump through them */
static void build_indirections(loader *L)
{
    unsigned char *got = L->map + L->regbase[REGION_RO] + L->gotoff;
    unsigned char *stubs = L->map + L->regbase[REGION_TEXT] + L->stuboff;
    for (int s = 0; s < L->nsyms; s++) {
        if (L->got[s]) memcpy(got + (size_t)(L->got[s] - 1) * GOT_SIZE, &L->symaddr[s], GOT_SIZE);
        if (!L->stub[s]) continue;
        unsigned char *p = stubs + (size_t)(L->stub[s] - 1) * STUB_SIZE;
        int32_t disp = (int32_t)((got + (size_t)(L->got[s] - 1) * GOT_SIZE) - (p + 6));
        p[0] = 0xff;   /* jmp *disp(%rip) */
        p[1] = 0x25;
        memcpy(p + 2, &disp, 4);
        p[6] = p[7] = 0xcc;   /* int3 padding */
    }
}

static int put32(loader *L, unsigned char *p, int64_t v, int sign, unsigned type)
{
    if (sign ? (v < INT32_MIN || v > INT32_MAX) : (v < 0 || v > UINT32_MAX)) {
        char t[32];
        snprintf(t, sizeof t, "%u", type);
        return bad(L, "a relocation of type %s is out of range", t);
    }
    uint32_t u = (uint32_t)v;
    memcpy(p, &u, 4);
    return 0;
}

/* one relocation at P = place, S = the symbol's address, A = the addend */
static int apply(loader *L, const Elf64_Rela *r, int target)
{
    unsigned t = ELF64_R_TYPE(r->r_info);
    int s = (int)ELF64_R_SYM(r->r_info);
    int wide = t == R_X86_64_64 || t == R_X86_64_PC64;
    if (!within(r->r_offset, wide ? 8 : 4, L->sh[target].sh_size))
        return bad(L, "a relocation in %s lies outside it", sec_name(L, target));
    unsigned char *p = (unsigned char *)sec_addr(L, target) + r->r_offset;
    uintptr_t P = (uintptr_t)p, S = L->symaddr[s];
    int64_t A = r->r_addend;
    if (t != R_X86_64_NONE && s && !L->symok[s])
        return bad(L, "a relocation refers to '%s', which is not loaded", sym_name(L, s));
    switch (t) {
    case R_X86_64_NONE: return 0;
    case R_X86_64_64: {
        uint64_t v = S + (uint64_t)A;
        memcpy(p, &v, 8);
        return 0;
    }
    case R_X86_64_PC64: {
        uint64_t v = S + (uint64_t)A - P;
        memcpy(p, &v, 8);
        return 0;
    }
    case R_X86_64_PLT32: {
        int64_t v = (int64_t)(S + (uint64_t)A - P);
        if ((v < INT32_MIN || v > INT32_MAX) && L->stub[s]) {   /* far: through the stub */
            uintptr_t stub = (uintptr_t)L->map + L->regbase[REGION_TEXT] + L->stuboff + (size_t)(L->stub[s] - 1) * STUB_SIZE;
            v = (int64_t)(stub + (uint64_t)A - P);
        }
        return put32(L, p, v, 1, t);
    }
    case R_X86_64_PC32: return put32(L, p, (int64_t)(S + (uint64_t)A - P), 1, t);
    case R_X86_64_GOTPCREL:
    case R_X86_64_GOTPCRELX:
    case R_X86_64_REX_GOTPCRELX: {
        uintptr_t g = (uintptr_t)L->map + L->regbase[REGION_RO] + L->gotoff + (size_t)(L->got[s] - 1) * GOT_SIZE;
        return put32(L, p, (int64_t)(g + (uint64_t)A - P), 1, t);
    }
    case R_X86_64_32: return put32(L, p, (int64_t)(S + (uint64_t)A), 0, t);
    case R_X86_64_32S: return put32(L, p, (int64_t)(S + (uint64_t)A), 1, t);
    default: {
        char m[96];
        snprintf(m, sizeof m, "%u (in %s)", t, sec_name(L, target));
        return bad(L, "unknown relocation type %s", m);
    }
    }
}

/* the section contents (NOBITS stays zero, as the mapping came) */
static void copy_sections(loader *L)
{
    for (int i = 0; i < L->nsec; i++)
        if (L->secregion[i] >= 0 && L->sh[i].sh_type != SHT_NOBITS && L->sh[i].sh_size)
            memcpy((void *)sec_addr(L, i), L->data + L->sh[i].sh_offset, L->sh[i].sh_size);
}

static void collect_exports(loader *L, cg_obj *o)
{
    for (int s = 1; s < L->nsyms; s++) {
        const Elf64_Sym *y = &L->syms[s];
        unsigned bind = ELF64_ST_BIND(y->st_info);
        if (y->st_shndx == SHN_UNDEF || !L->symok[s] || (bind != STB_GLOBAL && bind != STB_WEAK) || !*sym_name(L, s))
            continue;
        o->exports = es_xrealloc(o->exports, (size_t)(o->nexports + 1) * sizeof *o->exports);
        o->exports[o->nexports].name = es_xstrdup(sym_name(L, s));
        o->exports[o->nexports].addr = (void *)L->symaddr[s];
        o->nexports++;
    }
}

/* ESTC_PERF_MAP=1: the object's functions into /tmp/perf-PID.map (above) */
static void perf_map(const loader *L)
{
    const char *on = getenv("ESTC_PERF_MAP");
    if (!on || strcmp(on, "1") != 0) return;
    size_t cap = 256, len = 0;
    char *text = es_xmalloc(cap);
    for (int s = 1; s < L->nsyms; s++) {
        const Elf64_Sym *y = &L->syms[s];
        if (ELF64_ST_TYPE(y->st_info) != STT_FUNC || y->st_shndx == SHN_UNDEF || !L->symok[s] || !y->st_size)
            continue;
        const char *name = sym_name(L, s);
        size_t need = len + strlen(name) + 40;
        if (need > cap) {
            cap = need * 2;
            text = es_xrealloc(text, cap);
        }
        len += (size_t)snprintf(text + len, cap - len, "%lx %lx %s\n", (unsigned long)L->symaddr[s],
                                (unsigned long)y->st_size, name);
    }
    char path[64];
    snprintf(path, sizeof path, "/tmp/perf-%ld.map", (long)getpid());
    int fd = len ? open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644) : -1;
    if (fd >= 0) {
        ssize_t w = write(fd, text, len);   /* a profiling aid: a short write loses names, nothing else */
        (void)w;
        close(fd);
    }
    free(text);
}

static int protect(loader *L)
{
    size_t page = page_size();
    size_t text = align_up(L->regsize[REGION_TEXT], page), ro = align_up(L->regsize[REGION_RO], page);
    if (text && mprotect(L->map + L->regbase[REGION_TEXT], text, PROT_READ | PROT_EXEC) != 0)
        return bad(L, "%s", "cannot make the code executable (mprotect)");
    if (ro && mprotect(L->map + L->regbase[REGION_RO], ro, PROT_READ) != 0)
        return bad(L, "%s", "cannot protect the read-only data (mprotect)");
    return 0;
}

static int load(loader *L, cg_obj *o, cg_obj_resolver resolve, void *ctx)
{
    if (read_header(L) != 0 || read_symbols(L) != 0) return -1;
    size_t ns = (size_t)L->nsec, ny = (size_t)(L->nsyms > 0 ? L->nsyms : 1);
    L->secoff = es_xcalloc(ns, sizeof *L->secoff);
    L->secregion = es_xcalloc(ns, sizeof *L->secregion);
    L->symaddr = es_xcalloc(ny, sizeof *L->symaddr);
    L->symok = es_xcalloc(ny, 1);
    L->got = es_xcalloc(ny, sizeof *L->got);
    L->stub = es_xcalloc(ny, sizeof *L->stub);
    L->commonoff = es_xcalloc(ny, sizeof *L->commonoff);
    /* laid out twice: counting the stubs and GOT entries needs to know which
     * sections are loaded, and the layout needs their number */
    if (lay_out(L) != 0 || each_relocation(L, note_indirection) != 0 || lay_out(L) != 0) return -1;
    size_t len = L->regbase[NREGIONS - 1] + align_up(L->regsize[NREGIONS - 1], page_size());
    if (len == 0) len = page_size();
    /* populated at once: every page is written here (code, data) or by the
     * kernels (.bss: their sums and flags), and one call to fill them all
     * costs less than a fault a page, which on a virtual machine is 10 us or
     * more (and would otherwise land in the first step) */
#ifdef MAP_POPULATE
    int populate = MAP_POPULATE;
#else
    int populate = 0;
#endif
    void *m = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | populate, -1, 0);
    if (m == MAP_FAILED) return bad(L, "%s", "cannot map memory for the object");
    o->map = L->map = m;
    o->maplen = len;
    copy_sections(L);
    if (resolve_symbols(L, resolve, ctx) != 0) return -1;
    build_indirections(L);
    if (each_relocation(L, apply) != 0) return -1;
    collect_exports(L, o);
    if (protect(L) != 0) return -1;
    perf_map(L);
    return 0;
}

cg_obj *cg_obj_load(const void *data, size_t size, cg_obj_resolver resolve, void *ctx, es_status *st)
{
    /* section headers and symbols are read in place, so they must be
     * aligned: bytes that are not get an aligned copy */
    void *copy = NULL;
    if (((uintptr_t)data & 7) != 0) {
        copy = es_xmalloc(size ? size : 1);
        memcpy(copy, data, size);
        data = copy;
    }
    loader L = { .data = data, .size = size, .st = st };
    cg_obj *o = es_xcalloc(1, sizeof *o);
    int rc = load(&L, o, resolve, ctx);
    free(copy);
    free(L.secoff);
    free(L.secregion);
    free(L.symaddr);
    free(L.symok);
    free(L.got);
    free(L.stub);
    free(L.commonoff);
    if (rc != 0) {
        cg_obj_free(o);
        return NULL;
    }
    return o;
}

void *cg_obj_symbol(const cg_obj *o, const char *name)
{
    for (int i = 0; i < o->nexports; i++)
        if (strcmp(o->exports[i].name, name) == 0) return o->exports[i].addr;
    return NULL;
}

int cg_obj_nexports(const cg_obj *o) { return o->nexports; }
const char *cg_obj_export(const cg_obj *o, int i) { return o->exports[i].name; }

void cg_obj_free(cg_obj *o)
{
    if (!o) return;
    if (o->map) munmap(o->map, o->maplen);
    for (int i = 0; i < o->nexports; i++) free(o->exports[i].name);
    free(o->exports);
    free(o);
}

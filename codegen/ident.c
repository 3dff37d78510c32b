/*
 * ident.c — what the object cache's keys say about the machine and the code
 * (backend.h): the host CPU from cpuid, and GNU build IDs, of a loaded object
 * or of a file on disk. None of it needs LLVM: a cached start computes its
 * keys with these alone.
 *
 * The host. LLVM names the host CPU and its features from cpuid (and xgetbv
 * for the register state the OS saves), so hashing the same leaves gives a
 * key that changes exactly when LLVM's view of the host can. Leaf 1's EBX is
 * masked: it holds the APIC ID of whichever core runs the query.
 */
#define _GNU_SOURCE   /* dl_iterate_phdr */
#include "backend.h"

#include <cpuid.h>
#include <fcntl.h>
#include <link.h>
#include <pthread.h>
#include <string.h>
#include <unistd.h>

static uint64_t host_id;
static pthread_once_t host_once = PTHREAD_ONCE_INIT;

static void hash_leaf(uint64_t *h, unsigned leaf, unsigned sub, unsigned max)
{
    unsigned r[5] = { leaf, 0, 0, 0, 0 };
    if (leaf <= max) __cpuid_count(leaf, sub, r[1], r[2], r[3], r[4]);
    if (leaf == 1) r[2] &= 0x0000ffffu;   /* EBX: no APIC ID, no logical count */
    *h = es_hash64(r, sizeof r, *h);
}

static void host_init(void)
{
    uint64_t h = 0;
    unsigned max = __get_cpuid_max(0, NULL), ext = __get_cpuid_max(0x80000000u, NULL);
    hash_leaf(&h, 0, 0, max);                     /* vendor */
    hash_leaf(&h, 1, 0, max);                     /* family, model, stepping, features */
    hash_leaf(&h, 7, 0, max);
    hash_leaf(&h, 7, 1, max);
    hash_leaf(&h, 0xd, 1, max);                   /* xsave variants */
    hash_leaf(&h, 0x14, 0, max);
    hash_leaf(&h, 0x19, 0, max);
    hash_leaf(&h, 0x24, 0, max);
    for (unsigned l = 0x80000001u; l <= 0x80000008u; l++) hash_leaf(&h, l, 0, ext);
    unsigned a, b, c, d;
    if (__get_cpuid(1, &a, &b, &c, &d) && (c & (1u << 27))) {   /* OSXSAVE: the saved register state */
        unsigned lo, hi;
        __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
        uint64_t xcr0 = ((uint64_t)hi << 32) | lo;
        h = es_hash64(&xcr0, sizeof xcr0, h);
    }
    host_id = h ? h : 1;
}

uint64_t cg_host_id(void)
{
    pthread_once(&host_once, host_init);
    return host_id;
}

/* the build ID in the notes [p, end), hashed into *id; 1 if found */
static int note_build_id(const char *p, const char *end, uint64_t *id)
{
    while (p + sizeof(ElfW(Nhdr)) <= end) {
        ElfW(Nhdr) h;
        memcpy(&h, p, sizeof h);
        const char *name = p + sizeof h;
        size_t nsz = (h.n_namesz + 3u) & ~3u, dsz = (h.n_descsz + 3u) & ~3u;
        if (nsz > (size_t)(end - name) || h.n_descsz > (size_t)(end - name) - nsz) return 0;
        const char *desc = name + nsz;
        if (h.n_type == NT_GNU_BUILD_ID && h.n_namesz == 4 && memcmp(name, "GNU", 4) == 0 && h.n_descsz) {
            *id = es_hash64(desc, h.n_descsz, 0);
            return 1;
        }
        if (dsz > (size_t)(end - desc)) return 0;
        p = desc + dsz;
    }
    return 0;
}

struct self_query { uintptr_t at; uint64_t id; int found; };

/* the object whose loaded segments hold q->at: its build-ID note */
static int find_build_id(struct dl_phdr_info *info, size_t size, void *arg)
{
    (void)size;
    struct self_query *q = arg;
    int mine = 0;
    for (int i = 0; i < info->dlpi_phnum; i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        uintptr_t lo = info->dlpi_addr + ph->p_vaddr;
        if (ph->p_type == PT_LOAD && q->at >= lo && q->at < lo + ph->p_memsz) mine = 1;
    }
    if (!mine) return 0;
    for (int i = 0; i < info->dlpi_phnum && !q->found; i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        if (ph->p_type != PT_NOTE) continue;
        const char *p = (const char *)(info->dlpi_addr + ph->p_vaddr);
        q->found = note_build_id(p, p + ph->p_memsz, &q->id);
    }
    return 1;   /* found the object, with or without an ID: stop */
}

int cg_build_id_of(const void *addr, uint64_t *id)
{
    struct self_query q = { (uintptr_t)addr, 0, 0 };
    dl_iterate_phdr(find_build_id, &q);
    if (q.found) *id = q.id;
    return q.found ? 0 : -1;
}

/* Reads the file's program headers and its PT_NOTE segments, which the
 * linker puts in the first page or so: a few small reads, not the file. */
int cg_build_id_file(const char *path, uint64_t *id)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return -1;
    ElfW(Ehdr) eh;
    int found = 0;
    if (pread(fd, &eh, sizeof eh, 0) == (ssize_t)sizeof eh && memcmp(eh.e_ident, ELFMAG, SELFMAG) == 0 &&
        eh.e_phentsize == sizeof(ElfW(Phdr)) && eh.e_phnum > 0 && eh.e_phnum < 256) {
        ElfW(Phdr) ph[256];
        size_t n = (size_t)eh.e_phnum * sizeof ph[0];
        if (pread(fd, ph, n, (off_t)eh.e_phoff) == (ssize_t)n)
            for (int i = 0; i < eh.e_phnum && !found; i++) {
                if (ph[i].p_type != PT_NOTE || ph[i].p_filesz > 4096) continue;
                char buf[4096];
                ssize_t got = pread(fd, buf, ph[i].p_filesz, (off_t)ph[i].p_offset);
                if (got == (ssize_t)ph[i].p_filesz) found = note_build_id(buf, buf + got, id);
            }
    }
    close(fd);
    return found ? 0 : -1;
}

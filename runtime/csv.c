/*
 * csv.c — a streaming CSV reader: one row at a time from a fixed-size buffer.
 *
 * The file is read with read(2) into a buffer of RT_CSV_BUFSIZE bytes; bytes
 * [pos, len) are unread and buf[0] sits at file offset buf_off. A row that is
 * one whole line without a '"' (nearly every row of real files) is split in
 * the buffer itself: its fields are NUL-terminated where they lie. Any other
 * row is parsed from buf[pos..len) into `row` (unquoted, trimmed,
 * NUL-terminated copies of the fields). When
 * a row runs past the end of the buffered data, parsing is abandoned, the
 * unread tail is moved to the front, more is read, and the row is parsed again
 * from its start: parsing never has to remember a half-finished row. The buffer
 * grows (doubling) only when one row is larger than the whole buffer, so memory
 * is bounded by the longest row, never by the file. rt_csv_next_parsed walks
 * such a plain line once instead (walk_inplace): the caller's number columns
 * are parsed where their field starts, and the separator is then expected
 * where the number stops.
 *
 * Format: fields are split on a literal, possibly multi-character separator
 * (", " for UCI Adult). Spaces and tabs around fields are trimmed, except a
 * whitespace character that is the separator itself (so "\t"-separated files
 * keep empty fields). A field whose first non-blank character is '"' is quoted:
 * it runs to the next lone '"', may contain separators and newlines, and "" in
 * it stands for one '"'. Rows end at "\n", "\r\n" or the end of the file. Blank
 * (all-whitespace) lines are skipped; so are lines starting with the comment
 * prefix (at column 1) and, first of all, skip_rows physical lines. With a
 * header, the first row left after that names the columns and is kept apart.
 */
#define _GNU_SOURCE
#include "csv_walk.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

/* Outcomes of one parsing attempt at buf[pos]. */
enum { P_ROW, P_SKIPPED, P_MORE, P_EOF, P_ERROR };

/* Separator at p (the caller guarantees p < end)? Needs the whole separator in
 * view; *more is set when the data ends inside a possible separator. */
static int sep_at(const rt_csv *c, const char *p, const char *end, int *more)
{
    if (*p != c->sep[0]) return 0;
    size_t avail = (size_t)(end - p);
    if (avail < c->seplen) {
        if (memcmp(p, c->sep, avail) == 0 && !c->eof) *more = 1;
        return 0;
    }
    return memcmp(p, c->sep, c->seplen) == 0;
}

/* End of line at p: "\n", "\r\n", or a final "\r" at the end of the file.
 * Returns its length (0 if none); p == end at EOF counts as an end of length 0
 * and is handled by the callers. */
static int eol_at(const rt_csv *c, const char *p, const char *end, int *more)
{
    if (*p == '\n') return 1;
    if (*p == '\r') {
        if (p + 1 < end) return p[1] == '\n' ? 2 : 0;
        if (c->eof) return 1;
        *more = 1;
    }
    return 0;
}

static void grow_fields(rt_csv *c)
{
    c->fieldcap = c->fieldcap ? c->fieldcap * 2 : 32;
    c->fields = es_xrealloc(c->fields, (size_t)c->fieldcap * sizeof *c->fields);
}

static inline void push_field(rt_csv *c, char *f)
{
    if (c->nfields == c->fieldcap) grow_fields(c);
    c->fields[c->nfields++] = f;
}

/* Skips one physical line (for skip_rows and comments). */
static int skip_line(rt_csv *c)
{
    const char *p = c->buf + c->pos, *end = c->buf + c->len;
    const char *nl = memchr(p, '\n', (size_t)(end - p));
    if (!nl) {
        if (!c->eof) return P_MORE;
        c->pos = c->len;
    } else {
        c->pos = (size_t)(nl + 1 - c->buf);
    }
    c->pos_line++;
    return P_SKIPPED;
}

/* One field [b, t) of split_inplace: trimmed, NUL-terminated where it lies. */
static inline void end_field(rt_csv *c, char *b, char *t)
{
    while (b < t && is_trim(c, *b)) b++;
    while (t > b && is_trim(c, t[-1])) t--;
    *t = 0;
    push_field(c, b);
}

/* The common row, split where it lies: one whole line [p, nl) with no '"' in
 * it, so no quoted field and no line break inside. Each field is trimmed and
 * NUL-terminated in the buffer itself (over the separator's first byte, the
 * line end or a trailing blank), so no byte is copied. The row is known to be
 * complete before anything is written: a P_MORE retry never sees a changed
 * buffer. Separators are found eight bytes at a time: a word's candidate
 * positions (bytes equal to the separator's first) are walked in order, and
 * a multi-byte separator is confirmed byte by byte; a candidate inside the
 * separator just matched (",,", say) is passed over, as the scan from the
 * left would. */
static void split_inplace(rt_csv *c, char *p, char *nl)
{
    char *e = nl > p && nl[-1] == '\r' ? nl - 1 : nl;
    const size_t sl = c->seplen;
    const char s0 = c->sep[0];
    char *q = p;                /* scanned up to q */
    c->nfields = 0;
#ifdef RT_CSV_SWAR
    const uint64_t pat = ONES * (unsigned char)s0;
    for (; e - q >= 8; q += 8) {
        uint64_t w;
        memcpy(&w, q, 8);
        for (uint64_t m = bytes_equal(w, pat); m; m &= m - 1) {
            char *at = q + (__builtin_ctzll(m) >> 3);
            if (at < p) continue;
            if (sl > 1 && !sep_rest(c, at, e)) continue;
            end_field(c, p, at);
            p = at + sl;
        }
    }
#endif
    for (; q < e; q++) {
        if (*q != s0 || q < p) continue;
        if (sl > 1 && !sep_rest(c, q, e)) continue;
        end_field(c, p, q);
        p = q + sl;
    }
    end_field(c, p, e);
}

/* run[n]: how many columns from n on are of n's type (float, or int:
 * negative) and want their value alone, worked out once per plan */
static void plan_runs(rt_csv *c, const rt_csv_plan *plan)
{
    const unsigned char *k = plan->kind;
    c->run = es_xrealloc(c->run, (size_t)(plan->ncols + 1) * sizeof *c->run);
    c->run[plan->ncols] = 0;
    for (int n = plan->ncols - 1; n >= 0; n--) {
        int next = n + 1 < plan->ncols && k[n + 1] == k[n] ? c->run[n + 1] : 0;
        c->run[n] = k[n] == (RT_CSV_F64 | RT_CSV_VALUE_ONLY) ? next + 1
                  : k[n] == (RT_CSV_I64 | RT_CSV_VALUE_ONLY) ? next - 1 : 0;
    }
    c->run_for = plan->kind;
    c->run_cols = plan->ncols;
    /* a run shorter than four columns costs more to enter than it saves */
    c->any_run = 0;
    for (int n = 0; n < plan->ncols;) {
        int len = abs(c->run[n]);
        if (len == 0) { n++; continue; }
        if (len < 4) for (int i = 0; i < len; i++) c->run[n + i] = 0;
        else c->any_run = 1;
        n += len;
    }
}

/* The walk for this machine: its AVX2 or SSSE3 build (csv_avx2.c,
 * csv_ssse3.c) where the CPU has those instructions. */
__attribute__((noinline)) static void walk_inplace(rt_csv *c, const rt_csv_plan *plan, char *p, char *nl)
{
    if (c->run_for != plan->kind || c->run_cols != plan->ncols) plan_runs(c, plan);
#ifdef ESTC_CSV_X86
    if (c->isa == RT_CSV_AVX2) {
        rt_csv_walk_avx2(c, plan, p, nl);
        return;
    }
    if (c->isa == RT_CSV_SSSE3) {
        rt_csv_walk_ssse3(c, plan, p, nl);
        return;
    }
#endif
    RT_CSV_WALK(c, plan, p, nl);
}

/* The best build of the walk this CPU runs, or a lower one that
 * ESTC_CSV_ISA names (sse2, ssse3, avx2; for tests and comparisons). */
static int walk_isa(void)
{
    int isa = RT_CSV_SSE2;
#ifdef ESTC_CSV_X86
    __builtin_cpu_init();
    if (__builtin_cpu_supports("ssse3")) isa = RT_CSV_SSSE3;
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("bmi") && __builtin_cpu_supports("bmi2") &&
        __builtin_cpu_supports("fma"))
        isa = RT_CSV_AVX2;
#endif
    const char *want = getenv("ESTC_CSV_ISA");
    if (want && !strcmp(want, "sse2")) isa = RT_CSV_SSE2;
    else if (want && !strcmp(want, "ssse3") && isa > RT_CSV_SSSE3) isa = RT_CSV_SSSE3;
    return isa;
}

/* One attempt at the next row starting at buf[pos]. On P_ROW the fields are
 * set and pos/pos_line are past the row. On P_MORE nothing has changed. */
static int parse_row(rt_csv *c, const rt_csv_plan *plan, es_status *st)
{
    char *p = c->buf + c->pos, *end = c->buf + c->len;
    if (p == end) return c->eof ? P_EOF : P_MORE;
    if (c->skip_left > 0) {
        int r = skip_line(c);
        if (r == P_SKIPPED) c->skip_left--;
        return r;
    }
    if (c->comment) {
        size_t avail = (size_t)(end - p);
        if (avail < c->commentlen && !c->eof && memcmp(p, c->comment, avail) == 0) return P_MORE;
        if (avail >= c->commentlen && memcmp(p, c->comment, c->commentlen) == 0) return skip_line(c);
    }
    /* a blank line: only blanks up to the end of the line */
    {
        char *q = p;
        while (q < end && (*q == ' ' || *q == '\t' || *q == '\r')) q++;
        if (q == end && !c->eof) return P_MORE;
        if (q == end || *q == '\n') {
            c->pos = (size_t)(q == end ? c->len : (size_t)(q + 1 - c->buf));
            c->pos_line++;
            return P_SKIPPED;
        }
    }

    if (c->inplace) {
        char *nl = memchr(p, '\n', (size_t)(end - p));
        if (nl && !memchr(p, '"', (size_t)(nl - p))) {
            if (plan) walk_inplace(c, plan, p, nl);
            else split_inplace(c, p, nl);
            c->pos = (size_t)(nl + 1 - c->buf);
            c->row_line = c->pos_line++;
            return P_ROW;
        }
        /* a quote, or the last line of the file without its newline: below */
    }

    /* a row: worst case every input byte is copied and each field adds a NUL */
    size_t need = (size_t)(end - p) + 2;
    if (c->rowcap < need) {
        c->rowcap = need;
        c->row = es_xrealloc(c->row, c->rowcap);
    }
    char *out = c->row;
    int64_t line = c->pos_line;
    int more = 0;
    c->nfields = 0;
    for (;;) {
        /* one field starts at p */
        char *q = p;
        while (q < end && is_trim(c, *q) && !sep_at(c, q, end, &more)) q++;
        if (more) return P_MORE;
        char *fstart = out;
        if (q < end && *q == '"') {
            int64_t qline = line;
            q++;
            for (;;) {
                if (q == end) {
                    if (!c->eof) return P_MORE;
                    return es_fail(st, ES_EDATA, "%s:%lld: unterminated quoted field (the quote opens here)",
                                   c->path, (long long)qline), P_ERROR;
                }
                if (*q == '"') {
                    if (q + 1 == end && !c->eof) return P_MORE;
                    if (q + 1 < end && q[1] == '"') { *out++ = '"'; q += 2; continue; }
                    q++;
                    break;
                }
                if (*q == '\n') line++;
                *out++ = *q++;
            }
            /* after the closing quote: blanks, then a separator or the end of the row */
            for (;;) {
                if (q == end) break;
                if (sep_at(c, q, end, &more)) break;
                if (more) return P_MORE;
                if (eol_at(c, q, end, &more)) break;
                if (more) return P_MORE;
                if (!is_trim(c, *q))
                    return es_fail(st, ES_EDATA, "%s:%lld: unexpected character '%c' after a closing quote "
                                   "(a quoted field must be followed by the separator \"%s\" or the end of the line)",
                                   c->path, (long long)line, *q, c->sep), P_ERROR;
                q++;
            }
        } else {
            q = p;
            char *f = q;
            const char s0 = c->sep[0];
            for (;;) {
                while (q < end && *q != s0 && *q != '\n' && *q != '\r') q++;
                if (q == end) break;
                if (sep_at(c, q, end, &more)) break;
                if (more) return P_MORE;
                if (eol_at(c, q, end, &more)) break;
                if (more) return P_MORE;
                q++;
            }
            while (f < q && is_trim(c, *f)) f++;
            char *fe = q;
            while (fe > f && is_trim(c, fe[-1])) fe--;
            memcpy(out, f, (size_t)(fe - f));
            out += fe - f;
        }
        *out++ = 0;
        push_field(c, fstart);   /* row was sized above, so it does not move under us */
        if (q == end) {
            if (!c->eof) return P_MORE;
            c->pos = c->len;
            break;
        }
        if (sep_at(c, q, end, &more)) { p = q + c->seplen; continue; }
        int el = eol_at(c, q, end, &more);
        if (more) return P_MORE;
        if (el == 0) {  /* cannot happen: every loop above stops at sep, eol or end */
            return es_fail(st, ES_EINTERNAL, "%s:%lld: internal CSV scanner error", c->path,
                           (long long)line), P_ERROR;
        }
        c->pos = (size_t)(q + el - c->buf);
        break;
    }
    c->row_line = c->pos_line;
    c->pos_line = line + 1;
    return P_ROW;
}

/* A zeroed read buffer of n bytes. One of half a huge page or more is
 * aligned to one and asks for transparent huge pages where the system has
 * them: on the machine of docs/performance.md (a VM, where every page a copy
 * touches is two translations deep) a loop of `read` into 4 KB pages took
 * 3-4x the system time of one into a huge page; in the reader it saves less
 * (0.07 -> 0.06 s per 256 MB). */
static char *buf_alloc(size_t n)
{
#ifdef MADV_HUGEPAGE
    const size_t huge = (size_t)2 << 20;
    void *p;
    if (n >= huge / 2 && posix_memalign(&p, huge, (n + huge - 1) & ~(huge - 1)) == 0) {
        madvise(p, (n + huge - 1) & ~(huge - 1), MADV_HUGEPAGE);   /* a hint: no harm when refused */
        return memset(p, 0, n);
    }
#endif
    return es_xcalloc(1, n);
}

/* Makes room and reads more. Returns 0, or -1 on an I/O error. */
static int refill(rt_csv *c, es_status *st)
{
    if (c->pos > 0) {
        memmove(c->buf, c->buf + c->pos, c->len - c->pos);
        c->buf_off += (int64_t)c->pos;
        c->len -= c->pos;
        c->pos = 0;
    }
    if (c->len == c->cap) {     /* one row larger than the buffer */
        char *grown = buf_alloc(c->cap * 2 + SLACK);
        memcpy(grown, c->buf, c->len);
        free(c->buf);
        c->buf = grown;
        c->cap *= 2;
    }
    for (;;) {
        ssize_t r = read(c->fd, c->buf + c->len, c->cap - c->len);
        if (r < 0) {
            if (errno == EINTR) continue;
            return es_fail(st, ES_EIO, "cannot read %s: %s", c->path, strerror(errno));
        }
        if (r == 0) c->eof = 1;
        c->len += (size_t)r;
        return 0;
    }
}

/* The next row, or 0 at the end. */
static int next_row(rt_csv *c, const rt_csv_plan *plan, es_status *st)
{
    for (;;) {
        int r = parse_row(c, plan, st);
        switch (r) {
        case P_ROW: return 1;
        case P_EOF: return 0;
        case P_ERROR: return -1;
        case P_SKIPPED: continue;
        case P_MORE:
            if (refill(c, st) < 0) return -1;
            continue;
        default:
            return es_fail(st, ES_EINTERNAL, "%s: internal CSV reader state %d", c->path, r);
        }
    }
}

rt_csv *rt_csv_open_bufsize(const es_source_spec *src, const char *path, size_t bufsize,
                            es_status *st)
{
    if (!path) path = src->path;
    if (!path) { es_fail(st, ES_EINVAL, "source %s has no data file", src->name ? src->name : "?"); return NULL; }
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        es_fail(st, ES_EIO, "cannot open %s: %s", path, strerror(errno));
        return NULL;
    }
#ifdef POSIX_FADV_SEQUENTIAL
    posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
#endif
    rt_csv *c = es_xcalloc(1, sizeof *c);
    c->fd = fd;
    c->path = es_xstrdup(path);
    c->cap = bufsize < 16 ? 16 : bufsize;
    c->buf = buf_alloc(c->cap + SLACK);
    c->pos_line = 1;
    c->sep = src->separator && src->separator[0] ? src->separator : ",";
    c->seplen = strlen(c->sep);
    c->comment = src->comment && src->comment[0] ? src->comment : NULL;
    c->commentlen = c->comment ? strlen(c->comment) : 0;
    /* a separator made only of blanks must not be trimmed away */
    int only_blanks = 1;
    for (const char *s = c->sep; *s; s++) if (*s != ' ' && *s != '\t') only_blanks = 0;
    c->trim_space = !(only_blanks && strchr(c->sep, ' '));
    c->trim_tab = !(only_blanks && strchr(c->sep, '\t'));
    c->skip_left = src->skip_rows > 0 ? src->skip_rows : 0;
    c->inplace = !strpbrk(c->sep, "\"\r\n");
    c->isa = walk_isa();
    if (src->header) {
        int r = next_row(c, NULL, st);
        if (r < 0) { rt_csv_close(c); return NULL; }
        if (r == 1) {
            c->nheader = c->nfields;
            c->header = es_xmalloc((size_t)(c->nfields ? c->nfields : 1) * sizeof *c->header);
            for (int i = 0; i < c->nfields; i++) c->header[i] = es_xstrdup(c->fields[i]);
        }
    }
    return c;
}

rt_csv *rt_csv_open(const es_source_spec *src, const char *path, es_status *st)
{
    return rt_csv_open_bufsize(src, path, RT_CSV_BUFSIZE, st);
}

int rt_csv_next(rt_csv *c, int *nfields, char ***fields, es_status *st)
{
    return rt_csv_next_parsed(c, NULL, nfields, fields, st);
}

int rt_csv_next_parsed(rt_csv *c, const rt_csv_plan *plan, int *nfields, char ***fields, es_status *st)
{
    c->walked = 0;
    int r = next_row(c, plan, st);
    if (r == 1) {
        *nfields = c->nfields;
        *fields = c->walked ? plan->fields : c->fields;
    } else {
        *nfields = 0;
        *fields = NULL;
    }
    return r;
}

const char *const *rt_csv_header(const rt_csv *c, int *n)
{
    *n = c->nheader;
    return (const char *const *)c->header;
}

int64_t rt_csv_line(const rt_csv *c) { return c->row_line; }
int rt_csv_parsed(const rt_csv *c) { return c->walked ? c->parsed : -1; }
int rt_csv_can_parse(const rt_csv *c) { return !strchr("+-.0123456789eE", c->sep[0]); }
const char *rt_csv_path(const rt_csv *c) { return c->path; }
int64_t rt_csv_offset(const rt_csv *c) { return c->buf_off + (int64_t)c->pos; }

void rt_csv_close(rt_csv *c)
{
    if (!c) return;
    if (c->fd >= 0) close(c->fd);
    for (int i = 0; i < c->nheader; i++) free(c->header[i]);
    free(c->header);
    free(c->fields);
    free(c->row);
    free(c->run);
    free(c->buf);
    free(c->path);
    free(c);
}

/*
 * test_csv.c — the streaming CSV reader: separators and trimming, skip_rows,
 * comments, header, quoting, CRLF, a missing final newline, blank lines, rows
 * longer than the buffer, byte offsets, located errors, and the real UCI Adult
 * files. Every case is also read with tiny buffers, so each row crosses buffer
 * boundaries at every possible byte. Random files with every separator are
 * checked against the fields they were written from, read with buffers of
 * many sizes, so that separators, quotes and line ends fall at every edge of
 * the buffer and of the word-at-a-time scanner.
 */
#define _GNU_SOURCE
#include "check.h"
#include "../runtime/runtime.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char tmpdir[64];

static const char *write_tmp(const char *name, const char *data, size_t len)
{
    static char path[8][256];
    static int k;
    char *p = path[k++ % 8];
    snprintf(p, sizeof path[0], "%s/%s", tmpdir, name);
    FILE *f = fopen(p, "wb");
    fwrite(data, 1, len, f);
    fclose(f);
    return p;
}

static es_source_spec src_with(const char *sep)
{
    es_source_spec s;
    memset(&s, 0, sizeof s);
    s.name = "t";
    s.separator = sep;
    return s;
}

/* Reads every row as "LINE:f1|f2|...;" (fields in brackets to make trimming
 * visible); returns -1 (and the status) on an error. */
static int dump(const es_source_spec *src, const char *path, size_t bufsize, char *out, size_t cap,
                es_status *st)
{
    es_status_clear(st);
    out[0] = 0;
    rt_csv *c = rt_csv_open_bufsize(src, path, bufsize, st);
    if (!c) return -1;
    int n;
    char **f;
    int r;
    size_t o = 0;
    while ((r = rt_csv_next(c, &n, &f, st)) == 1) {
        o += (size_t)snprintf(out + o, cap - o, "%lld:", (long long)rt_csv_line(c));
        for (int i = 0; i < n; i++) o += (size_t)snprintf(out + o, cap - o, "%s[%s]", i ? "|" : "", f[i]);
        o += (size_t)snprintf(out + o, cap - o, ";");
    }
    rt_csv_close(c);
    return r;
}

/* The same rows whatever the buffer size. */
static void expect_rows(const char *what, const es_source_spec *src, const char *data, const char *want)
{
    const char *path = write_tmp("case.csv", data, strlen(data));
    static const size_t sizes[] = { 1 << 20, 1, 2, 3, 5, 7, 16, 64 };
    for (size_t i = 0; i < ES_ARRAY_LEN(sizes); i++) {
        char got[4096];
        es_status st;
        int r = dump(src, path, sizes[i], got, sizeof got, &st);
        CHECK(r == 0, "%s (buffer %zu): reading failed: %s", what, sizes[i], st.msg);
        CHECK(strcmp(got, want) == 0, "%s (buffer %zu): rows\n  got  %s\n  want %s", what, sizes[i], got, want);
    }
}

static void expect_error(const char *what, const es_source_spec *src, const char *data, const char *want_msg)
{
    const char *path = write_tmp("bad.csv", data, strlen(data));
    static const size_t sizes[] = { 1 << 20, 1, 4 };
    for (size_t i = 0; i < ES_ARRAY_LEN(sizes); i++) {
        char got[4096], msg[1200];
        es_status st;
        int r = dump(src, path, sizes[i], got, sizeof got, &st);
        snprintf(msg, sizeof msg, "%s:%s", path, want_msg);
        CHECK(r == -1, "%s (buffer %zu): expected an error, got rows %s", what, sizes[i], got);
        CHECK(strncmp(st.msg, msg, strlen(msg)) == 0, "%s: message\n  got  %s\n  want %s...", what, st.msg, msg);
    }
}

static void test_formats(void)
{
    es_source_spec comma = src_with(",");
    es_source_spec adult = src_with(", ");

    expect_rows("plain commas", &comma, "a,b,c\n1,2,3\n", "1:[a]|[b]|[c];2:[1]|[2]|[3];");
    expect_rows("separator \", \" with extra spaces trimmed", &adult,
                "39, State-gov,  77516 , Bachelors\n50,  x, y ,z\n",
                "1:[39]|[State-gov]|[77516]|[Bachelors];2:[50]|[x]|[y ,z];");
    expect_rows("empty fields", &comma, ",a,,\n", "1:[]|[a]|[]|[];");
    expect_rows("a single column", &comma, "x\ny\n", "1:[x];2:[y];");
    expect_rows("CRLF line ends", &comma, "a,b\r\nc,d\r\n", "1:[a]|[b];2:[c]|[d];");
    expect_rows("no final newline", &comma, "a,b\nc,d", "1:[a]|[b];2:[c]|[d];");
    expect_rows("no final newline after CRLF rows", &comma, "a,b\r\nc,d\r", "1:[a]|[b];2:[c]|[d];");
    expect_rows("blank lines anywhere, as at the end of adult.data", &comma,
                "\n\na,b\n   \n\t\r\nc,d\n\n", "3:[a]|[b];6:[c]|[d];");
    expect_rows("empty file", &comma, "", "");
    expect_rows("only blank lines", &comma, "\n \n\n", "");

    es_source_spec skip = src_with(", ");
    skip.skip_rows = 1;
    expect_rows("skip_rows skips adult.test's junk line", &skip,
                "|1x3 Cross validator\n25, Private\n38, Local-gov\n",
                "2:[25]|[Private];3:[38]|[Local-gov];");
    skip.skip_rows = 2;
    expect_rows("skip_rows counts physical lines, blank or not", &skip, "junk\n\nx, y\n", "3:[x]|[y];");

    es_source_spec com = src_with(",");
    com.comment = "#";
    expect_rows("comment lines", &com, "# a comment, with a comma\na,b\n#\nc,#d\n",
                "2:[a]|[b];4:[c]|[#d];");
    com.comment = "//";
    expect_rows("a two-character comment prefix", &com, "//x\n/,y\n", "2:[/]|[y];");

    expect_rows("quoted fields with separators and escaped quotes", &adult,
                "\"a, b\", \"say \"\"hi\"\"\", plain\n", "1:[a, b]|[say \"hi\"]|[plain];");
    expect_rows("quoted field keeps its inner spaces", &comma, " \" x \" ,y\n", "1:[ x ]|[y];");
    expect_rows("empty quoted field", &comma, "\"\",a\n", "1:[]|[a];");
    expect_rows("quoted newline: the next row's line number counts it", &comma,
                "\"one\ntwo\",x\ny,z\n", "1:[one\ntwo]|[x];3:[y]|[z];");
    expect_rows("a quote inside an unquoted field is literal", &comma, "5'11\",x\n", "1:[5'11\"]|[x];");
    expect_rows("quoted CRLF row", &comma, "\"a\"\r\n\"b\",\"c\"\r\n", "1:[a];2:[b]|[c];");

    es_source_spec tab = src_with("\t");
    expect_rows("tab separator keeps empty fields, trims spaces", &tab, "a\t\tb\n x \t y\n",
                "1:[a]|[]|[b];2:[x]|[y];");
    es_source_spec bar = src_with(" | ");
    expect_rows("separator starting with a space", &bar, "a | b |  | c\n\"q\" | r\n",
                "1:[a]|[b]|[]|[c];2:[q]|[r];");

    /* rows long enough for the word-at-a-time scanner, separators at every offset in a word */
    expect_rows("fields of every length 0 to 9", &comma, "a,bb,ccc,dddd,eeeee,ffffff,ggggggg,hhhhhhhh,iiiiiiiii,\n,0\n",
                "1:[a]|[bb]|[ccc]|[dddd]|[eeeee]|[ffffff]|[ggggggg]|[hhhhhhhh]|[iiiiiiiii]|[];2:[]|[0];");
    expect_rows("\", \" at every offset, blanks trimmed", &adult, "0, 1 , 22,333 ,  4444, 55555,666666, 7777777, 88888888\n",
                "1:[0]|[1]|[22,333]|[4444]|[55555,666666]|[7777777]|[88888888];");
    es_source_spec two = src_with(";;");
    expect_rows("overlapping separators split from the left", &two, "a;;;b;;;;c\n;;;;;;;;;\n",
                "1:[a]|[;b]|[]|[c];2:[]|[]|[]|[]|[;];");
    expect_rows("a lone CR inside a field is kept", &comma, "a\rb,c\r,d\r\ne,f\n", "1:[a\rb]|[c\r]|[d];2:[e]|[f];");
    expect_rows("quoted and plain rows alternate", &comma, "a,b\n\"q\",r\nc,d\n \"s,t\" ,u\r\nv,w",
                "1:[a]|[b];2:[q]|[r];3:[c]|[d];4:[s,t]|[u];5:[v]|[w];");
    expect_rows("a quote after a separator in a long row", &comma, "aaaaaaaaaaaa,bbbbbbbbb,\"c,c\",dddddddddd\n",
                "1:[aaaaaaaaaaaa]|[bbbbbbbbb]|[c,c]|[dddddddddd];");

    expect_error("unterminated quote", &comma, "a,b\n\"open,c\nd,e\n", "2: unterminated quoted field");
    expect_error("text after a closing quote", &comma, "\"a\"x,b\n", "1: unexpected character 'x' after a closing quote");
}

/* ---- random files against a reference splitter ------------------------------- */

typedef struct want_row { int64_t line; int n; char **f; } want_row;

static void put(char **buf, size_t *len, size_t *cap, const char *s, size_t n)
{
    if (*len + n + 1 > *cap) {
        *cap = (*len + n + 1) * 2;
        *buf = realloc(*buf, *cap);
    }
    memcpy(*buf + *len, s, n);
    *len += n;
    (*buf)[*len] = 0;
}

/* One random field: its text in the file goes to the file buffer, the value
 * the reader must give back is returned (malloc'd). Plain fields get blanks
 * around them (trimmed away) and characters of the separator other than its
 * first; quoted ones hold separators, doubled quotes and line breaks. */
static int no_quotes;   /* plain rows only: every row is split where it lies */

static char *random_field(es_rng *r, const char *sep, char **buf, size_t *len, size_t *cap, int64_t *lines)
{
    static const char alpha[] = "abcxyz0123456789.-+_e";
    char val[64];
    size_t n = 0;
    int blank_sep = sep[0] == '\t';
    if (!no_quotes && es_rng_below(r, 8) == 0) {
        if (!blank_sep && es_rng_below(r, 2)) put(buf, len, cap, "  ", 1 + es_rng_below(r, 2));
        put(buf, len, cap, "\"", 1);
        int k = (int)es_rng_below(r, 12);
        for (int i = 0; i < k; i++) {
            uint64_t what = es_rng_below(r, 10);
            if (what == 0) { put(buf, len, cap, "\"\"", 2); val[n++] = '"'; }
            else if (what == 1) { put(buf, len, cap, sep, strlen(sep)); memcpy(val + n, sep, strlen(sep)); n += strlen(sep); }
            else if (what == 2) { put(buf, len, cap, "\n", 1); val[n++] = '\n'; ++*lines; }
            else { char ch = alpha[es_rng_below(r, sizeof alpha - 1)]; put(buf, len, cap, &ch, 1); val[n++] = ch; }
        }
        put(buf, len, cap, "\"", 1);
        if (!blank_sep && es_rng_below(r, 3) == 0) put(buf, len, cap, " ", 1);
    } else {
        if (!blank_sep && es_rng_below(r, 4) == 0) put(buf, len, cap, "   ", 1 + es_rng_below(r, 3));
        int k = (int)es_rng_below(r, es_rng_below(r, 4) == 0 ? 40 : 10);
        for (int i = 0; i < k; i++) {
            char ch = alpha[es_rng_below(r, sizeof alpha - 1)];
            /* inner blanks and quotes, the separator's later characters */
            if (i > 0 && i < k - 1 && es_rng_below(r, 10) == 0) ch = " \"|;"[es_rng_below(r, 4)];
            if (ch == sep[0] || (ch == ' ' && blank_sep) || (ch == '"' && no_quotes)) ch = 'q';
            put(buf, len, cap, &ch, 1);
            val[n++] = ch;
        }
        if (!blank_sep && es_rng_below(r, 4) == 0) put(buf, len, cap, "  ", 1 + es_rng_below(r, 2));
    }
    val[n] = 0;
    return strdup(val);
}

static void test_random_rows(void)
{
    static const char *const seps[] = { ",", ", ", ";;", "|", "\t" };
    es_rng r;
    es_rng_seed(&r, 2024);
    for (size_t si = 0; si < 2 * ES_ARRAY_LEN(seps); si++) {
        const char *sep = seps[si % ES_ARRAY_LEN(seps)];
        int quotes = si < ES_ARRAY_LEN(seps);
        no_quotes = !quotes;
        enum { NROWS = 150 };
        want_row want[NROWS];
        char *buf = NULL;
        size_t len = 0, cap = 0;
        int64_t line = 1;
        for (int i = 0; i < NROWS; i++) {
            want[i].line = line;
            want[i].n = 2 + (int)es_rng_below(&r, 30);
            want[i].f = malloc((size_t)want[i].n * sizeof *want[i].f);
            for (int j = 0; j < want[i].n; j++) {
                if (j) put(&buf, &len, &cap, sep, strlen(sep));
                want[i].f[j] = random_field(&r, sep, &buf, &len, &cap, &line);
            }
            if (i < NROWS - 1 || es_rng_below(&r, 2)) {
                if (es_rng_below(&r, 3) == 0) put(&buf, &len, &cap, "\r\n", 2);
                else put(&buf, &len, &cap, "\n", 1);
            }
            line++;
        }
        const char *path = write_tmp("random.csv", buf, len);
        es_source_spec src = src_with(sep);
        static const size_t sizes[] = { 1 << 20, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 15, 16, 17,
                                        23, 31, 32, 33, 64, 100, 257, 1000 };
        /* mode 1: rt_csv_next_parsed with every column a float, which must
         * split alike and give rt_parse_f64's value for what it parses */
        for (size_t k = 0; k < 2 * ES_ARRAY_LEN(sizes); k++) {
            int mode = k >= ES_ARRAY_LEN(sizes);
            size_t size = sizes[k % ES_ARRAY_LEN(sizes)];
            es_status st;
            es_status_clear(&st);
            rt_csv *c = rt_csv_open_bufsize(&src, path, size, &st);
            enum { PC = 64 };
            unsigned char kind[PC];
            char *pf[PC];
            int plen[PC];
            double pval[PC];
            int64_t pstamp[PC];
            memset(kind, rt_csv_can_parse(c) ? RT_CSV_F64 : RT_CSV_TEXT, sizeof kind);
            for (int j = 0; j < PC; j++) pstamp[j] = -1;
            rt_csv_plan plan = { PC, kind, pf, plen, pval, pstamp, 0 };
            int i = 0, n, rr, bad = 0, nparsed = 0;
            char **f;
            while ((rr = (plan.now++, rt_csv_next_parsed(c, mode ? &plan : NULL, &n, &f, &st))) == 1 && i < NROWS) {
                int same = n == want[i].n && rt_csv_line(c) == want[i].line;
                for (int j = 0; same && j < n; j++) same = strcmp(f[j], want[i].f[j]) == 0;
                for (int j = 0; same && mode && f == pf && j < n; j++) {
                    same = plen[j] == (int)strlen(f[j]);
                    double v;
                    int er;
                    if (same && pstamp[j] == plan.now) {
                        nparsed++;
                        same = rt_parse_f64(f[j], &v, &er) && memcmp(&v, &pval[j], sizeof v) == 0;
                    }
                }
                if (!same && bad++ == 0) {
                    CHECK(0, "separator \"%s\", buffer %zu%s: row %d (line %lld, %d fields) read as line %lld, %d fields",
                          sep, size, mode ? ", numbers parsed" : "", i, (long long)want[i].line, want[i].n,
                          (long long)rt_csv_line(c), n);
                    for (int j = 0; j < n && j < want[i].n; j++)
                        if (strcmp(f[j], want[i].f[j]) != 0)
                            fprintf(stderr, "  field %d: got [%s] want [%s]\n", j, f[j], want[i].f[j]);
                }
                i++;
            }
            CHECK(rr == 0 && i == NROWS && bad == 0, "separator \"%s\", buffer %zu%s: %d of %d rows, %d wrong, %s",
                  sep, size, mode ? ", numbers parsed" : "", i, NROWS, bad, st.msg);
            CHECK(!mode || quotes || nparsed > 100, "separator \"%s\", buffer %zu: only %d fields parsed while splitting", sep,
                  size, nparsed);
            rt_csv_close(c);
        }
        for (int i = 0; i < NROWS; i++) {
            for (int j = 0; j < want[i].n; j++) free(want[i].f[j]);
            free(want[i].f);
        }
        free(buf);
    }
}

static void test_header(void)
{
    es_source_spec s = src_with(",");
    s.header = 1;
    s.skip_rows = 1;
    const char *path = write_tmp("h.csv", "junk\n\nage,name\n1,x\n", 19);
    es_status st;
    es_status_clear(&st);
    rt_csv *c = rt_csv_open(&s, path, &st);
    CHECK(c != NULL, "open with header: %s", st.msg);
    if (!c) return;
    int n;
    const char *const *h = rt_csv_header(c, &n);
    CHECK(n == 2 && h && strcmp(h[0], "age") == 0 && strcmp(h[1], "name") == 0,
          "the header row (after skip_rows and a blank line) names the columns");
    char **f;
    CHECK(rt_csv_next(c, &n, &f, &st) == 1 && n == 2 && strcmp(f[0], "1") == 0,
          "the first data row follows the header");
    CHECK(rt_csv_line(c) == 4, "data row line is 4, got %lld", (long long)rt_csv_line(c));
    CHECK(rt_csv_next(c, &n, &f, &st) == 0, "then the end");
    rt_csv_close(c);

    s.header = 0;
    c = rt_csv_open(&s, path, &st);
    rt_csv_header(c, &n);
    CHECK(n == 0, "no header without the option");
    rt_csv_close(c);
}

static void test_offsets(void)
{
    es_source_spec s = src_with(",");
    s.comment = "#";
    const char *data = "a,1\n\n# note\nbb,2\r\n\"c\nc\",3\nd,4";
    const char *path = write_tmp("off.csv", data, strlen(data));
    /* where each following row starts, found in the text by hand */
    const char *after[] = { "\n\n# note", "\"c\nc\"", "d,4", NULL };
    int64_t want[4];
    want[0] = (int64_t)(strstr(data, after[0]) - data) + 1;   /* just past "a,1\n" */
    want[1] = (int64_t)(strstr(data, after[1]) - data);
    want[2] = (int64_t)(strstr(data, after[2]) - data);
    want[3] = (int64_t)strlen(data);
    static const size_t sizes[] = { 1 << 20, 1, 3, 8 };
    for (size_t k = 0; k < ES_ARRAY_LEN(sizes); k++) {
        es_status st;
        rt_csv *c = rt_csv_open_bufsize(&s, path, sizes[k], &st);
        CHECK(rt_csv_offset(c) == 0, "offset 0 before reading");
        int n;
        char **f;
        for (int i = 0; i < 4; i++) {
            CHECK(rt_csv_next(c, &n, &f, &st) == 1, "row %d", i);
            CHECK(rt_csv_offset(c) == want[i], "buffer %zu: offset after row %d is %lld, want %lld",
                  sizes[k], i, (long long)rt_csv_offset(c), (long long)want[i]);
        }
        CHECK(rt_csv_next(c, &n, &f, &st) == 0, "end");
        rt_csv_close(c);
    }
}

static void test_long_line(void)
{
    /* a row of 3 MiB: three times the default buffer */
    size_t big = 3u << 20;
    char *data = malloc(big + 64);
    size_t o = 0;
    o += (size_t)sprintf(data, "x,");
    memset(data + o, 'y', big);
    o += big;
    o += (size_t)sprintf(data + o, ",z\nshort,row,here\n");
    const char *path = write_tmp("long.csv", data, o);
    es_source_spec s = src_with(",");
    es_status st;
    rt_csv *c = rt_csv_open(&s, path, &st);
    int n;
    char **f;
    CHECK(rt_csv_next(c, &n, &f, &st) == 1 && n == 3, "a row longer than the buffer is read whole");
    CHECK(n == 3 && strlen(f[1]) == big && f[1][0] == 'y' && f[1][big - 1] == 'y' && strcmp(f[2], "z") == 0,
          "its long field is intact");
    CHECK(rt_csv_next(c, &n, &f, &st) == 1 && n == 3 && strcmp(f[0], "short") == 0 && rt_csv_line(c) == 2,
          "the row after it is read normally");
    CHECK(rt_csv_next(c, &n, &f, &st) == 0, "then the end");
    rt_csv_close(c);
    free(data);
}

static void test_open_error(void)
{
    es_source_spec s = src_with(",");
    es_status st;
    es_status_clear(&st);
    rt_csv *c = rt_csv_open(&s, "/nonexistent/dir/x.csv", &st);
    CHECK(c == NULL && strstr(st.msg, "cannot open /nonexistent/dir/x.csv") != NULL,
          "a missing file is reported with its path: %s", st.msg);
}

/* The real files: row counts and field counts from the dataset's README. */
static void test_adult(void)
{
    struct { const char *file; int skip; long rows; } cases[] = {
        { "examples/census/data/adult.data", 0, 32561 },
        { "examples/census/data/adult.test", 1, 16281 },
    };
    for (size_t k = 0; k < ES_ARRAY_LEN(cases); k++) {
        es_source_spec s = src_with(", ");
        s.skip_rows = cases[k].skip;
        es_status st;
        es_status_clear(&st);
        rt_csv *c = rt_csv_open(&s, check_src(cases[k].file), &st);
        CHECK(c != NULL, "open %s: %s", cases[k].file, st.msg);
        if (!c) continue;
        long rows = 0, bad = 0, spaces = 0;
        int n, r;
        char **f;
        while ((r = rt_csv_next(c, &n, &f, &st)) == 1) {
            rows++;
            if (n != 15) bad++;
            for (int i = 0; i < n; i++) if (f[i][0] == ' ' || (f[i][0] && f[i][strlen(f[i]) - 1] == ' ')) spaces++;
        }
        CHECK(r == 0, "%s read to the end: %s", cases[k].file, st.msg);
        CHECK(rows == cases[k].rows, "%s has %ld rows, want %ld", cases[k].file, rows, cases[k].rows);
        CHECK(bad == 0, "%s: %ld rows without 15 fields", cases[k].file, bad);
        CHECK(spaces == 0, "%s: %ld fields with untrimmed spaces", cases[k].file, spaces);
        rt_csv_close(c);
    }
}

int main(void)
{
    snprintf(tmpdir, sizeof tmpdir, "/tmp/estc_test_csv_XXXXXX");
    if (!mkdtemp(tmpdir)) { perror("mkdtemp"); return 1; }
    test_formats();
    test_random_rows();
    test_header();
    test_offsets();
    test_long_line();
    test_open_error();
    test_adult();
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", tmpdir);
    return check_done("test_csv");
}

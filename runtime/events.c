/*
 * events.c — TensorBoard event files: writing and reading them by hand.
 *
 * Format (what TensorFlow's EventsWriter and RecordWriter produce):
 *   file    = record*
 *   record  = u64 length (LE) | u32 masked_crc32c(length bytes) | payload | u32 masked_crc32c(payload)
 *   masked  = ((crc >> 15) | (crc << 17)) + 0xa282ead8, CRC32C = Castagnoli
 *             (reflected polynomial 0x82F63B78), table-driven
 *   payload = an Event protobuf:
 *     Event        { double wall_time = 1; int64 step = 2; string file_version = 3;
 *                    Summary summary = 5; SessionLog session_log = 7; ... }
 *     Summary      { repeated Value value = 1; }
 *     Value        { string tag = 1; oneof { float simple_value = 2; HistogramProto histo = 5;
 *                    TensorProto tensor = 8; ... } }
 *     SessionLog   { enum status = 1 (START = 1) }
 *     HistogramProto { double min=1, max=2, num=3, sum=4, sum_squares=5;
 *                      repeated double bucket_limit=6 [packed], bucket=7 [packed] }
 *     TensorProto  { DataType dtype=1; TensorShapeProto tensor_shape=2 { repeated Dim dim=2 { int64 size=1 } };
 *                    bytes tensor_content=4; repeated float float_val=5; double double_val=6;
 *                    int32 int_val=7; int64 int64_val=10 }
 * The first event of a file carries file_version "brain.Event:2". TF2/Keras
 * writes scalars as one-element tensors (usually DT_FLOAT in tensor_content),
 * PyTorch and TF1 as simple_value; the reader accepts both.
 *
 * The writer queues framed records in memory and hands each batch to one
 * write() on an O_APPEND descriptor, so a process killed at any moment leaves
 * whole records (or, at worst, a cut-off last one, which the reader treats as
 * the end of the file, as TensorFlow's does). The reader checks every CRC and
 * skips fields it does not know, by wire type, as protobuf readers must.
 */
#define _GNU_SOURCE
#include "runtime.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* ---- CRC32C ------------------------------------------------------------------------ */

static const uint32_t crc32c_table[256] = {
    0x00000000, 0xf26b8303, 0xe13b70f7, 0x1350f3f4, 0xc79a971f, 0x35f1141c,
    0x26a1e7e8, 0xd4ca64eb, 0x8ad958cf, 0x78b2dbcc, 0x6be22838, 0x9989ab3b,
    0x4d43cfd0, 0xbf284cd3, 0xac78bf27, 0x5e133c24, 0x105ec76f, 0xe235446c,
    0xf165b798, 0x030e349b, 0xd7c45070, 0x25afd373, 0x36ff2087, 0xc494a384,
    0x9a879fa0, 0x68ec1ca3, 0x7bbcef57, 0x89d76c54, 0x5d1d08bf, 0xaf768bbc,
    0xbc267848, 0x4e4dfb4b, 0x20bd8ede, 0xd2d60ddd, 0xc186fe29, 0x33ed7d2a,
    0xe72719c1, 0x154c9ac2, 0x061c6936, 0xf477ea35, 0xaa64d611, 0x580f5512,
    0x4b5fa6e6, 0xb93425e5, 0x6dfe410e, 0x9f95c20d, 0x8cc531f9, 0x7eaeb2fa,
    0x30e349b1, 0xc288cab2, 0xd1d83946, 0x23b3ba45, 0xf779deae, 0x05125dad,
    0x1642ae59, 0xe4292d5a, 0xba3a117e, 0x4851927d, 0x5b016189, 0xa96ae28a,
    0x7da08661, 0x8fcb0562, 0x9c9bf696, 0x6ef07595, 0x417b1dbc, 0xb3109ebf,
    0xa0406d4b, 0x522bee48, 0x86e18aa3, 0x748a09a0, 0x67dafa54, 0x95b17957,
    0xcba24573, 0x39c9c670, 0x2a993584, 0xd8f2b687, 0x0c38d26c, 0xfe53516f,
    0xed03a29b, 0x1f682198, 0x5125dad3, 0xa34e59d0, 0xb01eaa24, 0x42752927,
    0x96bf4dcc, 0x64d4cecf, 0x77843d3b, 0x85efbe38, 0xdbfc821c, 0x2997011f,
    0x3ac7f2eb, 0xc8ac71e8, 0x1c661503, 0xee0d9600, 0xfd5d65f4, 0x0f36e6f7,
    0x61c69362, 0x93ad1061, 0x80fde395, 0x72966096, 0xa65c047d, 0x5437877e,
    0x4767748a, 0xb50cf789, 0xeb1fcbad, 0x197448ae, 0x0a24bb5a, 0xf84f3859,
    0x2c855cb2, 0xdeeedfb1, 0xcdbe2c45, 0x3fd5af46, 0x7198540d, 0x83f3d70e,
    0x90a324fa, 0x62c8a7f9, 0xb602c312, 0x44694011, 0x5739b3e5, 0xa55230e6,
    0xfb410cc2, 0x092a8fc1, 0x1a7a7c35, 0xe811ff36, 0x3cdb9bdd, 0xceb018de,
    0xdde0eb2a, 0x2f8b6829, 0x82f63b78, 0x709db87b, 0x63cd4b8f, 0x91a6c88c,
    0x456cac67, 0xb7072f64, 0xa457dc90, 0x563c5f93, 0x082f63b7, 0xfa44e0b4,
    0xe9141340, 0x1b7f9043, 0xcfb5f4a8, 0x3dde77ab, 0x2e8e845f, 0xdce5075c,
    0x92a8fc17, 0x60c37f14, 0x73938ce0, 0x81f80fe3, 0x55326b08, 0xa759e80b,
    0xb4091bff, 0x466298fc, 0x1871a4d8, 0xea1a27db, 0xf94ad42f, 0x0b21572c,
    0xdfeb33c7, 0x2d80b0c4, 0x3ed04330, 0xccbbc033, 0xa24bb5a6, 0x502036a5,
    0x4370c551, 0xb11b4652, 0x65d122b9, 0x97baa1ba, 0x84ea524e, 0x7681d14d,
    0x2892ed69, 0xdaf96e6a, 0xc9a99d9e, 0x3bc21e9d, 0xef087a76, 0x1d63f975,
    0x0e330a81, 0xfc588982, 0xb21572c9, 0x407ef1ca, 0x532e023e, 0xa145813d,
    0x758fe5d6, 0x87e466d5, 0x94b49521, 0x66df1622, 0x38cc2a06, 0xcaa7a905,
    0xd9f75af1, 0x2b9cd9f2, 0xff56bd19, 0x0d3d3e1a, 0x1e6dcdee, 0xec064eed,
    0xc38d26c4, 0x31e6a5c7, 0x22b65633, 0xd0ddd530, 0x0417b1db, 0xf67c32d8,
    0xe52cc12c, 0x1747422f, 0x49547e0b, 0xbb3ffd08, 0xa86f0efc, 0x5a048dff,
    0x8ecee914, 0x7ca56a17, 0x6ff599e3, 0x9d9e1ae0, 0xd3d3e1ab, 0x21b862a8,
    0x32e8915c, 0xc083125f, 0x144976b4, 0xe622f5b7, 0xf5720643, 0x07198540,
    0x590ab964, 0xab613a67, 0xb831c993, 0x4a5a4a90, 0x9e902e7b, 0x6cfbad78,
    0x7fab5e8c, 0x8dc0dd8f, 0xe330a81a, 0x115b2b19, 0x020bd8ed, 0xf0605bee,
    0x24aa3f05, 0xd6c1bc06, 0xc5914ff2, 0x37faccf1, 0x69e9f0d5, 0x9b8273d6,
    0x88d28022, 0x7ab90321, 0xae7367ca, 0x5c18e4c9, 0x4f48173d, 0xbd23943e,
    0xf36e6f75, 0x0105ec76, 0x12551f82, 0xe03e9c81, 0x34f4f86a, 0xc69f7b69,
    0xd5cf889d, 0x27a40b9e, 0x79b737ba, 0x8bdcb4b9, 0x988c474d, 0x6ae7c44e,
    0xbe2da0a5, 0x4c4623a6, 0x5f16d052, 0xad7d5351,
};

uint32_t rt_crc32c(uint32_t crc, const void *data, size_t n)
{
    const unsigned char *p = data;
    crc = ~crc;
    for (size_t i = 0; i < n; i++) crc = crc32c_table[(crc ^ p[i]) & 0xff] ^ (crc >> 8);
    return ~crc;
}

uint32_t rt_crc32c_masked(const void *data, size_t n)
{
    uint32_t crc = rt_crc32c(0, data, n);
    return ((crc >> 15) | (crc << 17)) + 0xa282ead8u;
}

/* ---- protobuf encoding ---------------------------------------------------------------- */

typedef struct pbuf { unsigned char *p; size_t n, cap; } pbuf;

static void pb_put(pbuf *b, const void *d, size_t n)
{
    if (b->n + n > b->cap) {
        size_t c = b->cap ? b->cap : 256;
        while (c < b->n + n) c *= 2;
        b->p = es_xrealloc(b->p, c);
        b->cap = c;
    }
    if (n) memcpy(b->p + b->n, d, n);
    b->n += n;
}

static void pb_varint(pbuf *b, uint64_t v)
{
    unsigned char t[10];
    int k = 0;
    do {
        t[k] = (unsigned char)(v & 0x7f);
        v >>= 7;
        if (v) t[k] |= 0x80;
        k++;
    } while (v);
    pb_put(b, t, (size_t)k);
}

enum { WT_VARINT = 0, WT_FIXED64 = 1, WT_LEN = 2, WT_FIXED32 = 5 };

static void pb_key(pbuf *b, int field, int wt) { pb_varint(b, (uint64_t)field << 3 | (uint64_t)wt); }

static void pb_le(pbuf *b, uint64_t v, int bytes)
{
    unsigned char t[8];
    for (int i = 0; i < bytes; i++) t[i] = (unsigned char)(v >> (8 * i));
    pb_put(b, t, (size_t)bytes);
}

static void pb_double(pbuf *b, int field, double d)
{
    uint64_t u;
    memcpy(&u, &d, 8);
    pb_key(b, field, WT_FIXED64);
    pb_le(b, u, 8);
}

static void pb_float(pbuf *b, int field, float f)
{
    uint32_t u;
    memcpy(&u, &f, 4);
    pb_key(b, field, WT_FIXED32);
    pb_le(b, u, 4);
}

static void pb_bytes(pbuf *b, int field, const void *d, size_t n)
{
    pb_key(b, field, WT_LEN);
    pb_varint(b, n);
    pb_put(b, d, n);
}

/* ---- the writer ----------------------------------------------------------------------- */

struct rt_events {
    int fd;
    char *path;
    pbuf pending;             /* framed records not yet written */
};

static double wall_clock(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void frame(rt_events *w, const pbuf *ev)
{
    unsigned char len[8];
    for (int i = 0; i < 8; i++) len[i] = (unsigned char)((uint64_t)ev->n >> (8 * i));
    pbuf *b = &w->pending;
    pb_put(b, len, 8);
    pb_le(b, rt_crc32c_masked(len, 8), 4);
    pb_put(b, ev->p, ev->n);
    pb_le(b, rt_crc32c_masked(ev->p, ev->n), 4);
}

/* An Event's common head: wall_time, and step unless 0 (proto3 omits defaults). */
static void event_head(pbuf *ev, int64_t step)
{
    pb_double(ev, 1, wall_clock());
    if (step) {
        pb_key(ev, 2, WT_VARINT);
        pb_varint(ev, (uint64_t)step);
    }
}

/* Event { head, summary = 5 { value = 1 { value } } } */
static void queue_value(rt_events *w, int64_t step, const pbuf *value)
{
    pbuf summary = { 0 }, ev = { 0 };
    pb_bytes(&summary, 1, value->p, value->n);
    event_head(&ev, step);
    pb_bytes(&ev, 5, summary.p, summary.n);
    frame(w, &ev);
    free(summary.p);
    free(ev.p);
}

rt_events *rt_events_open(const char *dir, es_status *st)
{
    if (es_mkdirs(dir, st) < 0) return NULL;
    char host[256];
    if (gethostname(host, sizeof host) != 0) snprintf(host, sizeof host, "localhost");
    host[sizeof host - 1] = 0;
    for (char *h = host; *h; h++) if (*h == '/') *h = '_';
    long long sec = (long long)time(NULL);
    size_t n = strlen(dir) + strlen(host) + 96;
    char *path = es_xmalloc(n);
    int fd = -1;
    for (int k = 0; k < 1000 && fd < 0; k++) {
        if (k == 0) snprintf(path, n, "%s/events.out.tfevents.%lld.%s", dir, sec, host);
        else snprintf(path, n, "%s/events.out.tfevents.%lld.%s.%d", dir, sec, host, k);
        fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_APPEND | O_CLOEXEC, 0644);
        if (fd < 0 && errno != EEXIST) break;
    }
    if (fd < 0) {
        es_fail(st, ES_EIO, "cannot create an event file in %s: %s", dir, strerror(errno));
        free(path);
        return NULL;
    }
    rt_events *w = es_xcalloc(1, sizeof *w);
    w->fd = fd;
    w->path = path;
    pbuf ev = { 0 };
    event_head(&ev, 0);
    static const char version[] = "brain.Event:2";
    pb_bytes(&ev, 3, version, sizeof version - 1);
    frame(w, &ev);
    free(ev.p);
    if (rt_events_flush(w, st) < 0) { rt_events_close(w); return NULL; }
    return w;
}

const char *rt_events_path(const rt_events *w) { return w->path; }

void rt_events_scalar(rt_events *w, int64_t step, const char *tag, double value)
{
    pbuf v = { 0 };
    pb_bytes(&v, 1, tag, strlen(tag));
    pb_float(&v, 2, (float)value);
    queue_value(w, step, &v);
    free(v.p);
}

/* TensorFlow's default histogram buckets: limits growing by 10% from 1e-12
 * to 1e20 on both sides of 0, and DBL_MAX last (core/lib/histogram). */
static double *default_limits(int *n)
{
    int half = 0;
    for (double v = 1e-12; v < 1e20; v *= 1.1) half++;
    double *lim = es_xmalloc(sizeof(double) * (size_t)(2 * half + 3));
    int k = 0;
    lim[k++] = -DBL_MAX;
    double *pos = es_xmalloc(sizeof(double) * (size_t)half);
    int i = 0;
    for (double v = 1e-12; v < 1e20; v *= 1.1) pos[i++] = v;
    for (i = half - 1; i >= 0; i--) lim[k++] = -pos[i];
    lim[k++] = 0.0;
    for (i = 0; i < half; i++) lim[k++] = pos[i];
    lim[k++] = DBL_MAX;
    free(pos);
    *n = k;
    return lim;
}

void rt_events_histogram(rt_events *w, int64_t step, const char *tag, const float *v, int64_t n)
{
    int nl;
    double *lim = default_limits(&nl);
    double *count = es_xcalloc((size_t)nl, sizeof *count);
    double mn = DBL_MAX, mx = -DBL_MAX, sum = 0, sq = 0, num = 0;
    for (int64_t i = 0; i < n; i++) {
        double x = v[i];
        if (!isfinite(x)) continue;   /* TensorFlow refuses them; a summary should not */
        /* the bucket is the first whose limit exceeds x */
        int lo = 0, hi = nl - 1;
        while (lo < hi) {
            int mid = (lo + hi) / 2;
            if (lim[mid] > x) hi = mid; else lo = mid + 1;
        }
        count[lo] += 1;
        mn = x < mn ? x : mn;
        mx = x > mx ? x : mx;
        sum += x;
        sq += x * x;
        num += 1;
    }
    if (num == 0) mn = mx = 0;
    pbuf h = { 0 }, lims = { 0 }, cnts = { 0 };
    pb_double(&h, 1, mn);
    pb_double(&h, 2, mx);
    pb_double(&h, 3, num);
    pb_double(&h, 4, sum);
    pb_double(&h, 5, sq);
    /* runs of empty buckets collapse into one, as TensorFlow encodes them */
    for (int i = 0; i < nl;) {
        double end = lim[i], c = count[i];
        i++;
        if (c <= 0)
            while (i < nl && count[i] <= 0) { end = lim[i]; c = count[i]; i++; }
        uint64_t u;
        memcpy(&u, &end, 8);
        pb_le(&lims, u, 8);
        memcpy(&u, &c, 8);
        pb_le(&cnts, u, 8);
    }
    pb_bytes(&h, 6, lims.p, lims.n);
    pb_bytes(&h, 7, cnts.p, cnts.n);
    pbuf val = { 0 };
    pb_bytes(&val, 1, tag, strlen(tag));
    pb_bytes(&val, 5, h.p, h.n);
    queue_value(w, step, &val);
    free(val.p);
    free(h.p);
    free(lims.p);
    free(cnts.p);
    free(count);
    free(lim);
}

void rt_events_session_start(rt_events *w, int64_t step)
{
    pbuf log = { 0 }, ev = { 0 };
    pb_key(&log, 1, WT_VARINT);
    pb_varint(&log, 1);                 /* SessionLog.START */
    event_head(&ev, step);
    pb_bytes(&ev, 7, log.p, log.n);
    frame(w, &ev);
    free(log.p);
    free(ev.p);
}

int rt_events_flush(rt_events *w, es_status *st)
{
    size_t off = 0;
    while (off < w->pending.n) {
        ssize_t k = write(w->fd, w->pending.p + off, w->pending.n - off);
        if (k < 0) {
            if (errno == EINTR) continue;
            w->pending.n = 0;
            return es_fail(st, ES_EIO, "cannot write %s: %s", w->path, strerror(errno));
        }
        off += (size_t)k;
    }
    w->pending.n = 0;
    return 0;
}

void rt_events_close(rt_events *w)
{
    if (!w) return;
    es_status ignore = { 0 };
    rt_events_flush(w, &ignore);
    close(w->fd);
    free(w->pending.p);
    free(w->path);
    free(w);
}

/* ---- protobuf decoding ------------------------------------------------------------------- */

typedef struct pin { const unsigned char *p, *end; int bad; } pin;

static uint64_t in_varint(pin *in)
{
    uint64_t v = 0;
    for (int shift = 0; shift < 64; shift += 7) {
        if (in->p >= in->end) { in->bad = 1; return 0; }
        unsigned char c = *in->p++;
        v |= (uint64_t)(c & 0x7f) << shift;
        if (!(c & 0x80)) return v;
    }
    in->bad = 1;
    return 0;
}

static uint64_t in_le(pin *in, int bytes)
{
    if (in->end - in->p < bytes) { in->bad = 1; in->p = in->end; return 0; }
    uint64_t v = 0;
    for (int i = 0; i < bytes; i++) v |= (uint64_t)in->p[i] << (8 * i);
    in->p += bytes;
    return v;
}

/* A length-delimited field's bytes as a sub-reader. */
static pin in_sub(pin *in)
{
    uint64_t n = in_varint(in);
    pin sub = { in->p, in->p, 0 };
    if (in->bad || n > (uint64_t)(in->end - in->p)) { in->bad = 1; in->p = in->end; return sub; }
    sub.end = in->p + n;
    in->p += n;
    return sub;
}

/* Skips a field of wire type wt; groups (3, 4) are not used by these protos. */
static void in_skip(pin *in, int wt)
{
    switch (wt) {
    case WT_VARINT: in_varint(in); break;
    case WT_FIXED64: in_le(in, 8); break;
    case WT_LEN: in_sub(in); break;
    case WT_FIXED32: in_le(in, 4); break;
    default: in->bad = 1; in->p = in->end; break;
    }
}

static double as_double(uint64_t u) { double d; memcpy(&d, &u, 8); return d; }
static float as_float(uint32_t u) { float f; memcpy(&f, &u, 4); return f; }

enum { DT_FLOAT = 1, DT_DOUBLE = 2, DT_INT32 = 3, DT_INT64 = 9 };

/* A TensorProto holding one number: its value in *v. Returns 1, or 0 for any
 * other tensor (strings, several elements, a dtype we do not read). */
static int tensor_scalar(pin t, double *v)
{
    int64_t dtype = 0, numel = 1, nvals = 0;
    double val = 0;
    const unsigned char *content = NULL;
    size_t clen = 0;
    while (t.p < t.end && !t.bad) {
        uint64_t key = in_varint(&t);
        int field = (int)(key >> 3), wt = (int)(key & 7);
        if (field == 1 && wt == WT_VARINT) dtype = (int64_t)in_varint(&t);
        else if (field == 2 && wt == WT_LEN) {
            pin sh = in_sub(&t);
            while (sh.p < sh.end && !sh.bad) {
                uint64_t k2 = in_varint(&sh);
                if ((k2 >> 3) == 2 && (k2 & 7) == WT_LEN) {
                    pin dim = in_sub(&sh);
                    int64_t size = 0;
                    while (dim.p < dim.end && !dim.bad) {
                        uint64_t k3 = in_varint(&dim);
                        if ((k3 >> 3) == 1 && (k3 & 7) == WT_VARINT) size = (int64_t)in_varint(&dim);
                        else in_skip(&dim, (int)(k3 & 7));
                    }
                    numel *= size;
                } else in_skip(&sh, (int)(k2 & 7));
            }
        } else if (field == 4 && wt == WT_LEN) {
            pin c = in_sub(&t);
            content = c.p;
            clen = (size_t)(c.end - c.p);
        } else if ((field == 5 || field == 6 || field == 7 || field == 10) && wt == WT_LEN) {
            pin pk = in_sub(&t);   /* packed */
            while (pk.p < pk.end && !pk.bad) {
                if (field == 5) val = as_float((uint32_t)in_le(&pk, 4));
                else if (field == 6) val = as_double(in_le(&pk, 8));
                else if (field == 7) val = (double)(int32_t)in_varint(&pk);
                else val = (double)(int64_t)in_varint(&pk);
                nvals++;
            }
        } else if (field == 5 && wt == WT_FIXED32) { val = as_float((uint32_t)in_le(&t, 4)); nvals++; }
        else if (field == 6 && wt == WT_FIXED64) { val = as_double(in_le(&t, 8)); nvals++; }
        else if ((field == 7 || field == 10) && wt == WT_VARINT) {
            uint64_t u = in_varint(&t);
            val = field == 7 ? (double)(int32_t)u : (double)(int64_t)u;
            nvals++;
        } else in_skip(&t, wt);
    }
    if (t.bad || numel != 1) return 0;
    size_t esz = dtype == DT_FLOAT || dtype == DT_INT32 ? 4 : dtype == DT_DOUBLE || dtype == DT_INT64 ? 8 : 0;
    if (!esz) return 0;
    if (content) {
        if (clen != esz) return 0;
        pin c = { content, content + clen, 0 };
        uint64_t u = in_le(&c, (int)esz);
        *v = dtype == DT_FLOAT ? as_float((uint32_t)u) : dtype == DT_DOUBLE ? as_double(u)
           : dtype == DT_INT32 ? (double)(int32_t)u : (double)(int64_t)u;
        return 1;
    }
    if (nvals != 1) return 0;   /* (a repeated value fills the shape, but one element needs one) */
    *v = val;
    return 1;
}

typedef ES_VEC(rt_event_value) value_vec;

static void parse_value(pin v, es_arena *a, value_vec *out)
{
    rt_event_value ev = { "", RT_VALUE_OTHER, 0 };
    while (v.p < v.end && !v.bad) {
        uint64_t key = in_varint(&v);
        int field = (int)(key >> 3), wt = (int)(key & 7);
        if (field == 1 && wt == WT_LEN) {
            pin s = in_sub(&v);
            ev.tag = es_strndup(a, (const char *)s.p, (size_t)(s.end - s.p));
        } else if (field == 2 && wt == WT_FIXED32) {
            ev.value = as_float((uint32_t)in_le(&v, 4));
            ev.kind = RT_VALUE_SCALAR;
        } else if (field == 8 && wt == WT_LEN) {
            double d;
            if (tensor_scalar(in_sub(&v), &d)) { ev.value = d; ev.kind = RT_VALUE_SCALAR; }
        } else in_skip(&v, wt);
    }
    if (!v.bad) es_vec_push(a, *out, ev);
}

/* Returns 0, or -1 if the payload is not a well-formed Event. */
static int parse_event(const unsigned char *p, size_t n, es_arena *a, rt_event *e)
{
    memset(e, 0, sizeof *e);
    value_vec vals = { 0 };
    pin in = { p, p + n, 0 };
    while (in.p < in.end && !in.bad) {
        uint64_t key = in_varint(&in);
        int field = (int)(key >> 3), wt = (int)(key & 7);
        if (field == 1 && wt == WT_FIXED64) e->wall_time = as_double(in_le(&in, 8));
        else if (field == 2 && wt == WT_VARINT) e->step = (int64_t)in_varint(&in);
        else if (field == 3 && wt == WT_LEN) {
            pin s = in_sub(&in);
            e->file_version = es_strndup(a, (const char *)s.p, (size_t)(s.end - s.p));
        } else if (field == 5 && wt == WT_LEN) {
            pin sm = in_sub(&in);
            while (sm.p < sm.end && !sm.bad) {
                uint64_t k2 = in_varint(&sm);
                if ((k2 >> 3) == 1 && (k2 & 7) == WT_LEN) parse_value(in_sub(&sm), a, &vals);
                else in_skip(&sm, (int)(k2 & 7));
            }
            if (sm.bad) in.bad = 1;
        } else if (field == 7 && wt == WT_LEN) {
            pin sl = in_sub(&in);
            while (sl.p < sl.end && !sl.bad) {
                uint64_t k2 = in_varint(&sl);
                if ((k2 >> 3) == 1 && (k2 & 7) == WT_VARINT) e->session_status = (int)in_varint(&sl);
                else in_skip(&sl, (int)(k2 & 7));
            }
            if (sl.bad) in.bad = 1;
        } else in_skip(&in, wt);
    }
    e->nvalues = vals.n;
    e->values = vals.v;
    return in.bad ? -1 : 0;
}

int rt_events_read(const char *path, rt_event_fn fn, void *ctx, int *truncated, es_status *st)
{
    if (truncated) *truncated = 0;
    size_t len;
    char *file = es_read_file(path, &len, st);
    if (!file) return -1;
    const unsigned char *b = (const unsigned char *)file;
    size_t off = 0;
    int rc = 0;
    while (off < len) {
        if (len - off < 12) { if (truncated) *truncated = 1; break; }
        uint64_t n = 0;
        for (int i = 0; i < 8; i++) n |= (uint64_t)b[off + i] << (8 * i);
        uint32_t lcrc = (uint32_t)b[off + 8] | (uint32_t)b[off + 9] << 8 | (uint32_t)b[off + 10] << 16 |
                        (uint32_t)b[off + 11] << 24;
        if (rt_crc32c_masked(b + off, 8) != lcrc) {
            rc = es_fail(st, ES_EDATA, "%s: record at byte %zu is damaged (its length CRC does not match)", path, off);
            break;
        }
        if (n > len - off - 12 || len - off - 12 - n < 4) { if (truncated) *truncated = 1; break; }
        const unsigned char *payload = b + off + 12;
        const unsigned char *c = payload + n;
        uint32_t dcrc = (uint32_t)c[0] | (uint32_t)c[1] << 8 | (uint32_t)c[2] << 16 | (uint32_t)c[3] << 24;
        if (rt_crc32c_masked(payload, (size_t)n) != dcrc) {
            rc = es_fail(st, ES_EDATA, "%s: record at byte %zu is damaged (its data CRC does not match)", path, off);
            break;
        }
        es_arena *a = es_arena_new();
        rt_event e;
        if (parse_event(payload, (size_t)n, a, &e) < 0) {
            es_arena_free(a);
            rc = es_fail(st, ES_EDATA, "%s: record at byte %zu is not an Event protobuf", path, off);
            break;
        }
        int r = fn(ctx, &e);
        es_arena_free(a);
        if (r != 0) { rc = r < 0 ? es_fail(st, ES_EINTERNAL, "%s: reading stopped", path) : 0; break; }
        off += 12 + (size_t)n + 4;
    }
    free(file);
    return rc;
}

/* ---- a log directory's scalars ---------------------------------------------------------------- */

typedef struct run_reader {
    rt_scalars *out;
    const char *run;          /* arena string */
    int first;                /* index of the run's first point in out */
    int purge;
    int version;              /* file_version's number (brain.Event:N), 0 before one is seen */
    int64_t recent_step;
    int have_recent;
} run_reader;

static void drop_points(run_reader *r, int64_t from_step, const char *tag)
{
    rt_scalars *s = r->out;
    int k = r->first;
    for (int i = r->first; i < s->n; i++) {
        rt_scalar *p = &s->v[i];
        int drop = p->step >= from_step && (!tag || strcmp(p->tag, tag) == 0);
        if (!drop) s->v[k++] = *p;
    }
    s->n = k;
}

static int on_event(void *ctx, const rt_event *e)
{
    run_reader *r = ctx;
    rt_scalars *s = r->out;
    if (e->file_version) {
        const char *c = strrchr(e->file_version, ':');
        r->version = c ? atoi(c + 1) : 0;
    }
    /* TensorBoard's orphan purging (EventAccumulator._MaybePurgeOrphanedData):
     * with a version 2 file only SessionLog START counts; older files purge a
     * summary's tags when its step goes backwards. */
    if (r->purge) {
        if (r->version >= 2) {
            if (e->session_status == 1) drop_points(r, e->step, NULL);
        } else if (e->nvalues && r->have_recent && e->step < r->recent_step) {
            for (int i = 0; i < e->nvalues; i++) drop_points(r, e->step, e->values[i].tag);
        }
    }
    if (e->nvalues) { r->recent_step = e->step; r->have_recent = 1; }
    for (int i = 0; i < e->nvalues; i++) {
        if (e->values[i].kind != RT_VALUE_SCALAR) continue;
        if (s->n == s->cap) {
            s->cap = s->cap ? s->cap * 2 : 256;
            s->v = es_xrealloc(s->v, (size_t)s->cap * sizeof *s->v);
        }
        rt_scalar *p = &s->v[s->n++];
        p->run = r->run;
        p->tag = es_strdup(s->arena, e->values[i].tag);
        p->step = e->step;
        p->wall_time = e->wall_time;
        p->value = e->values[i].value;
    }
    return 0;
}

static int is_events_file(const char *name) { return strstr(name, "tfevents") != NULL; }

static int by_name(const void *x, const void *y) { return strcmp(*(char *const *)x, *(char *const *)y); }

/* The event files directly in dir, sorted by name (malloc'd). */
static char **list_event_files(const char *dir, int *n)
{
    *n = 0;
    DIR *d = opendir(dir);
    if (!d) return NULL;
    char **v = NULL;
    int cap = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (!is_events_file(e->d_name)) continue;
        size_t pl = strlen(dir) + strlen(e->d_name) + 2;
        char *p = es_xmalloc(pl);
        snprintf(p, pl, "%s/%s", dir, e->d_name);
        struct stat sb;
        if (stat(p, &sb) != 0 || !S_ISREG(sb.st_mode)) { free(p); continue; }
        if (*n == cap) { cap = cap ? cap * 2 : 8; v = es_xrealloc(v, (size_t)cap * sizeof *v); }
        v[(*n)++] = p;
    }
    closedir(d);
    if (*n) qsort(v, (size_t)*n, sizeof *v, by_name);
    return v;
}

static int load_run(rt_scalars *out, const char *run, char **files, int nfiles, int purge, es_status *st)
{
    run_reader r = { out, es_strdup(out->arena, run), out->n, purge, 0, 0, 0 };
    for (int i = 0; i < nfiles; i++) {
        r.version = 0;
        if (rt_events_read(files[i], on_event, &r, NULL, st) < 0) return -1;
        out->nfiles++;
    }
    return 0;
}

static void free_paths(char **v, int n)
{
    for (int i = 0; i < n; i++) free(v[i]);
    free(v);
}

int rt_scalars_load(const char *path, int purge, rt_scalars *out, es_status *st)
{
    memset(out, 0, sizeof *out);
    out->arena = es_arena_new();
    struct stat sb;
    if (stat(path, &sb) != 0) return es_fail(st, ES_EIO, "cannot read %s: %s", path, strerror(errno));
    if (S_ISREG(sb.st_mode)) {
        char *one = (char *)path;
        return load_run(out, ".", &one, 1, purge, st);
    }
    int n;
    char **files = list_event_files(path, &n);
    int rc = load_run(out, ".", files, n, purge, st);
    free_paths(files, n);
    if (rc < 0) return -1;
    /* one level of subdirectories, each a run (model_dir/eval) */
    DIR *d = opendir(path);
    if (!d) return es_fail(st, ES_EIO, "cannot read %s: %s", path, strerror(errno));
    char **subs = NULL;
    int nsub = 0, cap = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.') continue;
        size_t pl = strlen(path) + strlen(e->d_name) + 2;
        char *p = es_xmalloc(pl);
        snprintf(p, pl, "%s/%s", path, e->d_name);
        if (stat(p, &sb) != 0 || !S_ISDIR(sb.st_mode)) { free(p); continue; }
        if (nsub == cap) { cap = cap ? cap * 2 : 8; subs = es_xrealloc(subs, (size_t)cap * sizeof *subs); }
        subs[nsub++] = p;
    }
    closedir(d);
    if (nsub) qsort(subs, (size_t)nsub, sizeof *subs, by_name);
    for (int i = 0; i < nsub && rc == 0; i++) {
        char **sf = list_event_files(subs[i], &n);
        if (n) rc = load_run(out, strrchr(subs[i], '/') + 1, sf, n, purge, st);
        free_paths(sf, n);
    }
    free_paths(subs, nsub);
    if (rc == 0 && out->nfiles == 0)
        rc = es_fail(st, ES_EIO, "no event files (events.out.tfevents.*) in %s or its subdirectories", path);
    return rc;
}

void rt_scalars_free(rt_scalars *s)
{
    free(s->v);
    if (s->arena) es_arena_free(s->arena);
    memset(s, 0, sizeof *s);
}

/*
 * plot.c — scalar curves as one self-contained SVG file, for people without
 * TensorBoard.
 *
 * One panel per tag (the loss first, then in order of first appearance), one line per run in the
 * panel (training "." and "eval" share a panel when both log a tag, as
 * TensorBoard overlays runs), each panel with its own axes: ticks at 1, 2 or
 * 5 times a power of ten, the step on x, the value on y. Non-finite values
 * break a line instead of wrecking the scale. A line of more than
 * PLOT_MAX_POINTS points is thinned by taking every k-th one (keeping the
 * last). No scripts, fonts or external references: the file opens anywhere.
 */
#include "runtime.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

enum { PANEL_W = 480, PANEL_H = 300, MARGIN_L = 70, MARGIN_R = 20, MARGIN_T = 34, MARGIN_B = 46,
       PLOT_MAX_POINTS = 4000 };

static const char *const palette[] = { "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd",
                                       "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf" };

static void xml_text(FILE *out, const char *s)
{
    for (; *s; s++) {
        switch (*s) {
        case '&': fputs("&amp;", out); break;
        case '<': fputs("&lt;", out); break;
        case '>': fputs("&gt;", out); break;
        case '"': fputs("&quot;", out); break;
        default: fputc(*s, out); break;
        }
    }
}

/* A tick spacing of 1, 2 or 5 x 10^k giving about `want` intervals over span. */
static double nice_step(double span, int want)
{
    if (!(span > 0)) return 1;
    double raw = span / want, p = pow(10, floor(log10(raw))), f = raw / p;
    return (f < 1.5 ? 1 : f < 3.5 ? 2 : f < 7.5 ? 5 : 10) * p;
}

typedef struct pt { double x, y; int order; } pt;

static int by_x(const void *a, const void *b)
{
    const pt *p = a, *q = b;
    if (p->x != q->x) return p->x < q->x ? -1 : 1;
    return p->order - q->order;
}

static int index_of(const char **v, int n, const char *s)
{
    for (int i = 0; i < n; i++) if (strcmp(v[i], s) == 0) return i;
    return -1;
}

static void tick_label(char *buf, size_t n, double v, double step)
{
    if (fabs(v) < step * 1e-9) v = 0;
    snprintf(buf, n, "%.6g", v);
}

static void panel(FILE *out, const rt_scalars *s, const char *tag, const char **runs, int nruns,
                  double ox, double oy)
{
    double xmin = INFINITY, xmax = -INFINITY, ymin = INFINITY, ymax = -INFINITY;
    for (int i = 0; i < s->n; i++) {
        const rt_scalar *p = &s->v[i];
        if (strcmp(p->tag, tag) != 0 || !isfinite(p->value)) continue;
        xmin = fmin(xmin, (double)p->step); xmax = fmax(xmax, (double)p->step);
        ymin = fmin(ymin, p->value); ymax = fmax(ymax, p->value);
    }
    fprintf(out, "<g transform=\"translate(%.0f,%.0f)\">\n", ox, oy);
    fprintf(out, "<rect x=\"0.5\" y=\"0.5\" width=\"%d\" height=\"%d\" fill=\"white\" stroke=\"#ccc\"/>\n",
            PANEL_W - 1, PANEL_H - 1);
    fprintf(out, "<text x=\"%d\" y=\"20\" font-size=\"14\" font-weight=\"bold\">", MARGIN_L);
    xml_text(out, tag);
    fputs("</text>\n", out);
    int pw = PANEL_W - MARGIN_L - MARGIN_R, ph = PANEL_H - MARGIN_T - MARGIN_B;
    if (!isfinite(xmin)) {
        fprintf(out, "<text x=\"%d\" y=\"%d\" font-size=\"12\">no finite values</text>\n</g>\n",
                MARGIN_L, MARGIN_T + ph / 2);
        return;
    }
    if (xmax == xmin) { xmin -= 1; xmax += 1; }
    if (ymax == ymin) { double d = fabs(ymin) > 0 ? fabs(ymin) * 0.05 : 1; ymin -= d; ymax += d; }
    double yst = nice_step(ymax - ymin, 5), xst = nice_step(xmax - xmin, 5);
    ymin = floor(ymin / yst) * yst;
    ymax = ceil(ymax / yst) * yst;
#define PX(x) (MARGIN_L + ((x) - xmin) / (xmax - xmin) * pw)
#define PY(y) (MARGIN_T + ph - ((y) - ymin) / (ymax - ymin) * ph)
    /* grid, ticks and labels */
    for (double y = ymin; y <= ymax + yst * 1e-6; y += yst) {
        char lb[32];
        tick_label(lb, sizeof lb, y, yst);
        fprintf(out, "<line x1=\"%d\" y1=\"%.1f\" x2=\"%d\" y2=\"%.1f\" stroke=\"#eee\"/>"
                "<text x=\"%d\" y=\"%.1f\" font-size=\"11\" text-anchor=\"end\">%s</text>\n",
                MARGIN_L, PY(y), MARGIN_L + pw, PY(y), MARGIN_L - 6, PY(y) + 4, lb);
    }
    for (double x = ceil(xmin / xst) * xst; x <= xmax + xst * 1e-6; x += xst) {
        char lb[32];
        tick_label(lb, sizeof lb, x, xst);
        fprintf(out, "<line x1=\"%.1f\" y1=\"%d\" x2=\"%.1f\" y2=\"%d\" stroke=\"#eee\"/>"
                "<text x=\"%.1f\" y=\"%d\" font-size=\"11\" text-anchor=\"middle\">%s</text>\n",
                PX(x), MARGIN_T, PX(x), MARGIN_T + ph, PX(x), MARGIN_T + ph + 16, lb);
    }
    fprintf(out, "<line x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\" stroke=\"black\"/>"
            "<line x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\" stroke=\"black\"/>\n",
            MARGIN_L, MARGIN_T + ph, MARGIN_L + pw, MARGIN_T + ph, MARGIN_L, MARGIN_T, MARGIN_L, MARGIN_T + ph);
    fprintf(out, "<text x=\"%d\" y=\"%d\" font-size=\"12\" text-anchor=\"middle\">step</text>\n",
            MARGIN_L + pw / 2, PANEL_H - 8);
    fprintf(out, "<text x=\"14\" y=\"%d\" font-size=\"12\" text-anchor=\"middle\" "
            "transform=\"rotate(-90 14 %d)\">", MARGIN_T + ph / 2, MARGIN_T + ph / 2);
    xml_text(out, tag);
    fputs("</text>\n", out);
    /* one line per run */
    int legend = 0;
    for (int r = 0; r < nruns; r++) {
        int n = 0;
        for (int i = 0; i < s->n; i++)
            if (!strcmp(s->v[i].tag, tag) && !strcmp(s->v[i].run, runs[r])) n++;
        if (!n) continue;
        pt *v = es_xmalloc((size_t)n * sizeof *v);
        n = 0;
        for (int i = 0; i < s->n; i++)
            if (!strcmp(s->v[i].tag, tag) && !strcmp(s->v[i].run, runs[r]))
                v[n] = (pt){ (double)s->v[i].step, s->v[i].value, n }, n++;
        qsort(v, (size_t)n, sizeof *v, by_x);
        int every = n > PLOT_MAX_POINTS ? (n + PLOT_MAX_POINTS - 1) / PLOT_MAX_POINTS : 1;
        const char *color = palette[r % (int)ES_ARRAY_LEN(palette)];
        int open = 0;
        for (int i = 0; i < n && n > 1; i++) {
            if (i % every && i != n - 1) continue;
            if (!isfinite(v[i].y)) {
                if (open) fputs("\"/>\n", out);
                open = 0;
                continue;
            }
            if (!open)
                fprintf(out, "<polyline fill=\"none\" stroke=\"%s\" stroke-width=\"1.5\" points=\"", color);
            fprintf(out, "%s%.1f,%.1f", open ? " " : "", PX(v[i].x), PY(v[i].y));
            open = 1;
        }
        if (open) fputs("\"/>\n", out);
        if (n == 1 && isfinite(v[0].y))
            fprintf(out, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"3\" fill=\"%s\"/>\n", PX(v[0].x), PY(v[0].y), color);
        fprintf(out, "<rect x=\"%d\" y=\"%d\" width=\"12\" height=\"3\" fill=\"%s\"/>"
                "<text x=\"%d\" y=\"%d\" font-size=\"11\">",
                PANEL_W - MARGIN_R - 110, 12 + 13 * legend, color, PANEL_W - MARGIN_R - 94, 16 + 13 * legend);
        xml_text(out, strcmp(runs[r], ".") == 0 ? "train" : runs[r]);
        fputs("</text>\n", out);
        legend++;
        free(v);
    }
#undef PX
#undef PY
    fputs("</g>\n", out);
}

int rt_plot_svg(const rt_scalars *s, const char *title, FILE *out, es_status *st)
{
    if (s->n == 0) return es_fail(st, ES_EDATA, "no scalar summaries to plot");
    const char **tags = es_xmalloc((size_t)s->n * sizeof *tags), **runs = es_xmalloc((size_t)s->n * sizeof *runs);
    int ntags = 0, nruns = 0;
    for (int i = 0; i < s->n; i++) {
        if (index_of(tags, ntags, s->v[i].tag) < 0) tags[ntags++] = s->v[i].tag;
        if (index_of(runs, nruns, s->v[i].run) < 0) runs[nruns++] = s->v[i].run;
    }
    /* the loss first: it is what one opens the plot for */
    int li = index_of(tags, ntags, "loss");
    if (li > 0) {
        const char *loss = tags[li];
        memmove(tags + 1, tags, (size_t)li * sizeof *tags);
        tags[0] = loss;
    }
    int cols = ntags > 1 ? 2 : 1, rows = (ntags + cols - 1) / cols, head = title ? 36 : 0;
    int W = cols * PANEL_W + (cols + 1) * 10, H = rows * PANEL_H + (rows + 1) * 10 + head;
    fprintf(out, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
            "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" viewBox=\"0 0 %d %d\" "
            "font-family=\"sans-serif\">\n<rect width=\"100%%\" height=\"100%%\" fill=\"#fafafa\"/>\n", W, H, W, H);
    if (title) {
        fputs("<text x=\"10\" y=\"26\" font-size=\"16\" font-weight=\"bold\">", out);
        xml_text(out, title);
        fputs("</text>\n", out);
    }
    for (int t = 0; t < ntags; t++)
        panel(out, s, tags[t], runs, nruns, 10 + (t % cols) * (PANEL_W + 10), head + 10 + (t / cols) * (PANEL_H + 10));
    fputs("</svg>\n", out);
    free(tags);
    free(runs);
    if (fflush(out) != 0 || ferror(out)) return es_fail(st, ES_EIO, "cannot write the plot");
    return 0;
}

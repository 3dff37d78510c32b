/*
 * progress.c — what a training run tells the person watching it.
 *
 * Two audiences: a terminal, where a one-line progress bar (percentage,
 * steps/s, ETA, recent loss) is redrawn in place under the log lines, and a
 * file or pipe, where only whole log lines are written, so logs stay
 * greppable. The caller decides which (isatty) and always goes through
 * rt_progress_log, which lifts the bar out of the way before a line and puts
 * it back after. The bar is redrawn at most ten times a second: a terminal is
 * slower than a training step.
 */
#include "runtime.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

struct rt_progress {
    FILE *out;
    int bar;                  /* draw a bar (out is a terminal) */
    int drawn;                /* a bar is on screen */
    double t0, last;          /* t0: the first update (start-up time is not training speed) */
    int64_t s0;               /* the step at t0 */
    int started;
    char line[256];           /* the bar as last drawn */
};

rt_progress *rt_progress_new(FILE *out, int bar)
{
    rt_progress *p = es_xcalloc(1, sizeof *p);
    p->out = out;
    p->bar = out && bar;
    p->t0 = es_now();
    p->last = -1;
    return p;
}

static void hms(double s, char *buf, size_t n)
{
    if (s < 0 || s > 1e7) { snprintf(buf, n, "?"); return; }
    long t = (long)(s + 0.5);
    if (t >= 3600) snprintf(buf, n, "%ld:%02ld:%02ld", t / 3600, t / 60 % 60, t % 60);
    else snprintf(buf, n, "%ld:%02ld", t / 60, t % 60);
}

static void draw(rt_progress *p)
{
    fprintf(p->out, "\r%s\033[K", p->line);
    fflush(p->out);
    p->drawn = 1;
}

void rt_progress_update(rt_progress *p, int64_t step, int64_t total, double loss)
{
    if (!p || !p->bar) return;
    double now = es_now();
    if (!p->started) { p->started = 1; p->t0 = now; p->s0 = step; }
    if (p->last >= 0 && now - p->last < 0.1) return;
    p->last = now;
    double el = now - p->t0;
    double rate = el > 0 ? (double)(step - p->s0) / el : 0;
    char eta[32] = "?";
    int k = 0;
    if (total > 0) {
        double frac = (double)step / (double)total;
        if (frac > 1) frac = 1;
        int w = 24, fill = (int)(frac * w);
        char bar[32];
        for (int i = 0; i < w; i++) bar[i] = i < fill ? '=' : i == fill ? '>' : ' ';
        bar[w] = 0;
        if (rate > 0) hms((double)(total - step) / rate, eta, sizeof eta);
        k = snprintf(p->line, sizeof p->line, "[%s] %3d%% step %lld/%lld  %.0f steps/s  ETA %s",
                     bar, (int)(frac * 100), (long long)step, (long long)total, rate, eta);
    } else {
        char el_s[32];
        hms(el, el_s, sizeof el_s);
        k = snprintf(p->line, sizeof p->line, "step %lld  %.0f steps/s  elapsed %s",
                     (long long)step, rate, el_s);
    }
    if (k > 0 && (size_t)k < sizeof p->line)
        snprintf(p->line + k, sizeof p->line - (size_t)k, "  loss %.4g", loss);
    draw(p);
}

void rt_progress_log(rt_progress *p, const char *fmt, ...)
{
    if (!p || !p->out) return;
    if (p->drawn) fputs("\r\033[K", p->out);
    va_list ap;
    va_start(ap, fmt);
    vfprintf(p->out, fmt, ap);
    va_end(ap);
    fputc('\n', p->out);
    if (p->drawn) draw(p);
    fflush(p->out);
}

void rt_progress_free(rt_progress *p)
{
    if (!p) return;
    if (p->drawn) { fputs("\r\033[K", p->out); fflush(p->out); }
    free(p);
}

/*
 * test_train_api.c — the training loop through the public API (estc.h).
 *
 * What the command-line scripts cannot see: calling estc_train twice on one
 * model handle continues from the in-memory state and ends bit-identical to
 * one call (and to a fresh process resuming from the model_dir); the stop
 * flag a signal handler would set makes estc_train return ESTC_STOP_SIGNAL
 * after saving; the result fields report what happened; the threads option
 * sets how many threads OpenBLAS runs, and training on two gives the loss of
 * training on one. Uses the census models and data from the source tree, a
 * few hundred steps.
 */
#define _GNU_SOURCE
#include "check.h"
#include "estc/estc.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char tmpdir[64];

static char *slurp(const char *path, size_t *n)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long len = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *b = malloc((size_t)len + 1);
    if (fread(b, 1, (size_t)len, f) != (size_t)len) { free(b); b = NULL; }
    fclose(f);
    *n = (size_t)len;
    return b;
}

static int same_file(const char *a, const char *b)
{
    size_t na, nb;
    char *x = slurp(a, &na), *y = slurp(b, &nb);
    int same = x && y && na == nb && memcmp(x, y, na) == 0;
    free(x);
    free(y);
    return same;
}

/* model (a path under the source tree) into dir, for `steps` more steps or
 * up to max_steps, on `threads` OpenBLAS threads (0: unset) */
static estc_model *open_model_file(const char *model, const char *dir, int64_t steps, int64_t max_steps,
                                   const volatile sig_atomic_t *stop, int threads)
{
    estc_open_options o;
    estc_open_options_init(&o);
    o.model_dir = dir;
    o.steps = steps;
    o.max_steps = max_steps;
    o.save_summary_steps = 0;      /* no event files needed here */
    o.save_checkpoints_steps = 1000;
    o.stop = stop;
    o.seed = 17;
    o.threads = threads;
    o.progress = 0;
    estc_status st;
    estc_model *m = estc_model_open(check_src(model), &o, &st);
    CHECK(m != NULL, "open %s: %s", model, st.message);
    return m;
}

static estc_model *open_model(const char *dir, int64_t steps, int64_t max_steps,
                              const volatile sig_atomic_t *stop)
{
    return open_model_file("examples/census/linear.est", dir, steps, max_steps, stop, 0);
}

static void test_two_calls_one_handle(void)
{
    char one[128], two[128], f1[160], f2[160];
    snprintf(one, sizeof one, "%s/one", tmpdir);
    snprintf(two, sizeof two, "%s/two", tmpdir);
    estc_train_result r;
    estc_status st;

    estc_model *a = open_model(one, 0, 300, NULL);
    if (!a) return;
    CHECK(estc_train(a, NULL, &r, &st) == 0, "train to step 300: %s", st.message);
    CHECK(r.global_step == 300 && r.steps_run == 300 && r.examples == 300 * 64 && r.stop_reason == ESTC_STOP_DONE &&
          r.checkpoint_step == 300, "result: step %lld, %lld run, %lld examples, reason %d, checkpoint %lld",
          (long long)r.global_step, (long long)r.steps_run, (long long)r.examples, r.stop_reason,
          (long long)r.checkpoint_step);
    /* the time after the last step (the final checkpoint) is part of the loop's, and not all of it */
    CHECK(r.final_seconds > 0 && r.final_seconds < r.seconds, "final %g s of %g s", r.final_seconds, r.seconds);
    CHECK(estc_train(a, NULL, &r, &st) == 0 && r.stop_reason == ESTC_STOP_NOTHING && r.steps_run == 0 &&
          r.checkpoint_step == -1, "a second call on a finished run does nothing (reason %d)", r.stop_reason);
    estc_model_free(a);

    /* steps = 100 three times on one handle: the second and third calls continue in memory */
    estc_model *b = open_model(two, 100, 0, NULL);
    if (!b) return;
    for (int i = 1; i <= 3; i++) {
        CHECK(estc_train(b, NULL, &r, &st) == 0 && r.global_step == 100 * i && r.steps_run == 100,
              "call %d: step %lld (%s)", i, (long long)r.global_step, st.message);
    }
    estc_model_free(b);
    snprintf(f1, sizeof f1, "%s/model-300.safetensors", one);
    snprintf(f2, sizeof f2, "%s/model-300.safetensors", two);
    CHECK(same_file(f1, f2), "3 x 100 steps on one handle = 300 steps in one call, byte for byte");
}

int openblas_get_num_threads(void);

/* 20 steps of the census DNN (its products are OpenBLAS's or estc's,
 * codegen/gemm.h; gemm sets ESTC_GEMM) on n threads: the final loss, and
 * OpenBLAS's thread count after opening. */
static double dnn_on_threads(int n, int *blas_threads, const char *gemm)
{
    char dir[128];
    snprintf(dir, sizeof dir, "%s/threads%d%s", tmpdir, n, gemm ? gemm : "");
    if (gemm) setenv("ESTC_GEMM", gemm, 1);
    estc_model *m = open_model_file("examples/census/dnn.est", dir, 20, 0, NULL, n);
    if (!m) return NAN;
    *blas_threads = openblas_get_num_threads();
    estc_status st;
    estc_train_result r;
    double loss = NAN;
    if (estc_train(m, NULL, &r, &st) == 0 && r.steps_run == 20) loss = r.final_loss;
    else CHECK(0, "train the census DNN on %d threads: %s", n, st.message);
    estc_model_free(m);
    unsetenv("ESTC_GEMM");
    return loss;
}

static void test_threads(void)
{
    int t1 = 0, t2 = 0, t3 = 0, t4 = 0;
    double l1 = dnn_on_threads(1, &t1, NULL), l2 = dnn_on_threads(2, &t2, NULL);
    CHECK(t1 == 1 && t2 == 2, "threads = 1 and 2 set OpenBLAS's thread count (it reports %d and %d)", t1, t2);
    CHECK(isfinite(l1) && fabs(l1 - l2) <= 1e-4 * fabs(l1), "the same loss on one and two threads: %.7g, %.7g",
          l1, l2);
    /* estc's own products where the CPU runs them, against OpenBLAS's */
    double le = dnn_on_threads(1, &t3, "estc"), lb = dnn_on_threads(1, &t4, "blas");
    CHECK(isfinite(le) && fabs(le - lb) <= 1e-4 * fabs(lb), "the same loss with ESTC_GEMM=estc and =blas: %.7g, %.7g",
          le, lb);
}

static void test_stop_flag(void)
{
    char dir[128], f[160];
    snprintf(dir, sizeof dir, "%s/stop", tmpdir);
    volatile sig_atomic_t stop = 0;
    estc_model *m = open_model(dir, 50, 0, &stop);
    if (!m) return;
    estc_train_result r;
    estc_status st;
    CHECK(estc_train(m, NULL, &r, &st) == 0 && r.global_step == 50, "50 steps");
    stop = 15;   /* as a SIGTERM handler would */
    CHECK(estc_train(m, NULL, &r, &st) == 0 && r.stop_reason == ESTC_STOP_SIGNAL && r.steps_run == 0 &&
          r.checkpoint_step == -1, "a raised stop flag: no step, nothing to save (reason %d)", r.stop_reason);
    estc_model_free(m);
    snprintf(f, sizeof f, "%s/model-50.safetensors", dir);
    CHECK(access(f, F_OK) == 0, "the checkpoint of the finished call is there");
}

int main(void)
{
    snprintf(tmpdir, sizeof tmpdir, "/tmp/estc_test_train_api_XXXXXX");
    if (!mkdtemp(tmpdir)) { perror("mkdtemp"); return 1; }
    test_two_calls_one_handle();
    test_stop_flag();
    test_threads();
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", tmpdir);
    return check_done("train_api");
}

# `estc export` end to end: train briefly, export a standalone predictor,
# build examples/embed/score.c against it with plain cc, score every row of
# adult.test through it (one row per call, and in batches through a
# workspace, and through the shared library) and hold the result to
# `estc predict --format csv` on every row: the same rows, identical class
# ids, probabilities within 1e-6. The libraries may depend on libc and libm
# only. Models: census linear (binary), relationship (6 classes), DNN
# (matrix products as loops), and a generated model with every feature-column
# kind, column and feature defaults, missing values, unknown categories and
# rows the reader refuses.
. "$(dirname "$0")/testlib.bash"
. "$(dirname "$0")/exportlib.bash"   # CCBIN, compare, check_libs

# run_model LABEL MODEL.est MODEL_DIR [EXPORT FLAGS...]: export (trained
# already), build score.c three ways, compare each with estc predict
run_model() {
    local label=$1 est=$2 md=$3; shift 3
    local w=$SCRATCH/$label
    mkdir -p "$w"
    if ! "$ESTC" export "$est" --model-dir "$md" --out "$w/out" --name census --quiet "$@" 2>"$w/export.err"; then
        fail "$label: estc export failed: $(cat "$w/export.err")"
        return
    fi
    check_libs "$w/out" census
    if ! $CCBIN -std=c11 -Wall -Wextra -Werror -O2 -I "$w/out" examples/embed/score.c "$w/out/libcensus.a" -lm \
            -o "$w/score" 2>"$w/cc.err"; then
        fail "$label: examples/embed/score.c does not build with $CCBIN: $(cat "$w/cc.err")"
        return
    fi
    pass
    $CCBIN -O2 -I "$w/out" examples/embed/score.c -L "$w/out" -lcensus -lm -Wl,-rpath,"$w/out" -o "$w/score_so"
    "$ESTC" predict "$est" --model-dir "$md" --format csv > "$w/jit.csv" 2>"$w/predict.err"
    "$w/score" < "$(data_of "$est")" > "$w/aot.csv" 2>"$w/score.err"
    "$w/score" --batch 300 < "$(data_of "$est")" > "$w/aot_batch.csv" 2>"$w/score_batch.err"
    "$w/score_so" < "$(data_of "$est")" > "$w/aot_so.csv" 2>/dev/null
    compare "$w/aot.csv" "$w/jit.csv" "$label, one row per call"
    compare "$w/aot_batch.csv" "$w/jit.csv" "$label, batches of 300"
    compare "$w/aot_so.csv" "$w/jit.csv" "$label, shared library"
}

data_of() { case $1 in */edge.est) echo "$SCRATCH/edge/test.csv" ;; *) echo examples/census/data/adult.test ;; esac; }

for m in linear relationship dnn; do
    check "train examples/census/$m.est for 300 steps" \
        "$ESTC" train examples/census/$m.est --model-dir "$SCRATCH/model_$m" --steps 300 --quiet
    run_model "$m" examples/census/$m.est "$SCRATCH/model_$m"
done
# a predictor for machines older than this one gives the same predictions
if [ "$(uname -m)" = x86_64 ]; then
    run_model linear_x86-64-v2 examples/census/linear.est "$SCRATCH/model_linear" --cpu x86-64-v2
    check "--cpu x86-64-v2 is recorded in the header" \
        grep -q '#define CENSUS_TARGET_CPU "x86-64-v2"' "$SCRATCH/linear_x86-64-v2/out/census.h"
fi

# the header is valid C++ too
if command -v c++ >/dev/null 2>&1; then
    check "census.h compiles as C++" sh -c "echo '#include \"census.h\"' | c++ -std=c++11 -fsyntax-only -Wall -Werror -x c++ -I '$SCRATCH/linear/out' -"
fi

# ---- every feature-column kind, defaults, missing values, refused rows -------------------
E=$SCRATCH/edge
mkdir -p "$E"
cat > "$E/edge.est" <<'EOF'
source train = csv("train.csv", header = true, missing = "NA", comment = "#", bad_rows = "skip") {
    x: float, n: int = 3, s: string, t: string = "beta", c: string, k: int, y: string
}
source test = csv("test.csv", schema = train, header = true, missing = "NA", comment = "#", bad_rows = "skip")
label y = vocabulary(y, ["a", "b", "c"])
feature xn = numeric(x, normalize = zscore, default = 0.5)
feature xb = bucketized(xn, [-1.5, 0, 0.7, 2.25])
feature nn = numeric(n, normalize = x / 10, default = 6)   # the column default 3 wins
feature nb = bucketized(n, [1, 5])
feature sv = vocabulary(s, ["alpha", "beta", "gamma", "delta", "eps", "gam\"ma"], num_oov_buckets = 3)
feature tv = vocabulary(t, ["alpha", "beta", "gamma"], default_value = 1)
feature ch = hashed(c, 17)
feature ki = identity(k, num_buckets = 5, default_value = 0)
feature sx = crossed([sv, ch, xb], 31)
feature sc = crossed([s, tv], 13)
estimator m = LinearClassifier(features = [xn, xb, nn, nb, sv, tv, ch, ki, sx, sc], n_classes = 3,
                               optimizer = ftrl(learning_rate = 0.5))
run { train_data = train, eval_data = test, batch_size = 16, epochs = 5, seed = 3, model_dir = "model" }
EOF
awk 'BEGIN { srand(7); print "x,n,s,t,c,k,y"
  split("alpha beta gamma delta eps zeta", S, " "); split("alpha beta gamma omega", T, " ")
  for (i = 0; i < 400; i++) {
    x = sprintf("%.3f", rand() * 6 - 3); n = int(rand() * 8); s = S[1 + int(rand() * 6)]
    t = T[1 + int(rand() * 4)]; c = "c" int(rand() * 40); k = int(rand() * 7) - 1
    y = (x > 0.7 ? "a" : (s == "beta" ? "b" : "c")); print x "," n "," s "," t "," c "," k "," y } }' > "$E/train.csv"
# bucket boundaries hit exactly and missed by one ulp (a float field would move
# 0.69999999999999996 across 0.7), column and feature defaults, missing and unknown
# categories, quoting and blanks, and rows the reader refuses (an unusable number,
# a fraction in an int column, a value beyond float range, a short row)
cat > "$E/test.csv" <<'EOF'
x,n,s,t,c,k,y
# a comment line
0.7,1,alpha,alpha,c1,0,a
-1.5,5,beta,beta,c2,4,b
2.25,0,gamma,gamma,c3,5,c
0.69999999999999996,2,delta,omega,c4,-1,a
0.70000000000000007,NA,eps,NA,NA,NA,a

  1.5 , 7 , zeta , alpha , c5 , 2 , b
NA,3,"gam""ma",beta,c6,1,c
,3,unknown,,c7,3,a
-0.3,,,gamma,c8,,b
1e39,2,alpha,alpha,c9,1,a
inf,2,alpha,alpha,c9,1,a
1e400,2,alpha,alpha,c9,1,a
0.1,2.5,alpha,alpha,c9,1,a
0.1,2,alpha,alpha,c9,1.5,a
0.2,2,alpha,alpha,c9
3,4,"beta",  "gamma"  ,"c10",4,c
-2.999,6,DELTA,Gamma,c11,3,b
EOF
check "train the generated model" "$ESTC" train "$E/edge.est" --quiet
run_model edge "$E/edge.est" "$E/model"
check "the generated model's predictions cover the 11 rows estc accepts" test "$(wc -l < "$SCRATCH/edge/jit.csv")" -eq 12
check "score.c reports the 6 refused rows" test "$(wc -l < "$SCRATCH/edge/score.err")" -eq 6
check "the header documents column defaults" grep -q 'int64_t n; .*missing: 3' "$SCRATCH/edge/out/census.h"
check "the header documents string defaults" grep -q "const char \*t; .*missing: \"beta\"" "$SCRATCH/edge/out/census.h"

# The header's contract for values a program passes itself: NULL, "" and the
# source's missing token are all a missing string; NaN and CENSUS_MISSING_INT
# missing numbers; unusable values set error = 1 + column; threads share nothing.
cat > "$E/contract.c" <<'EOF'
#define _POSIX_C_SOURCE 200809L
#include "census.h"
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
static int failed;
static void expect(int ok, const char *what) { if (!ok) { printf("FAIL: %s\n", what); failed = 1; } }
static census_output run(census_input in) { census_output o; memset(&o, 0x5a, sizeof o); census_predict(&in, &o); return o; }
static int same(census_output a, census_output b)
{
    return a.error == b.error && a.class_id == b.class_id && memcmp(a.probabilities, b.probabilities, sizeof a.probabilities) == 0;
}
/* threads: each predicts the same 2000 rows, alternating single rows and
 * batches through its own workspace, while the others do the same */
enum { ROWS = 2000, THREADS = 4 };
static census_input rows_in[ROWS];
static census_output want[ROWS];
static void *worker(void *arg)
{
    (void)arg;
    static const size_t chunk = 37;
    void *ws = malloc(census_workspace_bytes(chunk));
    census_output *got = malloc(sizeof *got * ROWS);
    long bad = 0;
    for (int round = 0; round < 5; round++) {
        for (size_t i = 0; i < ROWS; i += chunk) {
            size_t n = ROWS - i < chunk ? ROWS - i : chunk;
            if (round % 2) census_predict_batch(rows_in + i, got + i, n, ws, census_workspace_bytes(chunk));
            else for (size_t k = i; k < i + n; k++) census_predict(&rows_in[k], &got[k]);
        }
        for (int i = 0; i < ROWS; i++)
            if (got[i].class_id != want[i].class_id || memcmp(got[i].probabilities, want[i].probabilities, sizeof want[i].probabilities)) bad++;
    }
    free(ws);
    free(got);
    return (void *)bad;
}
int main(void)
{
    const census_input base = { .x = 0.3, .n = 2, .s = "alpha", .t = "gamma", .c = "c5", .k = 2 };
    census_input in;
    const char *missing[3] = { NULL, "", "NA" };
    for (int f = 0; f < 3; f++) {
        census_output o[3];
        for (int m = 0; m < 3; m++) {
            in = base;
            const char **field = f == 0 ? &in.s : f == 1 ? &in.t : &in.c;
            *field = missing[m];
            o[m] = run(in);
        }
        expect(same(o[0], o[1]) && same(o[0], o[2]), "NULL, \"\" and \"NA\" are the same missing string");
        expect(!same(o[0], run(base)), "a missing string changes the prediction");
    }
    in = base; in.t = NULL; census_output a = run(in); in.t = "beta";
    expect(same(a, run(in)), "a missing t takes the column default \"beta\"");
    in = base; in.t = "omega"; a = run(in); in.t = "beta";
    expect(same(a, run(in)), "an unknown t takes default_value 1 (\"beta\")");
    in = base; in.x = NAN; a = run(in); in.x = 0.5;
    expect(same(a, run(in)), "a missing x takes the feature default 0.5");
    in = base; in.n = CENSUS_MISSING_INT; a = run(in); in.n = 3;
    expect(same(a, run(in)), "a missing n takes the column default 3, not the feature's 6");
    in = base; in.k = 9; a = run(in); in.k = 0;
    expect(same(a, run(in)), "an identity value out of range takes default_value 0");
    in = base; in.x = INFINITY; a = run(in);
    expect(a.error == 1 && a.class_id == -1 && isnan(a.probabilities[0]), "an infinite x is refused: error = 1 + column 0");
    in = base; in.x = 1e39; a = run(in);
    expect(a.error == 1, "an x beyond float range is refused");
    census_input rows[3] = { base, base, base };
    rows[1].x = INFINITY;
    census_output out[3];
    expect(census_predict_batch(rows, out, 3, NULL, 0) == 1, "a batch counts its refused rows");
    expect(same(out[0], run(base)) && same(out[2], run(base)) && out[1].error == 1, "a refused row leaves the others alone");
    char small[8];
    expect(census_predict_batch(rows, out, 3, small, sizeof small) == -1, "a workspace too small for one row is refused");

    static const char *words[5] = { "alpha", "beta", "omega", "", "gam\"ma" };
    for (int i = 0; i < ROWS; i++) {
        rows_in[i] = base;
        rows_in[i].x = (i % 61) / 10.0 - 3;
        rows_in[i].n = i % 9 == 0 ? CENSUS_MISSING_INT : i % 7;
        rows_in[i].s = words[i % 5];
        rows_in[i].t = words[(i / 5) % 5];
        rows_in[i].k = i % 8 - 1;
        census_predict(&rows_in[i], &want[i]);
    }
    pthread_t th[THREADS];
    for (int t = 0; t < THREADS; t++) pthread_create(&th[t], NULL, worker, NULL);
    long bad = 0;
    for (int t = 0; t < THREADS; t++) { void *r; pthread_join(th[t], &r); bad += (long)r; }
    expect(bad == 0, "four threads at once predict what one thread predicts");
    return failed;
}
EOF
if $CCBIN -std=c11 -Wall -Wextra -Werror -pthread -I "$SCRATCH/edge/out" "$E/contract.c" "$SCRATCH/edge/out/libcensus.a" \
        -lm -o "$E/contract" 2>"$E/contract.err"; then
    out=$("$E/contract")
    check "the header's contract holds${out:+: }$out" test -z "$out"
else
    fail "contract.c does not build: $(cat "$E/contract.err")"
fi

# ---- errors ------------------------------------------------------------------------------
expect_fail "export without a checkpoint" 1 "no checkpoint in .*: run .estc train. first" \
    "$ESTC" export examples/census/linear.est --model-dir "$SCRATCH/empty" --out "$SCRATCH/x"
expect_fail "export needs --out" 2 "missing --out" "$ESTC" export examples/census/linear.est --model-dir "$SCRATCH/model_linear"
expect_fail "a name that is no C identifier" 1 "not usable as a C identifier" \
    "$ESTC" export examples/census/linear.est --model-dir "$SCRATCH/model_linear" --out "$SCRATCH/x" --name 2fast
expect_fail "a C keyword as the name" 1 "not usable as a C identifier" \
    "$ESTC" export examples/census/linear.est --model-dir "$SCRATCH/model_linear" --out "$SCRATCH/x" --name double
if [ "$(uname -m)" = x86_64 ]; then
    expect_fail "an unknown CPU" 1 "'i386-xyz' is not an x86-64 CPU" \
        "$ESTC" export examples/census/linear.est --model-dir "$SCRATCH/model_linear" --out "$SCRATCH/x" --cpu i386-xyz
fi
expect_fail "a C compiler that fails" 1 "linking .*libcensus.so with .false. failed" \
    env CC=false "$ESTC" export examples/census/linear.est --model-dir "$SCRATCH/model_linear" --out "$SCRATCH/x" --name census
check "a failed link leaves no temporary file" sh -c "! ls '$SCRATCH/x' | grep -q tmp"
finish

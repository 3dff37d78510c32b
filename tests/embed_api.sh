# examples/embed/api_score.c end to end: a plain C program built with cc
# against libestc scores every row of adult.test in-process through the C API
# (estc_predictor, rows as text) and must print exactly what `estc predict
# --format csv` prints, one row per call and 500 rows per call, for a binary,
# a 6-class and a regression model; bad rows are reported on stderr with their
# line and column, and the rest still scored.
. "$(dirname "$0")/testlib.bash"
BUILD=$(cd "$(dirname "$ESTC")" && pwd)
SAN=
if ldd "$ESTC" 2>/dev/null | grep -q libasan || ldd "$BUILD/libestc.so" 2>/dev/null | grep -q libasan; then
    SAN="-fsanitize=address,undefined"; export ASAN_OPTIONS=detect_leaks=0
fi
if ! command -v cc >/dev/null 2>&1; then fail "this test needs a C compiler (cc)"; finish; exit; fi
APP=$SCRATCH/api_score
check "api_score builds with plain cc against libestc" \
    cc $SAN -std=c11 -Wall -Wextra -Werror -O2 -I include examples/embed/api_score.c -L "$BUILD" -lestc \
       -Wl,-rpath,"$BUILD" -o "$APP"
T=examples/census/data/adult.test
for m in linear relationship hours; do
    check "train examples/census/$m.est for 200 steps" \
        "$ESTC" train examples/census/$m.est --model-dir "$SCRATCH/model_$m" --steps 200 --quiet
    "$ESTC" predict examples/census/$m.est --model-dir "$SCRATCH/model_$m" --format csv > "$SCRATCH/jit_$m.csv"
    for b in 1 500; do
        "$APP" examples/census/$m.est --model-dir "$SCRATCH/model_$m" --skip 1 --batch $b < $T > "$SCRATCH/api_${m}_$b.csv"
        check "$m, $b row(s) per call: api_score exits 0" test $? -eq 0
        check "$m, $b row(s) per call: the same output as estc predict ($(wc -l < "$SCRATCH/jit_$m.csv") lines)" \
            cmp -s "$SCRATCH/api_${m}_$b.csv" "$SCRATCH/jit_$m.csv"
    done
done

# bad rows: a missing age (no default) and an unparsable one; the rest is scored
sed -n '2,6p' $T > "$SCRATCH/rows.csv"
sed -i '2s/^38,/?,/; 5s/^18,/eighteen,/' "$SCRATCH/rows.csv"
out=$("$APP" examples/census/linear.est --model-dir "$SCRATCH/model_linear" --batch 10 < "$SCRATCH/rows.csv" 2> "$SCRATCH/err")
rc=$?
check "bad rows: exit status 1 (got $rc)" test $rc -eq 1
check "bad rows: the other 3 rows are scored ($(printf '%s\n' "$out" | wc -l) lines with the header)" \
    test "$(printf '%s\n' "$out" | wc -l)" -eq 4
check "bad rows: the first is located: $(cat "$SCRATCH/err")" grep -q "2 row(s) left out; the first: row 1: column age: .*missing" "$SCRATCH/err"
expect_fail "api_score on a model_dir without a checkpoint" 1 "no checkpoint in" \
    "$APP" examples/census/linear.est --model-dir "$SCRATCH/none"
expect_fail "api_score on a broken model file" 2 "cannot open" "$APP" "$SCRATCH/missing.est"
finish

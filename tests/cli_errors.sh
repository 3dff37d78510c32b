# Bad input of every kind gets one clear, located message and a non-zero exit;
# nothing is half-written and nothing crashes.
. "$(dirname "$0")/testlib.bash"
M=examples/census/linear.est
D=examples/census/data

# the command line
expect_fail "no arguments" 2 "usage: estc" "$ESTC"
expect_fail "unknown command" 2 "unknown command 'trian'" "$ESTC" trian $M
expect_fail "unknown option" 2 "unknown option '--bogus'" "$ESTC" train $M --bogus
expect_fail "option without value" 2 "needs a value" "$ESTC" train $M --steps
expect_fail "non-numeric steps" 2 "non-negative integer" "$ESTC" train $M --steps many
expect_fail "no threads" 2 "--threads needs at least 1" "$ESTC" train $M --threads 0
expect_fail "missing model file argument" 2 "missing the model file" "$ESTC" evaluate
expect_fail "bad predict format" 2 "unknown format 'xml'" "$ESTC" predict $M --format xml
check "--help exits 0" "$ESTC" --help
check "train --help exits 0" "$ESTC" train --help

# files
expect_fail "model file that does not exist" 2 "cannot open.*nope.est" "$ESTC" check "$SCRATCH/nope.est"
expect_fail "training data that does not exist" 1 "cannot open $SCRATCH/missing.csv" \
    "$ESTC" train $M --model-dir "$SCRATCH/m0" --data "$SCRATCH/missing.csv"
touch "$SCRATCH/file"
expect_fail "model_dir that cannot be created" 1 "$SCRATCH/file" \
    "$ESTC" train $M --model-dir "$SCRATCH/file/sub" --steps 2
expect_fail "evaluate before any training" 1 "no checkpoint in $SCRATCH/empty" \
    "$ESTC" evaluate $M --model-dir "$SCRATCH/empty"

# malformed rows: wrong field count, unparsable number (located file:line: column NAME)
head -5 $D/adult.data > "$SCRATCH/short.csv"
echo "39, State-gov, 77516, Bachelors, 13" >> "$SCRATCH/short.csv"
expect_fail "a row with too few fields" 1 "short.csv:6: .*15.*5|short.csv:6:.*fields" \
    "$ESTC" train $M --model-dir "$SCRATCH/m1" --data "$SCRATCH/short.csv"
head -3 $D/adult.data > "$SCRATCH/badnum.csv"
echo "thirty, State-gov, 77516, Bachelors, 13, Never-married, Adm-clerical, Not-in-family, White, Male, 2174, 0, 40, United-States, <=50K" >> "$SCRATCH/badnum.csv"
expect_fail "an unparsable number" 1 "badnum.csv:4: column age: .*thirty" \
    "$ESTC" train $M --model-dir "$SCRATCH/m2" --data "$SCRATCH/badnum.csv"
check "a failed training run writes no checkpoint" test -z "$(ls "$SCRATCH/m2" 2>/dev/null | grep safetensors)"
printf '25, Private, 1, 11th, 7, Never-married, Sales, Own-child, Black, Male, 0, 0, 40, United-States, >60K\n' > "$SCRATCH/badlabel.csv"
expect_fail "an unknown label" 1 "badlabel.csv:1: column income_bracket: .*>60K" \
    "$ESTC" train $M --model-dir "$SCRATCH/m3" --data "$SCRATCH/badlabel.csv"
printf '\x00\xff\xfe garbage \x01\n\n,,,\n' > "$SCRATCH/binary.csv"
expect_fail "binary garbage as data" 1 "binary.csv:1" \
    "$ESTC" train $M --model-dir "$SCRATCH/m4" --data "$SCRATCH/binary.csv"

# a model_dir trained by another model is refused, naming what differs
"$ESTC" train examples/census/relationship.est --model-dir "$SCRATCH/other" --steps 3 --quiet || fail "train other"
expect_fail "model_dir of an incompatible model" 1 "different model" \
    "$ESTC" evaluate $M --model-dir "$SCRATCH/other"
expect_fail "training into an incompatible model_dir" 1 "different model" \
    "$ESTC" train $M --model-dir "$SCRATCH/other" --steps 3

# predict --out: a failing run leaves no file behind
"$ESTC" train $M --model-dir "$SCRATCH/lin" --steps 3 --quiet || fail "train lin"
expect_fail "predict with bad data" 1 "badnum.csv:4" \
    "$ESTC" predict $M --model-dir "$SCRATCH/lin" --data "$SCRATCH/badnum.csv" --out "$SCRATCH/p.csv"
check "no half-written prediction file" test ! -e "$SCRATCH/p.csv"

# the model file itself: exit status 2
printf 'source s = csv("x.csv") { a: float\nlabel l = numeric(a)\n' > "$SCRATCH/broken.est"
expect_fail "a broken model file" 2 "broken.est:[0-9]+:[0-9]+: error" "$ESTC" train "$SCRATCH/broken.est"
# the object cache: --no-cache writes nothing, a normal run fills it
ESTC_CACHE_DIR="$SCRATCH/cache" "$ESTC" train $M --model-dir "$SCRATCH/nc" --steps 2 --quiet --no-cache || fail "train --no-cache"
check "--no-cache leaves the cache alone" test ! -e "$SCRATCH/cache"
ESTC_CACHE_DIR="$SCRATCH/cache" "$ESTC" evaluate $M --model-dir "$SCRATCH/nc" --json > /dev/null || fail "evaluate with a cache"
check "a run with the cache stores its compiled program" test -n "$(ls "$SCRATCH/cache" 2>/dev/null)"
finish

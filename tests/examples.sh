# The multi-class and regression examples train and beat their trivial baselines
# on held-out data.
. "$(dirname "$0")/testlib.bash"
T=examples/census/data/adult.test

check "train the multi-class example" "$ESTC" train examples/census/relationship.est --model-dir "$SCRATCH/rel" --quiet
json=$("$ESTC" evaluate examples/census/relationship.est --model-dir "$SCRATCH/rel" --json)
echo "relationship: $json"
acc=$(metric "$json" accuracy)
# majority class share in adult.test, computed from the file itself
base=$(tail -n +2 $T | grep -v '^$' | awk -F', ' '{c[$8]++; n++} END {m = 0; for (k in c) if (c[k] > m) m = c[k]; print m / n}')
check "multi-class accuracy $acc beats the majority share $base by 0.2" awk -v a="$acc" -v b="$base" 'BEGIN { exit !(a >= b + 0.2) }'
check "multi-class reports average_loss" test -n "$(metric "$json" average_loss)"

check "train the regression example" "$ESTC" train examples/census/hours.est --model-dir "$SCRATCH/hours" --quiet
json=$("$ESTC" evaluate examples/census/hours.est --model-dir "$SCRATCH/hours" --json)
echo "hours: $json"
mse=$(metric "$json" average_loss)
var=$(tail -n +2 $T | grep -v '^$' | awk -F', ' '{s += $13; q += $13 * $13; n++} END {m = s / n; print q / n - m * m}')
check "regression mse $mse is under 0.85 x the label variance $var" awk -v a="$mse" -v v="$var" 'BEGIN { exit !(a < 0.85 * v) }'
lm=$(metric "$json" label/mean)
check "regression label/mean $lm matches adult.test's mean hours" \
    awk -v l="$lm" -v m="$(tail -n +2 $T | grep -v '^$' | awk -F', ' '{s += $13; n++} END {print s / n}')" 'BEGIN { d = l - m; exit !(d < 1e-3 && d > -1e-3) }'
finish

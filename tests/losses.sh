# The stdlib's losses in a model function: the huber loss estc reports equals the
# huber loss recomputed here from the predictions and the labels, and the
# model's own metrics (absolute and squared error) agree with the regression
# head's mae and rmse.
. "$(dirname "$0")/testlib.bash"
M=tests/loop/huber_l2.est
check "train a model function with huber + l2" "$ESTC" train $M --model-dir "$SCRATCH/m" --quiet
json=$("$ESTC" evaluate $M --model-dir "$SCRATCH/m" --json)
echo "metrics: $json"
"$ESTC" predict $M --model-dir "$SCRATCH/m" --format csv > "$SCRATCH/pred.csv" || fail "predict"
# huber with delta 5, recomputed from every prediction and label (l2 scale is 0 in the model)
hub=$(grep -v '^$' examples/census/data/adult.data | awk -F', ' '{print $13}' \
      | paste -d, - <(tail -n +2 "$SCRATCH/pred.csv" | cut -d, -f1) \
      | awk -F, '{d = $2 - $1; a = d < 0 ? -d : d; q = a < 5 ? a : 5; s += 0.5 * q * q + 5 * (a - q); n++} END {printf "%.6f", s / n}')
avg=$(metric "$json" average_loss)
check "average_loss $avg equals the huber loss recomputed from the predictions ($hub)" \
    awk -v a="$avg" -v b="$hub" 'BEGIN { d = a - b; exit !(d < 1e-3 * b && d > -1e-3 * b) }'
mae=$(metric "$json" mae); ae=$(metric "$json" abs_error)
check "the custom metric abs_error ($ae) equals mae ($mae)" awk -v a="$ae" -v b="$mae" 'BEGIN { d = a - b; exit !(d < 1e-4 && d > -1e-4) }'
rmse=$(metric "$json" rmse); se=$(metric "$json" sq_error)
check "the custom metric sq_error ($se) equals rmse^2 ($rmse^2)" awk -v a="$se" -v b="$rmse" 'BEGIN { d = a - b * b; exit !(d < 1e-2 && d > -1e-2) }'
check "predict writes the model's own named prediction as a column" test "$(head -1 "$SCRATCH/pred.csv")" = "predictions,doubled"
check "the named prediction holds its values (doubled = 2 x predictions on every row)" \
    awk -F, 'NR > 1 { d = $2 - 2 * $1; if (d > 1e-4 * ($2 < 0 ? -$2 : $2) + 1e-5 || -d > 1e-4 * ($2 < 0 ? -$2 : $2) + 1e-5) bad++ } END { exit !(NR > 30000 && bad == 0) }' "$SCRATCH/pred.csv"
"$ESTC" predict $M --model-dir "$SCRATCH/m" --format jsonl | head -3 > "$SCRATCH/pred.jsonl"
check "jsonl predictions carry the named prediction" grep -q '^{"predictions":\[[-0-9.e]*\],"doubled":\[[-0-9.e]*\]}$' "$SCRATCH/pred.jsonl"
var=$(grep -v '^$' examples/census/data/adult.data | awk -F', ' '{s += $13; q += $13 * $13; n++} END {m = s / n; print q / n - m * m}')
check "the model learned: squared error $se under 0.95 x the label variance $var" awk -v a="$se" -v v="$var" 'BEGIN { exit !(a < 0.95 * v) }'
finish

# The acceptance run of the census linear model: train with the example's own
# settings, evaluate on the held-out adult.test, predict every test row.
. "$(dirname "$0")/testlib.bash"
MD=$SCRATCH/model
check "train the census linear model" "$ESTC" train examples/census/linear.est --model-dir "$MD" --quiet
json=$("$ESTC" evaluate examples/census/linear.est --model-dir "$MD" --data examples/census/data/adult.test --json)
echo "adult.test metrics: $json"
acc=$(metric "$json" accuracy); auc=$(metric "$json" auc)
check "accuracy $acc >= 0.840 on adult.test" ge "$acc" 0.840
check "auc $auc >= 0.88 on adult.test" ge "$auc" 0.88
for k in accuracy accuracy_baseline auc auc_precision_recall precision recall \
         prediction/mean label/mean average_loss loss global_step; do
    check "metric $k is reported" test -n "$(metric "$json" "$k")"
done
check "label/mean is the positive rate of adult.test (3846/16281)" \
    awk -v v="$(metric "$json" label/mean)" 'BEGIN { exit !(v > 0.2362 && v < 0.2363) }'
"$ESTC" predict examples/census/linear.est --model-dir "$MD" --format csv --out "$SCRATCH/pred.csv"
check "predict writes a header and one row per test example" test "$(wc -l < "$SCRATCH/pred.csv")" -eq 16282
# predicted classes agree with the evaluation's accuracy: count matches with the labels
correct=$(tail -n +2 examples/census/data/adult.test | grep -v '^$' | awk -F', ' '{print ($15 ~ />50K/) ? 1 : 0}' \
          | paste -d, - <(tail -n +2 "$SCRATCH/pred.csv" | cut -d, -f1) | awk -F, '$1 == $2' | wc -l)
check "predictions reproduce the evaluated accuracy" \
    awk -v c="$correct" -v a="$acc" 'BEGIN { d = c / 16281 - a; exit !(d < 1e-9 && d > -1e-9) }'
"$ESTC" predict examples/census/linear.est --model-dir "$MD" --format jsonl > "$SCRATCH/pred.jsonl"
check "jsonl predictions have class_ids, probabilities and logits" \
    grep -q '^{"class_ids":\[[01]\],"classes":\["[<>=50K]*"\],"probabilities":\[[-0-9.e]*,[-0-9.e]*\],"logits":\[[-0-9.e]*\]}$' "$SCRATCH/pred.jsonl"
finish

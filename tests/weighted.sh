# weight_column weights every evaluation metric, as TensorFlow's heads do: the
# census linear model weighted by the census sampling weight (fnlwgt), its
# weighted accuracy, label/mean, prediction/mean, precision and recall
# recomputed here from its predictions, the labels and the weights.
. "$(dirname "$0")/testlib.bash"
M=tests/loop/weighted.est
T=examples/census/data/adult.test
check "train with a weight_column" "$ESTC" train $M --model-dir "$SCRATCH/m" --quiet
json=$("$ESTC" evaluate $M --model-dir "$SCRATCH/m" --json)
echo "weighted metrics: $json"
"$ESTC" predict $M --model-dir "$SCRATCH/m" --format csv > "$SCRATCH/pred.csv" || fail "predict"
# weight, label, predicted class, probability of class 1 — one line per test row
tail -n +2 $T | grep -v '^$' | awk -F', ' '{print $3 / 100000 "," ($15 ~ />50K/ ? 1 : 0)}' \
    | paste -d, - <(tail -n +2 "$SCRATCH/pred.csv" | awk -F, '{split($3, p, ";"); print $1 "," p[2]}') > "$SCRATCH/rows.csv"
read -r acc lm pm prec rec < <(awk -F, '{w = $1; y = $2; c = $3; p = $4; W += w; if (c == y) A += w; L += w * y; P += w * p;
    if (c == 1 && y == 1) tp += w; if (c == 1 && y == 0) fp += w; if (c == 0 && y == 1) fn += w}
    END {printf "%.9f %.9f %.9f %.9f %.9f\n", A / W, L / W, P / W, tp / (tp + fp), tp / (tp + fn)}' "$SCRATCH/rows.csv")
close() { awk -v a="$1" -v b="$2" 'BEGIN { d = a - b; exit !(d < 1e-5 && d > -1e-5) }'; }
for pair in "accuracy $acc" "label/mean $lm" "prediction/mean $pm" "precision $prec" "recall $rec"; do
    set -- $pair
    got=$(metric "$json" "$1")
    check "weighted $1 $got equals the recomputed $2" close "$got" "$2"
done
# and the weighting matters: the unweighted label mean of adult.test differs
check "weighted label/mean differs from the unweighted one (3846/16281)" \
    awk -v v="$lm" 'BEGIN { d = v - 3846 / 16281; exit !(d > 1e-6 || d < -1e-6) }'
finish

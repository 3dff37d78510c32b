# census_models.sh — the acceptance runs of the census DNN and wide & deep
# examples: each trained with three seeds (the run block's seed, so shuffling,
# initial values and dropout masks all change) and evaluated on the held-out
# adult.test; the means must reach
#   wide & deep: accuracy >= 0.855 and auc >= 0.905;   DNN: accuracy >= 0.850.
# Under AddressSanitizer (or with ESTC_QUICK=1) a full run would take many
# minutes: each model then trains one seed for 300 steps and must only beat
# the majority class (accuracy_baseline 0.764) and report its metrics.
. "$(dirname "$0")/testlib.bash"
quick=${ESTC_QUICK:-0}
if ldd "$ESTC" 2>/dev/null | grep -q libasan; then quick=1; fi
seeds="1 2 3"
[ "$quick" = 1 ] && seeds=1

run_model() {   # run_model NAME MIN_ACC MIN_AUC
    local name=$1 min_acc=$2 min_auc=$3 accs="" aucs=""
    for s in $seeds; do
        # a copy of the example with its data paths made absolute and its own seed
        sed -e "s|\"data/|\"$SRC/examples/census/data/|g" -e "s/seed = 42/seed = $s/" \
            "examples/census/$name.est" > "$SCRATCH/${name}_$s.est"
        local extra=""
        [ "$quick" = 1 ] && extra="--steps 300"
        if ! "$ESTC" train "$SCRATCH/${name}_$s.est" --model-dir "$SCRATCH/m_${name}_$s" $extra --quiet \
                > "$SCRATCH/${name}_$s.log" 2>&1; then
            fail "$name seed $s: training failed"; cat "$SCRATCH/${name}_$s.log" >&2; continue
        fi
        local json
        json=$("$ESTC" evaluate "$SCRATCH/${name}_$s.est" --model-dir "$SCRATCH/m_${name}_$s" --json)
        echo "$name seed $s on adult.test: $json"
        accs="$accs $(metric "$json" accuracy)"
        aucs="$aucs $(metric "$json" auc)"
    done
    local acc auc
    acc=$(echo $accs | awk '{ for (i = 1; i <= NF; i++) s += $i; if (NF) printf "%.4f", s / NF }')
    auc=$(echo $aucs | awk '{ for (i = 1; i <= NF; i++) s += $i; if (NF) printf "%.4f", s / NF }')
    echo "$name: mean accuracy $acc, mean auc $auc over seeds $seeds"
    if [ "$quick" = 1 ]; then
        check "$name learns: accuracy $acc > 0.80" ge "$acc" 0.80
    else
        check "$name: mean accuracy $acc >= $min_acc" ge "$acc" "$min_acc"
        [ -n "$min_auc" ] && check "$name: mean auc $auc >= $min_auc" ge "$auc" "$min_auc"
    fi
}

run_model dnn 0.850 ""
run_model wide_deep 0.855 0.905
finish

#!/usr/bin/env bash
# B2: training the census DNN (bench/models/census_dnn_b2.est: the features of
# examples/census/dnn.est, hidden units 256-128-64, batch 256, ReLU, Adagrad
# 0.05) against the same network in PyTorch, 10 epochs of adult.data, one
# thread each, RUNS repetitions interleaved; medians and ratios.
#
#   bash bench/census_dnn.sh [RUNS]        (default 3; run from the repo root)
#
# Rows: `estc train` as it prints its speed (CSV parsed in epoch 1, then cached) and the
# same compiled step over the examples held in memory (bench/train_loop.c);
# PyTorch on estc's own encoded examples held in memory as tensors.
# Accuracy and AUC on adult.test after the same epochs.
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/common.sh
RUNS=${1:-3}
EPOCHS=10
BATCH=256
LR=0.05
MODEL=bench/models/census_dnn_b2.est
bench_deps
bench_build
W=build/bench/b2
rm -rf "$W" && mkdir -p "$W"
build/estc-bench-loop --dump "$W/data" "$MODEL"
bench_warm "$MODEL"

train=(); wall=(); comp=(); torch=()
for i in $(seq "$RUNS"); do
    rm -rf "$W/m"
    t0=$(date +%s.%N)
    out=$(build/estc train "$MODEL" --model-dir "$W/m" --epochs $EPOCHS 2>&1 | grep '^trained')
    t1=$(date +%s.%N)
    train+=("$(echo "$out" | sed -E 's/.*: ([0-9]+) examples\/s.*/\1/')")
    wall+=("$(echo "$t1 - $t0" | bc)")
    read -r eps _ <<< "$(build/estc-bench-loop "$MODEL" $EPOCHS)"
    comp+=("$eps")
    read -r secs n tacc tauc <<< "$($PY bench/census_dnn_torch.py "$W/data" $EPOCHS $BATCH $LR 256,128,64 occupation,country)"
    torch+=("$(echo "$n / $secs" | bc)")
done
json=$(build/estc evaluate "$MODEL" --model-dir "$W/m" --json)
eacc=$(json_field "$json" accuracy); eauc=$(json_field "$json" auc)
mt=$(median "${train[@]}"); mw=$(median "${wall[@]}"); mc=$(median "${comp[@]}"); mp=$(median "${torch[@]}")

echo
echo "B2 census DNN 256-128-64: $EPOCHS epochs of adult.data (32,561 rows), batch $BATCH, Adagrad $LR, median of $RUNS runs, 1 thread"
bench_versions
printf '| %-46s | %12s | %8s | %6s |\n' "" "examples/s" "accuracy" "auc"
printf '|%s|%s|%s|%s|\n' "---" "---:" "---:" "---:"
printf '| %-46s | %12.0f | %8.4f | %6.4f |\n' "estc train (CSV, cache = true)" "$mt" "$eacc" "$eauc"
printf '| %-46s | %12.0f | %8s | %6s |\n' "estc compute (same step, examples in memory)" "$mc" "same" "same"
printf '| %-46s | %12.0f | %8.4f | %6.4f |\n' "PyTorch (same network, Adagrad)" "$mp" "$tacc" "$tauc"
echo
printf 'estc compute / PyTorch: %.2fx   estc train / PyTorch: %.2fx\n' "$(echo "$mc / $mp" | bc -l)" "$(echo "$mt / $mp" | bc -l)"
printf 'whole `estc train` command (compile, statistics, %d epochs from the CSV, save): median %.2f s\n' "$EPOCHS" "$mw"

#!/usr/bin/env bash
# B1: training the census linear model (the features of
# examples/census/linear.est, with Adagrad so every side runs the same
# optimizer: bench/models/census_linear_b1.est), 10 epochs of adult.data,
# batch 64, one thread each, RUNS repetitions interleaved; medians and ratios.
#
#   bash bench/census_linear.sh [RUNS]        (default 3; run from the repo root)
#
# Rows:
#   estc train            the figure `estc train` prints: its steps over the
#                         cached examples (cache = true: a fresh model reads the
#                         CSV once, before the loop, for its zscore/minmax statistics
#                         and the cache together); the final checkpoint after the
#                         last step is counted in the whole command's row
#   estc train, whole     the examples over the whole command's wall time (start,
#                         compile, reading the CSV, 10 epochs, save)
#   estc compute          the same compiled train step over the same examples
#                         held in memory (bench/train_loop.c): the kernels alone
#   PyTorch               nn.EmbeddingBag + nn.Linear, Adagrad, on estc's own
#                         encoded ids held in memory as tensors
#   scikit-learn          SGDClassifier(log_loss) on the equivalent one-hot
#                         sparse matrix in memory
# Accuracy and AUC on adult.test: estc through `estc evaluate`, the peers on the
# same test rows encoded by estc.
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/common.sh
RUNS=${1:-3}
EPOCHS=10
BATCH=64
LR=0.1
MODEL=bench/models/census_linear_b1.est
bench_deps
bench_build
W=build/bench/b1
rm -rf "$W" && mkdir -p "$W"
build/estc-bench-loop --dump "$W/data" "$MODEL"
bench_warm "$MODEL"

train=(); wall=(); comp=(); torch=(); sk=()
for i in $(seq "$RUNS"); do
    rm -rf "$W/m"
    t0=$(date +%s.%N)
    out=$(build/estc train "$MODEL" --model-dir "$W/m" --epochs $EPOCHS 2>&1 | grep '^trained')
    t1=$(date +%s.%N)
    train+=("$(echo "$out" | sed -E 's/.*: ([0-9]+) examples\/s.*/\1/')")
    wall+=("$(echo "$t1 - $t0" | bc)")
    read -r eps _ <<< "$(build/estc-bench-loop "$MODEL" $EPOCHS)"
    comp+=("$eps")
    read -r secs n tacc tauc <<< "$($PY bench/census_linear_torch.py "$W/data" $EPOCHS $BATCH $LR)"
    torch+=("$(echo "$n / $secs" | bc)")
    read -r secs n sacc sauc <<< "$($PY bench/census_linear.py "$W/data" $EPOCHS)"
    sk+=("$(echo "$n / $secs" | bc)")
done
json=$(build/estc evaluate "$MODEL" --model-dir "$W/m" --json)
eacc=$(json_field "$json" accuracy); eauc=$(json_field "$json" auc)
mt=$(median "${train[@]}"); mw=$(median "${wall[@]}"); mc=$(median "${comp[@]}")
mp=$(median "${torch[@]}"); ms=$(median "${sk[@]}")

echo
echo "B1 census linear: $EPOCHS epochs of adult.data (32,561 rows), batch $BATCH, Adagrad $LR, median of $RUNS runs, 1 thread"
bench_versions
printf '| %-46s | %12s | %8s | %6s |\n' "" "examples/s" "accuracy" "auc"
printf '|%s|%s|%s|%s|\n' "---" "---:" "---:" "---:"
printf '| %-46s | %12.0f | %8.4f | %6.4f |\n' "estc train (CSV, cache = true)" "$mt" "$eacc" "$eauc"
mwe=$(echo "$EPOCHS * 32561 / $mw" | bc)
printf '| %-46s | %12.0f | %8s | %6s |\n' "estc train, whole command (examples / wall)" "$mwe" "same" "same"
printf '| %-46s | %12.0f | %8s | %6s |\n' "estc compute (same step, examples in memory)" "$mc" "same" "same"
printf '| %-46s | %12.0f | %8.4f | %6.4f |\n' "PyTorch EmbeddingBag + Adagrad" "$mp" "$tacc" "$tauc"
printf '| %-46s | %12.0f | %8.4f | %6.4f |\n' "scikit-learn SGDClassifier (one-hot, log loss)" "$ms" "$sacc" "$sauc"
echo
printf 'estc compute / PyTorch: %.1fx   estc compute / scikit-learn: %.2fx\n' \
    "$(echo "$mc / $mp" | bc -l)" "$(echo "$mc / $ms" | bc -l)"
printf 'estc train / PyTorch: %.1fx   estc train / scikit-learn: %.2fx\n' \
    "$(echo "$mt / $mp" | bc -l)" "$(echo "$mt / $ms" | bc -l)"
printf 'estc train, whole command / scikit-learn: %.2fx\n' "$(echo "$mwe / $ms" | bc -l)"
printf 'whole `estc train` command (compile, statistics, %d epochs from the CSV, save): median %.2f s\n' "$EPOCHS" "$mw"

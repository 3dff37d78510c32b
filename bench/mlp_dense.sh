#!/usr/bin/env bash
# B3: a GEMM-bound MLP, 512-1024-1024-10 on synthetic dense data (512 float
# features, 10 classes; bench/gen_dense.py writes the CSV and the model under
# build/bench/b3), batch 512, Adagrad 0.05, one thread. estc against PyTorch
# and against OpenBLAS sgemm alone on the same matrix products (the ceiling:
# the faster of OpenBLAS zeroing each product itself, beta = 0, and memset
# then beta = 1 as estc calls it; bench/sgemm_ceiling.c), RUNS repetitions
# interleaved; medians, ratios and achieved GFLOP/s.
#
#   bash bench/mlp_dense.sh [RUNS [EPOCHS]]     (default 3 runs of 2 epochs; from the repo root)
#
# GFLOP/s counts 2*m*n*k for each matrix product of a step: the forward one
# and both backward ones (dW and dX) of every layer, except dX of the first
# layer, whose input needs no gradient (neither side computes it).
# `estc train` parses the 63 MB CSV every epoch, which weighs on its figure;
# `estc compute` is the same compiled step over the examples held in memory.
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/common.sh
RUNS=${1:-3}
EPOCHS=${2:-2}
ROWS=16384
BATCH=512
LR=0.05
W=build/bench/b3
bench_deps
bench_build
rm -rf "$W" && mkdir -p "$W"
$PY bench/gen_dense.py "$W" $ROWS 512 10 $BATCH 1024,1024
MODEL=$W/mlp.est
build/estc-bench-loop --dump "$W/data" "$MODEL"
bench_warm "$MODEL"

train=(); wall=(); comp=(); torch=(); gemm=()
for i in $(seq "$RUNS"); do
    rm -rf "$W/model"
    t0=$(date +%s.%N)
    out=$(build/estc train "$MODEL" --epochs "$EPOCHS" 2>&1 | grep '^trained')
    t1=$(date +%s.%N)
    train+=("$(echo "$out" | sed -E 's/.*: ([0-9]+) examples\/s.*/\1/')")
    wall+=("$(echo "$t1 - $t0" | bc)")
    read -r eps _ <<< "$(build/estc-bench-loop "$MODEL" "$EPOCHS")"
    comp+=("$eps")
    read -r secs n tacc <<< "$($PY bench/mlp_dense_torch.py "$W/data" "$EPOCHS" $BATCH $LR 1024,1024)"
    torch+=("$(echo "$n / $secs" | bc)")
    read -r gf _ flops _ <<< "$(build/estc-bench-sgemm $BATCH 512 1024 1024 10 x50)"
    gemm+=("$gf")
done
json=$(build/estc evaluate "$MODEL" --json)
eacc=$(json_field "$json" accuracy)
fpe=$(echo "$flops / $BATCH" | bc -l)
mt=$(median "${train[@]}"); mw=$(median "${wall[@]}"); mc=$(median "${comp[@]}"); mp=$(median "${torch[@]}")
mg=$(median "${gemm[@]}")
gf() { echo "$1 * $fpe / 1000000000" | bc -l; }

echo
echo "B3 MLP 512-1024-1024-10: $EPOCHS epochs of $ROWS synthetic rows, batch $BATCH, Adagrad $LR, median of $RUNS runs, 1 thread"
echo "$(printf '%.0f' "$fpe") flops per example (forward, dW, dX)"
bench_versions
printf '| %-44s | %10s | %8s | %8s |\n' "" "examples/s" "GFLOP/s" "accuracy"
printf '|%s|%s|%s|%s|\n' "---" "---:" "---:" "---:"
printf '| %-44s | %10.0f | %8.1f | %8.4f |\n' "estc train (CSV, cache = true)" "$mt" "$(gf "$mt")" "$eacc"
printf '| %-44s | %10.0f | %8.1f | %8s |\n' "estc compute (same step, examples in memory)" "$mc" "$(gf "$mc")" "same"
printf '| %-44s | %10.0f | %8.1f | %8.4f |\n' "PyTorch (same network, Adagrad)" "$mp" "$(gf "$mp")" "$tacc"
printf '| %-44s | %10.0f | %8.1f | %8s |\n' "OpenBLAS sgemm alone, same products" "$(echo "$mg / $fpe * 1000000000" | bc -l)" "$mg" "-"
echo
printf 'estc compute / PyTorch: %.2fx   estc compute / sgemm ceiling: %.0f%%   estc train / PyTorch: %.2fx\n' \
    "$(echo "$mc / $mp" | bc -l)" "$(echo "100 * $(gf "$mc") / $mg" | bc -l)" "$(echo "$mt / $mp" | bc -l)"
printf 'whole `estc train` command (compile, %d epochs from the CSV, save): median %.2f s\n' "$EPOCHS" "$mw"

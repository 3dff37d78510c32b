#!/usr/bin/env bash
# B3: a GEMM-bound MLP, 512-1024-1024-10 on synthetic dense data (512 float
# features, 10 classes; bench/gen_dense.py writes the CSV and the model under
# build/bench/b3), batch 512, Adagrad 0.05, on one thread and on two. estc
# against PyTorch and against OpenBLAS sgemm alone on the same matrix
# products (the ceiling: the faster of OpenBLAS zeroing each product itself,
# beta = 0, and memset then beta = 1 as estc calls it; bench/sgemm_ceiling.c),
# RUNS repetitions interleaved; medians, ratios and achieved GFLOP/s.
#
#   bash bench/mlp_dense.sh [RUNS [EPOCHS]]     (default 3 runs of 2 epochs; from the repo root)
#   B3_THREADS="1 2" (the default) chooses the thread counts measured
#
# GFLOP/s counts 2*m*n*k for each matrix product of a step: the forward one
# and both backward ones (dW and dX) of every layer, except dX of the first
# layer, whose input needs no gradient (neither side computes it).
# `estc train` parses the 63 MB CSV every epoch, which weighs on its figure;
# `estc compute` is the same compiled step over the examples held in memory.
#
# Threads: estc runs with `threads = N` (its run setting: OpenBLAS's thread
# count; the rest of the step stays on one thread). PyTorch has two thread
# pools, its own (torch.set_num_threads) and OpenBLAS's, which runs its
# matrix products: at N = 1 both are 1; at N = 2 every split of the two cores
# is run (1 + 2, 2 + 1, 2 + 2) and PyTorch's figure is the best of their
# medians. The sgemm ceiling runs on N OpenBLAS threads. Where estc's own
# product takes the products (codegen/gemm.h: an AVX-512 CPU whose OpenBLAS
# runs narrower kernels), its speed alone on the same products, on N threads,
# is printed too, and the ceiling estc is held to is the faster of the two.
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

for T in ${B3_THREADS:-1 2}; do
# the model with its run block's threads = T, for estc-bench-loop
sed "s/model_dir = \"model\" }/model_dir = \"model\", threads = $T }/" "$MODEL" > "$W/mlp_t$T.est"
grep -q "threads = $T" "$W/mlp_t$T.est" || { echo "mlp_dense.sh: cannot set threads in $MODEL" >&2; exit 1; }
if [ "$T" = 1 ]; then CONFIGS="1:1"; else CONFIGS="1:$T $T:1 $T:$T"; fi
train=(); wall=(); comp=(); gemm=(); egemm=()
declare -A torch=() tacc_of=()
for i in $(seq "$RUNS"); do
    rm -rf "$W/model"
    t0=$(date +%s.%N)
    out=$(build/estc train "$MODEL" --epochs "$EPOCHS" --threads "$T" 2>&1 | grep '^trained')
    t1=$(date +%s.%N)
    train+=("$(echo "$out" | sed -E 's/.*: ([0-9]+) examples\/s.*/\1/')")
    wall+=("$(echo "$t1 - $t0" | bc)")
    read -r eps _ <<< "$(build/estc-bench-loop "$W/mlp_t$T.est" "$EPOCHS")"
    comp+=("$eps")
    for c in $CONFIGS; do
        read -r secs n tacc <<< "$(B3_TORCH_THREADS=${c%:*} OPENBLAS_NUM_THREADS=${c#*:} OMP_NUM_THREADS=${c%:*} \
            $PY bench/mlp_dense_torch.py "$W/data" "$EPOCHS" $BATCH $LR 1024,1024)"
        torch[$c]+="$(echo "$n / $secs" | bc) "
        tacc_of[$c]=$tacc
    done
    read -r gf _ flops _ _ egf <<< "$(OPENBLAS_NUM_THREADS=$T build/estc-bench-sgemm $BATCH 512 1024 1024 10 x50)"
    gemm+=("$gf"); egemm+=("$egf")
done
json=$(build/estc evaluate "$MODEL" --json)
eacc=$(json_field "$json" accuracy)
fpe=$(echo "$flops / $BATCH" | bc -l)
mt=$(median "${train[@]}"); mw=$(median "${wall[@]}"); mc=$(median "${comp[@]}")
mp=0; best=""
for c in $CONFIGS; do
    # shellcheck disable=SC2086
    m=$(median ${torch[$c]})
    echo "PyTorch with ${c%:*} torch and ${c#*:} OpenBLAS thread(s): median $m examples/s (runs: ${torch[$c]})"
    if [ "$(echo "$m > $mp" | bc)" = 1 ]; then mp=$m; best=$c; tacc=${tacc_of[$c]}; fi
done
mg=$(median "${gemm[@]}"); meg=$(median "${egemm[@]}")
# is estc's own product the one the step runs? (chosen as the estc command chooses)
own=0
if [ "$(echo "$meg > 0" | bc)" = 1 ] && [ "${ESTC_GEMM:-}" != blas ] \
   && ! OPENBLAS_VERBOSE=2 OPENBLAS_NUM_THREADS=1 build/estc-bench-sgemm 8 16 16 x1 2>&1 | grep -qiE 'skylakex|cooperlake|sapphirerapids'; then
    own=1
fi
ceil=$mg
[ "$own" = 1 ] && [ "$(echo "$meg > $mg" | bc)" = 1 ] && ceil=$meg
gf() { echo "$1 * $fpe / 1000000000" | bc -l; }

echo
echo "B3 MLP 512-1024-1024-10: $EPOCHS epochs of $ROWS synthetic rows, batch $BATCH, Adagrad $LR, median of $RUNS runs, $T thread(s)"
echo "$(printf '%.0f' "$fpe") flops per example (forward, dW, dX)"
bench_versions
printf '| %-44s | %10s | %8s | %8s |\n' "" "examples/s" "GFLOP/s" "accuracy"
printf '|%s|%s|%s|%s|\n' "---" "---:" "---:" "---:"
printf '| %-44s | %10.0f | %8.1f | %8.4f |\n' "estc train (CSV, cache = true)" "$mt" "$(gf "$mt")" "$eacc"
printf '| %-44s | %10.0f | %8.1f | %8s |\n' "estc compute (same step, examples in memory)" "$mc" "$(gf "$mc")" "same"
printf '| %-44s | %10.0f | %8.1f | %8.4f |\n' "PyTorch ($best: torch:OpenBLAS threads)" "$mp" "$(gf "$mp")" "$tacc"
printf '| %-44s | %10.0f | %8.1f | %8s |\n' "OpenBLAS sgemm alone, same products" "$(echo "$mg / $fpe * 1000000000" | bc -l)" "$mg" "-"
[ "$own" = 1 ] && printf '| %-44s | %10.0f | %8.1f | %8s |\n' "estc's own product alone, same products" "$(echo "$meg / $fpe * 1000000000" | bc -l)" "$meg" "-"
echo
printf '%d thread(s): estc compute / PyTorch: %.2fx   estc compute / sgemm ceiling: %.0f%%   estc train / PyTorch: %.2fx\n' \
    "$T" "$(echo "$mc / $mp" | bc -l)" "$(echo "100 * $(gf "$mc") / $ceil" | bc -l)" "$(echo "$mt / $mp" | bc -l)"
printf 'whole `estc train` command (compile, %d epochs from the CSV, save): median %.2f s\n' "$EPOCHS" "$mw"
echo
unset torch tacc_of egemm
done

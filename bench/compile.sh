#!/usr/bin/env bash
# B5: compile time. For every example model, the time from the .est file to
# ready kernels for all three programs (`estc compile`: parse, check, lower,
# graph passes, LLVM, JIT link), cold (an empty object cache) and cached (the
# same command again), as the whole process (start-up included) and as estc
# measures it in-process; RUNS repetitions interleaved, medians and ratios.
# Peer for context: the time `python3 -c 'import torch'` takes, interleaved too.
#
#   bash bench/compile.sh [RUNS]        (default 5; run from the repo root)
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${1:-5}
if ! /usr/bin/python3 -c "import torch" 2>/dev/null; then
    echo "installing python3-torch for the peer run"
    apt-get install -y -qq python3-torch >/dev/null
fi
make -s build >/dev/null
export OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1
MODELS=(examples/census/*.est examples/custom/*.est)
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT

now() { date +%s.%N; }
# in-process total from the summary line ("... in 12.3 ms")
inproc() { sed -nE 's/.* in ([0-9.]+) ms$/\1/p' <<<"$1"; }
declare -A cold cold_in hot hot_in
torch=()
for r in $(seq "$RUNS"); do
    for f in "${MODELS[@]}"; do
        export ESTC_CACHE_DIR="$TMP/cache-$r-$(basename "$f" .est)"
        t0=$(now); out=$(build/estc compile "$f"); t1=$(now)
        grep -q '(3 compiled, 0 from the cache)' <<<"$out" || { echo "not a cold compile: $out" >&2; exit 1; }
        cold[$f]+="$(echo "($t1 - $t0) * 1000" | bc -l) "; cold_in[$f]+="$(inproc "$out") "
        t0=$(now); out=$(build/estc compile "$f"); t1=$(now)
        grep -q '(0 compiled, 3 from the cache)' <<<"$out" || { echo "not a cached compile: $out" >&2; exit 1; }
        hot[$f]+="$(echo "($t1 - $t0) * 1000" | bc -l) "; hot_in[$f]+="$(inproc "$out") "
    done
    t0=$(now); /usr/bin/python3 -c 'import torch'; t1=$(now)
    torch+=("$(echo "($t1 - $t0) * 1000" | bc -l)")
done
median() { printf '%s\n' "$@" | sort -g | awk '{a[NR] = $1} END {print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2}'; }

echo
echo "B5: .est to ready kernels (train, eval and predict), median of $RUNS runs, milliseconds"
echo "machine: $(getconf _NPROCESSORS_ONLN) cores, $(lscpu | sed -nE 's/^Model name: +//p'), load average $(cut -d' ' -f1-3 /proc/loadavg)"
echo "LLVM $(/usr/lib/llvm-19/bin/llvm-config --version), $(build/estc --version), python3-torch $(/usr/bin/python3 -c 'import torch; print(torch.__version__)')"
printf '%-44s %10s %10s %8s %12s %12s %8s\n' "model" "cold" "cached" "ratio" "cold (in)" "cached (in)" "ratio"
for f in "${MODELS[@]}"; do
    c=$(median ${cold[$f]}); h=$(median ${hot[$f]}); ci=$(median ${cold_in[$f]}); hi=$(median ${hot_in[$f]})
    printf '%-44s %10.1f %10.1f %7.1fx %12.1f %12.1f %7.1fx\n' "$f" "$c" "$h" "$(echo "$c / $h" | bc -l)" \
        "$ci" "$hi" "$(echo "$ci / $hi" | bc -l)"
done
printf '%-44s %10.1f\n' "peer: python3 -c 'import torch'" "$(median "${torch[@]}")"
echo "cold/cached: whole process (start-up included); (in): estc_model_open + estc_compile as estc times them"
w=examples/census/wide_deep.est
ratio=$(echo "$(median ${cold[$w]}) / $(median ${hot[$w]})" | bc -l)
printf 'wide & deep cached vs cold: %.1fx (goal >= 10x): %s\n' "$ratio" \
    "$(awk -v r="$ratio" 'BEGIN { print (r >= 10) ? "met" : "NOT met" }')"

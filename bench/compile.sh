#!/usr/bin/env bash
# B5: compile time. For every example model, the time from the .est file to
# ready kernels for all three programs (`estc compile`: parse, check, lower,
# graph passes, LLVM, JIT link), as the whole process (start-up included) and
# as estc measures it in-process; RUNS repetitions interleaved, medians.
#   cold, fast tier: an empty object cache; the programs can run once the fast
#     tier is ready (in-process "ready" time; whole process measured with
#     ESTC_JIT_TIER=fast, which stops there, in a cache directory of its own)
#   cold, optimised: the same command goes on until the optimised tier is
#     ready and stored (in-process time to that point; whole process = the
#     default `estc compile`, which waits for it)
#   cached: the same command again (all three from the cache)
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
ms() { echo "($2 - $1) * 1000" | bc -l; }
# in-process times from the summary line ("... in 12.3 ms[, 3 of them fast-tier code; 3 optimised in 456.7 ms]")
inproc() { sed -nE 's/.* ready \(.*\) in ([0-9.]+) ms.*/\1/p' <<<"$1"; }
optin() { sed -nE 's/.* optimised in ([0-9.]+) ms$/\1/p' <<<"$1"; }
declare -A fast fast_in opt opt_in hot hot_in
torch=()
for r in $(seq "$RUNS"); do
    for f in "${MODELS[@]}"; do
        export ESTC_CACHE_DIR="$TMP/cache-$r-$(basename "$f" .est)"
        t0=$(now); out=$(ESTC_CACHE_DIR="$ESTC_CACHE_DIR-fast" ESTC_JIT_TIER=fast build/estc compile "$f"); t1=$(now)
        grep -q '(3 compiled, 0 from the cache) in [0-9.]* ms, 3 of them fast-tier code$' <<<"$out" \
            || { echo "not a cold fast-tier compile: $out" >&2; exit 1; }
        fast[$f]+="$(ms "$t0" "$t1") "
        t0=$(now); out=$(build/estc compile "$f"); t1=$(now)
        grep -q '(3 compiled, 0 from the cache) .* 3 of them fast-tier code; 3 optimised in' <<<"$out" \
            || { echo "not a cold tiered compile: $out" >&2; exit 1; }
        opt[$f]+="$(ms "$t0" "$t1") "; fast_in[$f]+="$(inproc "$out") "; opt_in[$f]+="$(optin "$out") "
        t0=$(now); out=$(build/estc compile "$f"); t1=$(now)
        grep -q '(0 compiled, 3 from the cache) in [0-9.]* ms$' <<<"$out" || { echo "not a cached compile: $out" >&2; exit 1; }
        hot[$f]+="$(ms "$t0" "$t1") "; hot_in[$f]+="$(inproc "$out") "
    done
    t0=$(now); /usr/bin/python3 -c 'import torch'; t1=$(now)
    torch+=("$(ms "$t0" "$t1")")
done
median() { printf '%s\n' "$@" | sort -g | awk '{a[NR] = $1} END {print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2}'; }

echo
echo "B5: .est to ready kernels (train, eval and predict), median of $RUNS runs, milliseconds"
echo "machine: $(getconf _NPROCESSORS_ONLN) cores, $(lscpu | sed -nE 's/^Model name: +//p'), load average $(cut -d' ' -f1-3 /proc/loadavg)"
echo "LLVM $(/usr/lib/llvm-19/bin/llvm-config --version), $(build/estc --version), python3-torch $(/usr/bin/python3 -c 'import torch; print(torch.__version__)')"
printf '%-40s %11s %11s %11s %11s %9s %9s\n' "" "cold fast" "cold fast" "cold opt" "cold opt" "cached" "cached"
printf '%-40s %11s %11s %11s %11s %9s %9s\n' "model" "(in)" "(process)" "(in)" "(process)" "(in)" "(process)"
for f in "${MODELS[@]}"; do
    printf '%-40s %11.1f %11.1f %11.1f %11.1f %9.1f %9.1f\n' "$f" "$(median ${fast_in[$f]})" "$(median ${fast[$f]})" \
        "$(median ${opt_in[$f]})" "$(median ${opt[$f]})" "$(median ${hot_in[$f]})" "$(median ${hot[$f]})"
done
printf '%-40s %11s %11s %11s %11s %9s %9.1f\n' "peer: python3 -c 'import torch'" "" "" "" "" "" "$(median "${torch[@]}")"
echo "(in): from estc_model_open to ready kernels as estc times them; (process): the whole command, start-up included"
echo "cold fast (process) runs ESTC_JIT_TIER=fast, which stops at the fast tier; cold opt (process) is the default"
echo "estc compile, which waits for the optimised tier and stores it"

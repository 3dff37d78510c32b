#!/usr/bin/env bash
# B5, cached, two builds side by side: for every example model, the in-process
# time of a cached `estc compile` (its summary line) and the page faults of
# the whole command (`perf stat -e page-faults`), the two binaries run in
# turn, RUNS times each, pinned to one core; medians. Each binary keeps its own
# object cache (the key names the binary's build), filled by a first run.
# To compare a change: build the old commit, copy build/estc and
# build/libestc-llvm.so into a directory, rebuild, then
#
#   bash bench/compile_ab.sh OLD/estc build/estc [RUNS [CORE]]   (default 11 runs, core 1)
set -euo pipefail
cd "$(dirname "$0")/.."
[ $# -ge 2 ] || { echo "usage: bash bench/compile_ab.sh ESTC_A ESTC_B [RUNS [CORE]]" >&2; exit 2; }
A=$1 B=$2 RUNS=${3:-11} CORE=${4:-1}
command -v perf >/dev/null || { echo "installing linux-perf"; apt-get install -y -qq linux-perf >/dev/null; }
export OPENBLAS_NUM_THREADS=1
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
median() { printf '%s\n' "$@" | sort -g | awk '{a[NR] = $1} END {print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2}'; }

# one cached compile: "ms faults"
once() {
    local out
    out=$(ESTC_CACHE_DIR="$TMP/$2" taskset -c "$CORE" perf stat -x, -e page-faults "$1" compile "$3" 2>&1)
    grep -q '(0 compiled, 3 from the cache)' <<<"$out" || { echo "not a cached compile: $out" >&2; exit 1; }
    echo "$(sed -nE 's/.* in ([0-9.]+) ms$/\1/p' <<<"$out") $(grep page-faults <<<"$out" | cut -d, -f1)"
}

echo "B5 cached, in-process ms and whole-command page faults, median of $RUNS runs each, core $CORE"
echo "A: $A"
echo "B: $B"
printf '%-40s %8s %8s %7s %8s %8s\n' model "A ms" "B ms" "B/A" "A flt" "B flt"
for f in examples/census/*.est examples/custom/*.est; do
    ESTC_CACHE_DIR="$TMP/a" "$A" compile "$f" >/dev/null
    ESTC_CACHE_DIR="$TMP/b" "$B" compile "$f" >/dev/null
    ta=() tb=() fa=() fb=()
    for _ in $(seq "$RUNS"); do
        read -r t p < <(once "$A" a "$f"); ta+=("$t"); fa+=("$p")
        read -r t p < <(once "$B" b "$f"); tb+=("$t"); fb+=("$p")
    done
    ma=$(median "${ta[@]}") mb=$(median "${tb[@]}")
    printf '%-40s %8.1f %8.1f %7.2f %8d %8d\n' "$f" "$ma" "$mb" "$(echo "$mb / $ma" | bc -l)" \
        "$(median "${fa[@]}")" "$(median "${fb[@]}")"
done

#!/usr/bin/env bash
# What each graph pass buys: for every pass of the pipeline, the models'
# train programs compiled with that pass turned off (ESTC_DISABLE=NAME) next
# to the full pipeline, interleaved, RUNS times; medians.
#
#   bash bench/passes.sh [RUNS] [MODEL.est...]     (default 3; run from the repo root)
#
# Per model and pass:
#   nodes      the train program's nodes after the pipeline (`estc graph`)
#   ex/CPU s   estc-bench-loop's training examples per CPU second (the
#              compiled step over examples in memory: bench/train_loop.c);
#              per CPU second because it is the figure least moved by other
#              work on the machine
#   compile    the cold compile of all three programs to optimised code
#              (`estc compile --no-cache`, its "optimised in" time), in ms
#   speedup    the full pipeline's ex/CPU s over this row's: what the pass buys
# `verify` checks and changes nothing; it is not listed. A pass that cannot be
# turned off for a model (its kernels need it) shows "-".
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/common.sh
RUNS=${1:-3}
shift || true
MODELS=("$@")
[ ${#MODELS[@]} -gt 0 ] || MODELS=(bench/models/census_linear_b1.est bench/models/census_dnn_b2.est)
bench_build
# the pipeline's passes, as estc-opt lists them
PASSES=$(build/estc-opt --help 2>&1 | tr '\n' ' ' | sed -n 's/.*Passes: \([^.]*\)\..*/\1/p' | tr ',' ' ')
PASSES=${PASSES//verify/}
W=build/bench/passes
mkdir -p "$W"
EPOCHS=${EPOCHS:-3}

# one measurement: prints "nodes cpu_ex_per_s compile_ms" or "- - -"
measure() {   # PASS MODEL
    local env=()
    [ "$1" = all ] || env=(ESTC_DISABLE="$1")
    local nodes loop ms
    nodes=$(env "${env[@]}" build/estc graph "$2" --program train 2>/dev/null | grep -c '^%') || { echo "- - -"; return; }
    # the optimised tier, as a long run gets it (a short one would run fast-tier code)
    loop=$(env "${env[@]}" ESTC_JIT_TIER=opt build/estc-bench-loop "$2" "$EPOCHS" 2>/dev/null | awk '{print $6}') || { echo "- - -"; return; }
    ms=$(env "${env[@]}" build/estc compile "$2" --no-cache 2>/dev/null | sed -n 's/.* optimised in \([0-9.]*\) ms.*/\1/p')
    echo "$nodes ${loop:--} ${ms:--}"
}

echo "graph passes, each turned off against the full pipeline: median of $RUNS interleaved runs, $EPOCHS epochs in memory"
bench_versions
printf '| %-28s | %-10s | %6s | %12s | %9s | %8s |\n' model "pass off" nodes "ex/CPU s" "compile ms" speedup
printf '|%s|%s|%s|%s|%s|%s|\n' --- --- ---: ---: ---: ---:
for m in "${MODELS[@]}"; do
    declare -A N=() L=() C=()
    for i in $(seq "$RUNS"); do
        for p in all $PASSES; do
            read -r n l c <<< "$(measure "$p" "$m")"
            N[$p]=$n; L[$p]="${L[$p]:-} $l"; C[$p]="${C[$p]:-} $c"
        done
    done
    base=$(median ${L[all]})
    for p in all $PASSES; do
        if [ "${N[$p]}" = "-" ]; then
            printf '| %-28s | %-10s | %6s | %12s | %9s | %8s |\n' "$(basename "$m" .est)" "$p" - - - -
            continue
        fi
        l=$(median ${L[$p]}); c=$(median ${C[$p]})
        printf '| %-28s | %-10s | %6s | %12.0f | %9.1f | %7.2fx |\n' "$(basename "$m" .est)" \
            "$([ "$p" = all ] && echo "(none)" || echo "$p")" "${N[$p]}" "$l" "$c" "$(echo "$base / $l" | bc -l)"
    done
    unset N L C
done

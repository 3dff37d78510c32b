#!/usr/bin/env bash
# The whole benchmark suite, one benchmark after another (each also runs
# alone): B1 census linear, B2 census DNN, B3 dense MLP, B4 input, B5 compile,
# and prediction latency. Every benchmark runs estc and its peers side by side,
# interleaved, RUNS times, and prints a table of medians with ratios; this
# script collects those tables into build/bench/report.md.
#
#   make bench                      (RUNS=3)
#   bash bench/run.sh [RUNS] [NAME...]   NAME: linear dnn mlp input compile predict stream passes
#
# Peers come from Debian's packages (python3-torch, python3-sklearn,
# python3-numpy), installed by the benchmarks when missing.
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${1:-3}
shift || true
NAMES=("$@")
[ ${#NAMES[@]} -gt 0 ] || NAMES=(linear dnn mlp input compile predict stream passes)
declare -A SCRIPT=([linear]=census_linear.sh [dnn]=census_dnn.sh [mlp]=mlp_dense.sh [input]=input.sh
                   [compile]=compile.sh [predict]=predict.sh [stream]=census_stream.sh
                   [passes]=passes.sh)
declare -A TITLE=([linear]="B1 census linear: training" [dnn]="B2 census DNN 256-128-64: training"
                  [mlp]="B3 dense MLP 512-1024-1024-10: training" [input]="B4 input: CSV to batches"
                  [compile]="B5 compile: .est to ready kernels" [predict]="Prediction latency and throughput"
                  [stream]="Input pipeline: cache and reading thread"
                  [passes]="Graph passes: each turned off against the full pipeline")
mkdir -p build/bench
REPORT=build/bench/report.md
{
    echo "# estc benchmarks ($(date -u +%Y-%m-%d), RUNS=$RUNS)"
    echo
    echo "machine: $(getconf _NPROCESSORS_ONLN) cores, $(lscpu | sed -n 's/^Model name: *//p'), load average $(cut -d' ' -f1-3 /proc/loadavg)"
    echo "estc $(git rev-parse --short HEAD 2>/dev/null || echo '?')"
} > "$REPORT"
status=0
for n in "${NAMES[@]}"; do
    s=${SCRIPT[$n]:-}
    if [ -z "$s" ]; then echo "bench/run.sh: unknown benchmark '$n' (linear dnn mlp input compile predict stream passes)" >&2; exit 2; fi
    echo "== ${TITLE[$n]}: bash bench/$s $RUNS"
    t0=$(date +%s)
    if out=$(bash "bench/$s" "$RUNS" 2>&1); then rc=0; else rc=$?; status=1; fi
    printf '%s\n' "$out"
    {
        echo
        echo "## ${TITLE[$n]}"
        echo
        echo "\`bash bench/$s $RUNS\` ($(( $(date +%s) - t0 )) s, exit $rc)"
        echo
        echo '```'
        printf '%s\n' "$out" | tail -70
        echo '```'
    } >> "$REPORT"
done
echo "report: $REPORT"
exit $status

# perf_map.sh — ESTC_PERF_MAP=1 names the loaded kernels for perf: a train
# run appends "START SIZE NAME" lines (hex, hex, the symbol) for its
# programs' functions to /tmp/perf-PID.map, the entry and its node functions
# among them, with addresses that do not overlap; without the variable no
# file is written.
. "$(dirname "$0")/testlib.bash"
export ESTC_CACHE_DIR="$SCRATCH/cache"
M=examples/census/dnn.est
ESTC_PERF_MAP=1 "$ESTC" train $M --model-dir "$SCRATCH/m" --steps 3 --quiet &
pid=$!
wait $pid
check "train with ESTC_PERF_MAP=1" test $? -eq 0
map=/tmp/perf-$pid.map
check "the map file is written" test -s "$map"
if [ -s "$map" ]; then
    check "every line is START SIZE NAME in hex" awk 'NF != 3 || $1 !~ /^[0-9a-f]+$/ || $2 !~ /^[0-9a-f]+$/ { exit 1 }' "$map"
    check "the train entry is named" grep -q ' estc_train_step$' "$map"
    check "node functions are named" grep -Eq ' estc_train_step\.n[0-9]+\.' "$map"
    while read -r start size _; do echo "$((16#$start)) $((16#$size))"; done < "$map" | sort -n > "$SCRATCH/spans"
    check "functions do not overlap" awk 'NR > 1 && $1 < end { exit 1 } { end = $1 + $2 }' "$SCRATCH/spans"
fi
rm -f "$map"
# the cache now holds the programs: loading them from it names them too
ESTC_PERF_MAP=1 "$ESTC" evaluate $M --model-dir "$SCRATCH/m" > /dev/null &
pid=$!
wait $pid
check "cached programs are named too" grep -q ' estc_eval_step$' "/tmp/perf-$pid.map"
rm -f "/tmp/perf-$pid.map"
"$ESTC" evaluate $M --model-dir "$SCRATCH/m" > /dev/null &
pid=$!
wait $pid
check "no map without ESTC_PERF_MAP" test ! -e "/tmp/perf-$pid.map"
finish

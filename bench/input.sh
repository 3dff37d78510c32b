#!/usr/bin/env bash
# B4: input speed, CSV to batches, one thread. estc's reader (tools/estc-input:
# the model's reader and stream, one epoch, no shuffling, every batch
# assembled, no kernel run) against Python's csv module and numpy.loadtxt on
# the same files, RUNS repetitions interleaved; prints medians and ratios.
#
#   bash bench/input.sh [RUNS]        (default 3; run from the repo root)
#   ESTC_INPUT_BEFORE=OLD/estc-input bash bench/input.sh [RUNS]
#                                     also runs another build's estc-input
#                                     (say, of the commit before a change),
#                                     interleaved, and prints the ratios
#
# Files (generated once into build/bench/ by bench/gen_input.py, not
# committed): Adult-like rows (adult.data repeated, numbers perturbed, ", "
# separated, 9 string and 6 numeric columns) at 64 and 256 MB, and a wide
# numeric file (96 float columns written as "0.123456", "-12.5", "3e-05",
# "1234.56", "-3.9147e+03", 17-digit doubles and ints, 8 int columns, a float
# label) at 256 and 1024 MB. The census model reads the first; a generated
# LinearRegressor over every column the second.
#
# MB/s is 10^6 bytes of file per second. "per CPU second" divides by the
# process's user + system time: the speed per core, and the figure least
# disturbed by other work on a shared machine (wall time is shown too). Peak
# RSS is /usr/bin/time's maximum resident set size: estc streams, so it must
# not grow with the file. The peers convert every numeric field to a number
# too; numpy.loadtxt holds the whole matrix in memory. They run on the
# smaller file of each kind (Python's csv module needs minutes for a GB).
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${1:-3}
if ! /usr/bin/python3 -c "import numpy" 2>/dev/null; then
    echo "installing python3-numpy for the peer runs"
    apt-get install -y -qq python3-numpy >/dev/null
fi
if [ ! -x /usr/bin/time ]; then
    echo "installing time for peak RSS"
    apt-get install -y -qq time >/dev/null
fi
make -s build >/dev/null
export OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1 ESTC_CACHE_DIR=$PWD/build/cache
B=build/bench
mkdir -p "$B"
gen() {   # kind MB
    local out=$B/$1-$2.csv
    if [ ! -s "$out" ]; then
        echo "generating $out"
        /usr/bin/python3 bench/gen_input.py "$1" "$out" "$2"
    fi
}
gen adult 64; gen adult 256; gen numeric 256; gen numeric 1024
/usr/bin/python3 bench/gen_input.py numeric-model "$B/numeric.est" "$B/numeric-256.csv"
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT

# One measurement appended to $TMP/<key>.{cpu,wall,rss}.
record() { echo "$2" >> "$TMP/$1.cpu"; echo "$3" >> "$TMP/$1.wall"; echo "$4" >> "$TMP/$1.rss"; }
BEFORE=${ESTC_INPUT_BEFORE:-}
run_estc() {   # key model data [binary]
    /usr/bin/time -v "${4:-build/estc-input}" "$2" --data "$3" > "$TMP/out" 2> "$TMP/time"
    local mbw mbc rss
    mbw=$(awk '/^MB\/s/ {print $2}' "$TMP/out")
    mbc=$(awk '/^MB\/s/ {print $4}' "$TMP/out")
    rss=$(awk -F: '/Maximum resident set size/ {print $2 / 1024}' "$TMP/time")
    record "$1" "$mbc" "$mbw" "$rss"
}
run_peer() {   # key how kind data
    /usr/bin/time -v /usr/bin/python3 bench/input_peer.py "$2" "$3" "$4" > "$TMP/out" 2> "$TMP/time"
    local rows bytes wall cpu rss
    read -r rows bytes wall cpu < "$TMP/out"
    rss=$(awk -F: '/Maximum resident set size/ {print $2 / 1024}' "$TMP/time")
    record "$1" "$(echo "$bytes / 1000000 / $cpu" | bc -l)" "$(echo "$bytes / 1000000 / $wall" | bc -l)" "$rss"
}

for i in $(seq "$RUNS"); do
    echo "run $i of $RUNS"
    run_estc estc_adult64 examples/census/linear.est "$B/adult-64.csv"
    run_peer csv_adult64 csv adult "$B/adult-64.csv"
    run_estc estc_adult256 examples/census/linear.est "$B/adult-256.csv"
    run_estc estc_num256 "$B/numeric.est" "$B/numeric-256.csv"
    run_peer csv_num256 csv numeric "$B/numeric-256.csv"
    run_peer numpy_num256 numpy numeric "$B/numeric-256.csv"
    run_estc estc_num1024 "$B/numeric.est" "$B/numeric-1024.csv"
    if [ -n "$BEFORE" ]; then
        run_estc old_adult64 examples/census/linear.est "$B/adult-64.csv" "$BEFORE"
        run_estc old_adult256 examples/census/linear.est "$B/adult-256.csv" "$BEFORE"
        run_estc old_num256 "$B/numeric.est" "$B/numeric-256.csv" "$BEFORE"
        run_estc old_num1024 "$B/numeric.est" "$B/numeric-1024.csv" "$BEFORE"
    fi
done

median() { sort -g "$1" | awk '{a[NR] = $1} END {print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2}'; }
size_mb() { echo "$(stat -L -c %s "$1") / 1000000" | bc; }
row() {   # label file key
    printf '%-32s %6s MB %12.1f %10.1f %10.0f\n' "$1" "$(size_mb "$2")" "$(median "$TMP/$3.cpu")" \
        "$(median "$TMP/$3.wall")" "$(median "$TMP/$3.rss")"
}
ratio() { echo "$(median "$TMP/$1.cpu") / $(median "$TMP/$2.cpu")" | bc -l; }

echo
echo "B4: CSV to batches, one thread, median of $RUNS runs"
echo "machine: $(getconf _NPROCESSORS_ONLN) cores, $(lscpu | grep 'Model name' | cut -d: -f2 | sed 's/^ *//'), load average $(cut -d' ' -f1-3 /proc/loadavg)"
echo "peers: Python $(/usr/bin/python3 -c 'import platform; print(platform.python_version())'), numpy $(/usr/bin/python3 -c 'import numpy; print(numpy.__version__)')"
printf '%-32s %9s %12s %10s %10s\n' "" "file" "MB/s per" "MB/s" "peak RSS"
printf '%-32s %9s %12s %10s %10s\n' "" "" "CPU second" "wall" "MB"
row "estc, Adult-like"               "$B/adult-64.csv"     estc_adult64
row "estc, Adult-like"               "$B/adult-256.csv"    estc_adult256
row "Python csv module, Adult-like"  "$B/adult-64.csv"     csv_adult64
row "estc, wide numeric"             "$B/numeric-256.csv"  estc_num256
row "estc, wide numeric"             "$B/numeric-1024.csv" estc_num1024
row "Python csv module, wide numeric" "$B/numeric-256.csv" csv_num256
row "numpy.loadtxt, wide numeric"    "$B/numeric-256.csv"  numpy_num256
printf 'ratio estc / Python csv, Adult-like (64 MB):     %.1fx\n' "$(ratio estc_adult64 csv_adult64)"
printf 'ratio estc / Python csv, wide numeric (256 MB):  %.1fx\n' "$(ratio estc_num256 csv_num256)"
printf 'ratio estc / numpy.loadtxt, wide numeric (256 MB): %.1fx\n' "$(ratio estc_num256 numpy_num256)"
if [ -n "$BEFORE" ]; then
    echo
    echo "before: $BEFORE (interleaved with the runs above)"
    row "estc before, Adult-like"    "$B/adult-64.csv"     old_adult64
    row "estc before, Adult-like"    "$B/adult-256.csv"    old_adult256
    row "estc before, wide numeric"  "$B/numeric-256.csv"  old_num256
    row "estc before, wide numeric"  "$B/numeric-1024.csv" old_num1024
    printf 'ratio estc / before, Adult-like (64, 256 MB):    %.2fx, %.2fx\n' "$(ratio estc_adult64 old_adult64)" "$(ratio estc_adult256 old_adult256)"
    printf 'ratio estc / before, wide numeric (256, 1024 MB): %.2fx, %.2fx\n' "$(ratio estc_num256 old_num256)" "$(ratio estc_num1024 old_num1024)"
fi

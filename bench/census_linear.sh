#!/usr/bin/env bash
# B1 (first form): training the census linear model, estc against scikit-learn's
# SGDClassifier on the equivalent one-hot features, same data, same epochs, one
# thread each, RUNS repetitions interleaved; prints medians and the ratio.
#
#   bash bench/census_linear.sh [RUNS]        (default 5; run from the repo root)
#
# estc's figure is the training loop alone (examples/s as `estc train` reports
# it, data parsed on the fly) and the whole command's wall time (parse, compile,
# statistics pre-pass, training, checkpoint). scikit-learn's is fit() on a matrix
# already in memory — the peer's best case.
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${1:-5}
EPOCHS=10
if ! /usr/bin/python3 -c "import sklearn, scipy" 2>/dev/null; then
    echo "installing python3-sklearn for the peer run"
    apt-get install -y -qq python3-sklearn >/dev/null
fi
make -s build >/dev/null
export OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1
D=examples/census/data
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
estc_eps=(); estc_wall=(); sk_eps=()
for i in $(seq "$RUNS"); do
    rm -rf "$TMP/m"
    t0=$(date +%s.%N)
    out=$(build/estc train examples/census/linear.est --model-dir "$TMP/m" --epochs $EPOCHS 2>&1 | grep '^trained')
    t1=$(date +%s.%N)
    estc_eps+=("$(echo "$out" | sed -E 's/.*: ([0-9]+) examples\/s.*/\1/')")
    estc_wall+=("$(echo "$t1 - $t0" | bc)")
    read -r fit n acc auc < <(/usr/bin/python3 bench/census_linear.py $D/adult.data $D/adult.test $EPOCHS)
    sk_eps+=("$(echo "$n / $fit" | bc)")
done
json=$(build/estc evaluate examples/census/linear.est --model-dir "$TMP/m" --json)
median() { printf '%s\n' "$@" | sort -g | awk '{a[NR] = $1} END {print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2}'; }
me=$(median "${estc_eps[@]}"); mw=$(median "${estc_wall[@]}"); ms=$(median "${sk_eps[@]}")
acc_e=$(printf '%s' "$json" | tr ',' '\n' | grep '"accuracy"' | sed 's/.*: //')
auc_e=$(printf '%s' "$json" | tr ',' '\n' | grep '"auc"' | sed 's/.*: //')
echo
echo "census linear, $EPOCHS epochs of adult.data (32561 rows), median of $RUNS runs, 1 thread"
echo "machine: $(getconf _NPROCESSORS_ONLN) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), python3-sklearn $(/usr/bin/python3 -c 'import sklearn; print(sklearn.__version__)')"
printf '%-34s %14s %10s %8s\n' "" "examples/s" "accuracy" "auc"
printf '%-34s %14.0f %10.4f %8.4f\n' "estc train loop (batch 64, FTRL)" "$me" "$acc_e" "$auc_e"
printf '%-34s %14.0f %10.4f %8.4f\n' "scikit-learn SGDClassifier fit" "$ms" "$acc" "$auc"
printf 'ratio estc / scikit-learn: %.2fx\n' "$(echo "$me / $ms" | bc -l)"
printf 'whole `estc train` command (parse, compile, stats, train, save): median %.2f s\n' "$mw"

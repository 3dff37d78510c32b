#!/usr/bin/env bash
# Prediction latency and throughput: estc against PyTorch, on two census
# models — the linear model (examples/census/linear.est) and a DNN with hidden
# units 256-128-64 (bench/models/census_dnn256.est) — through four paths:
#
#   aot           the predictor `estc export` writes (NAME_predict, NAME_predict_batch),
#                 raw column values in (strings hashed and looked up inside)
#   api           libestc in-process (estc_predict_rows), raw column values in
#   torch_eager   PyTorch eager, same architecture and the same weights,
#                 inputs pre-encoded (ids, normalised floats: the peer's best case)
#   torch_script  the same as TorchScript (scripted, frozen, optimised for inference)
#
#   bash bench/predict.sh [RUNS]        (default 3; run from the repo root)
#   CALLS=N BATCH=B bash bench/predict.sh ...   (defaults 100000 and 256)
#
# One thread everywhere. Single row: CALLS calls cycling through the rows of
# adult.test, each timed on its own; median and p99 with the timer's own cost
# subtracted. Batch: BATCH rows per call, rows/s. Every path is first checked
# against `estc predict` on all of adult.test (probability of class 1 within
# 1e-5). Then the paths run interleaved, RUNS times; the table gives medians
# over the runs, and each path's ratio to eager taken within a run (the paths
# of one run share the machine's load), then its median. Trained model_dirs
# and exports are kept under build/bench/ so repeated runs skip training.
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${1:-3}
CALLS=${CALLS:-100000}
BATCH=${BATCH:-256}
PY=/usr/bin/python3

if ! $PY -c "import torch, numpy, xxhash" 2>/dev/null; then
    echo "installing python3-torch, python3-numpy and python3-xxhash for the peer runs"
    apt-get install -y -qq python3-torch python3-numpy python3-xxhash >/dev/null
fi
make -s build >/dev/null
export OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1 MKL_NUM_THREADS=1
export ESTC_CACHE_DIR=${ESTC_CACHE_DIR:-$PWD/build/cache}
B=build/bench
DATA=examples/census/data/adult.test
mkdir -p "$B"
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT

MODELS="linear dnn256"
est_of() { if [ "$1" = linear ]; then echo examples/census/linear.est; else echo bench/models/census_dnn256.est; fi; }

# ---- train (once), export (when the checkpoint or estc is newer), build the programs ----
cc -O2 -std=c11 -I include bench/predict_api.c -L build -lestc -Wl,-rpath,"$PWD/build" -lm -o "$B/predict_api"
for m in $MODELS; do
    est=$(est_of $m) dir=$B/census_$m out=$B/export_$m name=census_$m
    if [ ! -f "$dir/checkpoint" ]; then
        echo "training $est into $dir"
        build/estc train "$est" --model-dir "$dir" --quiet
    fi
    ckpt=$dir/$(sed -n 's/^latest: //p' "$dir/checkpoint")
    if [ ! -f "$out/$name.h" ] || [ "$ckpt" -nt "$out/$name.h" ] || [ build/estc -nt "$out/$name.h" ]; then
        build/estc export "$est" --model-dir "$dir" --out "$out" --name $name --quiet
    fi
    cc -O2 -std=c11 -DPRED=$name -DPRED_UP="$(echo $name | tr a-z A-Z)" -I "$out" \
        bench/predict_aot.c "$out/lib$name.a" -lm -o "$B/predict_aot_$m"
done

run_path() {   # MODEL PATH [extra args]
    local m=$1 path=$2
    shift 2
    case $path in
    aot) "$B/predict_aot_$m" "$DATA" --batch "$BATCH" "$@" ;;
    api) "$B/predict_api" "$(est_of $m)" --model-dir "$B/census_$m" "$DATA" --name census_$m --batch "$BATCH" "$@" ;;
    torch)   # eager, then TorchScript
        $PY bench/predict_torch.py $m --model-dir "$B/census_$m" --data "$DATA" --batch "$BATCH" "$@" ;;
    esac
}

# ---- correctness: every path against `estc predict` on all of adult.test ----
echo "checking every path against estc predict (probability of class 1, all rows of adult.test)"
for m in $MODELS; do
    build/estc predict "$(est_of $m)" --model-dir "$B/census_$m" --format csv > "$TMP/estc_$m.csv"
    for path in aot api; do
        run_path $m $path --dump "$TMP/${path}_$m.txt"
        $PY - "$TMP/estc_$m.csv" "$TMP/${path}_$m.txt" census_$m $path <<'EOF'
import sys
want = [float(l.split(",")[2].split(";")[1]) for l in open(sys.argv[1]).read().splitlines()[1:]]
got = [float(l) for l in open(sys.argv[2])]
worst = max(abs(a - b) for a, b in zip(want, got)) if len(want) == len(got) else float("inf")
print("check model=%s path=%s rows=%d vs_estc=%.3g" % (sys.argv[3], sys.argv[4], len(got), worst))
sys.exit(0 if worst <= 1e-5 else 1)
EOF
    done
    run_path $m torch --check "$TMP/estc_$m.csv"
done

# ---- timed runs, interleaved ----
for r in $(seq "$RUNS"); do
    echo "run $r of $RUNS"
    for m in $MODELS; do
        for path in aot api torch; do
            run_path $m $path --calls "$CALLS" | tee -a "$TMP/results"
        done
    done
done

echo
echo "prediction, one thread, $CALLS single-row calls per path and run, batches of $BATCH rows; median of $RUNS runs"
echo "machine: $(getconf _NPROCESSORS_ONLN) cores, $(lscpu | sed -n 's/^Model name: *//p'); $(cc --version | head -1)"
echo "estc $(build/estc --version 2>&1 | head -1 | sed 's/^estc //'), PyTorch $($PY -c 'import torch; print(torch.__version__)'), numpy $($PY -c 'import numpy; print(numpy.__version__)'), OpenBLAS $(dpkg-query -W -f='${Version}' libopenblas0 2>/dev/null || echo '?')"
$PY - "$TMP/results" <<'EOF'
import statistics, sys
rows = {}
for line in open(sys.argv[1]):
    kv = dict(f.split("=", 1) for f in line.split()[1:])
    rows.setdefault((kv["model"], kv["path"]), []).append(kv)
med = lambda runs, k: statistics.median(float(r[k]) for r in runs)
print("%-14s %-13s %10s %10s %13s %11s %9s" % ("model", "path", "median µs", "p99 µs", "rows/s batch",
      "path/eager", "x faster"))
for model in dict.fromkeys(m for m, _ in rows):
    eager = rows[(model, "torch_eager")]
    for path in ["aot", "api", "torch_eager", "torch_script"]:
        runs = rows[(model, path)]
        # the ratio within each run (the paths of one run share the machine's load), then the median
        ratio = statistics.median(float(r["median_ns"]) / float(e["median_ns"]) for r, e in zip(runs, eager))
        print("%-14s %-13s %10.3f %10.3f %13.0f %11.4f %9.1f" % (model, path, med(runs, "median_ns") / 1e3,
              med(runs, "p99_ns") / 1e3, med(runs, "rows_per_s"), ratio, 1 / ratio))
c_timer = sorted({int(r["timer_ns"]) for runs in rows.values() for r in runs if not r["path"].startswith("torch")})
py_timer = statistics.median(int(r["timer_ns"]) for runs in rows.values() for r in runs if r["path"].startswith("torch"))
print("timer overhead, subtracted from every figure: clock_gettime pair %s ns (C), perf_counter_ns %d ns (Python)"
      % ("-".join(map(str, dict.fromkeys([c_timer[0], c_timer[-1]]))), py_timer))
print("targets: census linear aot median <= 1 µs, DNN 256-128-64 aot median <= 5 µs, both >= 20x faster than eager")
EOF

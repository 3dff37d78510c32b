# Shared by the bench/*.sh benchmarks (sourced, run from the repo root):
# dependencies, the build, one thread everywhere, medians and versions.

# the Python peers need Debian's torch, scikit-learn and numpy (a pyenv python3
# earlier on PATH lacks them)
PY=/usr/bin/python3
bench_deps() {
    if ! $PY -c "import torch, sklearn, numpy, scipy" 2>/dev/null; then
        echo "installing the peers' Python packages"
        apt-get install -y -qq python3-torch python3-sklearn python3-numpy python3-scipy >/dev/null
    fi
}

# estc and the benchmark helpers, RelWithDebInfo in build/
bench_build() {
    cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
    cmake --build build -j2 --target estc estc-bench-loop estc-bench-sgemm >/dev/null
}

export OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1 MKL_NUM_THREADS=1
export ESTC_CACHE_DIR=$PWD/build/cache

# Fills the object cache with the optimised code of each model (`estc
# compile` waits for the optimised tier and stores it), so that every timed
# run loads the same code: a cold cache would run the fast tier first, and
# which runs did would depend on the order (B5 measures compiling).
bench_warm() { for f in "$@"; do build/estc compile "$f" >/dev/null; done; }

median() { printf '%s\n' "$@" | sort -g | awk '{a[NR] = $1} END {print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2}'; }

# a field of `estc evaluate --json`
json_field() { printf '%s' "$1" | tr ',{}' '\n\n\n' | grep "\"$2\"" | head -1 | sed 's/.*: *//'; }

bench_versions() {
    echo "machine: $(getconf _NPROCESSORS_ONLN) cores, $(lscpu | grep 'Model name' | sed 's/.*: *//')"
    echo "estc $(build/estc --version 2>&1 | head -1 | awk '{print $NF}') ($(git rev-parse --short HEAD 2>/dev/null || echo '?')), LLVM $(llvm-config-19 --version 2>/dev/null || echo 19)," \
         "OpenBLAS $(pkg-config --modversion openblas 2>/dev/null || echo '?')," \
         "$($PY -c 'import torch, sklearn, numpy; print(f"torch {torch.__version__}, scikit-learn {sklearn.__version__}, numpy {numpy.__version__}")')"
}

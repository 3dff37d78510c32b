# The estc command's LLVM module (codegen/backend_dl.c): a start whose
# programs all come from the cache never loads it; a compile loads it; a
# module that is missing or not a module makes a compile fail, naming the
# file, with exit status 1; export loads it too. OpenBLAS is loaded by the
# first matrix product, not at start.
. "$(dirname "$0")/testlib.bash"
M=examples/census/linear.est
D=examples/census/dnn.est
export ESTC_CACHE_DIR="$SCRATCH/cache"
# loaded LOG: whether the dynamic loader's log names the module
loaded() { grep -q 'file=.*libestc-llvm\.so' "$1"; }
blas() { grep -q 'file=.*libopenblas' "$1"; }

LD_DEBUG=files LD_DEBUG_OUTPUT="$SCRATCH/cold" "$ESTC" compile $M >/dev/null
check "a cold compile loads the module" loaded "$SCRATCH/cold".*
LD_DEBUG=files LD_DEBUG_OUTPUT="$SCRATCH/hot" "$ESTC" compile $M >"$SCRATCH/hot.out"
check "the second compile takes all three from the cache" grep -q '(0 compiled, 3 from the cache)' "$SCRATCH/hot.out"
check "... and does not load the module" eval '! loaded "$SCRATCH/hot".*'
check "the estc command does not link LLVM" eval '! ldd "$ESTC" | grep -qi llvm'

"$ESTC" compile $D >/dev/null
LD_DEBUG=files LD_DEBUG_OUTPUT="$SCRATCH/dnn" "$ESTC" compile $D >"$SCRATCH/dnn.out"
check "a cached start of a model with matrix products ($(cat "$SCRATCH/dnn.out"))" \
    grep -q '(0 compiled, 3 from the cache)' "$SCRATCH/dnn.out"
check "... does not load OpenBLAS" eval '! blas "$SCRATCH/dnn".*'
LD_DEBUG=files LD_DEBUG_OUTPUT="$SCRATCH/train" "$ESTC" train $D --model-dir "$SCRATCH/dnn-md" --steps 5 --quiet
check "training it trains" test -s "$SCRATCH/dnn-md/checkpoint"
check "... and loads OpenBLAS" blas "$SCRATCH/train".*

expect_fail "a missing module is named" 1 "compiling needs LLVM, which estc loads from $SCRATCH/none\.so" \
    env ESTC_LLVM_MODULE="$SCRATCH/none.so" "$ESTC" compile $M --no-cache
printf 'not an ELF file\n' > "$SCRATCH/bad.so"
expect_fail "a file that is no module is named" 1 "$SCRATCH/bad\.so" \
    env ESTC_LLVM_MODULE="$SCRATCH/bad.so" "$ESTC" compile $M --no-cache
expect_fail "a library that is not estc's module is refused" 1 "is not the LLVM module of this estc" \
    env ESTC_LLVM_MODULE="$(ldd "$ESTC" | sed -nE 's/.*libxxhash[^ ]* => ([^ ]+) .*/\1/p')" "$ESTC" compile $M --no-cache

"$ESTC" train $M --model-dir "$SCRATCH/md" --steps 20 --quiet >/dev/null 2>&1
LD_DEBUG=files LD_DEBUG_OUTPUT="$SCRATCH/export" "$ESTC" export $M --model-dir "$SCRATCH/md" --out "$SCRATCH/exp" \
    >"$SCRATCH/export.out" 2>&1
rc=$?
check "export exits 0 (status $rc: $(tail -3 "$SCRATCH/export.out"))" test "$rc" -eq 0
check "export loads the module ($(ls "$SCRATCH"/export.[0-9]* 2>/dev/null | wc -l) loader logs)" loaded "$SCRATCH"/export.[0-9]*
check "export writes the predictor's header" test -s "$SCRATCH/exp/linear.h"
finish

# `estc compile`: compiles the three programs and nothing else; the summary
# line and --timings report what the object cache did; --no-cache really
# compiles; a miss is compiled by the fast tier, then optimised, and only the
# optimised objects are stored; a broken model is a located diagnostic and
# exit status 2.
. "$(dirname "$0")/testlib.bash"
M=examples/census/linear.est
C="$SCRATCH/cache"
export ESTC_CACHE_DIR="$C"

summary='^examples/census/linear.est: 3 programs ready \(([0-9]) compiled, ([0-9]) from the cache\) in [0-9.]+ ms(, ([0-9]) of them fast-tier code(; ([0-9]) optimised in [0-9.]+ ms)?)?$'
# counts LINE: "COMPILED CACHED" from a summary line
counts() { printf '%s\n' "$1" | sed -nE "s#$summary#\1 \2#p"; }
# tiers LINE: "FAST/OPTIMISED" from a summary line ("/" if it names no tiers)
tiers() { printf '%s\n' "$1" | sed -nE "s#$summary#\4/\6#p"; }
entries() { find "$C" -name '*.o' 2>/dev/null | wc -l; }

out=$("$ESTC" compile $M --model-dir "$SCRATCH/md"); rc=$?
check "compile exits 0" test "$rc" -eq 0
check "one summary line: $out" test "$(printf '%s\n' "$out" | wc -l)" -eq 1
check "an empty cache: all three programs compiled ($out)" test "$(counts "$out")" = "3 0"
check "three objects stored" test "$(entries)" -eq 3
check "a miss runs fast-tier code first, then all three are optimised ($out)" test "$(tiers "$out")" = "3/3"
check "no model_dir is created" test ! -e "$SCRATCH/md"

out=$("$ESTC" compile $M --timings); rc=$?
check "compile --timings exits 0" test "$rc" -eq 0
first=$(printf '%s\n' "$out" | head -1)
check "the second run takes all three from the cache ($first)" test "$(counts "$first")" = "0 3"
check "... optimised code, with no fast tier ($first)" test "$(tiers "$first")" = /
# ms OUTPUT PHASE: the milliseconds --timings reports for PHASE
ms() { printf '%s\n' "$1" | awk -v p="$2" 'index($0, "  " p " ") == 1 && $NF == "ms" { print $(NF - 1) }' | head -1; }
for phase in "parse+sema" "lowering/elaboration" "graph passes" "IR emission" "cache lookup/load/store" \
             "LLVM optimisation" "machine code" "JIT link" "total"; do
    check "--timings reports '$phase'" grep -qE '^[0-9]+\.[0-9]{2}$' <<<"$(ms "$out" "$phase")"
done
check "a cached run spends no time in LLVM's optimiser" test "$(ms "$out" "LLVM optimisation")" = "0.00"
check "... nor emitting IR" test "$(ms "$out" "IR emission")" = "0.00"
check "... and loads all three on one thread" grep -qE "compile \(wall\) .*\(1 thread\)" <<<"$out"

out=$("$ESTC" compile $M --no-cache --timings); rc=$?
first=$(printf '%s\n' "$out" | head -1)
check "--no-cache exits 0" test "$rc" -eq 0
check "--no-cache compiles all three ($first)" test "$(counts "$first")" = "3 0"
check "--no-cache runs the optimiser" ge "$(ms "$out" "LLVM optimisation")" 0.01
check "--no-cache stores nothing" test "$(entries)" -eq 3
check "--no-cache still optimises after the fast tier ($first)" test "$(tiers "$first")" = "3/3"
check "--timings reports the optimised tier's total" grep -qE '^  total, optimised tier +[0-9.]+ ms$' <<<"$out"
out=$(ESTC_JIT_TIER=opt "$ESTC" compile $M --no-cache)
check "ESTC_JIT_TIER=opt compiles optimised code only ($out)" test "$(counts "$out")" = "3 0" -a "$(tiers "$out")" = /
out=$(ESTC_JIT_TIER=fast "$ESTC" compile $M --no-cache)
check "ESTC_JIT_TIER=fast stops at the fast tier ($out)" test "$(tiers "$out")" = "3/"

rm -rf "$C"
out=$(ESTC_COMPILE_THREADS=1 "$ESTC" compile $M --timings)
check "ESTC_COMPILE_THREADS=1 compiles on one thread" grep -qE "compile \(wall\) .*\(1 thread\)" <<<"$out"
check "... and compiles all three" test "$(counts "$(printf '%s\n' "$out" | head -1)")" = "3 0"

# a damaged entry is ignored and rebuilt
for f in "$C"/*.o; do printf 'garbage' > "$f"; done
out=$("$ESTC" compile $M)
check "damaged entries are recompiled ($out)" test "$(counts "$out")" = "3 0"
out=$("$ESTC" compile $M)
check "... and rewritten ($out)" test "$(counts "$out")" = "0 3"

# a short run leaves fast-tier code in the cache; a second run finds it and
# optimises at once, so the fast tier does not stick
C2="$SCRATCH/cache-runs"
for i in 1 2; do
    ESTC_CACHE_DIR="$C2" "$ESTC" train $M --model-dir "$SCRATCH/md-runs-$i" --steps 3 --quiet || fail "short run $i"
done
out=$(ESTC_CACHE_DIR="$C2" "$ESTC" compile $M)
check "the second run optimised the train program; eval and predict are new ($out)" \
    test "$(counts "$out")/$(tiers "$out")" = "2 1/2/2"

printf 'source s = csv("x.csv") { a: float\nlabel l = numeric(a)\n' > "$SCRATCH/broken.est"
expect_fail "a broken model file" 2 "broken.est:[0-9]+:[0-9]+: error" "$ESTC" compile "$SCRATCH/broken.est"
expect_fail "compile without a file" 2 "missing the model file" "$ESTC" compile
expect_fail "compile with an unknown option" 2 "unknown option '--fast'" "$ESTC" compile $M --fast
finish

# stream_cache.sh — the cache of encoded examples and the background reading
# thread change how fast training reads its data, never what it learns.
# Neither does a cache that does not fit and is dropped (ESTC_CACHE_MAX_MB
# stands in for the memory running out), which a warning reports.
#
# The census linear model is trained for 3 epochs four ways: its training
# source with and without `cache = true`, each with the reading thread on
# and off (ESTC_INPUT_THREAD=0). The four checkpoints must be byte for byte
# the same (variables, optimizer slots, data position, generator state).
# Then the cached model is killed with SIGKILL in its second epoch (served
# from memory) and resumed: the resumed run reads the first epoch again to
# fast-forward, fills the cache as it goes, and must end bit-identical.
. "$(dirname "$0")/testlib.bash"
# copies of the model with absolute data paths: without the cache, and with it
sed -e "s|\"data/|\"$SRC/examples/census/data/|g" -e 's/, cache = true//' \
    examples/census/linear.est >"$SCRATCH/plain.est"
sed -e 's|^source adult = csv(\(.*\)) {$|source adult = csv(\1, cache = true) {|' \
    "$SCRATCH/plain.est" >"$SCRATCH/cached.est"
check "the plain copy has no cache" bash -c "! grep -q '^source adult = csv(.*cache' '$SCRATCH/plain.est'"
check "the cached copy caches the training source" \
    grep -q '^source adult = csv(.*cache = true) {$' "$SCRATCH/cached.est"

ARGS="--epochs 3 --seed 7 --no-progress --quiet"
STEPS=1527   # 3 x 32561 examples in batches of 64
for m in plain cached; do
    for th in 1 0; do
        ESTC_INPUT_THREAD=$th "$ESTC" train "$SCRATCH/$m.est" --model-dir "$SCRATCH/$m-$th" $ARGS \
            || fail "train $m, thread $th"
    done
done
REF=$SCRATCH/plain-0/model-$STEPS.safetensors
check "the reference trained $STEPS steps" test -f "$REF"
for run in plain-1 cached-0 cached-1; do
    check "$run: the checkpoint is byte for byte the reference's" cmp "$REF" "$SCRATCH/$run/model-$STEPS.safetensors"
done

# a cache that does not fit (capped here at half a megabyte; the census
# examples take about two) is dropped with a warning, and changes nothing
for th in 1 0; do
    ESTC_CACHE_MAX_MB=0.5 ESTC_INPUT_THREAD=$th "$ESTC" train "$SCRATCH/cached.est" --model-dir "$SCRATCH/capped-$th" \
        --epochs 3 --seed 7 --no-progress 2>"$SCRATCH/capped-$th.log" >/dev/null || fail "train capped, thread $th"
    check "capped cache, thread $th: a warning names the source" \
        grep -q "^warning: source adult: its examples did not fit in memory" "$SCRATCH/capped-$th.log"
    check "capped cache, thread $th: the checkpoint is byte for byte the reference's" \
        cmp "$REF" "$SCRATCH/capped-$th/model-$STEPS.safetensors"
done
"$ESTC" train "$SCRATCH/cached.est" --model-dir "$SCRATCH/fits" --epochs 3 --seed 7 --no-progress \
    2>"$SCRATCH/fits.log" >/dev/null || fail "train cached, logged"
check "a cache that fits warns of nothing" bash -c "! grep -q 'did not fit' '$SCRATCH/fits.log'"
check "the logged run saved its checkpoint" grep -q "saved checkpoint model-$STEPS" "$SCRATCH/fits.log"

# killed in the second epoch, resumed
KARGS="--epochs 3 --seed 7 --save-checkpoints-steps 25 --log-step-count-steps 10 --no-progress"
last_step() { grep -o '^step [0-9]*' "$1" | tail -1 | cut -d' ' -f2; }
# (the run to kill is given more epochs, which only end the stream, so that it
# cannot finish before the kill lands, and sleeps 200 us after each step: an
# epoch of cached steps takes a few milliseconds, less than the polling below)
ESTC_STEP_DELAY_US=200 "$ESTC" train "$SCRATCH/cached.est" --model-dir "$SCRATCH/killed" $KARGS --epochs 50 \
    2>"$SCRATCH/k1.log" >/dev/null &
pid=$!
target=$((560 + RANDOM % 400))
while kill -0 $pid 2>/dev/null; do
    s=$(last_step "$SCRATCH/k1.log"); [ -n "$s" ] && [ "$s" -ge $target ] && break; sleep 0.005
done
kill -9 $pid 2>/dev/null; wait $pid 2>/dev/null
echo "cached run killed after step $(last_step "$SCRATCH/k1.log") (target $target)"
"$ESTC" train "$SCRATCH/cached.est" --model-dir "$SCRATCH/killed" $KARGS 2>"$SCRATCH/k2.log" >/dev/null
check "the cached run resumes in its second epoch" grep -q "^resuming at step \([5-9][0-9][0-9]\|10[0-9][0-9]\):" "$SCRATCH/k2.log"
check "without a warning about the data position" bash -c "! grep -q 'warning' '$SCRATCH/k2.log'"
check "and ends bit-identical to the uninterrupted run" cmp "$REF" "$SCRATCH/killed/model-$STEPS.safetensors"
finish

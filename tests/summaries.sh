# summaries.sh — TensorBoard summaries, train-and-evaluate and early stopping
# through the command line: event files where TensorBoard looks for them,
# `estc summaries` listing them (and real TensorFlow / PyTorch files from
# ../shared when present), `estc plot` drawing them, and a restarted run's
# superseded points dropped as TensorBoard drops them.
. "$(dirname "$0")/testlib.bash"
MD=$SCRATCH/early
"$ESTC" train tests/loop/early.est --model-dir "$MD" --no-progress 2>"$SCRATCH/early.log" >/dev/null
check "train-and-evaluate with early stopping runs (exit $?)" test $? -eq 0
grep "^early stopping" "$SCRATCH/early.log" | sed 's/^/    /'
check "early stopping stops the run before max_steps, naming metric, patience and best" \
    grep -Eq "^early stopping at step [0-9]+: loss has not improved for 2 evaluations \(best [0-9.]+ at step [0-9]+\)$" "$SCRATCH/early.log"
stop=$(sed -n 's/^early stopping at step \([0-9]*\):.*/\1/p' "$SCRATCH/early.log")
check "the run ends at that step with a checkpoint ($stop)" grep -q "^latest: model-$stop.safetensors$" "$MD/checkpoint"
check "evaluations are logged every 40 steps" grep -q "^eval at step 40: accuracy = " "$SCRATCH/early.log"
check "an event file in model_dir" bash -c "ls '$MD'/events.out.tfevents.*.$(hostname) >/dev/null"
check "an event file in model_dir/eval" bash -c "ls '$MD'/eval/events.out.tfevents.* >/dev/null"

# early stopping keeps its history in the checkpoints: killed and resumed, it stops at the same step
E2=$SCRATCH/early_killed
# (ESTC_STEP_DELAY_US slows the run to kill, so that the kill lands near its step)
ESTC_STEP_DELAY_US=200 "$ESTC" train tests/loop/early.est --model-dir "$E2" --no-progress 2>"$SCRATCH/e2.log" >/dev/null & pid=$!
while kill -0 $pid 2>/dev/null; do
    s=$(grep -o '^step [0-9]*' "$SCRATCH/e2.log" | tail -1 | cut -d' ' -f2); [ -n "$s" ] && [ "$s" -ge 500 ] && break; sleep 0.005
done
kill -9 $pid; wait $pid 2>/dev/null
"$ESTC" train tests/loop/early.est --model-dir "$E2" --no-progress 2>"$SCRATCH/e2b.log" >/dev/null
check "killed and resumed, early stopping stops at the same step with the same best" \
    test "$(grep '^early stopping' "$SCRATCH/e2b.log")" = "$(grep '^early stopping' "$SCRATCH/early.log")"
check "and the final checkpoints are bit-identical" cmp "$MD/model-$stop.safetensors" "$E2/model-$stop.safetensors"

"$ESTC" summaries "$MD" > "$SCRATCH/summaries.txt"
check "estc summaries succeeds" test $? -eq 0
head -3 "$SCRATCH/summaries.txt" | sed 's/^/    /'
for tag in loss learning_rate global_step/sec examples/sec; do
    check "training summaries have $tag" grep -Eq "^\.  +$tag +[0-9]+ " "$SCRATCH/summaries.txt"
done
for tag in accuracy auc loss average_loss precision recall; do
    check "eval summaries have $tag" grep -Eq "^eval +$tag +[0-9]+ " "$SCRATCH/summaries.txt"
done
check "the learning rate is ftrl's 0.2 (printed as the shortest float)" grep -Eq "^\.  +learning_rate +20 +0.2$" "$SCRATCH/summaries.txt"
check "a loss summary every 20 steps" test "$(grep -Ec '^\.  +loss ' "$SCRATCH/summaries.txt")" -eq $((stop / 20))
check "an eval point every 40 steps" test "$(grep -Ec '^eval +auc ' "$SCRATCH/summaries.txt")" -eq $((stop / 40))
# the eval log line and the eval summary agree
logged=$(sed -n 's/^eval at step 40: .* auc = \([0-9.]*\) .*/\1/p' "$SCRATCH/early.log")
summ=$(awk '$1 == "eval" && $2 == "auc" && $3 == 40 {print $4}' "$SCRATCH/summaries.txt")
check "eval auc at step 40: log $logged = summary $summ" awk -v a="$logged" -v b="$summ" 'BEGIN { exit !(a - b < 1e-6 && b - a < 1e-6) }'
"$ESTC" summaries "$MD" --csv > "$SCRATCH/summaries.csv"
check "--csv has a header and one line per point" \
    test "$(head -1 "$SCRATCH/summaries.csv")" = "run,tag,step,wall_time,value" -a \
         "$(($(wc -l < "$SCRATCH/summaries.csv") - 1))" -eq "$(($(wc -l < "$SCRATCH/summaries.txt") - 1))"

"$ESTC" plot "$MD" -o "$SCRATCH/curves.svg"
check "estc plot writes an SVG" grep -q "^<svg xmlns=\"http://www.w3.org/2000/svg\"" "$SCRATCH/curves.svg"
check "one panel per tag (14 tags: 4 training, 10 eval of which loss is shared)" \
    test "$(grep -c '^<g transform' "$SCRATCH/curves.svg")" -eq 13
check "training and eval loss share a panel, with a legend" grep -q ">eval</text>" "$SCRATCH/curves.svg"

# a restart after a crash: TensorBoard drops the crashed run's points past the checkpoint
K=$SCRATCH/killed
# (the final step is far past the kill so that a kill landing late, on a
# loaded machine, still leaves the restart steps to train)
ARGS="--max-steps 20000 --save-checkpoints-steps 500 --save-summary-steps 10 --log-step-count-steps 10 --no-progress"
# (the run to kill has a far target so that it cannot finish before the kill lands)
ESTC_STEP_DELAY_US=200 "$ESTC" train examples/census/linear.est --model-dir "$K" $ARGS --max-steps 1000000 2>"$SCRATCH/k.log" & pid=$!
while kill -0 $pid 2>/dev/null; do
    s=$(grep -o '^step [0-9]*' "$SCRATCH/k.log" | tail -1 | cut -d' ' -f2); [ -n "$s" ] && [ "$s" -ge 700 ] && break; sleep 0.005
done
kill -9 $pid; wait $pid 2>/dev/null
"$ESTC" train examples/census/linear.est --model-dir "$K" $ARGS --quiet
dups=$("$ESTC" summaries "$K" | awk 'NR > 1 {print $1, $2, $3}' | sort | uniq -d | wc -l)
raw=$("$ESTC" summaries "$K" --no-purge | awk 'NR > 1 && $2 == "loss"' | wc -l)
check "after a crash and restart every (tag, step) appears once ($dups duplicates)" test "$dups" -eq 0
check "the loss has one point per 10 steps" test "$("$ESTC" summaries "$K" | awk '$2 == "loss"' | wc -l)" -eq 2000
check "without purging the crashed run's extra points show ($raw > 2000)" test "$raw" -gt 2000

# real TensorFlow and PyTorch files
T=../shared/data/tfevents
if [ -d "$T" ]; then
    "$ESTC" summaries "$T/keras_tf2" > "$SCRATCH/keras.txt"
    check "keras: 39 + 52 scalars" test "$(($(wc -l < "$SCRATCH/keras.txt") - 1))" -eq 91
    # (0.798125 is the shortest text of the float the README writes as 0.79812503)
    v=$(awk '$2 == "epoch_accuracy" && $3 == 0 {print $4}' "$SCRATCH/keras.txt")
    check "keras: epoch_accuracy at step 0 is 0.79812503 ($v)" awk -v v="$v" 'BEGIN { d = v - 0.79812503; exit !(d < 1e-7 && d > -1e-7) }'
    "$ESTC" summaries "$T/pytorch/events.out.tfevents.1622543341.janoshs-mbp.lan.86862.0" > "$SCRATCH/torch.txt"
    check "pytorch: strict/foo at step 495 is 1.2120903" grep -Eq "^\. +strict/foo +495 +1.2120903$" "$SCRATCH/torch.txt"
    check "estc plot draws a foreign log directory" "$ESTC" plot "$T/pytorch" -o "$SCRATCH/torch.svg"
else
    echo "SKIP: $T is absent: real TensorFlow and PyTorch event files not listed"
fi
mkdir -p "$SCRATCH/empty"
expect_fail "summaries of a directory without event files" 1 "no event files" "$ESTC" summaries "$SCRATCH/empty"
expect_fail "summaries of a missing directory" 1 "cannot read .*/missing: No such file" "$ESTC" summaries "$SCRATCH/missing"
finish

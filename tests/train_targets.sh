# train_targets.sh — what `epochs`, `steps` and `max_steps` mean for a model_dir.
#
# max_steps and epochs are absolute: on a model_dir that has reached them,
# train does nothing, says so, and leaves every file as it was. steps adds to
# the global step, and 200 + 100 steps end bit-identical to 300 in one go.
# The log's cadence: log_every left at its default writes a line every 100
# steps but at most one each 0.1 s; set, every N steps exactly.
# Also: an incompatible model_dir is refused naming the first mismatch, two
# trainers cannot share a model_dir, and warm starting from another model_dir.
. "$(dirname "$0")/testlib.bash"
M=examples/census/linear.est
Q="--no-progress --save-checkpoints-steps 1000 --seed 9"
A=$SCRATCH/a
"$ESTC" train $M --model-dir "$A" --max-steps 300 $Q --quiet || fail "train to max_steps 300"
check "max_steps 300: the latest checkpoint is step 300" grep -q "^latest: model-300.safetensors$" "$A/checkpoint"
before=$(ls -l --time-style=full-iso "$A"; md5sum "$A"/* 2>/dev/null)
out=$("$ESTC" train $M --model-dir "$A" --max-steps 300 $Q 2>&1); rc=$?
echo "    $out"
check "max_steps on a finished run exits 0" test $rc -eq 0
check "max_steps on a finished run says there is nothing to do" \
    bash -c "printf '%s' \"\$1\" | grep -q '^nothing to do: the global step of .* is 300, which has reached max_steps 300'" _ "$out"
after=$(ls -l --time-style=full-iso "$A"; md5sum "$A"/* 2>/dev/null)
check "and changes no file in the model_dir (no checkpoint, no event file)" test "$before" = "$after"
out=$("$ESTC" train $M --model-dir "$A" --max-steps 200 $Q 2>&1)
check "a max_steps below the global step also does nothing" bash -c "printf '%s' \"\$1\" | grep -q '^nothing to do'" _ "$out"

# steps adds: 200 + 100 = 300, bit-identical to max_steps 300
B=$SCRATCH/b
"$ESTC" train $M --model-dir "$B" --steps 200 $Q --quiet || fail "steps 200"
check "steps 200 from scratch ends at step 200" grep -q "^latest: model-200.safetensors$" "$B/checkpoint"
"$ESTC" train $M --model-dir "$B" --steps 100 $Q --quiet || fail "steps 100 more"
check "then steps 100 more ends at step 300" grep -q "^latest: model-300.safetensors$" "$B/checkpoint"
check "200 + 100 steps are bit-identical to max_steps 300" cmp "$A/model-300.safetensors" "$B/model-300.safetensors"
"$ESTC" train $M --model-dir "$B" --steps 50 --max-steps 320 $Q --quiet || fail "steps and max_steps"
check "steps 50 with max_steps 320: the nearer target wins (320)" grep -q "^latest: model-320.safetensors$" "$B/checkpoint"

# epochs are absolute too: adult.data has 32561 rows, 509 batches of 64 (the last one short)
C=$SCRATCH/c
"$ESTC" train $M --model-dir "$C" --epochs 1 $Q --quiet || fail "one epoch"
check "one epoch of 32561 examples is 509 steps" grep -q "^latest: model-509.safetensors$" "$C/checkpoint"
out=$("$ESTC" train $M --model-dir "$C" --epochs 1 $Q 2>&1)
echo "    $out"
check "epochs 1 again: nothing to do, and says so" \
    bash -c "printf '%s' \"\$1\" | grep -q '^nothing to do: .* has already been trained for 1 epoch (global step 509)'" _ "$out"
"$ESTC" train $M --model-dir "$C" --epochs 2 $Q --quiet || fail "epochs 2"
check "epochs 2 then trains the second epoch only (509 + 509 steps)" grep -q "^latest: model-1018.safetensors$" "$C/checkpoint"

# an incompatible model_dir is refused, naming the first mismatch
expect_fail "another model's model_dir is refused" 1 \
    "was trained with a different model: variable linear/age_b/weights has shape \[13,1\] here but \[11,1\] in the checkpoint" \
    "$ESTC" train examples/census/hours.est --model-dir "$A" --steps 10

# one trainer per model_dir (and SIGINT stops the first one cleanly: exit 130)
L=$SCRATCH/locked
"$ESTC" train $M --model-dir "$L" --steps 1000000 $Q --log-step-count-steps 10 2>"$SCRATCH/first.log" & pid=$!
for i in $(seq 1000); do grep -q "^step " "$SCRATCH/first.log" && break; sleep 0.01; done
expect_fail "a second trainer on the same model_dir is refused" 1 "model_dir .*/locked is being trained by another process" \
    "$ESTC" train $M --model-dir "$L" --steps 10 $Q
kill -INT $pid
wait $pid
rc=$?
check "SIGINT: the first trainer saves and exits with 130 (got $rc)" test $rc -eq 130
check "SIGINT: it says so" grep -q "^stopped by a signal at step" "$SCRATCH/first.log"

# warm start: a fresh model takes matching variables from another model_dir
W=$SCRATCH/warm
out=$("$ESTC" train tests/loop/warm.est --model-dir "$W" --warm-start-from "$B" \
      --warm-start-vars 'linear/(age_b|education)/' --steps 20 $Q 2>&1); rc=$?
check "warm start trains (exit $rc)" test $rc -eq 0
check "warm start reports what it took" \
    bash -c "printf '%s' \"\$1\" | grep -q 'warm-started 2 variables matching \"linear/(age_b|education)/\" from .*/b (step 320)'" _ "$out"
out=$("$ESTC" train tests/loop/warm.est --model-dir "$W" --warm-start-from "$B" --steps 20 $Q 2>&1)
check "a model_dir with a checkpoint is resumed, not warm-started again" \
    bash -c "! printf '%s' \"\$1\" | grep -q 'warm-started'" _ "$out"
expect_fail "warm start refuses a variable of another shape, naming it" 1 \
    "warm_start_from .*: variable linear/age_b/weights has shape \[4,1\] here but F32 \[11,1\]" \
    "$ESTC" train tests/loop/warm_shape.est --model-dir "$SCRATCH/warm2" --warm-start-from "$B" --steps 5 $Q
expect_fail "warm start with a pattern matching nothing" 1 "matches no trainable variable" \
    "$ESTC" train tests/loop/warm.est --model-dir "$SCRATCH/warm3" --warm-start-from "$B" --warm-start-vars nope --steps 5 $Q
# the log: with log_every at its default, lines every 100 steps but at least
# 0.1 s apart (each line's speed is over the steps since the last line)
L=$SCRATCH/log
"$ESTC" train $M --model-dir "$L/fast" --no-progress --epochs 2 2> "$L.fast" || fail "a fast default-cadence run"
n=$(grep -c '^step ' "$L.fast")
secs=$(sed -n 's/^trained .* in \([0-9.]*\) s:.*/\1/p' "$L.fast")
most=$(awk -v s="$secs" 'BEGIN { m = int(s / 0.1) + 1; print m < 10 ? m : 10 }')
check "default cadence on a fast run: $n lines for 1018 steps in ${secs:-?} s, at most $most" \
    test -n "$secs" -a "$n" -le "$most" -a "$n" -lt 10
ESTC_STEP_DELAY_US=300 "$ESTC" train $M --model-dir "$L/mid" --no-progress --max-steps 1500 2> "$L.mid" || fail "a 0.3 ms-step run"
gaps=$(awk -F'[ :(]+' '/^step / { s = $2; for (i = 1; i <= NF; i++) if ($(i+1) == "global_step/sec,") r = $i;
       n++; if (s % 100 != 0) print "step " s " is not a multiple of 100";
       else if (!(r > 0) || (s - p) / r < 0.099) print "step " s ": " (r > 0 ? (s - p) / r : "?") " s after the last line"; p = s }
       END { if (n < 2) print n " lines" }' "$L.mid")
check "default cadence on 0.3 ms steps: lines on multiples of 100 steps, 0.1 s apart or more${gaps:+: $gaps}" test -z "$gaps"
ESTC_STEP_DELAY_US=2000 "$ESTC" train $M --model-dir "$L/slow" --no-progress --max-steps 300 2> "$L.slow" || fail "a slow run"
check "default cadence on slow steps (0.2 s a line): steps 100, 200, 300" \
    test "$(grep -o '^step [0-9]*' "$L.slow" | tr '\n' ' ')" = "step 100 step 200 step 300 "
"$ESTC" train $M --model-dir "$L/set" --no-progress --max-steps 1000 --log-step-count-steps 100 2> "$L.set" || fail "log_every set"
check "log_step_count_steps 100 given: a line every 100 steps however fast" test "$(grep -c '^step ' "$L.set")" -eq 10
finish

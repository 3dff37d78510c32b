# ckpt_damage.sh — one flipped byte in the latest checkpoint is reported, and
# training resumes from the previous one (and still ends bit-identical to a
# run that never saw damage, since the lost steps are recomputed exactly).
. "$(dirname "$0")/testlib.bash"
M=examples/census/linear.est
ARGS="--save-checkpoints-steps 100 --seed 3 --no-progress"
REF=$SCRATCH/ref
RUN=$SCRATCH/run
"$ESTC" train $M --model-dir "$REF" --max-steps 600 $ARGS --quiet || fail "reference run"
"$ESTC" train $M --model-dir "$RUN" --max-steps 400 $ARGS --quiet || fail "first run"
check "the first run's latest checkpoint is step 400" grep -q "^latest: model-400.safetensors$" "$RUN/checkpoint"

# flip one byte in the data section (the file's second half is variable data)
f=$RUN/model-400.safetensors
size=$(stat -c %s "$f")
at=$((size - 1000))
byte=$(od -An -tu1 -j $at -N1 "$f" | tr -d ' ')
printf "$(printf '\\%03o' $(( byte ^ 4 )))" | dd of="$f" bs=1 seek=$at conv=notrunc status=none
check "the byte really changed" test "$(od -An -tu1 -j $at -N1 "$f" | tr -d ' ')" -ne "$byte"

out=$("$ESTC" checkpoints "$RUN" 2>&1); rc=$?
check "estc checkpoints exits 1 on damage" test $rc -eq 1
check "estc checkpoints names the damaged file" bash -c "printf '%s\n' \"\$1\" | grep -q 'model-400.safetensors *DAMAGED: .*data checksum does not match'" _ "$out"

"$ESTC" train $M --model-dir "$RUN" --max-steps 600 $ARGS 2>"$SCRATCH/resume.log" >/dev/null
check "training goes on despite the damage" test $? -eq 0
cat "$SCRATCH/resume.log" | grep -E "warning|resuming" | sed 's/^/    /'
check "the damage is reported, naming the file and the check that failed" \
    grep -q "warning: checkpoint .*/model-400.safetensors is damaged: the data checksum does not match; restored .*/model-300.safetensors (step 300) instead" "$SCRATCH/resume.log"
check "training resumed from the previous checkpoint" grep -q "^resuming at step 300:" "$SCRATCH/resume.log"
check "the final checkpoint is bit-identical to the undamaged run's" cmp "$REF/model-600.safetensors" "$RUN/model-600.safetensors"
check "the damaged file was replaced by a good one" bash -c "\"\$1\" checkpoints \"\$2\" >/dev/null" _ "$ESTC" "$RUN"

# a flipped byte in the JSON header is caught by the header checksum
"$ESTC" train $M --model-dir "$RUN" --max-steps 700 $ARGS --quiet || fail "train to 700"
f=$RUN/model-700.safetensors
byte=$(od -An -tu1 -j 30 -N1 "$f" | tr -d ' ')
printf "$(printf '\\%03o' $(( byte ^ 1 )))" | dd of="$f" bs=1 seek=30 conv=notrunc status=none
expect_fail "evaluate also passes over a damaged checkpoint (it works, exit 0)" 0 \
    "model-700.safetensors is damaged: .*; restored .*model-600.safetensors \(step 600\)" \
    "$ESTC" evaluate $M --model-dir "$RUN"
# every checkpoint damaged: a clear error, nothing trained
for g in "$RUN"/model-*.safetensors; do printf 'x' | dd of="$g" bs=1 seek=100 conv=notrunc status=none; done
expect_fail "all checkpoints damaged: refused" 1 "no usable checkpoint in .*: checkpoint .* is damaged" \
    "$ESTC" train $M --model-dir "$RUN" --max-steps 800 $ARGS
finish

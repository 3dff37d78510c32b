# resume.sh — training survives SIGKILL at any moment and resumes bit-identically.
#
# One reference run trains the census model to step 20000 uninterrupted. The
# same run is then killed with SIGKILL at 10 random moments — two during
# start-up (0-120 ms after launch: compiling, fast-forwarding the data), eight
# a random 20-270 steps after the step it resumed from, each a few random
# milliseconds after a log line, so some land inside checkpoint writes — and
# restarted after each kill. After
# every kill, every checkpoint file in the model_dir must be complete and
# valid (`estc checkpoints` checks structure and both checksums), and no
# restart may have had to pass over a damaged checkpoint. The final
# checkpoint must equal the reference's byte for byte: same variables,
# optimizer slots, data position and generator state. Then SIGTERM: the run
# saves at the step it stopped, exits with 143, and resumes identically too.
# Then an epochs-based run killed in its second epoch (resuming replays the
# first epoch's shuffle without reading it), and a model with dropout (its
# masks depend on the global step fed to the program): each killed once and
# resumed, each ends bit-identical too.
# Set RESUME_SEED to replay a failing sequence of moments.
. "$(dirname "$0")/testlib.bash"
M=examples/census/linear.est
# The runs to kill sleep DELAY us after each step (ESTC_STEP_DELAY_US): a step
# takes microseconds, faster than the log can be polled, and the kills must
# land near their targets. The reference and the last restart run at speed.
DELAY=200
FINAL=4000
ARGS="--max-steps $FINAL --save-checkpoints-steps 40 --keep-checkpoint-max 3 --log-step-count-steps 10 --seed 11 --no-progress"
REF=$SCRATCH/ref
RUN=$SCRATCH/killed
seed=${RESUME_SEED:-$(( $(date +%s) % 100000 ))}
RANDOM=$seed
echo "resume.sh: random moments from RESUME_SEED=$seed"

"$ESTC" train $M --model-dir "$REF" $ARGS --quiet || fail "the uninterrupted reference run"

last_step() { grep -o '^step [0-9]*' "$1" | tail -1 | cut -d' ' -f2; }

# 10 moments: two in start-up, eight a random number of steps into a restarted run
moments="startup startup mid mid mid mid mid mid mid mid"
kills=0
attempt=0
for moment in $moments; do
    attempt=$((attempt + 1))
    log=$SCRATCH/run.$attempt.log
    from=$(sed -n 's/^latest: model-\([0-9]*\).safetensors$/\1/p' "$RUN/checkpoint" 2>/dev/null)
    target=$(( ${from:-0} + 20 + RANDOM % 250 ))
    ESTC_STEP_DELAY_US=$DELAY "$ESTC" train $M --model-dir "$RUN" $ARGS >/dev/null 2>"$log" &
    pid=$!
    if [ "$moment" = startup ]; then
        sleep "0.$(printf '%03d' $((RANDOM % 120)))"
        target=startup
    else
        while kill -0 $pid 2>/dev/null; do
            s=$(last_step "$log")
            [ -n "$s" ] && [ "$s" -ge "$target" ] && break
            sleep 0.005
        done
        sleep "0.$(printf '%03d' $((RANDOM % 15)))"
    fi
    if kill -9 $pid 2>/dev/null; then
        wait $pid 2>/dev/null
        kills=$((kills + 1))
        latest=$(sed -n 's/^latest: model-\([0-9]*\).safetensors$/\1/p' "$RUN/checkpoint" 2>/dev/null)
        echo "kill $kills (resumed from ${from:-scratch}, target $target): logged up to step $(last_step "$log"), latest checkpoint ${latest:-none}"
    else
        wait $pid
        echo "attempt $attempt ($target): the run had already finished"
    fi
    if [ -d "$RUN" ]; then
        out=$("$ESTC" checkpoints "$RUN" 2>&1)
        check "after kill $kills every checkpoint is readable" test $? -eq 0
        if printf '%s\n' "$out" | grep -q DAMAGED; then fail "a damaged checkpoint after kill $kills: $out"; fi
    fi
    if grep -q "is damaged\|warning:" "$log"; then fail "attempt $attempt passed over a damaged checkpoint: $(cat "$log")"; fi
done
check "10 kills happened" test "$kills" -eq 10

"$ESTC" train $M --model-dir "$RUN" $ARGS 2>"$SCRATCH/final.log" >/dev/null
check "the last restart completes" test $? -eq 0
check "the last restart resumed from a checkpoint" grep -q "^resuming at step" "$SCRATCH/final.log"
check "killed 10 times, the final checkpoint is bit-identical to the uninterrupted run's" \
    cmp "$REF/model-$FINAL.safetensors" "$RUN/model-$FINAL.safetensors"
check "and the final checkpoint is valid" bash -c "\"\$1\" checkpoints \"\$2\" >/dev/null" _ "$ESTC" "$RUN"

# SIGTERM (and SIGINT the same way): save at the current step, exit 128 + signal
TERM_DIR=$SCRATCH/term
ESTC_STEP_DELAY_US=$DELAY "$ESTC" train $M --model-dir "$TERM_DIR" $ARGS >/dev/null 2>"$SCRATCH/term.log" &
pid=$!
while kill -0 $pid 2>/dev/null; do
    s=$(last_step "$SCRATCH/term.log"); [ -n "$s" ] && [ "$s" -ge 1500 ] && break; sleep 0.005
done
kill -TERM $pid
wait $pid
rc=$?
check "SIGTERM: exit status 143 (got $rc)" test $rc -eq 143
check "SIGTERM: says it stopped and saved" grep -q "stopped by a signal at step [0-9]*; the checkpoint is saved" "$SCRATCH/term.log"
stopped=$(sed -n 's/^stopped by a signal at step \([0-9]*\);.*/\1/p' "$SCRATCH/term.log")
check "SIGTERM: the latest checkpoint is the step it stopped at ($stopped)" \
    grep -q "^latest: model-$stopped.safetensors$" "$TERM_DIR/checkpoint"
"$ESTC" train $M --model-dir "$TERM_DIR" $ARGS --quiet
check "after SIGTERM the resumed run ends bit-identical" cmp "$REF/model-$FINAL.safetensors" "$TERM_DIR/model-$FINAL.safetensors"
# epochs: 2 passes of 32561 rows = 1018 batches of 64 (the last one short); killed in the second epoch
EARGS="--epochs 2 --save-checkpoints-steps 50 --log-step-count-steps 10 --no-progress --seed 4"
"$ESTC" train $M --model-dir "$SCRATCH/ep_ref" $EARGS --quiet || fail "epochs reference"
# (the run to kill is given more epochs, which only end the stream, so that it
# cannot finish before the kill lands: the cached second epoch is fast)
ESTC_STEP_DELAY_US=$DELAY "$ESTC" train $M --model-dir "$SCRATCH/ep" $EARGS --epochs 20 2>"$SCRATCH/ep.log" >/dev/null & pid=$!
target=$((560 + RANDOM % 300))
while kill -0 $pid 2>/dev/null; do
    s=$(last_step "$SCRATCH/ep.log"); [ -n "$s" ] && [ "$s" -ge $target ] && break; sleep 0.005
done
kill -9 $pid 2>/dev/null; wait $pid 2>/dev/null
"$ESTC" train $M --model-dir "$SCRATCH/ep" $EARGS 2>"$SCRATCH/ep2.log" >/dev/null
sed -n 's/^resuming/epochs run: resuming/p' "$SCRATCH/ep2.log"
check "an epochs run killed in its second epoch resumes there" grep -q "^resuming at step [5-9][0-9][0-9]:" "$SCRATCH/ep2.log"
check "and ends bit-identical (1018 steps)" cmp "$SCRATCH/ep_ref/model-1018.safetensors" "$SCRATCH/ep/model-1018.safetensors"

# dropout: per-step randomness that must come from the checkpoint (the global step)
WD=examples/census/wide_deep.est
WARGS="--max-steps 400 --save-checkpoints-steps 50 --log-step-count-steps 10 --no-progress"
check "wide_deep's train program reads the global step (dropout)" bash -c "\"\$1\" graph $WD --program train | grep -q 'input.*global_step\|global_step.*input'" _ "$ESTC"
"$ESTC" train $WD --model-dir "$SCRATCH/wd_ref" $WARGS --quiet || fail "wide_deep reference"
ESTC_STEP_DELAY_US=$DELAY "$ESTC" train $WD --model-dir "$SCRATCH/wd" $WARGS 2>"$SCRATCH/wd.log" >/dev/null & pid=$!
target=$((120 + RANDOM % 200))
while kill -0 $pid 2>/dev/null; do
    s=$(last_step "$SCRATCH/wd.log"); [ -n "$s" ] && [ "$s" -ge $target ] && break; sleep 0.005
done
kill -9 $pid 2>/dev/null; wait $pid 2>/dev/null
echo "wide_deep killed after step $(last_step "$SCRATCH/wd.log") (target $target)"
"$ESTC" train $WD --model-dir "$SCRATCH/wd" $WARGS --quiet
check "a dropout model killed and resumed ends bit-identical" cmp "$SCRATCH/wd_ref/model-400.safetensors" "$SCRATCH/wd/model-400.safetensors"
finish

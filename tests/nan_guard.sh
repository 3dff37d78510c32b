# nan_guard.sh — an absurd learning rate (sgd at 1e30, tests/loop/nan_lr.est)
# makes the loss overflow at step 2. The NaN guard stops the run with a
# message naming the step and the first non-finite tensor, saves nothing
# more, and keeps the last good checkpoint (step 1: the model saves every step).
. "$(dirname "$0")/testlib.bash"
MD=$SCRATCH/model
expect_fail "the NaN guard stops the run, naming step and tensor" 1 \
    "NaN guard: the loss is (NaN|infinite) at step 2; the first non-finite tensor is node %[0-9]+ = [a-z_]+ f32\[B,1\] \(\+inf at element [0-9]+, from tests/loop/nan_lr.est:[0-9]+:[0-9]+\); after its update [0-9]+ variables hold non-finite values, the first variable linear/[a-z_/]+\. Training stopped without saving; the last good checkpoint, step 1, is kept" \
    "$ESTC" train tests/loop/nan_lr.est --model-dir "$MD" --no-progress
"$ESTC" train tests/loop/nan_lr.est --model-dir "$MD" --no-progress 2>&1 | sed -n 's/^estc: error: /    /p'
check "the last good checkpoint (step 1) is kept and valid" bash -c "\"\$1\" checkpoints \"\$2\" >/dev/null" _ "$ESTC" "$MD"
check "no checkpoint after step 1" test "$(ls "$MD"/model-*.safetensors)" = "$MD/model-1.safetensors"
# without the guard the run goes on (and its checkpoints hold the infinities it asked for)
"$ESTC" train tests/loop/nan_lr.est --model-dir "$SCRATCH/unguarded" --no-nan-guard --steps 5 --quiet
check "--no-nan-guard: training continues (exit $?)" test $? -eq 0
finish

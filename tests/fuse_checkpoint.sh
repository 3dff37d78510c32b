# Kernel fusion changes how the step runs, not what it computes: training
# with the fuse and epilogue passes and without them (ESTC_DISABLE) writes bit-identical
# checkpoints, and the predictions are the same bytes, for a deep model
# (bias + relu, their gradients), the wide & deep one and a residual MLP;
# and so does training whose buffers are shared by liveness.
. "$(dirname "$0")/testlib.bash"
export ESTC_CACHE_DIR="$SCRATCH/cache"
for m in examples/census/dnn.est examples/census/wide_deep.est examples/custom/residual_mlp.est; do
    n=$(basename "$m" .est)
    "$ESTC" train "$m" --model-dir "$SCRATCH/$n-on" --epochs 1 --seed 3 --quiet || fail "$n: train with fusion"
    ESTC_DISABLE=fuse,epilogue "$ESTC" train "$m" --model-dir "$SCRATCH/$n-off" --epochs 1 --seed 3 --quiet ||
        fail "$n: train without fusion"
    on=$(ls "$SCRATCH/$n-on"/*.safetensors | tail -1); off=$(ls "$SCRATCH/$n-off"/*.safetensors | tail -1)
    check "$n: the checkpoints with and without fusion are identical" cmp -s "$on" "$off"
    # without the NaN guard the train program's intermediates share buffers by liveness
    "$ESTC" train "$m" --model-dir "$SCRATCH/$n-shared" --epochs 1 --seed 3 --quiet --no-nan-guard ||
        fail "$n: train with shared buffers"
    shared=$(ls "$SCRATCH/$n-shared"/*.safetensors | tail -1)
    check "$n: the checkpoint with shared buffers is identical" cmp -s "$on" "$shared"
    "$ESTC" predict "$m" --model-dir "$SCRATCH/$n-on" --out "$SCRATCH/$n-on.csv" || fail "$n: predict with fusion"
    ESTC_DISABLE=fuse,epilogue "$ESTC" predict "$m" --model-dir "$SCRATCH/$n-on" --out "$SCRATCH/$n-off.csv" ||
        fail "$n: predict without fusion"
    check "$n: the predictions with and without fusion are identical" cmp -s "$SCRATCH/$n-on.csv" "$SCRATCH/$n-off.csv"
done
# the passes did something: the deep model's train program has fused nodes
# and matmul epilogues
ESTC_DUMP=epilogue "$ESTC" graph examples/census/dnn.est --program train 2>"$SCRATCH/dump.txt" >/dev/null
check "the dnn's train program has fused nodes" grep -q "fused(" "$SCRATCH/dump.txt"
check "the dnn's train program has matmul epilogues" grep -q "{ matmul" "$SCRATCH/dump.txt"
finish

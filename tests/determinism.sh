# Same seed and same file give a bit-identical checkpoint; another seed does not.
. "$(dirname "$0")/testlib.bash"
M=examples/census/linear.est
for d in a b; do
    "$ESTC" train $M --model-dir "$SCRATCH/$d" --epochs 1 --seed 5 --quiet || fail "train $d"
done
"$ESTC" train $M --model-dir "$SCRATCH/c" --epochs 1 --seed 6 --quiet || fail "train c"
ca=$(ls "$SCRATCH"/a/*.safetensors | head -1); cb=$(ls "$SCRATCH"/b/*.safetensors | head -1)
cc=$(ls "$SCRATCH"/c/*.safetensors | head -1)
check "two runs with seed 5 write identical checkpoints" cmp -s "$ca" "$cb"
check "a run with seed 6 writes a different checkpoint" bash -c "! cmp -s '$ca' '$cc'"
finish

# The two code tiers compute the same bits (codegen.h): every example trained
# with fast-tier code only, with optimised code only, and with a swap from the
# one to the other in the middle of training writes the same checkpoint, and
# predictions from either tier are the same bytes. The cache is off so each
# tier really compiles.
. "$(dirname "$0")/testlib.bash"
export ESTC_NO_CACHE=1
STEPS=40
ckpt() { ls "$1"/*.safetensors 2>/dev/null | sort -V | tail -1; }
for M in examples/census/*.est examples/custom/*.est; do
    b=$(basename "$M" .est)
    for tier in fast opt; do
        ESTC_JIT_TIER=$tier "$ESTC" train "$M" --model-dir "$SCRATCH/$b-$tier" --steps $STEPS --quiet \
            || fail "$b: train with the $tier tier"
    done
    ESTC_JIT_SWAP_STEP=$((STEPS / 2)) "$ESTC" train "$M" --model-dir "$SCRATCH/$b-swap" --steps $STEPS --quiet \
        || fail "$b: train with a swap at step $((STEPS / 2))"
    f=$(ckpt "$SCRATCH/$b-fast"); o=$(ckpt "$SCRATCH/$b-opt"); s=$(ckpt "$SCRATCH/$b-swap")
    check "$b: a checkpoint from each run" test -n "$f" -a -n "$o" -a -n "$s"
    check "$b: fast-tier and optimised training write identical checkpoints" cmp -s "$f" "$o"
    check "$b: a swap mid-training writes the same checkpoint" cmp -s "$s" "$o"
done
# the comparison can see a difference: another seed is another checkpoint
"$ESTC" train examples/census/linear.est --model-dir "$SCRATCH/seed" --steps $STEPS --seed 7 --quiet || fail "seed 7"
check "another seed writes another checkpoint" bash -c "! cmp -s '$(ckpt "$SCRATCH/seed")' '$(ckpt "$SCRATCH/linear-opt")'"
M=examples/census/wide_deep.est
for tier in fast opt; do
    ESTC_JIT_TIER=$tier "$ESTC" predict $M --model-dir "$SCRATCH/wide_deep-opt" --out "$SCRATCH/pred-$tier.csv" \
        || fail "predict with the $tier tier"
done
check "the tiers predict the same bytes" cmp -s "$SCRATCH/pred-fast.csv" "$SCRATCH/pred-opt.csv"
check "... and predict something" test -s "$SCRATCH/pred-opt.csv"
finish

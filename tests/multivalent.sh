# multivalent.sh — multivalent and weighted categorical columns end to end.
# tests/data/movies_gen.awk writes rows whose label is a weighted vote of the
# tags in a "|"-joined column (train and a held-out test file, different
# seeds). Linear models and DNNs over embeddings of the multivalent column,
# plain and weighted, must learn it: accuracy on the held-out rows well above
# the majority baseline (~0.52). The weights carry the whole signal, so the
# weighted models must do clearly better than the ones that see only the tags
# (the unweighted models reach ~0.82 here, the weighted ones ~0.95).
# Then the row errors (line 4: the header and two good rows come first):
# too many values, and a weights count that differs.
. "$(dirname "$0")/testlib.bash"
D=tests/data
awk -v seed=1 -v n=600 -f $D/movies_gen.awk > "$SCRATCH/movies_train.csv"
awk -v seed=2 -v n=300 -f $D/movies_gen.awk > "$SCRATCH/movies_test.csv"

train_eval() {   # train_eval NAME TEMPLATE PLACEHOLDER TEXT MIN_ACC
    local name=$1 tmpl=$2 ph=$3 text=$4 min=$5
    sed "s|$ph|$text|" "$D/$tmpl" > "$SCRATCH/$name.est"
    if ! (cd "$SCRATCH" && "$ESTC" train "$name.est" --model-dir "m_$name" --quiet) > "$SCRATCH/$name.log" 2>&1; then
        fail "$name: training failed"; cat "$SCRATCH/$name.log" >&2; return
    fi
    local json acc
    json=$(cd "$SCRATCH" && "$ESTC" evaluate "$name.est" --model-dir "m_$name" --json)
    acc=$(metric "$json" accuracy)
    echo "$name ($text): held-out accuracy $acc (baseline $(metric "$json" accuracy_baseline))"
    check "$name: accuracy $acc >= $min" ge "$acc" "$min"
}

train_eval lin_multi movies_linear.est FEATURES genres 0.75
train_eval lin_weighted movies_linear.est FEATURES weighted_genres 0.90
train_eval dnn_emb_multi movies_embed.est COLUMNS 'embedding(genres, 4)' 0.75
train_eval dnn_indicator_multi movies_embed.est COLUMNS 'indicator(genres)' 0.75
train_eval dnn_emb_wsum movies_embed.est COLUMNS 'embedding(weighted_genres, 4, combiner = "sum")' 0.90
train_eval dnn_emb_wmean movies_embed.est COLUMNS 'embedding(weighted_genres, 4)' 0.90

# row errors name the file, line and column
{ head -3 "$SCRATCH/movies_train.csv"; echo "a|b|c|d|e|f|g,1|1|1|1|1|1|1,yes"; } > "$SCRATCH/too_many.csv"
{ head -3 "$SCRATCH/movies_train.csv"; echo "a|b,0.5,yes"; } > "$SCRATCH/short_weights.csv"
expect_fail "more values than max_values" 1 "too_many.csv:4: column genres: 7 values, at most 6" \
    "$ESTC" train "$SCRATCH/lin_weighted.est" --model-dir "$SCRATCH/x1" --quiet --data "$SCRATCH/too_many.csv"
expect_fail "weights count differs" 1 "short_weights.csv:4: column weights: 1 weight for 2 values of column genres" \
    "$ESTC" train "$SCRATCH/lin_weighted.est" --model-dir "$SCRATCH/x2" --quiet --data "$SCRATCH/short_weights.csv"
finish

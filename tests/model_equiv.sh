# model_equiv.sh — a pre-made estimator is an ordinary model function: the
# stdlib's DNNClassifier and LinearClassifier, and hand-written models of the
# same architecture (variables, matmuls and lookups spelt out, no stdlib
# helper), train to identical losses for the same seed and evaluate to
# identical metrics. Identical means the same printed digits at every logged
# step: the same variables are made in the same order, initialised from the
# same seed, and the same arithmetic runs.
. "$(dirname "$0")/testlib.bash"
D=$SRC/examples/census/data

header() {
cat <<EOF
source adult = csv("$D/adult.data", separator = ", ", missing = "?") {
    age: float, workclass: string, fnlwgt: float, education: string,
    education_num: float, marital_status: string, occupation: string,
    relationship: string, race: string, gender: string, capital_gain: float,
    capital_loss: float, hours_per_week: float, native_country: string,
    income_bracket: string
}
label income = vocabulary(income_bracket, ["<=50K", ">50K"])
feature age        = numeric(age, normalize = zscore)
feature hours      = numeric(hours_per_week, normalize = zscore)
feature age_b      = bucketized(age, [18, 25, 30, 35, 40, 45, 50, 55, 60, 65])
feature education  = vocabulary(education, file = "$D/education.vocab")
feature occupation = hashed(occupation, 100)
run { batch_size = 32, steps = 120, log_every = 10, seed = 7, shuffle_buffer = 1000 }
EOF
}

{ header; cat <<'EOF'
estimator e = DNNClassifier(hidden_units = [16, 8],
    feature_columns = [age, hours, indicator(education), embedding(occupation, 4)])
EOF
} > "$SCRATCH/dnn_premade.est"

{ header; cat <<'EOF'
model my_dnn(x = input_layer([age, hours, indicator(education), embedding(occupation, 4)]), y = income) {
    param hidden = [16, 8]
    h = x
    for i, n in hidden {
        scope "hiddenlayer_" + str(i) {
            kernel = variable([dim(h, -1), n], init = glorot_uniform)
            bias = variable([n], init = zeros)
        }
        h = relu(h @ kernel + bias)
    }
    scope "logits" {
        kernel = variable([dim(h, -1), 1], init = glorot_uniform)
        bias = variable([1], init = zeros)
    }
    logits = h @ kernel + bias
    loss = sigmoid_cross_entropy(logits, y)
    predictions = { logits = logits }
    optimizer = adagrad(learning_rate = 0.05)
}
estimator e = my_dnn()
EOF
} > "$SCRATCH/dnn_custom.est"

{ header; cat <<'EOF'
estimator e = LinearClassifier(features = [age_b, education, hours])
EOF
} > "$SCRATCH/linear_premade.est"

{ header; cat <<'EOF'
model my_linear(y = income) {
    w_age = variable([11, 1], init = zeros)
    w_edu = variable([16, 1], init = zeros)
    w_hours = variable([1, 1], init = zeros)
    bias = variable([1], init = zeros)
    logits = gather(w_age, ids(age_b)) + gather(w_edu, ids(education)) + input_layer([hours]) @ w_hours + bias
    loss = sigmoid_cross_entropy(logits, y)
    predictions = { logits = logits }
    optimizer = ftrl(learning_rate = 0.2)   # the linear estimators' rule: min(0.2, 1/sqrt(3))
}
estimator e = my_linear()
EOF
} > "$SCRATCH/linear_custom.est"

losses() { grep -o '^step [0-9]*: loss = [0-9.e+-]*' "$1"; }

for arch in dnn linear; do
    for kind in premade custom; do
        "$ESTC" train "$SCRATCH/${arch}_$kind.est" --model-dir "$SCRATCH/m_${arch}_$kind" >"$SCRATCH/${arch}_$kind.log" 2>&1
        check "$arch $kind trains" test $? -eq 0
        losses "$SCRATCH/${arch}_$kind.log" > "$SCRATCH/${arch}_$kind.losses"
    done
    check "$arch: 12 logged losses" test "$(wc -l < "$SCRATCH/${arch}_premade.losses")" -eq 12
    if cmp -s "$SCRATCH/${arch}_premade.losses" "$SCRATCH/${arch}_custom.losses"; then pass
    else fail "$arch: the pre-made and the hand-written model log different losses"
         diff "$SCRATCH/${arch}_premade.losses" "$SCRATCH/${arch}_custom.losses" >&2; fi
    p=$("$ESTC" evaluate "$SCRATCH/${arch}_premade.est" --model-dir "$SCRATCH/m_${arch}_premade" --json)
    c=$("$ESTC" evaluate "$SCRATCH/${arch}_custom.est" --model-dir "$SCRATCH/m_${arch}_custom" --json)
    for k in loss average_loss auc accuracy; do
        check "$arch: eval $k equal ($(metric "$p" $k) vs $(metric "$c" $k))" test "$(metric "$p" $k)" = "$(metric "$c" $k)"
    done
done
# the checkpoints hold the variables under their scoped names
check "DNNClassifier's variables are named like TensorFlow's" \
    grep -q 'dnn/hiddenlayer_0/kernel' "$SCRATCH"/m_dnn_premade/model-120.safetensors
check "LinearClassifier's variables are named like TensorFlow's" \
    grep -q 'linear/age_b/weights' "$SCRATCH"/m_linear_premade/model-120.safetensors
finish

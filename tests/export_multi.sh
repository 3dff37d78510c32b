# export_multi.sh — `estc export` of models with multivalent and weighted
# categorical columns: a generated model with a multivalent vocabulary (with
# OOV buckets), its weighted form, a multivalent identity weighted by a
# column with a default, a multivalent hashed column with a two-character
# separator and a default, plus a numeric and an ordinary vocabulary column;
# once as a linear model, once as a DNN (embeddings, multi-hot indicators).
# examples/embed/score.c, built with plain cc, scores every row of a held-out
# file -- random rows, rows with blanks, empty values, missing fields,
# unknown values and integer edge cases, and rows the reader refuses (too
# many values, weight counts that differ, unusable weights and integers) --
# splitting the lists itself, or passing them whole (--joined), one row per
# call, in batches, and through the shared library. Each run must print what
# `estc predict --format csv` prints (the same rows, identical class ids,
# probabilities within 1e-6) and report exactly the refused rows. A C program
# then holds the header's contract for lists passed by a program.
. "$(dirname "$0")/testlib.bash"
. "$(dirname "$0")/exportlib.bash"   # CCBIN, compare, check_libs

W=$SCRATCH
cat > "$W/linear.est" <<'EOF'
source train = csv("train.csv", header = true, missing = "NA", bad_rows = "skip") {
    x: float, tags: string, tw: string, ids: string, iw: string = "1 1", h: string = "p::q", c: string, y: string
}
source test = csv("test.csv", schema = train, header = true, missing = "NA", bad_rows = "skip")
label y = vocabulary(y, ["lo", "mid", "hi"])
feature xn   = numeric(x, normalize = zscore, default = 0)
feature tags = vocabulary(tags, ["a", "b", "c", "d", "e", "gam\"ma"], num_oov_buckets = 2, separator = "|", max_values = 4)
feature wt   = weighted(tags, tw)
feature ids  = identity(ids, num_buckets = 10, separator = " ", max_values = 3)
feature iwt  = weighted(ids, iw)
feature hh   = hashed(h, 50, separator = "::", max_values = 3)
feature cv   = vocabulary(c, ["u", "v", "w"])
estimator linear = LinearClassifier(features = [wt, iwt, hh, xn, cv], n_classes = 3,
                                    optimizer = ftrl(learning_rate = 0.5))
run { train_data = train, eval_data = test, batch_size = 16, epochs = 4, seed = 5, model_dir = "model_linear" }
EOF
sed -e 's/^estimator linear = LinearClassifier(features = \[wt, iwt, hh, xn, cv\],/estimator dnn = DNNClassifier(hidden_units = [8], feature_columns = [embedding(wt, 4), indicator(tags), embedding(iwt, 3, combiner = "sqrtn"), indicator(hh), xn, indicator(cv)],/' \
    -e 's/ftrl(learning_rate = 0.5)/adagrad(learning_rate = 0.1)/' -e 's/model_linear/model_dnn/' "$W/linear.est" > "$W/dnn.est"

# y depends on the weighted tags, x and c; ids, their weights and h are noise
# the models must still encode exactly
awk 'BEGIN { srand(11); print "x,tags,tw,ids,iw,h,c,y"
  split("a b c d e zz", T, " "); split("p q r s", H, " "); split("u v w t", C, " ")
  score["a"] = 1; score["b"] = 1; score["c"] = -1; score["d"] = -1; score["e"] = 0; score["zz"] = 0
  for (r = 0; r < 500; r++) {
    k = int(rand() * 5); tags = ""; tw = ""; s = 0
    for (i = 0; i < k; i++) { t = T[1 + int(rand() * 6)]; w = 0.1 + int(rand() * 91) / 100
      tags = tags (i ? "|" : "") t; tw = tw (i ? "|" : "") w; s += w * score[t] }
    m = 1 + int(rand() * 3); ids = ""; iw = ""
    for (i = 0; i < m; i++) { ids = ids (i ? " " : "") int(rand() * 12); iw = iw (i ? " " : "") (0.5 + int(rand() * 3) / 2) }
    if (m == 2 && rand() < 0.3) iw = "NA"
    n = 1 + int(rand() * 3); h = ""
    for (i = 0; i < n; i++) h = h (i ? "::" : "") H[1 + int(rand() * 4)]
    if (rand() < 0.1) h = "NA"
    x = sprintf("%.3f", rand() * 4 - 2); c = C[1 + int(rand() * 4)]
    v = s + (x > 1 ? 1 : 0) - (c == "u" ? 0.5 : 0)
    print x "," tags "," tw "," ids "," iw "," h "," c "," (v > 0.4 ? "hi" : (v < -0.4 ? "lo" : "mid")) } }' > "$W/train.csv"
# held out: a share of the training rows' shapes under another seed, then
# rows the reader accepts: empty values, blanks around values, missing fields
# (NA, empty), "|" (present, no values: no default), the weights default
# "1 1", unknown and quoted tags, identity values out of range (no id: their
# weight is ignored), signs, leading zeros, the int64 limits, a value of
# float range as a weight, a separator's first character inside a value
awk 'BEGIN { srand(12) } NR > 1 && rand() < 0.4' "$W/train.csv" > "$W/random.csv"
cat > "$W/good.csv" <<'EOF'
0.5,a||b,0.5||2,3 4,2 3,p::q::r,u,lo
0.5, a | b ,  0.5 | 2 ,  3   4 ,2 3,p:x::q,v,lo
0.1,NA,NA,1,0.5,NA,w,mid
0.1,,,1 2,,,w,mid
0.1,a|b,1|1,1 2,NA,q,w,mid
0.2,|,,5,7,::,u,hi
0.2,|,|,5,7,  ::  ,u,hi
0.3,zz|"gam""ma"|e|a,1|2|3|4,+3 -1 12,1 2 3,q,v,lo
0.3,a|b|c|d,0.1|0.2|0.3|3.4e38,9223372036854775807,1,s,t,hi
-1,b,1e-30,-9223372036854775808 0000000000000000000000000000003,1 1,p,u,lo
NA,c,2,0,1,p,u,mid
1.9,d|d,1|1,4 4 4,1 1 1,r::r::r,w,hi
EOF
# refused: too many tags; weight counts that differ (also with no tags, and
# through the default "1 1"); unusable weights (text, beyond float range,
# inf, nan); unusable identity values (a fraction, beyond int64 either way,
# hex, 32 characters, a lone sign, too many); too many hashed values; a short
# row; an infinite x
cat > "$W/bad.csv" <<'EOF'
0.5,a|b|c|d|e,1|1|1|1|1,1,1,p,u,lo
0.5,a|b,1,1,1,p,u,lo
0.5,a,1|2,1,1,p,u,lo
0.5,,1,1,1,p,u,lo
0.5,a,1,1,NA,p,u,lo
0.5,a,abc,1,1,p,u,lo
0.5,a,1e39,1,1,p,u,lo
0.5,a,inf,1,1,p,u,lo
0.5,a,nan,1,1,p,u,lo
0.5,a,1,1.5,1,p,u,lo
0.5,a,1,9223372036854775808,1,p,u,lo
0.5,a,1,-9223372036854775809,1,p,u,lo
0.5,a,1,0x1,1,p,u,lo
0.5,a,1,00000000000000000000000000000003,1,p,u,lo
0.5,a,1,+,1,p,u,lo
0.5,a,1,1 2 3 4,1 1 1 1,p,u,lo
0.5,a,1,1,1,p::q::r::s,u,lo
0.5,a,1,1,1,p,u
inf,a,1,1,1,p,u,lo
EOF
{ head -1 "$W/train.csv"; cat "$W/random.csv" "$W/good.csv" "$W/bad.csv"; } > "$W/test.csv"
# the file lines of the refused rows, as score.c reports them
first_bad=$((2 + $(wc -l < "$W/random.csv") + $(wc -l < "$W/good.csv")))
seq "$first_bad" $((first_bad + $(wc -l < "$W/bad.csv") - 1)) > "$W/bad_lines"

for m in linear dnn; do
    check "train the generated $m model" sh -c "cd '$W' && '$ESTC' train $m.est --quiet"
    w=$W/$m
    mkdir -p "$w"
    if ! "$ESTC" export "$W/$m.est" --model-dir "$W/model_$m" --out "$w/out" --name census --quiet 2>"$w/export.err"; then
        fail "$m: estc export failed: $(cat "$w/export.err")"
        continue
    fi
    check_libs "$w/out" census
    if ! $CCBIN -std=c11 -Wall -Wextra -Werror -O2 -I "$w/out" examples/embed/score.c "$w/out/libcensus.a" -lm \
            -o "$w/score" 2>"$w/cc.err"; then
        fail "$m: examples/embed/score.c does not build with $CCBIN: $(cat "$w/cc.err")"
        continue
    fi
    pass
    $CCBIN -O2 -I "$w/out" examples/embed/score.c -L "$w/out" -lcensus -lm -Wl,-rpath,"$w/out" -o "$w/score_so"
    "$ESTC" predict "$W/$m.est" --model-dir "$W/model_$m" --format csv > "$w/jit.csv" 2>"$w/predict.err"
    check "$m: estc predict leaves out exactly the refused rows" \
        test $(($(wc -l < "$W/test.csv") - $(wc -l < "$w/jit.csv"))) -eq "$(wc -l < "$W/bad.csv")"
    for run in "one row per call:" "batches of 7:--batch 7" "lists passed whole:--joined" \
               "lists passed whole, batches of 64:--joined --batch 64" "shared library:"; do
        label=${run%%:*} flags=${run#*:} bin=score
        [ "$label" = "shared library" ] && bin=score_so
        # shellcheck disable=SC2086
        "$w/$bin" $flags < "$W/test.csv" > "$w/aot.csv" 2>"$w/score.err"
        compare "$w/aot.csv" "$w/jit.csv" "$m, $label"
        check "$m, $label: score.c reports exactly the refused rows ($(grep -c . "$w/score.err") reported)" \
            cmp -s <(sed 's/^score: line \([0-9]*\):.*/\1/' "$w/score.err" | sort -n) "$W/bad_lines"
    done
done

H=$W/linear/out/census.h
check "the header declares a multivalent column as an array and its count" \
    grep -q 'const char \*const \*tags; .*values, at most 4; missing: no values' "$H"
check "the header declares tags_count" grep -q 'int32_t tags_count;' "$H"
check "the header declares a weights column as doubles" grep -q 'const double \*iw; .*missing: "1 1"' "$H"
check "the X-macro lists the kinds of lists" grep -q 'X(tags, 1, STRINGS) .*' "$H"
check "the X-macro lists weights" grep -q 'X(tw, 2, DOUBLES) .*' "$H"
check "the header gives each list's separator" grep -q '#define CENSUS_SEPARATOR_h "::"' "$H"
check "the header gives each list's most values" grep -q '#define CENSUS_MAX_VALUES_ids 3' "$H"
if command -v c++ >/dev/null 2>&1; then
    check "the header with lists compiles as C++" \
        sh -c "echo '#include \"census.h\"' | c++ -std=c++11 -fsyntax-only -Wall -Werror -x c++ -I '$W/linear/out' -"
fi

# The header's contract for lists a program passes: elements split on the
# separator (so one element may hold the whole field), blanks trimmed, empty
# values and NULL elements skipped; NULL, or one NULL / "" / "NA" element, is
# a missing field (the column default), an empty array a field without
# values; errors name the column. Columns: x 0, tags 1, tw 2, ids 3, iw 4, h 5.
cat > "$W/contract.c" <<'EOF'
#include "census.h"
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#define STRS(...) (const char *const[]){ __VA_ARGS__ }, (int32_t)(sizeof((const char *const[]){ __VA_ARGS__ }) / sizeof(const char *))
#define NUMS(...) (const double[]){ __VA_ARGS__ }, (int32_t)(sizeof((const double[]){ __VA_ARGS__ }) / sizeof(double))
static int failed;
static void expect(int ok, const char *what) { if (!ok) { printf("FAIL: %s\n", what); failed = 1; } }
static census_output run(census_input in) { census_output o; memset(&o, 0x5a, sizeof o); census_predict(&in, &o); return o; }
static int same(census_output a, census_output b)
{
    return a.error == b.error && a.class_id == b.class_id && memcmp(a.probabilities, b.probabilities, sizeof a.probabilities) == 0;
}
static census_input tags(census_input in, const char *const *v, int32_t n) { in.tags = v; in.tags_count = n; return in; }
static census_input tw(census_input in, const double *v, int32_t n) { in.tw = v; in.tw_count = n; return in; }
static census_input ids(census_input in, const char *const *v, int32_t n) { in.ids = v; in.ids_count = n; return in; }
static census_input iw(census_input in, const double *v, int32_t n) { in.iw = v; in.iw_count = n; return in; }
static census_input h(census_input in, const char *const *v, int32_t n) { in.h = v; in.h_count = n; return in; }
static int error_is(census_input in, int col) { census_output o = run(in); return o.error == col + 1 && o.class_id == -1 && isnan(o.probabilities[0]); }
int main(void)
{
    census_input base = { .x = 0.3, .c = "u" };
    base = tags(base, STRS("a", "b"));
    base = tw(base, NUMS(0.5, 2));
    base = ids(base, STRS("3", "4"));
    base = iw(base, NUMS(2, 3));
    base = h(base, STRS("p", "r"));
    census_output b = run(base);
    expect(b.error == 0 && b.class_id >= 0, "the base row is predicted");

    census_input none = tw(base, NULL, 0);
    census_output m0 = run(tags(none, NULL, 0));
    expect(!same(m0, b), "missing tags change the prediction");
    expect(same(m0, run(tags(none, STRS("NA")))), "one element \"NA\" is a missing field");
    expect(same(m0, run(tags(none, STRS("")))), "one element \"\" is a missing field");
    expect(same(m0, run(tags(none, STRS(NULL)))), "one NULL element is a missing field");
    expect(same(m0, run(tags(none, NULL, 3))), "a NULL array is a missing field whatever its count");

    expect(same(b, run(tags(base, STRS("a|b")))), "one element holding the joined field");
    expect(same(b, run(tags(base, STRS(" a ", NULL, "", "  ", "b\t")))), "blanks trimmed, empty values and NULLs skipped");
    expect(same(b, run(tags(base, STRS("a|", "||b|")))), "elements split on the separator");
    expect(!same(b, run(tags(base, STRS("b", "a")))), "values keep their order (their weights follow it)");
    expect(!same(b, run(tags(base, STRS("a", "c")))), "another tag changes the prediction");

    census_output hd = run(h(base, NULL, 0));
    expect(same(hd, run(h(base, STRS("p::q")))), "a missing h takes the column default \"p::q\"");
    expect(same(hd, run(h(base, STRS("p", "q")))), "the default splits like a field");
    static const char *const unused[1] = { "x" };
    census_output he = run(h(base, unused, 0));
    expect(!same(he, hd), "an empty array is a field without values, not a missing one");
    expect(same(he, run(h(base, STRS("::")))), "\"::\" is a field without values");
    expect(same(he, run(h(base, STRS(" :: ", "")))), "so are blanks and empty elements");
    expect(same(he, run(h(base, unused, -5))), "a negative count is taken as 0");
    expect(same(run(h(base, STRS("p:x", "q"))), run(h(base, STRS("p:x::q")))), "a two-character separator needs both characters");

    expect(error_is(tags(tw(base, NUMS(1, 1, 1, 1, 1)), STRS("a", "b", "c", "d", "e")), 1), "5 tags, at most 4: error 1 + column 1");
    expect(error_is(tags(tw(base, NUMS(1, 1, 1, 1, 1)), STRS("a|b|c|d|e")), 1), "5 tags in one element");
    census_input four = tags(tw(base, NUMS(1, 1, 1, 1)), STRS("a", "b", "c", "d"));
    expect(run(four).error == 0, "4 tags are fine");
    expect(error_is(tw(base, NUMS(0.5)), 2), "one weight for two tags: error 1 + column 2");
    expect(error_is(tw(base, NUMS(0.5, 2, 1)), 2), "three weights for two tags");
    expect(error_is(tw(base, NULL, 0), 2), "no weights for two tags");
    expect(error_is(tw(base, NUMS(0.5, NAN)), 2), "a NaN weight");
    expect(error_is(tw(base, NUMS(0.5, INFINITY)), 2), "an infinite weight");
    expect(error_is(tw(base, NUMS(0.5, 1e39)), 2), "a weight beyond float range");
    expect(run(tw(base, NUMS(0.5, FLT_MAX))).error == 0, "FLT_MAX is a usable weight");
    expect(!same(b, run(tw(base, NUMS(0.5, 3)))), "a weight changes the prediction");

    expect(same(run(ids(iw(base, NUMS(2, 3)), STRS("3", "12"))), run(ids(iw(base, NUMS(2, 7)), STRS("3", "12")))),
           "the weight of a value without an id (12 >= num_buckets) is ignored");
    expect(!same(run(ids(iw(base, NUMS(2, 3)), STRS("3", "9"))), run(ids(iw(base, NUMS(2, 7)), STRS("3", "9")))),
           "the weight of a value with an id counts");
    expect(same(b, run(ids(base, STRS("+3", "0000000000000000000000000000004")))), "a sign and 31 characters parse");
    census_output big = run(ids(iw(base, NUMS(2, 3)), STRS("3", "12")));
    expect(same(big, run(ids(base, STRS("3", "9223372036854775807")))), "INT64_MAX: out of range, no id");
    expect(same(big, run(ids(base, STRS("3", "-9223372036854775808")))), "INT64_MIN: out of range, no id");
    const char *bad_ints[] = { "9223372036854775808", "-9223372036854775809", "1.5", "0x1", "-", "+", "1e3",
                               "00000000000000000000000000000004" };
    for (size_t i = 0; i < sizeof bad_ints / sizeof *bad_ints; i++) {
        const char *v[2] = { "3", bad_ints[i] };
        char what[96];
        snprintf(what, sizeof what, "identity value \"%s\": error 1 + column 3", bad_ints[i]);
        expect(error_is(ids(base, v, 2), 3), what);
    }
    expect(same(run(iw(base, NUMS(1, 1))), run(iw(base, NULL, 0))), "missing ids weights take the column default \"1 1\"");
    expect(error_is(ids(iw(base, NULL, 0), STRS("3")), 4), "the default's two weights for one id: error 1 + column 4");

    census_input rows[3] = { base, tw(base, NUMS(1)), base };
    census_output out[3];
    expect(census_predict_batch(rows, out, 3, NULL, 0) == 1, "a batch counts its refused rows");
    expect(same(out[0], b) && same(out[2], b) && out[1].error == 3, "a refused row leaves the others alone");
    char ws[1 << 14];
    expect(sizeof ws >= census_workspace_bytes(3), "the test's workspace holds 3 rows");
    memset(out, 0, sizeof out);
    expect(census_predict_batch(rows, out, 3, ws, sizeof ws) == 1 && same(out[0], b) && same(out[2], b) && out[1].error == 3,
           "the same through a workspace");
    expect(CENSUS_MAX_VALUES_tags == 4 && strcmp(CENSUS_SEPARATOR_tags, "|") == 0, "tags: separator and max_values");
    return failed;
}
EOF
if $CCBIN -std=c11 -Wall -Wextra -Werror -I "$W/linear/out" "$W/contract.c" "$W/linear/out/libcensus.a" -lm \
        -o "$W/contract" 2>"$W/contract.err"; then
    out=$("$W/contract")
    check "the header's contract for lists holds${out:+: }$out" test -z "$out"
else
    fail "contract.c does not build: $(cat "$W/contract.err")"
fi

# a column read both as a list and as one value cannot be passed both ways (3
# hash buckets: the shapes of the trained model's vocabulary of 3)
sed 's/^feature cv .*/feature cv = hashed(tags, 3)/' "$W/linear.est" > "$W/both.est"
expect_fail "a column read as a list and as one value" 1 "reads column tags as one value, another feature as a list of strings" \
    "$ESTC" export "$W/both.est" --model-dir "$W/model_linear" --out "$W/x"
finish

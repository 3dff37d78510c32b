# movies_gen.awk — synthetic rows for tests/multivalent.sh: genres is 1..5
# distinct tags from a..h (plus the unknown "zz" now and then) joined by "|",
# weights one number in [0.1, 1] per tag, and liked = "yes" exactly when the
# weighted sum of the tags' hidden scores (a,b,c: +1; d,e,f: -1; g,h,zz: 0)
# is positive. A model that reads the tags can learn it; the weights make it
# exact.   awk -v seed=S -v n=N -f movies_gen.awk
BEGIN {
    srand(seed)
    split("a b c d e f g h", tag, " ")
    score["a"] = 1; score["b"] = 1; score["c"] = 1
    score["d"] = -1; score["e"] = -1; score["f"] = -1
    score["g"] = 0; score["h"] = 0; score["zz"] = 0
    print "genres,weights,liked"
    for (r = 0; r < n; r++) {
        k = 1 + int(rand() * 5)
        delete used
        g = ""; w = ""; s = 0
        for (i = 0; i < k; i++) {
            do { t = rand() < 0.05 ? "zz" : tag[1 + int(rand() * 8)] } while (t in used)
            used[t] = 1
            x = 0.1 + int(rand() * 91) / 100
            g = g (i ? "|" : "") t
            w = w (i ? "|" : "") sprintf("%.2f", x)
            s += x * score[t]
        }
        if (s == 0) s = (rand() < 0.5) ? -1 : 1    # ties: a coin, a little label noise
        print g "," w "," (s > 0 ? "yes" : "no")
    }
}

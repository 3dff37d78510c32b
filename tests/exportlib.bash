# exportlib.bash — helpers of the export tests (tests/export.sh,
# tests/export_multi.sh; sourced after testlib.bash, not run by ctest):
# the C compiler, comparing a predictor's output with estc predict's, and
# checking what the libraries depend on and export.
CCBIN=${CC:-cc}
if ! command -v "${CCBIN%% *}" >/dev/null 2>&1; then
    fail "exporting and this test need a C compiler: '$CCBIN' was not found"
    finish
    exit
fi

# compare AOT.csv JIT.csv LABEL: one line of figures, then pass/fail
compare() {
    local res
    res=$(paste -d'|' "$1" "$2" | awk -F'|' '
        NR == 1 { if ($1 != $2) hdr = 1; next }
        {
            rows++
            if ($1 == "" || $2 == "") { missing++; next }
            split($1, a, ","); split($2, b, ",")
            if (a[1] != b[1] || a[2] != b[2]) ids++
            np = split(a[3], pa, ";"); split(b[3], pb, ";")
            for (i = 1; i <= np; i++) { d = pa[i] - pb[i]; if (d < 0) d = -d; if (d > maxp) maxp = d }
            nl = split(a[4], la, ";"); split(b[4], lb, ";")
            for (i = 1; i <= nl; i++) { d = la[i] - lb[i]; if (d < 0) d = -d; if (d > maxl) maxl = d }
            if ($1 == $2) same++
        }
        END {
            printf "%d rows, %d identical lines, class ids differing %d, max |dprob| %.3g, max |dlogit| %.3g%s%s\n",
                   rows, same, ids, maxp, maxl, missing ? ", ROW COUNTS DIFFER" : "", hdr ? ", HEADERS DIFFER" : ""
            exit !(rows > 0 && !missing && !hdr && ids == 0 && maxp <= 1e-6)
        }')
    local rc=$?
    echo "$3: $res"
    if [ $rc -eq 0 ]; then pass; else fail "$3: the predictor disagrees with estc predict: $res"; fi
}

# check_libs DIR NAME: files present; dynamic dependencies and symbols
check_libs() {
    local d=$1 n=$2
    for f in "$n.h" "$n.o" "lib$n.a" "lib$n.so" README.txt; do check "export wrote $d/$f" test -s "$d/$f"; done
    local deps
    deps=$(ldd "$d/lib$n.so" | awk '{print $1}' | grep -v -E '^(linux-vdso\.so\.1|libc\.so\.6|libm\.so\.6|/lib.*/ld-linux.*\.so\.[0-9]+)$')
    check "lib$n.so depends on nothing but libc and libm (ldd: $(ldd "$d/lib$n.so" | awk '{print $1}' | tr '\n' ' '))" test -z "$deps"
    local und
    und=$(nm -D --undefined-only "$d/lib$n.so" | awk '{print $NF}' | sed 's/@.*//' |
          grep -v -x -E 'memset|memcpy|memmove|memcmp|bcmp|strlen|strcmp|expf|logf|tanhf|log1pf|powf|sqrtf|floorf|fabsf|exp|log|pow|floor|sqrt|fabs|exp2f|exp2|log2f|log2')
    check "lib$n.so calls only libc/libm string and math functions (others: $(echo $und))" test -z "$und"
    local defs
    defs=$(nm -D --defined-only "$d/lib$n.so" | awk '{print $NF}' | sort | tr '\n' ' ')
    check "lib$n.so exports exactly the predictor's three functions ($defs)" \
        test "$defs" = "${n}_predict ${n}_predict_batch ${n}_workspace_bytes "
    defs=$(nm -g --defined-only "$d/lib$n.a" 2>/dev/null | awk 'NF == 3 {print $3}' | sort | tr '\n' ' ')
    check "lib$n.a defines exactly the predictor's three functions ($defs)" \
        test "$defs" = "${n}_predict ${n}_predict_batch ${n}_workspace_bytes "
}

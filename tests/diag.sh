# diag.sh — golden tests of the compiler's diagnostics.
#
# Each tests/diag/NAME.est is a broken model; tests/diag/NAME.expected holds
# the exact stderr of `estc check tests/diag/NAME.est` run from the source
# tree (so paths in messages read tests/diag/...). A test passes when estc
# exits with status 2 and its stderr matches byte for byte.
#
#   bash tests/diag.sh ESTC_BIN SRC_DIR SCRATCH_DIR
#
# With DIAG_UPDATE=1 the .expected files are rewritten from estc's output
# instead; read every changed line before committing one.
. "$(dirname "$0")/testlib.bash"

n=0
for est in tests/diag/*.est; do
    n=$((n + 1))
    name=$(basename "$est" .est)
    expected=tests/diag/$name.expected
    actual=$SCRATCH/$name.stderr
    "$ESTC" check "$est" >"$SCRATCH/$name.stdout" 2>"$actual"
    rc=$?
    if [ "${DIAG_UPDATE:-0}" = 1 ]; then
        cp "$actual" "$expected"
    fi
    if [ "$rc" -ne 2 ]; then
        fail "$name: exit status $rc, expected 2"
        cat "$actual" >&2
    elif [ ! -f "$expected" ]; then
        fail "$name: $expected is missing"
    elif ! cmp -s "$expected" "$actual"; then
        fail "$name: stderr differs from $expected"
        diff -a -u "$expected" "$actual" >&2
    else
        pass
    fi
done
[ "$n" -gt 0 ] || fail "no tests/diag/*.est found under $SRC"
finish

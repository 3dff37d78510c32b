# testlib.bash — shared helpers for the script tests (sourced, not run by ctest).
# Each script test is called as: bash tests/NAME.sh ESTC_BIN SRC_DIR SCRATCH_DIR
set -u
ESTC=$1
SRC=$2
SCRATCH=$3
rm -rf "$SCRATCH"
mkdir -p "$SCRATCH"
cd "$SRC"
PASSED=0
FAILED=0

pass() { PASSED=$((PASSED + 1)); }
fail() { FAILED=$((FAILED + 1)); echo "FAIL: $*" >&2; }

# check DESCRIPTION COMMAND...: the command must succeed
check() { local d=$1; shift; if "$@"; then pass; else fail "$d"; fi; }

# metric JSON KEY: prints the value of KEY from a one-line JSON object
metric() { printf '%s\n' "$1" | tr ',{}' '\n\n\n' | awk -F': ' -v k="\"$2\"" '{gsub(/^ +/, "", $1)} $1 == k {print $2}'; }

# ge A B: A >= B as numbers
ge() { awk -v a="$1" -v b="$2" 'BEGIN { exit !(a + 0 >= b + 0) }'; }

# expect_fail DESCRIPTION STATUS PATTERN COMMAND...: the command must exit with
# STATUS and print a line matching PATTERN (grep -E) on stderr
expect_fail() {
    local d=$1 want=$2 pat=$3; shift 3
    local err rc
    err=$("$@" 2>&1 >/dev/null); rc=$?
    if [ "$rc" -ne "$want" ]; then fail "$d: exit status $rc, expected $want; stderr: $err"; return; fi
    if ! printf '%s\n' "$err" | grep -Eq -- "$pat"; then fail "$d: stderr does not match '$pat': $err"; return; fi
    if printf '%s\n' "$err" | grep -q "AddressSanitizer\|runtime error"; then fail "$d: sanitizer report: $err"; return; fi
    pass
}

finish() {
    echo "$(basename "$0" .sh): $PASSED passed, $FAILED failed"
    [ "$FAILED" -eq 0 ]
}

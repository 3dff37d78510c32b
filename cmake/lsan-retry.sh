#!/usr/bin/env bash
# lsan-retry.sh COMMAND... — runs one test of the sanitizer build (make
# test-asan) and passes its output and exit status through, with one
# exception: when the test failed only because LeakSanitizer's own
# stop-the-world tracer crashed at a process's exit ("Tracer caught signal",
# "LeakSanitizer has encountered a fatal error"), the checker never ran, so
# there is no verdict on the code; the whole test runs once more. A test
# whose output has any sanitizer finding (a leak report, an AddressSanitizer
# error, a UBSan runtime error) or that fails again is a failure as usual.
out=$(mktemp) || exit 1
trap 'rm -f "$out"' EXIT
for attempt in 1 2; do
    "$@" > "$out" 2>&1
    rc=$?
    cat "$out"
    [ "$rc" -eq 0 ] && exit 0
    grep -q "LeakSanitizer has encountered a fatal error" "$out" || exit "$rc"
    grep -Eq "ERROR: (LeakSanitizer: detected|AddressSanitizer)|runtime error:" "$out" && exit "$rc"
    [ "$attempt" -eq 1 ] && echo "lsan-retry: LeakSanitizer's tracer crashed (no leak check ran); running the test again"
done
exit "$rc"

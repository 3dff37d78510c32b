# Golden pass tests: every tests/graph/*.gr is a graph in the text form with
# lit-style RUN lines, each a shell pipeline run from the source tree:
#
#   # RUN: estc-opt --passes fold,dce %s | FileCheck %s
#   # RUN: ESTC_DUMP=fold estc-opt --passes fold %s 2>&1 >/dev/null | FileCheck --check-prefix=DUMP %s
#   # RUN: not estc-opt --passes bogus %s 2>&1 | FileCheck --check-prefix=ERR %s
#
# Substitutions: %s is the .gr file, estc-opt the tool built next to ESTC_BIN,
# FileCheck is FileCheck-19, and `not CMD` succeeds when CMD fails without
# crashing (a signal or a sanitizer report counts as a crash). Pipelines run with pipefail, so estc-opt failing fails the line.
# A file passes when it has at least one RUN line and all of them pass; the
# CHECK lines (FileCheck syntax) are in the same file. Run one file by hand:
#   bash tests/graph_passes.sh build/estc . /tmp/scratch tests/graph/cse.gr
. "$(dirname "$0")/testlib.bash"
shift 3
OPT=$(dirname "$ESTC")/estc-opt
FC=$(command -v FileCheck-19 || echo /usr/lib/llvm-19/bin/FileCheck)
[ -x "$OPT" ] || { echo "graph_passes: $OPT is not built" >&2; exit 1; }
[ -x "$FC" ] || { echo "graph_passes: FileCheck-19 not found (package llvm-19-tools)" >&2; exit 1; }
# the golden outputs assume the full pipeline, whatever the caller's shell has set
unset ESTC_DUMP ESTC_DISABLE

# A sanitizer report must not pass for an expected failure: in a sanitizer
# build make it exit with a status `not` treats as a crash.
export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}exitcode=199"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:+$UBSAN_OPTIONS:}exitcode=199"
not() { "$@"; local rc=$?; [ "$rc" -ne 0 ] && [ "$rc" -lt 128 ]; }
export -f not

FILES=("$@")
[ ${#FILES[@]} -gt 0 ] || FILES=(tests/graph/*.gr)
for f in "${FILES[@]}"; do
    runs=0 ok=1
    while IFS= read -r line; do
        cmd=${line#*RUN:}
        cmd=${cmd//%s/$f}
        cmd=$(printf '%s' "$cmd" | sed -E "s#(^|[ |;(])estc-opt( |$)#\\1'$OPT'\\2#g; s#(^|[ |;(])FileCheck( |$)#\\1'$FC'\\2#g")
        runs=$((runs + 1))
        if ! out=$(bash -o pipefail -c "$cmd" 2>&1); then
            ok=0
            printf 'FAIL: %s: RUN line %d:%s\n%s\n' "$f" "$runs" "${line#*RUN:}" "$out" >&2
        fi
    done < <(grep -E '^[#;] *RUN:' "$f")
    if [ "$runs" -eq 0 ]; then fail "$f: no RUN line"
    elif [ "$ok" -eq 1 ]; then pass
    else fail "$f"
    fi
done
finish

# csv_sse2.sh — the CSV walk has two builds (runtime/csv_walk.h): SSE2 for any
# x86-64, SSSE3 where the CPU has it, chosen when a file is opened. test_csv
# and test_reader run the build this machine picks; here they run again with
# ESTC_NO_SSSE3=1, so that the other is tested too. Both tests compare the
# walk's rows, values and messages with the general parser's.
. "$(dirname "$0")/testlib.bash"
DIR=$(dirname "$ESTC")
check "test_csv on the SSE2 walk" env ESTC_NO_SSSE3=1 "$DIR/test_csv"
check "test_reader on the SSE2 walk" env ESTC_NO_SSSE3=1 "$DIR/test_reader"
finish

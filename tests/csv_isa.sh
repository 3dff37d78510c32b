# csv_isa.sh — the CSV walk has three builds (runtime/csv_walk.h): SSE2 for
# any x86-64, SSSE3 and AVX2 where the CPU has them, the best chosen when a
# file is opened. test_csv and test_reader run the build this machine picks;
# here they run again on each lower one (ESTC_CSV_ISA), so that all are
# tested. Both tests compare the walk's rows, values and messages with the
# general parser's.
. "$(dirname "$0")/testlib.bash"
DIR=$(dirname "$ESTC")
for isa in sse2 ssse3; do
    check "test_csv on the $isa walk" env ESTC_CSV_ISA=$isa "$DIR/test_csv"
    check "test_reader on the $isa walk" env ESTC_CSV_ISA=$isa "$DIR/test_reader"
done
finish

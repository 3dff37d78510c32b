# number_locale.sh — numbers in CSV files always use '.' as the decimal point,
# whatever the locale a program embedding estc has set: test_number's locale
# part run under de_DE.UTF-8 (decimal point ','), compiled here with localedef
# into the scratch directory, since a test machine seldom has it installed.
. "$(dirname "$0")/testlib.bash"
BIN=$(dirname "$ESTC")/test_number
if ! command -v localedef >/dev/null || ! localedef -i de_DE -f UTF-8 "$SCRATCH/de_DE.UTF-8" >/dev/null 2>&1; then
    echo "number_locale: localedef cannot make de_DE.UTF-8 here; test_number still runs with any installed ',' locale"
    finish
    exit
fi
check "numbers read the same under de_DE.UTF-8" env LOCPATH="$SCRATCH" ESTC_TEST_LOCALE=de_DE.UTF-8 "$BIN"
finish

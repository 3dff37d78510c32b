# `cmake --install` gives a usable libestc: a C program built with pkg-config
# only, and a CMake project using find_package(estc), both open the census
# model, train it a little and evaluate it through the public API; and the
# installed estc command finds its LLVM module and compiles.
. "$(dirname "$0")/testlib.bash"
BUILD=$(dirname "$ESTC")
P=$SCRATCH/prefix
# a sanitizer build installs an instrumented library: its users must be built the same way
SAN=""
if ldd "$ESTC" 2>/dev/null | grep -q libasan; then SAN="-fsanitize=address,undefined"; export ASAN_OPTIONS=detect_leaks=0; fi
check "cmake --install into a prefix" cmake --install "$BUILD" --prefix "$P"
cat > "$SCRATCH/use.c" <<'C'
#include <estc/estc.h>
#include <stdio.h>
#include <string.h>
int main(int argc, char **argv)
{
    estc_open_options o;
    estc_open_options_init(&o);
    o.model_dir = argv[2];
    o.steps = 50;
    estc_status st;
    estc_model *m = estc_model_open(argv[1], &o, &st);
    if (!m) { fprintf(stderr, "open: %s\n", st.message); return 1; }
    estc_train_result r;
    if (estc_train(m, NULL, &r, &st) != 0) { fprintf(stderr, "train: %s\n", st.message); return 1; }
    estc_metrics mt;
    if (estc_evaluate(m, &mt, &st) != 0) { fprintf(stderr, "evaluate: %s\n", st.message); return 1; }
    for (int i = 0; i < mt.n; i++) if (!strcmp(mt.name[i], "accuracy")) printf("accuracy %.4f\n", mt.value[i]);
    estc_model_free(m);
    return 0;
}
C
export PKG_CONFIG_PATH="$P/lib/pkgconfig"
check "pkg-config knows estc" pkg-config --exists estc
check "a C program builds with pkg-config's flags alone" \
    cc $SAN -o "$SCRATCH/use" "$SCRATCH/use.c" $(pkg-config --cflags --libs estc)
out=$(LD_LIBRARY_PATH="$P/lib" "$SCRATCH/use" examples/census/linear.est "$SCRATCH/m1")
echo "pkg-config program: $out"
check "the program trains and evaluates through the installed library" \
    awk -v a="${out#accuracy }" 'BEGIN { exit !(a > 0.75) }'
mkdir -p "$SCRATCH/proj"
cp "$SCRATCH/use.c" "$SCRATCH/proj/use.c"
cat > "$SCRATCH/proj/CMakeLists.txt" <<'C'
cmake_minimum_required(VERSION 3.20)
project(use_estc C)
find_package(estc REQUIRED)
add_executable(use use.c)
target_link_libraries(use PRIVATE estc::estc)
C
check "find_package(estc) configures" cmake -S "$SCRATCH/proj" -B "$SCRATCH/proj/build" -DCMAKE_PREFIX_PATH="$P" -Wno-dev -DCMAKE_BUILD_TYPE=Release -DCMAKE_C_FLAGS="$SAN"
check "and builds" cmake --build "$SCRATCH/proj/build"
out=$(LD_LIBRARY_PATH="$P/lib" "$SCRATCH/proj/build/use" examples/census/linear.est "$SCRATCH/m2")
echo "find_package program: $out"
check "the CMake-built program runs" awk -v a="${out#accuracy }" 'BEGIN { exit !(a > 0.75) }'
# the installed command finds its LLVM module (lib/estc/) and compiles
check "the LLVM module is installed" test -f "$P/lib/estc/libestc-llvm.so"
check "the installed estc compiles" env ESTC_CACHE_DIR="$SCRATCH/cache" "$P/bin/estc" compile examples/census/linear.est --no-cache
finish

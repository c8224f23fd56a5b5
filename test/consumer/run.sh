#!/bin/sh
# Consume pyconc the ways a user does, from a scratch directory.
# usage: run.sh add_subdirectory|find_package|pkg_config|plain_cc|readme_quickstart|readme_pipe|readme_shared|
#               static
# env: CC, CMAKE, SRC (the pyconc checkout), WORK (a scratch directory),
#      CXX (the C++ compiler for README's C++ quick start; default g++)
# Exit 77 (a skip) when a tool the way needs is not installed.
set -eu
way=$1
here=$(cd "$(dirname "$0")" && pwd)
dir="$WORK/$way"
rm -rf "$dir"; mkdir -p "$dir"; cd "$dir"
cp "$here/main.c" main.c

project() {   # the body of a consumer's CMakeLists.txt
    cat > CMakeLists.txt <<EOT
cmake_minimum_required(VERSION 3.16)
project(consumer C)
$1
add_executable(consumer main.c)
target_link_libraries(consumer PRIVATE pyconc::pyconc)
EOT
}

install_pyconc() {   # configure pyconc alone and install it under $dir/prefix
    "$CMAKE" -S "$SRC" -B pyconc-build -DPYCONC_BUILD_TESTS=OFF \
        -DPYCONC_BUILD_BENCH=OFF -DPYCONC_BUILD_EXAMPLES=OFF -DPYCONC_INSTALL=ON >/dev/null
    "$CMAKE" --install pyconc-build --prefix "$dir/prefix" >/dev/null
    test -f prefix/include/pyconc.h
}

readme_block() {   # the first ```LANG block after the line <!-- MARKER --> in README.md
    awk -v marker="<!-- $1 -->" -v lang="$2" '
        $0 == marker {on=1; next}
        on && $0 == "```" lang {code=1; next}
        code && /^```/ {exit}
        code {print}' "$SRC/README.md"
}

run_bounded() {   # a README program that hangs is a failure, not a stuck test
    if command -v timeout >/dev/null 2>&1; then timeout 60 "$@"; else "$@"; fi
}

hello_static() {   # compiler flags...: hello bob linked statically, run under every method
    comp=$1; shift
    command -v "$comp" >/dev/null 2>&1 || { echo "SKIP $comp $*: not installed"; return 0; }
    if ! "$comp" -O2 "$@" -I "$SRC" "$here/hello_bob.c" -o hello -pthread -ldl 2>link.err; then
        if grep -qi 'cannot find -l\|static-pie' link.err; then
            echo "SKIP $comp $*: no static C library here"; return 0
        fi
        cat link.err; echo "FAIL $comp $*: does not build"; return 1
    fi
    for method in fork spawn forkserver; do
        got=$(run_bounded ./hello "$method" 2>&1) || true
        if [ "$got" != "hello bob" ]; then
            echo "FAIL $comp $* ($method): $got"; return 1
        fi
        echo "ok   $comp $* ($method)"
    done
    statics=$((statics + 1))
}

case $way in
add_subdirectory)
    project "add_subdirectory(\"$SRC\" pyconc)"
    "$CMAKE" -S . -B build -DCMAKE_C_COMPILER="$CC" >/dev/null
    "$CMAKE" --build build >/dev/null
    ./build/consumer ;;
find_package)
    install_pyconc
    project "find_package(pyconc 0.1 CONFIG REQUIRED)"
    "$CMAKE" -S . -B build -DCMAKE_C_COMPILER="$CC" -DCMAKE_PREFIX_PATH="$dir/prefix" >/dev/null
    "$CMAKE" --build build >/dev/null
    ./build/consumer ;;
plain_cc)
    "$CC" -pthread -I "$SRC" main.c -o consumer
    ./consumer ;;
pkg_config)
    # The installed pyconc.pc gives every flag a plain cc build needs, and
    # its version is the header's PYCONC_VERSION.
    command -v pkg-config >/dev/null 2>&1 \
        || { echo "SKIP: pkg-config is not installed"; exit 77; }
    install_pyconc
    pc=$(find prefix -name pyconc.pc)
    test -n "$pc" || { echo "no pyconc.pc was installed"; exit 1; }
    test -f prefix/share/doc/pyconc/LICENSE || { echo "LICENSE was not installed"; exit 1; }
    PKG_CONFIG_PATH=$(dirname "$pc"); export PKG_CONFIG_PATH
    "$CC" main.c $(pkg-config --cflags --libs pyconc) -o consumer
    ./consumer
    printf '#include "pyconc.h"\n#include <stdio.h>\nint main(void) { puts(PYCONC_VERSION); }\n' \
        > version.c
    "$CC" version.c $(pkg-config --cflags --libs pyconc) -o version
    header=$(./version); pcver=$(pkg-config --modversion pyconc)
    echo "PYCONC_VERSION $header, pkg-config --modversion $pcver"
    test "$header" = "$pcver" ;;
static)
    # Static and static-pie programs on glibc and musl start children with
    # every method: functions are found through the loader's list of
    # objects, which a static program has too (object 0).
    statics=0
    hello_static "$CC" -static
    hello_static "$CC" -static-pie -fPIE
    hello_static musl-gcc -static
    hello_static musl-gcc -static-pie -fPIE
    [ "$statics" -gt 0 ] || { echo "SKIP: no static C library to link with"; exit 77; } ;;
readme_quickstart)
    # The C and the C++ quick start, exactly as written.
    readme_block quickstart c > quickstart.c
    test -s quickstart.c || { echo "README has no quick start block"; exit 1; }
    "$CC" -Wall -Wextra -pthread -I "$SRC" quickstart.c -o quickstart
    ./quickstart
    readme_block quickstart-cpp cpp > quickstart.cpp
    test -s quickstart.cpp || { echo "README has no C++ quick start block"; exit 1; }
    cxx=${CXX:-g++}
    command -v "$cxx" >/dev/null 2>&1 || { echo "SKIP: $cxx is not installed"; exit 77; }
    "$cxx" -std=c++17 -Wall -Wextra -Werror -pthread -I "$SRC" quickstart.cpp -o quickstart_cpp
    ./quickstart_cpp ;;
readme_pipe)
    # The Pipe example runs to its end: it reads until end of file.
    readme_block pipe-example c > pipe.c
    test -s pipe.c || { echo "README has no Pipe example block"; exit 1; }
    "$CC" -Wall -Wextra -pthread -I "$SRC" pipe.c -o pipe -ldl
    run_bounded ./pipe ;;
readme_shared)
    # The shared-state example runs and prints what Python's does.
    readme_block shared-example c > shared.c
    test -s shared.c || { echo "README has no shared-state example block"; exit 1; }
    "$CC" -Wall -Wextra -Werror -pthread -I "$SRC" shared.c -o shared -ldl
    run_bounded ./shared > shared.out
    cat shared.out
    printf '3.1415927\n[0, -1, -2, -3, -4, -5, -6, -7, -8, -9]\n' | cmp - shared.out ;;
*)
    echo "unknown way: $way"; exit 2 ;;
esac

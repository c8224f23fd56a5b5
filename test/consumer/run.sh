#!/bin/sh
# Consume pyconc the ways a user does, from a scratch directory.
# usage: run.sh add_subdirectory|find_package|plain_cc|readme_quickstart
# env: CC, CMAKE, SRC (the pyconc checkout), WORK (a scratch directory)
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

case $way in
add_subdirectory)
    project "add_subdirectory(\"$SRC\" pyconc)"
    "$CMAKE" -S . -B build -DCMAKE_C_COMPILER="$CC" >/dev/null
    "$CMAKE" --build build >/dev/null
    ./build/consumer ;;
find_package)
    "$CMAKE" -S "$SRC" -B pyconc-build -DPYCONC_BUILD_TESTS=OFF \
        -DPYCONC_BUILD_BENCH=OFF -DPYCONC_BUILD_EXAMPLES=OFF -DPYCONC_INSTALL=ON >/dev/null
    "$CMAKE" --install pyconc-build --prefix "$dir/prefix" >/dev/null
    test -f prefix/include/pyconc.h
    project "find_package(pyconc 0.1 CONFIG REQUIRED)"
    "$CMAKE" -S . -B build -DCMAKE_C_COMPILER="$CC" -DCMAKE_PREFIX_PATH="$dir/prefix" >/dev/null
    "$CMAKE" --build build >/dev/null
    ./build/consumer ;;
plain_cc)
    "$CC" -pthread -I "$SRC" main.c -o consumer
    ./consumer ;;
readme_quickstart)
    # The first C block after the "quick start" marker, exactly as written.
    awk '/<!-- quickstart -->/ {on=1; next}
         on && /^```c/ {code=1; next}
         code && /^```/ {exit}
         code {print}' "$SRC/README.md" > quickstart.c
    test -s quickstart.c || { echo "README has no quick start block"; exit 1; }
    "$CC" -Wall -Wextra -pthread -I "$SRC" quickstart.c -o quickstart
    ./quickstart ;;
*)
    echo "unknown way: $way"; exit 2 ;;
esac

#!/bin/sh
# The install rules install the five headers and nothing else: a copy of the
# tree with a stray pyconc_stray.h beside them is configured and installed.
# env: CMAKE, SRC (the pyconc checkout), WORK (a scratch directory)
set -eu
headers="pyconc.h pyconc_futures.h pyconc_process.h pyconc_queue.h pyconc_sched.h"
rm -rf "$WORK"; mkdir -p "$WORK/src"
cp "$SRC/CMakeLists.txt" "$SRC/LICENSE" "$WORK/src/"
cp -R "$SRC/cmake" "$WORK/src/"
for h in $headers; do cp "$SRC/$h" "$WORK/src/"; done
echo "#error not a pyconc header" > "$WORK/src/pyconc_stray.h"
"$CMAKE" -S "$WORK/src" -B "$WORK/build" -DPYCONC_BUILD_TESTS=OFF -DPYCONC_BUILD_BENCH=OFF \
    -DPYCONC_BUILD_EXAMPLES=OFF -DPYCONC_INSTALL=ON >/dev/null
"$CMAKE" --install "$WORK/build" --prefix "$WORK/prefix" >/dev/null
got=$(cd "$WORK/prefix/include" && LC_ALL=C ls | tr '\n' ' ' | sed 's/ $//')
rm -rf "$WORK"
if [ "$got" != "$headers" ]; then
    echo "installed headers: $got"
    echo "expected:          $headers"
    exit 1
fi
echo "ok: installed $got"

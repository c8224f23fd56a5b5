#!/bin/sh
# Each header's implementation in a TU of its own, then all five in one TU,
# compiled (not linked) at one optimisation level with -Wall -Wextra
# -Wpedantic -Werror, as C11 and as C++17: the flow warnings
# (maybe-uninitialized, glibc's fortified string and format checks) appear
# only when the optimiser inlines, so a release build meets warnings a
# debug build never shows.
# usage: optimized.sh LEVEL CC [CXX]   (LEVEL: O2, O3...; exit 77 when CC
# is not installed). O2 builds with -D_FORTIFY_SOURCE=3, as distributions
# build packages; O3 without, as CMake's Release does (fortify changes what
# the optimiser inlines, so the two see different code).
set -u
level=$1; cc=$2; cxx=${3:-}
here=$(cd "$(dirname "$0")" && pwd); top=$(cd "$here/../.." && pwd)
command -v "$cc" >/dev/null 2>&1 || { echo "SKIP: $cc is not installed"; exit 77; }
out=$(mktemp -d); trap 'rm -rf "$out"' EXIT
flags="-$level -Wall -Wextra -Wpedantic -Werror -I$top"
case $level in O2) flags="$flags -U_FORTIFY_SOURCE -D_FORTIFY_SOURCE=3" ;; esac
fail=0
# One TU per header, then all of them in one (PYCONC_ALL_IMPLEMENTATION):
# there one header's functions inline into another's, another flow.
for h in "$top"/pyconc.h "$top"/pyconc_*.h all; do
    if [ "$h" = all ]; then
        name=all
        { echo '#define PYCONC_ALL_IMPLEMENTATION'
          for i in "$top"/pyconc.h "$top"/pyconc_*.h; do echo "#include \"$(basename "$i")\""; done
        } > "$out/$name.c"
    else
        [ -f "$h" ] || continue
        name=$(basename "$h" .h)
        macro=$(echo "$name" | tr a-z A-Z)_IMPLEMENTATION
        printf '#define %s\n#include "%s.h"\n' "$macro" "$name" > "$out/$name.c"
    fi
    for comp in "$cc -std=c11" ${cxx:+"$cxx -std=c++17 -x c++"}; do
        if $comp $flags -c "$out/$name.c" -o "$out/$name.o" 2>"$out/$name.err"; then
            echo "ok   $name implementation ($comp -$level)"
        else
            echo "FAIL $name implementation ($comp $flags)"; cat "$out/$name.err"; fail=1
        fi
    done
done
exit $fail

#!/bin/sh
# Build every header as C11 and C++17 with -Wall -Wextra -Wpedantic -Werror:
# implementation in one TU with declarations in a second, and the whole in
# one TU with PYCONC_STATIC; then run what was built.
# usage: matrix.sh CC [CXX]   (exit 77 when CC is not installed)
set -u
cc=$1; cxx=${2:-}
here=$(cd "$(dirname "$0")" && pwd); top=$(cd "$here/../.." && pwd)
command -v "$cc" >/dev/null 2>&1 || { echo "SKIP: $cc is not installed"; exit 77; }
out=$(mktemp -d); trap 'rm -rf "$out"' EXIT
flags="-Wall -Wextra -Wpedantic -Werror -I$top -I$here"
libs="-pthread -lm -ldl"
fail=0
build() {   # name compiler std sources...
    name=$1; comp=$2; std=$3; shift 3
    if $comp $std $flags "$@" -o "$out/$name" $libs 2>"$out/$name.err" \
       && "$out/$name"; then
        echo "ok   $name ($comp $std)"
    else
        echo "FAIL $name ($comp $std)"; cat "$out/$name.err"; fail=1
    fi
}
build c11-two-tus "$cc" -std=c11 "$here/impl.c" "$here/decl.c"
build c11-static "$cc" -std=c11 "$here/static.c"
build gnu11-two-tus "$cc" -std=gnu11 "$here/impl.c" "$here/decl.c"
build c11-no-futex "$cc" "-std=c11 -DPYCONC_NO_FUTEX" "$here/impl.c" "$here/decl.c"
# Each header's own implementation in a TU of its own, as a user who splits
# them across files builds it (compile only: pyconc.h's is elsewhere).
for h in "$top"/pyconc_*.h; do
    [ -f "$h" ] || continue
    name=$(basename "$h" .h)
    macro=$(echo "$name" | tr a-z A-Z)_IMPLEMENTATION
    printf '#define %s\n#include "%s.h"\n' "$macro" "$name" > "$out/$name-alone.c"
    for comp in "$cc -std=c11" ${cxx:+"$cxx -std=c++17 -x c++"}; do
        if $comp $flags -c "$out/$name-alone.c" -o "$out/$name-alone.o" 2>"$out/$name.err"; then
            echo "ok   $name implementation alone ($comp)"
        else
            echo "FAIL $name implementation alone ($comp)"; cat "$out/$name.err"; fail=1
        fi
    done
done
# A system header before the implementation: glibc fixes its feature set
# there. Each header must then compile, or stop at its own #error that says
# what to do (pyconc_process.h needs GNU calls; the others only POSIX, so in
# the gnu modes they must compile). C++ compilers predefine _GNU_SOURCE.
first() {   # name compiler std must_compile headers...
    name=$1; comp=$2; std=$3; must=$4; shift 4
    { echo '#include <stdio.h>'; echo '#define PYCONC_ALL_IMPLEMENTATION'
      for h in "$@"; do echo "#include \"$h\""; done
      echo 'int main(void) { return 0; }'; } > "$out/$name.c"
    if $comp $std $flags -c "$out/$name.c" -o "$out/$name.o" 2>"$out/$name.err"; then
        echo "ok   $name ($comp $std): compiles"
    elif [ "$must" = no ] && grep -q 'was included before this implementation' "$out/$name.err" \
         && ! grep 'error' "$out/$name.err" \
              | grep -qv 'was included before\|-D_GNU_SOURCE\|errors\{0,1\} generated'; then
        echo "ok   $name ($comp $std): stops at pyconc's #error"
    else
        echo "FAIL $name ($comp $std)"; cat "$out/$name.err"; fail=1
    fi
}
for std in -std=gnu11 -std=gnu17 -std=c11; do
    case $std in *gnu*) must=yes ;; *) must=no ;; esac
    first "sysfirst-posix${std#-std=}" "$cc" "$std" "$must" pyconc_queue.h pyconc_futures.h pyconc_sched.h
    first "sysfirst-all${std#-std=}" "$cc" "$std" no pyconc_process.h pyconc_futures.h
done
if [ -n "$cxx" ]; then
    first sysfirst-cxx17 "$cxx" "-std=c++17 -x c++" yes pyconc_process.h pyconc_futures.h \
        pyconc_queue.h pyconc_sched.h
    build cxx17-two-tus "$cxx" -std=c++17 "$here/impl.cc" "$here/decl.cc"
    build cxx17-static "$cxx" -std=c++17 "$here/static.cc"
fi
exit $fail

# The bootstrap trust cases of test_process need a shared object that
# leaves a mark when loaded and a small program built with the
# implementation (installed set-user-ID root in a temporary directory by
# the test); their paths reach the test as macros.
add_library(pct_marker SHARED ${CMAKE_CURRENT_SOURCE_DIR}/helpers/marker_lib.c)
target_compile_options(pct_marker PRIVATE -Wall -Wextra)
pyconc_test_program(pct_setuid_probe ${CMAKE_CURRENT_SOURCE_DIR}/helpers/setuid_probe.c)
add_dependencies(test_process pct_marker pct_setuid_probe)
target_compile_definitions(test_process PRIVATE
    PCT_MARKER_LIB="$<TARGET_FILE:pct_marker>"
    PCT_SETUID_PROBE="$<TARGET_FILE:pct_setuid_probe>")

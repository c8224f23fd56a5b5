# Default thread names show the target's symbol, which dladdr finds only in
# a program that exports its functions (-rdynamic).
set_target_properties(test_threading test_threading_nofutex PROPERTIES ENABLE_EXPORTS ON)

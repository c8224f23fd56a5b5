# The same cases over the portable wait queue (mutex + condvar buckets) that
# non-Linux systems use: every wait in pyconc_futures.h goes through it.
pyconc_test_program(test_futures_nofutex ${src})
target_compile_definitions(test_futures_nofutex PRIVATE PYCONC_NO_FUTEX=1)
pyconc_register_cases(test_futures_nofutex ${src} futures_nofutex)

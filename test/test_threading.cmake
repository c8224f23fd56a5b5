# The same cases over the portable wait queue (mutex + condvar buckets) that
# non-Linux systems use, so that path is tested here too.
pyconc_test_program(test_threading_nofutex ${src})
target_compile_definitions(test_threading_nofutex PRIVATE PYCONC_NO_FUTEX=1)
pyconc_register_cases(test_threading_nofutex ${src} threading_nofutex)

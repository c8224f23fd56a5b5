# test_shared_memory's interop cases run python3's multiprocessing.shared_memory
# as the other side: the system's /usr/bin/python3 first, else any on PATH.
find_program(PYCONC_TEST_SYSTEM_PYTHON3 python3 PATHS /usr/bin NO_DEFAULT_PATH)
find_program(PYCONC_TEST_PYTHON3 python3)
set(pyconc_shm_python ${PYCONC_TEST_SYSTEM_PYTHON3})
if(NOT pyconc_shm_python)
    set(pyconc_shm_python ${PYCONC_TEST_PYTHON3})
endif()
if(NOT pyconc_shm_python)
    set(pyconc_shm_python "")
endif()
target_compile_definitions(test_shared_memory PRIVATE
    PCT_PYTHON3="${pyconc_shm_python}"
    PCT_SHM_PEER_SCRIPT="${CMAKE_CURRENT_SOURCE_DIR}/py/shared_memory_peer.py")

# test_connection's interop cases run python3 (and, where one is found, a
# Python >= 3.12 for the "{sha256}" form of the handshake) as the peer.
find_program(PYCONC_TEST_PYTHON3 python3)
set(pyconc_modern_python "")
foreach(candidate IN ITEMS python3.14 python3.13 python3.12)
    find_program(pyconc_found_${candidate} ${candidate})
    if(pyconc_found_${candidate})
        list(APPEND pyconc_modern_python ${pyconc_found_${candidate}})
    endif()
endforeach()
file(GLOB pyconc_pyenv_pythons $ENV{HOME}/.pyenv/versions/3.1[2-9]*/bin/python3)
list(APPEND pyconc_modern_python ${pyconc_pyenv_pythons})
list(JOIN pyconc_modern_python ":" pyconc_modern_python)
target_compile_definitions(test_connection PRIVATE
    PCT_PYTHON3="${PYCONC_TEST_PYTHON3}"
    PCT_MODERN_PYTHONS="${pyconc_modern_python}"
    PCT_PEER_SCRIPT="${CMAKE_CURRENT_SOURCE_DIR}/py/connection_peer.py")

/* pyconc_process.h - v0.1.0 - Python's multiprocessing process model for C.
   (being written: Process with fork/spawn/forkserver, argument pack)
*/
#if defined(PYCONC_PROCESS_IMPLEMENTATION) || defined(PYCONC_ALL_IMPLEMENTATION)
#if !defined(_GNU_SOURCE) && !defined(__cplusplus)
#define _GNU_SOURCE 1
#endif
#endif

#include "pyconc.h"
#if PYCONC_VERSION_MAJOR != 0
#error "pyconc_process.h needs pyconc.h version 0"
#endif

// >>connection (declarations: staging/connection.h)
#include "staging/connection.h"

#ifndef PYCONC_PROCESS_H
#define PYCONC_PROCESS_H
#endif // PYCONC_PROCESS_H

#if defined(PYCONC_ALL_IMPLEMENTATION) && !defined(PYCONC_PROCESS_IMPLEMENTATION)
#define PYCONC_PROCESS_IMPLEMENTATION
#endif

#if defined(PYCONC_PROCESS_IMPLEMENTATION) && !defined(PYCONC_PROCESS_IMPLEMENTATION_DONE)
#define PYCONC_PROCESS_IMPLEMENTATION_DONE
// >>connection (implementation: staging/connection.h)
#include "staging/connection.h"
#endif // PYCONC_PROCESS_IMPLEMENTATION

/* Licence: MIT or public domain, as pyconc.h (see the end of that file). */

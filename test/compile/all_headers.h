/* Every pyconc header there is, for the compile matrix. */
#include "pyconc.h"
#if __has_include("pyconc_queue.h")
#include "pyconc_queue.h"
#endif
#if __has_include("pyconc_futures.h")
#include "pyconc_futures.h"
#endif
#if __has_include("pyconc_process.h")
#include "pyconc_process.h"
#endif
#if __has_include("pyconc_sched.h")
#include "pyconc_sched.h"
#endif

/* pyconc_futures.h - v0.1.0 - Python's concurrent.futures for C, as one header.

   Do this:
       #define PYCONC_FUTURES_IMPLEMENTATION
   before you include this file in *one* C or C++ file to create the
   implementation (that file, or another one, also needs
   PYCONC_IMPLEMENTATION for pyconc.h). Include it before any system header,
   or compile that file with -D_GNU_SOURCE (see pyconc.h).

       // in exactly one file
       #define PYCONC_IMPLEMENTATION
       #define PYCONC_FUTURES_IMPLEMENTATION
       #include "pyconc_futures.h"

   Everywhere else just #include "pyconc_futures.h". Link with -pthread.
   PYCONC_ALL_IMPLEMENTATION switches on every included pyconc header.

   LICENSE: see the end of pyconc.h.

   TABLE OF CONTENTS
   =================
   Declarations:
     api.future       pc_future: states, result, done callbacks, references
     api.executor     the pc_executor interface: submit, shutdown, free
     api.map          pc_executor_map and its iterator
     api.thread_pool  ThreadPoolExecutor: pc_thread_pool_new
     api.wait         pc_futures_wait and as_completed
     api.remote       internal: what a process pool needs to run map chunks
   Implementation (behind PYCONC_FUTURES_IMPLEMENTATION):
     implementation   includes
     future           the future: state moves, callbacks, waiters, result
     thread_pool      the pool: queue, workers, registry, exit and fork
     deadlock         a worker waiting on its own pool's queued future
     executor         the interface's calls, for any executor
     map              map: chunks, a bounded window of submits, the iterator
     wait             wait(): a waiter node on each future
     as_completed     as_completed(): the same nodes, handed out as done
   Each section starts at its marker `// >>name` (grep for "// >>").

   CONFIGURATION
   =============
   PYCONC_FUTURES_IMPLEMENTATION  default: undefined. Compile the
                           implementation into this file.
   PYCONC_ALL_IMPLEMENTATION      default: undefined. The implementation
                           of pyconc.h and of every pyconc header included.
   Everything pyconc.h accepts (PYCONC_STATIC, PYCONC_API, PYCONC_MALLOC,
   PYCONC_FREE, PYCONC_ASSERT, PYCONC_NO_FUTEX ...), with its defaults there.

   OVERVIEW
   ========
   Every name of Python's concurrent.futures, for threads, by one rule:

       Python                                  C
       ThreadPoolExecutor(max_workers=4)       pc_thread_pool_new(&(pc_thread_pool_desc){
                                                   .max_workers = 4 })
       f = ex.submit(fn, arg)                  pc_executor_submit(ex, fn, arg, &f)
       f.result(timeout=2)                     pc_future_result(f, 2, &out)
       f.add_done_callback(cb)                 pc_future_add_done_callback(f, cb, ctx)
       for r in ex.map(fn, items,              pc_executor_map(ex, fn, &(pc_map_desc){
                       chunksize=8): ...           .items = items, .count = n,
                                                   .item_size = size, .chunksize = 8 }, &it);
                                               while (pc_map_iter_next(it, &r) == PC_OK) ...
       for f in as_completed(fs): ...          pc_futures_as_completed(fs, n, PC_FOREVER, &ac);
                                               while (pc_as_completed_next(ac, &f) == PC_OK) ...
       wait(fs, 1, FIRST_EXCEPTION)            pc_futures_wait(fs, n, 1, PC_FIRST_EXCEPTION, ...)
       ex.shutdown(wait=True)                  pc_executor_shutdown(ex, 1, 0)

   A task is `void *fn(void *arg)`: its return value is the future's result;
   it raises by calling pc_raise(code, fmt, ...) before it returns.
   Futures are reference counted (pc_future_retain / pc_future_release).
   pc_executor is an interface (a vtable) that the thread pool implements
   and that a process pool or your own executor can implement too.
   ProcessPoolExecutor is pc_process_pool_new, in pyconc_process.h (part F,
   which includes this header): its tasks follow the same interface, with
   arguments and results crossing by copy.

   A complete program (submit a call, print its result):

       #define PYCONC_IMPLEMENTATION
       #define PYCONC_FUTURES_IMPLEMENTATION
       #include "pyconc_futures.h"
       #include <stdio.h>

       static void *square(void *arg) {
           long n = *(long *)arg;
           return (void *)(n * n);
       }

       int main(void) {
           pc_thread_pool_desc desc = {0};
           desc.max_workers = 2;
           pc_executor *ex = pc_thread_pool_new(&desc);
           pc_future *f;
           long n = 12;
           void *out;
           if (!ex || pc_executor_submit_copy(ex, square, &n, sizeof n, &f)) return 1;
           if (pc_future_result(f, PC_FOREVER, &out) != PC_OK) return 1;
           printf("12 squared is %ld\n", (long)out);
           pc_future_release(f);
           pc_executor_free(ex);
           return 0;
       }

   THREAD SAFETY
   =============
   Every function may be called from any thread. A future passed to a
   function must be kept referenced by the caller for the call's duration.
   A map or as_completed iterator is one thread's at a time (as a Python
   generator). Free a map iterator before its executor. A pool's workers
   do not exist in a fork()ed child: make new pools there. The parent's
   pools are left out of the child's exit handling; do not submit to one
   there (its queued futures never run). pc_executor_free on one in the
   child returns at once.

   At exit (exit() or a return from main), as in Python, every pool runs
   the work already queued, even without a shutdown, and its workers are
   joined; submits from then on get PC_SHUTDOWN.

   ERRORS
   ======
   Fallible calls return PC_OK (0) or a PC_* code; pc_last_error() tells
   why. A future's result() returns the task's own code (and leaves the
   task's message in pc_last_error) when the task raised.

   BEYOND PYTHON
   =============
   - Deadlock detection: a pool worker that waits without timeout on a
     future still queued in its own pool, while every worker of the
     (full-size) pool is doing the same, gets PC_RUNTIME instead of hanging
     (the classic 1-worker "wait on a future submitted from a task").
   - cancel() is seen by wait() and as_completed() at once (Python waits for
     the executor to notice the cancel).
   - map() has Python 3.14's buffersize, and chunksize batches items per
     task for threads too (Python ignores chunksize for threads).
   - pc_futures_wait returns PC_TIMEOUT when the condition was not met in
     time (its outputs are filled either way, as Python's return value).
*/
#if defined(PYCONC_FUTURES_IMPLEMENTATION) || defined(PYCONC_ALL_IMPLEMENTATION)
#if !defined(_GNU_SOURCE) && !defined(__cplusplus)
#define _GNU_SOURCE 1
#endif
// glibc fixes its feature set at the first system header: one included
// before this point without _GNU_SOURCE hides the POSIX.1-2008 calls used here.
#if defined(__GLIBC__) && !defined(__USE_XOPEN2K8)
#error "pyconc_futures.h: a system header was included before this implementation without"
#error "_GNU_SOURCE: include pyconc_futures.h first in this file, or compile it with -D_GNU_SOURCE"
#define PYCONC_FUTURES_IMPLEMENTATION_DONE  // skip the implementation: one clear error
#endif
#endif

#include "pyconc.h"

#if PYCONC_VERSION_MAJOR != 0
#error "pyconc_futures.h needs pyconc.h version 0.x"
#endif

#ifndef PYCONC_FUTURES_H
#define PYCONC_FUTURES_H

#ifdef __cplusplus
extern "C" {
#endif

// >>api.future
/* The outcome of a call that may not have happened yet.
   Python: concurrent.futures.Future */
typedef struct pc_future pc_future;

/* A future's state. Python: futures._base.PENDING ... FINISHED */
typedef enum pc_future_state {
    PC_FUTURE_PENDING = 0,
    PC_FUTURE_RUNNING = 1,
    PC_FUTURE_CANCELLED = 2,
    PC_FUTURE_FINISHED = 3
} pc_future_state;

/* Called once the future is done (finished or cancelled). To report a
   failure, call pc_raise(): it is printed to stderr and ignored. */
typedef void (*pc_future_callback)(pc_future *f, void *ctx);

/* Make a pending future (one reference). For executors and tests.
   Returns NULL on failure (PC_NOMEM).  Python: Future() */
PYCONC_API pc_future *pc_future_new(void);
/* Take another reference. Returns f. */
PYCONC_API pc_future *pc_future_retain(pc_future *f);
/* Drop a reference; the last one frees the future. NULL is ignored. */
PYCONC_API void pc_future_release(pc_future *f);

/* Cancel the call if it has not started. Returns 1 if the future is (now)
   cancelled, 0 if it is running or finished.  Python: Future.cancel */
PYCONC_API int pc_future_cancel(pc_future *f);
/* Python: Future.cancelled, Future.running, Future.done (1 or 0) */
PYCONC_API int pc_future_cancelled(const pc_future *f);
PYCONC_API int pc_future_running(const pc_future *f);
PYCONC_API int pc_future_done(const pc_future *f);
/* The current state (a snapshot); PC_FUTURE_PENDING for NULL. */
PYCONC_API pc_future_state pc_future_get_state(const pc_future *f);

/* Wait up to timeout seconds for the result; *out_result (may be NULL)
   gets the task's return value.
   Returns: PC_OK, PC_TIMEOUT, PC_CANCELLED, the task's exception code
   (message in pc_last_error), PC_VALUE, PC_RUNTIME (a certain deadlock, see
   BEYOND PYTHON).  Blocks: yes.  Python: Future.result */
PYCONC_API int pc_future_result(pc_future *f, double timeout, void **out_result);
/* Wait up to timeout seconds for the future to finish, then give the
   task's exception: *out_code (PC_OK when it raised none) and *out_message
   ("" when none; valid while you hold a reference). Either may be NULL.
   Returns: PC_OK, PC_TIMEOUT, PC_CANCELLED, PC_VALUE, PC_RUNTIME.
   Blocks: yes.  Python: Future.exception */
PYCONC_API int pc_future_exception(pc_future *f, double timeout, int *out_code,
                                   const char **out_message);
/* Call fn(f, ctx) when f is done, in the order added; at once (in this
   thread) when it is done already. Callbacks run in the thread that
   completes or cancels the future.
   Returns: PC_OK, PC_VALUE, PC_NOMEM.  Python: Future.add_done_callback */
PYCONC_API int pc_future_add_done_callback(pc_future *f, pc_future_callback fn, void *ctx);

/* For executors: mark the future running, unless it was cancelled.
   Returns: PC_OK (now running), PC_CANCELLED (skip the call),
   PC_RUNTIME (already running or finished).
   Python: Future.set_running_or_notify_cancel */
PYCONC_API int pc_future_set_running_or_notify_cancel(pc_future *f);
/* Finish with a result. Returns: PC_OK, PC_INVALID_STATE (already done),
   PC_VALUE.  Python: Future.set_result */
PYCONC_API int pc_future_set_result(pc_future *f, void *result);
/* Finish with an exception: code (not PC_OK) and a printf-style message.
   Returns: PC_OK, PC_INVALID_STATE (already done), PC_VALUE.
   Python: Future.set_exception */
PYCONC_API int pc_future_set_exception(pc_future *f, int code, const char *fmt, ...)
    PC__PRINTF(3, 4);
/* For executors: set running (unless cancelled), call fn(arg), and finish
   the future with its return value or its pc_raise().
   Returns: PC_OK (it ran), PC_CANCELLED (it was cancelled), PC_RUNTIME,
   PC_VALUE.  Python: thread._WorkItem.run */
PYCONC_API int pc_future_run(pc_future *f, pc_task_fn fn, void *arg);

// >>api.executor
typedef struct pc_executor pc_executor;

/* What an executor implements. Embed pc_executor as the first member of
   your own struct and point it at a static vtable. */
typedef struct pc_executor_vtable {
    /* Schedule fn(arg). When arg_size > 0, copy arg_size bytes at arg and
       pass the copy; 0 passes arg as is. Store a new reference in
       *out_future (never NULL). Return PC_OK or a code (PC_SHUTDOWN after
       shutdown, PC_BROKEN, PC_NOMEM ...), with pc_last_error set.
       Run the call through pc_future_run (or call it only after
       pc_future_set_running_or_notify_cancel returned PC_OK): a cancelled
       future's call must never run, and map frees a chunk's memory as soon
       as its future is cancelled. */
    int (*submit)(pc_executor *ex, pc_task_fn fn, const void *arg, size_t arg_size,
                  pc_future **out_future);
    /* Stop taking work; see pc_executor_shutdown. */
    int (*shutdown)(pc_executor *ex, int wait, int cancel_futures);
    /* Shut down if not done yet (waiting), then release the executor. */
    void (*free)(pc_executor *ex);
} pc_executor_vtable;

/* The interface every executor begins with. Python: Executor */
struct pc_executor {
    const pc_executor_vtable *vtable;
};

/* Schedule fn(arg) (arg passed as is); *out_future (may be NULL when you
   do not need it) gets a new reference to release.
   Returns: PC_OK, PC_SHUTDOWN, PC_BROKEN, PC_VALUE, PC_NOMEM, PC_OS.
   Python: Executor.submit */
PYCONC_API int pc_executor_submit(pc_executor *ex, pc_task_fn fn, void *arg,
                                  pc_future **out_future);
/* As submit, but copy arg_size bytes of arg first (the task gets the copy,
   which lives as long as the future). Returns: as submit. */
PYCONC_API int pc_executor_submit_copy(pc_executor *ex, pc_task_fn fn, const void *arg,
                                       size_t arg_size, pc_future **out_future);
/* Stop accepting tasks. wait: block until every queued task has run and
   the workers have ended. cancel_futures: cancel the tasks that have not
   started. Returns: PC_OK, PC_VALUE, PC_RUNTIME (wait from one of the
   executor's own workers: it is shut down but not waited for).
   Blocks: when wait.  Python: Executor.shutdown */
PYCONC_API int pc_executor_shutdown(pc_executor *ex, int wait, int cancel_futures);
/* Release the executor. If it was not shut down, shut down first with
   wait=1 (Python's `with` block; wait=0 when called from one of its own
   workers). After shutdown(wait=0) this returns at once; the workers
   finish the queued tasks and then release what is left. NULL is ignored. */
PYCONC_API void pc_executor_free(pc_executor *ex);

// >>api.map
/* The results of pc_executor_map, in input order. */
typedef struct pc_map_iter pc_map_iter;

/* One array of a map over several (Python's map(fn, *iterables)); its
   fields mean what pc_map_desc's items, count and item_size mean. */
typedef struct pc_map_input {
    const void *items;
    size_t count;
    size_t item_size;
} pc_map_input;

/* A lazy input: put the next item in out_item (item_size bytes, or one
   void * when item_size is 0) and return PC_OK; PC_EOF at the end; any
   other code (pc_raise for a message) is an exception at that item. It
   runs only in the thread that calls pc_executor_map / pc_map_iter_next.
   Python: the generator passed to Executor.map */
typedef int (*pc_map_next_fn)(void *ctx, void *out_item);

/* What pc_executor_map maps over, and Python's keywords. The zero value
   of each field is Python's default. The input is one of three: items
   and count (one array), inputs (several arrays), or next (lazy). */
typedef struct pc_map_desc {
    const void *items;          // the items (NULL only when count is 0); not copied:
                                //   keep them until pc_map_iter_free
    size_t count;               // how many items; 0: none (an empty iteration)
    size_t item_size;           // > 0: items is an array of count items of item_size
                                //   bytes and fn gets a pointer to each one;
                                //   0: items is an array of count pointers, fn gets each
    double timeout;             // seconds, counted from the map call, for every result;
                                //   0 or PC_FOREVER: no limit (Python's None)
    size_t chunksize;           // items per task; 0: 1 (Python's default); more than
                                //   count: count
    size_t buffersize;          // tasks submitted and not yet consumed; 0: no limit
                                //   (Python 3.14's None)
    const pc_map_input *inputs; // several arrays (copied, their items not): fn gets a
                                //   `void **` with one item pointer per array, and the
                                //   map stops at the shortest; NULL: items is the input
    size_t ninputs;             // how many inputs (>= 1 when inputs is set)
    pc_map_next_fn next;        // a lazy input, pulled as buffersize allows (with 0,
                                //   all of it during the map call, as Python); items
                                //   are copied (item_size bytes, or pointers when 0)
    void *next_ctx;             // passed to next
} pc_map_desc;

/* Call fn on each item of desc through ex and iterate the results in
   input order: `pc_executor_map(ex, fn, &(pc_map_desc){ .items = in,
   .count = n, .item_size = sizeof *in, .chunksize = 8 }, &it)`. An
   executor that refuses the first task fails the call; one that refuses a
   later task fails the iteration when it reaches that item. With next, an
   exception from next while this call fills the first buffersize tasks
   fails the call (as Python's map() raises it); a later one ends the
   iteration at its item, after the results before it.
   Returns: PC_OK, PC_SHUTDOWN, PC_BROKEN, PC_VALUE (NULL desc, NULL items
   with a count, NaN timeout, inputs with 0 ninputs, more than one of
   items / inputs / next), next's code, PC_NOMEM, PC_OS.
   Python: Executor.map(fn, *iterables, timeout, chunksize, buffersize) */
PYCONC_API int pc_executor_map(pc_executor *ex, pc_task_fn fn, const pc_map_desc *desc,
                               pc_map_iter **out_iter);
/* Wait for the next result. After an exception, a timeout or the end the
   iterator is finished and the tasks not yet started are cancelled.
   Returns: PC_OK, PC_EOF (no more results: Python's StopIteration), the
   task's exception code (message in pc_last_error), PC_TIMEOUT,
   PC_CANCELLED, PC_VALUE. A result a process pool copied back (its
   result_size) stays valid until the next call or pc_map_iter_free.
   Blocks: yes.  Python: next(map_iterator) */
PYCONC_API int pc_map_iter_next(pc_map_iter *it, void **out_result);
/* Cancel what has not started, wait for the tasks still running (they use
   the items), and free the iterator. Call it before freeing the executor.
   NULL is ignored. */
PYCONC_API void pc_map_iter_free(pc_map_iter *it);

// >>api.thread_pool
typedef struct pc_thread_pool_desc {
    int max_workers;                // 0: min(32, pc_process_cpu_count() + 4)
    const char *thread_name_prefix; // workers are "<prefix>_N"; NULL: "ThreadPoolExecutor-K"
    pc_target_fn initializer;       // run first in each worker; failing (non-zero or
                                    // pc_raise) breaks the pool; NULL: none
    void *initarg;                  // passed to initializer
} pc_thread_pool_desc;

/* Make a pool of up to max_workers threads, started as work arrives (an
   idle worker is reused before a new one starts). desc may be NULL.
   Returns NULL on failure (PC_VALUE, PC_NOMEM).
   Python: ThreadPoolExecutor(max_workers, thread_name_prefix, initializer, initargs) */
PYCONC_API pc_executor *pc_thread_pool_new(const pc_thread_pool_desc *desc);

// >>api.wait
/* When pc_futures_wait returns. Python: FIRST_COMPLETED ... ALL_COMPLETED */
enum {
    PC_FIRST_COMPLETED = 1,
    PC_FIRST_EXCEPTION = 2,
    PC_ALL_COMPLETED = 3
};

/* Wait for the n futures fs (duplicates count once) until return_when is
   met or timeout seconds pass. The done ones go to out_done, the others to
   out_not_done (each may be NULL; room for n; borrowed pointers, first
   occurrences in fs order); *out_ndone, *out_nnot_done get the counts.
   FIRST_EXCEPTION with no exception behaves as ALL_COMPLETED.
   Returns: PC_OK (condition met), PC_TIMEOUT (not met; outputs filled),
   PC_VALUE, PC_NOMEM.  Blocks: yes.  Python: concurrent.futures.wait */
PYCONC_API int pc_futures_wait(pc_future *const *fs, size_t n, double timeout, int return_when,
                               pc_future **out_done, size_t *out_ndone,
                               pc_future **out_not_done, size_t *out_nnot_done);

/* Iterates futures as they complete. */
typedef struct pc_as_completed pc_as_completed;

/* Iterate the n futures fs as they complete: those already done first,
   duplicates once. timeout counts from this call (PC_FOREVER: no limit).
   The iterator holds a reference to each future.
   Returns: PC_OK, PC_VALUE, PC_NOMEM.  Python: concurrent.futures.as_completed */
PYCONC_API int pc_futures_as_completed(pc_future *const *fs, size_t n, double timeout,
                                       pc_as_completed **out_iter);
/* Wait for the next completed future; *out_future is borrowed (valid until
   pc_as_completed_free).
   Returns: PC_OK, PC_EOF (all yielded), PC_TIMEOUT ("k (of n) futures
   unfinished"; calling again waits no more), PC_VALUE.  Blocks: yes. */
PYCONC_API int pc_as_completed_next(pc_as_completed *it, pc_future **out_future);
/* Free the iterator and its references. NULL is ignored. */
PYCONC_API void pc_as_completed_free(pc_as_completed *it);

// >>api.remote
/* Internal, for executors that run tasks in other processes (the process
   pool of pyconc_process.h). A map chunk as data: the user's function, its
   items (item_size 0: count pointers), the count slots for the results,
   and where to store how many returned before one raised. */
typedef struct pc__f_chunk_view {
    pc_task_fn fn;
    const void *items;
    size_t item_size, count;
    void **results;
    size_t *ok;
} pc__f_chunk_view;
/* 1 and *out filled when fn(arg) is one of pc_executor_map's chunks whose
   items are one array, -1 for a zipped map's chunk (its fn takes pointers
   into this process's arrays), 0 when fn(arg) is not a chunk. */
PYCONC_API int pc__f_map_chunk_view(pc_task_fn fn, void *arg, pc__f_chunk_view *out);
/* A pending future with extra bytes behind it (*out_extra, 16-aligned),
   freed with the future: a result copied from another process lives there.
   Returns NULL on failure (PC_NOMEM). */
PYCONC_API pc_future *pc__f_future_new_extra(size_t extra, void **out_extra);

#ifdef __cplusplus
}
#endif

#endif // PYCONC_FUTURES_H

// ---------------------------------------------------------------------------
// >>implementation
#if defined(PYCONC_ALL_IMPLEMENTATION) && !defined(PYCONC_FUTURES_IMPLEMENTATION)
#define PYCONC_FUTURES_IMPLEMENTATION
#endif

#if defined(PYCONC_FUTURES_IMPLEMENTATION) && !defined(PYCONC_FUTURES_IMPLEMENTATION_DONE)
#define PYCONC_FUTURES_IMPLEMENTATION_DONE

#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PC__F_SEQ __ATOMIC_SEQ_CST

// >>future
struct pc__f_node;

// 64 bytes on LP64: the future is also the executor's work item (fn, arg,
// next), so a pending submit is this one slot of its pool's cache (plus
// the copied arg, then a block of its own). What a future rarely has lives
// behind hooks: done callbacks, and the nodes of whoever waits on it.
struct pc_future {
    uint32_t state;             // pc_future_state
    uint32_t refs;              // references, and PC__F_SLOT: a slot of owner's cache
    pc_lock lock;               // guards hooks and every move to a done state
    int code;                   // the exception's code (PC_OK: none)
    union {                     // by code: PC_OK has a result, any other a message
        void *result;
        char *message;          // the exception's message (heap) or NULL
    } out;
    struct pc__f_node *hooks;   // callbacks (in the order added) and waiters' nodes
    pc_future *next;            // the executor's queue link; a free slot's link
    pc_task_fn fn;              // the call, for executors
    void *arg;
    void *owner;                // the cache (pc__f_cache) of the executor that made it, or NULL
};
#define PC__F_SLOT 0x80000000u  // in refs: the future is a slot of its pool's cache
#define PC__F_REFS 0x7fffffffu

// A waiter shared by the futures one result()/wait()/as_completed() watches,
// as CPython's _Waiter: each future holds a node that points back to it.
typedef struct pc__f_waiter {
    pc__evc evc;                // notified on every completion; sleepers wait on it
    uint32_t pending;           // watched futures not yet done
    uint32_t finished;          // completions seen
    uint32_t excepted;          // ... of which raised
    struct pc__f_node *done;    // nodes of done futures, newest first
} pc__f_waiter;

// One of a future's hooks: a waiter's node, or (w NULL) a done callback's.
typedef struct pc__f_node {
    struct pc__f_node *next;    // in the future's hooks
    pc__f_waiter *w;            // the waiter; NULL: a callback (heap, freed once run)
    union {
        struct {
            struct pc__f_node *done_next; // in the waiter's done stack
            pc_future *f;
        } wait;
        struct {
            pc_future_callback fn;
            void *ctx;
        } call;
    } u;
} pc__f_node;

static int pc__f_wait_done(pc_future *f, double timeout);

static pc_future *pc__f_alloc(size_t extra) {
    // The copied argument follows the future, aligned for any type.
    size_t head = (sizeof(pc_future) + 15) & ~(size_t)15;
    if (extra > (size_t)-1 - head) {
        pc__error(PC_NOMEM, "argument of %zu bytes is too large", extra);
        return NULL;
    }
    pc_future *f = (pc_future *)pc__malloc(extra ? head + extra : sizeof(pc_future));
    if (!f) return NULL;
    memset(f, 0, sizeof *f);
    f->refs = 1;
    return f;
}

static void *pc__f_extra(pc_future *f) {
    return (char *)f + ((sizeof(pc_future) + 15) & ~(size_t)15);
}

// A cache of future slots, shared by the executors (the thread pool's
// futures, the process pool's with its task record behind each): blocks
// of slots kept for reuse, as GLib's slab. Its owner takes a slot under a
// lock of its own; the last release of the future gives the slot back
// from any thread (a lock-free push); the blocks are freed only once the
// owner is gone and the last slot is back, so a future may outlive its
// executor. A take empties the released stack all at once (an exchange),
// never pops one from it: so no slot is popped while another thread
// reuses it (no ABA).
#define PC__F_BLOCK 64          // slots per block: 4 KiB of bare 64-byte futures
#define PC__F_CLOSED ((pc_future *)(uintptr_t)1)   // freed, once the owner is gone

typedef struct pc__f_cache {
    pc_future *freed;           // released slots (any thread); PC__F_CLOSED: owner gone
    pc_future *spare;           // slots a take hands out (the owner's lock)
    void **blocks;              // [cap]: the blocks, for the last free (the owner's lock)
    size_t nblocks, cap;
    size_t slot;                // bytes a slot: a future, then `extra` bytes (pc__f_extra)
    int64_t out;                // once closed: the slots not back yet, counted down
    void (*gone)(struct pc__f_cache *c); // closed and every slot back: frees c's holder
    // The owner's own wait for one of its futures (NULL: none), tried by
    // result() and exception() before they sleep: PC_OK (done), PC_TIMEOUT,
    // or PC__F_UNWAITED (sleep as usual). It may complete futures itself
    // (the process pool's waiting thread collects results): `done`, when
    // set, is notified on every completion of the cache's futures, so such
    // a waiter also hears of one it did not make (a cancel).
    int (*wait)(struct pc__f_cache *c, pc_future *f, double deadline, double timeout);
    int wait_at_once;           // result()'s spin skipped: wait looks while awake itself,
                                //   and on one CPU a spin holds off the task's runner
    pc__evc *done;
    void *ctx;                  // the owner's, for wait (NULL once the owner is gone)
    int64_t users;              // threads in wait: the owner's end waits for them
} pc__f_cache;
#define PC__F_UNWAITED (-1)

// A cache whose slots have extra bytes after the future (0: a bare future).
static void pc__f_cache_init(pc__f_cache *c, size_t extra, void (*gone)(pc__f_cache *)) {
    size_t head = (sizeof(pc_future) + 15) & ~(size_t)15;
    memset(c, 0, sizeof *c);
    c->slot = extra ? (head + extra + 15) & ~(size_t)15 : sizeof(pc_future);
    c->gone = gone;
}

// A thread in the owner's wait hook pins the owner: enter gives ctx
// (NULL once the owner is going) and counts the thread in users until it
// leaves; the owner, going, clears ctx and waits for users to reach 0
// (pc__f_cache_unhook), so no thread is left reading it.
static inline void *pc__f_cache_enter(pc__f_cache *c) {
    __atomic_add_fetch(&c->users, 1, __ATOMIC_SEQ_CST);
    return __atomic_load_n(&c->ctx, __ATOMIC_SEQ_CST);
}

static inline void pc__f_cache_leave(pc__f_cache *c) {
    __atomic_sub_fetch(&c->users, 1, __ATOMIC_SEQ_CST);
}

static inline void pc__f_cache_unhook(pc__f_cache *c) {
    __atomic_store_n(&c->ctx, (void *)NULL, __ATOMIC_SEQ_CST);
    while (__atomic_load_n(&c->users, __ATOMIC_SEQ_CST)) pc_sleep(0.0001);
    c->done = NULL;
}

// A free slot, its future zeroed with one reference (the owner's lock
// held), or NULL (PC_NOMEM). Its extra bytes are as the last user left them.
static pc_future *pc__f_slot_take(pc__f_cache *c) {
    pc_future *f = c->spare;
    if (!f) f = __atomic_exchange_n(&c->freed, (pc_future *)NULL, __ATOMIC_ACQUIRE);
    if (!f) {
        if (pc__grow(&c->blocks, &c->cap, c->nblocks + 1, sizeof *c->blocks, 0)) return NULL;
        unsigned char *block = (unsigned char *)pc__malloc(PC__F_BLOCK * c->slot);
        if (!block) return NULL;
        c->blocks[c->nblocks++] = block;
        for (int i = 0; i < PC__F_BLOCK; i++) {
            pc_future *s = (pc_future *)(void *)(block + (size_t)i * c->slot);
            s->next = i + 1 < PC__F_BLOCK ? (pc_future *)(void *)(block + (i + 1) * c->slot)
                                          : NULL;
        }
        f = (pc_future *)(void *)block;
    }
    c->spare = f->next;
    memset(f, 0, sizeof *f);
    f->refs = 1 | PC__F_SLOT;
    f->owner = c;
    return f;
}

static void pc__f_cache_free_blocks(pc__f_cache *c) {
    for (size_t i = 0; i < c->nblocks; i++) pc__free(c->blocks[i]);
    pc__free(c->blocks);
    c->blocks = NULL;
    c->nblocks = c->cap = 0;
}

// The last release of a slot's future: back to the cache, or, once the
// owner is gone, one fewer to wait for (the last one frees the cache).
static void pc__f_slot_free(pc_future *f) {
    pc__f_cache *c = (pc__f_cache *)f->owner;
    pc_future *top = __atomic_load_n(&c->freed, __ATOMIC_RELAXED);
    for (;;) {
        if (top == PC__F_CLOSED) {
            if (__atomic_sub_fetch(&c->out, 1, __ATOMIC_ACQ_REL) == 0) c->gone(c);
            return;
        }
        f->next = top;
        // Release: the take that hands f out again sees it whole.
        if (__atomic_compare_exchange_n(&c->freed, &top, f, 1, __ATOMIC_RELEASE,
                                        __ATOMIC_RELAXED))
            return;
    }
}

// The owner is gone: count the slots still out; the last of them (or this,
// when none is) calls gone. Slot releases before the exchange were pushed
// and are counted here; those after it count themselves down.
static void pc__f_cache_close(pc__f_cache *c) {
    int64_t back = 0;
    pc_future *f = __atomic_exchange_n(&c->freed, PC__F_CLOSED, __ATOMIC_ACQ_REL);
    for (; f; f = f->next) back++;
    for (f = c->spare; f; f = f->next) back++;
    int64_t out = (int64_t)c->nblocks * PC__F_BLOCK - back;
    if (__atomic_add_fetch(&c->out, out, __ATOMIC_ACQ_REL) == 0) c->gone(c);
}

PYCONC_API pc_future *pc_future_new(void) { return pc__f_alloc(0); }

PYCONC_API pc_future *pc__f_future_new_extra(size_t extra, void **out_extra) {
    pc_future *f = pc__f_alloc(extra);
    if (f && out_extra) *out_extra = extra ? pc__f_extra(f) : NULL;
    return f;
}

PYCONC_API pc_future *pc_future_retain(pc_future *f) {
    if (f) __atomic_add_fetch(&f->refs, 1, __ATOMIC_RELAXED);
    return f;
}

// Callbacks never run (the future was dropped pending) are freed with it.
static void pc__f_free_hooks(pc__f_node *n) {
    while (n) {
        pc__f_node *next = n->next;
        if (!n->w) pc__free(n);
        n = next;
    }
}

PYCONC_API void pc_future_release(pc_future *f) {
    if (!f) return;
    uint32_t r = __atomic_sub_fetch(&f->refs, 1, __ATOMIC_ACQ_REL);
    if (r & PC__F_REFS) return;
    pc__f_free_hooks(f->hooks);
    if (f->state == PC_FUTURE_FINISHED && f->code != PC_OK) pc__free(f->out.message);
    if (r & PC__F_SLOT) pc__f_slot_free(f);
    else pc__free(f);
}

static uint32_t pc__f_state(const pc_future *f) {
    return __atomic_load_n(&f->state, __ATOMIC_ACQUIRE);
}

PYCONC_API int pc_future_cancelled(const pc_future *f) {
    return f && pc__f_state(f) == PC_FUTURE_CANCELLED;
}
PYCONC_API int pc_future_running(const pc_future *f) {
    return f && pc__f_state(f) == PC_FUTURE_RUNNING;
}
PYCONC_API int pc_future_done(const pc_future *f) {
    return f && pc__f_state(f) >= PC_FUTURE_CANCELLED;
}
PYCONC_API pc_future_state pc_future_get_state(const pc_future *f) {
    return f ? (pc_future_state)pc__f_state(f) : PC_FUTURE_PENDING;
}

// Tell every waiter node of f that f is done, and hand back its callbacks'
// nodes, in the order added, to run once the lock is released. Runs with
// f->lock held, which is also what a waiter takes to detach, so no waiter
// is freed meanwhile.
static pc__f_node *pc__f_notify_hooks(pc_future *f, int excepted) {
    pc__f_node *n = f->hooks, *next, *calls = NULL, **tail = &calls;
    f->hooks = NULL;
    for (; n; n = next) {
        next = n->next;
        pc__f_waiter *w = n->w;
        if (!w) {
            *tail = n;
            tail = &n->next;
            continue;
        }
        pc__f_node *top = __atomic_load_n(&w->done, __ATOMIC_RELAXED);
        do n->u.wait.done_next = top;
        while (!__atomic_compare_exchange_n(&w->done, &top, n, 1, PC__F_SEQ, __ATOMIC_RELAXED));
        if (excepted) __atomic_add_fetch(&w->excepted, 1, PC__F_SEQ);
        __atomic_add_fetch(&w->finished, 1, PC__F_SEQ);
        __atomic_sub_fetch(&w->pending, 1, PC__F_SEQ);
        pc__evc_notify(&w->evc, INT32_MAX);
    }
    *tail = NULL;
    return calls;
}

// Run callbacks taken from a done future, in order. A callback "fails" by
// pc_raise(); that is reported and ignored, and a raise pending in the
// calling thread before the callbacks survives them.
static void pc__f_call(pc_future *f, pc_future_callback fn, void *ctx) {
    char msg[256];
    fn(f, ctx);
    int code = pc__exception_take(msg, sizeof msg);
    if (code) {
        fprintf(stderr, "exception calling callback for future %p: %s: %s\n", (void *)f,
                pc__exception_name(code), msg);
        fflush(stderr);
    }
}

// Run and free the callback nodes calls; or, when calls is NULL, fn(f, ctx).
static void pc__f_run_callbacks(pc_future *f, pc__f_node *calls, pc_future_callback fn,
                                void *ctx) {
    char saved[256];
    int saved_code = pc__exception_take(saved, sizeof saved);
    if (!calls) pc__f_call(f, fn, ctx);
    while (calls) {
        pc__f_node *next = calls->next;
        pc__f_call(f, calls->u.call.fn, calls->u.call.ctx);
        pc__free(calls);
        calls = next;
    }
    if (saved_code) pc_raise(saved_code, "%s", saved);
}

// Move f to a done state (FINISHED or CANCELLED) and wake everyone. The
// caller holds a reference, so f outlives the wake-ups and callbacks.
// Returns 0 when f was already done.
static int pc__f_complete(pc_future *f, uint32_t to, void *result, int code, char *msg) {
    pc_lock_acquire(&f->lock, PC_FOREVER);
    uint32_t s = __atomic_load_n(&f->state, __ATOMIC_RELAXED);
    for (;;) {
        if (s >= PC_FUTURE_CANCELLED || (to == PC_FUTURE_CANCELLED && s != PC_FUTURE_PENDING)) {
            pc_lock_release(&f->lock);
            return 0;
        }
        f->code = code;
        if (code != PC_OK) f->out.message = msg;
        else f->out.result = result;
        // A CAS: set_running_or_notify_cancel moves PENDING to RUNNING
        // without the lock. Sequentially consistent, as the event count
        // a waiter sleeps on asks (pyconc.h, >>internal).
        if (__atomic_compare_exchange_n(&f->state, &s, to, 0, PC__F_SEQ, __ATOMIC_RELAXED)) break;
    }
    pc__f_node *calls = f->hooks ? pc__f_notify_hooks(f, code != PC_OK) : NULL;
    pc_lock_release(&f->lock);
    if (__atomic_load_n(&f->refs, __ATOMIC_RELAXED) & PC__F_SLOT) {
        pc__f_cache *c = (pc__f_cache *)f->owner;
        if (c->done) pc__evc_notify(c->done, INT32_MAX);
    }
    if (calls) pc__f_run_callbacks(f, calls, NULL, NULL);
    return 1;
}

PYCONC_API int pc_future_cancel(pc_future *f) {
    if (!f) return 0;
    uint32_t s = pc__f_state(f);
    if (s == PC_FUTURE_CANCELLED) return 1;
    if (s != PC_FUTURE_PENDING) return 0;
    if (pc__f_complete(f, PC_FUTURE_CANCELLED, NULL, PC_OK, NULL)) return 1;
    return pc__f_state(f) == PC_FUTURE_CANCELLED;
}

PYCONC_API int pc_future_set_running_or_notify_cancel(pc_future *f) {
    if (!f) return pc__error(PC_VALUE, "future is NULL");
    uint32_t s = PC_FUTURE_PENDING;
    if (__atomic_compare_exchange_n(&f->state, &s, (uint32_t)PC_FUTURE_RUNNING, 0,
                                    __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE))
        return PC_OK;
    if (s == PC_FUTURE_CANCELLED) return pc__error(PC_CANCELLED, "future was cancelled");
    return pc__error(PC_RUNTIME, "Future in unexpected state");
}

static int pc__f_finish(pc_future *f, void *result, int code, const char *msg) {
    char *copy = NULL;
    if (code != PC_OK) copy = pc__strdup(msg && msg[0] ? msg : pc_strerror(code));
    if (pc__f_complete(f, PC_FUTURE_FINISHED, result, code, copy)) return PC_OK;
    pc__free(copy);
    return pc__error(PC_INVALID_STATE, "future is already %s",
                     pc_future_cancelled(f) ? "cancelled" : "finished");
}

PYCONC_API int pc_future_set_result(pc_future *f, void *result) {
    if (!f) return pc__error(PC_VALUE, "future is NULL");
    return pc__f_finish(f, result, PC_OK, NULL);
}

PYCONC_API int pc_future_set_exception(pc_future *f, int code, const char *fmt, ...) {
    char msg[256];
    if (!f) return pc__error(PC_VALUE, "future is NULL");
    if (code == PC_OK) return pc__error(PC_VALUE, "an exception needs a code other than PC_OK");
    msg[0] = '\0';
    if (fmt) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(msg, sizeof msg, fmt, ap);
        va_end(ap);
    }
    return pc__f_finish(f, NULL, code, msg);
}

// The call half of pc_future_run: mark f running (unless cancelled) and
// call fn; the caller finishes f with *out_result, *out_code and msg.
static int pc__f_invoke(pc_future *f, pc_task_fn fn, void *arg, void **out_result,
                        int *out_code, char *msg, size_t cap) {
    int rc = pc_future_set_running_or_notify_cancel(f);
    if (rc) return rc;
    pc__exception_take(NULL, 0);
    void *result = fn(arg);
    *out_code = pc__exception_take(msg, cap);
    *out_result = *out_code ? NULL : result;
    return PC_OK;
}

PYCONC_API int pc_future_run(pc_future *f, pc_task_fn fn, void *arg) {
    char msg[256];
    void *result;
    int code;
    if (!f || !fn) return pc__error(PC_VALUE, "future or task function is NULL");
    int rc = pc__f_invoke(f, fn, arg, &result, &code, msg, sizeof msg);
    if (rc) return rc;
    pc__f_finish(f, result, code, msg);
    return PC_OK;
}

PYCONC_API int pc_future_add_done_callback(pc_future *f, pc_future_callback fn, void *ctx) {
    if (!f || !fn) return pc__error(PC_VALUE, "future or callback is NULL");
    pc__f_node *n = (pc__f_node *)pc__malloc(sizeof *n);
    if (!n) return PC_NOMEM;
    n->next = NULL;
    n->w = NULL;
    n->u.call.fn = fn;
    n->u.call.ctx = ctx;
    pc_lock_acquire(&f->lock, PC_FOREVER);
    if (pc__f_state(f) < PC_FUTURE_CANCELLED) {
        pc__f_node **pp = &f->hooks;    // after the callbacks added before it
        while (*pp) pp = &(*pp)->next;
        *pp = n;
        pc_lock_release(&f->lock);
        return PC_OK;
    }
    pc_lock_release(&f->lock);
    pc__free(n);
    pc__f_run_callbacks(f, NULL, fn, ctx);
    return PC_OK;
}

// The code and message a done future gives result(): its exception, or
// PC_CANCELLED, with pc_last_error set to match.
static int pc__f_outcome(pc_future *f) {
    if (pc__f_state(f) == PC_FUTURE_CANCELLED)
        return pc__error(PC_CANCELLED, "future was cancelled");
    if (f->code != PC_OK) return pc__error(f->code, "%s", f->out.message ? f->out.message : "");
    return PC_OK;
}

PYCONC_API int pc_future_result(pc_future *f, double timeout, void **out_result) {
    if (out_result) *out_result = NULL;
    if (!f) return pc__error(PC_VALUE, "future is NULL");
    int rc = pc__f_wait_done(f, timeout);
    if (rc) return rc;
    rc = pc__f_outcome(f);
    if (rc == PC_OK && out_result) *out_result = f->out.result;
    return rc;
}

PYCONC_API int pc_future_exception(pc_future *f, double timeout, int *out_code,
                                   const char **out_message) {
    if (out_code) *out_code = PC_OK;
    if (out_message) *out_message = "";
    if (!f) return pc__error(PC_VALUE, "future is NULL");
    int rc = pc__f_wait_done(f, timeout);
    if (rc) return rc;
    if (pc__f_state(f) == PC_FUTURE_CANCELLED)
        return pc__error(PC_CANCELLED, "future was cancelled");
    if (out_code) *out_code = f->code;
    if (out_message && f->code != PC_OK && f->out.message) *out_message = f->out.message;
    return PC_OK;
}

// >>thread_pool
// The pool's futures are slots of its cache (>>future), a 64-byte future each.

typedef struct pc__f_tpool {
    pc_executor base;           // first: the interface
    uint32_t refs;              // the user's handle + one per live worker
    pc_lock lock;               // guards everything below
    pc_future *head, *tail;     // queued work, linked through pc_future.next; head is
                                // written atomically for idle workers' unlocked peek
    pc__evc idle;               // idle workers park on it (every step under lock)
    uint32_t parked;            // workers between their prepare and leave on idle
    int searching;              // a worker watches the empty queue before it parks
    int waking;                 // a wake is on its way: a parked worker will look
    int idle_tokens;            // Python's _idle_semaphore
    int max_workers, nthreads;  // nthreads: workers started
    int shutdown, broken;
    int handle_freed;           // pc_executor_free was called (fork: who frees it)
    int orphan;                 // left behind by fork(): not in the registry
    // Both grow as workers start (pc__f_tpool_grow), to max_workers at most.
    pc_thread **threads;        // [threads_cap]
    pc_future **waiting_on;     // [waiting_cap]: what each worker waits for (deadlock check)
    size_t threads_cap, waiting_cap;
    char *prefix;
    pc_target_fn initializer;
    void *initarg;
    pc__link reg;               // in pc__f_pools
    pc__f_cache cache;          // the futures' slots
} pc__f_tpool;

// The worker's own pool and index, for the deadlock check and for a
// shutdown(wait) from inside the pool.
static PC__TLS pc__f_tpool *pc__f_tls_pool;
static PC__TLS int pc__f_tls_worker;

// Every live pool, so that at exit the workers finish the queue, end and
// are joined.
static pc_lock pc__f_pools_lock = PC_LOCK_INIT;
static pc__list pc__f_pools = PC__LIST_INIT;
static uint32_t pc__f_pools_exiting, pc__f_pools_atexit, pc__f_pool_counter;

// Wake every parked worker (lock held; shutdown, a broken pool, exit). A
// worker looks at those flags under the lock before it parks, so the ones
// announced on the event count are all there is to wake.
static void pc__f_tpool_wake_all(pc__f_tpool *p) { pc__evc_notify(&p->idle, INT32_MAX); }

static void pc__f_tpool_release(pc__f_tpool *p);
static int pc__f_tpool_join(pc__f_tpool *p);

// Take a reference unless the count is already 0 (the pool is being freed
// by its last worker, which waits for pc__f_pools_lock to leave the registry).
static int pc__f_tpool_retain_live(pc__f_tpool *p) {
    uint32_t r = __atomic_load_n(&p->refs, __ATOMIC_RELAXED);
    while (r && !__atomic_compare_exchange_n(&p->refs, &r, r + 1, 1, __ATOMIC_ACQ_REL,
                                             __ATOMIC_RELAXED)) {
    }
    return r != 0;
}

// At exit, as Python's _python_exit: wake every pool's workers (they run
// what is queued, then end) and join them, so that no thread is left
// unjoined (the threads' phase, which runs next, only waits for live ones).
// The pools are retained, not locked, while joined: a worker that frees its
// pool takes pc__f_pools_lock.
static void pc__f_pools_at_exit(void) {
    __atomic_store_n(&pc__f_pools_exiting, 1u, __ATOMIC_RELEASE);
    pc_lock_acquire(&pc__f_pools_lock, PC_FOREVER);
    size_t n = 0, k = 0;
    for (pc__link *l = pc__f_pools.head; l; l = l->next) n++;
    pc__f_tpool **live = (pc__f_tpool **)pc__malloc(n * sizeof *live);
    for (pc__link *l = pc__f_pools.head; l; l = l->next) {
        pc__f_tpool *p = PC__CONTAINER(l, pc__f_tpool, reg);
        pc_lock_acquire(&p->lock, PC_FOREVER);
        pc__f_tpool_wake_all(p);
        pc_lock_release(&p->lock);
        if (live && pc__f_tpool_retain_live(p)) live[k++] = p;
    }
    pc_lock_release(&pc__f_pools_lock);
    for (size_t i = 0; i < k; i++) {
        pc__f_tpool_join(live[i]); // from a worker: its own join fails, harmlessly
        pc__f_tpool_release(live[i]);
    }
    pc__free(live);
}

// fork(): the registry must be consistent in the child, so hold its lock
// across the fork.
static void pc__f_pools_before_fork(void) { pc_lock_acquire(&pc__f_pools_lock, PC_FOREVER); }
static void pc__f_pools_after_fork_parent(void) { pc_lock_release(&pc__f_pools_lock); }

// In a forked child no worker exists, and a pool lock a worker held at the
// fork would stay held for ever: exit() would hang in pc__f_pools_at_exit.
// Python clears its registry in the child; here each pool leaves the
// registry, its lock starts free and, unless its handle was freed already
// (then it is leaked), only the handle's reference is left, so that
// pc_executor_free in the child returns at once and frees it.
static void pc__f_pools_after_fork_child(void) {
    pc__link *next;
    for (pc__link *l = pc__f_pools.head; l; l = next) {
        pc__f_tpool *p = PC__CONTAINER(l, pc__f_tpool, reg);
        next = l->next;
        l->prev = l->next = NULL;
        p->orphan = 1;
        p->lock.state = 0;
        pc__evc_init(&p->idle, 0);
        p->parked = 0;
        p->searching = p->waking = 0;
        p->idle_tokens = 0;
        if (!p->handle_freed) p->refs = 1;
    }
    pc__f_pools.head = pc__f_pools.tail = NULL;
    pc__f_pools_lock.state = 0;
    pc__f_tls_pool = NULL;      // the forking thread is no pool worker in the child
}

static void pc__f_pools_add(pc__f_tpool *p) {
    if (!__atomic_exchange_n(&pc__f_pools_atexit, 1u, __ATOMIC_ACQ_REL)) {
        // The pools' phase runs before the threads' at exit: the parked
        // workers are woken and joined before pyconc.h waits for the
        // non-daemon threads that are still alive.
        pc__hooks h;
        memset(&h, 0, sizeof h);
        h.before_fork = pc__f_pools_before_fork;
        h.after_fork_parent = pc__f_pools_after_fork_parent;
        h.after_fork_child = pc__f_pools_after_fork_child;
        h.at_exit = pc__f_pools_at_exit;
        pc__lifecycle_set(PC__PHASE_POOLS, &h);
    }
    pc_lock_acquire(&pc__f_pools_lock, PC_FOREVER);
    pc__list_push_front(&pc__f_pools, &p->reg);
    pc_lock_release(&pc__f_pools_lock);
}

static void pc__f_pools_remove(pc__f_tpool *p) {
    pc_lock_acquire(&pc__f_pools_lock, PC_FOREVER);
    if (p->orphan) {
        pc_lock_release(&pc__f_pools_lock);
        return;
    }
    pc__list_remove(&pc__f_pools, &p->reg);
    pc_lock_release(&pc__f_pools_lock);
}

static void pc__f_tpool_destroy(pc__f_cache *c) {
    pc__f_tpool *p = PC__CONTAINER(c, pc__f_tpool, cache);
    pc__f_cache_free_blocks(c);
    pc__free(p);
}

static void pc__f_tpool_release(pc__f_tpool *p) {
    if (__atomic_sub_fetch(&p->refs, 1, __ATOMIC_ACQ_REL) != 0) return;
    pc__f_pools_remove(p);
    for (int i = 0; i < p->nthreads; i++) pc_thread_free(p->threads[i]);
    pc__free(p->threads);
    pc__free(p->waiting_on);
    pc__free(p->prefix);
    pc__f_cache_close(&p->cache);
}

// Take the whole queue (lock held).
static pc_future *pc__f_tpool_take_queue(pc__f_tpool *p) {
    pc_future *all = p->head;
    __atomic_store_n(&p->head, (pc_future *)NULL, __ATOMIC_RELAXED);
    p->tail = NULL;
    return all;
}

// Fail each taken future with code (PC_BROKEN), dropping the queue's reference.
static void pc__f_tpool_fail_all(pc_future *f, int code, const char *msg) {
    while (f) {
        pc_future *next = f->next;
        pc__f_finish(f, NULL, code, msg);
        pc_future_release(f);
        f = next;
    }
}

static const char pc__f_tpool_broken_msg[] =
    "A thread initializer failed, the thread pool is not usable anymore";

// Python's _initializer_failed: the pool is broken and its queue fails.
static void pc__f_tpool_break(pc__f_tpool *p, const char *why) {
    pc_lock_acquire(&p->lock, PC_FOREVER);
    p->broken = 1;
    pc_future *queued = pc__f_tpool_take_queue(p);
    pc__f_tpool_wake_all(p);
    pc_lock_release(&p->lock);
    pc__f_tpool_fail_all(queued, PC_BROKEN, why);
}

static int pc__f_tpool_initialize(pc__f_tpool *p) {
    char msg[256];
    pc__exception_take(NULL, 0);
    int rc = p->initializer(p->initarg);
    int raised = pc__exception_take(msg, sizeof msg);
    if (!rc && !raised) return PC_OK;
    if (!raised) snprintf(msg, sizeof msg, "%s", pc_strerror(rc));
    fprintf(stderr, "Exception in initializer: %s: %s\n",
            pc__exception_name(raised ? raised : rc), msg);
    fflush(stderr);
    pc__f_tpool_break(p, pc__f_tpool_broken_msg);
    return PC_BROKEN;
}

// Wake one parked worker, unless a worker will look at the queue anyway:
// one searching it, or one woken and on its way (lock held). Returns
// whether to call pc__evc_wake after unlocking. Waking for every submit
// made 16 workers on 2 cores spend their time in futex calls and context
// switches; with this, one worker is woken at a time, and each wakes the
// next only while work is left queued behind the task it took.
static int pc__f_tpool_wake_one(pc__f_tpool *p) {
    if (p->searching || p->waking || !pc__evc_take(&p->idle, 1)) return 0;
    p->waking = 1;
    return 1;
}

// Next task, sleeping while the queue is empty; NULL when the worker should
// end. went_idle: the worker counted itself idle already (pc__f_tpool_run).
// *out_wake: wake a parked worker after unlocking (pc__f_tpool_wake_one).
// Called and returns with p->lock held.
static pc_future *pc__f_tpool_next(pc__f_tpool *p, int went_idle, int *out_wake) {
    int looked = 0;
    *out_wake = 0;
    while (!p->head) {
        if (p->shutdown || p->broken || __atomic_load_n(&pc__f_pools_exiting, __ATOMIC_ACQUIRE))
            return NULL;
        if (!went_idle) {
            p->idle_tokens++;
            went_idle = 1;
        }
        looked = 1;
        // Work often arrives within microseconds while tasks stream in: one
        // worker watches the queue a moment (no lock) before parking; the
        // others park at once rather than take the cores from it.
        if (!p->searching) {
            p->searching = 1;
            pc_lock_release(&p->lock);
            for (int spin = 0; spin < 100 && !__atomic_load_n(&p->head, __ATOMIC_RELAXED); spin++)
                pc__cpu_relax();
            pc_lock_acquire(&p->lock, PC_FOREVER);
            p->searching = 0;
            if (p->head) break;
            if (p->shutdown || p->broken ||
                __atomic_load_n(&pc__f_pools_exiting, __ATOMIC_ACQUIRE))
                return NULL;
        }
        p->parked++;
        uint32_t key = pc__evc_prepare(&p->idle);
        pc_lock_release(&p->lock);
        pc__evc_wait(&p->idle, key, INFINITY);
        pc_lock_acquire(&p->lock, PC_FOREVER);
        p->waking = 0;                          // whoever was woken has come
        pc__evc_leave(&p->idle, --p->parked);   // no stale counts for submits to wake
    }
    pc_future *f = p->head;
    __atomic_store_n(&p->head, f->next, __ATOMIC_RELAXED);
    if (!f->next) p->tail = NULL;
    else if (looked) *out_wake = pc__f_tpool_wake_one(p);
    return f;
}

// Run one task. When the queue is empty the worker counts itself idle
// before the result is published: a caller that submits again as soon as
// result() returns then finds this worker instead of starting another
// (Python counts it after, so sequential submit+result can start several).
// Returns whether it counted itself idle.
static int pc__f_tpool_run(pc__f_tpool *p, pc_future *f) {
    char msg[256];
    void *result;
    int code, idle = 0;
    if (pc__f_invoke(f, f->fn, f->arg, &result, &code, msg, sizeof msg)) return 0;
    if (!__atomic_load_n(&p->head, __ATOMIC_RELAXED)) {     // a backlog: no lock taken
        pc_lock_acquire(&p->lock, PC_FOREVER);
        if (!p->head) {
            p->idle_tokens++;
            idle = 1;
        }
        pc_lock_release(&p->lock);
    }
    pc__f_finish(f, result, code, msg);
    return idle;
}

static int pc__f_tpool_worker(void *arg) {
    pc__f_tpool *p = (pc__f_tpool *)arg;
    pc_thread *self = pc_thread_current();
    pc_lock_acquire(&p->lock, PC_FOREVER);
    for (int i = 0; i < p->nthreads; i++)
        if (p->threads[i] == self) pc__f_tls_worker = i;
    pc_lock_release(&p->lock);
    pc__f_tls_pool = p;
    if (!p->initializer || pc__f_tpool_initialize(p) == PC_OK) {
        pc_lock_acquire(&p->lock, PC_FOREVER);
        pc_future *f;
        int went_idle = 0, wake;
        while ((f = pc__f_tpool_next(p, went_idle, &wake)) != NULL) {
            pc_lock_release(&p->lock);
            if (wake) pc__evc_wake(&p->idle, 1);
            went_idle = pc__f_tpool_run(p, f);
            pc_future_release(f);
            pc_lock_acquire(&p->lock, PC_FOREVER);
        }
        pc_lock_release(&p->lock);
    }
    pc__f_tls_pool = NULL;
    pc__f_tpool_release(p);
    return 0;
}

// Make room for one more worker (lock held). The arrays grow as workers
// start: sizing them by max_workers up front made a pool with a huge
// max_workers (Python takes any) allocate and zero gigabytes.
static int pc__f_tpool_grow(pc__f_tpool *p) {
    size_t need = (size_t)p->nthreads + 1, max = (size_t)p->max_workers;
    if (pc__grow(&p->threads, &p->threads_cap, need, sizeof *p->threads, max)) return PC_NOMEM;
    if (pc__grow(&p->waiting_on, &p->waiting_cap, need, sizeof *p->waiting_on, max))
        return PC_NOMEM;
    p->waiting_on[p->nthreads] = NULL;  // grown slots are not zeroed
    return PC_OK;
}

// Start one more worker (lock held, so shutdown never races a start).
static int pc__f_tpool_spawn(pc__f_tpool *p) {
    char name[256];
    if (pc__f_tpool_grow(p)) return PC_NOMEM;
    snprintf(name, sizeof name, "%s_%d", p->prefix, p->nthreads);
    pc_thread_desc d;
    memset(&d, 0, sizeof d);
    d.target = pc__f_tpool_worker;
    d.arg = p;
    d.name = name;
    d.daemon = PC_DAEMON_NO;
    pc_thread *t = pc_thread_new(&d);
    // pc_thread_new sets the code on each of its failures (PC_NOMEM from
    // every allocation, PC_VALUE from the desc), so it is never stale here;
    // PC_NOMEM only keeps a 0 from reading as a started worker.
    if (!t) return pc_last_error_code() ? pc_last_error_code() : PC_NOMEM;
    p->threads[p->nthreads++] = t;
    __atomic_add_fetch(&p->refs, 1, __ATOMIC_RELAXED);
    int rc = pc_thread_start(t);
    if (rc) {
        p->nthreads--;
        __atomic_sub_fetch(&p->refs, 1, __ATOMIC_RELAXED);
        pc_thread_free(t);
    }
    return rc;
}

static int pc__f_tpool_closed(pc__f_tpool *p) {
    if (p->broken) return pc__error(PC_BROKEN, "%s", pc__f_tpool_broken_msg);
    if (p->shutdown) return pc__error(PC_SHUTDOWN, "cannot schedule new futures after shutdown");
    if (__atomic_load_n(&pc__f_pools_exiting, __ATOMIC_ACQUIRE))
        return pc__error(PC_SHUTDOWN, "cannot schedule new futures after interpreter shutdown");
    return PC_OK;
}

// Queue f and wake a sleeping worker, or start a new one when none is idle
// (lock held). Returns whether a wake is due after unlocking (see
// pc__f_tpool_wake_one).
static int pc__f_tpool_enqueue(pc__f_tpool *p, pc_future *f) {
    f->next = NULL;
    if (p->tail) p->tail->next = f;
    else __atomic_store_n(&p->head, f, __ATOMIC_RELAXED);
    p->tail = f;
    if (p->idle_tokens > 0) p->idle_tokens--;
    else if (p->nthreads < p->max_workers && pc__f_tpool_spawn(p) != PC_OK && p->nthreads == 0)
        return -1;
    return pc__f_tpool_wake_one(p);
}

static int pc__f_tpool_submit(pc_executor *ex, pc_task_fn fn, const void *arg, size_t arg_size,
                              pc_future **out_future) {
    pc__f_tpool *p = (pc__f_tpool *)ex;
    pc_future *f = NULL;
    if (arg_size) {             // a block of its own, the copy behind the future
        if (!(f = pc__f_alloc(arg_size))) return PC_NOMEM;
        arg = memcpy(pc__f_extra(f), arg, arg_size);
    }
    pc_lock_acquire(&p->lock, PC_FOREVER);
    int rc = pc__f_tpool_closed(p);
    if (!rc && !f && !(f = pc__f_slot_take(&p->cache))) rc = PC_NOMEM;
    if (rc) {
        pc_lock_release(&p->lock);
        pc__free(f);
        return rc;
    }
    f->refs = 2 | (f->refs & PC__F_SLOT);   // the caller's and the queue's
    f->fn = fn;
    f->arg = (void *)arg;
    f->owner = &p->cache;
    int wake = pc__f_tpool_enqueue(p, f);
    if (wake < 0) {             // no worker could start: nothing would ever run
        char why[256];
        snprintf(why, sizeof why, "can't start a worker thread: %.200s", pc_last_error());
        pc_lock_release(&p->lock);
        pc__f_tpool_break(p, why);
        pc_future_release(f);
        return pc__error(PC_OS, "%s", why);
    }
    pc_lock_release(&p->lock);
    if (wake) pc__evc_wake(&p->idle, 1);
    *out_future = f;
    return PC_OK;
}

static int pc__f_tpool_join(pc__f_tpool *p) {
    pc_lock_acquire(&p->lock, PC_FOREVER);
    int n = p->nthreads;
    pc_thread **threads = p->threads;
    pc_lock_release(&p->lock);
    // Threads are only started (and the array only grows) before shutdown
    // or exit, which precede every join: threads[0..n) is stable.
    for (int i = 0; i < n; i++) pc_thread_join(threads[i], PC_FOREVER);
    return PC_OK;
}

static int pc__f_tpool_shutdown(pc_executor *ex, int wait, int cancel_futures) {
    pc__f_tpool *p = (pc__f_tpool *)ex;
    pc_future *cancelled = NULL;
    pc_lock_acquire(&p->lock, PC_FOREVER);
    p->shutdown = 1;
    if (cancel_futures) cancelled = pc__f_tpool_take_queue(p);
    pc__f_tpool_wake_all(p);
    pc_lock_release(&p->lock);
    while (cancelled) {
        pc_future *next = cancelled->next;
        pc_future_cancel(cancelled);
        pc_future_release(cancelled);
        cancelled = next;
    }
    if (!wait) return PC_OK;
    if (pc__f_tls_pool == p)
        return pc__error(PC_RUNTIME, "cannot wait for a pool's shutdown from its own worker");
    return pc__f_tpool_join(p);
}

static void pc__f_tpool_free(pc_executor *ex) {
    pc__f_tpool *p = (pc__f_tpool *)ex;
    pc_lock_acquire(&p->lock, PC_FOREVER);
    int was_shut = p->shutdown;
    pc_lock_release(&p->lock);
    if (!was_shut) pc__f_tpool_shutdown(ex, pc__f_tls_pool != p, 0);
    pc_lock_acquire(&p->lock, PC_FOREVER);
    p->handle_freed = 1;
    pc_lock_release(&p->lock);
    pc__f_tpool_release(p);
}

static const pc_executor_vtable pc__f_tpool_vtable = {
    pc__f_tpool_submit, pc__f_tpool_shutdown, pc__f_tpool_free
};

static int pc__f_tpool_desc_defaults(const pc_thread_pool_desc *in, pc_thread_pool_desc *d) {
    memset(d, 0, sizeof *d);
    if (in) *d = *in;
    if (d->max_workers < 0) return pc__error(PC_VALUE, "max_workers must be greater than 0");
    if (d->max_workers == 0) {
        int cpus = pc_process_cpu_count() + 4;
        d->max_workers = cpus < 32 ? cpus : 32;
    }
    return PC_OK;
}

PYCONC_API pc_executor *pc_thread_pool_new(const pc_thread_pool_desc *desc) {
    pc_thread_pool_desc d;
    char auto_prefix[48];
    if (pc__f_tpool_desc_defaults(desc, &d)) return NULL;
    if (!d.thread_name_prefix || !d.thread_name_prefix[0]) {
        unsigned k = __atomic_fetch_add(&pc__f_pool_counter, 1, __ATOMIC_RELAXED);
        snprintf(auto_prefix, sizeof auto_prefix, "ThreadPoolExecutor-%u", k);
        d.thread_name_prefix = auto_prefix;
    }
    pc__f_tpool *p = (pc__f_tpool *)pc__calloc(1, sizeof *p);
    if (!p) return NULL;
    p->prefix = pc__strdup(d.thread_name_prefix);
    if (!p->prefix) {
        pc__free(p);
        return NULL;
    }
    p->base.vtable = &pc__f_tpool_vtable;
    pc__f_cache_init(&p->cache, 0, pc__f_tpool_destroy);
    p->refs = 1;
    p->max_workers = d.max_workers;
    p->initializer = d.initializer;
    p->initarg = d.initarg;
    pc__f_pools_add(p);
    return &p->base;
}

// >>deadlock
// A worker about to wait forever on a future still queued in its own pool:
// if every worker of the full-size pool is doing just that, none is left
// to run the queue, and the wait could never end.
static int pc__f_deadlock_enter(pc_future *f) {
    pc__f_tpool *p = pc__f_tls_pool;
    pc_lock_acquire(&p->lock, PC_FOREVER);
    p->waiting_on[pc__f_tls_worker] = f;
    int stuck = 0;
    if (p->nthreads == p->max_workers) {
        for (int i = 0; i < p->nthreads; i++) {
            pc_future *w = p->waiting_on[i];
            if (w && pc__f_state(w) == PC_FUTURE_PENDING) stuck++;
        }
    }
    if (stuck == p->max_workers) p->waiting_on[pc__f_tls_worker] = NULL;
    pc_lock_release(&p->lock);
    if (stuck != p->max_workers) return PC_OK;
    return pc__error(PC_RUNTIME, "deadlock: every worker of the pool waits for a task "
                                 "still queued in it");
}

static void pc__f_deadlock_leave(void) {
    pc__f_tpool *p = pc__f_tls_pool;
    pc_lock_acquire(&p->lock, PC_FOREVER);
    p->waiting_on[pc__f_tls_worker] = NULL;
    pc_lock_release(&p->lock);
}

static int pc__f_node_attach(pc__f_node *node, pc__f_waiter *w, pc_future *f, int *excepted);
static void pc__f_node_detach(pc__f_node *node);

// Sleep on a waiter of one's own, hooked onto f, until f is done or the
// deadline passes (the future keeps no event count: most are never waited
// on asleep, and those that are cost a node on the sleeper's stack).
static int pc__f_sleep_done(pc_future *f, double deadline, double timeout) {
    pc__f_waiter w;
    pc__f_node node;
    int excepted, rc = PC_OK;
    memset(&w, 0, sizeof w);
    memset(&node, 0, sizeof node);
    if (pc__f_node_attach(&node, &w, f, &excepted)) return PC_OK;
    while (__atomic_load_n(&w.pending, PC__F_SEQ) != 0) {
        uint32_t key = pc__evc_prepare(&w.evc);
        if (__atomic_load_n(&w.pending, PC__F_SEQ) == 0) break;
        if (pc__evc_wait(&w.evc, key, deadline) == PC_TIMEOUT &&
            __atomic_load_n(&w.pending, PC__F_SEQ) != 0) {
            rc = pc__error(PC_TIMEOUT, "future not done after %g s", timeout);
            break;
        }
    }
    pc__f_node_detach(&node);   // under f->lock: the notifier is done with w
    return rc;
}

// Sleep until f is done or the timeout passes.
static int pc__f_wait_done(pc_future *f, double timeout) {
    double deadline = INFINITY;
    uint32_t s = pc__f_state(f);
    if (s >= PC_FUTURE_CANCELLED) return PC_OK;
    if (pc__deadline(timeout, &deadline)) return PC_VALUE;
    if (timeout == 0) return pc__error(PC_TIMEOUT, "future not done (timeout 0)");
    pc__f_cache *c = (__atomic_load_n(&f->refs, __ATOMIC_RELAXED) & PC__F_SLOT)
                         ? (pc__f_cache *)f->owner : NULL;
    // A trivial task finishes in well under the cost of parking and being
    // woken: look again for a moment first.
    for (int spin = 0; spin < 100 && !(c && c->wait_at_once); spin++) {
        pc__cpu_relax();
        if ((s = pc__f_state(f)) >= PC_FUTURE_CANCELLED) return PC_OK;
    }
    if (c && c->wait) {
        int rc = c->wait(c, f, deadline, timeout);
        if (rc != PC__F_UNWAITED) return rc;
    }
    int guarded = deadline == INFINITY && pc__f_tls_pool &&
                  f->owner == (void *)&pc__f_tls_pool->cache && s == PC_FUTURE_PENDING;
    if (guarded && pc__f_deadlock_enter(f)) return PC_RUNTIME;
    int rc = pc__f_sleep_done(f, deadline, timeout);
    if (guarded) pc__f_deadlock_leave();
    return rc;
}

// >>executor
static int pc__f_executor_check(pc_executor *ex, pc_task_fn fn) {
    if (!ex || !ex->vtable || !ex->vtable->submit)
        return pc__error(PC_VALUE, "executor is NULL or has no submit");
    if (!fn) return pc__error(PC_VALUE, "task function is NULL");
    return PC_OK;
}

static int pc__f_executor_submit(pc_executor *ex, pc_task_fn fn, const void *arg,
                                 size_t arg_size, pc_future **out_future) {
    pc_future *f = NULL;
    if (out_future) *out_future = NULL;
    int rc = pc__f_executor_check(ex, fn);
    if (rc) return rc;
    rc = ex->vtable->submit(ex, fn, arg, arg_size, &f);
    if (rc) return rc;
    if (out_future) *out_future = f;
    else pc_future_release(f);
    return PC_OK;
}

PYCONC_API int pc_executor_submit(pc_executor *ex, pc_task_fn fn, void *arg,
                                  pc_future **out_future) {
    return pc__f_executor_submit(ex, fn, arg, 0, out_future);
}

PYCONC_API int pc_executor_submit_copy(pc_executor *ex, pc_task_fn fn, const void *arg,
                                       size_t arg_size, pc_future **out_future) {
    if (out_future) *out_future = NULL;
    if (!arg && arg_size) return pc__error(PC_VALUE, "arg is NULL but arg_size is %zu", arg_size);
    return pc__f_executor_submit(ex, fn, arg, arg_size, out_future);
}

PYCONC_API int pc_executor_shutdown(pc_executor *ex, int wait, int cancel_futures) {
    if (!ex || !ex->vtable || !ex->vtable->shutdown)
        return pc__error(PC_VALUE, "executor is NULL or has no shutdown");
    return ex->vtable->shutdown(ex, wait, cancel_futures);
}

PYCONC_API void pc_executor_free(pc_executor *ex) {
    if (ex && ex->vtable && ex->vtable->free) ex->vtable->free(ex);
}

// >>map
// Items run in chunks; each chunk is one task whose future finishes when
// the chunk does. The chunks in flight sit in a ring of cap slots, each
// with room for chunksize results. Arrays are read in place; a lazy input
// is pulled into the slot's own item room just before its chunk is
// submitted (so into a slot whose previous chunk has finished), or, with
// no buffersize, all at once into one array at the map call.
typedef struct pc__f_map_chunk {
    pc_map_iter *it;
    size_t start, count;        // items [start, start + count)
    size_t ok;                  // items that returned before one raised
    void **results;             // count slots
    void **argv;                // ninputs item pointers, for a zipped map
    char *store;                // a lazy input's items, chunksize slots
    pc_future *f;               // NULL: not submitted (submit_rc says why)
    int submit_rc;
} pc__f_map_chunk;

struct pc_map_iter {
    pc_executor *ex;
    pc_task_fn fn;
    pc_map_input *in;           // the arrays (one, unless zipped)
    size_t ninputs;
    int zip;                    // fn gets argv, not the item
    pc_map_next_fn next;        // lazy: pulled into each chunk's store
    void *next_ctx;
    size_t slot;                // bytes per stored lazy item
    int src_end;                // next said PC_EOF or raised: n is known
    int src_rc;                 // next's exception, at item n
    char src_msg[256];
    void *owned;                // a lazy input pulled whole (no buffersize)
    size_t n, item_size, chunksize, nchunks, cap;
    size_t submitted;           // chunks submitted so far
    size_t pos;                 // next item to yield
    // The chunk being read, once its future has finished well: the items
    // before quick_end are yielded with no look at the future, no division.
    void **quick;               // its results, item quick_start first
    size_t quick_start, quick_end;
    double deadline;
    int finished;
    pc__f_map_chunk *ring;
    void **results;
    void **argv;
    char *store;
    pc_future *last;            // the chunk consumed last: a result copied back from a
                                //   process lives in its future until the next call
};

static void *pc__f_map_input_item(const pc_map_input *in, size_t i) {
    if (in->item_size == 0) return ((void *const *)in->items)[i];
    return (void *)((const char *)in->items + i * in->item_size);
}

// What fn gets for item i of chunk c.
static void *pc__f_map_arg(const pc_map_iter *it, pc__f_map_chunk *c, size_t i) {
    if (it->next) {
        char *p = c->store + i * it->slot;
        void *v = p;
        if (!it->item_size) memcpy(&v, p, sizeof v);
        return v;
    }
    if (!it->zip) return pc__f_map_input_item(&it->in[0], c->start + i);
    for (size_t j = 0; j < it->ninputs; j++)
        c->argv[j] = pc__f_map_input_item(&it->in[j], c->start + i);
    return (void *)c->argv;
}

// The task of one chunk: run its items until one raises; that raise stays
// pending, so the chunk's future gets it.
static void *pc__f_map_chunk_run(void *arg) {
    pc__f_map_chunk *c = (pc__f_map_chunk *)arg;
    pc_map_iter *it = c->it;
    char msg[256];
    for (size_t i = 0; i < c->count; i++) {
        void *r = it->fn(pc__f_map_arg(it, c, i));
        int code = pc__exception_take(msg, sizeof msg);
        if (code) {
            c->ok = i;
            pc_raise(code, "%s", msg);
            return NULL;
        }
        c->results[i] = r;
    }
    c->ok = c->count;
    return NULL;
}

// A chunk seen from a process pool: its items are one array (in place, or
// the chunk's pulled lazy items); a zipped map's fn takes pointers into
// this process's arrays and cannot cross (-1).
PYCONC_API int pc__f_map_chunk_view(pc_task_fn fn, void *arg, pc__f_chunk_view *out) {
    if (fn != pc__f_map_chunk_run || !arg || !out) return 0;
    pc__f_map_chunk *c = (pc__f_map_chunk *)arg;
    pc_map_iter *it = c->it;
    if (it->zip) return -1;
    out->fn = it->fn;
    out->item_size = it->item_size;
    if (it->next) out->items = c->store;
    else if (it->item_size) out->items = (const char *)it->in[0].items + c->start * it->item_size;
    else out->items = (const void *)((void *const *)it->in[0].items + c->start);
    out->count = c->count;
    out->results = c->results;
    out->ok = &c->ok;
    return 1;
}

// Call next once. Returns PC_OK, PC_EOF, or its exception, kept with its
// message (the raise, else what next recorded, else the code's text) in
// src_rc / src_msg. A raise pending in the calling thread survives it.
static int pc__f_map_pull_one(pc_map_iter *it, void *out_item) {
    char saved[256];
    int saved_code = pc__exception_take(saved, sizeof saved);
    uint64_t seq = pc__error_seq();
    int rc = it->next(it->next_ctx, out_item);
    int raised = pc__exception_take(it->src_msg, sizeof it->src_msg);
    if (rc != PC_OK && rc != PC_EOF) {
        if (!raised)
            snprintf(it->src_msg, sizeof it->src_msg, "%s",
                     pc__error_since(seq, rc) ? pc_last_error() : pc_strerror(rc));
        it->src_rc = rc;
    }
    if (saved_code) pc_raise(saved_code, "%s", saved);
    return rc;
}

// Fill chunk c's items from next; the end (or an exception) fixes n.
static size_t pc__f_map_pull(pc_map_iter *it, pc__f_map_chunk *c) {
    size_t m = 0;
    while (m < it->chunksize && !it->src_end) {
        if (pc__f_map_pull_one(it, c->store + m * it->slot) == PC_OK) m++;
        else it->src_end = 1;
    }
    if (it->src_end) it->n = c->start + m;
    return m;
}

static int pc__f_map_more(const pc_map_iter *it) {
    return it->next ? !it->src_end : it->submitted < it->nchunks;
}

// Submit the next chunk. Returns PC_OK, the executor's refusal (kept in
// the chunk, for the iteration to report), or PC_EOF: nothing left.
static int pc__f_map_submit_next(pc_map_iter *it) {
    size_t k = it->submitted, slot = k % it->cap;
    pc__f_map_chunk *c = &it->ring[slot];
    c->it = it;
    c->start = k * it->chunksize;
    c->ok = 0;
    c->results = it->results + slot * it->chunksize;
    c->argv = it->argv ? it->argv + slot * it->ninputs : NULL;
    c->store = it->store ? it->store + slot * it->chunksize * it->slot : NULL;
    c->f = NULL;
    if (it->next) c->count = pc__f_map_pull(it, c);
    else c->count = it->n - c->start < it->chunksize ? it->n - c->start : it->chunksize;
    if (c->count == 0) return PC_EOF;
    it->submitted++;
    c->submit_rc = it->ex->vtable->submit(it->ex, pc__f_map_chunk_run, c, 0, &c->f);
    if (c->submit_rc) c->f = NULL;
    return c->submit_rc;
}

static void pc__f_map_cancel_rest(pc_map_iter *it) {
    it->finished = 1;
    for (size_t i = 0; it->ring && i < it->cap; i++)
        if (it->ring[i].f) pc_future_cancel(it->ring[i].f);
}

PYCONC_API void pc_map_iter_free(pc_map_iter *it) {
    if (!it) return;
    pc__f_map_cancel_rest(it);
    for (size_t i = 0; it->ring && i < it->cap; i++) {
        if (!it->ring[i].f) continue;
        pc__f_wait_done(it->ring[i].f, PC_FOREVER);
        pc_future_release(it->ring[i].f);
    }
    pc_future_release(it->last);
    pc__free(it->ring);
    pc__free(it->results);
    pc__free(it->argv);
    pc__free(it->store);
    pc__free(it->owned);
    pc__free(it->in);
    pc__free(it);
}

static int pc__f_map_input_check(const pc_map_input *in, size_t j) {
    if (!in->items && in->count) return pc__error(PC_VALUE, "items of input %zu is NULL", j);
    if (in->item_size && in->count > (size_t)-1 / in->item_size)
        return pc__error(PC_VALUE, "%zu items of %zu bytes overflow", in->count, in->item_size);
    return PC_OK;
}

static int pc__f_map_check(pc_executor *ex, pc_task_fn fn, const pc_map_desc *d,
                           pc_map_iter **out_iter) {
    if (!out_iter) return pc__error(PC_VALUE, "out_iter is NULL");
    *out_iter = NULL;
    int rc = pc__f_executor_check(ex, fn);
    if (rc) return rc;
    if (!d) return pc__error(PC_VALUE, "map desc is NULL (it holds the items)");
    int kinds = (d->items || d->count) + (d->inputs || d->ninputs) + (d->next != NULL);
    if (kinds > 1) return pc__error(PC_VALUE, "map takes one of items, inputs or next");
    if ((d->inputs || d->ninputs) && (!d->inputs || !d->ninputs))
        return pc__error(PC_VALUE, "inputs is NULL or ninputs is 0");
    if (d->inputs && d->ninputs > (size_t)-1 / sizeof(pc_map_input))
        return pc__error(PC_VALUE, "%zu inputs overflow", d->ninputs);
    pc_map_input one = {d->items, d->count, d->item_size};
    for (size_t j = 0; j < (d->inputs ? d->ninputs : 1); j++)
        if ((rc = pc__f_map_input_check(d->inputs ? &d->inputs[j] : &one, j)) != 0) return rc;
    if (d->timeout != d->timeout) return pc__error(PC_VALUE, "timeout is NaN");
    return PC_OK;
}

// A lazy input without buffersize is pulled whole now, as Python's map()
// consumes its iterables at once; it then maps as one array.
static int pc__f_map_pull_all(pc_map_iter *it) {
    size_t size = it->item_size ? it->item_size : sizeof(void *), cap = 0, n = 0;
    char *buf = NULL;
    int rc;
    for (;;) {
        if ((rc = pc__grow(&buf, &cap, n + 1, size, 0)) != 0) break;
        if ((rc = pc__f_map_pull_one(it, buf + n * size)) != PC_OK) break;
        n++;
    }
    it->owned = buf;
    it->next = NULL;
    it->in[0].items = buf;
    it->in[0].count = n;
    if (rc == PC_EOF) return PC_OK;
    return it->src_rc ? pc__error(rc, "%s", it->src_msg) : rc;
}

// The inputs, their length, and the chunking. chunksize ends in 1..n (1
// when n is 0) for arrays: a chunk never holds more than the items.
static int pc__f_map_inputs(pc_map_iter *it, const pc_map_desc *d) {
    it->ninputs = d->inputs ? d->ninputs : 1;
    it->zip = d->inputs != NULL;
    it->in = (pc_map_input *)pc__calloc(it->ninputs, sizeof *it->in);
    if (!it->in) return PC_NOMEM;
    if (d->inputs) memcpy(it->in, d->inputs, it->ninputs * sizeof *it->in);
    else {
        it->in[0].items = d->items;
        it->in[0].count = d->count;
        it->in[0].item_size = d->item_size;
    }
    it->item_size = d->item_size;
    it->next = d->next;
    it->next_ctx = d->next_ctx;
    int rc = it->next && !d->buffersize ? pc__f_map_pull_all(it) : PC_OK;
    if (rc) return rc;
    it->chunksize = d->chunksize ? d->chunksize : 1;
    if (it->next) {             // n unknown until next ends
        it->n = (size_t)-1;
        it->slot = it->item_size ? it->item_size : sizeof(void *);
        it->cap = d->buffersize;
        return PC_OK;
    }
    it->n = it->in[0].count;
    for (size_t j = 1; j < it->ninputs; j++)
        if (it->in[j].count < it->n) it->n = it->in[j].count;
    if (it->chunksize > it->n) it->chunksize = it->n ? it->n : 1;
    it->nchunks = it->n / it->chunksize + (it->n % it->chunksize != 0);
    it->cap = d->buffersize && d->buffersize < it->nchunks ? d->buffersize : it->nchunks;
    return PC_OK;
}

// The ring and its per-slot room: cap * chunksize results (for arrays
// within the n item slots plus one chunk), argv, lazy items.
static int pc__f_map_alloc(pc_map_iter *it) {
    size_t cap = it->cap ? it->cap : 1;
    if (it->chunksize > (size_t)-1 / sizeof(void *) / cap ||
        (it->next && it->chunksize * cap > (size_t)-1 / it->slot))
        return pc__error(PC_VALUE, "buffersize %zu x chunksize %zu overflows", it->cap,
                         it->chunksize);
    it->ring = (pc__f_map_chunk *)pc__calloc(cap, sizeof *it->ring);
    it->results = (void **)pc__calloc(cap * it->chunksize, sizeof(void *));
    if (it->zip) it->argv = (void **)pc__calloc(cap * it->ninputs, sizeof(void *));
    if (it->next) it->store = (char *)pc__calloc(cap * it->chunksize, it->slot);
    if (!it->ring || !it->results || (it->zip && !it->argv) || (it->next && !it->store))
        return PC_NOMEM;
    return PC_OK;
}

PYCONC_API int pc_executor_map(pc_executor *ex, pc_task_fn fn, const pc_map_desc *desc,
                               pc_map_iter **out_iter) {
    int rc = pc__f_map_check(ex, fn, desc, out_iter);
    if (rc) return rc;
    pc_map_iter *it = (pc_map_iter *)pc__calloc(1, sizeof *it);
    if (!it) return PC_NOMEM;
    pc__deadline(desc->timeout == 0 ? PC_FOREVER : desc->timeout, &it->deadline);
    it->ex = ex;
    it->fn = fn;
    if ((rc = pc__f_map_inputs(it, desc)) != 0 || (rc = pc__f_map_alloc(it)) != 0) {
        pc_map_iter_free(it);
        return rc;
    }
    for (size_t k = 0; k < it->cap; k++) {
        rc = pc__f_map_submit_next(it);
        if (rc == PC_EOF) break;
        if (rc && k == 0) {     // nothing runs: fail like Python's map() call
            pc_map_iter_free(it);
            return rc;
        }
        if (rc) break;
    }
    if (it->src_rc) {           // next raised while the buffer filled: map() raises
        rc = it->src_rc;
        char msg[256];
        memcpy(msg, it->src_msg, sizeof msg);
        pc_map_iter_free(it);
        return pc__error(rc, "%s", msg);
    }
    *out_iter = it;
    return PC_OK;
}

// End the iteration with code: cancel the rest, keep code's message.
static int pc__f_map_fail(pc_map_iter *it, int code) {
    char msg[256];
    snprintf(msg, sizeof msg, "%s", pc_last_error());
    pc__f_map_cancel_rest(it);
    return pc__error(code, "%s", msg);
}

static int pc__f_map_end(pc_map_iter *it) {
    if (!it->finished && it->src_rc && it->pos == it->n) {
        pc__error(it->src_rc, "%s", it->src_msg);
        return pc__f_map_fail(it, it->src_rc);
    }
    it->finished = 1;
    return pc__error(PC_EOF, "map iterator is exhausted");
}

// The next item the slow way: wait for its chunk's future, move to the
// next chunk (pc_map_iter_next yields the rest of a finished chunk; kept
// out of line, so that its fast path saves no registers).
static PC__NOINLINE int pc__f_map_next_chunked(pc_map_iter *it, void **out_result) {
    if (it->finished || it->pos >= it->n) return pc__f_map_end(it);
    size_t k = it->pos / it->chunksize;
    pc__f_map_chunk *c = &it->ring[k % it->cap];
    if (!c->f) {
        pc__error(c->submit_rc, "the executor refused a map task: %s", pc_strerror(c->submit_rc));
        return pc__f_map_fail(it, c->submit_rc);
    }
    double left = it->deadline == INFINITY ? PC_FOREVER : it->deadline - pc_monotonic();
    if (it->deadline != INFINITY && left < 0) left = 0;
    int rc = pc_future_result(c->f, left, NULL);
    size_t i = it->pos - c->start;
    // c->ok is the chunk's to write until its future has finished: read it
    // only then (a timeout or a deadlock error leaves the chunk running).
    if (rc != PC_OK && (pc__f_state(c->f) != PC_FUTURE_FINISHED || i >= c->ok))
        return pc__f_map_fail(it, rc);
    if (out_result) *out_result = c->results[i];
    it->pos++;
    if (rc == PC_OK && i + 2 < c->count) {     // its last item comes this way: it moves on
        it->quick = c->results;
        it->quick_start = c->start;
        it->quick_end = c->start + c->count - 1;
    }
    if (i + 1 == c->count) {    // chunk consumed: its slot takes the next chunk
        pc_future_release(it->last);
        it->last = c->f;
        c->f = NULL;
        if (pc__f_map_more(it)) pc__f_map_submit_next(it);
    }
    return PC_OK;
}

PYCONC_API int pc_map_iter_next(pc_map_iter *it, void **out_result) {
    if (out_result) *out_result = NULL;
    if (!it) return pc__error(PC_VALUE, "map iterator is NULL");
    if (it->pos >= it->quick_end) return pc__f_map_next_chunked(it, out_result);
    void *r = it->quick[it->pos++ - it->quick_start];
    if (out_result) *out_result = r;
    return PC_OK;
}

// >>wait
// Distinct futures of fs, first occurrences in fs order (O(n log n)).
typedef struct pc__f_key { pc_future *f; size_t i; } pc__f_key;

static int pc__f_key_cmp(const void *a, const void *b) {
    const pc__f_key *x = (const pc__f_key *)a, *y = (const pc__f_key *)b;
    if (x->f != y->f) return (uintptr_t)x->f < (uintptr_t)y->f ? -1 : 1;
    return x->i < y->i ? -1 : x->i > y->i;
}

static int pc__f_unique(pc_future *const *fs, size_t n, pc_future ***out, size_t *out_n) {
    *out = NULL;
    *out_n = 0;
    if (n && !fs) return pc__error(PC_VALUE, "fs is NULL");
    for (size_t i = 0; i < n; i++)
        if (!fs[i]) return pc__error(PC_VALUE, "fs[%zu] is NULL", i);
    pc__f_key *keys = (pc__f_key *)pc__calloc(n ? n : 1, sizeof *keys);
    unsigned char *keep = (unsigned char *)pc__calloc(n ? n : 1, 1);
    pc_future **u = (pc_future **)pc__calloc(n ? n : 1, sizeof *u);
    if (!keys || !keep || !u) {
        pc__free(keys);
        pc__free(keep);
        pc__free(u);
        return PC_NOMEM;
    }
    for (size_t i = 0; i < n; i++) {
        keys[i].f = fs[i];
        keys[i].i = i;
    }
    qsort(keys, n, sizeof *keys, pc__f_key_cmp);
    for (size_t i = 0; i < n; i++) keep[keys[i].i] = i == 0 || keys[i].f != keys[i - 1].f;
    size_t m = 0;
    for (size_t i = 0; i < n; i++)
        if (keep[i]) u[m++] = fs[i];
    pc__free(keys);
    pc__free(keep);
    *out = u;
    *out_n = m;
    return PC_OK;
}

// Hook node onto f unless f is done already. Returns 1 if f was done
// (*excepted tells whether it raised), 0 if the node now waits on it.
static int pc__f_node_attach(pc__f_node *node, pc__f_waiter *w, pc_future *f, int *excepted) {
    pc_lock_acquire(&f->lock, PC_FOREVER);
    uint32_t s = pc__f_state(f);
    if (s >= PC_FUTURE_CANCELLED) {
        *excepted = s == PC_FUTURE_FINISHED && f->code != PC_OK;
        pc_lock_release(&f->lock);
        return 1;
    }
    node->w = w;
    node->u.wait.f = f;
    node->next = f->hooks;          // callbacks keep their order behind it
    f->hooks = node;
    __atomic_add_fetch(&w->pending, 1, PC__F_SEQ);
    pc_lock_release(&f->lock);
    return 0;
}

static void pc__f_node_detach(pc__f_node *node) {
    pc_future *f = node->u.wait.f;
    if (!f) return;
    pc_lock_acquire(&f->lock, PC_FOREVER);
    for (pc__f_node **pp = &f->hooks; *pp; pp = &(*pp)->next) {
        if (*pp == node) {
            *pp = node->next;
            break;
        }
    }
    pc_lock_release(&f->lock);
}

// Sleep until a completion notifies w or the deadline passes, unless
// ready(ctx) is true once w has announced itself (the event count's
// protocol: ready reads the counters or the done stack sequentially
// consistent, as the notifier writes them). Returns PC_OK or PC_TIMEOUT.
static int pc__f_waiter_sleep(pc__f_waiter *w, int (*ready)(void *ctx), void *ctx,
                              double deadline) {
    uint32_t key = pc__evc_prepare(&w->evc);
    if (ready(ctx)) return PC_OK;
    return pc__evc_wait(&w->evc, key, deadline);
}

typedef struct pc__f_wait_state {
    pc__f_waiter w;
    size_t done_before, excepted_before;
    int return_when;
} pc__f_wait_state;

static int pc__f_wait_met(const pc__f_wait_state *st) {
    int return_when = st->return_when;
    uint32_t pending = __atomic_load_n(&st->w.pending, PC__F_SEQ);
    if (return_when == PC_FIRST_COMPLETED)
        return st->done_before > 0 || __atomic_load_n(&st->w.finished, PC__F_SEQ) > 0 ||
               pending == 0;
    if (return_when == PC_FIRST_EXCEPTION &&
        (st->excepted_before > 0 || __atomic_load_n(&st->w.excepted, PC__F_SEQ) > 0))
        return 1;
    return pending == 0;
}

static int pc__f_wait_ready(void *ctx) { return pc__f_wait_met((const pc__f_wait_state *)ctx); }

static void pc__f_wait_outputs(pc_future **u, size_t m, pc_future **out_done, size_t *out_ndone,
                               pc_future **out_not_done, size_t *out_nnot_done) {
    size_t nd = 0, nn = 0;
    for (size_t i = 0; i < m; i++) {
        if (pc_future_done(u[i])) {
            if (out_done) out_done[nd] = u[i];
            nd++;
        } else {
            if (out_not_done) out_not_done[nn] = u[i];
            nn++;
        }
    }
    if (out_ndone) *out_ndone = nd;
    if (out_nnot_done) *out_nnot_done = nn;
}

PYCONC_API int pc_futures_wait(pc_future *const *fs, size_t n, double timeout, int return_when,
                               pc_future **out_done, size_t *out_ndone,
                               pc_future **out_not_done, size_t *out_nnot_done) {
    double deadline = 0;
    pc_future **u;
    size_t m;
    if (out_ndone) *out_ndone = 0;
    if (out_nnot_done) *out_nnot_done = 0;
    if (return_when < PC_FIRST_COMPLETED || return_when > PC_ALL_COMPLETED)
        return pc__error(PC_VALUE, "return_when must be PC_FIRST_COMPLETED, "
                                   "PC_FIRST_EXCEPTION or PC_ALL_COMPLETED");
    if (pc__deadline(timeout, &deadline)) return PC_VALUE;
    int rc = pc__f_unique(fs, n, &u, &m);
    if (rc) return rc;
    pc__f_node *nodes = (pc__f_node *)pc__calloc(m ? m : 1, sizeof *nodes);
    if (!nodes) {
        pc__free(u);
        return PC_NOMEM;
    }
    pc__f_wait_state st;
    memset(&st, 0, sizeof st);
    st.return_when = return_when;
    for (size_t i = 0; i < m; i++) {
        int excepted = 0;
        if (pc__f_node_attach(&nodes[i], &st.w, u[i], &excepted)) {
            st.done_before++;
            st.excepted_before += excepted;
        }
    }
    rc = PC_OK;
    while (!pc__f_wait_met(&st)) {
        if (timeout == 0
            || pc__f_waiter_sleep(&st.w, pc__f_wait_ready, &st, deadline) == PC_TIMEOUT) {
            if (!pc__f_wait_met(&st)) rc = pc__error(PC_TIMEOUT, "wait timed out");
            break;
        }
    }
    for (size_t i = 0; i < m; i++) pc__f_node_detach(&nodes[i]);
    pc__f_wait_outputs(u, m, out_done, out_ndone, out_not_done, out_nnot_done);
    pc__free(nodes);
    pc__free(u);
    return rc;
}

// >>as_completed
struct pc_as_completed {
    pc__f_waiter w;
    pc_future **u;              // the distinct futures, each retained
    size_t m, yielded;
    pc_future **ready;          // done before the call, in fs order
    size_t nready, ready_pos;
    pc__f_node *nodes;          // one per future of u that was not done
    pc__f_node *queue;          // done nodes taken from w.done, oldest first
    pc__f_node *queue_tail;     // its last node (appending stays O(1) per node)
    double deadline;
};

PYCONC_API void pc_as_completed_free(pc_as_completed *it) {
    if (!it) return;
    for (size_t i = 0; i < it->m; i++) {
        if (it->nodes) pc__f_node_detach(&it->nodes[i]);
        pc_future_release(it->u[i]);
    }
    pc__free(it->u);
    pc__free(it->ready);
    pc__free(it->nodes);
    pc__free(it);
}

PYCONC_API int pc_futures_as_completed(pc_future *const *fs, size_t n, double timeout,
                                       pc_as_completed **out_iter) {
    double deadline = 0;
    if (!out_iter) return pc__error(PC_VALUE, "out_iter is NULL");
    *out_iter = NULL;
    if (pc__deadline(timeout, &deadline)) return PC_VALUE;
    pc_as_completed *it = (pc_as_completed *)pc__calloc(1, sizeof *it);
    if (!it) return PC_NOMEM;
    int rc = pc__f_unique(fs, n, &it->u, &it->m);
    if (rc) {
        pc__free(it);
        return rc;
    }
    for (size_t i = 0; i < it->m; i++) pc_future_retain(it->u[i]);
    it->deadline = deadline;
    it->ready = (pc_future **)pc__calloc(it->m ? it->m : 1, sizeof *it->ready);
    it->nodes = (pc__f_node *)pc__calloc(it->m ? it->m : 1, sizeof *it->nodes);
    if (!it->ready || !it->nodes) {
        pc_as_completed_free(it);
        return PC_NOMEM;
    }
    for (size_t i = 0; i < it->m; i++) {
        int excepted;
        if (pc__f_node_attach(&it->nodes[i], &it->w, it->u[i], &excepted))
            it->ready[it->nready++] = it->u[i];
    }
    *out_iter = it;
    return PC_OK;
}

// Move the nodes the notifiers pushed (newest first) to the queue, oldest
// first. Each node is touched once: the reversal, then the append at the
// kept tail (walking the queue for its tail made n completions O(n^2)).
static void pc__f_as_completed_collect(pc_as_completed *it) {
    pc__f_node *stack = __atomic_exchange_n(&it->w.done, (pc__f_node *)NULL, PC__F_SEQ);
    if (!stack) return;
    pc__f_node *rev = NULL, *last = stack;
    while (stack) {
        pc__f_node *next = stack->u.wait.done_next;
        stack->u.wait.done_next = rev;
        rev = stack;
        stack = next;
    }
    if (it->queue) it->queue_tail->u.wait.done_next = rev;
    else it->queue = rev;
    it->queue_tail = last;
}

static int pc__f_as_completed_ready(void *ctx) {
    pc_as_completed *it = (pc_as_completed *)ctx;
    pc__f_as_completed_collect(it);
    return it->queue != NULL;
}

PYCONC_API int pc_as_completed_next(pc_as_completed *it, pc_future **out_future) {
    if (out_future) *out_future = NULL;
    if (!it) return pc__error(PC_VALUE, "as_completed iterator is NULL");
    pc_future *f = NULL;
    if (it->ready_pos < it->nready) {
        f = it->ready[it->ready_pos++];
    } else {
        while (!pc__f_as_completed_ready(it)) {
            if (it->yielded == it->m) return pc__error(PC_EOF, "as_completed is exhausted");
            int rc = pc__f_waiter_sleep(&it->w, pc__f_as_completed_ready, it, it->deadline);
            if (rc == PC_TIMEOUT && !__atomic_load_n(&it->w.done, PC__F_SEQ))
                return pc__error(PC_TIMEOUT, "%zu (of %zu) futures unfinished",
                                 it->m - it->yielded, it->m);
        }
        f = it->queue->u.wait.f;
        it->queue = it->queue->u.wait.done_next;
    }
    it->yielded++;
    if (out_future) *out_future = f;
    return PC_OK;
}

#endif // PYCONC_FUTURES_IMPLEMENTATION

/* Licence: MIT or public domain (unlicense), your choice; the full text is
   at the end of pyconc.h. */

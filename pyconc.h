/* pyconc.h - v0.1.0 - Python's threading module for C, as one header.

   Do this:
       #define PYCONC_IMPLEMENTATION
   before you include this file in *one* C or C++ file to create the
   implementation. Include it there before any system header (it asks for
   _GNU_SOURCE), or compile that file with -D_GNU_SOURCE; in the gnu modes
   (gcc's default) a system header before it is fine, and in strict -std=c11
   it stops with an #error that says this.

       // in exactly one file
       #define PYCONC_IMPLEMENTATION
       #include "pyconc.h"

   Everywhere else just #include "pyconc.h". Link with -pthread (and -ldl
   on glibc older than 2.34: default thread names use dladdr).
   PYCONC_ALL_IMPLEMENTATION switches on the implementation of every pyconc
   header that the file includes.

   LICENSE: at the end of this file.

   TABLE OF CONTENTS
   =================
   Declarations (`// >>api.NAME`), each class with its calls:
   api.version ... api.callables   version, PYCONC_API, status codes, time
   api.evc, api.list               internal types the primitives embed
   api.lock ... api.cpu            Lock, RLock, Condition, Semaphore, Event,
                                   Barrier, Thread, Timer, local, cpu_count
   api.internal                    what the other pyconc headers share
   Implementation (`// >>NAME`):
   posix                           every OS call, behind pc__os_* helpers
   errors, memory, time            last error, allocator and pc__grow, clocks
   waitqueue, evc                  the futex (or buckets) and the event count
   lock ... cpu                    the classes, in the order declared
   lifecycle, lifecycle-threads    fork and exit hooks, in phases
   grep -n '^// >>' pyconc.h prints the map.

   CONFIGURATION
   =============
   PYCONC_IMPLEMENTATION   compile the implementation into this file.
   PYCONC_STATIC           make every function static (one private copy per
                           file; the thread registry is then per file too).
   PYCONC_API              decoration of public functions (default: extern,
                           or static with PYCONC_STATIC).
   PYCONC_MALLOC(n), PYCONC_FREE(p), PYCONC_REALLOC(p, n)
                           allocator (default: malloc/free/realloc). Define
                           MALLOC and FREE both or neither; REALLOC only
                           with them. Without REALLOC a growing buffer
                           (a received message) moves by MALLOC, a copy
                           and FREE, holding both blocks meanwhile; a
                           realloc that moves large blocks without a copy
                           (glibc's mremap) holds one.
   PYCONC_ASSERT(x)        internal consistency checks (default: assert).
   PYCONC_LOCK_SPIN        how many times a blocking acquire of a held Lock
                           re-reads it before sleeping, the pauses between
                           reads doubling from 1 to 64 (default 12).
   PYCONC_NO_FUTEX         use the portable wait queue (a hashed table of
                           mutex + condition variable pairs) even on Linux.
                           Off Linux this is the only wait queue.

   OVERVIEW
   ========
   Every class and function of Python's `threading` module, named by one
   rule: pc_ + snake_case(class) + _ + method.

       Python                                  C
       threading.Thread(target=f, args=(x,))   pc_thread_new(&(pc_thread_desc){.target=f, .arg=x})
       t.start(); t.join(timeout=1.5)          pc_thread_start(t); pc_thread_join(t, 1.5)
       threading.Lock().acquire(timeout=t)     pc_lock_acquire(&lock, t)
       threading.current_thread().name         pc_thread_name(pc_thread_current())
       threading.Event().wait(2)               pc_event_wait(&ev, 2) == PC_OK

   Primitives (Lock, RLock, Condition, Semaphore, BoundedSemaphore, Event,
   Barrier) are plain structs you embed, with static initialisers where
   possible (PC_LOCK_INIT ...). Threads, Timers and locals are handles made
   with pc_x_new and released with pc_x_free.

   A complete program (a lock-protected counter that must end at 0):

       #define PYCONC_IMPLEMENTATION
       #include "pyconc.h"
       #include <stdio.h>

       static pc_lock lock = PC_LOCK_INIT;
       static long n = 100;

       static int work(void *arg) {
           (void)arg;
           pc_lock_acquire(&lock, PC_FOREVER);
           n -= 1;
           pc_lock_release(&lock);
           return 0;
       }

       int main(void) {
           pc_thread *ts[100];
           for (int i = 0; i < 100; i++) {
               ts[i] = pc_thread_new(&(pc_thread_desc){ .target = work });
               pc_thread_start(ts[i]);
           }
           for (int i = 0; i < 100; i++) {
               pc_thread_join(ts[i], PC_FOREVER);
               pc_thread_free(ts[i]);
           }
           printf("n = %ld\n", n);
           return n != 0;
       }

   TIME
   ====
   Timeouts are double seconds as in Python. PC_FOREVER (any negative
   value) waits without limit, 0 never blocks, NaN is PC_VALUE. Every
   deadline is on CLOCK_MONOTONIC, so wall-clock jumps never shorten or
   lengthen a wait.

   THREAD SAFETY
   =============
   Every function may be called from any thread. The primitives are
   async-signal-unsafe. fork() waits for the library's internal locks (held
   only for a few instructions), so the child gets them free and its thread
   registry whole: it holds only the forking thread, which becomes the main
   thread (a new "MainThread" if pyconc had not seen it), as in Python.

   ERRORS
   ======
   Fallible calls return PC_OK (0) or a PC_* code (Python's exception);
   constructors return NULL. Each failure also leaves a message for this
   thread in pc_last_error(). pc_strerror(code) names a code.

   BEYOND PYTHON
   =============
   Event.wait returns a status (PC_OK is Python's True, PC_TIMEOUT its
   False) so that it reads like every other wait here; NaN or NULL gives
   PC_VALUE instead of an exception. Every failed acquire or wait, timed
   out ones included, leaves its message in pc_last_error().
*/
#if defined(PYCONC_IMPLEMENTATION) || defined(PYCONC_ALL_IMPLEMENTATION)
#if !defined(_GNU_SOURCE) && !defined(__cplusplus)
#define _GNU_SOURCE 1
#endif
// glibc fixes its feature set at the first system header: one included
// before this point without _GNU_SOURCE hides the POSIX.1-2008 calls used here.
#if defined(__GLIBC__) && !defined(__USE_XOPEN2K8)
#error "pyconc.h: a system header was included before this implementation without"
#error "_GNU_SOURCE: include pyconc.h first in this file, or compile it with -D_GNU_SOURCE"
#define PYCONC_IMPLEMENTATION_DONE  // skip the implementation: one clear error
#endif
#endif

#ifndef PYCONC_H
#define PYCONC_H

// >>api.version
#define PYCONC_VERSION_MAJOR 0
#define PYCONC_VERSION_MINOR 1
#define PYCONC_VERSION_PATCH 0
/* The version as text, "MAJOR.MINOR.PATCH" ("0.1.0"): made from the numbers
   above, so the two can never disagree. */
#define PYCONC_VERSION                         \
    PC__VERSION_TEXT(PYCONC_VERSION_MAJOR) "." \
    PC__VERSION_TEXT(PYCONC_VERSION_MINOR) "." \
    PC__VERSION_TEXT(PYCONC_VERSION_PATCH)
#define PC__VERSION_TEXT(n) PC__VERSION_QUOTE(n)
#define PC__VERSION_QUOTE(n) #n

#include <stddef.h>
#include <stdint.h>

// >>api.decoration
#ifndef PYCONC_API
#if defined(PYCONC_STATIC) && (defined(__GNUC__) || defined(__clang__))
#define PYCONC_API static __attribute__((unused))
#elif defined(PYCONC_STATIC)
#define PYCONC_API static
#else
#define PYCONC_API extern
#endif
#endif

#if defined(__GNUC__) || defined(__clang__)
#define PC__PRINTF(f, a) __attribute__((format(printf, f, a)))
#else
#define PC__PRINTF(f, a)
#endif

#ifdef __cplusplus
extern "C" {
#endif

// >>api.errors
// One list makes the enum, the names and the Python exception each maps to.
#define PC_ERRORS(X)                                                        \
    X(PC_OK, 0, "OK", "no error")                                           \
    X(PC_TIMEOUT, 1, "TimeoutError", "timed out")                           \
    X(PC_EMPTY, 2, "queue.Empty", "queue is empty")                         \
    X(PC_FULL, 3, "queue.Full", "queue is full")                            \
    X(PC_SHUTDOWN, 4, "ShutDown", "shut down")                              \
    X(PC_CANCELLED, 5, "CancelledError", "cancelled")                       \
    X(PC_INVALID_STATE, 6, "InvalidStateError", "invalid state")            \
    X(PC_BROKEN, 7, "BrokenError", "broken barrier or executor")            \
    X(PC_VALUE, 8, "ValueError", "bad value")                               \
    X(PC_RUNTIME, 9, "RuntimeError", "wrong use")                           \
    X(PC_NOMEM, 10, "MemoryError", "out of memory")                         \
    X(PC_OS, 11, "OSError", "operating system error")                       \
    X(PC_EOF, 12, "EOFError", "end of file")                                \
    X(PC_AUTH, 13, "AuthenticationError", "authentication failed")          \
    X(PC_OWNER_DEAD, 14, "OwnerDead", "previous owner died; the lock is yours")

#define PC__ERROR_ENUM(name, value, pyname, text) name = value,
typedef enum pc_status { PC_ERRORS(PC__ERROR_ENUM) PC__STATUS_COUNT } pc_status;
#undef PC__ERROR_ENUM

/* Describe a status code: "timed out (TimeoutError)". Never NULL. */
PYCONC_API const char *pc_strerror(int code);
/* Return this thread's message for its most recent failure ("" if none).
   Python: the exception's str(). */
PYCONC_API const char *pc_last_error(void);
/* Return the code of this thread's most recent failure (PC_OK if none). */
PYCONC_API int pc_last_error_code(void);
/* Raise: record code and message as the running target's or task's
   exception and this thread's last error, and return code, so a target can
   `return pc_raise(PC_VALUE, "bad input %d", x);`. */
PYCONC_API int pc_raise(int code, const char *fmt, ...) PC__PRINTF(2, 3);

// >>api.time
#define PC_FOREVER (-1.0)
/* Largest timeout accepted; larger ones wait forever. Python: TIMEOUT_MAX */
#define PC_TIMEOUT_MAX 9223372036.0

/* Return seconds on CLOCK_MONOTONIC. Python: time.monotonic */
PYCONC_API double pc_monotonic(void);
/* Sleep for seconds (EINTR resumed; never shorter).
   Returns: PC_OK, PC_VALUE (NaN or negative).  Python: time.sleep */
PYCONC_API int pc_sleep(double seconds);

// >>api.callables
typedef int (*pc_target_fn)(void *arg);
typedef void *(*pc_task_fn)(void *arg);

// >>api.evc
/* Internal: the event count every blocking wait of pyconc sleeps on (its
   protocol and functions are under >>api.internal). Declared here for the
   primitives that embed it; all zero is a fresh, process-private one. */
typedef struct pc__evc {
    uint32_t seq;               // the key (the futex word): moved by each notify that wakes
    uint32_t waiters;           // PC__EVC_COUNT: announced sleepers not taken yet;
                                // PC__EVC_SHARED: in memory shared between processes
} pc__evc;
#define PC__EVC_INIT {0, 0}
#define PC__EVC_COUNT 0x7fffffffu
#define PC__EVC_SHARED 0x80000000u
#define PC__EVC_FLUSH 0x40000000u  // so many counts: flush them (see >>internal)

// >>api.list
/* Internal: an intrusive doubly-linked list, the one every pyconc header
   uses. An element embeds a pc__link and PC__CONTAINER finds the element
   from it (as Linux's list.h). The ends are NULL, not a sentinel, so all
   zero is an empty list and an unlinked link: a list fits in a static
   initialiser. The caller's lock guards every call. */
typedef struct pc__link { struct pc__link *prev, *next; } pc__link;
typedef struct pc__list { pc__link *head, *tail; } pc__list;
#define PC__LIST_INIT {NULL, NULL}
/* The element of type `type` whose member `member` is the link ptr. */
#define PC__CONTAINER(ptr, type, member) \
    ((type *)(void *)((char *)(ptr) - offsetof(type, member)))

static inline void pc__list_push_back(pc__list *l, pc__link *x) {
    x->prev = l->tail;
    x->next = NULL;
    if (l->tail) l->tail->next = x; else l->head = x;
    l->tail = x;
}
static inline void pc__list_push_front(pc__list *l, pc__link *x) {
    x->prev = NULL;
    x->next = l->head;
    if (l->head) l->head->prev = x; else l->tail = x;
    l->head = x;
}
/* Unlink x from l (x must be on l); x is then unlinked. */
static inline void pc__list_remove(pc__list *l, pc__link *x) {
    if (x->prev) x->prev->next = x->next; else l->head = x->next;
    if (x->next) x->next->prev = x->prev; else l->tail = x->prev;
    x->prev = x->next = NULL;
}
/* Unlink and return l's first link, NULL when l is empty. */
static inline pc__link *pc__list_pop_front(pc__list *l) {
    pc__link *x = l->head;
    if (!x) return NULL;
    l->head = x->next;
    if (x->next) x->next->prev = NULL; else l->tail = NULL;
    x->next = NULL;
    return x;
}
/* 1 when x is on l (x is on l or on no list). */
static inline int pc__list_is_linked(const pc__list *l, const pc__link *x) {
    return x->prev != NULL || l->head == x;
}

// >>api.lock
/* A primitive lock: any thread may release it. Python: threading.Lock */
typedef struct pc_lock { uint32_t state; } pc_lock;
#define PC_LOCK_INIT {0}

PYCONC_API void pc_lock_init(pc_lock *lock);
PYCONC_API void pc_lock_destroy(pc_lock *lock);
/* Acquire, waiting at most timeout seconds (PC_FOREVER: no limit, 0: try).
   Returns: PC_OK, PC_TIMEOUT, PC_VALUE.  Blocks: yes.
   Python: threading.Lock.acquire */
PYCONC_API int pc_lock_acquire(pc_lock *lock, double timeout);
/* Release. Returns: PC_OK, PC_RUNTIME (not locked).
   Python: threading.Lock.release */
PYCONC_API int pc_lock_release(pc_lock *lock);
/* Return 1 if the lock is held. Python: threading.Lock.locked */
PYCONC_API int pc_lock_locked(const pc_lock *lock);

// >>api.rlock
/* A re-entrant lock: the owner may acquire it again; only it may release.
   Python: threading.RLock */
typedef struct pc_rlock { pc_lock lock; uintptr_t owner; uint32_t count; } pc_rlock;
#define PC_RLOCK_INIT {PC_LOCK_INIT, 0, 0}

PYCONC_API void pc_rlock_init(pc_rlock *rlock);
PYCONC_API void pc_rlock_destroy(pc_rlock *rlock);
/* Returns: PC_OK, PC_TIMEOUT, PC_VALUE, PC_RUNTIME (2^32 - 1 levels).
   Python: threading.RLock.acquire */
PYCONC_API int pc_rlock_acquire(pc_rlock *rlock, double timeout);
/* Returns: PC_OK, PC_RUNTIME (caller is not the owner).
   Python: threading.RLock.release */
PYCONC_API int pc_rlock_release(pc_rlock *rlock);
/* Return 1 if any thread holds it. Python: threading.RLock.locked (3.14) */
PYCONC_API int pc_rlock_locked(const pc_rlock *rlock);
/* Return 1 if the calling thread holds it. Python: RLock._is_owned */
PYCONC_API int pc_rlock_is_owned(const pc_rlock *rlock);

// >>api.condition
/* A condition variable over a Lock, an RLock, or (default) its own RLock.
   Waiters are woken first in, first out. Python: threading.Condition */
typedef struct pc_condition {
    pc_rlock own;               // the RLock used when no lock was given
    void *lock;                 // the given pc_lock / pc_rlock, or NULL
    int kind;                   // 0: own RLock, 1: pc_lock, 2: pc_rlock
    pc__list waiters;           // the sleeping waiters, oldest first
} pc_condition;
#define PC_CONDITION_INIT {PC_RLOCK_INIT, NULL, 0, PC__LIST_INIT}

/* Make a condition with its own RLock. Python: Condition() */
PYCONC_API void pc_condition_init(pc_condition *cond);
/* Make a condition over lock. Python: Condition(lock) */
PYCONC_API void pc_condition_init_lock(pc_condition *cond, pc_lock *lock);
/* Make a condition over rlock. Python: Condition(rlock) */
PYCONC_API void pc_condition_init_rlock(pc_condition *cond, pc_rlock *rlock);
PYCONC_API void pc_condition_destroy(pc_condition *cond);
/* Acquire / release the underlying lock, with the lock's own Returns.
   Python: Condition.acquire/release */
PYCONC_API int pc_condition_acquire(pc_condition *cond, double timeout);
PYCONC_API int pc_condition_release(pc_condition *cond);
/* Return 1 if the underlying lock is held (by any thread), else 0 (also
   for NULL).  Thread-safe: yes.  Python: Condition.locked (3.14) */
PYCONC_API int pc_condition_locked(const pc_condition *cond);
/* Release the lock, wait for a notify or the timeout, re-acquire.
   Returns: PC_OK, PC_TIMEOUT, PC_RUNTIME (lock not held), PC_VALUE.
   Blocks: yes.  Python: Condition.wait */
PYCONC_API int pc_condition_wait(pc_condition *cond, double timeout);
/* Wait until predicate(ctx) is true, re-checking after each wake-up; the
   timeout covers the whole wait.
   Returns: PC_OK (predicate true), PC_TIMEOUT (still false), PC_RUNTIME
   (lock not held), PC_VALUE (NULL or NaN).
   Python: Condition.wait_for */
PYCONC_API int pc_condition_wait_for(pc_condition *cond, int (*predicate)(void *ctx),
                                     void *ctx, double timeout);
/* Wake up to n waiters (the oldest first); n <= 0 wakes nobody.
   Returns: PC_OK, PC_RUNTIME (lock not held).  Python: Condition.notify */
PYCONC_API int pc_condition_notify(pc_condition *cond, int n);
/* Wake all waiters. Returns: PC_OK, PC_RUNTIME (lock not held).
   Python: Condition.notify_all */
PYCONC_API int pc_condition_notify_all(pc_condition *cond);

// >>api.semaphore
/* A counter that acquire decrements and release increments.
   Python: threading.Semaphore and threading.BoundedSemaphore */
typedef struct pc_semaphore {
    uint32_t value;
    uint32_t bound;             // 0: a Semaphore; else PC__SEM_BOUNDED | initial value
    pc__evc evc;                // acquirers waiting for value > 0
} pc_semaphore;
typedef pc_semaphore pc_bounded_semaphore;
#define PC__SEM_BOUNDED 0x80000000u
#define PC_SEMAPHORE_INIT(n) {(uint32_t)(n), 0, PC__EVC_INIT}
#define PC_BOUNDED_SEMAPHORE_INIT(n) {(uint32_t)(n), PC__SEM_BOUNDED | (uint32_t)(n), PC__EVC_INIT}

/* Returns: PC_OK, PC_VALUE (value < 0 or > INT32_MAX).
   Python: Semaphore(value) */
PYCONC_API int pc_semaphore_init(pc_semaphore *sem, int value);
PYCONC_API void pc_semaphore_destroy(pc_semaphore *sem);
/* Returns: PC_OK, PC_TIMEOUT, PC_VALUE.  Python: Semaphore.acquire */
PYCONC_API int pc_semaphore_acquire(pc_semaphore *sem, double timeout);
/* Add n (>= 1), waking up to n waiters. Returns: PC_OK, PC_VALUE (n < 1,
   overflow, or a bounded semaphore over-released; nothing is changed then).
   Python: Semaphore.release(n) */
PYCONC_API int pc_semaphore_release(pc_semaphore *sem, int n);
/* Return the current value (a snapshot). */
PYCONC_API int pc_semaphore_value(const pc_semaphore *sem);
/* A semaphore whose release past value is PC_VALUE (0 is allowed, as in
   Python: then every release fails).
   Returns: PC_OK, PC_VALUE.  Python: BoundedSemaphore(value), .acquire,
   .release(n) */
PYCONC_API int pc_bounded_semaphore_init(pc_bounded_semaphore *sem, int value);
PYCONC_API int pc_bounded_semaphore_acquire(pc_bounded_semaphore *sem, double timeout);
PYCONC_API int pc_bounded_semaphore_release(pc_bounded_semaphore *sem, int n);

// >>api.event
/* A flag threads can wait for. Python: threading.Event */
typedef struct pc_event {
    uint32_t word;              // bit 0: the flag; the rest: times it was set
    pc__evc evc;                // waiters for a set()
} pc_event;
#define PC_EVENT_INIT {0, PC__EVC_INIT}

PYCONC_API void pc_event_init(pc_event *ev);
PYCONC_API void pc_event_destroy(pc_event *ev);
/* Set the flag and wake every waiter. Python: Event.set */
PYCONC_API void pc_event_set(pc_event *ev);
/* Clear the flag. Python: Event.clear */
PYCONC_API void pc_event_clear(pc_event *ev);
/* Return 1 if the flag is set. Python: Event.is_set */
PYCONC_API int pc_event_is_set(const pc_event *ev);
/* Wait until the flag is set. A set() that happens while waiting wakes the
   waiter with PC_OK even if clear() follows at once (Python's rule).
   Returns: PC_OK (Python's True), PC_TIMEOUT (False), PC_VALUE.
   Python: Event.wait */
PYCONC_API int pc_event_wait(pc_event *ev, double timeout);

// >>api.barrier
/* A meeting point for a fixed number of threads. Python: threading.Barrier */
typedef struct pc_barrier {
    pc_lock lock;
    pc_condition cond;
    int parties, count, state;
    pc_target_fn action;
    void *action_arg;
    double timeout;
} pc_barrier;

/* Make a barrier for parties threads (>= 1). action(action_arg), if not
   NULL, runs in one thread once all have arrived; timeout is the default
   for pc_barrier_wait (PC_FOREVER: none).
   Returns: PC_OK, PC_VALUE.  Python: Barrier(parties, action, timeout) */
PYCONC_API int pc_barrier_init(pc_barrier *b, int parties, pc_target_fn action,
                               void *action_arg, double timeout);
PYCONC_API void pc_barrier_destroy(pc_barrier *b);
/* Wait for all parties with the default timeout; *out_index (may be NULL)
   gets 0..parties-1, unique per round.
   Returns: PC_OK, PC_BROKEN (aborted, reset, timed out, or the action
   failed in another thread), the action's code in the thread that ran it,
   PC_VALUE (NULL, or a barrier that was never initialised).
   Python: Barrier.wait() */
PYCONC_API int pc_barrier_wait(pc_barrier *b, int *out_index);
/* As pc_barrier_wait with an explicit timeout. On timeout the barrier is
   broken and every waiter gets PC_BROKEN. Python: Barrier.wait(timeout) */
PYCONC_API int pc_barrier_wait_timeout(pc_barrier *b, double timeout, int *out_index);
/* Return to the empty state; current waiters get PC_BROKEN.
   Python: Barrier.reset */
PYCONC_API void pc_barrier_reset(pc_barrier *b);
/* Break the barrier: current and future waiters get PC_BROKEN until reset.
   Python: Barrier.abort */
PYCONC_API void pc_barrier_abort(pc_barrier *b);
/* Python: Barrier.parties, .n_waiting, .broken */
PYCONC_API int pc_barrier_parties(const pc_barrier *b);
PYCONC_API int pc_barrier_n_waiting(pc_barrier *b);
PYCONC_API int pc_barrier_broken(pc_barrier *b);

// >>api.thread
typedef struct pc_thread pc_thread;

/* Daemon-ness, as a tri-state so the zero value means "as Python". */
typedef enum pc_daemon {
    PC_DAEMON_INHERIT = 0,      // copy the creating thread's
    PC_DAEMON_YES = 1,
    PC_DAEMON_NO = 2
} pc_daemon;

typedef struct pc_thread_desc {
    pc_target_fn target;        // run by the thread; NULL: does nothing
    void *arg;                  // passed to target
    const char *name;           // copied; NULL: "Thread-N (target)", see pc_thread_name
    pc_daemon daemon;           // default: inherited from the creator
    size_t stack_size;          // 0: pc_thread_get_stack_size(); else >= 32 KiB
} pc_thread_desc;

/* Make a thread object (not started). desc may be NULL.
   Returns NULL on failure (pc_last_error).  Python: threading.Thread(...) */
PYCONC_API pc_thread *pc_thread_new(const pc_thread_desc *desc);
/* Drop the caller's reference. A running thread keeps running (detached);
   its object lives until it ends. */
PYCONC_API void pc_thread_free(pc_thread *t);
/* Take another reference (released with pc_thread_free). */
PYCONC_API pc_thread *pc_thread_retain(pc_thread *t);
/* Start the thread. Returns: PC_OK, PC_RUNTIME (started twice), PC_OS,
   PC_NOMEM.  Python: Thread.start */
PYCONC_API int pc_thread_start(pc_thread *t);
/* Wait for the thread to end. On PC_TIMEOUT it stays joinable.
   Returns: PC_OK, PC_TIMEOUT, PC_RUNTIME (not started, or the calling
   thread itself), PC_VALUE.  Python: Thread.join */
PYCONC_API int pc_thread_join(pc_thread *t, double timeout);
/* Return 1 from start until the target returns. Python: Thread.is_alive */
PYCONC_API int pc_thread_is_alive(const pc_thread *t);
/* The thread's name (valid until the next set_name or free). Without a
   desc name it is Python 3.10's "Thread-N (target)": target is the symbol
   name dladdr finds at the target's address, which exists when the
   function is exported (a shared library's, or the program's when linked
   with -rdynamic; C++ names show mangled unless extern "C"). A static
   function, a program without exported symbols, or no target give plain
   "Thread-N"; so do Timers, as in Python. (On glibc the implementation
   file needs _GNU_SOURCE for dladdr: see "Do this".)  Python: Thread.name */
PYCONC_API const char *pc_thread_name(const pc_thread *t);
/* Rename. When t is the calling thread the OS thread is renamed too
   (truncated to the OS limit at a character boundary), as Python 3.14;
   a thread's OS name is otherwise set once, when it starts.
   Returns: PC_OK, PC_VALUE, PC_NOMEM.  Python: Thread.name = ... */
PYCONC_API int pc_thread_set_name(pc_thread *t, const char *name);
/* Python: Thread.ident (0 before start). */
PYCONC_API unsigned long pc_thread_ident(const pc_thread *t);
/* Python: Thread.native_id (0 before start; the kernel's thread id). */
PYCONC_API long pc_thread_native_id(pc_thread *t);
/* Python: Thread.daemon */
PYCONC_API int pc_thread_daemon(const pc_thread *t);
/* Returns: PC_OK, PC_RUNTIME (already started).  Python: Thread.daemon = */
PYCONC_API int pc_thread_set_daemon(pc_thread *t, int daemon);
/* The target's status once it has ended (PC_OK until then). */
PYCONC_API int pc_thread_exitcode(const pc_thread *t);

/* Return the calling thread's object; threads pyconc did not start get a
   "Dummy-N" object, as in Python. Borrowed: valid while the thread runs.
   Python: threading.current_thread */
PYCONC_API pc_thread *pc_thread_current(void);
/* Python: threading.main_thread (borrowed). */
PYCONC_API pc_thread *pc_thread_main(void);
/* Fill out[0..cap) with new references to the live threads (release each
   with pc_thread_free) and return how many are alive (may exceed cap).
   Python: threading.enumerate */
PYCONC_API size_t pc_thread_enumerate(pc_thread **out, size_t cap);
/* Python: threading.active_count */
PYCONC_API size_t pc_thread_active_count(void);
/* Python: threading.get_ident, threading.get_native_id */
PYCONC_API unsigned long pc_thread_get_ident(void);
PYCONC_API long pc_thread_get_native_id(void);
/* The stack size for new threads (0: OS default).
   Python: threading.stack_size() */
PYCONC_API size_t pc_thread_get_stack_size(void);
/* Set it: 0, or >= 32 KiB and a size the OS accepts.
   Returns: PC_OK, PC_VALUE (nothing changed).
   Python: threading.stack_size(size) */
PYCONC_API int pc_thread_set_stack_size(size_t size);

typedef struct pc_excepthook_args {
    int code;                   // the target's status
    const char *message;        // pc_raise's message, or pc_strerror(code)
    pc_thread *thread;          // the thread whose target failed
} pc_excepthook_args;
typedef void (*pc_excepthook_fn)(const pc_excepthook_args *args, void *ctx);

/* Called in a thread whose target returned non-zero. NULL restores the
   default, which prints "Exception in thread NAME: MESSAGE" to stderr.
   Python: threading.excepthook = ... */
PYCONC_API void pc_thread_set_excepthook(pc_excepthook_fn fn, void *ctx);
/* Python: threading.excepthook (never NULL). */
PYCONC_API pc_excepthook_fn pc_thread_get_excepthook(void **out_ctx);
/* The default hook. Python: threading.__excepthook__ */
PYCONC_API void pc_thread_default_excepthook(const pc_excepthook_args *args, void *ctx);

/* A start-of-thread hook: fn(thread, ctx) runs in each thread that
   pc_thread_start starts (pool workers and Timers included) once it is
   running, before its target; the trace hook first, then the profile one,
   as Python installs them. */
typedef void (*pc_thread_hook_fn)(pc_thread *thread, void *ctx);
/* Set the trace hook for the threads started from now on (a thread reads
   it as it starts); NULL removes it.  Python: threading.settrace */
PYCONC_API void pc_thread_settrace(pc_thread_hook_fn fn, void *ctx);
/* As settrace, and run fn once at once in the calling thread. Threads
   already running are not reached (C cannot run code in another thread).
   Python: threading.settrace_all_threads (3.12) */
PYCONC_API void pc_thread_settrace_all_threads(pc_thread_hook_fn fn, void *ctx);
/* The trace hook (NULL: none), its ctx in *out_ctx (may be NULL).
   Python: threading.gettrace */
PYCONC_API pc_thread_hook_fn pc_thread_gettrace(void **out_ctx);
/* The same three for the profile hook, run after the trace hook.
   Python: threading.setprofile, setprofile_all_threads (3.12), getprofile */
PYCONC_API void pc_thread_setprofile(pc_thread_hook_fn fn, void *ctx);
PYCONC_API void pc_thread_setprofile_all_threads(pc_thread_hook_fn fn, void *ctx);
PYCONC_API pc_thread_hook_fn pc_thread_getprofile(void **out_ctx);

// >>api.timer
typedef struct pc_timer pc_timer;
/* A thread that runs fn(arg) after interval seconds unless cancelled.
   Returns NULL on failure.  Python: threading.Timer(interval, fn, args) */
PYCONC_API pc_timer *pc_timer_new(double interval, pc_target_fn fn, void *arg);
/* Start the timer's thread. Returns: PC_OK, PC_RUNTIME (started twice),
   PC_OS, PC_VALUE.  Python: Timer.start (and .join, .is_alive below) */
PYCONC_API int pc_timer_start(pc_timer *t);
/* Stop the timer if it has not fired yet (or not started): then fn never
   runs. Python: Timer.cancel */
PYCONC_API void pc_timer_cancel(pc_timer *t);
PYCONC_API int pc_timer_join(pc_timer *t, double timeout);
PYCONC_API int pc_timer_is_alive(const pc_timer *t);
/* The timer's thread object (borrowed), for its name, daemon flag ... */
PYCONC_API pc_thread *pc_timer_thread(pc_timer *t);
/* Drop the timer; a started one keeps its thread running until it ends. */
PYCONC_API void pc_timer_free(pc_timer *t);

// >>api.local
typedef struct pc_local pc_local;
/* A per-thread slot; dtor(value) runs at the exit of each thread that set a
   non-NULL value. Returns NULL on failure.  Python: threading.local */
PYCONC_API pc_local *pc_local_new(void (*dtor)(void *value));
/* A per-thread slot whose value starts as init(ctx), made in each thread
   on its first pc_local_get (a thread that sets first never runs init).
   The value init returns, NULL included, counts as set: init runs once
   per thread, and dtor destroys its value as a set one. init NULL is
   pc_local_new(dtor). Returns NULL on failure.
   Python: a threading.local subclass whose __init__ runs in each thread */
PYCONC_API pc_local *pc_local_new_init(void *(*init)(void *ctx), void *ctx,
                                       void (*dtor)(void *value));
/* Drop the slot. Values that threads still hold are not destroyed (as
   pthread_key_delete): free them first, or keep the local for the program. */
PYCONC_API void pc_local_free(pc_local *loc);
/* This thread's value (NULL until set; init's value on the first call of
   a thread, for a local made with pc_local_new_init). */
PYCONC_API void *pc_local_get(pc_local *loc);
/* Returns: PC_OK, PC_VALUE, PC_OS. */
PYCONC_API int pc_local_set(pc_local *loc, void *value);

// >>api.cpu
/* The online CPUs (>= 1), or the override PYCONC_CPU_COUNT sets: a
   positive integer in the environment replaces this count and
   pc_process_cpu_count's, "default" (or anything else) leaves both alone;
   a set-user-ID program ignores it.
   Python: os.cpu_count, with PYTHON_CPU_COUNT / -X cpu_count (3.13) */
PYCONC_API int pc_cpu_count(void);
/* The CPUs this process may run on (>= 1), or PYCONC_CPU_COUNT's override.
   Python: os.process_cpu_count */
PYCONC_API int pc_process_cpu_count(void);

// >>api.internal
/* Shared machinery for the other pyconc headers. Not for users. */

/* Set the calling thread's last error and return code. */
PYCONC_API int pc__error(int code, const char *fmt, ...) PC__PRINTF(2, 3);
/* PC_OS with "what: strerror(errno)"; errno is preserved. */
PYCONC_API int pc__os_error(const char *what);
/* This thread's error sequence: it grows with every failure recorded, so a
   caller can tell whether a callback recorded one. */
PYCONC_API uint64_t pc__error_seq(void);
/* 1 when this thread recorded a failure with code since seq (its message
   then belongs to that code), else 0. */
PYCONC_API int pc__error_since(uint64_t seq, int code);
/* Clear this thread's pending pc_raise() and return it (PC_OK if none);
   the message is copied to msg (may be NULL). */
PYCONC_API int pc__exception_take(char *msg, size_t cap);
/* Turn a timeout into an absolute monotonic deadline (INFINITY when
   negative); NaN -> PC_VALUE. */
PYCONC_API int pc__deadline(double timeout, double *out_deadline);
/* Block while *addr == expected, until woken or deadline (monotonic
   seconds, INFINITY: none). shared: the word is in memory shared between
   processes. Returns 0 (woken, changed, or spurious) or PC_TIMEOUT. */
PYCONC_API int pc__futex_wait(uint32_t *addr, uint32_t expected, double deadline, int shared);
/* Wake up to n waiters of addr (INT32_MAX: all). */
PYCONC_API void pc__futex_wake(uint32_t *addr, int n, int shared);
/* Move up to n sleepers of from (asleep while *from == expected) onto the
   queue of to, without waking them: a wake of to wakes them later. Returns
   how many moved. Without a futex nothing can move: they are woken now
   (and 0 is returned), so each must be ready to find to still taken. */
PYCONC_API int pc__futex_requeue(uint32_t *from, uint32_t expected, uint32_t *to, int n,
                                 int shared);
/* How many wake calls (pc__futex_wake) this thread has made: for tests. */
PYCONC_API uint64_t pc__futex_wake_calls(void);

/* Event count (pc__evc, declared under >>api.evc): the one sleep/wake protocol
   of pyconc's waits. A waiter looks, announces itself, looks again, and
   only then sleeps:

       while (!ready()) {
           uint32_t key = pc__evc_prepare(&e);      // read the key, announce
           if (ready()) break;                      // look again
           if (pc__evc_wait(&e, key, deadline) == PC_TIMEOUT) {
               ...one last look at ready(), then time out...
           }
       }

   A notifier makes ready() true, then calls pc__evc_notify(&e, n). With
   nobody announced that is one load and no system call.

   Why no wake-up is lost. The waiter's announcement (waiters += 1) comes
   before its second look, the notifier's write of the condition before
   its read of waiters, and all four are sequentially consistent: so
   either the waiter sees the condition, or the notifier sees a count.
   Seeing one, the notifier takes it off and moves seq before it wakes.
   The waiter read its key before it announced itself, so that move
   changes seq from the key: a waiter not yet in the futex call does not
   sleep, and one already asleep is among those the wake finds. ready()
   must therefore read with sequentially consistent loads (or
   read-modify-writes), and the notifier write the condition the same way.

   Taking the count off before waking means that while a woken sleeper is
   still on its way, the notifies that follow make no system call. A
   sleeper that leaves on its own (timeout, or it found ready() true after
   announcing) leaves its count behind: that costs one needless wake
   later, never a lost one. It cannot take the count back: a notifier may
   have taken it already, and then it would take a later sleeper's
   (pc__evc_leave is the exception, for callers whose every step runs
   under one lock). Stale counts pile up in a program that polls with
   short timeouts, and a count that wrapped to 0 under a real sleeper
   would be a lost wake-up; so an announcement that finds PC__EVC_FLUSH
   (2^30) counts flushes them: it takes them all and wakes every sleeper,
   who look again and announce anew (spurious wake-ups are allowed). The
   count then stays far below its 31 bits, and the whole event count fits
   in 8 bytes, small enough to embed in every primitive.

   Shared memory: an event count set up with pc__evc_init(e, 1) may live in
   a mapping shared between processes; its futex calls then omit the
   private flag, so a notify in one process wakes a sleeper in another.
   Without a futex (PYCONC_NO_FUTEX, or off Linux) no wake reaches another
   process: a shared wait polls seq in 1 ms slices instead. */
PYCONC_API void pc__evc_init(pc__evc *e, int shared);
/* Take every count and wake every sleeper (pc__evc_prepare's overflow). */
PYCONC_API void pc__evc_flush(pc__evc *e);
/* Read the key and announce a waiter; look at the condition after this. */
static inline uint32_t pc__evc_prepare(pc__evc *e) {
    uint32_t key = __atomic_load_n(&e->seq, __ATOMIC_ACQUIRE);
    if ((__atomic_fetch_add(&e->waiters, 1u, __ATOMIC_SEQ_CST) & PC__EVC_COUNT) >= PC__EVC_FLUSH)
        pc__evc_flush(e);
    return key;
}
/* Sleep while seq still holds key, until a notify moves it or deadline
   (monotonic seconds; INFINITY: none) passes; a passed deadline wins over
   a moved key. Wake-ups that leave seq alone are absorbed here.
   Returns PC_OK (look again) or PC_TIMEOUT (look a last time). */
PYCONC_API int pc__evc_wait(pc__evc *e, uint32_t key, double deadline);
/* Leave after a wait (woken, timed out, or never slept), for a caller whose
   prepares, takes and leaves all run under one lock: parked is how many
   waiters are still between their prepare and their leave. Counts above it
   are stale, left by waiters that returned without being taken (a timeout,
   or a key moved for another), and are dropped; the ones a parked waiter
   may still need never exceed it. Without this, a pool whose workers keep
   racing its submits piles up stale counts, and each makes a submit wake
   nobody. Lock-free callers leave by doing nothing (see above). */
PYCONC_API void pc__evc_leave(pc__evc *e, uint32_t parked);
/* The slow halves of pc__evc_take and pc__evc_notify, once a count was
   seen (kept out of line, so that the callers' fast paths stay small). */
PYCONC_API int pc__evc_claim(pc__evc *e, int n);
PYCONC_API void pc__evc_notify_seen(pc__evc *e, int n);
/* Take up to n (>= 1; INT32_MAX: all) announced waiters off the count and
   move seq. Returns 1 when a wake is due: then call pc__evc_wake(e, n),
   e.g. after releasing a lock. */
static inline int pc__evc_take(pc__evc *e, int n) {
    if ((__atomic_load_n(&e->waiters, __ATOMIC_SEQ_CST) & PC__EVC_COUNT) == 0) return 0;
    return pc__evc_claim(e, n);
}
/* The system call that wakes up to n sleepers of e. */
PYCONC_API void pc__evc_wake(pc__evc *e, int n);
/* Wake up to n (>= 1; INT32_MAX: all) announced waiters, if any: take,
   then wake. */
static inline void pc__evc_notify(pc__evc *e, int n) {
    if (__atomic_load_n(&e->waiters, __ATOMIC_SEQ_CST) & PC__EVC_COUNT) pc__evc_notify_seen(e, n);
}
/* Take lock if it is free, without waiting or an error message (1: taken),
   for a caller that has something else to do when it is held. */
static inline int pc__lock_try(pc_lock *lock) {
    uint32_t free_state = 0;
    return __atomic_compare_exchange_n(&lock->state, &free_state, 1, 0, __ATOMIC_ACQUIRE,
                                       __ATOMIC_RELAXED);
}
/* A per-thread identity, cheap, never 0. */
PYCONC_API uintptr_t pc__self_id(void);
PYCONC_API void *pc__malloc(size_t size);      // PC_NOMEM on failure
PYCONC_API void *pc__calloc(size_t n, size_t size);
/* Resize p (old_size bytes of it in use; NULL: allocate) to size bytes.
   On failure (PC_NOMEM) p is untouched and still the caller's. */
PYCONC_API void *pc__realloc(void *p, size_t old_size, size_t size);
PYCONC_API void pc__free(void *p);
/* Make room for need items of item_size bytes in the array *items (items:
   the address of the caller's `T *`), of *cap items now: when need > *cap,
   grow to twice *cap (at first 4 items, or 64 bytes' worth if more), at
   least need, at most max (0: as many as size_t can count). The items kept
   move along (pc__realloc); new ones are not zeroed.
   Returns: PC_OK (*items and *cap updated), PC_VALUE (need > max), PC_NOMEM
   (out of memory, or too large for size_t); on failure both are untouched. */
PYCONC_API int pc__grow(void *items, size_t *cap, size_t need, size_t item_size, size_t max);
PYCONC_API char *pc__strdup(const char *s);
/* Python's exception name for a code: "TimeoutError". */
PYCONC_API const char *pc__exception_name(int code);
/* One pause of a spin loop (x86 pause, arm64 yield): kinder to the other
   hyperthread and to power. */
PYCONC_API void pc__cpu_relax(void);
/* Keep a function out of line (a hot caller's fast path then saves no
   registers for its slow path). */
#if defined(__GNUC__) || defined(__clang__)
#define PC__NOINLINE __attribute__((noinline))
#else
#define PC__NOINLINE
#endif
/* Thread-local storage class, for C and C++ alike. */
#ifdef __cplusplus
#define PC__TLS thread_local
#else
#define PC__TLS _Thread_local
#endif
/* Turn monotonic seconds into a timespec (for the OS's timed waits). */
struct timespec;
PYCONC_API void pc__timespec(double seconds, struct timespec *out);

/* The library's lifecycle: every header's fork and exit work, run from one
   pthread_atfork and one atexit in named phases. At exit the phases run
   in this order, as Python's shutdown: executors finish their queues and
   join their workers, then the non-daemon threads are joined, then the
   child processes (daemonic ones terminated). Before fork the phases run
   in the same order, each taking its own locks (so the lock order is
   fixed here); after fork, parent and child, in the reverse order. */
typedef enum pc__phase {
    PC__PHASE_POOLS = 0,        // pyconc_futures.h: executors
    PC__PHASE_THREADS = 1,      // pyconc.h: threads, locals, excepthook, wait queue
    PC__PHASE_PROCESSES = 2,    // pyconc_process.h: children, forkserver
    PC__PHASE_SHARED = 3,       // pyconc_process.h: shared objects (its part D on)
    PC__PHASE_COUNT = 4
} pc__phase;
typedef struct pc__hooks {
    void (*before_fork)(void);
    void (*after_fork_parent)(void);
    void (*after_fork_child)(void);
    void (*at_exit)(void);
} pc__hooks;
/* Set the hooks of a phase (copied; NULL members do nothing). Each header
   owns one phase and sets it once; setting it again replaces it. */
PYCONC_API void pc__lifecycle_set(pc__phase phase, const pc__hooks *hooks);

#ifdef __cplusplus
}
#endif

#endif // PYCONC_H

// ---------------------------------------------------------------------------
// >>implementation
#if defined(PYCONC_ALL_IMPLEMENTATION) && !defined(PYCONC_IMPLEMENTATION)
#define PYCONC_IMPLEMENTATION
#endif

#if defined(PYCONC_IMPLEMENTATION) && !defined(PYCONC_IMPLEMENTATION_DONE)
#define PYCONC_IMPLEMENTATION_DONE

#include <dlfcn.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <pthread.h>
#include <sched.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#if defined(__linux__)
#include <sys/prctl.h>
#include <sys/syscall.h>
#endif


#if defined(PYCONC_MALLOC) != defined(PYCONC_FREE)
#error "pyconc: define both PYCONC_MALLOC and PYCONC_FREE, or neither"
#endif
#if defined(PYCONC_REALLOC) && !defined(PYCONC_MALLOC)
#error "pyconc: define PYCONC_REALLOC only with PYCONC_MALLOC and PYCONC_FREE"
#endif
#ifndef PYCONC_MALLOC
#define PYCONC_MALLOC(n) malloc(n)
#define PYCONC_FREE(p) free(p)
#define PYCONC_REALLOC(p, n) realloc(p, n)
#endif
#ifndef PYCONC_ASSERT
#include <assert.h>
#define PYCONC_ASSERT(x) assert(x)
#endif

// glibc declares dladdr only under _GNU_SOURCE, which a system header
// included first in gnu mode leaves off: names then go without the target.
#if !defined(__GLIBC__) || defined(__USE_GNU)
#define PC__HAVE_DLADDR 1
#else
#define PC__HAVE_DLADDR 0
#endif

#if defined(__linux__) && defined(SYS_futex) && !defined(PYCONC_NO_FUTEX)
#define PC__HAVE_FUTEX 1
#else
#define PC__HAVE_FUTEX 0
#endif

#define PC__LOAD(p) __atomic_load_n((p), __ATOMIC_ACQUIRE)
#define PC__STORE(p, v) __atomic_store_n((p), (v), __ATOMIC_RELEASE)
#define PC__RELAXED(p) __atomic_load_n((p), __ATOMIC_RELAXED)

// >>posix
// Every call into the OS that pyconc.h makes (pthread_* aside), each behind
// a small pc__os_* helper; the sub-headers have OS layers of their own.
static double pc__os_monotonic(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

// An environment variable, or NULL in a secure-execution program
// (set-user-ID, set-group-ID, raised capabilities), whose environment a
// less privileged user chose.
static const char *pc__os_getenv_trusted(const char *name) {
#if defined(__GLIBC__) && defined(__USE_GNU) && \
    (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 17))
    return secure_getenv(name);
#else
    return getuid() != geteuid() || getgid() != getegid() ? NULL : getenv(name);
#endif
}

// Sleep until deadline (monotonic seconds), through signals. errno is kept.
static void pc__os_sleep_until(double deadline) {
    int saved = errno;
#if defined(TIMER_ABSTIME) && !defined(__APPLE__)
    struct timespec until;
    pc__timespec(deadline, &until);
    while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &until, NULL) == EINTR) {}
#else
    double left;
    while ((left = deadline - pc__os_monotonic()) > 0) {
        struct timespec ts;
        pc__timespec(left, &ts);
        nanosleep(&ts, NULL);
    }
#endif
    errno = saved;
}

#if PC__HAVE_FUTEX
// The futex system call (libc has no wrapper): -1 with errno on failure.
static long pc__os_futex(uint32_t *addr, int op, uint32_t val, const struct timespec *timeout,
                         uint32_t mask) {
    return syscall(SYS_futex, addr, op, val, timeout, (uint32_t *)NULL, mask);
}

// The requeue form: the count to move travels in the timeout's place.
static long pc__os_futex_requeue(uint32_t *from, int op, uint32_t wake, uint32_t move,
                                 uint32_t *to, uint32_t expected) {
    return syscall(SYS_futex, from, op, wake, (unsigned long)move, to, expected);
}
#endif

static long pc__os_native_id(void) {
#if defined(__linux__) && defined(SYS_gettid)
    return (long)syscall(SYS_gettid);
#else
    return (long)getpid();
#endif
}

// The name of the symbol that starts exactly at fn, into buf ("" when the
// program exports none there: a static function, or a program linked
// without -rdynamic). dladdr alone would name the nearest exported symbol
// below fn, so the start address must match. Function and data pointers
// share a representation wherever dladdr exists; memcpy keeps ISO C quiet.
static void pc__os_symbol_name(pc_target_fn fn, char *buf, size_t cap) {
    buf[0] = '\0';
#if PC__HAVE_DLADDR
    void *addr = NULL;
    Dl_info info;
    memcpy(&addr, &fn, sizeof fn < sizeof addr ? sizeof fn : sizeof addr);
    if (fn && dladdr(addr, &info) && info.dli_sname && info.dli_saddr == addr)
        snprintf(buf, cap, "%s", info.dli_sname);
#else
    (void)fn;
    (void)cap;
#endif
}

// The OS keeps 15 bytes of a thread name: cut there, but never inside a
// UTF-8 sequence.
static void pc__os_set_thread_name(const char *name) {
#if defined(__linux__)
    char buf[16];
    size_t n = strlen(name);
    if (n > 15) {
        n = 15;
        while (n > 0 && ((unsigned char)name[n] & 0xC0) == 0x80) n--;
    }
    memcpy(buf, name, n);
    buf[n] = '\0';
    prctl(PR_SET_NAME, buf, 0, 0, 0);
#else
    (void)name;
#endif
}

// >>errors
// Each thread keeps its last failure and, separately, a pending pc_raise()
// that the code running a target or task collects.
typedef struct pc__thread_errors {
    uint64_t seq;               // failures recorded so far
    int code;
    int raised;
    char msg[256];
    char raised_msg[256];
} pc__thread_errors;
static PC__TLS pc__thread_errors pc__errs;

PYCONC_API const char *pc_strerror(int code) {
#define PC__ERROR_TEXT(name, value, pyname, text) case value: return text " (" pyname ")";
    switch (code) { PC_ERRORS(PC__ERROR_TEXT) default: return "unknown status code"; }
#undef PC__ERROR_TEXT
}

PYCONC_API const char *pc__exception_name(int code) {
#define PC__ERROR_NAME(name, value, pyname, text) case value: return pyname;
    switch (code) { PC_ERRORS(PC__ERROR_NAME) default: return "Exception"; }
#undef PC__ERROR_NAME
}

PYCONC_API const char *pc_last_error(void) { return pc__errs.msg; }
PYCONC_API int pc_last_error_code(void) { return pc__errs.code; }

PYCONC_API uint64_t pc__error_seq(void) { return pc__errs.seq; }
PYCONC_API int pc__error_since(uint64_t seq, int code) {
    return pc__errs.seq != seq && pc__errs.code == code;
}

static int pc__verror(int code, const char *fmt, va_list ap) {
    pc__errs.seq++;
    pc__errs.code = code;
    vsnprintf(pc__errs.msg, sizeof pc__errs.msg, fmt, ap);
    return code;
}

PYCONC_API int pc__error(int code, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    pc__verror(code, fmt, ap);
    va_end(ap);
    return code;
}

PYCONC_API int pc__os_error(const char *what) {
    int e = errno;
    pc__error(PC_OS, "%s: %s", what, strerror(e));
    errno = e;
    return PC_OS;
}

PYCONC_API int pc_raise(int code, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    pc__verror(code, fmt, ap);
    va_end(ap);
    pc__errs.raised = code;
    memcpy(pc__errs.raised_msg, pc__errs.msg, sizeof pc__errs.msg);
    return code;
}

PYCONC_API int pc__exception_take(char *msg, size_t cap) {
    int code = pc__errs.raised;
    if (msg && cap) {
        if (code) snprintf(msg, cap, "%s", pc__errs.raised_msg);
        else msg[0] = '\0';
    }
    pc__errs.raised = 0;
    return code;
}

// >>memory
PYCONC_API void *pc__malloc(size_t size) {
    void *p = PYCONC_MALLOC(size ? size : 1);
    if (!p) pc__error(PC_NOMEM, "out of memory allocating %zu bytes", size);
    return p;
}

PYCONC_API void *pc__calloc(size_t n, size_t size) {
    if (size && n > (size_t)-1 / size) {
        pc__error(PC_NOMEM, "allocation of %zu x %zu bytes overflows", n, size);
        return NULL;
    }
    void *p = pc__malloc(n * size);
    if (p) memset(p, 0, n * size);
    return p;
}

PYCONC_API void *pc__realloc(void *p, size_t old_size, size_t size) {
    if (!size) size = 1;
#ifdef PYCONC_REALLOC
    void *np = PYCONC_REALLOC(p, size);
    (void)old_size;
#else
    // The documented fallback for a user allocator without realloc.
    void *np = PYCONC_MALLOC(size);
    if (np && p) {
        memcpy(np, p, old_size < size ? old_size : size);
        PYCONC_FREE(p);
    }
#endif
    if (!np) pc__error(PC_NOMEM, "out of memory growing a block to %zu bytes", size);
    return np;
}

PYCONC_API void pc__free(void *p) { if (p) PYCONC_FREE(p); }

// The capacity to grow cap to for need items (need <= limit): doubling, so
// that n pushes cost O(n) copies, with a first step that is never tiny.
static size_t pc__grow_cap(size_t cap, size_t need, size_t item_size, size_t limit) {
    size_t first = 64 / item_size > 4 ? 64 / item_size : 4;
    size_t ncap = !cap ? first : cap > limit / 2 ? limit : cap * 2;
    if (ncap < need) ncap = need;
    return ncap < limit ? ncap : limit;
}

PYCONC_API int pc__grow(void *items, size_t *cap, size_t need, size_t item_size, size_t max) {
    if (need <= *cap) return PC_OK;
    if (!item_size) return pc__error(PC_VALUE, "cannot grow an array of 0-byte items");
    if (max && need > max)
        return pc__error(PC_VALUE, "cannot grow past %zu items (%zu wanted)", max, need);
    size_t limit = (size_t)-1 / item_size;
    if (max && max < limit) limit = max;
    if (need > limit)
        return pc__error(PC_NOMEM, "allocation of %zu x %zu bytes overflows", need, item_size);
    size_t ncap = pc__grow_cap(*cap, need, item_size, limit);
    // items points at the caller's `T *`: read and write it as bytes, which
    // any pointer type allows.
    void *old, *p;
    memcpy(&old, items, sizeof old);
    p = pc__realloc(old, *cap * item_size, ncap * item_size);
    if (!p) return PC_NOMEM;
    memcpy(items, &p, sizeof p);
    *cap = ncap;
    return PC_OK;
}

PYCONC_API char *pc__strdup(const char *s) {
    size_t n = strlen(s) + 1;
    char *d = (char *)pc__malloc(n);
    if (d) memcpy(d, s, n);
    return d;
}

// >>time
PYCONC_API double pc_monotonic(void) { return pc__os_monotonic(); }

PYCONC_API void pc__timespec(double seconds, struct timespec *out) {
    if (seconds < 0) seconds = 0;   // deadlines are never negative; keeps libm out
    out->tv_sec = (time_t)seconds;
    out->tv_nsec = (long)((seconds - (double)out->tv_sec) * 1e9);
    if (out->tv_nsec >= 1000000000L) { out->tv_sec++; out->tv_nsec -= 1000000000L; }
    if (out->tv_nsec < 0) out->tv_nsec = 0;
}

PYCONC_API int pc__deadline(double timeout, double *out_deadline) {
    *out_deadline = INFINITY;   // set on every path: no caller reads it unset
    if (timeout != timeout) return pc__error(PC_VALUE, "timeout is NaN");
    if (timeout < 0 || timeout > PC_TIMEOUT_MAX) *out_deadline = INFINITY;
    else *out_deadline = pc_monotonic() + timeout;
    return PC_OK;
}

PYCONC_API int pc_sleep(double seconds) {
    if (seconds != seconds || seconds < 0)
        return pc__error(PC_VALUE, "sleep length must be a non-negative number");
    if (seconds > PC_TIMEOUT_MAX) seconds = PC_TIMEOUT_MAX;
    pc__os_sleep_until(pc_monotonic() + seconds);
    return PC_OK;
}

// >>waitqueue
// Everything that blocks in pyconc blocks here: wait while a 32-bit word
// holds an expected value, until woken or a monotonic deadline. On Linux
// this is the futex; elsewhere (or with PYCONC_NO_FUTEX) a fixed table of
// mutex + condition variable buckets hashed by address, where a wake
// broadcasts its bucket (spurious wake-ups are allowed by the contract).
static PC__TLS uint64_t pc__wake_calls;       // this thread's pc__futex_wake calls
PYCONC_API uint64_t pc__futex_wake_calls(void) { return pc__wake_calls; }

#if PC__HAVE_FUTEX
// The kernel's futex ABI (linux/futex.h, which musl toolchains lack).
#define PC__FUTEX_WAKE 1
#define PC__FUTEX_CMP_REQUEUE 4
#define PC__FUTEX_WAIT_BITSET 9
#define PC__FUTEX_PRIVATE 128
#define PC__FUTEX_MATCH_ANY 0xffffffffu

PYCONC_API int pc__futex_wait(uint32_t *addr, uint32_t expected, double deadline, int shared) {
    int op = PC__FUTEX_WAIT_BITSET | (shared ? 0 : PC__FUTEX_PRIVATE);
    struct timespec ts, *tsp = NULL;
    if (deadline != INFINITY) { pc__timespec(deadline, &ts); tsp = &ts; }
    int saved = errno;
    long r = pc__os_futex(addr, op, expected, tsp, PC__FUTEX_MATCH_ANY);
    int timed_out = r == -1 && errno == ETIMEDOUT;
    errno = saved;
    return timed_out ? PC_TIMEOUT : 0;
}

PYCONC_API void pc__futex_wake(uint32_t *addr, int n, int shared) {
    int op = PC__FUTEX_WAKE | (shared ? 0 : PC__FUTEX_PRIVATE);
    int saved = errno;
    pc__wake_calls++;
    pc__os_futex(addr, op, (uint32_t)n, NULL, 0);
    errno = saved;
}

PYCONC_API int pc__futex_requeue(uint32_t *from, uint32_t expected, uint32_t *to, int n,
                                 int shared) {
    int op = PC__FUTEX_CMP_REQUEUE | (shared ? 0 : PC__FUTEX_PRIVATE);
    int saved = errno;
    long r = pc__os_futex_requeue(from, op, 0, (uint32_t)n, to, expected);
    errno = saved;
    return r > 0 ? (int)r : 0;
}

static void pc__waitqueue_after_fork(void) {}
#else
#define PC__PARK_BUCKETS 64
typedef struct pc__park { pthread_mutex_t mu; pthread_cond_t cv; } pc__park;
static pc__park pc__parks[PC__PARK_BUCKETS];
static pthread_once_t pc__park_once = PTHREAD_ONCE_INIT;
static int pc__park_ready;      // pthread_once_t is opaque (a struct on BSD, macOS)

static void pc__park_init(void) {
    pc__park_ready = 1;
    for (int i = 0; i < PC__PARK_BUCKETS; i++) {
        pthread_condattr_t ca;
        pthread_condattr_init(&ca);
#if !defined(__APPLE__)
        pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
#endif
        pthread_mutex_init(&pc__parks[i].mu, NULL);
        pthread_cond_init(&pc__parks[i].cv, &ca);
        pthread_condattr_destroy(&ca);
    }
}

static pc__park *pc__park_of(const void *addr) {
    uintptr_t a = (uintptr_t)addr;
    pthread_once(&pc__park_once, pc__park_init);
    return &pc__parks[((a >> 2) ^ (a >> 9)) % PC__PARK_BUCKETS];
}

// Another process cannot reach our buckets: a shared wait polls in 1 ms
// slices instead, and the caller re-checks its word after each.
PYCONC_API int pc__futex_wait(uint32_t *addr, uint32_t expected, double deadline, int shared) {
    pc__park *p = pc__park_of(addr);
    int rc = 0, saved = errno;
    double until = deadline;
    if (shared && until > pc_monotonic() + 0.001) until = pc_monotonic() + 0.001;
    pthread_mutex_lock(&p->mu);
    if (__atomic_load_n(addr, __ATOMIC_ACQUIRE) == expected) {
        if (until == INFINITY) {
            pthread_cond_wait(&p->cv, &p->mu);
        } else {
#if defined(__APPLE__)
            struct timespec rel;
            double left = until - pc_monotonic();
            pc__timespec(left > 0 ? left : 0, &rel);
            int r = pthread_cond_timedwait_relative_np(&p->cv, &p->mu, &rel);
#else
            struct timespec ts;
            pc__timespec(until, &ts);
            int r = pthread_cond_timedwait(&p->cv, &p->mu, &ts);
#endif
            if (r == ETIMEDOUT && until == deadline) rc = PC_TIMEOUT;
        }
    }
    pthread_mutex_unlock(&p->mu);
    errno = saved;
    return rc;
}

PYCONC_API void pc__futex_wake(uint32_t *addr, int n, int shared) {
    (void)n; (void)shared;
    pc__park *p = pc__park_of(addr);
    pc__wake_calls++;
    pthread_mutex_lock(&p->mu);
    pthread_cond_broadcast(&p->cv);
    pthread_mutex_unlock(&p->mu);
}

PYCONC_API int pc__futex_requeue(uint32_t *from, uint32_t expected, uint32_t *to, int n,
                                 int shared) {
    (void)expected; (void)to;
    pc__futex_wake(from, n, shared);
    return 0;
}

// A bucket may have been held by a thread that does not exist in the child.
static void pc__waitqueue_after_fork(void) {
    if (pc__park_ready) pc__park_init();
}
#endif

PYCONC_API void pc__cpu_relax(void) {
#if (defined(__GNUC__) || defined(__clang__)) && (defined(__x86_64__) || defined(__i386__))
    __builtin_ia32_pause();
#elif (defined(__GNUC__) || defined(__clang__)) && defined(__aarch64__)
    __asm__ __volatile__("yield");
#endif
}

// >>evc
// The protocol and why it loses no wake-up are told at the declarations
// (>>api.internal); here are its slow paths. claim and notify_seen stay out of
// line even in the file that holds them: inlined, their calls made every
// notify's fast path (one load) save and restore registers.
PYCONC_API void pc__evc_init(pc__evc *e, int shared) {
    e->seq = 0;
    e->waiters = shared ? PC__EVC_SHARED : 0;
}

static int pc__evc_shared(const pc__evc *e) {
    return (__atomic_load_n(&e->waiters, __ATOMIC_RELAXED) & PC__EVC_SHARED) != 0;
}

// The deadline is checked first, even when the key has moved: the futex
// times out by itself only while seq holds the key, and a stream of moves
// for other waiters would otherwise keep a caller's timed loop going past
// its deadline.
PYCONC_API int pc__evc_wait(pc__evc *e, uint32_t key, double deadline) {
    int shared = pc__evc_shared(e);
    for (;;) {
        if (deadline != INFINITY && pc_monotonic() >= deadline) return PC_TIMEOUT;
        if (__atomic_load_n(&e->seq, __ATOMIC_ACQUIRE) != key) return PC_OK;
        if (pc__futex_wait(&e->seq, key, deadline, shared) == PC_TIMEOUT) return PC_TIMEOUT;
    }
}

PYCONC_API void pc__evc_leave(pc__evc *e, uint32_t parked) {
    uint32_t w = __atomic_load_n(&e->waiters, __ATOMIC_RELAXED);
    if ((w & PC__EVC_COUNT) > parked)
        __atomic_store_n(&e->waiters, (w & PC__EVC_SHARED) | parked, __ATOMIC_RELAXED);
}

// Counts are taken with a compare-and-swap that keeps the shared bit.
PYCONC_API PC__NOINLINE int pc__evc_claim(pc__evc *e, int n) {
    if (n < 1) return 0;
    uint32_t w = __atomic_load_n(&e->waiters, __ATOMIC_SEQ_CST), t;
    do {
        uint32_t count = w & PC__EVC_COUNT;
        if (count == 0) return 0;
        t = n >= INT32_MAX || count < (uint32_t)n ? count : (uint32_t)n;
    } while (!__atomic_compare_exchange_n(&e->waiters, &w, w - t, 1, __ATOMIC_SEQ_CST,
                                          __ATOMIC_SEQ_CST));
    __atomic_fetch_add(&e->seq, 1u, __ATOMIC_SEQ_CST);
    return 1;
}

PYCONC_API void pc__evc_wake(pc__evc *e, int n) { pc__futex_wake(&e->seq, n, pc__evc_shared(e)); }

PYCONC_API PC__NOINLINE void pc__evc_flush(pc__evc *e) { pc__evc_notify_seen(e, INT32_MAX); }

PYCONC_API PC__NOINLINE void pc__evc_notify_seen(pc__evc *e, int n) {
    if (pc__evc_claim(e, n)) pc__evc_wake(e, n);
}

static PC__TLS char pc__self_marker;
PYCONC_API uintptr_t pc__self_id(void) { return (uintptr_t)&pc__self_marker; }

// >>lock
// Three states (0 free, 1 held, 2 held with possible waiters): release only
// enters the kernel when someone may be asleep. Acquire/release ordering on
// the state word is what publishes the protected data. A blocking acquire
// that finds the lock held first watches it for a short while (read-only,
// so the holder's cache line is not stolen): most critical sections are a
// few dozen instructions, and parking costs two context switches. The
// pauses between reads double, so a holder that takes the lock again and
// again keeps its cache line between them (read at every pause, the line
// went back and forth on every pair: 2x a plain futex mutex with 2 to 8
// threads contending). A waiter that sees others asleep (state 2) joins them
// at once: the lock is being handed round, and spinning then only takes
// the CPU the holder needs when threads outnumber cores.
// This is a mutex, not an event count (>>api.internal): the state word is
// the lock itself and the futex key at once, and what a release hands on
// is the right to try for it, not a condition to look at again.
#ifndef PYCONC_LOCK_SPIN
#define PYCONC_LOCK_SPIN 12
#endif
#define PC__LOCK_MAX_PAUSES 64
// A condition's waiter, woken, reads the lock this many times, a pause
// apart, before it sleeps on it.
#define PC__LOCK_REACQUIRE_SPIN 100
PYCONC_API void pc_lock_init(pc_lock *lock) { if (lock) lock->state = 0; }
PYCONC_API void pc_lock_destroy(pc_lock *lock) { (void)lock; }

static int pc__lock_timeout(void) { return pc__error(PC_TIMEOUT, "lock acquire timed out"); }

static int pc__lock_wait(pc_lock *lock, double timeout) {
    double deadline = INFINITY;
    if (timeout == 0) return pc__lock_timeout();
    if (pc__deadline(timeout, &deadline)) return PC_VALUE;
    for (int i = 0, pauses = 1; i < PYCONC_LOCK_SPIN; i++) {
        uint32_t free_state = 0, state;
        for (int k = 0; k < pauses; k++) pc__cpu_relax();
        if (pauses < PC__LOCK_MAX_PAUSES) pauses *= 2;
        state = PC__RELAXED(&lock->state);
        if (state == 2) break;
        if (state == 0 &&
            __atomic_compare_exchange_n(&lock->state, &free_state, 1, 0, __ATOMIC_ACQUIRE,
                                        __ATOMIC_RELAXED))
            return PC_OK;
    }
    uint32_t c = __atomic_exchange_n(&lock->state, 2, __ATOMIC_ACQUIRE);
    while (c != 0) {
        if (pc__futex_wait(&lock->state, 2, deadline, 0) == PC_TIMEOUT) {
            if (__atomic_exchange_n(&lock->state, 2, __ATOMIC_ACQUIRE) == 0) return PC_OK;
            return pc__lock_timeout();
        }
        c = __atomic_exchange_n(&lock->state, 2, __ATOMIC_ACQUIRE);
    }
    return PC_OK;
}

PYCONC_API int pc_lock_acquire(pc_lock *lock, double timeout) {
    uint32_t c = 0;
    if (!lock || timeout != timeout)
        return pc__error(PC_VALUE, lock ? "timeout is NaN" : "lock is NULL");
    if (__atomic_compare_exchange_n(&lock->state, &c, 1, 0, __ATOMIC_ACQUIRE,
                                    __ATOMIC_RELAXED))
        return PC_OK;
    return pc__lock_wait(lock, timeout);
}

PYCONC_API int pc_lock_release(pc_lock *lock) {
    if (!lock) return pc__error(PC_VALUE, "lock is NULL");
    uint32_t old = __atomic_exchange_n(&lock->state, 0, __ATOMIC_RELEASE);
    if (old == 0) return pc__error(PC_RUNTIME, "release unlocked lock");
    if (old == 2) pc__futex_wake(&lock->state, 1, 0);
    return PC_OK;
}

PYCONC_API int pc_lock_locked(const pc_lock *lock) {
    return lock && PC__RELAXED(&lock->state) != 0;
}

// A condition's notify moved a sleeper onto this held lock's queue: make
// the release wake it. The holder is the notifier, so the state is 1 or 2;
// 0 means another thread released a plain Lock meanwhile (Python allows
// that), and then the sleeper is woken here instead.
static void pc__lock_note_requeued(pc_lock *lock) {
    uint32_t held = 1;
    if (__atomic_compare_exchange_n(&lock->state, &held, 2, 0, __ATOMIC_RELAXED,
                                    __ATOMIC_RELAXED) || held != 0)
        return;
    pc__futex_wake(&lock->state, 1, 0);
}

// Take the lock back after a condition wait. The caller may have been
// moved onto the lock's queue and woken by a release, with more moved
// sleepers still there: like any woken sleeper it must leave the state at
// 2, or the next release would wake none of them.
static void pc__lock_reacquire(pc_lock *lock) {
    for (int i = 0; i < PC__LOCK_REACQUIRE_SPIN; i++) {
        uint32_t free_state = 0;
        if (PC__RELAXED(&lock->state) == 0 &&
            __atomic_compare_exchange_n(&lock->state, &free_state, 2, 0, __ATOMIC_ACQUIRE,
                                        __ATOMIC_RELAXED))
            return;
        pc__cpu_relax();
    }
    while (__atomic_exchange_n(&lock->state, 2, __ATOMIC_ACQUIRE) != 0)
        pc__futex_wait(&lock->state, 2, INFINITY, 0);
}

// >>rlock
// owner is read without the lock only to compare with the caller's own id,
// which no other thread can store, so relaxed order is enough.
PYCONC_API void pc_rlock_init(pc_rlock *r) { if (r) memset(r, 0, sizeof *r); }
PYCONC_API void pc_rlock_destroy(pc_rlock *r) { (void)r; }

PYCONC_API int pc_rlock_acquire(pc_rlock *r, double timeout) {
    if (!r || timeout != timeout)
        return pc__error(PC_VALUE, r ? "timeout is NaN" : "rlock is NULL");
    uintptr_t me = pc__self_id();
    if (PC__RELAXED(&r->owner) == me) {
        if (r->count == UINT32_MAX) return pc__error(PC_RUNTIME, "RLock recursion overflow");
        r->count++;
        return PC_OK;
    }
    int rc = pc_lock_acquire(&r->lock, timeout);
    if (rc) return rc;
    __atomic_store_n(&r->owner, me, __ATOMIC_RELAXED);
    r->count = 1;
    return PC_OK;
}

PYCONC_API int pc_rlock_release(pc_rlock *r) {
    if (!r) return pc__error(PC_VALUE, "rlock is NULL");
    if (PC__RELAXED(&r->owner) != pc__self_id())
        return pc__error(PC_RUNTIME, "cannot release un-acquired lock");
    if (--r->count == 0) {
        __atomic_store_n(&r->owner, (uintptr_t)0, __ATOMIC_RELAXED);
        pc_lock_release(&r->lock);
    }
    return PC_OK;
}

PYCONC_API int pc_rlock_locked(const pc_rlock *r) { return r && pc_lock_locked(&r->lock); }
PYCONC_API int pc_rlock_is_owned(const pc_rlock *r) {
    return r && PC__RELAXED(&r->owner) == pc__self_id();
}

// Give up every level of an owned RLock, and take them all back.
static uint32_t pc__rlock_release_all(pc_rlock *r) {
    uint32_t depth = r->count;
    r->count = 0;
    __atomic_store_n(&r->owner, (uintptr_t)0, __ATOMIC_RELAXED);
    pc_lock_release(&r->lock);
    return depth;
}

static void pc__rlock_restore(pc_rlock *r, uint32_t depth) {
    pc__lock_reacquire(&r->lock);
    __atomic_store_n(&r->owner, pc__self_id(), __ATOMIC_RELAXED);
    r->count = depth;
}

// >>condition
// Each waiter parks on a word of its own, queued in a FIFO list that the
// condition's lock protects (so notify(n) wakes exactly n, oldest first).
// A notifier sets the word while holding the lock, and the waiter cannot
// leave wait() before it re-takes that lock, so the node on the waiter's
// stack outlives every use by the notifier. Woken there and then, the
// waiter would only find the lock held and sleep again, to be woken a
// second time by the release: so notify moves it, asleep, from its word
// onto the lock's queue (a futex requeue), and the release that lets it
// in is its one wake-up. A waiter not yet asleep sees its word set and
// goes straight for the lock.
// Not the event count of >>api.internal: a waiter here is woken only by the
// notify that picked it, never by a shared state it looks at again, so its
// own 0/1 word is the whole protocol; an event count per waiter would add
// two atomics to every notify and wake nobody sooner.
typedef struct pc__cond_waiter {
    pc__link link;              // first: PC__CONTAINER is then a plain cast
    uint32_t notified;
} pc__cond_waiter;

PYCONC_API void pc_condition_init(pc_condition *c) {
    if (!c) return;
    memset(c, 0, sizeof *c);
}

PYCONC_API void pc_condition_init_lock(pc_condition *c, pc_lock *lock) {
    pc_condition_init(c);
    if (c && lock) { c->lock = lock; c->kind = 1; }
}

PYCONC_API void pc_condition_init_rlock(pc_condition *c, pc_rlock *rlock) {
    pc_condition_init(c);
    if (c && rlock) { c->lock = rlock; c->kind = 2; }
}

PYCONC_API void pc_condition_destroy(pc_condition *c) { (void)c; }

// The pc_lock under the condition (a plain Lock, or the RLock's own).
static pc_lock *pc__cond_mutex(pc_condition *c) {
    if (c->kind == 1) return (pc_lock *)c->lock;
    return c->kind == 2 ? &((pc_rlock *)c->lock)->lock : &c->own.lock;
}

static pc_rlock *pc__cond_rlock(pc_condition *c) {
    return c->kind == 2 ? (pc_rlock *)c->lock : &c->own;
}

PYCONC_API int pc_condition_acquire(pc_condition *c, double timeout) {
    if (!c) return pc__error(PC_VALUE, "condition is NULL");
    if (c->kind == 1) return pc_lock_acquire((pc_lock *)c->lock, timeout);
    return pc_rlock_acquire(pc__cond_rlock(c), timeout);
}

PYCONC_API int pc_condition_release(pc_condition *c) {
    if (!c) return pc__error(PC_VALUE, "condition is NULL");
    if (c->kind == 1) return pc_lock_release((pc_lock *)c->lock);
    return pc_rlock_release(pc__cond_rlock(c));
}

PYCONC_API int pc_condition_locked(const pc_condition *c) {
    if (!c) return 0;
    if (c->kind == 0) return pc_rlock_locked(&c->own);
    return c->kind == 1 ? pc_lock_locked((const pc_lock *)c->lock)
                        : pc_rlock_locked((const pc_rlock *)c->lock);
}

// A plain Lock has no owner: as Python, "held by someone" has to do.
static int pc__cond_owned(pc_condition *c, const char *what) {
    int owned = c->kind == 1 ? pc_lock_locked((pc_lock *)c->lock)
                             : pc_rlock_is_owned(pc__cond_rlock(c));
    return owned ? PC_OK : pc__error(PC_RUNTIME, "cannot %s on un-acquired lock", what);
}

PYCONC_API int pc_condition_wait(pc_condition *c, double timeout) {
    double deadline = INFINITY;
    if (!c) return pc__error(PC_VALUE, "condition is NULL");
    if (pc__deadline(timeout, &deadline)) return PC_VALUE;
    if (pc__cond_owned(c, "wait")) return PC_RUNTIME;
    pc__cond_waiter w;
    w.notified = 0;
    pc__list_push_back(&c->waiters, &w.link);
    uint32_t depth = 0;
    if (c->kind == 1) pc_lock_release((pc_lock *)c->lock);
    else depth = pc__rlock_release_all(pc__cond_rlock(c));
    while (!PC__LOAD(&w.notified))
        if (pc__futex_wait(&w.notified, 0, deadline, 0) == PC_TIMEOUT) break;
    if (c->kind == 1) pc__lock_reacquire((pc_lock *)c->lock);
    else pc__rlock_restore(pc__cond_rlock(c), depth);
    if (PC__LOAD(&w.notified)) return PC_OK;
    pc__list_remove(&c->waiters, &w.link);
    return pc__error(PC_TIMEOUT, "condition wait timed out");
}

PYCONC_API int pc_condition_wait_for(pc_condition *c, int (*predicate)(void *ctx),
                                     void *ctx, double timeout) {
    double deadline = INFINITY;
    if (!c || !predicate) return pc__error(PC_VALUE, "condition or predicate is NULL");
    if (pc__deadline(timeout, &deadline)) return PC_VALUE;
    if (pc__cond_owned(c, "wait")) return PC_RUNTIME;
    while (!predicate(ctx)) {
        double left = deadline == INFINITY ? PC_FOREVER : deadline - pc_monotonic();
        if (deadline != INFINITY && left <= 0)
            return pc__error(PC_TIMEOUT, "condition wait_for timed out");
        pc_condition_wait(c, left);
    }
    return PC_OK;
}

PYCONC_API int pc_condition_notify(pc_condition *c, int n) {
    if (!c) return pc__error(PC_VALUE, "condition is NULL");
    if (pc__cond_owned(c, "notify")) return PC_RUNTIME;
    pc__link *x;
    pc_lock *mutex = pc__cond_mutex(c);
    for (; n > 0 && (x = pc__list_pop_front(&c->waiters)); n--) {  // n <= 0 wakes nobody
        pc__cond_waiter *w = PC__CONTAINER(x, pc__cond_waiter, link);
        PC__STORE(&w->notified, 1u);
        if (pc__futex_requeue(&w->notified, 1u, &mutex->state, 1, 0) > 0)
            pc__lock_note_requeued(mutex);
    }
    return PC_OK;
}

PYCONC_API int pc_condition_notify_all(pc_condition *c) {
    return pc_condition_notify(c, INT32_MAX);
}

// >>semaphore
// Acquirers wait on the event count for value > 0; release adds with a
// sequentially consistent compare-and-swap, then notifies up to n (the
// event count's protocol, >>api.internal). The key is the event count's own
// word, not value: value returns to 0 when another acquirer takes the unit
// first, and a sleeper keyed on it would sleep on with its count taken.
PYCONC_API int pc_semaphore_init(pc_semaphore *s, int value) {
    if (!s) return pc__error(PC_VALUE, "semaphore is NULL");
    if (value < 0) return pc__error(PC_VALUE, "semaphore initial value must be >= 0");
    s->value = (uint32_t)value;
    s->bound = 0;
    pc__evc_init(&s->evc, 0);
    return PC_OK;
}

PYCONC_API void pc_semaphore_destroy(pc_semaphore *s) { (void)s; }

// Take one unit if value > 0 (v: a recent reading). Returns 1 if taken.
static int pc__sem_try(pc_semaphore *s, uint32_t v) {
    while (v > 0)
        if (__atomic_compare_exchange_n(&s->value, &v, v - 1, 1, __ATOMIC_ACQUIRE,
                                        __ATOMIC_RELAXED))
            return 1;
    return 0;
}

static int pc__sem_wait(pc_semaphore *s, double timeout) {
    double deadline = INFINITY;
    if (timeout == 0) return pc__error(PC_TIMEOUT, "semaphore acquire timed out");
    pc__deadline(timeout, &deadline);
    for (;;) {
        uint32_t key = pc__evc_prepare(&s->evc);
        if (pc__sem_try(s, __atomic_load_n(&s->value, __ATOMIC_SEQ_CST))) return PC_OK;
        int r = pc__evc_wait(&s->evc, key, deadline);
        if (pc__sem_try(s, PC__RELAXED(&s->value))) return PC_OK;
        if (r == PC_TIMEOUT) return pc__error(PC_TIMEOUT, "semaphore acquire timed out");
    }
}

PYCONC_API int pc_semaphore_acquire(pc_semaphore *s, double timeout) {
    if (!s || timeout != timeout)
        return pc__error(PC_VALUE, s ? "timeout is NaN" : "semaphore is NULL");
    if (pc__sem_try(s, PC__RELAXED(&s->value))) return PC_OK;
    return pc__sem_wait(s, timeout);
}

PYCONC_API int pc_semaphore_release(pc_semaphore *s, int n) {
    if (!s) return pc__error(PC_VALUE, "semaphore is NULL");
    if (n < 1) return pc__error(PC_VALUE, "n must be one or more");
    uint32_t limit = s->bound ? s->bound & ~PC__SEM_BOUNDED : (uint32_t)INT32_MAX;
    uint32_t v = PC__RELAXED(&s->value);
    do {
        if ((uint64_t)v + (uint64_t)n > limit)
            return pc__error(PC_VALUE, s->bound ? "Semaphore released too many times"
                                                : "semaphore value would overflow");
    } while (!__atomic_compare_exchange_n(&s->value, &v, v + (uint32_t)n, 1,
                                          __ATOMIC_SEQ_CST, __ATOMIC_RELAXED));
    pc__evc_notify(&s->evc, n);
    return PC_OK;
}

PYCONC_API int pc_semaphore_value(const pc_semaphore *s) {
    return s ? (int)PC__RELAXED(&s->value) : 0;
}

PYCONC_API int pc_bounded_semaphore_init(pc_bounded_semaphore *s, int value) {
    int rc = pc_semaphore_init(s, value);
    if (rc == PC_OK) s->bound = PC__SEM_BOUNDED | (uint32_t)value;
    return rc;
}

PYCONC_API int pc_bounded_semaphore_acquire(pc_bounded_semaphore *s, double timeout) {
    return pc_semaphore_acquire(s, timeout);
}

PYCONC_API int pc_bounded_semaphore_release(pc_bounded_semaphore *s, int n) {
    return pc_semaphore_release(s, n);
}

// >>event
// word = (times set << 1) | flag. A waiter waits (on the event count) for
// word to differ from the one it saw with the flag clear; any set() changes
// the count, so the waiter knows it was set even when clear() has already
// run again (Python's rule).
PYCONC_API void pc_event_init(pc_event *ev) {
    if (!ev) return;
    ev->word = 0;
    pc__evc_init(&ev->evc, 0);
}
PYCONC_API void pc_event_destroy(pc_event *ev) { (void)ev; }

PYCONC_API void pc_event_set(pc_event *ev) {
    if (!ev) return;
    uint32_t w = PC__RELAXED(&ev->word);
    do {
        if (w & 1) return;
    } while (!__atomic_compare_exchange_n(&ev->word, &w, w + 3, 1, __ATOMIC_SEQ_CST,
                                          __ATOMIC_RELAXED));
    pc__evc_notify(&ev->evc, INT32_MAX);
}

PYCONC_API void pc_event_clear(pc_event *ev) {
    if (ev) __atomic_fetch_and(&ev->word, ~1u, __ATOMIC_RELEASE);
}

PYCONC_API int pc_event_is_set(const pc_event *ev) {
    return ev && (PC__LOAD(&ev->word) & 1);
}

PYCONC_API int pc_event_wait(pc_event *ev, double timeout) {
    double deadline = INFINITY;
    if (!ev) return pc__error(PC_VALUE, "event is NULL");
    uint32_t w = PC__LOAD(&ev->word);
    if (w & 1) return PC_OK;
    if (pc__deadline(timeout, &deadline)) return PC_VALUE;
    if (timeout == 0) return pc__error(PC_TIMEOUT, "event wait timed out");
    while (__atomic_load_n(&ev->word, __ATOMIC_SEQ_CST) == w) {
        uint32_t key = pc__evc_prepare(&ev->evc);
        if (__atomic_load_n(&ev->word, __ATOMIC_SEQ_CST) != w) break;
        if (pc__evc_wait(&ev->evc, key, deadline) == PC_TIMEOUT && PC__LOAD(&ev->word) == w)
            return pc__error(PC_TIMEOUT, "event wait timed out");
    }
    return PC_OK;
}

// >>barrier
// Python's algorithm: FILLING while threads arrive, DRAINING while they
// leave, RESETTING while a reset waits for the old round to drain, BROKEN
// until reset. All of it under one condition (so its waits are the
// Condition's).
enum { PC__B_FILLING = 0, PC__B_DRAINING = 1, PC__B_RESETTING = -1, PC__B_BROKEN = -2 };

PYCONC_API int pc_barrier_init(pc_barrier *b, int parties, pc_target_fn action,
                               void *action_arg, double timeout) {
    if (!b) return pc__error(PC_VALUE, "barrier is NULL");
    if (parties < 1) return pc__error(PC_VALUE, "parties must be >= 1");
    if (timeout != timeout) return pc__error(PC_VALUE, "timeout is NaN");
    memset(b, 0, sizeof *b);
    pc_condition_init_lock(&b->cond, &b->lock);
    b->parties = parties;
    b->action = action;
    b->action_arg = action_arg;
    b->timeout = timeout;
    return PC_OK;
}

PYCONC_API void pc_barrier_destroy(pc_barrier *b) { (void)b; }

static void pc__barrier_break(pc_barrier *b) {
    b->state = PC__B_BROKEN;
    pc_condition_notify_all(&b->cond);
}

static int pc__barrier_not_filling(void *ctx) {
    return ((pc_barrier *)ctx)->state != PC__B_FILLING;
}

static int pc__barrier_not_draining(void *ctx) {
    int s = ((pc_barrier *)ctx)->state;
    return s != PC__B_DRAINING && s != PC__B_RESETTING;
}

// The last thread in runs the action and lets the others go.
static int pc__barrier_release(pc_barrier *b) {
    if (b->action) {
        int rc = b->action(b->action_arg);
        if (rc) {
            pc__barrier_break(b);
            return pc__error(rc, "barrier action failed: %s", pc_strerror(rc));
        }
    }
    b->state = PC__B_DRAINING;
    pc_condition_notify_all(&b->cond);
    return PC_OK;
}

static int pc__barrier_await(pc_barrier *b, double timeout) {
    if (pc_condition_wait_for(&b->cond, pc__barrier_not_filling, b, timeout) != PC_OK) {
        pc__barrier_break(b);
        return pc__error(PC_BROKEN, "barrier wait timed out; the barrier is broken");
    }
    if (b->state < 0) return pc__error(PC_BROKEN, "barrier was broken or reset");
    return PC_OK;
}

PYCONC_API int pc_barrier_wait_timeout(pc_barrier *b, double timeout, int *out_index) {
    if (out_index) *out_index = -1;
    if (!b) return pc__error(PC_VALUE, "barrier is NULL");
    if (timeout != timeout) return pc__error(PC_VALUE, "timeout is NaN");
    // A zeroed barrier (parties 0) would take every caller as a waiter forever.
    if (b->parties < 1) return pc__error(PC_VALUE, "barrier is not initialised");
    pc_lock_acquire(&b->lock, PC_FOREVER);
    pc_condition_wait_for(&b->cond, pc__barrier_not_draining, b, PC_FOREVER);
    if (b->state < 0) {
        pc_lock_release(&b->lock);
        return pc__error(PC_BROKEN, "barrier is broken");
    }
    int index = b->count++;
    int rc = index + 1 == b->parties ? pc__barrier_release(b) : pc__barrier_await(b, timeout);
    if (--b->count == 0 && (b->state == PC__B_RESETTING || b->state == PC__B_DRAINING)) {
        b->state = PC__B_FILLING;
        pc_condition_notify_all(&b->cond);
    }
    pc_lock_release(&b->lock);
    if (out_index) *out_index = rc ? -1 : index;
    return rc;
}

PYCONC_API int pc_barrier_wait(pc_barrier *b, int *out_index) {
    if (!b) return pc__error(PC_VALUE, "barrier is NULL");
    return pc_barrier_wait_timeout(b, b->timeout, out_index);
}

PYCONC_API void pc_barrier_reset(pc_barrier *b) {
    if (!b) return;
    pc_lock_acquire(&b->lock, PC_FOREVER);
    if (b->count > 0) {
        if (b->state == PC__B_FILLING || b->state == PC__B_BROKEN) b->state = PC__B_RESETTING;
    } else {
        b->state = PC__B_FILLING;
    }
    pc_condition_notify_all(&b->cond);
    pc_lock_release(&b->lock);
}

PYCONC_API void pc_barrier_abort(pc_barrier *b) {
    if (!b) return;
    pc_lock_acquire(&b->lock, PC_FOREVER);
    pc__barrier_break(b);
    pc_lock_release(&b->lock);
}

PYCONC_API int pc_barrier_parties(const pc_barrier *b) { return b ? b->parties : 0; }

PYCONC_API int pc_barrier_n_waiting(pc_barrier *b) {
    if (!b) return 0;
    pc_lock_acquire(&b->lock, PC_FOREVER);
    int n = b->state == PC__B_FILLING ? b->count : 0;
    pc_lock_release(&b->lock);
    return n;
}

PYCONC_API int pc_barrier_broken(pc_barrier *b) {
    if (!b) return 0;
    pc_lock_acquire(&b->lock, PC_FOREVER);
    int broken = b->state == PC__B_BROKEN;
    pc_lock_release(&b->lock);
    return broken;
}

// >>thread
enum { PC__T_NORMAL = 0, PC__T_MAIN = 1, PC__T_DUMMY = 2 };

struct pc_thread {
    uint32_t refs;              // the user's, the running thread's, enumerate's
    pc_lock mu;                 // guards name
    char *name;
    pc_target_fn target;
    void *arg;
    size_t stack_size;
    int daemon;
    int kind;
    uint32_t started;
    uint32_t reaped;            // claimed (CAS 0 -> 1) by whoever joins or detaches
    uint32_t handle_ready;      // handle is written (by the starter)
    int exitcode;
    pthread_t handle;
    unsigned long ident;
    long native_id;
    pc_event running;           // ident and native_id are published
    pc_event done;              // the target has returned
    pc__link reg;               // on the registry, pc__reg
};

// Library-wide state, made once by pc__init (a constructor runs it before
// main, so the main thread is the one that runs main()).
static pthread_once_t pc__once = PTHREAD_ONCE_INIT;
static pc_lock pc__reg_lock = PC_LOCK_INIT;
static pc__list pc__reg = PC__LIST_INIT;    // the threads alive, newest first
static size_t pc__reg_count;
static pc_thread *pc__main_thread;
static uint32_t pc__thread_counter, pc__dummy_counter;
static size_t pc__stack_size;
static pc_lock pc__hook_lock = PC_LOCK_INIT;
static pc_excepthook_fn pc__hook_fn;
static void *pc__hook_ctx;
// The start-of-thread hooks, [0] trace and [1] profile, under pc__hook_lock.
static pc_thread_hook_fn pc__start_hook_fn[2];
static void *pc__start_hook_ctx[2];
static void pc__thread_start_hooks(pc_thread *t);
static pthread_key_t pc__dummy_key;
static PC__TLS pc_thread *pc__tls_self;

static void pc__init(void);
static void pc__run_local_dtors(void);

static void pc__registry_add(pc_thread *t) {
    pc_lock_acquire(&pc__reg_lock, PC_FOREVER);
    pc__list_push_front(&pc__reg, &t->reg);
    pc__reg_count++;
    pc_lock_release(&pc__reg_lock);
}

static void pc__registry_remove(pc_thread *t) {
    pc_lock_acquire(&pc__reg_lock, PC_FOREVER);
    if (pc__list_is_linked(&pc__reg, &t->reg)) {
        pc__list_remove(&pc__reg, &t->reg);
        pc__reg_count--;
    }
    pc_lock_release(&pc__reg_lock);
}

// A stack size is 0 (the OS default) or at least 32 KiB (Python's floor)
// and one the OS takes (PTHREAD_STACK_MIN can be higher): checked when it
// is given, as Python does, not found out when a thread fails to start.
static int pc__stack_size_check(size_t size) {
    if (size == 0) return PC_OK;
    pthread_attr_t attr;
    int err = size < 32768 ? EINVAL : pthread_attr_init(&attr);
    if (!err) {
        err = pthread_attr_setstacksize(&attr, size);
        pthread_attr_destroy(&attr);
    }
    return err ? pc__error(PC_VALUE, "stack size not valid: %zu bytes", size) : PC_OK;
}

static pc_thread *pc__thread_alloc(const char *name, int kind, int daemon) {
    pc_thread *t = (pc_thread *)pc__calloc(1, sizeof *t);
    if (!t) return NULL;
    t->name = pc__strdup(name);
    if (!t->name) { pc__free(t); return NULL; }
    t->refs = 1;
    t->kind = kind;
    t->daemon = daemon;
    return t;
}

// Make the object for a thread that is already running (main or foreign).
static pc_thread *pc__thread_adopt(const char *name, int kind, int daemon) {
    pc_thread *t = pc__thread_alloc(name, kind, daemon);
    if (!t) return NULL;
    t->started = 1;
    t->handle = pthread_self();
    t->ident = (unsigned long)(uintptr_t)pthread_self();
    t->native_id = pc__os_native_id();
    pc_event_set(&t->running);
    pc__tls_self = t;
    pc__registry_add(t);
    return t;
}

// Exactly one caller gets to pthread_join or pthread_detach a thread.
static int pc__thread_claim_reap(pc_thread *t) {
    uint32_t expected = 0;
    if (t->kind != PC__T_NORMAL || !__atomic_load_n(&t->handle_ready, __ATOMIC_ACQUIRE))
        return 0;
    return __atomic_compare_exchange_n(&t->reaped, &expected, 1, 0, __ATOMIC_ACQ_REL,
                                       __ATOMIC_RELAXED);
}

static void pc__thread_release(pc_thread *t, int from_itself) {
    if (__atomic_sub_fetch(&t->refs, 1, __ATOMIC_ACQ_REL) != 0) return;
    if (pc__thread_claim_reap(t)) {
        if (from_itself) pthread_detach(pthread_self());
        else pthread_join(t->handle, NULL);
    }
    pc__free(t->name);
    pc__free(t);
}

PYCONC_API pc_thread *pc_thread_retain(pc_thread *t) {
    if (t) __atomic_add_fetch(&t->refs, 1, __ATOMIC_RELAXED);
    return t;
}

PYCONC_API void pc_thread_free(pc_thread *t) {
    if (!t) return;
    // The main and dummy objects belong to the library while their thread
    // runs: a free of the borrowed pointer is ignored. Once a dummy's thread
    // has ended (done is set before it drops the library's reference), the
    // last reference is an enumerate()'s, and frees it.
    if (t->kind != PC__T_NORMAL && __atomic_load_n(&t->refs, __ATOMIC_ACQUIRE) <= 1 &&
        !pc_event_is_set(&t->done))
        return;
    // Still running with no other reference: let it go on, detached.
    if (__atomic_load_n(&t->refs, __ATOMIC_ACQUIRE) == 2 && pc_thread_is_alive(t) &&
        pc__thread_claim_reap(t))
        pthread_detach(t->handle);
    pc__thread_release(t, 0);
}

// Python 3.10's default name: "Thread-N (target's name)", or "Thread-N"
// when there is no target or no exported symbol names it.
static void pc__thread_auto_name(pc_target_fn target, char *buf, size_t cap) {
    char sym[200];
    unsigned n = __atomic_add_fetch(&pc__thread_counter, 1, __ATOMIC_RELAXED);
    pc__os_symbol_name(target, sym, sizeof sym);
    if (sym[0]) snprintf(buf, cap, "Thread-%u (%s)", n, sym);
    else snprintf(buf, cap, "Thread-%u", n);
}

PYCONC_API pc_thread *pc_thread_new(const pc_thread_desc *desc) {
    pc_thread_desc d;
    char auto_name[256];
    pc__init();
    memset(&d, 0, sizeof d);
    if (desc) d = *desc;
    if (!d.name) {
        pc__thread_auto_name(d.target, auto_name, sizeof auto_name);
        d.name = auto_name;
    }
    if (d.daemon != PC_DAEMON_INHERIT && d.daemon != PC_DAEMON_YES && d.daemon != PC_DAEMON_NO) {
        pc__error(PC_VALUE, "daemon must be PC_DAEMON_INHERIT, _YES or _NO");
        return NULL;
    }
    if (pc__stack_size_check(d.stack_size)) return NULL;
    int daemon = d.daemon == PC_DAEMON_YES ||
                 (d.daemon == PC_DAEMON_INHERIT && pc_thread_daemon(pc_thread_current()));
    pc_thread *t = pc__thread_alloc(d.name, PC__T_NORMAL, daemon);
    if (!t) return NULL;
    t->target = d.target;
    t->arg = d.arg;
    t->stack_size = d.stack_size;
    return t;
}

// Run the hook with the failure the target left: its pc_raise() message,
// else the last error it recorded if that has the same code, else the
// code's description (never a message older than the target).
static void pc__thread_report(pc_thread *t, int rc, uint64_t seq) {
    char msg[256];
    if (pc__exception_take(msg, sizeof msg) == 0) {
        const char *m = pc__error_since(seq, rc) && pc__errs.msg[0] ? pc__errs.msg
                                                                   : pc_strerror(rc);
        snprintf(msg, sizeof msg, "%s", m);
    }
    void *ctx;
    pc_excepthook_fn fn = pc_thread_get_excepthook(&ctx);
    pc_excepthook_args args = {rc, msg, t};
    fn(&args, ctx);
}

static void *pc__thread_entry(void *p) {
    pc_thread *t = (pc_thread *)p;
    pc__tls_self = t;
    __atomic_store_n(&t->ident, (unsigned long)(uintptr_t)pthread_self(), __ATOMIC_RELAXED);
    __atomic_store_n(&t->native_id, pc__os_native_id(), __ATOMIC_RELAXED);
    pc_lock_acquire(&t->mu, PC_FOREVER);
    pc__os_set_thread_name(t->name);
    pc_lock_release(&t->mu);
    pc_event_set(&t->running);
    pc__thread_start_hooks(t);
    pc__exception_take(NULL, 0);
    uint64_t seq = pc__error_seq();
    int rc = t->target ? t->target(t->arg) : 0;
    if (rc != 0) pc__thread_report(t, rc, seq);
    t->exitcode = rc;
    pc__run_local_dtors();
    pc__registry_remove(t);
    pc__tls_self = NULL;
    pc_event_set(&t->done);
    pc__thread_release(t, 1);
    return NULL;
}

PYCONC_API int pc_thread_start(pc_thread *t) {
    pthread_attr_t attr;
    if (!t) return pc__error(PC_VALUE, "thread is NULL");
    uint32_t expected = 0;
    if (!__atomic_compare_exchange_n(&t->started, &expected, 1, 0, __ATOMIC_ACQ_REL,
                                     __ATOMIC_RELAXED))
        return pc__error(PC_RUNTIME, "threads can only be started once");
    size_t stack = t->stack_size ? t->stack_size
                                 : __atomic_load_n(&pc__stack_size, __ATOMIC_RELAXED);
    pthread_attr_init(&attr);
    if (stack) pthread_attr_setstacksize(&attr, stack);
    pc_thread_retain(t);
    pc__registry_add(t);
    pthread_t h;
    int err = pthread_create(&h, &attr, pc__thread_entry, t);
    pthread_attr_destroy(&attr);
    if (!err) {
        t->handle = h;
        __atomic_store_n(&t->handle_ready, 1u, __ATOMIC_RELEASE);
    } else {
        pc__registry_remove(t);
        __atomic_sub_fetch(&t->refs, 1, __ATOMIC_RELAXED);
        __atomic_store_n(&t->started, 0u, __ATOMIC_RELEASE);
        errno = err;
        return pc__os_error("can't start new thread");
    }
    return PC_OK;
}

PYCONC_API int pc_thread_join(pc_thread *t, double timeout) {
    if (!t) return pc__error(PC_VALUE, "thread is NULL");
    if (timeout != timeout) return pc__error(PC_VALUE, "timeout is NaN");
    if (!__atomic_load_n(&t->started, __ATOMIC_ACQUIRE))
        return pc__error(PC_RUNTIME, "cannot join thread before it is started");
    if (t == pc__tls_self) return pc__error(PC_RUNTIME, "cannot join current thread");
    if (t->kind == PC__T_DUMMY) return pc__error(PC_RUNTIME, "cannot join a dummy thread");
    // An unlimited join sleeps once, in pthread_join, when it can; a timed
    // one waits for the done event and reaps afterwards.
    if (timeout < 0 && pc__thread_claim_reap(t)) {
        pthread_join(t->handle, NULL);
        return PC_OK;
    }
    if (pc_event_wait(&t->done, timeout) != PC_OK)
        return pc__error(PC_TIMEOUT, "join of %s timed out", t->name);
    if (pc__thread_claim_reap(t)) pthread_join(t->handle, NULL);
    return PC_OK;
}

PYCONC_API int pc_thread_is_alive(const pc_thread *t) {
    return t && __atomic_load_n(&t->started, __ATOMIC_ACQUIRE) && !pc_event_is_set(&t->done);
}

PYCONC_API const char *pc_thread_name(const pc_thread *t) { return t ? t->name : ""; }

PYCONC_API int pc_thread_set_name(pc_thread *t, const char *name) {
    if (!t || !name) return pc__error(PC_VALUE, "thread or name is NULL");
    char *copy = pc__strdup(name);
    if (!copy) return PC_NOMEM;
    pc_lock_acquire(&t->mu, PC_FOREVER);
    char *old = t->name;
    t->name = copy;
    if (t == pc__tls_self) pc__os_set_thread_name(copy);
    pc_lock_release(&t->mu);
    pc__free(old);
    return PC_OK;
}

PYCONC_API unsigned long pc_thread_ident(const pc_thread *t) {
    if (!t || !__atomic_load_n(&t->started, __ATOMIC_ACQUIRE)) return 0;
    pc_event_wait((pc_event *)&t->running, PC_FOREVER);
    return __atomic_load_n(&t->ident, __ATOMIC_RELAXED);
}

PYCONC_API long pc_thread_native_id(pc_thread *t) {
    if (!t || !__atomic_load_n(&t->started, __ATOMIC_ACQUIRE)) return 0;
    pc_event_wait(&t->running, PC_FOREVER);
    return __atomic_load_n(&t->native_id, __ATOMIC_RELAXED);
}

PYCONC_API int pc_thread_daemon(const pc_thread *t) { return t ? t->daemon : 0; }

PYCONC_API int pc_thread_set_daemon(pc_thread *t, int daemon) {
    if (!t) return pc__error(PC_VALUE, "thread is NULL");
    if (__atomic_load_n(&t->started, __ATOMIC_ACQUIRE))
        return pc__error(PC_RUNTIME, "cannot set daemon status of active thread");
    t->daemon = daemon != 0;
    return PC_OK;
}

PYCONC_API int pc_thread_exitcode(const pc_thread *t) {
    return t && pc_event_is_set(&t->done) ? t->exitcode : PC_OK;
}

// A thread pyconc did not start: its Dummy object leaves the registry when
// the thread exits (through the key's destructor).
static void pc__dummy_exit(void *p) {
    pc_thread *t = (pc_thread *)p;
    pc__registry_remove(t);
    // Other keys' destructors may still run in this thread and call
    // pc_thread_current(): they must not get the object freed below.
    if (pc__tls_self == t) pc__tls_self = NULL;
    pc_event_set(&t->done);
    pc__thread_release(t, 1);
}

PYCONC_API pc_thread *pc_thread_current(void) {
    pc__init();
    if (pc__tls_self) return pc__tls_self;
    char name[32];
    unsigned n = __atomic_add_fetch(&pc__dummy_counter, 1, __ATOMIC_RELAXED);
    snprintf(name, sizeof name, "Dummy-%u", n);
    pc_thread *t = pc__thread_adopt(name, PC__T_DUMMY, 1);
    if (t) pthread_setspecific(pc__dummy_key, t);
    return t;
}

PYCONC_API pc_thread *pc_thread_main(void) {
    pc__init();
    return pc__main_thread;
}

PYCONC_API size_t pc_thread_enumerate(pc_thread **out, size_t cap) {
    pc__init();
    pc_thread_current();
    pc_lock_acquire(&pc__reg_lock, PC_FOREVER);
    size_t i = 0;
    for (pc__link *x = pc__reg.head; x && out && i < cap; x = x->next)
        out[i++] = pc_thread_retain(PC__CONTAINER(x, pc_thread, reg));
    size_t n = pc__reg_count;
    pc_lock_release(&pc__reg_lock);
    return n;
}

PYCONC_API size_t pc_thread_active_count(void) {
    pc__init();
    pc_thread_current();
    pc_lock_acquire(&pc__reg_lock, PC_FOREVER);
    size_t n = pc__reg_count;
    pc_lock_release(&pc__reg_lock);
    return n;
}

PYCONC_API unsigned long pc_thread_get_ident(void) {
    return (unsigned long)(uintptr_t)pthread_self();
}

PYCONC_API long pc_thread_get_native_id(void) { return pc__os_native_id(); }

PYCONC_API size_t pc_thread_get_stack_size(void) {
    return __atomic_load_n(&pc__stack_size, __ATOMIC_RELAXED);
}

PYCONC_API int pc_thread_set_stack_size(size_t size) {
    if (pc__stack_size_check(size)) return PC_VALUE;
    __atomic_store_n(&pc__stack_size, size, __ATOMIC_RELAXED);
    return PC_OK;
}

// >>excepthook
PYCONC_API void pc_thread_default_excepthook(const pc_excepthook_args *args, void *ctx) {
    (void)ctx;
    fprintf(stderr, "Exception in thread %s: %s: %s\n",
            args->thread ? pc_thread_name(args->thread) : "?",
            pc__exception_name(args->code), args->message ? args->message : "");
    fflush(stderr);
}

PYCONC_API void pc_thread_set_excepthook(pc_excepthook_fn fn, void *ctx) {
    pc_lock_acquire(&pc__hook_lock, PC_FOREVER);
    pc__hook_fn = fn;
    pc__hook_ctx = fn ? ctx : NULL;
    pc_lock_release(&pc__hook_lock);
}

PYCONC_API pc_excepthook_fn pc_thread_get_excepthook(void **out_ctx) {
    pc_lock_acquire(&pc__hook_lock, PC_FOREVER);
    pc_excepthook_fn fn = pc__hook_fn ? pc__hook_fn : pc_thread_default_excepthook;
    void *ctx = pc__hook_ctx;
    pc_lock_release(&pc__hook_lock);
    if (out_ctx) *out_ctx = ctx;
    return fn;
}

static void pc__start_hook_set(int which, pc_thread_hook_fn fn, void *ctx) {
    pc_lock_acquire(&pc__hook_lock, PC_FOREVER);
    pc__start_hook_fn[which] = fn;
    pc__start_hook_ctx[which] = fn ? ctx : NULL;
    pc_lock_release(&pc__hook_lock);
}

static pc_thread_hook_fn pc__start_hook_get(int which, void **out_ctx) {
    pc_lock_acquire(&pc__hook_lock, PC_FOREVER);
    pc_thread_hook_fn fn = pc__start_hook_fn[which];
    void *ctx = pc__start_hook_ctx[which];
    pc_lock_release(&pc__hook_lock);
    if (out_ctx) *out_ctx = ctx;
    return fn;
}

// Run in the new thread before its target; a hook that raises is ignored.
static void pc__thread_start_hooks(pc_thread *t) {
    for (int which = 0; which < 2; which++) {
        void *ctx;
        pc_thread_hook_fn fn = pc__start_hook_get(which, &ctx);
        if (fn) fn(t, ctx);
    }
}

PYCONC_API void pc_thread_settrace(pc_thread_hook_fn fn, void *ctx) {
    pc__start_hook_set(0, fn, ctx);
}

PYCONC_API void pc_thread_settrace_all_threads(pc_thread_hook_fn fn, void *ctx) {
    pc__start_hook_set(0, fn, ctx);
    if (fn) fn(pc_thread_current(), ctx);
}

PYCONC_API pc_thread_hook_fn pc_thread_gettrace(void **out_ctx) {
    return pc__start_hook_get(0, out_ctx);
}

PYCONC_API void pc_thread_setprofile(pc_thread_hook_fn fn, void *ctx) {
    pc__start_hook_set(1, fn, ctx);
}

PYCONC_API void pc_thread_setprofile_all_threads(pc_thread_hook_fn fn, void *ctx) {
    pc__start_hook_set(1, fn, ctx);
    if (fn) fn(pc_thread_current(), ctx);
}

PYCONC_API pc_thread_hook_fn pc_thread_getprofile(void **out_ctx) {
    return pc__start_hook_get(1, out_ctx);
}

// >>timer
struct pc_timer {
    uint32_t refs;              // the user's and the running thread's
    pc_thread *thread;
    pc_event finished;
    double interval;
    pc_target_fn fn;
    void *arg;
};

static void pc__timer_release(pc_timer *t) {
    if (__atomic_sub_fetch(&t->refs, 1, __ATOMIC_ACQ_REL) != 0) return;
    pc_thread_free(t->thread);
    pc__free(t);
}

static int pc__timer_run(void *p) {
    pc_timer *t = (pc_timer *)p;
    int rc = PC_OK;
    if (pc_event_wait(&t->finished, t->interval) == PC_TIMEOUT && !pc_event_is_set(&t->finished))
        rc = t->fn(t->arg);
    pc_event_set(&t->finished);
    pc__timer_release(t);
    return rc;
}

PYCONC_API pc_timer *pc_timer_new(double interval, pc_target_fn fn, void *arg) {
    if (!fn || interval != interval) {
        pc__error(PC_VALUE, fn ? "interval is NaN" : "timer function is NULL");
        return NULL;
    }
    pc_timer *t = (pc_timer *)pc__calloc(1, sizeof *t);
    if (!t) return NULL;
    pc_thread_desc d;
    char name[32];
    memset(&d, 0, sizeof d);
    d.target = pc__timer_run;
    d.arg = t;
    pc__thread_auto_name(NULL, name, sizeof name);    // Python's Timer has no target
    d.name = name;
    t->thread = pc_thread_new(&d);
    if (!t->thread) { pc__free(t); return NULL; }
    t->refs = 1;
    t->interval = interval < 0 ? 0 : interval;
    t->fn = fn;
    t->arg = arg;
    return t;
}

PYCONC_API int pc_timer_start(pc_timer *t) {
    if (!t) return pc__error(PC_VALUE, "timer is NULL");
    __atomic_add_fetch(&t->refs, 1, __ATOMIC_RELAXED);
    int rc = pc_thread_start(t->thread);
    if (rc) __atomic_sub_fetch(&t->refs, 1, __ATOMIC_RELAXED);
    return rc;
}

PYCONC_API void pc_timer_cancel(pc_timer *t) { if (t) pc_event_set(&t->finished); }

PYCONC_API int pc_timer_join(pc_timer *t, double timeout) {
    if (!t) return pc__error(PC_VALUE, "timer is NULL");
    return pc_thread_join(t->thread, timeout);
}

PYCONC_API int pc_timer_is_alive(const pc_timer *t) { return t && pc_thread_is_alive(t->thread); }
PYCONC_API pc_thread *pc_timer_thread(pc_timer *t) { return t ? t->thread : NULL; }
PYCONC_API void pc_timer_free(pc_timer *t) { if (t) pc__timer_release(t); }

// >>local
// Locals are pthread keys; pyconc's own threads run the destructors
// themselves before they count as done, so a join sees them finished.
// A local with an initializer has a second key, set in each thread that
// has had its value (from init or a set): a NULL value cannot tell.
struct pc_local {
    pthread_key_t key;
    pthread_key_t inited;       // only with init
    void (*dtor)(void *);
    void *(*init)(void *ctx);
    void *ctx;
    pc__link link;              // on pc__locals
};
static pc_lock pc__locals_lock = PC_LOCK_INIT;
static pc__list pc__locals = PC__LIST_INIT;

static int pc__local_keys(pc_local *loc) {
    int err = pthread_key_create(&loc->key, loc->dtor);
    if (!err && loc->init && (err = pthread_key_create(&loc->inited, NULL)) != 0)
        pthread_key_delete(loc->key);
    if (!err) return PC_OK;
    errno = err;
    return pc__os_error("pthread_key_create");
}

PYCONC_API pc_local *pc_local_new_init(void *(*init)(void *ctx), void *ctx,
                                       void (*dtor)(void *value)) {
    pc_local *loc = (pc_local *)pc__calloc(1, sizeof *loc);
    if (!loc) return NULL;
    loc->dtor = dtor;
    loc->init = init;
    loc->ctx = ctx;
    if (pc__local_keys(loc)) {
        pc__free(loc);
        return NULL;
    }
    pc_lock_acquire(&pc__locals_lock, PC_FOREVER);
    pc__list_push_front(&pc__locals, &loc->link);
    pc_lock_release(&pc__locals_lock);
    return loc;
}

PYCONC_API pc_local *pc_local_new(void (*dtor)(void *value)) {
    return pc_local_new_init(NULL, NULL, dtor);
}

PYCONC_API void pc_local_free(pc_local *loc) {
    if (!loc) return;
    pc_lock_acquire(&pc__locals_lock, PC_FOREVER);
    pc__list_remove(&pc__locals, &loc->link);
    pc_lock_release(&pc__locals_lock);
    pthread_key_delete(loc->key);
    if (loc->init) pthread_key_delete(loc->inited);
    pc__free(loc);
}

// Mark this thread's value as made. Any non-NULL value does.
static int pc__local_mark(pc_local *loc) {
    int err = loc->init ? pthread_setspecific(loc->inited, loc) : 0;
    if (err) { errno = err; return pc__os_error("pthread_setspecific"); }
    return PC_OK;
}

PYCONC_API void *pc_local_get(pc_local *loc) {
    if (!loc) return NULL;
    if (!loc->init || pthread_getspecific(loc->inited)) return pthread_getspecific(loc->key);
    // First access in this thread: mark before init runs, so that an init
    // which reads the local itself gets NULL instead of recursing.
    if (pc__local_mark(loc)) return NULL;
    void *v = loc->init(loc->ctx);
    if (pthread_setspecific(loc->key, v) != 0) {
        pthread_setspecific(loc->inited, NULL);
        if (v && loc->dtor) loc->dtor(v);
        return NULL;
    }
    return v;
}

PYCONC_API int pc_local_set(pc_local *loc, void *value) {
    if (!loc) return pc__error(PC_VALUE, "local is NULL");
    int err = pthread_setspecific(loc->key, value);
    if (err) { errno = err; return pc__os_error("pthread_setspecific"); }
    return pc__local_mark(loc);
}

// Take one value with a destructor out of this thread's slots and return
// that destructor (NULL if none). The function pointer is copied under the
// lock: another thread may pc_local_free the slot before the call.
typedef void (*pc__dtor_fn)(void *);
static pc__dtor_fn pc__take_local(void **out_value) {
    pc_lock_acquire(&pc__locals_lock, PC_FOREVER);
    pc__dtor_fn found = NULL;
    for (pc__link *x = pc__locals.head; x && !found; x = x->next) {
        pc_local *l = PC__CONTAINER(x, pc_local, link);
        void *v = pthread_getspecific(l->key);
        if (v && l->dtor) {
            pthread_setspecific(l->key, NULL);
            *out_value = v;
            found = l->dtor;
        }
    }
    pc_lock_release(&pc__locals_lock);
    return found;
}

static void pc__run_local_dtors(void) {
    void *v;
    pc__dtor_fn dtor;
    // Destructors may set values again: bounded rounds, as pthread does.
    for (int round = 0; round < 4 * 64 && (dtor = pc__take_local(&v)); round++) dtor(v);
}

// >>cpu
// PYCONC_CPU_COUNT: a positive decimal count, else 0 (no override). Read at
// each call, as a program may set it before asking.
static int pc__cpu_override(void) {
    const char *v = pc__os_getenv_trusted("PYCONC_CPU_COUNT");
    char *end;
    if (!v || v[0] < '0' || v[0] > '9') return 0;
    errno = 0;
    long n = strtol(v, &end, 10);
    return *end || errno || n < 1 || n > INT_MAX ? 0 : (int)n;
}

PYCONC_API int pc_cpu_count(void) {
    int forced = pc__cpu_override();
    if (forced) return forced;
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? (int)n : 1;
}

PYCONC_API int pc_process_cpu_count(void) {
    int forced = pc__cpu_override();
    if (forced) return forced;
#if defined(__linux__) && defined(CPU_COUNT)
    cpu_set_t set;
    if (sched_getaffinity(0, sizeof set, &set) == 0) {
        int n = CPU_COUNT(&set);
        if (n > 0) return n;
    }
#endif
    return pc_cpu_count();
}

// >>lifecycle
// The hooks live in a fixed table; pc__life_lock guards it and is the
// outermost lock of a fork, so a header that sets its hooks while another
// thread forks is seen either whole or not at all.
static pc_lock pc__life_lock = PC_LOCK_INIT;
static pc__hooks pc__life[PC__PHASE_COUNT];

PYCONC_API void pc__lifecycle_set(pc__phase phase, const pc__hooks *hooks) {
    if ((int)phase < 0 || (int)phase >= PC__PHASE_COUNT || !hooks) return;
    pc__init();
    pc_lock_acquire(&pc__life_lock, PC_FOREVER);
    pc__life[phase] = *hooks;
    pc_lock_release(&pc__life_lock);
}

static void pc__life_before_fork(void) {
    pc_lock_acquire(&pc__life_lock, PC_FOREVER);
    for (int i = 0; i < PC__PHASE_COUNT; i++)
        if (pc__life[i].before_fork) pc__life[i].before_fork();
}

static void pc__life_after_fork_parent(void) {
    for (int i = PC__PHASE_COUNT - 1; i >= 0; i--)
        if (pc__life[i].after_fork_parent) pc__life[i].after_fork_parent();
    pc_lock_release(&pc__life_lock);
}

static void pc__life_after_fork_child(void) {
    pc__life_lock.state = 0;
    for (int i = PC__PHASE_COUNT - 1; i >= 0; i--)
        if (pc__life[i].after_fork_child) pc__life[i].after_fork_child();
}

// The table is copied first: an exit hook may start or end threads, which
// must not wait for the table's lock.
static void pc__life_at_exit(void) {
    pc__hooks table[PC__PHASE_COUNT];
    pc_lock_acquire(&pc__life_lock, PC_FOREVER);
    memcpy(table, pc__life, sizeof table);
    pc_lock_release(&pc__life_lock);
    for (int i = 0; i < PC__PHASE_COUNT; i++)
        if (table[i].at_exit) table[i].at_exit();
}

// >>lifecycle-threads
// At normal exit, wait for every non-daemon thread, as Python's shutdown.
static void pc__join_non_daemon(void) {
    for (;;) {
        pc_thread *found = NULL;
        pc_lock_acquire(&pc__reg_lock, PC_FOREVER);
        for (pc__link *x = pc__reg.head; x && !found; x = x->next) {
            pc_thread *t = PC__CONTAINER(x, pc_thread, reg);
            if (t->kind == PC__T_NORMAL && !t->daemon && t != pc__tls_self &&
                !pc_event_is_set(&t->done))
                found = pc_thread_retain(t);
        }
        pc_lock_release(&pc__reg_lock);
        if (!found) return;
        pc_thread_join(found, PC_FOREVER);
        pc__thread_release(found, 0);
    }
}

// fork() happens with the library's own locks held by the forking thread
// (taken in this order, never nested elsewhere), so the child never sees
// the registry or the locals list half-changed by a thread it lacks.
static void pc__before_fork(void) {
    pc_lock_acquire(&pc__reg_lock, PC_FOREVER);
    pc_lock_acquire(&pc__hook_lock, PC_FOREVER);
    pc_lock_acquire(&pc__locals_lock, PC_FOREVER);
}

static void pc__after_fork_parent(void) {
    pc_lock_release(&pc__locals_lock);
    pc_lock_release(&pc__hook_lock);
    pc_lock_release(&pc__reg_lock);
}

// In a forked child only the forking thread exists: the others are marked
// ended (joins return at once), leave the registry and drop the reference
// their running thread held; the forking thread becomes the main thread
// (a new "MainThread" object if it had none, as Python), and the internal
// locks start free.
static void pc__after_fork_child(void) {
    pc__reg_lock.state = 0;
    pc__hook_lock.state = 0;
    pc__locals_lock.state = 0;
    pc__waitqueue_after_fork();
    pc_thread *self = pc__tls_self;
    for (pc__link *x = pc__reg.head, *next; x; x = next) {
        next = x->next;
        pc_thread *t = PC__CONTAINER(x, pc_thread, reg);
        if (t == self) continue;
        t->reaped = 1;
        pc_event_set(&t->done);
        pc__registry_remove(t);
        if (t->kind == PC__T_NORMAL) pc__thread_release(t, 0);
    }
    if (!self) self = pc__thread_adopt("MainThread", PC__T_MAIN, 0);
    if (self) {
        self->mu.state = 0;
        self->kind = PC__T_MAIN;
        pc__main_thread = self;
    }
}

static void pc__init_once(void) {
    pthread_key_create(&pc__dummy_key, pc__dummy_exit);
    pc__main_thread = pc__tls_self ? pc__tls_self : pc__thread_adopt("MainThread", PC__T_MAIN, 0);
    pc__life[PC__PHASE_THREADS].before_fork = pc__before_fork;
    pc__life[PC__PHASE_THREADS].after_fork_parent = pc__after_fork_parent;
    pc__life[PC__PHASE_THREADS].after_fork_child = pc__after_fork_child;
    pc__life[PC__PHASE_THREADS].at_exit = pc__join_non_daemon;
    pthread_atfork(pc__life_before_fork, pc__life_after_fork_parent, pc__life_after_fork_child);
    atexit(pc__life_at_exit);
}

static void pc__init(void) { pthread_once(&pc__once, pc__init_once); }

#if defined(__GNUC__) || defined(__clang__)
__attribute__((constructor)) static void pc__constructor(void) { pc__init(); }
#endif

#endif // PYCONC_IMPLEMENTATION

/*
------------------------------------------------------------------------------
This software is available under 2 licenses -- choose whichever you prefer.
------------------------------------------------------------------------------
ALTERNATIVE A - MIT License
Copyright (c) 2026 the pyconc authors
Permission is hereby granted, free of charge, to any person obtaining a copy of
this software and associated documentation files (the "Software"), to deal in
the Software without restriction, including without limitation the rights to
use, copy, modify, merge, publish, distribute, sublicense, and/or sell copies
of the Software, and to permit persons to whom the Software is furnished to do
so, subject to the following conditions:
The above copyright notice and this permission notice shall be included in all
copies or substantial portions of the Software.
THE SOFTWARE IS PROVIDED "AS IS", WITHOUT WARRANTY OF ANY KIND, EXPRESS OR
IMPLIED, INCLUDING BUT NOT LIMITED TO THE WARRANTIES OF MERCHANTABILITY,
FITNESS FOR A PARTICULAR PURPOSE AND NONINFRINGEMENT. IN NO EVENT SHALL THE
AUTHORS OR COPYRIGHT HOLDERS BE LIABLE FOR ANY CLAIM, DAMAGES OR OTHER
LIABILITY, WHETHER IN AN ACTION OF CONTRACT, TORT OR OTHERWISE, ARISING FROM,
OUT OF OR IN CONNECTION WITH THE SOFTWARE OR THE USE OR OTHER DEALINGS IN THE
SOFTWARE.
------------------------------------------------------------------------------
ALTERNATIVE B - Public Domain (www.unlicense.org)
This is free and unencumbered software released into the public domain.
Anyone is free to copy, modify, publish, use, compile, sell, or distribute this
software, either in source code form or as a compiled binary, for any purpose,
commercial or non-commercial, and by any means.
In jurisdictions that recognize copyright laws, the author or authors of this
software dedicate any and all copyright interest in the software to the public
domain. We make this dedication for the benefit of the public at large and to
the detriment of our heirs and successors. We intend this dedication to be an
overt act of relinquishment in perpetuity of all present and future rights to
this software under copyright law.
THE SOFTWARE IS PROVIDED "AS IS", WITHOUT WARRANTY OF ANY KIND, EXPRESS OR
IMPLIED, INCLUDING BUT NOT LIMITED TO THE WARRANTIES OF MERCHANTABILITY,
FITNESS FOR A PARTICULAR PURPOSE AND NONINFRINGEMENT. IN NO EVENT SHALL THE
AUTHORS BE LIABLE FOR ANY CLAIM, DAMAGES OR OTHER LIABILITY, WHETHER IN AN
ACTION OF CONTRACT, TORT OR OTHERWISE, ARISING FROM, OUT OF OR IN CONNECTION
WITH THE SOFTWARE OR THE USE OR OTHER DEALINGS IN THE SOFTWARE.
------------------------------------------------------------------------------
*/

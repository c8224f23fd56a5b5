/* pyconc_queue.h - v0.1.0 - Python's queue module for C, as one header.

   Do this:
       #define PYCONC_QUEUE_IMPLEMENTATION
   before you include this file in *one* C or C++ file to create the
   implementation (pyconc.h's own implementation, PYCONC_IMPLEMENTATION,
   must be compiled in some file of the program too):

       // in exactly one file
       #define PYCONC_IMPLEMENTATION
       #define PYCONC_QUEUE_IMPLEMENTATION
       #include "pyconc_queue.h"

   Everywhere else just #include "pyconc_queue.h". Link with -pthread.
   PYCONC_ALL_IMPLEMENTATION switches this implementation on too.

   LICENSE: see the end of pyconc.h.

   TABLE OF CONTENTS
   =================
   Declarations:
     api.queue        pc_queue_desc and every pc_queue_* function
   Implementation (behind PYCONC_QUEUE_IMPLEMENTATION):
     implementation   includes, configuration defaults, atomics
     types            struct pc_queue: one cache line per party
     posix            the header's one system call (sched_yield)
     helpers          item count, sleeping, task accounting
     ring             bounded FIFO: the preallocated slot ring
     list             any other FIFO and SimpleQueue: the two-lock block list
     locked           LIFO and PRIORITY: a stack or a stable heap under one lock
     core             put and get over every kind: spin, sleep, shutdown
     queue            the public functions
   Each section starts at its marker `// >>name` (grep for "// >>").

   CONFIGURATION
   =============
   PYCONC_QUEUE_IMPLEMENTATION  default: undefined. Compile the
                           implementation into this file.
   PYCONC_ALL_IMPLEMENTATION    default: undefined. The implementation of
                           pyconc.h and of every pyconc header included.
   PYCONC_QUEUE_RING_MAX   default: 65536 (items). Largest maxsize served
                           by the preallocated ring; a bounded FIFO above
                           it (or of maxsize 1) uses the block list
                           described under DESIGN, which allocates as it
                           grows.
   PYCONC_QUEUE_SPIN       default: 100. How many times a get or put polls
                           the queue before it goes to sleep.
   Everything pyconc.h accepts (PYCONC_STATIC, PYCONC_API, PYCONC_MALLOC,
   PYCONC_FREE, PYCONC_NO_FUTEX ...), with its defaults there.

   OVERVIEW
   ========
   The four classes of Python's `queue` module are one handle type made in
   one of four kinds, named by pyconc's rule:

       Python                            C
       q = queue.Queue(maxsize=8)        q = pc_queue_new(&(pc_queue_desc){.maxsize = 8})
       queue.LifoQueue()                 pc_queue_new(&(pc_queue_desc){.kind = PC_QUEUE_LIFO})
       queue.PriorityQueue()             pc_queue_new(&(pc_queue_desc){.kind = PC_QUEUE_PRIORITY,
                                                                       .compare = cmp})
       PriorityQueue of (prio, data)     ... .key = PC_QUEUE_KEY_INT64, .key_offset = 0})
       queue.SimpleQueue()               pc_queue_new(&(pc_queue_desc){.kind = PC_QUEUE_SIMPLE})
       q.put(x, timeout=2)               pc_queue_put(q, &x, 2)
       x = q.get()                       pc_queue_get(q, &x, PC_FOREVER)
       q.put_nowait(x) / q.get_nowait()  pc_queue_put_nowait(q, &x) / pc_queue_get_nowait(q, &x)
       q.qsize(), q.empty(), q.full()    pc_queue_qsize(q), pc_queue_empty(q), pc_queue_full(q)
       q.task_done(); q.join()           pc_queue_task_done(q); pc_queue_join(q)
       q.shutdown(immediate=True)        pc_queue_shutdown(q, 1)
       except queue.Empty / queue.Full   rc == PC_EMPTY / rc == PC_FULL
       except queue.ShutDown             rc == PC_SHUTDOWN

   Items are copied in and out by value, item_size bytes each (default
   sizeof(void *)): a queue of pointers, ints or small structs needs no
   allocation per item. A complete program:

       #define PYCONC_IMPLEMENTATION
       #define PYCONC_QUEUE_IMPLEMENTATION
       #include "pyconc_queue.h"
       #include <stdio.h>

       static pc_queue *q;

       static int worker(void *arg) {
           long item, *sum = (long *)arg;
           while (pc_queue_get(q, &item, PC_FOREVER) == PC_OK) {
               *sum += item;
               pc_queue_task_done(q);
           }
           return 0;                   // PC_SHUTDOWN: the queue was shut down
       }

       int main(void) {
           long sum = 0;
           q = pc_queue_new(&(pc_queue_desc){ .maxsize = 4, .item_size = sizeof(long) });
           pc_thread *t = pc_thread_new(&(pc_thread_desc){ .target = worker, .arg = &sum });
           pc_thread_start(t);
           for (long i = 1; i <= 100; i++) pc_queue_put(q, &i, PC_FOREVER);
           pc_queue_join(q);           // every item was taken and marked done
           pc_queue_shutdown(q, 0);    // wake the worker: its get returns PC_SHUTDOWN
           pc_thread_join(t, PC_FOREVER);
           pc_thread_free(t);
           pc_queue_free(q);
           printf("sum = %ld\n", sum);
           return sum != 5050;
       }

   THREAD SAFETY
   =============
   Every function may be called from any thread at any time, except
   pc_queue_free, which needs every other user to be done. A put that
   races with pc_queue_shutdown may still succeed (it happened first); its
   item goes to a later get, or is discarded by an immediate shutdown.

   ERRORS
   ======
   Calls return PC_OK or a PC_* code: PC_EMPTY (queue.Empty, also a timed
   get that expired), PC_FULL (queue.Full, also a timed put that expired),
   PC_SHUTDOWN (queue.ShutDown), PC_TIMEOUT (pc_queue_join_timeout only),
   PC_VALUE (NULL queue or item, NaN timeout, bad desc, task_done() called
   too many times), PC_RUNTIME (task tracking on a SimpleQueue), PC_NOMEM.
   Each failure leaves a message in pc_last_error(). Timeouts are double
   seconds: PC_FOREVER (any negative value) waits without limit, 0 never
   blocks; Python's ValueError for a negative timeout does not apply.

   BEYOND PYTHON
   =============
   - pc_queue_join_timeout: join() with a timeout (PC_TIMEOUT).
   - An immediate shutdown releases every join() at once (as asyncio's
     Queue does): join returns PC_OK if all tasks were done, PC_SHUTDOWN if
     some items that were got are still not marked done. Python 3.13's
     queue.Queue leaves those joiners blocked until the last task_done().
   - A PriorityQueue hands out equal items in insertion order (a stable
     heap); Python's heapq makes no such promise. The order is the one of
     desc.compare, smallest first, or of a number inside each item
     (desc.key, desc.key_offset: an int32, int64, uint64 or double, compared
     without a call).
   - A SimpleQueue may be shut down too (queue.SimpleQueue cannot).

   DESIGN
   ======
   A bounded FIFO (2 <= maxsize <= PYCONC_QUEUE_RING_MAX) is a preallocated
   ring of maxsize slots, each with a sequence number that says whose turn
   it is (the producer of lap n or the consumer of lap n): a put or get is
   one compare-and-swap on its own end's counter plus the copy, and a
   producer and a consumer never take a lock or touch the same counter.
   Any other FIFO and a SimpleQueue are a list of fixed-size blocks with
   two locks, one for each end, so a putter and a getter never wait for
   each other either. LIFO and PRIORITY keep an array (a stack; a binary
   heap that pops bottom-up, its entries packed as the item then an 8-byte
   insertion number, padded only as the item's alignment needs) under one
   lock that spins briefly before it sleeps; the comparator runs under it.
   Every kind sleeps through pyconc.h's event count (pc__evc): a getter
   that finds the queue empty polls it PYCONC_QUEUE_SPIN times, then
   announces itself and sleeps; a putter enters the kernel only when a
   getter has announced itself, and takes that getter off the count before
   it wakes it, so the puts that follow while the woken thread is still
   on its way make no system call (the same for putters on a full queue,
   and for join()). A queue that is neither empty nor full costs no system
   call at all. Measured against a mutex + two condition variables ring
   and GLib's GAsyncQueue, the slot ring made the bounded 1-producer
   1-consumer case about twice as fast as either; a mutex ring cannot get
   there, since its producer and consumer share the lock's cache line on
   every item. The figures are in docs/queue.md.
*/
#if defined(PYCONC_QUEUE_IMPLEMENTATION) || defined(PYCONC_ALL_IMPLEMENTATION)
#if !defined(_GNU_SOURCE) && !defined(__cplusplus)
#define _GNU_SOURCE 1
#endif
// glibc fixes its feature set at the first system header: one included
// before this point without _GNU_SOURCE hides the POSIX.1-2008 calls used here.
#if defined(__GLIBC__) && !defined(__USE_XOPEN2K8)
#error "pyconc_queue.h: a system header was included before this implementation without"
#error "_GNU_SOURCE: include pyconc_queue.h first in this file, or compile it with -D_GNU_SOURCE"
#define PYCONC_QUEUE_IMPLEMENTATION_DONE  // skip the implementation: one clear error
#endif
#endif

#include "pyconc.h"

#if PYCONC_VERSION_MAJOR != 0
#error "pyconc_queue.h: this header is for pyconc 0.x"
#endif

#ifndef PYCONC_QUEUE_H
#define PYCONC_QUEUE_H

#ifdef __cplusplus
extern "C" {
#endif

// >>api.queue
/* Which of Python's four queue classes a queue behaves as. */
typedef enum pc_queue_kind {
    PC_QUEUE_FIFO = 0,          // queue.Queue: first in, first out
    PC_QUEUE_LIFO = 1,          // queue.LifoQueue: last in, first out
    PC_QUEUE_PRIORITY = 2,      // queue.PriorityQueue: smallest first (stable)
    PC_QUEUE_SIMPLE = 3         // queue.SimpleQueue: unbounded FIFO, no task_done/join
} pc_queue_kind;

/* Order of a PriorityQueue: < 0 when a comes out before b, 0 when they
   are equal (they then leave in insertion order), > 0 otherwise. a and b
   point at items inside the queue, aligned for any type whose size is
   item_size (up to 16-byte alignment). It is called with the queue's lock
   held: it must not call into the same queue. */
typedef int (*pc_queue_compare_fn)(const void *a, const void *b, void *ctx);

/* The common orders of a PriorityQueue, without a call per comparison:
   smallest key first, the key a number of this type at desc.key_offset in
   each item (Python's `(priority, data)` tuples, priority first, are
   key_offset 0). Equal keys leave in insertion order. A NaN key comes out
   after every number. */
typedef enum pc_queue_key {
    PC_QUEUE_KEY_COMPARE = 0,   // desc.compare decides
    PC_QUEUE_KEY_INT32 = 1,     // int32_t
    PC_QUEUE_KEY_INT64 = 2,     // int64_t
    PC_QUEUE_KEY_UINT64 = 3,    // uint64_t
    PC_QUEUE_KEY_DOUBLE = 4     // double
} pc_queue_key;

typedef struct pc_queue_desc {
    pc_queue_kind kind;         // default PC_QUEUE_FIFO
    long maxsize;               // <= 0: unbounded (Python's rule); must be <= 0 for SIMPLE
    size_t item_size;           // bytes copied per item; 0: sizeof(void *)
    pc_queue_compare_fn compare;  // PRIORITY: its order, unless key is set
    void *compare_ctx;          // passed to compare
    pc_queue_key key;           // PRIORITY: order by a number inside the item
    size_t key_offset;          // where that number starts in the item
} pc_queue_desc;

typedef struct pc_queue pc_queue;

/* Make a queue. desc may be NULL (an unbounded FIFO of pointers).
   Returns NULL on failure (pc_last_error: PC_VALUE for a bad desc,
   PC_NOMEM).  Python: queue.Queue(maxsize), LifoQueue, PriorityQueue,
   SimpleQueue */
PYCONC_API pc_queue *pc_queue_new(const pc_queue_desc *desc);
/* Free the queue and any items still in it. No other thread may be using
   it. NULL is ignored. */
PYCONC_API void pc_queue_free(pc_queue *q);
/* Copy item_size bytes from item into the queue, waiting at most timeout
   seconds for a free slot (PC_FOREVER: no limit, 0: do not wait).
   Returns: PC_OK, PC_FULL (no room in time), PC_SHUTDOWN, PC_VALUE,
   PC_NOMEM.  Blocks: yes (bounded queues).  Python: Queue.put */
PYCONC_API int pc_queue_put(pc_queue *q, const void *item, double timeout);
/* Put without waiting. Returns: PC_OK, PC_FULL, PC_SHUTDOWN, PC_VALUE,
   PC_NOMEM.  Blocks: no.  Python: Queue.put_nowait */
PYCONC_API int pc_queue_put_nowait(pc_queue *q, const void *item);
/* Remove an item and copy it to out_item, waiting at most timeout seconds.
   After shutdown(immediate=0) the items left are still handed out, then
   PC_SHUTDOWN; after shutdown(immediate=1), PC_SHUTDOWN at once.
   Returns: PC_OK, PC_EMPTY (nothing in time), PC_SHUTDOWN, PC_VALUE.
   Blocks: yes.  Python: Queue.get */
PYCONC_API int pc_queue_get(pc_queue *q, void *out_item, double timeout);
/* Get without waiting. Returns: PC_OK, PC_EMPTY, PC_SHUTDOWN, PC_VALUE.
   Blocks: no.  Python: Queue.get_nowait */
PYCONC_API int pc_queue_get_nowait(pc_queue *q, void *out_item);
/* Return the number of items (a snapshot; 0 for NULL). Python: Queue.qsize */
PYCONC_API size_t pc_queue_qsize(pc_queue *q);
/* Return 1 if the queue holds no item (a snapshot). Python: Queue.empty */
PYCONC_API int pc_queue_empty(pc_queue *q);
/* Return 1 if a bounded queue holds maxsize items (a snapshot).
   Python: Queue.full */
PYCONC_API int pc_queue_full(pc_queue *q);
/* Return maxsize as given (<= 0: unbounded). Python: Queue.maxsize */
PYCONC_API long pc_queue_maxsize(const pc_queue *q);
/* Return the bytes copied per item. */
PYCONC_API size_t pc_queue_item_size(const pc_queue *q);
/* Mark one item that was got as done; join() returns when every item put
   is done. Returns: PC_OK, PC_VALUE (called more times than items were
   put), PC_RUNTIME (SimpleQueue).  Python: Queue.task_done */
PYCONC_API int pc_queue_task_done(pc_queue *q);
/* Wait until every item put has been marked done (or an immediate
   shutdown). Returns: PC_OK, PC_SHUTDOWN (shut down immediately with
   tasks still not done), PC_VALUE, PC_RUNTIME (SimpleQueue).
   Blocks: yes.  Python: Queue.join */
PYCONC_API int pc_queue_join(pc_queue *q);
/* join() waiting at most timeout seconds. Returns: PC_OK, PC_TIMEOUT,
   PC_SHUTDOWN, PC_VALUE, PC_RUNTIME.  Blocks: yes.  Python: none (beyond
   Python) */
PYCONC_API int pc_queue_join_timeout(pc_queue *q, double timeout);
/* Return how many items were put and not yet marked done (a snapshot; 0
   for NULL and for a SimpleQueue); join() waits for it to reach 0.
   Thread-safe: yes.  Python: Queue.unfinished_tasks */
PYCONC_API size_t pc_queue_unfinished_tasks(pc_queue *q);
/* Shut the queue down: later puts give PC_SHUTDOWN, and gets once the
   queue is empty. With immediate, the items left are discarded (each
   counts as done), gets give PC_SHUTDOWN at once and every join() is
   released. Blocked putters and getters wake up. Calling it again is
   harmless (immediate=1 after 0 upgrades it).
   Returns: PC_OK, PC_VALUE.  Python: Queue.shutdown (3.13) */
PYCONC_API int pc_queue_shutdown(pc_queue *q, int immediate);
/* Return 1 once the queue has been shut down. Python: Queue.is_shutdown */
PYCONC_API int pc_queue_is_shutdown(pc_queue *q);

#ifdef __cplusplus
}
#endif

#endif // PYCONC_QUEUE_H

// ---------------------------------------------------------------------------
// >>implementation
#if defined(PYCONC_ALL_IMPLEMENTATION) && !defined(PYCONC_QUEUE_IMPLEMENTATION)
#define PYCONC_QUEUE_IMPLEMENTATION
#endif

#if defined(PYCONC_QUEUE_IMPLEMENTATION) && !defined(PYCONC_QUEUE_IMPLEMENTATION_DONE)
#define PYCONC_QUEUE_IMPLEMENTATION_DONE

#include <math.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>

#ifndef PYCONC_QUEUE_RING_MAX
#define PYCONC_QUEUE_RING_MAX 65536
#endif
#ifndef PYCONC_QUEUE_SPIN
#define PYCONC_QUEUE_SPIN 100
#endif

#define PC__Q_LOAD(p) __atomic_load_n((p), __ATOMIC_ACQUIRE)
#define PC__Q_SEQ(p) __atomic_load_n((p), __ATOMIC_SEQ_CST)
#define PC__Q_RELAXED(p) __atomic_load_n((p), __ATOMIC_RELAXED)
#define PC__Q_STORE(p, v) __atomic_store_n((p), (v), __ATOMIC_RELEASE)
#define PC__Q_STORE_SEQ(p, v) __atomic_store_n((p), (v), __ATOMIC_SEQ_CST)

#if defined(__GNUC__) || defined(__clang__)
#define PC__Q_ALIGNED __attribute__((aligned(64)))
#else
#define PC__Q_ALIGNED
#endif

// >>types
enum { PC__Q_B_RING = 0, PC__Q_B_LIST = 1, PC__Q_B_LOCKED = 2 };
enum { PC__Q_S_OPEN = 0, PC__Q_S_SHUT = 1, PC__Q_S_IMMEDIATE = 2 };

// One block of the two-lock list: `next` then the items.
typedef struct pc__q_block { struct pc__q_block *next; } pc__q_block;

// Each group is written by a different party (putters, getters, task
// tracking, sleepers), so each gets its own cache line.
struct pc_queue {
    struct PC__Q_ALIGNED {      // read-only after creation, plus the state word
        void *raw;              // what pc__malloc returned (q is aligned inside)
        int kind, backend;
        long maxsize;
        uint64_t bound;         // maxsize as a count; 0: unbounded
        size_t item_size;
        size_t stride;          // bytes per ring slot / heap entry
        uint64_t cap, mask;     // ring: slots; mask = cap - 1 when a power of two, else 0
        unsigned char *slots;   // ring slots (seq + item)
        uint64_t block_items;   // list: items per block, a power of two
        pc_queue_compare_fn compare;
        void *compare_ctx;
        int key;                // pc_queue_key
        size_t key_offset;
        uint32_t state;         // PC__Q_S_*
        uint32_t drainers;      // immediate shutdowns still discarding items
    } c;
    struct PC__Q_ALIGNED {      // putters' end
        uint64_t putc;          // items put (ring: slots claimed)
        pc_lock lock;           // list: the tail lock
        pc__q_block *blk;       // list: the block being filled
    } p;
    struct PC__Q_ALIGNED {      // getters' end
        uint64_t getc;          // items taken (ring: slots claimed)
        pc_lock lock;           // list: the head lock
        pc__q_block *blk;       // list: the block being emptied
        uint64_t seen;          // list: a putc value already read
        pc__q_block *spare;     // list: one emptied block kept for reuse
    } g;
    struct PC__Q_ALIGNED {      // locked kinds: the one lock and the array
        pc_lock lock;
        unsigned char *buf;
        size_t cap;             // entries buf has room for
        unsigned char *tmp;     // one entry of scratch for the heap
    } l;
    struct PC__Q_ALIGNED {
        uint64_t unfinished;    // items put and not yet marked done
    } t;
    struct PC__Q_ALIGNED {      // pyconc.h's event counts (the protocol is told there)
        pc__evc not_empty, not_full, all_done;
    } w;
};

// >>posix
// The queue's one system call; the rest of the OS is pyconc.h's.
static inline void pc__q_os_yield(void) { sched_yield(); }

// >>helpers
// Waiting for another thread's copy that is already under way: spin a
// little, then let it run (it may have been preempted mid-copy).
static void pc__q_backoff(unsigned *spins) {
    if (++*spins < 64) pc__cpu_relax();
    else pc__q_os_yield();
}

// Copies of the common small sizes become plain moves.
static inline void pc__q_copy(void *dst, const void *src, size_t n) {
    switch (n) {
    case 4: memcpy(dst, src, 4); break;
    case 8: memcpy(dst, src, 8); break;
    case 12: memcpy(dst, src, 12); break;
    case 16: memcpy(dst, src, 16); break;
    default: memcpy(dst, src, n); break;
    }
}


// Items in the queue. The loads are sequentially consistent because the
// event count's protocol (pc__q_wait) pairs them with its waiters count.
static uint64_t pc__q_count(pc_queue *q) {
    uint64_t p = PC__Q_SEQ(&q->p.putc), g = PC__Q_SEQ(&q->g.getc);
    if ((int64_t)(p - g) < 0) return 0;
    return p - g;
}

static int pc__q_has_room(pc_queue *q) { return !q->c.bound || pc__q_count(q) < q->c.bound; }
static int pc__q_has_item(pc_queue *q) { return pc__q_count(q) > 0; }

// Sleep until ready(q), the queue's shutdown, a wake-up or the deadline.
// Returns PC_OK (look again) or PC_TIMEOUT.
static int pc__q_wait(pc_queue *q, pc__evc *e, int (*ready)(pc_queue *q), double deadline) {
    uint32_t key = pc__evc_prepare(e);
    if (ready(q) || PC__Q_SEQ(&q->c.state) != PC__Q_S_OPEN) return PC_OK;
    return pc__evc_wait(e, key, deadline);
}

// A task is counted before its item can be seen, so a task_done() for it
// can never come first.
static void pc__q_task_add(pc_queue *q) {
    if (q->c.kind != PC_QUEUE_SIMPLE) __atomic_fetch_add(&q->t.unfinished, 1, __ATOMIC_RELAXED);
}

// Decrement unfinished unless it is 0; returns the old value.
static uint64_t pc__q_task_sub(pc_queue *q) {
    uint64_t v = PC__Q_RELAXED(&q->t.unfinished);
    while (v > 0 && !__atomic_compare_exchange_n(&q->t.unfinished, &v, v - 1, 1,
                                                 __ATOMIC_SEQ_CST, __ATOMIC_RELAXED)) {}
    if (v == 1) pc__evc_notify(&q->w.all_done, INT32_MAX);
    return v;
}

// >>ring
// Slot i of lap n has seq i + n*cap while free for the producer of that
// lap, and i + n*cap + 1 once filled for its consumer, who sets it to
// i + (n+1)*cap when done. The acquire/release pair on seq is what hands
// the item's bytes from one to the other.
static unsigned char *pc__q_ring_slot(pc_queue *q, uint64_t pos) {
    uint64_t i = q->c.mask ? pos & q->c.mask : pos % q->c.cap;
    return q->c.slots + i * q->c.stride;
}

static int pc__q_ring_try_put(pc_queue *q, const void *item) {
    uint64_t pos = PC__Q_RELAXED(&q->p.putc);
    unsigned spins = 0;
    unsigned char *slot;
    for (;;) {
        slot = pc__q_ring_slot(q, pos);
        int64_t dif = (int64_t)(PC__Q_LOAD((uint64_t *)slot) - pos);
        if (dif == 0) {
            if (__atomic_compare_exchange_n(&q->p.putc, &pos, pos + 1, 1, __ATOMIC_SEQ_CST,
                                            __ATOMIC_RELAXED))
                break;
            continue;
        }
        // The slot still holds lap n-1's item: the queue is full, unless
        // that item's getter has claimed it and is copying it out now.
        if (dif < 0 && PC__Q_LOAD(&q->g.getc) + q->c.cap <= pos) return PC_FULL;
        if (dif < 0) pc__q_backoff(&spins);
        pos = PC__Q_RELAXED(&q->p.putc);
    }
    pc__q_copy(slot + 8, item, q->c.item_size);
    pc__q_task_add(q);
    PC__Q_STORE((uint64_t *)slot, pos + 1);
    return PC_OK;
}

// out may be NULL: the item is discarded.
static int pc__q_ring_try_get(pc_queue *q, void *out) {
    uint64_t pos = PC__Q_RELAXED(&q->g.getc);
    unsigned spins = 0;
    unsigned char *slot;
    for (;;) {
        slot = pc__q_ring_slot(q, pos);
        int64_t dif = (int64_t)(PC__Q_LOAD((uint64_t *)slot) - (pos + 1));
        if (dif == 0) {
            if (__atomic_compare_exchange_n(&q->g.getc, &pos, pos + 1, 1, __ATOMIC_SEQ_CST,
                                            __ATOMIC_RELAXED))
                break;
            continue;
        }
        // Not filled yet: empty, unless its putter has claimed it already.
        // Sequentially consistent: the drain of an immediate shutdown must
        // see a claim that came before its state change (pc__q_put_once).
        if (dif < 0 && PC__Q_SEQ(&q->p.putc) <= pos) return PC_EMPTY;
        if (dif < 0) pc__q_backoff(&spins);
        pos = PC__Q_RELAXED(&q->g.getc);
    }
    if (out) pc__q_copy(out, slot + 8, q->c.item_size);
    PC__Q_STORE((uint64_t *)slot, pos + q->c.cap);
    return PC_OK;
}

static int pc__q_ring_init(pc_queue *q) {
    q->c.cap = q->c.bound;
    q->c.mask = (q->c.cap & (q->c.cap - 1)) == 0 ? q->c.cap - 1 : 0;
    q->c.stride = 8 + ((q->c.item_size + 7) & ~(size_t)7);
    q->c.slots = (unsigned char *)pc__calloc((size_t)q->c.cap, q->c.stride);
    if (!q->c.slots) return PC_NOMEM;
    for (uint64_t i = 0; i < q->c.cap; i++) *(uint64_t *)(q->c.slots + i * q->c.stride) = i;
    return PC_OK;
}

// >>list
// Item k lives in block k / block_items at k % block_items. The putter
// (under the tail lock) links a new block before it publishes the first
// item in it, so a getter that sees putc > k also sees the link. A getter
// retires a block only after the putter has moved past it for good.
static unsigned char *pc__q_list_item(pc_queue *q, pc__q_block *b, uint64_t k) {
    return (unsigned char *)(b + 1) + (size_t)(k & (q->c.block_items - 1)) * q->c.item_size;
}

static pc__q_block *pc__q_list_block(pc_queue *q) {
    pc__q_block *b = __atomic_exchange_n(&q->g.spare, (pc__q_block *)NULL, __ATOMIC_ACQ_REL);
    if (!b) b = (pc__q_block *)pc__malloc(sizeof *b + (size_t)q->c.block_items * q->c.item_size);
    if (b) b->next = NULL;
    return b;
}

static int pc__q_list_try_put(pc_queue *q, const void *item) {
    pc_lock_acquire(&q->p.lock, PC_FOREVER);
    uint64_t k = q->p.putc;
    if (q->c.bound && k - PC__Q_LOAD(&q->g.getc) >= q->c.bound) {
        pc_lock_release(&q->p.lock);
        return PC_FULL;
    }
    if (k != 0 && (k & (q->c.block_items - 1)) == 0) {
        pc__q_block *b = pc__q_list_block(q);
        if (!b) {
            pc_lock_release(&q->p.lock);
            return PC_NOMEM;
        }
        PC__Q_STORE(&q->p.blk->next, b);
        q->p.blk = b;
    }
    pc__q_copy(pc__q_list_item(q, q->p.blk, k), item, q->c.item_size);
    pc__q_task_add(q);
    PC__Q_STORE_SEQ(&q->p.putc, k + 1);
    pc_lock_release(&q->p.lock);
    return PC_OK;
}

// Keep one emptied block for the putter; free the one it replaces.
static void pc__q_list_retire(pc_queue *q, pc__q_block *b) {
    pc__q_block *old = __atomic_exchange_n(&q->g.spare, b, __ATOMIC_ACQ_REL);
    pc__free(old);
}

static int pc__q_list_try_get(pc_queue *q, void *out) {
    pc_lock_acquire(&q->g.lock, PC_FOREVER);
    uint64_t k = q->g.getc;
    if (k == q->g.seen && (q->g.seen = PC__Q_SEQ(&q->p.putc)) == k) {
        pc_lock_release(&q->g.lock);
        return PC_EMPTY;
    }
    if (k != 0 && (k & (q->c.block_items - 1)) == 0) {
        pc__q_block *old = q->g.blk;
        q->g.blk = PC__Q_LOAD(&old->next);
        pc__q_list_retire(q, old);
    }
    if (out) pc__q_copy(out, pc__q_list_item(q, q->g.blk, k), q->c.item_size);
    PC__Q_STORE_SEQ(&q->g.getc, k + 1);
    pc_lock_release(&q->g.lock);
    return PC_OK;
}

static int pc__q_list_init(pc_queue *q) {
    uint64_t n = 4;             // a power of two, about 4 KiB of items
    while (n * 2 * q->c.item_size <= 4096) n *= 2;
    // Four items of up to 1 GiB overflow a 32-bit size_t.
    if (q->c.item_size > ((size_t)-1 - sizeof(pc__q_block)) / n)
        return pc__error(PC_NOMEM, "queue block of 4 x %zu bytes overflows", q->c.item_size);
    q->c.block_items = n;
    q->p.blk = q->g.blk = pc__q_list_block(q);
    return q->p.blk ? PC_OK : PC_NOMEM;
}

static void pc__q_list_free(pc_queue *q) {
    pc__q_block *b = q->g.blk;
    while (b) {
        pc__q_block *next = b->next;
        pc__free(b);
        b = next;
    }
    pc__free(q->g.spare);
}

// >>locked
// LIFO: a stack of item_size entries. PRIORITY: a binary min-heap whose
// entries are the item then an insertion number (8 bytes, unaligned,
// padded only as far as the item's alignment needs: the heap is
// memory-bound, so small entries are fast entries); equal items compare
// by that number, which makes the heap stable. An item that is all key,
// an integer (a queue of ints by value), has no number: equal ones are
// the same bytes, so no order of them can be told from another, and the
// heap is then a bare heap of the items.
static inline unsigned char *pc__q_heap_at(pc_queue *q, uint64_t i) {
    return q->l.buf + i * q->c.stride;
}

static inline uint64_t pc__q_heap_seq(pc_queue *q, const unsigned char *e) {
    uint64_t seq;
    memcpy(&seq, e + q->c.item_size, 8);
    return seq;
}

// Doubles in a total order: a NaN after every number, NaNs equal.
static inline int pc__q_key_cmp_double(double x, double y) {
    if (x < y) return -1;
    if (x > y) return 1;
    return isnan(x) - isnan(y);
}

// The heap's two moves, written once over an order LESS(q, a, b): the
// comparator's, and one per key type with the comparison in place (the
// switch on the order is made once per put or get, not per level).
#define PC__Q_HEAP_FNS(name, LESS, STRIDE)                                                 \
    /* Move the hole at n up until the entry in tmp fits, then put it there. */            \
    static void pc__q_heap_push_##name(pc_queue *q, uint64_t n) {                          \
        unsigned char *h = q->l.buf;                                                       \
        while (n > 0) {                                                                    \
            uint64_t parent = (n - 1) / 2;                                                 \
            if (!LESS(q, q->l.tmp, h + parent * (STRIDE))) break;                          \
            pc__q_copy(h + n * (STRIDE), h + parent * (STRIDE), STRIDE);                   \
            n = parent;                                                                    \
        }                                                                                  \
        pc__q_copy(h + n * (STRIDE), q->l.tmp, STRIDE);                                    \
    }                                                                                      \
    /* Remove the root (n: the size after) bottom-up: walk the hole down to a leaf */      \
    /* along the smaller children (one comparison a level, not two), then let the */       \
    /* last entry rise from there; it seldom rises far, having come from the bottom. */    \
    static void pc__q_heap_pop_##name(pc_queue *q, uint64_t n) {                           \
        unsigned char *h = q->l.buf;                                                       \
        uint64_t hole = 0;                                                                 \
        pc__q_copy(q->l.tmp, h + n * (STRIDE), STRIDE);                                    \
        for (;;) {                                                                         \
            uint64_t c = 2 * hole + 1;                                                     \
            if (c >= n) break;                                                             \
            if (c + 1 < n && LESS(q, h + (c + 1) * (STRIDE), h + c * (STRIDE))) c++;       \
            pc__q_copy(h + hole * (STRIDE), h + c * (STRIDE), STRIDE);                     \
            hole = c;                                                                      \
        }                                                                                  \
        pc__q_heap_push_##name(q, hole);                                                   \
    }

// a before b: by the order, then (equal) by insertion number.
#define PC__Q_LESS_THEN_SEQ(q, a, b, r) \
    ((r) < 0 || ((r) == 0 && pc__q_heap_seq(q, a) < pc__q_heap_seq(q, b)))

static inline int pc__q_less_compare(pc_queue *q, const unsigned char *a,
                                     const unsigned char *b) {
    int r = q->c.compare(a, b, q->c.compare_ctx);
    return PC__Q_LESS_THEN_SEQ(q, a, b, r);
}

#define PC__Q_LESS_KEY(type, CMP)                                                          \
    static inline int pc__q_less_##type(pc_queue *q, const unsigned char *a,               \
                                        const unsigned char *b) {                          \
        type x, y;                                                                         \
        memcpy(&x, a + q->c.key_offset, sizeof x);                                         \
        memcpy(&y, b + q->c.key_offset, sizeof y);                                         \
        int r = CMP(x, y);                                                                 \
        return PC__Q_LESS_THEN_SEQ(q, a, b, r);                                            \
    }
#define PC__Q_CMP_NUMBER(x, y) (((x) > (y)) - ((x) < (y)))
PC__Q_LESS_KEY(int32_t, PC__Q_CMP_NUMBER)
PC__Q_LESS_KEY(int64_t, PC__Q_CMP_NUMBER)
PC__Q_LESS_KEY(uint64_t, PC__Q_CMP_NUMBER)
PC__Q_LESS_KEY(double, pc__q_key_cmp_double)

#define PC__Q_LESS_BARE(type)                                                              \
    static inline int pc__q_less_bare_##type(pc_queue *q, const unsigned char *a,          \
                                             const unsigned char *b) {                     \
        type x, y;                                                                         \
        (void)q;                                                                           \
        memcpy(&x, a, sizeof x);                                                           \
        memcpy(&y, b, sizeof y);                                                           \
        return x < y;                                                                      \
    }
PC__Q_LESS_BARE(int32_t)
PC__Q_LESS_BARE(int64_t)
PC__Q_LESS_BARE(uint64_t)

PC__Q_HEAP_FNS(compare, pc__q_less_compare, q->c.stride)
PC__Q_HEAP_FNS(int32, pc__q_less_int32_t, q->c.stride)
PC__Q_HEAP_FNS(int64, pc__q_less_int64_t, q->c.stride)
PC__Q_HEAP_FNS(uint64, pc__q_less_uint64_t, q->c.stride)
PC__Q_HEAP_FNS(double, pc__q_less_double, q->c.stride)
PC__Q_HEAP_FNS(bare_int32, pc__q_less_bare_int32_t, 4)
PC__Q_HEAP_FNS(bare_int64, pc__q_less_bare_int64_t, 8)
PC__Q_HEAP_FNS(bare_uint64, pc__q_less_bare_uint64_t, 8)

// The heap's order (q->c.key): a pc_queue_key, or one of these for items
// that are all key (no insertion number).
enum { PC__Q_KEY_BARE_INT32 = 8, PC__Q_KEY_BARE_INT64, PC__Q_KEY_BARE_UINT64 };

static int pc__q_bare_key(int key, size_t offset, size_t item_size) {
    if (offset != 0) return key;
    if (key == PC_QUEUE_KEY_INT32 && item_size == 4) return PC__Q_KEY_BARE_INT32;
    if (key == PC_QUEUE_KEY_INT64 && item_size == 8) return PC__Q_KEY_BARE_INT64;
    if (key == PC_QUEUE_KEY_UINT64 && item_size == 8) return PC__Q_KEY_BARE_UINT64;
    return key;
}

static void pc__q_heap_push(pc_queue *q, uint64_t n) {
    switch (q->c.key) {
    case PC_QUEUE_KEY_INT32: pc__q_heap_push_int32(q, n); break;
    case PC_QUEUE_KEY_INT64: pc__q_heap_push_int64(q, n); break;
    case PC_QUEUE_KEY_UINT64: pc__q_heap_push_uint64(q, n); break;
    case PC_QUEUE_KEY_DOUBLE: pc__q_heap_push_double(q, n); break;
    case PC__Q_KEY_BARE_INT32: pc__q_heap_push_bare_int32(q, n); break;
    case PC__Q_KEY_BARE_INT64: pc__q_heap_push_bare_int64(q, n); break;
    case PC__Q_KEY_BARE_UINT64: pc__q_heap_push_bare_uint64(q, n); break;
    default: pc__q_heap_push_compare(q, n); break;
    }
}

static void pc__q_heap_pop(pc_queue *q, uint64_t n) {
    switch (q->c.key) {
    case PC_QUEUE_KEY_INT32: pc__q_heap_pop_int32(q, n); break;
    case PC_QUEUE_KEY_INT64: pc__q_heap_pop_int64(q, n); break;
    case PC_QUEUE_KEY_UINT64: pc__q_heap_pop_uint64(q, n); break;
    case PC_QUEUE_KEY_DOUBLE: pc__q_heap_pop_double(q, n); break;
    case PC__Q_KEY_BARE_INT32: pc__q_heap_pop_bare_int32(q, n); break;
    case PC__Q_KEY_BARE_INT64: pc__q_heap_pop_bare_int64(q, n); break;
    case PC__Q_KEY_BARE_UINT64: pc__q_heap_pop_bare_uint64(q, n); break;
    default: pc__q_heap_pop_compare(q, n); break;
    }
}

// Room for need entries (need is at most cap + 1, or 64: a size_t): the array
// doubles, up to maxsize when bounded (a bound size_t cannot count is no cap).
static int pc__q_locked_grow(pc_queue *q, uint64_t need) {
    size_t max = (uint64_t)(size_t)q->c.bound == q->c.bound ? (size_t)q->c.bound : 0;
    return pc__grow(&q->l.buf, &q->l.cap, (size_t)need, q->c.stride, max);
}

static int pc__q_locked_try_put(pc_queue *q, const void *item) {
    pc_lock_acquire(&q->l.lock, PC_FOREVER);
    uint64_t p = q->p.putc, n = p - q->g.getc;
    int rc = q->c.bound && n >= q->c.bound ? PC_FULL : PC_OK;
    if (rc == PC_OK && n == q->l.cap) rc = pc__q_locked_grow(q, n + 1);
    if (rc == PC_OK) {
        if (q->c.kind == PC_QUEUE_LIFO) {
            pc__q_copy(pc__q_heap_at(q, n), item, q->c.item_size);
        } else {
            pc__q_copy(q->l.tmp, item, q->c.item_size);
            if (q->c.stride > q->c.item_size) memcpy(q->l.tmp + q->c.item_size, &p, 8);
            pc__q_heap_push(q, n);
        }
        pc__q_task_add(q);
        PC__Q_STORE_SEQ(&q->p.putc, p + 1);
    }
    pc_lock_release(&q->l.lock);
    return rc;
}

static int pc__q_locked_try_get(pc_queue *q, void *out) {
    pc_lock_acquire(&q->l.lock, PC_FOREVER);
    uint64_t g = q->g.getc, n = q->p.putc - g;
    if (n == 0) {
        pc_lock_release(&q->l.lock);
        return PC_EMPTY;
    }
    if (q->c.kind == PC_QUEUE_LIFO) {
        if (out) pc__q_copy(out, pc__q_heap_at(q, n - 1), q->c.item_size);
    } else {
        if (out) pc__q_copy(out, pc__q_heap_at(q, 0), q->c.item_size);
        pc__q_heap_pop(q, n - 1);
    }
    PC__Q_STORE_SEQ(&q->g.getc, g + 1);
    pc_lock_release(&q->l.lock);
    return PC_OK;
}

static int pc__q_locked_init(pc_queue *q) {
    q->c.stride = q->c.item_size;
    if (q->c.kind == PC_QUEUE_PRIORITY) {
        // The comparator gets pointers into the heap, so every entry must
        // start at the item type's alignment: take the largest power of
        // two dividing item_size (a type's size is a multiple of its
        // alignment), up to malloc's 16. Only sizes that are multiples of
        // 16 pay padding (8 bytes).
        size_t align = q->c.item_size & (~q->c.item_size + 1);
        if (align > 16) align = 16;
        q->c.key = pc__q_bare_key(q->c.key, q->c.key_offset, q->c.item_size);
        if (q->c.key < PC__Q_KEY_BARE_INT32)
            q->c.stride = (q->c.item_size + 8 + align - 1) & ~(align - 1);
    }
    q->l.tmp = (unsigned char *)pc__malloc(q->c.stride);
    if (!q->l.tmp) return PC_NOMEM;
    return pc__q_locked_grow(q, q->c.bound && q->c.bound < 64 ? q->c.bound : 64);
}

// >>core
static int pc__q_try_put(pc_queue *q, const void *item) {
    switch (q->c.backend) {
    case PC__Q_B_RING: return pc__q_ring_try_put(q, item);
    case PC__Q_B_LIST: return pc__q_list_try_put(q, item);
    default: return pc__q_locked_try_put(q, item);
    }
}

static int pc__q_try_get(pc_queue *q, void *out) {
    switch (q->c.backend) {
    case PC__Q_B_RING: return pc__q_ring_try_get(q, out);
    case PC__Q_B_LIST: return pc__q_list_try_get(q, out);
    default: return pc__q_locked_try_get(q, out);
    }
}

// Discard every item left, counting each as done (Python's immediate
// shutdown).
static void pc__q_drain(pc_queue *q) {
    while (pc__q_try_get(q, NULL) == PC_OK)
        if (q->c.kind != PC_QUEUE_SIMPLE) pc__q_task_sub(q);
}

// A put or get that succeeded wakes one sleeper of the other side, if any:
// the counter it changed was written sequentially consistent, as the event
// count asks (see pyconc.h), and with nobody asleep that costs one load.
static int pc__q_put_once(pc_queue *q, const void *item) {
    if (PC__Q_RELAXED(&q->c.state) != PC__Q_S_OPEN) return PC_SHUTDOWN;
    int rc = pc__q_try_put(q, item);
    if (rc != PC_OK) return rc;
    pc__evc_notify(&q->w.not_empty, 1);
    // An immediate shutdown that drained before our item landed would
    // leave it behind: drain it ourselves.
    if (PC__Q_SEQ(&q->c.state) == PC__Q_S_IMMEDIATE) pc__q_drain(q);
    return PC_OK;
}

static int pc__q_get_once(pc_queue *q, void *out) {
    uint32_t state = PC__Q_LOAD(&q->c.state);
    if (state == PC__Q_S_IMMEDIATE) return PC_SHUTDOWN;
    int rc = pc__q_try_get(q, out);
    if (rc == PC_OK && q->c.bound) pc__evc_notify(&q->w.not_full, 1);
    if (rc == PC_EMPTY && (state || PC__Q_LOAD(&q->c.state))) rc = PC_SHUTDOWN;
    return rc;
}

// Poll briefly (the other side is often just about to act), then sleep.
static int pc__q_put_slow(pc_queue *q, const void *item, double deadline) {
    for (int i = 0; i < PYCONC_QUEUE_SPIN; i++) {
        pc__cpu_relax();
        if (pc__q_has_room(q) || PC__Q_RELAXED(&q->c.state)) break;
    }
    for (;;) {
        int rc = pc__q_put_once(q, item);
        if (rc != PC_FULL) return rc;
        if (pc__q_wait(q, &q->w.not_full, pc__q_has_room, deadline) == PC_TIMEOUT)
            return pc__q_put_once(q, item);
    }
}

static int pc__q_get_slow(pc_queue *q, void *out, double deadline) {
    for (int i = 0; i < PYCONC_QUEUE_SPIN; i++) {
        pc__cpu_relax();
        if (pc__q_has_item(q) || PC__Q_RELAXED(&q->c.state)) break;
    }
    for (;;) {
        int rc = pc__q_get_once(q, out);
        if (rc != PC_EMPTY) return rc;
        if (pc__q_wait(q, &q->w.not_empty, pc__q_has_item, deadline) == PC_TIMEOUT)
            return pc__q_get_once(q, out);
    }
}

static int pc__q_fail(pc_queue *q, int rc, const char *op) {
    switch (rc) {
    case PC_FULL: return pc__error(rc, "%s: queue is full (maxsize %ld)", op, q->c.maxsize);
    case PC_EMPTY: return pc__error(rc, "%s: queue is empty", op);
    case PC_SHUTDOWN: return pc__error(rc, "%s: queue is shut down", op);
    default: return rc;         // PC_NOMEM: pc__malloc said why
    }
}

static int pc__q_check(pc_queue *q, const void *item, double timeout, const char *op) {
    if (!q) return pc__error(PC_VALUE, "%s: queue is NULL", op);
    if (!item) return pc__error(PC_VALUE, "%s: item is NULL", op);
    if (timeout != timeout) return pc__error(PC_VALUE, "%s: timeout is NaN", op);
    return PC_OK;
}

// >>queue
static int pc__q_desc_check(const pc_queue_desc *d) {
    if ((unsigned)d->kind > (unsigned)PC_QUEUE_SIMPLE)
        return pc__error(PC_VALUE, "queue kind %d is not a pc_queue_kind", (int)d->kind);
    if ((unsigned)d->key > (unsigned)PC_QUEUE_KEY_DOUBLE)
        return pc__error(PC_VALUE, "key %d is not a pc_queue_key", (int)d->key);
    if (d->key && d->kind != PC_QUEUE_PRIORITY)
        return pc__error(PC_VALUE, "desc.key orders a PriorityQueue only");
    if (d->kind == PC_QUEUE_PRIORITY && !d->compare && !d->key)
        return pc__error(PC_VALUE, "a PriorityQueue needs desc.compare or desc.key");
    if (d->key) {
        size_t item = d->item_size ? d->item_size : sizeof(void *);
        size_t width = d->key == PC_QUEUE_KEY_INT32 ? 4 : 8;
        if (d->key_offset > item || item - d->key_offset < width)
            return pc__error(PC_VALUE, "a %zu-byte key at offset %zu does not fit in a "
                                       "%zu-byte item", width, d->key_offset, item);
    }
    if (d->kind == PC_QUEUE_SIMPLE && d->maxsize > 0)
        return pc__error(PC_VALUE, "a SimpleQueue is unbounded: maxsize must be <= 0");
    if (d->item_size > ((size_t)1 << 30))
        return pc__error(PC_VALUE, "item_size %zu is larger than 1 GiB", d->item_size);
    return PC_OK;
}

// Zero fields become Python's defaults; the backend follows from the kind.
static void pc__q_desc_defaults(pc_queue *q, const pc_queue_desc *d) {
    q->c.kind = (int)d->kind;
    q->c.maxsize = d->maxsize;
    q->c.bound = d->maxsize > 0 ? (uint64_t)d->maxsize : 0;
    q->c.item_size = d->item_size ? d->item_size : sizeof(void *);
    q->c.compare = d->compare;
    q->c.compare_ctx = d->compare_ctx;
    q->c.key = (int)d->key;
    q->c.key_offset = d->key_offset;
    if (d->kind == PC_QUEUE_LIFO || d->kind == PC_QUEUE_PRIORITY) q->c.backend = PC__Q_B_LOCKED;
    // The ring needs two slots at least to tell a full slot from a free one.
    else if (q->c.bound >= 2 && q->c.bound <= PYCONC_QUEUE_RING_MAX) q->c.backend = PC__Q_B_RING;
    else q->c.backend = PC__Q_B_LIST;
}

PYCONC_API pc_queue *pc_queue_new(const pc_queue_desc *desc) {
    pc_queue_desc zero;
    memset(&zero, 0, sizeof zero);
    if (!desc) desc = &zero;
    if (pc__q_desc_check(desc)) return NULL;
    void *raw = pc__malloc(sizeof(pc_queue) + 64);
    if (!raw) return NULL;
    pc_queue *q = (pc_queue *)(((uintptr_t)raw + 63) & ~(uintptr_t)63);
    memset(q, 0, sizeof *q);
    q->c.raw = raw;
    pc__q_desc_defaults(q, desc);
    int rc = q->c.backend == PC__Q_B_RING ? pc__q_ring_init(q)
           : q->c.backend == PC__Q_B_LIST ? pc__q_list_init(q) : pc__q_locked_init(q);
    if (rc != PC_OK) {
        pc_queue_free(q);
        return NULL;
    }
    return q;
}

PYCONC_API void pc_queue_free(pc_queue *q) {
    if (!q) return;
    if (q->c.backend == PC__Q_B_LIST) pc__q_list_free(q);
    pc__free(q->c.slots);
    pc__free(q->l.buf);
    pc__free(q->l.tmp);
    pc__free(q->c.raw);
}

PYCONC_API int pc_queue_put(pc_queue *q, const void *item, double timeout) {
    if (pc__q_check(q, item, timeout, "put")) return PC_VALUE;
    int rc = pc__q_put_once(q, item);
    if (rc == PC_FULL && timeout != 0) {
        double deadline = INFINITY;
        pc__deadline(timeout, &deadline);
        rc = pc__q_put_slow(q, item, deadline);
    }
    return rc == PC_OK ? PC_OK : pc__q_fail(q, rc, "put");
}

PYCONC_API int pc_queue_put_nowait(pc_queue *q, const void *item) {
    return pc_queue_put(q, item, 0);
}

PYCONC_API int pc_queue_get(pc_queue *q, void *out_item, double timeout) {
    if (pc__q_check(q, out_item, timeout, "get")) return PC_VALUE;
    int rc = pc__q_get_once(q, out_item);
    if (rc == PC_EMPTY && timeout != 0) {
        double deadline = INFINITY;
        pc__deadline(timeout, &deadline);
        rc = pc__q_get_slow(q, out_item, deadline);
    }
    return rc == PC_OK ? PC_OK : pc__q_fail(q, rc, "get");
}

PYCONC_API int pc_queue_get_nowait(pc_queue *q, void *out_item) {
    return pc_queue_get(q, out_item, 0);
}

PYCONC_API size_t pc_queue_qsize(pc_queue *q) {
    if (!q) return 0;
    uint64_t n = pc__q_count(q);
    if (q->c.bound && n > q->c.bound) n = q->c.bound;   // a snapshot mid-race
    return (size_t)n;
}

PYCONC_API int pc_queue_empty(pc_queue *q) { return pc_queue_qsize(q) == 0; }

PYCONC_API int pc_queue_full(pc_queue *q) {
    return q && q->c.bound && pc_queue_qsize(q) >= q->c.bound;
}

PYCONC_API long pc_queue_maxsize(const pc_queue *q) { return q ? q->c.maxsize : 0; }
PYCONC_API size_t pc_queue_item_size(const pc_queue *q) { return q ? q->c.item_size : 0; }

static int pc__q_tracked(pc_queue *q, const char *op) {
    if (!q) return pc__error(PC_VALUE, "%s: queue is NULL", op);
    if (q->c.kind == PC_QUEUE_SIMPLE)
        return pc__error(PC_RUNTIME, "%s: a SimpleQueue does not track tasks", op);
    return PC_OK;
}

PYCONC_API int pc_queue_task_done(pc_queue *q) {
    int rc = pc__q_tracked(q, "task_done");
    if (rc) return rc;
    if (pc__q_task_sub(q) == 0) return pc__error(PC_VALUE, "task_done() called too many times");
    return PC_OK;
}

static int pc__q_all_done(pc_queue *q) { return PC__Q_SEQ(&q->t.unfinished) == 0; }

PYCONC_API size_t pc_queue_unfinished_tasks(pc_queue *q) {
    if (!q || q->c.kind == PC_QUEUE_SIMPLE) return 0;
    return (size_t)PC__Q_SEQ(&q->t.unfinished);
}

// Whether join is over: all done, or released by an immediate shutdown
// whose drain has finished. A shutdown counts itself in drainers before it
// publishes the state (both sequentially consistent), so a joiner that sees
// the state also sees the drain still running, and does not judge the
// tasks before the discarded items are counted done.
static int pc__q_join_over(pc_queue *q) {
    return pc__q_all_done(q) || (PC__Q_SEQ(&q->c.state) == PC__Q_S_IMMEDIATE &&
                                 PC__Q_SEQ(&q->c.drainers) == 0);
}

static int pc__q_join_result(pc_queue *q) {
    if (pc__q_all_done(q)) return PC_OK;
    return pc__error(PC_SHUTDOWN, "join: queue was shut down with tasks not done");
}

PYCONC_API int pc_queue_join_timeout(pc_queue *q, double timeout) {
    double deadline = INFINITY;
    int rc = pc__q_tracked(q, "join");
    if (rc) return rc;
    if (pc__deadline(timeout, &deadline)) return PC_VALUE;
    while (!pc__q_join_over(q)) {
        if (timeout == 0) return pc__error(PC_TIMEOUT, "join timed out");
        // pc__q_wait sleeps only while the queue is open; after a plain
        // shutdown join still waits for the tasks, so loop on the event.
        uint32_t key = pc__evc_prepare(&q->w.all_done);
        if (pc__q_join_over(q)) break;
        if (pc__evc_wait(&q->w.all_done, key, deadline) == PC_TIMEOUT && !pc__q_join_over(q))
            return pc__error(PC_TIMEOUT, "join timed out");
    }
    return pc__q_join_result(q);
}

PYCONC_API int pc_queue_join(pc_queue *q) { return pc_queue_join_timeout(q, PC_FOREVER); }

PYCONC_API int pc_queue_shutdown(pc_queue *q, int immediate) {
    if (!q) return pc__error(PC_VALUE, "shutdown: queue is NULL");
    uint32_t want = immediate ? PC__Q_S_IMMEDIATE : PC__Q_S_SHUT;
    if (immediate) __atomic_fetch_add(&q->c.drainers, 1u, __ATOMIC_SEQ_CST);
    uint32_t s = PC__Q_RELAXED(&q->c.state);
    while (s < want && !__atomic_compare_exchange_n(&q->c.state, &s, want, 1, __ATOMIC_SEQ_CST,
                                                    __ATOMIC_RELAXED)) {}
    if (immediate) {
        pc__q_drain(q);
        __atomic_fetch_sub(&q->c.drainers, 1u, __ATOMIC_SEQ_CST);
        pc__evc_notify(&q->w.all_done, INT32_MAX);
    }
    // The state was written sequentially consistent and every sleeper looks
    // at it after announcing itself: waking the announced ones is enough.
    pc__evc_notify(&q->w.not_empty, INT32_MAX);
    pc__evc_notify(&q->w.not_full, INT32_MAX);
    return PC_OK;
}

PYCONC_API int pc_queue_is_shutdown(pc_queue *q) {
    return q && PC__Q_LOAD(&q->c.state) != PC__Q_S_OPEN;
}

#endif // PYCONC_QUEUE_IMPLEMENTATION

// Licence: MIT or public domain (unlicense), your choice; see the end of pyconc.h.

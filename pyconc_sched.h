/* pyconc_sched.h - v0.1.0 - Python's sched module for C, as one header.

   Do this:
       #define PYCONC_SCHED_IMPLEMENTATION
   before you include this file in *one* C or C++ file to create the
   implementation (pyconc.h's own PYCONC_IMPLEMENTATION must be defined in
   one file of the program too; it may be the same file).

       // in exactly one file
       #define PYCONC_IMPLEMENTATION
       #define PYCONC_SCHED_IMPLEMENTATION
       #include "pyconc_sched.h"

   Everywhere else just #include "pyconc_sched.h". Link with -pthread.
   PYCONC_ALL_IMPLEMENTATION switches on every included pyconc header.

   LICENSE: see the end of pyconc.h.

   TABLE OF CONTENTS
   =================
   api.scheduler   declarations: pc_scheduler, its desc, event handles, calls
   implementation  the implementation's switch and system headers
   state           the heap's nodes, the slot table, struct pc_scheduler
   heap            the 4-ary min-heap and its growth
   slots           event handles: slot numbers and generations
   dead            cancelled events' nodes: dropped at the head, or in a batch
   wake            run()'s default wait, cut short by enter and cancel
   scheduler       new, free, enterabs, enter, cancel, empty
   run             run()
   queue           the queue, copied out in run order
   Each is a `// >>tag` line: grep -n '^// >>' pyconc_sched.h

   CONFIGURATION
   =============
   PYCONC_SCHED_IMPLEMENTATION  compile the implementation into this file.
   PYCONC_STATIC, PYCONC_API, PYCONC_MALLOC/PYCONC_FREE, PYCONC_NO_FUTEX
                                as in pyconc.h (the allocator and the wait
                                queue are pyconc.h's).

   OVERVIEW
   ========
   sched.scheduler, named by pyconc's rule:

       Python                                      C
       s = sched.scheduler()                       s = pc_scheduler_new(NULL)
       s = sched.scheduler(timefunc, delayfunc)    pc_scheduler_new(&(pc_scheduler_desc){
                                                       .timefunc = tf, .delayfunc = df,
                                                       .ctx = c })
       e = s.enterabs(t, prio, fn, (arg,))         pc_scheduler_enterabs(s, t, prio, fn, arg, &e)
       e = s.enter(delay, prio, fn, (arg,))        pc_scheduler_enter(s, delay, prio, fn, arg, &e)
       s.cancel(e)                                 pc_scheduler_cancel(s, e)
       s.empty()                                   pc_scheduler_empty(s)
       s.run()                                     pc_scheduler_run(s, 1, NULL)
       d = s.run(blocking=False)                   pc_scheduler_run(s, 0, &d)
       s.queue                                     pc_scheduler_queue(s, out, cap)

   Events run in order of time, then priority (lower first), then the
   order they were entered (Python 3.10+). An action is a pc_target_fn,
   int fn(void *arg); it "raises" by returning non-zero (or calling
   pc_raise): run() then returns that code at once, that event is gone and
   the others stay queued for a later run() - Python's rule.

   A complete program:

       #define PYCONC_IMPLEMENTATION
       #define PYCONC_SCHED_IMPLEMENTATION
       #include "pyconc_sched.h"
       #include <stdio.h>

       static int say(void *arg) {
           printf("%s\n", (const char *)arg);
           return 0;
       }

       int main(void) {
           pc_scheduler *s = pc_scheduler_new(NULL);
           if (!s) return 1;
           double now = pc_monotonic();
           pc_scheduler_enterabs(s, now + 0.02, 1, say, (void *)"third", NULL);
           pc_scheduler_enterabs(s, now + 0.01, 2, say, (void *)"first", NULL);
           pc_scheduler_enterabs(s, now + 0.02, 0, say, (void *)"second", NULL);
           int rc = pc_scheduler_run(s, 1, NULL);   // sleeps, then says all three
           pc_scheduler_free(s);
           return rc;
       }

   EVENT HANDLES
   =============
   An event handle (pc_scheduler_event) is a 64-bit id: a slot number and
   that slot's generation. The generation changes when the event leaves the
   queue (it starts to run, or is cancelled), so a handle kept after that is
   answered with PC_VALUE, never a use-after-free. A scheduler's slot
   generations start at a value of their own, so a handle from another
   scheduler is almost always rejected too. 0 never names an event.

   THREAD SAFETY
   =============
   Every function except pc_scheduler_free may be called from any thread
   while another thread is inside pc_scheduler_run (several may run at
   once, as in Python). No lock is held while an action or a custom
   delayfunc runs, so both may use the scheduler. run() calls timefunc
   with the scheduler's lock held (as in Python): it must not use the
   scheduler.

   ERRORS
   ======
   Fallible calls return PC_OK (0) or a PC_* code, and leave a message in
   pc_last_error(): NULL scheduler or action, NaN time or delay, or a
   handle that is not queued are PC_VALUE; out of memory is PC_NOMEM, with
   the queue left as it was. pc_scheduler_run also returns whatever
   non-zero code an action or delayfunc returned. pc_scheduler_empty and
   pc_scheduler_queue, which answer a value, set PC_VALUE in
   pc_last_error() for a NULL scheduler.

   BEYOND PYTHON
   =============
   - With the default delayfunc, run() sleeps on pyconc's wait queue and
     wakes as soon as another thread enters an event that comes before the
     one it sleeps towards, or cancels that one (CPython issue 64325: 3.13's
     run() sleeps through it). Every run() asleep wakes. A custom delayfunc
     keeps Python's behaviour.
   - An event at INFINITY means "never": the default wait sleeps with no
     deadline (still woken as above) where Python's time.sleep(inf) raises
     OverflowError. A custom delayfunc gets INFINITY, as in Python.
   - The default delayfunc(0) after each event costs nothing (no lock is held
     while an action runs, so other threads are never shut out); Python's
     time.sleep(0) is a system call per event.
   - cancel is O(1) amortized (O(log n) for the next event due); Python's
     is O(n).
   - Bad input (NULL, NaN) is PC_VALUE with a message, not a crash.
*/
#if defined(PYCONC_SCHED_IMPLEMENTATION) || defined(PYCONC_ALL_IMPLEMENTATION)
#if !defined(_GNU_SOURCE) && !defined(__cplusplus)
#define _GNU_SOURCE 1
#endif
// glibc fixes its feature set at the first system header: one included
// before this point without _GNU_SOURCE hides the POSIX.1-2008 calls used here.
#if defined(__GLIBC__) && !defined(__USE_XOPEN2K8)
#error "pyconc_sched.h: a system header was included before this implementation without"
#error "_GNU_SOURCE: include pyconc_sched.h first in this file, or compile it with -D_GNU_SOURCE"
#define PYCONC_SCHED_IMPLEMENTATION_DONE  // skip the implementation: one clear error
#endif
#endif

#include "pyconc.h"
#if PYCONC_VERSION_MAJOR != 0
#error "pyconc_sched.h needs pyconc.h version 0"
#endif

#ifndef PYCONC_SCHED_H
#define PYCONC_SCHED_H

#ifdef __cplusplus
extern "C" {
#endif

// >>api.scheduler
typedef struct pc_scheduler pc_scheduler;

/* An event's handle, for pc_scheduler_cancel. 0 names no event.
   Python: the sched.Event that enter/enterabs return */
typedef uint64_t pc_scheduler_event;

/* Return the current time, in the units events are entered in. */
typedef double (*pc_scheduler_timefunc)(void *ctx);
/* Wait delay time units; return 0, or non-zero to "raise" out of run(). */
typedef int (*pc_scheduler_delayfunc)(void *ctx, double delay);

typedef struct pc_scheduler_desc {
    pc_scheduler_timefunc timefunc;     // NULL: pc_monotonic (time.monotonic)
    pc_scheduler_delayfunc delayfunc;   // NULL: a wait of delay seconds that
                                        // enter/cancel can cut short; delay 0
                                        // costs nothing
    void *ctx;                          // passed to timefunc and delayfunc
} pc_scheduler_desc;

/* One queued event, as pc_scheduler_queue copies it out.
   Python: sched.Event (time, priority, sequence, action, argument) */
typedef struct pc_scheduler_entry {
    double time;
    int priority;
    uint64_t sequence;                  // order of entry, the last tie-break
    pc_target_fn action;
    void *arg;
    pc_scheduler_event event;           // the handle enter/enterabs gave
} pc_scheduler_entry;

/* Make a scheduler. desc may be NULL (Python's defaults).
   Returns NULL on failure (PC_NOMEM in pc_last_error).
   Python: sched.scheduler(timefunc, delayfunc) */
PYCONC_API pc_scheduler *pc_scheduler_new(const pc_scheduler_desc *desc);
/* Free the scheduler and any events still queued (their actions never
   run). NULL is ignored. Nothing may be using it: no other thread, no
   running action.  Thread-safe: no. */
PYCONC_API void pc_scheduler_free(pc_scheduler *s);
/* Queue action(arg) to run at time (timefunc's units); *out_event (may be
   NULL) gets its handle.
   Returns: PC_OK, PC_VALUE (NULL scheduler or action, NaN time), PC_NOMEM
   (also when 2^31 - 1 events are queued).  Blocks: no.  Thread-safe: yes.
   Python: scheduler.enterabs */
PYCONC_API int pc_scheduler_enterabs(pc_scheduler *s, double time, int priority,
                                     pc_target_fn action, void *arg,
                                     pc_scheduler_event *out_event);
/* Queue action(arg) to run delay units from now (timefunc() + delay,
   timefunc called without the lock).
   Returns: PC_OK, PC_VALUE (also when timefunc() + delay is NaN), PC_NOMEM.
   Blocks: no.  Thread-safe: yes.  Python: scheduler.enter */
PYCONC_API int pc_scheduler_enter(pc_scheduler *s, double delay, int priority,
                                  pc_target_fn action, void *arg,
                                  pc_scheduler_event *out_event);
/* Remove a queued event: O(1) amortized, O(log n) for the next one due
   (the others' room is reclaimed in batches). A run() sleeping towards it
   (with the default delayfunc) wakes up.
   Returns: PC_OK, PC_VALUE (not queued: already run, running, cancelled,
   or not a handle of this scheduler).  Blocks: no.  Thread-safe: yes.
   Python: scheduler.cancel */
PYCONC_API int pc_scheduler_cancel(pc_scheduler *s, pc_scheduler_event event);
/* Return 1 if no event is queued, else 0. A NULL scheduler gives 1 and
   PC_VALUE in pc_last_error().  Thread-safe: yes.  Python: scheduler.empty */
PYCONC_API int pc_scheduler_empty(pc_scheduler *s);
/* Run events as they fall due. blocking: wait for each (with delayfunc)
   until the queue is empty. Not blocking: run the events already due and
   return. *out_next_delay (may be NULL) gets the time until the next event
   (INFINITY when none is left: Python's None); it is not written on error.
   After each event delayfunc(0) is called, as in Python.
   Returns: PC_OK, PC_VALUE, or the non-zero code an action or delayfunc
   returned (the event that raised is gone; the rest stay queued).
   Blocks: if blocking.  Thread-safe: yes (several threads may run at once).
   Python: scheduler.run */
PYCONC_API int pc_scheduler_run(pc_scheduler *s, int blocking, double *out_next_delay);
/* Copy up to cap of the queued events into out, in the order they will
   run, and return how many are queued in all (with out NULL or cap 0 it
   only counts). A time entered as -0.0 reads 0.0 (an equal time). A NULL
   scheduler gives 0 and PC_VALUE in pc_last_error().
   Blocks: no.  Thread-safe: yes.  Python: scheduler.queue (len() of it with cap 0) */
PYCONC_API size_t pc_scheduler_queue(pc_scheduler *s, pc_scheduler_entry *out, size_t cap);
/* What the scheduler was made with: desc's timefunc, delayfunc and ctx
   (NULL for a default, which is pc_monotonic / the built-in wait). A NULL
   scheduler gives an all-NULL desc and PC_VALUE in pc_last_error().
   Blocks: no.  Thread-safe: yes (they never change).
   Python: scheduler.timefunc, scheduler.delayfunc */
PYCONC_API pc_scheduler_desc pc_scheduler_get_desc(const pc_scheduler *s);

#ifdef __cplusplus
}
#endif

#endif // PYCONC_SCHED_H

// ---------------------------------------------------------------------------
// >>implementation
#if defined(PYCONC_ALL_IMPLEMENTATION) && !defined(PYCONC_SCHED_IMPLEMENTATION)
#define PYCONC_SCHED_IMPLEMENTATION
#endif

#if defined(PYCONC_SCHED_IMPLEMENTATION) && !defined(PYCONC_SCHED_IMPLEMENTATION_DONE)
#define PYCONC_SCHED_IMPLEMENTATION_DONE

#include <math.h>
#include <stdlib.h>
#include <string.h>

// >>state
// The queue is a 4-ary min-heap of 16-byte nodes (the time as an integer
// key, the priority, a slot number); a slot table holds each event's action,
// argument and entry number, and a table beside it (4 bytes a slot, so that
// cancel's check of a handle seldom misses the cache) the slot's generation.
// Sifting moves nodes and touches nothing else: with a million queued, a pop
// reads the heap's lines and the popped event's slot only (keeping each
// slot's heap position up to date cost a write to a random line of the
// table for every node moved, most of the run's cache misses). Small nodes
// keep four children in a line or two; the entry number breaks only ties of
// time and priority, so it is looked up there seldom.
//
// With no position, cancel cannot find its node: it retires the handle and
// leaves the node in place, dead (its slot's bit set in dead_bits), unless
// it is the head, which it takes out. Dead nodes leave when they reach the
// head, or all at once when they outnumber the live ones (the heap is then
// rebuilt in O(n)). So the head is always live, and the heap never holds
// more than twice the events queued. The bits (one per slot, 12 KiB for
// 100k events) tell dead from live without a cache miss on the slot table.
typedef struct pc__s_node {
    uint64_t key;               // the time as an integer of the same order (pc__s_key)
    int32_t priority;
    uint32_t slot;
} pc__s_node;

typedef struct pc__s_slot {
    pc_target_fn action;
    void *arg;
    uint64_t seq;               // order of entry: the last tie-break, looked up only on a
                                // tie; while the slot is free, the next free slot
} pc__s_slot;

#define PC__SCHED_NONE 0xffffffffu
#define PC__SCHED_MAX 0x7fffffffu   // nodes in the heap at once, dead ones included

struct pc_scheduler {
    pc_lock lock;               // guards everything below
    pc__evc wake;               // run() calls in the default wait; moved when the head changes
    uint32_t parked;            // run() calls between their prepare and leave on wake
    pc__s_node *heap;           // in heap_mem, placed as pc__s_grow_heap says
    void *heap_mem;
    uint32_t n;                 // nodes in the heap
    uint32_t dead;              // of them, cancelled events' (never the head)
    uint64_t *dead_bits;        // bit i: slot i's node is dead
    size_t dead_words;          // of dead_bits, enough for slotcap
    uint32_t *gens;             // slot i's generation: never 0, changes when its event
    size_t gencap;              // leaves the queue
    size_t slot_room;           // slots all three tables have room for
    size_t cap;                 // of heap
    pc__s_slot *slots;
    uint32_t nslots, free_head, gen_base;
    size_t slotcap;
    uint64_t seq;
    pc_scheduler_timefunc timefunc;
    pc_scheduler_delayfunc delayfunc;
    void *ctx;
    int default_time, default_delay;
};

static uint32_t pc__s_serial;

// >>heap
// A time (never NaN) as an unsigned integer in the same order: flip every bit
// of a negative, only the sign of the rest. Integers compare in fewer
// instructions than doubles, and sifting is mostly comparing. -0.0 becomes
// 0.0 first (the two are equal times).
static uint64_t pc__s_key(double time) {
    uint64_t u;
    time += 0.0;
    memcpy(&u, &time, sizeof u);
    return u >> 63 ? ~u : u | (UINT64_C(1) << 63);
}

static double pc__s_time(uint64_t key) {
    uint64_t u = key >> 63 ? key & ~(UINT64_C(1) << 63) : ~key;
    double time;
    memcpy(&time, &u, sizeof time);
    return time;
}

static int pc__s_less(const pc__s_node *a, const pc__s_node *b, const pc__s_slot *slots) {
    if (a->key != b->key) return a->key < b->key;
    if (a->priority != b->priority) return a->priority < b->priority;
    return slots[a->slot].seq < slots[b->slot].seq;
}

// Returns where the node at i came to rest. The heap and slot arrays come
// in as arguments, not through s, so that the compiler keeps them in
// registers across the stores.
static uint32_t pc__s_sift_up(pc__s_node *h, const pc__s_slot *slots, uint32_t i) {
    pc__s_node x = h[i];
    while (i > 0) {
        uint32_t parent = (i - 1) / 4;
        if (!pc__s_less(&x, &h[parent], slots)) break;
        h[i] = h[parent];
        i = parent;
    }
    h[i] = x;
    return i;
}

// The smallest of the children first..first+3 that exist below n. With all
// four there (nearly every level) it is a knock-out of three comparisons,
// the two pairs independent, without a loop's bookkeeping. The winners are
// picked by arithmetic on the comparisons, not by branches: which child is
// smaller is a coin toss, and a mispredicted branch a level costs more
// than the comparisons (1M queued events ran 20% slower with branches).
static inline uint32_t pc__s_min_child(const pc__s_node *h, const pc__s_slot *slots,
                                       uint32_t first, uint32_t n) {
    const pc__s_node *c = h + first;
    if (n - first >= 4) {
        uint32_t a = first + (uint32_t)pc__s_less(&c[1], &c[0], slots);
        uint32_t b = first + 2 + (uint32_t)pc__s_less(&c[3], &c[2], slots);
        uint32_t b_wins = 0u - (uint32_t)pc__s_less(&h[b], &h[a], slots);
        return a ^ ((a ^ b) & b_wins);
    }
    uint32_t best = 0;
    for (uint32_t i = 1; i < n - first; i++)
        if (pc__s_less(&c[i], &c[best], slots)) best = i;
    return first + best;
}

static void pc__s_sift_down(pc__s_node *h, const pc__s_slot *slots, uint32_t n, uint32_t i) {
    pc__s_node x = h[i];
    for (;;) {
        uint64_t first = (uint64_t)i * 4 + 1;
        if (first >= n) break;
        uint32_t best = pc__s_min_child(h, slots, (uint32_t)first, n);
        if (!pc__s_less(&h[best], &x, slots)) break;
        h[i] = h[best];
        i = best;
    }
    h[i] = x;
}

// Start loading the children of the four nodes from first on: 16 nodes,
// four whole cache lines side by side (pc__s_grow_heap). The pick among
// the four is arithmetic, so without this the next level's load could not
// start before the pick is done, and with a million queued every level
// would wait a whole memory latency.
// A heap this big (256 KiB) outgrows the fast caches; below it prefetching
// costs instructions and saves nothing.
#define PC__SCHED_PREFETCH_FROM 16384u

static inline void pc__s_prefetch(const void *p) {
#if defined(__GNUC__) || defined(__clang__)
    __builtin_prefetch(p);
#else
    (void)p;
#endif
}

static inline void pc__s_prefetch_below(const pc__s_node *h, uint32_t first) {
    const char *below = (const char *)(h + (uint64_t)first * 4 + 1);
    for (int line = 0; line < 4; line++) pc__s_prefetch(below + 64 * line);
}

// Walk the hole at the root down to a leaf along the smallest children
// (three comparisons a level, not four); returns the leaf. prefetch is a
// constant at each call, so the small heap's loop carries no test for it.
static inline uint32_t pc__s_hole_down(pc__s_node *h, const pc__s_slot *slots, uint32_t n,
                                       int prefetch) {
    uint32_t hole = 0;
    for (;;) {
        uint64_t first = (uint64_t)hole * 4 + 1;
        if (first >= n) return hole;
        if (prefetch && first * 4 + 1 < n) pc__s_prefetch_below(h, (uint32_t)first);
        uint32_t best = pc__s_min_child(h, slots, (uint32_t)first, n);
        h[hole] = h[best];
        hole = best;
    }
}

// Take the root out: bottom-up, as pyconc_queue.h's heap does. The hole
// goes down to a leaf, then the last node rises from there; it seldom
// rises far, having come from the bottom.
static void pc__s_remove_root(pc_scheduler *s) {
    uint32_t n = --s->n, hole;
    pc__s_node *h = s->heap;
    const pc__s_slot *slots = s->slots;
    if (n == 0) return;
    if (n >= PC__SCHED_PREFETCH_FROM) hole = pc__s_hole_down(h, slots, n, 1);
    else hole = pc__s_hole_down(h, slots, n, 0);
    h[hole] = h[n];
    pc__s_sift_up(h, slots, hole);
}

// The first growth makes room for PC__SCHED_FIRST events at once (3 KiB):
// a queue filled from empty then doubles 4 times to 1k events, not 8.
#define PC__SCHED_FIRST 64

static size_t pc__s_need(size_t n) { return n + 1 > PC__SCHED_FIRST ? n + 1 : PC__SCHED_FIRST; }

static void pc__s_compact(pc_scheduler *s);

// The heap sits in its block where every node's four children (4i+1 to
// 4i+4, 64 bytes) fill one cache line: a level of sifting reads one line,
// not two (at a million events nearly every level's line is a miss).
static int pc__s_grow_heap(pc_scheduler *s) {
    const size_t line = 64, node = sizeof(pc__s_node);
    size_t cap = s->cap ? 2 * s->cap : PC__SCHED_FIRST;
    if (cap > PC__SCHED_MAX) cap = PC__SCHED_MAX;
    if (cap + line / node > (size_t)-1 / node)
        return pc__error(PC_NOMEM, "scheduler heap of %zu events overflows", cap);
    char *mem = (char *)pc__malloc((cap + line / node) * node);
    if (!mem) return PC_NOMEM;
    uintptr_t second = ((uintptr_t)mem + node + line - 1) & ~(uintptr_t)(line - 1);
    pc__s_node *heap = (pc__s_node *)(void *)(mem + (second - node - (uintptr_t)mem));
    if (s->n) memcpy(heap, s->heap, s->n * node);
    pc__free(s->heap_mem);
    s->heap_mem = mem;
    s->heap = heap;
    s->cap = cap;
    return PC_OK;
}

// Room for one more slot in the slot table and the two beside it. A
// failure leaves the tables that did grow grown, and slot_room as it was.
static int pc__s_grow_slots(pc_scheduler *s) {
    size_t need = pc__s_need(s->nslots), words = s->dead_words;
    if (pc__grow(&s->slots, &s->slotcap, need, sizeof *s->slots, PC__SCHED_MAX) ||
        pc__grow(&s->gens, &s->gencap, need, sizeof *s->gens, PC__SCHED_MAX) ||
        pc__grow(&s->dead_bits, &s->dead_words, (need + 63) / 64, sizeof *s->dead_bits, 0))
        return PC_NOMEM;
    memset(s->dead_bits + words, 0, (s->dead_words - words) * sizeof *s->dead_bits);
    size_t room = s->slotcap < s->gencap ? s->slotcap : s->gencap;
    s->slot_room = room < s->dead_words * 64 ? room : s->dead_words * 64;
    return PC_OK;
}

static int pc__s_reserve(pc_scheduler *s) {
    if (s->n == PC__SCHED_MAX && s->dead) pc__s_compact(s);
    if (s->n == PC__SCHED_MAX) return pc__error(PC_NOMEM, "scheduler queue is full");
    if (s->n + 1 > s->cap && pc__s_grow_heap(s)) return PC_NOMEM;
    // Every slot in use belongs to a node in the heap, so this count stays under the max too.
    if (s->free_head == PC__SCHED_NONE && (size_t)s->nslots + 1 > s->slot_room &&
        pc__s_grow_slots(s))
        return PC_NOMEM;
    return PC_OK;
}

// >>slots
// Called after pc__s_reserve, so it cannot fail.
static uint32_t pc__s_slot_alloc(pc_scheduler *s) {
    uint32_t slot = s->free_head;
    if (slot != PC__SCHED_NONE) {
        s->free_head = (uint32_t)s->slots[slot].seq;
        return slot;
    }
    slot = s->nslots++;
    s->gens[slot] = s->gen_base;
    return slot;
}

// The event left the queue: its handle no longer names it. The slot stays
// taken while a node in the heap names it.
static void pc__s_slot_retire(pc_scheduler *s, uint32_t slot) {
    s->gens[slot] = s->gens[slot] + 1 ? s->gens[slot] + 1 : 1;
}

// No node names the slot any more: recycle it.
static void pc__s_slot_free(pc_scheduler *s, uint32_t slot) {
    s->slots[slot].seq = s->free_head;
    s->free_head = slot;
}

// >>dead  Cancelled events' nodes, left in the heap (>>state).
static int pc__s_is_dead(const pc_scheduler *s, uint32_t slot) {
    return (int)(s->dead_bits[slot / 64] >> (slot % 64) & 1);
}

static void pc__s_mark_dead(pc_scheduler *s, uint32_t slot) {
    s->dead_bits[slot / 64] |= UINT64_C(1) << (slot % 64);
    s->dead++;
}

// A dead node left the heap: its slot is free again.
static void pc__s_bury(pc_scheduler *s, uint32_t slot) {
    s->dead_bits[slot / 64] &= ~(UINT64_C(1) << (slot % 64));
    pc__s_slot_free(s, slot);
}

// Take dead nodes off the head until a live one is there (or none is left).
static void pc__s_drop_dead_heads(pc_scheduler *s) {
    while (s->dead) {
        uint32_t slot = s->heap[0].slot;
        if (!pc__s_is_dead(s, slot)) return;
        pc__s_remove_root(s);
        pc__s_bury(s, slot);
        s->dead--;
    }
}

// Drop every dead node, then make the rest a heap again (Floyd's
// bottom-up build, O(n)). The head, live and least, stays the head.
static void pc__s_compact(pc_scheduler *s) {
    pc__s_node *h = s->heap;
    uint32_t kept = 0;
    for (uint32_t i = 0; i < s->n; i++) {
        if (!pc__s_is_dead(s, h[i].slot)) h[kept++] = h[i];
        else pc__s_bury(s, h[i].slot);
    }
    s->n = kept;
    s->dead = 0;
    for (uint32_t i = kept > 1 ? (kept - 2) / 4 + 1 : 0; i-- > 0;)
        pc__s_sift_down(h, s->slots, kept, i);
}

static pc_scheduler_event pc__s_handle(const pc_scheduler *s, uint32_t slot) {
    return ((uint64_t)s->gens[slot] << 32) | slot;
}

// The slot a handle names while its event is queued, or PC__SCHED_NONE.
static uint32_t pc__s_lookup(const pc_scheduler *s, pc_scheduler_event ev) {
    uint32_t slot = (uint32_t)(ev & 0xffffffffu), gen = (uint32_t)(ev >> 32);
    if (gen == 0 || slot >= s->nslots || s->gens[slot] != gen) return PC__SCHED_NONE;
    return slot;
}

// >>wake
// A run() in the default wait announces itself on the event count `wake`
// under the lock, having looked at the head under it. enter/cancel change
// the head only under the same lock, and take every announced sleeper off
// and move the key there too (the system call comes after unlocking): the
// sleeper either has not slept yet and finds the key moved, or is asleep
// and gets woken. No wake-up is lost, and with nobody asleep enter costs
// no system call.
static int pc__s_bump(pc_scheduler *s) { return pc__evc_take(&s->wake, INT32_MAX); }

static void pc__s_wake(pc_scheduler *s) { pc__evc_wake(&s->wake, INT32_MAX); }

// The default delayfunc. Called and returns with the lock held. Every step
// of the event count runs under the lock here, so a sleep that ran to its
// deadline leaves no stale count behind (pc__evc_leave): the next enter
// makes no system call.
static void pc__s_sleep(pc_scheduler *s, double delay) {
    double deadline = delay > PC_TIMEOUT_MAX ? INFINITY : pc_monotonic() + delay;
    s->parked++;
    uint32_t key = pc__evc_prepare(&s->wake);
    pc_lock_release(&s->lock);
    pc__evc_wait(&s->wake, key, deadline);
    pc_lock_acquire(&s->lock, PC_FOREVER);
    pc__evc_leave(&s->wake, --s->parked);
}

// >>scheduler
static void pc__s_desc_defaults(pc_scheduler *s, const pc_scheduler_desc *desc) {
    s->timefunc = desc ? desc->timefunc : NULL;
    s->delayfunc = desc ? desc->delayfunc : NULL;
    s->ctx = desc ? desc->ctx : NULL;
    s->default_time = s->timefunc == NULL;
    s->default_delay = s->delayfunc == NULL;
}

static double pc__s_now(const pc_scheduler *s) {
    return s->default_time ? pc_monotonic() : s->timefunc(s->ctx);
}

PYCONC_API pc_scheduler *pc_scheduler_new(const pc_scheduler_desc *desc) {
    pc_scheduler *s = (pc_scheduler *)pc__calloc(1, sizeof *s);
    if (!s) return NULL;
    pc_lock_init(&s->lock);
    pc__s_desc_defaults(s, desc);
    s->free_head = PC__SCHED_NONE;
    // Spread schedulers' generations apart so foreign handles miss.
    uint32_t serial = __atomic_add_fetch(&pc__s_serial, 1u, __ATOMIC_RELAXED);
    s->gen_base = serial * 0x9e3779b1u;
    if (s->gen_base == 0) s->gen_base = 1;
    return s;
}

PYCONC_API void pc_scheduler_free(pc_scheduler *s) {
    if (!s) return;
    pc_lock_destroy(&s->lock);
    pc__free(s->heap_mem);
    pc__free(s->slots);
    pc__free(s->dead_bits);
    pc__free(s->gens);
    pc__free(s);
}

static int pc__s_push(pc_scheduler *s, double time, int priority, pc_target_fn action,
                      void *arg, pc_scheduler_event *out_event, int *out_new_head) {
    if (pc__s_reserve(s)) return PC_NOMEM;
    uint32_t slot = pc__s_slot_alloc(s);
    s->slots[slot].action = action;
    s->slots[slot].arg = arg;
    s->slots[slot].seq = s->seq++;
    pc__s_node node;
    node.key = pc__s_key(time);
    node.priority = priority;
    node.slot = slot;
    uint32_t i = s->n++;
    s->heap[i] = node;
    *out_new_head = pc__s_sift_up(s->heap, s->slots, i) == 0;
    if (out_event) *out_event = pc__s_handle(s, slot);
    return PC_OK;
}

PYCONC_API int pc_scheduler_enterabs(pc_scheduler *s, double time, int priority,
                                     pc_target_fn action, void *arg,
                                     pc_scheduler_event *out_event) {
    int new_head = 0, woke = 0;
    if (!s) return pc__error(PC_VALUE, "scheduler is NULL");
    if (!action) return pc__error(PC_VALUE, "action is NULL");
    if (time != time) return pc__error(PC_VALUE, "event time is NaN");
    pc_lock_acquire(&s->lock, PC_FOREVER);
    int rc = pc__s_push(s, time, priority, action, arg, out_event, &new_head);
    if (rc == PC_OK && new_head) woke = pc__s_bump(s);
    pc_lock_release(&s->lock);
    if (woke) pc__s_wake(s);
    return rc;
}

PYCONC_API int pc_scheduler_enter(pc_scheduler *s, double delay, int priority,
                                  pc_target_fn action, void *arg,
                                  pc_scheduler_event *out_event) {
    if (!s) return pc__error(PC_VALUE, "scheduler is NULL");
    if (delay != delay) return pc__error(PC_VALUE, "delay is NaN");
    double time = pc__s_now(s) + delay;
    if (time != time) return pc__error(PC_VALUE, "now + delay is NaN");
    return pc_scheduler_enterabs(s, time, priority, action, arg, out_event);
}

PYCONC_API int pc_scheduler_cancel(pc_scheduler *s, pc_scheduler_event event) {
    int woke = 0;
    if (!s) return pc__error(PC_VALUE, "scheduler is NULL");
    pc_lock_acquire(&s->lock, PC_FOREVER);
    uint32_t slot = pc__s_lookup(s, event);
    if (slot == PC__SCHED_NONE) {
        pc_lock_release(&s->lock);
        return pc__error(PC_VALUE, "event is not in the queue (already run, running, "
                                   "cancelled, or not from this scheduler)");
    }
    pc__s_slot_retire(s, slot);
    if (s->heap[0].slot == slot) {
        pc__s_remove_root(s);
        pc__s_slot_free(s, slot);
        pc__s_drop_dead_heads(s);
        woke = pc__s_bump(s);
    } else {
        pc__s_mark_dead(s, slot);
        if (s->dead > s->n - s->dead) pc__s_compact(s);
    }
    pc_lock_release(&s->lock);
    if (woke) pc__s_wake(s);
    return PC_OK;
}

PYCONC_API pc_scheduler_desc pc_scheduler_get_desc(const pc_scheduler *s) {
    pc_scheduler_desc d;
    memset(&d, 0, sizeof d);
    if (!s) {
        pc__error(PC_VALUE, "scheduler is NULL");
        return d;
    }
    d.timefunc = s->timefunc;
    d.delayfunc = s->delayfunc;
    d.ctx = s->ctx;
    return d;
}

PYCONC_API int pc_scheduler_empty(pc_scheduler *s) {
    if (!s) {
        pc__error(PC_VALUE, "scheduler is NULL");
        return 1;
    }
    pc_lock_acquire(&s->lock, PC_FOREVER);
    int empty = s->n == 0;              // the head, if any, is live
    pc_lock_release(&s->lock);
    return empty;
}

// >>run
// Call one action as Python would: a non-zero return or a pc_raise() is
// the exception run() passes on, with its message in pc_last_error().
static int pc__s_call(pc_target_fn action, void *arg) {
    char msg[256];
    pc__exception_take(NULL, 0);        // a stale raise is not this action's
    uint64_t seq = pc__error_seq();
    int rc = action(arg);
    int raised = pc__exception_take(msg, sizeof msg);
    if (rc == PC_OK) rc = raised;
    if (rc == PC_OK) return PC_OK;
    if (raised) pc__error(rc, "%s", msg);
    else if (!pc__error_since(seq, rc)) pc__error(rc, "scheduled action returned %d", rc);
    return rc;
}

// A delayfunc's failure keeps the message it recorded, never an older one.
static int pc__s_delay_failed(int rc, uint64_t seq) {
    if (!pc__error_since(seq, rc)) pc__error(rc, "delayfunc returned %d", rc);
    return rc;
}

// Pop the head into *out_slot if it is due, else say how long until it is.
// Called with the lock held. Returns 1: popped, 0: wait *out_delay, -1: empty.
// With the default clock a head at or before the last reading is due
// without reading the clock again: pc_monotonic never goes back.
static int pc__s_take_due(pc_scheduler *s, double *now, pc__s_slot *out_slot,
                          double *out_delay) {
    if (s->n == 0) return -1;
    double when = pc__s_time(s->heap[0].key);
    if (!(s->default_time && when <= *now)) *now = pc__s_now(s);
    if (when > *now) {
        *out_delay = when - *now;
        return 0;
    }
    uint32_t slot = s->heap[0].slot;
    *out_slot = s->slots[slot];
    pc__s_remove_root(s);
    pc__s_slot_retire(s, slot);
    pc__s_slot_free(s, slot);
    if (s->dead) pc__s_drop_dead_heads(s);
    // The next step reads the new head's slot: start loading it while this
    // event's action runs.
    if (s->n >= PC__SCHED_PREFETCH_FROM) pc__s_prefetch(&s->slots[s->heap[0].slot]);
    return 1;
}

PYCONC_API int pc_scheduler_run(pc_scheduler *s, int blocking, double *out_next_delay) {
    double now = -INFINITY, delay = 0;
    pc__s_slot ev;
    int rc;
    if (!s) return pc__error(PC_VALUE, "scheduler is NULL");
    // Each step: under the lock, pop a due head or learn the wait; then,
    // unlocked, run it (and delayfunc(0)), or return, or wait and retry.
    for (;;) {
        pc_lock_acquire(&s->lock, PC_FOREVER);
        int got = pc__s_take_due(s, &now, &ev, &delay);
        if (got == 0 && blocking && s->default_delay) {
            pc__s_sleep(s, delay);
            pc_lock_release(&s->lock);
            continue;
        }
        pc_lock_release(&s->lock);
        if (got == 1) {
            if ((rc = pc__s_call(ev.action, ev.arg))) return rc;
            // Python yields with delayfunc(0) here; the default one is a no-op.
            uint64_t seq = pc__error_seq();
            if (!s->default_delay && (rc = s->delayfunc(s->ctx, 0)))
                return pc__s_delay_failed(rc, seq);
            continue;
        }
        if (got < 0 || !blocking) {
            if (out_next_delay) *out_next_delay = got < 0 ? INFINITY : delay;
            return PC_OK;
        }
        uint64_t seq = pc__error_seq();
        if ((rc = s->delayfunc(s->ctx, delay))) return pc__s_delay_failed(rc, seq);
    }
}

// >>queue
static int pc__s_entry_less(const pc_scheduler_entry *a, const pc_scheduler_entry *b) {
    if (a->time != b->time) return a->time < b->time;
    if (a->priority != b->priority) return a->priority < b->priority;
    return a->sequence < b->sequence;
}

static int pc__s_entry_cmp(const void *a, const void *b) {
    const pc_scheduler_entry *x = (const pc_scheduler_entry *)a;
    const pc_scheduler_entry *y = (const pc_scheduler_entry *)b;
    return pc__s_entry_less(x, y) ? -1 : pc__s_entry_less(y, x);
}

// out[0..k) is a binary max-heap of the k earliest entries seen so far.
static void pc__s_keep_sift(pc_scheduler_entry *out, size_t k, size_t i) {
    for (;;) {
        size_t big = i, l = 2 * i + 1, r = l + 1;
        if (l < k && pc__s_entry_less(&out[big], &out[l])) big = l;
        if (r < k && pc__s_entry_less(&out[big], &out[r])) big = r;
        if (big == i) return;
        pc_scheduler_entry t = out[i];
        out[i] = out[big];
        out[big] = t;
        i = big;
    }
}

static void pc__s_entry_of(const pc_scheduler *s, uint32_t i, pc_scheduler_entry *e) {
    const pc__s_node *nd = &s->heap[i];
    e->time = pc__s_time(nd->key);
    e->priority = nd->priority;
    e->sequence = s->slots[nd->slot].seq;
    e->action = s->slots[nd->slot].action;
    e->arg = s->slots[nd->slot].arg;
    e->event = pc__s_handle(s, nd->slot);
}

// Select the cap earliest events without allocating (a bounded max-heap
// in out), then sort them: O(n log cap).
PYCONC_API size_t pc_scheduler_queue(pc_scheduler *s, pc_scheduler_entry *out, size_t cap) {
    size_t k = 0;
    if (!s) { pc__error(PC_VALUE, "scheduler is NULL"); return 0; }
    if (!out) cap = 0;
    pc_lock_acquire(&s->lock, PC_FOREVER);
    size_t n = s->n - s->dead;
    for (uint32_t i = 0; i < s->n && cap > 0; i++) {
        pc_scheduler_entry e;
        if (pc__s_is_dead(s, s->heap[i].slot)) continue;
        pc__s_entry_of(s, i, &e);
        if (k < cap) {
            size_t j = k++;
            out[j] = e;
            while (j > 0 && pc__s_entry_less(&out[(j - 1) / 2], &out[j])) {
                pc_scheduler_entry t = out[j];
                out[j] = out[(j - 1) / 2];
                out[(j - 1) / 2] = t;
                j = (j - 1) / 2;
            }
        } else if (pc__s_entry_less(&e, &out[0])) {
            out[0] = e;
            pc__s_keep_sift(out, k, 0);
        }
    }
    pc_lock_release(&s->lock);
    if (k > 1) qsort(out, k, sizeof *out, pc__s_entry_cmp);
    return n;
}

#endif // PYCONC_SCHED_IMPLEMENTATION

/* Licence: MIT or public domain, as pyconc.h (see the end of that file). */

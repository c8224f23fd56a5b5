/* Tests of pyconc_process.h part E: Queue, SimpleQueue and JoinableQueue
   across processes. Every case that involves a death runs under fork,
   spawn and forkserver: producers and consumers SIGKILLed inside put and
   get (a test hook stops them half way, with the queue's mutex held), the
   last producer killed under a blocked getter, a putter that exits at
   once. Each checks that no committed item is lost or delivered twice,
   nobody hangs, and no descriptor or zombie is left. This program is also
   the image spawned and forkserver children run. */
#define PYCONC_IMPLEMENTATION
#define PYCONC_PROCESS_IMPLEMENTATION
#include "pyconc_process.h"

#include <errno.h>
#include <signal.h>
#include <unistd.h>

#include "pc_test.h"
#include "pc_proc_test.h"

// >>helpers
static pc_mp_queue *fixed_queue(pc_mp_queue_kind kind, long maxsize, size_t item_size) {
    pc_mp_queue_desc d;
    memset(&d, 0, sizeof d);
    d.kind = kind;
    d.maxsize = maxsize;
    d.item_size = item_size;
    pc_mp_queue *q = pc_mp_queue_new(&d);
    CHECK_MSG(q != NULL, "pc_mp_queue_new: %s", pc_last_error());
    return q;
}

// A pack of a queue and ints.
static pc_args *pack(pc_mp_queue *q, int n, const int64_t *ints) {
    pc_args *a = pc_args_new();
    CHECK_OK(pc_args_add_mp_queue(a, q));
    for (int i = 0; i < n; i++) CHECK_OK(pc_args_add_int(a, ints[i]));
    return a;
}

static pc_process *start_with(pc_start_method m, pc_target_fn fn, pc_args *a) {
    pc_process *p = pct_start(m, fn, a);
    pc_args_free(a);
    return p;
}

// The queue's body, for the cases that look inside or tamper with it.
static pc__p_qbody *body_of(pc_mp_queue *q) { return (pc__p_qbody *)((pc__p_obj *)q)->body; }

// >>targets
// Pack: queue, first, n. Put first .. first+n-1 (int64 items).
static int t_put_range(void *arg) {
    pc_args *a = (pc_args *)arg;
    pc_mp_queue *q;
    int64_t first, n;
    if (pc_args_get_mp_queue(a, 0, &q) || pc_args_get_int(a, 1, &first) ||
        pc_args_get_int(a, 2, &n))
        return 10;
    for (int64_t v = first; v < first + n; v++)
        if (pc_mp_queue_put(q, &v, PC_FOREVER)) return 11;
    return 0;
}

// The hook's stop at g_stop_where: say "here" and sleep until killed.
static pc_mp_event *g_stop_event;
static int64_t g_stop_where = 0;
static void h_stop(int where) {
    if (where != g_stop_where) return;
    pc_mp_event_set(g_stop_event);
    pc_sleep(60);
}

// Pack: queue, count, event, where. Put count items (1..count) whole,
// then stop inside the next put, the mutex held: where 0 with half of it
// written, 2 just after its commit.
static int t_put_then_stop(void *arg) {
    pc_args *a = (pc_args *)arg;
    pc_mp_queue *q;
    int64_t n;
    if (pc_args_get_mp_queue(a, 0, &q) || pc_args_get_int(a, 1, &n) ||
        pc_args_get_mp_event(a, 2, &g_stop_event) || pc_args_get_int(a, 3, &g_stop_where))
        return 10;
    for (int64_t v = 1; v <= n; v++)
        if (pc_mp_queue_put(q, &v, PC_FOREVER)) return 11;
    pc__p_mpq_hook = h_stop;
    int64_t v = -1;
    pc_mp_queue_put(q, &v, PC_FOREVER);
    return 12;
}

// Pack: queue, count, event, array of seen counts. Get count items (each
// marked in seen), then stop inside the next get, the item copied out.
static int t_get_then_stop(void *arg) {
    pc_args *a = (pc_args *)arg;
    pc_mp_queue *q;
    pc_mp_array *seen;
    int64_t n, v;
    if (pc_args_get_mp_queue(a, 0, &q) || pc_args_get_int(a, 1, &n) ||
        pc_args_get_mp_event(a, 2, &g_stop_event) || pc_args_get_mp_array(a, 3, &seen))
        return 10;
    g_stop_where = 1;
    int32_t *marks = (int32_t *)pc_mp_array_get_obj(seen);
    for (int64_t i = 0; i < n; i++) {
        if (pc_mp_queue_get(q, &v, PC_FOREVER)) return 11;
        __atomic_add_fetch(&marks[v], 1, __ATOMIC_SEQ_CST);
    }
    pc__p_mpq_hook = h_stop;
    pc_mp_queue_get(q, &v, PC_FOREVER);
    return 12;
}

// Pack: queue, want. get() with no timeout on a fixed int64 queue; exit 0
// when the code is want.
static int t_get_expect(void *arg) {
    pc_args *a = (pc_args *)arg;
    pc_mp_queue *q;
    int64_t want, v;
    if (pc_args_get_mp_queue(a, 0, &q) || pc_args_get_int(a, 1, &want)) return 10;
    int rc = pc_mp_queue_get(q, &v, PC_FOREVER);
    return rc == want ? 0 : 20 + rc;
}

// Pack: queue, want. join() with no timeout; exit 0 when the code is want.
static int t_join_expect(void *arg) {
    pc_args *a = (pc_args *)arg;
    pc_mp_queue *q;
    int64_t want;
    if (pc_args_get_mp_queue(a, 0, &q) || pc_args_get_int(a, 1, &want)) return 10;
    int rc = pc_mp_queue_join(q);
    return rc == want ? 0 : 20 + rc;
}

// Pack: queue, value. Put one item and sleep until killed.
static int t_put_one_and_wait(void *arg) {
    pc_args *a = (pc_args *)arg;
    pc_mp_queue *q;
    int64_t v;
    if (pc_args_get_mp_queue(a, 0, &q) || pc_args_get_int(a, 1, &v)) return 10;
    if (pc_mp_queue_put(q, &v, PC_FOREVER)) return 11;
    pc_sleep(60);
    return 12;
}

// Pack: queue, n. Put keys n-1 .. 0 (key = value), in that order.
static int t_put_keys_down(void *arg) {
    pc_args *a = (pc_args *)arg;
    pc_mp_queue *q;
    int64_t n;
    if (pc_args_get_mp_queue(a, 0, &q) || pc_args_get_int(a, 1, &n)) return 10;
    for (int64_t k = n - 1; k >= 0; k--)
        if (pc_mp_queue_put_key(q, k % 3, &k, sizeof k, PC_FOREVER)) return 11;
    return 0;
}

// Pack: queue. Get int64 items until shutdown, task_done each.
static int t_task_worker(void *arg) {
    pc_mp_queue *q;
    int64_t v;
    if (pc_args_get_mp_queue((pc_args *)arg, 0, &q)) return 10;
    int rc;
    while ((rc = pc_mp_queue_get(q, &v, PC_FOREVER)) == PC_OK)
        if (pc_mp_queue_task_done(q)) return 11;
    return rc == PC_SHUTDOWN ? 0 : 20 + rc;
}

// Pack: queue. Put a pack (42, "hello", 2.5) as one message.
static int t_put_pack(void *arg) {
    pc_mp_queue *q;
    if (pc_args_get_mp_queue((pc_args *)arg, 0, &q)) return 10;
    pc_args *m = pc_args_new();
    pc_args_add_int(m, 42);
    pc_args_add_str(m, "hello");
    pc_args_add_double(m, 2.5);
    int rc = pc_mp_queue_put_args(q, m, PC_FOREVER);
    pc_args_free(m);
    return rc ? 11 : 0;
}

// >>stress: many producers and consumers, threads in each
enum { STRESS_THREADS = 4, STRESS_PER_THREAD = 2000 };
typedef struct stress_ctx {
    pc_mp_queue *q;
    int64_t first;
    int32_t *marks;
    int rc;
} stress_ctx;

static int th_stress_put(void *arg) {
    stress_ctx *c = (stress_ctx *)arg;
    for (int64_t v = c->first; v < c->first + STRESS_PER_THREAD; v++)
        if (pc_mp_queue_put(c->q, &v, PC_FOREVER)) { c->rc = 1; return 0; }
    return 0;
}

static int th_stress_get(void *arg) {
    stress_ctx *c = (stress_ctx *)arg;
    int64_t v;
    int rc;
    while ((rc = pc_mp_queue_get(c->q, &v, PC_FOREVER)) == PC_OK)
        __atomic_add_fetch(&c->marks[v], 1, __ATOMIC_SEQ_CST);
    c->rc = rc == PC_SHUTDOWN ? 0 : 2;
    return 0;
}

static int run_threads(pc_target_fn fn, stress_ctx *ctx) {
    pc_thread *t[STRESS_THREADS];
    for (int i = 0; i < STRESS_THREADS; i++) {
        pc_thread_desc d;
        memset(&d, 0, sizeof d);
        d.target = fn;
        d.arg = &ctx[i];
        t[i] = pc_thread_new(&d);
        if (!t[i] || pc_thread_start(t[i])) return 1;
    }
    int bad = 0;
    for (int i = 0; i < STRESS_THREADS; i++) {
        pc_thread_join(t[i], PC_FOREVER);
        pc_thread_free(t[i]);
        bad |= ctx[i].rc;
    }
    return bad;
}

// Pack: queue, array of marks, producer (1) or consumer (0), index.
static int t_stress(void *arg) {
    pc_args *a = (pc_args *)arg;
    pc_mp_queue *q;
    pc_mp_array *arr;
    int64_t producer, index;
    if (pc_args_get_mp_queue(a, 0, &q) || pc_args_get_mp_array(a, 1, &arr) ||
        pc_args_get_int(a, 2, &producer) || pc_args_get_int(a, 3, &index))
        return 10;
    stress_ctx ctx[STRESS_THREADS];
    for (int i = 0; i < STRESS_THREADS; i++) {
        ctx[i].q = q;
        ctx[i].marks = (int32_t *)pc_mp_array_get_obj(arr);
        ctx[i].first = (index * STRESS_THREADS + i) * STRESS_PER_THREAD;
        ctx[i].rc = 0;
    }
    return run_threads(producer ? th_stress_put : th_stress_get, ctx) ? 11 : 0;
}

static pc_mp_array *marks_new(size_t n) {
    pc_mp_array_desc d;
    memset(&d, 0, sizeof d);
    d.typecode = "i";
    d.length = n;
    d.raw = 1;
    pc_mp_array *arr = pc_mp_array_new(&d);
    CHECK(arr != NULL);
    return arr;
}

// >>cases: one process
TEST(basics_fixed) {
    pc_mp_queue *q = fixed_queue(PC_MP_QUEUE_FIFO, 3, sizeof(int64_t));
    CHECK_EQ(pc_mp_queue_maxsize(q), 3);
    CHECK_EQ(pc_mp_queue_capacity(q), 3);
    CHECK_EQ(pc_mp_queue_item_size(q), sizeof(int64_t));
    CHECK_EQ(pc_mp_queue_max_message(q), 0);
    CHECK(pc_mp_queue_empty(q));
    int64_t v = 0;
    CHECK_RC(pc_mp_queue_get_nowait(q, &v), PC_EMPTY);
    CHECK_RC(pc_mp_queue_get(q, &v, 0.02), PC_EMPTY);
    for (int64_t i = 1; i <= 3; i++) CHECK_OK(pc_mp_queue_put(q, &i, PC_FOREVER));
    CHECK(pc_mp_queue_full(q));
    CHECK_EQ(pc_mp_queue_qsize(q), 3);
    CHECK_RC(pc_mp_queue_put_nowait(q, &v), PC_FULL);
    CHECK_RC(pc_mp_queue_put(q, &v, 0.02), PC_FULL);
    for (int64_t i = 1; i <= 3; i++) {
        CHECK_OK(pc_mp_queue_get(q, &v, PC_FOREVER));
        CHECK_EQ(v, i);
    }
    // Round the ring many times.
    for (int64_t i = 0; i < 1000; i++) {
        CHECK_OK(pc_mp_queue_put_nowait(q, &i));
        CHECK_OK(pc_mp_queue_get_nowait(q, &v));
        CHECK_EQ(v, i);
    }
    // Not joinable: task_done and join are PC_RUNTIME, as Python's Queue lacks them.
    CHECK_RC(pc_mp_queue_task_done(q), PC_RUNTIME);
    CHECK_RC(pc_mp_queue_join(q), PC_RUNTIME);
    // close: this handle puts no more; gets go on; join_thread returns.
    CHECK_RC(pc_mp_queue_join_thread(q), PC_RUNTIME);
    CHECK_OK(pc_mp_queue_put(q, &v, 0));
    CHECK_OK(pc_mp_queue_close(q));
    CHECK_OK(pc_mp_queue_close(q));
    CHECK_RC(pc_mp_queue_put(q, &v, 0), PC_VALUE);
    CHECK(strstr(pc_last_error(), "closed") != NULL);
    CHECK_OK(pc_mp_queue_get(q, &v, 0));
    CHECK_OK(pc_mp_queue_join_thread(q));
    CHECK_OK(pc_mp_queue_cancel_join_thread(q));
    pc_mp_queue_free(q);
}

TEST(basics_messages_and_packs) {
    pc_mp_queue *q = pc_mp_queue_new(NULL);            // Python's Queue(): messages
    CHECK(q != NULL);
    CHECK_EQ(pc_mp_queue_max_message(q), PC_MP_QUEUE_DEFAULT_MESSAGE);
    CHECK(pc_mp_queue_capacity(q) >= 2 && pc_mp_queue_capacity(q) <= 1024);
    CHECK_EQ(pc_mp_queue_maxsize(q), 0);
    char buf[64];
    size_t n = 0;
    CHECK_OK(pc_mp_queue_put_bytes(q, "hello", 5, PC_FOREVER));
    CHECK_OK(pc_mp_queue_put_bytes(q, NULL, 0, PC_FOREVER));
    CHECK_RC(pc_mp_queue_get_bytes(q, buf, 3, &n, 0), PC_VALUE);    // too short: kept
    CHECK_OK(pc_mp_queue_get_bytes(q, buf, sizeof buf, &n, 0));
    CHECK_EQ(n, 5);
    CHECK(memcmp(buf, "hello", 5) == 0);
    CHECK_OK(pc_mp_queue_get_bytes(q, buf, sizeof buf, &n, 0));
    CHECK_EQ(n, 0);
    int64_t v = 1;
    CHECK_RC(pc_mp_queue_put(q, &v, 0), PC_VALUE);     // fixed form on messages
    CHECK_RC(pc_mp_queue_get(q, &v, 0), PC_VALUE);
    // A pack: ints, strings, doubles, bytes.
    pc_args *m = pc_args_new();
    pc_args_add_int(m, 42);
    pc_args_add_str(m, "hello");
    pc_args_add_bytes(m, "\0\1", 2);
    CHECK_OK(pc_mp_queue_put_args(q, m, PC_FOREVER));
    pc_args *got = NULL;
    CHECK_OK(pc_mp_queue_get_args(q, &got, 0));
    int64_t i = 0;
    const char *s = NULL;
    CHECK_EQ(pc_args_len(got), 3);
    CHECK_OK(pc_args_get_int(got, 0, &i));
    CHECK_EQ(i, 42);
    CHECK_OK(pc_args_get_str(got, 1, &s));
    CHECK(strcmp(s, "hello") == 0);
    pc_args_free(got);
    // A pack with a shared object goes through whole (its descriptor on
    // the queue's socket).
    pc_mp_lock *l = pc_mp_lock_new();
    pc_args_add_mp_lock(m, l);
    CHECK_OK(pc_mp_queue_put_args(q, m, 0));
    CHECK_OK(pc_mp_queue_get_args(q, &got, 0));
    pc_mp_lock *l2 = NULL;
    CHECK_OK(pc_args_get_mp_lock(got, 3, &l2));
    CHECK_OK(pc_mp_lock_acquire(l2, 0));
    CHECK_RC(pc_mp_lock_acquire(l, 0), PC_TIMEOUT);     // the same lock
    CHECK_OK(pc_mp_lock_release(l2));
    pc_args_free(got);
    CHECK(pc_mp_queue_empty(q));
    // A message that is not a pack: PC_VALUE, consumed.
    CHECK_OK(pc_mp_queue_put_bytes(q, "junk", 4, 0));
    CHECK_RC(pc_mp_queue_get_args(q, &got, 0), PC_VALUE);
    CHECK(pc_mp_queue_empty(q));
    pc_args_free(m);
    pc_mp_lock_free(l);
    pc_mp_queue_free(q);
}

TEST(shutdown_rules) {
    for (int immediate = 0; immediate < 2; immediate++) {
        pc_mp_queue_desc d;
        memset(&d, 0, sizeof d);
        d.item_size = sizeof(int64_t);
        d.joinable = 1;
        pc_mp_queue *q = pc_mp_queue_new(&d);
        int64_t v = 7;
        CHECK_OK(pc_mp_queue_put(q, &v, 0));
        CHECK_OK(pc_mp_queue_put(q, &v, 0));
        CHECK_OK(pc_mp_queue_get(q, &v, 0));            // got, never done
        CHECK(!pc_mp_queue_is_shutdown(q));
        CHECK_OK(pc_mp_queue_shutdown(q, immediate));
        CHECK(pc_mp_queue_is_shutdown(q));
        CHECK_RC(pc_mp_queue_put(q, &v, PC_FOREVER), PC_SHUTDOWN);
        if (!immediate) {
            CHECK_OK(pc_mp_queue_get(q, &v, PC_FOREVER));  // drained first
            CHECK_RC(pc_mp_queue_join_timeout(q, 0.02), PC_TIMEOUT);
            CHECK_OK(pc_mp_queue_shutdown(q, 1));           // upgraded
        }
        CHECK_RC(pc_mp_queue_get(q, &v, PC_FOREVER), PC_SHUTDOWN);
        CHECK_EQ(pc_mp_queue_qsize(q), 0);
        // Released at once: one got item is still not done.
        CHECK_RC(pc_mp_queue_join(q), PC_SHUTDOWN);
        CHECK_OK(pc_mp_queue_task_done(q));
        if (!immediate) CHECK_OK(pc_mp_queue_task_done(q));
        CHECK_OK(pc_mp_queue_join(q));
        CHECK_RC(pc_mp_queue_task_done(q), PC_VALUE);
        pc_mp_queue_free(q);
    }
}

TEST(bad_input) {
    pc_mp_queue_desc d;
    memset(&d, 0, sizeof d);
    d.item_size = 8;
    d.max_message = 8;
    CHECK(pc_mp_queue_new(&d) == NULL);
    CHECK_EQ(pc_last_error_code(), PC_VALUE);
    memset(&d, 0, sizeof d);
    d.maxsize = LONG_MAX;
    CHECK(pc_mp_queue_new(&d) == NULL);
    CHECK(strstr(pc_last_error(), "maxsize") != NULL);
    d.maxsize = 1 << 24;
    d.max_message = (size_t)1 << 20;                   // 16 TiB of ring
    CHECK(pc_mp_queue_new(&d) == NULL);
    memset(&d, 0, sizeof d);
    d.item_size = ((size_t)1 << 30) + 1;
    CHECK(pc_mp_queue_new(&d) == NULL);
    memset(&d, 0, sizeof d);
    d.simple = 1;
    d.maxsize = 4;
    CHECK(pc_mp_queue_new(&d) == NULL);
    memset(&d, 0, sizeof d);
    d.kind = (pc_mp_queue_kind)7;
    CHECK(pc_mp_queue_new(&d) == NULL);
    // NULL everywhere.
    int64_t v = 0;
    size_t n;
    CHECK_RC(pc_mp_queue_put(NULL, &v, 0), PC_VALUE);
    CHECK_RC(pc_mp_queue_get(NULL, &v, 0), PC_VALUE);
    CHECK_RC(pc_mp_queue_put_bytes(NULL, &v, 8, 0), PC_VALUE);
    CHECK_RC(pc_mp_queue_get_bytes(NULL, &v, 8, &n, 0), PC_VALUE);
    CHECK_RC(pc_mp_queue_task_done(NULL), PC_VALUE);
    CHECK_RC(pc_mp_queue_shutdown(NULL, 0), PC_VALUE);
    CHECK_RC(pc_mp_queue_close(NULL), PC_VALUE);
    CHECK_EQ(pc_mp_queue_qsize(NULL), 0);
    pc_mp_queue_free(NULL);
    // Another object cast to a queue.
    pc_mp_lock *l = pc_mp_lock_new();
    CHECK_RC(pc_mp_queue_put((pc_mp_queue *)(void *)l, &v, 0), PC_VALUE);
    pc_mp_lock_free(l);
    // Wrong item size, NULL item, NaN timeout, a message over max_message.
    pc_mp_queue *q = fixed_queue(PC_MP_QUEUE_FIFO, 0, 8);
    CHECK_EQ(pc_mp_queue_capacity(q), PC_MP_QUEUE_DEFAULT_CAPACITY);
    CHECK_RC(pc_mp_queue_put_bytes(q, &v, 4, 0), PC_VALUE);
    CHECK(strstr(pc_last_error(), "8-byte") != NULL);
    CHECK_RC(pc_mp_queue_put(q, NULL, 0), PC_VALUE);
    CHECK_RC(pc_mp_queue_put(q, &v, 0.0 / 0.0), PC_VALUE);
    CHECK_RC(pc_mp_queue_put_args(q, NULL, 0), PC_VALUE);
    // A corrupted header: every operation refuses it, none crashes.
    CHECK_OK(pc_mp_queue_put(q, &v, 0));
    pc__p_qbody *b = body_of(q);
    uint64_t saved = b->c.count;
    b->c.count = b->cap + 5;
    CHECK_RC(pc_mp_queue_get(q, &v, 0), PC_VALUE);
    CHECK(strstr(pc_last_error(), "corrupted") != NULL);
    CHECK_RC(pc_mp_queue_put(q, &v, 0), PC_VALUE);
    CHECK_RC(pc_mp_queue_shutdown(q, 1), PC_VALUE);
    b->c.count = saved;
    uint64_t cap = b->cap;
    b->cap = (uint64_t)1 << 40;
    CHECK_RC(pc_mp_queue_get(q, &v, 0), PC_VALUE);
    b->cap = cap;
    CHECK_OK(pc_mp_queue_get(q, &v, 0));
    pc_mp_queue_free(q);
    memset(&d, 0, sizeof d);
    d.max_message = 16;
    q = pc_mp_queue_new(&d);
    char big[17] = {0};
    CHECK_RC(pc_mp_queue_put_bytes(q, big, 17, 0), PC_VALUE);
    CHECK(strstr(pc_last_error(), "not streamed") != NULL);
    CHECK_OK(pc_mp_queue_put_bytes(q, big, 16, 0));
    pc_mp_queue_free(q);
}

TEST(lifo_priority_local) {
    pc_mp_queue *q = fixed_queue(PC_MP_QUEUE_LIFO, 4, sizeof(int64_t));
    for (int64_t i = 0; i < 4; i++) CHECK_OK(pc_mp_queue_put(q, &i, 0));
    for (int64_t i = 3, v; i >= 0; i--) {
        CHECK_OK(pc_mp_queue_get(q, &v, 0));
        CHECK_EQ(v, i);
    }
    pc_mp_queue_free(q);
    q = fixed_queue(PC_MP_QUEUE_PRIORITY, 400, sizeof(int64_t));
    // Keys 0..4 each five times, put in a scrambled order: out by key,
    // and by put order among equal keys.
    for (int64_t i = 0; i < 25; i++) {
        int64_t v = (i * 7) % 25;
        CHECK_OK(pc_mp_queue_put_key(q, v % 5, &v, sizeof v, 0));
    }
    int64_t last_key = -1, last_v = -1;
    for (int i = 0; i < 25; i++) {
        int64_t key, v;
        size_t n;
        CHECK_OK(pc_mp_queue_get_key(q, &key, &v, sizeof v, &n, 0));
        CHECK_EQ(key, v % 5);
        CHECK(key >= last_key);
        if (key == last_key) {
            // put order of v: the i with (i*7)%25 == v
            int64_t pi = 0, pl = 0;
            for (int64_t j = 0; j < 25; j++) {
                if ((j * 7) % 25 == v) pi = j;
                if ((j * 7) % 25 == last_v) pl = j;
            }
            CHECK(pi > pl);
        }
        last_key = key;
        last_v = v;
    }
    // Interleaved puts and gets keep the heap right.
    for (int64_t r = 0; r < 500; r++) {
        int64_t v = (r * 37) % 101;
        CHECK_OK(pc_mp_queue_put_key(q, v, &v, 8, 0));
        if (r % 3 == 2) CHECK_OK(pc_mp_queue_get(q, &v, 0));
    }
    int64_t prev = INT64_MIN;
    while (!pc_mp_queue_empty(q)) {
        int64_t v;
        CHECK_OK(pc_mp_queue_get(q, &v, 0));
        CHECK(v >= prev);
        prev = v;
    }
    pc_mp_queue_free(q);
}

// >>cases: across processes
// 4 producer and 4 consumer processes of 4 threads each: every item
// arrives exactly once.
static void body_many(pc_start_method m, pc_mp_queue_kind kind) {
    pct_leak k = pct_leak_begin(m);
    enum { PROCS = 4 };
    size_t total = (size_t)PROCS * STRESS_THREADS * STRESS_PER_THREAD;
    pc_mp_queue *q = fixed_queue(kind, 64, sizeof(int64_t));
    pc_mp_array *arr = marks_new(total);
    pc_process *prod[PROCS], *cons[PROCS];
    for (int i = 0; i < PROCS; i++) {
        for (int producer = 0; producer < 2; producer++) {
            pc_args *a = pc_args_new();
            pc_args_add_mp_queue(a, q);
            pc_args_add_mp_array(a, arr);
            pc_args_add_int(a, producer);
            pc_args_add_int(a, i);
            (producer ? prod : cons)[i] = start_with(m, t_stress, a);
        }
    }
    for (int i = 0; i < PROCS; i++) CHECK_EQ(pct_finish(prod[i]), 0);
    CHECK_OK(pc_mp_queue_shutdown(q, 0));
    for (int i = 0; i < PROCS; i++) CHECK_EQ(pct_finish(cons[i]), 0);
    const int32_t *marks = (const int32_t *)pc_mp_array_get_obj(arr);
    size_t got = 0;
    for (size_t i = 0; i < total; i++) {
        CHECK_MSG(marks[i] == 1, "item %zu arrived %d times", i, marks[i]);
        got++;
    }
    CHECK_EQ(got, total);
    pc_mp_array_free(arr);
    pc_mp_queue_free(q);
    pct_leak_end(k);
}
TEST(many_fifo_fork) { body_many(PC_START_FORK, PC_MP_QUEUE_FIFO); }
TEST(many_fifo_spawn) { body_many(PC_START_SPAWN, PC_MP_QUEUE_FIFO); }
TEST(many_fifo_forkserver) { body_many(PC_START_FORKSERVER, PC_MP_QUEUE_FIFO); }
TEST(many_priority_fork) { body_many(PC_START_FORK, PC_MP_QUEUE_PRIORITY); }
TEST(many_lifo_fork) { body_many(PC_START_FORK, PC_MP_QUEUE_LIFO); }

// A child puts and exits at once: its items are delivered; its clean exit
// breaks nobody (a later get times out, it is not PC_BROKEN). A child that
// put more than a pipe holds is joined before anyone reads (no join
// deadlock: Python's documented one).
static void body_putter_exits(pc_start_method m) {
    pct_leak k = pct_leak_begin(m);
    pc_mp_queue *q = fixed_queue(PC_MP_QUEUE_FIFO, 0, sizeof(int64_t));
    int64_t args[2] = {100, 1000};
    CHECK_EQ(pct_finish(start_with(m, t_put_range, pack(q, 2, args))), 0);
    CHECK_EQ(pc_mp_queue_qsize(q), 1000);
    for (int64_t i = 100, v; i < 1100; i++) {
        CHECK_OK(pc_mp_queue_get(q, &v, 0));
        CHECK_EQ(v, i);
    }
    int64_t v;
    CHECK_RC(pc_mp_queue_get(q, &v, 0.1), PC_EMPTY);
    CHECK(strstr(pc_last_error(), "died") == NULL);
    pc_mp_queue_free(q);
    pct_leak_end(k);
}
TEST(putter_exits_fork) { body_putter_exits(PC_START_FORK); }
TEST(putter_exits_spawn) { body_putter_exits(PC_START_SPAWN); }
TEST(putter_exits_forkserver) { body_putter_exits(PC_START_FORKSERVER); }

// A producer is SIGKILLed inside put, the mutex held: half its item
// written (rounds 0, 2), or just after its commit (round 1). The next get
// goes on promptly and delivers exactly the committed items (the half one
// is not there, the committed one is), and the queue works on.
static void body_producer_killed(pc_start_method m) {
    pct_leak k = pct_leak_begin(m);
    for (int round = 0; round < 3; round++) {
        int64_t where = round == 1 ? 2 : 0;
        pc_mp_queue *q = fixed_queue(PC_MP_QUEUE_FIFO, 16, sizeof(int64_t));
        pc_mp_event *stopped = pc_mp_event_new();
        int64_t n = 5;
        pc_args *a = pack(q, 1, &n);
        pc_args_add_mp_event(a, stopped);
        pc_args_add_int(a, where);
        pc_process *p = start_with(m, t_put_then_stop, a);
        CHECK_OK(pc_mp_event_wait(stopped, 10));
        int64_t v;
        CHECK_RC(pc_mp_queue_get(q, &v, 0.05), PC_EMPTY);   // held by the stopped putter
        pct_kill_and_reap(p);
        double t0 = pc_monotonic();
        CHECK_OK(pc_mp_queue_get(q, &v, 5));
        double took = pc_monotonic() - t0;
        CHECK_MSG(took < 1.0, "the first get after the kill took %.3f s", took);
        CHECK_EQ(v, 1);
        for (int64_t i = 2; i <= n; i++) {
            CHECK_OK(pc_mp_queue_get(q, &v, 0));
            CHECK_EQ(v, i);
        }
        if (where == 2) {                                   // committed: delivered
            CHECK_OK(pc_mp_queue_get_nowait(q, &v));
            CHECK_EQ(v, -1);
        }
        CHECK_RC(pc_mp_queue_get_nowait(q, &v), PC_EMPTY);  // the half item is not there
        for (int64_t i = 0; i < 40; i++) {
            CHECK_OK(pc_mp_queue_put(q, &i, 0));
            CHECK_OK(pc_mp_queue_get(q, &v, 0));
            CHECK_EQ(v, i);
        }
        pc_mp_event_free(stopped);
        pc_mp_queue_free(q);
    }
    pct_leak_end(k);
}
TEST(producer_killed_in_put_fork) { body_producer_killed(PC_START_FORK); }
TEST(producer_killed_in_put_spawn) { body_producer_killed(PC_START_SPAWN); }
TEST(producer_killed_in_put_forkserver) { body_producer_killed(PC_START_FORKSERVER); }

// A consumer is SIGKILLed inside get, its item copied out but not taken:
// every item is delivered exactly once between it and us.
static void body_consumer_killed(pc_start_method m) {
    pct_leak k = pct_leak_begin(m);
    for (int kind = 0; kind < 3; kind++) {
        enum { N = 50 };
        pc_mp_queue *q = fixed_queue((pc_mp_queue_kind)kind, N, sizeof(int64_t));
        for (int64_t i = 0; i < N; i++) CHECK_OK(pc_mp_queue_put_key(q, i, &i, 8, 0));
        pc_mp_event *stopped = pc_mp_event_new();
        pc_mp_array *arr = marks_new(N);
        int64_t n = 10;
        pc_args *a = pack(q, 1, &n);
        pc_args_add_mp_event(a, stopped);
        pc_args_add_mp_array(a, arr);
        pc_process *p = start_with(m, t_get_then_stop, a);
        CHECK_OK(pc_mp_event_wait(stopped, 10));
        pct_kill_and_reap(p);
        int32_t *marks = (int32_t *)pc_mp_array_get_obj(arr);
        int64_t v;
        while (pc_mp_queue_get(q, &v, 0) == PC_OK) marks[v]++;
        for (int i = 0; i < N; i++) CHECK_MSG(marks[i] == 1, "item %d: %d times", i, marks[i]);
        pc_mp_array_free(arr);
        pc_mp_event_free(stopped);
        pc_mp_queue_free(q);
    }
    pct_leak_end(k);
}
TEST(consumer_killed_in_get_fork) { body_consumer_killed(PC_START_FORK); }
TEST(consumer_killed_in_get_spawn) { body_consumer_killed(PC_START_SPAWN); }
TEST(consumer_killed_in_get_forkserver) { body_consumer_killed(PC_START_FORKSERVER); }

// The last producer dies while getters wait with no timeout: a getter in
// another process and this one are told PC_BROKEN.
static void body_last_producer_dies(pc_start_method m) {
    pct_leak k = pct_leak_begin(m);
    pc_mp_queue *q = fixed_queue(PC_MP_QUEUE_FIFO, 8, sizeof(int64_t));
    int64_t v = 9;
    pc_process *prod = start_with(m, t_put_one_and_wait, pack(q, 1, &v));
    CHECK_OK(pc_mp_queue_get(q, &v, 10));
    CHECK_EQ(v, 9);
    int64_t want = PC_BROKEN;
    pc_process *getter = start_with(m, t_get_expect, pack(q, 1, &want));
    CHECK_RC(pc_mp_queue_get(q, &v, 0.05), PC_EMPTY);   // alive: nothing broken yet
    pct_kill_and_reap(prod);
    double t0 = pc_monotonic();
    CHECK_RC(pc_mp_queue_get(q, &v, PC_FOREVER), PC_BROKEN);
    double took = pc_monotonic() - t0;
    CHECK_MSG(took < 2.0, "PC_BROKEN took %.3f s", took);
    CHECK(strstr(pc_last_error(), "died") != NULL);
    CHECK_EQ(pct_finish(getter), 0);
    // A put makes it a queue again.
    CHECK_OK(pc_mp_queue_put(q, &v, 0));
    CHECK_OK(pc_mp_queue_get(q, &v, PC_FOREVER));
    pc_mp_queue_free(q);
    pct_leak_end(k);
}
TEST(last_producer_dies_fork) { body_last_producer_dies(PC_START_FORK); }
TEST(last_producer_dies_spawn) { body_last_producer_dies(PC_START_SPAWN); }
TEST(last_producer_dies_forkserver) { body_last_producer_dies(PC_START_FORKSERVER); }

// shutdown across processes: a getter blocked in another process on the
// empty queue wakes with PC_SHUTDOWN.
static void body_shutdown_across(pc_start_method m) {
    pct_leak k = pct_leak_begin(m);
    pc_mp_queue *q = fixed_queue(PC_MP_QUEUE_FIFO, 4, sizeof(int64_t));
    int64_t want = PC_SHUTDOWN, v = 1;
    pc_process *getter = start_with(m, t_get_expect, pack(q, 1, &want));
    CHECK_RC(pc_process_join(getter, 0.1), PC_TIMEOUT);     // blocked
    CHECK_OK(pc_mp_queue_shutdown(q, 0));
    CHECK_EQ(pct_finish(getter), 0);
    CHECK_RC(pc_mp_queue_put(q, &v, 0), PC_SHUTDOWN);
    pc_mp_queue_free(q);
    pct_leak_end(k);
}
TEST(shutdown_across_fork) { body_shutdown_across(PC_START_FORK); }
TEST(shutdown_across_spawn) { body_shutdown_across(PC_START_SPAWN); }
TEST(shutdown_across_forkserver) { body_shutdown_across(PC_START_FORKSERVER); }

// Immediate shutdown drops the items left and releases a joiner blocked in
// another process (PC_SHUTDOWN: dropped items count as done, but one got
// item never was).
static void body_immediate_releases_join(pc_start_method m) {
    pct_leak k = pct_leak_begin(m);
    pc_mp_queue_desc d;
    memset(&d, 0, sizeof d);
    d.item_size = sizeof(int64_t);
    d.joinable = 1;
    pc_mp_queue *q = pc_mp_queue_new(&d);
    for (int64_t i = 0; i < 5; i++) CHECK_OK(pc_mp_queue_put(q, &i, 0));
    int64_t v, want = PC_SHUTDOWN;
    CHECK_OK(pc_mp_queue_get(q, &v, 0));
    pc_process *joiner = start_with(m, t_join_expect, pack(q, 1, &want));
    CHECK_RC(pc_process_join(joiner, 0.1), PC_TIMEOUT);
    CHECK_OK(pc_mp_queue_shutdown(q, 1));
    CHECK_EQ(pct_finish(joiner), 0);
    CHECK_EQ(pc_mp_queue_qsize(q), 0);
    CHECK_RC(pc_mp_queue_get(q, &v, PC_FOREVER), PC_SHUTDOWN);
    pc_mp_queue_free(q);
    pct_leak_end(k);
}
TEST(immediate_releases_join_fork) { body_immediate_releases_join(PC_START_FORK); }
TEST(immediate_releases_join_spawn) { body_immediate_releases_join(PC_START_SPAWN); }
TEST(immediate_releases_join_forkserver) { body_immediate_releases_join(PC_START_FORKSERVER); }

// LIFO and PRIORITY order hold across processes.
static void body_order(pc_start_method m) {
    pct_leak k = pct_leak_begin(m);
    enum { N = 30 };
    pc_mp_queue *q = fixed_queue(PC_MP_QUEUE_LIFO, N, sizeof(int64_t));
    int64_t args[2] = {0, N};
    CHECK_EQ(pct_finish(start_with(m, t_put_range, pack(q, 2, args))), 0);
    for (int64_t i = N - 1, v; i >= 0; i--) {
        CHECK_OK(pc_mp_queue_get(q, &v, 0));
        CHECK_EQ(v, i);
    }
    pc_mp_queue_free(q);
    q = fixed_queue(PC_MP_QUEUE_PRIORITY, N, sizeof(int64_t));
    int64_t n = N;
    CHECK_EQ(pct_finish(start_with(m, t_put_keys_down, pack(q, 1, &n))), 0);
    // Keys k % 3, put N-1 .. 0: key 0 first, and within a key the order of
    // the puts (descending values).
    int64_t key, v, last_key = -1, last_v = 0;
    for (int i = 0; i < N; i++) {
        size_t sz;
        CHECK_OK(pc_mp_queue_get_key(q, &key, &v, sizeof v, &sz, 0));
        CHECK_EQ(key, v % 3);
        CHECK(key >= last_key);
        if (key == last_key) CHECK(v < last_v);
        last_key = key;
        last_v = v;
    }
    pc_mp_queue_free(q);
    pct_leak_end(k);
}
TEST(order_fork) { body_order(PC_START_FORK); }
TEST(order_spawn) { body_order(PC_START_SPAWN); }
TEST(order_forkserver) { body_order(PC_START_FORKSERVER); }

// JoinableQueue: consumer processes task_done every item; join returns in
// the parent; one task_done too many is PC_VALUE.
static void body_joinable(pc_start_method m) {
    pct_leak k = pct_leak_begin(m);
    pc_mp_queue_desc d;
    memset(&d, 0, sizeof d);
    d.item_size = sizeof(int64_t);
    d.joinable = 1;
    d.maxsize = 8;
    pc_mp_queue *q = pc_mp_queue_new(&d);
    pc_process *w[2];
    for (int i = 0; i < 2; i++) w[i] = start_with(m, t_task_worker, pack(q, 0, NULL));
    for (int64_t i = 0; i < 200; i++) CHECK_OK(pc_mp_queue_put(q, &i, PC_FOREVER));
    CHECK_OK(pc_mp_queue_join(q));
    CHECK_EQ(pc_mp_queue_qsize(q), 0);
    CHECK_RC(pc_mp_queue_task_done(q), PC_VALUE);
    CHECK(strstr(pc_last_error(), "too many") != NULL);
    CHECK_OK(pc_mp_queue_shutdown(q, 0));
    for (int i = 0; i < 2; i++) CHECK_EQ(pct_finish(w[i]), 0);
    pc_mp_queue_free(q);
    pct_leak_end(k);
}
TEST(joinable_fork) { body_joinable(PC_START_FORK); }
TEST(joinable_spawn) { body_joinable(PC_START_SPAWN); }
TEST(joinable_forkserver) { body_joinable(PC_START_FORKSERVER); }

// A pack put by a child comes out whole in the parent.
static void body_pack_across(pc_start_method m) {
    pct_leak k = pct_leak_begin(m);
    pc_mp_queue *q = pc_mp_queue_new(NULL);
    CHECK_EQ(pct_finish(start_with(m, t_put_pack, pack(q, 0, NULL))), 0);
    pc_args *got = NULL;
    CHECK_OK(pc_mp_queue_get_args(q, &got, 5));
    int64_t i;
    const char *s;
    double x;
    CHECK_OK(pc_args_get_int(got, 0, &i));
    CHECK_OK(pc_args_get_str(got, 1, &s));
    CHECK_OK(pc_args_get_double(got, 2, &x));
    CHECK(i == 42 && strcmp(s, "hello") == 0 && x == 2.5);
    pc_args_free(got);
    pc_mp_queue_free(q);
    pct_leak_end(k);
}
TEST(pack_across_fork) { body_pack_across(PC_START_FORK); }
TEST(pack_across_spawn) { body_pack_across(PC_START_SPAWN); }
TEST(pack_across_forkserver) { body_pack_across(PC_START_FORKSERVER); }

// A queue crosses a connection in a pack, and a tampered one is refused.
TEST(queue_over_connection) {
    pct_leak k = pct_leak_begin(PC_START_FORK);
    pc_connection *x, *y;
    CHECK_OK(pc_pipe(1, &x, &y));
    pc_mp_queue *q = fixed_queue(PC_MP_QUEUE_FIFO, 4, 8);
    pc_args *a = pack(q, 0, NULL);
    CHECK_OK(pc_connection_send_args(x, a));
    pc_args *got = NULL;
    CHECK_OK(pc_connection_recv_args(y, &got));
    pc_mp_queue *q2;
    CHECK_OK(pc_args_get_mp_queue(got, 0, &q2));
    CHECK_EQ(pc_args_type(got, 0), PC_ARG_MP_QUEUE);
    int64_t v = 5;
    CHECK_OK(pc_mp_queue_put(q2, &v, 0));
    v = 0;
    CHECK_OK(pc_mp_queue_get(q, &v, 0));
    CHECK_EQ(v, 5);
    pc_args_free(got);
    pc_args_free(a);
    pc_mp_queue_free(q);
    pc_connection_free(x);
    pc_connection_free(y);
    pct_leak_end(k);
}

// >>descriptors: packs holding connections and shared objects
// A pipe whose write end carries tag (one 8-byte message, then nothing):
// *r reads it back.
static pc_connection *tagged_pipe(int64_t tag, pc_connection **out_w) {
    pc_connection *r, *w;
    CHECK_OK(pc_pipe(0, &r, &w));
    CHECK_OK(pc_connection_send_bytes(w, &tag, 0, sizeof tag));
    if (out_w) *out_w = w;
    else pc_connection_free(w);
    return r;
}

// The tag a connection from a pack reads, then its end of file; -1 when
// it reads anything else.
static int64_t read_tag(pc_connection *c) {
    int64_t tag = -1;
    size_t n = 0;
    if (pc_connection_recv_bytes_into(c, &tag, sizeof tag, 0, &n) || n != sizeof tag) return -1;
    void *more = NULL;
    if (pc_connection_recv_bytes(c, 0, &more, &n) != PC_EOF) {
        pc_connection_bytes_free(more);
        return -1;
    }
    return tag;
}

// Put a pack (tag, the read end of a pipe that says tag, marks).
static int put_tagged(pc_mp_queue *q, int64_t tag, pc_mp_array *marks) {
    pc_connection *r = tagged_pipe(tag, NULL);
    pc_args *m = pc_args_new();
    pc_args_add_int(m, tag);
    pc_args_add_connection(m, r);
    if (marks) pc_args_add_mp_array(m, marks);
    int rc = pc_mp_queue_put_args(q, m, PC_FOREVER);
    pc_args_free(m);
    pc_connection_free(r);
    return rc;
}

// Check a pack put by put_tagged: its connection says its tag; mark it in
// the array it carries. Returns 0, or a code saying what was wrong.
static int check_tagged(pc_args *m) {
    int64_t tag;
    pc_connection *c = NULL;
    pc_mp_array *marks = NULL;
    if (pc_args_get_int(m, 0, &tag) || pc_args_get_connection(m, 1, &c)) return 1;
    if (read_tag(c) != tag) return 2;
    if (pc_args_len(m) > 2) {
        if (pc_args_get_mp_array(m, 2, &marks)) return 3;
        __atomic_add_fetch(&((int32_t *)pc_mp_array_get_obj(marks))[tag], 1, __ATOMIC_SEQ_CST);
    }
    return 0;
}

// Pack: queue, first, n, marks. Put packs first .. first+n-1.
static int t_put_tagged(void *arg) {
    pc_args *a = (pc_args *)arg;
    pc_mp_queue *q;
    pc_mp_array *marks;
    int64_t first, n;
    if (pc_args_get_mp_queue(a, 0, &q) || pc_args_get_int(a, 1, &first) ||
        pc_args_get_int(a, 2, &n) || pc_args_get_mp_array(a, 3, &marks))
        return 10;
    for (int64_t t = first; t < first + n; t++)
        if (put_tagged(q, t, marks)) return 11;
    return 0;
}

// Pack: queue. Get and check packs until shutdown.
static int t_get_tagged(void *arg) {
    pc_mp_queue *q;
    if (pc_args_get_mp_queue((pc_args *)arg, 0, &q)) return 10;
    pc_args *m;
    int rc;
    while ((rc = pc_mp_queue_get_args(q, &m, PC_FOREVER)) == PC_OK) {
        int bad = check_tagged(m);
        pc_args_free(m);
        if (bad) return 30 + bad;
    }
    return rc == PC_SHUTDOWN ? 0 : 20 + rc;
}

TEST(fd_packs_local) {
    pct_leak k = pct_leak_begin(PC_START_FORK);
    pc_mp_queue *q = pc_mp_queue_new(NULL);
    pc_mp_array *marks = marks_new(8);
    for (int64_t t = 0; t < 8; t++) CHECK_OK(put_tagged(q, t, marks));
    // A queue, a lock and the queue itself ride in one pack.
    pc_mp_queue *inner = fixed_queue(PC_MP_QUEUE_FIFO, 4, 8);
    int64_t v = 77;
    CHECK_OK(pc_mp_queue_put(inner, &v, 0));
    pc_args *m = pack(inner, 0, NULL);
    pc_args_add_mp_queue(m, q);
    CHECK_OK(pc_mp_queue_put_args(q, m, 0));
    pc_args_free(m);
    for (int i = 0; i < 8; i++) {
        CHECK_OK(pc_mp_queue_get_args(q, &m, 0));
        CHECK_EQ(check_tagged(m), 0);
        pc_args_free(m);
    }
    CHECK_OK(pc_mp_queue_get_args(q, &m, 0));
    pc_mp_queue *inner2, *self2;
    CHECK_OK(pc_args_get_mp_queue(m, 0, &inner2));
    CHECK_OK(pc_args_get_mp_queue(m, 1, &self2));
    CHECK_OK(pc_mp_queue_get(inner2, &v, 0));
    CHECK_EQ(v, 77);
    CHECK_OK(put_tagged(self2, 5, NULL));       // through the copy that came out
    pc_args_free(m);
    CHECK_OK(pc_mp_queue_get_args(q, &m, 0));
    CHECK_EQ(check_tagged(m), 0);
    pc_args_free(m);
    for (int i = 0; i < 8; i++) CHECK_EQ(((int32_t *)pc_mp_array_get_obj(marks))[i], 1);
    // get_bytes of such a pack closes its descriptors: the pipe's reader
    // sees the end of file.
    pc_connection *w, *r = tagged_pipe(1, &w);
    m = pc_args_new();
    pc_args_add_connection(m, w);
    CHECK_OK(pc_mp_queue_put_args(q, m, 0));
    pc_args_free(m);
    pc_connection_free(w);
    char buf[256];
    CHECK_OK(pc_mp_queue_get_bytes(q, buf, sizeof buf, NULL, 0));
    CHECK_EQ(read_tag(r), 1);
    pc_connection_free(r);
    // LIFO and PRIORITY queues refuse them, saying why.
    pc_mp_queue_desc d;
    memset(&d, 0, sizeof d);
    d.kind = PC_MP_QUEUE_LIFO;
    pc_mp_queue *lifo = pc_mp_queue_new(&d);
    m = pack(inner, 0, NULL);
    CHECK_RC(pc_mp_queue_put_args(lifo, m, 0), PC_VALUE);
    CHECK(strstr(pc_last_error(), "FIFO") != NULL);
    pc_args_free(m);
    pc_mp_queue_free(lifo);
    pc_mp_queue_free(inner);
    pc_mp_array_free(marks);
    pc_mp_queue_free(q);
    pct_leak_end(k);
}

// Putters and getters in several processes at once: every pack reaches
// exactly one getter with its own descriptors (its pipe says its tag, the
// array it carries is the one marked).
static void body_fd_many(pc_start_method m) {
    pct_leak k = pct_leak_begin(m);
    enum { PROCS = 3, EACH = 40 };
    pc_mp_queue_desc d;
    memset(&d, 0, sizeof d);
    d.maxsize = 8;
    d.max_message = 512;
    pc_mp_queue *q = pc_mp_queue_new(&d);
    pc_mp_array *marks = marks_new(PROCS * EACH);
    pc_process *prod[PROCS], *cons[PROCS];
    for (int i = 0; i < PROCS; i++) {
        int64_t args[2] = {i * EACH, EACH};
        pc_args *a = pack(q, 2, args);
        pc_args_add_mp_array(a, marks);
        prod[i] = start_with(m, t_put_tagged, a);
        cons[i] = start_with(m, t_get_tagged, pack(q, 0, NULL));
    }
    for (int i = 0; i < PROCS; i++) CHECK_EQ(pct_finish(prod[i]), 0);
    CHECK_OK(pc_mp_queue_shutdown(q, 0));
    for (int i = 0; i < PROCS; i++) CHECK_EQ(pct_finish(cons[i]), 0);
    const int32_t *mk = (const int32_t *)pc_mp_array_get_obj(marks);
    for (int i = 0; i < PROCS * EACH; i++) CHECK_MSG(mk[i] == 1, "pack %d: %d times", i, mk[i]);
    pc_mp_array_free(marks);
    pc_mp_queue_free(q);
    pct_leak_end(k);
}
TEST(fd_packs_many_fork) { body_fd_many(PC_START_FORK); }
TEST(fd_packs_many_spawn) { body_fd_many(PC_START_SPAWN); }
TEST(fd_packs_many_forkserver) { body_fd_many(PC_START_FORKSERVER); }

// Pack: queue, n, event, where, a write end. Put n tagged packs whole,
// then stop inside the put of a pack holding the write end.
static int t_fd_put_then_stop(void *arg) {
    pc_args *a = (pc_args *)arg;
    pc_mp_queue *q;
    pc_connection *w;
    int64_t n;
    if (pc_args_get_mp_queue(a, 0, &q) || pc_args_get_int(a, 1, &n) ||
        pc_args_get_mp_event(a, 2, &g_stop_event) || pc_args_get_int(a, 3, &g_stop_where) ||
        pc_args_get_connection(a, 4, &w))
        return 10;
    for (int64_t t = 0; t < n; t++)
        if (put_tagged(q, t, NULL)) return 11;
    pc_args *m = pc_args_new();
    pc_args_add_int(m, n);
    pc_args_add_connection(m, w);
    pc__p_mpq_hook = h_stop;
    pc_mp_queue_put_args(q, m, PC_FOREVER);
    return 12;
}

// A putter is SIGKILLed inside put_args, its descriptors sent: before its
// commit (where 0: the pack is dropped and its write end closed, so the
// reader sees the end of file) or after it (where 2: it is delivered with
// its own write end). The packs before it come out whole either way.
static void body_fd_putter_killed(pc_start_method m) {
    pct_leak k = pct_leak_begin(m);
    for (int round = 0; round < 4; round++) {
        int64_t where = round % 2 ? 2 : 0, n = 3;
        pc_mp_queue *q = pc_mp_queue_new(NULL);
        pc_mp_event *stopped = pc_mp_event_new();
        pc_connection *r, *w;
        CHECK_OK(pc_pipe(0, &r, &w));
        pc_args *a = pack(q, 1, &n);
        pc_args_add_mp_event(a, stopped);
        pc_args_add_int(a, where);
        pc_args_add_connection(a, w);
        pc_process *p = start_with(m, t_fd_put_then_stop, a);
        pc_connection_free(w);
        CHECK_OK(pc_mp_event_wait(stopped, 10));
        pct_kill_and_reap(p);
        pc_args *got;
        for (int64_t t = 0; t < n; t++) {
            CHECK_OK(pc_mp_queue_get_args(q, &got, 5));
            CHECK_EQ(check_tagged(got), 0);
            pc_args_free(got);
        }
        if (where == 2) {
            CHECK_OK(pc_mp_queue_get_args(q, &got, 0));
            pc_connection *w2 = NULL;
            int64_t tag = 9;
            CHECK_OK(pc_args_get_connection(got, 1, &w2));
            CHECK_OK(pc_connection_send_bytes(w2, &tag, 0, sizeof tag));
            pc_args_free(got);
            CHECK_EQ(read_tag(r), 9);
        } else {
            CHECK_RC(pc_mp_queue_get_args(q, &got, 0), PC_EMPTY);
            CHECK_OK(pc_connection_poll(r, 5));         // dropped: its end closed
            void *buf = NULL;
            size_t len;
            CHECK_RC(pc_connection_recv_bytes(r, 0, &buf, &len), PC_EOF);
        }
        CHECK_OK(put_tagged(q, 50, NULL));              // and the queue goes on
        CHECK_OK(pc_mp_queue_get_args(q, &got, 0));
        CHECK_EQ(check_tagged(got), 0);
        pc_args_free(got);
        pc_connection_free(r);
        pc_mp_event_free(stopped);
        pc_mp_queue_free(q);
    }
    pct_leak_end(k);
}
TEST(fd_putter_killed_fork) { body_fd_putter_killed(PC_START_FORK); }
TEST(fd_putter_killed_spawn) { body_fd_putter_killed(PC_START_SPAWN); }
TEST(fd_putter_killed_forkserver) { body_fd_putter_killed(PC_START_FORKSERVER); }

// Pack: queue, n, event, where. Get n packs (int i, a connection), then
// stop inside the next get.
static int t_fd_get_then_stop(void *arg) {
    pc_args *a = (pc_args *)arg;
    pc_mp_queue *q;
    int64_t n;
    if (pc_args_get_mp_queue(a, 0, &q) || pc_args_get_int(a, 1, &n) ||
        pc_args_get_mp_event(a, 2, &g_stop_event) || pc_args_get_int(a, 3, &g_stop_where))
        return 10;
    pc_args *m;
    for (int64_t i = 0; i < n; i++) {
        int64_t tag = -1;
        if (pc_mp_queue_get_args(q, &m, PC_FOREVER)) return 11;
        pc_args_get_int(m, 0, &tag);
        pc_args_free(m);
        if (tag != i) return 13;
    }
    pc__p_mpq_hook = h_stop;
    pc_mp_queue_get_args(q, &m, PC_FOREVER);
    return 12;
}

// A getter is SIGKILLed inside get_args: before its commit (where 1: the
// pack stays, and the next get has it with its descriptors) or after it
// (where 2: the pack was its; the repairer closes its descriptors, whose
// pipe's reader sees the end of file). Every other pack comes out whole.
static void body_fd_getter_killed(pc_start_method m) {
    pct_leak k = pct_leak_begin(m);
    for (int round = 0; round < 4; round++) {
        enum { N = 6 };
        int64_t where = round % 2 ? 2 : 1, n = 2;
        pc_mp_queue *q = pc_mp_queue_new(NULL);
        pc_connection *r[N];
        for (int64_t t = 0; t < N; t++) {
            pc_connection *w;           // the pack holds w; we keep its reader
            CHECK_OK(pc_pipe(0, &r[t], &w));
            pc_args *pk = pc_args_new();
            pc_args_add_int(pk, t);
            pc_args_add_connection(pk, w);
            CHECK_OK(pc_mp_queue_put_args(q, pk, 0));
            pc_args_free(pk);
            pc_connection_free(w);
        }
        pc_mp_event *stopped = pc_mp_event_new();
        pc_args *a = pack(q, 1, &n);
        pc_args_add_mp_event(a, stopped);
        pc_args_add_int(a, where);
        pc_process *p = start_with(m, t_fd_get_then_stop, a);
        CHECK_OK(pc_mp_event_wait(stopped, 10));
        pct_kill_and_reap(p);
        pc_args *got;
        for (int64_t t = where == 2 ? n + 1 : n; t < N; t++) {
            pc_connection *w2 = NULL;
            int64_t tag;
            CHECK_OK(pc_mp_queue_get_args(q, &got, 5));
            CHECK_OK(pc_args_get_int(got, 0, &tag));
            CHECK_EQ(tag, t);
            CHECK_OK(pc_args_get_connection(got, 1, &w2));
            CHECK_OK(pc_connection_send_bytes(w2, &tag, 0, sizeof tag));
            pc_args_free(got);
            CHECK_EQ(read_tag(r[t]), t);                // its own write end
        }
        CHECK_RC(pc_mp_queue_get_args(q, &got, 0), PC_EMPTY);
        for (int64_t t = 0; t < (where == 2 ? n + 1 : n); t++) {
            void *buf = NULL;
            size_t len;
            CHECK_OK(pc_connection_poll(r[t], 5));      // taken, or dropped: closed
            CHECK_RC(pc_connection_recv_bytes(r[t], 0, &buf, &len), PC_EOF);
        }
        for (int t = 0; t < N; t++) pc_connection_free(r[t]);
        pc_mp_event_free(stopped);
        pc_mp_queue_free(q);
    }
    pct_leak_end(k);
}
TEST(fd_getter_killed_fork) { body_fd_getter_killed(PC_START_FORK); }
TEST(fd_getter_killed_spawn) { body_fd_getter_killed(PC_START_SPAWN); }
TEST(fd_getter_killed_forkserver) { body_fd_getter_killed(PC_START_FORKSERVER); }

// >>blocked putters and joiners: consumers that die
// Pack: queue, event, done (0/1). Get one int64 item, task_done it when
// done, get one more, set the event and sleep until killed.
static int t_get_and_wait(void *arg) {
    pc_args *a = (pc_args *)arg;
    pc_mp_queue *q;
    pc_mp_event *ev;
    int64_t v, done;
    if (pc_args_get_mp_queue(a, 0, &q) || pc_args_get_mp_event(a, 1, &ev) ||
        pc_args_get_int(a, 2, &done))
        return 10;
    if (pc_mp_queue_get(q, &v, PC_FOREVER)) return 11;
    if (done && pc_mp_queue_task_done(q)) return 12;
    if (pc_mp_queue_get(q, &v, PC_FOREVER)) return 13;
    pc_mp_event_set(ev);
    pc_sleep(60);
    return 14;
}

// Pack: queue, want. put() with no timeout on a fixed int64 queue; exit 0
// when the code is want.
static int t_put_expect(void *arg) {
    pc_args *a = (pc_args *)arg;
    pc_mp_queue *q;
    int64_t want, v = 5;
    if (pc_args_get_mp_queue(a, 0, &q) || pc_args_get_int(a, 1, &want)) return 10;
    int rc = pc_mp_queue_put(q, &v, PC_FOREVER);
    return rc == want ? 0 : 20 + rc;
}

// The only consumer dies while putters wait on the full queue with no
// timeout: a putter in another process and this one get PC_BROKEN. While
// it lives nothing is broken.
static void body_putter_broken(pc_start_method m) {
    pct_leak k = pct_leak_begin(m);
    pc_mp_queue *q = fixed_queue(PC_MP_QUEUE_FIFO, 2, sizeof(int64_t));
    pc_mp_event *got = pc_mp_event_new();
    for (int64_t i = 0; i < 2; i++) CHECK_OK(pc_mp_queue_put(q, &i, 0));
    int64_t zero = 0;
    pc_args *a = pack(q, 0, NULL);
    pc_args_add_mp_event(a, got);
    pc_args_add_int(a, zero);
    pc_process *cons = start_with(m, t_get_and_wait, a);
    CHECK_OK(pc_mp_event_wait(got, 10));
    int64_t v = 7, want = PC_BROKEN;
    for (int i = 0; i < 2; i++) CHECK_OK(pc_mp_queue_put(q, &v, 0));
    pc_process *putter = start_with(m, t_put_expect, pack(q, 1, &want));
    CHECK_RC(pc_mp_queue_put(q, &v, 0.05), PC_FULL);        // alive: nothing broken yet
    pct_kill_and_reap(cons);
    double t0 = pc_monotonic();
    CHECK_RC(pc_mp_queue_put(q, &v, PC_FOREVER), PC_BROKEN);
    double took = pc_monotonic() - t0;
    CHECK_MSG(took < 2.0, "PC_BROKEN took %.3f s", took);
    CHECK(strstr(pc_last_error(), "consumers") != NULL);
    CHECK_EQ(pct_finish(putter), 0);
    // A get makes room again.
    CHECK_OK(pc_mp_queue_get(q, &v, 0));
    CHECK_OK(pc_mp_queue_put(q, &v, PC_FOREVER));
    pc_mp_event_free(got);
    pc_mp_queue_free(q);
    pct_leak_end(k);
}
TEST(putter_broken_fork) { body_putter_broken(PC_START_FORK); }
TEST(putter_broken_spawn) { body_putter_broken(PC_START_SPAWN); }
TEST(putter_broken_forkserver) { body_putter_broken(PC_START_FORKSERVER); }

// A consumer dies between a get and its task_done: join with no timeout
// gets PC_BROKEN, here and in another process. Before the death (its
// first task done, the second not yet) join only waits.
static void body_join_broken(pc_start_method m) {
    pct_leak k = pct_leak_begin(m);
    pc_mp_queue_desc d;
    memset(&d, 0, sizeof d);
    d.item_size = sizeof(int64_t);
    d.joinable = 1;
    pc_mp_queue *q = pc_mp_queue_new(&d);
    for (int64_t i = 0; i < 3; i++) CHECK_OK(pc_mp_queue_put(q, &i, 0));
    pc_mp_event *got = pc_mp_event_new();
    int64_t one = 1, want = PC_BROKEN, v;
    pc_args *a = pack(q, 0, NULL);
    pc_args_add_mp_event(a, got);
    pc_args_add_int(a, one);
    pc_process *cons = start_with(m, t_get_and_wait, a);
    CHECK_OK(pc_mp_event_wait(got, 10));
    CHECK_OK(pc_mp_queue_get(q, &v, 0));            // ours, done: only the dead one's is left
    CHECK_OK(pc_mp_queue_task_done(q));
    pc_process *joiner = start_with(m, t_join_expect, pack(q, 1, &want));
    CHECK_RC(pc_mp_queue_join_timeout(q, 0.05), PC_TIMEOUT);
    pct_kill_and_reap(cons);
    double t0 = pc_monotonic();
    CHECK_RC(pc_mp_queue_join(q), PC_BROKEN);
    double took = pc_monotonic() - t0;
    CHECK_MSG(took < 2.0, "PC_BROKEN took %.3f s", took);
    CHECK(strstr(pc_last_error(), "done") != NULL);
    CHECK_EQ(pct_finish(joiner), 0);
    pc_mp_event_free(got);
    pc_mp_queue_free(q);
    pct_leak_end(k);
}
TEST(join_broken_fork) { body_join_broken(PC_START_FORK); }
TEST(join_broken_spawn) { body_join_broken(PC_START_SPAWN); }
TEST(join_broken_forkserver) { body_join_broken(PC_START_FORKSERVER); }

#if PCT_HAVE_SYSCOUNT
// Ping-pong through two queues with a forked partner; the hand-offs in
// the middle are counted. A waiter woken by a notify goes straight back
// to the queue: it reads /proc (to look for dead producers) only after a
// quiet slice, never per hand-off.
static void ping_pong(void *arg) {
    (void)arg;
    pc_mp_queue_desc d;
    memset(&d, 0, sizeof d);
    d.item_size = 64;
    d.maxsize = 8;
    pc_mp_queue *there = pc_mp_queue_new(&d), *back = pc_mp_queue_new(&d);
    char item[64] = {0};
    pid_t pid = fork();
    if (pid == 0) {
        for (int i = 0; i < 300; i++)
            if (pc_mp_queue_get(there, item, 10) || pc_mp_queue_put(back, item, 10)) _exit(1);
        _exit(0);
    }
    for (int i = 0; i < 300; i++) {
        if (i == 50) pct_syscount_mark();
        if (pc_mp_queue_put(there, item, 10) || pc_mp_queue_get(back, item, 10)) _exit(2);
    }
    pct_syscount_mark();
    int st = 0;
    waitpid(pid, &st, 0);
    pc_mp_queue_free(there);
    pc_mp_queue_free(back);
    _exit(WIFEXITED(st) ? WEXITSTATUS(st) : 3);
}
#endif

TEST(handoff_reads_no_proc) {
#if PCT_HAVE_SYSCOUNT
    long n[PCT_SYSCALLS];
    if (PCT_SANITIZED) pct_skip("the sanitizer runtime makes system calls of its own");
    if (pct_syscount(ping_pong, NULL, n) < 0) pct_skip("ptrace is not allowed here");
    CHECK_MSG(n[SYS_openat] + n[SYS_open] == 0, "%ld opens in 250 round trips",
              n[SYS_openat] + n[SYS_open]);
#else
    pct_skip("no ptrace system call counting on this system");
#endif
}

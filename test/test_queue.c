/* Tests of pyconc_queue.h: the behaviours of CPython's test_queue.py
   (order, blocking, timeouts, task_done/join, shutdown) for every kind and
   every internal layout (ring, block list, locked array), plus bad input
   and a many-producer many-consumer stress. */
#define PYCONC_IMPLEMENTATION
#define PYCONC_QUEUE_IMPLEMENTATION
#include "pyconc_queue.h"

#include <math.h>
#include <stdint.h>
#include <stddef.h>

#include "pc_test.h"

#define QUEUE_SIZE 5

static int cmp_long(const void *a, const void *b, void *ctx) {
    (void)ctx;
    long x = *(const long *)a, y = *(const long *)b;
    return (x > y) - (x < y);
}

// The shapes every generic test runs on: name, kind, maxsize.
typedef struct shape { const char *name; pc_queue_kind kind; long maxsize; } shape;
static const shape shapes[] = {
    {"fifo-ring", PC_QUEUE_FIFO, QUEUE_SIZE},
    {"fifo-ring-pow2", PC_QUEUE_FIFO, 4},
    {"fifo-list-bounded1", PC_QUEUE_FIFO, 1},
    {"fifo-list-bounded-large", PC_QUEUE_FIFO, 100000},
    {"fifo-list", PC_QUEUE_FIFO, 0},
    {"lifo", PC_QUEUE_LIFO, QUEUE_SIZE},
    {"lifo-unbounded", PC_QUEUE_LIFO, 0},
    {"priority", PC_QUEUE_PRIORITY, QUEUE_SIZE},
    {"priority-unbounded", PC_QUEUE_PRIORITY, -1},
    {"simple", PC_QUEUE_SIMPLE, 0},
};
#define NSHAPES (int)(sizeof shapes / sizeof shapes[0])

static pc_queue *make(const shape *s) {
    pc_queue_desc d;
    memset(&d, 0, sizeof d);
    d.kind = s->kind;
    d.maxsize = s->maxsize;
    d.item_size = sizeof(long);
    d.compare = cmp_long;
    pc_queue *q = pc_queue_new(&d);
    CHECK_MSG(q != NULL, "%s: %s", s->name, pc_last_error());
    return q;
}

static pc_queue *make_kind(pc_queue_kind kind, long maxsize) {
    shape s = {"adhoc", kind, maxsize};
    return make(&s);
}

static long put_long(pc_queue *q, long v, double timeout) { return pc_queue_put(q, &v, timeout); }

static long get_long(pc_queue *q, double timeout, int *rc) {
    long v = -12345;
    *rc = pc_queue_get(q, &v, timeout);
    return v;
}

// ---------------------------------------------------------------------------
// A thread that runs one queue operation, optionally after a short pause,
// and records what happened (the blocking tests' trigger thread).
typedef struct op {
    pc_queue *q;
    int what;                   // 'p' put, 'g' get, 'j' join, 'd' task_done, 's' shutdown
    long value;
    double timeout, delay;
    pc_event started, triggered;
    int rc;
    long got;
    double took;
    pc_thread *t;
} op;

static int op_main(void *arg) {
    op *o = (op *)arg;
    pc_event_set(&o->started);
    if (o->delay > 0) pc_sleep(o->delay);
    pc_event_set(&o->triggered);
    double t0 = pc_monotonic();
    switch (o->what) {
    case 'p': o->rc = pc_queue_put(o->q, &o->value, o->timeout); break;
    case 'g': o->rc = pc_queue_get(o->q, &o->got, o->timeout); break;
    case 'j': o->rc = pc_queue_join_timeout(o->q, o->timeout); break;
    case 'd': o->rc = pc_queue_task_done(o->q); break;
    case 's': o->rc = pc_queue_shutdown(o->q, (int)o->value); break;
    }
    o->took = pc_monotonic() - t0;
    return 0;
}

static void op_start(op *o, pc_queue *q, int what, long value, double timeout, double delay) {
    memset(o, 0, sizeof *o);
    o->q = q; o->what = what; o->value = value; o->timeout = timeout; o->delay = delay;
    o->rc = -1;
    pc_event_init(&o->started);
    pc_event_init(&o->triggered);
    pc_thread_desc d;
    memset(&d, 0, sizeof d);
    d.target = op_main;
    d.arg = o;
    d.daemon = PC_DAEMON_YES;   // a failed case exits at once, even with this one stuck
    o->t = pc_thread_new(&d);
    CHECK(o->t != NULL);
    CHECK_OK(pc_thread_start(o->t));
}

static void op_join(op *o) {
    CHECK_OK(pc_thread_join(o->t, 30));
    pc_thread_free(o->t);
}

// Run a blocking put of `value` while another thread, a moment later,
// gets one item: the put must not finish before the trigger ran.
// A timed one must be woken, not merely find room when its 10 s run out.
static void blocking_put(pc_queue *q, long value, double timeout) {
    op trig;
    op_start(&trig, q, 'g', 0, PC_FOREVER, 0.05);
    double t0 = pc_monotonic();
    CHECK_OK(put_long(q, value, timeout));
    CHECK_MSG(pc_monotonic() - t0 < 5, "put was not woken by the get");
    CHECK_MSG(pc_event_is_set(&trig.triggered), "put did not block");
    op_join(&trig);
    CHECK_OK(trig.rc);
}

static long blocking_get(pc_queue *q, long value, double timeout) {
    op trig;
    int rc;
    op_start(&trig, q, 'p', value, PC_FOREVER, 0.05);
    double t0 = pc_monotonic();
    long v = get_long(q, timeout, &rc);
    CHECK_OK(rc);
    CHECK_MSG(pc_monotonic() - t0 < 5, "get was not woken by the put");
    CHECK_MSG(pc_event_is_set(&trig.triggered), "get did not block");
    op_join(&trig);
    CHECK_OK(trig.rc);
    return v;
}

// ---------------------------------------------------------------------------
// Order: Python's test puts 111, 333, 222.
static void check_order(const shape *s) {
    pc_queue *q = make(s);
    long want_fifo[] = {111, 333, 222}, want_lifo[] = {222, 333, 111};
    long want_prio[] = {111, 222, 333};
    const long *want = s->kind == PC_QUEUE_LIFO ? want_lifo
                     : s->kind == PC_QUEUE_PRIORITY ? want_prio : want_fifo;
    int rc, n = s->maxsize == 1 ? 1 : 3;
    for (int i = 0; i < n; i++) CHECK_OK(put_long(q, want_fifo[i], 0));
    for (int i = 0; i < n; i++) {
        long v = get_long(q, 0, &rc);
        CHECK_OK(rc);
        CHECK_MSG(v == (n == 1 ? 111 : want[i]), "%s: item %d is %ld", s->name, i, v);
    }
    pc_queue_free(q);
}

TEST(order) {
    for (int i = 0; i < NSHAPES; i++) check_order(&shapes[i]);
}

// Python's basic_queue_test for the bounded shapes: full, Full, blocking
// put released by a get, Empty, blocking get released by a put. Twice on
// the same queue.
static void basic_bounded(const shape *s, pc_queue *q) {
    long size = s->maxsize;
    int rc;
    CHECK(pc_queue_empty(q));
    CHECK(!pc_queue_full(q));
    for (long i = 0; i < size - 1; i++) {
        CHECK_OK(put_long(q, i, PC_FOREVER));
        CHECK(!pc_queue_empty(q));
    }
    CHECK(!pc_queue_full(q));
    CHECK_OK(put_long(q, 2 * size, PC_FOREVER));
    CHECK_MSG(pc_queue_full(q), "%s should be full", s->name);
    CHECK_EQ(pc_queue_qsize(q), size);
    CHECK_RC(put_long(q, 99, 0), PC_FULL);
    CHECK(strstr(pc_last_error(), "full") != NULL);
    CHECK_RC(put_long(q, 99, 0.01), PC_FULL);
    CHECK_RC(pc_queue_put_nowait(q, &size), PC_FULL);
    blocking_put(q, 3 * 2 * size, PC_FOREVER);
    blocking_put(q, 3 * 2 * size, 10);
    for (long i = 0; i < size; i++) {
        get_long(q, PC_FOREVER, &rc);
        CHECK_OK(rc);
    }
    CHECK(pc_queue_empty(q));
    CHECK_EQ(pc_queue_qsize(q), 0);
    get_long(q, 0, &rc);
    CHECK_RC(rc, PC_EMPTY);
    CHECK(strstr(pc_last_error(), "empty") != NULL);
    get_long(q, 0.01, &rc);
    CHECK_RC(rc, PC_EMPTY);
    CHECK_EQ(blocking_get(q, 4242, PC_FOREVER), 4242);
    CHECK_EQ(blocking_get(q, 4343, 10), 4343);
}

TEST(basic_bounded) {
    for (int i = 0; i < NSHAPES; i++) {
        const shape *s = &shapes[i];
        if (s->maxsize <= 0 || s->maxsize > 100) continue;
        pc_queue *q = make(s);
        basic_bounded(s, q);
        basic_bounded(s, q);
        pc_queue_free(q);
    }
}

TEST(blocking_get_unbounded) {
    for (int i = 0; i < NSHAPES; i++) {
        if (shapes[i].maxsize > 0) continue;
        pc_queue *q = make(&shapes[i]);
        CHECK_EQ(blocking_get(q, 7, PC_FOREVER), 7);
        CHECK_EQ(blocking_get(q, 8, 10), 8);
        CHECK(pc_queue_empty(q));
        CHECK(!pc_queue_full(q));
        pc_queue_free(q);
    }
}

TEST(nowait) {
    for (int i = 0; i < NSHAPES; i++) {
        const shape *s = &shapes[i];
        pc_queue *q = make(s);
        long n = s->maxsize > 0 && s->maxsize < 100 ? s->maxsize : 50, v = 1;
        for (long k = 0; k < n; k++) CHECK_OK(pc_queue_put_nowait(q, &v));
        if (s->maxsize > 0 && s->maxsize < 100) CHECK_RC(pc_queue_put_nowait(q, &v), PC_FULL);
        else {
            CHECK_OK(pc_queue_put_nowait(q, &v));
            n++;
        }
        for (long k = 0; k < n; k++) CHECK_OK(pc_queue_get_nowait(q, &v));
        CHECK_RC(pc_queue_get_nowait(q, &v), PC_EMPTY);
        pc_queue_free(q);
    }
}

// A bounded FIFO above the ring's limit is a block list with a bound.
TEST(large_bound) {
    pc_queue *q = make_kind(PC_QUEUE_FIFO, 70000);
    for (long i = 0; i < 70000; i++) CHECK_OK(put_long(q, i, 0));
    CHECK(pc_queue_full(q));
    CHECK_RC(put_long(q, -1, 0), PC_FULL);
    int rc;
    for (long i = 0; i < 70000; i++) CHECK_EQ(get_long(q, 0, &rc), i);
    CHECK(pc_queue_empty(q));
    pc_queue_free(q);
}

// Wide margins: a timed wait takes at least ~0.6x its timeout and far
// less than 10x.
TEST(timeouts) {
    for (int i = 0; i < NSHAPES; i++) {
        const shape *s = &shapes[i];
        pc_queue *q = make(s);
        int rc;
        double t0 = pc_monotonic();
        get_long(q, 0.1, &rc);
        double took = pc_monotonic() - t0;
        CHECK_RC(rc, PC_EMPTY);
        CHECK_MSG(took >= 0.06 && took < 1.0, "%s: get(0.1) took %.3f s", s->name, took);
        if (s->maxsize > 0 && s->maxsize < 100) {
            for (long k = 0; k < s->maxsize; k++) CHECK_OK(put_long(q, k, 0));
            t0 = pc_monotonic();
            CHECK_RC(put_long(q, 1, 0.1), PC_FULL);
            took = pc_monotonic() - t0;
            CHECK_MSG(took >= 0.06 && took < 1.0, "%s: put(0.1) took %.3f s", s->name, took);
        }
        pc_queue_free(q);
    }
}

// A getter waiting with a timeout gets an item that arrives in time.
TEST(timed_get_succeeds) {
    pc_queue *q = make_kind(PC_QUEUE_FIFO, 2);
    op trig;
    int rc;
    op_start(&trig, q, 'p', 77, PC_FOREVER, 0.05);
    double t0 = pc_monotonic();
    CHECK_EQ(get_long(q, 10, &rc), 77);
    CHECK_MSG(pc_monotonic() - t0 < 5, "get was not woken by the put");
    CHECK_OK(rc);
    op_join(&trig);
    pc_queue_free(q);
}

// ---------------------------------------------------------------------------
TEST(bad_input) {
    long v = 1;
    CHECK_RC(pc_queue_put(NULL, &v, 0), PC_VALUE);
    CHECK(strstr(pc_last_error(), "NULL") != NULL);
    CHECK_RC(pc_queue_get(NULL, &v, 0), PC_VALUE);
    CHECK_RC(pc_queue_put_nowait(NULL, &v), PC_VALUE);
    CHECK_RC(pc_queue_get_nowait(NULL, &v), PC_VALUE);
    CHECK_RC(pc_queue_task_done(NULL), PC_VALUE);
    CHECK_RC(pc_queue_join(NULL), PC_VALUE);
    CHECK_RC(pc_queue_join_timeout(NULL, 1), PC_VALUE);
    CHECK_RC(pc_queue_shutdown(NULL, 0), PC_VALUE);
    CHECK_EQ(pc_queue_qsize(NULL), 0);
    CHECK_EQ(pc_queue_empty(NULL), 1);
    CHECK_EQ(pc_queue_full(NULL), 0);
    CHECK_EQ(pc_queue_is_shutdown(NULL), 0);
    CHECK_EQ(pc_queue_maxsize(NULL), 0);
    CHECK_EQ(pc_queue_item_size(NULL), 0);
    pc_queue_free(NULL);

    for (int i = 0; i < NSHAPES; i++) {
        pc_queue *q = make(&shapes[i]);
        CHECK_RC(pc_queue_put(q, NULL, 0), PC_VALUE);
        CHECK(strstr(pc_last_error(), "item is NULL") != NULL);
        CHECK_RC(pc_queue_get(q, NULL, 0), PC_VALUE);
        CHECK_RC(pc_queue_put(q, &v, NAN), PC_VALUE);
        CHECK(strstr(pc_last_error(), "NaN") != NULL);
        CHECK_RC(pc_queue_get(q, &v, NAN), PC_VALUE);
        CHECK(strstr(pc_last_error(), "NaN") != NULL);
        if (shapes[i].kind != PC_QUEUE_SIMPLE) CHECK_RC(pc_queue_join_timeout(q, NAN), PC_VALUE);
        CHECK_EQ(pc_queue_qsize(q), 0);     // nothing went in
        pc_queue_free(q);
    }
}

TEST(bad_desc) {
    pc_queue_desc d;
    memset(&d, 0, sizeof d);
    d.kind = PC_QUEUE_PRIORITY;
    CHECK(pc_queue_new(&d) == NULL);
    CHECK_EQ(pc_last_error_code(), PC_VALUE);
    CHECK(strstr(pc_last_error(), "compare") != NULL);

    memset(&d, 0, sizeof d);
    d.kind = PC_QUEUE_SIMPLE;
    d.maxsize = 3;
    CHECK(pc_queue_new(&d) == NULL);
    CHECK_EQ(pc_last_error_code(), PC_VALUE);
    CHECK(strstr(pc_last_error(), "SimpleQueue") != NULL);

    memset(&d, 0, sizeof d);
    d.kind = (pc_queue_kind)9;
    CHECK(pc_queue_new(&d) == NULL);
    CHECK_EQ(pc_last_error_code(), PC_VALUE);
    CHECK(strstr(pc_last_error(), "kind") != NULL);

    memset(&d, 0, sizeof d);
    d.item_size = (size_t)1 << 40;
    CHECK(pc_queue_new(&d) == NULL);
    CHECK_EQ(pc_last_error_code(), PC_VALUE);
    CHECK(strstr(pc_last_error(), "item_size") != NULL);
}

// NULL and zeroed descs are Python's defaults: an unbounded FIFO of pointers.
TEST(defaults) {
    pc_queue *q = pc_queue_new(NULL);
    CHECK(q != NULL);
    CHECK_EQ(pc_queue_item_size(q), sizeof(void *));
    CHECK_EQ(pc_queue_maxsize(q), 0);
    char a = 'a', b = 'b';
    void *pa = &a, *pb = &b, *out = NULL;
    for (int i = 0; i < 1000; i++) CHECK_OK(pc_queue_put(q, i % 2 ? &pb : &pa, 0));
    CHECK(!pc_queue_full(q));
    CHECK_EQ(pc_queue_qsize(q), 1000);
    for (int i = 0; i < 1000; i++) {
        CHECK_OK(pc_queue_get(q, &out, 0));
        CHECK(out == (i % 2 ? pb : pa));
    }
    pc_queue_free(q);
    pc_queue_desc d;
    memset(&d, 0, sizeof d);
    d.maxsize = 7;
    q = pc_queue_new(&d);
    CHECK_EQ(pc_queue_maxsize(q), 7);
    CHECK_EQ(pc_queue_item_size(q), sizeof(void *));
    pc_queue_free(q);
}

// Items of odd sizes are copied whole, in and out, for every kind.
typedef struct rec { char tag[3]; long long a; double b; } rec;

static int cmp_rec(const void *x, const void *y, void *ctx) {
    (void)ctx;
    long long a = ((const rec *)x)->a, b = ((const rec *)y)->a;
    return (a > b) - (a < b);
}

TEST(item_sizes) {
    pc_queue_kind kinds[] = {PC_QUEUE_FIFO, PC_QUEUE_FIFO, PC_QUEUE_LIFO, PC_QUEUE_PRIORITY,
                             PC_QUEUE_SIMPLE};
    long maxes[] = {300, 0, 0, 300, 0};
    for (int k = 0; k < 5; k++) {
        pc_queue_desc d;
        memset(&d, 0, sizeof d);
        d.kind = kinds[k];
        d.maxsize = maxes[k];
        d.item_size = sizeof(rec);
        d.compare = cmp_rec;
        pc_queue *q = pc_queue_new(&d);
        CHECK(q != NULL);
        for (int i = 0; i < 300; i++) {
            rec r;
            memset(&r, 0, sizeof r);
            r.tag[0] = (char)('a' + i % 26);
            r.a = i;
            r.b = i * 0.5;
            CHECK_OK(pc_queue_put(q, &r, 0));
        }
        long long sum = 0;
        for (int i = 0; i < 300; i++) {
            rec r;
            CHECK_OK(pc_queue_get(q, &r, 0));
            CHECK(r.tag[0] == (char)('a' + r.a % 26));
            CHECK(r.b == r.a * 0.5);
            if (kinds[k] == PC_QUEUE_LIFO) CHECK_EQ(r.a, 299 - i);
            else CHECK_EQ(r.a, i);
            sum += r.a;
        }
        CHECK_EQ(sum, 299 * 300 / 2);
        pc_queue_free(q);

        // 3-byte items: sizes that are not a multiple of anything.
        d.item_size = 3;
        d.compare = NULL;
        if (kinds[k] == PC_QUEUE_PRIORITY) continue;
        q = pc_queue_new(&d);
        for (int i = 0; i < 200; i++) {
            unsigned char b3[3] = {(unsigned char)i, (unsigned char)(i * 7), 0xA5};
            CHECK_OK(pc_queue_put(q, b3, 0));
        }
        for (int i = 0; i < 200; i++) {
            unsigned char b3[4] = {0, 0, 0, 0x5A};
            CHECK_OK(pc_queue_get(q, b3, 0));
            int j = kinds[k] == PC_QUEUE_LIFO ? 199 - i : i;
            CHECK(b3[0] == (unsigned char)j && b3[1] == (unsigned char)(j * 7) && b3[2] == 0xA5);
            CHECK(b3[3] == 0x5A);   // nothing written past item_size
        }
        pc_queue_free(q);
    }
}

// The ring reuses its slots lap after lap (maxsize 3: not a power of two).
TEST(ring_laps) {
    pc_queue *q = make_kind(PC_QUEUE_FIFO, 3);
    int rc;
    long next_in = 0, next_out = 0;
    for (int lap = 0; lap < 1000; lap++) {
        int n = 1 + lap % 3;
        for (int i = 0; i < n; i++) CHECK_OK(put_long(q, next_in++, 0));
        for (int i = 0; i < n; i++) CHECK_EQ(get_long(q, 0, &rc), next_out++);
    }
    pc_queue_free(q);
}

// ---------------------------------------------------------------------------
// task_done / join (Python's queue_join_test): two workers sum 0..99.
typedef struct joinctx { pc_queue *q; pc_lock mu; long cum; } joinctx;

static int join_worker(void *arg) {
    joinctx *c = (joinctx *)arg;
    for (;;) {
        long x;
        if (pc_queue_get(c->q, &x, PC_FOREVER) != PC_OK) return 1;
        if (x < 0) {
            pc_queue_task_done(c->q);
            return 0;
        }
        pc_lock_acquire(&c->mu, PC_FOREVER);
        c->cum += x;
        pc_lock_release(&c->mu);
        pc_queue_task_done(c->q);
    }
}

static void queue_join_test(pc_queue *q) {
    joinctx c;
    c.q = q;
    c.cum = 0;
    pc_lock_init(&c.mu);
    pc_thread *ts[3];
    for (int i = 0; i < 3; i++) {
        pc_thread_desc d;
        memset(&d, 0, sizeof d);
        d.target = join_worker;
        d.arg = &c;
        ts[i] = pc_thread_new(&d);
        CHECK_OK(pc_thread_start(ts[i]));
    }
    for (long i = 0; i < 100; i++) CHECK_OK(put_long(q, i, PC_FOREVER));
    CHECK_OK(pc_queue_join(q));
    CHECK_EQ(c.cum, 4950);      // join waited for every task_done
    for (int i = 0; i < 3; i++) CHECK_OK(put_long(q, -1, PC_FOREVER));
    CHECK_OK(pc_queue_join(q)); // joining twice works
    for (int i = 0; i < 3; i++) {
        CHECK_OK(pc_thread_join(ts[i], 30));
        CHECK_EQ(pc_thread_exitcode(ts[i]), 0);
        pc_thread_free(ts[i]);
    }
}

TEST(join) {
    for (int i = 0; i < NSHAPES; i++) {
        if (shapes[i].kind == PC_QUEUE_SIMPLE) continue;
        pc_queue *q = make(&shapes[i]);
        queue_join_test(q);
        queue_join_test(q);
        CHECK_RC(pc_queue_task_done(q), PC_VALUE);
        CHECK(strstr(pc_last_error(), "too many times") != NULL);
        pc_queue_free(q);
    }
}

TEST(task_done_too_many) {
    for (int i = 0; i < NSHAPES; i++) {
        pc_queue *q = make(&shapes[i]);
        if (shapes[i].kind == PC_QUEUE_SIMPLE) {
            CHECK_RC(pc_queue_task_done(q), PC_RUNTIME);
            CHECK_RC(pc_queue_join(q), PC_RUNTIME);
            CHECK(strstr(pc_last_error(), "SimpleQueue") != NULL);
            pc_queue_free(q);
            continue;
        }
        CHECK_RC(pc_queue_task_done(q), PC_VALUE);
        int n = shapes[i].maxsize == 1 ? 1 : 2;
        for (int k = 0; k < n; k++) CHECK_OK(put_long(q, k, 0));
        for (int k = 0; k < n; k++) CHECK_OK(pc_queue_task_done(q));  // done before get: allowed
        CHECK_RC(pc_queue_task_done(q), PC_VALUE);
        CHECK_OK(pc_queue_join(q));
        pc_queue_free(q);
    }
}

// unfinished_tasks counts puts not yet marked done, across shutdown(immediate)
// (each discarded item counts as done); a SimpleQueue tracks none.
TEST(unfinished_tasks) {
    long v;
    for (int i = 0; i < NSHAPES; i++) {
        pc_queue *q = make(&shapes[i]);
        int n = shapes[i].maxsize == 1 ? 1 : 3;
        CHECK_EQ(pc_queue_unfinished_tasks(q), 0);
        for (int k = 0; k < n; k++) CHECK_OK(put_long(q, k, 0));
        if (shapes[i].kind == PC_QUEUE_SIMPLE) {
            CHECK_EQ(pc_queue_unfinished_tasks(q), 0);
            pc_queue_free(q);
            continue;
        }
        CHECK_EQ(pc_queue_unfinished_tasks(q), (size_t)n);
        CHECK_OK(pc_queue_get(q, &v, 0));
        CHECK_EQ(pc_queue_unfinished_tasks(q), (size_t)n);    // got, not yet done
        CHECK_OK(pc_queue_task_done(q));
        CHECK_EQ(pc_queue_unfinished_tasks(q), (size_t)n - 1);
        CHECK_OK(pc_queue_shutdown(q, 1));                    // discards n - 1, done
        CHECK_EQ(pc_queue_unfinished_tasks(q), 0);
        pc_queue_free(q);
    }
    CHECK_EQ(pc_queue_unfinished_tasks(NULL), 0);
}

TEST(join_timeout) {
    pc_queue *q = make_kind(PC_QUEUE_FIFO, 0);
    CHECK_OK(pc_queue_join_timeout(q, 0));      // nothing unfinished
    CHECK_OK(put_long(q, 5, 0));
    CHECK_RC(pc_queue_join_timeout(q, 0), PC_TIMEOUT);
    double t0 = pc_monotonic();
    CHECK_RC(pc_queue_join_timeout(q, 0.1), PC_TIMEOUT);
    double took = pc_monotonic() - t0;
    CHECK_MSG(took >= 0.06 && took < 1.0, "join_timeout(0.1) took %.3f s", took);
    CHECK(strstr(pc_last_error(), "timed out") != NULL);
    int rc;
    get_long(q, 0, &rc);
    CHECK_OK(rc);
    CHECK_RC(pc_queue_join_timeout(q, 0), PC_TIMEOUT);  // got, but not done
    op trig;
    op_start(&trig, q, 'd', 0, 0, 0.05);
    t0 = pc_monotonic();
    CHECK_OK(pc_queue_join_timeout(q, 10));
    CHECK_MSG(pc_monotonic() - t0 < 5, "join was not woken by task_done");
    CHECK(pc_event_is_set(&trig.triggered));
    op_join(&trig);
    CHECK_OK(trig.rc);
    pc_queue_free(q);
}

// ---------------------------------------------------------------------------
// Shutdown (Python 3.13).
TEST(shutdown_basics) {
    for (int i = 0; i < NSHAPES; i++) {
        const shape *s = &shapes[i];
        pc_queue *q = make(s);
        int rc, n = s->maxsize == 1 ? 1 : 3;
        for (int k = 0; k < n; k++) CHECK_OK(put_long(q, k, 0));
        CHECK(!pc_queue_is_shutdown(q));
        CHECK_OK(pc_queue_shutdown(q, 0));
        CHECK(pc_queue_is_shutdown(q));
        CHECK_RC(put_long(q, 9, 0), PC_SHUTDOWN);
        CHECK(strstr(pc_last_error(), "shut down") != NULL);
        CHECK_RC(put_long(q, 9, PC_FOREVER), PC_SHUTDOWN);
        CHECK_EQ(pc_queue_qsize(q), n);
        for (int k = 0; k < n; k++) {       // what is left is still handed out
            get_long(q, PC_FOREVER, &rc);
            CHECK_OK(rc);
        }
        get_long(q, 0, &rc);
        CHECK_RC(rc, PC_SHUTDOWN);
        get_long(q, PC_FOREVER, &rc);       // and does not block
        CHECK_RC(rc, PC_SHUTDOWN);
        get_long(q, 0.5, &rc);
        CHECK_RC(rc, PC_SHUTDOWN);
        if (s->kind != PC_QUEUE_SIMPLE) {
            for (int k = 0; k < n; k++) CHECK_OK(pc_queue_task_done(q));
            CHECK_RC(pc_queue_task_done(q), PC_VALUE);
            CHECK_OK(pc_queue_join(q));
        }
        CHECK_OK(pc_queue_shutdown(q, 0));  // again: harmless
        pc_queue_free(q);
    }
}

TEST(shutdown_immediate) {
    for (int i = 0; i < NSHAPES; i++) {
        const shape *s = &shapes[i];
        pc_queue *q = make(s);
        int rc, n = s->maxsize == 1 ? 1 : 3;
        for (int k = 0; k < n; k++) CHECK_OK(put_long(q, k, 0));
        CHECK_OK(pc_queue_shutdown(q, 1));
        CHECK(pc_queue_is_shutdown(q));
        CHECK_EQ(pc_queue_qsize(q), 0);     // drained
        CHECK(pc_queue_empty(q));
        get_long(q, 0, &rc);
        CHECK_RC(rc, PC_SHUTDOWN);
        get_long(q, PC_FOREVER, &rc);
        CHECK_RC(rc, PC_SHUTDOWN);
        CHECK_RC(put_long(q, 1, 0), PC_SHUTDOWN);
        if (s->kind != PC_QUEUE_SIMPLE) {
            CHECK_OK(pc_queue_join(q));     // the drained items count as done
            CHECK_RC(pc_queue_task_done(q), PC_VALUE);
        }
        pc_queue_free(q);
    }
}

// Immediate after a plain shutdown: the rest is discarded.
TEST(shutdown_upgrade) {
    pc_queue *q = make_kind(PC_QUEUE_FIFO, 10);
    int rc;
    for (int k = 0; k < 4; k++) CHECK_OK(put_long(q, k, 0));
    CHECK_OK(pc_queue_shutdown(q, 0));
    CHECK_EQ(get_long(q, 0, &rc), 0);
    CHECK_OK(pc_queue_shutdown(q, 1));
    CHECK_EQ(pc_queue_qsize(q), 0);
    get_long(q, 0, &rc);
    CHECK_RC(rc, PC_SHUTDOWN);
    CHECK_RC(pc_queue_join(q), PC_SHUTDOWN);    // the one got is not done
    CHECK_OK(pc_queue_task_done(q));
    CHECK_OK(pc_queue_join(q));
    CHECK_OK(pc_queue_shutdown(q, 0));          // no downgrade
    get_long(q, 0, &rc);
    CHECK_RC(rc, PC_SHUTDOWN);
    pc_queue_free(q);
}

// Blocked getters wake with PC_SHUTDOWN, immediate or not.
TEST(shutdown_wakes_getters) {
    for (int imm = 0; imm < 2; imm++) {
        for (int i = 0; i < NSHAPES; i++) {
            pc_queue *q = make(&shapes[i]);
            op g[3], sh;
            for (int k = 0; k < 3; k++) op_start(&g[k], q, 'g', 0, PC_FOREVER, 0);
            for (int k = 0; k < 3; k++) pc_event_wait(&g[k].started, PC_FOREVER);
            op_start(&sh, q, 's', imm, 0, 0.05);
            for (int k = 0; k < 3; k++) {
                op_join(&g[k]);
                CHECK_RC(g[k].rc, PC_SHUTDOWN);
            }
            op_join(&sh);
            CHECK_OK(sh.rc);
            pc_queue_free(q);
        }
    }
}

// Blocked putters on a full queue wake with PC_SHUTDOWN; with a plain
// shutdown the items already in are still got, then PC_SHUTDOWN.
TEST(shutdown_wakes_putters) {
    for (int imm = 0; imm < 2; imm++) {
        for (int i = 0; i < NSHAPES; i++) {
            const shape *s = &shapes[i];
            if (s->maxsize <= 0 || s->maxsize > 100) continue;
            pc_queue *q = make(s);
            int rc;
            for (long k = 0; k < s->maxsize; k++) CHECK_OK(put_long(q, k, 0));
            op p[2], sh;
            for (int k = 0; k < 2; k++) op_start(&p[k], q, 'p', 100 + k, PC_FOREVER, 0);
            for (int k = 0; k < 2; k++) pc_event_wait(&p[k].started, PC_FOREVER);
            op_start(&sh, q, 's', imm, 0, 0.05);
            for (int k = 0; k < 2; k++) {
                op_join(&p[k]);
                CHECK_RC(p[k].rc, PC_SHUTDOWN);
            }
            op_join(&sh);
            long left = 0;
            while (get_long(q, 0, &rc), rc == PC_OK) left++;
            CHECK_RC(rc, PC_SHUTDOWN);
            CHECK_EQ(left, imm ? 0 : s->maxsize);
            pc_queue_free(q);
        }
    }
}

// join(): a plain shutdown does not release it; an immediate one does.
TEST(shutdown_joiners) {
    pc_queue *q = make_kind(PC_QUEUE_FIFO, 10);
    int rc;
    for (int k = 0; k < 3; k++) CHECK_OK(put_long(q, k, 0));
    op j[2];
    for (int k = 0; k < 2; k++) op_start(&j[k], q, 'j', 0, PC_FOREVER, 0);
    for (int k = 0; k < 2; k++) pc_event_wait(&j[k].started, PC_FOREVER);
    CHECK_OK(pc_queue_shutdown(q, 0));
    CHECK_RC(pc_queue_join_timeout(q, 0.05), PC_TIMEOUT);
    // Still blocked (they had 50 ms to return wrongly).
    for (int k = 0; k < 2; k++) CHECK(pc_thread_is_alive(j[k].t));
    CHECK_OK(pc_queue_shutdown(q, 1));     // drains 3: all done
    for (int k = 0; k < 2; k++) {
        op_join(&j[k]);
        CHECK_OK(j[k].rc);
    }
    pc_queue_free(q);

    // An item got but never marked done: immediate still releases join,
    // which then says PC_SHUTDOWN.
    q = make_kind(PC_QUEUE_PRIORITY, 0);
    for (int k = 0; k < 3; k++) CHECK_OK(put_long(q, k, 0));
    get_long(q, 0, &rc);
    CHECK_OK(rc);
    for (int k = 0; k < 2; k++) op_start(&j[k], q, 'j', 0, PC_FOREVER, 0);
    for (int k = 0; k < 2; k++) pc_event_wait(&j[k].started, PC_FOREVER);
    op sh;
    op_start(&sh, q, 's', 1, 0, 0.05);
    for (int k = 0; k < 2; k++) {
        op_join(&j[k]);
        CHECK_RC(j[k].rc, PC_SHUTDOWN);
    }
    op_join(&sh);
    CHECK_OK(pc_queue_task_done(q));
    CHECK_OK(pc_queue_join(q));
    pc_queue_free(q);
}

// A join that looks while an immediate shutdown is still discarding the
// items left must not judge the tasks early: every item was either marked
// done or discarded, so join is PC_OK. The joiner polls join with timeout
// 0 to land inside the drain as often as it can.
struct join_race {
    pc_queue *q;
    pc_semaphore go, done;
    int stop, rc;
};

static int join_race_main(void *arg) {
    struct join_race *r = (struct join_race *)arg;
    for (;;) {
        pc_semaphore_acquire(&r->go, PC_FOREVER);
        if (__atomic_load_n(&r->stop, __ATOMIC_ACQUIRE)) return 0;
        int rc;
        while ((rc = pc_queue_join_timeout(r->q, 0)) == PC_TIMEOUT) {}
        r->rc = rc;
        pc_semaphore_release(&r->done, 1);
    }
}

TEST(join_races_immediate_shutdown) {
    struct join_race r;
    memset(&r, 0, sizeof r);
    pc_semaphore_init(&r.go, 0);
    pc_semaphore_init(&r.done, 0);
    pc_thread_desc td;
    memset(&td, 0, sizeof td);
    td.target = join_race_main;
    td.arg = &r;
    pc_thread *t = pc_thread_new(&td);
    CHECK(t && pc_thread_start(t) == PC_OK);
    int bad = 0, rounds = 0;
    double stop_at = pc_monotonic() + 3.0;
    for (int i = 0; i < 4000 && pc_monotonic() < stop_at; i++, rounds++) {
        const shape *s = &shapes[i % NSHAPES];
        if (s->kind == PC_QUEUE_SIMPLE) s = &shapes[0];
        r.q = make(s);
        long n = s->maxsize > 0 && s->maxsize < 64 ? s->maxsize : 64;
        for (long k = 0; k < n; k++) CHECK_OK(put_long(r.q, k, 0));
        int rc;
        get_long(r.q, 0, &rc);              // one got and marked done
        CHECK_OK(rc);
        CHECK_OK(pc_queue_task_done(r.q));
        pc_semaphore_release(&r.go, 1);
        CHECK_OK(pc_queue_shutdown(r.q, 1));
        pc_semaphore_acquire(&r.done, PC_FOREVER);
        if (r.rc != PC_OK) bad++;
        pc_queue_free(r.q);
    }
    __atomic_store_n(&r.stop, 1, __ATOMIC_RELEASE);
    pc_semaphore_release(&r.go, 1);
    CHECK_OK(pc_thread_join(t, PC_FOREVER));
    pc_thread_free(t);
    CHECK_MSG(bad == 0, "join said PC_SHUTDOWN in %d of %d rounds", bad, rounds);
}

// Python's test_shutdown_all_methods_in_one_thread.
TEST(shutdown_all_methods_one_thread) {
    for (int imm = 0; imm < 2; imm++) {
        pc_queue *q = make_kind(PC_QUEUE_FIFO, 2);
        int rc;
        CHECK_OK(put_long(q, 1, 0));
        CHECK_OK(put_long(q, 2, 0));
        CHECK_OK(pc_queue_shutdown(q, imm));
        CHECK_RC(put_long(q, 3, 0), PC_SHUTDOWN);
        CHECK_RC(put_long(q, 3, PC_FOREVER), PC_SHUTDOWN);
        CHECK_RC(put_long(q, 3, 0.1), PC_SHUTDOWN);
        if (imm) {
            get_long(q, 0, &rc);
            CHECK_RC(rc, PC_SHUTDOWN);
            CHECK_RC(pc_queue_task_done(q), PC_VALUE);
            CHECK_OK(pc_queue_join(q));
        } else {
            CHECK_EQ(get_long(q, 0, &rc), 1);
            CHECK_OK(pc_queue_task_done(q));
            CHECK_EQ(get_long(q, PC_FOREVER, &rc), 2);
            CHECK_OK(pc_queue_task_done(q));
            get_long(q, 0.1, &rc);
            CHECK_RC(rc, PC_SHUTDOWN);
            CHECK_RC(pc_queue_task_done(q), PC_VALUE);
            CHECK_OK(pc_queue_join(q));
        }
        pc_queue_free(q);
    }
}

// ---------------------------------------------------------------------------
// Priority: equal items leave in insertion order (beyond Python).
typedef struct pitem { int prio; int seq; } pitem;

static int cmp_prio(const void *a, const void *b, void *ctx) {
    int *calls = (int *)ctx;
    (*calls)++;
    return ((const pitem *)a)->prio - ((const pitem *)b)->prio;
}

TEST(priority_stable) {
    int calls = 0;
    pc_queue_desc d;
    memset(&d, 0, sizeof d);
    d.kind = PC_QUEUE_PRIORITY;
    d.item_size = sizeof(pitem);
    d.compare = cmp_prio;
    d.compare_ctx = &calls;
    pc_queue *q = pc_queue_new(&d);
    CHECK(q != NULL);
    unsigned rnd = 12345;
    int seq = 0, last_prio = -1, last_seq[8];
    for (int i = 0; i < 8; i++) last_seq[i] = -1;
    // Interleave puts and gets so the heap is reshaped often.
    for (int round = 0; round < 200; round++) {
        for (int k = 0; k < 7; k++) {
            rnd = rnd * 1103515245u + 12345u;
            pitem it = {(int)((rnd >> 16) % 8), seq++};
            CHECK_OK(pc_queue_put(q, &it, 0));
        }
        for (int k = 0; k < 5; k++) {
            pitem it;
            CHECK_OK(pc_queue_get(q, &it, 0));
            CHECK_MSG(it.seq > last_seq[it.prio], "prio %d: seq %d after %d", it.prio, it.seq,
                      last_seq[it.prio]);
            last_seq[it.prio] = it.seq;
        }
    }
    pitem it;
    while (pc_queue_get(q, &it, 0) == PC_OK) {  // the rest come out sorted
        CHECK(it.prio >= last_prio);
        if (it.prio == last_prio) CHECK(it.seq > last_seq[it.prio]);
        last_prio = it.prio;
        last_seq[it.prio] = it.seq;
    }
    CHECK(calls > 0);                           // compare_ctx reached the comparator
    pc_queue_free(q);
}

// Keyed orders: items of (payload, key) with the key at an offset, equal
// keys in insertion order, all four key types; NaN after every number.
typedef struct keyed {
    int32_t seq;
    int32_t k32;
    int64_t k64;
    double kd;
} keyed;

static void keyed_run(pc_queue_key key, size_t offset) {
    pc_queue_desc d;
    memset(&d, 0, sizeof d);
    d.kind = PC_QUEUE_PRIORITY;
    d.item_size = sizeof(keyed);
    d.key = key;
    d.key_offset = offset;
    pc_queue *q = pc_queue_new(&d);
    CHECK_MSG(q != NULL, "%s", pc_last_error());
    unsigned rnd = 777;
    for (int i = 0; i < 3000; i++) {
        rnd = rnd * 1103515245u + 12345u;
        int v = (int)((rnd >> 16) % 50) - 25;   // many equal keys, negatives too
        keyed it = {i, v, (int64_t)v * 1000000007LL, v * 0.5};
        if (key == PC_QUEUE_KEY_UINT64) it.k64 = (int64_t)((uint64_t)(v + 25) << 60 >> 4);
        if (key == PC_QUEUE_KEY_DOUBLE && i % 97 == 0) it.kd = NAN;
        CHECK_OK(pc_queue_put(q, &it, 0));
    }
    keyed prev, it;
    memset(&prev, 0, sizeof prev);
    int n = 0, nans = 0;
    while (pc_queue_get(q, &it, 0) == PC_OK) {
        if (n++) {
            int order;
            switch (key) {
            case PC_QUEUE_KEY_INT32: order = (it.k32 > prev.k32) - (it.k32 < prev.k32); break;
            case PC_QUEUE_KEY_INT64: order = (it.k64 > prev.k64) - (it.k64 < prev.k64); break;
            case PC_QUEUE_KEY_UINT64:
                order = ((uint64_t)it.k64 > (uint64_t)prev.k64) -
                        ((uint64_t)it.k64 < (uint64_t)prev.k64);
                break;
            default:
                if (isnan(it.kd) || isnan(prev.kd)) order = isnan(it.kd) - isnan(prev.kd);
                else order = (it.kd > prev.kd) - (it.kd < prev.kd);
                break;
            }
            CHECK_MSG(order > 0 || (order == 0 && it.seq > prev.seq),
                      "key %d: item %d came after %d out of order", (int)key, it.seq, prev.seq);
        }
        nans += isnan(it.kd);
        prev = it;
    }
    CHECK_EQ(n, 3000);
    if (key == PC_QUEUE_KEY_DOUBLE) CHECK_EQ(nans, 31);
    pc_queue_free(q);
}

TEST(priority_keyed_orders) {
    keyed_run(PC_QUEUE_KEY_INT32, offsetof(keyed, k32));
    keyed_run(PC_QUEUE_KEY_INT64, offsetof(keyed, k64));
    keyed_run(PC_QUEUE_KEY_UINT64, offsetof(keyed, k64));
    keyed_run(PC_QUEUE_KEY_DOUBLE, offsetof(keyed, kd));
}

// Items that are all key (an int by value) make a heap without insertion
// numbers: the order must still be right at the extremes, with duplicates.
// An int key with more bytes beside it keeps insertion order.
static pc_queue *keyed_queue(pc_queue_key key, size_t item_size) {
    pc_queue_desc d;
    memset(&d, 0, sizeof d);
    d.kind = PC_QUEUE_PRIORITY;
    d.item_size = item_size;
    d.key = key;
    return pc_queue_new(&d);
}

TEST(priority_items_that_are_keys) {
    static const int64_t edge[] = {INT64_MIN, INT64_MAX, 0, -1, 1, INT32_MIN, INT32_MAX};
    pc_queue *q32 = keyed_queue(PC_QUEUE_KEY_INT32, 4);
    pc_queue *q64 = keyed_queue(PC_QUEUE_KEY_INT64, 8);
    pc_queue *qu = keyed_queue(PC_QUEUE_KEY_UINT64, 8);
    CHECK(q32 && q64 && qu);
    unsigned rnd = 99;
    for (int i = 0; i < 4000; i++) {
        rnd = rnd * 1103515245u + 12345u;
        int64_t v = i < 7 ? edge[i] : (int64_t)(rnd >> 8) % 300 - 150;
        int32_t v32 = (int32_t)v;
        uint64_t vu = (uint64_t)v;
        CHECK_OK(pc_queue_put(q32, &v32, 0));
        CHECK_OK(pc_queue_put(q64, &v, 0));
        CHECK_OK(pc_queue_put(qu, &vu, 0));
    }
    int32_t p32 = INT32_MIN, g32;
    int64_t p64 = INT64_MIN, g64;
    uint64_t pu = 0, gu;
    for (int i = 0; i < 4000; i++) {
        CHECK_OK(pc_queue_get(q32, &g32, 0));
        CHECK_OK(pc_queue_get(q64, &g64, 0));
        CHECK_OK(pc_queue_get(qu, &gu, 0));
        CHECK_MSG(g32 >= p32 && g64 >= p64 && gu >= pu, "item %d out of order", i);
        p32 = g32;
        p64 = g64;
        pu = gu;
    }
    CHECK(p32 == INT32_MAX && p64 == INT64_MAX && pu == UINT64_MAX);
    CHECK_EQ(pc_queue_get(q32, &g32, 0), PC_EMPTY);
    pc_queue_free(q32);
    pc_queue_free(q64);
    pc_queue_free(qu);
    // {key, tag}: equal keys leave by tag, the order they came in.
    int32_t it[2], prev[2] = {INT32_MIN, -1};
    pc_queue *q = keyed_queue(PC_QUEUE_KEY_INT32, sizeof it);
    CHECK(q != NULL);
    for (int i = 0; i < 2000; i++) {
        it[0] = (i * 7919) % 5;
        it[1] = i;
        CHECK_OK(pc_queue_put(q, it, 0));
    }
    for (int i = 0; i < 2000; i++) {
        CHECK_OK(pc_queue_get(q, it, 0));
        CHECK(it[0] > prev[0] || (it[0] == prev[0] && it[1] > prev[1]));
        memcpy(prev, it, sizeof it);
    }
    pc_queue_free(q);
}

TEST(priority_keyed_bad_desc) {
    pc_queue_desc d;
    memset(&d, 0, sizeof d);
    d.kind = PC_QUEUE_PRIORITY;
    d.item_size = 12;
    CHECK(pc_queue_new(&d) == NULL);                    // neither compare nor key
    CHECK(strstr(pc_last_error(), "compare or desc.key") != NULL);
    d.key = PC_QUEUE_KEY_INT64;
    d.key_offset = 8;                                   // 8 bytes from 8: past 12
    CHECK(pc_queue_new(&d) == NULL);
    CHECK_EQ(pc_last_error_code(), PC_VALUE);
    d.key_offset = 13;
    CHECK(pc_queue_new(&d) == NULL);
    d.key_offset = 4;                                   // fits, unaligned: fine
    pc_queue *q = pc_queue_new(&d);
    CHECK(q != NULL);
    pc_queue_free(q);
    d.key = (pc_queue_key)9;
    CHECK(pc_queue_new(&d) == NULL);
    d.key = PC_QUEUE_KEY_INT32;
    d.kind = PC_QUEUE_FIFO;                             // a key orders PRIORITY only
    CHECK(pc_queue_new(&d) == NULL);
    CHECK(strstr(pc_last_error(), "PriorityQueue only") != NULL);
}

TEST(priority_sorts) {
    pc_queue *q = make_kind(PC_QUEUE_PRIORITY, 0);
    unsigned rnd = 7;
    for (int i = 0; i < 5000; i++) {
        rnd = rnd * 1103515245u + 12345u;
        CHECK_OK(put_long(q, (long)(rnd >> 8) % 1000, 0));
    }
    long prev = -1;
    int rc;
    for (int i = 0; i < 5000; i++) {
        long v = get_long(q, 0, &rc);
        CHECK_OK(rc);
        CHECK(v >= prev);
        prev = v;
    }
    pc_queue_free(q);
}

// ---------------------------------------------------------------------------
// Many producers, many consumers: every item arrives exactly once, and for
// FIFO kinds each producer's items arrive in the order it put them.
#define SP 4
#define SC 4
#define SN 5000

typedef struct stress {
    pc_queue *q;
    int use_shutdown;           // stop consumers with shutdown, else sentinels
    int fifo;
    long long sum[SC];
    long count[SC];
    int order_bad[SC];
    unsigned char *seen;        // one counter per item, bumped atomically
    int id_next;
} stress;

typedef struct sarg { stress *s; int id; } sarg;

static int stress_producer(void *arg) {
    sarg *a = (sarg *)arg;
    for (long i = 0; i < SN; i++) {
        long v = (long)a->id * SN + i;
        if (pc_queue_put(a->s->q, &v, PC_FOREVER) != PC_OK) return 1;
    }
    return 0;
}

static int stress_consumer(void *arg) {
    sarg *a = (sarg *)arg;
    stress *s = a->s;
    long last[SP];
    for (int p = 0; p < SP; p++) last[p] = -1;
    for (;;) {
        long v;
        int rc = pc_queue_get(s->q, &v, PC_FOREVER);
        if (rc == PC_SHUTDOWN && s->use_shutdown) return 0;
        if (rc != PC_OK) return 1;
        if (v < 0) return 0;
        s->sum[a->id] += v;
        s->count[a->id]++;
        __atomic_fetch_add(&s->seen[v], 1, __ATOMIC_RELAXED);
        long p = v / SN, i = v % SN;
        if (s->fifo && i <= last[p]) s->order_bad[a->id] = 1;
        last[p] = i;
    }
}

static void stress_run(const shape *sh, int use_shutdown) {
    stress s;
    memset(&s, 0, sizeof s);
    s.q = make(sh);
    s.use_shutdown = use_shutdown;
    s.fifo = sh->kind == PC_QUEUE_FIFO || sh->kind == PC_QUEUE_SIMPLE;
    s.seen = (unsigned char *)calloc(SP * SN, 1);
    sarg pa[SP], ca[SC];
    pc_thread *pt[SP], *ct[SC];
    for (int i = 0; i < SC; i++) {
        ca[i].s = &s;
        ca[i].id = i;
        ct[i] = pct_thread_started(stress_consumer, &ca[i]);
    }
    for (int i = 0; i < SP; i++) {
        pa[i].s = &s;
        pa[i].id = i;
        pt[i] = pct_thread_started(stress_producer, &pa[i]);
    }
    for (int i = 0; i < SP; i++) {
        CHECK_OK(pc_thread_join(pt[i], 60));
        CHECK_EQ(pc_thread_exitcode(pt[i]), 0);
        pc_thread_free(pt[i]);
    }
    if (use_shutdown) {
        CHECK_OK(pc_queue_shutdown(s.q, 0));
    } else {
        for (int i = 0; i < SC; i++) CHECK_OK(put_long(s.q, -1, PC_FOREVER));
    }
    long long sum = 0;
    long count = 0;
    for (int i = 0; i < SC; i++) {
        CHECK_OK(pc_thread_join(ct[i], 60));
        CHECK_MSG(pc_thread_exitcode(ct[i]) == 0, "%s: consumer %d failed", sh->name, i);
        pc_thread_free(ct[i]);
        sum += s.sum[i];
        count += s.count[i];
        CHECK_MSG(!s.order_bad[i], "%s: a producer's items arrived out of order", sh->name);
    }
    long long n = (long long)SP * SN;
    CHECK_MSG(count == n, "%s: %ld items arrived, %lld sent", sh->name, count, n);
    CHECK_MSG(sum == n * (n - 1) / 2, "%s: sum %lld", sh->name, sum);
    for (long long v = 0; v < n; v++)
        CHECK_MSG(s.seen[v] == 1, "%s: item %lld arrived %d times", sh->name, v, s.seen[v]);
    CHECK(pc_queue_empty(s.q));
    free(s.seen);
    pc_queue_free(s.q);
}

// Sentinels only where they come out last (FIFO kinds); shutdown elsewhere.
TEST(stress_mpmc) {
    for (int i = 0; i < NSHAPES; i++) {
        pc_queue_kind k = shapes[i].kind;
        int fifo = k == PC_QUEUE_FIFO || k == PC_QUEUE_SIMPLE;
        stress_run(&shapes[i], fifo ? i % 2 : 1);
    }
}

// Shut down (immediately) while producers and consumers are running:
// nothing crashes or hangs, every item is got at most once, and the
// counts of got and drained items never exceed what was put.
typedef struct race { pc_queue *q; long put, got; } race;

static int race_producer(void *arg) {
    race *r = (race *)arg;
    for (long i = 0;; i++) {
        int rc = pc_queue_put(r->q, &i, PC_FOREVER);
        if (rc == PC_SHUTDOWN) return 0;
        if (rc != PC_OK) return 1;
        r->put++;
    }
}

static int race_consumer(void *arg) {
    race *r = (race *)arg;
    for (;;) {
        long v;
        int rc = pc_queue_get(r->q, &v, PC_FOREVER);
        if (rc == PC_SHUTDOWN) return 0;
        if (rc != PC_OK) return 1;
        r->got++;
        pc_queue_task_done(r->q);
    }
}

TEST(shutdown_race) {
    for (int i = 0; i < NSHAPES; i++) {
        if (shapes[i].kind == PC_QUEUE_SIMPLE) continue;
        pc_queue *q = make(&shapes[i]);
        race rp[2], rc[2];
        pc_thread *t[4];
        for (int k = 0; k < 2; k++) {
            rp[k].q = rc[k].q = q;
            rp[k].put = rp[k].got = rc[k].put = rc[k].got = 0;
        }
        for (int k = 0; k < 2; k++) t[k] = pct_thread_started(race_producer, &rp[k]);
        for (int k = 0; k < 2; k++) t[2 + k] = pct_thread_started(race_consumer, &rc[k]);
        pc_sleep(0.02);         // let them run a while
        CHECK_OK(pc_queue_shutdown(q, 1));
        for (int k = 0; k < 4; k++) {
            CHECK_OK(pc_thread_join(t[k], 30));
            CHECK_EQ(pc_thread_exitcode(t[k]), 0);
            pc_thread_free(t[k]);
        }
        CHECK_EQ(pc_queue_qsize(q), 0);
        CHECK(rc[0].got + rc[1].got <= rp[0].put + rp[1].put);
        CHECK_OK(pc_queue_join_timeout(q, 10));    // drained + done = put
        pc_queue_free(q);
    }
}

// ---------------------------------------------------------------------------
// The example in the header's OVERVIEW, as written there.
static pc_queue *ov_q;

static int ov_worker(void *arg) {
    long item, *sum = (long *)arg;
    while (pc_queue_get(ov_q, &item, PC_FOREVER) == PC_OK) {
        *sum += item;
        pc_queue_task_done(ov_q);
    }
    return 0;
}

TEST(overview_example) {
    long sum = 0;
    pc_queue_desc qd;
    memset(&qd, 0, sizeof qd);
    qd.maxsize = 4;
    qd.item_size = sizeof(long);
    ov_q = pc_queue_new(&qd);
    pc_thread_desc td;
    memset(&td, 0, sizeof td);
    td.target = ov_worker;
    td.arg = &sum;
    pc_thread *t = pc_thread_new(&td);
    pc_thread_start(t);
    for (long i = 1; i <= 100; i++) pc_queue_put(ov_q, &i, PC_FOREVER);
    CHECK_OK(pc_queue_join(ov_q));
    pc_queue_shutdown(ov_q, 0);
    pc_thread_join(t, PC_FOREVER);
    pc_thread_free(t);
    pc_queue_free(ov_q);
    CHECK_EQ(sum, 5050);
}

// ---------------------------------------------------------------------------
// White-box: a sleeper that leaves on its own (timeout, or it found the
// queue ready after announcing itself) leaves its count in waiters. A
// program that polls get(q, tiny timeout) for hours piles up billions of
// those; the count must never wrap to 0 under a real sleeper, or the put
// that should wake it makes no call and the sleeper sleeps forever. The
// event count flushes a pile of PC__EVC_FLUSH stale counts when the next
// sleeper announces itself: that sleeper must still be woken, and the
// count be back near 0.
static void check_wrap(pc_queue *q, int what, uint32_t *waiters) {
    __atomic_store_n(waiters, PC__EVC_FLUSH, __ATOMIC_SEQ_CST);
    op o;
    op_start(&o, q, what, 5, PC_FOREVER, 0);
    // Wait until the sleeper has announced itself (the count moved).
    double t0 = pc_monotonic();
    while (__atomic_load_n(waiters, __ATOMIC_SEQ_CST) == PC__EVC_FLUSH) {
        CHECK_MSG(pc_monotonic() - t0 < 10, "'%c' never went to sleep", what);
        pc_sleep(0.001);
    }
    long v;
    switch (what) {
    case 'g': CHECK_OK(put_long(q, 9, 0)); break;           // wakes the getter
    case 'p': CHECK_OK(pc_queue_get(q, &v, 0)); break;      // makes room
    case 'j':                                               // finishes every task
        while (pc_queue_task_done(q) == PC_OK) {}
        break;
    }
    CHECK_MSG(pc_thread_join(o.t, 5) == PC_OK, "'%c' sleeper was never woken", what);
    pc_thread_free(o.t);
    CHECK_OK(o.rc);
    CHECK_MSG(__atomic_load_n(waiters, __ATOMIC_SEQ_CST) < 16, "'%c': %u counts left", what,
              __atomic_load_n(waiters, __ATOMIC_SEQ_CST));
}

TEST(waiters_count_wrap) {
    pc_queue *q = make_kind(PC_QUEUE_FIFO, 1);
    check_wrap(q, 'g', &q->w.not_empty.waiters);   // the getter took the item
    CHECK_OK(put_long(q, 1, 0));                     // full again
    check_wrap(q, 'p', &q->w.not_full.waiters);
    check_wrap(q, 'j', &q->w.all_done.waiters);
    pc_queue_free(q);
}

// A timed wait ends at its deadline even when the wait queue keeps waking
// it for nothing (the contract allows spurious wake-ups; the no-futex
// fallback broadcasts a whole bucket shared with other objects).
typedef struct bumper { uint32_t *ev; int stop; } bumper;

static int bump_main(void *arg) {
    bumper *b = (bumper *)arg;
    double end = pc_monotonic() + 3.0;
    // Mostly bare increments (a sleeper about to enter the kernel finds its
    // key stale), now and then a wake-up for one already asleep.
    for (unsigned i = 0; !__atomic_load_n(&b->stop, __ATOMIC_ACQUIRE); i++) {
        __atomic_fetch_add(b->ev, 1u, __ATOMIC_SEQ_CST);
        if (i % 256 == 0) {
            pc__futex_wake(b->ev, INT32_MAX, 0);
            if (pc_monotonic() > end) break;
        }
    }
    return 0;
}

static void check_deadline(pc_queue *q, int what, uint32_t *ev) {
    bumper b = {ev, 0};
    pc_thread *t = pct_thread_started(bump_main, &b);
    double t0 = pc_monotonic();
    long v = 1;
    int rc = what == 'g' ? pc_queue_get(q, &v, 0.1)
           : what == 'p' ? pc_queue_put(q, &v, 0.1) : pc_queue_join_timeout(q, 0.1);
    double took = pc_monotonic() - t0;
    __atomic_store_n(&b.stop, 1, __ATOMIC_RELEASE);
    CHECK_OK(pc_thread_join(t, 30));
    pc_thread_free(t);
    CHECK_RC(rc, what == 'g' ? PC_EMPTY : what == 'p' ? PC_FULL : PC_TIMEOUT);
    CHECK_MSG(took >= 0.06 && took < 1.0, "'%c' with timeout 0.1 took %.3f s", what, took);
}

TEST(deadline_spurious_wakeups) {
    for (int i = 0; i < NSHAPES; i++) {
        const shape *s = &shapes[i];
        if (i != 0 && i != 2 && i != 4 && i != 7) continue;    // ring, list (both), heap
        pc_queue *q = make(s);
        check_deadline(q, 'g', &q->w.not_empty.seq);
        if (s->maxsize > 0 && s->maxsize < 100) {
            for (long k = 0; k < s->maxsize; k++) CHECK_OK(put_long(q, k, 0));
            check_deadline(q, 'p', &q->w.not_full.seq);
        } else {
            CHECK_OK(put_long(q, 1, 0));
        }
        if (s->kind != PC_QUEUE_SIMPLE) check_deadline(q, 'j', &q->w.all_done.seq);
        pc_queue_free(q);
    }
}

// Full and Empty are exact on the ring: once qsize() shows a free slot
// (a getter has claimed one, though it may still be copying it out),
// put_nowait must not say PC_FULL; once it shows an item (a putter has
// claimed a slot, maybe still copying in), get_nowait must not say
// PC_EMPTY. The other side runs flat out so claims and copies overlap.
#define EXACT_N 50000

static int exact_getter(void *arg) {
    pc_queue *q = (pc_queue *)arg;
    long v;
    for (long i = 0; i < EXACT_N; i++)
        if (pc_queue_get(q, &v, PC_FOREVER) != PC_OK || v != i) return 1;
    return 0;
}

static int exact_putter(void *arg) {
    pc_queue *q = (pc_queue *)arg;
    for (long i = 0; i < EXACT_N; i++)
        if (pc_queue_put(q, &i, PC_FOREVER) != PC_OK) return 1;
    return 0;
}

TEST(full_empty_exact) {
    pc_queue *q = make_kind(PC_QUEUE_FIFO, 2);
    pc_thread *t = pct_thread_started(exact_getter, q);
    long bad = 0;
    for (long i = 0; i < EXACT_N; i++) {
        while (pc_queue_qsize(q) >= 2) pc__cpu_relax();
        if (pc_queue_put_nowait(q, &i) != PC_OK) {
            bad++;
            CHECK_OK(pc_queue_put(q, &i, PC_FOREVER));
        }
    }
    CHECK_OK(pc_thread_join(t, 60));
    CHECK_EQ(pc_thread_exitcode(t), 0);
    pc_thread_free(t);
    CHECK_MSG(bad == 0, "put_nowait said Full %ld times with a slot free", bad);

    t = pct_thread_started(exact_putter, q);
    for (long i = 0; i < EXACT_N; i++) {
        long v = -1;
        while (pc_queue_qsize(q) == 0) pc__cpu_relax();
        if (pc_queue_get_nowait(q, &v) != PC_OK) {
            bad++;
            CHECK_OK(pc_queue_get(q, &v, PC_FOREVER));
        }
        CHECK_EQ(v, i);
    }
    CHECK_OK(pc_thread_join(t, 60));
    CHECK_EQ(pc_thread_exitcode(t), 0);
    pc_thread_free(t);
    CHECK_MSG(bad == 0, "get_nowait said Empty %ld times with an item in", bad);
    pc_queue_free(q);
}

// The comparator is handed pointers into the heap: each must be aligned as
// the item type needs (here 16 bytes, the alignment of long double or
// __int128 on x86-64; a misaligned one is undefined behaviour, and a crash
// with SSE loads).
typedef struct wide { _Alignas(16) long long key; long long tag; } wide;

static int cmp_wide(const void *a, const void *b, void *ctx) {
    long *misaligned = (long *)ctx;
    if ((uintptr_t)a % _Alignof(wide) || (uintptr_t)b % _Alignof(wide)) (*misaligned)++;
    wide x, y;
    memcpy(&x, a, sizeof x);
    memcpy(&y, b, sizeof y);
    return (x.key > y.key) - (x.key < y.key);
}

TEST(priority_aligned_items) {
    long misaligned = 0;
    pc_queue_desc d;
    memset(&d, 0, sizeof d);
    d.kind = PC_QUEUE_PRIORITY;
    d.item_size = sizeof(wide);
    d.compare = cmp_wide;
    d.compare_ctx = &misaligned;
    pc_queue *q = pc_queue_new(&d);
    CHECK(q != NULL);
    for (long long i = 0; i < 100; i++) {
        wide w = {(i * 37) % 100, i};
        CHECK_OK(pc_queue_put(q, &w, 0));
    }
    for (long long i = 0; i < 100; i++) {
        wide w;
        CHECK_OK(pc_queue_get(q, &w, 0));
        CHECK_EQ(w.key, i);
    }
    CHECK_MSG(misaligned == 0, "comparator got %ld misaligned items", misaligned);
    pc_queue_free(q);
}

// LIFO and PRIORITY keep an array that grows as items arrive: filled to a
// bound that is no power of two (nor a multiple of the first room), it
// holds exactly maxsize items and gives every one back in order.
TEST(locked_grows_to_bound) {
    static const long bounds[] = {1, 2, 63, 64, 65, 100, 129, 1000};
    for (int k = 0; k < 2; k++) {
        pc_queue_kind kind = k ? PC_QUEUE_PRIORITY : PC_QUEUE_LIFO;
        for (size_t b = 0; b < sizeof bounds / sizeof bounds[0]; b++) {
            long n = bounds[b];
            pc_queue *q = make_kind(kind, n);
            for (long i = 0; i < n; i++)
                CHECK_OK(put_long(q, kind == PC_QUEUE_LIFO ? i : n - i, 0));
            CHECK(pc_queue_full(q));
            CHECK_RC(put_long(q, -1, 0), PC_FULL);
            int rc;
            for (long i = 0; i < n; i++) {
                long want = kind == PC_QUEUE_LIFO ? n - 1 - i : i + 1;
                CHECK_EQ(get_long(q, 0, &rc), want);
                CHECK_OK(rc);
            }
            CHECK(pc_queue_empty(q));
            pc_queue_free(q);
        }
    }
}

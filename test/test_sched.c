/* Tests of pyconc_sched.h: the behaviours of CPython's test_sched.py, on
   fake clocks where the exact order matters, plus the wake-up on an earlier
   event (of every sleeping run(), from an endless sleep too), action and
   delayfunc errors, handles after the event, bad input and broken clocks,
   out of memory, heap order after cancels, and a many-thread stress run. */
// pc__malloc goes through test_malloc, which the out-of-memory case makes
// fail on request. No #include may come before the header (it sets the
// feature macros), hence the compiler's own name for size_t.
static void *test_malloc(__SIZE_TYPE__ n);
#define PYCONC_MALLOC(n) test_malloc(n)
#define PYCONC_FREE(p) free(p)

#define PYCONC_IMPLEMENTATION
#define PYCONC_SCHED_IMPLEMENTATION
#include "pyconc_sched.h"

// Allocations left before test_malloc fails (-1: never); every case but
// the out-of-memory one leaves it at -1.
static long malloc_budget = -1;
static void *test_malloc(size_t n) {
    long b = __atomic_load_n(&malloc_budget, __ATOMIC_RELAXED);
    if (b == 0) return NULL;
    if (b > 0) __atomic_store_n(&malloc_budget, b - 1, __ATOMIC_RELAXED);
    return malloc(n);
}

#include <math.h>
#include <stdint.h>

#include "pc_test.h"

// >>helpers
// What the actions saw, in order. Actions may run on a runner thread, so
// the log has its own lock; the test reads it after joining.
typedef struct log_t {
    pc_lock lock;
    int n;
    long items[256];
} log_t;

static log_t the_log;

static void log_reset(void) { memset(&the_log, 0, sizeof the_log); }

static int log_action(void *arg) {
    pc_lock_acquire(&the_log.lock, PC_FOREVER);
    if (the_log.n < 256) the_log.items[the_log.n++] = (long)(intptr_t)arg;
    pc_lock_release(&the_log.lock);
    return 0;
}

static void check_log(const long *want, int n) {
    CHECK_EQ(the_log.n, n);
    for (int i = 0; i < n; i++) CHECK_MSG(the_log.items[i] == want[i],
                                          "item %d: got %ld, want %ld", i,
                                          the_log.items[i], want[i]);
}

#define ARG(x) ((void *)(intptr_t)(x))

// A clock that only moves when the delayfunc asks it to: each delay d
// advances it by d and is recorded, so run()'s calls can be checked exactly.
typedef struct step_clock {
    double now;
    int ndelays;
    double delays[64];
} step_clock;

static double step_time(void *ctx) { return ((step_clock *)ctx)->now; }

static int step_delay(void *ctx, double d) {
    step_clock *c = (step_clock *)ctx;
    if (c->ndelays < 64) c->delays[c->ndelays++] = d;
    c->now += d;
    return 0;
}

static pc_scheduler *step_scheduler(step_clock *c) {
    pc_scheduler_desc d;
    memset(&d, 0, sizeof d);
    d.timefunc = step_time;
    d.delayfunc = step_delay;
    d.ctx = c;
    pc_scheduler *s = pc_scheduler_new(&d);
    CHECK(s != NULL);
    return s;
}

// CPython's test Timer: time stands still until the test advances the
// limit; sleep(t) moves time up to that limit and waits there for more.
typedef struct fake_timer {
    pc_condition cond;
    double time, stop;
    int waiting;                // sleep() calls waiting for the limit to move
} fake_timer;

static double timer_time(void *ctx) {
    fake_timer *t = (fake_timer *)ctx;
    pc_condition_acquire(&t->cond, PC_FOREVER);
    double now = t->time;
    pc_condition_release(&t->cond);
    return now;
}

static int timer_sleep(void *ctx, double d) {
    fake_timer *t = (fake_timer *)ctx;
    pc_condition_acquire(&t->cond, PC_FOREVER);
    double target = t->time + d;
    while (t->stop < target) {
        t->time = t->stop;
        t->waiting++;
        pc_condition_notify_all(&t->cond);     // for timer_wait_sleeper
        pc_condition_wait(&t->cond, PC_FOREVER);
        t->waiting--;
    }
    t->time = target;
    pc_condition_release(&t->cond);
    return 0;
}

// Wait until some sleep() is blocked on the limit.
static int timer_wait_sleeper(fake_timer *t, double timeout) {
    double deadline = pc_monotonic() + timeout;
    pc_condition_acquire(&t->cond, PC_FOREVER);
    while (t->waiting == 0 && pc_monotonic() < deadline)
        pc_condition_wait(&t->cond, deadline - pc_monotonic());
    int rc = t->waiting ? PC_OK : PC_TIMEOUT;
    pc_condition_release(&t->cond);
    return rc;
}

static void timer_advance(fake_timer *t, double d) {
    pc_condition_acquire(&t->cond, PC_FOREVER);
    t->stop += d;
    pc_condition_notify_all(&t->cond);
    pc_condition_release(&t->cond);
}

// A tiny blocking int queue (Python's queue.Queue in the CPython tests).
typedef struct int_queue {
    pc_condition cond;
    int head, tail;
    long items[64];
} int_queue;

static int_queue results;

static int queue_put_action(void *arg) {
    pc_condition_acquire(&results.cond, PC_FOREVER);
    results.items[results.tail++ % 64] = (long)(intptr_t)arg;
    pc_condition_notify_all(&results.cond);
    pc_condition_release(&results.cond);
    return 0;
}

// Get one item, waiting at most timeout; -1 if none came.
static long queue_get(double timeout) {
    long v = -1;
    double deadline = pc_monotonic() + timeout;
    pc_condition_acquire(&results.cond, PC_FOREVER);
    while (results.head == results.tail) {
        double left = deadline - pc_monotonic();
        if (left <= 0) break;
        pc_condition_wait(&results.cond, left);
    }
    if (results.head != results.tail) v = results.items[results.head++ % 64];
    pc_condition_release(&results.cond);
    return v;
}

static int queue_is_empty(void) {
    pc_condition_acquire(&results.cond, PC_FOREVER);
    int empty = results.head == results.tail;
    pc_condition_release(&results.cond);
    return empty;
}

static void queue_reset(void) {
    memset(&results, 0, sizeof results);
    pc_condition_init(&results.cond);
}

static fake_timer *timer_new(void) {
    fake_timer *t = (fake_timer *)calloc(1, sizeof *t);
    pc_condition_init(&t->cond);
    return t;
}

static pc_scheduler *timer_scheduler(fake_timer *t) {
    pc_scheduler_desc d;
    memset(&d, 0, sizeof d);
    d.timefunc = timer_time;
    d.delayfunc = timer_sleep;
    d.ctx = t;
    pc_scheduler *s = pc_scheduler_new(&d);
    CHECK(s != NULL);
    return s;
}

// A thread that runs pc_scheduler_run(s, blocking) and keeps its result.
typedef struct runner {
    pc_scheduler *s;
    int rc;
    double next;
    pc_thread *t;
} runner;

static int runner_main(void *arg) {
    runner *r = (runner *)arg;
    r->rc = pc_scheduler_run(r->s, 1, &r->next);
    return 0;
}

static void runner_start(runner *r, pc_scheduler *s) {
    r->s = s;
    r->rc = -1;
    r->t = pc_thread_new(&(pc_thread_desc){.target = runner_main, .arg = r});
    CHECK(r->t != NULL);
    CHECK_OK(pc_thread_start(r->t));
}

static void runner_join(runner *r, double timeout) {
    CHECK_OK(pc_thread_join(r->t, timeout));
    pc_thread_free(r->t);
}

// >>python: the cases of CPython's test_sched.py

TEST(enter) {
    // Real clock, the default delayfunc: five events 10..50 ms away.
    log_reset();
    pc_scheduler *s = pc_scheduler_new(NULL);
    CHECK(s != NULL);
    for (int x = 5; x >= 1; x--)
        CHECK_OK(pc_scheduler_enter(s, 0.01 * x, 1, log_action, ARG(x), NULL));
    double t0 = pc_monotonic();
    CHECK_OK(pc_scheduler_run(s, 1, NULL));
    double took = pc_monotonic() - t0;
    long want[] = {1, 2, 3, 4, 5};
    check_log(want, 5);
    CHECK_MSG(took >= 0.05 * 0.6 && took < 0.05 * 10, "run took %.3f s", took);
    CHECK(pc_scheduler_empty(s));
    pc_scheduler_free(s);
}

TEST(enterabs) {
    step_clock c = {0, 0, {0}};
    pc_scheduler *s = step_scheduler(&c);
    log_reset();
    for (int x = 5; x >= 1; x--)
        CHECK_OK(pc_scheduler_enterabs(s, 0.01 * x, 1, log_action, ARG(x), NULL));
    CHECK_OK(pc_scheduler_run(s, 1, NULL));
    long want[] = {1, 2, 3, 4, 5};
    check_log(want, 5);
    pc_scheduler_free(s);
}

TEST(enter_uses_timefunc) {
    step_clock c = {100, 0, {0}};
    pc_scheduler *s = step_scheduler(&c);
    pc_scheduler_entry e;
    CHECK_OK(pc_scheduler_enter(s, 2.5, 0, log_action, ARG(1), NULL));
    CHECK_EQ(pc_scheduler_queue(s, &e, 1), 1);
    CHECK(e.time == 102.5);
    pc_scheduler_free(s);
}

// The functions a scheduler was made with read back; the defaults read NULL.
TEST(desc_reads_back) {
    step_clock c = {100, 0, {0}};
    pc_scheduler *s = step_scheduler(&c);
    pc_scheduler_desc d = pc_scheduler_get_desc(s);
    CHECK(d.timefunc == step_time);
    CHECK(d.delayfunc == step_delay);
    CHECK(d.ctx == &c);
    pc_scheduler_free(s);
    s = pc_scheduler_new(NULL);
    CHECK(s != NULL);
    d = pc_scheduler_get_desc(s);
    CHECK(d.timefunc == NULL && d.delayfunc == NULL && d.ctx == NULL);
    pc_scheduler_free(s);
    d = pc_scheduler_get_desc(NULL);
    CHECK(d.timefunc == NULL && d.delayfunc == NULL);
    CHECK_EQ(pc_last_error_code(), PC_VALUE);
}

TEST(enter_concurrent) {
    fake_timer *tm = timer_new();
    pc_scheduler *s = timer_scheduler(tm);
    queue_reset();
    CHECK_OK(pc_scheduler_enter(s, 1, 1, queue_put_action, ARG(1), NULL));
    CHECK_OK(pc_scheduler_enter(s, 3, 1, queue_put_action, ARG(3), NULL));
    runner r;
    runner_start(&r, s);
    timer_advance(tm, 1);
    CHECK_EQ(queue_get(10), 1);
    CHECK(queue_is_empty());
    int later[] = {4, 5, 2};
    for (int i = 0; i < 3; i++)
        CHECK_OK(pc_scheduler_enter(s, later[i] - 1, 1, queue_put_action, ARG(later[i]), NULL));
    timer_advance(tm, 2);
    CHECK_EQ(queue_get(10), 2);
    CHECK_EQ(queue_get(10), 3);
    CHECK(queue_is_empty());
    timer_advance(tm, 1);
    CHECK_EQ(queue_get(10), 4);
    CHECK(queue_is_empty());
    timer_advance(tm, 1);
    CHECK_EQ(queue_get(10), 5);
    CHECK(queue_is_empty());
    timer_advance(tm, 1000);
    runner_join(&r, 10);
    CHECK_OK(r.rc);
    CHECK(r.next == INFINITY);
    CHECK(queue_is_empty());
    CHECK(timer_time(tm) == 5);
    pc_scheduler_free(s);
    free(tm);
}

TEST(priority) {
    static const int cases[4][2][5] = {
        {{1, 2, 3, 4, 5}, {1, 2, 3, 4, 5}},
        {{5, 4, 3, 2, 1}, {1, 2, 3, 4, 5}},
        {{2, 5, 3, 1, 4}, {1, 2, 3, 4, 5}},
        {{1, 2, 3, 2, 1}, {1, 1, 2, 2, 3}},
    };
    step_clock c = {0, 0, {0}};
    pc_scheduler *s = step_scheduler(&c);
    for (int k = 0; k < 4; k++) {
        log_reset();
        for (int i = 0; i < 5; i++)
            CHECK_OK(pc_scheduler_enterabs(s, 0.01, cases[k][0][i], log_action,
                                           ARG(cases[k][0][i]), NULL));
        CHECK_OK(pc_scheduler_run(s, 1, NULL));
        long want[5];
        for (int i = 0; i < 5; i++) want[i] = cases[k][1][i];
        check_log(want, 5);
        CHECK(pc_scheduler_empty(s));
    }
    pc_scheduler_free(s);
}

TEST(same_time_and_priority_run_in_entry_order) {
    step_clock c = {0, 0, {0}};
    pc_scheduler *s = step_scheduler(&c);
    log_reset();
    for (int i = 0; i < 100; i++)
        CHECK_OK(pc_scheduler_enterabs(s, 1.0, 7, log_action, ARG(i), NULL));
    CHECK_OK(pc_scheduler_run(s, 1, NULL));
    CHECK_EQ(the_log.n, 100);
    for (int i = 0; i < 100; i++) CHECK_EQ(the_log.items[i], i);
    pc_scheduler_free(s);
}

TEST(cancel) {
    step_clock c = {0, 0, {0}};
    pc_scheduler *s = step_scheduler(&c);
    pc_scheduler_event ev[5];
    log_reset();
    for (int i = 0; i < 5; i++)
        CHECK_OK(pc_scheduler_enterabs(s, 0.01 * (i + 1), 1, log_action, ARG(i + 1), &ev[i]));
    CHECK_OK(pc_scheduler_cancel(s, ev[0]));
    CHECK_OK(pc_scheduler_cancel(s, ev[4]));
    CHECK_OK(pc_scheduler_run(s, 1, NULL));
    long want[] = {2, 3, 4};
    check_log(want, 3);
    pc_scheduler_free(s);
}

TEST(cancel_concurrent) {
    fake_timer *tm = timer_new();
    pc_scheduler *s = timer_scheduler(tm);
    pc_scheduler_event e[6];
    queue_reset();
    double now = timer_time(tm);
    int order[] = {1, 2, 4, 5, 3};
    for (int i = 0; i < 5; i++)
        CHECK_OK(pc_scheduler_enterabs(s, now + order[i], 1, queue_put_action,
                                       ARG(order[i]), &e[order[i]]));
    runner r;
    runner_start(&r, s);
    timer_advance(tm, 1);
    CHECK_EQ(queue_get(10), 1);
    CHECK(queue_is_empty());
    CHECK_OK(pc_scheduler_cancel(s, e[2]));
    CHECK_OK(pc_scheduler_cancel(s, e[5]));
    timer_advance(tm, 1);
    CHECK(queue_is_empty());
    timer_advance(tm, 1);
    CHECK_EQ(queue_get(10), 3);
    CHECK(queue_is_empty());
    timer_advance(tm, 1);
    CHECK_EQ(queue_get(10), 4);
    CHECK(queue_is_empty());
    timer_advance(tm, 1000);
    runner_join(&r, 10);
    CHECK_OK(r.rc);
    CHECK(queue_is_empty());
    CHECK(timer_time(tm) == 4);
    pc_scheduler_free(s);
    free(tm);
}

TEST(cancel_correct_event) {
    // Three events equal in time and priority: cancel removes the one named.
    step_clock c = {0, 0, {0}};
    pc_scheduler *s = step_scheduler(&c);
    pc_scheduler_event b;
    log_reset();
    CHECK_OK(pc_scheduler_enterabs(s, 1, 1, log_action, ARG('a'), NULL));
    CHECK_OK(pc_scheduler_enterabs(s, 1, 1, log_action, ARG('b'), &b));
    CHECK_OK(pc_scheduler_enterabs(s, 1, 1, log_action, ARG('c'), NULL));
    CHECK_OK(pc_scheduler_cancel(s, b));
    CHECK_OK(pc_scheduler_run(s, 1, NULL));
    long want[] = {'a', 'c'};
    check_log(want, 2);
    pc_scheduler_free(s);
}

TEST(empty) {
    step_clock c = {0, 0, {0}};
    pc_scheduler *s = step_scheduler(&c);
    log_reset();
    CHECK(pc_scheduler_empty(s));
    for (int x = 5; x >= 1; x--)
        CHECK_OK(pc_scheduler_enterabs(s, 0.01 * x, 1, log_action, ARG(x), NULL));
    CHECK(!pc_scheduler_empty(s));
    CHECK_OK(pc_scheduler_run(s, 1, NULL));
    CHECK(pc_scheduler_empty(s));
    pc_scheduler_free(s);
}

TEST(queue) {
    step_clock c = {0, 0, {0}};
    pc_scheduler *s = step_scheduler(&c);
    pc_scheduler_event e[6];
    int order[] = {5, 1, 2, 4, 3};
    for (int i = 0; i < 5; i++)
        CHECK_OK(pc_scheduler_enterabs(s, 0.01 * order[i], 1, log_action, ARG(order[i] * 10),
                                       &e[order[i]]));
    pc_scheduler_entry q[8];
    CHECK_EQ(pc_scheduler_queue(s, q, 8), 5);
    for (int i = 0; i < 5; i++) {
        CHECK(q[i].event == e[i + 1]);
        CHECK(q[i].time == 0.01 * (i + 1));
        CHECK_EQ(q[i].priority, 1);
        CHECK(q[i].action == log_action);
        CHECK_EQ((intptr_t)q[i].arg, (i + 1) * 10);
    }
    CHECK_EQ(q[0].sequence, 1);     // e1 was the second entered
    // A short buffer gets the earliest events, still in run order.
    CHECK_EQ(pc_scheduler_queue(s, q, 2), 5);
    CHECK(q[0].event == e[1] && q[1].event == e[2]);
    CHECK_EQ(pc_scheduler_queue(s, NULL, 0), 5);
    CHECK_EQ(pc_scheduler_queue(s, NULL, 3), 5);
    // It is a copy: the queue is unchanged.
    CHECK_OK(pc_scheduler_cancel(s, e[1]));
    CHECK_EQ(pc_scheduler_queue(s, q, 8), 4);
    CHECK(q[0].event == e[2]);
    pc_scheduler_free(s);
}

TEST(queue_ties_in_run_order) {
    step_clock c = {0, 0, {0}};
    pc_scheduler *s = step_scheduler(&c);
    pc_scheduler_event e[40];
    for (int i = 0; i < 40; i++)
        CHECK_OK(pc_scheduler_enterabs(s, (double)(i % 3), i % 2, log_action, ARG(i), &e[i]));
    pc_scheduler_entry q[40], few[7];
    CHECK_EQ(pc_scheduler_queue(s, q, 40), 40);
    CHECK_EQ(pc_scheduler_queue(s, few, 7), 40);
    for (int i = 0; i < 7; i++) CHECK(few[i].event == q[i].event);
    log_reset();
    CHECK_OK(pc_scheduler_run(s, 1, NULL));
    CHECK_EQ(the_log.n, 40);
    for (int i = 0; i < 40; i++) CHECK_EQ(the_log.items[i], (intptr_t)q[i].arg);
    pc_scheduler_free(s);
}

// Python passes argument/kwargs; C passes one pointer: each event gets its own.
typedef struct pair { int a, b; } pair;
static int pair_seen[4];

static int pair_action(void *arg) {
    pair *p = (pair *)arg;
    pair_seen[p->a] = p->b;
    return 0;
}

static int null_arg_action(void *arg) {
    pair_seen[0] = arg == NULL ? 99 : -1;
    return 0;
}

TEST(args) {
    step_clock c = {0, 0, {0}};
    pc_scheduler *s = step_scheduler(&c);
    pair p1 = {1, 11}, p2 = {2, 22}, p3 = {3, 33};
    CHECK_OK(pc_scheduler_enterabs(s, 0, 1, null_arg_action, NULL, NULL));
    CHECK_OK(pc_scheduler_enterabs(s, 0, 1, pair_action, &p1, NULL));
    CHECK_OK(pc_scheduler_enterabs(s, 0, 1, pair_action, &p2, NULL));
    CHECK_OK(pc_scheduler_enterabs(s, 0, 1, pair_action, &p3, NULL));
    CHECK_OK(pc_scheduler_run(s, 1, NULL));
    CHECK_EQ(pair_seen[0], 99);
    CHECK_EQ(pair_seen[1], 11);
    CHECK_EQ(pair_seen[2], 22);
    CHECK_EQ(pair_seen[3], 33);
    pc_scheduler_free(s);
}

TEST(run_non_blocking) {
    // Real clock: events 6..10 s away; nothing runs, the next delay comes back.
    pc_scheduler *s = pc_scheduler_new(NULL);
    log_reset();
    for (int x = 10; x >= 6; x--)
        CHECK_OK(pc_scheduler_enter(s, x, 1, log_action, ARG(x), NULL));
    double next = -1;
    CHECK_OK(pc_scheduler_run(s, 0, &next));
    CHECK_EQ(the_log.n, 0);
    CHECK_MSG(next > 6 * 0.6 && next <= 6, "next delay %f", next);
    CHECK_EQ(pc_scheduler_queue(s, NULL, 0), 5);
    pc_scheduler_free(s);
}

TEST(run_non_blocking_runs_what_is_due) {
    step_clock c = {10, 0, {0}};
    pc_scheduler *s = step_scheduler(&c);
    log_reset();
    CHECK_OK(pc_scheduler_enterabs(s, 12, 1, log_action, ARG(12), NULL));
    CHECK_OK(pc_scheduler_enterabs(s, 9, 1, log_action, ARG(9), NULL));
    CHECK_OK(pc_scheduler_enterabs(s, 10, 1, log_action, ARG(10), NULL));
    double next = -1;
    CHECK_OK(pc_scheduler_run(s, 0, &next));
    long want[] = {9, 10};
    check_log(want, 2);
    CHECK(next == 2);
    // Only the delayfunc(0) after each event: no waiting.
    CHECK_EQ(c.ndelays, 2);
    CHECK(c.delays[0] == 0 && c.delays[1] == 0);
    c.now = 12;
    CHECK_OK(pc_scheduler_run(s, 0, &next));
    CHECK(next == INFINITY);        // Python's None: nothing left
    CHECK(pc_scheduler_empty(s));
    pc_scheduler_free(s);
}

TEST(run_empty_returns_at_once) {
    pc_scheduler *s = pc_scheduler_new(NULL);
    double next = 0;
    CHECK_OK(pc_scheduler_run(s, 1, &next));
    CHECK(next == INFINITY);
    CHECK_OK(pc_scheduler_run(s, 0, NULL));
    pc_scheduler_free(s);
}

TEST(delayfunc_zero_after_each_event) {
    // Python's exact calls: wait for the first, 0 after it, wait, 0.
    step_clock c = {0, 0, {0}};
    pc_scheduler *s = step_scheduler(&c);
    log_reset();
    CHECK_OK(pc_scheduler_enterabs(s, 2, 1, log_action, ARG(2), NULL));
    CHECK_OK(pc_scheduler_enterabs(s, 1, 1, log_action, ARG(1), NULL));
    CHECK_OK(pc_scheduler_run(s, 1, NULL));
    CHECK_EQ(c.ndelays, 4);
    CHECK(c.delays[0] == 1 && c.delays[1] == 0 && c.delays[2] == 1 && c.delays[3] == 0);
    long want[] = {1, 2};
    check_log(want, 2);
    pc_scheduler_free(s);
}

// >>errors: an action or delayfunc that raises

static int failing_action(void *arg) {
    (void)arg;
    return pc_raise(PC_RUNTIME, "action %d failed", 7);
}

static int code_action(void *arg) { return (int)(intptr_t)arg; }

TEST(action_error_leaves_scheduler_consistent) {
    step_clock c = {0, 0, {0}};
    pc_scheduler *s = step_scheduler(&c);
    log_reset();
    pc_scheduler_event bad;
    CHECK_OK(pc_scheduler_enterabs(s, 1, 1, log_action, ARG(1), NULL));
    CHECK_OK(pc_scheduler_enterabs(s, 2, 1, failing_action, NULL, &bad));
    CHECK_OK(pc_scheduler_enterabs(s, 3, 1, log_action, ARG(3), NULL));
    CHECK_OK(pc_scheduler_enterabs(s, 4, 1, log_action, ARG(4), NULL));
    CHECK_RC(pc_scheduler_run(s, 1, NULL), PC_RUNTIME);
    CHECK_MSG(strcmp(pc_last_error(), "action 7 failed") == 0, "%s", pc_last_error());
    long want1[] = {1};
    check_log(want1, 1);
    // The raising event is gone, the rest wait for the next run().
    CHECK_EQ(pc_scheduler_queue(s, NULL, 0), 2);
    CHECK_RC(pc_scheduler_cancel(s, bad), PC_VALUE);
    CHECK(c.now == 2);
    CHECK_OK(pc_scheduler_run(s, 1, NULL));
    long want2[] = {1, 3, 4};
    check_log(want2, 3);
    pc_scheduler_free(s);
}

TEST(action_error_code_passes_through) {
    step_clock c = {1, 0, {0}};
    pc_scheduler *s = step_scheduler(&c);
    log_reset();
    CHECK_OK(pc_scheduler_enterabs(s, 1, 1, code_action, ARG(42), NULL));
    CHECK_OK(pc_scheduler_enterabs(s, 1, 2, log_action, ARG(5), NULL));
    double next = 123;
    CHECK_EQ(pc_scheduler_run(s, 0, &next), 42);
    CHECK(next == 123);             // not written on error
    CHECK(strstr(pc_last_error(), "42") != NULL);
    CHECK_EQ(the_log.n, 0);
    CHECK_OK(pc_scheduler_run(s, 0, &next));
    CHECK_EQ(the_log.n, 1);
    pc_scheduler_free(s);
}

// An action that returns a code with no message of its own gets "returned
// N", never the text of an older failure that had the same code.
static int return_value_silently(void *arg) { (void)arg; return PC_VALUE; }

TEST(action_error_message_never_stale) {
    step_clock c = {0, 0, {0}};
    pc_scheduler *s = step_scheduler(&c);
    CHECK_RC(pc_scheduler_enterabs(NULL, 0, 1, log_action, ARG(1), NULL), PC_VALUE);
    CHECK_EQ(pc_last_error_code(), PC_VALUE);           // an older PC_VALUE message
    CHECK_OK(pc_scheduler_enterabs(s, 0, 1, return_value_silently, NULL, NULL));
    CHECK_RC(pc_scheduler_run(s, 1, NULL), PC_VALUE);
    CHECK_MSG(strstr(pc_last_error(), "returned 8") != NULL, "stale: %s", pc_last_error());
    pc_scheduler_free(s);
}

static int raise_then_ok(void *arg) {
    (void)arg;
    pc_raise(PC_VALUE, "raised but returned 0");
    return 0;
}

TEST(action_pc_raise_counts_as_error) {
    step_clock c = {0, 0, {0}};
    pc_scheduler *s = step_scheduler(&c);
    CHECK_OK(pc_scheduler_enterabs(s, 0, 1, raise_then_ok, NULL, NULL));
    CHECK_RC(pc_scheduler_run(s, 1, NULL), PC_VALUE);
    CHECK(strcmp(pc_last_error(), "raised but returned 0") == 0);
    CHECK(pc_scheduler_empty(s));
    pc_scheduler_free(s);
}

typedef struct flaky_clock { double now; int fail_next; } flaky_clock;
static double flaky_time(void *ctx) { return ((flaky_clock *)ctx)->now; }
static int flaky_delay(void *ctx, double d) {
    flaky_clock *c = (flaky_clock *)ctx;
    if (c->fail_next) { c->fail_next = 0; return PC_TIMEOUT; }
    c->now += d;
    return 0;
}

TEST(delayfunc_error_keeps_the_event) {
    flaky_clock c = {0, 1};
    pc_scheduler_desc d;
    memset(&d, 0, sizeof d);
    d.timefunc = flaky_time;
    d.delayfunc = flaky_delay;
    d.ctx = &c;
    pc_scheduler *s = pc_scheduler_new(&d);
    log_reset();
    CHECK_OK(pc_scheduler_enterabs(s, 5, 1, log_action, ARG(5), NULL));
    CHECK_RC(pc_scheduler_run(s, 1, NULL), PC_TIMEOUT);
    CHECK(strstr(pc_last_error(), "delayfunc") != NULL);
    CHECK_EQ(the_log.n, 0);
    CHECK_EQ(pc_scheduler_queue(s, NULL, 0), 1);
    CHECK_OK(pc_scheduler_run(s, 1, NULL));
    CHECK_EQ(the_log.n, 1);
    // A delayfunc(0) that raises after an event: the event did run.
    c.fail_next = 1;
    c.now = 10;
    CHECK_OK(pc_scheduler_enterabs(s, 10, 1, log_action, ARG(10), NULL));
    CHECK_RC(pc_scheduler_run(s, 1, NULL), PC_TIMEOUT);
    CHECK_EQ(the_log.n, 2);
    CHECK(pc_scheduler_empty(s));
    pc_scheduler_free(s);
}

// >>handles: cancel after the event, bad handles

typedef struct self_cancel { pc_scheduler *s; pc_scheduler_event me; int rc; } self_cancel;

static int cancel_self_action(void *arg) {
    self_cancel *sc = (self_cancel *)arg;
    sc->rc = pc_scheduler_cancel(sc->s, sc->me);
    return 0;
}

TEST(cancel_running_or_run_event_is_value_error) {
    step_clock c = {0, 0, {0}};
    pc_scheduler *s = step_scheduler(&c);
    self_cancel sc = {s, 0, -1};
    CHECK_OK(pc_scheduler_enterabs(s, 1, 1, cancel_self_action, &sc, &sc.me));
    CHECK_OK(pc_scheduler_run(s, 1, NULL));
    CHECK_RC(sc.rc, PC_VALUE);                      // while running
    CHECK_RC(pc_scheduler_cancel(s, sc.me), PC_VALUE);   // after it ran
    CHECK(strstr(pc_last_error(), "not in the queue") != NULL);
    // The slot is reused by a new event; the old handle still misses.
    pc_scheduler_event fresh;
    CHECK_OK(pc_scheduler_enterabs(s, 5, 1, log_action, NULL, &fresh));
    CHECK(fresh != sc.me);
    CHECK_RC(pc_scheduler_cancel(s, sc.me), PC_VALUE);
    CHECK_OK(pc_scheduler_cancel(s, fresh));
    CHECK_RC(pc_scheduler_cancel(s, fresh), PC_VALUE);   // twice
    pc_scheduler_free(s);
}

TEST(bad_handles) {
    pc_scheduler *s = pc_scheduler_new(NULL);
    pc_scheduler *other = pc_scheduler_new(NULL);
    pc_scheduler_event e, foreign;
    CHECK_OK(pc_scheduler_enter(s, 100, 1, log_action, NULL, &e));
    CHECK_OK(pc_scheduler_enter(other, 100, 1, log_action, NULL, &foreign));
    CHECK_RC(pc_scheduler_cancel(s, 0), PC_VALUE);
    CHECK_RC(pc_scheduler_cancel(s, e + 1), PC_VALUE);          // no such slot
    CHECK_RC(pc_scheduler_cancel(s, e ^ (1ull << 40)), PC_VALUE);   // wrong generation
    CHECK_RC(pc_scheduler_cancel(s, foreign), PC_VALUE);        // other scheduler's
    CHECK_RC(pc_scheduler_cancel(s, UINT64_MAX), PC_VALUE);
    CHECK_EQ(pc_scheduler_queue(s, NULL, 0), 1);
    CHECK_OK(pc_scheduler_cancel(s, e));
    CHECK_OK(pc_scheduler_cancel(other, foreign));
    pc_scheduler_free(s);
    pc_scheduler_free(other);
}

TEST(bad_input) {
    pc_scheduler *s = pc_scheduler_new(NULL);
    pc_scheduler_event e = 77;
    pc_scheduler_entry q[2];
    CHECK_RC(pc_scheduler_enterabs(NULL, 1, 1, log_action, NULL, &e), PC_VALUE);
    CHECK(strstr(pc_last_error(), "NULL") != NULL);
    CHECK_RC(pc_scheduler_enterabs(s, NAN, 1, log_action, NULL, &e), PC_VALUE);
    CHECK(strstr(pc_last_error(), "NaN") != NULL);
    CHECK_RC(pc_scheduler_enterabs(s, 1, 1, NULL, NULL, &e), PC_VALUE);
    CHECK(strstr(pc_last_error(), "action") != NULL);
    CHECK_RC(pc_scheduler_enter(s, NAN, 1, log_action, NULL, &e), PC_VALUE);
    CHECK_RC(pc_scheduler_enter(s, -INFINITY, 1, log_action, NULL, NULL), PC_OK);
    CHECK_RC(pc_scheduler_enter(NULL, 1, 1, log_action, NULL, &e), PC_VALUE);
    CHECK_EQ(e, 77);                // untouched on error
    CHECK_RC(pc_scheduler_cancel(NULL, 1), PC_VALUE);
    CHECK_RC(pc_scheduler_run(NULL, 1, NULL), PC_VALUE);
    pc__error(PC_OK, "%s", "");
    CHECK(pc_scheduler_empty(NULL));
    CHECK_RC(pc_last_error_code(), PC_VALUE);
    CHECK_EQ(pc_scheduler_queue(NULL, q, 2), 0);
    CHECK_RC(pc_last_error_code(), PC_VALUE);
    CHECK_EQ(pc_scheduler_queue(s, NULL, 2), 1);   // NULL out: count only
    pc_scheduler_free(NULL);
    // Infinite times are allowed and ordered: -inf runs now, +inf never.
    CHECK_OK(pc_scheduler_enterabs(s, INFINITY, 1, log_action, NULL, &e));
    double next = 0;
    CHECK_OK(pc_scheduler_run(s, 0, &next));
    CHECK(next == INFINITY);
    CHECK_EQ(pc_scheduler_queue(s, NULL, 0), 1);
    CHECK_OK(pc_scheduler_cancel(s, e));
    pc_scheduler_free(s);
}

static double nan_time(void *ctx) { (void)ctx; return NAN; }
static double minus_inf_time(void *ctx) { (void)ctx; return -INFINITY; }

TEST(enter_with_a_broken_clock) {
    // enter() adds the delay to timefunc(): a NaN sum is PC_VALUE, not an
    // event that compares false with everything and breaks the order.
    pc_scheduler_desc d;
    memset(&d, 0, sizeof d);
    d.timefunc = nan_time;
    pc_scheduler *s = pc_scheduler_new(&d);
    pc_scheduler_event e = 77;
    CHECK_RC(pc_scheduler_enter(s, 1, 1, log_action, NULL, &e), PC_VALUE);
    CHECK(strstr(pc_last_error(), "NaN") != NULL);
    CHECK_EQ(e, 77);
    CHECK(pc_scheduler_empty(s));
    pc_scheduler_free(s);
    d.timefunc = minus_inf_time;
    s = pc_scheduler_new(&d);
    CHECK_RC(pc_scheduler_enter(s, INFINITY, 1, log_action, NULL, &e), PC_VALUE);
    CHECK_OK(pc_scheduler_enter(s, 5, 1, log_action, NULL, &e));
    CHECK_EQ(pc_scheduler_queue(s, NULL, 0), 1);
    pc_scheduler_free(s);
}

TEST(free_with_events_queued) {
    // ASan checks nothing leaks; the actions never run.
    pc_scheduler *s = pc_scheduler_new(NULL);
    log_reset();
    for (int i = 0; i < 1000; i++)
        CHECK_OK(pc_scheduler_enter(s, 100 + i, i, log_action, NULL, NULL));
    pc_scheduler_free(s);
    CHECK_EQ(the_log.n, 0);
}

// >>beyond: the wake-up that CPython's run() lacks

// A clock that tells the test each time run() reads it: run() reads it
// under the scheduler's lock just before it goes to sleep, so an enter
// after the signal happens while run() sleeps (or is about to).
static pc_event clock_read;
static double signalling_time(void *ctx) {
    (void)ctx;
    pc_event_set(&clock_read);
    return pc_monotonic();
}

// When stamp_action ran; `fired` tells the test it has.
static double fired_at;
static pc_event fired;
static int stamp_action(void *arg) {
    (void)arg;
    fired_at = pc_monotonic();   // published by pc_event_set / the join
    pc_event_set(&fired);
    return 0;
}

static void stamp_reset(void) {
    fired_at = 0;
    pc_event_init(&fired);
}

static pc_scheduler *signalling_scheduler(void) {
    pc_scheduler_desc d;
    memset(&d, 0, sizeof d);
    d.timefunc = signalling_time;     // delayfunc stays the default one
    pc_event_init(&clock_read);
    return pc_scheduler_new(&d);
}

TEST(wake_on_earlier_event) {
    pc_scheduler *s = signalling_scheduler();
    pc_scheduler_event far;
    stamp_reset();
    CHECK_OK(pc_scheduler_enter(s, 10, 1, log_action, NULL, &far));
    pc_event_clear(&clock_read);
    runner r;
    runner_start(&r, s);
    CHECK_OK(pc_event_wait(&clock_read, 10));   // run() is going to sleep for 10 s
    double entered = pc_monotonic();
    CHECK_OK(pc_scheduler_enter(s, 0.05, 1, stamp_action, NULL, NULL));
    CHECK_OK(pc_event_wait(&fired, 5));
    double at = fired_at;
    CHECK_MSG(at - entered >= 0.05 * 0.6 && at - entered < 1.0,
              "fired %.3f s after entry", at - entered);
    CHECK_OK(pc_scheduler_cancel(s, far));   // wakes run(), which finds it empty
    runner_join(&r, 10);
    CHECK_OK(r.rc);
    pc_scheduler_free(s);
}

TEST(wake_on_cancel_of_head) {
    pc_scheduler *s = signalling_scheduler();
    pc_scheduler_event far, farther;
    CHECK_OK(pc_scheduler_enter(s, 10, 1, log_action, NULL, &far));
    CHECK_OK(pc_scheduler_enter(s, 20, 1, log_action, NULL, &farther));
    pc_event_clear(&clock_read);
    runner r;
    runner_start(&r, s);
    CHECK_OK(pc_event_wait(&clock_read, 10));
    pc_event_clear(&clock_read);
    CHECK_OK(pc_scheduler_cancel(s, far));
    // run() wakes, re-reads the clock and sleeps towards the 20 s event.
    CHECK_OK(pc_event_wait(&clock_read, 5));
    double t0 = pc_monotonic();
    CHECK_OK(pc_scheduler_cancel(s, farther));
    runner_join(&r, 5);
    CHECK_MSG(pc_monotonic() - t0 < 1.0, "run() took %.3f s to notice",
              pc_monotonic() - t0);
    CHECK_OK(r.rc);
    CHECK(r.next == INFINITY);
    pc_scheduler_free(s);
}

TEST(later_event_does_not_disturb_sleep) {
    // Entering a later event must not make run() fire early.
    pc_scheduler *s = pc_scheduler_new(NULL);
    stamp_reset();
    double t0 = pc_monotonic();
    CHECK_OK(pc_scheduler_enter(s, 0.1, 1, stamp_action, NULL, NULL));
    runner r;
    runner_start(&r, s);
    CHECK_OK(pc_scheduler_enter(s, 0.15, 1, log_action, NULL, NULL));
    runner_join(&r, 10);
    CHECK_OK(r.rc);
    double at = fired_at;
    CHECK_MSG(at - t0 >= 0.1 - 1e-3, "fired %.3f s early", 0.1 - (at - t0));
    pc_scheduler_free(s);
}

// Waking costs a system call only when a run() sleeps: entering or
// cancelling a head makes none with nobody asleep, also right after a run()
// whose sleep ran to its deadline (it must not leave itself counted), and
// makes one when a run() sleeps. White-box: this thread's wake calls, and
// the scheduler's announced sleepers.
TEST(head_change_wakes_only_a_sleeper) {
    for (int round = 0; round < 20; round++) {
        pc_scheduler *s = pc_scheduler_new(NULL);
        log_reset();
        CHECK_OK(pc_scheduler_enter(s, 0.002, 1, log_action, ARG(1), NULL));
        CHECK_OK(pc_scheduler_run(s, 1, NULL));         // sleeps to the head's time
        CHECK_EQ(the_log.n, 1);
        CHECK_EQ(s->wake.waiters, 0);
        uint64_t calls = pc__futex_wake_calls();
        pc_scheduler_event far;
        CHECK_OK(pc_scheduler_enter(s, 10, 1, log_action, NULL, &far));
        CHECK_OK(pc_scheduler_cancel(s, far));
        CHECK_EQ(pc__futex_wake_calls(), calls);
        // Now with a run() asleep towards a far head.
        CHECK_OK(pc_scheduler_enter(s, 10, 1, log_action, NULL, &far));
        runner r;
        runner_start(&r, s);
        double give_up = pc_monotonic() + 10;
        while (__atomic_load_n(&s->wake.waiters, __ATOMIC_SEQ_CST) == 0 &&
               pc_monotonic() < give_up)
            pc_sleep(0.001);
        calls = pc__futex_wake_calls();
        CHECK_OK(pc_scheduler_cancel(s, far));
        CHECK(pc__futex_wake_calls() > calls);
        runner_join(&r, 5);
        CHECK_OK(r.rc);
        pc_scheduler_free(s);
    }
}

TEST(wake_from_an_endless_sleep) {
    // The head is at +inf (and one 1e300 s away): run() sleeps with no
    // deadline at all, and an earlier event must still wake it.
    pc_scheduler *s = signalling_scheduler();
    pc_scheduler_event never, nearly_never;
    stamp_reset();
    CHECK_OK(pc_scheduler_enterabs(s, INFINITY, 1, log_action, NULL, &never));
    CHECK_OK(pc_scheduler_enter(s, 1e300, 1, log_action, NULL, &nearly_never));
    pc_event_clear(&clock_read);
    runner r;
    runner_start(&r, s);
    CHECK_OK(pc_event_wait(&clock_read, 10));
    double entered = pc_monotonic();
    CHECK_OK(pc_scheduler_enter(s, 0.05, 1, stamp_action, NULL, NULL));
    CHECK_OK(pc_event_wait(&fired, 5));
    CHECK_MSG(fired_at - entered < 1.0, "fired %.3f s after entry", fired_at - entered);
    CHECK_OK(pc_scheduler_cancel(s, nearly_never));
    CHECK_OK(pc_scheduler_cancel(s, never));
    runner_join(&r, 5);
    CHECK_OK(r.rc);
    CHECK(r.next == INFINITY);
    pc_scheduler_free(s);
}

// A clock that counts its readers on a semaphore, so the test can wait
// until n run() calls have read it (each reads it just before sleeping).
static pc_semaphore clock_reads;
static double counting_time(void *ctx) {
    (void)ctx;
    pc_semaphore_release(&clock_reads, 1);
    return pc_monotonic();
}

TEST(wake_reaches_every_sleeping_runner) {
    // Two run() calls sleep towards the same 10 s head; cancelling it must
    // wake both (a wake of one would leave the other asleep for 10 s).
    pc_scheduler_desc d;
    memset(&d, 0, sizeof d);
    d.timefunc = counting_time;
    CHECK_OK(pc_semaphore_init(&clock_reads, 0));
    pc_scheduler *s = pc_scheduler_new(&d);
    pc_scheduler_event far;
    CHECK_OK(pc_scheduler_enter(s, 10, 1, log_action, NULL, &far));
    runner r[2];
    runner_start(&r[0], s);
    runner_start(&r[1], s);
    CHECK_OK(pc_semaphore_acquire(&clock_reads, 10));
    CHECK_OK(pc_semaphore_acquire(&clock_reads, 10));
    double t0 = pc_monotonic();
    CHECK_OK(pc_scheduler_cancel(s, far));
    runner_join(&r[0], 5);
    runner_join(&r[1], 5);
    CHECK_MSG(pc_monotonic() - t0 < 1.0, "runners took %.3f s to notice", pc_monotonic() - t0);
    CHECK_OK(r[0].rc);
    CHECK_OK(r[1].rc);
    pc_scheduler_free(s);
    pc_semaphore_destroy(&clock_reads);
}

// What an action saw of the fake timer's clock when it ran.
static fake_timer *seen_timer;
static double seen_time[4];
static int seen_n;
static int time_action(void *arg) {
    (void)arg;
    if (seen_n < 4) seen_time[seen_n++] = timer_time(seen_timer);
    return 0;
}

TEST(custom_delayfunc_keeps_pythons_sleep) {
    // Python's behaviour, kept for a custom delayfunc: run() is inside
    // delayfunc(10) when an event for time 1 comes; it runs when that
    // delay is over (first, being earlier), not at 1.
    fake_timer *tm = timer_new();
    pc_scheduler *s = timer_scheduler(tm);
    seen_timer = tm;
    seen_n = 0;
    CHECK_OK(pc_scheduler_enterabs(s, 10, 1, time_action, NULL, NULL));
    runner r;
    runner_start(&r, s);
    CHECK_OK(timer_wait_sleeper(tm, 10));   // run() is inside delayfunc(10)
    CHECK_OK(pc_scheduler_enterabs(s, 1, 1, time_action, NULL, NULL));
    timer_advance(tm, 2);                   // time 1 passes inside the sleep
    timer_advance(tm, 1000);
    runner_join(&r, 10);
    CHECK_OK(r.rc);
    CHECK_EQ(seen_n, 2);
    CHECK_MSG(seen_time[0] == 10 && seen_time[1] == 10, "ran at %g and %g",
              seen_time[0], seen_time[1]);
    pc_scheduler_free(s);
    free(tm);
}

// An action and a custom delayfunc run with no lock held: both may call
// the scheduler (an action that re-enters itself is a periodic timer).
typedef struct periodic { pc_scheduler *s; int left, ran, delay_calls, queued_seen; } periodic;
static periodic the_periodic;

static int periodic_action(void *arg) {
    periodic *p = (periodic *)arg;
    p->ran++;
    if (--p->left > 0) return pc_scheduler_enter(p->s, 1, 1, periodic_action, p, NULL);
    return 0;
}

static int queue_peeking_delay(void *ctx, double d) {
    step_clock *c = (step_clock *)ctx;
    the_periodic.delay_calls++;
    the_periodic.queued_seen += (int)pc_scheduler_queue(the_periodic.s, NULL, 0);
    if (pc_scheduler_empty(the_periodic.s)) the_periodic.queued_seen += 100;
    c->now += d;
    return 0;
}

TEST(action_and_delayfunc_may_use_the_scheduler) {
    step_clock c = {0, 0, {0}};
    pc_scheduler_desc d;
    memset(&d, 0, sizeof d);
    d.timefunc = step_time;
    d.delayfunc = queue_peeking_delay;
    d.ctx = &c;
    pc_scheduler *s = pc_scheduler_new(&d);
    memset(&the_periodic, 0, sizeof the_periodic);
    the_periodic.s = s;
    the_periodic.left = 5;
    CHECK_OK(pc_scheduler_enter(s, 1, 1, periodic_action, &the_periodic, NULL));
    CHECK_OK(pc_scheduler_run(s, 1, NULL));
    CHECK_EQ(the_periodic.ran, 5);
    CHECK(c.now == 5);
    // Waits of 1 before each run (5) and delayfunc(0) after each (5); the
    // queue held the next event in all but the last delayfunc(0).
    CHECK_EQ(the_periodic.delay_calls, 10);
    CHECK_EQ(the_periodic.queued_seen, 9 + 100);
    pc_scheduler_free(s);
}

// >>nomem: an allocator that fails on request (test_malloc, above)

TEST(out_of_memory_leaves_scheduler_consistent) {
    __atomic_store_n(&malloc_budget, 0, __ATOMIC_RELAXED);
    CHECK(pc_scheduler_new(NULL) == NULL);
    CHECK_RC(pc_last_error_code(), PC_NOMEM);
    __atomic_store_n(&malloc_budget, -1, __ATOMIC_RELAXED);
    step_clock c = {0, 0, {0}};
    pc_scheduler *s = step_scheduler(&c);
    pc_scheduler_event e = 77;
    // The first event needs the heap, the slot table and the two tables
    // beside it (generations, cancelled marks): fail each in turn (what an
    // attempt allocated stays, so the next one needs one allocation less).
    for (int step = 0; step < 4; step++) {
        __atomic_store_n(&malloc_budget, step > 0, __ATOMIC_RELAXED);
        CHECK_RC(pc_scheduler_enterabs(s, 1, 1, log_action, ARG(1), &e), PC_NOMEM);
        CHECK(strlen(pc_last_error()) > 0);
        CHECK_EQ(e, 77);
        CHECK(pc_scheduler_empty(s));
    }
    // With allocation failing from the first event on, enter until the
    // tables must grow: that enter fails, and what is queued still runs.
    __atomic_store_n(&malloc_budget, -1, __ATOMIC_RELAXED);
    CHECK_OK(pc_scheduler_enterabs(s, 1000, 1, log_action, ARG(0), NULL));
    __atomic_store_n(&malloc_budget, 0, __ATOMIC_RELAXED);
    int queued = 1, rc;
    while ((rc = pc_scheduler_enterabs(s, 1000 - queued, 1, log_action, ARG(queued),
                                       NULL)) == PC_OK && queued < 200)
        queued++;
    __atomic_store_n(&malloc_budget, -1, __ATOMIC_RELAXED);
    CHECK_RC(rc, PC_NOMEM);
    CHECK_EQ(pc_scheduler_queue(s, NULL, 0), queued);
    log_reset();
    CHECK_OK(pc_scheduler_run(s, 1, NULL));
    CHECK_EQ(the_log.n, queued);
    for (int i = 0; i < queued; i++) CHECK_EQ(the_log.items[i], queued - 1 - i);
    // Memory back: growth works and the scheduler carries on.
    for (int i = 0; i < 2 * queued; i++)
        CHECK_OK(pc_scheduler_enterabs(s, i, 1, log_action, NULL, NULL));
    CHECK_EQ(pc_scheduler_queue(s, NULL, 0), 2 * queued);
    pc_scheduler_free(s);
}

// >>threads: enter and cancel from many threads while two run()s drain

enum { STRESS_PRODUCERS = 4, STRESS_EACH = 25000, STRESS_TOTAL = STRESS_PRODUCERS * STRESS_EACH };

typedef struct stress {
    pc_scheduler *s;
    uint32_t ran[STRESS_TOTAL];
    uint32_t cancelled[STRESS_TOTAL];
    int enter_failures;
} stress;

static stress *the_stress;

static int stress_action(void *arg) {
    __atomic_fetch_add(&the_stress->ran[(intptr_t)arg], 1u, __ATOMIC_RELAXED);
    return 0;
}

typedef struct producer { int id; pc_barrier *start; } producer;

static int producer_main(void *arg) {
    producer *p = (producer *)arg;
    stress *st = the_stress;
    uint32_t rnd = 2463534242u * (uint32_t)(p->id + 1);
    pc_scheduler_event keep[16];
    pc_barrier_wait(p->start, NULL);
    for (int i = 0; i < STRESS_EACH; i++) {
        int idx = p->id * STRESS_EACH + i;
        rnd ^= rnd << 13, rnd ^= rnd >> 17, rnd ^= rnd << 5;
        double delay = (double)(rnd % 2000) * 1e-5;     // 0..20 ms
        if (pc_scheduler_enter(st->s, delay, (int)(rnd % 5), stress_action, ARG(idx),
                               &keep[i % 16]))
            __atomic_fetch_add(&st->enter_failures, 1, __ATOMIC_RELAXED);
        // Every 16 events, try to cancel a few of them (some may have run).
        if (i % 16 == 15)
            for (int k = 0; k < 16; k += 3)
                if (pc_scheduler_cancel(st->s, keep[k]) == PC_OK)
                    st->cancelled[idx - 15 + k] = 1;
    }
    return 0;
}

TEST(stress_threads) {
    stress *st = (stress *)calloc(1, sizeof *st);
    the_stress = st;
    st->s = pc_scheduler_new(NULL);
    pc_scheduler_event keeper;
    // Holds the runners in run() until every producer is done.
    CHECK_OK(pc_scheduler_enter(st->s, 1000, 0, log_action, NULL, &keeper));
    runner r[2];
    runner_start(&r[0], st->s);
    runner_start(&r[1], st->s);
    pc_barrier start;
    pc_barrier_init(&start, STRESS_PRODUCERS, NULL, NULL, PC_FOREVER);
    producer ps[STRESS_PRODUCERS];
    pc_thread *ts[STRESS_PRODUCERS];
    for (int i = 0; i < STRESS_PRODUCERS; i++) {
        ps[i].id = i;
        ps[i].start = &start;
        ts[i] = pc_thread_new(&(pc_thread_desc){.target = producer_main, .arg = &ps[i]});
        CHECK_OK(pc_thread_start(ts[i]));
    }
    for (int i = 0; i < STRESS_PRODUCERS; i++) {
        CHECK_OK(pc_thread_join(ts[i], 60));
        pc_thread_free(ts[i]);
    }
    CHECK_OK(pc_scheduler_cancel(st->s, keeper));
    runner_join(&r[0], 60);
    runner_join(&r[1], 60);
    CHECK_OK(r[0].rc);
    CHECK_OK(r[1].rc);
    CHECK_EQ(st->enter_failures, 0);
    CHECK(pc_scheduler_empty(st->s));
    int ran = 0, cancelled = 0;
    for (int i = 0; i < STRESS_TOTAL; i++) {
        CHECK_MSG(st->ran[i] + st->cancelled[i] == 1, "event %d ran %u times, cancelled %u",
                  i, st->ran[i], st->cancelled[i]);
        ran += (int)st->ran[i];
        cancelled += (int)st->cancelled[i];
    }
    CHECK(cancelled > 0);
    CHECK_EQ(ran + cancelled, STRESS_TOTAL);
    pc_scheduler_free(st->s);
    pc_barrier_destroy(&start);
    free(st);
}

TEST(cancel_is_fast_with_many_queued) {
    // 100k queued, cancelled in a scattered order: O(log n) each keeps the
    // whole well under a second even on a slow, sanitized build.
    enum { N = 100000 };
    pc_scheduler *s = pc_scheduler_new(NULL);
    pc_scheduler_event *ev = (pc_scheduler_event *)malloc(N * sizeof *ev);
    uint32_t rnd = 12345;
    for (int i = 0; i < N; i++) {
        rnd ^= rnd << 13, rnd ^= rnd >> 17, rnd ^= rnd << 5;
        CHECK_OK(pc_scheduler_enter(s, 100 + (rnd % 100000), 0, log_action, NULL, &ev[i]));
    }
    double t0 = pc_monotonic();
    for (int i = 0; i < N; i++) CHECK_OK(pc_scheduler_cancel(s, ev[(i * 7919L) % N]));
    double took = pc_monotonic() - t0;
    CHECK(pc_scheduler_empty(s));
    CHECK_MSG(took < 5.0, "100k cancels took %.3f s", took);
    free(ev);
    pc_scheduler_free(s);
}

// The best time per cancel of `count` events scattered through a queue of
// n (cancels only: building the queue is not timed).
static double cancel_cost(int n, int count, int rounds) {
    pc_scheduler_event *ev = (pc_scheduler_event *)malloc((size_t)n * sizeof *ev);
    double best = INFINITY;
    CHECK(ev != NULL);
    for (int r = 0; r < rounds; r++) {
        pc_scheduler *s = pc_scheduler_new(NULL);
        uint32_t rnd = 99u + (uint32_t)r;
        for (int i = 0; i < n; i++) {
            rnd ^= rnd << 13, rnd ^= rnd >> 17, rnd ^= rnd << 5;
            CHECK_OK(pc_scheduler_enter(s, 100 + (rnd % 100000), 0, log_action, NULL, &ev[i]));
        }
        double t0 = pc_monotonic();
        for (int i = 0; i < count; i++)
            CHECK_OK(pc_scheduler_cancel(s, ev[(int)(((long)i * 7919L) % n)]));
        double t = (pc_monotonic() - t0) / count;
        if (t < best) best = t;
        pc_scheduler_free(s);
    }
    free(ev);
    return best;
}

TEST(cancel_cost_grows_like_log_n) {
    // 256 times more events queued: an O(log n) cancel costs about twice as
    // much (and some cache misses), an O(n) one (Python's) about 170 times.
    double small = cancel_cost(256, 128, 9), big = cancel_cost(65536, 128, 5);
    CHECK_MSG(big < 40 * small, "per cancel: %.0f ns with 256 queued, %.0f ns with 65536",
              small * 1e9, big * 1e9);
}

// Records the order run() calls it in: arg is the event's index.
static int order_seen[5000];
static int order_n;
static int order_action(void *arg) {
    if (order_n < 5000) order_seen[order_n++] = (int)(intptr_t)arg;
    return 0;
}

TEST(heap_order_random) {
    // Random times and priorities, random cancels (from the middle of the
    // heap, so the node moved into the gap must sift up as well as down):
    // the queue view and run() must both give a sort of what is left.
    enum { N = 5000 };
    step_clock c = {0, 0, {0}};
    pc_scheduler *s = step_scheduler(&c);
    static pc_scheduler_event ev[N];
    static pc_scheduler_entry want[N];
    uint32_t rnd = 777;
    for (int i = 0; i < N; i++) {
        rnd ^= rnd << 13, rnd ^= rnd >> 17, rnd ^= rnd << 5;
        CHECK_OK(pc_scheduler_enterabs(s, (double)(rnd % 300), (int)(rnd >> 20) % 4,
                                       order_action, ARG(i), &ev[i]));
    }
    for (int i = 0; i < N; i += 3) CHECK_OK(pc_scheduler_cancel(s, ev[i]));
    size_t left = pc_scheduler_queue(s, want, N);
    CHECK_EQ(left, N - (N + 2) / 3);
    for (size_t i = 1; i < left; i++) {
        const pc_scheduler_entry *a = &want[i - 1], *b = &want[i];
        CHECK(a->time < b->time || (a->time == b->time && (a->priority < b->priority ||
              (a->priority == b->priority && a->sequence < b->sequence))));
    }
    // Take the first tenth off the head through the queue view.
    size_t k = 0;
    for (; k < left / 10; k++) {
        pc_scheduler_entry head;
        CHECK_EQ(pc_scheduler_queue(s, &head, 1), left - k);
        CHECK(head.event == want[k].event);
        CHECK_OK(pc_scheduler_cancel(s, head.event));
    }
    // run() pops the heap's own head: it must follow the same order.
    order_n = 0;
    CHECK_OK(pc_scheduler_run(s, 1, NULL));
    CHECK_EQ(order_n, left - k);
    for (int i = 0; i < order_n; i++)
        CHECK_MSG(order_seen[i] == (int)(intptr_t)want[k + (size_t)i].arg,
                  "run %d: event %d, want %d", i, order_seen[i],
                  (int)(intptr_t)want[k + (size_t)i].arg);
    CHECK(pc_scheduler_empty(s));
    pc_scheduler_free(s);
}

// A model of the queue, checked against the scheduler step by step.
typedef struct model_event {
    double time;
    int priority, live;
    long seq;
    pc_scheduler_event handle;
} model_event;

enum { MODEL_STEPS = 30000 };
static model_event model[MODEL_STEPS];
static long model_ran[MODEL_STEPS];
static int model_nran;

static int model_action(void *arg) {
    if (model_nran < MODEL_STEPS) model_ran[model_nran++] = (long)(intptr_t)arg;
    return 0;
}

static int model_cmp(const void *a, const void *b) {
    const model_event *x = &model[*(const long *)a], *y = &model[*(const long *)b];
    if (x->time != y->time) return x->time < y->time ? -1 : 1;
    if (x->priority != y->priority) return x->priority < y->priority ? -1 : 1;
    return (x->seq > y->seq) - (x->seq < y->seq);
}

// Run what is due at c->now and check it against the model: the order,
// the next delay, and that the model's queued events are all still there.
static void model_run(pc_scheduler *s, step_clock *c, long entered, long *live) {
    static long due[MODEL_STEPS];
    long ndue = 0;
    for (long i = 0; i < entered; i++)
        if (model[i].live && model[i].time <= c->now) due[ndue++] = i;
    qsort(due, (size_t)ndue, sizeof *due, model_cmp);
    double next = -1, want_next = INFINITY;
    model_nran = 0;
    CHECK_OK(pc_scheduler_run(s, 0, &next));
    CHECK_EQ(model_nran, ndue);
    for (long i = 0; i < ndue; i++) {
        CHECK_MSG(model_ran[i] == due[i], "run %ld: event %ld, want %ld", i, model_ran[i],
                  due[i]);
        model[due[i]].live = 0;
    }
    *live -= ndue;
    for (long i = 0; i < entered; i++)
        if (model[i].live && model[i].time - c->now < want_next)
            want_next = model[i].time - c->now;
    CHECK(next == want_next);
    CHECK_EQ(pc_scheduler_queue(s, NULL, 0), *live);
}

// The model's next event due (the queue's head), or -1.
static long model_head(long entered) {
    long head = -1;
    for (long i = 0; i < entered; i++)
        if (model[i].live && (head < 0 || model_cmp(&i, &head) < 0)) head = i;
    return head;
}

TEST(random_enter_cancel_run_match_a_model) {
    // Enter, cancel (events in the middle of the queue, at its head, and
    // ones already gone) and run what is due, in a random mix, then cancel
    // nine in ten of what is left: the order run() takes, the count
    // queue() gives, the next delay and cancel's answers must be those of
    // a sorted list.
    step_clock c = {0, 0, {0}};
    pc_scheduler *s = step_scheduler(&c);
    long entered = 0, live = 0;
    uint32_t rnd = 4242;
    for (int step = 0; step < MODEL_STEPS; step++) {
        rnd ^= rnd << 13, rnd ^= rnd >> 17, rnd ^= rnd << 5;
        uint32_t what = rnd % 100, pick = rnd >> 8;
        if (what < 50 && entered < MODEL_STEPS) {
            model_event *m = &model[entered];
            m->time = c.now + (double)(pick % 3000);
            m->priority = (int)(pick >> 10) % 3;
            m->seq = entered;
            m->live = 1;
            CHECK_OK(pc_scheduler_enterabs(s, m->time, m->priority, model_action,
                                           ARG(entered), &m->handle));
            entered++;
            live++;
        } else if (what < 90 && entered > 0) {
            // The head sometimes, else a random entered event, queued or not:
            // cancel answers which.
            long i = what < 55 ? model_head(entered) : (long)(pick % (uint32_t)entered);
            if (i >= 0 && model[i].live) {
                CHECK_OK(pc_scheduler_cancel(s, model[i].handle));
                model[i].live = 0;
                live--;
            } else if (i >= 0) {
                CHECK_RC(pc_scheduler_cancel(s, model[i].handle), PC_VALUE);
            }
        } else {
            c.now += (double)(pick % 40);
            model_run(s, &c, entered, &live);
        }
        CHECK_EQ(pc_scheduler_queue(s, NULL, 0), live);
        CHECK_EQ(pc_scheduler_empty(s), live == 0);
    }
    for (long i = 0; i < entered; i++) {
        rnd ^= rnd << 13, rnd ^= rnd >> 17, rnd ^= rnd << 5;
        if (model[i].live && rnd % 10) {
            CHECK_OK(pc_scheduler_cancel(s, model[i].handle));
            model[i].live = 0;
            live--;
        }
    }
    CHECK(live > 0);
    c.now += 5000;
    model_run(s, &c, entered, &live);
    CHECK(pc_scheduler_empty(s));
    pc_scheduler_free(s);
}

TEST(set_and_cancelled_timeouts_reuse_their_room) {
    // A timeout set per request and cancelled when the reply comes never
    // fires, and the queue must not keep growing with them: with no
    // allocation allowed after the first, 200k set+cancel pairs, cancelled
    // in a scattered order with a few events kept queued throughout, all
    // succeed, and what stays queued runs in order.
    enum { KEPT = 4, WINDOW = 24, PAIRS = 200000 };
    step_clock c = {0, 0, {0}};
    pc_scheduler *s = step_scheduler(&c);
    pc_scheduler_event window[WINDOW];
    for (int i = 0; i < KEPT; i++)
        CHECK_OK(pc_scheduler_enterabs(s, 5000 + i, 0, log_action, ARG(i), NULL));
    for (int i = 0; i < WINDOW; i++)
        CHECK_OK(pc_scheduler_enterabs(s, 100 + i, 0, log_action, NULL, &window[i]));
    __atomic_store_n(&malloc_budget, 0, __ATOMIC_RELAXED);
    uint32_t rnd = 99;
    int failures = 0;
    for (int i = 0; i < PAIRS; i++) {
        rnd ^= rnd << 13, rnd ^= rnd >> 17, rnd ^= rnd << 5;
        int k = (int)(rnd % WINDOW);
        failures += pc_scheduler_cancel(s, window[k]) != PC_OK;
        failures += pc_scheduler_enterabs(s, 100 + (double)(rnd >> 20), 0, log_action, NULL,
                                          &window[k]) != PC_OK;
    }
    __atomic_store_n(&malloc_budget, -1, __ATOMIC_RELAXED);
    CHECK_EQ(failures, 0);
    CHECK_EQ(pc_scheduler_queue(s, NULL, 0), KEPT + WINDOW);
    for (int i = 0; i < WINDOW; i++) CHECK_OK(pc_scheduler_cancel(s, window[i]));
    log_reset();
    CHECK_OK(pc_scheduler_run(s, 1, NULL));
    long want[KEPT];
    for (int i = 0; i < KEPT; i++) want[i] = i;
    check_log(want, KEPT);
    pc_scheduler_free(s);
}

TEST(times_of_every_sign_keep_their_order) {
    // The heap compares times as integers: negative, tiny, huge and infinite
    // times must keep the order of the doubles, and -0.0 must equal 0.0, so
    // that priority and entry order decide between them (0.0 goes in first).
    static const double t[] = {-INFINITY, -1e300, -1.5, -5e-324, -0.0, 0.0,
                               5e-324, 1e-300, 1.0, 1e300, INFINITY};
    enum { N = sizeof t / sizeof t[0] };
    static const long want[N] = {0, 1, 2, 3, 5, 4, 6, 7, 8, 9, 10};
    step_clock c = {INFINITY, 0, {0}};          // all of them are due
    pc_scheduler *s = step_scheduler(&c);
    for (int i = 0; i < N; i++) {               // 0 7 3 10 6 2 9 5 1 8 4
        int k = i * 7 % N;
        CHECK_OK(pc_scheduler_enterabs(s, t[k], 0, log_action, ARG(k), NULL));
    }
    pc_scheduler_entry q[N];
    CHECK_EQ(pc_scheduler_queue(s, q, N), N);
    for (int i = 0; i < N; i++) {
        CHECK_MSG((intptr_t)q[i].arg == want[i], "queue %d: event %ld, want %ld", i,
                  (long)(intptr_t)q[i].arg, want[i]);
        CHECK(q[i].time == t[want[i]]);
    }
    log_reset();
    CHECK_OK(pc_scheduler_run(s, 0, NULL));
    check_log(want, N);
    CHECK(pc_scheduler_empty(s));
    pc_scheduler_free(s);
}

// >>overview: the header's example, as written there

static int say(void *arg) {
    printf("%s\n", (const char *)arg);
    return 0;
}

static int overview_main(void) {
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

TEST(overview_example) { CHECK_OK(overview_main()); }

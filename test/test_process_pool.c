/* Tests of pyconc_process.h part F: ProcessPoolExecutor (pc_process_pool_new)
   under fork, spawn and forkserver: submit and result, results by value
   and by copy, raises, map with chunks, shutdown with cancel_futures, the
   initializer, max_tasks_per_child, a worker SIGKILLed while it runs a task
   with two more sent to it (and the pool back to full size), a task that
   calls exit(), a task that segfaults beside 100 KiB items and results,
   max_tasks_per_child's order, bad input; each checks that no descriptor
   or zombie is left, and that a freed pool's workers are gone; the shared
   rings (a stress of wake-ups, large messages over the pipe between ring
   records), an idle pool's CPU, workers orphaned by a killed pool, the
   "worker replaced" log line, task records reused by two submitting
   threads, threads waiting on futures that collect the results themselves
   (a stress of the hand-over, a cancel that must wake one), the looks a
   worker and a waiting thread take before sleeping (a stress of wake-ups,
   on all CPUs and pinned to one). This program
   is also the
   image the spawned and forkserver workers run. */
#define PYCONC_ALL_IMPLEMENTATION
#include "pyconc_process.h"

#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "pc_test.h"
#include "pc_proc_test.h"




// >>helpers
typedef struct leak_mark { int fds; } leak_mark;
static int t_nothing(void *arg) { (void)arg; return 0; }

// Descriptors now, once the start method's server (if any) runs.
static leak_mark leak_begin(pc_start_method m) {
    pc_process *p = proc_new(m, t_nothing, NULL, PC_DAEMON_INHERIT);
    CHECK_OK(pc_process_start(p));
    CHECK_OK(pc_process_join(p, 20));
    pc_process_free(p);
    leak_mark k = {count_fds()};
    return k;
}

static void leak_end(leak_mark k) {
    CHECK_EQ(count_fds(), k.fds);
    CHECK(no_zombies());
}

static pc_executor *pool(pc_start_method m, int workers, size_t result_size) {
    pc_process_pool_desc d;
    memset(&d, 0, sizeof d);
    d.max_workers = workers;
    d.mp_context = pc_get_context(m);
    d.result_size = result_size;
    pc_executor *ex = pc_process_pool_new(&d);
    CHECK_MSG(ex != NULL, "pc_process_pool_new: %s", pc_last_error());
    return ex;
}

// >>tasks
static void *t_square(void *arg) {
    long n = *(long *)arg;
    return (void *)(intptr_t)(n * n);
}
static void *t_double_value(void *arg) { return (void *)((intptr_t)arg * 2); }
static void *t_pid(void *arg) { (void)arg; return (void *)(intptr_t)getpid(); }

typedef struct pair { long a, b; } pair;
static void *t_pair(void *arg) {        // a result by copy: from static storage
    static pair out;
    long n = *(long *)arg;
    out.a = n;
    out.b = -n;
    return &out;
}
static void *t_raise(void *arg) {
    pc_raise(PC_VALUE, "bad item %ld", *(long *)arg);
    return NULL;
}
static __attribute__((unused)) void *t_exit(void *arg) { exit((int)*(long *)arg); }
static __attribute__((unused)) void *t_sleep(void *arg) {
    pc_sleep(*(double *)arg);
    return (void *)(intptr_t)1;
}

// >>basics
static void body_submit(pc_start_method m) {
    leak_mark k = leak_begin(m);
    pc_executor *ex = pool(m, 2, 0);
    pc_future *fs[20];
    for (long i = 0; i < 20; i++) CHECK_OK(pc_executor_submit_copy(ex, t_square, &i, sizeof i,
                                                                   &fs[i]));
    for (long i = 0; i < 20; i++) {
        void *r;
        CHECK_OK(pc_future_result(fs[i], 20, &r));
        CHECK_EQ((long)(intptr_t)r, i * i);
        pc_future_release(fs[i]);
    }
    pc_future *f;
    void *r;
    CHECK_OK(pc_executor_submit(ex, t_double_value, (void *)(intptr_t)21, &f));
    CHECK_OK(pc_future_result(f, 20, &r));
    CHECK_EQ((long)(intptr_t)r, 42);
    pc_future_release(f);
    CHECK_OK(pc_executor_submit(ex, t_pid, NULL, &f));
    CHECK_OK(pc_future_result(f, 20, &r));
    CHECK((long)(intptr_t)r != (long)getpid());
    pc_future_release(f);
    pc_executor_free(ex);
    leak_end(k);
}
TEST(submit_fork) { body_submit(PC_START_FORK); }
TEST(submit_spawn) { body_submit(PC_START_SPAWN); }
TEST(submit_forkserver) { body_submit(PC_START_FORKSERVER); }

static void body_copy_and_raise(pc_start_method m) {
    leak_mark k = leak_begin(m);
    pc_executor *ex = pool(m, 2, sizeof(pair));
    pc_future *f, *g;
    long n = 7;
    void *r;
    CHECK_OK(pc_executor_submit_copy(ex, t_pair, &n, sizeof n, &f));
    CHECK_OK(pc_executor_submit_copy(ex, t_raise, &n, sizeof n, &g));
    CHECK_OK(pc_future_result(f, 20, &r));
    CHECK(r != NULL);
    CHECK_EQ(((pair *)r)->a, 7);
    CHECK_EQ(((pair *)r)->b, -7);
    CHECK_EQ(pc_future_result(g, 20, &r), PC_VALUE);
    CHECK(strstr(pc_last_error(), "bad item 7") != NULL);
    int code;
    const char *msg;
    CHECK_OK(pc_future_exception(g, 0, &code, &msg));
    CHECK_EQ(code, PC_VALUE);
    pc_future_release(f);
    pc_future_release(g);
    pc_executor_free(ex);
    leak_end(k);
}
TEST(copy_and_raise_fork) { body_copy_and_raise(PC_START_FORK); }
TEST(copy_and_raise_spawn) { body_copy_and_raise(PC_START_SPAWN); }
TEST(copy_and_raise_forkserver) { body_copy_and_raise(PC_START_FORKSERVER); }

static void body_map(pc_start_method m) {
    leak_mark k = leak_begin(m);
    pc_executor *ex = pool(m, 2, 0);
    long items[100];
    for (long i = 0; i < 100; i++) items[i] = i;
    pc_map_desc md;
    memset(&md, 0, sizeof md);
    md.items = items;
    md.count = 100;
    md.item_size = sizeof items[0];
    md.chunksize = 7;
    pc_map_iter *it;
    CHECK_OK(pc_executor_map(ex, t_square, &md, &it));
    void *r;
    long i = 0;
    for (; pc_map_iter_next(it, &r) == PC_OK; i++) CHECK_EQ((long)(intptr_t)r, i * i);
    CHECK_EQ(i, 100);
    pc_map_iter_free(it);
    // a raise ends the iteration at its item, the items before it come first
    items[50] = -1;
    pc_executor *ex2 = pool(m, 2, sizeof(pair));
    md.chunksize = 8;
    CHECK_OK(pc_executor_map(ex2, t_pair, &md, &it));
    for (i = 0; pc_map_iter_next(it, &r) == PC_OK; i++) CHECK_EQ(((pair *)r)->b, -items[i]);
    CHECK_EQ(i, 100);
    pc_map_iter_free(it);
    md.chunksize = 9;
    CHECK_OK(pc_executor_map(ex, t_raise, &md, &it));
    CHECK_EQ(pc_map_iter_next(it, &r), PC_VALUE);
    CHECK(strstr(pc_last_error(), "bad item 0") != NULL);
    pc_map_iter_free(it);
    pc_executor_free(ex);
    pc_executor_free(ex2);
    leak_end(k);
}
TEST(map_fork) { body_map(PC_START_FORK); }
TEST(map_spawn) { body_map(PC_START_SPAWN); }
TEST(map_forkserver) { body_map(PC_START_FORKSERVER); }

// >>killed: a worker SIGKILLed while it runs task 7, tasks 8 and 9 sent to it
static pc_mp_event *g_started;      // the worker's copy, from the initializer's pack
static pc_mp_value *g_pid;

static int init_keep(void *arg) {
    pc_args *a = (pc_args *)arg;
    if (pc_args_get_mp_event(a, 0, &g_started) || pc_args_get_mp_value(a, 1, &g_pid)) return 1;
    return 0;
}

static void *t_block(void *arg) {   // tells its pid, then waits to be killed
    int64_t pid = getpid();
    (void)arg;
    pc_mp_value_store(g_pid, &pid, sizeof pid);
    pc_mp_event_set(g_started);
    for (;;) pc_sleep(1);
    return NULL;
}

static void body_killed(pc_start_method m, int use_exit) {
    leak_mark k = leak_begin(m);
    pc_mp_event *ev = pc_mp_event_new();
    pc_mp_value_desc vd;
    memset(&vd, 0, sizeof vd);
    vd.typecode = "q";
    pc_mp_value *pidv = pc_mp_value_new(&vd);
    pc_args *a = pc_args_new();
    CHECK_OK(pc_args_add_mp_event(a, ev));
    CHECK_OK(pc_args_add_mp_value(a, pidv));
    pc_process_pool_desc d;
    memset(&d, 0, sizeof d);
    d.max_workers = 1;
    d.prefetch = 2;
    d.mp_context = pc_get_context(m);
    d.initializer = init_keep;
    d.initargs = a;
    pc_executor *ex = pc_process_pool_new(&d);
    CHECK_MSG(ex != NULL, "%s", pc_last_error());
    pc_future *fs[10];
    for (long i = 0; i < 7; i++) CHECK_OK(pc_executor_submit_copy(ex, t_square, &i, sizeof i,
                                                                  &fs[i]));
    for (long i = 0; i < 7; i++) CHECK_OK(pc_future_result(fs[i], 20, NULL));
    long code = 3;
    if (use_exit) CHECK_OK(pc_executor_submit_copy(ex, t_exit, &code, sizeof code, &fs[7]));
    else CHECK_OK(pc_executor_submit(ex, t_block, NULL, &fs[7]));
    for (long i = 8; i < 10; i++) CHECK_OK(pc_executor_submit(ex, t_pid, NULL, &fs[i]));
    int64_t victim = 0;
    if (!use_exit) {
        CHECK_OK(pc_mp_event_wait(ev, 20));
        CHECK_OK(pc_mp_value_load(pidv, &victim, sizeof victim));
        CHECK_EQ(kill((pid_t)victim, SIGKILL), 0);
    }
    void *r;
    CHECK_EQ(pc_future_result(fs[7], 20, &r), PC_BROKEN);
    char want[128];
    if (use_exit) snprintf(want, sizeof want, "exited with code 3");
    else snprintf(want, sizeof want, "%lld was killed by signal %d (SIGKILL)",
                  (long long)victim, SIGKILL);
    CHECK_MSG(strstr(pc_last_error(), want) != NULL, "%s", pc_last_error());
    for (long i = 8; i < 10; i++) {
        CHECK_OK(pc_future_result(fs[i], 20, &r));
        if (victim) CHECK((int64_t)(intptr_t)r != victim);
    }
    long now[2];                    // back to its one worker: the one that ran 8 and 9
    CHECK_EQ(pc_process_pool_pids(ex, now, 2), (size_t)1);
    CHECK_EQ(now[0], (long)(intptr_t)r);
    pc_future *f;                   // still usable
    long n = 12;
    CHECK_OK(pc_executor_submit_copy(ex, t_square, &n, sizeof n, &f));
    CHECK_OK(pc_future_result(f, 20, &r));
    CHECK_EQ((long)(intptr_t)r, 144);
    pc_future_release(f);
    for (long i = 0; i < 10; i++) pc_future_release(fs[i]);
    pc_executor_free(ex);
    pc_args_free(a);
    pc_mp_event_free(ev);
    pc_mp_value_free(pidv);
    leak_end(k);
}
TEST(killed_worker_fork) { body_killed(PC_START_FORK, 0); }
TEST(killed_worker_spawn) { body_killed(PC_START_SPAWN, 0); }
TEST(killed_worker_forkserver) { body_killed(PC_START_FORKSERVER, 0); }
TEST(task_calls_exit_fork) { body_killed(PC_START_FORK, 1); }
TEST(task_calls_exit_spawn) { body_killed(PC_START_SPAWN, 1); }
TEST(task_calls_exit_forkserver) { body_killed(PC_START_FORKSERVER, 1); }

// >>rings: tasks and results cross in shared rings; those over half a ring
// go over the worker's pipe, announced in the ring, so the order holds
static void *t_sum(void *arg) {     // a checksum of its argument (its size first)
    const unsigned char *b = (const unsigned char *)arg;
    size_t n;
    memcpy(&n, b, sizeof n);
    uint64_t s = n * 7;
    for (size_t i = sizeof n; i < n; i++) s += b[i];
    return (void *)(uintptr_t)s;
}

static size_t ring_arg(unsigned char *buf, size_t round) {
    static const size_t sizes[] = {16, 3000, 140000, 70000, 24};    // 140000: on the pipe
    size_t n = sizes[round % 5];
    memcpy(buf, &n, sizeof n);
    for (size_t i = sizeof n; i < n; i++) buf[i] = (unsigned char)(i * 31 + round);
    return n;
}

static uint64_t ring_sum(const unsigned char *buf) {
    return (uint64_t)(uintptr_t)t_sum((void *)(uintptr_t)buf);
}

// One worker, so every message goes through the same two rings: one task
// at a time (the worker and the collector fall asleep between them, so a
// lost wake-up hangs a round) and bursts that fill the ring and wait for
// room, with arguments on the ring and on the pipe mixed.
static void body_ring_stress(pc_start_method m, int rounds) {
    leak_mark k = leak_begin(m);
    pc_executor *ex = pool(m, 1, 0);
    enum { BURST = 40 };
    unsigned char *buf = (unsigned char *)malloc(140000);
    uint64_t want[BURST];
    pc_future *fs[BURST];
    CHECK(buf != NULL);
    int slow = 0;               // rounds a lost wake-up would stretch to the worker's 1 s nap
    for (int r = 0; r < rounds; r++) {
        size_t n = ring_arg(buf, (size_t)r);
        void *res;
        double t0 = pc_monotonic();
        CHECK_OK(pc_executor_submit_copy(ex, t_sum, buf, n, &fs[0]));
        CHECK_OK(pc_future_result(fs[0], 20, &res));
        if (pc_monotonic() - t0 > 0.9) slow++;
        CHECK_MSG(slow <= 3, "%d rounds took the worker's 1 s nap (a lost wake-up)", slow);
        CHECK_EQ((uint64_t)(uintptr_t)res, ring_sum(buf));
        pc_future_release(fs[0]);
        if (r % 50 != 49) continue;
        for (int i = 0; i < BURST; i++) {
            n = ring_arg(buf, (size_t)(r + i));
            want[i] = ring_sum(buf);
            CHECK_OK(pc_executor_submit_copy(ex, t_sum, buf, n, &fs[i]));
        }
        for (int i = 0; i < BURST; i++) {
            CHECK_OK(pc_future_result(fs[i], 20, &res));
            CHECK_MSG((uint64_t)(uintptr_t)res == want[i], "burst item %d", i);
            pc_future_release(fs[i]);
        }
    }
    free(buf);
    pc_executor_free(ex);
    leak_end(k);
}
TEST(ring_stress_fork) { body_ring_stress(PC_START_FORK, 2000); }
TEST(ring_stress_forkserver) { body_ring_stress(PC_START_FORKSERVER, 1000); }

// Tasks go into a ring in batches, shown by one store and one look at
// whether the worker sleeps; results are read in place and given back a
// batch at a time. Bursts of every size from 1 to past both workers'
// windows (the rest queued, staged by the collector as results come back),
// each awaited so the workers fall asleep between them; and bursts whose
// 4 KiB results fill a result ring, so its worker waits for the room a
// batch gives back. A lost wake-up stretches a round to the worker's 1 s
// nap (or hangs a wait to its 20 s limit).
enum { BATCH_RESULT = 4096 };
static void *t_big(void *arg) {     // BATCH_RESULT bytes, each from arg
    static unsigned char out[BATCH_RESULT];
    for (size_t i = 0; i < sizeof out; i++) out[i] = (unsigned char)((uintptr_t)arg + i);
    return out;
}

static int batch_round(pc_executor *ex, pc_future **fs, int n, int big, int r) {
    int bad = 0;
    for (int i = 0; i < n; i++)
        if (pc_executor_submit(ex, big ? t_big : t_double_value, (void *)(intptr_t)(r + i),
                               &fs[i]))
            return 1;
    for (int i = 0; i < n; i++) {
        void *res = NULL;
        if (pc_future_result(fs[i], 20, &res) || !res) {
            bad = 1;
        } else if (big) {
            const unsigned char *b = (const unsigned char *)res;
            unsigned char last = (unsigned char)(r + i + BATCH_RESULT - 1);
            if (b[0] != (unsigned char)(r + i) || b[BATCH_RESULT - 1] != last) bad = 1;
        } else if ((intptr_t)res != 2 * (intptr_t)(r + i)) {
            bad = 1;
        }
        pc_future_release(fs[i]);
    }
    return bad;
}

static void body_batches_stress(pc_start_method m, int rounds) {
    enum { MOST = 2600 };
    leak_mark k = leak_begin(m);
    pc_future **fs = (pc_future **)calloc(MOST, sizeof *fs);
    CHECK(fs != NULL);
    int slow = 0;               // rounds a lost wake-up would stretch to the worker's 1 s nap
    for (int big = 0; big < 2; big++) {     // one pool at a time: no fork beside its threads
        pc_executor *ex = pool(m, 2, big ? BATCH_RESULT : 0);
        for (int r = 1; r <= rounds; r++) {
            int n = big ? 1 + (r * 53) % 200 : 1 + (r * 389) % MOST;
            double t0 = pc_monotonic();
            CHECK_MSG(!batch_round(ex, fs, n, big, r), "round %d: a burst of %d", r, n);
            if (pc_monotonic() - t0 > 0.9) slow++;
            CHECK_MSG(slow <= 3, "%d rounds took the worker's 1 s nap (a lost wake-up)", slow);
        }
        pc_executor_free(ex);
    }
    free(fs);
    leak_end(k);
}
TEST(batches_stress_fork) { body_batches_stress(PC_START_FORK, 400); }
TEST(batches_stress_forkserver) { body_batches_stress(PC_START_FORKSERVER, 400); }

// A reply too large for a ring (over the pipe) leaves room in its worker's
// window like any other: with nothing else submitted (a submit sends its
// task only when none is queued before it), whoever collects it, a waiting
// thread or the collector, sends the tasks queued behind the window, or a
// wait runs to its limit.
enum { PIPE_RESULT = 200000 };      // over half a ring
static void *t_pipe_result(void *arg) {
    static unsigned char out[PIPE_RESULT];
    memset(out, (int)(uintptr_t)arg, sizeof out);
    return out;
}

static void body_pipe_reply_fills(pc_start_method m) {
    enum { N = 6 };
    leak_mark k = leak_begin(m);
    pc_process_pool_desc d;
    memset(&d, 0, sizeof d);
    d.max_workers = 1;
    d.mp_context = pc_get_context(m);
    d.result_size = PIPE_RESULT;
    d.prefetch = 1;             // two tasks in the worker's window, the rest queued
    pc_executor *ex = pc_process_pool_new(&d);
    CHECK_MSG(ex != NULL, "pc_process_pool_new: %s", pc_last_error());
    for (int round = 0; round < 5; round++) {
        pc_future *fs[N];
        for (int i = 0; i < N; i++)
            CHECK_OK(pc_executor_submit(ex, t_pipe_result, (void *)(uintptr_t)(round + i + 1),
                                        &fs[i]));
        for (int i = 0; i < N; i++) {
            void *r = NULL;
            CHECK_MSG(pc_future_result(fs[i], 10, &r) == PC_OK, "round %d task %d: %s", round,
                      i, pc_last_error());
            const unsigned char *b = (const unsigned char *)r;
            CHECK(b && b[0] == (unsigned char)(round + i + 1) &&
                  b[PIPE_RESULT - 1] == (unsigned char)(round + i + 1));
            pc_future_release(fs[i]);
        }
    }
    pc_executor_free(ex);
    leak_end(k);
}
TEST(pipe_reply_fills_window_fork) { body_pipe_reply_fills(PC_START_FORK); }
TEST(pipe_reply_fills_window_forkserver) { body_pipe_reply_fills(PC_START_FORKSERVER); }

// Task records and their message buffers are reused: two threads submit
// at once, by value and by copy, arguments of changing sizes (some over the
// size of a kept buffer), two functions in turn, in bursts that leave
// records behind for the next; every result must be its own task's.
static void *t_id(void *arg) { return arg; }

typedef struct reuse_ctx { pc_executor *ex; int seed, bad; } reuse_ctx;

static int reuse_side(void *arg) {
    reuse_ctx *c = (reuse_ctx *)arg;
    enum { BURST = 48 };
    static const size_t sizes[] = {16, 9000, 24, 5000, 300, 4100, 8};
    unsigned char *bufs = (unsigned char *)malloc((size_t)BURST * 9000);
    pc_future *fs[BURST];
    uint64_t want[BURST];
    if (!bufs) return 1;
    for (int r = 0; r < 60 && !c->bad; r++) {
        for (int i = 0; i < BURST; i++) {
            unsigned char *b = bufs + (size_t)i * 9000;
            size_t n = sizes[(size_t)(r + i + c->seed) % 7];
            int by_value = (r + i) % 3 == 0;
            memcpy(b, &n, sizeof n);
            for (size_t k = sizeof n; k < n; k++) b[k] = (unsigned char)(k * 13 + r + i + c->seed);
            want[i] = by_value ? (uint64_t)(r * 1000 + i + 1) : ring_sum(b);
            int rc = by_value ? pc_executor_submit(c->ex, t_id, (void *)(uintptr_t)want[i], &fs[i])
                              : pc_executor_submit_copy(c->ex, t_sum, b, n, &fs[i]);
            if (rc) fs[i] = NULL, c->bad = 1;
        }
        for (int i = 0; i < BURST; i++) {
            void *res = NULL;
            if (!fs[i]) continue;
            if (pc_future_result(fs[i], 20, &res) || (uint64_t)(uintptr_t)res != want[i])
                c->bad = 1;
            pc_future_release(fs[i]);
        }
    }
    free(bufs);
    return 0;
}

static void body_records_reused(pc_start_method m) {
    leak_mark k = leak_begin(m);
    pc_executor *ex = pool(m, 2, 0);
    reuse_ctx a = {ex, 0, 0}, b = {ex, 3, 0};
    pc_thread *t = pct_thread_started(reuse_side, &b);
    reuse_side(&a);
    CHECK_OK(pc_thread_join(t, PC_FOREVER));
    pc_thread_free(t);
    CHECK_MSG(!a.bad && !b.bad, "a result that is not its task's (or a failed call)");
    pc_executor_free(ex);
    leak_end(k);
}
TEST(records_reused_fork) { body_records_reused(PC_START_FORK); }
TEST(records_reused_forkserver) { body_records_reused(PC_START_FORKSERVER); }

// >>waiters: a thread waiting on a future collects the results itself
// Three threads, one task at a time each, so the role of collecting moves
// between them and the collector thread all the time: some wait without
// a limit, some in short timed waits (the role handed back at each
// timeout), some futures carry a done callback. A lost wake-up leaves a
// wait to its 20 s limit: a failed round.
typedef struct waiters_ctx { pc_executor *ex; int seed, bad, calls; } waiters_ctx;

static void count_call(pc_future *f, void *ctx) {
    (void)f;
    __atomic_add_fetch((int *)ctx, 1, __ATOMIC_SEQ_CST);
}

static int waiters_side(void *arg) {
    waiters_ctx *c = (waiters_ctx *)arg;
    for (int r = 0; r < 1500 && !c->bad; r++) {
        uintptr_t want = (uintptr_t)(c->seed * 100000 + r + 1);
        pc_future *f;
        void *res = NULL;
        if (pc_executor_submit(c->ex, t_id, (void *)want, &f)) {
            c->bad = 1;
            break;
        }
        if (r % 5 == 0 && pc_future_add_done_callback(f, count_call, &c->calls)) c->bad = 1;
        int rc;
        if (r % 3 == 0) {
            double until = pc_monotonic() + 20;
            while ((rc = pc_future_result(f, 0.0005, &res)) == PC_TIMEOUT &&
                   pc_monotonic() < until) {}
        } else {
            rc = pc_future_result(f, 20, &res);
        }
        if (rc || (uintptr_t)res != want) c->bad = 1;
        pc_future_release(f);
    }
    return 0;
}

static void body_waiters_collect(pc_start_method m) {
    leak_mark k = leak_begin(m);
    pc_executor *ex = pool(m, 2, 0);
    waiters_ctx cs[3] = {{ex, 1, 0, 0}, {ex, 2, 0, 0}, {ex, 3, 0, 0}};
    pc_thread *ts[2];
    for (int i = 0; i < 2; i++) ts[i] = pct_thread_started(waiters_side, &cs[i + 1]);
    waiters_side(&cs[0]);
    for (int i = 0; i < 2; i++) {
        CHECK_OK(pc_thread_join(ts[i], PC_FOREVER));
        pc_thread_free(ts[i]);
    }
    for (int i = 0; i < 3; i++) {
        CHECK_MSG(!cs[i].bad, "thread %d: a wait failed or a result was not its task's", i);
        CHECK_EQ(__atomic_load_n(&cs[i].calls, __ATOMIC_SEQ_CST), 300);
    }
    pc_executor_free(ex);
    leak_end(k);
}
TEST(waiters_collect_stress_fork) { body_waiters_collect(PC_START_FORK); }
TEST(waiters_collect_stress_forkserver) { body_waiters_collect(PC_START_FORKSERVER); }

// >>looks: a worker and a waiting thread look while awake before sleeping
// A worker spins, then both yield between looks for a while, then sleep;
// a look that misses makes the next ones go to sleep at once. One worker
// (every task through the same two rings), one task at a time, with gaps
// of every length before each submit and tasks of every length (from none
// to past the whole look), so that each side finds the other's record in
// its spin, in its yields, just after its look ended, and asleep, in every
// state of its back-off; some waits are short timed ones (the look of a
// wait that times out, the role handed back). On one CPU (pinned: no spin,
// yields only) and on all. A lost wake-up stretches a round to the worker's
// 1 s nap, or a wait to its 20 s limit.
static void spin_for(double seconds) {
    double until = pc_monotonic() + seconds;
    while (pc_monotonic() < until) {}
}

static void *t_run_for(void *arg) {     // arg: microseconds of running, returned
    spin_for((double)(uintptr_t)arg * 1e-6);
    return arg;
}

// This process on the first CPU it may run on (its workers follow it).
static int pin_to_one_cpu(void) {
    cpu_set_t all, one;
    if (sched_getaffinity(0, sizeof all, &all)) return 0;
    for (int c = 0; c < CPU_SETSIZE; c++) {
        if (!CPU_ISSET(c, &all)) continue;
        CPU_ZERO(&one);
        CPU_SET(c, &one);
        return sched_setaffinity(0, sizeof one, &one) == 0;
    }
    return 0;
}

static void body_looks_stress(pc_start_method m, int one_cpu, int rounds) {
    static const unsigned us[] = {0, 1, 4, 15, 40, 55, 0, 90, 250, 2, 0, 700};
    enum { N_US = sizeof us / sizeof us[0] };
    if (one_cpu) CHECK_MSG(pin_to_one_cpu(), "sched_setaffinity failed");
    leak_mark k = leak_begin(m);
    pc_executor *ex = pool(m, 1, 0);
    int slow = 0;               // rounds a lost wake-up would stretch to the worker's 1 s nap
    for (int r = 0; r < rounds; r++) {
        uintptr_t run = us[(size_t)r % N_US] + (uintptr_t)r % 3;
        double gap = us[(size_t)(r / N_US) % N_US] * 1e-6;
        pc_future *f;
        void *res = NULL;
        int rc;
        spin_for(gap);
        double t0 = pc_monotonic();
        CHECK_OK(pc_executor_submit(ex, t_run_for, (void *)run, &f));
        if (r % 7 == 3) {
            while ((rc = pc_future_result(f, 0.00003, &res)) == PC_TIMEOUT &&
                   pc_monotonic() - t0 < 20) {}
        } else {
            rc = pc_future_result(f, 20, &res);
        }
        CHECK_MSG(rc == PC_OK, "round %d: %s", r, pc_last_error());
        CHECK_EQ((uintptr_t)res, run);
        pc_future_release(f);
        if (pc_monotonic() - t0 > 0.9) slow++;
        CHECK_MSG(slow <= 3, "%d rounds took the worker's 1 s nap (a lost wake-up)", slow);
    }
    pc_executor_free(ex);
    leak_end(k);
}
TEST(looks_stress_fork) { body_looks_stress(PC_START_FORK, 0, 6000); }
TEST(looks_stress_forkserver) { body_looks_stress(PC_START_FORKSERVER, 0, 3000); }
TEST(looks_stress_one_cpu_fork) { body_looks_stress(PC_START_FORK, 1, 6000); }
TEST(looks_stress_one_cpu_forkserver) { body_looks_stress(PC_START_FORKSERVER, 1, 3000); }

// A thread that collects sleeps on the pool's own event count: a cancel
// of the future it waits on (still queued behind a long task) must wake
// it at once, not when the next result comes.
typedef struct cancel_wait_ctx { pc_future *f; int rc; pc_event done; } cancel_wait_ctx;

static int cancel_waiter(void *arg) {
    cancel_wait_ctx *c = (cancel_wait_ctx *)arg;
    c->rc = pc_future_result(c->f, 20, NULL);
    pc_event_set(&c->done);
    return 0;
}

TEST(cancel_wakes_a_waiter_that_collects) {
    pc_process_pool_desc d;
    memset(&d, 0, sizeof d);
    d.max_workers = 1;
    d.prefetch = 1;             // two tasks in the worker's ring, the third queued
    d.mp_context = pc_get_context(PC_START_FORK);
    pc_executor *ex = pc_process_pool_new(&d);
    CHECK(ex != NULL);
    for (int round = 0; round < 3; round++) {
        double nap = 1.0;
        pc_future *slow, *next, *fs;
        CHECK_OK(pc_executor_submit_copy(ex, t_sleep, &nap, sizeof nap, &slow));
        CHECK_OK(pc_executor_submit(ex, t_id, (void *)(uintptr_t)7, &next));
        CHECK_OK(pc_executor_submit(ex, t_id, (void *)(uintptr_t)8, &fs));
        cancel_wait_ctx c;
        c.f = fs;
        c.rc = -1;
        pc_event_init(&c.done);
        pc_thread *t = pct_thread_started(cancel_waiter, &c);
        pc_sleep(0.05);         // most often asleep by now (either way the wait must end)
        CHECK(pc_future_cancel(fs));
        CHECK_MSG(pc_event_wait(&c.done, 0.4) == PC_OK, "the waiter slept through the cancel");
        CHECK_OK(pc_thread_join(t, PC_FOREVER));
        pc_thread_free(t);
        CHECK_EQ(c.rc, PC_CANCELLED);
        CHECK_OK(pc_future_result(slow, 20, NULL));
        CHECK_OK(pc_future_result(next, 20, NULL));
        pc_future_release(slow);
        pc_future_release(next);
        pc_future_release(fs);
    }
    pc_executor_free(ex);
}

// A pool whose owner is killed: its workers see their parent gone and end
// (they wait on their ring, waking each second to look at the parent).
static int pool_owner(void *arg) {
    pc_mp_array *pids;
    pc_mp_event *ev;
    if (pc_args_get_mp_array((pc_args *)arg, 0, &pids) ||
        pc_args_get_mp_event((pc_args *)arg, 1, &ev))
        return 1;
    pc_executor *ex = pc_process_pool_new(&(pc_process_pool_desc){
        .max_workers = 2, .mp_context = pc_get_context(PC_START_FORK)});
    pc_future *f;
    long n = 3, got[2];
    if (!ex || pc_executor_submit_copy(ex, t_square, &n, sizeof n, &f) ||
        pc_future_result(f, 20, NULL) || pc_process_pool_pids(ex, got, 2) != 2)
        return 1;
    int64_t *out = (int64_t *)pc_mp_array_get_obj(pids);
    out[0] = got[0];
    out[1] = got[1];
    pc_mp_event_set(ev);
    for (;;) pc_sleep(1);
}

static int process_alive(long pid) {     // a zombie is not
    char path[64], line[256];
    snprintf(path, sizeof path, "/proc/%ld/stat", pid);
    FILE *f = fopen(path, "r");
    if (!f) return 0;
    size_t n = fread(line, 1, sizeof line - 1, f);
    fclose(f);
    line[n] = '\0';
    const char *p = strrchr(line, ')');
    return p && p[1] == ' ' && p[2] != 'Z' && p[2] != 'X';
}

TEST(orphaned_workers_end) {
    pc_mp_array_desc ad;
    memset(&ad, 0, sizeof ad);
    ad.typecode = "q";
    ad.length = 2;
    pc_mp_array *pids = pc_mp_raw_array_new(&ad);
    pc_mp_event *ev = pc_mp_event_new();
    CHECK(pids != NULL && ev != NULL);
    pc_args *a = pc_args_new();
    CHECK_OK(pc_args_add_mp_array(a, pids));
    CHECK_OK(pc_args_add_mp_event(a, ev));
    pc_process *owner = pct_start(PC_START_FORK, pool_owner, a);
    CHECK_OK(pc_mp_event_wait(ev, 20));
    int64_t *w = (int64_t *)pc_mp_array_get_obj(pids);
    CHECK(w[0] > 0 && w[1] > 0);
    CHECK_OK(pc_process_kill(owner));
    CHECK_EQ(pct_finish(owner), -SIGKILL);
    double deadline = pc_monotonic() + 10;
    while ((process_alive((long)w[0]) || process_alive((long)w[1])) && pc_monotonic() < deadline)
        pc_sleep(0.02);         // nothing to wait on: they are not our children
    int left[2] = {process_alive((long)w[0]), process_alive((long)w[1])};
    for (int i = 0; i < 2; i++)
        if (left[i]) kill((pid_t)w[i], SIGKILL);    // not left behind by a failure
    CHECK_MSG(!left[0], "worker %lld outlived its pool", (long long)w[0]);
    CHECK_MSG(!left[1], "worker %lld outlived its pool", (long long)w[1]);
    pc_args_free(a);
    pc_mp_event_free(ev);
    pc_mp_array_free(pids);
}

// Results copied back: a task's (40000 bytes) fits the ring, a chunk's of
// four (160000) goes over the pipe; both kinds alternate on one worker.
#define BIG_RESULT 40000
static void *t_fill(void *arg) {
    static unsigned char out[BIG_RESULT];
    long n = *(const long *)arg;
    for (size_t i = 0; i < sizeof out; i++) out[i] = (unsigned char)(n + (long)i);
    return out;
}

static int fill_ok(const unsigned char *r, long n) {
    for (size_t i = 0; i < BIG_RESULT; i++)
        if (r[i] != (unsigned char)(n + (long)i)) return 0;
    return 1;
}

TEST(ring_and_pipe_results_fork) {
    leak_mark k = leak_begin(PC_START_FORK);
    pc_executor *ex = pool(PC_START_FORK, 1, BIG_RESULT);
    long items[8] = {1, 2, 3, 4, 5, 6, 7, 8};
    for (int round = 0; round < 20; round++) {
        pc_future *f;
        pc_map_iter *it;
        pc_map_desc d;
        memset(&d, 0, sizeof d);
        d.items = items;
        d.count = 8;
        d.item_size = sizeof(long);
        d.chunksize = 4;
        long n = 100 + round;
        CHECK_OK(pc_executor_submit_copy(ex, t_fill, &n, sizeof n, &f));
        CHECK_OK(pc_executor_map(ex, t_fill, &d, &it));
        void *r;
        CHECK_OK(pc_future_result(f, 20, &r));
        CHECK(fill_ok((const unsigned char *)r, n));
        for (long i = 0; i < 8; i++) {
            CHECK_OK(pc_map_iter_next(it, &r));
            CHECK_MSG(fill_ok((const unsigned char *)r, items[i]), "round %d item %ld", round, i);
        }
        CHECK_EQ(pc_map_iter_next(it, &r), PC_EOF);
        pc_map_iter_free(it);
        pc_future_release(f);
    }
    pc_executor_free(ex);
    leak_end(k);
}

// An idle pool makes no system call and spins nowhere: its threads and its
// workers use (nearly) no CPU while nothing is submitted.
static double proc_cpu_seconds(long pid) {   // utime + stime of a process, from /proc
    char path[64], line[1024];
    snprintf(path, sizeof path, "/proc/%ld/stat", pid);
    FILE *f = fopen(path, "r");
    if (!f) return 0;
    size_t n = fread(line, 1, sizeof line - 1, f);
    fclose(f);
    line[n] = '\0';
    const char *p = strrchr(line, ')');
    unsigned long ut = 0, st = 0;
    if (!p || sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &ut, &st) != 2)
        return 0;
    return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
}

TEST(idle_pool_sleeps) {
    leak_mark k = leak_begin(PC_START_FORK);
    pc_executor *ex = pool(PC_START_FORK, 2, 0);
    pc_future *f;
    long pids[2], n = 3;
    CHECK_OK(pc_executor_submit_copy(ex, t_square, &n, sizeof n, &f));
    CHECK_OK(pc_future_result(f, 20, NULL));
    pc_future_release(f);
    CHECK_EQ(pc_process_pool_pids(ex, pids, 2), (size_t)2);
    pc_sleep(0.05);             // the collector's short look ends
    struct timespec a, b;
    double w0 = proc_cpu_seconds(pids[0]) + proc_cpu_seconds(pids[1]);
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &a);
    pc_sleep(1.0);
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &b);
    double w1 = proc_cpu_seconds(pids[0]) + proc_cpu_seconds(pids[1]);
    double ours = (double)(b.tv_sec - a.tv_sec) + (double)(b.tv_nsec - a.tv_nsec) * 1e-9;
    CHECK_MSG(ours < 0.05, "the idle pool's threads used %.3f s of CPU in 1 s", ours);
    CHECK_MSG(w1 - w0 < 0.05, "idle workers used %.3f s of CPU in 1 s", w1 - w0);
    pc_executor_free(ex);
    leak_end(k);
}

// The logger says when a worker dies and which one replaces it.
static pc_lock g_log_lock = PC_LOCK_INIT;
static char g_log[512];
static pc_event g_logged;

static void capture_log(int level, const char *msg, void *ctx) {
    (void)ctx;
    if (level != PC_LOG_INFO || !strstr(msg, "replaces it")) return;
    pc_lock_acquire(&g_log_lock, PC_FOREVER);
    snprintf(g_log, sizeof g_log, "%s", msg);
    pc_lock_release(&g_log_lock);
    pc_event_set(&g_logged);
}

TEST(worker_replaced_logged) {
    leak_mark k = leak_begin(PC_START_SPAWN);
    pc_event_init(&g_logged);
    pc_logger *lg = pc_get_logger();
    int level = pc_logger_level(lg);
    CHECK_OK(pc_logger_set_handler(lg, capture_log, NULL));
    CHECK_OK(pc_logger_set_level(lg, PC_LOG_INFO));
    pc_executor *ex = pool(PC_START_SPAWN, 2, 0);
    long pids[2], after[2];
    CHECK_EQ(pc_process_pool_pids(ex, pids, 2), (size_t)2);
    CHECK_EQ(kill((pid_t)pids[0], SIGKILL), 0);
    CHECK_OK(pc_event_wait(&g_logged, 20));
    char want[128];
    snprintf(want, sizeof want, "worker process %ld was killed by signal %d (SIGKILL)", pids[0],
             SIGKILL);
    pc_lock_acquire(&g_log_lock, PC_FOREVER);
    CHECK_MSG(strstr(g_log, want) != NULL, "%s", g_log);
    pc_lock_release(&g_log_lock);
    CHECK_EQ(pc_process_pool_pids(ex, after, 2), (size_t)2);
    long fresh = after[0] == pids[1] ? after[1] : after[0];
    CHECK(fresh != pids[0] && fresh != pids[1]);
    snprintf(want, sizeof want, "worker process %ld replaces it", fresh);
    CHECK_MSG(strstr(g_log, want) != NULL, "%s", g_log);
    pc_executor_free(ex);
    CHECK_OK(pc_logger_set_handler(lg, NULL, NULL));
    CHECK_OK(pc_logger_set_level(lg, level));
    pc_event_destroy(&g_logged);
    leak_end(k);
}

// >>shutdown
static void body_shutdown_cancel(pc_start_method m) {
    leak_mark k = leak_begin(m);
    pc_executor *ex = pool(m, 1, 0);
    double t = 0.3;
    pc_future *fs[20];
    for (int i = 0; i < 20; i++) CHECK_OK(pc_executor_submit_copy(ex, t_sleep, &t, sizeof t,
                                                                  &fs[i]));
    while (!pc_future_running(fs[0])) pc_sleep(0.001);
    CHECK_OK(pc_executor_shutdown(ex, 1, 1));
    int done = 0, cancelled = 0;
    for (int i = 0; i < 20; i++) {
        if (pc_future_cancelled(fs[i])) cancelled++;
        else if (pc_future_result(fs[i], 0, NULL) == PC_OK) done++;
    }
    CHECK_EQ(done + cancelled, 20);
    CHECK(done >= 1 && done <= 3);      // the running one and those sent ahead
    pc_future *f;
    int rc = pc_executor_submit(ex, t_pid, NULL, &f);      // shut down and broken
    CHECK_MSG(rc == PC_BROKEN || rc == PC_SHUTDOWN, "%s", pc_strerror(rc));
    for (int i = 0; i < 20; i++) pc_future_release(fs[i]);
    pc_executor_free(ex);
    leak_end(k);
}
TEST(shutdown_cancel_futures_fork) { body_shutdown_cancel(PC_START_FORK); }
TEST(shutdown_cancel_futures_spawn) { body_shutdown_cancel(PC_START_SPAWN); }

// >>initializer
static int init_fail(void *arg) {
    (void)arg;
    return pc_raise(PC_VALUE, "no database");
}

static int init_check(void *arg) {
    const char *s;
    if (pc_args_get_str((pc_args *)arg, 0, &s) || strcmp(s, "hello")) return 1;
    return 0;
}

static void body_initializer(pc_start_method m) {
    leak_mark k = leak_begin(m);
    pc_args *a = pc_args_new();
    CHECK_OK(pc_args_add_str(a, "hello"));
    pc_process_pool_desc d;
    memset(&d, 0, sizeof d);
    d.max_workers = 2;
    d.mp_context = pc_get_context(m);
    d.initializer = init_check;
    d.initargs = a;
    pc_executor *ex = pc_process_pool_new(&d);
    CHECK(ex != NULL);
    pc_future *f;
    CHECK_OK(pc_executor_submit(ex, t_pid, NULL, &f));
    CHECK_OK(pc_future_result(f, 20, NULL));
    pc_future_release(f);
    pc_executor_free(ex);
    d.initializer = init_fail;
    ex = pc_process_pool_new(&d);
    CHECK(ex != NULL);
    // The pool breaks when a worker's initializer fails: before this
    // submit or after it, the task fails with the initializer's message.
    int rc = pc_executor_submit(ex, t_pid, NULL, &f);
    if (rc == PC_OK) {
        CHECK_EQ(pc_future_result(f, 20, NULL), PC_BROKEN);
        pc_future_release(f);
    }
    CHECK_EQ(rc == PC_OK ? PC_BROKEN : rc, PC_BROKEN);
    CHECK(strstr(pc_last_error(), "no database") != NULL);
    CHECK_EQ(pc_executor_submit(ex, t_pid, NULL, &f), PC_BROKEN);
    pc_executor_free(ex);
    pc_args_free(a);
    leak_end(k);
}
TEST(initializer_fork) { body_initializer(PC_START_FORK); }
TEST(initializer_spawn) { body_initializer(PC_START_SPAWN); }

// >>max_tasks_per_child
static void body_max_tasks(pc_start_method m) {
    leak_mark k = leak_begin(m);
    pc_process_pool_desc d;
    memset(&d, 0, sizeof d);
    d.max_workers = 2;
    d.max_tasks_per_child = 2;
    d.mp_context = pc_get_context(m);
    pc_executor *ex = pc_process_pool_new(&d);
    CHECK(ex != NULL);
    pc_future *fs[12];
    long pids[12];
    for (int i = 0; i < 12; i++) CHECK_OK(pc_executor_submit(ex, t_pid, NULL, &fs[i]));
    for (int i = 0; i < 12; i++) {
        void *r;
        CHECK_OK(pc_future_result(fs[i], 20, &r));
        pids[i] = (long)(intptr_t)r;
        pc_future_release(fs[i]);
    }
    for (int i = 0; i < 12; i++) {          // no pid ran more than 2 tasks
        int same = 0;
        for (int j = 0; j < 12; j++) same += pids[j] == pids[i];
        CHECK(same <= 2);
    }
    pc_executor_free(ex);
    d.mp_context = pc_get_context(PC_START_FORK);
    CHECK(pc_process_pool_new(&d) == NULL);
    CHECK_EQ(pc_last_error_code(), PC_VALUE);
    leak_end(k);
}
TEST(max_tasks_per_child_spawn) { body_max_tasks(PC_START_SPAWN); }
TEST(max_tasks_per_child_forkserver) { body_max_tasks(PC_START_FORKSERVER); }

// While tasks wait behind, the pool wakes a worker only once half its
// window waits for it; but tasks shown to a worker that will be shown no
// more before it runs them wake it at once, here a worker whose ring is
// full of large messages (100 KiB: two fit). Tasks left for the worker's
// periodic nap would make rounds of about a second.
enum { WAKE_ARG = 100 * 1024 };
static void *t_first_byte(void *arg) { return (void *)(uintptr_t)*(unsigned char *)arg; }

static void body_full_ring_wakes(pc_start_method m) {
    static unsigned char arg[WAKE_ARG];
    enum { N = 24, ROUNDS = 12 };
    leak_mark k = leak_begin(m);
    pc_process_pool_desc d;
    memset(&d, 0, sizeof d);
    d.max_workers = 1;
    d.mp_context = pc_get_context(m);
    pc_executor *ex = pc_process_pool_new(&d);
    CHECK_MSG(ex != NULL, "pc_process_pool_new: %s", pc_last_error());
    int slow = 0;
    for (int round = 0; round < ROUNDS; round++) {
        pc_future *fs[N];
        double t0 = pc_monotonic();
        for (int i = 0; i < N; i++) {
            arg[0] = (unsigned char)(round + i);
            CHECK_OK(pc_executor_submit_copy(ex, t_first_byte, arg, sizeof arg, &fs[i]));
        }
        for (int i = 0; i < N; i++) {
            void *r = NULL;
            CHECK_MSG(pc_future_result(fs[i], 20, &r) == PC_OK, "round %d task %d: %s", round, i,
                      pc_last_error());
            CHECK_EQ((intptr_t)r, (intptr_t)(unsigned char)(round + i));
            pc_future_release(fs[i]);
        }
        if (pc_monotonic() - t0 > 0.9) slow++;
    }
    CHECK_MSG(slow <= 1, "%d of %d rounds took the worker's 1 s nap", slow, ROUNDS);
    pc_executor_free(ex);
    leak_end(k);
}
TEST(full_ring_wakes_worker_fork) { body_full_ring_wakes(PC_START_FORK); }
TEST(full_ring_wakes_worker_forkserver) { body_full_ring_wakes(PC_START_FORKSERVER); }

// Submit pushes onto the pool's intake without its lock, and shutdown
// closes the intake: with three threads submitting as fast as they can
// while another shuts the pool down, every submit either is refused
// (PC_SHUTDOWN) or its task runs before shutdown(wait) returns, with its
// own result; none is lost between the two. Most rounds see refusals (a
// side would need 20,000 submits before shutdown's first step otherwise).
typedef struct race_side {
    pc_executor *ex;
    pc_event going;             // set once this side has tasks in
    pc_future *fs[20000];
    int n, refused_rc;
} race_side;

static int race_submit(void *arg) {
    race_side *r = (race_side *)arg;
    for (r->n = 0; r->n < (int)(sizeof r->fs / sizeof r->fs[0]); r->n++) {
        int rc = pc_executor_submit(r->ex, t_double_value, (void *)(intptr_t)(r->n + 1),
                                    &r->fs[r->n]);
        if (r->n == 50) pc_event_set(&r->going);
        if (rc) {
            r->refused_rc = rc;
            break;
        }
    }
    pc_event_set(&r->going);
    return 0;
}

static void body_submit_races_shutdown(pc_start_method m) {
    enum { SIDES = 3, ROUNDS = 8 };
    leak_mark k = leak_begin(m);
    race_side *sides = (race_side *)calloc(SIDES, sizeof *sides);
    CHECK(sides != NULL);
    int refused = 0;            // rounds in which some submit was refused
    for (int round = 0; round < ROUNDS; round++) {
        pc_executor *ex = pool(m, 2, 0);
        pc_thread *ts[SIDES];
        for (int i = 0; i < SIDES; i++) {
            memset(&sides[i], 0, sizeof sides[i]);
            sides[i].ex = ex;
            pc_event_init(&sides[i].going);
            ts[i] = pct_thread_started(race_submit, &sides[i]);
        }
        for (int i = 0; i < SIDES; i++) CHECK_OK(pc_event_wait(&sides[i].going, 20));
        CHECK_OK(pc_executor_shutdown(ex, 1, 0));
        int any_refused = 0;
        for (int i = 0; i < SIDES; i++) {
            race_side *r = &sides[i];
            CHECK_OK(pc_thread_join(ts[i], PC_FOREVER));
            pc_thread_free(ts[i]);
            pc_event_destroy(&r->going);
            CHECK_MSG(r->refused_rc == 0 || r->refused_rc == PC_SHUTDOWN, "refused with %d",
                      r->refused_rc);
            any_refused |= r->refused_rc != 0;
            for (int j = 0; j < r->n; j++) {
                void *res = NULL;
                CHECK_MSG(pc_future_done(r->fs[j]), "round %d: an accepted task did not run",
                          round);
                CHECK_OK(pc_future_result(r->fs[j], 0, &res));
                CHECK_EQ((intptr_t)res, 2 * (intptr_t)(j + 1));
                pc_future_release(r->fs[j]);
            }
        }
        refused += any_refused;
        pc_executor_free(ex);
    }
    CHECK_MSG(refused > 0, "no submit met the shutdown in %d rounds", ROUNDS);
    free(sides);
    leak_end(k);
}
TEST(submit_races_shutdown_fork) { body_submit_races_shutdown(PC_START_FORK); }
TEST(submit_races_shutdown_forkserver) { body_submit_races_shutdown(PC_START_FORKSERVER); }

// >>bad input
static int not_code;
TEST(bad_input) {
    pc_process_pool_desc d;
    memset(&d, 0, sizeof d);
    d.max_workers = -1;
    CHECK(pc_process_pool_new(&d) == NULL);
    CHECK_EQ(pc_last_error_code(), PC_VALUE);
    d.max_workers = 1;
    d.max_tasks_per_child = -1;
    CHECK(pc_process_pool_new(&d) == NULL);
    CHECK_EQ(pc_last_error_code(), PC_VALUE);
    d.max_tasks_per_child = 0;
    d.mp_context = pc_get_context(PC_START_SPAWN);
    pc_executor *ex = pc_process_pool_new(&d);
    CHECK(ex != NULL);
    pc_future *f;
    pc_task_fn bogus;
    void *data = &not_code;
    memcpy(&bogus, &data, sizeof bogus);
    CHECK_EQ(pc_executor_submit(ex, bogus, NULL, &f), PC_VALUE);
    CHECK_EQ(pc_executor_submit(ex, NULL, NULL, &f), PC_VALUE);
    CHECK_EQ(pc_executor_submit_copy(ex, t_square, NULL, 8, &f), PC_VALUE);
    CHECK_EQ(pc_process_pool_terminate_workers(NULL), PC_VALUE);
    CHECK_EQ(pc_process_pool_pids(ex, NULL, 0), (size_t)1);
    pc_executor_free(ex);
    CHECK(no_zombies());
}

// >>terminate_workers (3.14)
TEST(terminate_workers) {
    leak_mark k = leak_begin(PC_START_SPAWN);
    pc_executor *ex = pool(PC_START_SPAWN, 2, 0);
    double t = 30;
    pc_future *f;
    CHECK_OK(pc_executor_submit_copy(ex, t_sleep, &t, sizeof t, &f));
    while (!pc_future_running(f)) pc_sleep(0.001);
    CHECK_OK(pc_process_pool_terminate_workers(ex));
    CHECK_EQ(pc_future_result(f, 20, NULL), PC_BROKEN);
    pc_future_release(f);
    pc_executor_free(ex);
    leak_end(k);
}

// >>wait and as_completed over a process pool's futures
static void *t_wait_event(void *arg) {      // the worker's event from its initializer
    pc_mp_event_wait(g_started, 60);
    return arg;
}

static pc_executor *pool_shared(pc_start_method m, int workers, pc_mp_event *ev,
                                pc_mp_value *pidv) {
    pc_args *a = pc_args_new();
    CHECK_OK(pc_args_add_mp_event(a, ev));
    CHECK_OK(pc_args_add_mp_value(a, pidv));
    pc_process_pool_desc d;
    memset(&d, 0, sizeof d);
    d.max_workers = workers;
    d.mp_context = pc_get_context(m);
    d.initializer = init_keep;
    d.initargs = a;
    pc_executor *ex = pc_process_pool_new(&d);
    CHECK_MSG(ex != NULL, "%s", pc_last_error());
    pc_args_free(a);            // the pool has its own copy
    return ex;
}

static pc_mp_value *pid_value(void) {
    pc_mp_value_desc vd;
    memset(&vd, 0, sizeof vd);
    vd.typecode = "q";
    pc_mp_value *v = pc_mp_value_new(&vd);
    CHECK(v != NULL);
    return v;
}

static void body_wait(pc_start_method m) {
    leak_mark k = leak_begin(m);
    pc_mp_event *ev = pc_mp_event_new();
    pc_mp_value *pidv = pid_value();
    pc_executor *ex = pool_shared(m, 2, ev, pidv);
    pc_future *fs[4], *done[4], *not_done[4];
    long n = 6;
    CHECK_OK(pc_executor_submit_copy(ex, t_square, &n, sizeof n, &fs[0]));
    CHECK_OK(pc_executor_submit(ex, t_wait_event, (void *)(intptr_t)1, &fs[1]));
    CHECK_OK(pc_executor_submit_copy(ex, t_raise, &n, sizeof n, &fs[2]));
    CHECK_OK(pc_executor_submit(ex, t_wait_event, (void *)(intptr_t)2, &fs[3]));
    size_t nd = 0, nn = 0;
    CHECK_EQ(pc_futures_wait(fs, 4, 0.2, PC_ALL_COMPLETED, done, &nd, not_done, &nn),
             PC_TIMEOUT);
    CHECK_EQ(nd + nn, (size_t)4);
    CHECK(nn >= 1);
    CHECK_OK(pc_futures_wait(fs, 4, 20, PC_FIRST_EXCEPTION, done, &nd, not_done, &nn));
    CHECK(pc_future_done(fs[2]));
    pc_as_completed *it;
    CHECK_OK(pc_futures_as_completed(fs, 4, 20, &it));
    pc_future *f;
    int seen = 0, seen_first = 0;
    for (int i = 0; i < 2; i++) {       // the two that finished, before the event
        CHECK_OK(pc_as_completed_next(it, &f));
        seen_first |= f == fs[0];
        seen++;
    }
    CHECK(seen_first);
    CHECK_OK(pc_mp_event_set(ev));
    while (pc_as_completed_next(it, &f) == PC_OK) seen++;
    CHECK_EQ(seen, 4);
    pc_as_completed_free(it);
    CHECK_OK(pc_futures_wait(fs, 4, 20, PC_ALL_COMPLETED, done, &nd, NULL, NULL));
    CHECK_EQ(nd, (size_t)4);
    for (int i = 0; i < 4; i++) pc_future_release(fs[i]);
    pc_executor_free(ex);
    pc_mp_event_free(ev);
    pc_mp_value_free(pidv);
    leak_end(k);
}
TEST(wait_and_as_completed_fork) { body_wait(PC_START_FORK); }
TEST(wait_and_as_completed_spawn) { body_wait(PC_START_SPAWN); }

// >>a killed worker among several: only its task fails; initargs are the
// pool's copy (the caller freed the pack), so the replacement starts too
static void *t_die(void *arg) {
    int64_t pid = getpid();
    (void)arg;
    pc_mp_value_store(g_pid, &pid, sizeof pid);
    kill(getpid(), SIGKILL);
    for (;;) pc_sleep(1);
    return NULL;
}
static void *t_tell_pid(void *arg) {        // needs the initializer's objects
    int64_t pid = getpid();
    (void)arg;
    pc_mp_value_store(g_pid, &pid, sizeof pid);
    return (void *)(intptr_t)pid;
}

static void body_killed_many(pc_start_method m) {
    leak_mark k = leak_begin(m);
    pc_mp_event *ev = pc_mp_event_new();
    pc_mp_value *pidv = pid_value();
    pc_executor *ex = pool_shared(m, 3, ev, pidv);
    pc_future *fs[31];
    for (long i = 0; i < 30; i++)
        CHECK_OK(pc_executor_submit_copy(ex, t_square, &i, sizeof i, &fs[i]));
    CHECK_OK(pc_executor_submit(ex, t_die, NULL, &fs[30]));
    void *r;
    CHECK_EQ(pc_future_result(fs[30], 30, &r), PC_BROKEN);
    int64_t victim = 0;
    CHECK_OK(pc_mp_value_load(pidv, &victim, sizeof victim));
    char want[128];
    snprintf(want, sizeof want, "%lld was killed by signal %d (SIGKILL)", (long long)victim,
             SIGKILL);
    CHECK_MSG(strstr(pc_last_error(), want) != NULL, "%s", pc_last_error());
    for (long i = 0; i < 30; i++) {
        CHECK_OK(pc_future_result(fs[i], 30, &r));
        CHECK_EQ((long)(intptr_t)r, i * i);
    }
    for (int i = 0; i < 31; i++) pc_future_release(fs[i]);
    long pids[3];
    CHECK_EQ(pc_process_pool_pids(ex, pids, 3), (size_t)3);   // replaced
    for (int round = 0; round < 12; round++) {  // every worker, the new one too, has its pack
        pc_future *f;
        CHECK_OK(pc_executor_submit(ex, t_tell_pid, NULL, &f));
        CHECK_OK(pc_future_result(f, 30, &r));
        int64_t told = 0;
        CHECK_OK(pc_mp_value_load(pidv, &told, sizeof told));
        CHECK(told != victim);
        pc_future_release(f);
    }
    pc_executor_free(ex);
    pc_mp_event_free(ev);
    pc_mp_value_free(pidv);
    leak_end(k);
}
TEST(killed_worker_of_three_fork) { body_killed_many(PC_START_FORK); }
TEST(killed_worker_of_three_spawn) { body_killed_many(PC_START_SPAWN); }
TEST(killed_worker_of_three_forkserver) { body_killed_many(PC_START_FORKSERVER); }

// >>kill_workers (3.14): SIGKILL, running and queued tasks fail, nothing restarts
TEST(kill_workers) {
    leak_mark k = leak_begin(PC_START_FORK);
    pc_mp_event *ev = pc_mp_event_new();
    pc_mp_value *pidv = pid_value();
    pc_executor *ex = pool_shared(PC_START_FORK, 2, ev, pidv);
    pc_future *fs[5];
    for (int i = 0; i < 5; i++) CHECK_OK(pc_executor_submit(ex, t_wait_event, NULL, &fs[i]));
    while (!pc_future_running(fs[0])) pc_sleep(0.001);
    CHECK_OK(pc_process_pool_kill_workers(ex));
    for (int i = 0; i < 5; i++) {
        int rc = pc_future_result(fs[i], 20, NULL);
        CHECK_MSG(rc == PC_BROKEN || rc == PC_CANCELLED, "task %d: %s", i, pc_strerror(rc));
        pc_future_release(fs[i]);
    }
    pc_future *f;
    int rc = pc_executor_submit(ex, t_pid, NULL, &f);      // shut down and broken
    CHECK_MSG(rc == PC_BROKEN || rc == PC_SHUTDOWN, "%s", pc_strerror(rc));
    CHECK_EQ(pc_process_pool_kill_workers(NULL), PC_VALUE);
    pc_executor_free(ex);
    pc_mp_event_free(ev);
    pc_mp_value_free(pidv);
    leak_end(k);
}

// >>a task that crashes, beside items and results bigger than a pipe's buffer
enum { CRASH_LAST = PCT_NBIG - 1, CRASH_MID = 4 };

static void body_crash_big(pc_start_method m) {
    pct_leak k = pct_leak_begin(m);
    pct_big_gate_begin(m);
    pc_process_pool_desc d;
    memset(&d, 0, sizeof d);
    d.max_workers = 2;
    d.prefetch = 2;
    d.mp_context = pc_get_context(m);
    d.result_size = PCT_BIG;
    pc_executor *ex = pc_process_pool_new(&d);
    CHECK_MSG(ex != NULL, "%s", pc_last_error());
    // map: items 0..8 come back right, then the crashed item 9 fails
    pct_big_item *items = pct_big_items(CRASH_LAST);
    pc_map_desc md;
    memset(&md, 0, sizeof md);
    md.items = items;
    md.count = PCT_NBIG;
    md.item_size = sizeof *items;
    pc_map_iter *it;
    CHECK_OK(pc_executor_map(ex, pct_big_or_crash, &md, &it));
    void *r;
    for (long i = 0; i < CRASH_LAST; i++) {
        CHECK_MSG(pc_map_iter_next(it, &r) == PC_OK, "item %ld: %s", i, pc_last_error());
        pct_check_big_result(r, i);
    }
    pct_big_gate_open();
    CHECK_EQ(pc_map_iter_next(it, &r), PC_BROKEN);
    pct_check_segv_message(CRASH_LAST);
    CHECK_EQ(pc_map_iter_next(it, &r), PC_EOF);
    pc_map_iter_free(it);
    free(items);
    // one by one: the crash in the middle, with later items sent to the
    // same worker; every other item is right
    pct_big_gate_close();
    items = pct_big_items(CRASH_MID);
    pc_future *fs[PCT_NBIG];
    for (long i = 0; i < PCT_NBIG; i++)
        CHECK_OK(pc_executor_submit_copy(ex, pct_big_or_crash, &items[i], sizeof items[i], &fs[i]));
    free(items);
    for (long i = 0; i < PCT_NBIG; i++) {
        if (i == CRASH_MID) pct_big_gate_open();
        int rc = pc_future_result(fs[i], 60, &r);
        if (i == CRASH_MID) {
            CHECK_EQ(rc, PC_BROKEN);
            pct_check_segv_message(i);
        } else {
            CHECK_MSG(rc == PC_OK, "item %ld: %s", i, pc_last_error());
            pct_check_big_result(r, i);
        }
        pc_future_release(fs[i]);
    }
    CHECK_OK(pc_executor_shutdown(ex, 1, 0));
    pc_executor_free(ex);
    pct_big_gate_end();
    pct_leak_end(k);
}
// Where the worker dies against the pipe traffic varies: several rounds.
static void crash_big_rounds(pc_start_method m) {
    for (int round = 0; round < 5; round++) body_crash_big(m);
}
TEST(crash_beside_big_items_fork) { crash_big_rounds(PC_START_FORK); }
TEST(crash_beside_big_items_spawn) { crash_big_rounds(PC_START_SPAWN); }
TEST(crash_beside_big_items_forkserver) { crash_big_rounds(PC_START_FORKSERVER); }

// >>max_tasks_per_child=3, one worker: tasks 1-3 in one process, 4-6 in the next, ...
static void body_quota_order(pc_start_method m) {
    pct_leak k = pct_leak_begin(m);
    pc_process_pool_desc d;
    memset(&d, 0, sizeof d);
    d.max_workers = 1;
    d.max_tasks_per_child = 3;
    d.mp_context = pc_get_context(m);
    pc_executor *ex = pc_process_pool_new(&d);
    CHECK_MSG(ex != NULL, "%s", pc_last_error());
    enum { N = 10 };
    pc_future *fs[N];
    long pids[N];
    for (int i = 0; i < N; i++) CHECK_OK(pc_executor_submit(ex, t_pid, NULL, &fs[i]));
    for (int i = 0; i < N; i++) {
        void *r;
        CHECK_MSG(pc_future_result(fs[i], 30, &r) == PC_OK, "task %d: %s", i + 1, pc_last_error());
        pids[i] = (long)(intptr_t)r;
        pc_future_release(fs[i]);
    }
    for (int i = 0; i < N; i++) {           // same process exactly within each group of 3
        int same_group = i / 3 == (i ? (i - 1) / 3 : 0);
        if (i) CHECK_MSG((pids[i] == pids[i - 1]) == same_group,
                         "task %d ran in %ld, task %d in %ld", i, pids[i - 1], i + 1, pids[i]);
        for (int j = 0; j < i; j++)
            if (j / 3 != i / 3) CHECK_MSG(pids[j] != pids[i], "tasks %d and %d: pid %ld",
                                          j + 1, i + 1, pids[i]);
    }
    pc_executor_free(ex);
    pct_leak_end(k);
}
TEST(max_tasks_per_child_order_spawn) { body_quota_order(PC_START_SPAWN); }
TEST(max_tasks_per_child_order_forkserver) { body_quota_order(PC_START_FORKSERVER); }
TEST(max_tasks_per_child_refused_fork) {
    pc_process_pool_desc d;
    memset(&d, 0, sizeof d);
    d.max_workers = 1;
    d.max_tasks_per_child = 3;
    d.mp_context = pc_get_context(PC_START_FORK);
    CHECK(pc_process_pool_new(&d) == NULL);
    CHECK_EQ(pc_last_error_code(), PC_VALUE);
    CHECK(strstr(pc_last_error(), "fork") != NULL);
    CHECK(no_zombies());
}

// >>after the pool is freed: no descriptor, zombie or process of it is left
static void *t_suicide(void *arg) {
    (void)arg;
    kill(getpid(), SIGKILL);
    for (;;) pc_sleep(1);
    return NULL;
}

// Add the pool's live workers to pids (no duplicates).
static void note_pids(pc_executor *ex, long *pids, int *n, int cap) {
    long now[8];
    size_t got = pc_process_pool_pids(ex, now, 8);
    for (size_t i = 0; i < got && i < 8; i++) {
        int seen = 0;
        for (int j = 0; j < *n; j++) seen |= pids[j] == now[i];
        if (!seen && *n < cap) pids[(*n)++] = now[i];
    }
}

// Each pid is gone from /proc: neither running nor a zombie (of ours or of
// the forkserver). Freeing reaps them; the forkserver may take a moment.
static void check_gone(const long *pids, int n) {
    for (int i = 0; i < n; i++) {
        char st = pct_proc_state(pids[i]);
        for (int w = 0; w < 1000 && st != '?'; w++, st = pct_proc_state(pids[i])) pc_sleep(0.01);
        CHECK_MSG(st == '?', "worker %ld is still there (state %c)", pids[i], st);
    }
}

static void body_freed_leaves_nothing(pc_start_method m) {
    pct_leak k = pct_leak_begin(m);
    for (int round = 0; round < 3; round++) {
        pc_executor *ex = pool(m, 2, 0);
        long pids[16];
        int n = 0;
        note_pids(ex, pids, &n, 16);
        CHECK_EQ(n, 2);
        pc_future *f;
        CHECK_OK(pc_executor_submit(ex, t_suicide, NULL, &f));
        CHECK_EQ(pc_future_result(f, 30, NULL), PC_BROKEN);
        pc_future_release(f);
        CHECK_OK(pc_executor_submit(ex, t_pid, NULL, &f));     // the replacement runs
        CHECK_OK(pc_future_result(f, 30, NULL));
        pc_future_release(f);
        note_pids(ex, pids, &n, 16);
        CHECK_EQ(n, 3);
        double t = 0.05;
        for (int i = 0; i < 4; i++) {       // left to the free: running and queued
            CHECK_OK(pc_executor_submit_copy(ex, t_sleep, &t, sizeof t, &f));
            pc_future_release(f);
        }
        pc_executor_free(ex);
        check_gone(pids, n);
        pct_leak_end(k);
    }
}
TEST(freed_leaves_nothing_fork) { body_freed_leaves_nothing(PC_START_FORK); }
TEST(freed_leaves_nothing_spawn) { body_freed_leaves_nothing(PC_START_SPAWN); }
TEST(freed_leaves_nothing_forkserver) { body_freed_leaves_nothing(PC_START_FORKSERVER); }

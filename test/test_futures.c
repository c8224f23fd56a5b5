/* Tests of pyconc_futures.h: Python's concurrent.futures, after CPython's
   Lib/test/test_concurrent_futures/ (future, wait, as_completed, executor,
   thread_pool, shutdown, initializers, deadlock). */
#define PYCONC_IMPLEMENTATION
#define PYCONC_FUTURES_IMPLEMENTATION
#include "pyconc_futures.h"
#include "pc_test.h"

#include <limits.h>
#if defined(__GLIBC__)
#include <malloc.h>
#endif
#include <sched.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#if defined(__SANITIZE_THREAD__)
#define PCT_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define PCT_TSAN 1
#endif
#endif
#ifndef PCT_TSAN
#define PCT_TSAN 0
#endif

#define LIMIT 10.0   // no wait in a passing test comes near this

// Run a wait whose condition some other thread meets at once: it must end
// long before its LIMIT timeout, or a wake-up was lost (a wait that ran
// into its timeout and then found the work done would still pass).
#define CHECK_WOKEN(expr)                                                   \
    do {                                                                    \
        double pct_t0_ = pc_monotonic();                                    \
        CHECK_OK(expr);                                                     \
        double pct_took_ = pc_monotonic() - pct_t0_;                        \
        CHECK_MSG(pct_took_ < LIMIT / 2, "woken after %.3f s: lost wake-up?", pct_took_); \
    } while (0)

// >>helpers
static void *identity(void *arg) { return arg; }

static void *twice(void *arg) { return (void *)(2 * (intptr_t)arg); }

static void *square_long(void *arg) {
    long v = *(long *)arg;
    return (void *)(intptr_t)(v * v);
}

static void *raise_value(void *arg) {
    pc_raise(PC_VALUE, "bad item %ld", (long)(intptr_t)arg);
    return NULL;
}

// Block until the event in arg is set; return the event.
static void *wait_event(void *arg) {
    pc_event_wait((pc_event *)arg, LIMIT);
    return arg;
}

static pc_executor *pool(int workers, const char *prefix) {
    pc_thread_pool_desc d;
    memset(&d, 0, sizeof d);
    d.max_workers = workers;
    d.thread_name_prefix = prefix;
    pc_executor *ex = pc_thread_pool_new(&d);
    CHECK(ex != NULL);
    return ex;
}

static pc_future *finished(void *result) {
    pc_future *f = pc_future_new();
    CHECK(f != NULL);
    CHECK_OK(pc_future_set_result(f, result));
    return f;
}

static pc_future *failed(int code) {
    pc_future *f = pc_future_new();
    CHECK(f != NULL);
    CHECK_OK(pc_future_set_exception(f, code, "failed with %d", code));
    return f;
}

static pc_future *cancelled(void) {
    pc_future *f = pc_future_new();
    CHECK(f != NULL);
    CHECK_EQ(pc_future_cancel(f), 1);
    return f;
}

// Whether thread tid of this process is asleep (state S in /proc): then a
// wait it is in has parked, and only a wake-up can end it.
static int thread_asleep(long tid) {
    char path[64], buf[512];
    snprintf(path, sizeof path, "/proc/self/task/%ld/stat", tid);
    FILE *fp = fopen(path, "r");
    if (!fp) return 1;          // no /proc: do not wait for it
    size_t got = fread(buf, 1, sizeof buf - 1, fp);
    fclose(fp);
    buf[got] = '\0';
    const char *paren = strrchr(buf, ')');     // the name may hold spaces
    return !paren || (paren[1] == ' ' && paren[2] == 'S');
}

// A thread that, once `go` is set and the thread that started it is asleep
// (waiting on f, as a rule), finishes `f` (with code: as an exception).
// Completing a future nobody sleeps on would not test the wake-up.
typedef struct later {
    pc_event go;
    pc_future *f;
    int code;
    void *value;
    pc_thread *t;
    long waiter_tid;
} later;

static int later_main(void *arg) {
    later *l = (later *)arg;
    if (pc_event_wait(&l->go, LIMIT) != PC_OK) return PC_TIMEOUT;
    for (double end = pc_monotonic() + 2; !thread_asleep(l->waiter_tid) && pc_monotonic() < end;)
        pc_sleep(0.0005);
    if (l->code) return pc_future_set_exception(l->f, l->code, "late failure");
    return pc_future_set_result(l->f, l->value);
}

static void later_start(later *l, pc_future *f, int code, void *value) {
    memset(l, 0, sizeof *l);
    l->f = f;
    l->code = code;
    l->value = value;
    l->waiter_tid = (long)syscall(SYS_gettid);
    l->t = pc_thread_new(&(pc_thread_desc){ .target = later_main, .arg = l });
    CHECK(l->t != NULL);
    CHECK_OK(pc_thread_start(l->t));
}

static void later_join(later *l) {
    CHECK_OK(pc_thread_join(l->t, LIMIT));
    CHECK_EQ(pc_thread_exitcode(l->t), PC_OK);
    pc_thread_free(l->t);
}

// >>future
TEST(future_initial_state) {
    pc_future *f = pc_future_new();
    CHECK(f != NULL);
    CHECK_EQ(pc_future_get_state(f), PC_FUTURE_PENDING);
    CHECK(!pc_future_done(f) && !pc_future_running(f) && !pc_future_cancelled(f));
    CHECK_OK(pc_future_set_running_or_notify_cancel(f));
    CHECK(pc_future_running(f) && !pc_future_done(f));
    CHECK_OK(pc_future_set_result(f, (void *)7));
    CHECK(pc_future_done(f) && !pc_future_running(f));
    CHECK_EQ(pc_future_get_state(f), PC_FUTURE_FINISHED);
    void *out = NULL;
    CHECK_OK(pc_future_result(f, 0, &out));
    CHECK(out == (void *)7);
    CHECK(pc_future_retain(f) == f);
    pc_future_release(f);
    pc_future_release(f);
}

TEST(future_result_timeout) {
    pc_future *f = pc_future_new();
    void *out = (void *)1;
    CHECK_RC(pc_future_result(f, 0, &out), PC_TIMEOUT);
    CHECK(out == NULL);
    double t0 = pc_monotonic();
    CHECK_RC(pc_future_result(f, 0.1, NULL), PC_TIMEOUT);
    double took = pc_monotonic() - t0;
    CHECK_MSG(took >= 0.06 && took < 1.0, "took %.3f s", took);
    int code = -1;
    CHECK_RC(pc_future_exception(f, 0.02, &code, NULL), PC_TIMEOUT);
    pc_future_release(f);
}

TEST(future_result_woken_by_other_thread) {
    pc_future *f = pc_future_new();
    later l;
    later_start(&l, f, 0, (void *)42);
    pc_event_set(&l.go);
    void *out = NULL;
    CHECK_OK(pc_future_result(f, PC_FOREVER, &out));
    CHECK(out == (void *)42);
    later_join(&l);
    pc_future_release(f);
}

TEST(future_exception_values) {
    pc_future *f = failed(PC_EOF);
    void *out = (void *)1;
    CHECK_RC(pc_future_result(f, 0, &out), PC_EOF);
    CHECK(out == NULL);
    CHECK(strcmp(pc_last_error(), "failed with 12") == 0);
    int code = 0;
    const char *msg = NULL;
    CHECK_OK(pc_future_exception(f, PC_FOREVER, &code, &msg));
    CHECK_EQ(code, PC_EOF);
    CHECK(strcmp(msg, "failed with 12") == 0);
    pc_future *g = finished(NULL);
    CHECK_OK(pc_future_exception(g, 0, &code, &msg));
    CHECK_EQ(code, PC_OK);
    CHECK(strcmp(msg, "") == 0);
    pc_future_release(f);
    pc_future_release(g);
}

TEST(future_exception_woken_by_other_thread) {
    pc_future *f = pc_future_new();
    later l;
    later_start(&l, f, PC_AUTH, NULL);
    pc_event_set(&l.go);
    int code = 0;
    CHECK_WOKEN(pc_future_exception(f, LIMIT, &code, NULL));
    CHECK_EQ(code, PC_AUTH);
    later_join(&l);
    pc_future_release(f);
}

TEST(future_cancel_states) {
    pc_future *pending = pc_future_new();
    CHECK_EQ(pc_future_cancel(pending), 1);
    CHECK_EQ(pc_future_cancel(pending), 1);
    CHECK(pc_future_cancelled(pending) && pc_future_done(pending));
    CHECK_RC(pc_future_result(pending, 0, NULL), PC_CANCELLED);
    CHECK_RC(pc_future_exception(pending, PC_FOREVER, NULL, NULL), PC_CANCELLED);
    CHECK_RC(pc_future_set_running_or_notify_cancel(pending), PC_CANCELLED);

    pc_future *running = pc_future_new();
    CHECK_OK(pc_future_set_running_or_notify_cancel(running));
    CHECK_EQ(pc_future_cancel(running), 0);
    CHECK(!pc_future_cancelled(running));
    CHECK_OK(pc_future_set_result(running, NULL));

    pc_future *done = finished(NULL);
    CHECK_EQ(pc_future_cancel(done), 0);
    pc_future *bad = failed(PC_VALUE);
    CHECK_EQ(pc_future_cancel(bad), 0);
    pc_future_release(pending);
    pc_future_release(running);
    pc_future_release(done);
    pc_future_release(bad);
}

TEST(future_set_state_errors) {
    pc_future *f = finished((void *)1);
    CHECK_RC(pc_future_set_result(f, (void *)2), PC_INVALID_STATE);
    CHECK_RC(pc_future_set_exception(f, PC_VALUE, "x"), PC_INVALID_STATE);
    CHECK_RC(pc_future_set_running_or_notify_cancel(f), PC_RUNTIME);
    void *out;
    CHECK_OK(pc_future_result(f, 0, &out));
    CHECK(out == (void *)1);        // the first outcome stands

    pc_future *e = failed(PC_VALUE);
    CHECK_RC(pc_future_set_exception(e, PC_EOF, "again"), PC_INVALID_STATE);
    CHECK_RC(pc_future_set_result(e, NULL), PC_INVALID_STATE);
    CHECK_RC(pc_future_result(e, 0, NULL), PC_VALUE);

    pc_future *c = cancelled();
    CHECK_RC(pc_future_set_result(c, NULL), PC_INVALID_STATE);
    CHECK_RC(pc_future_set_exception(c, PC_VALUE, "x"), PC_INVALID_STATE);

    pc_future *r = pc_future_new();
    CHECK_OK(pc_future_set_running_or_notify_cancel(r));
    CHECK_RC(pc_future_set_running_or_notify_cancel(r), PC_RUNTIME);
    CHECK_OK(pc_future_set_exception(r, PC_OS, NULL));
    CHECK_RC(pc_future_result(r, 0, NULL), PC_OS);
    pc_future_release(f);
    pc_future_release(e);
    pc_future_release(c);
    pc_future_release(r);
}

TEST(future_bad_input) {
    CHECK_RC(pc_future_result(NULL, 0, NULL), PC_VALUE);
    CHECK_RC(pc_future_exception(NULL, 0, NULL, NULL), PC_VALUE);
    CHECK_RC(pc_future_set_result(NULL, NULL), PC_VALUE);
    CHECK_RC(pc_future_set_exception(NULL, PC_VALUE, "x"), PC_VALUE);
    CHECK_RC(pc_future_set_running_or_notify_cancel(NULL), PC_VALUE);
    CHECK_RC(pc_future_add_done_callback(NULL, NULL, NULL), PC_VALUE);
    CHECK_RC(pc_future_run(NULL, identity, NULL), PC_VALUE);
    CHECK_EQ(pc_future_cancel(NULL), 0);
    CHECK(!pc_future_done(NULL) && !pc_future_running(NULL) && !pc_future_cancelled(NULL));
    pc_future_release(NULL);
    pc_future *f = pc_future_new();
    CHECK_RC(pc_future_result(f, NAN, NULL), PC_VALUE);
    CHECK(strstr(pc_last_error(), "NaN") != NULL);
    CHECK_RC(pc_future_exception(f, NAN, NULL, NULL), PC_VALUE);
    CHECK_RC(pc_future_set_exception(f, PC_OK, "no code"), PC_VALUE);
    CHECK(strstr(pc_last_error(), "PC_OK") != NULL);
    CHECK_RC(pc_future_add_done_callback(f, NULL, NULL), PC_VALUE);
    CHECK(!pc_future_done(f));
    pc_future_release(f);
}

// Callbacks record the order they ran in and the thread they ran on.
typedef struct trail {
    int order[8];
    int n;
    pc_thread *thread;
    pc_future *seen;
} trail;

static void note(pc_future *f, void *ctx, int tag) {
    trail *t = (trail *)ctx;
    if (t->n < 8) t->order[t->n++] = tag;
    t->thread = pc_thread_current();
    t->seen = f;
}
static void cb1(pc_future *f, void *ctx) { note(f, ctx, 1); }
static void cb2(pc_future *f, void *ctx) { note(f, ctx, 2); }
static void cb3(pc_future *f, void *ctx) { note(f, ctx, 3); }
static void cb_raises(pc_future *f, void *ctx) {
    note(f, ctx, 9);
    pc_raise(PC_RUNTIME, "this callback fails on purpose");
}

TEST(callbacks_in_order_on_result) {
    trail t = {{0}, 0, NULL, NULL};
    pc_future *f = pc_future_new();
    CHECK_OK(pc_future_add_done_callback(f, cb1, &t));
    CHECK_OK(pc_future_add_done_callback(f, cb2, &t));
    CHECK_OK(pc_future_add_done_callback(f, cb3, &t));
    CHECK_OK(pc_future_add_done_callback(f, cb1, &t));
    CHECK_OK(pc_future_add_done_callback(f, cb2, &t));
    CHECK_OK(pc_future_add_done_callback(f, cb3, &t));
    CHECK_EQ(t.n, 0);
    CHECK_OK(pc_future_set_result(f, NULL));
    CHECK_EQ(t.n, 6);
    int want[6] = {1, 2, 3, 1, 2, 3};
    for (int i = 0; i < 6; i++) CHECK_EQ(t.order[i], want[i]);
    CHECK(t.seen == f);
    pc_future_release(f);
}

TEST(callbacks_on_exception_and_cancel) {
    trail t = {{0}, 0, NULL, NULL};
    pc_future *f = pc_future_new();
    CHECK_OK(pc_future_add_done_callback(f, cb1, &t));
    CHECK_OK(pc_future_set_exception(f, PC_VALUE, "boom"));
    CHECK_EQ(t.n, 1);
    pc_future *g = pc_future_new();
    CHECK_OK(pc_future_add_done_callback(g, cb2, &t));
    CHECK_EQ(pc_future_cancel(g), 1);
    CHECK_EQ(t.n, 2);
    CHECK_EQ(t.order[1], 2);
    CHECK_EQ(pc_future_cancel(g), 1);   // cancelling again runs nothing again
    CHECK_EQ(t.n, 2);
    pc_future_release(f);
    pc_future_release(g);
}

TEST(callback_on_done_future_runs_at_once) {
    trail t = {{0}, 0, NULL, NULL};
    pc_future *f = finished(NULL);
    pc_future *c = cancelled();
    pc_future *e = failed(PC_EOF);
    CHECK_OK(pc_future_add_done_callback(f, cb1, &t));
    CHECK_EQ(t.n, 1);
    CHECK(t.thread == pc_thread_current());
    CHECK_OK(pc_future_add_done_callback(c, cb2, &t));
    CHECK_OK(pc_future_add_done_callback(e, cb3, &t));
    CHECK_EQ(t.n, 3);
    CHECK_EQ(t.order[2], 3);
    pc_future_release(f);
    pc_future_release(c);
    pc_future_release(e);
}

TEST(callback_failure_is_reported_and_ignored) {
    trail t = {{0}, 0, NULL, NULL};
    pc_future *f = pc_future_new();
    CHECK_OK(pc_future_add_done_callback(f, cb_raises, &t));
    CHECK_OK(pc_future_add_done_callback(f, cb2, &t));
    CHECK_OK(pc_future_set_result(f, NULL));   // the failing callback does not fail this
    CHECK_EQ(t.n, 2);
    CHECK_EQ(t.order[0], 9);
    CHECK_EQ(t.order[1], 2);
    // A raise pending in the caller survives callbacks run at once.
    pc_raise(PC_EOF, "pending before");
    CHECK_OK(pc_future_add_done_callback(f, cb_raises, &t));
    char msg[256];
    CHECK_EQ(pc__exception_take(msg, sizeof msg), PC_EOF);
    CHECK(strcmp(msg, "pending before") == 0);
    pc_future_release(f);
}

// The report of a failing callback reaches stderr (Python logs it).
TEST(callback_failure_report_on_stderr) {
    trail t = {{0}, 0, NULL, NULL};
    FILE *tmp = tmpfile();
    CHECK(tmp != NULL);
    fflush(stderr);
    int saved = dup(2);
    CHECK(saved >= 0 && dup2(fileno(tmp), 2) == 2);
    pc_future *f = pc_future_new();
    CHECK_OK(pc_future_add_done_callback(f, cb_raises, &t));
    int rc = pc_future_set_result(f, NULL);
    fflush(stderr);
    CHECK(dup2(saved, 2) == 2);
    close(saved);
    CHECK_OK(rc);
    char buf[512] = {0};
    rewind(tmp);
    size_t got = fread(buf, 1, sizeof buf - 1, tmp);
    fclose(tmp);
    CHECK(got > 0);
    CHECK_MSG(strstr(buf, "exception calling callback") && strstr(buf, "RuntimeError") &&
                  strstr(buf, "this callback fails on purpose"), "stderr: %s", buf);
    CHECK_EQ(t.n, 1);
    pc_future_release(f);
}

// A callback on a future of the pool runs in the worker that finished it.
TEST(callback_runs_in_completing_worker) {
    pc_executor *ex = pool(1, "cbpool");
    pc_event go = PC_EVENT_INIT;
    trail t = {{0}, 0, NULL, NULL};
    pc_future *f;
    CHECK_OK(pc_executor_submit(ex, wait_event, &go, &f));
    CHECK_OK(pc_future_add_done_callback(f, cb1, &t));
    pc_event_set(&go);
    CHECK_OK(pc_executor_shutdown(ex, 1, 0));
    CHECK_EQ(t.n, 1);
    CHECK(t.thread != pc_thread_current());
    pc_future_release(f);
    pc_executor_free(ex);
}

// >>thread_pool
// The pool's count of idle workers (Python's _idle_semaphore), read under
// its lock: white-box, so that the test waits for the state it needs
// instead of sleeping and hoping.
static int idle_workers(pc_executor *ex) {
    pc__f_tpool *p = (pc__f_tpool *)ex;
    pc_lock_acquire(&p->lock, PC_FOREVER);
    int n = p->idle_tokens;
    pc_lock_release(&p->lock);
    return n;
}

static void wait_idle_workers(pc_executor *ex, int n) {
    double end = pc_monotonic() + LIMIT;
    while (idle_workers(ex) < n) {
        CHECK_MSG(pc_monotonic() < end, "%d idle workers, want %d", idle_workers(ex), n);
        CHECK_OK(pc_sleep(0.001));
    }
}

TEST(pool_submit_and_result) {
    pc_executor *ex = pool(2, NULL);
    pc_future *f, *g;
    CHECK_OK(pc_executor_submit(ex, twice, (void *)21, &f));
    long n = 12;
    CHECK_OK(pc_executor_submit_copy(ex, square_long, &n, sizeof n, &g));
    void *out;
    CHECK_OK(pc_future_result(f, LIMIT, &out));
    CHECK_EQ((intptr_t)out, 42);
    CHECK_OK(pc_future_result(g, LIMIT, &out));
    CHECK_EQ((intptr_t)out, 144);
    CHECK_OK(pc_executor_submit(ex, twice, (void *)1, NULL));  // no future wanted
    pc_future_release(f);
    pc_future_release(g);
    pc_executor_free(ex);
}

static void *read_copied(void *arg) {
    pc_event **gate = (pc_event **)arg;     // the copy: {gate, value}
    pc_event_wait(gate[0], LIMIT);
    return gate[1];
}

TEST(pool_submit_copy_is_a_copy) {
    pc_executor *ex = pool(1, NULL);
    pc_event go = PC_EVENT_INIT;
    void *pack[2] = {&go, (void *)11};
    pc_future *f;
    CHECK_OK(pc_executor_submit_copy(ex, read_copied, pack, sizeof pack, &f));
    pack[1] = (void *)99;           // the task must still see 11
    pc_event_set(&go);
    void *out;
    CHECK_OK(pc_future_result(f, LIMIT, &out));
    CHECK_EQ((intptr_t)out, 11);
    pc_future_release(f);
    pc_executor_free(ex);
}

TEST(pool_task_exception) {
    pc_executor *ex = pool(2, NULL);
    pc_future *f;
    CHECK_OK(pc_executor_submit(ex, raise_value, (void *)5, &f));
    void *out = (void *)1;
    CHECK_RC(pc_future_result(f, LIMIT, &out), PC_VALUE);
    CHECK(out == NULL);
    CHECK(strcmp(pc_last_error(), "bad item 5") == 0);
    int code;
    const char *msg;
    CHECK_OK(pc_future_exception(f, 0, &code, &msg));
    CHECK_EQ(code, PC_VALUE);
    CHECK(strcmp(msg, "bad item 5") == 0);
    pc_future_release(f);
    pc_executor_free(ex);
}

static int calls;       // count_calls ran (one case per process under ctest)
static void *count_calls(void *arg) {
    __atomic_add_fetch(&calls, 1, __ATOMIC_RELAXED);
    return arg;
}

TEST(pool_cancel_pending_not_running) {
    __atomic_store_n(&calls, 0, __ATOMIC_RELAXED);   // cases may share a process
    pc_executor *ex = pool(1, NULL);
    pc_event go = PC_EVENT_INIT;
    pc_future *a, *b, *c;
    CHECK_OK(pc_executor_submit(ex, wait_event, &go, &a));
    CHECK_OK(pc_executor_submit(ex, count_calls, (void *)1, &b));
    CHECK_OK(pc_executor_submit(ex, count_calls, (void *)2, &c));
    while (!pc_future_running(a)) CHECK_OK(pc_sleep(0.001));
    CHECK_EQ(pc_future_cancel(a), 0);
    CHECK_EQ(pc_future_cancel(b), 1);
    pc_event_set(&go);
    CHECK_OK(pc_future_result(a, LIMIT, NULL));
    CHECK_RC(pc_future_result(b, LIMIT, NULL), PC_CANCELLED);
    void *out;
    CHECK_OK(pc_future_result(c, LIMIT, &out));     // the worker went on past b ...
    CHECK(out == (void *)2);
    CHECK_EQ(__atomic_load_n(&calls, __ATOMIC_RELAXED), 1);    // ... without running it
    pc_future_release(c);
    pc_future_release(a);
    pc_future_release(b);
    pc_executor_free(ex);
}

static int counter_ran;
static void *count_up(void *arg) {
    (void)arg;
    __atomic_add_fetch(&counter_ran, 1, __ATOMIC_RELAXED);
    return NULL;
}

TEST(pool_shutdown_wait_runs_everything) {
    pc_executor *ex = pool(3, NULL);
    for (int i = 0; i < 200; i++) CHECK_OK(pc_executor_submit(ex, count_up, NULL, NULL));
    CHECK_OK(pc_executor_shutdown(ex, 1, 0));
    CHECK_EQ(__atomic_load_n(&counter_ran, __ATOMIC_RELAXED), 200);
    CHECK_OK(pc_executor_shutdown(ex, 1, 0));   // again: harmless
    pc_executor_free(ex);
}

TEST(pool_submit_after_shutdown) {
    pc_executor *ex = pool(2, NULL);
    CHECK_OK(pc_executor_shutdown(ex, 1, 0));
    pc_future *f = (pc_future *)1;
    CHECK_RC(pc_executor_submit(ex, twice, NULL, &f), PC_SHUTDOWN);
    CHECK(f == NULL);
    CHECK(strstr(pc_last_error(), "after shutdown") != NULL);
    long v = 1;
    CHECK_RC(pc_executor_submit_copy(ex, square_long, &v, sizeof v, &f), PC_SHUTDOWN);
    pc_map_iter *it;
    CHECK_RC(pc_executor_map(ex, twice, &(pc_map_desc){ .items = &v, .count = 1,
                                               .item_size = sizeof v }, &it),
             PC_SHUTDOWN);
    pc_executor_free(ex);
}

TEST(pool_shutdown_cancel_futures) {
    __atomic_store_n(&calls, 0, __ATOMIC_RELAXED);   // cases may share a process
    pc_executor *ex = pool(1, NULL);
    pc_event go = PC_EVENT_INIT;
    pc_future *first, *rest[5];
    CHECK_OK(pc_executor_submit(ex, wait_event, &go, &first));
    for (int i = 0; i < 5; i++) CHECK_OK(pc_executor_submit(ex, count_calls, NULL, &rest[i]));
    while (!pc_future_running(first)) CHECK_OK(pc_sleep(0.001));
    CHECK_OK(pc_executor_shutdown(ex, 0, 1));
    for (int i = 0; i < 5; i++) CHECK(pc_future_cancelled(rest[i]));
    pc_event_set(&go);
    CHECK_OK(pc_executor_shutdown(ex, 1, 0));
    CHECK_OK(pc_future_result(first, 0, NULL));
    CHECK_EQ(__atomic_load_n(&calls, __ATOMIC_RELAXED), 0);    // a cancelled task never runs
    pc_future_release(first);
    for (int i = 0; i < 5; i++) pc_future_release(rest[i]);
    pc_executor_free(ex);
}

static void *slow_write(void *arg) {
    pc_sleep(0.002);
    char c = 'x';
    if (write((int)(intptr_t)arg, &c, 1) != 1) pc_raise(PC_OS, "write failed");
    return NULL;
}

// Python: whatever shutdown's wait, the program waits for the queued work
// before it exits. The child exits right after shutdown(wait=0).
TEST(pool_shutdown_nowait_finishes_before_exit) {
    int fds[2];
    CHECK(pipe(fds) == 0);
    pid_t pid = fork();
    CHECK(pid >= 0);
    if (pid == 0) {
        close(fds[0]);
        pc_executor *ex = pc_thread_pool_new(&(pc_thread_pool_desc){ .max_workers = 2 });
        for (int i = 0; i < 20; i++)
            if (pc_executor_submit(ex, slow_write, (void *)(intptr_t)fds[1], NULL)) _exit(3);
        if (pc_executor_shutdown(ex, 0, 0)) _exit(4);
        pc_executor_free(ex);       // returns at once after shutdown(wait=0)
        exit(0);
    }
    close(fds[1]);
    char buf[64];
    ssize_t got, total = 0;
    while ((got = read(fds[0], buf, sizeof buf)) > 0) total += got;
    close(fds[0]);
    int status;
    CHECK(waitpid(pid, &status, 0) == pid);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    CHECK_EQ(total, 20);
}

// A task that holds its pool's internal lock until told to let go, to
// fork at the worst moment on purpose.
typedef struct lock_holder {
    pc_executor *ex;
    pc_event held, release;
} lock_holder;

static void *hold_pool_lock(void *arg) {
    lock_holder *h = (lock_holder *)arg;
    pc__f_tpool *p = (pc__f_tpool *)h->ex;
    pc_lock_acquire(&p->lock, PC_FOREVER);
    pc_event_set(&h->held);
    pc_event_wait(&h->release, LIMIT);
    pc_lock_release(&p->lock);
    return NULL;
}

static int child_after_fork(pc_executor *old) {
    // TSan cannot start threads in the child of a threaded process.
    if (PCT_TSAN) {
        pc_executor_free(old);
        return 0;
    }
    pc_executor *ex = pc_thread_pool_new(&(pc_thread_pool_desc){ .max_workers = 1 });
    pc_future *f;
    void *out = NULL;
    if (!ex || pc_executor_submit(ex, twice, (void *)21, &f)) return 3;
    if (pc_future_result(f, LIMIT, &out) || (intptr_t)out != 42) return 4;
    pc_future_release(f);
    pc_executor_free(ex);
    pc_executor_free(old);      // the parent's pool: no workers here, returns at once
    return 0;
}

// A child forked while a worker held the pool's lock exits (the exit
// handler touches every pool) and can make and use pools of its own.
TEST(fork_while_pool_busy) {
    lock_holder h;
    memset(&h, 0, sizeof h);
    h.ex = pool(2, NULL);
    pc_future *f;
    CHECK_OK(pc_executor_submit(h.ex, hold_pool_lock, &h, &f));
    CHECK_OK(pc_event_wait(&h.held, LIMIT));
    pid_t pid = fork();
    CHECK(pid >= 0);
    if (pid == 0) exit(child_after_fork(h.ex));
    pc_event_set(&h.release);
    int status = 0;
    pid_t got = 0;
    for (double end = pc_monotonic() + LIMIT; got == 0 && pc_monotonic() < end;) {
        got = waitpid(pid, &status, WNOHANG);
        if (got == 0) CHECK_OK(pc_sleep(0.005));
    }
    if (got == 0) {
        kill(pid, SIGKILL);
        waitpid(pid, &status, 0);
    }
    CHECK_MSG(got == pid, "the child hangs (killed)");
    CHECK_MSG(WIFEXITED(status) && WEXITSTATUS(status) == 0, "child status %d", status);
    CHECK_OK(pc_future_result(f, LIMIT, NULL));
    pc_future_release(f);
    pc_executor_free(h.ex);
}

// As Python at interpreter exit: a pool that was never shut down still
// runs its queue, and its idle workers end, so exit() returns to the OS.
TEST(pool_never_shut_down_finishes_at_exit) {
    int fds[2];
    CHECK(pipe(fds) == 0);
    pid_t pid = fork();
    CHECK(pid >= 0);
    if (pid == 0) {
        close(fds[0]);
        // idle: a pool whose worker is parked at exit, and must be woken to end
        pc_executor *idle = pc_thread_pool_new(&(pc_thread_pool_desc){ .max_workers = 1 });
        pc_future *f;
        if (!idle || pc_executor_submit(idle, twice, NULL, &f)) _exit(3);
        if (pc_future_result(f, LIMIT, NULL)) _exit(4);
        wait_idle_workers(idle, 1);
        pc_sleep(0.01);         // past its brief spin (it passes either way)
        pc_executor *ex = pc_thread_pool_new(&(pc_thread_pool_desc){ .max_workers = 3 });
        for (int i = 0; i < 20; i++)
            if (pc_executor_submit(ex, slow_write, (void *)(intptr_t)fds[1], NULL)) _exit(5);
        exit(0);                // no shutdown, no free
    }
    close(fds[1]);
    // Read without blocking for ever: a hung child keeps the pipe open.
    char buf[64];
    ssize_t got = 0, total = 0;
    for (double end = pc_monotonic() + LIMIT; total < 20 && pc_monotonic() < end;) {
        struct pollfd pfd = {fds[0], POLLIN, 0};
        if (poll(&pfd, 1, 10) == 1 && (got = read(fds[0], buf, sizeof buf)) <= 0) break;
        if (got > 0) total += got;
        got = 0;
    }
    int status = 0;
    pid_t done = 0;
    for (double end = pc_monotonic() + LIMIT; done == 0 && pc_monotonic() < end;) {
        done = waitpid(pid, &status, WNOHANG);
        if (done == 0) CHECK_OK(pc_sleep(0.005));
    }
    if (done == 0) {
        kill(pid, SIGKILL);
        waitpid(pid, &status, 0);
    }
    CHECK_MSG(done == pid, "the child hangs at exit (killed)");
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    CHECK_EQ(total, 20);
    close(fds[0]);
}

static void *name_of_thread(void *arg) {
    (void)arg;
    return (void *)pc_thread_name(pc_thread_current());
}

TEST(pool_thread_names) {
    pc_executor *ex = pool(1, "SpecialPool");
    void *out;
    pc_future *f;
    CHECK_OK(pc_executor_submit(ex, name_of_thread, NULL, &f));
    CHECK_OK(pc_future_result(f, LIMIT, &out));
    CHECK_MSG(strcmp((const char *)out, "SpecialPool_0") == 0, "%s", (const char *)out);
    pc_future_release(f);
    pc_executor_free(ex);
    ex = pool(1, NULL);
    CHECK_OK(pc_executor_submit(ex, name_of_thread, NULL, &f));
    CHECK_OK(pc_future_result(f, LIMIT, &out));
    CHECK_MSG(strncmp((const char *)out, "ThreadPoolExecutor-", 19) == 0 &&
                  strstr((const char *)out, "_0") != NULL, "%s", (const char *)out);
    pc_future_release(f);
    pc_executor_free(ex);
}

static size_t threads_named(const char *prefix) {
    pc_thread *ts[256];
    size_t n = pc_thread_enumerate(ts, 256), count = 0;
    for (size_t i = 0; i < n && i < 256; i++) {
        if (strncmp(pc_thread_name(ts[i]), prefix, strlen(prefix)) == 0) count++;
        pc_thread_free(ts[i]);
    }
    return count;
}

TEST(pool_idle_worker_reused) {
    pc_executor *ex = pool(3, "Reuse");
    for (int i = 0; i < 5; i++) {
        pc_future *f;
        void *out;
        CHECK_OK(pc_executor_submit(ex, twice, (void *)21, &f));
        CHECK_OK(pc_future_result(f, LIMIT, &out));
        CHECK_EQ((intptr_t)out, 42);
        pc_future_release(f);
        CHECK_EQ(idle_workers(ex), 1);    // counted idle before the result was set
    }
    CHECK_EQ(threads_named("Reuse"), 1);
    pc_executor_free(ex);
}

// Sequential submit + result, with no pause between: each submit finds the
// one worker idle, on every round of fresh pools (a worker that counted
// itself idle only after publishing the result let the next submit start a
// second and third worker).
TEST(pool_sequential_submits_use_one_worker) {
    for (int round = 0; round < 300; round++) {
        pc_executor *ex = pool(4, "Seq");
        for (int i = 0; i < 3; i++) {
            pc_future *f;
            void *out;
            CHECK_OK(pc_executor_submit(ex, twice, (void *)21, &f));
            CHECK_OK(pc_future_result(f, LIMIT, &out));
            CHECK_EQ((intptr_t)out, 42);
            pc_future_release(f);
        }
        size_t n = threads_named("Seq");
        CHECK_MSG(n == 1, "round %d: %zu workers for 3 sequential tasks", round, n);
        pc_executor_free(ex);
    }
}

// Streams of submits race workers going idle (a worker about to park
// sees the key move for another and comes back without being taken). The
// idle workers' event count must never hold more counts than workers are
// parked on it: a stale count makes a later submit wake nobody, and the
// spurious returns it causes leave more stale counts behind. White-box.
static void *nothing_task(void *arg) { return arg; }

TEST(pool_idle_counts_match_parked_workers) {
    pc_executor *ex = pool(3, "Parked");
    pc__f_tpool *p = (pc__f_tpool *)ex;
    pc_future *fs[256];
    for (int round = 0; round < 40; round++) {
        for (int i = 0; i < 256; i++) {
            CHECK_OK(pc_executor_submit(ex, nothing_task, NULL, &fs[i]));
            for (int k = 0; k < (i % 64) * 8; k++) pc__cpu_relax();   // workers go idle
        }
        for (int i = 0; i < 256; i++) {
            CHECK_OK(pc_future_result(fs[i], LIMIT, NULL));
            pc_future_release(fs[i]);
        }
        pc_lock_acquire(&p->lock, PC_FOREVER);
        uint32_t counts = __atomic_load_n(&p->idle.waiters, __ATOMIC_RELAXED) & PC__EVC_COUNT;
        uint32_t parked = p->parked;
        pc_lock_release(&p->lock);
        CHECK_MSG(counts <= parked, "round %d: %u counts for %u parked workers", round, counts,
                  parked);
    }
    pc_executor_free(ex);
}

TEST(pool_saturation_starts_max_workers) {
    pc_executor *ex = pool(4, "Saturate");
    pc_event go = PC_EVENT_INIT;
    pc_future *fs[8];
    for (int i = 0; i < 8; i++) CHECK_OK(pc_executor_submit(ex, wait_event, &go, &fs[i]));
    CHECK_EQ(threads_named("Saturate"), 4);
    pc_event_set(&go);
    for (int i = 0; i < 8; i++) {
        CHECK_OK(pc_future_result(fs[i], LIMIT, NULL));
        pc_future_release(fs[i]);
    }
    pc_executor_free(ex);
    CHECK_EQ(threads_named("Saturate"), 0);
}

TEST(pool_default_and_bad_max_workers) {
    pc_executor *ex = pc_thread_pool_new(NULL);
    CHECK(ex != NULL);
    pc_executor_free(ex);
    CHECK(pc_thread_pool_new(&(pc_thread_pool_desc){ .max_workers = -1 }) == NULL);
    CHECK_EQ(pc_last_error_code(), PC_VALUE);
    CHECK(strstr(pc_last_error(), "max_workers") != NULL);
    // The default is min(32, cpus + 4): as many blocked tasks start that many threads.
    int want = pc_process_cpu_count() + 4;
    if (want > 32) want = 32;
    ex = pc_thread_pool_new(&(pc_thread_pool_desc){ .thread_name_prefix = "Dflt" });
    pc_event go = PC_EVENT_INIT;
    pc_future *fs[40];
    for (int i = 0; i < 40; i++) CHECK_OK(pc_executor_submit(ex, wait_event, &go, &fs[i]));
    CHECK_EQ(threads_named("Dflt"), want);
    pc_event_set(&go);
    for (int i = 0; i < 40; i++) pc_future_release(fs[i]);
    pc_executor_free(ex);
}

// Python takes any max_workers; the pool's bookkeeping grows with the
// workers started, not with the bound (INT_MAX once meant 32 GB zeroed).
TEST(pool_huge_max_workers) {
    pc_executor *ex = pc_thread_pool_new(&(pc_thread_pool_desc){ .max_workers = INT_MAX });
    CHECK(ex != NULL);
    pc_future *f;
    void *out;
    CHECK_OK(pc_executor_submit(ex, twice, (void *)21, &f));
    CHECK_OK(pc_future_result(f, LIMIT, &out));
    CHECK_EQ((intptr_t)out, 42);
    pc_future_release(f);
    pc_executor_free(ex);
}

// Blocked tasks start a worker each, past the room the pool starts with;
// then the deadlock check still sees every worker.
TEST(pool_grows_to_max_workers) {
    pc_executor *ex = pool(20, "Grow");
    pc_event go = PC_EVENT_INIT;
    pc_future *fs[20];
    for (int i = 0; i < 20; i++) CHECK_OK(pc_executor_submit(ex, wait_event, &go, &fs[i]));
    CHECK_EQ(threads_named("Grow"), 20);
    pc_event_set(&go);
    for (int i = 0; i < 20; i++) {
        CHECK_OK(pc_future_result(fs[i], LIMIT, NULL));
        pc_future_release(fs[i]);
    }
    pc_executor_free(ex);
    CHECK_EQ(threads_named("Grow"), 0);
}

static int init_calls;
static int init_ok(void *arg) {
    __atomic_add_fetch(&init_calls, 1, __ATOMIC_RELAXED);
    return arg == (void *)&init_calls ? 0 : PC_VALUE;
}
static int init_fails(void *arg) {
    (void)arg;
    return pc_raise(PC_VALUE, "initializer fails on purpose");
}

TEST(pool_initializer_runs_in_each_worker) {
    pc_thread_pool_desc d = {0};
    d.max_workers = 3;
    d.initializer = init_ok;
    d.initarg = &init_calls;
    pc_executor *ex = pc_thread_pool_new(&d);
    pc_event go = PC_EVENT_INIT;
    pc_future *fs[3];
    for (int i = 0; i < 3; i++) CHECK_OK(pc_executor_submit(ex, wait_event, &go, &fs[i]));
    pc_event_set(&go);
    for (int i = 0; i < 3; i++) {
        CHECK_OK(pc_future_result(fs[i], LIMIT, NULL));
        pc_future_release(fs[i]);
    }
    pc_executor_free(ex);
    CHECK_EQ(init_calls, 3);
}

// The initializer fails only once the test has queued work behind it.
static pc_event init_gate = PC_EVENT_INIT;
static int init_fails_later(void *arg) {
    (void)arg;
    pc_event_wait(&init_gate, LIMIT);
    return PC_EOF;      // a plain non-zero return fails it too
}

TEST(pool_initializer_failure_fails_pending_futures) {
    pc_thread_pool_desc d = {0};
    d.max_workers = 1;
    d.initializer = init_fails_later;
    pc_executor *ex = pc_thread_pool_new(&d);
    CHECK(ex != NULL);
    pc_future *fs[6];
    for (int i = 0; i < 6; i++) CHECK_OK(pc_executor_submit(ex, twice, (void *)1, &fs[i]));
    pc_event_set(&init_gate);
    for (int i = 0; i < 6; i++) {
        CHECK_RC(pc_future_result(fs[i], LIMIT, NULL), PC_BROKEN);
        CHECK(strstr(pc_last_error(), "initializer failed") != NULL);
        pc_future_release(fs[i]);
    }
    CHECK_RC(pc_executor_submit(ex, twice, (void *)1, NULL), PC_BROKEN);
    pc_map_iter *it;
    CHECK_RC(pc_executor_map(ex, twice, &(pc_map_desc){ .items = fs, .count = 1 }, &it), PC_BROKEN);
    pc_executor_free(ex);
}

TEST(pool_initializer_failure_breaks_pool) {
    pc_thread_pool_desc d = {0};
    d.max_workers = 2;
    d.initializer = init_fails;
    pc_executor *ex = pc_thread_pool_new(&d);
    pc_future *f;
    int rc = pc_executor_submit(ex, twice, (void *)1, &f);
    CHECK_OK(rc);
    CHECK_RC(pc_future_result(f, LIMIT, NULL), PC_BROKEN);
    CHECK(strstr(pc_last_error(), "initializer failed") != NULL);
    pc_future_release(f);
    pc_future *g = (pc_future *)1;
    CHECK_RC(pc_executor_submit(ex, twice, (void *)1, &g), PC_BROKEN);
    CHECK(g == NULL);
    pc_executor_free(ex);
}

// >>deadlock
static pc_executor *deadlock_ex;
static void *wait_on_inner(void *arg) {
    (void)arg;
    pc_future *inner;
    intptr_t rc = pc_executor_submit(deadlock_ex, twice, (void *)2, &inner);
    if (rc) return (void *)rc;
    rc = pc_future_result(inner, PC_FOREVER, NULL);
    pc_future_release(inner);
    return (void *)rc;
}

TEST(deadlock_one_worker_detected) {
    deadlock_ex = pool(1, NULL);
    pc_future *f;
    CHECK_OK(pc_executor_submit(deadlock_ex, wait_on_inner, NULL, &f));
    void *out;
    CHECK_OK(pc_future_result(f, LIMIT, &out));
    CHECK_EQ((intptr_t)out, PC_RUNTIME);
    pc_future_release(f);
    pc_executor_free(deadlock_ex);
}

TEST(deadlock_two_workers_one_released) {
    // Tasks that wait on inner futures, with the interleaving left to the
    // scheduler: whoever waits second while both are stuck gets PC_RUNTIME
    // (deadlock_two_workers_both_stuck forces that case); either way no
    // wait hangs. A worker busy with other work is never counted stuck.
    deadlock_ex = pool(2, NULL);
    pc_future *a, *b;
    pc_event go = PC_EVENT_INIT;
    pc_future *blocker;
    CHECK_OK(pc_executor_submit(deadlock_ex, wait_event, &go, &blocker));
    CHECK_OK(pc_executor_submit(deadlock_ex, wait_on_inner, NULL, &a));
    pc_event_set(&go);
    CHECK_OK(pc_executor_submit(deadlock_ex, wait_on_inner, NULL, &b));
    void *ra, *rb;
    CHECK_OK(pc_future_result(a, LIMIT, &ra));
    CHECK_OK(pc_future_result(b, LIMIT, &rb));
    CHECK_MSG(((intptr_t)ra == PC_OK || (intptr_t)ra == PC_RUNTIME) &&
                  ((intptr_t)rb == PC_OK || (intptr_t)rb == PC_RUNTIME),
              "a %ld b %ld", (long)(intptr_t)ra, (long)(intptr_t)rb);
    pc_future_release(a);
    pc_future_release(b);
    pc_future_release(blocker);
    pc_executor_free(deadlock_ex);
}

// Both workers of a 2-worker pool wait on futures queued behind them: the
// barrier makes both inner futures queued before either worker waits, so
// the second worker to wait is certain to be stuck and gets PC_RUNTIME;
// that frees it to run the queue, and the first worker's wait ends well.
static pc_barrier both_busy;
static void *wait_on_inner_together(void *arg) {
    (void)arg;
    pc_future *inner;
    if (pc_barrier_wait(&both_busy, NULL) != PC_OK) return (void *)(intptr_t)PC_BROKEN;
    intptr_t rc = pc_executor_submit(deadlock_ex, twice, (void *)2, &inner);
    if (rc) return (void *)rc;
    if (pc_barrier_wait(&both_busy, NULL) != PC_OK) return (void *)(intptr_t)PC_BROKEN;
    rc = pc_future_result(inner, PC_FOREVER, NULL);
    pc_future_release(inner);
    return (void *)rc;
}

TEST(deadlock_two_workers_both_stuck) {
    CHECK_OK(pc_barrier_init(&both_busy, 2, NULL, NULL, LIMIT));
    deadlock_ex = pool(2, NULL);
    pc_future *a, *b;
    CHECK_OK(pc_executor_submit(deadlock_ex, wait_on_inner_together, NULL, &a));
    CHECK_OK(pc_executor_submit(deadlock_ex, wait_on_inner_together, NULL, &b));
    void *ra, *rb;
    CHECK_OK(pc_future_result(a, LIMIT, &ra));
    CHECK_OK(pc_future_result(b, LIMIT, &rb));
    intptr_t x = (intptr_t)ra, y = (intptr_t)rb;
    CHECK_MSG((x == PC_OK && y == PC_RUNTIME) || (x == PC_RUNTIME && y == PC_OK),
              "a %ld b %ld", (long)x, (long)y);
    pc_future_release(a);
    pc_future_release(b);
    pc_executor_free(deadlock_ex);
    pc_barrier_destroy(&both_busy);
}

// The same with ten workers (the pool's bookkeeping grew past its first
// room): the last of the ten to wait gets PC_RUNTIME, the nine others end well.
TEST(deadlock_ten_workers_one_released) {
    CHECK_OK(pc_barrier_init(&both_busy, 10, NULL, NULL, LIMIT));
    deadlock_ex = pool(10, NULL);
    pc_future *fs[10];
    for (int i = 0; i < 10; i++)
        CHECK_OK(pc_executor_submit(deadlock_ex, wait_on_inner_together, NULL, &fs[i]));
    int runtime = 0, ok = 0;
    for (int i = 0; i < 10; i++) {
        void *r;
        CHECK_OK(pc_future_result(fs[i], LIMIT, &r));
        runtime += (intptr_t)r == PC_RUNTIME;
        ok += (intptr_t)r == PC_OK;
        pc_future_release(fs[i]);
    }
    CHECK_MSG(runtime == 1 && ok == 9, "%d PC_RUNTIME, %d PC_OK", runtime, ok);
    pc_executor_free(deadlock_ex);
    pc_barrier_destroy(&both_busy);
}

static void *wait_on_inner_with_timeout(void *arg) {
    (void)arg;
    pc_future *inner;
    intptr_t rc = pc_executor_submit(deadlock_ex, twice, (void *)2, &inner);
    if (rc) return (void *)rc;
    rc = pc_future_result(inner, 0.05, NULL);
    pc_future_release(inner);
    return (void *)rc;
}

TEST(deadlock_not_flagged_with_timeout) {
    deadlock_ex = pool(1, NULL);
    pc_future *f;
    CHECK_OK(pc_executor_submit(deadlock_ex, wait_on_inner_with_timeout, NULL, &f));
    void *out;
    CHECK_OK(pc_future_result(f, LIMIT, &out));
    CHECK_EQ((intptr_t)out, PC_TIMEOUT);
    pc_future_release(f);
    pc_executor_free(deadlock_ex);
}

static void *shutdown_own_pool(void *arg) {
    (void)arg;
    return (void *)(intptr_t)pc_executor_shutdown(deadlock_ex, 1, 0);
}

TEST(shutdown_wait_from_own_worker) {
    deadlock_ex = pool(1, NULL);
    pc_future *f;
    CHECK_OK(pc_executor_submit(deadlock_ex, shutdown_own_pool, NULL, &f));
    void *out;
    CHECK_OK(pc_future_result(f, LIMIT, &out));
    CHECK_EQ((intptr_t)out, PC_RUNTIME);
    CHECK_RC(pc_executor_submit(deadlock_ex, twice, NULL, NULL), PC_SHUTDOWN);
    pc_future_release(f);
    pc_executor_free(deadlock_ex);
}

TEST(executor_bad_input) {
    pc_future *f = (pc_future *)1;
    CHECK_RC(pc_executor_submit(NULL, twice, NULL, &f), PC_VALUE);
    CHECK(f == NULL);
    pc_executor *ex = pool(1, NULL);
    CHECK_RC(pc_executor_submit(ex, NULL, NULL, &f), PC_VALUE);
    CHECK(strstr(pc_last_error(), "task function") != NULL);
    CHECK_RC(pc_executor_submit_copy(ex, twice, NULL, 8, &f), PC_VALUE);
    CHECK_RC(pc_executor_shutdown(NULL, 1, 0), PC_VALUE);
    pc_map_iter *it = (pc_map_iter *)1;
    CHECK_RC(pc_executor_map(ex, twice, &(pc_map_desc){ .count = 3, .item_size = 8 }, &it),
             PC_VALUE);
    CHECK(it == NULL);
    long items[2] = {1, 2};
    CHECK_RC(pc_executor_map(ex, twice, &(pc_map_desc){ .items = items, .count = 2, .item_size = 8,
                                               .timeout = NAN }, &it), PC_VALUE);
    CHECK_RC(pc_executor_map(ex, twice, &(pc_map_desc){ .items = items, .count = (size_t)-1 / 4,
                                               .item_size = 8 }, &it), PC_VALUE);
    CHECK_RC(pc_executor_map(ex, twice, &(pc_map_desc){ .items = items, .count = 2 }, NULL),
             PC_VALUE);
    CHECK_RC(pc_map_iter_next(NULL, NULL), PC_VALUE);
    pc_map_iter_free(NULL);
    pc_executor_free(NULL);
    pc_executor_free(ex);
}

// >>stress
static void *tiny(void *arg) { return arg; }

TEST(stress_many_tiny_tasks) {
    const int n = PCT_SANITIZED ? 20000 : 1000000;
    pc_executor *ex = pool(2, NULL);
    pc_future **fs = (pc_future **)malloc((size_t)n * sizeof *fs);
    CHECK(fs != NULL);
    for (int i = 0; i < n; i++)
        CHECK_OK(pc_executor_submit(ex, tiny, (void *)(intptr_t)i, &fs[i]));
    long long sum = 0;
    for (int i = 0; i < n; i++) {
        void *out;
        CHECK_OK(pc_future_result(fs[i], LIMIT, &out));
        sum += (intptr_t)out;
        pc_future_release(fs[i]);
    }
    CHECK_EQ(sum, (long long)n * (n - 1) / 2);
    free(fs);
    pc_executor_free(ex);
}

// Many threads submitting and waiting at once on one pool.
static pc_executor *stress_ex;
static int submit_and_wait(void *arg) {
    (void)arg;
    for (int i = 0; i < (PCT_SANITIZED ? 300 : 3000); i++) {
        pc_future *f;
        void *out;
        if (pc_executor_submit(stress_ex, twice, (void *)(intptr_t)i, &f)) return PC_RUNTIME;
        int rc = pc_future_result(f, LIMIT, &out);
        pc_future_release(f);
        if (rc || (intptr_t)out != 2 * i) return PC_RUNTIME;
    }
    return 0;
}

TEST(stress_concurrent_submitters) {
    stress_ex = pool(3, NULL);
    pc_thread *ts[6];
    for (int i = 0; i < 6; i++) {
        ts[i] = pc_thread_new(&(pc_thread_desc){ .target = submit_and_wait });
        CHECK_OK(pc_thread_start(ts[i]));
    }
    for (int i = 0; i < 6; i++) {
        CHECK_OK(pc_thread_join(ts[i], 60));
        CHECK_EQ(pc_thread_exitcode(ts[i]), 0);
        pc_thread_free(ts[i]);
    }
    pc_executor_free(stress_ex);
}

// >>map
static void *slow_identity(void *arg) {
    intptr_t v = (intptr_t)arg;
    if (v % 3 == 0) pc_sleep(0.002);        // finish out of order
    return arg;
}

TEST(map_results_in_input_order) {
    pc_executor *ex = pool(4, NULL);
    void *items[50];
    for (int i = 0; i < 50; i++) items[i] = (void *)(intptr_t)(50 - i);
    pc_map_iter *it;
    pc_map_desc d = { .items = items, .count = 50 };
    CHECK_OK(pc_executor_map(ex, slow_identity, &d, &it));
    void *out;
    for (int i = 0; i < 50; i++) {
        CHECK_OK(pc_map_iter_next(it, &out));
        CHECK_EQ((intptr_t)out, 50 - i);
    }
    CHECK_RC(pc_map_iter_next(it, &out), PC_EOF);
    CHECK_RC(pc_map_iter_next(it, &out), PC_EOF);
    pc_map_iter_free(it);
    pc_executor_free(ex);
}

TEST(map_items_by_value_and_chunks) {
    pc_executor *ex = pool(3, NULL);
    long items[100];
    for (int i = 0; i < 100; i++) items[i] = i;
    size_t chunks[4] = {1, 7, 100, 1000};
    size_t buffers[4] = {0, 3, 1, 2};
    for (int k = 0; k < 4; k++) {
        pc_map_iter *it;
        CHECK_OK(pc_executor_map(ex, square_long, &(pc_map_desc){
                     .items = items, .count = 100, .item_size = sizeof(long), .timeout = LIMIT,
                     .chunksize = chunks[k], .buffersize = buffers[k] }, &it));
        void *out;
        for (long i = 0; i < 100; i++) {
            CHECK_OK(pc_map_iter_next(it, &out));
            CHECK_EQ((intptr_t)out, i * i);
        }
        CHECK_RC(pc_map_iter_next(it, &out), PC_EOF);
        pc_map_iter_free(it);
    }
    pc_executor_free(ex);
}

TEST(map_empty) {
    pc_executor *ex = pool(1, NULL);
    pc_map_iter *it;
    CHECK_OK(pc_executor_map(ex, twice, &(pc_map_desc){ 0 }, &it));
    CHECK_RC(pc_map_iter_next(it, NULL), PC_EOF);
    pc_map_iter_free(it);
    pc_executor_free(ex);
}

// A desc with only the items runs with Python's defaults: no timeout
// (timeout 0 too), one item per task, every task submitted at once.
TEST(map_desc_zero_fields_are_python_defaults) {
    pc_executor *ex = pool(2, NULL);
    void *items[8];
    for (int i = 0; i < 8; i++) items[i] = (void *)(intptr_t)i;
    double timeouts[2] = {0, PC_FOREVER};
    for (int k = 0; k < 2; k++) {
        pc_map_desc d = { .items = items, .count = 8, .timeout = timeouts[k] };
        pc_map_iter *it;
        CHECK_OK(pc_executor_map(ex, twice, &d, &it));
        CHECK(it->deadline == INFINITY);    // white-box: the iterator's settings
        CHECK_EQ(it->chunksize, 1);
        CHECK_EQ(it->cap, 8);
        CHECK_EQ(d.chunksize, 0);           // the caller's desc is left as it was
        void *out;
        for (intptr_t i = 0; i < 8; i++) {
            CHECK_OK(pc_map_iter_next(it, &out));
            CHECK_EQ((intptr_t)out, 2 * i);
        }
        CHECK_RC(pc_map_iter_next(it, &out), PC_EOF);
        pc_map_iter_free(it);
    }
    pc_map_iter *it = (pc_map_iter *)1;
    CHECK_RC(pc_executor_map(ex, twice, NULL, &it), PC_VALUE);
    CHECK(it == NULL);
    CHECK(strstr(pc_last_error(), "desc is NULL") != NULL);
    pc_executor_free(ex);
}

static void *fail_on_five(void *arg) {
    intptr_t v = (intptr_t)arg;
    if (v == 5) pc_raise(PC_AUTH, "item five fails");
    return (void *)(v * 10);
}

TEST(map_exception_surfaces_at_its_item) {
    pc_executor *ex = pool(2, NULL);
    void *items[10];
    for (int i = 0; i < 10; i++) items[i] = (void *)(intptr_t)i;
    size_t chunks[3] = {1, 3, 10};
    for (int k = 0; k < 3; k++) {
        pc_map_iter *it;
        CHECK_OK(pc_executor_map(ex, fail_on_five, &(pc_map_desc){ .items = items, .count = 10,
                                                            .chunksize = chunks[k] }, &it));
        void *out;
        for (int i = 0; i < 5; i++) {
            CHECK_OK(pc_map_iter_next(it, &out));
            CHECK_EQ((intptr_t)out, i * 10);
        }
        CHECK_RC(pc_map_iter_next(it, &out), PC_AUTH);
        CHECK(strcmp(pc_last_error(), "item five fails") == 0);
        // Python: the generator is finished after it raised.
        CHECK_RC(pc_map_iter_next(it, &out), PC_EOF);
        CHECK(strstr(pc_last_error(), "exhausted") != NULL);
        pc_map_iter_free(it);
    }
    pc_executor_free(ex);
}

TEST(map_timeout_counts_from_the_call) {
    pc_executor *ex = pool(1, NULL);
    pc_event go = PC_EVENT_INIT;
    void *items[3] = {&go, &go, &go};
    pc_map_iter *it;
    double t0 = pc_monotonic();
    CHECK_OK(pc_executor_map(ex, wait_event, &(pc_map_desc){ .items = items, .count = 3,
                                                         .timeout = 0.2 }, &it));
    CHECK_OK(pc_sleep(0.1));
    void *out;
    CHECK_RC(pc_map_iter_next(it, &out), PC_TIMEOUT);
    double took = pc_monotonic() - t0;
    CHECK_MSG(took >= 0.15 && took < 2.0, "took %.3f s", took);
    CHECK_RC(pc_map_iter_next(it, &out), PC_EOF);
    pc_event_set(&go);
    pc_map_iter_free(it);   // waits for the running task, cancels the rest

    // Past the deadline before the first next(): a timeout counted from
    // the call fails at once; one counted from next() would wait 0.3 s.
    pc_event_clear(&go);
    CHECK_OK(pc_executor_map(ex, wait_event, &(pc_map_desc){ .items = items, .count = 3,
                                                         .timeout = 0.3 }, &it));
    CHECK_OK(pc_sleep(0.4));
    t0 = pc_monotonic();
    CHECK_RC(pc_map_iter_next(it, &out), PC_TIMEOUT);
    took = pc_monotonic() - t0;
    CHECK_MSG(took < 0.2, "next() took %.3f s after the deadline had passed", took);
    pc_event_set(&go);
    pc_map_iter_free(it);
    pc_executor_free(ex);
}

// Results that are ready still come after the deadline (Python's
// result() of a done future ignores its timeout).
TEST(map_done_results_after_deadline) {
    pc_executor *ex = pool(2, NULL);
    void *items[4] = {(void *)1, (void *)2, (void *)3, (void *)4};
    pc_map_iter *it;
    double t0 = pc_monotonic();
    CHECK_OK(pc_executor_map(ex, twice, &(pc_map_desc){ .items = items, .count = 4,
                                                    .timeout = 0.05 }, &it));
    // Wait for the four tasks (white-box: the chunks' futures), then for
    // the deadline to pass.
    for (size_t k = 0; k < it->cap; k++)
        CHECK_OK(pc_future_exception(it->ring[k].f, LIMIT, NULL, NULL));
    double left = t0 + 0.1 - pc_monotonic();
    if (left > 0) CHECK_OK(pc_sleep(left));
    void *out;
    for (int i = 0; i < 4; i++) {
        CHECK_OK(pc_map_iter_next(it, &out));
        CHECK_EQ((intptr_t)out, 2 * (i + 1));
    }
    CHECK_RC(pc_map_iter_next(it, &out), PC_EOF);
    pc_map_iter_free(it);
    pc_executor_free(ex);
}

// A chunksize beyond the item count is one chunk of all the items (it
// must not size buffers by chunksize).
TEST(map_chunksize_beyond_items) {
    pc_executor *ex = pool(2, NULL);
    long items[10];
    for (int i = 0; i < 10; i++) items[i] = i;
    size_t chunks[2] = {(size_t)-1, (size_t)1 << 40};
    for (int k = 0; k < 2; k++) {
        pc_map_iter *it;
        CHECK_OK(pc_executor_map(ex, square_long, &(pc_map_desc){
                     .items = items, .count = 10, .item_size = sizeof(long), .timeout = LIMIT,
                     .chunksize = chunks[k] }, &it));
        void *out;
        for (long i = 0; i < 10; i++) {
            CHECK_OK(pc_map_iter_next(it, &out));
            CHECK_EQ((intptr_t)out, i * i);
        }
        CHECK_RC(pc_map_iter_next(it, &out), PC_EOF);
        pc_map_iter_free(it);
    }
    pc_executor_free(ex);
}

// The first call blocks on the gate; the others only count.
static pc_event map_gate = PC_EVENT_INIT;
static void *count_then_gate(void *arg) {
    if (__atomic_fetch_add(&calls, 1, __ATOMIC_RELAXED) == 0) pc_event_wait(&map_gate, LIMIT);
    return arg;
}

// Opens the gate once free() has cancelled the 19 queued chunks (white-box:
// free waits on chunk 0 first, so the others stay referenced meanwhile).
static int open_gate_after_cancel(void *arg) {
    pc_map_iter *it = (pc_map_iter *)arg;
    double end = pc_monotonic() + LIMIT;
    for (size_t k = 1; k < it->cap && pc_monotonic() < end;)
        if (it->ring[k].f && pc_future_cancelled(it->ring[k].f)) k++;
        else pc_sleep(0.001);
    pc_event_set(&map_gate);
    return 0;
}

TEST(map_free_cancels_queued_items) {
    __atomic_store_n(&calls, 0, __ATOMIC_RELAXED);   // cases may share a process
    pc_executor *ex = pool(1, NULL);
    void *items[20];
    for (int i = 0; i < 20; i++) items[i] = (void *)(intptr_t)i;
    pc_map_iter *it;
    pc_map_desc d = { .items = items, .count = 20 };
    CHECK_OK(pc_executor_map(ex, count_then_gate, &d, &it));
    while (__atomic_load_n(&calls, __ATOMIC_RELAXED) == 0) CHECK_OK(pc_sleep(0.001));
    pc_thread *t = pc_thread_new(&(pc_thread_desc){ .target = open_gate_after_cancel, .arg = it });
    CHECK(t != NULL);
    CHECK_OK(pc_thread_start(t));
    pc_map_iter_free(it);       // cancels 1..19, waits for 0
    CHECK_OK(pc_thread_join(t, LIMIT));
    pc_thread_free(t);
    CHECK_EQ(__atomic_load_n(&calls, __ATOMIC_RELAXED), 1);
    pc_executor_free(ex);
}

TEST(map_early_free_cancels_the_rest) {
    pc_executor *ex = pool(1, NULL);
    pc_event go = PC_EVENT_INIT;
    void *items[20];
    for (int i = 0; i < 20; i++) items[i] = &go;
    pc_map_iter *it;
    CHECK_OK(pc_executor_map(ex, wait_event, &(pc_map_desc){ .items = items, .count = 20 }, &it));
    pc_event_set(&go);
    void *out;
    CHECK_OK(pc_map_iter_next(it, &out));
    CHECK(out == &go);
    pc_map_iter_free(it);
    pc_executor_free(ex);
}

// A user executor through the vtable: runs each task at once in the
// caller, counting submits (shows map's buffersize bound).
typedef struct inline_executor {
    pc_executor base;
    int submits, shut;
} inline_executor;

static int inline_submit(pc_executor *ex, pc_task_fn fn, const void *arg, size_t arg_size,
                         pc_future **out_future) {
    inline_executor *ie = (inline_executor *)ex;
    if (ie->shut) return pc__error(PC_SHUTDOWN, "inline executor is shut down");
    char copy[64];
    if (arg_size > sizeof copy) return pc__error(PC_VALUE, "argument too large");
    if (arg_size) memcpy(copy, arg, arg_size);
    pc_future *f = pc_future_new();
    if (!f) return PC_NOMEM;
    ie->submits++;
    pc_future_run(f, fn, arg_size ? copy : (void *)arg);
    *out_future = f;
    return PC_OK;
}

static int inline_shutdown(pc_executor *ex, int wait, int cancel_futures) {
    (void)wait;
    (void)cancel_futures;
    ((inline_executor *)ex)->shut = 1;
    return PC_OK;
}

static void inline_free(pc_executor *ex) { (void)ex; }

static const pc_executor_vtable inline_vtable = {inline_submit, inline_shutdown, inline_free};

TEST(custom_executor_and_map_buffersize) {
    inline_executor ie;
    memset(&ie, 0, sizeof ie);
    ie.base.vtable = &inline_vtable;
    pc_executor *ex = &ie.base;
    long v = 9;
    pc_future *f;
    CHECK_OK(pc_executor_submit_copy(ex, square_long, &v, sizeof v, &f));
    void *out;
    CHECK_OK(pc_future_result(f, 0, &out));
    CHECK_EQ((intptr_t)out, 81);
    pc_future_release(f);
    ie.submits = 0;
    void *items[10];
    for (int i = 0; i < 10; i++) items[i] = (void *)(intptr_t)i;
    pc_map_iter *it;
    pc_map_desc d = { .items = items, .count = 10, .chunksize = 2, .buffersize = 2 };
    CHECK_OK(pc_executor_map(ex, twice, &d, &it));
    CHECK_EQ(ie.submits, 2);        // two chunks of two in flight
    CHECK_OK(pc_map_iter_next(it, &out));
    CHECK_EQ(ie.submits, 2);        // the first chunk is not consumed yet
    CHECK_OK(pc_map_iter_next(it, &out));
    CHECK_EQ(ie.submits, 3);        // consumed: its slot takes the next chunk
    for (int i = 2; i < 10; i++) {
        CHECK_OK(pc_map_iter_next(it, &out));
        CHECK_EQ((intptr_t)out, 2 * i);
        CHECK(ie.submits <= i / 2 + 3);
    }
    CHECK_RC(pc_map_iter_next(it, &out), PC_EOF);
    CHECK_EQ(ie.submits, 5);
    pc_map_iter_free(it);
    CHECK_OK(pc_executor_shutdown(ex, 1, 0));
    CHECK_RC(pc_executor_submit(ex, twice, NULL, NULL), PC_SHUTDOWN);
    pc_executor_free(ex);
}

// map(fn, a, b, c): one item pointer per input, stopping at the shortest.
static void *add3(void *arg) {
    void **xs = (void **)arg;
    long a = *(const long *)xs[0];
    intptr_t b = (intptr_t)xs[1];
    int c = *(const int *)xs[2];
    return (void *)(intptr_t)(a * 10000 + b * 100 + c);
}

TEST(map_several_inputs_stop_at_shortest) {
    pc_executor *ex = pool(3, NULL);
    long a[10];
    void *b[7];
    int c[12];
    for (int i = 0; i < 12; i++) {
        if (i < 10) a[i] = i;
        if (i < 7) b[i] = (void *)(intptr_t)(i + 20);
        c[i] = i + 50;
    }
    size_t chunks[4] = {1, 3, 7, 100};
    size_t buffers[4] = {0, 2, 1, 0};
    for (int round = 0; round < 50; round++) {
        int k = round % 4;
        pc_map_input in[3] = {{a, 10, sizeof a[0]}, {b, 7, 0}, {c, 12, sizeof c[0]}};
        pc_map_iter *it;
        CHECK_OK(pc_executor_map(ex, add3, &(pc_map_desc){ .inputs = in, .ninputs = 3,
                     .chunksize = chunks[k], .buffersize = buffers[k], .timeout = LIMIT },
                     &it));
        memset(in, 0, sizeof in);           // the inputs were copied
        void *out;
        for (intptr_t i = 0; i < 7; i++) {
            CHECK_OK(pc_map_iter_next(it, &out));
            CHECK_EQ((intptr_t)out, i * 10000 + (i + 20) * 100 + i + 50);
        }
        CHECK_RC(pc_map_iter_next(it, &out), PC_EOF);
        pc_map_iter_free(it);
    }
    pc_map_input in[3] = {{a, 10, sizeof a[0]}, {b, 0, 0}, {c, 12, sizeof c[0]}};
    pc_map_iter *it;
    CHECK_OK(pc_executor_map(ex, add3, &(pc_map_desc){ .inputs = in, .ninputs = 3 }, &it));
    CHECK_RC(pc_map_iter_next(it, NULL), PC_EOF);   // one empty input: nothing to map
    pc_map_iter_free(it);
    CHECK_RC(pc_executor_map(ex, add3, &(pc_map_desc){ .inputs = in, .ninputs = 0 }, &it),
             PC_VALUE);
    CHECK_RC(pc_executor_map(ex, add3, &(pc_map_desc){ .items = a, .count = 1, .inputs = in,
                                                       .ninputs = 3 }, &it), PC_VALUE);
    CHECK(strstr(pc_last_error(), "one of items, inputs or next") != NULL);
    in[1] = (pc_map_input){ NULL, 3, 0 };
    CHECK_RC(pc_executor_map(ex, add3, &(pc_map_desc){ .inputs = in, .ninputs = 3 }, &it),
             PC_VALUE);
    CHECK(it == NULL);
    pc_executor_free(ex);
}

// A lazy input: counts its pulls, ends after n items, raises at fail_at.
typedef struct counter_input {
    long i, n, fail_at;
    int by_pointer, raise;
    uint32_t pulls;
} counter_input;

static int counter_next(void *ctx, void *out_item) {
    counter_input *ci = (counter_input *)ctx;
    ci->pulls++;
    if (ci->i == ci->fail_at) {
        if (ci->raise) return pc_raise(PC_AUTH, "input %ld fails", ci->i);
        return pc__error(PC_VALUE, "bad input %ld", ci->i);
    }
    if (ci->i >= ci->n) return PC_EOF;
    if (ci->by_pointer) {
        void *p = (void *)(intptr_t)ci->i;
        memcpy(out_item, &p, sizeof p);
    } else {
        memcpy(out_item, &ci->i, sizeof ci->i);
    }
    ci->i++;
    return PC_OK;
}

static void *twice_long(void *arg) { return (void *)(intptr_t)(2 * *(const long *)arg); }

// Python 3.14's buffersize over a generator: the input is pulled only as
// results are consumed (chunks of chunksize, buffersize chunks ahead).
TEST(map_lazy_input_pulled_as_buffersize_allows) {
    inline_executor ie;
    memset(&ie, 0, sizeof ie);
    ie.base.vtable = &inline_vtable;
    counter_input ci = { 0, 11, -1, 0, 0, 0 };
    pc_map_iter *it;
    CHECK_OK(pc_executor_map(&ie.base, twice_long, &(pc_map_desc){ .next = counter_next,
                 .next_ctx = &ci, .item_size = sizeof(long), .chunksize = 2,
                 .buffersize = 2 }, &it));
    CHECK_EQ(ci.pulls, 4);                  // two chunks of two, no more
    void *out;
    for (long i = 0; i < 11; i++) {
        CHECK_OK(pc_map_iter_next(it, &out));
        CHECK_EQ((intptr_t)out, 2 * i);
        long consumed_chunks = (i + 1) / 2;
        CHECK_MSG(ci.pulls <= (uint32_t)(consumed_chunks + 2) * 2 + 1, "%u pulls after %ld",
                  ci.pulls, i + 1);
    }
    CHECK_RC(pc_map_iter_next(it, &out), PC_EOF);
    CHECK_EQ(ci.pulls, 12);                 // 11 items and the end
    CHECK_EQ(ie.submits, 6);
    pc_map_iter_free(it);
    // An endless input with a bound: only what the window holds is pulled.
    counter_input endless = { 0, LONG_MAX, -1, 1, 0, 0 };
    CHECK_OK(pc_executor_map(&ie.base, twice, &(pc_map_desc){ .next = counter_next,
                 .next_ctx = &endless, .buffersize = 3 }, &it));
    for (intptr_t i = 0; i < 5; i++) {
        CHECK_OK(pc_map_iter_next(it, &out));
        CHECK_EQ((intptr_t)out, 2 * i);
    }
    CHECK_EQ(endless.pulls, 8);
    pc_map_iter_free(it);
    // No buffersize: the whole input is pulled during the call, as Python.
    counter_input all = { 0, 9, -1, 1, 0, 0 };
    CHECK_OK(pc_executor_map(&ie.base, twice, &(pc_map_desc){ .next = counter_next,
                 .next_ctx = &all, .chunksize = 4 }, &it));
    CHECK_EQ(all.pulls, 10);
    for (intptr_t i = 0; i < 9; i++) {
        CHECK_OK(pc_map_iter_next(it, &out));
        CHECK_EQ((intptr_t)out, 2 * i);
    }
    CHECK_RC(pc_map_iter_next(it, &out), PC_EOF);
    pc_map_iter_free(it);
    CHECK_RC(pc_executor_map(&ie.base, twice, &(pc_map_desc){ .next = counter_next,
                 .next_ctx = &all, .items = &all, .count = 1 }, &it), PC_VALUE);
    pc_executor_free(&ie.base);
}

// The same through a real pool, by value and by pointer, many times.
TEST(map_lazy_input_through_a_pool) {
    pc_executor *ex = pool(3, NULL);
    size_t chunks[3] = {1, 3, 50};
    size_t buffers[3] = {1, 4, 0};
    for (int round = 0; round < 60; round++) {
        int k = round % 3, by_pointer = round % 2;
        counter_input ci = { 0, 40, -1, by_pointer, 0, 0 };
        pc_map_iter *it;
        CHECK_OK(pc_executor_map(ex, by_pointer ? twice : twice_long, &(pc_map_desc){
                     .next = counter_next, .next_ctx = &ci,
                     .item_size = by_pointer ? 0 : sizeof(long), .chunksize = chunks[k],
                     .buffersize = buffers[k], .timeout = LIMIT }, &it));
        void *out;
        for (intptr_t i = 0; i < 40; i++) {
            CHECK_OK(pc_map_iter_next(it, &out));
            CHECK_EQ((intptr_t)out, 2 * i);
        }
        CHECK_RC(pc_map_iter_next(it, &out), PC_EOF);
        pc_map_iter_free(it);
    }
    pc_executor_free(ex);
}

// next's exception: at the map call while the window fills (Python's map()
// raises it there), else at its own item after the results before it.
TEST(map_lazy_input_exception) {
    pc_executor *ex = pool(2, NULL);
    size_t chunks[3] = {1, 2, 4};
    for (int k = 0; k < 3; k++) {
        counter_input ci = { 0, 20, 5, 0, 1, 0 };
        pc_map_iter *it;
        CHECK_OK(pc_executor_map(ex, twice_long, &(pc_map_desc){ .next = counter_next,
                     .next_ctx = &ci, .item_size = sizeof(long), .chunksize = chunks[k],
                     .buffersize = 1 }, &it));
        void *out;
        for (intptr_t i = 0; i < 5; i++) {
            CHECK_OK(pc_map_iter_next(it, &out));
            CHECK_EQ((intptr_t)out, 2 * i);
        }
        CHECK_RC(pc_map_iter_next(it, &out), PC_AUTH);
        CHECK(strcmp(pc_last_error(), "input 5 fails") == 0);
        CHECK_RC(pc_map_iter_next(it, &out), PC_EOF);
        pc_map_iter_free(it);
    }
    counter_input early = { 0, 20, 1, 0, 1, 0 };
    pc_map_iter *it = (pc_map_iter *)1;
    CHECK_RC(pc_executor_map(ex, twice_long, &(pc_map_desc){ .next = counter_next,
                 .next_ctx = &early, .item_size = sizeof(long), .buffersize = 3 }, &it),
             PC_AUTH);
    CHECK(it == NULL);
    CHECK(strcmp(pc_last_error(), "input 1 fails") == 0);
    counter_input whole = { 0, 20, 7, 0, 0, 0 };    // an error recorded, not raised
    CHECK_RC(pc_executor_map(ex, twice_long, &(pc_map_desc){ .next = counter_next,
                 .next_ctx = &whole, .item_size = sizeof(long) }, &it), PC_VALUE);
    CHECK(strcmp(pc_last_error(), "bad input 7") == 0);
    pc_executor_free(ex);
}

// >>wait
TEST(wait_first_completed) {
    pc_future *pending = pc_future_new(), *f = pc_future_new();
    later l;
    later_start(&l, f, 0, (void *)1);
    pc_future *fs[2] = {pending, f};
    pc_future *done[2], *not_done[2];
    size_t nd, nn;
    pc_event_set(&l.go);
    CHECK_WOKEN(pc_futures_wait(fs, 2, LIMIT, PC_FIRST_COMPLETED, done, &nd, not_done, &nn));
    CHECK_EQ(nd, 1);
    CHECK_EQ(nn, 1);
    CHECK(done[0] == f && not_done[0] == pending);
    later_join(&l);
    pc_future_release(pending);
    pc_future_release(f);
}

TEST(wait_first_completed_some_already_done) {
    pc_future *pending = pc_future_new(), *ok = finished(NULL), *c = cancelled();
    pc_future *fs[3] = {pending, ok, c};
    pc_future *done[3], *not_done[3];
    size_t nd, nn;
    CHECK_OK(pc_futures_wait(fs, 3, LIMIT, PC_FIRST_COMPLETED, done, &nd, not_done, &nn));
    CHECK_EQ(nd, 2);
    CHECK_EQ(nn, 1);
    CHECK(done[0] == ok && done[1] == c && not_done[0] == pending);
    pc_future_release(pending);
    pc_future_release(ok);
    pc_future_release(c);
}

TEST(wait_first_exception) {
    pc_future *ok = finished(NULL), *pending = pc_future_new(), *bad = pc_future_new();
    later l;
    later_start(&l, bad, PC_VALUE, NULL);
    pc_future *fs[3] = {ok, pending, bad};
    size_t nd, nn;
    pc_future *done[3], *not_done[3];
    pc_event_set(&l.go);
    CHECK_WOKEN(pc_futures_wait(fs, 3, LIMIT, PC_FIRST_EXCEPTION, done, &nd, not_done, &nn));
    CHECK_EQ(nd, 2);
    CHECK(done[0] == ok && done[1] == bad);
    CHECK(not_done[0] == pending);
    later_join(&l);
    pc_future_release(ok);
    pc_future_release(pending);
    pc_future_release(bad);
}

TEST(wait_first_exception_one_already_failed) {
    pc_future *bad = failed(PC_EOF), *pending = pc_future_new();
    pc_future *fs[2] = {pending, bad};
    size_t nd, nn;
    pc_future *done[2];
    CHECK_OK(pc_futures_wait(fs, 2, LIMIT, PC_FIRST_EXCEPTION, done, &nd, NULL, &nn));
    CHECK_EQ(nd, 1);
    CHECK_EQ(nn, 1);
    CHECK(done[0] == bad);
    pc_future_release(bad);
    pc_future_release(pending);
}

// FIRST_EXCEPTION with none raised waits for all, like ALL_COMPLETED;
// a cancelled future is not an exception.
TEST(wait_first_exception_without_exception) {
    pc_future *a = pc_future_new(), *b = pc_future_new(), *c = cancelled();
    later la, lb;
    later_start(&la, a, 0, NULL);
    later_start(&lb, b, 0, NULL);
    pc_future *fs[3] = {a, b, c};
    size_t nd, nn;
    pc_event_set(&la.go);
    CHECK_RC(pc_futures_wait(fs, 3, 0.05, PC_FIRST_EXCEPTION, NULL, &nd, NULL, &nn), PC_TIMEOUT);
    later_join(&la);
    CHECK_RC(pc_futures_wait(fs, 3, 0.05, PC_FIRST_EXCEPTION, NULL, &nd, NULL, &nn), PC_TIMEOUT);
    CHECK_EQ(nd, 2);
    CHECK_EQ(nn, 1);
    pc_event_set(&lb.go);
    CHECK_WOKEN(pc_futures_wait(fs, 3, LIMIT, PC_FIRST_EXCEPTION, NULL, &nd, NULL, &nn));
    CHECK_EQ(nd, 3);
    CHECK_EQ(nn, 0);
    later_join(&lb);
    pc_future_release(a);
    pc_future_release(b);
    pc_future_release(c);
}

TEST(wait_all_completed) {
    pc_executor *ex = pool(4, NULL);
    pc_future *fs[20];
    for (int i = 0; i < 20; i++)
        CHECK_OK(pc_executor_submit(ex, slow_identity, (void *)(intptr_t)i, &fs[i]));
    pc_future *done[20];
    size_t nd, nn;
    CHECK_WOKEN(pc_futures_wait(fs, 20, LIMIT, PC_ALL_COMPLETED, done, &nd, NULL, &nn));
    CHECK_EQ(nd, 20);
    CHECK_EQ(nn, 0);
    for (int i = 0; i < 20; i++) {
        CHECK(done[i] == fs[i]);
        CHECK(pc_future_done(fs[i]));
        pc_future_release(fs[i]);
    }
    pc_executor_free(ex);
}

TEST(wait_timeout) {
    pc_future *ok = finished(NULL), *bad = failed(PC_VALUE), *c = cancelled();
    pc_future *pending = pc_future_new();
    pc_future *fs[4] = {ok, bad, c, pending};
    pc_future *done[4], *not_done[4];
    size_t nd, nn;
    double t0 = pc_monotonic();
    CHECK_RC(pc_futures_wait(fs, 4, 0.1, PC_ALL_COMPLETED, done, &nd, not_done, &nn), PC_TIMEOUT);
    double took = pc_monotonic() - t0;
    CHECK_MSG(took >= 0.06 && took < 1.0, "took %.3f s", took);
    CHECK_EQ(nd, 3);
    CHECK_EQ(nn, 1);
    CHECK(not_done[0] == pending);
    CHECK_RC(pc_futures_wait(fs, 4, 0, PC_ALL_COMPLETED, done, &nd, not_done, &nn), PC_TIMEOUT);
    CHECK_EQ(nd, 3);
    pc_future_release(ok);
    pc_future_release(bad);
    pc_future_release(c);
    pc_future_release(pending);
}

static void *cancel_task(void *arg) {
    pc_future_cancel((pc_future *)arg);
    return NULL;
}

// Python sees a cancel only once the executor notices it; here wait()
// wakes at the cancel itself.
TEST(wait_sees_cancel_at_once) {
    pc_future *a = pc_future_new();
    pc_future *fs[1] = {a};
    pc_executor *ex = pool(1, NULL);
    pc_future *canceller;
    CHECK_OK(pc_executor_submit(ex, cancel_task, a, &canceller));
    size_t nd;
    CHECK_WOKEN(pc_futures_wait(fs, 1, LIMIT, PC_ALL_COMPLETED, NULL, &nd, NULL, NULL));
    CHECK_EQ(nd, 1);
    CHECK(pc_future_cancelled(a));
    CHECK_OK(pc_future_result(canceller, LIMIT, NULL));
    pc_future_release(canceller);
    pc_future_release(a);
    pc_executor_free(ex);
}

TEST(wait_duplicates_and_empty) {
    pc_future *a = finished(NULL), *b = pc_future_new();
    pc_future *fs[5] = {a, b, a, b, a};
    pc_future *done[5], *not_done[5];
    size_t nd, nn;
    CHECK_RC(pc_futures_wait(fs, 5, 0, PC_ALL_COMPLETED, done, &nd, not_done, &nn), PC_TIMEOUT);
    CHECK_EQ(nd, 1);
    CHECK_EQ(nn, 1);
    CHECK(done[0] == a && not_done[0] == b);
    CHECK_OK(pc_futures_wait(NULL, 0, PC_FOREVER, PC_ALL_COMPLETED, NULL, &nd, NULL, &nn));
    CHECK_EQ(nd + nn, 0);
    pc_future_release(a);
    pc_future_release(b);
}

TEST(wait_bad_input) {
    pc_future *a = pc_future_new();
    pc_future *fs[2] = {a, NULL};
    CHECK_RC(pc_futures_wait(fs, 2, 0, PC_ALL_COMPLETED, NULL, NULL, NULL, NULL), PC_VALUE);
    CHECK(strstr(pc_last_error(), "fs[1]") != NULL);
    CHECK_RC(pc_futures_wait(NULL, 2, 0, PC_ALL_COMPLETED, NULL, NULL, NULL, NULL), PC_VALUE);
    CHECK_RC(pc_futures_wait(fs, 1, NAN, PC_ALL_COMPLETED, NULL, NULL, NULL, NULL), PC_VALUE);
    CHECK_RC(pc_futures_wait(fs, 1, 0, 0, NULL, NULL, NULL, NULL), PC_VALUE);
    CHECK_RC(pc_futures_wait(fs, 1, 0, 4, NULL, NULL, NULL, NULL), PC_VALUE);
    CHECK(strstr(pc_last_error(), "return_when") != NULL);
    pc_future_release(a);
}

// >>as_completed
TEST(as_completed_done_first_then_in_completion_order) {
    pc_future *p1 = pc_future_new(), *p2 = pc_future_new();
    pc_future *ok = finished(NULL), *c = cancelled();
    pc_future *fs[4] = {p1, ok, p2, c};
    pc_as_completed *it;
    CHECK_OK(pc_futures_as_completed(fs, 4, LIMIT, &it));
    pc_future *out;
    CHECK_OK(pc_as_completed_next(it, &out));
    CHECK(out == ok);
    CHECK_OK(pc_as_completed_next(it, &out));
    CHECK(out == c);
    later l2, l1;
    later_start(&l2, p2, 0, NULL);
    later_start(&l1, p1, PC_VALUE, NULL);
    pc_event_set(&l2.go);
    later_join(&l2);                // p2 completes first
    pc_event_set(&l1.go);
    later_join(&l1);
    CHECK_OK(pc_as_completed_next(it, &out));
    CHECK(out == p2);
    CHECK_OK(pc_as_completed_next(it, &out));
    CHECK(out == p1);
    CHECK_RC(pc_as_completed_next(it, &out), PC_EOF);
    pc_as_completed_free(it);
    pc_future_release(p1);
    pc_future_release(p2);
    pc_future_release(ok);
    pc_future_release(c);
}

TEST(as_completed_wakes_on_completion) {
    pc_executor *ex = pool(3, NULL);
    pc_future *fs[30];
    for (int i = 0; i < 30; i++)
        CHECK_OK(pc_executor_submit(ex, slow_identity, (void *)(intptr_t)i, &fs[i]));
    pc_as_completed *it;
    CHECK_OK(pc_futures_as_completed(fs, 30, LIMIT, &it));
    int seen[30] = {0};
    pc_future *out;
    for (int i = 0; i < 30; i++) {
        CHECK_WOKEN(pc_as_completed_next(it, &out));
        CHECK(pc_future_done(out));
        void *v;
        CHECK_OK(pc_future_result(out, 0, &v));
        seen[(intptr_t)v]++;
    }
    CHECK_RC(pc_as_completed_next(it, &out), PC_EOF);
    for (int i = 0; i < 30; i++) CHECK_EQ(seen[i], 1);
    pc_as_completed_free(it);
    for (int i = 0; i < 30; i++) pc_future_release(fs[i]);
    pc_executor_free(ex);
}

TEST(as_completed_duplicates_once) {
    pc_future *a = finished(NULL), *b = pc_future_new();
    pc_future *fs[4] = {a, a, b, b};
    pc_as_completed *it;
    CHECK_OK(pc_futures_as_completed(fs, 4, LIMIT, &it));
    pc_future *out;
    CHECK_OK(pc_as_completed_next(it, &out));
    CHECK(out == a);
    CHECK_OK(pc_future_set_result(b, NULL));
    CHECK_OK(pc_as_completed_next(it, &out));
    CHECK(out == b);
    CHECK_RC(pc_as_completed_next(it, &out), PC_EOF);
    pc_as_completed_free(it);
    pc_future_release(a);
    pc_future_release(b);
}

TEST(as_completed_timeout) {
    pc_future *ok = finished(NULL), *pending = pc_future_new();
    pc_future *fs[2] = {ok, pending};
    pc_as_completed *it;
    double t0 = pc_monotonic();
    CHECK_OK(pc_futures_as_completed(fs, 2, 0.1, &it));
    pc_future *out;
    CHECK_OK(pc_as_completed_next(it, &out));
    CHECK(out == ok);
    CHECK_RC(pc_as_completed_next(it, &out), PC_TIMEOUT);
    double took = pc_monotonic() - t0;
    CHECK_MSG(took >= 0.06 && took < 1.0, "took %.3f s", took);
    CHECK(strcmp(pc_last_error(), "1 (of 2) futures unfinished") == 0);
    CHECK(out == NULL);
    // The iterator still delivers a future that completes later.
    CHECK_OK(pc_future_set_result(pending, NULL));
    CHECK_OK(pc_as_completed_next(it, &out));
    CHECK(out == pending);
    pc_as_completed_free(it);
    pc_future_release(ok);
    pc_future_release(pending);
}

// Many futures that complete after the call and before the consumer looks:
// each next() must cost O(1), not a walk of the completions still queued
// (that was O(n^2): about 2e10 steps here, minutes instead of milliseconds).
TEST(as_completed_many_completions) {
    const size_t n = PCT_SANITIZED ? 50000 : 200000;
    pc_future **fs = (pc_future **)malloc(n * sizeof *fs);
    CHECK(fs != NULL);
    for (size_t i = 0; i < n; i++) CHECK((fs[i] = pc_future_new()) != NULL);
    pc_as_completed *it;
    CHECK_OK(pc_futures_as_completed(fs, n, LIMIT, &it));
    double t0 = pc_monotonic();
    for (size_t i = 0; i < n / 2; i++) CHECK_OK(pc_future_set_result(fs[i], NULL));
    pc_future *out;
    CHECK_OK(pc_as_completed_next(it, &out));      // takes the first half
    CHECK(out == fs[0]);
    CHECK_OK(pc_future_set_result(fs[n / 2], NULL));
    // Then one more completes before each next(): the queue stays n/2 long.
    for (size_t i = 1; i < n; i++) {
        if (i < n / 2) CHECK_OK(pc_future_set_result(fs[n / 2 + i], NULL));
        CHECK_OK(pc_as_completed_next(it, &out));
        if (out != fs[i]) CHECK_MSG(0, "got the wrong future at %zu", i);
    }
    CHECK_RC(pc_as_completed_next(it, &out), PC_EOF);
    double took = pc_monotonic() - t0;
    CHECK_MSG(took < LIMIT / 2, "%zu completions took %.3f s", n, took);
    pc_as_completed_free(it);
    for (size_t i = 0; i < n; i++) pc_future_release(fs[i]);
    free(fs);
}

// Python's as_completed(fs, timeout=0): the done ones, then TimeoutError.
TEST(as_completed_zero_timeout) {
    pc_future *ok = finished(NULL), *pending = pc_future_new(), *bad = failed(PC_EOF);
    pc_future *fs[3] = {ok, pending, bad};
    pc_as_completed *it;
    CHECK_OK(pc_futures_as_completed(fs, 3, 0, &it));
    pc_future *out;
    CHECK_OK(pc_as_completed_next(it, &out));
    CHECK(out == ok);
    CHECK_OK(pc_as_completed_next(it, &out));
    CHECK(out == bad);
    CHECK_RC(pc_as_completed_next(it, &out), PC_TIMEOUT);
    CHECK(strcmp(pc_last_error(), "1 (of 3) futures unfinished") == 0);
    pc_as_completed_free(it);
    pc_future_release(ok);
    pc_future_release(pending);
    pc_future_release(bad);
}

TEST(as_completed_bad_input) {
    pc_as_completed *it = (pc_as_completed *)1;
    pc_future *fs[1] = {NULL};
    CHECK_RC(pc_futures_as_completed(fs, 1, PC_FOREVER, &it), PC_VALUE);
    CHECK(it == NULL);
    CHECK_RC(pc_futures_as_completed(NULL, 1, PC_FOREVER, &it), PC_VALUE);
    pc_future *a = pc_future_new();
    fs[0] = a;
    CHECK_RC(pc_futures_as_completed(fs, 1, NAN, &it), PC_VALUE);
    CHECK_RC(pc_futures_as_completed(fs, 1, 1, NULL), PC_VALUE);
    CHECK_RC(pc_as_completed_next(NULL, NULL), PC_VALUE);
    pc_as_completed_free(NULL);
    CHECK_OK(pc_futures_as_completed(NULL, 0, PC_FOREVER, &it));
    CHECK_RC(pc_as_completed_next(it, NULL), PC_EOF);
    pc_as_completed_free(it);
    pc_future_release(a);
}

// >>memory
static void *wait_gate(void *arg) {
    pc_event_wait((pc_event *)arg, PC_FOREVER);
    return NULL;
}

static size_t heap_in_use(void) {
#if defined(__GLIBC__) && (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 33)) && \
    !defined(__SANITIZE_ADDRESS__) && !PCT_TSAN
    return mallinfo2().uordblks;
#else
    return 0;           // a sanitizer's allocator: mallinfo2 tells nothing
#endif
}

TEST(pending_future_size) {
    // What one pending submit allocates: one 64-byte slot of the pool's
    // blocks (the arg, when copied, follows the future in a block of its own).
    CHECK_MSG(sizeof(struct pc_future) <= 64, "%zu bytes", sizeof(struct pc_future));
    printf("bytes per pending future: %zu\n", sizeof(struct pc_future));
    enum { N = 20000 };
    pc_executor *ex = pc_thread_pool_new(&(pc_thread_pool_desc){ .max_workers = 1 });
    pc_event gate = PC_EVENT_INIT;
    pc_future *blocker, **fs = (pc_future **)malloc(N * sizeof *fs);
    CHECK(ex && fs);
    CHECK_OK(pc_executor_submit(ex, wait_gate, &gate, &blocker));
    size_t before = heap_in_use();
    for (int i = 0; i < N; i++) CHECK_OK(pc_executor_submit(ex, identity, NULL, &fs[i]));
    size_t after = heap_in_use();
    if (before) {       // the heap's growth, allocator headers and blocks included
        double per = (double)(after - before) / N;
        printf("heap bytes per pending future: %.1f\n", per);
        CHECK_MSG(per <= 66, "%.1f bytes of heap per pending future", per);
    }
    pc_event_set(&gate);
    for (int i = 0; i < N; i++) {
        CHECK_OK(pc_future_result(fs[i], LIMIT, NULL));
        pc_future_release(fs[i]);
    }
    pc_future_release(blocker);
    pc_executor_free(ex);
    free(fs);
}

// Futures outlive their pool: released before, during and after its free,
// from the caller and from other threads, many rounds (ASan: no use after
// free, no leak; TSan: the slots' hand-back races the pool's last free).
typedef struct release_ctx { pc_future **fs; int from, to; } release_ctx;

static int release_range(void *arg) {
    release_ctx *c = (release_ctx *)arg;
    for (int i = c->from; i < c->to; i++) pc_future_release(c->fs[i]);
    return 0;
}

TEST(futures_outlive_their_pool) {
    enum { N = 300, ROUNDS = 60 };
    pc_future *fs[N];
    for (int round = 0; round < ROUNDS; round++) {
        pc_executor *ex = pc_thread_pool_new(&(pc_thread_pool_desc){ .max_workers = 3 });
        CHECK(ex != NULL);
        for (int i = 0; i < N; i++)
            CHECK_OK(pc_executor_submit(ex, identity, (void *)(intptr_t)(i + 1), &fs[i]));
        for (int i = 0; i < N / 3; i++) pc_future_release(fs[i]);
        release_ctx c = {fs, N / 3, 2 * N / 3};
        pc_thread *t = pc_thread_new(&(pc_thread_desc){ .target = release_range, .arg = &c });
        CHECK(t != NULL);
        CHECK_OK(pc_thread_start(t));
        pc_executor_free(ex);               // races the other thread's releases
        CHECK_OK(pc_thread_join(t, PC_FOREVER));
        pc_thread_free(t);
        for (int i = 2 * N / 3; i < N; i++) {
            void *out;
            CHECK_OK(pc_future_result(fs[i], 0, &out));
            CHECK_EQ((intptr_t)out, i + 1);
            pc_future_release(fs[i]);
        }
    }
}

// result() sleeps on a node of its own: a completion must always wake it.
// Each round a worker finishes a future once the caller's node is on it
// (the caller is past its spin, asleep or about to be), or at once; a lost
// wake-up shows as a wait that runs into its limit.
static void *finish_when_waited(void *arg) {
    pc_future *f = (pc_future *)arg;
    for (;;) {                          // hooks are the future's lock's to guard
        pc_lock_acquire(&f->lock, PC_FOREVER);
        int waited = f->hooks != NULL;
        pc_lock_release(&f->lock);
        if (waited) break;
        sched_yield();
    }
    pc_future_set_result(f, (void *)5);
    return NULL;
}

static void *finish_now(void *arg) {
    pc_future_set_result((pc_future *)arg, (void *)5);
    return NULL;
}

TEST(result_sleeper_always_woken) {
    enum { ROUNDS = 2000 };
    pc_executor *ex = pc_thread_pool_new(&(pc_thread_pool_desc){ .max_workers = 1 });
    CHECK(ex != NULL);
    for (int round = 0; round < ROUNDS; round++) {
        pc_future *f = pc_future_new(), *task;
        void *out = NULL;
        CHECK(f != NULL);
        CHECK_OK(pc_executor_submit(ex, round % 2 ? finish_now : finish_when_waited, f, &task));
        CHECK_WOKEN(pc_future_result(f, LIMIT, &out));
        CHECK(out == (void *)5);
        CHECK_OK(pc_future_result(task, LIMIT, NULL));
        pc_future_release(task);
        pc_future_release(f);
    }
    pc_executor_free(ex);
}

// Callbacks share the future's hooks with waiters' nodes: they still run
// in the order added, whatever waits on the future in between.
static void *wait_then_done(void *arg) {
    pc_future *f = (pc_future *)arg;
    void *out;
    pc_future_result(f, LIMIT, &out);
    return out;
}

TEST(callbacks_in_order_among_waiters) {
    pc_executor *ex = pc_thread_pool_new(&(pc_thread_pool_desc){ .max_workers = 2 });
    pc_future *f = pc_future_new(), *w1, *w2;
    pc_as_completed *it;
    trail t = {{0}, 0, NULL, NULL};
    CHECK(ex && f);
    CHECK_OK(pc_future_add_done_callback(f, cb1, &t));
    CHECK_OK(pc_futures_as_completed(&f, 1, LIMIT, &it));
    CHECK_OK(pc_future_add_done_callback(f, cb2, &t));
    CHECK_OK(pc_executor_submit(ex, wait_then_done, f, &w1));
    CHECK_OK(pc_future_add_done_callback(f, cb3, &t));
    CHECK_OK(pc_executor_submit(ex, wait_then_done, f, &w2));
    CHECK_OK(pc_future_add_done_callback(f, cb1, &t));
    CHECK_OK(pc_future_set_result(f, (void *)7));
    void *out;
    CHECK_OK(pc_future_result(w1, LIMIT, &out));
    CHECK_EQ((intptr_t)out, 7);
    CHECK_OK(pc_future_result(w2, LIMIT, &out));
    CHECK_EQ((intptr_t)out, 7);
    pc_future *g;
    CHECK_OK(pc_as_completed_next(it, &g));
    CHECK(g == f);
    CHECK_EQ(t.n, 4);
    int want[4] = {1, 2, 3, 1};
    for (int i = 0; i < 4; i++) CHECK_EQ(t.order[i], want[i]);
    pc_as_completed_free(it);
    pc_future_release(w1);
    pc_future_release(w2);
    pc_future_release(f);
    pc_executor_free(ex);
}

// Idle workers are not woken one per submit: a burst of trivial submits to
// 16 parked workers wakes each at most about once, not one per submit
// (each wake is a futex call, and on 2 cores a context switch).
static void *arrive(void *arg) {
    pc_barrier_wait((pc_barrier *)arg, NULL);
    return NULL;
}

TEST(burst_wakes_few_workers) {
    enum { W = 16, N = 2000, ROUNDS = 5 };
    pc_executor *ex = pc_thread_pool_new(&(pc_thread_pool_desc){ .max_workers = W });
    pc_barrier b;
    pc_future *fs[N];
    CHECK(ex != NULL);
    CHECK_OK(pc_barrier_init(&b, W + 1, NULL, NULL, LIMIT));
    for (int i = 0; i < W; i++) CHECK_OK(pc_executor_submit(ex, arrive, &b, &fs[i]));
    CHECK_OK(pc_barrier_wait(&b, NULL));            // all W workers started
    for (int i = 0; i < W; i++) {
        CHECK_OK(pc_future_result(fs[i], LIMIT, NULL));
        pc_future_release(fs[i]);
    }
    // Wakes issued, by the submitter and by woken workers: each moves the
    // idle event count's key (futex calls would also count the pool lock's
    // hand-offs). The median of several bursts.
    uint32_t *key = &((pc__f_tpool *)ex)->idle.seq;
    uint64_t wakes[ROUNDS];
    for (int r = 0; r < ROUNDS; r++) {
        uint32_t before = __atomic_load_n(key, __ATOMIC_SEQ_CST);
        for (int i = 0; i < N; i++) CHECK_OK(pc_executor_submit(ex, identity, NULL, &fs[i]));
        for (int i = 0; i < N; i++) {
            CHECK_OK(pc_future_result(fs[i], LIMIT, NULL));
            pc_future_release(fs[i]);
        }
        wakes[r] = __atomic_load_n(key, __ATOMIC_SEQ_CST) - before;
        for (int k = r; k > 0 && wakes[k - 1] > wakes[k]; k--) {
            uint64_t x = wakes[k];
            wakes[k] = wakes[k - 1];
            wakes[k - 1] = x;
        }
    }
    unsigned long long median = (unsigned long long)wakes[ROUNDS / 2];
    printf("workers woken: median %llu per %d submits\n", median, N);
    CHECK_MSG(median <= 2 * W, "median %llu wakes", median);
    pc_barrier_destroy(&b);
    pc_executor_free(ex);
}

// >>overview: the header's top-of-file example, verbatim in spirit.
static void *square(void *arg) {
    long n = *(long *)arg;
    return (void *)(n * n);
}

TEST(overview_example) {
    pc_thread_pool_desc desc = {0};
    desc.max_workers = 2;
    pc_executor *ex = pc_thread_pool_new(&desc);
    pc_future *f;
    long n = 12;
    void *out;
    CHECK(ex != NULL);
    CHECK_OK(pc_executor_submit_copy(ex, square, &n, sizeof n, &f));
    CHECK_OK(pc_future_result(f, PC_FOREVER, &out));
    CHECK_EQ((long)out, 144);
    pc_future_release(f);
    pc_executor_free(ex);
}

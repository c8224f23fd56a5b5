/* Tests of pyconc_process.h part F: ProcessPoolExecutor (pc_process_pool_new)
   under fork, spawn and forkserver: submit and result, results by value
   and by copy, raises, map with chunks, shutdown with cancel_futures, the
   initializer, max_tasks_per_child, a worker SIGKILLed while it runs a task
   with two more sent to it, a task that calls exit(), bad input; each
   checks that no descriptor or zombie is left. This program is also the
   image the spawned and forkserver workers run. */
#define PYCONC_ALL_IMPLEMENTATION
#include "pyconc_process.h"

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

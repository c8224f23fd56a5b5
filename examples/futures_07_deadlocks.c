// tour: the docs' two pool deadlocks: a cycle ended by a timeout, a self-wait caught (RuntimeError)
/* The two deadlocks the ThreadPoolExecutor docs warn about: tasks that
   wait for each other, and a task that waits for work queued behind it in
   its own one-worker pool.

   Python:
       def wait_on_b():
           time.sleep(5)
           print(b.result())  # b will never complete because it is waiting on a.
           return 5

       def wait_on_a():
           time.sleep(5)
           print(a.result())  # a will never complete because it is waiting on b.
           return 6

       executor = ThreadPoolExecutor(max_workers=2)
       a = executor.submit(wait_on_b)
       b = executor.submit(wait_on_a)

   And:
       def wait_on_future():
           f = executor.submit(pow, 5, 2)
           # This will never complete because there is only one worker thread and
           # it is executing this function.
           print(f.result())

       executor = ThreadPoolExecutor(max_workers=1)
       executor.submit(wait_on_future)

   Both Python programs hang for ever. In C:
   1. a and b are both running, each waiting for the other: a true cycle,
      which pyconc does not detect. So wait_on_b waits at most 0.2 s: its
      result() gives PC_TIMEOUT (TimeoutError), it returns 5, and that
      ends b's wait too. (The sleeps, there so that a and b are assigned
      before the tasks read them, are an Event that main sets.)
   2. pyconc sees that the pool's only worker waits, without a timeout,
      for a future still queued in that same pool: nothing could ever run
      it, so result() returns PC_RUNTIME (RuntimeError) at once instead of
      hanging. The program prints that error; pow(5, 2) then runs as soon
      as the worker is free. */
#define PYCONC_IMPLEMENTATION
#define PYCONC_FUTURES_IMPLEMENTATION
#include "pyconc_futures.h"

#include <stdint.h>
#include <stdio.h>

static pc_future *a, *b;
static pc_event assigned = PC_EVENT_INIT;   // a and b are set

// print(f.result(timeout)), or the exception it raised.
static void print_result(const char *what, pc_future *f, double timeout) {
    void *result = NULL;
    int rc = pc_future_result(f, timeout, &result);
    if (rc == PC_OK)
        printf("%s = %ld\n", what, (long)(intptr_t)result);
    else
        printf("%s raised %s: %s\n", what, pc_strerror(rc), pc_last_error());
}

static void *wait_on_b(void *arg) {
    (void)arg;
    pc_event_wait(&assigned, PC_FOREVER);
    print_result("in a: b.result(timeout=0.2)", b, 0.2);
    return (void *)5;
}

static void *wait_on_a(void *arg) {
    (void)arg;
    pc_event_wait(&assigned, PC_FOREVER);
    print_result("in b: a.result()", a, PC_FOREVER);
    return (void *)6;
}

static int two_workers(void) {
    pc_executor *executor = pc_thread_pool_new(&(pc_thread_pool_desc){.max_workers = 2});
    if (!executor || pc_executor_submit(executor, wait_on_b, NULL, &a) ||
        pc_executor_submit(executor, wait_on_a, NULL, &b))
        return 1;
    pc_event_set(&assigned);
    print_result("a.result()", a, PC_FOREVER);
    print_result("b.result()", b, PC_FOREVER);
    pc_future_release(a);
    pc_future_release(b);
    pc_executor_free(executor);
    return 0;
}

static pc_executor *executor;
static pc_future *f;                        // kept so main can show it ran after all

typedef struct pow_args { long base, exp; } pow_args;

static void *power(void *arg) {
    const pow_args *p = (const pow_args *)arg;
    long n = 1;
    for (long i = 0; i < p->exp; i++) n *= p->base;
    return (void *)(intptr_t)n;
}

static void *wait_on_future(void *arg) {
    (void)arg;
    static const pow_args five_squared = {5, 2};
    if (pc_executor_submit_copy(executor, power, &five_squared, sizeof five_squared, &f)) {
        pc_raise(PC_RUNTIME, "submit of pow(5, 2) failed");
        return NULL;
    }
    print_result("in wait_on_future: f.result()", f, PC_FOREVER);
    return NULL;
}

static int one_worker(void) {
    pc_future *outer;
    executor = pc_thread_pool_new(&(pc_thread_pool_desc){.max_workers = 1});
    if (!executor || pc_executor_submit(executor, wait_on_future, NULL, &outer)) return 1;
    pc_future_result(outer, PC_FOREVER, NULL);
    pc_future_release(outer);
    print_result("later, in main: f.result()", f, PC_FOREVER);
    pc_future_release(f);
    pc_executor_free(executor);
    return 0;
}

int main(void) {
    setvbuf(stdout, NULL, _IOLBF, 0);
    printf("-- two workers, a waits on b and b waits on a\n");
    if (two_workers()) return 1;
    printf("-- one worker, a task waits on a task queued behind it\n");
    if (one_worker()) return 1;
    return 0;
}

/* Tests of pyconc.h: Python's threading module. */
#define PYCONC_IMPLEMENTATION
#include "pyconc.h"
#include "pc_test.h"

static pc_lock counter_lock = PC_LOCK_INIT;
static long counter;

static int decrement(void *arg) {
    (void)arg;
    for (int i = 0; i < 1000; i++) {
        pc_lock_acquire(&counter_lock, PC_FOREVER);
        counter--;
        pc_lock_release(&counter_lock);
    }
    return 0;
}

TEST(lock_stress_200_threads) {
    enum { N = 200 };
    pc_thread *ts[N];
    counter = N * 1000;
    for (int i = 0; i < N; i++) {
        ts[i] = pc_thread_new(&(pc_thread_desc){ .target = decrement });
        CHECK(ts[i] != NULL);
        CHECK_OK(pc_thread_start(ts[i]));
    }
    for (int i = 0; i < N; i++) {
        CHECK_OK(pc_thread_join(ts[i], PC_FOREVER));
        pc_thread_free(ts[i]);
    }
    CHECK_EQ(counter, 0);
}

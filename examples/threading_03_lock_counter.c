// tour: 100 threads decrement n: without a lock updates are lost (99), with it n is 0
/* 100 threads each take n, pause, and write n - 1 back.

   Python:
       def work():
           global n
           lock.acquire()
           temp = n
           time.sleep(0.1)
           n = temp - 1
           lock.release()

   Without the lock the threads all read n before any writes it back, so
   the result is usually 99 (the tutorial says "may be 99"); with it the
   updates run one at a time and the result is 0. The unlocked run uses
   relaxed atomic loads and stores: the updates are lost as in Python, but
   without a data race, which in C would be undefined behaviour. The
   Python 0.1 s pause is 1 ms in the locked run (which holds the lock 100
   times in a row) and 20 ms in the unlocked one. */
#define PYCONC_IMPLEMENTATION
#include "pyconc.h"

#include <stdio.h>

#define THREADS 100

static pc_lock lock = PC_LOCK_INIT;
static long n;

static int work_unlocked(void *arg) {
    (void)arg;
    long temp = __atomic_load_n(&n, __ATOMIC_RELAXED);
    pc_sleep(0.02);
    __atomic_store_n(&n, temp - 1, __ATOMIC_RELAXED);
    return 0;
}

static int work_locked(void *arg) {
    (void)arg;
    pc_lock_acquire(&lock, PC_FOREVER);
    long temp = n;
    pc_sleep(0.001);
    n = temp - 1;
    pc_lock_release(&lock);
    return 0;
}

// Start THREADS threads running fn and join them all.
static int run_all(pc_target_fn fn) {
    pc_thread *ts[THREADS];
    for (int i = 0; i < THREADS; i++) {
        ts[i] = pc_thread_new(&(pc_thread_desc){.target = fn});
        if (!ts[i] || pc_thread_start(ts[i]) != PC_OK) {
            fprintf(stderr, "start: %s\n", pc_last_error());
            return 1;
        }
    }
    for (int i = 0; i < THREADS; i++) {
        pc_thread_join(ts[i], PC_FOREVER);
        pc_thread_free(ts[i]);
    }
    return 0;
}

int main(void) {
    n = 100;
    double t0 = pc_monotonic();
    if (run_all(work_unlocked)) return 1;
    printf("without the lock: %.2f s, n = %ld  (updates lost)\n", pc_monotonic() - t0, n);

    n = 100;
    t0 = pc_monotonic();
    if (run_all(work_locked)) return 1;
    printf("with the lock:    %.2f s, n = %ld\n", pc_monotonic() - t0, n);
    return n != 0;
}

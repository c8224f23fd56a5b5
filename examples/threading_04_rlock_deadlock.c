// tour: locks A and B taken in both orders: one RLock for both, so no deadlock
/* Deadlock avoided with a re-entrant lock.

   The Python threads take lock A then B in func1, and B then A in func2.
   With two plain Locks, Thread-1 holds B (sleeping in func2) while
   Thread-2 holds A and wants B: both wait forever. The fix is one RLock
   used as both A and B (mutexA = mutexB = RLock()): the thread that holds
   it may take it again, and nobody else can get in between.

   Python:
       mutexA = mutexB = threading.RLock()
       class MyThread(Thread):
           def run(self):
               self.func1()
               self.func2()

   The Python 2 s pause in func2 is 50 ms here. */
#define PYCONC_IMPLEMENTATION
#include "pyconc.h"

#include <stdio.h>

#define THREADS 10

static pc_rlock rlock = PC_RLOCK_INIT;
static pc_rlock *const mutex_a = &rlock;   // one lock under two names,
static pc_rlock *const mutex_b = &rlock;   // as in Python

static const char *me(void) { return pc_thread_name(pc_thread_current()); }

static void func1(void) {
    pc_rlock_acquire(mutex_a, PC_FOREVER);
    printf("%s got lock A\n", me());
    pc_rlock_acquire(mutex_b, PC_FOREVER);
    printf("%s got lock B\n", me());
    pc_rlock_release(mutex_b);
    pc_rlock_release(mutex_a);
}

static void func2(void) {
    pc_rlock_acquire(mutex_b, PC_FOREVER);
    printf("%s got lock B\n", me());
    pc_sleep(0.05);
    pc_rlock_acquire(mutex_a, PC_FOREVER);
    printf("%s got lock A\n", me());
    pc_rlock_release(mutex_a);
    pc_rlock_release(mutex_b);
}

static int run(void *arg) {
    (void)arg;
    func1();
    func2();
    return 0;
}

int main(void) {
    setvbuf(stdout, NULL, _IOLBF, 0);   // lines in the order they happen
    pc_thread *ts[THREADS];
    for (int i = 0; i < THREADS; i++) {
        ts[i] = pc_thread_new(&(pc_thread_desc){.target = run});
        if (!ts[i] || pc_thread_start(ts[i]) != PC_OK) {
            fprintf(stderr, "start: %s\n", pc_last_error());
            return 1;
        }
    }
    for (int i = 0; i < THREADS; i++) {
        pc_thread_join(ts[i], PC_FOREVER);
        pc_thread_free(ts[i]);
    }
    printf("all %d threads finished: no deadlock\n", THREADS);
    return 0;
}

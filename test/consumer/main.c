/* A user's program: two threads meet at a Barrier and bump a counter. */
#define PYCONC_IMPLEMENTATION
#include "pyconc.h"
#include <stdio.h>

static pc_lock lock = PC_LOCK_INIT;
static int counter;
static pc_barrier barrier;

static int work(void *arg) {
    (void)arg;
    if (pc_barrier_wait(&barrier, NULL) != PC_OK) return PC_BROKEN;
    pc_lock_acquire(&lock, PC_FOREVER);
    counter++;
    pc_lock_release(&lock);
    return 0;
}

int main(void) {
    pc_thread *t[2];
    pc_barrier_init(&barrier, 2, NULL, NULL, PC_FOREVER);
    for (int i = 0; i < 2; i++) {
        t[i] = pc_thread_new(&(pc_thread_desc){ .target = work });
        if (!t[i] || pc_thread_start(t[i]) != PC_OK) return 1;
    }
    for (int i = 0; i < 2; i++) {
        pc_thread_join(t[i], PC_FOREVER);
        pc_thread_free(t[i]);
    }
    printf("counter = %d\n", counter);
    return counter == 2 ? 0 : 1;
}

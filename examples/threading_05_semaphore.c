// tour: Semaphore(5): at most five of 23 threads inside at once
/* Semaphore(5) over 23 threads: at most five hold it at once, like a limit
   of five connections.

   Python:
       def func():
           sm.acquire()
           print('%s get sm' % threading.current_thread().getName())
           time.sleep(3)
           sm.release()

       sm = Semaphore(5)
       for i in range(23):
           Thread(target=func).start()

   The Python 3 s hold is 0.1 s here. The program also counts how many
   threads are inside at once, to show the limit holds. */
#define PYCONC_IMPLEMENTATION
#include "pyconc.h"

#include <stdio.h>

#define THREADS 23

static pc_semaphore sm = PC_SEMAPHORE_INIT(5);
static int inside, most_inside;   // guarded by count_lock
static pc_lock count_lock = PC_LOCK_INIT;

static void enter(int delta) {
    pc_lock_acquire(&count_lock, PC_FOREVER);
    inside += delta;
    if (inside > most_inside) most_inside = inside;
    pc_lock_release(&count_lock);
}

static int func(void *arg) {
    (void)arg;
    pc_semaphore_acquire(&sm, PC_FOREVER);
    enter(+1);
    printf("%s get sm\n", pc_thread_name(pc_thread_current()));
    pc_sleep(0.1);
    enter(-1);
    pc_semaphore_release(&sm, 1);
    return 0;
}

int main(void) {
    setvbuf(stdout, NULL, _IOLBF, 0);
    pc_thread *ts[THREADS];
    for (int i = 0; i < THREADS; i++) {
        ts[i] = pc_thread_new(&(pc_thread_desc){.target = func});
        if (!ts[i] || pc_thread_start(ts[i]) != PC_OK) {
            fprintf(stderr, "start: %s\n", pc_last_error());
            return 1;
        }
    }
    for (int i = 0; i < THREADS; i++) {
        pc_thread_join(ts[i], PC_FOREVER);
        pc_thread_free(ts[i]);
    }
    printf("at most %d threads held the semaphore at once\n", most_inside);
    return most_inside > 5;
}

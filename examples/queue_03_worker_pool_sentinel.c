// tour: worker threads fed by a Queue, joined, then stopped with None sentinels
/* A pool of worker threads fed by a queue, stopped with sentinels: the
   queue module's own example.

   Python:
       def worker():
           while True:
               item = q.get()
               if item is None:
                   break
               do_work(item)
               q.task_done()

       q = queue.Queue()
       threads = []
       for i in range(num_worker_threads):
           t = threading.Thread(target=worker)
           t.start()
           threads.append(t)
       for item in source():
           q.put(item)
       q.join()                # block until all tasks are done
       for i in range(num_worker_threads):
           q.put(None)         # stop workers
       for t in threads:
           t.join()

   None is the NULL pointer here; the items are pointers to the work. */
#define PYCONC_IMPLEMENTATION
#define PYCONC_QUEUE_IMPLEMENTATION
#include "pyconc_queue.h"

#include <stdio.h>

#define NUM_WORKER_THREADS 3
#define NUM_ITEMS 10

static pc_queue *q;
static long squares[NUM_ITEMS + 1];

static void do_work(long *item) {
    long n = *item;
    pc_sleep(0.01);                             // pretend it takes a while
    squares[n] = n * n;                         // each item is one worker's only
    printf("%s: %ld squared is %ld\n", pc_thread_name(pc_thread_current()), n, n * n);
}

static int worker(void *arg) {
    (void)arg;
    for (;;) {
        long *item;
        pc_queue_get(q, &item, PC_FOREVER);
        if (item == NULL) break;                // the sentinel
        do_work(item);
        pc_queue_task_done(q);
    }
    return 0;
}

int main(void) {
    static long source[NUM_ITEMS];
    pc_thread *threads[NUM_WORKER_THREADS];
    q = pc_queue_new(NULL);
    for (int i = 0; i < NUM_WORKER_THREADS; i++) {
        pc_thread_desc desc = {worker, NULL, NULL, PC_DAEMON_INHERIT, 0};
        threads[i] = pc_thread_new(&desc);
        pc_thread_start(threads[i]);
    }
    for (int i = 0; i < NUM_ITEMS; i++) {
        source[i] = i + 1;
        long *item = &source[i];
        pc_queue_put(q, &item, PC_FOREVER);
    }
    pc_queue_join(q);                           // block until all tasks are done
    long sum = 0;
    for (int i = 1; i <= NUM_ITEMS; i++) sum += squares[i];
    printf("all %d tasks done, sum of squares = %ld\n", NUM_ITEMS, sum);
    long *none = NULL;
    for (int i = 0; i < NUM_WORKER_THREADS; i++) pc_queue_put(q, &none, PC_FOREVER);
    for (int i = 0; i < NUM_WORKER_THREADS; i++) {
        pc_thread_join(threads[i], PC_FOREVER);
        pc_thread_free(threads[i]);
    }
    pc_queue_free(q);
    return sum != 385;
}

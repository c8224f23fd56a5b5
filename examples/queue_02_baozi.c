// tour: baozi: three producer threads and two consumers share one Queue
/* Producers and consumers: three production lines make steamed buns
   (baozi) and put them on a queue, two consumers take them off.

   Python:
       q = queue.Queue()
       def product(arg):
           while True:
               time.sleep(1)
               q.put(str(arg) + 'baozi')
               print('production line %s made a baozi, %s in stock' % (arg, q.qsize()))
       def consumer(arg):
           while True:
               q.get()
               print('consumer thread %s ate a baozi, %s in stock' % (arg, q.qsize()))
               time.sleep(2)
       for i in range(3): threading.Thread(target=product, args=(i,)).start()
       for j in range(2): threading.Thread(target=consumer, args=(j,)).start()

   The Python program runs forever; here each line makes 3 buns, the
   sleeps are 0.1 s and 0.2 s, and when every bun is eaten (task_done +
   join) the queue is shut down, which ends the consumers' get() with
   PC_SHUTDOWN. */
#define PYCONC_IMPLEMENTATION
#define PYCONC_QUEUE_IMPLEMENTATION
#include "pyconc_queue.h"

#include <stdint.h>
#include <stdio.h>

#define BUNS_PER_LINE 3

static pc_queue *q;

static int product(void *arg) {
    intptr_t line = (intptr_t)arg;
    for (int i = 0; i < BUNS_PER_LINE; i++) {
        pc_sleep(0.1);
        intptr_t bun = line;                    // which line made it
        pc_queue_put(q, &bun, PC_FOREVER);
        printf("production line %ld made a baozi, %zu in stock\n", (long)line,
               pc_queue_qsize(q));
    }
    return 0;
}

static int consumer(void *arg) {
    intptr_t id = (intptr_t)arg, bun;
    while (pc_queue_get(q, &bun, PC_FOREVER) == PC_OK) {
        printf("consumer thread %ld ate a baozi from line %ld, %zu in stock\n", (long)id,
               (long)bun, pc_queue_qsize(q));
        pc_sleep(0.2);
        pc_queue_task_done(q);
    }
    return 0;                                   // PC_SHUTDOWN: closing time
}

static pc_thread *start(pc_target_fn fn, intptr_t arg) {
    pc_thread_desc desc = {fn, (void *)arg, NULL, PC_DAEMON_INHERIT, 0};
    pc_thread *t = pc_thread_new(&desc);
    pc_thread_start(t);
    return t;
}

int main(void) {
    pc_thread *ts[5];
    q = pc_queue_new(NULL);                     // queue.Queue(): unbounded
    for (int i = 0; i < 3; i++) ts[i] = start(product, i);
    for (int j = 0; j < 2; j++) ts[3 + j] = start(consumer, j);
    for (int i = 0; i < 3; i++) pc_thread_join(ts[i], PC_FOREVER);
    pc_queue_join(q);                           // every bun made has been eaten
    pc_queue_shutdown(q, 0);
    for (int i = 0; i < 5; i++) {
        if (i >= 3) pc_thread_join(ts[i], PC_FOREVER);
        pc_thread_free(ts[i]);
    }
    printf("all %d baozi eaten, %zu in stock\n", 3 * BUNS_PER_LINE, pc_queue_qsize(q));
    pc_queue_free(q);
    return 0;
}

// tour: Queue, LifoQueue and PriorityQueue: the three orders
/* The three orders of the queue module: Queue (first in, first out),
   LifoQueue (last in, first out) and PriorityQueue (smallest first).

   Python:
       q = queue.Queue()               # then LifoQueue(), PriorityQueue()
       q.put('first'); q.put('second'); q.put('third')
       print(q.get()); print(q.get()); print(q.get())

       q = queue.PriorityQueue()
       q.put((20, 'a')); q.put((10, 'b')); q.put((30, 'c'))
       print(q.get()); print(q.get()); print(q.get())

   Items are copied by value: the strings travel as pointers (the default
   item size), the (priority, data) tuples as a small struct. */
#define PYCONC_IMPLEMENTATION
#define PYCONC_QUEUE_IMPLEMENTATION
#include "pyconc_queue.h"

#include <stdio.h>

static void put_get_three(pc_queue_kind kind, const char *title) {
    pc_queue_desc desc = {.kind = kind};     // unbounded, of pointers
    pc_queue *q = pc_queue_new(&desc);
    const char *words[] = {"first", "second", "third"};
    for (int i = 0; i < 3; i++) pc_queue_put(q, &words[i], PC_FOREVER);
    printf("%s:\n", title);
    for (int i = 0; i < 3; i++) {
        const char *w;
        pc_queue_get(q, &w, PC_FOREVER);
        printf("%s\n", w);
    }
    pc_queue_free(q);
}

// (priority_number, data): smaller numbers come out first.
typedef struct entry { int priority; const char *data; } entry;

static int by_priority(const void *a, const void *b, void *ctx) {
    (void)ctx;
    return ((const entry *)a)->priority - ((const entry *)b)->priority;
}

int main(void) {
    put_get_three(PC_QUEUE_FIFO, "Queue (first in, first out)");
    put_get_three(PC_QUEUE_LIFO, "LifoQueue (last in, first out)");

    pc_queue_desc desc = {.kind = PC_QUEUE_PRIORITY, .item_size = sizeof(entry),
                          .compare = by_priority};
    pc_queue *q = pc_queue_new(&desc);
    entry in[] = {{20, "a"}, {10, "b"}, {30, "c"}};
    for (int i = 0; i < 3; i++) pc_queue_put(q, &in[i], PC_FOREVER);
    printf("PriorityQueue (smaller number, higher priority):\n");
    for (int i = 0; i < 3; i++) {
        entry e;
        pc_queue_get(q, &e, PC_FOREVER);
        printf("(%d, '%s')\n", e.priority, e.data);
    }
    pc_queue_free(q);
    return 0;
}

// tour: multiprocessing.Manager: producers and consumers over its Queue, a Lock guarding prints
/* The tutorials' producer/consumer, with a manager's Queue and Lock.

       def producer(q, lock, name):
           for i in range(3):
               q.put(f'{name}-{i}')
               with lock:
                   print(f'{name} put {name}-{i}')

       def consumer(q, lock, name):
           while (item := q.get()) is not None:
               with lock:
                   print(f'{name} got {item}')

       with Manager() as m:
           q, lock = m.Queue(2), m.Lock()
           producers = [Process(target=producer, args=(q, lock, f'p{i}')) for i in range(2)]
           consumers = [Process(target=consumer, args=(q, lock, f'c{i}')) for i in range(2)]
           for p in producers + consumers: p.start()
           for p in producers: p.join()
           for c in consumers: q.put(None)       # one stop sign each
           for c in consumers: c.join()

   The queue holds two items at most: a producer waits in put until a
   consumer takes one. Each process's lines come out whole because every
   print (and its flush) happens while that process holds the Lock. */
#define PYCONC_ALL_IMPLEMENTATION
#include "pyconc_process.h"

#include <stdio.h>

// A pack: [queue proxy, lock proxy, str name].
typedef struct worker {
    pc_proxy *q, *lock;
    const char *name;
} worker;

static int worker_open(pc_args *args, worker *w) {
    return pc_proxy_from_args(args, 0, &w->q) || pc_proxy_from_args(args, 1, &w->lock) ||
           pc_args_get_str(args, 2, &w->name);
}

static void say(worker *w, const char *verb, const char *item) {
    pc_proxy_lock_acquire(w->lock, PC_FOREVER);      // with lock:
    printf("%s %s %s\n", w->name, verb, item);
    fflush(stdout);
    pc_proxy_lock_release(w->lock);
}

static int producer(void *arg) {
    worker w = {NULL, NULL, NULL};
    int rc = worker_open((pc_args *)arg, &w);
    for (int i = 0; rc == 0 && i < 3; i++) {
        char item[32];
        snprintf(item, sizeof item, "%s-%d", w.name, i);
        rc = pc_proxy_queue_put(w.q, pc_proxy_str(item), PC_FOREVER);
        if (rc == 0) say(&w, "put", item);
    }
    pc_proxy_free(w.q);
    pc_proxy_free(w.lock);
    return rc != 0;
}

static int consumer(void *arg) {
    worker w = {NULL, NULL, NULL};
    int rc = worker_open((pc_args *)arg, &w);
    pc_proxy_value item;
    while (rc == 0 && (rc = pc_proxy_queue_get(w.q, PC_FOREVER, &item)) == 0 &&
           item.type != PC_ARG_NONE) {
        say(&w, "got", (const char *)item.data);
        pc_proxy_value_free(&item);
    }
    pc_proxy_free(w.q);
    pc_proxy_free(w.lock);
    return rc != 0;
}

static pc_process *start(pc_target_fn fn, pc_proxy *q, pc_proxy *lock, const char *name) {
    pc_args *args = pc_args_new();
    pc_proxy_add_to_args(args, q);
    pc_proxy_add_to_args(args, lock);
    pc_args_add_str(args, name);
    pc_process *p = pc_process_new(&(pc_process_desc){.target = fn, .args = args});
    pc_args_free(args);
    if (p && pc_process_start(p) == PC_OK) return p;
    pc_process_free(p);
    return NULL;
}

static int finish(pc_process *p) {
    int bad = !p || pc_process_join(p, PC_FOREVER) || pc_process_exitcode(p) != 0;
    pc_process_free(p);
    return bad;
}

int main(void) {
    pc_manager *m = pc_manager_new(NULL);
    pc_proxy *q, *lock;
    if (!m || pc_manager_queue(m, 2, &q) || pc_manager_lock(m, &lock)) {
        fprintf(stderr, "manager: %s\n", pc_last_error());
        return 1;
    }
    pc_process *producers[2], *consumers[2];
    producers[0] = start(producer, q, lock, "p0");
    producers[1] = start(producer, q, lock, "p1");
    consumers[0] = start(consumer, q, lock, "c0");
    consumers[1] = start(consumer, q, lock, "c1");
    int bad = finish(producers[0]) | finish(producers[1]);
    for (int i = 0; i < 2; i++) pc_proxy_queue_put(q, pc_proxy_none(), PC_FOREVER);
    bad |= finish(consumers[0]) | finish(consumers[1]);
    if (bad) fprintf(stderr, "a worker failed\n");
    pc_proxy_free(q);
    pc_proxy_free(lock);
    pc_manager_free(m);
    return bad;
}

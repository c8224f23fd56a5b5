// tour: mp.Queue: producer processes and consumer processes share one queue
/* Producers and consumers in processes of their own, through one
   multiprocessing Queue. Each consumer stops at a None sentinel (here an
   item -1), one per consumer, as in the tutorials.

       import multiprocessing as mp
       def producer(q, first):
           for i in range(first, first + 5):
               q.put(i)
       def consumer(q, results):
           total = 0
           while (item := q.get()) is not None:
               total += item
           results.put(total)
       if __name__ == '__main__':
           q, results = mp.Queue(), mp.Queue()
           prods = [mp.Process(target=producer, args=(q, 10 * i)) for i in range(2)]
           cons = [mp.Process(target=consumer, args=(q, results)) for i in range(2)]
           for p in prods + cons: p.start()
           for p in prods: p.join()
           for _ in cons: q.put(None)
           print(sum(results.get() for _ in cons))
           for p in cons: p.join()
*/
#define PYCONC_ALL_IMPLEMENTATION
#include "pyconc_process.h"
#include <stdio.h>

static int producer(void *arg) {
    pc_mp_queue *q;
    int64_t first;
    if (pc_args_get_mp_queue((pc_args *)arg, 0, &q) || pc_args_get_int((pc_args *)arg, 1, &first))
        return 1;
    for (long i = first; i < first + 5; i++) pc_mp_queue_put(q, &i, PC_FOREVER);
    return 0;
}

static int consumer(void *arg) {
    pc_mp_queue *q, *results;
    if (pc_args_get_mp_queue((pc_args *)arg, 0, &q) ||
        pc_args_get_mp_queue((pc_args *)arg, 1, &results))
        return 1;
    long item, total = 0;
    while (pc_mp_queue_get(q, &item, PC_FOREVER) == PC_OK && item != -1) total += item;
    return pc_mp_queue_put(results, &total, PC_FOREVER);
}

static pc_process *start(pc_target_fn fn, pc_mp_queue *q, pc_mp_queue *results, long n) {
    pc_args *args = pc_args_new();
    pc_args_add_mp_queue(args, q);
    if (results) pc_args_add_mp_queue(args, results);
    else pc_args_add_int(args, n);
    pc_process_desc desc = {0};
    desc.target = fn;
    desc.args = args;
    pc_process *p = pc_process_new(&desc);
    pc_args_free(args);
    if (p && pc_process_start(p) != PC_OK) {
        pc_process_free(p);
        p = NULL;
    }
    return p;
}

int main(void) {
    pc_mp_queue_desc d = {0};
    d.item_size = sizeof(long);
    pc_mp_queue *q = pc_mp_queue_new(&d), *results = pc_mp_queue_new(&d);
    if (!q || !results) return 1;
    pc_process *prods[2], *cons[2];
    for (int i = 0; i < 2; i++) prods[i] = start(producer, q, NULL, 10 * i);
    for (int i = 0; i < 2; i++) cons[i] = start(consumer, q, results, 0);
    for (int i = 0; i < 2; i++) {
        if (!prods[i] || !cons[i]) return 1;
        pc_process_join(prods[i], PC_FOREVER);
    }
    long none = -1, sum = 0, total;
    for (int i = 0; i < 2; i++) pc_mp_queue_put(q, &none, PC_FOREVER);
    for (int i = 0; i < 2; i++)
        if (pc_mp_queue_get(results, &total, PC_FOREVER) == PC_OK) sum += total;
    printf("%ld\n", sum);           // 0+1+2+3+4 + 10+11+12+13+14 = 70
    for (int i = 0; i < 2; i++) {
        pc_process_join(cons[i], PC_FOREVER);
        pc_process_free(cons[i]);
        pc_process_free(prods[i]);
    }
    pc_mp_queue_free(q);
    pc_mp_queue_free(results);
    return sum != 70;
}

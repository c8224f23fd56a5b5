// tour: JoinableQueue: consumer processes call task_done, the parent joins
/* A JoinableQueue between the parent and consumer processes: each
   consumer marks every item it handled with task_done; join() in the
   parent returns once all were handled. The consumers are daemons, as
   in the tutorials: they would wait for ever, and end with the program.
   Here a shutdown() (Python 3.13's) ends them instead.

       import multiprocessing as mp
       def consumer(q):
           while True:
               item = q.get()
               print(f'{item} squared is {item * item}', flush=True)
               q.task_done()
       if __name__ == '__main__':
           q = mp.JoinableQueue()
           for _ in range(2):
               mp.Process(target=consumer, args=(q,), daemon=True).start()
           for i in range(6):
               q.put(i)
           q.join()
           print('all items handled')
*/
#define PYCONC_ALL_IMPLEMENTATION
#include "pyconc_process.h"
#include <stdio.h>

static int consumer(void *arg) {
    pc_mp_queue *q;
    if (pc_args_get_mp_queue((pc_args *)arg, 0, &q)) return 1;
    long item;
    while (pc_mp_queue_get(q, &item, PC_FOREVER) == PC_OK) {
        printf("%ld squared is %ld\n", item, item * item);
        fflush(stdout);
        pc_mp_queue_task_done(q);
    }
    return 0;                       // PC_SHUTDOWN: the parent is done
}

int main(void) {
    pc_mp_queue_desc d = {0};
    d.item_size = sizeof(long);
    d.joinable = 1;
    pc_mp_queue *q = pc_mp_queue_new(&d);
    if (!q) return 1;
    pc_args *args = pc_args_new();
    pc_args_add_mp_queue(args, q);
    pc_process *ps[2];
    for (int i = 0; i < 2; i++) {
        pc_process_desc desc = {0};
        desc.target = consumer;
        desc.args = args;
        desc.daemon = PC_DAEMON_YES;
        ps[i] = pc_process_new(&desc);
        if (!ps[i] || pc_process_start(ps[i]) != PC_OK) return 1;
    }
    pc_args_free(args);
    for (long i = 0; i < 6; i++) pc_mp_queue_put(q, &i, PC_FOREVER);
    pc_mp_queue_join(q);
    printf("all items handled\n");
    pc_mp_queue_shutdown(q, 0);
    for (int i = 0; i < 2; i++) {
        pc_process_join(ps[i], PC_FOREVER);
        pc_process_free(ps[i]);
    }
    pc_mp_queue_free(q);
    return 0;
}

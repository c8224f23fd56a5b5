// tour: get_context('spawn'): the same through a context, the default left alone
/* The docs' get_context('spawn'): a context picks the start method for
   the processes made with it, leaving the program's default alone. The
   child puts 'hello' on a Queue.

       import multiprocessing as mp
       def foo(q):
           q.put('hello')
       if __name__ == '__main__':
           ctx = mp.get_context('spawn')
           q = ctx.Queue()
           p = ctx.Process(target=foo, args=(q,))
           p.start()
           print(q.get())
           p.join()
*/
#define PYCONC_ALL_IMPLEMENTATION
#include "pyconc_process.h"
#include <stdio.h>

static int foo(void *arg) {
    pc_mp_queue *q = NULL;
    if (pc_args_get_mp_queue((pc_args *)arg, 0, &q) != PC_OK) return 1;
    return pc_mp_queue_put_bytes(q, "hello", 5, PC_FOREVER);
}

int main(void) {
    const pc_context *ctx = pc_get_context(PC_START_SPAWN);
    pc_mp_queue *q = pc_mp_queue_new(NULL);
    if (!q) return 1;
    pc_args *args = pc_args_new();
    pc_args_add_mp_queue(args, q);
    pc_process_desc desc = {0};
    desc.target = foo;
    desc.args = args;
    desc.context = ctx;
    pc_process *p = pc_process_new(&desc);
    pc_args_free(args);                 // the process keeps its own handle
    if (!p || pc_process_start(p) != PC_OK) {
        fprintf(stderr, "start failed: %s\n", pc_last_error());
        return 1;
    }
    char msg[64];
    size_t n;
    if (pc_mp_queue_get_bytes(q, msg, sizeof msg, &n, PC_FOREVER) == PC_OK)
        printf("%.*s\n", (int)n, msg);
    pc_process_join(p, PC_FOREVER);
    int code = pc_process_exitcode(p);
    pc_process_free(p);
    pc_mp_queue_free(q);
    return code;
}

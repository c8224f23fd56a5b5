// tour: set_start_method('spawn'): a spawned child sends hello back
/* The docs' set_start_method('spawn'): the child sends 'hello' back to
   the parent. Python's example passes a Queue; a Pipe does the same job
   here.

       import multiprocessing as mp
       def foo(q):
           q.put('hello')
       if __name__ == '__main__':
           mp.set_start_method('spawn')
           q = mp.Queue()
           p = mp.Process(target=foo, args=(q,))
           p.start()
           print(q.get())
           p.join()
*/
#define PYCONC_ALL_IMPLEMENTATION
#include "pyconc_process.h"
#include <stdio.h>

static int foo(void *arg) {
    pc_connection *q = NULL;
    if (pc_args_get_connection((pc_args *)arg, 0, &q) != PC_OK) return 1;
    return pc_connection_send_bytes(q, "hello", 0, 5);
}

int main(void) {
    pc_connection *get_end, *put_end;
    pc_set_start_method(PC_START_SPAWN, 0);
    if (pc_pipe(0, &get_end, &put_end) != PC_OK) return 1;
    pc_args *args = pc_args_new();
    pc_args_add_connection(args, put_end);
    pc_process_desc desc = {0};
    desc.target = foo;
    desc.args = args;
    pc_process *p = pc_process_new(&desc);
    pc_args_free(args);
    pc_connection_free(put_end);        // the child has its own copy
    if (!p || pc_process_start(p) != PC_OK) {
        fprintf(stderr, "start failed: %s\n", pc_last_error());
        return 1;
    }
    void *msg;
    size_t n;
    if (pc_connection_recv_bytes(get_end, 0, &msg, &n) == PC_OK) {
        printf("%.*s\n", (int)n, (const char *)msg);
        pc_connection_bytes_free(msg);
    }
    pc_process_join(p, PC_FOREVER);
    int code = pc_process_exitcode(p);
    pc_process_free(p);
    pc_connection_free(get_end);
    return code;
}

// tour: Queue put/get: a child puts [42, None, 'hello'], the parent gets it
/* The docs' "Exchanging objects between processes" with a Queue: the
   child puts a list, the parent gets and prints it. A Python list
   becomes an argument pack; a pack has no None, so the child puts an
   empty bytes item in its place and the parent prints it as None.

       from multiprocessing import Process, Queue
       def f(q):
           q.put([42, None, 'hello'])
       if __name__ == '__main__':
           q = Queue()
           p = Process(target=f, args=(q,))
           p.start()
           print(q.get())    # prints "[42, None, 'hello']"
           p.join()
*/
#define PYCONC_ALL_IMPLEMENTATION
#include "pyconc_process.h"
#include <stdio.h>

static int f(void *arg) {
    pc_mp_queue *q;
    if (pc_args_get_mp_queue((pc_args *)arg, 0, &q)) return 1;
    pc_args *list = pc_args_new();
    pc_args_add_int(list, 42);
    pc_args_add_bytes(list, NULL, 0);           // None
    pc_args_add_str(list, "hello");
    int rc = pc_mp_queue_put_args(q, list, PC_FOREVER);
    pc_args_free(list);
    return rc;
}

static void print_list(const pc_args *list) {
    printf("[");
    for (size_t i = 0; i < pc_args_len(list); i++) {
        int64_t n;
        const char *s;
        if (i) printf(", ");
        if (pc_args_get_int(list, i, &n) == PC_OK) printf("%lld", (long long)n);
        else if (pc_args_get_str(list, i, &s) == PC_OK) printf("'%s'", s);
        else printf("None");
    }
    printf("]\n");
}

int main(void) {
    pc_mp_queue *q = pc_mp_queue_new(NULL);     // Queue(): packs and bytes
    if (!q) return 1;
    pc_args *args = pc_args_new();
    pc_args_add_mp_queue(args, q);
    pc_process_desc desc = {0};
    desc.target = f;
    desc.args = args;
    pc_process *p = pc_process_new(&desc);
    pc_args_free(args);
    if (!p || pc_process_start(p) != PC_OK) return 1;
    pc_args *list = NULL;
    if (pc_mp_queue_get_args(q, &list, PC_FOREVER) == PC_OK) {
        print_list(list);
        pc_args_free(list);
    }
    pc_process_join(p, PC_FOREVER);
    int code = pc_process_exitcode(p);
    pc_process_free(p);
    pc_mp_queue_free(q);
    return code;
}

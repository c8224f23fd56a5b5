// tour: connection.wait: one parent reads three children's pipes in arrival order
/* multiprocessing.connection.wait: one parent reads from several child
   processes, each through its own one-way Pipe, in whatever order the
   messages come, until every child has closed its end.

       readers = []
       for i in range(3):
           r, w = Pipe(duplex=False)
           Process(target=worker, args=(w,)).start()
           w.close()                 # the child now holds the only writer
           readers.append(r)
       while readers:
           for r in wait(readers):
               try: print(r.recv_bytes())
               except EOFError: readers.remove(r)
*/
#define PYCONC_IMPLEMENTATION
#define PYCONC_PROCESS_IMPLEMENTATION
#include "pyconc_process.h"

#include <stdio.h>
#include <string.h>

#define WORKERS 3

static int worker(void *arg) {
    pc_args *args = (pc_args *)arg;
    pc_connection *w = NULL;
    int64_t id;
    if (pc_args_get_connection(args, 0, &w) || pc_args_get_int(args, 1, &id)) return 1;
    for (int i = 0; i < 3; i++) {
        char msg[64];
        snprintf(msg, sizeof msg, "message %d from worker %d", i, (int)id);
        if (pc_connection_send_bytes(w, msg, 0, strlen(msg))) return 1;
    }
    return 0;   // the child's end closes as it exits: the parent sees EOF
}

int main(void) {
    pc_wait_object readers[WORKERS];
    pc_process *procs[WORKERS];
    memset(readers, 0, sizeof readers);
    for (int i = 0; i < WORKERS; i++) {
        pc_connection *r, *w;
        pc_pipe(0, &r, &w);
        pc_args *args = pc_args_new();
        pc_args_add_connection(args, w);
        pc_args_add_int(args, i + 1);
        procs[i] = pc_process_new(&(pc_process_desc){ .target = worker, .args = args });
        if (!procs[i] || pc_process_start(procs[i]) != PC_OK) {
            fprintf(stderr, "start: %s\n", pc_last_error());
            return 1;
        }
        pc_args_free(args);
        pc_connection_free(w);      // the child now holds the only writer
        readers[i].conn = r;
    }

    size_t open = WORKERS, nready;
    while (open > 0) {
        if (pc_connection_wait(readers, open, PC_FOREVER, &nready) != PC_OK) break;
        for (size_t i = 0; i < open;) {
            void *msg;
            size_t n;
            if (!readers[i].ready) { i++; continue; }
            int rc = pc_connection_recv_bytes(readers[i].conn, 0, &msg, &n);
            if (rc == PC_OK) {
                printf("%.*s\n", (int)n, (char *)msg);
                pc_connection_bytes_free(msg);
                i++;
            } else {                    // PC_EOF: that worker is done
                pc_connection_free(readers[i].conn);
                readers[i] = readers[--open];
            }
        }
    }

    int failed = 0;
    for (int i = 0; i < WORKERS; i++) {
        pc_process_join(procs[i], PC_FOREVER);
        failed |= pc_process_exitcode(procs[i]);
        pc_process_free(procs[i]);
    }
    printf("all workers done\n");
    return failed != 0;
}

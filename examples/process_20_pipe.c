// tour: Pipe: a child sends 'hello world' to its parent
/* The docs' Pipe: a child process sends through its end of a Pipe and the
   parent prints what arrives.

       from multiprocessing import Process, Pipe

       def f(conn):
           conn.send("hello world")
           conn.close()

       if __name__ == "__main__":
           parent_conn, child_conn = Pipe()
           p = Process(target=f, args=(child_conn,))
           p.start()
           print(parent_conn.recv())
           p.join()

   Python pickles the object it sends; here the message is bytes. The
   child's end travels in the argument pack, with every start method. */
#define PYCONC_IMPLEMENTATION
#define PYCONC_PROCESS_IMPLEMENTATION
#include "pyconc_process.h"

#include <stdio.h>

static int f(void *arg) {
    pc_args *args = (pc_args *)arg;
    pc_connection *conn = NULL;
    if (pc_args_get_connection(args, 0, &conn) != PC_OK) return 1;
    int rc = pc_connection_send_bytes(conn, "hello world", 0, 11);
    pc_connection_close(conn);
    return rc;
}

int main(void) {
    pc_connection *parent_conn, *child_conn;
    if (pc_pipe(1, &parent_conn, &child_conn) != PC_OK) return 1;

    pc_args *args = pc_args_new();
    pc_args_add_connection(args, child_conn);
    pc_process *p = pc_process_new(&(pc_process_desc){ .target = f, .args = args });
    if (!p || pc_process_start(p) != PC_OK) {
        fprintf(stderr, "start: %s\n", pc_last_error());
        return 1;
    }
    pc_args_free(args);
    pc_connection_close(child_conn);    // the child has its own copy

    void *msg;
    size_t n;
    if (pc_connection_recv_bytes(parent_conn, 0, &msg, &n) != PC_OK) {
        fprintf(stderr, "recv_bytes: %s\n", pc_last_error());
        return 1;
    }
    printf("%.*s\n", (int)n, (char *)msg);
    pc_connection_bytes_free(msg);

    pc_process_join(p, PC_FOREVER);
    int code = pc_process_exitcode(p);
    pc_process_free(p);
    pc_connection_free(parent_conn);
    pc_connection_free(child_conn);
    return code;
}

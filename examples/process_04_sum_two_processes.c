// tour: 1+...+n in two child processes at once, timed (process_05 is the serial run)
/* 1+...+n with two processes: the two children sum their
   ranges at the same time; each sends its line back over a pipe so that
   the parent prints them in a fixed order, then the time taken.

       def my_flow(n):
           total = 0
           for i in range(n):
               total += i
           print('1+...+%s=%s' % (n, total))
       if __name__ == "__main__":
           start = time.time()
           print("main process run...")
           p1 = Process(target=my_flow, args=(5000000, ))
           p2 = Process(target=my_flow, args=(6000000, ))
           p1.start(); p2.start(); p1.join(); p2.join()
           print("main process runned all lines...")
           print('time cost {}'.format(time.time() - start))
*/
#define PYCONC_ALL_IMPLEMENTATION
#include "pyconc_process.h"
#include <stdio.h>

// args: n, then the connection to report on.
static int my_flow(void *arg) {
    int64_t n = 0;
    pc_connection *out = NULL;
    if (pc_args_get_int((pc_args *)arg, 0, &n) || pc_args_get_connection((pc_args *)arg, 1, &out))
        return 1;
    volatile int64_t total = 0;         // volatile: really do the work, as Python does
    for (int64_t i = 0; i < n; i++) total += i;
    char line[64];
    int len = snprintf(line, sizeof line, "1+...+%lld=%lld", (long long)n, (long long)total);
    return pc_connection_send_bytes(out, line, 0, (size_t)len);
}

static pc_process *flow(int64_t n, pc_connection *out) {
    pc_args *args = pc_args_new();
    pc_args_add_int(args, n);
    pc_args_add_connection(args, out);
    pc_process_desc desc = {0};
    desc.target = my_flow;
    desc.args = args;
    pc_process *p = pc_process_new(&desc);
    pc_args_free(args);
    return p;
}

static void print_line(pc_connection *in) {
    void *msg;
    size_t n;
    if (pc_connection_recv_bytes(in, 0, &msg, &n) != PC_OK) return;
    printf("%.*s\n", (int)n, (const char *)msg);
    pc_connection_bytes_free(msg);
}

int main(void) {
    double start = pc_monotonic();
    pc_connection *in1, *out1, *in2, *out2;
    printf("main process run...\n");
    if (pc_pipe(0, &in1, &out1) || pc_pipe(0, &in2, &out2)) return 1;
    pc_process *p1 = flow(5000000, out1), *p2 = flow(6000000, out2);
    pc_connection_free(out1);           // each child has its own copy
    pc_connection_free(out2);
    if (!p1 || !p2 || pc_process_start(p1) || pc_process_start(p2)) {
        fprintf(stderr, "start failed: %s\n", pc_last_error());
        return 1;
    }
    print_line(in1);
    print_line(in2);
    pc_process_join(p1, PC_FOREVER);
    pc_process_join(p2, PC_FOREVER);
    int failed = pc_process_exitcode(p1) != 0 || pc_process_exitcode(p2) != 0;
    pc_process_free(p1);
    pc_process_free(p2);
    pc_connection_free(in1);
    pc_connection_free(in2);
    printf("main process runned all lines...\n");
    printf("time cost %.3f\n", pc_monotonic() - start);
    return failed;
}

// tour: who starts faster: a thread (microseconds) or a process (milliseconds)
/* Which starts faster, a thread or a process? The same work() runs in a
   new thread, then in a new process, and main prints its line right
   after each start().

   Python:
       def work():
           print('hello')

       if __name__ == '__main__':
           t = Thread(target=work)
           t.start()
           print('main thread/main process')
           # hello
           # main thread/main process

           t = Process(target=work)
           t.start()
           print('main thread/main process')
           # main thread/main process
           # hello

   The thread's hello usually comes first in Python: start() waits until
   the new thread runs, and it then keeps the interpreter lock for a while.
   A pyconc thread runs truly alongside main, so its hello and main's line
   may come in either order; the process's hello comes well after main's
   line either way. So that the difference shows in numbers too, work()
   also says how long it took to begin: CLOCK_MONOTONIC is one clock
   for every process of the machine. The process uses the default start
   method, forkserver (whose first start also launches the server). Main
   joins each before going on, so the two parts do not mix. */
#define PYCONC_ALL_IMPLEMENTATION
#include "pyconc_process.h"

#include <stdio.h>

// args: the pc_monotonic() time just before main made and started it.
static int work(void *arg) {
    double began = pc_monotonic(), started_at = 0;
    pc_args_get_double((const pc_args *)arg, 0, &started_at);
    printf("hello (%.0f microseconds after start())\n", (began - started_at) * 1e6);
    fflush(stdout);
    return 0;
}

static int with_thread(pc_args *args) {
    pc_args_add_double(args, pc_monotonic());
    pc_thread *t = pc_thread_new(&(pc_thread_desc){.target = work, .arg = args});
    if (!t || pc_thread_start(t) != PC_OK) return 1;
    printf("main thread/main process\n");
    fflush(stdout);
    pc_thread_join(t, PC_FOREVER);
    pc_thread_free(t);
    return 0;
}

static int with_process(pc_args *args) {
    pc_process_desc desc = {0};
    desc.target = work;
    desc.args = args;
    pc_args_add_double(args, pc_monotonic());
    pc_process *p = pc_process_new(&desc);  // copies args, with the time
    if (!p || pc_process_start(p) != PC_OK) return 1;
    printf("main thread/main process\n");
    fflush(stdout);
    pc_process_join(p, PC_FOREVER);
    int code = pc_process_exitcode(p);
    pc_process_free(p);
    return code;
}

int main(void) {
    pc_args *thread_args = pc_args_new(), *process_args = pc_args_new();
    int rc = !thread_args || !process_args;
    rc = rc || with_thread(thread_args) || with_process(process_args);
    if (rc) fprintf(stderr, "failed: %s\n", pc_last_error());
    pc_args_free(thread_args);
    pc_args_free(process_args);
    return rc;
}

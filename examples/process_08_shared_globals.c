// tour: a global set by a thread is seen by main; set by a child process, it is not
/* Do threads share their process's data? The same work() sets the global
   n to 0, once in a child process and once in a thread.

   Python:
       def work():
           global n
           n = 0

       if __name__ == '__main__':
           n = 100
           p = Process(target=work)
           p.start()
           p.join()
           print('main', n)  # 100: the child changed its own n only

           n = 1
           t = Thread(target=work)
           t.start()
           t.join()
           print('main', n)  # 0: threads of one process share its data

   The child is started with the fork method, Python's default on Linux
   when this program was written: it begins as a copy of the parent, so it
   sees n = 100, and its write goes to its own copy. (With spawn or
   forkserver it would not even see the 100.) work() says what it sees. */
#define PYCONC_ALL_IMPLEMENTATION
#include "pyconc_process.h"

#include <stdio.h>
#include <unistd.h>

static int n;

static int work(void *arg) {
    (void)arg;
    printf("  work() in pid %ld sees n = %d, sets it to 0\n", (long)getpid(), n);
    fflush(stdout);
    n = 0;
    return 0;
}

int main(void) {
    setvbuf(stdout, NULL, _IOLBF, 0);
    n = 100;
    pc_process_desc desc = {0};
    desc.target = work;
    desc.context = pc_get_context(PC_START_FORK);
    pc_process *p = pc_process_new(&desc);
    if (!p || pc_process_start(p) != PC_OK) {
        fprintf(stderr, "start: %s\n", pc_last_error());
        return 1;
    }
    pc_process_join(p, PC_FOREVER);
    pc_process_free(p);
    printf("main %d\n", n);

    n = 1;
    pc_thread *t = pc_thread_new(&(pc_thread_desc){.target = work});
    if (!t || pc_thread_start(t) != PC_OK) {
        fprintf(stderr, "start: %s\n", pc_last_error());
        return 1;
    }
    pc_thread_join(t, PC_FOREVER);
    pc_thread_free(t);
    printf("main %d\n", n);
    return 0;
}

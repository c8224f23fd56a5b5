// tour: threads share main's pid, each child process has its own
/* Process ids: two threads print the pid of the process they run in,
   which is main's; two child processes print pids of their own.

   Python:
       def work():
           print('hello', os.getpid())

       if __name__ == '__main__':
           # part 1: threads; every thread has the main process's pid
           t1 = Thread(target=work)
           t2 = Thread(target=work)
           t1.start()
           t2.start()
           print('main thread/main process pid', os.getpid())

           # part 2: processes; every process has a pid of its own
           p1 = Process(target=work)
           p2 = Process(target=work)
           p1.start()
           p2.start()
           print('main thread/main process pid', os.getpid())

   Main joins the threads before part 2 (Python leaves them running), so
   the two parts' lines do not mix; within a part the order varies. */
#define PYCONC_ALL_IMPLEMENTATION
#include "pyconc_process.h"

#include <stdio.h>
#include <unistd.h>

static int work(void *arg) {
    (void)arg;
    printf("hello %ld\n", (long)getpid());
    fflush(stdout);
    return 0;
}

static int threads_part(void) {
    pc_thread *t1 = pc_thread_new(&(pc_thread_desc){.target = work});
    pc_thread *t2 = pc_thread_new(&(pc_thread_desc){.target = work});
    if (!t1 || !t2 || pc_thread_start(t1) || pc_thread_start(t2)) return 1;
    printf("main thread/main process pid %ld\n", (long)getpid());
    fflush(stdout);
    pc_thread_join(t1, PC_FOREVER);
    pc_thread_join(t2, PC_FOREVER);
    pc_thread_free(t1);
    pc_thread_free(t2);
    return 0;
}

static int processes_part(void) {
    pc_process_desc desc = {0};
    desc.target = work;
    pc_process *p1 = pc_process_new(&desc), *p2 = pc_process_new(&desc);
    if (!p1 || !p2 || pc_process_start(p1) || pc_process_start(p2)) return 1;
    printf("main thread/main process pid %ld\n", (long)getpid());
    fflush(stdout);
    pc_process_join(p1, PC_FOREVER);
    pc_process_join(p2, PC_FOREVER);
    printf("(the children were %ld and %ld)\n", pc_process_pid(p1), pc_process_pid(p2));
    int failed = pc_process_exitcode(p1) != 0 || pc_process_exitcode(p2) != 0;
    pc_process_free(p1);
    pc_process_free(p2);
    return failed;
}

int main(void) {
    setvbuf(stdout, NULL, _IOLBF, 0);
    if (threads_part() || processes_part()) {
        fprintf(stderr, "failed: %s\n", pc_last_error());
        return 1;
    }
    return 0;
}

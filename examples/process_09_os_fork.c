// tour: plain fork(): parent and child both go on; the child keeps only the forking thread
/* os.fork(): the lowest-level way to make a process. fork() returns twice:
   0 in the child, the child's pid in the parent.

   Python:
       import os
       print('current process id: %s' % os.getpid())
       ID = os.fork()
       if ID == 0:
           print('this is the child, id: %s, parent id: %s' % (os.getpid(), os.getppid()))
       else:
           print('this is the parent, id: %s' % os.getpid())

   This is plain fork(), as os.fork is. What pyconc adds is what a child
   of a threaded program needs: the parent here has a second thread
   (waiting for an event) when it forks, and the child's thread registry
   holds only the thread that called fork(), which is its MainThread, as
   in Python. The child then returns from main like the parent; its exit
   has no other thread to wait for.
   Two additions: stdout is flushed before the fork so that the first line
   is not printed twice (the child would inherit it still buffered), and
   the parent waits for its child so that it leaves no zombie. The parent's
   and the child's lines may come in either order. */
#define PYCONC_IMPLEMENTATION
#include "pyconc.h"

#include <errno.h>
#include <stdio.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

static pc_event stop = PC_EVENT_INIT;

static int helper(void *arg) {
    (void)arg;
    pc_event_wait(&stop, PC_FOREVER);
    return 0;
}

static void print_threads(void) {
    pc_thread *live[8];
    size_t n = pc_thread_enumerate(live, 8);
    printf("    threads here: %zu (", n);
    for (size_t i = 0; i < n && i < 8; i++) {
        printf("%s%s", i ? ", " : "", pc_thread_name(live[i]));
        pc_thread_free(live[i]);
    }
    printf(")\n");
}

int main(void) {
    pc_thread *h = pc_thread_new(&(pc_thread_desc){.target = helper, .name = "helper"});
    if (!h || pc_thread_start(h) != PC_OK) {
        fprintf(stderr, "start: %s\n", pc_last_error());
        return 1;
    }
    printf("current process id: %ld\n", (long)getpid());
    print_threads();
    fflush(stdout);
    pid_t id = fork();
    if (id < 0) {
        perror("fork");
        return 1;
    }
    if (id == 0) {
        printf("this is the child, id: %ld, parent id: %ld\n", (long)getpid(), (long)getppid());
        print_threads();
        return 0;
    }
    printf("this is the parent, id: %ld\n", (long)getpid());
    print_threads();
    fflush(stdout);
    pc_event_set(&stop);
    pc_thread_join(h, PC_FOREVER);
    pc_thread_free(h);
    int status = 0;
    pid_t got;
    while ((got = waitpid(id, &status, 0)) < 0 && errno == EINTR) continue;
    return got == id && WIFEXITED(status) ? WEXITSTATUS(status) : 1;
}

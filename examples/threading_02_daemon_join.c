// tour: join() vs daemon threads; the dropped daemon's hello never prints
/* join() versus daemon threads, three Python programs in one run.

   1. join: main waits for the thread, which is then no longer alive.
   2. daemon: main does not wait; when the program ends the daemon thread
      is dropped mid-sleep, so its "say hello" never appears.
   3. the "confusing example": foo is a daemon, bar is not. The program
      waits for bar at exit, and foo, being quicker, finishes too:
      123, 456, main-------, end123, end456.

   The Python sleeps (2 s, 1 s, 3 s) are a tenth here, except the daemon's,
   which must outlast the rest of the program to show it is dropped. */
#define PYCONC_IMPLEMENTATION
#include "pyconc.h"

#include <stdio.h>
#include <stdlib.h>

static int sayhi(void *arg) {
    pc_sleep(*(const double *)arg);
    printf("%s say hello\n", "egon");
    fflush(stdout);
    return 0;
}

// Python's start() returns once the new thread runs, which in practice
// keeps the Python order (123, 456, main-------); C's start does not wait,
// so each thread says when its first line is out.
static pc_event said_123 = PC_EVENT_INIT, said_456 = PC_EVENT_INIT;

static int foo(void *arg) {
    (void)arg;
    printf("123\n");
    fflush(stdout);
    pc_event_set(&said_123);
    pc_sleep(0.1);
    printf("end123\n");
    fflush(stdout);
    return 0;
}

static int bar(void *arg) {
    (void)arg;
    printf("456\n");
    fflush(stdout);
    pc_event_set(&said_456);
    pc_sleep(0.3);
    printf("end456\n");
    fflush(stdout);
    return 0;
}

// Make and start a thread; daemon is PC_DAEMON_YES or PC_DAEMON_NO.
static pc_thread *spawn(pc_target_fn fn, void *arg, pc_daemon daemon) {
    pc_thread *t = pc_thread_new(&(pc_thread_desc){.target = fn, .arg = arg, .daemon = daemon});
    if (!t || pc_thread_start(t) != PC_OK) {
        fprintf(stderr, "start: %s\n", pc_last_error());
        exit(1);
    }
    return t;
}

static void with_join(void) {
    static const double two = 0.2;
    pc_thread *t = spawn(sayhi, (void *)&two, PC_DAEMON_NO);
    pc_thread_join(t, PC_FOREVER);
    printf("main thread\n");
    printf("%s\n", pc_thread_is_alive(t) ? "True" : "False");
    pc_thread_free(t);
}

static void with_daemon(void) {
    static const double long_sleep = 5.0;   // far longer than the program runs
    pc_thread *t = spawn(sayhi, (void *)&long_sleep, PC_DAEMON_YES);
    printf("main thread\n");
    printf("%s\n", pc_thread_is_alive(t) ? "True" : "False");
    fflush(stdout);
    pc_thread_free(t);                       // it keeps running, detached
}

static void confusing(void) {
    pc_thread *t1 = spawn(foo, NULL, PC_DAEMON_YES);
    pc_event_wait(&said_123, PC_FOREVER);
    pc_thread *t2 = spawn(bar, NULL, PC_DAEMON_NO);
    pc_event_wait(&said_456, PC_FOREVER);
    printf("main-------\n");
    fflush(stdout);
    pc_thread_free(t1);
    pc_thread_free(t2);
}

int main(void) {
    printf("-- join\n");
    with_join();
    printf("-- daemon\n");
    with_daemon();
    printf("-- daemon and non-daemon\n");
    confusing();
    // Returning runs the exit-time join of every non-daemon thread (bar);
    // the daemons (foo if still running, the sleeping sayhi) are dropped.
    return 0;
}

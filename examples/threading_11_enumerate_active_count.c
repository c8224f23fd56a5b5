// tour: current_thread, enumerate, active_count while a thread sleeps (long numbers: idents)
/* The threading module's questions about threads: which one am I, which
   are alive, how many.

   Python:
       def work():
           time.sleep(3)
           print(threading.current_thread().getName())

       t = Thread(target=work)
       t.start()
       print(threading.current_thread().getName())
       print(threading.current_thread())   # the main thread
       print(threading.enumerate())        # two live threads, main included
       print(threading.active_count())
       print('main thread / main process')

   prints
       MainThread
       <_MainThread(MainThread, started 140735268892672)>
       [<_MainThread(MainThread, started 140735268892672)>,
        <Thread(Thread-1, started 123145307557888)>]
       2
       main thread / main process
       Thread-1

   C has no repr(), so thread_repr() below writes Python's. The numbers
   are the threads' idents (pthread_t values), long and different on each
   run. The sleep is 0.1 s instead of 3 s. */
#define PYCONC_IMPLEMENTATION
#include "pyconc.h"

#include <stdio.h>

static int work(void *arg) {
    (void)arg;
    pc_sleep(0.1);
    printf("%s\n", pc_thread_name(pc_thread_current()));
    return 0;
}

// Python's Thread.__repr__: <class(name, started[ daemon] ident)>.
static void thread_repr(pc_thread *t) {
    int is_main = t == pc_thread_main();
    printf("<%s(%s, %s%s %lu)>", is_main ? "_MainThread" : "Thread", pc_thread_name(t),
           pc_thread_is_alive(t) ? "started" : "stopped",
           pc_thread_daemon(t) ? " daemon" : "", pc_thread_ident(t));
}

static void print_enumerate(void) {
    pc_thread *live[16];
    size_t n = pc_thread_enumerate(live, 16);
    if (n > 16) n = 16;
    printf("[");
    for (size_t i = 0; i < n; i++) {
        if (i) printf(", ");
        thread_repr(live[i]);
        pc_thread_free(live[i]);           // enumerate gave us references
    }
    printf("]\n");
}

int main(void) {
    setvbuf(stdout, NULL, _IOLBF, 0);
    pc_thread *t = pc_thread_new(&(pc_thread_desc){.target = work});
    if (!t || pc_thread_start(t) != PC_OK) {
        fprintf(stderr, "start: %s\n", pc_last_error());
        return 1;
    }
    printf("%s\n", pc_thread_name(pc_thread_current()));
    thread_repr(pc_thread_current());
    printf("\n");
    print_enumerate();
    printf("%zu\n", pc_thread_active_count());
    printf("main thread / main process\n");
    // No join: as in Python, the program waits for Thread-1 when main
    // returns, so its name still comes out last.
    pc_thread_free(t);
    return 0;
}

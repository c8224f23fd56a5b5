// tour: _thread.start_new_thread: two bare threads print the time four times each
/* The low-level way to start a thread: a function and its arguments, no
   object to join.

   Python (2, module thread; _thread in Python 3):
       def print_time(threadName, delay):
           count = 0
           for i in range(4):
               time.sleep(delay)
               print "%s: %s" % (threadName, time.ctime(time.time()))

       try:
           thread.start_new_thread(print_time, ("Thread-1", 2,))
           thread.start_new_thread(print_time, ("Thread-2", 4,))
       except:
           print "Error: unable to start thread"

   In C this is pc_thread with the default options, freed at once since
   nobody joins it. One difference: such a thread is threading.Thread's
   kind, and the program waits for it when main returns. Python drops the
   threads of the thread module when the main thread ends (the tutorial
   warns that this module has no say in when the process exits), so the
   Python program may print nothing at all; .daemon = PC_DAEMON_YES would
   do that here.
   The delays are 20 ms and 50 ms instead of 2 s and 4 s (50, not 40, so
   that the two threads never print at the same moment), and each line
   also shows the time since the start, since ctime() only has seconds. */
#define PYCONC_IMPLEMENTATION
#include "pyconc.h"

#include <stdio.h>
#include <time.h>

typedef struct print_time_args { const char *thread_name; double delay; } print_time_args;

static double start;

static int print_time(void *arg) {
    const print_time_args *a = (const print_time_args *)arg;
    for (int i = 0; i < 4; i++) {
        pc_sleep(a->delay);
        time_t now = time(NULL);
        struct tm tm;
        char stamp[32];                     // ctime()'s format, without its static buffer
        strftime(stamp, sizeof stamp, "%a %b %e %H:%M:%S %Y", localtime_r(&now, &tm));
        printf("%s: %s (+%.2f s)\n", a->thread_name, stamp, pc_monotonic() - start);
    }
    return 0;
}

// thread.start_new_thread(function, args): start and forget.
static int start_new_thread(pc_target_fn function, void *args) {
    pc_thread *t = pc_thread_new(&(pc_thread_desc){.target = function, .arg = args});
    int rc = t ? pc_thread_start(t) : pc_last_error_code();
    pc_thread_free(t);
    return rc;
}

int main(void) {
    static const print_time_args one = {"Thread-1", 0.02}, two = {"Thread-2", 0.05};
    setvbuf(stdout, NULL, _IOLBF, 0);
    start = pc_monotonic();
    if (start_new_thread(print_time, (void *)&one) != PC_OK ||
        start_new_thread(print_time, (void *)&two) != PC_OK)
        printf("Error: unable to start thread\n");
    return 0;
}

// tour: beyond Python: run() wakes for an earlier event entered from another thread
/* Beyond Python: run() wakes up for an event entered earlier than the one
   it sleeps towards.

   Python 3.13 (CPython gh-64325): run() in one thread sleeps with
   time.sleep towards the next event; another thread's enter() of an
   earlier event waits until that sleep ends:

       s = sched.scheduler()
       s.enter(5, 1, lambda: print("the 5 s event"))
       threading.Thread(target=s.run).start()
       time.sleep(0.1)
       s.enter(0.2, 1, lambda: print("the 0.2 s event"))   # runs after 5 s

   With pyconc's default delayfunc the sleep is cut short, so the 0.2 s
   event runs on time; cancelling the 5 s event then wakes run(), which
   finds the queue empty and returns. */
#define PYCONC_IMPLEMENTATION
#define PYCONC_SCHED_IMPLEMENTATION
#include "pyconc_sched.h"

#include <stdio.h>

static double start;

static int report(void *arg) {
    printf("%s ran at %.1f s\n", (const char *)arg, pc_monotonic() - start);
    return 0;
}

static int run_all(void *arg) {
    return pc_scheduler_run((pc_scheduler *)arg, 1, NULL);
}

int main(void) {
    pc_scheduler *s = pc_scheduler_new(NULL);
    pc_scheduler_event far;
    if (!s) return 1;
    start = pc_monotonic();
    pc_scheduler_enter(s, 5, 1, report, (void *)"the 5 s event", &far);
    pc_thread *runner = pc_thread_new(&(pc_thread_desc){.target = run_all, .arg = s});
    if (!runner || pc_thread_start(runner) != PC_OK) return 1;

    pc_sleep(0.1);      // let run() fall asleep towards the 5 s event
    pc_scheduler_enter(s, 0.2, 1, report, (void *)"the 0.2 s event", NULL);
    printf("entered a 0.2 s event at %.1f s\n", pc_monotonic() - start);

    pc_sleep(0.5);
    pc_scheduler_cancel(s, far);
    printf("cancelled the 5 s event at %.1f s\n", pc_monotonic() - start);
    pc_thread_join(runner, PC_FOREVER);
    printf("run() returned at %.1f s\n", pc_monotonic() - start);
    pc_thread_free(runner);
    pc_scheduler_free(s);
    return 0;
}

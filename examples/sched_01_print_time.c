// tour: sched.scheduler: events run by time, then priority (times are seconds since 1970)
/* sched.scheduler runs functions at given times, in time then priority order.

   Python:
       s = sched.scheduler(time.time, time.sleep)

       def print_time(a='default'):
           print("From print_time", time.time(), a)

       def print_some_times():
           print(time.time())
           s.enter(10, 1, print_time)
           s.enter(5, 2, print_time, argument=('positional',))
           s.enter(5, 1, print_time, kwargs={'a': 'keyword'})
           s.run()
           print(time.time())

   The delays here are a tenth of the Python ones (1 s and 0.5 s), so the tour
   does not wait. The scheduler keeps its default clock, pc_monotonic
   (Python's default too, and better than time.time, which can jump);
   print_time still prints the wall-clock time, as in Python.
   As in Python, "positional" comes before "keyword" although its priority
   number is higher: each enter() reads the clock, so the second 0.5 s
   event is due a little later than the first, and priority only breaks
   exact ties of time. */
#define PYCONC_IMPLEMENTATION
#define PYCONC_SCHED_IMPLEMENTATION
#include "pyconc_sched.h"

#include <stdio.h>
#include <time.h>

// time.time: seconds since the epoch, as a double.
static double wall_time(void *ctx) {
    (void)ctx;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static int print_time(void *arg) {
    const char *a = arg ? (const char *)arg : "default";
    printf("From print_time %.7f %s\n", wall_time(NULL), a);
    return 0;
}

int main(void) {
    pc_scheduler *s = pc_scheduler_new(NULL);
    if (!s) {
        fprintf(stderr, "sched: %s\n", pc_last_error());
        return 1;
    }
    printf("%.7f\n", wall_time(NULL));
    pc_scheduler_enter(s, 1.0, 1, print_time, NULL, NULL);
    pc_scheduler_enter(s, 0.5, 2, print_time, (void *)"positional", NULL);
    pc_scheduler_enter(s, 0.5, 1, print_time, (void *)"keyword", NULL);
    int rc = pc_scheduler_run(s, 1, NULL);
    printf("%.7f\n", wall_time(NULL));
    if (rc != PC_OK) fprintf(stderr, "sched: %s\n", pc_last_error());
    pc_scheduler_free(s);
    return rc != PC_OK;
}

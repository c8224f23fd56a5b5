// tour: one Event releases ten waiting threads at once (the "user" types True)
/* An Event as a traffic light: ten threads print "start" and stop at the
   red light; when the user types True the light turns green and all ten
   go on together.

   Python:
       def do(event):
           print('start')
           event.wait()        # red light: every thread waits here
           print('end')

       event_obj = threading.Event()
       for i in range(10):
           t = threading.Thread(target=do, args=(event_obj,))
           t.start()

       time.sleep(5)
       event_obj.clear()       # red light (it starts red anyway)
       data = input('Enter: ')
       if data == 'True':
           event_obj.set()     # green light: all ten run on

   The Python program sleeps 5 s so that every thread has printed "start"
   before the prompt; here each thread says so through a Semaphore, which
   takes no longer than needed. The "user" types True (echoed after the
   prompt) instead of the keyboard. */
#define PYCONC_IMPLEMENTATION
#include "pyconc.h"

#include <stdio.h>
#include <string.h>

#define THREADS 10

static pc_semaphore started = PC_SEMAPHORE_INIT(0);

static int do_it(void *arg) {
    pc_event *event = (pc_event *)arg;
    printf("start\n");
    pc_semaphore_release(&started, 1);
    pc_event_wait(event, PC_FOREVER);
    printf("end\n");
    return 0;
}

int main(void) {
    static pc_event event_obj = PC_EVENT_INIT;
    const char *typed = "True";
    pc_thread *ts[THREADS];
    setvbuf(stdout, NULL, _IOLBF, 0);
    for (int i = 0; i < THREADS; i++) {
        ts[i] = pc_thread_new(&(pc_thread_desc){.target = do_it, .arg = &event_obj});
        if (!ts[i] || pc_thread_start(ts[i]) != PC_OK) {
            fprintf(stderr, "start: %s\n", pc_last_error());
            return 1;
        }
    }
    for (int i = 0; i < THREADS; i++) pc_semaphore_acquire(&started, PC_FOREVER);

    pc_event_clear(&event_obj);
    printf("Enter: %s\n", typed);
    if (strcmp(typed, "True") == 0) pc_event_set(&event_obj);
    for (int i = 0; i < THREADS; i++) {
        pc_thread_join(ts[i], PC_FOREVER);
        pc_thread_free(ts[i]);
    }
    printf("%d threads passed the green light\n", THREADS);
    return 0;
}

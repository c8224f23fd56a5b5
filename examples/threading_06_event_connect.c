// tour: Event-gated connects that give up: the two TimeoutError lines are expected
/* Event-gated "connect" workers: two workers try to connect only once a
   checker has said the server is up, retrying every 0.5 s, three times.

   Python:
       def conn_mysql():
           count = 1
           while not event.is_set():
               if count > 3:
                   raise TimeoutError('connection timed out')
               print('<%s> attempt %s to connect' % (current_thread().getName(), count))
               event.wait(0.5)
               count += 1
           print('<%s> connected' % current_thread().getName())

       def check_mysql():
           print('[%s] checking mysql' % current_thread().getName())
           time.sleep(random.randint(2, 4))
           event.set()

   Times are a tenth of the Python ones. As in Python, the check (0.2 to
   0.4 s) always takes longer than three waits (0.15 s), so both give up:
   their TimeoutError is a pc_raise() that reaches the thread excepthook.
   Run it with an argument (any) to make the check quick, and they connect. */
#define PYCONC_IMPLEMENTATION
#include "pyconc.h"

#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static pc_event event = PC_EVENT_INIT;
static double check_seconds;

static const char *me(void) { return pc_thread_name(pc_thread_current()); }

static int conn_mysql(void *arg) {
    (void)arg;
    int count = 1;
    while (!pc_event_is_set(&event)) {
        if (count > 3) return pc_raise(PC_TIMEOUT, "connection timed out");
        printf("<%s> attempt %d to connect\n", me(), count);
        pc_event_wait(&event, 0.05);
        count++;
    }
    printf("<%s> connected\n", me());
    return 0;
}

static int check_mysql(void *arg) {
    (void)arg;
    printf("[%s] checking mysql\n", me());
    pc_sleep(check_seconds);
    pc_event_set(&event);
    return 0;
}

static pc_thread *spawn(pc_target_fn fn) {
    pc_thread *t = pc_thread_new(&(pc_thread_desc){.target = fn});
    if (!t || pc_thread_start(t) != PC_OK) {
        fprintf(stderr, "start: %s\n", pc_last_error());
        exit(1);
    }
    return t;
}

int main(int argc, char **argv) {
    (void)argv;
    setvbuf(stdout, NULL, _IOLBF, 0);
    srand((unsigned)time(NULL));
    // random.randint(2, 4) seconds, scaled; or quick when asked.
    check_seconds = argc > 1 ? 0.02 : 0.1 * (2 + rand() % 3);
    pc_thread *ts[3];
    ts[0] = spawn(conn_mysql);
    ts[1] = spawn(conn_mysql);
    ts[2] = spawn(check_mysql);
    for (int i = 0; i < 3; i++) {
        pc_thread_join(ts[i], PC_FOREVER);
        pc_thread_free(ts[i]);
    }
    return 0;
}

// tour: Condition.notify(n): each typed number releases that many of ten threads
/* Condition.notify(n): ten threads wait on one condition, and each number
   the user types releases that many of them.

   Python:
       def run(n):
           con.acquire()
           con.wait()
           print("run the thread: %s" % n)
           con.release()

       con = threading.Condition()
       for i in range(10):
           threading.Thread(target=run, args=(i,)).start()
       while True:
           inp = input('>>>')
           if inp == 'q':
               break
           con.acquire()
           con.notify(int(inp))
           con.release()

   The Python program reads the numbers from the keyboard; here the
   "user" types 1, 2, 3, 4 and q, echoed after the prompt. Two helpers the
   Python program does without (a person typing is slow): an Event that
   says all ten are waiting, so no notify is lost, and a Semaphore the
   woken threads release, so each prompt comes after the lines it caused. */
#define PYCONC_IMPLEMENTATION
#include "pyconc.h"

#include <stdio.h>
#include <stdlib.h>

#define THREADS 10

static pc_condition con = PC_CONDITION_INIT;
static int waiting;                         // guarded by con
static pc_event all_waiting = PC_EVENT_INIT;
static pc_semaphore printed = PC_SEMAPHORE_INIT(0);

static int run(void *arg) {
    int n = (int)(intptr_t)arg;
    pc_condition_acquire(&con, PC_FOREVER);
    // wait() queues this thread before it lets go of the lock, so once
    // main holds the lock after this event, all ten are in the queue.
    if (++waiting == THREADS) pc_event_set(&all_waiting);
    pc_condition_wait(&con, PC_FOREVER);
    printf("run the thread: %d\n", n);
    pc_condition_release(&con);
    pc_semaphore_release(&printed, 1);
    return 0;
}

int main(void) {
    static const char *typed[] = {"1", "2", "3", "4", "q"};
    pc_thread *ts[THREADS];
    setvbuf(stdout, NULL, _IOLBF, 0);
    for (int i = 0; i < THREADS; i++) {
        ts[i] = pc_thread_new(&(pc_thread_desc){.target = run, .arg = (void *)(intptr_t)i});
        if (!ts[i] || pc_thread_start(ts[i]) != PC_OK) {
            fprintf(stderr, "start: %s\n", pc_last_error());
            return 1;
        }
    }
    pc_event_wait(&all_waiting, PC_FOREVER);
    for (size_t k = 0; k < sizeof typed / sizeof typed[0]; k++) {
        printf(">>>%s\n", typed[k]);
        if (typed[k][0] == 'q') break;
        int n = atoi(typed[k]);
        pc_condition_acquire(&con, PC_FOREVER);
        pc_condition_notify(&con, n);
        pc_condition_release(&con);
        for (int i = 0; i < n; i++) pc_semaphore_acquire(&printed, PC_FOREVER);
    }
    for (int i = 0; i < THREADS; i++) {
        pc_thread_join(ts[i], PC_FOREVER);
        pc_thread_free(ts[i]);
    }
    return 0;
}

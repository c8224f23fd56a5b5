// tour: Condition.wait_for: each of ten threads goes on only when the "user" answers 1
/* Condition.wait_for(predicate): a thread goes on only once the predicate
   is true, and it checks the predicate with the condition's lock held.

   Python:
       def condition_func():
           ret = False
           inp = input('>>>')
           if inp == '1':
               ret = True
           return ret

       def run(n):
           con.acquire()
           con.wait_for(condition_func)
           print("run the thread: %s" % n)
           con.release()

       con = threading.Condition()
       for i in range(10):
           t = threading.Thread(target=run, args=(i,))
           t.start()

   Each thread asks once when it arrives; one that is not given 1 waits,
   and asks again only when woken. The Python program wakes nobody, so it
   hangs unless the user types 1 ten times in a row. Here the "user"'s
   answers come from a list (echoed after the prompt): three of the first
   ten are not 1, and once every thread has asked, main calls notify_all()
   so that the three waiting threads ask again and get a 1 each. Which
   thread gets which answer depends on who takes the lock first. */
#define PYCONC_IMPLEMENTATION
#include "pyconc.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>

#define THREADS 10

static const char *typed[] = {"1", "0", "1", "1", "q", "1", "1", "2", "1", "1", "1", "1", "1"};
static size_t next_typed;                   // guarded by con
static pc_condition con = PC_CONDITION_INIT;
static pc_event all_asked = PC_EVENT_INIT;

// Runs with con's lock held, so next_typed needs no lock of its own.
static int condition_func(void *ctx) {
    (void)ctx;
    const char *inp = next_typed < sizeof typed / sizeof typed[0] ? typed[next_typed] : "1";
    next_typed++;
    printf(">>>%s\n", inp);
    // The tenth question: every thread has asked once and the ones told
    // no are waiting (or about to, still holding the lock).
    if (next_typed == THREADS) pc_event_set(&all_asked);
    return strcmp(inp, "1") == 0;
}

static int run(void *arg) {
    int n = (int)(intptr_t)arg;
    pc_condition_acquire(&con, PC_FOREVER);
    pc_condition_wait_for(&con, condition_func, NULL, PC_FOREVER);
    printf("run the thread: %d\n", n);
    pc_condition_release(&con);
    return 0;
}

int main(void) {
    pc_thread *ts[THREADS];
    setvbuf(stdout, NULL, _IOLBF, 0);
    for (int i = 0; i < THREADS; i++) {
        ts[i] = pc_thread_new(&(pc_thread_desc){.target = run, .arg = (void *)(intptr_t)i});
        if (!ts[i] || pc_thread_start(ts[i]) != PC_OK) {
            fprintf(stderr, "start: %s\n", pc_last_error());
            return 1;
        }
    }
    pc_event_wait(&all_asked, PC_FOREVER);
    // Taking the lock waits for the tenth thread to be inside wait() too.
    pc_condition_acquire(&con, PC_FOREVER);
    printf("(every thread has asked once: waking the ones still waiting)\n");
    pc_condition_notify_all(&con);
    pc_condition_release(&con);
    for (int i = 0; i < THREADS; i++) {
        pc_thread_join(ts[i], PC_FOREVER);
        pc_thread_free(ts[i]);
    }
    return 0;
}

// tour: two ways to start a thread: a target with args, and an object with its own run
/* Two ways to start a thread, as Python has them: a target function
   with arguments, and an object that carries its own data and run method.

   Python:
       def sayhi(name):
           time.sleep(2)
           print('%s say hello' % name)

       t = Thread(target=sayhi, args=('egon',))
       t.start()
       print('main thread')

   The Python program sleeps 2 s; 0.2 s here keeps the tour quick. */
#define PYCONC_IMPLEMENTATION
#include "pyconc.h"

#include <stdio.h>

// Way one: a target and its argument (Python's args=('egon',)).
static int sayhi(void *arg) {
    const char *name = (const char *)arg;
    pc_sleep(0.2);
    printf("%s say hello\n", name);
    return 0;
}

// Way two: Python subclasses Thread and overrides run(); in C the object
// is a struct that holds the thread and the data its run function needs.
typedef struct sayhi_thread {
    pc_thread *thread;
    const char *name;
} sayhi_thread;

static int sayhi_run(void *self) {
    sayhi_thread *s = (sayhi_thread *)self;
    pc_sleep(0.2);
    printf("%s say hello\n", s->name);
    return 0;
}

static int sayhi_start(sayhi_thread *s, const char *name) {
    s->name = name;
    s->thread = pc_thread_new(&(pc_thread_desc){.target = sayhi_run, .arg = s});
    return s->thread ? pc_thread_start(s->thread) : pc_last_error_code();
}

int main(void) {
    pc_thread *t = pc_thread_new(&(pc_thread_desc){.target = sayhi, .arg = "egon"});
    if (!t || pc_thread_start(t) != PC_OK) {
        fprintf(stderr, "start: %s\n", pc_last_error());
        return 1;
    }
    printf("main thread\n");
    fflush(stdout);
    pc_thread_join(t, PC_FOREVER);   // the first Python program ends here
    pc_thread_free(t);

    static sayhi_thread s;           // outlives main: the thread may still run
    if (sayhi_start(&s, "egon") != PC_OK) {
        fprintf(stderr, "start: %s\n", pc_last_error());
        return 1;
    }
    printf("main thread\n");
    fflush(stdout);
    // No join: as in Python, the program waits for its non-daemon threads
    // when main returns, so "egon say hello" still comes out.
    pc_thread_free(s.thread);
    return 0;
}

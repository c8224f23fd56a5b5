// tour: Timer: hello, world after one second
/* A Timer runs a function once, after a delay, in a thread of its own.

   Python:
       def hello():
           print("hello, world")

       t = Timer(1, hello)
       t.start()  # after 1 second, "hello, world" will be printed */
#define PYCONC_IMPLEMENTATION
#include "pyconc.h"

#include <stdio.h>

static int hello(void *arg) {
    (void)arg;
    printf("hello, world\n");
    return 0;
}

int main(void) {
    pc_timer *t = pc_timer_new(1.0, hello, NULL);
    if (!t || pc_timer_start(t) != PC_OK) {
        fprintf(stderr, "timer: %s\n", pc_last_error());
        return 1;
    }
    // As in Python, the program waits for the timer's (non-daemon) thread
    // when main returns; pc_timer_free only drops main's reference.
    pc_timer_free(t);
    return 0;
}

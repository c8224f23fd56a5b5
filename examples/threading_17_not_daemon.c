// tour: four setDaemon(False) threads: main ends first, the program waits for them
/* Foreground threads: main has nothing left to do and says so, but the
   program lives on until its four non-daemon threads end.

   Python:
       def action(arg):
           time.sleep(1)
           print('sub thread start!the thread name is:%s\r' % threading.currentThread().getName())
           print('the arg is:%s\r' % arg)
           time.sleep(1)

       for i in range(4):
           t = threading.Thread(target=action, args=(i,))
           t.setDaemon(False)     # a foreground thread (the default)
           t.start()

       print('main_thread end!')

   The sleeps are 0.1 s instead of 1 s. Each thread prints its two lines
   with one printf, so another thread's lines cannot come in between (two
   Python prints can interleave). The order of the four threads varies. */
#define PYCONC_IMPLEMENTATION
#include "pyconc.h"

#include <stdint.h>
#include <stdio.h>

static int action(void *arg) {
    pc_sleep(0.1);
    printf("sub thread start!the thread name is:%s\nthe arg is:%d\n",
           pc_thread_name(pc_thread_current()), (int)(intptr_t)arg);
    pc_sleep(0.1);
    return 0;
}

int main(void) {
    setvbuf(stdout, NULL, _IOLBF, 0);
    for (intptr_t i = 0; i < 4; i++) {
        pc_thread *t = pc_thread_new(&(pc_thread_desc){.target = action, .arg = (void *)i});
        if (!t || pc_thread_set_daemon(t, 0) != PC_OK || pc_thread_start(t) != PC_OK) {
            fprintf(stderr, "start: %s\n", pc_last_error());
            return 1;
        }
        pc_thread_free(t);                  // nobody joins it; it keeps running
    }
    printf("main_thread end!\n");
    // Returning from main waits for the four threads, as Python's exit does.
    return 0;
}

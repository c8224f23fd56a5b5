// tour: threading.local: one name, a separate x in every thread
/* threading.local: each thread that sets mydata.x has its own x; no
   thread sees another's, and none overwrites another's.

   Python:
       mydata = threading.local()
       mydata.x = 1

       def show(where):
           print(where, threading.current_thread().name, mydata.x)

       def work(n):
           try:
               mydata.x
           except AttributeError:
               print('no x yet in', threading.current_thread().name)
           mydata.x = n
           show('thread')

       for n in (10, 20, 30):
           t = threading.Thread(target=work, args=(n,)); t.start(); t.join()
       show('main')              # still 1

   The tutorial shows only the first two lines and says the rest in
   words; the Python above spells that out. A pc_local holds one pointer
   per thread (NULL until the thread sets it: Python's AttributeError).
   Each thread's x is a small allocation that the local's destructor
   frees when the thread ends. */
#define PYCONC_IMPLEMENTATION
#include "pyconc.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

typedef struct my_data { int x; } my_data;

static pc_local *mydata;

static void show(const char *where) {
    const my_data *d = (const my_data *)pc_local_get(mydata);
    printf("%s %s %d\n", where, pc_thread_name(pc_thread_current()), d->x);
}

// mydata.x = x
static int set_x(int x) {
    my_data *d = (my_data *)pc_local_get(mydata);
    if (!d) {
        d = (my_data *)malloc(sizeof *d);
        if (!d || pc_local_set(mydata, d) != PC_OK) {
            free(d);
            return pc_raise(PC_NOMEM, "no room for mydata");
        }
    }
    d->x = x;
    return PC_OK;
}

static int work(void *arg) {
    if (!pc_local_get(mydata)) printf("no x yet in %s\n", pc_thread_name(pc_thread_current()));
    int rc = set_x((int)(intptr_t)arg);
    if (rc == PC_OK) show("thread");
    return rc;
}

int main(void) {
    mydata = pc_local_new(free);
    if (!mydata || set_x(1) != PC_OK) {
        fprintf(stderr, "local: %s\n", pc_last_error());
        return 1;
    }
    for (intptr_t n = 10; n <= 30; n += 10) {
        pc_thread *t = pc_thread_new(&(pc_thread_desc){.target = work, .arg = (void *)n});
        if (!t || pc_thread_start(t) != PC_OK) {
            fprintf(stderr, "start: %s\n", pc_last_error());
            return 1;
        }
        pc_thread_join(t, PC_FOREVER);
        pc_thread_free(t);
    }
    show("main");
    // The main thread's value is freed by hand: main does not end the way
    // a thread does, so the destructor would not run for it.
    free(pc_local_get(mydata));
    pc_local_set(mydata, NULL);
    pc_local_free(mydata);
    return 0;
}

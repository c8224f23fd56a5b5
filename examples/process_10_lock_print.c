// tour: 10 processes print one line each, taking turns on a shared Lock
/* A Lock shared by processes keeps their output from interleaving.

   Python:
       from multiprocessing import Process, Lock

       def f(l, i):
           l.acquire()
           try:
               print('hello world', i)
           finally:
               l.release()

       if __name__ == '__main__':
           lock = Lock()
           for num in range(10):
               Process(target=f, args=(lock, num)).start()

   Each child gets the lock in its argument pack: the same lock in every
   process, whatever the start method. The order of the lines is the order
   the children took the lock in. */
#define PYCONC_ALL_IMPLEMENTATION
#include "pyconc_process.h"

#include <stdio.h>

static int f(void *arg) {
    pc_mp_lock *l;
    int64_t i;
    if (pc_args_get_mp_lock((pc_args *)arg, 0, &l) || pc_args_get_int((pc_args *)arg, 1, &i))
        return 1;
    if (pc_mp_lock_acquire(l, PC_FOREVER) != PC_OK) return 1;
    printf("hello world %d\n", (int)i);
    fflush(stdout);
    return pc_mp_lock_release(l);
}

int main(void) {
    pc_mp_lock *lock = pc_mp_lock_new();
    pc_process *ps[10];
    if (!lock) return 1;
    for (int num = 0; num < 10; num++) {
        pc_args *args = pc_args_new();
        pc_args_add_mp_lock(args, lock);
        pc_args_add_int(args, num);
        pc_process_desc desc = {0};
        desc.target = f;
        desc.args = args;
        ps[num] = pc_process_new(&desc);
        pc_args_free(args);                 // the process keeps its own copy
        if (!ps[num] || pc_process_start(ps[num]) != PC_OK) {
            fprintf(stderr, "start failed: %s\n", pc_last_error());
            return 1;
        }
    }
    int failed = 0;
    for (int num = 0; num < 10; num++) {   // Python joins them at exit
        pc_process_join(ps[num], PC_FOREVER);
        failed |= pc_process_exitcode(ps[num]) != 0;
        pc_process_free(ps[num]);
    }
    pc_mp_lock_free(lock);
    return failed;
}

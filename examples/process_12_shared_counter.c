// tour: 4 processes each add 1 to a shared Value 10000 times: 40000, no update lost
/* A counter shared by processes.

   Python:
       from multiprocessing import Process, Value

       def work(v):
           for _ in range(10000):
               with v.get_lock():
                   v.value += 1

       if __name__ == '__main__':
           v = Value('i', 0)
           ps = [Process(target=work, args=(v,)) for _ in range(4)]
           for p in ps: p.start()
           for p in ps: p.join()
           print(v.value)

   Python needs the `with v.get_lock():`: `v.value += 1` on its own is a
   locked read followed by a locked write, not one step, even with the
   lock=True wrapper, so two processes can read the same value and one
   update is lost. pc_mp_value_add_int64 reads, adds and writes under the
   lock in one call. */
#define PYCONC_ALL_IMPLEMENTATION
#include "pyconc_process.h"

#include <stdio.h>

static int work(void *arg) {
    pc_mp_value *v;
    if (pc_args_get_mp_value((pc_args *)arg, 0, &v)) return 1;
    for (int i = 0; i < 10000; i++)
        if (pc_mp_value_add_int64(v, 1, NULL) != PC_OK) return 1;
    return 0;
}

int main(void) {
    pc_mp_value *v = pc_mp_value_new(&(pc_mp_value_desc){.typecode = "i"});
    pc_args *args = pc_args_new();
    pc_args_add_mp_value(args, v);
    pc_process *ps[4];
    for (int i = 0; i < 4; i++) {
        pc_process_desc desc = {0};
        desc.target = work;
        desc.args = args;
        ps[i] = pc_process_new(&desc);
        if (!v || !ps[i] || pc_process_start(ps[i]) != PC_OK) {
            fprintf(stderr, "start failed: %s\n", pc_last_error());
            return 1;
        }
    }
    pc_args_free(args);
    int failed = 0;
    for (int i = 0; i < 4; i++) {
        pc_process_join(ps[i], PC_FOREVER);
        failed |= pc_process_exitcode(ps[i]) != 0;
        pc_process_free(ps[i]);
    }
    int total;
    pc_mp_value_load(v, &total, sizeof total);
    printf("%d\n", total);
    pc_mp_value_free(v);
    return failed;
}

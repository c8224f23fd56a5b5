// tour: a child writes a shared Value and Array; the parent sees 3.1415927 and the negated list
/* Sharing state through shared memory: Value and Array.

   Python:
       from multiprocessing import Process, Value, Array

       def f(n, a):
           n.value = 3.1415927
           for i in range(len(a)):
               a[i] = -a[i]

       if __name__ == '__main__':
           num = Value('d', 0.0)
           arr = Array('i', range(10))
           p = Process(target=f, args=(num, arr))
           p.start()
           p.join()
           print(num.value)
           print(arr[:])

   'd' and 'i' are the typecodes of Python's array module (double, int).
   Each store and item access takes the object's lock, as Python's do. */
#define PYCONC_ALL_IMPLEMENTATION
#include "pyconc_process.h"

#include <stdio.h>

static int f(void *arg) {
    pc_mp_value *n;
    pc_mp_array *a;
    if (pc_args_get_mp_value((pc_args *)arg, 0, &n) || pc_args_get_mp_array((pc_args *)arg, 1, &a))
        return 1;
    double pi = 3.1415927;
    if (pc_mp_value_store(n, &pi, sizeof pi) != PC_OK) return 1;
    for (int64_t i = 0; i < (int64_t)pc_mp_array_length(a); i++) {
        int x;
        if (pc_mp_array_get(a, i, &x, sizeof x) != PC_OK) return 1;
        x = -x;
        if (pc_mp_array_set(a, i, &x, sizeof x) != PC_OK) return 1;
    }
    return 0;
}

int main(void) {
    double zero = 0.0;
    int range[10];
    for (int i = 0; i < 10; i++) range[i] = i;
    pc_mp_value *num = pc_mp_value_new(&(pc_mp_value_desc){.typecode = "d", .init = &zero});
    pc_mp_array *arr = pc_mp_array_new(&(pc_mp_array_desc){.typecode = "i", .length = 10,
                                                           .init = range});
    pc_args *args = pc_args_new();
    pc_args_add_mp_value(args, num);
    pc_args_add_mp_array(args, arr);
    pc_process_desc desc = {0};
    desc.target = f;
    desc.args = args;
    pc_process *p = pc_process_new(&desc);
    pc_args_free(args);
    if (!num || !arr || !p || pc_process_start(p) != PC_OK) {
        fprintf(stderr, "start failed: %s\n", pc_last_error());
        return 1;
    }
    pc_process_join(p, PC_FOREVER);
    int failed = pc_process_exitcode(p) != 0;
    pc_process_free(p);

    double value;
    int items[10];
    pc_mp_value_load(num, &value, sizeof value);
    pc_mp_array_get_slice(arr, 0, 10, items, sizeof items);
    printf("%.7f\n[", value);
    for (int i = 0; i < 10; i++) printf("%s%d", i ? ", " : "", items[i]);
    printf("]\n");
    pc_mp_value_free(num);
    pc_mp_array_free(arr);
    return failed;
}

// tour: multiprocessing.Pool: map, imap_unordered, apply_async with get(timeout), worker pids
/* The docs' Pool demo, in C.

       def f(x):
           return x*x

       with Pool(processes=4) as pool:
           print(pool.map(f, range(10)))
           for i in pool.imap_unordered(f, range(10)):
               print(i)
           res = pool.apply_async(f, (20,))
           print(res.get(timeout=1))
           res = pool.apply_async(os.getpid, ())
           print(res.get(timeout=1))
           multiple_results = [pool.apply_async(os.getpid, ()) for i in range(4)]
           print([res.get(timeout=1) for res in multiple_results])
           res = pool.apply_async(time.sleep, (10,))
           try:
               res.get(timeout=1)
           except TimeoutError:
               print("TimeoutError")

   Arguments travel to the workers by copy (here each is one int64) and
   results come back as the returned pointer's value. The pool is
   terminated at the end, as leaving Python's `with` block does. */
#define PYCONC_ALL_IMPLEMENTATION
#include "pyconc_process.h"

#include <stdint.h>
#include <stdio.h>

static void *f(void *arg) {
    int64_t x = *(const int64_t *)arg;
    return (void *)(intptr_t)(x * x);
}

static void *getpid_task(void *arg) {
    (void)arg;
    return (void *)(intptr_t)pc_process_pid(pc_process_current());
}

static void *sleep_task(void *arg) {
    pc_sleep((double)*(const int64_t *)arg);
    return NULL;
}

int main(void) {
    pc_pool *pool = pc_pool_new(&(pc_pool_desc){.processes = 4});
    if (!pool) {
        fprintf(stderr, "Pool: %s\n", pc_last_error());
        return 1;
    }
    int64_t xs[10];
    for (int i = 0; i < 10; i++) xs[i] = i;
    pc_map_desc items = {.items = xs, .count = 10, .item_size = sizeof xs[0]};

    void *squares[10];
    if (pc_pool_map(pool, f, &items, squares) != PC_OK) return 1;
    printf("[");
    for (int i = 0; i < 10; i++) printf("%s%ld", i ? ", " : "", (long)(intptr_t)squares[i]);
    printf("]\n");

    pc_imap_iterator *it;
    void *r;
    if (pc_pool_imap_unordered(pool, f, &items, &it) != PC_OK) return 1;
    while (pc_imap_iterator_next(it, PC_FOREVER, &r) == PC_OK) printf("%ld\n", (long)(intptr_t)r);
    pc_imap_iterator_free(it);

    int64_t twenty = 20;
    pc_async_result *res;
    pc_pool_apply_async(pool, f, &twenty, sizeof twenty, NULL, &res);
    if (pc_async_result_get(res, 1, &r) == PC_OK) printf("%ld\n", (long)(intptr_t)r);
    pc_async_result_free(res);

    pc_pool_apply_async(pool, getpid_task, NULL, 0, NULL, &res);
    if (pc_async_result_get(res, 1, &r) == PC_OK) printf("%ld\n", (long)(intptr_t)r);
    pc_async_result_free(res);

    pc_async_result *many[4];
    for (int i = 0; i < 4; i++) pc_pool_apply_async(pool, getpid_task, NULL, 0, NULL, &many[i]);
    printf("[");
    for (int i = 0; i < 4; i++) {
        if (pc_async_result_get(many[i], 1, &r) == PC_OK)
            printf("%s%ld", i ? ", " : "", (long)(intptr_t)r);
        pc_async_result_free(many[i]);
    }
    printf("]\n");

    int64_t ten = 10;
    pc_pool_apply_async(pool, sleep_task, &ten, sizeof ten, NULL, &res);
    if (pc_async_result_get(res, 1, &r) == PC_TIMEOUT) printf("TimeoutError\n");
    pc_async_result_free(res);

    pc_pool_terminate(pool);                    // leaving the with block
    pc_pool_join(pool);
    pc_pool_free(pool);
    printf("end\n");
    return 0;
}

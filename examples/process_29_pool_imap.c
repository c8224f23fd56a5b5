// tour: Pool.imap: results in input order though later items finish first, then in chunks of 3
/* Pool.imap, from the tutorials' Pool table (imap(func, iterable[,
   chunksize])), in the style of their Pool demo:

       def f(x):
           time.sleep(0.01 * (10 - x))     # later items finish first
           return x*x

       if __name__ == "__main__":
           with Pool(processes=4) as pool:
               for i in pool.imap(f, range(10)):
                   print(i)
               print(list(pool.imap(f, range(10), chunksize=3)))

   imap hands the results back in input order, each as soon as it and
   those before it are done (imap_unordered, in process_26, hands them
   back as they finish). Each item crosses to a worker by copy; the
   square comes back as the returned pointer's value. */
#define PYCONC_ALL_IMPLEMENTATION
#include "pyconc_process.h"

#include <stdint.h>
#include <stdio.h>

static void *f(void *arg) {
    int64_t x = *(const int64_t *)arg;
    pc_sleep(0.01 * (double)(10 - x));
    return (void *)(intptr_t)(x * x);
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
    pc_imap_iterator *it;
    void *r;
    if (pc_pool_imap(pool, f, &items, &it) != PC_OK) return 1;
    while (pc_imap_iterator_next(it, PC_FOREVER, &r) == PC_OK) printf("%ld\n", (long)(intptr_t)r);
    pc_imap_iterator_free(it);

    items.chunksize = 3;
    if (pc_pool_imap(pool, f, &items, &it) != PC_OK) return 1;
    printf("[");
    for (int i = 0; pc_imap_iterator_next(it, PC_FOREVER, &r) == PC_OK; i++)
        printf("%s%ld", i ? ", " : "", (long)(intptr_t)r);
    printf("]\n");
    pc_imap_iterator_free(it);

    pc_pool_terminate(pool);                    // leaving the with block
    pc_pool_join(pool);
    pc_pool_free(pool);
    return 0;
}

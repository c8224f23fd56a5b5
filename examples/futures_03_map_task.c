// tour: eleven squares: submit + shutdown(wait), then executor.map
/* A ThreadPoolExecutor program: eleven tasks submitted, the pool
   shut down (waiting), then the results printed; and the same work with
   executor.map. The Python tasks sleep 1-3 s; these sleep 10-30 ms. */
#define PYCONC_IMPLEMENTATION
#define PYCONC_FUTURES_IMPLEMENTATION
#include "pyconc_futures.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

static void *task(void *arg) {
    intptr_t n = (intptr_t)arg;
    printf("%s is running\n", pc_thread_name(pc_thread_current()));
    pc_sleep(0.01 * (double)(1 + rand() % 3));   // random.randint(1, 3), scaled
    return (void *)(n * n);
}

int main(void) {
    pc_executor *executor = pc_thread_pool_new(&(pc_thread_pool_desc){ .max_workers = 3 });
    pc_future *futures[11];
    if (!executor) return 1;
    for (intptr_t i = 0; i < 11; i++)
        if (pc_executor_submit(executor, task, (void *)i, &futures[i])) return 1;
    pc_executor_shutdown(executor, 1, 0);
    printf("+++>\n");
    for (int i = 0; i < 11; i++) {
        void *result;
        if (pc_future_result(futures[i], 0, &result) != PC_OK) return 1;
        printf("%ld\n", (long)(intptr_t)result);
        pc_future_release(futures[i]);
    }
    pc_executor_free(executor);

    // executor.map(task, range(1, 12)) replaces the for + submit.
    executor = pc_thread_pool_new(&(pc_thread_pool_desc){ .max_workers = 3 });
    void *items[11];
    for (intptr_t i = 0; i < 11; i++) items[i] = (void *)(i + 1);
    pc_map_iter *it;
    if (!executor || pc_executor_map(executor, task, &(pc_map_desc){ .items = items, .count = 11 },
                                     &it))
        return 1;
    void *result;
    while (pc_map_iter_next(it, &result) == PC_OK)
        printf("map result: %ld\n", (long)(intptr_t)result);
    pc_map_iter_free(it);
    pc_executor_free(executor);
    return 0;
}

// tour: ProcessPoolExecutor(3): eleven squares submitted, shutdown(wait), then each result()
/* The ProcessPoolExecutor program of the concurrent.futures tutorials:

       def task(n):
           print('%s is runing' % os.getpid())
           time.sleep(random.randint(1, 3))
           return n**2

       if __name__ == '__main__':
           executor = ProcessPoolExecutor(max_workers=3)
           futures = []
           for i in range(11):
               future = executor.submit(task, i)
               futures.append(future)
           executor.shutdown(True)
           print('+++>')
           for future in futures:
               print(future.result())

   The argument crosses to a worker process as the pointer's value (an
   integer) and the square comes back the same way. The tasks sleep 10-30
   ms instead of 1-3 s. futures_03 runs the same program on threads. */
#define PYCONC_ALL_IMPLEMENTATION
#include "pyconc_process.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

static void *task(void *arg) {
    intptr_t n = (intptr_t)arg;
    long pid = pc_process_pid(pc_process_current());
    printf("%ld is running\n", pid);
    fflush(stdout);                             // a worker's stdout is a pipe in the tour
    srand((unsigned)(pid * 31 + n));            // each worker its own random.randint
    pc_sleep(0.01 * (double)(1 + rand() % 3));
    return (void *)(n * n);
}

int main(void) {
    pc_executor *executor = pc_process_pool_new(&(pc_process_pool_desc){.max_workers = 3});
    if (!executor) {
        fprintf(stderr, "ProcessPoolExecutor: %s\n", pc_last_error());
        return 1;
    }
    pc_future *futures[11];
    for (intptr_t i = 0; i < 11; i++)
        if (pc_executor_submit(executor, task, (void *)i, &futures[i])) return 1;
    pc_executor_shutdown(executor, 1, 0);       // shutdown(True): every task has run
    printf("+++>\n");
    for (int i = 0; i < 11; i++) {
        void *result;
        if (pc_future_result(futures[i], 0, &result) != PC_OK) {
            fprintf(stderr, "task %d: %s\n", i, pc_last_error());
            return 1;
        }
        printf("%ld\n", (long)(intptr_t)result);
        pc_future_release(futures[i]);
    }
    pc_executor_free(executor);
    return 0;
}

// tour: submit(pow, 323, 1235) to a one-worker pool; the answer is one 3099-digit number
/* The first concurrent.futures program of the docs:

       with ThreadPoolExecutor(max_workers=1) as executor:
           future = executor.submit(pow, 323, 1235)
           print(future.result())

   Python's integers are unbounded, so the task computes 323**1235 in base
   10^9 limbs and returns the decimal string. */
#define PYCONC_IMPLEMENTATION
#define PYCONC_FUTURES_IMPLEMENTATION
#include "pyconc_futures.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

typedef struct pow_args { uint32_t base, exp; } pow_args;

static void *big_pow(void *arg) {
    const pow_args *a = (const pow_args *)arg;
    size_t cap = (size_t)a->exp / 3 + 4, n = 1;     // limbs of 9 digits
    uint32_t *limb = (uint32_t *)calloc(cap, sizeof *limb);
    if (!limb) { pc_raise(PC_NOMEM, "no memory for the digits"); return NULL; }
    limb[0] = 1;
    for (uint32_t e = 0; e < a->exp; e++) {
        uint64_t carry = 0;
        for (size_t i = 0; i < n; i++) {
            uint64_t v = (uint64_t)limb[i] * a->base + carry;
            limb[i] = (uint32_t)(v % 1000000000u);
            carry = v / 1000000000u;
        }
        if (carry) limb[n++] = (uint32_t)carry;
    }
    char *text = (char *)malloc(n * 9 + 1), *p = text;
    if (!text) { free(limb); pc_raise(PC_NOMEM, "no memory for the text"); return NULL; }
    p += sprintf(p, "%u", limb[n - 1]);
    for (size_t i = n - 1; i-- > 0;) p += sprintf(p, "%09u", limb[i]);
    free(limb);
    return text;
}

int main(void) {
    pc_executor *executor = pc_thread_pool_new(&(pc_thread_pool_desc){ .max_workers = 1 });
    pow_args args = {323, 1235};
    pc_future *future;
    void *result;
    if (!executor || pc_executor_submit_copy(executor, big_pow, &args, sizeof args, &future))
        return 1;
    if (pc_future_result(future, PC_FOREVER, &result) != PC_OK) {
        fprintf(stderr, "%s\n", pc_last_error());
        return 1;
    }
    printf("%s\n", (char *)result);
    free(result);
    pc_future_release(future);
    pc_executor_free(executor);     // the `with` block's shutdown(wait=True)
    return 0;
}

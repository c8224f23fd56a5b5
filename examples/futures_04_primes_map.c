// tour: ProcessPoolExecutor.map(is_prime) over six large numbers, results in input order
/* The docs' is_prime program: a ProcessPoolExecutor maps is_prime over six
   large numbers, printed in input order as the results arrive. Each number
   travels to a worker process by copy and the answer comes back as the
   returned pointer's value (0 or 1): the same code runs on a thread pool
   with pc_thread_pool_new in place of pc_process_pool_new.

       with concurrent.futures.ProcessPoolExecutor() as executor:
           for number, prime in zip(PRIMES, executor.map(is_prime, PRIMES)):
               print('%d is prime: %s' % (number, prime))
*/
#define PYCONC_ALL_IMPLEMENTATION
#include "pyconc_process.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>

static const long long PRIMES[] = {
    112272535095293LL, 112582705942171LL, 112272535095293LL,
    115280095190773LL, 115797848077099LL, 1099726899285419LL,
};

static void *is_prime(void *arg) {
    long long n = *(const long long *)arg;
    if (n % 2 == 0) return (void *)0;
    long long sqrt_n = (long long)floor(sqrt((double)n));
    for (long long i = 3; i <= sqrt_n; i += 2)
        if (n % i == 0) return (void *)0;
    return (void *)1;
}

int main(void) {
    pc_executor *executor = pc_process_pool_new(NULL);
    pc_map_iter *it;
    size_t n = sizeof PRIMES / sizeof PRIMES[0];
    if (!executor || pc_executor_map(executor, is_prime, &(pc_map_desc){
                         .items = PRIMES, .count = n, .item_size = sizeof PRIMES[0] }, &it))
        return 1;
    void *prime;
    for (size_t i = 0; pc_map_iter_next(it, &prime) == PC_OK; i++)
        printf("%lld is prime: %s\n", PRIMES[i], prime ? "True" : "False");
    pc_map_iter_free(it);
    pc_executor_free(executor);
    return 0;
}

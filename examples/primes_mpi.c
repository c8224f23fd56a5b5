// tour: the is_prime map on an MPI executor: rank 0 maps, the other ranks run the tasks
/* The docs' is_prime program (futures_04_primes_map.c) on MPI: the same
   map, with pc_mpi_comm_executor_new in place of pc_process_pool_new.
   Every rank runs this program; rank 0 gets the executor and prints, the
   other ranks run the tasks until rank 0 frees it, then get NULL.

       mpirun -np 4 ./primes_mpi
       mpirun -np 8 --hostfile hosts ./primes_mpi       (across hosts)

       with MPICommExecutor() as executor:
           if executor is not None:
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
    pc_executor *executor = pc_mpi_comm_executor_new(NULL);
    if (!executor) {                // a serving rank, done; or a failure
        int failed = pc_last_error_code() != PC_OK;
        if (failed) fprintf(stderr, "primes_mpi: %s\n", pc_last_error());
        MPI_Finalize();
        return failed;
    }
    pc_map_iter *it;
    size_t n = sizeof PRIMES / sizeof PRIMES[0];
    int rc = pc_executor_map(executor, is_prime, &(pc_map_desc){
                 .items = PRIMES, .count = n, .item_size = sizeof PRIMES[0] }, &it);
    if (rc == PC_OK) {
        void *prime;
        for (size_t i = 0; (rc = pc_map_iter_next(it, &prime)) == PC_OK; i++)
            printf("%lld is prime: %s\n", PRIMES[i], prime ? "True" : "False");
        pc_map_iter_free(it);
    }
    if (rc != PC_EOF) fprintf(stderr, "primes_mpi: %s\n", pc_last_error());
    pc_executor_free(executor);     // ends the other ranks' loops
    MPI_Finalize();
    return rc != PC_EOF;
}

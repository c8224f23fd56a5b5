// tour: the serial baseline of process_04: the same two sums one after the other, timed
/* The baseline for process_04_sum_two_processes.c: the same two sums,
   1+...+5000000 and 1+...+6000000, done one after the other in one
   process, and the time it takes.

   Python:
       def my_flow(n):
           total = 0
           for i in range(n):
               total += i
           print('1+...+%s=%s' % (n, total))

       if __name__ == '__main__':
           start = time.time()
           my_flow(5000000)
           my_flow(6000000)
           end = time.time()
           print(end - start)

   The clock is pc_monotonic (time.monotonic), which wall-clock changes
   cannot disturb. C adds up these eleven million numbers in some tens of
   milliseconds (volatile stops the compiler from skipping the loop), so
   next to process_04 the start-up of two processes can cost about what
   they save; Python's loop is a hundred times slower, which is why the
   processes pay off there. */
#define PYCONC_IMPLEMENTATION
#include "pyconc.h"

#include <stdio.h>

static void my_flow(long long n) {
    volatile long long total = 0;           // volatile: really do the work
    for (long long i = 0; i < n; i++) total += i;
    printf("1+...+%lld=%lld\n", n, (long long)total);
}

int main(void) {
    double start = pc_monotonic();
    my_flow(5000000);
    my_flow(6000000);
    double end = pc_monotonic();
    printf("%.3f\n", end - start);
    return 0;
}

/* The harness keeps every case however many a program has: 300 cases, made
   by macros, all register and all run. */
#define PCT_NO_MAIN
#include "pc_test.h"

#define MANY_CASES 300

static int ran[MANY_CASES];

// Case <p><d> marks slot <base> + d as run.
#define CASE(p, d, base) TEST(p##d) { CHECK_EQ(ran[(base) + d]++, 0); }
#define TEN(p, base)                                                        \
    CASE(p, 0, base) CASE(p, 1, base) CASE(p, 2, base) CASE(p, 3, base)     \
    CASE(p, 4, base) CASE(p, 5, base) CASE(p, 6, base) CASE(p, 7, base)     \
    CASE(p, 8, base) CASE(p, 9, base)
#define HUNDRED(p, base)                                                    \
    TEN(p##0, (base) + 0) TEN(p##1, (base) + 10) TEN(p##2, (base) + 20)     \
    TEN(p##3, (base) + 30) TEN(p##4, (base) + 40) TEN(p##5, (base) + 50)    \
    TEN(p##6, (base) + 60) TEN(p##7, (base) + 70) TEN(p##8, (base) + 80)    \
    TEN(p##9, (base) + 90)

HUNDRED(a, 0)
HUNDRED(b, 100)
HUNDRED(c, 200)

int main(int argc, char **argv) {
    if (argc > 1) return pct_main(argc, argv);
    if (pct_ncases != MANY_CASES) {
        fprintf(stderr, "FAIL %d of %d cases registered\n", pct_ncases, MANY_CASES);
        return 1;
    }
    pct_main(argc, argv);
    for (int i = 0; i < MANY_CASES; i++) {
        if (ran[i] != 1) {
            fprintf(stderr, "FAIL case %d ran %d times\n", i, ran[i]);
            return 1;
        }
    }
    return 0;
}

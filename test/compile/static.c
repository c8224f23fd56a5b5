/* One TU with PYCONC_STATIC: every function static, none left unused-warned. */
#define PYCONC_STATIC
#define PYCONC_ALL_IMPLEMENTATION
#include "all_headers.h"

int main(void) {
    pc_rlock r = PC_RLOCK_INIT;
    if (pc_rlock_acquire(&r, PC_FOREVER) != PC_OK) return 1;
    if (pc_rlock_acquire(&r, 0) != PC_OK) return 2;
    pc_rlock_release(&r);
    return pc_rlock_release(&r);
}

/* The implementation TU: every header with its implementation switched on. */
#define PYCONC_ALL_IMPLEMENTATION
#include "all_headers.h"

int pc_compile_use_declarations(void);

int main(void) {
    return pc_compile_use_declarations();
}

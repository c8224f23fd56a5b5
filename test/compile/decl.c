/* A second TU that sees declarations only and links against impl.c. */
#include "all_headers.h"

int pc_compile_use_declarations(void);

int pc_compile_use_declarations(void) {
    pc_lock lock = PC_LOCK_INIT;
    pc_event ev = PC_EVENT_INIT;
    if (pc_lock_acquire(&lock, 0) != PC_OK) return 1;
    if (pc_lock_release(&lock) != PC_OK) return 2;
    pc_event_set(&ev);
    if (pc_event_wait(&ev, 0) != PC_OK) return 3;
    if (pc_thread_current() != pc_thread_main()) return 4;
    return 0;
}

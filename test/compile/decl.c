/* A second TU that sees declarations only and links against impl.c: each
   header's calls must resolve to the one implementation there. */
#include "all_headers.h"

int pc_compile_use_declarations(void);

static void *pc_compile_task(void *arg) { return arg; }

int pc_compile_use_declarations(void) {
    pc_lock lock = PC_LOCK_INIT;
    pc_event ev = PC_EVENT_INIT;
    if (pc_lock_acquire(&lock, 0) != PC_OK) return 1;
    if (pc_lock_release(&lock) != PC_OK) return 2;
    pc_event_set(&ev);
    if (pc_event_wait(&ev, 0) != PC_OK) return 3;
    if (pc_thread_current() != pc_thread_main()) return 4;
#ifdef PYCONC_QUEUE_H
    pc_queue *q = pc_queue_new(NULL);
    void *item = &lock, *got = NULL;
    if (!q || pc_queue_put_nowait(q, &item) != PC_OK) return 5;
    if (pc_queue_get_nowait(q, &got) != PC_OK || got != item) return 6;
    pc_queue_free(q);
#endif
#ifdef PYCONC_FUTURES_H
    pc_executor *ex = pc_thread_pool_new(NULL);
    pc_future *f = NULL;
    void *result = NULL;
    if (!ex || pc_executor_submit(ex, pc_compile_task, &ev, &f) != PC_OK) return 7;
    if (pc_future_result(f, PC_FOREVER, &result) != PC_OK || result != &ev) return 8;
    pc_future_release(f);
    pc_executor_free(ex);
#endif
#ifdef PYCONC_SCHED_H
    pc_scheduler *s = pc_scheduler_new(NULL);
    if (!s || !pc_scheduler_empty(s)) return 9;
    pc_scheduler_free(s);
#endif
#ifdef PYCONC_PROCESS_H
    pc_connection *a = NULL, *b = NULL;
    if (pc_pipe(1, &a, &b) != PC_OK) return 10;
    pc_connection_free(a);
    pc_connection_free(b);
#endif
    (void)pc_compile_task;
    return 0;
}

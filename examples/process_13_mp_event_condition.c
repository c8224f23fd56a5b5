// tour: a producer process wakes two consumer processes with a shared Condition and Event
/* multiprocessing's Condition and Event are used as threading's, between
   processes: stage_1 (the producer) finishes its work and notifies; the
   two stage_2 processes (the consumers) wait for it under the condition.

       def stage_1(cond, ready):
           print('Starting', current_process().name)
           with cond:
               print(current_process().name, 'done and ready for stage 2')
               ready.set()
               cond.notify_all()

       def stage_2(cond, ready):
           print('Starting', current_process().name)
           with cond:
               cond.wait_for(ready.is_set)
               print(current_process().name, 'running')

       if __name__ == '__main__':
           cond, ready = Condition(), Event()
           s1 = Process(name='s1', target=stage_1, args=(cond, ready))
           s2 = [Process(name='stage_2[%d]' % i, target=stage_2, args=(cond, ready))
                 for i in (1, 2)]
           for c in s2: c.start()
           s1.start()
           for p in s2 + [s1]: p.join()

   The Event is both the predicate and the record: a consumer that comes
   late sees it set and does not wait at all, so the order the processes
   happen to start in cannot lose the wake-up. The objects cross to each
   child in its argument pack, whatever the start method. */
#define PYCONC_ALL_IMPLEMENTATION
#include "pyconc_process.h"
#include <stdio.h>

// Every stage's pack: its name, the condition, the event.
typedef struct stage_args {
    const char *name;
    pc_mp_condition *cond;
    pc_mp_event *ready;
} stage_args;

static int unpack(void *arg, stage_args *s) {
    const pc_args *a = (const pc_args *)arg;
    return pc_args_get_str(a, 0, &s->name) || pc_args_get_mp_condition(a, 1, &s->cond) ||
           pc_args_get_mp_event(a, 2, &s->ready);
}

static void say(const char *what, const char *name) {
    printf("%s %s\n", what, name);
    fflush(stdout);                     // lines from several processes, each whole
}

static int stage_1(void *arg) {
    stage_args s;
    if (unpack(arg, &s)) return 1;
    say("Starting", s.name);
    if (pc_mp_condition_acquire(s.cond, PC_FOREVER)) return 1;
    say(s.name, "done and ready for stage 2");
    int rc = pc_mp_event_set(s.ready) || pc_mp_condition_notify_all(s.cond);
    return pc_mp_condition_release(s.cond) || rc;
}

static int is_set(void *ev) { return pc_mp_event_is_set((pc_mp_event *)ev); }

static int stage_2(void *arg) {
    stage_args s;
    if (unpack(arg, &s)) return 1;
    say("Starting", s.name);
    if (pc_mp_condition_acquire(s.cond, PC_FOREVER)) return 1;
    int rc = pc_mp_condition_wait_for(s.cond, is_set, s.ready, PC_FOREVER);
    if (rc == PC_OK) say(s.name, "running");
    return pc_mp_condition_release(s.cond) || rc;
}

static pc_process *stage(pc_target_fn fn, const char *name, pc_mp_condition *cond,
                         pc_mp_event *ready) {
    pc_args *args = pc_args_new();
    pc_process *p = NULL;
    if (args && !pc_args_add_str(args, name) && !pc_args_add_mp_condition(args, cond) &&
        !pc_args_add_mp_event(args, ready)) {
        pc_process_desc desc = {0};
        desc.target = fn;
        desc.args = args;
        desc.name = name;
        p = pc_process_new(&desc);
    }
    pc_args_free(args);
    if (p && pc_process_start(p)) {
        pc_process_free(p);
        p = NULL;
    }
    return p;
}

// When a stage did not start, no stage_1 may come: wake the waiters here.
static void release_all(pc_mp_condition *cond, pc_mp_event *ready) {
    if (pc_mp_condition_acquire(cond, PC_FOREVER)) return;
    pc_mp_event_set(ready);
    pc_mp_condition_notify_all(cond);
    pc_mp_condition_release(cond);
}

int main(void) {
    pc_mp_condition *cond = pc_mp_condition_new(NULL, NULL);
    pc_mp_event *ready = pc_mp_event_new();
    if (!cond || !ready) {
        fprintf(stderr, "shared objects: %s\n", pc_last_error());
        return 1;
    }
    pc_process *procs[3] = {stage(stage_2, "stage_2[1]", cond, ready),
                            stage(stage_2, "stage_2[2]", cond, ready),
                            stage(stage_1, "s1", cond, ready)};
    int failed = 0;
    if (!procs[0] || !procs[1] || !procs[2]) release_all(cond, ready);
    for (int i = 0; i < 3; i++) {
        if (!procs[i]) {
            fprintf(stderr, "start failed: %s\n", pc_last_error());
            failed = 1;
            continue;
        }
        pc_process_join(procs[i], PC_FOREVER);
        failed |= pc_process_exitcode(procs[i]) != 0;
        pc_process_free(procs[i]);
    }
    pc_mp_event_free(ready);
    pc_mp_condition_free(cond);
    return failed;
}

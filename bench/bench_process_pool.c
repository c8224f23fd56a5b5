/* bench_process_pool: pyconc_process.h's ProcessPoolExecutor
   (pc_process_pool_new) against pyconc's thread pool and Python's
   ProcessPoolExecutor: empty tasks (what a task costs to cross to a
   worker process and back), one task at a time against a raw futex
   ping-pong between two processes, a map of many small items and a
   CPU-bound map.
   usage: bench_process_pool [quick] */
#define PYCONC_ALL_IMPLEMENTATION
#include "pyconc_process.h"

#include <linux/futex.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench.h"

#define ROUNDS 5
#define WORKERS 2
#define WORK 20000              // LCG steps per item of the CPU-bound map

static size_t n_empty = 20000, n_cpu = 2000, n_trips = 5000, n_small = 1000000;

static void *t_empty(void *arg) { return arg; }

static void *t_spin(void *arg) {
    uint64_t acc = (uint64_t)*(const long *)arg;
    for (int i = 0; i < WORK; i++) acc = (acc * 1103515245u + 12345u) & 0xFFFFFFFFu;
    return (void *)(uintptr_t)acc;
}

typedef struct ctx { pc_executor *ex; pc_future **fs; long *items, *small; } ctx;

static double empty_trial(void *arg) {
    ctx *c = (ctx *)arg;
    double t0 = pc_monotonic();
    for (size_t i = 0; i < n_empty; i++)
        if (pc_executor_submit(c->ex, t_empty, (void *)(uintptr_t)i, &c->fs[i])) pcb_failures++;
    for (size_t i = 0; i < n_empty; i++) {
        if (pc_future_result(c->fs[i], PC_FOREVER, NULL)) pcb_failures++;
        pc_future_release(c->fs[i]);
    }
    return (pc_monotonic() - t0) / (double)n_empty;
}

// Submit one task, wait for its result, again: the round trip's latency.
static double trip_trial(void *arg) {
    ctx *c = (ctx *)arg;
    double t0 = pc_monotonic();
    for (size_t i = 0; i < n_trips; i++) {
        pc_future *f;
        if (pc_executor_submit(c->ex, t_empty, (void *)(uintptr_t)i, &f) ||
            pc_future_result(f, PC_FOREVER, NULL))
            pcb_failures++;
        pc_future_release(f);
    }
    return (pc_monotonic() - t0) / (double)n_trips;
}

static uint32_t *turn;          // a raw futex word in a shared mapping

// Pass the turn: spin a little, then sleep, as a careful raw handoff does.
static void await_turn(uint32_t want) {
    for (int i = 0; i < 200; i++)
        if (__atomic_load_n(turn, __ATOMIC_SEQ_CST) == want) return;
    uint32_t v;
    while ((v = __atomic_load_n(turn, __ATOMIC_SEQ_CST)) != want)
        syscall(SYS_futex, turn, FUTEX_WAIT, v, NULL, NULL, 0);
}

static void give_turn(uint32_t to) {
    __atomic_store_n(turn, to, __ATOMIC_SEQ_CST);
    syscall(SYS_futex, turn, FUTEX_WAKE, 1, NULL, NULL, 0);
}

static double futex_trial(void *arg) {
    (void)arg;
    *turn = 0;
    pid_t pid = fork();
    if (pid == 0) {
        for (size_t i = 0; i < n_trips; i++) {
            await_turn(1);
            give_turn(0);
        }
        _exit(0);
    }
    double t0 = pc_monotonic();
    for (size_t i = 0; i < n_trips; i++) {
        give_turn(1);
        await_turn(0);
    }
    double dt = pc_monotonic() - t0;
    waitpid(pid, NULL, 0);
    return dt / (double)n_trips;
}

static void *t_small(void *arg) { return (void *)(uintptr_t)(*(const long *)arg + 1); }

// pc_executor_map over many small fixed-size items, chunks of 1000.
static double small_map_trial(void *arg) {
    ctx *c = (ctx *)arg;
    pc_map_iter *it;
    pc_map_desc d;
    memset(&d, 0, sizeof d);
    d.items = c->small;
    d.count = n_small;
    d.item_size = sizeof(long);
    d.chunksize = 1000;
    double t0 = pc_monotonic();
    if (pc_executor_map(c->ex, t_small, &d, &it)) {
        pcb_failures++;
        return NAN;
    }
    void *r;
    while (pc_map_iter_next(it, &r) == PC_OK) {}
    pc_map_iter_free(it);
    return (pc_monotonic() - t0) / (double)n_small;
}

static double cpu_trial(void *arg) {
    ctx *c = (ctx *)arg;
    pc_map_iter *it;
    pc_map_desc d;
    memset(&d, 0, sizeof d);
    d.items = c->items;
    d.count = n_cpu;
    d.item_size = sizeof(long);
    d.chunksize = n_cpu / (4 * WORKERS);
    double t0 = pc_monotonic();
    if (pc_executor_map(c->ex, t_spin, &d, &it)) {
        pcb_failures++;
        return NAN;
    }
    void *r;
    while (pc_map_iter_next(it, &r) == PC_OK) {}
    pc_map_iter_free(it);
    return (pc_monotonic() - t0) / (double)n_cpu;
}

int main(int argc, char **argv) {
    pcb_parse_quick(argc, argv);
    if (pcb_quick) {
        n_empty = 2000;
        n_cpu = 200;
        n_trips = 500;
        n_small = 100000;
    }
    char title[200], args[64];
    snprintf(title, sizeof title, "ProcessPoolExecutor against pyconc's thread pool and "
             "Python's; %zu empty tasks, a map of %zu CPU-bound items, %d workers",
             n_empty, n_cpu, WORKERS);
    pcb_begin("process_pool", title, ROUNDS);
    ctx proc, thr;
    proc.ex = pc_process_pool_new(&(pc_process_pool_desc){ .max_workers = WORKERS });
    thr.ex = pc_thread_pool_new(&(pc_thread_pool_desc){ .max_workers = WORKERS });
    if (!proc.ex || !thr.ex) {
        fprintf(stderr, "bench_process_pool: %s\n", pc_last_error());
        return 1;
    }
    proc.fs = thr.fs = (pc_future **)malloc(n_empty * sizeof *proc.fs);
    proc.items = thr.items = (long *)malloc(n_cpu * sizeof *proc.items);
    for (size_t i = 0; i < n_cpu; i++) proc.items[i] = (long)i;
    proc.small = thr.small = (long *)malloc(n_small * sizeof *proc.small);
    for (size_t i = 0; i < n_small; i++) proc.small[i] = (long)i;
    turn = (uint32_t *)mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS,
                            -1, 0);
    if (!proc.fs || !proc.items || !proc.small || turn == MAP_FAILED) {
        fprintf(stderr, "bench_process_pool: out of memory\n");
        return 1;
    }
    double ours, peer;
    const char *empty = "empty tasks: submit N, wait all";
    const char *cpu = "CPU-bound map (chunks of N / 8)";
    pcb_duel(empty_trial, &proc, empty_trial, &thr, ROUNDS, &ours, &peer);
    pcb_row(empty, ours, "pyconc thread pool", peer);
    pcb_target(empty, "pyconc thread pool", ours, peer, 2.0);
    double ours_empty = ours;
    const char *trip = "one task at a time: submit, wait for the result";
    pcb_duel(trip_trial, &proc, futex_trial, NULL, ROUNDS, &ours, &peer);
    pcb_row(trip, ours, "raw futex ping-pong", peer);
    pcb_target(trip, "raw futex ping-pong", ours, peer, 1.5);
    const char *small = "map of small fixed-size items, chunks of 1000";
    pcb_duel(small_map_trial, &proc, small_map_trial, &thr, ROUNDS, &ours, &peer);
    pcb_row(small, ours, "pyconc thread pool", peer);
    pcb_target(small, "pyconc thread pool", ours, peer, 2.0);
    pcb_duel(cpu_trial, &proc, cpu_trial, &thr, ROUNDS, &ours, &peer);
    pcb_row(cpu, ours, "pyconc thread pool", peer);
    double ours_cpu = ours;
    snprintf(args, sizeof args, "empty %zu %d", n_empty, WORKERS);
    pcb_row(empty, ours_empty, "Python ProcessPoolExecutor", pcb_python("process_pool.py", args));
    snprintf(args, sizeof args, "cpu %zu %d %d", n_cpu, WORKERS, WORK);
    pcb_row(cpu, ours_cpu, "Python ProcessPoolExecutor", pcb_python("process_pool.py", args));
    pcb_end();
    pc_executor_free(proc.ex);
    pc_executor_free(thr.ex);
    free(proc.fs);
    free(proc.items);
    free(proc.small);
    munmap(turn, 4096);
    return pcb_failures != 0;
}

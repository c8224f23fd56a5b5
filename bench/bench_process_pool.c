/* bench_process_pool: pyconc_process.h's ProcessPoolExecutor
   (pc_process_pool_new) against pyconc's thread pool and Python's
   ProcessPoolExecutor: empty tasks (what a task costs to cross to a
   worker process and back) and a CPU-bound map.
   usage: bench_process_pool [quick] */
#define PYCONC_ALL_IMPLEMENTATION
#include "pyconc_process.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "bench.h"

#define ROUNDS 5
#define WORKERS 2
#define WORK 20000              // LCG steps per item of the CPU-bound map

static size_t n_empty = 20000, n_cpu = 2000;

static void *t_empty(void *arg) { return arg; }

static void *t_spin(void *arg) {
    uint64_t acc = (uint64_t)*(const long *)arg;
    for (int i = 0; i < WORK; i++) acc = (acc * 1103515245u + 12345u) & 0xFFFFFFFFu;
    return (void *)(uintptr_t)acc;
}

typedef struct ctx { pc_executor *ex; pc_future **fs; long *items; } ctx;

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
    double ours, peer;
    const char *empty = "empty tasks: submit N, wait all";
    const char *cpu = "CPU-bound map (chunks of N / 8)";
    pcb_duel(empty_trial, &proc, empty_trial, &thr, ROUNDS, &ours, &peer);
    pcb_row(empty, ours, "pyconc thread pool", peer);
    double ours_empty = ours;
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
    return pcb_failures != 0;
}

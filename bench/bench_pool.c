/* bench_pool: pyconc_process.h's process pools (pc_process_pool_new, the
   ProcessPoolExecutor, and pc_pool_*, multiprocessing.Pool) against
   pyconc's thread pool, a raw futex ping-pong between two processes and
   Python's ProcessPoolExecutor and Pool:
   - no-op tasks submitted in bulk, then every result;
   - one task at a time, submit -> result;
   - a map of small fixed-size items in chunks of 1000;
   - a killed worker: SIGKILL to its future failing, and to the pool back
     at full size;
   - throughput as workers (1, 2, 4, 8) and task size (empty, 10 us, 100 us
     of spinning on the CPU) grow.
   Every row alternates pyconc and its peer (A B A B, ROUNDS each), keeps
   the medians and prints the range of the rounds under the row.
   usage: bench_pool [quick]
   PYCONC_BENCH_POOL_N=n sets the bulk row's task count (default 1M, cut
   so that the row takes about 20 s where the pool is slower);
   PYCONC_BENCH_POOL_ROWS=bulk,one,map,killed,scaling runs only the rows
   named (default: all). */
#define PYCONC_ALL_IMPLEMENTATION
#include "pyconc_process.h"

#include <linux/futex.h>
#include <signal.h>
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
#define MAP_CHUNK 1000
#define ROW_SECONDS 20.0        // the bulk row's budget, all rounds of both sides

static long n_bulk = 1000000, n_bulk_py = 5000, n_one = 5000, n_trips = 20000;
static long n_map = 1000000;

// >>tasks
static void *t_empty(void *arg) { return arg; }
static void *t_double(void *arg) { return (void *)(intptr_t)(*(const long *)arg * 2); }

// The task's own CPU time: a spin of 10 us is 10 us of work however the
// loaded machine schedules it.
static double cpu_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void *t_spin(void *arg) {        // arg: microseconds of spinning (CPU time)
    if (!arg) return arg;               // an empty task reads no clock
    double until = cpu_now() + (double)(intptr_t)arg * 1e-6;
    while (cpu_now() < until) {}
    return arg;
}

// >>rounds: pcb_duel's A B A B, keeping each side's range too
typedef struct spread { double lo, hi; } spread;

static spread spread_of(const double *v, int n) {
    spread s = {INFINITY, -INFINITY};
    for (int i = 0; i < n; i++) {
        if (v[i] < s.lo) s.lo = v[i];
        if (v[i] > s.hi) s.hi = v[i];
    }
    return s;
}

static spread last_ours, last_peer;

static void duel(pcb_trial a, void *actx, pcb_trial b, void *bctx, double *ours,
                 double *peer) {
    double ta[ROUNDS], tb[ROUNDS];
    for (int i = 0; i < ROUNDS; i++) {
        ta[i] = a(actx);
        tb[i] = b(bctx);
    }
    last_ours = spread_of(ta, ROUNDS);
    last_peer = spread_of(tb, ROUNDS);
    *ours = pcb_median(ta, ROUNDS);
    *peer = pcb_median(tb, ROUNDS);
}

// The range of the last duel, under its row.
static void print_spread(void) {
    char a[32], b[32], c[32], d[32];
    printf("-- min-max over %d rounds: pyconc %s - %s, peer %s - %s\n", ROUNDS,
           pcb_fmt(last_ours.lo, a, sizeof a), pcb_fmt(last_ours.hi, b, sizeof b),
           pcb_fmt(last_peer.lo, c, sizeof c), pcb_fmt(last_peer.hi, d, sizeof d));
}

// >>bulk: N no-op tasks submitted, then every result
typedef struct bulk_ctx { pc_executor *ex; pc_future **fs; long n; } bulk_ctx;

static double trial_bulk(void *arg) {
    bulk_ctx *c = (bulk_ctx *)arg;
    double t0 = pc_monotonic();
    for (long i = 0; i < c->n; i++)
        pcb_note_failure("submit", pc_executor_submit(c->ex, t_empty, (void *)(intptr_t)i,
                                                      &c->fs[i]));
    for (long i = 0; i < c->n; i++) {
        void *r = NULL;
        if (!c->fs[i]) continue;
        pcb_note_failure("result", pc_future_result(c->fs[i], PC_FOREVER, &r));
        if ((intptr_t)r != i) pcb_note_failure("a no-op's result", PC_RUNTIME);
        pc_future_release(c->fs[i]);
    }
    return (pc_monotonic() - t0) / (double)c->n;
}

static double trial_python(void *arg) {
    const char *args = (const char *)arg;
    return pcb_python("pool.py", args);
}

// The bulk row's N: PYCONC_BENCH_POOL_N, or 1M cut so that ROUNDS trials of
// the process pool take about ROW_SECONDS.
static long bulk_count(const bulk_ctx *proc) {
    const char *env = getenv("PYCONC_BENCH_POOL_N");
    if (env && atol(env) > 0) return atol(env);
    if (pcb_quick) return 20000;
    pc_future *fs[5000];
    bulk_ctx probe = {proc->ex, fs, 5000};
    double per_task = trial_bulk(&probe);
    long fit = (long)(ROW_SECONDS / (ROUNDS * per_task));
    if (fit >= n_bulk) return n_bulk;
    return fit < 5000 ? 5000 : fit / 1000 * 1000;
}

static void case_bulk(pc_executor *proc_ex, pc_executor *thr_ex) {
    bulk_ctx proc = {proc_ex, NULL, 0}, thr = {thr_ex, NULL, 0};
    long n = bulk_count(&proc);
    proc.n = thr.n = n;
    proc.fs = thr.fs = (pc_future **)calloc((size_t)n, sizeof *proc.fs);
    if (!proc.fs) abort();
    char name[96], count[24], args[64];
    snprintf(name, sizeof name, "%s no-op tasks: submit all, then results",
             pcb_count(n, count, sizeof count));
    double ours, peer;
    duel(trial_bulk, &proc, trial_bulk, &thr, &ours, &peer);
    pcb_row(name, ours, "pyconc thread pool", peer);
    print_spread();
    pcb_target(name, "pyconc thread pool", ours, peer, 2.0);      // >= 0.5x its throughput
    long npy = n < n_bulk_py ? n : n_bulk_py;
    snprintf(args, sizeof args, "bulk %ld %d", npy, WORKERS);
    duel(trial_bulk, &proc, trial_python, args, &ours, &peer);
    pcb_row(name, ours, "Python ProcessPoolExecutor", peer);
    if (peer == peer) {
        print_spread();
        printf("-- Python's side submits %s tasks per round (the same cost per task)\n",
               pcb_count(npy, count, sizeof count));
    } else {
        printf("-- Python's ProcessPoolExecutor: no figure (%s)\n", pcb_skip_why);
    }
    free(proc.fs);
}

// >>one: submit -> result, one task at a time, against a raw futex ping-pong
static double trial_one(void *arg) {
    pc_executor *ex = (pc_executor *)arg;
    double t0 = pc_monotonic();
    for (long i = 0; i < n_one; i++) {
        pc_future *f;
        void *r = NULL;
        int rc = pc_executor_submit(ex, t_empty, (void *)(intptr_t)i, &f);
        pcb_note_failure("submit", rc);
        if (rc) break;
        pcb_note_failure("result", pc_future_result(f, PC_FOREVER, &r));
        pc_future_release(f);
    }
    return (pc_monotonic() - t0) / (double)n_one;
}

static uint32_t *turn;          // a raw futex word in a shared page

static void futex_wait(uint32_t *w, uint32_t v) {
    syscall(SYS_futex, w, FUTEX_WAIT, v, NULL, NULL, 0);
}
static void futex_wake(uint32_t *w) { syscall(SYS_futex, w, FUTEX_WAKE, 1, NULL, NULL, 0); }

// Wait for the turn: spin a little, then sleep on the word.
static void await_turn(uint32_t want) {
    for (int i = 0; i < 200; i++)
        if (__atomic_load_n(turn, __ATOMIC_SEQ_CST) == want) return;
    uint32_t v;
    while ((v = __atomic_load_n(turn, __ATOMIC_SEQ_CST)) != want) futex_wait(turn, v);
}

static void give_turn(uint32_t to) {
    __atomic_store_n(turn, to, __ATOMIC_SEQ_CST);
    futex_wake(turn);
}

// Two processes pass the turn back and forth n_trips times: a round trip
// per trip, the least a task sent to a process and answered can cost.
static double trial_futex(void *arg) {
    (void)arg;
    *turn = 0;
    pid_t pid = fork();
    if (pid < 0) return NAN;
    if (pid == 0) {
        for (long i = 0; i < n_trips; i++) {
            await_turn(1);
            give_turn(0);
        }
        _exit(0);
    }
    double t0 = pc_monotonic();
    for (long i = 0; i < n_trips; i++) {
        give_turn(1);
        await_turn(0);
    }
    double dt = pc_monotonic() - t0;
    int st;
    while (waitpid(pid, &st, 0) < 0) {}
    return dt / (double)n_trips;
}

static void case_one(pc_executor *proc_ex) {
    const char *name = "submit -> result, one task at a time";
    turn = (uint32_t *)mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS,
                            -1, 0);
    if (turn == MAP_FAILED) abort();
    double ours, peer;
    duel(trial_one, proc_ex, trial_futex, NULL, &ours, &peer);
    pcb_row(name, ours, "raw futex ping-pong", peer);
    print_spread();
    pcb_target(name, "raw futex ping-pong", ours, peer, 1.5);
    munmap(turn, 4096);
}

// >>map: n_map longs in chunks of MAP_CHUNK
typedef struct map_ctx {
    pc_executor *ex;
    pc_pool *pool;
    long *items;
    void **out;
} map_ctx;

static pc_map_desc map_desc(const map_ctx *c) {
    pc_map_desc d;
    memset(&d, 0, sizeof d);
    d.items = c->items;
    d.count = (size_t)n_map;
    d.item_size = sizeof(long);
    d.chunksize = MAP_CHUNK;
    return d;
}

static double trial_map(void *arg) {
    map_ctx *c = (map_ctx *)arg;
    pc_map_desc d = map_desc(c);
    pc_map_iter *it;
    double t0 = pc_monotonic();
    int rc = pc_executor_map(c->ex, t_double, &d, &it);
    pcb_note_failure("map", rc);
    if (rc) return NAN;
    void *r;
    long i = 0;
    for (; pc_map_iter_next(it, &r) == PC_OK; i++)
        if ((intptr_t)r != 2 * i) break;
    pc_map_iter_free(it);
    double dt = pc_monotonic() - t0;
    if (i != n_map) pcb_note_failure("a map's results", PC_RUNTIME);
    return dt / (double)n_map;
}

static double trial_pool_map(void *arg) {
    map_ctx *c = (map_ctx *)arg;
    pc_map_desc d = map_desc(c);
    double t0 = pc_monotonic();
    pcb_note_failure("Pool.map", pc_pool_map(c->pool, t_double, &d, c->out));
    double dt = pc_monotonic() - t0;
    if ((intptr_t)c->out[n_map - 1] != 2 * (n_map - 1)) pcb_note_failure("Pool.map's", 1);
    return dt / (double)n_map;
}

static void case_map(pc_executor *proc_ex, pc_executor *thr_ex) {
    map_ctx proc, thr;
    memset(&proc, 0, sizeof proc);
    proc.ex = proc_ex;
    proc.items = (long *)malloc((size_t)n_map * sizeof(long));
    proc.out = (void **)malloc((size_t)n_map * sizeof(void *));
    if (!proc.items || !proc.out) abort();
    for (long i = 0; i < n_map; i++) proc.items[i] = i;
    thr = proc;
    thr.ex = thr_ex;
    proc.pool = pc_pool_new(&(pc_pool_desc){.processes = WORKERS});
    if (!proc.pool) {
        fprintf(stderr, "bench_pool: %s\n", pc_last_error());
        exit(1);
    }
    char name[96], count[24], args[64];
    double ours, peer;
    printf("-- maps: time per item\n");
    snprintf(name, sizeof name, "map, %s longs in chunks of %d",
             pcb_count(n_map, count, sizeof count), MAP_CHUNK);
    duel(trial_map, &proc, trial_map, &thr, &ours, &peer);
    pcb_row(name, ours, "pyconc thread pool", peer);
    print_spread();
    pcb_target(name, "pyconc thread pool", ours, peer, 2.0);      // >= 0.5x its throughput
    snprintf(name, sizeof name, "Pool.map, %s longs in chunks of %d",
             pcb_count(n_map, count, sizeof count), MAP_CHUNK);
    snprintf(args, sizeof args, "poolmap %ld %d %d", n_map, WORKERS, MAP_CHUNK);
    duel(trial_pool_map, &proc, trial_python, args, &ours, &peer);
    pcb_row(name, ours, "Python Pool.map", peer);
    if (peer == peer) print_spread();
    pcb_target(name, "Python Pool.map", ours, peer, 0.05);        // >= 20x faster
    pc_pool_free(proc.pool);
    free(proc.items);
    free(proc.out);
}

// >>killed: SIGKILL a worker in a task; time to its future failing and to
// the pool at full size again
static pc_mp_event *g_started;      // the worker's copies, from the initializer
static pc_mp_value *g_pid;

static int init_keep(void *arg) {
    pc_args *a = (pc_args *)arg;
    return pc_args_get_mp_event(a, 0, &g_started) || pc_args_get_mp_value(a, 1, &g_pid);
}

static void *t_block(void *arg) {   // tells its pid, then waits to be killed
    int64_t pid = getpid();
    pc_mp_value_store(g_pid, &pid, sizeof pid);
    pc_mp_event_set(g_started);
    for (;;) pc_sleep(1);
    return arg;
}

static int full_without(pc_executor *ex, long victim) {
    long pids[WORKERS + 1];
    size_t n = pc_process_pool_pids(ex, pids, WORKERS + 1);
    if (n != WORKERS) return 0;
    for (size_t i = 0; i < n; i++)
        if (pids[i] == victim) return 0;
    return 1;
}

static void kill_once(pc_executor *ex, pc_mp_event *ev, pc_mp_value *pidv, double *to_fail,
                      double *to_full) {
    pc_future *f;
    int64_t victim = 0;
    *to_fail = *to_full = NAN;
    pcb_note_failure("clear", pc_mp_event_clear(ev));
    if (pc_executor_submit(ex, t_block, NULL, &f)) {
        pcb_note_failure("submit", PC_RUNTIME);
        return;
    }
    pcb_note_failure("the task's start", pc_mp_event_wait(ev, 30));
    pcb_note_failure("the pid", pc_mp_value_load(pidv, &victim, sizeof victim));
    double t0 = pc_monotonic();
    kill((pid_t)victim, SIGKILL);
    if (pc_future_result(f, 30, NULL) != PC_BROKEN) pcb_note_failure("the kill", PC_RUNTIME);
    *to_fail = pc_monotonic() - t0;
    while (!full_without(ex, (long)victim) && pc_monotonic() - t0 < 30) pc_sleep(0.0002);
    *to_full = pc_monotonic() - t0;
    pc_future_release(f);
}

static void case_killed(void) {
    pc_mp_event *ev = pc_mp_event_new();
    pc_mp_value *pidv = pc_mp_value_new(&(pc_mp_value_desc){.typecode = "q"});
    pc_args *a = pc_args_new();
    if (!ev || !pidv || !a || pc_args_add_mp_event(a, ev) || pc_args_add_mp_value(a, pidv))
        abort();
    pc_executor *ex = pc_process_pool_new(&(pc_process_pool_desc){
        .max_workers = WORKERS, .initializer = init_keep, .initargs = a});
    if (!ex) {
        fprintf(stderr, "bench_pool: %s\n", pc_last_error());
        exit(1);
    }
    double fail[ROUNDS], full[ROUNDS];
    for (int i = 0; i < ROUNDS; i++) kill_once(ex, ev, pidv, &fail[i], &full[i]);
    spread sf = spread_of(fail, ROUNDS), su = spread_of(full, ROUNDS);
    double mf = pcb_median(fail, ROUNDS), mu = pcb_median(full, ROUNDS);
    char a1[32], a2[32], a3[32], b1[32], b2[32], b3[32];
    printf("-- a killed worker, median of %d (min - max): SIGKILL to its future failing "
           "%s (%s - %s); to the pool at full size %s (%s - %s)\n", ROUNDS,
           pcb_fmt(mf, a1, 32), pcb_fmt(sf.lo, a2, 32), pcb_fmt(sf.hi, a3, 32),
           pcb_fmt(mu, b1, 32), pcb_fmt(su.lo, b2, 32), pcb_fmt(su.hi, b3, 32));
    pcb_target_budget("a killed worker: SIGKILL to its future failing", mf, 0.050);
    pcb_target_budget("a killed worker: SIGKILL to the pool at full size", mu, 0.100);
    pc_executor_free(ex);
    pc_args_free(a);
    pc_mp_event_free(ev);
    pc_mp_value_free(pidv);
}

// >>scaling: tasks per second as workers and task size grow
typedef struct scale_ctx { pc_executor *ex; pc_future **fs; long n, us; } scale_ctx;

static double trial_scale(void *arg) {
    scale_ctx *c = (scale_ctx *)arg;
    double t0 = pc_monotonic();
    for (long i = 0; i < c->n; i++)
        pcb_note_failure("submit", pc_executor_submit(c->ex, t_spin, (void *)(intptr_t)c->us,
                                                      &c->fs[i]));
    for (long i = 0; i < c->n; i++) {
        if (!c->fs[i]) continue;
        pcb_note_failure("result", pc_future_result(c->fs[i], PC_FOREVER, NULL));
        pc_future_release(c->fs[i]);
    }
    return (pc_monotonic() - t0) / (double)c->n;
}

static void case_scaling(void) {
    static const int workers[] = {1, 2, 4, 8};
    static const long us[] = {0, 10, 100}, counts[] = {4000, 4000, 800};
    pc_future **fs = (pc_future **)calloc(4000, sizeof *fs);
    if (!fs) abort();
    printf("-- throughput: time per task (1 / tasks per second) as the pool grows\n");
    for (int w = 0; w < 4; w++) {
        scale_ctx proc = {pc_process_pool_new(&(pc_process_pool_desc){.max_workers = workers[w]}),
                          fs, 0, 0};
        scale_ctx thr = {pc_thread_pool_new(&(pc_thread_pool_desc){.max_workers = workers[w]}),
                         fs, 0, 0};
        if (!proc.ex || !thr.ex) {
            fprintf(stderr, "bench_pool: %s\n", pc_last_error());
            exit(1);
        }
        for (int s = 0; s < 3; s++) {
            char name[96];
            proc.n = thr.n = pcb_scaled(counts[s]);
            proc.us = thr.us = us[s];
            const char *many = workers[w] > 1 ? "s" : "";
            if (us[s]) snprintf(name, sizeof name, "%ld us spin tasks, %d worker%s", us[s],
                                workers[w], many);
            else snprintf(name, sizeof name, "empty tasks, %d worker%s", workers[w], many);
            double ours, peer;
            duel(trial_scale, &proc, trial_scale, &thr, &ours, &peer);
            pcb_scale_row("pool workers", workers[w], name, ours, "pyconc thread pool", peer);
        }
        pc_executor_free(proc.ex);
        pc_executor_free(thr.ex);
    }
    free(fs);
}

// Whether the row named runs (PYCONC_BENCH_POOL_ROWS: a list of names).
static int row_on(const char *row) {
    const char *env = getenv("PYCONC_BENCH_POOL_ROWS");
    if (!env || !*env) return 1;
    size_t n = strlen(row);
    for (const char *at = strstr(env, row); at; at = strstr(at + 1, row))
        if ((at == env || at[-1] == ',') && (at[n] == ',' || at[n] == '\0')) return 1;
    return 0;
}

int main(int argc, char **argv) {
    pcb_parse_quick(argc, argv);
    if (pcb_quick) {
        n_bulk_py = 2000;
        n_one = 500;
        n_trips = 2000;
        n_map = 100000;
    }
    char title[200];
    snprintf(title, sizeof title, "process pools (ProcessPoolExecutor, Pool) against pyconc's "
             "thread pool, a raw futex ping-pong and Python's; %d workers but where the "
             "row says", WORKERS);
    pcb_begin("pool", title, ROUNDS);
    pc_executor *proc = pc_process_pool_new(&(pc_process_pool_desc){.max_workers = WORKERS});
    pc_executor *thr = pc_thread_pool_new(&(pc_thread_pool_desc){.max_workers = WORKERS});
    if (!proc || !thr) {
        fprintf(stderr, "bench_pool: %s\n", pc_last_error());
        return 1;
    }
    if (row_on("bulk")) case_bulk(proc, thr);
    if (row_on("one")) case_one(proc);
    if (row_on("map")) case_map(proc, thr);
    pc_executor_free(proc);
    pc_executor_free(thr);
    if (row_on("killed")) case_killed();
    if (row_on("scaling")) case_scaling();
    pcb_end();
    return pcb_failures != 0;
}

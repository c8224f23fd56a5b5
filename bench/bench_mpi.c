/* bench_mpi: pyconc_process.h's MPI executor (pc_mpi_comm_executor_new)
   against mpi4py.futures' MPICommExecutor on the same work, and its map
   against the process pool of one machine (pc_process_pool_new):
   - no-op tasks: N submitted, then all waited (throughput), with 64 tasks
     sent ahead to each serving rank (desc.prefetch);
   - submit -> result, one task after another (round trip);
   both with 2 serving ranks, over shared memory and over TCP
   (`--mca btl tcp,self`);
   - a map of 1M small items in chunks of 1000 against the process pool
     with as many workers (each timed warm: the MPI map on its second run in
     its job, the pool's as the median of its rounds on one pool);
   - rank 0's CPU time over a 1 s wait for one task (getrusage);
   - the no-op and round-trip rows again with desc.no_isolation (tasks on
     the serving ranks' threads, no local pool: mpi4py's way), and the map;
   - the floor: a raw MPI ping-pong in C (MPI_Send/MPI_Recv of PING_BYTES
     between rank 0 and rank 1, no pyconc, the same mpirun flags), the
     least a round trip through Open MPI costs, against our round trip.
   Each figure is taken inside an `mpirun -np 3` of this program (or of
   bench/py/mpi_futures.py under python3 with mpi4py); the runs of pyconc
   and of its peers alternate round by round, medians kept. Without mpi4py
   the peer's rows say "skipped: install python3-mpi4py".
   usage: bench_mpi [quick]
          (mpirun -np 3 bench_mpi rank NOOP RTT MAP [NOISO]: one measurement, rank 0
          prints it; NOISO 1: desc.no_isolation;
           mpirun -np 3 bench_mpi pingpong N: the raw ping-pong) */
#define PYCONC_ALL_IMPLEMENTATION
#include "pyconc_process.h"

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>

#include "bench.h"

#ifndef PYCONC_MPIEXEC
#define PYCONC_MPIEXEC "mpirun"
#endif

#define ROUNDS 5
#define RANKS 3                 // rank 0 and 2 serving ranks
#define WORKERS 2               // the process pool's, one per serving rank
#define CHUNK 1000
#define PREFETCH 64             // tasks sent ahead to a serving rank
#define NEED_MPI4PY "install python3-mpi4py"
#define PING_BYTES 64           // about a no-op task's message

static long n_noop = 20000, n_rtt = 2000, n_map = 1000000;

static void *t_noop(void *arg) { return arg; }

static void *t_item(void *arg) {
    int32_t x;
    memcpy(&x, arg, sizeof x);
    return (void *)(intptr_t)(x + 1);
}

static void *t_sleep(void *arg) {
    pc_sleep((double)(intptr_t)arg / 1000);
    return NULL;
}

static double cpu_seconds(void) {
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 + (double)ru.ru_stime.tv_sec +
           ru.ru_stime.tv_usec / 1e6;
}

// >>map: a map of n_map int32 items in chunks of CHUNK, seconds per item.
static int32_t *map_items;

static double map_trial(pc_executor *ex) {
    pc_map_desc d;
    memset(&d, 0, sizeof d);
    d.items = map_items;
    d.count = (size_t)n_map;
    d.item_size = sizeof map_items[0];
    d.chunksize = CHUNK;
    pc_map_iter *it;
    double t0 = pcb_now();
    if (pc_executor_map(ex, t_item, &d, &it)) {
        pcb_note_failure("map", pc_last_error_code());
        return NAN;
    }
    void *r;
    long n = 0;
    int rc;
    while ((rc = pc_map_iter_next(it, &r)) == PC_OK)
        if ((intptr_t)r != map_items[n++] + 1) pcb_failures++;
    if (rc != PC_EOF || n != n_map) pcb_note_failure("map", rc ? rc : PC_RUNTIME);
    pc_map_iter_free(it);
    return (pcb_now() - t0) / (double)n_map;
}

static void make_items(void) {
    map_items = (int32_t *)malloc((size_t)n_map * sizeof *map_items);
    for (long i = 0; i < n_map; i++) map_items[i] = (int32_t)i;
}

// >>rank: one measurement under mpirun; rank 0 prints "noop S rtt S idle S map S".
static double noop_trial(pc_executor *ex) {
    pc_future **fs = (pc_future **)malloc((size_t)n_noop * sizeof *fs);
    double t0 = pcb_now();
    for (long i = 0; i < n_noop; i++)
        pcb_note_failure("submit", pc_executor_submit(ex, t_noop, (void *)(intptr_t)i, &fs[i]));
    for (long i = 0; i < n_noop; i++) {
        pcb_note_failure("result", pc_future_result(fs[i], PC_FOREVER, NULL));
        pc_future_release(fs[i]);
    }
    double t = (pcb_now() - t0) / (double)n_noop;
    free(fs);
    return t;
}

static double rtt_trial(pc_executor *ex) {
    double t0 = pcb_now();
    for (long i = 0; i < n_rtt; i++) {
        pc_future *f;
        pcb_note_failure("submit", pc_executor_submit(ex, t_noop, (void *)(intptr_t)i, &f));
        pcb_note_failure("result", pc_future_result(f, PC_FOREVER, NULL));
        pc_future_release(f);
    }
    return (pcb_now() - t0) / (double)n_rtt;
}

// CPU seconds rank 0 spends while one task sleeps 1 s.
static double idle_trial(pc_executor *ex) {
    pc_future *f;
    pcb_note_failure("submit", pc_executor_submit(ex, t_sleep, (void *)(intptr_t)1000, &f));
    double c0 = cpu_seconds();
    pcb_note_failure("result", pc_future_result(f, PC_FOREVER, NULL));
    double c = cpu_seconds() - c0;
    pc_future_release(f);
    return c;
}

static int rank_main(char **argv) {
    n_noop = atol(argv[2]);
    n_rtt = atol(argv[3]);
    n_map = atol(argv[4]);
    // Deep enough for no-op tasks to stream (the default, 2, suits long tasks).
    pc_mpi_comm_executor_desc d;
    memset(&d, 0, sizeof d);
    d.prefetch = PREFETCH;
    d.no_isolation = argv[5] ? atoi(argv[5]) : 0;
    pc_executor *ex = pc_mpi_comm_executor_new(&d);
    if (!ex) {
        int failed = pc_last_error_code() != PC_OK;
        if (failed) fprintf(stderr, "bench_mpi: %s\n", pc_last_error());
        MPI_Finalize();
        return failed;
    }
    // Every rank up and its pool started before the clock runs.
    long keep = n_noop;
    n_noop = 64;
    noop_trial(ex);
    n_noop = keep;
    double noop = noop_trial(ex), rtt = rtt_trial(ex), idle = NAN, map = NAN;
    if (n_map) {
        idle = idle_trial(ex);
        make_items();
        // Timed on its second run, as the pool's is on a warm pool (its
        // median over the rounds): the first also pays for this job's first
        // allocations and, after the 1 s wait above, the ranks' longest nap.
        map_trial(ex);
        map = map_trial(ex);
        free(map_items);
    }
    printf("noop %.9g rtt %.9g idle %.9g map %.9g\n", noop, rtt, idle, map);
    pc_executor_free(ex);
    MPI_Finalize();
    return pcb_failures != 0;
}

// >>pingpong: n round trips of PING_BYTES between ranks 0 and 1 with blocking
// MPI_Send/MPI_Recv (both spin in Open MPI: the fastest it goes); rank 0
// prints "noop 0 rtt S idle 0" (seconds per round trip). The other ranks
// wait in a barrier they poll with sleeps, so they take no core.
static int pingpong_main(char **argv) {
    long n = atol(argv[2]);
    int level, rank, size;
    MPI_Init_thread(NULL, NULL, MPI_THREAD_SINGLE, &level);
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    char buf[PING_BYTES];
    memset(buf, 0, sizeof buf);
    double t = NAN;
    if (rank <= 1 && size >= 2) {
        for (long i = 0; i < n + n / 10 + 1; i++) {     // the first tenth warms up
            if (i == n / 10 + 1) t = pcb_now();
            if (rank == 0) {
                MPI_Send(buf, PING_BYTES, MPI_BYTE, 1, 1, MPI_COMM_WORLD);
                MPI_Recv(buf, PING_BYTES, MPI_BYTE, 1, 1, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
            } else {
                MPI_Recv(buf, PING_BYTES, MPI_BYTE, 0, 1, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
                MPI_Send(buf, PING_BYTES, MPI_BYTE, 0, 1, MPI_COMM_WORLD);
            }
        }
        t = (pcb_now() - t) / (double)n;
    }
    MPI_Request req;
    int done = 0;
    MPI_Ibarrier(MPI_COMM_WORLD, &req);
    while (MPI_Test(&req, &done, MPI_STATUS_IGNORE) == MPI_SUCCESS && !done) pc_sleep(1e-3);
    if (rank == 0) printf("noop 0 rtt %.9g idle 0\n", t);
    MPI_Finalize();
    return 0;
}

// >>driver: runs the measurements, alternating pyconc's and its peers'.
typedef struct figures { double noop, rtt, idle, map; } figures;

static char self_path[4096];
static const char *mpi4py_python;   // a python3 that imports mpi4py.futures; NULL: none

// Run cmd, read "noop S rtt S idle S [map S]" from its output.
static int run_figures(const char *cmd, figures *out) {
    out->noop = out->rtt = out->idle = out->map = NAN;
    FILE *p = popen(cmd, "r");
    char line[512];
    int got = 0;
    while (p && fgets(line, sizeof line, p)) {
        double a, b, c, d = NAN;
        int n = sscanf(line, "noop %lf rtt %lf idle %lf map %lf", &a, &b, &c, &d);
        if (n >= 3) {
            out->noop = a;
            out->rtt = b;
            out->idle = c;
            out->map = d;
            got = 1;
        }
    }
    int st = p ? pclose(p) : -1;
    if (!got || st != 0) {
        fprintf(stderr, "bench_mpi: no figures from: %s\n", cmd);
        pcb_failures++;
        return -1;
    }
    return 0;
}

static const char *mpirun_args(int tcp) {
    return tcp ? "--allow-run-as-root --oversubscribe -np 3 --mca btl tcp,self"
               : "--allow-run-as-root --oversubscribe -np 3";
}

static void ours(int tcp, long map, int noiso, figures *out) {
    char cmd[8192];
    snprintf(cmd, sizeof cmd, "%s %s %s rank %ld %ld %ld %d", PYCONC_MPIEXEC,
             mpirun_args(tcp), self_path, n_noop, n_rtt, map, noiso);
    run_figures(cmd, out);
}

static void pingpong(int tcp, figures *out) {
    char cmd[8192];
    snprintf(cmd, sizeof cmd, "%s %s %s pingpong %ld", PYCONC_MPIEXEC, mpirun_args(tcp),
             self_path, n_rtt * 10);
    run_figures(cmd, out);
}

static void peer(int tcp, int idle, figures *out) {
    char cmd[8192];
    out->noop = out->rtt = out->idle = out->map = NAN;
    if (!mpi4py_python) return;
    snprintf(cmd, sizeof cmd, "%s %s %s %s/py/mpi_futures.py %ld %ld %d", PYCONC_MPIEXEC,
             mpirun_args(tcp), mpi4py_python, PYCONC_BENCH_DIR, n_noop, n_rtt, idle);
    run_figures(cmd, out);
}

static const char *find_mpi4py(void) {
    static const char *candidates[] = {PYCONC_PYTHON3, "/usr/bin/python3"};
    for (size_t i = 0; i < sizeof candidates / sizeof candidates[0]; i++) {
        char cmd[1200];
        const char *py = candidates[i];
        if (!py[0] || strstr(py, "NOTFOUND")) continue;
        snprintf(cmd, sizeof cmd, "%s -c 'import mpi4py.futures' >/dev/null 2>&1", py);
        if (system(cmd) == 0) return py;
    }
    return NULL;
}

static double median_of(figures *v, int n, size_t field) {
    double x[64];
    int k = 0;
    for (int i = 0; i < n && k < 64; i++) {
        double f = *(const double *)((const char *)&v[i] + field);
        if (f == f) x[k++] = f;
    }
    return k ? pcb_median(x, k) : NAN;
}

static void row(const char *name, double a, double b, double limit) {
    pcb_skip_why = mpi4py_python ? "mpi4py gave no figure (its error is above)" : NEED_MPI4PY;
    pcb_row(name, a, "mpi4py.futures", mpi4py_python ? b : NAN);
    if (limit == limit) pcb_target(name, "mpi4py.futures", a, mpi4py_python ? b : NAN, limit);
}

// Our round trip against the raw ping-pong, and whether 10x mpi4py's can
// be had at all: not when the ping-pong alone takes over a tenth of it.
static void floor_rows(figures *o, figures *p, figures *f, int rounds, const char *net) {
    char name[96], a[32], b[32];
    double rtt = median_of(o, rounds, offsetof(figures, rtt));
    double floor = median_of(f, rounds, offsetof(figures, rtt));
    double peer = median_of(p, rounds, offsetof(figures, rtt));
    snprintf(name, sizeof name, "round trip (%s) vs the floor", net);
    pcb_skip_why = "the ping-pong gave no figure (its error is above)";
    pcb_row(name, rtt, "raw MPI ping-pong in C", floor);
    if (floor == floor && peer == peer)
        printf("-- %s: the raw ping-pong takes %s, mpi4py's round trip %s: 10x mpi4py is "
               "%s\n", net, pcb_fmt(floor, a, sizeof a), pcb_fmt(peer, b, sizeof b),
               floor > peer / 10 ? "impossible (the floor is over a tenth of it)"
                                 : "not ruled out by the floor");
}

int main(int argc, char **argv) {
    if (argc >= 5 && strcmp(argv[1], "rank") == 0) return rank_main(argv);
    if (argc >= 3 && strcmp(argv[1], "pingpong") == 0) return pingpong_main(argv);
    pcb_parse_quick(argc, argv);
    int rounds = ROUNDS;
    if (pcb_quick) {
        rounds = 1;
        n_noop = 2000;
        n_rtt = 200;
        n_map = 100000;
    }
    ssize_t len = readlink("/proc/self/exe", self_path, sizeof self_path - 1);
    if (len <= 0) {
        perror("bench_mpi: /proc/self/exe");
        return 1;
    }
    self_path[len] = '\0';
    mpi4py_python = find_mpi4py();
    if (!mpi4py_python)
        fprintf(stderr, "bench_mpi: NO PEER: python3 cannot import mpi4py.futures; its rows "
                        "are skipped (%s)\n", NEED_MPI4PY);
    char title[256];
    snprintf(title, sizeof title, "the MPI executor against mpi4py.futures (mpirun -np %d: "
             "%d serving ranks) and its map against the process pool (%d workers)", RANKS,
             RANKS - 1, WORKERS);
    pcb_begin("mpi", title, rounds);
    figures o_shm[64], p_shm[64], o_tcp[64], p_tcp[64], u_shm[64], u_tcp[64];
    figures f_shm[64], f_tcp[64];       // the raw ping-pong
    double pool_map[64];
    make_items();
    pc_executor *pool = pc_process_pool_new(&(pc_process_pool_desc){ .max_workers = WORKERS });
    if (!pool) {
        fprintf(stderr, "bench_mpi: %s\n", pc_last_error());
        return 1;
    }
    for (int r = 0; r < rounds; r++) {
        ours(0, n_map, 0, &o_shm[r]);
        peer(0, 1, &p_shm[r]);
        ours(0, n_map, 1, &u_shm[r]);
        ours(1, 0, 0, &o_tcp[r]);
        peer(1, 0, &p_tcp[r]);
        ours(1, 0, 1, &u_tcp[r]);
        pingpong(0, &f_shm[r]);
        pingpong(1, &f_tcp[r]);
        pool_map[r] = map_trial(pool);
        fprintf(stderr, "round %d: round trip us: shm %.1f (no_isolation %.1f, mpi4py %.1f, "
                "ping-pong %.1f), tcp %.1f (no_isolation %.1f, mpi4py %.1f, ping-pong %.1f); "
                "map ns: %.1f (no_isolation %.1f, pool %.1f)\n", r, o_shm[r].rtt * 1e6,
                u_shm[r].rtt * 1e6, p_shm[r].rtt * 1e6, f_shm[r].rtt * 1e6, o_tcp[r].rtt * 1e6,
                u_tcp[r].rtt * 1e6, p_tcp[r].rtt * 1e6, f_tcp[r].rtt * 1e6, o_shm[r].map * 1e9,
                u_shm[r].map * 1e9, pool_map[r] * 1e9);
    }
    pc_executor_free(pool);
    free(map_items);
    char name[96], n1[32];
    pcb_count(n_noop, n1, sizeof n1);
    snprintf(name, sizeof name, "no-op tasks: submit %s, wait all (shm)", n1);
    row(name, median_of(o_shm, rounds, offsetof(figures, noop)),
        median_of(p_shm, rounds, offsetof(figures, noop)), 0.1);
    snprintf(name, sizeof name, "no-op tasks: submit %s, wait all (tcp)", n1);
    row(name, median_of(o_tcp, rounds, offsetof(figures, noop)),
        median_of(p_tcp, rounds, offsetof(figures, noop)), 0.1);
    row("submit -> result round trip (shm)", median_of(o_shm, rounds, offsetof(figures, rtt)),
        median_of(p_shm, rounds, offsetof(figures, rtt)), 0.1);
    row("submit -> result round trip (tcp)", median_of(o_tcp, rounds, offsetof(figures, rtt)),
        median_of(p_tcp, rounds, offsetof(figures, rtt)), 0.1);
    snprintf(name, sizeof name, "no-op %s, wait all (shm, no_isolation)", n1);
    row(name, median_of(u_shm, rounds, offsetof(figures, noop)),
        median_of(p_shm, rounds, offsetof(figures, noop)), 0.1);
    snprintf(name, sizeof name, "no-op %s, wait all (tcp, no_isolation)", n1);
    row(name, median_of(u_tcp, rounds, offsetof(figures, noop)),
        median_of(p_tcp, rounds, offsetof(figures, noop)), 0.1);
    row("round trip (shm, no_isolation)", median_of(u_shm, rounds, offsetof(figures, rtt)),
        median_of(p_shm, rounds, offsetof(figures, rtt)), 0.1);
    row("round trip (tcp, no_isolation)", median_of(u_tcp, rounds, offsetof(figures, rtt)),
        median_of(p_tcp, rounds, offsetof(figures, rtt)), 0.1);
    floor_rows(o_shm, p_shm, f_shm, rounds, "shm");
    floor_rows(o_tcp, p_tcp, f_tcp, rounds, "tcp");
    double idle = median_of(o_shm, rounds, offsetof(figures, idle));
    row("rank 0's CPU s over a 1 s wait", idle,
        median_of(p_shm, rounds, offsetof(figures, idle)), NAN);
    double mpi_map = median_of(o_shm, rounds, offsetof(figures, map));
    snprintf(name, sizeof name, "map of %s items, chunks of %d", pcb_count(n_map, n1, sizeof n1),
             CHUNK);
    pcb_row(name, mpi_map, "pyconc process pool", pcb_median(pool_map, rounds));
    pcb_target(name, "pyconc process pool", mpi_map, pcb_median(pool_map, rounds), 1);
    double u_map = median_of(u_shm, rounds, offsetof(figures, map));
    snprintf(name, sizeof name, "map of %s, chunks of %d (no_isolation)", n1, CHUNK);
    pcb_row(name, u_map, "pyconc process pool", pcb_median(pool_map, rounds));
    pcb_target_budget("rank 0's CPU s over a 1 s wait", idle, 0.02);
    pcb_end();
    return pcb_failures != 0;
}

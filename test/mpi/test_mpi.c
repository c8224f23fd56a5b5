/* Tests of pyconc_process.h part G: the MPI executor
   (pc_mpi_comm_executor_new). Each case runs under mpirun on every rank:
   rank 0 gets the executor and checks, the others serve and return. A
   case is run with 3 and 4 ranks and over the TCP transport (ctest's
   mpi.<case>_np3, _np4, _tcp). Built without MPI, each case skips. */
#define PYCONC_ALL_IMPLEMENTATION
#include "pyconc_process.h"

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#define PCT_NO_MAIN
#include "pc_test.h"

// >>helpers
#ifdef PYCONC_MPI
// The executor on rank 0; NULL on a serving rank, which has served by then.
// no_isolation: the ranks run tasks themselves (1 worker: on the serving
// thread; 2 here: on a pool of 3 threads each).
static pc_executor *executor_opt(size_t result_size, int no_isolation) {
    pc_mpi_comm_executor_desc d;
    memset(&d, 0, sizeof d);
    d.result_size = result_size;
    d.no_isolation = no_isolation != 0;
    d.local_workers = no_isolation == 2 ? 3 : 0;
    pc_executor *ex = pc_mpi_comm_executor_new(&d);
    if (!ex) CHECK_MSG(pc_last_error_code() == PC_OK, "%s", pc_last_error());
    return ex;
}

static pc_executor *executor(size_t result_size) { return executor_opt(result_size, 0); }

// An MPIPoolExecutor of `workers` spawned processes. In a spawned worker
// (this same program, run with the same case) the call serves and exits.
static pc_executor *pool_executor(int workers, size_t result_size) {
    pc_mpi_pool_executor_desc d;
    memset(&d, 0, sizeof d);
    d.max_workers = workers;
    d.result_size = result_size;
    pc_executor *ex = pc_mpi_pool_executor_new(&d);
    CHECK_MSG(ex, "%s", pc_last_error());
    return ex;
}
#else
static pc_executor *executor(size_t result_size) {
    (void)result_size;
    pct_skip("built without MPI (CMake's find_package(MPI) found none)");
    return NULL;
}

static pc_executor *executor_opt(size_t result_size, int no_isolation) {
    (void)no_isolation;
    return executor(result_size);
}

static pc_executor *pool_executor(int workers, size_t result_size) {
    (void)workers;
    return executor(result_size);
}
#endif

static void *t_square(void *arg) {
    int64_t x = (int64_t)(intptr_t)arg;
    return (void *)(intptr_t)(x * x + 1);
}

static void *t_item(void *arg) {
    int32_t x;
    memcpy(&x, arg, sizeof x);
    return (void *)(intptr_t)(3 * (int64_t)x + 7);
}

static void *t_fail_on_7(void *arg) {
    intptr_t x = (intptr_t)arg;
    if (x == 7) pc_raise(PC_VALUE, "task %d says no", (int)x);
    else if (x >= 10) pc_sleep(0.2);    // still running when 7 fails
    return (void *)x;
}

static void *t_crash_on_5(void *arg) {
    intptr_t x = (intptr_t)arg;
    if (x == 5) raise(SIGSEGV);
    return (void *)(x + 100);
}

typedef struct pair { double a, b; } pair;

static void *t_sum(void *arg) {
    static PC__TLS pair out;
    pair *p = (pair *)arg;
    out.a = p->a + p->b;
    out.b = p->a * p->b;
    return &out;
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

// >>cases
// 10,000 items (item k: k * mul + add) in chunks of 97 come back right and
// in order, then ntasks tasks one by one, by value; ex is freed.
static void map_then_tasks(pc_executor *ex, int32_t mul, int32_t add, intptr_t ntasks) {
    enum { N = 10000 };
    static int32_t in[N];
    for (int i = 0; i < N; i++) in[i] = mul * i + add;
    pc_map_desc md;
    memset(&md, 0, sizeof md);
    md.items = in;
    md.count = N;
    md.item_size = sizeof in[0];
    md.chunksize = 97;
    pc_map_iter *it;
    CHECK_OK(pc_executor_map(ex, t_item, &md, &it));
    void *r;
    int n = 0;
    while (pc_map_iter_next(it, &r) == PC_OK) {
        CHECK_EQ((int64_t)(intptr_t)r, 3 * (int64_t)in[n] + 7);
        n++;
    }
    CHECK_EQ(n, N);
    pc_map_iter_free(it);
    pc_future *fs[200];
    CHECK(ntasks <= 200);
    for (intptr_t i = 0; i < ntasks; i++)
        CHECK_OK(pc_executor_submit(ex, t_square, (void *)i, &fs[i]));
    for (intptr_t i = 0; i < ntasks; i++) {
        CHECK_OK(pc_future_result(fs[i], 60, &r));
        CHECK_EQ((intptr_t)r, i * i + 1);
        pc_future_release(fs[i]);
    }
    pc_executor_free(ex);
}

// Over every serving rank: the map, then 200 tasks.
static void check_map_in_order(int no_isolation) {
    pc_executor *ex = executor_opt(0, no_isolation);
    if (!ex) return;
    map_then_tasks(ex, 1, -500, 200);
}

TEST(map_in_order) { check_map_in_order(0); }

// The same with the tasks on the serving ranks' own threads (no_isolation).
TEST(unisolated_map_in_order) { check_map_in_order(1); }

static void *t_item_fails(void *arg) {
    int32_t x;
    memcpy(&x, arg, sizeof x);
    if (x == 123) pc_raise(PC_VALUE, "item %d says no", (int)x);
    if (x == 1077) raise(SIGSEGV);
    return (void *)(intptr_t)(x * 2);
}

// Map items 0..n-1 in chunks of 50: the results before item `stop` come
// back in order, then the map ends with code (chunks cross whole to the
// rank's pool; a raise ends it at its item, a crash at its chunk's start).
static void check_map_ends(pc_executor *ex, int32_t first, int stop, int code,
                           const char *says) {
    static int32_t in[400];
    for (int i = 0; i < 400; i++) in[i] = first + i;
    pc_map_desc md;
    memset(&md, 0, sizeof md);
    md.items = in;
    md.count = 400;
    md.item_size = sizeof in[0];
    md.chunksize = 50;
    pc_map_iter *it;
    CHECK_OK(pc_executor_map(ex, t_item_fails, &md, &it));
    void *r;
    int n = 0, rc;
    while ((rc = pc_map_iter_next(it, &r)) == PC_OK) {
        CHECK_EQ((int64_t)(intptr_t)r, 2 * (int64_t)in[n]);
        n++;
    }
    CHECK_RC(rc, code);
    CHECK_MSG(strstr(pc_last_error(), says), "%s", pc_last_error());
    CHECK_EQ(n, stop);
    pc_map_iter_free(it);
}

// A map's chunk that raises ends the map at its item; one that crashes a
// pool worker ends it at the chunk (PC_BROKEN), and the executor goes on.
TEST(map_chunk_fails) {
    pc_executor *ex = executor(0);
    if (!ex) return;
    check_map_ends(ex, 0, 123, PC_VALUE, "item 123 says no");
    check_map_ends(ex, 1000, 50, PC_BROKEN, "SIGSEGV");
    check_map_ends(ex, 2000, 400, PC_EOF, "exhausted");
    pc_executor_free(ex);
}

// One task after another, each waited for: a submit that lands while the
// progress thread is between its look at the queue and its sleep must
// still wake it (each result within 10 s, or the case fails).
TEST(round_trips_never_stall) {
    pc_executor *ex = executor(0);
    if (!ex) return;
    double end = pc_monotonic() + 6;
    int n = 0;
    while (pc_monotonic() < end) {
        pc_future *f;
        void *r;
        CHECK_OK(pc_executor_submit(ex, t_square, (void *)(intptr_t)n, &f));
        int rc = pc_future_result(f, 10, &r);
        CHECK_MSG(rc == PC_OK, "round trip %d: %s", n, pc_strerror(rc));
        CHECK_EQ((intptr_t)r, (intptr_t)n * n + 1);
        pc_future_release(f);
        n++;
    }
    pc_executor_free(ex);
}

// Threads that wait on their tasks make the MPI calls themselves, one at a
// time, and hand them to each other and to the progress thread as they
// come and go. Three threads do round trips, each result within 10 s,
// while this one waits on batches with pc_futures_wait (no future of its
// own polls then: the progress thread must) and times a wait out on a
// slow task before waiting it through. A lost hand-over stalls a wait.
typedef struct turns {
    pc_executor *ex;
    double end;
    int id, trips;
} turns;

static int round_trips(void *arg) {
    turns *t = (turns *)arg;
    while (pc_monotonic() < t->end) {
        pc_future *f;
        void *r;
        intptr_t x = t->id * 100000 + t->trips;
        CHECK_OK(pc_executor_submit(t->ex, t_square, (void *)x, &f));
        int rc = pc_future_result(f, 10, &r);
        CHECK_MSG(rc == PC_OK, "thread %d, round trip %d: %s", t->id, t->trips,
                  pc_strerror(rc));
        if (rc == PC_OK) CHECK_EQ((intptr_t)r, x * x + 1);
        pc_future_release(f);
        t->trips++;
    }
    return 0;
}

TEST(waiters_take_turns) {
    pc_executor *ex = executor(0);
    if (!ex) return;
    enum { T = 3, B = 8 };
    turns t[T];
    pc_thread *th[T];
    for (int i = 0; i < T; i++) {
        t[i].ex = ex;
        t[i].end = pc_monotonic() + 4;
        t[i].id = i + 1;
        t[i].trips = 0;
        pc_thread_desc td;
        memset(&td, 0, sizeof td);
        td.target = round_trips;
        td.arg = &t[i];
        th[i] = pc_thread_new(&td);
        CHECK(th[i] && pc_thread_start(th[i]) == PC_OK);
    }
    int batches = 0;
    while (pc_monotonic() < t[0].end) {
        pc_future *fs[B], *done[B], *not_done[B];
        size_t nd = 0, nn = 0;
        for (intptr_t i = 0; i < B; i++)
            CHECK_OK(pc_executor_submit(ex, t_square, (void *)i, &fs[i]));
        CHECK_OK(pc_futures_wait(fs, B, 10, PC_ALL_COMPLETED, done, &nd, not_done, &nn));
        CHECK_EQ(nd, (size_t)B);
        for (int i = 0; i < B; i++) pc_future_release(fs[i]);
        if (batches++ % 16 == 0) {      // a wait that times out, then one that does not
            pc_future *f;
            CHECK_OK(pc_executor_submit(ex, t_sleep, (void *)(intptr_t)50, &f));
            CHECK_RC(pc_future_result(f, 0.001, NULL), PC_TIMEOUT);
            CHECK_OK(pc_future_result(f, 10, NULL));
            pc_future_release(f);
        }
    }
    for (int i = 0; i < T; i++) {
        CHECK_OK(pc_thread_join(th[i], 30));
        pc_thread_free(th[i]);
        CHECK_MSG(t[i].trips > 10, "thread %d made %d round trips", t[i].id, t[i].trips);
    }
    CHECK(batches > 10);
    pc_executor_free(ex);
}

// Round trips beside a map that streams: a serving rank with several jobs
// open waits on its pool as soon as it takes a message, and root's waiting
// thread leaves with its own reply while the map's are still coming (the
// next poller takes those). For 3 s one thread does round trips, each
// within 10 s, while this one maps 20,000 items in chunks of 50, again
// and again, each map within 30 s: a reply left behind and not taken
// stalls one or the other.
TEST(round_trips_beside_a_map) {
    pc_executor *ex = executor(0);
    if (!ex) return;
    enum { N = 20000 };
    static int32_t in[N];
    for (int i = 0; i < N; i++) in[i] = i;
    turns t = {ex, pc_monotonic() + 3, 1, 0};
    pc_thread_desc td;
    memset(&td, 0, sizeof td);
    td.target = round_trips;
    td.arg = &t;
    pc_thread *th = pc_thread_new(&td);
    CHECK(th && pc_thread_start(th) == PC_OK);
    int maps = 0;
    while (pc_monotonic() < t.end) {
        pc_map_desc md;
        memset(&md, 0, sizeof md);
        md.items = in;
        md.count = N;
        md.item_size = sizeof in[0];
        md.chunksize = 50;
        md.timeout = 30;
        pc_map_iter *it;
        CHECK_OK(pc_executor_map(ex, t_item, &md, &it));
        void *r;
        int n = 0, rc;
        while ((rc = pc_map_iter_next(it, &r)) == PC_OK) {
            CHECK_EQ((int64_t)(intptr_t)r, 3 * (int64_t)in[n] + 7);
            n++;
        }
        CHECK_RC(rc, PC_EOF);
        CHECK_EQ(n, N);
        pc_map_iter_free(it);
        maps++;
    }
    CHECK_OK(pc_thread_join(th, 30));
    pc_thread_free(th);
    CHECK(t.trips >= 1 && maps >= 1);      // each waited within its bound
    pc_executor_free(ex);
}

// A thread that waited on its last task mostly waits on the next too, so
// its submit does not wake the progress thread while that one lingers
// (wakes on its own within 1 ms): a task then waited on only with
// pc_futures_wait, which does not poll, must still be taken by it. The
// short sleep lets the progress thread settle into its lingering sleep
// first; each wait is given 10 s.
TEST(unwaited_task_after_round_trips) {
    pc_executor *ex = executor(0);
    if (!ex) return;
    for (intptr_t i = 0; i < 40; i++) {
        pc_future *f, *g, *done[1], *not_done[1];
        void *r;
        CHECK_OK(pc_executor_submit(ex, t_square, (void *)i, &f));
        CHECK_OK(pc_future_result(f, 10, &r));
        pc_future_release(f);
        pc_sleep(0.002);
        CHECK_OK(pc_executor_submit(ex, t_square, (void *)(i + 1), &g));
        size_t nd = 0, nn = 0;
        CHECK_OK(pc_futures_wait(&g, 1, 10, PC_ALL_COMPLETED, done, &nd, not_done, &nn));
        CHECK_MSG(nd == 1, "task %d not done after 10 s", (int)i);
        CHECK_OK(pc_future_result(g, 0, &r));
        CHECK_EQ((intptr_t)r, (i + 1) * (i + 1) + 1);
        pc_future_release(g);
    }
    pc_executor_free(ex);
}

// A done callback runs in the thread that took the reply (the progress
// thread, or one waiting on its own future) and may wait on another task
// of the executor: that thread goes on making the MPI calls inside it.
typedef struct chained {
    pc_executor *ex;
    int rc;
    intptr_t got;
    pc_event done;
} chained;

static void submit_and_wait(pc_future *f, void *ctx) {
    (void)f;
    chained *c = (chained *)ctx;
    pc_future *g;
    void *r = NULL;
    c->rc = pc_executor_submit(c->ex, t_square, (void *)(intptr_t)9, &g);
    if (c->rc == PC_OK) {
        c->rc = pc_future_result(g, 10, &r);
        pc_future_release(g);
    }
    c->got = (intptr_t)r;
    pc_event_set(&c->done);
}

TEST(callback_waits_on_another) {
    pc_executor *ex = executor(0);
    if (!ex) return;
    for (int round = 0; round < 2; round++) {
        chained c;
        memset(&c, 0, sizeof c);
        c.ex = ex;
        pc_event_init(&c.done);
        pc_future *f;
        CHECK_OK(pc_executor_submit(ex, t_sleep, (void *)(intptr_t)20, &f));
        CHECK_OK(pc_future_add_done_callback(f, submit_and_wait, &c));
        // Round 0: this thread waits and takes the reply; round 1: nobody
        // waits on f, so the progress thread takes it.
        if (round == 0) CHECK_OK(pc_future_result(f, 30, NULL));
        CHECK_OK(pc_event_wait(&c.done, 30));
        CHECK_MSG(c.rc == PC_OK, "round %d: the callback's wait said %s", round,
                  pc_strerror(c.rc));
        CHECK_EQ(c.got, 82);
        pc_future_release(f);
    }
    pc_executor_free(ex);
}

// Arguments and results by copy (result_size).
static void check_copy_results(int no_isolation) {
    pc_executor *ex = executor_opt(sizeof(pair), no_isolation);
    if (!ex) return;
    pc_future *fs[50];
    for (int i = 0; i < 50; i++) {
        pair p = {(double)i, 2.5};
        CHECK_OK(pc_executor_submit_copy(ex, t_sum, &p, sizeof p, &fs[i]));
    }
    for (int i = 0; i < 50; i++) {
        void *r;
        CHECK_OK(pc_future_result(fs[i], 60, &r));
        pair *p = (pair *)r;
        CHECK(p->a == i + 2.5 && p->b == i * 2.5);
        pc_future_release(fs[i]);
    }
    pc_executor_free(ex);
}

TEST(copy_results) { check_copy_results(0); }

// On the ranks' threads each result is copied as its task returns (t_sum's
// next call on that thread overwrites the bytes).
TEST(unisolated_copy_results) { check_copy_results(1); }

// Tasks queued for a rank in one look go to it in one message, and a rank
// answers the jobs that ended between its looks in one: MPI_Isend and
// MPI_Recv are counted here (MPI's profiling interface: this program's
// own, calling PMPI_*).
#ifdef PYCONC_MPI
static long isends, recvs;

static void count_probes_to_send(void);

int MPI_Isend(const void *buf, int count, MPI_Datatype type, int dest, int tag, MPI_Comm comm,
              MPI_Request *req) {
    __atomic_add_fetch(&isends, 1, __ATOMIC_RELAXED);
    count_probes_to_send();
    return PMPI_Isend(buf, count, type, dest, tag, comm, req);
}

// The fewest MPI_Iprobe calls this process made between receiving a
// message and its next send (-1: no such pair yet): see
// round_trip_probes_no_more_than_it_must.
static long probes_since_recv = -1, fewest_probes_to_send = -1;

int MPI_Recv(void *buf, int count, MPI_Datatype type, int src, int tag, MPI_Comm comm,
             MPI_Status *st) {
    __atomic_add_fetch(&recvs, 1, __ATOMIC_RELAXED);
    int rc = PMPI_Recv(buf, count, type, src, tag, comm, st);
    __atomic_store_n(&probes_since_recv, 0, __ATOMIC_RELAXED);
    return rc;
}

int MPI_Iprobe(int src, int tag, MPI_Comm comm, int *flag, MPI_Status *st) {
    if (__atomic_load_n(&probes_since_recv, __ATOMIC_RELAXED) >= 0)
        __atomic_add_fetch(&probes_since_recv, 1, __ATOMIC_RELAXED);
    return PMPI_Iprobe(src, tag, comm, flag, st);
}

// Called by MPI_Isend: the probes since the last receive, if any, count.
static void count_probes_to_send(void) {
    long n = __atomic_exchange_n(&probes_since_recv, -1, __ATOMIC_RELAXED);
    long fewest = __atomic_load_n(&fewest_probes_to_send, __ATOMIC_RELAXED);
    if (n >= 0 && (fewest < 0 || n < fewest))
        __atomic_store_n(&fewest_probes_to_send, n, __ATOMIC_RELAXED);
}

// A done callback runs in the thread that makes the MPI calls, so the
// tasks it submits queue until its next look: then all go at once.
enum { BURST = 24 };
typedef struct burst {
    pc_executor *ex;
    pc_future *fs[BURST];
    long isends, recvs;         // the counts when the burst was submitted
    int rc;
} burst;

static void submit_burst(pc_future *f, void *arg) {
    (void)f;
    burst *b = (burst *)arg;
    b->isends = __atomic_load_n(&isends, __ATOMIC_RELAXED);
    b->recvs = __atomic_load_n(&recvs, __ATOMIC_RELAXED);
    for (int i = 0; i < BURST && !b->rc; i++) {
        if (i < 10) b->rc = pc_executor_submit(b->ex, t_fail_on_7, (void *)(intptr_t)i, &b->fs[i]);
        else b->rc = pc_executor_submit(b->ex, t_square, (void *)(intptr_t)i, &b->fs[i]);
    }
}
#endif

// Each burst task's own answer (7 raises in the middle of a batch), and
// how many messages the burst took each way.
static void check_burst(int no_isolation) {
#ifdef PYCONC_MPI
    int ranks = 0;
    pc_mpi_comm_executor_desc d;
    memset(&d, 0, sizeof d);
    d.prefetch = BURST;         // room on every rank for the whole burst
    d.no_isolation = no_isolation;
    pc_executor *ex = pc_mpi_comm_executor_new(&d);
    if (!ex) {
        CHECK_MSG(pc_last_error_code() == PC_OK, "%s", pc_last_error());
        return;
    }
    MPI_Comm_size(MPI_COMM_WORLD, &ranks);
    for (int round = 0; round < 20; round++) {
        burst b;
        memset(&b, 0, sizeof b);
        b.ex = ex;
        pc_future *f;
        CHECK_OK(pc_executor_submit(ex, t_sleep, (void *)(intptr_t)5, &f));
        CHECK_OK(pc_future_add_done_callback(f, submit_burst, &b));
        CHECK_OK(pc_future_result(f, 30, NULL));
        CHECK_OK(b.rc);
        for (int i = 0; i < BURST && !b.rc; i++) {
            void *r = NULL;
            int rc = pc_future_result(b.fs[i], 30, &r);
            if (i == 7) {
                int code = PC_OK;
                const char *msg = NULL;
                CHECK_OK(pc_future_exception(b.fs[i], 0, &code, &msg));
                CHECK_EQ(code, PC_VALUE);
                CHECK_MSG(msg && strstr(msg, "task 7 says no"), "%s", msg ? msg : "(none)");
            } else {
                CHECK_OK(rc);
                CHECK_EQ((intptr_t)r, i < 10 ? (intptr_t)i : (intptr_t)i * i + 1);
            }
        }
        long sent = __atomic_load_n(&isends, __ATOMIC_RELAXED) - b.isends;
        long got = __atomic_load_n(&recvs, __ATOMIC_RELAXED) - b.recvs;
        // One message to each serving rank (each task alone: BURST).
        CHECK_MSG(sent == ranks - 1, "round %d: the burst of %d took %ld sends to %d ranks",
                  round, BURST, sent, ranks - 1);
        // Run on the serving thread, a rank's share all ends in one look.
        if (no_isolation)
            CHECK_MSG(got == ranks - 1, "round %d: the burst's replies came in %ld messages "
                      "from %d ranks", round, got, ranks - 1);
        else
            CHECK_MSG(got >= 1 && got <= BURST, "round %d: %ld replies", round, got);
        for (int i = 0; i < BURST && !b.rc; i++) pc_future_release(b.fs[i]);
        pc_future_release(f);
    }
    pc_executor_free(ex);
#else
    (void)no_isolation;
    executor(0);
#endif
}

TEST(burst_goes_in_one_message) { check_burst(0); }
TEST(unisolated_burst_goes_in_one_message) { check_burst(1); }

// n submit -> result round trips, one task at a time, each checked.
static void round_trip_n(pc_executor *ex, intptr_t n) {
    for (intptr_t i = 0; i < n; i++) {
        pc_future *f;
        void *r;
        CHECK_OK(pc_executor_submit(ex, t_square, (void *)i, &f));
        CHECK_OK(pc_future_result(f, 10, &r));
        CHECK_EQ((intptr_t)r, i * i + 1);
        pc_future_release(f);
    }
}

// Root's waiting thread leaves with its reply, and a serving rank answers
// a round trip's task with no look at MPI between: the probes between a
// message taken and the next one sent, fewest over 300 round trips, are 0
// on root and on the rank that served them (one more look would only find
// nothing, and yield the CPU inside Open MPI).
static long fewest_probes(void) {
    return __atomic_load_n(&fewest_probes_to_send, __ATOMIC_RELAXED);
}

TEST(round_trip_probes_no_more_than_it_must) {
#ifdef PYCONC_MPI
    pc_executor *ex = executor(0);
    if (!ex) {          // a serving rank, done: -1 when it served none
        CHECK_MSG(fewest_probes() <= 0, "a serving rank probed MPI at least %ld times "
                  "between a task and its reply", fewest_probes());
        return;
    }
    round_trip_n(ex, 300);
    CHECK_MSG(fewest_probes() == 0, "root probed MPI at least %ld times between a reply and "
              "the next task", fewest_probes());
    pc_executor_free(ex);
#else
    executor(0);
#endif
}

// The context switches, so far, of the pool threads of the process that
// runs this task's pool (its parent: a serving rank), with that process's
// id: (pid << 32) | switches.
static void *t_pool_thread_switches(void *arg) {
    (void)arg;
    char path[512], line[256];
    long total = 0;
    snprintf(path, sizeof path, "/proc/%d/task", (int)getppid());
    DIR *dir = opendir(path);
    struct dirent *e;
    while (dir && (e = readdir(dir))) {
        if (e->d_name[0] == '.') continue;
        snprintf(path, sizeof path, "/proc/%d/task/%s/comm", (int)getppid(), e->d_name);
        FILE *f = fopen(path, "r");
        int ours = f && fgets(line, sizeof line, f) && strncmp(line, "ProcessPoolExec", 15) == 0;
        if (f) fclose(f);
        snprintf(path, sizeof path, "/proc/%d/task/%s/status", (int)getppid(), e->d_name);
        f = ours ? fopen(path, "r") : NULL;
        while (f && fgets(line, sizeof line, f)) {
            long n;
            if (sscanf(line, "voluntary_ctxt_switches: %ld", &n) == 1 ||
                sscanf(line, "nonvoluntary_ctxt_switches: %ld", &n) == 1)
                total += n;
        }
        if (f) fclose(f);
    }
    if (dir) closedir(dir);
    return (void *)(intptr_t)(((int64_t)getppid() << 32) | total);
}

static int64_t pool_thread_switches(pc_executor *ex) {
    pc_future *f;
    void *r = NULL;
    CHECK_OK(pc_executor_submit(ex, t_pool_thread_switches, NULL, &f));
    CHECK_OK(pc_future_result(f, 10, &r));
    pc_future_release(f);
    return (int64_t)(intptr_t)r;
}

// A serving rank takes its pool's waiter role before a task goes to the
// pool: the worker's reply, however soon it comes, wakes the rank's
// thread (or waits in the ring for it), never the pool's collector thread
// (which would settle it and wake the rank's thread: two more wake-ups).
// Over 300 round trips, all on rank 1 (the least loaded each time), the
// pool's threads there barely switch.
TEST(round_trips_leave_the_pools_collector_asleep) {
#ifdef PYCONC_MPI
    pc_executor *ex = executor(0);
    if (!ex) return;
    round_trip_n(ex, 20);
    int64_t before = pool_thread_switches(ex);
    round_trip_n(ex, 300);
    int64_t after = pool_thread_switches(ex);
    CHECK_MSG(before >> 32 == after >> 32, "the round trips' rank changed");
    long switches = (long)((after & 0xffffffff) - (before & 0xffffffff));
    CHECK_MSG(switches < 60, "the pool's threads on rank 1 switched %ld times in 300 round "
              "trips", switches);
    pc_executor_free(ex);
#else
    executor(0);
#endif
}

// FIRST_EXCEPTION returns on the raise while slow tasks on other ranks run;
// as_completed then yields every future once, exactly one with the raise.
static void check_wait_and_as_completed(int no_isolation) {
    pc_executor *ex = executor_opt(0, no_isolation);
    if (!ex) return;
    enum { N = 14 };
    pc_future *fs[N], *done[N], *not_done[N];
    for (intptr_t i = 0; i < N; i++)
        CHECK_OK(pc_executor_submit(ex, t_fail_on_7, (void *)i, &fs[i]));
    size_t nd = 0, nn = 0;
    CHECK_OK(pc_futures_wait(fs, N, 60, PC_FIRST_EXCEPTION, done, &nd, not_done, &nn));
    CHECK(pc_future_done(fs[7]));
    CHECK_EQ(nd + nn, (size_t)N);
    int code;
    const char *msg;
    CHECK_OK(pc_future_exception(fs[7], 0, &code, &msg));
    CHECK_EQ(code, PC_VALUE);
    CHECK(strcmp(msg, "task 7 says no") == 0);
    pc_as_completed *ac;
    CHECK_OK(pc_futures_as_completed(fs, N, 60, &ac));
    pc_future *f;
    int seen = 0, raised = 0;
    while (pc_as_completed_next(ac, &f) == PC_OK) {
        seen++;
        CHECK_OK(pc_future_exception(f, 0, &code, &msg));
        raised += code != PC_OK;
    }
    CHECK_EQ(seen, N);
    CHECK_EQ(raised, 1);
    pc_as_completed_free(ac);
    for (int i = 0; i < N; i++) pc_future_release(fs[i]);
    pc_executor_free(ex);
}

TEST(wait_and_as_completed) { check_wait_and_as_completed(0); }

// The same on the serving ranks' threads: a raise still fails its future only.
TEST(unisolated_wait_and_as_completed) { check_wait_and_as_completed(1); }

// Without isolation on several threads of each rank: the map, copied
// results, and a raise among slow tasks.
TEST(unisolated_threads) {
    check_map_in_order(2);
    check_copy_results(2);
    check_wait_and_as_completed(2);
}

// A task that segfaults fails its future only; the rank and the job go on.
TEST(segfault_fails_one_future) {
    pc_executor *ex = executor(0);
    if (!ex) return;
    enum { N = 12 };
    pc_future *fs[N];
    for (intptr_t i = 0; i < N; i++)
        CHECK_OK(pc_executor_submit(ex, t_crash_on_5, (void *)i, &fs[i]));
    for (intptr_t i = 0; i < N; i++) {
        void *r;
        int rc = pc_future_result(fs[i], 60, &r);
        if (i == 5) {
            CHECK_RC(rc, PC_BROKEN);
            CHECK_MSG(strstr(pc_last_error(), "SIGSEGV") && strstr(pc_last_error(), "rank "),
                      "%s", pc_last_error());
        } else {
            CHECK_OK(rc);
            CHECK_EQ((intptr_t)r, i + 100);
        }
        pc_future_release(fs[i]);
    }
    pc_executor_free(ex);
}

// A function outside the program, a message over INT_MAX bytes, a submit
// after shutdown: each a status and a message, and the executor goes on.
TEST(bad_input) {
    pc_executor *ex = executor(0);
    if (!ex) return;
    pc_future *f = NULL;
    static char not_code[64];
    pc_task_fn bogus;
    void *addr = not_code;
    memcpy(&bogus, &addr, sizeof bogus);
    CHECK_RC(pc_executor_submit(ex, bogus, NULL, &f), PC_VALUE);
    CHECK_MSG(strstr(pc_last_error(), "not code"), "%s", pc_last_error());
    CHECK(f == NULL);
    size_t big = (size_t)INT_MAX + 16;
    void *huge = mmap(NULL, big, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    CHECK(huge != MAP_FAILED);
    CHECK_RC(pc_executor_submit_copy(ex, t_item, huge, big, &f), PC_VALUE);
    CHECK_MSG(strstr(pc_last_error(), "MPI's limit"), "%s", pc_last_error());
    munmap(huge, big);
    int32_t x = 5;
    void *r;
    CHECK_OK(pc_executor_submit_copy(ex, t_item, &x, sizeof x, &f));
    CHECK_OK(pc_future_result(f, 60, &r));
    CHECK_EQ((intptr_t)r, 22);
    pc_future_release(f);
    CHECK_OK(pc_executor_shutdown(ex, 1, 0));
    CHECK_RC(pc_executor_submit(ex, t_square, NULL, &f), PC_SHUTDOWN);
    pc_executor_free(ex);
}

// The client does not spin while its tasks run or while it has none.
TEST(idle_client_sleeps) {
    pc_executor *ex = executor(0);
    if (!ex) return;
    pc_future *f;
    double c0 = cpu_seconds();
    CHECK_OK(pc_executor_submit(ex, t_sleep, (void *)(intptr_t)800, &f));
    CHECK_OK(pc_future_result(f, 60, NULL));
    pc_future_release(f);
    double busy = cpu_seconds() - c0;
    c0 = cpu_seconds();
    pc_sleep(0.5);
    double idle = cpu_seconds() - c0;
    // Polling without naps costs 0.12 s here, with them 0.02 s.
    CHECK_MSG(busy < 0.08, "client used %.3f s of CPU over a 0.8 s task", busy);
    CHECK_MSG(idle < 0.1, "client used %.3f s of CPU idle for 0.5 s", idle);
    pc_executor_free(ex);
}

// A task that SIGKILLs the serving rank itself (its pool worker's parent).
static void *t_kill_rank(void *arg) {
    (void)arg;
    kill(getppid(), SIGKILL);
    pc_sleep(5);
    return NULL;
}

// A serving rank that dies ends the MPI job (Open MPI 4.1), even with
// MPI_ERRORS_RETURN: mpirun kills rank 0 and says "exited on signal 9
// (Killed)", which is what the ctest entry looks for; rank 0 never sees
// its future end. (Without MPI, a skip.)
TEST(killed_rank_ends_job) {
#ifdef PYCONC_MPI
    int level;
    MPI_Init_thread(NULL, NULL, MPI_THREAD_MULTIPLE, &level);
    MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);     // the dup inherits it
#endif
    pc_executor *ex = executor(0);
    if (!ex) return;
    pc_future *f;
    CHECK_OK(pc_executor_submit(ex, t_kill_rank, NULL, &f));
    int rc = pc_future_result(f, 60, NULL);
    fprintf(stderr, "the job went on: rank 0's future says %s\n", pc_strerror(rc));
    CHECK(0);
}

// >>pool: the MPIPoolExecutor's cases (pool_*), each run under mpirun -np 1
// and without mpirun (a singleton): the workers are spawned.

// 10,000 items in chunks over 2 spawned workers come back right and in order.
TEST(pool_map_in_order) {
    pc_executor *ex = pool_executor(2, 0);
    if (!ex) return;
    map_then_tasks(ex, 7, -900, 100);
}

// A task that segfaults on a spawned worker fails its own future only.
TEST(pool_segfault_fails_one_future) {
    pc_executor *ex = pool_executor(2, 0);
    if (!ex) return;
    enum { N = 12 };
    pc_future *fs[N];
    for (intptr_t i = 0; i < N; i++)
        CHECK_OK(pc_executor_submit(ex, t_crash_on_5, (void *)i, &fs[i]));
    for (intptr_t i = 0; i < N; i++) {
        void *r;
        int rc = pc_future_result(fs[i], 60, &r);
        if (i == 5) {
            CHECK_RC(rc, PC_BROKEN);
            CHECK_MSG(strstr(pc_last_error(), "SIGSEGV"), "%s", pc_last_error());
        } else {
            CHECK_OK(rc);
            CHECK_EQ((intptr_t)r, i + 100);
        }
        pc_future_release(fs[i]);
    }
    pc_executor_free(ex);
}

// Which processes ran the task: the pool worker and the spawned worker
// that forked it.
static void *t_pids(void *arg) {
    (void)arg;
    return (void *)(intptr_t)(((int64_t)getppid() << 32) | (int64_t)getpid());
}

// Gone and reaped (no zombie left) within 10 s.
static int gone(pid_t pid) {
    for (int i = 0; i < 1000; i++) {
        if (kill(pid, 0) != 0 && errno == ESRCH) return 1;
        pc_sleep(0.01);
    }
    return 0;
}

// Shutdown ends every spawned worker and its pool worker: each pid is gone
// (reaped, not a zombie) after pc_executor_free.
TEST(pool_shutdown_ends_workers) {
    enum { W = 2, N = 200 };
    pc_executor *ex = pool_executor(W, 0);
    if (!ex) return;
    pid_t pids[2 * N];
    int npids = 0;
    pc_future *fs[N];
    for (int i = 0; i < N; i++) CHECK_OK(pc_executor_submit(ex, t_pids, NULL, &fs[i]));
    for (int i = 0; i < N; i++) {
        void *r;
        CHECK_OK(pc_future_result(fs[i], 60, &r));
        int64_t v = (int64_t)(intptr_t)r;
        pid_t two[2] = {(pid_t)(v >> 32), (pid_t)(v & 0xffffffff)};
        for (int k = 0; k < 2; k++) {
            int seen = 0;
            for (int j = 0; j < npids; j++) seen |= pids[j] == two[k];
            if (!seen) pids[npids++] = two[k];
        }
        pc_future_release(fs[i]);
    }
    CHECK_MSG(npids >= 2 && npids <= 2 * W, "%d processes ran the tasks", npids);
    for (int j = 0; j < npids; j++) CHECK_MSG(kill(pids[j], 0) == 0, "pid %d", (int)pids[j]);
    pc_executor_free(ex);
    for (int j = 0; j < npids; j++) CHECK_MSG(gone(pids[j]), "pid %d still there", (int)pids[j]);
}

int main(int argc, char **argv) {
    int rc = pct_main(argc, argv);
#ifdef PYCONC_MPI
    int up = 0, down = 0;
    MPI_Initialized(&up);
    MPI_Finalized(&down);
    if (up && !down) MPI_Finalize();
#endif
    return rc;
}

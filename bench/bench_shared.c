/* bench_shared.c - pyconc_process.h's shared objects (Lock, Value, Condition)
   against the raw process-shared primitives and against Python's
   multiprocessing.

   The same work in one run: a pyconc shared object, the raw primitive a C
   programmer would put in a shared mapping instead, and CPython's
   multiprocessing (bench/py/shared_ops.py; skipped with a message if
   python3 is absent). pyconc and raw trials alternate (A B A B ...) and
   each keeps its median.

       bench_shared           the full run (several seconds)
       bench_shared quick     fewer operations, for a smoke test

   Cases:
   - mp Lock acquire+release, uncontended, against a robust process-shared
     pthread_mutex in a shared mapping (what pc_mp_lock is made of) and
     against multiprocessing.Lock;
   - Value locked increment by two processes at once (pc_mp_value_add_int64)
     against a robust mutex around an int64 in a shared mapping and against
     `with v.get_lock(): v.value += 1` on a multiprocessing.Value;
   - Condition ping-pong between two processes (one round trip = two
     handoffs) against the same handoff over a raw futex word in a shared
     mapping (FUTEX_WAIT/FUTEX_WAKE without the PRIVATE flag) and against
     multiprocessing.Condition;
   - PC_OWNER_DEAD detection: a child takes the lock and says so, a thread
     of this process blocks acquiring it, and the time runs from the
     SIGKILL of the child until that thread's acquire returns
     PC_OWNER_DEAD; the raw robust mutex does the same (EOWNERDEAD).
     Python has no peer: its Lock never reports a dead holder.
   An idle second thread stays alive the whole time: glibc skips atomics in
   a single-threaded process, which would flatter the raw figures.

   The program ends with the targets and whether each is met; it exits 1
   only if some operation failed, never because of a figure. */
#define PYCONC_IMPLEMENTATION
#define PYCONC_PROCESS_IMPLEMENTATION
#include "pyconc_process.h"

#include "bench.h"

#include <errno.h>
#include <linux/futex.h>
#include <signal.h>
#include <stdint.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>

static int rounds(void) { return pcb_quick ? 5 : 11; }

#define PY "Python multiprocessing"

static double python(const char *args) {
    char buf[128];
    snprintf(buf, sizeof buf, "%s%s", args, pcb_quick ? " quick" : "");
    return pcb_python("shared_ops.py", buf);
}

// ---------------------------------------------------------------------------
// >>raw  The peers' pieces: a shared mapping, a robust process-shared
// mutex in it, a futex word.

static void *shared_map(size_t size) {
    void *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) {
        perror("bench: mmap");
        exit(1);
    }
    return memset(p, 0, size);
}

static void robust_mutex_init(pthread_mutex_t *m) {
    pthread_mutexattr_t a;
    pthread_mutexattr_init(&a);
    pthread_mutexattr_setpshared(&a, PTHREAD_PROCESS_SHARED);
    pthread_mutexattr_setrobust(&a, PTHREAD_MUTEX_ROBUST);
    if (pthread_mutex_init(m, &a)) {
        fprintf(stderr, "bench: pthread_mutex_init failed\n");
        exit(1);
    }
    pthread_mutexattr_destroy(&a);
}

// Shared between processes: no FUTEX_PRIVATE_FLAG.
static void futex_wait(uint32_t *word, uint32_t value) {
    syscall(SYS_futex, word, FUTEX_WAIT, value, NULL, NULL, 0);
}

static void futex_wake(uint32_t *word, int n) {
    syscall(SYS_futex, word, FUTEX_WAKE, n, NULL, NULL, 0);
}

static uint32_t load(const uint32_t *p) { return __atomic_load_n(p, __ATOMIC_SEQ_CST); }
static void store(uint32_t *p, uint32_t v) { __atomic_store_n(p, v, __ATOMIC_SEQ_CST); }

// ---------------------------------------------------------------------------
// >>lock  Uncontended acquire+release pairs, one process. As in
// bench_threading, pyconc is called through volatile function pointers (a
// program calls it from other files than the one holding the
// implementation; pthread calls go through the PLT the same way).

#define LOCK_ITERS 1000000L

static int (*volatile mp_lock_acquire_p)(pc_mp_lock *, double) = pc_mp_lock_acquire;
static int (*volatile mp_lock_release_p)(pc_mp_lock *) = pc_mp_lock_release;

static double trial_pc_lock(void *ctx) {
    pc_mp_lock *lock = (pc_mp_lock *)ctx;
    long n = pcb_scaled(LOCK_ITERS);
    int bad = 0;
    double t0 = pcb_now();
    for (long i = 0; i < n; i++) {
        bad |= mp_lock_acquire_p(lock, PC_FOREVER);
        bad |= mp_lock_release_p(lock);
    }
    double dt = pcb_now() - t0;
    pcb_note_failure("pc_mp_lock acquire/release", bad);
    return dt / (double)n;
}

static double trial_robust_mutex(void *ctx) {
    pthread_mutex_t *m = (pthread_mutex_t *)ctx;
    long n = pcb_scaled(LOCK_ITERS);
    int bad = 0;
    double t0 = pcb_now();
    for (long i = 0; i < n; i++) {
        bad |= pthread_mutex_lock(m);
        bad |= pthread_mutex_unlock(m);
    }
    double dt = pcb_now() - t0;
    if (bad) pcb_failures++;
    return dt / (double)n;
}

static void case_lock(void) {
    const char *name = "mp Lock acquire+release, uncontended", *raw = "robust pthread_mutex";
    pc_mp_lock *lock = pc_mp_lock_new();
    pthread_mutex_t *m = (pthread_mutex_t *)shared_map(sizeof *m);
    double ours, peer, py;
    if (!lock) {
        pcb_note_failure("pc_mp_lock_new", PC_OS);
        return;
    }
    robust_mutex_init(m);
    pcb_duel(trial_pc_lock, lock, trial_robust_mutex, m, rounds(), &ours, &peer);
    pcb_row(name, ours, raw, peer);
    pcb_target(name, raw, ours, peer, 1.2);
    py = python("lock");
    pcb_row(name, ours, PY, py);
    pcb_target(name, PY, ours, py, 0.05);
    pthread_mutex_destroy(m);
    munmap(m, sizeof *m);
    pc_mp_lock_free(lock);
}

// ---------------------------------------------------------------------------
// >>pingpong  Round trips with a child process forked once per side. The
// word turn says whose move it is: PARENT's, CHILD's, or STOP (the child
// leaves).

enum { PARENT = 0, CHILD = 1, STOP = 2 };

#define TRIPS 20000L

typedef struct pingpong {
    uint32_t *turn;             // in a shared mapping
    pc_mp_condition *cond;      // pyconc's side; NULL on the raw side
    pid_t child;
} pingpong;

static void pc_partner(pingpong *p) {
    int bad = pc_mp_condition_acquire(p->cond, PC_FOREVER);
    for (;;) {
        uint32_t t;
        while ((t = load(p->turn)) == PARENT) bad |= pc_mp_condition_wait(p->cond, PC_FOREVER);
        if (t == STOP) break;
        store(p->turn, PARENT);
        bad |= pc_mp_condition_notify(p->cond, 1);
    }
    bad |= pc_mp_condition_release(p->cond);
    _exit(bad ? 1 : 0);
}

static void raw_partner(pingpong *p) {
    for (;;) {
        uint32_t t = load(p->turn);
        if (t == STOP) break;
        if (t == PARENT) {
            futex_wait(p->turn, PARENT);
            continue;
        }
        store(p->turn, PARENT);
        futex_wake(p->turn, 1);
    }
    _exit(0);
}

static void pingpong_start(pingpong *p, int pyconc) {
    p->turn = (uint32_t *)shared_map(sizeof *p->turn);
    p->cond = pyconc ? pc_mp_condition_new(NULL, NULL) : NULL;
    if (pyconc && !p->cond) {
        pcb_note_failure("pc_mp_condition_new", PC_OS);
        exit(1);
    }
    p->child = fork();
    if (p->child < 0) {
        perror("bench: fork");
        exit(1);
    }
    if (p->child == 0) {
        if (pyconc) pc_partner(p);
        raw_partner(p);
    }
}

static void pingpong_stop(pingpong *p) {
    int st = 0;
    if (p->cond) {
        pc_mp_condition_acquire(p->cond, PC_FOREVER);
        store(p->turn, STOP);
        pc_mp_condition_notify(p->cond, 1);
        pc_mp_condition_release(p->cond);
    } else {
        store(p->turn, STOP);
        futex_wake(p->turn, 1);
    }
    if (waitpid(p->child, &st, 0) != p->child || !WIFEXITED(st) || WEXITSTATUS(st) != 0)
        pcb_note_failure("ping-pong partner", PC_OS);
    pc_mp_condition_free(p->cond);
    munmap(p->turn, sizeof *p->turn);
}

static double trial_pc_pingpong(void *ctx) {
    pingpong *p = (pingpong *)ctx;
    long n = pcb_scaled(TRIPS);
    int bad = pc_mp_condition_acquire(p->cond, PC_FOREVER);
    double t0 = pcb_now();
    for (long i = 0; i < n; i++) {
        store(p->turn, CHILD);
        bad |= pc_mp_condition_notify(p->cond, 1);
        while (load(p->turn) != PARENT) bad |= pc_mp_condition_wait(p->cond, PC_FOREVER);
    }
    double dt = pcb_now() - t0;
    bad |= pc_mp_condition_release(p->cond);
    pcb_note_failure("pc_mp_condition ping-pong", bad);
    return dt / (double)n;
}

static double trial_raw_pingpong(void *ctx) {
    pingpong *p = (pingpong *)ctx;
    long n = pcb_scaled(TRIPS);
    double t0 = pcb_now();
    for (long i = 0; i < n; i++) {
        uint32_t t;
        store(p->turn, CHILD);
        futex_wake(p->turn, 1);
        while ((t = load(p->turn)) != PARENT) futex_wait(p->turn, t);
    }
    return (pcb_now() - t0) / (double)n;
}

static void case_condition(void) {
    const char *name = "Condition ping-pong, 2 processes", *raw = "raw shared futex word";
    pingpong ours_pp, raw_pp;
    double ours, peer, py;
    pingpong_start(&ours_pp, 1);
    pingpong_start(&raw_pp, 0);
    pcb_duel(trial_pc_pingpong, &ours_pp, trial_raw_pingpong, &raw_pp, rounds(), &ours, &peer);
    pingpong_stop(&ours_pp);
    pingpong_stop(&raw_pp);
    pcb_row(name, ours, raw, peer);
    pcb_target(name, raw, ours, peer, 1.2);
    py = python("condition");
    pcb_row(name, ours, PY, py);
}

// ---------------------------------------------------------------------------
// >>owner-dead  From a holder's SIGKILL to the return of the acquire that
// was blocked behind it. Per death: a child takes the lock and says so on
// a socket (then reads it, so that it also ends if this process does); a
// thread here blocks acquiring; once /proc shows that thread asleep, the
// clock starts and the child is killed. Forking and reaping are not timed.

#define DEATHS 40

typedef struct dead_ctx {
    pc_mp_lock *lock;           // pyconc's side; NULL on the raw side
    pthread_mutex_t *m;         // the raw side, in a shared mapping
    int32_t tid;                // the acquirer's thread id, once it runs
    double woke;                // when its acquire returned
    int rc;                     // what it returned (PC_OWNER_DEAD, EOWNERDEAD)
} dead_ctx;

static int dead_take(dead_ctx *d) {
    return d->lock ? pc_mp_lock_acquire(d->lock, PC_FOREVER) : pthread_mutex_lock(d->m);
}

// The acquirer: records when its acquire returned, then repairs and
// releases, so that the lock is clean for the next death.
static void *dead_acquirer(void *arg) {
    dead_ctx *d = (dead_ctx *)arg;
    __atomic_store_n(&d->tid, (int32_t)syscall(SYS_gettid), __ATOMIC_SEQ_CST);
    d->rc = dead_take(d);
    d->woke = pcb_now();
    if (d->lock) {
        if (d->rc == PC_OWNER_DEAD) pc_mp_lock_consistent(d->lock);
        if (d->rc == PC_OK || d->rc == PC_OWNER_DEAD) pc_mp_lock_release(d->lock);
    } else {
        if (d->rc == EOWNERDEAD) pthread_mutex_consistent(d->m);
        if (d->rc == 0 || d->rc == EOWNERDEAD) pthread_mutex_unlock(d->m);
    }
    return NULL;
}

static void dead_holder(dead_ctx *d, int fd) {
    char c = 'r';
    int rc = dead_take(d);
    if (rc != 0 || write(fd, &c, 1) != 1) _exit(1);
    while (read(fd, &c, 1) < 0 && errno == EINTR) {
    }
    _exit(0);
}

// 1 once thread tid is asleep (state S in /proc), that is, in the acquire.
static int thread_asleep(int32_t tid) {
    char path[64], buf[256];
    snprintf(path, sizeof path, "/proc/self/task/%d/stat", (int)tid);
    FILE *f = fopen(path, "r");
    if (!f) return 0;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    char *paren = strrchr(buf, ')');
    return paren && paren[1] == ' ' && paren[2] == 'S';
}

static void wait_asleep(dead_ctx *d) {
    int32_t tid;
    while ((tid = __atomic_load_n(&d->tid, __ATOMIC_SEQ_CST)) == 0) sched_yield();
    while (!thread_asleep(tid)) sched_yield();
}

// One death; seconds from the kill to the acquirer's return, NAN on failure.
static double one_death(dead_ctx *d) {
    int sv[2], st;
    char c;
    pthread_t t;
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv)) return NAN;
    pid_t pid = fork();
    if (pid == 0) {
        close(sv[0]);
        dead_holder(d, sv[1]);
    }
    close(sv[1]);
    if (pid < 0 || read(sv[0], &c, 1) != 1) {
        close(sv[0]);
        if (pid > 0) waitpid(pid, &st, 0);
        return NAN;
    }
    d->tid = 0;
    d->rc = -1;
    pthread_create(&t, NULL, dead_acquirer, d);
    wait_asleep(d);
    double t0 = pcb_now();
    kill(pid, SIGKILL);
    pthread_join(t, NULL);
    double dt = d->woke - t0;
    close(sv[0]);
    waitpid(pid, &st, 0);
    int want = d->lock ? PC_OWNER_DEAD : EOWNERDEAD;
    return d->rc == want ? dt : NAN;
}

static double trial_death(void *ctx) {
    dead_ctx *d = (dead_ctx *)ctx;
    int n = pcb_quick ? DEATHS / 4 : DEATHS;
    double sum = 0;
    for (int i = 0; i < n; i++) {
        double dt = one_death(d);
        if (dt != dt) {
            pcb_note_failure(d->lock ? "PC_OWNER_DEAD detection" : "EOWNERDEAD detection",
                             PC_OS);
            return NAN;
        }
        sum += dt;
    }
    return sum / n;
}

static void case_owner_dead(void) {
    const char *name = "PC_OWNER_DEAD detection after SIGKILL", *raw = "robust pthread_mutex";
    dead_ctx ours_d, raw_d;
    double ours, peer;
    memset(&ours_d, 0, sizeof ours_d);
    memset(&raw_d, 0, sizeof raw_d);
    ours_d.lock = pc_mp_lock_new();
    if (!ours_d.lock) {
        pcb_note_failure("pc_mp_lock_new", PC_OS);
        return;
    }
    raw_d.m = (pthread_mutex_t *)shared_map(sizeof *raw_d.m);
    robust_mutex_init(raw_d.m);
    pcb_duel(trial_death, &ours_d, trial_death, &raw_d, rounds(), &ours, &peer);
    pcb_row(name, ours, raw, peer);
    pcb_target_budget(name, ours, 10e-6);
    pthread_mutex_destroy(raw_d.m);
    munmap(raw_d.m, sizeof *raw_d.m);
    pc_mp_lock_free(ours_d.lock);
}

// ---------------------------------------------------------------------------
// >>value  Locked increments of one shared counter by two processes at
// once, as `with v.get_lock(): v.value += 1` in Python: both children are
// forked first and start on one word; the time runs from that word to the
// later child's end.

#define VALUE_ITERS 200000L

typedef struct value_ctx {
    pc_mp_value *v;             // ours: pc_mp_value_add_int64
    struct raw_counter {        // the peer: a robust mutex around an int64
        pthread_mutex_t m;
        int64_t n;
    } *raw;
    uint32_t *go;
} value_ctx;

static int value_child(const value_ctx *c, long n) {
    while (!__atomic_load_n(c->go, __ATOMIC_ACQUIRE)) pc__cpu_relax();
    int bad = 0;
    for (long i = 0; i < n; i++) {
        if (c->v) {
            bad |= pc_mp_value_add_int64(c->v, 1, NULL);
        } else {
            bad |= pthread_mutex_lock(&c->raw->m);
            c->raw->n++;
            bad |= pthread_mutex_unlock(&c->raw->m);
        }
    }
    return bad ? 1 : 0;
}

static double trial_value(void *ctx) {
    value_ctx *c = (value_ctx *)ctx;
    long n = pcb_scaled(VALUE_ITERS);
    pid_t kids[2];
    __atomic_store_n(c->go, 0u, __ATOMIC_RELEASE);
    fflush(NULL);
    for (int i = 0; i < 2; i++) {
        kids[i] = fork();
        if (kids[i] == 0) _exit(value_child(c, n));
        if (kids[i] < 0) {
            perror("bench: fork");
            exit(1);
        }
    }
    double t0 = pcb_now();
    __atomic_store_n(c->go, 1u, __ATOMIC_RELEASE);
    int bad = 0;
    for (int i = 0; i < 2; i++) {
        int st = 0;
        while (waitpid(kids[i], &st, 0) < 0 && errno == EINTR) {}
        bad |= !WIFEXITED(st) || WEXITSTATUS(st) != 0;
    }
    double dt = pcb_now() - t0;
    if (bad) pcb_failures++;
    return dt / (2.0 * (double)n);
}

static void case_value(void) {
    const char *name = "Value locked increment, 2 processes";
    const char *raw = "robust pthread_mutex";
    pc_mp_value_desc d;
    memset(&d, 0, sizeof d);
    d.typecode = "q";
    value_ctx ours_c, raw_c;
    memset(&ours_c, 0, sizeof ours_c);
    memset(&raw_c, 0, sizeof raw_c);
    ours_c.v = pc_mp_value_new(&d);
    if (!ours_c.v) {
        pcb_note_failure("pc_mp_value_new", PC_OS);
        return;
    }
    raw_c.raw = (struct raw_counter *)shared_map(sizeof *raw_c.raw);
    robust_mutex_init(&raw_c.raw->m);
    ours_c.go = raw_c.go = (uint32_t *)shared_map(sizeof(uint32_t));
    double ours, peer, py;
    pcb_duel(trial_value, &ours_c, trial_value, &raw_c, rounds(), &ours, &peer);
    pcb_row(name, ours, raw, peer);
    py = python("value");
    pcb_row(name, ours, PY, py);
    pcb_target(name, PY, ours, py, 0.05);
    pthread_mutex_destroy(&raw_c.raw->m);
    munmap(raw_c.raw, sizeof *raw_c.raw);
    munmap(ours_c.go, sizeof(uint32_t));
    pc_mp_value_free(ours_c.v);
}

// ---------------------------------------------------------------------------
// >>cases  One function per case, each printing its rows and adding its
// targets; a new shared object's case is one more entry.

static void (*const cases[])(void) = {case_lock, case_value, case_condition, case_owner_dead};

int main(int argc, char **argv) {
    pcb_parse_quick(argc, argv);
    pcb_idle_start();
    pcb_begin("shared", "pyconc_process.h shared objects against raw process-shared "
              "primitives and Python's multiprocessing", rounds());
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) cases[i]();
    pcb_idle_stop_join();
    pcb_end();
    if (pcb_failures) fprintf(stderr, "bench: %d operations failed\n", pcb_failures);
    return pcb_failures ? 1 : 0;
}

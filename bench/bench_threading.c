/* bench_threading.c - pyconc.h against raw pthreads and against Python 3.

   The same work three ways in one run: pyconc, the plain pthread code a C
   programmer would write instead, and CPython's threading module (through
   bench/py/threading_ops.py; skipped with a message if python3 is absent).
   pyconc and pthreads trials alternate (A B A B ...) and each keeps its
   median; Python reports the median of its own trials.

       bench_threading            the full run (a few seconds)
       bench_threading quick      fewer rounds, for a smoke test

   Cases: uncontended Lock and RLock acquire+release; contended Lock (2, 4
   and 8 threads, against a plain futex mutex); Condition ping-pong (one
   round trip = two wake-ups; also against a raw futex ping-pong, the floor
   of a handoff between two threads); Event handoff (the same with two
   Events); Thread create+start+join; Timer(1 ms) oversleep, median and p99.
   An idle second thread stays alive the whole time: glibc skips atomics in
   a single-threaded process, which would flatter the pthread figures.

   The program ends with the targets and whether each is met; it exits 1
   only if some operation failed, never because of a figure. */
#define PYCONC_IMPLEMENTATION
#include "pyconc.h"

#include "bench.h"

#include <errno.h>
#if defined(__linux__)
#include <sys/syscall.h>
#endif
#if defined(__linux__) && defined(SYS_futex)
#define RAW_FUTEX 1
#else
#define RAW_FUTEX 0
#endif

static int rounds(void) { return pcb_quick ? 3 : 11; }

// ---------------------------------------------------------------------------
// >>lock  Uncontended acquire+release pairs. A program usually calls the
// library from other files than the one holding the implementation, so the
// main figures call through volatile function pointers, which the compiler
// cannot inline (pthread calls go through the PLT the same way); the
// "inlined" rows show what one file that holds both gets.

#define LOCK_ITERS 1000000L

// The entry points the opaque trials call; volatile, so every call is real.
static int (*volatile pc_lock_acquire_p)(pc_lock *, double) = pc_lock_acquire;
static int (*volatile pc_lock_release_p)(pc_lock *) = pc_lock_release;
static int (*volatile pc_rlock_acquire_p)(pc_rlock *, double) = pc_rlock_acquire;
static int (*volatile pc_rlock_release_p)(pc_rlock *) = pc_rlock_release;

static double trial_pc_lock(void *ctx) {
    pc_lock *lock = (pc_lock *)ctx;
    long n = pcb_scaled(LOCK_ITERS);
    int bad = 0;
    double t0 = pcb_now();
    for (long i = 0; i < n; i++) {
        bad |= pc_lock_acquire_p(lock, PC_FOREVER);
        bad |= pc_lock_release_p(lock);
    }
    double dt = pcb_now() - t0;
    pcb_note_failure("pc_lock acquire/release", bad);
    return dt / (double)n;
}

static double trial_pc_rlock(void *ctx) {
    pc_rlock *r = (pc_rlock *)ctx;
    long n = pcb_scaled(LOCK_ITERS);
    int bad = 0;
    double t0 = pcb_now();
    for (long i = 0; i < n; i++) {
        bad |= pc_rlock_acquire_p(r, PC_FOREVER);
        bad |= pc_rlock_release_p(r);
    }
    double dt = pcb_now() - t0;
    pcb_note_failure("pc_rlock acquire/release", bad);
    return dt / (double)n;
}

static double trial_pc_lock_inlined(void *ctx) {
    pc_lock *lock = (pc_lock *)ctx;
    long n = pcb_scaled(LOCK_ITERS);
    int bad = 0;
    double t0 = pcb_now();
    for (long i = 0; i < n; i++) {
        bad |= pc_lock_acquire(lock, PC_FOREVER);
        bad |= pc_lock_release(lock);
    }
    double dt = pcb_now() - t0;
    pcb_note_failure("pc_lock acquire/release", bad);
    return dt / (double)n;
}

static double trial_pc_rlock_inlined(void *ctx) {
    pc_rlock *r = (pc_rlock *)ctx;
    long n = pcb_scaled(LOCK_ITERS);
    int bad = 0;
    double t0 = pcb_now();
    for (long i = 0; i < n; i++) {
        bad |= pc_rlock_acquire(r, PC_FOREVER);
        bad |= pc_rlock_release(r);
    }
    double dt = pcb_now() - t0;
    pcb_note_failure("pc_rlock acquire/release", bad);
    return dt / (double)n;
}

static double trial_pthread_mutex(void *ctx) {
    pthread_mutex_t *mu = (pthread_mutex_t *)ctx;
    long n = pcb_scaled(LOCK_ITERS);
    int bad = 0;
    double t0 = pcb_now();
    for (long i = 0; i < n; i++) {
        bad |= pthread_mutex_lock(mu);
        bad |= pthread_mutex_unlock(mu);
    }
    double dt = pcb_now() - t0;
    pcb_note_failure("pthread_mutex lock/unlock", bad);
    return dt / (double)n;
}

// ---------------------------------------------------------------------------
// >>contended  N threads each take the lock, bump a shared counter and let
// go, with nothing outside the lock (the worst case: every release has a
// taker waiting), started together. The peer is Drepper's "mutex2" (Futexes
// Are Tricky), the plain three-state futex mutex without spinning. The
// "work outside" row adds a little private work between the pairs.

#define CONTENDED_PAIRS 2000000L  // pairs in a trial, shared among the threads
#define CONTENDED_ROUNDS 15       // the rows swing with the scheduler: more rounds
#define OUTSIDE_WORK 40           // dependent steps between pairs in the "work outside" row

#if RAW_FUTEX
static void mutex2_lock(uint32_t *m) {
    uint32_t c = 0;
    if (__atomic_compare_exchange_n(m, &c, 1, 0, __ATOMIC_ACQUIRE, __ATOMIC_RELAXED)) return;
    if (c != 2) c = __atomic_exchange_n(m, 2, __ATOMIC_ACQUIRE);
    while (c != 0) {
        syscall(SYS_futex, m, 128 /* FUTEX_WAIT_PRIVATE */, 2, NULL, NULL, 0);
        c = __atomic_exchange_n(m, 2, __ATOMIC_ACQUIRE);
    }
}

static void mutex2_unlock(uint32_t *m) {
    if (__atomic_fetch_sub(m, 1, __ATOMIC_RELEASE) != 1) {
        __atomic_store_n(m, 0, __ATOMIC_RELEASE);
        syscall(SYS_futex, m, 129 /* FUTEX_WAKE_PRIVATE */, 1, NULL, NULL, 0);
    }
}
#endif

// The lock and the data it guards share a cache line of their own, the
// same for both locks; the trial's settings, read by every pair, live apart.
typedef struct contended {
    int use_pc, threads, outside;
    long per_thread;
    uint32_t go;
    struct { _Alignas(64) pc_lock lock; uint32_t mutex2; volatile long counter; } guarded;
    char pad[64];
} contended;

static unsigned outside_work(unsigned x, int steps) {
    for (int i = 0; i < steps; i++) x = x * 1103515245u + 12345u;
    return x;
}

static void *contended_main(void *arg) {
    contended *c = (contended *)arg;
    const int use_pc = c->use_pc, outside = c->outside;
    const long n = c->per_thread;
    unsigned x = 1;
    while (!__atomic_load_n(&c->go, __ATOMIC_ACQUIRE)) pc__cpu_relax();
    for (long i = 0; i < n; i++) {
        if (use_pc) pc_lock_acquire(&c->guarded.lock, PC_FOREVER);
#if RAW_FUTEX
        else mutex2_lock(&c->guarded.mutex2);
#endif
        c->guarded.counter = c->guarded.counter + 1;
        if (use_pc) pc_lock_release(&c->guarded.lock);
#if RAW_FUTEX
        else mutex2_unlock(&c->guarded.mutex2);
#endif
        if (outside) x = outside_work(x, outside);
    }
    return (void *)(uintptr_t)(x & 1);
}

static double contended_run(contended *c) {
    pthread_t ts[8];
    c->per_thread = pcb_scaled(CONTENDED_PAIRS) / c->threads;
    c->guarded.counter = 0;
    c->guarded.mutex2 = 0;
    c->go = 0;
    pc_lock_init(&c->guarded.lock);
    for (int i = 0; i < c->threads; i++) pthread_create(&ts[i], NULL, contended_main, c);
    double t0 = pcb_now();
    __atomic_store_n(&c->go, 1, __ATOMIC_RELEASE);
    for (int i = 0; i < c->threads; i++) pthread_join(ts[i], NULL);
    double dt = pcb_now() - t0;
    pcb_note_failure("contended lock counter", c->guarded.counter != c->per_thread * c->threads);
    return dt / (double)(c->per_thread * c->threads);
}

static double trial_pc_contended(void *ctx) {
    contended *c = (contended *)ctx;
    c->use_pc = 1;
    return contended_run(c);
}

static double trial_mutex2_contended(void *ctx) {
    contended *c = (contended *)ctx;
    c->use_pc = 0;
    return contended_run(c);
}

// ---------------------------------------------------------------------------
// >>condition  Ping-pong: main sets turn=1 and waits for 0, the partner
// waits for 1 and sets 0. Both hold the lock except inside wait, so every
// round trip is two notify + two wake-ups. One untimed exchange first, so
// the partner's start-up is not in the figure.

#define PINGPONG_ITERS 4000L

typedef struct pc_pingpong {
    pc_lock lock;
    pc_condition cond;
    int turn;
    long n;
    int bad;
} pc_pingpong;

static int pc_pingpong_partner(void *arg) {
    pc_pingpong *p = (pc_pingpong *)arg;
    int bad = pc_condition_acquire(&p->cond, PC_FOREVER);
    for (long i = 0; i <= p->n; i++) {
        while (p->turn != 1) bad |= pc_condition_wait(&p->cond, PC_FOREVER);
        p->turn = 0;
        bad |= pc_condition_notify(&p->cond, 1);
    }
    bad |= pc_condition_release(&p->cond);
    p->bad = bad;
    return 0;
}

// One exchange from main's side; the caller holds the condition's lock.
static int pc_pingpong_serve(pc_pingpong *p) {
    int bad = 0;
    p->turn = 1;
    bad |= pc_condition_notify(&p->cond, 1);
    while (p->turn != 0) bad |= pc_condition_wait(&p->cond, PC_FOREVER);
    return bad;
}

// own_rlock: Python's default Condition() (its own RLock), else Condition(Lock()).
static double pc_pingpong_run(int own_rlock) {
    pc_pingpong p;
    memset(&p, 0, sizeof p);
    pc_lock_init(&p.lock);
    if (own_rlock) pc_condition_init(&p.cond);
    else pc_condition_init_lock(&p.cond, &p.lock);
    p.n = pcb_scaled(PINGPONG_ITERS);
    pc_thread_desc d = {.target = pc_pingpong_partner, .arg = &p};
    pc_thread *t = pc_thread_new(&d);
    if (!t || pc_thread_start(t)) { pcb_note_failure("pc_thread start", PC_OS); return NAN; }
    int bad = pc_condition_acquire(&p.cond, PC_FOREVER);
    bad |= pc_pingpong_serve(&p);
    double t0 = pcb_now();
    for (long i = 0; i < p.n; i++) bad |= pc_pingpong_serve(&p);
    double dt = pcb_now() - t0;
    bad |= pc_condition_release(&p.cond);
    bad |= pc_thread_join(t, PC_FOREVER);
    pc_thread_free(t);
    pcb_note_failure("pc_condition ping-pong", bad | p.bad);
    pc_condition_destroy(&p.cond);
    return dt / (double)p.n;
}

static double trial_pc_pingpong_lock(void *ctx) { (void)ctx; return pc_pingpong_run(0); }
static double trial_pc_pingpong_rlock(void *ctx) { (void)ctx; return pc_pingpong_run(1); }

typedef struct raw_pingpong {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int turn;
    long n;
} raw_pingpong;

static void *raw_pingpong_partner(void *arg) {
    raw_pingpong *p = (raw_pingpong *)arg;
    pthread_mutex_lock(&p->mu);
    for (long i = 0; i <= p->n; i++) {
        while (p->turn != 1) pthread_cond_wait(&p->cv, &p->mu);
        p->turn = 0;
        pthread_cond_signal(&p->cv);
    }
    pthread_mutex_unlock(&p->mu);
    return NULL;
}

static void raw_pingpong_serve(raw_pingpong *p) {
    p->turn = 1;
    pthread_cond_signal(&p->cv);
    while (p->turn != 0) pthread_cond_wait(&p->cv, &p->mu);
}

static double trial_raw_pingpong(void *ctx) {
    (void)ctx;
    raw_pingpong p;
    pthread_t t;
    memset(&p, 0, sizeof p);
    pthread_mutex_init(&p.mu, NULL);
    pthread_cond_init(&p.cv, NULL);
    p.n = pcb_scaled(PINGPONG_ITERS);
    if (pthread_create(&t, NULL, raw_pingpong_partner, &p)) {
        pcb_note_failure("pthread_create", PC_OS);
        return NAN;
    }
    pthread_mutex_lock(&p.mu);
    raw_pingpong_serve(&p);
    double t0 = pcb_now();
    for (long i = 0; i < p.n; i++) raw_pingpong_serve(&p);
    double dt = pcb_now() - t0;
    pthread_mutex_unlock(&p.mu);
    pthread_join(t, NULL);
    pthread_cond_destroy(&p.cv);
    pthread_mutex_destroy(&p.mu);
    return dt / (double)p.n;
}

#if RAW_FUTEX
// The floor: one word, each side flips it and wakes the other (one sleep
// and one wake call per handoff, no lock).
typedef struct futex_pingpong { uint32_t turn; long n; } futex_pingpong;

static void futex_pingpong_pass(uint32_t *turn, uint32_t to, uint32_t mine) {
    __atomic_store_n(turn, to, __ATOMIC_SEQ_CST);
    syscall(SYS_futex, turn, 129 /* FUTEX_WAKE_PRIVATE */, 1, NULL, NULL, 0);
    uint32_t t;
    while ((t = __atomic_load_n(turn, __ATOMIC_SEQ_CST)) != mine)
        syscall(SYS_futex, turn, 128 /* FUTEX_WAIT_PRIVATE */, t, NULL, NULL, 0);
}

static void *futex_pingpong_partner(void *arg) {
    futex_pingpong *p = (futex_pingpong *)arg;
    uint32_t t;
    while ((t = __atomic_load_n(&p->turn, __ATOMIC_SEQ_CST)) != 1)
        syscall(SYS_futex, &p->turn, 128, t, NULL, NULL, 0);
    for (long i = 0; i < p->n; i++) futex_pingpong_pass(&p->turn, 0, 1);
    __atomic_store_n(&p->turn, 0, __ATOMIC_SEQ_CST);
    syscall(SYS_futex, &p->turn, 129, 1, NULL, NULL, 0);
    return NULL;
}

static double trial_futex_pingpong(void *ctx) {
    (void)ctx;
    futex_pingpong p = {0, pcb_scaled(PINGPONG_ITERS)};
    pthread_t t;
    if (pthread_create(&t, NULL, futex_pingpong_partner, &p)) {
        pcb_note_failure("pthread_create", PC_OS);
        return NAN;
    }
    futex_pingpong_pass(&p.turn, 1, 0);        // the untimed first exchange
    double t0 = pcb_now();
    for (long i = 0; i < p.n; i++) futex_pingpong_pass(&p.turn, 1, 0);
    double dt = pcb_now() - t0;
    pthread_join(t, NULL);
    return dt / (double)p.n;
}
#endif

// ---------------------------------------------------------------------------
// >>event  Handoff: main sets go and waits for back; the partner waits for
// go, clears it and sets back. Each side clears the event it waited for
// before the other can set it again, so no set is lost.

typedef struct pc_handoff {
    pc_event go, back;
    long n;
    int bad;
} pc_handoff;

static int pc_handoff_partner(void *arg) {
    pc_handoff *h = (pc_handoff *)arg;
    int bad = 0;
    for (long i = 0; i <= h->n; i++) {
        bad |= pc_event_wait(&h->go, PC_FOREVER);
        pc_event_clear(&h->go);
        pc_event_set(&h->back);
    }
    h->bad = bad;
    return 0;
}

static int pc_handoff_serve(pc_handoff *h) {
    pc_event_set(&h->go);
    int bad = pc_event_wait(&h->back, PC_FOREVER);
    pc_event_clear(&h->back);
    return bad;
}

static double trial_pc_event(void *ctx) {
    (void)ctx;
    pc_handoff h;
    memset(&h, 0, sizeof h);
    pc_event_init(&h.go);
    pc_event_init(&h.back);
    h.n = pcb_scaled(PINGPONG_ITERS);
    pc_thread_desc d = {.target = pc_handoff_partner, .arg = &h};
    pc_thread *t = pc_thread_new(&d);
    if (!t || pc_thread_start(t)) { pcb_note_failure("pc_thread start", PC_OS); return NAN; }
    int bad = pc_handoff_serve(&h);
    double t0 = pcb_now();
    for (long i = 0; i < h.n; i++) bad |= pc_handoff_serve(&h);
    double dt = pcb_now() - t0;
    bad |= pc_thread_join(t, PC_FOREVER);
    pc_thread_free(t);
    pcb_note_failure("pc_event handoff", bad | h.bad);
    return dt / (double)h.n;
}

// The event a C programmer writes by hand: a flag under a mutex, broadcast.
typedef struct raw_event {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int flag;
} raw_event;

static void raw_event_init(raw_event *e) {
    pthread_mutex_init(&e->mu, NULL);
    pthread_cond_init(&e->cv, NULL);
    e->flag = 0;
}

static void raw_event_destroy(raw_event *e) {
    pthread_cond_destroy(&e->cv);
    pthread_mutex_destroy(&e->mu);
}

static void raw_event_set(raw_event *e) {
    pthread_mutex_lock(&e->mu);
    e->flag = 1;
    pthread_cond_broadcast(&e->cv);
    pthread_mutex_unlock(&e->mu);
}

static void raw_event_clear(raw_event *e) {
    pthread_mutex_lock(&e->mu);
    e->flag = 0;
    pthread_mutex_unlock(&e->mu);
}

static void raw_event_wait(raw_event *e) {
    pthread_mutex_lock(&e->mu);
    while (!e->flag) pthread_cond_wait(&e->cv, &e->mu);
    pthread_mutex_unlock(&e->mu);
}

typedef struct raw_handoff {
    raw_event go, back;
    long n;
} raw_handoff;

static void *raw_handoff_partner(void *arg) {
    raw_handoff *h = (raw_handoff *)arg;
    for (long i = 0; i <= h->n; i++) {
        raw_event_wait(&h->go);
        raw_event_clear(&h->go);
        raw_event_set(&h->back);
    }
    return NULL;
}

static void raw_handoff_serve(raw_handoff *h) {
    raw_event_set(&h->go);
    raw_event_wait(&h->back);
    raw_event_clear(&h->back);
}

static double trial_raw_event(void *ctx) {
    (void)ctx;
    raw_handoff h;
    pthread_t t;
    raw_event_init(&h.go);
    raw_event_init(&h.back);
    h.n = pcb_scaled(PINGPONG_ITERS);
    if (pthread_create(&t, NULL, raw_handoff_partner, &h)) {
        pcb_note_failure("pthread_create", PC_OS);
        return NAN;
    }
    raw_handoff_serve(&h);
    double t0 = pcb_now();
    for (long i = 0; i < h.n; i++) raw_handoff_serve(&h);
    double dt = pcb_now() - t0;
    pthread_join(t, NULL);
    raw_event_destroy(&h.go);
    raw_event_destroy(&h.back);
    return dt / (double)h.n;
}

// ---------------------------------------------------------------------------
// >>thread  Create, start and join a thread whose target returns at once.

#define SPAWN_ITERS 400L

static int nothing_target(void *arg) { (void)arg; return 0; }
static void *nothing_start(void *arg) { return arg; }

static double trial_pc_thread(void *ctx) {
    (void)ctx;
    long n = pcb_scaled(SPAWN_ITERS);
    int bad = 0;
    pc_thread_desc d = {.target = nothing_target};
    double t0 = pcb_now();
    for (long i = 0; i < n; i++) {
        pc_thread *t = pc_thread_new(&d);
        if (!t) { bad = PC_NOMEM; break; }
        bad |= pc_thread_start(t);
        bad |= pc_thread_join(t, PC_FOREVER);
        pc_thread_free(t);
    }
    double dt = pcb_now() - t0;
    pcb_note_failure("pc_thread new/start/join", bad);
    return dt / (double)n;
}

static double trial_raw_thread(void *ctx) {
    (void)ctx;
    long n = pcb_scaled(SPAWN_ITERS);
    int bad = 0;
    double t0 = pcb_now();
    for (long i = 0; i < n; i++) {
        pthread_t t;
        int err = pthread_create(&t, NULL, nothing_start, NULL);
        if (err) { bad = err; break; }
        bad |= pthread_join(t, NULL);
    }
    double dt = pcb_now() - t0;
    pcb_note_failure("pthread_create/join", bad);
    return dt / (double)n;
}

// ---------------------------------------------------------------------------
// >>timer  Oversleep of a 1 ms timer: when its function runs minus (the
// moment start was called + 1 ms). Thread start-up counts, as it does for
// the user. The raw peer is the cancellable timer written by hand: a thread
// that waits on a monotonic condition variable until its deadline.

#define TIMER_INTERVAL 0.001
#define TIMER_PER_ROUND 24
#define TIMER_ROUNDS 12

static int pc_timer_fire(void *arg) {
    *(double *)arg = pcb_now();
    return 0;
}

static double pc_timer_once(void) {
    double fired = NAN;
    double t0 = pcb_now();
    pc_timer *t = pc_timer_new(TIMER_INTERVAL, pc_timer_fire, &fired);
    if (!t) { pcb_note_failure("pc_timer_new", PC_NOMEM); return NAN; }
    int bad = pc_timer_start(t);
    bad |= pc_timer_join(t, PC_FOREVER);
    pc_timer_free(t);
    pcb_note_failure("pc_timer start/join", bad);
    return fired - (t0 + TIMER_INTERVAL);
}

typedef struct raw_timer {
    pthread_mutex_t mu;
    pthread_cond_t cv;          // on CLOCK_MONOTONIC
    int cancelled;
    double fired;
} raw_timer;

static void *raw_timer_main(void *arg) {
    raw_timer *rt = (raw_timer *)arg;
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    ts.tv_nsec += (long)(TIMER_INTERVAL * 1e9);
    if (ts.tv_nsec >= 1000000000L) { ts.tv_sec++; ts.tv_nsec -= 1000000000L; }
    int err = 0;
    pthread_mutex_lock(&rt->mu);
    while (!rt->cancelled && err != ETIMEDOUT)
        err = pthread_cond_timedwait(&rt->cv, &rt->mu, &ts);
    int run = !rt->cancelled;
    pthread_mutex_unlock(&rt->mu);
    if (run) rt->fired = pcb_now();
    return NULL;
}

static double raw_timer_once(void) {
    raw_timer rt;
    pthread_condattr_t ca;
    pthread_t t;
    pthread_mutex_init(&rt.mu, NULL);
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&rt.cv, &ca);
    pthread_condattr_destroy(&ca);
    rt.cancelled = 0;
    rt.fired = NAN;
    double t0 = pcb_now();
    if (pthread_create(&t, NULL, raw_timer_main, &rt)) {
        pcb_note_failure("pthread_create", PC_OS);
        return NAN;
    }
    pthread_join(t, NULL);
    pthread_cond_destroy(&rt.cv);
    pthread_mutex_destroy(&rt.mu);
    return rt.fired - (t0 + TIMER_INTERVAL);
}

// Every sample of both, interleaved round by round; out_* get median and p99.
static void timer_duel(double *pc_med, double *pc_p99, double *raw_med, double *raw_p99) {
    enum { MAX = TIMER_PER_ROUND * TIMER_ROUNDS };
    static double a[MAX], b[MAX];
    int per = pcb_quick ? TIMER_PER_ROUND / 4 : TIMER_PER_ROUND;
    int rs = pcb_quick ? TIMER_ROUNDS / 4 : TIMER_ROUNDS, n = 0;
    for (int r = 0; r < rs; r++) {
        for (int i = 0; i < per; i++) a[n + i] = pc_timer_once();
        for (int i = 0; i < per; i++) b[n + i] = raw_timer_once();
        n += per;
    }
    *pc_med = pcb_quantile(a, n, 0.5);
    *pc_p99 = pcb_quantile(a, n, 0.99);
    *raw_med = pcb_quantile(b, n, 0.5);
    *raw_p99 = pcb_quantile(b, n, 0.99);
}

// ---------------------------------------------------------------------------
// >>python  CPython's figure for the same case (NAN when skipped).

static double python(const char *args) {
    char buf[128];
    snprintf(buf, sizeof buf, "%s%s", args, pcb_quick ? " quick" : "");
    return pcb_python("threading_ops.py", buf);
}

// ---------------------------------------------------------------------------
// >>cases

#define PY "Python threading"

static void bench_locks(void) {
    pc_lock lock = PC_LOCK_INIT;
    pc_rlock rlock = PC_RLOCK_INIT;
    pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
    pthread_mutex_t rmu;
    pthread_mutexattr_t ma;
    pthread_mutexattr_init(&ma);
    pthread_mutexattr_settype(&ma, PTHREAD_MUTEX_RECURSIVE);
    pthread_mutex_init(&rmu, &ma);
    pthread_mutexattr_destroy(&ma);
    double ours, peer, py;
    const char *lock_pair = "Lock acquire+release", *rlock_pair = "RLock acquire+release";

    pcb_duel(trial_pc_lock, &lock, trial_pthread_mutex, &mu, rounds(), &ours, &peer);
    pcb_row(lock_pair, ours, "pthread_mutex", peer);
    pcb_target(lock_pair, "pthread_mutex", ours, peer, 1.0);
    py = python("lock");
    pcb_row(lock_pair, ours, PY, py);
    pcb_target(lock_pair, PY, ours, py, 0.05);
    pcb_duel(trial_pc_lock_inlined, &lock, trial_pthread_mutex, &mu, rounds(), &ours, &peer);
    pcb_row("Lock acquire+release (inlined)", ours, "pthread_mutex", peer);

    pcb_duel(trial_pc_rlock, &rlock, trial_pthread_mutex, &rmu, rounds(), &ours, &peer);
    pcb_row(rlock_pair, ours, "pthread recursive mutex", peer);
    pcb_target(rlock_pair, "pthread recursive mutex", ours, peer, 1.2);
    py = python("rlock");
    pcb_row(rlock_pair, ours, PY, py);
    pcb_target(rlock_pair, PY, ours, py, 0.05);
    pcb_duel(trial_pc_rlock_inlined, &rlock, trial_pthread_mutex, &rmu, rounds(), &ours, &peer);
    pcb_row("RLock acquire+release (inlined)", ours, "pthread recursive mutex", peer);
    pthread_mutex_destroy(&rmu);
}

#if RAW_FUTEX
// pcb_duel that also says, for a line under the row, how the rounds' own
// ratios spread: "-- per round: 1.02x [0.81x-1.30x] of mutex2's time, 15 rounds".
static void contended_duel(contended *c, double *ours, double *peer, char *spread,
                           size_t cap) {
    double a[CONTENDED_ROUNDS], b[CONTENDED_ROUNDS], r[CONTENDED_ROUNDS];
    int n = pcb_quick ? 3 : CONTENDED_ROUNDS;
    for (int i = 0; i < n; i++) {
        a[i] = trial_pc_contended(c);
        b[i] = trial_mutex2_contended(c);
        r[i] = a[i] / b[i];
    }
    *ours = pcb_median(a, n);
    *peer = pcb_median(b, n);
    double mid = pcb_median(r, n);     // sorts r
    snprintf(spread, cap, "-- per round: %.2fx [%.2fx-%.2fx] of mutex2's time, %d rounds",
             mid, r[0], r[n - 1], n);
}
#endif

static void bench_contended(void) {
    static const int sizes[] = {2, 4, 8};
    contended c;
    memset(&c, 0, sizeof c);
    double ours, peer;
    const char *name = "Lock contended, nothing outside", *m2 = "futex mutex2";
#if RAW_FUTEX
    char spread[96];
    for (int i = 0; i < 3; i++) {
        char row[64];
        c.threads = sizes[i];
        c.outside = 0;
        contended_duel(&c, &ours, &peer, spread, sizeof spread);
        snprintf(row, sizeof row, "%s (%d threads)", name, sizes[i]);
        pcb_scale_row("threads", sizes[i], row, ours, m2, peer);
        printf("%s\n", spread);
        pcb_target(row, m2, ours, peer, 1.25);
    }
    c.threads = 4;
    c.outside = OUTSIDE_WORK;
    contended_duel(&c, &ours, &peer, spread, sizeof spread);
    pcb_row("Lock contended, work outside (4 threads)", ours, m2, peer);
    printf("%s\n", spread);
#else
    c.threads = 2;
    ours = pcb_solo(trial_pc_contended, &c, rounds());
    pcb_row_skip(name, ours, m2, "needs Linux's futex");
#endif
}

static void bench_condition(void) {
    double ours, peer, py;
    const char *with_lock = "Condition(Lock) ping-pong round trip";
    const char *own = "Condition() ping-pong round trip";
    double ours_lock, ours_own;
    pcb_duel(trial_pc_pingpong_lock, NULL, trial_raw_pingpong, NULL, rounds(), &ours, &peer);
    ours_lock = ours;
    pcb_row(with_lock, ours, "pthread_cond", peer);
    pcb_target(with_lock, "pthread_cond", ours, peer, 1.0);
    pcb_duel(trial_pc_pingpong_rlock, NULL, trial_raw_pingpong, NULL, rounds(), &ours, &peer);
    ours_own = ours;
    pcb_row(own, ours, "pthread_cond", peer);
    pcb_target(own, "pthread_cond", ours, peer, 1.0);
#if RAW_FUTEX
    pcb_duel(trial_pc_pingpong_lock, NULL, trial_futex_pingpong, NULL, rounds(), &ours, &peer);
    pcb_row(with_lock, ours, "raw futex ping-pong", peer);
    pcb_target(with_lock, "raw futex ping-pong", ours, peer, 1.3);
#else
    pcb_row_skip(with_lock, ours_lock, "raw futex ping-pong", "needs Linux's futex");
#endif
    ours = ours_own;
    (void)ours_lock;
    py = python("condition");
    pcb_row(own, ours, PY, py);
    pcb_target(own, PY, ours, py, 0.05);
}

static void bench_event(void) {
    double ours, peer, py;
    const char *handoff = "Event handoff round trip";
    pcb_duel(trial_pc_event, NULL, trial_raw_event, NULL, rounds(), &ours, &peer);
    pcb_row(handoff, ours, "mutex+cond flag", peer);
    pcb_target(handoff, "mutex+cond flag", ours, peer, 1.2);
    py = python("event");
    pcb_row(handoff, ours, PY, py);
    pcb_target(handoff, PY, ours, py, 0.05);
}

static void bench_thread(void) {
    double ours, peer, py;
    const char *spawn = "Thread create+start+join";
    pcb_duel(trial_pc_thread, NULL, trial_raw_thread, NULL, rounds(), &ours, &peer);
    pcb_row(spawn, ours, "pthread", peer);
    pcb_target(spawn, "pthread", ours, peer, 1.2);
    py = python("thread");
    pcb_row(spawn, ours, PY, py);
    pcb_target(spawn, PY, ours, py, 0.05);
}

static void bench_timer(void) {
    double med, p99, raw_med, raw_p99;
    const char *median = "Timer(1 ms) oversleep, median", *tail = "Timer(1 ms) oversleep, p99";
    timer_duel(&med, &p99, &raw_med, &raw_p99);
    pcb_row(median, med, "pthread timer", raw_med);
    pcb_row(tail, p99, "pthread timer", raw_p99);
    pcb_target(median, "pthread timer", med, raw_med, 1.2);
    double py_med = python("timer 0.5");
    pcb_row(median, med, PY, py_med);
    double py_p99 = python("timer 0.99");
    pcb_row(tail, p99, PY, py_p99);
    pcb_target(median, PY, med, py_med, 0.05);
}

int main(int argc, char **argv) {
    pcb_parse_quick(argc, argv);
    pcb_idle_start();
    pcb_begin("threading", "pyconc.h against raw pthreads and Python's threading module",
              rounds());
    bench_locks();
    bench_contended();
    bench_condition();
    bench_event();
    bench_thread();
    bench_timer();
    pcb_idle_stop_join();
    pcb_end();
    if (pcb_failures) fprintf(stderr, "bench: %d operations failed\n", pcb_failures);
    return pcb_failures ? 1 : 0;
}

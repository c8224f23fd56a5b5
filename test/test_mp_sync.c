/* Tests of pyconc_process.h part D's synchronisation primitives shared
   between processes: Lock, RLock, Semaphore, BoundedSemaphore, Condition,
   Event, Barrier. Each crosses to children in a pack under fork, spawn and
   forkserver; the robustness cases kill holders, waiters and parties with
   SIGKILL and check that nobody hangs and nothing is lost. This program is
   also the image spawned and forkserver children run. */
#define PYCONC_IMPLEMENTATION
#define PYCONC_PROCESS_IMPLEMENTATION
#include "pyconc_process.h"

#include <errno.h>
#include <math.h>
#include <signal.h>
#include <sys/mman.h>
#include <unistd.h>

#include "pc_test.h"
#include "pc_proc_test.h"

// >>helpers
// A page of shared memory the test itself keeps (plain ints the primitives
// guard), crossing in a pack as a connection around its descriptor.
typedef struct page {
    volatile int64_t counter;
    volatile int inside;        // threads inside a critical section now
    volatile int overlap;       // ever more than one inside
    volatile int round_actions;
} page;

static page *page_map(int fd) {
    void *p = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    CHECK(p != MAP_FAILED);
    return (page *)p;
}

static pc_connection *page_new(page **out) {
    int fd = memfd_create("pct-page", MFD_CLOEXEC);
    CHECK(fd >= 0);
    CHECK(ftruncate(fd, 4096) == 0);
    *out = page_map(fd);
    pc_connection *c = pc__p_connection_from_fd(fd, 1, 1);
    CHECK(c != NULL);
    return c;
}

static page *page_of(const pc_args *a, size_t i) {
    pc_connection *c = NULL;
    if (pc_args_get_connection(a, i, &c)) return NULL;
    void *p = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, pc_connection_fileno(c), 0);
    return p == MAP_FAILED ? NULL : (page *)p;
}

// >>targets
// Pack: lock, page, n. n times: take the lock, check nobody else is in,
// bump the counter slowly, leave.
static int t_lock_counter(void *arg) {
    pc_args *a = (pc_args *)arg;
    pc_mp_lock *l;
    int64_t n;
    page *pg = page_of(a, 1);
    if (pc_args_get_mp_lock(a, 0, &l) || pc_args_get_int(a, 2, &n) || !pg) return 10;
    for (int64_t i = 0; i < n; i++) {
        if (pc_mp_lock_acquire(l, PC_FOREVER)) return 11;
        if (pg->inside++) pg->overlap = 1;
        int64_t v = pg->counter;
        if ((i & 63) == 0) sched_yield();
        pg->counter = v + 1;
        pg->inside--;
        if (pc_mp_lock_release(l)) return 12;
    }
    return 0;
}

// The same with an RLock taken twice each time.
static int t_rlock_counter(void *arg) {
    pc_args *a = (pc_args *)arg;
    pc_mp_rlock *l;
    int64_t n;
    page *pg = page_of(a, 1);
    if (pc_args_get_mp_rlock(a, 0, &l) || pc_args_get_int(a, 2, &n) || !pg) return 10;
    for (int64_t i = 0; i < n; i++) {
        if (pc_mp_rlock_acquire(l, PC_FOREVER) || pc_mp_rlock_acquire(l, 5)) return 11;
        if (!pc_mp_rlock_is_owned(l)) return 13;
        if (pg->inside++) pg->overlap = 1;
        int64_t v = pg->counter;
        if ((i & 63) == 0) sched_yield();
        pg->counter = v + 1;
        pg->inside--;
        if (pc_mp_rlock_release(l) || pc_mp_rlock_release(l)) return 12;
    }
    return pc_mp_rlock_release(l) == PC_RUNTIME ? 0 : 14;
}

// Pack: lock, event. Take the lock, say so, and hold it until killed.
static int t_hold_lock(void *arg) {
    pc_args *a = (pc_args *)arg;
    pc_mp_lock *l;
    pc_mp_event *held;
    if (pc_args_get_mp_lock(a, 0, &l) || pc_args_get_mp_event(a, 1, &held)) return 10;
    if (pc_mp_lock_acquire(l, PC_FOREVER)) return 11;
    pc_mp_event_set(held);
    pc_sleep(60);
    return 12;
}

// Pack: lock, want. Acquire with no timeout; exit 0 when the code is want.
static int t_acquire_expect(void *arg) {
    pc_args *a = (pc_args *)arg;
    pc_mp_lock *l;
    int64_t want;
    if (pc_args_get_mp_lock(a, 0, &l) || pc_args_get_int(a, 1, &want)) return 10;
    int rc = pc_mp_lock_acquire(l, PC_FOREVER);
    if (rc != want) return 20 + rc;
    if (rc == PC_OWNER_DEAD && pc_mp_lock_consistent(l)) return 11;
    if ((rc == PC_OK || rc == PC_OWNER_DEAD) && pc_mp_lock_release(l)) return 12;
    return 0;
}

// Pack: condition, ready semaphore. Wait once inside the condition (for
// ever); exit 0 if woken.
static int t_cond_wait(void *arg) {
    pc_args *a = (pc_args *)arg;
    pc_mp_condition *c;
    pc_mp_semaphore *ready;
    if (pc_args_get_mp_condition(a, 0, &c) || pc_args_get_mp_semaphore(a, 1, &ready)) return 10;
    if (pc_mp_condition_acquire(c, PC_FOREVER)) return 11;
    pc_mp_semaphore_release(ready, 1);
    int rc = pc_mp_condition_wait(c, PC_FOREVER);
    pc_mp_condition_release(c);
    return rc ? 12 : 0;
}

// Pack: semaphore, ready event. Say ready, then take a unit (for ever).
static int t_sem_take(void *arg) {
    pc_args *a = (pc_args *)arg;
    pc_mp_semaphore *s;
    pc_mp_event *ready;
    if (pc_args_get_mp_semaphore(a, 0, &s) || pc_args_get_mp_event(a, 1, &ready)) return 10;
    pc_mp_event_set(ready);
    return pc_mp_semaphore_acquire(s, PC_FOREVER) ? 11 : 0;
}

// Pack: go event, done event. Wait for go (for ever), then set done.
static int t_event_relay(void *arg) {
    pc_args *a = (pc_args *)arg;
    pc_mp_event *go, *done;
    if (pc_args_get_mp_event(a, 0, &go) || pc_args_get_mp_event(a, 1, &done)) return 10;
    if (pc_mp_event_wait(go, PC_FOREVER)) return 11;
    return pc_mp_event_set(done) ? 12 : 0;
}

// Barrier action: counts rounds in the page the party mapped (a global,
// since an action gets no argument).
static page *g_action_page;
static int a_count_round(void *arg) {
    (void)arg;
    if (g_action_page) __atomic_add_fetch(&g_action_page->round_actions, 1, __ATOMIC_SEQ_CST);
    return 0;
}

// Pack: barrier, page, rounds. Wait that many rounds; exit 0 if all went.
static int t_barrier_rounds(void *arg) {
    pc_args *a = (pc_args *)arg;
    pc_mp_barrier *b;
    int64_t rounds;
    g_action_page = page_of(a, 1);
    if (pc_args_get_mp_barrier(a, 0, &b) || pc_args_get_int(a, 2, &rounds) || !g_action_page)
        return 10;
    for (int64_t r = 0; r < rounds; r++) {
        int index = -1;
        int rc = pc_mp_barrier_wait(b, &index);
        if (rc) return 20 + rc;
        if (index < 0 || index >= pc_mp_barrier_parties(b)) return 11;
    }
    return 0;
}

// Pack: barrier. Wait once with no timeout; exit 0 when it says PC_BROKEN.
static int t_barrier_expect_broken(void *arg) {
    pc_mp_barrier *b;
    if (pc_args_get_mp_barrier((pc_args *)arg, 0, &b)) return 10;
    int rc = pc_mp_barrier_wait(b, NULL);
    return rc == PC_BROKEN ? 0 : 20 + rc;
}

static int t_nothing(void *arg) { (void)arg; return 0; }

// Pack: barrier (held, never waited on): sleep until killed.
static int t_sleep_holding(void *arg) {
    (void)arg;
    pc_sleep(60);
    return 0;
}

// >>threads
typedef struct lock_thread_ctx {
    pc_mp_lock *lock;
    pc_mp_rlock *rlock;
    int rc;
} lock_thread_ctx;

static int th_release_lock(void *arg) {
    lock_thread_ctx *c = (lock_thread_ctx *)arg;
    c->rc = c->lock ? pc_mp_lock_release(c->lock) : pc_mp_rlock_release(c->rlock);
    return 0;
}

static int th_try_lock(void *arg) {
    lock_thread_ctx *c = (lock_thread_ctx *)arg;
    c->rc = c->lock ? pc_mp_lock_acquire(c->lock, 0) : pc_mp_rlock_acquire(c->rlock, 0);
    return 0;
}

// Take the lock and end holding it (a thread that dies holding a lock).
static int th_take_and_leave(void *arg) {
    lock_thread_ctx *c = (lock_thread_ctx *)arg;
    c->rc = pc_mp_lock_acquire(c->lock, PC_FOREVER);
    return 0;
}

// Run fn(arg) in a thread of its own to its end.
static void run_thread(pc_target_fn fn, void *arg) {
    pc_thread *t = pct_thread_started(fn, arg);
    CHECK_OK(pc_thread_join(t, 10));
    pc_thread_free(t);
}

// >>cases: Lock and RLock
TEST(lock_basics) {
    pct_leak mark = pct_leak_now();
    pc_mp_lock *l = pc_mp_lock_new();
    CHECK(l != NULL);
    CHECK_EQ(pc_mp_lock_locked(l), 0);
    CHECK_OK(pc_mp_lock_acquire(l, PC_FOREVER));
    CHECK_EQ(pc_mp_lock_locked(l), 1);
    CHECK_RC(pc_mp_lock_acquire(l, 0), PC_TIMEOUT);      // not recursive
    double t0 = pc_monotonic();
    CHECK_RC(pc_mp_lock_acquire(l, 0.05), PC_TIMEOUT);
    CHECK(pc_monotonic() - t0 >= 0.05);
    lock_thread_ctx c = {l, NULL, -1};
    run_thread(th_release_lock, &c);                    // another thread: not its lock
    CHECK_RC(c.rc, PC_RUNTIME);
    run_thread(th_try_lock, &c);
    CHECK_RC(c.rc, PC_TIMEOUT);
    CHECK_OK(pc_mp_lock_release(l));
    CHECK_RC(pc_mp_lock_release(l), PC_RUNTIME);
    CHECK_RC(pc_mp_lock_consistent(l), PC_RUNTIME);     // nobody died
    CHECK_RC(pc_mp_lock_acquire(l, NAN), PC_VALUE);
    CHECK_RC(pc_mp_lock_acquire(NULL, 0), PC_VALUE);
    CHECK_RC(pc_mp_lock_release(NULL), PC_VALUE);
    CHECK_EQ(pc_mp_lock_locked(NULL), 0);
    // A handle of another type, cast by hand, is refused.
    pc_mp_event *e = pc_mp_event_new();
    CHECK_RC(pc_mp_lock_acquire((pc_mp_lock *)(void *)e, 0), PC_VALUE);
    CHECK(strstr(pc_last_error(), "not a Lock but a Event") != NULL);
    pc_mp_event_free(e);
    pc_mp_lock_free(l);
    pc_mp_lock_free(NULL);
    pct_leak_end(mark);
}

TEST(rlock_basics) {
    pct_leak mark = pct_leak_now();
    pc_mp_rlock *l = pc_mp_rlock_new();
    CHECK(l != NULL);
    CHECK_EQ(pc_mp_rlock_is_owned(l), 0);
    for (int i = 0; i < 5; i++) CHECK_OK(pc_mp_rlock_acquire(l, 0));
    CHECK_EQ(pc_mp_rlock_is_owned(l), 1);
    CHECK_EQ(pc_mp_rlock_locked(l), 1);
    lock_thread_ctx c = {NULL, l, -1};
    run_thread(th_try_lock, &c);
    CHECK_RC(c.rc, PC_TIMEOUT);
    run_thread(th_release_lock, &c);
    CHECK_RC(c.rc, PC_RUNTIME);
    for (int i = 0; i < 5; i++) CHECK_OK(pc_mp_rlock_release(l));
    CHECK_EQ(pc_mp_rlock_locked(l), 0);
    CHECK_RC(pc_mp_rlock_release(l), PC_RUNTIME);
    CHECK(strstr(pc_last_error(), "un-acquired") != NULL);
    run_thread(th_try_lock, &c);                        // free now: the thread takes it
    CHECK_OK(c.rc);                                     // and dies holding it
    CHECK_RC(pc_mp_rlock_acquire(l, 5), PC_OWNER_DEAD);
    CHECK_OK(pc_mp_rlock_consistent(l));
    CHECK_OK(pc_mp_rlock_release(l));
    CHECK_OK(pc_mp_rlock_acquire(l, 0));
    CHECK_OK(pc_mp_rlock_release(l));
    pc_mp_rlock_free(l);
    pct_leak_end(mark);
}

// A thread that ends holding the lock: the next acquirer is told.
TEST(lock_thread_died_holding) {
    pc_mp_lock *l = pc_mp_lock_new();
    lock_thread_ctx c = {l, NULL, -1};
    run_thread(th_take_and_leave, &c);
    CHECK_OK(c.rc);
    CHECK_RC(pc_mp_lock_acquire(l, 5), PC_OWNER_DEAD);
    CHECK_EQ(pc_mp_lock_locked(l), 1);
    CHECK(strstr(pc_last_error(), "died") != NULL);
    CHECK_OK(pc_mp_lock_consistent(l));
    CHECK_RC(pc_mp_lock_consistent(l), PC_RUNTIME);     // once is enough
    CHECK_OK(pc_mp_lock_release(l));
    CHECK_OK(pc_mp_lock_acquire(l, 0));
    CHECK_OK(pc_mp_lock_release(l));
    pc_mp_lock_free(l);
}

static void body_lock_counter(pc_start_method m, int recursive) {
    pct_leak mark = pct_leak_begin(m);
    page *pg;
    pc_connection *pc = page_new(&pg);
    pc_mp_lock *l = recursive ? NULL : pc_mp_lock_new();
    pc_mp_rlock *rl = recursive ? pc_mp_rlock_new() : NULL;
    int64_t n = PCT_SANITIZED ? 300 : 2000;
    pc_args *a = pc_args_new();
    CHECK_OK(recursive ? pc_args_add_mp_rlock(a, rl) : pc_args_add_mp_lock(a, l));
    CHECK_OK(pc_args_add_connection(a, pc));
    CHECK_OK(pc_args_add_int(a, n));
    pc_process *ps[4];
    for (int i = 0; i < 4; i++)
        ps[i] = pct_start(m, recursive ? t_rlock_counter : t_lock_counter, a);
    pc_args_free(a);
    for (int i = 0; i < 4; i++) CHECK_EQ(pct_finish(ps[i]), 0);
    CHECK_EQ(pg->counter, 4 * n);
    CHECK_EQ(pg->overlap, 0);
    munmap((void *)pg, 4096);
    pc_connection_free(pc);
    pc_mp_lock_free(l);
    pc_mp_rlock_free(rl);
    pct_leak_end(mark);
}
TEST(lock_counter_fork) { body_lock_counter(PC_START_FORK, 0); }
TEST(lock_counter_spawn) { body_lock_counter(PC_START_SPAWN, 0); }
TEST(lock_counter_forkserver) { body_lock_counter(PC_START_FORKSERVER, 0); }
TEST(rlock_counter_fork) { body_lock_counter(PC_START_FORK, 1); }
TEST(rlock_counter_spawn) { body_lock_counter(PC_START_SPAWN, 1); }
TEST(rlock_counter_forkserver) { body_lock_counter(PC_START_FORKSERVER, 1); }

// A holder is SIGKILLed: a blocked acquirer in another process and this
// one are told PC_OWNER_DEAD in turn. Repaired, the lock works on;
// released unrepaired, every later acquire is PC_BROKEN, in every process.
static void body_owner_dead(pc_start_method m) {
    pct_leak mark = pct_leak_begin(m);
    for (int repair = 0; repair < 2; repair++) {
        pc_mp_lock *l = pc_mp_lock_new();
        pc_mp_event *held = pc_mp_event_new();
        pc_args *a = pc_args_new();
        pc_args_add_mp_lock(a, l);
        pc_args_add_mp_event(a, held);
        pc_process *holder = pct_start(m, t_hold_lock, a);
        pc_args_free(a);
        CHECK_OK(pc_mp_event_wait(held, 10));
        CHECK_RC(pc_mp_lock_acquire(l, 0), PC_TIMEOUT);
        // A second process blocks on it (no timeout) and must get it.
        a = pc_args_new();
        pc_args_add_mp_lock(a, l);
        pc_args_add_int(a, PC_OWNER_DEAD);
        pc_process *waiter = pct_start(m, t_acquire_expect, a);
        pc_args_free(a);
        pct_kill_and_reap(holder);
        CHECK_EQ(pct_finish(waiter), 0);    // it got PC_OWNER_DEAD, repaired, released
        // The waiter repaired it: whole again for us.
        CHECK_OK(pc_mp_lock_acquire(l, 5));
        CHECK_OK(pc_mp_lock_release(l));
        // Now kill a holder again and take it ourselves.
        pc_mp_event_clear(held);
        a = pc_args_new();
        pc_args_add_mp_lock(a, l);
        pc_args_add_mp_event(a, held);
        holder = pct_start(m, t_hold_lock, a);
        pc_args_free(a);
        CHECK_OK(pc_mp_event_wait(held, 10));
        pct_kill_and_reap(holder);
        CHECK_RC(pc_mp_lock_acquire(l, 5), PC_OWNER_DEAD);
        if (repair) {
            CHECK_OK(pc_mp_lock_consistent(l));
            CHECK_OK(pc_mp_lock_release(l));
            CHECK_OK(pc_mp_lock_acquire(l, 0));
            CHECK_OK(pc_mp_lock_release(l));
        } else {
            CHECK_OK(pc_mp_lock_release(l));            // unrepaired
            CHECK_RC(pc_mp_lock_acquire(l, 0), PC_BROKEN);
            CHECK_RC(pc_mp_lock_acquire(l, PC_FOREVER), PC_BROKEN);
            CHECK(strstr(pc_last_error(), "broken") != NULL);
            a = pc_args_new();
            pc_args_add_mp_lock(a, l);
            pc_args_add_int(a, PC_BROKEN);
            CHECK_EQ(pct_finish(pct_start(m, t_acquire_expect, a)), 0);
            pc_args_free(a);
        }
        pc_mp_event_free(held);
        pc_mp_lock_free(l);
    }
    pct_leak_end(mark);
}
TEST(lock_owner_dead_fork) { body_owner_dead(PC_START_FORK); }
TEST(lock_owner_dead_spawn) { body_owner_dead(PC_START_SPAWN); }
TEST(lock_owner_dead_forkserver) { body_owner_dead(PC_START_FORKSERVER); }

// >>cases: Semaphore
TEST(semaphore_basics) {
    pct_leak mark = pct_leak_now();
    CHECK(pc_mp_semaphore_new(-1) == NULL);
    CHECK_EQ(pc_last_error_code(), PC_VALUE);
    pc_mp_semaphore *s = pc_mp_semaphore_new(2);
    CHECK_EQ(pc_mp_semaphore_get_value(s), 2);
    CHECK_OK(pc_mp_semaphore_acquire(s, 0));
    CHECK_OK(pc_mp_semaphore_acquire(s, PC_FOREVER));
    CHECK_RC(pc_mp_semaphore_acquire(s, 0), PC_TIMEOUT);
    CHECK_RC(pc_mp_semaphore_acquire(s, 0.02), PC_TIMEOUT);
    CHECK_OK(pc_mp_semaphore_release(s, 3));            // unbounded: past 2 is fine
    CHECK_EQ(pc_mp_semaphore_get_value(s), 3);
    CHECK_RC(pc_mp_semaphore_release(s, 0), PC_VALUE);
    CHECK_RC(pc_mp_semaphore_acquire(s, NAN), PC_VALUE);
    CHECK_RC(pc_mp_semaphore_acquire(NULL, 0), PC_VALUE);
    pc_mp_semaphore_free(s);
    s = pc_mp_bounded_semaphore_new(1);
    CHECK_RC(pc_mp_semaphore_release(s, 1), PC_VALUE);
    CHECK(strstr(pc_last_error(), "too many") != NULL);
    CHECK_EQ(pc_mp_semaphore_get_value(s), 1);          // nothing added
    CHECK_OK(pc_mp_semaphore_acquire(s, 0));
    CHECK_RC(pc_mp_semaphore_release(s, 2), PC_VALUE);
    CHECK_OK(pc_mp_semaphore_release(s, 1));
    pc_mp_semaphore_free(s);
    pct_leak_end(mark);
}

// Waiters in other processes: one is killed asleep in acquire; the units
// released afterwards all reach the live ones, none is lost to the dead.
static void body_semaphore_cross(pc_start_method m) {
    pct_leak mark = pct_leak_begin(m);
    pc_mp_semaphore *s = pc_mp_semaphore_new(0);
    pc_mp_event *ready = pc_mp_event_new();
    pc_args *a = pc_args_new();
    pc_args_add_mp_semaphore(a, s);
    pc_args_add_mp_event(a, ready);
    pc_process *victim = pct_start(m, t_sem_take, a);
    CHECK_OK(pc_mp_event_wait(ready, 10));
    while (pct_proc_state(pc_process_pid(victim)) != 'S') sched_yield();    // asleep in it
    pct_kill_and_reap(victim);
    pc_process *live[2];
    for (int i = 0; i < 2; i++) live[i] = pct_start(m, t_sem_take, a);
    pc_args_free(a);
    CHECK_OK(pc_mp_semaphore_release(s, 2));
    for (int i = 0; i < 2; i++) CHECK_EQ(pct_finish(live[i]), 0);
    CHECK_EQ(pc_mp_semaphore_get_value(s), 0);
    CHECK_OK(pc_mp_semaphore_release(s, 1));
    CHECK_OK(pc_mp_semaphore_acquire(s, 0));
    pc_mp_event_free(ready);
    pc_mp_semaphore_free(s);
    pct_leak_end(mark);
}
TEST(semaphore_cross_fork) { body_semaphore_cross(PC_START_FORK); }
TEST(semaphore_cross_spawn) { body_semaphore_cross(PC_START_SPAWN); }
TEST(semaphore_cross_forkserver) { body_semaphore_cross(PC_START_FORKSERVER); }

// >>cases: Event
TEST(event_basics) {
    pc_mp_event *e = pc_mp_event_new();
    CHECK_EQ(pc_mp_event_is_set(e), 0);
    CHECK_RC(pc_mp_event_wait(e, 0), PC_TIMEOUT);
    CHECK_RC(pc_mp_event_wait(e, 0.02), PC_TIMEOUT);
    CHECK_OK(pc_mp_event_set(e));
    CHECK_EQ(pc_mp_event_is_set(e), 1);
    CHECK_OK(pc_mp_event_wait(e, PC_FOREVER));
    CHECK_OK(pc_mp_event_clear(e));
    CHECK_RC(pc_mp_event_wait(e, 0), PC_TIMEOUT);
    CHECK_RC(pc_mp_event_wait(e, NAN), PC_VALUE);
    CHECK_RC(pc_mp_event_set(NULL), PC_VALUE);
    pc_mp_event_free(e);
}

// A relay through two processes, and a waiter killed asleep in wait: the
// set that follows still wakes the live waiter.
static void body_event_cross(pc_start_method m) {
    pct_leak mark = pct_leak_begin(m);
    pc_mp_event *go = pc_mp_event_new(), *done = pc_mp_event_new();
    pc_args *a = pc_args_new();
    pc_args_add_mp_event(a, go);
    pc_args_add_mp_event(a, done);
    pc_process *victim = pct_start(m, t_event_relay, a);
    pc_process *live = pct_start(m, t_event_relay, a);
    pc_args_free(a);
    while (pct_proc_state(pc_process_pid(victim)) != 'S') sched_yield();
    pct_kill_and_reap(victim);
    CHECK_EQ(pc_mp_event_is_set(done), 0);
    CHECK_OK(pc_mp_event_set(go));
    CHECK_OK(pc_mp_event_wait(done, 10));
    CHECK_EQ(pct_finish(live), 0);
    pc_mp_event_free(go);
    pc_mp_event_free(done);
    pct_leak_end(mark);
}
TEST(event_cross_fork) { body_event_cross(PC_START_FORK); }
TEST(event_cross_spawn) { body_event_cross(PC_START_SPAWN); }
TEST(event_cross_forkserver) { body_event_cross(PC_START_FORKSERVER); }

// >>cases: Condition
typedef struct cond_ctx {
    pc_mp_condition *c;
    int ready, woken, rc;
    double waited;
} cond_ctx;

static int th_cond_wait(void *arg) {
    cond_ctx *x = (cond_ctx *)arg;
    pc_mp_condition_acquire(x->c, PC_FOREVER);
    __atomic_add_fetch(&x->ready, 1, __ATOMIC_SEQ_CST);
    double t0 = pc_monotonic();
    int rc = pc_mp_condition_wait(x->c, 10);
    x->waited = pc_monotonic() - t0;
    x->rc = rc;
    if (rc == PC_OK) __atomic_add_fetch(&x->woken, 1, __ATOMIC_SEQ_CST);
    pc_mp_condition_release(x->c);
    return 0;
}


// Until n waiters of x are inside wait: each said ready holding the lock,
// so once we hold the lock every one of them has let it go in wait.
static void cond_wait_for_waiters(cond_ctx *x, int n) {
    while (__atomic_load_n(&x->ready, __ATOMIC_SEQ_CST) < n) sched_yield();
    CHECK_OK(pc_mp_condition_acquire(x->c, 10));
}

static int pred_flag(void *ctx) { return *(volatile int *)ctx; }

TEST(condition_basics) {
    pct_leak mark = pct_leak_now();
    pc_mp_condition *c = pc_mp_condition_new(NULL, NULL);
    CHECK(c != NULL);
    CHECK_RC(pc_mp_condition_wait(c, 0), PC_RUNTIME);
    CHECK_RC(pc_mp_condition_notify(c, 1), PC_RUNTIME);
    CHECK_RC(pc_mp_condition_release(c), PC_RUNTIME);
    CHECK_OK(pc_mp_condition_acquire(c, 0));
    CHECK_OK(pc_mp_condition_acquire(c, 0));            // its own lock is an RLock
    double t0 = pc_monotonic();
    CHECK_RC(pc_mp_condition_wait(c, 0.05), PC_TIMEOUT);
    CHECK(pc_monotonic() - t0 >= 0.05);
    int flag = 0;
    CHECK_RC(pc_mp_condition_wait_for(c, pred_flag, &flag, 0.02), PC_TIMEOUT);
    flag = 1;
    CHECK_OK(pc_mp_condition_wait_for(c, pred_flag, &flag, 0));
    CHECK_RC(pc_mp_condition_wait_for(c, NULL, NULL, 0), PC_VALUE);
    CHECK_RC(pc_mp_condition_wait(c, NAN), PC_VALUE);
    CHECK_OK(pc_mp_condition_notify(c, 0));
    CHECK_OK(pc_mp_condition_release(c));               // both levels came back
    CHECK_OK(pc_mp_condition_release(c));
    CHECK_RC(pc_mp_condition_release(c), PC_RUNTIME);
    pc_mp_condition_free(c);

    // A given lock is the condition's lock; two locks are refused.
    pc_mp_lock *l = pc_mp_lock_new();
    pc_mp_rlock *rl = pc_mp_rlock_new();
    CHECK(pc_mp_condition_new(l, rl) == NULL);
    CHECK_EQ(pc_last_error_code(), PC_VALUE);
    CHECK(pc_mp_condition_new((pc_mp_lock *)(void *)rl, NULL) == NULL);
    c = pc_mp_condition_new(l, NULL);
    pc_mp_lock_free(l);                                 // the condition keeps its own
    CHECK_OK(pc_mp_condition_acquire(c, 0));
    CHECK_RC(pc_mp_condition_acquire(c, 0), PC_TIMEOUT);   // a Lock: not recursive
    CHECK_RC(pc_mp_condition_wait(c, 0.01), PC_TIMEOUT);
    CHECK_OK(pc_mp_condition_release(c));
    pc_mp_condition_free(c);
    pc_mp_rlock_free(rl);
    pct_leak_end(mark);
}

// notify(n) wakes n of the waiters, notify_all the rest; repeated.
TEST(condition_notify_counts) {
    for (int round = 0; round < (PCT_SANITIZED ? 5 : 30); round++) {
        cond_ctx x;
        memset(&x, 0, sizeof x);
        x.c = pc_mp_condition_new(NULL, NULL);
        pc_thread *ts[5];
        for (int i = 0; i < 5; i++) ts[i] = pct_thread_started(th_cond_wait, &x);
        cond_wait_for_waiters(&x, 5);
        CHECK_OK(pc_mp_condition_notify(x.c, 2));
        CHECK_OK(pc_mp_condition_release(x.c));
        while (__atomic_load_n(&x.woken, __ATOMIC_SEQ_CST) < 2) sched_yield();
        CHECK_OK(pc_mp_condition_acquire(x.c, 10));
        // Wake-ups may be spurious, so at least the two, and the others
        // are all still there for notify_all.
        CHECK(__atomic_load_n(&x.woken, __ATOMIC_SEQ_CST) >= 2);
        CHECK_OK(pc_mp_condition_notify_all(x.c));
        CHECK_OK(pc_mp_condition_release(x.c));
        for (int i = 0; i < 5; i++) {
            CHECK_OK(pc_thread_join(ts[i], 10));
            pc_thread_free(ts[i]);
        }
        CHECK_EQ(x.woken, 5);
        pc_mp_condition_free(x.c);
    }
}

// 1..3 waiters (processes) are SIGKILLed asleep in wait; a fresh waiter is
// still woken by notify_all at once (glibc's shared pthread_cond_t is not).
static void body_cond_killed_waiters(pc_start_method m) {
    pct_leak mark = pct_leak_begin(m);
    for (int killed = 1; killed <= 3; killed++) {
        pc_mp_condition *c = pc_mp_condition_new(NULL, NULL);
        pc_mp_semaphore *ready = pc_mp_semaphore_new(0);
        pc_args *a = pc_args_new();
        pc_args_add_mp_condition(a, c);
        pc_args_add_mp_semaphore(a, ready);
        pc_process *victims[3];
        for (int i = 0; i < killed; i++) victims[i] = pct_start(m, t_cond_wait, a);
        pc_args_free(a);
        for (int i = 0; i < killed; i++) CHECK_OK(pc_mp_semaphore_acquire(ready, 10));
        CHECK_OK(pc_mp_condition_acquire(c, 10));       // all are inside wait now
        CHECK_OK(pc_mp_condition_release(c));
        for (int i = 0; i < killed; i++) {
            while (pct_proc_state(pc_process_pid(victims[i])) != 'S') sched_yield();
            pct_kill_and_reap(victims[i]);
        }
        cond_ctx x;
        memset(&x, 0, sizeof x);
        x.c = c;
        pc_thread *t = pct_thread_started(th_cond_wait, &x);
        cond_wait_for_waiters(&x, 1);
        double t0 = pc_monotonic();
        CHECK_OK(pc_mp_condition_notify_all(c));
        CHECK_OK(pc_mp_condition_release(c));
        CHECK_OK(pc_thread_join(t, 10));
        pc_thread_free(t);
        CHECK_RC(x.rc, PC_OK);                          // woken, not timed out
        CHECK_MSG(pc_monotonic() - t0 < 2.0, "woken after %.3f s", pc_monotonic() - t0);
        pc_mp_semaphore_free(ready);
        pc_mp_condition_free(c);
    }
    pct_leak_end(mark);
}
TEST(condition_killed_waiters_fork) { body_cond_killed_waiters(PC_START_FORK); }
TEST(condition_killed_waiters_spawn) { body_cond_killed_waiters(PC_START_SPAWN); }
TEST(condition_killed_waiters_forkserver) { body_cond_killed_waiters(PC_START_FORKSERVER); }

// Across processes: the child waits, we notify.
static void body_cond_cross(pc_start_method m) {
    pct_leak mark = pct_leak_begin(m);
    pc_mp_lock *l = pc_mp_lock_new();
    pc_mp_condition *c = pc_mp_condition_new(l, NULL);
    pc_mp_semaphore *ready = pc_mp_semaphore_new(0);
    pc_args *a = pc_args_new();
    pc_args_add_mp_condition(a, c);
    pc_args_add_mp_semaphore(a, ready);
    pc_process *p = pct_start(m, t_cond_wait, a);
    pc_args_free(a);
    CHECK_OK(pc_mp_semaphore_acquire(ready, 10));
    CHECK_OK(pc_mp_lock_acquire(l, 10));                // the user's lock is the one
    CHECK_OK(pc_mp_condition_notify(c, 1));
    CHECK_OK(pc_mp_lock_release(l));
    CHECK_EQ(pct_finish(p), 0);
    pc_mp_semaphore_free(ready);
    pc_mp_condition_free(c);
    pc_mp_lock_free(l);
    pct_leak_end(mark);
}
TEST(condition_cross_fork) { body_cond_cross(PC_START_FORK); }
TEST(condition_cross_spawn) { body_cond_cross(PC_START_SPAWN); }
TEST(condition_cross_forkserver) { body_cond_cross(PC_START_FORKSERVER); }

// >>cases: Barrier
typedef struct bar_ctx {
    pc_mp_barrier *b;
    double timeout;
    int rc, index;
} bar_ctx;

static int th_barrier(void *arg) {
    bar_ctx *x = (bar_ctx *)arg;
    x->rc = x->timeout > 0 ? pc_mp_barrier_wait_timeout(x->b, x->timeout, &x->index)
                           : pc_mp_barrier_wait(x->b, &x->index);
    return 0;
}

static int g_rounds;
static int a_count(void *arg) { (void)arg; g_rounds++; return 0; }
static int a_fail(void *arg) { (void)arg; return pc_raise(PC_VALUE, "action failed"); }

TEST(barrier_basics) {
    pct_leak mark = pct_leak_now();
    CHECK(pc_mp_barrier_new(0, NULL, PC_FOREVER) == NULL);
    CHECK(pc_mp_barrier_new(2, NULL, NAN) == NULL);
    pc_mp_barrier *b = pc_mp_barrier_new(3, a_count, PC_FOREVER);
    CHECK(b != NULL);
    CHECK_EQ(pc_mp_barrier_parties(b), 3);
    for (int round = 0; round < 20; round++) {
        bar_ctx x[2];
        pc_thread *ts[2];
        for (int i = 0; i < 2; i++) {
            memset(&x[i], 0, sizeof x[i]);
            x[i].b = b;
            ts[i] = pct_thread_started(th_barrier, &x[i]);
        }
        while (pc_mp_barrier_n_waiting(b) < 2) sched_yield();
        int index = -1;
        CHECK_OK(pc_mp_barrier_wait(b, &index));
        int seen = 1 << index;
        for (int i = 0; i < 2; i++) {
            CHECK_OK(pc_thread_join(ts[i], 10));
            pc_thread_free(ts[i]);
            CHECK_OK(x[i].rc);
            seen |= 1 << x[i].index;
        }
        CHECK_EQ(seen, 7);                              // indices 0, 1, 2 once each
    }
    CHECK_EQ(g_rounds, 20);
    // Timeout breaks it for all; reset mends it.
    CHECK_RC(pc_mp_barrier_wait_timeout(b, 0.02, NULL), PC_BROKEN);
    CHECK_EQ(pc_mp_barrier_broken(b), 1);
    CHECK_RC(pc_mp_barrier_wait(b, NULL), PC_BROKEN);
    CHECK_OK(pc_mp_barrier_reset(b));
    CHECK_EQ(pc_mp_barrier_broken(b), 0);
    // Reset with a waiter: it leaves broken, the barrier is usable after.
    bar_ctx x;
    memset(&x, 0, sizeof x);
    x.b = b;
    pc_thread *t = pct_thread_started(th_barrier, &x);
    while (pc_mp_barrier_n_waiting(b) < 1) sched_yield();
    CHECK_OK(pc_mp_barrier_reset(b));
    CHECK_OK(pc_thread_join(t, 10));
    pc_thread_free(t);
    CHECK_RC(x.rc, PC_BROKEN);
    CHECK_EQ(pc_mp_barrier_broken(b), 0);
    // Abort: waiters and later callers are broken.
    t = pct_thread_started(th_barrier, &x);
    while (pc_mp_barrier_n_waiting(b) < 1) sched_yield();
    CHECK_OK(pc_mp_barrier_abort(b));
    CHECK_OK(pc_thread_join(t, 10));
    pc_thread_free(t);
    CHECK_RC(x.rc, PC_BROKEN);
    CHECK_EQ(pc_mp_barrier_n_waiting(b), 0);
    CHECK_RC(pc_mp_barrier_wait(b, NULL), PC_BROKEN);
    pc_mp_barrier_free(b);
    // A failing action: its code where it ran, PC_BROKEN for the others.
    b = pc_mp_barrier_new(2, a_fail, PC_FOREVER);
    memset(&x, 0, sizeof x);
    x.b = b;
    t = pct_thread_started(th_barrier, &x);
    while (pc_mp_barrier_n_waiting(b) < 1) sched_yield();
    CHECK_RC(pc_mp_barrier_wait(b, NULL), PC_VALUE);
    CHECK_OK(pc_thread_join(t, 10));
    pc_thread_free(t);
    CHECK_RC(x.rc, PC_BROKEN);
    pc_mp_barrier_free(b);
    pct_leak_end(mark);
}

// Four processes through many rounds; the action runs once per round,
// in whichever process arrives last.
static void body_barrier_rounds(pc_start_method m) {
    pct_leak mark = pct_leak_begin(m);
    int rounds = PCT_SANITIZED ? 10 : 50;
    page *pg;
    pc_connection *pc = page_new(&pg);
    pc_mp_barrier *b = pc_mp_barrier_new(4, a_count_round, 30);
    pc_args *a = pc_args_new();
    pc_args_add_mp_barrier(a, b);
    pc_args_add_connection(a, pc);
    pc_args_add_int(a, rounds);
    pc_process *ps[4];
    for (int i = 0; i < 4; i++) ps[i] = pct_start(m, t_barrier_rounds, a);
    pc_args_free(a);
    for (int i = 0; i < 4; i++) CHECK_EQ(pct_finish(ps[i]), 0);
    CHECK_EQ(pg->round_actions, rounds);
    munmap((void *)pg, 4096);
    pc_connection_free(pc);
    pc_mp_barrier_free(b);
    pct_leak_end(mark);
}
TEST(barrier_rounds_fork) { body_barrier_rounds(PC_START_FORK); }
TEST(barrier_rounds_spawn) { body_barrier_rounds(PC_START_SPAWN); }
TEST(barrier_rounds_forkserver) { body_barrier_rounds(PC_START_FORKSERVER); }

// Barrier(4): the fourth party is SIGKILLed before it arrives (once right
// after its start, once later while asleep); the other three, waiting
// with no timeout, are told PC_BROKEN promptly.
static void body_barrier_party_killed(pc_start_method m) {
    pct_leak mark = pct_leak_begin(m);
    for (int early = 0; early < 2; early++) {
        pc_mp_barrier *b = pc_mp_barrier_new(4, NULL, PC_FOREVER);
        pc_args *a = pc_args_new();
        pc_args_add_mp_barrier(a, b);
        pc_process *victim = pct_start(m, t_sleep_holding, a);
        if (early) pct_kill_and_reap(victim);
        pc_process *ps[3];
        for (int i = 0; i < 3; i++) ps[i] = pct_start(m, t_barrier_expect_broken, a);
        pc_args_free(a);
        if (!early) {
            while (pc_mp_barrier_n_waiting(b) < 3 && pc_process_is_alive(ps[0])) sched_yield();
            pct_kill_and_reap(victim);
        }
        double t0 = pc_monotonic();
        for (int i = 0; i < 3; i++) CHECK_EQ(pct_finish(ps[i]), 0);
        double took = pc_monotonic() - t0;
        CHECK_MSG(took < 5.0, "the parties took %.3f s to see the death", took);
        CHECK_EQ(pc_mp_barrier_broken(b), 1);
        pc_mp_barrier_free(b);
    }
    pct_leak_end(mark);
}
TEST(barrier_party_killed_fork) { body_barrier_party_killed(PC_START_FORK); }
TEST(barrier_party_killed_spawn) { body_barrier_party_killed(PC_START_SPAWN); }
TEST(barrier_party_killed_forkserver) { body_barrier_party_killed(PC_START_FORKSERVER); }

// A party that exits normally (its pack freed) is no longer watched: the
// others are not broken by it.
TEST(barrier_holder_exit_is_not_death) {
    pc_mp_barrier *b = pc_mp_barrier_new(2, NULL, PC_FOREVER);
    pc_args *a = pc_args_new();
    pc_args_add_mp_barrier(a, b);
    CHECK_EQ(pct_finish(pct_start(PC_START_FORK, t_nothing, a)), 0);
    pc_args_free(a);
    bar_ctx x;
    memset(&x, 0, sizeof x);
    x.b = b;
    x.timeout = 0.3;
    run_thread(th_barrier, &x);
    CHECK(strstr(pc_last_error(), "died") == NULL);
    CHECK_RC(x.rc, PC_BROKEN);                          // by the timeout, not a death
    pc_mp_barrier_free(b);
}

// >>cases: packs
TEST(pack_freed_handle_refused) {
    pct_leak mark = pct_leak_now();
    pc_mp_lock *l = pc_mp_lock_new();
    pc_args *a = pc_args_new();
    CHECK_OK(pc_args_add_mp_lock(a, l));
    CHECK_RC(pc_args_add_mp_lock(a, NULL), PC_VALUE);
    CHECK_RC(pc_args_add_mp_event(a, (pc_mp_event *)(void *)l), PC_VALUE);
    pc_mp_lock_free(l);
    pc_process_desc d;
    memset(&d, 0, sizeof d);
    d.target = t_sleep_holding;
    d.args = a;
    d.context = pc_get_context(PC_START_FORK);
    CHECK(pc_process_new(&d) == NULL);
    CHECK_EQ(pc_last_error_code(), PC_VALUE);
    CHECK(strstr(pc_last_error(), "freed") != NULL);
    pc_connection *x, *y;
    CHECK_OK(pc_pipe(1, &x, &y));
    CHECK_RC(pc_connection_send_args(x, a), PC_VALUE);
    pc_args_free(a);
    pc_connection_free(x);
    pc_connection_free(y);
    pct_leak_end(mark);
}

// A pack sent over a connection carries live objects; a receiver whose
// object memory was tampered with refuses it.
TEST(pack_over_connection) {
    pct_leak mark = pct_leak_now();
    pc_connection *x, *y;
    CHECK_OK(pc_pipe(1, &x, &y));
    pc_mp_semaphore *s = pc_mp_semaphore_new(0);
    pc_args *a = pc_args_new();
    pc_args_add_mp_semaphore(a, s);
    CHECK_OK(pc_connection_send_args(x, a));
    pc_args *got = NULL;
    CHECK_OK(pc_connection_recv_args(y, &got));
    pc_mp_semaphore *s2;
    CHECK_OK(pc_args_get_mp_semaphore(got, 0, &s2));
    CHECK_EQ(pc_args_type(got, 0), PC_ARG_MP_SEMAPHORE);
    CHECK_RC(pc_args_get_mp_lock(got, 0, (pc_mp_lock **)(void *)&s2), PC_VALUE);
    CHECK_OK(pc_mp_semaphore_release(s2, 1));           // the same memory
    CHECK_OK(pc_mp_semaphore_acquire(s, 0));
    // A received pack can be sent on: its objects are live handles here.
    CHECK_OK(pc_connection_send_args(y, got));
    pc_args *again = NULL;
    CHECK_OK(pc_connection_recv_args(x, &again));
    pc_mp_semaphore *s3;
    CHECK_OK(pc_args_get_mp_semaphore(again, 0, &s3));
    CHECK_OK(pc_mp_semaphore_release(s3, 1));
    CHECK_OK(pc_mp_semaphore_acquire(s, 0));
    pc_args_free(again);
    pc_args_free(got);
    // Tamper with the header: the receiver refuses the pack.
    pc__p_obj *o = (pc__p_obj *)(void *)s;
    uint32_t saved = ((pc__p_shead *)(void *)o->seg->base)->magic;
    ((pc__p_shead *)(void *)o->seg->base)->magic = 0xdeadbeef;
    CHECK_OK(pc_connection_send_args(x, a));
    CHECK_RC(pc_connection_recv_args(y, &got), PC_VALUE);
    ((pc__p_shead *)(void *)o->seg->base)->magic = saved;
    pc_args_free(a);
    pc_mp_semaphore_free(s);
    pc_connection_free(x);
    pc_connection_free(y);
    pct_leak_end(mark);
}

// An object's memory is sealed at its size: a process it reaches cannot
// shrink it under the others' mappings (each access past the new end would
// be a SIGBUS). A received one without the seals is refused.
TEST(object_memory_sealed_at_its_size) {
#if PC__HAVE_MEMFD && defined(F_ADD_SEALS) && defined(F_SEAL_SHRINK) && defined(F_SEAL_GROW)
    pct_leak mark = pct_leak_now();
    pc_mp_semaphore *s = pc_mp_semaphore_new(0);
    CHECK(s != NULL);
    pc__p_obj *o = (pc__p_obj *)(void *)s;
    int fd = o->seg->fd;
    size_t size = o->seg->size;
    CHECK(ftruncate(fd, 0) < 0 && errno == EPERM);
    CHECK(ftruncate(fd, (off_t)size * 2) < 0 && errno == EPERM);
    // The same bytes in a memfd of our own, first without the seals
    for (int sealed = 0; sealed < 2; sealed++) {
        int copy = (int)syscall(SYS_memfd_create, "copy", 3u);  // CLOEXEC, ALLOW_SEALING
        CHECK(copy >= 0);
        CHECK(write(copy, o->seg->base, size) == (ssize_t)size);
        if (sealed) CHECK(fcntl(copy, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW) == 0);
        pc__p_seg *got = pc__p_seg_attach(copy, o->type);  // takes copy over
        if (!sealed) {
            CHECK(got == NULL);
            CHECK_MSG(strstr(pc_last_error(), "not sealed") != NULL, "%s", pc_last_error());
        } else {
            CHECK_MSG(got != NULL, "%s", pc_last_error());
            pc__p_seg_release(got);
        }
    }
    pc_mp_semaphore_free(s);
    pct_leak_end(mark);
#else
    pct_skip("no memfd seals on this system");
#endif
}

/* Tests of pyconc_process.h part F's multiprocessing.Pool (pc_pool_*) and
   ThreadPool (.threads): every call under fork, spawn, forkserver and
   threads, callbacks, raises, timeouts, a worker killed in a task, Python's
   large-failure and maxtasksperchild cases, terminate, bad input, a task
   that segfaults beside 100 KiB items and results, maxtasksperchild's
   order; each process case checks that no descriptor or zombie is left,
   and that a freed pool's workers are gone. This program
   is also the image the spawned and forkserver workers run. */
#define PYCONC_ALL_IMPLEMENTATION
#include "pyconc_process.h"

#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "pc_test.h"
#include "pc_proc_test.h"

enum { THREADS = -1 };          // the "method" of a ThreadPool

// >>helpers
typedef struct leak_mark { int fds; } leak_mark;
static int t_nothing(void *arg) { (void)arg; return 0; }

// Descriptors now, once the start method's server (if any) runs.
static leak_mark leak_begin(int m) {
    if (m != THREADS) {
        pc_process *p = proc_new((pc_start_method)m, t_nothing, NULL, PC_DAEMON_INHERIT);
        CHECK_OK(pc_process_start(p));
        CHECK_OK(pc_process_join(p, 20));
        pc_process_free(p);
    }
    leak_mark k = {count_fds()};
    return k;
}

static void leak_end(leak_mark k) {
    CHECK_EQ(count_fds(), k.fds);
    CHECK(no_zombies());
}

// What the workers share, from the initializer's pack: an event a task
// blocks on, and a value it stores its pid in.
static PC__TLS pc_mp_event *g_go;      // each worker thread of a ThreadPool runs the initializer
static PC__TLS pc_mp_value *g_pid;

static int init_keep(void *arg) {
    pc_args *a = (pc_args *)arg;
    if (pc_args_get_mp_event(a, 0, &g_go) || pc_args_get_mp_value(a, 1, &g_pid)) return 1;
    return 0;
}

typedef struct shared { pc_mp_event *go; pc_mp_value *pid; } shared;

static shared shared_new(void) {
    pc_mp_value_desc vd;
    memset(&vd, 0, sizeof vd);
    vd.typecode = "q";
    shared s = {pc_mp_event_new(), pc_mp_value_new(&vd)};
    CHECK(s.go && s.pid);
    return s;
}

static void shared_free(shared s) {
    pc_mp_event_free(s.go);
    pc_mp_value_free(s.pid);
}

// A pool with the shared objects in its initargs (the pack is freed at
// once: the pool keeps a copy).
static pc_pool *pool_new(int m, int n, size_t result_size, int quota, shared *s) {
    pc_pool_desc d;
    memset(&d, 0, sizeof d);
    d.processes = n;
    d.threads = m == THREADS;
    if (m != THREADS) d.context = pc_get_context((pc_start_method)m);
    d.result_size = result_size;
    d.maxtasksperchild = quota;
    pc_args *a = NULL;
    if (s) {
        a = pc_args_new();
        CHECK_OK(pc_args_add_mp_event(a, s->go));
        CHECK_OK(pc_args_add_mp_value(a, s->pid));
        d.initializer = init_keep;
        d.initargs = a;
    }
    pc_pool *p = pc_pool_new(&d);
    CHECK_MSG(p != NULL, "pc_pool_new: %s", pc_last_error());
    pc_args_free(a);
    return p;
}

// >>tasks
static void *t_square(void *arg) {
    long n = *(long *)arg;
    return (void *)(intptr_t)(n * n);
}
static void *t_double_value(void *arg) { return (void *)((intptr_t)arg * 2); }
typedef struct pair { long a, b; } pair;
static void *t_pair(void *arg) {        // a result by copy, from static storage
    static PC__TLS pair out;
    long n = *(long *)arg;
    out.a = n;
    out.b = -n;
    return &out;
}
static void *t_raise_3(void *arg) {     // raises on 3
    long n = *(long *)arg;
    if (n == 3) pc_raise(PC_VALUE, "bad item %ld", n);
    return (void *)(intptr_t)(n * n);
}
static void *t_star(void *arg) {        // (a, b, s) -> a * b + strlen(s)
    const pc_args *a = (const pc_args *)arg;
    int64_t x = 0, y = 0;
    const char *s = "";
    if (pc_args_get_int(a, 0, &x) || pc_args_get_int(a, 1, &y) || pc_args_get_str(a, 2, &s)) {
        pc_raise(PC_VALUE, "bad pack");
        return NULL;
    }
    return (void *)(intptr_t)(x * y + (int64_t)strlen(s));
}
static void *t_wait_go(void *arg) {     // blocks until the test sets the event
    pc_mp_event_wait(g_go, 60);
    return arg;
}
static void *t_die(void *arg) {         // tells its pid, then is killed
    int64_t pid = getpid();
    (void)arg;
    pc_mp_value_store(g_pid, &pid, sizeof pid);
    kill(getpid(), SIGKILL);
    for (;;) pc_sleep(1);
    return NULL;
}
static void *t_pid(void *arg) { (void)arg; return (void *)(intptr_t)getpid(); }

// >>callbacks
typedef struct seen { pc_lock lock; int calls, errors, code; long sum; } seen;
static void on_result(void *r, void *ctx) {
    seen *s = (seen *)ctx;
    pc_lock_acquire(&s->lock, PC_FOREVER);
    s->calls++;
    s->sum += (long)(intptr_t)r;
    pc_lock_release(&s->lock);
}
static void on_map(void *r, void *ctx) {
    seen *s = (seen *)ctx;
    void **v = (void **)r;
    pc_lock_acquire(&s->lock, PC_FOREVER);
    s->calls++;
    for (int i = 0; i < 10; i++) s->sum += (long)(intptr_t)v[i];
    pc_lock_release(&s->lock);
}
static void on_error(int code, const char *msg, void *ctx) {
    seen *s = (seen *)ctx;
    pc_lock_acquire(&s->lock, PC_FOREVER);
    s->errors++;
    s->code = strstr(msg, "bad item 3") ? code : -1;
    pc_lock_release(&s->lock);
}

// >>basics: every call
static void body_basics(int m) {
    leak_mark k = leak_begin(m);
    pc_pool *p = pool_new(m, 2, 0, 0, NULL);
    long n = 7;
    void *r = NULL;
    CHECK_OK(pc_pool_apply(p, t_square, &n, sizeof n, &r));
    CHECK_EQ((long)(intptr_t)r, 49);
    CHECK_OK(pc_pool_apply(p, t_double_value, (void *)(intptr_t)21, 0, &r));
    CHECK_EQ((long)(intptr_t)r, 42);
    CHECK_OK(pc_pool_apply(p, t_pid, NULL, 0, &r));
    if (m != THREADS) CHECK((long)(intptr_t)r != (long)getpid());
    // apply_async with a callback: it has run once get returns
    seen s;
    memset(&s, 0, sizeof s);
    pc_pool_callbacks cb = {on_result, on_error, &s};
    pc_async_result *ar;
    CHECK_OK(pc_pool_apply_async(p, t_square, &n, sizeof n, &cb, &ar));
    CHECK_OK(pc_async_result_get(ar, 20, &r));
    CHECK_EQ((long)(intptr_t)r, 49);
    CHECK_EQ(s.calls, 1);
    CHECK_EQ(s.sum, 49);
    CHECK_EQ(pc_async_result_ready(ar), 1);
    int ok = 0;
    CHECK_OK(pc_async_result_successful(ar, &ok));
    CHECK_EQ(ok, 1);
    CHECK_OK(pc_async_result_wait(ar, 0));
    pc_async_result_free(ar);
    // map, chunked by Python's rule and by hand; the items are copied
    long items[100], out[100];
    for (long i = 0; i < 100; i++) items[i] = i;
    pc_map_desc md;
    memset(&md, 0, sizeof md);
    md.items = items;
    md.count = 100;
    md.item_size = sizeof(long);
    void *res[100];
    CHECK_OK(pc_pool_map(p, t_square, &md, res));
    for (long i = 0; i < 100; i++) CHECK_EQ((long)(intptr_t)res[i], i * i);
    md.chunksize = 7;
    CHECK_OK(pc_pool_map_async(p, t_square, &md, NULL, &ar));
    for (long i = 0; i < 100; i++) items[i] = -1;       // the pool has its copy
    void **v;
    CHECK_OK(pc_async_result_get(ar, 20, (void **)&v));
    for (long i = 0; i < 100; i++) CHECK_EQ((long)(intptr_t)v[i], i * i);
    pc_async_result_free(ar);
    for (long i = 0; i < 100; i++) items[i] = i;
    memset(&s, 0, sizeof s);
    md.count = 10;
    cb.callback = on_map;
    CHECK_OK(pc_pool_map_async(p, t_square, &md, &cb, &ar));
    CHECK_OK(pc_async_result_wait(ar, 20));
    CHECK_EQ(s.errors, 0);
    CHECK_EQ(s.calls, 1);
    CHECK_EQ(s.sum, 285);       // 0 + 1 + 4 + ... + 81
    pc_async_result_free(ar);
    // imap in order, imap_unordered in any order
    md.count = 50;
    md.chunksize = 3;
    pc_imap_iterator *it;
    CHECK_OK(pc_pool_imap(p, t_square, &md, &it));
    for (long i = 0; i < 50; i++) {
        CHECK_OK(pc_imap_iterator_next(it, 20, &r));
        CHECK_EQ((long)(intptr_t)r, i * i);
    }
    CHECK_EQ(pc_imap_iterator_next(it, 20, &r), PC_EOF);
    pc_imap_iterator_free(it);
    md.chunksize = 0;
    CHECK_OK(pc_pool_imap_unordered(p, t_square, &md, &it));
    long sum = 0;
    for (long i = 0; i < 50; i++) {
        CHECK_OK(pc_imap_iterator_next(it, 20, &r));
        sum += (long)(intptr_t)r;
    }
    CHECK_EQ(sum, 40425);       // squares of 0..49
    CHECK_EQ(pc_imap_iterator_next(it, 0, &r), PC_EOF);
    pc_imap_iterator_free(it);
    // starmap over packs (a, b, s)
    pc_args *packs[5];
    for (int i = 0; i < 5; i++) {
        packs[i] = pc_args_new();
        CHECK_OK(pc_args_add_int(packs[i], i));
        CHECK_OK(pc_args_add_int(packs[i], 10));
        CHECK_OK(pc_args_add_str(packs[i], i % 2 ? "ab" : "abcdefgh"));
    }
    CHECK_OK(pc_pool_starmap(p, t_star, (const pc_args *const *)packs, 5, 2, res));
    for (long i = 0; i < 5; i++) CHECK_EQ((long)(intptr_t)res[i], i * 10 + (i % 2 ? 2 : 8));
    CHECK_OK(pc_pool_starmap_async(p, t_star, (const pc_args *const *)packs, 5, 0, NULL, &ar));
    for (int i = 0; i < 5; i++) pc_args_free(packs[i]);
    CHECK_OK(pc_async_result_get(ar, 20, (void **)&v));
    CHECK_EQ((long)(intptr_t)v[4], 48);
    pc_async_result_free(ar);
    // an empty map
    md.count = 0;
    CHECK_OK(pc_pool_map(p, t_square, &md, res));
    CHECK_OK(pc_pool_close(p));
    CHECK_OK(pc_pool_join(p));
    pc_pool_free(p);
    (void)out;
    leak_end(k);
}
TEST(basics_fork) { body_basics(PC_START_FORK); }
TEST(basics_spawn) { body_basics(PC_START_SPAWN); }
TEST(basics_forkserver) { body_basics(PC_START_FORKSERVER); }
TEST(basics_threads) { body_basics(THREADS); }

// >>copies: results of result_size bytes
static void body_copies(int m) {
    leak_mark k = leak_begin(m);
    pc_pool *p = pool_new(m, 2, sizeof(pair), 0, NULL);
    long n = 5;
    pair one;
    CHECK_OK(pc_pool_apply(p, t_pair, &n, sizeof n, &one));
    CHECK_EQ(one.a, 5);
    CHECK_EQ(one.b, -5);
    long items[20];
    pair out[20];
    for (long i = 0; i < 20; i++) items[i] = i;
    pc_map_desc md;
    memset(&md, 0, sizeof md);
    md.items = items;
    md.count = 20;
    md.item_size = sizeof(long);
    md.chunksize = 3;
    CHECK_OK(pc_pool_map(p, t_pair, &md, out));
    for (long i = 0; i < 20; i++) {
        CHECK_EQ(out[i].a, i);
        CHECK_EQ(out[i].b, -i);
    }
    pc_imap_iterator *it;
    CHECK_OK(pc_pool_imap(p, t_pair, &md, &it));
    for (long i = 0; i < 20; i++) {
        void *r;
        CHECK_OK(pc_imap_iterator_next(it, 20, &r));
        CHECK_EQ(((pair *)r)->a, i);
    }
    pc_imap_iterator_free(it);
    pc_pool_free(p);
    leak_end(k);
}
TEST(copies_fork) { body_copies(PC_START_FORK); }
TEST(copies_spawn) { body_copies(PC_START_SPAWN); }
TEST(copies_threads) { body_copies(THREADS); }

// >>errors: raises reach get, the error callback, map and imap
static void body_errors(int m) {
    leak_mark k = leak_begin(m);
    pc_pool *p = pool_new(m, 2, 0, 0, NULL);
    long n = 3;
    void *r;
    CHECK_EQ(pc_pool_apply(p, t_raise_3, &n, sizeof n, &r), PC_VALUE);
    CHECK(strstr(pc_last_error(), "bad item 3") != NULL);
    seen s;
    memset(&s, 0, sizeof s);
    pc_pool_callbacks cb = {on_result, on_error, &s};
    pc_async_result *ar;
    CHECK_OK(pc_pool_apply_async(p, t_raise_3, &n, sizeof n, &cb, &ar));
    CHECK_EQ(pc_async_result_get(ar, 20, &r), PC_VALUE);
    CHECK_EQ(s.errors, 1);
    CHECK_EQ(s.code, PC_VALUE);
    CHECK_EQ(s.calls, 0);
    int ok = 1;
    CHECK_OK(pc_async_result_successful(ar, &ok));
    CHECK_EQ(ok, 0);
    pc_async_result_free(ar);
    long items[10];
    for (long i = 0; i < 10; i++) items[i] = i;
    pc_map_desc md;
    memset(&md, 0, sizeof md);
    md.items = items;
    md.count = 10;
    md.item_size = sizeof(long);
    void *res[10];
    CHECK_EQ(pc_pool_map(p, t_raise_3, &md, res), PC_VALUE);
    CHECK(strstr(pc_last_error(), "bad item 3") != NULL);
    md.chunksize = 1;           // imap goes on past a raise
    pc_imap_iterator *it;
    CHECK_OK(pc_pool_imap(p, t_raise_3, &md, &it));
    for (long i = 0; i < 10; i++) {
        int rc = pc_imap_iterator_next(it, 20, &r);
        if (i == 3) {
            CHECK_EQ(rc, PC_VALUE);
            continue;
        }
        CHECK_OK(rc);
        CHECK_EQ((long)(intptr_t)r, i * i);
    }
    CHECK_EQ(pc_imap_iterator_next(it, 20, &r), PC_EOF);
    pc_imap_iterator_free(it);
    md.chunksize = 5;           // a raise skips the rest of its chunk: 4 does not run
    CHECK_OK(pc_pool_imap_unordered(p, t_raise_3, &md, &it));
    int got = 0, raised = 0, rc;
    while ((rc = pc_imap_iterator_next(it, 20, &r)) != PC_EOF) {
        if (rc == PC_VALUE) raised++;
        else if (rc == PC_OK) got++;
        else CHECK_MSG(0, "next: %s", pc_last_error());
    }
    CHECK_EQ(raised, 1);
    CHECK_EQ(got, 8);
    pc_imap_iterator_free(it);
    pc_pool_free(p);
    leak_end(k);
}
TEST(errors_fork) { body_errors(PC_START_FORK); }
TEST(errors_spawn) { body_errors(PC_START_SPAWN); }
TEST(errors_forkserver) { body_errors(PC_START_FORKSERVER); }
TEST(errors_threads) { body_errors(THREADS); }

// >>timeouts: get, wait, imap next; successful before ready is PC_VALUE
static void body_timeouts(int m) {
    leak_mark k = leak_begin(m);
    shared sh = shared_new();
    pc_pool *p = pool_new(m, 2, 0, 0, &sh);
    pc_async_result *ar;
    CHECK_OK(pc_pool_apply_async(p, t_wait_go, (void *)(intptr_t)5, 0, NULL, &ar));
    void *r;
    CHECK_EQ(pc_async_result_get(ar, 0.05, &r), PC_TIMEOUT);
    CHECK_EQ(pc_async_result_wait(ar, 0.01), PC_TIMEOUT);
    CHECK_EQ(pc_async_result_ready(ar), 0);
    int ok;
    CHECK_EQ(pc_async_result_successful(ar, &ok), PC_VALUE);
    long items[4] = {1, 2, 3, 4};
    pc_map_desc md;
    memset(&md, 0, sizeof md);
    md.items = items;
    md.count = 4;
    md.item_size = sizeof(long);
    pc_imap_iterator *it;
    CHECK_OK(pc_pool_imap(p, t_wait_go, &md, &it));
    CHECK_EQ(pc_imap_iterator_next(it, 0.05, &r), PC_TIMEOUT);
    CHECK_OK(pc_mp_event_set(sh.go));
    CHECK_OK(pc_async_result_get(ar, 20, &r));
    CHECK_EQ((long)(intptr_t)r, 5);
    for (long i = 0; i < 4; i++) {
        CHECK_OK(pc_imap_iterator_next(it, 20, &r));
        if (m == THREADS) CHECK_EQ(*(long *)r, i + 1);      // the pool's copy of the item
    }
    pc_imap_iterator_free(it);
    pc_async_result_free(ar);
    pc_pool_free(p);
    shared_free(sh);
    leak_end(k);
}
TEST(timeouts_fork) { body_timeouts(PC_START_FORK); }
TEST(timeouts_spawn) { body_timeouts(PC_START_SPAWN); }
TEST(timeouts_threads) { body_timeouts(THREADS); }

// >>killed: a worker killed in a task fails exactly that task; the pool goes on
static void body_killed(pc_start_method m) {
    leak_mark k = leak_begin(m);
    shared sh = shared_new();
    pc_pool *p = pool_new(m, 2, 0, 0, &sh);
    pc_async_result *dead, *ok[6];
    long items[6];
    for (long i = 0; i < 6; i++) {
        items[i] = i;
        CHECK_OK(pc_pool_apply_async(p, t_square, &items[i], sizeof(long), NULL, &ok[i]));
    }
    CHECK_OK(pc_pool_apply_async(p, t_die, NULL, 0, NULL, &dead));
    void *r;
    CHECK_EQ(pc_async_result_get(dead, 30, &r), PC_BROKEN);
    int64_t victim = 0;
    CHECK_OK(pc_mp_value_load(sh.pid, &victim, sizeof victim));
    char want[128];
    snprintf(want, sizeof want, "worker process %lld was killed by signal %d (SIGKILL)",
             (long long)victim, SIGKILL);
    CHECK_MSG(strstr(pc_last_error(), want) != NULL, "%s", pc_last_error());
    for (long i = 0; i < 6; i++) {
        CHECK_OK(pc_async_result_get(ok[i], 30, &r));
        CHECK_EQ((long)(intptr_t)r, i * i);
        pc_async_result_free(ok[i]);
    }
    pc_async_result_free(dead);
    pc_map_desc md;
    memset(&md, 0, sizeof md);
    md.items = items;
    md.count = 6;
    md.item_size = sizeof(long);
    void *res[6];
    CHECK_OK(pc_pool_map(p, t_square, &md, res));      // still usable
    CHECK_EQ((long)(intptr_t)res[5], 25);
    CHECK_OK(pc_pool_close(p));
    CHECK_OK(pc_pool_join(p));
    pc_pool_free(p);
    shared_free(sh);
    leak_end(k);
}
TEST(killed_worker_fork) { body_killed(PC_START_FORK); }
TEST(killed_worker_spawn) { body_killed(PC_START_SPAWN); }
TEST(killed_worker_forkserver) { body_killed(PC_START_FORKSERVER); }

// >>large failures: both tasks of a map raise beside 1 MiB results (no
// deadlock on the result pipe; Python's bpo-23992)
enum { MIB = 1 << 20 };
static void *t_big(void *arg) {         // 1 MiB of its item's byte, or a raise
    static unsigned char buf[MIB];
    long n = *(long *)arg;
    memset(buf, (int)(n & 0x7f), sizeof buf);
    if (n < 0) pc_raise(PC_RUNTIME, "failed with a 1 MiB result ready (%ld)", n);
    return buf;
}
static void body_large(pc_start_method m) {
    leak_mark k = leak_begin(m);
    pc_pool *p = pool_new(m, 2, MIB, 0, NULL);
    long items[2] = {-1, -2};
    pc_map_desc md;
    memset(&md, 0, sizeof md);
    md.items = items;
    md.count = 2;
    md.item_size = sizeof(long);
    md.chunksize = 1;
    unsigned char *out = (unsigned char *)malloc(2 * (size_t)MIB);
    CHECK(out != NULL);
    CHECK_EQ(pc_pool_map(p, t_big, &md, out), PC_RUNTIME);
    CHECK(strstr(pc_last_error(), "1 MiB") != NULL);
    items[0] = 5;
    items[1] = 9;
    CHECK_OK(pc_pool_map(p, t_big, &md, out));
    CHECK_EQ(out[0], 5);
    CHECK_EQ(out[MIB - 1], 5);
    CHECK_EQ(out[2 * (size_t)MIB - 1], 9);
    free(out);
    pc_pool_free(p);
    leak_end(k);
}
TEST(large_failures_fork) { body_large(PC_START_FORK); }
TEST(large_failures_spawn) { body_large(PC_START_SPAWN); }

// >>maxtasksperchild: Pool(3, maxtasksperchild=1), 6 tasks, close + join
// at once: every result is right (Python's bpo-10332)
static void body_quota(pc_start_method m) {
    leak_mark k = leak_begin(m);
    for (int round = 0; round < 3; round++) {
        pc_pool *p = pool_new(m, 3, 0, 1, NULL);
        long items[6];
        for (long i = 0; i < 6; i++) items[i] = i + 1;
        pc_map_desc md;
        memset(&md, 0, sizeof md);
        md.items = items;
        md.count = 6;
        md.item_size = sizeof(long);
        md.chunksize = 1;
        pc_async_result *ar;
        CHECK_OK(pc_pool_map_async(p, t_square, &md, NULL, &ar));
        CHECK_OK(pc_pool_close(p));
        CHECK_OK(pc_pool_join(p));
        void **v;
        CHECK_OK(pc_async_result_get(ar, 0, (void **)&v));
        for (long i = 0; i < 6; i++) CHECK_EQ((long)(intptr_t)v[i], (i + 1) * (i + 1));
        pc_async_result_free(ar);
        pc_pool_free(p);
    }
    leak_end(k);
}
TEST(maxtasksperchild_fork) { body_quota(PC_START_FORK); }
TEST(maxtasksperchild_spawn) { body_quota(PC_START_SPAWN); }
TEST(maxtasksperchild_forkserver) { body_quota(PC_START_FORKSERVER); }

// >>terminate: the running task fails, the queued ones are cancelled
static void body_terminate(int m) {
    leak_mark k = leak_begin(m);
    shared sh = shared_new();
    pc_pool *p = pool_new(m, 1, 0, 0, &sh);
    pc_async_result *a[4];
    for (int i = 0; i < 4; i++)
        CHECK_OK(pc_pool_apply_async(p, t_wait_go, NULL, 0, NULL, &a[i]));
    if (m == THREADS) CHECK_OK(pc_mp_event_set(sh.go));     // a thread cannot be killed
    CHECK_OK(pc_pool_terminate(p));
    CHECK_OK(pc_pool_join(p));
    int done = 0, failed = 0;
    for (int i = 0; i < 4; i++) {
        int rc = pc_async_result_get(a[i], 20, NULL);
        if (rc == PC_OK) done++;
        else if (rc == PC_BROKEN || rc == PC_CANCELLED) failed++;
        pc_async_result_free(a[i]);
    }
    CHECK_EQ(done + failed, 4);
    if (m != THREADS) CHECK_EQ(failed, 4);
    CHECK_EQ(pc_pool_apply(p, t_square, NULL, 0, NULL), PC_VALUE);   // not running
    pc_pool_free(p);
    shared_free(sh);
    leak_end(k);
}
TEST(terminate_fork) { body_terminate(PC_START_FORK); }
TEST(terminate_spawn) { body_terminate(PC_START_SPAWN); }
TEST(terminate_threads) { body_terminate(THREADS); }

// >>bad input
TEST(bad_input) {
    pc_pool_desc d;
    memset(&d, 0, sizeof d);
    d.processes = -1;
    CHECK(pc_pool_new(&d) == NULL);
    CHECK_EQ(pc_last_error_code(), PC_VALUE);
    d.processes = 1;
    d.threads = 1;
    d.maxtasksperchild = 2;
    CHECK(pc_pool_new(&d) == NULL);
    CHECK_EQ(pc_last_error_code(), PC_VALUE);
    pc_pool *p = pool_new(PC_START_SPAWN, 1, 0, 0, NULL);
    CHECK_EQ(pc_pool_join(p), PC_VALUE);        // still running
    pc_map_desc md;
    memset(&md, 0, sizeof md);
    long items[2] = {1, 2};
    md.items = items;
    md.count = 2;
    md.item_size = sizeof(long);
    md.timeout = 1;
    CHECK_EQ(pc_pool_map(p, t_square, &md, NULL), PC_VALUE);
    CHECK_EQ(pc_pool_map(p, t_square, NULL, NULL), PC_VALUE);
    CHECK_EQ(pc_pool_apply(p, NULL, NULL, 0, NULL), PC_VALUE);
    pc_connection *r, *w;
    CHECK_OK(pc_pipe(1, &r, &w));
    pc_args *a = pc_args_new();
    CHECK_OK(pc_args_add_connection(a, r));
    const pc_args *packs[1] = {a};
    CHECK_EQ(pc_pool_starmap(p, t_star, packs, 1, 0, NULL), PC_VALUE);
    pc_args_free(a);
    pc_connection_free(r);
    pc_connection_free(w);
    CHECK_EQ(pc_async_result_get(NULL, 0, NULL), PC_VALUE);
    CHECK_EQ(pc_imap_iterator_next(NULL, 0, NULL), PC_VALUE);
    CHECK_OK(pc_pool_close(p));
    CHECK_EQ(pc_pool_apply(p, t_square, NULL, 0, NULL), PC_VALUE);
    CHECK_OK(pc_pool_join(p));
    pc_pool_free(p);
    pc_pool_free(NULL);
    CHECK(no_zombies());
}

// >>a task that crashes, beside items and results bigger than a pipe's buffer:
// imap goes on past it, every other item is right
enum { CRASH_AT = 4 };

static void body_crash_big(pc_start_method m) {
    pct_leak k = pct_leak_begin(m);
    pct_big_gate_begin(m);
    pc_pool *p = pool_new(m, 2, PCT_BIG, 0, NULL);
    pct_big_item *items = pct_big_items(CRASH_AT);
    pc_map_desc md;
    memset(&md, 0, sizeof md);
    md.items = items;
    md.count = PCT_NBIG;
    md.item_size = sizeof *items;
    md.chunksize = 1;
    pc_imap_iterator *it;
    CHECK_OK(pc_pool_imap(p, pct_big_or_crash, &md, &it));
    free(items);                        // the pool has its copy
    for (long i = 0; i < PCT_NBIG; i++) {
        void *r;
        if (i == CRASH_AT) pct_big_gate_open();
        int rc = pc_imap_iterator_next(it, 60, &r);
        if (i == CRASH_AT) {
            CHECK_EQ(rc, PC_BROKEN);
            pct_check_segv_message(i);
        } else {
            CHECK_MSG(rc == PC_OK, "item %ld: %s", i, pc_last_error());
            pct_check_big_result(r, i);
        }
    }
    CHECK_EQ(pc_imap_iterator_next(it, 20, NULL), PC_EOF);
    pc_imap_iterator_free(it);
    CHECK_OK(pc_pool_close(p));
    CHECK_OK(pc_pool_join(p));
    pc_pool_free(p);
    pct_big_gate_end();
    pct_leak_end(k);
}
// Where the worker dies against the pipe traffic varies: several rounds.
static void crash_big_rounds(pc_start_method m) {
    for (int round = 0; round < 4; round++) body_crash_big(m);
}
TEST(crash_beside_big_items_fork) { crash_big_rounds(PC_START_FORK); }
TEST(crash_beside_big_items_spawn) { crash_big_rounds(PC_START_SPAWN); }
TEST(crash_beside_big_items_forkserver) { crash_big_rounds(PC_START_FORKSERVER); }

// >>maxtasksperchild=3, one worker: tasks 1-3 in one process, 4-6 in the
// next, ... (a Pool takes it under fork too, as Python's does)
static void body_quota_order(pc_start_method m) {
    pct_leak k = pct_leak_begin(m);
    pc_pool *p = pool_new(m, 1, 0, 3, NULL);
    enum { N = 10 };
    pc_async_result *ar[N];
    long pids[N];
    for (int i = 0; i < N; i++) CHECK_OK(pc_pool_apply_async(p, t_pid, NULL, 0, NULL, &ar[i]));
    for (int i = 0; i < N; i++) {
        void *r;
        CHECK_MSG(pc_async_result_get(ar[i], 30, &r) == PC_OK, "task %d: %s", i + 1,
                  pc_last_error());
        pids[i] = (long)(intptr_t)r;
        pc_async_result_free(ar[i]);
    }
    for (int i = 1; i < N; i++) {
        int same_group = i / 3 == (i - 1) / 3;
        CHECK_MSG((pids[i] == pids[i - 1]) == same_group, "task %d ran in %ld, task %d in %ld",
                  i, pids[i - 1], i + 1, pids[i]);
        for (int j = 0; j < i; j++)
            if (j / 3 != i / 3) CHECK_MSG(pids[j] != pids[i], "tasks %d and %d: pid %ld",
                                          j + 1, i + 1, pids[i]);
    }
    CHECK_OK(pc_pool_close(p));
    CHECK_OK(pc_pool_join(p));
    pc_pool_free(p);
    pct_leak_end(k);
}
TEST(maxtasksperchild_order_fork) { body_quota_order(PC_START_FORK); }
TEST(maxtasksperchild_order_spawn) { body_quota_order(PC_START_SPAWN); }
TEST(maxtasksperchild_order_forkserver) { body_quota_order(PC_START_FORKSERVER); }

// >>after the pool is freed: no descriptor, zombie or process of it is left
static void *t_suicide(void *arg) {
    (void)arg;
    kill(getpid(), SIGKILL);
    for (;;) pc_sleep(1);
    return NULL;
}
static void *t_nap(void *arg) {
    (void)arg;
    pc_sleep(0.05);
    return (void *)(intptr_t)getpid();
}

// Each pid is gone from /proc: neither running nor a zombie (of ours or of
// the forkserver). Freeing reaps them; the forkserver may take a moment.
static void check_gone(const long *pids, int n) {
    for (int i = 0; i < n; i++) {
        char st = pct_proc_state(pids[i]);
        for (int w = 0; w < 1000 && st != '?'; w++, st = pct_proc_state(pids[i])) pc_sleep(0.01);
        CHECK_MSG(st == '?', "worker %ld is still there (state %c)", pids[i], st);
    }
}

static void add_pid(long *pids, int *n, int cap, long pid) {
    for (int j = 0; j < *n; j++)
        if (pids[j] == pid) return;
    if (*n < cap) pids[(*n)++] = pid;
}

// Workers come and go (a quota of 2, a killed one); the pool is freed
// while it still runs, with tasks queued (pc_pool_free terminates it).
static void body_freed_leaves_nothing(pc_start_method m) {
    pct_leak k = pct_leak_begin(m);
    for (int round = 0; round < 3; round++) {
        pc_pool *p = pool_new(m, 2, 0, 2, NULL);
        long pids[64];
        int n = 0;
        long items[12] = {0};
        pc_map_desc md;
        memset(&md, 0, sizeof md);
        md.items = items;
        md.count = 12;
        md.item_size = sizeof items[0];
        md.chunksize = 1;
        void *res[12];
        CHECK_OK(pc_pool_map(p, t_pid, &md, res));
        for (int i = 0; i < 12; i++) add_pid(pids, &n, 64, (long)(intptr_t)res[i]);
        CHECK(n >= 6);                  // a quota of 2 tasks: 12 tasks need 6 processes
        CHECK_EQ(pc_pool_apply(p, t_suicide, NULL, 0, NULL), PC_BROKEN);
        CHECK_OK(pc_pool_map(p, t_nap, &md, res));      // the replacements
        for (int i = 0; i < 12; i++) add_pid(pids, &n, 64, (long)(intptr_t)res[i]);
        pc_async_result *ar;
        CHECK_OK(pc_pool_map_async(p, t_nap, &md, NULL, &ar));     // running and queued
        pc_pool_free(p);
        pc_async_result_free(ar);
        check_gone(pids, n);
        pct_leak_end(k);
    }
}
TEST(freed_leaves_nothing_fork) { body_freed_leaves_nothing(PC_START_FORK); }
TEST(freed_leaves_nothing_spawn) { body_freed_leaves_nothing(PC_START_SPAWN); }
TEST(freed_leaves_nothing_forkserver) { body_freed_leaves_nothing(PC_START_FORKSERVER); }

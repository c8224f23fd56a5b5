/* bench_futures.c - pyconc_futures.h against GLib's GThreadPool, libuv's
   uv_queue_work, a plain pthread pool (mutex + condvar queue, below) and
   Python's ThreadPoolExecutor, all with 2 workers, on the same work:

     throughput   N trivial tasks submitted, then all waited for
     round trip   one task submitted and its result waited for (median)
     map          Executor.map over N items, results consumed in order
     fire and forget  N tasks submitted without a future (each counts
                  itself done), then the count waited for: the per-task cost
                  when nobody holds the future
     workers      the throughput case with 1, 2, 4, 8 and 16 workers against
                  the pthread pool with as many (N/4 tasks): how the cost
                  grows with the pool; the target: 16 workers keep >= 0.7x
                  the throughput of 2 on this machine
     memory       what N pending futures add to the heap, per future

   usage: bench_futures [N]   (default 1000000; the round trip runs N/10)
          bench_futures quick (N = 20000, a smoke test) */
#define PYCONC_IMPLEMENTATION
#define PYCONC_FUTURES_IMPLEMENTATION
#include "pyconc_futures.h"
#include "bench.h"

#include <stdint.h>
#if defined(__GLIBC__)
#include <malloc.h>
#endif
#ifdef PYCONC_HAVE_GLIB
#include <glib.h>
#endif
#ifdef PYCONC_HAVE_LIBUV
#include <uv.h>
#endif

#define WORKERS 2
#define MAX_WORKERS 16
#define ROUNDS 5
#define PY "Python ThreadPoolExecutor"
#define GLIB "GLib GThreadPool"
#define LIBUV "libuv uv_queue_work"

static size_t n_tasks = 1000000;

static void *trivial(void *arg) { return arg; }

// >>pyconc
typedef struct pyconc_ctx { pc_executor *ex; pc_future **fs; size_t n; } pyconc_ctx;

static double pyconc_throughput(void *p) {
    pyconc_ctx *c = (pyconc_ctx *)p;
    double t0 = pcb_now();
    for (size_t i = 0; i < c->n; i++)
        if (pc_executor_submit(c->ex, trivial, (void *)(uintptr_t)i, &c->fs[i])) abort();
    for (size_t i = 0; i < c->n; i++) {
        if (pc_future_result(c->fs[i], PC_FOREVER, NULL)) abort();
        pc_future_release(c->fs[i]);
    }
    return (pcb_now() - t0) / (double)c->n;
}

// Fire and forget: no future is kept; each task counts itself and the one
// that reaches the target sets the event the submitter waits on.
typedef struct ff_ctx { pc_executor *ex; size_t n, finished, target; pc_event done; } ff_ctx;

static void *ff_task(void *arg) {
    ff_ctx *c = (ff_ctx *)arg;
    size_t done = __atomic_add_fetch(&c->finished, 1, __ATOMIC_ACQ_REL);
    if (done == __atomic_load_n(&c->target, __ATOMIC_ACQUIRE)) pc_event_set(&c->done);
    return NULL;
}

static double pyconc_fire_and_forget(void *p) {
    ff_ctx *c = (ff_ctx *)p;
    pc_event_clear(&c->done);
    __atomic_store_n(&c->target, c->finished + c->n, __ATOMIC_RELEASE);
    double t0 = pcb_now();
    for (size_t i = 0; i < c->n; i++)
        if (pc_executor_submit(c->ex, ff_task, c, NULL)) abort();
    pc_event_wait(&c->done, PC_FOREVER);
    return (pcb_now() - t0) / (double)c->n;
}

static double *lat;     // per-op round-trip times of one trial

static double pyconc_round_trip(void *p) {
    pyconc_ctx *c = (pyconc_ctx *)p;
    size_t n = n_tasks / 10;
    for (size_t i = 0; i < n; i++) {
        pc_future *f;
        double t0 = pcb_now();
        if (pc_executor_submit(c->ex, trivial, NULL, &f)) abort();
        if (pc_future_result(f, PC_FOREVER, NULL)) abort();
        lat[i] = pcb_now() - t0;
        pc_future_release(f);
    }
    return pcb_median(lat, (int)n);
}

typedef struct map_ctx { pc_executor *ex; void **items; size_t chunksize, buffersize; } map_ctx;

static double pyconc_map(void *p) {
    map_ctx *m = (map_ctx *)p;
    pc_map_iter *it;
    double t0 = pcb_now();
    pc_map_desc d = { .items = m->items, .count = n_tasks, .chunksize = m->chunksize,
                      .buffersize = m->buffersize };
    if (pc_executor_map(m->ex, trivial, &d, &it))
        abort();
    void *out;
    size_t got = 0;
    while (pc_map_iter_next(it, &out) == PC_OK) got++;
    pc_map_iter_free(it);
    if (got != n_tasks) abort();
    return (pcb_now() - t0) / (double)n_tasks;
}

// >>plain: the pool people write by hand: a linked queue under one mutex,
// one condvar for workers, a counter and a condvar for completion.
typedef struct ptask { void *(*fn)(void *); void *arg; struct ptask *next; } ptask;
typedef struct plain_pool {
    pthread_mutex_t mu;
    pthread_cond_t work, done;
    ptask *head, *tail;
    size_t finished, n;         // tasks done; tasks per throughput trial
    int stop, nworkers;
    pthread_t threads[MAX_WORKERS];
} plain_pool;

static void *plain_worker(void *arg) {
    plain_pool *p = (plain_pool *)arg;
    pthread_mutex_lock(&p->mu);
    for (;;) {
        while (!p->head && !p->stop) pthread_cond_wait(&p->work, &p->mu);
        if (!p->head) break;
        ptask *t = p->head;
        p->head = t->next;
        if (!p->head) p->tail = NULL;
        pthread_mutex_unlock(&p->mu);
        t->fn(t->arg);
        free(t);
        pthread_mutex_lock(&p->mu);
        p->finished++;
        pthread_cond_broadcast(&p->done);
    }
    pthread_mutex_unlock(&p->mu);
    return NULL;
}

static void plain_start(plain_pool *p, int nworkers, size_t n) {
    memset(p, 0, sizeof *p);
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->work, NULL);
    pthread_cond_init(&p->done, NULL);
    p->nworkers = nworkers;
    p->n = n;
    for (int i = 0; i < nworkers; i++) pthread_create(&p->threads[i], NULL, plain_worker, p);
}

static void plain_stop(plain_pool *p) {
    pthread_mutex_lock(&p->mu);
    p->stop = 1;
    pthread_cond_broadcast(&p->work);
    pthread_mutex_unlock(&p->mu);
    for (int i = 0; i < p->nworkers; i++) pthread_join(p->threads[i], NULL);
    pthread_cond_destroy(&p->done);
    pthread_cond_destroy(&p->work);
    pthread_mutex_destroy(&p->mu);
}

static void plain_submit(plain_pool *p, void *arg) {
    ptask *t = (ptask *)malloc(sizeof *t);
    t->fn = trivial;
    t->arg = arg;
    t->next = NULL;
    pthread_mutex_lock(&p->mu);
    if (p->tail) p->tail->next = t;
    else p->head = t;
    p->tail = t;
    pthread_cond_signal(&p->work);
    pthread_mutex_unlock(&p->mu);
}

static void plain_wait_finished(plain_pool *p, size_t target) {
    pthread_mutex_lock(&p->mu);
    while (p->finished < target) pthread_cond_wait(&p->done, &p->mu);
    pthread_mutex_unlock(&p->mu);
}

static double plain_throughput(void *arg) {
    plain_pool *p = (plain_pool *)arg;
    double t0 = pcb_now();
    size_t base = p->finished;
    for (size_t i = 0; i < p->n; i++) plain_submit(p, (void *)(uintptr_t)i);
    plain_wait_finished(p, base + p->n);
    return (pcb_now() - t0) / (double)p->n;
}

// >>condvar: the round-trip floor: two threads handing a turn back and
// forth through one mutex and condvar.
typedef struct pingpong {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int turn, stop;
    pthread_t t;
} pingpong;

static void *pong_main(void *arg) {
    pingpong *pp = (pingpong *)arg;
    pthread_mutex_lock(&pp->mu);
    for (;;) {
        while (pp->turn != 1 && !pp->stop) pthread_cond_wait(&pp->cv, &pp->mu);
        if (pp->stop) break;
        pp->turn = 0;
        pthread_cond_signal(&pp->cv);
    }
    pthread_mutex_unlock(&pp->mu);
    return NULL;
}

static double condvar_round_trip(void *arg) {
    pingpong *pp = (pingpong *)arg;
    size_t n = n_tasks / 10;
    for (size_t i = 0; i < n; i++) {
        double t0 = pcb_now();
        pthread_mutex_lock(&pp->mu);
        pp->turn = 1;
        pthread_cond_signal(&pp->cv);
        while (pp->turn != 0) pthread_cond_wait(&pp->cv, &pp->mu);
        pthread_mutex_unlock(&pp->mu);
        lat[i] = pcb_now() - t0;
    }
    return pcb_median(lat, (int)n);
}

// >>glib
#ifdef PYCONC_HAVE_GLIB
typedef struct glib_ctx {
    GThreadPool *pool;
    GMutex mu;
    GCond cv;
    size_t finished, target;    // tasks done; the count the waiter wants
} glib_ctx;

// Count atomically; only the task that reaches the target signals, so the
// peer pays no lock per task for being waited on.
static void glib_task(gpointer data, gpointer user) {
    glib_ctx *g = (glib_ctx *)user;
    trivial(data);
    size_t done = __atomic_add_fetch(&g->finished, 1, __ATOMIC_ACQ_REL);
    if (done == __atomic_load_n(&g->target, __ATOMIC_ACQUIRE)) {
        g_mutex_lock(&g->mu);
        g_cond_signal(&g->cv);
        g_mutex_unlock(&g->mu);
    }
}

static void glib_wait(glib_ctx *g) {
    g_mutex_lock(&g->mu);
    while (__atomic_load_n(&g->finished, __ATOMIC_ACQUIRE) < g->target)
        g_cond_wait(&g->cv, &g->mu);
    g_mutex_unlock(&g->mu);
}

static double glib_throughput(void *arg) {
    glib_ctx *g = (glib_ctx *)arg;
    __atomic_store_n(&g->target, g->finished + n_tasks, __ATOMIC_RELEASE);
    double t0 = pcb_now();
    for (size_t i = 0; i < n_tasks; i++)
        g_thread_pool_push(g->pool, (gpointer)(uintptr_t)(i + 1), NULL);
    glib_wait(g);
    return (pcb_now() - t0) / (double)n_tasks;
}

static double glib_round_trip(void *arg) {
    glib_ctx *g = (glib_ctx *)arg;
    size_t n = n_tasks / 10;
    for (size_t i = 0; i < n; i++) {
        double t0 = pcb_now();
        __atomic_store_n(&g->target, g->finished + 1, __ATOMIC_RELEASE);
        g_thread_pool_push(g->pool, (gpointer)1, NULL);
        glib_wait(g);
        lat[i] = pcb_now() - t0;
    }
    return pcb_median(lat, (int)n);
}
#endif

// >>libuv
#ifdef PYCONC_HAVE_LIBUV
typedef struct uv_ctx { uv_loop_t *loop; uv_work_t *reqs; size_t after; } uv_ctx;

static void uv_task(uv_work_t *req) { trivial(req->data); }
static void uv_after(uv_work_t *req, int status) {
    (void)status;
    ((uv_ctx *)req->loop->data)->after++;
}

static double uv_throughput(void *arg) {
    uv_ctx *u = (uv_ctx *)arg;
    u->after = 0;
    double t0 = pcb_now();
    for (size_t i = 0; i < n_tasks; i++) {
        u->reqs[i].data = (void *)(uintptr_t)i;
        uv_queue_work(u->loop, &u->reqs[i], uv_task, uv_after);
    }
    uv_run(u->loop, UV_RUN_DEFAULT);
    if (u->after != n_tasks) abort();
    return (pcb_now() - t0) / (double)n_tasks;
}

static double uv_round_trip(void *arg) {
    uv_ctx *u = (uv_ctx *)arg;
    size_t n = n_tasks / 10;
    for (size_t i = 0; i < n; i++) {
        double t0 = pcb_now();
        uv_queue_work(u->loop, &u->reqs[0], uv_task, uv_after);
        uv_run(u->loop, UV_RUN_DEFAULT);
        lat[i] = pcb_now() - t0;
    }
    return pcb_median(lat, (int)n);
}
#endif

// >>main
static void *wait_go(void *arg) {
    pc_event_wait((pc_event *)arg, PC_FOREVER);
    return NULL;
}

static size_t heap_in_use(void) {
#if defined(__GLIBC__) && (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 33))
    return mallinfo2().uordblks;
#else
    return 0;
#endif
}

// What one pending submit holds: the future, which is also the work item.
// Measured as the heap's growth over n futures queued behind a blocked
// worker, allocator headers and the pool's blocks included.
static void bench_memory(pc_future **fs) {
    size_t n = n_tasks < 100000 ? n_tasks : 100000;
    pc_executor *ex = pc_thread_pool_new(&(pc_thread_pool_desc){ .max_workers = 1 });
    pc_event go = PC_EVENT_INIT;
    pc_future *blocker;
    pc_executor_submit(ex, wait_go, &go, &blocker);
    size_t before = heap_in_use();
    for (size_t i = 0; i < n; i++)
        if (pc_executor_submit(ex, trivial, NULL, &fs[i])) abort();
    size_t after = heap_in_use();
    if (after)
        printf("-- memory: %.1f bytes of heap per pending future (%zu queued; struct: %zu)\n",
               (double)(after - before) / (double)n, n, sizeof(struct pc_future));
    else
        printf("-- memory: struct pc_future is %zu bytes (heap growth needs glibc 2.33)\n",
               sizeof(struct pc_future));
    pc_event_set(&go);
    pc_future_release(blocker);
    for (size_t i = 0; i < n; i++) pc_future_release(fs[i]);
    pc_executor_free(ex);
}

// How the cost per task grows with the pool: pyconc and the pthread pool
// with 1, 2, 4, 8 and 16 workers each, a quarter of the tasks.
static void bench_workers(pc_future **fs) {
    size_t n = n_tasks / 4;
    double at2 = NAN;
    printf("-- throughput, %zu tasks: cost as the pool grows\n", n);
    for (int w = 1; w <= MAX_WORKERS; w *= 2) {
        pyconc_ctx c = {pc_thread_pool_new(&(pc_thread_pool_desc){ .max_workers = w }), fs, n};
        plain_pool plain;
        double ours, peer;
        char name[64];
        if (!c.ex) abort();
        plain_start(&plain, w, n);
        pcb_duel(pyconc_throughput, &c, plain_throughput, &plain, ROUNDS, &ours, &peer);
        snprintf(name, sizeof name, "throughput, %d worker%s", w, w > 1 ? "s" : "");
        pcb_scale_row("pool workers", w, name, ours, "pthread pool", peer);
        plain_stop(&plain);
        pc_executor_free(c.ex);
        if (w == 2) at2 = ours;
        if (w == MAX_WORKERS)   // >= 0.7x the throughput: <= 1/0.7 the time per task
            pcb_target("throughput, 16 workers", "pyconc with 2 workers", ours, at2, 1 / 0.7);
    }
}

int main(int argc, char **argv) {
    pcb_parse_quick(argc, argv);
    if (pcb_quick) n_tasks = 20000;
    else if (argc > 1) n_tasks = (size_t)strtoull(argv[1], NULL, 10);
    if (n_tasks < 100) n_tasks = 100;
    setenv("UV_THREADPOOL_SIZE", "2", 1);
    char title[160];
    snprintf(title, sizeof title, "pyconc_futures.h against a pthread pool, GLib, libuv and "
             "Python's ThreadPoolExecutor; %zu tasks, %d workers", n_tasks, WORKERS);
    pcb_begin("futures", title, ROUNDS);
    lat = (double *)malloc(n_tasks / 10 * sizeof *lat);
    pyconc_ctx pc;
    pc.ex = pc_thread_pool_new(&(pc_thread_pool_desc){ .max_workers = WORKERS });
    pc.fs = (pc_future **)malloc(n_tasks * sizeof *pc.fs);
    pc.n = n_tasks;
    double ours, peer;
    const char *throughput = "throughput: submit N, wait all";
    const char *round_trip = "round trip: submit -> result";

    plain_pool plain;
    plain_start(&plain, WORKERS, n_tasks);
    pcb_duel(pyconc_throughput, &pc, plain_throughput, &plain, ROUNDS, &ours, &peer);
    pcb_row(throughput, ours, "pthread pool", peer);
#ifdef PYCONC_HAVE_GLIB
    glib_ctx g;
    memset(&g, 0, sizeof g);
    g_mutex_init(&g.mu);
    g_cond_init(&g.cv);
    g.pool = g_thread_pool_new(glib_task, &g, WORKERS, TRUE, NULL);
    pcb_duel(pyconc_throughput, &pc, glib_throughput, &g, ROUNDS, &ours, &peer);
    pcb_row(throughput, ours, GLIB, peer);
    pcb_target(throughput, GLIB, ours, peer, 1 / 1.5);
#else
    pcb_row_skip(throughput, ours, GLIB, PCB_NEED_GLIB);
#endif
#ifdef PYCONC_HAVE_LIBUV
    uv_ctx u;
    u.loop = uv_default_loop();
    u.loop->data = &u;
    u.reqs = (uv_work_t *)calloc(n_tasks, sizeof *u.reqs);
    pcb_duel(pyconc_throughput, &pc, uv_throughput, &u, ROUNDS, &ours, &peer);
    pcb_row(throughput, ours, LIBUV, peer);
    pcb_target(throughput, LIBUV, ours, peer, 1.0);
#else
    pcb_row_skip(throughput, ours, LIBUV, PCB_NEED_LIBUV);
#endif
    double ours_throughput = ours;
    ff_ctx ff;
    memset(&ff, 0, sizeof ff);
    ff.ex = pc.ex;
    ff.n = n_tasks;
    const char *forget = "fire and forget: submit N, no futures";
#ifdef PYCONC_HAVE_LIBUV
    pcb_duel(pyconc_fire_and_forget, &ff, uv_throughput, &u, ROUNDS, &ours, &peer);
    pcb_row(forget, ours, LIBUV, peer);
    pcb_target(forget, LIBUV, ours, peer, 1.0);
#else
    pcb_row_skip(forget, pcb_solo(pyconc_fire_and_forget, &ff, ROUNDS), LIBUV, PCB_NEED_LIBUV);
#endif
    char args[64];
    snprintf(args, sizeof args, "%zu %d", n_tasks / 10, WORKERS);
    peer = pcb_python("futures_throughput.py", args);
    pcb_row(throughput, ours_throughput, PY, peer);
    pcb_target(throughput, PY, ours_throughput, peer, 0.01);

    pingpong pp;
    memset(&pp, 0, sizeof pp);
    pthread_mutex_init(&pp.mu, NULL);
    pthread_cond_init(&pp.cv, NULL);
    pthread_create(&pp.t, NULL, pong_main, &pp);
    pcb_duel(pyconc_round_trip, &pc, condvar_round_trip, &pp, ROUNDS, &ours, &peer);
    pcb_row(round_trip, ours, "condvar ping-pong", peer);
    pcb_target(round_trip, "condvar ping-pong", ours, peer, 1.5);
    pthread_mutex_lock(&pp.mu);
    pp.stop = 1;
    pthread_cond_signal(&pp.cv);
    pthread_mutex_unlock(&pp.mu);
    pthread_join(pp.t, NULL);
#ifdef PYCONC_HAVE_GLIB
    pcb_duel(pyconc_round_trip, &pc, glib_round_trip, &g, ROUNDS, &ours, &peer);
    pcb_row(round_trip, ours, GLIB, peer);
#else
    pcb_row_skip(round_trip, ours, GLIB, PCB_NEED_GLIB);
#endif
#ifdef PYCONC_HAVE_LIBUV
    pcb_duel(pyconc_round_trip, &pc, uv_round_trip, &u, ROUNDS, &ours, &peer);
    pcb_row(round_trip, ours, LIBUV, peer);
#else
    pcb_row_skip(round_trip, ours, LIBUV, PCB_NEED_LIBUV);
#endif
    snprintf(args, sizeof args, "%zu %d", n_tasks / 100, WORKERS);
    peer = pcb_python("futures_roundtrip.py", args);
    pcb_row(round_trip, ours, PY, peer);

    void **items = (void **)malloc(n_tasks * sizeof *items);
    for (size_t i = 0; i < n_tasks; i++) items[i] = (void *)(uintptr_t)i;
    map_ctx m1 = {pc.ex, items, 1, 0}, mb = {pc.ex, items, 1, 4096}, mc = {pc.ex, items, 256, 0};
    pcb_duel(pyconc_map, &m1, plain_throughput, &plain, ROUNDS, &ours, &peer);
    pcb_row("map N items (chunksize 1)", ours, "pthread pool", peer);
    pcb_duel(pyconc_map, &mb, plain_throughput, &plain, ROUNDS, &ours, &peer);
    pcb_row("map N items (buffersize 4096)", ours, "pthread pool", peer);
    pcb_duel(pyconc_map, &mc, plain_throughput, &plain, ROUNDS, &ours, &peer);
    pcb_row("map N items (chunksize 256)", ours, "pthread pool", peer);
    ours = pcb_solo(pyconc_map, &m1, ROUNDS);
    snprintf(args, sizeof args, "%zu %d", n_tasks / 10, WORKERS);
    peer = pcb_python("futures_map.py", args);
    pcb_row("map N items (chunksize 1)", ours, PY, peer);
    plain_stop(&plain);

    bench_workers(pc.fs);
    bench_memory(pc.fs);
    pcb_end();
#ifdef PYCONC_HAVE_GLIB
    g_thread_pool_free(g.pool, FALSE, TRUE);
#endif
#ifdef PYCONC_HAVE_LIBUV
    free(u.reqs);
#endif
    pc_executor_free(pc.ex);
    free(pc.fs);
    free(items);
    free(lat);
    return 0;
}

/* bench_queue.c - pyconc_queue.h against the queues a C programmer would
   otherwise use, and against Python's queue module.

   Peers, on the same work in one run:
   - a ring buffer under a pthread mutex with two condition variables
     (not_empty, not_full), the textbook bounded queue; for the unbounded
     cases the same with a ring that doubles when full;
   - GLib's GAsyncQueue (unbounded by design; "skipped" without glib-2.0);
   - CPython's queue.Queue / SimpleQueue / PriorityQueue (bench/py/queue_ops.py,
     fewer items, seconds per item scaled);
   - for the PriorityQueue, a bare binary heap of ints under a pthread
     mutex with a comparator called through a pointer, as a generic C heap.

       bench_queue              10M pointer-size items per case (the spec)
       bench_queue quick        1M items and fewer rounds, for a smoke test
       bench_queue N            N items per case
       bench_queue quick priority   only the cases whose group is named
                                (fifo, simple, priority, producers)

   Cases: 1 producer/1 consumer and 2P/2C, bounded 1024 and unbounded;
   SimpleQueue 1P/1C; PriorityQueue of 1M ints (put all, then get all, one
   thread); and how the cost grows with producers: Queue(1024) with 1, 2,
   4 and 8 producers and one consumer, a fifth of the items, against the
   ring. pyconc and each C peer alternate trials (A B A B) and keep
   medians. Every trial checks that every item arrived (count and sum); the
   program ends with the targets and whether each is met, and exits 1 if an
   item went missing, never because of a figure. */
#define PYCONC_IMPLEMENTATION
#define PYCONC_QUEUE_IMPLEMENTATION
#include "pyconc_queue.h"

#include "bench.h"

#ifdef PYCONC_HAVE_GLIB
#include <glib.h>
#endif

static long n_items = 10000000L;
static int n_rounds = 3;
static const char *only;    // run only this group of cases (NULL: all)

static int want(const char *group) { return !only || strcmp(only, group) == 0; }

// ---------------------------------------------------------------------------
// >>contenders: one interface over every queue, so every trial runs the
// same producer/consumer code.
typedef struct contender {
    const char *name;
    void *(*make)(long maxsize);
    void (*put)(void *q, void *item);
    void *(*get)(void *q);
    void (*destroy)(void *q);
} contender;

static long cap_of(long maxsize) { return maxsize > 0 ? maxsize : 0; }

// pyconc
static void *pcq_make(long maxsize) {
    pc_queue_desc d;
    memset(&d, 0, sizeof d);
    d.maxsize = maxsize;
    return pc_queue_new(&d);
}
static void *pcq_make_simple(long maxsize) {
    pc_queue_desc d;
    (void)maxsize;
    memset(&d, 0, sizeof d);
    d.kind = PC_QUEUE_SIMPLE;
    return pc_queue_new(&d);
}
static void pcq_put(void *q, void *item) {
    if (pc_queue_put((pc_queue *)q, &item, PC_FOREVER) != PC_OK) pcb_failures++;
}
static void *pcq_get(void *q) {
    void *item = NULL;
    if (pc_queue_get((pc_queue *)q, &item, PC_FOREVER) != PC_OK) pcb_failures++;
    return item;
}
static void pcq_destroy(void *q) { pc_queue_free((pc_queue *)q); }

// mutex + two condition variables; cap 0: the ring doubles when full.
typedef struct cvq {
    pthread_mutex_t mu;
    pthread_cond_t not_empty, not_full;
    void **buf;
    long cap, head, count, bound;
} cvq;

static void *cvq_make(long maxsize) {
    cvq *q = (cvq *)calloc(1, sizeof *q);
    pthread_mutex_init(&q->mu, NULL);
    pthread_cond_init(&q->not_empty, NULL);
    pthread_cond_init(&q->not_full, NULL);
    q->bound = cap_of(maxsize);
    q->cap = q->bound ? q->bound : 1024;
    q->buf = (void **)malloc((size_t)q->cap * sizeof(void *));
    return q;
}

static void cvq_grow(cvq *q) {
    void **buf = (void **)malloc((size_t)q->cap * 2 * sizeof(void *));
    for (long i = 0; i < q->count; i++) buf[i] = q->buf[(q->head + i) % q->cap];
    free(q->buf);
    q->buf = buf;
    q->head = 0;
    q->cap *= 2;
}

static void cvq_put(void *qv, void *item) {
    cvq *q = (cvq *)qv;
    pthread_mutex_lock(&q->mu);
    while (q->bound && q->count == q->bound) pthread_cond_wait(&q->not_full, &q->mu);
    if (q->count == q->cap) cvq_grow(q);
    q->buf[(q->head + q->count) % q->cap] = item;
    q->count++;
    pthread_cond_signal(&q->not_empty);
    pthread_mutex_unlock(&q->mu);
}

static void *cvq_get(void *qv) {
    cvq *q = (cvq *)qv;
    pthread_mutex_lock(&q->mu);
    while (q->count == 0) pthread_cond_wait(&q->not_empty, &q->mu);
    void *item = q->buf[q->head];
    q->head = (q->head + 1) % q->cap;
    q->count--;
    pthread_cond_signal(&q->not_full);
    pthread_mutex_unlock(&q->mu);
    return item;
}

static void cvq_destroy(void *qv) {
    cvq *q = (cvq *)qv;
    pthread_mutex_destroy(&q->mu);
    pthread_cond_destroy(&q->not_empty);
    pthread_cond_destroy(&q->not_full);
    free(q->buf);
    free(q);
}

#ifdef PYCONC_HAVE_GLIB
// GAsyncQueue cannot hold NULL: items travel as value + 1.
static void *gaq_make(long maxsize) { (void)maxsize; return g_async_queue_new(); }
static void gaq_put(void *q, void *item) {
    g_async_queue_push((GAsyncQueue *)q, (char *)item + 1);
}
static void *gaq_get(void *q) { return (char *)g_async_queue_pop((GAsyncQueue *)q) - 1; }
static void gaq_destroy(void *q) { g_async_queue_unref((GAsyncQueue *)q); }
#endif

static const contender pyconc_fifo = {"pyconc", pcq_make, pcq_put, pcq_get, pcq_destroy};
static const contender pyconc_simple = {"pyconc", pcq_make_simple, pcq_put, pcq_get, pcq_destroy};
static const contender condvar_ring = {"mutex+2cond ring", cvq_make, cvq_put, cvq_get,
                                       cvq_destroy};
#ifdef PYCONC_HAVE_GLIB
static const contender glib_queue = {"GLib GAsyncQueue", gaq_make, gaq_put, gaq_get,
                                     gaq_destroy};
#endif
#define PY "Python queue"
#define MAX_THREADS 16

// ---------------------------------------------------------------------------
// >>trial: P producers put items 1..n (split evenly), C consumers get n/C
// each and sum them; the sums must add up.
typedef struct trial {
    const contender *c;
    long maxsize;
    int producers, consumers;
    long n;                     // items (before rounding to a multiple of P * C)
} trial;

typedef struct worker {
    const contender *c;
    void *q;
    long from, count;
    unsigned long long sum;
    pthread_barrier_t *go;
} worker;

static void *producer_main(void *arg) {
    worker *w = (worker *)arg;
    pthread_barrier_wait(w->go);
    for (long i = w->from; i < w->from + w->count; i++) w->c->put(w->q, (void *)(uintptr_t)i);
    return NULL;
}

static void *consumer_main(void *arg) {
    worker *w = (worker *)arg;
    unsigned long long sum = 0;
    pthread_barrier_wait(w->go);
    for (long i = 0; i < w->count; i++) sum += (uintptr_t)w->c->get(w->q);
    w->sum = sum;
    return NULL;
}

static double run_trial(void *ctx) {
    trial *t = (trial *)ctx;
    int np = t->producers, nc = t->consumers, nt = np + nc;
    long n = t->n - t->n % (np * nc);
    void *q = t->c->make(t->maxsize);
    worker w[MAX_THREADS];
    pthread_t th[MAX_THREADS];
    pthread_barrier_t go;
    pthread_barrier_init(&go, NULL, (unsigned)nt + 1);
    for (int i = 0; i < nt; i++) {
        w[i].c = t->c;
        w[i].q = q;
        w[i].go = &go;
        w[i].sum = 0;
        w[i].from = i < np ? 1 + i * (n / np) : 0;
        w[i].count = i < np ? n / np : n / nc;
        pthread_create(&th[i], NULL, i < np ? producer_main : consumer_main, &w[i]);
    }
    pthread_barrier_wait(&go);
    double t0 = pcb_now();
    unsigned long long sum = 0;
    for (int i = 0; i < nt; i++) {
        pthread_join(th[i], NULL);
        sum += w[i].sum;
    }
    double took = pcb_now() - t0;
    pthread_barrier_destroy(&go);
    t->c->destroy(q);
    if (sum != (unsigned long long)n * (unsigned long long)(n + 1) / 2) {
        fprintf(stderr, "bench: %s lost or duplicated items\n", t->c->name);
        pcb_failures++;
    }
    return took / (double)n;
}

// limit: the row's target (largest pyconc / peer ratio), NAN for none.
static void duel(const char *name, const contender *ours, const contender *peer, long maxsize,
                 int np, int nc, double limit) {
    trial a = {ours, maxsize, np, nc, n_items}, b = {peer, maxsize, np, nc, n_items};
    double ta, tb;
    pcb_duel(run_trial, &a, run_trial, &b, n_rounds, &ta, &tb);
    pcb_row(name, ta, peer->name, tb);
    if (limit == limit) pcb_target(name, peer->name, ta, tb, limit);
}

// pyconc alone (its figure for the rows whose peer is Python).
static double solo(const contender *ours, long maxsize, int np, int nc) {
    trial a = {ours, maxsize, np, nc, n_items};
    return pcb_solo(run_trial, &a, n_rounds);
}

static void python_row(const char *name, double ours, const char *mode, long maxsize, int np,
                       int nc, double limit) {
    char args[128];
    long n = n_items / 50 > 20000 ? n_items / 50 : 20000;
    snprintf(args, sizeof args, "%s %ld %ld %d %d", mode, n, maxsize, np, nc);
    double py = pcb_python("queue_ops.py", args);
    pcb_row(name, ours, PY, py);
    if (limit == limit) pcb_target(name, PY, ours, py, limit);
}

// limit: the target against the ring and GLib, and against Python (NAN: none).
static void fifo_case(const char *label, long maxsize, int np, int nc, double limit,
                      double py_limit) {
    duel(label, &pyconc_fifo, &condvar_ring, maxsize, np, nc, limit);
#ifdef PYCONC_HAVE_GLIB
    duel(label, &pyconc_fifo, &glib_queue, maxsize, np, nc, limit);
#else
    pcb_row_skip(label, solo(&pyconc_fifo, maxsize, np, nc), "GLib GAsyncQueue", PCB_NEED_GLIB);
#endif
    python_row(label, solo(&pyconc_fifo, maxsize, np, nc), "fifo", maxsize, np, nc, py_limit);
}

// How the cost per item grows with producers: P producers, one consumer.
static void producers_case(void) {
    static const int ps[] = {1, 2, 4, 8};
    long n = n_items / 5;
    printf("-- Queue(1024), P producers and 1 consumer: cost as producers grow\n");
    for (size_t i = 0; i < sizeof ps / sizeof ps[0]; i++) {
        trial a = {&pyconc_fifo, 1024, ps[i], 1, n};
        trial b = {&condvar_ring, 1024, ps[i], 1, n};
        double ta, tb;
        char name[64], count[24];
        pcb_duel(run_trial, &a, run_trial, &b, n_rounds, &ta, &tb);
        snprintf(name, sizeof name, "Queue(1024) %dP/1C, %s items", ps[i],
                 pcb_count(n, count, sizeof count));
        pcb_scale_row("queue producers", ps[i], name, ta, condvar_ring.name, tb);
    }
}

// ---------------------------------------------------------------------------
// >>priority: 1M ints put in a pseudo-random order, then got; one thread.
#define PRIO_N 1000000L

static int cmp_int(const void *a, const void *b, void *ctx) {
    (void)ctx;
    int x = *(const int *)a, y = *(const int *)b;
    return (x > y) - (x < y);
}

static int prio_value(long i) { return (int)((unsigned long)(i * 2654435761UL) % 1000003UL); }

// ctx non-NULL: ordered by the item as an int32 key, no comparator call.
static double trial_pc_prio(void *ctx) {
    pc_queue_desc d;
    memset(&d, 0, sizeof d);
    d.kind = PC_QUEUE_PRIORITY;
    d.item_size = sizeof(int);
    if (ctx) d.key = PC_QUEUE_KEY_INT32;
    else d.compare = cmp_int;
    pc_queue *q = pc_queue_new(&d);
    double t0 = pcb_now();
    for (long i = 0; i < PRIO_N; i++) {
        int v = prio_value(i);
        if (pc_queue_put(q, &v, PC_FOREVER) != PC_OK) pcb_failures++;
    }
    int prev = -1, v = 0;
    for (long i = 0; i < PRIO_N; i++) {
        if (pc_queue_get(q, &v, PC_FOREVER) != PC_OK || v < prev) pcb_failures++;
        prev = v;
    }
    double took = pcb_now() - t0;
    pc_queue_free(q);
    return took / (2.0 * PRIO_N);
}

// The bare heap: an int array, the comparator through a pointer (or, with
// cmp NULL, ints compared in place), a mutex.
typedef struct bheap {
    pthread_mutex_t mu;
    int *a;
    long n, cap;
    int (*cmp)(const void *, const void *, void *);
} bheap;

static void bheap_push(bheap *h, int v) {
    pthread_mutex_lock(&h->mu);
    if (h->n == h->cap) {
        h->cap = h->cap ? h->cap * 2 : 64;
        h->a = (int *)realloc(h->a, (size_t)h->cap * sizeof(int));
    }
    long i = h->n++;
    while (i > 0 && (h->cmp ? h->cmp(&v, &h->a[(i - 1) / 2], NULL) < 0
                            : v < h->a[(i - 1) / 2])) {
        h->a[i] = h->a[(i - 1) / 2];
        i = (i - 1) / 2;
    }
    h->a[i] = v;
    pthread_mutex_unlock(&h->mu);
}

static int bheap_pop(bheap *h) {
    pthread_mutex_lock(&h->mu);
    int top = h->a[0], last = h->a[--h->n];
    long i = 0;
    for (;;) {
        long c = 2 * i + 1;
        if (c >= h->n) break;
        if (c + 1 < h->n && (h->cmp ? h->cmp(&h->a[c + 1], &h->a[c], NULL) < 0
                                    : h->a[c + 1] < h->a[c]))
            c++;
        if (h->cmp ? h->cmp(&h->a[c], &last, NULL) >= 0 : h->a[c] >= last) break;
        h->a[i] = h->a[c];
        i = c;
    }
    h->a[i] = last;
    pthread_mutex_unlock(&h->mu);
    return top;
}

// ctx non-NULL: ints compared in place.
static double trial_bare_heap(void *ctx) {
    bheap h;
    memset(&h, 0, sizeof h);
    pthread_mutex_init(&h.mu, NULL);
    h.cmp = ctx ? NULL : cmp_int;
    double t0 = pcb_now();
    for (long i = 0; i < PRIO_N; i++) bheap_push(&h, prio_value(i));
    int prev = -1;
    for (long i = 0; i < PRIO_N; i++) {
        int v = bheap_pop(&h);
        if (v < prev) pcb_failures++;
        prev = v;
    }
    double took = pcb_now() - t0;
    free(h.a);
    pthread_mutex_destroy(&h.mu);
    return took / (2.0 * PRIO_N);
}

// A stable heap, as pyconc's: each int beside its insertion number (12
// bytes an entry), equal ints leaving in insertion order; compared in place.
typedef struct sentry {
    int v;
    uint32_t seq_lo, seq_hi;    // a 64-bit insertion number, 4-byte aligned
} sentry;

static int sentry_less(const sentry *x, const sentry *y) {
    uint64_t a = (uint64_t)x->seq_hi << 32 | x->seq_lo, b = (uint64_t)y->seq_hi << 32 | y->seq_lo;
    return x->v < y->v || (x->v == y->v && a < b);
}

static double trial_stable_heap(void *ctx) {
    (void)ctx;
    pthread_mutex_t mu;
    pthread_mutex_init(&mu, NULL);
    sentry *a = NULL;
    long n = 0, cap = 0;
    uint64_t seq = 0;
    int prev = -1;
    double t0 = pcb_now();
    for (long i = 0; i < PRIO_N; i++) {
        pthread_mutex_lock(&mu);
        if (n == cap) {
            cap = cap ? cap * 2 : 64;
            a = (sentry *)realloc(a, (size_t)cap * sizeof *a);
        }
        sentry e = {prio_value(i), (uint32_t)seq, (uint32_t)(seq >> 32)};
        seq++;
        long j = n++;
        while (j > 0 && sentry_less(&e, &a[(j - 1) / 2])) {
            a[j] = a[(j - 1) / 2];
            j = (j - 1) / 2;
        }
        a[j] = e;
        pthread_mutex_unlock(&mu);
    }
    for (long i = 0; i < PRIO_N; i++) {
        pthread_mutex_lock(&mu);
        sentry top = a[0], last = a[--n];
        long j = 0;
        for (;;) {
            long c = 2 * j + 1;
            if (c >= n) break;
            if (c + 1 < n && sentry_less(&a[c + 1], &a[c])) c++;
            if (!sentry_less(&a[c], &last)) break;
            a[j] = a[c];
            j = c;
        }
        a[j] = last;
        pthread_mutex_unlock(&mu);
        if (top.v < prev) pcb_failures++;
        prev = top.v;
    }
    double took = pcb_now() - t0;
    free(a);
    pthread_mutex_destroy(&mu);
    return took / (2.0 * PRIO_N);
}

static void priority_case(void) {
    double ta, tb;
    static int keyed = 1;
    pcb_duel(trial_pc_prio, NULL, trial_bare_heap, NULL, n_rounds, &ta, &tb);
    pcb_row("PriorityQueue 1M ints put+get", ta, "bare heap+mutex", tb);
    pcb_target("PriorityQueue 1M ints put+get", "bare heap+mutex", ta, tb, 1.5);
    // The same order by an int key (desc.key): the peer compares in place too.
    pcb_duel(trial_pc_prio, &keyed, trial_bare_heap, &keyed, n_rounds, &ta, &tb);
    pcb_row("PriorityQueue 1M ints put+get, int key", ta, "bare heap+mutex, inline <", tb);
    pcb_target("PriorityQueue 1M ints put+get, int key", "bare heap+mutex, inline <", ta, tb,
               1.1);
    // What stability costs: the same bare heap with an insertion number.
    pcb_duel(trial_pc_prio, &keyed, trial_stable_heap, NULL, n_rounds, &ta, &tb);
    pcb_row("PriorityQueue 1M ints put+get, int key", ta, "stable heap+mutex, inline <", tb);
    pcb_row("PriorityQueue ints put+get (Python: 100k)", ta, PY,
            pcb_python("queue_ops.py", "priority 100000 0 1 1"));
}

// ---------------------------------------------------------------------------
int main(int argc, char **argv) {
    if (argc > 1 && strcmp(argv[1], "quick") == 0) {
        n_items = 1000000L;
        n_rounds = 3;
        pcb_quick = 1;
    } else if (argc > 1) {
        n_items = atol(argv[1]);
        if (n_items < 1000) n_items = 1000;
    }
    if (argc > 2) only = argv[2];
    char title[200];
    snprintf(title, sizeof title, "pyconc_queue.h against a mutex+condvar ring, GLib's "
             "GAsyncQueue and Python's queue; %ld pointer-size items per case", n_items);
    pcb_begin("queue", title, n_rounds);
    if (want("fifo")) {
        fifo_case("Queue(1024) 1P/1C", 1024, 1, 1, 0.5, 0.01);
        fifo_case("Queue(1024) 2P/2C", 1024, 2, 2, NAN, NAN);
        fifo_case("Queue() 1P/1C", 0, 1, 1, NAN, NAN);
        fifo_case("Queue() 2P/2C", 0, 2, 2, NAN, NAN);
    }
    if (want("simple")) {
        duel("SimpleQueue 1P/1C", &pyconc_simple, &condvar_ring, 0, 1, 1, NAN);
#ifdef PYCONC_HAVE_GLIB
        duel("SimpleQueue 1P/1C", &pyconc_simple, &glib_queue, 0, 1, 1, NAN);
#else
        pcb_row_skip("SimpleQueue 1P/1C", solo(&pyconc_simple, 0, 1, 1), "GLib GAsyncQueue",
                     PCB_NEED_GLIB);
#endif
        python_row("SimpleQueue 1P/1C", solo(&pyconc_simple, 0, 1, 1), "simple", 0, 1, 1, NAN);
    }
    if (want("priority")) {
        pcb_idle_start();
        priority_case();
        pcb_idle_stop_join();
    }
    if (want("producers")) producers_case();
    pcb_end();
    if (pcb_failures) fprintf(stderr, "bench_queue: %d operations failed\n", pcb_failures);
    return pcb_failures ? 1 : 0;
}

/* bench_sched.c - pyconc_sched.h against a bare binary heap and Python's sched.

   The same work three ways: pyconc's scheduler; the bare binary heap a C
   programmer would write for a single-threaded timer queue (no lock, no
   handles, no cancel: the limit); and CPython's sched module (through
   bench/py/sched_ops.py; skipped with a message if python3 is absent).
   pyconc and heap trials alternate (A B A B ...) and each keeps its median.

       bench_sched            the full run (about half a minute)
       bench_sched quick      smaller sizes and fewer rounds, a smoke test

   Cases:
   - enter+run: N events entered at random (already due) times and random
     priorities, then run() to empty with a no-op action; time per event.
     Against the heap N = 1k, 10k, 100k and 1M (how the cost grows with
     the queue; the target is on 1M); against Python N = 100k (its no-op
     delayfunc) and 10k (its default delayfunc, time.sleep(0) after every
     event).
   - cancel: 100k events queued at random future times, then all cancelled
     in a random order. Against an indexed binary heap (a heap whose
     entries' positions are kept in a table by handle, so a cancel takes
     its entry out of the middle: the usual cancellable timer queue) the
     time per cancel is over all of them. Against Python it is over the
     first tenth, while 90k-100k are queued, as Python's cancel is O(n):
     it makes a few dozen random cancels with 100k queued.

   The program ends with the targets and whether each is met; it exits 1
   only if some operation failed, never because of a figure. */
#define PYCONC_IMPLEMENTATION
#define PYCONC_SCHED_IMPLEMENTATION
#include "pyconc_sched.h"

#include "bench.h"


static int rounds(void) { return pcb_quick ? 3 : 5; }

// The same pseudo-random times and priorities for every contender.
static uint64_t rng_state;
static uint64_t rng_next(void) {
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}
static double rng_unit(void) { return (double)(rng_next() >> 11) * (1.0 / 9007199254740992.0); }

static long actions_run;
static int noop_action(void *arg) {
    (void)arg;
    actions_run++;
    return 0;
}

// ---------------------------------------------------------------------------
// >>heap  The bare binary heap: what each event minimally carries (time,
// priority, a sequence for FIFO ties, action, argument), grown by doubling.

typedef struct bare_event {
    double time;
    int priority;
    uint64_t seq;
    pc_target_fn action;
    void *arg;
} bare_event;

typedef struct bare_heap {
    bare_event *v;
    size_t n, cap;
    uint64_t seq;
} bare_heap;

static int bare_less(const bare_event *a, const bare_event *b) {
    if (a->time != b->time) return a->time < b->time;
    if (a->priority != b->priority) return a->priority < b->priority;
    return a->seq < b->seq;
}

static void bare_push(bare_heap *h, double time, int priority, pc_target_fn fn, void *arg) {
    if (h->n == h->cap) {
        h->cap = h->cap ? h->cap * 2 : 64;
        h->v = (bare_event *)realloc(h->v, h->cap * sizeof *h->v);
        if (!h->v) abort();
    }
    bare_event e = {time, priority, h->seq++, fn, arg};
    size_t i = h->n++;
    while (i > 0 && bare_less(&e, &h->v[(i - 1) / 2])) {
        h->v[i] = h->v[(i - 1) / 2];
        i = (i - 1) / 2;
    }
    h->v[i] = e;
}

static bare_event bare_pop(bare_heap *h) {
    bare_event top = h->v[0], x = h->v[--h->n];
    size_t i = 0;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= h->n) break;
        if (c + 1 < h->n && bare_less(&h->v[c + 1], &h->v[c])) c++;
        if (!bare_less(&h->v[c], &x)) break;
        h->v[i] = h->v[c];
        i = c;
    }
    if (h->n) h->v[i] = x;
    return top;
}

// >>indexed  The bare heap with a position table: entry i's handle is i,
// pos[i] its place in the heap, kept up to date by every move.

typedef struct idx_event {
    double time;
    int priority;
    uint32_t id;
    uint64_t seq;
} idx_event;

typedef struct idx_heap {
    idx_event *v;
    uint32_t *pos;
    size_t n;
    uint64_t seq;
} idx_heap;

static int idx_less(const idx_event *a, const idx_event *b) {
    if (a->time != b->time) return a->time < b->time;
    if (a->priority != b->priority) return a->priority < b->priority;
    return a->seq < b->seq;
}

static void idx_put(idx_heap *h, size_t i, idx_event e) {
    h->v[i] = e;
    h->pos[e.id] = (uint32_t)i;
}

static void idx_up(idx_heap *h, size_t i, idx_event e) {
    while (i > 0 && idx_less(&e, &h->v[(i - 1) / 2])) {
        idx_put(h, i, h->v[(i - 1) / 2]);
        i = (i - 1) / 2;
    }
    idx_put(h, i, e);
}

static void idx_down(idx_heap *h, size_t i, idx_event e) {
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= h->n) break;
        if (c + 1 < h->n && idx_less(&h->v[c + 1], &h->v[c])) c++;
        if (!idx_less(&h->v[c], &e)) break;
        idx_put(h, i, h->v[c]);
        i = c;
    }
    idx_put(h, i, e);
}

// The caller made room for id (v and pos hold every id it will use).
static void idx_push(idx_heap *h, uint32_t id, double time, int priority) {
    idx_event e = {time, priority, id, h->seq++};
    idx_up(h, h->n++, e);
}

static void idx_cancel(idx_heap *h, uint32_t id) {
    size_t i = h->pos[id];
    idx_event last = h->v[--h->n];
    if (i == h->n) return;
    if (i > 0 && idx_less(&last, &h->v[(i - 1) / 2])) idx_up(h, i, last);
    else idx_down(h, i, last);
}

// ---------------------------------------------------------------------------
// >>run  N events entered at random due times, then run to empty.

typedef struct run_case { long n; } run_case;

static double trial_pc_run(void *ctx) {
    long n = ((run_case *)ctx)->n;
    rng_state = 88172645463325252ull;
    actions_run = 0;
    double t0 = pcb_now();
    pc_scheduler *s = pc_scheduler_new(NULL);
    if (!s) { pcb_note_failure("pc_scheduler_new", PC_NOMEM); return NAN; }
    for (long i = 0; i < n; i++) {
        int rc = pc_scheduler_enterabs(s, rng_unit(), (int)(rng_next() & 3), noop_action,
                                       NULL, NULL);
        if (rc) { pcb_note_failure("enterabs", rc); break; }
    }
    pcb_note_failure("run", pc_scheduler_run(s, 1, NULL));
    pc_scheduler_free(s);
    double dt = pcb_now() - t0;
    if (actions_run != n) pcb_note_failure("run (not every action ran)", PC_RUNTIME);
    return dt / (double)n;
}

// The heap's run loop does what run() must: read the clock until the head
// is due, pop, call.
static double trial_bare_run(void *ctx) {
    long n = ((run_case *)ctx)->n;
    rng_state = 88172645463325252ull;
    actions_run = 0;
    double t0 = pcb_now();
    bare_heap h = {NULL, 0, 0, 0};
    for (long i = 0; i < n; i++)
        bare_push(&h, rng_unit(), (int)(rng_next() & 3), noop_action, NULL);
    double now = -INFINITY;
    while (h.n) {
        if (h.v[0].time > now) now = pcb_now();
        if (h.v[0].time > now) continue;
        bare_event e = bare_pop(&h);
        e.action(e.arg);
    }
    free(h.v);
    double dt = pcb_now() - t0;
    if (actions_run != n) pcb_note_failure("bare run", PC_RUNTIME);
    return dt / (double)n;
}

// ---------------------------------------------------------------------------
// >>cancel  n events at random future times, all cancelled in random order.

typedef struct cancel_case {
    long n, timed;              // timed: how many of the n cancels are timed
    pc_scheduler_event *ev;
    long *order;
} cancel_case;

static double trial_pc_cancel(void *ctx) {
    cancel_case *c = (cancel_case *)ctx;
    rng_state = 2463534242ull;
    pc_scheduler *s = pc_scheduler_new(NULL);
    if (!s) { pcb_note_failure("pc_scheduler_new", PC_NOMEM); return NAN; }
    for (long i = 0; i < c->n; i++)
        pcb_note_failure("enter", pc_scheduler_enter(s, 1000 + 1000 * rng_unit(),
                                                 (int)(rng_next() & 3), noop_action, NULL,
                                                 &c->ev[i]));
    long timed = c->timed;
    double t0 = pcb_now();
    for (long i = 0; i < timed; i++)
        pcb_note_failure("cancel", pc_scheduler_cancel(s, c->ev[c->order[i]]));
    double dt = pcb_now() - t0;
    for (long i = timed; i < c->n; i++)
        pcb_note_failure("cancel", pc_scheduler_cancel(s, c->ev[c->order[i]]));
    if (!pc_scheduler_empty(s)) pcb_note_failure("cancel (queue not empty)", PC_RUNTIME);
    pc_scheduler_free(s);
    return dt / (double)timed;
}

// The same events, times and order on the indexed heap; the times come
// from the same clock read that pc_scheduler_enter makes.
static double trial_idx_cancel(void *ctx) {
    cancel_case *c = (cancel_case *)ctx;
    rng_state = 2463534242ull;
    idx_heap h = {NULL, NULL, 0, 0};
    h.v = (idx_event *)malloc((size_t)c->n * sizeof *h.v);
    h.pos = (uint32_t *)malloc((size_t)c->n * sizeof *h.pos);
    if (!h.v || !h.pos) abort();
    for (long i = 0; i < c->n; i++)
        idx_push(&h, (uint32_t)i, pcb_now() + 1000 + 1000 * rng_unit(), (int)(rng_next() & 3));
    long timed = c->timed;
    double t0 = pcb_now();
    for (long i = 0; i < timed; i++) idx_cancel(&h, (uint32_t)c->order[i]);
    double dt = pcb_now() - t0;
    for (long i = timed; i < c->n; i++) idx_cancel(&h, (uint32_t)c->order[i]);
    if (h.n) pcb_note_failure("indexed heap cancel (heap not empty)", PC_RUNTIME);
    free(h.v);
    free(h.pos);
    return dt / (double)timed;
}

// ---------------------------------------------------------------------------
// >>python

static double python(const char *args) {
    char buf[128];
    snprintf(buf, sizeof buf, "%s%s", args, pcb_quick ? " quick" : "");
    return pcb_python("sched_ops.py", buf);
}

// ---------------------------------------------------------------------------
// >>cases

// Against the bare heap at 1k, 10k, 100k and 1M events: how the cost per
// event grows with the queue. The targets are on the smallest (where the
// lock and the handles weigh most) and the largest.
static void bench_run_sizes(void) {
    static const long sizes[] = {1000, 10000, 100000, 1000000};
    char name[64], small[64], n[24];
    double ours = NAN, peer = NAN, small_ours = NAN, small_peer = NAN;
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        run_case c = {pcb_scaled(sizes[i])};
        pcb_duel(trial_pc_run, &c, trial_bare_run, &c, rounds(), &ours, &peer);
        snprintf(name, sizeof name, "enter+run, %s events", pcb_count(c.n, n, sizeof n));
        pcb_scale_row("scheduler events", (double)c.n, name, ours, "binary heap", peer);
        if (i == 0) {
            snprintf(small, sizeof small, "%s", name);
            small_ours = ours;
            small_peer = peer;
        }
    }
    pcb_target(small, "binary heap", small_ours, small_peer, 1.2);
    pcb_target(name, "binary heap", ours, peer, 1.5);
}

static void bench_run(void) {
    run_case mid = {pcb_scaled(100000)}, small = {pcb_scaled(10000)};
    double ours, py;
    char name[64], args[64], n[24];

    bench_run_sizes();
    ours = pcb_solo(trial_pc_run, &mid, rounds());
    snprintf(name, sizeof name, "enter+run, %s events", pcb_count(mid.n, n, sizeof n));
    snprintf(args, sizeof args, "run_noop %ld", mid.n);
    py = python(args);
    pcb_row(name, ours, "Python sched, no-op delay", py);     // for scale; no target

    ours = pcb_solo(trial_pc_run, &small, rounds());
    snprintf(name, sizeof name, "enter+run, %s events", pcb_count(small.n, n, sizeof n));
    snprintf(args, sizeof args, "run_default %ld", small.n);
    py = python(args);
    pcb_row(name, ours, "Python sched", py);
    pcb_target(name, "Python sched", ours, py, 0.02);
}

static void bench_cancel(void) {
    cancel_case c;
    c.n = pcb_scaled(100000);
    c.ev = (pc_scheduler_event *)malloc((size_t)c.n * sizeof *c.ev);
    c.order = (long *)malloc((size_t)c.n * sizeof *c.order);
    if (!c.ev || !c.order) abort();
    rng_state = 1234567ull;
    for (long i = 0; i < c.n; i++) c.order[i] = i;
    for (long i = c.n - 1; i > 0; i--) {         // Fisher-Yates
        long j = (long)(rng_next() % (uint64_t)(i + 1)), t = c.order[i];
        c.order[i] = c.order[j];
        c.order[j] = t;
    }
    char name[64], args[64], n[24];
    double ours, peer;
    c.timed = c.n;
    pcb_duel(trial_pc_cancel, &c, trial_idx_cancel, &c, rounds(), &ours, &peer);
    snprintf(name, sizeof name, "cancel, all %s queued, random order",
             pcb_count(c.n, n, sizeof n));
    pcb_row(name, ours, "indexed binary heap", peer);
    pcb_target(name, "indexed binary heap", ours, peer, 1.2);

    c.timed = c.n / 10;
    ours = pcb_solo(trial_pc_cancel, &c, rounds());
    snprintf(name, sizeof name, "cancel, random one of %s queued",
             pcb_count(c.n, n, sizeof n));
    snprintf(args, sizeof args, "cancel %ld", c.n);
    double py = python(args);
    pcb_row(name, ours, "Python sched", py);
    pcb_target(name, "Python sched", ours, py, 0.02);
    pcb_target_budget(name, ours, 2e-6);
    free(c.ev);
    free(c.order);
}

int main(int argc, char **argv) {
    pcb_parse_quick(argc, argv);
    pcb_idle_start();
    pcb_begin("sched", "pyconc_sched.h against a bare binary heap and Python's sched module",
              rounds());
    bench_run();
    bench_cancel();
    pcb_idle_stop_join();
    pcb_end();
    if (pcb_failures) fprintf(stderr, "bench: %d operations failed\n", pcb_failures);
    return pcb_failures ? 1 : 0;
}

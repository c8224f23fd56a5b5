/* bench_manager.c - a Manager's dict proxy against a raw socketpair round
   trip and against Python's SyncManager.

   The same work in one run: d[k] = i then d[k] through a pyconc proxy
   (one request and reply per call), a plain write()/read() round trip of
   64 bytes on a socketpair to an echoing child (the least any call to
   another process can cost), and CPython's Manager().dict()
   (bench/py/manager_ops.py; skipped with a message if python3 is absent).
   Then the same calls pipelined in batches (pc_proxy_batch), and 1, 2 and
   4 client processes calling one server at once; gets pipelined on a
   dict of 100,000 keys against the same on 100 keys (a lookup is a hash
   probe, not a scan); and how long a call waiting in the server takes to
   return PC_BROKEN once the server is SIGKILLed, and an idle proxy's next
   call after that (median of 5). Trials alternate (A B A
   B ...); each row is the median, and the lines starting "--" give every
   side's minimum and maximum too.

       bench_manager           the full run (a few seconds)
       bench_manager quick     fewer rounds, for a smoke test

   The program ends with the targets and whether each is met; it exits 1
   only if an operation failed. */
#define PYCONC_IMPLEMENTATION
#define PYCONC_PROCESS_IMPLEMENTATION
#include "pyconc_process.h"

#include "bench.h"

#include <errno.h>
#include <sched.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#define SMALL 64
#define BATCH 1000          // calls per pipelined batch
#define CLIENTS_MAX 4

static int rounds(void) { return pcb_quick ? 3 : 9; }
static int calls(void) { return pcb_quick ? 500 : 4000; }
static int batches(void) { return pcb_quick ? 10 : 60; }

static char keys[100][8];

// >>spread: medians with their minimum and maximum
typedef struct spread {
    double med, lo, hi;
} spread;

static spread spread_of(double *v, int n) {
    spread s;
    s.med = pcb_median(v, n);      // sorts v
    s.lo = v[0];
    s.hi = v[n - 1];
    return s;
}

static void print_spread(const char *what, spread s) {
    char a[32], b[32], c[32];
    printf("-- %s: median %s (min %s, max %s)\n", what, pcb_fmt(s.med, a, sizeof a),
           pcb_fmt(s.lo, b, sizeof b), pcb_fmt(s.hi, c, sizeof c));
}

// Trials of a and b alternately; every trial kept.
static void duel(pcb_trial a, void *actx, pcb_trial b, void *bctx, spread *out_a,
                 spread *out_b) {
    double ta[64], tb[64];
    int n = rounds();
    for (int i = 0; i < n; i++) {
        ta[i] = a(actx);
        if (b) tb[i] = b(bctx);
    }
    *out_a = spread_of(ta, n);
    if (b) *out_b = spread_of(tb, n);
}

// >>raw  The peer: a 64-byte write()/read() round trip to an echoing child.
static int raw_io(int fd, void *buf, size_t n, int writing) {
    size_t done = 0;
    while (done < n) {
        ssize_t r = writing ? write(fd, (const char *)buf + done, n - done)
                            : read(fd, (char *)buf + done, n - done);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) return -1;
        done += (size_t)r;
    }
    return 0;
}

typedef struct raw_side {
    int fd;
    pid_t pid;
} raw_side;

static int raw_start(raw_side *s) {
    int sv[2];
    char buf[SMALL];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv)) return -1;
    if ((s->pid = fork()) == 0) {
        close(sv[0]);
        while (raw_io(sv[1], buf, SMALL, 0) == 0 && raw_io(sv[1], buf, SMALL, 1) == 0) {}
        _exit(0);
    }
    close(sv[1]);
    s->fd = sv[0];
    return s->pid > 0 ? 0 : -1;
}

static void raw_stop(raw_side *s) {
    close(s->fd);
    kill(s->pid, SIGKILL);
    waitpid(s->pid, NULL, 0);
}

static double trial_raw(void *ctx) {
    raw_side *s = (raw_side *)ctx;
    char buf[SMALL];
    int n = calls();
    memset(buf, 'r', sizeof buf);
    double t0 = pcb_now();
    for (int i = 0; i < n; i++)
        if (raw_io(s->fd, buf, SMALL, 1) || raw_io(s->fd, buf, SMALL, 0)) {
            pcb_failures++;
            break;
        }
    return (pcb_now() - t0) / n;
}

// >>proxy  pyconc: one call at a time, or batches.
static void proxy_calls(pc_proxy *d, int n) {
    pc_proxy_value v;
    for (int i = 0; i < n; i++) {
        const char *k = keys[i % 100];
        int rc = pc_proxy_dict_set(d, k, pc_proxy_int(i));
        if (!rc) rc = pc_proxy_dict_get(d, k, NULL, &v);
        pcb_note_failure("dict set+get", rc);
        if (rc) break;
    }
}

static double trial_proxy(void *ctx) {
    int n = calls();
    double t0 = pcb_now();
    proxy_calls((pc_proxy *)ctx, n);
    return (pcb_now() - t0) / (2 * n);
}

static double trial_batch(void *ctx) {
    pc_proxy_batch *b = (pc_proxy_batch *)ctx;
    static pc_proxy_value v[BATCH / 2];
    int n = batches();
    double t0 = pcb_now();
    for (int r = 0; r < n; r++) {
        for (int i = 0; i < BATCH / 2; i++) {
            const char *k = keys[i % 100];
            pcb_note_failure("batch set", pc_proxy_batch_dict_set(b, k, pc_proxy_int(i)));
            pcb_note_failure("batch get", pc_proxy_batch_dict_get(b, k, NULL, &v[i]));
        }
        pcb_note_failure("batch run", pc_proxy_batch_run(b));
    }
    return (pcb_now() - t0) / ((double)n * BATCH);
}

// >>clients  c processes at once, each making its calls; a pipe starts
// them together once each has connected (its first call).
typedef struct clients {
    pc_proxy *d;
    int c;
} clients;

static double trial_clients(void *ctx) {
    clients *k = (clients *)ctx;
    int go[2], ready[2], n = calls();
    pid_t pids[CLIENTS_MAX];
    char byte = 0;
    if (pipe(go) || pipe(ready)) return NAN;
    for (int i = 0; i < k->c; i++) {
        if ((pids[i] = fork()) == 0) {
            close(go[1]);
            close(ready[0]);
            proxy_calls(k->d, 1);                   // connects
            if (write(ready[1], "r", 1) != 1 || read(go[0], &byte, 1) < 0) _exit(2);
            proxy_calls(k->d, n);
            _exit(pcb_failures ? 1 : 0);
        }
    }
    close(go[0]);
    close(ready[1]);
    for (int i = 0; i < k->c; i++)
        if (read(ready[0], &byte, 1) != 1) pcb_failures++;
    double t0 = pcb_now();
    close(go[1]);                                   // end of file: go
    for (int i = 0; i < k->c; i++) {
        int st = 0;
        waitpid(pids[i], &st, 0);
        if (!WIFEXITED(st) || WEXITSTATUS(st)) pcb_failures++;
    }
    double t = (pcb_now() - t0) / (2.0 * n * k->c);
    close(ready[0]);
    return t;
}

// >>big  pipelined gets of the last 100 keys inserted into a dict of n.
static pc_manager *start_manager(pc_proxy **out_d);
#define BIG_KEYS 100000
typedef struct big_dict {
    pc_proxy_batch *b;
    char keys[100][16];
} big_dict;

static void big_fill(pc_proxy *d, big_dict *g, int n) {
    char k[16];
    g->b = pc_proxy_batch_new(d);
    for (int i = 0; i < n; i++) {
        snprintf(k, sizeof k, "k%d", i);
        pcb_note_failure("big set", pc_proxy_batch_dict_set(g->b, k, pc_proxy_int(i)));
    }
    pcb_note_failure("big fill", pc_proxy_batch_run(g->b));
    for (int i = 0; i < 100; i++) snprintf(g->keys[i], sizeof g->keys[i], "k%d", n - 100 + i);
}

static double trial_big(void *ctx) {
    big_dict *g = (big_dict *)ctx;
    static pc_proxy_value v[BATCH];
    int n = batches();
    double t0 = pcb_now();
    for (int r = 0; r < n; r++) {
        for (int i = 0; i < BATCH; i++)
            pcb_note_failure("big get", pc_proxy_batch_dict_get(g->b, g->keys[i % 100], NULL,
                                                               &v[i]));
        pcb_note_failure("big run", pc_proxy_batch_run(g->b));
    }
    return (pcb_now() - t0) / ((double)n * BATCH);
}

// >>death  A thread waits on an Event in the server; the server is killed.
typedef struct waiter {
    pc_proxy *e;
    double ended;
    int rc;
} waiter;

static void *waiter_main(void *arg) {
    waiter *w = (waiter *)arg;
    w->rc = pc_proxy_event_wait(w->e, PC_FOREVER);
    w->ended = pcb_now();
    return NULL;
}

// One kill: the waiting call's delay (out_wait) and an idle proxy's next
// call (out_idle), in seconds.
static void one_death(double *out_wait, double *out_idle) {
    pc_proxy *d, *e;
    pc_manager *m = start_manager(&d);
    pc_proxy_value v;
    pcb_note_failure("event", pc_manager_event(m, &e));
    pcb_note_failure("idle set", pc_proxy_dict_set(d, "k", pc_proxy_int(1)));   // connected
    waiter w = {e, 0, 0};
    pthread_t t;
    pthread_create(&t, NULL, waiter_main, &w);
    pc_sleep(0.05);                        // it is in the server by then
    double t0 = pcb_now();
    kill((pid_t)pc_process_pid(m->server), SIGKILL);
    pthread_join(t, NULL);
    *out_wait = w.ended - t0;
    if (w.rc != PC_BROKEN)
        pcb_note_failure("wait after the kill (want PC_BROKEN)", w.rc ? w.rc : 1);
    double t1 = pcb_now();
    int rc = pc_proxy_dict_get(d, "k", NULL, &v);
    *out_idle = pcb_now() - t1;
    if (rc != PC_BROKEN) pcb_note_failure("idle call after the kill (want PC_BROKEN)", rc ? rc : 1);
    pc_proxy_free(e);
    pc_proxy_free(d);
    pc_manager_free(m);
}

static void death_rows(double per_call) {
    double wait[5], idle[5];
    for (int i = 0; i < 5; i++) one_death(&wait[i], &idle[i]);
    spread sw = spread_of(wait, 5), si = spread_of(idle, 5);
    const char *name = "server SIGKILLed: a waiting call's PC_BROKEN";
    pcb_row(name, sw.med, "10 ms target", 0.010);
    pcb_target_budget(name, sw.med, 0.010);
    print_spread(name, sw);
    name = "server SIGKILLed: an idle proxy's next call";
    pcb_row(name, si.med, "a call to a live server", per_call);
    print_spread(name, si);
}

static double big_rows(void) {
    const char *name = "dict get on 100,000 keys, pipelined";
    pc_proxy *d, *d2;
    pc_manager *m = start_manager(&d);
    if (pc_manager_dict(m, &d2)) pcb_note_failure("dict", PC_RUNTIME);
    static big_dict big, small;
    big_fill(d, &big, BIG_KEYS);
    big_fill(d2, &small, 100);
    spread sb, ss;
    trial_big(&big);                                // warms up
    trial_big(&small);
    duel(trial_big, &big, trial_big, &small, &sb, &ss);
    pcb_row(name, sb.med, "the same on 100 keys", ss.med);
    pcb_target(name, "the same on 100 keys", sb.med, ss.med, 1.5);
    print_spread(name, sb);
    print_spread("dict get on 100 keys, pipelined", ss);
    pc_proxy_batch_free(big.b);
    pc_proxy_batch_free(small.b);
    pc_proxy_free(d2);
    pc_proxy_free(d);
    pc_manager_free(m);
    return ss.med;
}

// >>main

// The unpipelined rows run with every process on one CPU, as
// bench_connection's round trip does: a wake-up across CPUs costs more
// than the microseconds compared, and varies with where each side lands.
static int pin_to_one_cpu(cpu_set_t *saved) {
    cpu_set_t one;
    if (sched_getaffinity(0, sizeof *saved, saved) < 0) return -1;
    int cpu = sched_getcpu();
    CPU_ZERO(&one);
    CPU_SET(cpu < 0 ? 0 : cpu, &one);
    return sched_setaffinity(0, sizeof one, &one);
}

#define RAW "socketpair round trip"
#define PY "Python Manager"

static double per_call;             // a proxy call's median (the first rows)

static pc_manager *start_manager(pc_proxy **out_d) {
    pc_manager_desc md;
    memset(&md, 0, sizeof md);
    md.context = pc_get_context(PC_START_FORK);
    pc_manager *m = pc_manager_new(&md);
    if (!m || pc_manager_dict(m, out_d)) {
        fprintf(stderr, "bench_manager: %s\n", pc_last_error());
        exit(1);
    }
    return m;
}

static double python_rows(const char *name, double ours, const char *args, double limit) {
    char full[96];
    snprintf(full, sizeof full, "%s%s", args, pcb_quick ? " quick" : "");
    double py = pcb_python("manager_ops.py", full);
    pcb_row(name, ours, PY, py);
    if (limit > 0) pcb_target(name, PY, ours, py, limit);
    return py;
}

static void unpipelined_rows(double *out_py) {
    const char *name = "dict set+get, per call (one CPU)";
    cpu_set_t saved;
    raw_side raw;
    pc_proxy *d;
    spread ours, peer;
    int pinned = pin_to_one_cpu(&saved) == 0;
    pc_manager *m = start_manager(&d);
    if (raw_start(&raw)) { perror("bench_manager: fork"); exit(1); }
    proxy_calls(d, 100);                            // connects, warms up
    duel(trial_proxy, d, trial_raw, &raw, &ours, &peer);
    pcb_row(name, ours.med, RAW, peer.med);
    per_call = ours.med;
    pcb_target(name, RAW, ours.med, peer.med, 1.5);
    print_spread("pyconc proxy call", ours);
    print_spread("socketpair round trip", peer);
    char args[64];
    snprintf(args, sizeof args, "roundtrip %d", calls());
    *out_py = python_rows(name, ours.med, args, 0.2);
    raw_stop(&raw);
    pc_proxy_free(d);
    pc_manager_free(m);
    if (pinned) sched_setaffinity(0, sizeof saved, &saved);
}

static void pipelined_rows(double py) {
    const char *name = "dict set+get, pipelined (batches of 1000)";
    pc_proxy *d;
    spread ours;
    pc_manager *m = start_manager(&d);
    pc_proxy_batch *b = pc_proxy_batch_new(d);
    trial_batch(b);                                 // connects, warms up
    duel(trial_batch, b, NULL, NULL, &ours, NULL);
    pcb_row(name, ours.med, PY, py);
    pcb_target_budget(name, ours.med, 1.0 / 300000);   // >= 300 k calls/s
    pcb_target(name, PY, ours.med, py, 0.1);
    print_spread("pyconc pipelined call", ours);
    printf("-- pipelined: %.0f k calls/s (median)\n", 1e-3 / ours.med);
    pc_proxy_batch_free(b);
    pc_proxy_free(d);
    pc_manager_free(m);
}

static void client_rows(void) {
    pc_proxy *d;
    pc_manager *m = start_manager(&d);
    double one = NAN;
    for (int c = 1; c <= CLIENTS_MAX; c *= 2) {
        clients k = {d, c};
        spread s;
        char name[96], args[64];
        duel(trial_clients, &k, NULL, NULL, &s, NULL);
        if (c == 1) one = s.med;
        snprintf(name, sizeof name, "dict set+get, %d client process%s at once", c,
                 c > 1 ? "es" : "");
        snprintf(args, sizeof args, "clients %d %d", c, calls());
        double py = pcb_python("manager_ops.py", args);
        pcb_scale_row("client processes", c, name, s.med, PY, py);
        print_spread(name, s);
        printf("-- %d client%s: %.0f k calls/s in all, %.2fx one client's\n", c,
               c > 1 ? "s" : "", 1e-3 / s.med, one / s.med);
    }
    pc_proxy_free(d);
    pc_manager_free(m);
}

int main(int argc, char **argv) {
    pcb_parse_quick(argc, argv);
    signal(SIGPIPE, SIG_IGN);   // only the raw peer could raise it
    for (int i = 0; i < 100; i++) snprintf(keys[i], sizeof keys[i], "k%d", i);
    pcb_begin("manager", "pyconc_process.h Manager dict proxy against a raw socketpair round "
              "trip and Python's SyncManager", rounds());
    double py;
    unpipelined_rows(&py);
    pipelined_rows(py);
    client_rows();
    big_rows();
    death_rows(per_call);
    pcb_end();
    if (pcb_failures) fprintf(stderr, "bench_manager: %d operations failed\n", pcb_failures);
    return pcb_failures != 0;
}

/* bench_mp_queue.c - pyconc_process.h's cross-process Queue against a
   thread queue, raw inter-process channels and Python's multiprocessing.

       bench_mp_queue           the full run (several seconds)
       bench_mp_queue quick     fewer operations, for a smoke test

   Cases (children are forked; each uses the parent's handle):
   - 64-byte items, 1 producer process + 1 consumer process, per item:
     against pc_queue between two threads (the same work without a process
     boundary), against a raw pipe of 64-byte records, and against
     multiprocessing.Queue (bench/py/mp_queue_ops.py);
   - one item's round trip between two processes (two queues): against a
     raw futex ping-pong in a shared mapping and a socketpair round trip;
   - 4 producer + 4 consumer processes against 1 + 1, per item;
   - 1 MiB messages, 1 + 1 processes, per message: against two memcpy of
     1 MiB (a message is copied in and out once each).
   The program ends with the targets and whether each is met; it exits 1
   only if some operation failed, never because of a figure. */
#define PYCONC_IMPLEMENTATION
#define PYCONC_QUEUE_IMPLEMENTATION
#define PYCONC_PROCESS_IMPLEMENTATION
#include "pyconc_queue.h"
#include "pyconc_process.h"

#include "bench.h"

#include <linux/futex.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>

static int rounds(void) { return pcb_quick ? 3 : 7; }

#define PY "Python mp.Queue"
#define ITEMS 200000L
#define TRIPS 20000L
#define BIG ((size_t)1 << 20)
#define BIGS 400L

typedef struct item64 { unsigned char b[64]; } item64;

static double python(const char *args) {
    char buf[128];
    snprintf(buf, sizeof buf, "%s%s", args, pcb_quick ? " quick" : "");
    return pcb_python("mp_queue_ops.py", buf);
}

static void reap(pid_t pid) {
    int st = 0;
    if (waitpid(pid, &st, 0) != pid || !WIFEXITED(st) || WEXITSTATUS(st) != 0) pcb_failures++;
}

// ---------------------------------------------------------------------------
// >>stream  n items from producer processes to consumer processes.

typedef struct stream {
    pc_mp_queue *q;
    int producers, consumers;
    size_t size;                // bytes per item
} stream;

static void produce(pc_mp_queue *q, long n, size_t size) {
    unsigned char *buf = (unsigned char *)calloc(1, size);
    int bad = 0;
    for (long i = 0; i < n && !bad; i++) {
        memcpy(buf, &i, sizeof i);
        bad = pc_mp_queue_put_bytes(q, buf, size, PC_FOREVER);
    }
    free(buf);
    _exit(bad);
}

static void consume(pc_mp_queue *q, long n, size_t size) {
    unsigned char *buf = (unsigned char *)malloc(size);
    int bad = 0;
    size_t got;
    for (long i = 0; i < n && !bad; i++)
        bad = pc_mp_queue_get_bytes(q, buf, size, &got, PC_FOREVER);
    free(buf);
    _exit(bad);
}

static double trial_stream(void *ctx) {
    stream *s = (stream *)ctx;
    long n = s->size > 64 ? pcb_scaled(BIGS) : pcb_scaled(ITEMS);
    long per_p = n / s->producers, per_c = n / s->consumers;
    pid_t kids[16];
    int nk = 0;
    double t0 = pcb_now();
    for (int i = 0; i < s->producers; i++)
        if ((kids[nk++] = fork()) == 0) produce(s->q, per_p, s->size);
    for (int i = 0; i < s->consumers; i++)
        if ((kids[nk++] = fork()) == 0) consume(s->q, per_c, s->size);
    for (int i = 0; i < nk; i++) reap(kids[i]);
    return (pcb_now() - t0) / (double)n;
}

// The peer without a process boundary: pc_queue, two threads.
static pc_queue *tq;
static long tq_n;
static int tq_producer(void *arg) {
    (void)arg;
    item64 it;
    memset(&it, 0, sizeof it);
    for (long i = 0; i < tq_n; i++) pc_queue_put(tq, &it, PC_FOREVER);
    return 0;
}

static double trial_thread_queue(void *ctx) {
    (void)ctx;
    tq_n = pcb_scaled(ITEMS);
    pc_thread_desc d;
    memset(&d, 0, sizeof d);
    d.target = tq_producer;
    item64 it;
    double t0 = pcb_now();
    pc_thread *t = pc_thread_new(&d);
    pc_thread_start(t);
    for (long i = 0; i < tq_n; i++) pc_queue_get(tq, &it, PC_FOREVER);
    pc_thread_join(t, PC_FOREVER);
    pc_thread_free(t);
    return (pcb_now() - t0) / (double)tq_n;
}

// A raw pipe of 64-byte records (each write and read whole: PIPE_BUF).
static double trial_pipe(void *ctx) {
    (void)ctx;
    long n = pcb_scaled(ITEMS);
    int fds[2];
    if (pipe(fds)) return NAN;
    item64 it;
    memset(&it, 0, sizeof it);
    double t0 = pcb_now();
    pid_t pid = fork();
    if (pid == 0) {
        close(fds[0]);
        for (long i = 0; i < n; i++)
            if (write(fds[1], &it, sizeof it) != (ssize_t)sizeof it) _exit(1);
        _exit(0);
    }
    close(fds[1]);
    for (long i = 0; i < n; i++)
        if (read(fds[0], &it, sizeof it) != (ssize_t)sizeof it) { pcb_failures++; break; }
    close(fds[0]);
    reap(pid);
    return (pcb_now() - t0) / (double)n;
}

static pc_mp_queue *queue_of(size_t item_size, size_t max_message, long maxsize) {
    pc_mp_queue_desc d;
    memset(&d, 0, sizeof d);
    d.item_size = item_size;
    d.max_message = max_message;
    d.maxsize = maxsize;
    pc_mp_queue *q = pc_mp_queue_new(&d);
    if (!q) {
        fprintf(stderr, "bench: pc_mp_queue_new: %s\n", pc_last_error());
        exit(1);
    }
    return q;
}

static void case_stream(void) {
    const char *name = "64-byte items, 1 producer + 1 consumer process, per item";
    stream s = {queue_of(64, 0, 1024), 1, 1, 64};
    pc_queue_desc td;
    memset(&td, 0, sizeof td);
    td.item_size = 64;
    td.maxsize = 1024;
    tq = pc_queue_new(&td);
    double ours, peer;
    pcb_duel(trial_stream, &s, trial_thread_queue, NULL, rounds(), &ours, &peer);
    pcb_row(name, ours, "pc_queue, 2 threads", peer);
    pcb_target(name, "pc_queue, 2 threads", ours, peer, 1.5);
    pcb_duel(trial_stream, &s, trial_pipe, NULL, rounds(), &ours, &peer);
    pcb_row(name, ours, "raw pipe of 64-byte records", peer);
    pcb_target(name, "raw pipe of 64-byte records", ours, peer, 1.0);
    double py = python("stream");
    pcb_row(name, ours, PY, py);
    pcb_target(name, PY, ours, py, 0.1);
    // Scaling: 4 + 4 processes against 1 + 1.
    stream s4 = {s.q, 4, 4, 64};
    double four;
    pcb_duel(trial_stream, &s4, trial_stream, &s, rounds(), &four, &ours);
    pcb_scale_row("producer+consumer processes", 4, "64-byte items, 4 + 4 processes, per item",
                  four, "the same queue, 1 + 1", ours);
    pc_queue_free(tq);
    pc_mp_queue_free(s.q);
}

// ---------------------------------------------------------------------------
// >>roundtrip  One item there and back between two processes.

static pc_mp_queue *ping, *pong;

static double trial_pc_roundtrip(void *ctx) {
    (void)ctx;
    long n = pcb_scaled(TRIPS);
    item64 it;
    memset(&it, 0, sizeof it);
    pid_t pid = fork();
    if (pid == 0) {
        for (long i = 0; i < n; i++)
            if (pc_mp_queue_get(ping, &it, PC_FOREVER) || pc_mp_queue_put(pong, &it, PC_FOREVER))
                _exit(1);
        _exit(0);
    }
    double t0 = pcb_now();
    for (long i = 0; i < n; i++)
        if (pc_mp_queue_put(ping, &it, PC_FOREVER) || pc_mp_queue_get(pong, &it, PC_FOREVER)) {
            pcb_failures++;
            break;
        }
    double dt = pcb_now() - t0;
    reap(pid);
    return dt / (double)n;
}

static uint32_t *turn;          // a raw futex word in a shared mapping

static void futex_wait(uint32_t *w, uint32_t v) {
    syscall(SYS_futex, w, FUTEX_WAIT, v, NULL, NULL, 0);
}
static void futex_wake(uint32_t *w) { syscall(SYS_futex, w, FUTEX_WAKE, 1, NULL, NULL, 0); }

// Pass the turn: spin a little, then sleep, as a careful raw handoff does.
static void await_turn(uint32_t want) {
    for (int i = 0; i < 200; i++)
        if (__atomic_load_n(turn, __ATOMIC_SEQ_CST) == want) return;
    uint32_t v;
    while ((v = __atomic_load_n(turn, __ATOMIC_SEQ_CST)) != want) futex_wait(turn, v);
}

static void give_turn(uint32_t to) {
    __atomic_store_n(turn, to, __ATOMIC_SEQ_CST);
    futex_wake(turn);
}

static double trial_futex_roundtrip(void *ctx) {
    (void)ctx;
    long n = pcb_scaled(TRIPS);
    *turn = 0;
    pid_t pid = fork();
    if (pid == 0) {
        for (long i = 0; i < n; i++) {
            await_turn(1);
            give_turn(0);
        }
        _exit(0);
    }
    double t0 = pcb_now();
    for (long i = 0; i < n; i++) {
        give_turn(1);
        await_turn(0);
    }
    double dt = pcb_now() - t0;
    reap(pid);
    return dt / (double)n;
}

static double trial_socket_roundtrip(void *ctx) {
    (void)ctx;
    long n = pcb_scaled(TRIPS);
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv)) return NAN;
    item64 it;
    memset(&it, 0, sizeof it);
    pid_t pid = fork();
    if (pid == 0) {
        close(sv[0]);
        for (long i = 0; i < n; i++)
            if (read(sv[1], &it, sizeof it) != (ssize_t)sizeof it ||
                write(sv[1], &it, sizeof it) != (ssize_t)sizeof it)
                _exit(1);
        _exit(0);
    }
    close(sv[1]);
    double t0 = pcb_now();
    for (long i = 0; i < n; i++)
        if (write(sv[0], &it, sizeof it) != (ssize_t)sizeof it ||
            read(sv[0], &it, sizeof it) != (ssize_t)sizeof it) {
            pcb_failures++;
            break;
        }
    double dt = pcb_now() - t0;
    close(sv[0]);
    reap(pid);
    return dt / (double)n;
}

static void case_roundtrip(void) {
    const char *name = "one 64-byte item's round trip between two processes";
    ping = queue_of(64, 0, 16);
    pong = queue_of(64, 0, 16);
    turn = (uint32_t *)mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS,
                            -1, 0);
    double ours, peer;
    pcb_duel(trial_pc_roundtrip, NULL, trial_futex_roundtrip, NULL, rounds(), &ours, &peer);
    pcb_row(name, ours, "raw futex ping-pong", peer);
    pcb_target(name, "raw futex ping-pong", ours, peer, 3.0);
    pcb_duel(trial_pc_roundtrip, NULL, trial_socket_roundtrip, NULL, rounds(), &ours, &peer);
    pcb_row(name, ours, "socketpair round trip", peer);
    pcb_target(name, "socketpair round trip", ours, peer, 1.0);
    double py = python("roundtrip");
    pcb_row(name, ours, PY, py);
    munmap(turn, 4096);
    pc_mp_queue_free(ping);
    pc_mp_queue_free(pong);
}

// ---------------------------------------------------------------------------
// >>big  1 MiB messages against the copies they cost.

static double trial_memcpy(void *ctx) {
    unsigned char **b = (unsigned char **)ctx;
    long n = pcb_scaled(BIGS);
    double t0 = pcb_now();
    for (long i = 0; i < n; i++) {
        memcpy(b[1], b[0], BIG);
        b[0][i % BIG] ^= 1;
        memcpy(b[2], b[1], BIG);
    }
    double dt = pcb_now() - t0;
    if (b[2][0] == 7) pcb_failures += 0;
    return dt / (double)n;
}

static void case_big(void) {
    const char *name = "1 MiB messages, 1 + 1 processes, per message";
    stream s = {queue_of(0, BIG, 8), 1, 1, BIG};
    unsigned char *b[3];
    for (int i = 0; i < 3; i++) b[i] = (unsigned char *)calloc(1, BIG);
    double ours, peer;
    pcb_duel(trial_stream, &s, trial_memcpy, b, rounds(), &ours, &peer);
    pcb_row(name, ours, "two memcpy of 1 MiB", peer);
    // 0.8x of memcpy's bandwidth: a message's two copies in at most 1.25x
    // the time of two memcpy.
    pcb_target(name, "two memcpy of 1 MiB", ours, peer, 1.25);
    for (int i = 0; i < 3; i++) free(b[i]);
    pc_mp_queue_free(s.q);
}

static void (*const cases[])(void) = {case_stream, case_roundtrip, case_big};

int main(int argc, char **argv) {
    pcb_parse_quick(argc, argv);
    pcb_idle_start();
    pcb_begin("mp_queue", "pyconc_process.h Queue against a thread queue, raw channels "
              "between processes and Python's multiprocessing.Queue", rounds());
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) cases[i]();
    pcb_idle_stop_join();
    pcb_end();
    if (pcb_failures) fprintf(stderr, "bench: %d operations failed\n", pcb_failures);
    return pcb_failures ? 1 : 0;
}

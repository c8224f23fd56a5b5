/* bench_connection.c - Connection (Pipe) against raw socketpair I/O and
   against Python's multiprocessing Pipe.

   The same work three ways in one run: a pyconc Connection, the plain
   read()/write() on a socketpair a C programmer would write instead (no
   framing at all), and CPython's Pipe (bench/py/connection_pipe.py; skipped
   with a message if python3 is absent). Each side talks to a child process
   forked once before timing; pyconc and raw trials alternate (A B A B ...)
   and each keeps its median.

       bench_connection           the full run (a few seconds)
       bench_connection quick     fewer rounds, for a smoke test

   Cases: round trip of a 64-byte message (send, the child echoes, receive);
   one-way bandwidth of 64 KiB messages (the child acknowledges each batch),
   received with recv_bytes_into (no allocation) and with recv_bytes (one
   allocation per message, as Python's). The program ends with the targets
   and whether each is met; it exits 1 only if an operation failed. */
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
#define BIG (64 * 1024)
#define BATCH 64            // 64 KiB messages per acknowledgement


static int rounds(void) { return pcb_quick ? 3 : 9; }
static int trips(void) { return pcb_quick ? 500 : 4000; }
static int batches(void) { return pcb_quick ? 4 : 24; }


// >>raw  The peer: exact-length read()/write() loops on a socketpair.
static int raw_read(int fd, void *buf, size_t n) {
    size_t got = 0;
    while (got < n) {
        ssize_t r = read(fd, (char *)buf + got, n - got);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) return -1;
        got += (size_t)r;
    }
    return 0;
}

static int raw_write(int fd, const void *buf, size_t n) {
    size_t put = 0;
    while (put < n) {
        ssize_t w = write(fd, (const char *)buf + put, n - put);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) return -1;
        put += (size_t)w;
    }
    return 0;
}

// >>children  Each child serves one kind of trial until its end closes.
enum child_kind { RAW_ECHO, PC_ECHO, RAW_SINK, PC_SINK_INTO, PC_SINK_ALLOC };

static void raw_child(int fd, int kind) {
    static char buf[BIG];
    for (;;) {
        if (kind == RAW_ECHO) {
            if (raw_read(fd, buf, SMALL) || raw_write(fd, buf, SMALL)) return;
        } else {
            for (int i = 0; i < BATCH; i++)
                if (raw_read(fd, buf, BIG)) return;
            if (raw_write(fd, "k", 1)) return;
        }
    }
}

static void pc_child(pc_connection *c, int kind) {
    static char buf[BIG];
    size_t n;
    for (;;) {
        if (kind == PC_ECHO) {
            if (pc_connection_recv_bytes_into(c, buf, sizeof buf, 0, &n) ||
                pc_connection_send_bytes(c, buf, 0, n))
                return;
            continue;
        }
        for (int i = 0; i < BATCH; i++) {
            void *msg;
            if (kind == PC_SINK_INTO) {
                if (pc_connection_recv_bytes_into(c, buf, sizeof buf, 0, &n)) return;
            } else {
                if (pc_connection_recv_bytes(c, 0, &msg, &n)) return;
                pc_connection_bytes_free(msg);
            }
        }
        if (pc_connection_send_bytes(c, "k", 0, 1)) return;
    }
}

typedef struct side {
    int kind;
    int fd;                     // raw sides
    pc_connection *conn;        // pyconc sides
    pid_t pid;
} side;

static int side_start(side *s, int kind) {
    int sv[2];
    pc_connection *a = NULL, *b = NULL;
    int raw = kind == RAW_ECHO || kind == RAW_SINK;
    if (raw ? socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) : pc_pipe(1, &a, &b))
        return -1;
    s->kind = kind;
    if ((s->pid = fork()) == 0) {
        if (raw) { close(sv[0]); raw_child(sv[1], kind); }
        else { pc_connection_close(a); pc_child(b, kind); }
        _exit(0);
    }
    if (raw) { close(sv[1]); s->fd = sv[0]; }
    else { pc_connection_free(b); s->conn = a; }
    return s->pid > 0 ? 0 : -1;
}

// Later children inherited the parent's ends of earlier pairs (fork copies
// every descriptor), so closing ours is no end of file for them: kill.
static void side_stop(side *s) {
    if (s->conn) pc_connection_free(s->conn);
    else close(s->fd);
    kill(s->pid, SIGKILL);
    waitpid(s->pid, NULL, 0);
}

// >>trials
static double trial_raw_roundtrip(void *ctx) {
    side *s = (side *)ctx;
    char buf[SMALL];
    int n = trips();
    memset(buf, 'r', sizeof buf);
    double t0 = pcb_now();
    for (int i = 0; i < n; i++)
        if (raw_write(s->fd, buf, SMALL) || raw_read(s->fd, buf, SMALL)) {
            pcb_failures++;
            break;
        }
    return (pcb_now() - t0) / n;
}

static double trial_pc_roundtrip(void *ctx) {
    side *s = (side *)ctx;
    char buf[SMALL];
    size_t got;
    int n = trips();
    memset(buf, 'p', sizeof buf);
    double t0 = pcb_now();
    for (int i = 0; i < n; i++) {
        int rc = pc_connection_send_bytes(s->conn, buf, 0, SMALL);
        if (!rc) rc = pc_connection_recv_bytes_into(s->conn, buf, sizeof buf, 0, &got);
        pcb_note_failure("round trip", rc);
        if (rc) break;
    }
    return (pcb_now() - t0) / n;
}

static char big_buf[BIG];

static double trial_raw_bandwidth(void *ctx) {
    side *s = (side *)ctx;
    char ack;
    int n = batches();
    double t0 = pcb_now();
    for (int b = 0; b < n; b++) {
        for (int i = 0; i < BATCH; i++)
            if (raw_write(s->fd, big_buf, BIG)) pcb_failures++;
        if (raw_read(s->fd, &ack, 1)) pcb_failures++;
    }
    return (pcb_now() - t0) / (n * BATCH);
}

static double trial_pc_bandwidth(void *ctx) {
    side *s = (side *)ctx;
    char ack[8];
    size_t got;
    int n = batches();
    double t0 = pcb_now();
    for (int b = 0; b < n; b++) {
        for (int i = 0; i < BATCH; i++)
            pcb_note_failure("send 64 KiB", pc_connection_send_bytes(s->conn, big_buf, 0, BIG));
        pcb_note_failure("ack", pc_connection_recv_bytes_into(s->conn, ack, sizeof ack, 0, &got));
    }
    return (pcb_now() - t0) / (n * BATCH);
}

// >>main

// Round trips run with every process on one CPU: a wake-up across CPUs
// costs 10-40 us on this kind of machine and which CPU each side lands on
// varies from run to run, which would swamp the few microseconds compared.
static int pin_to_one_cpu(cpu_set_t *saved) {
    cpu_set_t one;
    if (sched_getaffinity(0, sizeof *saved, saved) < 0) return -1;
    int cpu = sched_getcpu();
    CPU_ZERO(&one);
    CPU_SET(cpu < 0 ? 0 : cpu, &one);
    return sched_setaffinity(0, sizeof one, &one);
}

#define RAW "socketpair r/w"
#define PY "Python Pipe"

static int roundtrip_rows(void) {
    const char *name = "Pipe round trip, 64 B (one CPU)";
    double ours, peer, py;
    char args[64];
    side raw_echo, pc_echo;
    cpu_set_t saved;
    memset(&raw_echo, 0, sizeof raw_echo);
    memset(&pc_echo, 0, sizeof pc_echo);
    int pinned = pin_to_one_cpu(&saved) == 0;
    if (side_start(&raw_echo, RAW_ECHO) || side_start(&pc_echo, PC_ECHO)) return -1;
    pcb_duel(trial_pc_roundtrip, &pc_echo, trial_raw_roundtrip, &raw_echo, rounds(), &ours,
             &peer);
    pcb_row(name, ours, RAW, peer);
    pcb_target(name, RAW, ours, peer, 1.15);
    snprintf(args, sizeof args, "roundtrip %d%s", trips(), pcb_quick ? " quick" : "");
    py = pcb_python("connection_pipe.py", args);
    pcb_row(name, ours, PY, py);
    pcb_target(name, PY, ours, py, 0.05);
    side_stop(&raw_echo);
    side_stop(&pc_echo);
    if (pinned) sched_setaffinity(0, sizeof saved, &saved);
    return 0;
}

static int bandwidth_rows(void) {
    const char *into_name = "Pipe 64 KiB message, recv_bytes_into";
    const char *alloc_name = "Pipe 64 KiB message, recv_bytes";
    double into, ours, peer, py;
    char args[64];
    side raw_sink, pc_sink_into, pc_sink_alloc;
    memset(&raw_sink, 0, sizeof raw_sink);
    pc_sink_into = pc_sink_alloc = raw_sink;
    if (side_start(&raw_sink, RAW_SINK) || side_start(&pc_sink_into, PC_SINK_INTO) ||
        side_start(&pc_sink_alloc, PC_SINK_ALLOC))
        return -1;
    pcb_duel(trial_pc_bandwidth, &pc_sink_into, trial_raw_bandwidth, &raw_sink, rounds(), &into,
             &peer);
    pcb_row(into_name, into, RAW, peer);
    // Bandwidth >= 0.9x raw: time per message <= raw / 0.9.
    pcb_target(into_name, RAW, into, peer, 1 / 0.9);
    double raw_into = peer;
    pcb_duel(trial_pc_bandwidth, &pc_sink_alloc, trial_raw_bandwidth, &raw_sink, rounds(), &ours,
             &peer);
    pcb_row(alloc_name, ours, RAW, peer);
    pcb_target(alloc_name, RAW, ours, peer, 1 / 0.9);
    snprintf(args, sizeof args, "bandwidth %d%s", batches() * BATCH,
             pcb_quick ? " quick" : "");
    py = pcb_python("connection_pipe.py", args);
    pcb_row(alloc_name, ours, PY, py);
    pcb_target(alloc_name, PY, ours, py, 0.05);
    printf("-- bandwidth: pyconc %.2f GB/s with recv_bytes_into, %.2f GB/s with recv_bytes; "
           "raw %.2f GB/s\n", BIG / into / 1e9, BIG / ours / 1e9, BIG / raw_into / 1e9);
    side_stop(&raw_sink);
    side_stop(&pc_sink_into);
    side_stop(&pc_sink_alloc);
    return 0;
}

int main(int argc, char **argv) {
    pcb_parse_quick(argc, argv);
    signal(SIGPIPE, SIG_IGN);   // only the raw peer could raise it
    memset(big_buf, 'b', sizeof big_buf);
    pcb_begin("connection", "pyconc_process.h Connection (Pipe) against raw socketpair I/O and "
              "Python's multiprocessing Pipe", rounds());
    if (roundtrip_rows() || bandwidth_rows()) {
        perror("bench_connection: starting a child");
        return 1;
    }
    pcb_end();
    if (pcb_failures) fprintf(stderr, "bench_connection: %d operations failed\n", pcb_failures);
    return pcb_failures != 0;
}

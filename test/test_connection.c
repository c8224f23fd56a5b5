/* test_connection.c - multiprocessing.connection: framing, Connection, Pipe,
   wait, fd passing, HMAC, Listener/Client and the authkey handshake, with
   python3 as the other side when it is installed. */
#define PYCONC_IMPLEMENTATION
#define PYCONC_PROCESS_IMPLEMENTATION
#include "pyconc_process.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <math.h>
#include <stdint.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "pc_test.h"
#include "pc_proc_test.h"


// >>helpers
static void send_str(pc_connection *c, const char *s) {
    CHECK_OK(pc_connection_send_bytes(c, s, 0, strlen(s)));
}

// Receive one message and compare it with want.
static void expect_msg(pc_connection *c, const char *want) {
    void *buf;
    size_t n;
    CHECK_OK(pc_connection_recv_bytes(c, 0, &buf, &n));
    CHECK_MSG(n == strlen(want) && memcmp(buf, want, n) == 0, "got %.*s, want %s", (int)n,
              (char *)buf, want);
    pc_connection_bytes_free(buf);
}

static void write_raw(int fd, const void *p, size_t n) {
    CHECK(write(fd, p, n) == (ssize_t)n);
}

// A deterministic generator, so a failing fuzz round can be replayed.
static uint64_t rng_state = 0x9e3779b97f4a7c15ull;
static uint32_t rng(void) {
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return (uint32_t)(rng_state >> 16);
}

// >>pipe
TEST(pipe_duplex_roundtrip) {
    int before = count_fds();
    pc_connection *a, *b;
    CHECK_OK(pc_pipe(1, &a, &b));
    CHECK(pc_connection_readable(a) && pc_connection_writable(a));
    CHECK(pc_connection_readable(b) && pc_connection_writable(b));
    CHECK(!pc_connection_closed(a));
    CHECK(fcntl(pc_connection_fileno(a), F_GETFD) & FD_CLOEXEC);
    send_str(a, "hello");
    expect_msg(b, "hello");
    CHECK_OK(pc_connection_send_bytes(b, "xxworldxx", 2, 5));
    expect_msg(a, "world");
    pc_connection_free(a);
    pc_connection_free(b);
    CHECK_EQ(count_fds(), before);
}

TEST(pipe_simplex_directions) {
    int before = count_fds();
    pc_connection *r, *w;
    void *buf;
    size_t n;
    CHECK_OK(pc_pipe(0, &r, &w));
    CHECK(pc_connection_readable(r) && !pc_connection_writable(r));
    CHECK(!pc_connection_readable(w) && pc_connection_writable(w));
    CHECK(fcntl(pc_connection_fileno(w), F_GETFD) & FD_CLOEXEC);
    CHECK_RC(pc_connection_send_bytes(r, "x", 0, 1), PC_VALUE);
    CHECK(strstr(pc_last_error(), "read-only"));
    CHECK_RC(pc_connection_recv_bytes(w, 0, &buf, &n), PC_VALUE);
    CHECK(strstr(pc_last_error(), "write-only"));
    CHECK_RC(pc_connection_poll(w, 0), PC_VALUE);
    send_str(w, "one way");
    expect_msg(r, "one way");
    pc_connection_free(r);
    pc_connection_free(w);
    CHECK_EQ(count_fds(), before);
}

TEST(pipe_bad_arguments) {
    pc_connection *a;
    CHECK_RC(pc_pipe(1, NULL, &a), PC_VALUE);
    CHECK_RC(pc_pipe(1, &a, NULL), PC_VALUE);
    CHECK(pc__p_connection_from_fd(-1, 1, 1) == NULL);
    CHECK_EQ(pc_last_error_code(), PC_VALUE);
    CHECK(pc__p_connection_from_fd(0, 0, 0) == NULL);
    CHECK(strstr(pc_last_error(), "readable"));
}

TEST(send_offset_size_and_empty) {
    pc_connection *a, *b;
    void *buf;
    size_t n = 99;
    CHECK_OK(pc_pipe(1, &a, &b));
    CHECK_OK(pc_connection_send_bytes(a, NULL, 0, 0));     // empty message
    CHECK_OK(pc_connection_recv_bytes(b, 0, &buf, &n));
    CHECK(buf != NULL);
    CHECK_EQ(n, 0);
    pc_connection_bytes_free(buf);
    CHECK_RC(pc_connection_send_bytes(a, NULL, 0, 3), PC_VALUE);
    CHECK_RC(pc_connection_send_bytes(a, "abc", SIZE_MAX, 2), PC_VALUE);
    CHECK(strstr(pc_last_error(), "overflow"));
    CHECK_RC(pc_connection_send_bytes(NULL, "abc", 0, 3), PC_VALUE);
    CHECK_OK(pc_connection_send_bytes(a, "0123456789", 7, 3));
    expect_msg(b, "789");
    pc_connection_free(a);
    pc_connection_free(b);
}

// Python: a message longer than maxlength is OSError and the connection is
// no longer readable (closed when it cannot write either).
TEST(recv_bytes_maxlength) {
    pc_connection *a, *b, *r, *w;
    void *buf;
    size_t n;
    CHECK_OK(pc_pipe(1, &a, &b));
    send_str(a, "0123456789");
    CHECK_RC(pc_connection_recv_bytes(b, 5, &buf, &n), PC_OS);
    CHECK_EQ(errno, EMSGSIZE);
    CHECK(strstr(pc_last_error(), "bad message length"));
    CHECK(!pc_connection_readable(b) && pc_connection_writable(b));
    CHECK(!pc_connection_closed(b));
    send_str(b, "still sends");
    expect_msg(a, "still sends");
    send_str(a, "12345");                                   // exactly maxlength is fine
    CHECK_OK(pc_pipe(1, &r, &w));
    send_str(w, "12345");
    CHECK_OK(pc_connection_recv_bytes(r, 5, &buf, &n));
    pc_connection_bytes_free(buf);
    pc_connection_free(r);
    pc_connection_free(w);
    CHECK_OK(pc_pipe(0, &r, &w));
    send_str(w, "too long");
    CHECK_RC(pc_connection_recv_bytes(r, 3, &buf, &n), PC_OS);
    CHECK(pc_connection_closed(r));
    CHECK_RC(pc_connection_recv_bytes(b, 0, NULL, &n), PC_VALUE);
    pc_connection_free(r);
    pc_connection_free(w);
    pc_connection_free(a);
    pc_connection_free(b);
}

TEST(recv_bytes_into) {
    pc_connection *a, *b;
    char room[16];
    size_t n = 0;
    void *buf;
    CHECK_OK(pc_pipe(1, &a, &b));
    send_str(a, "abcdef");
    memset(room, '.', sizeof room);
    CHECK_OK(pc_connection_recv_bytes_into(b, room, sizeof room, 4, &n));
    CHECK_EQ(n, 6);
    CHECK(memcmp(room, "....abcdef......", 16) == 0);
    // Too short: Python's BufferTooShort; the message is kept for later.
    send_str(a, "a message of 27 characters!");
    CHECK_RC(pc_connection_recv_bytes_into(b, room, sizeof room, 0, &n), PC_VALUE);
    CHECK(strstr(pc_last_error(), "BufferTooShort"));
    CHECK_EQ(n, 27);
    CHECK_OK(pc_connection_poll(b, 0));                     // the kept one is readable
    pc_wait_object w = {b, -1, 0};
    CHECK_OK(pc_connection_wait(&w, 1, 0, NULL));
    CHECK(w.ready);
    CHECK_RC(pc_connection_recv_bytes_into(b, room, sizeof room, 0, &n), PC_VALUE);
    CHECK_OK(pc_connection_recv_bytes(b, 0, &buf, &n));
    CHECK(n == 27 && memcmp(buf, "a message of 27 characters!", 27) == 0);
    pc_connection_bytes_free(buf);
    send_str(a, "a message of 27 characters!");
    char big[40];
    CHECK_RC(pc_connection_recv_bytes_into(b, big, sizeof big, 20, &n), PC_VALUE);
    CHECK_OK(pc_connection_recv_bytes_into(b, big, sizeof big, 13, &n));
    CHECK(n == 27 && memcmp(big + 13, "a message", 9) == 0);
    CHECK_RC(pc_connection_recv_bytes_into(b, room, sizeof room, 17, &n), PC_VALUE);
    CHECK(strstr(pc_last_error(), "offset"));
    CHECK_RC(pc_connection_recv_bytes_into(b, NULL, 4, 0, &n), PC_VALUE);
    CHECK_RC(pc_connection_recv_bytes_into(b, room, 4, 0, NULL), PC_VALUE);
    send_str(a, "");
    CHECK_OK(pc_connection_recv_bytes_into(b, NULL, 0, 0, &n));   // empty fits nothing
    CHECK_EQ(n, 0);
    pc_connection_free(a);
    pc_connection_free(b);
}

TEST(eof_between_and_inside_messages) {
    pc_connection *a, *b;
    void *buf;
    size_t n;
    int sv[2];
    CHECK_OK(pc_pipe(1, &a, &b));
    send_str(a, "last");
    pc_connection_close(a);
    CHECK_OK(pc_connection_poll(b, 0));
    expect_msg(b, "last");
    CHECK_OK(pc_connection_poll(b, 0));                     // end of file is readable
    CHECK_RC(pc_connection_recv_bytes(b, 0, &buf, &n), PC_EOF);
    CHECK_RC(pc_connection_send_bytes(b, "x", 0, 1), PC_OS);   // no SIGPIPE
    CHECK_EQ(errno, EPIPE);
    pc_connection_free(a);
    pc_connection_free(b);
    CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0);
    pc_connection *c = pc__p_connection_from_fd(sv[1], 1, 1);
    write_raw(sv[0], "\0\0\0\x0a" "abc", 7);                 // 10 announced, 3 sent
    close(sv[0]);
    CHECK_RC(pc_connection_recv_bytes(c, 0, &buf, &n), PC_OS);
    CHECK(strstr(pc_last_error(), "end of file during message"));
    CHECK(!pc_connection_readable(c));
    pc_connection_free(c);
}

TEST(simplex_dead_reader_is_epipe_not_sigpipe) {
    pc_connection *r, *w;
    CHECK_OK(pc_pipe(0, &r, &w));
    pc_connection_free(r);
    CHECK_RC(pc_connection_send_bytes(w, "x", 0, 1), PC_OS);
    CHECK_EQ(errno, EPIPE);
    sigset_t pending;
    sigpending(&pending);
    CHECK(!sigismember(&pending, SIGPIPE));
    pc_connection_free(w);
}

// The reader of a simplex pipe leaves while a large message is being
// written: Linux raises SIGPIPE even when the write returns a partial
// count. The sender runs in a forked child with SIGPIPE's default action,
// so a signal kills it and shows in its wait status.
static int sender_of_big_message_to_leaving_reader(const char *big, size_t size) {
    pc_connection *r, *w;
    char small[4096];
    signal(SIGPIPE, SIG_DFL);
    if (pc_pipe(0, &r, &w)) return 10;
    pid_t reader = fork();
    if (reader == 0) {
        pc_connection_close(w);
        // A little of the message, then gone while the writer is mid-call.
        if (read(pc_connection_fileno(r), small, sizeof small) < 0) _exit(1);
        _exit(0);
    }
    pc_connection_free(r);
    int rc = pc_connection_send_bytes(w, big, 0, size), e = errno, st;
    sigset_t pending;
    sigpending(&pending);
    pc_connection_free(w);
    if (reader < 0 || waitpid(reader, &st, 0) != reader) return 11;
    if (rc != PC_OS) return 12;
    if (e != EPIPE) return 13;
    return sigismember(&pending, SIGPIPE) ? 14 : 0;
}

TEST(simplex_reader_gone_mid_message_is_epipe) {
    size_t size = (size_t)8 << 20;
    char *big = (char *)calloc(1, size);
    CHECK(big != NULL);
    for (int round = 0; round < (PCT_SANITIZED ? 100 : 500); round++) {
        pid_t pid = fork();
        CHECK(pid >= 0);
        if (pid == 0) _exit(sender_of_big_message_to_leaving_reader(big, size));
        int st;
        CHECK_EQ(waitpid(pid, &st, 0), pid);
        CHECK_MSG(!WIFSIGNALED(st), "round %d: sender killed by signal %d", round,
                  WTERMSIG(st));
        CHECK_MSG(WIFEXITED(st) && WEXITSTATUS(st) == 0, "round %d: sender exit %d", round,
                  WEXITSTATUS(st));
    }
    free(big);
    CHECK(no_zombies());
}

TEST(closed_connection) {
    pc_connection *a, *b;
    void *buf;
    size_t n;
    CHECK_OK(pc_pipe(1, &a, &b));
    pc_connection_close(a);
    pc_connection_close(a);
    CHECK(pc_connection_closed(a));
    CHECK_EQ(pc_connection_fileno(a), -1);
    CHECK(strstr(pc_last_error(), "closed"));
    CHECK_RC(pc_connection_send_bytes(a, "x", 0, 1), PC_OS);
    CHECK_EQ(errno, EBADF);
    CHECK_RC(pc_connection_recv_bytes(a, 0, &buf, &n), PC_OS);
    CHECK_RC(pc_connection_poll(a, 0), PC_OS);
    CHECK(pc_connection_closed(NULL));
    CHECK(!pc_connection_readable(NULL) && !pc_connection_writable(NULL));
    CHECK_RC(pc_connection_poll(NULL, 0), PC_VALUE);
    CHECK_EQ(pc_connection_fileno(NULL), -1);
    pc_connection_close(NULL);
    pc_connection_free(NULL);
    pc_connection_free(a);
    pc_connection_free(b);
}

// >>poll
static pc_event poll_go;
static pc_connection *poll_sender;
static int poll_send(void *arg) {
    (void)arg;
    pc_event_wait(&poll_go, PC_FOREVER);
    pc_sleep(0.02);
    return pc_connection_send_bytes(poll_sender, "wake", 0, 4);
}

TEST(poll_timeout_and_wake) {
    pc_connection *a, *b;
    CHECK_OK(pc_pipe(1, &a, &b));
    double t0 = pc_monotonic();
    CHECK_RC(pc_connection_poll(b, 0), PC_TIMEOUT);
    CHECK_RC(pc_connection_poll(b, 0.1), PC_TIMEOUT);
    double took = pc_monotonic() - t0;
    CHECK_MSG(took >= 0.09 && took < 1.0, "took %.3f s", took);
    CHECK_RC(pc_connection_poll(b, NAN), PC_VALUE);
    poll_sender = a;
    pc_thread *t = pc_thread_new(NULL);
    pc_thread_free(t);
    pc_thread_desc d;
    memset(&d, 0, sizeof d);
    d.daemon = PC_DAEMON_YES;               // a failed CHECK must not wait for it at exit
    d.target = poll_send;
    t = pc_thread_new(&d);
    CHECK_OK(pc_thread_start(t));
    pc_event_set(&poll_go);
    CHECK_OK(pc_connection_poll(b, PC_FOREVER));
    CHECK_OK(pc_thread_join(t, PC_FOREVER));
    CHECK_EQ(pc_thread_exitcode(t), 0);
    pc_thread_free(t);
    expect_msg(b, "wake");
    pc_connection_free(a);
    pc_connection_free(b);
}

// >>framing
TEST(wire_format_is_pythons) {
    int sv[2];
    unsigned char h[12], raw[16];
    CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0);
    pc_connection *c = pc__p_connection_from_fd(sv[0], 1, 1);
    CHECK(c != NULL);
    send_str(c, "abc");
    CHECK(read(sv[1], raw, sizeof raw) == 7);
    CHECK(memcmp(raw, "\0\0\0\x03" "abc", 7) == 0);
    CHECK_OK(pc_connection_send_bytes(c, raw, 0, 0));
    CHECK(read(sv[1], raw, sizeof raw) == 4);
    CHECK(memcmp(raw, "\0\0\0\0", 4) == 0);
    // Python reads the long form for any length, so we must too.
    write_raw(sv[1], "\xff\xff\xff\xff\0\0\0\0\0\0\0\x05" "hello", 17);
    expect_msg(c, "hello");
    write_raw(sv[1], "\0\0\x01\0", 4);                       // 256 bytes, big-endian
    for (int i = 0; i < 16; i++) write_raw(sv[1], "0123456789abcdef", 16);
    void *buf;
    size_t n;
    CHECK_OK(pc_connection_recv_bytes(c, 0, &buf, &n));
    CHECK_EQ(n, 256);
    pc_connection_bytes_free(buf);
    // Messages over 2**31-1 bytes take -1 and an 8-byte length.
    CHECK_EQ(pc__p_frame_header(h, 0x7fffffffu), 4);
    CHECK(memcmp(h, "\x7f\xff\xff\xff", 4) == 0);
    if (sizeof(size_t) > 4) {
        CHECK_EQ(pc__p_frame_header(h, (size_t)0x80000000u), 12);
        CHECK(memcmp(h, "\xff\xff\xff\xff\0\0\0\0\x80\0\0\0", 12) == 0);
    }
    pc_connection_free(c);
    close(sv[1]);
}

TEST(bad_frames_are_clean_errors) {
    int sv[2];
    void *buf;
    size_t n;
    CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0);
    pc_connection *c = pc__p_connection_from_fd(sv[0], 1, 1);
    write_raw(sv[1], "\x80\0\0\0", 4);                       // negative, not -1
    CHECK_RC(pc_connection_recv_bytes(c, 0, &buf, &n), PC_OS);
    CHECK_EQ(errno, EPROTO);
    CHECK(!pc_connection_readable(c));                      // the stream is out of step
    pc_connection_free(c);
    close(sv[1]);
    CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0);
    c = pc__p_connection_from_fd(sv[0], 1, 1);
    write_raw(sv[1], "\xff\xff\xff\xff\xff\0\0\0\0\0\0\0", 12);   // 8-byte length too big
    CHECK_RC(pc_connection_recv_bytes(c, 0, &buf, &n), PC_OS);
    CHECK(strstr(pc_last_error(), "bad message length"));
    pc_connection_free(c);
    close(sv[1]);
    // A forged 1 GiB header followed by end of file: an error, quickly.
    CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0);
    c = pc__p_connection_from_fd(sv[0], 1, 1);
    write_raw(sv[1], "\x40\0\0\0" "tiny", 8);
    close(sv[1]);
    CHECK_RC(pc_connection_recv_bytes(c, 0, &buf, &n), PC_OS);
    pc_connection_free(c);
}

static pc_connection *big_sender;
static unsigned char *big_data;
static size_t big_size;
static int big_send(void *arg) {
    (void)arg;
    return pc_connection_send_bytes(big_sender, big_data, 0, big_size);
}

// Larger than any socket buffer and than the receive chunk: partial
// writes on one side, a growing buffer on the other.
TEST(big_message) {
    pc_connection *a, *b;
    void *buf;
    size_t n;
    big_size = (size_t)5 << 20;
    big_data = (unsigned char *)malloc(big_size);
    for (size_t i = 0; i < big_size; i++) big_data[i] = (unsigned char)(i * 7 + (i >> 12));
    CHECK_OK(pc_pipe(1, &a, &b));
    big_sender = a;
    pc_thread_desc d;
    memset(&d, 0, sizeof d);
    d.daemon = PC_DAEMON_YES;               // a failed CHECK must not wait for it at exit
    d.target = big_send;
    pc_thread *t = pc_thread_new(&d);
    CHECK_OK(pc_thread_start(t));
    CHECK_OK(pc_connection_recv_bytes(b, 0, &buf, &n));
    CHECK_OK(pc_thread_join(t, PC_FOREVER));
    CHECK_EQ(pc_thread_exitcode(t), 0);
    CHECK_EQ(n, big_size);
    CHECK(memcmp(buf, big_data, n) == 0);
    pc_connection_bytes_free(buf);
    pc_thread_free(t);
    pc_connection_free(a);
    pc_connection_free(b);
    free(big_data);
}

// Peak resident memory (VmHWM), KiB; -1 when unknown.
static long peak_rss_kib(void) {
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    long kib = -1;
    while (f && fgets(line, sizeof line, f))
        if (strncmp(line, "VmHWM:", 6) == 0) kib = strtol(line + 6, NULL, 10);
    if (f) fclose(f);
    return kib;
}

// Start the peak over from what is resident now; 0 when the kernel can't.
static int reset_peak_rss(void) {
    int fd = open("/proc/self/clear_refs", O_WRONLY | O_CLOEXEC);
    int ok = fd >= 0 && write(fd, "5", 1) == 1;
    if (fd >= 0) close(fd);
    return ok;
}

// Where the huge message carries marks; everything else is zero.
#define HUGE_MARKS 9
static size_t huge_mark_at(size_t size, int k) {
    return k == HUGE_MARKS - 1 ? size - 1 : (size_t)k * (64u << 20) + (size_t)k * 4099;
}

// The sender: a message in an untouched anonymous mapping (zero pages,
// no memory of its own) but for a few marked bytes.
static int send_huge_message(pc_connection *c, size_t size) {
    unsigned char *m = (unsigned char *)mmap(NULL, size, PROT_READ | PROT_WRITE,
                                             MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (m == MAP_FAILED) return 2;
    for (int k = 0; k < HUGE_MARKS; k++) m[huge_mark_at(size, k)] = (unsigned char)(k + 1);
    return pc_connection_send_bytes(c, m, 0, size) ? 3 : 0;
}

// Receiving a message holds it once: the buffer grows as the bytes arrive
// (a forged length costs nothing) by realloc, which moves a large block
// without copying it, so the peak is not the old and the new buffer
// together (2x the size for 2**k + 1 bytes).
TEST(huge_message_memory) {
    if (PCT_SANITIZED) pct_skip("the sanitizer's realloc always copies");
    if (sizeof(size_t) < 8) pct_skip("needs a 64-bit address space");
    if (peak_rss_kib() < 0 || !reset_peak_rss()) pct_skip("no VmHWM or /proc/self/clear_refs");
    size_t size = ((size_t)512 << 20) + 1;
    pc_connection *a, *b;
    void *buf;
    size_t n;
    CHECK_OK(pc_pipe(1, &a, &b));
    pid_t pid = fork();
    CHECK(pid >= 0);
    if (pid == 0) _exit(send_huge_message(a, size));
    pc_connection_free(a);
    CHECK(reset_peak_rss());
    long before = peak_rss_kib();
    CHECK_OK(pc_connection_recv_bytes(b, 0, &buf, &n));
    long grew = peak_rss_kib() - before;
    int st;
    CHECK_EQ(waitpid(pid, &st, 0), pid);
    CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    CHECK_EQ(n, size);
    const unsigned char *p = (const unsigned char *)buf;
    for (int k = 0; k < HUGE_MARKS; k++) {
        size_t at = huge_mark_at(size, k);
        CHECK_EQ(p[at], k + 1);
        CHECK_EQ(p[at - 1], 0);
    }
    pc_connection_bytes_free(buf);
    pc_connection_free(b);
    double ratio = (double)grew * 1024.0 / (double)size;
    printf("peak grew by %.2f x the message\n", ratio);
    CHECK_MSG(ratio <= 1.25, "receiving %zu bytes raised the peak by %ld KiB (%.2f x)", size,
              grew, ratio);
}

// >>fuzz
// Random streams: well-formed frames, then a random tail (a corrupt
// header, a truncated payload, or noise). Every receive must give a known
// status and the well-formed messages must come back intact.
static size_t fuzz_stream(unsigned char *s, size_t cap, size_t *out_good, size_t *sizes) {
    size_t len = 0, good = (size_t)(rng() % 4);
    for (size_t i = 0; i < good; i++) {
        size_t n = rng() % 200;
        if (len + 4 + n > cap) { good = i; break; }
        pc__p_frame_header(s + len, n);
        for (size_t j = 0; j < n; j++) s[len + 4 + j] = (unsigned char)(i + j);
        sizes[i] = n;
        len += 4 + n;
    }
    size_t tail = rng() % 40;
    int kind = (int)(rng() % 3);
    for (size_t j = 0; j < tail && len < cap; j++) {
        unsigned char v = (unsigned char)rng();
        if (kind == 1 && j < 4) v = j == 0 ? (unsigned char)(rng() % 2 ? 0x80 : 0xff) : 0xff;
        if (kind == 2 && j < 4) v = j < 2 ? 0 : v;         // a plausible short length
        s[len++] = v;
    }
    *out_good = good;
    return len;
}

static void fuzz_round(void) {
    unsigned char s[1200];
    size_t sizes[4], good, len = fuzz_stream(s, sizeof s, &good, sizes);
    int sv[2];
    CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0);
    if (len) write_raw(sv[1], s, len);
    close(sv[1]);
    pc_connection *c = pc__p_connection_from_fd(sv[0], 1, (int)(rng() % 2));
    CHECK(c != NULL);
    for (size_t i = 0;; i++) {
        void *buf = NULL;
        size_t n = 0, maxlength = rng() % 4 == 0 ? rng() % 100 : 0;
        unsigned char room[64];
        size_t off = rng() % 8;
        int into = (int)(rng() % 3 == 0), rc;
        rc = into ? pc_connection_recv_bytes_into(c, room, sizeof room, off, &n)
                  : pc_connection_recv_bytes(c, maxlength, &buf, &n);
        if (rc == PC_OK && i < good) {
            const unsigned char *p = into ? room + off : (const unsigned char *)buf;
            CHECK_EQ(n, sizes[i]);
            for (size_t j = 0; j < n; j++) CHECK_EQ(p[j], (unsigned char)(i + j));
        }
        CHECK_MSG(rc == PC_OK || rc == PC_EOF || rc == PC_OS || rc == PC_VALUE,
                  "status %d", rc);
        pc_connection_bytes_free(buf);
        if (rc == PC_VALUE && into && i < good) {           // too short: kept, take it
            CHECK_OK(pc_connection_recv_bytes(c, 0, &buf, &n));
            CHECK_EQ(n, sizes[i]);
            pc_connection_bytes_free(buf);
            continue;
        }
        if (rc != PC_OK) break;
        CHECK(i < good + 8);
    }
    pc_connection_free(c);
}

TEST(fuzz_random_and_truncated_frames) {
    int before = count_fds();
    for (int round = 0; round < 3000; round++) fuzz_round();
    CHECK_EQ(count_fds(), before);
}

// >>fdpass
TEST(fdpass_roundtrip) {
    int before = count_fds();
    int sv[2], pv[2];
    CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0);
    CHECK(pipe(pv) == 0);
    CHECK_OK(pc__p_send_fds(sv[0], "fd!", 3, pv, 2));
    char got[3];
    int fds[4] = {-1, -1, -1, -1};
    size_t nfds = 4;
    CHECK_OK(pc__p_recv_fds(sv[1], got, 3, fds, &nfds));
    CHECK_EQ(nfds, 2);
    CHECK(memcmp(got, "fd!", 3) == 0);
    CHECK(fcntl(fds[0], F_GETFD) & FD_CLOEXEC);
    CHECK(fcntl(fds[1], F_GETFD) & FD_CLOEXEC);
    CHECK(write(fds[1], "z", 1) == 1);
    char z = 0;
    CHECK(read(pv[0], &z, 1) == 1 && z == 'z');
    // No descriptors at all, and a payload arriving in pieces.
    CHECK_OK(pc__p_send_fds(sv[0], "plain", 5, NULL, 0));
    nfds = 4;
    CHECK_OK(pc__p_recv_fds(sv[1], got, 3, fds + 2, &nfds));
    CHECK_EQ(nfds, 0);
    CHECK_OK(pc__p_recv_fds(sv[1], got, 2, fds + 2, &nfds));
    CHECK(memcmp(got, "in", 2) == 0);
    for (int i = 0; i < 2; i++) { close(fds[i]); close(pv[i]); close(sv[i]); }
    CHECK_EQ(count_fds(), before);
}

// Many messages sent before any is received, bytes and packs carrying
// connections in turn: each arrives whole, in order, and each pack gets
// its own descriptor (checked through the connection it carries), however
// the reads cut the stream (rounds with other sizes move the cuts).
TEST(readahead_fds_in_order) {
    int before = count_fds();
    for (int round = 0; round < 30; round++) {
        pc_connection *a, *b, *ends[8][2];
        CHECK_OK(pc_pipe(1, &a, &b));
        char small[300];
        memset(small, 'a' + round % 26, sizeof small);
        for (int i = 0; i < 8; i++) {
            CHECK_OK(pc_pipe(1, &ends[i][0], &ends[i][1]));
            CHECK_OK(pc_connection_send_bytes(b, small, 0, (size_t)(round * 7 + i) % 300));
            pc_args *pack = pc_args_new();
            CHECK_OK(pc_args_add_int(pack, i));
            CHECK_OK(pc_args_add_connection(pack, ends[i][1]));
            CHECK_OK(pc_connection_send_args(b, pack));
            pc_args_free(pack);
        }
        for (int i = 0; i < 8; i++) {
            char got[300];
            size_t n;
            pc_args *pack;
            pc_connection *c;
            int64_t tag;
            CHECK_OK(pc_connection_recv_bytes_into(a, got, sizeof got, 0, &n));
            CHECK_EQ(n, (size_t)(round * 7 + i) % 300);
            CHECK(memcmp(got, small, n) == 0);
            CHECK_OK(pc_connection_recv_args(a, &pack));
            CHECK_OK(pc_args_get_int(pack, 0, &tag));
            CHECK_EQ(tag, i);
            CHECK_OK(pc_args_get_connection(pack, 1, &c));
            CHECK_OK(pc_connection_send_bytes(c, &tag, 0, sizeof tag));    // through its own end
            int64_t back = -1;
            CHECK_OK(pc_connection_recv_bytes_into(ends[i][0], &back, sizeof back, 0, &n));
            CHECK_EQ(back, i);
            pc_args_free(pack);
        }
        for (int i = 0; i < 8; i++) {
            pc_connection_free(ends[i][0]);
            pc_connection_free(ends[i][1]);
        }
        pc_connection_free(a);
        pc_connection_free(b);
    }
    CHECK_EQ(count_fds(), before);
}

// A message already read ahead counts as readable for poll and wait,
// though its socket is empty; once it is taken, nothing is.
TEST(readahead_poll_and_wait) {
    pc_connection *a, *b;
    char buf[16];
    size_t n, nready = 0;
    CHECK_OK(pc_pipe(1, &a, &b));
    for (int round = 0; round < 50; round++) {
        CHECK_OK(pc_connection_send_bytes(b, "one", 0, 3));
        CHECK_OK(pc_connection_send_bytes(b, "two", 0, 3));
        CHECK_OK(pc_connection_recv_bytes_into(a, buf, sizeof buf, 0, &n));
        CHECK(n == 3 && memcmp(buf, "one", 3) == 0);
        CHECK_OK(pc_connection_poll(a, 0));
        pc_wait_object w;
        memset(&w, 0, sizeof w);
        w.conn = a;
        w.fd = -1;
        CHECK_OK(pc_connection_wait(&w, 1, 0, &nready));
        CHECK_EQ(nready, 1);
        CHECK_EQ(w.ready, 1);
        CHECK_OK(pc_connection_recv_bytes_into(a, buf, sizeof buf, 0, &n));
        CHECK(n == 3 && memcmp(buf, "two", 3) == 0);
        CHECK_RC(pc_connection_poll(a, 0), PC_TIMEOUT);
        CHECK_RC(pc_connection_wait(&w, 1, 0, &nready), PC_TIMEOUT);
    }
    pc_connection_free(a);
    pc_connection_free(b);
}

// A connection holding bytes it read ahead is refused in a pack (they
// would stay behind); once they are read, it goes.
TEST(readahead_connection_refused_in_pack) {
    pc_connection *a, *b, *x, *y;
    char buf[16];
    size_t n;
    CHECK_OK(pc_pipe(1, &a, &b));
    CHECK_OK(pc_pipe(1, &x, &y));
    CHECK_OK(pc_connection_send_bytes(b, "one", 0, 3));
    CHECK_OK(pc_connection_send_bytes(b, "two", 0, 3));
    CHECK_OK(pc_connection_recv_bytes_into(a, buf, sizeof buf, 0, &n));
    // Both were sent before that receive: its one read took "two" too.
    pc_args *pack = pc_args_new();
    CHECK_OK(pc_args_add_connection(pack, a));
    CHECK_RC(pc_connection_send_args(x, pack), PC_VALUE);
    CHECK(strstr(pc_last_error(), "already received") != NULL);
    CHECK_OK(pc_connection_recv_bytes_into(a, buf, sizeof buf, 0, &n));
    CHECK(n == 3 && memcmp(buf, "two", 3) == 0);
    CHECK_OK(pc_connection_send_args(x, pack));        // nothing kept now
    pc_args *got = NULL;
    CHECK_OK(pc_connection_recv_args(y, &got));
    pc_args_free(got);
    pc_args_free(pack);
    pc_connection_free(a);
    pc_connection_free(b);
    pc_connection_free(x);
    pc_connection_free(y);
}

#if PCT_HAVE_SYSCOUNT
// Small messages, each sent and then received; the last nine counted.
static void ten_small_receives(void *arg) {
    pc_connection *a, *b;
    char buf[64];
    size_t n;
    void *msg;
    (void)arg;
    if (pc_pipe(1, &a, &b)) _exit(1);
    memset(buf, 'm', sizeof buf);
    for (int i = 0; i < 10; i++) {
        if (i == 1) pct_syscount_mark();
        if (pc_connection_send_bytes(b, buf, 0, sizeof buf)) _exit(1);
        int rc = i % 2 ? pc_connection_recv_bytes_into(a, buf, sizeof buf, 0, &n)
                       : pc_connection_recv_bytes(a, 0, &msg, &n);
        if (rc || n != sizeof buf) _exit(1);
        if (i % 2 == 0) pc_connection_bytes_free(msg);
    }
    pct_syscount_mark();
    pc_connection_free(a);
    pc_connection_free(b);
}
#endif

// A small message costs one read: header and body come together.
TEST(small_message_one_read) {
#if PCT_HAVE_SYSCOUNT
    static long n[PCT_SYSCALLS];
    if (pct_syscount(ten_small_receives, NULL, n) < 0) pct_skip("ptrace is not allowed here");
    long reads = n[SYS_read] + n[SYS_recvmsg] + n[SYS_recvfrom] + n[SYS_readv];
    CHECK_MSG(reads == 9, "%ld reads for 9 messages", reads);
#else
    pct_skip("no ptrace system call counting on this system");
#endif
}

TEST(fdpass_errors) {
    int sv[2], pv[2], fds[4];
    char got[4];
    size_t nfds = 1;
    CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0);
    CHECK(pipe(pv) == 0);
    int before = count_fds();
    CHECK_OK(pc__p_send_fds(sv[0], "two", 3, pv, 2));
    CHECK_RC(pc__p_recv_fds(sv[1], got, 3, fds, &nfds), PC_VALUE);   // room for 1, 2 came
    CHECK_EQ(nfds, 0);
    CHECK_EQ(count_fds(), before);                          // both closed again
    CHECK_RC(pc__p_send_fds(sv[0], "x", 0, pv, 1), PC_VALUE);
    CHECK_RC(pc__p_send_fds(sv[0], NULL, 1, pv, 1), PC_VALUE);
    CHECK_RC(pc__p_send_fds(sv[0], "x", 1, NULL, 2), PC_VALUE);
    CHECK_RC(pc__p_send_fds(sv[0], "x", 1, pv, 254), PC_VALUE);
    CHECK_RC(pc__p_recv_fds(sv[1], got, 0, fds, &nfds), PC_VALUE);
    CHECK_RC(pc__p_send_fds(-1, "x", 1, pv, 1), PC_OS);
    close(sv[0]);
    nfds = 4;
    CHECK_RC(pc__p_recv_fds(sv[1], got, 1, fds, &nfds), PC_EOF);
    CHECK_RC(pc__p_send_fds(sv[1], "x", 1, pv, 1), PC_OS);  // peer gone: EPIPE, no signal
    close(sv[1]);
    close(pv[0]);
    close(pv[1]);
}

// >>args-message
// Argument packs as messages: the errors. The process tests carry packs
// between processes under each start method.
static pc_args *sample_pack(pc_connection *conn) {
    pc_args *a = pc_args_new();
    CHECK(a != NULL);
    CHECK_OK(pc_args_add_int(a, 7));
    CHECK_OK(pc_args_add_double(a, -0.5));
    CHECK_OK(pc_args_add_bytes(a, "xyz", 3));
    CHECK_OK(pc_args_add_str(a, "s"));
    if (conn) CHECK_OK(pc_args_add_connection(a, conn));
    return a;
}

TEST(args_message_errors) {
    int before = count_fds();
    pc_connection *a, *b, *r, *w;
    pc_args *got = NULL;
    CHECK_OK(pc_pipe(1, &a, &b));
    CHECK_OK(pc_pipe(0, &r, &w));
    CHECK_RC(pc_connection_send_args(a, NULL), PC_VALUE);
    CHECK_RC(pc_connection_send_args(NULL, NULL), PC_VALUE);
    CHECK_RC(pc_connection_recv_args(a, NULL), PC_VALUE);
    CHECK_RC(pc_connection_recv_args(w, &got), PC_VALUE);          // write-only
    // Handles need a unix socket: a plain pipe refuses them, clearly ...
    pc_args *with_conn = sample_pack(a);
    CHECK_RC(pc_connection_send_args(w, with_conn), PC_VALUE);
    CHECK(strstr(pc_last_error(), "unix socket") != NULL);
    // ... but carries a pack of plain items.
    pc_args *plain = sample_pack(NULL);
    CHECK_OK(pc_connection_send_args(w, plain));
    CHECK_OK(pc_connection_recv_args(r, &got));
    int64_t i;
    CHECK_EQ(pc_args_len(got), 4);
    CHECK_OK(pc_args_get_int(got, 0, &i));
    CHECK_EQ(i, 7);
    pc_args_free(got);
    // A message that is not a pack is PC_VALUE; the stream stays in step.
    send_str(a, "not a pack");
    CHECK_RC(pc_connection_recv_args(b, &got), PC_VALUE);
    CHECK(got == NULL && strstr(pc_last_error(), "malformed") != NULL);
    send_str(a, "next");
    expect_msg(b, "next");
    // A pack's bytes without its descriptors (sent as plain bytes).
    CHECK_OK(pc_connection_send_args(a, with_conn));
    void *raw;
    size_t n;
    CHECK_OK(pc_connection_recv_bytes(b, 0, &raw, &n));     // the descriptor is dropped
    CHECK_OK(pc_connection_send_bytes(a, raw, 0, n));
    CHECK_RC(pc_connection_recv_args(b, &got), PC_VALUE);
    // Every truncation of a pack, and random corruption, with a descriptor
    // attached each time: an error or a pack, never a crash or a leak.
    int wfd = pc_connection_fileno(w);
    for (size_t cut = 0; cut < n; cut++) {
        CHECK_OK(pc__p_frame_send_fds(pc_connection_fileno(a), 1, raw, cut, &wfd, 1));
        CHECK_RC(pc_connection_recv_args(b, &got), PC_VALUE);
    }
    unsigned char *bad = (unsigned char *)malloc(n);
    wfd = pc_connection_fileno(w);
    for (int round = 0; round < 500; round++) {
        memcpy(bad, raw, n);
        for (int k = 0; k < 2; k++) bad[rng() % n] = (unsigned char)rng();
        CHECK_OK(pc__p_frame_send_fds(pc_connection_fileno(a), 1, bad, n, &wfd, 1));
        int rc = pc_connection_recv_args(b, &got);
        CHECK(rc == PC_OK || rc == PC_VALUE);
        pc_args_free(got);
    }
    free(bad);
    pc_connection_bytes_free(raw);
    // A frame cut short by the peer's end: PC_OS, and no more reading.
    CHECK(write(pc_connection_fileno(a), "\0\0\0\x10" "abc", 7) == 7);
    pc_connection_free(a);
    CHECK_RC(pc_connection_recv_args(b, &got), PC_OS);
    CHECK_EQ(pc_connection_readable(b), 0);
    pc_args_free(with_conn);
    pc_args_free(plain);
    pc_connection_free(b);
    pc_connection_free(r);
    pc_connection_free(w);
    CHECK_EQ(count_fds(), before);
}

// Over TCP a pack of plain items travels; one holding handles is refused.
// Packs of every length from 0 to 40 items, of each kind in turn: the first
// few items live inside the pack, the rest move to the heap; each item must
// read back the same, before and after a trip over a connection.
static void check_pack_items(const pc_args *a, int n) {
    CHECK_EQ((int)pc_args_len(a), n);
    for (int i = 0; i < n; i++) {
        int64_t v = 0;
        double d = 0;
        const char *str = NULL;
        const void *p = NULL;
        size_t len = 0;
        char want[24];
        snprintf(want, sizeof want, "item %d", i);
        switch (i % 4) {
        case 0: CHECK_OK(pc_args_get_int(a, (size_t)i, &v)); CHECK_EQ(v, (int64_t)i * 3); break;
        case 1: CHECK_OK(pc_args_get_double(a, (size_t)i, &d)); CHECK(d == i + 0.25); break;
        case 2:
            CHECK_OK(pc_args_get_str(a, (size_t)i, &str));
            CHECK_MSG(strcmp(str, want) == 0, "%s != %s", str, want);
            break;
        default:
            CHECK_OK(pc_args_get_bytes(a, (size_t)i, &p, &len));
            CHECK(len == strlen(want) && memcmp(p, want, len) == 0);
        }
    }
}

TEST(args_of_every_length) {
    pc_connection *x, *y;
    CHECK_OK(pc_pipe(1, &x, &y));
    for (int n = 0; n <= 40; n++) {
        pc_args *a = pc_args_new();
        CHECK(a != NULL);
        for (int i = 0; i < n; i++) {
            char item[24];
            snprintf(item, sizeof item, "item %d", i);
            switch (i % 4) {
            case 0: CHECK_OK(pc_args_add_int(a, (int64_t)i * 3)); break;
            case 1: CHECK_OK(pc_args_add_double(a, i + 0.25)); break;
            case 2: CHECK_OK(pc_args_add_str(a, item)); break;
            default: CHECK_OK(pc_args_add_bytes(a, item, strlen(item)));
            }
            check_pack_items(a, i + 1);
        }
        CHECK_OK(pc_connection_send_args(x, a));
        pc_args *got = NULL;
        CHECK_OK(pc_connection_recv_args(y, &got));
        check_pack_items(got, n);
        pc_args_free(got);
        pc_args_free(a);
    }
    pc_connection_free(x);
    pc_connection_free(y);
}

TEST(args_message_tcp) {
    pc_listener_desc d;
    memset(&d, 0, sizeof d);
    d.address = "127.0.0.1:0";
    pc_listener *l = pc_listener_new(&d);
    CHECK(l != NULL);
    pc_client_desc cd;
    memset(&cd, 0, sizeof cd);
    cd.address = pc_listener_address(l);
    pc_connection *c, *s;
    CHECK_OK(pc_client(&cd, &c));               // the backlog holds it until accept
    CHECK_OK(pc_listener_accept(l, &s));
    pc_args *with_conn = sample_pack(s), *got = NULL;
    CHECK_RC(pc_connection_send_args(c, with_conn), PC_VALUE);
    pc_args *plain = sample_pack(NULL);
    CHECK_OK(pc_connection_send_args(c, plain));
    CHECK_OK(pc_connection_recv_args(s, &got));
    const char *str;
    CHECK_OK(pc_args_get_str(got, 3, &str));
    CHECK(strcmp(str, "s") == 0);
    pc_args_free(got);
    pc_args_free(plain);
    pc_args_free(with_conn);
    pc_connection_free(c);
    pc_connection_free(s);
    pc_listener_free(l);
}

// >>wait
TEST(wait_mixed_objects) {
    int before = count_fds();
    pc_connection *a, *b, *r, *w;
    int pv[2];
    size_t nready = 9;
    CHECK_OK(pc_pipe(1, &a, &b));
    CHECK_OK(pc_pipe(0, &r, &w));
    CHECK(pipe(pv) == 0);
    pc_wait_object objs[3];
    memset(objs, 0, sizeof objs);
    objs[0].conn = b;
    objs[1].conn = r;
    objs[2].fd = pv[0];
    double t0 = pc_monotonic();
    CHECK_RC(pc_connection_wait(objs, 3, 0.05, &nready), PC_TIMEOUT);
    double took = pc_monotonic() - t0;
    CHECK_MSG(took >= 0.045 && took < 1.0, "took %.3f s", took);
    CHECK_EQ(nready, 0);
    send_str(w, "x");
    CHECK_OK(pc_connection_wait(objs, 3, PC_FOREVER, &nready));
    CHECK_EQ(nready, 1);
    CHECK(!objs[0].ready && objs[1].ready && !objs[2].ready);
    write_raw(pv[1], "y", 1);
    pc_connection_close(a);                                 // end of file counts as ready
    CHECK_OK(pc_connection_wait(objs, 3, 0, &nready));
    CHECK_EQ(nready, 3);
    CHECK(objs[0].ready && objs[1].ready && objs[2].ready);
    CHECK_RC(pc_connection_wait(objs, 3, NAN, NULL), PC_VALUE);
    CHECK_RC(pc_connection_wait(NULL, 3, 0, NULL), PC_VALUE);
    objs[2].fd = -5;
    CHECK_RC(pc_connection_wait(objs, 3, 0, NULL), PC_VALUE);
    objs[2].conn = w;                                       // write-only
    CHECK_RC(pc_connection_wait(objs, 3, 0, NULL), PC_VALUE);
    objs[2].conn = a;                                       // closed
    CHECK_RC(pc_connection_wait(objs, 3, 0, NULL), PC_OS);
    pc_connection_free(a);
    pc_connection_free(b);
    pc_connection_free(r);
    pc_connection_free(w);
    close(pv[0]);
    close(pv[1]);
    objs[0].conn = NULL;
    objs[0].fd = pv[0];                                     // not open any more
    CHECK_RC(pc_connection_wait(objs, 1, 0, NULL), PC_VALUE);
    CHECK(strstr(pc_last_error(), "not open"));
    t0 = pc_monotonic();
    CHECK_RC(pc_connection_wait(NULL, 0, 0.05, NULL), PC_TIMEOUT);   // sleeps, as Python
    CHECK(pc_monotonic() - t0 >= 0.045);
    CHECK_EQ(count_fds(), before);
}

TEST(wait_many_objects) {
    enum { N = 40 };
    pc_connection *rs[N], *ws[N];
    pc_wait_object objs[N];
    size_t nready;
    memset(objs, 0, sizeof objs);
    for (int i = 0; i < N; i++) {
        CHECK_OK(pc_pipe(0, &rs[i], &ws[i]));
        objs[i].conn = rs[i];
    }
    for (int i = 3; i < N; i += 7) send_str(ws[i], "m");
    CHECK_OK(pc_connection_wait(objs, N, 1.0, &nready));
    CHECK_EQ(nready, 6);
    for (int i = 0; i < N; i++) CHECK_EQ(objs[i].ready, i % 7 == 3);
    for (int i = 0; i < N; i++) {
        pc_connection_free(rs[i]);
        pc_connection_free(ws[i]);
    }
}

// >>hmac
static void hex(const unsigned char *p, size_t n, char *out) {
    for (size_t i = 0; i < n; i++) sprintf(out + 2 * i, "%02x", p[i]);
}

static void check_hmac(int kind, const void *key, size_t ks, const void *msg, size_t ms,
                       const char *want) {
    unsigned char out[32];
    char got[65];
    pc__p_hmac(kind, key, ks, msg, ms, out);
    hex(out, kind ? 32 : 16, got);
    CHECK_MSG(strcmp(got, want) == 0, "got %s want %s", got, want);
}

TEST(hmac_sha256_rfc4231) {
    unsigned char k20[20], k131[131], d50[50];
    memset(k20, 0x0b, 20);
    check_hmac(1, k20, 20, "Hi There", 8,
               "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7");
    check_hmac(1, "Jefe", 4, "what do ya want for nothing?", 28,
               "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
    memset(k20, 0xaa, 20);
    memset(d50, 0xdd, 50);
    check_hmac(1, k20, 20, d50, 50,
               "773ea91e36800e46854db8ebd09181a72959098b3ef8c122d9635514ced565fe");
    unsigned char k25[25];
    for (int i = 0; i < 25; i++) k25[i] = (unsigned char)(i + 1);
    memset(d50, 0xcd, 50);
    check_hmac(1, k25, 25, d50, 50,
               "82558a389a443c0ea4cc819899f2083a85f0faa3e578f8077a2e3ff46729665b");
    memset(k131, 0xaa, 131);
    const char *m6 = "Test Using Larger Than Block-Size Key - Hash Key First";
    check_hmac(1, k131, 131, m6, strlen(m6),
               "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54");
    const char *m7 = "This is a test using a larger than block-size key and a larger "
                     "than block-size data. The key needs to be hashed before being "
                     "used by the HMAC algorithm.";
    check_hmac(1, k131, 131, m7, strlen(m7),
               "9b09ffa71b942fcb27635fbcd5b0e944bfdc63644f0713938a7f51535c3a35e2");
}

TEST(hmac_md5_rfc2202) {
    unsigned char k16[16], k80[80], d50[50], k25[25];
    memset(k16, 0x0b, 16);
    check_hmac(0, k16, 16, "Hi There", 8, "9294727a3638bb1c13f48ef8158bfc9d");
    check_hmac(0, "Jefe", 4, "what do ya want for nothing?", 28,
               "750c783e6ab0b503eaa86e310a5db738");
    memset(k16, 0xaa, 16);
    memset(d50, 0xdd, 50);
    check_hmac(0, k16, 16, d50, 50, "56be34521d144c88dbb8c733f0e8b3f6");
    for (int i = 0; i < 25; i++) k25[i] = (unsigned char)(i + 1);
    memset(d50, 0xcd, 50);
    check_hmac(0, k25, 25, d50, 50, "697eaf0aca3a3aea3a75164746ffaa79");
    memset(k16, 0x0c, 16);
    check_hmac(0, k16, 16, "Test With Truncation", 20, "56461ef2342edc00f9bab995690efd4c");
    memset(k80, 0xaa, 80);
    const char *m6 = "Test Using Larger Than Block-Size Key - Hash Key First";
    check_hmac(0, k80, 80, m6, strlen(m6), "6b1ab7fe4bd7bf8f0b62e6ce61b9d0cd");
    const char *m7 = "Test Using Larger Than Block-Size Key and Larger Than One "
                     "Block-Size Data";
    check_hmac(0, k80, 80, m7, strlen(m7), "6f630fad67cda0ee1fb1f562db3aa53e");
    check_hmac(0, "", 0, "", 0, "74e6f7298a9c2d168935f58c001bad88");
}

TEST(random_bytes) {
    unsigned char a[32], b[32];
    CHECK_OK(pc__p_random_bytes(a, sizeof a));
    CHECK_OK(pc__p_random_bytes(b, sizeof b));
    CHECK(memcmp(a, b, sizeof a) != 0);
}

// >>listener
// A client on its own thread: connect, then run the echo exchange.
typedef struct client_job {
    pc_client_desc desc;
    char address[160];
    int connect_rc, exchange_rc;
} client_job;

static const char *const echo_messages[] = {"hello", "", "third message"};

static int client_exchange(pc_connection *c) {
    for (size_t i = 0; i < sizeof echo_messages / sizeof *echo_messages; i++) {
        const char *m = echo_messages[i];
        void *buf;
        size_t n;
        int rc = pc_connection_send_bytes(c, m, 0, strlen(m));
        if (!rc) rc = pc_connection_recv_bytes(c, 0, &buf, &n);
        if (rc) return rc;
        int same = n == strlen(m) + 5 && memcmp(buf, "echo:", 5) == 0 &&
                   memcmp((char *)buf + 5, m, n - 5) == 0;
        pc_connection_bytes_free(buf);
        if (!same) return PC_VALUE;
    }
    return pc_connection_send_bytes(c, "bye", 0, 3);
}

static int client_main(void *arg) {
    client_job *job = (client_job *)arg;
    pc_connection *c = NULL;
    job->desc.address = job->address;
    job->connect_rc = pc_client(&job->desc, &c);
    if (job->connect_rc == PC_OK) job->exchange_rc = client_exchange(c);
    pc_connection_free(c);
    return 0;
}

// Serve the echo exchange on c until "bye" (or an error).
static int serve_echo(pc_connection *c) {
    for (;;) {
        void *buf;
        size_t n;
        char out[256];
        int rc = pc_connection_recv_bytes(c, sizeof out - 5, &buf, &n);
        if (rc) return rc;
        if (n == 3 && memcmp(buf, "bye", 3) == 0) {
            pc_connection_bytes_free(buf);
            return PC_OK;
        }
        memcpy(out, "echo:", 5);
        memcpy(out + 5, buf, n);
        pc_connection_bytes_free(buf);
        if ((rc = pc_connection_send_bytes(c, out, 0, n + 5))) return rc;
    }
}

static pc_thread *start_client(client_job *job, const char *address, const char *key) {
    pc_thread_desc d;
    memset(&d, 0, sizeof d);
    snprintf(job->address, sizeof job->address, "%s", address);
    if (key) {
        job->desc.authkey = key;
        job->desc.authkey_size = strlen(key);
    }
    d.daemon = PC_DAEMON_YES;               // a failed CHECK must not wait for it at exit
    d.target = client_main;
    d.arg = job;
    pc_thread *t = pc_thread_new(&d);
    CHECK(t != NULL);
    CHECK_OK(pc_thread_start(t));
    return t;
}

static void join_free(pc_thread *t) {
    CHECK_OK(pc_thread_join(t, PC_FOREVER));
    pc_thread_free(t);
}

// One listener, one client thread, the echo exchange, both sides checked.
static void listener_roundtrip(const pc_listener_desc *desc, const char *client_key) {
    pc_listener *l = pc_listener_new(desc);
    CHECK_MSG(l != NULL, "%s", pc_last_error());
    CHECK(pc_listener_last_accepted(l) == NULL);
    client_job job;
    memset(&job, 0, sizeof job);
    pc_thread *t = start_client(&job, pc_listener_address(l), client_key);
    pc_connection *c;
    CHECK_OK(pc_listener_accept(l, &c));
    CHECK_OK(serve_echo(c));
    join_free(t);
    CHECK_OK(job.connect_rc);
    CHECK_OK(job.exchange_rc);
    CHECK(pc_listener_last_accepted(l) != NULL);
    pc_connection_free(c);
    pc_listener_free(l);
}

TEST(listener_unix_default_address) {
    int before = count_fds();
    pc_listener *l = pc_listener_new(NULL);
    CHECK(l != NULL);
    CHECK_EQ(pc_listener_family(l), PC_AF_UNIX);
    char path[160];
    snprintf(path, sizeof path, "%s", pc_listener_address(l));
    struct stat st;
    CHECK(stat(path, &st) == 0 && S_ISSOCK(st.st_mode));
    CHECK(pc_listener_fileno(l) >= 0);
    pc_listener_close(l);
    CHECK(stat(path, &st) < 0 && errno == ENOENT);          // removed on close
    CHECK_EQ(pc_listener_fileno(l), -1);
    pc_listener_close(l);
    pc_listener_free(l);
    listener_roundtrip(NULL, NULL);
    CHECK_EQ(count_fds(), before);
}

TEST(listener_tcp) {
    int before = count_fds();
    pc_listener_desc d;
    memset(&d, 0, sizeof d);
    d.address = "127.0.0.1:0";
    pc_listener *l = pc_listener_new(&d);
    CHECK_MSG(l != NULL, "%s", pc_last_error());
    CHECK_EQ(pc_listener_family(l), PC_AF_INET);
    const char *addr = pc_listener_address(l);
    CHECK_MSG(strncmp(addr, "127.0.0.1:", 10) == 0 && atoi(addr + 10) > 0, "%s", addr);
    client_job job;
    memset(&job, 0, sizeof job);
    pc_thread *t = start_client(&job, addr, NULL);
    pc_connection *c;
    CHECK_OK(pc_listener_accept(l, &c));
    CHECK_MSG(strncmp(pc_listener_last_accepted(l), "127.0.0.1:", 10) == 0, "%s",
              pc_listener_last_accepted(l));
    int nodelay = 0;
    socklen_t len = sizeof nodelay;
    CHECK(getsockopt(pc_connection_fileno(c), IPPROTO_TCP, TCP_NODELAY, &nodelay, &len) == 0);
    CHECK(nodelay);
    CHECK_OK(serve_echo(c));
    join_free(t);
    CHECK_OK(job.exchange_rc);
    pc_connection_free(c);
    pc_listener_free(l);
    CHECK_EQ(count_fds(), before);
}

TEST(listener_tcp_ipv6_or_skip) {
    pc_listener_desc d;
    memset(&d, 0, sizeof d);
    d.address = "[::1]:0";
    pc_listener *l = pc_listener_new(&d);
    if (!l) pct_skip("no IPv6 loopback here");
    pc_listener_free(l);
    listener_roundtrip(&d, NULL);
}

TEST(listener_abstract) {
    char name[64];
    pc_listener_desc d;
    memset(&d, 0, sizeof d);
    snprintf(name, sizeof name, "@pyconc-test-%ld", (long)getpid());
    d.address = name;
    pc_listener *l = pc_listener_new(&d);
    CHECK_MSG(l != NULL, "%s", pc_last_error());
    CHECK_EQ(pc_listener_family(l), PC_AF_ABSTRACT);
    CHECK(strcmp(pc_listener_address(l), name) == 0);
    pc_listener_free(l);
    listener_roundtrip(&d, NULL);
    d.address = name + 1;                                   // the same without '@'
    d.family = PC_AF_ABSTRACT;
    listener_roundtrip(&d, NULL);
}

TEST(listener_authkey) {
    pc_listener_desc d;
    memset(&d, 0, sizeof d);
    d.authkey = "secret key";
    d.authkey_size = 10;
    listener_roundtrip(&d, "secret key");
    d.address = "127.0.0.1:0";
    listener_roundtrip(&d, "secret key");
    d.authkey = "";                                         // an empty key is a key
    d.authkey_size = 0;
    listener_roundtrip(&d, "");
}

TEST(listener_wrong_key_fails_both_sides) {
    int before = count_fds();
    pc_listener_desc d;
    memset(&d, 0, sizeof d);
    d.authkey = "right";
    d.authkey_size = 5;
    pc_listener *l = pc_listener_new(&d);
    CHECK(l != NULL);
    client_job job;
    memset(&job, 0, sizeof job);
    pc_thread *t = start_client(&job, pc_listener_address(l), "wrong");
    pc_connection *c = NULL;
    CHECK_RC(pc_listener_accept(l, &c), PC_AUTH);
    CHECK(strstr(pc_last_error(), "digest received was wrong"));
    CHECK(c == NULL);
    join_free(t);
    CHECK_EQ(job.connect_rc, PC_AUTH);
    pc_listener_free(l);
    CHECK_EQ(count_fds(), before);
}

static pc_listener *close_target;
static int accept_until_closed(void *arg) {
    pc_connection *c = NULL;
    (void)arg;
    int rc = pc_listener_accept(close_target, &c);
    pc_connection_free(c);
    return rc;
}

// Whether thread tid sits in accept(2): the kernel names the system call a
// blocked thread is in. Without that file, whether it is past accept's
// check of the closed flag (then close's shutdown makes accept(2) return
// at once even if the thread gets there later).
static int blocked_in_accept(pc_listener *l, long tid) {
    char path[64], line[64] = "";
    snprintf(path, sizeof path, "/proc/self/task/%ld/syscall", tid);
    FILE *f = fopen(path, "r");
    if (!f) {
        pc_lock_acquire(&l->mu, PC_FOREVER);
        int in = l->accepting > 0;
        pc_lock_release(&l->mu);
        return in;
    }
    int got = fgets(line, sizeof line, f) != NULL;
    fclose(f);
    long nr = got ? strtol(line, NULL, 10) : -1;
#ifdef SYS_accept4
    if (nr == SYS_accept4) return 1;
#endif
#ifdef SYS_accept
    if (nr == SYS_accept) return 1;
#endif
    return 0;
}

TEST(listener_close_wakes_accept) {
    int before = count_fds();
    close_target = pc_listener_new(NULL);
    CHECK(close_target != NULL);
    pc_thread_desc d;
    memset(&d, 0, sizeof d);
    d.daemon = PC_DAEMON_YES;               // a failed CHECK must not wait for it at exit
    d.target = accept_until_closed;
    pc_thread *t = pc_thread_new(&d);
    CHECK_OK(pc_thread_start(t));
    long tid = pc_thread_native_id(t);
    double give_up = pc_monotonic() + 10.0;
    while (!blocked_in_accept(close_target, tid)) {          // watch, not guess
        CHECK_MSG(pc_monotonic() < give_up, "the thread never reached accept");
        pc_sleep(0.001);
    }
    pc_listener_close(close_target);
    CHECK_OK(pc_thread_join(t, 5.0));
    CHECK_EQ(pc_thread_exitcode(t), PC_OS);
    pc_thread_free(t);
    pc_connection *c;
    CHECK_RC(pc_listener_accept(close_target, &c), PC_OS);
    CHECK(strstr(pc_last_error(), "closed"));
    pc_listener_free(close_target);
    CHECK_EQ(count_fds(), before);
}

// An accept on its own thread, so a case can give up on one that hangs.
typedef struct accept_job {
    pc_listener *l;
    pc_connection *c;
    int rc;
    double took;                // seconds inside pc_listener_accept
    char msg[256];
} accept_job;

static int accept_main(void *arg) {
    accept_job *j = (accept_job *)arg;
    double t0 = pc_monotonic();
    j->rc = pc_listener_accept(j->l, &j->c);
    j->took = pc_monotonic() - t0;
    snprintf(j->msg, sizeof j->msg, "%s", pc_last_error());
    return 0;
}

static pc_thread *start_accept(accept_job *j, pc_listener *l) {
    pc_thread_desc d;
    memset(&d, 0, sizeof d);
    memset(j, 0, sizeof *j);
    j->l = l;
    j->rc = -1;
    d.daemon = PC_DAEMON_YES;               // a failed CHECK must not wait for it at exit
    d.target = accept_main;
    d.arg = j;
    pc_thread *t = pc_thread_new(&d);
    CHECK(t != NULL);
    CHECK_OK(pc_thread_start(t));
    return t;
}

static void join_accept(pc_thread *t, double limit) {
    CHECK_MSG(pc_thread_join(t, limit) == PC_OK, "accept still blocked after %g s", limit);
    pc_thread_free(t);
}

// A client that connects without a key: it says nothing.
static pc_connection *silent_client(pc_listener *l) {
    pc_client_desc cd;
    pc_connection *c = NULL;
    memset(&cd, 0, sizeof cd);
    cd.address = pc_listener_address(l);
    CHECK_OK(pc_client(&cd, &c));
    return c;
}

static pc_listener *keyed_listener(const char *address, double handshake_timeout) {
    pc_listener_desc d;
    memset(&d, 0, sizeof d);
    d.address = address;
    d.backlog = 4;
    d.authkey = "k";
    d.authkey_size = 1;
    d.handshake_timeout = handshake_timeout;
    pc_listener *l = pc_listener_new(&d);
    CHECK_MSG(l != NULL, "%s", pc_last_error());
    return l;
}

// A client that connects and never answers the challenge must not keep
// accept blocked after close. The challenge reaching the client proves the
// accept is inside the handshake; every other round closes without
// waiting for it, racing the accept's own steps.
TEST(listener_close_wakes_accept_in_handshake) {
    int before = count_fds();
    for (int round = 0; round < 20; round++) {
        pc_listener *l = keyed_listener(round % 2 ? "127.0.0.1:0" : NULL, PC_FOREVER);
        accept_job j;
        pc_thread *t = start_accept(&j, l);
        pc_connection *silent = silent_client(l);
        int in_handshake = (round / 2) % 2 == 0;
        if (in_handshake) CHECK_OK(pc_connection_poll(silent, 10.0));
        pc_listener_close(l);
        join_accept(t, 5.0);
        CHECK_RC(j.rc, PC_OS);
        CHECK_MSG(strstr(j.msg, "listener is closed") != NULL, "%s", j.msg);
        CHECK(j.c == NULL);
        if (in_handshake) {
            void *buf;
            size_t n;
            CHECK_OK(pc_connection_recv_bytes(silent, 0, &buf, &n));   // the challenge
            CHECK(n > 11 && memcmp(buf, "#CHALLENGE#", 11) == 0);
            pc_connection_bytes_free(buf);
            CHECK_RC(pc_connection_recv_bytes(silent, 0, &buf, &n), PC_EOF);
        }
        pc_connection_free(silent);
        pc_listener_free(l);
    }
    CHECK_EQ(count_fds(), before);
}

// A silent client costs the Listener handshake_timeout, not its service:
// accept gives PC_AUTH, and the next accept serves the next client.
TEST(listener_handshake_timeout_serves_next_client) {
    int before = count_fds();
    for (int tcp = 0; tcp <= 1; tcp++) {
        pc_listener *l = keyed_listener(tcp ? "127.0.0.1:0" : NULL, 0.2);
        pc_connection *silent = silent_client(l);
        client_job job;
        memset(&job, 0, sizeof job);
        pc_thread *client = start_client(&job, pc_listener_address(l), "k");
        accept_job j;
        join_accept(start_accept(&j, l), 10.0);
        CHECK_RC(j.rc, PC_AUTH);
        CHECK_MSG(strstr(j.msg, "handshake_timeout") != NULL, "%s", j.msg);
        CHECK_MSG(j.took >= 0.19, "gave up after %g s", j.took);
        join_accept(start_accept(&j, l), 10.0);
        CHECK_RC(j.rc, PC_OK);
        CHECK_OK(serve_echo(j.c));
        join_free(client);
        CHECK_OK(job.connect_rc);
        CHECK_OK(job.exchange_rc);
        pc_connection_free(j.c);
        pc_connection_free(silent);
        pc_listener_free(l);
    }
    CHECK_EQ(count_fds(), before);
}

// A client that sends its (correct) reply one byte every 0.1 s would
// never trip a limit per read; the deadline covers the whole handshake.
typedef struct drip_job {
    pc_connection *c;
    pc_event stop;
    int sent;                   // bytes of the reply sent so far (atomic)
    int total;
} drip_job;

static int drip_main(void *arg) {
    drip_job *j = (drip_job *)arg;
    unsigned char frame[4 + 8 + 32];
    void *challenge;
    size_t n;
    if (pc_connection_recv_bytes(j->c, 0, &challenge, &n) || n < 11) return 1;
    memcpy(frame, "\0\0\0\x28{sha256}", 12);
    pc__p_hmac(1, "k", 1, (char *)challenge + 11, n - 11, frame + 12);
    pc_connection_bytes_free(challenge);
    j->total = (int)sizeof frame;
    for (size_t i = 0; i < sizeof frame && !pc_event_is_set(&j->stop); i++) {
        if (send(pc_connection_fileno(j->c), frame + i, 1, MSG_NOSIGNAL) != 1) return 0;
        __atomic_add_fetch(&j->sent, 1, __ATOMIC_SEQ_CST);
        pc_event_wait(&j->stop, 0.1);
    }
    if (pc_event_is_set(&j->stop)) return 0;
    // Reached only when nothing cut it short: finish the handshake properly.
    void *welcome;
    int rc = pc_connection_recv_bytes(j->c, 0, &welcome, &n);
    if (rc) return rc;
    pc_connection_bytes_free(welcome);
    return pc_connection_deliver_challenge(j->c, "k", 1);
}

TEST(listener_handshake_deadline_covers_a_dripping_client) {
    int before = count_fds();
    pc_listener *l = keyed_listener(NULL, 0.3);
    drip_job drip;
    memset(&drip, 0, sizeof drip);
    drip.c = silent_client(l);
    pc_thread_desc d;
    memset(&d, 0, sizeof d);
    d.daemon = PC_DAEMON_YES;
    d.target = drip_main;
    d.arg = &drip;
    pc_thread *dripper = pc_thread_new(&d);
    CHECK_OK(pc_thread_start(dripper));
    accept_job j;
    join_accept(start_accept(&j, l), 10.0);
    int sent = __atomic_load_n(&drip.sent, __ATOMIC_SEQ_CST);
    pc_event_set(&drip.stop);
    CHECK_RC(j.rc, PC_AUTH);
    CHECK_MSG(strstr(j.msg, "handshake_timeout") != NULL, "%s", j.msg);
    CHECK_MSG(sent < 44, "accept waited for all %d bytes", sent);
    join_free(dripper);
    pc_connection_free(drip.c);
    pc_listener_free(l);
    CHECK_EQ(count_fds(), before);
}

TEST(listener_handshake_timeout_values) {
    const double bad[] = {NAN};
    const double good[] = {0, PC_FOREVER, -2.0, -0.5, -INFINITY, 1e-3, 3600.0, INFINITY};
    pc_listener_desc d;
    memset(&d, 0, sizeof d);
    d.address = "127.0.0.1:0";
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        d.handshake_timeout = bad[i];
        CHECK(pc_listener_new(&d) == NULL);
        CHECK_EQ(pc_last_error_code(), PC_VALUE);
        CHECK_MSG(strstr(pc_last_error(), "handshake_timeout") != NULL, "%s", pc_last_error());
    }
    for (size_t i = 0; i < sizeof good / sizeof *good; i++) {
        d.handshake_timeout = good[i];
        pc_listener *l = pc_listener_new(&d);
        CHECK_MSG(l != NULL, "%g: %s", good[i], pc_last_error());
        pc_listener_free(l);
    }
}

// The default address is a socket in a fresh directory of mode 0700, so
// another user cannot connect, even with umask 0 (Python's mkdtemp).
// The other user is a forked child that drops to nobody (65534).
static int connect_as_nobody(const char *path) {
    fflush(NULL);
    pid_t pid = fork();
    CHECK(pid >= 0);
    if (pid == 0) {
        if (setgroups(0, NULL) != 0 || setgid(65534) != 0 || setuid(65534) != 0) _exit(3);
        pc_client_desc cd;
        pc_connection *c = NULL;
        memset(&cd, 0, sizeof cd);
        cd.address = path;
        int rc = pc_client(&cd, &c);
        _exit(rc == PC_OK ? 1 : rc == PC_OS && errno == EACCES ? 0 : 2);
    }
    int status;
    while (waitpid(pid, &status, 0) < 0) CHECK(errno == EINTR);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

TEST(listener_default_address_is_private) {
    if (geteuid() != 0) pct_skip("needs root, to connect as another user");
    int before = count_fds();
    mode_t old_mask = umask(0);
    pc_listener *l = pc_listener_new(NULL);
    umask(old_mask);
    CHECK_MSG(l != NULL, "%s", pc_last_error());
    char path[160], dir[160];
    snprintf(path, sizeof path, "%s", pc_listener_address(l));
    snprintf(dir, sizeof dir, "%s", path);
    CHECK(strrchr(dir, '/') != NULL);
    *strrchr(dir, '/') = '\0';
    int who = connect_as_nobody(path);
    CHECK_MSG(who != 1, "another user connected to %s", path);
    CHECK_MSG(who == 0, "the other user's connect: exit %d (2: not EACCES, 3: setuid)", who);
    struct stat st;
    CHECK(lstat(dir, &st) == 0 && S_ISDIR(st.st_mode));
    CHECK_EQ(st.st_uid, geteuid());
    CHECK_MSG((st.st_mode & 07777) == 0700, "%s has mode %o", dir, (unsigned)st.st_mode);
    pc_listener_close(l);
    CHECK(stat(path, &st) < 0 && errno == ENOENT);
    CHECK_MSG(stat(dir, &st) < 0 && errno == ENOENT, "%s left behind", dir);
    pc_listener_free(l);
    CHECK_EQ(count_fds(), before);
}

// $TMPDIR is used when it is short enough for a socket path below it.
TEST(listener_default_address_tmpdir) {
    char mine[64], longdir[100];
    const char *saved = getenv("TMPDIR");
    char *keep = saved ? strdup(saved) : NULL;
    snprintf(mine, sizeof mine, "/tmp/pyconc-test-XXXXXX");
    CHECK(mkdtemp(mine) != NULL);
    setenv("TMPDIR", mine, 1);
    pc_listener *l = pc_listener_new(NULL);
    CHECK_MSG(l != NULL, "%s", pc_last_error());
    CHECK_MSG(strncmp(pc_listener_address(l), mine, strlen(mine)) == 0, "%s",
              pc_listener_address(l));
    pc_listener_free(l);
    memset(longdir, 'd', sizeof longdir - 1);
    longdir[0] = '/';
    longdir[sizeof longdir - 1] = '\0';
    setenv("TMPDIR", longdir, 1);
    l = pc_listener_new(NULL);
    CHECK_MSG(l != NULL, "%s", pc_last_error());
    CHECK_MSG(strncmp(pc_listener_address(l), "/tmp/pyconc-", 12) == 0, "%s",
              pc_listener_address(l));
    pc_listener_free(l);
    if (keep) setenv("TMPDIR", keep, 1);
    else unsetenv("TMPDIR");
    free(keep);
    CHECK_MSG(rmdir(mine) == 0, "%s not empty after close", mine);
}

TEST(listener_and_client_errors) {
    int before = count_fds();
    pc_listener_desc d;
    pc_client_desc cd;
    pc_connection *c = (pc_connection *)&cd;
    char longpath[200];
    memset(&d, 0, sizeof d);
    memset(&cd, 0, sizeof cd);
    memset(longpath, 'a', sizeof longpath);
    longpath[0] = '/';
    longpath[sizeof longpath - 1] = '\0';
    d.address = longpath;
    CHECK(pc_listener_new(&d) == NULL);
    CHECK_EQ(pc_last_error_code(), PC_VALUE);
    d.address = "/nonexistent-dir/x.sock";
    CHECK(pc_listener_new(&d) == NULL);
    CHECK_EQ(pc_last_error_code(), PC_OS);
    d.address = NULL;
    d.family = (pc_family)9;
    CHECK(pc_listener_new(&d) == NULL);
    CHECK_EQ(pc_last_error_code(), PC_VALUE);
    d.family = PC_AF_DEFAULT;
    d.backlog = -1;
    CHECK(pc_listener_new(&d) == NULL);
    d.backlog = 0;
    d.authkey_size = 4;                                     // size without a key
    CHECK(pc_listener_new(&d) == NULL);
    CHECK_EQ(pc_last_error_code(), PC_VALUE);
    d.authkey_size = 0;
    d.address = "[::1:5";
    CHECK(pc_listener_new(&d) == NULL);
    d.family = PC_AF_INET;
    d.address = "127.0.0.1";
    CHECK(pc_listener_new(&d) == NULL);
    CHECK(strstr(pc_last_error(), "port"));
    d.address = "127.0.0.1:0";                              // a port in use
    pc_listener *l = pc_listener_new(&d);
    CHECK(l != NULL);
    d.address = pc_listener_address(l);
    CHECK(pc_listener_new(&d) == NULL);
    CHECK_EQ(pc_last_error_code(), PC_OS);
    CHECK_EQ(errno, EADDRINUSE);
    pc_listener_free(l);
    CHECK_RC(pc_client(NULL, &c), PC_VALUE);
    CHECK_RC(pc_client(&cd, &c), PC_VALUE);                 // no address
    cd.address = "/nonexistent-dir/x.sock";
    CHECK_RC(pc_client(&cd, &c), PC_OS);
    CHECK(c == NULL);
    CHECK_EQ(errno, ENOENT);
    cd.address = "@pyconc-nobody-listens-here";
    CHECK_RC(pc_client(&cd, &c), PC_OS);
    CHECK_EQ(errno, ECONNREFUSED);
    cd.address = "no-such-host.invalid:80";
    cd.family = PC_AF_INET;
    CHECK_RC(pc_client(&cd, &c), PC_OS);
    CHECK_RC(pc_listener_accept(NULL, &c), PC_VALUE);
    CHECK(pc_listener_last_accepted(NULL) == NULL);
    CHECK_EQ(pc_listener_fileno(NULL), -1);
    pc_listener_free(NULL);
    CHECK_EQ(count_fds(), before);
}

// Ports past 65535 are PC_VALUE on both sides (Python: OverflowError);
// getaddrinfo alone would keep the low 16 bits and reach another port.
TEST(tcp_port_out_of_range) {
    int before = count_fds();
    static const char *const bad[] = {
        "127.0.0.1:65536", "127.0.0.1:99999", "[::1]:70000",
        "127.0.0.1:18446744073709551616123456789012345678901234567890",
    };
    pc_listener_desc d;
    pc_client_desc cd;
    pc_connection *c = NULL;
    memset(&d, 0, sizeof d);
    memset(&cd, 0, sizeof cd);
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        d.address = cd.address = bad[i];
        CHECK_MSG(pc_listener_new(&d) == NULL, "listening on %s", bad[i]);
        CHECK_EQ(pc_last_error_code(), PC_VALUE);
        CHECK_MSG(strstr(pc_last_error(), "0-65535") != NULL, "%s", pc_last_error());
        CHECK_RC(pc_client(&cd, &c), PC_VALUE);
        CHECK(strstr(pc_last_error(), "0-65535"));
        CHECK(c == NULL);
    }
    d.address = "127.0.0.1:0";
    pc_listener *l = pc_listener_new(&d);
    CHECK(l != NULL);
    char wrapped[64];
    int port = atoi(strrchr(pc_listener_address(l), ':') + 1);
    snprintf(wrapped, sizeof wrapped, "127.0.0.1:%d", port + 65536);
    cd.address = wrapped;
    CHECK_RC(pc_client(&cd, &c), PC_VALUE);                 // not the listener's port
    CHECK(c == NULL);
    pc_listener_free(l);
    cd.address = d.address = "127.0.0.1:http";
    cd.family = d.family = PC_AF_INET;
    CHECK(pc_listener_new(&d) == NULL);
    CHECK_EQ(pc_last_error_code(), PC_VALUE);
    CHECK(strstr(pc_last_error(), "not a number"));
    CHECK_RC(pc_client(&cd, &c), PC_VALUE);
    cd.address = "127.0.0.1:65535";                         // the largest is a port
    int rc = pc_client(&cd, &c);
    CHECK_MSG(rc != PC_VALUE, "%s", pc_last_error());
    pc_connection_free(c);
    CHECK_EQ(count_fds(), before);
}

// A server with one thread per connection, many clients at once.
enum { MANY = 8 };
static pc_connection *many_conns[MANY];
static int many_serve(void *arg) { return serve_echo((pc_connection *)arg); }

TEST(thread_per_connection_server) {
    int before = count_fds();
    pc_listener_desc d;
    memset(&d, 0, sizeof d);
    d.address = "127.0.0.1:0";
    d.backlog = MANY;
    d.authkey = "k";
    d.authkey_size = 1;
    pc_listener *l = pc_listener_new(&d);
    CHECK(l != NULL);
    client_job jobs[MANY];
    pc_thread *clients[MANY], *servers[MANY];
    memset(jobs, 0, sizeof jobs);
    for (int i = 0; i < MANY; i++) clients[i] = start_client(&jobs[i], pc_listener_address(l), "k");
    for (int i = 0; i < MANY; i++) {
        CHECK_OK(pc_listener_accept(l, &many_conns[i]));
        pc_thread_desc td;
        memset(&td, 0, sizeof td);
        td.daemon = PC_DAEMON_YES;
        td.target = many_serve;
        td.arg = many_conns[i];
        servers[i] = pc_thread_new(&td);
        CHECK_OK(pc_thread_start(servers[i]));
    }
    for (int i = 0; i < MANY; i++) {
        join_free(clients[i]);
        CHECK_OK(jobs[i].connect_rc);
        CHECK_OK(jobs[i].exchange_rc);
        CHECK_OK(pc_thread_join(servers[i], PC_FOREVER));
        CHECK_EQ(pc_thread_exitcode(servers[i]), 0);
        pc_thread_free(servers[i]);
        pc_connection_free(many_conns[i]);
    }
    pc_listener_free(l);
    CHECK_EQ(count_fds(), before);
}

// >>handshake
// Each case drives one side by hand over a socketpair; the side under
// test runs on a thread.
typedef struct side_job {
    pc_connection *c;
    const char *key;
    int deliver;                // 1: deliver_challenge, 0: answer_challenge
    int rc;
    char msg[256];              // its pc_last_error (errors are per thread)
} side_job;

static int side_main(void *arg) {
    side_job *j = (side_job *)arg;
    size_t n = strlen(j->key);
    j->rc = j->deliver ? pc_connection_deliver_challenge(j->c, j->key, n)
                       : pc_connection_answer_challenge(j->c, j->key, n);
    snprintf(j->msg, sizeof j->msg, "%s", pc_last_error());
    if (j->rc) pc_connection_close(j->c);   // a driver waiting for more sees EOF
    return 0;
}

static pc_thread *start_side(side_job *j) {
    pc_thread_desc d;
    memset(&d, 0, sizeof d);
    d.daemon = PC_DAEMON_YES;               // a failed CHECK must not wait for it at exit
    d.target = side_main;
    d.arg = j;
    pc_thread *t = pc_thread_new(&d);
    CHECK_OK(pc_thread_start(t));
    return t;
}

// A Python <= 3.11 server: a bare 20-byte challenge, a bare HMAC-MD5 reply.
TEST(handshake_legacy_md5_server) {
    pc_connection *me, *them;
    unsigned char challenge[11 + 20], want[16];
    void *buf;
    size_t n;
    CHECK_OK(pc_pipe(1, &me, &them));
    side_job j = {them, "legacy key", 0, -1, ""};
    pc_thread *t = start_side(&j);
    memcpy(challenge, "#CHALLENGE#", 11);
    CHECK_OK(pc__p_random_bytes(challenge + 11, 20));
    CHECK_OK(pc_connection_send_bytes(me, challenge, 0, sizeof challenge));
    CHECK_OK(pc_connection_recv_bytes(me, 256, &buf, &n));
    pc__p_hmac(0, "legacy key", 10, challenge + 11, 20, want);
    CHECK_EQ(n, 16);
    CHECK(memcmp(buf, want, 16) == 0);
    pc_connection_bytes_free(buf);
    send_str(me, "#WELCOME#");
    join_free(t);
    CHECK_OK(j.rc);
    pc_connection_free(me);
    pc_connection_free(them);
}

// A Python <= 3.11 client answers our "{sha256}" challenge with bare MD5.
TEST(handshake_legacy_md5_client) {
    pc_connection *me, *them;
    unsigned char mac[16];
    void *buf;
    size_t n;
    CHECK_OK(pc_pipe(1, &me, &them));
    side_job j = {them, "k2", 1, -1, ""};
    pc_thread *t = start_side(&j);
    CHECK_OK(pc_connection_recv_bytes(me, 256, &buf, &n));
    CHECK_EQ(n, 11 + 8 + 40);
    CHECK(memcmp(buf, "#CHALLENGE#{sha256}", 19) == 0);
    pc__p_hmac(0, "k2", 2, (char *)buf + 11, n - 11, mac);
    pc_connection_bytes_free(buf);
    CHECK_OK(pc_connection_send_bytes(me, mac, 0, 16));
    expect_msg(me, "#WELCOME#");
    join_free(t);
    CHECK_OK(j.rc);
    pc_connection_free(me);
    pc_connection_free(them);
}

// The modern reply: "{sha256}" + HMAC-SHA256 over the whole challenge.
TEST(handshake_modern_reply_format) {
    pc_connection *me, *them;
    unsigned char mac[32];
    void *buf;
    size_t n;
    CHECK_OK(pc_pipe(1, &me, &them));
    side_job j = {them, "key", 0, -1, ""};
    pc_thread *t = start_side(&j);
    const char *challenge = "#CHALLENGE#{sha256}0123456789012345678901234567890123456789";
    send_str(me, challenge);
    CHECK_OK(pc_connection_recv_bytes(me, 256, &buf, &n));
    CHECK_EQ(n, 8 + 32);
    CHECK(memcmp(buf, "{sha256}", 8) == 0);
    pc__p_hmac(1, "key", 3, challenge + 11, strlen(challenge) - 11, mac);
    CHECK(memcmp((char *)buf + 8, mac, 32) == 0);
    pc_connection_bytes_free(buf);
    send_str(me, "#FAILURE#");                              // a refusal is PC_AUTH
    join_free(t);
    CHECK_RC(j.rc, PC_AUTH);
    CHECK(strstr(j.msg, "rejected"));
    pc_connection_free(me);
    pc_connection_free(them);
}

// Malformed challenges and replies: PC_AUTH (or PC_OS for a frame over
// 256 bytes, PC_EOF when the peer leaves), never a crash or a hang.
static int answer_to(const void *challenge, size_t n) {
    pc_connection *me, *them;
    CHECK_OK(pc_pipe(1, &me, &them));
    CHECK_OK(pc_connection_send_bytes(me, challenge, 0, n));
    pc_connection_close(me);                                // no verdict will come
    int rc = pc_connection_answer_challenge(them, "k", 1);
    pc_connection_free(me);
    pc_connection_free(them);
    return rc;
}

static char deliver_msg[256];
static int deliver_to(const void *reply, size_t n) {
    pc_connection *me, *them;
    void *buf;
    size_t got;
    CHECK_OK(pc_pipe(1, &me, &them));
    side_job j = {them, "k", 1, -1, ""};
    pc_thread *t = start_side(&j);
    CHECK_OK(pc_connection_recv_bytes(me, 256, &buf, &got));
    pc_connection_bytes_free(buf);
    if (n != (size_t)-1) CHECK_OK(pc_connection_send_bytes(me, reply, 0, n));
    else pc_connection_close(me);
    join_free(t);
    pc_connection_free(me);
    pc_connection_free(them);
    memcpy(deliver_msg, j.msg, sizeof deliver_msg);
    return j.rc;
}

TEST(handshake_malformed) {
    char big[300];
    memset(big, 'x', sizeof big);
    CHECK_RC(answer_to("hello there, not a challenge", 28), PC_AUTH);
    CHECK(strstr(pc_last_error(), "expected a challenge"));
    CHECK_RC(answer_to("#CHALLENGE#short", 16), PC_AUTH);
    CHECK(strstr(pc_last_error(), "too short"));
    CHECK_RC(answer_to("#CHALLENGE#{sha1}01234567890123456789012345", 43), PC_AUTH);
    CHECK(strstr(pc_last_error(), "unsupported"));
    CHECK_RC(answer_to(big, sizeof big), PC_OS);            // over 256 bytes
    CHECK_RC(answer_to("#CHALLENGE#{sha256}012345678901234567890123", 43), PC_OS);
    CHECK_EQ(errno, EPIPE);                                 // the server already left
    CHECK_RC(deliver_to("{sha256}too-short-mac", 21), PC_AUTH);
    CHECK(strstr(deliver_msg, "of length 32"));
    CHECK_RC(deliver_to("{sha384}0123456789012345678901234567890123456789", 48), PC_AUTH);
    CHECK_RC(deliver_to("0123456789abcdef", 16), PC_AUTH);   // legacy form, wrong MAC
    CHECK(strstr(deliver_msg, "wrong"));
    CHECK_RC(deliver_to("", 0), PC_AUTH);
    CHECK_RC(deliver_to(big, sizeof big), PC_OS);
    CHECK_RC(deliver_to(NULL, (size_t)-1), PC_EOF);
    pc_connection *a, *b;
    CHECK_OK(pc_pipe(1, &a, &b));
    CHECK_RC(pc_connection_answer_challenge(a, NULL, 3), PC_VALUE);
    CHECK_RC(pc_connection_deliver_challenge(NULL, "k", 1), PC_VALUE);
    pc_connection_free(a);
    pc_connection_free(b);
}

// >>interop
// python3 as the other side: its Listener with our Client, our Listener
// with its Client, with the authkey handshake, both Python's legacy (3.11
// and older) and modern ("{sha256}", 3.12+) forms where installed.
#ifndef PCT_PYTHON3
#define PCT_PYTHON3 ""
#endif
#ifndef PCT_MODERN_PYTHONS
#define PCT_MODERN_PYTHONS ""
#endif
#ifndef PCT_PEER_SCRIPT
#define PCT_PEER_SCRIPT "test/py/connection_peer.py"
#endif

static int python_works(const char *python, int need_modern) {
    char cmd[600];
    snprintf(cmd, sizeof cmd, "'%s' -c 'import sys; sys.exit(sys.version_info < (3, %d))' "
             ">/dev/null 2>&1", python, need_modern ? 12 : 6);
    return python[0] && system(cmd) == 0;
}

// The first interpreter that runs: python3, or a modern one.
static const char *pick_python(int modern, char *buf, size_t cap) {
    if (!modern) {
        if (!python_works(PCT_PYTHON3, 0)) pct_skip("python3 not found: interop not tested");
        return PCT_PYTHON3;
    }
    const char *list = PCT_MODERN_PYTHONS;
    while (*list) {
        size_t n = strcspn(list, ":");
        snprintf(buf, cap, "%.*s", (int)n, list);
        if (python_works(buf, 1)) return buf;
        list += n + (list[n] == ':');
    }
    pct_skip("no Python >= 3.12 found: the {sha256} interop not tested");
    return NULL;
}

static const char interop_key[] = "interop authkey";
static const char interop_key_hex[] = "696e7465726f7020617574686b6579";

static int exit_status(int status) { return WIFEXITED(status) ? WEXITSTATUS(status) : -1; }

// Python listens; we connect as a Client and run its exchange.
static void python_listener(int modern, const char *family, const char *key, int want_rc) {
    char py[300], cmd[1200], address[300];
    const char *python = pick_python(modern, py, sizeof py);
    int before = count_fds();
    snprintf(cmd, sizeof cmd, "'%s' '%s' server %s %s", python, PCT_PEER_SCRIPT, family,
             interop_key_hex);
    FILE *p = popen(cmd, "r");
    CHECK(p != NULL);
    CHECK(fgets(address, sizeof address, p) != NULL);
    address[strcspn(address, "\n")] = '\0';
    pc_client_desc d;
    memset(&d, 0, sizeof d);
    d.address = address;
    d.authkey = key;
    d.authkey_size = strlen(key);
    pc_connection *c = NULL;
    CHECK_RC(pc_client(&d, &c), want_rc);
    if (want_rc == PC_OK) {
        const char *ms[] = {"from C", "", "third"};
        for (int i = 0; i < 3; i++) {
            char want[32];
            send_str(c, ms[i]);
            snprintf(want, sizeof want, "echo:%s", ms[i]);
            expect_msg(c, want);
        }
        send_str(c, "bye");
    }
    pc_connection_free(c);
    int status = pclose(p);
    CHECK_EQ(exit_status(status), want_rc == PC_OK ? 0 : 3);
    CHECK_EQ(count_fds(), before);
}

// We listen; Python connects as a Client and runs the exchange.
static void python_client(int modern, const char *address, const char *key, int want_rc) {
    char py[300], cmd[1200];
    const char *python = pick_python(modern, py, sizeof py);
    int before = count_fds();
    pc_listener_desc d;
    memset(&d, 0, sizeof d);
    d.address = address;
    d.authkey = interop_key;
    d.authkey_size = strlen(interop_key);
    pc_listener *l = pc_listener_new(&d);
    CHECK(l != NULL);
    snprintf(cmd, sizeof cmd, "'%s' '%s' client '%s' %s", python, PCT_PEER_SCRIPT,
             pc_listener_address(l), key);
    FILE *p = popen(cmd, "r");
    CHECK(p != NULL);
    pc_connection *c = NULL;
    CHECK_RC(pc_listener_accept(l, &c), want_rc);
    if (want_rc == PC_OK) {
        // Serve Python's messages (up to 76800 bytes each) with "echo:".
        for (;;) {
            void *buf;
            size_t n;
            CHECK_OK(pc_connection_recv_bytes(c, 0, &buf, &n));
            if (n == 3 && memcmp(buf, "bye", 3) == 0) {
                pc_connection_bytes_free(buf);
                break;
            }
            char *out = (char *)malloc(n + 5);
            memcpy(out, "echo:", 5);
            memcpy(out + 5, buf, n);
            CHECK_OK(pc_connection_send_bytes(c, out, 0, n + 5));
            free(out);
            pc_connection_bytes_free(buf);
        }
    }
    pc_connection_free(c);
    int status = pclose(p);
    CHECK_EQ(exit_status(status), want_rc == PC_OK ? 0 : 3);
    pc_listener_free(l);
    CHECK_EQ(count_fds(), before);
}

TEST(interop_python_listener_c_client) {
    python_listener(0, "inet", interop_key, PC_OK);
    python_listener(0, "unix", interop_key, PC_OK);
}

TEST(interop_c_listener_python_client) {
    python_client(0, "127.0.0.1:0", interop_key_hex, PC_OK);
    python_client(0, NULL, interop_key_hex, PC_OK);
}

TEST(interop_wrong_key) {
    python_listener(0, "inet", "not the key", PC_AUTH);
    python_client(0, NULL, "6e6f7065", PC_AUTH);
}

TEST(interop_modern_python) {
    python_listener(1, "inet", interop_key, PC_OK);
    python_client(1, "127.0.0.1:0", interop_key_hex, PC_OK);
    python_client(1, NULL, "6e6f7065", PC_AUTH);
}

// >>processes
// Connections between processes, under each start method: a child's end
// travels in the argument pack; the parent waits on the connection and the
// child's sentinel together, as multiprocessing.connection.wait allows.
static pc_process *start_child(pc_start_method method, pc_target_fn fn, pc_args *args) {
    // Daemonic: a failed CHECK must not wait for it at exit.
    pc_process *p = proc_new(method, fn, args, PC_DAEMON_YES);
    CHECK_OK(pc_process_start(p));
    return p;
}

// args: (connection, int say): say 1 sends one message, 0 sends nothing;
// the exit code tells which ran.
static int child_pipe(void *arg) {
    pc_args *args = (pc_args *)arg;
    pc_connection *c = NULL;
    int64_t say;
    if (pc_args_get_connection(args, 0, &c) || pc_args_get_int(args, 1, &say)) return 10;
    if (say && pc_connection_send_bytes(c, "from the child", 0, 14)) return 11;
    return say ? 0 : 3;
}

// The forkserver is started once and its socket stays open: start it
// before counting descriptors.
static int fds_after_warm_up(pc_start_method method) {
    if (method == PC_START_FORKSERVER) {
        pc_process *p = start_child(method, NULL, NULL);
        CHECK_OK(pc_process_join(p, 20.0));
        pc_process_free(p);
    }
    return count_fds();
}

static void body_pipe_and_wait(pc_start_method method) {
    int before = fds_after_warm_up(method);
    for (int say = 1; say >= 0; say--) {
        pc_connection *mine, *theirs;
        CHECK_OK(pc_pipe(1, &mine, &theirs));
        pc_args *args = pc_args_new();
        CHECK_OK(pc_args_add_connection(args, theirs));
        CHECK_OK(pc_args_add_int(args, say));
        pc_process *p = start_child(method, child_pipe, args);
        pc_args_free(args);
        pc_connection_free(theirs);         // else the child's end never reaches EOF
        pc_wait_object objs[2];
        memset(objs, 0, sizeof objs);
        objs[0].conn = mine;
        objs[1].fd = pc_process_sentinel(p);
        size_t nready;
        CHECK_OK(pc_connection_wait(objs, 2, 20.0, &nready));
        CHECK(nready >= 1);
        if (say) {
            CHECK(objs[0].ready);           // the message arrives before the end
            expect_msg(mine, "from the child");
        }
        objs[0].conn = NULL;
        objs[0].fd = objs[1].fd;
        CHECK_OK(pc_connection_wait(objs, 1, 20.0, NULL));   // the sentinel fires
        CHECK_OK(pc_process_join(p, 20.0));
        CHECK_EQ(pc_process_exitcode(p), say ? 0 : 3);
        void *buf;
        size_t n;
        CHECK_RC(pc_connection_recv_bytes(mine, 0, &buf, &n), PC_EOF);
        pc_process_free(p);
        pc_connection_free(mine);
    }
    CHECK_EQ(count_fds(), before);
}

TEST(process_pipe_and_wait_fork) { body_pipe_and_wait(PC_START_FORK); }
TEST(process_pipe_and_wait_spawn) { body_pipe_and_wait(PC_START_SPAWN); }
TEST(process_pipe_and_wait_forkserver) { body_pipe_and_wait(PC_START_FORKSERVER); }

// args: (address, authkey bytes): connect to the parent's Listener, run
// the echo exchange.
static int child_client(void *arg) {
    pc_args *args = (pc_args *)arg;
    pc_client_desc d;
    pc_connection *c = NULL;
    memset(&d, 0, sizeof d);
    if (pc_args_get_str(args, 0, &d.address) ||
        pc_args_get_bytes(args, 1, &d.authkey, &d.authkey_size))
        return 10;
    int rc = pc_client(&d, &c);
    if (rc) return rc == PC_AUTH ? 13 : 11;
    rc = client_exchange(c);
    pc_connection_free(c);
    return rc ? 12 : 0;
}

static void body_listener_client(pc_start_method method) {
    int before = fds_after_warm_up(method);
    size_t keylen;
    const unsigned char *key = pc_process_authkey(pc_process_current(), &keylen);
    pc_listener_desc d;
    memset(&d, 0, sizeof d);
    d.authkey = key;
    d.authkey_size = keylen;
    pc_listener *l = pc_listener_new(&d);
    CHECK(l != NULL);
    for (int wrong = 0; wrong <= 1; wrong++) {
        pc_args *args = pc_args_new();
        CHECK_OK(pc_args_add_str(args, pc_listener_address(l)));
        CHECK_OK(pc_args_add_bytes(args, wrong ? "nope" : (const char *)key, wrong ? 4 : keylen));
        pc_process *p = start_child(method, child_client, args);
        pc_args_free(args);
        pc_connection *c = NULL;
        CHECK_RC(pc_listener_accept(l, &c), wrong ? PC_AUTH : PC_OK);
        if (!wrong) CHECK_OK(serve_echo(c));
        CHECK_OK(pc_process_join(p, 20.0));
        CHECK_EQ(pc_process_exitcode(p), wrong ? 13 : 0);
        pc_connection_free(c);
        pc_process_free(p);
    }
    pc_listener_free(l);
    CHECK_EQ(count_fds(), before);
}

TEST(process_listener_client_fork) { body_listener_client(PC_START_FORK); }
TEST(process_listener_client_spawn) { body_listener_client(PC_START_SPAWN); }
TEST(process_listener_client_forkserver) { body_listener_client(PC_START_FORKSERVER); }

// A forked child that closes its copy of the parent's listener must not
// stop the parent's (no shutdown of the shared socket, no unlink).
static int child_close_listener(void *arg) {
    pc_listener_free((pc_listener *)arg);
    return 0;
}

TEST(listener_survives_a_child_closing_its_copy) {
    pc_listener *l = pc_listener_new(NULL);
    CHECK(l != NULL);
    pc_process_desc d;
    memset(&d, 0, sizeof d);
    d.target = child_close_listener;
    d.arg = l;                                  // the pointer itself: fork only
    d.context = pc_get_context(PC_START_FORK);
    pc_process *p = pc_process_new(&d);
    CHECK(p != NULL);
    CHECK_OK(pc_process_start(p));
    CHECK_OK(pc_process_join(p, 20.0));
    CHECK_EQ(pc_process_exitcode(p), 0);
    pc_process_free(p);
    struct stat st;
    CHECK(stat(pc_listener_address(l), &st) == 0);
    client_job job;
    memset(&job, 0, sizeof job);
    pc_thread *t = start_client(&job, pc_listener_address(l), NULL);
    pc_connection *c;
    CHECK_OK(pc_listener_accept(l, &c));
    CHECK_OK(serve_echo(c));
    join_free(t);
    CHECK_OK(job.exchange_rc);
    pc_connection_free(c);
    pc_listener_free(l);
}

/* staging/connection.h - multiprocessing.connection for pyconc_process.h:
   Connection, Pipe, wait, Listener and Client.

   pyconc_process.h includes this file twice: among its declarations and
   again in its implementation section. The declarations are emitted once
   (guard PYCONC_CONNECTION_DECL); the implementation is emitted at the
   first inclusion that sees PYCONC_PROCESS_IMPLEMENTATION defined (guard
   PYCONC_CONNECTION_IMPL_DONE). It needs pyconc.h's declarations first.

   CONNECTIONS
   ===========
       Python                                   C
       a, b = Pipe()                            pc_pipe(1, &a, &b)
       r, w = Pipe(duplex=False)                pc_pipe(0, &r, &w)
       c.send_bytes(buf, off, n)                pc_connection_send_bytes(c, buf, off, n)
       c.recv_bytes(maxlength)                  pc_connection_recv_bytes(c, max, &buf, &n)
       c.recv_bytes_into(buf, off)              pc_connection_recv_bytes_into(c, buf, cap, off, &n)
       c.poll(timeout)                          pc_connection_poll(c, timeout) == PC_OK
       c.fileno(), c.close()                    pc_connection_fileno(c), pc_connection_close(c)
       c.closed, c.readable, c.writable         pc_connection_closed(c), ..._readable, ..._writable
       connection.wait(objs, timeout)           pc_connection_wait(objs, n, timeout, &nready)
       Listener(addr, family, backlog, authkey) pc_listener_new(&desc)
       l.accept(), l.close()                    pc_listener_accept(l, &c), pc_listener_close(l)
       l.address, l.last_accepted               pc_listener_address(l), pc_listener_last_accepted(l)
       Client(addr, family, authkey)            pc_client(&desc, &c)
       deliver_challenge / answer_challenge     pc_connection_deliver_challenge / _answer_challenge

   Messages are framed as Python's multiprocessing.connection frames them:
   a 4-byte big-endian signed length, or for messages over 2**31-1 bytes
   the length -1 (0xFFFFFFFF) followed by an 8-byte big-endian length. The
   authkey handshake is Python's too (HMAC challenge and response, the
   "{sha256}" form of 3.12+, the bare HMAC-MD5 of older versions), so a
   pyconc program and a Python one talk over a Listener/Client socket.

   A complete program (an authenticated echo over TCP):

       #define PYCONC_IMPLEMENTATION
       #define PYCONC_PROCESS_IMPLEMENTATION
       #include "pyconc_process.h"
       #include <stdio.h>

       static char address[128];

       static int client(void *arg) {
           pc_connection *c;
           void *reply;
           size_t n;
           (void)arg;
           pc_client_desc d = {.address = address, .authkey = "key", .authkey_size = 3};
           if (pc_client(&d, &c) != PC_OK) return 1;
           pc_connection_send_bytes(c, "ping", 0, 4);
           if (pc_connection_recv_bytes(c, 0, &reply, &n) == PC_OK) {
               printf("%.*s\n", (int)n, (char *)reply);
               pc_connection_bytes_free(reply);
           }
           pc_connection_free(c);
           return 0;
       }

       int main(void) {
           pc_listener_desc d = {.address = "127.0.0.1:0", .authkey = "key", .authkey_size = 3};
           pc_listener *l = pc_listener_new(&d);
           if (!l) return 1;
           snprintf(address, sizeof address, "%s", pc_listener_address(l));
           pc_thread_desc td = {.target = client};
           pc_thread *t = pc_thread_new(&td);
           pc_thread_start(t);
           pc_connection *c;
           void *msg;
           size_t n;
           if (pc_listener_accept(l, &c) == PC_OK &&
               pc_connection_recv_bytes(c, 0, &msg, &n) == PC_OK) {
               pc_connection_send_bytes(c, "pong", 0, 4);
               pc_connection_bytes_free(msg);
               pc_connection_free(c);
           }
           pc_thread_join(t, PC_FOREVER);
           pc_thread_free(t);
           pc_listener_free(l);
           return 0;
       }

   THREAD SAFETY
   =============
   One thread may send while another receives on the same connection (as
   with a socket). Two concurrent senders (or receivers) on one connection
   interleave partial messages, as in Python; closing a connection while
   another thread uses it is a bug. Listener: accept may run in several
   threads; pc_listener_close from any thread wakes them (Linux);
   last_accepted is the latest accept's peer.

   ERRORS
   ======
   PC_EOF: the peer closed between messages (Python's EOFError). PC_OS
   (errno kept): a closed connection (EBADF), a dead peer (EPIPE; never
   SIGPIPE, on pipes too), a message over maxlength (EMSGSIZE), a bad frame
   header (EPROTO) or end of file inside a message (EIO); after the last
   three the connection no longer reads. PC_AUTH: the handshake failed on
   either side (wrong key, bad reply, refused). PC_VALUE: NULL or
   contradictory arguments, the wrong direction, a buffer too short
   (Python's BufferTooShort; the message is kept for the next receive).

   BEYOND PYTHON
   =============
   - A forged length header costs no memory: a receive buffer grows as the
     bytes really arrive, so 12 bytes announcing 2**62 are an error, not an
     allocation.
   - recv_bytes_into with a short buffer keeps the message: it is not lost
     in an exception, the next receive returns it.
   - Writing to a pipe whose reader is gone is PC_OS/EPIPE, not a SIGPIPE
     that kills the program (Python ignores SIGPIPE at start-up; C does not).
   - A malformed header is an error; Python reads a negative 4-byte length
     as an empty message and loses step with the stream.
   - TCP connections set TCP_NODELAY; every message is one write anyway.
   - "@name" addresses the Linux abstract namespace (Python: "\0name").
*/
#ifndef PYCONC_CONNECTION_DECL
#define PYCONC_CONNECTION_DECL

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

// >>connection
/* One end of a Pipe or a socket, carrying framed messages.
   Python: multiprocessing.connection.Connection */
typedef struct pc_connection pc_connection;

/* Make a pair of connected connections. duplex: both ends send and
   receive (a socketpair); else *out_a only receives and *out_b only sends
   (a pipe). Both descriptors are close-on-exec.
   Returns: PC_OK, PC_VALUE (NULL out), PC_OS, PC_NOMEM.
   Python: multiprocessing.Pipe(duplex) */
PYCONC_API int pc_pipe(int duplex, pc_connection **out_a, pc_connection **out_b);

/* Send size bytes of buf starting at offset as one message.
   Returns: PC_OK, PC_VALUE (NULL, offset + size overflows, connection is
   read-only), PC_OS (closed; EPIPE when the peer is gone, never SIGPIPE).
   Blocks: yes (until the message is written).
   Python: Connection.send_bytes(buf, offset, size) */
PYCONC_API int pc_connection_send_bytes(pc_connection *c, const void *buf, size_t offset,
                                        size_t size);

/* Receive one message into a new buffer (*out_buf, release it with
   pc_connection_bytes_free; never NULL on PC_OK, even for an empty
   message). maxlength 0: no limit (Python's None). A message longer than
   maxlength is PC_OS (EMSGSIZE) and the connection is no longer readable
   (closed if it was receive-only), as Python.
   Returns: PC_OK, PC_EOF (peer closed between messages), PC_OS (closed,
   bad length, end of file inside a message), PC_VALUE (NULL, write-only),
   PC_NOMEM.  Blocks: yes.  Python: Connection.recv_bytes(maxlength) */
PYCONC_API int pc_connection_recv_bytes(pc_connection *c, size_t maxlength, void **out_buf,
                                        size_t *out_size);

/* Receive one message into buf + offset (cap: the size of buf); *out_size
   gets its length. A message that does not fit gives PC_VALUE (Python's
   BufferTooShort) with *out_size set to its length; it is kept, and the
   next receive on this connection returns it.
   Returns: PC_OK, PC_VALUE, PC_EOF, PC_OS, PC_NOMEM.  Blocks: yes.
   Python: Connection.recv_bytes_into(buf, offset) */
PYCONC_API int pc_connection_recv_bytes_into(pc_connection *c, void *buf, size_t cap,
                                             size_t offset, size_t *out_size);

/* Wait until there is something to read (a message, or end of file).
   timeout: 0 tests and returns at once (Python's default), PC_FOREVER
   waits without limit.
   Returns: PC_OK (Python's True), PC_TIMEOUT (False), PC_VALUE (NULL, NaN,
   write-only), PC_OS (closed).  Blocks: up to timeout.
   Python: Connection.poll(timeout) */
PYCONC_API int pc_connection_poll(pc_connection *c, double timeout);

/* Return the descriptor, or -1 (PC_OS in pc_last_error) when closed.
   Python: Connection.fileno */
PYCONC_API int pc_connection_fileno(const pc_connection *c);
/* Close the descriptor; again is harmless. Python: Connection.close */
PYCONC_API void pc_connection_close(pc_connection *c);
/* Close and release the object. NULL is ignored. */
PYCONC_API void pc_connection_free(pc_connection *c);
/* Python: Connection.closed, .readable, .writable (1 or 0; NULL: closed). */
PYCONC_API int pc_connection_closed(const pc_connection *c);
PYCONC_API int pc_connection_readable(const pc_connection *c);
PYCONC_API int pc_connection_writable(const pc_connection *c);
/* Release a buffer from pc_connection_recv_bytes. NULL is ignored. */
PYCONC_API void pc_connection_bytes_free(void *buf);

// >>wait
/* One object for pc_connection_wait: a connection, or (conn NULL) a plain
   descriptor such as a process sentinel or a listener's fileno. */
typedef struct pc_wait_object {
    pc_connection *conn;        // waited on when not NULL
    int fd;                     // waited on when conn is NULL
    int ready;                  // out: 1 when readable (or at end of file)
} pc_wait_object;

/* Wait until at least one object is ready or timeout passes (PC_FOREVER:
   no limit); mark each ready one and count them in *out_nready (may be
   NULL). n may be 0 (then it just sleeps for timeout, as Python).
   Returns: PC_OK (some ready), PC_TIMEOUT (none: Python's empty list),
   PC_VALUE (NULL, NaN, negative or unopened descriptor, write-only
   connection), PC_OS (closed connection), PC_NOMEM.  Blocks: up to timeout.
   Python: multiprocessing.connection.wait(object_list, timeout) */
PYCONC_API int pc_connection_wait(pc_wait_object *objects, size_t n, double timeout,
                                  size_t *out_nready);

// >>listener
/* Address families. Python: 'AF_UNIX', 'AF_INET' (and Linux's abstract
   unix namespace, Python's "\0name"). */
typedef enum pc_family {
    PC_AF_DEFAULT = 0,          // from the address (see pc_listener_desc)
    PC_AF_UNIX = 1,             // a socket file: "/tmp/x.sock"
    PC_AF_ABSTRACT = 2,         // Linux abstract namespace: "@name" or "name"
    PC_AF_INET = 3              // TCP "host:port", "[v6addr]:port"
} pc_family;

/* A bound, listening socket. Python: multiprocessing.connection.Listener */
typedef struct pc_listener pc_listener;

typedef struct pc_listener_desc {
    /* NULL: a fresh socket file in $TMPDIR (Python's arbitrary_address).
       "host:port" (port 0: any free one), "[::1]:port", "/path", "@name". */
    const char *address;
    /* PC_AF_DEFAULT: "@..." is abstract, "host:port" (digits after the last
       ':' and no '/') is TCP, anything else a socket file. */
    pc_family family;
    int backlog;                // 0: 1, Python's default
    /* Key for the HMAC handshake run by each accept. NULL: none (Python's
       None); a non-NULL key may be empty (authkey_size 0). Copied. */
    const void *authkey;
    size_t authkey_size;
} pc_listener_desc;

/* Bind and listen. desc may be NULL (a unix socket file, no authkey).
   Returns NULL on failure (pc_last_error: PC_VALUE, PC_OS, PC_NOMEM).
   Python: Listener(address, family, backlog, authkey) */
PYCONC_API pc_listener *pc_listener_new(const pc_listener_desc *desc);
/* Accept one connection; with an authkey run the handshake (challenge the
   client, then answer its challenge), closing the connection on failure.
   Returns: PC_OK, PC_AUTH (wrong key or protocol), PC_EOF (client left
   during the handshake), PC_OS (closed listener, bad frame), PC_VALUE,
   PC_NOMEM.  Blocks: yes; pc_listener_close from another thread wakes it
   (Linux).  Python: Listener.accept */
PYCONC_API int pc_listener_accept(pc_listener *l, pc_connection **out_conn);
/* Stop listening; a socket file is removed (only by the process that made
   it). Again is harmless. Python: Listener.close */
PYCONC_API void pc_listener_close(pc_listener *l);
/* Close and release. NULL is ignored. */
PYCONC_API void pc_listener_free(pc_listener *l);
/* The bound address as text ("127.0.0.1:40123", "/tmp/x", "@name"): pass
   it to pc_client as is. Python: Listener.address */
PYCONC_API const char *pc_listener_address(const pc_listener *l);
PYCONC_API pc_family pc_listener_family(const pc_listener *l);
/* The peer of the latest accept ("127.0.0.1:51515"; "" for an unnamed
   unix peer), or NULL before the first. Python: Listener.last_accepted */
PYCONC_API const char *pc_listener_last_accepted(const pc_listener *l);
/* The listening descriptor (for pc_connection_wait), -1 when closed. */
PYCONC_API int pc_listener_fileno(const pc_listener *l);

// >>client
typedef struct pc_client_desc {
    const char *address;        // as pc_listener_address prints it
    pc_family family;           // PC_AF_DEFAULT: from the address
    const void *authkey;        // NULL: no handshake (Python's None)
    size_t authkey_size;
} pc_client_desc;

/* Connect to a Listener; with an authkey answer its challenge, then
   challenge it. Returns: PC_OK, PC_AUTH, PC_EOF, PC_OS (ECONNREFUSED ...),
   PC_VALUE (bad address), PC_NOMEM.  Blocks: yes.
   Python: multiprocessing.connection.Client(address, family, authkey) */
PYCONC_API int pc_client(const pc_client_desc *desc, pc_connection **out_conn);

// >>auth
/* The two halves of Python's handshake, for connections made otherwise.
   deliver: send a "{sha256}" challenge, check the reply (HMAC-SHA256, or
   a legacy client's bare HMAC-MD5), answer #WELCOME# or #FAILURE#.
   answer: reply to a challenge ({sha256}, {md5}, or a legacy 20-byte one).
   Returns: PC_OK, PC_AUTH, PC_EOF, PC_OS, PC_VALUE.
   Python: multiprocessing.connection.deliver_challenge / answer_challenge */
PYCONC_API int pc_connection_deliver_challenge(pc_connection *c, const void *authkey,
                                               size_t authkey_size);
PYCONC_API int pc_connection_answer_challenge(pc_connection *c, const void *authkey,
                                              size_t authkey_size);

// >>connection-internal (for pyconc_process.h: spawn bootstrap, forkserver)
/* Wrap an open descriptor (ownership moves to the connection). At least
   one of readable / writable. Returns NULL on failure (PC_VALUE, PC_NOMEM);
   the descriptor is then left open. */
PYCONC_API pc_connection *pc__connection_from_fd(int fd, int readable, int writable);
/* Send len (>= 1) bytes of buf over unix socket sock with nfds descriptors
   attached (SCM_RIGHTS, at most 253). EINTR retried; no SIGPIPE.
   Returns: PC_OK, PC_VALUE, PC_OS. */
PYCONC_API int pc__send_fds(int sock, const void *buf, size_t len, const int *fds, size_t nfds);
/* Receive exactly len (>= 1) bytes into buf and up to *inout_nfds
   descriptors into fds (close-on-exec); *inout_nfds gets the number that
   came. More descriptors than room: those received are closed, PC_VALUE.
   Returns: PC_OK, PC_EOF (closed before the first byte), PC_OS, PC_VALUE. */
PYCONC_API int pc__recv_fds(int sock, void *buf, size_t len, int *fds, size_t *inout_nfds);
/* HMAC of msg under key: kind 0 MD5 (16 bytes out), 1 SHA-256 (32).
   Python: hmac.new(key, msg, 'md5' / 'sha256').digest() */
PYCONC_API void pc__hmac(int kind, const void *key, size_t key_size, const void *msg,
                         size_t msg_size, unsigned char *out);
/* Fill buf with size bytes from the kernel's random source.
   Returns: PC_OK, PC_OS. */
PYCONC_API int pc__random_bytes(void *buf, size_t size);

#ifdef __cplusplus
}
#endif

#endif // PYCONC_CONNECTION_DECL

// ---------------------------------------------------------------------------
// >>connection-implementation
#if defined(PYCONC_PROCESS_IMPLEMENTATION) && !defined(PYCONC_CONNECTION_IMPL_DONE)
#define PYCONC_CONNECTION_IMPL_DONE

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <unistd.h>
#if defined(__linux__)
#include <sys/syscall.h>
#endif

struct pc_connection {
    int fd;                     // -1 once closed
    unsigned char readable, writable;
    unsigned char is_socket;    // send with MSG_NOSIGNAL instead of masking SIGPIPE
    unsigned char has_pending;  // a message kept by recv_bytes_into (too long)
    void *pending;
    size_t pending_size;
};

// >>posix
// Every OS call of this file goes through these few helpers.

#if defined(__linux__) || defined(__FreeBSD__) || defined(__NetBSD__) || defined(__OpenBSD__)
#define PC__HAVE_PIPE2 1
#else
#define PC__HAVE_PIPE2 0
#endif

// Systems without the atomic *_CLOEXEC flags set the flag afterwards (a
// window in which a concurrent fork+exec may inherit the descriptor).
#if !defined(SOCK_CLOEXEC) || !defined(MSG_CMSG_CLOEXEC) || !PC__HAVE_PIPE2
static int pc__os_cloexec(int fd) {
    int flags = fcntl(fd, F_GETFD);
    if (flags < 0 || fcntl(fd, F_SETFD, flags | FD_CLOEXEC) < 0) return -1;
    return 0;
}
#endif

static void pc__os_close(int fd) {
    // Linux closes the descriptor even when close() reports EINTR: never retry.
    int saved = errno;
    if (fd >= 0) close(fd);
    errno = saved;
}

static int pc__os_is_socket(int fd) {
    struct stat st;
    return fstat(fd, &st) == 0 && S_ISSOCK(st.st_mode);
}

static int pc__os_socketpair(int fds[2]) {
#ifdef SOCK_CLOEXEC
    return socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds);
#else
    if (socketpair(AF_UNIX, SOCK_STREAM, 0, fds) < 0) return -1;
    pc__os_cloexec(fds[0]);
    pc__os_cloexec(fds[1]);
    return 0;
#endif
}

static int pc__os_pipe(int fds[2]) {
#if PC__HAVE_PIPE2
    return pipe2(fds, O_CLOEXEC);
#else
    if (pipe(fds) < 0) return -1;
    pc__os_cloexec(fds[0]);
    pc__os_cloexec(fds[1]);
    return 0;
#endif
}

// One gathering write. Sockets use MSG_NOSIGNAL; other descriptors (pipes)
// write with SIGPIPE blocked in this thread and swallow the SIGPIPE their
// EPIPE raised (unless one was already pending), so a dead reader is
// PC_OS/EPIPE as in Python, never the default action that kills us.
static ssize_t pc__os_writev(int fd, int is_socket, struct iovec *iov, int n) {
    if (is_socket) {
        struct msghdr msg;
        memset(&msg, 0, sizeof msg);
        msg.msg_iov = iov;
        msg.msg_iovlen = (size_t)n;
#ifdef MSG_NOSIGNAL
        return sendmsg(fd, &msg, MSG_NOSIGNAL);
#else
        return sendmsg(fd, &msg, 0);
#endif
    }
    sigset_t pipe_set, old, pending;
    sigemptyset(&pipe_set);
    sigaddset(&pipe_set, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &pipe_set, &old);
    sigpending(&pending);
    int was_pending = sigismember(&pending, SIGPIPE);
    ssize_t r = writev(fd, iov, n);
    int e = errno;
    if (r < 0 && e == EPIPE && !was_pending) {
        struct timespec zero = {0, 0};
        while (sigtimedwait(&pipe_set, NULL, &zero) < 0 && errno == EINTR) {}
    }
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    errno = e;
    return r;
}

// Write every byte of iov[0..n), resuming after partial writes and EINTR.
static int pc__os_write_all(int fd, int is_socket, struct iovec *iov, int n) {
    while (n > 0) {
        ssize_t w = pc__os_writev(fd, is_socket, iov, n);
        if (w < 0) {
            if (errno == EINTR) continue;
            return pc__os_error("send_bytes");
        }
        size_t done = (size_t)w;
        while (n > 0 && done >= iov->iov_len) {
            done -= iov->iov_len;
            iov++;
            n--;
        }
        if (n > 0) {
            iov->iov_base = (char *)iov->iov_base + done;
            iov->iov_len -= done;
        }
    }
    return PC_OK;
}

// Read exactly size bytes. End of file before the first byte is PC_EOF
// when at_boundary (between messages), otherwise PC_OS.
static int pc__os_read_all(int fd, void *buf, size_t size, int at_boundary) {
    size_t got = 0;
    while (got < size) {
        size_t want = size - got;
        if (want > (size_t)SSIZE_MAX) want = (size_t)SSIZE_MAX;
        ssize_t r = read(fd, (char *)buf + got, want);
        if (r < 0) {
            if (errno == EINTR) continue;
            return pc__os_error("recv_bytes");
        }
        if (r == 0) {
            if (got == 0 && at_boundary) return pc__error(PC_EOF, "connection closed by peer");
            errno = EIO;
            return pc__error(PC_OS, "got end of file during message");
        }
        got += (size_t)r;
    }
    return PC_OK;
}

// Wait for fds to be readable, up to a monotonic deadline (INFINITY: no
// limit); EINTR resumes with the time left. Returns PC_OK, PC_TIMEOUT, PC_OS.
static int pc__os_poll(struct pollfd *fds, size_t n, double deadline) {
    for (;;) {
        int ms = -1;
        if (deadline < INFINITY) {
            double left = deadline - pc_monotonic();
            if (left < 0) left = 0;
            ms = left > 2000000.0 ? 2000000000 : (int)(left * 1000.0 + 0.999);
        }
        int r = poll(fds, (nfds_t)n, ms);
        if (r > 0) return PC_OK;
        if (r < 0 && errno != EINTR) return pc__os_error("poll");
        if (r == 0 && ms >= 0 && pc_monotonic() >= deadline) return PC_TIMEOUT;
    }
}

// >>frame
// The one framing helper pair: Python's multiprocessing.connection format.
#define PC__FRAME_LONG 0x7fffffffu     // longer messages use the 8-byte form

static size_t pc__frame_header(unsigned char *h, size_t size) {
    if (size <= PC__FRAME_LONG) {
        for (int i = 0; i < 4; i++) h[i] = (unsigned char)(size >> (24 - 8 * i));
        return 4;
    }
    memset(h, 0xff, 4);
    uint64_t s = (uint64_t)size;
    for (int i = 0; i < 8; i++) h[4 + i] = (unsigned char)(s >> (56 - 8 * i));
    return 12;
}

static int pc__frame_send(int fd, int is_socket, const void *buf, size_t size) {
    unsigned char h[12];
    struct iovec iov[2];
    iov[0].iov_base = h;
    iov[0].iov_len = pc__frame_header(h, size);
    iov[1].iov_base = (void *)buf;
    iov[1].iov_len = size;
    return pc__os_write_all(fd, is_socket, iov, size ? 2 : 1);
}

// Read a frame header; *out_size gets the length. A 4-byte length with the
// sign bit set (other than -1) or an 8-byte one past PTRDIFF_MAX is a bad
// frame: PC_OS/EPROTO.
static int pc__frame_recv_header(int fd, size_t *out_size) {
    unsigned char h[8];
    int rc = pc__os_read_all(fd, h, 4, 1);
    if (rc) return rc;
    uint32_t s32 = (uint32_t)h[0] << 24 | (uint32_t)h[1] << 16 | (uint32_t)h[2] << 8 | h[3];
    if (s32 <= PC__FRAME_LONG) {
        *out_size = s32;
        return PC_OK;
    }
    if (s32 != 0xffffffffu) {
        errno = EPROTO;
        return pc__error(PC_OS, "bad message length (header 0x%08x)", (unsigned)s32);
    }
    if ((rc = pc__os_read_all(fd, h, 8, 0))) return rc;
    uint64_t s64 = 0;
    for (int i = 0; i < 8; i++) s64 = s64 << 8 | h[i];
    if (s64 > (uint64_t)PTRDIFF_MAX) {
        errno = EPROTO;
        return pc__error(PC_OS, "bad message length (%llu bytes)", (unsigned long long)s64);
    }
    *out_size = (size_t)s64;
    return PC_OK;
}

// Read a payload of size bytes into a new buffer. The buffer grows as the
// bytes arrive (1 MiB, then doubling), so a forged header announcing
// gigabytes costs no more memory than the bytes actually sent.
#define PC__FRAME_CHUNK ((size_t)1 << 20)

static int pc__frame_recv_payload(int fd, size_t size, void **out_buf) {
    size_t cap = size < PC__FRAME_CHUNK ? size : PC__FRAME_CHUNK, got = 0;
    char *buf = (char *)pc__malloc(cap);
    if (!buf) return PC_NOMEM;
    while (got < size) {
        if (got == cap) {
            size_t ncap = cap > size / 2 ? size : cap * 2;
            char *nbuf = (char *)pc__malloc(ncap);
            if (!nbuf) { pc__free(buf); return PC_NOMEM; }
            memcpy(nbuf, buf, got);
            pc__free(buf);
            buf = nbuf;
            cap = ncap;
        }
        int rc = pc__os_read_all(fd, buf + got, cap - got, 0);
        if (rc) { pc__free(buf); return rc; }
        got = cap;
    }
    *out_buf = buf;
    return PC_OK;
}

// >>connection
static int pc__conn_check(const pc_connection *c, int want_read, int want_write) {
    if (!c) return pc__error(PC_VALUE, "connection is NULL");
    if (c->fd < 0) {
        errno = EBADF;
        return pc__error(PC_OS, "handle is closed");
    }
    if (want_read && !c->readable) return pc__error(PC_VALUE, "connection is write-only");
    if (want_write && !c->writable) return pc__error(PC_VALUE, "connection is read-only");
    return PC_OK;
}

static pc_connection *pc__conn_new(int fd, int readable, int writable, int is_socket) {
    pc_connection *c = (pc_connection *)pc__calloc(1, sizeof *c);
    if (!c) return NULL;
    c->fd = fd;
    c->readable = (unsigned char)(readable != 0);
    c->writable = (unsigned char)(writable != 0);
    c->is_socket = (unsigned char)(is_socket != 0);
    return c;
}

PYCONC_API pc_connection *pc__connection_from_fd(int fd, int readable, int writable) {
    if (fd < 0) {
        pc__error(PC_VALUE, "invalid handle %d", fd);
        return NULL;
    }
    if (!readable && !writable) {
        pc__error(PC_VALUE, "at least one of readable and writable must be true");
        return NULL;
    }
    return pc__conn_new(fd, readable, writable, pc__os_is_socket(fd));
}

PYCONC_API int pc_pipe(int duplex, pc_connection **out_a, pc_connection **out_b) {
    int fds[2];
    if (!out_a || !out_b) return pc__error(PC_VALUE, "pc_pipe: NULL out pointer");
    *out_a = *out_b = NULL;
    if ((duplex ? pc__os_socketpair(fds) : pc__os_pipe(fds)) < 0)
        return pc__os_error(duplex ? "socketpair" : "pipe");
    pc_connection *a = pc__conn_new(fds[0], 1, duplex, duplex);
    pc_connection *b = pc__conn_new(fds[1], duplex, 1, duplex);
    if (!a || !b) {
        pc__free(a);
        pc__free(b);
        pc__os_close(fds[0]);
        pc__os_close(fds[1]);
        return PC_NOMEM;
    }
    *out_a = a;
    *out_b = b;
    return PC_OK;
}

PYCONC_API int pc_connection_send_bytes(pc_connection *c, const void *buf, size_t offset,
                                        size_t size) {
    int rc = pc__conn_check(c, 0, 1);
    if (rc) return rc;
    if (offset + size < offset) return pc__error(PC_VALUE, "offset + size overflows");
    if (!buf && offset + size > 0) return pc__error(PC_VALUE, "buffer is NULL");
    return pc__frame_send(c->fd, c->is_socket, (const char *)buf + offset, size);
}

// Stop reading from a stream that is out of step (a message left half
// read): the connection stays open for sending, or closes when it cannot
// send either, as Python's _bad_message_length. errno is kept.
static void pc__conn_desync(pc_connection *c) {
    int e = errno;
    if (c->writable) c->readable = 0;
    else pc_connection_close(c);
    errno = e;
}

static int pc__conn_bad_length(pc_connection *c, size_t size, size_t maxlength) {
    pc__conn_desync(c);
    errno = EMSGSIZE;
    return pc__error(PC_OS, "bad message length: %zu bytes, maxlength %zu", size, maxlength);
}

// A failed header read desyncs the stream when bytes of it were consumed
// (EPROTO: a bad length, EIO: end of file inside it); a failed payload read
// (any status, PC_NOMEM included) always does.
static int pc__conn_header_failed(pc_connection *c, int rc) {
    if (rc == PC_OS && (errno == EPROTO || errno == EIO)) pc__conn_desync(c);
    return rc;
}

static int pc__conn_payload_failed(pc_connection *c, int rc) {
    if (rc) pc__conn_desync(c);
    return rc;
}

PYCONC_API int pc_connection_recv_bytes(pc_connection *c, size_t maxlength, void **out_buf,
                                        size_t *out_size) {
    size_t size;
    int rc = pc__conn_check(c, 1, 0);
    if (rc) return rc;
    if (!out_buf || !out_size) return pc__error(PC_VALUE, "recv_bytes: NULL out pointer");
    if (c->has_pending) {
        size = c->pending_size;
        if (maxlength && size > maxlength) return pc__conn_bad_length(c, size, maxlength);
        *out_buf = c->pending;
        *out_size = size;
        c->pending = NULL;
        c->has_pending = 0;
        return PC_OK;
    }
    if ((rc = pc__frame_recv_header(c->fd, &size))) return pc__conn_header_failed(c, rc);
    if (maxlength && size > maxlength) return pc__conn_bad_length(c, size, maxlength);
    if ((rc = pc__frame_recv_payload(c->fd, size, out_buf))) return pc__conn_payload_failed(c, rc);
    *out_size = size;
    return PC_OK;
}

static int pc__conn_too_short(size_t size, size_t room) {
    return pc__error(PC_VALUE, "BufferTooShort: message of %zu bytes, room for %zu "
                     "(kept for the next receive)", size, room);
}

PYCONC_API int pc_connection_recv_bytes_into(pc_connection *c, void *buf, size_t cap,
                                             size_t offset, size_t *out_size) {
    size_t size;
    int rc = pc__conn_check(c, 1, 0);
    if (rc) return rc;
    if (!out_size) return pc__error(PC_VALUE, "recv_bytes_into: NULL out pointer");
    if (!buf && cap) return pc__error(PC_VALUE, "buffer is NULL");
    if (offset > cap) return pc__error(PC_VALUE, "offset too large");
    if (c->has_pending) {
        *out_size = size = c->pending_size;
        if (size > cap - offset) return pc__conn_too_short(size, cap - offset);
        if (size) memcpy((char *)buf + offset, c->pending, size);
        pc__free(c->pending);
        c->pending = NULL;
        c->has_pending = 0;
        return PC_OK;
    }
    if ((rc = pc__frame_recv_header(c->fd, &size))) return pc__conn_header_failed(c, rc);
    *out_size = size;
    if (size <= cap - offset)
        return pc__conn_payload_failed(c, pc__os_read_all(c->fd, (char *)buf + offset, size, 0));
    void *keep;
    if ((rc = pc__frame_recv_payload(c->fd, size, &keep))) return pc__conn_payload_failed(c, rc);
    c->pending = keep;
    c->pending_size = size;
    c->has_pending = 1;
    return pc__conn_too_short(size, cap - offset);
}

PYCONC_API int pc_connection_poll(pc_connection *c, double timeout) {
    double deadline = 0;
    int rc = pc__conn_check(c, 1, 0);
    if (rc) return rc;
    if (pc__deadline(timeout, &deadline)) return PC_VALUE;
    if (c->has_pending) return PC_OK;
    struct pollfd p;
    p.fd = c->fd;
    p.events = POLLIN;
    p.revents = 0;
    if (timeout == 0) deadline = 0;   // one look, no clock read
    rc = pc__os_poll(&p, 1, deadline);
    if (rc == PC_TIMEOUT) return pc__error(PC_TIMEOUT, "poll: nothing to read");
    return rc;
}

PYCONC_API int pc_connection_fileno(const pc_connection *c) {
    if (pc__conn_check(c, 0, 0)) return -1;
    return c->fd;
}

PYCONC_API void pc_connection_close(pc_connection *c) {
    if (!c || c->fd < 0) return;
    pc__os_close(c->fd);
    c->fd = -1;
    pc__free(c->pending);
    c->pending = NULL;
    c->has_pending = 0;
}

PYCONC_API void pc_connection_free(pc_connection *c) {
    if (!c) return;
    pc_connection_close(c);
    pc__free(c);
}

PYCONC_API int pc_connection_closed(const pc_connection *c) { return !c || c->fd < 0; }
PYCONC_API int pc_connection_readable(const pc_connection *c) { return c && c->readable; }
PYCONC_API int pc_connection_writable(const pc_connection *c) { return c && c->writable; }
PYCONC_API void pc_connection_bytes_free(void *buf) { pc__free(buf); }

// >>fdpass
// Descriptors travel as SCM_RIGHTS ancillary data on the first byte; the
// kernel caps one message at 253 of them (SCM_MAX_FD).
#define PC__MAX_FDS 253

typedef union pc__cmsg_space {
    struct cmsghdr align;
    char buf[CMSG_SPACE(sizeof(int) * PC__MAX_FDS)];
} pc__cmsg_space;

static int pc__send_rest(int sock, const char *buf, size_t len) {
    struct iovec iov;
    iov.iov_base = (void *)buf;
    iov.iov_len = len;
    return len ? pc__os_write_all(sock, 1, &iov, 1) : PC_OK;
}

PYCONC_API int pc__send_fds(int sock, const void *buf, size_t len, const int *fds, size_t nfds) {
    pc__cmsg_space space;
    struct msghdr msg;
    struct iovec iov;
    if (!buf || len == 0) return pc__error(PC_VALUE, "send_fds: need at least one byte");
    if (nfds > PC__MAX_FDS || (nfds && !fds))
        return pc__error(PC_VALUE, "send_fds: bad descriptor list (%zu)", nfds);
    memset(&msg, 0, sizeof msg);
    memset(&space, 0, sizeof space);
    iov.iov_base = (void *)buf;
    iov.iov_len = len;
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    if (nfds) {
        msg.msg_control = space.buf;
        msg.msg_controllen = CMSG_SPACE(sizeof(int) * nfds);
        struct cmsghdr *h = CMSG_FIRSTHDR(&msg);
        h->cmsg_level = SOL_SOCKET;
        h->cmsg_type = SCM_RIGHTS;
        h->cmsg_len = CMSG_LEN(sizeof(int) * nfds);
        memcpy(CMSG_DATA(h), fds, sizeof(int) * nfds);
    }
    ssize_t w;
#ifdef MSG_NOSIGNAL
    while ((w = sendmsg(sock, &msg, MSG_NOSIGNAL)) < 0 && errno == EINTR) {}
#else
    while ((w = sendmsg(sock, &msg, 0)) < 0 && errno == EINTR) {}
#endif
    if (w < 0) return pc__os_error("sendmsg");
    return pc__send_rest(sock, (const char *)buf + w, len - (size_t)w);
}

// Collect the descriptors of msg into fds (room for cap); close any
// beyond cap. Returns how many arrived in total.
static size_t pc__take_fds(struct msghdr *msg, int *fds, size_t cap, size_t *out_kept) {
    size_t total = 0, kept = 0;
    for (struct cmsghdr *h = CMSG_FIRSTHDR(msg); h; h = CMSG_NXTHDR(msg, h)) {
        if (h->cmsg_level != SOL_SOCKET || h->cmsg_type != SCM_RIGHTS) continue;
        size_t n = (h->cmsg_len - CMSG_LEN(0)) / sizeof(int);
        for (size_t i = 0; i < n; i++, total++) {
            int fd;
            memcpy(&fd, CMSG_DATA(h) + i * sizeof(int), sizeof fd);
#ifndef MSG_CMSG_CLOEXEC
            pc__os_cloexec(fd);
#endif
            if (kept < cap) fds[kept++] = fd;
            else pc__os_close(fd);
        }
    }
    *out_kept = kept;
    return total;
}

PYCONC_API int pc__recv_fds(int sock, void *buf, size_t len, int *fds, size_t *inout_nfds) {
    pc__cmsg_space space;
    struct msghdr msg;
    struct iovec iov;
    size_t cap = inout_nfds ? *inout_nfds : 0, kept = 0;
    if (!buf || len == 0) return pc__error(PC_VALUE, "recv_fds: need at least one byte");
    if (cap > PC__MAX_FDS) cap = PC__MAX_FDS;
    if (cap && !fds) return pc__error(PC_VALUE, "recv_fds: fds is NULL");
    memset(&msg, 0, sizeof msg);
    iov.iov_base = buf;
    iov.iov_len = len;
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = space.buf;
    msg.msg_controllen = sizeof space.buf;
    ssize_t r;
#ifdef MSG_CMSG_CLOEXEC
    while ((r = recvmsg(sock, &msg, MSG_CMSG_CLOEXEC)) < 0 && errno == EINTR) {}
#else
    while ((r = recvmsg(sock, &msg, 0)) < 0 && errno == EINTR) {}
#endif
    if (inout_nfds) *inout_nfds = 0;
    if (r < 0) return pc__os_error("recvmsg");
    size_t total = pc__take_fds(&msg, fds, cap, &kept);
    if (r == 0) return pc__error(PC_EOF, "connection closed by peer");
    int rc = PC_OK;
    if (total > kept || (msg.msg_flags & MSG_CTRUNC))
        rc = pc__error(PC_VALUE, "recv_fds: %zu descriptors arrived, room for %zu", total, cap);
    else if ((size_t)r < len)
        rc = pc__os_read_all(sock, (char *)buf + r, len - (size_t)r, 0);
    if (rc) {
        for (size_t i = 0; i < kept; i++) pc__os_close(fds[i]);
        return rc;
    }
    if (inout_nfds) *inout_nfds = kept;
    return PC_OK;
}

// >>wait
// poll(2) needs no extra descriptor (unlike epoll) and is one system call,
// the reason Python picks it too. Up to 16 objects live on the stack.
static int pc__wait_fd(const pc_wait_object *o) {
    if (!o->conn) {
        if (o->fd < 0) return pc__error(PC_VALUE, "wait: negative descriptor %d", o->fd);
        return PC_OK;
    }
    return pc__conn_check(o->conn, 1, 0);
}

static size_t pc__wait_collect(pc_wait_object *objects, const struct pollfd *p, size_t n) {
    size_t ready = 0;
    for (size_t i = 0; i < n; i++) {
        int on = (p[i].revents & (POLLIN | POLLHUP | POLLERR)) != 0 ||
                 (objects[i].conn && objects[i].conn->has_pending);
        objects[i].ready = on;
        ready += (size_t)on;
    }
    return ready;
}

static int pc__wait_poll(pc_wait_object *objects, struct pollfd *p, size_t n,
                         double deadline, size_t *out_nready) {
    int any_pending = 0;
    for (size_t i = 0; i < n; i++) {
        p[i].fd = objects[i].conn ? objects[i].conn->fd : objects[i].fd;
        p[i].events = POLLIN;
        p[i].revents = 0;
        objects[i].ready = 0;
        if (objects[i].conn && objects[i].conn->has_pending) any_pending = 1;
    }
    int rc = pc__os_poll(p, n, any_pending ? 0 : deadline);
    if (rc == PC_OS) return rc;
    for (size_t i = 0; i < n; i++)
        if (p[i].revents & POLLNVAL)
            return pc__error(PC_VALUE, "wait: descriptor %d is not open", p[i].fd);
    size_t ready = pc__wait_collect(objects, p, n);
    if (out_nready) *out_nready = ready;
    return ready ? PC_OK : pc__error(PC_TIMEOUT, "wait: nothing ready");
}

PYCONC_API int pc_connection_wait(pc_wait_object *objects, size_t n, double timeout,
                                  size_t *out_nready) {
    struct pollfd small[16], *p = small;
    double deadline = 0;
    int rc;
    if (out_nready) *out_nready = 0;
    if (!objects && n) return pc__error(PC_VALUE, "wait: objects is NULL");
    if (pc__deadline(timeout, &deadline)) return PC_VALUE;
    for (size_t i = 0; i < n; i++)
        if ((rc = pc__wait_fd(&objects[i]))) return rc;
    if (n > 16 && !(p = (struct pollfd *)pc__calloc(n, sizeof *p))) return PC_NOMEM;
    rc = pc__wait_poll(objects, p, n, timeout == 0 ? 0 : deadline, out_nready);
    if (p != small) pc__free(p);
    return rc;
}

// >>digest
// MD5 (RFC 1321) and SHA-256 (FIPS 180-4), only as the HMACs of the
// authkey handshake need them. Both eat 64-byte blocks.
typedef struct pc__hash {
    uint32_t h[8];
    uint64_t length;            // bytes hashed so far
    unsigned char block[64];
    size_t fill;
    int kind;                   // 0: MD5, 1: SHA-256
} pc__hash;

#define PC__ROTL(x, n) (((x) << (n)) | ((x) >> (32 - (n))))
#define PC__ROTR(x, n) (((x) >> (n)) | ((x) << (32 - (n))))

static const uint32_t pc__md5_k[64] = {
    0xd76aa478, 0xe8c7b756, 0x242070db, 0xc1bdceee, 0xf57c0faf, 0x4787c62a, 0xa8304613,
    0xfd469501, 0x698098d8, 0x8b44f7af, 0xffff5bb1, 0x895cd7be, 0x6b901122, 0xfd987193,
    0xa679438e, 0x49b40821, 0xf61e2562, 0xc040b340, 0x265e5a51, 0xe9b6c7aa, 0xd62f105d,
    0x02441453, 0xd8a1e681, 0xe7d3fbc8, 0x21e1cde6, 0xc33707d6, 0xf4d50d87, 0x455a14ed,
    0xa9e3e905, 0xfcefa3f8, 0x676f02d9, 0x8d2a4c8a, 0xfffa3942, 0x8771f681, 0x6d9d6122,
    0xfde5380c, 0xa4beea44, 0x4bdecfa9, 0xf6bb4b60, 0xbebfbc70, 0x289b7ec6, 0xeaa127fa,
    0xd4ef3085, 0x04881d05, 0xd9d4d039, 0xe6db99e5, 0x1fa27cf8, 0xc4ac5665, 0xf4292244,
    0x432aff97, 0xab9423a7, 0xfc93a039, 0x655b59c3, 0x8f0ccc92, 0xffeff47d, 0x85845dd1,
    0x6fa87e4f, 0xfe2ce6e0, 0xa3014314, 0x4e0811a1, 0xf7537e82, 0xbd3af235, 0x2ad7d2bb,
    0xeb86d391};
static const unsigned char pc__md5_r[16] = {7, 12, 17, 22, 5, 9, 14, 20,
                                            4, 11, 16, 23, 6, 10, 15, 21};

static void pc__md5_block(uint32_t *h, const unsigned char *p) {
    uint32_t w[16], a = h[0], b = h[1], c = h[2], d = h[3];
    for (int i = 0; i < 16; i++)
        w[i] = (uint32_t)p[4 * i] | (uint32_t)p[4 * i + 1] << 8 |
               (uint32_t)p[4 * i + 2] << 16 | (uint32_t)p[4 * i + 3] << 24;
    for (int i = 0; i < 64; i++) {
        uint32_t f;
        int g, round = i / 16;
        if (round == 0) { f = (b & c) | (~b & d); g = i; }
        else if (round == 1) { f = (d & b) | (~d & c); g = (5 * i + 1) % 16; }
        else if (round == 2) { f = b ^ c ^ d; g = (3 * i + 5) % 16; }
        else { f = c ^ (b | ~d); g = (7 * i) % 16; }
        uint32_t t = d;
        d = c;
        c = b;
        b = b + PC__ROTL(a + f + pc__md5_k[i] + w[g], pc__md5_r[round * 4 + i % 4]);
        a = t;
    }
    h[0] += a; h[1] += b; h[2] += c; h[3] += d;
}

static const uint32_t pc__sha256_k[64] = {
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4,
    0xab1c5ed5, 0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe,
    0x9bdc06a7, 0xc19bf174, 0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f,
    0x4a7484aa, 0x5cb0a9dc, 0x76f988da, 0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7,
    0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967, 0x27b70a85, 0x2e1b2138, 0x4d2c6dfc,
    0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85, 0xa2bfe8a1, 0xa81a664b,
    0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070, 0x19a4c116,
    0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7,
    0xc67178f2};

static void pc__sha256_block(uint32_t *h, const unsigned char *p) {
    uint32_t w[64], v[8];
    for (int i = 0; i < 16; i++)
        w[i] = (uint32_t)p[4 * i] << 24 | (uint32_t)p[4 * i + 1] << 16 |
               (uint32_t)p[4 * i + 2] << 8 | (uint32_t)p[4 * i + 3];
    for (int i = 16; i < 64; i++) {
        uint32_t s0 = PC__ROTR(w[i - 15], 7) ^ PC__ROTR(w[i - 15], 18) ^ (w[i - 15] >> 3);
        uint32_t s1 = PC__ROTR(w[i - 2], 17) ^ PC__ROTR(w[i - 2], 19) ^ (w[i - 2] >> 10);
        w[i] = w[i - 16] + s0 + w[i - 7] + s1;
    }
    memcpy(v, h, sizeof v);
    for (int i = 0; i < 64; i++) {
        uint32_t e = v[4], a = v[0];
        uint32_t t1 = v[7] + (PC__ROTR(e, 6) ^ PC__ROTR(e, 11) ^ PC__ROTR(e, 25)) +
                      ((e & v[5]) ^ (~e & v[6])) + pc__sha256_k[i] + w[i];
        uint32_t t2 = (PC__ROTR(a, 2) ^ PC__ROTR(a, 13) ^ PC__ROTR(a, 22)) +
                      ((a & v[1]) ^ (a & v[2]) ^ (v[1] & v[2]));
        memmove(v + 1, v, 7 * sizeof v[0]);
        v[4] += t1;
        v[0] = t1 + t2;
    }
    for (int i = 0; i < 8; i++) h[i] += v[i];
}

static void pc__hash_init(pc__hash *s, int kind) {
    static const uint32_t md5_iv[4] = {0x67452301, 0xefcdab89, 0x98badcfe, 0x10325476};
    static const uint32_t sha_iv[8] = {0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
                                       0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19};
    memset(s, 0, sizeof *s);
    s->kind = kind;
    if (kind) memcpy(s->h, sha_iv, sizeof sha_iv);
    else memcpy(s->h, md5_iv, sizeof md5_iv);
}

static void pc__hash_update(pc__hash *s, const void *data, size_t n) {
    const unsigned char *p = (const unsigned char *)data;
    s->length += n;
    while (n > 0) {
        size_t take = 64 - s->fill < n ? 64 - s->fill : n;
        memcpy(s->block + s->fill, p, take);
        s->fill += take;
        p += take;
        n -= take;
        if (s->fill == 64) {
            if (s->kind) pc__sha256_block(s->h, s->block);
            else pc__md5_block(s->h, s->block);
            s->fill = 0;
        }
    }
}

// Pad with 0x80, zeros and the bit length (little-endian for MD5,
// big-endian for SHA-256), then write the state in the same byte order.
static size_t pc__hash_final(pc__hash *s, unsigned char *out) {
    unsigned char pad[72] = {0x80};
    uint64_t bits = s->length * 8;
    size_t padlen = (s->fill < 56 ? 56 : 120) - s->fill;
    for (int i = 0; i < 8; i++)
        pad[padlen + (size_t)i] = (unsigned char)(s->kind ? bits >> (56 - 8 * i) : bits >> (8 * i));
    pc__hash_update(s, pad, padlen + 8);
    size_t words = s->kind ? 8 : 4;
    for (size_t i = 0; i < words; i++)
        for (int j = 0; j < 4; j++)
            out[4 * i + (size_t)j] =
                (unsigned char)(s->kind ? s->h[i] >> (24 - 8 * j) : s->h[i] >> (8 * j));
    return words * 4;
}

PYCONC_API void pc__hmac(int kind, const void *key, size_t key_size, const void *msg,
                         size_t msg_size, unsigned char *out) {
    unsigned char k[64], pad[64], inner[32];
    pc__hash s;
    memset(k, 0, sizeof k);
    if (key_size > 64) {            // long keys are hashed first (RFC 2104)
        pc__hash_init(&s, kind);
        pc__hash_update(&s, key, key_size);
        pc__hash_final(&s, k);
    } else if (key_size) {
        memcpy(k, key, key_size);
    }
    for (int i = 0; i < 64; i++) pad[i] = (unsigned char)(k[i] ^ 0x36);
    pc__hash_init(&s, kind);
    pc__hash_update(&s, pad, 64);
    pc__hash_update(&s, msg, msg_size);
    size_t n = pc__hash_final(&s, inner);
    for (int i = 0; i < 64; i++) pad[i] = (unsigned char)(k[i] ^ 0x5c);
    pc__hash_init(&s, kind);
    pc__hash_update(&s, pad, 64);
    pc__hash_update(&s, inner, n);
    pc__hash_final(&s, out);
}

// >>random
PYCONC_API int pc__random_bytes(void *buf, size_t size) {
    unsigned char *p = (unsigned char *)buf;
    size_t got = 0;
#if defined(__linux__) && defined(SYS_getrandom)
    while (got < size) {
        long r = syscall(SYS_getrandom, p + got, size - got, 0);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) break;          // ENOSYS on old kernels: use the device
        got += (size_t)r;
    }
    if (got == size) return PC_OK;
#endif
    int fd;
    while ((fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC)) < 0 && errno == EINTR) {}
    if (fd < 0) return pc__os_error("open /dev/urandom");
    int rc = pc__os_read_all(fd, p + got, size - got, 0);
    pc__os_close(fd);
    return rc;
}

// >>auth
// Python's handshake (multiprocessing.connection, 3.12+): every message is
// a normal frame; a reply longer than 256 bytes is refused unread.
#define PC__AUTH_MAX 256
#define PC__CHALLENGE "#CHALLENGE#"
#define PC__WELCOME "#WELCOME#"
#define PC__FAILURE "#FAILURE#"
#define PC__CHALLENGE_RANDOM 40     // Python's MESSAGE_LENGTH
#define PC__LEGACY_CHALLENGE 20     // a <= 3.11 server's challenge: bare MD5
#define PC__MD5_SIZE 16

static int pc__auth_recv(pc_connection *c, unsigned char *buf, size_t *out_size) {
    void *msg;
    size_t n;
    int rc = pc_connection_recv_bytes(c, PC__AUTH_MAX, &msg, &n);
    if (rc) return rc;
    memcpy(buf, msg, n);
    pc__free(msg);
    *out_size = n;
    return PC_OK;
}

// Split a challenge or reply into its digest (0 MD5, 1 SHA-256) and the
// part after the "{name}" prefix. The bare 16- and 20-byte forms are the
// legacy MD5 protocol. Python also knows sha384 and sha3_*: refused here.
static int pc__auth_digest(const unsigned char *m, size_t n, int *out_kind,
                           size_t *out_prefix) {
    static const char *const names[2] = {"{md5}", "{sha256}"};
    *out_prefix = 0;
    *out_kind = 0;
    if (n == PC__MD5_SIZE || n == PC__LEGACY_CHALLENGE) return PC_OK;
    for (int k = 0; k < 2; k++) {
        size_t len = strlen(names[k]);
        if (n >= len && memcmp(m, names[k], len) == 0) {
            *out_kind = k;
            *out_prefix = len;
            return PC_OK;
        }
    }
    return pc__error(PC_AUTH, "unsupported message length, missing digest prefix, or "
                     "unsupported digest (%zu bytes)", n);
}

// Compare without an early exit, so timing tells an attacker nothing.
static int pc__auth_equal(const unsigned char *a, const unsigned char *b, size_t n) {
    unsigned char diff = 0;
    for (size_t i = 0; i < n; i++) diff |= (unsigned char)(a[i] ^ b[i]);
    return diff == 0;
}

static int pc__auth_verify(const void *key, size_t key_size, const unsigned char *message,
                           size_t message_size, const unsigned char *reply, size_t n) {
    unsigned char expected[32];
    int kind;
    size_t prefix;
    if (pc__auth_digest(reply, n, &kind, &prefix)) return PC_AUTH;
    size_t want = kind ? 32 : PC__MD5_SIZE;
    pc__hmac(kind, key, key_size, message, message_size, expected);
    if (n - prefix != want)
        return pc__error(PC_AUTH, "expected %s of length %zu, got %zu",
                         kind ? "sha256" : "md5", want, n - prefix);
    if (!pc__auth_equal(expected, reply + prefix, want))
        return pc__error(PC_AUTH, "digest received was wrong");
    return PC_OK;
}

static int pc__auth_check_key(pc_connection *c, const void *key, size_t key_size) {
    if (!key && key_size) return pc__error(PC_VALUE, "authkey is NULL");
    return pc__conn_check(c, 1, 1);
}

PYCONC_API int pc_connection_deliver_challenge(pc_connection *c, const void *authkey,
                                               size_t authkey_size) {
    unsigned char out[11 + 8 + PC__CHALLENGE_RANDOM], reply[PC__AUTH_MAX];
    size_t n, head = strlen(PC__CHALLENGE);
    int rc = pc__auth_check_key(c, authkey, authkey_size);
    if (rc) return rc;
    memcpy(out, PC__CHALLENGE "{sha256}", head + 8);
    if ((rc = pc__random_bytes(out + head + 8, PC__CHALLENGE_RANDOM))) return rc;
    if ((rc = pc_connection_send_bytes(c, out, 0, sizeof out))) return rc;
    if ((rc = pc__auth_recv(c, reply, &n))) return rc;
    rc = pc__auth_verify(authkey, authkey_size, out + head, sizeof out - head, reply, n);
    if (rc == PC_OK) return pc_connection_send_bytes(c, PC__WELCOME, 0, strlen(PC__WELCOME));
    char why[256];
    snprintf(why, sizeof why, "%s", pc_last_error());    // the send below may overwrite it
    pc_connection_send_bytes(c, PC__FAILURE, 0, strlen(PC__FAILURE));
    return pc__error(PC_AUTH, "%s", why);
}

PYCONC_API int pc_connection_answer_challenge(pc_connection *c, const void *authkey,
                                              size_t authkey_size) {
    unsigned char m[PC__AUTH_MAX], reply[8 + 32];
    size_t n, head = strlen(PC__CHALLENGE), prefix;
    int kind, rc = pc__auth_check_key(c, authkey, authkey_size);
    if (rc) return rc;
    if ((rc = pc__auth_recv(c, m, &n))) return rc;
    if (n < head || memcmp(m, PC__CHALLENGE, head) != 0)
        return pc__error(PC_AUTH, "protocol error, expected a challenge");
    if (n - head < PC__LEGACY_CHALLENGE)
        return pc__error(PC_AUTH, "challenge too short: %zu bytes", n - head);
    if (pc__auth_digest(m + head, n - head, &kind, &prefix)) return PC_AUTH;
    // The MAC covers the whole challenge, "{digest}" prefix included.
    size_t len = 0;
    if (prefix) {
        len = prefix;
        memcpy(reply, m + head, prefix);
    }
    pc__hmac(kind, authkey, authkey_size, m + head, n - head, reply + len);
    len += kind ? 32 : PC__MD5_SIZE;
    if ((rc = pc_connection_send_bytes(c, reply, 0, len))) return rc;
    if ((rc = pc__auth_recv(c, m, &n))) return rc;
    if (n != strlen(PC__WELCOME) || memcmp(m, PC__WELCOME, n) != 0)
        return pc__error(PC_AUTH, "digest sent was rejected");
    return PC_OK;
}

// >>address
// Addresses are text everywhere: "host:port", "[v6]:port", "/path" and
// "@name" (Linux's abstract namespace; Python writes it "\0name").
typedef struct pc__sockaddr {
    struct sockaddr_storage ss;
    socklen_t len;
} pc__sockaddr;

static pc_family pc__family_of(const char *address) {
    const char *colon = strrchr(address, ':');
    if (address[0] == '@') return PC_AF_ABSTRACT;
    if (strchr(address, '/') || !colon || !colon[1]) return PC_AF_UNIX;
    for (const char *p = colon + 1; *p; p++)
        if (*p < '0' || *p > '9') return PC_AF_UNIX;
    return PC_AF_INET;
}

static int pc__unix_sockaddr(const char *path, int abstract, pc__sockaddr *out) {
    struct sockaddr_un un;
    if (abstract && path[0] == '@') path++;
#if !defined(__linux__)
    if (abstract) return pc__error(PC_VALUE, "the abstract socket namespace is Linux only");
#endif
    size_t n = strlen(path), room = sizeof un.sun_path - 1;
    if (n == 0 || n > room)
        return pc__error(PC_VALUE, "unix address of %zu bytes (1 to %zu allowed)", n, room);
    memset(&un, 0, sizeof un);
    un.sun_family = AF_UNIX;
    // A path ends with its NUL; an abstract name starts with one and has none.
    memcpy(un.sun_path + (abstract ? 1 : 0), path, n);
    memset(out, 0, sizeof *out);
    memcpy(&out->ss, &un, sizeof un);
    out->len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n + 1);
    return PC_OK;
}

// Split "host:port" / "[v6]:port" into host (may be "") and port.
static int pc__split_host_port(const char *address, char *host, size_t cap,
                               const char **out_port, int *out_v6) {
    const char *colon = strrchr(address, ':'), *h = address, *end = colon;
    *out_v6 = address[0] == '[';
    if (!colon) return pc__error(PC_VALUE, "TCP address \"%s\" has no :port", address);
    if (*out_v6) {
        h = address + 1;
        end = strchr(h, ']');
        if (!end || end + 1 != colon)
            return pc__error(PC_VALUE, "bad IPv6 address \"%s\" (want [addr]:port)", address);
    }
    if ((size_t)(end - h) >= cap) return pc__error(PC_VALUE, "host name too long");
    memcpy(host, h, (size_t)(end - h));
    host[end - h] = '\0';
    *out_port = colon + 1;
    return PC_OK;
}

// Resolve a TCP address: IPv4 unless the host is bracketed (Python's
// AF_INET listener takes IPv4 only, so "localhost" must mean 127.0.0.1).
static int pc__tcp_resolve(const char *address, int passive, struct addrinfo **out) {
    char host[256];
    const char *port = NULL;
    int v6 = 0, rc = pc__split_host_port(address, host, sizeof host, &port, &v6);
    if (rc) return rc;
    struct addrinfo hints;
    memset(&hints, 0, sizeof hints);
    hints.ai_family = v6 ? AF_INET6 : AF_INET;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_NUMERICSERV | (passive ? AI_PASSIVE : 0);
    int e = getaddrinfo(host[0] ? host : NULL, port, &hints, out);
    if (e == EAI_SYSTEM) return pc__os_error("getaddrinfo");
    if (e) return pc__error(PC_OS, "getaddrinfo %s: %s", address, gai_strerror(e));
    return PC_OK;
}

static void pc__format_sockaddr(const struct sockaddr_storage *ss, socklen_t len, char *out,
                                size_t cap) {
    char ip[INET6_ADDRSTRLEN] = "?";
    size_t off = offsetof(struct sockaddr_un, sun_path);
    if (ss->ss_family == AF_INET) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)(const void *)ss;
        inet_ntop(AF_INET, &in->sin_addr, ip, sizeof ip);
        snprintf(out, cap, "%s:%u", ip, (unsigned)ntohs(in->sin_port));
    } else if (ss->ss_family == AF_INET6) {
        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)(const void *)ss;
        inet_ntop(AF_INET6, &in6->sin6_addr, ip, sizeof ip);
        snprintf(out, cap, "[%s]:%u", ip, (unsigned)ntohs(in6->sin6_port));
    } else {
        const struct sockaddr_un *un = (const struct sockaddr_un *)(const void *)ss;
        size_t n = len > off ? (size_t)len - off : 0;
        if (n > 0 && un->sun_path[0] == '\0')      // abstract: "@" + name
            snprintf(out, cap, "@%.*s", (int)(n - 1), un->sun_path + 1);
        else
            snprintf(out, cap, "%.*s", (int)strnlen(un->sun_path, n), un->sun_path);
    }
}

static int pc__os_socket(int domain) {
#ifdef SOCK_CLOEXEC
    return socket(domain, SOCK_STREAM | SOCK_CLOEXEC, 0);
#else
    int fd = socket(domain, SOCK_STREAM, 0);
    if (fd >= 0) pc__os_cloexec(fd);
    return fd;
#endif
}

// Small messages go out at once on TCP: each send is already one write.
static void pc__tcp_nodelay(int fd, int family) {
    int one = 1;
    if (family == AF_INET || family == AF_INET6)
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}

// connect(), finishing in the background when a signal interrupts it.
static int pc__os_connect(int fd, const struct sockaddr *sa, socklen_t len) {
    if (connect(fd, sa, len) == 0) return 0;
    if (errno != EINTR && errno != EINPROGRESS) return -1;
    struct pollfd p;
    p.fd = fd;
    p.events = POLLOUT;
    p.revents = 0;
    while (poll(&p, 1, -1) < 0)
        if (errno != EINTR) return -1;
    int err = 0;
    socklen_t elen = sizeof err;
    if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &elen) < 0) return -1;
    if (err) { errno = err; return -1; }
    return 0;
}

// >>listener
struct pc_listener {
    pc_lock mu;                 // guards fd, closed, accepting, last
    int fd;
    int closed;
    int accepting;              // threads inside accept(): they own the close
    pc_family family;
    pid_t owner;                // only this process removes the socket file
    int has_last;
    char address[128];
    char last[128];
    unsigned char *authkey;     // NULL: no handshake
    size_t authkey_size;
};

static uint32_t pc__listener_counter;

// Python's arbitrary_address: a name nobody uses yet in the temp directory.
static int pc__arbitrary_address(char *out, size_t cap) {
    const char *dir = getenv("TMPDIR");
    uint32_t r = 0;
    if (!dir || !dir[0] || strlen(dir) > 60) dir = "/tmp";
    pc__random_bytes(&r, sizeof r);
    unsigned n = __atomic_add_fetch(&pc__listener_counter, 1, __ATOMIC_RELAXED);
    snprintf(out, cap, "%s/pyconc-%ld-%u-%08x.sock", dir, (long)getpid(), n, (unsigned)r);
    return PC_OK;
}

static int pc__listener_bind_unix(pc_listener *l, const char *address) {
    pc__sockaddr sa;
    int rc = pc__unix_sockaddr(address, l->family == PC_AF_ABSTRACT, &sa);
    if (rc) return rc;
    if ((l->fd = pc__os_socket(AF_UNIX)) < 0) return pc__os_error("socket");
    if (bind(l->fd, (struct sockaddr *)&sa.ss, sa.len) < 0) return pc__os_error(address);
    return PC_OK;
}

static int pc__listener_bind_tcp(pc_listener *l, const char *address) {
    struct addrinfo *ai;
    int one = 1, rc = pc__tcp_resolve(address, 1, &ai);
    if (rc) return rc;
    if ((l->fd = pc__os_socket(ai->ai_family)) < 0) rc = pc__os_error("socket");
    else if (setsockopt(l->fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) < 0)
        rc = pc__os_error("setsockopt SO_REUSEADDR");
    else if (bind(l->fd, ai->ai_addr, ai->ai_addrlen) < 0)
        rc = pc__os_error(address);
    freeaddrinfo(ai);
    return rc;
}

static int pc__listener_open(pc_listener *l, const char *address, int backlog) {
    int rc = l->family == PC_AF_INET ? pc__listener_bind_tcp(l, address)
                                     : pc__listener_bind_unix(l, address);
    if (rc) return rc;
    if (listen(l->fd, backlog) < 0) {
        rc = pc__os_error("listen");
        if (l->family == PC_AF_UNIX) unlink(address);
        return rc;
    }
    pc__sockaddr sa;
    sa.len = sizeof sa.ss;
    if (getsockname(l->fd, (struct sockaddr *)&sa.ss, &sa.len) < 0) {
        snprintf(l->address, sizeof l->address, "%s", address);
        return PC_OK;
    }
    pc__format_sockaddr(&sa.ss, sa.len, l->address, sizeof l->address);
    return PC_OK;
}

static int pc__listener_setup(pc_listener *l, const pc_listener_desc *d) {
    char fresh[128];
    const char *address = d->address;
    if (!address) {
        pc__arbitrary_address(fresh, sizeof fresh);
        address = fresh;
    }
    l->family = d->family ? d->family : pc__family_of(address);
    if ((int)l->family < PC_AF_UNIX || (int)l->family > PC_AF_INET)
        return pc__error(PC_VALUE, "unknown address family %d", (int)d->family);
    if (d->authkey || d->authkey_size) {
        if (!d->authkey) return pc__error(PC_VALUE, "authkey is NULL");
        if (!(l->authkey = (unsigned char *)pc__malloc(d->authkey_size))) return PC_NOMEM;
        if (d->authkey_size) memcpy(l->authkey, d->authkey, d->authkey_size);
        l->authkey_size = d->authkey_size;
    }
    if (d->backlog < 0) return pc__error(PC_VALUE, "backlog is negative");
    return pc__listener_open(l, address, d->backlog ? d->backlog : 1);
}

PYCONC_API pc_listener *pc_listener_new(const pc_listener_desc *desc) {
    pc_listener_desc zero;
    memset(&zero, 0, sizeof zero);
    pc_listener *l = (pc_listener *)pc__calloc(1, sizeof *l);
    if (!l) return NULL;
    l->fd = -1;
    l->owner = getpid();
    int rc = pc__listener_setup(l, desc ? desc : &zero);
    if (rc) {
        pc__os_close(l->fd);
        pc__free(l->authkey);
        pc__free(l);
        return NULL;
    }
    return l;
}

// Record the peer and finish one accepted connection (handshake).
static int pc__listener_welcome(pc_listener *l, int fd, const pc__sockaddr *peer,
                                pc_connection **out_conn) {
    pc_lock_acquire(&l->mu, PC_FOREVER);
    pc__format_sockaddr(&peer->ss, peer->len, l->last, sizeof l->last);
    l->has_last = 1;
    pc_lock_release(&l->mu);
    pc__tcp_nodelay(fd, peer->ss.ss_family);
    pc_connection *c = pc__conn_new(fd, 1, 1, 1);
    if (!c) {
        pc__os_close(fd);
        return PC_NOMEM;
    }
    if (l->authkey) {
        int rc = pc_connection_deliver_challenge(c, l->authkey, l->authkey_size);
        if (!rc) rc = pc_connection_answer_challenge(c, l->authkey, l->authkey_size);
        if (rc) {
            pc_connection_free(c);
            return rc;
        }
    }
    *out_conn = c;
    return PC_OK;
}

static int pc__os_accept(int fd, pc__sockaddr *peer) {
    int s;
    do {
        peer->len = sizeof peer->ss;
#if defined(__linux__) || defined(__FreeBSD__)
        s = accept4(fd, (struct sockaddr *)&peer->ss, &peer->len, SOCK_CLOEXEC);
#else
        s = accept(fd, (struct sockaddr *)&peer->ss, &peer->len);
        if (s >= 0) pc__os_cloexec(s);
#endif
    } while (s < 0 && (errno == EINTR || errno == ECONNABORTED));
    return s;
}

PYCONC_API int pc_listener_accept(pc_listener *l, pc_connection **out_conn) {
    pc__sockaddr peer;
    if (!l || !out_conn) return pc__error(PC_VALUE, "accept: NULL argument");
    *out_conn = NULL;
    pc_lock_acquire(&l->mu, PC_FOREVER);
    if (l->closed) {
        pc_lock_release(&l->mu);
        errno = EBADF;
        return pc__error(PC_OS, "listener is closed");
    }
    l->accepting++;
    int fd = l->fd;
    pc_lock_release(&l->mu);
    int s = pc__os_accept(fd, &peer), e = errno;
    pc_lock_acquire(&l->mu, PC_FOREVER);
    int closed = l->closed;
    if (--l->accepting == 0 && closed) {     // the last one out closes
        pc__os_close(l->fd);
        l->fd = -1;
    }
    pc_lock_release(&l->mu);
    if (s >= 0 && closed) pc__os_close(s);
    if (s < 0 || closed) {
        errno = closed ? EBADF : e;
        return closed ? pc__error(PC_OS, "listener is closed") : pc__os_error("accept");
    }
    return pc__listener_welcome(l, s, &peer, out_conn);
}

PYCONC_API void pc_listener_close(pc_listener *l) {
    if (!l) return;
    pc_lock_acquire(&l->mu, PC_FOREVER);
    int was_closed = l->closed;
    l->closed = 1;
    if (!was_closed && l->fd >= 0) {
        if (l->accepting > 0 && getpid() == l->owner) {
            // shutdown() wakes the threads blocked in accept() (Linux); the
            // last to leave closes, so the number is never reused under
            // them. Only then: shutdown acts on the socket that every
            // process shares, and a forked child closing its copy must not
            // stop the parent's listener.
            shutdown(l->fd, SHUT_RDWR);
        } else {
            pc__os_close(l->fd);
            l->fd = -1;
        }
    }
    pc_lock_release(&l->mu);
    if (!was_closed && l->family == PC_AF_UNIX && getpid() == l->owner) unlink(l->address);
}

PYCONC_API void pc_listener_free(pc_listener *l) {
    if (!l) return;
    pc_listener_close(l);
    pc__free(l->authkey);
    pc__free(l);
}

PYCONC_API const char *pc_listener_address(const pc_listener *l) { return l ? l->address : ""; }
PYCONC_API pc_family pc_listener_family(const pc_listener *l) {
    return l ? l->family : PC_AF_DEFAULT;
}
PYCONC_API const char *pc_listener_last_accepted(const pc_listener *l) {
    return l && l->has_last ? l->last : NULL;
}
PYCONC_API int pc_listener_fileno(const pc_listener *l) {
    return l && !l->closed ? l->fd : -1;
}

// >>client
static int pc__client_tcp(const char *address, int *out_fd) {
    struct addrinfo *ai, *a;
    int rc = pc__tcp_resolve(address, 0, &ai), fd = -1;
    if (rc) return rc;
    for (a = ai; a; a = a->ai_next) {
        if ((fd = pc__os_socket(a->ai_family)) < 0) continue;
        if (pc__os_connect(fd, a->ai_addr, a->ai_addrlen) == 0) break;
        pc__os_close(fd);
        fd = -1;
    }
    if (fd < 0) rc = pc__os_error(address);
    else pc__tcp_nodelay(fd, ai->ai_family);
    freeaddrinfo(ai);
    *out_fd = fd;
    return rc;
}

static int pc__client_unix(const char *address, int abstract, int *out_fd) {
    pc__sockaddr sa;
    int rc = pc__unix_sockaddr(address, abstract, &sa);
    if (rc) return rc;
    int fd = pc__os_socket(AF_UNIX);
    if (fd < 0) return pc__os_error("socket");
    if (pc__os_connect(fd, (struct sockaddr *)&sa.ss, sa.len) < 0) {
        rc = pc__os_error(address);
        pc__os_close(fd);
        return rc;
    }
    *out_fd = fd;
    return PC_OK;
}

PYCONC_API int pc_client(const pc_client_desc *desc, pc_connection **out_conn) {
    int fd = -1, rc;
    if (!desc || !desc->address || !out_conn)
        return pc__error(PC_VALUE, "pc_client: NULL desc, address or out pointer");
    *out_conn = NULL;
    if (!desc->authkey && desc->authkey_size) return pc__error(PC_VALUE, "authkey is NULL");
    pc_family family = desc->family ? desc->family : pc__family_of(desc->address);
    if (family == PC_AF_INET) rc = pc__client_tcp(desc->address, &fd);
    else if (family == PC_AF_UNIX || family == PC_AF_ABSTRACT)
        rc = pc__client_unix(desc->address, family == PC_AF_ABSTRACT, &fd);
    else rc = pc__error(PC_VALUE, "unknown address family %d", (int)family);
    if (rc) return rc;
    pc_connection *c = pc__conn_new(fd, 1, 1, 1);
    if (!c) {
        pc__os_close(fd);
        return PC_NOMEM;
    }
    if (desc->authkey) {
        rc = pc_connection_answer_challenge(c, desc->authkey, desc->authkey_size);
        if (!rc) rc = pc_connection_deliver_challenge(c, desc->authkey, desc->authkey_size);
        if (rc) {
            pc_connection_free(c);
            return rc;
        }
    }
    *out_conn = c;
    return PC_OK;
}

#endif // PYCONC_PROCESS_IMPLEMENTATION (connection)

/* staging/connection.h - multiprocessing.connection for pyconc_process.h:
   Connection, Pipe, wait, Listener and Client.

   pyconc_process.h includes this file twice: among its declarations and
   again in its implementation section. The declarations are emitted once
   (guard PYCONC_CONNECTION_DECL); the implementation is emitted at the
   first inclusion that sees PYCONC_PROCESS_IMPLEMENTATION defined (guard
   PYCONC_CONNECTION_IMPL_DONE). It needs pyconc.h's declarations first.

   OVERVIEW
   ========
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

   Messages are framed as Python's multiprocessing.connection frames them:
   a 4-byte big-endian signed length, or for messages over 2**31-1 bytes
   the length -1 (0xFFFFFFFF) followed by an 8-byte big-endian length.
   A pyconc Connection and a Python one therefore talk over any socket.

   THREAD SAFETY
   =============
   One thread may send while another receives on the same connection (as
   with a socket). Two concurrent senders (or receivers) on one connection
   interleave partial messages, as in Python; closing a connection while
   another thread uses it is a bug.
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
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <unistd.h>

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

// After a message too long for the caller's limit the stream is out of
// step: stop reading from it (close it when it cannot send either).
static int pc__conn_bad_length(pc_connection *c, size_t size, size_t maxlength) {
    if (c->writable) c->readable = 0;
    else pc_connection_close(c);
    errno = EMSGSIZE;
    return pc__error(PC_OS, "bad message length: %zu bytes, maxlength %zu", size, maxlength);
}

// A frame-level failure (bad header, end of file mid-message) also leaves
// the stream out of step.
static int pc__conn_broken(pc_connection *c, int rc) {
    if (rc == PC_OS && (errno == EPROTO || errno == EIO)) {
        int e = errno;
        if (c->writable) c->readable = 0;
        else pc_connection_close(c);
        errno = e;
    }
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
    if ((rc = pc__frame_recv_header(c->fd, &size))) return pc__conn_broken(c, rc);
    if (maxlength && size > maxlength) return pc__conn_bad_length(c, size, maxlength);
    if ((rc = pc__frame_recv_payload(c->fd, size, out_buf))) return pc__conn_broken(c, rc);
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
    if ((rc = pc__frame_recv_header(c->fd, &size))) return pc__conn_broken(c, rc);
    *out_size = size;
    if (size <= cap - offset)
        return pc__conn_broken(c, pc__os_read_all(c->fd, (char *)buf + offset, size, 0));
    void *keep;
    if ((rc = pc__frame_recv_payload(c->fd, size, &keep))) return pc__conn_broken(c, rc);
    c->pending = keep;
    c->pending_size = size;
    c->has_pending = 1;
    return pc__conn_too_short(size, cap - offset);
}

PYCONC_API int pc_connection_poll(pc_connection *c, double timeout) {
    double deadline;
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

#endif // PYCONC_PROCESS_IMPLEMENTATION (connection)

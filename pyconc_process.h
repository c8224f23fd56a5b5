/* pyconc_process.h - v0.1.0 - Python's multiprocessing process model for C.

   Do this:
       #define PYCONC_PROCESS_IMPLEMENTATION
   before you include this file in *one* C or C++ file to create the
   implementation (pyconc.h's implementation must be somewhere in the
   program too; PYCONC_ALL_IMPLEMENTATION switches on both). Include it
   there before any system header (it asks for _GNU_SOURCE).

       // in exactly one file
       #define PYCONC_IMPLEMENTATION
       #define PYCONC_PROCESS_IMPLEMENTATION
       #include "pyconc_process.h"

   Link with -pthread (and -ldl on glibc older than 2.34).

   CONFIGURATION
   =============
   PYCONC_PROCESS_IMPLEMENTATION   compile the implementation into this file.
   PYCONC_PROCESS_NO_CONSTRUCTOR   do not run the spawn bootstrap from a
                           constructor; main() must then call
                           pc_process_bootstrap(argc, argv) first thing.
   Everything pyconc.h accepts (PYCONC_STATIC, PYCONC_API, PYCONC_MALLOC ...).

   OVERVIEW
   ========
   multiprocessing's Process and module functions, named by pyconc's rule:

       Python                                   C
       p = Process(target=f, args=(x,))         p = pc_process_new(&(pc_process_desc){
                                                        .target = f, .args = pack })
       p.start(); p.join(timeout)               pc_process_start(p); pc_process_join(p, t)
       p.exitcode, p.pid, p.sentinel            pc_process_exitcode(p), _pid(p), _sentinel(p)
       p.terminate(), kill(), interrupt()       pc_process_terminate(p), _kill(p), _interrupt(p)
       p.close()                                pc_process_close(p)
       current_process(), parent_process()      pc_process_current(), pc_process_parent()
       active_children()                        pc_process_active_children(out, cap)
       set_start_method('spawn')                pc_set_start_method(PC_START_SPAWN, 0)
       get_context('fork').Process(...)         .context = pc_get_context(PC_START_FORK)

   A target is `int f(void *arg)`; its return value is the child's exit
   code. Arguments cross to the child by copy: a byte blob (arg + arg_size),
   or an argument pack (pc_args: ints, doubles, bytes, strings,
   connections) that the target reads back with pc_args_get_*. With the
   fork method only, arg_size 0 passes the pointer itself.

   A complete program (the seed's "hello bob"):

       #define PYCONC_ALL_IMPLEMENTATION
       #include "pyconc_process.h"
       #include <stdio.h>

       static int f(void *arg) {
           const char *name;
           pc_args_get_str((pc_args *)arg, 0, &name);
           printf("hello %s\n", name);
           return 0;
       }

       int main(void) {
           pc_args *args = pc_args_new();
           pc_args_add_str(args, "bob");
           pc_process_desc desc = {0};
           desc.target = f;
           desc.args = args;
           pc_process *p = pc_process_new(&desc);
           pc_args_free(args);                // the process keeps a copy
           pc_process_start(p);
           pc_process_join(p, PC_FOREVER);
           int code = pc_process_exitcode(p);
           pc_process_free(p);
           return code;
       }

   START METHODS
   =============
   fork        fork(); the child runs the target and _exit()s. Cheapest;
               the child inherits everything (memory, every descriptor).
               Forking while other threads run is allowed, as in Python,
               but dangerous: a lock another thread held (inside malloc,
               stdio, your own code) stays locked forever in the child.
   spawn       posix_spawn of the program itself (/proc/self/exe) with only
               descriptors 0, 1, 2 and a bootstrap socket. The library's
               bootstrap (a constructor, or pc_process_bootstrap()) sees it
               is a pyconc child before main(), receives target, arguments
               and descriptors over the socket, runs the target and exits.
               Constructors of the program have run, main() never does.
   forkserver  (default on Linux, as Python 3.14) a single-threaded server,
               spawned once, forks each child on request; requests travel
               over a private socketpair, carry the descriptors with
               SCM_RIGHTS and are checked against the authkey.
   Functions cross spawn and forkserver as (loaded object, offset) pairs,
   so every function of the program, static ones included, works as a
   target without registration; a pointer outside every loaded object is
   PC_VALUE at start.

   THREAD SAFETY
   =============
   Every function may be called from any thread. One process object may be
   joined, polled and signalled from several threads at once; close and free
   it from one thread once the others are done with it.

   ERRORS
   ======
   Fallible calls return PC_OK or a PC_* code and leave a message in
   pc_last_error(). A start that fails (exec failure, fork EAGAIN, out of
   descriptors) is PC_OS with errno kept, reported synchronously, and leaves
   no zombie and no descriptor behind.

   BEYOND PYTHON
   =============
   Sentinels are pidfds where the kernel has them (a pipe otherwise). Every
   descriptor the library makes is close-on-exec; spawn and forkserver
   children get only the descriptors they need. Process.interrupt (3.14) is
   here.

   LICENSE
   =======
   MIT or public domain (unlicense), your choice: see the end of pyconc.h.
*/
#if defined(PYCONC_PROCESS_IMPLEMENTATION) || defined(PYCONC_ALL_IMPLEMENTATION)
#if !defined(_GNU_SOURCE) && !defined(__cplusplus)
#define _GNU_SOURCE 1
#endif
#endif

#include "pyconc.h"
#if PYCONC_VERSION_MAJOR != 0
#error "pyconc_process.h needs pyconc.h version 0"
#endif

// >>connection (declarations: staging/connection.h)
#include "staging/connection.h"

#ifndef PYCONC_PROCESS_H
#define PYCONC_PROCESS_H

#include <limits.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

// >>start-methods
typedef enum pc_start_method {
    PC_START_DEFAULT = 0,       // the program's default (forkserver on Linux)
    PC_START_FORK = 1,
    PC_START_SPAWN = 2,
    PC_START_FORKSERVER = 3
} pc_start_method;

/* A context: a start method that processes made with it use.
   Python: multiprocessing.context.BaseContext */
typedef struct pc_context pc_context;

/* Return the context of a start method (static, never freed);
   PC_START_DEFAULT: the context that follows pc_set_start_method.
   Returns NULL for an unknown method (PC_VALUE).
   Python: multiprocessing.get_context(method) */
PYCONC_API const pc_context *pc_get_context(pc_start_method method);
/* Python: BaseContext.get_start_method() */
PYCONC_API pc_start_method pc_context_get_start_method(const pc_context *ctx);
/* Return the default start method, fixing it (a later set needs force).
   Python: multiprocessing.get_start_method() */
PYCONC_API pc_start_method pc_get_start_method(void);
/* Set the default start method. force resets it even when already fixed;
   PC_START_DEFAULT with force goes back to the platform default.
   Returns: PC_OK, PC_RUNTIME (already set or used), PC_VALUE.
   Python: multiprocessing.set_start_method(method, force) */
PYCONC_API int pc_set_start_method(pc_start_method method, int force);
/* Fill out[0..cap) with the methods available here, default first, and
   return how many there are. Python: multiprocessing.get_all_start_methods */
PYCONC_API size_t pc_get_all_start_methods(pc_start_method *out, size_t cap);
/* "fork", "spawn", "forkserver" ("default" for PC_START_DEFAULT), or NULL. */
PYCONC_API const char *pc_start_method_name(pc_start_method method);
/* The method named name. Returns: PC_OK, PC_VALUE (unknown name). */
PYCONC_API int pc_start_method_from_name(const char *name, pc_start_method *out_method);

// >>args
/* The argument pack: the stand-in for pickling Python's args tuple. Build
   it in the parent, hand it to pc_process_desc.args (copied there), and
   read it in the child, where the target's arg is a pc_args *.
   Python: Process(args=(...)) */
typedef struct pc_args pc_args;

typedef enum pc_arg_type {
    PC_ARG_NONE = 0,            // no such item
    PC_ARG_INT = 1,
    PC_ARG_DOUBLE = 2,
    PC_ARG_BYTES = 3,
    PC_ARG_STR = 4,
    PC_ARG_CONNECTION = 5
} pc_arg_type;

/* Make an empty pack. Returns NULL on failure (PC_NOMEM). */
PYCONC_API pc_args *pc_args_new(void);
/* Free a pack. In a child, this closes the connections it received. */
PYCONC_API void pc_args_free(pc_args *a);
/* Append an item. Bytes and strings are copied; a connection is borrowed
   until the pack is handed to pc_process_new (which duplicates its
   descriptor). Returns: PC_OK, PC_VALUE (NULL), PC_NOMEM. */
PYCONC_API int pc_args_add_int(pc_args *a, int64_t value);
PYCONC_API int pc_args_add_double(pc_args *a, double value);
PYCONC_API int pc_args_add_bytes(pc_args *a, const void *data, size_t size);
PYCONC_API int pc_args_add_str(pc_args *a, const char *s);
PYCONC_API int pc_args_add_connection(pc_args *a, pc_connection *c);
/* Python: len(args) */
PYCONC_API size_t pc_args_len(const pc_args *a);
/* The type of item i (PC_ARG_NONE when out of range). */
PYCONC_API pc_arg_type pc_args_type(const pc_args *a, size_t i);
/* Read item i. Pointers stay valid while the pack lives; a connection is
   owned by the pack (pc_args_take_connection takes it over).
   Returns: PC_OK, PC_VALUE (index out of range, other type, NULL). */
PYCONC_API int pc_args_get_int(const pc_args *a, size_t i, int64_t *out_value);
PYCONC_API int pc_args_get_double(const pc_args *a, size_t i, double *out_value);
PYCONC_API int pc_args_get_bytes(const pc_args *a, size_t i, const void **out_data,
                                 size_t *out_size);
PYCONC_API int pc_args_get_str(const pc_args *a, size_t i, const char **out_s);
PYCONC_API int pc_args_get_connection(const pc_args *a, size_t i, pc_connection **out_c);
/* Like get_connection, but the caller owns the connection from now on. */
PYCONC_API int pc_args_take_connection(pc_args *a, size_t i, pc_connection **out_c);

// >>process
typedef struct pc_process pc_process;

/* Returned by pc_process_exitcode while Python's exitcode is None. */
#define PC_EXITCODE_NONE INT_MIN
/* Longest authkey accepted. */
#define PC_AUTHKEY_MAX 256

typedef struct pc_process_desc {
    pc_target_fn target;        // run in the child; NULL: does nothing (exit code 0)
    const void *arg;            // copied (arg_size bytes) for the child; the target
    size_t arg_size;            //   gets the copy. arg_size 0: arg itself (fork only)
    const pc_args *args;        // argument pack, copied; the target gets a pc_args *
                                //   (not with arg)
    const char *name;           // copied; NULL: "Process-N1:N2..."
    pc_daemon daemon;           // default: the current process's daemon flag
    const pc_context *context;  // NULL: the default start method
} pc_process_desc;

/* Make a process object (not started). desc may be NULL.
   Returns NULL on failure (PC_VALUE, PC_NOMEM, PC_OS).
   Python: multiprocessing.Process(...) */
PYCONC_API pc_process *pc_process_new(const pc_process_desc *desc);
/* Drop the caller's reference. A running child keeps running and is still
   joined (or, if daemonic, terminated) when this process exits. */
PYCONC_API void pc_process_free(pc_process *p);
/* Take another reference (released with pc_process_free). */
PYCONC_API pc_process *pc_process_retain(pc_process *p);
/* Start the child. Returns: PC_OK, PC_RUNTIME (started twice, or the
   current process is daemonic), PC_VALUE (closed; arg pointer with spawn or
   forkserver; target outside every loaded object), PC_OS (errno kept),
   PC_NOMEM.  Python: Process.start */
PYCONC_API int pc_process_start(pc_process *p);
/* Wait for the child to end (timeout seconds; PC_FOREVER).
   Returns: PC_OK, PC_TIMEOUT, PC_RUNTIME (not started, or itself),
   PC_VALUE (NaN, closed).  Blocks: yes.  Python: Process.join */
PYCONC_API int pc_process_join(pc_process *p, double timeout);
/* 1 from start until the child has ended. Python: Process.is_alive */
PYCONC_API int pc_process_is_alive(pc_process *p);
/* The child's exit code: the target's return value (0..255), 1 after a
   pc_raise()d exception, -N when signal N killed it; PC_EXITCODE_NONE
   while not started or still running. Python: Process.exitcode */
PYCONC_API int pc_process_exitcode(pc_process *p);
/* The child's process id; 0 before start. Python: Process.pid */
PYCONC_API long pc_process_pid(const pc_process *p);
/* A descriptor that becomes readable when the child ends (pidfd or pipe);
   owned by the process object. -1 before start or after close.
   Python: Process.sentinel */
PYCONC_API int pc_process_sentinel(const pc_process *p);
/* Send SIGTERM / SIGKILL / SIGINT. Nothing once the child is reaped.
   Returns: PC_OK, PC_RUNTIME (not started), PC_VALUE (closed), PC_OS.
   Python: Process.terminate, .kill, .interrupt (3.14) */
PYCONC_API int pc_process_terminate(pc_process *p);
PYCONC_API int pc_process_kill(pc_process *p);
PYCONC_API int pc_process_interrupt(pc_process *p);
/* Release the sentinel; most calls are PC_VALUE afterwards.
   Returns: PC_OK, PC_VALUE (still running).  Python: Process.close */
PYCONC_API int pc_process_close(pc_process *p);
/* Python: Process.name (valid until the next set_name or free). */
PYCONC_API const char *pc_process_name(const pc_process *p);
/* Returns: PC_OK, PC_VALUE, PC_NOMEM.  Python: Process.name = ... */
PYCONC_API int pc_process_set_name(pc_process *p, const char *name);
/* Python: Process.daemon */
PYCONC_API int pc_process_daemon(const pc_process *p);
/* Returns: PC_OK, PC_RUNTIME (already started).  Python: Process.daemon = */
PYCONC_API int pc_process_set_daemon(pc_process *p, int daemon);
/* The authkey (*out_len bytes, valid until the next set_authkey).
   Python: Process.authkey */
PYCONC_API const unsigned char *pc_process_authkey(const pc_process *p, size_t *out_len);
/* Set it (1..PC_AUTHKEY_MAX bytes). On the current process this changes
   the key children inherit. Returns: PC_OK, PC_VALUE.
   Python: Process.authkey = ... */
PYCONC_API int pc_process_set_authkey(pc_process *p, const void *key, size_t len);
/* The start method the process uses (resolved at start). */
PYCONC_API pc_start_method pc_process_start_method(const pc_process *p);

/* The object of the calling process (borrowed): "MainProcess" in the main
   program, the child's own name, daemon flag and authkey in a child.
   Python: multiprocessing.current_process */
PYCONC_API pc_process *pc_process_current(void);
/* The parent as seen from a child (borrowed), NULL in the main process.
   Its pid and name are the parent's; is_alive and sentinel watch it.
   Python: multiprocessing.parent_process */
PYCONC_API pc_process *pc_process_parent(void);
/* Reap children that have ended, fill out[0..cap) with new references to
   the live ones (release each with pc_process_free) and return how many
   are alive. Python: multiprocessing.active_children */
PYCONC_API size_t pc_process_active_children(pc_process **out, size_t cap);
/* If this process is a pyconc spawn or forkserver child, run it and never
   return; otherwise return at once. The constructor does this already,
   unless PYCONC_PROCESS_NO_CONSTRUCTOR. */
PYCONC_API void pc_process_bootstrap(int argc, char **argv);

#ifdef __cplusplus
}
#endif

#endif // PYCONC_PROCESS_H

// ---------------------------------------------------------------------------
// >>implementation
#if defined(PYCONC_ALL_IMPLEMENTATION) && !defined(PYCONC_PROCESS_IMPLEMENTATION)
#define PYCONC_PROCESS_IMPLEMENTATION
#endif

#if defined(PYCONC_PROCESS_IMPLEMENTATION) && !defined(PYCONC_PROCESS_IMPLEMENTATION_DONE)
#define PYCONC_PROCESS_IMPLEMENTATION_DONE

// >>connection (implementation: staging/connection.h)
#include "staging/connection.h"

#include <dirent.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>
#if defined(__linux__) || defined(__FreeBSD__) || defined(__NetBSD__) || defined(__OpenBSD__)
#include <link.h>
#define PC__HAVE_PHDR 1
#else
#define PC__HAVE_PHDR 0
#endif
#if defined(__linux__)
#include <sys/syscall.h>
#endif

extern char **environ;

#define PC__ENV_FD "PYCONC_PROCESS_FD"
#define PC__BOOT_FD 3           // where a spawned child finds its bootstrap socket
#define PC__SENTINEL_FD 4       // and, without pidfds, its sentinel pipe
#define PC__BOOT_MAGIC 0x50434231u      // "PCB1"
#define PC__FS_MAGIC 0x50434653u        // "PCFS"
#define PC__ARGS_MAX_FDS 200

// >>posix
// OS calls of this file; descriptor basics (close, pipe, socketpair, poll,
// read_all) come from the connection part's pc__os_* helpers.

static int pc__proc_write_all(int fd, const void *buf, size_t len) {
    const char *p = (const char *)buf;
    while (len) {
#ifdef MSG_NOSIGNAL
        ssize_t w = send(fd, p, len, MSG_NOSIGNAL);
#else
        ssize_t w = write(fd, p, len);
#endif
        if (w < 0) {
            if (errno == EINTR) continue;
            return pc__os_error("write");
        }
        p += w;
        len -= (size_t)w;
    }
    return PC_OK;
}

static int pc__proc_pidfd_open(pid_t pid) {
#if defined(__linux__) && defined(SYS_pidfd_open)
    int fd = (int)syscall(SYS_pidfd_open, pid, 0);
    if (fd >= 0) fcntl(fd, F_SETFD, FD_CLOEXEC);   // pidfds are born close-on-exec
    return fd;
#else
    (void)pid;
    errno = ENOSYS;
    return -1;
#endif
}

// Whether this kernel has pidfds, probed once (on ourselves).
static int pc__proc_have_pidfd(void) {
    static int have = -1;
    int h = __atomic_load_n(&have, __ATOMIC_RELAXED);
    if (h < 0) {
        int saved = errno;
        int fd = pc__proc_pidfd_open(getpid());
        h = fd >= 0;
        if (fd >= 0) close(fd);
        errno = saved;
        __atomic_store_n(&have, h, __ATOMIC_RELAXED);
    }
    return h;
}

// Signal through the pidfd when there is one: it cannot hit a recycled pid.
static int pc__proc_signal(pid_t pid, int pidfd, int sig) {
#if defined(__linux__) && defined(SYS_pidfd_send_signal)
    if (pidfd >= 0) {
        if (syscall(SYS_pidfd_send_signal, pidfd, sig, NULL, 0) == 0) return 0;
        if (errno != ENOSYS && errno != EBADF && errno != EINVAL) return -1;
    }
#else
    (void)pidfd;
#endif
    return kill(pid, sig);
}

// Close every descriptor from lo up, except keep (may be -1).
static void pc__proc_close_from(int lo, int keep) {
#if defined(__linux__) && defined(SYS_close_range)
    if (keep < lo) {
        if (syscall(SYS_close_range, (unsigned)lo, ~0u, 0) == 0) return;
    } else {
        int ok = (keep <= lo || syscall(SYS_close_range, (unsigned)lo, (unsigned)keep - 1, 0) == 0)
              && syscall(SYS_close_range, (unsigned)keep + 1, ~0u, 0) == 0;
        if (ok) return;
    }
#endif
    long max = sysconf(_SC_OPEN_MAX);
    if (max < 0 || max > 65536) max = 65536;
    for (int fd = lo; fd < max; fd++)
        if (fd != keep) close(fd);
}

// Wait until fd is readable or the deadline (monotonic, INFINITY: none).
static int pc__proc_wait_readable(int fd, double deadline) {
    struct pollfd pfd;
    pfd.fd = fd;
    pfd.events = POLLIN;
    pfd.revents = 0;
    return pc__os_poll(&pfd, 1, deadline);
}

static int pc__proc_readable_now(int fd) {
    struct pollfd pfd;
    pfd.fd = fd;
    pfd.events = POLLIN;
    pfd.revents = 0;
    int r;
    while ((r = poll(&pfd, 1, 0)) < 0 && errno == EINTR) {}
    return r > 0;
}

// Move fd to a number >= 10 (close-on-exec), so that spawn's dup2 onto
// 3 and 4 never meets a descriptor already sitting there.
static int pc__proc_move_high(int fd) {
    if (fd >= 10) return fd;
    int nfd = fcntl(fd, F_DUPFD_CLOEXEC, 10);
    if (nfd < 0) return -1;
    close(fd);
    return nfd;
}

// >>buffer
// The bootstrap message and the argument pack are a flat byte string in
// host order (both ends run the same program on the same machine).
typedef struct pc__buf {
    unsigned char *p;
    size_t len, cap, pos;
    int bad;                    // a read ran past the end, or out of memory
} pc__buf;

static void pc__buf_put(pc__buf *b, const void *data, size_t n) {
    if (b->bad) return;
    if (b->len + n > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->len + n) cap *= 2;
        unsigned char *np = (unsigned char *)pc__malloc(cap);
        if (!np) { b->bad = 1; return; }
        if (b->len) memcpy(np, b->p, b->len);
        pc__free(b->p);
        b->p = np;
        b->cap = cap;
    }
    if (n) memcpy(b->p + b->len, data, n);
    b->len += n;
}

static void pc__buf_u8(pc__buf *b, unsigned v) { unsigned char c = (unsigned char)v; pc__buf_put(b, &c, 1); }
static void pc__buf_u32(pc__buf *b, uint32_t v) { pc__buf_put(b, &v, sizeof v); }
static void pc__buf_u64(pc__buf *b, uint64_t v) { pc__buf_put(b, &v, sizeof v); }
static void pc__buf_blob(pc__buf *b, const void *data, size_t n) {
    pc__buf_u64(b, n);
    pc__buf_put(b, data, n);
}
static void pc__buf_str(pc__buf *b, const char *s) { pc__buf_blob(b, s ? s : "", s ? strlen(s) : 0); }

static const void *pc__buf_take(pc__buf *b, size_t n) {
    if (b->bad || n > b->len - b->pos) { b->bad = 1; return NULL; }
    const void *r = b->p + b->pos;
    b->pos += n;
    return r;
}
static unsigned pc__buf_get_u8(pc__buf *b) {
    const unsigned char *p = (const unsigned char *)pc__buf_take(b, 1);
    return p ? *p : 0;
}
static uint32_t pc__buf_get_u32(pc__buf *b) {
    uint32_t v = 0;
    const void *p = pc__buf_take(b, sizeof v);
    if (p) memcpy(&v, p, sizeof v);
    return v;
}
static uint64_t pc__buf_get_u64(pc__buf *b) {
    uint64_t v = 0;
    const void *p = pc__buf_take(b, sizeof v);
    if (p) memcpy(&v, p, sizeof v);
    return v;
}
static const void *pc__buf_get_blob(pc__buf *b, size_t *out_n) {
    uint64_t n = pc__buf_get_u64(b);
    if (b->bad || n > b->len - b->pos) { b->bad = 1; *out_n = 0; return NULL; }
    *out_n = (size_t)n;
    return pc__buf_take(b, (size_t)n);
}
// A NUL-terminated copy of a blob (NULL on error).
static char *pc__buf_get_str(pc__buf *b) {
    size_t n;
    const void *p = pc__buf_get_blob(b, &n);
    if (!p) return NULL;
    char *s = (char *)pc__malloc(n + 1);
    if (!s) { b->bad = 1; return NULL; }
    memcpy(s, p, n);
    s[n] = '\0';
    return s;
}

// >>args
typedef struct pc__arg {
    pc_arg_type type;
    int64_t i;
    double d;
    unsigned char *data;        // bytes and strings (NUL-terminated), owned
    size_t size;
    pc_connection *conn;        // borrowed in the parent, owned in a child
} pc__arg;

struct pc_args {
    pc__arg *items;
    size_t len, cap;
    int owns_connections;       // a pack decoded in a child
};

PYCONC_API pc_args *pc_args_new(void) {
    return (pc_args *)pc__calloc(1, sizeof(pc_args));
}

PYCONC_API void pc_args_free(pc_args *a) {
    if (!a) return;
    for (size_t i = 0; i < a->len; i++) {
        pc__free(a->items[i].data);
        if (a->owns_connections && a->items[i].conn) pc_connection_free(a->items[i].conn);
    }
    pc__free(a->items);
    pc__free(a);
}

static pc__arg *pc__args_push(pc_args *a, pc_arg_type type) {
    if (!a) { pc__error(PC_VALUE, "argument pack is NULL"); return NULL; }
    if (a->len == a->cap) {
        size_t cap = a->cap ? a->cap * 2 : 8;
        pc__arg *items = (pc__arg *)pc__calloc(cap, sizeof *items);
        if (!items) return NULL;
        if (a->len) memcpy(items, a->items, a->len * sizeof *items);
        pc__free(a->items);
        a->items = items;
        a->cap = cap;
    }
    pc__arg *it = &a->items[a->len++];
    memset(it, 0, sizeof *it);
    it->type = type;
    return it;
}

PYCONC_API int pc_args_add_int(pc_args *a, int64_t value) {
    pc__arg *it = pc__args_push(a, PC_ARG_INT);
    if (!it) return pc_last_error_code();
    it->i = value;
    return PC_OK;
}

PYCONC_API int pc_args_add_double(pc_args *a, double value) {
    pc__arg *it = pc__args_push(a, PC_ARG_DOUBLE);
    if (!it) return pc_last_error_code();
    it->d = value;
    return PC_OK;
}

// Copy size bytes plus a NUL (so strings read back as C strings).
static int pc__args_add_data(pc_args *a, pc_arg_type type, const void *data, size_t size) {
    if (size && !data) return pc__error(PC_VALUE, "argument data is NULL");
    if (size == (size_t)-1) return pc__error(PC_VALUE, "argument too large");
    unsigned char *copy = (unsigned char *)pc__malloc(size + 1);
    if (!copy) return PC_NOMEM;
    if (size) memcpy(copy, data, size);
    copy[size] = '\0';
    pc__arg *it = pc__args_push(a, type);
    if (!it) { pc__free(copy); return pc_last_error_code(); }
    it->data = copy;
    it->size = size;
    return PC_OK;
}

PYCONC_API int pc_args_add_bytes(pc_args *a, const void *data, size_t size) {
    return pc__args_add_data(a, PC_ARG_BYTES, data, size);
}

PYCONC_API int pc_args_add_str(pc_args *a, const char *s) {
    if (!s) return pc__error(PC_VALUE, "string argument is NULL");
    return pc__args_add_data(a, PC_ARG_STR, s, strlen(s));
}

PYCONC_API int pc_args_add_connection(pc_args *a, pc_connection *c) {
    if (!c || pc_connection_closed(c)) return pc__error(PC_VALUE, "connection is NULL or closed");
    pc__arg *it = pc__args_push(a, PC_ARG_CONNECTION);
    if (!it) return pc_last_error_code();
    it->conn = c;
    return PC_OK;
}

PYCONC_API size_t pc_args_len(const pc_args *a) { return a ? a->len : 0; }

PYCONC_API pc_arg_type pc_args_type(const pc_args *a, size_t i) {
    return a && i < a->len ? a->items[i].type : PC_ARG_NONE;
}

static const pc__arg *pc__args_item(const pc_args *a, size_t i, pc_arg_type type, const void *out) {
    if (!a || !out) { pc__error(PC_VALUE, "argument pack or output is NULL"); return NULL; }
    if (i >= a->len) {
        pc__error(PC_VALUE, "argument index %zu out of range (%zu items)", i, a->len);
        return NULL;
    }
    if (a->items[i].type != type) {
        pc__error(PC_VALUE, "argument %zu is of type %d, not %d", i, (int)a->items[i].type, (int)type);
        return NULL;
    }
    return &a->items[i];
}

PYCONC_API int pc_args_get_int(const pc_args *a, size_t i, int64_t *out_value) {
    const pc__arg *it = pc__args_item(a, i, PC_ARG_INT, out_value);
    if (!it) return PC_VALUE;
    *out_value = it->i;
    return PC_OK;
}

PYCONC_API int pc_args_get_double(const pc_args *a, size_t i, double *out_value) {
    const pc__arg *it = pc__args_item(a, i, PC_ARG_DOUBLE, out_value);
    if (!it) return PC_VALUE;
    *out_value = it->d;
    return PC_OK;
}

PYCONC_API int pc_args_get_bytes(const pc_args *a, size_t i, const void **out_data,
                                 size_t *out_size) {
    const pc__arg *it = pc__args_item(a, i, PC_ARG_BYTES, out_data);
    if (!it) return PC_VALUE;
    *out_data = it->data;
    if (out_size) *out_size = it->size;
    return PC_OK;
}

PYCONC_API int pc_args_get_str(const pc_args *a, size_t i, const char **out_s) {
    const pc__arg *it = pc__args_item(a, i, PC_ARG_STR, out_s);
    if (!it) return PC_VALUE;
    *out_s = (const char *)it->data;
    return PC_OK;
}

PYCONC_API int pc_args_get_connection(const pc_args *a, size_t i, pc_connection **out_c) {
    const pc__arg *it = pc__args_item(a, i, PC_ARG_CONNECTION, out_c);
    if (!it) return PC_VALUE;
    if (!it->conn) return pc__error(PC_VALUE, "connection %zu was taken", i);
    *out_c = it->conn;
    return PC_OK;
}

PYCONC_API int pc_args_take_connection(pc_args *a, size_t i, pc_connection **out_c) {
    int rc = pc_args_get_connection(a, i, out_c);
    if (rc) return rc;
    if (!a->owns_connections) return pc__error(PC_VALUE, "only a child's pack gives connections away");
    a->items[i].conn = NULL;
    return PC_OK;
}

// Wire form: u32 count, then per item u8 type and its payload; a
// connection is an index into the descriptors that travel beside the
// bytes plus its readable/writable flags. New kinds (shared locks, queues,
// memory) add a type and travel the same way: bytes plus descriptors.
// The descriptors are duplicates (close-on-exec) owned by the caller.
static int pc__args_encode(const pc_args *a, pc__buf *b, int *fds, size_t *nfds) {
    size_t n = 0;
    pc__buf_u32(b, (uint32_t)a->len);
    for (size_t i = 0; i < a->len; i++) {
        const pc__arg *it = &a->items[i];
        pc__buf_u8(b, (unsigned)it->type);
        switch (it->type) {
        case PC_ARG_INT: pc__buf_u64(b, (uint64_t)it->i); break;
        case PC_ARG_DOUBLE: pc__buf_put(b, &it->d, sizeof it->d); break;
        case PC_ARG_BYTES:
        case PC_ARG_STR: pc__buf_blob(b, it->data, it->size); break;
        case PC_ARG_CONNECTION: {
            int fd = pc_connection_fileno(it->conn);
            if (fd < 0) return pc__error(PC_VALUE, "argument %zu: connection is closed", i);
            if (n == PC__ARGS_MAX_FDS)
                return pc__error(PC_VALUE, "more than %d connections in one pack", PC__ARGS_MAX_FDS);
            fds[n] = fcntl(fd, F_DUPFD_CLOEXEC, 3);
            if (fds[n] < 0) return pc__os_error("dup connection");
            pc__buf_u32(b, (uint32_t)n++);
            pc__buf_u8(b, (unsigned)pc_connection_readable(it->conn));
            pc__buf_u8(b, (unsigned)pc_connection_writable(it->conn));
            *nfds = n;
            break;
        }
        default: return pc__error(PC_VALUE, "argument %zu has no type", i);
        }
    }
    *nfds = n;
    return b->bad ? PC_NOMEM : PC_OK;
}

// Rebuild a pack in the child. Each descriptor used is set to -1 in fds
// (the pack's connection owns it now).
static pc_args *pc__args_decode(pc__buf *b, int *fds, size_t nfds) {
    pc_args *a = pc_args_new();
    if (!a) return NULL;
    a->owns_connections = 1;
    uint32_t count = pc__buf_get_u32(b);
    for (uint32_t i = 0; i < count && !b->bad; i++) {
        unsigned type = pc__buf_get_u8(b);
        size_t n;
        const void *p;
        int rc = PC_OK;
        if (type == PC_ARG_INT) {
            rc = pc_args_add_int(a, (int64_t)pc__buf_get_u64(b));
        } else if (type == PC_ARG_DOUBLE) {
            double d = 0;
            if ((p = pc__buf_take(b, sizeof d))) memcpy(&d, p, sizeof d);
            rc = pc_args_add_double(a, d);
        } else if (type == PC_ARG_BYTES || type == PC_ARG_STR) {
            p = pc__buf_get_blob(b, &n);
            rc = p ? pc__args_add_data(a, (pc_arg_type)type, p, n) : PC_VALUE;
        } else if (type == PC_ARG_CONNECTION) {
            uint32_t k = pc__buf_get_u32(b);
            unsigned r = pc__buf_get_u8(b), w = pc__buf_get_u8(b);
            pc_connection *c = NULL;
            if (!b->bad && k < nfds && fds[k] >= 0 && (c = pc__connection_from_fd(fds[k], (int)r, (int)w)))
                fds[k] = -1;
            pc__arg *it = c ? pc__args_push(a, PC_ARG_CONNECTION) : NULL;
            if (it) it->conn = c;
            else { if (c) pc_connection_free(c); rc = PC_VALUE; }
        } else {
            rc = PC_VALUE;
        }
        if (rc) b->bad = 1;
    }
    if (b->bad) {
        pc_args_free(a);
        pc__error(PC_VALUE, "malformed argument pack");
        return NULL;
    }
    return a;
}

// >>funcref
// A function crosses exec as (loaded object, offset from its load base).
// The main program is object 0 of dl_iterate_phdr; others go by path and
// are dlopen()ed in the child if only the parent had them loaded.
typedef struct pc__funcref {
    int is_main;
    char path[1024];
    uint64_t offset;
} pc__funcref;

#if PC__HAVE_PHDR
typedef struct pc__phdr_search {
    uintptr_t addr;             // find the object holding addr ...
    const char *path;           // ... or the object with this path (NULL: main)
    int index;
    int found, is_main;
    uintptr_t base;
    int executable;             // addr lies in an executable segment
    char name[1024];
} pc__phdr_search;

static int pc__phdr_holds(struct dl_phdr_info *info, uintptr_t addr, int *out_exec) {
    for (int i = 0; i < (int)info->dlpi_phnum; i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        uintptr_t lo = (uintptr_t)info->dlpi_addr + (uintptr_t)ph->p_vaddr;
        if (ph->p_type == PT_LOAD && addr >= lo && addr < lo + (uintptr_t)ph->p_memsz) {
            *out_exec = (ph->p_flags & PF_X) != 0;
            return 1;
        }
    }
    return 0;
}

static int pc__phdr_visit(struct dl_phdr_info *info, size_t size, void *data) {
    pc__phdr_search *s = (pc__phdr_search *)data;
    int index = s->index++;
    (void)size;
    if (s->path) {              // resolving: match by name (or index 0 for main)
        int match = s->path[0] ? (info->dlpi_name && strcmp(info->dlpi_name, s->path) == 0)
                               : index == 0;
        if (!match) return 0;
        s->base = (uintptr_t)info->dlpi_addr;
        s->found = 1;
        pc__phdr_holds(info, s->addr = s->base + s->addr, &s->executable);
        return 1;
    }
    if (!pc__phdr_holds(info, s->addr, &s->executable)) return 0;
    s->found = 1;
    s->is_main = index == 0;
    s->base = (uintptr_t)info->dlpi_addr;
    snprintf(s->name, sizeof s->name, "%s", info->dlpi_name ? info->dlpi_name : "");
    return 1;
}
#endif

// Function pointers and data pointers share a representation on every
// platform with dladdr; memcpy keeps ISO C quiet about the conversion.
static uintptr_t pc__fn_addr(pc_target_fn fn) {
    uintptr_t a = 0;
    memcpy(&a, &fn, sizeof fn < sizeof a ? sizeof fn : sizeof a);
    return a;
}

static int pc__funcref_locate(pc_target_fn fn, pc__funcref *out) {
    memset(out, 0, sizeof *out);
    if (!fn) return PC_OK;
    Dl_info info;
    uintptr_t addr = pc__fn_addr(fn);
    void *vaddr = (void *)addr;
    if (!dladdr(vaddr, &info))
        return pc__error(PC_VALUE, "target %p is not inside a loaded object", vaddr);
#if PC__HAVE_PHDR
    pc__phdr_search s;
    memset(&s, 0, sizeof s);
    s.addr = addr;
    dl_iterate_phdr(pc__phdr_visit, &s);
    if (!s.found || !s.executable)
        return pc__error(PC_VALUE, "target %p is not code of a loaded object", vaddr);
    out->is_main = s.is_main;
    snprintf(out->path, sizeof out->path, "%s", s.is_main ? "" : s.name);
    out->offset = (uint64_t)(addr - s.base);
#else
    out->is_main = 0;
    snprintf(out->path, sizeof out->path, "%s", info.dli_fname ? info.dli_fname : "");
    out->offset = (uint64_t)(addr - (uintptr_t)info.dli_fbase);
#endif
    return PC_OK;
}

static int pc__funcref_resolve(const pc__funcref *ref, pc_target_fn *out) {
    uintptr_t addr = 0;
#if PC__HAVE_PHDR
    pc__phdr_search s;
    for (int attempt = 0; attempt < 2; attempt++) {
        memset(&s, 0, sizeof s);
        s.path = ref->is_main ? "" : ref->path;
        s.addr = (uintptr_t)ref->offset;
        dl_iterate_phdr(pc__phdr_visit, &s);
        if (s.found || ref->is_main || attempt) break;
        if (!dlopen(ref->path, RTLD_NOW | RTLD_GLOBAL)) break;     // loaded by the parent later
    }
    if (!s.found || !s.executable)
        return pc__error(PC_VALUE, "cannot find target at %s+0x%llx",
                         ref->is_main ? "<main>" : ref->path, (unsigned long long)ref->offset);
    addr = s.addr;
#else
    void *h = dlopen(ref->path, RTLD_NOW | RTLD_NOLOAD);
    Dl_info info;
    if (!h) h = dlopen(ref->path, RTLD_NOW);
    void *sym = h ? dlsym(h, "pc_process_bootstrap") : NULL;
    if (!sym || !dladdr(sym, &info))
        return pc__error(PC_VALUE, "cannot find target in %s", ref->path);
    addr = (uintptr_t)info.dli_fbase + (uintptr_t)ref->offset;
#endif
    memcpy(out, &addr, sizeof *out < sizeof addr ? sizeof *out : sizeof addr);
    return PC_OK;
}

static void pc__funcref_put(pc__buf *b, const pc__funcref *ref, int has) {
    pc__buf_u8(b, (unsigned)has);
    pc__buf_u8(b, (unsigned)ref->is_main);
    pc__buf_str(b, ref->path);
    pc__buf_u64(b, ref->offset);
}

static int pc__funcref_get(pc__buf *b, pc__funcref *ref) {
    memset(ref, 0, sizeof *ref);
    int has = (int)pc__buf_get_u8(b);
    ref->is_main = (int)pc__buf_get_u8(b);
    size_t n;
    const void *p = pc__buf_get_blob(b, &n);
    if (p && n < sizeof ref->path) memcpy(ref->path, p, n);
    else b->bad = 1;
    ref->offset = pc__buf_get_u64(b);
    return has;
}

// >>state
enum { PC__P_CHILD = 0, PC__P_CURRENT = 1, PC__P_PARENT = 2 };
enum { PC__ARG_NONE = 0, PC__ARG_BYTES = 1, PC__ARG_POINTER = 2, PC__ARG_PACK = 3 };
enum { PC__S_NONE = 0, PC__S_PIDFD = 1, PC__S_PIPE = 2, PC__S_SERVER = 3 };

struct pc_context { pc_start_method method; };
static const pc_context pc__contexts[4] = {
    {PC_START_DEFAULT}, {PC_START_FORK}, {PC_START_SPAWN}, {PC_START_FORKSERVER}
};

struct pc_process {
    uint32_t refs;              // the user's, the children registry's, active_children's
    int kind;
    pc_lock mu;                 // guards reaping, closing, name and authkey changes
    char *name;
    int daemon;
    unsigned char authkey[PC_AUTHKEY_MAX];
    size_t authkey_len;
    uint32_t *identity;         // ("Process-1:2" is {1, 2})
    size_t identity_len;
    pc_target_fn target;
    int arg_kind;
    void *arg;                  // the copied bytes, or the caller's pointer
    size_t arg_size;
    pc__buf pack;               // the encoded argument pack
    int *pack_fds;              // its descriptors (duplicates, ours until start)
    size_t pack_nfds;
    const pc_context *context;
    pc_start_method method;     // resolved at start
    int started, closed, reaped;
    pid_t pid;
    pid_t owner;                // the process that started it (fork copies the registry)
    int sentinel, sentinel_kind;
    int exitcode;
    pc_process *reg_prev, *reg_next;
};

static pc_lock pc__proc_lock = PC_LOCK_INIT;    // registry, method, counter, current
static pthread_once_t pc__proc_once = PTHREAD_ONCE_INIT;
static pc_process *pc__proc_current;
static pc_process *pc__proc_parent;
static pc_process *pc__proc_children;           // started, not yet reaped
static uint32_t pc__proc_counter;               // children made by this process
static pc_start_method pc__proc_method;         // PC_START_DEFAULT: not set
static int pc__proc_method_fixed;
static char pc__proc_argv0[256] = "pyconc";
static int pc__proc_atexit_done;
static pc_lock pc__fs_lock = PC_LOCK_INIT;      // starting the forkserver

static void pc__proc_exit_function(void);
static void pc__proc_after_fork_child(void);

static void pc__proc_random(unsigned char *out, size_t n) {
    int fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
    size_t got = 0;
    if (fd >= 0) {
        while (got < n) {
            ssize_t r = read(fd, out + got, n - got);
            if (r < 0 && errno == EINTR) continue;
            if (r <= 0) break;
            got += (size_t)r;
        }
        close(fd);
    }
    if (got < n) {              // no /dev/urandom: a weak key is still a key
        uint64_t x = (uint64_t)getpid() * 0x9E3779B97F4A7C15ull ^ (uint64_t)(pc_monotonic() * 1e9);
        for (; got < n; got++) {
            x ^= x << 13; x ^= x >> 7; x ^= x << 17;
            out[got] = (unsigned char)x;
        }
    }
}

static pc_process *pc__proc_alloc(int kind, const char *name) {
    pc_process *p = (pc_process *)pc__calloc(1, sizeof *p);
    if (!p) return NULL;
    p->name = pc__strdup(name);
    if (!p->name) { pc__free(p); return NULL; }
    p->refs = 1;
    p->kind = kind;
    p->sentinel = -1;
    p->exitcode = PC_EXITCODE_NONE;
    return p;
}

static void pc__proc_init_once(void) {
    pc_process *cur = pc__proc_alloc(PC__P_CURRENT, "MainProcess");
    if (!cur) abort();          // no memory before main: nothing sensible to do
    cur->authkey_len = 32;
    pc__proc_random(cur->authkey, 32);
    pc__proc_current = cur;
    pthread_atfork(NULL, NULL, pc__proc_after_fork_child);
#if defined(__GLIBC__)
    snprintf(pc__proc_argv0, sizeof pc__proc_argv0, "%s", program_invocation_short_name);
#endif
}

static void pc__proc_init(void) { pthread_once(&pc__proc_once, pc__proc_init_once); }

// In a child made by fork (ours or the user's) the parent's children are
// not ours, and a lock another thread held is free.
static void pc__proc_after_fork_child(void) {
    pc__proc_lock.state = 0;
    pc__fs_lock.state = 0;
    if (pc__proc_current) pc__proc_current->mu.state = 0;
}

// >>registry
static void pc__registry_link(pc_process *p) {
    p->reg_prev = NULL;
    p->reg_next = pc__proc_children;
    if (pc__proc_children) pc__proc_children->reg_prev = p;
    pc__proc_children = p;
}

static void pc__registry_unlink(pc_process *p) {
    if (p->reg_prev) p->reg_prev->reg_next = p->reg_next;
    else if (pc__proc_children == p) pc__proc_children = p->reg_next;
    if (p->reg_next) p->reg_next->reg_prev = p->reg_prev;
    p->reg_prev = p->reg_next = NULL;
}

PYCONC_API pc_process *pc_process_retain(pc_process *p) {
    if (p) __atomic_add_fetch(&p->refs, 1, __ATOMIC_RELAXED);
    return p;
}

static void pc__proc_destroy(pc_process *p) {
    for (size_t i = 0; i < p->pack_nfds; i++) pc__os_close(p->pack_fds[i]);
    if (p->sentinel >= 0) pc__os_close(p->sentinel);
    if (p->arg_kind == PC__ARG_BYTES) pc__free(p->arg);
    pc__free(p->pack.p);
    pc__free(p->pack_fds);
    pc__free(p->identity);
    pc__free(p->name);
    pc__free(p);
}

static void pc__proc_release(pc_process *p) {
    if (__atomic_sub_fetch(&p->refs, 1, __ATOMIC_ACQ_REL) == 0) pc__proc_destroy(p);
}

PYCONC_API void pc_process_free(pc_process *p) {
    if (!p || p->kind != PC__P_CHILD) return;   // current and parent belong to the library
    pc__proc_release(p);
}

// >>desc
static int pc__proc_check_desc(const pc_process_desc *d) {
    if (d->daemon != PC_DAEMON_INHERIT && d->daemon != PC_DAEMON_YES && d->daemon != PC_DAEMON_NO)
        return pc__error(PC_VALUE, "daemon must be PC_DAEMON_INHERIT, _YES or _NO");
    if (d->args && (d->arg || d->arg_size))
        return pc__error(PC_VALUE, "give either arg/arg_size or args, not both");
    if (d->arg_size && !d->arg) return pc__error(PC_VALUE, "arg is NULL but arg_size is %zu", d->arg_size);
    if (d->context && ((int)d->context->method < PC_START_DEFAULT ||
                       (int)d->context->method > PC_START_FORKSERVER))
        return pc__error(PC_VALUE, "context is not one of pc_get_context's");
    return PC_OK;
}

// The child's identity is ours plus the next counter: "Process-1:3".
static int pc__proc_set_identity(pc_process *p, char *name_buf, size_t cap) {
    pc_process *cur = pc__proc_current;
    pc_lock_acquire(&pc__proc_lock, PC_FOREVER);
    uint32_t n = ++pc__proc_counter;
    size_t len = cur->identity_len + 1;
    p->identity = (uint32_t *)pc__calloc(len, sizeof(uint32_t));
    if (p->identity) {
        if (cur->identity_len) memcpy(p->identity, cur->identity, cur->identity_len * sizeof(uint32_t));
        p->identity[len - 1] = n;
        p->identity_len = len;
    }
    pc_lock_release(&pc__proc_lock);
    if (!p->identity) return PC_NOMEM;
    size_t used = (size_t)snprintf(name_buf, cap, "Process-");
    for (size_t i = 0; i < len && used < cap; i++)
        used += (size_t)snprintf(name_buf + used, cap - used, i ? ":%u" : "%u", (unsigned)p->identity[i]);
    return PC_OK;
}

static int pc__proc_copy_arg(pc_process *p, const pc_process_desc *d) {
    if (d->args) {
        p->arg_kind = PC__ARG_PACK;
        p->pack_fds = (int *)pc__calloc(PC__ARGS_MAX_FDS, sizeof(int));
        if (!p->pack_fds) return PC_NOMEM;
        return pc__args_encode(d->args, &p->pack, p->pack_fds, &p->pack_nfds);
    }
    if (d->arg_size) {
        p->arg_kind = PC__ARG_BYTES;
        p->arg = pc__malloc(d->arg_size);
        if (!p->arg) return PC_NOMEM;
        memcpy(p->arg, d->arg, d->arg_size);
        p->arg_size = d->arg_size;
    } else if (d->arg) {
        p->arg_kind = PC__ARG_POINTER;
        p->arg = (void *)(uintptr_t)d->arg;
    }
    return PC_OK;
}

PYCONC_API pc_process *pc_process_new(const pc_process_desc *desc) {
    pc_process_desc d;
    char auto_name[256];
    pc__proc_init();
    memset(&d, 0, sizeof d);
    if (desc) d = *desc;
    if (pc__proc_check_desc(&d)) return NULL;
    pc_process *p = pc__proc_alloc(PC__P_CHILD, "");
    if (!p) return NULL;
    pc_process *cur = pc__proc_current;
    if (pc__proc_set_identity(p, auto_name, sizeof auto_name)) goto fail;
    pc__free(p->name);
    if (!(p->name = pc__strdup(d.name ? d.name : auto_name))) goto fail;
    p->daemon = d.daemon == PC_DAEMON_YES || (d.daemon == PC_DAEMON_INHERIT && cur->daemon);
    pc_lock_acquire(&cur->mu, PC_FOREVER);
    memcpy(p->authkey, cur->authkey, cur->authkey_len);
    p->authkey_len = cur->authkey_len;
    pc_lock_release(&cur->mu);
    p->target = d.target;
    p->context = d.context;
    if (pc__proc_copy_arg(p, &d)) goto fail;
    return p;
fail:
    pc__proc_destroy(p);
    return NULL;
}

// >>methods
static pc_start_method pc__platform_default(void) {
#if defined(__linux__)
    return PC_START_FORKSERVER;
#else
    return PC_START_SPAWN;
#endif
}

// The method a context stands for; the default context fixes the global
// choice the first time it is used, as Python's DefaultContext does.
static pc_start_method pc__resolve_method(const pc_context *ctx) {
    if (ctx && ctx->method != PC_START_DEFAULT) return ctx->method;
    return pc_get_start_method();
}

PYCONC_API const pc_context *pc_get_context(pc_start_method method) {
    if ((int)method < PC_START_DEFAULT || (int)method > PC_START_FORKSERVER) {
        pc__error(PC_VALUE, "unknown start method %d", (int)method);
        return NULL;
    }
    return &pc__contexts[method];
}

PYCONC_API pc_start_method pc_context_get_start_method(const pc_context *ctx) {
    return pc__resolve_method(ctx);
}

PYCONC_API pc_start_method pc_get_start_method(void) {
    pc_lock_acquire(&pc__proc_lock, PC_FOREVER);
    if (pc__proc_method == PC_START_DEFAULT) pc__proc_method = pc__platform_default();
    pc__proc_method_fixed = 1;
    pc_start_method m = pc__proc_method;
    pc_lock_release(&pc__proc_lock);
    return m;
}

PYCONC_API int pc_set_start_method(pc_start_method method, int force) {
    if ((int)method < PC_START_DEFAULT || (int)method > PC_START_FORKSERVER)
        return pc__error(PC_VALUE, "unknown start method %d", (int)method);
    pc_lock_acquire(&pc__proc_lock, PC_FOREVER);
    int fixed = pc__proc_method_fixed;
    if (fixed && !force) {
        pc_lock_release(&pc__proc_lock);
        return pc__error(PC_RUNTIME, "context has already been set");
    }
    pc__proc_method = method;
    pc__proc_method_fixed = method != PC_START_DEFAULT;
    pc_lock_release(&pc__proc_lock);
    return PC_OK;
}

PYCONC_API size_t pc_get_all_start_methods(pc_start_method *out, size_t cap) {
    pc_start_method all[3];
    all[0] = pc__platform_default();
    all[1] = all[0] == PC_START_FORKSERVER ? PC_START_FORK : PC_START_FORK;
    all[2] = all[0] == PC_START_FORKSERVER ? PC_START_SPAWN : PC_START_FORKSERVER;
    for (size_t i = 0; out && i < cap && i < 3; i++) out[i] = all[i];
    return 3;
}

PYCONC_API const char *pc_start_method_name(pc_start_method method) {
    switch (method) {
    case PC_START_DEFAULT: return "default";
    case PC_START_FORK: return "fork";
    case PC_START_SPAWN: return "spawn";
    case PC_START_FORKSERVER: return "forkserver";
    }
    return NULL;
}

PYCONC_API int pc_start_method_from_name(const char *name, pc_start_method *out_method) {
    if (!name || !out_method) return pc__error(PC_VALUE, "name or output is NULL");
    for (int m = PC_START_FORK; m <= PC_START_FORKSERVER; m++)
        if (strcmp(name, pc_start_method_name((pc_start_method)m)) == 0) {
            *out_method = (pc_start_method)m;
            return PC_OK;
        }
    return pc__error(PC_VALUE, "cannot find context for '%s'", name);
}

// >>child
// Everything a child needs to become itself, from fork's memory or from
// the bootstrap message.
typedef struct pc__child_info {
    pc_target_fn target;
    char *name;
    int daemon;
    unsigned char authkey[PC_AUTHKEY_MAX];
    size_t authkey_len;
    uint32_t *identity;
    size_t identity_len;
    long parent_pid;
    char *parent_name;
    int method, method_fixed;
    int arg_kind;
    void *arg;
    size_t arg_size;
    pc_args *pack;
} pc__child_info;

// Take on the child's identity. The parent's children are not ours; their
// objects are left alone (the memory is a copy after fork).
static void pc__child_become(pc__child_info *ci) {
    pc__proc_init();
    pc_process *cur = pc__proc_current;
    cur->name = ci->name;
    cur->daemon = ci->daemon;
    memcpy(cur->authkey, ci->authkey, ci->authkey_len);
    cur->authkey_len = ci->authkey_len;
    cur->identity = ci->identity;
    cur->identity_len = ci->identity_len;
    pc__proc_children = NULL;
    pc__proc_counter = 0;
    pc__proc_atexit_done = 0;
    pc__proc_method = (pc_start_method)ci->method;
    pc__proc_method_fixed = ci->method_fixed;
    pc_process *parent = pc__proc_alloc(PC__P_PARENT, ci->parent_name ? ci->parent_name : "");
    if (parent) {
        parent->pid = (pid_t)ci->parent_pid;
        parent->started = 1;
    }
    pc__proc_parent = parent;
}

// Python's threading._shutdown in the child: wait for non-daemon threads.
static void pc__child_join_threads(void) {
    pc_thread *self = pc_thread_current();
    for (;;) {
        pc_thread *ts[64], *found = NULL;
        size_t n = pc_thread_enumerate(ts, 64);
        if (n > 64) n = 64;
        for (size_t i = 0; i < n; i++) {
            if (!found && ts[i] != self && !pc_thread_daemon(ts[i]) && pc_thread_is_alive(ts[i]))
                found = ts[i];
            else
                pc_thread_free(ts[i]);
        }
        if (!found) return;
        pc_thread_join(found, PC_FOREVER);
        pc_thread_free(found);
    }
}

#if defined(__GNUC__) || defined(__clang__)
__attribute__((noreturn))
#endif
static void pc__child_run(pc__child_info *ci) {
    pc__child_become(ci);
    void *arg = ci->arg_kind == PC__ARG_PACK ? (void *)ci->pack : ci->arg;
    int rc = ci->target ? ci->target(arg) : 0;
    char msg[256];
    int raised = pc__exception_take(msg, sizeof msg);
    int code = raised ? 1 : (rc & 0xff);
    if (raised) {
        // Python prints "Process NAME:" and the traceback, then exits 1.
        fprintf(stderr, "Process %s:\n%s: %s\n", pc__proc_current->name,
                pc__exception_name(raised), msg);
    }
    pc__proc_exit_function();
    pc__child_join_threads();
    pc_args_free(ci->pack);
    // Only the standard streams: other FILEs hold the parent's unflushed
    // data too after fork, and the parent writes that itself.
    fflush(stdout);
    fflush(stderr);
    _exit(code);
}

#if defined(__GNUC__) || defined(__clang__)
__attribute__((noreturn))
#endif
static void pc__child_from_fork(pc_process *p) {
    pc__child_info ci;
    memset(&ci, 0, sizeof ci);
    ci.target = p->target;
    ci.name = pc__strdup(p->name);
    ci.daemon = p->daemon;
    memcpy(ci.authkey, p->authkey, p->authkey_len);
    ci.authkey_len = p->authkey_len;
    ci.identity = p->identity;
    ci.identity_len = p->identity_len;
    ci.parent_pid = (long)getppid();
    ci.parent_name = pc__strdup(pc__proc_current->name);
    ci.method = (int)pc__proc_method;
    ci.method_fixed = pc__proc_method_fixed;
    ci.arg_kind = p->arg_kind;
    ci.arg = p->arg;
    ci.arg_size = p->arg_size;
    if (p->arg_kind == PC__ARG_PACK) {
        p->pack.pos = 0;
        ci.pack = pc__args_decode(&p->pack, p->pack_fds, p->pack_nfds);
        if (!ci.pack) {
            fprintf(stderr, "pyconc: child %s: %s\n", p->name, pc_last_error());
            _exit(1);
        }
    }
    pc__child_run(&ci);
}

// >>bootstrap
// A spawned or forkserver child reads one message on its bootstrap socket:
// a fixed header with the descriptors attached, then the body.
typedef struct pc__boot_header {
    uint32_t magic;
    uint32_t nfds;
    uint64_t body_len;
} pc__boot_header;

enum { PC__BOOT_RUN = 1, PC__BOOT_SERVER = 2 };

static void pc__boot_body_run(pc_process *p, const pc__funcref *ref, pc__buf *b) {
    pc_process *cur = pc__proc_current;
    pc__buf_u32(b, PC__BOOT_RUN);
    pc__funcref_put(b, ref, p->target != NULL);
    pc__buf_str(b, p->name);
    pc__buf_u8(b, (unsigned)p->daemon);
    pc__buf_blob(b, p->authkey, p->authkey_len);
    pc__buf_u32(b, (uint32_t)p->identity_len);
    for (size_t i = 0; i < p->identity_len; i++) pc__buf_u32(b, p->identity[i]);
    pc__buf_u64(b, (uint64_t)getpid());
    pc_lock_acquire(&cur->mu, PC_FOREVER);
    pc__buf_str(b, cur->name);
    pc_lock_release(&cur->mu);
    pc_lock_acquire(&pc__proc_lock, PC_FOREVER);
    pc__buf_u8(b, (unsigned)pc__proc_method);
    pc__buf_u8(b, (unsigned)pc__proc_method_fixed);
    pc_lock_release(&pc__proc_lock);
    pc__buf_u8(b, (unsigned)p->arg_kind);
    if (p->arg_kind == PC__ARG_BYTES) pc__buf_blob(b, p->arg, p->arg_size);
    if (p->arg_kind == PC__ARG_PACK) pc__buf_blob(b, p->pack.p, p->pack.len);
}

static int pc__boot_send(int sock, const pc__buf *body, const int *fds, size_t nfds) {
    pc__boot_header h;
    h.magic = PC__BOOT_MAGIC;
    h.nfds = (uint32_t)nfds;
    h.body_len = body->len;
    // Header and body go separately: on the forkserver's SOCK_SEQPACKET
    // channel each send is a record, and a short read would cut one.
    int rc = pc__send_fds(sock, &h, sizeof h, fds, nfds);
    if (!rc && body->len) rc = pc__proc_write_all(sock, body->p, body->len);
    return rc;
}

// Read the whole message; fds gets the descriptors (room for
// PC__ARGS_MAX_FDS).
static int pc__boot_recv(int sock, pc__buf *body, int *fds, size_t *nfds) {
    pc__boot_header h;
    *nfds = PC__ARGS_MAX_FDS;
    int rc = pc__recv_fds(sock, &h, sizeof h, fds, nfds);
    if (rc) return rc;
    if (h.magic != PC__BOOT_MAGIC || h.nfds != *nfds || h.body_len > ((uint64_t)1 << 40))
        return pc__error(PC_VALUE, "malformed bootstrap header");
    memset(body, 0, sizeof *body);
    body->p = (unsigned char *)pc__malloc((size_t)h.body_len);
    if (!body->p) return PC_NOMEM;
    body->len = body->cap = (size_t)h.body_len;
    return pc__os_read_all(sock, body->p, body->len, 0);
}

static int pc__boot_parse_run(pc__buf *b, int *fds, size_t nfds, pc__child_info *ci) {
    pc__funcref ref;
    size_t n;
    if (pc__funcref_get(b, &ref) && !b->bad && pc__funcref_resolve(&ref, &ci->target))
        return PC_VALUE;
    ci->name = pc__buf_get_str(b);
    ci->daemon = (int)pc__buf_get_u8(b);
    const void *key = pc__buf_get_blob(b, &n);
    if (!key || n == 0 || n > PC_AUTHKEY_MAX) return pc__error(PC_VALUE, "bad authkey");
    memcpy(ci->authkey, key, n);
    ci->authkey_len = n;
    ci->identity_len = pc__buf_get_u32(b);
    if (ci->identity_len > 4096) return pc__error(PC_VALUE, "bad identity");
    ci->identity = (uint32_t *)pc__calloc(ci->identity_len + 1, sizeof(uint32_t));
    if (!ci->identity) return PC_NOMEM;
    for (size_t i = 0; i < ci->identity_len; i++) ci->identity[i] = pc__buf_get_u32(b);
    ci->parent_pid = (long)pc__buf_get_u64(b);
    ci->parent_name = pc__buf_get_str(b);
    ci->method = (int)pc__buf_get_u8(b);
    ci->method_fixed = (int)pc__buf_get_u8(b);
    ci->arg_kind = (int)pc__buf_get_u8(b);
    if (ci->arg_kind == PC__ARG_BYTES) {
        const void *arg = pc__buf_get_blob(b, &ci->arg_size);
        ci->arg = arg ? pc__malloc(ci->arg_size) : NULL;
        if (ci->arg) memcpy(ci->arg, arg, ci->arg_size);
    } else if (ci->arg_kind == PC__ARG_PACK) {
        pc__buf pack;
        memset(&pack, 0, sizeof pack);
        pack.p = (unsigned char *)(uintptr_t)pc__buf_get_blob(b, &pack.len);
        if (pack.p) ci->pack = pc__args_decode(&pack, fds, nfds);
        if (!ci->pack) b->bad = 1;
    } else if (ci->arg_kind != PC__ARG_NONE) {
        b->bad = 1;
    }
    if (b->bad || !ci->name || !ci->parent_name) return pc__error(PC_VALUE, "malformed bootstrap");
    return PC_OK;
}

#if defined(__GNUC__) || defined(__clang__)
__attribute__((noreturn))
#endif
static void pc__forkserver_main(int chan, const unsigned char *key, size_t keylen);

// Run the child whose bootstrap socket is sock; never returns.
#if defined(__GNUC__) || defined(__clang__)
__attribute__((noreturn))
#endif
static void pc__child_from_socket(int sock) {
    pc__buf body;
    int fds[PC__ARGS_MAX_FDS];
    size_t nfds = 0;
    pc__child_info ci;
    memset(&ci, 0, sizeof ci);
    int rc = pc__boot_recv(sock, &body, fds, &nfds);
    if (rc == PC_EOF) _exit(1);                 // the parent gave up on us
    uint32_t kind = rc ? 0 : pc__buf_get_u32(&body);
    if (kind == PC__BOOT_SERVER) {
        size_t n;
        const void *key = pc__buf_get_blob(&body, &n);
        if (key && n >= 1 && n <= PC_AUTHKEY_MAX) {
            unsigned char k[PC_AUTHKEY_MAX];
            memcpy(k, key, n);
            pc__forkserver_main(sock, k, n);
        }
        rc = pc__error(PC_VALUE, "malformed forkserver bootstrap");
    } else if (kind == PC__BOOT_RUN) {
        close(sock);
        rc = pc__boot_parse_run(&body, fds, nfds, &ci);
    } else if (!rc) {
        rc = pc__error(PC_VALUE, "unknown bootstrap kind %u", (unsigned)kind);
    }
    if (rc) {
        fprintf(stderr, "pyconc: child bootstrap failed: %s\n", pc_last_error());
        _exit(1);
    }
    for (size_t i = 0; i < nfds; i++) if (fds[i] >= 0) close(fds[i]);   // unused
    pc__free(body.p);
    pc__child_run(&ci);
}

// >>spawn
// The environment of the child: ours plus PYCONC_PROCESS_FD=3.
static char **pc__spawn_env(void) {
    size_t n = 0, k = 0;
    while (environ && environ[n]) n++;
    char **env = (char **)pc__calloc(n + 2, sizeof(char *));
    if (!env) return NULL;
    for (size_t i = 0; i < n; i++)
        if (strncmp(environ[i], PC__ENV_FD "=", sizeof(PC__ENV_FD)) != 0) env[k++] = environ[i];
    env[k++] = (char *)(uintptr_t)(PC__ENV_FD "=3");
    env[k] = NULL;
    return env;
}

// Close in the child every descriptor from lo up that is not close-on-exec.
static int pc__spawn_close_from(posix_spawn_file_actions_t *fa, int lo) {
#if defined(__GLIBC__) && (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 34))
    return posix_spawn_file_actions_addclosefrom_np(fa, lo);
#else
    DIR *d = opendir("/proc/self/fd");
    if (!d) d = opendir("/dev/fd");
    if (d) {
        struct dirent *e;
        int rc = 0;
        while (!rc && (e = readdir(d))) {
            int fd = atoi(e->d_name);
            if (e->d_name[0] < '0' || e->d_name[0] > '9' || fd < lo || fd == dirfd(d)) continue;
            int fl = fcntl(fd, F_GETFD);
            if (fl >= 0 && !(fl & FD_CLOEXEC)) rc = posix_spawn_file_actions_addclose(fa, fd);
        }
        closedir(d);
        return rc;
    }
    long max = sysconf(_SC_OPEN_MAX);
    if (max < 0 || max > 4096) max = 4096;
    for (int fd = lo; fd < max; fd++) {
        int fl = fcntl(fd, F_GETFD);
        if (fl >= 0 && !(fl & FD_CLOEXEC)) {
            int rc = posix_spawn_file_actions_addclose(fa, fd);
            if (rc) return rc;
        }
    }
    return 0;
#endif
}

static const char *pc__spawn_exe(void) {
#if defined(__linux__)
    return "/proc/self/exe";
#else
    return pc__proc_argv0;
#endif
}

// posix_spawn the program itself with descriptors 0-2, boot_fd as 3 and
// (when >= 0) sentinel_w as 4, nothing else. Returns PC_OS with errno kept.
static int pc__spawn_self(int boot_fd, int sentinel_w, pid_t *out_pid) {
    posix_spawn_file_actions_t fa;
    char *argv[2];
    int rc = posix_spawn_file_actions_init(&fa);
    if (rc) { errno = rc; return pc__os_error("posix_spawn_file_actions_init"); }
    rc = posix_spawn_file_actions_adddup2(&fa, boot_fd, PC__BOOT_FD);
    if (!rc && sentinel_w >= 0) rc = posix_spawn_file_actions_adddup2(&fa, sentinel_w, PC__SENTINEL_FD);
    if (!rc) rc = pc__spawn_close_from(&fa, sentinel_w >= 0 ? PC__SENTINEL_FD + 1 : PC__BOOT_FD + 1);
    char **env = rc ? NULL : pc__spawn_env();
    if (!rc && !env) rc = ENOMEM;
    if (!rc) {
        argv[0] = pc__proc_argv0;
        argv[1] = NULL;
        rc = posix_spawn(out_pid, pc__spawn_exe(), &fa, NULL, argv, env);
    }
    pc__free(env);
    posix_spawn_file_actions_destroy(&fa);
    if (rc) { errno = rc; return pc__os_error("posix_spawn"); }
    return PC_OK;
}

// Kill and reap a child we could not finish starting: no zombie is left.
static void pc__proc_abandon(pid_t pid) {
    int st, saved = errno;
    kill(pid, SIGKILL);
    while (waitpid(pid, &st, 0) < 0 && errno == EINTR) {}
    errno = saved;
}

// Give p its sentinel: a pidfd, or the read end of the pipe whose write
// end only the child holds.
static int pc__proc_set_sentinel(pc_process *p, int pipe_r) {
    if (pipe_r >= 0) {
        p->sentinel = pipe_r;
        p->sentinel_kind = PC__S_PIPE;
        return PC_OK;
    }
    p->sentinel = pc__proc_pidfd_open(p->pid);
    if (p->sentinel < 0) return pc__os_error("pidfd_open");
    p->sentinel_kind = PC__S_PIDFD;
    return PC_OK;
}

static int pc__launch_spawn(pc_process *p, const pc__funcref *ref) {
    int sv[2] = {-1, -1}, sp[2] = {-1, -1}, rc;
    pid_t pid = 0;
    pc__buf body;
    memset(&body, 0, sizeof body);
    pc__boot_body_run(p, ref, &body);
    if (body.bad) { rc = PC_NOMEM; goto out; }
    if (pc__os_socketpair(sv)) { rc = pc__os_error("socketpair"); goto out; }
    if (!pc__proc_have_pidfd() && pc__os_pipe(sp)) { rc = pc__os_error("pipe"); goto out; }
    if ((sv[1] = pc__proc_move_high(sv[1])) < 0 ||
        (sp[1] >= 0 && (sp[1] = pc__proc_move_high(sp[1])) < 0)) {
        rc = pc__os_error("fcntl");
        goto out;
    }
    rc = pc__spawn_self(sv[1], sp[1], &pid);
    if (rc) goto out;
    p->pid = pid;
    pc__os_close(sv[1]);
    pc__os_close(sp[1]);
    sv[1] = sp[1] = -1;
    if ((rc = pc__proc_set_sentinel(p, sp[0]))) {
        pc__proc_abandon(p->pid);
        p->pid = 0;
        goto out;
    }
    sp[0] = -1;
    // A child that died before reading its bootstrap shows in its exit code.
    pc__boot_send(sv[0], &body, p->pack_fds, p->pack_nfds);
out:
    pc__os_close(sv[0]);
    pc__os_close(sv[1]);
    pc__os_close(sp[0]);
    pc__os_close(sp[1]);
    pc__free(body.p);
    return rc;
}

// >>fork
static int pc__launch_fork(pc_process *p) {
    int sp[2] = {-1, -1};
    if (!pc__proc_have_pidfd() && pc__os_pipe(sp)) return pc__os_error("pipe");
    fflush(stdout);             // or the child would print our buffered output again
    fflush(stderr);
    pid_t pid = fork();
    if (pid == 0) {
        if (sp[0] >= 0) close(sp[0]);
        pc__child_from_fork(p);
    }
    if (pid < 0) {
        int rc = pc__os_error("fork");
        pc__os_close(sp[0]);
        pc__os_close(sp[1]);
        return rc;
    }
    p->pid = pid;
    pc__os_close(sp[1]);
    int rc = pc__proc_set_sentinel(p, sp[0]);
    if (rc) {
        pc__proc_abandon(pid);
        p->pid = 0;
    }
    return rc;
}

// >>forkserver
// Requests are records on a SOCK_SEQPACKET socketpair, so the requests of
// several threads (or of forked children sharing the socket) never mix.
// Each carries the authkey and two fresh sockets: the status socket (the
// server writes the child's pid, later its wait status) and the bootstrap
// socket (the child reads its bootstrap there).
typedef struct pc__fs_request {
    uint32_t magic;
    uint32_t keylen;
    unsigned char key[32];
} pc__fs_request;

static int pc__fs_sock = -1;
static pid_t pc__fs_pid;
static unsigned char pc__fs_key[32];

static int pc__fs_start_server(void) {
    int sv[2] = {-1, -1}, rc;
    pc__buf body;
    memset(&body, 0, sizeof body);
    pc__proc_random(pc__fs_key, sizeof pc__fs_key);
    pc__buf_u32(&body, PC__BOOT_SERVER);
    pc__buf_blob(&body, pc__fs_key, sizeof pc__fs_key);
    if (body.bad) { rc = PC_NOMEM; goto out; }
#ifdef SOCK_CLOEXEC
    if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0) {
#else
    if (socketpair(AF_UNIX, SOCK_SEQPACKET, 0, sv) < 0) {
#endif
        rc = pc__os_error("socketpair");
        goto out;
    }
    fcntl(sv[0], F_SETFD, FD_CLOEXEC);
    if ((sv[1] = pc__proc_move_high(sv[1])) < 0) { rc = pc__os_error("fcntl"); goto out; }
    if ((rc = pc__spawn_self(sv[1], -1, &pc__fs_pid))) goto out;
    if ((rc = pc__boot_send(sv[0], &body, NULL, 0))) { pc__proc_abandon(pc__fs_pid); goto out; }
    pc__fs_sock = sv[0];
    sv[0] = -1;
out:
    pc__os_close(sv[0]);
    pc__os_close(sv[1]);
    pc__free(body.p);
    return rc;
}

// Send one request; a server that died is reaped and started again once.
static int pc__fs_request_child(int status_fd, int boot_fd) {
    pc__fs_request req;
    int fds[2], rc = PC_OK;
    memset(&req, 0, sizeof req);
    req.magic = PC__FS_MAGIC;
    req.keylen = sizeof pc__fs_key;
    fds[0] = status_fd;
    fds[1] = boot_fd;
    pc_lock_acquire(&pc__fs_lock, PC_FOREVER);
    for (int attempt = 0; attempt < 2; attempt++) {
        if (pc__fs_sock < 0 && (rc = pc__fs_start_server())) break;
        memcpy(req.key, pc__fs_key, sizeof req.key);
        rc = pc__send_fds(pc__fs_sock, &req, sizeof req, fds, 2);
        if (rc != PC_OS || (errno != EPIPE && errno != ECONNRESET && errno != ENOTCONN)) break;
        int st;
        pc__os_close(pc__fs_sock);
        pc__fs_sock = -1;
        waitpid(pc__fs_pid, &st, WNOHANG);
    }
    pc_lock_release(&pc__fs_lock);
    return rc;
}

static int pc__launch_forkserver(pc_process *p, const pc__funcref *ref) {
    int st[2] = {-1, -1}, bt[2] = {-1, -1}, rc;
    int64_t pid = 0;
    pc__buf body;
    memset(&body, 0, sizeof body);
    pc__boot_body_run(p, ref, &body);
    if (body.bad) { rc = PC_NOMEM; goto out; }
    if (pc__os_socketpair(st) || pc__os_socketpair(bt)) { rc = pc__os_error("socketpair"); goto out; }
    if ((rc = pc__fs_request_child(st[1], bt[1]))) goto out;
    pc__os_close(st[1]);
    pc__os_close(bt[1]);
    st[1] = bt[1] = -1;
    rc = pc__os_read_all(st[0], &pid, sizeof pid, 1);
    if (rc == PC_EOF) { errno = ECONNREFUSED; rc = pc__os_error("forkserver refused the request"); }
    if (rc) goto out;
    if (pid <= 0) { errno = (int)-pid; rc = pc__os_error("fork in forkserver"); goto out; }
    p->pid = (pid_t)pid;
    p->sentinel = st[0];
    p->sentinel_kind = PC__S_SERVER;
    st[0] = -1;
    pc__boot_send(bt[0], &body, p->pack_fds, p->pack_nfds);
out:
    pc__os_close(st[0]);
    pc__os_close(st[1]);
    pc__os_close(bt[0]);
    pc__os_close(bt[1]);
    pc__free(body.p);
    return rc;
}

// The server: one thread, a self-pipe for SIGCHLD, a table of live
// children and their status sockets.
typedef struct pc__fs_child { pid_t pid; int status_fd; } pc__fs_child;
static int pc__fs_wake[2] = {-1, -1};

static void pc__fs_on_sigchld(int sig) {
    int saved = errno;
    char c = 0;
    (void)sig;
    if (write(pc__fs_wake[1], &c, 1) < 0) {}    // full pipe: a wake-up is pending anyway
    errno = saved;
}

static int pc__fs_key_ok(const pc__fs_request *r, const unsigned char *key, size_t keylen) {
    unsigned diff = r->magic != PC__FS_MAGIC || r->keylen != keylen || keylen != sizeof r->key;
    for (size_t i = 0; i < sizeof r->key; i++) diff |= (unsigned)(r->key[i] ^ key[i % keylen]);
    return diff == 0;           // compared in constant time
}

static void pc__fs_reap(pc__fs_child *kids, size_t *n) {
    int st;
    pid_t pid;
    while ((pid = waitpid(-1, &st, WNOHANG)) > 0) {
        for (size_t i = 0; i < *n; i++) {
            if (kids[i].pid != pid) continue;
            int32_t s = (int32_t)st;
            pc__proc_write_all(kids[i].status_fd, &s, sizeof s);
            close(kids[i].status_fd);
            kids[i] = kids[--*n];
            break;
        }
    }
}

#if defined(__GNUC__) || defined(__clang__)
__attribute__((noreturn))
#endif
static void pc__fs_become_child(int chan, pc__fs_child *kids, size_t n, int status_fd, int boot_fd) {
    signal(SIGCHLD, SIG_DFL);
    signal(SIGINT, SIG_DFL);
    close(chan);
    close(pc__fs_wake[0]);
    close(pc__fs_wake[1]);
    close(status_fd);
    for (size_t i = 0; i < n; i++) close(kids[i].status_fd);
    if (boot_fd != PC__BOOT_FD) {
        dup2(boot_fd, PC__BOOT_FD);
        close(boot_fd);
    }
    pc__proc_close_from(PC__BOOT_FD + 1, -1);
    pc__child_from_socket(PC__BOOT_FD);
}

static void pc__fs_serve_one(int chan, const unsigned char *key, size_t keylen,
                             pc__fs_child **kids, size_t *n, size_t *cap) {
    pc__fs_request req;
    int fds[2] = {-1, -1};
    size_t nfds = 2;
    int rc = pc__recv_fds(chan, &req, sizeof req, fds, &nfds);
    if (rc == PC_EOF) _exit(0);                 // every client is gone
    if (rc) return;
    if (nfds != 2 || !pc__fs_key_ok(&req, key, keylen)) {   // not one of ours: drop it
        for (size_t i = 0; i < nfds; i++) close(fds[i]);
        return;
    }
    if (*n == *cap) {
        size_t ncap = *cap ? *cap * 2 : 16;
        pc__fs_child *nk = (pc__fs_child *)realloc(*kids, ncap * sizeof **kids);
        if (!nk) { close(fds[0]); close(fds[1]); return; }
        *kids = nk;
        *cap = ncap;
    }
    pid_t pid = fork();
    if (pid == 0) pc__fs_become_child(chan, *kids, *n, fds[0], fds[1]);
    int64_t reply = pid < 0 ? -(int64_t)errno : (int64_t)pid;
    pc__proc_write_all(fds[0], &reply, sizeof reply);
    close(fds[1]);
    if (pid < 0) { close(fds[0]); return; }
    (*kids)[*n].pid = pid;
    (*kids)[(*n)++].status_fd = fds[0];
}

static void pc__forkserver_main(int chan, const unsigned char *key, size_t keylen) {
    pc__fs_child *kids = NULL;
    size_t n = 0, cap = 0;
    struct sigaction sa;
    if (pc__os_pipe(pc__fs_wake) < 0) _exit(1);
    fcntl(pc__fs_wake[1], F_SETFL, O_NONBLOCK);
    fcntl(pc__fs_wake[0], F_SETFL, O_NONBLOCK);
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = pc__fs_on_sigchld;
    sa.sa_flags = SA_RESTART | SA_NOCLDSTOP;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGCHLD, &sa, NULL);
    signal(SIGINT, SIG_IGN);    // ^C is for the program's processes, not for us
    for (;;) {
        struct pollfd pf[2];
        pf[0].fd = chan;
        pf[0].events = POLLIN;
        pf[1].fd = pc__fs_wake[0];
        pf[1].events = POLLIN;
        pf[0].revents = pf[1].revents = 0;
        int r = poll(pf, 2, -1);
        if (r < 0 && errno != EINTR) _exit(1);
        if (pf[1].revents) {
            char drain[64];
            while (read(pc__fs_wake[0], drain, sizeof drain) > 0) {}
        }
        pc__fs_reap(kids, &n);
        if (pf[0].revents) pc__fs_serve_one(chan, key, keylen, &kids, &n, &cap);
    }
}

// >>start
static int pc__proc_exitcode_of(int status) {
    if (WIFEXITED(status)) return WEXITSTATUS(status);
    if (WIFSIGNALED(status)) return -WTERMSIG(status);
    return 255;
}

// Collect the exit status if the child has ended. Returns 1 when this
// call reaped it (the caller then drops it from the registry).
static int pc__proc_poll(pc_process *p) {
    int just = 0, st = 0;
    pc_lock_acquire(&p->mu, PC_FOREVER);
    if (!p->reaped && p->started && p->sentinel >= 0) {
        if (p->sentinel_kind == PC__S_SERVER) {
            if (pc__proc_readable_now(p->sentinel)) {
                int32_t s;
                // No status means the server died: 255, as Python.
                p->exitcode = pc__os_read_all(p->sentinel, &s, sizeof s, 1) ? 255
                                                                           : pc__proc_exitcode_of(s);
                just = p->reaped = 1;
            }
        } else {
            // A pipe sentinel becomes readable an instant before the child
            // can be waited for: then wait for it for real.
            int block = p->sentinel_kind == PC__S_PIPE && pc__proc_readable_now(p->sentinel);
            pid_t r;
            while ((r = waitpid(p->pid, &st, block ? 0 : WNOHANG)) < 0 && errno == EINTR) {}
            if (r == p->pid) p->exitcode = pc__proc_exitcode_of(st);
            else if (r < 0) p->exitcode = 255;  // someone else waited for it (ECHILD)
            if (r != 0) just = p->reaped = 1;
        }
    }
    pc_lock_release(&p->mu);
    return just;
}

static void pc__proc_unregister(pc_process *p) {
    int linked = 0;
    pc_lock_acquire(&pc__proc_lock, PC_FOREVER);
    if (p->reg_prev || p->reg_next || pc__proc_children == p) {
        pc__registry_unlink(p);
        linked = 1;
    }
    pc_lock_release(&pc__proc_lock);
    if (linked) pc__proc_release(p);
}

static int pc__proc_reap(pc_process *p) {
    if (pc__proc_poll(p)) pc__proc_unregister(p);
    return __atomic_load_n(&p->reaped, __ATOMIC_ACQUIRE);
}

// New references to this process's registered children (*out, malloc'd).
static size_t pc__proc_snapshot(pc_process ***out) {
    size_t n = 0;
    pid_t me = getpid();
    *out = NULL;
    pc_lock_acquire(&pc__proc_lock, PC_FOREVER);
    for (pc_process *c = pc__proc_children; c; c = c->reg_next) n += c->owner == me;
    pc_process **arr = n ? (pc_process **)pc__calloc(n, sizeof *arr) : NULL;
    size_t k = 0;
    for (pc_process *c = pc__proc_children; arr && c; c = c->reg_next)
        if (c->owner == me) arr[k++] = pc_process_retain(c);
    pc_lock_release(&pc__proc_lock);
    *out = arr;
    return k;
}

static void pc__proc_reap_finished(void) {
    pc_process **kids;
    size_t n = pc__proc_snapshot(&kids);
    for (size_t i = 0; i < n; i++) {
        pc__proc_reap(kids[i]);
        pc__proc_release(kids[i]);
    }
    pc__free(kids);
}

// Python's util._exit_function: terminate daemonic children, then join all.
static void pc__proc_exit_function(void) {
    pc_process **kids;
    size_t n = pc__proc_snapshot(&kids);
    for (size_t i = 0; i < n; i++)
        if (kids[i]->daemon) pc_process_terminate(kids[i]);
    for (size_t i = 0; i < n; i++) {
        pc_process_join(kids[i], PC_FOREVER);
        pc__proc_release(kids[i]);
    }
    pc__free(kids);
}

static int pc__proc_check_started(const pc_process *p, const char *what) {
    if (!p) return pc__error(PC_VALUE, "%s: process is NULL", what);
    if (p->closed) return pc__error(PC_VALUE, "%s: process object is closed", what);
    if (p->kind != PC__P_CHILD) return pc__error(PC_RUNTIME, "%s: not a child process", what);
    if (!__atomic_load_n(&p->started, __ATOMIC_ACQUIRE))
        return pc__error(PC_RUNTIME, "%s: process has not been started", what);
    return PC_OK;
}

static int pc__proc_launch(pc_process *p, pc_start_method m) {
    pc__funcref ref;
    if (m != PC_START_FORK) {
        if (p->arg_kind == PC__ARG_POINTER)
            return pc__error(PC_VALUE, "arg_size 0 passes a pointer, which only the fork "
                                       "start method can do; give arg_size or use args");
        int rc = pc__funcref_locate(p->target, &ref);
        if (rc) return rc;
    }
    switch (m) {
    case PC_START_FORK: return pc__launch_fork(p);
    case PC_START_SPAWN: return pc__launch_spawn(p, &ref);
    case PC_START_FORKSERVER: return pc__launch_forkserver(p, &ref);
    default: return pc__error(PC_VALUE, "unknown start method %d", (int)m);
    }
}

PYCONC_API int pc_process_start(pc_process *p) {
    if (!p) return pc__error(PC_VALUE, "process is NULL");
    if (p->kind != PC__P_CHILD) return pc__error(PC_RUNTIME, "cannot start the current or parent process");
    if (p->closed) return pc__error(PC_VALUE, "process object is closed");
    if (__atomic_exchange_n(&p->owner, getpid(), __ATOMIC_ACQ_REL) != 0)
        return pc__error(PC_RUNTIME, "cannot start a process twice");
    if (pc__proc_current->daemon) {
        p->owner = 0;
        return pc__error(PC_RUNTIME, "daemonic processes are not allowed to have children");
    }
    pc_start_method m = pc__resolve_method(p->context);
    pc__proc_reap_finished();   // Python's _cleanup()
    int rc = pc__proc_launch(p, m);
    if (rc) {
        __atomic_store_n(&p->owner, 0, __ATOMIC_RELEASE);
        return rc;
    }
    p->method = m;
    for (size_t i = 0; i < p->pack_nfds; i++) pc__os_close(p->pack_fds[i]);  // the child has them
    p->pack_nfds = 0;
    pc_lock_acquire(&pc__proc_lock, PC_FOREVER);
    pc__registry_link(pc_process_retain(p));
    int first = !pc__proc_atexit_done;
    pc__proc_atexit_done = 1;
    pc_lock_release(&pc__proc_lock);
    __atomic_store_n(&p->started, 1, __ATOMIC_RELEASE);
    if (first) atexit(pc__proc_exit_function);
    return PC_OK;
}

PYCONC_API int pc_process_join(pc_process *p, double timeout) {
    double deadline = 0;
    int rc = pc__proc_check_started(p, "join");
    if (rc) return rc;
    if ((rc = pc__deadline(timeout, &deadline))) return rc;
    if (p->owner != getpid()) return pc__error(PC_RUNTIME, "can only join a child process");
    while (!pc__proc_reap(p)) {
        if (deadline == INFINITY && p->sentinel_kind != PC__S_SERVER) {
            // Sleep in the kernel until the child ends, without reaping it
            // (WNOWAIT): one wake-up fewer than poll() then waitpid().
            siginfo_t si;
            if (waitid(P_PID, (id_t)p->pid, &si, WEXITED | WNOWAIT) == 0 || errno == EINTR)
                continue;
        }
        rc = pc__proc_wait_readable(p->sentinel, deadline);
        if (rc == PC_TIMEOUT) return pc__proc_reap(p) ? PC_OK : pc__error(PC_TIMEOUT, "join timed out");
        if (rc) return rc;
    }
    return PC_OK;
}

PYCONC_API int pc_process_is_alive(pc_process *p) {
    if (!p) return 0;
    if (p->kind == PC__P_CURRENT) return 1;
    if (p->kind == PC__P_PARENT) {
        if (p->sentinel >= 0) return !pc__proc_readable_now(p->sentinel);
        return kill(p->pid, 0) == 0 || errno == EPERM;
    }
    if (p->closed || !__atomic_load_n(&p->started, __ATOMIC_ACQUIRE) || p->owner != getpid())
        return 0;
    return !pc__proc_reap(p);
}

PYCONC_API int pc_process_exitcode(pc_process *p) {
    if (!p || p->closed) {
        pc__error(PC_VALUE, "exitcode: process is NULL or closed");
        return PC_EXITCODE_NONE;
    }
    if (p->kind != PC__P_CHILD || !__atomic_load_n(&p->started, __ATOMIC_ACQUIRE))
        return PC_EXITCODE_NONE;
    if (p->owner == getpid()) pc__proc_reap(p);
    return __atomic_load_n(&p->reaped, __ATOMIC_ACQUIRE) ? p->exitcode : PC_EXITCODE_NONE;
}

PYCONC_API long pc_process_pid(const pc_process *p) {
    if (!p) return 0;
    if (p->kind == PC__P_CURRENT) return (long)getpid();
    return (long)p->pid;
}

PYCONC_API int pc_process_sentinel(const pc_process *p) {
    if (!p || p->closed || (p->kind == PC__P_CHILD && !p->started)) {
        pc__error(PC_VALUE, "sentinel: process is NULL, closed or not started");
        return -1;
    }
    return p->sentinel;
}

static int pc__proc_send(pc_process *p, int sig, const char *what) {
    int rc = pc__proc_check_started(p, what);
    if (rc) return rc;
    pc_lock_acquire(&p->mu, PC_FOREVER);
    // Holding mu keeps the child from being reaped meanwhile, so its pid
    // cannot be recycled under us (forkserver children: the server reaps).
    if (!p->reaped) {
        int pidfd = p->sentinel_kind == PC__S_PIDFD ? p->sentinel : -1;
        if (pc__proc_signal(p->pid, pidfd, sig) < 0 && errno != ESRCH) rc = pc__os_error(what);
    }
    pc_lock_release(&p->mu);
    return rc;
}

PYCONC_API int pc_process_terminate(pc_process *p) { return pc__proc_send(p, SIGTERM, "terminate"); }
PYCONC_API int pc_process_kill(pc_process *p) { return pc__proc_send(p, SIGKILL, "kill"); }
PYCONC_API int pc_process_interrupt(pc_process *p) { return pc__proc_send(p, SIGINT, "interrupt"); }

PYCONC_API int pc_process_close(pc_process *p) {
    if (!p) return pc__error(PC_VALUE, "close: process is NULL");
    if (p->kind != PC__P_CHILD) return pc__error(PC_VALUE, "close: not a child process");
    if (p->closed) return PC_OK;
    if (p->started && p->owner == getpid()) pc__proc_reap(p);
    pc_lock_acquire(&p->mu, PC_FOREVER);
    int running = p->started && !p->reaped;
    if (!running) {
        if (p->sentinel >= 0) pc__os_close(p->sentinel);
        p->sentinel = -1;
        p->closed = 1;
    }
    pc_lock_release(&p->mu);
    if (running)
        return pc__error(PC_VALUE, "Cannot close a process while it is still running. "
                                   "You should first call join() or terminate().");
    pc__proc_unregister(p);
    return PC_OK;
}

// >>attributes
PYCONC_API const char *pc_process_name(const pc_process *p) { return p ? p->name : ""; }

PYCONC_API int pc_process_set_name(pc_process *p, const char *name) {
    if (!p || !name) return pc__error(PC_VALUE, "set_name: process or name is NULL");
    char *copy = pc__strdup(name);
    if (!copy) return PC_NOMEM;
    pc_lock_acquire(&p->mu, PC_FOREVER);
    char *old = p->name;
    p->name = copy;
    pc_lock_release(&p->mu);
    pc__free(old);
    return PC_OK;
}

PYCONC_API int pc_process_daemon(const pc_process *p) { return p ? p->daemon : 0; }

PYCONC_API int pc_process_set_daemon(pc_process *p, int daemon) {
    if (!p) return pc__error(PC_VALUE, "set_daemon: process is NULL");
    if (p->kind == PC__P_CHILD && (p->owner || p->started))
        return pc__error(PC_RUNTIME, "process has already started");
    p->daemon = daemon != 0;
    return PC_OK;
}

PYCONC_API const unsigned char *pc_process_authkey(const pc_process *p, size_t *out_len) {
    if (out_len) *out_len = p ? p->authkey_len : 0;
    return p ? p->authkey : NULL;
}

PYCONC_API int pc_process_set_authkey(pc_process *p, const void *key, size_t len) {
    if (!p || !key || len == 0 || len > PC_AUTHKEY_MAX)
        return pc__error(PC_VALUE, "authkey must be 1 to %d bytes", PC_AUTHKEY_MAX);
    pc_lock_acquire(&p->mu, PC_FOREVER);
    memcpy(p->authkey, key, len);
    p->authkey_len = len;
    pc_lock_release(&p->mu);
    return PC_OK;
}

PYCONC_API pc_start_method pc_process_start_method(const pc_process *p) {
    if (!p) return PC_START_DEFAULT;
    return p->started ? p->method : pc__resolve_method(p->context);
}

// >>module
PYCONC_API pc_process *pc_process_current(void) {
    pc__proc_init();
    return pc__proc_current;
}

PYCONC_API pc_process *pc_process_parent(void) {
    pc__proc_init();
    pc_process *par = pc__proc_parent;
    // The parent's sentinel is opened on first use, so a child that never
    // asks holds no descriptor for it.
    if (par) {
        pc_lock_acquire(&par->mu, PC_FOREVER);
        if (par->sentinel < 0 && pc__proc_have_pidfd()) {
            par->sentinel = pc__proc_pidfd_open(par->pid);
            par->sentinel_kind = PC__S_PIDFD;
        }
        pc_lock_release(&par->mu);
    }
    return par;
}

PYCONC_API size_t pc_process_active_children(pc_process **out, size_t cap) {
    pc_process **kids;
    pc__proc_init();
    pc__proc_reap_finished();
    size_t n = pc__proc_snapshot(&kids), alive = 0;
    for (size_t i = 0; i < n; i++) {
        if (pc__proc_reap(kids[i])) { pc__proc_release(kids[i]); continue; }
        if (out && alive < cap) out[alive] = kids[i];
        else pc__proc_release(kids[i]);
        alive++;
    }
    pc__free(kids);
    return alive;
}

// >>bootstrap-entry
PYCONC_API void pc_process_bootstrap(int argc, char **argv) {
    if (argc > 0 && argv && argv[0]) {
        const char *base = strrchr(argv[0], '/');
        snprintf(pc__proc_argv0, sizeof pc__proc_argv0, "%s", base ? base + 1 : argv[0]);
    }
    const char *v = getenv(PC__ENV_FD);
    if (!v || strcmp(v, "3") != 0) return;
    unsetenv(PC__ENV_FD);       // our own children must not mistake themselves for one
    pc__proc_init();
    pc__child_from_socket(PC__BOOT_FD);
}

#if !defined(PYCONC_PROCESS_NO_CONSTRUCTOR) && (defined(__GNUC__) || defined(__clang__))
__attribute__((constructor)) static void pc__proc_constructor(void) { pc_process_bootstrap(0, NULL); }
#endif

#endif // PYCONC_PROCESS_IMPLEMENTATION

/* Licence: MIT or public domain, as pyconc.h (see the end of that file). */

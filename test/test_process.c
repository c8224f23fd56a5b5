/* Tests of pyconc_process.h: Process under the fork, spawn and forkserver
   start methods, the argument pack, the module functions. This program is
   also the image that spawned and forkserver children run: the header's
   constructor takes over before main in a child. Children report through
   their exit code or a connection; the checks run in the parent. */
#define PYCONC_IMPLEMENTATION
#define PYCONC_PROCESS_IMPLEMENTATION
#include "pyconc_process.h"

#include <dirent.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <math.h>
#include <sched.h>
#include <signal.h>
#include <linux/sockios.h>
#include <sys/ioctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/wait.h>
#include <unistd.h>

#include "pc_test.h"
#include "pc_proc_test.h"


static const pc_start_method methods[3] = {PC_START_FORK, PC_START_SPAWN, PC_START_FORKSERVER};

// >>helpers
static pc_process *make(pc_start_method m, pc_target_fn fn, const pc_args *args) {
    return proc_new(m, fn, args, PC_DAEMON_INHERIT);
}

// Start, join (10 s at most) and return the exit code; frees p.
static int run_to_end(pc_process *p) {
    CHECK_OK(pc_process_start(p));
    CHECK_OK(pc_process_join(p, 10));
    int code = pc_process_exitcode(p);
    pc_process_free(p);
    return code;
}

static pc_args *args_of_str(const char *s) {
    pc_args *a = pc_args_new();
    CHECK(a != NULL);
    CHECK_OK(pc_args_add_str(a, s));
    return a;
}

// >>targets
static int t_zero(void *arg) { (void)arg; return 0; }
static int t_seven(void *arg) { (void)arg; return 7; }
static int t_minus_one(void *arg) { (void)arg; return -1; }
static int t_raise(void *arg) { (void)arg; return pc_raise(PC_VALUE, "bad input %d", 42); }
static int t_sleep(void *arg) { (void)arg; pc_sleep(30); return 0; }

static int t_segv(void *arg) {
    (void)arg;
    signal(SIGSEGV, SIG_DFL);   // sanitizers catch it otherwise
    volatile uintptr_t bad = 8;
    *(volatile int *)bad = 1;
    raise(SIGSEGV);
    return 0;
}

// Report the descriptors >= 3 this child holds (its exit code).
static int t_count_fds(void *arg) { (void)arg; return count_high_fds(); }

typedef struct blob { int a; double b; char s[16]; } blob;
static int t_blob(void *arg) {
    const blob *b = (const blob *)arg;
    return b->a == 12345 && b->b == 2.5 && strcmp(b->s, "copied") == 0 ? 0 : 3;
}

static int t_pointer(void *arg) { return *(int *)arg; }

// Check every kind of item; answer over the connection (item 5).
static int t_pack(void *arg) {
    pc_args *a = (pc_args *)arg;
    int64_t i;
    double d;
    const void *bytes;
    size_t n;
    const char *s;
    pc_connection *c;
    if (pc_args_len(a) != 6) return 10;
    if (pc_args_get_int(a, 0, &i) || i != -1234567890123LL) return 11;
    if (pc_args_get_double(a, 1, &d) || d != 0.125) return 12;
    if (pc_args_get_bytes(a, 2, &bytes, &n) || n != 5 || memcmp(bytes, "a\0b\0c", 5) != 0)
        return 13;
    if (pc_args_get_str(a, 3, &s) || strcmp(s, "hello bob") != 0) return 14;
    if (pc_args_get_bytes(a, 4, &bytes, &n) || n != 0) return 15;
    if (pc_args_get_connection(a, 5, &c)) return 16;
    if (pc_args_get_int(a, 3, &i) != PC_VALUE || pc_args_get_int(a, 6, &i) != PC_VALUE) return 17;
    char reply[64];
    int len = snprintf(reply, sizeof reply, "ok %d", (int)getpid());
    return pc_connection_send_bytes(c, reply, 0, (size_t)len) ? 18 : 0;
}

// Item 0: the expected name, 1: parent pid, 2: parent authkey, 3: daemon flag.
static int t_identity(void *arg) {
    pc_args *a = (pc_args *)arg;
    const char *name;
    int64_t ppid, daemon;
    const void *key;
    size_t keylen, mykeylen;
    pc_process *cur = pc_process_current(), *par = pc_process_parent();
    if (pc_args_get_str(a, 0, &name) || strcmp(pc_process_name(cur), name) != 0) return 20;
    if (pc_args_get_int(a, 1, &ppid) || !par || pc_process_pid(par) != ppid) return 21;
    if (strcmp(pc_process_name(par), "MainProcess") != 0) return 22;
    if (!pc_process_is_alive(par)) return 23;
    if (pc_process_pid(cur) != (long)getpid()) return 24;
    const unsigned char *mykey = pc_process_authkey(cur, &mykeylen);
    if (pc_args_get_bytes(a, 2, &key, &keylen) || keylen != mykeylen ||
        memcmp(key, mykey, keylen) != 0)
        return 25;
    if (pc_args_get_int(a, 3, &daemon) || pc_process_daemon(cur) != daemon) return 26;
    if (!pc_process_is_alive(cur)) return 27;
    return 0;
}

// Item 0: the parent's start time as /proc gave it. The child gets it with
// its parent's pid; a pid the parent left may name another process, and
// only the start time tells them apart. Here the recorded start is made
// another's (as if the pid had been taken over): the parent must look gone,
// its sentinel ready at once.
static int t_parent_start(void *arg) {
    int64_t start;
    if (pc_args_get_int((pc_args *)arg, 0, &start)) return 70;
    pc_process *par = pc__p_proc_parent;        // its sentinel not opened yet
    if (!par || par->sentinel >= 0) return 71;
    if (start == 0 || par->pid_start != (uint64_t)start) return 72;
    par->pid_start = (uint64_t)start + 1;
    if (pc_process_parent() != par) return 73;
    if (pc_process_is_alive(par)) return 74;
    int fd = pc_process_sentinel(par);
    if (fd < 0 || !pc__p_os_readable_now(fd)) return 75;
    par->pid_start = (uint64_t)start;          // without a sentinel: the pid and start
    pc__p_os_close(par->sentinel);
    par->sentinel = -1;
    if (!pc_process_is_alive(par)) return 76;
    par->pid_start = (uint64_t)start + 1;
    return pc_process_is_alive(par) ? 77 : 0;
}

static int t_grandchild_name(void *arg) {
    const char *want;
    if (pc_args_get_str((pc_args *)arg, 0, &want)) return 30;
    return strcmp(pc_process_name(pc_process_current()), want) == 0 ? 0 : 31;
}

// A child that starts a child with the same method; exit code = the
// grandchild's (its name must be ours + ":1").
static int t_nested(void *arg) {
    char want[128];
    (void)arg;
    pc_process *cur = pc_process_current();
    snprintf(want, sizeof want, "%s:1", pc_process_name(cur));
    pc_args *a = pc_args_new();
    pc_args_add_str(a, want);
    pc_process_desc d;
    memset(&d, 0, sizeof d);
    d.target = t_grandchild_name;
    d.args = a;
    d.context = pc_get_context((pc_start_method)(intptr_t)0);
    pc_process *p = pc_process_new(&d);
    pc_args_free(a);
    if (!p || pc_process_start(p) || pc_process_join(p, 10)) return 40;
    int code = pc_process_exitcode(p);
    pc_process_free(p);
    return code;
}

static int t_daemon_starts(void *arg) {
    (void)arg;
    pc_process *p = pc_process_new(NULL);
    if (!p) return 50;
    int rc = pc_process_start(p);
    pc_process_free(p);
    return rc == PC_RUNTIME ? 0 : 51;
}

// Wait for the parent's word (or its end) on connection 0.
static int t_wait_word(void *arg) {
    pc_connection *c = NULL;
    void *buf;
    size_t n;
    if (pc_args_get_connection((pc_args *)arg, 0, &c)) return 60;
    int rc = pc_connection_recv_bytes(c, 0, &buf, &n);
    if (rc == PC_OK) pc_connection_bytes_free(buf);
    return rc == PC_OK ? 0 : 61;
}

// Send "done" on connection 0 after a short nap.
static int t_nap_then_done(void *arg) {
    pc_connection *c = NULL;
    if (pc_args_get_connection((pc_args *)arg, 0, &c)) return 70;
    pc_sleep(0.2);
    return pc_connection_send_bytes(c, "done", 0, 4) ? 71 : 0;
}

// >>bodies
static void body_basics(pc_start_method m) {
    pc_process *p = make(m, t_zero, NULL);
    CHECK(strncmp(pc_process_name(p), "Process-", 8) == 0);
    CHECK_EQ(pc_process_pid(p), 0);
    CHECK_EQ(pc_process_exitcode(p), PC_EXITCODE_NONE);
    CHECK_EQ(pc_process_is_alive(p), 0);
    CHECK_EQ(pc_process_sentinel(p), -1);
    CHECK_RC(pc_process_join(p, 1), PC_RUNTIME);
    CHECK_EQ(pc_process_daemon(p), 0);
    CHECK_EQ(pc_process_start_method(p), m);
    CHECK_OK(pc_process_start(p));
    CHECK(pc_process_pid(p) > 0);
    CHECK(pc_process_sentinel(p) >= 0);
    CHECK_RC(pc_process_start(p), PC_RUNTIME);
    CHECK_RC(pc_process_set_daemon(p, 1), PC_RUNTIME);
    CHECK_OK(pc_process_join(p, 10));
    CHECK_OK(pc_process_join(p, 10));   // again: nothing to wait for
    CHECK_EQ(pc_process_exitcode(p), 0);
    CHECK_EQ(pc_process_is_alive(p), 0);
    CHECK_EQ(pc_process_start_method(p), m);
    pc_process_free(p);

    // A name given in the desc, and a NULL target.
    pc_process_desc d;
    memset(&d, 0, sizeof d);
    d.name = "bob";
    d.context = pc_get_context(m);
    p = pc_process_new(&d);
    CHECK(p && strcmp(pc_process_name(p), "bob") == 0);
    CHECK_OK(pc_process_set_name(p, "alice"));
    CHECK(strcmp(pc_process_name(p), "alice") == 0);
    CHECK_EQ(run_to_end(p), 0);
    CHECK(no_zombies());
}

static void body_exitcode(pc_start_method m) {
    CHECK_EQ(run_to_end(make(m, t_seven, NULL)), 7);
    CHECK_EQ(run_to_end(make(m, t_minus_one, NULL)), 255);
    CHECK_EQ(run_to_end(make(m, t_raise, NULL)), 1);
    CHECK_EQ(run_to_end(make(m, t_segv, NULL)), -SIGSEGV);
}

static void body_signals(pc_start_method m) {
    static const int sigs[3] = {SIGTERM, SIGKILL, SIGINT};
    for (int i = 0; i < 3; i++) {
        pc_process *p = make(m, t_sleep, NULL);
        CHECK_RC(pc_process_terminate(p), PC_RUNTIME);
        CHECK_OK(pc_process_start(p));
        double t0 = pc_monotonic();
        CHECK_RC(pc_process_join(p, 0.1), PC_TIMEOUT);
        CHECK(pc_monotonic() - t0 >= 0.09);
        CHECK_EQ(pc_process_is_alive(p), 1);
        CHECK_EQ(pc_process_exitcode(p), PC_EXITCODE_NONE);
        CHECK(!pc__p_os_readable_now(pc_process_sentinel(p)));
        CHECK_RC(pc_process_close(p), PC_VALUE);
        if (i == 0) CHECK_OK(pc_process_terminate(p));
        if (i == 1) CHECK_OK(pc_process_kill(p));
        if (i == 2) CHECK_OK(pc_process_interrupt(p));
        CHECK_OK(pc__p_os_wait_readable(pc_process_sentinel(p), pc_monotonic() + 10));
        CHECK_OK(pc_process_join(p, 10));
        CHECK_EQ(pc_process_exitcode(p), -sigs[i]);
        CHECK_OK(pc_process_terminate(p));      // reaped: nothing happens
        CHECK_OK(pc_process_close(p));
        CHECK_OK(pc_process_close(p));
        CHECK_EQ(pc_process_sentinel(p), -1);
        CHECK_RC(pc_process_join(p, 1), PC_VALUE);
        CHECK_RC(pc_process_start(p), PC_VALUE);
        CHECK_EQ(pc_process_exitcode(p), PC_EXITCODE_NONE);
        pc_process_free(p);
    }
}

static void body_pack(pc_start_method m) {
    pc_connection *r, *w;
    CHECK_OK(pc_pipe(0, &r, &w));
    pc_args *a = pc_args_new();
    CHECK_OK(pc_args_add_int(a, -1234567890123LL));
    CHECK_OK(pc_args_add_double(a, 0.125));
    CHECK_OK(pc_args_add_bytes(a, "a\0b\0c", 5));
    CHECK_OK(pc_args_add_str(a, "hello bob"));
    CHECK_OK(pc_args_add_bytes(a, NULL, 0));
    CHECK_OK(pc_args_add_connection(a, w));
    CHECK_EQ(pc_args_len(a), 6);
    CHECK_EQ(pc_args_type(a, 5), PC_ARG_CONNECTION);
    CHECK_EQ(pc_args_type(a, 6), PC_ARG_NONE);
    pc_process *p = make(m, t_pack, a);
    pc_args_free(a);
    pc_connection_free(w);      // the process holds its own duplicate until start
    CHECK_EQ(run_to_end(p), 0);
    void *buf;
    size_t n;
    CHECK_OK(pc_connection_recv_bytes(r, 0, &buf, &n));
    CHECK(n > 3 && memcmp(buf, "ok ", 3) == 0);
    pc_connection_bytes_free(buf);
    // Every writer is gone (ours closed, the child's ended): end of file.
    CHECK_RC(pc_connection_recv_bytes(r, 0, &buf, &n), PC_EOF);
    pc_connection_free(r);
}

static void body_blob(pc_start_method m) {
    blob b;
    memset(&b, 0, sizeof b);
    b.a = 12345;
    b.b = 2.5;
    strcpy(b.s, "copied");
    pc_process_desc d;
    memset(&d, 0, sizeof d);
    d.target = t_blob;
    d.arg = &b;
    d.arg_size = sizeof b;
    d.context = pc_get_context(m);
    pc_process *p = pc_process_new(&d);
    CHECK(p != NULL);
    memset(&b, 0, sizeof b);    // the process made its own copy
    CHECK_EQ(run_to_end(p), 0);

    // arg_size 0 passes the pointer itself: fork only.
    static int value = 9;
    d.target = t_pointer;
    d.arg = &value;
    d.arg_size = 0;
    p = pc_process_new(&d);
    CHECK(p != NULL);
    if (m == PC_START_FORK) {
        CHECK_EQ(run_to_end(p), 9);
    } else {
        CHECK_RC(pc_process_start(p), PC_VALUE);
        CHECK(strstr(pc_last_error(), "fork") != NULL);
        CHECK_EQ(pc_process_pid(p), 0);
        pc_process_free(p);
    }
}

static void body_parent_start(pc_start_method m) {
    pc_args *a = pc_args_new();
    CHECK_OK(pc_args_add_int(a, (int64_t)pc__p_os_pid_start(getpid())));
    pc_process_desc d;
    memset(&d, 0, sizeof d);
    d.target = t_parent_start;
    d.context = pc_get_context(m);
    d.args = a;
    pc_process *p = pc_process_new(&d);
    pc_args_free(a);
    CHECK(p != NULL);
    CHECK_EQ(run_to_end(p), 0);
}

static void body_identity(pc_start_method m) {
    for (int daemon = 0; daemon < 2; daemon++) {
        size_t keylen;
        const unsigned char *key = pc_process_authkey(pc_process_current(), &keylen);
        pc_args *a = pc_args_new();
        pc_process_desc d;
        memset(&d, 0, sizeof d);
        d.target = t_identity;
        d.daemon = daemon ? PC_DAEMON_YES : PC_DAEMON_INHERIT;
        d.context = pc_get_context(m);
        d.args = a;
        // Fill the pack after the name is known: make a throwaway first.
        pc_process *probe = pc_process_new(&d);
        char want[64];
        CHECK(probe != NULL);
        const char *probe_name = pc_process_name(probe);
        CHECK(strlen(probe_name) > 8);
        long n1 = strtol(probe_name + 8, NULL, 10);
        pc_process_free(probe);
        snprintf(want, sizeof want, "Process-%ld", n1 + 1);
        CHECK_OK(pc_args_add_str(a, want));
        CHECK_OK(pc_args_add_int(a, (int64_t)getpid()));
        CHECK_OK(pc_args_add_bytes(a, key, keylen));
        CHECK_OK(pc_args_add_int(a, daemon));
        pc_process *p = pc_process_new(&d);
        pc_args_free(a);
        CHECK(p && strcmp(pc_process_name(p), want) == 0);
        CHECK_EQ(pc_process_daemon(p), daemon);
        CHECK_EQ(run_to_end(p), 0);
    }
}

static void body_nested(pc_start_method m) {
    CHECK_OK(pc_set_start_method(m, 1));        // the child's default follows ours
    CHECK_EQ(run_to_end(make(m, t_nested, NULL)), 0);
    pc_process_desc d;
    memset(&d, 0, sizeof d);
    d.target = t_daemon_starts;
    d.daemon = PC_DAEMON_YES;
    d.context = pc_get_context(m);
    CHECK_EQ(run_to_end(pc_process_new(&d)), 0);
    CHECK(no_zombies());
}

static void body_fds(pc_start_method m) {
    int before = count_fds();
    if (m != PC_START_FORK) {
        // Spawned and forkserver children hold 0, 1, 2 and nothing else ...
        CHECK_EQ(run_to_end(make(m, t_count_fds, NULL)), 0);
        // ... plus what they were given.
        pc_connection *r, *w;
        CHECK_OK(pc_pipe(1, &r, &w));
        pc_args *a = pc_args_new();
        pc_args_add_connection(a, w);
        pc_process *p = make(m, t_count_fds, a);
        pc_args_free(a);
        CHECK_EQ(run_to_end(p), 1);
        pc_connection_free(r);
        pc_connection_free(w);
    }
    // Make sure the forkserver is up before counting.
    CHECK_EQ(run_to_end(make(m, t_zero, NULL)), 0);
    before = count_fds();
    for (int i = 0; i < 20; i++) CHECK_EQ(run_to_end(make(m, t_seven, NULL)), 7);
    CHECK_EQ(count_fds(), before);
    CHECK(no_zombies());
}

// Sequential and concurrent children: no zombie, no descriptor left over.
static void body_many(pc_start_method m, int sequential, int concurrent) {
    CHECK_EQ(run_to_end(make(m, t_zero, NULL)), 0);
    int before = count_fds();
    for (int i = 0; i < sequential; i++) CHECK_EQ(run_to_end(make(m, t_seven, NULL)), 7);
    pc_process *ps[64];
    for (int i = 0; i < concurrent; i++) {
        ps[i] = make(m, i % 2 ? t_zero : t_seven, NULL);
        CHECK_OK(pc_process_start(ps[i]));
    }
    for (int i = 0; i < concurrent; i++) {
        CHECK_OK(pc_process_join(ps[i], 20));
        CHECK_EQ(pc_process_exitcode(ps[i]), i % 2 ? 0 : 7);
        pc_process_free(ps[i]);
    }
    CHECK_EQ(count_fds(), before);
    CHECK(no_zombies());
}

static void body_active_children(pc_start_method m) {
    pc_connection *r, *w;
    CHECK_OK(pc_pipe(1, &r, &w));
    pc_args *a = pc_args_new();
    pc_args_add_connection(a, r);
    pc_process *ps[3];
    for (int i = 0; i < 3; i++) {
        ps[i] = make(m, t_wait_word, a);
        CHECK_OK(pc_process_start(ps[i]));
    }
    pc_args_free(a);
    pc_process *out[8];
    CHECK_EQ(pc_process_active_children(NULL, 0), 3);
    size_t n = pc_process_active_children(out, 8);
    CHECK_EQ(n, 3);
    for (size_t i = 0; i < n; i++) {
        int found = 0;
        for (int j = 0; j < 3; j++) found |= out[i] == ps[j];
        CHECK(found);
        pc_process_free(out[i]);
    }
    // Two are terminated; then one word wakes the last one.
    CHECK_OK(pc_process_terminate(ps[1]));
    CHECK_OK(pc_process_terminate(ps[2]));
    double deadline = pc_monotonic() + 10;
    while (pc_process_active_children(NULL, 0) > 1 && pc_monotonic() < deadline) pc_sleep(0.01);
    CHECK_EQ(pc_process_active_children(out, 8), 1);
    CHECK(out[0] == ps[0]);
    pc_process_free(out[0]);
    CHECK_OK(pc_connection_send_bytes(w, "go", 0, 2));
    while (pc_process_active_children(NULL, 0) > 0 && pc_monotonic() < deadline) pc_sleep(0.01);
    CHECK_EQ(pc_process_active_children(NULL, 0), 0);
    // active_children reaped them: exit codes are there without a join.
    CHECK_EQ(pc_process_exitcode(ps[0]), 0);
    CHECK_EQ(pc_process_exitcode(ps[1]), -SIGTERM);
    CHECK_EQ(pc_process_exitcode(ps[2]), -SIGTERM);
    for (int i = 0; i < 3; i++) pc_process_free(ps[i]);
    pc_connection_free(r);
    pc_connection_free(w);
    CHECK(no_zombies());
}

// A process that exits normally terminates its daemonic children and joins
// the others, both from a child's end and from main's atexit.
static int t_leave_children(void *arg) {
    pc_args *a = (pc_args *)arg;
    pc_connection *c;
    int64_t method;
    if (pc_args_get_connection(a, 0, &c) || pc_args_get_int(a, 1, &method)) return 80;
    pc_args *ga = pc_args_new();
    pc_args_add_connection(ga, c);
    pc_process_desc d;
    memset(&d, 0, sizeof d);
    d.context = pc_get_context((pc_start_method)method);
    d.args = ga;
    d.daemon = PC_DAEMON_YES;
    d.target = t_sleep;
    pc_process *dp = pc_process_new(&d);
    d.daemon = PC_DAEMON_NO;
    d.target = t_nap_then_done;
    pc_process *np = pc_process_new(&d);
    pc_args_free(ga);
    if (!dp || !np || pc_process_start(dp) || pc_process_start(np)) return 81;
    char pids[64];
    int len = snprintf(pids, sizeof pids, "%ld %ld", pc_process_pid(dp), pc_process_pid(np));
    if (pc_connection_send_bytes(c, pids, 0, (size_t)len)) return 82;
    pc_process_free(dp);
    pc_process_free(np);
    return 0;
}

static void check_left_children(pc_connection *r) {
    void *buf;
    size_t n;
    long dpid = 0, npid = 0;
    CHECK_OK(pc_connection_recv_bytes(r, 0, &buf, &n));
    char text[64];
    snprintf(text, sizeof text, "%.*s", (int)n, (const char *)buf);
    pc_connection_bytes_free(buf);
    CHECK(sscanf(text, "%ld %ld", &dpid, &npid) == 2 && dpid > 0 && npid > 0);
    CHECK_OK(pc_connection_recv_bytes(r, 0, &buf, &n));    // the non-daemon one finished
    CHECK(n == 4 && memcmp(buf, "done", 4) == 0);
    pc_connection_bytes_free(buf);
    // Both were reaped by the process that started them, which has ended.
    double deadline = pc_monotonic() + 5;
    while (kill((pid_t)dpid, 0) == 0 && pc_monotonic() < deadline) pc_sleep(0.01);
    CHECK_MSG(kill((pid_t)dpid, 0) < 0 && errno == ESRCH, "daemon child %ld still exists", dpid);
}

static void body_daemon_exit(pc_start_method m) {
    pc_connection *r, *w;
    CHECK_OK(pc_pipe(0, &r, &w));
    pc_args *a = pc_args_new();
    pc_args_add_connection(a, w);
    pc_args_add_int(a, m);
    // From a child's end (the bootstrap's exit path) ...
    pc_process *p = make(m, t_leave_children, a);
    CHECK_EQ(run_to_end(p), 0);
    check_left_children(r);
    // ... and from exit() in a plain forked program (the atexit path).
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0) {
        exit(t_leave_children(a));
    }
    CHECK(pid > 0);
    int st;
    CHECK_EQ(waitpid(pid, &st, 0), pid);
    CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    check_left_children(r);
    pc_args_free(a);
    pc_connection_free(r);
    pc_connection_free(w);
}

// Out of descriptors: PC_OS with EMFILE, synchronously; nothing left over.
static void body_emfile(pc_start_method m) {
    CHECK_EQ(run_to_end(make(m, t_zero, NULL)), 0);     // server up
    pc_process *p = make(m, t_zero, NULL);
    int before = count_fds();
    struct rlimit old, low;
    CHECK(getrlimit(RLIMIT_NOFILE, &old) == 0);
    low = old;
    int highest = 0;
    DIR *d = opendir("/proc/self/fd");
    struct dirent *e;
    while ((e = readdir(d))) if (atoi(e->d_name) > highest) highest = atoi(e->d_name);
    closedir(d);
    low.rlim_cur = (rlim_t)highest + 1;
    // Fill every free slot below the limit so that the next open fails.
    CHECK(setrlimit(RLIMIT_NOFILE, &low) == 0);
    static int fillers[4096];
    int nf = 0;
    while (nf < 4096 && (fillers[nf] = dup(0)) >= 0) nf++;
    int rc = pc_process_start(p);
    int err = errno;
    for (int i = 0; i < nf; i++) close(fillers[i]);
    CHECK(setrlimit(RLIMIT_NOFILE, &old) == 0);
    CHECK_RC(rc, PC_OS);
    CHECK_MSG(err == EMFILE, "errno %d", err);
    CHECK_EQ(pc_process_pid(p), 0);
    CHECK_EQ(count_fds(), before);
    CHECK(no_zombies());
    // The same object starts fine once descriptors are back.
    CHECK_EQ(run_to_end(p), 0);
}

// A pack over a connection (pc_connection_send_args / recv_args): item 0
// of the child's own pack is its end of a duplex Pipe. It receives a pack
// (int, double, bytes, str, a socket and a pipe connection), answers on
// both connections it got, then sends back a pack holding a pipe end of
// its own and writes on that pipe.
static int t_args_echo(void *arg) {
    pc_connection *c, *y, *w, *cr, *cw;
    pc_args *in = NULL;
    int64_t i;
    double d;
    const void *bytes;
    size_t n;
    const char *s;
    if (pc_args_get_connection((pc_args *)arg, 0, &c)) return 100;
    if (pc_connection_recv_args(c, &in)) return 101;
    if (pc_args_len(in) != 6) return 102;
    if (pc_args_get_int(in, 0, &i) || i != -5) return 103;
    if (pc_args_get_double(in, 1, &d) || d != 2.5) return 104;
    if (pc_args_get_bytes(in, 2, &bytes, &n) || n != 3 || memcmp(bytes, "a\0b", 3) != 0) return 105;
    if (pc_args_get_str(in, 3, &s) || strcmp(s, "hello") != 0) return 106;
    if (pc_args_take_connection(in, 4, &y) || pc_args_get_connection(in, 5, &w)) return 107;
    if (!pc_connection_readable(y) || !pc_connection_writable(y)) return 108;
    if (pc_connection_readable(w) || !pc_connection_writable(w)) return 109;
    if (pc_connection_send_bytes(y, "via y", 0, 5) || pc_connection_send_bytes(w, "via w", 0, 5))
        return 110;
    pc_connection_free(y);
    pc_args_free(in);                           // closes w
    if (pc_pipe(0, &cr, &cw)) return 111;
    pc_args *out = pc_args_new();
    if (!out || pc_args_add_int(out, 42) || pc_args_add_str(out, "back") ||
        pc_args_add_connection(out, cr) || pc_connection_send_args(c, out))
        return 112;
    pc_args_free(out);
    pc_connection_free(cr);
    int rc = pc_connection_send_bytes(cw, "from the child's pipe", 0, 21);
    pc_connection_free(cw);
    return rc ? 113 : 0;
}

static void expect_bytes(pc_connection *c, const char *want) {
    void *buf;
    size_t n;
    CHECK_OK(pc_connection_recv_bytes(c, 0, &buf, &n));
    CHECK_MSG(n == strlen(want) && memcmp(buf, want, n) == 0, "got %.*s", (int)n, (char *)buf);
    pc_connection_bytes_free(buf);
}

static void body_args_message(pc_start_method m) {
    CHECK_EQ(run_to_end(make(m, t_zero, NULL)), 0);     // server up before counting
    int before = count_fds();
    pc_connection *mine, *theirs, *x, *y, *r, *w;
    CHECK_OK(pc_pipe(1, &mine, &theirs));
    CHECK_OK(pc_pipe(1, &x, &y));
    CHECK_OK(pc_pipe(0, &r, &w));
    pc_args *a = pc_args_new();
    CHECK_OK(pc_args_add_connection(a, theirs));
    pc_process *p = make(m, t_args_echo, a);
    pc_args_free(a);
    pc_connection_free(theirs);
    CHECK_OK(pc_process_start(p));
    a = pc_args_new();
    CHECK_OK(pc_args_add_int(a, -5));
    CHECK_OK(pc_args_add_double(a, 2.5));
    CHECK_OK(pc_args_add_bytes(a, "a\0b", 3));
    CHECK_OK(pc_args_add_str(a, "hello"));
    CHECK_OK(pc_args_add_connection(a, y));
    CHECK_OK(pc_args_add_connection(a, w));
    CHECK_OK(pc_connection_send_args(mine, a));
    pc_args_free(a);
    pc_connection_free(y);                      // the child has its own copies now
    pc_connection_free(w);
    expect_bytes(x, "via y");
    expect_bytes(r, "via w");
    pc_args *back = NULL;
    CHECK_OK(pc_connection_recv_args(mine, &back));
    int64_t i;
    const char *s;
    pc_connection *cr;
    CHECK_EQ(pc_args_len(back), 3);
    CHECK_OK(pc_args_get_int(back, 0, &i));
    CHECK_EQ(i, 42);
    CHECK_OK(pc_args_get_str(back, 1, &s));
    CHECK(strcmp(s, "back") == 0);
    CHECK_OK(pc_args_get_connection(back, 2, &cr));
    expect_bytes(cr, "from the child's pipe");
    CHECK_OK(pc_process_join(p, 10));
    CHECK_EQ(pc_process_exitcode(p), 0);
    pc_process_free(p);
    void *buf;
    size_t n;
    CHECK_RC(pc_connection_recv_bytes(cr, 0, &buf, &n), PC_EOF);   // its writer is gone
    CHECK_RC(pc_connection_recv_bytes(x, 0, &buf, &n), PC_EOF);
    pc_args_free(back);                         // closes cr
    CHECK_RC(pc_connection_recv_args(mine, &back), PC_EOF);
    CHECK(back == NULL);
    pc_connection_free(mine);
    pc_connection_free(x);
    pc_connection_free(r);
    CHECK_EQ(count_fds(), before);
    CHECK(no_zombies());
}

// Beyond Python: fork and spawn sentinels are pidfds where the kernel has
// them (forkserver ones are the server's status socket, as in Python, and
// signals go through a pidfd the server hands over); wait() takes them.
static void body_sentinel(pc_start_method m) {
    if (!pc__p_os_have_pidfd()) pct_skip("no pidfds in this kernel");
    pc_process *p = make(m, t_sleep, NULL);
    CHECK_OK(pc_process_start(p));
    char path[64], link[128];
    snprintf(path, sizeof path, "/proc/self/fd/%d", pc_process_sentinel(p));
    ssize_t n = readlink(path, link, sizeof link - 1);
    CHECK(n > 0);
    link[n] = '\0';
    if (m == PC_START_FORKSERVER) {
        CHECK_MSG(strncmp(link, "socket:", 7) == 0, "sentinel is %s", link);
        snprintf(path, sizeof path, "/proc/self/fd/%d", p->pidfd);
        n = readlink(path, link, sizeof link - 1);
        CHECK(n > 0);
        link[n] = '\0';
    }
    CHECK_MSG(strstr(link, "pidfd") != NULL, "not a pidfd: %s", link);
    pc_wait_object o;
    memset(&o, 0, sizeof o);
    o.fd = pc_process_sentinel(p);
    CHECK_RC(pc_connection_wait(&o, 1, 0, NULL), PC_TIMEOUT);
    CHECK_OK(pc_process_kill(p));
    CHECK_OK(pc_connection_wait(&o, 1, 10, NULL));
    CHECK_EQ(o.ready, 1);
    CHECK_OK(pc_process_join(p, 10));
    CHECK_EQ(pc_process_exitcode(p), -SIGKILL);
    if (m == PC_START_FORKSERVER) CHECK_EQ(p->pidfd, -1);   // given back once reaped
    pc_process_free(p);
}

// >>join-race
// Several threads join one process and read its exit code and liveness
// while two others each start (and so poll every child: Python's
// _cleanup) and join a process of their own. What a thread sees is
// recorded and checked after the joins.
enum { RACE_JOINERS = 3, RACE_STARTERS = 2 };

static int t_code(void *arg) { return *(const int *)arg; }

typedef struct race_joiner {
    pc_process *p;
    pc_barrier *go;
    int want;
    int bad_early;              // an exit code seen while ending, not want
    int join_rc, code_after, alive_after;
} race_joiner;

static int race_join(void *arg) {
    race_joiner *j = (race_joiner *)arg;
    pc_barrier_wait(j->go, NULL);
    for (int i = 0; i < 20; i++) {
        int alive = pc_process_is_alive(j->p);
        int code = pc_process_exitcode(j->p);
        // Once not alive, the code is there, and it is the right one.
        if ((!alive || code != PC_EXITCODE_NONE) && code != j->want) j->bad_early = code;
    }
    j->join_rc = pc_process_join(j->p, PC_FOREVER);
    j->code_after = pc_process_exitcode(j->p);
    j->alive_after = pc_process_is_alive(j->p);
    return 0;
}

typedef struct race_starter {
    pc_start_method m;
    pc_barrier *go;
    int start_rc, join_rc, code;
} race_starter;

static int race_start_other(void *arg) {
    race_starter *s = (race_starter *)arg;
    pc_process_desc d;
    memset(&d, 0, sizeof d);
    d.target = t_seven;
    d.context = pc_get_context(s->m);
    pc_process *q = pc_process_new(&d);
    pc_barrier_wait(s->go, NULL);
    s->start_rc = q ? pc_process_start(q) : PC_NOMEM;
    s->join_rc = s->start_rc ? s->start_rc : pc_process_join(q, PC_FOREVER);
    s->code = pc_process_exitcode(q);
    pc_process_free(q);
    return 0;
}

static pc_thread *race_thread(pc_target_fn fn, void *arg) {
    pc_thread_desc d;
    memset(&d, 0, sizeof d);
    d.target = fn;
    d.arg = arg;
    d.daemon = PC_DAEMON_YES;   // a failed CHECK must not wait for it at exit
    pc_thread *t = pc_thread_new(&d);
    CHECK(t != NULL);
    CHECK_OK(pc_thread_start(t));
    return t;
}

static void join_race_round(pc_start_method m, int want) {
    pc_barrier go;
    race_joiner js[RACE_JOINERS];
    race_starter st[RACE_STARTERS];
    pc_thread *ts[RACE_JOINERS + RACE_STARTERS];
    pc_process_desc d;
    memset(&d, 0, sizeof d);
    d.target = t_code;
    d.arg = &want;
    d.arg_size = sizeof want;
    d.context = pc_get_context(m);
    pc_process *p = pc_process_new(&d);
    CHECK(p != NULL);
    CHECK_OK(pc_barrier_init(&go, RACE_JOINERS + RACE_STARTERS, NULL, NULL, PC_FOREVER));
    CHECK_OK(pc_process_start(p));
    memset(js, 0, sizeof js);
    memset(st, 0, sizeof st);
    for (int i = 0; i < RACE_JOINERS; i++) {
        js[i].p = p;
        js[i].go = &go;
        js[i].want = want;
        ts[i] = race_thread(race_join, &js[i]);
    }
    for (int i = 0; i < RACE_STARTERS; i++) {
        st[i].m = m;
        st[i].go = &go;
        ts[RACE_JOINERS + i] = race_thread(race_start_other, &st[i]);
    }
    for (int i = 0; i < RACE_JOINERS + RACE_STARTERS; i++) {
        CHECK_OK(pc_thread_join(ts[i], 30));
        pc_thread_free(ts[i]);
    }
    for (int i = 0; i < RACE_JOINERS; i++) {
        CHECK_MSG(js[i].bad_early == 0, "saw exit code %d, want %d", js[i].bad_early, want);
        CHECK_OK(js[i].join_rc);
        CHECK_EQ(js[i].code_after, want);
        CHECK_EQ(js[i].alive_after, 0);
    }
    for (int i = 0; i < RACE_STARTERS; i++) {
        CHECK_OK(st[i].start_rc);
        CHECK_OK(st[i].join_rc);
        CHECK_EQ(st[i].code, 7);
    }
    CHECK_EQ(pc_process_exitcode(p), want);
    pc_barrier_destroy(&go);
    pc_process_free(p);
}

static void body_join_race(pc_start_method m, int rounds) {
    CHECK_EQ(run_to_end(make(m, t_zero, NULL)), 0);     // server up before counting
    int before = count_fds();
    for (int round = 0; round < rounds; round++) join_race_round(m, 1 + round % 100);
    CHECK_EQ(count_fds(), before);
    CHECK(no_zombies());
}

// A join that blocks in waitpid while other threads poll, join with
// timeouts and signal: every one of them sees the one exit code, and
// none sees a dead child alive (many rounds: the interleavings vary).
typedef struct mixed_waiter {
    pc_process *p;
    pc_barrier *go;
    int kind, want, rc, code, alive;
} mixed_waiter;

static int mixed_wait(void *arg) {
    mixed_waiter *w = (mixed_waiter *)arg;
    pc_barrier_wait(w->go, NULL);
    if (w->kind == 0) {
        w->rc = pc_process_join(w->p, PC_FOREVER);
    } else if (w->kind == 1) {
        while ((w->rc = pc_process_join(w->p, 0.001)) == PC_TIMEOUT) {}
    } else {
        while (pc_process_is_alive(w->p)) pc_process_terminate(w->p);
        w->rc = PC_OK;
    }
    w->code = pc_process_exitcode(w->p);
    w->alive = pc_process_is_alive(w->p);
    return 0;
}

static void body_join_mixed(pc_start_method m, int rounds) {
    CHECK_EQ(run_to_end(make(m, t_zero, NULL)), 0);     // server up before counting
    int before = count_fds();
    for (int round = 0; round < rounds; round++) {
        int want = 1 + round % 50;
        pc_barrier go;
        mixed_waiter ws[3];
        pc_thread *ts[3];
        pc_process_desc d;
        memset(&d, 0, sizeof d);
        d.target = t_code;
        d.arg = &want;
        d.arg_size = sizeof want;
        d.context = pc_get_context(m);
        pc_process *p = pc_process_new(&d);
        CHECK(p != NULL);
        CHECK_OK(pc_barrier_init(&go, 3, NULL, NULL, PC_FOREVER));
        CHECK_OK(pc_process_start(p));
        for (int i = 0; i < 3; i++) {
            memset(&ws[i], 0, sizeof ws[i]);
            ws[i].p = p;
            ws[i].go = &go;
            ws[i].kind = i;
            ts[i] = race_thread(mixed_wait, &ws[i]);
        }
        for (int i = 0; i < 3; i++) {
            CHECK_OK(pc_thread_join(ts[i], 30));
            pc_thread_free(ts[i]);
        }
        int code = pc_process_exitcode(p);
        // The terminator may win: SIGTERM, or the code if the child had ended.
        CHECK_MSG(code == want || code == -SIGTERM, "exit code %d", code);
        for (int i = 0; i < 3; i++) {
            CHECK_OK(ws[i].rc);
            CHECK_EQ(ws[i].code, code);
            CHECK_EQ(ws[i].alive, 0);
        }
        pc_barrier_destroy(&go);
        pc_process_free(p);
    }
    CHECK_EQ(count_fds(), before);
    CHECK(no_zombies());
}

// The pid is cached, and a child made by the program's own fork() (not a
// start) has its own: current_process, and the children it starts and
// joins, go by it.
TEST(pid_cache_after_user_fork) {
    CHECK_EQ(pc_process_pid(pc_process_current()), (long)getpid());    // cached now
    for (int round = 0; round < 20; round++) {
        pid_t pid = fork();
        CHECK(pid >= 0);
        if (pid == 0) {
            if (pc_process_pid(pc_process_current()) != (long)getpid()) _exit(2);
            pc_process *p = proc_new(PC_START_FORK, t_seven, NULL, PC_DAEMON_INHERIT);
            if (pc_process_start(p) || pc_process_join(p, PC_FOREVER)) _exit(3);
            _exit(pc_process_exitcode(p) == 7 && pc_process_pid(p) > 0 ? 0 : 4);
        }
        int st;
        CHECK_EQ(waitpid(pid, &st, 0), pid);
        CHECK_MSG(WIFEXITED(st) && WEXITSTATUS(st) == 0, "child status 0x%x", st);
    }
}

#if PCT_HAVE_SYSCOUNT
// Three fork starts and joins of a child that does nothing, counted.
static void three_fork_starts(void *arg) {
    (void)arg;
    CHECK_EQ(run_to_end(make(PC_START_FORK, t_zero, NULL)), 0);   // warm: lazy set-up
    pct_syscount_mark();
    for (int i = 0; i < 3; i++) {
        pc_process *p = make(PC_START_FORK, t_zero, NULL);
        if (pc_process_start(p) || pc_process_join(p, PC_FOREVER) || pc_process_exitcode(p))
            _exit(1);
        pc_process_free(p);
    }
    pct_syscount_mark();
}
#endif

// A fork start + join makes the system calls a raw fork + waitpid makes
// (clone, wait4, the child's exit), plus the pidfd sentinel's open and
// close: no getpid (the pid is cached), no fcntl (pidfd_open sets
// close-on-exec itself), one wait per child (no WNOHANG poll, no WNOWAIT
// wait before the real one).
TEST(fork_start_syscalls) {
#if PCT_HAVE_SYSCOUNT
    if (PCT_SANITIZED) pct_skip("a sanitizer's runtime makes system calls of its own");
    static long n[PCT_SYSCALLS];
    if (pct_syscount(three_fork_starts, NULL, n) < 0) pct_skip("ptrace is not allowed here");
    long total = 0;
    for (int i = 0; i < PCT_SYSCALLS; i++) total += n[i];
    CHECK_EQ(n[SYS_getpid] + n[SYS_getppid], 0);
    CHECK_EQ(n[SYS_fcntl], 0);
    CHECK_EQ(n[SYS_waitid], 0);
    CHECK_EQ(n[SYS_wait4], 3);
    CHECK_EQ(n[SYS_clone], 3);
    CHECK_MSG(total <= 3 * 7, "%ld system calls for 3 starts", total);
#else
    pct_skip("no ptrace system call counting on this system");
#endif
}

// How often this process has waited so far (voluntary context switches):
// a forkserver child that had to wait for its bootstrap message did once.
static int t_waits(void *arg) {
    struct rusage ru;
    (void)arg;
    if (getrusage(RUSAGE_SELF, &ru) < 0) return 255;
    return ru.ru_nvcsw > 100 ? 100 : (int)ru.ru_nvcsw;
}

// The bootstrap is in the child's socket before the server hears of the
// child: no forkserver child waits for it (it waits for nothing at all
// before its target runs).
TEST(forkserver_bootstrap_waits_for_nothing) {
    if (PCT_SANITIZED) pct_skip("a sanitizer's runtime makes a child wait on its own");
    CHECK_EQ(run_to_end(make(PC_START_FORKSERVER, t_zero, NULL)), 0);     // server up
    int waited = 0;
    for (int i = 0; i < 40; i++)
        waited += run_to_end(make(PC_START_FORKSERVER, t_waits, NULL)) != 0;
    CHECK_MSG(waited == 0, "%d of 40 children waited before their target ran", waited);
}

// The argument's bytes: byte i of an n-byte argument is (i * 31 + n) & 0xff,
// n in its first four bytes.
static void fill_sized(unsigned char *buf, uint32_t n) {
    for (uint32_t i = 0; i < n; i++) buf[i] = (unsigned char)((i * 31 + n) & 0xff);
    memcpy(buf, &n, sizeof n);
}

// 0: the argument came whole and no bootstrap descriptor is left open; 1:
// the bytes differ; 2: descriptor 3 is open.
static int t_sized(void *arg) {
    uint32_t n;
    memcpy(&n, arg, sizeof n);
    unsigned char *want = (unsigned char *)malloc(n);
    if (!want) return 3;
    fill_sized(want, n);
    int same = memcmp(want, arg, n) == 0;
    free(want);
    if (!same) return 1;
    return fcntl(3, F_GETFD) == -1 && errno == EBADF ? 0 : 2;
}

// A small bootstrap goes inside the request, a large one on a socket of
// its own: arguments on both sides of the line (and far past it) arrive
// whole, and the child keeps no descriptor of either way.
TEST(forkserver_bootstrap_inline_or_socket) {
    static const uint32_t far[] = {4, 100, 65536};
    unsigned char *buf = (unsigned char *)malloc(65536);
    CHECK(buf != NULL);
    for (uint32_t k = 0; k < 20 + 3; k++) {
        uint32_t n = k < 20 ? PC__FS_INLINE_MAX - 400 + k * 37 : far[k - 20];
        fill_sized(buf, n);
        pc_process_desc d;
        memset(&d, 0, sizeof d);
        d.target = t_sized;
        d.arg = buf;
        d.arg_size = n;
        d.context = pc_get_context(PC_START_FORKSERVER);
        pc_process *p = pc_process_new(&d);
        CHECK(p != NULL);
        CHECK_MSG(run_to_end(p) == 0, "argument of %u bytes", (unsigned)n);
    }
    free(buf);
    CHECK(no_zombies());
}

#if PCT_HAVE_SYSCOUNT
static int wait_state(pid_t pid, char want);

static void three_forkserver_starts(void *arg) {
    (void)arg;
    CHECK_EQ(run_to_end(make(PC_START_FORKSERVER, t_zero, NULL)), 0);     // server up
    // The server's poll for the next request, after the status it just
    // sent, belongs to the start before the mark: count from its sleep.
    CHECK(wait_state(pc__p_fs_pid, 'S'));
    pct_syscount_mark();
    for (int i = 0; i < 3; i++) {
        pc_process *p = make(PC_START_FORKSERVER, t_zero, NULL);
        if (pc_process_start(p) || pc_process_join(p, PC_FOREVER) || pc_process_exitcode(p))
            _exit(1);
        pc_process_free(p);
    }
    pct_syscount_mark();
}
#endif

// The server learns of a child's end from its pidfd: no SIGCHLD handler
// runs (no rt_sigreturn), no self-pipe is drained (no read), one wait4
// reaps it; a join is one blocking read of the status (no poll), so the
// server's poll() is the only one: once for the request, once for the end.
// A small bootstrap rides in the request: one socketpair a start (the
// status socket), none for a bootstrap socket.
TEST(forkserver_start_syscalls) {
#if PCT_HAVE_SYSCOUNT
    if (PCT_SANITIZED) pct_skip("a sanitizer's runtime makes system calls of its own");
    static long n[PCT_SYSCALLS];
    if (pct_syscount(three_forkserver_starts, NULL, n) < 0) pct_skip("ptrace is not allowed here");
    long total = 0;
    for (int i = 0; i < PCT_SYSCALLS; i++) total += n[i];
    CHECK_EQ(n[SYS_rt_sigreturn], 0);
    CHECK_EQ(n[SYS_wait4], 3);
    CHECK_MSG(n[SYS_poll] <= 3 * 2, "%ld polls for 3 starts", n[SYS_poll]);
    CHECK_EQ(n[SYS_socketpair], 3);
    CHECK_MSG(total <= 3 * 26, "%ld system calls for 3 starts", total);
#else
    pct_skip("no ptrace system call counting on this system");
#endif
}

// >>cases
TEST(basics_fork) { body_basics(PC_START_FORK); }
TEST(basics_spawn) { body_basics(PC_START_SPAWN); }
TEST(basics_forkserver) { body_basics(PC_START_FORKSERVER); }
TEST(exitcode_fork) { body_exitcode(PC_START_FORK); }
TEST(exitcode_spawn) { body_exitcode(PC_START_SPAWN); }
TEST(exitcode_forkserver) { body_exitcode(PC_START_FORKSERVER); }
TEST(signals_fork) { body_signals(PC_START_FORK); }
TEST(signals_spawn) { body_signals(PC_START_SPAWN); }
TEST(signals_forkserver) { body_signals(PC_START_FORKSERVER); }
TEST(pack_fork) { body_pack(PC_START_FORK); }
TEST(pack_spawn) { body_pack(PC_START_SPAWN); }
TEST(pack_forkserver) { body_pack(PC_START_FORKSERVER); }
TEST(blob_fork) { body_blob(PC_START_FORK); }
TEST(blob_spawn) { body_blob(PC_START_SPAWN); }
TEST(blob_forkserver) { body_blob(PC_START_FORKSERVER); }
TEST(identity_fork) { body_identity(PC_START_FORK); }
TEST(identity_spawn) { body_identity(PC_START_SPAWN); }
TEST(identity_forkserver) { body_identity(PC_START_FORKSERVER); }
TEST(parent_with_another_start_is_gone_fork) { body_parent_start(PC_START_FORK); }
TEST(parent_with_another_start_is_gone_spawn) { body_parent_start(PC_START_SPAWN); }
TEST(parent_with_another_start_is_gone_forkserver) { body_parent_start(PC_START_FORKSERVER); }
TEST(nested_fork) { body_nested(PC_START_FORK); }
TEST(nested_spawn) { body_nested(PC_START_SPAWN); }
TEST(nested_forkserver) { body_nested(PC_START_FORKSERVER); }
TEST(fds_fork) { body_fds(PC_START_FORK); }
TEST(fds_spawn) { body_fds(PC_START_SPAWN); }
TEST(fds_forkserver) { body_fds(PC_START_FORKSERVER); }
TEST(many_fork) { body_many(PC_START_FORK, 200, 50); }
TEST(many_spawn) { body_many(PC_START_SPAWN, 200, 50); }
TEST(many_forkserver) { body_many(PC_START_FORKSERVER, 200, 50); }
TEST(active_children_fork) { body_active_children(PC_START_FORK); }
TEST(active_children_spawn) { body_active_children(PC_START_SPAWN); }
TEST(active_children_forkserver) { body_active_children(PC_START_FORKSERVER); }
TEST(daemon_exit_fork) { body_daemon_exit(PC_START_FORK); }
TEST(daemon_exit_spawn) { body_daemon_exit(PC_START_SPAWN); }
TEST(daemon_exit_forkserver) { body_daemon_exit(PC_START_FORKSERVER); }
TEST(emfile_fork) { body_emfile(PC_START_FORK); }
TEST(emfile_spawn) { body_emfile(PC_START_SPAWN); }
TEST(emfile_forkserver) { body_emfile(PC_START_FORKSERVER); }
TEST(sentinel_fork) { body_sentinel(PC_START_FORK); }
TEST(sentinel_spawn) { body_sentinel(PC_START_SPAWN); }
TEST(sentinel_forkserver) { body_sentinel(PC_START_FORKSERVER); }
TEST(args_message_fork) { body_args_message(PC_START_FORK); }
TEST(args_message_spawn) { body_args_message(PC_START_SPAWN); }
TEST(args_message_forkserver) { body_args_message(PC_START_FORKSERVER); }
TEST(join_race_fork) { body_join_race(PC_START_FORK, 100); }
TEST(join_race_spawn) { body_join_race(PC_START_SPAWN, 40); }
TEST(join_race_forkserver) { body_join_race(PC_START_FORKSERVER, 100); }
TEST(join_mixed_fork) { body_join_mixed(PC_START_FORK, 100); }
TEST(join_mixed_spawn) { body_join_mixed(PC_START_SPAWN, 30); }
TEST(join_mixed_forkserver) { body_join_mixed(PC_START_FORKSERVER, 100); }

TEST(start_methods) {
    pc_start_method all[3];
    CHECK_EQ(pc_get_all_start_methods(all, 3), 3);
    CHECK_EQ(all[0], PC_START_FORKSERVER);      // Python 3.14's default on Linux
    CHECK_EQ(all[1], PC_START_FORK);            // then fork, spawn: Python 3.14's order
    CHECK_EQ(all[2], PC_START_SPAWN);
    CHECK_EQ(pc_get_all_start_methods(NULL, 0), 3);
    CHECK_OK(pc_set_start_method(PC_START_SPAWN, 0));
    CHECK_RC(pc_set_start_method(PC_START_FORK, 0), PC_RUNTIME);
    CHECK(strstr(pc_last_error(), "already been set") != NULL);
    CHECK_EQ(pc_get_start_method(), PC_START_SPAWN);
    CHECK_OK(pc_set_start_method(PC_START_FORK, 1));
    CHECK_EQ(pc_get_start_method(), PC_START_FORK);
    CHECK_EQ(pc_context_get_start_method(pc_get_context(PC_START_DEFAULT)), PC_START_FORK);
    pc_process *p = make(PC_START_DEFAULT, t_zero, NULL);
    CHECK_EQ(pc_process_start_method(p), PC_START_FORK);
    pc_process_free(p);
    CHECK_OK(pc_set_start_method(PC_START_DEFAULT, 1));
    CHECK_EQ(pc_get_start_method(), PC_START_FORKSERVER);
    CHECK_RC(pc_set_start_method(PC_START_SPAWN, 0), PC_RUNTIME);   // get fixed it
    CHECK_RC(pc_set_start_method((pc_start_method)7, 1), PC_VALUE);
    CHECK(pc_get_context((pc_start_method)7) == NULL);
    CHECK_EQ(pc_last_error_code(), PC_VALUE);
    for (int i = 0; i < 3; i++) {
        pc_start_method back;
        CHECK_OK(pc_start_method_from_name(pc_start_method_name(methods[i]), &back));
        CHECK_EQ(back, methods[i]);
        CHECK_EQ(pc_context_get_start_method(pc_get_context(methods[i])), methods[i]);
    }
    pc_start_method back;
    CHECK_RC(pc_start_method_from_name("vfork", &back), PC_VALUE);
    CHECK_RC(pc_start_method_from_name(NULL, &back), PC_VALUE);
}

static int t_method_allow_none(void *arg) {
    (void)arg;
    return (int)pc_get_start_method_allow_none();
}

// get_start_method(allow_none=True): "none" (PC_START_DEFAULT) until the
// method is fixed, and asking does not fix it; a child of every method
// sees the method its parent fixed.
TEST(start_method_allow_none) {
    CHECK_EQ(pc_get_start_method_allow_none(), PC_START_DEFAULT);
    CHECK_EQ(pc_get_start_method_allow_none(), PC_START_DEFAULT);
    CHECK_OK(pc_set_start_method(PC_START_SPAWN, 0));       // still free to set
    CHECK_EQ(pc_get_start_method_allow_none(), PC_START_SPAWN);
    CHECK_OK(pc_set_start_method(PC_START_DEFAULT, 1));
    CHECK_EQ(pc_get_start_method_allow_none(), PC_START_DEFAULT);
    CHECK_EQ(pc_get_start_method(), PC_START_FORKSERVER);
    CHECK_EQ(pc_get_start_method_allow_none(), PC_START_FORKSERVER);
    CHECK_OK(pc_set_start_method(PC_START_FORK, 1));
    for (int i = 0; i < 3; i++)
        CHECK_EQ(run_to_end(make(methods[i], t_method_allow_none, NULL)), PC_START_FORK);
    CHECK_OK(pc_set_start_method(PC_START_DEFAULT, 1));
    for (int i = 0; i < 3; i++)
        CHECK_EQ(run_to_end(make(methods[i], t_method_allow_none, NULL)), PC_START_DEFAULT);
    CHECK(no_zombies());
}

TEST(current_process) {
    pc_process *cur = pc_process_current();
    CHECK(cur != NULL && strcmp(pc_process_name(cur), "MainProcess") == 0);
    CHECK_EQ(pc_process_pid(cur), getpid());
    CHECK_EQ(pc_process_is_alive(cur), 1);
    CHECK_EQ(pc_process_daemon(cur), 0);
    CHECK(pc_process_parent() == NULL);
    size_t n;
    const unsigned char *key = pc_process_authkey(cur, &n);
    CHECK_EQ(n, 32);
    int nonzero = 0;
    for (size_t i = 0; i < n; i++) nonzero |= key[i];
    CHECK(nonzero);
    CHECK_RC(pc_process_start(cur), PC_RUNTIME);
    CHECK_RC(pc_process_join(cur, 0), PC_RUNTIME);
    CHECK_RC(pc_process_close(cur), PC_VALUE);
    pc_process_free(cur);       // the library's: ignored
    CHECK(pc_process_current() == cur);
    // A new key is inherited by processes made afterwards.
    CHECK_OK(pc_process_set_authkey(cur, "secret", 6));
    pc_process *p = make(PC_START_FORK, t_zero, NULL);
    key = pc_process_authkey(p, &n);
    CHECK(n == 6 && memcmp(key, "secret", 6) == 0);
    CHECK_RC(pc_process_set_authkey(p, "", 0), PC_VALUE);
    CHECK_RC(pc_process_set_authkey(p, NULL, 3), PC_VALUE);
    pc_process_free(p);
}

TEST(bad_input) {
    CHECK_RC(pc_process_start(NULL), PC_VALUE);
    CHECK_RC(pc_process_join(NULL, 1), PC_VALUE);
    CHECK_RC(pc_process_terminate(NULL), PC_VALUE);
    CHECK_RC(pc_process_close(NULL), PC_VALUE);
    CHECK_EQ(pc_process_exitcode(NULL), PC_EXITCODE_NONE);
    CHECK_EQ(pc_process_is_alive(NULL), 0);
    pc_process_free(NULL);

    pc_process_desc d;
    memset(&d, 0, sizeof d);
    d.daemon = (pc_daemon)9;
    CHECK(pc_process_new(&d) == NULL);
    CHECK_EQ(pc_last_error_code(), PC_VALUE);
    pc_args *a = args_of_str("x");
    memset(&d, 0, sizeof d);
    d.args = a;
    d.arg = "y";
    d.arg_size = 1;
    CHECK(pc_process_new(&d) == NULL);
    CHECK(strstr(pc_last_error(), "not both") != NULL);
    memset(&d, 0, sizeof d);
    d.arg_size = 4;
    CHECK(pc_process_new(&d) == NULL);

    // NaN timeout.
    pc_process *p = make(PC_START_FORK, t_zero, NULL);
    CHECK_OK(pc_process_start(p));
    CHECK_RC(pc_process_join(p, NAN), PC_VALUE);
    CHECK_OK(pc_process_join(p, PC_FOREVER));
    pc_process_free(p);

    // The argument pack refuses bad items and bad reads.
    CHECK_RC(pc_args_add_int(NULL, 1), PC_VALUE);
    CHECK_RC(pc_args_add_str(a, NULL), PC_VALUE);
    CHECK_RC(pc_args_add_bytes(a, NULL, 3), PC_VALUE);
    CHECK_RC(pc_args_add_connection(a, NULL), PC_VALUE);
    const char *s;
    int64_t i;
    pc_connection *c;
    CHECK_RC(pc_args_get_str(a, 1, &s), PC_VALUE);
    CHECK(strstr(pc_last_error(), "out of range") != NULL);
    CHECK_RC(pc_args_get_int(a, 0, &i), PC_VALUE);
    CHECK_RC(pc_args_get_str(a, 0, NULL), PC_VALUE);
    CHECK_RC(pc_args_get_connection(a, 0, &c), PC_VALUE);
    CHECK_RC(pc_args_take_connection(a, 0, &c), PC_VALUE);
    CHECK_OK(pc_args_get_str(a, 0, &s));
    CHECK(strcmp(s, "x") == 0);
    CHECK_EQ(pc_args_len(NULL), 0);
    pc_args_free(a);
    pc_args_free(NULL);
}

// A target that is not code of any loaded object cannot cross exec.
TEST(bad_target) {
    void *heap = malloc(64);
    pc_target_fn fn;
    memcpy(&fn, &heap, sizeof fn);
    for (int m = 1; m < 3; m++) {
        pc_process *p = make(methods[m], fn, NULL);
        CHECK_RC(pc_process_start(p), PC_VALUE);
        CHECK(strstr(pc_last_error(), "loaded object") != NULL);
        pc_process_free(p);
    }
    free(heap);
    CHECK(no_zombies());
}

// Send "ran" on connection 0 (proof that a child was started).
static int t_say_ran(void *arg) {
    pc_connection *c = NULL;
    if (pc_args_get_connection((pc_args *)arg, 0, &c)) return 90;
    return pc_connection_send_bytes(c, "ran", 0, 3) ? 91 : 0;
}

// Stop the warm forkserver, as if it had died: the next start spawns one.
static void fs_stop(void) {
    pc_lock_acquire(&pc__p_fs_lock, PC_FOREVER);
    if (pc__p_fs_sock >= 0) {
        int st;
        close(pc__p_fs_sock);
        pc__p_fs_sock = -1;
        CHECK(waitpid(pc__p_fs_pid, &st, 0) == pc__p_fs_pid);
        CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);   // it saw the end of its channel
    }
    pc_lock_release(&pc__p_fs_lock);
}

// fd reaches end of file within 5 s: nobody else holds its peer.
static int eof_soon(int fd) {
    struct pollfd p = {fd, POLLIN, 0};
    char c;
    return poll(&p, 1, 5000) == 1 && read(fd, &c, 1) == 0;
}

// A server spawned but not handshaken with (its witness not kept).
static int spawn_bare_server(int *chan, pid_t *spid) {
    uint64_t *witness = NULL;
    int rc = pc__p_fs_spawn_server(pc__p_fs_key, pc__p_fs_keylen, chan, spid, &witness);
    pc__p_os_unmap(witness, sizeof *witness);
    return rc;
}

// A request record as the client sends it: magic, status and boot sockets.
static int fs_send_request(int chan, int st[2], int bt[2]) {
    CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, st) == 0);
    CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, bt) == 0);
    pc__p_fs_request req;
    memset(&req, 0, sizeof req);
    req.magic = PC__FS_MAGIC;
    int fds[2] = {st[1], bt[1]};
    int rc = pc__p_send_fds(chan, &req, sizeof req, fds, 2);
    close(st[1]);
    close(bt[1]);
    return rc;
}

// Read one handshake record from the server; it must start with want.
static void expect_record(int chan, const char *want) {
    char m[256];
    ssize_t n = recv(chan, m, sizeof m, 0);
    CHECK(n >= (ssize_t)strlen(want));
    CHECK(memcmp(m, want, strlen(want)) == 0);
}

// The forkserver's channel is authenticated once, when the server starts,
// by Python's HMAC challenge both ways with the authkey: a server whose
// handshake sees the wrong key exits, the start is PC_AUTH and no child
// runs; a request on a channel never authenticated starts nothing.
TEST(forkserver_authkey) {
    CHECK_EQ(run_to_end(make(PC_START_FORKSERVER, t_zero, NULL)), 0);   // server up
    int before = count_fds();
    pc_connection *r, *w;
    CHECK_OK(pc_pipe(0, &r, &w));
    pc_args *a = pc_args_new();
    CHECK_OK(pc_args_add_connection(a, w));
    pc_process *p = make(PC_START_FORKSERVER, t_say_ran, a);
    pc_args_free(a);
    pc_connection_free(w);
    fs_stop();                                  // the next start has a handshake
    pc__p_fs_test_corrupt_key = 1;              // this side now answers with the wrong key
    CHECK_RC(pc_process_start(p), PC_AUTH);
    pc__p_fs_test_corrupt_key = 0;
    CHECK(strstr(pc_last_error(), "forkserver") != NULL);
    CHECK_EQ(pc__p_fs_sock, -1);                // refused server gone, reaped
    CHECK_EQ(pc_process_pid(p), 0);
    pc_process_free(p);                         // drops the last copy of w
    void *buf;
    size_t n;
    CHECK_RC(pc_connection_recv_bytes(r, 0, &buf, &n), PC_EOF);     // nobody ran
    pc_connection_free(r);

    // A channel never authenticated: the server challenges, reads the
    // request as its reply (the descriptors dropped), refuses, exits.
    int chan, st[2], bt[2], status;
    pid_t spid;
    CHECK_OK(spawn_bare_server(&chan, &spid));
    CHECK_OK(fs_send_request(chan, st, bt));
    expect_record(chan, "#CHALLENGE#{sha256}");
    expect_record(chan, "#FAILURE#");
    CHECK(eof_soon(st[0]) && eof_soon(bt[0]));  // no child, no pid
    close(st[0]);
    close(bt[0]);
    fs_send_request(chan, st, bt);              // ignoring the failure: may fail, server gone
    CHECK(eof_soon(st[0]) && eof_soon(bt[0]));
    close(st[0]);
    close(bt[0]);
    CHECK(waitpid(spid, &status, 0) == spid);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 1);
    close(chan);

    // The other direction: we answer its challenge rightly, but the server
    // cannot answer ours under another key; it takes our #FAILURE#, exits.
    unsigned char other[32];
    memset(other, 0x5a, sizeof other);
    CHECK_OK(spawn_bare_server(&chan, &spid));
    CHECK_OK(pc__p_fs_auth_answer(chan, pc__p_fs_key, pc__p_fs_keylen));
    CHECK_RC(pc__p_fs_auth_challenge(chan, other, sizeof other), PC_AUTH);
    fs_send_request(chan, st, bt);              // may fail: server gone
    CHECK(eof_soon(st[0]) && eof_soon(bt[0]));
    close(st[0]);
    close(bt[0]);
    CHECK(waitpid(spid, &status, 0) == spid);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 1);
    close(chan);

    // Both ways right: the server takes requests (as pc_process_start does).
    CHECK_OK(spawn_bare_server(&chan, &spid));
    CHECK_OK(pc__p_fs_auth_answer(chan, pc__p_fs_key, pc__p_fs_keylen));
    CHECK_OK(pc__p_fs_auth_challenge(chan, pc__p_fs_key, pc__p_fs_keylen));
    close(chan);                                // the server sees its end
    CHECK(waitpid(spid, &status, 0) == spid);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);

    CHECK_EQ(run_to_end(make(PC_START_FORKSERVER, t_seven, NULL)), 7);  // restarted
    CHECK_EQ(count_fds(), before);
    CHECK(no_zombies());
}

// Answer a server's challenge (read from chan) with the HMAC-MD5 of Python's
// legacy protocol under the right key: with the "{md5}" prefix, or bare.
static void answer_with_md5(int chan, int prefixed) {
    unsigned char m[256], reply[5 + 16];
    size_t len = prefixed ? 5 : 0;
    ssize_t n = recv(chan, m, sizeof m, 0);
    CHECK(n == 11 + 8 + 40 && memcmp(m, "#CHALLENGE#{sha256}", 19) == 0);
    memcpy(reply, "{md5}", len);
    pc__p_hmac(0, pc__p_fs_key, pc__p_fs_keylen, m + 11, (size_t)n - 11, reply + len);
    CHECK(send(chan, reply, len + 16, 0) == (ssize_t)(len + 16));
}

// The channel's handshake is Python's, but only in the "{sha256}" forms the
// two ends send: a right MD5 reply ({md5} or bare, which a Listener takes
// from Python <= 3.11) gets #FAILURE#, and a legacy 20-byte challenge no
// reply; either way the server exits 1 and starts nothing.
TEST(forkserver_handshake_sha256_only) {
    CHECK_EQ(run_to_end(make(PC_START_FORKSERVER, t_zero, NULL)), 0);   // the key is set
    int before = count_fds();
    for (int form = 0; form < 3; form++) {
        int chan, status;
        pid_t spid;
        CHECK_OK(spawn_bare_server(&chan, &spid));
        if (form < 2) {
            answer_with_md5(chan, form == 0);
            expect_record(chan, "#FAILURE#");
        } else {
            unsigned char m[11 + 20];
            CHECK_OK(pc__p_fs_auth_answer(chan, pc__p_fs_key, pc__p_fs_keylen));
            memcpy(m, "#CHALLENGE#", 11);
            CHECK_OK(pc__p_random_bytes(m + 11, 20));
            CHECK(send(chan, m, sizeof m, 0) == (ssize_t)sizeof m);
        }
        CHECK(eof_soon(chan));
        CHECK(waitpid(spid, &status, 0) == spid);
        CHECK_MSG(WIFEXITED(status) && WEXITSTATUS(status) == 1, "form %d", form);
        close(chan);
    }
    CHECK_EQ(count_fds(), before);
    CHECK(no_zombies());
}

// This process's children in state Z (dead, never waited for), from /proc.
static int zombie_children(void) {
    DIR *d = opendir("/proc");
    int n = 0;
    CHECK(d != NULL);
    for (struct dirent *e; (e = readdir(d));) {
        char path[300], text[512];
        if (e->d_name[0] < '0' || e->d_name[0] > '9') continue;
        snprintf(path, sizeof path, "/proc/%s/stat", e->d_name);
        FILE *f = fopen(path, "r");
        if (!f) continue;                       // gone meanwhile
        size_t len = fread(text, 1, sizeof text - 1, f);
        fclose(f);
        text[len] = '\0';
        const char *rest = strrchr(text, ')');  // the name may hold spaces and ')'
        char state;
        long ppid;
        if (rest && sscanf(rest + 1, " %c %ld", &state, &ppid) == 2 && ppid == (long)getpid())
            n += state == 'Z';
    }
    closedir(d);
    return n;
}

static int wait_state(pid_t pid, char want) {
    double deadline = pc_monotonic() + 5;
    while (pct_proc_state(pid) != want && pc_monotonic() < deadline) sched_yield();
    return pct_proc_state(pid) == want;
}

// Kill the stopped server once a request sits unread in its channel
// (SIOCOUTQ: bytes sent on sock and not yet taken by the peer).
typedef struct queued_kill { int sock; pid_t server; int saw_request; } queued_kill;
static int kill_when_queued(void *arg) {
    queued_kill *k = (queued_kill *)arg;
    double deadline = pc_monotonic() + 5;
    int queued = 0;
    while (pc_monotonic() < deadline && (ioctl(k->sock, SIOCOUTQ, &queued) < 0 || queued <= 0))
        sched_yield();
    k->saw_request = queued > 0;
    kill(k->server, SIGKILL);
    return 0;
}

// SIGKILL the forkserver, then start a child: its request meets a server
// already dead (the send fails), one dying with the request in its
// channel (no reply), or one killed at an unknown moment, maybe with the
// request in its hands. Every start succeeds on a new server, and every
// killed server is reaped: no zombie is left.
TEST(forkserver_killed_before_start) {
    CHECK_EQ(run_to_end(make(PC_START_FORKSERVER, t_zero, NULL)), 0);   // server up
    int before = count_fds();
    for (int round = 0; round < (PCT_SANITIZED ? 75 : 150); round++) {
        pid_t server = pc__p_fs_pid;
        queued_kill k = {pc__p_fs_sock, server, 0};
        pc_thread *killer = NULL;
        CHECK(server > 0 && pc__p_fs_sock >= 0);
        if (round % 3 == 0) {                   // dead for sure: its channel is closed
            CHECK(kill(server, SIGKILL) == 0);
            CHECK(wait_state(server, 'Z'));
        } else if (round % 3 == 1) {            // the request reaches it, unread
            CHECK(kill(server, SIGSTOP) == 0);
            CHECK(wait_state(server, 'T'));
            killer = race_thread(kill_when_queued, &k);
        } else {
            CHECK(kill(server, SIGKILL) == 0);  // whenever it takes effect
        }
        int want = 1 + round % 100;
        pc_process_desc d;
        memset(&d, 0, sizeof d);
        d.target = t_code;
        d.arg = &want;
        d.arg_size = sizeof want;
        d.context = pc_get_context(PC_START_FORKSERVER);
        pc_process *p = pc_process_new(&d);
        CHECK(p != NULL);
        CHECK_MSG(pc_process_start(p) == PC_OK, "round %d: %s", round, pc_last_error());
        CHECK_OK(pc_process_join(p, 10));
        CHECK_EQ(pc_process_exitcode(p), want);
        pc_process_free(p);
        if (killer) {
            CHECK_OK(pc_thread_join(killer, 10));
            pc_thread_free(killer);
            CHECK_MSG(k.saw_request, "round %d: the request never sat in the channel", round);
        }
        CHECK(pc__p_fs_pid != server);
        CHECK_MSG(zombie_children() == 0, "round %d: the killed server is a zombie", round);
    }
    CHECK_EQ(count_fds(), before);
    CHECK(no_zombies());
}

// Descriptors open in process pid, and the highest of them (-1: unknown).
static int fds_of(pid_t pid, int *out_highest) {
    char path[64];
    snprintf(path, sizeof path, "/proc/%ld/fd", (long)pid);
    DIR *d = opendir(path);
    int n = 0;
    *out_highest = -1;
    if (!d) return -1;
    for (struct dirent *e; (e = readdir(d));) {
        if (e->d_name[0] < '0' || e->d_name[0] > '9') continue;
        n++;
        if (atoi(e->d_name) > *out_highest) *out_highest = atoi(e->d_name);
    }
    closedir(d);
    return n;
}

// A server alive but unable to take the request (no descriptor free for
// the sockets it carries) gives no reply: the start fails, and the server
// is neither asked again nor replaced; once it can, it serves again.
TEST(forkserver_refusal_is_not_retried) {
    CHECK_EQ(run_to_end(make(PC_START_FORKSERVER, t_zero, NULL)), 0);   // server up
    int before = count_fds(), highest;
    pid_t server = pc__p_fs_pid;
    // Back in its poll, the server has closed the status socket it just
    // answered on: count its descriptors then, not one too many.
    CHECK(wait_state(server, 'S'));
    int n = fds_of(server, &highest);
    CHECK_MSG(n > 0 && n == highest + 1, "server descriptors: %d, highest %d", n, highest);
    struct rlimit old, full;
    CHECK(prlimit(server, RLIMIT_NOFILE, NULL, &old) == 0);
    full = old;
    full.rlim_cur = (rlim_t)n;                  // no slot free for what a request carries
    CHECK(prlimit(server, RLIMIT_NOFILE, &full, NULL) == 0);
    pc_process *p = make(PC_START_FORKSERVER, t_seven, NULL);
    CHECK_RC(pc_process_start(p), PC_OS);
    CHECK_EQ(errno, ECONNREFUSED);
    CHECK(strstr(pc_last_error(), "forkserver") != NULL);
    CHECK_EQ(pc_process_pid(p), 0);
    CHECK_EQ(pc__p_fs_pid, server);             // not replaced
    char state = pct_proc_state(server);
    CHECK_MSG(state == 'S' || state == 'R', "server state %c", state);
    CHECK(prlimit(server, RLIMIT_NOFILE, &old, NULL) == 0);
    CHECK_EQ(run_to_end(p), 7);                 // the same object, the same server
    CHECK_EQ(pc__p_fs_pid, server);
    CHECK_EQ(count_fds(), before);
    CHECK(no_zombies());
}

// A server that dies after it forked for a request, before its reply: the
// start fails, and is not asked of a new server (the child it forked runs,
// and a second one would run the target twice). A request that died with
// a server before it forked is asked again (forkserver_killed_before_start).
TEST(forkserver_died_after_fork_is_not_asked_again) {
    CHECK_EQ(run_to_end(make(PC_START_FORKSERVER, t_zero, NULL)), 0);   // server up
    int before = count_fds();
    for (int round = 0; round < 5; round++) {
        pid_t server = pc__p_fs_pid;
        pc_connection *r, *w;
        CHECK_OK(pc_pipe(0, &r, &w));
        pc_args *a = pc_args_new();
        CHECK_OK(pc_args_add_connection(a, w));
        pc_process *p = make(PC_START_FORKSERVER, t_say_ran, a);
        pc_args_free(a);
        pc_connection_free(w);
        pc__p_fs_test_die_after_fork = 1;
        int rc = pc_process_start(p);
        pc__p_fs_test_die_after_fork = 0;
        CHECK_RC(rc, PC_OS);
        CHECK_MSG(strstr(pc_last_error(), "not asked again") != NULL, "%s", pc_last_error());
        CHECK_EQ(pc_process_pid(p), 0);
        CHECK_EQ(pc__p_fs_sock, -1);                // the dead server reaped, forgotten
        pc_process_free(p);                         // drops our last copy of w
        void *buf;
        size_t n;
        CHECK_OK(pc_connection_recv_bytes(r, 0, &buf, &n));     // its child ran once
        CHECK(n == 3 && memcmp(buf, "ran", 3) == 0);
        pc_connection_bytes_free(buf);
        CHECK_RC(pc_connection_recv_bytes(r, 0, &buf, &n), PC_EOF);     // and no other
        pc_connection_free(r);
        CHECK_EQ(run_to_end(make(PC_START_FORKSERVER, t_seven, NULL)), 7);
        CHECK(pc__p_fs_pid > 0 && pc__p_fs_pid != server);
    }
    CHECK_EQ(count_fds(), before);
    CHECK(no_zombies());
}

// Truncated and corrupted packs decode to an error, never a crash.
TEST(pack_fuzz) {
    pc_args *a = pc_args_new();
    pc_args_add_int(a, 5);
    pc_args_add_str(a, "hello");
    pc_args_add_bytes(a, "\x01\x02\x03", 3);
    pc_args_add_double(a, 1.5);
    pc__p_buf b;
    memset(&b, 0, sizeof b);
    int fds[PC__ARGS_MAX_FDS];
    size_t nfds = 0;
    CHECK_OK(pc__p_args_encode(a, &b, fds, &nfds, NULL));
    pc_args_free(a);
    for (size_t cut = 0; cut < b.len; cut++) {
        pc__p_buf t;
        memset(&t, 0, sizeof t);
        t.p = b.p;
        t.len = cut;
        CHECK(pc__p_args_decode(&t, fds, 0, 1) == NULL);
    }
    unsigned seed = 12345;
    unsigned char *copy = (unsigned char *)malloc(b.len);
    for (int round = 0; round < 2000; round++) {
        memcpy(copy, b.p, b.len);
        for (int k = 0; k < 3; k++) {
            seed = seed * 1103515245u + 12345u;
            copy[(seed >> 8) % b.len] = (unsigned char)(seed >> 20);
        }
        pc__p_buf t;
        memset(&t, 0, sizeof t);
        t.p = copy;
        t.len = b.len;
        pc_args_free(pc__p_args_decode(&t, fds, 0, 1));
    }
    free(copy);
    b.pos = 0;
    a = pc__p_args_decode(&b, fds, 0, 1);
    CHECK(a && pc_args_len(a) == 4);
    pc_args_free(a);
    free(b.p);
}

// A spawned child given a garbage bootstrap exits 1 instead of crashing:
// a good magic and kind followed by garbage, a bad magic, a bad frame.
static void spawn_with_bootstrap(const void *frame, size_t n, int framed) {
    int sv[2];
    CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0);
    int high = fcntl(sv[1], F_DUPFD_CLOEXEC, 10);
    pid_t pid;
    CHECK_OK(pc__p_spawn_self(high, -1, &pid));
    close(high);
    close(sv[1]);
    if (framed) CHECK_OK(pc__p_frame_send_fds(sv[0], 1, frame, n, NULL, 0));
    else CHECK_OK(pc__p_os_write_buf(sv[0], 1, frame, n));
    close(sv[0]);
    int st;
    CHECK_EQ(waitpid(pid, &st, 0), pid);
    CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 1);
}

TEST(bad_bootstrap) {
    unsigned char body[12];
    uint32_t magic = PC__BOOT_MAGIC, kind = 1;
    memcpy(body, &magic, 4);
    memcpy(body + 4, &kind, 4);
    memcpy(body + 8, "garb", 4);
    spawn_with_bootstrap(body, sizeof body, 1);
    body[0] ^= 0x55;
    spawn_with_bootstrap(body, sizeof body, 1);
    spawn_with_bootstrap("\x90\0\0\0garbage", 11, 0);    // bad length header
    CHECK(no_zombies());
}

// >>trust: who a spawned child takes its bootstrap from. The forged
// messages below are what pc_process_start sends, for a target inside
// the test shared object (PCT_MARKER_LIB), whose constructor creates the
// file named by PCT_MARKER: a marker file means a child loaded it.
#define NOBODY 65534

static int exists(const char *path) { return access(path, F_OK) == 0; }

// Every file these cases make in their temporary directory.
static const char *const tmp_names[] = {"marker", "probe", "libmarker.so", "libmarker.so.new"};
static char tmp_dir_made[PATH_MAX];     // the case's directory until removed

// Remove the directory and what the case made in it (idempotent).
static void tmp_cleanup(void) {
    char path[PATH_MAX + 32];
    if (!tmp_dir_made[0]) return;
    for (size_t i = 0; i < sizeof tmp_names / sizeof tmp_names[0]; i++) {
        snprintf(path, sizeof path, "%s/%s", tmp_dir_made, tmp_names[i]);
        unlink(path);
    }
    rmdir(tmp_dir_made);
    tmp_dir_made[0] = '\0';
}

// A fresh 0755 directory under $TMPDIR (or /tmp) in dir[PATH_MAX]; a
// failed CHECK (exit) removes it too.
static void tmp_make(char *dir) {
    const char *base = getenv("TMPDIR");
    snprintf(dir, PATH_MAX, "%s/pct-trust-XXXXXX", base && base[0] ? base : "/tmp");
    CHECK_MSG(mkdtemp(dir) != NULL, "mkdtemp %.500s: %s", dir, strerror(errno));
    snprintf(tmp_dir_made, sizeof tmp_dir_made, "%s", dir);
    atexit(tmp_cleanup);
    CHECK(chmod(dir, 0755) == 0);
}

static void path_in(char *out, const char *dir, const char *name) {
    CHECK(snprintf(out, PATH_MAX, "%s/%s", dir, name) < PATH_MAX);
}

// Remove the directory; nothing else may be left in it.
static void tmp_remove(const char *dir) {
    tmp_cleanup();
    CHECK_MSG(!exists(dir), "%.500s is left behind", dir);
}

static void copy_file(const char *from, const char *to, mode_t mode) {
    char buf[65536];
    ssize_t n;
    int in = open(from, O_RDONLY | O_CLOEXEC);
    int out = open(to, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
    CHECK_MSG(in >= 0 && out >= 0, "copy %.400s to %.400s: %s", from, to, strerror(errno));
    while ((n = read(in, buf, sizeof buf)) > 0) CHECK(write(out, buf, (size_t)n) == n);
    CHECK(n == 0);
    close(in);
    CHECK(close(out) == 0);
}

// Load the test object here (no PCT_MARKER yet: no mark) and return its
// target. The handle stays open: the object must stay where it is.
static pc_target_fn marker_target(const char *lib) {
    CHECK(getenv("PCT_MARKER") == NULL);
    void *h = dlopen(lib, RTLD_NOW);
    CHECK_MSG(h != NULL, "dlopen %.400s: %.400s", lib, dlerror());
    void *sym = dlsym(h, "pct_marker_target");
    CHECK(sym != NULL);
    pc_target_fn fn;
    memcpy(&fn, &sym, sizeof fn);
    return fn;
}

// The run bootstrap pc_process_start would send for target fn (naming
// path instead of the object's own, when path is not NULL).
static pc__p_buf forged_body(pc_target_fn fn, const char *path) {
    pc_process *p = make(PC_START_SPAWN, fn, NULL);
    pc__p_funcref ref;
    pc__p_buf b;
    memset(&b, 0, sizeof b);
    CHECK_OK(pc__p_funcref_locate(fn, &ref));
    CHECK(!ref.is_main);
    if (path) snprintf(ref.path, sizeof ref.path, "%s", path);
    pc__p_boot_body_run(p, &ref, &b);
    CHECK(!b.bad);
    pc_process_free(p);
    return b;
}

// The probe program (PCT_SETUID_PROBE) installed set-user-ID and
// set-group-ID root in a fresh directory, and run as user nobody (as
// root itself when as_root: an ordinary run, to compare with), with env
// ("NAME=value") added to its environment and, when merge_stderr, its
// stderr in the output too (read to end of file: until every process
// holding it, the probe's children included, has exited).
typedef struct suid_probe {
    char dir[PATH_MAX], exe[PATH_MAX];
    const char *env;
    int as_root, merge_stderr;
} suid_probe;

static void suid_remove(suid_probe *s) { tmp_remove(s->dir); }

// In the child: become nobody, then exec the probe (codes >= 120: could not).
static void suid_exec(const suid_probe *s, const char *mode, int boot, const char *marker,
                      int out_w) {
    char menv[PATH_MAX + 16];
    char *argv[] = {(char *)"probe", (char *)mode, NULL};
    char *env[4];
    int n = 0;
    if (dup2(out_w, 1) < 0 || (boot >= 0 && dup2(boot, 3) < 0)) _exit(120);
    if (s->merge_stderr && dup2(out_w, 2) < 0) _exit(120);
    if (boot >= 0) env[n++] = (char *)"PYCONC_PROCESS_FD=3";
    if (marker) {
        snprintf(menv, sizeof menv, "PCT_MARKER=%s", marker);
        env[n++] = menv;
    }
    if (s->env) env[n++] = (char *)s->env;
    env[n] = NULL;
    if (!s->as_root && (setgroups(0, NULL) < 0 || setgid(NOBODY) < 0 || setuid(NOBODY) < 0))
        _exit(121);
    if (access(s->exe, X_OK) < 0) _exit(122);  // its directory is not open to nobody
    execve(s->exe, argv, env);
    _exit(123);
}

// Run the probe as nobody (boot: a socket for descriptor 3, or -1); its
// stdout in out. Returns its exit code; skips when it could not be run.
static int suid_run(suid_probe *s, const char *mode, int boot, const char *marker, char *out,
                    size_t cap) {
    int op[2], st;
    size_t got = 0;
    ssize_t n;
    CHECK(pipe2(op, O_CLOEXEC) == 0);
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    CHECK(pid >= 0);
    if (pid == 0) suid_exec(s, mode, boot, marker, op[1]);
    close(op[1]);
    while (got + 1 < cap && (n = read(op[0], out + got, cap - 1 - got)) > 0) got += (size_t)n;
    out[got] = '\0';
    close(op[0]);
    CHECK_EQ(waitpid(pid, &st, 0), pid);
    int code = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
    if (code >= 120 && code <= 123) {
        suid_remove(s);
        pct_skip(code == 121 ? "cannot switch to user nobody (65534)"
                 : code == 122 ? "user nobody cannot reach the temporary directory "
                                 "($TMPDIR or /tmp)"
                               : "cannot run the probe as user nobody");
    }
    return code;
}

// Install the probe, or skip loudly where this system cannot show a
// set-user-ID program at work (not root, nosuid, no_new_privs ...).
static void suid_install(suid_probe *s) {
    struct statvfs vfs;
    char out[4096];
    if (geteuid() != 0) pct_skip("needs root to install a set-user-ID root program");
    memset(s, 0, sizeof *s);
    tmp_make(s->dir);
    path_in(s->exe, s->dir, "probe");
    if (statvfs(s->dir, &vfs) == 0 && (vfs.f_flag & ST_NOSUID)) {
        suid_remove(s);
        pct_skip("the temporary directory is on a filesystem mounted nosuid");
    }
    copy_file(PCT_SETUID_PROBE, s->exe, 0700);
    CHECK(chown(s->exe, 0, 0) == 0);
    CHECK(chmod(s->exe, 06755) == 0);
    int code = suid_run(s, "main", -1, NULL, out, sizeof out);
    if (code != 0 || !strstr(out, "main euid=0 ")) {
        char why[512];
        snprintf(why, sizeof why, "the set-user-ID bit had no effect here (exit %d, output "
                 "\"%.200s\"; sanitizer runtime, no_new_privs or a user namespace?)", code, out);
        suid_remove(s);
        pct_skip(why);
    }
}

// A set-user-ID root program, run by nobody with the variable and a
// forged bootstrap on descriptor 3 that names the test object: the
// bootstrap never runs (no marker: the object was not loaded as root),
// main does, and the variable is gone before it.
TEST(bootstrap_setuid_refused) {
    suid_probe s;
    char marker[PATH_MAX], out[4096];
    int sv[2], before = count_fds();
    suid_install(&s);
    path_in(marker, s.dir, "marker");
    pc__p_buf body = forged_body(marker_target(PCT_MARKER_LIB), NULL);
    CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0);
    CHECK_OK(pc__p_boot_send(sv[0], &body, NULL, 0));
    int code = suid_run(&s, "main", sv[1], marker, out, sizeof out);
    close(sv[0]);
    close(sv[1]);
    free(body.p);
    int marked = exists(marker);
    suid_remove(&s);
    CHECK_MSG(!marked, "the forged bootstrap loaded the object as root (exit %d)", code);
    CHECK_MSG(strstr(out, "main euid=0 env=unset") != NULL, "exit %d, stdout: %.900s", code, out);
    CHECK_EQ(code, 0);
    CHECK_EQ(count_fds(), before);
    CHECK(no_zombies());
}

// A set-user-ID program cannot start spawn or forkserver children (their
// bootstrap would be refused): PC_RUNTIME, saying to use fork; fork works.
TEST(setuid_refuses_spawn) {
    suid_probe s;
    char out[4096], want[64];
    int before = count_fds();
    suid_install(&s);
    int code = suid_run(&s, "start", -1, NULL, out, sizeof out);
    suid_remove(&s);
    CHECK_MSG(code == 0, "exit %d, stdout: %.900s", code, out);
    const char *refused[] = {"spawn", "forkserver", "default"};
    for (int i = 0; i < 3; i++) {
        snprintf(want, sizeof want, "%s rc=%d msg=", refused[i], PC_RUNTIME);
        const char *line = strstr(out, want);
        CHECK_MSG(line != NULL, "no \"%s\" in: %.900s", want, out);
        const char *end = strchr(line, '\n');
        const char *fix = strstr(line, "use the fork start method");
        CHECK_MSG(fix && end && fix < end, "message of %s: %.900s", refused[i], line);
    }
    CHECK_MSG(strstr(out, "fork rc=0 exit=7 ") != NULL, "stdout: %.900s", out);
    CHECK_EQ(count_fds(), before);
    CHECK(no_zombies());
}

// The value after "key" in out (up to a space or line end), or "" when
// there is none.
static void field_of(const char *out, const char *key, char *val, size_t cap) {
    const char *p = strstr(out, key);
    size_t n = 0;
    if (p) {
        p += strlen(key);
        while (p[n] && p[n] != ' ' && p[n] != '\n' && n + 1 < cap) n++;
        memcpy(val, p, n);
    }
    val[n] = '\0';
}

// PYCONC_CPU_COUNT is the environment's, which a set-user-ID program's
// caller chose: there it is ignored (both counts are the machine's),
// where an ordinary run of the same program obeys it.
TEST(setuid_ignores_cpu_count_variable) {
    suid_probe s;
    char out[4096], root_out[4096];
    suid_install(&s);
    s.env = "PYCONC_CPU_COUNT=977";
    int code = suid_run(&s, "cpu", -1, NULL, out, sizeof out);
    s.as_root = 1;
    int root_code = suid_run(&s, "cpu", -1, NULL, root_out, sizeof root_out);
    suid_remove(&s);
    CHECK_MSG(root_code == 0 && strstr(root_out, "cpu count=977 process=977\n"),
              "an ordinary run did not obey the variable (exit %d): %.900s", root_code,
              root_out);
    CHECK_MSG(code == 0 && strstr(out, "main euid=0 ") && strstr(out, "cpu count="),
              "exit %d, stdout: %.900s", code, out);
    CHECK_MSG(!strstr(out, "=977"), "the set-user-ID run obeyed PYCONC_CPU_COUNT: %.900s",
              out);
}

// set_executable (a program to spawn) and set_forkserver_preload (libraries
// a server loads by path) name files a set-user-ID program would run with
// its privileges: both are PC_RUNTIME there, saying why, where an ordinary
// run of the same program accepts them.
TEST(setuid_refuses_executable_and_preload_paths) {
    suid_probe s;
    char out[4096], root_out[4096], want[64];
    suid_install(&s);
    int code = suid_run(&s, "paths", -1, NULL, out, sizeof out);
    s.as_root = 1;
    int root_code = suid_run(&s, "paths", -1, NULL, root_out, sizeof root_out);
    suid_remove(&s);
    CHECK_MSG(root_code == 0 && strstr(root_out, "set_executable rc=0 ") &&
              strstr(root_out, "preload rc=0 "), "ordinary run (exit %d): %.900s", root_code,
              root_out);
    CHECK_MSG(code == 0, "exit %d, stdout: %.900s", code, out);
    const char *refused[] = {"set_executable", "preload"};
    for (int i = 0; i < 2; i++) {
        snprintf(want, sizeof want, "%s rc=%d msg=", refused[i], PC_RUNTIME);
        const char *line = strstr(out, want);
        CHECK_MSG(line != NULL, "no \"%s\" in: %.900s", want, out);
        const char *end = strchr(line, '\n');
        const char *why = strstr(line, "set-user-ID");
        CHECK_MSG(why && end && why < end, "message of %s: %.900s", refused[i], line);
    }
}

// A listener made with no address puts its socket in a new private
// directory under $TMPDIR; a set-user-ID program ignores its caller's
// TMPDIR and uses /tmp. (glibc also drops TMPDIR from a secure program's
// environment; pyconc reads it with secure_getenv all the same.)
TEST(setuid_ignores_tmpdir) {
    suid_probe s;
    char out[4096], root_out[4096], env[PATH_MAX + 16], tdir[PATH_MAX], addr[PATH_MAX];
    suid_install(&s);
    snprintf(tdir, sizeof tdir, "/tmp/pct-tmpdir-XXXXXX");
    CHECK(mkdtemp(tdir) != NULL);
    CHECK(chmod(tdir, 0777) == 0);
    snprintf(env, sizeof env, "TMPDIR=%s", tdir);
    s.env = env;
    int code = suid_run(&s, "tmpdir", -1, NULL, out, sizeof out);
    s.as_root = 1;
    int root_code = suid_run(&s, "tmpdir", -1, NULL, root_out, sizeof root_out);
    suid_remove(&s);
    int left = rmdir(tdir);             // fails if a listener left its files
    field_of(root_out, "listener ", addr, sizeof addr);
    CHECK_MSG(root_code == 0 && strncmp(addr, tdir, strlen(tdir)) == 0,
              "an ordinary run did not use TMPDIR %.300s (exit %d): %.600s", tdir, root_code,
              root_out);
    field_of(out, "listener ", addr, sizeof addr);
    CHECK_MSG(code == 0 && strncmp(addr, "/tmp/pyconc-", 12) == 0,
              "set-user-ID run (exit %d): %.900s", code, out);
    CHECK_MSG(left == 0, "rmdir %.500s: %s", tdir, strerror(errno));
    CHECK(!exists(addr));
}

// A tracked SharedMemory block a set-user-ID program makes is its
// effective user's, mode 0600 (its caller cannot open it), and the
// reaper, a fork of the program that reads no environment, unlinks it
// when the program exits without doing so.
TEST(setuid_shared_memory_private_and_reaped) {
    suid_probe s;
    char out[8192], name[300], path[400], want[400];
    suid_install(&s);
    s.merge_stderr = 1;
    int code = suid_run(&s, "shm", -1, NULL, out, sizeof out);  // to the reaper's exit
    suid_remove(&s);
    field_of(out, "shm name=", name, sizeof name);
    CHECK_MSG(code == 0 && name[0], "exit %d, output: %.900s", code, out);
    snprintf(path, sizeof path, "/dev/shm/%s", name);
    int linked = exists(path);
    if (linked) unlink(path);
    CHECK_MSG(strstr(out, " uid=0 mode=600") != NULL, "the block: %.900s", out);
    CHECK_MSG(!linked, "%.400s is still linked after the program and its reaper ended", path);
    snprintf(want, sizeof want, "pyconc: unlinked shared memory %s,", name);
    CHECK_MSG(strstr(out, want) != NULL, "the reaper said: %.900s", out);
}

// How a forged bootstrap reaches a spawned copy of this program: on a
// socketpair its parent made (as pc_process_start does), one this test
// process made while a fork of it spawns the program, or one its parent
// made while running as another user.
enum { BOOT_FROM_PARENT, BOOT_FROM_GRANDPARENT, BOOT_FROM_OTHER_USER };

// In the intermediate process: spawn the program on sv[1] (made here
// unless given), send body, return its exit code (>= 100: a setup step).
static int boot_intermediate(const pc__p_buf *body, int how, int sv[2], int err_w) {
    int st, high;
    pid_t pid;
    if (dup2(err_w, 2) < 0) return 100;
    if (how == BOOT_FROM_OTHER_USER && seteuid(NOBODY) < 0) return 101;
    if (sv[0] < 0 && socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0) return 102;
    if (how == BOOT_FROM_OTHER_USER && seteuid(0) < 0) return 103;
    if ((high = fcntl(sv[1], F_DUPFD_CLOEXEC, 10)) < 0) return 104;
    if (pc__p_spawn_self(high, -1, &pid)) return 105;
    close(high);
    close(sv[1]);
    pc__p_boot_send(sv[0], body, NULL, 0);  // a child that refused may be gone already
    close(sv[0]);
    if (waitpid(pid, &st, 0) != pid) return 106;
    return WIFEXITED(st) ? WEXITSTATUS(st) : 107;
}

// Deliver body the way `how` says; the spawned program's exit code, and
// what it wrote on stderr in err.
static int boot_child(const pc__p_buf *body, int how, char *err, size_t cap) {
    int ep[2], sv[2] = {-1, -1}, st;
    size_t got = 0;
    ssize_t n;
    CHECK(pipe2(ep, O_CLOEXEC) == 0);
    if (how == BOOT_FROM_GRANDPARENT)
        CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0);
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    CHECK(pid >= 0);
    if (pid == 0) _exit(boot_intermediate(body, how, sv, ep[1]));
    close(ep[1]);
    if (sv[0] >= 0) close(sv[0]);
    if (sv[1] >= 0) close(sv[1]);
    while (got + 1 < cap && (n = read(ep[0], err + got, cap - 1 - got)) > 0) got += (size_t)n;
    err[got] = '\0';
    close(ep[0]);
    CHECK_EQ(waitpid(pid, &st, 0), pid);
    CHECK(WIFEXITED(st));
    CHECK_MSG(WEXITSTATUS(st) < 100, "setup step %d failed", WEXITSTATUS(st));
    return WEXITSTATUS(st);
}

// A child trusts only a bootstrap socket its parent made: the same message
// on a socketpair made by another process (this one, while a fork of it
// spawns the program), or by the parent under another user, is refused
// before it is read; from the real parent it runs (and loads the object).
TEST(bootstrap_foreign_peer_refused) {
    char dir[PATH_MAX], marker[PATH_MAX], err[4096];
    int before = count_fds();
    tmp_make(dir);
    path_in(marker, dir, "marker");
    pc__p_buf body = forged_body(marker_target(PCT_MARKER_LIB), NULL);
    CHECK(setenv("PCT_MARKER", marker, 1) == 0);
    for (int round = 0; round < 5; round++) {
        CHECK_EQ(boot_child(&body, BOOT_FROM_PARENT, err, sizeof err), 42);
        CHECK_MSG(exists(marker), "the real parent's bootstrap did not load the object");
        CHECK(unlink(marker) == 0);
        CHECK_EQ(boot_child(&body, BOOT_FROM_GRANDPARENT, err, sizeof err), 1);
        CHECK_MSG(!exists(marker), "a foreign bootstrap loaded the object");
        CHECK_MSG(strstr(err, "not from our parent") != NULL, "stderr: %.900s", err);
        if (geteuid() != 0) continue;       // only root can make a socket as another user
        CHECK_EQ(boot_child(&body, BOOT_FROM_OTHER_USER, err, sizeof err), 1);
        CHECK_MSG(!exists(marker), "another user's bootstrap loaded the object");
        CHECK_MSG(strstr(err, "not from us") != NULL, "stderr: %.900s", err);
    }
    if (geteuid() != 0) printf("note: not root, the other-user case was not run\n");
    unsetenv("PCT_MARKER");
    free(body.p);
    tmp_remove(dir);
    CHECK_EQ(count_fds(), before);
    CHECK(no_zombies());
}

// A child loads an object its parent named only by absolute path and only
// if it is the very file the parent found there: a relative name, or a
// file replaced since, is refused without loading it.
TEST(bootstrap_dlopen_checked) {
    char dir[PATH_MAX], lib[PATH_MAX], fresh[PATH_MAX], marker[PATH_MAX], err[4096];
    char cwd[PATH_MAX];
    int before = count_fds();
    tmp_make(dir);
    path_in(lib, dir, "libmarker.so");
    path_in(fresh, dir, "libmarker.so.new");
    path_in(marker, dir, "marker");
    copy_file(PCT_MARKER_LIB, lib, 0755);
    pc_target_fn fn = marker_target(lib);
    pc__p_buf body = forged_body(fn, NULL);
    pc__p_buf relative = forged_body(fn, "./libmarker.so");
    CHECK(setenv("PCT_MARKER", marker, 1) == 0);

    CHECK_EQ(boot_child(&body, BOOT_FROM_PARENT, err, sizeof err), 42);   // the control
    CHECK_MSG(exists(marker), "the unchanged object was not loaded");
    CHECK(unlink(marker) == 0);

    CHECK(getcwd(cwd, sizeof cwd) != NULL);
    CHECK(chdir(dir) == 0);             // where "./libmarker.so" is that very file
    int code = boot_child(&relative, BOOT_FROM_PARENT, err, sizeof err);
    CHECK(chdir(cwd) == 0);
    CHECK_EQ(code, 1);
    CHECK_MSG(!exists(marker), "an object named by a relative path was loaded");
    CHECK_MSG(strstr(err, "not an absolute path") != NULL, "stderr: %.900s", err);

    copy_file(PCT_MARKER_LIB, fresh, 0755);     // same bytes, another file
    CHECK(rename(fresh, lib) == 0);
    CHECK_EQ(boot_child(&body, BOOT_FROM_PARENT, err, sizeof err), 1);
    CHECK_MSG(!exists(marker), "a replaced object was loaded");
    CHECK_MSG(strstr(err, "not the file the parent loaded") != NULL, "stderr: %.900s", err);

    unsetenv("PCT_MARKER");
    free(body.p);
    free(relative.p);
    tmp_remove(dir);
    CHECK_EQ(count_fds(), before);
    CHECK(no_zombies());
}

// >>logger
// What the logger's handler received, one "LEVEL message" line each.
typedef struct log_capture { pc_lock mu; char text[16384]; size_t len; int n; } log_capture;

static void log_capture_fn(int level, const char *message, void *ctx) {
    log_capture *c = (log_capture *)ctx;
    pc_lock_acquire(&c->mu, PC_FOREVER);
    int w = snprintf(c->text + c->len, sizeof c->text - c->len, "%d %s\n", level, message);
    if (w > 0 && (size_t)w < sizeof c->text - c->len) c->len += (size_t)w;
    c->n++;
    pc_lock_release(&c->mu);
}

static void log_capture_reset(log_capture *c) {
    c->len = 0;
    c->n = 0;
    c->text[0] = '\0';
}

static int t_log_level(void *arg) {
    (void)arg;
    return pc_logger_level(pc_get_logger());
}

// The logger: off for the library's events by default (level WARNING), a
// handler set with a level gets each start and end, and the forkserver's
// start and its replacement after it died; children of every method start
// at the parent's level (spawned ones without the handler, which cannot
// cross exec: at WARNING then, or at the level log_to_stderr gave).
TEST(logger_events) {
    static log_capture cap = {PC_LOCK_INIT, "", 0, 0};
    char want[256];
    pc_logger *lg = pc_get_logger();
    CHECK(lg != NULL);
    CHECK_EQ(pc_logger_level(lg), PC_LOG_WARNING);
    CHECK_RC(pc_logger_set_level(lg, -1), PC_VALUE);
    CHECK_RC(pc_logger_set_level(lg, PC_LOG_OFF + 1), PC_VALUE);
    CHECK_RC(pc_logger_set_level(NULL, PC_LOG_DEBUG), PC_VALUE);
    CHECK_RC(pc_logger_set_handler(NULL, log_capture_fn, &cap), PC_VALUE);
    CHECK_OK(pc_logger_set_handler(lg, log_capture_fn, &cap));
    CHECK_EQ(run_to_end(make(PC_START_FORK, t_seven, NULL)), 7);
    CHECK_MSG(cap.n == 0, "logged at the default level: %.900s", cap.text);
    CHECK_OK(pc_logger_set_level(lg, PC_LOG_DEBUG));
    for (int i = 0; i < 3; i++) {
        log_capture_reset(&cap);
        pc_process *p = make(methods[i], t_seven, NULL);
        CHECK_OK(pc_process_start(p));
        long pid = pc_process_pid(p);
        CHECK_OK(pc_process_join(p, 10));
        snprintf(want, sizeof want, "%d started %s (pid %ld, %s)\n", PC_LOG_DEBUG,
                 pc_process_name(p), pid, pc_start_method_name(methods[i]));
        CHECK_MSG(strstr(cap.text, want) != NULL, "no \"%.200s\" in: %.700s", want, cap.text);
        snprintf(want, sizeof want, "%d %s (pid %ld) ended with exitcode 7\n", PC_LOG_DEBUG,
                 pc_process_name(p), pid);
        CHECK_MSG(strstr(cap.text, want) != NULL, "no \"%.200s\" in: %.700s", want, cap.text);
        if (methods[i] == PC_START_FORKSERVER) {
            snprintf(want, sizeof want, "%d forkserver started (pid %ld)\n", PC_LOG_INFO,
                     (long)pc__p_fs_pid);
            CHECK_MSG(strstr(cap.text, want) != NULL, "no \"%.200s\" in: %.700s", want, cap.text);
        }
        pc_process_free(p);
        int child = methods[i] == PC_START_FORK ? PC_LOG_DEBUG : PC_LOG_WARNING;
        CHECK_EQ(run_to_end(make(methods[i], t_log_level, NULL)), child);
    }
    pid_t server = pc__p_fs_pid;                // killed: the next start replaces it
    CHECK(kill(server, SIGKILL) == 0);
    CHECK(wait_state(server, 'Z'));
    log_capture_reset(&cap);
    CHECK_EQ(run_to_end(make(PC_START_FORKSERVER, t_seven, NULL)), 7);
    CHECK(pc__p_fs_pid != server);
    snprintf(want, sizeof want, "%d forkserver (pid %ld) died; starting another\n",
             PC_LOG_SUBWARNING, (long)server);
    CHECK_MSG(strstr(cap.text, want) != NULL, "no \"%.200s\" in: %.700s", want, cap.text);
    snprintf(want, sizeof want, "%d forkserver started (pid %ld)\n", PC_LOG_INFO,
             (long)pc__p_fs_pid);
    CHECK_MSG(strstr(cap.text, want) != NULL, "no \"%.200s\" in: %.700s", want, cap.text);
    CHECK(pc_log_to_stderr(PC_LOG_ERROR) == lg);     // drops the handler
    for (int i = 0; i < 3; i++)
        CHECK_EQ(run_to_end(make(methods[i], t_log_level, NULL)), PC_LOG_ERROR);
    CHECK(pc_log_to_stderr(-5) == NULL);
    CHECK_EQ(pc_last_error_code(), PC_VALUE);
    CHECK_OK(pc_logger_set_level(lg, PC_LOG_WARNING));
    CHECK(no_zombies());
}

static int t_wait_event(void *arg) { return pc_event_wait((pc_event *)arg, 10); }

// Read what a temporary file that stood in for stderr holds.
static void read_back(int fd, char *out, size_t cap) {
    ssize_t n = pread(fd, out, cap - 1, 0);
    out[n > 0 ? n : 0] = '\0';
}

// Python 3.12's warning when fork runs while other threads are alive:
// on stderr through the logger, once per process; none with one thread,
// none when silenced by pc_set_fork_warning(0) or the logger's level.
TEST(fork_warning) {
    static log_capture cap = {PC_LOCK_INIT, "", 0, 0};
    char err[4096];
    pc_logger *lg = pc_get_logger();
    CHECK_EQ(run_to_end(make(PC_START_FORK, t_zero, NULL)), 0);   // one thread: nothing
    pc_event ev;
    pc_event_init(&ev);
    pc_thread *t = race_thread(t_wait_event, &ev);
    CHECK_OK(pc_logger_set_handler(lg, log_capture_fn, &cap));
    pc_set_fork_warning(0);
    CHECK_EQ(run_to_end(make(PC_START_FORK, t_zero, NULL)), 0);
    pc_set_fork_warning(1);
    CHECK_OK(pc_logger_set_level(lg, PC_LOG_ERROR));
    CHECK_EQ(run_to_end(make(PC_START_FORK, t_zero, NULL)), 0);
    CHECK_MSG(cap.n == 0, "warned while silenced: %.900s", cap.text);
    CHECK_OK(pc_logger_set_level(lg, PC_LOG_WARNING));
    CHECK_OK(pc_logger_set_handler(lg, NULL, NULL));        // the default: stderr
    char path[] = "/tmp/pct_stderr_XXXXXX";
    int fd = mkstemp(path), saved = dup(2);
    CHECK(fd >= 0 && saved >= 0);
    unlink(path);
    fflush(stderr);
    CHECK(dup2(fd, 2) == 2);
    for (int i = 0; i < 3; i++) CHECK_EQ(run_to_end(make(PC_START_FORK, t_zero, NULL)), 0);
    fflush(stderr);
    CHECK(dup2(saved, 2) == 2);
    close(saved);
    read_back(fd, err, sizeof err);
    close(fd);
    const char *line = strstr(err, "[WARNING/MainProcess] This process (pid=");
    CHECK_MSG(line != NULL, "stderr: %.900s", err);
    CHECK_MSG(strstr(line, "multi-threaded") && strstr(line, "fork()"), "stderr: %.900s", err);
    CHECK_MSG(strstr(line + 1, "[WARNING/") == NULL, "warned more than once: %.900s", err);
    pc_event_set(&ev);
    CHECK_OK(pc_thread_join(t, 10));
    pc_thread_free(t);
    pc_event_destroy(&ev);
    CHECK(no_zombies());
}

// >>set_executable
// Exit 0 when this process runs the program at the path in item 0.
static int t_exe_is(void *arg) {
    const char *want;
    char exe[PATH_MAX];
    if (pc_args_get_str((pc_args *)arg, 0, &want)) return 2;
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n < 0) return 3;
    exe[n] = '\0';
    return strcmp(exe, want) == 0 ? 0 : 1;
}

// set_executable: spawn children and a forkserver started after it run
// the program given (a copy of this one, in a fresh directory); fork
// children do not exec. NULL goes back to this program; bad paths fail.
TEST(set_executable) {
    char dir[PATH_MAX], copy[PATH_MAX], self[PATH_MAX];
    int before = count_fds();
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    CHECK(n > 0);
    self[n] = '\0';
    tmp_make(dir);
    path_in(copy, dir, "probe");
    copy_file(self, copy, 0755);
    CHECK_RC(pc_set_executable(""), PC_VALUE);
    CHECK_RC(pc_set_executable(dir), PC_OS);           // a directory
    CHECK_RC(pc_set_executable("/nonexistent/pyconc-program"), PC_OS);
    CHECK_EQ(errno, ENOENT);
    CHECK_OK(pc_set_executable(copy));
    pc_args *a = args_of_str(copy);
    for (int i = 0; i < 3; i++) {
        int want = methods[i] == PC_START_FORK ? 1 : 0;
        CHECK_MSG(run_to_end(make(methods[i], t_exe_is, a)) == want, "%s",
                  pc_start_method_name(methods[i]));
    }
    pc_args_free(a);
    CHECK_OK(pc_set_executable(NULL));
    a = args_of_str(self);
    CHECK_EQ(run_to_end(make(PC_START_SPAWN, t_exe_is, a)), 0);
    pc_args_free(a);
    tmp_remove(dir);
    CHECK_EQ(count_fds(), before + (pc__p_fs_sock >= 0));     // the forkserver's channel
    CHECK(no_zombies());
}

// >>forkserver preload
static int preload_warm;
static int pre_warm(void *arg) { (void)arg; preload_warm = 4321; return 0; }
static int pre_fail(void *arg) { (void)arg; return 5; }
static int t_warm(void *arg) { (void)arg; return preload_warm == 4321 ? 0 : 1; }

// Whether process pid maps the file path.
static int maps_file(pid_t pid, const char *path) {
    char name[64], line[4096];
    int found = 0;
    snprintf(name, sizeof name, "/proc/%ld/maps", (long)pid);
    FILE *f = fopen(name, "re");
    if (!f) return 0;
    while (!found && fgets(line, sizeof line, f)) found = strstr(line, path) != NULL;
    fclose(f);
    return found;
}

// Kill the forkserver, if any: the next forkserver start runs a new one.
static void fs_kill(void) {
    pid_t server = pc__p_fs_pid;
    if (server <= 0) return;
    CHECK(kill(server, SIGKILL) == 0);
    CHECK(wait_state(server, 'Z'));
}

// set_forkserver_preload: a new server loads the libraries (by absolute
// path, as the bootstrap does) and runs the functions once, before its
// first fork, so each child starts with them; a failing preload is
// ignored, logged (warn) or fails the start (fail), as Python 3.15's
// on_error; bad lists are refused when set.
TEST(forkserver_preload) {
    char dir[PATH_MAX], marker[PATH_MAX], err[4096];
    const char *libs[] = {PCT_MARKER_LIB};
    const char *relative[] = {"libpct_marker.so"}, *missing[] = {"/nonexistent/lib.so"};
    pc_target_fn warm[] = {pre_warm}, failing[] = {pre_fail}, none[] = {NULL};
    pc_forkserver_preload_desc d;
    memset(&d, 0, sizeof d);
    d.libraries = relative;
    d.nlibraries = 1;
    CHECK_RC(pc_set_forkserver_preload(&d), PC_VALUE);
    d.libraries = missing;
    CHECK_RC(pc_set_forkserver_preload(&d), PC_OS);
    CHECK_EQ(errno, ENOENT);
    d.libraries = NULL;
    CHECK_RC(pc_set_forkserver_preload(&d), PC_VALUE);
    d.nlibraries = 0;
    d.functions = none;
    d.nfunctions = 1;
    CHECK_RC(pc_set_forkserver_preload(&d), PC_VALUE);
    d.functions = warm;
    d.on_error = (pc_preload_on_error)7;
    CHECK_RC(pc_set_forkserver_preload(&d), PC_VALUE);

    CHECK_EQ(run_to_end(make(PC_START_FORKSERVER, t_warm, NULL)), 1);  // cold without it
    int before = count_fds();
    tmp_make(dir);
    path_in(marker, dir, "marker");
    CHECK(setenv("PCT_MARKER", marker, 1) == 0);
    d.libraries = libs;
    d.nlibraries = 1;
    d.on_error = PC_PRELOAD_FAIL;
    CHECK_OK(pc_set_forkserver_preload(&d));
    CHECK_EQ(run_to_end(make(PC_START_FORKSERVER, t_warm, NULL)), 1);  // the old server
    for (int round = 0; round < 3; round++) {   // each new server preloads again
        fs_kill();
        CHECK_EQ(run_to_end(make(PC_START_FORKSERVER, t_warm, NULL)), 0);
        CHECK(maps_file(pc__p_fs_pid, PCT_MARKER_LIB));
        CHECK(exists(marker));
    }
    CHECK_EQ(run_to_end(make(PC_START_SPAWN, t_warm, NULL)), 1);       // only forkserver's
    CHECK(dlopen(PCT_MARKER_LIB, RTLD_NOW | RTLD_NOLOAD) == NULL);      // not loaded here
    unsetenv("PCT_MARKER");
    tmp_remove(dir);

    d.libraries = NULL;
    d.nlibraries = 0;
    d.functions = failing;
    d.on_error = PC_PRELOAD_IGNORE;
    CHECK_OK(pc_set_forkserver_preload(&d));
    fs_kill();
    CHECK_EQ(run_to_end(make(PC_START_FORKSERVER, t_seven, NULL)), 7);
    d.on_error = PC_PRELOAD_WARN;
    CHECK_OK(pc_set_forkserver_preload(&d));
    fs_kill();
    char path[] = "/tmp/pct_stderr_XXXXXX";
    int fd = mkstemp(path), saved = dup(2);
    CHECK(fd >= 0 && saved >= 0);
    unlink(path);
    fflush(stderr);
    CHECK(dup2(fd, 2) == 2);
    int code = run_to_end(make(PC_START_FORKSERVER, t_seven, NULL));
    CHECK(dup2(saved, 2) == 2);
    close(saved);
    read_back(fd, err, sizeof err);
    close(fd);
    CHECK_EQ(code, 7);
    CHECK_MSG(strstr(err, "] forkserver preload: preload function <main>+0x") &&
              strstr(err, "returned 5"), "stderr: %.900s", err);
    d.on_error = PC_PRELOAD_FAIL;
    CHECK_OK(pc_set_forkserver_preload(&d));
    fs_kill();
    for (int round = 0; round < 3; round++) {
        pc_process *p = make(PC_START_FORKSERVER, t_seven, NULL);
        CHECK_RC(pc_process_start(p), PC_RUNTIME);
        CHECK_MSG(strstr(pc_last_error(), "forkserver preload failed") &&
                  strstr(pc_last_error(), "returned 5"), "%s", pc_last_error());
        pc_process_free(p);
        CHECK(no_zombies());
    }
    CHECK_OK(pc_set_forkserver_preload(NULL));
    CHECK_EQ(run_to_end(make(PC_START_FORKSERVER, t_seven, NULL)), 7);
    CHECK_EQ(count_fds(), before);
    CHECK(no_zombies());
}

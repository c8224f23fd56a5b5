/* pc_proc_test.h - helpers shared by the process and connection tests
   (test_process.c, test_connection.c): descriptor and zombie counts for
   the leak checks, and making a process object. Include after pc_test.h
   and pyconc_process.h. */
#ifndef PC_PROC_TEST_H
#define PC_PROC_TEST_H

#include <dirent.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#if defined(__linux__)
#include <signal.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <unistd.h>
#endif

// Descriptors >= lo open in this process, not counting the listing's own.
static int pct_fds_from(int lo) {
    DIR *d = opendir("/proc/self/fd");
    if (!d) return -1;
    int n = 0;
    for (struct dirent *e; (e = readdir(d));)
        if (e->d_name[0] != '.' && atoi(e->d_name) >= lo && atoi(e->d_name) != dirfd(d)) n++;
    closedir(d);
    return n;
}

// All of this process's descriptors (the leak check around a case).
static __attribute__((unused)) int count_fds(void) { return pct_fds_from(0); }
// Descriptors beyond 0, 1 and 2 (what a child holds besides stdio).
static __attribute__((unused)) int count_high_fds(void) { return pct_fds_from(3); }

// No child of ours is a zombie (the forkserver, alive, does not count).
static __attribute__((unused)) int no_zombies(void) {
    int st;
    return waitpid(-1, &st, WNOHANG) <= 0;
}

// A process object for target fn under start method m (not started).
static __attribute__((unused)) pc_process *proc_new(pc_start_method m, pc_target_fn fn,
                                                    const pc_args *args, pc_daemon daemon) {
    pc_process_desc d;
    memset(&d, 0, sizeof d);
    d.target = fn;
    d.args = args;
    d.daemon = daemon;
    d.context = pc_get_context(m);
    pc_process *p = pc_process_new(&d);
    CHECK_MSG(p != NULL, "pc_process_new: %s", pc_last_error());
    return p;
}

// >>lifetimes: start, join, kill a child; the leak marks around a case
// Start fn under start method m with pack a (may be NULL).
static __attribute__((unused)) pc_process *pct_start(pc_start_method m, pc_target_fn fn,
                                                     const pc_args *a) {
    pc_process *p = proc_new(m, fn, a, PC_DAEMON_INHERIT);
    CHECK_OK(pc_process_start(p));
    return p;
}

// Join (20 s at most) and return the exit code; frees p.
static __attribute__((unused)) int pct_finish(pc_process *p) {
    CHECK_OK(pc_process_join(p, 20));
    int code = pc_process_exitcode(p);
    pc_process_free(p);
    return code;
}

// SIGKILL p and reap it; its exit code must say so. Frees p.
static __attribute__((unused)) void pct_kill_and_reap(pc_process *p) {
    CHECK_OK(pc_process_kill(p));
    CHECK_OK(pc_process_join(p, 10));
    CHECK_EQ(pc_process_exitcode(p), -SIGKILL);
    pc_process_free(p);
}

static int pct_nothing(void *arg) { (void)arg; return 0; }

// What a case must give back: the descriptors open at its start.
typedef struct pct_leak { int fds; } pct_leak;
static __attribute__((unused)) pct_leak pct_leak_now(void) {
    pct_leak k = {count_fds()};
    return k;
}
// The same, once the start method's server (the forkserver) runs, so that
// it does not count as a leak of the case.
static __attribute__((unused)) pct_leak pct_leak_begin(pc_start_method m) {
    CHECK_EQ(pct_finish(pct_start(m, pct_nothing, NULL)), 0);
    return pct_leak_now();
}
static __attribute__((unused)) void pct_leak_end(pct_leak k) {
    CHECK_EQ(count_fds(), k.fds);
    CHECK(no_zombies());
}

// >>syscalls: the system calls a piece of code makes, children included
// >>big items: map items and results bigger than a pipe's buffer, each
// checkable byte by byte; one item (its index == crash) segfaults. The
// pool tests share them (test_pool, test_process_pool).
enum { PCT_BIG = 100 * 1024, PCT_NBIG = 10 };
typedef struct pct_big_item {
    long index, crash;
    unsigned char fill[PCT_BIG - 2 * sizeof(long)];
} pct_big_item;

static unsigned char pct_big_byte(long index, size_t at) {
    return (unsigned char)(index * 31 + at);
}

// The crash's gate, under fork only. gcc 12's AddressSanitizer takes no
// lock around fork(): a replacement worker the pool's collector forks while
// the test's thread is inside malloc or free can stay stuck in the child's
// allocator for good (glibc's malloc locks itself around fork). So the
// crashing item waits here until the test has done allocating; the pool
// forks the replacement before it fails the item, so by the time the test
// sees the failure no fork is left. Fork children inherit the pointer.
static pc_mp_event *pct_big_gate;

static __attribute__((unused)) void pct_big_gate_begin(pc_start_method m) {
    if (m != PC_START_FORK) return;
    pct_big_gate = pc_mp_event_new();
    CHECK_MSG(pct_big_gate != NULL, "%s", pc_last_error());
}

static __attribute__((unused)) void pct_big_gate_open(void) {
    if (pct_big_gate) CHECK_OK(pc_mp_event_set(pct_big_gate));
}

static __attribute__((unused)) void pct_big_gate_close(void) {
    if (pct_big_gate) CHECK_OK(pc_mp_event_clear(pct_big_gate));
}

static __attribute__((unused)) void pct_big_gate_end(void) {
    pc_mp_event_free(pct_big_gate);
    pct_big_gate = NULL;
}

// Its item's index and bytes checked, a result of PCT_BIG bytes made from
// them; raise(SIGSEGV) on the item marked to crash (once the gate is open).
static __attribute__((unused)) void *pct_big_or_crash(void *arg) {
    static unsigned char out[PCT_BIG];
    const pct_big_item *it = (const pct_big_item *)arg;
    if (it->index == it->crash) {
        if (pct_big_gate) pc_mp_event_wait(pct_big_gate, 60);
        signal(SIGSEGV, SIG_DFL);       // a sanitizer's handler would exit 1 instead
        raise(SIGSEGV);
    }
    for (size_t i = 0; i < sizeof it->fill; i++)
        if (it->fill[i] != pct_big_byte(it->index, i)) {
            pc_raise(PC_VALUE, "item %ld arrived damaged at byte %zu", it->index, i);
            return NULL;
        }
    for (size_t i = 0; i < PCT_BIG; i++) out[i] = pct_big_byte(-it->index, i);
    memcpy(out, &it->index, sizeof it->index);
    return out;
}

// PCT_NBIG items (free() them), the one at crash marked to segfault.
static __attribute__((unused)) pct_big_item *pct_big_items(long crash) {
    pct_big_item *items = (pct_big_item *)malloc(PCT_NBIG * sizeof *items);
    CHECK(items != NULL);
    for (long k = 0; k < PCT_NBIG; k++) {
        items[k].index = k;
        items[k].crash = crash;
        for (size_t i = 0; i < sizeof items[k].fill; i++) items[k].fill[i] = pct_big_byte(k, i);
    }
    return items;
}

static __attribute__((unused)) void pct_check_big_result(const void *r, long index) {
    const unsigned char *b = (const unsigned char *)r;
    long got;
    CHECK(r != NULL);
    memcpy(&got, b, sizeof got);
    CHECK_EQ(got, index);
    for (size_t i = sizeof got; i < PCT_BIG; i++)
        if (b[i] != pct_big_byte(-index, i))
            CHECK_MSG(0, "result %ld differs at byte %zu", index, i);
}

// The message of a task whose worker the segfault killed.
static __attribute__((unused)) void pct_check_segv_message(long index) {
    char want[64];
    snprintf(want, sizeof want, "killed by signal %d (SIGSEGV)", SIGSEGV);
    CHECK_MSG(strstr(pc_last_error(), want) != NULL, "item %ld: %s", index, pc_last_error());
}

#if defined(__linux__) && defined(PTRACE_GET_SYSCALL_INFO)
#define PCT_HAVE_SYSCOUNT 1
#define PCT_SYSCALLS 512
// The traced code calls this before and after the part to count: a close
// of a descriptor number nothing else ever closes (a yield, as before, was
// also made elsewhere, and a third mark spoils the count).
#define PCT_SYSCOUNT_MARK_FD (-4242)
static __attribute__((unused)) void pct_syscount_mark(void) {
    syscall(SYS_close, PCT_SYSCOUNT_MARK_FD);
}

// Stop handling for pct_syscount: count an entry between the root's marks.
static void pct_syscount_stop(pid_t t, pid_t root, int *marks, long *counts) {
    struct __ptrace_syscall_info si;
    memset(&si, 0, sizeof si);
    if (ptrace(PTRACE_GET_SYSCALL_INFO, t, (void *)sizeof si, &si) <= 0) return;
    if (si.op != PTRACE_SYSCALL_INFO_ENTRY || si.entry.nr >= PCT_SYSCALLS) return;
    if (t == root && si.entry.nr == SYS_close && (int)si.entry.args[0] == PCT_SYSCOUNT_MARK_FD)
        (*marks)++;
    else if (*marks == 1) counts[si.entry.nr]++;
}

// Run fn(arg) in a child traced with ptrace, with every process it forks
// or spawns, and count into counts[nr] (PCT_SYSCALLS of them, zeroed
// here) the calls each made between the child's two pct_syscount_mark().
// Returns 0, or -1 where ptrace is not allowed (the caller skips).
static __attribute__((unused)) int pct_syscount(void (*fn)(void *), void *arg, long *counts) {
    int st, marks = 0;
    memset(counts, 0, PCT_SYSCALLS * sizeof *counts);
    pid_t root = fork();
    if (root < 0) return -1;
    if (root == 0) {
        if (ptrace(PTRACE_TRACEME, 0, NULL, NULL) < 0) _exit(77);
        raise(SIGSTOP);
        fn(arg);
        _exit(0);
    }
    if (waitpid(root, &st, 0) != root || !WIFSTOPPED(st)) return -1;
    long opts = PTRACE_O_TRACESYSGOOD | PTRACE_O_TRACEFORK | PTRACE_O_TRACEVFORK |
                PTRACE_O_TRACECLONE | PTRACE_O_EXITKILL;
    if (ptrace(PTRACE_SETOPTIONS, root, NULL, (void *)opts) < 0) {
        kill(root, SIGKILL);
        waitpid(root, &st, 0);
        return -1;
    }
    ptrace(PTRACE_SYSCALL, root, NULL, NULL);
    for (;;) {
        pid_t t = waitpid(-1, &st, __WALL);
        if (t < 0) break;       // every tracee is gone
        if (!WIFSTOPPED(st)) continue;
        int sig = WSTOPSIG(st), deliver = 0;
        if (sig == (SIGTRAP | 0x80)) pct_syscount_stop(t, root, &marks, counts);
        else if (sig != SIGTRAP && sig != SIGSTOP) deliver = sig;
        ptrace(PTRACE_SYSCALL, t, NULL, (void *)(long)deliver);
    }
    return marks == 2 ? 0 : -1;
}
#else
#define PCT_HAVE_SYSCOUNT 0
#endif

#endif

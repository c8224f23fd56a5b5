/* pc_proc_test.h - helpers shared by the process and connection tests
   (test_process.c, test_connection.c): descriptor and zombie counts for
   the leak checks, and making a process object. Include after pc_test.h
   and pyconc_process.h. */
#ifndef PC_PROC_TEST_H
#define PC_PROC_TEST_H

#include <dirent.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

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

#endif

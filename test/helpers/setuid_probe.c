/* setuid_probe.c - a program built with pyconc_process.h's implementation
   that the set-user-ID cases of test_process.c install set-user-ID root
   and run as another user. It says on stdout what it found:
     setuid_probe main    "main euid=E env=set|unset"
     setuid_probe start   "main euid=E" and then, per start method,
                          "<method> rc=<code> exit=<exitcode> msg=<last error>"
     setuid_probe cpu     "cpu count=N process=N" (PYCONC_CPU_COUNT's effect)
     setuid_probe paths   "set_executable rc=.. msg=.." and "preload rc=.. msg=.."
     setuid_probe tmpdir  "listener ADDRESS" of a listener made with no address
     setuid_probe shm     "shm name=NAME uid=U mode=M" of a tracked block it
                          leaves linked (its reaper unlinks it at exit) */
#define PYCONC_IMPLEMENTATION
#define PYCONC_PROCESS_IMPLEMENTATION
#include "pyconc_process.h"

#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static int seven(void *arg) { (void)arg; return 7; }

static void try_start(pc_start_method m) {
    pc_process_desc d;
    memset(&d, 0, sizeof d);
    d.target = seven;
    d.context = pc_get_context(m);
    pc_process *p = pc_process_new(&d);
    if (!p) {
        printf("%s new failed: %s\n", pc_start_method_name(m), pc_last_error());
        return;
    }
    int rc = pc_process_start(p);
    const char *msg = rc ? pc_last_error() : "";
    printf("%s rc=%d", pc_start_method_name(m), rc);
    if (!rc && pc_process_join(p, 10) == PC_OK) printf(" exit=%d", pc_process_exitcode(p));
    printf(" msg=%s\n", msg);
    pc_process_free(p);
}

static void try_paths(void) {
    int rc = pc_set_executable("/bin/sh");
    printf("set_executable rc=%d msg=%s\n", rc, rc ? pc_last_error() : "");
    Dl_info info;               // a library by path: the C library, loaded here
    int (*fn)(const char *, ...) = printf;
    void *addr;
    memcpy(&addr, &fn, sizeof addr);
    const char *lib = dladdr(addr, &info) && info.dli_fname ? info.dli_fname : "";
    pc_forkserver_preload_desc d;
    memset(&d, 0, sizeof d);
    d.libraries = &lib;
    d.nlibraries = lib[0] == '/' ? 1 : 0;
    rc = pc_set_forkserver_preload(&d);
    printf("preload rc=%d msg=%s\n", rc, rc ? pc_last_error() : "");
}

static void try_tmpdir(void) {
    pc_listener *l = pc_listener_new(NULL);
    if (!l) {
        printf("listener failed: %s\n", pc_last_error());
        return;
    }
    printf("listener %s\n", pc_listener_address(l));
    pc_listener_free(l);
}

// Leave a tracked block linked: the reaper must unlink it once we exit.
static void try_shm(void) {
    char path[300];
    struct stat st;
    pc_shared_memory_desc d;
    memset(&d, 0, sizeof d);
    d.create = 1;
    d.size = 4096;
    pc_shared_memory *m = pc_shared_memory_new(&d);
    if (!m) {
        printf("shm failed: %s\n", pc_last_error());
        return;
    }
    snprintf(path, sizeof path, "/dev/shm/%s", pc_shared_memory_name(m));
    if (stat(path, &st) < 0) st.st_uid = (uid_t)-1, st.st_mode = 0;
    printf("shm name=%s uid=%ld mode=%o\n", pc_shared_memory_name(m), (long)st.st_uid,
           (unsigned)(st.st_mode & 07777));
    pc_shared_memory_close(m);
    pc_shared_memory_free(m);
}

int main(int argc, char **argv) {
    printf("main euid=%ld env=%s\n", (long)geteuid(),
           getenv("PYCONC_PROCESS_FD") ? "set" : "unset");
    if (argc > 1 && strcmp(argv[1], "start") == 0) {
        try_start(PC_START_SPAWN);
        try_start(PC_START_FORKSERVER);
        try_start(PC_START_DEFAULT);
        try_start(PC_START_FORK);
    }
    if (argc > 1 && strcmp(argv[1], "cpu") == 0)
        printf("cpu count=%d process=%d\n", pc_cpu_count(), pc_process_cpu_count());
    if (argc > 1 && strcmp(argv[1], "paths") == 0) try_paths();
    if (argc > 1 && strcmp(argv[1], "tmpdir") == 0) try_tmpdir();
    if (argc > 1 && strcmp(argv[1], "shm") == 0) try_shm();
    fflush(stdout);
    return 0;
}

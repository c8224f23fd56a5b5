/* setuid_probe.c - a program built with pyconc_process.h's implementation
   that the set-user-ID cases of test_process.c install set-user-ID root
   and run as another user. It says on stdout what it found:
     setuid_probe main    "main euid=E env=set|unset"
     setuid_probe start   "main euid=E" and then, per start method,
                          "<method> rc=<code> exit=<exitcode> msg=<last error>" */
#define PYCONC_IMPLEMENTATION
#define PYCONC_PROCESS_IMPLEMENTATION
#include "pyconc_process.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
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

int main(int argc, char **argv) {
    printf("main euid=%ld env=%s\n", (long)geteuid(),
           getenv("PYCONC_PROCESS_FD") ? "set" : "unset");
    if (argc > 1 && strcmp(argv[1], "start") == 0) {
        try_start(PC_START_SPAWN);
        try_start(PC_START_FORKSERVER);
        try_start(PC_START_DEFAULT);
        try_start(PC_START_FORK);
    }
    fflush(stdout);
    return 0;
}

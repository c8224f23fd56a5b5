/* bench_process.c - start + join of a trivial child, per start method,
   against the raw system calls and against Python's multiprocessing.

   The same work in one run: pyconc's fork method against fork() + _exit()
   + waitpid(); spawn against posix_spawn() of /proc/self/exe + waitpid()
   (the raw child is this program, which exits at once when it sees its
   marker); a warm forkserver against raw fork; and each method against
   CPython's (bench/py/process_start.py; skipped with a message if python3
   is absent). pyconc and raw trials alternate (A B A B ...) and each keeps
   its median.

       bench_process           the full run (a few seconds)
       bench_process quick     fewer rounds, for a smoke test

   The program ends with the targets and whether each is met; it exits 1
   only if a start failed. Connection figures are in bench_connection. */
#define PYCONC_IMPLEMENTATION
#define PYCONC_PROCESS_IMPLEMENTATION
#include "pyconc_process.h"

#include "bench.h"

#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

typedef struct trial_ctx {
    int n;                      // starts per trial
    pc_start_method method;
    int failed;
} trial_ctx;

static int nothing(void *arg) { (void)arg; return 0; }

static double ours(void *vctx) {
    trial_ctx *c = (trial_ctx *)vctx;
    pc_process_desc d;
    memset(&d, 0, sizeof d);
    d.target = nothing;
    d.context = pc_get_context(c->method);
    double t0 = pcb_now();
    for (int i = 0; i < c->n; i++) {
        pc_process *p = pc_process_new(&d);
        if (!p || pc_process_start(p) || pc_process_join(p, PC_FOREVER) ||
            pc_process_exitcode(p) != 0)
            c->failed = 1;
        pc_process_free(p);
    }
    return (pcb_now() - t0) / c->n;
}

static double raw_fork(void *vctx) {
    trial_ctx *c = (trial_ctx *)vctx;
    double t0 = pcb_now();
    for (int i = 0; i < c->n; i++) {
        int st;
        pid_t pid = fork();
        if (pid == 0) _exit(0);
        if (pid < 0 || waitpid(pid, &st, 0) != pid) c->failed = 1;
    }
    return (pcb_now() - t0) / c->n;
}

static double raw_spawn(void *vctx) {
    trial_ctx *c = (trial_ctx *)vctx;
    char *argv[3];
    argv[0] = (char *)"bench_process";
    argv[1] = (char *)"--exit-at-once";
    argv[2] = NULL;
    double t0 = pcb_now();
    for (int i = 0; i < c->n; i++) {
        int st;
        pid_t pid;
        if (posix_spawn(&pid, "/proc/self/exe", NULL, NULL, argv, environ) != 0 ||
            waitpid(pid, &st, 0) != pid)
            c->failed = 1;
    }
    return (pcb_now() - t0) / c->n;
}

#define PY "Python multiprocessing"

int main(int argc, char **argv) {
    if (argc > 1 && strcmp(argv[1], "--exit-at-once") == 0) return 0;
    pcb_parse_quick(argc, argv);
    int rounds = pcb_quick ? 3 : 9;
    trial_ctx c;
    memset(&c, 0, sizeof c);
    c.n = pcb_quick ? 10 : 40;
    double f_ours, f_raw, s_ours, s_raw, fs_ours, fs_raw;
    char args[64], title[200];
    const char *names[3] = {"fork", "spawn", "forkserver"};
    const char *cases[3] = {"fork start+join", "spawn start+join",
                            "forkserver start+join (warm)"};

    snprintf(title, sizeof title, "pyconc_process.h start+join of a child that does nothing, "
             "against the raw system calls and Python's multiprocessing; %d per trial", c.n);
    pcb_begin("process", title, rounds);
    c.method = PC_START_FORK;
    pcb_duel(ours, &c, raw_fork, &c, rounds, &f_ours, &f_raw);
    pcb_row(cases[0], f_ours, "fork+waitpid", f_raw);
    pcb_target(cases[0], "fork+waitpid", f_ours, f_raw, 1.2);
    c.method = PC_START_SPAWN;
    pcb_duel(ours, &c, raw_spawn, &c, rounds, &s_ours, &s_raw);
    pcb_row(cases[1], s_ours, "posix_spawn", s_raw);
    pcb_target(cases[1], "posix_spawn", s_ours, s_raw, 1.3);
    c.method = PC_START_FORKSERVER;
    ours(&c);                   // warm: the server is started once
    pcb_duel(ours, &c, raw_fork, &c, rounds, &fs_ours, &fs_raw);
    pcb_row(cases[2], fs_ours, "fork+waitpid", fs_raw);
    pcb_target(cases[2], "fork+waitpid", fs_ours, fs_raw, 1.5);

    int py_n = pcb_quick ? 5 : 20;
    double mine[3] = {f_ours, s_ours, fs_ours};
    for (int i = 0; i < 3; i++) {
        snprintf(args, sizeof args, "%s %d%s", names[i], py_n, pcb_quick ? " quick" : "");
        double py = pcb_python("process_start.py", args);
        pcb_row(cases[i], mine[i], PY, py);
        pcb_target(cases[i], PY, mine[i], py, 0.05);
    }
    pcb_end();
    return c.failed;
}

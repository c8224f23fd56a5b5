/* bench.h - the benchmark harness shared by bench/bench_*.c.

   The machine is shared and noisy, so a figure is never one run: pcb_duel
   runs ours and the peer's trial alternately (A B A B ...) and keeps the
   median of each, and every row prints the ratio next to both. All times
   are per operation; ratio = pyconc / peer (below 1.00: pyconc is faster).
   Rows also go to bench_<subsystem>.csv in the working directory. */
#ifndef PC_BENCH_H
#define PC_BENCH_H

#include "pyconc.h"

#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#ifndef PYCONC_BENCH_DIR
#define PYCONC_BENCH_DIR "bench"
#endif
#ifndef PYCONC_PYTHON3
#define PYCONC_PYTHON3 "python3"
#endif

/* Every helper is static and some benches use only a few of them. */
#define PCB_FN static __attribute__((unused))

static FILE *pcb_csv;
static int pcb_quick;       // "quick" on the command line: smoke-test sizes
static int pcb_failures;    // operations that returned an error

/* Read the command line's "quick" (a smoke test with smaller sizes). */
PCB_FN void pcb_parse_quick(int argc, char **argv) {
    pcb_quick = argc > 1 && strcmp(argv[1], "quick") == 0;
}

/* n, or a tenth of it in a quick run. */
PCB_FN long pcb_scaled(long n) { return pcb_quick ? n / 10 : n; }

/* Count a failed operation (rc != 0; rc may OR many statuses) and show the
   first few with pyconc's last error. A bench exits 1 when any failed. */
PCB_FN void pcb_note_failure(const char *what, int rc) {
    if (rc == 0) return;
    if (pcb_failures++ < 5)
        fprintf(stderr, "bench: %s failed (%d; last pyconc error here: \"%s\")\n", what, rc,
                pc_last_error());
}

PCB_FN double pcb_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

PCB_FN int pcb_cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Median of n values (sorts v). */
PCB_FN double pcb_median(double *v, int n) {
    qsort(v, (size_t)n, sizeof *v, pcb_cmp_double);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/* The q-quantile (0..1) of n values (sorts v). */
PCB_FN double pcb_quantile(double *v, int n, double q) {
    qsort(v, (size_t)n, sizeof *v, pcb_cmp_double);
    int i = (int)(q * (n - 1) + 0.5);
    return v[i];
}

/* One trial: do the work, return seconds per operation. */
typedef double (*pcb_trial)(void *ctx);

/* Run a and b alternately, rounds times each; medians in out_a, out_b. */
PCB_FN void pcb_duel(pcb_trial a, void *actx, pcb_trial b, void *bctx, int rounds,
                     double *out_a, double *out_b) {
    double ta[64], tb[64];
    if (rounds > 64) rounds = 64;
    for (int i = 0; i < rounds; i++) {
        ta[i] = a(actx);
        tb[i] = b(bctx);
    }
    *out_a = pcb_median(ta, rounds);
    *out_b = pcb_median(tb, rounds);
}

/* Median of rounds runs of a alone. */
PCB_FN double pcb_solo(pcb_trial a, void *ctx, int rounds) {
    double t[64];
    if (rounds > 64) rounds = 64;
    for (int i = 0; i < rounds; i++) t[i] = a(ctx);
    return pcb_median(t, rounds);
}

/* Start the report for one subsystem. */
PCB_FN void pcb_begin(const char *subsystem) {
    char path[256];
    snprintf(path, sizeof path, "bench_%s.csv", subsystem);
    pcb_csv = fopen(path, "w");
    if (pcb_csv) fprintf(pcb_csv, "case,unit,pyconc,peer_name,peer,ratio\n");
    printf("%-40s %12s %12s  %-16s %8s\n", "case (time per op)", "pyconc", "peer", "peer is",
           "ratio");
}

/* Print a time with a unit that fits. */
static const char *pcb_fmt(double s, char *buf, size_t cap) {
    if (s != s) snprintf(buf, cap, "%s", "skipped");
    else if (s < 1e-6) snprintf(buf, cap, "%.1f ns", s * 1e9);
    else if (s < 1e-3) snprintf(buf, cap, "%.2f us", s * 1e6);
    else snprintf(buf, cap, "%.2f ms", s * 1e3);
    return buf;
}

/* One row: seconds per op for pyconc and the peer (NAN: peer skipped). */
PCB_FN void pcb_row(const char *name, double ours, const char *peer_name, double peer) {
    char a[32], b[32];
    double ratio = peer == peer && peer > 0 ? ours / peer : NAN;
    char r[32];
    if (ratio == ratio) snprintf(r, sizeof r, "%7.2fx", ratio);
    else snprintf(r, sizeof r, "%8s", "-");
    printf("%-40s %12s %12s  %-16s %s\n", name, pcb_fmt(ours, a, sizeof a),
           pcb_fmt(peer, b, sizeof b), peer_name, r);
    fflush(stdout);
    if (pcb_csv)
        fprintf(pcb_csv, "%s,s,%.9g,%s,%.9g,%.4f\n", name, ours, peer_name, peer, ratio);
}

PCB_FN void pcb_end(void) {
    if (pcb_csv) fclose(pcb_csv);
    pcb_csv = NULL;
}

/* Run bench/py/<script> with args under python3; it prints one number,
   seconds per op. Returns NAN (and says why, once) when python3 is absent. */
PCB_FN double pcb_python(const char *script, const char *args) {
    char cmd[1024];
    static int warned;
    if (!PYCONC_PYTHON3[0] || strstr(PYCONC_PYTHON3, "NOTFOUND")) {
        if (!warned++) printf("(python3 not found: Python rows skipped)\n");
        return NAN;
    }
    snprintf(cmd, sizeof cmd, "%s %s/py/%s %s", PYCONC_PYTHON3, PYCONC_BENCH_DIR, script,
             args ? args : "");
    FILE *p = popen(cmd, "r");
    double v = NAN;
    if (!p || fscanf(p, "%lf", &v) != 1) v = NAN;
    if (p) pclose(p);
    if (v != v && !warned++) printf("(python3 run failed: %s)\n", cmd);
    return v;
}

/* glibc skips atomics while a process has one thread, which flatters lock
   figures; an idle second thread keeps every contender honest. */
static pthread_mutex_t pcb_idle_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t pcb_idle_cv = PTHREAD_COND_INITIALIZER;
static int pcb_idle_stop;
static pthread_t pcb_idle_thread;

static void *pcb_idle_main(void *arg) {
    (void)arg;
    pthread_mutex_lock(&pcb_idle_mu);
    while (!pcb_idle_stop) pthread_cond_wait(&pcb_idle_cv, &pcb_idle_mu);
    pthread_mutex_unlock(&pcb_idle_mu);
    return NULL;
}

PCB_FN void pcb_idle_start(void) { pthread_create(&pcb_idle_thread, NULL, pcb_idle_main, NULL); }

PCB_FN void pcb_idle_stop_join(void) {
    pthread_mutex_lock(&pcb_idle_mu);
    pcb_idle_stop = 1;
    pthread_cond_signal(&pcb_idle_cv);
    pthread_mutex_unlock(&pcb_idle_mu);
    pthread_join(pcb_idle_thread, NULL);
}

#endif

/* bench.h - the benchmark harness shared by bench/bench_*.c.

   The machine is shared and noisy, so a figure is never one run: pcb_duel
   runs ours and the peer's trial alternately (A B A B ...) and keeps the
   median of each. All times are per operation.

   Every program prints the same things in the same words:
   - a header: the program, what it measures, the machine (CPU, cores,
     load average), the rounds;
   - one row per comparison: case, pyconc's time, the peer's time, the
     peer, and how pyconc compares from its own side: "2.31x faster"
     (pyconc takes 1/2.31 of the peer's time), "1.12x slower", or why the
     peer has no figure ("skipped: install libuv1-dev");
   - the targets, each "target: CASE: <= 1.2x slower than PEER — met (...)";
   - the same rows and targets in bench_<subsystem>.csv in the working
     directory: RFC 4180 (CRLF, fields with a comma, quote or line break
     quoted, quotes doubled), one header row, the columns PCB_CSV_COLUMNS
     in every program. bench/report.py reads them. */
#ifndef PC_BENCH_H
#define PC_BENCH_H

#include "pyconc.h"

#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#ifndef PYCONC_BENCH_DIR
#define PYCONC_BENCH_DIR "bench"
#endif
#ifndef PYCONC_PYTHON3
#define PYCONC_PYTHON3 "python3"
#endif

/* What a user installs to get a missing peer (Debian package names). */
#define PCB_NEED_GLIB "install libglib2.0-dev"
#define PCB_NEED_LIBUV "install libuv1-dev"
#define PCB_NEED_PYTHON "install python3"

/* The CSV's columns, in every program:
     program    bench_threading, ...
     kind       row (a comparison) or target
     case       what was timed, e.g. "Lock acquire+release"
     peer       what it was compared with, e.g. "pthread_mutex"
     pyconc_s   pyconc's seconds per operation
     peer_s     the peer's seconds per operation; empty when skipped
     ratio      pyconc_s / peer_s (below 1: pyconc is faster); empty when skipped
     pyconc_is  "2.31x faster", "1.12x slower" or "skipped: <why>"
     series, x  a scaling row's series ("pool workers") and its size (4); empty otherwise
     limit      a target's largest ratio that meets it; empty for rows
     verdict    a target's "met", "not met" or "skipped"; empty for rows
   A target against a time budget has the peer "time budget" and the
   budget as peer_s. */
#define PCB_CSV_COLUMNS \
    "program,kind,case,peer,pyconc_s,peer_s,ratio,pyconc_is,series,x,limit,verdict"

/* Every helper is static and some benches use only a few of them. */
#define PCB_FN static __attribute__((unused))

static FILE *pcb_csv;
static char pcb_program[64];    // "bench_<subsystem>"
static int pcb_quick;           // "quick" on the command line: smoke-test sizes
static int pcb_failures;        // operations that returned an error
static const char *pcb_skip_why; // why the last Python figure is missing (NAN)

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

// ---------------------------------------------------------------------------
// >>words  How a figure reads: a time with a unit that fits, and a ratio
// as pyconc sees it.

static int pcb_is_figure(double s) { return s == s && s > 0 && s < INFINITY; }

static const char *pcb_fmt(double s, char *buf, size_t cap) {
    if (s != s) snprintf(buf, cap, "%s", "-");
    else if (s < 1e-6) snprintf(buf, cap, "%.1f ns", s * 1e9);
    else if (s < 1e-3) snprintf(buf, cap, "%.2f us", s * 1e6);
    else if (s < 1) snprintf(buf, cap, "%.2f ms", s * 1e3);
    else snprintf(buf, cap, "%.2f s", s);
    return buf;
}

/* "100", "10k", "2M": a count as the case names say it. */
PCB_FN const char *pcb_count(long n, char *buf, size_t cap) {
    if (n >= 1000000 && n % 1000000 == 0) snprintf(buf, cap, "%ldM", n / 1000000);
    else if (n >= 1000 && n % 1000 == 0) snprintf(buf, cap, "%ldk", n / 1000);
    else snprintf(buf, cap, "%ld", n);
    return buf;
}

/* "2.31x faster", "16.6x faster", "215x faster", "1.12x slower": three
   significant digits whatever the size, so a huge ratio never prints as
   0.00x. */
static const char *pcb_speed(double ours, double peer, char *buf, size_t cap) {
    if (!pcb_is_figure(ours) || !pcb_is_figure(peer)) {
        snprintf(buf, cap, "%s", "no figure");
        return buf;
    }
    double ratio = ours / peer, times = ratio <= 1 ? 1 / ratio : ratio;
    int decimals = times < 9.995 ? 2 : times < 99.95 ? 1 : 0;
    snprintf(buf, cap, "%.*fx %s", decimals, times, ratio <= 1 ? "faster" : "slower");
    return buf;
}

/* A target's bar in words: limit is the largest pyconc/peer ratio that
   meets it. "<= 1.2x slower than X", ">= 20x faster than X", "no slower
   than X". */
static const char *pcb_limit_words(double limit, const char *peer, char *buf, size_t cap) {
    if (limit == 1) snprintf(buf, cap, "no slower than %s", peer);
    else if (limit > 1) snprintf(buf, cap, "<= %.3gx slower than %s", limit, peer);
    else snprintf(buf, cap, ">= %.3gx faster than %s", 1 / limit, peer);
    return buf;
}

// ---------------------------------------------------------------------------
// >>csv  RFC 4180: a field holding a comma, quote or line break is quoted,
// its quotes doubled; records end with CRLF.

static void pcb_csv_text(const char *s, int last) {
    if (!s) s = "";
    if (strpbrk(s, ",\"\r\n")) {
        fputc('"', pcb_csv);
        for (; *s; s++) {
            if (*s == '"') fputc('"', pcb_csv);
            fputc(*s, pcb_csv);
        }
        fputc('"', pcb_csv);
    } else {
        fputs(s, pcb_csv);
    }
    fputs(last ? "\r\n" : ",", pcb_csv);
}

// A number, or an empty field for a missing one (NAN).
static void pcb_csv_number(double v) {
    if (v == v) fprintf(pcb_csv, "%.9g,", v);
    else fputc(',', pcb_csv);
}

typedef struct pcb_record {
    const char *kind, *name, *peer_name;
    double ours, peer, limit, x;
    const char *pyconc_is, *series, *verdict;
} pcb_record;

static void pcb_csv_record(const pcb_record *r) {
    if (!pcb_csv) return;
    pcb_csv_text(pcb_program, 0);
    pcb_csv_text(r->kind, 0);
    pcb_csv_text(r->name, 0);
    pcb_csv_text(r->peer_name, 0);
    pcb_csv_number(r->ours);
    pcb_csv_number(pcb_is_figure(r->peer) ? r->peer : NAN);
    pcb_csv_number(pcb_is_figure(r->peer) ? r->ours / r->peer : NAN);
    pcb_csv_text(r->pyconc_is, 0);
    pcb_csv_text(r->series, 0);
    pcb_csv_number(r->x);
    pcb_csv_number(r->limit);
    pcb_csv_text(r->verdict, 1);
    fflush(pcb_csv);
}

// ---------------------------------------------------------------------------
// >>header  Which program, what it measures, on what machine.

static void pcb_cpu_model(char *buf, size_t cap) {
    char line[256];
    FILE *f = fopen("/proc/cpuinfo", "r");
    snprintf(buf, cap, "%s", "CPU model unknown");
    if (!f) return;
    while (fgets(line, sizeof line, f)) {
        char *colon = strchr(line, ':');
        if (strncmp(line, "model name", 10) != 0 || !colon) continue;
        colon += strspn(colon + 1, " \t") + 1;
        colon[strcspn(colon, "\n")] = '\0';
        snprintf(buf, cap, "%s", colon);
        break;
    }
    fclose(f);
}

/* Start the report of one program: print its header and open its CSV.
   title says what is compared; rounds is the trials per row of each side
   (A B A B ...). */
PCB_FN void pcb_begin(const char *subsystem, const char *title, int rounds) {
    char path[256], cpu[200];
    double load[3] = {NAN, NAN, NAN};
    snprintf(pcb_program, sizeof pcb_program, "bench_%s", subsystem);
    snprintf(path, sizeof path, "%s.csv", pcb_program);
    pcb_cpu_model(cpu, sizeof cpu);
    if (getloadavg(load, 3) < 0) load[0] = load[1] = load[2] = NAN;
    printf("%s - %s\n", pcb_program, title);
    printf("  machine: %s, %ld cores, load average %.2f %.2f %.2f\n", cpu,
           sysconf(_SC_NPROCESSORS_ONLN), load[0], load[1], load[2]);
    printf("  rounds:  %d per row; pyconc and the peer alternate (A B A B), medians kept\n",
           rounds);
    printf("  run:     %s\n", pcb_quick ? "quick (a smoke test: the figures mean little)"
                                        : "full");
    printf("  reading: time per operation; \"2.00x faster\": pyconc takes half the peer's"
           " time\n");
    printf("  csv:     %s\n\n", path);
    pcb_csv = fopen(path, "w");
    if (!pcb_csv) perror(path);
    else fputs(PCB_CSV_COLUMNS "\r\n", pcb_csv);
    printf("%-40s %10s %10s  %-26s  %s\n", "case (time per operation)", "pyconc", "peer", "peer",
           "pyconc is");
    fflush(stdout);
}

// ---------------------------------------------------------------------------
// >>rows

static void pcb_emit(pcb_record *r, const char *why) {
    char a[32], b[32], speed[96];
    if (pcb_is_figure(r->peer)) pcb_speed(r->ours, r->peer, speed, sizeof speed);
    else snprintf(speed, sizeof speed, "skipped: %s", why ? why : "no figure");
    r->pyconc_is = speed;
    printf("%-40s %10s %10s  %-26s  %s\n", r->name, pcb_fmt(r->ours, a, sizeof a),
           pcb_fmt(pcb_is_figure(r->peer) ? r->peer : NAN, b, sizeof b), r->peer_name, speed);
    fflush(stdout);
    pcb_csv_record(r);
}

/* One row: seconds per operation for pyconc and the peer. A peer of NAN
   prints "skipped: " and the reason pcb_python left in pcb_skip_why. */
PCB_FN void pcb_row(const char *name, double ours, const char *peer_name, double peer) {
    pcb_record r = {"row", name, peer_name, ours, peer, NAN, NAN, NULL, NULL, NULL};
    pcb_emit(&r, pcb_skip_why);
}

/* A row whose peer is missing, with what to do about it
   (PCB_NEED_GLIB ...). */
PCB_FN void pcb_row_skip(const char *name, double ours, const char *peer_name,
                         const char *why) {
    pcb_record r = {"row", name, peer_name, ours, NAN, NAN, NAN, NULL, NULL, NULL};
    pcb_emit(&r, why);
}

/* A row of a scaling series: how the cost grows with x (workers,
   producers, events). */
PCB_FN void pcb_scale_row(const char *series, double x, const char *name, double ours,
                          const char *peer_name, double peer) {
    pcb_record r = {"row", name, peer_name, ours, peer, NAN, x, NULL, series, NULL};
    pcb_emit(&r, pcb_skip_why);
}

// ---------------------------------------------------------------------------
// >>targets  Collected while the rows run, printed (and written to the
// CSV) by pcb_end, after every row.

typedef struct pcb_goal {
    char name[96], peer_name[64];
    const char *why;            // why the peer has no figure (NULL: it has one)
    double ours, peer, limit;
    int absolute;               // peer is a time budget, not a measured peer
} pcb_goal;

static pcb_goal pcb_goals[24];
static int pcb_ngoals;

static void pcb_add_goal(const char *name, const char *peer_name, double ours, double peer,
                         double limit, int absolute) {
    if (pcb_ngoals >= (int)(sizeof pcb_goals / sizeof pcb_goals[0])) return;
    pcb_goal *g = &pcb_goals[pcb_ngoals++];
    snprintf(g->name, sizeof g->name, "%s", name);
    snprintf(g->peer_name, sizeof g->peer_name, "%s", peer_name);
    g->ours = ours;
    g->peer = peer;
    g->limit = limit;
    g->absolute = absolute;
    g->why = pcb_skip_why ? pcb_skip_why : "peer has no figure";
}

/* A target: the row (name, peer_name) meets it when pyconc's time is at
   most limit times the peer's (limit 1.2: "<= 1.2x slower"; 0.05: ">= 20x
   faster"). */
PCB_FN void pcb_target(const char *name, const char *peer_name, double ours, double peer,
                       double limit) {
    pcb_add_goal(name, peer_name, ours, peer, limit, 0);
}

/* A target against a time budget: met when pyconc takes <= budget seconds. */
PCB_FN void pcb_target_budget(const char *name, double ours, double budget) {
    pcb_add_goal(name, "time budget", ours, budget, 1, 1);
}

static void pcb_print_goal(const pcb_goal *g) {
    char bar[160], speed[96], csv_speed[96], t[32];
    int measured = pcb_is_figure(g->ours) && pcb_is_figure(g->peer);
    const char *verdict = !measured ? "skipped" : g->ours / g->peer <= g->limit ? "met"
                                                                                : "not met";
    if (g->absolute) snprintf(bar, sizeof bar, "<= %s per operation", pcb_fmt(g->peer, t, 32));
    else pcb_limit_words(g->limit, g->peer_name, bar, sizeof bar);
    if (measured) pcb_speed(g->ours, g->peer, csv_speed, sizeof csv_speed);
    else snprintf(csv_speed, sizeof csv_speed, "skipped: %s", g->why);
    if (measured && g->absolute) pcb_fmt(g->ours, speed, sizeof speed);
    else snprintf(speed, sizeof speed, "%s", measured ? csv_speed : g->why);
    printf("target: %s: %s — %s (%s)\n", g->name, bar, verdict, speed);
    pcb_record r = {"target", g->name, g->peer_name, g->ours, g->peer, g->limit, NAN,
                    csv_speed, NULL, verdict};
    pcb_csv_record(&r);
}

/* Print the targets, close the CSV. */
PCB_FN void pcb_end(void) {
    if (pcb_ngoals) printf("\n");
    for (int i = 0; i < pcb_ngoals; i++) pcb_print_goal(&pcb_goals[i]);
    if (pcb_ngoals && pcb_quick)
        printf("(quick run: too few rounds for these verdicts to mean much)\n");
    fflush(stdout);
    if (pcb_csv) fclose(pcb_csv);
    pcb_csv = NULL;
}

// ---------------------------------------------------------------------------
// >>python  Run bench/py/<script> with args under python3; it prints one
// number, seconds per operation. NAN when it cannot run, with the reason
// in pcb_skip_why for the row that shows it.

PCB_FN double pcb_python(const char *script, const char *args) {
    char cmd[1024];
    pcb_skip_why = NULL;
    if (!PYCONC_PYTHON3[0] || strstr(PYCONC_PYTHON3, "NOTFOUND")) {
        pcb_skip_why = PCB_NEED_PYTHON;
        return NAN;
    }
    snprintf(cmd, sizeof cmd, "%s %s/py/%s %s", PYCONC_PYTHON3, PYCONC_BENCH_DIR, script,
             args ? args : "");
    FILE *p = popen(cmd, "r");
    double v = NAN;
    if (!p || fscanf(p, "%lf", &v) != 1) v = NAN;
    if (p) pclose(p);
    if (v != v) {
        pcb_skip_why = "python3 failed (its error is above)";
        fprintf(stderr, "bench: no figure from: %s\n", cmd);
    }
    return v;
}

// ---------------------------------------------------------------------------
// >>idle  glibc skips atomics while a process has one thread, which flatters
// lock figures; an idle second thread keeps every contender honest.
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

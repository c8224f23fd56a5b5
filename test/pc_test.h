/* pc_test.h - the small test harness of pyconc's own tests.

   Each case is `TEST(name) { ... }`; the program runs one case by name
   (`prog name`, the way ctest calls it, one process per case), every case
   (`prog`), or lists them (`prog --list`); `prog --expect-cases N` checks
   that N cases registered. CHECKs run on the test's own thread only:
   workers record what they saw and the case checks it after join. A
   failed CHECK prints where and why and exits 1; pct_skip() exits
   77, which ctest reports as skipped (SKIP_RETURN_CODE). */
#ifndef PC_TEST_H
#define PC_TEST_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The state letter of process pid in /proc (R, S, T, Z ...), '?' when it
   is gone or there is no /proc: the process tests wait for a child to be
   asleep or a zombie with it. */
static __attribute__((unused)) char pct_proc_state(long pid) {
    char path[64], text[512];
    snprintf(path, sizeof path, "/proc/%ld/stat", pid);
    FILE *f = fopen(path, "r");
    if (!f) return '?';
    size_t len = fread(text, 1, sizeof text - 1, f);
    fclose(f);
    text[len] = '\0';
    const char *rest = strrchr(text, ')');      // the name may hold spaces
    char state;
    return rest && sscanf(rest + 1, " %c", &state) == 1 ? state : '?';
}

/* 1 under ThreadSanitizer or AddressSanitizer (gcc and clang): cases that
   measure memory or need fewer rounds there ask this. */
#if defined(__SANITIZE_THREAD__) || defined(__SANITIZE_ADDRESS__)
#define PCT_SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer) || __has_feature(address_sanitizer)
#define PCT_SANITIZED 1
#endif
#endif
#ifndef PCT_SANITIZED
#define PCT_SANITIZED 0
#endif

typedef void (*pct_fn)(void);
struct pct_case { const char *name; pct_fn fn; };
// Grown as cases register (before main), so no case is ever left out.
static struct pct_case *pct_cases;
static int pct_ncases, pct_cap;
static const char *pct_current = "?";

static void pct_register(const char *name, pct_fn fn) {
    if (pct_ncases == pct_cap) {
        int cap = pct_cap ? 2 * pct_cap : 64;
        struct pct_case *grown =
            (struct pct_case *)realloc(pct_cases, (size_t)cap * sizeof *grown);
        if (!grown) {
            fprintf(stderr, "pc_test: out of memory registering case %s\n", name);
            exit(1);
        }
        pct_cases = grown;
        pct_cap = cap;
    }
    pct_cases[pct_ncases].name = name;
    pct_cases[pct_ncases].fn = fn;
    pct_ncases++;
}

#define TEST(name)                                                          \
    static void pct_case_##name(void);                                      \
    __attribute__((constructor)) static void pct_reg_##name(void) {         \
        pct_register(#name, pct_case_##name);                               \
    }                                                                       \
    static void pct_case_##name(void)

static __attribute__((unused)) void pct_fail(const char *file, int line, const char *what,
                                             const char *detail) {
    fprintf(stderr, "FAIL %s: %s:%d: %s%s%s\n", pct_current, file, line, what,
            detail && detail[0] ? " -- " : "", detail ? detail : "");
    fflush(stderr);
    exit(1);
}

#define CHECK(cond)                                                         \
    do { if (!(cond)) pct_fail(__FILE__, __LINE__, #cond, NULL); } while (0)

#define CHECK_MSG(cond, ...)                                                \
    do {                                                                    \
        if (!(cond)) {                                                      \
            char pct_buf_[1024];                                             \
            snprintf(pct_buf_, sizeof pct_buf_, __VA_ARGS__);               \
            pct_fail(__FILE__, __LINE__, #cond, pct_buf_);                  \
        }                                                                   \
    } while (0)

/* Compare two integers and show both on failure. */
#define CHECK_EQ(a, b)                                                      \
    do {                                                                    \
        long long pct_a_ = (long long)(a), pct_b_ = (long long)(b);         \
        CHECK_MSG(pct_a_ == pct_b_, "%lld != %lld", pct_a_, pct_b_);        \
    } while (0)

/* Check a pyconc status against the expected code, naming both. */
#define CHECK_RC(expr, want)                                                \
    do {                                                                    \
        int pct_rc_ = (expr), pct_want_ = (want);                           \
        CHECK_MSG(pct_rc_ == pct_want_, "got %d (%s), want %d (%s); last error: %s", \
                  pct_rc_, pc_strerror(pct_rc_), pct_want_,                 \
                  pc_strerror(pct_want_), pc_last_error());                 \
    } while (0)

#define CHECK_OK(expr) CHECK_RC(expr, PC_OK)

#ifdef PYCONC_H   // a program of pyconc (not the harness's own tests)
/* A thread of this process running fn(arg), started (a failure ends the case). */
static __attribute__((unused)) pc_thread *pct_thread_started(pc_target_fn fn, void *arg) {
    pc_thread_desc d;
    memset(&d, 0, sizeof d);
    d.target = fn;
    d.arg = arg;
    pc_thread *t = pc_thread_new(&d);
    CHECK(t != NULL);
    CHECK_OK(pc_thread_start(t));
    return t;
}
#endif

/* Skip loudly: ctest shows the case as skipped, with this reason. */
static __attribute__((unused)) void pct_skip(const char *why) {
    printf("SKIP %s: %s\n", pct_current, why);
    fflush(stdout);
    exit(77);
}

static int pct_run(const struct pct_case *c) {
    pct_current = c->name;
    c->fn();
    printf("ok %s\n", c->name);
    fflush(stdout);
    return 0;
}

// `prog --expect-cases N`: the build counted N TEST() lines in the source;
// a different number registered means cases that ctest runs are missing
// here (or the other way round).
static int pct_expect_cases(const char *n) {
    long want = strtol(n, NULL, 10);
    if (want == pct_ncases) {
        printf("ok %d cases registered\n", pct_ncases);
        return 0;
    }
    fprintf(stderr, "FAIL %d cases registered, the source has %ld TEST() lines\n",
            pct_ncases, want);
    return 1;
}

static int pct_main(int argc, char **argv) {
    if (argc > 1 && strcmp(argv[1], "--list") == 0) {
        for (int i = 0; i < pct_ncases; i++) printf("%s\n", pct_cases[i].name);
        return 0;
    }
    if (argc > 2 && strcmp(argv[1], "--expect-cases") == 0) return pct_expect_cases(argv[2]);
    if (argc > 1) {
        for (int i = 0; i < pct_ncases; i++)
            if (strcmp(pct_cases[i].name, argv[1]) == 0) return pct_run(&pct_cases[i]);
        fprintf(stderr, "no test case named %s\n", argv[1]);
        return 2;
    }
    for (int i = 0; i < pct_ncases; i++) pct_run(&pct_cases[i]);
    printf("%d passed, 0 failed\n", pct_ncases);
    return 0;
}

/* Programs that need their own main (process tests) call pct_main. */
#ifndef PCT_NO_MAIN
int main(int argc, char **argv) { return pct_main(argc, argv); }
#endif

#endif

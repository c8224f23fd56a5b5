/* Tests of pyconc_process.h's SharedMemory: named blocks (Python's names,
   attached from python3 and back), anonymous ones, blocks crossing to
   children in argument packs under fork, spawn and forkserver, the reaper
   that unlinks tracked names when their program is killed, bad input.
   Every case checks that it leaves no descriptor, zombie or /dev/shm entry
   behind. This program is also the image spawned children run. */
#define PYCONC_IMPLEMENTATION
#define PYCONC_PROCESS_IMPLEMENTATION
#include "pyconc_process.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "pc_test.h"
#include "pc_proc_test.h"

// >>helpers
static pc_shared_memory *shm_new(const char *name, int create, size_t size, int untracked) {
    pc_shared_memory_desc d;
    memset(&d, 0, sizeof d);
    d.name = name;
    d.create = create;
    d.size = size;
    d.untracked = untracked;
    return pc_shared_memory_new(&d);
}

static pc_shared_memory *shm_anon(size_t size) {
    pc_shared_memory_desc d;
    memset(&d, 0, sizeof d);
    d.anonymous = 1;
    d.size = size;
    return pc_shared_memory_new(&d);
}

// Whether /dev/shm holds name.
static int shm_exists(const char *name) {
    char path[600];
    struct stat st;
    snprintf(path, sizeof path, "/dev/shm/%s", name);
    return stat(path, &st) == 0;
}

// This process's descriptors and mappings of anonymous blocks ("memfd:psm").
static int anon_held(void) {
    int n = 0;
    char line[512];
    FILE *f = fopen("/proc/self/maps", "r");
    if (f) {
        while (fgets(line, sizeof line, f)) n += strstr(line, "/memfd:psm") != NULL;
        fclose(f);
    }
    DIR *d = opendir("/proc/self/fd");
    for (struct dirent *e; d && (e = readdir(d));) {
        char path[300], target[300];
        snprintf(path, sizeof path, "/proc/self/fd/%s", e->d_name);
        ssize_t len = readlink(path, target, sizeof target - 1);
        if (len > 0) {
            target[len] = '\0';
            n += strstr(target, "/memfd:psm") != NULL;
        }
    }
    if (d) closedir(d);
    return n;
}

// The reaper's socket stays for the program's life: start it before a
// case counts descriptors.
static void warm_reaper(void) {
    pc_shared_memory *m = shm_new(NULL, 1, 1, 0);
    CHECK_MSG(m != NULL, "%s", pc_last_error());
    CHECK_OK(pc_shared_memory_unlink(m));
    pc_shared_memory_free(m);
}

static int run_to_end(pc_process *p) {
    CHECK_OK(pc_process_start(p));
    CHECK_OK(pc_process_join(p, 10));
    int code = pc_process_exitcode(p);
    pc_process_free(p);
    return code;
}

static int t_zero(void *arg) { (void)arg; return 0; }

// Every case: the same descriptors, no zombie, no new anonymous block.
typedef struct leak_mark { int fds, anon; } leak_mark;

// The forkserver's socket stays too, once it runs: start it first.
static leak_mark leak_begin_for(pc_start_method m) {
    if (m == PC_START_FORKSERVER)
        CHECK_EQ(run_to_end(proc_new(m, t_zero, NULL, PC_DAEMON_INHERIT)), 0);
    warm_reaper();
    leak_mark k = {count_fds(), anon_held()};
    return k;
}

static leak_mark leak_begin(void) { return leak_begin_for(PC_START_FORK); }

static void leak_end(leak_mark k) {
    CHECK_EQ(count_fds(), k.fds);
    CHECK_EQ(anon_held(), k.anon);
    CHECK(no_zombies());
}


static int is_hex(const char *s, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (!s[i] || !strchr("0123456789abcdef", s[i])) return 0;
    return s[n] == '\0';
}

// >>basics
TEST(create_attach_close_unlink) {
    leak_mark k = leak_begin();
    pc_shared_memory *a = shm_new(NULL, 1, 100, 0);
    CHECK_MSG(a != NULL, "%s", pc_last_error());
    const char *name = pc_shared_memory_name(a);
    CHECK(name != NULL && strncmp(name, "psm_", 4) == 0 && is_hex(name + 4, 8));
    CHECK(shm_exists(name));
    CHECK_EQ(pc_shared_memory_size(a), 100);        // not rounded, as Python
    struct stat st;
    char path[300];
    snprintf(path, sizeof path, "/dev/shm/%s", name);
    CHECK(stat(path, &st) == 0);
    CHECK_EQ(st.st_mode & 0777, 0600);
    CHECK_EQ(st.st_size, 100);
    unsigned char *p = (unsigned char *)pc_shared_memory_buf(a);
    CHECK(p != NULL && p[0] == 0 && p[99] == 0);    // a new block is zeroed
    memcpy(p, "shared bytes", 12);

    pc_shared_memory *b = shm_new(name, 0, 0, 0);   // attach: size is the block's
    CHECK_MSG(b != NULL, "%s", pc_last_error());
    CHECK_EQ(pc_shared_memory_size(b), 100);
    CHECK(strcmp(pc_shared_memory_name(b), name) == 0);
    CHECK(memcmp(pc_shared_memory_buf(b), "shared bytes", 12) == 0);
    ((char *)pc_shared_memory_buf(b))[0] = 'S';
    CHECK_EQ(p[0], 'S');
    pc_shared_memory *c = shm_new(path + 8, 0, 5, 0);   // "/psm_...": the slash is optional
    CHECK_MSG(c != NULL, "%s", pc_last_error());
    CHECK_EQ(pc_shared_memory_size(c), 100);            // a size on attach is ignored
    pc_shared_memory_free(c);

    CHECK_OK(pc_shared_memory_close(b));
    CHECK(pc_shared_memory_buf(b) == NULL);
    CHECK_EQ(pc_last_error_code(), PC_VALUE);
    CHECK(strstr(pc_last_error(), "closed") != NULL);
    CHECK_OK(pc_shared_memory_close(b));            // twice: harmless
    CHECK_EQ(pc_shared_memory_size(b), 100);
    CHECK_OK(pc_shared_memory_unlink(b));           // a closed handle may unlink
    CHECK(!shm_exists(name));
    CHECK_EQ(p[0], 'S');                            // mapped memory outlives the name
    CHECK_RC(pc_shared_memory_unlink(a), PC_OS);    // twice: FileNotFoundError
    CHECK_EQ(errno, ENOENT);
    errno = 0;
    CHECK(shm_new(name, 0, 0, 0) == NULL);          // gone: FileNotFoundError
    CHECK_EQ(pc_last_error_code(), PC_OS);
    CHECK_EQ(errno, ENOENT);
    pc_shared_memory_free(b);
    pc_shared_memory_free(a);
    pc_shared_memory_free(NULL);
    leak_end(k);
}

TEST(named_create_exists_and_untracked) {
    leak_mark k = leak_begin();
    char name[64];
    snprintf(name, sizeof name, "pct_shm_%ld", (long)getpid());
    pc_shared_memory *a = shm_new(name, 1, 4096 + 3, 1);
    CHECK_MSG(a != NULL, "%s", pc_last_error());
    CHECK(strcmp(pc_shared_memory_name(a), name) == 0);
    CHECK_EQ(pc_shared_memory_size(a), 4099);
    ((char *)pc_shared_memory_buf(a))[4098] = 'z';
    errno = 0;
    CHECK(shm_new(name, 1, 10, 1) == NULL);         // FileExistsError, nothing touched
    CHECK_EQ(pc_last_error_code(), PC_OS);
    CHECK_EQ(errno, EEXIST);
    CHECK(shm_exists(name));
    CHECK_EQ(((char *)pc_shared_memory_buf(a))[4098], 'z');
    pc_shared_memory_free(a);                       // free does not unlink
    CHECK(shm_exists(name));
    a = shm_new(name, 0, 0, 0);
    CHECK_MSG(a != NULL, "%s", pc_last_error());
    CHECK_EQ(((char *)pc_shared_memory_buf(a))[4098], 'z');
    CHECK_OK(pc_shared_memory_unlink(a));
    pc_shared_memory_free(a);
    CHECK(!shm_exists(name));
    leak_end(k);
}

TEST(anonymous_basics) {
    leak_mark k = leak_begin();
    pc_shared_memory *a = shm_anon(10);
    CHECK_MSG(a != NULL, "%s", pc_last_error());
    CHECK(pc_shared_memory_name(a) == NULL);
    CHECK_EQ(pc_shared_memory_size(a), 10);
    CHECK_EQ(anon_held(), k.anon + 2);              // its descriptor and its mapping
    memcpy(pc_shared_memory_buf(a), "anonymous", 10);
    CHECK_OK(pc_shared_memory_unlink(a));           // no name: nothing to do
    CHECK(strcmp((char *)pc_shared_memory_buf(a), "anonymous") == 0);
    pc_shared_memory_free(a);
    leak_end(k);
}

// >>bad-input
static void expect_bad(const pc_shared_memory_desc *d, int code, const char *words) {
    pc_shared_memory *m = pc_shared_memory_new(d);
    CHECK_MSG(m == NULL, "accepted: %s", words);
    CHECK_EQ(pc_last_error_code(), code);
    CHECK_MSG(strstr(pc_last_error(), words) != NULL, "message \"%s\" lacks \"%s\"",
              pc_last_error(), words);
}

TEST(bad_input) {
    leak_mark k = leak_begin();
    pc_shared_memory_desc d;
    char longname[300];
    expect_bad(NULL, PC_VALUE, "desc is NULL");
    memset(&d, 0, sizeof d);
    expect_bad(&d, PC_VALUE, "only with create");
    d.create = 1;
    expect_bad(&d, PC_VALUE, "size > 0");
    d.size = (size_t)-1;
    expect_bad(&d, PC_VALUE, "negative or too large");
    d.size = (size_t)PTRDIFF_MAX + 1;
    expect_bad(&d, PC_VALUE, "negative or too large");
    d.size = 8;
    d.name = "a/b";
    expect_bad(&d, PC_VALUE, "'/'");
    d.name = "";
    expect_bad(&d, PC_VALUE, "empty");
    d.name = "/";
    expect_bad(&d, PC_VALUE, "empty");
    d.name = "..";
    expect_bad(&d, PC_VALUE, "directory");
    memset(longname, 'x', 256);
    longname[256] = '\0';
    d.name = longname;
    expect_bad(&d, PC_VALUE, "too long");
    d.name = "pct_shm_anon";
    d.anonymous = 1;
    expect_bad(&d, PC_VALUE, "anonymous");
    memset(&d, 0, sizeof d);
    d.anonymous = 1;
    expect_bad(&d, PC_VALUE, "size > 0");
    memset(&d, 0, sizeof d);
    d.name = "pct_shm_no_such_block";
    errno = 0;
    expect_bad(&d, PC_OS, "pct_shm_no_such_block");
    CHECK_EQ(errno, ENOENT);
    CHECK(!shm_exists("pct_shm_no_such_block"));

    // The longest name works.
    longname[255] = '\0';
    pc_shared_memory *m = shm_new(longname, 1, 1, 0);
    CHECK_MSG(m != NULL, "%s", pc_last_error());
    CHECK_OK(pc_shared_memory_unlink(m));
    pc_shared_memory_free(m);

    // An empty block (made by another program) cannot be mapped.
    char empty[64];
    snprintf(empty, sizeof empty, "/pct_shm_empty_%ld", (long)getpid());
    int fd = shm_open(empty, O_RDWR | O_CREAT | O_EXCL, 0600);
    CHECK(fd >= 0);
    close(fd);
    d.name = empty + 1;
    expect_bad(&d, PC_VALUE, "empty");
    CHECK(shm_exists(empty + 1));                   // attaching never unlinks
    shm_unlink(empty);

    // NULL and wrong handles.
    CHECK(pc_shared_memory_buf(NULL) == NULL);
    CHECK_EQ(pc_last_error_code(), PC_VALUE);
    CHECK_RC(pc_shared_memory_close(NULL), PC_VALUE);
    CHECK_RC(pc_shared_memory_unlink(NULL), PC_VALUE);
    CHECK(pc_shared_memory_name(NULL) == NULL);
    CHECK_EQ(pc_shared_memory_size(NULL), 0);
    pc_mp_lock *lock = pc_mp_lock_new();
    CHECK(pc_shared_memory_buf((pc_shared_memory *)(void *)lock) == NULL);
    CHECK(strstr(pc_last_error(), "not a SharedMemory") != NULL);
    pc_mp_lock_free(lock);
    leak_end(k);
}

// A pack holding a freed or a closed block is refused when used.
TEST(pack_refuses_freed_and_closed) {
    leak_mark k = leak_begin();
    for (int closed = 0; closed < 2; closed++) {
        pc_shared_memory *m = shm_anon(64);
        CHECK(m != NULL);
        pc_args *a = pc_args_new();
        CHECK_OK(pc_args_add_shared_memory(a, m));
        if (closed) CHECK_OK(pc_shared_memory_close(m));
        else pc_shared_memory_free(m);
        pc_process_desc d;
        memset(&d, 0, sizeof d);
        d.target = t_zero;
        d.args = a;
        CHECK(pc_process_new(&d) == NULL);
        CHECK_EQ(pc_last_error_code(), PC_VALUE);
        CHECK_MSG(strstr(pc_last_error(), closed ? "closed" : "freed") != NULL, "%s",
                  pc_last_error());
        pc_connection *x, *y;
        CHECK_OK(pc_pipe(1, &x, &y));
        CHECK_RC(pc_connection_send_args(x, a), PC_VALUE);
        pc_connection_free(x);
        pc_connection_free(y);
        pc_args_free(a);
        if (closed) {
            pc_args *b = pc_args_new();
            CHECK_RC(pc_args_add_shared_memory(b, m), PC_VALUE);
            CHECK_RC(pc_args_add_shared_memory(b, NULL), PC_VALUE);
            pc_args_free(b);
            pc_shared_memory_free(m);
        }
    }
    leak_end(k);
}

// >>packs
// The child: item 0 a named block, 1 an anonymous one, 2 the named one's
// name. It checks what the parent wrote and writes its answer.
static int t_pack_child(void *arg) {
    pc_args *a = (pc_args *)arg;
    pc_shared_memory *named, *anon;
    const char *name;
    if (pc_args_get_shared_memory(a, 0, &named) || pc_args_get_shared_memory(a, 1, &anon) ||
        pc_args_get_str(a, 2, &name))
        return 10;
    if (!pc_shared_memory_name(named) || strcmp(pc_shared_memory_name(named), name) != 0)
        return 11;
    if (pc_shared_memory_name(anon) != NULL) return 12;
    if (pc_shared_memory_size(named) != 5000 || pc_shared_memory_size(anon) != 3000) return 13;
    char *pn = (char *)pc_shared_memory_buf(named), *pa = (char *)pc_shared_memory_buf(anon);
    if (strcmp(pn, "to child N") != 0 || strcmp(pa, "to child A") != 0) return 14;
    strcpy(pn + 100, "from child N");
    strcpy(pa + 2999 - 12, "from child A");
    return 0;
}

static void body_pack(pc_start_method m) {
    leak_mark k = leak_begin_for(m);
    for (int round = 0; round < 3; round++) {
        pc_shared_memory *named = shm_new(NULL, 1, 5000, 0);
        pc_shared_memory *anon = shm_anon(3000);
        CHECK(named != NULL && anon != NULL);
        char *pn = (char *)pc_shared_memory_buf(named), *pa = (char *)pc_shared_memory_buf(anon);
        strcpy(pn, "to child N");
        strcpy(pa, "to child A");
        pc_args *a = pc_args_new();
        CHECK_OK(pc_args_add_shared_memory(a, named));
        CHECK_OK(pc_args_add_shared_memory(a, anon));
        CHECK_OK(pc_args_add_str(a, pc_shared_memory_name(named)));
        CHECK_EQ(run_to_end(proc_new(m, t_pack_child, a, PC_DAEMON_INHERIT)), 0);
        pc_args_free(a);
        CHECK(strcmp(pn + 100, "from child N") == 0);
        CHECK(strcmp(pa + 2999 - 12, "from child A") == 0);
        char name[64];
        snprintf(name, sizeof name, "%s", pc_shared_memory_name(named));
        CHECK(shm_exists(name));                    // the child's free does not unlink
        CHECK_OK(pc_shared_memory_unlink(named));
        pc_shared_memory_free(named);
        pc_shared_memory_free(anon);
        CHECK(!shm_exists(name));
    }
    leak_end(k);
}

TEST(pack_fork) { body_pack(PC_START_FORK); }
TEST(pack_spawn) { body_pack(PC_START_SPAWN); }
TEST(pack_forkserver) { body_pack(PC_START_FORKSERVER); }

// A block sent over a connection arrives as a handle of its own; an
// unlinked name still reaches the same memory (the descriptor travels).
TEST(pack_over_connection) {
    leak_mark k = leak_begin();
    pc_connection *x, *y;
    CHECK_OK(pc_pipe(1, &x, &y));
    pc_shared_memory *m = shm_new(NULL, 1, 64, 0);
    CHECK(m != NULL);
    char name[64];
    snprintf(name, sizeof name, "%s", pc_shared_memory_name(m));
    CHECK_OK(pc_shared_memory_unlink(m));
    pc_args *a = pc_args_new();
    CHECK_OK(pc_args_add_shared_memory(a, m));
    CHECK_OK(pc_connection_send_args(x, a));
    pc_args_free(a);
    pc_args *got = NULL;
    CHECK_OK(pc_connection_recv_args(y, &got));
    pc_shared_memory *r;
    CHECK_OK(pc_args_get_shared_memory(got, 0, &r));
    CHECK(r != m && strcmp(pc_shared_memory_name(r), name) == 0);
    CHECK_EQ(pc_shared_memory_size(r), 64);
    ((char *)pc_shared_memory_buf(r))[63] = 'q';
    CHECK_EQ(((char *)pc_shared_memory_buf(m))[63], 'q');
    pc_shared_memory *none;
    CHECK_RC(pc_args_get_mp_lock(got, 0, (pc_mp_lock **)(void *)&none), PC_VALUE);
    pc_args_free(got);
    pc_shared_memory_free(m);
    pc_connection_free(x);
    pc_connection_free(y);
    leak_end(k);
}

// >>anonymous-lifetime
// The child sees the bytes of an anonymous block its parent let go of
// before it started: the process object's copy of the pack holds it.
static int t_anon_child(void *arg) {
    pc_shared_memory *m;
    if (pc_args_get_shared_memory((pc_args *)arg, 0, &m)) return 10;
    const unsigned char *p = (const unsigned char *)pc_shared_memory_buf(m);
    for (size_t i = 0; i < pc_shared_memory_size(m); i++)
        if (p[i] != (unsigned char)(i * 7)) return 11;
    return 0;
}

static void body_anon_last_holder(pc_start_method m) {
    leak_mark k = leak_begin_for(m);
    for (int round = 0; round < 3; round++) {
        pc_shared_memory *s = shm_anon(20000);
        CHECK(s != NULL);
        unsigned char *p = (unsigned char *)pc_shared_memory_buf(s);
        for (size_t i = 0; i < 20000; i++) p[i] = (unsigned char)(i * 7);
        pc_args *a = pc_args_new();
        CHECK_OK(pc_args_add_shared_memory(a, s));
        pc_process *proc = proc_new(m, t_anon_child, a, PC_DAEMON_INHERIT);
        pc_args_free(a);
        pc_shared_memory_free(s);
        CHECK(anon_held() > k.anon);                // the process object holds it
        CHECK_EQ(run_to_end(proc), 0);
        CHECK_EQ(anon_held(), k.anon);              // and nothing else did
    }
    leak_end(k);
}

TEST(anonymous_last_holder_fork) { body_anon_last_holder(PC_START_FORK); }
TEST(anonymous_last_holder_spawn) { body_anon_last_holder(PC_START_SPAWN); }
TEST(anonymous_last_holder_forkserver) { body_anon_last_holder(PC_START_FORKSERVER); }

// >>tracking
// The child makes a tracked block, a tracked block it unlinks and then
// makes again untracked under the same name, and an untracked one;
// sends the three names; then waits to be killed.
static int t_make_and_wait(void *arg) {
    pc_connection *c;
    if (pc_args_get_connection((pc_args *)arg, 0, &c)) return 10;
    pc_shared_memory *t = shm_new(NULL, 1, 10, 0);
    pc_shared_memory *again = shm_new(NULL, 1, 10, 0);
    pc_shared_memory *u = shm_new(NULL, 1, 10, 1);
    if (!t || !again || !u) return 11;
    char name[64];
    snprintf(name, sizeof name, "%s", pc_shared_memory_name(again));
    if (pc_shared_memory_unlink(again)) return 12;
    pc_shared_memory_free(again);
    again = shm_new(name, 1, 10, 1);
    if (!again) return 13;
    char msg[300];
    int n = snprintf(msg, sizeof msg, "%s %s %s", pc_shared_memory_name(t), name,
                     pc_shared_memory_name(u));
    if (pc_connection_send_bytes(c, msg, 0, (size_t)n)) return 14;
    pc_sleep(60);
    return 0;
}

static int wait_gone(const char *name, double seconds) {
    double deadline = pc_monotonic() + seconds;
    while (shm_exists(name)) {
        if (pc_monotonic() > deadline) return 0;
        pc_sleep(0.005);
    }
    return 1;
}

static void body_tracked_after_kill(pc_start_method m) {
    leak_mark k = leak_begin_for(m);
    for (int round = 0; round < 2; round++) {
        pc_connection *r, *w;
        CHECK_OK(pc_pipe(1, &r, &w));
        pc_args *a = pc_args_new();
        CHECK_OK(pc_args_add_connection(a, w));
        pc_process *p = proc_new(m, t_make_and_wait, a, PC_DAEMON_INHERIT);
        pc_args_free(a);
        pc_connection_free(w);
        CHECK_OK(pc_process_start(p));
        void *msg;
        size_t n;
        CHECK_OK(pc_connection_recv_bytes(r, 0, &msg, &n));
        char tracked[100], again[100], untracked[100];
        CHECK_EQ(sscanf((char *)msg, "%99s %99s %99s", tracked, again, untracked), 3);
        pc_connection_bytes_free(msg);
        CHECK(shm_exists(tracked) && shm_exists(again) && shm_exists(untracked));
        CHECK_OK(pc_process_kill(p));
        CHECK_OK(pc_process_join(p, 10));
        CHECK_EQ(pc_process_exitcode(p), -SIGKILL);
        pc_process_free(p);
        pc_connection_free(r);
        CHECK_MSG(wait_gone(tracked, 10), "%s still in /dev/shm", tracked);
        // The reaper has finished by now (it unlinks all at once): the
        // untracked ones stayed, as Python's track=False blocks do.
        CHECK(shm_exists(again));
        CHECK(shm_exists(untracked));
        CHECK_EQ(shm_unlink(again), 0);
        char path[128];
        snprintf(path, sizeof path, "/%s", untracked);
        CHECK_EQ(shm_unlink(path), 0);
    }
    leak_end(k);
}

TEST(tracked_unlinked_after_kill_spawn) { body_tracked_after_kill(PC_START_SPAWN); }
TEST(tracked_unlinked_after_kill_forkserver) { body_tracked_after_kill(PC_START_FORKSERVER); }

// A fork child shares its parent's reaper: a block it tracks stays while
// the parent lives; unlinking it there (any holder) untracks it.
static int t_fork_track(void *arg) {
    pc_connection *c;
    if (pc_args_get_connection((pc_args *)arg, 0, &c)) return 10;
    pc_shared_memory *t = shm_new(NULL, 1, 10, 0);
    if (!t) return 11;
    const char *name = pc_shared_memory_name(t);
    if (pc_connection_send_bytes(c, name, 0, strlen(name))) return 12;
    pc_sleep(60);
    return 0;
}

TEST(tracked_fork_child_shares_reaper) {
    leak_mark k = leak_begin();
    pc_connection *r, *w;
    CHECK_OK(pc_pipe(1, &r, &w));
    pc_args *a = pc_args_new();
    CHECK_OK(pc_args_add_connection(a, w));
    pc_process *p = proc_new(PC_START_FORK, t_fork_track, a, PC_DAEMON_INHERIT);
    pc_args_free(a);
    pc_connection_free(w);
    CHECK_OK(pc_process_start(p));
    char name[100];
    void *msg;
    size_t n;
    CHECK_OK(pc_connection_recv_bytes(r, 0, &msg, &n));
    snprintf(name, sizeof name, "%.*s", (int)n, (char *)msg);
    pc_connection_bytes_free(msg);
    CHECK_OK(pc_process_kill(p));
    CHECK_OK(pc_process_join(p, 10));
    pc_process_free(p);
    pc_connection_free(r);
    CHECK(shm_exists(name));                        // its program (we) still runs
    pc_shared_memory *m = shm_new(name, 0, 0, 0);
    CHECK(m != NULL);
    CHECK_OK(pc_shared_memory_unlink(m));
    pc_shared_memory_free(m);
    leak_end(k);
}

// Threads racing to make the first tracked blocks of a program start one
// reaper between them (the losers' helpers go away), and every name is
// tracked by it.
#define RACERS 8
static pc_barrier race_start;
static pc_shared_memory *race_made[RACERS];

static int t_racer(void *arg) {
    pc_barrier_wait(&race_start, NULL);
    race_made[(intptr_t)arg] = shm_new(NULL, 1, 10, 0);
    return 0;
}

static int t_race_and_wait(void *arg) {
    pc_connection *c;
    if (pc_args_get_connection((pc_args *)arg, 0, &c)) return 10;
    int before = count_fds();
    pc_thread *th[RACERS];
    if (pc_barrier_init(&race_start, RACERS, NULL, NULL, PC_FOREVER)) return 11;
    for (intptr_t i = 0; i < RACERS; i++) {
        pc_thread_desc d;
        memset(&d, 0, sizeof d);
        d.target = t_racer;
        d.arg = (void *)i;
        th[i] = pc_thread_new(&d);
        if (!th[i] || pc_thread_start(th[i])) return 12;
    }
    char msg[RACERS * 20] = "";
    for (int i = 0; i < RACERS; i++) {
        pc_thread_join(th[i], PC_FOREVER);
        pc_thread_free(th[i]);
        if (!race_made[i]) return 13;
        strcat(msg, pc_shared_memory_name(race_made[i]));
        strcat(msg, " ");
    }
    pc_barrier_destroy(&race_start);
    if (count_fds() != before + RACERS + 1) return 14;  // one reaper socket
    if (pc_connection_send_bytes(c, msg, 0, strlen(msg))) return 15;
    pc_sleep(60);
    return 0;
}

TEST(tracked_racing_first_creates_share_one_reaper) {
    leak_mark k = leak_begin_for(PC_START_SPAWN);
    for (int round = 0; round < 5; round++) {
        pc_connection *r, *w;
        CHECK_OK(pc_pipe(1, &r, &w));
        pc_args *a = pc_args_new();
        CHECK_OK(pc_args_add_connection(a, w));
        pc_process *p = proc_new(PC_START_SPAWN, t_race_and_wait, a, PC_DAEMON_INHERIT);
        pc_args_free(a);
        pc_connection_free(w);
        CHECK_OK(pc_process_start(p));
        void *msg;
        size_t n;
        int rc = pc_connection_recv_bytes(r, 0, &msg, &n);
        if (rc) {                                   // the child failed: say how
            CHECK_OK(pc_process_join(p, 10));
            CHECK_MSG(0, "child exit code %d", pc_process_exitcode(p));
        }
        char names[RACERS][32];
        const char *at = (const char *)msg;
        for (int i = 0; i < RACERS; i++) {
            int used = 0;
            CHECK_EQ(sscanf(at, "%31s %n", names[i], &used), 1);
            at += used;
            CHECK(shm_exists(names[i]));
        }
        pc_connection_bytes_free(msg);
        CHECK_OK(pc_process_kill(p));
        CHECK_OK(pc_process_join(p, 10));
        pc_process_free(p);
        pc_connection_free(r);
        for (int i = 0; i < RACERS; i++)
            CHECK_MSG(wait_gone(names[i], 10), "%s still in /dev/shm", names[i]);
    }
    leak_end(k);
}

// >>interop
#ifndef PCT_PYTHON3
#define PCT_PYTHON3 ""
#endif
#ifndef PCT_SHM_PEER_SCRIPT
#define PCT_SHM_PEER_SCRIPT "test/py/shared_memory_peer.py"
#endif

static int python_works(void) {
    char cmd[600];
    snprintf(cmd, sizeof cmd, "'%s' -c 'import multiprocessing.shared_memory' >/dev/null 2>&1",
             PCT_PYTHON3);
    return PCT_PYTHON3[0] && system(cmd) == 0;
}

// python3 running the peer script with args: its stdin and its stdout
// (stderr too: a warning of its resource tracker must show) are pipes.
typedef struct py_child { pid_t pid; FILE *in, *out; } py_child;

static py_child py_start(const char *mode, const char *a1, const char *a2) {
    if (!python_works()) pct_skip("python3 with multiprocessing.shared_memory not found");
    int to[2], from[2];
    CHECK(pipe2(to, O_CLOEXEC) == 0 && pipe2(from, O_CLOEXEC) == 0);
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, to[0], 0);
    posix_spawn_file_actions_adddup2(&fa, from[1], 1);
    posix_spawn_file_actions_adddup2(&fa, from[1], 2);
    char *argv[] = {(char *)PCT_PYTHON3, (char *)PCT_SHM_PEER_SCRIPT, (char *)mode,
                    (char *)a1, (char *)a2, NULL};
    py_child c;
    CHECK_EQ(posix_spawn(&c.pid, PCT_PYTHON3, &fa, NULL, argv, environ), 0);
    posix_spawn_file_actions_destroy(&fa);
    close(to[0]);
    close(from[1]);
    c.in = fdopen(to[1], "w");
    c.out = fdopen(from[0], "r");
    CHECK(c.in && c.out);
    return c;
}

// Read the rest of its output (to the end: its resource tracker's too),
// which must be empty; it must exit 0.
static void py_finish(py_child c) {
    char rest[4096];
    size_t n = fread(rest, 1, sizeof rest - 1, c.out);
    rest[n] = '\0';
    CHECK_MSG(n == 0, "python said more: %.900s", rest);
    fclose(c.in);
    fclose(c.out);
    int st;
    CHECK_EQ(waitpid(c.pid, &st, 0), c.pid);
    CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
}

static void py_line(py_child c, char *buf, size_t cap) {
    CHECK_MSG(fgets(buf, (int)cap, c.out) != NULL, "python ended early");
    buf[strcspn(buf, "\n")] = '\0';
}

TEST(interop_python_attaches_c_block) {
    leak_mark k = leak_begin();
    pc_shared_memory *m = shm_new(NULL, 1, 777, 0);
    CHECK(m != NULL);
    strcpy((char *)pc_shared_memory_buf(m), "made in C");
    py_child c = py_start("attach", pc_shared_memory_name(m), "made in C");
    char line[300];
    py_line(c, line, sizeof line);
    CHECK_MSG(strcmp(line, "ok 777") == 0, "python: %s", line);
    py_finish(c);
    CHECK(strcmp((char *)pc_shared_memory_buf(m), "python:made in C") == 0);
    char name[64];
    snprintf(name, sizeof name, "%s", pc_shared_memory_name(m));
    CHECK(shm_exists(name));                        // Python did not unlink it
    CHECK_OK(pc_shared_memory_unlink(m));
    pc_shared_memory_free(m);
    CHECK(!shm_exists(name));
    leak_end(k);
}

TEST(interop_c_attaches_python_block) {
    leak_mark k = leak_begin();
    py_child c = py_start("create", "3000", "made in Python");
    char name[300];
    py_line(c, name, sizeof name);
    CHECK_MSG(strncmp(name, "psm_", 4) == 0, "python: %s", name);
    pc_shared_memory *m = shm_new(name, 0, 0, 0);
    CHECK_MSG(m != NULL, "%s", pc_last_error());
    CHECK(pc_shared_memory_size(m) >= 3000);
    CHECK(strcmp((char *)pc_shared_memory_buf(m), "made in Python") == 0);
    strcpy((char *)pc_shared_memory_buf(m), "C wrote back");
    pc_shared_memory_free(m);
    fprintf(c.in, "C wrote back\n");
    fflush(c.in);
    char line[300];
    py_line(c, line, sizeof line);
    CHECK_MSG(strcmp(line, "ok") == 0, "python: %s", line);
    py_finish(c);
    CHECK(!shm_exists(name));                       // Python unlinked it; we did not track it
    leak_end(k);
}

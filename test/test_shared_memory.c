/* Tests of pyconc_process.h's SharedMemory: named blocks (Python's names,
   attached from python3 and back), anonymous ones, blocks crossing to
   children in argument packs under fork, spawn and forkserver, the reaper
   that unlinks tracked names when their program is killed, bad input;
   ShareableList in Python's layout (attached from python3 and back) and
   SharedMemoryManager.
   Every case checks that it leaves no descriptor, zombie or /dev/shm entry
   behind. This program is also the image spawned children run. */
#define PYCONC_IMPLEMENTATION
#define PYCONC_PROCESS_IMPLEMENTATION
#include "pyconc_process.h"

#include <errno.h>
#include <math.h>
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

// >>shareable-list
static pc_shareable_item sl_int(int64_t v) {
    pc_shareable_item it;
    memset(&it, 0, sizeof it);
    it.type = PC_SHAREABLE_INT;
    it.i = v;
    return it;
}

static pc_shareable_item sl_float(double v) {
    pc_shareable_item it = sl_int(0);
    it.type = PC_SHAREABLE_FLOAT;
    it.d = v;
    return it;
}

static pc_shareable_item sl_bool(int v) {
    pc_shareable_item it = sl_int(v);
    it.type = PC_SHAREABLE_BOOL;
    return it;
}

static pc_shareable_item sl_str(const char *s) {
    pc_shareable_item it = sl_int(0);
    it.type = PC_SHAREABLE_STR;
    it.str = s;
    return it;
}

static pc_shareable_item sl_bytes(const void *b, size_t len) {
    pc_shareable_item it = sl_int(0);
    it.type = PC_SHAREABLE_BYTES;
    it.bytes = b;
    it.len = len;
    return it;
}

static pc_shareable_item sl_none(void) {
    pc_shareable_item it = sl_int(0);
    it.type = PC_SHAREABLE_NONE;
    return it;
}

static pc_shareable_list *sl_new(const pc_shareable_item *items, size_t n, const char *name) {
    pc_shareable_list_desc d;
    memset(&d, 0, sizeof d);
    d.items = items;
    d.count = n;
    d.name = name;
    d.create = items == NULL && name != NULL;
    return pc_shareable_list_new(&d);
}

static pc_shareable_list *sl_attach(const char *name) {
    pc_shareable_list_desc d;
    memset(&d, 0, sizeof d);
    d.name = name;
    return pc_shareable_list_new(&d);
}

// Unlink and free a list made here; its name must then be gone.
static void sl_drop(pc_shareable_list *l) {
    char name[64];
    const char *n = pc_shareable_list_name(l);
    CHECK(n != NULL);
    snprintf(name, sizeof name, "%s", n);
    CHECK_OK(pc_shared_memory_unlink(pc_shareable_list_shm(l)));
    pc_shareable_list_free(l);
    CHECK(!shm_exists(name));
}

static void sl_check_str(pc_shareable_list *l, int64_t i, const char *want) {
    char buf[64];
    size_t n = 0;
    CHECK_MSG(pc_shareable_list_get_str(l, i, buf, sizeof buf, &n) == PC_OK, "%s",
              pc_last_error());
    CHECK_MSG(strcmp(buf, want) == 0 && n == strlen(want), "item %lld: \"%s\", want \"%s\"",
              (long long)i, buf, want);
}

static void sl_check_format(pc_shareable_list *l, const char *want) {
    char buf[128];
    CHECK_OK(pc_shareable_list_format(l, buf, sizeof buf, NULL));
    CHECK_MSG(strcmp(buf, want) == 0, "format \"%s\", want \"%s\"", buf, want);
}

// The items the interop case makes in C (Python's [42, 2.5, True, "héllo",
// b"by\0tes", None, -7, "12345678"]).
#define SL_C_MADE_LEN 8
static void sl_c_made(pc_shareable_item *it) {
    it[0] = sl_int(42);
    it[1] = sl_float(2.5);
    it[2] = sl_bool(1);
    it[3] = sl_str("h\xc3\xa9llo");
    it[4] = sl_bytes("by\0tes", 6);
    it[5] = sl_none();
    it[6] = sl_int(-7);
    it[7] = sl_str("12345678");
}
#define SL_C_MADE_FORMAT "qdxxxxxxx?8s8sxxxxxx?xq16s"

TEST(shareable_list_layout) {
    leak_mark k = leak_begin();
    pc_shareable_item it[SL_C_MADE_LEN];
    sl_c_made(it);
    pc_shareable_list *l = sl_new(it, SL_C_MADE_LEN, NULL);
    CHECK_MSG(l != NULL, "%s", pc_last_error());
    const char *name = pc_shareable_list_name(l);
    CHECK(name && strncmp(name, "psm_", 4) == 0 && shm_exists(name));
    CHECK_EQ(pc_shareable_list_len(l), SL_C_MADE_LEN);
    // Python's struct.calcsize of the whole: 8 (N + 2), the slots, 9 N.
    pc_shared_memory *m = pc_shareable_list_shm(l);
    CHECK_EQ(pc_shared_memory_size(m), 8 * 10 + 8 * 7 + 16 + 9 * 8);
    const unsigned char *p = (const unsigned char *)pc_shared_memory_buf(m);
    int64_t head[10];
    memcpy(head, p, sizeof head);
    int64_t want_head[10] = {8, 0, 8, 16, 24, 32, 40, 48, 56, 72};
    CHECK(memcmp(head, want_head, sizeof head) == 0);
    CHECK(memcmp(p + 80 + 72, "q\0\0\0\0\0\0\0d\0\0\0\0\0\0\0xxxxxxx?8s", 26) == 0);
    CHECK(memcmp(p + 80 + 72 + 64, "\0\0\0\1\2\3\0\1", 8) == 0);   // the codes
    CHECK_EQ(p[80 + 16 + 7], 1);                    // True: "xxxxxxx?"
    sl_check_format(l, SL_C_MADE_FORMAT);

    int64_t i = 0;
    double d = 0;
    pc_shareable_type t;
    CHECK_OK(pc_shareable_list_get_int(l, 0, &i));
    CHECK_EQ(i, 42);
    CHECK_OK(pc_shareable_list_get_double(l, 1, &d));
    CHECK(d == 2.5);
    CHECK_OK(pc_shareable_list_get_int(l, 2, &i));  // a bool is an int
    CHECK_EQ(i, 1);
    CHECK_OK(pc_shareable_list_type(l, 2, &t));
    CHECK_EQ(t, PC_SHAREABLE_BOOL);
    sl_check_str(l, 3, "h\xc3\xa9llo");
    unsigned char b[8];
    size_t n = 0;
    CHECK_OK(pc_shareable_list_get_bytes(l, 4, b, sizeof b, &n));
    CHECK(n == 6 && memcmp(b, "by\0tes", 6) == 0);
    CHECK_OK(pc_shareable_list_type(l, 5, &t));
    CHECK_EQ(t, PC_SHAREABLE_NONE);
    CHECK_OK(pc_shareable_list_get_int(l, -2, &i)); // negative: from the end
    CHECK_EQ(i, -7);
    sl_check_str(l, -1, "12345678");
    CHECK_OK(pc_shareable_list_get_str(l, 7, NULL, 0, &n));     // the length only
    CHECK_EQ(n, 8);

    // A second handle by name sees the same items, and writes reach the first.
    pc_shareable_list *again = sl_attach(name);
    CHECK_MSG(again != NULL, "%s", pc_last_error());
    CHECK_EQ(pc_shareable_list_len(again), SL_C_MADE_LEN);
    sl_check_format(again, SL_C_MADE_FORMAT);
    CHECK_OK(pc_shareable_list_set_int(again, 0, -42));
    CHECK_OK(pc_shareable_list_get_int(l, 0, &i));
    CHECK_EQ(i, -42);
    pc_shareable_list_free(again);
    CHECK(shm_exists(name));                        // free never unlinks

    // An empty list: 16 bytes, as Python's ShareableList([]).
    pc_shareable_list *empty = sl_new(NULL, 0, NULL);
    CHECK(empty != NULL && pc_shareable_list_len(empty) == 0);
    CHECK_EQ(pc_shared_memory_size(pc_shareable_list_shm(empty)), 16);
    sl_check_format(empty, "");
    sl_drop(empty);
    sl_drop(l);
    leak_end(k);
}

TEST(shareable_list_set_by_python_rules) {
    leak_mark k = leak_begin();
    pc_shareable_item it[4] = {sl_int(1), sl_str("abc"), sl_bytes("0123456789", 10),
                               sl_none()};
    pc_shareable_list *l = sl_new(it, 4, NULL);
    CHECK_MSG(l != NULL, "%s", pc_last_error());
    sl_check_format(l, "q8s16sxxxxxx?x");
    // Any kind fits any slot; the item takes the new kind's format.
    CHECK_OK(pc_shareable_list_set_str(l, 0, "8 bytes!"));      // exactly the slot
    sl_check_str(l, 0, "8 bytes!");
    CHECK_OK(pc_shareable_list_set_double(l, 1, -0.5));
    CHECK_OK(pc_shareable_list_set_bool(l, 3, 7));
    char f[64];
    CHECK_OK(pc_shareable_list_format(l, f, sizeof f, NULL));
    CHECK(strcmp(f, "8sd16sxxxxxxx?") == 0);
    int64_t i = 0;
    CHECK_OK(pc_shareable_list_get_int(l, 3, &i));
    CHECK_EQ(i, 1);
    // A str back in a number's slot gets the slot's capacity: 8 bytes.
    CHECK_RC(pc_shareable_list_set_str(l, 1, "nine byte"), PC_VALUE);
    CHECK(strstr(pc_last_error(), "exceeds available storage") != NULL);
    CHECK_OK(pc_shareable_list_set_str(l, 1, "eight b."));
    // A str in a bytes slot keeps the slot's format; its code says str.
    CHECK_OK(pc_shareable_list_set_str(l, 2, "sixteen chars!!!"));
    sl_check_str(l, 2, "sixteen chars!!!");
    CHECK_RC(pc_shareable_list_set_bytes(l, 2, "seventeen bytes!!", 17), PC_VALUE);
    sl_check_str(l, 2, "sixteen chars!!!");         // a refused store changes nothing
    // A shorter value leaves no tail of the longer one behind.
    CHECK_OK(pc_shareable_list_set_bytes(l, 2, "ab\0\0", 4));
    unsigned char b[16];
    size_t n = 99;
    CHECK_OK(pc_shareable_list_get_bytes(l, 2, b, sizeof b, &n));
    CHECK(n == 2 && memcmp(b, "ab", 2) == 0);       // trailing NULs are not kept, as Python's
    CHECK_OK(pc_shareable_list_set_none(l, 0));
    sl_check_format(l, "xxxxxx?x8s16sxxxxxxx?");
    CHECK_OK(pc_shareable_list_set_int(l, 0, INT64_MIN));
    CHECK_OK(pc_shareable_list_get_int(l, 0, &i));
    CHECK(i == INT64_MIN);
    // Not UTF-8 (a lone continuation byte, an overlong '/', a surrogate).
    const char *bad[] = {"a\x80", "\xc0\xaf", "\xed\xa0\x80", "\xf4\x90\x80\x80", "\xe2\x82"};
    for (size_t j = 0; j < sizeof bad / sizeof *bad; j++) {
        CHECK_RC(pc_shareable_list_set_str(l, 1, bad[j]), PC_VALUE);
        CHECK(strstr(pc_last_error(), "UTF-8") != NULL);
    }
    CHECK_OK(pc_shareable_list_set_str(l, 1, "\xf0\x9f\x98\x80\xe2\x82\xac"));    // 😀€
    sl_drop(l);
    leak_end(k);
}

TEST(shareable_list_count_and_index) {
    leak_mark k = leak_begin();
    pc_shareable_item it[9] = {sl_int(1), sl_float(1.0), sl_bool(1), sl_str("1"),
                               sl_bytes("1", 1), sl_none(), sl_float(NAN),
                               sl_int((int64_t)1 << 53 | 1), sl_none()};
    pc_shareable_list *l = sl_new(it, 9, NULL);
    CHECK_MSG(l != NULL, "%s", pc_last_error());
    size_t n = 99, at = 99;
    pc_shareable_item v = sl_int(1);
    CHECK_OK(pc_shareable_list_count(l, &v, &n));
    CHECK_EQ(n, 3);                                 // 1 == 1.0 == True
    v = sl_bool(5);
    CHECK_OK(pc_shareable_list_count(l, &v, &n));
    CHECK_EQ(n, 3);
    CHECK_OK(pc_shareable_list_index(l, &v, &at));
    CHECK_EQ(at, 0);
    v = sl_str("1");
    CHECK_OK(pc_shareable_list_count(l, &v, &n));
    CHECK_EQ(n, 1);
    CHECK_OK(pc_shareable_list_index(l, &v, &at));
    CHECK_EQ(at, 3);
    v = sl_bytes("1", 1);
    CHECK_OK(pc_shareable_list_index(l, &v, &at));
    CHECK_EQ(at, 4);
    v = sl_none();
    CHECK_OK(pc_shareable_list_count(l, &v, &n));
    CHECK_EQ(n, 2);
    CHECK_OK(pc_shareable_list_index(l, &v, &at));
    CHECK_EQ(at, 5);
    v = sl_float(NAN);                        // NaN equals nothing
    CHECK_OK(pc_shareable_list_count(l, &v, &n));
    CHECK_EQ(n, 0);
    v = sl_float(9007199254740992.0);               // 2.0**53 != 2**53 + 1, exactly
    CHECK_OK(pc_shareable_list_count(l, &v, &n));
    CHECK_EQ(n, 0);
    v = sl_int((int64_t)1 << 53 | 1);
    CHECK_OK(pc_shareable_list_index(l, &v, &at));
    CHECK_EQ(at, 7);
    v = sl_str("absent");
    at = 99;
    CHECK_RC(pc_shareable_list_index(l, &v, &at), PC_VALUE);
    CHECK(strstr(pc_last_error(), "not in") != NULL && at == 99);
    sl_drop(l);
    leak_end(k);
}

// Write a ShareableList header for n items with offsets off into m.
static void sl_forge(pc_shared_memory *m, int64_t n, const int64_t *off) {
    unsigned char *p = (unsigned char *)pc_shared_memory_buf(m);
    memcpy(p, &n, 8);
    if (off) memcpy(p + 8, off, 8 * (size_t)(n + 1));
}

static void sl_check_refused(const char *name, const char *why) {
    CHECK(sl_attach(name) == NULL);
    CHECK_RC(pc_last_error_code(), PC_VALUE);
    CHECK_MSG(strstr(pc_last_error(), why) != NULL, "%s", pc_last_error());
}

TEST(shareable_list_bad_input) {
    leak_mark k = leak_begin();
    pc_shareable_item two[2] = {sl_int(5), sl_str("abc")};
    pc_shareable_list *l = sl_new(two, 2, NULL);
    CHECK(l != NULL);
    int64_t i;
    double d;
    char s[8];
    size_t n = 0;
    pc_shareable_type t;
    // Out of range, either side, and NULL handles.
    CHECK_RC(pc_shareable_list_get_int(l, 2, &i), PC_VALUE);
    CHECK(strstr(pc_last_error(), "out of range") != NULL);
    CHECK_RC(pc_shareable_list_get_int(l, -3, &i), PC_VALUE);
    CHECK_RC(pc_shareable_list_set_int(l, 2, 0), PC_VALUE);
    CHECK_RC(pc_shareable_list_type(l, INT64_MIN, &t), PC_VALUE);
    CHECK_RC(pc_shareable_list_get_int(NULL, 0, &i), PC_VALUE);
    CHECK_RC(pc_shareable_list_set_none(NULL, 0), PC_VALUE);
    CHECK_RC(pc_shareable_list_count(NULL, two, &n), PC_VALUE);
    CHECK_RC(pc_shareable_list_format(NULL, s, sizeof s, &n), PC_VALUE);
    CHECK(pc_shareable_list_shm(NULL) == NULL && pc_shareable_list_name(NULL) == NULL);
    CHECK_EQ(pc_shareable_list_len(NULL), 0);
    pc_shareable_list_free(NULL);
    // The wrong kind, a buffer too small, bad values.
    CHECK_RC(pc_shareable_list_get_double(l, 0, &d), PC_VALUE);
    CHECK(strstr(pc_last_error(), "is an int, not a float") != NULL);
    CHECK_RC(pc_shareable_list_get_str(l, 0, s, sizeof s, &n), PC_VALUE);
    CHECK_RC(pc_shareable_list_get_bytes(l, 1, s, sizeof s, &n), PC_VALUE);
    CHECK(strstr(pc_last_error(), "is a str, not bytes") != NULL);
    CHECK_RC(pc_shareable_list_get_int(l, 1, &i), PC_VALUE);
    CHECK_RC(pc_shareable_list_get_str(l, 1, s, 3, &n), PC_VALUE);      // 3 bytes and a NUL
    CHECK_EQ(n, 3);
    CHECK_RC(pc_shareable_list_get_str(l, 1, NULL, 5, &n), PC_VALUE);
    CHECK_RC(pc_shareable_list_format(l, s, 3, &n), PC_VALUE);
    CHECK_EQ(n, 3);
    CHECK_RC(pc_shareable_list_set_str(l, 1, NULL), PC_VALUE);
    CHECK_RC(pc_shareable_list_set_bytes(l, 1, NULL, 3), PC_VALUE);
    CHECK_OK(pc_shareable_list_set_bytes(l, 1, NULL, 0));
    pc_shareable_item odd = sl_int(0);
    odd.type = (pc_shareable_type)42;
    CHECK_RC(pc_shareable_list_count(l, &odd, &n), PC_VALUE);
    CHECK(strstr(pc_last_error(), "unknown type") != NULL);
    CHECK_RC(pc_shareable_list_count(l, NULL, &n), PC_VALUE);

    // New lists: no desc, items NULL with a count, an unknown type, an
    // item too big for Python's format, a name that exists.
    CHECK(pc_shareable_list_new(NULL) == NULL && pc_last_error_code() == PC_VALUE);
    pc_shareable_list_desc dd;
    memset(&dd, 0, sizeof dd);
    dd.count = 3;
    CHECK(pc_shareable_list_new(&dd) == NULL && pc_last_error_code() == PC_VALUE);
    CHECK(sl_new(&odd, 1, NULL) == NULL && pc_last_error_code() == PC_VALUE);
    static char big[10000000];
    memset(big, 'b', sizeof big);
    pc_shareable_item huge = sl_bytes(big, 9999992);    // "10000000s": 9 characters
    CHECK(sl_new(&huge, 1, NULL) == NULL && pc_last_error_code() == PC_VALUE);
    CHECK(strstr(pc_last_error(), "too large") != NULL);
    huge.len = 9999991;                             // "9999992s": the largest slot
    pc_shareable_list *hl = sl_new(&huge, 1, NULL);
    CHECK_MSG(hl != NULL, "%s", pc_last_error());
    sl_check_format(hl, "9999992s");
    sl_drop(hl);
    pc_shareable_item bad_utf8 = sl_str("\xff");
    CHECK(sl_new(&bad_utf8, 1, NULL) == NULL && pc_last_error_code() == PC_VALUE);
    CHECK(sl_new(two, 2, pc_shareable_list_name(l)) == NULL);
    CHECK(pc_last_error_code() == PC_OS && errno == EEXIST);
    CHECK(sl_attach("pyconc_no_such_list") == NULL);
    CHECK(pc_last_error_code() == PC_OS && errno == ENOENT);

    // Blocks that are not ShareableLists.
    pc_shared_memory *m = shm_new(NULL, 1, 200, 0);
    CHECK(m != NULL);
    const char *name = pc_shared_memory_name(m);
    memcpy(pc_shared_memory_buf(m), "just some text, not a list", 26);
    sl_check_refused(name, "does not fit");         // a count of 8 ASCII bytes
    int64_t neg = -1;
    sl_forge(m, neg, NULL);
    sl_check_refused(name, "does not fit");
    int64_t off_start[3] = {8, 16, 24};
    sl_forge(m, 2, off_start);
    sl_check_refused(name, "offsets");
    int64_t off_back[3] = {0, 16, 8};
    sl_forge(m, 2, off_back);
    sl_check_refused(name, "offsets");
    int64_t off_odd[3] = {0, 12, 24};
    sl_forge(m, 2, off_odd);
    sl_check_refused(name, "offsets");
    int64_t off_past[3] = {0, 8, 200};
    sl_forge(m, 2, off_past);
    sl_check_refused(name, "offsets");
    int64_t off_ok[3] = {0, 8, 16};                 // in place, but zeros for formats
    sl_forge(m, 2, off_ok);
    sl_check_refused(name, "corrupted");
    unsigned char *p = (unsigned char *)pc_shared_memory_buf(m);
    memcpy(p + 32 + 16, "q\0\0\0\0\0\0\0" "9s\0\0\0\0\0\0", 16);   // 9 bytes in 8
    p[32 + 16 + 16] = 0;
    p[32 + 16 + 17] = 1;
    sl_check_refused(name, "item 1 is corrupted");
    memcpy(p + 32 + 16 + 8, "8s\0\0\0\0\0x", 8);    // a stray byte past the format
    sl_check_refused(name, "item 1 is corrupted");
    memcpy(p + 32 + 16 + 8, "8s\0\0\0\0\0\0", 8);
    p[32 + 16 + 17] = 4;                            // no such code
    sl_check_refused(name, "item 1 is corrupted");
    p[32 + 16 + 17] = 2;
    pc_shareable_list *forged = sl_attach(name);    // now a list of an int and bytes
    CHECK_MSG(forged != NULL, "%s", pc_last_error());
    sl_check_format(forged, "q8s");
    // Corrupted after attaching: refused item by item, not read.
    p[32 + 16 + 16] = 3;
    CHECK_RC(pc_shareable_list_get_int(forged, 0, &i), PC_VALUE);
    CHECK(strstr(pc_last_error(), "corrupted") != NULL);
    CHECK_RC(pc_shareable_list_format(forged, s, sizeof s, &n), PC_VALUE);
    pc_shareable_item zero = sl_int(0);
    CHECK_RC(pc_shareable_list_count(forged, &zero, &n), PC_VALUE);
    CHECK_OK(pc_shareable_list_get_bytes(forged, 1, s, sizeof s, &n));
    pc_shareable_list_free(forged);
    pc_shared_memory *tiny = shm_new(NULL, 1, 15, 1);
    CHECK(tiny != NULL);
    sl_check_refused(pc_shared_memory_name(tiny), "not a ShareableList (15 bytes)");
    CHECK_OK(pc_shared_memory_unlink(tiny));
    pc_shared_memory_free(tiny);
    CHECK_OK(pc_shared_memory_unlink(m));
    pc_shared_memory_free(m);

    // Its block closed under it.
    CHECK_OK(pc_shared_memory_close(pc_shareable_list_shm(l)));
    CHECK_RC(pc_shareable_list_get_int(l, 0, &i), PC_VALUE);
    CHECK(strstr(pc_last_error(), "closed") != NULL);
    sl_drop(l);
    leak_end(k);
}

// A child attaches by name, checks the list and stores into it.
static int t_sl_child(void *arg) {
    const char *name;
    if (pc_args_get_str((pc_args *)arg, 0, &name)) return 10;
    pc_shareable_list *l = sl_attach(name);
    if (!l) return 11;
    int64_t i = 0;
    char s[16];
    if (pc_shareable_list_get_int(l, 0, &i) || i != 41) return 12;
    if (pc_shareable_list_get_str(l, 1, s, sizeof s, NULL) || strcmp(s, "parent")) return 13;
    if (pc_shareable_list_set_int(l, 0, i + 1) || pc_shareable_list_set_str(l, 1, "child!") ||
        pc_shareable_list_set_double(l, 2, 0.25))
        return 14;
    pc_shareable_list_free(l);
    return 0;
}

static void body_sl_child(pc_start_method m) {
    leak_mark k = leak_begin_for(m);
    for (int round = 0; round < 3; round++) {
        pc_shareable_item it[3] = {sl_int(41), sl_str("parent"), sl_none()};
        pc_shareable_list *l = sl_new(it, 3, NULL);
        CHECK(l != NULL);
        pc_args *a = pc_args_new();
        CHECK_OK(pc_args_add_str(a, pc_shareable_list_name(l)));
        CHECK_EQ(run_to_end(proc_new(m, t_sl_child, a, PC_DAEMON_INHERIT)), 0);
        pc_args_free(a);
        int64_t i = 0;
        double d = 0;
        CHECK_OK(pc_shareable_list_get_int(l, 0, &i));
        CHECK_EQ(i, 42);
        sl_check_str(l, 1, "child!");
        CHECK_OK(pc_shareable_list_get_double(l, 2, &d));
        CHECK(d == 0.25);
        sl_drop(l);
    }
    leak_end(k);
}

TEST(shareable_list_child_fork) { body_sl_child(PC_START_FORK); }
TEST(shareable_list_child_spawn) { body_sl_child(PC_START_SPAWN); }
TEST(shareable_list_child_forkserver) { body_sl_child(PC_START_FORKSERVER); }

TEST(interop_python_attaches_c_shareable_list) {
    leak_mark k = leak_begin();
    pc_shareable_item it[SL_C_MADE_LEN];
    sl_c_made(it);
    pc_shareable_list *l = sl_new(it, SL_C_MADE_LEN, NULL);
    CHECK(l != NULL);
    py_child c = py_start("sl_attach", pc_shareable_list_name(l), NULL);
    char line[300];
    py_line(c, line, sizeof line);
    CHECK_MSG(strcmp(line, "[42, 2.5, True, 'h\\xe9llo', b'by\\x00tes', None, -7, "
                           "'12345678']") == 0, "python: %s", line);
    py_line(c, line, sizeof line);
    CHECK_MSG(strcmp(line, SL_C_MADE_FORMAT) == 0, "python: %s", line);
    py_line(c, line, sizeof line);
    CHECK_MSG(strcmp(line, "[43, 'py', None, b'B', 3.25, False, 'xxxxxxxx', "
                           "'sixteen chars!!!']") == 0, "python: %s", line);
    py_line(c, line, sizeof line);
    CHECK_MSG(strcmp(line, "q8sxxxxxx?x8sdxxxxxxx?8s16s") == 0, "python: %s", line);
    py_finish(c);
    // What Python stored, read here.
    sl_check_format(l, "q8sxxxxxx?x8sdxxxxxxx?8s16s");
    int64_t i = 0;
    double d = 0;
    pc_shareable_type t;
    unsigned char b[8];
    size_t n = 0;
    CHECK_OK(pc_shareable_list_get_int(l, 0, &i));
    CHECK_EQ(i, 43);
    sl_check_str(l, 1, "py");
    CHECK_OK(pc_shareable_list_type(l, 2, &t));
    CHECK_EQ(t, PC_SHAREABLE_NONE);
    CHECK_OK(pc_shareable_list_get_bytes(l, 3, b, sizeof b, &n));
    CHECK(n == 1 && b[0] == 'B');
    CHECK_OK(pc_shareable_list_get_double(l, 4, &d));
    CHECK(d == 3.25);
    CHECK_OK(pc_shareable_list_type(l, 5, &t));
    CHECK_EQ(t, PC_SHAREABLE_BOOL);
    CHECK_OK(pc_shareable_list_get_int(l, 5, &i));
    CHECK_EQ(i, 0);
    sl_check_str(l, 6, "xxxxxxxx");
    sl_check_str(l, 7, "sixteen chars!!!");
    CHECK(shm_exists(pc_shareable_list_name(l)));   // Python did not unlink it
    sl_drop(l);
    leak_end(k);
}

TEST(interop_c_attaches_python_shareable_list) {
    leak_mark k = leak_begin();
    py_child c = py_start("sl_create", NULL, NULL);
    char name[300], line[300];
    py_line(c, name, sizeof name);
    CHECK_MSG(strncmp(name, "psm_", 4) == 0, "python: %s", name);
    pc_shareable_list *l = sl_attach(name);
    CHECK_MSG(l != NULL, "%s", pc_last_error());
    // Python's [7, 1.5, False, "text", b"raw\0", None, "a wider slot, 24"].
    CHECK_EQ(pc_shareable_list_len(l), 7);
    sl_check_format(l, "qdxxxxxxx?8s8sxxxxxx?x24s");
    int64_t i = 0;
    double d = 0;
    unsigned char b[8];
    size_t n = 0;
    pc_shareable_type t;
    CHECK_OK(pc_shareable_list_get_int(l, 0, &i));
    CHECK_EQ(i, 7);
    CHECK_OK(pc_shareable_list_get_double(l, 1, &d));
    CHECK(d == 1.5);
    CHECK_OK(pc_shareable_list_type(l, 2, &t));
    CHECK_EQ(t, PC_SHAREABLE_BOOL);
    sl_check_str(l, 3, "text");
    CHECK_OK(pc_shareable_list_get_bytes(l, 4, b, sizeof b, &n));
    CHECK(n == 3 && memcmp(b, "raw", 3) == 0);
    CHECK_OK(pc_shareable_list_type(l, 5, &t));
    CHECK_EQ(t, PC_SHAREABLE_NONE);
    sl_check_str(l, 6, "a wider slot, 24");
    pc_shareable_item v = sl_int(7);
    CHECK_OK(pc_shareable_list_index(l, &v, &n));
    CHECK_EQ(n, 0);
    // Stores by Python's rules, read back by Python.
    CHECK_OK(pc_shareable_list_set_int(l, 0, -1));
    CHECK_OK(pc_shareable_list_set_str(l, 1, "\xc3\xa9t\xc3\xa9"));
    CHECK_OK(pc_shareable_list_set_bool(l, 2, 1));
    CHECK_OK(pc_shareable_list_set_bytes(l, 3, "\x01\x02", 2));
    CHECK_OK(pc_shareable_list_set_none(l, 4));
    CHECK_OK(pc_shareable_list_set_double(l, 5, 1e300));
    CHECK_OK(pc_shareable_list_set_str(l, 6, "exactly twenty-four byte"));
    pc_shareable_list_free(l);
    fprintf(c.in, "done\n");
    fflush(c.in);
    py_line(c, line, sizeof line);
    CHECK_MSG(strcmp(line, "[-1, '\\xe9t\\xe9', True, b'\\x01\\x02', None, 1e+300, "
                           "'exactly twenty-four byte']") == 0, "python: %s", line);
    py_line(c, line, sizeof line);
    CHECK_MSG(strcmp(line, "q8sxxxxxxx?8sxxxxxx?xd24s") == 0, "python: %s", line);
    py_line(c, line, sizeof line);
    CHECK_MSG(strcmp(line, "ok") == 0, "python: %s", line);
    py_finish(c);
    CHECK(!shm_exists(name));                       // Python unlinked it; we did not track it
    leak_end(k);
}

// >>manager
// A fork child's copy of the manager refuses to make or unlink blocks.
static int t_smm_copy(void *arg) {
    pc_shared_memory_manager *mgr;
    int64_t v;
    if (pc_args_get_int((pc_args *)arg, 0, &v)) return 10;
    mgr = (pc_shared_memory_manager *)(intptr_t)v;
    if (pc_shared_memory_manager_shared_memory(mgr, 10) != NULL) return 11;
    if (!strstr(pc_last_error(), "belongs to process")) return 12;
    if (pc_shared_memory_manager_shutdown(mgr) != PC_VALUE) return 13;
    return 0;
}

TEST(manager_shutdown_unlinks_its_blocks) {
    leak_mark k = leak_begin();
    for (int round = 0; round < 3; round++) {
        pc_shared_memory_manager *mgr = pc_shared_memory_manager_start();
        CHECK(mgr != NULL);
        pc_shared_memory *a = pc_shared_memory_manager_shared_memory(mgr, 128);
        pc_shared_memory *b = pc_shared_memory_manager_shared_memory(mgr, 4096);
        pc_shareable_item it[2] = {sl_int(3), sl_str("managed")};
        pc_shareable_list *l = pc_shared_memory_manager_shareable_list(mgr, it, 2);
        CHECK_MSG(a && b && l, "%s", pc_last_error());
        CHECK_EQ(pc_shared_memory_size(a), 128);
        sl_check_str(l, 1, "managed");
        pc_shared_memory *mine = shm_new(NULL, 1, 10, 0);      // not the manager's
        CHECK(mine != NULL);
        char na[64], nb[64], nl[64];
        snprintf(na, sizeof na, "%s", pc_shared_memory_name(a));
        snprintf(nb, sizeof nb, "%s", pc_shared_memory_name(b));
        snprintf(nl, sizeof nl, "%s", pc_shareable_list_name(l));
        CHECK(shm_exists(na) && shm_exists(nb) && shm_exists(nl));
        CHECK_OK(pc_shared_memory_unlink(b));       // gone before shutdown: fine
        pc_shared_memory_free(b);
        pc_args *args = pc_args_new();
        CHECK_OK(pc_args_add_int(args, (int64_t)(intptr_t)mgr));
        CHECK_EQ(run_to_end(proc_new(PC_START_FORK, t_smm_copy, args, PC_DAEMON_INHERIT)), 0);
        pc_args_free(args);
        CHECK(shm_exists(na) && shm_exists(nl));    // the child's copy did nothing

        CHECK_OK(pc_shared_memory_manager_shutdown(mgr));
        CHECK(!shm_exists(na) && !shm_exists(nb) && !shm_exists(nl));
        CHECK(shm_exists(pc_shared_memory_name(mine)));
        // Handles still open keep their memory, as Python's do.
        memcpy(pc_shared_memory_buf(a), "still mapped", 12);
        sl_check_str(l, 1, "managed");
        CHECK_RC(pc_shared_memory_unlink(a), PC_OS);  // already gone: FileNotFoundError
        CHECK_EQ(errno, ENOENT);
        CHECK(pc_shared_memory_manager_shared_memory(mgr, 10) == NULL);
        CHECK(strstr(pc_last_error(), "shut down") != NULL);
        CHECK(pc_shared_memory_manager_shareable_list(mgr, it, 2) == NULL);
        CHECK_OK(pc_shared_memory_manager_shutdown(mgr));   // twice: nothing to do
        pc_shared_memory_free(a);
        pc_shareable_list_free(l);
        pc_shared_memory_manager_free(mgr);
        CHECK_OK(pc_shared_memory_unlink(mine));
        pc_shared_memory_free(mine);
    }
    // Free shuts down; bad input.
    pc_shared_memory_manager *mgr = pc_shared_memory_manager_start();
    CHECK(mgr != NULL);
    pc_shared_memory *c = pc_shared_memory_manager_shared_memory(mgr, 10);
    CHECK(c != NULL);
    char nc[64];
    snprintf(nc, sizeof nc, "%s", pc_shared_memory_name(c));
    CHECK(pc_shared_memory_manager_shared_memory(mgr, 0) == NULL);
    CHECK_EQ(pc_last_error_code(), PC_VALUE);
    pc_shareable_item odd = sl_int(0);
    odd.type = (pc_shareable_type)-1;
    CHECK(pc_shared_memory_manager_shareable_list(mgr, &odd, 1) == NULL);
    CHECK_EQ(pc_last_error_code(), PC_VALUE);
    pc_shared_memory_manager_free(mgr);
    CHECK(!shm_exists(nc));
    pc_shared_memory_free(c);
    CHECK(pc_shared_memory_manager_shared_memory(NULL, 10) == NULL);
    CHECK_EQ(pc_last_error_code(), PC_VALUE);
    CHECK(pc_shared_memory_manager_shareable_list(NULL, NULL, 0) == NULL);
    CHECK_RC(pc_shared_memory_manager_shutdown(NULL), PC_VALUE);
    pc_shared_memory_manager_free(NULL);
    leak_end(k);
}

// The child makes blocks through a manager, sends their names, then waits
// to be killed: no shutdown ever runs.
static int t_smm_and_wait(void *arg) {
    pc_connection *c;
    if (pc_args_get_connection((pc_args *)arg, 0, &c)) return 10;
    pc_shared_memory_manager *mgr = pc_shared_memory_manager_start();
    if (!mgr) return 11;
    pc_shared_memory *m = pc_shared_memory_manager_shared_memory(mgr, 100);
    pc_shareable_item it[1] = {sl_int(1)};
    pc_shareable_list *l = pc_shared_memory_manager_shareable_list(mgr, it, 1);
    if (!m || !l) return 12;
    char msg[200];
    int n = snprintf(msg, sizeof msg, "%s %s", pc_shared_memory_name(m),
                     pc_shareable_list_name(l));
    if (pc_connection_send_bytes(c, msg, 0, (size_t)n)) return 13;
    pc_sleep(60);
    return 0;
}

static void body_smm_after_kill(pc_start_method m) {
    leak_mark k = leak_begin_for(m);
    for (int round = 0; round < 2; round++) {
        pc_connection *r, *w;
        CHECK_OK(pc_pipe(1, &r, &w));
        pc_args *a = pc_args_new();
        CHECK_OK(pc_args_add_connection(a, w));
        pc_process *p = proc_new(m, t_smm_and_wait, a, PC_DAEMON_INHERIT);
        pc_args_free(a);
        pc_connection_free(w);
        CHECK_OK(pc_process_start(p));
        void *msg;
        size_t n;
        CHECK_OK(pc_connection_recv_bytes(r, 0, &msg, &n));
        char block[100], list[100];
        CHECK_EQ(sscanf((char *)msg, "%99s %99s", block, list), 2);
        pc_connection_bytes_free(msg);
        CHECK(shm_exists(block) && shm_exists(list));
        CHECK_OK(pc_process_kill(p));
        CHECK_OK(pc_process_join(p, 10));
        CHECK_EQ(pc_process_exitcode(p), -SIGKILL);
        pc_process_free(p);
        pc_connection_free(r);
        CHECK_MSG(wait_gone(block, 10), "%s still in /dev/shm", block);
        CHECK_MSG(wait_gone(list, 10), "%s still in /dev/shm", list);
    }
    leak_end(k);
}

TEST(manager_blocks_unlinked_after_kill_spawn) { body_smm_after_kill(PC_START_SPAWN); }
TEST(manager_blocks_unlinked_after_kill_forkserver) {
    body_smm_after_kill(PC_START_FORKSERVER);
}

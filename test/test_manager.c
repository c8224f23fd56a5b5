/* Tests of pyconc_process.h's Manager (multiprocessing's SyncManager): the
   server process, dict and list proxies and every call on them, proxies
   crossing to children under fork, spawn and forkserver, a SIGKILLed
   server, and bad input (unknown object or method, wrong types, garbage
   on the wire, use after shutdown); its locks, semaphores, events,
   conditions, barriers and queues, each thread's own connection, a
   SIGKILLed lock holder (>>sync). This program is also the image spawned
   and forkserver children run. */
#define PYCONC_IMPLEMENTATION
#define PYCONC_PROCESS_IMPLEMENTATION
#include "pyconc_process.h"

#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include "pc_test.h"
#include "pc_proc_test.h"

// >>helpers
static pc_manager *manager_on(pc_start_method m) {
    pc_manager_desc d;
    memset(&d, 0, sizeof d);
    d.context = pc_get_context(m);
    pc_manager *mg = pc_manager_new(&d);
    CHECK_MSG(mg != NULL, "pc_manager_new: %s", pc_last_error());
    return mg;
}

static int64_t get_int(pc_proxy *p, const char *key) {
    pc_proxy_value v;
    CHECK_OK(pc_proxy_dict_get(p, key, NULL, &v));
    CHECK_EQ(v.type, PC_ARG_INT);
    return v.i;
}

static int t_zero(void *arg) { (void)arg; return 0; }

// Descriptors open once method m has started a process (the forkserver
// keeps its channel open): the count a case must end with.
static int fds_after_warm_up(pc_start_method m) {
    pc_process *p = proc_new(m, t_zero, NULL, PC_DAEMON_NO);
    CHECK_OK(pc_process_start(p));
    CHECK_OK(pc_process_join(p, 30));
    pc_process_free(p);
    return count_fds();
}

// >>dict
TEST(dict_calls) {
    int fds = count_fds();
    pc_manager *m = manager_on(PC_START_FORK);
    pc_proxy *d;
    CHECK_OK(pc_manager_dict(m, &d));
    CHECK_OK(pc_proxy_dict_set(d, "a", pc_proxy_int(1)));
    CHECK_OK(pc_proxy_dict_set(d, "b", pc_proxy_double(2.5)));
    CHECK_OK(pc_proxy_dict_set(d, "c", pc_proxy_bytes("x\0y", 3)));
    CHECK_OK(pc_proxy_dict_set(d, "d", pc_proxy_str("four")));
    CHECK_OK(pc_proxy_dict_set(d, "e", pc_proxy_none()));
    CHECK_OK(pc_proxy_dict_set(d, "a", pc_proxy_int(-7)));     // replaces, keeps the order
    CHECK_EQ(get_int(d, "a"), -7);
    pc_proxy_value v;
    CHECK_OK(pc_proxy_dict_get(d, "b", NULL, &v));
    CHECK(v.type == PC_ARG_DOUBLE && v.d == 2.5);
    CHECK_OK(pc_proxy_dict_get(d, "c", NULL, &v));
    CHECK(v.type == PC_ARG_BYTES && v.size == 3 && memcmp(v.data, "x\0y", 3) == 0);
    pc_proxy_value_free(&v);
    CHECK_OK(pc_proxy_dict_get(d, "d", NULL, &v));
    CHECK(v.type == PC_ARG_STR && strcmp((const char *)v.data, "four") == 0);
    pc_proxy_value_free(&v);
    CHECK_OK(pc_proxy_dict_get(d, "e", NULL, &v));
    CHECK_EQ(v.type, PC_ARG_NONE);
    // get with a default; a missing key without one is KeyError (PC_VALUE)
    pc_proxy_value dflt = pc_proxy_int(42);
    CHECK_OK(pc_proxy_dict_get(d, "zz", &dflt, &v));
    CHECK(v.type == PC_ARG_INT && v.i == 42);
    CHECK_RC(pc_proxy_dict_get(d, "zz", NULL, &v), PC_VALUE);
    CHECK(strstr(pc_last_error(), "KeyError") != NULL);
    size_t n;
    CHECK_OK(pc_proxy_len(d, &n));
    CHECK_EQ(n, 5);
    int found;
    CHECK_OK(pc_proxy_dict_contains(d, "c", &found));
    CHECK_EQ(found, 1);
    CHECK_OK(pc_proxy_dict_del(d, "c"));
    CHECK_OK(pc_proxy_dict_contains(d, "c", &found));
    CHECK_EQ(found, 0);
    CHECK_RC(pc_proxy_dict_del(d, "c"), PC_VALUE);
    CHECK(strstr(pc_last_error(), "KeyError") != NULL);
    pc_args *keys;
    CHECK_OK(pc_proxy_dict_keys(d, &keys));
    const char *want[] = {"a", "b", "d", "e"};
    CHECK_EQ(pc_args_len(keys), 4);
    for (size_t i = 0; i < 4; i++) {
        const char *k;
        CHECK_OK(pc_args_get_str(keys, i, &k));
        CHECK(strcmp(k, want[i]) == 0);
    }
    pc_args_free(keys);
    CHECK_OK(pc_proxy_dict_pop(d, "d", NULL, &v));
    CHECK(v.type == PC_ARG_STR && strcmp((const char *)v.data, "four") == 0);
    pc_proxy_value_free(&v);
    CHECK_RC(pc_proxy_dict_pop(d, "d", NULL, &v), PC_VALUE);
    CHECK_OK(pc_proxy_dict_pop(d, "d", &dflt, &v));
    CHECK_EQ(v.i, 42);
    pc_args *pairs = pc_args_new();
    CHECK_OK(pc_args_add_str(pairs, "x"));
    CHECK_OK(pc_args_add_int(pairs, 10));
    CHECK_OK(pc_args_add_str(pairs, "y"));
    CHECK_OK(pc_args_add_str(pairs, "why"));
    CHECK_OK(pc_proxy_dict_update(d, pairs));
    CHECK_EQ(get_int(d, "x"), 10);
    CHECK_OK(pc_args_add_int(pairs, 5));       // a key without a value: nothing changes
    CHECK_RC(pc_proxy_dict_update(d, pairs), PC_VALUE);
    pc_args_free(pairs);
    CHECK_OK(pc_proxy_len(d, &n));
    CHECK_EQ(n, 5);
    CHECK_OK(pc_proxy_dict_clear(d));
    CHECK_OK(pc_proxy_len(d, &n));
    CHECK_EQ(n, 0);
    pc_proxy_free(d);
    pc_manager_free(m);
    CHECK(no_zombies());
    CHECK_EQ(count_fds(), fds);
}

// >>list
TEST(list_calls) {
    int fds = count_fds();
    pc_manager *m = manager_on(PC_START_FORK);
    pc_proxy *l;
    CHECK_OK(pc_manager_list(m, &l));
    for (int i = 0; i < 3; i++) CHECK_OK(pc_proxy_list_append(l, pc_proxy_int(i)));
    pc_args *more = pc_args_new();
    CHECK_OK(pc_args_add_str(more, "s"));
    CHECK_OK(pc_args_add_double(more, 0.5));
    CHECK_OK(pc_proxy_list_extend(l, more));
    pc_args_free(more);
    size_t n;
    CHECK_OK(pc_proxy_len(l, &n));
    CHECK_EQ(n, 5);
    pc_proxy_value v;
    CHECK_OK(pc_proxy_list_get(l, -1, &v));
    CHECK(v.type == PC_ARG_DOUBLE && v.d == 0.5);
    CHECK_OK(pc_proxy_list_set(l, 0, pc_proxy_str("zero")));
    CHECK_OK(pc_proxy_list_reverse(l));
    CHECK_OK(pc_proxy_list_get(l, 4, &v));
    CHECK(v.type == PC_ARG_STR && strcmp((const char *)v.data, "zero") == 0);
    pc_proxy_value_free(&v);
    CHECK_OK(pc_proxy_list_get(l, 0, &v));
    CHECK(v.type == PC_ARG_DOUBLE && v.d == 0.5);
    CHECK_OK(pc_proxy_list_pop(l, -1, &v));
    CHECK(v.type == PC_ARG_STR && strcmp((const char *)v.data, "zero") == 0);
    pc_proxy_value_free(&v);
    CHECK_OK(pc_proxy_list_pop(l, 1, &v));
    CHECK(v.type == PC_ARG_STR && strcmp((const char *)v.data, "s") == 0);
    pc_proxy_value_free(&v);
    CHECK_OK(pc_proxy_len(l, &n));
    CHECK_EQ(n, 3);
    CHECK_RC(pc_proxy_list_get(l, 3, &v), PC_VALUE);
    CHECK(strstr(pc_last_error(), "IndexError") != NULL);
    CHECK_RC(pc_proxy_list_get(l, -4, &v), PC_VALUE);
    CHECK_RC(pc_proxy_list_set(l, 9, pc_proxy_int(1)), PC_VALUE);
    CHECK_RC(pc_proxy_list_pop(l, 9, &v), PC_VALUE);
    // a dict call on a list, and the other way round
    CHECK_RC(pc_proxy_dict_set(l, "k", pc_proxy_int(1)), PC_VALUE);
    pc_proxy *d;
    CHECK_OK(pc_manager_dict(m, &d));
    CHECK_RC(pc_proxy_list_append(d, pc_proxy_int(1)), PC_VALUE);
    pc_proxy_free(d);
    pc_proxy_free(l);
    pc_manager_free(m);
    CHECK(no_zombies());
    CHECK_EQ(count_fds(), fds);
}

// >>children: proxies cross in a pack and connect by themselves
// The child adds its marks to the dict and list it was given.
static int child_marks(void *arg) {
    pc_args *a = (pc_args *)arg;
    pc_proxy *d = NULL, *l = NULL;
    int64_t k;
    if (pc_proxy_from_args(a, 0, &d) || pc_proxy_from_args(a, 1, &l) ||
        pc_args_get_int(a, 2, &k))
        return 10;
    char key[32];
    snprintf(key, sizeof key, "child%lld", (long long)k);
    int rc = pc_proxy_dict_set(d, key, pc_proxy_int(k)) || pc_proxy_list_append(l, pc_proxy_int(k));
    rc = rc || pc_proxy_list_reverse(l);
    pc_proxy_free(d);
    pc_proxy_free(l);
    return rc ? 11 : 0;
}

static void children_mark(pc_start_method method) {
    int fds = fds_after_warm_up(method);
    pc_manager *m = manager_on(method);
    pc_proxy *d, *l;
    CHECK_OK(pc_manager_dict(m, &d));
    CHECK_OK(pc_manager_list(m, &l));
    // the parent's proxies are connected before the children start: a fork
    // child must not use the copies of those connections
    CHECK_OK(pc_proxy_dict_set(d, "parent", pc_proxy_int(-1)));
    CHECK_OK(pc_proxy_list_append(l, pc_proxy_int(-1)));
    pc_process *kids[4];
    for (int i = 0; i < 4; i++) {
        pc_args *a = pc_args_new();
        CHECK_OK(pc_proxy_add_to_args(a, d));
        CHECK_OK(pc_proxy_add_to_args(a, l));
        CHECK_OK(pc_args_add_int(a, i));
        kids[i] = proc_new(method, child_marks, a, PC_DAEMON_NO);
        pc_args_free(a);
        CHECK_OK(pc_process_start(kids[i]));
        // the parent keeps using its connection while the children run
        CHECK_EQ(get_int(d, "parent"), -1);
    }
    for (int i = 0; i < 4; i++) {
        CHECK_OK(pc_process_join(kids[i], 30));
        CHECK_EQ(pc_process_exitcode(kids[i]), 0);
        pc_process_free(kids[i]);
    }
    for (int i = 0; i < 4; i++) {
        char key[32];
        snprintf(key, sizeof key, "child%d", i);
        CHECK_EQ(get_int(d, key), i);
    }
    size_t n;
    CHECK_OK(pc_proxy_len(l, &n));
    CHECK_EQ(n, 5);
    pc_proxy_free(d);
    pc_proxy_free(l);
    pc_manager_free(m);
    CHECK(no_zombies());
    CHECK_EQ(count_fds(), fds);
}

TEST(children_fork) { children_mark(PC_START_FORK); }
TEST(children_spawn) { children_mark(PC_START_SPAWN); }
TEST(children_forkserver) { children_mark(PC_START_FORKSERVER); }

// A fork child's first call on an inherited, connected proxy reconnects:
// the reply can never reach the parent's reader (Python's gh-101320).
static int child_uses_inherited(void *arg) {
    pc_proxy *d = (pc_proxy *)arg;
    for (int i = 0; i < 200; i++)
        if (pc_proxy_dict_set(d, "child", pc_proxy_int(i))) return 1;
    return 0;
}

TEST(fork_child_reconnects) {
    int fds = count_fds();
    pc_manager *m = manager_on(PC_START_FORK);
    pc_proxy *d;
    CHECK_OK(pc_manager_dict(m, &d));
    CHECK_OK(pc_proxy_dict_set(d, "parent", pc_proxy_int(0)));
    for (int round = 0; round < 5; round++) {
        pc_process_desc pd;
        memset(&pd, 0, sizeof pd);
        pd.target = child_uses_inherited;
        pd.arg = d;                     // the pointer itself: fork only
        pd.context = pc_get_context(PC_START_FORK);
        pc_process *p = pc_process_new(&pd);
        CHECK(p != NULL);
        CHECK_OK(pc_process_start(p));
        for (int i = 0; i < 200; i++) {
            CHECK_OK(pc_proxy_dict_set(d, "parent", pc_proxy_int(i)));
            CHECK_EQ(get_int(d, "parent"), i);
        }
        CHECK_OK(pc_process_join(p, 30));
        CHECK_EQ(pc_process_exitcode(p), 0);
        pc_process_free(p);
        CHECK_EQ(get_int(d, "child"), 199);
    }
    pc_proxy_free(d);
    pc_manager_free(m);
    CHECK(no_zombies());
    CHECK_EQ(count_fds(), fds);
}

// >>death: a SIGKILLed server makes every call PC_BROKEN, at once
static void killed_server(pc_start_method method) {
    int fds = fds_after_warm_up(method);
    for (int round = 0; round < 3; round++) {
        pc_manager *m = manager_on(method);
        pc_proxy *d, *l, *fresh;
        CHECK_OK(pc_manager_dict(m, &d));
        CHECK_OK(pc_manager_list(m, &l));
        CHECK_OK(pc_proxy_dict_set(d, "k", pc_proxy_int(1)));
        pc_args *a = pc_args_new();
        CHECK_OK(pc_proxy_add_to_args(a, d));
        CHECK_OK(pc_proxy_from_args(a, 0, &fresh));     // not connected yet
        pc_args_free(a);
        CHECK_OK(pc_process_kill(m->server));
        CHECK_OK(pc_process_join(m->server, 30));
        double t0 = pc_monotonic();
        pc_proxy_value v;
        size_t n;
        for (int i = 0; i < 3; i++) {
            CHECK_RC(pc_proxy_dict_get(d, "k", NULL, &v), PC_BROKEN);
            CHECK_RC(pc_proxy_list_append(l, pc_proxy_int(1)), PC_BROKEN);
            CHECK_RC(pc_proxy_len(fresh, &n), PC_BROKEN);
        }
        pc_proxy *late;
        CHECK_RC(pc_manager_dict(m, &late), PC_BROKEN);
        CHECK(pc_monotonic() - t0 < 5.0);               // no timeout involved: prompt
        pc_proxy_free(d);
        pc_proxy_free(l);
        pc_proxy_free(fresh);
        pc_manager_free(m);
    }
    CHECK(no_zombies());
    CHECK_EQ(count_fds(), fds);
}

TEST(killed_server_fork) { killed_server(PC_START_FORK); }
TEST(killed_server_spawn) { killed_server(PC_START_SPAWN); }
TEST(killed_server_forkserver) { killed_server(PC_START_FORKSERVER); }

// >>bad input
// Requests a proxy never sends, straight on the wire: the server answers
// each with an error and keeps serving.
TEST(bad_requests) {
    int fds = count_fds();
    pc_manager *m = manager_on(PC_START_FORK);
    pc_proxy *d;
    CHECK_OK(pc_manager_dict(m, &d));
    size_t keylen;
    const unsigned char *key = pc_process_authkey(pc_process_current(), &keylen);
    pc_client_desc cd;
    memset(&cd, 0, sizeof cd);
    cd.address = pc_manager_address(m);
    cd.authkey = key;
    cd.authkey_size = keylen;
    pc_connection *c;
    CHECK_OK(pc_client(&cd, &c));
    // garbage bytes: an error reply, the connection stays
    pc_args *reply;
    int64_t status;
    for (int i = 0; i < 10; i++) {
        CHECK_OK(pc_connection_send_bytes(c, "\x01garbage", 0, 8));
        CHECK_OK(pc_connection_recv_args(c, &reply));
        CHECK_OK(pc_args_get_int(reply, 1, &status));
        CHECK_EQ(status, PC_VALUE);
        pc_args_free(reply);
    }
    // well-formed packs that are bad requests
    struct { int64_t id; const char *method; int nargs; } bad[] = {
        {999, "len", 0}, {0, "nosuch", 0}, {1, "nosuch", 0}, {1, "set", 0}, {1, "set", 1},
        {1, "get", 1}, {0, "create", 0},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        pc_args *req = pc_args_new();
        CHECK_OK(pc_args_add_int(req, 7));
        CHECK_OK(pc_args_add_int(req, bad[i].id));
        CHECK_OK(pc_args_add_str(req, bad[i].method));
        for (int k = 0; k < bad[i].nargs; k++) CHECK_OK(pc_args_add_double(req, 1.0));
        CHECK_OK(pc_connection_send_args(c, req));
        pc_args_free(req);
        CHECK_OK(pc_connection_recv_args(c, &reply));
        CHECK_OK(pc_args_get_int(reply, 1, &status));
        CHECK_MSG(status == PC_VALUE, "request %zu: status %lld", i, (long long)status);
        pc_args_free(reply);
    }
    // a bad frame (a negative length) ends this connection only
    CHECK_OK(pc_connection_send_bytes(c, "x", 0, 1));   // then raw bytes below
    CHECK_OK(pc_connection_recv_args(c, &reply));
    pc_args_free(reply);
    unsigned char frame[4] = {0xff, 0xff, 0xff, 0xf0};
    CHECK_EQ(write(pc_connection_fileno(c), frame, 4), 4);
    void *buf;
    size_t n;
    CHECK(pc_connection_recv_bytes(c, 0, &buf, &n) != PC_OK);
    pc_connection_free(c);
    // a wrong key is refused by the handshake
    cd.authkey = "wrong";
    cd.authkey_size = 5;
    CHECK_RC(pc_client(&cd, &c), PC_AUTH);
    // the server still serves
    CHECK_OK(pc_proxy_dict_set(d, "alive", pc_proxy_int(1)));
    CHECK_EQ(get_int(d, "alive"), 1);
    pc_proxy_free(d);
    pc_manager_free(m);
    CHECK(no_zombies());
    CHECK_EQ(count_fds(), fds);
}

TEST(bad_arguments) {
    int fds = count_fds();
    pc_manager *m = manager_on(PC_START_FORK);
    pc_proxy *d, *p;
    pc_proxy_value v, weird = pc_proxy_int(1);
    weird.type = PC_ARG_CONNECTION;
    CHECK_OK(pc_manager_dict(m, &d));
    CHECK_RC(pc_proxy_dict_set(NULL, "k", pc_proxy_int(1)), PC_VALUE);
    CHECK_RC(pc_proxy_dict_set(d, NULL, pc_proxy_int(1)), PC_VALUE);
    CHECK_RC(pc_proxy_dict_set(d, "k", weird), PC_VALUE);
    CHECK_RC(pc_proxy_dict_set(d, "k", pc_proxy_str(NULL)), PC_VALUE);
    CHECK_RC(pc_proxy_dict_set(d, "k", pc_proxy_bytes(NULL, 3)), PC_VALUE);
    CHECK_OK(pc_proxy_dict_set(d, "k", pc_proxy_bytes(NULL, 0)));
    CHECK_RC(pc_proxy_dict_get(d, "k", NULL, NULL), PC_VALUE);
    CHECK_RC(pc_proxy_len(d, NULL), PC_VALUE);
    CHECK_RC(pc_proxy_dict_update(d, NULL), PC_VALUE);
    pc_args *pairs = pc_args_new();
    CHECK_OK(pc_args_add_int(pairs, 1));                // key not a str
    CHECK_OK(pc_args_add_int(pairs, 1));
    CHECK_RC(pc_proxy_dict_update(d, pairs), PC_VALUE);
    pc_args_free(pairs);
    // a pack item that is not a proxy
    pc_args *a = pc_args_new();
    CHECK_OK(pc_args_add_int(a, 5));
    CHECK_OK(pc_args_add_bytes(a, "pcproxy1 but short", 18));
    CHECK_RC(pc_proxy_from_args(a, 0, &p), PC_VALUE);
    CHECK_RC(pc_proxy_from_args(a, 1, &p), PC_VALUE);
    CHECK_RC(pc_proxy_from_args(a, 2, &p), PC_VALUE);
    pc_args_free(a);
    pc_manager_desc nokey;
    memset(&nokey, 0, sizeof nokey);
    nokey.authkey = "k";            // 0 bytes of it
    CHECK(pc_manager_new(&nokey) == NULL);
    CHECK_EQ(pc_last_error_code(), PC_VALUE);
    CHECK(pc_manager_connect(NULL) == NULL);
    CHECK_EQ(pc_last_error_code(), PC_VALUE);
    pc_manager_desc nowhere;
    memset(&nowhere, 0, sizeof nowhere);
    nowhere.address = "/nonexistent/dir/sock";
    nowhere.context = pc_get_context(PC_START_FORK);
    CHECK(pc_manager_new(&nowhere) == NULL);
    CHECK_EQ(pc_last_error_code(), PC_OS);
    // use after shutdown: the manager refuses, proxies are broken
    CHECK_OK(pc_manager_shutdown(m));
    CHECK_OK(pc_manager_shutdown(m));
    CHECK_RC(pc_manager_dict(m, &p), PC_RUNTIME);
    CHECK_RC(pc_proxy_dict_get(d, "k", NULL, &v), PC_BROKEN);
    pc_proxy_free(d);
    pc_manager_free(m);
    CHECK(no_zombies());
    CHECK_EQ(count_fds(), fds);
}

// >>connect: a second manager object on a server started elsewhere
TEST(connect_tcp) {
    int fds = count_fds();
    pc_manager_desc md;
    memset(&md, 0, sizeof md);
    md.address = "127.0.0.1:0";
    md.authkey = "secret";
    md.authkey_size = 6;
    md.context = pc_get_context(PC_START_FORK);
    pc_manager *m = pc_manager_new(&md);
    CHECK_MSG(m != NULL, "%s", pc_last_error());
    CHECK(strncmp(pc_manager_address(m), "127.0.0.1:", 10) == 0);
    md.address = pc_manager_address(m);
    pc_manager *other = pc_manager_connect(&md);
    CHECK_MSG(other != NULL, "%s", pc_last_error());
    pc_proxy *l;
    CHECK_OK(pc_manager_list(other, &l));
    CHECK_OK(pc_proxy_list_append(l, pc_proxy_str("over tcp")));
    md.authkey = "wrong!";
    CHECK(pc_manager_connect(&md) == NULL);
    CHECK_EQ(pc_last_error_code(), PC_AUTH);
    CHECK_OK(pc_manager_shutdown(other));               // stops only the other object
    CHECK_OK(pc_proxy_list_append(l, pc_proxy_str("still")));
    pc_manager_free(other);
    pc_manager_free(m);
    pc_proxy_value v;
    CHECK_RC(pc_proxy_list_get(l, 0, &v), PC_BROKEN);
    pc_proxy_free(l);
    CHECK(no_zombies());
    CHECK_EQ(count_fds(), fds);
}

// >>threads: one proxy shared by threads (calls take turns on its connection)
static pc_proxy *shared_proxy;

static int thread_sets(void *arg) {
    int t = (int)(intptr_t)arg;
    for (int i = 0; i < 100; i++) {
        char key[32];
        snprintf(key, sizeof key, "t%d-%d", t, i);
        if (pc_proxy_dict_set(shared_proxy, key, pc_proxy_int(i))) return 1;
        pc_proxy_value v;
        if (pc_proxy_dict_get(shared_proxy, key, NULL, &v) || v.i != i) return 2;
    }
    return 0;
}

TEST(threads_share_proxy) {
    int fds = count_fds();
    pc_manager *m = manager_on(PC_START_FORK);
    CHECK_OK(pc_manager_dict(m, &shared_proxy));
    pc_thread *ts[4];
    for (int t = 0; t < 4; t++) {
        pc_thread_desc td;
        memset(&td, 0, sizeof td);
        td.target = thread_sets;
        td.arg = (void *)(intptr_t)t;
        ts[t] = pc_thread_new(&td);
        CHECK(ts[t] != NULL);
        CHECK_OK(pc_thread_start(ts[t]));
    }
    for (int t = 0; t < 4; t++) {
        CHECK_OK(pc_thread_join(ts[t], PC_FOREVER));
        pc_thread_free(ts[t]);
    }
    size_t n;
    CHECK_OK(pc_proxy_len(shared_proxy, &n));
    CHECK_EQ(n, 400);
    pc_proxy_free(shared_proxy);
    pc_manager_free(m);
    CHECK(no_zombies());
    CHECK_EQ(count_fds(), fds);
}

// >>owner exit: a manager its owner never shut down ends with the owner
static int owner_leaves(void *arg) {
    pc_args *a = (pc_args *)arg;
    pc_connection *c = NULL;
    if (pc_args_get_connection(a, 0, &c)) return 1;
    pc_manager_desc md;
    memset(&md, 0, sizeof md);
    md.context = pc_get_context(PC_START_FORK);
    pc_manager *m = pc_manager_new(&md);
    if (!m) return 2;
    const char *addr = pc_manager_address(m);
    return pc_connection_send_bytes(c, addr, 0, strlen(addr) + 1) ? 3 : 0;  // m not freed
}

TEST(owner_exit_stops_server) {
    int fds = fds_after_warm_up(PC_START_FORK);
    pc_connection *r, *w;
    CHECK_OK(pc_pipe(0, &r, &w));
    pc_args *a = pc_args_new();
    CHECK_OK(pc_args_add_connection(a, w));
    pc_process *p = proc_new(PC_START_FORK, owner_leaves, a, PC_DAEMON_NO);
    pc_args_free(a);
    pc_connection_free(w);
    CHECK_OK(pc_process_start(p));
    void *addr;
    size_t n;
    CHECK_OK(pc_connection_recv_bytes(r, 0, &addr, &n));
    CHECK_OK(pc_process_join(p, 30));
    CHECK_EQ(pc_process_exitcode(p), 0);
    pc_process_free(p);
    pc_connection_free(r);
    pc_manager_desc md;
    memset(&md, 0, sizeof md);
    md.address = (const char *)addr;
    CHECK(pc_manager_connect(&md) == NULL);              // nobody listens there now
    CHECK_EQ(pc_last_error_code(), PC_OS);
    pc_connection_bytes_free(addr);
    CHECK(no_zombies());
    CHECK_EQ(count_fds(), fds);
}

// >>sync: locks, semaphores, events, conditions, barriers and queues
static pc_thread *thread_go(int (*fn)(void *), void *arg) {
    pc_thread_desc td;
    memset(&td, 0, sizeof td);
    td.target = fn;
    td.arg = arg;
    pc_thread *t = pc_thread_new(&td);
    CHECK(t != NULL);
    CHECK_OK(pc_thread_start(t));
    return t;
}

static void thread_end(pc_thread *t) {
    CHECK_OK(pc_thread_join(t, PC_FOREVER));
    pc_thread_free(t);
}

// A thread's call and what it gave.
typedef struct sync_call {
    pc_proxy *p;
    double timeout;
    int started;                // atomic: about to call
    int rc;
    int64_t n;
} sync_call;

static void mark_started(sync_call *c) { __atomic_store_n(&c->started, 1, __ATOMIC_RELEASE); }
static void await_started(sync_call *c) {
    while (!__atomic_load_n(&c->started, __ATOMIC_ACQUIRE)) pc_sleep(0.001);
}

static int t_event_wait(void *arg) {
    sync_call *c = (sync_call *)arg;
    mark_started(c);
    c->rc = pc_proxy_event_wait(c->p, c->timeout);
    return 0;
}

// Thread A waits on an Event through a proxy while thread B sets it
// through the same proxy: each thread has its own connection, so the set
// is not queued behind the wait.
TEST(sync_threads_own_connections) {
    int fds = count_fds();
    pc_manager *m = manager_on(PC_START_FORK);
    pc_proxy *e;
    CHECK_OK(pc_manager_event(m, &e));
    for (int round = 0; round < 5; round++) {
        sync_call c = {e, 5.0, 0, -1, 0};
        CHECK_OK(pc_proxy_event_clear(e));
        pc_thread *a = thread_go(t_event_wait, &c);
        await_started(&c);
        double t0 = pc_monotonic();
        CHECK_OK(pc_proxy_event_set(e));
        thread_end(a);
        CHECK_RC(c.rc, PC_OK);
        CHECK(pc_monotonic() - t0 < 4.0);
    }
    pc_proxy_free(e);           // closes both threads' connections
    pc_manager_free(m);
    CHECK(no_zombies());
    CHECK_EQ(count_fds(), fds);
}

static int t_barrier_wait(void *arg) {
    sync_call *c = (sync_call *)arg;
    mark_started(c);
    c->rc = pc_proxy_barrier_wait(c->p, c->timeout, &c->n);
    return 0;
}

// The same with an observable waiter: while a thread waits at a barrier,
// another asks the same proxy how many wait, then completes the barrier.
TEST(sync_barrier_same_proxy) {
    int fds = count_fds();
    pc_manager *m = manager_on(PC_START_FORK);
    pc_proxy *b;
    CHECK_OK(pc_manager_barrier(m, 2, &b));
    for (int round = 0; round < 20; round++) {
        sync_call c = {b, 5.0, 0, -1, -1};
        pc_thread *a = thread_go(t_barrier_wait, &c);
        int64_t n = 0;
        double t0 = pc_monotonic();
        while (n == 0 && pc_monotonic() - t0 < 10) CHECK_OK(pc_proxy_barrier_n_waiting(b, &n));
        CHECK_EQ(n, 1);
        int64_t mine = -1;
        CHECK_OK(pc_proxy_barrier_wait(b, 5.0, &mine));
        thread_end(a);
        CHECK_RC(c.rc, PC_OK);
        CHECK_EQ(c.n, 0);
        CHECK_EQ(mine, 1);
    }
    pc_proxy_free(b);
    pc_manager_free(m);
    CHECK(no_zombies());
    CHECK_EQ(count_fds(), fds);
}

static int t_lock_acquire(void *arg) {
    sync_call *c = (sync_call *)arg;
    mark_started(c);
    c->rc = pc_proxy_lock_acquire(c->p, c->timeout);
    return 0;
}

static int t_lock_release(void *arg) {
    sync_call *c = (sync_call *)arg;
    c->rc = pc_proxy_lock_release(c->p);
    return 0;
}

TEST(sync_lock_calls) {
    int fds = count_fds();
    pc_manager *m = manager_on(PC_START_FORK);
    pc_proxy *l, *r;
    CHECK_OK(pc_manager_lock(m, &l));
    CHECK_OK(pc_manager_rlock(m, &r));
    // Lock: not re-entrant; any thread may release it
    CHECK_OK(pc_proxy_lock_acquire(l, 0));
    CHECK_RC(pc_proxy_lock_acquire(l, 0), PC_TIMEOUT);
    CHECK_RC(pc_proxy_lock_acquire(l, 0.05), PC_TIMEOUT);
    sync_call c = {l, 0, 0, -1, 0};
    thread_end(thread_go(t_lock_release, &c));
    CHECK_RC(c.rc, PC_OK);
    CHECK_RC(pc_proxy_lock_release(l), PC_RUNTIME);
    CHECK(strstr(pc_last_error(), "release unlocked lock") != NULL);
    CHECK_OK(pc_proxy_lock_acquire(l, PC_FOREVER));
    CHECK_OK(pc_proxy_lock_release(l));
    CHECK_OK(pc_proxy_lock_acquire(l, -3.0));         // any negative: no limit
    CHECK_OK(pc_proxy_lock_release(l));
    // RLock: its holder takes it again; only the holder releases it
    CHECK_OK(pc_proxy_lock_acquire(r, 0));
    CHECK_OK(pc_proxy_lock_acquire(r, 0));
    sync_call o = {r, 0, 0, -1, 0};
    thread_end(thread_go(t_lock_acquire, &o));
    CHECK_RC(o.rc, PC_TIMEOUT);
    o.rc = -1;
    thread_end(thread_go(t_lock_release, &o));
    CHECK_RC(o.rc, PC_RUNTIME);
    CHECK_OK(pc_proxy_lock_release(r));
    CHECK_OK(pc_proxy_lock_release(r));
    CHECK_RC(pc_proxy_lock_release(r), PC_RUNTIME);
    o.rc = -1;
    thread_end(thread_go(t_lock_acquire, &o));  // a thread that ends holding it: its
    CHECK_RC(o.rc, PC_OK);                      // connection holds it until pc_proxy_free
    for (int i = 0; i < 3; i++) {               // later threads (whatever their ids) do not
        o.rc = -1;
        thread_end(thread_go(t_lock_acquire, &o));
        CHECK_RC(o.rc, PC_TIMEOUT);
    }
    // a waiter gets the lock when the holder lets go
    CHECK_OK(pc_proxy_lock_acquire(l, 0));
    for (int round = 0; round < 10; round++) {
        sync_call w = {l, 10.0, 0, -1, 0};
        pc_thread *t = thread_go(t_lock_acquire, &w);
        await_started(&w);
        CHECK_OK(pc_proxy_lock_release(l));
        thread_end(t);
        CHECK_RC(w.rc, PC_OK);                        // now held by w's connection
    }
    CHECK_OK(pc_proxy_lock_release(l));
    pc_proxy_free(l);
    pc_proxy_free(r);
    pc_manager_free(m);
    CHECK(no_zombies());
    CHECK_EQ(count_fds(), fds);
}

TEST(sync_semaphore_event_calls) {
    int fds = count_fds();
    pc_manager *m = manager_on(PC_START_FORK);
    pc_proxy *s, *b, *e;
    CHECK_OK(pc_manager_semaphore(m, 2, &s));
    CHECK_OK(pc_manager_bounded_semaphore(m, 1, &b));
    CHECK_OK(pc_manager_event(m, &e));
    CHECK_OK(pc_proxy_semaphore_acquire(s, 0));
    CHECK_OK(pc_proxy_semaphore_acquire(s, 0));
    CHECK_RC(pc_proxy_semaphore_acquire(s, 0.05), PC_TIMEOUT);
    CHECK_OK(pc_proxy_semaphore_release(s));
    CHECK_OK(pc_proxy_semaphore_release(s));
    CHECK_OK(pc_proxy_semaphore_release(s));          // a Semaphore has no bound
    for (int i = 0; i < 3; i++) CHECK_OK(pc_proxy_semaphore_acquire(s, 0));
    CHECK_RC(pc_proxy_semaphore_acquire(s, 0), PC_TIMEOUT);
    CHECK_RC(pc_proxy_semaphore_release(b), PC_VALUE);
    CHECK(strstr(pc_last_error(), "ValueError") != NULL);
    CHECK_OK(pc_proxy_semaphore_acquire(b, 0));
    CHECK_RC(pc_proxy_semaphore_acquire(b, 0), PC_TIMEOUT);
    CHECK_OK(pc_proxy_semaphore_release(b));
    int set = -1;
    CHECK_OK(pc_proxy_event_is_set(e, &set));
    CHECK_EQ(set, 0);
    CHECK_RC(pc_proxy_event_wait(e, 0), PC_TIMEOUT);
    CHECK_RC(pc_proxy_event_wait(e, 0.05), PC_TIMEOUT);
    CHECK_OK(pc_proxy_event_set(e));
    CHECK_OK(pc_proxy_event_is_set(e, &set));
    CHECK_EQ(set, 1);
    CHECK_OK(pc_proxy_event_wait(e, PC_FOREVER));
    CHECK_OK(pc_proxy_event_wait(e, 0));
    CHECK_OK(pc_proxy_event_clear(e));
    CHECK_RC(pc_proxy_event_wait(e, 0), PC_TIMEOUT);
    // many waiters: set wakes them all
    sync_call w[4];
    pc_thread *t[4];
    for (int i = 0; i < 4; i++) {
        sync_call c = {e, 10.0, 0, -1, 0};
        w[i] = c;
        t[i] = thread_go(t_event_wait, &w[i]);
    }
    for (int i = 0; i < 4; i++) await_started(&w[i]);
    CHECK_OK(pc_proxy_event_set(e));
    for (int i = 0; i < 4; i++) {
        thread_end(t[i]);
        CHECK_RC(w[i].rc, PC_OK);
    }
    pc_proxy_free(s);
    pc_proxy_free(b);
    pc_proxy_free(e);
    pc_manager_free(m);
    CHECK(no_zombies());
    CHECK_EQ(count_fds(), fds);
}

static int flag_up;             // atomic: what the condition's predicate reads
static int flag_is_up(void *ctx) { (void)ctx; return __atomic_load_n(&flag_up, __ATOMIC_ACQUIRE); }

static int t_condition_wait_for(void *arg) {
    sync_call *c = (sync_call *)arg;
    int rc = pc_proxy_condition_acquire(c->p, PC_FOREVER);
    mark_started(c);
    if (rc == PC_OK) rc = pc_proxy_condition_wait_for(c->p, flag_is_up, NULL, c->timeout);
    c->rc = rc;
    if (rc == PC_OK || rc == PC_TIMEOUT) pc_proxy_condition_release(c->p);
    return 0;
}

TEST(sync_condition_calls) {
    int fds = count_fds();
    pc_manager *m = manager_on(PC_START_FORK);
    pc_proxy *c;
    CHECK_OK(pc_manager_condition(m, &c));
    CHECK_RC(pc_proxy_condition_notify(c, 1), PC_RUNTIME);
    CHECK_RC(pc_proxy_condition_notify_all(c), PC_RUNTIME);
    CHECK_RC(pc_proxy_condition_wait(c, 0), PC_RUNTIME);
    CHECK(strstr(pc_last_error(), "un-acquired") != NULL);
    CHECK_RC(pc_proxy_condition_release(c), PC_RUNTIME);
    CHECK_OK(pc_proxy_condition_acquire(c, 0));
    CHECK_OK(pc_proxy_condition_acquire(c, 0));      // its lock is an RLock
    CHECK_RC(pc_proxy_condition_wait(c, 0.05), PC_TIMEOUT);
    CHECK_OK(pc_proxy_condition_notify(c, 1));       // held again, both levels
    CHECK_OK(pc_proxy_condition_release(c));
    CHECK_OK(pc_proxy_condition_notify_all(c));
    CHECK_OK(pc_proxy_condition_release(c));
    CHECK_RC(pc_proxy_condition_release(c), PC_RUNTIME);
    // waiters with a predicate; the flag goes up under the lock, then notify_all
    for (int round = 0; round < 5; round++) {
        __atomic_store_n(&flag_up, 0, __ATOMIC_RELEASE);
        sync_call w[3];
        pc_thread *t[3];
        for (int i = 0; i < 3; i++) {
            sync_call x = {c, 10.0, 0, -1, 0};
            w[i] = x;
            t[i] = thread_go(t_condition_wait_for, &w[i]);
        }
        for (int i = 0; i < 3; i++) await_started(&w[i]);
        CHECK_OK(pc_proxy_condition_acquire(c, PC_FOREVER));
        CHECK_OK(pc_proxy_condition_notify_all(c));  // a wake-up with the flag down
        CHECK_OK(pc_proxy_condition_release(c));
        CHECK_OK(pc_proxy_condition_acquire(c, PC_FOREVER));
        __atomic_store_n(&flag_up, 1, __ATOMIC_RELEASE);
        CHECK_OK(pc_proxy_condition_notify_all(c));
        CHECK_OK(pc_proxy_condition_release(c));
        for (int i = 0; i < 3; i++) {
            thread_end(t[i]);
            CHECK_RC(w[i].rc, PC_OK);
        }
    }
    __atomic_store_n(&flag_up, 0, __ATOMIC_RELEASE);
    CHECK_OK(pc_proxy_condition_acquire(c, PC_FOREVER));
    CHECK_RC(pc_proxy_condition_wait_for(c, flag_is_up, NULL, 0.05), PC_TIMEOUT);
    CHECK_RC(pc_proxy_condition_wait_for(c, NULL, NULL, 0.05), PC_VALUE);
    CHECK_OK(pc_proxy_condition_release(c));
    pc_proxy_free(c);
    pc_manager_free(m);
    CHECK(no_zombies());
    CHECK_EQ(count_fds(), fds);
}

TEST(sync_barrier_calls) {
    int fds = count_fds();
    pc_manager *m = manager_on(PC_START_FORK);
    pc_proxy *b;
    CHECK_OK(pc_manager_barrier(m, 3, &b));
    int64_t n = 0;
    int broken = -1;
    CHECK_OK(pc_proxy_barrier_parties(b, &n));
    CHECK_EQ(n, 3);
    for (int round = 0; round < 5; round++) {     // three parties, indexes 0, 1, 2
        sync_call w[2] = {{b, 10.0, 0, -1, -1}, {b, 10.0, 0, -1, -1}};
        pc_thread *t0 = thread_go(t_barrier_wait, &w[0]);
        pc_thread *t1 = thread_go(t_barrier_wait, &w[1]);
        double t = pc_monotonic();
        do CHECK_OK(pc_proxy_barrier_n_waiting(b, &n)); while (n < 2 && pc_monotonic() - t < 10);
        int64_t mine = -1;
        CHECK_OK(pc_proxy_barrier_wait(b, 10.0, &mine));
        thread_end(t0);
        thread_end(t1);
        CHECK_RC(w[0].rc, PC_OK);
        CHECK_RC(w[1].rc, PC_OK);
        CHECK_EQ(mine, 2);
        CHECK_EQ(w[0].n + w[1].n, 1);
    }
    // reset wakes a waiter with PC_BROKEN and leaves the barrier whole
    sync_call w = {b, 10.0, 0, -1, -1};
    pc_thread *t = thread_go(t_barrier_wait, &w);
    n = 0;
    double t0 = pc_monotonic();
    while (n == 0 && pc_monotonic() - t0 < 10) CHECK_OK(pc_proxy_barrier_n_waiting(b, &n));
    CHECK_OK(pc_proxy_barrier_reset(b));
    thread_end(t);
    CHECK_RC(w.rc, PC_BROKEN);
    CHECK_OK(pc_proxy_barrier_broken(b, &broken));
    CHECK_EQ(broken, 0);
    // a timeout breaks it for everyone, until reset; abort breaks it too
    CHECK_RC(pc_proxy_barrier_wait(b, 0.05, NULL), PC_BROKEN);
    CHECK_OK(pc_proxy_barrier_broken(b, &broken));
    CHECK_EQ(broken, 1);
    CHECK_RC(pc_proxy_barrier_wait(b, 10.0, NULL), PC_BROKEN);
    CHECK(strstr(pc_last_error(), "BrokenBarrierError") != NULL);
    CHECK_OK(pc_proxy_barrier_reset(b));
    CHECK_OK(pc_proxy_barrier_abort(b));
    CHECK_RC(pc_proxy_barrier_wait(b, 10.0, NULL), PC_BROKEN);
    CHECK_OK(pc_proxy_barrier_n_waiting(b, &n));
    CHECK_EQ(n, 0);
    pc_proxy_free(b);
    pc_manager_free(m);
    CHECK(no_zombies());
    CHECK_EQ(count_fds(), fds);
}

static int t_queue_join(void *arg) {
    sync_call *c = (sync_call *)arg;
    mark_started(c);
    c->rc = pc_proxy_queue_join(c->p);
    return 0;
}

TEST(sync_queue_calls) {
    int fds = count_fds();
    pc_manager *m = manager_on(PC_START_FORK);
    pc_proxy *q, *j;
    CHECK_OK(pc_manager_queue(m, 3, &q));
    CHECK_OK(pc_manager_joinable_queue(m, 0, &j));
    int flag = -1;
    size_t n = 9;
    CHECK_OK(pc_proxy_queue_empty(q, &flag));
    CHECK_EQ(flag, 1);
    CHECK_OK(pc_proxy_queue_put(q, pc_proxy_str("one"), PC_FOREVER));
    CHECK_OK(pc_proxy_queue_put_nowait(q, pc_proxy_bytes("t\0o", 3)));
    CHECK_OK(pc_proxy_queue_put(q, pc_proxy_none(), 0));
    CHECK_RC(pc_proxy_queue_put_nowait(q, pc_proxy_int(4)), PC_FULL);
    CHECK_RC(pc_proxy_queue_put(q, pc_proxy_int(4), 0.05), PC_FULL);
    CHECK_OK(pc_proxy_queue_full(q, &flag));
    CHECK_EQ(flag, 1);
    CHECK_OK(pc_proxy_queue_qsize(q, &n));
    CHECK_EQ(n, 3);
    pc_proxy_value v;
    CHECK_OK(pc_proxy_queue_get(q, PC_FOREVER, &v));
    CHECK(v.type == PC_ARG_STR && strcmp((const char *)v.data, "one") == 0);
    pc_proxy_value_free(&v);
    CHECK_OK(pc_proxy_queue_put(q, pc_proxy_double(4.5), 0));
    CHECK_OK(pc_proxy_queue_get_nowait(q, &v));
    CHECK(v.type == PC_ARG_BYTES && v.size == 3 && memcmp(v.data, "t\0o", 3) == 0);
    pc_proxy_value_free(&v);
    CHECK_OK(pc_proxy_queue_get(q, 0, &v));
    CHECK_EQ(v.type, PC_ARG_NONE);
    CHECK_OK(pc_proxy_queue_get(q, 0, &v));
    CHECK(v.type == PC_ARG_DOUBLE && v.d == 4.5);
    CHECK_RC(pc_proxy_queue_get_nowait(q, &v), PC_EMPTY);
    CHECK_RC(pc_proxy_queue_get(q, 0.05, &v), PC_EMPTY);
    CHECK_OK(pc_proxy_queue_full(q, &flag));
    CHECK_EQ(flag, 0);
    // many items keep their order (the server compacts what was taken)
    for (int round = 0; round < 3; round++) {
        for (int i = 0; i < 300; i++) CHECK_OK(pc_proxy_queue_put(j, pc_proxy_int(i), 0));
        for (int i = 0; i < 300; i++) {
            CHECK_OK(pc_proxy_queue_get(j, 0, &v));
            CHECK_EQ(v.i, i);
        }
    }
    // join waits for every task_done
    for (int i = 0; i < 900 - 2; i++) CHECK_OK(pc_proxy_queue_task_done(j));
    sync_call c = {j, 0, 0, -1, 0};
    pc_thread *t = thread_go(t_queue_join, &c);
    await_started(&c);
    CHECK_OK(pc_proxy_queue_task_done(j));
    CHECK_OK(pc_proxy_queue_task_done(j));
    thread_end(t);
    CHECK_RC(c.rc, PC_OK);
    CHECK_RC(pc_proxy_queue_task_done(j), PC_VALUE);
    CHECK(strstr(pc_last_error(), "ValueError") != NULL);
    CHECK_OK(pc_proxy_queue_join(j));
    pc_proxy_free(q);
    pc_proxy_free(j);
    pc_manager_free(m);
    CHECK(no_zombies());
    CHECK_EQ(count_fds(), fds);
}

// >>sync children: the objects shared by processes under every start method
static int child_sync_work(void *arg) {
    pc_args *a = (pc_args *)arg;
    pc_proxy *lock = NULL, *d = NULL, *q = NULL, *b = NULL, *go = NULL;
    int64_t k = 0;
    int rc = 10;
    if (pc_proxy_from_args(a, 0, &lock) || pc_proxy_from_args(a, 1, &d) ||
        pc_proxy_from_args(a, 2, &q) || pc_proxy_from_args(a, 3, &b) ||
        pc_proxy_from_args(a, 4, &go) || pc_args_get_int(a, 5, &k))
        goto done;
    rc = 11;
    if (pc_proxy_event_wait(go, 30)) goto done;
    rc = 12;
    for (int i = 0; i < 20; i++) {      // a read-modify-write only the Lock makes safe
        pc_proxy_value v;
        if (pc_proxy_lock_acquire(lock, 30)) goto done;
        if (pc_proxy_dict_get(d, "count", NULL, &v) ||
            pc_proxy_dict_set(d, "count", pc_proxy_int(v.i + 1)) || pc_proxy_lock_release(lock))
            goto done;
    }
    rc = 13;
    for (int i = 0; i < 5; i++)
        if (pc_proxy_queue_put(q, pc_proxy_int(k * 100 + i), 30)) goto done;
    rc = pc_proxy_barrier_wait(b, 30, NULL) ? 14 : 0;
done:
    pc_proxy_free(lock);
    pc_proxy_free(d);
    pc_proxy_free(q);
    pc_proxy_free(b);
    pc_proxy_free(go);
    return rc;
}

static void sync_children(pc_start_method method) {
    int fds = fds_after_warm_up(method);
    pc_manager *m = manager_on(method);
    pc_proxy *lock, *d, *q, *b, *go;
    CHECK_OK(pc_manager_lock(m, &lock));
    CHECK_OK(pc_manager_dict(m, &d));
    CHECK_OK(pc_manager_queue(m, 4, &q));           // children wait for room too
    CHECK_OK(pc_manager_barrier(m, 4, &b));
    CHECK_OK(pc_manager_event(m, &go));
    CHECK_OK(pc_proxy_dict_set(d, "count", pc_proxy_int(0)));
    pc_process *kids[3];
    for (int i = 0; i < 3; i++) {
        pc_args *a = pc_args_new();
        CHECK_OK(pc_proxy_add_to_args(a, lock));
        CHECK_OK(pc_proxy_add_to_args(a, d));
        CHECK_OK(pc_proxy_add_to_args(a, q));
        CHECK_OK(pc_proxy_add_to_args(a, b));
        CHECK_OK(pc_proxy_add_to_args(a, go));
        CHECK_OK(pc_args_add_int(a, i));
        kids[i] = pct_start(method, child_sync_work, a);
        pc_args_free(a);
    }
    CHECK_OK(pc_proxy_event_set(go));
    int seen[3] = {0, 0, 0};
    for (int i = 0; i < 15; i++) {
        pc_proxy_value v;
        CHECK_OK(pc_proxy_queue_get(q, 30, &v));
        CHECK(v.type == PC_ARG_INT && v.i / 100 >= 0 && v.i / 100 < 3);
        CHECK_EQ(v.i % 100, seen[v.i / 100]++);      // each child's items in its order
    }
    int64_t index = -1;
    CHECK_OK(pc_proxy_barrier_wait(b, 30, &index));
    for (int i = 0; i < 3; i++) CHECK_EQ(pct_finish(kids[i]), 0);
    CHECK_EQ(get_int(d, "count"), 60);
    pc_proxy_free(lock);
    pc_proxy_free(d);
    pc_proxy_free(q);
    pc_proxy_free(b);
    pc_proxy_free(go);
    pc_manager_free(m);
    CHECK(no_zombies());
    CHECK_EQ(count_fds(), fds);
}

TEST(sync_children_fork) { sync_children(PC_START_FORK); }
TEST(sync_children_spawn) { sync_children(PC_START_SPAWN); }
TEST(sync_children_forkserver) { sync_children(PC_START_FORKSERVER); }

// >>sync dead holder: a client SIGKILLed holding locks
static int child_holds_and_hangs(void *arg) {
    pc_args *a = (pc_args *)arg;
    pc_proxy *l = NULL, *r = NULL, *c = NULL, *holding = NULL, *never = NULL;
    if (pc_proxy_from_args(a, 0, &l) || pc_proxy_from_args(a, 1, &r) ||
        pc_proxy_from_args(a, 2, &c) || pc_proxy_from_args(a, 3, &holding) ||
        pc_proxy_from_args(a, 4, &never))
        return 10;
    if (pc_proxy_lock_acquire(l, 30) || pc_proxy_lock_acquire(r, 30) ||
        pc_proxy_lock_acquire(r, 30) || pc_proxy_condition_acquire(c, 30))
        return 11;
    if (pc_proxy_event_set(holding)) return 12;
    pc_proxy_event_wait(never, PC_FOREVER);         // until SIGKILLed
    return 13;
}

static void sync_dead_holder(pc_start_method method) {
    int fds = fds_after_warm_up(method);
    pc_manager *m = manager_on(method);
    pc_proxy *l, *r, *c, *holding, *never;
    CHECK_OK(pc_manager_lock(m, &l));
    CHECK_OK(pc_manager_rlock(m, &r));
    CHECK_OK(pc_manager_condition(m, &c));
    CHECK_OK(pc_manager_event(m, &holding));
    CHECK_OK(pc_manager_event(m, &never));
    for (int round = 0; round < 2; round++) {
        CHECK_OK(pc_proxy_event_clear(holding));
        pc_args *a = pc_args_new();
        CHECK_OK(pc_proxy_add_to_args(a, l));
        CHECK_OK(pc_proxy_add_to_args(a, r));
        CHECK_OK(pc_proxy_add_to_args(a, c));
        CHECK_OK(pc_proxy_add_to_args(a, holding));
        CHECK_OK(pc_proxy_add_to_args(a, never));
        pc_process *kid = pct_start(method, child_holds_and_hangs, a);
        pc_args_free(a);
        CHECK_OK(pc_proxy_event_wait(holding, 30));
        CHECK_RC(pc_proxy_lock_acquire(l, 0), PC_TIMEOUT);
        pct_kill_and_reap(kid);
        // the next acquirer is told, and holds the lock
        CHECK_RC(pc_proxy_lock_acquire(l, 5), PC_OWNER_DEAD);
        CHECK(strstr(pc_last_error(), "holding it") != NULL);
        CHECK_RC(pc_proxy_lock_acquire(l, 0), PC_TIMEOUT);
        CHECK_OK(pc_proxy_lock_release(l));
        CHECK_OK(pc_proxy_lock_acquire(l, 0));       // told once only
        CHECK_OK(pc_proxy_lock_release(l));
        CHECK_RC(pc_proxy_lock_acquire(r, 5), PC_OWNER_DEAD);   // both levels went
        CHECK_OK(pc_proxy_lock_release(r));
        CHECK_RC(pc_proxy_lock_release(r), PC_RUNTIME);
        CHECK_RC(pc_proxy_condition_acquire(c, 5), PC_OWNER_DEAD);
        CHECK_OK(pc_proxy_condition_release(c));
    }
    pc_proxy_free(l);
    pc_proxy_free(r);
    pc_proxy_free(c);
    pc_proxy_free(holding);
    pc_proxy_free(never);
    pc_manager_free(m);
    CHECK(no_zombies());
    CHECK_EQ(count_fds(), fds);
}

TEST(sync_dead_holder_fork) { sync_dead_holder(PC_START_FORK); }
TEST(sync_dead_holder_spawn) { sync_dead_holder(PC_START_SPAWN); }
TEST(sync_dead_holder_forkserver) { sync_dead_holder(PC_START_FORKSERVER); }

// >>sync killed server: calls waiting in the server return PC_BROKEN
static int t_queue_get(void *arg) {
    sync_call *c = (sync_call *)arg;
    pc_proxy_value v;
    mark_started(c);
    c->rc = pc_proxy_queue_get(c->p, c->timeout, &v);
    return 0;
}

static int t_condition_wait(void *arg) {
    sync_call *c = (sync_call *)arg;
    int rc = pc_proxy_condition_acquire(c->p, PC_FOREVER);
    mark_started(c);
    c->rc = rc ? rc : pc_proxy_condition_wait(c->p, c->timeout);
    return 0;
}

TEST(sync_killed_server_wakes_waiters) {
    int fds = count_fds();
    for (int round = 0; round < 2; round++) {
        pc_manager *m = manager_on(PC_START_FORK);
        pc_proxy *l, *e, *q, *c, *b;
        CHECK_OK(pc_manager_lock(m, &l));
        CHECK_OK(pc_manager_event(m, &e));
        CHECK_OK(pc_manager_queue(m, 0, &q));
        CHECK_OK(pc_manager_condition(m, &c));
        CHECK_OK(pc_manager_barrier(m, 3, &b));
        CHECK_OK(pc_proxy_lock_acquire(l, 0));
        sync_call w[6] = {{l, PC_FOREVER, 0, -1, 0}, {e, PC_FOREVER, 0, -1, 0},
                          {q, PC_FOREVER, 0, -1, 0}, {c, PC_FOREVER, 0, -1, 0},
                          {b, PC_FOREVER, 0, -1, 0}, {b, PC_FOREVER, 0, -1, 0}};
        int (*fn[6])(void *) = {t_lock_acquire, t_event_wait, t_queue_get, t_condition_wait,
                                t_barrier_wait, t_barrier_wait};
        pc_thread *t[6];
        for (int i = 0; i < 6; i++) t[i] = thread_go(fn[i], &w[i]);
        for (int i = 0; i < 6; i++) await_started(&w[i]);
        int64_t n = 0;
        double t0 = pc_monotonic();
        while (n < 2 && pc_monotonic() - t0 < 10) CHECK_OK(pc_proxy_barrier_n_waiting(b, &n));
        CHECK_EQ(n, 2);
        CHECK_OK(pc_process_kill(m->server));
        t0 = pc_monotonic();
        for (int i = 0; i < 6; i++) {
            thread_end(t[i]);
            CHECK_MSG(w[i].rc == PC_BROKEN, "waiter %d: %d", i, w[i].rc);
        }
        CHECK(pc_monotonic() - t0 < 2.0);
        CHECK_OK(pc_process_join(m->server, 30));
        pc_proxy_free(l);
        pc_proxy_free(e);
        pc_proxy_free(q);
        pc_proxy_free(c);
        pc_proxy_free(b);
        pc_manager_free(m);
    }
    CHECK(no_zombies());
    CHECK_EQ(count_fds(), fds);
}

// A client that goes away with a reply unread resets its connection: the
// server's read fails (not a clean end of file), and that must close
// nothing but that connection (no descriptor numbers it never received).
TEST(sync_reset_client_leaves_others) {
    int fds = count_fds();
    pc_manager *m = manager_on(PC_START_FORK);
    pc_proxy *d[8];
    for (int i = 0; i < 8; i++) {
        CHECK_OK(pc_manager_dict(m, &d[i]));
        CHECK_OK(pc_proxy_dict_set(d[i], "k", pc_proxy_int(i)));
    }
    size_t keylen;
    const unsigned char *key = pc_process_authkey(pc_process_current(), &keylen);
    pc_client_desc cd;
    memset(&cd, 0, sizeof cd);
    cd.address = pc_manager_address(m);
    cd.authkey = key;
    cd.authkey_size = keylen;
    for (int round = 0; round < 30; round++) {
        pc_connection *c;
        CHECK_OK(pc_client(&cd, &c));
        pc_args *req = pc_args_new();
        CHECK_OK(pc_args_add_int(req, 1));
        CHECK_OK(pc_args_add_int(req, 1));
        CHECK_OK(pc_args_add_str(req, "len"));
        CHECK_OK(pc_connection_send_args(c, req));
        CHECK_OK(pc_connection_send_args(c, req));
        pc_args_free(req);
        pc_args *reply;                     // the first reply says the server read both
        CHECK_OK(pc_connection_recv_args(c, &reply));
        pc_args_free(reply);
        pc_connection_free(c);              // the second reply unread: a reset
        for (int i = 0; i < 8; i++) CHECK_EQ(get_int(d[i], "k"), i);
    }
    for (int i = 0; i < 8; i++) pc_proxy_free(d[i]);
    pc_manager_free(m);
    CHECK(no_zombies());
    CHECK_EQ(count_fds(), fds);
}

// >>sync bad input: every call refuses what it cannot take, with a message
TEST(sync_bad_arguments) {
    int fds = count_fds();
    pc_manager *m = manager_on(PC_START_FORK);
    pc_proxy *p, *l, *q, *d, *e, *b, *c;
    CHECK_RC(pc_manager_semaphore(m, -1, &p), PC_VALUE);
    CHECK(strstr(pc_last_error(), "ValueError") != NULL);
    CHECK_RC(pc_manager_bounded_semaphore(m, -1, &p), PC_VALUE);
    CHECK_RC(pc_manager_barrier(m, 0, &p), PC_VALUE);
    CHECK_RC(pc_manager_lock(NULL, &p), PC_VALUE);
    CHECK_RC(pc_manager_queue(m, 0, NULL), PC_VALUE);
    CHECK_OK(pc_manager_lock(m, &l));
    CHECK_OK(pc_manager_queue(m, 1, &q));
    CHECK_OK(pc_manager_dict(m, &d));
    CHECK_OK(pc_manager_event(m, &e));
    CHECK_OK(pc_manager_barrier(m, 2, &b));
    CHECK_OK(pc_manager_condition(m, &c));
    // a proxy of another kind, NULL proxies and out pointers, NaN timeouts
    CHECK_RC(pc_proxy_lock_acquire(q, 0), PC_VALUE);
    CHECK(strstr(pc_last_error(), "not a Lock") != NULL);
    CHECK_RC(pc_proxy_semaphore_release(l), PC_VALUE);
    CHECK_RC(pc_proxy_queue_put(d, pc_proxy_int(1), 0), PC_VALUE);
    CHECK_RC(pc_proxy_event_set(b), PC_VALUE);
    CHECK_RC(pc_proxy_barrier_abort(e), PC_VALUE);
    CHECK_RC(pc_proxy_condition_notify(l, 1), PC_VALUE);
    CHECK_RC(pc_proxy_dict_set(l, "k", pc_proxy_int(1)), PC_VALUE);
    CHECK_RC(pc_proxy_lock_acquire(NULL, 0), PC_VALUE);
    CHECK_RC(pc_proxy_queue_get(NULL, 0, NULL), PC_VALUE);
    CHECK_RC(pc_proxy_queue_get(q, 0, NULL), PC_VALUE);
    CHECK_RC(pc_proxy_queue_qsize(q, NULL), PC_VALUE);
    CHECK_RC(pc_proxy_queue_empty(q, NULL), PC_VALUE);
    CHECK_RC(pc_proxy_event_is_set(e, NULL), PC_VALUE);
    CHECK_RC(pc_proxy_barrier_parties(b, NULL), PC_VALUE);
    CHECK_RC(pc_proxy_barrier_broken(b, NULL), PC_VALUE);
    CHECK_RC(pc_proxy_lock_acquire(l, NAN), PC_VALUE);
    CHECK(strstr(pc_last_error(), "NaN") != NULL);
    CHECK_RC(pc_proxy_event_wait(e, NAN), PC_VALUE);
    pc_proxy_value v;
    CHECK_RC(pc_proxy_queue_get(q, NAN, &v), PC_VALUE);
    CHECK_RC(pc_proxy_condition_wait_for(c, NULL, NULL, 1), PC_VALUE);
    pc_proxy_value weird = pc_proxy_int(1);
    weird.type = PC_ARG_CONNECTION;
    CHECK_RC(pc_proxy_queue_put(q, weird, 0), PC_VALUE);
    CHECK_RC(pc_proxy_queue_put(q, pc_proxy_str(NULL), 0), PC_VALUE);
    // requests a proxy never sends: wrong argument types, unknown methods
    size_t keylen;
    const unsigned char *key = pc_process_authkey(pc_process_current(), &keylen);
    pc_client_desc cd;
    memset(&cd, 0, sizeof cd);
    cd.address = pc_manager_address(m);
    cd.authkey = key;
    cd.authkey_size = keylen;
    pc_connection *conn;
    CHECK_OK(pc_client(&cd, &conn));
    struct { pc_proxy *p; const char *method; int arg; } bad[] = {
        {l, "acquire", 0},      // no timeout
        {l, "acquire", 1},      // a str timeout
        {l, "nosuch", 0}, {e, "wait", 1}, {c, "acquire", 1}, {c, "wait", 0},
        {b, "wait", 1}, {q, "put", 0}, {q, "put", 1}, {q, "get", 1}, {d, "acquire", 0},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        pc_args *req = pc_args_new();
        CHECK_OK(pc_args_add_int(req, 1));
        CHECK_OK(pc_args_add_int(req, bad[i].p->id));
        CHECK_OK(pc_args_add_str(req, bad[i].method));
        if (bad[i].arg) CHECK_OK(pc_args_add_str(req, "soon"));
        CHECK_OK(pc_connection_send_args(conn, req));
        pc_args_free(req);
        pc_args *reply;
        int64_t status;
        const char *msg;
        CHECK_OK(pc_connection_recv_args(conn, &reply));
        CHECK_OK(pc_args_get_int(reply, 1, &status));
        CHECK_OK(pc_args_get_str(reply, 2, &msg));
        CHECK_MSG(status == PC_VALUE && msg[0], "request %zu: status %lld", i,
                  (long long)status);
        pc_args_free(reply);
    }
    pc_connection_free(conn);
    // the server still serves
    CHECK_OK(pc_proxy_lock_acquire(l, 0));
    CHECK_OK(pc_proxy_lock_release(l));
    pc_proxy_free(l);
    pc_proxy_free(q);
    pc_proxy_free(d);
    pc_proxy_free(e);
    pc_proxy_free(b);
    pc_proxy_free(c);
    pc_manager_free(m);
    CHECK(no_zombies());
    CHECK_EQ(count_fds(), fds);
}

// A client that dies waiting for a lock: the server takes the lock for it,
// cannot answer, and lets it go as it was (no PC_OWNER_DEAD for the next:
// that client never held it).
TEST(sync_unanswered_acquire) {
    int fds = count_fds();
    pc_manager *m = manager_on(PC_START_FORK);
    pc_proxy *l;
    CHECK_OK(pc_manager_lock(m, &l));
    size_t keylen;
    const unsigned char *key = pc_process_authkey(pc_process_current(), &keylen);
    pc_client_desc cd;
    memset(&cd, 0, sizeof cd);
    cd.address = pc_manager_address(m);
    cd.authkey = key;
    cd.authkey_size = keylen;
    for (int round = 0; round < 10; round++) {
        pc_connection *c;
        CHECK_OK(pc_client(&cd, &c));
        int fd = pc_connection_fileno(c);
        CHECK_EQ(shutdown(fd, SHUT_RD), 0);             // the reply cannot arrive
        pc_args *req = pc_args_new();
        CHECK_OK(pc_args_add_int(req, 1));
        CHECK_OK(pc_args_add_int(req, l->id));
        CHECK_OK(pc_args_add_str(req, "acquire"));
        CHECK_OK(pc_args_add_double(req, PC_FOREVER));
        CHECK_OK(pc_connection_send_args(c, req));
        pc_args_free(req);
        struct pollfd pf = {fd, 0, 0};                  // the server closes its end
        CHECK_EQ(poll(&pf, 1, 10000), 1);
        CHECK(pf.revents & POLLHUP);
        pc_connection_free(c);
        CHECK_RC(pc_proxy_lock_acquire(l, 0), PC_OK);
        CHECK_OK(pc_proxy_lock_release(l));
    }
    pc_proxy_free(l);
    pc_manager_free(m);
    CHECK(no_zombies());
    CHECK_EQ(count_fds(), fds);
}

// pc_manager_shutdown with calls waiting in the server: they end PC_BROKEN.
TEST(sync_shutdown_wakes_waiters) {
    int fds = count_fds();
    pc_manager *m = manager_on(PC_START_FORK);
    pc_proxy *e, *q;
    CHECK_OK(pc_manager_event(m, &e));
    CHECK_OK(pc_manager_queue(m, 0, &q));
    sync_call w[2] = {{e, PC_FOREVER, 0, -1, 0}, {q, PC_FOREVER, 0, -1, 0}};
    pc_thread *t0 = thread_go(t_event_wait, &w[0]);
    pc_thread *t1 = thread_go(t_queue_get, &w[1]);
    await_started(&w[0]);
    await_started(&w[1]);
    double t = pc_monotonic();
    CHECK_OK(pc_manager_shutdown(m));
    thread_end(t0);
    thread_end(t1);
    CHECK_RC(w[0].rc, PC_BROKEN);
    CHECK_RC(w[1].rc, PC_BROKEN);
    CHECK(pc_monotonic() - t < 5.0);
    pc_proxy_free(e);
    pc_proxy_free(q);
    pc_manager_free(m);
    CHECK(no_zombies());
    CHECK_EQ(count_fds(), fds);
}

// Threads of a fork child that make their first calls on an inherited
// proxy at once: one of them drops the parent's connections, once.
static int t_child_sets(void *arg) {
    pc_proxy *d = (pc_proxy *)arg;
    for (int i = 0; i < 20; i++)
        if (pc_proxy_dict_set(d, "child", pc_proxy_int(i))) return 1;
    return 0;
}

static int child_threads_share_inherited(void *arg) {
    pc_thread *ts[4];
    int bad = 0;
    for (int i = 0; i < 4; i++) {
        pc_thread_desc td;
        memset(&td, 0, sizeof td);
        td.target = t_child_sets;
        td.arg = arg;
        ts[i] = pc_thread_new(&td);
        if (!ts[i] || pc_thread_start(ts[i])) return 2;
    }
    for (int i = 0; i < 4; i++) {
        bad |= pc_thread_join(ts[i], PC_FOREVER) || pc_thread_exitcode(ts[i]) != 0;
        pc_thread_free(ts[i]);
    }
    return bad;
}

TEST(sync_fork_child_threads_reconnect) {
    int fds = count_fds();
    pc_manager *m = manager_on(PC_START_FORK);
    pc_proxy *d;
    CHECK_OK(pc_manager_dict(m, &d));
    for (int round = 0; round < 20; round++) {
        CHECK_OK(pc_proxy_dict_set(d, "parent", pc_proxy_int(round)));   // connected
        pc_process_desc pd;
        memset(&pd, 0, sizeof pd);
        pd.target = child_threads_share_inherited;
        pd.arg = d;                     // the pointer itself: fork only
        pd.context = pc_get_context(PC_START_FORK);
        pc_process *p = pc_process_new(&pd);
        CHECK(p != NULL);
        CHECK_OK(pc_process_start(p));
        CHECK_EQ(pct_finish(p), 0);
        CHECK_EQ(get_int(d, "child"), 19);
        CHECK_EQ(get_int(d, "parent"), round);
    }
    pc_proxy_free(d);
    pc_manager_free(m);
    CHECK(no_zombies());
    CHECK_EQ(count_fds(), fds);
}

/* Tests of pyconc_process.h's Manager (multiprocessing's SyncManager): the
   server process, dict and list proxies and every call on them, proxies
   crossing to children under fork, spawn and forkserver, a SIGKILLed
   server, and bad input (unknown object or method, wrong types, garbage
   on the wire, use after shutdown); its locks, semaphores, events,
   conditions, barriers and queues, each thread's own connection, a
   SIGKILLed lock holder (>>sync); the server's initializer, a wrong key's
   warning, join, dicts of many keys (>>finish). This program is also the
   image spawned and forkserver children run. */
#define PYCONC_IMPLEMENTATION
// A small request limit, so that a case can go past it cheaply.
#define PYCONC_MANAGER_MAX_REQUEST ((size_t)1 << 20)
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

// A connection to m's server that no proxy owns: for requests a proxy never
// sends.
static pc_connection *raw_client(pc_manager *m) {
    size_t keylen;
    const unsigned char *key = pc_process_authkey(pc_process_current(), &keylen);
    pc_client_desc cd;
    memset(&cd, 0, sizeof cd);
    cd.address = pc_manager_address(m);
    cd.authkey = key;
    cd.authkey_size = keylen;
    pc_connection *c = NULL;
    CHECK_OK(pc_client(&cd, &c));
    return c;
}

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

// >>data: Namespace, Value, Array, set, nested proxies, registered types
// The call fails with code and a message that contains text.
#define CHECK_ERR(expr, code, text)                                                 \
    do {                                                                            \
        CHECK_RC(expr, code);                                                       \
        CHECK_MSG(strstr(pc_last_error(), text) != NULL, "message \"%s\" lacks \"%s\"", \
                  pc_last_error(), text);                                           \
    } while (0)

TEST(namespace_calls) {
    int fds = count_fds();
    pc_manager *m = manager_on(PC_START_FORK);
    pc_proxy *ns, *d;
    pc_proxy_value v;
    pc_args *names;
    const char *s;
    CHECK_OK(pc_manager_namespace(m, &ns));
    CHECK_OK(pc_manager_dict(m, &d));
    CHECK_OK(pc_proxy_namespace_set(ns, "x", pc_proxy_int(1)));
    CHECK_OK(pc_proxy_namespace_set(ns, "y", pc_proxy_str("why")));
    CHECK_OK(pc_proxy_namespace_set(ns, "x", pc_proxy_double(2.5)));    // replaced, keeps its place
    CHECK_OK(pc_proxy_namespace_set(ns, "z", pc_proxy_none()));
    CHECK_OK(pc_proxy_namespace_get(ns, "x", &v));
    CHECK_EQ(v.type, PC_ARG_DOUBLE);
    CHECK(v.d == 2.5);
    CHECK_OK(pc_proxy_namespace_get(ns, "y", &v));
    CHECK_EQ(v.type, PC_ARG_STR);
    CHECK(strcmp((const char *)v.data, "why") == 0);
    pc_proxy_value_free(&v);
    CHECK_OK(pc_proxy_namespace_get(ns, "z", &v));
    CHECK_EQ(v.type, PC_ARG_NONE);
    CHECK_OK(pc_proxy_namespace_names(ns, &names));
    CHECK_EQ(pc_args_len(names), 3);
    CHECK_OK(pc_args_get_str(names, 0, &s));
    CHECK(strcmp(s, "x") == 0);
    CHECK_OK(pc_args_get_str(names, 2, &s));
    CHECK(strcmp(s, "z") == 0);
    pc_args_free(names);
    CHECK_OK(pc_proxy_namespace_del(ns, "y"));
    CHECK_ERR(pc_proxy_namespace_get(ns, "y", &v), PC_VALUE,
              "AttributeError: 'Namespace' object has no attribute 'y'");
    CHECK_EQ(v.type, PC_ARG_NONE);
    CHECK_ERR(pc_proxy_namespace_del(ns, "y"), PC_VALUE, "AttributeError");
    CHECK_ERR(pc_proxy_namespace_set(ns, "", pc_proxy_int(1)), PC_VALUE, "empty");
    CHECK_ERR(pc_proxy_namespace_get(ns, NULL, &v), PC_VALUE, "NULL");
    CHECK_ERR(pc_proxy_namespace_get(ns, "x", NULL), PC_VALUE, "NULL");
    CHECK_ERR(pc_proxy_namespace_names(ns, NULL), PC_VALUE, "NULL");
    CHECK_ERR(pc_proxy_namespace_set(NULL, "x", pc_proxy_int(1)), PC_VALUE, "NULL");
    // calls of another type, both ways
    CHECK_ERR(pc_proxy_namespace_set(d, "x", pc_proxy_int(1)), PC_VALUE,
              "is a dict, not a Namespace");
    CHECK_ERR(pc_proxy_dict_set(ns, "x", pc_proxy_int(1)), PC_VALUE, "is a Namespace, not a dict");
    pc_proxy_free(ns);
    pc_proxy_free(d);
    pc_manager_free(m);
    CHECK(no_zombies());
    CHECK_EQ(count_fds(), fds);
}

static void check_int(pc_proxy *p, int64_t want) {
    pc_proxy_value v;
    CHECK_OK(pc_proxy_value_get(p, &v));
    CHECK_EQ(v.type, PC_ARG_INT);
    CHECK_EQ(v.i, want);
}

TEST(value_calls) {
    int fds = count_fds();
    pc_manager *m = manager_on(PC_START_FORK);
    pc_proxy *vi, *vd, *vf, *vc, *vb, *vq, *bad = NULL;
    pc_proxy_value v;
    CHECK_OK(pc_manager_value(m, "i", pc_proxy_int(5), &vi));
    check_int(vi, 5);
    CHECK_OK(pc_proxy_value_set(vi, pc_proxy_int(-7)));
    check_int(vi, -7);
    CHECK_OK(pc_proxy_value_set(vi, pc_proxy_int(2147483647)));
    CHECK_ERR(pc_proxy_value_set(vi, pc_proxy_int(2147483648LL)), PC_VALUE, "OverflowError");
    CHECK_ERR(pc_proxy_value_set(vi, pc_proxy_str("x")), PC_VALUE, "TypeError");
    CHECK_ERR(pc_proxy_value_set(vi, pc_proxy_double(1.0)), PC_VALUE, "TypeError");
    check_int(vi, 2147483647);                      // failed sets changed nothing
    CHECK_OK(pc_manager_value(m, "d", pc_proxy_int(3), &vd));   // an int becomes a float
    CHECK_OK(pc_proxy_value_get(vd, &v));
    CHECK_EQ(v.type, PC_ARG_DOUBLE);
    CHECK(v.d == 3.0);
    CHECK_OK(pc_manager_value(m, "f", pc_proxy_double(0.1), &vf));  // a C float's precision
    CHECK_OK(pc_proxy_value_get(vf, &v));
    CHECK(v.d == (double)0.1f);
    CHECK_OK(pc_manager_value(m, "c", pc_proxy_bytes("a", 1), &vc));
    CHECK_ERR(pc_proxy_value_set(vc, pc_proxy_bytes("ab", 2)), PC_VALUE, "bytes of length 1");
    CHECK_OK(pc_proxy_value_get(vc, &v));
    CHECK(v.type == PC_ARG_BYTES && v.size == 1 && ((const char *)v.data)[0] == 'a');
    pc_proxy_value_free(&v);
    CHECK_OK(pc_manager_value(m, "B", pc_proxy_int(255), &vb));
    CHECK_ERR(pc_proxy_value_set(vb, pc_proxy_int(256)), PC_VALUE, "OverflowError");
    CHECK_ERR(pc_proxy_value_set(vb, pc_proxy_int(-1)), PC_VALUE, "OverflowError");
    CHECK_OK(pc_manager_value(m, "?", pc_proxy_int(9), &vq));
    check_int(vq, 1);
    CHECK_ERR(pc_manager_value(m, "u", pc_proxy_str("x"), &bad), PC_VALUE, "unknown typecode");
    CHECK_ERR(pc_manager_value(m, "ii", pc_proxy_int(1), &bad), PC_VALUE, "unknown typecode");
    CHECK_ERR(pc_manager_value(m, NULL, pc_proxy_int(1), &bad), PC_VALUE, "NULL");
    CHECK_ERR(pc_manager_value(m, "h", pc_proxy_int(40000), &bad), PC_VALUE, "OverflowError");
    CHECK_ERR(pc_manager_value(m, "i", pc_proxy_nested(vi), &bad), PC_VALUE, "no proxy");
    CHECK_ERR(pc_proxy_value_set(vi, pc_proxy_nested(vd)), PC_VALUE, "no proxy");
    CHECK(bad == NULL);
    CHECK_ERR(pc_proxy_value_get(vi, NULL), PC_VALUE, "NULL");
    pc_proxy *vs[] = {vi, vd, vf, vc, vb, vq};
    for (size_t i = 0; i < 6; i++) pc_proxy_free(vs[i]);
    pc_manager_free(m);
    CHECK(no_zombies());
    CHECK_EQ(count_fds(), fds);
}

TEST(array_calls) {
    int fds = count_fds();
    pc_manager *m = manager_on(PC_START_FORK);
    pc_proxy *ad, *ai, *bad = NULL;
    pc_proxy_value v;
    pc_args *items = pc_args_new(), *out;
    size_t n;
    int64_t k;
    double d;
    CHECK_OK(pc_manager_array(m, "d", 3, NULL, &ad));
    CHECK_OK(pc_proxy_len(ad, &n));
    CHECK_EQ(n, 3);
    CHECK_OK(pc_proxy_array_get(ad, -1, &v));
    CHECK(v.type == PC_ARG_DOUBLE && v.d == 0.0);
    CHECK_OK(pc_proxy_array_set(ad, 1, pc_proxy_int(4)));
    CHECK_OK(pc_proxy_array_get(ad, 1, &v));
    CHECK(v.type == PC_ARG_DOUBLE && v.d == 4.0);
    for (int i = 0; i < 5; i++) CHECK_OK(pc_args_add_int(items, i * 10));
    CHECK_OK(pc_manager_array(m, "q", 0, items, &ai));
    CHECK_OK(pc_proxy_len(ai, &n));
    CHECK_EQ(n, 5);
    CHECK_OK(pc_proxy_array_get(ai, -2, &v));
    CHECK_EQ(v.i, 30);
    CHECK_ERR(pc_proxy_array_get(ai, 5, &v), PC_VALUE, "IndexError");
    CHECK_ERR(pc_proxy_array_get(ai, -6, &v), PC_VALUE, "IndexError");
    CHECK_ERR(pc_proxy_array_set(ai, 0, pc_proxy_str("s")), PC_VALUE, "TypeError");
    // slices as Python's a[start:stop]
    struct { int64_t a, b; int first, count; } sl[] = {
        {1, 3, 10, 2}, {-2, 100, 30, 2}, {-100, 2, 0, 2}, {3, 1, 0, 0}, {0, 0, 0, 0}, {0, 5, 0, 5}};
    for (size_t c = 0; c < sizeof sl / sizeof sl[0]; c++) {
        CHECK_OK(pc_proxy_array_slice(ai, sl[c].a, sl[c].b, &out));
        CHECK_EQ(pc_args_len(out), (size_t)sl[c].count);
        for (int i = 0; i < sl[c].count; i++) {
            CHECK_OK(pc_args_get_int(out, (size_t)i, &k));
            CHECK_EQ(k, sl[c].first + 10 * i);
        }
        pc_args_free(out);
    }
    CHECK_OK(pc_proxy_array_slice(ad, 0, 2, &out));
    CHECK_OK(pc_args_get_double(out, 1, &d));
    CHECK(d == 4.0);
    pc_args_free(out);
    // bad constructions
    CHECK_ERR(pc_manager_array(m, "q", 4, items, &bad), PC_VALUE, "size 4, but 5 items");
    CHECK_OK(pc_args_add_str(items, "x"));
    CHECK_ERR(pc_manager_array(m, "q", 0, items, &bad), PC_VALUE, "Array item 5");
    pc_args_free(items);
    items = pc_args_new();
    CHECK_OK(pc_args_add_int(items, 300));
    CHECK_ERR(pc_manager_array(m, "b", 0, items, &bad), PC_VALUE, "OverflowError");
    CHECK_ERR(pc_manager_array(m, "z", 2, NULL, &bad), PC_VALUE, "unknown typecode");
    CHECK_ERR(pc_manager_array(m, "i", (size_t)1 << 40, NULL, &bad), PC_VALUE, "too large");
    CHECK(bad == NULL);
    CHECK_ERR(pc_proxy_array_slice(ai, 0, 1, NULL), PC_VALUE, "NULL");
    CHECK_ERR(pc_proxy_list_append(ai, pc_proxy_int(1)), PC_VALUE, "is a Array, not a list");
    pc_args_free(items);
    pc_proxy_free(ad);
    pc_proxy_free(ai);
    pc_manager_free(m);
    CHECK(no_zombies());
    CHECK_EQ(count_fds(), fds);
}

static int set_has(pc_proxy *s, pc_proxy_value v) {
    int found = -1;
    CHECK_OK(pc_proxy_set_contains(s, v, &found));
    return found;
}

TEST(set_calls) {
    int fds = count_fds();
    pc_manager *m = manager_on(PC_START_FORK);
    pc_proxy *s;
    pc_proxy_value v;
    pc_args *items = pc_args_new(), *out;
    size_t n;
    CHECK_OK(pc_manager_set(m, &s));
    CHECK_OK(pc_proxy_set_add(s, pc_proxy_int(1)));
    CHECK_OK(pc_proxy_set_add(s, pc_proxy_double(1.0)));       // Python: 1 == 1.0
    CHECK_OK(pc_proxy_set_add(s, pc_proxy_str("a")));
    CHECK_OK(pc_proxy_set_add(s, pc_proxy_bytes("a", 1)));     // not the str
    CHECK_OK(pc_proxy_set_add(s, pc_proxy_str("a")));
    CHECK_OK(pc_proxy_len(s, &n));
    CHECK_EQ(n, 3);
    CHECK_EQ(set_has(s, pc_proxy_double(1.0)), 1);
    CHECK_EQ(set_has(s, pc_proxy_double(1.5)), 0);
    CHECK_EQ(set_has(s, pc_proxy_bytes("a", 1)), 1);
    CHECK_OK(pc_proxy_set_add(s, pc_proxy_int(((int64_t)1 << 53) + 1)));
    CHECK_EQ(set_has(s, pc_proxy_double(9007199254740992.0)), 0);  // 2**53 + 1 is not 2.0**53
    CHECK_OK(pc_proxy_set_discard(s, pc_proxy_int(((int64_t)1 << 53) + 1)));
    CHECK_OK(pc_proxy_set_discard(s, pc_proxy_int(99)));       // missing: nothing
    CHECK_ERR(pc_proxy_set_remove(s, pc_proxy_int(99)), PC_VALUE, "KeyError: 99");
    CHECK_ERR(pc_proxy_set_remove(s, pc_proxy_str("b")), PC_VALUE, "KeyError: 'b'");
    CHECK_OK(pc_proxy_set_remove(s, pc_proxy_str("a")));
    CHECK_EQ(set_has(s, pc_proxy_str("a")), 0);
    CHECK_ERR(pc_proxy_set_add(s, pc_proxy_none()), PC_VALUE, "TypeError");
    CHECK_ERR(pc_proxy_set_add(s, pc_proxy_nested(s)), PC_VALUE, "TypeError");
    // update: all or nothing
    CHECK_OK(pc_args_add_int(items, 7));
    CHECK_OK(pc_args_add_str(items, "seven"));
    CHECK_OK(pc_args_add_int(items, 1));
    CHECK_OK(pc_proxy_set_update(s, items));
    CHECK_OK(pc_proxy_set_items(s, &out));
    CHECK_EQ(pc_args_len(out), 4);                  // 1, b"a", 7, "seven": in the order added
    CHECK_EQ(pc_args_type(out, 0), PC_ARG_INT);
    CHECK_EQ(pc_args_type(out, 1), PC_ARG_BYTES);
    CHECK_EQ(pc_args_type(out, 3), PC_ARG_STR);
    pc_args_free(out);
    pc_connection *c1, *c2;
    CHECK_OK(pc_pipe(1, &c1, &c2));
    CHECK_OK(pc_args_add_connection(items, c1));
    CHECK_ERR(pc_proxy_set_update(s, items), PC_VALUE, "not an int, float, bytes or str");
    pc_args_free(items);
    pc_connection_free(c1);
    pc_connection_free(c2);
    CHECK_OK(pc_proxy_len(s, &n));
    CHECK_EQ(n, 4);
    CHECK_OK(pc_proxy_set_pop(s, &v));
    pc_proxy_value_free(&v);
    CHECK_OK(pc_proxy_len(s, &n));
    CHECK_EQ(n, 3);
    CHECK_OK(pc_proxy_set_clear(s));
    CHECK_ERR(pc_proxy_set_pop(s, &v), PC_VALUE, "KeyError: 'pop from an empty set'");
    CHECK_ERR(pc_proxy_set_contains(s, pc_proxy_int(1), NULL), PC_VALUE, "NULL");
    CHECK_ERR(pc_proxy_set_update(s, NULL), PC_VALUE, "NULL");
    CHECK_ERR(pc_proxy_set_add(s, pc_proxy_str(NULL)), PC_VALUE, "NULL");
    pc_proxy_free(s);
    pc_manager_free(m);
    CHECK(no_zombies());
    CHECK_EQ(count_fds(), fds);
}

// The child appends its number to the list d["inner"] and ns.inner name.
static int child_appends_inner(void *arg) {
    pc_args *a = (pc_args *)arg;
    pc_proxy *d = NULL, *ns = NULL;
    pc_proxy_value v, w;
    int64_t k;
    if (pc_proxy_from_args(a, 0, &d) || pc_proxy_from_args(a, 1, &ns) ||
        pc_args_get_int(a, 2, &k))
        return 10;
    int rc = pc_proxy_dict_get(d, "inner", NULL, &v);
    if (rc == PC_OK && v.type != PC_ARG_PROXY) rc = 12;
    if (rc == PC_OK) rc = pc_proxy_list_append(v.proxy, pc_proxy_int(k));
    if (rc == PC_OK) rc = pc_proxy_namespace_get(ns, "inner", &w);
    if (rc == PC_OK) rc = pc_proxy_list_append(w.proxy, pc_proxy_int(100 + k));
    pc_proxy_value_free(&v);
    pc_proxy_value_free(&w);
    pc_proxy_free(d);
    pc_proxy_free(ns);
    return rc ? 11 : 0;
}

static void nested(pc_start_method method) {
    int fds = fds_after_warm_up(method);
    pc_manager *m = manager_on(method), *other = manager_on(method);
    pc_proxy *d, *l, *ns, *outer, *foreign;
    pc_proxy_value v;
    int64_t sum = 0;
    CHECK_OK(pc_manager_dict(m, &d));
    CHECK_OK(pc_manager_list(m, &l));
    CHECK_OK(pc_manager_namespace(m, &ns));
    CHECK_OK(pc_manager_list(m, &outer));
    CHECK_OK(pc_manager_list(other, &foreign));
    CHECK_OK(pc_proxy_dict_set(d, "inner", pc_proxy_nested(l)));
    CHECK_OK(pc_proxy_namespace_set(ns, "inner", pc_proxy_nested(l)));
    CHECK_OK(pc_proxy_list_append(outer, pc_proxy_nested(d)));
    pc_process *kids[3];
    for (int i = 0; i < 3; i++) {
        pc_args *a = pc_args_new();
        CHECK_OK(pc_proxy_add_to_args(a, d));
        CHECK_OK(pc_proxy_add_to_args(a, ns));
        CHECK_OK(pc_args_add_int(a, i));
        kids[i] = proc_new(method, child_appends_inner, a, PC_DAEMON_NO);
        pc_args_free(a);
        CHECK_OK(pc_process_start(kids[i]));
    }
    for (int i = 0; i < 3; i++) {
        CHECK_OK(pc_process_join(kids[i], 30));
        CHECK_EQ(pc_process_exitcode(kids[i]), 0);
        pc_process_free(kids[i]);
    }
    size_t n;
    CHECK_OK(pc_proxy_len(l, &n));                  // the parent sees what they appended
    CHECK_EQ(n, 6);
    for (int64_t i = 0; i < 6; i++) {
        CHECK_OK(pc_proxy_list_get(l, i, &v));
        sum += v.i;
    }
    CHECK_EQ(sum, 0 + 1 + 2 + 100 + 101 + 102);
    // a list item holding the dict: a proxy of the dict's type
    CHECK_OK(pc_proxy_list_get(outer, 0, &v));
    CHECK_EQ(v.type, PC_ARG_PROXY);
    CHECK_OK(pc_proxy_dict_set(v.proxy, "via", pc_proxy_int(5)));
    CHECK_EQ(get_int(d, "via"), 5);
    pc_proxy_value_free(&v);
    CHECK(v.proxy == NULL);
    CHECK_ERR(pc_proxy_dict_set(d, "x", pc_proxy_nested(foreign)), PC_VALUE, "another manager");
    CHECK_ERR(pc_proxy_namespace_set(ns, "x", pc_proxy_nested(NULL)), PC_VALUE, "NULL");
    CHECK_ERR(pc_proxy_list_append(l, pc_proxy_nested(foreign)), PC_VALUE, "another manager");
    // references the server has no object for (made by hand: a wrong id, a wrong type)
    pc_proxy *fake = pc__p_m_proxy_new(l->address, l->family, l->authkey, l->authkey_size, 999,
                                       "list");
    CHECK_ERR(pc_proxy_dict_set(d, "x", pc_proxy_nested(fake)), PC_VALUE, "no list with id 999");
    fake->id = d->id;
    CHECK_ERR(pc_proxy_dict_set(d, "x", pc_proxy_nested(fake)), PC_VALUE, "no list with id");
    pc_proxy_free(fake);
    CHECK_OK(pc_proxy_len(d, &n));
    CHECK_EQ(n, 2);                                 // "inner" and "via" only
    pc_proxy *vs[] = {d, l, ns, outer, foreign};
    for (size_t i = 0; i < 5; i++) pc_proxy_free(vs[i]);
    pc_manager_free(m);
    pc_manager_free(other);
    CHECK(no_zombies());
    CHECK_EQ(count_fds(), fds);
}

TEST(nested_fork) { nested(PC_START_FORK); }
TEST(nested_spawn) { nested(PC_START_SPAWN); }
TEST(nested_forkserver) { nested(PC_START_FORKSERVER); }

// A registered type: a counter the server keeps.
static void *counter_create(const pc_args *a) {
    int64_t start = 0;
    if (pc_args_len(a) > 0 && pc_args_get_int(a, 0, &start)) {
        pc_raise(PC_VALUE, "Counter(start): start is not an int");
        return NULL;
    }
    int64_t *c = (int64_t *)malloc(sizeof *c);
    if (c) *c = start;
    return c;
}
static void counter_destroy(void *self) { free(self); }
static int counter_add(void *self, const pc_args *in, pc_args *out) {
    int64_t k;
    if (pc_args_get_int(in, 0, &k)) return pc_raise(PC_VALUE, "add(k): k is not an int");
    *(int64_t *)self += k;
    return pc_args_add_int(out, *(int64_t *)self);
}
static int counter_len(void *self, const pc_args *in, pc_args *out) {
    (void)in;
    return pc_args_add_int(out, *(int64_t *)self);
}
static int counter_fail(void *self, const pc_args *in, pc_args *out) {
    (void)self, (void)in, (void)out;
    return pc_raise(PC_RUNTIME, "Counter.fail: as asked");
}
static int counter_quiet_fail(void *self, const pc_args *in, pc_args *out) {
    (void)self, (void)in, (void)out;
    return PC_TIMEOUT;
}
static int counter_bad_result(void *self, const pc_args *in, pc_args *out) {
    pc_connection *a, *b;
    (void)self, (void)in;
    if (pc_pipe(1, &a, &b)) return PC_OS;
    pc_connection_free(b);
    return pc_args_add_connection(out, a);  // the pack owns it now
}

static const pc_manager_method counter_methods[] = {
    {"add", counter_add},
    {"len", counter_len},
    {"fail", counter_fail},
    {"quiet_fail", counter_quiet_fail},
    {"bad_result", counter_bad_result},
};

// Register Counter once per process (when this program runs every case
// in one process, earlier cases have started managers: reopen the table).
static void counter_registered(void) {
    static int done;
    if (done) return;
    pc_manager_type_desc td;
    memset(&td, 0, sizeof td);
    td.create = counter_create;
    td.destroy = counter_destroy;
    td.methods = counter_methods;
    td.n_methods = sizeof counter_methods / sizeof counter_methods[0];
    pc__p_m_reg_closed = 0;
    CHECK_OK(pc_manager_register("Counter", &td));
    done = 1;
}

static int64_t counter_add_one(pc_proxy *c, int64_t k) {
    pc_args *in = pc_args_new(), *out = NULL;
    int64_t now = -1;
    CHECK_OK(pc_args_add_int(in, k));
    CHECK_OK(pc_proxy_callmethod(c, "add", in, &out));
    CHECK_OK(pc_args_get_int(out, 0, &now));
    pc_args_free(in);
    pc_args_free(out);
    return now;
}

static int child_counts(void *arg) {
    pc_proxy *c = NULL;
    if (pc_proxy_from_args((const pc_args *)arg, 0, &c)) return 10;
    pc_args *in = pc_args_new();
    int rc = in ? pc_args_add_int(in, 1) : PC_NOMEM;
    for (int i = 0; rc == PC_OK && i < 50; i++) rc = pc_proxy_callmethod(c, "add", in, NULL);
    pc_args_free(in);
    pc_proxy_free(c);
    return rc ? 11 : 0;
}

static void registered(pc_start_method method) {
    int fds = fds_after_warm_up(method);
    counter_registered();
    pc_manager *m = manager_on(method);
    pc_proxy *c, *bad = NULL;
    pc_args *args = pc_args_new(), *out = NULL;
    CHECK_OK(pc_args_add_int(args, 10));
    CHECK_OK(pc_manager_create(m, "Counter", args, &c));
    CHECK_EQ(counter_add_one(c, 5), 15);
    pc_process *kids[3];
    pc_args *a = pc_args_new();
    CHECK_OK(pc_proxy_add_to_args(a, c));
    for (int i = 0; i < 3; i++) {
        kids[i] = proc_new(method, child_counts, a, PC_DAEMON_NO);
        CHECK_OK(pc_process_start(kids[i]));
    }
    pc_args_free(a);
    for (int i = 0; i < 3; i++) {
        CHECK_OK(pc_process_join(kids[i], 30));
        CHECK_EQ(pc_process_exitcode(kids[i]), 0);
        pc_process_free(kids[i]);
    }
    CHECK_EQ(counter_add_one(c, 0), 15 + 150);
    size_t n;
    CHECK_OK(pc_proxy_len(c, &n));                  // its own "len" method
    CHECK_EQ(n, 165);
    // errors: their codes and messages cross
    CHECK_ERR(pc_proxy_callmethod(c, "fail", NULL, &out), PC_RUNTIME, "Counter.fail: as asked");
    CHECK(out == NULL);
    CHECK_ERR(pc_proxy_callmethod(c, "quiet_fail", NULL, NULL), PC_TIMEOUT,
              "Counter.quiet_fail failed (status 1)");
    CHECK_ERR(pc_proxy_callmethod(c, "nope", NULL, NULL), PC_VALUE,
              "'Counter' object has no method 'nope'");
    CHECK_ERR(pc_proxy_callmethod(c, "bad_result", NULL, NULL), PC_VALUE, "Counter.bad_result");
    CHECK_ERR(pc_proxy_callmethod(c, "add", NULL, NULL), PC_VALUE, "add(k): k is not an int");
    CHECK_ERR(pc_proxy_callmethod(c, NULL, NULL, NULL), PC_VALUE, "NULL");
    CHECK_ERR(pc_proxy_callmethod(NULL, "add", NULL, NULL), PC_VALUE, "NULL");
    pc_args_free(args);
    args = pc_args_new();
    CHECK_OK(pc_args_add_str(args, "ten"));
    CHECK_ERR(pc_manager_create(m, "Counter", args, &bad), PC_VALUE,
              "Counter(start): start is not an int");
    CHECK_ERR(pc_manager_create(m, "Counterfeit", NULL, &bad), PC_VALUE,
              "unknown typeid 'Counterfeit'");
    CHECK_ERR(pc_manager_create(m, NULL, NULL, &bad), PC_VALUE, "NULL");
    CHECK(bad == NULL);
    // a typed call on it is refused; a method call on a dict names the type
    CHECK_ERR(pc_proxy_dict_set(c, "k", pc_proxy_int(1)), PC_VALUE, "is a Counter, not a dict");
    pc_proxy *d;
    CHECK_OK(pc_manager_dict(m, &d));
    CHECK_ERR(pc_proxy_callmethod(d, "nope", NULL, NULL), PC_VALUE, "dict has no method 'nope'");
    CHECK_OK(pc_proxy_callmethod(d, "len", NULL, &out));   // the built-in's own methods
    CHECK_EQ(pc_args_len(out), 1);
    pc_args_free(out);
    pc_args_free(args);
    pc_proxy_free(d);
    pc_proxy_free(c);
    pc_manager_free(m);
    CHECK(no_zombies());
    CHECK_EQ(count_fds(), fds);
}

TEST(registered_fork) { registered(PC_START_FORK); }
TEST(registered_spawn) { registered(PC_START_SPAWN); }
TEST(registered_forkserver) { registered(PC_START_FORKSERVER); }

TEST(register_errors) {
    pc_manager_type_desc td;
    pc_manager_method twice[] = {{"add", counter_add}, {"add", counter_fail}};
    pc_manager_method unnamed[] = {{NULL, counter_add}};
    pc_manager_method nofn[] = {{"add", NULL}};
    memset(&td, 0, sizeof td);
    td.create = counter_create;
    counter_registered();
    pc__p_m_reg_closed = 0;         // as before any manager started
    CHECK_ERR(pc_manager_register(NULL, &td), PC_VALUE, "NULL");
    CHECK_ERR(pc_manager_register("T", NULL), PC_VALUE, "NULL");
    CHECK_ERR(pc_manager_register("", &td), PC_VALUE, "is not 1..31 bytes");
    CHECK_ERR(pc_manager_register("a-typeid-longer-than-31-bytes-xx", &td), PC_VALUE, "1..31");
    CHECK_ERR(pc_manager_register("two words", &td), PC_VALUE, "without spaces");
    CHECK_ERR(pc_manager_register("dict", &td), PC_VALUE, "typeid 'dict' is served already");
    CHECK_ERR(pc_manager_register("Counter", &td), PC_VALUE, "'Counter' is served already");
    td.n_methods = 2;
    CHECK_ERR(pc_manager_register("T", &td), PC_VALUE, "NULL");     // methods NULL
    td.methods = twice;
    CHECK_ERR(pc_manager_register("T", &td), PC_VALUE, "method 'add' twice");
    td.methods = unnamed;
    td.n_methods = 1;
    CHECK_ERR(pc_manager_register("T", &td), PC_VALUE, "no name or function");
    td.methods = nofn;
    CHECK_ERR(pc_manager_register("T", &td), PC_VALUE, "no name or function");
    td.methods = NULL;
    td.n_methods = 0;
    td.create = NULL;
    CHECK_ERR(pc_manager_register("T", &td), PC_VALUE, "NULL");
    td.create = counter_create;
    pc_manager *m = manager_on(PC_START_FORK);
    CHECK_ERR(pc_manager_register("T", &td), PC_RUNTIME, "before pc_manager_new");
    pc_proxy *c;
    CHECK_ERR(pc_manager_create(m, "T", NULL, &c), PC_VALUE, "unknown typeid 'T'");
    pc_manager_free(m);
    CHECK(no_zombies());
}

// A fork server inherits this end: destroy reports each object it releases.
static pc_connection *destroyed_w;
static void counter_destroy_told(void *self) {
    if (destroyed_w) pc_connection_send_bytes(destroyed_w, self, 0, sizeof(int64_t));
    free(self);
}

TEST(registered_destroy_on_shutdown) {
    int fds = count_fds();
    static const pc_manager_method none[] = {{"len", counter_len}};
    pc_manager_type_desc td;
    memset(&td, 0, sizeof td);
    td.create = counter_create;
    td.destroy = counter_destroy_told;
    td.methods = none;
    td.n_methods = 1;
    pc__p_m_reg_closed = 0;         // as before any manager started
    CHECK_OK(pc_manager_register("Told", &td));
    pc_connection *r;
    CHECK_OK(pc_pipe(0, &r, &destroyed_w));
    pc_manager *m = manager_on(PC_START_FORK);
    pc_proxy *c[2];
    for (int64_t i = 0; i < 2; i++) {
        pc_args *a = pc_args_new();
        CHECK_OK(pc_args_add_int(a, 40 + i));
        CHECK_OK(pc_manager_create(m, "Told", a, &c[i]));
        pc_args_free(a);
    }
    pc_connection_free(destroyed_w);
    destroyed_w = NULL;
    CHECK_OK(pc_manager_shutdown(m));
    for (int64_t i = 0; i < 2; i++) {       // both released, in the order made
        void *b;
        size_t n;
        CHECK_OK(pc_connection_recv_bytes(r, 0, &b, &n));
        CHECK_EQ(n, sizeof(int64_t));
        int64_t v;
        memcpy(&v, b, sizeof v);
        CHECK_EQ(v, 40 + i);
        pc_connection_bytes_free(b);
    }
    pc_connection_free(r);
    pc_proxy_free(c[0]);
    pc_proxy_free(c[1]);
    pc_manager_free(m);
    CHECK(no_zombies());
    CHECK_EQ(count_fds(), fds);
}

// >>wire: compound dict operations, pipelined batches, the fuzzed request
// decoder, a server in the calling process
TEST(dict_setdefault_incr) {
    int fds = count_fds();
    pc_manager *m = manager_on(PC_START_FORK);
    pc_proxy *d, *l;
    pc_proxy_value v;
    CHECK_OK(pc_manager_dict(m, &d));
    CHECK_OK(pc_manager_list(m, &l));
    // setdefault: a missing key takes the default, a present one keeps its value
    CHECK_OK(pc_proxy_dict_setdefault(d, "s", pc_proxy_str("first"), &v));
    CHECK(v.type == PC_ARG_STR && strcmp((const char *)v.data, "first") == 0);
    pc_proxy_value_free(&v);
    CHECK_OK(pc_proxy_dict_setdefault(d, "s", pc_proxy_str("second"), &v));
    CHECK(v.type == PC_ARG_STR && strcmp((const char *)v.data, "first") == 0);
    pc_proxy_value_free(&v);
    CHECK_OK(pc_proxy_dict_setdefault(d, "n", pc_proxy_none(), NULL));
    CHECK_OK(pc_proxy_dict_get(d, "n", NULL, &v));
    CHECK_EQ(v.type, PC_ARG_NONE);
    // incr: a missing key starts at 0; int + float is a float
    CHECK_OK(pc_proxy_dict_incr(d, "c", pc_proxy_int(5), &v));
    CHECK(v.type == PC_ARG_INT && v.i == 5);
    CHECK_OK(pc_proxy_dict_incr(d, "c", pc_proxy_int(-7), NULL));
    CHECK_EQ(get_int(d, "c"), -2);
    CHECK_OK(pc_proxy_dict_incr(d, "c", pc_proxy_double(0.5), &v));
    CHECK(v.type == PC_ARG_DOUBLE && v.d == -1.5);
    CHECK_OK(pc_proxy_dict_incr(d, "f", pc_proxy_double(0.25), &v));
    CHECK(v.type == PC_ARG_DOUBLE && v.d == 0.25);
    // what is not a number: TypeError, the value stays
    CHECK_RC(pc_proxy_dict_incr(d, "s", pc_proxy_int(1), &v), PC_VALUE);
    CHECK_MSG(strstr(pc_last_error(), "TypeError") != NULL, "%s", pc_last_error());
    CHECK_EQ(v.type, PC_ARG_NONE);
    CHECK_RC(pc_proxy_dict_incr(d, "n", pc_proxy_int(1), NULL), PC_VALUE);
    CHECK_RC(pc_proxy_dict_incr(d, "c", pc_proxy_str("1"), NULL), PC_VALUE);
    CHECK(strstr(pc_last_error(), "TypeError") != NULL);
    CHECK_OK(pc_proxy_dict_get(d, "s", NULL, &v));
    CHECK(v.type == PC_ARG_STR && strcmp((const char *)v.data, "first") == 0);
    pc_proxy_value_free(&v);
    CHECK_OK(pc_proxy_dict_set(d, "big", pc_proxy_int(INT64_MAX)));
    CHECK_RC(pc_proxy_dict_incr(d, "big", pc_proxy_int(1), NULL), PC_VALUE);
    CHECK(strstr(pc_last_error(), "OverflowError") != NULL);
    CHECK_EQ(get_int(d, "big"), INT64_MAX);
    // bad input
    CHECK_RC(pc_proxy_dict_incr(NULL, "c", pc_proxy_int(1), NULL), PC_VALUE);
    CHECK_RC(pc_proxy_dict_incr(d, NULL, pc_proxy_int(1), NULL), PC_VALUE);
    CHECK_RC(pc_proxy_dict_incr(l, "c", pc_proxy_int(1), NULL), PC_VALUE);
    CHECK_RC(pc_proxy_dict_setdefault(l, "c", pc_proxy_int(1), NULL), PC_VALUE);
    CHECK_RC(pc_proxy_dict_setdefault(d, "c", pc_proxy_str(NULL), NULL), PC_VALUE);
    size_t n;
    CHECK_OK(pc_proxy_len(d, &n));
    CHECK_EQ(n, 5);
    pc_proxy_free(d);
    pc_proxy_free(l);
    pc_manager_free(m);
    CHECK(no_zombies());
    CHECK_EQ(count_fds(), fds);
}

// Children increment one counter at once: no increment is lost.
#define INCR_CHILDREN 4
#define INCR_EACH 150
static int child_increments(void *arg) {
    pc_proxy *d = NULL;
    if (pc_proxy_from_args((pc_args *)arg, 0, &d)) return 10;
    int rc = 0;
    for (int i = 0; i < INCR_EACH && !rc; i++) {
        rc = pc_proxy_dict_incr(d, "hits", pc_proxy_int(1), NULL);
        if (!rc) rc = pc_proxy_dict_setdefault(d, "first", pc_proxy_int(getpid()), NULL);
    }
    pc_proxy_free(d);
    return rc ? 11 : 0;
}

static void children_increment(pc_start_method method) {
    int fds = fds_after_warm_up(method);
    pc_manager *m = manager_on(method);
    pc_proxy *d;
    CHECK_OK(pc_manager_dict(m, &d));
    pc_args *a = pc_args_new();
    CHECK_OK(pc_proxy_add_to_args(a, d));
    pc_process *kids[INCR_CHILDREN];
    for (int i = 0; i < INCR_CHILDREN; i++) {
        kids[i] = proc_new(method, child_increments, a, PC_DAEMON_NO);
        CHECK_OK(pc_process_start(kids[i]));
    }
    pc_args_free(a);
    long pids[INCR_CHILDREN];
    for (int i = 0; i < INCR_CHILDREN; i++) {
        pids[i] = pc_process_pid(kids[i]);
        CHECK_OK(pc_process_join(kids[i], 30));
        CHECK_EQ(pc_process_exitcode(kids[i]), 0);
        pc_process_free(kids[i]);
    }
    CHECK_EQ(get_int(d, "hits"), INCR_CHILDREN * INCR_EACH);
    int64_t first = get_int(d, "first");                // one child's, set once
    int known = 0;
    for (int i = 0; i < INCR_CHILDREN; i++) known |= pids[i] == first;
    CHECK(known);
    pc_proxy_free(d);
    pc_manager_free(m);
    CHECK(no_zombies());
    CHECK_EQ(count_fds(), fds);
}

TEST(incr_children_fork) { children_increment(PC_START_FORK); }
TEST(incr_children_spawn) { children_increment(PC_START_SPAWN); }
TEST(incr_children_forkserver) { children_increment(PC_START_FORKSERVER); }

// 10,000 sets in one batch, read back in another; then the same batch
// object again, with a generic call.
#define BATCH_N 10000
TEST(batch_sets_then_gets) {
    int fds = count_fds();
    pc_manager *m = manager_on(PC_START_FORK);
    pc_proxy *d;
    CHECK_OK(pc_manager_dict(m, &d));
    pc_proxy_batch *b = pc_proxy_batch_new(d);
    CHECK(b != NULL);
    char key[32];
    for (int i = 0; i < BATCH_N; i++) {
        snprintf(key, sizeof key, "key%d", i);
        CHECK_OK(pc_proxy_batch_dict_set(b, key, pc_proxy_int(i * 3)));
    }
    CHECK_EQ(pc_proxy_batch_len(b), BATCH_N);
    CHECK_OK(pc_proxy_batch_run(b));
    CHECK_RC(pc_proxy_batch_run(b), PC_RUNTIME);        // nothing queued since
    size_t n;
    CHECK_OK(pc_proxy_len(d, &n));
    CHECK_EQ(n, BATCH_N);
    static pc_proxy_value got[BATCH_N];
    for (int i = 0; i < BATCH_N; i++) {
        snprintf(key, sizeof key, "key%d", i);
        CHECK_OK(pc_proxy_batch_dict_get(b, key, NULL, &got[i]));
    }
    CHECK_OK(pc_proxy_batch_run(b));
    for (int i = 0; i < BATCH_N; i++) {
        CHECK_MSG(got[i].type == PC_ARG_INT && got[i].i == i * 3, "item %d", i);
        CHECK_EQ(pc_proxy_batch_status(b, (size_t)i), PC_OK);
    }
    // large values both ways: the writes go on while replies come back
    static char big[200000];
    memset(big, 'b', sizeof big);
    pc_proxy_value bv[40];
    for (int i = 0; i < 40; i++) {
        snprintf(key, sizeof key, "big%d", i);
        CHECK_OK(pc_proxy_batch_dict_set(b, key, pc_proxy_bytes(big, sizeof big)));
        CHECK_OK(pc_proxy_batch_dict_get(b, key, NULL, &bv[i]));
    }
    pc_args *len_out = NULL;
    CHECK_OK(pc_proxy_batch_call(b, "len", NULL, &len_out));
    CHECK_OK(pc_proxy_batch_run(b));
    for (int i = 0; i < 40; i++) {
        CHECK(bv[i].type == PC_ARG_BYTES && bv[i].size == sizeof big);
        CHECK(memcmp(bv[i].data, big, sizeof big) == 0);
        pc_proxy_value_free(&bv[i]);
    }
    int64_t len;
    CHECK_OK(pc_args_get_int(len_out, 0, &len));
    CHECK_EQ(len, BATCH_N + 40);
    pc_args_free(len_out);
    pc_proxy_batch_free(b);
    pc_proxy_free(d);
    pc_manager_free(m);
    CHECK(no_zombies());
    CHECK_EQ(count_fds(), fds);
}

// A failing call in the middle fails only itself.
TEST(batch_failures_are_per_call) {
    int fds = count_fds();
    pc_manager *m = manager_on(PC_START_FORK);
    pc_proxy *d, *l;
    CHECK_OK(pc_manager_dict(m, &d));
    CHECK_OK(pc_manager_list(m, &l));
    pc_proxy_batch *b = pc_proxy_batch_new(d);
    pc_proxy_value v1, v2, v3, v4;
    pc_args *keys = NULL, *bad = NULL;
    CHECK_OK(pc_proxy_batch_dict_set(b, "a", pc_proxy_str("x")));       // 0
    CHECK_OK(pc_proxy_batch_dict_get(b, "missing", NULL, &v1));          // 1: KeyError
    CHECK_OK(pc_proxy_batch_dict_incr(b, "a", pc_proxy_int(1), &v2));   // 2: TypeError
    CHECK_OK(pc_proxy_batch_call(b, "nosuch", NULL, &bad));             // 3: no method
    CHECK_OK(pc_proxy_batch_dict_incr(b, "n", pc_proxy_int(2), &v3));   // 4
    CHECK_OK(pc_proxy_batch_dict_get(b, "a", NULL, &v4));                // 5
    CHECK_OK(pc_proxy_batch_call(b, "keys", NULL, &keys));              // 6
    CHECK_RC(pc_proxy_batch_run(b), PC_VALUE);
    CHECK_MSG(strstr(pc_last_error(), "batch call 1 (get): KeyError") != NULL, "%s",
              pc_last_error());
    int want[] = {PC_OK, PC_VALUE, PC_VALUE, PC_VALUE, PC_OK, PC_OK, PC_OK};
    for (size_t i = 0; i < 7; i++) CHECK_EQ(pc_proxy_batch_status(b, i), want[i]);
    CHECK(strstr(pc_proxy_batch_error(b, 2), "TypeError") != NULL);
    CHECK(strstr(pc_proxy_batch_error(b, 3), "nosuch") != NULL);
    CHECK_EQ(strcmp(pc_proxy_batch_error(b, 0), ""), 0);
    CHECK_RC(pc_proxy_batch_status(b, 7), PC_VALUE);
    CHECK(v1.type == PC_ARG_NONE && v2.type == PC_ARG_NONE && bad == NULL);
    CHECK(v3.type == PC_ARG_INT && v3.i == 2);
    CHECK(v4.type == PC_ARG_STR && strcmp((const char *)v4.data, "x") == 0);
    pc_proxy_value_free(&v4);
    CHECK_EQ(pc_args_len(keys), 2);
    pc_args_free(keys);
    // refused when queued: nothing is sent for them
    CHECK_RC(pc_proxy_batch_dict_set(b, NULL, pc_proxy_int(1)), PC_VALUE);
    CHECK_RC(pc_proxy_batch_dict_set(b, "k", pc_proxy_str(NULL)), PC_VALUE);
    CHECK_RC(pc_proxy_batch_dict_get(b, "k", NULL, NULL), PC_VALUE);
    CHECK_RC(pc_proxy_batch_dict_incr(b, "k", pc_proxy_str("1"), NULL), PC_VALUE);
    CHECK_RC(pc_proxy_batch_call(b, NULL, NULL, NULL), PC_VALUE);
    CHECK_RC(pc_proxy_batch_dict_set(NULL, "k", pc_proxy_int(1)), PC_VALUE);
    CHECK_RC(pc_proxy_batch_run(NULL), PC_VALUE);
    CHECK(pc_proxy_batch_new(NULL) == NULL);
    CHECK_EQ(pc_proxy_batch_len(b), 7);                 // the run's calls stay readable
    pc_proxy_batch *lb = pc_proxy_batch_new(l);         // a list's batch: generic calls
    CHECK_OK(pc_proxy_batch_run(lb));                   // an empty batch
    CHECK_RC(pc_proxy_batch_dict_set(lb, "k", pc_proxy_int(1)), PC_VALUE);
    pc_args *item = pc_args_new();
    CHECK_OK(pc_args_add_int(item, PC_ARG_INT));
    CHECK_OK(pc_args_add_int(item, 9));
    for (int i = 0; i < 3; i++) CHECK_OK(pc_proxy_batch_call(lb, "append", item, NULL));
    pc_args_free(item);
    CHECK_OK(pc_proxy_batch_run(lb));
    size_t n;
    CHECK_OK(pc_proxy_len(l, &n));
    CHECK_EQ(n, 3);
    pc_proxy_batch_free(lb);
    pc_proxy_batch_free(b);
    pc_proxy_batch_free(NULL);
    pc_proxy_free(d);
    pc_proxy_free(l);
    pc_manager_free(m);
    CHECK(no_zombies());
    CHECK_EQ(count_fds(), fds);
}

// The server is SIGKILLed while a batch runs: the calls it answered keep
// their results, the rest are PC_BROKEN, at once.
typedef struct batch_killer {
    pc_proxy *watch;
    pc_process *server;
    double killed_at;
    int rc;
} batch_killer;

static int kill_server_midway(void *arg) {
    batch_killer *k = (batch_killer *)arg;
    pc_proxy_value v = pc_proxy_none();
    // the batch sets k0 to i for i = 0, 100, 200 ...: kill once it is past 20000
    while ((k->rc = pc_proxy_dict_get(k->watch, "k0", NULL, &v)) == PC_OK &&
           (v.type != PC_ARG_INT || v.i < 20000)) {}
    k->killed_at = pc_monotonic();
    return pc_process_kill(k->server);
}

TEST(batch_server_killed) {
    int fds = fds_after_warm_up(PC_START_FORK);
    enum { N = 150000 };
    for (int round = 0; round < 2; round++) {
        pc_manager *m = manager_on(PC_START_FORK);
        batch_killer k = {NULL, m->server, 0, 0};
        pc_proxy *d;
        CHECK_OK(pc_manager_dict(m, &d));
        CHECK_OK(pc_manager_dict(m, &k.watch));
        k.watch->id = d->id;                            // a second proxy to the same dict
        CHECK_OK(pc_proxy_dict_set(d, "k0", pc_proxy_int(-1)));
        pc_proxy_batch *b = pc_proxy_batch_new(d);
        char key[32];
        for (int i = 0; i < N; i++) {
            snprintf(key, sizeof key, "k%d", i % 100);
            CHECK_OK(pc_proxy_batch_dict_set(b, key, pc_proxy_int(i)));
        }
        pc_thread *t = pc_thread_new(&(pc_thread_desc){.target = kill_server_midway, .arg = &k});
        CHECK_OK(pc_thread_start(t));
        CHECK_RC(pc_proxy_batch_run(b), PC_BROKEN);
        double done = pc_monotonic();
        CHECK_OK(pc_thread_join(t, PC_FOREVER));
        pc_thread_free(t);
        CHECK_OK(k.rc);
        CHECK_MSG(done - k.killed_at < 2.0, "%.3f s after the kill", done - k.killed_at);
        size_t ok = 0;
        while (ok < N && pc_proxy_batch_status(b, ok) == PC_OK) ok++;
        // replies wait in the server's buffer up to 64 KiB: fewer than 10000
        CHECK_MSG(ok >= 10000 && ok < N, "%zu calls answered", ok);
        for (size_t i = ok; i < N; i++) CHECK_EQ(pc_proxy_batch_status(b, i), PC_BROKEN);
        CHECK(strstr(pc_proxy_batch_error(b, N - 1), "gone") != NULL);
        CHECK_OK(pc_process_join(m->server, 30));
        pc_proxy_batch_free(b);
        pc_proxy_free(d);
        pc_proxy_free(k.watch);
        pc_manager_free(m);
    }
    CHECK(no_zombies());
    CHECK_EQ(count_fds(), fds);
}

// >>wire fuzz: random and mutated requests on a raw connection; after
// each, the server answers a good request. The random stream starts from a
// fixed value, or from PCT_FUZZ_STATE (printed, so a failure can be re-run).
static uint64_t fuzz_state;
static uint64_t fuzz_next(void) {            // xorshift64*
    fuzz_state ^= fuzz_state >> 12;
    fuzz_state ^= fuzz_state << 25;
    fuzz_state ^= fuzz_state >> 27;
    return fuzz_state * 2685821657736338717ull;
}
static size_t fuzz_below(size_t n) { return n ? (size_t)(fuzz_next() % n) : 0; }

// A request as the server reads it: the pack's message bytes (b owns them).
static void fuzz_request(pc__p_buf *b, int64_t dict_id) {
    static const char *const methods[] = {
        "get", "set", "pop", "update", "keys", "del", "contains", "len", "clear", "setdefault",
        "incr", "append", "extend", "reverse", "create", "nosuch", "", "get\xff",
    };
    static const char *const typeids[] = {"dict", "list", "nosuch", ""};
    int64_t ids[] = {0, dict_id, dict_id + 1, 999, -1, INT64_MIN};
    pc_args *a = pc_args_new();
    CHECK_OK(pc_args_add_int(a, (int64_t)fuzz_next()));
    CHECK_OK(pc_args_add_int(a, ids[fuzz_below(6)]));
    const char *m = methods[fuzz_below(sizeof methods / sizeof methods[0])];
    CHECK_OK(pc_args_add_str(a, m));
    if (strcmp(m, "create") == 0) CHECK_OK(pc_args_add_str(a, typeids[fuzz_below(4)]));
    if (fuzz_below(2)) {                        // well formed: a dict call [key, value]
        pc_args_free(a);
        a = pc_args_new();
        static const char *const dict_methods[] = {"get", "set", "setdefault", "incr", "pop",
                                                   "contains", "len", "keys"};
        CHECK_OK(pc_args_add_int(a, (int64_t)fuzz_next()));
        CHECK_OK(pc_args_add_int(a, dict_id));
        CHECK_OK(pc_args_add_str(a, dict_methods[fuzz_below(8)]));
        CHECK_OK(pc_args_add_str(a, fuzz_below(2) ? "ka" : "kb"));
        if (fuzz_below(2)) {
            CHECK_OK(pc_args_add_int(a, PC_ARG_INT));
            CHECK_OK(pc_args_add_int(a, (int64_t)fuzz_below(100)));
        } else {
            CHECK_OK(pc_args_add_int(a, PC_ARG_STR));
            CHECK_OK(pc_args_add_str(a, "v"));
        }
    }
    size_t n = fuzz_below(6);
    for (size_t i = 0; i < n; i++) {
        char s[8] = "k";
        s[1] = (char)('a' + fuzz_below(3));
        switch (fuzz_below(6)) {
        case 0: CHECK_OK(pc_args_add_int(a, (int64_t)fuzz_below(8) - 2)); break;  // types too
        case 1: CHECK_OK(pc_args_add_int(a, (int64_t)fuzz_next())); break;
        case 2: CHECK_OK(pc_args_add_double(a, (double)(int64_t)fuzz_next() / 7.0)); break;
        case 3: CHECK_OK(pc_args_add_bytes(a, s, fuzz_below(3))); break;
        default: CHECK_OK(pc_args_add_str(a, s)); break;
        }
    }
    int fds[1];
    size_t nfds = 0;
    memset(b, 0, sizeof *b);
    pc__p_buf_u32(b, PC__ARGS_MAGIC);
    CHECK_OK(pc__p_args_encode(a, b, fds, &nfds, NULL));
    pc_args_free(a);
}

// Spoil a request: flip bytes, truncate it, write huge lengths or wrong
// types over it, or replace it with random bytes.
static void fuzz_mutate(pc__p_buf *b) {
    uint64_t huge[] = {UINT64_MAX, (uint64_t)1 << 62, (uint64_t)PTRDIFF_MAX, 0x7fffffff, 1u << 20};
    switch (fuzz_below(6)) {
    case 0: break;                                  // valid, garbage arguments
    case 1:
        for (size_t k = 1 + fuzz_below(4); k; k--)
            b->p[fuzz_below(b->len)] ^= (unsigned char)(1u << fuzz_below(8));
        break;
    case 2: b->len = fuzz_below(b->len); break;
    case 3: {
        size_t at = fuzz_below(b->len > 8 ? b->len - 8 : 1);
        uint64_t h = huge[fuzz_below(5)];
        if (b->len >= 8) memcpy(b->p + at, &h, 8);
        break;
    }
    case 4:
        if (b->len > 8) {
            size_t at = 8 + fuzz_below(b->len - 8);
            b->p[at] = (unsigned char)fuzz_below(40);   // an item's type, or what follows
        }
        break;
    default:
        b->len = fuzz_below(48);
        for (size_t i = 0; i < b->len; i++) {
            if (i >= b->cap) pc__p_buf_u8(b, 0);
            b->p[i] = (unsigned char)fuzz_next();
        }
        break;
    }
}

static void fuzz_good_request(pc_connection *c, int64_t dict_id, int64_t rid) {
    pc_args *req = pc_args_new(), *reply;
    int64_t got_rid, status, n;
    CHECK_OK(pc_args_add_int(req, rid));
    CHECK_OK(pc_args_add_int(req, dict_id));
    CHECK_OK(pc_args_add_str(req, "len"));
    CHECK_OK(pc_connection_send_args(c, req));
    pc_args_free(req);
    CHECK_OK(pc_connection_recv_args(c, &reply));
    CHECK_OK(pc_args_get_int(reply, 0, &got_rid));
    CHECK_OK(pc_args_get_int(reply, 1, &status));
    CHECK_OK(pc_args_get_int(reply, 3, &n));
    CHECK(got_rid == rid && status == 0 && n >= 0);
    pc_args_free(reply);
}

// A frame that lies about its length (more than follows, or past any
// limit), on a connection of its own: the server ends that connection only.
static void fuzz_lying_frame(pc_manager *m) {
    pc_connection *c = raw_client(m);
    unsigned char frame[64];
    size_t n = 4 + fuzz_below(40);
    for (size_t i = 0; i < n; i++) frame[i] = (unsigned char)fuzz_next();
    uint32_t lens[] = {0x7fffffffu, 0x00100001u, 0xfffffff0u, 0xffffffffu, 0x40u};
    uint32_t len = lens[fuzz_below(5)];
    for (int i = 0; i < 4; i++) frame[i] = (unsigned char)(len >> (24 - 8 * i));
    if (len == 0xffffffffu && n >= 12) memset(frame + 4, 0x7f, 8);   // 8-byte form, huge
    CHECK_EQ(write(pc_connection_fileno(c), frame, n), (ssize_t)n);
    pc_connection_free(c);
}

TEST(fuzz_request_decoder) {
    int fds = count_fds();
    const char *env = getenv("PCT_FUZZ_STATE");
    fuzz_state = env ? strtoull(env, NULL, 0) : 0x9e3779b97f4a7c15ull;
    if (!fuzz_state) fuzz_state = 1;
    printf("fuzz state 0x%llx (PCT_FUZZ_STATE)\n", (unsigned long long)fuzz_state);
    pc_manager *m = manager_on(PC_START_FORK);
    pc_proxy *d;
    pc_proxy_value v;
    CHECK_OK(pc_manager_dict(m, &d));
    CHECK_OK(pc_proxy_dict_set(d, "ka", pc_proxy_int(1)));
    pc_connection *c = raw_client(m);
    int answered[PC_OWNER_DEAD + 1] = {0};
    for (int i = 0; i < 3000; i++) {
        pc__p_buf b;
        fuzz_request(&b, d->id);
        fuzz_mutate(&b);
        CHECK_OK(pc_connection_send_bytes(c, b.p, 0, b.len));
        pc__free(b.p);
        pc_args *reply;
        int64_t status;
        CHECK_OK(pc_connection_recv_args(c, &reply));       // every frame is answered
        CHECK_OK(pc_args_get_int(reply, 1, &status));
        CHECK(status >= 0 && status <= PC_OWNER_DEAD);
        answered[status]++;
        pc_args_free(reply);
        fuzz_good_request(c, d->id, i + 1);
        if (i % 100 == 0) fuzz_lying_frame(m);
    }
    pc_connection_free(c);
    printf("3000 frames: %d served, %d refused with PC_VALUE, %d other errors\n", answered[0],
           answered[PC_VALUE], 3000 - answered[0] - answered[PC_VALUE]);
    CHECK(answered[0] > 200 && answered[PC_VALUE] > 1000);    // both paths taken
    CHECK(pc_process_is_alive(m->server));
    CHECK_OK(pc_proxy_dict_get(d, "zz", &(pc_proxy_value){.type = PC_ARG_INT}, &v));
    pc_proxy_free(d);
    pc_manager_free(m);
    CHECK(no_zombies());
    CHECK_EQ(count_fds(), fds);
}

// The server's high-water mark of resident memory, in KiB.
static long server_hwm_kib(pc_process *server) {
    char path[64], line[256];
    snprintf(path, sizeof path, "/proc/%ld/status", pc_process_pid(server));
    FILE *f = fopen(path, "r");
    long kib = -1;
    while (f && fgets(line, sizeof line, f))
        if (strncmp(line, "VmHWM:", 6) == 0) kib = strtol(line + 6, NULL, 10);
    if (f) fclose(f);
    return kib;
}

// A request over PYCONC_MANAGER_MAX_REQUEST (1 MiB here) is answered
// PC_VALUE and read past without being held; the connection stays usable.
TEST(oversized_requests) {
    int fds = count_fds();
    pc_manager *m = manager_on(PC_START_FORK);
    pc_proxy *d;
    CHECK_OK(pc_manager_dict(m, &d));
    size_t big_size = (size_t)3 << 20;
    char *big = (char *)calloc(1, big_size);
    CHECK(big != NULL);
    CHECK_RC(pc_proxy_dict_set(d, "big", pc_proxy_bytes(big, big_size)), PC_VALUE);
    CHECK_MSG(strstr(pc_last_error(), "over the manager's limit") != NULL, "%s", pc_last_error());
    CHECK_OK(pc_proxy_dict_set(d, "small", pc_proxy_int(1)));      // same connection
    // in a batch: that call alone fails
    pc_proxy_batch *b = pc_proxy_batch_new(d);
    CHECK_OK(pc_proxy_batch_dict_set(b, "a", pc_proxy_int(1)));
    CHECK_OK(pc_proxy_batch_dict_set(b, "big", pc_proxy_bytes(big, big_size)));
    CHECK_OK(pc_proxy_batch_dict_set(b, "c", pc_proxy_int(3)));
    CHECK_RC(pc_proxy_batch_run(b), PC_VALUE);
    CHECK(pc_proxy_batch_status(b, 0) == PC_OK && pc_proxy_batch_status(b, 1) == PC_VALUE &&
          pc_proxy_batch_status(b, 2) == PC_OK);
    pc_proxy_batch_free(b);
    // a frame announcing 2^40 bytes, 48 MiB of which come: never held
    long before = server_hwm_kib(m->server);
    pc_connection *c = raw_client(m);
    unsigned char h[12] = {0xff, 0xff, 0xff, 0xff, 0, 0, 1, 0, 0, 0, 0, 0};
    CHECK_EQ(write(pc_connection_fileno(c), h, 12), 12);
    for (int i = 0; i < 16; i++)
        CHECK_EQ(write(pc_connection_fileno(c), big, big_size), (ssize_t)big_size);
    long after = server_hwm_kib(m->server);
    CHECK_MSG(before > 0 && after - before < 16 * 1024, "server grew from %ld to %ld KiB",
              before, after);
    pc_connection_free(c);
    CHECK_OK(pc_proxy_dict_set(d, "alive", pc_proxy_int(1)));
    CHECK_EQ(get_int(d, "alive"), 1);
    CHECK(pc_process_is_alive(m->server));
    free(big);
    pc_proxy_free(d);
    pc_manager_free(m);
    CHECK(no_zombies());
    CHECK_EQ(count_fds(), fds);
}

// >>wire serve_forever: a server in a process of the program's own
static int child_serves(void *arg) {
    const char *addr;
    if (pc_args_get_str((pc_args *)arg, 0, &addr)) return 10;
    pc_manager_desc md;
    memset(&md, 0, sizeof md);
    md.address = addr;
    md.authkey = "remote-key";
    md.authkey_size = 10;
    int rc = pc_manager_serve_forever(&md);
    int again = pc_manager_serve_forever(&md);
    return rc == PC_OK && again == PC_RUNTIME ? 0 : 11;
}

static void serve_forever_on(pc_start_method method) {
    int fds = fds_after_warm_up(method);
    char addr[64];
    snprintf(addr, sizeof addr, "@pyconc-test-serve-%d-%d", (int)getpid(), (int)method);
    pc_args *a = pc_args_new();
    CHECK_OK(pc_args_add_str(a, addr));
    pc_process *p = proc_new(method, child_serves, a, PC_DAEMON_NO);
    pc_args_free(a);
    CHECK_OK(pc_process_start(p));
    pc_manager_desc md;
    memset(&md, 0, sizeof md);
    md.address = addr;
    md.authkey = "remote-key";
    md.authkey_size = 10;
    pc_manager *m = NULL;
    for (double t0 = pc_monotonic(); !m && pc_monotonic() - t0 < 20; pc_sleep(0.01))
        m = pc_manager_connect(&md);                    // until it listens
    CHECK_MSG(m != NULL, "%s", pc_last_error());
    pc_proxy *d;
    CHECK_OK(pc_manager_dict(m, &d));
    CHECK_OK(pc_proxy_dict_set(d, "where", pc_proxy_int(pc_process_pid(p))));
    CHECK_OK(pc_proxy_dict_incr(d, "n", pc_proxy_int(2), NULL));
    CHECK_EQ(get_int(d, "where"), pc_process_pid(p));
    md.authkey = "wrong-key!";
    CHECK(pc_manager_connect(&md) == NULL);
    CHECK_EQ(pc_last_error_code(), PC_AUTH);
    CHECK_EQ(get_int(d, "n"), 2);                       // still serving
    pc__p_m_request_stop(m);
    CHECK_OK(pc_process_join(p, 30));
    CHECK_EQ(pc_process_exitcode(p), 0);
    pc_process_free(p);
    pc_proxy_free(d);
    pc_manager_free(m);
    CHECK(no_zombies());
    CHECK_EQ(count_fds(), fds);
}

TEST(serve_forever_fork) { serve_forever_on(PC_START_FORK); }
TEST(serve_forever_spawn) { serve_forever_on(PC_START_SPAWN); }
TEST(serve_forever_forkserver) { serve_forever_on(PC_START_FORKSERVER); }

TEST(serve_forever_bad_input) {
    pc_manager_desc md;
    memset(&md, 0, sizeof md);
    CHECK_RC(pc_manager_serve_forever(NULL), PC_VALUE);
    CHECK_RC(pc_manager_serve_forever(&md), PC_VALUE);          // no address
    CHECK(strstr(pc_last_error(), "address") != NULL);
    md.address = "@pyconc-test-serve-bad";
    md.authkey = "k";                                           // 0 bytes of it
    CHECK_RC(pc_manager_serve_forever(&md), PC_VALUE);
    md.authkey = NULL;
    md.address = "/nonexistent/dir/sock";
    CHECK_RC(pc_manager_serve_forever(&md), PC_OS);             // cannot listen there
}

// >>sync: locks, semaphores, events, conditions, barriers and queues
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
        pc_thread *a = pct_thread_started(t_event_wait, &c);
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
        pc_thread *a = pct_thread_started(t_barrier_wait, &c);
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
    thread_end(pct_thread_started(t_lock_release, &c));
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
    thread_end(pct_thread_started(t_lock_acquire, &o));
    CHECK_RC(o.rc, PC_TIMEOUT);
    o.rc = -1;
    thread_end(pct_thread_started(t_lock_release, &o));
    CHECK_RC(o.rc, PC_RUNTIME);
    CHECK_OK(pc_proxy_lock_release(r));
    CHECK_OK(pc_proxy_lock_release(r));
    CHECK_RC(pc_proxy_lock_release(r), PC_RUNTIME);
    o.rc = -1;
    thread_end(pct_thread_started(t_lock_acquire, &o));  // a thread that ends holding it: its
    CHECK_RC(o.rc, PC_OK);                      // connection holds it until pc_proxy_free
    for (int i = 0; i < 3; i++) {               // later threads (whatever their ids) do not
        o.rc = -1;
        thread_end(pct_thread_started(t_lock_acquire, &o));
        CHECK_RC(o.rc, PC_TIMEOUT);
    }
    // a waiter gets the lock when the holder lets go
    CHECK_OK(pc_proxy_lock_acquire(l, 0));
    for (int round = 0; round < 10; round++) {
        sync_call w = {l, 10.0, 0, -1, 0};
        pc_thread *t = pct_thread_started(t_lock_acquire, &w);
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
        t[i] = pct_thread_started(t_event_wait, &w[i]);
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
            t[i] = pct_thread_started(t_condition_wait_for, &w[i]);
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
        pc_thread *t0 = pct_thread_started(t_barrier_wait, &w[0]);
        pc_thread *t1 = pct_thread_started(t_barrier_wait, &w[1]);
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
    pc_thread *t = pct_thread_started(t_barrier_wait, &w);
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
    pc_thread *t = pct_thread_started(t_queue_join, &c);
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
        for (int i = 0; i < 6; i++) t[i] = pct_thread_started(fn[i], &w[i]);
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
    for (int round = 0; round < 30; round++) {
        pc_connection *c = raw_client(m);
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
    pc_connection *conn = raw_client(m);
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
    for (int round = 0; round < 10; round++) {
        pc_connection *c = raw_client(m);
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
    pc_thread *t0 = pct_thread_started(t_event_wait, &w[0]);
    pc_thread *t1 = pct_thread_started(t_queue_get, &w[1]);
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

// >>more: the rest of the dict's and the list's methods
static const char *str_at(const pc_args *a, size_t i) {
    const char *s = NULL;
    CHECK_OK(pc_args_get_str(a, i, &s));
    return s;
}

static int64_t int_at(const pc_args *a, size_t i) {
    int64_t v = 0;
    CHECK_OK(pc_args_get_int(a, i, &v));
    return v;
}

TEST(more_dict_calls) {
    int fds = count_fds();
    pc_manager *m = manager_on(PC_START_FORK);
    pc_proxy *d, *l, *c;
    pc_proxy_value k, v;
    pc_args *out;
    size_t n;
    CHECK_OK(pc_manager_dict(m, &d));
    CHECK_OK(pc_manager_list(m, &l));
    CHECK_OK(pc_proxy_dict_set(d, "a", pc_proxy_int(1)));
    CHECK_OK(pc_proxy_dict_set(d, "b", pc_proxy_str("two")));
    CHECK_OK(pc_proxy_dict_set(d, "c", pc_proxy_bytes("3\0", 2)));
    CHECK_OK(pc_proxy_dict_set(d, "a", pc_proxy_double(1.5)));     // keeps its place
    CHECK_OK(pc_proxy_dict_items(d, &out));
    CHECK_EQ(pc_args_len(out), 6);
    CHECK(strcmp(str_at(out, 0), "a") == 0 && pc_args_type(out, 1) == PC_ARG_DOUBLE);
    CHECK(strcmp(str_at(out, 2), "b") == 0 && strcmp(str_at(out, 3), "two") == 0);
    CHECK(strcmp(str_at(out, 4), "c") == 0 && pc_args_type(out, 5) == PC_ARG_BYTES);
    pc_args_free(out);
    CHECK_OK(pc_proxy_dict_values(d, &out));
    CHECK_EQ(pc_args_len(out), 3);
    CHECK_EQ(pc_args_type(out, 0), PC_ARG_DOUBLE);
    CHECK(strcmp(str_at(out, 1), "two") == 0);
    pc_args_free(out);
    CHECK_OK(pc_proxy_dict_keys_reversed(d, &out));
    CHECK_EQ(pc_args_len(out), 3);
    CHECK(strcmp(str_at(out, 0), "c") == 0 && strcmp(str_at(out, 2), "a") == 0);
    pc_args_free(out);
    // None and proxies cannot be pack items: items and values say which
    CHECK_OK(pc_proxy_dict_set(d, "none", pc_proxy_none()));
    CHECK_ERR(pc_proxy_dict_items(d, &out), PC_VALUE, "TypeError: the value of 'none' is None");
    CHECK_OK(pc_proxy_dict_set(d, "none", pc_proxy_nested(l)));
    CHECK_ERR(pc_proxy_dict_values(d, &out), PC_VALUE, "is a proxy");
    // copy: a new dict in the server, None and nested proxies kept
    CHECK_OK(pc_proxy_dict_set(d, "nil", pc_proxy_none()));
    CHECK_OK(pc_proxy_dict_copy(d, &c));
    CHECK_OK(pc_proxy_dict_set(c, "only_in_copy", pc_proxy_int(9)));
    CHECK_OK(pc_proxy_dict_del(d, "b"));
    CHECK_OK(pc_proxy_len(d, &n));
    CHECK_EQ(n, 4);
    CHECK_OK(pc_proxy_len(c, &n));
    CHECK_EQ(n, 6);
    CHECK_OK(pc_proxy_dict_get(c, "b", NULL, &v));      // the copy kept what d lost
    CHECK(v.type == PC_ARG_STR && strcmp((const char *)v.data, "two") == 0);
    pc_proxy_value_free(&v);
    CHECK_OK(pc_proxy_dict_get(c, "none", NULL, &v));   // the same list, through the copy
    CHECK_EQ(v.type, PC_ARG_PROXY);
    CHECK_OK(pc_proxy_list_append(v.proxy, pc_proxy_int(5)));
    pc_proxy_value_free(&v);
    CHECK_OK(pc_proxy_len(l, &n));
    CHECK_EQ(n, 1);
    // popitem: the last inserted first (LIFO), None and proxies too
    CHECK_OK(pc_proxy_dict_popitem(c, &k, &v));
    CHECK(k.type == PC_ARG_STR && strcmp((const char *)k.data, "only_in_copy") == 0);
    CHECK(v.type == PC_ARG_INT && v.i == 9);
    pc_proxy_value_free(&k);
    CHECK_OK(pc_proxy_dict_popitem(c, &k, &v));
    CHECK(strcmp((const char *)k.data, "nil") == 0 && v.type == PC_ARG_NONE);
    pc_proxy_value_free(&k);
    CHECK_OK(pc_proxy_dict_popitem(c, &k, &v));
    CHECK(strcmp((const char *)k.data, "none") == 0 && v.type == PC_ARG_PROXY);
    pc_proxy_value_free(&k);
    pc_proxy_value_free(&v);
    CHECK_OK(pc_proxy_len(c, &n));
    CHECK_EQ(n, 3);
    CHECK_OK(pc_proxy_dict_clear(c));
    CHECK_ERR(pc_proxy_dict_popitem(c, &k, &v), PC_VALUE,
              "KeyError: 'popitem(): dictionary is empty'");
    CHECK(k.type == PC_ARG_NONE && v.type == PC_ARG_NONE);
    CHECK_OK(pc_proxy_dict_keys_reversed(c, &out));     // empty: an empty pack
    CHECK_EQ(pc_args_len(out), 0);
    pc_args_free(out);
    // NULLs and the wrong kind
    CHECK_ERR(pc_proxy_dict_items(NULL, &out), PC_VALUE, "NULL");
    CHECK_ERR(pc_proxy_dict_items(d, NULL), PC_VALUE, "NULL");
    CHECK_ERR(pc_proxy_dict_values(d, NULL), PC_VALUE, "NULL");
    CHECK_ERR(pc_proxy_dict_keys_reversed(d, NULL), PC_VALUE, "NULL");
    CHECK_ERR(pc_proxy_dict_popitem(d, NULL, &v), PC_VALUE, "NULL");
    CHECK_ERR(pc_proxy_dict_popitem(d, &k, NULL), PC_VALUE, "NULL");
    CHECK_ERR(pc_proxy_dict_popitem(NULL, &k, &v), PC_VALUE, "NULL");
    CHECK_ERR(pc_proxy_dict_copy(d, NULL), PC_VALUE, "NULL");
    pc_proxy *none_made = d;
    CHECK_ERR(pc_proxy_dict_copy(NULL, &none_made), PC_VALUE, "NULL");
    CHECK_ERR(pc_proxy_dict_items(l, &out), PC_VALUE, "not a dict");
    CHECK_ERR(pc_proxy_dict_copy(l, &none_made), PC_VALUE, "not a dict");
    CHECK(none_made == NULL);
    pc_proxy_free(c);
    pc_proxy_free(d);
    pc_proxy_free(l);
    pc_manager_free(m);
    CHECK(no_zombies());
    CHECK_EQ(count_fds(), fds);
}

// A list proxy holding the items of pack (ints, floats, bytes, strs).
static pc_proxy *list_of(pc_manager *m, const pc_args *items) {
    pc_proxy *l;
    CHECK_OK(pc_manager_list(m, &l));
    CHECK_OK(pc_proxy_list_extend(l, items));
    return l;
}

// The list's ints, as a string "1 2 3" (for short comparisons).
static const char *ints_of(pc_proxy *l, char *buf, size_t size) {
    pc_args *out;
    size_t w = 0;
    CHECK_OK(pc_proxy_list_slice(l, 0, INT64_MAX, &out));
    buf[0] = '\0';
    for (size_t i = 0; i < pc_args_len(out) && w < size; i++)
        w += (size_t)snprintf(buf + w, size - w, i ? " %lld" : "%lld",
                              (long long)int_at(out, i));
    pc_args_free(out);
    return buf;
}

TEST(more_list_calls) {
    int fds = count_fds();
    pc_manager *m = manager_on(PC_START_FORK);
    pc_proxy *l, *c, *d, *d2;
    pc_proxy_value v;
    pc_args *items = pc_args_new(), *out;
    size_t n, at;
    int found;
    char buf[128];
    for (int64_t i = 0; i < 5; i++) CHECK_OK(pc_args_add_int(items, i * 10));
    l = list_of(m, items);                                          // 0 10 20 30 40
    pc_args_free(items);
    CHECK_OK(pc_proxy_list_insert(l, 1, pc_proxy_int(5)));
    CHECK_OK(pc_proxy_list_insert(l, -1, pc_proxy_int(35)));        // before the last
    CHECK_OK(pc_proxy_list_insert(l, 100, pc_proxy_int(50)));       // clipped to the end
    CHECK_OK(pc_proxy_list_insert(l, -100, pc_proxy_int(-5)));      // clipped to the start
    CHECK(strcmp(ints_of(l, buf, sizeof buf), "-5 0 5 10 20 30 35 40 50") == 0);
    // index, with bounds as a slice's; count; in
    CHECK_OK(pc_proxy_list_index(l, pc_proxy_int(20), 0, INT64_MAX, &at));
    CHECK_EQ(at, 4);
    CHECK_OK(pc_proxy_list_index(l, pc_proxy_double(20.0), -5, -1, &at));  // 1 == 1.0
    CHECK_EQ(at, 4);
    CHECK_ERR(pc_proxy_list_index(l, pc_proxy_int(20), 5, INT64_MAX, &at), PC_VALUE,
              "ValueError");
    CHECK_ERR(pc_proxy_list_index(l, pc_proxy_int(20), 0, 4, &at), PC_VALUE, "ValueError");
    CHECK_ERR(pc_proxy_list_index(l, pc_proxy_str("20"), 0, INT64_MAX, &at), PC_VALUE,
              "ValueError");
    CHECK_OK(pc_proxy_list_append(l, pc_proxy_double(10.0)));
    CHECK_OK(pc_proxy_list_append(l, pc_proxy_str("s")));
    CHECK_OK(pc_proxy_list_append(l, pc_proxy_bytes("s", 1)));
    CHECK_OK(pc_proxy_list_append(l, pc_proxy_none()));
    CHECK_OK(pc_proxy_list_count(l, pc_proxy_int(10), &n));
    CHECK_EQ(n, 2);                                                 // 10 and 10.0
    CHECK_OK(pc_proxy_list_count(l, pc_proxy_str("s"), &n));
    CHECK_EQ(n, 1);                                                 // b"s" != "s"
    CHECK_OK(pc_proxy_list_count(l, pc_proxy_int(77), &n));
    CHECK_EQ(n, 0);
    CHECK_OK(pc_proxy_list_contains(l, pc_proxy_none(), &found));
    CHECK_EQ(found, 1);                                             // None == None
    CHECK_OK(pc_proxy_list_contains(l, pc_proxy_bytes("t", 1), &found));
    CHECK_EQ(found, 0);
    // nested proxies: equal when they name the same object
    CHECK_OK(pc_manager_dict(m, &d));
    CHECK_OK(pc_manager_dict(m, &d2));
    CHECK_OK(pc_proxy_list_append(l, pc_proxy_nested(d)));
    CHECK_OK(pc_proxy_list_contains(l, pc_proxy_nested(d2), &found));
    CHECK_EQ(found, 0);
    CHECK_OK(pc_proxy_list_index(l, pc_proxy_nested(d), 0, INT64_MAX, &at));
    CHECK_EQ(at, 13);
    // a slice holding None or a proxy is refused; one without is a pack
    CHECK_ERR(pc_proxy_list_slice(l, 10, INT64_MAX, &out), PC_VALUE, "TypeError: item 12 is None");
    CHECK_OK(pc_proxy_list_slice(l, -5, -2, &out));                 // 10.0, "s", b"s"
    CHECK_EQ(pc_args_len(out), 3);
    CHECK_EQ(pc_args_type(out, 0), PC_ARG_DOUBLE);
    CHECK_EQ(pc_args_type(out, 2), PC_ARG_BYTES);
    pc_args_free(out);
    CHECK_OK(pc_proxy_list_slice(l, 5, 2, &out));                   // empty
    CHECK_EQ(pc_args_len(out), 0);
    pc_args_free(out);
    // remove: the first equal item; missing: ValueError
    CHECK_OK(pc_proxy_list_remove(l, pc_proxy_nested(d)));
    CHECK_OK(pc_proxy_list_remove(l, pc_proxy_none()));
    CHECK_OK(pc_proxy_list_remove(l, pc_proxy_bytes("s", 1)));
    CHECK_OK(pc_proxy_list_remove(l, pc_proxy_str("s")));
    CHECK_OK(pc_proxy_list_remove(l, pc_proxy_double(10.0)));      // removes the int 10
    CHECK_ERR(pc_proxy_list_remove(l, pc_proxy_int(77)), PC_VALUE,
              "ValueError: list.remove(x): x not in list");
    CHECK_OK(pc_proxy_list_pop(l, -1, &v));
    CHECK(v.type == PC_ARG_DOUBLE && v.d == 10.0);                  // the float stayed
    CHECK(strcmp(ints_of(l, buf, sizeof buf), "-5 0 5 20 30 35 40 50") == 0);
    // del and del of a slice
    CHECK_OK(pc_proxy_list_del(l, 0));
    CHECK_OK(pc_proxy_list_del(l, -1));
    CHECK_ERR(pc_proxy_list_del(l, 6), PC_VALUE, "IndexError");
    CHECK_ERR(pc_proxy_list_del(l, -7), PC_VALUE, "IndexError");
    CHECK(strcmp(ints_of(l, buf, sizeof buf), "0 5 20 30 35 40") == 0);
    CHECK_OK(pc_proxy_list_del_slice(l, 1, 3));
    CHECK(strcmp(ints_of(l, buf, sizeof buf), "0 30 35 40") == 0);
    CHECK_OK(pc_proxy_list_del_slice(l, -2, 100));
    CHECK(strcmp(ints_of(l, buf, sizeof buf), "0 30") == 0);
    CHECK_OK(pc_proxy_list_del_slice(l, 2, 1));                     // nothing
    // repeat (*=), copy, clear
    CHECK_OK(pc_proxy_list_repeat(l, 3));
    CHECK(strcmp(ints_of(l, buf, sizeof buf), "0 30 0 30 0 30") == 0);
    CHECK_ERR(pc_proxy_list_repeat(l, INT64_MAX), PC_VALUE, "MemoryError");
    CHECK_ERR(pc_proxy_list_repeat(l, 16777216 / 6 + 1), PC_VALUE, "MemoryError");
    CHECK_OK(pc_proxy_len(l, &n));
    CHECK_EQ(n, 6);                                                 // unchanged
    CHECK_OK(pc_proxy_list_append(l, pc_proxy_nested(d)));
    CHECK_OK(pc_proxy_list_copy(l, &c));
    CHECK_OK(pc_proxy_list_clear(l));
    CHECK_OK(pc_proxy_len(l, &n));
    CHECK_EQ(n, 0);
    CHECK_OK(pc_proxy_len(c, &n));
    CHECK_EQ(n, 7);                                                 // the copy is its own
    CHECK_OK(pc_proxy_list_get(c, -1, &v));                         // ... sharing the dict
    CHECK_EQ(v.type, PC_ARG_PROXY);
    pc_proxy_value_free(&v);
    CHECK_OK(pc_proxy_list_del(c, -1));
    CHECK_OK(pc_proxy_list_repeat(c, 1));
    CHECK(strcmp(ints_of(c, buf, sizeof buf), "0 30 0 30 0 30") == 0);
    CHECK_OK(pc_proxy_list_repeat(c, 0));                           // n <= 0 empties
    CHECK_OK(pc_proxy_len(c, &n));
    CHECK_EQ(n, 0);
    CHECK_OK(pc_proxy_list_repeat(c, 5));                           // empty stays empty
    CHECK_OK(pc_proxy_len(c, &n));
    CHECK_EQ(n, 0);
    CHECK_OK(pc_proxy_list_insert(c, 0, pc_proxy_str("only")));     // into an empty list
    CHECK_OK(pc_proxy_list_repeat(c, -3));
    CHECK_OK(pc_proxy_len(c, &n));
    CHECK_EQ(n, 0);
    // NULLs, bad values and the wrong kind
    CHECK_ERR(pc_proxy_list_insert(NULL, 0, pc_proxy_int(1)), PC_VALUE, "NULL");
    CHECK_ERR(pc_proxy_list_insert(l, 0, pc_proxy_str(NULL)), PC_VALUE, "NULL");
    CHECK_ERR(pc_proxy_list_remove(l, pc_proxy_nested(NULL)), PC_VALUE, "NULL");
    CHECK_ERR(pc_proxy_list_index(l, pc_proxy_int(1), 0, 1, NULL), PC_VALUE, "NULL");
    CHECK_ERR(pc_proxy_list_count(l, pc_proxy_int(1), NULL), PC_VALUE, "NULL");
    CHECK_ERR(pc_proxy_list_contains(l, pc_proxy_int(1), NULL), PC_VALUE, "NULL");
    CHECK_ERR(pc_proxy_list_slice(l, 0, 1, NULL), PC_VALUE, "NULL");
    CHECK_ERR(pc_proxy_list_copy(l, NULL), PC_VALUE, "NULL");
    CHECK_ERR(pc_proxy_list_sort(NULL, 0), PC_VALUE, "NULL");
    CHECK_ERR(pc_proxy_list_del(NULL, 0), PC_VALUE, "NULL");
    CHECK_ERR(pc_proxy_list_del_slice(NULL, 0, 1), PC_VALUE, "NULL");
    CHECK_ERR(pc_proxy_list_clear(NULL), PC_VALUE, "NULL");
    CHECK_ERR(pc_proxy_list_repeat(NULL, 2), PC_VALUE, "NULL");
    CHECK_ERR(pc_proxy_list_clear(d), PC_VALUE, "not a list");
    CHECK_ERR(pc_proxy_list_count(d, pc_proxy_int(1), &n), PC_VALUE, "not a list");
    pc_proxy *none_made = l;
    CHECK_ERR(pc_proxy_list_copy(d, &none_made), PC_VALUE, "not a list");
    CHECK(none_made == NULL);
    pc_proxy *vs[] = {l, c, d, d2};
    for (size_t i = 0; i < 4; i++) pc_proxy_free(vs[i]);
    pc_manager_free(m);
    CHECK(no_zombies());
    CHECK_EQ(count_fds(), fds);
}

// The list's items are in order (a strict < between neighbours never goes
// backwards) and sum to sum.
static void check_sorted_ints(pc_proxy *l, int reverse, int64_t sum) {
    pc_args *out;
    int64_t total = 0;
    CHECK_OK(pc_proxy_list_slice(l, 0, INT64_MAX, &out));
    for (size_t i = 0; i < pc_args_len(out); i++) {
        int64_t x = int_at(out, i);
        if (i) CHECK(reverse ? int_at(out, i - 1) >= x : int_at(out, i - 1) <= x);
        total += x;
    }
    CHECK_EQ(total, sum);
    pc_args_free(out);
}

TEST(more_list_sort) {
    int fds = count_fds();
    pc_manager *m = manager_on(PC_START_FORK);
    pc_proxy *l;
    pc_proxy_value v;
    pc_args *items = pc_args_new(), *out;
    // numbers: ints and floats exactly (2**53 + 1 > 2.0**53), stable (1 before 1.0)
    CHECK_OK(pc_args_add_int(items, ((int64_t)1 << 53) + 1));
    CHECK_OK(pc_args_add_double(items, 9007199254740992.0));
    CHECK_OK(pc_args_add_int(items, 1));
    CHECK_OK(pc_args_add_double(items, -0.5));
    CHECK_OK(pc_args_add_double(items, 1.0));
    CHECK_OK(pc_args_add_int(items, INT64_MIN));
    CHECK_OK(pc_args_add_double(items, 1e300));
    CHECK_OK(pc_args_add_int(items, -1));
    l = list_of(m, items);
    pc_args_free(items);
    CHECK_OK(pc_proxy_list_sort(l, 0));
    CHECK_OK(pc_proxy_list_slice(l, 0, INT64_MAX, &out));
    CHECK_EQ(int_at(out, 0), INT64_MIN);
    CHECK_EQ(int_at(out, 1), -1);
    CHECK_EQ(pc_args_type(out, 2), PC_ARG_DOUBLE);                  // -0.5
    CHECK_EQ(pc_args_type(out, 3), PC_ARG_INT);                     // 1, then 1.0: stable
    CHECK_EQ(pc_args_type(out, 4), PC_ARG_DOUBLE);
    CHECK_EQ(pc_args_type(out, 5), PC_ARG_DOUBLE);                  // 2.0**53
    CHECK_EQ(int_at(out, 6), ((int64_t)1 << 53) + 1);
    CHECK_EQ(pc_args_type(out, 7), PC_ARG_DOUBLE);                  // 1e300
    pc_args_free(out);
    CHECK_OK(pc_proxy_list_sort(l, 1));                             // reverse: still stable
    CHECK_OK(pc_proxy_list_slice(l, 0, INT64_MAX, &out));
    CHECK_EQ(pc_args_type(out, 0), PC_ARG_DOUBLE);                  // 1e300
    CHECK_EQ(int_at(out, 1), ((int64_t)1 << 53) + 1);
    CHECK_EQ(pc_args_type(out, 3), PC_ARG_INT);                     // 1, then 1.0
    CHECK_EQ(pc_args_type(out, 4), PC_ARG_DOUBLE);
    CHECK_EQ(int_at(out, 7), INT64_MIN);
    pc_args_free(out);
    // strs by code point (UTF-8's bytes), bytes by byte then length
    CHECK_OK(pc_proxy_list_clear(l));
    const char *strs[] = {"z", "\xc3\xa9", "a", "", "ab", "Z"};     // "é" after "z"
    for (size_t i = 0; i < 6; i++) CHECK_OK(pc_proxy_list_append(l, pc_proxy_str(strs[i])));
    CHECK_OK(pc_proxy_list_sort(l, 0));
    CHECK_OK(pc_proxy_list_slice(l, 0, INT64_MAX, &out));
    const char *want[] = {"", "Z", "a", "ab", "z", "\xc3\xa9"};
    for (size_t i = 0; i < 6; i++) CHECK(strcmp(str_at(out, i), want[i]) == 0);
    pc_args_free(out);
    CHECK_OK(pc_proxy_list_clear(l));
    CHECK_OK(pc_proxy_list_append(l, pc_proxy_bytes("a\0b", 3)));
    CHECK_OK(pc_proxy_list_append(l, pc_proxy_bytes("a", 1)));
    CHECK_OK(pc_proxy_list_append(l, pc_proxy_bytes("a\0", 2)));
    CHECK_OK(pc_proxy_list_sort(l, 0));
    for (int64_t i = 0; i < 3; i++) {
        CHECK_OK(pc_proxy_list_get(l, i, &v));
        CHECK_EQ(v.size, (size_t)i + 1);
        pc_proxy_value_free(&v);
    }
    // a mix, None or a proxy among two or more: TypeError, nothing moved
    CHECK_OK(pc_proxy_list_append(l, pc_proxy_str("a")));
    CHECK_ERR(pc_proxy_list_sort(l, 0), PC_VALUE,
              "TypeError: '<' not supported between instances of 'str' and 'bytes'");
    CHECK_OK(pc_proxy_list_get(l, 0, &v));
    CHECK_EQ(v.size, 1);                                            // unchanged
    pc_proxy_value_free(&v);
    CHECK_OK(pc_proxy_list_clear(l));
    CHECK_OK(pc_proxy_list_append(l, pc_proxy_none()));
    CHECK_OK(pc_proxy_list_sort(l, 0));                             // one item: no compare
    CHECK_OK(pc_proxy_list_append(l, pc_proxy_none()));
    CHECK_ERR(pc_proxy_list_sort(l, 0), PC_VALUE, "'NoneType' and 'NoneType'");
    CHECK_OK(pc_proxy_list_set(l, 0, pc_proxy_int(1)));
    CHECK_OK(pc_proxy_list_set(l, 1, pc_proxy_nested(l)));
    CHECK_ERR(pc_proxy_list_sort(l, 0), PC_VALUE, "TypeError");
    CHECK_OK(pc_proxy_list_clear(l));
    CHECK_OK(pc_proxy_list_sort(l, 1));                             // empty: nothing
    // many random ints, both ways, checked against their order and sum
    uint64_t x = 88172645463325252u;
    for (int round = 0; round < 4; round++) {
        pc_args *many = pc_args_new();
        int64_t sum = 0;
        for (int i = 0; i < 3000; i++) {
            x ^= x << 13, x ^= x >> 7, x ^= x << 17;
            int64_t k = (int64_t)(x % 2001) - 1000;
            sum += k;
            CHECK_OK(pc_args_add_int(many, k));
        }
        CHECK_OK(pc_proxy_list_clear(l));
        CHECK_OK(pc_proxy_list_extend(l, many));
        pc_args_free(many);
        CHECK_OK(pc_proxy_list_sort(l, round & 1));
        check_sorted_ints(l, round & 1, sum);
    }
    pc_proxy_free(l);
    pc_manager_free(m);
    CHECK(no_zombies());
    CHECK_EQ(count_fds(), fds);
}

// The child inserts its number at the front, removes the marker "x" and
// checks 'x' is gone with contains.
static int child_inserts(void *arg) {
    pc_args *a = (pc_args *)arg;
    pc_proxy *l = NULL;
    int64_t k;
    int found = 1;
    if (pc_proxy_from_args(a, 0, &l) || pc_args_get_int(a, 1, &k)) return 10;
    int rc = pc_proxy_list_insert(l, 0, pc_proxy_int(k));
    if (rc == PC_OK) rc = pc_proxy_list_remove(l, pc_proxy_str("x"));
    if (rc == PC_OK) rc = pc_proxy_list_contains(l, pc_proxy_int(k), &found);
    pc_proxy_free(l);
    return rc ? 11 : found ? 0 : 12;
}

static void more_children(pc_start_method method) {
    int fds = fds_after_warm_up(method);
    pc_manager *m = manager_on(method);
    pc_proxy *l;
    pc_process *kids[3];
    size_t n;
    CHECK_OK(pc_manager_list(m, &l));
    for (int i = 0; i < 3; i++) CHECK_OK(pc_proxy_list_append(l, pc_proxy_str("x")));
    for (int i = 0; i < 3; i++) {
        pc_args *a = pc_args_new();
        CHECK_OK(pc_proxy_add_to_args(a, l));
        CHECK_OK(pc_args_add_int(a, i + 1));
        kids[i] = proc_new(method, child_inserts, a, PC_DAEMON_NO);
        pc_args_free(a);
        CHECK_OK(pc_process_start(kids[i]));
    }
    for (int i = 0; i < 3; i++) {
        CHECK_OK(pc_process_join(kids[i], 30));
        CHECK_EQ(pc_process_exitcode(kids[i]), 0);
        pc_process_free(kids[i]);
    }
    CHECK_OK(pc_proxy_list_count(l, pc_proxy_str("x"), &n));
    CHECK_EQ(n, 0);
    CHECK_OK(pc_proxy_list_sort(l, 0));
    check_sorted_ints(l, 0, 1 + 2 + 3);
    CHECK_OK(pc_proxy_len(l, &n));
    CHECK_EQ(n, 3);
    pc_proxy_free(l);
    pc_manager_free(m);
    CHECK(no_zombies());
    CHECK_EQ(count_fds(), fds);
}
TEST(more_children_fork) { more_children(PC_START_FORK); }
TEST(more_children_spawn) { more_children(PC_START_SPAWN); }
TEST(more_children_forkserver) { more_children(PC_START_FORKSERVER); }

// The methods above reached with arguments their proxies never send: each
// is PC_VALUE with a message, the list is unchanged, the server serves on.
TEST(more_bad_arguments) {
    int fds = count_fds();
    pc_manager *m = manager_on(PC_START_FORK);
    pc_proxy *l;
    size_t n;
    CHECK_OK(pc_manager_list(m, &l));
    CHECK_OK(pc_proxy_list_append(l, pc_proxy_int(1)));
    struct { const char *method; int nargs; } calls[] = {
        {"insert", 0}, {"insert", 1}, {"index", 0}, {"index", 2}, {"count", 0},
        {"contains", 1}, {"remove", 0}, {"sort", 0}, {"sort", 1}, {"del", 0},
        {"delslice", 1}, {"slice", 0}, {"repeat", 1}, {"repeat", 0},
    };
    for (size_t i = 0; i < sizeof calls / sizeof calls[0]; i++) {
        pc_args *in = pc_args_new(), *out = NULL;
        for (int k = 0; k < calls[i].nargs; k++) CHECK_OK(pc_args_add_str(in, "x"));
        CHECK_RC(pc_proxy_callmethod(l, calls[i].method, in, &out), PC_VALUE);
        CHECK(pc_last_error()[0] != '\0');
        pc_args_free(in);
        pc_args_free(out);
    }
    pc_args *in = pc_args_new();                    // a value type no one has
    CHECK_OK(pc_args_add_int(in, 99));
    CHECK_OK(pc_args_add_int(in, 0));
    CHECK_ERR(pc_proxy_callmethod(l, "count", in, NULL), PC_VALUE, "value type 99");
    pc_args_free(in);
    CHECK_OK(pc_proxy_len(l, &n));
    CHECK_EQ(n, 1);
    pc_proxy_free(l);
    pc_manager_free(m);
    CHECK(no_zombies());
    CHECK_EQ(count_fds(), fds);
}

// >>finish: the server's initializer, a wrong key's warning, join, a large dict
// The initializer keeps its arguments where a registered type's method
// reads them, and tells the parent its pid on the connection it was given.
static int64_t init_number;         // set in the server only
static char init_text[32];
static int probe_initializer(void *arg) {
    const pc_args *a = (const pc_args *)arg;
    const char *s;
    pc_connection *c;
    if (pc_args_len(a) != 3 || pc_args_get_int(a, 0, &init_number) ||
        pc_args_get_str(a, 1, &s) || pc_args_get_connection(a, 2, &c))
        return pc_raise(PC_VALUE, "probe_initializer: bad initargs");
    snprintf(init_text, sizeof init_text, "%s", s);
    int64_t pid = (int64_t)getpid();
    return pc_connection_send_bytes(c, &pid, 0, sizeof pid);
}
static int failing_initializer(void *arg) {
    (void)arg;
    return pc_raise(PC_RUNTIME, "the initializer says no");
}
static int quiet_initializer(void *arg) { (void)arg; return 7; }

static void *probe_create(const pc_args *a) { (void)a; return malloc(1); }
static int probe_seen(void *self, const pc_args *in, pc_args *out) {
    (void)self, (void)in;
    int rc = pc_args_add_int(out, init_number);
    return rc ? rc : pc_args_add_str(out, init_text);
}
static const pc_manager_method probe_methods[] = {{"seen", probe_seen}};

static void probe_registered(void) {
    static int done;
    if (done) return;
    pc_manager_type_desc td;
    memset(&td, 0, sizeof td);
    td.create = probe_create;
    td.destroy = free;
    td.methods = probe_methods;
    td.n_methods = 1;
    pc__p_m_reg_closed = 0;
    CHECK_OK(pc_manager_register("InitProbe", &td));
    done = 1;
}

static pc_manager *manager_init(pc_start_method method, pc_target_fn fn, const pc_args *a) {
    pc_manager_desc d;
    memset(&d, 0, sizeof d);
    d.context = pc_get_context(method);
    d.initializer = fn;
    d.initargs = a;
    return pc_manager_new(&d);
}

static void initializer_on(pc_start_method method) {
    int fds = fds_after_warm_up(method);
    probe_registered();
    pc_connection *r, *w;
    CHECK_OK(pc_pipe(0, &r, &w));
    pc_args *a = pc_args_new();
    CHECK_OK(pc_args_add_int(a, 42));
    CHECK_OK(pc_args_add_str(a, "hello"));
    CHECK_OK(pc_args_add_connection(a, w));
    pc_manager *m = manager_init(method, probe_initializer, a);
    CHECK_MSG(m != NULL, "pc_manager_new: %s", pc_last_error());
    pc_args_free(a);
    pc_connection_free(w);
    int64_t pid = 0;
    size_t got = 0;
    CHECK_OK(pc_connection_poll(r, 30));
    CHECK_OK(pc_connection_recv_bytes_into(r, &pid, sizeof pid, 0, &got));
    CHECK_EQ(got, sizeof pid);
    CHECK_EQ(pid, (int64_t)pc_process_pid(m->server));      // it ran in the server
    pc_connection_free(r);
    pc_proxy *p;
    pc_args *out = NULL;
    const char *s;
    int64_t n;
    CHECK_OK(pc_manager_create(m, "InitProbe", NULL, &p));
    CHECK_OK(pc_proxy_callmethod(p, "seen", NULL, &out));
    CHECK_OK(pc_args_get_int(out, 0, &n));
    CHECK_OK(pc_args_get_str(out, 1, &s));
    CHECK_EQ(n, 42);
    CHECK(strcmp(s, "hello") == 0);
    CHECK_EQ(init_number, 0);                               // not here
    pc_args_free(out);
    pc_proxy_free(p);
    pc_manager_free(m);
    // failures: pc_raise's code and message, a bare status, and the server is reaped
    CHECK(manager_init(method, failing_initializer, NULL) == NULL);
    CHECK_RC(pc_last_error_code(), PC_RUNTIME);
    CHECK_MSG(strstr(pc_last_error(), "the initializer says no") != NULL, "%s", pc_last_error());
    CHECK(manager_init(method, quiet_initializer, NULL) == NULL);
    CHECK_EQ(pc_last_error_code(), 7);
    CHECK_MSG(strstr(pc_last_error(), "status 7") != NULL, "%s", pc_last_error());
    CHECK(no_zombies());
    CHECK_EQ(count_fds(), fds);
}

TEST(initializer_fork) { initializer_on(PC_START_FORK); }
TEST(initializer_spawn) { initializer_on(PC_START_SPAWN); }
TEST(initializer_forkserver) { initializer_on(PC_START_FORKSERVER); }

// A server in a child whose logger sends each line to the parent.
static void log_to_pipe(int level, const char *message, void *ctx) {
    if (level >= PC_LOG_WARNING)
        (void)pc_connection_send_bytes((pc_connection *)ctx, message, 0, strlen(message));
}
static int child_serves_logging(void *arg) {
    const char *addr;
    pc_connection *c;
    if (pc_args_get_str((pc_args *)arg, 0, &addr) || pc_args_get_connection((pc_args *)arg, 1, &c))
        return 10;
    pc_set_fork_warning(0);
    pc_logger_set_handler(pc_get_logger(), log_to_pipe, c);
    pc_manager_desc md;
    memset(&md, 0, sizeof md);
    md.address = addr;
    md.authkey = "remote-key";
    md.authkey_size = 10;
    int rc = pc_manager_serve_forever(&md);
    pc_logger_set_handler(pc_get_logger(), NULL, NULL);
    return rc == PC_OK ? 0 : 11;
}

static void wrong_key_logged(pc_start_method method) {
    int fds = fds_after_warm_up(method);
    char addr[64];
    snprintf(addr, sizeof addr, "@pyconc-test-wrongkey-%d-%d", (int)getpid(), (int)method);
    pc_connection *r, *w;
    CHECK_OK(pc_pipe(0, &r, &w));
    pc_args *a = pc_args_new();
    CHECK_OK(pc_args_add_str(a, addr));
    CHECK_OK(pc_args_add_connection(a, w));
    pc_process *p = proc_new(method, child_serves_logging, a, PC_DAEMON_NO);
    CHECK_OK(pc_process_start(p));
    pc_args_free(a);
    pc_connection_free(w);
    pc_manager_desc md;
    memset(&md, 0, sizeof md);
    md.address = addr;
    md.authkey = "remote-key";
    md.authkey_size = 10;
    pc_manager *m = NULL;
    for (double t0 = pc_monotonic(); !m && pc_monotonic() - t0 < 20; pc_sleep(0.01))
        m = pc_manager_connect(&md);                    // until it listens
    CHECK_MSG(m != NULL, "%s", pc_last_error());
    for (int round = 0; round < 3; round++) {
        md.authkey = "wrong-key!";
        CHECK(pc_manager_connect(&md) == NULL);
        CHECK_EQ(pc_last_error_code(), PC_AUTH);
        md.authkey = "remote-key";
        char line[512] = "";
        while (!strstr(line, "failed the authkey handshake")) {     // skip other lines
            size_t got = 0;
            CHECK_OK(pc_connection_poll(r, 30));
            CHECK_OK(pc_connection_recv_bytes_into(r, line, sizeof line - 1, 0, &got));
            line[got] = '\0';
        }
        CHECK_MSG(strstr(line, "manager: a client at ") == line, "%s", line);
        pc_proxy *d;                                        // still serving
        CHECK_OK(pc_manager_dict(m, &d));
        CHECK_OK(pc_proxy_dict_set(d, "k", pc_proxy_int(round)));
        CHECK_EQ(get_int(d, "k"), round);
        pc_proxy_free(d);
    }
    pc__p_m_request_stop(m);
    CHECK_OK(pc_process_join(p, 30));
    CHECK_EQ(pc_process_exitcode(p), 0);
    pc_process_free(p);
    pc_connection_free(r);
    pc_manager_free(m);
    CHECK(no_zombies());
    CHECK_EQ(count_fds(), fds);
}

TEST(wrong_key_logged_fork) { wrong_key_logged(PC_START_FORK); }
TEST(wrong_key_logged_spawn) { wrong_key_logged(PC_START_SPAWN); }
TEST(wrong_key_logged_forkserver) { wrong_key_logged(PC_START_FORKSERVER); }

// join waits for a server another connection shut down, and for a dead one.
static int child_stops_server(void *arg) {
    const char *addr;
    if (pc_args_get_str((pc_args *)arg, 0, &addr)) return 10;
    pc_manager_desc md;
    memset(&md, 0, sizeof md);
    md.address = addr;
    pc_manager *m = pc_manager_connect(&md);
    if (!m) return 11;
    pc__p_m_request_stop(m);
    pc_manager_free(m);
    return 0;
}

static void join_on(pc_start_method method) {
    int fds = fds_after_warm_up(method);
    pc_manager *m = manager_on(method);
    CHECK_RC(pc_manager_join(m, 0.05), PC_TIMEOUT);
    CHECK_RC(pc_manager_join(m, NAN), PC_VALUE);
    CHECK_RC(pc_manager_join(NULL, 1), PC_VALUE);
    pc_args *a = pc_args_new();
    CHECK_OK(pc_args_add_str(a, pc_manager_address(m)));
    CHECK_EQ(pct_finish(pct_start(method, child_stops_server, a)), 0);
    pc_args_free(a);
    CHECK_OK(pc_manager_join(m, 30));
    CHECK_EQ(pc_process_exitcode(m->server), 0);            // it exited by itself
    CHECK_OK(pc_manager_join(m, 0));                        // again: still over
    pc_manager_free(m);
    m = manager_on(method);                                 // a death
    CHECK_OK(pc_process_kill(m->server));
    CHECK_OK(pc_manager_join(m, 30));
    CHECK_EQ(pc_process_exitcode(m->server), -SIGKILL);
    pc_manager_free(m);
    CHECK(no_zombies());
    CHECK_EQ(count_fds(), fds);
}

TEST(join_fork) { join_on(PC_START_FORK); }
TEST(join_spawn) { join_on(PC_START_SPAWN); }
TEST(join_forkserver) { join_on(PC_START_FORKSERVER); }

// 100,000 keys: set, get, delete every other one, the order of the rest
// (each call one hash probe in the server, not a scan of the keys). The
// sets go 1000 to an update, the gets of every 10th key in a batch.
#define BIG_N 100000
TEST(dict_many_keys) {
    pc_manager *m = manager_on(PC_START_FORK);
    pc_proxy *d;
    CHECK_OK(pc_manager_dict(m, &d));
    pc_proxy_batch *b = pc_proxy_batch_new(d);
    char key[32];
    for (int i = 0; i < BIG_N; i += 1000) {
        pc_args *pairs = pc_args_new();
        for (int j = i; j < i + 1000; j++) {
            snprintf(key, sizeof key, "k%d", j);
            CHECK_OK(pc_args_add_str(pairs, key));
            CHECK_OK(pc_args_add_int(pairs, j));
        }
        CHECK_OK(pc_proxy_dict_update(d, pairs));
        pc_args_free(pairs);
    }
    static pc_proxy_value got[BIG_N / 10];
    for (int i = 0; i < BIG_N; i += 10) {
        snprintf(key, sizeof key, "k%d", i + i / 10 % 10);
        CHECK_OK(pc_proxy_batch_dict_get(b, key, NULL, &got[i / 10]));
    }
    CHECK_OK(pc_proxy_batch_run(b));
    for (int i = 0; i < BIG_N; i += 10) CHECK_EQ(got[i / 10].i, i + i / 10 % 10);
    pc_args *values = NULL;
    CHECK_OK(pc_proxy_dict_values(d, &values));
    CHECK_EQ(pc_args_len(values), BIG_N);
    for (int i = 0; i < BIG_N; i++) {
        int64_t v = -1;
        CHECK_OK(pc_args_get_int(values, (size_t)i, &v));
        CHECK_EQ(v, i);
    }
    pc_args_free(values);
    pc_args *one = pc_args_new();
    for (int i = 0; i < BIG_N; i += 2) {                    // del the even ones
        snprintf(key, sizeof key, "k%d", i);
        pc_args *in = pc_args_new();
        CHECK_OK(pc_args_add_str(in, key));
        CHECK_OK(pc_proxy_batch_call(b, "del", in, NULL));
        pc_args_free(in);
    }
    CHECK_OK(pc_proxy_batch_run(b));
    pc_args_free(one);
    size_t n;
    CHECK_OK(pc_proxy_len(d, &n));
    CHECK_EQ(n, BIG_N / 2);
    for (int i = 0; i < 1000; i++) {                        // get, contains, a missing one
        int found = -1, k = (i * 7919) % BIG_N;
        snprintf(key, sizeof key, "k%d", k);
        CHECK_OK(pc_proxy_dict_contains(d, key, &found));
        CHECK_EQ(found, k % 2);
        if (k % 2) CHECK_EQ(get_int(d, key), k);
    }
    pc_proxy_value gone;
    CHECK_RC(pc_proxy_dict_get(d, "k0", NULL, &gone), PC_VALUE);
    CHECK_OK(pc_proxy_dict_set(d, "k0", pc_proxy_int(-1)));   // again: at the end
    pc_args *keys = NULL;
    CHECK_OK(pc_proxy_dict_keys(d, &keys));
    CHECK_EQ(pc_args_len(keys), BIG_N / 2 + 1);
    for (size_t i = 0; i < pc_args_len(keys); i++) {
        const char *s;
        CHECK_OK(pc_args_get_str(keys, i, &s));
        if (i < BIG_N / 2) snprintf(key, sizeof key, "k%d", (int)(2 * i + 1));
        else snprintf(key, sizeof key, "k0");
        CHECK_MSG(strcmp(s, key) == 0, "key %zu is %s, not %s", i, s, key);
    }
    pc_args_free(keys);
    pc_proxy_batch_free(b);
    pc_proxy_free(d);
    pc_manager_free(m);
}

// Random calls on a dict against a model of it, across the sizes where the
// index is made, grown, emptied and squeezed.
TEST(dict_index_model) {
    enum { KEYS = 300, OPS = 6000 };
    static int order[KEYS * 64];            // keys in insertion order (-1: gone)
    static int where[KEYS];                 // position in order, -1: absent
    static int64_t value[KEYS];
    size_t norder = 0, live = 0;
    for (int k = 0; k < KEYS; k++) where[k] = -1;
    pc_manager *m = manager_on(PC_START_FORK);
    pc_proxy *d;
    CHECK_OK(pc_manager_dict(m, &d));
    uint64_t x = 88172645463325252u;
    char key[32];
    for (int op = 0; op < OPS; op++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        int k = (int)(x % (op < OPS / 2 ? 40 : KEYS)), what = (int)((x >> 20) % 16);
        snprintf(key, sizeof key, "key-%d", k);
        if (what < 7) {
            CHECK_OK(pc_proxy_dict_set(d, key, pc_proxy_int(op)));
            if (where[k] < 0) { where[k] = (int)norder; order[norder++] = k; live++; }
            value[k] = op;
        } else if (what < 12) {
            CHECK_RC(pc_proxy_dict_del(d, key), where[k] >= 0 ? PC_OK : PC_VALUE);
            if (where[k] >= 0) { order[where[k]] = -1; where[k] = -1; live--; }
        } else if (what < 14) {
            pc_proxy_value v;
            CHECK_RC(pc_proxy_dict_get(d, key, NULL, &v), where[k] >= 0 ? PC_OK : PC_VALUE);
            if (where[k] >= 0) CHECK_EQ(v.i, value[k]);
        } else if (what == 14) {
            pc_proxy_value kv, vv;
            CHECK_RC(pc_proxy_dict_popitem(d, &kv, &vv), live ? PC_OK : PC_VALUE);
            while (live && order[norder - 1] < 0) norder--;
            if (live) {
                int last = order[--norder];
                snprintf(key, sizeof key, "key-%d", last);
                CHECK(strcmp((const char *)kv.data, key) == 0);
                CHECK_EQ(vv.i, value[last]);
                where[last] = -1;
                live--;
                pc_proxy_value_free(&kv);
            }
        } else {
            pc_args *keys = NULL;
            CHECK_OK(pc_proxy_dict_keys(d, &keys));
            CHECK_EQ(pc_args_len(keys), live);
            size_t j = 0;
            for (size_t i = 0; i < norder; i++) {
                if (order[i] < 0) continue;
                const char *s;
                snprintf(key, sizeof key, "key-%d", order[i]);
                CHECK_OK(pc_args_get_str(keys, j++, &s));
                CHECK_MSG(strcmp(s, key) == 0, "op %d: key %zu is %s, not %s", op, j - 1, s, key);
            }
            pc_args_free(keys);
        }
        if (norder > KEYS * 60) {                       // compact the model
            size_t j = 0;
            for (size_t i = 0; i < norder; i++)
                if (order[i] >= 0) { where[order[i]] = (int)j; order[j++] = order[i]; }
            norder = j;
        }
        size_t n;
        CHECK_OK(pc_proxy_len(d, &n));
        CHECK_EQ(n, live);
    }
    pc_proxy_free(d);
    pc_manager_free(m);
}

// A Namespace past the index's threshold: attributes deleted leave holes
// that names() never shows, and the order of the rest holds.
TEST(namespace_many_names) {
    pc_manager *m = manager_on(PC_START_FORK);
    pc_proxy *ns;
    char name[32];
    CHECK_OK(pc_manager_namespace(m, &ns));
    for (int i = 0; i < 200; i++) {
        snprintf(name, sizeof name, "a%d", i);
        CHECK_OK(pc_proxy_namespace_set(ns, name, pc_proxy_int(i)));
    }
    for (int i = 0; i < 200; i += 3) {
        snprintf(name, sizeof name, "a%d", i);
        CHECK_OK(pc_proxy_namespace_del(ns, name));
        CHECK_RC(pc_proxy_namespace_del(ns, name), PC_VALUE);
    }
    CHECK_OK(pc_proxy_namespace_set(ns, "a0", pc_proxy_int(-1)));    // back, at the end
    pc_args *names = NULL;
    CHECK_OK(pc_proxy_namespace_names(ns, &names));
    size_t j = 0;
    for (int i = 0; i < 200; i++) {
        if (i % 3 == 0) continue;
        const char *s;
        snprintf(name, sizeof name, "a%d", i);
        CHECK_OK(pc_args_get_str(names, j++, &s));
        CHECK_MSG(strcmp(s, name) == 0, "name %zu is %s, not %s", j - 1, s, name);
        pc_proxy_value v;
        CHECK_OK(pc_proxy_namespace_get(ns, name, &v));
        CHECK_EQ(v.i, i);
    }
    const char *last;
    CHECK_EQ(pc_args_len(names), j + 1);
    CHECK_OK(pc_args_get_str(names, j, &last));
    CHECK(strcmp(last, "a0") == 0);
    pc_args_free(names);
    pc_proxy_free(ns);
    pc_manager_free(m);
}

// >>rings: a proxy on the same machine talks through rings in shared memory
// The rings' mappings of process pid (0: this one): memfds at least as
// large as the two rings, in /proc/pid/maps.
static void need_rings(void) {
    if (!PC__PP_RINGS) pct_skip("no rings without a futex: every call keeps to its socket");
}

static int ring_maps(long pid) {
    char path[64], line[512];
    snprintf(path, sizeof path, pid ? "/proc/%ld/maps" : "/proc/self/maps", pid);
    FILE *f = fopen(path, "r");
    CHECK_MSG(f != NULL, "%s: %s", path, strerror(errno));
    int n = 0;
    while (fgets(line, sizeof line, f)) {
        unsigned long lo, hi;
        if (strstr(line, "memfd:pyconc") && sscanf(line, "%lx-%lx", &lo, &hi) == 2 &&
            hi - lo >= sizeof(pc__p_m_shm))
            n++;
    }
    fclose(f);
    return n;
}

static long server_pid(pc_manager *m) { return pc_process_pid(m->server); }

// A child's calls: its first makes a connection with rings of its own,
// freeing the proxy lets them go.
static int child_counts_on_rings(void *arg) {
    pc_proxy *d;
    if (pc_proxy_from_args((pc_args *)arg, 0, &d)) return 10;
    int before = ring_maps(0);
    pc_proxy_value v;
    for (int i = 0; i < 1000; i++) {
        if (pc_proxy_dict_incr(d, "n", pc_proxy_int(1), NULL)) return 11;
        if (i == 0 && ring_maps(0) != before + 1) return 12;
        if (pc_proxy_dict_get(d, "n", NULL, &v) || v.type != PC_ARG_INT) return 13;
    }
    pc_proxy_free(d);
    return ring_maps(0) == before ? 0 : 14;
}

static void rings_on(pc_start_method method) {
    need_rings();
    int fds = fds_after_warm_up(method);
    int mine = ring_maps(0);
    pc_manager *m = manager_on(method);
    pc_proxy *d;
    CHECK_OK(pc_manager_dict(m, &d));               // made by a call of d's connection
    CHECK_EQ(ring_maps(0), mine + 1);
    CHECK_OK(pc_proxy_dict_set(d, "n", pc_proxy_int(0)));
    CHECK_EQ(ring_maps(0), mine + 1);
    CHECK_EQ(ring_maps(server_pid(m)), 1);
    pc_args *a = pc_args_new();
    CHECK_OK(pc_proxy_add_to_args(a, d));
    pc_process *kids[2];
    for (int i = 0; i < 2; i++) kids[i] = pct_start(method, child_counts_on_rings, a);
    for (int i = 0; i < 2; i++) CHECK_EQ(pct_finish(kids[i]), 0);
    pc_args_free(a);
    CHECK_EQ(get_int(d, "n"), 2000);
    pc_proxy_free(d);
    CHECK_EQ(ring_maps(0), mine);
    pc_manager_free(m);
    CHECK_EQ(ring_maps(0), mine);
    CHECK(no_zombies());
    CHECK_EQ(count_fds(), fds);
}

TEST(rings_fork) { rings_on(PC_START_FORK); }
TEST(rings_spawn) { rings_on(PC_START_SPAWN); }
TEST(rings_forkserver) { rings_on(PC_START_FORKSERVER); }

// The server is SIGKILLed while a call waits for its reply on the rings:
// spinning or napping on them (killed at once), or asleep in the socket
// (killed later than the nap): PC_BROKEN, promptly, either way.
TEST(rings_server_killed_mid_call) {
    need_rings();
    int fds = count_fds();
    const double after[] = {0, 0.0005, 0.001, 0.003, 0.05};
    for (size_t round = 0; round < sizeof after / sizeof after[0]; round++) {
        pc_manager *m = manager_on(PC_START_FORK);
        pc_proxy *b;
        int64_t waiting = 0;
        CHECK_OK(pc_manager_barrier(m, 2, &b));
        sync_call c = {b, PC_FOREVER, 0, -1, 0};
        pc_thread *t = pct_thread_started(t_barrier_wait, &c);
        while (waiting == 0) CHECK_OK(pc_proxy_barrier_n_waiting(b, &waiting));
        CHECK_EQ(ring_maps(0), 2);                  // this thread's and t's
        pc_sleep(after[round]);
        CHECK_OK(pc_process_kill(m->server));
        double t0 = pc_monotonic();
        thread_end(t);
        CHECK_MSG(pc_monotonic() - t0 < 1.0, "round %zu: %.3f s", round, pc_monotonic() - t0);
        CHECK_EQ(c.rc, PC_BROKEN);
        CHECK_RC(pc_proxy_barrier_n_waiting(b, &waiting), PC_BROKEN);
        pc_proxy_free(b);
        pc_manager_free(m);
        CHECK_EQ(ring_maps(0), 0);
    }
    CHECK(no_zombies());
    CHECK_EQ(count_fds(), fds);
}

// A client holding a lock is SIGKILLed while its calls run on the rings:
// the server sees its end on the socket, lets the lock go (PC_OWNER_DEAD
// for the next) and serves on.
static int child_locks_and_counts(void *arg) {
    pc_args *a = (pc_args *)arg;
    pc_proxy *l, *d;
    if (pc_proxy_from_args(a, 0, &l) || pc_proxy_from_args(a, 1, &d)) return 10;
    if (pc_proxy_lock_acquire(l, 30)) return 11;
    for (;;)
        if (pc_proxy_dict_incr(d, "n", pc_proxy_int(1), NULL)) return 12;
}

TEST(rings_client_killed_mid_call) {
    int fds = fds_after_warm_up(PC_START_FORK);
    pc_manager *m = manager_on(PC_START_FORK);
    pc_proxy *l, *d;
    CHECK_OK(pc_manager_lock(m, &l));
    CHECK_OK(pc_manager_dict(m, &d));
    for (int round = 0; round < 4; round++) {
        CHECK_OK(pc_proxy_dict_set(d, "n", pc_proxy_int(0)));
        pc_args *a = pc_args_new();
        CHECK_OK(pc_proxy_add_to_args(a, l));
        CHECK_OK(pc_proxy_add_to_args(a, d));
        pc_process *kid = pct_start(PC_START_FORK, child_locks_and_counts, a);
        pc_args_free(a);
        while (get_int(d, "n") < 100 + round * 300) {}     // it calls without a pause
        pct_kill_and_reap(kid);
        CHECK_RC(pc_proxy_lock_acquire(l, 5), PC_OWNER_DEAD);
        CHECK_OK(pc_proxy_lock_release(l));
        int64_t n = get_int(d, "n");
        CHECK_OK(pc_proxy_dict_incr(d, "n", pc_proxy_int(1), NULL));
        CHECK_EQ(get_int(d, "n"), n + 1);
    }
    pc_proxy_free(l);
    pc_proxy_free(d);
    pc_manager_free(m);
    CHECK(no_zombies());
    CHECK_EQ(count_fds(), fds);
}

// Requests and replies of every size: within a record, over half a ring
// (on the socket, in order with the records), over the request limit
// (1 MiB in this program), and small ones between them that wrap the
// rings many times.
static void check_bytes(pc_proxy *d, const char *key, const unsigned char *want, size_t n) {
    pc_proxy_value v;
    CHECK_OK(pc_proxy_dict_get(d, key, NULL, &v));
    CHECK_EQ(v.type, PC_ARG_BYTES);
    CHECK_EQ(v.size, n);
    CHECK(n == 0 || memcmp(v.data, want, n) == 0);
    pc_proxy_value_free(&v);
}

TEST(rings_large_messages) {
    need_rings();
    const size_t sizes[] = {0, 1, 4000, PC__PP_REC_MAX - 200, PC__PP_REC_MAX + 1,
                            PC__PP_RING_BYTES + 5, ((size_t)1 << 20) - 4096};
    size_t most = ((size_t)2 << 20);
    unsigned char *buf = (unsigned char *)malloc(most);
    CHECK(buf != NULL);
    for (size_t i = 0; i < most; i++) buf[i] = (unsigned char)(i * 7 + i / 251);
    pc_manager *m = manager_on(PC_START_FORK);
    pc_proxy *d, *l;
    CHECK_OK(pc_manager_dict(m, &d));
    CHECK_OK(pc_manager_list(m, &l));
    int mine = ring_maps(0);
    for (int round = 0; round < 3; round++) {
        for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
            CHECK_OK(pc_proxy_dict_set(d, "v", pc_proxy_bytes(buf + i, sizes[i])));
            CHECK_OK(pc_proxy_dict_set(d, "small", pc_proxy_int((int64_t)i)));
            check_bytes(d, "v", buf + i, sizes[i]);
            CHECK_EQ(get_int(d, "small"), (int64_t)i);
        }
        CHECK_RC(pc_proxy_dict_set(d, "big", pc_proxy_bytes(buf, most)), PC_VALUE);
        CHECK(strstr(pc_last_error(), "over the manager's limit") != NULL);
        CHECK_EQ(get_int(d, "small"), 6);             // in step after it
    }
    for (int i = 0; i < 60; i++) {                  // 60 x 100 KiB each way: wraps
        CHECK_OK(pc_proxy_dict_set(d, "w", pc_proxy_bytes(buf + i, 100000)));
        check_bytes(d, "w", buf + i, 100000);
    }
    for (int i = 0; i < 400; i++)                   // a reply of 400 KiB: the socket
        CHECK_OK(pc_proxy_list_append(l, pc_proxy_bytes(buf + i, 1000)));
    pc_args *items = NULL;
    CHECK_OK(pc_proxy_list_slice(l, 0, INT64_MAX, &items));
    CHECK_EQ(pc_args_len(items), 400);
    for (size_t i = 0; i < 400; i++) {
        const void *p;
        size_t n;
        CHECK_OK(pc_args_get_bytes(items, i, &p, &n));
        CHECK(n == 1000 && memcmp(p, buf + i, n) == 0);
    }
    pc_args_free(items);
    CHECK_EQ(ring_maps(0), mine);                   // all on the rings made first
    pc_proxy_free(d);
    pc_proxy_free(l);
    pc_manager_free(m);
    free(buf);
}

// Threads of one proxy, each on rings of its own, call many times, now at
// once (the server's side spinning), now after a pause (napping on the
// event count, or asleep in the socket), now waiting in the server a
// while: a wake-up lost at any step would hang a call or lose a count.
typedef struct ring_stress {
    pc_proxy *d, *s;
    int index, rounds, fails;
} ring_stress;

static int t_ring_stress(void *arg) {
    ring_stress *r = (ring_stress *)arg;
    char key[16];
    snprintf(key, sizeof key, "t%d", r->index);
    uint64_t x = 0x9e3779b97f4a7c15ull * (uint64_t)(r->index + 1);
    for (int i = 0; i < r->rounds; i++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        if (pc_proxy_dict_incr(r->d, key, pc_proxy_int(1), NULL) ||
            pc_proxy_dict_incr(r->d, "all", pc_proxy_int(1), NULL))
            r->fails++;
        if (x % 97 == 0) pc_sleep((double)(x % 3000) * 1e-6);          // 0 to 3 ms
        if (x % 389 == 0 && pc_proxy_semaphore_acquire(r->s, 0.003) != PC_TIMEOUT) r->fails++;
    }
    return 0;
}

TEST(rings_stress_threads) {
    enum { T = 4 };
    int rounds = PCT_SANITIZED ? 1500 : 5000;
    pc_manager *m = manager_on(PC_START_FORK);
    pc_proxy *d, *s;
    CHECK_OK(pc_manager_dict(m, &d));
    CHECK_OK(pc_manager_semaphore(m, 0, &s));       // never released: its acquire waits
    ring_stress r[T];
    pc_thread *t[T];
    for (int i = 0; i < T; i++) {
        r[i] = (ring_stress){d, s, i, rounds, 0};
        t[i] = pct_thread_started(t_ring_stress, &r[i]);
    }
    for (int i = 0; i < T; i++) {                   // a lost wake-up hangs a thread
        CHECK_MSG(pc_thread_join(t[i], 120) == PC_OK, "thread %d hangs in a call", i);
        pc_thread_free(t[i]);
    }
    for (int i = 0; i < T; i++) {
        char key[16];
        snprintf(key, sizeof key, "t%d", i);
        CHECK_EQ(r[i].fails, 0);
        CHECK_EQ(get_int(d, key), rounds);
    }
    CHECK_EQ(get_int(d, "all"), (int64_t)T * rounds);
    pc_proxy_free(d);
    pc_proxy_free(s);
    pc_manager_free(m);
}

// A wrong key never gets a mapping: the handshake fails before any
// request is read. The next good connection gets the one new pair.
TEST(rings_wrong_key_no_mapping) {
    need_rings();
    pc_manager *m = manager_on(PC_START_FORK);
    pc_proxy *d;
    CHECK_OK(pc_manager_dict(m, &d));
    int mine = ring_maps(0), theirs = ring_maps(server_pid(m));
    pc_client_desc cd;
    memset(&cd, 0, sizeof cd);
    cd.address = pc_manager_address(m);
    cd.authkey = "not the key";
    cd.authkey_size = 11;
    pc_connection *c = NULL;
    for (int i = 0; i < 5; i++) CHECK_RC(pc_client(&cd, &c), PC_AUTH);
    pc_manager_desc md;
    memset(&md, 0, sizeof md);
    md.address = pc_manager_address(m);
    md.authkey = "not the key";
    md.authkey_size = 11;
    CHECK(pc_manager_connect(&md) == NULL);
    CHECK_EQ(pc_last_error_code(), PC_AUTH);
    CHECK_EQ(ring_maps(0), mine);
    CHECK_EQ(ring_maps(server_pid(m)), theirs);
    pc_proxy *e;
    CHECK_OK(pc_manager_dict(m, &e));               // a new connection
    CHECK_EQ(ring_maps(0), mine + 1);
    CHECK_EQ(ring_maps(server_pid(m)), theirs + 1);
    pc_proxy_free(d);
    pc_proxy_free(e);
    pc_manager_free(m);
}

// Idle connections on rings sleep in the kernel: over a second, neither
// the server nor this process uses CPU time to speak of.
static double cpu_seconds_of(long pid) {
    char path[64], buf[1024];
    snprintf(path, sizeof path, "/proc/%ld/stat", pid);
    FILE *f = fopen(path, "r");
    CHECK(f != NULL);
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    const char *p = strrchr(buf, ')');
    CHECK(p != NULL);
    unsigned long ut = 0, st = 0;
    // after the name: state, then 10 fields, then utime and stime
    CHECK_EQ(sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &ut, &st), 2);
    return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
}

static int t_one_call(void *arg) {
    return pc_proxy_dict_set((pc_proxy *)arg, "x", pc_proxy_int(1));
}

TEST(rings_idle_no_cpu) {
    need_rings();
    pc_manager *m = manager_on(PC_START_FORK);
    pc_proxy *d;
    CHECK_OK(pc_manager_dict(m, &d));
    CHECK_OK(pc_proxy_dict_set(d, "x", pc_proxy_int(1)));
    pc_thread *t[3];
    for (int i = 0; i < 3; i++) t[i] = pct_thread_started(t_one_call, d);   // idle connections
    for (int i = 0; i < 3; i++) thread_end(t[i]);
    CHECK_EQ(ring_maps(0), 4);
    double srv = cpu_seconds_of(server_pid(m)), me = cpu_seconds_of((long)getpid());
    pc_sleep(1.0);
    double srv_used = cpu_seconds_of(server_pid(m)) - srv;
    double me_used = cpu_seconds_of((long)getpid()) - me;
    CHECK_MSG(srv_used < 0.05, "the server used %.3f s of CPU in 1 s idle", srv_used);
    CHECK_MSG(me_used < 0.05, "this process used %.3f s of CPU in 1 s idle", me_used);
    pc_proxy_free(d);
    pc_manager_free(m);
}

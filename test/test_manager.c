/* Tests of pyconc_process.h's Manager (multiprocessing's SyncManager): the
   server process, dict and list proxies and every call on them, proxies
   crossing to children under fork, spawn and forkserver, a SIGKILLed
   server, and bad input (unknown object or method, wrong types, garbage
   on the wire, use after shutdown). This program is also the image spawned
   and forkserver children run. */
#define PYCONC_IMPLEMENTATION
#define PYCONC_PROCESS_IMPLEMENTATION
#include "pyconc_process.h"

#include <signal.h>
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

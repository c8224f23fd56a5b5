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

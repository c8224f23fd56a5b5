/* Tests of pyconc_process.h's Value and Array (multiprocessing.Value,
   Array, RawValue, RawArray, sharedctypes.copy and synchronized): every
   typecode, the locked helpers, the lock each object uses, crossing to
   children under fork, spawn and forkserver in an argument pack, locked
   counts from several processes, a dead lock holder, and bad input. This
   program is also the image spawned and forkserver children run. */
#define PYCONC_IMPLEMENTATION
#define PYCONC_PROCESS_IMPLEMENTATION
#include "pyconc_process.h"

#include <math.h>
#include <signal.h>
#include <stdbool.h>
#include <unistd.h>
#include <wchar.h>

#include "pc_test.h"
#include "pc_proc_test.h"

// >>helpers
static pc_mp_value *value_of(const char *typecode, const void *init) {
    pc_mp_value_desc d;
    memset(&d, 0, sizeof d);
    d.typecode = typecode;
    d.init = init;
    pc_mp_value *v = pc_mp_value_new(&d);
    CHECK_MSG(v != NULL, "Value('%s'): %s", typecode, pc_last_error());
    return v;
}

static pc_mp_array *array_of(const char *typecode, size_t length, const void *init, int raw) {
    pc_mp_array_desc d;
    memset(&d, 0, sizeof d);
    d.typecode = typecode;
    d.length = length;
    d.init = init;
    d.raw = raw;
    pc_mp_array *a = pc_mp_array_new(&d);
    CHECK_MSG(a != NULL, "Array('%s'): %s", typecode, pc_last_error());
    return a;
}

static int64_t load_q(pc_mp_value *v) {
    long long x = 0;
    CHECK_OK(pc_mp_value_load(v, &x, sizeof x));
    return x;
}

// Start, join (20 s at most), return the exit code; frees p.
static int run_to_end(pc_process *p) {
    CHECK_OK(pc_process_start(p));
    CHECK_OK(pc_process_join(p, 20));
    int code = pc_process_exitcode(p);
    pc_process_free(p);
    return code;
}

// Wait for one message on c (the child's "I hold it").
static void recv_word(pc_connection *c) {
    void *buf;
    size_t n;
    CHECK_OK(pc_connection_recv_bytes(c, 0, &buf, &n));
    pc_connection_bytes_free(buf);
}

// A process with pack a cannot be made: PC_VALUE, with words in the message.
static int refused(const pc_args *a, const char *words) {
    pc_process_desc d;
    memset(&d, 0, sizeof d);
    d.args = a;
    pc_process *p = pc_process_new(&d);
    pc_process_free(p);
    return !p && pc_last_error_code() == PC_VALUE && strstr(pc_last_error(), words) != NULL;
}

static int t_zero(void *arg) { (void)arg; return 0; }

// Descriptors open once method m has started a process (the forkserver
// keeps its channel open): the count a case must end with.
static int fds_after_warm_up(pc_start_method m) {
    CHECK_EQ(run_to_end(proc_new(m, t_zero, NULL, PC_DAEMON_INHERIT)), 0);
    return count_fds();
}

// >>typecodes
typedef struct tcode { const char *code; size_t size; } tcode;
static const tcode tcodes[] = {
    {"c", sizeof(char)}, {"b", sizeof(signed char)}, {"B", sizeof(unsigned char)},
    {"h", sizeof(short)}, {"H", sizeof(unsigned short)}, {"i", sizeof(int)},
    {"I", sizeof(unsigned)}, {"l", sizeof(long)}, {"L", sizeof(unsigned long)},
    {"q", sizeof(long long)}, {"Q", sizeof(unsigned long long)}, {"f", sizeof(float)},
    {"d", sizeof(double)}, {"?", sizeof(bool)}, {"u", sizeof(wchar_t)},
};
#define NCODES (sizeof tcodes / sizeof tcodes[0])

// Each typecode: its size, a Value and an Array of it hold the bytes they
// were given and give back what is stored; a size that agrees is accepted.
TEST(typecodes) {
    int fds = count_fds();
    unsigned char init[8 * 5], got[8 * 5];
    for (size_t i = 0; i < sizeof init; i++) init[i] = (unsigned char)(i * 37 + 1);
    for (size_t k = 0; k < NCODES; k++) {
        const tcode *t = &tcodes[k];
        if (t->code[0] == '?')
            for (size_t i = 0; i < sizeof init; i++) init[i] = (unsigned char)(i & 1);
        pc_mp_value_desc vd;
        memset(&vd, 0, sizeof vd);
        vd.typecode = t->code;
        vd.size = t->size;          // agrees: fine
        vd.init = init;
        pc_mp_value *v = pc_mp_value_new(&vd);
        CHECK_MSG(v != NULL, "%s: %s", t->code, pc_last_error());
        CHECK_EQ(pc_mp_value_size(v), t->size);
        CHECK_EQ(pc_mp_value_typecode(v), t->code[0]);
        CHECK(memcmp(pc_mp_value_get_obj(v), init, t->size) == 0);
        CHECK(((uintptr_t)pc_mp_value_get_obj(v) & 63) == 0);
        CHECK_OK(pc_mp_value_load(v, got, t->size));
        CHECK(memcmp(got, init, t->size) == 0);
        CHECK_OK(pc_mp_value_store(v, init + 8, t->size));
        CHECK(memcmp(pc_mp_value_get_obj(v), init + 8, t->size) == 0);
        pc_mp_value_free(v);

        pc_mp_array *a = array_of(t->code, 5, init, 0);
        CHECK_EQ(pc_mp_array_length(a), 5);
        CHECK_EQ(pc_mp_array_item_size(a), t->size);
        CHECK_EQ(pc_mp_array_typecode(a), t->code[0]);
        CHECK(memcmp(pc_mp_array_get_obj(a), init, 5 * t->size) == 0);
        for (int i = 0; i < 5; i++) {
            CHECK_OK(pc_mp_array_get(a, i, got, t->size));
            CHECK(memcmp(got, init + (size_t)i * t->size, t->size) == 0);
        }
        CHECK_OK(pc_mp_array_get_slice(a, 0, 5, got, 5 * t->size));
        CHECK(memcmp(got, init, 5 * t->size) == 0);
        pc_mp_array_free(a);
    }
    CHECK_EQ(count_fds(), fds);
}

// Locked adds in each integer type wrap as C's unsigned arithmetic (and
// ctypes) do; the float ones sum in double.
TEST(add_wraps) {
    signed char b = 127;
    pc_mp_value *v = value_of("b", &b);
    int64_t now;
    CHECK_OK(pc_mp_value_add_int64(v, 1, &now));
    CHECK_EQ(now, -128);
    pc_mp_value_free(v);
    unsigned char ub = 255;
    v = value_of("B", &ub);
    CHECK_OK(pc_mp_value_add_int64(v, 2, &now));
    CHECK_EQ(now, 1);
    pc_mp_value_free(v);
    unsigned short h = 0;
    v = value_of("H", &h);
    CHECK_OK(pc_mp_value_add_int64(v, -1, &now));
    CHECK_EQ(now, 65535);
    pc_mp_value_free(v);
    int i = 2147483647;
    v = value_of("i", &i);
    CHECK_OK(pc_mp_value_add_int64(v, 1, &now));
    CHECK_EQ(now, -2147483647 - 1);
    pc_mp_value_free(v);
    v = value_of("I", NULL);
    CHECK_OK(pc_mp_value_add_int64(v, -1, &now));
    CHECK_EQ(now, 4294967295LL);
    pc_mp_value_free(v);
    v = value_of("q", NULL);
    CHECK_OK(pc_mp_value_add_int64(v, -5, &now));
    CHECK_EQ(now, -5);
    CHECK_OK(pc_mp_value_add_int64(v, 7, NULL));
    CHECK_EQ(load_q(v), 2);
    pc_mp_value_free(v);
    for (const char *c = "hlLQ"; *c; c++) {
        char code[2] = {*c, 0};
        v = value_of(code, NULL);
        CHECK_OK(pc_mp_value_add_int64(v, 41, NULL));
        CHECK_OK(pc_mp_value_add_int64(v, 1, &now));
        CHECK_EQ(now, 42);
        pc_mp_value_free(v);
    }
    float f = 0.5f;
    v = value_of("f", &f);
    double dn;
    CHECK_OK(pc_mp_value_add_double(v, 0.25, &dn));
    CHECK(dn == 0.75);
    pc_mp_value_free(v);
    v = value_of("d", NULL);
    CHECK_OK(pc_mp_value_add_double(v, 1.5, &dn));
    CHECK_OK(pc_mp_value_add_double(v, 1.5, &dn));
    CHECK(dn == 3.0);
    pc_mp_value_free(v);
}

// Value('d', 0.0): an RLock of its own, taken recursively, usable as an
// RLock handle, and honoured by the helpers (which nest inside a hold).
TEST(value_lock) {
    double x = 0.0;
    pc_mp_value *v = value_of("d", &x);
    pc_mp_rlock *l = pc_mp_value_get_rlock(v);
    CHECK(l != NULL);
    CHECK(pc_mp_value_get_rlock(v) == l);       // the same handle each time
    CHECK(pc_mp_value_get_lock(v) == NULL);
    CHECK_EQ(pc_mp_rlock_locked(l), 0);
    CHECK_OK(pc_mp_value_acquire(v, 0));
    CHECK_OK(pc_mp_value_acquire(v, 0));        // recursive
    CHECK_EQ(pc_mp_rlock_is_owned(l), 1);
    CHECK_OK(pc_mp_value_add_double(v, 2.5, NULL));  // under our hold, no wait
    CHECK_OK(pc_mp_value_release(v));
    CHECK_EQ(pc_mp_rlock_locked(l), 1);
    CHECK_OK(pc_mp_rlock_release(l));           // the same lock
    CHECK_EQ(pc_mp_rlock_locked(l), 0);
    CHECK_RC(pc_mp_value_release(v), PC_RUNTIME);
    CHECK_RC(pc_mp_value_consistent(v), PC_RUNTIME);
    CHECK_OK(pc_mp_value_load(v, &x, sizeof x));
    CHECK(x == 2.5);
    // The lock alone cannot cross: its object does.
    pc_args *a = pc_args_new();
    CHECK_OK(pc_args_add_mp_rlock(a, l));
    CHECK(refused(a, "put the Value in the pack"));
    pc_args_free(a);
    pc_mp_value_free(v);
    CHECK(no_zombies());
}

// RawValue / lock=False: no lock at all; the helpers still work.
TEST(raw) {
    int fds = count_fds();
    pc_mp_value_desc d;
    memset(&d, 0, sizeof d);
    d.typecode = "i";
    int seven = 7;
    d.init = &seven;
    pc_mp_value *v = pc_mp_raw_value_new(&d);
    CHECK(v != NULL);
    CHECK(pc_mp_value_get_rlock(v) == NULL && pc_mp_value_get_lock(v) == NULL);
    CHECK_RC(pc_mp_value_acquire(v, 0), PC_RUNTIME);
    CHECK_RC(pc_mp_value_release(v), PC_RUNTIME);
    int64_t now;
    CHECK_OK(pc_mp_value_add_int64(v, 1, &now));
    CHECK_EQ(now, 8);
    pc_mp_value_free(v);
    d.raw = 1;
    v = pc_mp_value_new(&d);
    CHECK(v != NULL && pc_mp_value_get_rlock(v) == NULL);
    CHECK_EQ(*(int *)pc_mp_value_get_obj(v), 7);
    pc_mp_value_free(v);

    pc_mp_array_desc ad;
    memset(&ad, 0, sizeof ad);
    ad.typecode = "d";
    ad.length = 3;
    pc_mp_array *a = pc_mp_raw_array_new(&ad);
    CHECK(a != NULL && pc_mp_array_get_rlock(a) == NULL);
    CHECK_RC(pc_mp_array_acquire(a, 0), PC_RUNTIME);
    double dn;
    CHECK_OK(pc_mp_array_add_double(a, -1, 0.5, &dn));
    CHECK(dn == 0.5 && ((double *)pc_mp_array_get_obj(a))[2] == 0.5);
    pc_mp_array_free(a);
    CHECK_EQ(count_fds(), fds);
}

// A Lock or RLock given in the desc is the one used, through the
// object's own handle on it (the caller's may go first).
TEST(user_lock) {
    pc_mp_lock *l = pc_mp_lock_new();
    pc_mp_value_desc d;
    memset(&d, 0, sizeof d);
    d.typecode = "q";
    d.lock = l;
    pc_mp_value *v = pc_mp_value_new(&d);
    CHECK(v != NULL);
    CHECK(pc_mp_value_get_rlock(v) == NULL);
    pc_mp_lock *mine = pc_mp_value_get_lock(v);
    CHECK(mine != NULL);
    CHECK_OK(pc_mp_lock_acquire(l, 0));
    CHECK_EQ(pc_mp_lock_locked(mine), 1);       // one lock, two handles
    CHECK_RC(pc_mp_value_acquire(v, 0), PC_TIMEOUT);    // a Lock: not recursive
    CHECK_OK(pc_mp_value_add_int64(v, 3, NULL));        // the helper works under our hold
    CHECK_OK(pc_mp_lock_release(l));
    pc_mp_lock_free(l);
    CHECK_OK(pc_mp_value_acquire(v, 0));
    CHECK_EQ(pc_mp_lock_locked(mine), 1);
    CHECK_OK(pc_mp_value_release(v));
    CHECK_EQ(load_q(v), 3);
    pc_mp_value_free(v);

    pc_mp_rlock *r = pc_mp_rlock_new();
    pc_mp_array_desc ad;
    memset(&ad, 0, sizeof ad);
    ad.typecode = "i";
    ad.length = 4;
    ad.rlock = r;
    pc_mp_array *a = pc_mp_array_new(&ad);
    CHECK(a != NULL && pc_mp_array_get_lock(a) == NULL && pc_mp_array_get_rlock(a) != NULL);
    CHECK_OK(pc_mp_array_acquire(a, 0));
    CHECK_EQ(pc_mp_rlock_is_owned(r), 1);
    CHECK_OK(pc_mp_array_acquire(a, 0));
    CHECK_OK(pc_mp_array_release(a));
    CHECK_OK(pc_mp_array_release(a));
    CHECK_EQ(pc_mp_rlock_locked(r), 0);
    pc_mp_array_free(a);
    pc_mp_rlock_free(r);
}

// Items, negative indexes, slices, and their bounds.
TEST(array_items) {
    int init[10];
    for (int i = 0; i < 10; i++) init[i] = i;
    pc_mp_array *a = array_of("i", 10, init, 0);
    int x, xs[4];
    CHECK_OK(pc_mp_array_get(a, 3, &x, sizeof x));
    CHECK_EQ(x, 3);
    CHECK_OK(pc_mp_array_get(a, -1, &x, sizeof x));
    CHECK_EQ(x, 9);
    x = -5;
    CHECK_OK(pc_mp_array_set(a, -10, &x, sizeof x));
    CHECK_EQ(((int *)pc_mp_array_get_obj(a))[0], -5);
    CHECK_RC(pc_mp_array_get(a, 10, &x, sizeof x), PC_VALUE);
    CHECK(strstr(pc_last_error(), "out of range") != NULL);
    CHECK_RC(pc_mp_array_get(a, -11, &x, sizeof x), PC_VALUE);
    CHECK_RC(pc_mp_array_set(a, INT64_MIN, &x, sizeof x), PC_VALUE);
    CHECK_RC(pc_mp_array_set(a, INT64_MAX, &x, sizeof x), PC_VALUE);
    CHECK_OK(pc_mp_array_get_slice(a, 2, 6, xs, sizeof xs));
    CHECK(xs[0] == 2 && xs[3] == 5);
    int neg[4] = {-1, -2, -3, -4};
    CHECK_OK(pc_mp_array_set_slice(a, -4, 10, neg, sizeof neg));
    CHECK_OK(pc_mp_array_get_slice(a, 6, -0 + 10, xs, sizeof xs));
    CHECK(memcmp(xs, neg, sizeof xs) == 0);
    CHECK_OK(pc_mp_array_get_slice(a, 5, 5, NULL, 0));     // empty
    CHECK_RC(pc_mp_array_get_slice(a, 8, 11, xs, 3 * sizeof x), PC_VALUE);
    CHECK_RC(pc_mp_array_get_slice(a, 6, 4, xs, 0), PC_VALUE);
    CHECK_RC(pc_mp_array_get_slice(a, 0, 4, xs, 3 * sizeof x), PC_VALUE);  // size disagrees
    CHECK_RC(pc_mp_array_get_slice(a, 0, 4, NULL, sizeof xs), PC_VALUE);
    int64_t now;
    CHECK_OK(pc_mp_array_add_int64(a, 1, 10, &now));
    CHECK_EQ(now, 11);
    CHECK_RC(pc_mp_array_add_int64(a, 10, 1, &now), PC_VALUE);
    pc_mp_array_free(a);

    a = array_of("i", 0, NULL, 0);      // Array('i', 0): empty, as Python's
    CHECK_EQ(pc_mp_array_length(a), 0);
    CHECK_RC(pc_mp_array_get(a, 0, &x, sizeof x), PC_VALUE);
    CHECK_OK(pc_mp_array_get_slice(a, 0, 0, NULL, 0));
    pc_mp_array_free(a);
}

// Array('c').value: the bytes up to the first NUL; storing a shorter one
// writes a NUL after it, a full-length one none, a longer one is refused.
TEST(array_char_value) {
    char out[8], raw[6];
    size_t n = 99;
    for (int r = 0; r < 2; r++) {               // synchronized, then raw
        pc_mp_array *a = array_of("c", 6, NULL, r);
        CHECK_OK(pc_mp_array_get_value(a, out, sizeof out, &n));
        CHECK(n == 0 && out[0] == '\0');
        CHECK_OK(pc_mp_array_set_value(a, "abcdef", 6));      // full: no NUL
        CHECK_OK(pc_mp_array_get_value(a, out, sizeof out, &n));
        CHECK(n == 6 && strcmp(out, "abcdef") == 0);
        CHECK_OK(pc_mp_array_set_value(a, "xy", 2));
        CHECK_OK(pc_mp_array_get_slice(a, 0, 6, raw, sizeof raw));   // .raw
        CHECK(memcmp(raw, "xy\0def", 6) == 0);
        CHECK_OK(pc_mp_array_get_value(a, out, sizeof out, NULL));
        CHECK(strcmp(out, "xy") == 0);
        CHECK_RC(pc_mp_array_set_value(a, "abcdefg", 7), PC_VALUE);
        CHECK(strstr(pc_last_error(), "too long") != NULL);
        CHECK_OK(pc_mp_array_get_value(a, out, sizeof out, NULL));
        CHECK(strcmp(out, "xy") == 0);                        // unchanged
        CHECK_RC(pc_mp_array_get_value(a, out, 2, &n), PC_VALUE);
        CHECK_EQ(n, 2);                                       // the length found
        CHECK_RC(pc_mp_array_get_value(a, NULL, 8, &n), PC_VALUE);
        CHECK_RC(pc_mp_array_set_value(a, NULL, 0), PC_VALUE);
        pc_mp_array_free(a);
    }
    pc_mp_array *ints = array_of("i", 4, NULL, 0);
    CHECK_RC(pc_mp_array_get_value(ints, out, sizeof out, &n), PC_VALUE);
    CHECK(strstr(pc_last_error(), "'c'") != NULL);
    CHECK_RC(pc_mp_array_set_value(ints, "a", 1), PC_VALUE);
    pc_mp_array_free(ints);
    CHECK_RC(pc_mp_array_get_value(NULL, out, sizeof out, &n), PC_VALUE);
}

// A C type of its own: the size decides, the typecode is '\0'.
typedef struct point { double x, y; int tag; } point;
TEST(struct_value) {
    point p0 = {1.5, -2.0, 7}, p1;
    pc_mp_value_desc d;
    memset(&d, 0, sizeof d);
    d.size = sizeof(point);
    d.init = &p0;
    pc_mp_value *v = pc_mp_value_new(&d);
    CHECK(v != NULL);
    CHECK_EQ(pc_mp_value_typecode(v), '\0');
    CHECK_EQ(pc_mp_value_size(v), sizeof(point));
    CHECK_OK(pc_mp_value_load(v, &p1, sizeof p1));
    CHECK(p1.x == 1.5 && p1.y == -2.0 && p1.tag == 7);
    CHECK_RC(pc_mp_value_add_int64(v, 1, NULL), PC_VALUE);
    CHECK(strstr(pc_last_error(), "C type") != NULL);
    pc_mp_value_free(v);
    pc_mp_array_desc ad;
    memset(&ad, 0, sizeof ad);
    ad.size = sizeof(point);
    ad.length = 3;
    pc_mp_array *a = pc_mp_array_new(&ad);
    CHECK(a != NULL && pc_mp_array_item_size(a) == sizeof(point));
    CHECK_OK(pc_mp_array_set(a, 2, &p0, sizeof p0));
    CHECK_OK(pc_mp_array_get(a, -1, &p1, sizeof p1));
    CHECK(p1.tag == 7);
    pc_mp_array_free(a);
}

// sharedctypes.copy: new memory, same bytes, raw. synchronized: the same
// memory as the raw object, with a lock (its own new RLock, or one given).
TEST(copy_synchronized) {
    int init[3] = {1, 2, 3};
    pc_mp_array *a = array_of("i", 3, init, 0);
    pc_mp_array *c = pc_mp_array_copy(a);
    CHECK(c != NULL);
    CHECK(pc_mp_array_get_obj(c) != pc_mp_array_get_obj(a));
    CHECK(memcmp(pc_mp_array_get_obj(c), init, sizeof init) == 0);
    CHECK(pc_mp_array_get_rlock(c) == NULL);    // raw, as Python's copy
    CHECK_EQ(pc_mp_array_typecode(c), 'i');
    ((int *)pc_mp_array_get_obj(c))[0] = 100;
    CHECK_EQ(((int *)pc_mp_array_get_obj(a))[0], 1);
    CHECK(pc_mp_array_synchronized(a, NULL, NULL) == NULL);     // already synchronized
    CHECK_EQ(pc_last_error_code(), PC_VALUE);

    pc_mp_array *s = pc_mp_array_synchronized(c, NULL, NULL);
    CHECK(s != NULL);
    CHECK(pc_mp_array_get_obj(s) == pc_mp_array_get_obj(c));
    pc_mp_rlock *sl = pc_mp_array_get_rlock(s);
    CHECK(sl != NULL);
    CHECK_OK(pc_mp_array_acquire(s, 0));
    CHECK_EQ(pc_mp_rlock_is_owned(sl), 1);
    CHECK_OK(pc_mp_array_release(s));
    CHECK(pc_mp_array_synchronized(s, NULL, NULL) == NULL);
    pc_mp_array_free(c);                        // s keeps the memory
    int64_t now;
    CHECK_OK(pc_mp_array_add_int64(s, 0, 1, &now));
    CHECK_EQ(now, 101);
    pc_mp_array_free(s);
    pc_mp_array_free(a);

    long long q = 41;
    pc_mp_value *v = value_of("q", &q);
    pc_mp_value *vc = pc_mp_value_copy(v);
    CHECK(vc != NULL && load_q(vc) == 41);
    pc_mp_lock *l = pc_mp_lock_new();
    pc_mp_value *vs = pc_mp_value_synchronized(vc, l, NULL);
    CHECK(vs != NULL && pc_mp_value_get_lock(vs) != NULL);
    CHECK_OK(pc_mp_value_add_int64(vs, 1, &now));
    CHECK_EQ(now, 42);
    CHECK_EQ(load_q(vc), 42);
    CHECK(pc_mp_value_synchronized(vc, l, (pc_mp_rlock *)l) == NULL);
    pc_mp_lock_free(l);
    pc_mp_value_free(vs);
    pc_mp_value_free(vc);
    pc_mp_value_free(v);
}

// >>crossing: children add under the lock; the totals are exact.
enum { COUNTER_CHILDREN = 4 };
static int counter_rounds(void) { return PCT_SANITIZED ? 5000 : 50000; }

// Items: 0 Value('q') (own RLock), 1 Value('i') with a given Lock,
// 2 Array('d', 4) (own RLock), 3 synchronized RawValue('l'), 4 rounds,
// 5 a barrier, so that the children count at the same time.
static int t_count(void *arg) {
    pc_args *a = (pc_args *)arg;
    pc_mp_value *q, *i, *l;
    pc_mp_array *d;
    pc_mp_barrier *start;
    int64_t rounds;
    if (pc_args_get_mp_value(a, 0, &q) || pc_args_get_mp_value(a, 1, &i) ||
        pc_args_get_mp_array(a, 2, &d) || pc_args_get_mp_value(a, 3, &l) ||
        pc_args_get_int(a, 4, &rounds) || pc_args_get_mp_barrier(a, 5, &start))
        return 10;
    if (pc_mp_barrier_wait(start, NULL)) return 15;
    if (pc_mp_value_typecode(q) != 'q' || pc_mp_value_typecode(i) != 'i' ||
        pc_mp_array_length(d) != 4 || pc_mp_value_get_lock(i) == NULL ||
        pc_mp_value_get_rlock(l) == NULL)
        return 11;
    for (int64_t k = 0; k < rounds; k++) {
        if (pc_mp_value_add_int64(q, 1, NULL) || pc_mp_value_add_int64(i, 2, NULL) ||
            pc_mp_array_add_double(d, k % 4, 0.5, NULL) || pc_mp_value_add_int64(l, -1, NULL))
            return 12;
        // A read-modify-write of one's own under the lock, as Python's
        // `with v.get_lock(): v.value += 1`.
        if (pc_mp_value_acquire(q, PC_FOREVER)) return 13;
        ++*(long long *)pc_mp_value_get_obj(q);
        if (pc_mp_value_release(q)) return 14;
    }
    return 0;
}

static void body_counter(pc_start_method m) {
    int fds = fds_after_warm_up(m);
    int rounds = counter_rounds();
    pc_mp_lock *lk = pc_mp_lock_new();
    pc_mp_value_desc vd;
    memset(&vd, 0, sizeof vd);
    vd.typecode = "i";
    vd.lock = lk;
    pc_mp_value *q = value_of("q", NULL), *i = pc_mp_value_new(&vd);
    pc_mp_array *d = array_of("d", 4, NULL, 0);
    vd.typecode = "l";
    vd.lock = NULL;
    pc_mp_value *raw = pc_mp_raw_value_new(&vd), *l = pc_mp_value_synchronized(raw, NULL, NULL);
    CHECK(i && raw && l);
    pc_mp_lock_free(lk);                        // i holds its own handle
    pc_args *a = pc_args_new();
    CHECK_OK(pc_args_add_mp_value(a, q));
    CHECK_OK(pc_args_add_mp_value(a, i));
    CHECK_OK(pc_args_add_mp_array(a, d));
    CHECK_OK(pc_args_add_mp_value(a, l));
    CHECK_OK(pc_args_add_int(a, rounds));
    pc_mp_barrier *start = pc_mp_barrier_new(COUNTER_CHILDREN, NULL, 30);
    CHECK_OK(pc_args_add_mp_barrier(a, start));
    pc_process *ps[COUNTER_CHILDREN];
    for (int k = 0; k < COUNTER_CHILDREN; k++) {
        ps[k] = proc_new(m, t_count, a, PC_DAEMON_INHERIT);
        CHECK_OK(pc_process_start(ps[k]));
    }
    pc_args_free(a);
    for (int k = 0; k < COUNTER_CHILDREN; k++) {
        CHECK_OK(pc_process_join(ps[k], 60));
        CHECK_EQ(pc_process_exitcode(ps[k]), 0);
        pc_process_free(ps[k]);
    }
    int64_t n = (int64_t)COUNTER_CHILDREN * rounds;
    CHECK_EQ(load_q(q), 2 * n);
    int iv;
    CHECK_OK(pc_mp_value_load(i, &iv, sizeof iv));
    CHECK_EQ(iv, 2 * n);
    double sum = 0, item;
    for (int k = 0; k < 4; k++) {
        CHECK_OK(pc_mp_array_get(d, k, &item, sizeof item));
        sum += item;
    }
    CHECK(sum == 0.5 * (double)n);
    CHECK_EQ(*(long *)pc_mp_value_get_obj(raw), -n);   // the same memory as l
    pc_mp_value_free(q);
    pc_mp_value_free(i);
    pc_mp_array_free(d);
    pc_mp_value_free(l);
    pc_mp_value_free(raw);
    pc_mp_barrier_free(start);
    CHECK(no_zombies());
    CHECK_EQ(count_fds(), fds);
}

TEST(counter_fork) { body_counter(PC_START_FORK); }
TEST(counter_spawn) { body_counter(PC_START_SPAWN); }
TEST(counter_forkserver) { body_counter(PC_START_FORKSERVER); }

// A child writes what the parent reads, Python's tutorial: num.value =
// 3.1415927 and arr[i] = -arr[i]; a raw Array crosses as well.
static int t_write(void *arg) {
    pc_args *a = (pc_args *)arg;
    pc_mp_value *num;
    pc_mp_array *arr, *raw;
    if (pc_args_get_mp_value(a, 0, &num) || pc_args_get_mp_array(a, 1, &arr) ||
        pc_args_get_mp_array(a, 2, &raw))
        return 20;
    double pi = 3.1415927;
    if (pc_mp_value_store(num, &pi, sizeof pi)) return 21;
    for (int k = 0; k < (int)pc_mp_array_length(arr); k++) {
        int x;
        if (pc_mp_array_get(arr, k, &x, sizeof x)) return 22;
        x = -x;
        if (pc_mp_array_set(arr, k, &x, sizeof x)) return 23;
    }
    if (pc_mp_array_get_rlock(raw) != NULL || pc_mp_array_acquire(raw, 0) != PC_RUNTIME)
        return 24;
    memcpy(pc_mp_array_get_obj(raw), "child", 6);
    return 0;
}

static void body_write(pc_start_method m) {
    int fds = fds_after_warm_up(m);
    double zero = 0.0;
    int init[10];
    for (int k = 0; k < 10; k++) init[k] = k;
    pc_mp_value *num = value_of("d", &zero);
    pc_mp_array *arr = array_of("i", 10, init, 0), *raw = array_of("c", 6, NULL, 1);
    pc_args *a = pc_args_new();
    CHECK_OK(pc_args_add_mp_value(a, num));
    CHECK_OK(pc_args_add_mp_array(a, arr));
    CHECK_OK(pc_args_add_mp_array(a, raw));
    CHECK_EQ(run_to_end(proc_new(m, t_write, a, PC_DAEMON_INHERIT)), 0);
    pc_args_free(a);
    double got;
    CHECK_OK(pc_mp_value_load(num, &got, sizeof got));
    CHECK(got == 3.1415927);
    for (int k = 0; k < 10; k++) CHECK_EQ(((int *)pc_mp_array_get_obj(arr))[k], -k);
    CHECK(strcmp((char *)pc_mp_array_get_obj(raw), "child") == 0);
    pc_mp_value_free(num);
    pc_mp_array_free(arr);
    pc_mp_array_free(raw);
    CHECK(no_zombies());
    CHECK_EQ(count_fds(), fds);
}

TEST(write_fork) { body_write(PC_START_FORK); }
TEST(write_spawn) { body_write(PC_START_SPAWN); }
TEST(write_forkserver) { body_write(PC_START_FORKSERVER); }

// >>death: a holder of the lock is killed.
// Items: 0 the Value, 1 the Array (a given RLock), 2 the connection.
// Take both locks, add under them, say so, and wait to be killed.
static int t_hold(void *arg) {
    pc_args *a = (pc_args *)arg;
    pc_mp_value *v;
    pc_mp_array *arr;
    pc_connection *c;
    if (pc_args_get_mp_value(a, 0, &v) || pc_args_get_mp_array(a, 1, &arr) ||
        pc_args_get_connection(a, 2, &c))
        return 30;
    if (pc_mp_value_acquire(v, 10) || pc_mp_array_acquire(arr, 10)) return 31;
    if (pc_mp_value_add_int64(v, 1, NULL) || pc_mp_array_add_int64(arr, 0, 1, NULL)) return 32;
    if (pc_connection_send_bytes(c, "held", 0, 4)) return 33;
    pc_sleep(30);
    return 34;
}

static void kill_holder(pc_start_method m, pc_mp_value *v, pc_mp_array *arr) {
    pc_connection *r, *w;
    CHECK_OK(pc_pipe(0, &r, &w));
    pc_args *a = pc_args_new();
    CHECK_OK(pc_args_add_mp_value(a, v));
    CHECK_OK(pc_args_add_mp_array(a, arr));
    CHECK_OK(pc_args_add_connection(a, w));
    pc_process *p = proc_new(m, t_hold, a, PC_DAEMON_INHERIT);
    pc_args_free(a);
    CHECK_OK(pc_process_start(p));
    pc_connection_free(w);
    recv_word(r);
    CHECK_OK(pc_process_kill(p));
    CHECK_OK(pc_process_join(p, 10));
    CHECK_EQ(pc_process_exitcode(p), -SIGKILL);
    pc_process_free(p);
    pc_connection_free(r);
}

static void body_owner_dead(pc_start_method m) {
    int fds = fds_after_warm_up(m);
    pc_mp_value *v = value_of("q", NULL);
    pc_mp_rlock *r = pc_mp_rlock_new();
    pc_mp_array_desc ad;
    memset(&ad, 0, sizeof ad);
    ad.typecode = "l";
    ad.length = 2;
    ad.rlock = r;
    pc_mp_array *arr = pc_mp_array_new(&ad);
    CHECK(arr != NULL);
    pc_mp_rlock_free(r);
    // The next add takes the dead holder's lock, adds, and repairs it.
    kill_holder(m, v, arr);
    int64_t now;
    CHECK_RC(pc_mp_value_add_int64(v, 1, &now), PC_OWNER_DEAD);
    CHECK_EQ(now, 2);
    CHECK_RC(pc_mp_array_add_int64(arr, 0, 1, &now), PC_OWNER_DEAD);
    CHECK_EQ(now, 2);
    CHECK_OK(pc_mp_value_add_int64(v, 1, &now));
    CHECK_EQ(now, 3);
    CHECK_OK(pc_mp_array_add_int64(arr, 0, 1, NULL));
    // Again, and this time the one that takes it leaves it unrepaired:
    // broken for good, each helper says so and changes nothing.
    kill_holder(m, v, arr);
    CHECK_RC(pc_mp_value_acquire(v, 10), PC_OWNER_DEAD);
    CHECK_RC(pc_mp_array_acquire(arr, 10), PC_OWNER_DEAD);
    CHECK_OK(pc_mp_value_add_int64(v, 1, &now));        // under our hold
    CHECK_EQ(now, 5);
    CHECK_OK(pc_mp_value_release(v));
    CHECK_OK(pc_mp_array_consistent(arr));              // this one repaired
    CHECK_OK(pc_mp_array_release(arr));
    CHECK_RC(pc_mp_value_add_int64(v, 1, &now), PC_BROKEN);
    CHECK_RC(pc_mp_value_load(v, &now, sizeof now), PC_BROKEN);
    CHECK_RC(pc_mp_value_acquire(v, 0), PC_BROKEN);
    CHECK_EQ(*(long long *)pc_mp_value_get_obj(v), 5);
    CHECK_OK(pc_mp_array_add_int64(arr, 0, 1, &now));
    CHECK_EQ(now, 5);
    pc_mp_value_free(v);
    pc_mp_array_free(arr);
    CHECK(no_zombies());
    CHECK_EQ(count_fds(), fds);
}

TEST(owner_dead_fork) { body_owner_dead(PC_START_FORK); }
TEST(owner_dead_spawn) { body_owner_dead(PC_START_SPAWN); }
TEST(owner_dead_forkserver) { body_owner_dead(PC_START_FORKSERVER); }

// >>bad input: a code and a message each, never a crash.
static void expect_bad_value(const pc_mp_value_desc *d, const char *words) {
    pc_mp_value *v = pc_mp_value_new(d);
    CHECK(v == NULL);
    CHECK_EQ(pc_last_error_code(), PC_VALUE);
    CHECK_MSG(strstr(pc_last_error(), words) != NULL, "'%s' lacks '%s'", pc_last_error(), words);
}

TEST(bad_input) {
    int fds = count_fds();
    pc_mp_value_desc d;
    memset(&d, 0, sizeof d);
    CHECK(pc_mp_value_new(NULL) == NULL && pc_last_error_code() == PC_VALUE);
    CHECK(pc_mp_raw_value_new(NULL) == NULL && pc_last_error_code() == PC_VALUE);
    CHECK(pc_mp_array_new(NULL) == NULL && pc_last_error_code() == PC_VALUE);
    CHECK(pc_mp_raw_array_new(NULL) == NULL && pc_last_error_code() == PC_VALUE);
    expect_bad_value(&d, "typecode or a size");             // neither
    d.typecode = "x";
    expect_bad_value(&d, "unknown typecode");
    d.typecode = "";
    expect_bad_value(&d, "unknown typecode");
    d.typecode = "dd";
    expect_bad_value(&d, "unknown typecode");
    d.typecode = "d";
    d.size = 4;
    expect_bad_value(&d, "8 bytes, not 4");                 // typecode and size disagree
    d.typecode = NULL;
    d.size = (size_t)-1;                                    // "negative"
    expect_bad_value(&d, "too large");
    d.size = (size_t)1 << 41;
    expect_bad_value(&d, "too large");
    d.typecode = "i";
    d.size = 0;
    pc_mp_lock *l = pc_mp_lock_new();
    pc_mp_rlock *r = pc_mp_rlock_new();
    d.lock = l;
    d.rlock = r;
    expect_bad_value(&d, "not both");
    d.rlock = NULL;
    d.raw = 1;
    expect_bad_value(&d, "raw");
    d.raw = 0;
    d.lock = (pc_mp_lock *)r;                               // an RLock passed as a Lock
    expect_bad_value(&d, "not a Lock");
    d.lock = l;
    CHECK(pc_mp_raw_value_new(&d) == NULL && pc_last_error_code() == PC_VALUE);

    pc_mp_array_desc ad;
    memset(&ad, 0, sizeof ad);
    ad.typecode = "q";
    ad.length = (size_t)1 << 40;                            // 8 TiB
    CHECK(pc_mp_array_new(&ad) == NULL && pc_last_error_code() == PC_VALUE);
    ad.length = (size_t)-1;
    CHECK(pc_mp_array_new(&ad) == NULL && strstr(pc_last_error(), "too large"));
    ad.length = 2;
    ad.typecode = "z";
    CHECK(pc_mp_array_new(&ad) == NULL && strstr(pc_last_error(), "unknown typecode"));

    // NULL handles, and a handle of another kind.
    int x = 0;
    int64_t now;
    CHECK(pc_mp_value_get_obj(NULL) == NULL && pc_mp_value_size(NULL) == 0);
    CHECK(pc_mp_value_typecode(NULL) == '\0' && pc_mp_value_get_rlock(NULL) == NULL);
    CHECK_RC(pc_mp_value_load(NULL, &x, sizeof x), PC_VALUE);
    CHECK_RC(pc_mp_value_store(NULL, &x, sizeof x), PC_VALUE);
    CHECK_RC(pc_mp_value_add_int64(NULL, 1, &now), PC_VALUE);
    CHECK_RC(pc_mp_value_acquire(NULL, 0), PC_VALUE);
    CHECK_RC(pc_mp_value_release(NULL), PC_VALUE);
    CHECK(pc_mp_value_copy(NULL) == NULL);
    CHECK(pc_mp_value_synchronized(NULL, NULL, NULL) == NULL);
    CHECK(pc_mp_array_get_obj(NULL) == NULL && pc_mp_array_length(NULL) == 0);
    CHECK_RC(pc_mp_array_get(NULL, 0, &x, sizeof x), PC_VALUE);
    CHECK_RC(pc_mp_array_set_slice(NULL, 0, 0, NULL, 0), PC_VALUE);
    CHECK_RC(pc_mp_value_load((pc_mp_value *)l, &x, sizeof x), PC_VALUE);
    CHECK(strstr(pc_last_error(), "not a Value but a Lock") != NULL);
    pc_mp_value_free(NULL);
    pc_mp_array_free(NULL);

    // One type read as another.
    double dbl = 1.0;
    pc_mp_value *v = value_of("i", &x);
    CHECK_RC(pc_mp_value_load(v, &dbl, sizeof dbl), PC_VALUE);
    CHECK(strstr(pc_last_error(), "typecode 'i'") != NULL);
    CHECK_RC(pc_mp_value_store(v, &dbl, sizeof dbl), PC_VALUE);
    CHECK_RC(pc_mp_value_load(v, NULL, sizeof x), PC_VALUE);
    CHECK_RC(pc_mp_value_add_double(v, 1.0, &dbl), PC_VALUE);
    CHECK(strstr(pc_last_error(), "takes f d") != NULL);
    CHECK_RC(pc_mp_value_acquire(v, NAN), PC_VALUE);
    CHECK_RC(pc_mp_value_load((pc_mp_value *)pc_mp_value_get_rlock(v), &x, sizeof x),
             PC_VALUE);
    pc_mp_value_free(v);
    for (const char *c = "c?uf"; *c; c++) {
        char code[2] = {*c, 0};
        v = value_of(code, NULL);
        CHECK_RC(pc_mp_value_add_int64(v, 1, &now), PC_VALUE);
        pc_mp_value_free(v);
    }
    pc_mp_array *a = array_of("h", 3, NULL, 0);
    CHECK_RC(pc_mp_array_get(a, 0, &x, sizeof x), PC_VALUE);      // an int from shorts
    CHECK_RC(pc_mp_array_add_double(a, 0, 1.0, NULL), PC_VALUE);
    CHECK_RC(pc_mp_array_get((pc_mp_array *)a, 3, &x, 2), PC_VALUE);
    CHECK(pc_mp_value_get_obj((pc_mp_value *)a) == NULL);            // an Array as a Value
    pc_args *pk = pc_args_new();
    CHECK_RC(pc_args_add_mp_value(pk, (pc_mp_value *)a), PC_VALUE);
    CHECK_RC(pc_args_add_mp_array(pk, NULL), PC_VALUE);
    // A handle freed after it went into a pack is refused where the pack is used.
    pc_mp_array *gone = array_of("h", 1, NULL, 0);
    CHECK_OK(pc_args_add_mp_array(pk, gone));
    pc_mp_array_free(gone);
    CHECK(refused(pk, "freed"));
    pc_mp_array *got;
    CHECK_RC(pc_args_get_mp_array(pk, 5, &got), PC_VALUE);
    pc_args_free(pk);
    pc_mp_array_free(a);
    pc_mp_lock_free(l);
    pc_mp_rlock_free(r);
    CHECK(no_zombies());
    CHECK_EQ(count_fds(), fds);
}

// A Condition's own RLock is taken again by its owner (the Value's lock
// and the Condition's go through the same lock code).
TEST(condition_acquire_reentrant) {
    pc_mp_condition *c = pc_mp_condition_new(NULL, NULL);
    CHECK(c != NULL);
    for (int i = 0; i < 100; i++) {
        CHECK_OK(pc_mp_condition_acquire(c, 0));
        CHECK_OK(pc_mp_condition_acquire(c, 0));
        CHECK_OK(pc_mp_condition_release(c));
        CHECK_OK(pc_mp_condition_release(c));
    }
    pc_mp_condition_free(c);
}

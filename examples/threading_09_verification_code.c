// tour: a Timer refreshes a verification code until the user types it
/* A verification code that a Timer refreshes until the user types it.

   Python:
       class Code:
           def __init__(self):
               self.make_cache()
           def make_cache(self, interval=5):
               self.cache = self.make_code()
               print(self.cache)
               self.t = Timer(interval, self.make_cache)
               self.t.start()
           def check(self):
               while True:
                   inp = input('>>: ').strip()
                   if inp.upper() == self.cache:
                       print('verified')
                       self.t.cancel()
                       break

   Each timer's function makes the next timer, so the code keeps changing.
   The Python program reads the keyboard; here the "user" first types a
   wrong code, is slow enough that the code changes once, and then types
   the code on the screen (0.3 s refresh instead of 5 s).

   One fix over the Python program: the cache and the current timer are
   shared with the timer threads, so they sit under a lock, and a
   `stopped` flag makes a refresh that races with cancel() give up instead
   of scheduling another timer that nobody will cancel. */
#define PYCONC_IMPLEMENTATION
#include "pyconc.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define INTERVAL 0.3

typedef struct code {
    pc_lock lock;               // guards everything below
    char cache[5];
    pc_timer *timer;            // the pending refresh
    int stopped;
} code;

// Four characters, each a digit or a capital letter (make_code).
static void make_code(char out[5]) {
    for (int i = 0; i < 4; i++)
        out[i] = rand() % 2 ? (char)('0' + rand() % 10) : (char)('A' + rand() % 26);
    out[4] = '\0';
}

static int make_cache(void *arg) {
    code *c = (code *)arg;
    pc_lock_acquire(&c->lock, PC_FOREVER);
    if (c->stopped) {
        pc_lock_release(&c->lock);
        return 0;
    }
    make_code(c->cache);
    printf("%s\n", c->cache);
    pc_timer *old = c->timer;   // the timer running this call, if any
    c->timer = pc_timer_new(INTERVAL, make_cache, c);
    int rc = c->timer ? pc_timer_start(c->timer) : pc_last_error_code();
    pc_lock_release(&c->lock);
    pc_timer_free(old);         // its thread holds its own reference
    return rc;
}

// The user typed inp: 1 if it is the code (any case), as check() does.
static int check(code *c, const char *inp) {
    char up[16];
    size_t i = 0;
    for (; inp[i] && i < sizeof up - 1; i++) up[i] = (char)toupper((unsigned char)inp[i]);
    up[i] = '\0';
    printf(">>: %s\n", inp);
    pc_lock_acquire(&c->lock, PC_FOREVER);
    int ok = strcmp(up, c->cache) == 0;
    pc_lock_release(&c->lock);
    return ok;
}

static void stop(code *c) {
    pc_lock_acquire(&c->lock, PC_FOREVER);
    c->stopped = 1;
    pc_timer *t = c->timer;
    c->timer = NULL;
    pc_lock_release(&c->lock);
    if (!t) return;
    pc_timer_cancel(t);
    pc_timer_join(t, PC_FOREVER);
    pc_timer_free(t);
}

int main(void) {
    static code c;
    char typed[5];
    setvbuf(stdout, NULL, _IOLBF, 0);
    srand((unsigned)time(NULL));
    pc_lock_init(&c.lock);
    if (make_cache(&c) != PC_OK) {
        fprintf(stderr, "timer: %s\n", pc_last_error());
        return 1;
    }
    check(&c, "zz99");                  // a wrong guess: nothing happens
    pc_sleep(INTERVAL * 1.5);           // the user is slow: the code changes
    pc_lock_acquire(&c.lock, PC_FOREVER);
    memcpy(typed, c.cache, sizeof typed);
    pc_lock_release(&c.lock);
    typed[0] = (char)tolower((unsigned char)typed[0]);   // case does not matter
    if (check(&c, typed)) printf("verified\n");
    stop(&c);
    return 0;
}

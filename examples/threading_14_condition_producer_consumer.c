// tour: Condition producer/consumer: wait while nothing is there, notify one per item
/* The Condition pattern of the threading docs: a consumer waits, in a
   loop, until an item is there; a producer makes one and notifies.

   Python:
       # consume one item
       with cv:
           while not an_item_is_available():
               cv.wait()
           get_an_available_item()

       # produce one item
       with cv:
           make_an_item_available()
           cv.notify()

   Here the items are numbers on a small shelf: one producer makes six,
   two consumers take three each. The producer pauses 10 ms between items
   so the consumers really wait. The while loop matters: a woken consumer
   takes the lock after the notify, and must look again. */
#define PYCONC_IMPLEMENTATION
#include "pyconc.h"

#include <stdint.h>
#include <stdio.h>

#define ITEMS 6
#define CONSUMERS 2

static pc_condition cv = PC_CONDITION_INIT;
static int shelf[ITEMS], on_shelf;          // guarded by cv

static int an_item_is_available(void) { return on_shelf > 0; }

static int get_an_available_item(void) {
    int item = shelf[0];
    for (int i = 1; i < on_shelf; i++) shelf[i - 1] = shelf[i];
    on_shelf--;
    return item;
}

static void make_an_item_available(int item) { shelf[on_shelf++] = item; }

static int consumer(void *arg) {
    int id = (int)(intptr_t)arg;
    for (int k = 0; k < ITEMS / CONSUMERS; k++) {
        pc_condition_acquire(&cv, PC_FOREVER);
        while (!an_item_is_available()) pc_condition_wait(&cv, PC_FOREVER);
        int item = get_an_available_item();
        printf("consumer %d got item %d\n", id, item);
        pc_condition_release(&cv);
    }
    return 0;
}

static int producer(void *arg) {
    (void)arg;
    for (int item = 1; item <= ITEMS; item++) {
        pc_sleep(0.01);                     // making an item takes a while
        pc_condition_acquire(&cv, PC_FOREVER);
        make_an_item_available(item);
        printf("producer made item %d\n", item);
        pc_condition_notify(&cv, 1);
        pc_condition_release(&cv);
    }
    return 0;
}

static pc_thread *spawn(pc_target_fn fn, intptr_t arg) {
    pc_thread *t = pc_thread_new(&(pc_thread_desc){.target = fn, .arg = (void *)arg});
    if (t && pc_thread_start(t) == PC_OK) return t;
    fprintf(stderr, "start: %s\n", pc_last_error());
    pc_thread_free(t);
    return NULL;
}

int main(void) {
    pc_thread *ts[CONSUMERS + 1];
    setvbuf(stdout, NULL, _IOLBF, 0);
    for (int i = 0; i < CONSUMERS; i++)
        if (!(ts[i] = spawn(consumer, i + 1))) return 1;
    if (!(ts[CONSUMERS] = spawn(producer, 0))) return 1;
    for (int i = 0; i <= CONSUMERS; i++) {
        pc_thread_join(ts[i], PC_FOREVER);
        pc_thread_free(ts[i]);
    }
    printf("%d items made, %d left on the shelf\n", ITEMS, on_shelf);
    return 0;
}

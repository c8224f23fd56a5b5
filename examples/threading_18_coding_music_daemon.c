// tour: daemon threads each joined right after start, so coding and music take turns
/* Two daemon threads, coding and music, each joined right after it is
   started: the join makes main wait for one before it starts the next,
   so the two run one after the other, not at the same time.

   Python:
       def coding(language):
           for i in range(5):
               print('I\'m coding ', language, ' program at ', ctime())

       def music():
           for i in range(5):
               print('I\'m listening music at ', ctime())

       print('thread %s is running...' % threading.current_thread().name)
       thread_list = []
       t1 = threading.Thread(target=coding, args=('Python',))
       t2 = threading.Thread(target=music)
       thread_list.append(t1)
       thread_list.append(t2)
       for t in thread_list:
           t.setDaemon(True)   # a daemon: the program will not wait for it
           t.start()
           t.join()            # main blocks here until this thread is done
       print('thread %s ended.' % threading.current_thread().name)

   Being daemons changes nothing here, since each is joined; without the
   joins main would end at once and the daemons would be dropped mid-way.
   ctime() has a static buffer, so the lines are stamped with strftime
   and localtime_r instead. */
#define PYCONC_IMPLEMENTATION
#include "pyconc.h"

#include <stdio.h>
#include <time.h>

// ctime(): "Sun Nov 29 12:01:20 2026", into the caller's buffer.
static const char *ctime_now(char *buf, size_t cap) {
    time_t now = time(NULL);
    struct tm tm;
    strftime(buf, cap, "%a %b %e %H:%M:%S %Y", localtime_r(&now, &tm));
    return buf;
}

static int coding(void *arg) {
    const char *language = (const char *)arg;
    char stamp[32];
    for (int i = 0; i < 5; i++)
        printf("I'm coding %s program at %s\n", language, ctime_now(stamp, sizeof stamp));
    return 0;
}

static int music(void *arg) {
    (void)arg;
    char stamp[32];
    for (int i = 0; i < 5; i++)
        printf("I'm listening music at %s\n", ctime_now(stamp, sizeof stamp));
    return 0;
}

int main(void) {
    setvbuf(stdout, NULL, _IOLBF, 0);
    printf("thread %s is running...\n", pc_thread_name(pc_thread_current()));
    pc_thread *thread_list[2] = {
        pc_thread_new(&(pc_thread_desc){.target = coding, .arg = "Python"}),
        pc_thread_new(&(pc_thread_desc){.target = music}),
    };
    for (int i = 0; i < 2; i++) {
        pc_thread *t = thread_list[i];
        if (!t || pc_thread_set_daemon(t, 1) != PC_OK || pc_thread_start(t) != PC_OK) {
            fprintf(stderr, "start: %s\n", pc_last_error());
            return 1;
        }
        pc_thread_join(t, PC_FOREVER);
    }
    printf("thread %s ended.\n", pc_thread_name(pc_thread_current()));
    pc_thread_free(thread_list[0]);
    pc_thread_free(thread_list[1]);
    return 0;
}

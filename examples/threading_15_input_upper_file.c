// tour: three threads in a pipeline: read lines -> upper-case them -> append them to a file
/* Three tasks in three threads: one takes what the user types, one turns
   it to upper case, one appends the result to a file.

   Python:
       msg_l = []
       format_l = []
       def talk():
           while True:
               msg = input('>>: ').strip()
               if not msg: continue
               msg_l.append(msg)

       def format_msg():
           while True:
               if msg_l:
                   res = msg_l.pop()
                   format_l.append(res.upper())

       def save():
           while True:
               if format_l:
                   with open('db.txt', 'a', encoding='utf-8') as f:
                       res = format_l.pop()
                       f.write('%s\n' % res)

       t1 = Thread(target=talk); t2 = Thread(target=format_msg); t3 = Thread(target=save)
       t1.start(); t2.start(); t3.start()

   What the C version does differently:
   - the lines come from a list in the program (echoed after the prompt),
     not the keyboard, and after the last one a NULL says "no more", which
     each stage passes on and then ends: the program stops by itself;
   - the two lists are blocking queues: format_msg and save sleep until
     there is work instead of spinning on "if msg_l:" at full speed, and
     first in is first out (list.pop() takes the newest, which reorders
     lines typed faster than they are handled);
   - the file is a fresh temporary one (mkstemp) instead of db.txt in the
     current directory; main prints it and removes it at the end. */
#define PYCONC_IMPLEMENTATION
#define PYCONC_QUEUE_IMPLEMENTATION
#include "pyconc_queue.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char *typed[] = {"hello", "   ", "three threads", "", "  one pipeline  ", "bye"};

static pc_queue *msg_l, *format_l;          // of char *; NULL ends the stream
static char db_path[64];

// A copy of s without leading and trailing blanks (Python's str.strip).
static char *strip_copy(const char *s) {
    while (isspace((unsigned char)*s)) s++;
    size_t n = strlen(s);
    while (n > 0 && isspace((unsigned char)s[n - 1])) n--;
    char *out = (char *)malloc(n + 1);
    if (out) {
        memcpy(out, s, n);
        out[n] = '\0';
    }
    return out;
}

static int talk(void *arg) {
    (void)arg;
    char *end = NULL;
    for (size_t i = 0; i < sizeof typed / sizeof typed[0]; i++) {
        printf(">>: %s\n", typed[i]);
        char *msg = strip_copy(typed[i]);
        if (!msg) return pc_raise(PC_NOMEM, "no memory for a line");
        if (!*msg) {                        // if not msg: continue
            free(msg);
            continue;
        }
        pc_queue_put(msg_l, &msg, PC_FOREVER);
    }
    return pc_queue_put(msg_l, &end, PC_FOREVER);
}

static int format_msg(void *arg) {
    (void)arg;
    for (;;) {
        char *res;
        pc_queue_get(msg_l, &res, PC_FOREVER);
        if (res)
            for (char *c = res; *c; c++) *c = (char)toupper((unsigned char)*c);
        pc_queue_put(format_l, &res, PC_FOREVER);
        if (!res) return 0;
    }
}

static int save(void *arg) {
    (void)arg;
    for (;;) {
        char *res;
        pc_queue_get(format_l, &res, PC_FOREVER);
        if (!res) return 0;
        FILE *f = fopen(db_path, "a");
        if (!f) {
            free(res);
            return pc_raise(PC_OS, "cannot open %s", db_path);
        }
        fprintf(f, "%s\n", res);
        fclose(f);
        free(res);
    }
}

// Make an empty temporary file for the results; its name goes to db_path.
static int make_db(void) {
    const char *dir = getenv("TMPDIR");
    snprintf(db_path, sizeof db_path, "%s/pyconc_db_XXXXXX",
             dir && strlen(dir) < sizeof db_path - 20 ? dir : "/tmp");
    int fd = mkstemp(db_path);
    if (fd < 0) return -1;
    close(fd);
    return 0;
}

static void print_db(void) {
    char line[256];
    FILE *f = fopen(db_path, "r");
    if (!f) return;
    printf("the file holds:\n");
    while (fgets(line, sizeof line, f)) printf("    %s", line);
    fclose(f);
}

int main(void) {
    setvbuf(stdout, NULL, _IOLBF, 0);
    msg_l = pc_queue_new(NULL);
    format_l = pc_queue_new(NULL);
    if (!msg_l || !format_l || make_db() != 0) {
        fprintf(stderr, "setup failed\n");
        return 1;
    }
    pc_target_fn stages[3] = {talk, format_msg, save};
    pc_thread *ts[3];
    for (int i = 0; i < 3; i++) {
        ts[i] = pc_thread_new(&(pc_thread_desc){.target = stages[i]});
        if (!ts[i] || pc_thread_start(ts[i]) != PC_OK) {
            fprintf(stderr, "start: %s\n", pc_last_error());
            remove(db_path);
            return 1;
        }
    }
    int failed = 0;
    for (int i = 0; i < 3; i++) {
        pc_thread_join(ts[i], PC_FOREVER);
        failed |= pc_thread_exitcode(ts[i]) != PC_OK;
        pc_thread_free(ts[i]);
    }
    print_db();
    remove(db_path);
    pc_queue_free(msg_l);
    pc_queue_free(format_l);
    return failed;
}

// tour: each page fetched in the pool is parsed by its future's done callback
/* A done-callback program: get_page(url) runs in the pool and
   parse_page runs as each future's done callback, reading future.result().
   The Python program uses a process pool and the network; this one uses
   threads and a table of pages in memory, and prints the line the Python
   program appends to db.txt. */
#define PYCONC_IMPLEMENTATION
#define PYCONC_FUTURES_IMPLEMENTATION
#include "pyconc_futures.h"

#include <stdio.h>
#include <string.h>

typedef struct page { const char *url; const char *text; } page;

static const page PAGES[] = {
    {"https://www.baidu.com", "<html>baidu</html>"},
    {"https://www.python.org", "<html>Welcome to Python.org</html>"},
    {"https://www.openstack.org", "<html>Open source software for clouds</html>"},
    {"https://help.github.com/", "<html>GitHub Docs</html>"},
    {"http://www.sina.com.cn/", "<html>sina</html>"},
};

static pc_lock print_lock = PC_LOCK_INIT;

static void *get_page(void *arg) {
    const page *p = (const page *)arg;
    pc_lock_acquire(&print_lock, PC_FOREVER);
    printf("<%s> get %s\n", pc_thread_name(pc_thread_current()), p->url);
    pc_lock_release(&print_lock);
    pc_sleep(0.01);                         // the request's round trip
    return (void *)p;
}

static void parse_page(pc_future *future, void *ctx) {
    (void)ctx;
    void *res;
    if (pc_future_result(future, 0, &res) != PC_OK) return;
    const page *p = (const page *)res;
    pc_lock_acquire(&print_lock, PC_FOREVER);
    printf("<%s> parse %s\n", pc_thread_name(pc_thread_current()), p->url);
    printf("url:<%s> size:[%zu]\n", p->url, strlen(p->text));
    pc_lock_release(&print_lock);
}

int main(void) {
    pc_executor *p = pc_thread_pool_new(&(pc_thread_pool_desc){ .max_workers = 3 });
    if (!p) return 1;
    for (size_t i = 0; i < sizeof PAGES / sizeof PAGES[0]; i++) {
        pc_future *f;
        if (pc_executor_submit(p, get_page, (void *)&PAGES[i], &f)) return 1;
        pc_future_add_done_callback(f, parse_page, NULL);
        pc_future_release(f);
    }
    pc_executor_free(p);                    // waits for every page and callback
    return 0;
}

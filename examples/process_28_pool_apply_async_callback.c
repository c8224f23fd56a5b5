// tour: Pool(3).apply_async(get_page, callback=parse_page, error_callback=...) over six pages
/* The multiprocessing.Pool version of the tutorials' page fetcher:

       def get_page(url):
           print('<process %s> get %s' % (os.getpid(), url))
           respone = requests.get(url)
           if respone.status_code == 200:
               return {'url': url, 'text': respone.text}

       def parse_page(res):
           print('<process %s> parse %s' % (os.getpid(), res['url']))
           parse_res = 'url:<%s> size:[%s]\n' % (res['url'], len(res['text']))
           with open('db.txt', 'a') as f:
               f.write(parse_res)

       p = Pool(3)
       for url in urls:
           p.apply_async(get_page, args=(url,), callback=parse_page)
       p.close()
       p.join()

   Nothing leaves this machine: the pages are a table in memory, and a
   sixth, made-up address answers 404, which get_page raises; an
   error_callback reports it (Python's apply_async takes one too). Each URL
   crosses to a worker by copy, and the answer (url and size) comes back by
   copy of result_size bytes. The callbacks run in this process, in the
   pool's collecting thread, as Python's do; parse_page prints the line the
   Python program appends to db.txt. */
#define PYCONC_ALL_IMPLEMENTATION
#include "pyconc_process.h"

#include <stdio.h>
#include <string.h>

typedef struct page { const char *url, *text; } page;

static const page PAGES[] = {
    {"https://www.baidu.com", "<html>baidu</html>"},
    {"https://www.python.org", "<html>Welcome to Python.org</html>"},
    {"https://www.openstack.org", "<html>Open source software for clouds</html>"},
    {"https://help.github.com/", "<html>GitHub Docs</html>"},
    {"http://www.sina.com.cn/", "<html>sina</html>"},
};
static const char *const URLS[] = {
    "https://www.baidu.com", "https://www.python.org", "https://www.openstack.org",
    "https://help.github.com/", "http://www.sina.com.cn/", "https://www.python.org/no-such-page",
};

typedef struct answer { char url[64]; size_t size; } answer;     // {'url': ..., 'text': ...}

static void *get_page(void *arg) {
    static answer res;
    const char *url = (const char *)arg;
    printf("<process %ld> get %s\n", pc_process_pid(pc_process_current()), url);
    fflush(stdout);
    pc_sleep(0.01);                             // the request's round trip
    for (size_t i = 0; i < sizeof PAGES / sizeof PAGES[0]; i++)
        if (strcmp(PAGES[i].url, url) == 0) {
            snprintf(res.url, sizeof res.url, "%s", url);
            res.size = strlen(PAGES[i].text);
            return &res;
        }
    pc_raise(PC_OS, "404 Not Found: %s", url);
    return NULL;
}

static pc_lock print_lock = PC_LOCK_INIT;

static void parse_page(void *result, void *ctx) {
    const answer *res = (const answer *)result;
    (void)ctx;
    pc_lock_acquire(&print_lock, PC_FOREVER);
    printf("<process %ld> parse %s\n", pc_process_pid(pc_process_current()), res->url);
    printf("url:<%s> size:[%zu]\n", res->url, res->size);
    pc_lock_release(&print_lock);
}

static void on_error(int code, const char *message, void *ctx) {
    (void)ctx;
    pc_lock_acquire(&print_lock, PC_FOREVER);
    printf("<process %ld> error_callback: %s (%s)\n", pc_process_pid(pc_process_current()),
           message, pc_strerror(code));
    pc_lock_release(&print_lock);
}

int main(void) {
    pc_pool *p = pc_pool_new(&(pc_pool_desc){.processes = 3, .result_size = sizeof(answer)});
    if (!p) {
        fprintf(stderr, "Pool: %s\n", pc_last_error());
        return 1;
    }
    enum { N = sizeof URLS / sizeof URLS[0] };
    pc_pool_callbacks cb = {parse_page, on_error, NULL};
    pc_async_result *results[N];
    for (int i = 0; i < N; i++)
        if (pc_pool_apply_async(p, get_page, URLS[i], strlen(URLS[i]) + 1, &cb, &results[i]))
            return 1;
    pc_pool_close(p);
    pc_pool_join(p);                            // every task done, every callback run
    for (int i = 0; i < N; i++) pc_async_result_free(results[i]);
    pc_pool_free(p);
    return 0;
}

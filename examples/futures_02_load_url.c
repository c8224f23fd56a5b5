// tour: five pages fetched by 5 threads from a local server, shown as they complete; one is a 404
/* The docs' URL fetcher: five pages loaded by a pool of 5 threads, each
   reported as it completes (as_completed), one of them failing. Nothing
   leaves this machine: the program starts a tiny HTTP server on
   127.0.0.1 (a free port) that serves the five paths, the made-up one
   with 404 Not Found. */
#define PYCONC_IMPLEMENTATION
#define PYCONC_FUTURES_IMPLEMENTATION
#include "pyconc_futures.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static const char *PATHS[] = {"/foxnews", "/cnn", "/wsj", "/bbc", "/some-made-up-domain"};
enum { NPAGES = 5 };

// >>server: answers NPAGES requests, one connection each, then ends.
static int page_size(const char *path) {
    for (int i = 0; i < NPAGES - 1; i++)
        if (strcmp(path, PATHS[i]) == 0) return 1000 * (i + 1) + 17 * i;
    return -1;
}

static void serve_one(int c) {
    char req[1024], path[256] = "";
    ssize_t got = read(c, req, sizeof req - 1);
    if (got <= 0) return;
    req[got] = '\0';
    sscanf(req, "GET %255s", path);
    int size = page_size(path);
    char head[256];
    if (size < 0) {
        int n = snprintf(head, sizeof head, "HTTP/1.0 404 Not Found\r\nContent-Length: 0\r\n\r\n");
        if (write(c, head, (size_t)n) != n) return;
        return;
    }
    int n = snprintf(head, sizeof head, "HTTP/1.0 200 OK\r\nContent-Length: %d\r\n\r\n", size);
    char *body = (char *)malloc((size_t)size);
    if (!body) return;
    memset(body, 'x', (size_t)size);
    if (write(c, head, (size_t)n) == n && write(c, body, (size_t)size) == size) {}
    free(body);
}

static int server_main(void *arg) {
    int s = (int)(intptr_t)arg;
    for (int i = 0; i < NPAGES; i++) {
        int c = accept(s, NULL, NULL);
        if (c < 0) return pc_raise(PC_OS, "accept failed");
        serve_one(c);
        close(c);
    }
    close(s);
    return 0;
}

static int listen_local(int *out_port) {
    int s = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a;
    socklen_t len = sizeof a;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = 0;                         // any free port
    if (s < 0 || bind(s, (struct sockaddr *)&a, sizeof a) || listen(s, 8) ||
        getsockname(s, (struct sockaddr *)&a, &len))
        return -1;
    *out_port = ntohs(a.sin_port);
    return s;
}

// >>client: load_url(url): the body's bytes, or an exception.
typedef struct url_job { char url[128]; int port; const char *path; long bytes; } url_job;

static void *load_url(void *arg) {
    url_job *job = (url_job *)arg;
    int s = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = htons((uint16_t)job->port);
    if (s < 0 || connect(s, (struct sockaddr *)&a, sizeof a)) {
        pc_raise(PC_OS, "<urlopen error connection refused>");
        if (s >= 0) close(s);
        return NULL;
    }
    char buf[8192];
    int n = snprintf(buf, sizeof buf, "GET %s HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n", job->path);
    if (write(s, buf, (size_t)n) != n) { close(s); pc_raise(PC_OS, "write failed"); return NULL; }
    long total = 0, header_end = -1;
    int status = 0;
    ssize_t got;
    char first[64] = "";
    while ((got = read(s, buf, sizeof buf)) > 0) {
        if (total == 0) {
            snprintf(first, sizeof first, "%.*s", (int)(got < 63 ? got : 63), buf);
            sscanf(first, "HTTP/%*s %d", &status);
            char *end = strstr(buf, "\r\n\r\n");
            if (end) header_end = (long)(end - buf) + 4;
        }
        total += got;
    }
    close(s);
    if (status != 200) {
        pc_raise(PC_OS, "HTTP Error %d: Not Found", status);
        return NULL;
    }
    job->bytes = total - header_end;
    return job;
}

int main(void) {
    int port;
    int s = listen_local(&port);
    if (s < 0) { perror("listen"); return 1; }
    pc_thread *server = pc_thread_new(&(pc_thread_desc){ .target = server_main,
                                                         .arg = (void *)(intptr_t)s });
    if (!server || pc_thread_start(server)) return 1;

    url_job jobs[NPAGES];
    pc_future *futures[NPAGES];
    pc_executor *executor = pc_thread_pool_new(&(pc_thread_pool_desc){ .max_workers = 5 });
    for (int i = 0; i < NPAGES; i++) {
        snprintf(jobs[i].url, sizeof jobs[i].url, "http://127.0.0.1:%d%s", port, PATHS[i]);
        jobs[i].port = port;
        jobs[i].path = PATHS[i];
        if (pc_executor_submit(executor, load_url, &jobs[i], &futures[i])) return 1;
    }
    pc_as_completed *done;
    pc_future *future;
    if (pc_futures_as_completed(futures, NPAGES, PC_FOREVER, &done)) return 1;
    while (pc_as_completed_next(done, &future) == PC_OK) {
        void *result;
        int i = 0;
        while (futures[i] != future) i++;
        if (pc_future_result(future, 0, &result) != PC_OK)
            printf("'%s' generated an exception: %s\n", jobs[i].url, pc_last_error());
        else
            printf("'%s' page is %ld bytes\n", jobs[i].url, ((url_job *)result)->bytes);
    }
    pc_as_completed_free(done);
    for (int i = 0; i < NPAGES; i++) pc_future_release(futures[i]);
    pc_executor_free(executor);
    pc_thread_join(server, PC_FOREVER);
    pc_thread_free(server);
    return 0;
}

// tour: futures.wait: FIRST_COMPLETED returns at the first done download, ALL_COMPLETED at the last
/* concurrent.futures.wait(fs, timeout, return_when) splits the futures
   into (done, not_done): FIRST_COMPLETED returns as soon as one is done,
   ALL_COMPLETED (the default) once all are.

   Python (the picture downloader, with wait() where it used as_completed):
       def download_pic(url):
           image = get_image(url)   # fetch the picture
           save(image)              # store it
           return url

       with futures.ThreadPoolExecutor(max_workers=3) as executor:
           tasks = [executor.submit(download_pic, url) for url in pic_list[:5]]
           done, not_done = futures.wait(tasks, return_when=futures.FIRST_COMPLETED)
           print('done:', done, 'not done:', not_done)
           done, not_done = futures.wait(tasks, return_when=futures.ALL_COMPLETED)
           print('done:', done, 'not done:', not_done)
           for future in tasks:
               print(future.result())

   Nothing leaves the machine: a download is a pause of 10 to 60 ms. The
   second picture is the quickest, so the first wait normally returns with
   it alone done (a slow machine may let another finish too). */
#define PYCONC_IMPLEMENTATION
#define PYCONC_FUTURES_IMPLEMENTATION
#include "pyconc_futures.h"

#include <stdio.h>
#include <string.h>

#define PICS 5

typedef struct picture { const char *url; double seconds; } picture;

static const picture pic_list[PICS] = {
    {"http://example.com/pic1.jpg", 0.06}, {"http://example.com/pic2.jpg", 0.01},
    {"http://example.com/pic3.jpg", 0.04}, {"http://example.com/pic4.jpg", 0.03},
    {"http://example.com/pic5.jpg", 0.02},
};

static void *download_pic(void *arg) {
    const picture *pic = (const picture *)arg;
    pc_sleep(pic->seconds);                 // get_image(url) and save(image)
    return (void *)pic->url;
}

// The picture's file name ("pic2.jpg") for its future.
static const char *name_of(pc_future *const *tasks, pc_future *f) {
    for (int i = 0; i < PICS; i++)
        if (tasks[i] == f) return strrchr(pic_list[i].url, '/') + 1;
    return "?";
}

// print('done:', done, 'not done:', not_done), by file name.
static void print_split(pc_future *const *tasks, int return_when) {
    pc_future *done[PICS], *not_done[PICS];
    size_t ndone, nnot_done;
    int rc = pc_futures_wait(tasks, PICS, PC_FOREVER, return_when, done, &ndone, not_done,
                             &nnot_done);
    const char *when = return_when == PC_FIRST_COMPLETED ? "FIRST_COMPLETED" : "ALL_COMPLETED";
    printf("wait(%s): %s\n", when, rc == PC_OK ? "condition met" : pc_last_error());
    printf("    done (%zu):", ndone);
    for (size_t i = 0; i < ndone; i++) printf(" %s", name_of(tasks, done[i]));
    printf("\n    not done (%zu):", nnot_done);
    for (size_t i = 0; i < nnot_done; i++) printf(" %s", name_of(tasks, not_done[i]));
    printf("\n");
}

int main(void) {
    pc_future *tasks[PICS];
    pc_executor *executor = pc_thread_pool_new(&(pc_thread_pool_desc){.max_workers = 3});
    if (!executor) return 1;
    for (int i = 0; i < PICS; i++)
        if (pc_executor_submit(executor, download_pic, (void *)&pic_list[i], &tasks[i])) return 1;
    print_split(tasks, PC_FIRST_COMPLETED);
    print_split(tasks, PC_ALL_COMPLETED);
    for (int i = 0; i < PICS; i++) {
        void *url;
        if (pc_future_result(tasks[i], PC_FOREVER, &url) == PC_OK) printf("%s\n", (char *)url);
        pc_future_release(tasks[i]);
    }
    pc_executor_free(executor);
    return 0;
}

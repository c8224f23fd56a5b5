// tour: four file copies submitted to a pool of 4; leaving the pool waits for them
/* Executor.shutdown through a with block: four copies are submitted to a
   pool of four threads, and leaving the block waits until all are done.

   Python:
       import shutil
       with ThreadPoolExecutor(max_workers=4) as e:
           e.submit(shutil.copy, 'src1.txt', 'dest1.txt')
           e.submit(shutil.copy, 'src2.txt', 'dest2.txt')
           e.submit(shutil.copy, 'src3.txt', 'dest3.txt')
           e.submit(shutil.copy, 'src4.txt', 'dest4.txt')

   pc_executor_free is the end of the with block (shutdown(wait=True)).
   The files live in a new temporary directory (mkdtemp): the program
   writes the four sources, copies them, compares each copy with its
   source and removes everything. As in Python, nobody keeps the futures,
   so a failed copy would go unnoticed by the pool; the comparison after
   it is what tells. */
#define PYCONC_IMPLEMENTATION
#define PYCONC_FUTURES_IMPLEMENTATION
#include "pyconc_futures.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define FILES 4

typedef struct copy_args { char src[96], dest[96]; } copy_args;

// shutil.copy(src, dest) for a regular file: its bytes, in blocks.
static void *copy_file(void *arg) {
    const copy_args *a = (const copy_args *)arg;
    char buf[4096];
    size_t n;
    FILE *in = fopen(a->src, "rb"), *out = in ? fopen(a->dest, "wb") : NULL;
    if (!out) {
        if (in) fclose(in);
        pc_raise(PC_OS, "cannot copy %s", a->src);
        return NULL;
    }
    while ((n = fread(buf, 1, sizeof buf, in)) > 0) fwrite(buf, 1, n, out);
    fclose(in);
    if (fclose(out) != 0) pc_raise(PC_OS, "cannot write %s", a->dest);
    return NULL;
}

// Write source i: line i repeated, so each file has its own size.
static int write_source(const char *path, int i) {
    FILE *f = fopen(path, "w");
    if (!f) return -1;
    for (int k = 0; k < 100 * i; k++) fprintf(f, "source file %d, line %d\n", i, k);
    return fclose(f);
}

// 1 if the two files hold the same bytes; *out_size gets the size.
static int same_file(const char *a, const char *b, long *out_size) {
    FILE *fa = fopen(a, "rb"), *fb = fopen(b, "rb");
    int ca = 0, cb = 0;
    long size = 0;
    if (fa && fb) {
        do {
            ca = getc(fa);
            cb = getc(fb);
            size += ca != EOF;
        } while (ca == cb && ca != EOF);
    }
    if (fa) fclose(fa);
    if (fb) fclose(fb);
    *out_size = size;
    return fa && fb && ca == cb;
}

int main(void) {
    const char *tmp = getenv("TMPDIR");
    char dir[64];
    snprintf(dir, sizeof dir, "%s/pyconc_copy_XXXXXX", tmp && strlen(tmp) < 40 ? tmp : "/tmp");
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 1;
    }
    copy_args jobs[FILES];
    int failed = 0;
    for (int i = 0; i < FILES; i++) {
        snprintf(jobs[i].src, sizeof jobs[i].src, "%s/src%d.txt", dir, i + 1);
        snprintf(jobs[i].dest, sizeof jobs[i].dest, "%s/dest%d.txt", dir, i + 1);
        failed |= write_source(jobs[i].src, i + 1) != 0;
    }

    pc_executor *e = pc_thread_pool_new(&(pc_thread_pool_desc){.max_workers = 4});
    for (int i = 0; i < FILES && e && !failed; i++)
        failed |= pc_executor_submit(e, copy_file, &jobs[i], NULL) != PC_OK;
    pc_executor_free(e);                    // the end of the with block: waits
    failed |= !e;

    for (int i = 0; i < FILES; i++) {
        long size;
        int same = same_file(jobs[i].src, jobs[i].dest, &size);
        printf("src%d.txt -> dest%d.txt: %ld bytes, %s\n", i + 1, i + 1, size,
               same ? "same as the source" : "NOT the same");
        failed |= !same;
        remove(jobs[i].src);
        remove(jobs[i].dest);
    }
    rmdir(dir);
    return failed;
}

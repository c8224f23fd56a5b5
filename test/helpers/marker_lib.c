/* marker_lib.c - a shared object for the bootstrap trust tests
   (test_process.c): loading it leaves a mark. Its constructor creates the
   file named by PCT_MARKER (when set), so a test sees whether a child
   loaded it; pct_marker_target is a process target inside it. */
#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>

__attribute__((constructor)) static void pct_marker_loaded(void) {
    const char *path = getenv("PCT_MARKER");
    if (!path) return;
    int fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
    if (fd >= 0) close(fd);
}

int pct_marker_target(void *arg);
int pct_marker_target(void *arg) {
    (void)arg;
    return 42;
}

/* test_connection.c - multiprocessing.connection: framing, Connection, Pipe,
   wait, Listener/Client and the authkey handshake (with python3 as the
   other side when it is installed). */
#define PYCONC_IMPLEMENTATION
#define PYCONC_PROCESS_IMPLEMENTATION
#include "pyconc.h"
#include "staging/connection.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdint.h>
#include <sys/socket.h>
#include <unistd.h>

#include "pc_test.h"

// >>helpers
// Count this process's open descriptors (a leak check around each case).
static int count_fds(void) {
    DIR *d = opendir("/proc/self/fd");
    if (!d) return -1;
    int n = 0;
    for (struct dirent *e; (e = readdir(d));)
        if (e->d_name[0] != '.') n++;
    closedir(d);
    return n - 1;   // the directory's own descriptor
}

// >>pipe
TEST(pipe_duplex_roundtrip) {
    int before = count_fds();
    pc_connection *a, *b;
    void *buf;
    size_t n;
    CHECK_OK(pc_pipe(1, &a, &b));
    CHECK(pc_connection_readable(a) && pc_connection_writable(a));
    CHECK(pc_connection_readable(b) && pc_connection_writable(b));
    CHECK_OK(pc_connection_send_bytes(a, "hello", 0, 5));
    CHECK_OK(pc_connection_recv_bytes(b, 0, &buf, &n));
    CHECK_EQ(n, 5);
    CHECK(memcmp(buf, "hello", 5) == 0);
    pc_connection_bytes_free(buf);
    CHECK_OK(pc_connection_send_bytes(b, "xxworldxx", 2, 5));
    CHECK_OK(pc_connection_recv_bytes(a, 0, &buf, &n));
    CHECK(n == 5 && memcmp(buf, "world", 5) == 0);
    pc_connection_bytes_free(buf);
    pc_connection_free(a);
    pc_connection_free(b);
    CHECK_EQ(count_fds(), before);
}

// >>fdpass
TEST(fdpass_roundtrip) {
    int before = count_fds();
    int sv[2], pv[2];
    CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0);
    CHECK(pipe(pv) == 0);
    CHECK_OK(pc__send_fds(sv[0], "fd!", 3, pv, 2));
    char got[3];
    int fds[4] = {-1, -1, -1, -1};
    size_t nfds = 4;
    CHECK_OK(pc__recv_fds(sv[1], got, 3, fds, &nfds));
    CHECK_EQ(nfds, 2);
    CHECK(memcmp(got, "fd!", 3) == 0);
    CHECK(fcntl(fds[0], F_GETFD) & FD_CLOEXEC);
    CHECK(write(fds[1], "z", 1) == 1);
    char z = 0;
    CHECK(read(pv[0], &z, 1) == 1 && z == 'z');
    for (int i = 0; i < 2; i++) { close(fds[i]); close(pv[i]); close(sv[i]); }
    CHECK_EQ(count_fds(), before);
}

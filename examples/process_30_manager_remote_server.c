// tour: a manager server for other programs, over TCP: get_server().serve_forever()
/* The docs' remote manager, server side, in C.

       from multiprocessing.managers import BaseManager
       m = BaseManager(address=('127.0.0.1', 50030), authkey=key)
       m.get_server().serve_forever()

   (the docs' server serves a queue it registers; here clients make their
   own dicts.) Run it, then process_30_manager_remote_client with the same
   key file and port, from another terminal or another machine's program:

       head -c 32 /dev/urandom > key; chmod 600 key
       ./process_30_manager_remote_server key 50030     # serves until Ctrl-C
       ./process_30_manager_remote_client key 50030

   The authkey comes from a file, or from stdin with "-", never from the
   command line or the environment, where other users of the machine can
   read it (ps, /proc/<pid>/environ). */
#define PYCONC_ALL_IMPLEMENTATION
#include "pyconc_process.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

// The key: a file's bytes, or stdin's ("-"), without a final newline.
static size_t read_key(const char *path, unsigned char *key, size_t cap) {
    FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "rb");
    if (!f) return 0;
    size_t n = fread(key, 1, cap, f);
    if (f != stdin) fclose(f);
    while (n && (key[n - 1] == '\n' || key[n - 1] == '\r')) n--;
    return n;
}

int main(int argc, char **argv) {
    unsigned char key[PC_AUTHKEY_MAX];
    char address[64];
    if (argc < 2) {
        fprintf(stderr, "usage: %s KEYFILE|- [PORT]\n", argv[0]);
        return 2;
    }
    size_t keylen = read_key(argv[1], key, sizeof key);
    if (keylen == 0) {
        fprintf(stderr, "server: no key in %s\n", argv[1]);
        return 2;
    }
    snprintf(address, sizeof address, "127.0.0.1:%s", argc > 2 ? argv[2] : "50030");
    printf("server: serving at %s\n", address);
    fflush(stdout);
    pc_manager_desc md;
    memset(&md, 0, sizeof md);
    md.address = address;
    md.authkey = key;
    md.authkey_size = keylen;
    int rc = pc_manager_serve_forever(&md);      // s = m.get_server(); s.serve_forever()
    if (rc) fprintf(stderr, "server: %s: %s\n", pc_strerror(rc), pc_last_error());
    return rc ? 1 : 0;
}

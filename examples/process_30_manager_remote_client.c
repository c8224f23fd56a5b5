// tour: connecting to that server with the authkey: a dict, a batch, a wrong key
/* The docs' remote manager, client side, in C.

       m = BaseManager(address=('127.0.0.1', 50030), authkey=key)
       m.connect()
       d = m.dict()

   It needs process_30_manager_remote_server running with the same key
   file and port (the tour starts the pair with examples/remote_pair.sh).
   A wrong key is refused with PC_AUTH (Python's AuthenticationError):
   the handshake fails on both ends and the server goes on serving. */
#define PYCONC_ALL_IMPLEMENTATION
#include "pyconc_process.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static size_t read_key(const char *path, unsigned char *key, size_t cap) {
    FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "rb");
    if (!f) return 0;
    size_t n = fread(key, 1, cap, f);
    if (f != stdin) fclose(f);
    while (n && (key[n - 1] == '\n' || key[n - 1] == '\r')) n--;
    return n;
}

// m.connect(), waiting a few seconds for a server that is still starting.
static pc_manager *connect_to(const pc_manager_desc *md) {
    pc_manager *m = NULL;
    for (int i = 0; i < 500 && !m; i++) {
        m = pc_manager_connect(md);
        if (!m && pc_last_error_code() != PC_OS) break;     // not "nobody listens"
        if (!m) pc_sleep(0.01);
    }
    return m;
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
        fprintf(stderr, "client: no key in %s\n", argv[1]);
        return 2;
    }
    snprintf(address, sizeof address, "127.0.0.1:%s", argc > 2 ? argv[2] : "50030");
    pc_manager_desc md;
    memset(&md, 0, sizeof md);
    md.address = address;
    md.authkey = key;
    md.authkey_size = keylen;
    pc_manager *m = connect_to(&md);
    if (!m) {
        fprintf(stderr, "client: %s: %s\n", address, pc_last_error());
        return 1;
    }
    printf("client: connected to %s\n", address);

    // A wrong key: refused, and the server keeps serving.
    key[0] ^= 0x5a;
    pc_manager *bad = pc_manager_connect(&md);
    printf("client: with a wrong key: %s (%s)\n", bad ? "connected?!" :
           pc_strerror(pc_last_error_code()), bad ? "" : pc_last_error());
    int rc = bad != NULL || pc_last_error_code() != PC_AUTH;
    pc_manager_free(bad);

    pc_proxy *d;                                   // d = m.dict()
    rc = rc || pc_manager_dict(m, &d);
    if (rc) {
        fprintf(stderr, "client: %s\n", pc_last_error());
        pc_manager_free(m);
        return 1;
    }
    pc_proxy_value v;
    pc_proxy_dict_set(d, "hello", pc_proxy_str("from the client"));
    pc_proxy_dict_incr(d, "visits", pc_proxy_int(1), NULL);
    rc = pc_proxy_dict_get(d, "hello", NULL, &v);
    if (rc == PC_OK) {
        printf("client: d['hello'] = '%s'\n", (const char *)v.data);
        pc_proxy_value_free(&v);
    }
    // 100 calls in one batch: about one round trip over the network
    pc_proxy_batch *b = pc_proxy_batch_new(d);
    char k[16];
    for (int i = 0; b && i < 100; i++) {
        snprintf(k, sizeof k, "square%d", i);
        pc_proxy_batch_dict_set(b, k, pc_proxy_int((int64_t)i * i));
    }
    if (rc == PC_OK) rc = pc_proxy_batch_run(b);
    pc_proxy_batch_free(b);
    size_t n = 0;
    if (rc == PC_OK) rc = pc_proxy_len(d, &n);
    if (rc == PC_OK) rc = pc_proxy_dict_get(d, "square12", NULL, &v);
    if (rc == PC_OK) printf("client: len(d) = %zu, d['square12'] = %" PRId64 "\n", n, v.i);
    else fprintf(stderr, "client: %s\n", pc_last_error());
    pc_proxy_free(d);
    pc_manager_free(m);                            // a connected manager: the server stays
    return rc ? 1 : 0;
}

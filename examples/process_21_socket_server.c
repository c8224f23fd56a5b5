// tour: Listener/Client: a server with a thread per client answers in upper case
/* An exercise: a socket server with one thread per connection,
   which prints what each client sends and answers it in upper case.

       s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
       s.bind(('127.0.0.1', 8080)); s.listen(5)
       def action(conn):
           while True:
               data = conn.recv(1024)
               print(data)
               conn.send(data.upper())
       while True:
           conn, addr = s.accept()
           threading.Thread(target=action, args=(conn,)).start()

   Here the sockets are multiprocessing.connection's Listener and Client,
   so every message keeps its boundaries and the handshake checks an
   authkey. The port is any free one, and instead of reading a keyboard
   three clients each send two lines, so the program ends by itself. */
#define PYCONC_IMPLEMENTATION
#define PYCONC_PROCESS_IMPLEMENTATION
#include "pyconc_process.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>

#define CLIENTS 3
static const char authkey[] = "example key";
static char address[128];

// The server's thread for one connection: print, answer in upper case,
// until the client closes its end.
static int action(void *arg) {
    pc_connection *conn = (pc_connection *)arg;
    void *data;
    size_t n;
    while (pc_connection_recv_bytes(conn, 1024, &data, &n) == PC_OK) {
        char *s = (char *)data;
        printf("server got: b'%.*s'\n", (int)n, s);
        for (size_t i = 0; i < n; i++) s[i] = (char)toupper((unsigned char)s[i]);
        pc_connection_send_bytes(conn, s, 0, n);
        pc_connection_bytes_free(data);
    }
    pc_connection_free(conn);
    return 0;
}

static int client(void *arg) {
    int id = (int)(intptr_t)arg;
    pc_connection *conn = NULL;
    pc_client_desc d = { .address = address, .authkey = authkey,
                         .authkey_size = sizeof authkey - 1 };
    if (pc_client(&d, &conn) != PC_OK) return pc_raise(PC_OS, "%s", pc_last_error());
    for (int line = 1; line <= 2; line++) {
        char msg[64];
        void *reply;
        size_t n;
        snprintf(msg, sizeof msg, "hello %d from client %d", line, id);
        pc_connection_send_bytes(conn, msg, 0, strlen(msg));
        if (pc_connection_recv_bytes(conn, 0, &reply, &n) == PC_OK) {
            printf("client %d got: b'%.*s'\n", id, (int)n, (char *)reply);
            pc_connection_bytes_free(reply);
        }
    }
    pc_connection_free(conn);
    return 0;
}

int main(void) {
    pc_listener *s = pc_listener_new(&(pc_listener_desc){
        .address = "127.0.0.1:0", .backlog = 5, .authkey = authkey,
        .authkey_size = sizeof authkey - 1 });
    if (!s) {
        fprintf(stderr, "listen: %s\n", pc_last_error());
        return 1;
    }
    snprintf(address, sizeof address, "%s", pc_listener_address(s));
    printf("listening on %s\n", address);

    pc_thread *clients[CLIENTS], *servers[CLIENTS];
    for (int i = 0; i < CLIENTS; i++) {
        clients[i] = pc_thread_new(&(pc_thread_desc){ .target = client,
                                                      .arg = (void *)(intptr_t)(i + 1) });
        pc_thread_start(clients[i]);
    }
    for (int i = 0; i < CLIENTS; i++) {     // the Python accept loop, bounded
        pc_connection *conn = NULL;
        if (pc_listener_accept(s, &conn) != PC_OK) {
            fprintf(stderr, "accept: %s\n", pc_last_error());
            return 1;
        }
        printf("accepted a connection from %s\n", pc_listener_last_accepted(s));
        servers[i] = pc_thread_new(&(pc_thread_desc){ .target = action, .arg = conn });
        pc_thread_start(servers[i]);
    }
    int failed = 0;
    for (int i = 0; i < CLIENTS; i++) {
        pc_thread_join(clients[i], PC_FOREVER);
        failed |= pc_thread_exitcode(clients[i]);
        pc_thread_join(servers[i], PC_FOREVER);
        pc_thread_free(clients[i]);
        pc_thread_free(servers[i]);
    }
    pc_listener_free(s);
    return failed != 0;
}

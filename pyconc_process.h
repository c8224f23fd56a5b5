/* pyconc_process.h - v0.1.0 - Python's multiprocessing for C: processes and connections.

   Do this:
       #define PYCONC_PROCESS_IMPLEMENTATION
   before you include this file in *one* C or C++ file to create the
   implementation (pyconc.h's implementation must be somewhere in the
   program too; PYCONC_ALL_IMPLEMENTATION switches on both). Include it
   there before any system header (it asks for _GNU_SOURCE), or compile that
   file with -D_GNU_SOURCE; otherwise it stops with an #error that says so.

       // in exactly one file
       #define PYCONC_IMPLEMENTATION
       #define PYCONC_PROCESS_IMPLEMENTATION
       #include "pyconc_process.h"

   Link with -pthread (and -ldl on glibc older than 2.34).

   LICENSE: at the end of this file.

   TABLE OF CONTENTS
   =================
   A. FOUNDATION   internal: the OS layer (every system call), descriptor
                   passing, a byte buffer, random bytes, MD5/SHA-256 HMAC
   B. CONNECTIONS  multiprocessing.connection: Pipe, Connection, wait,
                   Listener and Client, the authkey handshake, argument packs
   C. PROCESSES    multiprocessing's Process: start methods and contexts,
                   fork, spawn and its bootstrap, the forkserver
   D. SHARED STATE Lock, RLock, Semaphore, Condition, Event, Barrier shared
                   between processes (robust), Value and Array, SharedMemory
   E. QUEUES       multiprocessing's Queue, SimpleQueue, JoinableQueue: a
                   ring in shared memory
   F. POOLS        concurrent.futures.ProcessPoolExecutor (a pc_executor of
                   pyconc_futures.h, which this header includes);
                   multiprocessing.Pool and ThreadPool over it
   G. MPI          mpi4py.futures' MPICommExecutor: a pc_executor whose tasks
                   run on the other MPI ranks (only with PYCONC_MPI)
   I. MANAGER      multiprocessing's SyncManager: a server process holding
                   dicts and lists, proxies to them (pc_manager_*, pc_proxy_*);
                   Namespace, Value, Array, set, nested proxies, register()
   H. ENTRY        the program's way in: the spawn bootstrap's entry point
   A part uses only the parts above it (and pyconc.h). Its declarations
   follow the marker `// >>X.api`, its code the markers `// >>X.<name>`
   (grep for "// >>" to see them all); the OS is called only from the
   sections `// >>A.posix*`.

   CONFIGURATION
   =============
   PYCONC_PROCESS_IMPLEMENTATION   default: undefined. Compile the
                           implementation into this file.
   PYCONC_ALL_IMPLEMENTATION       default: undefined. The implementation
                           of pyconc.h and of every pyconc header included.
   PYCONC_MPI              default: undefined. Part G, the MPI executor
                           (includes <mpi.h>; link with MPI, CMake's
                           MPI::MPI_C). See docs/mpi.md.
   PYCONC_PROCESS_NO_CONSTRUCTOR   default: undefined. Do not run the spawn
                           bootstrap from a constructor; main() must then
                           call pc_process_bootstrap(argc, argv) first thing.
   PYCONC_MANAGER_MAX_REQUEST      default: 64 MiB. The longest request a
                           manager's server reads; a longer one is read
                           past (never held) and answered PC_VALUE.
   Everything pyconc.h accepts (PYCONC_STATIC, PYCONC_API, PYCONC_MALLOC ...).
   What the platform offers is detected, not configured: see A. FOUNDATION.

   A. FOUNDATION
   =============
   Internal: nothing here is public API. The OS layer (A.posix) holds every
   system call of the header, each behind a small pc__p_os_* helper that
   retries EINTR where the call can be resumed and keeps errno for the
   caller's message; descriptor passing with SCM_RIGHTS is its second
   section (A.posix-fdpass). What differs between systems is decided once,
   in A.impl, as feature macros that are 0 or 1. Above the OS layer: a
   growable byte buffer (the bootstrap message and the argument pack are
   flat byte strings), the kernel's random bytes, and MD5 and SHA-256 with
   their HMACs, as the authkey handshake needs them.

   B. CONNECTIONS
   ==============
       Python                                   C
       a, b = Pipe()                            pc_pipe(1, &a, &b)
       r, w = Pipe(duplex=False)                pc_pipe(0, &r, &w)
       c.send_bytes(buf, off, n)                pc_connection_send_bytes(c, buf, off, n)
       c.recv_bytes(maxlength)                  pc_connection_recv_bytes(c, max, &buf, &n)
       c.recv_bytes_into(buf, off)              pc_connection_recv_bytes_into(c, buf, cap, off, &n)
       c.poll(timeout)                          pc_connection_poll(c, timeout) == PC_OK
       c.send(args), c.recv()                   pc_connection_send_args(c, pack),
                                                pc_connection_recv_args(c, &pack)
       c.fileno(), c.close()                    pc_connection_fileno(c), pc_connection_close(c)
       c.closed, c.readable, c.writable         pc_connection_closed(c), ..._readable, ..._writable
       connection.wait(objs, timeout)           pc_connection_wait(objs, n, timeout, &nready)
       Listener(addr, family, backlog, authkey) pc_listener_new(&desc)
       l.accept(), l.close()                    pc_listener_accept(l, &c), pc_listener_close(l)
       l.address, l.last_accepted               pc_listener_address(l), pc_listener_last_accepted(l)
       Client(addr, family, authkey)            pc_client(&desc, &c)
       deliver_challenge / answer_challenge     pc_connection_deliver_challenge / _answer_challenge

   Messages are framed as Python's multiprocessing.connection frames them:
   a 4-byte big-endian signed length, or for messages over 2**31-1 bytes
   the length -1 (0xFFFFFFFF) followed by an 8-byte big-endian length. The
   authkey handshake is Python's too (HMAC challenge and response, the
   "{sha256}" form of 3.12+, the bare HMAC-MD5 of older versions), so a
   pyconc program and a Python one talk over a Listener/Client socket.

   A complete program (an authenticated echo over TCP):

       #define PYCONC_IMPLEMENTATION
       #define PYCONC_PROCESS_IMPLEMENTATION
       #include "pyconc_process.h"
       #include <stdio.h>

       static char address[128];

       static int client(void *arg) {
           pc_connection *c;
           void *reply;
           size_t n;
           (void)arg;
           pc_client_desc d = {.address = address, .authkey = "key", .authkey_size = 3};
           if (pc_client(&d, &c) != PC_OK) return 1;
           pc_connection_send_bytes(c, "ping", 0, 4);
           if (pc_connection_recv_bytes(c, 0, &reply, &n) == PC_OK) {
               printf("%.*s\n", (int)n, (char *)reply);
               pc_connection_bytes_free(reply);
           }
           pc_connection_free(c);
           return 0;
       }

       int main(void) {
           pc_listener_desc d = {.address = "127.0.0.1:0", .authkey = "key", .authkey_size = 3};
           pc_listener *l = pc_listener_new(&d);
           if (!l) return 1;
           snprintf(address, sizeof address, "%s", pc_listener_address(l));
           pc_thread_desc td = {.target = client};
           pc_thread *t = pc_thread_new(&td);
           pc_thread_start(t);
           pc_connection *c;
           void *msg;
           size_t n;
           if (pc_listener_accept(l, &c) == PC_OK &&
               pc_connection_recv_bytes(c, 0, &msg, &n) == PC_OK) {
               pc_connection_send_bytes(c, "pong", 0, 4);
               pc_connection_bytes_free(msg);
               pc_connection_free(c);
           }
           pc_thread_join(t, PC_FOREVER);
           pc_thread_free(t);
           pc_listener_free(l);
           return 0;
       }

   LISTENER AND CLIENT
   -------------------
   Addresses are text, as pc_listener_address prints them: "host:port"
   (IPv4; port 0 takes any free one), "[v6addr]:port", "/path" (a socket
   file) and "@name" (Linux's abstract namespace); the family follows from
   the address unless the desc names one. Without an address a Listener
   makes a socket file in a fresh directory of mode 0700 (no other user
   can connect, whatever the umask); close removes both. With an authkey
   each accept challenges the client and then answers its challenge, and
   pc_client does the same the other way round.

   THREAD SAFETY
   -------------
   One thread may send while another receives on the same connection (as
   with a socket). Two concurrent senders (or receivers) on one connection
   interleave partial messages, as in Python; closing a connection while
   another thread uses it is a bug. Listener: accept may run in several
   threads; pc_listener_close from any thread wakes them, those inside
   the authkey handshake everywhere, those waiting in accept(2) on Linux;
   last_accepted is the latest accept's peer.

   ERRORS
   ------
   PC_EOF: the peer closed between messages (Python's EOFError). PC_OS
   (errno kept): a closed connection (EBADF), a dead peer (EPIPE; never
   SIGPIPE, on pipes too), a message over maxlength (EMSGSIZE), a bad frame
   header (EPROTO) or end of file inside a message (EIO); after the last
   three the connection no longer reads. PC_AUTH: the handshake failed on
   either side (wrong key, bad reply, refused; on a Listener also a client
   that did not finish it within handshake_timeout). PC_VALUE: NULL or
   contradictory arguments, the wrong direction, a buffer too short
   (Python's BufferTooShort; the message is kept for the next receive), a
   TCP port past 65535 (Python's OverflowError).

   BEYOND PYTHON
   -------------
   - A forged length header costs no memory: a receive buffer grows as the
     bytes really arrive, so 12 bytes announcing 2**62 are an error, not an
     allocation. It grows by realloc (PYCONC_REALLOC), so a huge message
     is held once: receiving 512 MiB raises the peak RSS by 512 MiB.
   - recv_bytes_into with a short buffer keeps the message: it is not lost
     in an exception, the next receive returns it.
   - Writing to a pipe whose reader is gone is PC_OS/EPIPE, not a SIGPIPE
     that kills the program (Python ignores SIGPIPE at start-up; C does not).
   - A malformed header is an error; Python reads a negative 4-byte length
     as an empty message and loses step with the stream.
   - TCP connections set TCP_NODELAY; every message is one write anyway.
   - A small message is one read, not two: a receive reads its frame
     header together with what follows (up to 1 KiB: a short body, the
     next messages) and keeps the rest for the next receive, with the
     descriptors that came with it (argument packs). pc_connection_poll
     and pc_connection_wait see what is kept; a poll(2) of the fileno
     does not. A connection that holds bytes read ahead cannot go into an
     argument pack (PC_VALUE when the pack is used): only its descriptor
     would travel, and those bytes would be lost.
   - "@name" addresses the Linux abstract namespace (Python: "\0name").
   - A Listener with an authkey gives each client handshake_timeout (5 s
     by default) to finish the handshake, so one silent client cannot
     stop it serving the others; Python's accept waits for it forever.

   C. PROCESSES
   ============
   multiprocessing's Process and module functions, named by pyconc's rule:

       Python                                   C
       p = Process(target=f, args=(x,))         p = pc_process_new(&(pc_process_desc){
                                                        .target = f, .args = pack })
       p.start(); p.join(timeout)               pc_process_start(p); pc_process_join(p, t)
       p.exitcode, p.pid, p.sentinel            pc_process_exitcode(p), _pid(p), _sentinel(p)
       p.terminate(), kill(), interrupt()       pc_process_terminate(p), _kill(p), _interrupt(p)
       p.close()                                pc_process_close(p)
       current_process(), parent_process()      pc_process_current(), pc_process_parent()
       active_children()                        pc_process_active_children(out, cap)
       set_start_method('spawn')                pc_set_start_method(PC_START_SPAWN, 0)
       get_context('fork').Process(...)         .context = pc_get_context(PC_START_FORK)
       get_start_method(allow_none=True)        pc_get_start_method_allow_none()
       set_executable(path)                     pc_set_executable(path)
       set_forkserver_preload(names, on_error)  pc_set_forkserver_preload(
                                                    &(pc_forkserver_preload_desc){
                                                        .libraries = paths, .nlibraries = n,
                                                        .functions = fns, .nfunctions = m })
       log_to_stderr(logging.DEBUG)             pc_log_to_stderr(PC_LOG_DEBUG)
       get_logger().addHandler(h)               pc_logger_set_handler(pc_get_logger(), fn, ctx)

   A target is `int f(void *arg)`; its return value is the child's exit
   code. Arguments cross to the child by copy: a byte blob (arg + arg_size),
   or an argument pack (pc_args: ints, doubles, bytes, strings,
   connections) that the target reads back with pc_args_get_*. With the
   fork method only, arg_size 0 passes the pointer itself.

   A complete program (hello bob, in a child):

       #define PYCONC_ALL_IMPLEMENTATION
       #include "pyconc_process.h"
       #include <stdio.h>

       static int f(void *arg) {
           const char *name;
           pc_args_get_str((pc_args *)arg, 0, &name);
           printf("hello %s\n", name);
           return 0;
       }

       int main(void) {
           pc_args *args = pc_args_new();
           pc_args_add_str(args, "bob");
           pc_process_desc desc = {0};
           desc.target = f;
           desc.args = args;
           pc_process *p = pc_process_new(&desc);
           pc_args_free(args);                // the process keeps a copy
           pc_process_start(p);
           pc_process_join(p, PC_FOREVER);
           int code = pc_process_exitcode(p);
           pc_process_free(p);
           return code;
       }

   START METHODS
   -------------
   fork        fork(); the child runs the target and _exit()s. Cheapest;
               the child inherits everything (memory, every descriptor).
               Forking while other threads run is allowed, as in Python,
               but dangerous: a lock another thread held (inside malloc,
               stdio, your own code) stays locked forever in the child.
               As Python 3.12 does, the first such fork of a process
               warns on the logger (stderr by default; the threads are
               pyconc.h's, threading.active_count);
               pc_set_fork_warning(0) silences it.
   spawn       posix_spawn of the program itself (/proc/self/exe) with only
               descriptors 0, 1, 2 and a bootstrap socket. The library's
               bootstrap (a constructor, or pc_process_bootstrap()) sees it
               is a pyconc child before main(), receives target, arguments
               and descriptors over the socket, runs the target and exits.
               Constructors of the program have run, main() never does.
               pc_set_executable(path) names another program to run
               (Python's set_executable), for spawn and new forkservers.
   forkserver  (default on Linux, as Python 3.14) a single-threaded server,
               spawned once, forks each child on request. Requests go on
               a private socketpair that only the server inherits
               (a fork of the program shares it, as it shares the key),
               authenticated once when the server starts with Python's
               HMAC challenge and response both ways, keyed by the
               authkey the program had then (a failed handshake: the
               server exits, PC_AUTH, no child); each request is then one
               record carrying its sockets with SCM_RIGHTS. A server
               may preload (pc_set_forkserver_preload): after the
               handshake it loads libraries and runs functions once, so
               its children start warm.
   Functions cross spawn and forkserver as (loaded object, offset) pairs,
   so every function of the program, static ones included, works as a
   target without registration; a pointer outside every loaded object is
   PC_VALUE at start.

   TRUST
   -----
   Every program that compiles the implementation looks, before main, for
   PYCONC_PROCESS_FD=3 in its environment; a spawned child then takes its
   target, arguments and descriptors from the socket on descriptor 3.
   What it trusts, and why:
   - The sender. Before reading a byte it checks that descriptor 3 is a
     unix socket (stream; the forkserver's is seqpacket) whose peer, the
     process that made the socketpair (SO_PEERCRED; off Linux getpeereid,
     which tells the user and group, and LOCAL_PEERPID where it exists),
     is its own parent running as its own user and group: the process
     that spawned it, the same program. Anything else is refused (a line
     on stderr, exit 1), whoever set the variable. Forkserver children
     are forked by the server itself and read the socket it was handed
     with the request.
   - The code. The parent names only objects it has loaded: the main
     program, or a shared object it loaded, by the path the loader
     reports. A child that has not loaded that object loads it only by
     absolute path, and only if the file there is still the one the parent
     found (same device and inode); otherwise it exits 1 without loading
     it.
   - Set-user-ID programs. A set-user-ID, set-group-ID or file-capability
     program (secure execution: getauxval(AT_SECURE), or real and
     effective ids that differ) is run with an environment and
     descriptors that a less privileged user chose. It never runs the
     bootstrap: the variable is ignored and removed (its children do not
     see it), main runs as usual, and nothing is loaded on a message's
     word. Its own spawn and forkserver starts are PC_RUNTIME (their child
     would be a secure process too and refuse its bootstrap), as they are
     in any process whose effective ids differ from its real ones: such a
     program uses fork, e.g. pc_set_start_method(PC_START_FORK, 1).

   THREAD SAFETY
   -------------
   Every function may be called from any thread. One process object may be
   joined, polled and signalled from several threads at once; close and free
   it from one thread once the others are done with it.

   ERRORS
   ------
   Fallible calls return PC_OK or a PC_* code and leave a message in
   pc_last_error(). A start that fails (exec failure, fork EAGAIN, out of
   descriptors) is PC_OS with errno kept, reported synchronously, and leaves
   no zombie and no descriptor behind.

   BEYOND PYTHON
   -------------
   Sentinels are pidfds where the kernel has them (a pipe otherwise; a
   forkserver child's is the server's status socket, as Python's), and
   signals go through pidfds, for forkserver children too. Every
   descriptor the library makes is close-on-exec; spawn and forkserver
   children get only the descriptors they need. Process.interrupt (3.14) is
   here. A forkserver that died (killed, say) is reaped and started again
   by the next start, which succeeds even when its request went to the
   server as it died (Python's fails), unless the server had forked for
   it already (its target would run twice: the start fails then); a live
   server that refused a request is not asked again.

   D. SHARED STATE
   ===============
   multiprocessing's synchronisation primitives, shared ctypes and shared
   memory, named by pyconc's rule (shared variants take mp_):

       Python                                   C
       Lock(), RLock()                          pc_mp_lock_new(), pc_mp_rlock_new()
       l.acquire(timeout=t), l.release()        pc_mp_lock_acquire(l, t), _release(l)
       Semaphore(n), BoundedSemaphore(n)        pc_mp_semaphore_new(n),
                                                pc_mp_bounded_semaphore_new(n)
       s.get_value()                            pc_mp_semaphore_get_value(s)
       Condition(lock), Condition()             pc_mp_condition_new(lock, NULL), (NULL, NULL)
       c.wait(t), c.wait_for(p, t), c.notify(n) pc_mp_condition_wait(c, t), _wait_for, _notify(c, n)
       Event()  e.set() e.wait(t)               pc_mp_event_new(), _set(e), _wait(e, t)
       Barrier(n, action, timeout)              pc_mp_barrier_new(n, action, timeout)
       Process(target=f, args=(lock,))          pc_args_add_mp_lock(pack, lock) ...
                                                child: pc_args_get_mp_lock(pack, 0, &lock)

   Each object is a shared mapping of its own: an anonymous memfd, so
   there is no name to leak and nothing to clean up; it is gone with its
   last holder. It crosses to a child in an argument pack under fork,
   spawn and forkserver alike (its descriptor travels and the child maps
   the same memory; nothing inside holds a pointer), or over a unix
   connection with pc_connection_send_args; a fork child may also use the
   parent's handles as they are. Any thread of any holder may use it.

   Locks are process-shared robust pthread mutexes (glibc keeps each
   thread's robust list, so only those can be): a holder that dies makes
   the next acquire return PC_OWNER_DEAD, holding the lock; repair the
   state and call pc_mp_lock_consistent, or the lock is PC_BROKEN for
   everyone after its release. Python's hang for ever instead. A shared
   lock belongs to the thread that took it: another thread's release is
   PC_RUNTIME (Python's Lock lets any process release it; a lock without an
   owner could not be found dead). Every wait (Condition, Semaphore, Event,
   Barrier) sleeps on a futex word in the mapping through pyconc.h's event
   count, never on a pthread_cond_t: a waiter killed inside pthread_cond_wait
   stalls later broadcasts of a process-shared one (glibc bug 21422); here a
   waiter that dies takes nothing with it. A Barrier watches the processes
   that hold it (its creator, the children started with it, the receivers
   of a pack holding it; 64 at most): one that ends without freeing its
   handle breaks the barrier for the waiters within about 10 ms, with no
   timeout set. Condition.wait may wake spuriously (wait in a loop, or use
   wait_for). Wait deadlines are on the monotonic clock.

   Value and Array: see `// Value and Array` in the declarations for the
   whole table. Their default lock is a recursive lock in their own
   memory; pc_mp_value_add_int64 is the safe `v.value += 1` across
   processes.

   SharedMemory
   ------------
       Python                                   C
       SharedMemory(create=True, size=n)        pc_shared_memory_new(&(pc_shared_memory_desc){
                                                        .create = 1, .size = n })
       SharedMemory(name)                       ... .name = name }   (attach)
       SharedMemory(..., track=False)           ... .untracked = 1 }
       shm.buf, shm.size, shm.name              pc_shared_memory_buf(m), _size(m), _name(m)
       shm.close(), shm.unlink()                pc_shared_memory_close(m), _unlink(m)
   A named block is a POSIX shared memory object under Python's names
   ("psm_" and 8 hex digits unless named; shm_open of "/name", mode 0600,
   created exclusively), its bytes the user's from offset 0: Python's
   SharedMemory(name) attaches to a block made here and back. Beyond
   Python: .anonymous = 1 makes a nameless block (a memfd) that crosses to
   children in argument packs only and is gone with its last holder. Both
   kinds cross in packs (pc_args_add_shared_memory) under fork, spawn and
   forkserver: the descriptor travels, so the child maps the same memory.
   Tracking (track=True, the default) is a reaper per program, not
   Python's resource tracker: on the first tracked create the program
   forks a small helper (a grandchild: never its zombie) that keeps only a
   socket, whose other end this program and its fork children hold. The
   program tells it "track" on create and "untrack" on unlink; when the
   last holder of its end exits, even by SIGKILL, the reaper reads end of
   file, unlinks the names still tracked (a line on stderr for each, as
   Python's tracker warns) and exits. Spawned and forkserver children are
   programs of their own, each with its own reaper. Attaching never tracks
   (Python 3.12 and older unlink a block at the exit of any process that
   merely attached to it). An untracked block is never unlinked for you.
   ShareableList (pc_shareable_list_new) is Python's, in Python's bytes:
   a list made here attaches with ShareableList(name=...) and back; its
   items int64, double, bool, str, bytes and None, stored by Python's
   rules (any kind in any slot; a str or bytes no longer than its slot).
   A block that is not a ShareableList is PC_VALUE, never read blindly.
   SharedMemoryManager (pc_shared_memory_manager_start) lives in the
   process that starts it (Python's is a server process): shutdown
   unlinks the blocks made through it; they are tracked, so the reaper
   unlinks them too if the program is killed first.

   E. QUEUES
   =========
   multiprocessing.Queue, SimpleQueue and JoinableQueue as a ring in
   shared memory (an anonymous memfd) under a robust process-shared
   mutex: no pipe and no feeder thread, so an item is in the queue when
   put returns, a putter may exit at once without losing it, and joining
   a process that put items nobody read never deadlocks. A process killed
   inside put or get loses no committed item and delivers none twice (each
   operation commits with one store; the next locker finishes or forgets
   a half-done one). A getter blocked on an empty queue whose producers
   all ended, one of them still holding the queue (killed), gets
   PC_BROKEN within 50 ms; so does a putter blocked on a full queue
   whose consumers all ended so, and a join whose tasks a dead consumer
   took and never marked done. Shared memory is fixed in size: "unbounded"
   means a capacity of 1024 items (fewer for big messages: 64 MiB of
   ring). Beyond Python: LIFO and PRIORITY order (an int64 key) across
   processes, and shutdown(immediate) with queue.Queue 3.13's rules. A
   pack put on a FIFO queue may hold connections and shared objects:
   their descriptors go beside it on a SOCK_SEQPACKET pair the queue
   carries, in ring order, and deaths lose or misdeliver none.
   docs/mp_queue.md has the details and the figures.

       Python                                   C
       q = Queue(maxsize)                       q = pc_mp_queue_new(&(pc_mp_queue_desc){
                                                        .maxsize = n, .item_size = sizeof x})
       Queue() of any objects                   pc_mp_queue_new(NULL) (messages and packs)
       SimpleQueue(), JoinableQueue()           .simple = 1, .joinable = 1
       Process(target=f, args=(q,))             pc_args_add_mp_queue(args, q)
       q.put(x, block, timeout)                 pc_mp_queue_put(q, &x, timeout)
       q.get(block, timeout)                    pc_mp_queue_get(q, &x, timeout)
       q.put_nowait(x), q.get_nowait()          pc_mp_queue_put_nowait(q, &x), _get_nowait(q, &x)
       q.put(b'bytes'), q.get()                 pc_mp_queue_put_bytes(q, p, n, t), _get_bytes(...)
       q.put([42, 'hello']), q.get()            pc_mp_queue_put_args(q, pack, t), _get_args(...)
       q.qsize(), q.empty(), q.full()           pc_mp_queue_qsize(q), _empty(q), _full(q)
       q.close(), q.join_thread()               pc_mp_queue_close(q), _join_thread(q)
       q.cancel_join_thread()                   pc_mp_queue_cancel_join_thread(q)
       q.task_done(), q.join()                  pc_mp_queue_task_done(q), _join(q)
       queue.Queue.shutdown(immediate) (3.13)   pc_mp_queue_shutdown(q, immediate)
       queue.Empty, Full, ShutDown              PC_EMPTY, PC_FULL, PC_SHUTDOWN
       (none: PriorityQueue across processes)   .kind = PC_MP_QUEUE_PRIORITY, put_key(q, k, ...)

   F. POOLS
   ========
   ProcessPoolExecutor is pc_process_pool_new: a pc_executor, so every
   pc_executor_* call, pc_executor_map, pc_futures_wait and as_completed
   work on it as on a thread pool. It is part F of this header (not of
   pyconc_futures.h) because it is built on parts A..E's internals (the
   function references of C, the shared slots of D, the OS layer); this
   header includes pyconc_futures.h for the interface. Its implementation
   is compiled where both implementations are (PYCONC_ALL_IMPLEMENTATION,
   or PYCONC_PROCESS_IMPLEMENTATION and PYCONC_FUTURES_IMPLEMENTATION in
   the same file); elsewhere pc_process_pool_new is left undefined.

       Python                                   C
       ProcessPoolExecutor(max_workers=4)       pc_process_pool_new(&(pc_process_pool_desc){
                                                        .max_workers = 4 })
       ... mp_context=get_context('spawn')      .mp_context = pc_get_context(PC_START_SPAWN)
       ... initializer=f, initargs=(x,)         .initializer = f, .initargs = pack
       ... max_tasks_per_child=n                .max_tasks_per_child = n
       ex.terminate_workers(), kill_workers()   pc_process_pool_terminate_workers(ex), ...
       BrokenProcessPool                        PC_BROKEN

   THE TASK CONVENTION (the same for every process executor)
   - A task is a pc_task_fn `void *fn(void *arg)`, any function of the
     program, static ones included: it crosses to a worker as a process
     target does (C.funcref) under fork, spawn and forkserver.
   - Arguments cross by copy. pc_executor_submit_copy(ex, fn, arg, size)
     copies size bytes; the worker's fn gets a pointer to its copy.
     pc_executor_submit(ex, fn, arg) passes the pointer's VALUE, as an
     integer: meaningful for `(void *)(intptr_t)n`, or, under fork, for
     memory the worker inherited as it was when it started.
   - Results cross by copy. desc.result_size 0: the returned pointer
     crosses as an integer (`return (void *)(intptr_t)x` works as on a
     thread pool). > 0: result_size bytes at the returned pointer are
     copied back as soon as fn returns and the future's result points at
     that copy, which the future owns (NULL stays NULL).
   - A task that raises (pc_raise) crosses as code and message:
     pc_future_result returns the code, pc_last_error has the message.
   - pc_executor_map over fixed-size items works unchanged: a chunk's
     items travel by copy and its results come back together (item_size
     0 items are pointer values, as for submit).
   A program moves from pc_thread_pool_new to pc_process_pool_new by
   changing the constructor, when its tasks follow these rules.

   WORKERS
   Each worker has a "running task" slot in shared memory that it writes
   itself, a duplex pipe, and (on Linux) one shared mapping of two rings:
   tasks in, results out, each index written by one side only. submit
   pushes a task onto the pool's intake, a stack with no lock; whoever
   holds the pool's lock next (submit itself when it is free) queues it
   and writes queued tasks into the rings of workers with room in their
   window (1 + prefetch tasks); the others wait in the pool and whoever
   collects pushes them as results come back. Records cross in
   batches: one store shows the consumer all the records written under
   one lock (or read in place). A worker spins
   briefly on its ring, then sleeps on its futex word; the collector
   drains every ready result, then sleeps on one shared event count the
   workers bump only when it sleeps. While it sleeps, a thread waiting on
   a future (result, exception) drains the results itself, so a reply
   wakes that thread straight; done callbacks of the futures it settles
   then run in it. A small task's submit allocates nothing: its future
   comes from a cache with the task's record behind it, and its message
   is written into the ring from its parts when it is sent.
   A watcher thread polls the workers'
   sentinels, so a death is seen at once and an idle pool makes no system
   call. A message over half a ring (128 KiB) goes over the pipe,
   announced in the ring (a feeder thread sends the pool's, so a full pipe
   to a busy worker never stops submit or the results). Without a futex
   (PYCONC_NO_FUTEX, or off Linux) every message goes over the pipes. A
   worker whose pool's process is gone ends within a second. Workers are
   daemonic: shut the pool down (or free it) before the program ends, or
   its workers are terminated at exit. A worker replaced is logged at
   PC_LOG_INFO on pc_get_logger(), with both pids.

   BEYOND PYTHON
   - A worker that dies (SIGKILL, a crash, exit() in a task) fails exactly
     the task it was running, with PC_BROKEN and a message naming its pid
     and signal or exit code; the tasks sent to it and not started run on
     the worker that replaces it, and the pool goes on. Python breaks the
     whole executor. PC_BROKEN for the pool itself is kept for a failed
     initializer or workers that cannot start.
   - A worker that ends by max_tasks_per_child with tasks sent to it never
     hangs the pool: they go to its replacement (Python: gh-115634).
   - prefetch sets how many tasks wait in each worker's ring; 0 (the
     default) follows the tasks' run time: about 100 us of tasks, 1 while
     tasks are long, up to 1024 while they take 100 ns.

   - Pool: a worker killed in a task fails that task's AsyncResult (or
     its imap item) with PC_BROKEN, pid and signal in the message, and
     the Pool goes on; Python's Pool waits forever (gh-96062).
     terminate fails what was running (PC_BROKEN) and cancels what was
     queued (PC_CANCELLED), where Python's results never become ready.

   LIMITS
   - pc_executor_free waits for the queued tasks, also after
     shutdown(wait=0).

   MULTIPROCESSING.POOL (pc_pool_*)
   Built on the executors: a pc_pool owns a process pool (or, with
   .threads = 1, a thread pool: multiprocessing.pool.ThreadPool, the same
   calls) and each call's items, copied, become chunks, each one task of
   the executor. Tasks follow the convention above; pc_pool_desc's
   result_size decides how results come back (by copy on threads too).

       Python                                   C
       Pool(4, init, (x,), 10, ctx)             pc_pool_new(&(pc_pool_desc){ .processes = 4,
                                                    .initializer = init, .initargs = pack,
                                                    .maxtasksperchild = 10, .context = ctx })
       ThreadPool(4)                            pc_pool_new(&(pc_pool_desc){ .processes = 4,
                                                    .threads = 1 })
       p.apply(f, (x,))                         pc_pool_apply(p, f, &x, sizeof x, &out)
       p.apply_async(f, (x,), callback=c,       pc_pool_apply_async(p, f, &x, sizeof x,
           error_callback=e)                        &(pc_pool_callbacks){c, e, ctx}, &ar)
       p.map(f, xs, chunksize)                  pc_pool_map(p, f, &(pc_map_desc){ .items = xs,
                                                    .count = n, .item_size = sizeof *xs }, out)
       p.map_async(f, xs)                       pc_pool_map_async(p, f, &desc, NULL, &ar)
       p.imap(f, xs), p.imap_unordered(f, xs)   pc_pool_imap(p, f, &desc, &it), _unordered
       next(it) / it.next(timeout)              pc_imap_iterator_next(it, timeout, &r)
       p.starmap(f, [(1, 2), (3, 4)])           pc_pool_starmap(p, f, packs, 2, 0, out)
       p.close(), p.terminate(), p.join()       pc_pool_close(p), _terminate(p), _join(p)
       with Pool() as p: ...                    pc_pool_free(p) (terminates a running pool)
       r.get(timeout), r.wait(timeout)          pc_async_result_get(r, t, &v), _wait(r, t)
       r.ready(), r.successful()                pc_async_result_ready(r), _successful(r, &ok)

   - A map's callback gets a `void **` array of its results; callbacks run
     in the executor's collecting thread before the result is ready.
   - A map's result is ready once every chunk has finished (Python's is
     ready at the first failure while the rest still run).
   - starmap's packs hold values only (int, double, bytes, str); each task
     gets the worker's copy of its pack as a `const pc_args *`.
   - imap: a task that raises gives its code once; the items after it in
     its chunk are skipped and the iteration goes on.
   - maxtasksperchild works under fork too, as in Python (the executor's
     max_tasks_per_child refuses fork, as Python's does).
   - initargs are copied at pc_pool_new / pc_process_pool_new (a pack of
     the pool's own: connections and shared objects are duplicated), so
     the caller may free its pack at once.

   G. MPI
   ======
   With PYCONC_MPI (and <mpi.h>), pc_mpi_comm_executor_new is
   mpi4py.futures' MPICommExecutor: called on every rank, it returns the
   executor on the root rank, and on the others serves tasks until root
   shuts down, then returns NULL (pc_last_error_code() PC_OK). Tasks
   follow F's convention (functions as object + offset, every rank runs
   the same program; arguments, map items and results by copy); a serving
   rank runs them in a node-local process pool, so a crash fails only its
   future (desc.no_isolation: on the rank's own threads instead, cheaper,
   but a crash ends the job). Root sends within a credit per rank and
   polls for replies (Open MPI's blocking calls spin): a thread that waits
   on a task's future (result, exception) makes the MPI calls itself, so
   a reply ends its future in it; otherwise root's progress thread does
   (one thread at a time). Within 200 us of the last message a poller only
   yields between looks while fewer tasks than ranks are out (a round
   trip's wait), else it naps: 20 us within 1 ms, then growing to 1 ms and
   to a 20th of the quiet time (at most 10 ms); with nothing in flight the
   progress thread sleeps. A serving rank polls the same way (yielding
   only with no task of its own running; waiting on its pool's future
   while one runs, from the moment it hands a task to the pool). Its
   pool's workers sleep as soon as they run dry, without the process
   pool's look for a next task: on shared cores that look holds the CPU
   the rank's thread needs to send their replies on.
   pc_mpi_pool_executor_new is mpi4py's MPIPoolExecutor: it spawns its
   workers (MPI_Comm_spawn of this program, which finds its parent in the
   call, serves, and exits) and serves them the same way. docs/mpi.md has the rest.

   I. MANAGER
   ==========
   pc_manager_new starts a server process (daemonic, with the context
   given) that holds dicts and lists; pc_proxy_* calls reach them, each a
   request and its reply (argument packs) over the calling thread's own
   connection for the proxy, with the authkey handshake. docs/manager.md has the rest.

       Python                                   C
       m = Manager()                            m = pc_manager_new(NULL)
       SyncManager(addr, authkey, ctx).start()  pc_manager_new(&(pc_manager_desc){...})
       BaseManager(addr, authkey).connect()     pc_manager_connect(&desc)
       m.address, m.shutdown()                  pc_manager_address(m), pc_manager_shutdown(m)
       m.start(initializer, initargs)           desc.initializer, desc.initargs (a pack)
       m.join(timeout)                          pc_manager_join(m, timeout)
       d = m.dict(), l = m.list()               pc_manager_dict(m, &d), pc_manager_list(m, &l)
       d[k] = v, d[k], d.get(k, x)              pc_proxy_dict_set(d, k, pc_proxy_int(v)),
                                                pc_proxy_dict_get(d, k, NULL / &x, &v)
       del d[k], k in d, d.pop(k[, x])          pc_proxy_dict_del, _contains, _pop
       d.keys(), d.update(...), d.clear()       pc_proxy_dict_keys, _update(d, pack), _clear
       len(d), len(l)                           pc_proxy_len(p, &n)
       l.append(v), l[i], l[i] = v, l.pop(i)    pc_proxy_list_append, _get, _set, _pop
       l.extend([...]), l.reverse()             pc_proxy_list_extend(l, pack), _reverse
       d.items(), d.values(), d.popitem()       pc_proxy_dict_items, _values (packs), _popitem
       d.copy(), reversed(d)                    pc_proxy_dict_copy (in the server), _keys_reversed
       l.insert(i, v), l.remove(v), v in l      pc_proxy_list_insert, _remove, _contains
       l.index(v, i, j), l.count(v), l.sort()   pc_proxy_list_index, _count, _sort(l, reverse)
       del l[i], del l[i:j], l[i:j]             pc_proxy_list_del, _del_slice, _slice (a pack)
       l.clear(), l.copy(), l *= n              pc_proxy_list_clear, _copy (in the server), _repeat
       Process(args=(d,))                       pc_proxy_add_to_args(pack, d); in the child
                                                pc_proxy_from_args(pack, 0, &d)

   - Keys are strings (other keys: use their str()); values are None,
     int64, double, bytes or str (pc_proxy_value).
   - KeyError and IndexError are PC_VALUE with "KeyError" / "IndexError"
     at the start of the message.
   - A server that dies (SIGKILL) makes every proxy call PC_BROKEN at once,
     never a hang; so does any call after pc_manager_shutdown.
   - A proxy inherited by a fork child makes its own connection at its
     first call there (Python's proxies could read each other's replies).
   - Lock, RLock, Semaphore, BoundedSemaphore, Event, Condition, Barrier,
     Queue, JoinableQueue: pc_manager_lock(m, &p) ..., then
     pc_proxy_lock_acquire(p, timeout), pc_proxy_queue_get(p, timeout, &v)
     ... Each thread calls on a connection of its own, so a call waiting in
     the server holds up no other thread. A lock whose holder's connection
     closes (its process killed) is released; the next acquire gets it with
     PC_OWNER_DEAD.
   - A client with a wrong authkey gets PC_AUTH; the server logs a WARNING
     (pc_get_logger) and serves on. A dict's keys are indexed by hash.
   - On a unix socket (the default address), each connection moves to a
     pair of rings in shared memory after the handshake: a call costs no
     system call while the other side is awake, and a sleeping side wakes
     by futex; large messages, wake-ups of a side asleep for long, and the
     other side's end still go by the socket (docs/manager.md).
*/
#if defined(PYCONC_PROCESS_IMPLEMENTATION) || defined(PYCONC_ALL_IMPLEMENTATION)
#if !defined(_GNU_SOURCE) && !defined(__cplusplus)
#define _GNU_SOURCE 1
#endif
// glibc fixes its feature set at the first system header: one included
// before this point without _GNU_SOURCE hides the GNU calls used here.
#if defined(__GLIBC__) && !defined(__USE_GNU)
#error "pyconc_process.h: a system header was included before this implementation without"
#error "_GNU_SOURCE: include pyconc_process.h first in this file, or compile it with -D_GNU_SOURCE"
#define PYCONC_PROCESS_IMPLEMENTATION_DONE  // skip the implementation: one clear error
#endif
#endif

#include "pyconc.h"
#if PYCONC_VERSION_MAJOR != 0
#error "pyconc_process.h needs pyconc.h version 0"
#endif
#include "pyconc_futures.h"     // part F: the process pool is a pc_executor

#ifndef PYCONC_PROCESS_H
#define PYCONC_PROCESS_H

#include <limits.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

// >>A.api: what the foundation gives the parts below it (internal; tests use it too)
/* Send len (>= 1) bytes of buf over unix socket sock with nfds descriptors
   attached (SCM_RIGHTS, at most 253). EINTR retried; no SIGPIPE.
   Returns: PC_OK, PC_VALUE, PC_OS. */
PYCONC_API int pc__p_send_fds(int sock, const void *buf, size_t len, const int *fds, size_t nfds);
/* Receive exactly len (>= 1) bytes into buf and up to *inout_nfds
   descriptors into fds (close-on-exec); *inout_nfds gets the number that
   came. More descriptors than room: those received are closed, PC_VALUE.
   Returns: PC_OK, PC_EOF (closed before the first byte), PC_OS, PC_VALUE. */
PYCONC_API int pc__p_recv_fds(int sock, void *buf, size_t len, int *fds, size_t *inout_nfds);
/* HMAC of msg under key: kind 0 MD5 (16 bytes out), 1 SHA-256 (32).
   Python: hmac.new(key, msg, 'md5' / 'sha256').digest() */
PYCONC_API void pc__p_hmac(int kind, const void *key, size_t key_size, const void *msg,
                           size_t msg_size, unsigned char *out);
/* Fill buf with size bytes from the kernel's random source.
   Returns: PC_OK, PC_OS. */
PYCONC_API int pc__p_random_bytes(void *buf, size_t size);

// >>B.api: multiprocessing.connection
// Connection and Pipe
/* One end of a Pipe or a socket, carrying framed messages.
   Python: multiprocessing.connection.Connection */
typedef struct pc_connection pc_connection;

/* Make a pair of connected connections. duplex: both ends send and
   receive (a socketpair); else *out_a only receives and *out_b only sends
   (a pipe). Both descriptors are close-on-exec.
   Returns: PC_OK, PC_VALUE (NULL out), PC_OS, PC_NOMEM.
   Python: multiprocessing.Pipe(duplex) */
PYCONC_API int pc_pipe(int duplex, pc_connection **out_a, pc_connection **out_b);

/* Send size bytes of buf starting at offset as one message.
   Returns: PC_OK, PC_VALUE (NULL, offset + size overflows, connection is
   read-only), PC_OS (closed; EPIPE when the peer is gone, never SIGPIPE).
   Blocks: yes (until the message is written).
   Python: Connection.send_bytes(buf, offset, size) */
PYCONC_API int pc_connection_send_bytes(pc_connection *c, const void *buf, size_t offset,
                                        size_t size);

/* Receive one message into a new buffer (*out_buf, release it with
   pc_connection_bytes_free; never NULL on PC_OK, even for an empty
   message). maxlength 0: no limit (Python's None). A message longer than
   maxlength is PC_OS (EMSGSIZE) and the connection is no longer readable
   (closed if it was receive-only), as Python.
   Returns: PC_OK, PC_EOF (peer closed between messages), PC_OS (closed,
   bad length, end of file inside a message), PC_VALUE (NULL, write-only),
   PC_NOMEM.  Blocks: yes.  Python: Connection.recv_bytes(maxlength) */
PYCONC_API int pc_connection_recv_bytes(pc_connection *c, size_t maxlength, void **out_buf,
                                        size_t *out_size);

/* Receive one message into buf + offset (cap: the size of buf); *out_size
   gets its length. A message that does not fit gives PC_VALUE (Python's
   BufferTooShort) with *out_size set to its length; it is kept, and the
   next receive on this connection returns it.
   Returns: PC_OK, PC_VALUE, PC_EOF, PC_OS, PC_NOMEM.  Blocks: yes.
   Python: Connection.recv_bytes_into(buf, offset) */
PYCONC_API int pc_connection_recv_bytes_into(pc_connection *c, void *buf, size_t cap,
                                             size_t offset, size_t *out_size);

/* Wait until there is something to read (a message, or end of file).
   timeout: 0 tests and returns at once (Python's default), PC_FOREVER
   waits without limit.
   Returns: PC_OK (Python's True), PC_TIMEOUT (False), PC_VALUE (NULL, NaN,
   write-only), PC_OS (closed).  Blocks: up to timeout.
   Python: Connection.poll(timeout) */
PYCONC_API int pc_connection_poll(pc_connection *c, double timeout);

/* Return the descriptor, or -1 (PC_OS in pc_last_error) when closed.
   A connection reads ahead (see BEYOND PYTHON): a message may already be
   inside it while the descriptor shows nothing to read, so wait on it
   with pc_connection_poll or pc_connection_wait, not a poll(2) of this.
   Python: Connection.fileno */
PYCONC_API int pc_connection_fileno(const pc_connection *c);
/* Close the descriptor; again is harmless. Python: Connection.close */
PYCONC_API void pc_connection_close(pc_connection *c);
/* Close and release the object. NULL is ignored. */
PYCONC_API void pc_connection_free(pc_connection *c);
/* Python: Connection.closed, .readable, .writable (1 or 0; NULL: closed). */
PYCONC_API int pc_connection_closed(const pc_connection *c);
PYCONC_API int pc_connection_readable(const pc_connection *c);
PYCONC_API int pc_connection_writable(const pc_connection *c);
/* Release a buffer from pc_connection_recv_bytes. NULL is ignored. */
PYCONC_API void pc_connection_bytes_free(void *buf);

// wait
/* One object for pc_connection_wait: a connection, or (conn NULL) a plain
   descriptor such as a process sentinel or a listener's fileno. */
typedef struct pc_wait_object {
    pc_connection *conn;        // waited on when not NULL
    int fd;                     // waited on when conn is NULL
    int ready;                  // out: 1 when readable (or at end of file)
} pc_wait_object;

/* Wait until at least one object is ready or timeout passes (PC_FOREVER:
   no limit); mark each ready one and count them in *out_nready (may be
   NULL). n may be 0 (then it just sleeps for timeout, as Python).
   Returns: PC_OK (some ready), PC_TIMEOUT (none: Python's empty list),
   PC_VALUE (NULL, NaN, negative or unopened descriptor, write-only
   connection), PC_OS (closed connection), PC_NOMEM.  Blocks: up to timeout.
   Python: multiprocessing.connection.wait(object_list, timeout) */
PYCONC_API int pc_connection_wait(pc_wait_object *objects, size_t n, double timeout,
                                  size_t *out_nready);

// Listener
/* Address families. Python: 'AF_UNIX', 'AF_INET' (and Linux's abstract
   unix namespace, Python's "\0name"). */
typedef enum pc_family {
    PC_AF_DEFAULT = 0,          // from the address (see pc_listener_desc)
    PC_AF_UNIX = 1,             // a socket file: "/tmp/x.sock"
    PC_AF_ABSTRACT = 2,         // Linux abstract namespace: "@name" or "name"
    PC_AF_INET = 3              // TCP "host:port", "[v6addr]:port"
} pc_family;

/* A bound, listening socket. Python: multiprocessing.connection.Listener */
typedef struct pc_listener pc_listener;

typedef struct pc_listener_desc {
    /* NULL: a fresh socket file (Python's arbitrary_address), in a new
       directory of mode 0700 in $TMPDIR (/tmp when unset, too long, or in
       a set-user-ID program), so no other user can connect whatever the
       umask; both go on close. With .family PC_AF_INET: "127.0.0.1:0";
       PC_AF_ABSTRACT: a fresh "@name".
       "host:port" (port 0 to 65535; 0: any free one), "[::1]:port",
       "/path", "@name". */
    const char *address;
    /* PC_AF_DEFAULT: "@..." is abstract, "host:port" (digits after the last
       ':' and no '/') is TCP, anything else a socket file. */
    pc_family family;
    int backlog;                // 0: 1, Python's default
    /* Key for the HMAC handshake run by each accept. NULL: none (Python's
       None); a non-NULL key may be empty (authkey_size 0). Copied. */
    const void *authkey;
    size_t authkey_size;
    /* With an authkey: seconds a client has to finish the whole handshake,
       counted from its connection, so that a silent or slow client cannot
       hold accept (Python has no limit). 0: 5 seconds; negative (PC_FOREVER):
       no limit, as every timeout here; NaN: PC_VALUE. */
    double handshake_timeout;
} pc_listener_desc;

/* Bind and listen. desc may be NULL (a unix socket file, no authkey).
   Returns NULL on failure (pc_last_error: PC_VALUE (bad address, a port
   past 65535, bad handshake_timeout), PC_OS, PC_NOMEM).
   Python: Listener(address, family, backlog, authkey) */
PYCONC_API pc_listener *pc_listener_new(const pc_listener_desc *desc);
/* Accept one connection; with an authkey run the handshake (challenge the
   client, then answer its challenge), closing the connection on failure.
   Returns: PC_OK, PC_AUTH (wrong key or protocol, or the client did not
   finish the handshake within handshake_timeout), PC_EOF (client left
   during the handshake), PC_OS (EBADF "listener is closed", bad frame),
   PC_VALUE, PC_NOMEM.  Blocks: yes, the handshake at most
   handshake_timeout; pc_listener_close from another thread wakes it, in
   the handshake too (waiting in accept(2): Linux).
   Python: Listener.accept */
PYCONC_API int pc_listener_accept(pc_listener *l, pc_connection **out_conn);
/* Stop listening; a socket file is removed (only by the process that made
   it), with its private directory for a default address. Accepts blocked
   in this process return "listener is closed". Again is harmless.
   Python: Listener.close */
PYCONC_API void pc_listener_close(pc_listener *l);
/* Close and release. NULL is ignored. */
PYCONC_API void pc_listener_free(pc_listener *l);
/* The bound address as text ("127.0.0.1:40123", "/tmp/x", "@name"): pass
   it to pc_client as is. Python: Listener.address */
PYCONC_API const char *pc_listener_address(const pc_listener *l);
PYCONC_API pc_family pc_listener_family(const pc_listener *l);
/* The peer of the latest accept ("127.0.0.1:51515"; "" for an unnamed
   unix peer), or NULL before the first. Python: Listener.last_accepted */
PYCONC_API const char *pc_listener_last_accepted(const pc_listener *l);
/* The listening descriptor (for pc_connection_wait), -1 when closed. */
PYCONC_API int pc_listener_fileno(const pc_listener *l);

// Client
typedef struct pc_client_desc {
    const char *address;        // as pc_listener_address prints it
    pc_family family;           // PC_AF_DEFAULT: from the address
    const void *authkey;        // NULL: no handshake (Python's None)
    size_t authkey_size;
} pc_client_desc;

/* Connect to a Listener; with an authkey answer its challenge, then
   challenge it. Returns: PC_OK, PC_AUTH, PC_EOF, PC_OS (ECONNREFUSED ...),
   PC_VALUE (bad address, a port past 65535), PC_NOMEM.  Blocks: yes.
   Python: multiprocessing.connection.Client(address, family, authkey) */
PYCONC_API int pc_client(const pc_client_desc *desc, pc_connection **out_conn);

// The authkey handshake
/* The two halves of Python's handshake, for connections made otherwise.
   deliver: send a "{sha256}" challenge, check the reply (HMAC-SHA256, or
   a legacy client's bare HMAC-MD5), answer #WELCOME# or #FAILURE#.
   answer: reply to a challenge ({sha256}, {md5}, or a legacy 20-byte one).
   Returns: PC_OK, PC_AUTH, PC_EOF, PC_OS, PC_VALUE.
   Python: multiprocessing.connection.deliver_challenge / answer_challenge */
PYCONC_API int pc_connection_deliver_challenge(pc_connection *c, const void *authkey,
                                               size_t authkey_size);
PYCONC_API int pc_connection_answer_challenge(pc_connection *c, const void *authkey,
                                              size_t authkey_size);

// Argument packs: a pack is a connection message, and a child's arguments
/* The argument pack: the stand-in for pickling Python's args tuple. Build
   it in the parent, hand it to pc_process_desc.args (copied there), and
   read it in the child, where the target's arg is a pc_args *.
   Python: Process(args=(...)) */
typedef struct pc_args pc_args;

typedef enum pc_arg_type {
    PC_ARG_NONE = 0,            // no such item
    PC_ARG_INT = 1,
    PC_ARG_DOUBLE = 2,
    PC_ARG_BYTES = 3,
    PC_ARG_STR = 4,
    PC_ARG_CONNECTION = 5,
    PC_ARG_MP_LOCK = 6,         // shared objects (D. SHARED STATE)
    PC_ARG_MP_RLOCK = 7,
    PC_ARG_MP_SEMAPHORE = 8,
    PC_ARG_MP_CONDITION = 9,
    PC_ARG_MP_EVENT = 10,
    PC_ARG_MP_BARRIER = 11,
    PC_ARG_MP_VALUE = 12,
    PC_ARG_MP_ARRAY = 13,
    PC_ARG_SHARED_MEMORY = 14,
    PC_ARG_MP_QUEUE = 15,        // a cross-process queue (E. QUEUES)
    PC_ARG_PROXY = 16            // only a pc_proxy_value's (I. MANAGER), never a pack's
} pc_arg_type;

/* Make an empty pack. Returns NULL on failure (PC_NOMEM). */
PYCONC_API pc_args *pc_args_new(void);
/* Free a pack. A received pack (a child's, or one from
   pc_connection_recv_args) owns its connections: this closes them. */
PYCONC_API void pc_args_free(pc_args *a);
/* Append an item. Bytes and strings are copied; a connection is borrowed
   until the pack is handed to pc_process_new (which duplicates its
   descriptor). Returns: PC_OK, PC_VALUE (NULL), PC_NOMEM. */
PYCONC_API int pc_args_add_int(pc_args *a, int64_t value);
PYCONC_API int pc_args_add_double(pc_args *a, double value);
PYCONC_API int pc_args_add_bytes(pc_args *a, const void *data, size_t size);
PYCONC_API int pc_args_add_str(pc_args *a, const char *s);
PYCONC_API int pc_args_add_connection(pc_args *a, pc_connection *c);
/* Python: len(args) */
PYCONC_API size_t pc_args_len(const pc_args *a);
/* The type of item i (PC_ARG_NONE when out of range). */
PYCONC_API pc_arg_type pc_args_type(const pc_args *a, size_t i);
/* Read item i. Pointers stay valid while the pack lives; a connection is
   owned by the pack (pc_args_take_connection takes it over).
   Returns: PC_OK, PC_VALUE (index out of range, other type, NULL). */
PYCONC_API int pc_args_get_int(const pc_args *a, size_t i, int64_t *out_value);
PYCONC_API int pc_args_get_double(const pc_args *a, size_t i, double *out_value);
PYCONC_API int pc_args_get_bytes(const pc_args *a, size_t i, const void **out_data,
                                 size_t *out_size);
PYCONC_API int pc_args_get_str(const pc_args *a, size_t i, const char **out_s);
PYCONC_API int pc_args_get_connection(const pc_args *a, size_t i, pc_connection **out_c);
/* Like get_connection, but the caller owns the connection from now on
   (received packs only; PC_VALUE for a pack built here). */
PYCONC_API int pc_args_take_connection(pc_args *a, size_t i, pc_connection **out_c);

/* Send a pack as one message on c: its bytes in a frame of Python's
   format, the descriptors of its connections (duplicated; the pack keeps
   its own) attached with SCM_RIGHTS, so a connection crosses to the
   process at the other end. Descriptors cross unix sockets only (a duplex
   pc_pipe, a unix or abstract Listener/Client); a pack holding
   connections on a simplex pipe or TCP is PC_VALUE. Numbers travel in
   host byte order: both ends run on one machine.
   Returns: PC_OK, PC_VALUE (NULL, read-only, connections on a non-unix
   connection), PC_OS, PC_NOMEM.  Blocks: yes.
   Python: Connection.send(args) */
PYCONC_API int pc_connection_send_args(pc_connection *c, const pc_args *args);
/* Receive a pack sent by pc_connection_send_args into a new one
   (*out_args, free it with pc_args_free; it owns the connections that came
   with it). A message that is not a whole pack is PC_VALUE and the
   connection stays usable; a bad frame is PC_OS as in recv_bytes.
   Returns: PC_OK, PC_EOF, PC_VALUE, PC_OS, PC_NOMEM.  Blocks: yes.
   Python: Connection.recv() */
PYCONC_API int pc_connection_recv_args(pc_connection *c, pc_args **out_args);

// Internal: a connection around a descriptor the process part made
/* Wrap an open descriptor (ownership moves to the connection). At least
   one of readable / writable. Returns NULL on failure (PC_VALUE, PC_NOMEM);
   the descriptor is then left open. */
PYCONC_API pc_connection *pc__p_connection_from_fd(int fd, int readable, int writable);

// >>C.api: multiprocessing's processes
// Start methods and contexts
typedef enum pc_start_method {
    PC_START_DEFAULT = 0,       // the program's default (forkserver on Linux)
    PC_START_FORK = 1,
    PC_START_SPAWN = 2,
    PC_START_FORKSERVER = 3
} pc_start_method;

/* A context: a start method that processes made with it use.
   Python: multiprocessing.context.BaseContext */
typedef struct pc_context pc_context;

/* Return the context of a start method (static, never freed);
   PC_START_DEFAULT: the context that follows pc_set_start_method.
   Returns NULL for an unknown method (PC_VALUE).
   Python: multiprocessing.get_context(method) */
PYCONC_API const pc_context *pc_get_context(pc_start_method method);
/* Python: BaseContext.get_start_method() */
PYCONC_API pc_start_method pc_context_get_start_method(const pc_context *ctx);
/* Return the default start method, fixing it (a later set needs force).
   Python: multiprocessing.get_start_method() */
PYCONC_API pc_start_method pc_get_start_method(void);
/* The default start method if it is fixed (set, or used by a start or a
   pc_get_start_method), else PC_START_DEFAULT ("none"), without fixing it.
   Python: multiprocessing.get_start_method(allow_none=True) */
PYCONC_API pc_start_method pc_get_start_method_allow_none(void);
/* Set the default start method. force resets it even when already fixed;
   PC_START_DEFAULT with force goes back to the platform default.
   Returns: PC_OK, PC_RUNTIME (already set or used), PC_VALUE.
   Python: multiprocessing.set_start_method(method, force) */
PYCONC_API int pc_set_start_method(pc_start_method method, int force);
/* Make spawn children and new forkserver servers run the program at path
   instead of this one (/proc/self/exe); NULL goes back to it. It must be
   a pyconc program that runs the bootstrap (its constructor, or
   pc_process_bootstrap first in main), and the same program as this one
   (a copy, or one built identically) if targets of the main program are
   used: they cross as offsets into it (targets in shared objects go by
   path). A running forkserver keeps its program.
   Returns: PC_OK, PC_VALUE (empty or too long), PC_OS (not an executable
   file; errno kept), PC_RUNTIME (in a set-user-ID program).
   Python: multiprocessing.set_executable(path) */
PYCONC_API int pc_set_executable(const char *path);

/* What a forkserver does when a preload fails. Python 3.15's on_error. */
typedef enum pc_preload_on_error {
    PC_PRELOAD_IGNORE = 0,      // go on silently (Python's default)
    PC_PRELOAD_WARN = 1,        // a line on the server's logger (stderr), go on
    PC_PRELOAD_FAIL = 2         // the server exits: the start that needed it fails
} pc_preload_on_error;

typedef struct pc_forkserver_preload_desc {
    const char *const *libraries;   // shared objects the server loads (absolute
    size_t nlibraries;              //   paths; the files there now, see below)
    const pc_target_fn *functions;  // run once by the server (arg NULL), after the
    size_t nfunctions;              //   libraries; a non-zero return is a failure
    pc_preload_on_error on_error;   // default PC_PRELOAD_IGNORE
} pc_forkserver_preload_desc;

/* Have forkservers started from now on load these libraries and run these
   functions once, before forking any child, so that every child starts
   warm (libraries loaded, tables built). NULL: nothing. A library is
   loaded as the bootstrap loads one: by absolute path, and only if the
   file there is still the one found now (same device and inode). A
   function is any function of the program (it crosses as its object and
   offset). A running forkserver keeps what it preloaded.
   Returns: PC_OK, PC_VALUE (NULL entries, a relative path, a function
   outside every loaded object, a bad on_error), PC_OS (a library that is
   not there; errno kept), PC_RUNTIME (in a set-user-ID program), PC_NOMEM.
   A start whose new server failed a preload with PC_PRELOAD_FAIL is
   PC_RUNTIME, the failure in the message.
   Python: multiprocessing.set_forkserver_preload(module_names, on_error) */
PYCONC_API int pc_set_forkserver_preload(const pc_forkserver_preload_desc *desc);
/* Fill out[0..cap) with the methods available here, default first, and
   return how many there are. Python: multiprocessing.get_all_start_methods */
PYCONC_API size_t pc_get_all_start_methods(pc_start_method *out, size_t cap);
/* "fork", "spawn", "forkserver" ("default" for PC_START_DEFAULT), or NULL. */
PYCONC_API const char *pc_start_method_name(pc_start_method method);
/* The method named name. Returns: PC_OK, PC_VALUE (unknown name). */
PYCONC_API int pc_start_method_from_name(const char *name, pc_start_method *out_method);

// Process
typedef struct pc_process pc_process;

/* Returned by pc_process_exitcode while Python's exitcode is None. */
#define PC_EXITCODE_NONE INT_MIN
/* Longest authkey accepted. */
#define PC_AUTHKEY_MAX 256

typedef struct pc_process_desc {
    pc_target_fn target;        // run in the child; NULL: does nothing (exit code 0)
    const void *arg;            // copied (arg_size bytes) for the child; the target
    size_t arg_size;            //   gets the copy. arg_size 0: arg itself (fork only)
    const pc_args *args;        // argument pack, copied; the target gets a pc_args *
                                //   (not with arg)
    const char *name;           // copied; NULL: "Process-N1:N2..."
    pc_daemon daemon;           // default: the current process's daemon flag
    const pc_context *context;  // NULL: the default start method
} pc_process_desc;

/* Make a process object (not started). desc may be NULL.
   Returns NULL on failure (PC_VALUE, PC_NOMEM, PC_OS).
   Python: multiprocessing.Process(...) */
PYCONC_API pc_process *pc_process_new(const pc_process_desc *desc);
/* Drop the caller's reference. A running child keeps running and is still
   joined (or, if daemonic, terminated) when this process exits. */
PYCONC_API void pc_process_free(pc_process *p);
/* Take another reference (released with pc_process_free). */
PYCONC_API pc_process *pc_process_retain(pc_process *p);
/* Start the child. Returns: PC_OK, PC_RUNTIME (started twice, the
   current process is daemonic, or spawn/forkserver in a set-user-ID,
   set-group-ID or file-capability program: use fork there), PC_VALUE
   (closed; arg pointer with spawn or forkserver; target outside every
   loaded object), PC_OS (errno kept), PC_AUTH (the forkserver refused
   this process's key), PC_NOMEM.
   Python: Process.start */
PYCONC_API int pc_process_start(pc_process *p);
/* Wait for the child to end (timeout seconds; PC_FOREVER).
   Returns: PC_OK, PC_TIMEOUT, PC_RUNTIME (not started, or itself),
   PC_VALUE (NaN, closed).  Blocks: yes.  Python: Process.join */
PYCONC_API int pc_process_join(pc_process *p, double timeout);
/* 1 from start until the child has ended. Python: Process.is_alive */
PYCONC_API int pc_process_is_alive(pc_process *p);
/* The child's exit code: the target's return value (0..255), 1 after a
   pc_raise()d exception, -N when signal N killed it; PC_EXITCODE_NONE
   while not started or still running. Python: Process.exitcode */
PYCONC_API int pc_process_exitcode(pc_process *p);
/* The child's process id; 0 before start. Python: Process.pid */
PYCONC_API long pc_process_pid(const pc_process *p);
/* A descriptor that becomes readable when the child ends (fork, spawn: a
   pidfd, or a pipe without pidfds; forkserver: the server's status
   socket); owned by the process object. -1 before start or after close.
   Python: Process.sentinel */
PYCONC_API int pc_process_sentinel(const pc_process *p);
/* Send SIGTERM / SIGKILL / SIGINT. Nothing once the child is reaped.
   Returns: PC_OK, PC_RUNTIME (not started), PC_VALUE (closed), PC_OS.
   Python: Process.terminate, .kill, .interrupt (3.14) */
PYCONC_API int pc_process_terminate(pc_process *p);
PYCONC_API int pc_process_kill(pc_process *p);
PYCONC_API int pc_process_interrupt(pc_process *p);
/* Release the sentinel; most calls are PC_VALUE afterwards.
   Returns: PC_OK, PC_VALUE (still running).  Python: Process.close */
PYCONC_API int pc_process_close(pc_process *p);
/* Python: Process.name (valid until the next set_name or free). */
PYCONC_API const char *pc_process_name(const pc_process *p);
/* Returns: PC_OK, PC_VALUE, PC_NOMEM.  Python: Process.name = ... */
PYCONC_API int pc_process_set_name(pc_process *p, const char *name);
/* Python: Process.daemon */
PYCONC_API int pc_process_daemon(const pc_process *p);
/* Returns: PC_OK, PC_RUNTIME (already started).  Python: Process.daemon = */
PYCONC_API int pc_process_set_daemon(pc_process *p, int daemon);
/* The authkey (*out_len bytes, valid until the next set_authkey).
   Python: Process.authkey */
PYCONC_API const unsigned char *pc_process_authkey(const pc_process *p, size_t *out_len);
/* Set it (1..PC_AUTHKEY_MAX bytes). On the current process this changes
   the key children inherit. Returns: PC_OK, PC_VALUE.
   Python: Process.authkey = ... */
PYCONC_API int pc_process_set_authkey(pc_process *p, const void *key, size_t len);
/* The start method the process uses (resolved at start). */
PYCONC_API pc_start_method pc_process_start_method(const pc_process *p);

/* The object of the calling process (borrowed): "MainProcess" in the main
   program, the child's own name, daemon flag and authkey in a child.
   Python: multiprocessing.current_process */
PYCONC_API pc_process *pc_process_current(void);
/* The parent as seen from a child (borrowed), NULL in the main process.
   Its pid and name are the parent's; is_alive and sentinel watch it, and
   tell the parent from a process that took its pid after it ended (by
   its start time; the pid alone without /proc).
   Python: multiprocessing.parent_process */
PYCONC_API pc_process *pc_process_parent(void);
/* Reap children that have ended, fill out[0..cap) with new references to
   the live ones (release each with pc_process_free) and return how many
   are alive. Python: multiprocessing.active_children */
PYCONC_API size_t pc_process_active_children(pc_process **out, size_t cap);

// Logging: the library's own events (multiprocessing.util's logger)
/* Levels, Python's logging numbers with multiprocessing's two extras. */
typedef enum pc_log_level {
    PC_LOG_SUBDEBUG = 5,
    PC_LOG_DEBUG = 10,          // a process started, a child ended
    PC_LOG_INFO = 20,           // a child runs its target and exits; a forkserver starts;
                                //   a pool's worker ended and another replaces it
    PC_LOG_SUBWARNING = 25,     // a forkserver died and another replaces it
    PC_LOG_WARNING = 30,        // fork with other threads alive (once per process)
    PC_LOG_ERROR = 40,
    PC_LOG_OFF = 100            // nothing
} pc_log_level;

/* A handler: gets each message at or above the logger's level (without
   the "[LEVEL/process]" prefix the stderr handler adds). It runs on the
   thread that logs, holding no lock of the library. */
typedef void (*pc_log_fn)(int level, const char *message, void *ctx);

/* The library's one logger. Python: multiprocessing.util's Logger */
typedef struct pc_logger pc_logger;

/* The logger (static, never freed). By default its level is PC_LOG_WARNING
   and it writes to stderr, so the library's events (DEBUG, INFO) are off
   and only warnings show, as with Python's logger without handlers.
   Spawned and forkserver children get its level (a custom handler does
   not cross exec: they write WARNING and above to stderr then).
   Thread-safe: yes.  Python: multiprocessing.get_logger() */
PYCONC_API pc_logger *pc_get_logger(void);
/* Write the logger's messages to stderr as "[INFO/Process-1] message"
   from level on (the handler set before is dropped); returns the logger.
   Thread-safe: yes.  Python: multiprocessing.log_to_stderr(level) */
PYCONC_API pc_logger *pc_log_to_stderr(int level);
/* Set the level (0 .. PC_LOG_OFF). Returns: PC_OK, PC_VALUE.
   Python: Logger.setLevel */
PYCONC_API int pc_logger_set_level(pc_logger *lg, int level);
/* Python: Logger.getEffectiveLevel */
PYCONC_API int pc_logger_level(const pc_logger *lg);
/* Send messages to fn (with ctx) instead; NULL: back to stderr.
   Returns: PC_OK, PC_VALUE.  Python: Logger.addHandler (one handler) */
PYCONC_API int pc_logger_set_handler(pc_logger *lg, pc_log_fn fn, void *ctx);
/* Warn (once per process, PC_LOG_WARNING on the logger) when a fork start
   runs while other threads are alive; enabled 0 silences it. On by
   default. Python: the DeprecationWarning of 3.12's fork with threads,
   silenced with warnings.filterwarnings */
PYCONC_API void pc_set_fork_warning(int enabled);

// >>D.api: shared state across processes
/* Locks, conditions, semaphores, events and barriers that work between
   processes; Value and Array; SharedMemory. Each object lives in its own
   shared mapping (an anonymous memfd: no name, nothing to leak, gone with
   its last holder; a named SharedMemory is a POSIX shm object) and
   crosses to a child in an argument pack (pc_args_add_mp_lock ...):
   under fork, spawn and forkserver alike the child maps the same memory.
   A fork child may also use the parent's handles directly (the mapping
   is inherited). Any thread of any holder may use an object; each handle
   is freed by its process with pc_mp_*_free (a received pack frees the
   ones it carried).
   Python: multiprocessing.Lock, RLock, Semaphore, BoundedSemaphore,
   Condition, Event, Barrier, Value, Array, RawValue, RawArray,
   multiprocessing.shared_memory.SharedMemory */
typedef struct pc_mp_lock pc_mp_lock;
typedef struct pc_mp_rlock pc_mp_rlock;
typedef struct pc_mp_semaphore pc_mp_semaphore;
typedef struct pc_mp_condition pc_mp_condition;
typedef struct pc_mp_event pc_mp_event;
typedef struct pc_mp_barrier pc_mp_barrier;
typedef struct pc_mp_value pc_mp_value;
typedef struct pc_mp_array pc_mp_array;
typedef struct pc_shared_memory pc_shared_memory;

// Lock and RLock
/* Robust: when a holder dies (killed, or its thread ends holding it), the
   next acquire returns PC_OWNER_DEAD and holds the lock. Repair what the
   dead holder left half done, then call pc_mp_lock_consistent; released
   without that, the lock is broken and every later acquire is PC_BROKEN.
   Unlike Python's, a shared lock belongs to the thread that took it: only
   that thread may release it (PC_RUNTIME otherwise), because only an owner
   can be found dead. Python: multiprocessing.Lock() */
PYCONC_API pc_mp_lock *pc_mp_lock_new(void);
PYCONC_API void pc_mp_lock_free(pc_mp_lock *l);
/* timeout: seconds, PC_FOREVER, 0 = don't block. The same thread taking
   it twice waits (for timeout) as Python's does.
   Returns: PC_OK, PC_TIMEOUT, PC_OWNER_DEAD (held, state suspect),
   PC_BROKEN (a dead holder's state was never repaired), PC_VALUE.
   Python: Lock.acquire(block, timeout) */
PYCONC_API int pc_mp_lock_acquire(pc_mp_lock *l, double timeout);
/* Returns: PC_OK, PC_RUNTIME (not held by this thread), PC_VALUE.
   Python: Lock.release */
PYCONC_API int pc_mp_lock_release(pc_mp_lock *l);
/* 1 while some thread of some process holds it. Python: Lock.locked (3.14) */
PYCONC_API int pc_mp_lock_locked(const pc_mp_lock *l);
/* After PC_OWNER_DEAD, by the holder: the state is repaired.
   Returns: PC_OK, PC_RUNTIME (not held after PC_OWNER_DEAD), PC_VALUE. */
PYCONC_API int pc_mp_lock_consistent(pc_mp_lock *l);

/* A recursive lock: its owner is a thread of a process; that thread may
   take it again, and releases it as often as it took it.
   Python: multiprocessing.RLock() */
PYCONC_API pc_mp_rlock *pc_mp_rlock_new(void);
PYCONC_API void pc_mp_rlock_free(pc_mp_rlock *l);
/* Returns as pc_mp_lock_acquire. Python: RLock.acquire */
PYCONC_API int pc_mp_rlock_acquire(pc_mp_rlock *l, double timeout);
/* Returns: PC_OK, PC_RUNTIME (not owned by this thread), PC_VALUE.
   Python: RLock.release */
PYCONC_API int pc_mp_rlock_release(pc_mp_rlock *l);
/* Python: RLock.locked (3.14) */
PYCONC_API int pc_mp_rlock_locked(const pc_mp_rlock *l);
/* 1 when the calling thread owns it. Python: RLock._is_owned */
PYCONC_API int pc_mp_rlock_is_owned(const pc_mp_rlock *l);
/* As pc_mp_lock_consistent. */
PYCONC_API int pc_mp_rlock_consistent(pc_mp_rlock *l);

// Semaphore and BoundedSemaphore
/* value >= 0. Semaphores have no owner: a unit taken by a process that
   dies stays taken; a waiter that dies takes nothing from the others.
   Returns NULL on failure (PC_VALUE, PC_NOMEM, PC_OS).
   Python: multiprocessing.Semaphore(value), BoundedSemaphore(value) */
PYCONC_API pc_mp_semaphore *pc_mp_semaphore_new(int value);
PYCONC_API pc_mp_semaphore *pc_mp_bounded_semaphore_new(int value);
PYCONC_API void pc_mp_semaphore_free(pc_mp_semaphore *s);
/* Returns: PC_OK, PC_TIMEOUT, PC_VALUE.  Python: Semaphore.acquire */
PYCONC_API int pc_mp_semaphore_acquire(pc_mp_semaphore *s, double timeout);
/* Add n >= 1. Returns: PC_OK, PC_VALUE (n < 1; past a bounded
   semaphore's initial value: nothing is added). Python: Semaphore.release(n) */
PYCONC_API int pc_mp_semaphore_release(pc_mp_semaphore *s, int n);
/* Python: Semaphore.get_value */
PYCONC_API int pc_mp_semaphore_get_value(const pc_mp_semaphore *s);

// Condition
/* lock: NULL for a new RLock of its own (Python's default), or a shared
   Lock / RLock (at most one of the two) that the condition then uses; it
   must outlive the condition. Waiters sleep on a futex word in shared
   memory, never on a pthread_cond_t: a waiter killed inside wait leaves
   nothing behind that could stall a later notify.
   Returns NULL on failure (PC_VALUE, PC_NOMEM, PC_OS).
   Python: multiprocessing.Condition(lock) */
PYCONC_API pc_mp_condition *pc_mp_condition_new(pc_mp_lock *lock, pc_mp_rlock *rlock);
PYCONC_API void pc_mp_condition_free(pc_mp_condition *c);
/* The condition's lock. Returns as pc_mp_lock_acquire / _release.
   Python: Condition.acquire, Condition.release */
PYCONC_API int pc_mp_condition_acquire(pc_mp_condition *c, double timeout);
PYCONC_API int pc_mp_condition_release(pc_mp_condition *c);
/* Release the lock (all its levels), wait for a notify or timeout, take
   the lock back. Wake-ups may be spurious: wait in a loop, or use
   wait_for. Returns: PC_OK, PC_TIMEOUT (the lock is held again either
   way), PC_OWNER_DEAD (a holder died while we slept: held, state
   suspect), PC_BROKEN, PC_RUNTIME (lock not held), PC_VALUE.
   Python: Condition.wait(timeout) */
PYCONC_API int pc_mp_condition_wait(pc_mp_condition *c, double timeout);
/* Wait until predicate(ctx) is non-zero, timeout in total.
   Returns: PC_OK (true), PC_TIMEOUT (still false), or as wait.
   Python: Condition.wait_for(predicate, timeout) */
PYCONC_API int pc_mp_condition_wait_for(pc_mp_condition *c, int (*predicate)(void *ctx),
                                        void *ctx, double timeout);
/* Wake up to n (<= 0: none) / all waiters. The lock must be held.
   Returns: PC_OK, PC_RUNTIME (lock not held), PC_VALUE.
   Python: Condition.notify(n), Condition.notify_all */
PYCONC_API int pc_mp_condition_notify(pc_mp_condition *c, int n);
PYCONC_API int pc_mp_condition_notify_all(pc_mp_condition *c);

// Event
/* Returns NULL on failure (PC_NOMEM, PC_OS). Python: multiprocessing.Event() */
PYCONC_API pc_mp_event *pc_mp_event_new(void);
PYCONC_API void pc_mp_event_free(pc_mp_event *e);
/* Python: Event.set, .clear, .is_set */
PYCONC_API int pc_mp_event_set(pc_mp_event *e);
PYCONC_API int pc_mp_event_clear(pc_mp_event *e);
PYCONC_API int pc_mp_event_is_set(const pc_mp_event *e);
/* Returns: PC_OK (set), PC_TIMEOUT, PC_VALUE.  Python: Event.wait(timeout) */
PYCONC_API int pc_mp_event_wait(pc_mp_event *e, double timeout);

// Barrier
/* parties >= 1. action (may be NULL) runs with a NULL argument in the
   process whose thread arrives last, before any party is released; it
   crosses start methods as a process target does. timeout: the default
   for pc_mp_barrier_wait (PC_FOREVER: none).
   Beyond Python: every process that holds the barrier (its creator, each
   child started with it in a pack, each receiver of a pack) is watched
   while parties wait. One that ends without freeing its handle (killed,
   or exited) breaks the barrier: the waiters get PC_BROKEN within 50 ms,
   no timeout needed. The first 64 holders are watched.
   Returns NULL on failure (PC_VALUE, PC_NOMEM, PC_OS).
   Python: multiprocessing.Barrier(parties, action, timeout) */
PYCONC_API pc_mp_barrier *pc_mp_barrier_new(int parties, pc_target_fn action, double timeout);
PYCONC_API void pc_mp_barrier_free(pc_mp_barrier *b);
/* *out_index (may be NULL) gets 0..parties-1, unique per round.
   Returns: PC_OK, PC_BROKEN (aborted, reset, timed out, a holder died, or
   the action failed elsewhere), the action's code where it ran, PC_VALUE.
   Python: Barrier.wait(timeout) */
PYCONC_API int pc_mp_barrier_wait(pc_mp_barrier *b, int *out_index);
PYCONC_API int pc_mp_barrier_wait_timeout(pc_mp_barrier *b, double timeout, int *out_index);
/* Python: Barrier.reset, .abort, .parties, .n_waiting, .broken */
PYCONC_API int pc_mp_barrier_reset(pc_mp_barrier *b);
PYCONC_API int pc_mp_barrier_abort(pc_mp_barrier *b);
PYCONC_API int pc_mp_barrier_parties(const pc_mp_barrier *b);
PYCONC_API int pc_mp_barrier_n_waiting(const pc_mp_barrier *b);
PYCONC_API int pc_mp_barrier_broken(const pc_mp_barrier *b);

// Value and Array
/* A Value is one item in shared memory, an Array `length` items; each item
   is of a typecode of Python's array module or of a C type of its own
   size (a struct, say). Typecodes and their C types:
       'c' char  'b' signed char  'B' unsigned char  'h' short
       'H' unsigned short  'i' int  'I' unsigned  'l' long
       'L' unsigned long  'q' long long  'Q' unsigned long long
       'f' float  'd' double  '?' bool  'u' wchar_t
   The data starts 64-byte aligned. Synchronized (Python's default) means a
   lock: a recursive lock of its own, in the object's own memory (one
   mapping, one descriptor), or a shared Lock / RLock given in the desc (the
   object keeps its own handle on it: the caller may free theirs). Raw
   (RawValue, RawArray, lock=False) means no lock. A Value or Array crosses
   to a child in an argument pack with its lock.
   Locks are robust, as pc_mp_lock's are. The locked helpers below
   (load/store, get/set, slices, add) each take the lock for one update, so
   a locked add is a safe `counter.value += 1` across processes (Python's
   is a locked read, then a locked write: updates get lost). A helper
   called by the thread that holds the lock already works under that hold,
   a Lock included (Python's would wait for itself forever). A helper that
   took a dead holder's lock does its update, marks the lock consistent
   (the value is plain bytes: each helper writes whole items) and returns
   PC_OWNER_DEAD; one whose lock is broken does nothing (PC_BROKEN). On a
   raw object the helpers run without any lock: concurrent updates race.

   Python                                   C
   Value('d', 0.0)                          pc_mp_value_new(&(pc_mp_value_desc){
                                                .typecode = "d", .init = &x})
   Value(MyStruct, lock=l)                  .size = sizeof(my_struct), .lock = l
   RawValue('i', 7), Value(.., lock=False)  pc_mp_raw_value_new(&d), .raw = 1
   Array('i', range(10))                    pc_mp_array_new(&(pc_mp_array_desc){
                                                .typecode = "i", .length = 10, .init = v})
   v.value, v.value = x                     pc_mp_value_load(v, &x, sizeof x), _store
   v.value += 1 (not atomic in Python)      pc_mp_value_add_int64(v, 1, &new_value)
   a[i], a[i] = x, a[i:j], a[i:j] = xs      pc_mp_array_get / _set / _get_slice / _set_slice
   len(a)                                   pc_mp_array_length(a)
   v.get_obj()                              pc_mp_value_get_obj(v) (the data, unlocked)
   v.get_lock()                             pc_mp_value_get_rlock(v) / _get_lock(v)
   v.acquire(), v.release()                 pc_mp_value_acquire(v, t), _release(v)
   sharedctypes.copy(obj)                   pc_mp_value_copy(v), pc_mp_array_copy(a)
   sharedctypes.synchronized(obj, lock)     pc_mp_value_synchronized(v, lock, rlock) */
typedef struct pc_mp_value_desc {
    const char *typecode;   // one of the typecodes above; NULL: a C type of `size` bytes
    size_t size;            // bytes of the value: required without a typecode; with one,
                            // 0 or that type's size (a check that they agree)
    const void *init;       // `size` bytes to start from; NULL: zeros (Python's default)
    int raw;                // non-zero: no lock (Python's lock=False; RawValue)
    pc_mp_lock *lock;       // NULL: an RLock of its own; else this Lock (lock=Lock())
    pc_mp_rlock *rlock;     // or this RLock (at most one of lock and rlock)
} pc_mp_value_desc;

typedef struct pc_mp_array_desc {
    const char *typecode;   // as pc_mp_value_desc's
    size_t size;            // bytes of one item (as pc_mp_value_desc's size)
    size_t length;          // items; 0 is an empty array, as Python's Array('i', 0)
    const void *init;       // `length` items to start from; NULL: zeros
    int raw;                // as pc_mp_value_desc's
    pc_mp_lock *lock;
    pc_mp_rlock *rlock;
} pc_mp_array_desc;

/* Returns NULL on failure: PC_VALUE (NULL desc, an unknown typecode, a
   size 0, huge or disagreeing with the typecode, both lock and rlock, a
   lock with raw), PC_NOMEM, PC_OS.
   Python: multiprocessing.Value(typecode_or_type, *args, lock=True) */
PYCONC_API pc_mp_value *pc_mp_value_new(const pc_mp_value_desc *desc);
/* As pc_mp_value_new with raw set; a lock in the desc is PC_VALUE.
   Python: multiprocessing.RawValue(typecode_or_type, *args) */
PYCONC_API pc_mp_value *pc_mp_raw_value_new(const pc_mp_value_desc *desc);
PYCONC_API void pc_mp_value_free(pc_mp_value *v);
/* The data (size bytes), for access of your own: hold the lock
   (pc_mp_value_acquire) around it if others write. NULL for a bad handle.
   Python: Synchronized.get_obj(), a RawValue itself */
PYCONC_API void *pc_mp_value_get_obj(pc_mp_value *v);
/* Bytes of the value (0 for a bad handle); its typecode ('\0' for a C type
   of its own). */
PYCONC_API size_t pc_mp_value_size(const pc_mp_value *v);
PYCONC_API char pc_mp_value_typecode(const pc_mp_value *v);
/* The lock, as a handle usable in this process (borrowed: freed with v;
   to share it, share v): get_rlock gives the RLock of its own or the one
   given, get_lock the Lock given; NULL otherwise (raw: no lock).
   Python: Synchronized.get_lock() */
PYCONC_API pc_mp_rlock *pc_mp_value_get_rlock(pc_mp_value *v);
PYCONC_API pc_mp_lock *pc_mp_value_get_lock(pc_mp_value *v);
/* Take / give back v's lock, whichever it is.
   Returns as pc_mp_lock_acquire / _release; PC_RUNTIME for a raw value.
   Python: Synchronized.acquire(), .release() */
PYCONC_API int pc_mp_value_acquire(pc_mp_value *v, double timeout);
PYCONC_API int pc_mp_value_release(pc_mp_value *v);
/* After PC_OWNER_DEAD from pc_mp_value_acquire: as pc_mp_lock_consistent. */
PYCONC_API int pc_mp_value_consistent(pc_mp_value *v);
/* Copy the value out / in under the lock. size: the bytes of out / in,
   which must be the value's size (a value of one type read as another is
   PC_VALUE). Returns: PC_OK, PC_OWNER_DEAD (done), PC_BROKEN, PC_VALUE.
   Blocks: for the lock. Python: Synchronized.value (get, set) */
PYCONC_API int pc_mp_value_load(pc_mp_value *v, void *out, size_t size);
PYCONC_API int pc_mp_value_store(pc_mp_value *v, const void *in, size_t size);
/* Add delta under the lock, in the value's own type, wrapping as C's
   unsigned arithmetic and ctypes do; *out_new (may be NULL) gets the sum
   as stored (a 'Q' past INT64_MAX reads back negative). add_int64 takes
   the integer typecodes b B h H i I l L q Q, add_double f and d.
   Returns: PC_OK, PC_OWNER_DEAD (added), PC_BROKEN, PC_VALUE (NULL,
   another typecode). Blocks: for the lock.
   Python: with v.get_lock(): v.value += delta */
PYCONC_API int pc_mp_value_add_int64(pc_mp_value *v, int64_t delta, int64_t *out_new);
PYCONC_API int pc_mp_value_add_double(pc_mp_value *v, double delta, double *out_new);
/* A new raw Value of the same type holding v's bytes (read under v's lock).
   Returns NULL on failure (PC_VALUE, PC_NOMEM, PC_OS).
   Python: multiprocessing.sharedctypes.copy(obj) */
PYCONC_API pc_mp_value *pc_mp_value_copy(pc_mp_value *v);
/* A new handle on raw's memory that uses a lock: lock or rlock (at most
   one), or a new RLock when both are NULL. raw stays raw; the two share
   the data. Returns NULL on failure (PC_VALUE: not a raw value,
   PC_NOMEM, PC_OS). Python: multiprocessing.sharedctypes.synchronized(obj, lock) */
PYCONC_API pc_mp_value *pc_mp_value_synchronized(pc_mp_value *raw, pc_mp_lock *lock,
                                                 pc_mp_rlock *rlock);

/* As pc_mp_value_new; init holds length items.
   Python: multiprocessing.Array(typecode_or_type, size_or_initializer, lock=True) */
PYCONC_API pc_mp_array *pc_mp_array_new(const pc_mp_array_desc *desc);
/* Python: multiprocessing.RawArray(typecode_or_type, size_or_initializer) */
PYCONC_API pc_mp_array *pc_mp_raw_array_new(const pc_mp_array_desc *desc);
PYCONC_API void pc_mp_array_free(pc_mp_array *a);
/* As the pc_mp_value_ ones; length is Python's len(a), item_size the bytes of
   one item. */
PYCONC_API void *pc_mp_array_get_obj(pc_mp_array *a);
PYCONC_API size_t pc_mp_array_length(const pc_mp_array *a);
PYCONC_API size_t pc_mp_array_item_size(const pc_mp_array *a);
PYCONC_API char pc_mp_array_typecode(const pc_mp_array *a);
PYCONC_API pc_mp_rlock *pc_mp_array_get_rlock(pc_mp_array *a);
PYCONC_API pc_mp_lock *pc_mp_array_get_lock(pc_mp_array *a);
PYCONC_API int pc_mp_array_acquire(pc_mp_array *a, double timeout);
PYCONC_API int pc_mp_array_release(pc_mp_array *a);
PYCONC_API int pc_mp_array_consistent(pc_mp_array *a);
/* Copy item index out / in under the lock; a negative index counts from
   the end, as Python's. size: the bytes of out / in, one item's.
   Returns: PC_OK, PC_OWNER_DEAD (done), PC_BROKEN, PC_VALUE (out of
   range: Python's IndexError; another size). Blocks: for the lock.
   Python: a[i], a[i] = x */
PYCONC_API int pc_mp_array_get(pc_mp_array *a, int64_t index, void *out, size_t size);
PYCONC_API int pc_mp_array_set(pc_mp_array *a, int64_t index, const void *in, size_t size);
/* Copy items start..stop-1 out / in under the lock (negative: from the
   end). Unlike Python's slices they are not clipped: a range past the end
   is PC_VALUE, and size must be (stop - start) items' bytes, so a slice
   assignment never changes the length (nor does Python's, on an Array).
   Returns as pc_mp_array_get. Python: a[i:j], a[i:j] = xs */
PYCONC_API int pc_mp_array_get_slice(pc_mp_array *a, int64_t start, int64_t stop, void *out,
                                     size_t size);
PYCONC_API int pc_mp_array_set_slice(pc_mp_array *a, int64_t start, int64_t stop,
                                     const void *in, size_t size);
/* For an Array of typecode 'c' (Python's SynchronizedString): copy its
   bytes up to the first NUL (all of them without one) into out, NUL-
   terminated, under the lock; *out_len (may be NULL) gets their number.
   Returns: PC_OK, PC_OWNER_DEAD (done), PC_BROKEN, PC_VALUE (not a 'c'
   array; cap not above the length found, which *out_len still gets).
   Blocks: for the lock.  Python: Array('c', ...).value */
PYCONC_API int pc_mp_array_get_value(pc_mp_array *a, char *out, size_t cap, size_t *out_len);
/* Store len bytes at the start of a 'c' array, and a NUL after them when
   room is left, under the lock.
   Returns: PC_OK, PC_OWNER_DEAD (done), PC_BROKEN, PC_VALUE (not a 'c'
   array; len over its length: Python's ValueError "byte string too long").
   Blocks: for the lock.  Python: Array('c', ...).value = b'...' */
PYCONC_API int pc_mp_array_set_value(pc_mp_array *a, const void *value, size_t len);
/* As pc_mp_value_add_int64 / _add_double, on item index.
   Python: with a.get_lock(): a[i] += delta */
PYCONC_API int pc_mp_array_add_int64(pc_mp_array *a, int64_t index, int64_t delta,
                                     int64_t *out_new);
PYCONC_API int pc_mp_array_add_double(pc_mp_array *a, int64_t index, double delta,
                                      double *out_new);
/* As pc_mp_value_copy / _synchronized. Python: sharedctypes.copy, .synchronized */
PYCONC_API pc_mp_array *pc_mp_array_copy(pc_mp_array *a);
PYCONC_API pc_mp_array *pc_mp_array_synchronized(pc_mp_array *raw, pc_mp_lock *lock,
                                                 pc_mp_rlock *rlock);

// SharedMemory
/* A block of memory shared between processes: a POSIX shared memory
   object with Python's names (a block made here attaches from Python's
   multiprocessing.shared_memory.SharedMemory by name, and back), or,
   beyond Python, an anonymous one that has no name and is gone with its
   last holder. The bytes are the caller's from offset 0, as in Python.
   The zero value of each field is Python's default. */
typedef struct pc_shared_memory_desc {
    const char *name;   // the block's name (a leading '/' is optional), at most
                        // 255 bytes, no other '/'; NULL with create: a fresh
                        // "psm_" + 8 hex digits, as Python makes them
    int create;         // 0: attach an existing block; 1: make a new one (an
                        // existing name is PC_OS/EEXIST, Python's FileExistsError)
    size_t size;        // bytes of a new block (> 0, not rounded); ignored on
                        // attach, where the size is the block's own
    int untracked;      // 0 (Python's track=True): a block this program
                        // creates is unlinked when the program ends, even
                        // killed, if it was not unlinked by then; 1: never
                        // unlinked for you. Attaching never tracks.
    int anonymous;      // beyond Python: a nameless block (memfd), always
                        // new; it crosses to children in argument packs
                        // only, and is gone when its last holder lets go
} pc_shared_memory_desc;

/* Create or attach a block (see the desc). Bad input is PC_VALUE: a NULL
   desc or name without create, size 0 with create, a size past
   PTRDIFF_MAX, a name too long or holding a '/', an empty block; a name
   that does not exist is PC_OS with errno ENOENT (FileNotFoundError), one
   that exists on create PC_OS/EEXIST.
   Returns the handle, or NULL (PC_VALUE, PC_OS, PC_NOMEM).
   Python: multiprocessing.shared_memory.SharedMemory(name, create, size, track=) */
PYCONC_API pc_shared_memory *pc_shared_memory_new(const pc_shared_memory_desc *desc);
/* Close (if not closed) and free the handle; the block is not unlinked.
   NULL is a no-op. Python: SharedMemory.__del__ */
PYCONC_API void pc_shared_memory_free(pc_shared_memory *m);
/* The block's first byte (size bytes follow), or NULL with PC_VALUE after
   close. Python: SharedMemory.buf */
PYCONC_API void *pc_shared_memory_buf(pc_shared_memory *m);
/* Bytes in the block (still known after close); 0 for NULL.
   Python: SharedMemory.size */
PYCONC_API size_t pc_shared_memory_size(const pc_shared_memory *m);
/* The name without its leading '/', as Python reports it (pass it to
   Python's SharedMemory(name)); NULL for an anonymous block or NULL.
   Python: SharedMemory.name */
PYCONC_API const char *pc_shared_memory_name(const pc_shared_memory *m);
/* Unmap the block and close its descriptor in this handle; the block
   lives on for its other holders. Closing twice is harmless. Close and
   free from one thread once no other uses the handle's memory.
   Returns: PC_OK, PC_VALUE (NULL). Python: SharedMemory.close */
PYCONC_API int pc_shared_memory_close(pc_shared_memory *m);
/* Remove the name: no one can attach by it any more; the memory lives on
   until its last holder closes it. Call it once, in one process; closed
   handles may. An anonymous block has no name: a no-op, as Python's
   unlink on Windows. Returns: PC_OK, PC_OS (errno ENOENT: already
   unlinked, FileNotFoundError), PC_VALUE (NULL). Python: SharedMemory.unlink */
PYCONC_API int pc_shared_memory_unlink(pc_shared_memory *m);

// ShareableList and SharedMemoryManager
/* The kind of a ShareableList item: Python's int, float, bool, str,
   bytes and None. */
typedef enum pc_shareable_type {
    PC_SHAREABLE_NONE,      // None (the zero value)
    PC_SHAREABLE_INT,       // int: an int64_t ("q")
    PC_SHAREABLE_FLOAT,     // float: a double ("d")
    PC_SHAREABLE_BOOL,      // bool ("xxxxxxx?")
    PC_SHAREABLE_STR,       // str: UTF-8 text in a slot of fixed capacity ("<n>s")
    PC_SHAREABLE_BYTES      // bytes, in a slot of fixed capacity ("<n>s")
} pc_shareable_type;

/* One value: an item of a new list, or what count/index look for. */
typedef struct pc_shareable_item {
    pc_shareable_type type;
    int64_t i;              // INT; BOOL (0 false, anything else true)
    double d;               // FLOAT
    const char *str;        // STR: NUL-terminated, valid UTF-8
    const void *bytes;      // BYTES: len bytes (NULL only with len 0)
    size_t len;
} pc_shareable_item;

/* A ShareableList to make or to attach. The zero value of each field is
   Python's default. */
typedef struct pc_shareable_list_desc {
    const pc_shareable_item *items; // a new list's items (count of them)
    size_t count;
    const char *name;   // NULL: a new list under a fresh name; a name
                        // without items (nor create): attach to that list
    int create;         // 1: make a new list even with no items (Python's
                        // ShareableList([], name=name))
    int untracked;      // 1: the new block is not tracked (SharedMemory's)
} pc_shareable_list_desc;

typedef struct pc_shareable_list pc_shareable_list;

/* Make a list in a new SharedMemory block laid out as Python's (a block
   made here attaches with ShareableList(name=...) and back), or attach
   to one by name. A str or bytes item gets a slot of 8 * (len / 8 + 1)
   bytes, len its UTF-8 bytes (Python counts a str's characters: its
   slots for non-ASCII text are smaller than here). Bad input is
   PC_VALUE: a NULL desc, items NULL with count > 0, an unknown type,
   a str that is not UTF-8, an item of 10^7 bytes or more (Python's
   8-character format limit), a block that is not a ShareableList (its
   counts, offsets, formats or codes out of place); the block's own
   errors are SharedMemory's (PC_OS with ENOENT, EEXIST).
   Returns the handle, or NULL (PC_VALUE, PC_OS, PC_NOMEM).
   Python: multiprocessing.shared_memory.ShareableList(sequence, name=) */
PYCONC_API pc_shareable_list *pc_shareable_list_new(const pc_shareable_list_desc *desc);
/* Free the handle and close its block (never unlinks: unlink
   pc_shareable_list_shm(l) first, as Python's sl.shm.unlink()).
   NULL is a no-op. */
PYCONC_API void pc_shareable_list_free(pc_shareable_list *l);
/* The number of items (fixed); 0 for NULL. Python: len(sl) */
PYCONC_API size_t pc_shareable_list_len(const pc_shareable_list *l);
/* The underlying block, borrowed (freed with the list). Python: sl.shm */
PYCONC_API pc_shared_memory *pc_shareable_list_shm(pc_shareable_list *l);
/* The block's name, as pc_shared_memory_name. Python: sl.shm.name */
PYCONC_API const char *pc_shareable_list_name(const pc_shareable_list *l);
/* The kind of item index (negative: from the end, as Python's).
   Returns: PC_OK, PC_VALUE (NULL, out of range: Python's IndexError; a
   corrupted item; the block closed). Python: type(sl[i]) */
PYCONC_API int pc_shareable_list_type(pc_shareable_list *l, int64_t index,
                                      pc_shareable_type *out);
/* Read item index: an int or a bool (Python's bool is an int; true is 1)
   / a float. Returns: PC_OK, PC_VALUE (as pc_shareable_list_type; an item
   of another kind, the message names it). Python: sl[i] */
PYCONC_API int pc_shareable_list_get_int(pc_shareable_list *l, int64_t index, int64_t *out);
PYCONC_API int pc_shareable_list_get_double(pc_shareable_list *l, int64_t index, double *out);
/* Copy item index, a str / bytes, to out, cap bytes: the str NUL-
   terminated. *out_len (if not NULL) gets its length without the NUL,
   even when it does not fit; out NULL with cap 0 asks for it only.
   Trailing NUL bytes are not part of the value, as in Python (a bytes
   value ending in zeros reads back without them).
   Returns: PC_OK, PC_VALUE (as pc_shareable_list_get_int; cap too small).
   Python: sl[i] */
PYCONC_API int pc_shareable_list_get_str(pc_shareable_list *l, int64_t index, char *out,
                                         size_t cap, size_t *out_len);
PYCONC_API int pc_shareable_list_get_bytes(pc_shareable_list *l, int64_t index, void *out,
                                           size_t cap, size_t *out_len);
/* Store a value at index, Python's rules: any kind fits any slot (the
   item takes the new kind), but a str or bytes must be no longer than
   the slot's capacity (PC_VALUE: "exceeds available storage"). Nothing
   locks the list: synchronise writers and readers yourself, as in Python.
   Returns: PC_OK, PC_VALUE (as pc_shareable_list_type; too long; a str
   that is not UTF-8). Python: sl[i] = value */
PYCONC_API int pc_shareable_list_set_int(pc_shareable_list *l, int64_t index, int64_t v);
PYCONC_API int pc_shareable_list_set_double(pc_shareable_list *l, int64_t index, double v);
PYCONC_API int pc_shareable_list_set_bool(pc_shareable_list *l, int64_t index, int v);
PYCONC_API int pc_shareable_list_set_none(pc_shareable_list *l, int64_t index);
PYCONC_API int pc_shareable_list_set_str(pc_shareable_list *l, int64_t index, const char *s);
PYCONC_API int pc_shareable_list_set_bytes(pc_shareable_list *l, int64_t index, const void *b,
                                           size_t len);
/* How many items equal v / the first index of one, with Python's ==:
   int, float and bool compare as numbers (1 == 1.0 == True), str with
   str, bytes with bytes, None with None.
   Returns: PC_OK, PC_VALUE (NULL, a bad v, a corrupted item; index: v
   is not in the list, Python's ValueError). Python: sl.count(v), sl.index(v) */
PYCONC_API int pc_shareable_list_count(pc_shareable_list *l, const pc_shareable_item *v,
                                       size_t *out);
PYCONC_API int pc_shareable_list_index(pc_shareable_list *l, const pc_shareable_item *v,
                                       size_t *out);
/* Python's struct format of all the items ("q8sd..."), copied to out as
   pc_shareable_list_get_str. Returns as pc_shareable_list_get_str.
   Python: sl.format */
PYCONC_API int pc_shareable_list_format(pc_shareable_list *l, char *out, size_t cap,
                                        size_t *out_len);

/* Blocks made through a manager are unlinked together by its shutdown.
   Python's SharedMemoryManager is a server process other processes may
   connect to; this one lives in the process that starts it (a fork
   child's copy refuses every call): hand its blocks to children in
   packs or by name. Its blocks are tracked (SharedMemory's reaper), so
   they are unlinked too when the program ends without a shutdown, even
   killed by SIGKILL. */
typedef struct pc_shared_memory_manager pc_shared_memory_manager;
/* Returns a started manager, or NULL (PC_NOMEM).
   Python: SharedMemoryManager(); smm.start() */
PYCONC_API pc_shared_memory_manager *pc_shared_memory_manager_start(void);
/* A new tracked block of size bytes (as pc_shared_memory_new with
   create), the caller's handle to free; the manager keeps its name.
   Returns the handle, or NULL (PC_VALUE: NULL, shut down, another
   process's manager, size 0; PC_OS, PC_NOMEM). Python: smm.SharedMemory(size) */
PYCONC_API pc_shared_memory *pc_shared_memory_manager_shared_memory(
    pc_shared_memory_manager *mgr, size_t size);
/* A new list of count items (as pc_shareable_list_new), the caller's to
   free; the manager keeps its block's name. Returns as
   pc_shared_memory_manager_shared_memory. Python: smm.ShareableList(seq) */
PYCONC_API pc_shareable_list *pc_shared_memory_manager_shareable_list(
    pc_shared_memory_manager *mgr, const pc_shareable_item *items, size_t count);
/* Unlink every block made through the manager that is still linked
   (handles still open keep their memory) and refuse new ones. A second
   shutdown does nothing. Returns: PC_OK, PC_VALUE (NULL, another
   process's manager). Python: smm.shutdown() */
PYCONC_API int pc_shared_memory_manager_shutdown(pc_shared_memory_manager *mgr);
/* Shut down (if not yet) and free. NULL is a no-op. */
PYCONC_API void pc_shared_memory_manager_free(pc_shared_memory_manager *mgr);

// Handles in argument packs
/* Append a shared object to a pack: borrowed until the pack is handed to
   pc_process_new or sent (pc_connection_send_args), which take their own
   reference; a handle freed before that is PC_VALUE there.
   Returns: PC_OK, PC_VALUE (NULL), PC_NOMEM. */
PYCONC_API int pc_args_add_mp_lock(pc_args *a, pc_mp_lock *l);
PYCONC_API int pc_args_add_mp_rlock(pc_args *a, pc_mp_rlock *l);
PYCONC_API int pc_args_add_mp_semaphore(pc_args *a, pc_mp_semaphore *s);
PYCONC_API int pc_args_add_mp_condition(pc_args *a, pc_mp_condition *c);
PYCONC_API int pc_args_add_mp_event(pc_args *a, pc_mp_event *e);
PYCONC_API int pc_args_add_mp_barrier(pc_args *a, pc_mp_barrier *b);
PYCONC_API int pc_args_add_mp_value(pc_args *a, pc_mp_value *v);
PYCONC_API int pc_args_add_mp_array(pc_args *a, pc_mp_array *arr);
/* Read item i: borrowed, owned by the pack (freed with it).
   Returns: PC_OK, PC_VALUE (out of range, another type, NULL). */
PYCONC_API int pc_args_get_mp_lock(const pc_args *a, size_t i, pc_mp_lock **out);
PYCONC_API int pc_args_get_mp_rlock(const pc_args *a, size_t i, pc_mp_rlock **out);
PYCONC_API int pc_args_get_mp_semaphore(const pc_args *a, size_t i, pc_mp_semaphore **out);
PYCONC_API int pc_args_get_mp_condition(const pc_args *a, size_t i, pc_mp_condition **out);
PYCONC_API int pc_args_get_mp_event(const pc_args *a, size_t i, pc_mp_event **out);
PYCONC_API int pc_args_get_mp_barrier(const pc_args *a, size_t i, pc_mp_barrier **out);
PYCONC_API int pc_args_get_mp_value(const pc_args *a, size_t i, pc_mp_value **out);
PYCONC_API int pc_args_get_mp_array(const pc_args *a, size_t i, pc_mp_array **out);
/* Append a SharedMemory (named or anonymous; not closed) to a pack: the
   receiver maps the same memory. Borrowed as pc_args_add_mp_lock.
   Returns: PC_OK, PC_VALUE (NULL, closed), PC_NOMEM. */
PYCONC_API int pc_args_add_shared_memory(pc_args *a, pc_shared_memory *m);
/* Read item i: borrowed, owned by the pack (freed with it, which closes
   it). Returns: PC_OK, PC_VALUE (out of range, another type, NULL). */
PYCONC_API int pc_args_get_shared_memory(const pc_args *a, size_t i, pc_shared_memory **out);
/* Append a Queue (E.api) / read one, as pc_args_add_mp_lock and
   pc_args_get_mp_lock: the receiver's handle is a new holder of the
   same queue, with the items in it. */
typedef struct pc_mp_queue pc_mp_queue;
PYCONC_API int pc_args_add_mp_queue(pc_args *a, pc_mp_queue *q);
PYCONC_API int pc_args_get_mp_queue(const pc_args *a, size_t i, pc_mp_queue **out);

// >>E.api: cross-process queues
/* multiprocessing.Queue, SimpleQueue and JoinableQueue: a ring in shared
   memory (one memfd, like the objects of part D) guarded by a robust
   process-shared mutex. Every operation prepares its change, then commits
   it with one store under the mutex, so a process killed at any instant
   (inside put or get included) loses no committed item and delivers none
   twice: the next process to take the mutex finishes or forgets the half
   done operation and goes on at once. Waits are futex words in the
   mapping (not-empty, not-full, all-done); there is no feeder thread and
   no pipe: an item is in the queue when put returns, so a putter may exit
   at once (its items stay), and joining a process that put items nobody
   read never deadlocks. The queue crosses to children in argument packs
   (pc_args_add_mp_queue), under fork, spawn and forkserver.
   Shared memory is fixed in size, so every queue has a capacity:
   maxsize, or for maxsize <= 0 ("unbounded") PC_MP_QUEUE_DEFAULT_CAPACITY
   items, fewer for large messages so that the ring stays within
   PC_MP_QUEUE_DEFAULT_BYTES (at least 2); a put on a full ring waits as
   on a full bounded queue.
   Python: multiprocessing.Queue, SimpleQueue, JoinableQueue */
#define PC_MP_QUEUE_DEFAULT_CAPACITY 1024       // items, for maxsize <= 0
#define PC_MP_QUEUE_DEFAULT_BYTES ((size_t)64 << 20)    // ring bytes, for maxsize <= 0
#define PC_MP_QUEUE_DEFAULT_MESSAGE ((size_t)64 << 10)  // max_message of a zero desc

/* The order items leave in. Beyond Python: LIFO and PRIORITY across
   processes (Python's multiprocessing has FIFO only). A PRIORITY queue
   orders by an int64 key each put gives (pc_mp_queue_put_key; plain puts
   give 0), smallest first, and equal keys in the order they were put: a C
   comparator cannot run in another process. */
typedef enum pc_mp_queue_kind {
    PC_MP_QUEUE_FIFO = 0,
    PC_MP_QUEUE_LIFO = 1,
    PC_MP_QUEUE_PRIORITY = 2
} pc_mp_queue_kind;

/* Zero is Python's multiprocessing.Queue(): FIFO, "unbounded" (the
   default capacity), messages of up to PC_MP_QUEUE_DEFAULT_MESSAGE bytes
   (pc_args packs or bytes). */
typedef struct pc_mp_queue_desc {
    pc_mp_queue_kind kind;
    int joinable;           // task_done and join (Python's JoinableQueue)
    int simple;             // Python's SimpleQueue: maxsize must be <= 0, not joinable
    long maxsize;           // items; <= 0: the default capacity (see above)
    size_t item_size;       // fixed-size items of this many bytes, copied by value (the
                            // fast path); 0: variable-size messages
    size_t max_message;     // largest message in bytes (0: the default); a bigger one
                            // is refused with PC_VALUE, not streamed. With item_size: 0
} pc_mp_queue_desc;

/* Make a queue (desc may be NULL: the zero desc). Bad input is PC_VALUE:
   both item_size and max_message, simple with maxsize > 0 or joinable, a
   maxsize over 2**24 items, an item or message over 2**30 bytes, a ring
   over 2**40 bytes. Returns the handle, or NULL (PC_VALUE, PC_NOMEM,
   PC_OS). Python: multiprocessing.Queue(maxsize), SimpleQueue(),
   JoinableQueue(maxsize) */
PYCONC_API pc_mp_queue *pc_mp_queue_new(const pc_mp_queue_desc *desc);
/* Free this process's handle; the queue and its items live on for the
   other holders. NULL is a no-op. */
PYCONC_API void pc_mp_queue_free(pc_mp_queue *q);

/* Copy one fixed-size item (item_size bytes) in, waiting at most timeout
   seconds for room (PC_FOREVER: no limit; 0: don't wait). On a PRIORITY
   queue the key is 0.
   Beyond Python: a putter waiting on a full queue whose consumers have
   all ended, one or more of them without letting go of its handle, gets
   PC_BROKEN within 50 ms, whatever its timeout: the rule of get below,
   with the processes that ever got from the queue (the first 64) in the
   producers' place. A queue nobody ever got from breaks no putter.
   Returns: PC_OK, PC_FULL (no room in time), PC_SHUTDOWN, PC_VALUE (NULL,
   a message queue, closed: "Queue is closed", corrupted memory),
   PC_BROKEN (no consumer left, or the mutex was left unrepaired).
   Blocks: while full. Python: Queue.put(obj, block, timeout) */
PYCONC_API int pc_mp_queue_put(pc_mp_queue *q, const void *item, double timeout);
/* put with timeout 0. Python: Queue.put_nowait */
PYCONC_API int pc_mp_queue_put_nowait(pc_mp_queue *q, const void *item);
/* Take one fixed-size item out into out_item (item_size bytes). After
   shutdown(0) the items left still come out, then PC_SHUTDOWN; after
   shutdown(1), PC_SHUTDOWN at once.
   Beyond Python: a getter waiting on an empty queue whose producers have
   all ended, one or more of them without letting go of its handle
   (killed, or exited holding it), gets PC_BROKEN within 50 ms, whatever
   its timeout. Precisely: the processes that ever put into the queue
   (the first 64 are watched) are all gone, at least one of them is still
   among the queue's holders (part D's holder table: the creator, each
   child given the queue in a pack, each receiver of a pack), and the
   queue is empty. A producer that frees its handle (a child's pack is
   freed when its target returns) and exits is no longer a holder: its
   end alone never breaks anyone, and its items are delivered. A fork
   child that puts through its parent's handle (not from a pack) is not a
   holder and not watched.
   Returns: PC_OK, PC_EMPTY (nothing in time), PC_SHUTDOWN, PC_BROKEN,
   PC_VALUE (NULL, a message queue, corrupted memory).
   Blocks: while empty. Python: Queue.get(block, timeout) */
PYCONC_API int pc_mp_queue_get(pc_mp_queue *q, void *out_item, double timeout);
/* get with timeout 0. Python: Queue.get_nowait */
PYCONC_API int pc_mp_queue_get_nowait(pc_mp_queue *q, void *out_item);

/* Put size bytes: a message (size <= max_message; 0 is allowed), or on a
   fixed-size queue one item (size must be item_size). A message bigger
   than max_message is refused (PC_VALUE), not streamed.
   Returns as pc_mp_queue_put. Python: Queue.put(bytes) */
PYCONC_API int pc_mp_queue_put_bytes(pc_mp_queue *q, const void *data, size_t size,
                                     double timeout);
/* Take one message into buf (cap bytes); *out_size (may be NULL) gets its
   size. A buf shorter than the message is PC_VALUE and the message stays
   first in the queue (pc_mp_queue_max_message bytes always suffice).
   Returns as pc_mp_queue_get. */
PYCONC_API int pc_mp_queue_get_bytes(pc_mp_queue *q, void *buf, size_t cap, size_t *out_size,
                                     double timeout);
/* put_bytes with a priority key (any kind; only PRIORITY orders by it),
   and get_bytes that also gives the item's key (*out_key may be NULL).
   Beyond Python: PriorityQueue across processes. */
PYCONC_API int pc_mp_queue_put_key(pc_mp_queue *q, int64_t key, const void *data,
                                   size_t size, double timeout);
PYCONC_API int pc_mp_queue_get_key(pc_mp_queue *q, int64_t *out_key, void *buf, size_t cap,
                                   size_t *out_size, double timeout);
/* Put a pack as one message (its wire form must fit max_message; a
   message queue only). A pack may hold connections and shared objects
   (locks, queues, the queue itself ...) on a FIFO queue: their
   descriptors travel beside it on a socket the queue carries, and the
   getter gets them with the pack. A putter or getter killed half way
   loses none: a committed pack reaches one getter with its own
   descriptors, a half-put one is dropped with its descriptors closed. A
   LIFO or PRIORITY queue refuses such a pack (PC_VALUE). The socket's
   buffer holds a few hundred packs' descriptors: beyond, a put waits as
   on a full queue. Returns as pc_mp_queue_put_bytes. Python: Queue.put(obj) */
PYCONC_API int pc_mp_queue_put_args(pc_mp_queue *q, const pc_args *args, double timeout);
/* Take a pack put by pc_mp_queue_put_args into a new one (*out_args; free
   it with pc_args_free), with its connections and shared objects (the
   pack owns them: pc_args_take_connection to keep one). get_bytes of
   such a pack gives its wire form and closes its descriptors.
   Returns as pc_mp_queue_get; PC_VALUE for a message that is not a pack
   (it is consumed). Python: Queue.get() */
PYCONC_API int pc_mp_queue_get_args(pc_mp_queue *q, pc_args **out_args, double timeout);

/* Items in the queue now (a snapshot; 0 for NULL). Python: Queue.qsize */
PYCONC_API size_t pc_mp_queue_qsize(const pc_mp_queue *q);
/* 1 when it holds no item (a snapshot). Python: Queue.empty */
PYCONC_API int pc_mp_queue_empty(const pc_mp_queue *q);
/* 1 when a put would wait for room: maxsize items, or the default
   capacity of an "unbounded" queue (Python's is never full then).
   Python: Queue.full */
PYCONC_API int pc_mp_queue_full(const pc_mp_queue *q);
/* maxsize as given (<= 0: unbounded); the capacity really used; bytes
   per fixed item (0 on a message queue); largest message (0 on a
   fixed-size queue). Python: Queue._maxsize */
PYCONC_API long pc_mp_queue_maxsize(const pc_mp_queue *q);
PYCONC_API size_t pc_mp_queue_capacity(const pc_mp_queue *q);
PYCONC_API size_t pc_mp_queue_item_size(const pc_mp_queue *q);
PYCONC_API size_t pc_mp_queue_max_message(const pc_mp_queue *q);

/* This handle puts no more: a later put through it is PC_VALUE ("Queue is
   closed"); gets go on, and other handles (other processes) are not
   affected. Closing twice is harmless. Returns: PC_OK, PC_VALUE (NULL).
   Python: Queue.close */
PYCONC_API int pc_mp_queue_close(pc_mp_queue *q);
/* There is no feeder thread: an item is in shared memory when put
   returns. join_thread returns at once after close (PC_RUNTIME before
   it, as Python asserts); cancel_join_thread does nothing. Both exist so
   that Python code translates line for line.
   Returns: PC_OK, PC_RUNTIME, PC_VALUE (NULL).
   Python: Queue.join_thread, Queue.cancel_join_thread */
PYCONC_API int pc_mp_queue_join_thread(pc_mp_queue *q);
PYCONC_API int pc_mp_queue_cancel_join_thread(pc_mp_queue *q);

/* Joinable queues only. Mark one item got as done; join returns when
   every item put is done. Returns: PC_OK, PC_VALUE (more calls than items
   put: "task_done() called too many times"), PC_RUNTIME (not joinable).
   Python: JoinableQueue.task_done */
PYCONC_API int pc_mp_queue_task_done(pc_mp_queue *q);
/* Wait until every item put (by any process) is done, or an immediate
   shutdown (then PC_OK if all were done, PC_SHUTDOWN if some got items
   were never marked done).
   Beyond Python: a consumer that ends (killed, say) between a get and
   its task_done leaves that task undone for ever; join then gets
   PC_BROKEN within 50 ms, whatever its timeout. Precisely: some process
   among the first 64 that got from the queue has ended having made fewer
   task_done calls than gets (each process's own count). Python's join
   would wait for ever.
   Returns: PC_OK, PC_TIMEOUT (join_timeout), PC_SHUTDOWN, PC_BROKEN,
   PC_RUNTIME (not joinable), PC_VALUE. Blocks: yes.
   Python: JoinableQueue.join */
PYCONC_API int pc_mp_queue_join(pc_mp_queue *q);
PYCONC_API int pc_mp_queue_join_timeout(pc_mp_queue *q, double timeout);

/* Shut the queue down for every process (queue.Queue 3.13's rules):
   later puts are PC_SHUTDOWN, gets take what is left and then get
   PC_SHUTDOWN; immediate also drops the items left (each counts as done),
   gets give PC_SHUTDOWN at once and every join returns. Waiters in every
   process wake. Again is harmless; immediate after 0 upgrades it.
   Returns: PC_OK, PC_VALUE. Python: Queue.shutdown(immediate) (3.13,
   queue.Queue; multiprocessing's queues have none) */
PYCONC_API int pc_mp_queue_shutdown(pc_mp_queue *q, int immediate);
/* 1 once shut down. Python: Queue.is_shutdown */
PYCONC_API int pc_mp_queue_is_shutdown(const pc_mp_queue *q);

// >>F.api: ProcessPoolExecutor (a pc_executor of pyconc_futures.h)
/* What pc_process_pool_new takes; the zero value of each field is
   Python's default. */
typedef struct pc_process_pool_desc {
    int max_workers;                // 0: pc_process_cpu_count()
    const pc_context *mp_context;   // NULL: the default start method
    pc_target_fn initializer;       // run first in each worker as initializer(pack): the
                                    //   worker's copy of initargs (NULL without one), kept
                                    //   for the worker's life; non-zero or pc_raise breaks
                                    //   the pool (PC_BROKEN); NULL: none
    const pc_args *initargs;        // copied by pc_process_pool_new; the copy goes to each
                                    //   worker as it starts (a replacement too)
    int max_tasks_per_child;        // a worker ends after this many and a new one starts;
                                    //   0: no limit; refused with fork (as Python)
    size_t result_size;             // 0: a task's returned pointer crosses as an integer;
                                    //   > 0: result_size bytes at it are copied back (see F)
    int prefetch;                   // tasks sent ahead to a worker besides the one it runs;
                                    //   0: automatic (about 100 us of tasks: 1 for long
                                    //   tasks, up to 1024 for tasks of 100 ns)
} pc_process_pool_desc;

/* Make a pool of max_workers processes (started at once), a pc_executor
   for every pc_executor_* call and pc_executor_map. desc may be NULL.
   Returns NULL on failure: PC_VALUE (negative max_workers or
   max_tasks_per_child, max_tasks_per_child with fork), PC_OS, PC_NOMEM,
   PC_RUNTIME (as pc_process_start).
   Python: ProcessPoolExecutor(max_workers, mp_context, initializer,
   initargs, max_tasks_per_child) */
PYCONC_API pc_executor *pc_process_pool_new(const pc_process_pool_desc *desc);
/* Shut the pool down without waiting (tasks not started are cancelled)
   and send SIGTERM / SIGKILL to every worker: their running and sent
   tasks fail with PC_BROKEN. Returns: PC_OK, PC_VALUE (not a process pool).
   Python: ProcessPoolExecutor.terminate_workers / kill_workers (3.14) */
PYCONC_API int pc_process_pool_terminate_workers(pc_executor *ex);
PYCONC_API int pc_process_pool_kill_workers(pc_executor *ex);
/* Fill out[0..cap) with the live workers' pids; return how many there are
   (0 for anything but a process pool). */
PYCONC_API size_t pc_process_pool_pids(pc_executor *ex, long *out, size_t cap);

// >>F.pool-api: multiprocessing.Pool and ThreadPool
/* A pool of workers with Python's multiprocessing.Pool interface, built on
   a process pool executor (or, with .threads, a thread pool executor:
   multiprocessing.pool.ThreadPool). Tasks follow part F's convention. */
typedef struct pc_pool pc_pool;
/* The result of an *_async call. Python: multiprocessing.pool.AsyncResult */
typedef struct pc_async_result pc_async_result;
/* The results of imap / imap_unordered. Python: pool.IMapIterator */
typedef struct pc_imap_iterator pc_imap_iterator;

/* What pc_pool_new takes; the zero value of each field is Python's default. */
typedef struct pc_pool_desc {
    int processes;                  // workers; 0: pc_process_cpu_count()
    pc_target_fn initializer;       // run first in each worker as initializer(pack), the
                                    //   worker's copy of initargs (NULL without one)
    const pc_args *initargs;        // copied by pc_pool_new (free yours when you like)
    int maxtasksperchild;           // a worker ends after this many tasks and a new one
                                    //   starts (fork too); 0: no limit; not with .threads
    const pc_context *context;      // NULL: the default start method
    size_t result_size;             // as pc_process_pool_desc.result_size, threads too
    int threads;                    // non-zero: a ThreadPool (threads, not processes)
} pc_pool_desc;

/* Called once an *_async call succeeded with its result (apply) or its
   `void **` array of results (map, starmap); error_callback with the
   code and message of the first task that raised. They run in the pool's
   collecting thread before the result is ready; NULL: none. */
typedef struct pc_pool_callbacks {
    void (*callback)(void *result, void *ctx);
    void (*error_callback)(int code, const char *message, void *ctx);
    void *ctx;
} pc_pool_callbacks;

/* Make a pool and start its workers. desc may be NULL.
   Returns NULL on failure: PC_VALUE (negative processes or maxtasksperchild,
   maxtasksperchild with threads), PC_OS, PC_NOMEM, PC_RUNTIME.
   Python: multiprocessing.Pool(processes, initializer, initargs,
   maxtasksperchild, context); ThreadPool(processes, initializer, initargs) */
PYCONC_API pc_pool *pc_pool_new(const pc_pool_desc *desc);
/* Run fn on one argument (arg_size > 0: a copy of arg_size bytes; 0: the
   pointer's value) and wait. out (may be NULL) gets the result: a void *
   when result_size is 0, else result_size bytes.
   Returns: PC_OK, the task's code (message in pc_last_error), PC_BROKEN (its
   worker died), PC_VALUE (pool not running), PC_NOMEM.  Blocks: yes.
   Python: Pool.apply */
PYCONC_API int pc_pool_apply(pc_pool *pool, pc_task_fn fn, const void *arg, size_t arg_size,
                             void *out);
/* As pc_pool_apply, without waiting: *out_result gets a pc_async_result to
   free. cb may be NULL. Returns: PC_OK, PC_VALUE, PC_NOMEM.
   Python: Pool.apply_async(func, args, callback=, error_callback=) */
PYCONC_API int pc_pool_apply_async(pc_pool *pool, pc_task_fn fn, const void *arg,
                                   size_t arg_size, const pc_pool_callbacks *cb,
                                   pc_async_result **out_result);
/* Run fn on each item of desc (items, count, item_size, chunksize, as
   pc_executor_map; timeout and buffersize must be 0) and wait. out (may
   be NULL) gets the results in order: count void * when result_size is
   0, else count * result_size bytes. With result_size 0 and out given,
   the items are read in place (keep them unchanged until it returns) and
   the results go straight into out (after a failure it may hold some);
   else the items are copied first.
   chunksize 0: Python's (count / (4 * processes), rounded up).
   Returns: PC_OK, the code of the first task that raised, PC_BROKEN,
   PC_VALUE, PC_NOMEM.  Blocks: yes.  Python: Pool.map */
PYCONC_API int pc_pool_map(pc_pool *pool, pc_task_fn fn, const pc_map_desc *desc, void *out);
/* As pc_pool_map without waiting; pc_async_result_get gives a `void **`
   array of count results. Python: Pool.map_async */
PYCONC_API int pc_pool_map_async(pc_pool *pool, pc_task_fn fn, const pc_map_desc *desc,
                                 const pc_pool_callbacks *cb, pc_async_result **out_result);
/* Results one by one, in order (imap) or as they finish (imap_unordered);
   chunksize 0 is 1. Returns: PC_OK, PC_VALUE, PC_NOMEM.
   Python: Pool.imap, Pool.imap_unordered */
PYCONC_API int pc_pool_imap(pc_pool *pool, pc_task_fn fn, const pc_map_desc *desc,
                            pc_imap_iterator **out_iter);
PYCONC_API int pc_pool_imap_unordered(pc_pool *pool, pc_task_fn fn, const pc_map_desc *desc,
                                      pc_imap_iterator **out_iter);
/* Wait up to timeout seconds for the next result. A task that raised
   gives its code once (message in pc_last_error); the items after it in
   its chunk did not run and are skipped. Returns: PC_OK, PC_EOF (no more),
   PC_TIMEOUT (call again), the task's code, PC_BROKEN, PC_CANCELLED
   (terminated pool), PC_VALUE.  Blocks: yes.  Python: IMapIterator.next */
PYCONC_API int pc_imap_iterator_next(pc_imap_iterator *it, double timeout, void **out_result);
/* Free the iterator (tasks still running finish on their own). NULL is ignored. */
PYCONC_API void pc_imap_iterator_free(pc_imap_iterator *it);
/* fn(pack) for each of the count packs (Python's argument tuples); fn
   gets the worker's copy of its pack as its `void *` argument (a
   `const pc_args *`). Packs hold values only (int, double, bytes, str): a
   connection or shared object is refused (PC_VALUE). Results and chunksize
   as pc_pool_map. Returns: as pc_pool_map.
   Python: Pool.starmap, Pool.starmap_async */
PYCONC_API int pc_pool_starmap(pc_pool *pool, pc_task_fn fn, const pc_args *const *packs,
                               size_t count, size_t chunksize, void *out);
PYCONC_API int pc_pool_starmap_async(pc_pool *pool, pc_task_fn fn, const pc_args *const *packs,
                                     size_t count, size_t chunksize,
                                     const pc_pool_callbacks *cb, pc_async_result **out_result);
/* No more tasks; the workers end once the queued ones are done.
   Returns: PC_OK, PC_VALUE (NULL).  Python: Pool.close */
PYCONC_API int pc_pool_close(pc_pool *pool);
/* Stop at once: tasks not started are cancelled (PC_CANCELLED), running
   ones fail (PC_BROKEN; with threads they finish), and the workers are
   ended and waited for. Returns: PC_OK, PC_VALUE.  Blocks: yes.
   Python: Pool.terminate */
PYCONC_API int pc_pool_terminate(pc_pool *pool);
/* Wait for the workers to end, after close or terminate.
   Returns: PC_OK, PC_VALUE (the pool is still running).  Blocks: yes.
   Python: Pool.join */
PYCONC_API int pc_pool_join(pc_pool *pool);
/* Terminate the pool if it still runs (Python's `with Pool() as p:`), join
   and free it. Async results and iterators outlive it. NULL is ignored. */
PYCONC_API void pc_pool_free(pc_pool *pool);

/* Wait up to timeout seconds; *out_result (may be NULL) gets the result
   (apply: the value, or a pointer to result_size bytes; map: a `void **`
   array), valid until pc_async_result_free.
   Returns: PC_OK, PC_TIMEOUT, the first task's code (message in
   pc_last_error), PC_BROKEN, PC_CANCELLED, PC_VALUE.  Blocks: yes.
   Python: AsyncResult.get */
PYCONC_API int pc_async_result_get(pc_async_result *r, double timeout, void **out_result);
/* Wait up to timeout seconds for the result. Returns: PC_OK (ready),
   PC_TIMEOUT, PC_VALUE.  Blocks: yes.  Python: AsyncResult.wait */
PYCONC_API int pc_async_result_wait(pc_async_result *r, double timeout);
/* 1 once ready, else 0.  Python: AsyncResult.ready */
PYCONC_API int pc_async_result_ready(const pc_async_result *r);
/* *out gets 1 when every task succeeded, else 0.
   Returns: PC_OK, PC_VALUE (not ready yet, as Python's ValueError).
   Python: AsyncResult.successful */
PYCONC_API int pc_async_result_successful(const pc_async_result *r, int *out);
/* Let go of the result (the tasks still run, callbacks still come). NULL is ignored. */
PYCONC_API void pc_async_result_free(pc_async_result *r);

// >>G.api: an MPI executor (with PYCONC_MPI and <mpi.h>)
#ifdef PYCONC_MPI
#ifdef __cplusplus
}       // <mpi.h> holds C++ of its own
#endif
#include <mpi.h>
#ifdef __cplusplus
extern "C" {
#endif
/* What pc_mpi_comm_executor_new takes; the zero value of each field is
   the default. Every rank passes the same desc. */
typedef struct pc_mpi_comm_executor_desc {
    const MPI_Comm *comm;           // the ranks to use (duplicated, so its traffic is
                                    //   apart from yours); NULL: MPI_COMM_WORLD
    int root;                       // the rank that gets the executor; 0
    size_t result_size;             // 0: a task's returned pointer crosses as an integer;
                                    //   > 0: result_size bytes at it are copied back
    int local_workers;              // processes of the node-local pool each serving rank
                                    //   runs its tasks in; 0: 1
    const pc_context *mp_context;   // their start method (fork or forkserver); NULL: fork
    int prefetch;                   // tasks sent ahead to a serving rank besides the ones
                                    //   its processes run; 0: 2
    int no_isolation;               // 1: a serving rank runs tasks itself, no local pool
                                    //   (local_workers 1: on its serving thread, more: on
                                    //   that many threads): cheaper per task, but a crashing
                                    //   task ends the job (as mpi4py's); 0: in the pool
} pc_mpi_comm_executor_desc;

/* Collective over desc->comm: on rank root, return an executor whose tasks
   run on the other ranks; on every other rank, run the tasks root sends
   until root shuts the executor down, then return NULL with
   pc_last_error_code() == PC_OK. Call it on every rank and branch on the
   result (mpi4py's `with MPICommExecutor() as ex: if ex is not None:`):
       pc_executor *ex = pc_mpi_comm_executor_new(&desc);
       if (ex) { ...submit, map...; pc_executor_free(ex); }
       else if (pc_last_error_code()) { ...failed... }
       MPI_Finalize();
   Every rank runs the same program: a function crosses as (object,
   offset), arguments and map items by copy, results as with
   pc_process_pool_new (see F). A serving rank runs each task in its
   node-local process pool, so a task that crashes fails only its future
   (PC_BROKEN); with desc->no_isolation it runs them itself instead (no
   pool to cross, but a crash ends the job). MPI is initialized if it is
   not (MPI_THREAD_MULTIPLE asked for; root needs at least
   MPI_THREAD_SERIALIZED); MPI_Finalize is yours.
   A task message over INT_MAX bytes is refused at submit (PC_VALUE).
   Returns NULL on failure: PC_VALUE (bad root, a single rank, a thread
   level below SERIALIZED), PC_NOMEM, PC_OS, PC_RUNTIME (an MPI call failed).
   Blocks: on a serving rank, until shutdown.
   Python: mpi4py.futures.MPICommExecutor(comm, root) */
PYCONC_API pc_executor *pc_mpi_comm_executor_new(const pc_mpi_comm_executor_desc *desc);

/* What pc_mpi_pool_executor_new takes; the zero value of each field is the
   default. The parent and the workers it spawns pass the same desc. */
typedef struct pc_mpi_pool_executor_desc {
    int max_workers;                // worker processes to spawn; 0: the CPU count
    size_t result_size;             // as pc_mpi_comm_executor_desc's
    int local_workers;              // processes of each worker's node-local pool; 0: 1
    const pc_context *mp_context;   // their start method (fork or forkserver); NULL: fork
    int prefetch;                   // tasks sent ahead to a worker; 0: 2
    int no_isolation;               // 1: a worker runs tasks on threads, no local pool
                                    //   (as pc_mpi_comm_executor_desc's)
    const char *program;            // the program the workers run; NULL: this one
                                    //   (/proc/self/exe), which must call this first
    char *const *argv;              // its arguments (NULL-terminated, without the name);
                                    //   NULL: this program's own (/proc/self/cmdline)
} pc_mpi_pool_executor_desc;

/* Spawn max_workers worker processes (MPI_Comm_spawn over MPI_COMM_SELF)
   running this same program and return an executor whose tasks run on
   them. In a spawned worker (MPI_Comm_get_parent is not MPI_COMM_NULL)
   the call serves its parent's tasks until the executor is shut down,
   then finalizes MPI and exits the process with status 0: it never
   returns. So a program calls it early in main, before doing what a
   worker must not (Python's `if __name__ == '__main__':` with mpi4py's
   server), and runs as `./prog` or `mpirun -np 1 ./prog`:
       pc_executor *ex = pc_mpi_pool_executor_new(&desc);  // workers stay here
       if (!ex) { ...pc_last_error()...; }
       ...submit, map...; pc_executor_free(ex);              // the workers exit
       MPI_Finalize();
   Tasks, crash isolation and limits are as pc_mpi_comm_executor_new's.
   MPI is initialized if it is not; MPI_Finalize is yours. With Open MPI
   the spawn asks for "map_by slot:OVERSUBSCRIBE" (more workers than
   slots); its spawned workers talk to the parent over TCP, not shared
   memory, and a program started without mpirun (singleton) needs Open
   MPI's orted to spawn.
   Returns NULL on failure: PC_VALUE (max_workers < 0, a thread level below
   SERIALIZED), PC_NOMEM, PC_OS (this program's path or arguments),
   PC_RUNTIME (MPI_Comm_spawn failed: its message).
   Blocks: in a spawned worker, until shutdown, then exits.
   Python: mpi4py.futures.MPIPoolExecutor(max_workers) */
PYCONC_API pc_executor *pc_mpi_pool_executor_new(const pc_mpi_pool_executor_desc *desc);
#endif // PYCONC_MPI

// >>I.api: Manager
/* A manager: a server process holding dicts and lists that other
   processes reach through proxies (a connection per proxy and thread, with
   the authkey).
   Python: multiprocessing.managers.SyncManager */
typedef struct pc_manager pc_manager;
/* A proxy to one object of a manager's server (a dict, a list, a lock ...).
   Python: multiprocessing.managers.DictProxy, ListProxy, AcquirerProxy ... */
typedef struct pc_proxy pc_proxy;
/* Calls on one proxy, sent together (pipelined) and answered in order. */
typedef struct pc_proxy_batch pc_proxy_batch;

typedef struct pc_manager_desc {
    /* The server's address, as pc_listener_desc takes it. NULL: a fresh
       name in Linux's abstract namespace ("@..."), which nothing has to
       remove, even after a SIGKILL (Python: a socket file). Required by
       pc_manager_connect. */
    const char *address;
    pc_family family;           // PC_AF_DEFAULT: from the address
    /* NULL: the current process's authkey (Python's default). Copied;
       1..PC_AUTHKEY_MAX bytes. */
    const void *authkey;
    size_t authkey_size;
    const pc_context *context;  // the server's start method; NULL: the default
    /* Run in the server process before it serves, as initializer(its copy
       of initargs) (a pc_args *, valid while the server runs: the function
       may keep what it holds). Non-zero or pc_raise: pc_manager_new fails
       with that code and the message. A function of the program or of a
       loaded library (under spawn and forkserver it is found again by
       where it lies). NULL: none. pc_manager_new only.
       Python: BaseManager.start(initializer, initargs) */
    pc_target_fn initializer;
    const pc_args *initargs;    // copied (NULL: an empty pack)
} pc_manager_desc;

/* Start a server process and return its manager. The server is a daemonic
   child: when this process exits without pc_manager_shutdown, the exit
   terminates it (Python's finalizer shuts it down too).
   Returns NULL on failure (pc_last_error: PC_VALUE (bad address or key),
   PC_RUNTIME (a daemonic process cannot start it), PC_OS, PC_NOMEM).
   Blocks: until the server listens.
   Python: multiprocessing.Manager(), SyncManager(address, authkey, ctx).start() */
PYCONC_API pc_manager *pc_manager_new(const pc_manager_desc *desc);
/* Connect to a manager started elsewhere (desc->address required); the
   connection is checked, then closed (each proxy makes its own).
   Returns NULL on failure: PC_VALUE, PC_AUTH, PC_OS (nothing there), PC_NOMEM.
   Python: BaseManager(address, authkey).connect() */
PYCONC_API pc_manager *pc_manager_connect(const pc_manager_desc *desc);
/* Stop the server (a manager from pc_manager_new, in the process that made
   it): ask it to exit, wait up to a second, then kill it; reap it. Proxies
   get PC_BROKEN from then on. A connected manager only stops making
   proxies. Again is harmless.
   Returns: PC_OK, PC_VALUE (NULL).  Blocks: up to about a second.
   Python: BaseManager.shutdown */
PYCONC_API int pc_manager_shutdown(pc_manager *m);
/* Shut down (if this process started the server) and release. Proxies
   stay the caller's to free. NULL is ignored. */
PYCONC_API void pc_manager_free(pc_manager *m);
/* Wait for the server this process started to end (after a shutdown
   request from another program or connection, or its death); it is
   reaped then. A connected manager, or one started by another process,
   has none to wait for: PC_OK at once. Returns: PC_OK, PC_TIMEOUT (still
   running), PC_VALUE (NULL, a NaN timeout).  Blocks: up to timeout
   (negative: no limit).  Python: BaseManager.join(timeout) */
PYCONC_API int pc_manager_join(pc_manager *m, double timeout);
/* The server's address ("@..." or as given): pc_manager_connect takes it.
   Python: BaseManager.address */
PYCONC_API const char *pc_manager_address(const pc_manager *m);
/* Make an empty dict / list in the server; *out_proxy is the caller's
   (pc_proxy_free). The object lives as long as the server.
   Returns: PC_OK, PC_VALUE (NULL), PC_RUNTIME (manager shut down),
   PC_BROKEN (server gone), PC_AUTH, PC_NOMEM.  Blocks: one round trip.
   Python: SyncManager.dict(), SyncManager.list() */
PYCONC_API int pc_manager_dict(pc_manager *m, pc_proxy **out_proxy);
PYCONC_API int pc_manager_list(pc_manager *m, pc_proxy **out_proxy);

/* A value held by a manager's dict or list: None, an int, a float, bytes
   or a str; or (PC_ARG_PROXY, in a dict, a list or a Namespace) a proxy to
   another object of the same server, which the server keeps as a
   reference: getting it gives a new proxy. A value a call fills
   (out_value) owns its data and its proxy: release it with
   pc_proxy_value_free. */
typedef struct pc_proxy_value {
    pc_arg_type type;           // PC_ARG_NONE (Python's None), _INT, _DOUBLE, _BYTES, _STR
    int64_t i;                  // PC_ARG_INT
    double d;                   // PC_ARG_DOUBLE
    const void *data;           // PC_ARG_BYTES, PC_ARG_STR (NUL-terminated)
    size_t size;                // bytes of data (a str: without its NUL)
    pc_proxy *proxy;            // PC_ARG_PROXY: a proxy to an object of the same manager
} pc_proxy_value;

/* Values to pass in (borrowing data; pc_proxy_nested borrows p). */
PYCONC_API pc_proxy_value pc_proxy_none(void);
PYCONC_API pc_proxy_value pc_proxy_int(int64_t i);
PYCONC_API pc_proxy_value pc_proxy_double(double d);
PYCONC_API pc_proxy_value pc_proxy_bytes(const void *data, size_t size);
PYCONC_API pc_proxy_value pc_proxy_str(const char *s);
PYCONC_API pc_proxy_value pc_proxy_nested(pc_proxy *p);
/* Release what a call filled in, a nested proxy too (the value becomes
   None). NULL is ignored. */
PYCONC_API void pc_proxy_value_free(pc_proxy_value *v);

/* Every proxy call below is one request and its reply on the calling
   thread's connection for the proxy (made at the thread's first call, and
   again in a fork child, whose copy of the parent's is never used; all
   closed by pc_proxy_free). A proxy may be shared by threads: a call that
   waits in the server holds up no other thread's. Common results: PC_OK;
   PC_BROKEN when the server is gone (dead, shut down: at once, never a
   hang); PC_VALUE for NULL, a bad value type, a missing key (Python's
   KeyError: the message starts "KeyError") or index (IndexError), or a
   call of the other kind (dict call on a list); PC_NOMEM.
   Blocks: one round trip.  Thread-safe: yes. */
/* Python: d[key] = value */
PYCONC_API int pc_proxy_dict_set(pc_proxy *p, const char *key, pc_proxy_value value);
/* d[key] (dflt NULL: a missing key is PC_VALUE "KeyError"), d.get(key, dflt). */
PYCONC_API int pc_proxy_dict_get(pc_proxy *p, const char *key, const pc_proxy_value *dflt,
                                 pc_proxy_value *out_value);
/* Python: del d[key] (missing: PC_VALUE "KeyError") */
PYCONC_API int pc_proxy_dict_del(pc_proxy *p, const char *key);
/* Python: len(d), len(l) */
PYCONC_API int pc_proxy_len(pc_proxy *p, size_t *out_len);
/* The keys, in insertion order, as a pack of strs (pc_args_free it).
   Python: list(d.keys()) */
PYCONC_API int pc_proxy_dict_keys(pc_proxy *p, pc_args **out_keys);
/* *out_found = 1 if key is in d, else 0. Python: key in d */
PYCONC_API int pc_proxy_dict_contains(pc_proxy *p, const char *key, int *out_found);
/* Remove key and give its value (dflt NULL: missing is PC_VALUE "KeyError").
   Python: d.pop(key[, dflt]) */
PYCONC_API int pc_proxy_dict_pop(pc_proxy *p, const char *key, const pc_proxy_value *dflt,
                                 pc_proxy_value *out_value);
/* Set each pair of pairs: a str key, then its value (int, double, bytes or
   str); all or nothing. Python: d.update({...}) */
PYCONC_API int pc_proxy_dict_update(pc_proxy *p, const pc_args *pairs);
/* Python: d.clear() */
PYCONC_API int pc_proxy_dict_clear(pc_proxy *p);
/* Python: l.append(value) */
PYCONC_API int pc_proxy_list_append(pc_proxy *p, pc_proxy_value value);
/* Item i (negative counts from the end; out of range: PC_VALUE
   "IndexError"). Python: l[i], l[i] = value */
PYCONC_API int pc_proxy_list_get(pc_proxy *p, int64_t i, pc_proxy_value *out_value);
PYCONC_API int pc_proxy_list_set(pc_proxy *p, int64_t i, pc_proxy_value value);
/* Remove item i (-1: the last) and give it. Python: l.pop(i) */
PYCONC_API int pc_proxy_list_pop(pc_proxy *p, int64_t i, pc_proxy_value *out_value);
/* Append every item of items (ints, doubles, bytes, strs); all or nothing.
   Python: l.extend([...]) */
PYCONC_API int pc_proxy_list_extend(pc_proxy *p, const pc_args *items);
/* Python: l.reverse() */
PYCONC_API int pc_proxy_list_reverse(pc_proxy *p);

/* Put a proxy in a pack (as one bytes item: the server's address, the
   authkey and the object's id), so that it crosses to a child under any
   start method, or over a connection. Returns: PC_OK, PC_VALUE, PC_NOMEM.
   Python: pickling a proxy */
PYCONC_API int pc_proxy_add_to_args(pc_args *a, const pc_proxy *p);
/* Make a proxy from item i of a pack (pc_proxy_free it); it connects at
   its first call. Returns: PC_OK, PC_VALUE (not a proxy), PC_NOMEM.
   Python: unpickling a proxy */
PYCONC_API int pc_proxy_from_args(const pc_args *a, size_t i, pc_proxy **out_proxy);
/* Close the proxy's connection and release it (the object stays in the
   server). NULL is ignored. */
PYCONC_API void pc_proxy_free(pc_proxy *p);

// Manager data: Namespace, Value, Array, set, registered types
/* The calls below are proxy calls as above (one round trip, PC_BROKEN when
   the server is gone, PC_VALUE for NULL or a proxy of another type). */
/* Make a Namespace in the server (attributes by name).
   Python: SyncManager.Namespace() */
PYCONC_API int pc_manager_namespace(pc_manager *m, pc_proxy **out_proxy);
/* Set, get and delete attribute name (a non-empty str); a missing one is
   PC_VALUE "AttributeError: ...". The value may be a nested proxy.
   Python: ns.name = value, ns.name, del ns.name */
PYCONC_API int pc_proxy_namespace_set(pc_proxy *p, const char *name, pc_proxy_value value);
PYCONC_API int pc_proxy_namespace_get(pc_proxy *p, const char *name, pc_proxy_value *out_value);
PYCONC_API int pc_proxy_namespace_del(pc_proxy *p, const char *name);
/* The attribute names in the order they were first set, as a pack of strs
   (pc_args_free it). Python: list(vars(ns)) */
PYCONC_API int pc_proxy_namespace_names(pc_proxy *p, pc_args **out_names);

/* Make a Value of typecode (one of pc_mp_value's, but 'u': the integer
   codes b B h H i I l L q Q and '?' take an int in the C type's range, 'f'
   and 'd' a float or an int, 'c' bytes of length 1) holding value; a value
   of the wrong class is PC_VALUE "TypeError: ...", out of range PC_VALUE
   "OverflowError: ...". Python: SyncManager.Value(typecode, value) */
PYCONC_API int pc_manager_value(pc_manager *m, const char *typecode, pc_proxy_value value,
                                pc_proxy **out_proxy);
/* Python: v.value, v.value = x (checked as pc_manager_value checks) */
PYCONC_API int pc_proxy_value_get(pc_proxy *p, pc_proxy_value *out_value);
PYCONC_API int pc_proxy_value_set(pc_proxy *p, pc_proxy_value value);

/* Make an Array of typecode (as pc_manager_value's) holding items (a pack
   of ints, floats or bytes, each checked as a Value's; size must then be 0
   or its length), or, items NULL, size zeros (at most 16777216 items).
   len: pc_proxy_len.
   Python: SyncManager.Array(typecode, sequence) */
PYCONC_API int pc_manager_array(pc_manager *m, const char *typecode, size_t size,
                                const pc_args *items, pc_proxy **out_proxy);
/* Item i (negative counts from the end; out of range: PC_VALUE
   "IndexError"). Python: a[i], a[i] = value */
PYCONC_API int pc_proxy_array_get(pc_proxy *p, int64_t i, pc_proxy_value *out_value);
PYCONC_API int pc_proxy_array_set(pc_proxy *p, int64_t i, pc_proxy_value value);
/* Items start..stop (Python's slice: negatives count from the end, both
   clipped to the array) as a pack (pc_args_free it). Python: a[start:stop] */
PYCONC_API int pc_proxy_array_slice(pc_proxy *p, int64_t start, int64_t stop,
                                    pc_args **out_items);

/* Make an empty set in the server; its members are ints, floats, bytes or
   strs (1 and 1.0 are one member, as in Python). len: pc_proxy_len.
   Python: SyncManager.set() (3.14) */
PYCONC_API int pc_manager_set(pc_manager *m, pc_proxy **out_proxy);
/* Python: s.add(v), s.discard(v), s.remove(v) (missing: PC_VALUE "KeyError") */
PYCONC_API int pc_proxy_set_add(pc_proxy *p, pc_proxy_value value);
PYCONC_API int pc_proxy_set_discard(pc_proxy *p, pc_proxy_value value);
PYCONC_API int pc_proxy_set_remove(pc_proxy *p, pc_proxy_value value);
/* *out_found = 1 if value is a member, else 0. Python: v in s */
PYCONC_API int pc_proxy_set_contains(pc_proxy *p, pc_proxy_value value, int *out_found);
/* Remove a member and give it (empty: PC_VALUE "KeyError").
   Python: s.pop() */
PYCONC_API int pc_proxy_set_pop(pc_proxy *p, pc_proxy_value *out_value);
/* Python: s.clear() */
PYCONC_API int pc_proxy_set_clear(pc_proxy *p);
/* Add every item of items (ints, floats, bytes, strs); all or nothing.
   Python: s.update([...]) */
PYCONC_API int pc_proxy_set_update(pc_proxy *p, const pc_args *items);
/* The members, in the order they were added, as a pack (pc_args_free it).
   Python: list(s) */
PYCONC_API int pc_proxy_set_items(pc_proxy *p, pc_args **out_items);

/* A registered type's functions, which run in the server process. create
   makes an object from the constructor's arguments (NULL: failure, with
   pc_raise's message if it raised one); destroy (may be NULL) releases it
   when the server stops; a method reads in, adds its results to out and
   returns PC_OK, or a status code (with pc_raise's message) the caller
   gets. Each must be a function of the program or of a loaded library:
   under spawn and forkserver the server finds it again by where it lies. */
typedef void *(*pc_manager_create_fn)(const pc_args *args);
typedef void (*pc_manager_destroy_fn)(void *self);
typedef int (*pc_manager_method_fn)(void *self, const pc_args *in, pc_args *out);
typedef struct pc_manager_method {
    const char *name;
    pc_manager_method_fn fn;
} pc_manager_method;
typedef struct pc_manager_type_desc {
    pc_manager_create_fn create;            // required
    pc_manager_destroy_fn destroy;          // NULL: nothing to release
    const pc_manager_method *methods;       // n_methods rows (copied)
    size_t n_methods;
} pc_manager_type_desc;

/* Serve a type of the program's own as typeid (1..31 bytes, not a built-in
   type's) in every manager this process starts afterwards. Call it before
   the first pc_manager_new. Returns: PC_OK, PC_VALUE (NULL parts, a
   duplicate typeid or method name), PC_RUNTIME (a manager was started
   already), PC_NOMEM.  Thread-safe: yes.
   Python: BaseManager.register(typeid, callable) */
PYCONC_API int pc_manager_register(const char *type_id, const pc_manager_type_desc *desc);
/* Make an object of a registered type (create gets args, may be NULL) and
   a proxy to it. Returns as pc_manager_dict does, and PC_VALUE for an
   unknown typeid; create's failure comes back with its code and message.
   Python: calling the registered name on a manager, m.typeid(*args) */
PYCONC_API int pc_manager_create(pc_manager *m, const char *type_id, const pc_args *args,
                                 pc_proxy **out_proxy);
/* Call method on a registered type's object with the items of in (ints,
   floats, bytes, strs; may be NULL); *out (may be NULL) gets its results
   as a pack (pc_args_free it). An unknown method is PC_VALUE; a method's
   status code comes back with its message (a code outside PC_* as PC_OS).
   Python: BaseProxy._callmethod(name, args) */
PYCONC_API int pc_proxy_callmethod(pc_proxy *p, const char *method, const pc_args *in,
                                   pc_args **out);
// Compound dict operations and pipelined batches ("wire"): each saves
// round trips. The common results of the proxy calls above apply.
/* Give d[key], first setting it to dflt if key is missing, in one round
   trip (no other client's call comes between the look and the set).
   out_value (may be NULL) gets the value d[key] holds now.
   Python: d.setdefault(key, dflt) */
PYCONC_API int pc_proxy_dict_setdefault(pc_proxy *p, const char *key, pc_proxy_value dflt,
                                        pc_proxy_value *out_value);
/* Add delta (an int or a float) to d[key] in the server, in one round
   trip: concurrent increments from many processes are never lost. A
   missing key starts at 0; int + int stays an int (past 64 bits:
   PC_VALUE "OverflowError"), with a float it becomes a float; a value
   that is not a number (str, bytes, None) is PC_VALUE "TypeError" and
   stays as it was. out_value (may be NULL) gets the new value.
   Python: d[key] = d.get(key, 0) + delta, made atomic */
PYCONC_API int pc_proxy_dict_incr(pc_proxy *p, const char *key, pc_proxy_value delta,
                                  pc_proxy_value *out_value);

/* Serve objects from this process, at desc->address (required: a fixed
   "host:port", socket path or "@name", for programs that connect to it
   with pc_manager_connect), with desc's authkey (NULL: this process's),
   until the server is asked to stop (the shutdown request a manager that
   started a server sends), as Python's server runs until interrupted.
   Connections are served on threads of their own; the calling thread
   accepts. A process serves once (again: PC_RUNTIME). A wrong key is
   PC_AUTH on both sides: the client's connect fails with it, and the
   server drops that connection, writes a WARNING to the library's logger
   (pc_get_logger; by default stderr) "manager: a client at <peer> failed
   the authkey handshake (...)" and keeps serving (a pc_manager_new
   server does the same in its process).
   Returns: PC_OK once stopped; at once PC_VALUE (no address, bad key or
   family), PC_OS (the address is in use, ...), PC_RUNTIME.
   Blocks: while it serves.
   Python: BaseManager(address, authkey).get_server().serve_forever() */
PYCONC_API int pc_manager_serve_forever(const pc_manager_desc *desc);

/* A batch of calls on one proxy's object, sent together (pipelined) on
   a connection of the batch's own and answered in order: thousands of
   calls cost about one round trip, not one each. Queue calls (each gets
   the next index from 0), then pc_proxy_batch_run; results go to the
   out pointers given when queueing, which must stay valid until the run.
   Queueing after a run starts the next batch (the batch and its
   connection are reused). The proxy must outlive the batch. A batch is
   for one thread at a time. Returns NULL on failure (PC_VALUE: p is NULL;
   PC_NOMEM). */
PYCONC_API pc_proxy_batch *pc_proxy_batch_new(pc_proxy *p);
/* Queue d[key] = value / d.get(key[, dflt]) (dflt NULL: a missing key is
   that call's PC_VALUE "KeyError") / pc_proxy_dict_incr. Nothing is sent
   yet. Returns: PC_OK, PC_VALUE (NULL, bad value, not a dict proxy; the
   call is not queued), PC_NOMEM.  Blocks: no. */
PYCONC_API int pc_proxy_batch_dict_set(pc_proxy_batch *b, const char *key,
                                       pc_proxy_value value);
PYCONC_API int pc_proxy_batch_dict_get(pc_proxy_batch *b, const char *key,
                                       const pc_proxy_value *dflt, pc_proxy_value *out_value);
PYCONC_API int pc_proxy_batch_dict_incr(pc_proxy_batch *b, const char *key,
                                        pc_proxy_value delta, pc_proxy_value *out_value);
/* Queue any method of the object (as the server names it: "len", "append",
   "keys", ...) with the items of args (ints, floats, bytes, strs; may be
   NULL), in the server's form: a value is two items, its pc_arg_type as
   an int, then its payload (append takes [PC_ARG_INT, 9]). *out_results
   (may be NULL) gets a pack of the results in the same form (item 0 on;
   pc_args_free it), or NULL if the call fails.
   Python: BaseProxy._callmethod(method, args) */
PYCONC_API int pc_proxy_batch_call(pc_proxy_batch *b, const char *method, const pc_args *args,
                                   pc_args **out_results);
/* Send every queued call and read every reply, sending while replies are
   read (no deadlock however large the batch or its values). Each call has
   its own status: a failing call fails only itself. If the server dies
   (or the connection breaks) the calls not answered get PC_BROKEN at once.
   Returns: PC_OK when every call succeeded; otherwise the first failed
   call's status, pc_last_error naming it ("batch call 3 (get): KeyError:
   ..."); PC_VALUE (NULL); PC_RUNTIME (run again with nothing queued).
   Blocks: until every reply is in. */
PYCONC_API int pc_proxy_batch_run(pc_proxy_batch *b);
/* The number of calls queued (and, after a run, answered or failed). */
PYCONC_API size_t pc_proxy_batch_len(const pc_proxy_batch *b);
/* Call i's status after the run (PC_OK, or its error: PC_VALUE for a
   KeyError ..., PC_BROKEN); PC_VALUE for no call i. */
PYCONC_API int pc_proxy_batch_status(const pc_proxy_batch *b, size_t i);
/* Call i's error message ("" when it succeeded); valid until the batch
   changes. */
PYCONC_API const char *pc_proxy_batch_error(const pc_proxy_batch *b, size_t i);
/* Close the batch's connection and release it. NULL is ignored. */
PYCONC_API void pc_proxy_batch_free(pc_proxy_batch *b);
// Synchronisation objects and queues a manager serves (// >>I.sync).
/* Make a Lock, RLock, Semaphore(value), BoundedSemaphore(value), Event,
   Condition (over its own RLock), Barrier(parties) (no action),
   Queue(maxsize) or JoinableQueue(maxsize) (maxsize <= 0: no bound) in the
   server; *out_proxy is the caller's (pc_proxy_free).
   Returns: PC_OK, PC_VALUE (NULL, value < 0, parties < 1), PC_RUNTIME
   (manager shut down), PC_BROKEN, PC_AUTH, PC_NOMEM.  Blocks: one round trip.
   Python: SyncManager.Lock(), RLock(), Semaphore(value),
   BoundedSemaphore(value), Event(), Condition(), Barrier(parties),
   Queue(maxsize), JoinableQueue(maxsize) */
PYCONC_API int pc_manager_lock(pc_manager *m, pc_proxy **out_proxy);
PYCONC_API int pc_manager_rlock(pc_manager *m, pc_proxy **out_proxy);
PYCONC_API int pc_manager_semaphore(pc_manager *m, int64_t value, pc_proxy **out_proxy);
PYCONC_API int pc_manager_bounded_semaphore(pc_manager *m, int64_t value,
                                            pc_proxy **out_proxy);
PYCONC_API int pc_manager_event(pc_manager *m, pc_proxy **out_proxy);
PYCONC_API int pc_manager_condition(pc_manager *m, pc_proxy **out_proxy);
PYCONC_API int pc_manager_barrier(pc_manager *m, int64_t parties, pc_proxy **out_proxy);
PYCONC_API int pc_manager_queue(pc_manager *m, int64_t maxsize, pc_proxy **out_proxy);
PYCONC_API int pc_manager_joinable_queue(pc_manager *m, int64_t maxsize,
                                         pc_proxy **out_proxy);

/* The calls below wait in the server without holding up anyone else (each
   thread of a client has its own connection). timeout: seconds, 0 = do not
   wait, PC_FOREVER (any negative) = no limit, NaN = PC_VALUE; the server
   waits at most that long. Besides each call's own results: PC_VALUE (NULL,
   a proxy of another kind), PC_BROKEN (the server is gone: at once, also
   for a call waiting in it), PC_NOMEM.  Thread-safe: yes. */
/* Acquire a Lock or RLock (blocking=False is timeout 0). A lock belongs to
   the connection of the thread that took it: when that connection closes
   (its process dies, SIGKILL included) the server releases it, and the next
   acquire gets it with PC_OWNER_DEAD (held: repair what the dead holder
   left half done). An RLock's holder may take it again.
   Returns: PC_OK, PC_TIMEOUT, PC_OWNER_DEAD.  Blocks: up to timeout.
   Python: Lock.acquire(blocking, timeout), RLock.acquire */
PYCONC_API int pc_proxy_lock_acquire(pc_proxy *p, double timeout);
/* Release a Lock (any thread, any process may) or one level of an RLock
   (only its holder). Returns: PC_OK, PC_RUNTIME (not held / not the
   holder's). Python: Lock.release, RLock.release */
PYCONC_API int pc_proxy_lock_release(pc_proxy *p);
/* Take one from a Semaphore or BoundedSemaphore.
   Returns: PC_OK, PC_TIMEOUT.  Blocks: up to timeout.
   Python: Semaphore.acquire(blocking, timeout) */
PYCONC_API int pc_proxy_semaphore_acquire(pc_proxy *p, double timeout);
/* Give one back. Returns: PC_OK, PC_VALUE (a BoundedSemaphore over its
   initial value: "ValueError").  Python: Semaphore.release */
PYCONC_API int pc_proxy_semaphore_release(pc_proxy *p);
/* Python: Event.set, Event.clear */
PYCONC_API int pc_proxy_event_set(pc_proxy *p);
PYCONC_API int pc_proxy_event_clear(pc_proxy *p);
/* *out_set = 1 if set, else 0. Python: Event.is_set */
PYCONC_API int pc_proxy_event_is_set(pc_proxy *p, int *out_set);
/* Wait until the event is set. Returns: PC_OK (Python's True), PC_TIMEOUT
   (False).  Blocks: up to timeout.  Python: Event.wait(timeout) */
PYCONC_API int pc_proxy_event_wait(pc_proxy *p, double timeout);
/* The Condition's lock (an RLock, as pc_proxy_lock_acquire's).
   Returns as pc_proxy_lock_acquire / _release.
   Python: Condition.acquire, Condition.release */
PYCONC_API int pc_proxy_condition_acquire(pc_proxy *p, double timeout);
PYCONC_API int pc_proxy_condition_release(pc_proxy *p);
/* Release the lock (every level), wait for a notify, take it back.
   Returns: PC_OK (notified), PC_TIMEOUT, PC_RUNTIME (lock not held by this
   thread), PC_OWNER_DEAD (taken back from a holder that died).
   Blocks: up to timeout, then for the lock.  Python: Condition.wait */
PYCONC_API int pc_proxy_condition_wait(pc_proxy *p, double timeout);
/* Wait until predicate(ctx) (run here, holding the lock) is true; the
   timeout covers the whole wait. Returns: PC_OK (true), PC_TIMEOUT (still
   false), as pc_proxy_condition_wait otherwise.  Python: Condition.wait_for */
PYCONC_API int pc_proxy_condition_wait_for(pc_proxy *p, int (*predicate)(void *ctx), void *ctx,
                                           double timeout);
/* Wake up to n waiters (oldest first) / all of them, holding the lock.
   Returns: PC_OK, PC_RUNTIME (lock not held by this thread).
   Python: Condition.notify(n), Condition.notify_all */
PYCONC_API int pc_proxy_condition_notify(pc_proxy *p, int n);
PYCONC_API int pc_proxy_condition_notify_all(pc_proxy *p);
/* Wait for all parties; *out_index (may be NULL) gets this one's arrival
   index (0 .. parties - 1). A timeout breaks the barrier (as Python's).
   Returns: PC_OK, PC_BROKEN (broken, aborted, reset while waiting, or timed
   out).  Blocks: up to timeout.  Python: Barrier.wait(timeout) */
PYCONC_API int pc_proxy_barrier_wait(pc_proxy *p, double timeout, int64_t *out_index);
/* Break it (every wait gets PC_BROKEN until reset) / reset it (waiters get
   PC_BROKEN, the barrier is whole again). Python: Barrier.abort, .reset */
PYCONC_API int pc_proxy_barrier_abort(pc_proxy *p);
PYCONC_API int pc_proxy_barrier_reset(pc_proxy *p);
/* Python: Barrier.parties, Barrier.n_waiting, Barrier.broken */
PYCONC_API int pc_proxy_barrier_parties(pc_proxy *p, int64_t *out_parties);
PYCONC_API int pc_proxy_barrier_n_waiting(pc_proxy *p, int64_t *out_n);
PYCONC_API int pc_proxy_barrier_broken(pc_proxy *p, int *out_broken);
/* Put value (None, int, float, bytes, str) in a Queue or JoinableQueue,
   waiting for room in a bounded one. Returns: PC_OK, PC_FULL (no room in
   time).  Blocks: up to timeout.  Python: Queue.put(item, block, timeout),
   Queue.put_nowait */
PYCONC_API int pc_proxy_queue_put(pc_proxy *p, pc_proxy_value value, double timeout);
PYCONC_API int pc_proxy_queue_put_nowait(pc_proxy *p, pc_proxy_value value);
/* Take the oldest item into *out_value (pc_proxy_value_free it).
   Returns: PC_OK, PC_EMPTY (nothing in time).  Blocks: up to timeout.
   Python: Queue.get(block, timeout), Queue.get_nowait */
PYCONC_API int pc_proxy_queue_get(pc_proxy *p, double timeout, pc_proxy_value *out_value);
PYCONC_API int pc_proxy_queue_get_nowait(pc_proxy *p, pc_proxy_value *out_value);
/* Snapshots. Python: Queue.qsize, Queue.empty, Queue.full */
PYCONC_API int pc_proxy_queue_qsize(pc_proxy *p, size_t *out_size);
PYCONC_API int pc_proxy_queue_empty(pc_proxy *p, int *out_empty);
PYCONC_API int pc_proxy_queue_full(pc_proxy *p, int *out_full);
/* One item taken earlier is finished. Returns: PC_OK, PC_VALUE (more
   calls than items put: "ValueError").  Python: Queue.task_done */
PYCONC_API int pc_proxy_queue_task_done(pc_proxy *p);
/* Wait until every item put is finished. Returns: PC_OK.  Blocks: yes.
   Python: Queue.join */
PYCONC_API int pc_proxy_queue_join(pc_proxy *p);

// Manager more: the rest of the dict's and the list's methods
/* Proxy calls as above. A pack (out_items) holds ints, floats, bytes and
   strs only: a None or nested proxy among the values asked for makes the
   call PC_VALUE "TypeError: ..." (pc_proxy_dict_get, pc_proxy_list_get
   read such an item). Values compare as Python's == does: 1 == 1.0,
   b"a" != "a", None == None, a nested proxy equals one to the same object. */
/* The items in insertion order, as a pack of str key, value, key, value...
   (pc_args_free it). Python: list(d.items()) */
PYCONC_API int pc_proxy_dict_items(pc_proxy *p, pc_args **out_items);
/* The values in insertion order (pc_args_free it). Python: list(d.values()) */
PYCONC_API int pc_proxy_dict_values(pc_proxy *p, pc_args **out_values);
/* The keys, last inserted first, as a pack of strs (pc_args_free it).
   Python: list(reversed(d)) (3.14's DictProxy) */
PYCONC_API int pc_proxy_dict_keys_reversed(pc_proxy *p, pc_args **out_keys);
/* Remove the last inserted item and give its key (a str value) and value
   (release both with pc_proxy_value_free); empty: PC_VALUE "KeyError".
   Python: d.popitem() */
PYCONC_API int pc_proxy_dict_popitem(pc_proxy *p, pc_proxy_value *out_key,
                                     pc_proxy_value *out_value);
/* A new dict in the server holding d's items (a shallow copy: nested
   proxies name the same objects); *out_proxy is the caller's.
   Python: d.copy() (which gives a plain dict: pc_proxy_dict_items gives
   that snapshot; this keeps None and nested proxies and moves no items) */
PYCONC_API int pc_proxy_dict_copy(pc_proxy *p, pc_proxy **out_proxy);

/* Insert value before index i (Python's clipping: negative counts from the
   end, beyond either end goes to that end). Python: l.insert(i, value) */
PYCONC_API int pc_proxy_list_insert(pc_proxy *p, int64_t i, pc_proxy_value value);
/* Remove the first item equal to value (none: PC_VALUE "ValueError").
   Python: l.remove(value) */
PYCONC_API int pc_proxy_list_remove(pc_proxy *p, pc_proxy_value value);
/* The index of the first item equal to value within start..stop (as a
   slice's bounds: 0, INT64_MAX is the whole list); none: PC_VALUE
   "ValueError". Python: l.index(value, start, stop) */
PYCONC_API int pc_proxy_list_index(pc_proxy *p, pc_proxy_value value, int64_t start,
                                   int64_t stop, size_t *out_index);
/* How many items equal value. Python: l.count(value) */
PYCONC_API int pc_proxy_list_count(pc_proxy *p, pc_proxy_value value, size_t *out_count);
/* *out_found = 1 if an item equals value, else 0. Python: value in l */
PYCONC_API int pc_proxy_list_contains(pc_proxy *p, pc_proxy_value value, int *out_found);
/* Sort in place, stably, ascending (reverse non-zero: descending, equal
   items keeping their order). Items must be all numbers (ints and floats),
   all strs (by code point) or all bytes; another mix, a None or a nested
   proxy among two or more items is PC_VALUE "TypeError: '<' not supported
   ...", the list unchanged. Python: l.sort(reverse=reverse) */
PYCONC_API int pc_proxy_list_sort(pc_proxy *p, int reverse);
/* Remove item i (negative counts from the end; out of range: PC_VALUE
   "IndexError"). Python: del l[i] */
PYCONC_API int pc_proxy_list_del(pc_proxy *p, int64_t i);
/* Remove items start..stop (clipped as a slice's bounds).
   Python: del l[start:stop] */
PYCONC_API int pc_proxy_list_del_slice(pc_proxy *p, int64_t start, int64_t stop);
/* Items start..stop (clipped as a slice's bounds) as a pack (pc_args_free
   it). Python: l[start:stop] */
PYCONC_API int pc_proxy_list_slice(pc_proxy *p, int64_t start, int64_t stop,
                                   pc_args **out_items);
/* Python: l.clear() (3.14's ListProxy; del l[:] before) */
PYCONC_API int pc_proxy_list_clear(pc_proxy *p);
/* A new list in the server holding l's items (shallow); *out_proxy is the
   caller's. Python: l.copy() (3.14; a plain list: pc_proxy_list_slice(p,
   0, INT64_MAX, ...) gives that snapshot) */
PYCONC_API int pc_proxy_list_copy(pc_proxy *p, pc_proxy **out_proxy);
/* Repeat the items n times in place (n <= 0 empties it); a result of more
   than 16777216 items is PC_VALUE "MemoryError", the list unchanged.
   Python: l *= n */
PYCONC_API int pc_proxy_list_repeat(pc_proxy *p, int64_t n);

// >>H.api: the program's way in
/* If this process is a pyconc spawn or forkserver child, run it and never
   return; otherwise return at once. The constructor does this already,
   unless PYCONC_PROCESS_NO_CONSTRUCTOR. A bootstrap socket its parent did
   not make is refused (stderr, exit 1); a set-user-ID, set-group-ID or
   file-capability program never runs one and returns (see TRUST). */
PYCONC_API void pc_process_bootstrap(int argc, char **argv);

#ifdef __cplusplus
}
#endif

#endif // PYCONC_PROCESS_H

// ---------------------------------------------------------------------------
#if defined(PYCONC_ALL_IMPLEMENTATION) && !defined(PYCONC_PROCESS_IMPLEMENTATION)
#define PYCONC_PROCESS_IMPLEMENTATION
#endif

#if defined(PYCONC_PROCESS_IMPLEMENTATION) && !defined(PYCONC_PROCESS_IMPLEMENTATION_DONE)
#define PYCONC_PROCESS_IMPLEMENTATION_DONE

// >>A.impl: system headers and the feature macros (each 0 or 1)
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <unistd.h>
#include <dirent.h>
#include <dlfcn.h>
#include <spawn.h>
#include <sys/time.h>
#include <sys/wait.h>
#if defined(__linux__) || defined(__FreeBSD__) || defined(__NetBSD__) || defined(__OpenBSD__)
#include <link.h>
#endif
#if defined(__GLIBC__)
#include <stdio_ext.h>          // __fpending
#endif
#if defined(__linux__)
#include <sys/auxv.h>           // getauxval (glibc, musl)
#include <sys/syscall.h>
#endif

// What this system offers, decided here once; the code tests them with #if.
#if defined(__linux__) || defined(__FreeBSD__) || defined(__NetBSD__) || defined(__OpenBSD__)
#define PC__HAVE_PHDR 1         // dl_iterate_phdr: which object holds an address
#define PC__HAVE_PIPE2 1
#else
#define PC__HAVE_PHDR 0
#define PC__HAVE_PIPE2 0
#endif
#if defined(__linux__) || defined(__FreeBSD__)
#define PC__HAVE_ACCEPT4 1
#else
#define PC__HAVE_ACCEPT4 0
#endif
#if defined(SOCK_CLOEXEC)
#define PC__HAVE_SOCK_CLOEXEC 1
#else
#define PC__HAVE_SOCK_CLOEXEC 0
#endif
#if defined(MSG_CMSG_CLOEXEC)
#define PC__HAVE_CMSG_CLOEXEC 1
#else
#define PC__HAVE_CMSG_CLOEXEC 0
#endif
#if defined(MSG_NOSIGNAL)
#define PC__HAVE_MSG_NOSIGNAL 1
#else
#define PC__HAVE_MSG_NOSIGNAL 0
#endif
#if defined(__linux__) && defined(SYS_pidfd_open) && defined(SYS_pidfd_send_signal)
#define PC__HAVE_PIDFD 1        // the kernel may still lack them: probed at run time
#else
#define PC__HAVE_PIDFD 0
#endif
#if defined(__linux__) && defined(SYS_close_range)
#define PC__HAVE_CLOSE_RANGE 1
#else
#define PC__HAVE_CLOSE_RANGE 0
#endif
#if defined(__linux__) && defined(SYS_memfd_create)
#define PC__HAVE_MEMFD 1        // anonymous shared memory (memfd_create)
#else
#define PC__HAVE_MEMFD 0
#endif
#if defined(__linux__) && defined(SYS_getrandom)
#define PC__HAVE_GETRANDOM 1
#else
#define PC__HAVE_GETRANDOM 0
#endif
#if defined(__linux__) && defined(AT_SECURE)
#define PC__HAVE_AT_SECURE 1    // getauxval(AT_SECURE): a set-user-ID start
#else
#define PC__HAVE_AT_SECURE 0
#endif
#if defined(__GLIBC__) && (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 17))
#define PC__HAVE_SECURE_GETENV 1
#else
#define PC__HAVE_SECURE_GETENV 0
#endif
#if defined(__GLIBC__) && (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 34))
#define PC__HAVE_SPAWN_CLOSEFROM 1  // posix_spawn_file_actions_addclosefrom_np
#else
#define PC__HAVE_SPAWN_CLOSEFROM 0
#endif
#if defined(__GLIBC__)
#define PC__HAVE_PROGRAM_NAME 1     // program_invocation_short_name
#define PC__HAVE_FPENDING 1         // __fpending: bytes a stream has not written yet
#else
#define PC__HAVE_PROGRAM_NAME 0
#define PC__HAVE_FPENDING 0
#endif
#if defined(__APPLE__) || defined(__FreeBSD__) || defined(__NetBSD__) || defined(__OpenBSD__)
#define PC__HAVE_ISSETUGID 1
#else
#define PC__HAVE_ISSETUGID 0
#endif
#if defined(SO_PEERCRED) && defined(__linux__)
#define PC__HAVE_PEERCRED 1
#else
#define PC__HAVE_PEERCRED 0
#endif
#if defined(__APPLE__) || defined(__FreeBSD__) || defined(__NetBSD__) || \
    defined(__OpenBSD__) || defined(__DragonFly__)
#define PC__HAVE_GETPEEREID 1
#else
#define PC__HAVE_GETPEEREID 0
#endif
#if defined(__linux__)
#define PC__HAVE_PROC_SELF_EXE 1
#define PC__HAVE_ABSTRACT_UNIX 1    // unix socket names outside the file system
#else
#define PC__HAVE_PROC_SELF_EXE 0
#define PC__HAVE_ABSTRACT_UNIX 0
#endif

#if defined(__GNUC__) || defined(__clang__)
#define PC__P_NORETURN __attribute__((noreturn))
#else
#define PC__P_NORETURN
#endif

// >>A.posix: the OS layer
// Every OS call of this file goes through these helpers. They retry EINTR
// where a call can be resumed, and leave errno for the caller's message.

extern char **environ;      // a spawned child's environment is ours

// Descriptors.

// Systems without the atomic *_CLOEXEC flags set the flag afterwards (a
// window in which a concurrent fork+exec may inherit the descriptor).
#if !PC__HAVE_SOCK_CLOEXEC || !PC__HAVE_CMSG_CLOEXEC || !PC__HAVE_PIPE2 || !PC__HAVE_ACCEPT4
static int pc__p_os_cloexec(int fd) {
    int flags = fcntl(fd, F_GETFD);
    if (flags < 0 || fcntl(fd, F_SETFD, flags | FD_CLOEXEC) < 0) return -1;
    return 0;
}
#endif

static void pc__p_os_close(int fd) {
    // Linux closes the descriptor even when close() reports EINTR: never retry.
    int saved = errno;
    if (fd >= 0) close(fd);
    errno = saved;
}

static int pc__p_os_is_socket(int fd) {
    struct stat st;
    return fstat(fd, &st) == 0 && S_ISSOCK(st.st_mode);
}

static int pc__p_os_pipe(int fds[2]) {
#if PC__HAVE_PIPE2
    return pipe2(fds, O_CLOEXEC);
#else
    if (pipe(fds) < 0) return -1;
    pc__p_os_cloexec(fds[0]);
    pc__p_os_cloexec(fds[1]);
    return 0;
#endif
}

// A self-pipe: close-on-exec, and both ends non-blocking, so a signal
// handler's write never blocks and a drain never waits.
static int pc__p_os_wake_pipe(int fds[2]) {
    if (pc__p_os_pipe(fds) < 0) return -1;
    fcntl(fds[1], F_SETFL, O_NONBLOCK);
    fcntl(fds[0], F_SETFL, O_NONBLOCK);
    return 0;
}

// Write one byte to a self-pipe (async-signal-safe). A full pipe already
// holds a wake-up, so a failure is ignored.
static void pc__p_os_poke(int fd) {
    char c = 0;
    if (write(fd, &c, 1) < 0) {}
}

// Flush a stream that holds unwritten output. fflush takes the stream's
// lock even when it has nothing to write, and around a fork that write
// is a copy-on-write page fault on each side, at every start.
static void pc__p_os_flush_pending(FILE *f) {
#if PC__HAVE_FPENDING
    if (__fpending(f) == 0) return;
#endif
    fflush(f);
}

// Read and drop all that a non-blocking descriptor holds.
static void pc__p_os_drain(int fd) {
    char drain[64];
    while (read(fd, drain, sizeof drain) > 0) {}
}

// A duplicate of fd numbered lowest or more, close-on-exec.
static int pc__p_os_dup_cloexec(int fd, int lowest) {
    return fcntl(fd, F_DUPFD_CLOEXEC, lowest);
}

// Move fd to a number >= 10 (close-on-exec), so that spawn's dup2 onto
// 3 and 4 never meets a descriptor already sitting there.
static int pc__p_os_move_high(int fd) {
    if (fd >= 10) return fd;
    int nfd = pc__p_os_dup_cloexec(fd, 10);
    if (nfd < 0) return -1;
    close(fd);
    return nfd;
}

// Put a duplicate of fd at number target (not close-on-exec).
static void pc__p_os_dup_to(int fd, int target) { dup2(fd, target); }


// Close every descriptor from lo up (a forkserver child's clean slate).
static void pc__p_os_close_from(int lo) {
#if PC__HAVE_CLOSE_RANGE
    if (syscall(SYS_close_range, (unsigned)lo, ~0u, 0) == 0) return;
#endif
    long max = sysconf(_SC_OPEN_MAX);
    if (max < 0 || max > 65536) max = 65536;
    for (int fd = lo; fd < max; fd++) close(fd);
}

// open(path) for reading, close-on-exec; EINTR retried.
static int pc__p_os_open_read(const char *path) {
    int fd;
    while ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0 && errno == EINTR) {}
    return fd;
}

// Reading and writing.

// Writes to a pipe (or, where MSG_NOSIGNAL is missing, a socket) run with
// SIGPIPE blocked in this thread; afterwards a SIGPIPE the write raised is
// swallowed, so a dead reader is PC_OS/EPIPE as in Python, never the
// default action that kills us. Linux raises it with a partial count too
// (the reader left in the middle of the call), so whatever the write
// returned, a SIGPIPE that became pending during it is ours. One pending
// before is not (ours merged into it): it stays, for its owner.
static int pc__p_os_sigpipe_hold(sigset_t *old) {
    sigset_t pipe_set, pending;
    sigemptyset(&pipe_set);
    sigaddset(&pipe_set, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &pipe_set, old);
    sigpending(&pending);
    return sigismember(&pending, SIGPIPE);
}

// Restore the mask after pc__p_os_sigpipe_hold; errno is kept.
static void pc__p_os_sigpipe_release(const sigset_t *old, int was_pending) {
    sigset_t pipe_set, pending;
    int saved = errno;
    sigemptyset(&pipe_set);
    sigaddset(&pipe_set, SIGPIPE);
    if (!was_pending && sigpending(&pending) == 0 && sigismember(&pending, SIGPIPE)) {
        struct timespec zero = {0, 0};
        while (sigtimedwait(&pipe_set, NULL, &zero) < 0 && errno == EINTR) {}
    }
    pthread_sigmask(SIG_SETMASK, old, NULL);
    errno = saved;
}

// sendmsg that never raises SIGPIPE.
static ssize_t pc__p_os_sendmsg(int sock, const struct msghdr *msg) {
#if PC__HAVE_MSG_NOSIGNAL
    return sendmsg(sock, msg, MSG_NOSIGNAL);
#else
    sigset_t old;
    int was_pending = pc__p_os_sigpipe_hold(&old);
    ssize_t r = sendmsg(sock, msg, 0);
    pc__p_os_sigpipe_release(&old, was_pending);
    return r;
#endif
}

// sendmsg of what the socket takes now, without waiting (MSG_DONTWAIT;
// EAGAIN when it takes nothing); never raises SIGPIPE.
static ssize_t pc__p_os_sendmsg_now(int sock, const struct msghdr *msg) {
    ssize_t r;
#if PC__HAVE_MSG_NOSIGNAL
    while ((r = sendmsg(sock, msg, MSG_NOSIGNAL | MSG_DONTWAIT)) < 0 && errno == EINTR) {}
#else
    sigset_t old;
    int was_pending = pc__p_os_sigpipe_hold(&old);
    while ((r = sendmsg(sock, msg, MSG_DONTWAIT)) < 0 && errno == EINTR) {}
    pc__p_os_sigpipe_release(&old, was_pending);
#endif
    return r;
}

// recvmsg, descriptors that come close-on-exec; EINTR retried.
static ssize_t pc__p_os_recvmsg(int sock, struct msghdr *msg) {
    ssize_t r;
#if PC__HAVE_CMSG_CLOEXEC
    while ((r = recvmsg(sock, msg, MSG_CMSG_CLOEXEC)) < 0 && errno == EINTR) {}
#else
    while ((r = recvmsg(sock, msg, 0)) < 0 && errno == EINTR) {}
#endif
    return r;
}

// One gathering write that never raises SIGPIPE (see above).
static ssize_t pc__p_os_writev(int fd, int is_socket, struct iovec *iov, int n) {
    if (is_socket) {
        struct msghdr msg;
        memset(&msg, 0, sizeof msg);
        msg.msg_iov = iov;
        msg.msg_iovlen = (size_t)n;
        return pc__p_os_sendmsg(fd, &msg);
    }
    sigset_t old;
    int was_pending = pc__p_os_sigpipe_hold(&old);
    ssize_t r = writev(fd, iov, n);
    pc__p_os_sigpipe_release(&old, was_pending);
    return r;
}

// Write every byte of iov[0..n), resuming after partial writes and EINTR.
static int pc__p_os_write_all(int fd, int is_socket, struct iovec *iov, int n) {
    while (n > 0) {
        ssize_t w = pc__p_os_writev(fd, is_socket, iov, n);
        if (w < 0) {
            if (errno == EINTR) continue;
            return pc__os_error("send_bytes");
        }
        size_t done = (size_t)w;
        while (n > 0 && done >= iov->iov_len) {
            done -= iov->iov_len;
            iov++;
            n--;
        }
        if (n > 0) {
            iov->iov_base = (char *)iov->iov_base + done;
            iov->iov_len -= done;
        }
    }
    return PC_OK;
}

static int pc__p_os_wait_readable(int fd, double deadline);

// Read exactly size bytes. End of file before the first byte is PC_EOF
// when at_boundary (between messages), otherwise PC_OS. A finite deadline
// bounds the whole read, however the bytes trickle in: each read waits
// for data first (PC_TIMEOUT, errno ETIMEDOUT). INFINITY adds no call.
static int pc__p_os_read_by(int fd, void *buf, size_t size, int at_boundary, double deadline) {
    size_t got = 0;
    while (got < size) {
        int rc = deadline < INFINITY ? pc__p_os_wait_readable(fd, deadline) : PC_OK;
        if (rc == PC_TIMEOUT) {
            errno = ETIMEDOUT;
            return pc__error(PC_TIMEOUT, "recv_bytes: timed out");
        }
        if (rc) return rc;
        size_t want = size - got;
        if (want > (size_t)SSIZE_MAX) want = (size_t)SSIZE_MAX;
        ssize_t r = read(fd, (char *)buf + got, want);
        if (r < 0) {
            if (errno == EINTR) continue;
            return pc__os_error("recv_bytes");
        }
        if (r == 0) {
            if (got == 0 && at_boundary) return pc__error(PC_EOF, "connection closed by peer");
            errno = EIO;
            return pc__error(PC_OS, "got end of file during message");
        }
        got += (size_t)r;
    }
    return PC_OK;
}

// One read of what has come, up to size bytes; EINTR retried.
static ssize_t pc__p_os_read_some(int fd, void *buf, size_t size) {
    ssize_t r;
    while ((r = read(fd, buf, size)) < 0 && errno == EINTR) {}
    return r;
}

static int pc__p_os_read_all(int fd, void *buf, size_t size, int at_boundary) {
    return pc__p_os_read_by(fd, buf, size, at_boundary, INFINITY);
}

// Wait for fds to be readable, up to a monotonic deadline (INFINITY: no
// limit); EINTR resumes with the time left. Returns PC_OK, PC_TIMEOUT, PC_OS.
static int pc__p_os_poll(struct pollfd *fds, size_t n, double deadline) {
    for (;;) {
        int ms = -1;
        if (deadline < INFINITY) {
            double left = deadline - pc_monotonic();
            if (left < 0) left = 0;
            ms = left > 2000000.0 ? 2000000000 : (int)(left * 1000.0 + 0.999);
        }
        int r = poll(fds, (nfds_t)n, ms);
        if (r > 0) return PC_OK;
        if (r < 0 && errno != EINTR) return pc__os_error("poll");
        if (r == 0 && ms >= 0 && pc_monotonic() >= deadline) return PC_TIMEOUT;
    }
}

// Write len bytes of buf (all of them; see pc__p_os_write_all).
static int pc__p_os_write_buf(int fd, int is_socket, const void *buf, size_t len) {
    struct iovec iov;
    iov.iov_base = (void *)(uintptr_t)buf;
    iov.iov_len = len;
    return len ? pc__p_os_write_all(fd, is_socket, &iov, 1) : PC_OK;
}

// Wait until fd is readable (or at end of file) or the deadline passes;
// deadline 0 only looks. Returns PC_OK, PC_TIMEOUT, PC_OS.
static int pc__p_os_wait_readable(int fd, double deadline) {
    struct pollfd p;
    p.fd = fd;
    p.events = POLLIN;
    p.revents = 0;
    return pc__p_os_poll(&p, 1, deadline);
}

static int pc__p_os_readable_now(int fd) { return pc__p_os_wait_readable(fd, 0) == PC_OK; }

// Sockets.

static int pc__p_os_socket(int domain) {
#if PC__HAVE_SOCK_CLOEXEC
    return socket(domain, SOCK_STREAM | SOCK_CLOEXEC, 0);
#else
    int fd = socket(domain, SOCK_STREAM, 0);
    if (fd >= 0) pc__p_os_cloexec(fd);
    return fd;
#endif
}

// A connected pair of unix sockets of type (SOCK_STREAM, SOCK_SEQPACKET).
static int pc__p_os_unix_pair(int type, int fds[2]) {
#if PC__HAVE_SOCK_CLOEXEC
    return socketpair(AF_UNIX, type | SOCK_CLOEXEC, 0, fds);
#else
    if (socketpair(AF_UNIX, type, 0, fds) < 0) return -1;
    pc__p_os_cloexec(fds[0]);
    pc__p_os_cloexec(fds[1]);
    return 0;
#endif
}

static int pc__p_os_socketpair(int fds[2]) { return pc__p_os_unix_pair(SOCK_STREAM, fds); }

static int pc__p_os_seqpacket_pair(int fds[2]) {
    return pc__p_os_unix_pair(SOCK_SEQPACKET, fds);
}

static int pc__p_os_bind(int fd, const struct sockaddr *sa, socklen_t len) {
    return bind(fd, sa, len);
}

static int pc__p_os_listen(int fd, int backlog) { return listen(fd, backlog); }

static int pc__p_os_reuseaddr(int fd) {
    int one = 1;
    return setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
}

// Small messages go out at once on TCP: each send is already one write.
static void pc__p_os_tcp_nodelay(int fd, int family) {
    int one = 1;
    if (family == AF_INET || family == AF_INET6)
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}

// The address fd is bound to (*len: its size on entry, its length after).
static int pc__p_os_sockname(int fd, struct sockaddr_storage *ss, socklen_t *len) {
    *len = sizeof *ss;
    return getsockname(fd, (struct sockaddr *)ss, len);
}

// The address family of socket fd (AF_UNIX, AF_INET ...), or -1.
static int pc__p_os_socket_family(int fd) {
    struct sockaddr_storage ss;
    socklen_t len;
    return pc__p_os_sockname(fd, &ss, &len) < 0 ? -1 : ss.ss_family;
}

// Shut both directions of a socket down: a thread blocked in it returns.
static void pc__p_os_shutdown(int fd) { shutdown(fd, SHUT_RDWR); }

// connect(), finishing in the background when a signal interrupts it.
static int pc__p_os_connect(int fd, const struct sockaddr *sa, socklen_t len) {
    if (connect(fd, sa, len) == 0) return 0;
    if (errno != EINTR && errno != EINPROGRESS) return -1;
    struct pollfd p;
    p.fd = fd;
    p.events = POLLOUT;
    p.revents = 0;
    while (poll(&p, 1, -1) < 0)
        if (errno != EINTR) return -1;
    int err = 0;
    socklen_t elen = sizeof err;
    if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &elen) < 0) return -1;
    if (err) { errno = err; return -1; }
    return 0;
}

// accept() a connection, close-on-exec; its peer's address goes to *ss.
static int pc__p_os_accept(int fd, struct sockaddr_storage *ss, socklen_t *len) {
    int s;
    do {
        *len = sizeof *ss;
#if PC__HAVE_ACCEPT4
        s = accept4(fd, (struct sockaddr *)ss, len, SOCK_CLOEXEC);
#else
        s = accept(fd, (struct sockaddr *)ss, len);
        if (s >= 0) pc__p_os_cloexec(s);
#endif
    } while (s < 0 && (errno == EINTR || errno == ECONNABORTED));
    return s;
}

// Resolve host (NULL: any) and a numeric port for a stream socket of
// family; *out is freed with pc__p_os_freeaddrinfo. address names the
// whole in the error. Returns PC_OK, PC_OS.
static int pc__p_os_getaddrinfo(const char *host, const char *port, int family, int passive,
                                struct addrinfo **out, const char *address) {
    struct addrinfo hints;
    memset(&hints, 0, sizeof hints);
    hints.ai_family = family;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_NUMERICSERV | (passive ? AI_PASSIVE : 0);
    int e = getaddrinfo(host, port, &hints, out);
    if (e == EAI_SYSTEM) return pc__os_error("getaddrinfo");
    if (e) return pc__error(PC_OS, "getaddrinfo %s: %s", address, gai_strerror(e));
    return PC_OK;
}

static void pc__p_os_freeaddrinfo(struct addrinfo *ai) { freeaddrinfo(ai); }

// The type (SOCK_STREAM, SOCK_SEQPACKET ...) of fd if it is a unix
// domain socket, else -1.
static int pc__p_os_unix_socket_type(int fd) {
    int type = -1;
    socklen_t tlen = sizeof type;
    if (!pc__p_os_is_socket(fd) || pc__p_os_socket_family(fd) != AF_UNIX) return -1;
    if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &tlen) < 0) return -1;
    return type;
}

// Who holds the other end of the unix socket fd: for a socketpair, the
// process that made it, with its effective ids at that time. *out_pid is
// -1 where the system cannot tell the pid (Linux: 0 for a process outside
// our pid namespace). -1 (errno set) where it cannot tell the ids either.
static int pc__p_os_peer_ids(int fd, pid_t *out_pid, uid_t *out_uid, gid_t *out_gid) {
#if PC__HAVE_PEERCRED
    struct ucred cred;
    socklen_t len = sizeof cred;
    if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0) return -1;
    *out_pid = cred.pid;
    *out_uid = cred.uid;
    *out_gid = cred.gid;
    return 0;
#elif PC__HAVE_GETPEEREID
    *out_pid = -1;
#if defined(LOCAL_PEERPID)
    socklen_t len = sizeof *out_pid;
    if (getsockopt(fd, SOL_LOCAL, LOCAL_PEERPID, out_pid, &len) < 0) *out_pid = -1;
#endif
    return getpeereid(fd, out_uid, out_gid);
#else
    (void)fd;
    (void)out_pid;
    (void)out_uid;
    (void)out_gid;
    errno = ENOSYS;
    return -1;
#endif
}

// The peer of the stream socket fd hung up without sending a byte.
static int pc__p_os_peer_gone(int fd) {
    char c;
    ssize_t r;
    while ((r = recv(fd, &c, 1, MSG_PEEK | MSG_DONTWAIT)) < 0 && errno == EINTR) {}
    return r == 0;
}

// Receive one record of a SOCK_SEQPACKET socket whole, into buf (room
// for cap bytes); a longer record, or one that carried descriptors (the
// kernel closes them), sets *out_cut. Returns its length, 0 at end of
// file, -1 (errno set); EINTR retried.
static ssize_t pc__p_os_recv_record(int fd, void *buf, size_t cap, int *out_cut) {
    struct iovec iov;
    struct msghdr msg;
    ssize_t r;
    iov.iov_base = buf;
    iov.iov_len = cap;
    memset(&msg, 0, sizeof msg);
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    while ((r = recvmsg(fd, &msg, 0)) < 0 && errno == EINTR) {}
    *out_cut = r > 0 && (msg.msg_flags & (MSG_TRUNC | MSG_CTRUNC)) != 0;
    return r;
}

// Processes and signals.

static pid_t pc__p_os_getpid(void) { return getpid(); }
static pid_t pc__p_os_getppid(void) { return getppid(); }
static uid_t pc__p_os_geteuid(void) { return geteuid(); }
static gid_t pc__p_os_getegid(void) { return getegid(); }

// _exit: end this process at once, without atexit handlers. Called
// through a pointer the loader fills when it loads the program: a fork
// child calling it through the PLT would bind it lazily itself, a symbol
// lookup and a write to the GOT costing some ten page faults a child.
static void (*volatile pc__p_os_exit_fn)(int) = _exit;

PC__P_NORETURN static void pc__p_os_exit(int code) {
    pc__p_os_exit_fn(code);
    abort();                    // not reached: _exit does not return
}

static pid_t pc__p_os_fork(void) { return fork(); }

static int pc__p_os_pidfd_open(pid_t pid) {
#if PC__HAVE_PIDFD
    // Close-on-exec already: pidfd_open has set it since the call exists.
    return (int)syscall(SYS_pidfd_open, pid, 0);
#else
    (void)pid;
    errno = ENOSYS;
    return -1;
#endif
}

// Whether this kernel has pidfds, probed once (on ourselves).
static int pc__p_os_have_pidfd(void) {
    static int have = -1;
    int h = __atomic_load_n(&have, __ATOMIC_RELAXED);
    if (h < 0) {
        int saved = errno;
        int fd = pc__p_os_pidfd_open(getpid());
        h = fd >= 0;
        pc__p_os_close(fd);
        errno = saved;
        __atomic_store_n(&have, h, __ATOMIC_RELAXED);
    }
    return h;
}

// Signal through the pidfd when there is one: it cannot hit a recycled pid.
static int pc__p_os_signal(pid_t pid, int pidfd, int sig) {
#if PC__HAVE_PIDFD
    if (pidfd >= 0) {
        if (syscall(SYS_pidfd_send_signal, pidfd, sig, NULL, 0) == 0) return 0;
        if (errno != ENOSYS && errno != EBADF && errno != EINVAL) return -1;
    }
#else
    (void)pidfd;
#endif
    return kill(pid, sig);
}

// Whether process pid exists (signal 0; EPERM: it does, not ours to signal).
static int pc__p_os_pid_exists(pid_t pid) { return kill(pid, 0) == 0 || errno == EPERM; }

// waitpid, resumed after EINTR; nohang: WNOHANG.
static pid_t pc__p_os_waitpid(pid_t pid, int *status, int nohang) {
    pid_t r;
    while ((r = waitpid(pid, status, nohang ? WNOHANG : 0)) < 0 && errno == EINTR) {}
    return r;
}

// Sleep until child pid ends, without reaping it (WNOWAIT). Returns 0, or
// -1 with errno (EINTR: a signal came first).
static int pc__p_os_wait_exit(pid_t pid) {
    siginfo_t si;
    return waitid(P_PID, (id_t)pid, &si, WEXITED | WNOWAIT);
}

// SIGKILL our child pid and reap it, so that a child we could not finish
// starting (or a server we give up on) leaves no zombie; errno is kept.
static void pc__p_os_kill_reap(pid_t pid) {
    int st, saved = errno;
    kill(pid, SIGKILL);
    pc__p_os_waitpid(pid, &st, 0);
    errno = saved;
}

// signal(sig, fn) for SIG_DFL and SIG_IGN.
static void pc__p_os_sig_handle(int sig, void (*fn)(int)) { signal(sig, fn); }

// Run fn on SIGCHLD (restarting interrupted calls, not for stopped children).
static void pc__p_os_on_sigchld(void (*fn)(int)) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = fn;
    sa.sa_flags = SA_RESTART | SA_NOCLDSTOP;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGCHLD, &sa, NULL);
}

// Close in the child every descriptor from lo up that is not close-on-exec.
static int pc__p_os_spawn_close_from(posix_spawn_file_actions_t *fa, int lo) {
#if PC__HAVE_SPAWN_CLOSEFROM
    return posix_spawn_file_actions_addclosefrom_np(fa, lo);
#else
    DIR *d = opendir("/proc/self/fd");
    if (!d) d = opendir("/dev/fd");
    if (d) {
        struct dirent *e;
        int rc = 0;
        while (!rc && (e = readdir(d))) {
            int fd = atoi(e->d_name);
            if (e->d_name[0] < '0' || e->d_name[0] > '9' || fd < lo || fd == dirfd(d)) continue;
            int fl = fcntl(fd, F_GETFD);
            if (fl >= 0 && !(fl & FD_CLOEXEC)) rc = posix_spawn_file_actions_addclose(fa, fd);
        }
        closedir(d);
        return rc;
    }
    long max = sysconf(_SC_OPEN_MAX);
    if (max < 0 || max > 4096) max = 4096;
    for (int fd = lo; fd < max; fd++) {
        int fl = fcntl(fd, F_GETFD);
        if (fl >= 0 && !(fl & FD_CLOEXEC)) {
            int rc = posix_spawn_file_actions_addclose(fa, fd);
            if (rc) return rc;
        }
    }
    return 0;
#endif
}

// Our environment with the entry env ("NAME=value") in place of any of
// that name (NULL when out of memory; free the array, not the strings).
static char **pc__p_os_spawn_env(const char *env) {
    size_t n = 0, k = 0, name = (size_t)(strchr(env, '=') - env) + 1;
    while (environ && environ[n]) n++;
    char **out = (char **)pc__calloc(n + 2, sizeof(char *));
    if (!out) return NULL;
    for (size_t i = 0; i < n; i++)
        if (strncmp(environ[i], env, name) != 0) out[k++] = environ[i];
    out[k++] = (char *)(uintptr_t)env;
    out[k] = NULL;
    return out;
}

// posix_spawn this program (/proc/self/exe; elsewhere the name argv0), or
// exe when not NULL, with argv {argv0}, our environment plus env (see above), descriptors
// 0-2 and fds[i] as number at[i] (i < n, at[] rising), and nothing else:
// from the number after the last at[i] up, every descriptor that is not
// close-on-exec is closed in the child. Returns PC_OK, or PC_OS with
// errno kept.
static int pc__p_os_spawn_self(const char *exe, const char *argv0, const char *env,
                               const int *fds, const int *at, int n, pid_t *out_pid) {
    posix_spawn_file_actions_t fa;
    char *argv[2];
    int rc = posix_spawn_file_actions_init(&fa);
    if (rc) { errno = rc; return pc__os_error("posix_spawn_file_actions_init"); }
    for (int i = 0; !rc && i < n; i++) rc = posix_spawn_file_actions_adddup2(&fa, fds[i], at[i]);
    if (!rc) rc = pc__p_os_spawn_close_from(&fa, at[n - 1] + 1);
    char **envp = rc ? NULL : pc__p_os_spawn_env(env);
    if (!rc && !envp) rc = ENOMEM;
    if (!rc) {
        argv[0] = (char *)(uintptr_t)argv0;
        argv[1] = NULL;
        if (!exe) exe = PC__HAVE_PROC_SELF_EXE ? "/proc/self/exe" : argv0;
        rc = posix_spawn(out_pid, exe, &fa, NULL, argv, envp);
    }
    pc__free(envp);
    posix_spawn_file_actions_destroy(&fa);
    if (rc) { errno = rc; return pc__os_error("posix_spawn"); }
    return PC_OK;
}

// Identity, environment and files.

// Whether the kernel started this program in secure-execution mode
// (set-user-ID, set-group-ID, file capabilities): its environment and
// inherited descriptors are then chosen by a less privileged user. Ids
// that differ now mean the same for a program it execs (Linux marks that
// exec secure), and are all other systems can tell.
static int pc__p_os_secure_exec(void) {
#if PC__HAVE_AT_SECURE
    if (getauxval(AT_SECURE)) return 1;
#endif
#if defined(__linux__)
    uid_t ru, eu, su;           // two system calls where there are four below
    gid_t rg, eg, sg;
    if (getresuid(&ru, &eu, &su) == 0 && getresgid(&rg, &eg, &sg) == 0)
        return ru != eu || rg != eg;
#endif
    return getuid() != geteuid() || getgid() != getegid();
}

static const char *pc__p_os_getenv(const char *name) { return getenv(name); }
static void pc__p_os_unsetenv(const char *name) { unsetenv(name); }

// An environment variable, or NULL in a secure-execution program (set-user-ID,
// set-group-ID, raised capabilities): its environment comes from a less
// privileged caller, who must not pick where its private files go.
static const char *pc__p_os_getenv_trusted(const char *name) {
#if PC__HAVE_SECURE_GETENV
    return secure_getenv(name);
#elif PC__HAVE_AT_SECURE
    return getauxval(AT_SECURE) ? NULL : getenv(name);
#elif PC__HAVE_ISSETUGID
    return issetugid() ? NULL : getenv(name);
#else
    return getuid() != geteuid() || getgid() != getegid() ? NULL : getenv(name);
#endif
}

// The short name this program was started as, or NULL where unknown.
static const char *pc__p_os_program_name(void) {
#if PC__HAVE_PROGRAM_NAME
    return program_invocation_short_name;
#else
    return NULL;
#endif
}

// 0 when path is a regular file we may execute, else -1 with errno set.
static int pc__p_os_check_executable(const char *path) {
    struct stat st;
    if (stat(path, &st) < 0) return -1;
    if (!S_ISREG(st.st_mode)) { errno = EACCES; return -1; }
    return access(path, X_OK);
}

// The (device, inode) identity of the file at path (following links).
static int pc__p_os_file_id(const char *path, uint64_t *out_dev, uint64_t *out_ino) {
    struct stat st;
    if (stat(path, &st) < 0) return -1;
    *out_dev = (uint64_t)st.st_dev;
    *out_ino = (uint64_t)st.st_ino;
    return 0;
}

static void pc__p_os_unlink(const char *path) { unlink(path); }
static void pc__p_os_rmdir(const char *path) { rmdir(path); }

// Make a fresh directory that only we may enter (Python's tempfile.mkdtemp)
// in $TMPDIR, or /tmp when it is unset, untrusted or too long for a socket
// path under it. mkdtemp asks for 0700, but a umask may take owner bits
// away: set the mode on the directory itself, then check owner and mode.
static int pc__p_os_private_dir(char *out, size_t cap) {
    const char *dir = pc__p_os_getenv_trusted("TMPDIR");
    struct stat st;
    if (!dir || !dir[0] || strlen(dir) > 60) dir = "/tmp";
    snprintf(out, cap, "%s/pyconc-XXXXXX", dir);
    if (!mkdtemp(out)) {
        int e = errno;
        pc__error(PC_OS, "can't make a private directory in %s: %s", dir, strerror(e));
        errno = e;
        return PC_OS;
    }
    int fd = open(out, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    int ok = fd >= 0 && fchmod(fd, 0700) == 0 && fstat(fd, &st) == 0 && S_ISDIR(st.st_mode) &&
             st.st_uid == geteuid() && (st.st_mode & 0777) == 0700;
    pc__p_os_close(fd);
    if (ok) return PC_OK;
    rmdir(out);
    errno = EPERM;
    return pc__error(PC_OS, "%s is not a directory of ours with mode 0700", out);
}

// Fill buf from the kernel's getrandom(); returns how many bytes it gave
// (fewer, even 0, where the kernel or the system lacks it).
static size_t pc__p_os_getrandom(void *buf, size_t size) {
    size_t got = 0;
#if PC__HAVE_GETRANDOM
    while (got < size) {
        long r = syscall(SYS_getrandom, (char *)buf + got, size - got, 0);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) break;          // ENOSYS on old kernels: use the device
        got += (size_t)r;
    }
#else
    (void)buf;
    (void)size;
#endif
    return got;
}

// Give the CPU to another runnable thread, if any: a peer woken onto this
// CPU runs now, where a spin would only hold it off.
static void pc__p_os_yield(void) { sched_yield(); }

// The loader.

// Where a code address lies: the loaded object holding it (the program
// itself, or a shared object by the loader's name for it) and its base.
typedef struct pc__p_os_code {
    int is_main;
    uintptr_t base;             // the object's load address: addr - base is stable
    char name[1024];            // the loader's name ("" for the program)
} pc__p_os_code;

#if PC__HAVE_PHDR
typedef struct pc__p_phdr_search {
    uintptr_t addr;             // find the object holding addr ...
    const char *path;           // ... or the object with this path (NULL: main)
    int index;
    int found, is_main;
    uintptr_t base;
    int executable;             // addr lies in an executable segment
    char name[1024];
} pc__p_phdr_search;

static int pc__p_phdr_holds(struct dl_phdr_info *info, uintptr_t addr, int *out_exec) {
    for (int i = 0; i < (int)info->dlpi_phnum; i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        uintptr_t lo = (uintptr_t)info->dlpi_addr + (uintptr_t)ph->p_vaddr;
        if (ph->p_type == PT_LOAD && addr >= lo && addr < lo + (uintptr_t)ph->p_memsz) {
            *out_exec = (ph->p_flags & PF_X) != 0;
            return 1;
        }
    }
    return 0;
}

static int pc__p_phdr_visit(struct dl_phdr_info *info, size_t size, void *data) {
    pc__p_phdr_search *s = (pc__p_phdr_search *)data;
    int index = s->index++;
    (void)size;
    if (s->path) {              // resolving: match by name (or index 0 for main)
        int match = s->path[0] ? (info->dlpi_name && strcmp(info->dlpi_name, s->path) == 0)
                               : index == 0;
        if (!match) return 0;
        s->base = (uintptr_t)info->dlpi_addr;
        s->found = 1;
        pc__p_phdr_holds(info, s->addr = s->base + s->addr, &s->executable);
        return 1;
    }
    if (!pc__p_phdr_holds(info, s->addr, &s->executable)) return 0;
    s->found = 1;
    s->is_main = index == 0;
    s->base = (uintptr_t)info->dlpi_addr;
    snprintf(s->name, sizeof s->name, "%s", info->dlpi_name ? info->dlpi_name : "");
    return 1;
}
#endif

// Find the object whose code holds addr. Returns 0, -1 when no loaded
// object holds it, -2 when it is not in an executable segment of one.
// Where the loader lists its objects, that list alone decides: a static
// program has no dynamic symbols for dladdr, but it is listed (object 0).
static int pc__p_os_code_at(uintptr_t addr, pc__p_os_code *out) {
    memset(out, 0, sizeof *out);
#if PC__HAVE_PHDR
    pc__p_phdr_search s;
    memset(&s, 0, sizeof s);
    s.addr = addr;
    dl_iterate_phdr(pc__p_phdr_visit, &s);
    if (!s.found) return -1;
    if (!s.executable) return -2;
    out->is_main = s.is_main;
    out->base = s.base;
    snprintf(out->name, sizeof out->name, "%s", s.is_main ? "" : s.name);
#else
    Dl_info info;
    if (!dladdr((void *)addr, &info)) return -1;
    out->base = (uintptr_t)info.dli_fbase;
    snprintf(out->name, sizeof out->name, "%s", info.dli_fname ? info.dli_fname : "");
#endif
    return 0;
}

// The address offset bytes past the base of the loaded object named name
// (is_main: the program). anchor: a symbol the object exports, whose
// address tells its base where the loader cannot list its objects.
// Returns 0, -1 when no such object is loaded, -2 when the address is not
// in an executable segment of it.
static int pc__p_os_code_in(const char *name, int is_main, uint64_t offset, const char *anchor,
                            uintptr_t *out) {
#if PC__HAVE_PHDR
    pc__p_phdr_search s;
    memset(&s, 0, sizeof s);
    s.path = is_main ? "" : name;
    s.addr = (uintptr_t)offset;
    (void)anchor;
    dl_iterate_phdr(pc__p_phdr_visit, &s);
    if (!s.found) return -1;
    if (!s.executable) return -2;
    *out = s.addr;
#else
    Dl_info info;
    void *h = dlopen(name, RTLD_NOW | RTLD_NOLOAD);
    void *sym = h ? dlsym(h, anchor) : NULL;
    (void)is_main;
    if (!sym || !dladdr(sym, &info)) return -1;
    *out = (uintptr_t)info.dli_fbase + (uintptr_t)offset;
#endif
    return 0;
}

// Load the shared object at path (and run its constructors).
// Returns PC_OK, PC_VALUE with the loader's message.
static int pc__p_os_dlopen(const char *path) {
    if (!dlopen(path, RTLD_NOW | RTLD_GLOBAL))
        return pc__error(PC_VALUE, "cannot load %s: %s", path, dlerror());
    return PC_OK;
}

// >>A.posix-shm: shared mappings, thread ids, other processes' liveness
// An anonymous shared file: a memfd where the kernel has one, else a POSIX
// shm object unlinked at once (a random name, created exclusively, 0600).
// Either way nothing is left to clean up once the last descriptor and
// mapping are gone. Returns a close-on-exec descriptor or -1 (errno).
static int pc__p_memfd_missing;         // memfd_create said ENOSYS: no seals to ask for
static int pc__p_os_anon_shm(const char *name) {
#if PC__HAVE_MEMFD
    long fd = syscall(SYS_memfd_create, name, 3u /* MFD_CLOEXEC | MFD_ALLOW_SEALING */);
    if (fd >= 0 || errno != ENOSYS) return (int)fd;
    __atomic_store_n(&pc__p_memfd_missing, 1, __ATOMIC_RELAXED);
#endif
    for (int tries = 0; tries < 16; tries++) {
        unsigned char rnd[8];
        char path[64];
        if (pc__p_os_getrandom(rnd, sizeof rnd) != sizeof rnd) {
            uint64_t t = (uint64_t)pc_monotonic() * 1000003u ^ (uint64_t)getpid();
            memcpy(rnd, &t, sizeof rnd);
        }
        snprintf(path, sizeof path, "/pyconc-%s-%02x%02x%02x%02x%02x%02x%02x%02x", name,
                 rnd[0], rnd[1], rnd[2], rnd[3], rnd[4], rnd[5], rnd[6], rnd[7]);
        int fd = shm_open(path, O_RDWR | O_CREAT | O_EXCL, 0600);
        if (fd < 0 && errno == EEXIST) continue;
        if (fd < 0) return -1;
        shm_unlink(path);
        int flags = fcntl(fd, F_GETFD);
        if (flags < 0 || fcntl(fd, F_SETFD, flags | FD_CLOEXEC) < 0) {
            pc__p_os_close(fd);
            return -1;
        }
        return fd;
    }
    errno = EEXIST;
    return -1;
}

static int pc__p_os_ftruncate(int fd, uint64_t size) {
    int r;
    while ((r = ftruncate(fd, (off_t)size)) < 0 && errno == EINTR) {}
    return r;
}

// Seal an anonymous shared file at its size: a process it reaches (a
// peer over a socket, say) can no longer shrink it, which would make every
// other mapping's access past the new end a SIGBUS. Without memfd seals
// (a POSIX shm fallback) nothing is done.
static void pc__p_os_seal_size(int fd) {
#if PC__HAVE_MEMFD && defined(F_ADD_SEALS) && defined(F_SEAL_SHRINK) && defined(F_SEAL_GROW)
    fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW);
#else
    (void)fd;
#endif
}

// 0 when an anonymous shared file that arrived from another process could
// still change size under our mapping: where this system seals its own, a
// file without the seals was not made by us, and is refused. 1 otherwise.
static int pc__p_os_size_sealed(int fd) {
#if PC__HAVE_MEMFD && defined(F_GET_SEALS) && defined(F_SEAL_SHRINK) && defined(F_SEAL_GROW)
    if (__atomic_load_n(&pc__p_memfd_missing, __ATOMIC_RELAXED)) return 1;
    int seals = fcntl(fd, F_GET_SEALS);
    return seals >= 0 && (seals & F_SEAL_SHRINK) && (seals & F_SEAL_GROW);
#else
    (void)fd;
    return 1;
#endif
}

// The size of the file behind fd, or -1 (errno).
static int pc__p_os_fd_size(int fd, uint64_t *out) {
    struct stat st;
    if (fstat(fd, &st) < 0) return -1;
    *out = (uint64_t)st.st_size;
    return 0;
}

// Seconds on the wall clock (CLOCK_REALTIME), for the calls that take no
// other (unused where pthread_mutex_clocklock exists).
static __attribute__((unused)) double pc__p_os_wall_time(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

// Map size bytes of fd shared, read and write; NULL on failure (errno).
static void *pc__p_os_map_shared(int fd, size_t size) {
    void *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    return p == MAP_FAILED ? NULL : p;
}

static void pc__p_os_unmap(void *p, size_t size) {
    if (p) munmap(p, size);
}

// The kernel's id of the calling thread (unique among live threads of the
// whole system), or where there is none a number unique in this process.
static uint64_t pc__p_os_thread_id(void) {
#if defined(__linux__) && defined(SYS_gettid)
    return (uint64_t)syscall(SYS_gettid);
#else
    return (uint64_t)pc__self_id();
#endif
}

// Read process pid's state letter and start time (the kernel's count,
// field 22 of /proc/PID/stat: with the pid it names one process for
// ever). Returns 0, or -1 when there is no such process (or no /proc).
static int pc__p_os_proc_stat(pid_t pid, char *out_state, uint64_t *out_start) {
#if defined(__linux__)
    char path[64], buf[512];
    snprintf(path, sizeof path, "/proc/%ld/stat", (long)pid);
    int fd = pc__p_os_open_read(path);
    if (fd < 0) return -1;
    ssize_t n;
    while ((n = read(fd, buf, sizeof buf - 1)) < 0 && errno == EINTR) {}
    pc__p_os_close(fd);
    if (n <= 0) return -1;
    buf[n] = '\0';
    // "pid (comm) S ppid ...": comm may hold ')' and spaces.
    char *p = strrchr(buf, ')');
    if (!p || p[1] != ' ') return -1;
    *out_state = p[2];
    p += 2;
    for (int field = 3; field < 22 && p; field++) {
        p = strchr(p, ' ');
        if (p) p++;
    }
    *out_start = p ? strtoull(p, NULL, 10) : 0;
    return 0;
#else
    (void)pid, (void)out_state, (void)out_start;
    errno = ENOSYS;
    return -1;
#endif
}

// The start time of process pid (pc__p_os_proc_stat), 0 if unknown.
static uint64_t pc__p_os_pid_start(pid_t pid) {
    char state;
    uint64_t start;
    return pc__p_os_proc_stat(pid, &state, &start) == 0 ? start : 0;
}

// Whether process pid is alive and the one that started at start (0: not
// known). A zombie is dead: it may wait unreaped a long time, and will do
// nothing more. Returns 1 alive, 0 gone (or a new process under its id).
static int pc__p_os_pid_alive(pid_t pid, uint64_t start) {
    char state;
    uint64_t now;
    if (pc__p_os_proc_stat(pid, &state, &now) < 0)
        return errno == ENOSYS ? pc__p_os_pid_exists(pid) : 0;
    if (state == 'Z' || state == 'X' || state == 'x') return 0;
    return !start || !now || now == start;
}

// >>A.posix-shm-named: named POSIX shared memory, and the reaper of tracked names
// Open the shared memory object path ("/name"): created exclusively with
// mode 0600 when create, else an existing one; read and write,
// close-on-exec (glibc and musl set it; POSIX leaves it open, so it is
// checked). Returns the descriptor or -1 (errno).
static int pc__p_os_shm_open(const char *path, int create) {
    int fd, flags = O_RDWR | (create ? O_CREAT | O_EXCL : 0);
    while ((fd = shm_open(path, flags, 0600)) < 0 && errno == EINTR) {}
    if (fd < 0) return -1;
    int fl = fcntl(fd, F_GETFD);
    if (fl < 0 || (!(fl & FD_CLOEXEC) && fcntl(fd, F_SETFD, fl | FD_CLOEXEC) < 0)) {
        pc__p_os_close(fd);
        return -1;
    }
    return fd;
}

static int pc__p_os_shm_unlink(const char *path) { return shm_unlink(path); }

// A shared memory path, "/name": the slash, NAME_MAX bytes and a NUL.
#define PC__P_SHM_PATH_MAX (NAME_MAX + 2)

// Send one record (len bytes) on a SOCK_SEQPACKET socket; no SIGPIPE.
static int pc__p_os_send_record(int fd, const void *buf, size_t len) {
    struct msghdr msg;
    struct iovec iov;
    memset(&msg, 0, sizeof msg);
    iov.iov_base = (void *)buf;
    iov.iov_len = len;
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    ssize_t r;
    while ((r = pc__p_os_sendmsg(fd, &msg)) < 0 && errno == EINTR) {}
    return r == (ssize_t)len ? 0 : -1;
}

// The reaper runs in a fork of a program that may have had other threads
// (whose locks, malloc's among them, stay locked in a fork): it calls
// only the kernel, never malloc or stdio. Its table of tracked paths is
// memory it maps itself.
typedef struct pc__p_reaper_table {
    char (*paths)[PC__P_SHM_PATH_MAX];
    size_t len, cap;
} pc__p_reaper_table;

static void pc__p_reaper_add(pc__p_reaper_table *t, const char *path, size_t n) {
    if (t->len == t->cap) {
        size_t cap = t->cap ? 2 * t->cap : 64, bytes = cap * PC__P_SHM_PATH_MAX;
        void *p = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (p == MAP_FAILED) return;    // out of memory: this name is not tracked
        if (t->len) memcpy(p, t->paths, t->len * PC__P_SHM_PATH_MAX);
        if (t->cap) munmap(t->paths, t->cap * PC__P_SHM_PATH_MAX);
        t->paths = (char (*)[PC__P_SHM_PATH_MAX])p;
        t->cap = cap;
    }
    memcpy(t->paths[t->len], path, n);
    t->paths[t->len++][n] = '\0';
}

static void pc__p_reaper_remove(pc__p_reaper_table *t, const char *path, size_t n) {
    for (size_t i = 0; i < t->len; i++) {
        if (strncmp(t->paths[i], path, n) != 0 || t->paths[i][n] != '\0') continue;
        if (i != --t->len) memcpy(t->paths[i], t->paths[t->len], PC__P_SHM_PATH_MAX);
        return;
    }
}

// Unlink every path still tracked, saying so on stderr for each that
// was still there (as Python's resource tracker warns of leaked blocks).
static void pc__p_reaper_finish(const pc__p_reaper_table *t) {
    static const char head[] = "pyconc: unlinked shared memory ";
    static const char tail[] = ", left linked by the program that created it (tracked)\n";
    for (size_t i = 0; i < t->len; i++) {
        if (shm_unlink(t->paths[i]) != 0) continue;     // unlinked elsewhere meanwhile
        char line[sizeof head + PC__P_SHM_PATH_MAX + sizeof tail];
        size_t n = strlen(t->paths[i]);
        memcpy(line, head, sizeof head - 1);
        memcpy(line + sizeof head - 1, t->paths[i] + 1, n - 1);
        memcpy(line + sizeof head - 1 + n - 1, tail, sizeof tail - 1);
        if (write(2, line, sizeof head - 1 + n - 1 + sizeof tail - 1) < 0) {}
    }
}

// The reaper's body: it keeps stderr and its socket (moved to 3) only,
// ignores SIGINT and SIGTERM (as Python's resource tracker does: a ^C
// to the program's group must not take the cleanup with it), says it
// is ready, then reads records "T/name" (track) and "U/name" (untrack)
// until end of file: every holder of the other end has exited.
PC__P_NORETURN static void pc__p_reaper_run(int sock, int other) {
    struct sigaction sa;
    sigset_t none;
    pc__p_reaper_table t = {NULL, 0, 0};
    char rec[1 + PC__P_SHM_PATH_MAX];
    close(other);
    if (sock != 3) {
        if (dup2(sock, 3) < 0) _exit(1);
        close(sock);
    }
    close(0);
    close(1);
    pc__p_os_close_from(4);
    if (chdir("/") < 0) {}          // hold no directory busy
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = SIG_IGN;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    if (pc__p_os_send_record(3, "R", 1) < 0) _exit(1);
    for (;;) {
        int cut = 0;
        ssize_t r = pc__p_os_recv_record(3, rec, sizeof rec - 1, &cut);
        if (r <= 0) break;              // end of file (or the socket broke): clean up
        if (cut || r < 3 || rec[1] != '/') continue;
        if (rec[0] == 'T') pc__p_reaper_add(&t, rec + 1, (size_t)r - 1);
        else if (rec[0] == 'U') pc__p_reaper_remove(&t, rec + 1, (size_t)r - 1);
    }
    pc__p_reaper_finish(&t);
    _exit(0);
}

// Start a reaper: a grandchild of this process (never its zombie: its
// parent, a fork that exits at once, is reaped here) holding the other
// end of a SOCK_SEQPACKET pair; it answers one ready record first.
// Returns this end (close-on-exec), or -1 (errno).
static int pc__p_os_shm_reaper_start(void) {
    int sp[2];
    if (pc__p_os_seqpacket_pair(sp) < 0) return -1;
    pid_t pid = fork();
    if (pid == 0) {
        pid_t g = fork();
        if (g == 0) pc__p_reaper_run(sp[1], sp[0]);
        _exit(g < 0 ? 1 : 0);
    }
    int saved = errno;
    pc__p_os_close(sp[1]);
    if (pid < 0) {
        pc__p_os_close(sp[0]);
        errno = saved;
        return -1;
    }
    while (waitpid(pid, NULL, 0) < 0 && errno == EINTR) {}
    char c = 0;
    int cut = 0;
    ssize_t r = pc__p_os_recv_record(sp[0], &c, 1, &cut);
    if (r != 1 || c != 'R') {
        saved = r < 0 ? errno : ECHILD;
        pc__p_os_close(sp[0]);
        errno = saved;
        return -1;
    }
    return sp[0];
}

// >>A.posix-fdpass: descriptors over unix sockets (SCM_RIGHTS)
// Descriptors travel as SCM_RIGHTS ancillary data on the first byte; the
// kernel caps one message at 253 of them (SCM_MAX_FD).
#define PC__MAX_FDS 253

typedef union pc__p_cmsg_space {
    struct cmsghdr align;
    char buf[CMSG_SPACE(sizeof(int) * PC__MAX_FDS)];
} pc__p_cmsg_space;

PYCONC_API int pc__p_send_fds(int sock, const void *buf, size_t len, const int *fds, size_t nfds) {
    pc__p_cmsg_space space;
    struct msghdr msg;
    struct iovec iov;
    if (!buf || len == 0) return pc__error(PC_VALUE, "send_fds: need at least one byte");
    if (nfds > PC__MAX_FDS || (nfds && !fds))
        return pc__error(PC_VALUE, "send_fds: bad descriptor list (%zu)", nfds);
    memset(&msg, 0, sizeof msg);
    memset(&space, 0, sizeof space);
    iov.iov_base = (void *)buf;
    iov.iov_len = len;
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    if (nfds) {
        msg.msg_control = space.buf;
        msg.msg_controllen = CMSG_SPACE(sizeof(int) * nfds);
        struct cmsghdr *h = CMSG_FIRSTHDR(&msg);
        h->cmsg_level = SOL_SOCKET;
        h->cmsg_type = SCM_RIGHTS;
        h->cmsg_len = CMSG_LEN(sizeof(int) * nfds);
        memcpy(CMSG_DATA(h), fds, sizeof(int) * nfds);
    }
    ssize_t w;
    while ((w = pc__p_os_sendmsg(sock, &msg)) < 0 && errno == EINTR) {}
    if (w < 0) return pc__os_error("sendmsg");
    return pc__p_os_write_buf(sock, 1, (const char *)buf + w, len - (size_t)w);
}

// Send what sock takes now of iov[0..n), nfds (<= PC__MAX_FDS)
// descriptors on the first byte, without waiting. Returns how many bytes
// went: 0 when none (nor the descriptors) could; -1 with errno.
static ssize_t pc__p_send_fds_now(int sock, struct iovec *iov, int n, const int *fds,
                                  size_t nfds) {
    pc__p_cmsg_space space;
    struct msghdr msg;
    memset(&msg, 0, sizeof msg);
    msg.msg_iov = iov;
    msg.msg_iovlen = (size_t)n;
    if (nfds) {
        memset(&space, 0, sizeof space);
        msg.msg_control = space.buf;
        msg.msg_controllen = CMSG_SPACE(sizeof(int) * nfds);
        struct cmsghdr *h = CMSG_FIRSTHDR(&msg);
        h->cmsg_level = SOL_SOCKET;
        h->cmsg_type = SCM_RIGHTS;
        h->cmsg_len = CMSG_LEN(sizeof(int) * nfds);
        memcpy(CMSG_DATA(h), fds, sizeof(int) * nfds);
    }
    ssize_t w = pc__p_os_sendmsg_now(sock, &msg);
    if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return 0;
    return w;
}

// Collect the descriptors of msg into fds (room for cap); close any
// beyond cap. Returns how many arrived in total.
static size_t pc__p_take_fds(struct msghdr *msg, int *fds, size_t cap, size_t *out_kept) {
    size_t total = 0, kept = 0;
    for (struct cmsghdr *h = CMSG_FIRSTHDR(msg); h; h = CMSG_NXTHDR(msg, h)) {
        if (h->cmsg_level != SOL_SOCKET || h->cmsg_type != SCM_RIGHTS) continue;
        size_t n = (h->cmsg_len - CMSG_LEN(0)) / sizeof(int);
        for (size_t i = 0; i < n; i++, total++) {
            int fd;
            memcpy(&fd, CMSG_DATA(h) + i * sizeof(int), sizeof fd);
#if !PC__HAVE_CMSG_CLOEXEC
            pc__p_os_cloexec(fd);
#endif
            if (kept < cap) fds[kept++] = fd;
            else pc__p_os_close(fd);
        }
    }
    *out_kept = kept;
    return total;
}

// One recvmsg of up to len bytes into buf: whatever has come, with the
// descriptors that came with it (close-on-exec; those beyond cap are
// closed) into fds, their number into *out_nfds. EINTR retried. Returns
// the byte count (0: end of file), or -1 with errno.
static ssize_t pc__p_recv_some_fds(int sock, void *buf, size_t len, int *fds, size_t cap,
                                   size_t *out_nfds) {
    pc__p_cmsg_space space;
    struct msghdr msg;
    struct iovec iov;
    memset(&msg, 0, sizeof msg);
    iov.iov_base = buf;
    iov.iov_len = len;
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = space.buf;
    msg.msg_controllen = sizeof space.buf;
    *out_nfds = 0;
    ssize_t r = pc__p_os_recvmsg(sock, &msg);
    if (r >= 0) pc__p_take_fds(&msg, fds, cap, out_nfds);
    return r;
}

PYCONC_API int pc__p_recv_fds(int sock, void *buf, size_t len, int *fds, size_t *inout_nfds) {
    pc__p_cmsg_space space;
    struct msghdr msg;
    struct iovec iov;
    size_t cap = inout_nfds ? *inout_nfds : 0, kept = 0;
    if (!buf || len == 0) return pc__error(PC_VALUE, "recv_fds: need at least one byte");
    if (cap > PC__MAX_FDS) cap = PC__MAX_FDS;
    if (cap && !fds) return pc__error(PC_VALUE, "recv_fds: fds is NULL");
    memset(&msg, 0, sizeof msg);
    iov.iov_base = buf;
    iov.iov_len = len;
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = space.buf;
    msg.msg_controllen = sizeof space.buf;
    ssize_t r = pc__p_os_recvmsg(sock, &msg);
    if (inout_nfds) *inout_nfds = 0;
    if (r < 0) return pc__os_error("recvmsg");
    size_t total = pc__p_take_fds(&msg, fds, cap, &kept);
    if (r == 0) return pc__error(PC_EOF, "connection closed by peer");
    int rc = PC_OK;
    if (total > kept || (msg.msg_flags & MSG_CTRUNC))
        rc = pc__error(PC_VALUE, "recv_fds: %zu descriptors arrived, room for %zu", total, cap);
    else if ((size_t)r < len)
        rc = pc__p_os_read_all(sock, (char *)buf + r, len - (size_t)r, 0);
    if (rc) {
        for (size_t i = 0; i < kept; i++) pc__p_os_close(fds[i]);
        return rc;
    }
    if (inout_nfds) *inout_nfds = kept;
    return PC_OK;
}

// >>A.posix-records: a record socket many processes share (a queue's descriptors)
// A SOCK_SEQPACKET pair, both ends non-blocking (a full or empty socket is
// an answer, never a wait: its users hold a mutex), with a send buffer
// large enough for a queue's worth of records where the system allows it.
static int pc__p_os_record_pair(int fds[2]) {
    if (pc__p_os_seqpacket_pair(fds) < 0) return -1;
    int big = 4 << 20;
    for (int i = 0; i < 2; i++) {
        fcntl(fds[i], F_SETFL, O_NONBLOCK);
        setsockopt(fds[i], SOL_SOCKET, SO_SNDBUF, &big, sizeof big);
    }
    return 0;
}

// The first len bytes of the next record, leaving it (and its descriptors,
// none of which are installed here) in the socket. Bytes read, or -1
// (errno EAGAIN: no record).
static ssize_t pc__p_os_peek_record(int fd, void *buf, size_t len) {
    ssize_t r;
    while ((r = recv(fd, buf, len, MSG_PEEK | MSG_DONTWAIT)) < 0 && errno == EINTR) {}
    return r;
}

// >>A.posix-pipeline: sending while replies come back (a manager's batches)
// Wait until fd has something to read (or has ended, or failed: the read
// tells which) or, with want_write, room to write; *out_r and *out_w say
// which. Returns PC_OK, PC_OS.
static int pc__p_os_wait_rw(int fd, int want_write, int *out_r, int *out_w) {
    struct pollfd p;
    p.fd = fd;
    p.events = (short)(POLLIN | (want_write ? POLLOUT : 0));
    p.revents = 0;
    int rc = pc__p_os_poll(&p, 1, INFINITY);
    *out_r = (p.revents & (POLLIN | POLLHUP | POLLERR)) != 0;
    *out_w = (p.revents & POLLOUT) != 0;
    return rc;
}

// Send what the socket takes now, without waiting: bytes sent (0: full),
// or -1 with errno (EPIPE: the peer is gone; never SIGPIPE).
static ssize_t pc__p_os_send_some(int fd, const void *buf, size_t len) {
    ssize_t r;
    while ((r = send(fd, buf, len, MSG_DONTWAIT | MSG_NOSIGNAL)) < 0 && errno == EINTR) {}
    if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return 0;
    return r;
}

// >>A.buffer
// The bootstrap message and the argument pack are a flat byte string in
// host order (both ends run the same program on the same machine).
typedef struct pc__p_buf {
    unsigned char *p;
    size_t len, cap, pos;
    int bad;                    // a read ran past the end, or out of memory
} pc__p_buf;

static void pc__p_buf_put(pc__p_buf *b, const void *data, size_t n) {
    if (b->bad) return;
    // The room check inline: most puts are a few bytes into room there is.
    if (n > SIZE_MAX - b->len ||
        (b->len + n > b->cap && pc__grow(&b->p, &b->cap, b->len + n, 1, 0))) {
        b->bad = 1;
        return;
    }
    if (n) memcpy(b->p + b->len, data, n);
    b->len += n;
}

static void pc__p_buf_u8(pc__p_buf *b, unsigned v) {
    unsigned char c = (unsigned char)v;
    pc__p_buf_put(b, &c, 1);
}
static void pc__p_buf_u32(pc__p_buf *b, uint32_t v) { pc__p_buf_put(b, &v, sizeof v); }
static void pc__p_buf_u64(pc__p_buf *b, uint64_t v) { pc__p_buf_put(b, &v, sizeof v); }
static void pc__p_buf_blob(pc__p_buf *b, const void *data, size_t n) {
    pc__p_buf_u64(b, n);
    pc__p_buf_put(b, data, n);
}
static void pc__p_buf_str(pc__p_buf *b, const char *s) {
    pc__p_buf_blob(b, s ? s : "", s ? strlen(s) : 0);
}

static const void *pc__p_buf_take(pc__p_buf *b, size_t n) {
    if (b->bad || n > b->len - b->pos) { b->bad = 1; return NULL; }
    const void *r = b->p + b->pos;
    b->pos += n;
    return r;
}
static unsigned pc__p_buf_get_u8(pc__p_buf *b) {
    const unsigned char *p = (const unsigned char *)pc__p_buf_take(b, 1);
    return p ? *p : 0;
}
static uint32_t pc__p_buf_get_u32(pc__p_buf *b) {
    uint32_t v = 0;
    const void *p = pc__p_buf_take(b, sizeof v);
    if (p) memcpy(&v, p, sizeof v);
    return v;
}
static uint64_t pc__p_buf_get_u64(pc__p_buf *b) {
    uint64_t v = 0;
    const void *p = pc__p_buf_take(b, sizeof v);
    if (p) memcpy(&v, p, sizeof v);
    return v;
}
static const void *pc__p_buf_get_blob(pc__p_buf *b, size_t *out_n) {
    uint64_t n = pc__p_buf_get_u64(b);
    if (b->bad || n > b->len - b->pos) { b->bad = 1; *out_n = 0; return NULL; }
    *out_n = (size_t)n;
    return pc__p_buf_take(b, (size_t)n);
}
// A NUL-terminated copy of a blob (NULL on error).
static char *pc__p_buf_get_str(pc__p_buf *b) {
    size_t n;
    const void *p = pc__p_buf_get_blob(b, &n);
    if (!p) return NULL;
    char *s = (char *)pc__malloc(n + 1);
    if (!s) { b->bad = 1; return NULL; }
    memcpy(s, p, n);
    s[n] = '\0';
    return s;
}

// >>A.ring: single-producer single-consumer byte rings in shared memory
// A process pool's worker (// >>F.ring) and a manager's proxy on the same
// machine (// >>I.ring) talk through a pair of them. Each index is written
// by one side only (tail by the producer, head by the consumer), so a side
// killed at any instant cannot corrupt the other's, and a record becomes
// visible only by the store of tail that follows it. A record is an
// 8-byte header (length, kind) and its bytes padded to 8; it may wrap. A
// message over half a ring goes another way (a pipe, a socket), announced
// by a "pipe" record at its place, so the order holds. Without a futex
// (off Linux, or PYCONC_NO_FUTEX) a shared wait could only poll, so the
// rings are off there.
#if defined(__linux__) && !defined(PYCONC_NO_FUTEX)
#define PC__PP_RINGS 1
#else
#define PC__PP_RINGS 0
#endif
#define PC__PP_RING_BYTES ((size_t)256 * 1024)
#define PC__PP_REC_MAX (PC__PP_RING_BYTES / 2)
enum { PC__PP_REC_MSG = 1, PC__PP_REC_PIPE = 2 };

typedef struct pc__p_pp_ring {
    uint64_t tail;              // bytes ever written: the producer's
    unsigned char pad0[56];
    uint64_t head;              // bytes ever read: the consumer's
    unsigned char pad1[56];
    pc__evc data;               // the task ring's consumer (the worker) sleeps here
    pc__evc room;               // the result ring's producer (the worker) sleeps here
    unsigned char pad2[48];
} pc__p_pp_ring;

typedef struct pc__p_pp_chan {
    pc__p_pp_ring task, result;
    unsigned char task_data[PC__PP_RING_BYTES], result_data[PC__PP_RING_BYTES];
} pc__p_pp_chan;

static size_t pc__p_pp_rec_size(size_t n) { return 8 + ((n + 7) & ~(size_t)7); }

static void pc__p_pp_copy_in(unsigned char *data, uint64_t at, const void *src, size_t n) {
    size_t off = (size_t)(at % PC__PP_RING_BYTES), first = PC__PP_RING_BYTES - off;
    if (first > n) first = n;
    memcpy(data + off, src, first);
    memcpy(data, (const unsigned char *)src + first, n - first);
}

static void pc__p_pp_copy_out(const unsigned char *data, uint64_t at, void *dst, size_t n) {
    size_t off = (size_t)(at % PC__PP_RING_BYTES), first = PC__PP_RING_BYTES - off;
    if (first > n) first = n;
    memcpy(dst, data + off, first);
    memcpy((unsigned char *)dst + first, data, n - first);
}

// Free bytes of r as its producer sees them (0 when the other side broke it).
static size_t pc__p_pp_ring_room(pc__p_pp_ring *r) {
    uint64_t used = __atomic_load_n(&r->tail, __ATOMIC_RELAXED) -
                    __atomic_load_n(&r->head, __ATOMIC_SEQ_CST);
    return used > PC__PP_RING_BYTES ? 0 : PC__PP_RING_BYTES - (size_t)used;
}

static int pc__p_pp_ring_ready(pc__p_pp_ring *r) {
    return __atomic_load_n(&r->tail, __ATOMIC_SEQ_CST) != __atomic_load_n(&r->head,
                                                                         __ATOMIC_RELAXED);
}

// Append a record; 1: written, 0: no room now (n <= PC__PP_REC_MAX).
static int pc__p_pp_ring_put(pc__p_pp_ring *r, unsigned char *data, uint32_t kind,
                             const void *p, size_t n) {
    uint64_t tail = __atomic_load_n(&r->tail, __ATOMIC_RELAXED);
    size_t need = pc__p_pp_rec_size(n);
    if (need > pc__p_pp_ring_room(r)) return 0;
    uint32_t hdr[2] = {(uint32_t)n, kind};
    pc__p_pp_copy_in(data, tail, hdr, sizeof hdr);
    if (n) pc__p_pp_copy_in(data, tail + sizeof hdr, p, n);
    __atomic_store_n(&r->tail, tail + need, __ATOMIC_SEQ_CST);
    return 1;
}

// Take the next record into out (from offset 0). 1: one, 0: none, -1: a
// record that cannot be (the other side wrote garbage).
static int pc__p_pp_ring_get(pc__p_pp_ring *r, const unsigned char *data, uint32_t *kind,
                             pc__p_buf *out) {
    uint64_t head = __atomic_load_n(&r->head, __ATOMIC_RELAXED);
    uint64_t tail = __atomic_load_n(&r->tail, __ATOMIC_SEQ_CST);
    uint32_t hdr[2];
    if (head == tail) return 0;
    if (tail - head < sizeof hdr || tail - head > PC__PP_RING_BYTES) return -1;
    pc__p_pp_copy_out(data, head, hdr, sizeof hdr);
    size_t need = pc__p_pp_rec_size(hdr[0]);
    if (hdr[0] > PC__PP_REC_MAX || tail - head < need) return -1;
    out->len = out->pos = 0;
    out->bad = 0;
    if (pc__grow(&out->p, &out->cap, hdr[0] ? hdr[0] : 1, 1, 0)) return -1;
    pc__p_pp_copy_out(data, head + sizeof hdr, out->p, hdr[0]);
    out->len = hdr[0];
    *kind = hdr[1];
    __atomic_store_n(&r->head, head + need, __ATOMIC_SEQ_CST);
    return 1;
}

// A side's look for a record while awake, before it sleeps on the ring
// (a manager's sides, // >>I.ring; a process pool's worker and the thread
// that waits on its future, // >>F.ring): ready(arg) is the look. Spin for
// spin_s when spin is set (more than one CPU: on one, the other side cannot
// move while this one spins), then yield the CPU between looks for up to
// yield_s: the kernel often wakes the other side onto this side's CPU (the
// waker is about to sleep), and a yield runs it at once where a sleep costs
// a futex wake and wait on top of the switch. 1: found; 0: not; -1: found,
// but a yield gave the CPU to a third thread for longer than the whole
// look (the CPUs are busy: a sleeper woken by it would have been run first).
static int pc__p_look_awake(int (*ready)(void *), void *arg, int spin, double spin_s,
                            double yield_s) {
    double now = pc_monotonic(), end = now + spin_s;
    if (spin)
        for (unsigned i = 1;; i++) {
            if (ready(arg)) return 1;
            pc__cpu_relax();
            if (i % 16 == 0 && (now = pc_monotonic()) >= end) break;
        }
    for (end = now + yield_s;;) {
        pc__p_os_yield();
        int found = ready(arg);
        now = pc_monotonic();
        if (found) return now < end ? 1 : -1;
        if (now >= end) return 0;
    }
}

// pc__p_pp_ring_ready as a look of pc__p_look_awake.
static int pc__p_pp_ring_ready_look(void *r) { return pc__p_pp_ring_ready((pc__p_pp_ring *)r); }

// The process pool's way to the same rings (// >>F.ring), in the same
// records: a write that makes one copy of the bytes and looks at the
// consumer's index only when the room it saw last is not enough, and a
// read in place that gives the records back in batches.
#if defined(PYCONC_FUTURES_IMPLEMENTATION)     // part F is there only then

// Write a record at *tail, the producer's place (the ring's tail, or past
// it while a batch is staged), without showing it to the consumer: 1, and
// *tail moved past it; 0: no room. *seen_head is the producer's last look
// at head (start it at 0). pc__p_pp_ring_publish shows the batch.
static int pc__p_pp_ring_stage(pc__p_pp_ring *r, unsigned char *data, uint32_t kind,
                               const void *p, size_t n, uint64_t *at, uint64_t *seen_head) {
    uint64_t tail = *at;
    size_t need = pc__p_pp_rec_size(n);
    if (tail - *seen_head > PC__PP_RING_BYTES - need) {
        *seen_head = __atomic_load_n(&r->head, __ATOMIC_SEQ_CST);
        // A broken head (past tail, or too far behind) reads as no room.
        if (*seen_head > tail || tail - *seen_head > PC__PP_RING_BYTES - need) return 0;
    }
    uint32_t hdr[2] = {(uint32_t)n, kind};
    size_t off = (size_t)(tail % PC__PP_RING_BYTES);     // 8-aligned: a header never wraps
    memcpy(data + off, hdr, sizeof hdr);
    off += sizeof hdr;
    if (!n) {
    } else if (off + n <= PC__PP_RING_BYTES) {
        memcpy(data + off, p, n);
    } else {
        pc__p_pp_copy_in(data, tail + sizeof hdr, p, n);
    }
    *at = tail + need;
    return 1;
}

// Show the consumer every record staged before the producer's place at.
static void pc__p_pp_ring_publish(pc__p_pp_ring *r, uint64_t at) {
    __atomic_store_n(&r->tail, at, __ATOMIC_SEQ_CST);
}

// Append a record as pc__p_pp_ring_put does (a stage and its publish).
static int pc__p_pp_ring_write(pc__p_pp_ring *r, unsigned char *data, uint32_t kind,
                               const void *p, size_t n, uint64_t *seen_head) {
    uint64_t at = __atomic_load_n(&r->tail, __ATOMIC_RELAXED);
    if (!pc__p_pp_ring_stage(r, data, kind, p, n, &at, seen_head)) return 0;
    pc__p_pp_ring_publish(r, at);
    return 1;
}

// The record at the consumer's position at (head, or past it while a batch
// is read), left in the ring: 1 with its kind, its bytes at *rec (in the
// ring, or in spill when it wraps) and the position after it; 0: none;
// -1: a record that cannot be. pc__p_pp_ring_release gives records back.
static int pc__p_pp_ring_peek(pc__p_pp_ring *r, const unsigned char *data, uint64_t *at,
                              uint32_t *kind, const unsigned char **rec, size_t *len,
                              pc__p_buf *spill) {
    uint64_t tail = __atomic_load_n(&r->tail, __ATOMIC_SEQ_CST), pos = *at;
    uint32_t hdr[2];
    if (pos == tail) return 0;
    if (tail - pos < sizeof hdr || tail - pos > PC__PP_RING_BYTES) return -1;
    size_t off = (size_t)(pos % PC__PP_RING_BYTES);
    memcpy(hdr, data + off, sizeof hdr);
    size_t need = pc__p_pp_rec_size(hdr[0]);
    if (hdr[0] > PC__PP_REC_MAX || tail - pos < need) return -1;
    off += sizeof hdr;
    if (off + hdr[0] <= PC__PP_RING_BYTES) {
        *rec = data + off;
    } else {
        spill->len = spill->pos = 0;
        spill->bad = 0;
        if (pc__grow(&spill->p, &spill->cap, hdr[0], 1, 0)) return -1;
        pc__p_pp_copy_out(data, pos + sizeof hdr, spill->p, hdr[0]);
        *rec = spill->p;
    }
    *len = hdr[0];
    *kind = hdr[1];
    *at = pos + need;
    return 1;
}

// Give back every record before the consumer's position at.
static void pc__p_pp_ring_release(pc__p_pp_ring *r, uint64_t at) {
    __atomic_store_n(&r->head, at, __ATOMIC_SEQ_CST);
}
#endif // PYCONC_FUTURES_IMPLEMENTATION

// >>A.random
// The kernel's getrandom() where it has one, else its random device.
PYCONC_API int pc__p_random_bytes(void *buf, size_t size) {
    unsigned char *p = (unsigned char *)buf;
    size_t got = pc__p_os_getrandom(p, size);
    if (got == size) return PC_OK;
    int fd = pc__p_os_open_read("/dev/urandom");
    if (fd < 0) return pc__os_error("open /dev/urandom");
    int rc = pc__p_os_read_all(fd, p + got, size - got, 0);
    pc__p_os_close(fd);
    return rc;
}

// >>A.digest
// MD5 (RFC 1321) and SHA-256 (FIPS 180-4), only as the HMACs of the
// authkey handshake need them. Both eat 64-byte blocks.
typedef struct pc__p_hash {
    uint32_t h[8];
    uint64_t length;            // bytes hashed so far
    unsigned char block[64];
    size_t fill;
    int kind;                   // 0: MD5, 1: SHA-256
} pc__p_hash;

#define PC__ROTL(x, n) (((x) << (n)) | ((x) >> (32 - (n))))
#define PC__ROTR(x, n) (((x) >> (n)) | ((x) << (32 - (n))))

static const uint32_t pc__p_md5_k[64] = {
    0xd76aa478, 0xe8c7b756, 0x242070db, 0xc1bdceee, 0xf57c0faf, 0x4787c62a, 0xa8304613,
    0xfd469501, 0x698098d8, 0x8b44f7af, 0xffff5bb1, 0x895cd7be, 0x6b901122, 0xfd987193,
    0xa679438e, 0x49b40821, 0xf61e2562, 0xc040b340, 0x265e5a51, 0xe9b6c7aa, 0xd62f105d,
    0x02441453, 0xd8a1e681, 0xe7d3fbc8, 0x21e1cde6, 0xc33707d6, 0xf4d50d87, 0x455a14ed,
    0xa9e3e905, 0xfcefa3f8, 0x676f02d9, 0x8d2a4c8a, 0xfffa3942, 0x8771f681, 0x6d9d6122,
    0xfde5380c, 0xa4beea44, 0x4bdecfa9, 0xf6bb4b60, 0xbebfbc70, 0x289b7ec6, 0xeaa127fa,
    0xd4ef3085, 0x04881d05, 0xd9d4d039, 0xe6db99e5, 0x1fa27cf8, 0xc4ac5665, 0xf4292244,
    0x432aff97, 0xab9423a7, 0xfc93a039, 0x655b59c3, 0x8f0ccc92, 0xffeff47d, 0x85845dd1,
    0x6fa87e4f, 0xfe2ce6e0, 0xa3014314, 0x4e0811a1, 0xf7537e82, 0xbd3af235, 0x2ad7d2bb,
    0xeb86d391};
static const unsigned char pc__p_md5_r[16] = {7, 12, 17, 22, 5, 9, 14, 20,
                                            4, 11, 16, 23, 6, 10, 15, 21};

static void pc__p_md5_block(uint32_t *h, const unsigned char *p) {
    uint32_t w[16], a = h[0], b = h[1], c = h[2], d = h[3];
    for (int i = 0; i < 16; i++)
        w[i] = (uint32_t)p[4 * i] | (uint32_t)p[4 * i + 1] << 8 |
               (uint32_t)p[4 * i + 2] << 16 | (uint32_t)p[4 * i + 3] << 24;
    for (int i = 0; i < 64; i++) {
        uint32_t f;
        int g, round = i / 16;
        if (round == 0) { f = (b & c) | (~b & d); g = i; }
        else if (round == 1) { f = (d & b) | (~d & c); g = (5 * i + 1) % 16; }
        else if (round == 2) { f = b ^ c ^ d; g = (3 * i + 5) % 16; }
        else { f = c ^ (b | ~d); g = (7 * i) % 16; }
        uint32_t t = d;
        d = c;
        c = b;
        b = b + PC__ROTL(a + f + pc__p_md5_k[i] + w[g], pc__p_md5_r[round * 4 + i % 4]);
        a = t;
    }
    h[0] += a; h[1] += b; h[2] += c; h[3] += d;
}

static const uint32_t pc__p_sha256_k[64] = {
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4,
    0xab1c5ed5, 0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe,
    0x9bdc06a7, 0xc19bf174, 0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f,
    0x4a7484aa, 0x5cb0a9dc, 0x76f988da, 0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7,
    0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967, 0x27b70a85, 0x2e1b2138, 0x4d2c6dfc,
    0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85, 0xa2bfe8a1, 0xa81a664b,
    0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070, 0x19a4c116,
    0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7,
    0xc67178f2};

static void pc__p_sha256_block(uint32_t *h, const unsigned char *p) {
    uint32_t w[64], v[8];
    for (int i = 0; i < 16; i++)
        w[i] = (uint32_t)p[4 * i] << 24 | (uint32_t)p[4 * i + 1] << 16 |
               (uint32_t)p[4 * i + 2] << 8 | (uint32_t)p[4 * i + 3];
    for (int i = 16; i < 64; i++) {
        uint32_t s0 = PC__ROTR(w[i - 15], 7) ^ PC__ROTR(w[i - 15], 18) ^ (w[i - 15] >> 3);
        uint32_t s1 = PC__ROTR(w[i - 2], 17) ^ PC__ROTR(w[i - 2], 19) ^ (w[i - 2] >> 10);
        w[i] = w[i - 16] + s0 + w[i - 7] + s1;
    }
    memcpy(v, h, sizeof v);
    for (int i = 0; i < 64; i++) {
        uint32_t e = v[4], a = v[0];
        uint32_t t1 = v[7] + (PC__ROTR(e, 6) ^ PC__ROTR(e, 11) ^ PC__ROTR(e, 25)) +
                      ((e & v[5]) ^ (~e & v[6])) + pc__p_sha256_k[i] + w[i];
        uint32_t t2 = (PC__ROTR(a, 2) ^ PC__ROTR(a, 13) ^ PC__ROTR(a, 22)) +
                      ((a & v[1]) ^ (a & v[2]) ^ (v[1] & v[2]));
        memmove(v + 1, v, 7 * sizeof v[0]);
        v[4] += t1;
        v[0] = t1 + t2;
    }
    for (int i = 0; i < 8; i++) h[i] += v[i];
}

static void pc__p_hash_init(pc__p_hash *s, int kind) {
    static const uint32_t md5_iv[4] = {0x67452301, 0xefcdab89, 0x98badcfe, 0x10325476};
    static const uint32_t sha_iv[8] = {0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
                                       0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19};
    memset(s, 0, sizeof *s);
    s->kind = kind;
    if (kind) memcpy(s->h, sha_iv, sizeof sha_iv);
    else memcpy(s->h, md5_iv, sizeof md5_iv);
}

static void pc__p_hash_update(pc__p_hash *s, const void *data, size_t n) {
    const unsigned char *p = (const unsigned char *)data;
    s->length += n;
    while (n > 0) {
        size_t take = 64 - s->fill < n ? 64 - s->fill : n;
        memcpy(s->block + s->fill, p, take);
        s->fill += take;
        p += take;
        n -= take;
        if (s->fill == 64) {
            if (s->kind) pc__p_sha256_block(s->h, s->block);
            else pc__p_md5_block(s->h, s->block);
            s->fill = 0;
        }
    }
}

// Pad with 0x80, zeros and the bit length (little-endian for MD5,
// big-endian for SHA-256), then write the state in the same byte order.
static size_t pc__p_hash_final(pc__p_hash *s, unsigned char *out) {
    unsigned char pad[72] = {0x80};
    uint64_t bits = s->length * 8;
    size_t padlen = (s->fill < 56 ? 56 : 120) - s->fill;
    for (int i = 0; i < 8; i++)
        pad[padlen + (size_t)i] = (unsigned char)(s->kind ? bits >> (56 - 8 * i) : bits >> (8 * i));
    pc__p_hash_update(s, pad, padlen + 8);
    size_t words = s->kind ? 8 : 4;
    for (size_t i = 0; i < words; i++)
        for (int j = 0; j < 4; j++)
            out[4 * i + (size_t)j] =
                (unsigned char)(s->kind ? s->h[i] >> (24 - 8 * j) : s->h[i] >> (8 * j));
    return words * 4;
}

PYCONC_API void pc__p_hmac(int kind, const void *key, size_t key_size, const void *msg,
                           size_t msg_size, unsigned char *out) {
    unsigned char k[64], pad[64], inner[32];
    pc__p_hash s;
    memset(k, 0, sizeof k);
    if (key_size > 64) {            // long keys are hashed first (RFC 2104)
        pc__p_hash_init(&s, kind);
        pc__p_hash_update(&s, key, key_size);
        pc__p_hash_final(&s, k);
    } else if (key_size) {
        memcpy(k, key, key_size);
    }
    for (int i = 0; i < 64; i++) pad[i] = (unsigned char)(k[i] ^ 0x36);
    pc__p_hash_init(&s, kind);
    pc__p_hash_update(&s, pad, 64);
    pc__p_hash_update(&s, msg, msg_size);
    size_t n = pc__p_hash_final(&s, inner);
    for (int i = 0; i < 64; i++) pad[i] = (unsigned char)(k[i] ^ 0x5c);
    pc__p_hash_init(&s, kind);
    pc__p_hash_update(&s, pad, 64);
    pc__p_hash_update(&s, inner, n);
    pc__p_hash_final(&s, out);
}

// >>B.frame
// The one framing helper pair: Python's multiprocessing.connection format.
#define PC__FRAME_LONG 0x7fffffffu     // longer messages use the 8-byte form

static size_t pc__p_frame_header(unsigned char *h, size_t size) {
    if (size <= PC__FRAME_LONG) {
        for (int i = 0; i < 4; i++) h[i] = (unsigned char)(size >> (24 - 8 * i));
        return 4;
    }
    memset(h, 0xff, 4);
    uint64_t s = (uint64_t)size;
    for (int i = 0; i < 8; i++) h[4 + i] = (unsigned char)(s >> (56 - 8 * i));
    return 12;
}

static int pc__p_frame_send(int fd, int is_socket, const void *buf, size_t size) {
    unsigned char h[12];
    struct iovec iov[2];
    iov[0].iov_base = h;
    iov[0].iov_len = pc__p_frame_header(h, size);
    iov[1].iov_base = (void *)buf;
    iov[1].iov_len = size;
    return pc__p_os_write_all(fd, is_socket, iov, size ? 2 : 1);
}

// Finish reading a frame header whose first 4 bytes are h; *out_size
// gets the length. A 4-byte length with the sign bit set (other than -1)
// or an 8-byte one past PTRDIFF_MAX is a bad frame: PC_OS/EPROTO. The
// frame readers take a deadline as pc__p_os_read_by does (INFINITY: none).
static int pc__p_frame_header_rest(int fd, const unsigned char *h4, size_t *out_size,
                                   double deadline) {
    unsigned char h[8];
    int rc;
    uint32_t s32 = (uint32_t)h4[0] << 24 | (uint32_t)h4[1] << 16 | (uint32_t)h4[2] << 8 | h4[3];
    if (s32 <= PC__FRAME_LONG) {
        *out_size = s32;
        return PC_OK;
    }
    if (s32 != 0xffffffffu) {
        errno = EPROTO;
        return pc__error(PC_OS, "bad message length (header 0x%08x)", (unsigned)s32);
    }
    if ((rc = pc__p_os_read_by(fd, h, 8, 0, deadline))) return rc;
    uint64_t s64 = 0;
    for (int i = 0; i < 8; i++) s64 = s64 << 8 | h[i];
    if (s64 > (uint64_t)PTRDIFF_MAX) {
        errno = EPROTO;
        return pc__error(PC_OS, "bad message length (%llu bytes)", (unsigned long long)s64);
    }
    *out_size = (size_t)s64;
    return PC_OK;
}

// Read a payload of size bytes into a new buffer. The buffer grows as the
// bytes arrive (1 MiB, then doubling), so a forged header announcing
// gigabytes costs no more memory than the bytes actually sent. It grows by
// realloc: a large block moves without a copy (glibc remaps it), so a
// message is held once, not twice while the last doubling copies it.
#define PC__FRAME_CHUNK ((size_t)1 << 20)

static int pc__p_frame_recv_payload(int fd, size_t size, void **out_buf, double deadline) {
    size_t cap = size < PC__FRAME_CHUNK ? size : PC__FRAME_CHUNK, got = 0;
    char *buf = (char *)pc__malloc(cap);
    if (!buf) return PC_NOMEM;
    while (got < size) {
        if (pc__grow(&buf, &cap, got + 1, 1, size)) { pc__free(buf); return PC_NOMEM; }
        int rc = pc__p_os_read_by(fd, buf + got, cap - got, 0, deadline);
        if (rc) { pc__free(buf); return rc; }
        got = cap;
    }
    *out_buf = buf;
    return PC_OK;
}

// One message in Python's framing with descriptors attached to the first
// byte of its header: how an argument pack travels on a connection and
// how a child gets its bootstrap. Header and payload are separate writes,
// so on a SOCK_SEQPACKET socket (the forkserver's channel) each is one
// record, which the reader takes whole (4-byte headers only there).
static int pc__p_frame_send_fds(int fd, int is_socket, const void *buf, size_t size,
                                const int *fds, size_t nfds) {
    unsigned char h[12];
    size_t hlen = pc__p_frame_header(h, size);
    int rc = nfds ? pc__p_send_fds(fd, h, hlen, fds, nfds)
                  : pc__p_os_write_buf(fd, is_socket, h, hlen);
    return rc ? rc : pc__p_os_write_buf(fd, is_socket, buf, size);
}

// Receive one such message into a new buffer (*out_buf, pc__free) and up
// to *inout_nfds descriptors (close-on-exec) into fds. limit: the longest
// payload accepted, 0 for none. On failure no descriptor is left open.
// Returns: PC_OK, PC_EOF (closed between messages), PC_OS, PC_VALUE, PC_NOMEM.
static int pc__p_frame_recv_fds(int fd, int is_socket, size_t limit, void **out_buf,
                                size_t *out_size, int *fds, size_t *inout_nfds) {
    unsigned char h[4];
    size_t size = 0;
    int rc = is_socket ? pc__p_recv_fds(fd, h, 4, fds, inout_nfds) : pc__p_os_read_all(fd, h, 4, 1);
    if (!is_socket) *inout_nfds = 0;
    if (rc) return rc;
    rc = pc__p_frame_header_rest(fd, h, &size, INFINITY);
    if (!rc && limit && size > limit) {
        errno = EMSGSIZE;
        rc = pc__error(PC_OS, "bad message length: %zu bytes, at most %zu", size, limit);
    }
    if (!rc) rc = pc__p_frame_recv_payload(fd, size, out_buf, INFINITY);
    if (rc) {
        for (size_t i = 0; i < *inout_nfds; i++) pc__p_os_close(fds[i]);
        *inout_nfds = 0;
        return rc;
    }
    *out_size = size;
    return PC_OK;
}

// >>B.connection
// A connection reads ahead: one read takes a frame header together with
// whatever follows it (a small message's body, the next messages) into a
// buffer of PC__AHEAD bytes, so a small message costs one read, not two.
// The rest of a longer body is read straight into its destination. On a
// unix socket the reads are recvmsg, and descriptors that come are kept
// with the stream position of the last byte they came with: the kernel
// ends a read after the bytes that carried descriptors, and a sender puts
// them on a frame header (pc__p_frame_send_fds), so they belong to the
// message whose header holds that byte. While descriptors wait for their
// message, reads take only the bytes needed, so none comes with others.
#define PC__AHEAD 1024

struct pc_connection {
    int fd;                     // -1 once closed
    unsigned char readable, writable;
    unsigned char is_socket;    // send with MSG_NOSIGNAL instead of masking SIGPIPE
    unsigned char is_unix;      // reads take descriptors too (1: yes, 0: no, 2: not known)
    unsigned char has_pending;  // a message kept by recv_bytes_into (too long)
    void *pending;
    size_t pending_size;
    unsigned char *ahead;       // PC__AHEAD bytes, made at the first read
    size_t ahead_pos, ahead_len;    // unread: ahead[ahead_pos..ahead_len); written
                                    // atomically, as poll and wait read them
    uint64_t seq;               // stream position of ahead[ahead_len]
    int *fds;                   // descriptors read, not yet given to their message
    size_t nfds;
    uint64_t fds_at;            // the stream position they came with
};

static int pc__p_conn_check(const pc_connection *c, int want_read, int want_write) {
    if (!c) return pc__error(PC_VALUE, "connection is NULL");
    if (c->fd < 0) {
        errno = EBADF;
        return pc__error(PC_OS, "handle is closed");
    }
    if (want_read && !c->readable) return pc__error(PC_VALUE, "connection is write-only");
    if (want_write && !c->writable) return pc__error(PC_VALUE, "connection is read-only");
    return PC_OK;
}

static pc_connection *pc__p_conn_new(int fd, int readable, int writable, int is_socket) {
    pc_connection *c = (pc_connection *)pc__calloc(1, sizeof *c);
    if (!c) return NULL;
    c->fd = fd;
    c->readable = (unsigned char)(readable != 0);
    c->writable = (unsigned char)(writable != 0);
    c->is_socket = (unsigned char)(is_socket != 0);
    c->is_unix = is_socket ? 2 : 0;
    return c;
}

// Unread bytes in the read-ahead buffer; any thread (poll, wait) may ask.
static size_t pc__p_conn_buffered(const pc_connection *c) {
    return __atomic_load_n(&c->ahead_len, __ATOMIC_RELAXED) -
           __atomic_load_n(&c->ahead_pos, __ATOMIC_RELAXED);
}

// Only the receiving thread moves them; relaxed: a poll that races with a
// receive is a race of the caller's (as on a socket), but no torn value.
static void pc__p_conn_set_ahead(pc_connection *c, size_t pos, size_t len) {
    __atomic_store_n(&c->ahead_pos, pos, __ATOMIC_RELAXED);
    __atomic_store_n(&c->ahead_len, len, __ATOMIC_RELAXED);
}

static void pc__p_conn_drop_fds(pc_connection *c) {
    for (size_t i = 0; i < c->nfds; i++) pc__p_os_close(c->fds[i]);
    c->nfds = 0;
}

// One read into the buffer's free room (at most room bytes); descriptors
// that come are kept (see above). Returns as read(2).
static ssize_t pc__p_conn_read_some(pc_connection *c, size_t room) {
    unsigned char *at = c->ahead + c->ahead_len;
    if (c->is_unix == 2) c->is_unix = pc__p_os_socket_family(c->fd) == AF_UNIX;
    if (!c->is_unix) return pc__p_os_read_some(c->fd, at, room);
    int fds[PC__MAX_FDS];
    size_t n = 0;
    ssize_t r = pc__p_recv_some_fds(c->fd, at, room, fds, PC__MAX_FDS, &n);
    if (n == 0) return r;
    if (!c->fds && !(c->fds = (int *)pc__calloc(PC__MAX_FDS, sizeof(int)))) {
        for (size_t i = 0; i < n; i++) pc__p_os_close(fds[i]);
        errno = ENOMEM;
        return -1;
    }
    pc__p_conn_drop_fds(c);         // not possible by the rule above; never two sets
    memcpy(c->fds, fds, n * sizeof(int));
    c->nfds = n;
    c->fds_at = c->seq + (uint64_t)r - 1;
    return r;
}

// Read until the buffer holds need (<= PC__AHEAD) unread bytes, each read
// taking what has come (only what is needed while descriptors wait). End
// of file before the first byte of a message (at_boundary, nothing
// buffered) is PC_EOF, elsewhere PC_OS/EIO. A finite deadline bounds it
// as pc__p_os_read_by's does.
static int pc__p_conn_fill(pc_connection *c, size_t need, int at_boundary, double deadline) {
    size_t have = c->ahead_len - c->ahead_pos;
    if (have >= need) return PC_OK;
    if (!c->ahead && !(c->ahead = (unsigned char *)pc__malloc(PC__AHEAD))) return PC_NOMEM;
    if (c->ahead_pos) memmove(c->ahead, c->ahead + c->ahead_pos, have);
    pc__p_conn_set_ahead(c, 0, have);
    while (c->ahead_len < need) {
        int rc = deadline < INFINITY ? pc__p_os_wait_readable(c->fd, deadline) : PC_OK;
        if (rc == PC_TIMEOUT) {
            errno = ETIMEDOUT;
            return pc__error(PC_TIMEOUT, "recv_bytes: timed out");
        }
        if (rc) return rc;
        ssize_t r = pc__p_conn_read_some(c, (c->nfds ? need : PC__AHEAD) - c->ahead_len);
        if (r < 0) {
            if (errno == EINTR) continue;
            return pc__os_error("recv_bytes");
        }
        if (r == 0) {
            if (c->ahead_len == 0 && at_boundary)
                return pc__error(PC_EOF, "connection closed by peer");
            errno = EIO;
            return pc__error(PC_OS, "got end of file during message");
        }
        c->seq += (uint64_t)r;
        pc__p_conn_set_ahead(c, 0, c->ahead_len + (size_t)r);
    }
    return PC_OK;
}

// Read a frame header; *out_size gets the length, *out_start and *out_len
// (may be NULL) the header's stream position and length. Bad lengths as
// pc__p_frame_header_rest.
static int pc__p_conn_header(pc_connection *c, size_t *out_size, uint64_t *out_start,
                             size_t *out_len, double deadline) {
    int rc = pc__p_conn_fill(c, 4, 1, deadline);
    if (rc) return rc;
    uint64_t start = c->seq - (c->ahead_len - c->ahead_pos);
    const unsigned char *h = c->ahead + c->ahead_pos;
    uint32_t s32 = (uint32_t)h[0] << 24 | (uint32_t)h[1] << 16 | (uint32_t)h[2] << 8 | h[3];
    size_t hlen = 4;
    if (s32 <= PC__FRAME_LONG) {
        *out_size = s32;
    } else if (s32 != 0xffffffffu) {
        errno = EPROTO;
        return pc__error(PC_OS, "bad message length (header 0x%08x)", (unsigned)s32);
    } else {
        if ((rc = pc__p_conn_fill(c, 12, 0, deadline))) return rc;
        h = c->ahead + c->ahead_pos;
        uint64_t s64 = 0;
        for (int i = 4; i < 12; i++) s64 = s64 << 8 | h[i];
        if (s64 > (uint64_t)PTRDIFF_MAX) {
            errno = EPROTO;
            return pc__error(PC_OS, "bad message length (%llu bytes)", (unsigned long long)s64);
        }
        *out_size = (size_t)s64;
        hlen = 12;
    }
    pc__p_conn_set_ahead(c, c->ahead_pos + hlen, c->ahead_len);
    if (out_start) *out_start = start;
    if (out_len) *out_len = hlen;
    return PC_OK;
}

// The descriptors of the message whose header is [start, start + hlen):
// moved to fds (room for *inout_nfds; more is PC_VALUE, all closed), or
// none. Descriptors that came before it were no message's: closed.
static int pc__p_conn_take_fds(pc_connection *c, uint64_t start, size_t hlen, int *fds,
                               size_t *inout_nfds) {
    size_t cap = *inout_nfds;
    *inout_nfds = 0;
    if (c->nfds && c->fds_at < start) pc__p_conn_drop_fds(c);
    if (!c->nfds || c->fds_at >= start + hlen) return PC_OK;
    size_t n = c->nfds;
    if (n > cap) {
        pc__p_conn_drop_fds(c);
        return pc__error(PC_VALUE, "recv_fds: %zu descriptors arrived, room for %zu", n, cap);
    }
    memcpy(fds, c->fds, n * sizeof(int));
    c->nfds = 0;
    *inout_nfds = n;
    return PC_OK;
}

// Read a header for a message that takes no descriptors (any it came
// with are closed, as reading it without recvmsg would).
static int pc__p_conn_header_plain(pc_connection *c, size_t *out_size, double deadline) {
    uint64_t start = 0;
    size_t hlen = 0;
    int rc = pc__p_conn_header(c, out_size, &start, &hlen, deadline);
    if (!rc && c->nfds && c->fds_at < start + hlen) pc__p_conn_drop_fds(c);
    return rc;
}

// Copy the next size bytes of the stream to dst: the buffered ones, then
// the rest straight from the descriptor.
static int pc__p_conn_body(pc_connection *c, void *dst, size_t size, double deadline) {
    size_t have = c->ahead_len - c->ahead_pos;
    if (have > size) have = size;
    if (have) memcpy(dst, c->ahead + c->ahead_pos, have);
    pc__p_conn_set_ahead(c, c->ahead_pos + have, c->ahead_len);
    if (have == size) return PC_OK;
    int rc = pc__p_os_read_by(c->fd, (char *)dst + have, size - have, 0, deadline);
    if (!rc) c->seq += (uint64_t)(size - have);
    return rc;
}

// A body of size bytes in a new buffer, which grows as the bytes arrive
// (as pc__p_frame_recv_payload's: a forged length costs no memory).
static int pc__p_conn_payload(pc_connection *c, size_t size, void **out_buf, double deadline) {
    size_t have = c->ahead_len - c->ahead_pos;
    if (have > size) have = size;
    size_t cap = size < PC__FRAME_CHUNK ? size : PC__FRAME_CHUNK, got = have;
    if (cap < have) cap = have;
    char *buf = (char *)pc__malloc(cap);
    if (!buf) return PC_NOMEM;
    if (have) memcpy(buf, c->ahead + c->ahead_pos, have);
    pc__p_conn_set_ahead(c, c->ahead_pos + have, c->ahead_len);
    while (got < size) {
        if (pc__grow(&buf, &cap, got + 1, 1, size)) { pc__free(buf); return PC_NOMEM; }
        int rc = pc__p_os_read_by(c->fd, buf + got, cap - got, 0, deadline);
        if (rc) { pc__free(buf); return rc; }
        c->seq += (uint64_t)(cap - got);
        got = cap;
    }
    *out_buf = buf;
    return PC_OK;
}

PYCONC_API pc_connection *pc__p_connection_from_fd(int fd, int readable, int writable) {
    if (fd < 0) {
        pc__error(PC_VALUE, "invalid handle %d", fd);
        return NULL;
    }
    if (!readable && !writable) {
        pc__error(PC_VALUE, "at least one of readable and writable must be true");
        return NULL;
    }
    return pc__p_conn_new(fd, readable, writable, pc__p_os_is_socket(fd));
}

PYCONC_API int pc_pipe(int duplex, pc_connection **out_a, pc_connection **out_b) {
    int fds[2];
    if (!out_a || !out_b) return pc__error(PC_VALUE, "pc_pipe: NULL out pointer");
    *out_a = *out_b = NULL;
    if ((duplex ? pc__p_os_socketpair(fds) : pc__p_os_pipe(fds)) < 0)
        return pc__os_error(duplex ? "socketpair" : "pipe");
    pc_connection *a = pc__p_conn_new(fds[0], 1, duplex, duplex);
    pc_connection *b = pc__p_conn_new(fds[1], duplex, 1, duplex);
    if (!a || !b) {
        pc__free(a);
        pc__free(b);
        pc__p_os_close(fds[0]);
        pc__p_os_close(fds[1]);
        return PC_NOMEM;
    }
    a->is_unix = b->is_unix = (unsigned char)(duplex != 0);    // a socketpair's, known
    *out_a = a;
    *out_b = b;
    return PC_OK;
}

PYCONC_API int pc_connection_send_bytes(pc_connection *c, const void *buf, size_t offset,
                                        size_t size) {
    int rc = pc__p_conn_check(c, 0, 1);
    if (rc) return rc;
    if (offset + size < offset) return pc__error(PC_VALUE, "offset + size overflows");
    if (!buf && offset + size > 0) return pc__error(PC_VALUE, "buffer is NULL");
    return pc__p_frame_send(c->fd, c->is_socket, (const char *)buf + offset, size);
}

// Stop reading from a stream that is out of step (a message left half
// read): the connection stays open for sending, or closes when it cannot
// send either, as Python's _bad_message_length. errno is kept.
static void pc__p_conn_desync(pc_connection *c) {
    int e = errno;
    if (c->writable) c->readable = 0;
    else pc_connection_close(c);
    errno = e;
}

static int pc__p_conn_bad_length(pc_connection *c, size_t size, size_t maxlength) {
    pc__p_conn_desync(c);
    errno = EMSGSIZE;
    return pc__error(PC_OS, "bad message length: %zu bytes, maxlength %zu", size, maxlength);
}

// A failed header read desyncs the stream when bytes of it were consumed
// (EPROTO: a bad length, EIO: end of file inside it); a failed payload read
// (any status, PC_NOMEM included) always does.
static int pc__p_conn_header_failed(pc_connection *c, int rc) {
    if (rc == PC_OS && (errno == EPROTO || errno == EIO)) pc__p_conn_desync(c);
    return rc;
}

static int pc__p_conn_payload_failed(pc_connection *c, int rc) {
    if (rc) pc__p_conn_desync(c);
    return rc;
}

// recv_bytes by a deadline (INFINITY: none). A timeout may leave a message
// half read: only the handshake uses one, and drops the connection then.
static int pc__p_conn_recv(pc_connection *c, size_t maxlength, void **out_buf, size_t *out_size,
                           double deadline) {
    size_t size;
    int rc = pc__p_conn_check(c, 1, 0);
    if (rc) return rc;
    if (!out_buf || !out_size) return pc__error(PC_VALUE, "recv_bytes: NULL out pointer");
    if (c->has_pending) {
        size = c->pending_size;
        if (maxlength && size > maxlength) return pc__p_conn_bad_length(c, size, maxlength);
        *out_buf = c->pending;
        *out_size = size;
        c->pending = NULL;
        c->has_pending = 0;
        return PC_OK;
    }
    if ((rc = pc__p_conn_header_plain(c, &size, deadline)))
        return pc__p_conn_header_failed(c, rc);
    if (maxlength && size > maxlength) return pc__p_conn_bad_length(c, size, maxlength);
    if ((rc = pc__p_conn_payload(c, size, out_buf, deadline)))
        return pc__p_conn_payload_failed(c, rc);
    *out_size = size;
    return PC_OK;
}

PYCONC_API int pc_connection_recv_bytes(pc_connection *c, size_t maxlength, void **out_buf,
                                        size_t *out_size) {
    return pc__p_conn_recv(c, maxlength, out_buf, out_size, INFINITY);
}

static int pc__p_conn_too_short(size_t size, size_t room) {
    return pc__error(PC_VALUE, "BufferTooShort: message of %zu bytes, room for %zu "
                     "(kept for the next receive)", size, room);
}

PYCONC_API int pc_connection_recv_bytes_into(pc_connection *c, void *buf, size_t cap,
                                             size_t offset, size_t *out_size) {
    size_t size;
    int rc = pc__p_conn_check(c, 1, 0);
    if (rc) return rc;
    if (!out_size) return pc__error(PC_VALUE, "recv_bytes_into: NULL out pointer");
    if (!buf && cap) return pc__error(PC_VALUE, "buffer is NULL");
    if (offset > cap) return pc__error(PC_VALUE, "offset too large");
    if (c->has_pending) {
        *out_size = size = c->pending_size;
        if (size > cap - offset) return pc__p_conn_too_short(size, cap - offset);
        if (size) memcpy((char *)buf + offset, c->pending, size);
        pc__free(c->pending);
        c->pending = NULL;
        c->has_pending = 0;
        return PC_OK;
    }
    if ((rc = pc__p_conn_header_plain(c, &size, INFINITY)))
        return pc__p_conn_header_failed(c, rc);
    *out_size = size;
    if (size <= cap - offset)
        return pc__p_conn_payload_failed(c, pc__p_conn_body(c, (char *)buf + offset, size,
                                                            INFINITY));
    void *keep;
    if ((rc = pc__p_conn_payload(c, size, &keep, INFINITY)))
        return pc__p_conn_payload_failed(c, rc);
    c->pending = keep;
    c->pending_size = size;
    c->has_pending = 1;
    return pc__p_conn_too_short(size, cap - offset);
}

PYCONC_API int pc_connection_poll(pc_connection *c, double timeout) {
    double deadline = 0;
    int rc = pc__p_conn_check(c, 1, 0);
    if (rc) return rc;
    if (pc__deadline(timeout, &deadline)) return PC_VALUE;
    if (c->has_pending || pc__p_conn_buffered(c)) return PC_OK;
    rc = pc__p_os_wait_readable(c->fd, timeout == 0 ? 0 : deadline);
    if (rc == PC_TIMEOUT) return pc__error(PC_TIMEOUT, "poll: nothing to read");
    return rc;
}

PYCONC_API int pc_connection_fileno(const pc_connection *c) {
    if (pc__p_conn_check(c, 0, 0)) return -1;
    return c->fd;
}

PYCONC_API void pc_connection_close(pc_connection *c) {
    if (!c || c->fd < 0) return;
    pc__p_os_close(c->fd);
    c->fd = -1;
    pc__free(c->pending);
    c->pending = NULL;
    c->has_pending = 0;
    pc__p_conn_drop_fds(c);
    pc__free(c->fds);
    c->fds = NULL;
    pc__free(c->ahead);
    c->ahead = NULL;
    pc__p_conn_set_ahead(c, 0, 0);
}

PYCONC_API void pc_connection_free(pc_connection *c) {
    if (!c) return;
    pc_connection_close(c);
    pc__free(c);
}

PYCONC_API int pc_connection_closed(const pc_connection *c) { return !c || c->fd < 0; }
PYCONC_API int pc_connection_readable(const pc_connection *c) { return c && c->readable; }
PYCONC_API int pc_connection_writable(const pc_connection *c) { return c && c->writable; }
PYCONC_API void pc_connection_bytes_free(void *buf) { pc__free(buf); }

// >>B.wait
// poll(2) needs no extra descriptor (unlike epoll) and is one system call,
// the reason Python picks it too. Up to 16 objects live on the stack.
static int pc__p_wait_fd(const pc_wait_object *o) {
    if (!o->conn) {
        if (o->fd < 0) return pc__error(PC_VALUE, "wait: negative descriptor %d", o->fd);
        return PC_OK;
    }
    return pc__p_conn_check(o->conn, 1, 0);
}

static size_t pc__p_wait_collect(pc_wait_object *objects, const struct pollfd *p, size_t n) {
    size_t ready = 0;
    for (size_t i = 0; i < n; i++) {
        int on = (p[i].revents & (POLLIN | POLLHUP | POLLERR)) != 0 ||
                 (objects[i].conn && (objects[i].conn->has_pending ||
                                      pc__p_conn_buffered(objects[i].conn)));
        objects[i].ready = on;
        ready += (size_t)on;
    }
    return ready;
}

static int pc__p_wait_poll(pc_wait_object *objects, struct pollfd *p, size_t n,
                           double deadline, size_t *out_nready) {
    int any_pending = 0;
    for (size_t i = 0; i < n; i++) {
        p[i].fd = objects[i].conn ? objects[i].conn->fd : objects[i].fd;
        p[i].events = POLLIN;
        p[i].revents = 0;
        objects[i].ready = 0;
        const pc_connection *c = objects[i].conn;
        if (c && (c->has_pending || pc__p_conn_buffered(c))) any_pending = 1;
    }
    int rc = pc__p_os_poll(p, n, any_pending ? 0 : deadline);
    if (rc == PC_OS) return rc;
    for (size_t i = 0; i < n; i++)
        if (p[i].revents & POLLNVAL)
            return pc__error(PC_VALUE, "wait: descriptor %d is not open", p[i].fd);
    size_t ready = pc__p_wait_collect(objects, p, n);
    if (out_nready) *out_nready = ready;
    return ready ? PC_OK : pc__error(PC_TIMEOUT, "wait: nothing ready");
}

PYCONC_API int pc_connection_wait(pc_wait_object *objects, size_t n, double timeout,
                                  size_t *out_nready) {
    struct pollfd small[16], *p = small;
    double deadline = 0;
    int rc;
    if (out_nready) *out_nready = 0;
    if (!objects && n) return pc__error(PC_VALUE, "wait: objects is NULL");
    if (pc__deadline(timeout, &deadline)) return PC_VALUE;
    for (size_t i = 0; i < n; i++)
        if ((rc = pc__p_wait_fd(&objects[i]))) return rc;
    if (n > 16 && !(p = (struct pollfd *)pc__calloc(n, sizeof *p))) return PC_NOMEM;
    rc = pc__p_wait_poll(objects, p, n, timeout == 0 ? 0 : deadline, out_nready);
    if (p != small) pc__free(p);
    return rc;
}

// >>B.auth
// Python's authkey handshake (multiprocessing.connection, 3.12+), written
// once for its two carriers: framed messages on a connection (Python's
// own), and one record per message on the forkserver's channel. A
// message longer than 256 bytes is refused unread.
#define PC__AUTH_MAX 256
#define PC__CHALLENGE "#CHALLENGE#"
#define PC__WELCOME "#WELCOME#"
#define PC__FAILURE "#FAILURE#"
#define PC__CHALLENGE_RANDOM 40     // Python's MESSAGE_LENGTH
#define PC__LEGACY_CHALLENGE 20     // a <= 3.11 server's challenge: bare MD5
#define PC__MD5_SIZE 16

// How one handshake's messages travel. recv fills buf (room for
// PC__AUTH_MAX bytes); PC_AUTH from it is a message it cannot take as one,
// which the challenger refuses as a wrong reply; any other failure of
// either ends the handshake at once.
typedef struct pc__p_auth_io {
    int (*send)(void *ctx, const void *buf, size_t size);
    int (*recv)(void *ctx, unsigned char *buf, size_t *out_size);
    void *ctx;
    // Python's forms: {md5} and the bare MD5 of <= 3.11 too. Otherwise
    // only what we send ourselves: a "{sha256}" challenge of 40 random
    // bytes and a "{sha256}" reply.
    int legacy;
} pc__p_auth_io;

// Split a challenge or reply into its digest (0 MD5, 1 SHA-256) and the
// part after the "{name}" prefix. The bare 16- and 20-byte forms are the
// legacy MD5 protocol. Python also knows sha384 and sha3_*: refused here.
static int pc__p_auth_digest(const pc__p_auth_io *io, const unsigned char *m, size_t n,
                             int *out_kind, size_t *out_prefix) {
    static const char *const names[2] = {"{md5}", "{sha256}"};
    *out_prefix = 0;
    *out_kind = 0;
    if (io->legacy && (n == PC__MD5_SIZE || n == PC__LEGACY_CHALLENGE)) return PC_OK;
    for (int k = io->legacy ? 0 : 1; k < 2; k++) {
        size_t len = strlen(names[k]);
        if (n >= len && memcmp(m, names[k], len) == 0) {
            *out_kind = k;
            *out_prefix = len;
            return PC_OK;
        }
    }
    if (!io->legacy) return pc__error(PC_AUTH, "expected a {sha256} message (%zu bytes)", n);
    return pc__error(PC_AUTH, "unsupported message length, missing digest prefix, or "
                     "unsupported digest (%zu bytes)", n);
}

// Compare without an early exit, so timing tells an attacker nothing.
static int pc__p_auth_equal(const unsigned char *a, const unsigned char *b, size_t n) {
    unsigned char diff = 0;
    for (size_t i = 0; i < n; i++) diff |= (unsigned char)(a[i] ^ b[i]);
    return diff == 0;
}

static int pc__p_auth_verify(const pc__p_auth_io *io, const void *key, size_t key_size,
                             const unsigned char *message, size_t message_size,
                             const unsigned char *reply, size_t n) {
    unsigned char expected[32];
    int kind;
    size_t prefix;
    if (pc__p_auth_digest(io, reply, n, &kind, &prefix)) return PC_AUTH;
    size_t want = kind ? 32 : PC__MD5_SIZE;
    pc__p_hmac(kind, key, key_size, message, message_size, expected);
    if (n - prefix != want)
        return pc__error(PC_AUTH, "expected %s of length %zu, got %zu",
                         kind ? "sha256" : "md5", want, n - prefix);
    if (!pc__p_auth_equal(expected, reply + prefix, want))
        return pc__error(PC_AUTH, "digest received was wrong");
    return PC_OK;
}

// The challenger's half (Python's deliver_challenge): send a "{sha256}"
// challenge, check the reply, answer #WELCOME# or #FAILURE#.
static int pc__p_auth_challenge(const pc__p_auth_io *io, const void *key, size_t key_size) {
    unsigned char out[11 + 8 + PC__CHALLENGE_RANDOM], reply[PC__AUTH_MAX];
    size_t n = 0, head = strlen(PC__CHALLENGE);
    memcpy(out, PC__CHALLENGE "{sha256}", head + 8);
    int rc = pc__p_random_bytes(out + head + 8, PC__CHALLENGE_RANDOM);
    if (!rc) rc = io->send(io->ctx, out, sizeof out);
    if (!rc) rc = io->recv(io->ctx, reply, &n);
    if (rc && rc != PC_AUTH) return rc;     // a message that is no reply is refused below
    if (!rc) rc = pc__p_auth_verify(io, key, key_size, out + head, sizeof out - head, reply, n);
    if (rc == PC_OK) return io->send(io->ctx, PC__WELCOME, strlen(PC__WELCOME));
    char why[256];
    snprintf(why, sizeof why, "%s", pc_last_error());    // the send below may overwrite it
    io->send(io->ctx, PC__FAILURE, strlen(PC__FAILURE));
    return pc__error(PC_AUTH, "%s", why);
}

// The answerer's half (Python's answer_challenge): reply with the HMAC of
// the challenge under key, then expect #WELCOME#.
static int pc__p_auth_answer(const pc__p_auth_io *io, const void *key, size_t key_size) {
    unsigned char m[PC__AUTH_MAX], reply[8 + 32];
    size_t n, head = strlen(PC__CHALLENGE), prefix;
    int kind, rc = io->recv(io->ctx, m, &n);
    if (rc) return rc;
    if (n < head || memcmp(m, PC__CHALLENGE, head) != 0)
        return pc__error(PC_AUTH, "protocol error, expected a challenge");
    if (n - head < PC__LEGACY_CHALLENGE)
        return pc__error(PC_AUTH, "challenge too short: %zu bytes", n - head);
    if (!io->legacy && n - head != 8 + PC__CHALLENGE_RANDOM)
        return pc__error(PC_AUTH, "expected a {sha256} challenge of %d bytes, got %zu",
                         8 + PC__CHALLENGE_RANDOM, n - head);
    if (pc__p_auth_digest(io, m + head, n - head, &kind, &prefix)) return PC_AUTH;
    // The MAC covers the whole challenge, "{digest}" prefix included.
    memcpy(reply, m + head, prefix);
    pc__p_hmac(kind, key, key_size, m + head, n - head, reply + prefix);
    if ((rc = io->send(io->ctx, reply, prefix + (kind ? 32 : PC__MD5_SIZE)))) return rc;
    if ((rc = io->recv(io->ctx, m, &n))) return rc;
    if (n != strlen(PC__WELCOME) || memcmp(m, PC__WELCOME, n) != 0)
        return pc__error(PC_AUTH, "digest sent was rejected");
    return PC_OK;
}

// The connection carrier: normal frames, each read by one deadline
// (INFINITY: none); the writes are a few small messages that the socket
// buffer takes.
typedef struct pc__p_auth_conn {
    pc_connection *c;
    double deadline;
} pc__p_auth_conn;

static int pc__p_auth_conn_send(void *ctx, const void *buf, size_t size) {
    return pc_connection_send_bytes(((pc__p_auth_conn *)ctx)->c, buf, 0, size);
}

static int pc__p_auth_conn_recv(void *ctx, unsigned char *buf, size_t *out_size) {
    pc__p_auth_conn *a = (pc__p_auth_conn *)ctx;
    void *msg = NULL;
    size_t n = 0;
    int rc = pc__p_conn_recv(a->c, PC__AUTH_MAX, &msg, &n, a->deadline);
    if (rc) return rc;
    memcpy(buf, msg, n);
    pc__free(msg);
    *out_size = n;
    return PC_OK;
}

typedef int (*pc__p_auth_half)(const pc__p_auth_io *io, const void *key, size_t key_size);

// Run the half first on connection c, then second (when not NULL): both,
// in the order Python's Listener (challenge first) or Client runs them.
static int pc__p_auth_conn_run(pc_connection *c, const void *key, size_t key_size,
                               double deadline, pc__p_auth_half first, pc__p_auth_half second) {
    pc__p_auth_conn ctx;
    pc__p_auth_io io;
    if (!key && key_size) return pc__error(PC_VALUE, "authkey is NULL");
    int rc = pc__p_conn_check(c, 1, 1);
    if (rc) return rc;
    ctx.c = c;
    ctx.deadline = deadline;
    io.send = pc__p_auth_conn_send;
    io.recv = pc__p_auth_conn_recv;
    io.ctx = &ctx;
    io.legacy = 1;
    rc = first(&io, key, key_size);
    return rc || !second ? rc : second(&io, key, key_size);
}

PYCONC_API int pc_connection_deliver_challenge(pc_connection *c, const void *authkey,
                                               size_t authkey_size) {
    return pc__p_auth_conn_run(c, authkey, authkey_size, INFINITY, pc__p_auth_challenge, NULL);
}

PYCONC_API int pc_connection_answer_challenge(pc_connection *c, const void *authkey,
                                              size_t authkey_size) {
    return pc__p_auth_conn_run(c, authkey, authkey_size, INFINITY, pc__p_auth_answer, NULL);
}

// >>B.address
// Addresses are text everywhere: "host:port", "[v6]:port", "/path" and
// "@name" (Linux's abstract namespace; Python writes it "\0name").
typedef struct pc__p_sockaddr {
    struct sockaddr_storage ss;
    socklen_t len;
} pc__p_sockaddr;

static pc_family pc__p_family_of(const char *address) {
    const char *colon = strrchr(address, ':');
    if (address[0] == '@') return PC_AF_ABSTRACT;
    if (strchr(address, '/') || !colon || !colon[1]) return PC_AF_UNIX;
    for (const char *p = colon + 1; *p; p++)
        if (*p < '0' || *p > '9') return PC_AF_UNIX;
    return PC_AF_INET;
}

static int pc__p_unix_sockaddr(const char *path, int abstract, pc__p_sockaddr *out) {
    struct sockaddr_un un;
    if (abstract && path[0] == '@') path++;
    if (abstract && !PC__HAVE_ABSTRACT_UNIX)
        return pc__error(PC_VALUE, "the abstract socket namespace is Linux only");
    size_t n = strlen(path), room = sizeof un.sun_path - 1;
    if (n == 0 || n > room)
        return pc__error(PC_VALUE, "unix address of %zu bytes (1 to %zu allowed)", n, room);
    memset(&un, 0, sizeof un);
    un.sun_family = AF_UNIX;
    // A path ends with its NUL; an abstract name starts with one and has none.
    memcpy(un.sun_path + (abstract ? 1 : 0), path, n);
    memset(out, 0, sizeof *out);
    memcpy(&out->ss, &un, sizeof un);
    out->len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n + 1);
    return PC_OK;
}

// Split "host:port" / "[v6]:port" into host (may be "") and port.
static int pc__p_split_host_port(const char *address, char *host, size_t cap,
                                 const char **out_port, int *out_v6) {
    const char *colon = strrchr(address, ':'), *h = address, *end = colon;
    *out_v6 = address[0] == '[';
    if (!colon) return pc__error(PC_VALUE, "TCP address \"%s\" has no :port", address);
    if (*out_v6) {
        h = address + 1;
        end = strchr(h, ']');
        if (!end || end + 1 != colon)
            return pc__error(PC_VALUE, "bad IPv6 address \"%s\" (want [addr]:port)", address);
    }
    if ((size_t)(end - h) >= cap) return pc__error(PC_VALUE, "host name too long");
    memcpy(host, h, (size_t)(end - h));
    host[end - h] = '\0';
    *out_port = colon + 1;
    return PC_OK;
}

// Check a port and write it back canonical. getaddrinfo would take any
// number and keep its low 16 bits (99999 is port 34463); Python refuses
// ports past 65535 with OverflowError.
static int pc__p_tcp_port(const char *port, char *out, size_t cap) {
    unsigned long value = 0;
    size_t n = strlen(port);
    const char *more = n > 20 ? "..." : "";
    if (n == 0) return pc__error(PC_VALUE, "TCP address has an empty port");
    for (const char *p = port; *p; p++) {
        if (*p < '0' || *p > '9')
            return pc__error(PC_VALUE, "TCP port \"%.20s%s\" is not a number", port, more);
        value = value * 10 + (unsigned long)(*p - '0');
        if (value > 65535)
            return pc__error(PC_VALUE, "TCP port %.20s%s out of range: port must be 0-65535",
                             port, more);
    }
    snprintf(out, cap, "%lu", value);
    return PC_OK;
}

// Resolve a TCP address: IPv4 unless the host is bracketed (Python's
// AF_INET listener takes IPv4 only, so "localhost" must mean 127.0.0.1).
static int pc__p_tcp_resolve(const char *address, int passive, struct addrinfo **out) {
    char host[256], port[8];
    const char *port_text = NULL;
    int v6 = 0, rc = pc__p_split_host_port(address, host, sizeof host, &port_text, &v6);
    if (!rc) rc = pc__p_tcp_port(port_text, port, sizeof port);
    if (rc) return rc;
    return pc__p_os_getaddrinfo(host[0] ? host : NULL, port, v6 ? AF_INET6 : AF_INET, passive,
                                out, address);
}

static void pc__p_format_sockaddr(const struct sockaddr_storage *ss, socklen_t len, char *out,
                                  size_t cap) {
    char ip[INET6_ADDRSTRLEN] = "?";
    size_t off = offsetof(struct sockaddr_un, sun_path);
    if (ss->ss_family == AF_INET) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)(const void *)ss;
        inet_ntop(AF_INET, &in->sin_addr, ip, sizeof ip);
        snprintf(out, cap, "%s:%u", ip, (unsigned)ntohs(in->sin_port));
    } else if (ss->ss_family == AF_INET6) {
        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)(const void *)ss;
        inet_ntop(AF_INET6, &in6->sin6_addr, ip, sizeof ip);
        snprintf(out, cap, "[%s]:%u", ip, (unsigned)ntohs(in6->sin6_port));
    } else {
        const struct sockaddr_un *un = (const struct sockaddr_un *)(const void *)ss;
        size_t n = len > off ? (size_t)len - off : 0;
        if (n > 0 && un->sun_path[0] == '\0')      // abstract: "@" + name
            snprintf(out, cap, "@%.*s", (int)(n - 1), un->sun_path + 1);
        else
            snprintf(out, cap, "%.*s", (int)strnlen(un->sun_path, n), un->sun_path);
    }
}

// >>B.listener
// A connection inside the accept handshake, on its accepting thread's
// stack, linked into the listener so that close can cut it short.
typedef struct pc__p_handshake {
    pc__link link;              // on the listener's handshakes
    int fd;
    pid_t pid;                  // only this process may shut the socket down
    int cut;                    // close shut it down: the accept fails
} pc__p_handshake;

struct pc_listener {
    pc_lock mu;                 // guards fd, closed, accepting, last, handshakes
    int fd;
    int closed;
    int accepting;              // threads inside accept(): they own the close
    pc_family family;
    pid_t owner;                // only this process removes the socket file
    int has_last;
    char address[128];
    char last[128];
    char dir[96];               // private directory of a default address ("": none)
    unsigned char *authkey;     // NULL: no handshake
    size_t authkey_size;
    double handshake_timeout;   // seconds, INFINITY: none
    pc__list handshakes;
};

#define PC__HANDSHAKE_TIMEOUT 5.0   // pc_listener_desc.handshake_timeout 0

static uint32_t pc__p_listener_counter;

// Python's arbitrary_address: for a socket file, a name in a fresh private
// directory (no other user can connect, whatever the umask; Python's
// mkdtemp(prefix='pymp-')); an unused abstract name; any TCP port.
static int pc__p_listener_fresh_address(pc_listener *l, char *out, size_t cap) {
    uint32_t r = 0;
    if (l->family == PC_AF_INET) {
        snprintf(out, cap, "127.0.0.1:0");
    } else if (l->family == PC_AF_ABSTRACT) {
        pc__p_random_bytes(&r, sizeof r);
        unsigned n = __atomic_add_fetch(&pc__p_listener_counter, 1, __ATOMIC_RELAXED);
        snprintf(out, cap, "@pyconc-%ld-%u-%08x", (long)pc__p_os_getpid(), n, (unsigned)r);
    } else {
        int rc = pc__p_os_private_dir(l->dir, sizeof l->dir);
        if (rc) {
            l->dir[0] = '\0';
            return rc;
        }
        snprintf(out, cap, "%s/listener.sock", l->dir);
    }
    return PC_OK;
}

static int pc__p_listener_bind_unix(pc_listener *l, const char *address) {
    pc__p_sockaddr sa;
    int rc = pc__p_unix_sockaddr(address, l->family == PC_AF_ABSTRACT, &sa);
    if (rc) return rc;
    if ((l->fd = pc__p_os_socket(AF_UNIX)) < 0) return pc__os_error("socket");
    if (pc__p_os_bind(l->fd, (struct sockaddr *)&sa.ss, sa.len) < 0)
        return pc__os_error(address);
    return PC_OK;
}

static int pc__p_listener_bind_tcp(pc_listener *l, const char *address) {
    struct addrinfo *ai;
    int rc = pc__p_tcp_resolve(address, 1, &ai);
    if (rc) return rc;
    if ((l->fd = pc__p_os_socket(ai->ai_family)) < 0) rc = pc__os_error("socket");
    else if (pc__p_os_reuseaddr(l->fd) < 0)
        rc = pc__os_error("setsockopt SO_REUSEADDR");
    else if (pc__p_os_bind(l->fd, ai->ai_addr, ai->ai_addrlen) < 0)
        rc = pc__os_error(address);
    pc__p_os_freeaddrinfo(ai);
    return rc;
}

static int pc__p_listener_open(pc_listener *l, const char *address, int backlog) {
    int rc = l->family == PC_AF_INET ? pc__p_listener_bind_tcp(l, address)
                                     : pc__p_listener_bind_unix(l, address);
    if (rc) return rc;
    if (pc__p_os_listen(l->fd, backlog) < 0) {
        rc = pc__os_error("listen");
        if (l->family == PC_AF_UNIX) pc__p_os_unlink(address);
        return rc;
    }
    pc__p_sockaddr sa;
    if (pc__p_os_sockname(l->fd, &sa.ss, &sa.len) < 0) {
        snprintf(l->address, sizeof l->address, "%s", address);
        return PC_OK;
    }
    pc__p_format_sockaddr(&sa.ss, sa.len, l->address, sizeof l->address);
    return PC_OK;
}

// 0: the default; negative: none (the library's rule for every timeout).
static int pc__p_listener_set_timeout(pc_listener *l, double timeout) {
    if (timeout != timeout) return pc__error(PC_VALUE, "handshake_timeout is NaN");
    if (timeout == 0) timeout = PC__HANDSHAKE_TIMEOUT;
    else if (timeout < 0) timeout = INFINITY;
    l->handshake_timeout = timeout;
    return PC_OK;
}

static int pc__p_listener_setup(pc_listener *l, const pc_listener_desc *d) {
    char fresh[128];
    const char *address = d->address;
    l->family = d->family ? d->family : (address ? pc__p_family_of(address) : PC_AF_UNIX);
    if ((int)l->family < PC_AF_UNIX || (int)l->family > PC_AF_INET)
        return pc__error(PC_VALUE, "unknown address family %d", (int)d->family);
    if (d->authkey || d->authkey_size) {
        if (!d->authkey) return pc__error(PC_VALUE, "authkey is NULL");
        if (!(l->authkey = (unsigned char *)pc__malloc(d->authkey_size))) return PC_NOMEM;
        if (d->authkey_size) memcpy(l->authkey, d->authkey, d->authkey_size);
        l->authkey_size = d->authkey_size;
    }
    if (d->backlog < 0) return pc__error(PC_VALUE, "backlog is negative");
    int rc = pc__p_listener_set_timeout(l, d->handshake_timeout);
    if (!rc && !address) rc = pc__p_listener_fresh_address(l, fresh, sizeof fresh);
    if (!address) address = fresh;
    return rc ? rc : pc__p_listener_open(l, address, d->backlog ? d->backlog : 1);
}

PYCONC_API pc_listener *pc_listener_new(const pc_listener_desc *desc) {
    pc_listener_desc zero;
    memset(&zero, 0, sizeof zero);
    pc_listener *l = (pc_listener *)pc__calloc(1, sizeof *l);
    if (!l) return NULL;
    l->fd = -1;
    l->owner = pc__p_os_getpid();
    int rc = pc__p_listener_setup(l, desc ? desc : &zero);
    if (rc) {
        int e = errno;
        pc__p_os_close(l->fd);
        if (l->dir[0]) pc__p_os_rmdir(l->dir);
        errno = e;
        pc__free(l->authkey);
        pc__free(l);
        return NULL;
    }
    return l;
}

static int pc__p_listener_closed_error(void) {
    errno = EBADF;
    return pc__error(PC_OS, "listener is closed");
}

// Record the peer of a new connection and, when a handshake follows, enter
// it in the listener's list. Returns 0 when the listener closed meanwhile.
static int pc__p_handshake_enter(pc_listener *l, pc__p_handshake *h, int fd,
                                 const pc__p_sockaddr *peer) {
    h->link.prev = h->link.next = NULL;
    pc_lock_acquire(&l->mu, PC_FOREVER);
    int open = !l->closed;
    if (open) {
        pc__p_format_sockaddr(&peer->ss, peer->len, l->last, sizeof l->last);
        l->has_last = 1;
    }
    if (open && l->authkey) {
        h->fd = fd;
        h->pid = pc__p_os_getpid();
        h->cut = 0;
        pc__list_push_front(&l->handshakes, &h->link);
    }
    pc_lock_release(&l->mu);
    return open;
}

// Leave the list (before the descriptor can be closed and its number
// reused); returns whether close cut the handshake.
static int pc__p_handshake_leave(pc_listener *l, pc__p_handshake *h) {
    pc_lock_acquire(&l->mu, PC_FOREVER);
    if (pc__list_is_linked(&l->handshakes, &h->link)) pc__list_remove(&l->handshakes, &h->link);
    pc_lock_release(&l->mu);
    return h->cut;
}

// Shut down the sockets of this process's handshakes (under l->mu): their
// reads see end of file at once, so the accepts inside them return.
static void pc__p_handshake_cut_all(pc_listener *l) {
    pid_t self = pc__p_os_getpid();
    for (pc__link *x = l->handshakes.head; x; x = x->next) {
        pc__p_handshake *h = PC__CONTAINER(x, pc__p_handshake, link);
        if (h->pid != self || h->cut) continue;
        pc__p_os_shutdown(h->fd);
        h->cut = 1;
    }
}

// The handshake of an accepted connection, Listener's way round (challenge
// the client, then answer its challenge), all by one deadline.
static int pc__p_listener_handshake(pc_listener *l, pc_connection *c, pc__p_handshake *h) {
    double deadline = pc_monotonic() + l->handshake_timeout;   // INFINITY stays so
    int rc = pc__p_auth_conn_run(c, l->authkey, l->authkey_size, deadline,
                                 pc__p_auth_challenge, pc__p_auth_answer);
    if (pc__p_handshake_leave(l, h)) return pc__p_listener_closed_error();
    if (rc == PC_TIMEOUT)
        return pc__error(PC_AUTH, "the client did not finish the handshake within "
                         "handshake_timeout (%g s)", l->handshake_timeout);
    return rc;
}

// Record the peer and finish one accepted connection (handshake).
static int pc__p_listener_welcome(pc_listener *l, int fd, const pc__p_sockaddr *peer,
                                  pc_connection **out_conn) {
    pc__p_handshake h;
    pc__p_os_tcp_nodelay(fd, peer->ss.ss_family);
    pc_connection *c = pc__p_conn_new(fd, 1, 1, 1);
    if (!c) {
        pc__p_os_close(fd);
        return PC_NOMEM;
    }
    int rc = pc__p_handshake_enter(l, &h, fd, peer) ? PC_OK : pc__p_listener_closed_error();
    if (!rc && l->authkey) rc = pc__p_listener_handshake(l, c, &h);
    if (rc) {
        pc_connection_free(c);
        return rc;
    }
    *out_conn = c;
    return PC_OK;
}

PYCONC_API int pc_listener_accept(pc_listener *l, pc_connection **out_conn) {
    pc__p_sockaddr peer;
    if (!l || !out_conn) return pc__error(PC_VALUE, "accept: NULL argument");
    *out_conn = NULL;
    pc_lock_acquire(&l->mu, PC_FOREVER);
    if (l->closed) {
        pc_lock_release(&l->mu);
        return pc__p_listener_closed_error();
    }
    l->accepting++;
    int fd = l->fd;
    pc_lock_release(&l->mu);
    int s = pc__p_os_accept(fd, &peer.ss, &peer.len), e = errno;
    pc_lock_acquire(&l->mu, PC_FOREVER);
    int closed = l->closed;
    if (--l->accepting == 0 && closed) {     // the last one out closes
        pc__p_os_close(l->fd);
        l->fd = -1;
    }
    pc_lock_release(&l->mu);
    if (s >= 0 && closed) pc__p_os_close(s);
    if (closed) return pc__p_listener_closed_error();
    if (s < 0) {
        errno = e;
        return pc__os_error("accept");
    }
    return pc__p_listener_welcome(l, s, &peer, out_conn);
}

PYCONC_API void pc_listener_close(pc_listener *l) {
    if (!l) return;
    pc_lock_acquire(&l->mu, PC_FOREVER);
    int was_closed = l->closed;
    l->closed = 1;
    if (!was_closed) pc__p_handshake_cut_all(l);
    if (!was_closed && l->fd >= 0) {
        if (l->accepting > 0 && pc__p_os_getpid() == l->owner) {
            // shutdown() wakes the threads blocked in accept() (Linux); the
            // last to leave closes, so the number is never reused under
            // them. Only then: shutdown acts on the socket that every
            // process shares, and a forked child closing its copy must not
            // stop the parent's listener.
            pc__p_os_shutdown(l->fd);
        } else {
            pc__p_os_close(l->fd);
            l->fd = -1;
        }
    }
    pc_lock_release(&l->mu);
    if (was_closed || pc__p_os_getpid() != l->owner) return;
    if (l->family == PC_AF_UNIX) pc__p_os_unlink(l->address);
    if (l->dir[0]) pc__p_os_rmdir(l->dir);
}

PYCONC_API void pc_listener_free(pc_listener *l) {
    if (!l) return;
    pc_listener_close(l);
    pc__free(l->authkey);
    pc__free(l);
}

PYCONC_API const char *pc_listener_address(const pc_listener *l) { return l ? l->address : ""; }
PYCONC_API pc_family pc_listener_family(const pc_listener *l) {
    return l ? l->family : PC_AF_DEFAULT;
}
PYCONC_API const char *pc_listener_last_accepted(const pc_listener *l) {
    return l && l->has_last ? l->last : NULL;
}
PYCONC_API int pc_listener_fileno(const pc_listener *l) {
    return l && !l->closed ? l->fd : -1;
}

// >>B.client
static int pc__p_client_tcp(const char *address, int *out_fd) {
    struct addrinfo *ai, *a;
    int rc = pc__p_tcp_resolve(address, 0, &ai), fd = -1;
    if (rc) return rc;
    for (a = ai; a; a = a->ai_next) {
        if ((fd = pc__p_os_socket(a->ai_family)) < 0) continue;
        if (pc__p_os_connect(fd, a->ai_addr, a->ai_addrlen) == 0) break;
        pc__p_os_close(fd);
        fd = -1;
    }
    if (fd < 0) rc = pc__os_error(address);
    else pc__p_os_tcp_nodelay(fd, ai->ai_family);
    pc__p_os_freeaddrinfo(ai);
    *out_fd = fd;
    return rc;
}

static int pc__p_client_unix(const char *address, int abstract, int *out_fd) {
    pc__p_sockaddr sa;
    int rc = pc__p_unix_sockaddr(address, abstract, &sa);
    if (rc) return rc;
    int fd = pc__p_os_socket(AF_UNIX);
    if (fd < 0) return pc__os_error("socket");
    if (pc__p_os_connect(fd, (struct sockaddr *)&sa.ss, sa.len) < 0) {
        rc = pc__os_error(address);
        pc__p_os_close(fd);
        return rc;
    }
    *out_fd = fd;
    return PC_OK;
}

PYCONC_API int pc_client(const pc_client_desc *desc, pc_connection **out_conn) {
    int fd = -1, rc;
    if (!desc || !desc->address || !out_conn)
        return pc__error(PC_VALUE, "pc_client: NULL desc, address or out pointer");
    *out_conn = NULL;
    if (!desc->authkey && desc->authkey_size) return pc__error(PC_VALUE, "authkey is NULL");
    pc_family family = desc->family ? desc->family : pc__p_family_of(desc->address);
    if (family == PC_AF_INET) rc = pc__p_client_tcp(desc->address, &fd);
    else if (family == PC_AF_UNIX || family == PC_AF_ABSTRACT)
        rc = pc__p_client_unix(desc->address, family == PC_AF_ABSTRACT, &fd);
    else rc = pc__error(PC_VALUE, "unknown address family %d", (int)family);
    if (rc) return rc;
    pc_connection *c = pc__p_conn_new(fd, 1, 1, 1);
    if (!c) {
        pc__p_os_close(fd);
        return PC_NOMEM;
    }
    if (desc->authkey) {
        rc = pc__p_auth_conn_run(c, desc->authkey, desc->authkey_size, INFINITY,
                                 pc__p_auth_answer, pc__p_auth_challenge);
        if (rc) {
            pc_connection_free(c);
            return rc;
        }
    }
    *out_conn = c;
    return PC_OK;
}

// >>B.args
#define PC__ARGS_MAX_FDS 200

// Shared objects (part D and later) travel in packs through this table,
// which their part fills in (pc__p_handles_install) before any such object
// exists or a pack can be decoded: a pack only knows them by type.
typedef struct pc__p_handle_ops {
    // Write obj's wire form to b and duplicates of its descriptors to
    // fds[*nfds..max), moving *nfds on. keep (may be NULL) gets a token
    // that keeps the object's memory alive until dropped (for a child
    // not started yet).
    int (*encode)(pc_arg_type type, void *obj, uint64_t id, pc__p_buf *b, int *fds,
                  size_t *nfds, size_t max, void **keep);
    // Rebuild one from b; each descriptor taken is set to -1 in fds. self:
    // the caller is a new holder (a received message); 0: a child whose
    // parent already counted it (pc__p_handle_ops.watch). *out_id: the new
    // handle's id, so that the pack can be sent on. NULL on failure.
    void *(*decode)(pc_arg_type type, pc__p_buf *b, int *fds, size_t nfds, int self,
                    uint64_t *out_id);
    void (*release)(pc_arg_type type, void *obj);       // a received pack's own
    void (*watch)(void *keep, long pid);    // pid holds it now (a child started)
    void (*drop)(void *keep);
} pc__p_handle_ops;
static const pc__p_handle_ops *pc__p_handles;

static int pc__p_arg_is_handle(pc_arg_type type) { return type >= PC_ARG_MP_LOCK; }

typedef struct pc__p_arg {
    pc_arg_type type;
    int64_t i;
    double d;
    unsigned char *data;        // bytes and strings (NUL-terminated), owned
    size_t size;
    pc_connection *conn;        // borrowed in the parent, owned in a child
    void *obj;                  // a shared object: borrowed, or a child's own
    uint64_t obj_id;            // which object obj was when added
} pc__p_arg;

// Tokens of the shared objects a child to be started was given
// (pc__p_handle_ops.encode's keep).
typedef struct pc__p_keep {
    void **items;
    size_t len, cap;
} pc__p_keep;

// Most packs (a call's arguments, a manager's request or reply) hold a few
// items: they live inside the pack, so making one is one allocation.
#define PC__P_ARGS_INLINE 6
struct pc_args {
    pc__p_arg *items;           // inline, or on the heap once they outgrow it
    size_t len, cap;
    int owns_connections;       // a pack decoded in a child
    pc__p_arg inline_items[PC__P_ARGS_INLINE];
};

PYCONC_API pc_args *pc_args_new(void) {
    pc_args *a = (pc_args *)pc__malloc(sizeof(pc_args));
    if (!a) return NULL;
    a->items = a->inline_items;
    a->len = 0;
    a->cap = PC__P_ARGS_INLINE;
    a->owns_connections = 0;
    return a;
}

PYCONC_API void pc_args_free(pc_args *a) {
    if (!a) return;
    for (size_t i = 0; i < a->len; i++) {
        pc__p_arg *it = &a->items[i];
        pc__free(it->data);
        if (a->owns_connections && it->conn) pc_connection_free(it->conn);
        if (a->owns_connections && it->obj) pc__p_handles->release(it->type, it->obj);
    }
    if (a->items != a->inline_items) pc__free(a->items);
    pc__free(a);
}

// Room for one more item: the inline ones move to the heap when full.
static int pc__p_args_room(pc_args *a) {
    if (a->len < a->cap) return PC_OK;
    if (a->items != a->inline_items) return pc__grow(&a->items, &a->cap, a->len + 1,
                                                     sizeof *a->items, 0);
    pc__p_arg *heap = NULL;
    size_t cap = 0;
    if (pc__grow(&heap, &cap, a->cap * 2, sizeof *heap, 0)) return pc_last_error_code();
    memcpy(heap, a->inline_items, a->len * sizeof *heap);
    a->items = heap;
    a->cap = cap;
    return PC_OK;
}

static pc__p_arg *pc__p_args_push(pc_args *a, pc_arg_type type) {
    if (!a) { pc__error(PC_VALUE, "argument pack is NULL"); return NULL; }
    if (pc__p_args_room(a)) return NULL;
    pc__p_arg *it = &a->items[a->len++];
    memset(it, 0, sizeof *it);
    it->type = type;
    return it;
}

PYCONC_API int pc_args_add_int(pc_args *a, int64_t value) {
    pc__p_arg *it = pc__p_args_push(a, PC_ARG_INT);
    if (!it) return pc_last_error_code();
    it->i = value;
    return PC_OK;
}

PYCONC_API int pc_args_add_double(pc_args *a, double value) {
    pc__p_arg *it = pc__p_args_push(a, PC_ARG_DOUBLE);
    if (!it) return pc_last_error_code();
    it->d = value;
    return PC_OK;
}

// Copy size bytes plus a NUL (so strings read back as C strings).
static int pc__p_args_add_data(pc_args *a, pc_arg_type type, const void *data, size_t size) {
    if (size && !data) return pc__error(PC_VALUE, "argument data is NULL");
    if (size == (size_t)-1) return pc__error(PC_VALUE, "argument too large");
    unsigned char *copy = (unsigned char *)pc__malloc(size + 1);
    if (!copy) return PC_NOMEM;
    if (size) memcpy(copy, data, size);
    copy[size] = '\0';
    pc__p_arg *it = pc__p_args_push(a, type);
    if (!it) { pc__free(copy); return pc_last_error_code(); }
    it->data = copy;
    it->size = size;
    return PC_OK;
}

PYCONC_API int pc_args_add_bytes(pc_args *a, const void *data, size_t size) {
    return pc__p_args_add_data(a, PC_ARG_BYTES, data, size);
}

PYCONC_API int pc_args_add_str(pc_args *a, const char *s) {
    if (!s) return pc__error(PC_VALUE, "string argument is NULL");
    return pc__p_args_add_data(a, PC_ARG_STR, s, strlen(s));
}

PYCONC_API int pc_args_add_connection(pc_args *a, pc_connection *c) {
    if (!c || pc_connection_closed(c)) return pc__error(PC_VALUE, "connection is NULL or closed");
    pc__p_arg *it = pc__p_args_push(a, PC_ARG_CONNECTION);
    if (!it) return pc_last_error_code();
    it->conn = c;
    return PC_OK;
}

PYCONC_API size_t pc_args_len(const pc_args *a) { return a ? a->len : 0; }

PYCONC_API pc_arg_type pc_args_type(const pc_args *a, size_t i) {
    return a && i < a->len ? a->items[i].type : PC_ARG_NONE;
}

static const pc__p_arg *pc__p_args_item(const pc_args *a, size_t i, pc_arg_type type,
                                        const void *out) {
    if (!a || !out) { pc__error(PC_VALUE, "argument pack or output is NULL"); return NULL; }
    if (i >= a->len) {
        pc__error(PC_VALUE, "argument index %zu out of range (%zu items)", i, a->len);
        return NULL;
    }
    if (a->items[i].type != type) {
        pc__error(PC_VALUE, "argument %zu is of type %d, not %d", i, (int)a->items[i].type,
                  (int)type);
        return NULL;
    }
    return &a->items[i];
}

PYCONC_API int pc_args_get_int(const pc_args *a, size_t i, int64_t *out_value) {
    const pc__p_arg *it = pc__p_args_item(a, i, PC_ARG_INT, out_value);
    if (!it) return PC_VALUE;
    *out_value = it->i;
    return PC_OK;
}

PYCONC_API int pc_args_get_double(const pc_args *a, size_t i, double *out_value) {
    const pc__p_arg *it = pc__p_args_item(a, i, PC_ARG_DOUBLE, out_value);
    if (!it) return PC_VALUE;
    *out_value = it->d;
    return PC_OK;
}

PYCONC_API int pc_args_get_bytes(const pc_args *a, size_t i, const void **out_data,
                                 size_t *out_size) {
    const pc__p_arg *it = pc__p_args_item(a, i, PC_ARG_BYTES, out_data);
    if (!it) return PC_VALUE;
    *out_data = it->data;
    if (out_size) *out_size = it->size;
    return PC_OK;
}

PYCONC_API int pc_args_get_str(const pc_args *a, size_t i, const char **out_s) {
    const pc__p_arg *it = pc__p_args_item(a, i, PC_ARG_STR, out_s);
    if (!it) return PC_VALUE;
    *out_s = (const char *)it->data;
    return PC_OK;
}

PYCONC_API int pc_args_get_connection(const pc_args *a, size_t i, pc_connection **out_c) {
    const pc__p_arg *it = pc__p_args_item(a, i, PC_ARG_CONNECTION, out_c);
    if (!it) return PC_VALUE;
    // A constant status, not pc__error's: a caller's optimiser then sees
    // *out_c set whenever PC_OK comes back (-O3 -Werror=maybe-uninitialized).
    if (!it->conn) {
        pc__error(PC_VALUE, "connection %zu was taken", i);
        return PC_VALUE;
    }
    *out_c = it->conn;
    return PC_OK;
}

PYCONC_API int pc_args_take_connection(pc_args *a, size_t i, pc_connection **out_c) {
    int rc = pc_args_get_connection(a, i, out_c);
    if (rc) return rc;
    if (!a->owns_connections)
        return pc__error(PC_VALUE, "only a received pack gives connections away");
    a->items[i].conn = NULL;
    return PC_OK;
}

// A shared object of the given type, known by id (so that encoding can
// tell a handle freed since from a live one).
static int pc__p_args_add_handle(pc_args *a, pc_arg_type type, void *obj, uint64_t id) {
    if (!obj) return pc__error(PC_VALUE, "shared object is NULL");
    pc__p_arg *it = pc__p_args_push(a, type);
    if (!it) return pc_last_error_code();
    it->obj = obj;
    it->obj_id = id;
    return PC_OK;
}

static int pc__p_args_get_handle(const pc_args *a, size_t i, pc_arg_type type, void **out) {
    const pc__p_arg *it = pc__p_args_item(a, i, type, out);
    if (!it) return PC_VALUE;
    *out = it->obj;
    return PC_OK;
}

// Wire form: u32 count, then per item u8 type and its payload; a
// connection is an index into the descriptors that travel beside the
// bytes plus its readable/writable flags. New kinds (shared locks, queues,
// memory) add a type and travel the same way: bytes plus descriptors.
// The descriptors are duplicates (close-on-exec) owned by the caller.
static int pc__p_args_encode(const pc_args *a, pc__p_buf *b, int *fds, size_t *nfds,
                             pc__p_keep *keep) {
    size_t n = 0;
    pc__p_buf_u32(b, (uint32_t)a->len);
    for (size_t i = 0; i < a->len; i++) {
        const pc__p_arg *it = &a->items[i];
        pc__p_buf_u8(b, (unsigned)it->type);
        switch (it->type) {
        case PC_ARG_INT: pc__p_buf_u64(b, (uint64_t)it->i); break;
        case PC_ARG_DOUBLE: pc__p_buf_put(b, &it->d, sizeof it->d); break;
        case PC_ARG_BYTES:
        case PC_ARG_STR: pc__p_buf_blob(b, it->data, it->size); break;
        case PC_ARG_CONNECTION: {
            int fd = pc_connection_fileno(it->conn);
            if (fd < 0) return pc__error(PC_VALUE, "argument %zu: connection is closed", i);
            // Bytes it read ahead (or a message it kept) would stay behind:
            // refused rather than lost.
            if (pc__p_conn_buffered(it->conn) || it->conn->has_pending)
                return pc__error(PC_VALUE, "argument %zu: the connection holds %zu bytes "
                                           "already received; read them before handing it "
                                           "on", i, pc__p_conn_buffered(it->conn));
            if (n == PC__ARGS_MAX_FDS)
                return pc__error(PC_VALUE, "more than %d connections in one pack",
                                 PC__ARGS_MAX_FDS);
            fds[n] = pc__p_os_dup_cloexec(fd, 3);
            if (fds[n] < 0) return pc__os_error("dup connection");
            pc__p_buf_u32(b, (uint32_t)n++);
            pc__p_buf_u8(b, (unsigned)pc_connection_readable(it->conn));
            pc__p_buf_u8(b, (unsigned)pc_connection_writable(it->conn));
            *nfds = n;
            break;
        }
        default: {
            if (!pc__p_arg_is_handle(it->type) || !pc__p_handles)
                return pc__error(PC_VALUE, "argument %zu has no type", i);
            void *token = NULL;
            *nfds = n;
            if (keep && pc__grow(&keep->items, &keep->cap, keep->len + 1, sizeof(void *), 0))
                return PC_NOMEM;
            int rc = pc__p_handles->encode(it->type, it->obj, it->obj_id, b, fds, nfds,
                                           PC__ARGS_MAX_FDS, keep ? &token : NULL);
            n = *nfds;
            if (rc) return rc;
            if (token) keep->items[keep->len++] = token;
            break;
        }
        }
    }
    *nfds = n;
    return b->bad ? PC_NOMEM : PC_OK;
}

// Rebuild a pack in the child, or from a message (self: see
// pc__p_handle_ops.decode). Each descriptor used is set to -1 in fds (the
// pack's connection or shared object owns it now).
static pc_args *pc__p_args_decode(pc__p_buf *b, int *fds, size_t nfds, int self) {
    pc_args *a = pc_args_new();
    if (!a) return NULL;
    a->owns_connections = 1;
    uint32_t count = pc__p_buf_get_u32(b);
    for (uint32_t i = 0; i < count && !b->bad; i++) {
        unsigned type = pc__p_buf_get_u8(b);
        size_t n;
        const void *p;
        int rc = PC_OK;
        if (type == PC_ARG_INT) {
            rc = pc_args_add_int(a, (int64_t)pc__p_buf_get_u64(b));
        } else if (type == PC_ARG_DOUBLE) {
            double d = 0;
            if ((p = pc__p_buf_take(b, sizeof d))) memcpy(&d, p, sizeof d);
            rc = pc_args_add_double(a, d);
        } else if (type == PC_ARG_BYTES || type == PC_ARG_STR) {
            p = pc__p_buf_get_blob(b, &n);
            rc = p ? pc__p_args_add_data(a, (pc_arg_type)type, p, n) : PC_VALUE;
        } else if (type == PC_ARG_CONNECTION) {
            uint32_t k = pc__p_buf_get_u32(b);
            unsigned r = pc__p_buf_get_u8(b), w = pc__p_buf_get_u8(b);
            pc_connection *c = NULL;
            if (!b->bad && k < nfds && fds[k] >= 0 &&
                (c = pc__p_connection_from_fd(fds[k], (int)r, (int)w)))
                fds[k] = -1;
            pc__p_arg *it = c ? pc__p_args_push(a, PC_ARG_CONNECTION) : NULL;
            if (it) it->conn = c;
            else { if (c) pc_connection_free(c); rc = PC_VALUE; }
        } else if (pc__p_arg_is_handle((pc_arg_type)type) && pc__p_handles) {
            uint64_t id = 0;
            void *obj = pc__p_handles->decode((pc_arg_type)type, b, fds, nfds, self, &id);
            pc__p_arg *it = obj ? pc__p_args_push(a, (pc_arg_type)type) : NULL;
            if (it) {
                it->obj = obj;
                it->obj_id = id;
            } else { if (obj) pc__p_handles->release((pc_arg_type)type, obj); rc = PC_VALUE; }
        } else {
            rc = PC_VALUE;
        }
        if (rc) b->bad = 1;
    }
    if (b->bad) {
        pc_args_free(a);
        pc__error(PC_VALUE, "malformed argument pack");
        return NULL;
    }
    return a;
}

// >>B.args-message
// A pack as a connection message: PC__ARGS_MAGIC, then the pack's wire
// form; its descriptors ride on the frame (pc__p_frame_send_fds).
#define PC__ARGS_MAGIC 0x50434131u      // "PCA1"

// Connections and shared objects travel as descriptors.
static int pc__p_args_has_fds(const pc_args *a) {
    for (size_t i = 0; i < a->len; i++)
        if (a->items[i].type == PC_ARG_CONNECTION || pc__p_arg_is_handle(a->items[i].type))
            return 1;
    return 0;
}

static int pc__p_conn_is_unix(const pc_connection *c) {
    return c->is_socket && pc__p_os_socket_family(c->fd) == AF_UNIX;
}

PYCONC_API int pc_connection_send_args(pc_connection *c, const pc_args *args) {
    int fds[PC__ARGS_MAX_FDS];
    size_t nfds = 0;
    pc__p_buf b;
    int rc = pc__p_conn_check(c, 0, 1);
    if (rc) return rc;
    if (!args) return pc__error(PC_VALUE, "send_args: argument pack is NULL");
    if (pc__p_args_has_fds(args) && !pc__p_conn_is_unix(c))
        return pc__error(PC_VALUE, "send_args: a pack holding connections or shared objects "
                                   "needs a unix socket connection (a duplex Pipe, a unix "
                                   "Listener/Client), not a pipe or TCP");
    memset(&b, 0, sizeof b);
    pc__p_buf_u32(&b, PC__ARGS_MAGIC);
    rc = pc__p_args_encode(args, &b, fds, &nfds, NULL);
    if (!rc) rc = pc__p_frame_send_fds(c->fd, c->is_socket, b.p, b.len, fds, nfds);
    for (size_t i = 0; i < nfds; i++) pc__p_os_close(fds[i]);
    pc__free(b.p);
    return rc;
}

// Decode a message into a pack, leaving the message to the caller;
// descriptors it does not use are closed.
static int pc__p_args_from_bytes(const void *msg, size_t size, int *fds, size_t nfds,
                                 pc_args **out_args) {
    pc__p_buf b;
    memset(&b, 0, sizeof b);
    b.p = (unsigned char *)(uintptr_t)msg;      // only read
    b.len = size;
    pc_args *a = NULL;
    if (pc__p_buf_get_u32(&b) == PC__ARGS_MAGIC && !b.bad)
        a = pc__p_args_decode(&b, fds, nfds, 1);
    if (a && b.pos != b.len) {          // trailing bytes: not one of ours
        pc_args_free(a);
        a = NULL;
    }
    for (size_t i = 0; i < nfds; i++) pc__p_os_close(fds[i]);  // used ones are -1
    if (!a) return pc__error(PC_VALUE, "recv_args: malformed argument pack (%zu bytes)", size);
    *out_args = a;
    return PC_OK;
}

// Decode a received message into a pack (the message is freed).
static int pc__p_args_from_message(void *msg, size_t size, int *fds, size_t nfds,
                                   pc_args **out_args) {
    int rc = pc__p_args_from_bytes(msg, size, fds, nfds, out_args);
    pc__free(msg);
    return rc;
}

PYCONC_API int pc_connection_recv_args(pc_connection *c, pc_args **out_args) {
    int fds[PC__ARGS_MAX_FDS];
    size_t nfds = PC__ARGS_MAX_FDS, size = 0;
    void *msg = NULL;
    int rc = pc__p_conn_check(c, 1, 0);
    if (rc) return rc;
    if (!out_args) return pc__error(PC_VALUE, "recv_args: NULL out pointer");
    *out_args = NULL;
    if (c->has_pending) {               // kept by recv_bytes_into: no descriptors
        msg = c->pending;
        size = c->pending_size;
        c->pending = NULL;
        c->has_pending = 0;
        nfds = 0;
    } else {
        uint64_t start = 0;
        size_t hlen = 0;
        rc = pc__p_conn_header(c, &size, &start, &hlen, INFINITY);
        // Anything but a clean end of file leaves the stream out of step;
        // no descriptor has been taken yet (fds holds none to close).
        if (rc == PC_EOF) return rc;
        if (rc) return pc__p_conn_payload_failed(c, rc);
        rc = pc__p_conn_take_fds(c, start, hlen, fds, &nfds);
        if (!rc) rc = pc__p_conn_payload(c, size, &msg, INFINITY);
        if (rc) {
            for (size_t i = 0; i < nfds; i++) pc__p_os_close(fds[i]);
            return pc__p_conn_payload_failed(c, rc);
        }
    }
    return pc__p_args_from_message(msg, size, fds, nfds, out_args);
}

// >>C.funcref
// A function crosses exec as (loaded object, offset from its load base).
// The main program is object 0 of dl_iterate_phdr; others go by path and
// are dlopen()ed in the child if only the parent had them loaded: then
// only by absolute path, and only the very file (device and inode) the
// parent found at that path when it located the function.
typedef struct pc__p_funcref {
    int is_main;
    char path[1024];
    uint64_t offset;
    uint64_t dev, ino;          // the file at path then; ino 0: unknown
} pc__p_funcref;

// Function pointers and data pointers share a representation on every
// platform with dladdr; memcpy keeps ISO C quiet about the conversion.
static uintptr_t pc__p_fn_addr(pc_target_fn fn) {
    uintptr_t a = 0;
    memcpy(&a, &fn, sizeof fn < sizeof a ? sizeof fn : sizeof a);
    return a;
}

static int pc__p_funcref_locate(pc_target_fn fn, pc__p_funcref *out) {
    pc__p_os_code code;
    memset(out, 0, sizeof *out);
    if (!fn) return PC_OK;
    uintptr_t addr = pc__p_fn_addr(fn);
    void *vaddr = (void *)addr;
    int where = pc__p_os_code_at(addr, &code);
    if (where == -1)
        return pc__error(PC_VALUE, "target %p is not inside a loaded object", vaddr);
    if (where) return pc__error(PC_VALUE, "target %p is not code of a loaded object", vaddr);
    out->is_main = code.is_main;
    snprintf(out->path, sizeof out->path, "%s", code.name);
    out->offset = (uint64_t)(addr - code.base);
    // A child that has to load the object checks it is still this file.
    if (!out->is_main && pc__p_os_file_id(out->path, &out->dev, &out->ino) < 0)
        out->dev = out->ino = 0;
    return PC_OK;
}

// Load the object ref names, which the parent had loaded and we have not.
// The message comes from our parent, but a path is only a name: the file
// there may have been replaced since the parent loaded it (its
// constructors would run here), and a relative one depends on our
// directory. A secure-execution process loads nothing on anyone's word.
static int pc__p_funcref_dlopen(const pc__p_funcref *ref) {
    uint64_t dev, ino;
    if (pc__p_os_secure_exec())
        return pc__error(PC_VALUE, "refusing to load %s in a set-user-ID program", ref->path);
    if (ref->path[0] != '/')
        return pc__error(PC_VALUE, "refusing to load %s: not an absolute path", ref->path);
    if (pc__p_os_file_id(ref->path, &dev, &ino) < 0) return pc__os_error(ref->path);
    if (ref->ino == 0 || dev != ref->dev || ino != ref->ino)
        return pc__error(PC_VALUE, "refusing to load %s: not the file the parent loaded "
                                   "(replaced since?)", ref->path);
    return pc__p_os_dlopen(ref->path);
}

// Without a list of loaded objects (dl_iterate_phdr), a function the
// object exports tells where it was loaded: this library's entry point.
#define PC__FUNCREF_ANCHOR "pc_process_bootstrap"

static int pc__p_funcref_resolve(const pc__p_funcref *ref, pc_target_fn *out) {
    uintptr_t addr = 0;
    const char *anchor = PC__FUNCREF_ANCHOR;
    int where = pc__p_os_code_in(ref->path, ref->is_main, ref->offset, anchor, &addr);
    if (where == -1 && !ref->is_main) {         // loaded by the parent later
        int rc = pc__p_funcref_dlopen(ref);
        if (rc) return rc;
        where = pc__p_os_code_in(ref->path, 0, ref->offset, anchor, &addr);
    }
    if (where)
        return pc__error(PC_VALUE, "cannot find target at %s+0x%llx",
                         ref->is_main ? "<main>" : ref->path, (unsigned long long)ref->offset);
    memcpy(out, &addr, sizeof *out < sizeof addr ? sizeof *out : sizeof addr);
    return PC_OK;
}

static void pc__p_funcref_put(pc__p_buf *b, const pc__p_funcref *ref, int has) {
    pc__p_buf_u8(b, (unsigned)has);
    pc__p_buf_u8(b, (unsigned)ref->is_main);
    pc__p_buf_str(b, ref->path);
    pc__p_buf_u64(b, ref->offset);
    pc__p_buf_u64(b, ref->dev);
    pc__p_buf_u64(b, ref->ino);
}

static int pc__p_funcref_get(pc__p_buf *b, pc__p_funcref *ref) {
    memset(ref, 0, sizeof *ref);
    int has = (int)pc__p_buf_get_u8(b);
    ref->is_main = (int)pc__p_buf_get_u8(b);
    size_t n;
    const void *p = pc__p_buf_get_blob(b, &n);
    if (p && n < sizeof ref->path) memcpy(ref->path, p, n);
    else b->bad = 1;
    ref->offset = pc__p_buf_get_u64(b);
    ref->dev = pc__p_buf_get_u64(b);
    ref->ino = pc__p_buf_get_u64(b);
    return has;
}

// >>C.state
#define PC__ENV_FD "PYCONC_PROCESS_FD"
#define PC__BOOT_FD 3           // where a spawned child finds its bootstrap socket
#define PC__SENTINEL_FD 4       // and, without pidfds, its sentinel pipe
#define PC__BOOT_MAGIC 0x50434231u      // "PCB1"
#define PC__FS_MAGIC 0x50434653u        // "PCFS"

enum { PC__P_CHILD = 0, PC__P_CURRENT = 1, PC__P_PARENT = 2 };
enum { PC__ARG_NONE = 0, PC__ARG_BYTES = 1, PC__ARG_POINTER = 2, PC__ARG_PACK = 3 };
enum { PC__S_NONE = 0, PC__S_PIDFD = 1, PC__S_PIPE = 2, PC__S_SERVER = 3 };

struct pc_context { pc_start_method method; };
static const pc_context pc__p_contexts[4] = {
    {PC_START_DEFAULT}, {PC_START_FORK}, {PC_START_SPAWN}, {PC_START_FORKSERVER}
};

struct pc_process {
    uint32_t refs;              // the user's, the children registry's, active_children's
    int kind;
    pc_lock mu;                 // guards reaping, closing, name and authkey changes
    pc_lock reaping;            // held by a join blocked in waitpid (pidfd sentinels)
    char *name;
    int daemon;
    unsigned char authkey[PC_AUTHKEY_MAX];
    size_t authkey_len;
    uint32_t *identity;         // ("Process-1:2" is {1, 2})
    size_t identity_len;
    pc_target_fn target;
    int arg_kind;
    void *arg;                  // the copied bytes, or the caller's pointer
    size_t arg_size;
    pc__p_buf pack;             // the encoded argument pack
    int *pack_fds;              // its descriptors (duplicates, ours until start)
    size_t pack_nfds;
    pc__p_keep pack_keep;       // its shared objects, held until the child is
                                //   started and counted as their holder
    const pc_context *context;
    pc_start_method method;     // resolved at start
    int started, closed;
    int reaped;                 // set under mu with exitcode (pc__p_proc_set_reaped)
    pid_t pid;
    uint64_t pid_start;         // a parent's start time (pc__p_os_pid_start; 0: unknown)
    pid_t owner;                // the process that started it (fork copies the registry)
    uint64_t owner_start;       // and its start time, which the child gets as pid_start
    int sentinel, sentinel_kind;
    int pidfd;                  // forkserver children: for signals, until reaped
    int exitcode;
    pc__link reg;               // on pc__p_proc_children
};

static pc_lock pc__p_proc_lock = PC_LOCK_INIT;  // registry, method, counter, current
static pthread_once_t pc__p_proc_once = PTHREAD_ONCE_INIT;
static pc_process *pc__p_proc_current;
static pc_process *pc__p_proc_parent;
static pc__list pc__p_proc_children = PC__LIST_INIT;   // started, not yet reaped
static uint32_t pc__p_proc_counter;             // children made by this process
static pc_start_method pc__p_proc_method;       // PC_START_DEFAULT: not set
static int pc__p_proc_method_fixed;
static char pc__p_proc_argv0[256] = "pyconc";
static char pc__p_proc_exe[4096];               // pc_set_executable's; "": this program
static pc_lock pc__p_fs_lock = PC_LOCK_INIT;    // starting the forkserver
// pc_set_forkserver_preload's list (under pc__p_fs_lock), as the server
// gets it: u32 count, then per entry a kind and a funcref (a library's
// has offset 0: only its path and file identity count), then on_error.
static pc__p_buf pc__p_fs_preload;
enum { PC__PRE_LIBRARY = 1, PC__PRE_FUNCTION = 2 };
static pid_t pc__p_proc_pid;                    // getpid(), cached; 0: not asked yet
static uint64_t pc__p_proc_start;               // its start time, cached; 0: not read yet

static void pc__p_proc_exit_function(void);
static void pc__p_proc_after_fork_child(void);
static pc_lock pc__p_log_lock = PC_LOCK_INIT;   // the logger's handler (C.log)
static int pc__p_fork_warned;                   // this process warned already (C.log)

static pc_process *pc__p_proc_alloc(int kind, const char *name) {
    pc_process *p = (pc_process *)pc__calloc(1, sizeof *p);
    if (!p) return NULL;
    p->name = pc__strdup(name);
    if (!p->name) { pc__free(p); return NULL; }
    p->refs = 1;
    p->kind = kind;
    p->sentinel = -1;
    p->pidfd = -1;
    p->exitcode = PC_EXITCODE_NONE;
    return p;
}

static void pc__p_proc_init_once(void) {
    pc_process *cur = pc__p_proc_alloc(PC__P_CURRENT, "MainProcess");
    if (!cur) abort();          // no memory before main: nothing sensible to do
    cur->authkey_len = 32;
    // Python's os.urandom(32); without any random source there is no safe key.
    if (pc__p_random_bytes(cur->authkey, 32)) abort();
    pc__p_proc_current = cur;
    // Children are joined in the last phase at exit, after the threads,
    // as Python's util._exit_function runs after threading's shutdown.
    pc__hooks h;
    memset(&h, 0, sizeof h);
    h.after_fork_child = pc__p_proc_after_fork_child;
    h.at_exit = pc__p_proc_exit_function;
    pc__lifecycle_set(PC__PHASE_PROCESSES, &h);
    const char *argv0 = pc__p_os_program_name();
    if (argv0) snprintf(pc__p_proc_argv0, sizeof pc__p_proc_argv0, "%s", argv0);
}

static void pc__p_proc_init(void) { pthread_once(&pc__p_proc_once, pc__p_proc_init_once); }

// This process's pid. getpid() is a system call and start, join and
// exitcode each ask (is the caller the child's owner?), so it is cached;
// the fork hook (pc__p_proc_after_fork_child, run by every fork(), ours
// or the user's) forgets it in the child. Relaxed: every thread that
// fills it writes the same value.
static pid_t pc__p_proc_self(void) {
    pc__p_proc_init();
    pid_t pid = __atomic_load_n(&pc__p_proc_pid, __ATOMIC_RELAXED);
    if (pid == 0) {
        pid = pc__p_os_getpid();
        __atomic_store_n(&pc__p_proc_pid, pid, __ATOMIC_RELAXED);
    }
    return pid;
}

// Whether the parent still lives: its pid may name another process once
// it has ended, which the start time tells apart (unknown: the pid alone).
static int pc__p_proc_parent_alive(const pc_process *par) {
    return par->pid_start ? pc__p_os_pid_alive(par->pid, par->pid_start)
                          : pc__p_os_pid_exists(par->pid);
}

// This process's start time, read once: with its pid, it names this
// process for ever, so a child can tell its parent from a process that
// got the pid after the parent ended. 0 without /proc.
static uint64_t pc__p_proc_self_start(void) {
    uint64_t start = __atomic_load_n(&pc__p_proc_start, __ATOMIC_RELAXED);
    if (start == 0) {
        start = pc__p_os_pid_start(pc__p_proc_self());
        __atomic_store_n(&pc__p_proc_start, start, __ATOMIC_RELAXED);
    }
    return start;
}

// In a child made by fork (ours or the user's) the parent's children are
// not ours, and a lock another thread held is free.
static void pc__p_proc_after_fork_child(void) {
    pc__p_proc_pid = 0;
    pc__p_proc_start = 0;
    pc__p_proc_lock.state = 0;
    pc__p_fs_lock.state = 0;
    pc__p_log_lock.state = 0;
    pc__p_fork_warned = 0;      // once per process: the child is another one
    if (pc__p_proc_current) pc__p_proc_current->mu.state = 0;
}

PYCONC_API pc_process *pc_process_retain(pc_process *p) {
    if (p) __atomic_add_fetch(&p->refs, 1, __ATOMIC_RELAXED);
    return p;
}

// Let go of the shared objects a child was given; pid > 0: it started
// and holds them now.
static void pc__p_proc_drop_keep(pc_process *p, long pid) {
    for (size_t i = 0; i < p->pack_keep.len; i++) {
        if (pid > 0) pc__p_handles->watch(p->pack_keep.items[i], pid);
        pc__p_handles->drop(p->pack_keep.items[i]);
    }
    pc__free(p->pack_keep.items);
    memset(&p->pack_keep, 0, sizeof p->pack_keep);
}

static void pc__p_proc_destroy(pc_process *p) {
    for (size_t i = 0; i < p->pack_nfds; i++) pc__p_os_close(p->pack_fds[i]);
    pc__p_proc_drop_keep(p, 0);
    if (p->sentinel >= 0) pc__p_os_close(p->sentinel);
    pc__p_os_close(p->pidfd);
    if (p->arg_kind == PC__ARG_BYTES) pc__free(p->arg);
    pc__free(p->pack.p);
    pc__free(p->pack_fds);
    pc__free(p->identity);
    pc__free(p->name);
    pc__free(p);
}

static void pc__p_proc_release(pc_process *p) {
    if (__atomic_sub_fetch(&p->refs, 1, __ATOMIC_ACQ_REL) == 0) pc__p_proc_destroy(p);
}

PYCONC_API void pc_process_free(pc_process *p) {
    if (!p || p->kind != PC__P_CHILD) return;   // current and parent belong to the library
    pc__p_proc_release(p);
}

// >>C.log
// The logger: level and fork warning are atomics read on every event; the
// handler and its context change together under pc__p_log_lock, and a
// message goes out after the lock is dropped (a handler may log again).
struct pc_logger { int level; pc_log_fn fn; void *ctx; };
static pc_logger pc__p_logger = {PC_LOG_WARNING, NULL, NULL};
static int pc__p_fork_warning = 1;

static const char *pc__p_log_level_name(int level, char *buf, size_t cap) {
    switch (level) {
    case PC_LOG_SUBDEBUG: return "SUBDEBUG";
    case PC_LOG_DEBUG: return "DEBUG";
    case PC_LOG_INFO: return "INFO";
    case PC_LOG_SUBWARNING: return "SUBWARNING";
    case PC_LOG_WARNING: return "WARNING";
    case PC_LOG_ERROR: return "ERROR";
    default: snprintf(buf, cap, "Level %d", level); return buf;
    }
}

static int pc__p_log_on(int level) {
    return level >= __atomic_load_n(&pc__p_logger.level, __ATOMIC_RELAXED);
}

static void pc__p_log_stderr(int level, const char *msg) {
    char lv[32], who[128] = "MainProcess";
    pc_process *cur = pc__p_proc_current;
    if (cur) {
        pc_lock_acquire(&cur->mu, PC_FOREVER);      // set_name may free the old name
        snprintf(who, sizeof who, "%s", cur->name);
        pc_lock_release(&cur->mu);
    }
    fprintf(stderr, "[%s/%s] %s\n", pc__p_log_level_name(level, lv, sizeof lv), who, msg);
    fflush(stderr);
}

static void pc__p_log(int level, const char *fmt, ...) PC__PRINTF(2, 3);
static void pc__p_log(int level, const char *fmt, ...) {
    char msg[512];
    va_list ap;
    if (!pc__p_log_on(level)) return;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    pc_lock_acquire(&pc__p_log_lock, PC_FOREVER);
    pc_log_fn fn = pc__p_logger.fn;
    void *ctx = pc__p_logger.ctx;
    pc_lock_release(&pc__p_log_lock);
    if (fn) fn(level, msg, ctx);
    else pc__p_log_stderr(level, msg);
}

// The level a spawned child's stderr handler starts at: ours, or with a
// handler of ours (which cannot cross exec) only warnings and worse.
static int pc__p_log_child_level(void) {
    int level = __atomic_load_n(&pc__p_logger.level, __ATOMIC_RELAXED);
    pc_lock_acquire(&pc__p_log_lock, PC_FOREVER);
    if (pc__p_logger.fn && level < PC_LOG_WARNING) level = PC_LOG_WARNING;
    pc_lock_release(&pc__p_log_lock);
    return level;
}

PYCONC_API pc_logger *pc_get_logger(void) { return &pc__p_logger; }

PYCONC_API int pc_logger_set_level(pc_logger *lg, int level) {
    if (lg != &pc__p_logger) return pc__error(PC_VALUE, "not the logger of pc_get_logger");
    if (level < 0 || level > PC_LOG_OFF)
        return pc__error(PC_VALUE, "log level %d is not within 0..%d", level, PC_LOG_OFF);
    __atomic_store_n(&lg->level, level, __ATOMIC_RELAXED);
    return PC_OK;
}

PYCONC_API int pc_logger_level(const pc_logger *lg) {
    return lg ? __atomic_load_n(&lg->level, __ATOMIC_RELAXED) : PC_LOG_OFF;
}

PYCONC_API int pc_logger_set_handler(pc_logger *lg, pc_log_fn fn, void *ctx) {
    if (lg != &pc__p_logger) return pc__error(PC_VALUE, "not the logger of pc_get_logger");
    pc_lock_acquire(&pc__p_log_lock, PC_FOREVER);
    lg->fn = fn;
    lg->ctx = fn ? ctx : NULL;
    pc_lock_release(&pc__p_log_lock);
    return PC_OK;
}

PYCONC_API pc_logger *pc_log_to_stderr(int level) {
    pc_logger_set_handler(&pc__p_logger, NULL, NULL);
    if (pc_logger_set_level(&pc__p_logger, level)) return NULL;
    return &pc__p_logger;
}

PYCONC_API void pc_set_fork_warning(int enabled) {
    __atomic_store_n(&pc__p_fork_warning, enabled != 0, __ATOMIC_RELAXED);
}

// Python 3.12's warning when a multi-threaded process forks: the child
// gets one thread and whatever locks the others held (malloc's, stdio's,
// the program's own) stay locked there. Once per process. The threads
// counted are pyconc.h's registry (Python's threading.active_count, its
// fallback where the kernel is not asked): asking the kernel (reading
// /proc/self/stat) would cost each fork start four system calls, and
// would count a sanitizer's own threads.
static void pc__p_log_fork_with_threads(void) {
    if (!__atomic_load_n(&pc__p_fork_warning, __ATOMIC_RELAXED) || !pc__p_log_on(PC_LOG_WARNING))
        return;
    long n = (long)pc_thread_active_count();
    if (n <= 1 || __atomic_exchange_n(&pc__p_fork_warned, 1, __ATOMIC_RELAXED)) return;
    pc__p_log(PC_LOG_WARNING, "This process (pid=%ld) is multi-threaded (%ld threads), use of "
                              "fork() may lead to deadlocks in the child; use the spawn or "
                              "forkserver start method (pc_set_fork_warning(0) silences this)",
              (long)pc__p_proc_self(), n);
}

// >>C.desc
static int pc__p_proc_check_desc(const pc_process_desc *d) {
    if (d->daemon != PC_DAEMON_INHERIT && d->daemon != PC_DAEMON_YES && d->daemon != PC_DAEMON_NO)
        return pc__error(PC_VALUE, "daemon must be PC_DAEMON_INHERIT, _YES or _NO");
    if (d->args && (d->arg || d->arg_size))
        return pc__error(PC_VALUE, "give either arg/arg_size or args, not both");
    if (d->arg_size && !d->arg)
        return pc__error(PC_VALUE, "arg is NULL but arg_size is %zu", d->arg_size);
    if (d->context && ((int)d->context->method < PC_START_DEFAULT ||
                       (int)d->context->method > PC_START_FORKSERVER))
        return pc__error(PC_VALUE, "context is not one of pc_get_context's");
    return PC_OK;
}

// The child's identity is ours plus the next counter: "Process-1:3".
static int pc__p_proc_set_identity(pc_process *p, char *name_buf, size_t cap) {
    pc_process *cur = pc__p_proc_current;
    pc_lock_acquire(&pc__p_proc_lock, PC_FOREVER);
    uint32_t n = ++pc__p_proc_counter;
    size_t len = cur->identity_len + 1;
    p->identity = (uint32_t *)pc__calloc(len, sizeof(uint32_t));
    if (p->identity) {
        if (cur->identity_len)
            memcpy(p->identity, cur->identity, cur->identity_len * sizeof(uint32_t));
        p->identity[len - 1] = n;
        p->identity_len = len;
    }
    pc_lock_release(&pc__p_proc_lock);
    if (!p->identity) return PC_NOMEM;
    size_t used = (size_t)snprintf(name_buf, cap, "Process-");
    for (size_t i = 0; i < len && used < cap; i++)
        used += (size_t)snprintf(name_buf + used, cap - used, i ? ":%u" : "%u",
                                 (unsigned)p->identity[i]);
    return PC_OK;
}

static int pc__p_proc_copy_arg(pc_process *p, const pc_process_desc *d) {
    if (d->args) {
        p->arg_kind = PC__ARG_PACK;
        p->pack_fds = (int *)pc__calloc(PC__ARGS_MAX_FDS, sizeof(int));
        if (!p->pack_fds) return PC_NOMEM;
        return pc__p_args_encode(d->args, &p->pack, p->pack_fds, &p->pack_nfds, &p->pack_keep);
    }
    if (d->arg_size) {
        p->arg_kind = PC__ARG_BYTES;
        p->arg = pc__malloc(d->arg_size);
        if (!p->arg) return PC_NOMEM;
        memcpy(p->arg, d->arg, d->arg_size);
        p->arg_size = d->arg_size;
    } else if (d->arg) {
        p->arg_kind = PC__ARG_POINTER;
        p->arg = (void *)(uintptr_t)d->arg;
    }
    return PC_OK;
}

PYCONC_API pc_process *pc_process_new(const pc_process_desc *desc) {
    pc_process_desc d;
    char auto_name[256];
    pc__p_proc_init();
    memset(&d, 0, sizeof d);
    if (desc) d = *desc;
    if (pc__p_proc_check_desc(&d)) return NULL;
    pc_process *p = pc__p_proc_alloc(PC__P_CHILD, "");
    if (!p) return NULL;
    pc_process *cur = pc__p_proc_current;
    if (pc__p_proc_set_identity(p, auto_name, sizeof auto_name)) goto fail;
    pc__free(p->name);
    if (!(p->name = pc__strdup(d.name ? d.name : auto_name))) goto fail;
    p->daemon = d.daemon == PC_DAEMON_YES || (d.daemon == PC_DAEMON_INHERIT && cur->daemon);
    pc_lock_acquire(&cur->mu, PC_FOREVER);
    memcpy(p->authkey, cur->authkey, cur->authkey_len);
    p->authkey_len = cur->authkey_len;
    pc_lock_release(&cur->mu);
    p->target = d.target;
    p->context = d.context;
    if (pc__p_proc_copy_arg(p, &d)) goto fail;
    return p;
fail:
    pc__p_proc_destroy(p);
    return NULL;
}

// >>C.methods
static pc_start_method pc__p_platform_default(void) {
#if defined(__linux__)
    return PC_START_FORKSERVER;
#else
    return PC_START_SPAWN;
#endif
}

// The method a context stands for; the default context fixes the global
// choice the first time it is used, as Python's DefaultContext does.
static pc_start_method pc__p_resolve_method(const pc_context *ctx) {
    if (ctx && ctx->method != PC_START_DEFAULT) return ctx->method;
    return pc_get_start_method();
}

PYCONC_API const pc_context *pc_get_context(pc_start_method method) {
    if ((int)method < PC_START_DEFAULT || (int)method > PC_START_FORKSERVER) {
        pc__error(PC_VALUE, "unknown start method %d", (int)method);
        return NULL;
    }
    return &pc__p_contexts[method];
}

PYCONC_API pc_start_method pc_context_get_start_method(const pc_context *ctx) {
    return pc__p_resolve_method(ctx);
}

PYCONC_API pc_start_method pc_get_start_method(void) {
    pc_lock_acquire(&pc__p_proc_lock, PC_FOREVER);
    if (pc__p_proc_method == PC_START_DEFAULT) pc__p_proc_method = pc__p_platform_default();
    pc__p_proc_method_fixed = 1;
    pc_start_method m = pc__p_proc_method;
    pc_lock_release(&pc__p_proc_lock);
    return m;
}

PYCONC_API pc_start_method pc_get_start_method_allow_none(void) {
    pc_lock_acquire(&pc__p_proc_lock, PC_FOREVER);
    pc_start_method m = pc__p_proc_method_fixed ? pc__p_proc_method : PC_START_DEFAULT;
    pc_lock_release(&pc__p_proc_lock);
    return m;
}

PYCONC_API int pc_set_start_method(pc_start_method method, int force) {
    if ((int)method < PC_START_DEFAULT || (int)method > PC_START_FORKSERVER)
        return pc__error(PC_VALUE, "unknown start method %d", (int)method);
    pc_lock_acquire(&pc__p_proc_lock, PC_FOREVER);
    int fixed = pc__p_proc_method_fixed;
    if (fixed && !force) {
        pc_lock_release(&pc__p_proc_lock);
        return pc__error(PC_RUNTIME, "context has already been set");
    }
    pc__p_proc_method = method;
    pc__p_proc_method_fixed = method != PC_START_DEFAULT;
    pc_lock_release(&pc__p_proc_lock);
    return PC_OK;
}

PYCONC_API int pc_set_executable(const char *path) {
    if (pc__p_os_secure_exec())
        return pc__error(PC_RUNTIME, "set_executable in a set-user-ID, set-group-ID or "
                                     "file-capability program: it cannot spawn children");
    if (path && (!path[0] || strlen(path) >= sizeof pc__p_proc_exe))
        return pc__error(PC_VALUE, "executable path is empty or longer than %zu bytes",
                         sizeof pc__p_proc_exe - 1);
    if (path && pc__p_os_check_executable(path) < 0) return pc__os_error(path);
    pc_lock_acquire(&pc__p_proc_lock, PC_FOREVER);
    snprintf(pc__p_proc_exe, sizeof pc__p_proc_exe, "%s", path ? path : "");
    pc_lock_release(&pc__p_proc_lock);
    return PC_OK;
}

// Encode one library of the preload list, checked as the server will check
// it (absolute, there now), with the identity of the file found.
static int pc__p_preload_put_library(pc__p_buf *b, const char *path) {
    pc__p_funcref ref;
    memset(&ref, 0, sizeof ref);
    if (!path || path[0] != '/')
        return pc__error(PC_VALUE, "preload library %s: not an absolute path",
                         path ? path : "(NULL)");
    if (strlen(path) >= sizeof ref.path)
        return pc__error(PC_VALUE, "preload library path too long");
    snprintf(ref.path, sizeof ref.path, "%s", path);
    if (pc__p_os_file_id(path, &ref.dev, &ref.ino) < 0) return pc__os_error(path);
    pc__p_buf_u8(b, PC__PRE_LIBRARY);
    pc__p_funcref_put(b, &ref, 1);
    return PC_OK;
}

static int pc__p_preload_encode(const pc_forkserver_preload_desc *d, pc__p_buf *b) {
    pc__p_funcref ref;
    int rc = PC_OK;
    if ((d->nlibraries && !d->libraries) || (d->nfunctions && !d->functions))
        return pc__error(PC_VALUE, "preload: a count without its array");
    if ((unsigned)d->on_error > PC_PRELOAD_FAIL)
        return pc__error(PC_VALUE, "preload: unknown on_error %d", (int)d->on_error);
    if (d->nlibraries + d->nfunctions > 4096) return pc__error(PC_VALUE, "preload: too many");
    pc__p_buf_u32(b, (uint32_t)(d->nlibraries + d->nfunctions));
    for (size_t i = 0; !rc && i < d->nlibraries; i++)
        rc = pc__p_preload_put_library(b, d->libraries[i]);
    for (size_t i = 0; !rc && i < d->nfunctions; i++) {
        if (!d->functions[i]) return pc__error(PC_VALUE, "preload function %zu is NULL", i);
        if ((rc = pc__p_funcref_locate(d->functions[i], &ref))) break;
        pc__p_buf_u8(b, PC__PRE_FUNCTION);
        pc__p_funcref_put(b, &ref, 1);
    }
    pc__p_buf_u8(b, (unsigned)d->on_error);
    if (!rc && b->bad) rc = PC_NOMEM;
    return rc;
}

PYCONC_API int pc_set_forkserver_preload(const pc_forkserver_preload_desc *desc) {
    pc__p_buf b, old;
    memset(&b, 0, sizeof b);
    if (pc__p_os_secure_exec())
        return pc__error(PC_RUNTIME, "set_forkserver_preload in a set-user-ID, set-group-ID or "
                                     "file-capability program: it cannot start a forkserver");
    int rc = desc ? pc__p_preload_encode(desc, &b) : PC_OK;
    if (rc) {
        pc__free(b.p);
        return rc;
    }
    pc_lock_acquire(&pc__p_fs_lock, PC_FOREVER);
    old = pc__p_fs_preload;
    pc__p_fs_preload = b;
    pc_lock_release(&pc__p_fs_lock);
    pc__free(old.p);
    return PC_OK;
}

PYCONC_API size_t pc_get_all_start_methods(pc_start_method *out, size_t cap) {
    pc_start_method all[3];
    all[0] = pc__p_platform_default();
    all[1] = PC_START_FORK;
    all[2] = all[0] == PC_START_FORKSERVER ? PC_START_SPAWN : PC_START_FORKSERVER;
    for (size_t i = 0; out && i < cap && i < 3; i++) out[i] = all[i];
    return 3;
}

PYCONC_API const char *pc_start_method_name(pc_start_method method) {
    switch (method) {
    case PC_START_DEFAULT: return "default";
    case PC_START_FORK: return "fork";
    case PC_START_SPAWN: return "spawn";
    case PC_START_FORKSERVER: return "forkserver";
    }
    return NULL;
}

PYCONC_API int pc_start_method_from_name(const char *name, pc_start_method *out_method) {
    if (!name || !out_method) return pc__error(PC_VALUE, "name or output is NULL");
    for (int m = PC_START_FORK; m <= PC_START_FORKSERVER; m++)
        if (strcmp(name, pc_start_method_name((pc_start_method)m)) == 0) {
            *out_method = (pc_start_method)m;
            return PC_OK;
        }
    return pc__error(PC_VALUE, "cannot find context for '%s'", name);
}

// >>C.child
// Everything a child needs to become itself, from fork's memory or from
// the bootstrap message.
typedef struct pc__p_child_info {
    pc_target_fn target;
    char *name;
    int daemon;
    unsigned char authkey[PC_AUTHKEY_MAX];
    size_t authkey_len;
    uint32_t *identity;
    size_t identity_len;
    long parent_pid;
    uint64_t parent_start;
    char *parent_name;
    int method, method_fixed;
    int log_level;
    int arg_kind;
    void *arg;
    size_t arg_size;
    pc_args *pack;
} pc__p_child_info;

// Take on the child's identity. The parent's children are not ours; their
// objects are left alone (the memory is a copy after fork).
static void pc__p_child_become(pc__p_child_info *ci) {
    pc__p_proc_init();
    pc_process *cur = pc__p_proc_current;
    pc__free(cur->name);        // "MainProcess", or the parent's name copied by fork
    cur->name = ci->name;
    cur->daemon = ci->daemon;
    memcpy(cur->authkey, ci->authkey, ci->authkey_len);
    cur->authkey_len = ci->authkey_len;
    cur->identity = ci->identity;
    cur->identity_len = ci->identity_len;
    pc__p_proc_children.head = pc__p_proc_children.tail = NULL;
    pc__p_proc_counter = 0;
    pc__p_proc_pid = 0;         // a forkserver child: the server's fork ran no hook
    pc__p_proc_start = 0;
    pc__p_proc_method = (pc_start_method)ci->method;
    pc__p_proc_method_fixed = ci->method_fixed;
    __atomic_store_n(&pc__p_logger.level, ci->log_level, __ATOMIC_RELAXED);
    pc_process *parent = pc__p_proc_alloc(PC__P_PARENT, ci->parent_name ? ci->parent_name : "");
    if (parent) {
        parent->pid = (pid_t)ci->parent_pid;
        parent->pid_start = ci->parent_start;
        parent->started = 1;
    }
    pc__p_proc_parent = parent;
}

// Python's threading._shutdown in the child: wait for non-daemon threads.
static void pc__p_child_join_threads(void) {
    pc_thread *self = pc_thread_current();
    for (;;) {
        pc_thread *ts[64], *found = NULL;
        size_t n = pc_thread_enumerate(ts, 64);
        if (n > 64) n = 64;
        for (size_t i = 0; i < n; i++) {
            if (!found && ts[i] != self && !pc_thread_daemon(ts[i]) && pc_thread_is_alive(ts[i]))
                found = ts[i];
            else
                pc_thread_free(ts[i]);
        }
        if (!found) return;
        pc_thread_join(found, PC_FOREVER);
        pc_thread_free(found);
    }
}

PC__P_NORETURN
static void pc__p_child_run(pc__p_child_info *ci) {
    pc__p_child_become(ci);
    void *arg = ci->arg_kind == PC__ARG_PACK ? (void *)ci->pack : ci->arg;
    pc__p_log(PC_LOG_INFO, "child process calling its target");
    int rc = ci->target ? ci->target(arg) : 0;
    char msg[256];
    int raised = pc__exception_take(msg, sizeof msg);
    int code = raised ? 1 : (rc & 0xff);
    if (raised) {
        // Python prints "Process NAME:" and the traceback, then exits 1.
        fprintf(stderr, "Process %s:\n%s: %s\n", pc__p_proc_current->name,
                pc__exception_name(raised), msg);
    }
    pc__p_log(PC_LOG_INFO, "process exiting with exitcode %d", code);
    pc__p_proc_exit_function();
    pc__p_child_join_threads();
    pc_args_free(ci->pack);
    // Only the standard streams: other FILEs hold the parent's unflushed
    // data too after fork, and the parent writes that itself.
    pc__p_os_flush_pending(stdout);
    pc__p_os_flush_pending(stderr);
    pc__p_os_exit(code);
}

PC__P_NORETURN
static void pc__p_child_from_fork(pc_process *p) {
    pc__p_child_info ci;
    memset(&ci, 0, sizeof ci);
    ci.target = p->target;
    ci.name = pc__strdup(p->name);
    ci.daemon = p->daemon;
    memcpy(ci.authkey, p->authkey, p->authkey_len);
    ci.authkey_len = p->authkey_len;
    ci.identity = p->identity;
    ci.identity_len = p->identity_len;
    ci.parent_pid = (long)p->owner;         // the pid of the process that forked us
    ci.parent_start = p->owner_start;
    ci.parent_name = pc__strdup(pc__p_proc_current->name);
    ci.method = (int)pc__p_proc_method;
    ci.method_fixed = pc__p_proc_method_fixed;
    ci.log_level = pc_logger_level(&pc__p_logger);
    ci.arg_kind = p->arg_kind;
    ci.arg = p->arg;
    ci.arg_size = p->arg_size;
    if (p->arg_kind == PC__ARG_PACK) {
        p->pack.pos = 0;
        ci.pack = pc__p_args_decode(&p->pack, p->pack_fds, p->pack_nfds, 0);
        if (!ci.pack) {
            fprintf(stderr, "pyconc: child %s: %s\n", p->name, pc_last_error());
            pc__p_os_exit(1);
        }
    }
    pc__p_child_run(&ci);
}

// >>C.bootstrap
// A spawned or forkserver child reads one message on its bootstrap socket,
// framed as every message is (pc__p_frame_send_fds), the descriptors of its
// argument pack attached; the body starts with PC__BOOT_MAGIC and a kind.
enum { PC__BOOT_RUN = 1, PC__BOOT_SERVER = 2 };

static void pc__p_boot_body_run(pc_process *p, const pc__p_funcref *ref, pc__p_buf *b) {
    pc_process *cur = pc__p_proc_current;
    pc__p_buf_u32(b, PC__BOOT_MAGIC);
    pc__p_buf_u32(b, PC__BOOT_RUN);
    pc__p_funcref_put(b, ref, p->target != NULL);
    pc__p_buf_str(b, p->name);
    pc__p_buf_u8(b, (unsigned)p->daemon);
    pc__p_buf_blob(b, p->authkey, p->authkey_len);
    pc__p_buf_u32(b, (uint32_t)p->identity_len);
    for (size_t i = 0; i < p->identity_len; i++) pc__p_buf_u32(b, p->identity[i]);
    pc__p_buf_u64(b, (uint64_t)pc__p_proc_self());
    pc__p_buf_u64(b, p->owner_start);
    pc_lock_acquire(&cur->mu, PC_FOREVER);
    pc__p_buf_str(b, cur->name);
    pc_lock_release(&cur->mu);
    pc_lock_acquire(&pc__p_proc_lock, PC_FOREVER);
    pc__p_buf_u8(b, (unsigned)pc__p_proc_method);
    pc__p_buf_u8(b, (unsigned)pc__p_proc_method_fixed);
    pc_lock_release(&pc__p_proc_lock);
    pc__p_buf_u8(b, (unsigned)pc__p_log_child_level());
    pc__p_buf_u8(b, (unsigned)p->arg_kind);
    if (p->arg_kind == PC__ARG_BYTES) pc__p_buf_blob(b, p->arg, p->arg_size);
    if (p->arg_kind == PC__ARG_PACK) pc__p_buf_blob(b, p->pack.p, p->pack.len);
}

static int pc__p_boot_send(int sock, const pc__p_buf *body, const int *fds, size_t nfds) {
    return pc__p_frame_send_fds(sock, 1, body->p, body->len, fds, nfds);
}

// Read the whole message; fds gets the descriptors (room for
// PC__ARGS_MAX_FDS); body is left just past the magic.
static int pc__p_boot_recv(int sock, pc__p_buf *body, int *fds, size_t *nfds) {
    void *p = NULL;
    size_t n = 0;
    *nfds = PC__ARGS_MAX_FDS;
    memset(body, 0, sizeof *body);
    int rc = pc__p_frame_recv_fds(sock, 1, (size_t)1 << 30, &p, &n, fds, nfds);
    if (rc) return rc;
    body->p = (unsigned char *)p;
    body->len = body->cap = n;
    if (pc__p_buf_get_u32(body) != PC__BOOT_MAGIC)
        return pc__error(PC_VALUE, "malformed bootstrap");
    return PC_OK;
}

static int pc__p_boot_parse_run(pc__p_buf *b, int *fds, size_t nfds, pc__p_child_info *ci) {
    pc__p_funcref ref;
    size_t n;
    if (pc__p_funcref_get(b, &ref) && !b->bad && pc__p_funcref_resolve(&ref, &ci->target))
        return PC_VALUE;
    ci->name = pc__p_buf_get_str(b);
    ci->daemon = (int)pc__p_buf_get_u8(b);
    const void *key = pc__p_buf_get_blob(b, &n);
    if (!key || n == 0 || n > PC_AUTHKEY_MAX) return pc__error(PC_VALUE, "bad authkey");
    memcpy(ci->authkey, key, n);
    ci->authkey_len = n;
    ci->identity_len = pc__p_buf_get_u32(b);
    if (ci->identity_len > 4096) return pc__error(PC_VALUE, "bad identity");
    ci->identity = (uint32_t *)pc__calloc(ci->identity_len + 1, sizeof(uint32_t));
    if (!ci->identity) return PC_NOMEM;
    for (size_t i = 0; i < ci->identity_len; i++) ci->identity[i] = pc__p_buf_get_u32(b);
    ci->parent_pid = (long)pc__p_buf_get_u64(b);
    ci->parent_start = pc__p_buf_get_u64(b);
    ci->parent_name = pc__p_buf_get_str(b);
    ci->method = (int)pc__p_buf_get_u8(b);
    ci->method_fixed = (int)pc__p_buf_get_u8(b);
    ci->log_level = (int)pc__p_buf_get_u8(b);
    if (ci->log_level > PC_LOG_OFF) b->bad = 1;
    ci->arg_kind = (int)pc__p_buf_get_u8(b);
    if (ci->arg_kind == PC__ARG_BYTES) {
        const void *arg = pc__p_buf_get_blob(b, &ci->arg_size);
        ci->arg = arg ? pc__malloc(ci->arg_size) : NULL;
        if (ci->arg) memcpy(ci->arg, arg, ci->arg_size);
    } else if (ci->arg_kind == PC__ARG_PACK) {
        pc__p_buf pack;
        memset(&pack, 0, sizeof pack);
        pack.p = (unsigned char *)(uintptr_t)pc__p_buf_get_blob(b, &pack.len);
        if (pack.p) ci->pack = pc__p_args_decode(&pack, fds, nfds, 0);
        if (!ci->pack) b->bad = 1;
    } else if (ci->arg_kind != PC__ARG_NONE) {
        b->bad = 1;
    }
    if (b->bad || !ci->name || !ci->parent_name) return pc__error(PC_VALUE, "malformed bootstrap");
    return PC_OK;
}

PC__P_NORETURN
static void pc__p_forkserver_main(int chan, int witness_fd, const unsigned char *key,
                                  size_t keylen, pc__p_buf *preload);

// Run the child whose bootstrap is body (malloc'd; rc: how reading it
// went; fds: the descriptors that came with it) from sock, of the given
// type; never returns. A run bootstrap comes on a stream socketpair (or, sock
// -1, in a forkserver request), a server's on a seqpacket one.
PC__P_NORETURN
static void pc__p_child_from_body(int sock, int type, int rc, pc__p_buf *bodyp, int *fds,
                                  size_t nfds) {
    pc__p_buf body = *bodyp;
    pc__p_child_info ci;
    memset(&ci, 0, sizeof ci);
    if (rc == PC_EOF) pc__p_os_exit(1);         // the parent gave up on us
    uint32_t kind = rc ? 0 : pc__p_buf_get_u32(&body);
    if ((kind == PC__BOOT_SERVER && type != SOCK_SEQPACKET) ||
        (kind == PC__BOOT_RUN && type != SOCK_STREAM)) {
        rc = pc__error(PC_VALUE, "bootstrap kind %u on the wrong kind of socket", (unsigned)kind);
        kind = 0;
    }
    if (kind == PC__BOOT_SERVER) {
        size_t n;
        pc__p_buf pre;
        memset(&pre, 0, sizeof pre);
        const void *key = pc__p_buf_get_blob(&body, &n);
        pre.p = (unsigned char *)(uintptr_t)pc__p_buf_get_blob(&body, &pre.len);
        if (key && n >= 1 && n <= PC_AUTHKEY_MAX && !body.bad && nfds <= 1) {
            unsigned char k[PC_AUTHKEY_MAX];
            memcpy(k, key, n);
            pc__p_forkserver_main(sock, nfds ? fds[0] : -1, k, n, &pre);
        }
        rc = pc__error(PC_VALUE, "malformed forkserver bootstrap");
    } else if (kind == PC__BOOT_RUN) {
        pc__p_os_close(sock);
        rc = pc__p_boot_parse_run(&body, fds, nfds, &ci);
    } else if (!rc) {
        rc = pc__error(PC_VALUE, "unknown bootstrap kind %u", (unsigned)kind);
    }
    if (rc) {
        fprintf(stderr, "pyconc: child bootstrap failed: %s\n", pc_last_error());
        pc__p_os_exit(1);
    }
    for (size_t i = 0; i < nfds; i++) pc__p_os_close(fds[i]);   // the unused ones
    pc__free(body.p);
    pc__p_child_run(&ci);
}

// Run the child whose bootstrap socket is sock, of the given type (-1:
// find out); never returns.
PC__P_NORETURN
static void pc__p_child_from_socket_of(int sock, int type) {
    pc__p_buf body;
    int fds[PC__ARGS_MAX_FDS];
    size_t nfds = 0;
    if (type < 0) type = pc__p_os_unix_socket_type(sock);
    int rc = pc__p_boot_recv(sock, &body, fds, &nfds);
    pc__p_child_from_body(sock, type, rc, &body, fds, nfds);
}

PC__P_NORETURN
static void pc__p_child_from_socket(int sock) { pc__p_child_from_socket_of(sock, -1); }

// Before a spawned child reads a byte of its bootstrap, the socket on
// descriptor 3 must be the one its parent made for it: a unix stream or
// seqpacket socket whose peer (the process that called socketpair) is
// our parent, with our user and group. Anyone else who hands a program
// this descriptor and the environment variable is refused, and cannot
// make it load a library or run a function. Returns only if it is ours.
static void pc__p_boot_check_peer(int fd) {
    char why[160];
    pid_t pid = 0, ppid = pc__p_os_getppid();
    uid_t uid = 0;
    gid_t gid = 0;
    int type = pc__p_os_unix_socket_type(fd);
    if (type != SOCK_STREAM && type != SOCK_SEQPACKET) {
        snprintf(why, sizeof why, "descriptor %d is not a unix stream or seqpacket socket", fd);
    } else if (pc__p_os_peer_ids(fd, &pid, &uid, &gid) < 0) {
        snprintf(why, sizeof why, "cannot tell who sent it (%s)", strerror(errno));
    } else if (pid != -1 && pid != ppid) {
        if (pc__p_os_peer_gone(fd)) pc__p_os_exit(1);  // our parent died before sending: go
        snprintf(why, sizeof why, "it comes from process %ld, not from our parent %ld",
                 (long)pid, (long)ppid);
    } else if (uid != pc__p_os_geteuid() || gid != pc__p_os_getegid()) {
        snprintf(why, sizeof why, "it comes from user %ld group %ld, not from us (%ld, %ld)",
                 (long)uid, (long)gid, (long)pc__p_os_geteuid(), (long)pc__p_os_getegid());
    } else {
        return;
    }
    fprintf(stderr, "pyconc: refusing the bootstrap on descriptor %d: %s\n", fd, why);
    pc__p_os_exit(1);
}

// >>C.spawn
// posix_spawn the program itself with descriptors 0-2, boot_fd as 3 and
// (when >= 0) sentinel_w as 4, nothing else, and PYCONC_PROCESS_FD=3 in its
// environment. Returns PC_OS with errno kept.
static int pc__p_spawn_self(int boot_fd, int sentinel_w, pid_t *out_pid) {
    const int fds[2] = {boot_fd, sentinel_w}, at[2] = {PC__BOOT_FD, PC__SENTINEL_FD};
    char exe[sizeof pc__p_proc_exe];
    pc_lock_acquire(&pc__p_proc_lock, PC_FOREVER);
    memcpy(exe, pc__p_proc_exe, sizeof exe);
    pc_lock_release(&pc__p_proc_lock);
    return pc__p_os_spawn_self(exe[0] ? exe : NULL, pc__p_proc_argv0, PC__ENV_FD "=3", fds, at,
                               sentinel_w >= 0 ? 2 : 1, out_pid);
}

// Give p its sentinel: a pidfd, or the read end of the pipe whose write
// end only the child holds.
static int pc__p_proc_set_sentinel(pc_process *p, int pipe_r) {
    if (pipe_r >= 0) {
        p->sentinel = pipe_r;
        p->sentinel_kind = PC__S_PIPE;
        return PC_OK;
    }
    p->sentinel = pc__p_os_pidfd_open(p->pid);
    if (p->sentinel < 0) return pc__os_error("pidfd_open");
    p->sentinel_kind = PC__S_PIDFD;
    return PC_OK;
}

static int pc__p_launch_spawn(pc_process *p, const pc__p_funcref *ref) {
    int sv[2] = {-1, -1}, sp[2] = {-1, -1}, rc;
    pid_t pid = 0;
    pc__p_buf body;
    memset(&body, 0, sizeof body);
    pc__p_boot_body_run(p, ref, &body);
    if (body.bad) { rc = PC_NOMEM; goto out; }
    if (pc__p_os_socketpair(sv)) { rc = pc__os_error("socketpair"); goto out; }
    if (!pc__p_os_have_pidfd() && pc__p_os_pipe(sp)) { rc = pc__os_error("pipe"); goto out; }
    if ((sv[1] = pc__p_os_move_high(sv[1])) < 0 ||
        (sp[1] >= 0 && (sp[1] = pc__p_os_move_high(sp[1])) < 0)) {
        rc = pc__os_error("fcntl");
        goto out;
    }
    rc = pc__p_spawn_self(sv[1], sp[1], &pid);
    if (rc) goto out;
    p->pid = pid;
    pc__p_os_close(sv[1]);
    pc__p_os_close(sp[1]);
    sv[1] = sp[1] = -1;
    if ((rc = pc__p_proc_set_sentinel(p, sp[0]))) {
        pc__p_os_kill_reap(p->pid);
        p->pid = 0;
        goto out;
    }
    sp[0] = -1;
    // A child that died before reading its bootstrap shows in its exit code.
    pc__p_boot_send(sv[0], &body, p->pack_fds, p->pack_nfds);
out:
    pc__p_os_close(sv[0]);
    pc__p_os_close(sv[1]);
    pc__p_os_close(sp[0]);
    pc__p_os_close(sp[1]);
    pc__free(body.p);
    return rc;
}

// >>C.fork
static int pc__p_launch_fork(pc_process *p) {
    int sp[2] = {-1, -1};
    pc__p_log_fork_with_threads();
    if (!pc__p_os_have_pidfd() && pc__p_os_pipe(sp)) return pc__os_error("pipe");
    pc__p_os_flush_pending(stdout);    // or the child would print our buffered output again
    pc__p_os_flush_pending(stderr);
    pid_t pid = pc__p_os_fork();
    if (pid == 0) {
        pc__p_os_close(sp[0]);
        pc__p_child_from_fork(p);
    }
    if (pid < 0) {
        int rc = pc__os_error("fork");
        pc__p_os_close(sp[0]);
        pc__p_os_close(sp[1]);
        return rc;
    }
    p->pid = pid;
    pc__p_os_close(sp[1]);
    int rc = pc__p_proc_set_sentinel(p, sp[0]);
    if (rc) {
        pc__p_os_kill_reap(pid);
        p->pid = 0;
    }
    return rc;
}

// >>C.forkserver
// The server's request channel is a private SOCK_SEQPACKET socketpair:
// only this process (and its forks, which share the authkey too) and the
// server it spawned hold it (close-on-exec here; the server's end is the
// one descriptor it inherits). It is authenticated once, when the server
// starts: after the boot body the server and this process run Python's
// HMAC challenge and response both ways on it (B.auth's two halves, each
// message one record: "#CHALLENGE#{sha256}" + 40 random bytes, "{sha256}"
// + the HMAC, "#WELCOME#" or "#FAILURE#"; no legacy MD5 form), keyed by
// the authkey the program had then. Only
// a server that welcomed us and that we welcomed takes requests; on a
// failure it exits and the start is PC_AUTH with no child. Anything else
// that reaches a server before its handshake is read as a reply, refused,
// and starts nothing (CPython's CVE-2022-42919 was an unauthenticated
// forkserver).
// A request is then one record on the channel (so the requests of several
// threads, or of forked children sharing the channel, never mix) carrying
// a fresh status socket (the server writes the child's pid, with a pidfd
// where the kernel has them, later its wait status) and the child's
// bootstrap: inline, right after the request in the same record, when it
// is small and carries no descriptors (the child finds it in the memory
// it was forked with: no socket to make, pass, read and close), else as a
// second socket, the child's bootstrap socket, with inline 0.
// A start is asked once more of a new server only when its server died
// before it forked for it: each request has a number, and the server stores
// the number of the request it is about to fork for in a word of memory it
// shares with the process that spawned it (the witness; a forked client
// shares it too). A request whose number is there may have a child
// running, so it is not asked again: its target never runs twice.
typedef struct pc__p_fs_request {
    uint32_t magic;
    uint32_t inline_len;        // bytes of bootstrap body after this header
    uint64_t id;                // the asking process's pid, then its count of requests
    uint32_t flags;             // PC__FS_DIE_AFTER_FORK, or 0
    uint32_t unused;
} pc__p_fs_request;

// The server exits as soon as it has forked for this request, without a
// reply: the tests' server that dies while it starts a child.
#define PC__FS_DIE_AFTER_FORK 1u

#define PC__FS_INLINE_MAX 8192  // the largest bootstrap body sent inline

static int pc__p_fs_sock = -1;
static pid_t pc__p_fs_pid;
static pid_t pc__p_fs_owner;        // the process that spawned it (forks share the channel)
static unsigned pc__p_fs_gen;       // which server: one more at each start
static uint64_t *pc__p_fs_witness;  // shared with the server (NULL: none)
static uint32_t pc__p_fs_asked;     // requests this process made
static int pc__p_fs_test_die_after_fork;
static unsigned char pc__p_fs_key[PC_AUTHKEY_MAX];
static size_t pc__p_fs_keylen;
// Tests only: nonzero makes this side of the next handshake use a wrong key.
static int pc__p_fs_test_corrupt_key;

// The handshake's carrier on the channel: one whole record a message, no
// frame header, only the "{sha256}" forms (see B.auth). A longer record,
// or one carrying descriptors (the kernel closes them), is refused.
static int pc__p_fs_auth_send(void *ctx, const void *buf, size_t size) {
    return pc__p_os_write_buf(*(int *)ctx, 1, buf, size);
}

static int pc__p_fs_auth_recv(void *ctx, unsigned char *buf, size_t *out_size) {
    int cut;
    ssize_t r = pc__p_os_recv_record(*(int *)ctx, buf, PC__AUTH_MAX, &cut);
    if (r < 0) return pc__os_error("forkserver handshake");
    if (r == 0) return pc__error(PC_EOF, "forkserver handshake: connection closed");
    if (cut) return pc__error(PC_AUTH, "forkserver handshake: malformed message");
    *out_size = (size_t)r;
    return PC_OK;
}

static pc__p_auth_io pc__p_fs_auth_io(int *fd) {
    pc__p_auth_io io = {pc__p_fs_auth_send, pc__p_fs_auth_recv, fd, 0};
    return io;
}

// The two halves of the channel's handshake (pc__p_auth_challenge and
// pc__p_auth_answer on channel fd).
static int pc__p_fs_auth_challenge(int fd, const unsigned char *key, size_t keylen) {
    pc__p_auth_io io = pc__p_fs_auth_io(&fd);
    return pc__p_auth_challenge(&io, key, keylen);
}

static int pc__p_fs_auth_answer(int fd, const unsigned char *key, size_t keylen) {
    pc__p_auth_io io = pc__p_fs_auth_io(&fd);
    return pc__p_auth_answer(&io, key, keylen);
}

// Spawn a server that knows key; *out_sock gets this side of its channel,
// not yet authenticated.
// The witness word, in an anonymous shared file of its own; *out_fd its
// descriptor for the server (-1, NULL: none could be made, and no start is
// then asked again).
static uint64_t *pc__p_fs_witness_new(int *out_fd) {
    int fd = pc__p_os_anon_shm("pyconc-forkserver");
    uint64_t *w = NULL;
    if (fd >= 0 && pc__p_os_ftruncate(fd, sizeof *w) == PC_OK)
        w = (uint64_t *)pc__p_os_map_shared(fd, sizeof *w);
    if (!w) {
        pc__p_os_close(fd);
        fd = -1;
    }
    *out_fd = fd;
    return w;
}

static int pc__p_fs_spawn_server(const unsigned char *key, size_t keylen, int *out_sock,
                                 pid_t *out_pid, uint64_t **out_witness) {
    int sv[2] = {-1, -1}, wfd = -1, rc;
    uint64_t *witness = pc__p_fs_witness_new(&wfd);
    pc__p_buf body;
    memset(&body, 0, sizeof body);
    pc__p_buf_u32(&body, PC__BOOT_MAGIC);
    pc__p_buf_u32(&body, PC__BOOT_SERVER);
    pc__p_buf_blob(&body, key, keylen);
    pc__p_buf_blob(&body, pc__p_fs_preload.p, pc__p_fs_preload.len);
    if (body.bad) { rc = PC_NOMEM; goto out; }
    if (pc__p_os_seqpacket_pair(sv) < 0) { rc = pc__os_error("socketpair"); goto out; }
    if ((sv[1] = pc__p_os_move_high(sv[1])) < 0) { rc = pc__os_error("fcntl"); goto out; }
    if ((rc = pc__p_spawn_self(sv[1], -1, out_pid))) goto out;
    if ((rc = pc__p_boot_send(sv[0], &body, &wfd, witness ? 1 : 0))) {
        pc__p_os_kill_reap(*out_pid);
        goto out;
    }
    *out_sock = sv[0];
    sv[0] = -1;
    *out_witness = witness;
    witness = NULL;
out:
    if (witness) pc__p_os_unmap(witness, sizeof *witness);
    pc__p_os_close(wfd);
    pc__p_os_close(sv[0]);
    pc__p_os_close(sv[1]);
    pc__free(body.p);
    return rc;
}

// After the handshake the server preloads and says how that went in one
// record: PC__FS_PRELOAD_OK, or PC__FS_PRELOAD_FAILED and why (on_error
// PC_PRELOAD_FAIL; it exits then).
#define PC__FS_PRELOAD_OK "#PRELOAD-OK#"
#define PC__FS_PRELOAD_FAILED "#PRELOAD-FAILED#"

static int pc__p_fs_preload_result(int sock) {
    char rec[600];
    int cut;
    ssize_t r = pc__p_os_recv_record(sock, rec, sizeof rec - 1, &cut);
    if (r < 0) return pc__os_error("forkserver preload");
    rec[r] = '\0';
    size_t nf = strlen(PC__FS_PRELOAD_FAILED);
    if ((size_t)r >= nf && memcmp(rec, PC__FS_PRELOAD_FAILED, nf) == 0)
        return pc__error(PC_RUNTIME, "forkserver preload failed: %s", rec + nf);
    if (r == 0 || strcmp(rec, PC__FS_PRELOAD_OK) != 0)
        return pc__error(PC_RUNTIME, "forkserver exited during its preload");
    return PC_OK;
}

// Start the server (pc__p_fs_lock held) with the current authkey and run
// the handshake (answer, then challenge: Python's Client order).
static int pc__p_fs_start_server(void) {
    unsigned char mine[PC_AUTHKEY_MAX];
    pc_process *cur = pc__p_proc_current;
    int sock = -1, rc;
    pid_t pid;
    uint64_t *witness = NULL;
    pc_lock_acquire(&cur->mu, PC_FOREVER);
    memcpy(pc__p_fs_key, cur->authkey, cur->authkey_len);
    pc__p_fs_keylen = cur->authkey_len;
    pc_lock_release(&cur->mu);
    if ((rc = pc__p_fs_spawn_server(pc__p_fs_key, pc__p_fs_keylen, &sock, &pid, &witness)))
        return rc;
    memcpy(mine, pc__p_fs_key, pc__p_fs_keylen);
    if (pc__p_fs_test_corrupt_key) mine[0] ^= 1;
    rc = pc__p_fs_auth_answer(sock, mine, pc__p_fs_keylen);
    if (!rc) rc = pc__p_fs_auth_challenge(sock, mine, pc__p_fs_keylen);
    if (rc) {
        if (rc == PC_EOF) rc = pc__error(PC_AUTH, "forkserver handshake: server closed");
        if (rc == PC_AUTH) rc = pc__error(PC_AUTH, "forkserver handshake: %s", pc_last_error());
    }
    if (!rc) rc = pc__p_fs_preload_result(sock);
    if (rc) {
        pc__p_os_close(sock);
        pc__p_os_kill_reap(pid);
        if (witness) pc__p_os_unmap(witness, sizeof *witness);
        return rc;
    }
    pc__p_fs_sock = sock;
    pc__p_fs_pid = pid;
    if (pc__p_fs_witness) pc__p_os_unmap(pc__p_fs_witness, sizeof *pc__p_fs_witness);
    pc__p_fs_witness = witness;
    pc__p_fs_owner = pc__p_proc_self();
    pc__p_fs_gen++;
    return PC_OK;
}

// Forget the server (pc__p_fs_lock held): it is dead, or dying with its
// channel closed. The process that spawned it reaps it with a blocking
// wait (after a SIGKILL, in case it is still on its way out), so a dead
// server never stays a zombie. Only while it is provably still our child
// (not yet waited for) is it signalled: its pid cannot be recycled then.
static void pc__p_fs_discard(void) {
    int st, saved = errno;
    pid_t pid = pc__p_fs_pid, r;
    pc__p_os_close(pc__p_fs_sock);
    pc__p_fs_sock = -1;
    pc__p_fs_pid = 0;
    if (pid > 0 && pc__p_fs_owner == pc__p_proc_self()) {
        r = pc__p_os_waitpid(pid, &st, 1);
        if (r == 0) pc__p_os_kill_reap(pid);
    }
    errno = saved;
}

// Whether the server that took request generation gen is dead, after the
// request got no reply (pc__p_fs_lock not held). A server dies with its
// channel: the request still in it, or in its hands; either way its end
// of the channel closes as it exits, an instant after (or before) our
// status socket saw end of file, so wait a moment for that hang-up. A
// dead server is reaped and forgotten, and the next request starts
// another. A live one refused the request: it is not asked again.
// *out_again: it died before it forked for request id (its witness, kept
// until the next server starts, does not hold id), so asking a new server
// cannot run the target twice; not known (a new server started already,
// or there was no witness) is no.
static int pc__p_fs_server_died(unsigned gen, uint64_t id, int *out_again) {
    int dead = 1;
    *out_again = 0;
    pc_lock_acquire(&pc__p_fs_lock, PC_FOREVER);
    if (gen == pc__p_fs_gen && pc__p_fs_sock >= 0) {
        struct pollfd pf;
        pf.fd = pc__p_fs_sock;
        pf.events = 0;              // only POLLHUP and POLLERR, which poll always reports
        pf.revents = 0;
        dead = pc__p_os_poll(&pf, 1, pc_monotonic() + 1.0) == PC_OK;
        if (dead) pc__p_fs_discard();
    }
    // Still the dead server's witness, though another thread may have
    // found it dead first: a new server would have replaced it.
    if (dead && gen == pc__p_fs_gen && pc__p_fs_witness)
        *out_again = __atomic_load_n(pc__p_fs_witness, __ATOMIC_SEQ_CST) != id;
    pc_lock_release(&pc__p_fs_lock);
    if (dead && *out_again)
        pc__p_log(PC_LOG_SUBWARNING, "forkserver died with a request; starting another");
    else if (dead)
        pc__p_log(PC_LOG_SUBWARNING, "forkserver died as it started a child; not asked again");
    return dead;
}

// Send one request (rec: a pc__p_fs_request and any inline body; fds: the
// status socket, then any bootstrap socket); a server found dead (its end
// of the channel closed) is reaped and started again, once. *out_gen:
// which server took it.
static int pc__p_fs_request_child(const void *rec, size_t len, const int *fds, size_t nfds,
                                  unsigned *out_gen) {
    int rc = PC_OK;
    pid_t died = 0, started = 0;
    pc_lock_acquire(&pc__p_fs_lock, PC_FOREVER);
    for (int attempt = 0; attempt < 2; attempt++) {
        if (pc__p_fs_sock < 0) {
            if ((rc = pc__p_fs_start_server())) break;
            started = pc__p_fs_pid;
        }
        *out_gen = pc__p_fs_gen;
        rc = pc__p_send_fds(pc__p_fs_sock, rec, len, fds, nfds);
        if (rc != PC_OS || (errno != EPIPE && errno != ECONNRESET && errno != ENOTCONN)) break;
        died = pc__p_fs_pid;
        pc__p_fs_discard();
    }
    pc_lock_release(&pc__p_fs_lock);
    // Logged with no lock held: a handler may start processes itself.
    int saved = errno;
    if (died) pc__p_log(PC_LOG_SUBWARNING, "forkserver (pid %ld) died; starting another",
                        (long)died);
    if (started) pc__p_log(PC_LOG_INFO, "forkserver started (pid %ld)", (long)started);
    errno = saved;
    return rc;
}

// The child's bootstrap message goes into its socket before the request
// goes to the server: the child finds it there as it starts, never
// waiting for it, and the server's reply is read while the child runs.
// What the socket does not take at once (a large argument pack) follows
// the request.
typedef struct pc__p_fs_boot {
    unsigned char h[12];
    struct iovec iov[2];
    struct iovec *rest;         // the bytes not sent yet: rest[0..nrest)
    int nrest;
    int fds_sent;
} pc__p_fs_boot;

static int pc__p_fs_boot_queue(int sock, pc__p_fs_boot *b, const pc__p_buf *body,
                               const int *fds, size_t nfds) {
    b->iov[0].iov_base = b->h;
    b->iov[0].iov_len = pc__p_frame_header(b->h, body->len);
    b->iov[1].iov_base = body->p;
    b->iov[1].iov_len = body->len;
    b->rest = b->iov;
    b->nrest = body->len ? 2 : 1;
    ssize_t w = pc__p_send_fds_now(sock, b->iov, b->nrest, fds, nfds);
    if (w < 0) return pc__os_error("forkserver bootstrap");
    b->fds_sent = w > 0;
    size_t done = (size_t)w;
    while (b->nrest > 0 && done >= b->rest->iov_len) {
        done -= b->rest->iov_len;
        b->rest++;
        b->nrest--;
    }
    if (b->nrest > 0) {
        b->rest->iov_base = (char *)b->rest->iov_base + done;
        b->rest->iov_len -= done;
    }
    return PC_OK;
}

// Send the rest. A child that died before reading it shows in its exit
// code, so a failure here is no start failure.
static void pc__p_fs_boot_finish(int sock, pc__p_fs_boot *b, const int *fds, size_t nfds) {
    if (b->nrest == 0) return;
    if (!b->fds_sent && nfds) {             // nothing went: the header carries them
        if (pc__p_send_fds(sock, b->iov[0].iov_base, b->iov[0].iov_len, fds, nfds)) return;
        b->rest++;
        b->nrest--;
    }
    if (b->nrest > 0) pc__p_os_write_all(sock, 1, b->rest, b->nrest);
}

// Ask for a child with a fresh status socket and its bootstrap (rec: a
// pc__p_fs_request, then the body; fds: the body's descriptors), inline
// or on a fresh bootstrap socket, and read its pid and pidfd back; *out_st
// gets our end of the status socket. Returns PC_EOF when the server gave
// no reply (it died with the request, or refused it).
static int pc__p_fs_ask(pc__p_buf *rec, const int *fds, size_t nfds, int *out_st,
                        int64_t *out_pid, int *out_pidfd, unsigned *out_gen, uint64_t *out_id) {
    int st[2] = {-1, -1}, bt[2] = {-1, -1}, ask_fds[2], rc;
    size_t npidfd = 1, hlen = sizeof(pc__p_fs_request), blen = rec->len - hlen;
    pc__p_fs_boot boot;
    pc__p_fs_request req;
    pc__p_buf body = *rec;
    body.p += hlen;
    body.len = blen;
    memset(&req, 0, sizeof req);
    req.magic = PC__FS_MAGIC;
    req.inline_len = nfds == 0 && blen <= PC__FS_INLINE_MAX ? (uint32_t)blen : 0;
    req.id = (uint64_t)pc__p_proc_self() << 32 |
             (__atomic_add_fetch(&pc__p_fs_asked, 1u, __ATOMIC_RELAXED));
    if (__atomic_load_n(&pc__p_fs_test_die_after_fork, __ATOMIC_RELAXED))
        req.flags = PC__FS_DIE_AFTER_FORK;
    *out_id = req.id;
    memcpy(rec->p, &req, hlen);
    if (pc__p_os_socketpair(st) || (!req.inline_len && pc__p_os_socketpair(bt))) {
        rc = pc__os_error("socketpair");
        goto fail;
    }
    if (!req.inline_len && (rc = pc__p_fs_boot_queue(bt[0], &boot, &body, fds, nfds)))
        goto fail;
    ask_fds[0] = st[1];
    ask_fds[1] = bt[1];
    rc = pc__p_fs_request_child(rec->p, req.inline_len ? rec->len : hlen, ask_fds,
                                req.inline_len ? 1 : 2, out_gen);
    pc__p_os_close(st[1]);
    pc__p_os_close(bt[1]);
    st[1] = bt[1] = -1;
    if (rc) goto fail;
    if (!req.inline_len) pc__p_fs_boot_finish(bt[0], &boot, fds, nfds);
    pc__p_os_close(bt[0]);
    bt[0] = -1;
    *out_pidfd = -1;
    rc = pc__p_recv_fds(st[0], out_pid, sizeof *out_pid, out_pidfd, &npidfd);
    if (npidfd == 0) *out_pidfd = -1;
    if (rc) goto fail;
    *out_st = st[0];
    return PC_OK;
fail:
    pc__p_os_close(st[0]);
    pc__p_os_close(st[1]);
    pc__p_os_close(bt[0]);
    pc__p_os_close(bt[1]);
    return rc;
}

static int pc__p_launch_forkserver(pc_process *p, const pc__p_funcref *ref) {
    int st = -1, pidfd = -1, rc;
    int64_t pid = 0;
    unsigned gen = 0;
    pc__p_buf body;
    memset(&body, 0, sizeof body);
    uint64_t id = 0;
    pc__p_fs_request room;          // filled in by pc__p_fs_ask
    memset(&room, 0, sizeof room);
    pc__p_buf_put(&body, &room, sizeof room);
    pc__p_boot_body_run(p, ref, &body);
    if (body.bad) { rc = PC_NOMEM; goto out; }
    // A request that went to a server dying with it is asked again, once,
    // of a new server, if that server had not forked for it yet (a child
    // it forked holds its bootstrap already and runs, unjoined).
    for (int attempt = 0; (rc = pc__p_fs_ask(&body, p->pack_fds, p->pack_nfds, &st, &pid,
                                             &pidfd, &gen, &id)) == PC_EOF;
         attempt++) {
        int again = 0;
        int died = pc__p_fs_server_died(gen, id, &again);
        if (attempt > 0 || !died || !again) {
            errno = ECONNREFUSED;
            rc = died && !again
                     ? pc__os_error("forkserver died as it started the child, which may run "
                                    "unjoined (not asked again: its target would run twice)")
                     : pc__os_error("forkserver gave no child (it refused the request or died)");
            break;
        }
    }
    if (rc) goto out;
    if (pid <= 0) { errno = (int)-pid; rc = pc__os_error("fork in forkserver"); goto out; }
    p->pid = (pid_t)pid;
    p->pidfd = pidfd;
    pidfd = -1;
    p->sentinel = st;
    p->sentinel_kind = PC__S_SERVER;
    st = -1;
out:
    pc__p_os_close(pidfd);
    pc__p_os_close(st);
    pc__free(body.p);
    return rc;
}

// The server: one thread, a table of live children and their status
// sockets, and one poll() over the channel and the children's pidfds: a
// child's end wakes the server once, which reaps that child (no SIGCHLD,
// no self-pipe to drain). Without pidfds a SIGCHLD handler pokes a
// self-pipe instead, and every ended child is reaped.
typedef struct pc__p_fs_child { pid_t pid; int status_fd, pidfd; } pc__p_fs_child;
typedef struct pc__p_fs_table {
    unsigned char *rec;         // a request's record: header and inline bootstrap
    pc__p_fs_child *kids;
    size_t n, cap;
    struct pollfd *pf;          // channel, self-pipe or pidfds, one per child
    size_t pf_cap;
    int use_pidfd;
    uint64_t *witness;          // shared with the spawning client (NULL: none)
} pc__p_fs_table;
static int pc__p_fs_wake[2] = {-1, -1};

static void pc__p_fs_on_sigchld(int sig) {
    int saved = errno;
    (void)sig;
    pc__p_os_poke(pc__p_fs_wake[1]);
    errno = saved;
}

// Tell child i's client its wait status and forget the child.
static void pc__p_fs_report(pc__p_fs_table *t, size_t i, int st) {
    int32_t s = (int32_t)st;
    pc__p_os_close(t->kids[i].pidfd);           // first: the client may count ours
    pc__p_os_write_buf(t->kids[i].status_fd, 1, &s, sizeof s);
    pc__p_os_close(t->kids[i].status_fd);
    t->kids[i] = t->kids[--t->n];
}

// Reap child i if it has ended (its pidfd was readable).
static void pc__p_fs_reap_one(pc__p_fs_table *t, size_t i) {
    int st;
    if (pc__p_os_waitpid(t->kids[i].pid, &st, 1) == t->kids[i].pid) pc__p_fs_report(t, i, st);
}

// Reap every child that has ended (after a SIGCHLD).
static void pc__p_fs_reap_all(pc__p_fs_table *t) {
    int st;
    pid_t pid;
    while ((pid = pc__p_os_waitpid(-1, &st, 1)) > 0) {
        for (size_t i = 0; i < t->n; i++) {
            if (t->kids[i].pid != pid) continue;
            pc__p_fs_report(t, i, st);
            break;
        }
    }
}

// In the child just forked: only its bootstrap socket, if any, stays, as
// descriptor 3 (dup2 closes what was there, close_range the rest). That
// socket came on the authenticated channel as a request's second one,
// which a client makes with socketpair(SOCK_STREAM): it is not probed
// (three system calls a start), only read. An inline bootstrap
// (inline_len bytes after the request in t->rec) is this process's own
// copy of the server's buffer: it is read in place, and freed as a
// socket's would be.
PC__P_NORETURN
static void pc__p_fs_become_child(const pc__p_fs_table *t, int boot_fd, size_t inline_len) {
    if (t->witness) pc__p_os_unmap(t->witness, sizeof *t->witness);
    if (!t->use_pidfd) pc__p_os_sig_handle(SIGCHLD, SIG_DFL);
    pc__p_os_sig_handle(SIGINT, SIG_DFL);
    if (boot_fd < 0) {
        pc__p_buf body;
        int rc = PC_OK;
        pc__p_os_close_from(PC__BOOT_FD);
        memset(&body, 0, sizeof body);
        body.p = t->rec;
        body.len = body.cap = sizeof(pc__p_fs_request) + inline_len;
        body.pos = sizeof(pc__p_fs_request);
        if (pc__p_buf_get_u32(&body) != PC__BOOT_MAGIC)
            rc = pc__error(PC_VALUE, "malformed bootstrap");
        pc__p_child_from_body(-1, SOCK_STREAM, rc, &body, NULL, 0);
    }
    if (boot_fd != PC__BOOT_FD) pc__p_os_dup_to(boot_fd, PC__BOOT_FD);
    pc__p_os_close_from(PC__BOOT_FD + 1);
    pc__p_child_from_socket_of(PC__BOOT_FD, SOCK_STREAM);
}

// Whether a request's record of r bytes is well formed, with nfds
// descriptors: a status socket and either an inline bootstrap or a
// bootstrap socket.
static int pc__p_fs_request_ok(const pc__p_fs_request *req, ssize_t r, size_t nfds) {
    if (r < (ssize_t)sizeof *req || req->magic != PC__FS_MAGIC) return 0;
    if (req->inline_len == 0) return r == (ssize_t)sizeof *req && nfds == 2;
    return req->inline_len <= PC__FS_INLINE_MAX && nfds == 1 &&
           r == (ssize_t)(sizeof *req + req->inline_len);
}

// One request from the authenticated channel: fork, hand back the pid
// (and a pidfd) on the status socket, which then waits for the status.
static void pc__p_fs_serve_one(int chan, pc__p_fs_table *t) {
    pc__p_fs_request req;
    int fds[2] = {-1, -1};
    size_t nfds = 0;
    // A record longer than the buffer is cut short, and so refused below.
    ssize_t r = pc__p_recv_some_fds(chan, t->rec, sizeof req + PC__FS_INLINE_MAX, fds, 2,
                                    &nfds);
    if (r == 0) pc__p_os_exit(0);               // every client is gone
    if (r < 0) return;
    memset(&req, 0, sizeof req);
    if (r >= (ssize_t)sizeof req) memcpy(&req, t->rec, sizeof req);
    if (!pc__p_fs_request_ok(&req, r, nfds)) {  // not one of ours: drop it
        for (size_t i = 0; i < nfds; i++) pc__p_os_close(fds[i]);
        return;
    }
    if (pc__grow(&t->kids, &t->cap, t->n + 1, sizeof *t->kids, 0) ||
        pc__grow(&t->pf, &t->pf_cap, t->n + 3, sizeof *t->pf, 0)) {
        pc__p_os_close(fds[0]);
        pc__p_os_close(fds[1]);
        return;
    }
    if (t->witness) __atomic_store_n(t->witness, req.id, __ATOMIC_SEQ_CST);
    pid_t pid = pc__p_os_fork();
    if (pid == 0) pc__p_fs_become_child(t, fds[1], req.inline_len);
    if (pid > 0 && (req.flags & PC__FS_DIE_AFTER_FORK)) pc__p_os_exit(1);
    int64_t reply = pid < 0 ? -(int64_t)errno : (int64_t)pid;
    // The pidfd, opened before this loop can reap the child, lets the
    // client signal it without hitting a recycled pid; the server keeps
    // its own, to learn of the child's end. A child it cannot watch is
    // a failed start (out of descriptors, say).
    int pidfd = pid > 0 ? pc__p_os_pidfd_open(pid) : -1;
    if (pid > 0 && pidfd < 0 && t->use_pidfd) {
        reply = -(int64_t)errno;
        pc__p_os_kill_reap(pid);
        pid = -1;
    }
    pc__p_send_fds(fds[0], &reply, sizeof reply, &pidfd, pidfd >= 0 ? 1 : 0);
    pc__p_os_close(fds[1]);
    if (pid < 0) {
        pc__p_os_close(fds[0]);
        return;
    }
    if (!t->use_pidfd) {
        pc__p_os_close(pidfd);
        pidfd = -1;
    }
    t->kids[t->n].pid = pid;
    t->kids[t->n].status_fd = fds[0];
    t->kids[t->n++].pidfd = pidfd;
}

// Wait for a request or a child's end, and handle what came.
static void pc__p_fs_serve(int chan, pc__p_fs_table *t) {
    size_t np = 0;
    t->pf[np].fd = chan;
    t->pf[np++].events = POLLIN;
    if (!t->use_pidfd) {
        t->pf[np].fd = pc__p_fs_wake[0];
        t->pf[np++].events = POLLIN;
    }
    for (size_t i = 0; t->use_pidfd && i < t->n; i++) {
        // A child whose pidfd could not be opened shows in no poll: -1 is skipped.
        t->pf[np].fd = t->kids[i].pidfd;
        t->pf[np++].events = POLLIN;
    }
    for (size_t i = 0; i < np; i++) t->pf[i].revents = 0;
    if (pc__p_os_poll(t->pf, np, INFINITY) == PC_OS) pc__p_os_exit(1);
    if (!t->use_pidfd && t->pf[1].revents) {
        pc__p_os_drain(pc__p_fs_wake[0]);
        pc__p_fs_reap_all(t);
    }
    // Backwards: reaping child i moves the last one into slot i.
    for (size_t i = t->use_pidfd ? t->n : 0; i-- > 0;)
        if (t->pf[1 + i].revents) pc__p_fs_reap_one(t, i);
    if (t->pf[0].revents) pc__p_fs_serve_one(chan, t);
}

// >>C.forkserver-preload
static int pc__p_fs_preload_one(pc__p_buf *b) {
    pc__p_funcref ref;
    pc_target_fn fn;
    unsigned kind = pc__p_buf_get_u8(b);
    pc__p_funcref_get(b, &ref);
    if (b->bad || (kind != PC__PRE_LIBRARY && kind != PC__PRE_FUNCTION))
        return pc__error(PC_VALUE, "malformed preload list");
    if (kind == PC__PRE_LIBRARY) return pc__p_funcref_dlopen(&ref);
    int rc = pc__p_funcref_resolve(&ref, &fn);
    if (rc) return rc;
    if ((rc = fn(NULL)) != 0)
        return pc__error(PC_RUNTIME, "preload function %s+0x%llx returned %d",
                         ref.is_main ? "<main>" : ref.path, (unsigned long long)ref.offset, rc);
    return PC_OK;
}

// In the server, once, before any fork: load and run the list, then tell
// the client how it went (one record). A failure with PC_PRELOAD_FAIL
// ends the server; with PC_PRELOAD_WARN it is logged.
static void pc__p_fs_run_preload(int chan, pc__p_buf *b) {
    char rec[600];
    uint32_t n = b->len ? pc__p_buf_get_u32(b) : 0;
    unsigned on_error = b->len ? (unsigned)b->p[b->len - 1] : (unsigned)PC_PRELOAD_IGNORE;
    for (uint32_t i = 0; i < n && !b->bad; i++) {
        if (!pc__p_fs_preload_one(b)) continue;
        if (on_error == PC_PRELOAD_FAIL) {
            snprintf(rec, sizeof rec, "%s%s", PC__FS_PRELOAD_FAILED, pc_last_error());
            pc__p_os_write_buf(chan, 1, rec, strlen(rec));
            pc__p_os_exit(1);
        }
        if (on_error == PC_PRELOAD_WARN)
            pc__p_log(PC_LOG_WARNING, "forkserver preload: %s", pc_last_error());
    }
    pc__p_os_write_buf(chan, 1, PC__FS_PRELOAD_OK, strlen(PC__FS_PRELOAD_OK));
}

static void pc__p_forkserver_main(int chan, int witness_fd, const unsigned char *key,
                                  size_t keylen, pc__p_buf *preload) {
    pc__p_fs_table t;
    memset(&t, 0, sizeof t);
    if (witness_fd >= 0) {
        uint64_t size = 0;
        if (pc__p_os_fd_size(witness_fd, &size) == PC_OK && size == sizeof *t.witness)
            t.witness = (uint64_t *)pc__p_os_map_shared(witness_fd, sizeof *t.witness);
        pc__p_os_close(witness_fd);
    }
    t.use_pidfd = pc__p_os_have_pidfd();
    if (!t.use_pidfd) {
        if (pc__p_os_wake_pipe(pc__p_fs_wake) < 0) pc__p_os_exit(1);
        pc__p_os_on_sigchld(pc__p_fs_on_sigchld);
    }
    pc__p_os_sig_handle(SIGINT, SIG_IGN);   // ^C is for the program's processes, not for us
    if (pc__grow(&t.pf, &t.pf_cap, 2, sizeof *t.pf, 0)) pc__p_os_exit(1);
    t.rec = (unsigned char *)pc__malloc(sizeof(pc__p_fs_request) + PC__FS_INLINE_MAX);
    if (!t.rec) pc__p_os_exit(1);
    // The channel's one handshake (challenge, then answer: Python's
    // Listener order); no request is read before both sides are welcomed.
    if (pc__p_fs_auth_challenge(chan, key, keylen) || pc__p_fs_auth_answer(chan, key, keylen))
        pc__p_os_exit(1);
    pc__p_fs_run_preload(chan, preload);
    for (;;) pc__p_fs_serve(chan, &t);
}

// >>C.start
static int pc__p_proc_exitcode_of(int status) {
    if (WIFEXITED(status)) return WEXITSTATUS(status);
    if (WIFSIGNALED(status)) return -WTERMSIG(status);
    return 255;
}

// Publish the exit code (p->mu held). reaped is written only here, and
// read lock-free by join, is_alive and exitcode: the release store pairs
// with their acquire loads, so whoever sees reaped sees the code.
static void pc__p_proc_set_reaped(pc_process *p, int exitcode) {
    p->exitcode = exitcode;
    __atomic_store_n(&p->reaped, 1, __ATOMIC_RELEASE);
}

static int pc__p_proc_reaped(const pc_process *p) {
    return __atomic_load_n(&p->reaped, __ATOMIC_ACQUIRE);
}

// Collect the exit status if the child has ended. Returns 1 when this
// call reaped it (the caller then drops it from the registry).
static int pc__p_proc_poll(pc_process *p) {
    int just = 0, st = 0;
    // A join blocked in waitpid holds reaping and publishes the status
    // itself. Once the child has ended (its sentinel is readable) that is
    // a moment away: wait for it, rather than call a dead child alive.
    if (pc_lock_acquire(&p->reaping, 0) != PC_OK) {
        if (!pc__p_os_readable_now(p->sentinel)) return 0;
        pc_lock_acquire(&p->reaping, PC_FOREVER);
    }
    pc_lock_acquire(&p->mu, PC_FOREVER);
    // started: the registry holds p a moment before start publishes it.
    if (!p->reaped && __atomic_load_n(&p->started, __ATOMIC_ACQUIRE) && p->sentinel >= 0) {
        if (p->sentinel_kind == PC__S_SERVER) {
            if (pc__p_os_readable_now(p->sentinel)) {
                int32_t s;
                // No status means the server died: 255, as Python.
                pc__p_proc_set_reaped(p, pc__p_os_read_all(p->sentinel, &s, sizeof s, 1)
                                             ? 255 : pc__p_proc_exitcode_of(s));
                just = 1;
                pc__p_os_close(p->pidfd);
                p->pidfd = -1;
            }
        } else {
            // A pipe sentinel becomes readable an instant before the child
            // can be waited for: then wait for it for real.
            int block = p->sentinel_kind == PC__S_PIPE && pc__p_os_readable_now(p->sentinel);
            pid_t r;
            r = pc__p_os_waitpid(p->pid, &st, !block);
            // r < 0: someone else waited for it (ECHILD): 255.
            if (r != 0) {
                pc__p_proc_set_reaped(p, r == p->pid ? pc__p_proc_exitcode_of(st) : 255);
                just = 1;
            }
        }
    }
    pc_lock_release(&p->mu);
    pc_lock_release(&p->reaping);
    return just;
}

// Wait for a child with one blocking call, as a raw fork + waitpid does
// (no poll first, no WNOWAIT wait before the real one): waitpid for a
// pidfd sentinel, a read of the status for a forkserver child. reaping
// is held meanwhile, so no other thread can take the status (a
// pc__p_proc_poll waits for this one instead); mu is not, so signals
// still go out, through the pidfd, which cannot reach a recycled pid.
// Returns 1 when this call reaped it.
static int pc__p_proc_wait_blocking(pc_process *p) {
    int just = 0, code, st = 0;
    pc_lock_acquire(&p->reaping, PC_FOREVER);
    if (!pc__p_proc_reaped(p)) {
        if (p->sentinel_kind == PC__S_SERVER) {
            int32_t s;
            // No status means the server died: 255, as Python.
            code = pc__p_os_read_all(p->sentinel, &s, sizeof s, 1) ? 255
                                                                    : pc__p_proc_exitcode_of(s);
        } else {
            pid_t r = pc__p_os_waitpid(p->pid, &st, 0);
            // r < 0: someone else waited for it (ECHILD): 255.
            code = r == p->pid ? pc__p_proc_exitcode_of(st) : 255;
        }
        pc_lock_acquire(&p->mu, PC_FOREVER);
        pc__p_proc_set_reaped(p, code);
        pc__p_os_close(p->pidfd);
        p->pidfd = -1;
        pc_lock_release(&p->mu);
        just = 1;
    }
    pc_lock_release(&p->reaping);
    return just;
}

static void pc__p_proc_unregister(pc_process *p) {
    int linked = 0;
    pc_lock_acquire(&pc__p_proc_lock, PC_FOREVER);
    if (pc__list_is_linked(&pc__p_proc_children, &p->reg)) {
        pc__list_remove(&pc__p_proc_children, &p->reg);
        linked = 1;
    }
    pc_lock_release(&pc__p_proc_lock);
    if (linked) pc__p_proc_release(p);
}

// Log the end of a child this call reaped, and drop it from the registry.
static void pc__p_proc_ended(pc_process *p) {
    pc__p_log(PC_LOG_DEBUG, "%s (pid %ld) ended with exitcode %d", p->name, (long)p->pid,
              p->exitcode);
    pc__p_proc_unregister(p);
}

static int pc__p_proc_reap(pc_process *p) {
    if (pc__p_proc_poll(p)) pc__p_proc_ended(p);
    return pc__p_proc_reaped(p);
}

// New references to this process's registered children (*out, malloc'd).
static size_t pc__p_proc_snapshot(pc_process ***out) {
    size_t n = 0;
    *out = NULL;
    pc_lock_acquire(&pc__p_proc_lock, PC_FOREVER);
    // No system call when there are none (a child's usual exit).
    pid_t me = pc__p_proc_children.head ? pc__p_proc_self() : 0;
    pc__link *x;
    for (x = pc__p_proc_children.head; x; x = x->next)
        n += PC__CONTAINER(x, pc_process, reg)->owner == me;
    pc_process **arr = n ? (pc_process **)pc__calloc(n, sizeof *arr) : NULL;
    size_t k = 0;
    for (x = pc__p_proc_children.head; arr && x; x = x->next) {
        pc_process *c = PC__CONTAINER(x, pc_process, reg);
        if (c->owner == me) arr[k++] = pc_process_retain(c);
    }
    pc_lock_release(&pc__p_proc_lock);
    *out = arr;
    return k;
}

static void pc__p_proc_reap_finished(void) {
    pc_process **kids;
    size_t n = pc__p_proc_snapshot(&kids);
    for (size_t i = 0; i < n; i++) {
        pc__p_proc_reap(kids[i]);
        pc__p_proc_release(kids[i]);
    }
    pc__free(kids);
}

// Python's util._exit_function: terminate daemonic children, then join all.
static void pc__p_proc_exit_function(void) {
    pc_process **kids;
    size_t n = pc__p_proc_snapshot(&kids);
    for (size_t i = 0; i < n; i++)
        if (kids[i]->daemon) pc_process_terminate(kids[i]);
    for (size_t i = 0; i < n; i++) {
        pc_process_join(kids[i], PC_FOREVER);
        pc__p_proc_release(kids[i]);
    }
    pc__free(kids);
}

static int pc__p_proc_check_started(const pc_process *p, const char *what) {
    if (!p) return pc__error(PC_VALUE, "%s: process is NULL", what);
    if (p->closed) return pc__error(PC_VALUE, "%s: process object is closed", what);
    if (p->kind != PC__P_CHILD) return pc__error(PC_RUNTIME, "%s: not a child process", what);
    if (!__atomic_load_n(&p->started, __ATOMIC_ACQUIRE))
        return pc__error(PC_RUNTIME, "%s: process has not been started", what);
    return PC_OK;
}

static int pc__p_proc_launch(pc_process *p, pc_start_method m) {
    pc__p_funcref ref;
    if (m != PC_START_FORK && pc__p_os_secure_exec())
        return pc__error(PC_RUNTIME, "the %s start method cannot be used in a set-user-ID, "
                                     "set-group-ID or file-capability program, or with "
                                     "effective ids other than the real ones (its child would "
                                     "refuse the bootstrap); use the fork start method",
                         pc_start_method_name(m));
    if (m != PC_START_FORK) {
        if (p->arg_kind == PC__ARG_POINTER)
            return pc__error(PC_VALUE, "arg_size 0 passes a pointer, which only the fork "
                                       "start method can do; give arg_size or use args");
        int rc = pc__p_funcref_locate(p->target, &ref);
        if (rc) return rc;
    }
    switch (m) {
    case PC_START_FORK: return pc__p_launch_fork(p);
    case PC_START_SPAWN: return pc__p_launch_spawn(p, &ref);
    case PC_START_FORKSERVER: return pc__p_launch_forkserver(p, &ref);
    default: return pc__error(PC_VALUE, "unknown start method %d", (int)m);
    }
}

PYCONC_API int pc_process_start(pc_process *p) {
    if (!p) return pc__error(PC_VALUE, "process is NULL");
    if (p->kind != PC__P_CHILD)
        return pc__error(PC_RUNTIME, "cannot start the current or parent process");
    if (p->closed) return pc__error(PC_VALUE, "process object is closed");
    if (__atomic_exchange_n(&p->owner, pc__p_proc_self(), __ATOMIC_ACQ_REL) != 0)
        return pc__error(PC_RUNTIME, "cannot start a process twice");
    if (pc__p_proc_current->daemon) {
        p->owner = 0;
        return pc__error(PC_RUNTIME, "daemonic processes are not allowed to have children");
    }
    p->owner_start = pc__p_proc_self_start();
    pc_start_method m = pc__p_resolve_method(p->context);
    pc__p_proc_reap_finished();   // Python's _cleanup()
    int rc = pc__p_proc_launch(p, m);
    if (rc) {
        __atomic_store_n(&p->owner, 0, __ATOMIC_RELEASE);
        return rc;
    }
    p->method = m;
    for (size_t i = 0; i < p->pack_nfds; i++) pc__p_os_close(p->pack_fds[i]);  // the child has them
    p->pack_nfds = 0;
    pc__p_proc_drop_keep(p, (long)p->pid);
    pc_lock_acquire(&pc__p_proc_lock, PC_FOREVER);
    pc__list_push_front(&pc__p_proc_children, &pc_process_retain(p)->reg);
    pc_lock_release(&pc__p_proc_lock);
    __atomic_store_n(&p->started, 1, __ATOMIC_RELEASE);
    pc__p_log(PC_LOG_DEBUG, "started %s (pid %ld, %s)", p->name, (long)p->pid,
              pc_start_method_name(m));
    return PC_OK;
}

PYCONC_API int pc_process_join(pc_process *p, double timeout) {
    double deadline = 0;
    int rc = pc__p_proc_check_started(p, "join");
    if (rc) return rc;
    if ((rc = pc__deadline(timeout, &deadline))) return rc;
    if (p->owner != pc__p_proc_self())
        return pc__error(PC_RUNTIME, "can only join a child process");
    if (deadline == INFINITY &&
        (p->sentinel_kind == PC__S_PIDFD || p->sentinel_kind == PC__S_SERVER)) {
        if (pc__p_proc_wait_blocking(p)) pc__p_proc_ended(p);
        return PC_OK;
    }
    while (!pc__p_proc_reap(p)) {
        if (deadline == INFINITY) {
            // Sleep in the kernel until the child ends, without reaping it
            // (WNOWAIT): one wake-up fewer than poll() then waitpid().
            if (pc__p_os_wait_exit(p->pid) == 0 || errno == EINTR) continue;
        }
        rc = pc__p_os_wait_readable(p->sentinel, deadline);
        if (rc == PC_TIMEOUT)
            return pc__p_proc_reap(p) ? PC_OK : pc__error(PC_TIMEOUT, "join timed out");
        if (rc) return rc;
    }
    return PC_OK;
}

PYCONC_API int pc_process_is_alive(pc_process *p) {
    if (!p) return 0;
    if (p->kind == PC__P_CURRENT) return 1;
    if (p->kind == PC__P_PARENT) {
        if (p->sentinel >= 0) return !pc__p_os_readable_now(p->sentinel);
        return pc__p_proc_parent_alive(p);
    }
    if (p->closed || !__atomic_load_n(&p->started, __ATOMIC_ACQUIRE) ||
        p->owner != pc__p_proc_self())
        return 0;
    return !pc__p_proc_reap(p);
}

PYCONC_API int pc_process_exitcode(pc_process *p) {
    if (!p || p->closed) {
        pc__error(PC_VALUE, "exitcode: process is NULL or closed");
        return PC_EXITCODE_NONE;
    }
    if (p->kind != PC__P_CHILD || !__atomic_load_n(&p->started, __ATOMIC_ACQUIRE))
        return PC_EXITCODE_NONE;
    if (p->owner == pc__p_proc_self()) pc__p_proc_reap(p);
    return pc__p_proc_reaped(p) ? p->exitcode : PC_EXITCODE_NONE;
}

PYCONC_API long pc_process_pid(const pc_process *p) {
    if (!p) return 0;
    if (p->kind == PC__P_CURRENT) return (long)pc__p_proc_self();
    return (long)p->pid;
}

PYCONC_API int pc_process_sentinel(const pc_process *p) {
    if (!p || p->closed || (p->kind == PC__P_CHILD && !p->started)) {
        pc__error(PC_VALUE, "sentinel: process is NULL, closed or not started");
        return -1;
    }
    return p->sentinel;
}

static int pc__p_proc_send(pc_process *p, int sig, const char *what) {
    int rc = pc__p_proc_check_started(p, what);
    if (rc) return rc;
    pc_lock_acquire(&p->mu, PC_FOREVER);
    // Holding mu keeps the child from being reaped meanwhile, so its pid
    // cannot be recycled under us (forkserver children: the server reaps).
    if (!p->reaped) {
        int pidfd = p->sentinel_kind == PC__S_PIDFD ? p->sentinel : p->pidfd;
        if (pc__p_os_signal(p->pid, pidfd, sig) < 0 && errno != ESRCH) rc = pc__os_error(what);
    }
    pc_lock_release(&p->mu);
    return rc;
}

PYCONC_API int pc_process_terminate(pc_process *p) {
    return pc__p_proc_send(p, SIGTERM, "terminate");
}
PYCONC_API int pc_process_kill(pc_process *p) { return pc__p_proc_send(p, SIGKILL, "kill"); }
PYCONC_API int pc_process_interrupt(pc_process *p) {
    return pc__p_proc_send(p, SIGINT, "interrupt");
}

PYCONC_API int pc_process_close(pc_process *p) {
    if (!p) return pc__error(PC_VALUE, "close: process is NULL");
    if (p->kind != PC__P_CHILD) return pc__error(PC_VALUE, "close: not a child process");
    if (p->closed) return PC_OK;
    if (p->started && p->owner == pc__p_proc_self()) pc__p_proc_reap(p);
    pc_lock_acquire(&p->mu, PC_FOREVER);
    int running = p->started && !p->reaped;
    if (!running) {
        if (p->sentinel >= 0) pc__p_os_close(p->sentinel);
        p->sentinel = -1;
        p->closed = 1;
    }
    pc_lock_release(&p->mu);
    if (running)
        return pc__error(PC_VALUE, "Cannot close a process while it is still running. "
                                   "You should first call join() or terminate().");
    pc__p_proc_unregister(p);
    return PC_OK;
}

// >>C.attributes
PYCONC_API const char *pc_process_name(const pc_process *p) { return p ? p->name : ""; }

PYCONC_API int pc_process_set_name(pc_process *p, const char *name) {
    if (!p || !name) return pc__error(PC_VALUE, "set_name: process or name is NULL");
    char *copy = pc__strdup(name);
    if (!copy) return PC_NOMEM;
    pc_lock_acquire(&p->mu, PC_FOREVER);
    char *old = p->name;
    p->name = copy;
    pc_lock_release(&p->mu);
    pc__free(old);
    return PC_OK;
}

PYCONC_API int pc_process_daemon(const pc_process *p) { return p ? p->daemon : 0; }

PYCONC_API int pc_process_set_daemon(pc_process *p, int daemon) {
    if (!p) return pc__error(PC_VALUE, "set_daemon: process is NULL");
    if (p->kind == PC__P_CHILD && (p->owner || p->started))
        return pc__error(PC_RUNTIME, "process has already started");
    p->daemon = daemon != 0;
    return PC_OK;
}

PYCONC_API const unsigned char *pc_process_authkey(const pc_process *p, size_t *out_len) {
    if (out_len) *out_len = p ? p->authkey_len : 0;
    return p ? p->authkey : NULL;
}

PYCONC_API int pc_process_set_authkey(pc_process *p, const void *key, size_t len) {
    if (!p || !key || len == 0 || len > PC_AUTHKEY_MAX)
        return pc__error(PC_VALUE, "authkey must be 1 to %d bytes", PC_AUTHKEY_MAX);
    pc_lock_acquire(&p->mu, PC_FOREVER);
    memcpy(p->authkey, key, len);
    p->authkey_len = len;
    pc_lock_release(&p->mu);
    return PC_OK;
}

PYCONC_API pc_start_method pc_process_start_method(const pc_process *p) {
    if (!p) return PC_START_DEFAULT;
    return p->started ? p->method : pc__p_resolve_method(p->context);
}

// >>C.module
PYCONC_API pc_process *pc_process_current(void) {
    pc__p_proc_init();
    return pc__p_proc_current;
}

// The parent's sentinel, opened on first use (a child that never asks
// holds no descriptor for it): a pidfd, kept only if the pid was still
// the parent's after it was opened (a living parent was living before,
// so the pidfd is its). A parent already gone gets a pipe whose other end
// is closed: ready at once, as its pidfd would be. Called under par->mu.
static void pc__p_proc_parent_sentinel(pc_process *par) {
    int fd = pc__p_os_pidfd_open(par->pid), ends[2];
    if (fd >= 0 && pc__p_proc_parent_alive(par)) {
        par->sentinel = fd;
        par->sentinel_kind = PC__S_PIDFD;
        return;
    }
    if (fd >= 0) pc__p_os_close(fd);
    else if (errno != ESRCH) return;        // no descriptor to be had: asked again later
    if (pc__p_os_pipe(ends) < 0) return;
    pc__p_os_close(ends[1]);
    par->sentinel = ends[0];
    par->sentinel_kind = PC__S_PIPE;
}

PYCONC_API pc_process *pc_process_parent(void) {
    pc__p_proc_init();
    pc_process *par = pc__p_proc_parent;
    if (par) {
        pc_lock_acquire(&par->mu, PC_FOREVER);
        if (par->sentinel < 0 && pc__p_os_have_pidfd()) pc__p_proc_parent_sentinel(par);
        pc_lock_release(&par->mu);
    }
    return par;
}

PYCONC_API size_t pc_process_active_children(pc_process **out, size_t cap) {
    pc_process **kids;
    pc__p_proc_init();
    pc__p_proc_reap_finished();
    size_t n = pc__p_proc_snapshot(&kids), alive = 0;
    for (size_t i = 0; i < n; i++) {
        if (pc__p_proc_reap(kids[i])) { pc__p_proc_release(kids[i]); continue; }
        if (out && alive < cap) out[alive] = kids[i];
        else pc__p_proc_release(kids[i]);
        alive++;
    }
    pc__free(kids);
    return alive;
}

// >>D.object: a shared object, its mapping, its holders
// Every object of this part is a mapping of its own: a header (what it is,
// who holds it), then its body at PC__SHARED_BODY. Nothing in it is a
// pointer: each process maps it where it likes.
#define PC__SHARED_MAGIC 0x50434431u        // "PCD1"
#define PC__HOLDERS 64

// A process that holds the object: its pid, its start time (so that a
// reused pid is not taken for it), and how many handles it has. refs may
// go negative for a while: a child can free its handle before its parent
// has counted it (pc__p_handle_ops.watch); the two meet at zero.
typedef struct pc__p_holder {
    int32_t pid;
    int32_t refs;
    uint64_t start;
} pc__p_holder;

typedef struct pc__p_shead {
    uint32_t magic;
    uint32_t type;              // the pc_arg_type of the object
    uint64_t size;              // bytes mapped
    uint64_t body_size;         // bytes of the body in use
    pthread_mutex_t holders_mu; // robust, process-shared
    pc__p_holder holders[PC__HOLDERS];
} pc__p_shead;
#define PC__SHARED_BODY ((sizeof(pc__p_shead) + 63) & ~(size_t)63)

// This process's mapping of one object. Handles and kept tokens share it.
typedef struct pc__p_seg {
    int fd;
    unsigned char *base;
    size_t size;
    uint32_t refs;
} pc__p_seg;

// A handle: what pc_mp_lock * and the others point at.
typedef struct pc__p_obj {
    pc_arg_type type;
    uint64_t id;                // registry: handles freed since are told apart
    pc__link reg;
    pc__p_seg *seg;
    void *body;                 // inside seg
    int counted;                // this handle counts among our holder refs
    struct pc__p_obj *sub;      // a condition's or value's lock of its own choosing
    pc_target_fn action;        // a barrier's, found in this process
    int action_state;           // 0: not looked up, 1: found, -1: failed
    int closed;                 // a queue's handle: closed, puts no more
    unsigned put_gen;           // a queue's handle: the fork generation that noted
                                // this process among its producers (0: none yet)
    unsigned get_gen;           // the same among its consumers,
    int get_slot;               // at this entry of their table (-1: the table was full)
    int nxfd;                   // descriptors it carries beside its memory (a queue's
    int xfd[2];                 // record socket pair), owned by the handle
} pc__p_obj;

static const char *pc__p_type_name(pc_arg_type type) {
    switch (type) {
    case PC_ARG_MP_LOCK: return "Lock";
    case PC_ARG_MP_RLOCK: return "RLock";
    case PC_ARG_MP_SEMAPHORE: return "Semaphore";
    case PC_ARG_MP_CONDITION: return "Condition";
    case PC_ARG_MP_EVENT: return "Event";
    case PC_ARG_MP_BARRIER: return "Barrier";
    case PC_ARG_MP_VALUE: return "Value";
    case PC_ARG_MP_ARRAY: return "Array";
    case PC_ARG_SHARED_MEMORY: return "SharedMemory";
    case PC_ARG_MP_QUEUE: return "Queue";
    default: return "object";
    }
}

// The handles alive in this process, to refuse one freed since it went
// into a pack. The lock is taken around fork (PC__PHASE_SHARED).
static pc_lock pc__p_reg_lock = PC_LOCK_INIT;
static pc__list pc__p_reg = PC__LIST_INIT;
static uint64_t pc__p_reg_next_id;

static void pc__p_reg_add(pc__p_obj *o) {
    pc_lock_acquire(&pc__p_reg_lock, PC_FOREVER);
    o->id = ++pc__p_reg_next_id;
    pc__list_push_back(&pc__p_reg, &o->reg);
    pc_lock_release(&pc__p_reg_lock);
}

static void pc__p_reg_remove(pc__p_obj *o) {
    pc_lock_acquire(&pc__p_reg_lock, PC_FOREVER);
    if (pc__list_is_linked(&pc__p_reg, &o->reg)) pc__list_remove(&pc__p_reg, &o->reg);
    o->id = 0;
    pc_lock_release(&pc__p_reg_lock);
}

// Whether obj is a live handle, the one that had id.
static int pc__p_reg_live(const void *obj, uint64_t id) {
    int live = 0;
    pc_lock_acquire(&pc__p_reg_lock, PC_FOREVER);
    for (pc__link *l = pc__p_reg.head; l && !live; l = l->next)
        live = (const void *)PC__CONTAINER(l, pc__p_obj, reg) == obj &&
               PC__CONTAINER(l, pc__p_obj, reg)->id == id;
    pc_lock_release(&pc__p_reg_lock);
    return live;
}

// >>D.mutex: the robust process-shared mutex every lock here is made of
// glibc keeps each thread's robust list, so only a pthread mutex can be
// robust: the kernel marks it when its owner dies, and the next locker is
// told (EOWNERDEAD) instead of waiting for ever.
static int pc__p_mutex_init(pthread_mutex_t *m) {
    pthread_mutexattr_t a;
    int rc = pthread_mutexattr_init(&a);
    if (rc) return rc;
    rc = pthread_mutexattr_setpshared(&a, PTHREAD_PROCESS_SHARED);
    if (!rc) rc = pthread_mutexattr_setrobust(&a, PTHREAD_MUTEX_ROBUST);
    if (!rc) rc = pthread_mutex_init(m, &a);
    pthread_mutexattr_destroy(&a);
    return rc;
}

// ThreadSanitizer (gcc 12, clang 14) does not know pthread_mutex_clocklock:
// a lock taken with it looks free to it, so there the timed wait takes
// the portable path.
#if defined(__SANITIZE_THREAD__)
#define PC__TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define PC__TSAN 1
#endif
#endif
#if defined(__GLIBC__) && (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 30)) && \
    !defined(PC__TSAN)
#define PC__HAVE_CLOCKLOCK 1    // pthread_mutex_clocklock: a monotonic deadline
#else
#define PC__HAVE_CLOCKLOCK 0
#endif

// Lock m by deadline (monotonic seconds; INFINITY: none; passed: try once).
// Returns 0, EOWNERDEAD (locked; the owner died), ENOTRECOVERABLE,
// ETIMEDOUT, or another error number.
static int pc__p_mutex_lock_by(pthread_mutex_t *m, double deadline);

static inline int pc__p_mutex_lock(pthread_mutex_t *m, double deadline) {
    return isinf(deadline) ? pthread_mutex_lock(m) : pc__p_mutex_lock_by(m, deadline);
}

static int pc__p_mutex_lock_by(pthread_mutex_t *m, double deadline) {
    int rc = pthread_mutex_trylock(m);
    if (rc != EBUSY) return rc;
    for (;;) {
        double now = pc_monotonic();
        if (now >= deadline) return ETIMEDOUT;
        struct timespec ts;
#if PC__HAVE_CLOCKLOCK
        pc__timespec(deadline, &ts);
        rc = pthread_mutex_clocklock(m, CLOCK_MONOTONIC, &ts);
        if (rc != ETIMEDOUT) return rc;
#else
        // Only a wall-clock deadline here: take it in short steps, each
        // measured afresh, so that a clock jump costs at most one step.
        double step = deadline - now < 0.05 ? deadline - now : 0.05;
        pc__timespec(pc__p_os_wall_time() + step, &ts);
        rc = pthread_mutex_timedlock(m, &ts);
        if (rc != ETIMEDOUT) return rc;
#endif
    }
}

// Lock an internal mutex (a holder table, a barrier's state) for a short
// step. A dead owner left at most that step half done, which each user
// tolerates: the mutex is made consistent and *out_died says so.
static void pc__p_mutex_enter(pthread_mutex_t *m, int *out_died) {
    int rc = pthread_mutex_lock(m);
    if (rc == EOWNERDEAD) {
        pthread_mutex_consistent(m);
        if (out_died) *out_died = 1;
    }
}

// >>D.holders: which processes hold an object (for death detection)
static void pc__p_holders_add(pc__p_shead *h, int32_t pid, uint64_t start, int32_t n) {
    pc__p_holder *free_slot = NULL;
    pc__p_mutex_enter(&h->holders_mu, NULL);
    for (int i = 0; i < PC__HOLDERS; i++) {
        pc__p_holder *s = &h->holders[i];
        if (s->pid == pid && s->refs != 0) {
            s->refs += n;
            if (s->refs == 0) s->pid = 0;
            pthread_mutex_unlock(&h->holders_mu);
            return;
        }
        if (!free_slot && s->refs == 0) free_slot = s;
    }
    if (free_slot) {            // full: the process is not watched
        free_slot->pid = pid;
        free_slot->start = start;
        free_slot->refs = n;
    }
    pthread_mutex_unlock(&h->holders_mu);
}

// A holder that ended without letting go (killed, or exited holding a
// handle): its pid, after taking it off the table; 0 when all are alive.
static long pc__p_holders_find_dead(pc__p_shead *h) {
    long dead = 0;
    int32_t self = (int32_t)pc__p_os_getpid();
    pc__p_mutex_enter(&h->holders_mu, NULL);
    for (int i = 0; i < PC__HOLDERS && !dead; i++) {
        pc__p_holder *s = &h->holders[i];
        if (s->refs <= 0 || s->pid == self) continue;
        if (!pc__p_os_pid_alive((pid_t)s->pid, s->start)) {
            dead = s->pid;
            s->pid = 0;
            s->refs = 0;
        }
    }
    pthread_mutex_unlock(&h->holders_mu);
    return dead;
}

// The calling process's start time, read once per process.
static uint64_t pc__p_self_start;
static int32_t pc__p_self_start_pid;

static uint64_t pc__p_holders_self_start(void) {
    int32_t pid = (int32_t)pc__p_os_getpid();
    if (__atomic_load_n(&pc__p_self_start_pid, __ATOMIC_ACQUIRE) != pid) {
        __atomic_store_n(&pc__p_self_start, pc__p_os_pid_start((pid_t)pid), __ATOMIC_RELAXED);
        __atomic_store_n(&pc__p_self_start_pid, pid, __ATOMIC_RELEASE);
    }
    return __atomic_load_n(&pc__p_self_start, __ATOMIC_RELAXED);
}

static void pc__p_holders_self(pc__p_shead *h, int32_t n) {
    pc__p_holders_add(h, (int32_t)pc__p_os_getpid(), pc__p_holders_self_start(), n);
}

// >>D.segment: making, mapping and letting go of an object's memory
static void pc__p_seg_release(pc__p_seg *s) {
    if (!s || __atomic_sub_fetch(&s->refs, 1, __ATOMIC_ACQ_REL) != 0) return;
    pc__p_os_unmap(s->base, s->size);
    pc__p_os_close(s->fd);
    pc__free(s);
}

static pc__p_seg *pc__p_seg_retain(pc__p_seg *s) {
    __atomic_add_fetch(&s->refs, 1, __ATOMIC_RELAXED);
    return s;
}

// Map fd (taken over, closed on failure) as a segment of size bytes.
static pc__p_seg *pc__p_seg_map(int fd, size_t size) {
    pc__p_seg *s = (pc__p_seg *)pc__calloc(1, sizeof *s);
    void *base = s ? pc__p_os_map_shared(fd, size) : NULL;
    if (!base) {
        if (s) pc__os_error("mmap");
        pc__free(s);
        pc__p_os_close(fd);
        return NULL;
    }
    s->fd = fd;
    s->base = (unsigned char *)base;
    s->size = size;
    s->refs = 1;
    return s;
}

static void pc__p_shared_init(void);

// A new object of type with body_size bytes of body (zeroed), its header
// written and this process counted as a holder.
static pc__p_seg *pc__p_seg_create(pc_arg_type type, size_t body_size) {
    pc__p_shared_init();
    if (body_size > ((size_t)1 << 40))
        return pc__error(PC_VALUE, "%s of %zu bytes is too large", pc__p_type_name(type),
                         body_size), (pc__p_seg *)NULL;
    size_t page = 4096, size = (PC__SHARED_BODY + body_size + page - 1) / page * page;
    int fd = pc__p_os_anon_shm("pyconc");
    if (fd < 0) return pc__os_error("memfd_create"), (pc__p_seg *)NULL;
    if (pc__p_os_ftruncate(fd, size) < 0) {
        pc__os_error("ftruncate");
        pc__p_os_close(fd);
        return NULL;
    }
    pc__p_os_seal_size(fd);
    pc__p_seg *s = pc__p_seg_map(fd, size);
    if (!s) return NULL;
    pc__p_shead *h = (pc__p_shead *)(void *)s->base;
    h->type = (uint32_t)type;
    h->size = size;
    h->body_size = body_size;
    int rc = pc__p_mutex_init(&h->holders_mu);
    if (rc) {
        errno = rc;
        pc__os_error("pthread_mutex_init");
        pc__p_seg_release(s);
        return NULL;
    }
    __atomic_store_n(&h->magic, PC__SHARED_MAGIC, __ATOMIC_RELEASE);
    return s;
}

// Map a received descriptor (taken over) and check it is an object of
// type: a descriptor that is not one (or a corrupted header) is refused.
static pc__p_seg *pc__p_seg_attach(int fd, pc_arg_type type) {
    uint64_t fsize = 0;
    if (!pc__p_os_size_sealed(fd)) {
        pc__p_os_close(fd);
        return pc__error(PC_VALUE, "the memory of a shared %s could change size under "
                         "its mapping (not sealed)", pc__p_type_name(type)), (pc__p_seg *)NULL;
    }
    if (pc__p_os_fd_size(fd, &fsize) < 0 || fsize < PC__SHARED_BODY || fsize > SIZE_MAX) {
        pc__p_os_close(fd);
        return pc__error(PC_VALUE, "a shared %s arrived without its memory",
                         pc__p_type_name(type)), (pc__p_seg *)NULL;
    }
    pc__p_seg *s = pc__p_seg_map(fd, (size_t)fsize);
    if (!s) return NULL;
    const pc__p_shead *h = (const pc__p_shead *)(void *)s->base;
    if (__atomic_load_n(&h->magic, __ATOMIC_ACQUIRE) != PC__SHARED_MAGIC ||
        h->type != (uint32_t)type || h->size != fsize ||
        h->body_size > fsize - PC__SHARED_BODY) {
        pc__p_seg_release(s);
        return pc__error(PC_VALUE, "the memory of a shared %s is not one (corrupted header)",
                         pc__p_type_name(type)), (pc__p_seg *)NULL;
    }
    return s;
}

static pc__p_shead *pc__p_obj_head(const pc__p_obj *o) {
    return (pc__p_shead *)(void *)o->seg->base;
}

// A handle on seg (its reference is the handle's now); counted: whether
// this process's holder refs include it.
static pc__p_obj *pc__p_obj_wrap(pc_arg_type type, pc__p_seg *seg, int counted) {
    pc__p_obj *o = (pc__p_obj *)pc__calloc(1, sizeof *o);
    if (!o) { pc__p_seg_release(seg); return NULL; }
    o->type = type;
    o->seg = seg;
    o->body = seg->base + PC__SHARED_BODY;
    o->counted = counted;
    pc__p_reg_add(o);
    return o;
}

// A new object: its memory, its handle, this process a holder.
static pc__p_obj *pc__p_obj_new(pc_arg_type type, size_t body_size) {
    pc__p_seg *s = pc__p_seg_create(type, body_size);
    if (!s) return NULL;
    pc__p_holders_self((pc__p_shead *)(void *)s->base, 1);
    return pc__p_obj_wrap(type, s, 1);
}

static void pc__p_obj_free(pc__p_obj *o) {
    if (!o) return;
    pc__p_reg_remove(o);
    if (o->counted) pc__p_holders_self(pc__p_obj_head(o), -1);
    pc__p_obj_free(o->sub);
    for (int i = 0; i < o->nxfd; i++) pc__p_os_close(o->xfd[i]);
    pc__p_seg_release(o->seg);
    pc__free(o);
}

// A handle of type, or NULL with PC_VALUE: a NULL or another kind of
// object (a handle of the wrong type cast by hand) is refused.
static pc__p_obj *pc__p_obj_check(const void *obj, pc_arg_type type) {
    pc__p_obj *o = (pc__p_obj *)obj;
    if (!o) return pc__error(PC_VALUE, "%s is NULL", pc__p_type_name(type)), (pc__p_obj *)NULL;
    if (o->type != type)
        return pc__error(PC_VALUE, "not a %s but a %s", pc__p_type_name(type),
                         pc__p_type_name(o->type)), (pc__p_obj *)NULL;
    return o;
}

// >>D.pack: shared objects in argument packs
// Wire form of an object: u8 whether a lock of its own choosing follows
// (a condition's, a value's), that lock's form, then u32 the index of its
// memory's descriptor, u8 how many descriptors it carries beside (a
// queue's record sockets) and u32 the index of each. The descriptors are
// duplicates; the memory and the sockets stay the same.
static int pc__p_obj_encode(pc__p_obj *o, pc__p_buf *b, int *fds, size_t *nfds, size_t max) {
    // A handle on a Value's or Array's own lock is that object's memory:
    // the object crosses with its lock, the lock alone cannot.
    if (pc__p_obj_head(o)->type != (uint32_t)o->type)
        return pc__error(PC_VALUE, "the lock of a %s cannot cross alone: put the %s in the pack",
                         pc__p_type_name((pc_arg_type)pc__p_obj_head(o)->type),
                         pc__p_type_name((pc_arg_type)pc__p_obj_head(o)->type));
    pc__p_obj *sub = __atomic_load_n(&o->sub, __ATOMIC_ACQUIRE);
    if (sub && sub->seg == o->seg) sub = NULL;  // a handle on its own lock: in the memory
    pc__p_buf_u8(b, sub ? 1u : 0u);
    if (sub) {
        pc__p_buf_u8(b, (unsigned)sub->type);
        int rc = pc__p_obj_encode(sub, b, fds, nfds, max);
        if (rc) return rc;
    }
    if (*nfds + 1 + (size_t)o->nxfd > max)
        return pc__error(PC_VALUE, "more than %zu descriptors in one pack", max);
    int fd = pc__p_os_dup_cloexec(o->seg->fd, 3);
    if (fd < 0) return pc__os_error("dup shared object");
    fds[*nfds] = fd;
    pc__p_buf_u32(b, (uint32_t)(*nfds)++);
    pc__p_buf_u8(b, (unsigned)o->nxfd);
    for (int i = 0; i < o->nxfd; i++) {
        if ((fd = pc__p_os_dup_cloexec(o->xfd[i], 3)) < 0) return pc__os_error("dup socket");
        fds[*nfds] = fd;
        pc__p_buf_u32(b, (uint32_t)(*nfds)++);
    }
    return b->bad ? PC_NOMEM : PC_OK;
}

// The descriptors an object carries beside its memory, taken from fds.
static int pc__p_obj_decode_extra(pc__p_obj *o, pc__p_buf *b, int *fds, size_t nfds) {
    unsigned n = pc__p_buf_get_u8(b);
    if (n > 2 || (n && o->type != PC_ARG_MP_QUEUE)) b->bad = 1;
    for (unsigned i = 0; i < n && !b->bad; i++) {
        uint32_t k = pc__p_buf_get_u32(b);
        if (b->bad || k >= nfds || fds[k] < 0 || !pc__p_os_is_socket(fds[k])) {
            b->bad = 1;
            break;
        }
        o->xfd[o->nxfd++] = fds[k];
        fds[k] = -1;
    }
    return b->bad ? PC_VALUE : PC_OK;
}

static pc__p_obj *pc__p_obj_decode(pc_arg_type type, pc__p_buf *b, int *fds, size_t nfds,
                                   int self, int depth) {
    pc__p_obj *sub = NULL;
    pc__p_shared_init();
    if (pc__p_buf_get_u8(b)) {
        pc_arg_type st = (pc_arg_type)pc__p_buf_get_u8(b);
        if (depth > 0 || (st != PC_ARG_MP_LOCK && st != PC_ARG_MP_RLOCK)) {
            b->bad = 1;
            return NULL;
        }
        sub = pc__p_obj_decode(st, b, fds, nfds, self, depth + 1);
        if (!sub) return NULL;
    }
    uint32_t k = pc__p_buf_get_u32(b);
    if (b->bad || k >= nfds || fds[k] < 0) {
        pc__p_obj_free(sub);
        b->bad = 1;
        return NULL;
    }
    pc__p_seg *s = pc__p_seg_attach(fds[k], type);
    fds[k] = -1;
    pc__p_obj *o = s ? pc__p_obj_wrap(type, s, 1) : NULL;
    if (!o) { pc__p_obj_free(sub); return NULL; }
    if (self) pc__p_holders_self(pc__p_obj_head(o), 1);
    o->sub = sub;
    if (pc__p_obj_decode_extra(o, b, fds, nfds)) {
        pc__p_obj_free(o);
        return NULL;
    }
    return o;
}

static int pc__p_shm_encode(void *obj, pc__p_buf *b, int *fds, size_t *nfds, size_t max);
static void *pc__p_shm_decode(pc__p_buf *b, int *fds, size_t nfds);
static void pc__p_shm_release(void *obj);

static int pc__p_handle_encode(pc_arg_type type, void *obj, uint64_t id, pc__p_buf *b, int *fds,
                               size_t *nfds, size_t max, void **keep) {
    if (!pc__p_reg_live(obj, id))
        return pc__error(PC_VALUE, "a %s in the pack was freed before the pack was used",
                         pc__p_type_name(type));
    if (type == PC_ARG_SHARED_MEMORY) return pc__p_shm_encode(obj, b, fds, nfds, max);
    pc__p_obj *o = (pc__p_obj *)obj;
    int rc = pc__p_obj_encode(o, b, fds, nfds, max);
    if (!rc && keep) *keep = pc__p_seg_retain(o->seg);
    return rc;
}

// Every handle of this part begins with a pc__p_obj: its id is there.
static void *pc__p_handle_decode(pc_arg_type type, pc__p_buf *b, int *fds, size_t nfds,
                                 int self, uint64_t *out_id) {
    void *obj = NULL;
    if (type == PC_ARG_SHARED_MEMORY) obj = pc__p_shm_decode(b, fds, nfds);
    else if (type <= PC_ARG_MP_QUEUE) obj = pc__p_obj_decode(type, b, fds, nfds, self, 0);
    if (obj) *out_id = ((pc__p_obj *)obj)->id;
    return obj;
}

static void pc__p_handle_release(pc_arg_type type, void *obj) {
    if (type == PC_ARG_SHARED_MEMORY) pc__p_shm_release(obj);
    else pc__p_obj_free((pc__p_obj *)obj);
}

static void pc__p_handle_watch(void *keep, long pid) {
    pc__p_seg *s = (pc__p_seg *)keep;
    pc__p_holders_add((pc__p_shead *)(void *)s->base, (int32_t)pid,
                      pc__p_os_pid_start((pid_t)pid), 1);
}

static void pc__p_handle_drop(void *keep) { pc__p_seg_release((pc__p_seg *)keep); }

static const pc__p_handle_ops pc__p_shared_ops = {
    pc__p_handle_encode, pc__p_handle_decode, pc__p_handle_release, pc__p_handle_watch,
    pc__p_handle_drop};

// The per-thread owner token of the locks here: random, so that no thread
// of any process (nor a later thread that reuses a dead one's id) takes
// another's lock for its own. A fork child draws new ones: the one thread
// it has forgets its token after fork (PC__PHASE_SHARED).
static PC__TLS uint64_t pc__p_token_value;
// How many forks this process descends from (it changes in a fork child):
// for what is done once per handle and process.
static unsigned pc__p_fork_gen = 1;

static uint64_t pc__p_token_draw(void) {
    static uint64_t counter;
    uint64_t x = ((uint64_t)pc__p_os_getpid() << 32) ^ pc__p_os_thread_id() ^
                 (uint64_t)(pc_monotonic() * 1e9) ^
                 (__atomic_add_fetch(&counter, 1, __ATOMIC_RELAXED) * 0x9e3779b97f4a7c15ull);
    x ^= x >> 30;               // splitmix64's finaliser
    x *= 0xbf58476d1ce4e5b9ull;
    x ^= x >> 27;
    x *= 0x94d049bb133111ebull;
    x ^= x >> 31;
    pc__p_token_value = x ? x : 1;
    return pc__p_token_value;
}

static inline uint64_t pc__p_token(void) {
    uint64_t t = pc__p_token_value;
    return t ? t : pc__p_token_draw();
}

static void pc__p_shared_before_fork(void) { pc_lock_acquire(&pc__p_reg_lock, PC_FOREVER); }
static void pc__p_shared_after_fork_parent(void) { pc_lock_release(&pc__p_reg_lock); }
static void pc__p_shared_after_fork_child(void) {
    pc_lock_init(&pc__p_reg_lock);
    pc__p_token_value = 0;
    __atomic_add_fetch(&pc__p_fork_gen, 1, __ATOMIC_RELAXED);
}

static pthread_once_t pc__p_shared_once = PTHREAD_ONCE_INIT;

static void pc__p_shared_init_once(void) {
    pc__hooks h;
    memset(&h, 0, sizeof h);
    h.before_fork = pc__p_shared_before_fork;
    h.after_fork_parent = pc__p_shared_after_fork_parent;
    h.after_fork_child = pc__p_shared_after_fork_child;
    pc__lifecycle_set(PC__PHASE_SHARED, &h);
    pc__p_handles = &pc__p_shared_ops;
}

// Before the first object is made or a pack can hold one.
static void pc__p_shared_init(void) {
    pc__p_proc_init();
    pthread_once(&pc__p_shared_once, pc__p_shared_init_once);
}

// >>D.lock: Lock and RLock
// The body of a lock. owner is the holder's token (pc__p_token), so that
// locked(), _is_owned and recursion need no system call; count is the
// recursion depth; suspect: taken from a dead owner, not yet repaired;
// broken: released unrepaired. glibc breaks the mutex then too, but its
// trylock of a broken robust mutex leaves it locked (2.36), so every
// acquire looks at broken first and no broken mutex is ever locked again.
typedef struct pc__p_lockbody {
    pthread_mutex_t m;
    uint64_t owner;
    uint32_t count;
    uint32_t suspect;
    uint32_t broken;
} pc__p_lockbody;

struct pc_mp_lock { pc__p_obj o; };
struct pc_mp_rlock { pc__p_obj o; };

static int pc__p_lock_setup(pc__p_lockbody *b) {
    int rc = pc__p_mutex_init(&b->m);
    if (rc) { errno = rc; return pc__os_error("pthread_mutex_init"); }
    return PC_OK;
}

static pc__p_obj *pc__p_lock_make(pc_arg_type type) {
    pc__p_obj *o = pc__p_obj_new(type, sizeof(pc__p_lockbody));
    if (o && pc__p_lock_setup((pc__p_lockbody *)o->body)) {
        pc__p_obj_free(o);
        return NULL;
    }
    return o;
}

// What pthread's answer rc (not 0) means for b: kept out of line, so
// that the common path of pc__p_lock_take stays a few instructions.
static int pc__p_lock_took(pc__p_lockbody *b, uint64_t me, int rc) {
    if (rc == EOWNERDEAD) {
        __atomic_store_n(&b->owner, me, __ATOMIC_RELAXED);
        b->count = 1;
        b->suspect = 1;
        return pc__error(PC_OWNER_DEAD, "the previous holder died holding the lock; it is "
                                        "yours, and its state may be half updated");
    }
    if (rc == ETIMEDOUT) return pc__error(PC_TIMEOUT, "lock acquire timed out");
    if (rc == ENOTRECOVERABLE) {
        __atomic_store_n(&b->broken, 1u, __ATOMIC_RELEASE);
        return pc__error(PC_BROKEN, "lock is broken: a holder died and the state was not "
                                    "made consistent");
    }
    errno = rc;
    return pc__os_error("pthread_mutex_lock");
}

// Take b by deadline. recursive: its owner takes it again at once.
static inline int pc__p_lock_take(pc__p_lockbody *b, int recursive, double deadline) {
    uint64_t me = pc__p_token();
    if (recursive && __atomic_load_n(&b->owner, __ATOMIC_RELAXED) == me) {
        if (b->count == UINT32_MAX) return pc__error(PC_VALUE, "RLock taken 2**32-1 times");
        b->count++;
        return PC_OK;
    }
    int rc = __atomic_load_n(&b->broken, __ATOMIC_ACQUIRE) ? ENOTRECOVERABLE
                                                           : pc__p_mutex_lock(&b->m, deadline);
    if (rc) return pc__p_lock_took(b, me, rc);
    __atomic_store_n(&b->owner, me, __ATOMIC_RELAXED);
    b->count = 1;
    return PC_OK;
}

static inline int pc__p_lock_acquire(pc__p_obj *o, int recursive, double timeout) {
    double deadline = INFINITY;
    if (!(timeout < 0) && pc__deadline(timeout, &deadline)) return PC_VALUE;
    return pc__p_lock_take((pc__p_lockbody *)o->body, recursive, deadline);
}

// Give b up entirely (all levels): for release and for a condition's wait.
static inline int pc__p_lock_drop(pc__p_lockbody *b) {
    __atomic_store_n(&b->owner, 0, __ATOMIC_RELAXED);
    b->count = 0;
    if (b->suspect) {           // unrepaired: broken for good now
        b->suspect = 0;
        __atomic_store_n(&b->broken, 1u, __ATOMIC_RELEASE);
    }
    int rc = pthread_mutex_unlock(&b->m);
    if (rc) { errno = rc; return pc__os_error("pthread_mutex_unlock"); }
    return PC_OK;
}

static inline int pc__p_lock_owned(const pc__p_lockbody *b) {
    return __atomic_load_n(&b->owner, __ATOMIC_RELAXED) == pc__p_token();
}

static inline int pc__p_lock_release(pc__p_obj *o, int recursive) {
    pc__p_lockbody *b = (pc__p_lockbody *)o->body;
    if (!pc__p_lock_owned(b))
        return pc__error(PC_RUNTIME, recursive ? "cannot release un-acquired lock"
                                               : "release of a lock this thread does not hold");
    if (recursive && b->count > 1) {
        b->count--;
        return PC_OK;
    }
    return pc__p_lock_drop(b);
}

static int pc__p_lock_consistent(pc__p_obj *o) {
    pc__p_lockbody *b = (pc__p_lockbody *)o->body;
    if (!pc__p_lock_owned(b) || !b->suspect)
        return pc__error(PC_RUNTIME, "consistent: the lock is not held by this thread after "
                                     "PC_OWNER_DEAD");
    int rc = pthread_mutex_consistent(&b->m);
    if (rc) { errno = rc; return pc__os_error("pthread_mutex_consistent"); }
    b->suspect = 0;
    return PC_OK;
}

static int pc__p_lock_locked(const pc__p_obj *o) {
    return __atomic_load_n(&((const pc__p_lockbody *)o->body)->owner, __ATOMIC_RELAXED) != 0;
}

PYCONC_API pc_mp_lock *pc_mp_lock_new(void) {
    return (pc_mp_lock *)pc__p_lock_make(PC_ARG_MP_LOCK);
}
PYCONC_API void pc_mp_lock_free(pc_mp_lock *l) { pc__p_obj_free(l ? &l->o : NULL); }

// The uncontended acquire and release without a timeout are the calls a
// program makes most: each has a straight path of a few instructions
// around pthread's, and leaves everything else to the general one.
PYCONC_API int pc_mp_lock_acquire(pc_mp_lock *l, double timeout) {
    pc__p_obj *o = (pc__p_obj *)l;
    if (o && o->type == PC_ARG_MP_LOCK && timeout < 0) {
        // pthread_mutex_lock itself reports a broken mutex (and leaves it
        // unlocked): no need to look at broken first on this path.
        pc__p_lockbody *b = (pc__p_lockbody *)o->body;
        int rc = pthread_mutex_lock(&b->m);
        uint64_t me = pc__p_token();
        if (rc) return pc__p_lock_took(b, me, rc);
        __atomic_store_n(&b->owner, me, __ATOMIC_RELAXED);
        b->count = 1;
        return PC_OK;
    }
    o = pc__p_obj_check(l, PC_ARG_MP_LOCK);
    return o ? pc__p_lock_acquire(o, 0, timeout) : PC_VALUE;
}

PYCONC_API int pc_mp_lock_release(pc_mp_lock *l) {
    pc__p_obj *o = (pc__p_obj *)l;
    if (o && o->type == PC_ARG_MP_LOCK) {
        pc__p_lockbody *b = (pc__p_lockbody *)o->body;
        if (__atomic_load_n(&b->owner, __ATOMIC_RELAXED) == pc__p_token() && !b->suspect) {
            __atomic_store_n(&b->owner, 0, __ATOMIC_RELAXED);
            b->count = 0;
            int rc = pthread_mutex_unlock(&b->m);
            if (rc) { errno = rc; return pc__os_error("pthread_mutex_unlock"); }
            return PC_OK;
        }
    }
    o = pc__p_obj_check(l, PC_ARG_MP_LOCK);
    return o ? pc__p_lock_release(o, 0) : PC_VALUE;
}
PYCONC_API int pc_mp_lock_locked(const pc_mp_lock *l) {
    const pc__p_obj *o = pc__p_obj_check(l, PC_ARG_MP_LOCK);
    return o ? pc__p_lock_locked(o) : 0;
}
PYCONC_API int pc_mp_lock_consistent(pc_mp_lock *l) {
    pc__p_obj *o = pc__p_obj_check(l, PC_ARG_MP_LOCK);
    return o ? pc__p_lock_consistent(o) : PC_VALUE;
}

PYCONC_API pc_mp_rlock *pc_mp_rlock_new(void) {
    return (pc_mp_rlock *)pc__p_lock_make(PC_ARG_MP_RLOCK);
}
PYCONC_API void pc_mp_rlock_free(pc_mp_rlock *l) { pc__p_obj_free(l ? &l->o : NULL); }

PYCONC_API int pc_mp_rlock_acquire(pc_mp_rlock *l, double timeout) {
    pc__p_obj *o = pc__p_obj_check(l, PC_ARG_MP_RLOCK);
    return o ? pc__p_lock_acquire(o, 1, timeout) : PC_VALUE;
}
PYCONC_API int pc_mp_rlock_release(pc_mp_rlock *l) {
    pc__p_obj *o = pc__p_obj_check(l, PC_ARG_MP_RLOCK);
    return o ? pc__p_lock_release(o, 1) : PC_VALUE;
}
PYCONC_API int pc_mp_rlock_locked(const pc_mp_rlock *l) {
    const pc__p_obj *o = pc__p_obj_check(l, PC_ARG_MP_RLOCK);
    return o ? pc__p_lock_locked(o) : 0;
}
PYCONC_API int pc_mp_rlock_is_owned(const pc_mp_rlock *l) {
    const pc__p_obj *o = pc__p_obj_check(l, PC_ARG_MP_RLOCK);
    return o ? pc__p_lock_owned((const pc__p_lockbody *)o->body) : 0;
}
PYCONC_API int pc_mp_rlock_consistent(pc_mp_rlock *l) {
    pc__p_obj *o = pc__p_obj_check(l, PC_ARG_MP_RLOCK);
    return o ? pc__p_lock_consistent(o) : PC_VALUE;
}

// >>D.semaphore
typedef struct pc__p_sembody {
    uint32_t value;
    uint32_t bounded, bound;    // a BoundedSemaphore, and its initial value
    pc__evc ev;                 // shared: released units
} pc__p_sembody;

struct pc_mp_semaphore { pc__p_obj o; };

static pc_mp_semaphore *pc__p_semaphore_make(int value, int bounded) {
    if (value < 0) {
        pc__error(PC_VALUE, "semaphore initial value must be >= 0, not %d", value);
        return NULL;
    }
    pc__p_obj *o = pc__p_obj_new(PC_ARG_MP_SEMAPHORE, sizeof(pc__p_sembody));
    if (!o) return NULL;
    pc__p_sembody *b = (pc__p_sembody *)o->body;
    pc__evc_init(&b->ev, 1);
    b->bounded = (uint32_t)bounded;
    b->bound = (uint32_t)value;
    __atomic_store_n(&b->value, (uint32_t)value, __ATOMIC_SEQ_CST);
    return (pc_mp_semaphore *)o;
}

PYCONC_API pc_mp_semaphore *pc_mp_semaphore_new(int value) {
    return pc__p_semaphore_make(value, 0);
}
PYCONC_API pc_mp_semaphore *pc_mp_bounded_semaphore_new(int value) {
    return pc__p_semaphore_make(value, 1);
}
PYCONC_API void pc_mp_semaphore_free(pc_mp_semaphore *s) { pc__p_obj_free(s ? &s->o : NULL); }

static int pc__p_sem_try(pc__p_sembody *b) {
    uint32_t v = __atomic_load_n(&b->value, __ATOMIC_SEQ_CST);
    while (v > 0)
        if (__atomic_compare_exchange_n(&b->value, &v, v - 1, 1, __ATOMIC_SEQ_CST,
                                        __ATOMIC_SEQ_CST))
            return 1;
    return 0;
}

PYCONC_API int pc_mp_semaphore_acquire(pc_mp_semaphore *s, double timeout) {
    pc__p_obj *o = pc__p_obj_check(s, PC_ARG_MP_SEMAPHORE);
    double deadline = 0;
    if (!o || pc__deadline(timeout, &deadline)) return PC_VALUE;
    pc__p_sembody *b = (pc__p_sembody *)o->body;
    while (!pc__p_sem_try(b)) {
        uint32_t key = pc__evc_prepare(&b->ev);
        if (pc__p_sem_try(b)) break;
        if (pc__evc_wait(&b->ev, key, deadline) == PC_TIMEOUT) {
            if (pc__p_sem_try(b)) break;
            return pc__error(PC_TIMEOUT, "semaphore acquire timed out");
        }
    }
    return PC_OK;
}

PYCONC_API int pc_mp_semaphore_release(pc_mp_semaphore *s, int n) {
    pc__p_obj *o = pc__p_obj_check(s, PC_ARG_MP_SEMAPHORE);
    if (!o) return PC_VALUE;
    if (n < 1) return pc__error(PC_VALUE, "n must be one or more, not %d", n);
    pc__p_sembody *b = (pc__p_sembody *)o->body;
    uint32_t v = __atomic_load_n(&b->value, __ATOMIC_SEQ_CST);
    for (;;) {
        uint64_t nv = (uint64_t)v + (uint64_t)n;
        if (b->bounded && nv > b->bound)
            return pc__error(PC_VALUE, "Semaphore released too many times");
        if (nv > INT32_MAX) return pc__error(PC_VALUE, "semaphore value would pass 2**31-1");
        if (__atomic_compare_exchange_n(&b->value, &v, (uint32_t)nv, 1, __ATOMIC_SEQ_CST,
                                        __ATOMIC_SEQ_CST))
            break;
    }
    pc__evc_notify(&b->ev, n);
    return PC_OK;
}

PYCONC_API int pc_mp_semaphore_get_value(const pc_mp_semaphore *s) {
    const pc__p_obj *o = pc__p_obj_check(s, PC_ARG_MP_SEMAPHORE);
    return o ? (int)__atomic_load_n(&((pc__p_sembody *)o->body)->value, __ATOMIC_SEQ_CST) : 0;
}

// >>D.event
typedef struct pc__p_eventbody {
    uint32_t flag;
    pc__evc ev;
} pc__p_eventbody;

struct pc_mp_event { pc__p_obj o; };

PYCONC_API pc_mp_event *pc_mp_event_new(void) {
    pc__p_obj *o = pc__p_obj_new(PC_ARG_MP_EVENT, sizeof(pc__p_eventbody));
    if (o) pc__evc_init(&((pc__p_eventbody *)o->body)->ev, 1);
    return (pc_mp_event *)o;
}
PYCONC_API void pc_mp_event_free(pc_mp_event *e) { pc__p_obj_free(e ? &e->o : NULL); }

PYCONC_API int pc_mp_event_set(pc_mp_event *e) {
    pc__p_obj *o = pc__p_obj_check(e, PC_ARG_MP_EVENT);
    if (!o) return PC_VALUE;
    pc__p_eventbody *b = (pc__p_eventbody *)o->body;
    __atomic_store_n(&b->flag, 1u, __ATOMIC_SEQ_CST);
    pc__evc_notify(&b->ev, INT32_MAX);
    return PC_OK;
}

PYCONC_API int pc_mp_event_clear(pc_mp_event *e) {
    pc__p_obj *o = pc__p_obj_check(e, PC_ARG_MP_EVENT);
    if (!o) return PC_VALUE;
    __atomic_store_n(&((pc__p_eventbody *)o->body)->flag, 0u, __ATOMIC_SEQ_CST);
    return PC_OK;
}

PYCONC_API int pc_mp_event_is_set(const pc_mp_event *e) {
    const pc__p_obj *o = pc__p_obj_check(e, PC_ARG_MP_EVENT);
    return o ? (int)__atomic_load_n(&((pc__p_eventbody *)o->body)->flag, __ATOMIC_SEQ_CST) : 0;
}

PYCONC_API int pc_mp_event_wait(pc_mp_event *e, double timeout) {
    pc__p_obj *o = pc__p_obj_check(e, PC_ARG_MP_EVENT);
    double deadline = 0;
    if (!o || pc__deadline(timeout, &deadline)) return PC_VALUE;
    pc__p_eventbody *b = (pc__p_eventbody *)o->body;
    while (!__atomic_load_n(&b->flag, __ATOMIC_SEQ_CST)) {
        uint32_t key = pc__evc_prepare(&b->ev);
        if (__atomic_load_n(&b->flag, __ATOMIC_SEQ_CST)) break;
        if (pc__evc_wait(&b->ev, key, deadline) == PC_TIMEOUT) {
            if (__atomic_load_n(&b->flag, __ATOMIC_SEQ_CST)) break;
            return pc__error(PC_TIMEOUT, "event wait timed out");
        }
    }
    return PC_OK;
}

// >>D.condition
// A futex word (an event count) beside a lock: a waiter announces itself
// while it still holds the lock, so a notify made under the lock after it
// cannot miss it; a waiter that dies asleep is simply gone from the kernel's
// queue, and one that dies on its way leaves a count that costs one
// needless wake-up, never a lost one.
typedef struct pc__p_condbody {
    pc__p_lockbody own;         // the RLock of its own, when not given one
    pc__evc ev;
} pc__p_condbody;

struct pc_mp_condition { pc__p_obj o; };

// The lock a condition uses, and whether it is recursive.
static pc__p_lockbody *pc__p_cond_lock(pc__p_obj *o, int *recursive) {
    if (o->sub) {
        *recursive = o->sub->type == PC_ARG_MP_RLOCK;
        return (pc__p_lockbody *)o->sub->body;
    }
    *recursive = 1;
    return &((pc__p_condbody *)o->body)->own;
}

PYCONC_API pc_mp_condition *pc_mp_condition_new(pc_mp_lock *lock, pc_mp_rlock *rlock) {
    if (lock && rlock) {
        pc__error(PC_VALUE, "a condition takes one lock: a Lock or an RLock, not both");
        return NULL;
    }
    pc__p_obj *given = lock ? pc__p_obj_check(lock, PC_ARG_MP_LOCK)
                            : rlock ? pc__p_obj_check(rlock, PC_ARG_MP_RLOCK) : NULL;
    if ((lock || rlock) && !given) return NULL;
    pc__p_obj *o = pc__p_obj_new(PC_ARG_MP_CONDITION, sizeof(pc__p_condbody));
    if (!o) return NULL;
    pc__p_condbody *b = (pc__p_condbody *)o->body;
    pc__evc_init(&b->ev, 1);
    if (!given && pc__p_lock_setup(&b->own)) {
        pc__p_obj_free(o);
        return NULL;
    }
    if (given) {
        // A handle of our own on the user's lock: freeing theirs leaves ours.
        pc__p_holders_self(pc__p_obj_head(given), 1);
        o->sub = pc__p_obj_wrap(given->type, pc__p_seg_retain(given->seg), 1);
        if (!o->sub) {
            pc__p_holders_self(pc__p_obj_head(given), -1);
            pc__p_obj_free(o);
            return NULL;
        }
    }
    return (pc_mp_condition *)o;
}
PYCONC_API void pc_mp_condition_free(pc_mp_condition *c) { pc__p_obj_free(c ? &c->o : NULL); }

PYCONC_API int pc_mp_condition_acquire(pc_mp_condition *c, double timeout) {
    pc__p_obj *o = pc__p_obj_check(c, PC_ARG_MP_CONDITION);
    double deadline = 0;
    int recursive = 0;
    if (!o || pc__deadline(timeout, &deadline)) return PC_VALUE;
    pc__p_lockbody *l = pc__p_cond_lock(o, &recursive);    // sets recursive: before the call
    return pc__p_lock_take(l, recursive, deadline);
}

PYCONC_API int pc_mp_condition_release(pc_mp_condition *c) {
    pc__p_obj *o = pc__p_obj_check(c, PC_ARG_MP_CONDITION);
    int recursive = 0;
    if (!o) return PC_VALUE;
    pc__p_lockbody *l = pc__p_cond_lock(o, &recursive);
    if (!pc__p_lock_owned(l)) return pc__error(PC_RUNTIME, "cannot release un-acquired lock");
    if (recursive && l->count > 1) {
        l->count--;
        return PC_OK;
    }
    return pc__p_lock_drop(l);
}

// One wait until deadline: release every level, sleep, take them back.
static int pc__p_cond_wait_until(pc__p_obj *o, double deadline) {
    int recursive = 0;
    pc__p_lockbody *l = pc__p_cond_lock(o, &recursive);
    pc__evc *ev = &((pc__p_condbody *)o->body)->ev;
    if (!pc__p_lock_owned(l)) return pc__error(PC_RUNTIME, "cannot wait on un-acquired lock");
    uint32_t depth = l->count;
    uint32_t key = pc__evc_prepare(ev);
    int rc = pc__p_lock_drop(l);
    if (rc) return rc;
    int woke = pc__evc_wait(ev, key, deadline);
    rc = pc__p_lock_take(l, 0, INFINITY);
    if (rc != PC_OK && rc != PC_OWNER_DEAD) return rc;
    l->count = depth;
    if (rc) return rc;
    return woke == PC_TIMEOUT ? pc__error(PC_TIMEOUT, "condition wait timed out") : PC_OK;
}

PYCONC_API int pc_mp_condition_wait(pc_mp_condition *c, double timeout) {
    pc__p_obj *o = pc__p_obj_check(c, PC_ARG_MP_CONDITION);
    double deadline = 0;
    if (!o || pc__deadline(timeout, &deadline)) return PC_VALUE;
    return pc__p_cond_wait_until(o, deadline);
}

PYCONC_API int pc_mp_condition_wait_for(pc_mp_condition *c, int (*predicate)(void *ctx),
                                        void *ctx, double timeout) {
    pc__p_obj *o = pc__p_obj_check(c, PC_ARG_MP_CONDITION);
    double deadline = 0;
    if (!o || pc__deadline(timeout, &deadline)) return PC_VALUE;
    if (!predicate) return pc__error(PC_VALUE, "wait_for: predicate is NULL");
    while (!predicate(ctx)) {
        int rc = pc__p_cond_wait_until(o, deadline);
        if (rc == PC_TIMEOUT)
            return predicate(ctx) ? PC_OK : PC_TIMEOUT;
        if (rc) return rc;
    }
    return PC_OK;
}

PYCONC_API int pc_mp_condition_notify(pc_mp_condition *c, int n) {
    pc__p_obj *o = pc__p_obj_check(c, PC_ARG_MP_CONDITION);
    int recursive = 0;
    if (!o) return PC_VALUE;
    if (!pc__p_lock_owned(pc__p_cond_lock(o, &recursive)))
        return pc__error(PC_RUNTIME, "cannot notify on un-acquired lock");
    if (n > 0) pc__evc_notify(&((pc__p_condbody *)o->body)->ev, n);
    return PC_OK;
}

PYCONC_API int pc_mp_condition_notify_all(pc_mp_condition *c) {
    return pc_mp_condition_notify(c, INT32_MAX);
}

// >>D.barrier
// Python's barrier, generation by generation. The outcome of each of the
// last PC__BARRIER_ROUNDS generations is kept for the waiters of it that
// have not looked yet. Waiters sleep in slices of PC__BARRIER_SLICE
// seconds and look at the holders between two: a dead one breaks it.
#define PC__BARRIER_ROUNDS 64
#define PC__BARRIER_SLICE 0.01
enum { PC__ROUND_OK = 1, PC__ROUND_BROKEN = 2 };

typedef struct pc__p_barrierbody {
    pthread_mutex_t m;          // robust; guards everything below
    pc__evc ev;
    int32_t parties, count;
    uint32_t gen, broken;
    double timeout;
    uint8_t outcome[PC__BARRIER_ROUNDS];
    int has_action;
    pc__p_funcref action;
} pc__p_barrierbody;

struct pc_mp_barrier { pc__p_obj o; };

PYCONC_API pc_mp_barrier *pc_mp_barrier_new(int parties, pc_target_fn action, double timeout) {
    if (parties < 1) {
        pc__error(PC_VALUE, "parties must be >= 1, not %d", parties);
        return NULL;
    }
    if (isnan(timeout)) {
        pc__error(PC_VALUE, "timeout is NaN");
        return NULL;
    }
    pc__p_funcref ref;
    if (pc__p_funcref_locate(action, &ref)) return NULL;
    pc__p_obj *o = pc__p_obj_new(PC_ARG_MP_BARRIER, sizeof(pc__p_barrierbody));
    if (!o) return NULL;
    pc__p_barrierbody *b = (pc__p_barrierbody *)o->body;
    int rc = pc__p_mutex_init(&b->m);
    if (rc) {
        errno = rc;
        pc__os_error("pthread_mutex_init");
        pc__p_obj_free(o);
        return NULL;
    }
    pc__evc_init(&b->ev, 1);
    b->parties = parties;
    b->timeout = timeout;
    b->has_action = action != NULL;
    b->action = ref;
    o->action = action;
    o->action_state = action ? 1 : 0;
    return (pc_mp_barrier *)o;
}
PYCONC_API void pc_mp_barrier_free(pc_mp_barrier *b) { pc__p_obj_free(b ? &b->o : NULL); }

// Break it (under its mutex): the waiters of this round leave with PC_BROKEN.
static void pc__p_barrier_break(pc__p_barrierbody *b) {
    b->broken = 1;
    pc__evc_notify(&b->ev, INT32_MAX);
}

// Enter the barrier's mutex. A process that died inside it left the
// round in an unknown state: that breaks the barrier.
static void pc__p_barrier_enter(pc__p_barrierbody *b) {
    int died = 0;
    pc__p_mutex_enter(&b->m, &died);
    if (died) pc__p_barrier_break(b);
}

// The last to arrive: run the action, then release the round.
static int pc__p_barrier_release(pc__p_obj *o, pc__p_barrierbody *b) {
    if (b->has_action) {
        if (o->action_state == 0)
            o->action_state = pc__p_funcref_resolve(&b->action, &o->action) ? -1 : 1;
        int rc = o->action_state == 1 ? o->action(NULL) : pc_last_error_code();
        char msg[256];
        if (pc__exception_take(msg, sizeof msg)) rc = rc ? rc : PC_BROKEN;
        if (rc) {
            pc__p_barrier_break(b);
            return pc__error(rc, "barrier action failed (%s)", pc_strerror(rc));
        }
    }
    b->outcome[b->gen % PC__BARRIER_ROUNDS] = PC__ROUND_OK;
    b->gen++;
    b->count = 0;
    pc__evc_notify(&b->ev, INT32_MAX);
    return PC_OK;
}

static int pc__p_barrier_wait(pc__p_obj *o, double timeout, int *out_index) {
    pc__p_barrierbody *b = (pc__p_barrierbody *)o->body;
    double deadline = 0;
    if (pc__deadline(timeout, &deadline)) return PC_VALUE;
    pc__p_barrier_enter(b);
    if (b->broken) {
        pthread_mutex_unlock(&b->m);
        return pc__error(PC_BROKEN, "barrier is broken");
    }
    int index = b->count++;
    uint32_t gen = b->gen;
    if (out_index) *out_index = index;
    if (b->count == b->parties) {
        int rc = pc__p_barrier_release(o, b);
        pthread_mutex_unlock(&b->m);
        return rc;
    }
    long dead = 0;
    int rc = PC_OK;
    for (;;) {
        uint32_t key = pc__evc_prepare(&b->ev);
        pthread_mutex_unlock(&b->m);
        double now = pc_monotonic();
        double until = deadline < now + PC__BARRIER_SLICE ? deadline : now + PC__BARRIER_SLICE;
        int timed_out = pc__evc_wait(&b->ev, key, until) == PC_TIMEOUT && until == deadline;
        if (!timed_out) dead = pc__p_holders_find_dead(pc__p_obj_head(o));
        pc__p_barrier_enter(b);
        if (b->gen != gen) {
            if (b->outcome[gen % PC__BARRIER_ROUNDS] != PC__ROUND_OK) rc = PC_BROKEN;
            break;
        }
        if (b->broken) { rc = PC_BROKEN; break; }
        if (timed_out || dead) {
            pc__p_barrier_break(b);
            rc = PC_BROKEN;
            break;
        }
    }
    if (rc && b->gen == gen && b->count > 0) b->count--;
    pthread_mutex_unlock(&b->m);
    if (!rc) return PC_OK;
    if (dead) return pc__error(PC_BROKEN, "barrier is broken: process %ld holding it died", dead);
    return pc__error(PC_BROKEN, "barrier is broken");
}

PYCONC_API int pc_mp_barrier_wait(pc_mp_barrier *bar, int *out_index) {
    pc__p_obj *o = pc__p_obj_check(bar, PC_ARG_MP_BARRIER);
    if (!o) return PC_VALUE;
    return pc__p_barrier_wait(o, ((pc__p_barrierbody *)o->body)->timeout, out_index);
}

PYCONC_API int pc_mp_barrier_wait_timeout(pc_mp_barrier *bar, double timeout, int *out_index) {
    pc__p_obj *o = pc__p_obj_check(bar, PC_ARG_MP_BARRIER);
    return o ? pc__p_barrier_wait(o, timeout, out_index) : PC_VALUE;
}

PYCONC_API int pc_mp_barrier_reset(pc_mp_barrier *bar) {
    pc__p_obj *o = pc__p_obj_check(bar, PC_ARG_MP_BARRIER);
    if (!o) return PC_VALUE;
    pc__p_barrierbody *b = (pc__p_barrierbody *)o->body;
    pc__p_barrier_enter(b);
    if (b->count > 0) {         // those waiting now leave broken
        b->outcome[b->gen % PC__BARRIER_ROUNDS] = PC__ROUND_BROKEN;
        b->gen++;
        b->count = 0;
    }
    b->broken = 0;
    pc__evc_notify(&b->ev, INT32_MAX);
    pthread_mutex_unlock(&b->m);
    return PC_OK;
}

PYCONC_API int pc_mp_barrier_abort(pc_mp_barrier *bar) {
    pc__p_obj *o = pc__p_obj_check(bar, PC_ARG_MP_BARRIER);
    if (!o) return PC_VALUE;
    pc__p_barrierbody *b = (pc__p_barrierbody *)o->body;
    pc__p_barrier_enter(b);
    pc__p_barrier_break(b);
    pthread_mutex_unlock(&b->m);
    return PC_OK;
}

PYCONC_API int pc_mp_barrier_parties(const pc_mp_barrier *bar) {
    const pc__p_obj *o = pc__p_obj_check(bar, PC_ARG_MP_BARRIER);
    return o ? ((const pc__p_barrierbody *)o->body)->parties : 0;
}

// Read under its mutex: the counts change under it.
static int pc__p_barrier_peek(const pc_mp_barrier *bar, int what) {
    const pc__p_obj *o = pc__p_obj_check(bar, PC_ARG_MP_BARRIER);
    if (!o) return 0;
    pc__p_barrierbody *b = (pc__p_barrierbody *)o->body;
    pc__p_barrier_enter(b);
    int v = what ? (int)b->broken : b->broken ? 0 : b->count;
    pthread_mutex_unlock(&b->m);
    return v;
}

PYCONC_API int pc_mp_barrier_n_waiting(const pc_mp_barrier *bar) {
    return pc__p_barrier_peek(bar, 0);
}

PYCONC_API int pc_mp_barrier_broken(const pc_mp_barrier *bar) {
    return pc__p_barrier_peek(bar, 1);
}

// >>D.value: Value and Array
// One body for both: the lock of its own first (so that a handle on it is
// an RLock handle whose body is the object's: pc_mp_value_get_rlock), what
// the items are, then the items at PC__VAL_DATA. Everything but the items
// is written once, before the object can reach another process.
enum { PC__VAL_OWN = 1, PC__VAL_RAW = 2, PC__VAL_GIVEN = 3 };

typedef struct pc__p_valbody {
    pc__p_lockbody lock;        // the RLock of its own (PC__VAL_OWN)
    uint32_t mode;              // its own lock, none, or one given (carried as o->sub)
    uint32_t typecode;          // 0: a C type of its own
    uint64_t item_size;
    uint64_t length;            // items; 1 for a Value
} pc__p_valbody;
#define PC__VAL_DATA ((sizeof(pc__p_valbody) + 63) & ~(size_t)63)
#define PC__VAL_MAX (((size_t)1 << 40) - PC__VAL_DATA)

struct pc_mp_value { pc__p_obj o; };
struct pc_mp_array { pc__p_obj o; };

enum { PC__TC_SIGNED = 1, PC__TC_UNSIGNED, PC__TC_FLOAT, PC__TC_OTHER };
typedef struct pc__p_tcode { char code; unsigned char size, kind; } pc__p_tcode;
#ifdef __cplusplus
#define PC__BOOL_SIZE sizeof(bool)
#else
#define PC__BOOL_SIZE sizeof(_Bool)
#endif
#define PC__VAL_CODES "c b B h H i I l L q Q f d ? u"
static const pc__p_tcode pc__p_tcodes[] = {
    {'c', sizeof(char), PC__TC_OTHER},
    {'b', sizeof(signed char), PC__TC_SIGNED},
    {'B', sizeof(unsigned char), PC__TC_UNSIGNED},
    {'h', sizeof(short), PC__TC_SIGNED},
    {'H', sizeof(unsigned short), PC__TC_UNSIGNED},
    {'i', sizeof(int), PC__TC_SIGNED},
    {'I', sizeof(unsigned), PC__TC_UNSIGNED},
    {'l', sizeof(long), PC__TC_SIGNED},
    {'L', sizeof(unsigned long), PC__TC_UNSIGNED},
    {'q', sizeof(long long), PC__TC_SIGNED},
    {'Q', sizeof(unsigned long long), PC__TC_UNSIGNED},
    {'f', sizeof(float), PC__TC_FLOAT},
    {'d', sizeof(double), PC__TC_FLOAT},
    {'?', PC__BOOL_SIZE, PC__TC_OTHER},
    {'u', sizeof(wchar_t), PC__TC_OTHER},
};

static const pc__p_tcode *pc__p_tcode_find(uint32_t code) {
    for (size_t i = 0; i < sizeof pc__p_tcodes / sizeof pc__p_tcodes[0]; i++)
        if ((uint32_t)(unsigned char)pc__p_tcodes[i].code == code) return &pc__p_tcodes[i];
    return NULL;
}

static pc__p_valbody *pc__p_val_body(const pc__p_obj *o) { return (pc__p_valbody *)o->body; }
static unsigned char *pc__p_val_data(const pc__p_obj *o) {
    return (unsigned char *)o->body + PC__VAL_DATA;
}

// The lock given to this handle (a user's, or synchronized's), not the
// handle on the object's own lock that get_rlock keeps in o->sub too.
static pc__p_obj *pc__p_val_given(const pc__p_obj *o) {
    pc__p_obj *sub = __atomic_load_n(&o->sub, __ATOMIC_ACQUIRE);   // get_rlock may set it
    return sub && sub->seg != o->seg ? sub : NULL;
}

// A Value or Array handle of type. Its layout is checked on every use:
// the memory may have come from another process.
static pc__p_obj *pc__p_val_check(const void *obj, pc_arg_type type) {
    pc__p_obj *o = pc__p_obj_check(obj, type);
    if (!o) return NULL;
    const pc__p_valbody *b = pc__p_val_body(o);
    uint64_t avail = pc__p_obj_head(o)->body_size;
    int mode_ok = b->mode == PC__VAL_OWN || b->mode == PC__VAL_RAW ||
                  (b->mode == PC__VAL_GIVEN && pc__p_val_given(o));
    if (avail < PC__VAL_DATA || b->item_size == 0 || !mode_ok ||
        b->length > (avail - PC__VAL_DATA) / b->item_size ||
        (type == PC_ARG_MP_VALUE && b->length != 1))
        return pc__error(PC_VALUE, "the memory of a shared %s is not one (corrupted body)",
                         pc__p_type_name(type)), (pc__p_obj *)NULL;
    return o;
}

// The lock o uses (NULL: raw) and whether it is recursive.
static pc__p_lockbody *pc__p_val_lock(const pc__p_obj *o, int *recursive) {
    const pc__p_obj *g = pc__p_val_given(o);
    *recursive = 1;
    if (g) {
        *recursive = g->type == PC_ARG_MP_RLOCK;
        return (pc__p_lockbody *)g->body;
    }
    return pc__p_val_body(o)->mode == PC__VAL_OWN ? &pc__p_val_body(o)->lock : NULL;
}

// Take o's lock for one helper, unless it is raw or this thread holds it
// already (then the helper works under that hold). *out_took: whether
// pc__p_val_leave must let it go.
static int pc__p_val_enter(pc__p_obj *o, int *out_took) {
    int recursive;
    pc__p_lockbody *b = pc__p_val_lock(o, &recursive);
    *out_took = 0;
    if (!b || pc__p_lock_owned(b)) return PC_OK;
    int rc = pc__p_lock_take(b, 0, INFINITY);
    *out_took = rc == PC_OK || rc == PC_OWNER_DEAD;
    return rc;
}

// Let go of what pc__p_val_enter took; rc is its result. A dead holder's
// lock is made consistent first: the helper wrote whole items.
static int pc__p_val_leave(pc__p_obj *o, int took, int rc) {
    int recursive;
    pc__p_lockbody *b = pc__p_val_lock(o, &recursive);
    if (!took) return rc;
    if (rc == PC_OWNER_DEAD) {
        pthread_mutex_consistent(&b->m);
        b->suspect = 0;
    }
    int drop = pc__p_lock_drop(b);
    if (drop) return drop;
    if (rc == PC_OWNER_DEAD)
        return pc__error(PC_OWNER_DEAD, "a process died holding the %s's lock; this update is "
                         "done and the lock usable again", pc__p_type_name(o->type));
    return rc;
}

// Copy n bytes at offset off of o's items out of (or into, in) buf, locked.
static int pc__p_val_copy(pc__p_obj *o, size_t off, void *buf, size_t n, int in) {
    int took, rc = pc__p_val_enter(o, &took);
    if (rc != PC_OK && rc != PC_OWNER_DEAD) return rc;
    if (n && in) memcpy(pc__p_val_data(o) + off, buf, n);
    else if (n) memcpy(buf, pc__p_val_data(o) + off, n);
    return pc__p_val_leave(o, took, rc);
}

// Resolve a typecode and a size to one item's code and bytes.
static int pc__p_val_item(pc_arg_type type, const char *typecode, size_t size, uint32_t *out_tc,
                          size_t *out_size) {
    const char *name = pc__p_type_name(type);
    if (!typecode) {
        if (size == 0) return pc__error(PC_VALUE, "%s: give a typecode or a size", name);
        if (size > PC__VAL_MAX)
            return pc__error(PC_VALUE, "%s: an item of %zu bytes is too large", name, size);
        *out_tc = 0;
        *out_size = size;
        return PC_OK;
    }
    const pc__p_tcode *t = typecode[0] && !typecode[1]
                               ? pc__p_tcode_find((unsigned char)typecode[0]) : NULL;
    if (!t)
        return pc__error(PC_VALUE, "%s: unknown typecode \"%.8s\" (one of " PC__VAL_CODES ")",
                         name, typecode);
    if (size && size != t->size)
        return pc__error(PC_VALUE, "%s: typecode '%c' is %u bytes, not %zu", name, t->code,
                         (unsigned)t->size, size);
    *out_tc = (unsigned char)t->code;
    *out_size = t->size;
    return PC_OK;
}

// A handle of our own on a user's lock, carried as o->sub (the pack
// encodes it): freeing theirs leaves ours.
static int pc__p_val_hold(pc__p_obj *o, pc__p_obj *given) {
    pc__p_holders_self(pc__p_obj_head(given), 1);
    o->sub = pc__p_obj_wrap(given->type, pc__p_seg_retain(given->seg), 1);
    if (o->sub) return PC_OK;
    pc__p_holders_self(pc__p_obj_head(given), -1);
    return pc__error(PC_NOMEM, "out of memory");
}

// The user's lock of a desc (NULL with PC_OK for none).
static int pc__p_val_user_lock(pc_arg_type type, int raw, pc_mp_lock *lock, pc_mp_rlock *rlock,
                               pc__p_obj **out) {
    *out = NULL;
    if (lock && rlock)
        return pc__error(PC_VALUE, "%s takes one lock: a Lock or an RLock, not both",
                         pc__p_type_name(type));
    if (raw && (lock || rlock))
        return pc__error(PC_VALUE, "a raw %s has no lock, yet one was given",
                         pc__p_type_name(type));
    if (lock) *out = pc__p_obj_check(lock, PC_ARG_MP_LOCK);
    if (rlock) *out = pc__p_obj_check(rlock, PC_ARG_MP_RLOCK);
    return (lock || rlock) && !*out ? PC_VALUE : PC_OK;
}

typedef struct pc__p_valspec {
    pc_arg_type type;
    const char *typecode;
    size_t size, length;
    const void *init;
    int raw;
    pc_mp_lock *lock;
    pc_mp_rlock *rlock;
} pc__p_valspec;

static pc__p_obj *pc__p_val_new(const pc__p_valspec *s) {
    uint32_t tc = 0;
    size_t item = 1;
    pc__p_obj *given = NULL;
    if (pc__p_val_item(s->type, s->typecode, s->size, &tc, &item) ||
        pc__p_val_user_lock(s->type, s->raw, s->lock, s->rlock, &given))
        return NULL;
    if (s->length > PC__VAL_MAX / item)
        return pc__error(PC_VALUE, "%s of %zu items of %zu bytes is too large",
                         pc__p_type_name(s->type), s->length, item), (pc__p_obj *)NULL;
    pc__p_obj *o = pc__p_obj_new(s->type, PC__VAL_DATA + item * s->length);
    if (!o) return NULL;
    pc__p_valbody *b = pc__p_val_body(o);
    b->mode = s->raw ? PC__VAL_RAW : given ? PC__VAL_GIVEN : PC__VAL_OWN;
    b->typecode = tc;
    b->item_size = item;
    b->length = s->length;
    if (s->init && s->length) memcpy(pc__p_val_data(o), s->init, item * s->length);
    if ((b->mode == PC__VAL_OWN && pc__p_lock_setup(&b->lock)) ||
        (given && pc__p_val_hold(o, given))) {
        pc__p_obj_free(o);
        return NULL;
    }
    return o;
}

// sharedctypes.copy: a raw object of the same items, read under o's lock.
static pc__p_obj *pc__p_val_dup(pc__p_obj *o) {
    const pc__p_valbody *b = pc__p_val_body(o);
    char code[2] = {(char)b->typecode, 0};
    pc__p_valspec s;
    memset(&s, 0, sizeof s);
    s.type = o->type;
    s.typecode = b->typecode ? code : NULL;
    s.size = (size_t)b->item_size;
    s.length = (size_t)b->length;
    s.raw = 1;
    pc__p_obj *n = pc__p_val_new(&s);
    if (!n) return NULL;
    int rc = pc__p_val_copy(o, 0, pc__p_val_data(n), (size_t)(b->item_size * b->length), 0);
    if (rc != PC_OK && rc != PC_OWNER_DEAD) {
        pc__p_obj_free(n);
        return NULL;
    }
    return n;
}

// sharedctypes.synchronized: a new handle on a raw object's memory that
// uses lock, rlock, or a new RLock.
static pc__p_obj *pc__p_val_sync(pc__p_obj *o, pc_mp_lock *lock, pc_mp_rlock *rlock) {
    pc__p_obj *given;
    if (pc__p_val_body(o)->mode != PC__VAL_RAW || pc__p_val_given(o))
        return pc__error(PC_VALUE, "synchronized: the %s is synchronized already (it takes a "
                         "raw one)", pc__p_type_name(o->type)), (pc__p_obj *)NULL;
    if (pc__p_val_user_lock(o->type, 0, lock, rlock, &given)) return NULL;
    pc__p_obj *n = pc__p_obj_wrap(o->type, pc__p_seg_retain(o->seg), 1);
    if (!n) return pc__error(PC_NOMEM, "out of memory"), (pc__p_obj *)NULL;
    pc__p_holders_self(pc__p_obj_head(n), 1);
    if (given ? pc__p_val_hold(n, given) != PC_OK
              : !(n->sub = pc__p_lock_make(PC_ARG_MP_RLOCK))) {
        pc__p_obj_free(n);
        return NULL;
    }
    return n;
}

// The handle on the lock o uses, of type want (made once for the own one).
static pc__p_obj *pc__p_val_lock_handle(pc__p_obj *o, pc_arg_type want) {
    pc__p_obj *g = pc__p_val_given(o);
    if (g) return g->type == want ? g : NULL;
    if (want != PC_ARG_MP_RLOCK || pc__p_val_body(o)->mode != PC__VAL_OWN) return NULL;
    pc__p_obj *view = __atomic_load_n(&o->sub, __ATOMIC_ACQUIRE);
    if (view) return view;
    // Uncounted: it is the object itself, which this handle holds already.
    view = pc__p_obj_wrap(PC_ARG_MP_RLOCK, pc__p_seg_retain(o->seg), 0);
    if (!view) return NULL;
    pc__p_obj *none = NULL;
    if (!__atomic_compare_exchange_n(&o->sub, &none, view, 0, __ATOMIC_ACQ_REL,
                                     __ATOMIC_ACQUIRE)) {
        pc__p_obj_free(view);   // another thread made it first
        view = none;
    }
    return view;
}

static int pc__p_val_acquire(pc__p_obj *o, double timeout) {
    double deadline;
    int recursive;
    if (pc__deadline(timeout, &deadline)) return PC_VALUE;
    pc__p_lockbody *b = pc__p_val_lock(o, &recursive);
    if (!b) return pc__error(PC_RUNTIME, "a raw %s has no lock", pc__p_type_name(o->type));
    return pc__p_lock_take(b, recursive, deadline);
}

static int pc__p_val_release(pc__p_obj *o) {
    int recursive;
    pc__p_lockbody *b = pc__p_val_lock(o, &recursive);
    if (!b) return pc__error(PC_RUNTIME, "a raw %s has no lock", pc__p_type_name(o->type));
    if (!pc__p_lock_owned(b)) return pc__error(PC_RUNTIME, "cannot release un-acquired lock");
    if (recursive && b->count > 1) {
        b->count--;
        return PC_OK;
    }
    return pc__p_lock_drop(b);
}

static int pc__p_val_consistent(pc__p_obj *o) {
    int recursive;
    pc__p_lockbody *b = pc__p_val_lock(o, &recursive);
    if (!b) return pc__error(PC_RUNTIME, "a raw %s has no lock", pc__p_type_name(o->type));
    if (!pc__p_lock_owned(b) || !b->suspect)
        return pc__error(PC_RUNTIME, "consistent: the lock is not held by this thread after "
                                     "PC_OWNER_DEAD");
    int rc = pthread_mutex_consistent(&b->m);
    if (rc) { errno = rc; return pc__os_error("pthread_mutex_consistent"); }
    b->suspect = 0;
    return PC_OK;
}

// Item index (negative: from the end) as an offset in bytes.
static int pc__p_val_index(const pc__p_obj *o, int64_t index, size_t *out_off) {
    const pc__p_valbody *b = pc__p_val_body(o);
    int64_t i = index < 0 ? index + (int64_t)b->length : index;
    if (i < 0 || (uint64_t)i >= b->length)
        return pc__error(PC_VALUE, "%s index %lld out of range (length %llu)",
                         pc__p_type_name(o->type), (long long)index,
                         (unsigned long long)b->length);
    *out_off = (size_t)((uint64_t)i * b->item_size);
    return PC_OK;
}

// Items start..stop-1 (negative: from the end) as bytes at *out_off, checked
// against size, the caller's bytes.
static int pc__p_val_range(const pc__p_obj *o, int64_t start, int64_t stop, size_t size,
                           const void *buf, size_t *out_off) {
    const pc__p_valbody *b = pc__p_val_body(o);
    int64_t len = (int64_t)b->length;
    int64_t s = start < 0 ? start + len : start, e = stop < 0 ? stop + len : stop;
    if (s < 0 || e > len || s > e)
        return pc__error(PC_VALUE, "Array slice %lld:%lld out of range (length %lld)",
                         (long long)start, (long long)stop, (long long)len);
    uint64_t want = (uint64_t)(e - s) * b->item_size;
    if (size != want)
        return pc__error(PC_VALUE, "Array slice %lld:%lld is %llu bytes, not %zu",
                         (long long)start, (long long)stop, (unsigned long long)want, size);
    if (!buf && size) return pc__error(PC_VALUE, "Array slice: the buffer is NULL");
    *out_off = (size_t)((uint64_t)s * b->item_size);
    return PC_OK;
}

// One item of size bytes at buf, which must be the object's item size.
static int pc__p_val_sized(const pc__p_obj *o, const void *buf, size_t size, const char *what) {
    const pc__p_valbody *b = pc__p_val_body(o);
    if (!buf) return pc__error(PC_VALUE, "%s: the buffer is NULL", what);
    if (size != b->item_size)
        return pc__error(PC_VALUE, "%s of %zu bytes from a %s of %llu-byte items (typecode "
                         "'%c')", what, size, pc__p_type_name(o->type),
                         (unsigned long long)b->item_size,
                         b->typecode ? (char)b->typecode : '-');
    return PC_OK;
}

// The integer of size bytes at p (sign-extended when signed).
static int64_t pc__p_int_load(const unsigned char *p, size_t size, int is_signed) {
    uint8_t u8; uint16_t u16; uint32_t u32; uint64_t u64;
    switch (size) {
    case 1: memcpy(&u8, p, 1); return is_signed ? (int64_t)(int8_t)u8 : (int64_t)u8;
    case 2: memcpy(&u16, p, 2); return is_signed ? (int64_t)(int16_t)u16 : (int64_t)u16;
    case 4: memcpy(&u32, p, 4); return is_signed ? (int64_t)(int32_t)u32 : (int64_t)u32;
    default: memcpy(&u64, p, 8); return (int64_t)u64;
    }
}

// Store v's low size bytes at p (C's conversion to an unsigned type: modulo).
static void pc__p_int_store(unsigned char *p, size_t size, uint64_t v) {
    uint8_t u8 = (uint8_t)v; uint16_t u16 = (uint16_t)v; uint32_t u32 = (uint32_t)v;
    switch (size) {
    case 1: memcpy(p, &u8, 1); break;
    case 2: memcpy(p, &u16, 2); break;
    case 4: memcpy(p, &u32, 4); break;
    default: memcpy(p, &v, 8); break;
    }
}

// The typecode of o's items if it is of kind (or kind2), else PC_VALUE.
static const pc__p_tcode *pc__p_val_kind(const pc__p_obj *o, int kind, int kind2,
                                         const char *what) {
    const pc__p_tcode *t = pc__p_tcode_find(pc__p_val_body(o)->typecode);
    if (t && (t->kind == kind || t->kind == kind2)) return t;
    if (!t) return pc__error(PC_VALUE, "%s on a %s of a C type of its own", what,
                             pc__p_type_name(o->type)), (const pc__p_tcode *)NULL;
    return pc__error(PC_VALUE, "%s on a %s of typecode '%c' (it takes %s)", what,
                     pc__p_type_name(o->type), t->code,
                     kind == PC__TC_FLOAT ? "f d" : "b B h H i I l L q Q"),
           (const pc__p_tcode *)NULL;
}

static int pc__p_val_add_int(pc__p_obj *o, size_t off, int64_t delta, int64_t *out_new) {
    const pc__p_tcode *t = pc__p_val_kind(o, PC__TC_SIGNED, PC__TC_UNSIGNED, "add_int64");
    if (!t) return PC_VALUE;
    int took, rc = pc__p_val_enter(o, &took);
    if (rc != PC_OK && rc != PC_OWNER_DEAD) return rc;
    unsigned char *p = pc__p_val_data(o) + off;
    int sig = t->kind == PC__TC_SIGNED;
    // Unsigned arithmetic: wraps where signed overflow would be undefined.
    pc__p_int_store(p, t->size, (uint64_t)pc__p_int_load(p, t->size, sig) + (uint64_t)delta);
    int64_t now = pc__p_int_load(p, t->size, sig);
    rc = pc__p_val_leave(o, took, rc);
    if (out_new && (rc == PC_OK || rc == PC_OWNER_DEAD)) *out_new = now;
    return rc;
}

static int pc__p_val_add_float(pc__p_obj *o, size_t off, double delta, double *out_new) {
    const pc__p_tcode *t = pc__p_val_kind(o, PC__TC_FLOAT, PC__TC_FLOAT, "add_double");
    if (!t) return PC_VALUE;
    int took, rc = pc__p_val_enter(o, &took);
    if (rc != PC_OK && rc != PC_OWNER_DEAD) return rc;
    unsigned char *p = pc__p_val_data(o) + off;
    double now;
    if (t->code == 'f') {       // as ctypes: the sum in double, stored as float
        float f;
        memcpy(&f, p, sizeof f);
        f = (float)((double)f + delta);
        memcpy(p, &f, sizeof f);
        now = f;
    } else {
        memcpy(&now, p, sizeof now);
        now += delta;
        memcpy(p, &now, sizeof now);
    }
    rc = pc__p_val_leave(o, took, rc);
    if (out_new && (rc == PC_OK || rc == PC_OWNER_DEAD)) *out_new = now;
    return rc;
}

// Value
PYCONC_API pc_mp_value *pc_mp_value_new(const pc_mp_value_desc *d) {
    if (!d) return pc__error(PC_VALUE, "Value: desc is NULL"), (pc_mp_value *)NULL;
    pc__p_valspec s = {PC_ARG_MP_VALUE, d->typecode, d->size, 1, d->init, d->raw, d->lock,
                       d->rlock};
    return (pc_mp_value *)pc__p_val_new(&s);
}

PYCONC_API pc_mp_value *pc_mp_raw_value_new(const pc_mp_value_desc *d) {
    if (!d) return pc__error(PC_VALUE, "RawValue: desc is NULL"), (pc_mp_value *)NULL;
    pc__p_valspec s = {PC_ARG_MP_VALUE, d->typecode, d->size, 1, d->init, 1, d->lock,
                       d->rlock};
    return (pc_mp_value *)pc__p_val_new(&s);
}

PYCONC_API void pc_mp_value_free(pc_mp_value *v) { pc__p_obj_free(v ? &v->o : NULL); }

PYCONC_API void *pc_mp_value_get_obj(pc_mp_value *v) {
    pc__p_obj *o = pc__p_val_check(v, PC_ARG_MP_VALUE);
    return o ? pc__p_val_data(o) : NULL;
}
PYCONC_API size_t pc_mp_value_size(const pc_mp_value *v) {
    pc__p_obj *o = pc__p_val_check(v, PC_ARG_MP_VALUE);
    return o ? (size_t)pc__p_val_body(o)->item_size : 0;
}
PYCONC_API char pc_mp_value_typecode(const pc_mp_value *v) {
    pc__p_obj *o = pc__p_val_check(v, PC_ARG_MP_VALUE);
    return o ? (char)pc__p_val_body(o)->typecode : '\0';
}
PYCONC_API pc_mp_rlock *pc_mp_value_get_rlock(pc_mp_value *v) {
    pc__p_obj *o = pc__p_val_check(v, PC_ARG_MP_VALUE);
    return o ? (pc_mp_rlock *)pc__p_val_lock_handle(o, PC_ARG_MP_RLOCK) : NULL;
}
PYCONC_API pc_mp_lock *pc_mp_value_get_lock(pc_mp_value *v) {
    pc__p_obj *o = pc__p_val_check(v, PC_ARG_MP_VALUE);
    return o ? (pc_mp_lock *)pc__p_val_lock_handle(o, PC_ARG_MP_LOCK) : NULL;
}
PYCONC_API int pc_mp_value_acquire(pc_mp_value *v, double timeout) {
    pc__p_obj *o = pc__p_val_check(v, PC_ARG_MP_VALUE);
    return o ? pc__p_val_acquire(o, timeout) : PC_VALUE;
}
PYCONC_API int pc_mp_value_release(pc_mp_value *v) {
    pc__p_obj *o = pc__p_val_check(v, PC_ARG_MP_VALUE);
    return o ? pc__p_val_release(o) : PC_VALUE;
}
PYCONC_API int pc_mp_value_consistent(pc_mp_value *v) {
    pc__p_obj *o = pc__p_val_check(v, PC_ARG_MP_VALUE);
    return o ? pc__p_val_consistent(o) : PC_VALUE;
}
PYCONC_API int pc_mp_value_load(pc_mp_value *v, void *out, size_t size) {
    pc__p_obj *o = pc__p_val_check(v, PC_ARG_MP_VALUE);
    if (!o || pc__p_val_sized(o, out, size, "load")) return PC_VALUE;
    return pc__p_val_copy(o, 0, out, size, 0);
}
PYCONC_API int pc_mp_value_store(pc_mp_value *v, const void *in, size_t size) {
    pc__p_obj *o = pc__p_val_check(v, PC_ARG_MP_VALUE);
    if (!o || pc__p_val_sized(o, in, size, "store")) return PC_VALUE;
    return pc__p_val_copy(o, 0, (void *)(uintptr_t)in, size, 1);
}
PYCONC_API int pc_mp_value_add_int64(pc_mp_value *v, int64_t delta, int64_t *out_new) {
    pc__p_obj *o = pc__p_val_check(v, PC_ARG_MP_VALUE);
    return o ? pc__p_val_add_int(o, 0, delta, out_new) : PC_VALUE;
}
PYCONC_API int pc_mp_value_add_double(pc_mp_value *v, double delta, double *out_new) {
    pc__p_obj *o = pc__p_val_check(v, PC_ARG_MP_VALUE);
    return o ? pc__p_val_add_float(o, 0, delta, out_new) : PC_VALUE;
}
PYCONC_API pc_mp_value *pc_mp_value_copy(pc_mp_value *v) {
    pc__p_obj *o = pc__p_val_check(v, PC_ARG_MP_VALUE);
    return o ? (pc_mp_value *)pc__p_val_dup(o) : NULL;
}
PYCONC_API pc_mp_value *pc_mp_value_synchronized(pc_mp_value *raw, pc_mp_lock *lock,
                                                 pc_mp_rlock *rlock) {
    pc__p_obj *o = pc__p_val_check(raw, PC_ARG_MP_VALUE);
    return o ? (pc_mp_value *)pc__p_val_sync(o, lock, rlock) : NULL;
}

// Array
PYCONC_API pc_mp_array *pc_mp_array_new(const pc_mp_array_desc *d) {
    if (!d) return pc__error(PC_VALUE, "Array: desc is NULL"), (pc_mp_array *)NULL;
    pc__p_valspec s = {PC_ARG_MP_ARRAY, d->typecode, d->size, d->length, d->init, d->raw,
                       d->lock, d->rlock};
    return (pc_mp_array *)pc__p_val_new(&s);
}

PYCONC_API pc_mp_array *pc_mp_raw_array_new(const pc_mp_array_desc *d) {
    if (!d) return pc__error(PC_VALUE, "RawArray: desc is NULL"), (pc_mp_array *)NULL;
    pc__p_valspec s = {PC_ARG_MP_ARRAY, d->typecode, d->size, d->length, d->init, 1, d->lock,
                       d->rlock};
    return (pc_mp_array *)pc__p_val_new(&s);
}

PYCONC_API void pc_mp_array_free(pc_mp_array *a) { pc__p_obj_free(a ? &a->o : NULL); }

PYCONC_API void *pc_mp_array_get_obj(pc_mp_array *a) {
    pc__p_obj *o = pc__p_val_check(a, PC_ARG_MP_ARRAY);
    return o ? pc__p_val_data(o) : NULL;
}
PYCONC_API size_t pc_mp_array_length(const pc_mp_array *a) {
    pc__p_obj *o = pc__p_val_check(a, PC_ARG_MP_ARRAY);
    return o ? (size_t)pc__p_val_body(o)->length : 0;
}
PYCONC_API size_t pc_mp_array_item_size(const pc_mp_array *a) {
    pc__p_obj *o = pc__p_val_check(a, PC_ARG_MP_ARRAY);
    return o ? (size_t)pc__p_val_body(o)->item_size : 0;
}
PYCONC_API char pc_mp_array_typecode(const pc_mp_array *a) {
    pc__p_obj *o = pc__p_val_check(a, PC_ARG_MP_ARRAY);
    return o ? (char)pc__p_val_body(o)->typecode : '\0';
}
PYCONC_API pc_mp_rlock *pc_mp_array_get_rlock(pc_mp_array *a) {
    pc__p_obj *o = pc__p_val_check(a, PC_ARG_MP_ARRAY);
    return o ? (pc_mp_rlock *)pc__p_val_lock_handle(o, PC_ARG_MP_RLOCK) : NULL;
}
PYCONC_API pc_mp_lock *pc_mp_array_get_lock(pc_mp_array *a) {
    pc__p_obj *o = pc__p_val_check(a, PC_ARG_MP_ARRAY);
    return o ? (pc_mp_lock *)pc__p_val_lock_handle(o, PC_ARG_MP_LOCK) : NULL;
}
PYCONC_API int pc_mp_array_acquire(pc_mp_array *a, double timeout) {
    pc__p_obj *o = pc__p_val_check(a, PC_ARG_MP_ARRAY);
    return o ? pc__p_val_acquire(o, timeout) : PC_VALUE;
}
PYCONC_API int pc_mp_array_release(pc_mp_array *a) {
    pc__p_obj *o = pc__p_val_check(a, PC_ARG_MP_ARRAY);
    return o ? pc__p_val_release(o) : PC_VALUE;
}
PYCONC_API int pc_mp_array_consistent(pc_mp_array *a) {
    pc__p_obj *o = pc__p_val_check(a, PC_ARG_MP_ARRAY);
    return o ? pc__p_val_consistent(o) : PC_VALUE;
}
PYCONC_API int pc_mp_array_get(pc_mp_array *a, int64_t index, void *out, size_t size) {
    pc__p_obj *o = pc__p_val_check(a, PC_ARG_MP_ARRAY);
    size_t off = 0;
    if (!o || pc__p_val_sized(o, out, size, "get") || pc__p_val_index(o, index, &off))
        return PC_VALUE;
    return pc__p_val_copy(o, off, out, size, 0);
}
PYCONC_API int pc_mp_array_set(pc_mp_array *a, int64_t index, const void *in, size_t size) {
    pc__p_obj *o = pc__p_val_check(a, PC_ARG_MP_ARRAY);
    size_t off = 0;
    if (!o || pc__p_val_sized(o, in, size, "set") || pc__p_val_index(o, index, &off))
        return PC_VALUE;
    return pc__p_val_copy(o, off, (void *)(uintptr_t)in, size, 1);
}
PYCONC_API int pc_mp_array_get_slice(pc_mp_array *a, int64_t start, int64_t stop, void *out,
                                     size_t size) {
    pc__p_obj *o = pc__p_val_check(a, PC_ARG_MP_ARRAY);
    size_t off = 0;
    if (!o || pc__p_val_range(o, start, stop, size, out, &off)) return PC_VALUE;
    return pc__p_val_copy(o, off, out, size, 0);
}
PYCONC_API int pc_mp_array_set_slice(pc_mp_array *a, int64_t start, int64_t stop,
                                     const void *in, size_t size) {
    pc__p_obj *o = pc__p_val_check(a, PC_ARG_MP_ARRAY);
    size_t off = 0;
    if (!o || pc__p_val_range(o, start, stop, size, in, &off)) return PC_VALUE;
    return pc__p_val_copy(o, off, (void *)(uintptr_t)in, size, 1);
}

// The object of a 'c' array (SynchronizedString), or NULL (PC_VALUE).
static pc__p_obj *pc__p_val_chars(pc_mp_array *a, const void *buf, const char *what) {
    pc__p_obj *o = pc__p_val_check(a, PC_ARG_MP_ARRAY);
    if (!o) return NULL;
    if (pc__p_val_body(o)->typecode != 'c')
        return pc__error(PC_VALUE, "Array %s: only an Array of typecode 'c' has one", what),
               (pc__p_obj *)NULL;
    if (!buf) return pc__error(PC_VALUE, "Array %s: the buffer is NULL", what), (pc__p_obj *)NULL;
    return o;
}

PYCONC_API int pc_mp_array_get_value(pc_mp_array *a, char *out, size_t cap, size_t *out_len) {
    int took;
    pc__p_obj *o = pc__p_val_chars(a, out, "value");
    if (!o) return PC_VALUE;
    int rc = pc__p_val_enter(o, &took);
    if (rc != PC_OK && rc != PC_OWNER_DEAD) return rc;
    size_t length = (size_t)pc__p_val_body(o)->length;
    const unsigned char *data = pc__p_val_data(o);
    const unsigned char *nul = (const unsigned char *)memchr(data, 0, length);
    size_t n = nul ? (size_t)(nul - data) : length;
    if (n < cap) {
        memcpy(out, data, n);
        out[n] = '\0';
    }
    rc = pc__p_val_leave(o, took, rc);
    if (out_len) *out_len = n;
    if (n >= cap && (rc == PC_OK || rc == PC_OWNER_DEAD))
        return pc__error(PC_VALUE, "Array value of %zu bytes does not fit in %zu (with its NUL)",
                         n, cap);
    return rc;
}

PYCONC_API int pc_mp_array_set_value(pc_mp_array *a, const void *value, size_t len) {
    int took;
    pc__p_obj *o = pc__p_val_chars(a, value, "value");
    if (!o) return PC_VALUE;
    size_t length = (size_t)pc__p_val_body(o)->length;
    if (len > length)
        return pc__error(PC_VALUE, "Array value: byte string too long (%zu bytes, the array "
                                   "holds %zu)", len, length);
    int rc = pc__p_val_enter(o, &took);
    if (rc != PC_OK && rc != PC_OWNER_DEAD) return rc;
    memcpy(pc__p_val_data(o), value, len);
    if (len < length) pc__p_val_data(o)[len] = 0;
    return pc__p_val_leave(o, took, rc);
}
PYCONC_API int pc_mp_array_add_int64(pc_mp_array *a, int64_t index, int64_t delta,
                                     int64_t *out_new) {
    pc__p_obj *o = pc__p_val_check(a, PC_ARG_MP_ARRAY);
    size_t off = 0;
    if (!o || pc__p_val_index(o, index, &off)) return PC_VALUE;
    return pc__p_val_add_int(o, off, delta, out_new);
}
PYCONC_API int pc_mp_array_add_double(pc_mp_array *a, int64_t index, double delta,
                                      double *out_new) {
    pc__p_obj *o = pc__p_val_check(a, PC_ARG_MP_ARRAY);
    size_t off = 0;
    if (!o || pc__p_val_index(o, index, &off)) return PC_VALUE;
    return pc__p_val_add_float(o, off, delta, out_new);
}
PYCONC_API pc_mp_array *pc_mp_array_copy(pc_mp_array *a) {
    pc__p_obj *o = pc__p_val_check(a, PC_ARG_MP_ARRAY);
    return o ? (pc_mp_array *)pc__p_val_dup(o) : NULL;
}
PYCONC_API pc_mp_array *pc_mp_array_synchronized(pc_mp_array *raw, pc_mp_lock *lock,
                                                 pc_mp_rlock *rlock) {
    pc__p_obj *o = pc__p_val_check(raw, PC_ARG_MP_ARRAY);
    return o ? (pc_mp_array *)pc__p_val_sync(o, lock, rlock) : NULL;
}

// >>D.args: the pack's accessors for the objects above
#define PC__P_PACK_ACCESSORS(name, TYPE)                                                   \
    PYCONC_API int pc_args_add_##name(pc_args *a, pc_##name *x) {                          \
        pc__p_shared_init();                                                               \
        pc__p_obj *o = pc__p_obj_check(x, TYPE);                                           \
        return o ? pc__p_args_add_handle(a, TYPE, o, o->id) : PC_VALUE;                    \
    }                                                                                      \
    PYCONC_API int pc_args_get_##name(const pc_args *a, size_t i, pc_##name **out) {       \
        void *obj = NULL;                                                                  \
        int rc = pc__p_args_get_handle(a, i, TYPE, &obj);                                  \
        if (!rc) *out = (pc_##name *)obj;                                                  \
        return rc;                                                                         \
    }
PC__P_PACK_ACCESSORS(mp_lock, PC_ARG_MP_LOCK)
PC__P_PACK_ACCESSORS(mp_rlock, PC_ARG_MP_RLOCK)
PC__P_PACK_ACCESSORS(mp_semaphore, PC_ARG_MP_SEMAPHORE)
PC__P_PACK_ACCESSORS(mp_condition, PC_ARG_MP_CONDITION)
PC__P_PACK_ACCESSORS(mp_event, PC_ARG_MP_EVENT)
PC__P_PACK_ACCESSORS(mp_barrier, PC_ARG_MP_BARRIER)
PC__P_PACK_ACCESSORS(mp_value, PC_ARG_MP_VALUE)
PC__P_PACK_ACCESSORS(mp_array, PC_ARG_MP_ARRAY)

// >>D.shared-memory: SharedMemory, named (POSIX shm, Python's names) or anonymous (memfd)
// The handle is an object of this part (so the registry knows a freed one
// in a pack), but its mapping has no header: the bytes are the user's
// from offset 0, as Python's are, so that Python can attach by name.
struct pc_shared_memory {
    pc__p_obj obj;                  // first; obj.seg is NULL once closed
    char path[PC__P_SHM_PATH_MAX];  // "/name"; "" when anonymous
    size_t size;
    uint64_t reaper_id;             // the reaper tracking the name; 0: none
};

// Tracked names: a reaper process per program (pc__p_os_shm_reaper_start)
// holds a socket whose other end this process and its fork children
// share; when the last of them exits, even killed, the reaper reads end
// of file and unlinks the names still tracked. Made on the first
// tracked create, published once; a fork child inherits it.
typedef struct pc__p_shm_reaper {
    int fd;
    uint64_t id;                    // random: a pack's tracked block names its reaper
} pc__p_shm_reaper;
static pc__p_shm_reaper *pc__p_shm_reaper_now;

// Several threads may start one at once: one wins the publication, the
// others close theirs (their reapers read end of file with nothing to do).
static pc__p_shm_reaper *pc__p_shm_reaper_get(void) {
    // Acquire pairs with the release of the publication below: fd and id
    // are written before the pointer is seen.
    pc__p_shm_reaper *r = __atomic_load_n(&pc__p_shm_reaper_now, __ATOMIC_ACQUIRE);
    if (r) return r;
    pc__p_shm_reaper *mine = (pc__p_shm_reaper *)pc__calloc(1, sizeof *mine);
    if (!mine) return NULL;
    if (pc__p_random_bytes(&mine->id, sizeof mine->id) || !mine->id) mine->id = 1;
    mine->fd = pc__p_os_shm_reaper_start();
    if (mine->fd < 0) {
        pc__os_error("starting the shared memory reaper");
        pc__free(mine);
        return NULL;
    }
    if (__atomic_compare_exchange_n(&pc__p_shm_reaper_now, &r, mine, 0, __ATOMIC_ACQ_REL,
                                    __ATOMIC_ACQUIRE))
        return mine;
    pc__p_os_close(mine->fd);
    pc__free(mine);
    return r;
}

// Tell the reaper (op 'T' track, 'U' untrack) about path.
static int pc__p_shm_reaper_tell(pc__p_shm_reaper *r, char op, const char *path) {
    char rec[1 + PC__P_SHM_PATH_MAX];
    size_t n = strlen(path);
    rec[0] = op;
    memcpy(rec + 1, path, n);
    if (pc__p_os_send_record(r->fd, rec, 1 + n) < 0)
        return pc__os_error("the shared memory reaper is gone (killed?); untracked=1 "
                            "blocks need none");
    return PC_OK;
}

// Check name and write "/name" to path. NULL is fine (a fresh name).
static int pc__p_shm_path(const char *name, char *path) {
    path[0] = '\0';
    if (!name) return PC_OK;
    if (name[0] == '/') name++;
    size_t n = strlen(name);
    if (n == 0 || strcmp(name, ".") == 0 || strcmp(name, "..") == 0)
        return pc__error(PC_VALUE, "SharedMemory name \"%s\" is empty or a directory", name);
    if (n > NAME_MAX)
        return pc__error(PC_VALUE, "SharedMemory name of %zu bytes is too long (at most %d)",
                         n, NAME_MAX);
    if (strchr(name, '/'))
        return pc__error(PC_VALUE, "SharedMemory name \"%s\" holds a '/' past its first byte",
                         name);
    path[0] = '/';
    memcpy(path + 1, name, n + 1);
    return PC_OK;
}

static int pc__p_shm_check_desc(const pc_shared_memory_desc *d, char *path) {
    if (!d) return pc__error(PC_VALUE, "SharedMemory desc is NULL: a name (or create) is "
                                       "needed");
    if (d->size > (size_t)PTRDIFF_MAX)
        return pc__error(PC_VALUE, "SharedMemory size %zu is negative or too large", d->size);
    if (d->anonymous && d->name)
        return pc__error(PC_VALUE, "an anonymous SharedMemory has no name");
    if ((d->create || d->anonymous) && d->size == 0)
        return pc__error(PC_VALUE, "a new SharedMemory needs a size > 0");
    if (!d->create && !d->anonymous && !d->name)
        return pc__error(PC_VALUE, "SharedMemory: the name may be NULL only with create");
    return pc__p_shm_path(d->name, path);
}

// Create a block under a fresh name "/psm_" + 8 hex digits (Python's
// _make_filename), drawing again while the name is taken.
static int pc__p_shm_create_fresh(char *path) {
    for (int tries = 0; tries < 1000; tries++) {
        unsigned char rnd[4];
        if (pc__p_random_bytes(rnd, sizeof rnd)) return PC_OS;
        snprintf(path, PC__P_SHM_PATH_MAX, "/psm_%02x%02x%02x%02x", rnd[0], rnd[1], rnd[2],
                 rnd[3]);
        int fd = pc__p_os_shm_open(path, 1);
        if (fd >= 0 || errno != EEXIST) return fd;
    }
    errno = EEXIST;
    return -1;
}

// The descriptor of the block d asks for (path filled in), or -1 with
// the error recorded; *out_size gets its size.
static int pc__p_shm_open_desc(const pc_shared_memory_desc *d, char *path, size_t *out_size) {
    int fd;
    if (d->anonymous) fd = pc__p_os_anon_shm("psm");
    else if (!path[0]) fd = pc__p_shm_create_fresh(path);
    else fd = pc__p_os_shm_open(path, d->create);
    if (fd < 0) {
        int e = errno;
        pc__error(PC_OS, "SharedMemory %s: %s", path[0] ? path + 1 : "(anonymous)",
                  strerror(e));
        errno = e;
        return -1;
    }
    uint64_t size = d->size;
    if (d->create || d->anonymous) {
        if (pc__p_os_ftruncate(fd, size) == 0) {
            if (d->anonymous) pc__p_os_seal_size(fd);
            *out_size = (size_t)size;
            return fd;
        }
        pc__os_error("SharedMemory: ftruncate");
    } else if (pc__p_os_fd_size(fd, &size) < 0) {
        pc__os_error("SharedMemory: fstat");
    } else if (size == 0 || size > (uint64_t)PTRDIFF_MAX) {
        pc__error(PC_VALUE, "SharedMemory %s is empty (or too large to map)", path + 1);
    } else {
        *out_size = (size_t)size;
        return fd;
    }
    pc__p_os_close(fd);
    int e = errno;
    // A name made here goes again, as Python's unlink() on OSError.
    if (d->create && !d->anonymous) pc__p_os_shm_unlink(path);
    errno = e;
    return -1;
}

// A handle on fd (taken over) mapped for size bytes.
static pc_shared_memory *pc__p_shm_wrap(int fd, size_t size, const char *path, uint64_t rid) {
    pc_shared_memory *m = (pc_shared_memory *)pc__calloc(1, sizeof *m);
    if (!m) { pc__p_os_close(fd); return NULL; }
    m->obj.seg = pc__p_seg_map(fd, size);
    if (!m->obj.seg) { pc__free(m); return NULL; }
    m->obj.type = PC_ARG_SHARED_MEMORY;
    m->obj.body = m->obj.seg->base;
    snprintf(m->path, sizeof m->path, "%s", path);
    m->size = size;
    m->reaper_id = rid;
    pc__p_reg_add(&m->obj);
    return m;
}

PYCONC_API pc_shared_memory *pc_shared_memory_new(const pc_shared_memory_desc *d) {
    char path[PC__P_SHM_PATH_MAX];
    size_t size = 0;
    pc__p_shared_init();
    if (pc__p_shm_check_desc(d, path)) return NULL;
    int fd = pc__p_shm_open_desc(d, path, &size);
    if (fd < 0) return NULL;
    int named_new = d->create && !d->anonymous;
    pc__p_shm_reaper *r = named_new && !d->untracked ? pc__p_shm_reaper_get() : NULL;
    pc_shared_memory *m = NULL;
    if (!(named_new && !d->untracked) || (r && !pc__p_shm_reaper_tell(r, 'T', path)))
        m = pc__p_shm_wrap(fd, size, d->anonymous ? "" : path, r ? r->id : 0);
    else pc__p_os_close(fd);
    if (!m && named_new) {
        pc__p_os_shm_unlink(path);
        if (r) pc__p_shm_reaper_tell(r, 'U', path);
    }
    return m;
}

static pc_shared_memory *pc__p_shm_check(const pc_shared_memory *m) {
    return (pc_shared_memory *)pc__p_obj_check(m, PC_ARG_SHARED_MEMORY);
}

PYCONC_API int pc_shared_memory_close(pc_shared_memory *m) {
    if (!pc__p_shm_check(m)) return PC_VALUE;
    pc__p_seg_release(m->obj.seg);
    m->obj.seg = NULL;
    m->obj.body = NULL;
    return PC_OK;
}

PYCONC_API void pc_shared_memory_free(pc_shared_memory *m) {
    if (!m || pc_shared_memory_close(m)) return;
    pc__p_reg_remove(&m->obj);
    pc__free(m);
}

PYCONC_API void *pc_shared_memory_buf(pc_shared_memory *m) {
    if (!pc__p_shm_check(m)) return NULL;
    if (!m->obj.body) pc__error(PC_VALUE, "SharedMemory %s is closed",
                                m->path[0] ? m->path + 1 : "(anonymous)");
    return m->obj.body;
}

PYCONC_API size_t pc_shared_memory_size(const pc_shared_memory *m) {
    return pc__p_shm_check(m) ? m->size : 0;
}

PYCONC_API const char *pc_shared_memory_name(const pc_shared_memory *m) {
    return pc__p_shm_check(m) && m->path[0] ? m->path + 1 : NULL;
}

PYCONC_API int pc_shared_memory_unlink(pc_shared_memory *m) {
    if (!pc__p_shm_check(m)) return PC_VALUE;
    if (!m->path[0]) return PC_OK;
    if (pc__p_os_shm_unlink(m->path) < 0) {
        int e = errno;
        pc__error(PC_OS, "SharedMemory %s: unlink: %s", m->path + 1, strerror(e));
        errno = e;
        return PC_OS;
    }
    pc__p_shm_reaper *r = __atomic_load_n(&pc__p_shm_reaper_now, __ATOMIC_ACQUIRE);
    if (m->reaper_id && r && r->id == m->reaper_id) pc__p_shm_reaper_tell(r, 'U', m->path);
    m->reaper_id = 0;
    return PC_OK;
}

PYCONC_API int pc_args_add_shared_memory(pc_args *a, pc_shared_memory *m) {
    pc__p_shared_init();
    if (!pc__p_shm_check(m)) return PC_VALUE;
    if (!m->obj.seg) return pc__error(PC_VALUE, "SharedMemory %s is closed",
                                      m->path[0] ? m->path + 1 : "(anonymous)");
    return pc__p_args_add_handle(a, PC_ARG_SHARED_MEMORY, m, m->obj.id);
}

PYCONC_API int pc_args_get_shared_memory(const pc_args *a, size_t i, pc_shared_memory **out) {
    void *obj = NULL;
    int rc = pc__p_args_get_handle(a, i, PC_ARG_SHARED_MEMORY, &obj);
    if (!rc) *out = (pc_shared_memory *)obj;
    return rc;
}

// Wire form: u64 size, u64 the id of the reaper tracking it (0: none),
// the path (a blob, empty when anonymous), u32 the index of a duplicate
// of its descriptor. The receiver maps that descriptor: the same memory,
// even if the name was unlinked meanwhile.
static int pc__p_shm_encode(void *obj, pc__p_buf *b, int *fds, size_t *nfds, size_t max) {
    pc_shared_memory *m = (pc_shared_memory *)obj;
    if (!m->obj.seg) return pc__error(PC_VALUE, "a SharedMemory in the pack was closed");
    if (*nfds >= max) return pc__error(PC_VALUE, "more than %zu descriptors in one pack", max);
    int fd = pc__p_os_dup_cloexec(m->obj.seg->fd, 3);
    if (fd < 0) return pc__os_error("dup SharedMemory");
    pc__p_buf_u64(b, m->size);
    pc__p_buf_u64(b, m->reaper_id);
    pc__p_buf_str(b, m->path);
    fds[*nfds] = fd;
    pc__p_buf_u32(b, (uint32_t)(*nfds)++);
    return b->bad ? PC_NOMEM : PC_OK;
}

// A fork child shares its parent's reaper: the block stays tracked there.
static void *pc__p_shm_decode(pc__p_buf *b, int *fds, size_t nfds) {
    char path[PC__P_SHM_PATH_MAX];
    size_t n = 0;
    uint64_t size = pc__p_buf_get_u64(b), rid = pc__p_buf_get_u64(b), fsize = 0;
    const void *p = pc__p_buf_get_blob(b, &n);
    uint32_t k = pc__p_buf_get_u32(b);
    if (b->bad || k >= nfds || fds[k] < 0 || n >= sizeof path ||
        (n && ((const char *)p)[0] != '/') || size == 0 || size > (uint64_t)PTRDIFF_MAX) {
        b->bad = 1;
        return NULL;
    }
    if (n) memcpy(path, p, n);
    path[n] = '\0';
    if (pc__p_os_fd_size(fds[k], &fsize) < 0 || fsize < size) {
        pc__error(PC_VALUE, "a SharedMemory arrived without its memory");
        return NULL;
    }
    if (!n && !pc__p_os_size_sealed(fds[k])) {
        pc__error(PC_VALUE, "an anonymous SharedMemory arrived that could change size "
                  "under its mapping (not sealed)");
        return NULL;
    }
    pc__p_shm_reaper *r = __atomic_load_n(&pc__p_shm_reaper_now, __ATOMIC_ACQUIRE);
    pc_shared_memory *m = pc__p_shm_wrap(fds[k], (size_t)size, path,
                                         rid && r && r->id == rid ? rid : 0);
    fds[k] = -1;
    return m;
}

static void pc__p_shm_release(void *obj) { pc_shared_memory_free((pc_shared_memory *)obj); }

// >>D.shareable-list: ShareableList in Python's layout, and SharedMemoryManager
// Python's layout of a list of N items, at offsets from the block's start:
//   0                  int64 N
//   8                  int64 offsets[N + 1]: slot i starts offsets[i] bytes
//                      into the data area; offsets[N] is the area's size
//   8 (N + 2)          the data area: 8 bytes for a number, bool or None,
//                      the capacity for a str or bytes (a multiple of 8)
//   + offsets[N]       N struct formats of 8 bytes, NUL-padded ("q", "16s")
//   + 8 N              N signed bytes, Python's back-transform codes
// Numbers are in the machine's order and sizes, as struct's default "@"
// packs them. A block may hold more bytes than that (none here or in
// Python on Linux; macOS rounds to pages).
struct pc_shareable_list {
    pc_shared_memory *shm;
    size_t len;
    uint64_t *offsets;      // len + 1, checked once (Python caches them too)
};

enum { PC__P_SL_CODE_PLAIN, PC__P_SL_CODE_STR, PC__P_SL_CODE_BYTES, PC__P_SL_CODE_NONE };
#define PC__P_SL_MAX_CAP 9999999u   // "<n>s" must fit Python's 8 characters

static const char *pc__p_sl_kind_name(pc_shareable_type t) {
    switch (t) {
    case PC_SHAREABLE_NONE: return "None";
    case PC_SHAREABLE_INT: return "an int";
    case PC_SHAREABLE_FLOAT: return "a float";
    case PC_SHAREABLE_BOOL: return "a bool";
    case PC_SHAREABLE_STR: return "a str";
    case PC_SHAREABLE_BYTES: return "bytes";
    }
    return "?";
}

// The format of a kind that has one whatever its value; NULL for str, bytes.
static const char *pc__p_sl_fixed_format(pc_shareable_type t) {
    switch (t) {
    case PC_SHAREABLE_NONE: return "xxxxxx?x";
    case PC_SHAREABLE_INT: return "q";
    case PC_SHAREABLE_FLOAT: return "d";
    case PC_SHAREABLE_BOOL: return "xxxxxxx?";
    default: return NULL;
    }
}

static int pc__p_sl_code(pc_shareable_type t) {
    return t == PC_SHAREABLE_STR ? PC__P_SL_CODE_STR : t == PC_SHAREABLE_BYTES
        ? PC__P_SL_CODE_BYTES : t == PC_SHAREABLE_NONE ? PC__P_SL_CODE_NONE : PC__P_SL_CODE_PLAIN;
}

// Whether s[0..n) is UTF-8 that Python's str.encode could have made (no
// overlong forms, no surrogates): Python's reader decodes it.
static int pc__p_utf8_valid(const unsigned char *s, size_t n) {
    for (size_t i = 0; i < n;) {
        uint32_t c = s[i], min;
        size_t k;
        if (c < 0x80) { i++; continue; }
        if ((c & 0xE0) == 0xC0) { k = 1; min = 0x80; c &= 0x1F; }
        else if ((c & 0xF0) == 0xE0) { k = 2; min = 0x800; c &= 0x0F; }
        else if ((c & 0xF8) == 0xF0) { k = 3; min = 0x10000; c &= 0x07; }
        else return 0;
        if (n - i <= k) return 0;
        for (size_t j = 1; j <= k; j++) {
            if ((s[i + j] & 0xC0) != 0x80) return 0;
            c = (c << 6) | (s[i + j] & 0x3F);
        }
        if (c < min || c > 0x10FFFF || (c >= 0xD800 && c <= 0xDFFF)) return 0;
        i += k + 1;
    }
    return 1;
}

// Check a value given by the caller; *len gets a str's or bytes' length.
static int pc__p_sl_check_value(const pc_shareable_item *v, const char *what, size_t *len) {
    *len = 0;
    if (!v) return pc__error(PC_VALUE, "ShareableList: %s is NULL", what);
    switch (v->type) {
    case PC_SHAREABLE_NONE: case PC_SHAREABLE_INT: case PC_SHAREABLE_FLOAT:
    case PC_SHAREABLE_BOOL:
        return PC_OK;
    case PC_SHAREABLE_STR:
        if (!v->str) return pc__error(PC_VALUE, "ShareableList: %s is a NULL str", what);
        *len = strlen(v->str);
        if (!pc__p_utf8_valid((const unsigned char *)v->str, *len))
            return pc__error(PC_VALUE, "ShareableList: %s is a str that is not valid UTF-8",
                             what);
        return PC_OK;
    case PC_SHAREABLE_BYTES:
        if (!v->bytes && v->len)
            return pc__error(PC_VALUE, "ShareableList: %s is NULL bytes of length %zu", what,
                             v->len);
        *len = v->len;
        return PC_OK;
    }
    return pc__error(PC_VALUE, "ShareableList: %s has an unknown type %d", what, (int)v->type);
}

// One item as the block holds it.
typedef struct pc__p_sl_slot {
    pc_shareable_type type;
    unsigned char *at;      // the slot's first byte
    unsigned char *format;  // its 8 bytes of format
    signed char *code;
    size_t cap;             // the slot's bytes
    size_t n;               // str, bytes: the format's count ("<n>s")
} pc__p_sl_slot;

// The kind that a format (8 NUL-padded bytes) and code name, as Python
// writes them, with *n a str's or bytes' count; -1 for any other pair.
static int pc__p_sl_kind(const unsigned char *format, int code, size_t cap, size_t *n) {
    char f[9];
    memcpy(f, format, 8);
    f[8] = '\0';
    size_t len = strlen(f);
    for (size_t k = len; k < 8; k++)
        if (format[k]) return -1;
    if (code == PC__P_SL_CODE_PLAIN) {
        if (strcmp(f, "q") == 0) return PC_SHAREABLE_INT;
        if (strcmp(f, "d") == 0) return PC_SHAREABLE_FLOAT;
        if (strcmp(f, "xxxxxxx?") == 0) return PC_SHAREABLE_BOOL;
        return -1;
    }
    if (code == PC__P_SL_CODE_NONE) return strcmp(f, "xxxxxx?x") == 0 ? PC_SHAREABLE_NONE : -1;
    if (code != PC__P_SL_CODE_STR && code != PC__P_SL_CODE_BYTES) return -1;
    if (len < 2 || f[len - 1] != 's') return -1;
    size_t count = 0;
    for (size_t k = 0; k + 1 < len; k++) {
        if (f[k] < '0' || f[k] > '9') return -1;
        count = count * 10 + (size_t)(f[k] - '0');
    }
    if (count > cap) return -1;
    *n = count;
    return code == PC__P_SL_CODE_STR ? PC_SHAREABLE_STR : PC_SHAREABLE_BYTES;
}

// Where item pos of the list whose bytes start at buf lies (its offsets
// checked), its kind not read.
static void pc__p_sl_locate(const pc_shareable_list *l, unsigned char *buf, size_t pos,
                            pc__p_sl_slot *s) {
    size_t data = 8 * (l->len + 2), formats = data + (size_t)l->offsets[l->len];
    s->type = PC_SHAREABLE_NONE;
    s->at = buf + data + l->offsets[pos];
    s->cap = (size_t)(l->offsets[pos + 1] - l->offsets[pos]);
    s->format = buf + formats + 8 * pos;
    s->code = (signed char *)(buf + formats + 8 * l->len + pos);
    s->n = 0;
}

// Item pos, its format and code checked.
static int pc__p_sl_slot_at(const pc_shareable_list *l, unsigned char *buf, size_t pos,
                            pc__p_sl_slot *s) {
    pc__p_sl_locate(l, buf, pos, s);
    int kind = pc__p_sl_kind(s->format, *s->code, s->cap, &s->n);
    if (kind < 0)
        return pc__error(PC_VALUE, "ShareableList %s: item %zu is corrupted (format \"%.8s\", "
                         "code %d)", pc_shared_memory_name(l->shm), pos,
                         (const char *)s->format, (int)*s->code);
    s->type = (pc_shareable_type)kind;
    return PC_OK;
}

// The slot of item index (negative: from the end).
static int pc__p_sl_item(pc_shareable_list *l, int64_t index, pc__p_sl_slot *s) {
    if (!l) return pc__error(PC_VALUE, "ShareableList is NULL");
    unsigned char *buf = (unsigned char *)pc_shared_memory_buf(l->shm);
    if (!buf) return PC_VALUE;
    int64_t n = (int64_t)l->len, i = index < 0 ? index + n : index;
    if (i < 0 || i >= n)
        return pc__error(PC_VALUE, "ShareableList index %lld out of range (%zu items)",
                         (long long)index, l->len);
    return pc__p_sl_slot_at(l, buf, (size_t)i, s);
}

// Write an item: its format (NUL-padded), code, then width bytes of slot
// (value at skip, zeros around it, as struct.pack_into writes them).
static void pc__p_sl_put(pc__p_sl_slot *s, const char *format, pc_shareable_type t, size_t width,
                         size_t skip, const void *value, size_t len) {
    memset(s->format, 0, 8);
    memcpy(s->format, format, strlen(format));
    *s->code = (signed char)pc__p_sl_code(t);
    memset(s->at, 0, width);
    if (len) memcpy(s->at + skip, value, len);
}

// Store v (checked, len its length) in slot s, by Python's __setitem__.
static int pc__p_sl_store(pc__p_sl_slot *s, const pc_shareable_item *v, size_t len,
                          long long index) {
    const char *fixed = pc__p_sl_fixed_format(v->type);
    unsigned char one = v->i != 0;
    switch (v->type) {
    case PC_SHAREABLE_INT: pc__p_sl_put(s, fixed, v->type, 8, 0, &v->i, 8); return PC_OK;
    case PC_SHAREABLE_FLOAT: pc__p_sl_put(s, fixed, v->type, 8, 0, &v->d, 8); return PC_OK;
    case PC_SHAREABLE_BOOL: pc__p_sl_put(s, fixed, v->type, 8, 7, &one, 1); return PC_OK;
    case PC_SHAREABLE_NONE: pc__p_sl_put(s, fixed, v->type, 8, 0, NULL, 0); return PC_OK;
    default: break;
    }
    // A str or bytes keeps a str's or bytes' format, else takes the slot's.
    int textual = s->type == PC_SHAREABLE_STR || s->type == PC_SHAREABLE_BYTES;
    size_t n = textual ? s->n : s->cap;
    if (len > n)
        return pc__error(PC_VALUE, "ShareableList item %lld: %s of %zu bytes exceeds available "
                         "storage (%zu bytes)", index, pc__p_sl_kind_name(v->type), len, n);
    char format[16];
    snprintf(format, sizeof format, "%zus", n);
    pc__p_sl_put(s, format, v->type, n, 0, v->type == PC_SHAREABLE_STR ? (const void *)v->str
                                                                       : v->bytes, len);
    return PC_OK;
}

// An item's value: str and bytes point into the block, their trailing
// NULs stripped (Python's rstrip(b'\x00')).
static void pc__p_sl_load(const pc__p_sl_slot *s, pc_shareable_item *out) {
    memset(out, 0, sizeof *out);
    out->type = s->type;
    if (s->type == PC_SHAREABLE_INT) memcpy(&out->i, s->at, 8);
    else if (s->type == PC_SHAREABLE_FLOAT) memcpy(&out->d, s->at, 8);
    else if (s->type == PC_SHAREABLE_BOOL) out->i = s->at[7] != 0;
    else if (s->type != PC_SHAREABLE_NONE) {
        size_t n = s->n;
        while (n && s->at[n - 1] == 0) n--;
        out->str = (const char *)s->at;
        out->bytes = s->at;
        out->len = n;
    }
}

// The list's layout, from the block's bytes: its item count and offsets
// in place, each item's format and code one Python writes.
static int pc__p_sl_check_layout(pc_shareable_list *l) {
    const unsigned char *buf = (const unsigned char *)pc_shared_memory_buf(l->shm);
    size_t size = pc_shared_memory_size(l->shm);
    const char *name = pc_shared_memory_name(l->shm);
    int64_t n;
    if (size < 16)
        return pc__error(PC_VALUE, "SharedMemory %s is not a ShareableList (%zu bytes)", name,
                         size);
    memcpy(&n, buf, 8);
    if (n < 0 || (uint64_t)n > (size - 16) / 17)
        return pc__error(PC_VALUE, "SharedMemory %s is not a ShareableList: its count %lld "
                         "does not fit its %zu bytes", name, (long long)n, size);
    l->len = (size_t)n;
    l->offsets = (uint64_t *)pc__calloc(l->len + 1, sizeof *l->offsets);
    if (!l->offsets) return PC_NOMEM;
    memcpy(l->offsets, buf + 8, 8 * (l->len + 1));
    int ok = l->offsets[0] == 0;
    for (size_t i = 0; ok && i < l->len; i++) {
        uint64_t a = l->offsets[i], b = l->offsets[i + 1];
        ok = b > a && (b - a) % 8 == 0;
    }
    if (!ok || l->offsets[l->len] > size - 16 - 17 * l->len)
        return pc__error(PC_VALUE, "SharedMemory %s is not a ShareableList: its item offsets "
                         "are out of place", name);
    pc__p_sl_slot s;
    for (size_t i = 0; i < l->len; i++)
        if (pc__p_sl_slot_at(l, (unsigned char *)buf, i, &s)) return PC_VALUE;
    return PC_OK;
}

// Plan a new list's layout from its items: offsets filled, the block's
// size returned in *size.
static int pc__p_sl_plan(const pc_shareable_item *items, size_t count, uint64_t *offsets,
                         size_t *size) {
    size_t data = 0;
    offsets[0] = 0;
    for (size_t i = 0; i < count; i++) {
        char what[40];
        size_t len, cap = 8;
        snprintf(what, sizeof what, "item %zu", i);
        if (pc__p_sl_check_value(&items[i], what, &len)) return PC_VALUE;
        if (!pc__p_sl_fixed_format(items[i].type)) cap = 8 * (len / 8 + 1);
        if (len >= PC__P_SL_MAX_CAP || cap > PC__P_SL_MAX_CAP)    // len first: no overflow
            return pc__error(PC_VALUE, "ShareableList item %zu of %zu bytes is too large (its "
                             "format \"%zus\" would pass Python's 8 characters)", i, len, cap);
        if (data > (size_t)PTRDIFF_MAX / 2 - cap)
            return pc__error(PC_VALUE, "ShareableList of %zu items is too large", count);
        data += cap;
        offsets[i + 1] = data;
    }
    if (count > ((size_t)PTRDIFF_MAX / 2 - data) / 17 - 1)
        return pc__error(PC_VALUE, "ShareableList of %zu items is too large", count);
    *size = 16 + 17 * count + data;
    return PC_OK;
}

// Write a new list's header and items into its (zeroed) block.
static void pc__p_sl_fill(pc_shareable_list *l, const pc_shareable_item *items) {
    unsigned char *buf = (unsigned char *)pc_shared_memory_buf(l->shm);
    int64_t n = (int64_t)l->len;
    memcpy(buf, &n, 8);
    memcpy(buf + 8, l->offsets, 8 * (l->len + 1));
    for (size_t i = 0; i < l->len; i++) {
        pc__p_sl_slot s;
        size_t len;
        pc__p_sl_locate(l, buf, i, &s);     // not textual yet: a str takes the whole slot
        pc__p_sl_check_value(&items[i], "", &len);
        pc__p_sl_store(&s, &items[i], len, (long long)i);
    }
}

static pc_shareable_list *pc__p_sl_create(const pc_shareable_list_desc *d) {
    if (d->count && !d->items) {
        pc__error(PC_VALUE, "ShareableList: items is NULL with count %zu", d->count);
        return NULL;
    }
    pc_shareable_list *l = (pc_shareable_list *)pc__calloc(1, sizeof *l);
    if (!l) return NULL;
    l->len = d->count;
    l->offsets = (uint64_t *)pc__calloc(d->count + 1, sizeof *l->offsets);
    pc_shared_memory_desc sd;
    memset(&sd, 0, sizeof sd);
    sd.name = d->name;
    sd.create = 1;
    sd.untracked = d->untracked;
    if (!l->offsets || pc__p_sl_plan(d->items, d->count, l->offsets, &sd.size) ||
        !(l->shm = pc_shared_memory_new(&sd))) {
        pc_shareable_list_free(l);
        return NULL;
    }
    pc__p_sl_fill(l, d->items);
    return l;
}

PYCONC_API pc_shareable_list *pc_shareable_list_new(const pc_shareable_list_desc *d) {
    if (!d) {
        pc__error(PC_VALUE, "ShareableList desc is NULL");
        return NULL;
    }
    if (d->create || d->items || !d->name) return pc__p_sl_create(d);
    pc_shareable_list *l = (pc_shareable_list *)pc__calloc(1, sizeof *l);
    if (!l) return NULL;
    pc_shared_memory_desc sd;
    memset(&sd, 0, sizeof sd);
    sd.name = d->name;
    if (!(l->shm = pc_shared_memory_new(&sd)) || pc__p_sl_check_layout(l)) {
        pc_shareable_list_free(l);
        return NULL;
    }
    return l;
}

PYCONC_API void pc_shareable_list_free(pc_shareable_list *l) {
    if (!l) return;
    pc_shared_memory_free(l->shm);
    pc__free(l->offsets);
    pc__free(l);
}

PYCONC_API size_t pc_shareable_list_len(const pc_shareable_list *l) { return l ? l->len : 0; }

PYCONC_API pc_shared_memory *pc_shareable_list_shm(pc_shareable_list *l) {
    if (!l) pc__error(PC_VALUE, "ShareableList is NULL");
    return l ? l->shm : NULL;
}

PYCONC_API const char *pc_shareable_list_name(const pc_shareable_list *l) {
    return l ? pc_shared_memory_name(l->shm) : NULL;
}

PYCONC_API int pc_shareable_list_type(pc_shareable_list *l, int64_t index,
                                      pc_shareable_type *out) {
    pc__p_sl_slot s;
    int rc = pc__p_sl_item(l, index, &s);
    if (!rc && out) *out = s.type;
    return rc;
}

// Item index, which must be of kind a (or b).
static int pc__p_sl_get(pc_shareable_list *l, int64_t index, pc_shareable_type a,
                        pc_shareable_type b, pc_shareable_item *out) {
    pc__p_sl_slot s;
    memset(out, 0, sizeof *out);
    int rc = pc__p_sl_item(l, index, &s);
    if (rc) return rc;
    if (s.type != a && s.type != b)
        return pc__error(PC_VALUE, "ShareableList item %lld is %s, not %s", (long long)index,
                         pc__p_sl_kind_name(s.type), pc__p_sl_kind_name(a));
    pc__p_sl_load(&s, out);
    return PC_OK;
}

PYCONC_API int pc_shareable_list_get_int(pc_shareable_list *l, int64_t index, int64_t *out) {
    pc_shareable_item v;
    int rc = pc__p_sl_get(l, index, PC_SHAREABLE_INT, PC_SHAREABLE_BOOL, &v);
    if (!rc && out) *out = v.i;
    return rc;
}

PYCONC_API int pc_shareable_list_get_double(pc_shareable_list *l, int64_t index, double *out) {
    pc_shareable_item v;
    int rc = pc__p_sl_get(l, index, PC_SHAREABLE_FLOAT, PC_SHAREABLE_FLOAT, &v);
    if (!rc && out) *out = v.d;
    return rc;
}

// Copy n bytes (and a NUL if nul) to out, cap bytes, as get_str says.
static int pc__p_sl_copy_out(const void *src, size_t n, int nul, void *out, size_t cap,
                             size_t *out_len, long long index) {
    if (out_len) *out_len = n;
    if (!out && cap == 0) return PC_OK;
    if (!out || n + (size_t)nul > cap)
        return pc__error(PC_VALUE, "ShareableList item %lld: %zu bytes%s do not fit in %zu",
                         index, n, nul ? " and a NUL" : "", out ? cap : 0);
    if (n) memcpy(out, src, n);
    if (nul) ((char *)out)[n] = '\0';
    return PC_OK;
}

PYCONC_API int pc_shareable_list_get_str(pc_shareable_list *l, int64_t index, char *out,
                                         size_t cap, size_t *out_len) {
    pc_shareable_item v;
    int rc = pc__p_sl_get(l, index, PC_SHAREABLE_STR, PC_SHAREABLE_STR, &v);
    return rc ? rc : pc__p_sl_copy_out(v.str, v.len, 1, out, cap, out_len, (long long)index);
}

PYCONC_API int pc_shareable_list_get_bytes(pc_shareable_list *l, int64_t index, void *out,
                                           size_t cap, size_t *out_len) {
    pc_shareable_item v;
    int rc = pc__p_sl_get(l, index, PC_SHAREABLE_BYTES, PC_SHAREABLE_BYTES, &v);
    return rc ? rc : pc__p_sl_copy_out(v.bytes, v.len, 0, out, cap, out_len, (long long)index);
}

static int pc__p_sl_set(pc_shareable_list *l, int64_t index, const pc_shareable_item *v) {
    pc__p_sl_slot s;
    size_t len;
    int rc = pc__p_sl_item(l, index, &s);
    if (!rc) rc = pc__p_sl_check_value(v, "the value", &len);
    return rc ? rc : pc__p_sl_store(&s, v, len, (long long)index);
}

PYCONC_API int pc_shareable_list_set_int(pc_shareable_list *l, int64_t index, int64_t v) {
    pc_shareable_item it;
    memset(&it, 0, sizeof it);
    it.type = PC_SHAREABLE_INT;
    it.i = v;
    return pc__p_sl_set(l, index, &it);
}

PYCONC_API int pc_shareable_list_set_double(pc_shareable_list *l, int64_t index, double v) {
    pc_shareable_item it;
    memset(&it, 0, sizeof it);
    it.type = PC_SHAREABLE_FLOAT;
    it.d = v;
    return pc__p_sl_set(l, index, &it);
}

PYCONC_API int pc_shareable_list_set_bool(pc_shareable_list *l, int64_t index, int v) {
    pc_shareable_item it;
    memset(&it, 0, sizeof it);
    it.type = PC_SHAREABLE_BOOL;
    it.i = v != 0;
    return pc__p_sl_set(l, index, &it);
}

PYCONC_API int pc_shareable_list_set_none(pc_shareable_list *l, int64_t index) {
    pc_shareable_item it;
    memset(&it, 0, sizeof it);
    return pc__p_sl_set(l, index, &it);
}

PYCONC_API int pc_shareable_list_set_str(pc_shareable_list *l, int64_t index, const char *s) {
    pc_shareable_item it;
    memset(&it, 0, sizeof it);
    it.type = PC_SHAREABLE_STR;
    it.str = s;
    return pc__p_sl_set(l, index, &it);
}

PYCONC_API int pc_shareable_list_set_bytes(pc_shareable_list *l, int64_t index, const void *b,
                                           size_t len) {
    pc_shareable_item it;
    memset(&it, 0, sizeof it);
    it.type = PC_SHAREABLE_BYTES;
    it.bytes = b;
    it.len = len;
    return pc__p_sl_set(l, index, &it);
}

// Python's int == float: exact (2**53 + 1 != 2.0**53), NaN equal to nothing.
static int pc__p_sl_int_eq_double(int64_t i, double d) {
    if (!(d >= -9223372036854775808.0 && d < 9223372036854775808.0)) return 0;
    return d == (double)(int64_t)d && (int64_t)d == i;
}

// Python's a == b for two values (a str/bytes value with its len).
static int pc__p_sl_equal(const pc_shareable_item *a, size_t alen, const pc_shareable_item *b) {
    int ai = a->type == PC_SHAREABLE_INT || a->type == PC_SHAREABLE_BOOL;
    int bi = b->type == PC_SHAREABLE_INT || b->type == PC_SHAREABLE_BOOL;
    int af = a->type == PC_SHAREABLE_FLOAT, bf = b->type == PC_SHAREABLE_FLOAT;
    int64_t x = a->type == PC_SHAREABLE_BOOL ? a->i != 0 : a->i;
    int64_t y = b->type == PC_SHAREABLE_BOOL ? b->i != 0 : b->i;
    if (ai && bi) return x == y;
    if (af && bf) return a->d == b->d;
    if (ai && bf) return pc__p_sl_int_eq_double(x, b->d);
    if (af && bi) return pc__p_sl_int_eq_double(y, a->d);
    if (a->type != b->type) return 0;
    if (a->type == PC_SHAREABLE_NONE) return 1;
    const void *p = a->type == PC_SHAREABLE_STR ? (const void *)a->str : a->bytes;
    return alen == b->len && (!alen || memcmp(p, b->bytes, alen) == 0);
}

// The number of items equal to v, and the first one's index (or len).
static int pc__p_sl_find(pc_shareable_list *l, const pc_shareable_item *v, size_t *count,
                         size_t *first) {
    size_t len;
    *count = *first = 0;
    if (!l) return pc__error(PC_VALUE, "ShareableList is NULL");
    if (pc__p_sl_check_value(v, "the value", &len)) return PC_VALUE;
    for (size_t i = 0; i < l->len; i++) {
        pc__p_sl_slot s;
        pc_shareable_item e;
        int rc = pc__p_sl_item(l, (int64_t)i, &s);
        if (rc) return rc;
        pc__p_sl_load(&s, &e);
        if (!pc__p_sl_equal(v, len, &e)) continue;
        if (!(*count)++) *first = i;
    }
    return PC_OK;
}

PYCONC_API int pc_shareable_list_count(pc_shareable_list *l, const pc_shareable_item *v,
                                       size_t *out) {
    size_t count, first;
    int rc = pc__p_sl_find(l, v, &count, &first);
    if (!rc && out) *out = count;
    return rc;
}

PYCONC_API int pc_shareable_list_index(pc_shareable_list *l, const pc_shareable_item *v,
                                       size_t *out) {
    size_t count, first;
    int rc = pc__p_sl_find(l, v, &count, &first);
    if (rc) return rc;
    if (!count) return pc__error(PC_VALUE, "ShareableList: %s not in this container",
                                 pc__p_sl_kind_name(v->type));
    if (out) *out = first;
    return PC_OK;
}

PYCONC_API int pc_shareable_list_format(pc_shareable_list *l, char *out, size_t cap,
                                        size_t *out_len) {
    size_t n = 0;
    if (!l) return pc__error(PC_VALUE, "ShareableList is NULL");
    for (int pass = 0; pass < 2; pass++) {
        for (size_t i = 0; i < l->len; i++) {
            pc__p_sl_slot s;
            int rc = pc__p_sl_item(l, (int64_t)i, &s);
            if (rc) return rc;
            size_t k = strnlen((const char *)s.format, 8);
            if (pass) memcpy(out + n, s.format, k);
            n += k;
        }
        if (pass) {
            out[n] = '\0';
            break;
        }
        if (out_len) *out_len = n;
        if (!out && cap == 0) return PC_OK;
        if (!out || n + 1 > cap)
            return pc__error(PC_VALUE, "ShareableList format of %zu bytes and a NUL does not "
                             "fit in %zu", n, out ? cap : 0);
        n = 0;
    }
    return PC_OK;
}

// SharedMemoryManager: the names of the blocks made through it, in the
// process that started it.
typedef struct pc__p_smm_name {
    char path[PC__P_SHM_PATH_MAX];
    uint64_t reaper_id;
} pc__p_smm_name;

struct pc_shared_memory_manager {
    pc_lock mu;             // guards the fields below
    pid_t pid;              // its process (a fork child's copy refuses calls)
    int down;
    pc__p_smm_name *names;
    size_t len, cap;
};

PYCONC_API pc_shared_memory_manager *pc_shared_memory_manager_start(void) {
    pc_shared_memory_manager *mgr =
        (pc_shared_memory_manager *)pc__calloc(1, sizeof *mgr);
    if (!mgr) return NULL;
    pc_lock_init(&mgr->mu);
    mgr->pid = pc__p_os_getpid();
    return mgr;
}

static int pc__p_smm_check(const pc_shared_memory_manager *mgr) {
    if (!mgr) return pc__error(PC_VALUE, "SharedMemoryManager is NULL");
    if (mgr->pid != pc__p_os_getpid())
        return pc__error(PC_VALUE, "this SharedMemoryManager belongs to process %d (use its "
                         "blocks here, not the manager)", (int)mgr->pid);
    return PC_OK;
}

// Lock the manager for a new block: PC_OK with the lock held.
static int pc__p_smm_enter(pc_shared_memory_manager *mgr) {
    if (pc__p_smm_check(mgr)) return PC_VALUE;
    pc_lock_acquire(&mgr->mu, PC_FOREVER);
    if (!mgr->down) return PC_OK;
    pc_lock_release(&mgr->mu);
    return pc__error(PC_VALUE, "SharedMemoryManager is shut down");
}

// Remember m's name (lock held); on failure m is unlinked.
static int pc__p_smm_keep(pc_shared_memory_manager *mgr, pc_shared_memory *m) {
    if (pc__grow(&mgr->names, &mgr->cap, mgr->len + 1, sizeof *mgr->names, 0)) {
        pc_shared_memory_unlink(m);
        return PC_NOMEM;
    }
    pc__p_smm_name *k = &mgr->names[mgr->len++];
    memcpy(k->path, m->path, sizeof k->path);
    k->reaper_id = m->reaper_id;
    return PC_OK;
}

PYCONC_API pc_shared_memory *pc_shared_memory_manager_shared_memory(
    pc_shared_memory_manager *mgr, size_t size) {
    if (pc__p_smm_enter(mgr)) return NULL;
    pc_shared_memory_desc d;
    memset(&d, 0, sizeof d);
    d.create = 1;
    d.size = size;
    pc_shared_memory *m = pc_shared_memory_new(&d);
    if (m && pc__p_smm_keep(mgr, m)) {
        pc_shared_memory_free(m);
        m = NULL;
    }
    pc_lock_release(&mgr->mu);
    return m;
}

PYCONC_API pc_shareable_list *pc_shared_memory_manager_shareable_list(
    pc_shared_memory_manager *mgr, const pc_shareable_item *items, size_t count) {
    if (pc__p_smm_enter(mgr)) return NULL;
    pc_shareable_list_desc d;
    memset(&d, 0, sizeof d);
    d.items = items;
    d.count = count;
    d.create = 1;
    pc_shareable_list *l = pc_shareable_list_new(&d);
    if (l && pc__p_smm_keep(mgr, l->shm)) {
        pc_shareable_list_free(l);
        l = NULL;
    }
    pc_lock_release(&mgr->mu);
    return l;
}

PYCONC_API int pc_shared_memory_manager_shutdown(pc_shared_memory_manager *mgr) {
    if (pc__p_smm_check(mgr)) return PC_VALUE;
    pc_lock_acquire(&mgr->mu, PC_FOREVER);
    pc__p_shm_reaper *r = __atomic_load_n(&pc__p_shm_reaper_now, __ATOMIC_ACQUIRE);
    for (size_t i = 0; i < mgr->len; i++) {
        pc__p_smm_name *k = &mgr->names[i];
        // Gone already (its holder unlinked it): nothing to do, as Python's.
        if (pc__p_os_shm_unlink(k->path) < 0) continue;
        if (k->reaper_id && r && r->id == k->reaper_id) pc__p_shm_reaper_tell(r, 'U', k->path);
    }
    pc__free(mgr->names);
    mgr->names = NULL;
    mgr->len = mgr->cap = 0;
    mgr->down = 1;
    pc_lock_release(&mgr->mu);
    return PC_OK;
}

PYCONC_API void pc_shared_memory_manager_free(pc_shared_memory_manager *mgr) {
    if (!mgr) return;
    if (mgr->pid == pc__p_os_getpid()) pc_shared_memory_manager_shutdown(mgr);
    pc__free(mgr->names);
    pc__free(mgr);
}

// >>E.queue-ring: the shared ring, its journal and its repair
// A queue is one object of part D (PC_ARG_MP_QUEUE): its body is the
// header below, then cap slots of stride bytes (a slot header, then the
// item), then for PRIORITY a heap and a free list of slot numbers.
// Every operation writes the counters as they will be into the journal
// (j), commits with one store (j_valid = 1), applies them, and closes the
// journal. A process killed before the commit changed nothing anyone sees
// (an item half written into a free slot is not in the queue); one killed
// after it left a journal the next locker applies again: the values are
// absolute, so applying twice is applying once. PRIORITY's heap and free
// list are rebuilt from the slots after any death.
#define PC__MPQ_SPIN 200
#define PC__MPQ_SLICE 0.01
#define PC__MPQ_PRODUCERS 64
#define PC__MPQ_MAX_ITEMS ((uint64_t)1 << 24)
#define PC__MPQ_MAX_ITEM ((uint64_t)1 << 30)
enum { PC__MPQ_OPEN = 0, PC__MPQ_SHUT = 1, PC__MPQ_IMMEDIATE = 2 };

typedef struct pc__p_qcount {
    uint64_t head;      // FIFO: items ever taken out
    uint64_t tail;      // FIFO: items ever put in; LIFO: the stack's height
    uint64_t count;     // items in the queue
    uint64_t nput;      // items ever put (join waits for them; PRIORITY's order too)
    uint64_t ndone;     // task_done calls, plus the items an immediate shutdown dropped
    uint64_t shut;      // PC__MPQ_OPEN, _SHUT or _IMMEDIATE
} pc__p_qcount;

typedef struct pc__p_qslot {
    uint64_t size;      // bytes of the item that follows
    int64_t key;
    uint64_t order;     // PRIORITY: 1 + its put number while it holds an item; 0: free
    uint64_t xid;       // the id of its descriptors' record on the record socket; 0: none
} pc__p_qslot;

// A record on the queue's socket: a pack's descriptors ride on it. Ids
// grow with each put that sends one (drawn under the mutex before the
// send), so the socket holds them in rising order, as the ring does.
typedef struct pc__p_qrec {
    uint32_t magic;
    uint32_t nfds;
    uint64_t id;
} pc__p_qrec;
#define PC__MPQ_REC_MAGIC 0x50435152u      // "PCQR"

// A process that put (a getter waiting on an empty queue looks whether
// any is still alive), or one that got (a putter waiting on a full one
// does, and a joiner looks for one gone with tasks it never marked done).
typedef struct pc__p_qprod {
    int32_t pid;
    int32_t unused;
    uint64_t start;
    uint64_t got, done;         // consumers: items taken, task_done calls made
} pc__p_qprod;

typedef struct pc__p_qbody {
    pthread_mutex_t m;          // robust, process-shared: guards what follows it
    uint32_t kind, joinable, simple, fixed;
    int64_t maxsize;            // as given
    uint64_t cap, stride;       // slots, bytes per slot
    uint64_t item_max;          // bytes of a fixed item, or of the largest message
    uint64_t heap_off, free_off;    // PRIORITY: uint32_t arrays of cap (body offsets)
    pc__p_qcount c;             // count and shut are read without m too
    pc__p_qcount j;             // the journal: c after the operation under way
    uint64_t j_slot;            // PRIORITY: 1 + the slot whose order it sets (0: none)
    uint64_t j_order;           // that slot's new order
    uint32_t j_valid;           // the commit: j is to be applied
    uint32_t nfree, nheap;      // PRIORITY: entries in the free list and the heap
    uint32_t prod_full;         // more producers came than the table holds
    uint32_t cons_full;         // more consumers came than theirs holds
    uint64_t j_cons;            // 1 + the consumer whose counts the operation sets (0: none)
    uint64_t j_got, j_done;     // its new counts
    uint64_t xseq;              // the last record id drawn
    uint64_t xstale_lo, xstale_hi;  // records of ids in (lo, hi] are owed to no item
    pc__p_qprod prod[PC__MPQ_PRODUCERS];
    pc__p_qprod cons[PC__MPQ_PRODUCERS];
    pc__evc not_empty, not_full, all_done;
} pc__p_qbody;
#define PC__MPQ_SLOTS ((sizeof(pc__p_qbody) + 63) & ~(size_t)63)

struct pc_mp_queue { pc__p_obj o; };

// A test stops a put or a get half way through here (where: 0 put with half
// the item written, 1 get with the item copied out, both before the commit;
// 2 any operation right after its commit, before its effect).
static void (*pc__p_mpq_hook)(int where);

static pc__p_qslot *pc__p_mpq_slot(pc__p_qbody *b, uint64_t i) {
    return (pc__p_qslot *)(void *)((unsigned char *)b + PC__MPQ_SLOTS + i * b->stride);
}
static uint32_t *pc__p_mpq_heap(pc__p_qbody *b) {
    return (uint32_t *)(void *)((unsigned char *)b + b->heap_off);
}
static uint32_t *pc__p_mpq_free_list(pc__p_qbody *b) {
    return (uint32_t *)(void *)((unsigned char *)b + b->free_off);
}

#define PC__MPQ_LOAD(p) __atomic_load_n((p), __ATOMIC_SEQ_CST)
#define PC__MPQ_STORE(p, v) __atomic_store_n((p), (v), __ATOMIC_SEQ_CST)
// The stores of an operation under the mutex: the mutex orders them for
// every locker (a waiter announces itself under it, and a notifier reads
// the announcements after its unlock), and a process killed mid-way has
// made its stores in program order; readers without the mutex (qsize,
// a spinning waiter) only take a hint from them. Release stores are plain
// moves on x86, where a sequentially consistent one is a locked exchange.
#define PC__MPQ_PUT(p, v) __atomic_store_n((p), (v), __ATOMIC_RELEASE)

static void pc__p_mpq_apply(pc__p_qbody *b) {
    PC__MPQ_PUT(&b->c.head, b->j.head);
    PC__MPQ_PUT(&b->c.tail, b->j.tail);
    PC__MPQ_PUT(&b->c.nput, b->j.nput);
    PC__MPQ_PUT(&b->c.ndone, b->j.ndone);
    PC__MPQ_PUT(&b->c.shut, b->j.shut);
    PC__MPQ_PUT(&b->c.count, b->j.count);
    if (b->j_slot) PC__MPQ_PUT(&pc__p_mpq_slot(b, b->j_slot - 1)->order, b->j_order);
    if (b->j_cons && b->j_cons <= PC__MPQ_PRODUCERS) {
        PC__MPQ_PUT(&b->cons[b->j_cons - 1].got, b->j_got);
        PC__MPQ_PUT(&b->cons[b->j_cons - 1].done, b->j_done);
    }
}

// The operation's one commit, then its effect.
static void pc__p_mpq_commit(pc__p_qbody *b) {
    PC__MPQ_PUT(&b->j_valid, 1u);
    if (pc__p_mpq_hook) pc__p_mpq_hook(2);
    pc__p_mpq_apply(b);
}

static void pc__p_mpq_close_journal(pc__p_qbody *b) {
    PC__MPQ_PUT(&b->j_valid, 0u);
    b->j_slot = 0;
    b->j_cons = 0;
}

// The operation also counts for consumer entry k (-1: none): got and done
// move by these, applied with the commit.
static void pc__p_mpq_journal_cons(pc__p_qbody *b, int k, uint64_t got, uint64_t done) {
    if (k < 0) return;
    b->j_cons = (uint64_t)k + 1;
    b->j_got = b->cons[k].got + got;
    b->j_done = b->cons[k].done + done;
}

// PRIORITY's heap: slots by (key, order), smallest on top.
static int pc__p_mpq_before(pc__p_qbody *b, uint32_t x, uint32_t y) {
    const pc__p_qslot *sx = pc__p_mpq_slot(b, x), *sy = pc__p_mpq_slot(b, y);
    return sx->key != sy->key ? sx->key < sy->key : sx->order < sy->order;
}

static void pc__p_mpq_sift_down(pc__p_qbody *b, uint32_t *h, uint32_t n, uint32_t i) {
    for (;;) {
        uint32_t l = 2 * i + 1, r = l + 1, m = i;
        if (l < n && pc__p_mpq_before(b, h[l], h[m])) m = l;
        if (r < n && pc__p_mpq_before(b, h[r], h[m])) m = r;
        if (m == i) return;
        uint32_t t = h[i];
        h[i] = h[m];
        h[m] = t;
        i = m;
    }
}

static void pc__p_mpq_heap_push(pc__p_qbody *b, uint32_t s) {
    uint32_t *h = pc__p_mpq_heap(b), i = b->nheap++;
    h[i] = s;
    while (i > 0 && pc__p_mpq_before(b, h[i], h[(i - 1) / 2])) {
        uint32_t p = (i - 1) / 2, t = h[i];
        h[i] = h[p];
        h[p] = t;
        i = p;
    }
}

static void pc__p_mpq_heap_pop(pc__p_qbody *b) {
    uint32_t *h = pc__p_mpq_heap(b);
    h[0] = h[--b->nheap];
    pc__p_mpq_sift_down(b, h, b->nheap, 0);
}

// PRIORITY after a death (or an immediate shutdown): the heap and the free
// list made again from the slots, which the commits keep right.
static void pc__p_mpq_rebuild(pc__p_qbody *b) {
    uint32_t *h = pc__p_mpq_heap(b), *f = pc__p_mpq_free_list(b), nh = 0, nf = 0;
    for (uint32_t i = (uint32_t)b->cap; i-- > 0;) {
        pc__p_qslot *s = pc__p_mpq_slot(b, i);
        if (b->c.shut == PC__MPQ_IMMEDIATE) s->order = 0;
        if (s->order) h[nh++] = i;
        else f[nf++] = i;
    }
    b->nheap = nh;
    b->nfree = nf;
    for (uint32_t i = nh / 2; i-- > 0;) pc__p_mpq_sift_down(b, h, nh, i);
}

// Drop one record off the socket, closing its descriptors.
static void pc__p_mpq_drop_record(const pc__p_obj *o) {
    int fds[PC__MAX_FDS];
    size_t n = PC__MAX_FDS;
    pc__p_qrec r;
    if (pc__p_recv_fds(o->xfd[1], &r, sizeof r, fds, &n)) return;
    for (size_t i = 0; i < n; i++) pc__p_os_close(fds[i]);
}

// Drop the records at the socket's head owed to no item: ids below
// first, or in the stale range.
static void pc__p_mpq_drop_stale(const pc__p_obj *o, pc__p_qbody *b, uint64_t first) {
    for (int guard = 0; guard < 1 << 20; guard++) {
        pc__p_qrec r;
        if (pc__p_os_peek_record(o->xfd[1], &r, sizeof r) != (ssize_t)sizeof r) return;
        if (r.id >= first && (r.id <= b->xstale_lo || r.id > b->xstale_hi)) return;
        pc__p_mpq_drop_record(o);
    }
}

// The records no item in the ring owes (the mutex held): a get that died
// after its commit left its item's at the socket's head, dropped now; a
// put that died between its send and its commit left one behind the
// records the ring's items own, dropped when the get of the last of them
// comes by (the stale range). Their descriptors are closed.
static void pc__p_mpq_drain(const pc__p_obj *o, pc__p_qbody *b) {
    if (o->nxfd != 2 || b->kind != PC_MP_QUEUE_FIFO) return;
    uint64_t first = 0, last = 0;       // the records the ring's items own
    for (uint64_t i = b->c.head; i != b->c.tail; i++) {
        uint64_t id = pc__p_mpq_slot(b, i % b->cap)->xid;
        if (id && !first) first = id;
        if (id) last = id;
    }
    b->xstale_lo = last;
    b->xstale_hi = b->xseq;
    pc__p_mpq_drop_stale(o, b, first ? first : UINT64_MAX);
}

// The next locker after a death: finish the committed operation (or
// forget the uncommitted one), then wake every waiter, which look again.
static void pc__p_mpq_repair(const pc__p_obj *o, pc__p_qbody *b) {
    if (b->j_valid) pc__p_mpq_apply(b);
    pc__p_mpq_close_journal(b);
    if (b->kind == PC_MP_QUEUE_PRIORITY) pc__p_mpq_rebuild(b);
    if (b->c.tail - b->c.head <= b->cap) pc__p_mpq_drain(o, b);
    pc__evc_notify(&b->not_empty, INT32_MAX);
    pc__evc_notify(&b->not_full, INT32_MAX);
    pc__evc_notify(&b->all_done, INT32_MAX);
}

// Whether the header still describes a queue this mapping can hold.
static int pc__p_mpq_sane(const pc__p_obj *o, const pc__p_qbody *b) {
    const pc__p_qcount *c = &b->c;
    uint64_t room = pc__p_obj_head(o)->body_size;
    if (b->kind > PC_MP_QUEUE_PRIORITY || !b->cap || b->cap > PC__MPQ_MAX_ITEMS ||
        b->stride < sizeof(pc__p_qslot) + b->item_max || b->item_max > PC__MPQ_MAX_ITEM ||
        PC__MPQ_SLOTS + b->cap * b->stride > room)
        return 0;
    if (c->shut > PC__MPQ_IMMEDIATE || c->count > b->cap || c->ndone > c->nput ||
        b->j_valid > 1)
        return 0;
    if (b->kind == PC_MP_QUEUE_FIFO) return c->tail - c->head == c->count;
    if (b->kind == PC_MP_QUEUE_LIFO) return c->tail == c->count;
    return b->nheap <= b->cap && b->nfree <= b->cap && b->heap_off + 8 * b->cap <= room &&
           b->free_off + 4 * b->cap <= room && b->heap_off >= PC__MPQ_SLOTS;
}

// Take the queue's mutex by deadline (repairing after a dead holder) and
// check the header. Returns PC_OK (held), or an error (not held): late is
// the code for a deadline that passed (PC_EMPTY for a get, say). The
// mutex is held for a copy only, so even a call that must not wait (0)
// waits for it up to a slice: only a holder stopped inside it lasts longer.
static int pc__p_mpq_lock(const pc__p_obj *o, pc__p_qbody *b, double deadline, int late) {
    int rc = pthread_mutex_trylock(&b->m);
    if (rc == EBUSY) {
        double soon = pc_monotonic() + PC__MPQ_SLICE;
        rc = pc__p_mutex_lock(&b->m, deadline > soon ? deadline : soon);
    }
    if (rc == EOWNERDEAD) {
        pc__p_mpq_repair(o, b);
        rc = pthread_mutex_consistent(&b->m);
    }
    if (rc == ENOTRECOVERABLE)
        return pc__error(PC_BROKEN, "the queue's mutex is broken (its state was not repaired)");
    if (rc == ETIMEDOUT) return pc__error(late, "%s", pc_strerror(late));
    if (rc) { errno = rc; return pc__os_error("pthread_mutex_lock"); }
    if (!pc__p_mpq_sane(o, b)) {
        pthread_mutex_unlock(&b->m);
        return pc__error(PC_VALUE, "the queue's shared memory is corrupted (its header makes "
                                   "no sense)");
    }
    return PC_OK;
}

static void pc__p_mpq_unlock(pc__p_qbody *b) { pthread_mutex_unlock(&b->m); }

// >>E.queue-ops: put and take under the mutex, the producers, waiting
// Send a pack's descriptors as the next record (the mutex held). The id is
// drawn before the send: a putter that dies between the two only skips
// one. Returns PC_OK (*out_id), PC_FULL (the socket's buffer is full:
// wait as on a full queue), or an error.
static int pc__p_mpq_send_fds(const pc__p_obj *o, pc__p_qbody *b, const int *fds, size_t nfds,
                              uint64_t *out_id) {
    pc__p_qrec r;
    r.magic = PC__MPQ_REC_MAGIC;
    r.nfds = (uint32_t)nfds;
    r.id = b->xseq + 1;
    PC__MPQ_STORE(&b->xseq, r.id);
    int rc = pc__p_send_fds(o->xfd[0], &r, sizeof r, fds, nfds);
    if (rc == PC_OS && (errno == EAGAIN || errno == EWOULDBLOCK || errno == ENOBUFS))
        return PC_FULL;
    *out_id = r.id;
    return rc;
}

// Take the record of id want off the socket (the mutex held, the item's
// removal committed): records before it are left over (see drain) and
// dropped. fds (room for PC__MAX_FDS) gets its descriptors, or they are
// closed (fds NULL).
static int pc__p_mpq_recv_fds(const pc__p_obj *o, pc__p_qbody *b, uint64_t want, int *fds,
                              size_t *out_n) {
    for (;;) {
        pc__p_qrec r;
        int got[PC__MAX_FDS];
        size_t n = PC__MAX_FDS;
        ssize_t len = pc__p_os_peek_record(o->xfd[1], &r, sizeof r);
        if (len != (ssize_t)sizeof r || r.magic != PC__MPQ_REC_MAGIC || r.id > want)
            return pc__error(PC_VALUE, "the descriptors of the item taken are lost (its "
                                       "record is not on the queue's socket)");
        int rc = pc__p_recv_fds(o->xfd[1], &r, sizeof r, got, &n);
        if (rc) return rc;
        if (r.id == want && fds) {
            memcpy(fds, got, n * sizeof *got);
            *out_n = n;
        } else {
            for (size_t i = 0; i < n; i++) pc__p_os_close(got[i]);
        }
        if (r.id == want) {
            pc__p_mpq_drop_stale(o, b, 0);
            return PC_OK;
        }
    }
}

// Copy an item into a free slot and commit it (the mutex held, room
// known); a pack's descriptors go first, as a record on the socket.
// Returns PC_OK, PC_FULL (no room on the socket) or an error.
static int pc__p_mpq_insert(const pc__p_obj *o, pc__p_qbody *b, int64_t key, const void *data,
                            size_t size, const int *fds, size_t nfds) {
    uint64_t i = b->kind == PC_MP_QUEUE_FIFO ? b->c.tail % b->cap
                 : b->kind == PC_MP_QUEUE_LIFO ? b->c.tail
                                               : pc__p_mpq_free_list(b)[b->nfree - 1];
    pc__p_qslot *s = pc__p_mpq_slot(b, i);
    uint64_t xid = 0;
    if (nfds) {
        int rc = pc__p_mpq_send_fds(o, b, fds, nfds, &xid);
        if (rc) return rc;
    }
    s->xid = xid;
    s->size = size;
    s->key = key;
    if (size) memcpy(s + 1, data, size / 2);
    if (pc__p_mpq_hook) pc__p_mpq_hook(0);
    if (size) memcpy((unsigned char *)(s + 1) + size / 2, (const unsigned char *)data + size / 2,
                     size - size / 2);
    b->j = b->c;
    b->j.count++;
    b->j.nput++;
    if (b->kind != PC_MP_QUEUE_PRIORITY) {
        b->j.tail++;
        pc__p_mpq_commit(b);
        pc__p_mpq_close_journal(b);
        return PC_OK;
    }
    b->j_slot = i + 1;
    b->j_order = b->j.nput;
    pc__p_mpq_commit(b);
    b->nfree--;
    pc__p_mpq_heap_push(b, (uint32_t)i);
    pc__p_mpq_close_journal(b);
    return PC_OK;
}

// The slot of the item a get takes next (the mutex held, count > 0).
static uint64_t pc__p_mpq_next(pc__p_qbody *b) {
    if (b->kind == PC_MP_QUEUE_FIFO) return b->c.head % b->cap;
    if (b->kind == PC_MP_QUEUE_LIFO) return b->c.tail - 1;
    return pc__p_mpq_heap(b)[0];
}

// Where a get puts a pack's descriptors: fds NULL closes them.
typedef struct pc__p_qfds {
    int *fds;           // room for PC__MAX_FDS
    size_t n;
} pc__p_qfds;

// Copy the next item out and commit its removal; then take its record of
// descriptors off the socket (a get that dies between the two leaves the
// record to the repairer, which closes them). A buffer too short leaves
// the item in the queue.
static int pc__p_mpq_take(const pc__p_obj *o, pc__p_qbody *b, int64_t *out_key, void *buf,
                          size_t cap, size_t *out_size, pc__p_qfds *x, int cons) {
    uint64_t i = pc__p_mpq_next(b);
    pc__p_qslot *s = pc__p_mpq_slot(b, i);
    uint64_t size = s->size, xid = s->xid;
    if (size > b->item_max)
        return pc__error(PC_VALUE, "the queue's shared memory is corrupted (an item of %llu "
                                   "bytes)", (unsigned long long)size);
    if (size > cap)
        return pc__error(PC_VALUE, "a buffer of %zu bytes is too short for the next item (%llu "
                                   "bytes); it stays in the queue", cap,
                         (unsigned long long)size);
    if (size) memcpy(buf, s + 1, (size_t)size);
    if (out_key) *out_key = s->key;
    if (out_size) *out_size = (size_t)size;
    if (pc__p_mpq_hook) pc__p_mpq_hook(1);
    b->j = b->c;
    b->j.count--;
    pc__p_mpq_journal_cons(b, cons, 1, 0);
    if (b->kind == PC_MP_QUEUE_FIFO) b->j.head++;
    else if (b->kind == PC_MP_QUEUE_LIFO) b->j.tail--;
    if (b->kind != PC_MP_QUEUE_PRIORITY) {
        pc__p_mpq_commit(b);
        pc__p_mpq_close_journal(b);
        return xid ? pc__p_mpq_recv_fds(o, b, xid, x ? x->fds : NULL, x ? &x->n : NULL) : PC_OK;
    }
    b->j_slot = i + 1;
    b->j_order = 0;
    pc__p_mpq_commit(b);
    pc__p_mpq_heap_pop(b);
    pc__p_mpq_free_list(b)[b->nfree++] = (uint32_t)i;
    pc__p_mpq_close_journal(b);
    return PC_OK;
}

// Note this process in table t (producers or consumers; the mutex held):
// its entry, or -1 when the table is full (*full is set then). The start
// time goes in before the pid that publishes it.
static int pc__p_mpq_note(pc__p_qprod *t, uint32_t *full) {
    int32_t pid = (int32_t)pc__p_os_getpid();
    uint64_t start = pc__p_holders_self_start();
    pc__p_qprod *free_slot = NULL;
    for (int i = 0; i < PC__MPQ_PRODUCERS; i++) {
        pc__p_qprod *p = &t[i];
        int32_t v = PC__MPQ_LOAD(&p->pid);
        if (v == pid) {
            if (p->start != start) {            // a new process under an old pid
                PC__MPQ_STORE(&p->pid, 0);
                PC__MPQ_STORE(&p->got, 0);
                PC__MPQ_STORE(&p->done, 0);
                PC__MPQ_STORE(&p->start, start);
                PC__MPQ_STORE(&p->pid, pid);
            }
            return i;
        }
        if (!v && !free_slot) free_slot = p;
    }
    if (!free_slot) {
        PC__MPQ_STORE(full, 1u);
        return -1;
    }
    PC__MPQ_STORE(&free_slot->got, 0);
    PC__MPQ_STORE(&free_slot->done, 0);
    PC__MPQ_STORE(&free_slot->start, start);
    PC__MPQ_STORE(&free_slot->pid, pid);
    return (int)(free_slot - t);
}

// Note this process among the producers, once per handle and process.
static void pc__p_mpq_register(pc__p_obj *o, pc__p_qbody *b) {
    unsigned gen = __atomic_load_n(&pc__p_fork_gen, __ATOMIC_RELAXED);
    if (o->put_gen == gen) return;
    o->put_gen = gen;
    pc__p_mpq_note(b->prod, &b->prod_full);
}

// This process's entry among the consumers (noted once per handle and
// process), or -1.
static int pc__p_mpq_consumer(pc__p_obj *o, pc__p_qbody *b) {
    unsigned gen = __atomic_load_n(&pc__p_fork_gen, __ATOMIC_RELAXED);
    if (o->get_gen != gen) {
        o->get_gen = gen;
        o->get_slot = pc__p_mpq_note(b->cons, &b->cons_full);
    }
    return o->get_slot;
}

// Whether pid is among the object's holders still (part D's table).
static int pc__p_mpq_holding(pc__p_shead *h, int32_t pid) {
    int found = 0;
    pc__p_mutex_enter(&h->holders_mu, NULL);
    for (int i = 0; i < PC__HOLDERS && !found; i++)
        found = h->holders[i].pid == pid && h->holders[i].refs > 0;
    pthread_mutex_unlock(&h->holders_mu);
    return found;
}

// Table t (producers or consumers) has nobody left: every process in it
// has ended and at least one of them still holds the queue (it died, or
// exited without letting go). Its pid, or 0. One that ended after letting
// go is forgotten here (it can break nothing; a consumer only once its
// tasks are done, which join still asks about), so the table keeps only
// ones that matter.
static long pc__p_mpq_orphaned(pc__p_obj *o, pc__p_qprod *t, const uint32_t *full,
                               int keep_undone) {
    if (PC__MPQ_LOAD(full)) return 0;
    long held = 0;
    for (int i = 0; i < PC__MPQ_PRODUCERS; i++) {
        pc__p_qprod *p = &t[i];
        int32_t pid = PC__MPQ_LOAD(&p->pid);
        if (!pid) continue;
        if (pc__p_os_pid_alive((pid_t)pid, PC__MPQ_LOAD(&p->start))) return 0;
        if (pc__p_mpq_holding(pc__p_obj_head(o), pid)) {
            if (!held) held = pid;
        } else if (!keep_undone || PC__MPQ_LOAD(&p->got) <= PC__MPQ_LOAD(&p->done)) {
            __atomic_compare_exchange_n(&p->pid, &pid, 0, 0, __ATOMIC_SEQ_CST,
                                        __ATOMIC_SEQ_CST);
        }
    }
    return held;
}

// A consumer that ended with items it got and never marked done (more
// gets than task_done calls of its own): its pid, or 0. Those tasks stay
// undone, so join would wait for ever.
static long pc__p_mpq_undone(pc__p_qbody *b) {
    for (int i = 0; i < PC__MPQ_PRODUCERS; i++) {
        pc__p_qprod *p = &b->cons[i];
        int32_t pid = PC__MPQ_LOAD(&p->pid);
        if (pid && PC__MPQ_LOAD(&p->got) > PC__MPQ_LOAD(&p->done) &&
            !pc__p_os_pid_alive((pid_t)pid, PC__MPQ_LOAD(&p->start)))
            return pid;
    }
    return 0;
}

// Spin a little while the queue looks empty (want_items) or full.
static void pc__p_mpq_spin(pc__p_qbody *b, int want_items) {
    for (int i = 0; i < PC__MPQ_SPIN; i++) {
        uint64_t n = PC__MPQ_LOAD(&b->c.count);
        if ((want_items ? n > 0 : n < b->cap) || PC__MPQ_LOAD(&b->c.shut)) return;
        pc__cpu_relax();
    }
}

// Sleep on e (its key taken under the mutex, now released) until a
// notify, the deadline, or the end of a slice: waiters look around every
// PC__MPQ_SLICE seconds, since a process killed between its commit and its
// notify wakes nobody. Returns PC__MPQ_WOKEN, PC__MPQ_DEADLINE, or
// PC__MPQ_QUIET: a slice passed with no notify, the time to look at the
// other processes (a notify means someone is alive and working: looking
// then, a /proc read per hand-off, tripled a round trip's system calls).
enum { PC__MPQ_WOKEN = 0, PC__MPQ_DEADLINE = 1, PC__MPQ_QUIET = 2 };
static int pc__p_mpq_sleep(pc__evc *e, uint32_t key, double deadline) {
    double until = pc_monotonic() + PC__MPQ_SLICE;
    if (deadline < until) until = deadline;
    if (pc__evc_wait(e, key, until) != PC_TIMEOUT) return PC__MPQ_WOKEN;
    return until >= deadline ? PC__MPQ_DEADLINE : PC__MPQ_QUIET;
}

// >>E.queue: the public functions
static pc__p_obj *pc__p_mpq_check(const pc_mp_queue *q) {
    return pc__p_obj_check(q, PC_ARG_MP_QUEUE);
}

static pc__p_qbody *pc__p_mpq_body(const pc__p_obj *o) { return (pc__p_qbody *)o->body; }

// Check a desc and fill in the capacity, the item bytes and the stride.
static int pc__p_mpq_shape(const pc_mp_queue_desc *d, uint64_t *cap, uint64_t *item_max,
                           uint64_t *stride) {
    if (d->kind < PC_MP_QUEUE_FIFO || d->kind > PC_MP_QUEUE_PRIORITY)
        return pc__error(PC_VALUE, "unknown queue kind %d", (int)d->kind);
    if (d->item_size && d->max_message)
        return pc__error(PC_VALUE, "item_size and max_message: a queue has one or the other");
    if (d->simple && (d->maxsize > 0 || d->joinable))
        return pc__error(PC_VALUE, "a SimpleQueue has no maxsize and no task_done/join");
    if (d->maxsize > 0 && (uint64_t)d->maxsize > PC__MPQ_MAX_ITEMS)
        return pc__error(PC_VALUE, "maxsize %ld is over %llu items (shared memory is fixed in "
                                   "size)", d->maxsize, (unsigned long long)PC__MPQ_MAX_ITEMS);
    *item_max = d->item_size ? d->item_size
                : d->max_message ? d->max_message : PC_MP_QUEUE_DEFAULT_MESSAGE;
    if (*item_max > PC__MPQ_MAX_ITEM)
        return pc__error(PC_VALUE, "items of %llu bytes: at most %llu",
                         (unsigned long long)*item_max, (unsigned long long)PC__MPQ_MAX_ITEM);
    *stride = (sizeof(pc__p_qslot) + *item_max + 7) & ~(uint64_t)7;
    if (d->maxsize > 0) {
        *cap = (uint64_t)d->maxsize;
    } else {
        *cap = PC_MP_QUEUE_DEFAULT_BYTES / *stride;
        if (*cap > PC_MP_QUEUE_DEFAULT_CAPACITY) *cap = PC_MP_QUEUE_DEFAULT_CAPACITY;
        if (*cap < 2) *cap = 2;
    }
    if (*cap * *stride > ((uint64_t)1 << 40))
        return pc__error(PC_VALUE, "a queue of %llu slots of %llu bytes is too large",
                         (unsigned long long)*cap, (unsigned long long)*stride);
    return PC_OK;
}

PYCONC_API pc_mp_queue *pc_mp_queue_new(const pc_mp_queue_desc *desc) {
    pc_mp_queue_desc d;
    memset(&d, 0, sizeof d);
    if (desc) d = *desc;
    uint64_t cap = 0, item_max = 0, stride = 0;
    if (pc__p_mpq_shape(&d, &cap, &item_max, &stride)) return NULL;
    uint64_t size = PC__MPQ_SLOTS + cap * stride, heap_off = size;
    if (d.kind == PC_MP_QUEUE_PRIORITY) size += 8 * cap;
    pc__p_obj *o = pc__p_obj_new(PC_ARG_MP_QUEUE, (size_t)size);
    if (!o) return NULL;
    pc__p_qbody *b = pc__p_mpq_body(o);
    int rc = pc__p_mutex_init(&b->m);
    if (rc) {
        errno = rc;
        pc__os_error("pthread_mutex_init");
        pc__p_obj_free(o);
        return NULL;
    }
    b->kind = (uint32_t)d.kind;
    b->joinable = d.joinable != 0;
    b->simple = d.simple != 0;
    b->fixed = d.item_size != 0;
    b->maxsize = d.maxsize;
    b->cap = cap;
    b->stride = stride;
    b->item_max = item_max;
    if (d.kind == PC_MP_QUEUE_PRIORITY) {
        b->heap_off = heap_off;
        b->free_off = heap_off + 4 * cap;
        pc__p_mpq_rebuild(b);
    }
    pc__evc_init(&b->not_empty, 1);
    pc__evc_init(&b->not_full, 1);
    pc__evc_init(&b->all_done, 1);
    // A FIFO queue of messages carries packs' descriptors on a socket
    // pair that travels with it.
    if (d.kind == PC_MP_QUEUE_FIFO && !d.item_size) {
        if (pc__p_os_record_pair(o->xfd) < 0) {
            pc__os_error("socketpair");
            pc__p_obj_free(o);
            return NULL;
        }
        o->nxfd = 2;
    }
    return (pc_mp_queue *)o;
}

PYCONC_API void pc_mp_queue_free(pc_mp_queue *q) { pc__p_obj_free(q ? &q->o : NULL); }

static int pc__p_mpq_put(pc_mp_queue *q, int64_t key, const void *data, size_t size,
                         double timeout, const int *fds, size_t nfds) {
    pc__p_obj *o = pc__p_mpq_check(q);
    double deadline = 0;
    if (!o || pc__deadline(timeout, &deadline)) return PC_VALUE;
    pc__p_qbody *b = pc__p_mpq_body(o);
    if (o->closed) return pc__error(PC_VALUE, "Queue is closed");
    if (!data && size) return pc__error(PC_VALUE, "put: the item is NULL");
    if (b->fixed && size != b->item_max)
        return pc__error(PC_VALUE, "put: an item of %zu bytes on a queue of %llu-byte items",
                         size, (unsigned long long)b->item_max);
    if (size > b->item_max)
        return pc__error(PC_VALUE, "put: a message of %zu bytes is over max_message (%llu): "
                                   "refused, not streamed", size,
                         (unsigned long long)b->item_max);
    if (timeout != 0) pc__p_mpq_spin(b, 0);
    long dead = 0;
    for (int last = 0;;) {
        int rc = pc__p_mpq_lock(o, b, deadline, PC_FULL);
        if (rc) return rc;
        if (b->c.shut) {
            pc__p_mpq_unlock(b);
            return pc__error(PC_SHUTDOWN, "put on a queue that was shut down");
        }
        if (b->c.count < b->cap) {
            pc__p_mpq_register(o, b);
            rc = pc__p_mpq_insert(o, b, key, data, size, fds, nfds);
            if (rc != PC_FULL) {            // PC_FULL: the socket is, wait as when the ring is
                pc__p_mpq_unlock(b);
                if (!rc) pc__evc_notify(&b->not_empty, 1);
                return rc;
            }
        }
        if (dead) {
            pc__p_mpq_unlock(b);
            return pc__error(PC_BROKEN, "the queue is full and its consumers are gone "
                                        "(process %ld died holding it)", dead);
        }
        if (last || pc_monotonic() >= deadline) {
            pc__p_mpq_unlock(b);
            return pc__error(PC_FULL, "queue is full");
        }
        uint32_t k = pc__evc_prepare(&b->not_full);
        pc__p_mpq_unlock(b);
        int slept = pc__p_mpq_sleep(&b->not_full, k, deadline);
        last = slept == PC__MPQ_DEADLINE;
        if (slept == PC__MPQ_QUIET)
            dead = pc__p_mpq_orphaned(o, b->cons, &b->cons_full, (int)b->joinable);
    }
}

// The state of an empty queue for a getter: PC_SHUTDOWN, PC_BROKEN (dead
// is the producer found dead), or PC_OK (wait on).
static int pc__p_mpq_empty_state(pc__p_qbody *b, long dead) {
    if (b->c.shut) return pc__error(PC_SHUTDOWN, "get on a queue that was shut down");
    if (dead)
        return pc__error(PC_BROKEN, "the queue is empty and its producers are gone (process "
                                    "%ld died holding it)", dead);
    return PC_OK;
}

static int pc__p_mpq_get(const pc_mp_queue *q, int64_t *out_key, void *buf, size_t cap,
                         size_t *out_size, double timeout, pc__p_qfds *x) {
    pc__p_obj *o = pc__p_mpq_check(q);
    double deadline = 0;
    if (!o || pc__deadline(timeout, &deadline)) return PC_VALUE;
    if (!buf && cap) return pc__error(PC_VALUE, "get: the buffer is NULL");
    pc__p_qbody *b = pc__p_mpq_body(o);
    if (timeout != 0) pc__p_mpq_spin(b, 1);
    long dead = 0;
    for (int last = 0;;) {
        int rc = pc__p_mpq_lock(o, b, deadline, PC_EMPTY);
        if (rc) return rc;
        if (b->c.shut == PC__MPQ_IMMEDIATE) {
            pc__p_mpq_unlock(b);
            return pc__error(PC_SHUTDOWN, "get on a queue that was shut down (immediate)");
        }
        if (b->c.count > 0) {
            rc = pc__p_mpq_take(o, b, out_key, buf, cap, out_size, x,
                                pc__p_mpq_consumer(o, b));
            pc__p_mpq_unlock(b);
            if (!rc) pc__evc_notify(&b->not_full, 1);
            return rc;
        }
        rc = pc__p_mpq_empty_state(b, dead);
        if (rc || last || pc_monotonic() >= deadline) {
            pc__p_mpq_unlock(b);
            return rc ? rc : pc__error(PC_EMPTY, "queue is empty");
        }
        uint32_t k = pc__evc_prepare(&b->not_empty);
        pc__p_mpq_unlock(b);
        int slept = pc__p_mpq_sleep(&b->not_empty, k, deadline);
        last = slept == PC__MPQ_DEADLINE;
        if (slept == PC__MPQ_QUIET) dead = pc__p_mpq_orphaned(o, b->prod, &b->prod_full, 0);
    }
}

PYCONC_API int pc_mp_queue_put_key(pc_mp_queue *q, int64_t key, const void *data, size_t size,
                                   double timeout) {
    return pc__p_mpq_put(q, key, data, size, timeout, NULL, 0);
}

PYCONC_API int pc_mp_queue_put_bytes(pc_mp_queue *q, const void *data, size_t size,
                                     double timeout) {
    return pc__p_mpq_put(q, 0, data, size, timeout, NULL, 0);
}

PYCONC_API int pc_mp_queue_get_key(pc_mp_queue *q, int64_t *out_key, void *buf, size_t cap,
                                   size_t *out_size, double timeout) {
    return pc__p_mpq_get(q, out_key, buf, cap, out_size, timeout, NULL);
}

PYCONC_API int pc_mp_queue_get_bytes(pc_mp_queue *q, void *buf, size_t cap, size_t *out_size,
                                     double timeout) {
    return pc__p_mpq_get(q, NULL, buf, cap, out_size, timeout, NULL);
}

// The fixed-size forms: the item's size is the queue's.
static pc__p_qbody *pc__p_mpq_fixed(const pc_mp_queue *q, const void *item) {
    pc__p_obj *o = pc__p_mpq_check(q);
    if (!o) return NULL;
    pc__p_qbody *b = pc__p_mpq_body(o);
    if (!b->fixed)
        return pc__error(PC_VALUE, "a queue of messages: use put_bytes/get_bytes or "
                                   "put_args/get_args"), (pc__p_qbody *)NULL;
    if (!item) return pc__error(PC_VALUE, "the item is NULL"), (pc__p_qbody *)NULL;
    return b;
}

PYCONC_API int pc_mp_queue_put(pc_mp_queue *q, const void *item, double timeout) {
    pc__p_qbody *b = pc__p_mpq_fixed(q, item);
    return b ? pc__p_mpq_put(q, 0, item, (size_t)b->item_max, timeout, NULL, 0) : PC_VALUE;
}

PYCONC_API int pc_mp_queue_put_nowait(pc_mp_queue *q, const void *item) {
    return pc_mp_queue_put(q, item, 0);
}

PYCONC_API int pc_mp_queue_get(pc_mp_queue *q, void *out_item, double timeout) {
    pc__p_qbody *b = pc__p_mpq_fixed(q, out_item);
    return b ? pc__p_mpq_get(q, NULL, out_item, (size_t)b->item_max, NULL, timeout, NULL)
             : PC_VALUE;
}

PYCONC_API int pc_mp_queue_get_nowait(pc_mp_queue *q, void *out_item) {
    return pc_mp_queue_get(q, out_item, 0);
}

PYCONC_API int pc_mp_queue_put_args(pc_mp_queue *q, const pc_args *args, double timeout) {
    pc__p_obj *o = pc__p_mpq_check(q);
    if (!o) return PC_VALUE;
    if (!args) return pc__error(PC_VALUE, "put_args: the pack is NULL");
    if (pc__p_mpq_body(o)->fixed)
        return pc__error(PC_VALUE, "put_args: a queue of fixed-size items takes no packs");
    if (pc__p_args_has_fds(args) && o->nxfd != 2)
        return pc__error(PC_VALUE, "put_args: a pack holding connections or shared objects "
                                   "goes through a FIFO queue only (a LIFO or PRIORITY queue "
                                   "takes its items out of the order their descriptors travel "
                                   "in)");
    int fds[PC__ARGS_MAX_FDS];
    size_t nfds = 0;
    pc__p_buf w;
    memset(&w, 0, sizeof w);
    pc__p_buf_u32(&w, PC__ARGS_MAGIC);
    int rc = pc__p_args_encode(args, &w, fds, &nfds, NULL);
    if (!rc) rc = pc__p_mpq_put(q, 0, w.p, w.len, timeout, fds, nfds);
    for (size_t i = 0; i < nfds; i++) pc__p_os_close(fds[i]);  // the record has its own
    pc__free(w.p);
    return rc;
}

PYCONC_API int pc_mp_queue_get_args(pc_mp_queue *q, pc_args **out_args, double timeout) {
    pc__p_obj *o = pc__p_mpq_check(q);
    if (!o) return PC_VALUE;
    if (!out_args) return pc__error(PC_VALUE, "get_args: NULL out pointer");
    *out_args = NULL;
    pc__p_qbody *b = pc__p_mpq_body(o);
    if (b->fixed) return pc__error(PC_VALUE, "get_args: a queue of fixed-size items has no packs");
    void *msg = pc__malloc(b->item_max ? (size_t)b->item_max : 1);
    if (!msg) return PC_NOMEM;
    size_t size = 0;
    int fds[PC__MAX_FDS];
    pc__p_qfds x = {fds, 0};
    int rc = pc__p_mpq_get(q, NULL, msg, (size_t)b->item_max, &size, timeout, &x);
    if (rc) {
        pc__free(msg);
        return rc;
    }
    return pc__p_args_from_message(msg, size, fds, x.n, out_args);
}

PYCONC_API size_t pc_mp_queue_qsize(const pc_mp_queue *q) {
    pc__p_obj *o = pc__p_mpq_check(q);
    return o ? (size_t)PC__MPQ_LOAD(&pc__p_mpq_body(o)->c.count) : 0;
}

PYCONC_API int pc_mp_queue_empty(const pc_mp_queue *q) {
    pc__p_obj *o = pc__p_mpq_check(q);
    return o ? PC__MPQ_LOAD(&pc__p_mpq_body(o)->c.count) == 0 : 1;
}

PYCONC_API int pc_mp_queue_full(const pc_mp_queue *q) {
    pc__p_obj *o = pc__p_mpq_check(q);
    if (!o) return 0;
    pc__p_qbody *b = pc__p_mpq_body(o);
    return PC__MPQ_LOAD(&b->c.count) >= b->cap;
}

PYCONC_API long pc_mp_queue_maxsize(const pc_mp_queue *q) {
    pc__p_obj *o = pc__p_mpq_check(q);
    return o ? (long)pc__p_mpq_body(o)->maxsize : 0;
}

PYCONC_API size_t pc_mp_queue_capacity(const pc_mp_queue *q) {
    pc__p_obj *o = pc__p_mpq_check(q);
    return o ? (size_t)pc__p_mpq_body(o)->cap : 0;
}

PYCONC_API size_t pc_mp_queue_item_size(const pc_mp_queue *q) {
    pc__p_obj *o = pc__p_mpq_check(q);
    return o && pc__p_mpq_body(o)->fixed ? (size_t)pc__p_mpq_body(o)->item_max : 0;
}

PYCONC_API size_t pc_mp_queue_max_message(const pc_mp_queue *q) {
    pc__p_obj *o = pc__p_mpq_check(q);
    return o && !pc__p_mpq_body(o)->fixed ? (size_t)pc__p_mpq_body(o)->item_max : 0;
}

PYCONC_API int pc_mp_queue_close(pc_mp_queue *q) {
    pc__p_obj *o = pc__p_mpq_check(q);
    if (!o) return PC_VALUE;
    o->closed = 1;
    return PC_OK;
}

PYCONC_API int pc_mp_queue_join_thread(pc_mp_queue *q) {
    pc__p_obj *o = pc__p_mpq_check(q);
    if (!o) return PC_VALUE;
    if (!o->closed) return pc__error(PC_RUNTIME, "join_thread: the queue is not closed");
    return PC_OK;
}

PYCONC_API int pc_mp_queue_cancel_join_thread(pc_mp_queue *q) {
    return pc__p_mpq_check(q) ? PC_OK : PC_VALUE;
}

static pc__p_qbody *pc__p_mpq_joinable(const pc_mp_queue *q, pc__p_obj **out) {
    pc__p_obj *o = pc__p_mpq_check(q);
    if (!o) return NULL;
    pc__p_qbody *b = pc__p_mpq_body(o);
    if (!b->joinable)
        return pc__error(PC_RUNTIME, "task_done/join need a JoinableQueue (desc.joinable)"),
               (pc__p_qbody *)NULL;
    *out = o;
    return b;
}

PYCONC_API int pc_mp_queue_task_done(pc_mp_queue *q) {
    pc__p_obj *o = NULL;
    pc__p_qbody *b = pc__p_mpq_joinable(q, &o);
    if (!b) return pc_last_error_code();
    int rc = pc__p_mpq_lock(o, b, INFINITY, PC_TIMEOUT);
    if (rc) return rc;
    if (b->c.ndone >= b->c.nput) {
        pc__p_mpq_unlock(b);
        return pc__error(PC_VALUE, "task_done() called too many times");
    }
    b->j = b->c;
    b->j.ndone++;
    pc__p_mpq_journal_cons(b, pc__p_mpq_consumer(o, b), 0, 1);
    pc__p_mpq_commit(b);
    pc__p_mpq_close_journal(b);
    int all = b->c.ndone == b->c.nput;
    pc__p_mpq_unlock(b);
    if (all) pc__evc_notify(&b->all_done, INT32_MAX);
    return PC_OK;
}

PYCONC_API int pc_mp_queue_join_timeout(pc_mp_queue *q, double timeout) {
    pc__p_obj *o = NULL;
    pc__p_qbody *b = pc__p_mpq_joinable(q, &o);
    double deadline = 0;
    if (!b) return pc_last_error_code();
    if (pc__deadline(timeout, &deadline)) return PC_VALUE;
    long dead = 0;
    for (int last = 0;;) {
        int rc = pc__p_mpq_lock(o, b, deadline, PC_TIMEOUT);
        if (rc) return rc;
        int done = b->c.ndone == b->c.nput, shut = b->c.shut == PC__MPQ_IMMEDIATE;
        if (done || shut || dead || last || pc_monotonic() >= deadline) {
            pc__p_mpq_unlock(b);
            if (done) return PC_OK;
            if (shut)
                return pc__error(PC_SHUTDOWN, "join: shut down with tasks still not done");
            if (dead)
                return pc__error(PC_BROKEN, "join: process %ld got items and ended without "
                                            "marking them done", dead);
            return pc__error(PC_TIMEOUT, "join timed out");
        }
        uint32_t k = pc__evc_prepare(&b->all_done);
        pc__p_mpq_unlock(b);
        int slept = pc__p_mpq_sleep(&b->all_done, k, deadline);
        last = slept == PC__MPQ_DEADLINE;
        if (slept == PC__MPQ_QUIET) dead = pc__p_mpq_undone(b);
    }
}

PYCONC_API int pc_mp_queue_join(pc_mp_queue *q) { return pc_mp_queue_join_timeout(q, PC_FOREVER); }

PYCONC_API int pc_mp_queue_shutdown(pc_mp_queue *q, int immediate) {
    pc__p_obj *o = pc__p_mpq_check(q);
    if (!o) return PC_VALUE;
    pc__p_qbody *b = pc__p_mpq_body(o);
    int rc = pc__p_mpq_lock(o, b, INFINITY, PC_TIMEOUT);
    if (rc) return rc;
    b->j = b->c;
    if (immediate && b->c.shut != PC__MPQ_IMMEDIATE) {
        b->j.shut = PC__MPQ_IMMEDIATE;
        b->j.ndone += b->c.count;
        b->j.count = 0;
        b->j.head = b->c.tail;
        if (b->kind == PC_MP_QUEUE_LIFO) b->j.tail = 0;
    } else if (!b->c.shut) {
        b->j.shut = PC__MPQ_SHUT;
    }
    pc__p_mpq_commit(b);
    if (b->kind == PC_MP_QUEUE_PRIORITY && b->c.shut == PC__MPQ_IMMEDIATE) pc__p_mpq_rebuild(b);
    pc__p_mpq_close_journal(b);
    pc__p_mpq_drain(o, b);          // the dropped items' descriptors
    pc__p_mpq_unlock(b);
    pc__evc_notify(&b->not_empty, INT32_MAX);
    pc__evc_notify(&b->not_full, INT32_MAX);
    pc__evc_notify(&b->all_done, INT32_MAX);
    return PC_OK;
}

PYCONC_API int pc_mp_queue_is_shutdown(const pc_mp_queue *q) {
    pc__p_obj *o = pc__p_mpq_check(q);
    return o ? PC__MPQ_LOAD(&pc__p_mpq_body(o)->c.shut) != 0 : 0;
}

PC__P_PACK_ACCESSORS(mp_queue, PC_ARG_MP_QUEUE)

// >>F.task: a task on the wire, and the worker that runs it
#if defined(PYCONC_FUTURES_IMPLEMENTATION)
// Messages between the pool and a worker: a byte string (A.buffer) whose
// first byte says what it is.
enum {
    PC__PP_STOP = 0,            // to a worker: end
    PC__PP_TASK = 1,            // to a worker: id, function, argument
    PC__PP_CHUNK = 2,           // to a worker: id, function, items of a map chunk
    PC__PP_RESULT = 3,          // from a worker: id, code, message, results
    PC__PP_INIT_FAILED = 4      // from a worker: code, message
};
enum { PC__PP_FN_RAW = 0, PC__PP_FN_REF = 1 };

// A function as the worker finds it: its address under fork (the child is
// a copy of this program), else a funcref (C.funcref).
// The last function located is kept (per thread): a stream of tasks sends
// the same one again and again, and locating it walks the loaded objects.
static int pc__p_pp_fn_ref(uintptr_t addr, const pc__p_funcref **out) {
    static PC__TLS pc__p_funcref last_ref;
    static PC__TLS uintptr_t last_addr;
    pc_target_fn fn;
    if (!addr || addr != last_addr) {
        memcpy(&fn, &addr, sizeof fn < sizeof addr ? sizeof fn : sizeof addr);
        last_addr = 0;
        int rc = pc__p_funcref_locate(fn, &last_ref);
        if (rc) return rc;
        last_addr = addr;
    }
    *out = &last_ref;
    return PC_OK;
}

// The bytes pc__p_pp_put_fn writes for addr (0: it cannot be located);
// the last one's are kept (per thread), as pc__p_pp_fn_ref keeps its ref.
static size_t pc__p_pp_fn_size(uintptr_t addr, int raw) {
    static PC__TLS uintptr_t last_addr;
    static PC__TLS size_t last_size;
    const pc__p_funcref *ref;
    if (raw) return 1 + 8;
    if (addr && addr == last_addr) return last_size;
    last_addr = 0;
    if (pc__p_pp_fn_ref(addr, &ref)) return 0;
    last_size = 1 + 2 + 8 + strlen(ref->path) + 3 * 8;     // as pc__p_funcref_put writes it
    last_addr = addr;
    return last_size;
}

static int pc__p_pp_put_fn(pc__p_buf *b, uintptr_t addr, int raw) {
    const pc__p_funcref *ref;
    pc__p_buf_u8(b, raw ? PC__PP_FN_RAW : PC__PP_FN_REF);
    if (raw) {
        pc__p_buf_u64(b, (uint64_t)addr);
        return PC_OK;
    }
    int rc = pc__p_pp_fn_ref(addr, &ref);
    if (rc) return rc;
    pc__p_funcref_put(b, ref, 1);
    return PC_OK;
}

// The bytes of the funcref at b's position as pc__p_funcref_put wrote
// them (0: cut short), read without decoding it.
static size_t pc__p_pp_fn_bytes(const pc__p_buf *b) {
    uint64_t n;
    size_t left = b->len - b->pos, head = 1 + 1 + 8;
    if (b->bad || left < head) return 0;
    memcpy(&n, b->p + b->pos + 2, sizeof n);
    if (n > left - head || left - head - n < 3 * 8) return 0;
    return head + (size_t)n + 3 * 8;
}

// The worker's side; the last function resolved is kept, as a map or a
// stream of one task resolves the same one again and again: its bytes on
// the wire are compared first, so the same function costs no decoding.
static int pc__p_pp_get_fn(pc__p_buf *b, uintptr_t *out) {
    static PC__TLS pc__p_funcref last_ref;
    static PC__TLS uintptr_t last_addr;
    static PC__TLS unsigned char last_bytes[1 + 1 + 8 + sizeof last_ref.path + 3 * 8];
    static PC__TLS size_t last_n;
    pc__p_funcref ref;
    pc_target_fn fn;
    if (pc__p_buf_get_u8(b) == PC__PP_FN_RAW) {
        *out = (uintptr_t)pc__p_buf_get_u64(b);
        return b->bad ? pc__error(PC_VALUE, "bad task message") : PC_OK;
    }
    const unsigned char *at = b->p + b->pos;
    size_t n = pc__p_pp_fn_bytes(b);
    if (last_addr && n && n == last_n && memcmp(at, last_bytes, n) == 0) {
        b->pos += n;
        *out = last_addr;
        return PC_OK;
    }
    pc__p_funcref_get(b, &ref);
    if (b->bad) return pc__error(PC_VALUE, "bad task message");
    if (last_addr && memcmp(&ref, &last_ref, sizeof ref) == 0) {
        *out = last_addr;
        return PC_OK;
    }
    int rc = pc__p_funcref_resolve(&ref, &fn);
    if (rc) return rc;
    memcpy(out, &fn, sizeof fn < sizeof *out ? sizeof fn : sizeof *out);
    last_ref = ref;
    last_addr = *out;
    last_n = n <= sizeof last_bytes ? n : 0;
    if (last_n) memcpy(last_bytes, at, last_n);
    return PC_OK;
}

// A chunk of items as data: one of pc_executor_map's or one of a Pool's.
static int pc__p_pool_chunk_view(pc_task_fn fn, void *arg, pc__f_chunk_view *out);
// 1: a map's or a Pool's chunk, *out filled; -1: a zipped map's chunk
// (it cannot cross); 0: a plain task.
static int pc__p_pp_view(pc_task_fn fn, void *arg, pc__f_chunk_view *out) {
    int v = pc__f_map_chunk_view(fn, arg, out);
    return v ? v : pc__p_pool_chunk_view(fn, arg, out);
}

static pc_task_fn pc__p_pp_task_fn(uintptr_t addr) {
    pc_task_fn fn;
    memcpy(&fn, &addr, sizeof fn < sizeof addr ? sizeof fn : sizeof addr);
    return fn;
}

static uintptr_t pc__p_pp_task_addr(pc_task_fn fn) {
    uintptr_t a = 0;
    memcpy(&a, &fn, sizeof fn < sizeof a ? sizeof fn : sizeof a);
    return a;
}

// One result on the wire: the pointer as an integer, or the bytes behind it.
static void pc__p_pp_put_result(pc__p_buf *b, void *r, size_t result_size) {
    if (!result_size) pc__p_buf_u64(b, (uint64_t)(uintptr_t)r);
    else pc__p_buf_blob(b, r, r ? result_size : 0);
}

// A worker's reply: kind, id, code, its run time in nanoseconds (for the
// pool's window), the message, the count of results, then their bytes
// (res), written into room made once. The offsets, for the pool's quick
// read of the usual reply (one pointer, no error: PC__PP_R_QUICK bytes):
enum {
    PC__PP_R_ID = 1, PC__PP_R_CODE = 9, PC__PP_R_NS = 13, PC__PP_R_MLEN = 21,
    PC__PP_R_MSG = 29, PC__PP_R_QUICK = PC__PP_R_MSG + 8 + 8
};
static void pc__p_pp_put_reply(pc__p_buf *out, uint64_t id, int code, uint64_t ns,
                               const char *msg, uint64_t n, const pc__p_buf *res) {
    uint64_t mlen = code ? strlen(msg) : 0;
    uint32_t c = (uint32_t)code;
    size_t need = PC__PP_R_MSG + (size_t)mlen + 8 + res->len;
    if (res->bad || out->bad || need > SIZE_MAX - out->len ||
        pc__grow(&out->p, &out->cap, out->len + need, 1, 0)) {
        out->bad = 1;
        return;
    }
    unsigned char *o = out->p + out->len;
    o[0] = PC__PP_RESULT;
    memcpy(o + PC__PP_R_ID, &id, 8);
    memcpy(o + PC__PP_R_CODE, &c, 4);
    memcpy(o + PC__PP_R_NS, &ns, 8);
    memcpy(o + PC__PP_R_MLEN, &mlen, 8);
    if (mlen) memcpy(o + PC__PP_R_MSG, msg, (size_t)mlen);
    memcpy(o + PC__PP_R_MSG + mlen, &n, 8);
    if (res->len) memcpy(o + PC__PP_R_MSG + 8 + mlen, res->p, res->len);
    out->len += need;
}

// The worker's clock of its runs, for the pool's automatic window. A task
// found in the ring at once starts when the last one ended. Tasks that run
// under a microsecond are timed together, PC__PP_CLOCK_GROUP a reading (a
// reading costs as much as such a task): the last of them reports the
// time of all, the others 0, so the pool's mean over a batch is the same.
#define PC__PP_CLOCK_GROUP 8
typedef struct pc__p_pp_clock {
    double at;                  // the last reading (0: none: the next run reads it)
    unsigned untimed;           // runs since then not reported
    int quick;                  // they took under a microsecond each
} pc__p_pp_clock;

// The run time to report for a run that just ended, in nanoseconds.
static uint64_t pc__p_pp_clock_stop(pc__p_pp_clock *c) {
    if (c->quick && ++c->untimed < PC__PP_CLOCK_GROUP) return 0;
    double now = pc_monotonic();
    unsigned runs = c->untimed ? c->untimed : 1;
    uint64_t ns = (uint64_t)((now - c->at) * 1e9);
    c->quick = ns < 1000u * runs;
    c->at = now;
    c->untimed = 0;
    return ns;
}

// Run a task or a chunk of message b in the worker and append the reply to
// out; res is the worker's room for the results.
static void pc__p_pp_run(pc__p_buf *b, unsigned kind, size_t result_size, pc__p_buf *out,
                         pc__p_buf *res, pc__p_pp_clock *clock, int64_t *slot) {
    char msg[256];
    uintptr_t addr = 0;
    uint64_t id = pc__p_buf_get_u64(b);
    int code = pc__p_pp_get_fn(b, &addr);
    size_t n = 0, count = 0, item_size = 0, len = 0;
    void *copy = NULL;
    msg[0] = '\0';
    if (code) snprintf(msg, sizeof msg, "%s", pc_last_error());
    if (!code && kind == PC__PP_CHUNK) {
        item_size = (size_t)pc__p_buf_get_u64(b);
        count = (size_t)pc__p_buf_get_u64(b);
    }
    unsigned by_value = 0;      // a task's pointer value, not bytes
    uint64_t value = 0;
    if (!code && kind == PC__PP_TASK && (by_value = pc__p_buf_get_u8(b)) != 0)
        value = pc__p_buf_get_u64(b);
    const void *data = code || by_value ? NULL : pc__p_buf_get_blob(b, &len);
    if (!code && b->bad) code = pc__error(PC_VALUE, "bad task message");
    // The argument gets memory of its own, aligned as malloc aligns.
    if (!code && len && !(copy = pc__malloc(len))) code = PC_NOMEM;
    if (copy) memcpy(copy, data, len);
    if (code && !msg[0]) snprintf(msg, sizeof msg, "%s", pc_last_error());
    __atomic_store_n(slot, (int64_t)id, __ATOMIC_SEQ_CST);
    if (clock->at <= 0) {
        clock->at = pc_monotonic();
        clock->untimed = 0;
    }
    // Each result is encoded as soon as it returns: a task may return the
    // same static buffer every time.
    res->len = res->pos = 0;
    res->bad = 0;
    if (!code) {
        pc_task_fn fn = pc__p_pp_task_fn(addr);
        pc__exception_take(NULL, 0);
        size_t total = kind == PC__PP_TASK ? 1 : count;
        // Pointer results are written straight into room made once.
        int words = !result_size && total <= ((size_t)-1 / 2) / sizeof(uint64_t) &&
                    !pc__grow(&res->p, &res->cap, total * sizeof(uint64_t), 1, 0);
        for (; n < total; n++) {
            void *item = kind == PC__PP_TASK ? (by_value ? (void *)(uintptr_t)value : copy)
                         : item_size ? (char *)copy + n * item_size
                                     : (void *)(uintptr_t)((uint64_t *)copy)[n];
            void *r = fn(item);
            if ((code = pc__exception_take(msg, sizeof msg)) != 0) break;
            if (words) {
                uint64_t u = (uint64_t)(uintptr_t)r;
                memcpy(res->p + n * sizeof u, &u, sizeof u);
            } else {
                pc__p_pp_put_result(res, r, result_size);
            }
        }
        if (words) res->len = n * sizeof(uint64_t);
    }
    pc__p_pp_put_reply(out, id, code, pc__p_pp_clock_stop(clock), msg, n, res);
    pc__free(copy);
}

// >>F.ring: the shared rings between the pool and each worker
// Each worker has one shared mapping (an anonymous RawArray, made when it
// starts) holding two single-producer single-consumer byte rings: tasks
// from the pool, results to the pool. Each index is written by one side
// only (tail by the producer, head by the consumer), so a worker killed at
// any instant cannot corrupt the pool's side, and a record becomes visible
// only by the store of tail that follows it. A record is an 8-byte header
// (length, kind) and its bytes padded to 8; it may wrap. A message over
// half a ring goes over the worker's pipe instead, announced by a "pipe"
// record at its place, so the order holds. Without a futex (off Linux, or
// PYCONC_NO_FUTEX) a shared wait could only poll, so the rings are off
// there and every message goes over the pipe, as the waits do.
// Records cross in batches: the pool stages the tasks it writes under its
// lock and shows them with one store of tail (pc__p_pp_show); the worker
// runs a task from its ring in place and gives it back after; the
// collector reads up to PC__PP_BATCH replies in place and gives them back
// at once. Each index then moves once a batch, not once a record.
// A worker waiting for a task, and a thread of the pool's process waiting
// for a result, look while awake before they sleep (pc__p_look_awake, as a
// manager's sides do): the worker spins a few microseconds (with more than
// one CPU), then both yield the CPU between looks for up to PC__PP_YIELD_S.
// On a busy machine the kernel wakes a sleeper onto the CPU its waker is
// about to give up, or the other side holds; a yield runs the other side at
// once, with no futex wake and wait. A look that found nothing, or found
// it only after a third thread ran, skips the next 1, 3, 7 ... 63 looks
// (pc__p_pp_look_first): an idle side sleeps at once, for no CPU.
#define PC__PP_WORKER_SPIN_S 6e-6  // a worker's spin on its task ring
#define PC__PP_YIELD_S 50e-6    // then its yields, and a waiting thread's
#define PC__PP_SPIN_S 20e-6     // the collector's look (yields), in seconds
#define PC__PP_BATCH 64          // replies the collector settles under one lock
// The rings and their records: // >>A.ring.

// The worker's parent is gone: its sentinel is readable or, without one
// (its pidfd could not be opened), this process was handed to another
// parent. The worker opens the sentinel as it starts (pc__p_pp_orphan(1)),
// while the parent still lives.
static int pc__p_pp_orphan(int start) {
    static long first_ppid;
    pc_process *parent = pc_process_parent();
    pc_wait_object w;
    memset(&w, 0, sizeof w);
    w.fd = parent ? pc_process_sentinel(parent) : -1;
    if (start) first_ppid = (long)pc__p_os_getppid();
    if (w.fd < 0) return !start && (long)pc__p_os_getppid() != first_ppid;
    return pc_connection_wait(&w, 1, 0, NULL) == PC_OK && w.ready;
}

// Wait for the next message on the pipe, or for the parent's end (then: 0).
static int pc__p_pp_pipe_next(pc_connection *conn, pc__p_buf *b) {
    pc_process *parent = pc_process_parent();
    pc_wait_object w[2];
    void *m;
    size_t n;
    memset(w, 0, sizeof w);
    w[0].conn = conn;
    w[1].fd = parent ? pc_process_sentinel(parent) : -1;
    if (pc_connection_wait(w, w[1].fd >= 0 ? 2 : 1, PC_FOREVER, NULL)) return 0;
    if (!w[0].ready) return 0;      // the parent is gone: nobody wants the results
    if (pc_connection_recv_bytes(conn, 0, &m, &n) != PC_OK) return 0;
    b->len = b->pos = 0;
    b->bad = 0;
    pc__p_buf_put(b, m, n);
    pc_connection_bytes_free(m);
    return !b->bad;
}

// A side's looks while awake and their back-off (one thread's at a time).
typedef struct pc__p_pp_look {
    int spin;                   // more than one CPU to run on
    int off;                    // no look: sleep at once
    unsigned misses, skip;      // looks in a row that found nothing; sleeps to take at once
} pc__p_pp_look;

// Before a sleep: 1 when a look while awake found ready(arg) (look
// again), 0 to sleep (the look missed, or it is skipped after misses).
static int pc__p_pp_look_first(pc__p_pp_look *l, int (*ready)(void *), void *arg,
                               double spin_s) {
    if (l->off) return 0;
    if (l->skip) {
        l->skip--;
        return 0;
    }
    int found = pc__p_look_awake(ready, arg, l->spin, spin_s, PC__PP_YIELD_S);
    if (found > 0) {
        l->misses = 0;
        return 1;
    }
    if (l->misses < 6) l->misses++;
    l->skip = (1u << l->misses) - 1;
    return found != 0;
}

// Who collects the results (the pool's role word, shared): the collector
// thread, or a thread of the pool's process waiting on a future, which
// then sleeps on its own event count ("wready"), so a result wakes it
// straight, with no hop through the collector.
enum { PC__PP_ROLE_FREE = 0, PC__PP_ROLE_COLLECTOR = 1, PC__PP_ROLE_WAITER = 2 };

// The pool's shared words (an anonymous RawArray): each worker's running
// task id (0: none), then the event counts `ready` and `wready` and the
// role, each on a cache line of its own: every worker writes its id twice
// a task, and sharing a line would move it between the processes each time.
#define PC__PP_WORD 8           // int64s from one word to the next
static int64_t *pc__p_pp_word(pc_mp_array *words, int64_t i) {
    return (int64_t *)pc_mp_array_get_obj(words) + i * PC__PP_WORD;
}

// A worker's ends: its rings (NULL without), the pool's "results ready"
// event counts (the collector's, a waiting thread's) and role word, its pipe.
typedef struct pc__p_pp_ends {
    pc__p_pp_chan *chan;
    pc__evc *ready, *wready;
    uint32_t *role;
    pc_connection *conn;
    uint64_t task_at;           // the worker's place in its task ring (given back after a run)
    uint64_t result_seen;       // its last look at its result ring's head
    pc__p_pp_look look;         // its looks at its task ring before sleeping
} pc__p_pp_ends;

// A message from the pipe into own, and msg a view of it.
static int pc__p_pp_pipe_msg(pc_connection *conn, pc__p_buf *own, pc__p_buf *msg) {
    int ok = pc__p_pp_pipe_next(conn, own);
    *msg = *own;
    return ok;
}

// A record past the worker's place in its task ring.
static int pc__p_pp_task_ready(void *ends) {
    pc__p_pp_ends *e = (pc__p_pp_ends *)ends;
    return __atomic_load_n(&e->chan->task.tail, __ATOMIC_SEQ_CST) != e->task_at;
}

// The worker's next message, msg a view of it (0: none: the parent ended):
// read in place from its ring (own holds one that wraps) after a look while
// awake (pc__p_pp_look_first), then asleep on the ring's event count (waking
// each second to see whether the parent still lives); after a pipe record,
// from the pipe into own. The record stays in the ring until the worker
// gives it back (pc__p_pp_ring_release at e->task_at). *at_once: it was
// there at the first look.
static int pc__p_pp_worker_next(pc__p_pp_ends *e, pc__p_buf *own, pc__p_buf *msg,
                                int *at_once) {
    pc__p_pp_ring *r = e->chan ? &e->chan->task : NULL;
    *at_once = 0;
    if (!r) return pc__p_pp_pipe_msg(e->conn, own, msg);
    for (int looks = 0;; looks++) {
        uint32_t kind = 0;
        const unsigned char *rec = NULL;
        size_t len = 0;
        int got = pc__p_pp_ring_peek(r, e->chan->task_data, &e->task_at, &kind, &rec, &len, own);
        if (got < 0) return 0;
        if (got && kind == PC__PP_REC_PIPE) {
            pc__p_pp_ring_release(r, e->task_at);
            return pc__p_pp_pipe_msg(e->conn, own, msg);
        }
        if (got) {
            memset(msg, 0, sizeof *msg);
            msg->p = (unsigned char *)(uintptr_t)rec;
            msg->len = len;
            *at_once = looks == 0;
            return 1;
        }
        if (pc__p_pp_look_first(&e->look, pc__p_pp_task_ready, e, PC__PP_WORKER_SPIN_S))
            continue;
        uint32_t key = pc__evc_prepare(&r->data);
        // Sequentially consistent, as the event count asks (pyconc.h, >>internal).
        if (__atomic_load_n(&r->tail, __ATOMIC_SEQ_CST) != e->task_at) continue;
        if (pc__evc_wait(&r->data, key, pc_monotonic() + 1.0) == PC_TIMEOUT && pc__p_pp_orphan(0))
            return 0;
    }
}

// Send a reply to the pool: into the result ring (waiting for room there),
// or, when large, a pipe record there and the message on the pipe.
static int pc__p_pp_worker_send(pc__p_pp_ends *e, const pc__p_buf *out) {
    if (!e->chan) return pc_connection_send_bytes(e->conn, out->p, 0, out->len) == PC_OK;
    pc__p_pp_ring *r = &e->chan->result;
    int pipe = out->len > PC__PP_REC_MAX;
    size_t n = pipe ? 0 : out->len;
    while (!pc__p_pp_ring_write(r, e->chan->result_data, pipe ? PC__PP_REC_PIPE : PC__PP_REC_MSG,
                                out->p, n, &e->result_seen)) {
        uint32_t key = pc__evc_prepare(&r->room);
        if (pc__p_pp_ring_room(r) >= pc__p_pp_rec_size(n)) continue;
        if (pc__evc_wait(&r->room, key, pc_monotonic() + 1.0) == PC_TIMEOUT && pc__p_pp_orphan(0))
            return 0;
    }
    // The store of the ring's tail comes before this load (both sequentially
    // consistent): a waiter that gives the role back after it looks at the
    // rings again, so either it sees this reply or this sees the role free.
    if (__atomic_load_n(e->role, __ATOMIC_SEQ_CST) == PC__PP_ROLE_WAITER)
        pc__evc_notify(e->wready, 1);
    else
        pc__evc_notify(e->ready, 1);
    return !pipe || pc_connection_send_bytes(e->conn, out->p, 0, out->len) == PC_OK;
}

// The worker's initializer, from its pack; the initargs come first on the
// pipe. Returns 1 when the worker must end (a failure to tell is in *fail).
static int pc__p_pp_initialize(pc_connection *conn, const pc_args *a, pc_args **out_init,
                               pc__p_buf *fail) {
    char msg[256];
    const void *ref;
    size_t nref;
    int64_t has_init = 0;
    uintptr_t addr = 0;
    *out_init = NULL;
    pc_args_get_int(a, 5, &has_init);
    if (has_init && pc_connection_recv_args(conn, out_init)) return 1;
    if (pc_args_get_bytes(a, 4, &ref, &nref) || nref == 0) return 0;
    pc__p_buf b;
    memset(&b, 0, sizeof b);
    b.p = (unsigned char *)(uintptr_t)ref;
    b.len = nref;
    int code = pc__p_pp_get_fn(&b, &addr);
    msg[0] = '\0';
    if (!code) {
        pc_target_fn init;
        memcpy(&init, &addr, sizeof init < sizeof addr ? sizeof init : sizeof addr);
        pc__exception_take(NULL, 0);
        int rc = init(*out_init);
        code = pc__exception_take(msg, sizeof msg);
        if (!code && rc) {
            code = PC_RUNTIME;
            snprintf(msg, sizeof msg, "initializer returned %d", rc);
        }
    } else {
        snprintf(msg, sizeof msg, "%s", pc_last_error());
    }
    if (!code) return 0;
    pc__p_buf_u8(fail, PC__PP_INIT_FAILED);
    pc__p_buf_u32(fail, (uint32_t)code);
    pc__p_buf_str(fail, msg);
    return 1;
}

// A worker process: its pack holds its connection, the running-task slots
// (the pool's event count after them), its index, its task quota, its
// initializer, the result size, the number of workers and its rings.
static int pc__p_pp_worker_main(void *arg) {
    const pc_args *a = (const pc_args *)arg;
    pc_mp_array *slots = NULL, *rings = NULL;
    int64_t index = 0, quota = 0, result_size = 0, nw = 0, sleep_at_once = 0;
    pc_args *init = NULL;
    pc__p_pp_ends e;
    memset(&e, 0, sizeof e);
    if (pc_args_get_connection(a, 0, &e.conn) || pc_args_get_mp_array(a, 1, &slots) ||
        pc_args_get_int(a, 2, &index) || pc_args_get_int(a, 3, &quota) ||
        pc_args_get_int(a, 6, &result_size) || pc_args_get_int(a, 7, &nw) ||
        pc_args_get_int(a, 8, &sleep_at_once))
        return 2;
    if (pc_args_get_mp_array(a, 9, &rings) == PC_OK)
        e.chan = (pc__p_pp_chan *)pc_mp_array_get_obj(rings);
    int64_t *slot = pc__p_pp_word(slots, index);
    e.ready = (pc__evc *)pc__p_pp_word(slots, nw);
    e.wready = (pc__evc *)pc__p_pp_word(slots, nw + 1);
    e.role = (uint32_t *)pc__p_pp_word(slots, nw + 2);
    pc__p_buf in, msg, out, res;
    memset(&in, 0, sizeof in);
    memset(&out, 0, sizeof out);
    memset(&res, 0, sizeof res);
    e.look.spin = pc_process_cpu_count() > 1;
    e.look.off = sleep_at_once != 0;
    pc__p_pp_orphan(1);
    if (pc__p_pp_initialize(e.conn, a, &init, &out)) {
        if (out.len && !out.bad) pc__p_pp_worker_send(&e, &out);
        pc__free(out.p);
        return 3;
    }
    int64_t done = 0;
    int at_once = 0;
    pc__p_pp_clock clock = {0, 0, 0};
    while (pc__p_pp_worker_next(&e, &in, &msg, &at_once)) {
        unsigned kind = pc__p_buf_get_u8(&msg);
        if (kind != PC__PP_TASK && kind != PC__PP_CHUNK) break;
        out.len = 0;
        out.bad = 0;
        if (!at_once) clock.at = 0;
        pc__p_pp_run(&msg, kind, (size_t)result_size, &out, &res, &clock, slot);
        if (e.chan) pc__p_pp_ring_release(&e.chan->task, e.task_at);
        int sent = !out.bad && pc__p_pp_worker_send(&e, &out);
        __atomic_store_n(slot, (int64_t)0, __ATOMIC_SEQ_CST);
        if (!sent || (quota && ++done >= quota)) break;
    }
    pc__free(in.p);
    pc__free(out.p);
    pc__free(res.p);
    pc_args_free(init);
    return 0;
}

// >>F.pool: the executor: tasks into each worker's ring, a collector drains results
// How tasks travel: submit fills in a task's record and pushes it onto
// the intake, a stack with no lock. Whoever holds the pool's lock
// next moves the intake to the back of the queue and writes queued tasks
// into the rings of workers with room in their window (prefetch + 1
// tasks): submit itself when it finds the lock free, else the collector,
// poked; the rest wait there until results make room. The
// collector drains every worker's result ring, then sleeps on one shared
// event count ("results ready") that a worker bumps only when the
// collector sleeps. A watcher thread polls the workers' sentinels and
// marks a dead one for the collector, so a death is seen at once and an
// idle pool makes no system call. A message too large for a ring goes over
// the worker's pipe: the feeder thread sends the pool's (a full pipe to a
// busy worker must not stop submit or the collector); the collector reads
// a worker's at the pipe record. Without rings (PC__PP_RINGS 0) every
// message goes over the pipes and the watcher reads the replies.
// A function's bytes on the wire, encoded once per pool (under its sub
// lock) and kept until the pool is freed: the tasks that call it point to
// them, so a task's record holds no copy.
typedef struct pc__p_pp_fnenc {
    struct pc__p_pp_fnenc *next;
    uintptr_t addr;
    size_t len;
    unsigned char bytes[1];     // len of them
} pc__p_pp_fnenc;

// A task's record sits behind its future, in one block: a slot of the
// pool's cache of futures (pyconc_futures.h), or, when its results would
// not fit a slot, a future of its own. After the record come PC__PP_INLINE
// bytes for its message or its argument's bytes (a larger message is on
// the heap), then room for its results. A small task (not a chunk) with
// rings is written into a ring from its parts (its function's bytes, its
// argument) when it is sent: in a long queue its record is cold by then,
// and a message kept in it would be two more cache lines to miss. The
// record lives as long as the future: the task's end only drops the
// queue's reference.
typedef struct pc__p_pp_task {
    struct pc__p_pp_task *next;
    struct pc__p_pp_task *pipe_next; // on the feeder's list
    uint64_t id;
    pc_future *f;               // the future it sits behind; the queue's reference
    pc_task_fn fn;
    void *arg;                  // a chunk (map or Pool); a small task's pointer value or
                                //   its argument's bytes (inline)
    int chunk, started;         // a map chunk; marked running (so: not cancellable)
    uint64_t pipe_to;           // the start (serial) of the worker whose pipe it goes to
    void *extra;                // room behind it for results copied back
    const pc__p_pp_fnenc *fnenc; // a small task's function, encoded
    size_t arg_size;            // a small task's argument bytes (0: the pointer value)
    pc__p_buf msg;              // encoded at submit, kept to send again (p NULL: a small
                                //   task's, written when it is sent)
} pc__p_pp_task;
#define PC__PP_INLINE 64        // bytes in the record: a small task's argument, a small message
#define PC__PP_SMALL_MAX 512    // the largest message a small task's parts make
#define PC__PP_RES_INLINE 256   // result bytes a slot holds; more: a future of its own
#define PC__PP_SHUT ((pc__p_pp_task *)(uintptr_t)1)    // the intake once closed

typedef struct pc__p_pp_worker {
    pc_process *proc;           // NULL: no worker in this slot
    pc_connection *conn;        // the pool's end of the worker's duplex pipe
    pc_mp_array *rings;         // its shared mapping (NULL without rings)
    pc__p_pp_chan *chan;        // in it
    pc__p_pp_task *head, *tail; // sent to it and not answered, oldest first
    int inflight, sent, sending;
    int died;                   // seen dead by the watcher: the collector buries it
    uint64_t serial;            // which start this is (the pool counts them)
    uint64_t seen_head;         // the pool's last look at its task ring's head (lock)
    uint64_t stage_at;          // where the next task goes in its ring, while staged (lock)
    int staged;                 // tasks written there and not shown yet (lock)
    int unwoken;                // tasks shown to it since the last wake-up call (lock)
} pc__p_pp_worker;

// A reply the watcher read from a pipe (without rings).
typedef struct pc__p_pp_inbox {
    struct pc__p_pp_inbox *next;
    int index;
    uint64_t serial;
    size_t n;
    unsigned char data[1];
} pc__p_pp_inbox;

typedef struct pc__p_pp {
    pc_executor base;           // first: the interface
    // Submit's side, on cache lines of its own (submit runs beside the
    // collector): sub guards the cache of futures, the function last
    // encoded and the ids; the intake is a stack any thread pushes a new
    // task onto, taken whole into the queue under lock (PC__PP_SHUT: the
    // pool takes no more).
    char gap_a[64];
    pc_lock sub;
    pc__p_pp_task *intake;
    uint64_t next_id;
    pc__f_cache *slab;          // the futures, each with its task record (sub)
    pc__p_pp_fnenc *fns, *fn_last; // every function submitted, encoded; the last (sub)
    char gap_b[64];
    pc_lock lock;               // guards what follows
    pc_condition cond;          // on lock: the feeder waits for work, a death for a send
    pc__p_pp_task *head, *tail; // submitted, not sent (sent ones that lost their
                                //   worker come back to the front)
    pc__p_pp_task *pipe_head, *pipe_tail; // to send over a pipe (the feeder's)
    pc__p_pp_inbox *in_head, *in_tail;    // read by the watcher (without rings)
    uint64_t starts;
    size_t outstanding;         // tasks not finished yet
    pc__p_pp_worker *w;
    int nw, prefetch, quota;
    size_t result_size;
    int raw_fn;                 // fork: functions cross as addresses
    pc__p_pp_task *sending_task; // the feeder's, while it sends it (lock not held)
    int shutdown, broken, stop, joined, signal_all;
    int poke;                   // something for the collector besides results
    char broken_msg[256];
    const pc_context *ctx;
    pc_mp_array *slots;         // the shared words (pc__p_pp_word): each worker's running
                                //   task id (0: none), then `ready`, `wready` and `role`
    pc__evc *ready;             // the collector sleeps here (shared with the workers)
    pc__evc *wready;            // a waiting thread that collects sleeps here (shared)
    uint32_t *role;             // who collects: PC__PP_ROLE_* (shared)
    pc_args *initargs;          // a copy of the user's, sent to each worker as it starts
    pc__p_buf initref;          // the initializer, encoded
    size_t slot_res;            // result bytes a slot holds
    pc__p_buf recs[PC__PP_BATCH]; // the collector's records that wrap, a batch of them
    const unsigned char *rec_at[PC__PP_BATCH]; // the batch, read in place (or in recs)
    size_t rec_len[PC__PP_BATCH];
    int staged;                 // some worker has tasks staged in its ring (lock)
    int unwoken;                // some worker was shown tasks and not woken (lock)
    int auto_window;            // prefetch 0: the window follows the tasks' run time
    int sleep_at_once;          // its workers sleep when they run dry (PC__PP_SLEEP_AT_ONCE)
    double task_ns;             // their mean run time lately (0: none seen yet)
    pc_connection *wake_r, *wake_w; // wakes the watcher
    pc_thread *feeder, *collector, *watcher;
    uintptr_t checked_fn;       // the last function found to be code
    pc__p_pp_look look;         // the waiting thread's looks (the role's holder's)
} pc__p_pp;

// The executor's three entries (defined below), and its vtable: declared
// with its initialiser here, since C++ has no tentative definitions.
static int pc__p_pp_submit(pc_executor *ex, pc_task_fn fn, const void *arg, size_t arg_size,
                           pc_future **out_future);
static int pc__p_pp_shutdown(pc_executor *ex, int wait, int cancel_futures);
static void pc__p_pp_free(pc_executor *ex);
static const pc_executor_vtable pc__p_pp_vtable = {
    pc__p_pp_submit, pc__p_pp_shutdown, pc__p_pp_free
};

static pc__p_pp *pc__p_pp_check(pc_executor *ex) {
    if (!ex || ex->vtable != &pc__p_pp_vtable) {
        pc__error(PC_VALUE, "not a process pool");
        return NULL;
    }
    return (pc__p_pp *)ex;
}

// A poke: for the collector thread; a waiting thread that collects hands
// the role back to it.
static void pc__p_pp_wake_collector(pc__p_pp *p) {
    __atomic_store_n(&p->poke, 1, __ATOMIC_SEQ_CST);
    pc__evc_notify(p->ready, 1);
    pc__evc_notify(p->wready, 1);
}

static void pc__p_pp_wake_watcher(pc__p_pp *p) {
    pc_connection_send_bytes(p->wake_w, "w", 0, 1);
}

static size_t pc__p_pp_rec_head(void) { return (sizeof(pc__p_pp_task) + 15) & ~(size_t)15; }

static unsigned char *pc__p_pp_inline(pc__p_pp_task *t) {
    return (unsigned char *)t + pc__p_pp_rec_head();
}

// The end of task t: its message (if on the heap) and the queue's
// reference to its future, which may free the record with it.
static void pc__p_pp_task_end(pc__p_pp_task *t) {
    if (t->msg.p != pc__p_pp_inline(t)) pc__free(t->msg.p);
    pc_future_release(t->f);
}

// The record behind future f, zeroed, its message buffer the inline one,
// with res_bytes of room for results.
static pc__p_pp_task *pc__p_pp_task_init(pc_future *f, size_t res_bytes) {
    pc__p_pp_task *t = (pc__p_pp_task *)pc__f_extra(f);
    memset(t, 0, sizeof *t);
    t->f = f;
    t->msg.p = pc__p_pp_inline(t);
    t->msg.cap = PC__PP_INLINE;
    t->extra = res_bytes ? pc__p_pp_inline(t) + PC__PP_INLINE : NULL;
    return t;
}

// The cache of futures is freed once the pool and its last future are gone.
static void pc__p_pp_slab_gone(pc__f_cache *c) {
    pc__f_cache_free_blocks(c);
    pc__free(c);
}

// Finish t (its future, then the task) and count it done (lock not held).
static void pc__p_pp_finish(pc__p_pp_task *t, int code, const char *msg, void *result);
static void pc__p_pp_done(pc__p_pp *p, pc__p_pp_task *t, int code, const char *msg,
                          void *result) {
    pc__p_pp_finish(t, code, msg, result);
    pc_lock_acquire(&p->lock, PC_FOREVER);
    if (--p->outstanding == 0 && p->shutdown) pc__p_pp_wake_collector(p);
    pc_lock_release(&p->lock);
}

// What a task carries: its function, and its argument or a chunk's items.
typedef struct pc__p_pp_what {
    pc_task_fn fn;
    const void *arg;            // the pointer value, or arg_size bytes to copy
    size_t arg_size;
    const pc__f_chunk_view *v;  // a chunk's items, or NULL
} pc__p_pp_what;

// The bytes of the message pc__p_pp_encode writes (0: the function cannot
// be located; past what memory holds: too large to encode).
static size_t pc__p_pp_msg_size(const pc__p_pp *p, const pc__p_pp_what *w) {
    const size_t huge = (size_t)-1 / 2;
    size_t fn = pc__p_pp_fn_size(pc__p_pp_task_addr(w->v ? w->v->fn : w->fn), p->raw_fn);
    if (!fn) return 0;
    size_t body = 1 + 8;                    // by value
    if (w->v) {
        size_t each = w->v->item_size ? w->v->item_size : sizeof(uint64_t);
        if (w->v->count > huge / each) return huge;
        body = 8 + 8 + 8 + w->v->count * each;
    } else if (w->arg_size) {
        if (w->arg_size > huge) return huge;
        body = 1 + 8 + w->arg_size;
    }
    return 1 + 8 + fn + body;
}

// The message: kind, id, function, then the argument (straight from the
// caller's bytes) or the items.
static int pc__p_pp_encode(const pc__p_pp *p, pc__p_buf *b, uint64_t id,
                           const pc__p_pp_what *w) {
    const pc__f_chunk_view *v = w->v;
    pc__p_buf_u8(b, v ? PC__PP_CHUNK : PC__PP_TASK);
    pc__p_buf_u64(b, id);
    int rc = pc__p_pp_put_fn(b, pc__p_pp_task_addr(v ? v->fn : w->fn), p->raw_fn);
    if (rc) return rc;
    if (v) {
        pc__p_buf_u64(b, v->item_size);
        pc__p_buf_u64(b, v->count);
        if (v->item_size) {
            pc__p_buf_blob(b, v->items, v->count * v->item_size);
        } else {            // pointers cross as integers
            pc__p_buf_u64(b, v->count * sizeof(uint64_t));
            for (size_t i = 0; i < v->count; i++)
                pc__p_buf_u64(b, (uint64_t)(uintptr_t)((void *const *)v->items)[i]);
        }
    } else if (w->arg_size) {
        pc__p_buf_u8(b, 0);
        pc__p_buf_blob(b, w->arg, w->arg_size);
    } else {                // the pointer value
        pc__p_buf_u8(b, 1);
        pc__p_buf_u64(b, (uint64_t)(uintptr_t)w->arg);
    }
    return b->bad ? pc__error(PC_NOMEM, "out of memory encoding a task") : PC_OK;
}

// The worker to send to next (lock held): a live one with room, the least
// loaded, that will read one more task before its quota ends it; or NULL.
static pc__p_pp_worker *pc__p_pp_pick(pc__p_pp *p) {
    pc__p_pp_worker *best = NULL;
    for (int i = 0; i < p->nw; i++) {
        pc__p_pp_worker *w = &p->w[i];
        if (!w->proc || w->died || w->inflight > p->prefetch) continue;
        if (p->quota && w->sent >= p->quota) continue;
        if (!best || w->inflight < best->inflight) best = w;
    }
    return best;
}

// Ask for the memory of queued task t, whose record and future are cold by
// the time it leaves the queue behind a long burst: its future (which
// comes first in its block), its record and its message.
static void pc__p_pp_prefetch(const pc__p_pp_task *t) {
#if defined(__GNUC__)
    const char *at = (const char *)t;
    __builtin_prefetch(at - ((sizeof(pc_future) + 15) & ~(size_t)15), 1);
    __builtin_prefetch(at, 1);
    __builtin_prefetch(at + 64);
    __builtin_prefetch(at + pc__p_pp_rec_head());
#else
    (void)t;
#endif
}

// Take the next task to send (lock held), marking it running; a cancelled
// one is dropped. NULL when there is none.
static pc__p_pp_task *pc__p_pp_take(pc__p_pp *p) {
    while (p->head) {
        pc__p_pp_task *t = p->head;
        p->head = t->next;
        if (!p->head) p->tail = NULL;
        else pc__p_pp_prefetch(p->head);
        t->next = NULL;
        if (t->started || pc_future_set_running_or_notify_cancel(t->f) == PC_OK) {
            t->started = 1;
            return t;
        }
        pc__p_pp_task_end(t);           // cancelled while queued
        if (--p->outstanding == 0 && p->shutdown) pc__p_pp_wake_collector(p);
    }
    return NULL;
}

static void pc__p_pp_append(pc__p_pp_task **head, pc__p_pp_task **tail, pc__p_pp_task *t) {
    t->next = NULL;
    if (*tail) (*tail)->next = t;
    else *head = t;
    *tail = t;
}

// Unlink t from w's list (lock held).
static void pc__p_pp_unlink(pc__p_pp_worker *w, pc__p_pp_task *t) {
    pc__p_pp_task **pp = &w->head, *prev = NULL;
    while (*pp && *pp != t) {
        prev = *pp;
        pp = &(*pp)->next;
    }
    if (!*pp) return;
    *pp = t->next;
    if (w->tail == t) w->tail = prev;
    w->inflight--;
}

// Drop the feeder's sends to the worker of start `serial` (0: all) (lock held).
static void pc__p_pp_unpipe(pc__p_pp *p, uint64_t serial) {
    pc__p_pp_task **pp = &p->pipe_head;
    p->pipe_tail = NULL;
    while (*pp) {
        pc__p_pp_task *t = *pp;
        if (!serial || t->pipe_to == serial) {
            t->pipe_to = 0;
            *pp = t->pipe_next;
            continue;
        }
        p->pipe_tail = t;
        pp = &t->pipe_next;
    }
}

// pc__p_pp_encode for a task (not a chunk), written straight into m (cap
// bytes) from its function's bytes f and its argument (len bytes at arg,
// or arg's value when len is 0); returns its length (0: no room).
static size_t pc__p_pp_put_small(unsigned char *m, size_t cap, uint64_t id,
                                 const pc__p_pp_fnenc *f, const void *arg, size_t len) {
    uint64_t value = (uint64_t)(uintptr_t)arg;
    if (1 + 8 + f->len + 1 + 8 + len > cap) return 0;
    unsigned char *o = m;
    *o++ = PC__PP_TASK;
    memcpy(o, &id, 8);
    memcpy(o + 8, f->bytes, f->len);
    o += 8 + f->len;
    *o++ = len ? 0 : 1;                 // bytes, or the pointer value
    if (len) {
        uint64_t u = (uint64_t)len;
        memcpy(o, &u, 8);
        memcpy(o + 8, arg, len);
    } else {
        memcpy(o, &value, 8);
    }
    return (size_t)(o + 8 + len - m);
}

// Put t into worker w's ring, staged there until pc__p_pp_show (lock
// held); 0: no room there now.
static int pc__p_pp_push(pc__p_pp *p, pc__p_pp_worker *w, pc__p_pp_task *t) {
    unsigned char small[PC__PP_SMALL_MAX];
    const unsigned char *m = t->msg.p;
    size_t len = t->msg.len;
    if (!m) {                   // a small task, with rings (so w->chan)
        len = pc__p_pp_put_small(small, sizeof small, t->id, t->fnenc, t->arg, t->arg_size);
        m = small;
    }
    int big = !w->chan || len > PC__PP_REC_MAX;
    if (w->chan && !w->staged) w->stage_at = __atomic_load_n(&w->chan->task.tail,
                                                             __ATOMIC_RELAXED);
    if (w->chan && !pc__p_pp_ring_stage(&w->chan->task, w->chan->task_data,
                                        big ? PC__PP_REC_PIPE : PC__PP_REC_MSG, m,
                                        big ? 0 : len, &w->stage_at, &w->seen_head))
        return 0;
    w->staged += w->chan != NULL;
    w->unwoken += w->chan != NULL;
    p->staged |= w->chan != NULL;
    pc__p_pp_append(&w->head, &w->tail, t);
    w->inflight++;
    w->sent++;
    if (big) {
        t->pipe_to = w->serial;
        t->pipe_next = NULL;
        if (p->pipe_tail) p->pipe_tail->pipe_next = t;
        else p->pipe_head = t;
        p->pipe_tail = t;
        pc_condition_notify_all(&p->cond);
    }
    return 1;
}

// Whether worker w, shown tasks, may be woken for them later (lock held):
// while tasks are queued behind, it is woken once half its window waits
// for it. Results settled more slowly than it runs them would otherwise
// wake it for a few tasks at a time, and on a busy machine each wake-up
// costs the waker its CPU. Never when all it has out was shown without a
// wake-up (it may sleep on them all, and be shown no more: its ring full,
// or its quota reached). While it has older tasks out, their results come
// back, are settled, and their fill shows it more or finds this false.
static int pc__p_pp_wake_later(const pc__p_pp *p, const pc__p_pp_worker *w) {
    return p->head && w->unwoken < (p->prefetch + 1) / 2 && w->inflight > w->unwoken;
}

// Show each worker the tasks staged in its ring, one store of its tail and
// one look at whether it sleeps for them all (lock held); a worker not
// woken then is looked at again at each fill until it is.
static void pc__p_pp_show(pc__p_pp *p) {
    if (!p->staged && !p->unwoken) return;
    p->staged = p->unwoken = 0;
    for (int i = 0; i < p->nw; i++) {
        pc__p_pp_worker *w = &p->w[i];
        if (w->staged) pc__p_pp_ring_publish(&w->chan->task, w->stage_at);
        w->staged = 0;
        if (!w->unwoken) continue;
        if (pc__p_pp_wake_later(p, w)) {
            p->unwoken = 1;
            continue;
        }
        w->unwoken = 0;
        pc__evc_notify(&w->chan->task.data, 1);     // a pipe record wakes it too
    }
}

// Tasks pushed onto the intake, newest first, to the back of the queue
// oldest first, counted outstanding (lock held).
static void pc__p_pp_queue_pushed(pc__p_pp *p, pc__p_pp_task *list) {
    pc__p_pp_task *first = NULL, *last = list;
    size_t n = 0;
    for (; list; n++) {
        pc__p_pp_task *next = list->next;
        list->next = first;
        first = list;
        list = next;
    }
    if (!first) return;
    if (p->tail) p->tail->next = first;
    else p->head = first;
    p->tail = last;
    p->outstanding += n;
}

// Queue what submit pushed (lock held); close: and take no more, so that
// a later submit fails.
static void pc__p_pp_intake(pc__p_pp *p, int close) {
    pc__p_pp_task *list = __atomic_load_n(&p->intake, __ATOMIC_ACQUIRE);
    for (;;) {
        if (list == PC__PP_SHUT || (!list && !close)) return;
        if (__atomic_compare_exchange_n(&p->intake, &list, close ? PC__PP_SHUT : NULL, 1,
                                        __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE))
            break;
    }
    pc__p_pp_queue_pushed(p, list);
}

// Stage queued tasks in the rings of the workers with room in their window
// (lock held).
static void pc__p_pp_stage(pc__p_pp *p) {
    pc__p_pp_intake(p, 0);
    while (p->head) {
        pc__p_pp_worker *w = pc__p_pp_pick(p);
        pc__p_pp_task *t = w ? pc__p_pp_take(p) : NULL;
        if (!t) return;
        if (!pc__p_pp_push(p, w, t)) {      // its ring is full: again at the next result
            t->next = p->head;
            p->head = t;
            if (!p->tail) p->tail = t;
            return;
        }
    }
}

// Send queued tasks to the workers with room in their window (lock held).
static void pc__p_pp_fill(pc__p_pp *p) {
    pc__p_pp_stage(p);
    pc__p_pp_show(p);
}

// The worker of start serial, or NULL (lock held).
static pc__p_pp_worker *pc__p_pp_worker_of(pc__p_pp *p, uint64_t serial) {
    for (int i = 0; i < p->nw; i++)
        if (p->w[i].proc && p->w[i].serial == serial) return &p->w[i];
    return NULL;
}

// The feeder: sends the messages too large for a ring over the workers'
// pipes, outside the lock, so a full pipe never stops submit or the collector.
static int pc__p_pp_feeder(void *arg) {
    pc__p_pp *p = (pc__p_pp *)arg;
    pc_lock_acquire(&p->lock, PC_FOREVER);
    while (!p->stop) {
        pc__p_pp_task *t = p->pipe_head;
        if (!t) {
            pc_condition_wait(&p->cond, PC_FOREVER);
            continue;
        }
        p->pipe_head = t->pipe_next;
        if (!p->pipe_head) p->pipe_tail = NULL;
        pc__p_pp_worker *w = pc__p_pp_worker_of(p, t->pipe_to);
        t->pipe_to = 0;
        if (!w || w->died) continue;
        w->sending = 1;
        p->sending_task = t;    // a quick reply must not free it under the send
        pc_connection *conn = w->conn;
        pc_lock_release(&p->lock);
        // A failed send is a dead worker: its burial sends the task again.
        pc_connection_send_bytes(conn, t->msg.p, 0, t->msg.len);
        pc_lock_acquire(&p->lock, PC_FOREVER);
        w->sending = 0;
        p->sending_task = NULL;
        pc_condition_notify_all(&p->cond);
    }
    pc_lock_release(&p->lock);
    return 0;
}

// Start the worker of slot i (lock held, so a fork child sees a whole pool).
static int pc__p_pp_start(pc__p_pp *p, int i) {
    pc_connection *mine = NULL, *theirs = NULL;
    pc_mp_array *rings = NULL;
    int rc = pc_pipe(1, &mine, &theirs);
    if (rc) return rc;
    *pc__p_pp_word(p->slots, i) = 0;
    if (PC__PP_RINGS) {
        pc_mp_array_desc ad;
        memset(&ad, 0, sizeof ad);
        ad.typecode = "q";
        ad.length = sizeof(pc__p_pp_chan) / sizeof(int64_t);
        rings = pc_mp_raw_array_new(&ad);
        if (!rings) rc = pc_last_error_code() ? pc_last_error_code() : PC_NOMEM;
    }
    pc__p_pp_chan *chan = rings ? (pc__p_pp_chan *)pc_mp_array_get_obj(rings) : NULL;
    if (chan) {
        pc__evc_init(&chan->task.data, 1);
        pc__evc_init(&chan->task.room, 1);
        pc__evc_init(&chan->result.data, 1);
        pc__evc_init(&chan->result.room, 1);
    }
    pc_args *a = rc ? NULL : pc_args_new();
    if (!rc && !a) rc = PC_NOMEM;
    if (!rc) rc = pc_args_add_connection(a, theirs);
    if (!rc) rc = pc_args_add_mp_array(a, p->slots);
    if (!rc) rc = pc_args_add_int(a, i);
    if (!rc) rc = pc_args_add_int(a, p->quota);
    if (!rc) rc = pc_args_add_bytes(a, p->initref.p ? p->initref.p : (void *)"", p->initref.len);
    if (!rc) rc = pc_args_add_int(a, p->initargs != NULL);
    if (!rc) rc = pc_args_add_int(a, (int64_t)p->result_size);
    if (!rc) rc = pc_args_add_int(a, p->nw);
    if (!rc) rc = pc_args_add_int(a, p->sleep_at_once);
    if (!rc && rings) rc = pc_args_add_mp_array(a, rings);
    pc_process *proc = NULL;
    if (!rc) {
        pc_process_desc d;
        memset(&d, 0, sizeof d);
        d.target = pc__p_pp_worker_main;
        d.args = a;
        d.daemon = PC_DAEMON_YES;
        d.context = p->ctx;
        proc = pc_process_new(&d);
        rc = proc ? pc_process_start(proc) : pc_last_error_code();
    }
    pc_args_free(a);
    pc_connection_free(theirs);
    if (!rc && p->initargs) rc = pc_connection_send_args(mine, p->initargs);
    if (rc) {
        char msg[256];
        snprintf(msg, sizeof msg, "%.200s", pc_last_error());
        if (proc && pc_process_pid(proc)) {
            pc_process_kill(proc);
            pc_process_join(proc, PC_FOREVER);
        }
        pc_process_free(proc);
        pc_connection_free(mine);
        pc_mp_array_free(rings);
        return pc__error(rc ? rc : PC_OS, "can't start a worker process: %s", msg);
    }
    pc__p_pp_worker *w = &p->w[i];
    memset(w, 0, sizeof *w);
    w->proc = proc;
    w->conn = mine;
    w->rings = rings;
    w->chan = chan;
    w->serial = ++p->starts;
    return PC_OK;
}

// Break the pool (lock held): every task fails; returns the tasks to fail.
static pc__p_pp_task *pc__p_pp_break(pc__p_pp *p, const char *why) {
    pc__p_pp_task *all = NULL, *tail = NULL;
    if (!p->broken) snprintf(p->broken_msg, sizeof p->broken_msg, "%s", why);
    p->broken = 1;
    pc__p_pp_intake(p, 1);
    pc__p_pp_unpipe(p, 0);
    while (p->sending_task) pc_condition_wait(&p->cond, PC_FOREVER);
    for (int i = 0; i < p->nw; i++) {
        pc__p_pp_worker *w = &p->w[i];
        if (w->head) {
            if (tail) tail->next = w->head;
            else all = w->head;
            tail = w->tail;
        }
        w->head = w->tail = NULL;
        w->inflight = 0;
    }
    if (p->head) {
        if (tail) tail->next = p->head;
        else all = p->head;
    }
    p->head = p->tail = NULL;
    return all;
}

static void pc__p_pp_fail_list(pc__p_pp *p, pc__p_pp_task *t, const char *why) {
    while (t) {
        pc__p_pp_task *next = t->next;
        if (t->started || pc_future_set_running_or_notify_cancel(t->f) == PC_OK)
            pc__p_pp_done(p, t, PC_BROKEN, why, NULL);
        else
            pc__p_pp_done(p, t, PC_OK, NULL, NULL);     // cancelled: finishing is a no-op
        t = next;
    }
}

static const char *pc__p_signal_name(int sig) {
    switch (sig) {
    case SIGKILL: return "SIGKILL";
    case SIGTERM: return "SIGTERM";
    case SIGINT: return "SIGINT";
    case SIGSEGV: return "SIGSEGV";
    case SIGABRT: return "SIGABRT";
    case SIGBUS: return "SIGBUS";
    case SIGFPE: return "SIGFPE";
    case SIGILL: return "SIGILL";
    default: return "signal";
    }
}

// How a worker ended: "worker process 12 was killed by signal 9 (SIGKILL)".
static void pc__p_pp_how(pc_process *proc, char *out, size_t cap) {
    int code = pc_process_exitcode(proc);
    long pid = pc_process_pid(proc);
    if (code < 0 && code != PC_EXITCODE_NONE)
        snprintf(out, cap, "worker process %ld was killed by signal %d (%s)", pid, -code,
                 pc__p_signal_name(-code));
    else
        snprintf(out, cap, "worker process %ld exited with code %d", pid, code);
}
// Finish t (its future, then the task); the caller counts it done.
static void pc__p_pp_finish(pc__p_pp_task *t, int code, const char *msg, void *result) {
    if (pc_future_cancelled(t->f)) {
    } else if (code) {
        pc_future_set_exception(t->f, code, "%s", msg);
    } else {
        pc_future_set_result(t->f, result);
    }
    pc__p_pp_task_end(t);
}

// Count n tasks done (lock held). The last one, once the pool is shut
// down, lets the collector end it.
static void pc__p_pp_count_done(pc__p_pp *p, size_t n) {
    p->outstanding -= n;
    if (n && p->outstanding == 0 && p->shutdown) pc__p_pp_wake_collector(p);
}

// A worker's initializer failed: the pool breaks (lock not held).
static void pc__p_pp_init_failed(pc__p_pp *p, pc__p_buf *b) {
    char why[256];
    int code = (int)pc__p_buf_get_u32(b);
    char *msg = pc__p_buf_get_str(b);
    fprintf(stderr, "Exception in initializer: %s: %s\n", pc__exception_name(code),
            msg ? msg : "");
    fflush(stderr);
    snprintf(why, sizeof why, "A process in the process pool failed its initializer "
             "(%.150s): the pool is not usable anymore", msg ? msg : "");
    pc__free(msg);
    pc_lock_acquire(&p->lock, PC_FOREVER);
    pc__p_pp_task *all = pc__p_pp_break(p, why);
    pc_lock_release(&p->lock);
    pc__p_pp_fail_list(p, all, why);
}

// The task a reply of worker w answers, unlinked from w's list (lock
// held); NULL for none (or a reply that is not a result).
static pc__p_pp_task *pc__p_pp_claim(pc__p_pp *p, pc__p_pp_worker *w, const unsigned char *m,
                                     size_t n) {
    uint64_t id;
    if (n < 1 + sizeof id || m[0] != PC__PP_RESULT) return NULL;
    memcpy(&id, m + 1, sizeof id);
    pc__p_pp_task *t = w->head;
    while (t && t->id != id) t = t->next;
    if (!t) return NULL;
    pc__p_pp_unlink(w, t);
    while (p->sending_task == t) pc_condition_wait(&p->cond, PC_FOREVER);
    return t;
}

// The usual reply, a task's one pointer result and no error, read
// straight: 1 when m is one (t is finished, *ns its run time).
static int pc__p_pp_settle_quick(const pc__p_pp *p, pc__p_pp_task *t, const unsigned char *m,
                                 size_t n, uint64_t *ns) {
    uint32_t code;
    uint64_t mlen, count, u;
    if (n != PC__PP_R_QUICK || t->chunk || p->result_size) return 0;
    memcpy(&code, m + PC__PP_R_CODE, 4);
    memcpy(&mlen, m + PC__PP_R_MLEN, 8);
    memcpy(&count, m + PC__PP_R_MSG, 8);
    if (code || mlen || count != 1) return 0;
    memcpy(ns, m + PC__PP_R_NS, 8);
    memcpy(&u, m + PC__PP_R_MSG + 8, 8);
    pc__p_pp_finish(t, PC_OK, NULL, (void *)(uintptr_t)u);
    return 1;
}

// Give claimed task t the results of reply m and finish it (lock not held).
// Returns the run time the worker measured, in nanoseconds.
static uint64_t pc__p_pp_settle(pc__p_pp *p, pc__p_pp_task *t, const unsigned char *m,
                                size_t n) {
    char msg[256];
    uint64_t quick_ns;
    if (pc__p_pp_settle_quick(p, t, m, n, &quick_ns)) return quick_ns;
    size_t mlen = 0;
    pc__p_buf b;
    memset(&b, 0, sizeof b);
    b.p = (unsigned char *)(uintptr_t)m;
    b.len = n;
    b.pos = 1 + sizeof(uint64_t);           // after the kind and the id
    int code = (int)pc__p_buf_get_u32(&b);
    uint64_t ns = pc__p_buf_get_u64(&b);
    const void *text = pc__p_buf_get_blob(&b, &mlen);
    if (mlen > sizeof msg - 1) mlen = sizeof msg - 1;
    if (text && mlen) memcpy(msg, text, mlen);
    msg[text ? mlen : 0] = '\0';
    uint64_t count = pc__p_buf_get_u64(&b);
    void *result = NULL;
    pc__f_chunk_view v = {NULL, NULL, 0, 0, NULL, NULL};
    int chunk = t->chunk && pc__p_pp_view(t->fn, t->arg, &v);
    size_t cap = chunk ? v.count : 1;
    if (count > cap) count = cap;
    uint64_t i = 0;
    if (chunk && !p->result_size && count <= (b.len - b.pos) / sizeof(uint64_t)) {
        // A chunk's pointer results, read in one pass (not a call each).
        const unsigned char *at = b.p + b.pos;
        for (; i < count; i++) {
            uint64_t u;
            memcpy(&u, at + i * sizeof u, sizeof u);
            v.results[i] = (void *)(uintptr_t)u;
        }
        b.pos += (size_t)count * sizeof(uint64_t);
    }
    for (; i < count && !b.bad; i++) {
        void *r;
        if (!p->result_size) {
            r = (void *)(uintptr_t)pc__p_buf_get_u64(&b);
        } else {
            size_t len;
            const void *data = pc__p_buf_get_blob(&b, &len);
            r = NULL;
            if (data && len == p->result_size) {
                r = (char *)t->extra + i * p->result_size;
                memcpy(r, data, len);
            }
        }
        if (chunk) v.results[i] = r;
        else result = r;
    }
    if (chunk) *v.ok = (size_t)count;
    if (b.bad && !code) {
        code = PC_RUNTIME;
        snprintf(msg, sizeof msg, "a worker's reply was cut short");
    }
    pc__p_pp_finish(t, code, msg, result);
    return ns;
}

// The automatic window (prefetch 0): as many tasks as run in about
// PC__PP_AUTO_NS, so a worker never waits for the collector while tasks
// are short, and long tasks are not held behind each other (lock held).
#define PC__PP_AUTO_NS 100000.0
#define PC__PP_AUTO_MAX 1024      // no-op tasks: a worker never runs dry between two batches
static void pc__p_pp_learn(pc__p_pp *p, uint64_t ns, size_t n) {
    if (!p->auto_window || !n) return;
    double x = (double)ns / (double)n;
    p->task_ns = p->task_ns > 0 ? p->task_ns * 0.75 + x * 0.25 : x;
    double fit = PC__PP_AUTO_NS / (p->task_ns > 1 ? p->task_ns : 1);
    p->prefetch = fit >= PC__PP_AUTO_MAX ? PC__PP_AUTO_MAX : fit < 1 ? 1 : (int)fit;
}

// One reply of worker w (collector; lock not held).
static void pc__p_pp_reply(pc__p_pp *p, pc__p_pp_worker *w, void *m, size_t n) {
    const unsigned char *c = (const unsigned char *)m;
    if (n && c[0] == PC__PP_INIT_FAILED) {
        pc__p_buf b;
        memset(&b, 0, sizeof b);
        b.p = (unsigned char *)m;
        b.len = n;
        b.pos = 1;
        pc__p_pp_init_failed(p, &b);
        return;
    }
    pc_lock_acquire(&p->lock, PC_FOREVER);
    pc__p_pp_task *t = pc__p_pp_claim(p, w, c, n);
    pc_lock_release(&p->lock);
    if (!t) return;
    uint64_t ns = pc__p_pp_settle(p, t, c, n);
    pc_lock_acquire(&p->lock, PC_FOREVER);
    pc__p_pp_learn(p, ns, 1);
    pc__p_pp_count_done(p, 1);
    pc__p_pp_fill(p);           // the room it left (a waiting thread collects too)
    pc_lock_release(&p->lock);
}

// A large reply of worker w, announced in its ring: read from its pipe,
// unless the worker died before it sent it.
static void pc__p_pp_pipe_reply(pc__p_pp *p, pc__p_pp_worker *w) {
    pc_wait_object o[2];
    void *m;
    size_t n;
    memset(o, 0, sizeof o);
    o[0].conn = w->conn;
    o[1].fd = pc_process_sentinel(w->proc);
    if (pc_connection_wait(o, 2, PC_FOREVER, NULL) || !o[0].ready) return;
    if (pc_connection_recv_bytes(w->conn, 0, &m, &n) != PC_OK) return;
    pc__p_pp_reply(p, w, m, n);
    pc_connection_bytes_free(m);
}

// The replies the watcher read from pipes (without rings); w: only until
// w's, else all. Returns how many.
static int pc__p_pp_inbox_drain(pc__p_pp *p) {
    int count = 0;
    for (;;) {
        pc_lock_acquire(&p->lock, PC_FOREVER);
        pc__p_pp_inbox *m = p->in_head;
        if (m && !(p->in_head = m->next)) p->in_tail = NULL;
        pc_lock_release(&p->lock);
        if (!m) return count;
        pc__p_pp_worker *w = &p->w[m->index];
        if (w->proc && w->serial == m->serial) pc__p_pp_reply(p, w, m->data, m->n);
        pc__free(m);
        count++;
    }
}

// Settle a batch of n replies of worker w read from its ring: claimed
// under one lock, settled outside it, counted under one more.
static void pc__p_pp_settle_batch(pc__p_pp *p, pc__p_pp_worker *w, int n) {
    pc__p_pp_task *ts[PC__PP_BATCH];
    uint64_t ns = 0;
    size_t settled = 0;
    pc_lock_acquire(&p->lock, PC_FOREVER);
    for (int i = 0; i < n; i++) ts[i] = pc__p_pp_claim(p, w, p->rec_at[i], p->rec_len[i]);
    pc__p_pp_fill(p);           // the room they leave, before they are settled
    pc_lock_release(&p->lock);
    for (int i = 0; i < n; i++) {
        const unsigned char *m = p->rec_at[i];
        if (ts[i]) {
            ns += pc__p_pp_settle(p, ts[i], m, p->rec_len[i]);
            settled++;
        } else if (p->rec_len[i] && m[0] == PC__PP_INIT_FAILED) {
            pc__p_buf b;
            memset(&b, 0, sizeof b);
            b.p = (unsigned char *)(uintptr_t)m;
            b.len = p->rec_len[i];
            b.pos = 1;
            pc__p_pp_init_failed(p, &b);
        }
    }
    pc_lock_acquire(&p->lock, PC_FOREVER);
    pc__p_pp_learn(p, ns, settled);
    pc__p_pp_count_done(p, settled);
    if (settled) pc__p_pp_fill(p);     // a window that grew
    pc_lock_release(&p->lock);
}

// Read every reply worker w has left in its ring (collector); returns how
// many. A batch is read in place and given back once settled, so the
// worker sees one move of head a batch. A record that cannot be is a
// worker gone wrong: it is killed.
static int pc__p_pp_collect(pc__p_pp *p, pc__p_pp_worker *w) {
    int count = 0, n = 0;
    uint32_t kind = 0;
    if (!w->chan) return 0;
    pc__p_pp_ring *r = &w->chan->result;
    uint64_t at = __atomic_load_n(&r->head, __ATOMIC_RELAXED), was = at;
    for (;;) {
        int got = pc__p_pp_ring_peek(r, w->chan->result_data, &at, &kind, &p->rec_at[n],
                                     &p->rec_len[n], &p->recs[n]);
        if (got < 0) pc_process_kill(w->proc);
        if (got > 0 && kind == PC__PP_REC_MSG && ++n < PC__PP_BATCH) continue;
        if (n) pc__p_pp_settle_batch(p, w, n);
        if (at != was) pc__p_pp_ring_release(r, was = at);
        count += n;
        n = 0;
        if (got <= 0) break;
        if (kind == PC__PP_REC_PIPE) {
            pc__p_pp_pipe_reply(p, w);
            count++;
        }
    }
    if (count) pc__evc_notify(&w->chan->result.room, 1);
    return count;
}

// Worker w has ended: its running task fails, what it had not started goes
// back to the front of the queue, and a new worker takes its slot.
static void pc__p_pp_bury(pc__p_pp *p, pc__p_pp_worker *w) {
    char how[128], why[256];
    long replaced_by = 0;
    if (w->chan) pc__p_pp_collect(p, w);
    else pc__p_pp_inbox_drain(p);
    pc_process_join(w->proc, PC_FOREVER);
    pc__p_pp_how(w->proc, how, sizeof how);
    snprintf(why, sizeof why, "%s while running this task", how);
    pc_lock_acquire(&p->lock, PC_FOREVER);
    pc__p_pp_unpipe(p, w->serial);
    while (w->sending) pc_condition_wait(&p->cond, PC_FOREVER);
    int i = (int)(w - p->w);
    int64_t running = __atomic_load_n(pc__p_pp_word(p->slots, i),
                                      __ATOMIC_SEQ_CST);
    pc__p_pp_task *dead = NULL, *requeue = w->head, *rtail = w->tail;
    for (pc__p_pp_task **pp = &requeue, *prev = NULL; *pp; prev = *pp, pp = &(*pp)->next) {
        if ((int64_t)(*pp)->id != running) continue;
        dead = *pp;
        *pp = dead->next;
        if (rtail == dead) rtail = prev;
        break;
    }
    if (requeue) {              // in order, before what was never sent
        rtail->next = p->head;
        p->head = requeue;
        if (!p->tail) p->tail = rtail;
    }
    pc_process_free(w->proc);
    pc_connection_free(w->conn);
    pc_mp_array_free(w->rings);
    memset(w, 0, sizeof *w);
    pc__p_pp_task *failed = NULL;
    if (p->signal_all || p->broken) {   // terminate_workers: nothing starts again
        failed = pc__p_pp_break(p, "the pool's workers were terminated");
    } else if ((!p->shutdown || p->head) && pc__p_pp_start(p, i) != PC_OK) {
        failed = pc__p_pp_break(p, pc_last_error());
    } else if (w->proc) {
        replaced_by = pc_process_pid(w->proc);
    }
    pc_condition_notify_all(&p->cond);
    pc_lock_release(&p->lock);
    pc__p_pp_wake_watcher(p);           // a new sentinel to watch
    if (replaced_by)
        pc__p_log(PC_LOG_INFO, "process pool: %s; worker process %ld replaces it", how,
                  replaced_by);
    if (dead) pc__p_pp_done(p, dead, PC_BROKEN, why, NULL);
    if (failed) pc__p_pp_fail_list(p, failed, p->broken_msg);
}

// Tell each worker to end and reap it (collector, at the end).
static void pc__p_pp_stop_workers(pc__p_pp *p) {
    unsigned char stop = PC__PP_STOP;
    for (int i = 0; i < p->nw; i++) {
        pc__p_pp_worker *w = &p->w[i];
        if (!w->proc) continue;
        if (!w->chan) {
            pc_connection_send_bytes(w->conn, &stop, 0, 1);
        } else if (pc__p_pp_ring_put(&w->chan->task, w->chan->task_data, PC__PP_REC_MSG, &stop,
                                     1)) {
            pc__evc_notify(&w->chan->task.data, 1);
        } else {
            pc_process_kill(w->proc);   // tasks left behind by a broken pool
        }
        pc_process_join(w->proc, PC_FOREVER);
        pc_process_free(w->proc);
        pc_connection_free(w->conn);
        pc_mp_array_free(w->rings);
        memset(w, 0, sizeof *w);
    }
}

// What the watcher saw: worker i of start serial ended (lock not held).
static void pc__p_pp_mark_dead(pc__p_pp *p, int i, uint64_t serial) {
    pc__p_pp_worker *w = &p->w[i];
    pc_lock_acquire(&p->lock, PC_FOREVER);
    if (w->proc && w->serial == serial) __atomic_store_n(&w->died, 1, __ATOMIC_SEQ_CST);
    pc_lock_release(&p->lock);
    pc__p_pp_wake_collector(p);
}

// Without rings: read worker i's replies from its pipe into the inbox.
static void pc__p_pp_watch_read(pc__p_pp *p, pc_connection *conn, int i, uint64_t serial) {
    void *m;
    size_t n;
    while (pc_connection_poll(conn, 0) == PC_OK &&
           pc_connection_recv_bytes(conn, 0, &m, &n) == PC_OK) {
        pc__p_pp_inbox *e = (pc__p_pp_inbox *)pc__malloc(sizeof *e + n);
        if (e) {
            e->next = NULL;
            e->index = i;
            e->serial = serial;
            e->n = n;
            memcpy(e->data, m, n);
            pc_lock_acquire(&p->lock, PC_FOREVER);
            if (p->in_tail) p->in_tail->next = e;
            else p->in_head = e;
            p->in_tail = e;
            pc_lock_release(&p->lock);
        }
        pc_connection_bytes_free(m);
        pc__p_pp_wake_collector(p);
    }
}

// The watcher: polls the workers' sentinels (and, without rings, their
// pipes) and its wake pipe, which says the set changed or the pool ends.
// A dead worker leaves its set at once: its sentinel stays readable.
static int pc__p_pp_watcher(void *arg) {
    pc__p_pp *p = (pc__p_pp *)arg;
    size_t cap = (size_t)p->nw * 2 + 1;
    pc_wait_object *objs = (pc_wait_object *)pc__calloc(cap, sizeof *objs);
    int *who = (int *)pc__calloc(cap, sizeof *who);
    uint64_t *whom = (uint64_t *)pc__calloc(cap, sizeof *whom);
    while (objs && who && whom) {
        size_t n = 0;
        memset(objs, 0, cap * sizeof *objs);
        pc_lock_acquire(&p->lock, PC_FOREVER);
        int stop = p->stop;
        objs[n++].conn = p->wake_r;
        for (int i = 0; i < p->nw; i++) {
            pc__p_pp_worker *w = &p->w[i];
            if (!w->proc || w->died) continue;
            if (!w->chan) {
                objs[n].conn = w->conn;
                who[n] = i;
                whom[n++] = w->serial;
            }
            objs[n].fd = pc_process_sentinel(w->proc);
            who[n] = i;
            whom[n++] = w->serial;
        }
        pc_lock_release(&p->lock);
        if (stop) break;
        if (pc_connection_wait(objs, n, PC_FOREVER, NULL)) continue;
        if (objs[0].ready) {
            void *m;
            size_t len;
            while (pc_connection_poll(p->wake_r, 0) == PC_OK &&
                   pc_connection_recv_bytes(p->wake_r, 0, &m, &len) == PC_OK)
                pc_connection_bytes_free(m);
        }
        for (size_t k = 1; k < n; k++) {
            if (!objs[k].ready) continue;
            if (objs[k].conn) pc__p_pp_watch_read(p, objs[k].conn, who[k], whom[k]);
            else pc__p_pp_mark_dead(p, who[k], whom[k]);
        }
    }
    pc__free(objs);
    pc__free(who);
    pc__free(whom);
    return 0;
}

// Anything for the collector: a result in a ring, a death, a poke.
static int pc__p_pp_pending(pc__p_pp *p) {
    if (__atomic_load_n(&p->poke, __ATOMIC_SEQ_CST)) return 1;
    for (int i = 0; i < p->nw; i++) {
        pc__p_pp_worker *w = &p->w[i];
        if (!w->proc) continue;
        if (__atomic_load_n(&w->died, __ATOMIC_SEQ_CST)) return 1;
        if (w->chan && pc__p_pp_ring_ready(&w->chan->result)) return 1;
    }
    return 0;
}

static int pc__p_pp_pending_look(void *p) { return pc__p_pp_pending((pc__p_pp *)p); }

static int pc__p_pp_role_take(pc__p_pp *p, uint32_t who) {
    uint32_t free_role = PC__PP_ROLE_FREE;
    return __atomic_compare_exchange_n(p->role, &free_role, who, 0, __ATOMIC_SEQ_CST,
                                       __ATOMIC_SEQ_CST);
}

// A waiting thread hands the role back. It looks at the rings again after
// (a reply written meanwhile went to wready, see pc__p_pp_worker_send) and
// wakes the collector for what it finds. Under the lock: the collector,
// which may take the role at once, changes the workers under it.
static void pc__p_pp_role_give(pc__p_pp *p) {
    pc_lock_acquire(&p->lock, PC_FOREVER);
    __atomic_store_n(p->role, (uint32_t)PC__PP_ROLE_FREE, __ATOMIC_SEQ_CST);
    if (pc__p_pp_pending(p)) pc__evc_notify(p->ready, 1);
    pc_lock_release(&p->lock);
}

static int pc__p_pp_dead_or_poked(pc__p_pp *p) {
    if (__atomic_load_n(&p->poke, __ATOMIC_SEQ_CST)) return 1;
    for (int i = 0; i < p->nw; i++)
        if (p->w[i].proc && __atomic_load_n(&p->w[i].died, __ATOMIC_SEQ_CST)) return 1;
    return 0;
}

// What a waiting thread looks for while awake: a reply (or a death, a
// poke), or its future done by another.
typedef struct pc__p_pp_waited { pc__p_pp *p; pc_future *f; } pc__p_pp_waited;

static int pc__p_pp_wait_ready(void *waited) {
    pc__p_pp_waited *w = (pc__p_pp_waited *)waited;
    return pc__p_pp_pending(w->p) || pc_future_done(w->f);
}

// A thread waits on f: while no other collects, it takes the collector's
// role and drains the rings itself, yielding the CPU between looks for a
// while (pc__p_pp_look_first), then asleep on wready between replies, so
// a reply wakes it straight (two context switches a round trip, not four).
// A poke or a death is the collector's: the role goes back to it and the
// thread sleeps as usual. Done callbacks of the futures it settles run in
// it, as they run in whichever thread completes a future.
// pc__p_pp_wait_held: the same for a thread that has taken the role
// already (a serving rank, part G's pc__p_mpi_hold); it goes back as it
// returns.
static int pc__p_pp_wait_held(pc__p_pp *p, pc_future *f, double deadline, double timeout) {
    int rc = PC__F_UNWAITED;
    pc__p_pp_waited waited = {p, f};
    while (!pc__p_pp_dead_or_poked(p)) {
        for (int i = 0; i < p->nw; i++)
            if (p->w[i].chan) pc__p_pp_collect(p, &p->w[i]);
        if (pc_future_done(f)) {
            rc = PC_OK;
            break;
        }
        // Yields only, no spin: result() spun already, and a longer spin
        // takes the core from the worker on a busy machine (measured: slower).
        if (pc__p_pp_look_first(&p->look, pc__p_pp_wait_ready, &waited, 0)) continue;
        uint32_t key = pc__evc_prepare(p->wready);
        if (pc__p_pp_pending(p) || pc_future_done(f)) continue;
        if (pc__evc_wait(p->wready, key, deadline) == PC_TIMEOUT && !pc_future_done(f) &&
            !pc__p_pp_pending(p)) {
            rc = pc__error(PC_TIMEOUT, "future not done after %g s", timeout);
            break;
        }
    }
    pc__p_pp_role_give(p);
    return rc;
}

static int pc__p_pp_wait(pc__p_pp *p, pc_future *f, double deadline, double timeout) {
    if (!PC__PP_RINGS || !pc__p_pp_role_take(p, PC__PP_ROLE_WAITER)) return PC__F_UNWAITED;
    return pc__p_pp_wait_held(p, f, deadline, timeout);
}

// The cache's wait hook: the pool stays while a thread is in it.
static int pc__p_pp_wait_hook(pc__f_cache *c, pc_future *f, double deadline, double timeout) {
    pc__p_pp *p = (pc__p_pp *)pc__f_cache_enter(c);
    int rc = p ? pc__p_pp_wait(p, f, deadline, timeout) : PC__F_UNWAITED;
    pc__f_cache_leave(c);
    return rc;
}

// The collector: drains every worker's results, buries the dead, pushes
// queued tasks into the rings with room, and ends the pool once it is shut
// down and nothing is left to run. Only this thread changes the workers
// (after the pool's start), so it reads them without the lock.
static int pc__p_pp_collector(void *arg) {
    pc__p_pp *p = (pc__p_pp *)arg;
    int looked = 0;             // looked while awake since the last results
    int mine = 0;               // this thread has the role
    for (;;) {
        if (!mine && !(mine = pc__p_pp_role_take(p, PC__PP_ROLE_COLLECTOR))) {
            // A waiting thread collects; it wakes this one when it hands the
            // role back with something left to do.
            uint32_t key = pc__evc_prepare(p->ready);
            if (__atomic_load_n(p->role, __ATOMIC_SEQ_CST) == PC__PP_ROLE_FREE) continue;
            pc__evc_wait(p->ready, key, INFINITY);
            continue;
        }
        int got = __atomic_exchange_n(&p->poke, 0, __ATOMIC_SEQ_CST);
        for (int i = 0; i < p->nw; i++)
            if (p->w[i].chan) got += pc__p_pp_collect(p, &p->w[i]);
        got += pc__p_pp_inbox_drain(p);
        for (int i = 0; i < p->nw; i++) {
            if (p->w[i].proc && __atomic_load_n(&p->w[i].died, __ATOMIC_SEQ_CST)) {
                pc__p_pp_bury(p, &p->w[i]);
                got++;
            }
        }
        pc_lock_acquire(&p->lock, PC_FOREVER);
        if (got) pc__p_pp_fill(p);
        int finished = (p->shutdown && p->outstanding == 0) || (p->broken && p->shutdown);
        int busy = p->outstanding != 0;
        if (finished) {
            p->stop = 1;
            pc_condition_notify_all(&p->cond);  // the feeder ends
        }
        pc_lock_release(&p->lock);
        if (finished) break;    // the role stays this thread's: no waiter collects again
        if (got) {
            looked = 0;
            continue;
        }
        // A short look before sleeping, while tasks are out: a result that
        // comes within it costs no wake-up on either side. It yields between
        // looks (no spin): while results come faster than it settles them
        // it seldom gets here, and when it does, a worker may need the CPU.
        if (busy && !looked) {
            looked = 1;
            if (pc__p_look_awake(pc__p_pp_pending_look, p, 0, 0, PC__PP_SPIN_S)) continue;
        }
        // Only this thread changes the workers: it reads them without the role.
        __atomic_store_n(p->role, (uint32_t)PC__PP_ROLE_FREE, __ATOMIC_SEQ_CST);
        mine = 0;
        uint32_t key = pc__evc_prepare(p->ready);
        if (pc__p_pp_pending(p)) continue;
        pc__evc_wait(p->ready, key, INFINITY);
        looked = 0;
    }
    pc__p_pp_wake_watcher(p);
    pc_thread_join(p->watcher, PC_FOREVER);
    pc__p_pp_inbox_drain(p);
    pc__p_pp_stop_workers(p);
    return 0;
}

static int pc__p_pp_closed(pc__p_pp *p) {
    if (p->broken) return pc__error(PC_BROKEN, "%s", p->broken_msg);
    if (p->shutdown) return pc__error(PC_SHUTDOWN, "cannot schedule new futures after shutdown");
    return PC_OK;
}

// fn must be code of a loaded object for spawn and forkserver (checked once).
static int pc__p_pp_check_fn(pc__p_pp *p, pc_task_fn fn) {
    const pc__p_funcref *ref;
    uintptr_t a = pc__p_pp_task_addr(fn);
    if (p->raw_fn || __atomic_load_n(&p->checked_fn, __ATOMIC_RELAXED) == a) return PC_OK;
    int rc = pc__p_pp_fn_ref(a, &ref);
    if (!rc) __atomic_store_n(&p->checked_fn, a, __ATOMIC_RELAXED);
    return rc;
}

// The bytes of function a on the wire (sub held), encoded once per pool;
// NULL: it cannot be encoded (the error is set). The last one is found at
// once, others by a walk of the list: a pool runs a few functions.
static const pc__p_pp_fnenc *pc__p_pp_fn_intern(pc__p_pp *p, uintptr_t a) {
    if (p->fn_last && p->fn_last->addr == a) return p->fn_last;
    for (pc__p_pp_fnenc *e = p->fns; e; e = e->next)
        if (e->addr == a) return p->fn_last = e;
    pc__p_buf b;
    memset(&b, 0, sizeof b);
    int rc = pc__p_pp_put_fn(&b, a, p->raw_fn);
    if (!rc && b.bad) rc = pc__error(PC_NOMEM, "out of memory encoding a task");
    pc__p_pp_fnenc *e = rc ? NULL : (pc__p_pp_fnenc *)pc__malloc(sizeof *e + b.len);
    if (e) {
        e->addr = a;
        e->len = b.len;
        memcpy(e->bytes, b.p, b.len);
        e->next = p->fns;
        p->fns = p->fn_last = e;
    }
    pc__free(b.p);
    return e;
}

// A small task's parts in its record (sub held): its function's bytes and
// its argument (copied inline); with rings its message is written when it
// is sent, without them now.
static int pc__p_pp_make_small(pc__p_pp *p, pc__p_pp_task *t, const pc__p_pp_what *w) {
    const pc__p_pp_fnenc *f = pc__p_pp_fn_intern(p, pc__p_pp_task_addr(w->fn));
    if (!f) return pc_last_error_code();
    t->fnenc = f;
    t->arg_size = w->arg_size;
    if (!PC__PP_RINGS) {
        t->msg.len = pc__p_pp_put_small(t->msg.p, t->msg.cap, t->id, f, w->arg, w->arg_size);
        return t->msg.len ? PC_OK : pc__error(PC_VALUE, "a task's message grew");
    }
    t->arg = w->arg_size ? pc__p_pp_inline(t) : (void *)(uintptr_t)w->arg;
    if (w->arg_size) memcpy(t->arg, w->arg, w->arg_size);
    t->msg.p = NULL;
    t->msg.cap = 0;
    return PC_OK;
}

// The record of a new task: a slot of the cache (sub held), or a future
// of its own (own_f, made outside the lock) when its results need more
// room than a slot has. NULL: out of memory.
static pc__p_pp_task *pc__p_pp_task_new(pc__p_pp *p, pc_future **own_f, size_t res_bytes) {
    pc_future *f = *own_f ? *own_f : pc__f_slot_take(p->slab);
    *own_f = NULL;              // the record's now
    return f ? pc__p_pp_task_init(f, res_bytes) : NULL;
}

// A new task (sub held), its message encoded in its record, or, when heap
// holds it encoded already (too large for the record), that.
static int pc__p_pp_make(pc__p_pp *p, const pc__p_pp_what *w, pc_future **own_f,
                         size_t res_bytes, pc__p_buf *heap, pc__p_pp_task **out) {
    int rc;
    pc__p_pp_task *t = pc__p_pp_task_new(p, own_f, res_bytes);
    if (!t) return PC_NOMEM;
    t->id = ++p->next_id;
    if (heap->p) {
        t->msg = *heap;
        memcpy(t->msg.p + 1, &t->id, sizeof t->id);     // after the kind byte
        memset(heap, 0, sizeof *heap);
    } else if ((rc = w->v ? pc__p_pp_encode(p, &t->msg, t->id, w)
                          : pc__p_pp_make_small(p, t, w)) != PC_OK) {
        pc__p_pp_task_end(t);
        return rc;
    }
    t->fn = w->fn;
    t->chunk = w->v != NULL;
    if (w->v) t->arg = (void *)(uintptr_t)w->arg;
    *out = t;
    return PC_OK;
}

// Push t onto the intake (no lock): 1 when it was empty (t must be queued
// by this thread or another), 0 behind others, -1 closed: the pool takes
// no more.
static int pc__p_pp_intake_push(pc__p_pp *p, pc__p_pp_task *t) {
    pc__p_pp_task *top = __atomic_load_n(&p->intake, __ATOMIC_RELAXED);
    do {
        if (top == PC__PP_SHUT) return -1;
        t->next = top;
    } while (!__atomic_compare_exchange_n(&p->intake, &top, t, 1, __ATOMIC_RELEASE,
                                          __ATOMIC_RELAXED));
    return top == NULL;
}

// The intake has a task nobody queues yet: queue it, and fill the rings,
// now, when the lock is free; else it is the collector's, poked (and the
// holder may queue it first). Submit never waits for the collector's
// lock, held while it settles a batch.
static void pc__p_pp_kick(pc__p_pp *p) {
    if (!pc__lock_try(&p->lock)) {
        pc__p_pp_wake_collector(p);
        return;
    }
    pc__p_pp_fill(p);
    pc_lock_release(&p->lock);
}

// Why the pool takes no more tasks (its intake is closed).
static int pc__p_pp_refused(pc__p_pp *p) {
    pc_lock_acquire(&p->lock, PC_FOREVER);
    int rc = pc__p_pp_closed(p);
    pc_lock_release(&p->lock);
    return rc ? rc : pc__error(PC_SHUTDOWN, "cannot schedule new futures after shutdown");
}

// No allocation for a small task (its future is a slot of the cache, its
// parts are kept in the record behind it) and no wait for the pool's lock:
// the task is pushed onto the intake, queued by whoever holds the lock
// next.
static int pc__p_pp_submit(pc_executor *ex, pc_task_fn fn, const void *arg, size_t arg_size,
                           pc_future **out_future) {
    pc__p_pp *p = (pc__p_pp *)ex;
    pc__f_chunk_view v;
    int chunk = pc__p_pp_view(fn, (void *)(uintptr_t)arg, &v);
    if (chunk < 0)
        return pc__error(PC_VALUE, "a map over several inputs cannot run on a process pool "
                                   "(its task gets pointers into this process)");
    int rc = pc__p_pp_check_fn(p, chunk ? v.fn : fn);
    if (rc) return rc;
    pc__p_pp_what w = {fn, arg, chunk ? 0 : arg_size, chunk ? &v : NULL};
    size_t nres = chunk ? v.count : 1;
    if (p->result_size && nres > (size_t)-1 / p->result_size) nres = (size_t)-1 / p->result_size;
    size_t res_bytes = p->result_size * nres;
    size_t need = pc__p_pp_msg_size(p, &w);
    if (!need) return pc_last_error_code();
    pc__p_buf heap;
    memset(&heap, 0, sizeof heap);
    // A small task is sent from its parts (with rings); else a message over
    // the record's room is encoded here, with id 0: it goes in under sub.
    int small = PC__PP_RINGS && !chunk && arg_size <= PC__PP_INLINE && need <= PC__PP_SMALL_MAX;
    if (!small && need > PC__PP_INLINE) {
        if (pc__grow(&heap.p, &heap.cap, need, 1, 0)) heap.bad = 1;
        rc = pc__p_pp_encode(p, &heap, 0, &w);
    }
    pc_future *own_f = NULL;
    if (!rc && res_bytes > p->slot_res) {
        own_f = pc__f_future_new_extra(pc__p_pp_rec_head() + PC__PP_INLINE + res_bytes, NULL);
        if (!own_f) rc = PC_NOMEM;
    }
    pc__p_pp_task *t = NULL;
    if (!rc) {
        pc_lock_acquire(&p->sub, PC_FOREVER);
        rc = pc__p_pp_make(p, &w, &own_f, res_bytes, &heap, &t);
        pc_lock_release(&p->sub);
    }
    pc__free(heap.p);                   // taken by the task unless it failed
    pc_future_release(own_f);           // taken by the task unless it failed
    if (rc) return rc;
    pc_future *f = pc_future_retain(t->f);     // the caller's; the task holds the first
    int pushed = pc__p_pp_intake_push(p, t);   // t is the pool's once pushed
    if (pushed < 0) {
        pc_future_release(f);
        pc__p_pp_task_end(t);
        return pc__p_pp_refused(p);
    }
    if (pushed) pc__p_pp_kick(p);
    *out_future = f;
    return PC_OK;
}

static int pc__p_pp_join_threads(pc__p_pp *p) {
    pc_thread_join(p->collector, PC_FOREVER);
    pc_thread_join(p->feeder, PC_FOREVER);
    pc_thread_join(p->watcher, PC_FOREVER);
    return PC_OK;
}

static int pc__p_pp_shutdown(pc_executor *ex, int wait, int cancel_futures) {
    pc__p_pp *p = (pc__p_pp *)ex;
    pc__p_pp_task *cancelled = NULL;
    pc_lock_acquire(&p->lock, PC_FOREVER);
    p->shutdown = 1;
    pc__p_pp_intake(p, 1);
    // Cancel what was never sent; tasks sent back from a dead worker run.
    for (pc__p_pp_task **pp = &p->head; cancel_futures && *pp;) {
        pc__p_pp_task *t = *pp;
        if (t->started) {
            pp = &t->next;
            continue;
        }
        *pp = t->next;
        t->next = cancelled;
        cancelled = t;
    }
    p->tail = NULL;
    for (pc__p_pp_task *t = p->head; t; t = t->next) p->tail = t;
    pc__p_pp_wake_collector(p);
    pc_condition_notify_all(&p->cond);
    pc_lock_release(&p->lock);
    while (cancelled) {
        pc__p_pp_task *next = cancelled->next;
        pc_future_cancel(cancelled->f);
        pc__p_pp_done(p, cancelled, PC_OK, NULL, NULL);     // cancelled: a no-op finish
        cancelled = next;
    }
    if (wait) pc__p_pp_join_threads(p);
    return PC_OK;
}

static void pc__p_pp_free(pc_executor *ex) {
    pc__p_pp *p = (pc__p_pp *)ex;
    pc__p_pp_shutdown(ex, 1, 0);
    pc_thread_free(p->collector);
    pc_thread_free(p->feeder);
    pc_thread_free(p->watcher);
    for (int i = 0; i < PC__PP_BATCH; i++) pc__free(p->recs[i].p);
    pc__f_cache_unhook(p->slab);        // threads in the wait hook still read the pool
    pc__f_cache_close(p->slab);
    while (p->fns) {
        pc__p_pp_fnenc *next = p->fns->next;
        pc__free(p->fns);
        p->fns = next;
    }
    pc_connection_free(p->wake_r);
    pc_connection_free(p->wake_w);
    pc_mp_array_free(p->slots);
    pc_args_free(p->initargs);
    pc__free(p->initref.p);
    pc__free(p->w);
    pc__free(p);
}

// pool: for a Pool, which takes a task quota under fork as Python's does.
static int pc__p_pp_desc_check(const pc_process_pool_desc *in, pc_process_pool_desc *d,
                               pc_start_method *out_method, int pool) {
    memset(d, 0, sizeof *d);
    if (in) *d = *in;
    if (d->max_workers < 0) return pc__error(PC_VALUE, "max_workers must be greater than 0");
    if (d->max_workers > 4096) return pc__error(PC_VALUE, "max_workers must be <= 4096");
    if (d->max_tasks_per_child < 0)
        return pc__error(PC_VALUE, "max_tasks_per_child must be >= 1");
    if (d->prefetch < 0) return pc__error(PC_VALUE, "prefetch must be >= 0");
    if (!d->max_workers) d->max_workers = pc_process_cpu_count();
    if (!d->prefetch) d->prefetch = 1;
    if (!d->mp_context) d->mp_context = pc_get_context(PC_START_DEFAULT);
    pc_start_method m = pc_context_get_start_method(d->mp_context);
    if (m == PC_START_DEFAULT) m = pc_get_start_method();
    if (m == PC_START_FORK && d->max_tasks_per_child && !pool)
        return pc__error(PC_VALUE, "max_tasks_per_child is incompatible with the 'fork' "
                                   "start method; supply a different mp_context");
    *out_method = m;
    return PC_OK;
}

static int pc__p_pp_threads(pc__p_pp *p) {
    pc_thread_desc d;
    memset(&d, 0, sizeof d);
    d.daemon = PC_DAEMON_YES;
    d.arg = p;
    d.target = pc__p_pp_feeder;
    d.name = "ProcessPoolExecutor-feeder";
    p->feeder = pc_thread_new(&d);
    d.target = pc__p_pp_watcher;
    d.name = "ProcessPoolExecutor-watcher";
    p->watcher = pc_thread_new(&d);
    d.target = pc__p_pp_collector;
    d.name = "ProcessPoolExecutor-collector";
    p->collector = pc_thread_new(&d);
    if (!p->feeder || !p->collector || !p->watcher) return PC_NOMEM;
    int rc = pc_thread_start(p->feeder);
    int started = rc ? 0 : 1;
    if (!rc && (rc = pc_thread_start(p->watcher)) == PC_OK) started = 2;
    if (!rc) rc = pc_thread_start(p->collector);
    if (rc) {
        pc_lock_acquire(&p->lock, PC_FOREVER);
        p->stop = 1;
        pc_condition_notify_all(&p->cond);
        pc_lock_release(&p->lock);
        pc__p_pp_wake_watcher(p);
        if (started >= 1) pc_thread_join(p->feeder, PC_FOREVER);
        if (started >= 2) pc_thread_join(p->watcher, PC_FOREVER);
    }
    return rc;
}

// A pack of the pool's own, equal to a: encoded and decoded again (its
// connections and shared objects are duplicated), so the caller may free a.
static pc_args *pc__p_pp_args_copy(const pc_args *a) {
    int fds[PC__ARGS_MAX_FDS];
    size_t nfds = 0;
    pc__p_buf b;
    pc_args *copy = NULL;
    memset(&b, 0, sizeof b);
    int rc = pc__p_args_encode(a, &b, fds, &nfds, NULL);
    if (rc == PC_OK) {
        b.pos = 0;
        copy = pc__p_args_decode(&b, fds, nfds, 1);
        if (!copy) pc__error(PC_VALUE, "initargs: the pack could not be copied");
    }
    for (size_t i = 0; i < nfds; i++)
        if (fds[i] >= 0) pc__p_os_close(fds[i]);      // the ones the copy did not take
    pc__free(b.p);
    return copy;
}

static int pc__p_pp_setup(pc__p_pp *p, const pc_process_pool_desc *d) {
    pc_mp_array_desc ad;
    memset(&ad, 0, sizeof ad);
    ad.typecode = "q";
    ad.length = ((size_t)d->max_workers + 3) * PC__PP_WORD;   // the slots, ready, wready, role
    p->slots = pc_mp_raw_array_new(&ad);
    p->w = (pc__p_pp_worker *)pc__calloc((size_t)d->max_workers, sizeof *p->w);
    p->slab = (pc__f_cache *)pc__calloc(1, sizeof *p->slab);
    if (!p->slots || !p->w || !p->slab)
        return pc_last_error_code() ? pc_last_error_code() : PC_NOMEM;
    p->slot_res = p->result_size <= PC__PP_RES_INLINE ? p->result_size : 0;
    pc__f_cache_init(p->slab, pc__p_pp_rec_head() + PC__PP_INLINE + p->slot_res,
                     pc__p_pp_slab_gone);
    p->ready = (pc__evc *)pc__p_pp_word(p->slots, d->max_workers);
    pc__evc_init(p->ready, PC__PP_RINGS);      // without rings only the pool's threads use it
    p->wready = (pc__evc *)pc__p_pp_word(p->slots, d->max_workers + 1);
    pc__evc_init(p->wready, PC__PP_RINGS);
    p->role = (uint32_t *)pc__p_pp_word(p->slots, d->max_workers + 2);
    p->slab->wait = pc__p_pp_wait_hook;
    p->slab->wait_at_once = pc_process_cpu_count() == 1;
    p->slab->done = p->wready;
    p->slab->ctx = p;
    int rc = pc_pipe(0, &p->wake_r, &p->wake_w);
    if (d->initargs && !(p->initargs = pc__p_pp_args_copy(d->initargs)))
        return pc_last_error_code() ? pc_last_error_code() : PC_NOMEM;
    if (!rc && d->initializer) {
        void *(*as_task)(void *);
        memcpy(&as_task, &d->initializer, sizeof as_task);
        rc = pc__p_pp_put_fn(&p->initref, pc__p_pp_task_addr(as_task), p->raw_fn);
    }
    if (rc) return rc;
    pc_lock_acquire(&p->lock, PC_FOREVER);
    for (int i = 0; i < p->nw && !rc; i++) rc = pc__p_pp_start(p, i);
    pc_lock_release(&p->lock);
    return rc ? rc : pc__p_pp_threads(p);
}

// What makes a process pool one of another part's: a Pool's (its checks
// of the description are Python's Pool's), an MPI serving rank's (its
// workers sleep at once when they run dry: the rank's thread that sends
// their replies on shares the CPUs with them and needs them more than a
// worker's look for the next task saves).
enum { PC__PP_FOR_POOL = 1, PC__PP_SLEEP_AT_ONCE = 2 };

static pc_executor *pc__p_pp_new(const pc_process_pool_desc *desc, int flags) {
    int pool = (flags & PC__PP_FOR_POOL) != 0;
    pc_process_pool_desc d;
    pc_start_method m = PC_START_DEFAULT;
    if (pc__p_pp_desc_check(desc, &d, &m, pool)) return NULL;
    pc__p_pp *p = (pc__p_pp *)pc__calloc(1, sizeof *p);
    if (!p) return NULL;
    p->base.vtable = &pc__p_pp_vtable;
    pc_condition_init_lock(&p->cond, &p->lock);
    p->nw = d.max_workers;
    p->prefetch = d.prefetch;
    p->auto_window = !desc || desc->prefetch == 0;
    p->quota = d.max_tasks_per_child;
    p->result_size = d.result_size;
    p->raw_fn = m == PC_START_FORK;
    p->sleep_at_once = (flags & PC__PP_SLEEP_AT_ONCE) != 0;
    p->ctx = pc_get_context(m);
    int rc = pc__p_pp_setup(p, &d);
    if (rc == PC_OK) return &p->base;
    char msg[256];
    snprintf(msg, sizeof msg, "%s", pc_last_error());
    pc_lock_acquire(&p->lock, PC_FOREVER);
    for (int i = 0; p->w && i < p->nw; i++) {
        if (!p->w[i].proc) continue;
        pc_process_kill(p->w[i].proc);
        pc_process_join(p->w[i].proc, PC_FOREVER);
        pc_process_free(p->w[i].proc);
        pc_connection_free(p->w[i].conn);
        pc_mp_array_free(p->w[i].rings);
    }
    pc_lock_release(&p->lock);
    pc_thread_free(p->feeder);
    pc_thread_free(p->collector);
    pc_thread_free(p->watcher);
    pc_connection_free(p->wake_r);
    pc_connection_free(p->wake_w);
    pc_mp_array_free(p->slots);
    pc_args_free(p->initargs);
    pc__free(p->initref.p);
    pc__free(p->slab);          // no future was made
    pc__free(p->w);
    pc__free(p);
    pc__error(rc, "%s", msg);
    return NULL;
}

PYCONC_API pc_executor *pc_process_pool_new(const pc_process_pool_desc *desc) {
    return pc__p_pp_new(desc, 0);
}

static int pc__p_pp_signal(pc_executor *ex, int kill) {
    pc__p_pp *p = pc__p_pp_check(ex);
    if (!p) return PC_VALUE;
    pc__p_pp_shutdown(ex, 0, 1);
    pc_lock_acquire(&p->lock, PC_FOREVER);
    p->signal_all = 1;
    for (int i = 0; i < p->nw; i++) {
        if (!p->w[i].proc) continue;
        if (kill) pc_process_kill(p->w[i].proc);
        else pc_process_terminate(p->w[i].proc);
    }
    pc_lock_release(&p->lock);
    return PC_OK;
}

PYCONC_API int pc_process_pool_terminate_workers(pc_executor *ex) { return pc__p_pp_signal(ex, 0); }
PYCONC_API int pc_process_pool_kill_workers(pc_executor *ex) { return pc__p_pp_signal(ex, 1); }

PYCONC_API size_t pc_process_pool_pids(pc_executor *ex, long *out, size_t cap) {
    pc__p_pp *p = pc__p_pp_check(ex);
    size_t n = 0;
    if (!p) return 0;
    pc_lock_acquire(&p->lock, PC_FOREVER);
    for (int i = 0; i < p->nw; i++) {
        if (!p->w[i].proc || p->w[i].died) continue;
        if (out && n < cap) out[n] = pc_process_pid(p->w[i].proc);
        n++;
    }
    pc_lock_release(&p->lock);
    return n;
}
// >>F.mp-pool: multiprocessing.Pool and ThreadPool over an executor
// A call (apply, map, imap ...) is a job: its items, copied, cut into
// chunks; each chunk is one task of the executor, run by
// pc__p_pool_chunk_run on a thread pool or, as data (pc__p_pool_chunk_view),
// by a process pool's worker. A chunk's future tells the job when it is done.
typedef struct pc__p_pool_chunk {
    struct pc_async_result *job;
    size_t start, count;        // items [start, start + count)
    size_t ok;                  // items that returned before one raised
    pc_future *f;               // the executor's future (results copied back live in it)
    int finished, code;         // done; its code (PC_OK, raised, PC_CANCELLED ...)
    char *msg;                  // the message of code
} pc__p_pool_chunk;

enum { PC__POOL_ONE = 0, PC__POOL_MAP = 1, PC__POOL_IMAP = 2, PC__POOL_UNORDERED = 3 };

struct pc_async_result {        // a job; pc_imap_iterator reads one too
    pc_lock lock;
    pc_condition cond;          // on lock: a chunk finished
    int refs;                   // the user's, and one per chunk not finished
    int kind;
    pc_task_fn fn;
    char *items;                // the copy, or (borrowed) the caller's
    size_t n, item_size, chunksize, nchunks, left, result_size;
    pc__p_pool_chunk *chunks;
    void **results;             // n; borrowed: the caller's out
    int borrowed;               // a call that waits (map): items and out are the caller's
    char *store;                // threads with result_size: n * result_size
    size_t *order, ndone;       // chunks in the order they finished
    int ready, code;            // code: the first failure's
    char msg[256];
    pc_pool_callbacks cb;
};

struct pc_imap_iterator {
    pc_async_result *job;
    size_t pos;                 // imap: the next item; unordered: items yielded
    size_t uk, ui;              // unordered: order[uk]'s item ui is next
};

struct pc_pool {
    pc_executor *ex;
    pc_lock lock;
    int state;                  // PC__POOL_RUN ...
    int threads, nworkers, raw_fn;
    size_t result_size;
    pc_args *initargs;          // the copy (threads: what the initializer gets)
};
enum { PC__POOL_RUN = 0, PC__POOL_CLOSE = 1, PC__POOL_TERMINATE = 2 };

static void *pc__p_pool_item(const pc_async_result *j, size_t i) {
    if (!j->item_size) return ((void *const *)(const void *)j->items)[i];
    return j->items + i * j->item_size;
}

// A chunk on a thread pool: its items until one raises (that raise stays
// pending, so the chunk's future gets it).
static void *pc__p_pool_chunk_run(void *arg) {
    pc__p_pool_chunk *c = (pc__p_pool_chunk *)arg;
    pc_async_result *j = c->job;
    char msg[256];
    for (size_t i = 0; i < c->count; i++) {
        void *r = j->fn(pc__p_pool_item(j, c->start + i));
        int code = pc__exception_take(msg, sizeof msg);
        if (code) {
            c->ok = i;
            pc_raise(code, "%s", msg);
            return NULL;
        }
        if (j->store && r) {    // copied at once, as a worker process does
            memcpy(j->store + (c->start + i) * j->result_size, r, j->result_size);
            r = j->store + (c->start + i) * j->result_size;
        }
        j->results[c->start + i] = r;
    }
    c->ok = c->count;
    return NULL;
}

static int pc__p_pool_chunk_view(pc_task_fn fn, void *arg, pc__f_chunk_view *out) {
    if (fn != pc__p_pool_chunk_run || !arg || !out) return 0;
    pc__p_pool_chunk *c = (pc__p_pool_chunk *)arg;
    pc_async_result *j = c->job;
    out->fn = j->fn;
    out->item_size = j->item_size;
    out->items = j->item_size ? (const void *)(j->items + c->start * j->item_size)
                              : (const void *)((void *const *)(const void *)j->items + c->start);
    out->count = c->count;
    out->results = j->results + c->start;
    out->ok = &c->ok;
    return 1;
}

static void pc__p_pool_job_unref(pc_async_result *j) {
    pc_lock_acquire(&j->lock, PC_FOREVER);
    int last = --j->refs == 0;
    pc_lock_release(&j->lock);
    if (!last) return;
    for (size_t k = 0; k < j->nchunks; k++) {
        pc_future_release(j->chunks[k].f);
        pc__free(j->chunks[k].msg);
    }
    pc__free(j->chunks);
    if (!j->borrowed) {
        pc__free(j->items);
        pc__free(j->results);
    }
    pc__free(j->store);
    pc__free(j->order);
    pc__free(j);
}

// Every chunk is done: the callbacks, then the result is ready.
static void pc__p_pool_job_finish(pc_async_result *j) {
    if (j->code && j->cb.error_callback) {
        j->cb.error_callback(j->code, j->msg, j->cb.ctx);
    } else if (!j->code && j->cb.callback) {
        j->cb.callback(j->kind == PC__POOL_ONE ? j->results[0] : (void *)j->results, j->cb.ctx);
    }
    pc__exception_take(NULL, 0);        // a callback's raise goes no further
    pc_lock_acquire(&j->lock, PC_FOREVER);
    __atomic_store_n(&j->ready, 1, __ATOMIC_RELEASE);
    pc_condition_notify_all(&j->cond);
    pc_lock_release(&j->lock);
}

// A chunk's future is done (in the thread that finished or cancelled it).
static void pc__p_pool_chunk_done(pc_future *f, void *ctx) {
    pc__p_pool_chunk *c = (pc__p_pool_chunk *)ctx;
    pc_async_result *j = c->job;
    int code = PC_CANCELLED;
    const char *m = "the pool was terminated before this task started";
    if (!pc_future_cancelled(f) && pc_future_exception(f, 0, &code, &m) != PC_OK) {
        code = PC_RUNTIME;
        m = "a pool task's future could not be read";
    }
    pc_lock_acquire(&j->lock, PC_FOREVER);
    c->code = code;
    if (code) c->msg = pc__strdup(m ? m : "");
    if (code && !j->code) {
        j->code = code;
        snprintf(j->msg, sizeof j->msg, "%s", m ? m : "");
    }
    c->finished = 1;
    j->order[j->ndone++] = (size_t)(c - j->chunks);
    int last = --j->left == 0;
    pc_condition_notify_all(&j->cond);
    pc_lock_release(&j->lock);
    if (last) pc__p_pool_job_finish(j);
    pc__p_pool_job_unref(j);
}

static int pc__p_pool_running(pc_pool *pool) {
    if (!pool) return pc__error(PC_VALUE, "pool is NULL");
    pc_lock_acquire(&pool->lock, PC_FOREVER);
    int state = pool->state;
    pc_lock_release(&pool->lock);
    return state == PC__POOL_RUN ? PC_OK : pc__error(PC_VALUE, "Pool not running");
}

// A job over n items of item_size bytes (0: pointers), copied from items.
// into: a call that waits for its results (pc_pool_map): the items are read
// where they are and pointer results (result_size 0) go straight into into.
static pc_async_result *pc__p_pool_job_new(pc_pool *pool, int kind, pc_task_fn fn, void *into,
                                           const void *items, size_t n, size_t item_size,
                                           size_t chunksize, const pc_pool_callbacks *cb) {
    pc_async_result *j = (pc_async_result *)pc__calloc(1, sizeof *j);
    if (!j) return NULL;
    pc_condition_init_lock(&j->cond, &j->lock);
    j->refs = 1;
    j->kind = kind;
    j->fn = fn;
    j->n = n;
    j->item_size = item_size;
    j->result_size = pool->result_size;
    j->chunksize = chunksize ? chunksize : 1;
    j->nchunks = n / j->chunksize + (n % j->chunksize != 0);
    if (cb) j->cb = *cb;
    size_t bytes = item_size ? n * item_size : n * sizeof(void *);
    j->borrowed = into && !j->result_size && n;
    j->items = j->borrowed ? (char *)(uintptr_t)items : (char *)pc__malloc(bytes ? bytes : 1);
    j->chunks = (pc__p_pool_chunk *)pc__calloc(j->nchunks + 1, sizeof *j->chunks);
    j->results = j->borrowed ? (void **)into : (void **)pc__calloc(n + 1, sizeof *j->results);
    j->order = (size_t *)pc__calloc(j->nchunks + 1, sizeof *j->order);
    if (pool->threads && j->result_size && n)
        j->store = (char *)pc__calloc(n, j->result_size);
    if (!j->items || !j->chunks || !j->results || !j->order ||
        (pool->threads && j->result_size && n && !j->store)) {
        pc__p_pool_job_unref(j);
        pc__error(PC_NOMEM, "out of memory for a pool call");
        return NULL;
    }
    if (bytes && !j->borrowed) memcpy(j->items, items, bytes);
    return j;
}

// Submit every chunk of j; a chunk the executor refuses fails with its code.
static void pc__p_pool_job_start(pc_pool *pool, pc_async_result *j) {
    j->left = j->nchunks;
    if (!j->nchunks) {
        pc__p_pool_job_finish(j);
        return;
    }
    for (size_t k = 0; k < j->nchunks; k++) {
        pc__p_pool_chunk *c = &j->chunks[k];
        c->job = j;
        c->start = k * j->chunksize;
        c->count = j->n - c->start < j->chunksize ? j->n - c->start : j->chunksize;
        pc_lock_acquire(&j->lock, PC_FOREVER);
        j->refs++;
        pc_lock_release(&j->lock);
        pc_future *f = NULL;
        int rc = pc_executor_submit(pool->ex, pc__p_pool_chunk_run, c, &f);
        if (rc == PC_OK) {
            c->f = f;       // before the callback: the job frees it
            pc_future_add_done_callback(f, pc__p_pool_chunk_done, c);
            continue;
        }
        pc_future *failed = pc_future_new();        // finishes the chunk the same way
        if (failed) {
            pc_future_set_running_or_notify_cancel(failed);
            pc_future_set_exception(failed, rc, "%s", pc_last_error());
            c->f = failed;
            pc_future_add_done_callback(failed, pc__p_pool_chunk_done, c);
        } else {
            pc_lock_acquire(&j->lock, PC_FOREVER);
            j->refs--;
            c->finished = 1;
            c->code = j->code = j->code ? j->code : PC_NOMEM;
            j->order[j->ndone++] = k;
            int last = --j->left == 0;
            pc_lock_release(&j->lock);
            if (last) pc__p_pool_job_finish(j);
        }
    }
}

static int pc__p_pool_call(pc_pool *pool, int kind, pc_task_fn fn, const void *items, size_t n,
                           size_t item_size, size_t chunksize, const pc_pool_callbacks *cb,
                           void *into, pc_async_result **out) {
    if (!out) return pc__error(PC_VALUE, "the out pointer is NULL");
    *out = NULL;
    int rc = pc__p_pool_running(pool);
    if (rc) return rc;
    if (!fn) return pc__error(PC_VALUE, "fn is NULL");
    if (!items && n) return pc__error(PC_VALUE, "items is NULL");
    if (item_size && n > (size_t)-1 / item_size)
        return pc__error(PC_VALUE, "%zu items of %zu bytes overflow", n, item_size);
    pc_async_result *j = pc__p_pool_job_new(pool, kind, fn, into, items, n, item_size, chunksize,
                                            cb);
    if (!j) return pc_last_error_code() ? pc_last_error_code() : PC_NOMEM;
    pc__p_pool_job_start(pool, j);
    *out = j;
    return PC_OK;
}

// Python's Pool.map chunksize: ceil(n / (4 * workers)).
static size_t pc__p_pool_chunksize(pc_pool *pool, size_t n, size_t chunksize) {
    if (chunksize) return chunksize;
    size_t per = (size_t)pool->nworkers * 4;
    return n / per + (n % per != 0);
}

static int pc__p_pool_desc_check(const pc_map_desc *d) {
    if (!d) return pc__error(PC_VALUE, "map desc is NULL (it holds the items)");
    if (d->timeout != 0 || d->buffersize != 0)
        return pc__error(PC_VALUE, "a Pool's map takes no timeout or buffersize");
    return PC_OK;
}

// Wait for the job, then copy its results to out (see pc_pool_map).
static int pc__p_pool_collect(pc_async_result *j, void *out) {
    int rc = pc_async_result_get(j, PC_FOREVER, NULL);
    if (rc == PC_OK && out && (void *)j->results != out) {
        for (size_t i = 0; i < j->n; i++) {
            if (!j->result_size) ((void **)out)[i] = j->results[i];
            else if (j->results[i])
                memcpy((char *)out + i * j->result_size, j->results[i], j->result_size);
            else memset((char *)out + i * j->result_size, 0, j->result_size);
        }
    }
    pc_async_result_free(j);
    return rc;
}

PYCONC_API int pc_pool_apply_async(pc_pool *pool, pc_task_fn fn, const void *arg,
                                   size_t arg_size, const pc_pool_callbacks *cb,
                                   pc_async_result **out_result) {
    const void *item = arg_size ? arg : (const void *)&arg;
    return pc__p_pool_call(pool, PC__POOL_ONE, fn, item, 1, arg_size, 1, cb, NULL, out_result);
}

PYCONC_API int pc_pool_apply(pc_pool *pool, pc_task_fn fn, const void *arg, size_t arg_size,
                             void *out) {
    pc_async_result *j;
    int rc = pc_pool_apply_async(pool, fn, arg, arg_size, NULL, &j);
    return rc ? rc : pc__p_pool_collect(j, out);
}

static int pc__p_pool_map_start(pc_pool *pool, pc_task_fn fn, const pc_map_desc *desc,
                                const pc_pool_callbacks *cb, void *into,
                                pc_async_result **out_result) {
    if (out_result) *out_result = NULL;
    int rc = pc__p_pool_desc_check(desc);
    if (rc) return rc;
    size_t cs = pool ? pc__p_pool_chunksize(pool, desc->count, desc->chunksize) : 1;
    return pc__p_pool_call(pool, PC__POOL_MAP, fn, desc->items, desc->count, desc->item_size,
                           cs, cb, into, out_result);
}

PYCONC_API int pc_pool_map_async(pc_pool *pool, pc_task_fn fn, const pc_map_desc *desc,
                                 const pc_pool_callbacks *cb, pc_async_result **out_result) {
    return pc__p_pool_map_start(pool, fn, desc, cb, NULL, out_result);
}

// The call waits: its items are read in place and pointer results land in
// out as they come, copied once (not into the job, then out).
PYCONC_API int pc_pool_map(pc_pool *pool, pc_task_fn fn, const pc_map_desc *desc, void *out) {
    pc_async_result *j;
    int rc = pc__p_pool_map_start(pool, fn, desc, NULL, out, &j);
    return rc ? rc : pc__p_pool_collect(j, out);
}

static int pc__p_pool_imap(pc_pool *pool, int kind, pc_task_fn fn, const pc_map_desc *desc,
                           pc_imap_iterator **out_iter) {
    if (!out_iter) return pc__error(PC_VALUE, "out_iter is NULL");
    *out_iter = NULL;
    int rc = pc__p_pool_desc_check(desc);
    if (rc) return rc;
    pc_imap_iterator *it = (pc_imap_iterator *)pc__calloc(1, sizeof *it);
    if (!it) return PC_NOMEM;
    rc = pc__p_pool_call(pool, kind, fn, desc->items, desc->count, desc->item_size,
                         desc->chunksize, NULL, NULL, &it->job);
    if (rc) {
        pc__free(it);
        return rc;
    }
    *out_iter = it;
    return PC_OK;
}

PYCONC_API int pc_pool_imap(pc_pool *pool, pc_task_fn fn, const pc_map_desc *desc,
                            pc_imap_iterator **out_iter) {
    return pc__p_pool_imap(pool, PC__POOL_IMAP, fn, desc, out_iter);
}

PYCONC_API int pc_pool_imap_unordered(pc_pool *pool, pc_task_fn fn, const pc_map_desc *desc,
                                      pc_imap_iterator **out_iter) {
    return pc__p_pool_imap(pool, PC__POOL_UNORDERED, fn, desc, out_iter);
}

// The next item of it (lock held): 1 and *out_k, *out_i set, or 0 when its
// chunk has not finished yet; *out_k = nchunks at the end.
static int pc__p_imap_peek(pc_imap_iterator *it, size_t *out_k, size_t *out_i) {
    pc_async_result *j = it->job;
    if (j->kind == PC__POOL_IMAP) {
        if (it->pos >= j->n) {
            *out_k = j->nchunks;
            return 1;
        }
        *out_k = it->pos / j->chunksize;
        *out_i = it->pos % j->chunksize;
        return j->chunks[*out_k].finished;
    }
    if (it->uk >= j->nchunks) {
        *out_k = j->nchunks;
        return 1;
    }
    if (it->uk >= j->ndone) return 0;
    *out_k = j->order[it->uk];
    *out_i = it->ui;
    return 1;
}

// Move past item i of chunk k (lock held); a failure skips the chunk's rest.
static void pc__p_imap_advance(pc_imap_iterator *it, size_t k, size_t i, int failed) {
    pc_async_result *j = it->job;
    pc__p_pool_chunk *c = &j->chunks[k];
    size_t next = failed ? c->count : i + 1;
    if (j->kind == PC__POOL_IMAP) {
        it->pos = c->start + next;
    } else if (next >= c->count) {
        it->uk++;
        it->ui = 0;
    } else {
        it->ui = next;
    }
}

PYCONC_API int pc_imap_iterator_next(pc_imap_iterator *it, double timeout, void **out_result) {
    double deadline;
    if (out_result) *out_result = NULL;
    if (!it) return pc__error(PC_VALUE, "iterator is NULL");
    if (timeout != timeout) return pc__error(PC_VALUE, "timeout is NaN");
    pc__deadline(timeout, &deadline);
    pc_async_result *j = it->job;
    size_t k = 0, i = 0;
    pc_lock_acquire(&j->lock, PC_FOREVER);
    while (!pc__p_imap_peek(it, &k, &i)) {
        double left = deadline == INFINITY ? PC_FOREVER : deadline - pc_monotonic();
        if (left <= 0 && deadline != INFINITY) {
            pc_lock_release(&j->lock);
            return pc__error(PC_TIMEOUT, "no result within the timeout");
        }
        pc_condition_wait(&j->cond, left);
    }
    if (k >= j->nchunks) {
        pc_lock_release(&j->lock);
        return pc__error(PC_EOF, "the iterator is exhausted");
    }
    pc__p_pool_chunk *c = &j->chunks[k];
    int code = c->code && i >= c->ok ? c->code : PC_OK;
    char msg[256];
    if (code) snprintf(msg, sizeof msg, "%s", c->msg ? c->msg : "");
    else if (out_result) *out_result = j->results[c->start + i];
    pc__p_imap_advance(it, k, i, code != PC_OK);
    pc_lock_release(&j->lock);
    return code ? pc__error(code, "%s", msg) : PC_OK;
}

PYCONC_API void pc_imap_iterator_free(pc_imap_iterator *it) {
    if (!it) return;
    pc__p_pool_job_unref(it->job);
    pc__free(it);
}

// The pack of item i, encoded: its function, then the pack; padded to
// the largest so that the items have one size. The packs hold values.
static void *pc__p_pool_star_run(void *item) {
    uint64_t len;
    uintptr_t addr = 0;
    memcpy(&len, item, sizeof len);
    pc__p_buf b;
    memset(&b, 0, sizeof b);
    b.p = (unsigned char *)item + sizeof len;
    b.len = (size_t)len;
    if (pc__p_pp_get_fn(&b, &addr)) {
        pc_raise(pc_last_error_code(), "%s", pc_last_error());
        return NULL;
    }
    pc_args *a = pc__p_args_decode(&b, NULL, 0, 1);
    if (!a) {
        pc_raise(PC_VALUE, "starmap: a malformed argument pack");
        return NULL;
    }
    void *r = pc__p_pp_task_fn(addr)(a);
    pc_args_free(a);
    return r;
}

static int pc__p_pool_star_items(pc_pool *pool, pc_task_fn fn, const pc_args *const *packs,
                                 size_t n, char **out, size_t *out_size) {
    pc__p_buf *bufs = (pc__p_buf *)pc__calloc(n ? n : 1, sizeof *bufs);
    size_t most = 0;
    int rc = bufs ? PC_OK : PC_NOMEM;
    for (size_t i = 0; i < n && !rc; i++) {
        int fds[PC__ARGS_MAX_FDS];
        size_t nfds = 0;
        if (!packs[i]) rc = pc__error(PC_VALUE, "starmap: pack %zu is NULL", i);
        else if (pc__p_args_has_fds(packs[i]))
            rc = pc__error(PC_VALUE, "starmap: pack %zu holds a connection or a shared "
                                     "object (a pack of values only)", i);
        if (!rc) rc = pc__p_pp_put_fn(&bufs[i], pc__p_pp_task_addr(fn), pool->raw_fn);
        if (!rc) rc = pc__p_args_encode(packs[i], &bufs[i], fds, &nfds, NULL);
        if (!rc && bufs[i].bad) rc = PC_NOMEM;
        if (bufs[i].len > most) most = bufs[i].len;
    }
    size_t size = sizeof(uint64_t) + most;
    char *items = rc ? NULL : (char *)pc__calloc(n ? n : 1, size);
    if (!rc && !items) rc = PC_NOMEM;
    for (size_t i = 0; i < n && items; i++) {
        uint64_t len = bufs[i].len;
        memcpy(items + i * size, &len, sizeof len);
        memcpy(items + i * size + sizeof len, bufs[i].p, bufs[i].len);
    }
    for (size_t i = 0; bufs && i < n; i++) pc__free(bufs[i].p);
    pc__free(bufs);
    *out = items;
    *out_size = size;
    return rc;
}

PYCONC_API int pc_pool_starmap_async(pc_pool *pool, pc_task_fn fn, const pc_args *const *packs,
                                     size_t count, size_t chunksize,
                                     const pc_pool_callbacks *cb, pc_async_result **out_result) {
    char *items = NULL;
    size_t size = 0;
    if (!out_result) return pc__error(PC_VALUE, "out_result is NULL");
    *out_result = NULL;
    int rc = pc__p_pool_running(pool);
    if (rc) return rc;
    if (!fn) return pc__error(PC_VALUE, "fn is NULL");
    if (!packs && count) return pc__error(PC_VALUE, "packs is NULL");
    rc = pc__p_pool_star_items(pool, fn, packs, count, &items, &size);
    if (!rc) rc = pc__p_pool_call(pool, PC__POOL_MAP, pc__p_pool_star_run, items, count, size,
                                  pc__p_pool_chunksize(pool, count, chunksize), cb, NULL,
                                  out_result);
    pc__free(items);
    return rc;
}

PYCONC_API int pc_pool_starmap(pc_pool *pool, pc_task_fn fn, const pc_args *const *packs,
                               size_t count, size_t chunksize, void *out) {
    pc_async_result *j;
    int rc = pc_pool_starmap_async(pool, fn, packs, count, chunksize, NULL, &j);
    return rc ? rc : pc__p_pool_collect(j, out);
}

static int pc__p_pool_is_ready(void *ctx) { return ((pc_async_result *)ctx)->ready; }

PYCONC_API int pc_async_result_wait(pc_async_result *r, double timeout) {
    if (!r) return pc__error(PC_VALUE, "async result is NULL");
    if (timeout != timeout) return pc__error(PC_VALUE, "timeout is NaN");
    pc_lock_acquire(&r->lock, PC_FOREVER);
    int rc = pc_condition_wait_for(&r->cond, pc__p_pool_is_ready, r, timeout);
    pc_lock_release(&r->lock);
    return rc;
}

PYCONC_API int pc_async_result_get(pc_async_result *r, double timeout, void **out_result) {
    if (out_result) *out_result = NULL;
    int rc = pc_async_result_wait(r, timeout);
    if (rc == PC_TIMEOUT) return pc__error(PC_TIMEOUT, "the result is not ready");
    if (rc) return rc;
    if (r->code) return pc__error(r->code, "%s", r->msg);
    if (out_result) *out_result = r->kind == PC__POOL_ONE ? r->results[0] : (void *)r->results;
    return PC_OK;
}

PYCONC_API int pc_async_result_ready(const pc_async_result *r) {
    return r ? __atomic_load_n(&r->ready, __ATOMIC_ACQUIRE) : 0;
}

PYCONC_API int pc_async_result_successful(const pc_async_result *r, int *out) {
    if (!r || !out) return pc__error(PC_VALUE, "async result or out is NULL");
    if (!pc_async_result_ready(r)) return pc__error(PC_VALUE, "the result is not ready");
    *out = r->code == PC_OK;
    return PC_OK;
}

PYCONC_API void pc_async_result_free(pc_async_result *r) {
    if (r) pc__p_pool_job_unref(r);
}

static int pc__p_pool_executor(pc_pool *pool, const pc_pool_desc *d) {
    if (d->threads) {
        pc_thread_pool_desc td;
        memset(&td, 0, sizeof td);
        td.max_workers = pool->nworkers;
        td.thread_name_prefix = "ThreadPool";
        td.initializer = d->initializer;
        td.initarg = pool->initargs;
        pool->ex = pc_thread_pool_new(&td);
    } else {
        pc_process_pool_desc pd;
        memset(&pd, 0, sizeof pd);
        pd.max_workers = pool->nworkers;
        pd.mp_context = d->context;
        pd.initializer = d->initializer;
        pd.initargs = pool->initargs;
        pd.max_tasks_per_child = d->maxtasksperchild;
        pd.result_size = d->result_size;
        pool->ex = pc__p_pp_new(&pd, PC__PP_FOR_POOL);
    }
    return pool->ex ? PC_OK : (pc_last_error_code() ? pc_last_error_code() : PC_NOMEM);
}

PYCONC_API pc_pool *pc_pool_new(const pc_pool_desc *desc) {
    pc_pool_desc d;
    memset(&d, 0, sizeof d);
    if (desc) d = *desc;
    if (d.processes < 0) {
        pc__error(PC_VALUE, "Number of processes must be at least 1");
        return NULL;
    }
    if (d.maxtasksperchild < 0 || (d.threads && d.maxtasksperchild)) {
        pc__error(PC_VALUE, d.threads ? "a ThreadPool takes no maxtasksperchild"
                                      : "maxtasksperchild should be a positive integer");
        return NULL;
    }
    pc_pool *pool = (pc_pool *)pc__calloc(1, sizeof *pool);
    if (!pool) return NULL;
    pool->threads = d.threads != 0;
    pool->nworkers = d.processes ? d.processes : pc_process_cpu_count();
    pool->result_size = d.result_size;
    pc_start_method m = pc_context_get_start_method(d.context ? d.context
                                                              : pc_get_context(PC_START_DEFAULT));
    if (m == PC_START_DEFAULT) m = pc_get_start_method();
    pool->raw_fn = pool->threads || m == PC_START_FORK;
    int rc = PC_OK;
    if (d.initargs && !(pool->initargs = pc__p_pp_args_copy(d.initargs)))
        rc = pc_last_error_code() ? pc_last_error_code() : PC_NOMEM;
    if (!rc) rc = pc__p_pool_executor(pool, &d);
    if (rc == PC_OK) return pool;
    char msg[256];
    snprintf(msg, sizeof msg, "%s", pc_last_error());
    pc_args_free(pool->initargs);
    pc__free(pool);
    pc__error(rc, "%s", msg);
    return NULL;
}

PYCONC_API int pc_pool_close(pc_pool *pool) {
    if (!pool) return pc__error(PC_VALUE, "pool is NULL");
    pc_lock_acquire(&pool->lock, PC_FOREVER);
    int was = pool->state;
    if (was == PC__POOL_RUN) pool->state = PC__POOL_CLOSE;
    pc_lock_release(&pool->lock);
    if (was == PC__POOL_RUN) pc_executor_shutdown(pool->ex, 0, 0);
    return PC_OK;
}

PYCONC_API int pc_pool_terminate(pc_pool *pool) {
    if (!pool) return pc__error(PC_VALUE, "pool is NULL");
    pc_lock_acquire(&pool->lock, PC_FOREVER);
    pool->state = PC__POOL_TERMINATE;
    pc_lock_release(&pool->lock);
    if (pool->threads) pc_executor_shutdown(pool->ex, 0, 1);
    else pc_process_pool_terminate_workers(pool->ex);
    return pc_executor_shutdown(pool->ex, 1, 1);
}

PYCONC_API int pc_pool_join(pc_pool *pool) {
    if (!pool) return pc__error(PC_VALUE, "pool is NULL");
    pc_lock_acquire(&pool->lock, PC_FOREVER);
    int state = pool->state;
    pc_lock_release(&pool->lock);
    if (state == PC__POOL_RUN) return pc__error(PC_VALUE, "Pool is still running");
    return pc_executor_shutdown(pool->ex, 1, 0);
}

PYCONC_API void pc_pool_free(pc_pool *pool) {
    if (!pool) return;
    if (pool->state == PC__POOL_RUN) pc_pool_terminate(pool);
    pc_executor_free(pool->ex);
    pc_args_free(pool->initargs);
    pc__free(pool);
}
#endif // PYCONC_FUTURES_IMPLEMENTATION

// >>G.posix-slack: how late a thread's timed sleep may end (its timer slack)
#if defined(PYCONC_FUTURES_IMPLEMENTATION) && defined(PYCONC_MPI)
// Set the calling thread's timer slack to ns; returns the old one (0: the
// default, or unknown). Linux lets a 20 us sleep end up to 50 us late.
static long pc__p_os_timer_slack(long ns) {
#if defined(__linux__)
    int old = prctl(PR_GET_TIMERSLACK, 0, 0, 0, 0);
    prctl(PR_SET_TIMERSLACK, (unsigned long)ns, 0, 0, 0);
    return old > 0 ? old : 0;
#else
    (void)ns;
    return 0;
#endif
}
#endif // PYCONC_FUTURES_IMPLEMENTATION && PYCONC_MPI

// >>G.mpi: the MPI executor: root's progress thread, the serving ranks' loop
#if defined(PYCONC_FUTURES_IMPLEMENTATION) && defined(PYCONC_MPI)
// One tag; a message's first byte says what it is (F.task's kinds: STOP,
// TASK, CHUNK one way, RESULT the other), in F.task's wire format with
// functions always as funcrefs (ranks are separate programs).
enum { PC__MPI_TAG = 7071 };
// Several messages to one rank, or from it, go as one: PC__MPI_BATCH, a
// u32 count, then each message as a blob (A.buffer). Root sends together
// the tasks queued for a rank in one look (each still goes to the least
// loaded rank, as alone), a rank the replies of the jobs that ended
// between its looks: a map's chunks then cost MPI one message per few
// chunks, not one each way per chunk. A batch stops growing past
// PC__MPI_BATCH_BYTES (a larger task goes alone).
enum { PC__MPI_BATCH = 0x42 };
#define PC__MPI_BATCH_BYTES ((size_t)1 << 20)

// Each message of the batch b, in turn, to each(ctx, message); an empty
// one or a batch inside the batch is malformed and skipped.
static void pc__p_mpi_unbatch(pc__p_buf *b, void (*each)(void *ctx, pc__p_buf *one),
                              void *ctx) {
    b->pos = 1;
    uint32_t n = pc__p_buf_get_u32(b);
    for (uint32_t i = 0; i < n && !b->bad; i++) {
        pc__p_buf one;
        memset(&one, 0, sizeof one);
        one.p = (unsigned char *)(uintptr_t)pc__p_buf_get_blob(b, &one.len);
        if (one.p && one.len && one.p[0] != PC__MPI_BATCH) each(ctx, &one);
    }
}
// Open MPI's blocking calls spin: a rank with nothing to do polls, sleeping
// up to this long between looks, and a client with nothing in flight sleeps.
// For PC__MPI_SPIN after the last message a poller only yields the CPU
// between looks (a short task's reply comes within it, and a timed sleep
// costs more than the wait: a wake-up by the timer and the scheduler's
// delay); until PC__MPI_HOT it naps PC__MPI_NAP_MIN; after that the naps
// double up to 1 ms, and past that to a 20th of the quiet time so far (up
// to PC__MPI_NAP_MAX): a long task's reply is seen at most 5% late, and a
// wait of 1 s costs ~150 looks.
#define PC__MPI_NAP_MAX 1e-2
#define PC__MPI_NAP_MIN 2e-5
#define PC__MPI_SPIN 2e-4
#define PC__MPI_HOT 1e-3
// For PC__MPI_LINGER after the last message root's progress thread, with
// nothing to do, wakes every PC__MPI_LINGER_NAP on its own (a submit then
// need not wake it, see pc__p_mpi_kick); after that it sleeps for good.
#define PC__MPI_LINGER 1e-2
#define PC__MPI_LINGER_NAP 1e-3

// The next nap (0: only yield): none while traffic is very recent, short
// while it is recent, else twice the last one.
static double pc__p_mpi_nap(double nap, double last_busy) {
    double quiet = pc_monotonic() - last_busy;
    if (quiet < PC__MPI_SPIN) return 0;
    if (quiet < PC__MPI_HOT) return PC__MPI_NAP_MIN;
    double most = quiet / 20 > 1e-3 ? quiet / 20 : 1e-3;
    if (most > PC__MPI_NAP_MAX) most = PC__MPI_NAP_MAX;
    double next = nap * 2 > PC__MPI_NAP_MIN ? nap * 2 : PC__MPI_NAP_MIN;
    return next < most ? next : most;
}

static int pc__p_mpi_fail(const char *call, int err) {
    char text[MPI_MAX_ERROR_STRING];
    int len = 0;
    if (MPI_Error_string(err, text, &len) != MPI_SUCCESS) len = 0;
    text[len] = '\0';
    return pc__error(PC_RUNTIME, "%s failed: %s", call, text);
}

// Initialize MPI if nobody has; root needs SERIALIZED (its progress thread
// makes the calls), a serving rank calls MPI from this thread only.
static int pc__p_mpi_init(void) {
    int done = 0, level = MPI_THREAD_SINGLE;
    MPI_Initialized(&done);
    if (!done) {
        int err = MPI_Init_thread(NULL, NULL, MPI_THREAD_MULTIPLE, &level);
        if (err != MPI_SUCCESS) return pc__p_mpi_fail("MPI_Init_thread", err);
    } else {
        MPI_Query_thread(&level);
    }
    if (level < MPI_THREAD_SERIALIZED)
        return pc__error(PC_VALUE, "MPI runs at thread level %d: the executor needs "
                                   "MPI_THREAD_SERIALIZED or MPI_THREAD_MULTIPLE", level);
    return PC_OK;
}

// Receive the next message from src (MPI_ANY_SOURCE: anyone) if one is
// there: 1 and *out (pc__free it), 0 when none, -1 on failure.
static int pc__p_mpi_poll(MPI_Comm comm, int src, pc__p_buf *out, int *out_src) {
    MPI_Status st;
    int flag = 0, n = 0;
    if (MPI_Iprobe(src, PC__MPI_TAG, comm, &flag, &st) != MPI_SUCCESS) return -1;
    if (!flag) return 0;
    MPI_Get_count(&st, MPI_BYTE, &n);
    memset(out, 0, sizeof *out);
    out->p = (unsigned char *)pc__malloc(n > 0 ? (size_t)n : 1);
    if (!out->p) return -1;
    out->len = (size_t)n;
    if (MPI_Recv(out->p, n, MPI_BYTE, st.MPI_SOURCE, PC__MPI_TAG, comm,
                 MPI_STATUS_IGNORE) != MPI_SUCCESS) {
        pc__free(out->p);
        return -1;
    }
    *out_src = st.MPI_SOURCE;
    return 1;
}

// A message fits in one MPI call only up to INT_MAX bytes (its count is an int).
static int pc__p_mpi_fits(size_t len) {
    if (len <= (size_t)INT_MAX) return PC_OK;
    return pc__error(PC_VALUE, "a task message of %zu bytes is over MPI's limit of %d "
                               "bytes per message", len, INT_MAX);
}

// ---- root: the client ------------------------------------------------------
typedef struct pc__p_mpi_task {
    struct pc__p_mpi_task *next;
    uint64_t id;
    pc_future *f;               // the task's reference
    int chunk;
    pc__f_chunk_view v;         // a chunk's result slots
    void *extra;                // room in f for results copied back
    pc__p_buf msg;              // encoded at submit; a batch's first task: the batch
    MPI_Request req;            // its send (MPI_REQUEST_NULL: none, or sent in a batch)
    int rank;
    struct pc__p_mpi_task *batch_next; // the next task of its rank's batch, while sending
} pc__p_mpi_task;

// The tasks of one look bound for one rank, and their bytes.
typedef struct pc__p_mpi_group {
    pc__p_mpi_task *first, *last;
    size_t bytes;
    uint32_t count;
} pc__p_mpi_group;

// Who makes root's MPI calls (one thread at a time, so MPI_THREAD_SERIALIZED
// suffices): the progress thread, or a thread waiting on a task's future
// (see pc__p_mpi_wait), or a submit sending its task at once.
enum { PC__MPI_NOBODY = 0, PC__MPI_PROGRESS = 1, PC__MPI_WAITER = 2, PC__MPI_SUBMIT = 3 };
#define PC__MPI_RES_INLINE 256  // result bytes a future of the cache holds; more: its own

typedef struct pc__p_mpi {
    pc_executor base;           // first: the interface
    pc_lock lock;               // guards what follows
    pc_condition cond;          // on lock: wakes the progress thread
    pc__p_mpi_task *head, *tail; // submitted, not sent
    pc__p_mpi_task *sent;       // sent, not answered
    uint64_t next_id;
    size_t outstanding;         // submitted and not finished
    int *load;                  // tasks in flight on each rank
    pc__p_mpi_group *groups;    // per rank: the batch being made (pc__p_mpi_send_some)
    int flying;                 // their sum
    int size, root, credit, shutdown, joined;
    int owner;                  // PC__MPI_*: who makes MPI calls now
    int want;                   // threads in pc__p_mpi_wait: the progress thread leaves
                                //   MPI to them
    int direct;                 // a submit sent its task itself (pc__p_mpi_kick)
    int lingering;              // the progress thread sleeps, but not for good
    double last_busy;           // when a message last moved (pc_monotonic)
    pc__f_cache *slab;          // the tasks' futures (a wait on one polls MPI itself)
    pc__evc waited;             // on every end of the slab's futures, and a hand-over
    size_t slot_res;            // result bytes a slab future holds (0: the slab is not used)
    size_t result_size;
    MPI_Comm comm;              // our duplicate, or the spawned workers' intercommunicator
    int spawned;                // comm reaches spawned workers: disconnect it
    pc_thread *progress;
} pc__p_mpi;

static int pc__p_mpi_submit(pc_executor *ex, pc_task_fn fn, const void *arg, size_t arg_size,
                            pc_future **out_future);
static int pc__p_mpi_shutdown(pc_executor *ex, int wait, int cancel_futures);
static void pc__p_mpi_free(pc_executor *ex);
static const pc_executor_vtable pc__p_mpi_vtable = {
    pc__p_mpi_submit, pc__p_mpi_shutdown, pc__p_mpi_free
};

static void pc__p_mpi_task_free(pc__p_mpi_task *t) {
    pc__free(t->msg.p);
    pc__free(t);
}

// Finish t's future and count it done (lock not held).
static void pc__p_mpi_done(pc__p_mpi *m, pc__p_mpi_task *t, int code, const char *msg,
                           void *result) {
    if (pc_future_cancelled(t->f)) {
    } else if (code) {
        pc_future_set_exception(t->f, code, "%s", msg);
    } else {
        pc_future_set_result(t->f, result);
    }
    pc_future_release(t->f);
    pc__p_mpi_task_free(t);
    pc_lock_acquire(&m->lock, PC_FOREVER);
    // The progress thread ends once shut down with nothing left; else it
    // needs no word of an end (a reply it took, or a waiter's).
    if (--m->outstanding == 0 && m->shutdown) pc_condition_notify_all(&m->cond);
    pc_lock_release(&m->lock);
}

// The message of a task: F.task's TASK or CHUNK, its size checked first.
static int pc__p_mpi_encode(pc__p_mpi_task *t, pc_task_fn fn, const void *arg,
                            size_t arg_size) {
    pc__p_buf *b = &t->msg;
    pc__f_chunk_view *v = &t->v;
    size_t payload = t->chunk ? v->count * (v->item_size ? v->item_size : sizeof(uint64_t))
                              : arg_size;
    if (t->chunk && v->count && payload / v->count != (v->item_size ? v->item_size : 8))
        payload = SIZE_MAX;
    int rc = pc__p_mpi_fits(payload > SIZE_MAX - 4096 ? SIZE_MAX : payload + 4096);
    if (rc) return rc;
    pc__p_buf_u8(b, t->chunk ? PC__PP_CHUNK : PC__PP_TASK);
    pc__p_buf_u64(b, t->id);
    rc = pc__p_pp_put_fn(b, pc__p_pp_task_addr(t->chunk ? v->fn : fn), 0);
    if (rc) return rc;
    if (t->chunk) {
        pc__p_buf_u64(b, v->item_size);
        pc__p_buf_u64(b, v->count);
        if (v->item_size) {
            pc__p_buf_blob(b, v->items, payload);
        } else {            // pointers cross as integers
            pc__p_buf_u64(b, payload);
            for (size_t i = 0; i < v->count; i++)
                pc__p_buf_u64(b, (uint64_t)(uintptr_t)((void *const *)v->items)[i]);
        }
    } else if (arg_size) {
        pc__p_buf_u8(b, 0);
        pc__p_buf_blob(b, arg, arg_size);
    } else {
        pc__p_buf_u8(b, 1);
        pc__p_buf_u64(b, (uint64_t)(uintptr_t)arg);
    }
    if (b->bad) return pc__error(PC_NOMEM, "out of memory encoding a task");
    return pc__p_mpi_fits(b->len);
}

// A task's future: from the slab (a wait on it polls MPI itself, see
// pc__p_mpi_wait) for a task whose result fits; a chunk's, or a larger
// one, its own (the map's iterator waits on those, and the progress thread
// keeps them streaming meanwhile).
static pc_future *pc__p_mpi_future(pc__p_mpi *m, int chunk, size_t res_bytes, void **extra) {
    if (chunk || res_bytes > m->slot_res || !m->slab)
        return pc__f_future_new_extra(res_bytes, extra);
    pc_lock_acquire(&m->lock, PC_FOREVER);
    pc_future *f = pc__f_slot_take(m->slab);
    pc_lock_release(&m->lock);
    if (!f) pc__error(PC_NOMEM, "out of memory for a future");
    else *extra = res_bytes ? pc__f_extra(f) : NULL;
    return f;
}

// A thread that submits and then waits on the task (pc__p_mpi_wait) polls
// MPI for it itself: the executor it did so on last (NULL: it did not
// wait on the task it sent last), and the future of the task it sent last.
static PC__TLS pc__p_mpi *pc__p_mpi_waits;
static PC__TLS pc_future *pc__p_mpi_sent_f;

// Task f was queued (lock held): sent at once while no thread makes MPI
// calls (the caller mostly waits on it next, and polls then, see
// pc__p_mpi_wait); the progress thread hears of it, as does a waiting
// thread between its looks. Only when this thread waited on the task it
// sent before and the progress thread lingers (it wakes on its own within
// PC__MPI_LINGER_NAP) is it not woken: its waking would take a core from
// the round trip.
static int pc__p_mpi_send_some(pc__p_mpi *m);
static void pc__p_mpi_kick(pc__p_mpi *m, pc_future *f) {
    int sent = 0;
    if (m->owner == PC__MPI_NOBODY) {
        m->owner = PC__MPI_SUBMIT;
        sent = pc__p_mpi_send_some(m);
        m->owner = PC__MPI_NOBODY;
    }
    if (pc__p_mpi_sent_f) pc__p_mpi_waits = NULL;   // not waited on: no pattern
    pc__p_mpi_sent_f = sent && !m->head ? f : NULL;
    if (sent) {
        m->last_busy = pc_monotonic();
        m->direct = 1;
    }
    if (m->want) pc__evc_notify(&m->waited, INT32_MAX);
    if (!(sent && !m->head && m->lingering && pc__p_mpi_waits == m))
        pc_condition_notify_all(&m->cond);
}

static int pc__p_mpi_submit(pc_executor *ex, pc_task_fn fn, const void *arg, size_t arg_size,
                            pc_future **out_future) {
    pc__p_mpi *m = (pc__p_mpi *)ex;
    pc__p_mpi_task *t = (pc__p_mpi_task *)pc__calloc(1, sizeof *t);
    if (!t) return PC_NOMEM;
    t->req = MPI_REQUEST_NULL;
    t->chunk = pc__f_map_chunk_view(fn, (void *)(uintptr_t)arg, &t->v);
    int rc = t->chunk < 0 ? pc__error(PC_VALUE, "a map over several inputs cannot run on an "
                                                "MPI executor (its task gets pointers into "
                                                "this process)")
                          : PC_OK;
    pc_lock_acquire(&m->lock, PC_FOREVER);
    if (!rc && m->shutdown)
        rc = pc__error(PC_SHUTDOWN, "cannot schedule new futures after shutdown");
    t->id = ++m->next_id;
    pc_lock_release(&m->lock);
    if (!rc) rc = pc__p_mpi_encode(t, fn, arg, arg_size);
    size_t nres = t->chunk ? t->v.count : 1;
    if (!rc && m->result_size && nres > SIZE_MAX / m->result_size)
        rc = pc__error(PC_VALUE, "too many results to copy back");
    if (!rc && !(t->f = pc__p_mpi_future(m, t->chunk, m->result_size * nres, &t->extra)))
        rc = PC_NOMEM;
    if (!rc) {
        pc_lock_acquire(&m->lock, PC_FOREVER);
        if (m->shutdown) rc = pc__error(PC_SHUTDOWN, "cannot schedule new futures after "
                                                     "shutdown");
        if (!rc) {
            pc_future_retain(t->f);     // the caller's
            *out_future = t->f;
            if (m->tail) m->tail->next = t;
            else m->head = t;
            m->tail = t;
            m->outstanding++;
            pc__p_mpi_kick(m, t->f);
        }
        pc_lock_release(&m->lock);
    }
    if (rc) {
        pc_future_release(t->f);
        pc__p_mpi_task_free(t);
    }
    return rc;
}

// The least loaded rank with room (lock held), or -1.
static int pc__p_mpi_pick(pc__p_mpi *m) {
    int best = -1;
    for (int r = 0; r < m->size; r++) {
        if (r == m->root || m->load[r] >= m->credit) continue;
        if (best < 0 || m->load[r] < m->load[best]) best = r;
    }
    return best;
}

// One message to rank r (lock not held): the group's task alone, or all of
// them as a batch (in its first task's msg, the others' freed: a reply to
// any of them means the rank has it all, so the first's request is done
// by the time any reply is taken). Out of memory for the batch, each goes
// alone.
static void pc__p_mpi_send_group(pc__p_mpi *m, int r, pc__p_mpi_group *g) {
    pc__p_mpi_task *t = g->first;
    pc__p_buf b;
    memset(&b, 0, sizeof b);
    if (g->count > 1) {
        pc__p_buf_u8(&b, PC__MPI_BATCH);
        pc__p_buf_u32(&b, g->count);
        for (pc__p_mpi_task *o = t; o; o = o->batch_next) pc__p_buf_blob(&b, o->msg.p, o->msg.len);
    }
    if (g->count > 1 && !b.bad) {
        for (pc__p_mpi_task *o = t->batch_next; o; o = o->batch_next) {
            pc__free(o->msg.p);
            memset(&o->msg, 0, sizeof o->msg);
        }
        pc__free(t->msg.p);
        t->msg = b;
        t->batch_next = NULL;
    } else {
        pc__free(b.p);
    }
    // Not a blocking send: a rank may be sending us a large reply at once.
    // MPI's default error handler has ended the job on a failure.
    for (; t; t = t->batch_next)
        MPI_Isend(t->msg.p, (int)t->msg.len, MPI_BYTE, r, PC__MPI_TAG, m->comm, &t->req);
}

// Send what can go (lock held; released around the sends). Each task goes
// to the least loaded rank with room, as if sent alone; those of one look
// bound for one rank go in one message. Returns how many tasks.
static int pc__p_mpi_send_some(pc__p_mpi *m) {
    int n = 0, r, more = 1;
    while (more) {
        int any = 0;
        more = 0;
        while (m->head && (r = pc__p_mpi_pick(m)) >= 0) {
            pc__p_mpi_task *t = m->head;
            pc__p_mpi_group *g = &m->groups[r];
            if (g->count && g->bytes + t->msg.len + 64 > PC__MPI_BATCH_BYTES) {
                more = 1;       // this batch is full: send it, then go on
                break;
            }
            m->head = t->next;
            if (!m->head) m->tail = NULL;
            if (pc_future_set_running_or_notify_cancel(t->f) != PC_OK) {
                pc_future_release(t->f);    // cancelled while queued
                pc__p_mpi_task_free(t);
                m->outstanding--;
                continue;
            }
            t->rank = r;
            t->next = m->sent;
            m->sent = t;
            m->load[r]++;
            m->flying++;
            t->batch_next = NULL;
            if (g->last) g->last->batch_next = t;
            else g->first = t;
            g->last = t;
            g->bytes += t->msg.len + 8;
            g->count++;
            any = 1;
            n++;
        }
        if (!any) break;
        // Only this thread makes MPI calls and reads the groups: the lock
        // can go while it sends (no reply to these comes before).
        pc_lock_release(&m->lock);
        for (r = 0; r < m->size; r++) {
            pc__p_mpi_group *g = &m->groups[r];
            if (!g->count) continue;
            pc__p_mpi_send_group(m, r, g);
            memset(g, 0, sizeof *g);
        }
        pc_lock_acquire(&m->lock, PC_FOREVER);
    }
    return n;
}

// Take task id off the sent list (lock held).
static pc__p_mpi_task *pc__p_mpi_unlink(pc__p_mpi *m, uint64_t id) {
    for (pc__p_mpi_task **pp = &m->sent; *pp; pp = &(*pp)->next) {
        if ((*pp)->id != id) continue;
        pc__p_mpi_task *t = *pp;
        *pp = t->next;
        m->load[t->rank]--;
        m->flying--;
        return t;
    }
    return NULL;
}

// A reply (F.task's RESULT) from a serving rank.
static void pc__p_mpi_reply(pc__p_mpi *m, pc__p_buf *b) {
    unsigned kind = pc__p_buf_get_u8(b);
    uint64_t id = pc__p_buf_get_u64(b);
    int code = (int)pc__p_buf_get_u32(b);
    char *msg = pc__p_buf_get_str(b);
    uint64_t count = pc__p_buf_get_u64(b);
    pc_lock_acquire(&m->lock, PC_FOREVER);
    pc__p_mpi_task *t = kind == PC__PP_RESULT ? pc__p_mpi_unlink(m, id) : NULL;
    pc_lock_release(&m->lock);
    if (!t) {
        pc__free(msg);
        return;
    }
    MPI_Wait(&t->req, MPI_STATUS_IGNORE);     // answered, so sent: returns at once
    void *result = NULL;
    size_t cap = t->chunk ? t->v.count : 1;
    if (count > cap) count = cap;
    // A chunk's pointers as integers: in one copy, as the rank sent them.
    int bulk = t->chunk && !m->result_size && sizeof(void *) == sizeof(uint64_t);
    const void *all = bulk && count ? pc__p_buf_take(b, (size_t)count * sizeof(uint64_t)) : NULL;
    if (all) memcpy(t->v.results, all, (size_t)count * sizeof(uint64_t));
    uint64_t got = all ? count : 0;     // results taken whole (a cut reply: fewer)
    for (uint64_t i = 0; i < count && !bulk; i++) {
        void *r = NULL;
        if (!m->result_size) {
            r = (void *)(uintptr_t)pc__p_buf_get_u64(b);
        } else {
            size_t len;
            const void *data = pc__p_buf_get_blob(b, &len);
            if (data && len == m->result_size) {
                r = (char *)t->extra + i * m->result_size;
                memcpy(r, data, len);
            }
        }
        if (b->bad) break;
        if (t->chunk) t->v.results[i] = r;
        else result = r;
        got = i + 1;
    }
    if (t->chunk) *t->v.ok = (size_t)got;
    if (b->bad && !code) code = PC_RUNTIME;
    pc__p_mpi_done(m, t, code, msg ? msg : "a serving rank's reply was cut short", result);
    pc__free(msg);
}

static void pc__p_mpi_reply_of_batch(void *m, pc__p_buf *one) {
    pc__p_mpi_reply((pc__p_mpi *)m, one);
}

// A message from a serving rank: one reply, or a batch of them.
static void pc__p_mpi_replies(pc__p_mpi *m, pc__p_buf *b) {
    if (b->len == 0 || b->p[0] != PC__MPI_BATCH) pc__p_mpi_reply(m, b);
    else pc__p_mpi_unbatch(b, pc__p_mpi_reply_of_batch, m);
}

// One look at MPI by the thread that makes the calls (lock held; released
// around them): send what can go, take every reply there is, or, for a
// thread waiting on f, those up to the one that ends f (it leaves with its
// result at once, not after another probe; whoever polls next takes the
// rest). Returns how many messages moved.
static int pc__p_mpi_turn(pc__p_mpi *m, pc_future *f) {
    int busy = pc__p_mpi_send_some(m);
    if (!m->sent) return busy;
    pc_lock_release(&m->lock);
    pc__p_buf b;
    int src;
    while (pc__p_mpi_poll(m->comm, MPI_ANY_SOURCE, &b, &src) > 0) {
        pc__p_mpi_replies(m, &b);
        pc__free(b.p);
        busy++;
        if (f && pc_future_done(f)) break;
    }
    pc_lock_acquire(&m->lock, PC_FOREVER);
    if (busy) m->last_busy = pc_monotonic();
    return busy;
}

// The next rest between looks (lock held): none while messages moved, 0
// (only yield) while a reply is due soon, else a nap (see pc__p_mpi_nap).
static double pc__p_mpi_rest_of(pc__p_mpi *m, double nap, int busy) {
    if (busy) return -1;
    // Many in flight: replies come often, and a spinning thread would take
    // the CPU from the work (naps, then).
    if (nap == 0 && m->flying >= m->size) return PC__MPI_NAP_MIN;
    return nap;
}

// The thread that makes the MPI calls now (the progress thread, or one in
// pc__p_mpi_wait): a done callback, run in it, that waits on another of the
// executor's futures goes on polling there (pc__p_mpi_wait).
static PC__TLS pc__p_mpi *pc__p_mpi_polling;

// The progress thread: sends queued tasks within each rank's credit, takes
// replies, and at the end (shut down, nothing left) stops every rank.
// With nothing in flight it sleeps on the condition (a submit wakes it);
// with tasks out it polls MPI, napping between looks (see pc__p_mpi_nap).
// While a thread waits on a task's future it leaves MPI to that thread
// (pc__p_mpi_wait), which wakes it when it leaves with work still out.
static int pc__p_mpi_progress(void *arg) {
    pc__p_mpi *m = (pc__p_mpi *)arg;
    double nap = 0;
    pc__p_os_timer_slack(1000);     // a nap of 20 us, not 70
    pc_lock_acquire(&m->lock, PC_FOREVER);
    for (;;) {
        if (m->shutdown && m->outstanding == 0 && m->owner == PC__MPI_NOBODY) break;
        if (m->owner != PC__MPI_NOBODY || m->want || (!m->head && !m->sent)) {
            // A waiting thread makes the calls, or nothing is out: a submit,
            // a shutdown, or the waiter's leaving wakes this thread. For a
            // while after the last message it also wakes on its own (see
            // pc__p_mpi_kick), then sleeps for good.
            m->lingering = pc_monotonic() - m->last_busy < PC__MPI_LINGER;
            pc_condition_wait(&m->cond, m->lingering ? PC__MPI_LINGER_NAP : PC_FOREVER);
            m->lingering = 0;
            nap = 0;
            continue;
        }
        if (m->direct && !m->head) {
            // A submit sent its task itself, and its thread mostly waits on
            // it next and polls then: a moment for it to come, so that this
            // thread does not take MPI and hand it over at once.
            m->direct = 0;
            pc_condition_wait(&m->cond, PC__MPI_NAP_MIN);
            continue;
        }
        m->owner = PC__MPI_PROGRESS;
        pc__p_mpi_polling = m;
        int busy = pc__p_mpi_turn(m, NULL);
        pc__p_mpi_polling = NULL;
        m->owner = PC__MPI_NOBODY;
        if (m->want) {              // a waiting thread takes over MPI
            pc__evc_notify(&m->waited, INT32_MAX);
            continue;
        }
        nap = pc__p_mpi_rest_of(m, nap, busy);
        if (nap < 0) {
            nap = 0;
            continue;
        }
        if (!m->sent) continue;
        if (nap > 0) {
            pc_condition_wait(&m->cond, nap);
        } else {
            pc_lock_release(&m->lock);
            pc__p_os_yield();
            pc_lock_acquire(&m->lock, PC_FOREVER);
        }
        nap = pc__p_mpi_nap(nap, m->last_busy);
    }
    m->owner = PC__MPI_PROGRESS;    // for good: the stops below are the last calls
    pc_lock_release(&m->lock);
    unsigned char stop = PC__PP_STOP;
    for (int r = 0; r < m->size; r++)
        if (r != m->root) MPI_Send(&stop, 1, MPI_BYTE, r, PC__MPI_TAG, m->comm);
    return 0;
}

// A thread waits on f, a task's future: while no other thread makes the
// MPI calls it makes them itself, polling as the progress thread does, so
// a reply ends f in this thread (no hand-over from the progress thread,
// and none to it at submit: pc__p_mpi_submit sends at once). Others sleep
// on `waited`, moved by every end of a slab future and by a hand-over.
// Returns PC_OK (f done) or PC_TIMEOUT.
static int pc__p_mpi_wait(pc__p_mpi *m, pc_future *f, double deadline, double timeout) {
    int nested = pc__p_mpi_polling == m, rc = PC_OK;
    double nap = 0;
    if (f == pc__p_mpi_sent_f) {    // the task this thread sent last: see pc__p_mpi_kick
        pc__p_mpi_waits = m;
        pc__p_mpi_sent_f = NULL;
    }
    pc_lock_acquire(&m->lock, PC_FOREVER);
    m->want++;
    while (!pc_future_done(f)) {
        if (pc_monotonic() >= deadline) {
            rc = pc__error(PC_TIMEOUT, "future not done after %g s", timeout);
            break;
        }
        double until = deadline;
        int polled = nested || m->owner == PC__MPI_NOBODY;
        if (polled) {
            if (!nested) {
                m->owner = PC__MPI_WAITER;
                pc__p_mpi_polling = m;
            }
            int busy = pc__p_mpi_turn(m, f);
            if (!nested) {
                m->owner = PC__MPI_NOBODY;
                pc__p_mpi_polling = NULL;
            }
            nap = pc__p_mpi_rest_of(m, nap, busy);
            if (nap < 0 || pc_future_done(f)) {
                nap = 0;
                continue;
            }
            if (nap == 0) {         // a reply is due: only yield
                pc_lock_release(&m->lock);
                pc__p_os_yield();
                pc_lock_acquire(&m->lock, PC_FOREVER);
                nap = pc__p_mpi_nap(nap, m->last_busy);
                continue;
            }
            double now = pc_monotonic();
            if (now + nap < until) until = now + nap;
            nap = pc__p_mpi_nap(nap, m->last_busy);
        }
        // Asleep until f ends, MPI is free to take (a hand-over), a submit,
        // or the nap is over.
        uint32_t key = pc__evc_prepare(&m->waited);
        if (pc_future_done(f) || (!polled && m->owner == PC__MPI_NOBODY)) continue;
        pc_lock_release(&m->lock);
        pc__evc_wait(&m->waited, key, until);
        pc_lock_acquire(&m->lock, PC_FOREVER);
    }
    m->want--;
    // Leaving: another waiter takes MPI over, or else the progress thread.
    if (m->want) pc__evc_notify(&m->waited, INT32_MAX);
    else if (m->head || m->sent || m->shutdown) pc_condition_notify_all(&m->cond);
    pc_lock_release(&m->lock);
    return rc;
}

// The slab's wait hook: the executor stays while a thread is in it.
static int pc__p_mpi_wait_hook(pc__f_cache *c, pc_future *f, double deadline, double timeout) {
    pc__p_mpi *m = (pc__p_mpi *)pc__f_cache_enter(c);
    int rc = m ? pc__p_mpi_wait(m, f, deadline, timeout) : PC__F_UNWAITED;
    pc__f_cache_leave(c);
    return rc;
}

static int pc__p_mpi_shutdown(pc_executor *ex, int wait, int cancel_futures) {
    pc__p_mpi *m = (pc__p_mpi *)ex;
    pc__p_mpi_task *cancelled = NULL;
    pc_lock_acquire(&m->lock, PC_FOREVER);
    m->shutdown = 1;
    if (cancel_futures) {
        cancelled = m->head;
        m->head = m->tail = NULL;
    }
    pc_condition_notify_all(&m->cond);
    pc_lock_release(&m->lock);
    while (cancelled) {
        pc__p_mpi_task *next = cancelled->next;
        pc_future_cancel(cancelled->f);
        pc__p_mpi_done(m, cancelled, PC_OK, NULL, NULL);    // cancelled: a no-op finish
        cancelled = next;
    }
    if (wait && !m->joined) {
        pc_thread_join(m->progress, PC_FOREVER);
        m->joined = 1;
    }
    return PC_OK;
}

static void pc__p_mpi_free(pc_executor *ex) {
    pc__p_mpi *m = (pc__p_mpi *)ex;
    pc__p_mpi_shutdown(ex, 1, 0);
    pc_thread_free(m->progress);
    pc__f_cache_unhook(m->slab);        // threads in the wait hook still read the executor
    pc__f_cache_close(m->slab);
    if (m->spawned) MPI_Comm_disconnect(&m->comm);     // waits for the workers to let go
    else MPI_Comm_free(&m->comm);
    pc__free(m->load);
    pc__free(m->groups);
    pc__free(m);
}

static pc_executor *pc__p_mpi_client(MPI_Comm comm, int size, const pc_mpi_comm_executor_desc *d) {
    pc__p_mpi *m = (pc__p_mpi *)pc__calloc(1, sizeof *m);
    int *load = (int *)pc__calloc((size_t)size, sizeof *load);
    pc__p_mpi_group *groups = (pc__p_mpi_group *)pc__calloc((size_t)size, sizeof *groups);
    pc__f_cache *slab = (pc__f_cache *)pc__calloc(1, sizeof *slab);
    if (!m || !load || !groups || !slab) {
        pc__free(m);
        pc__free(load);
        pc__free(groups);
        pc__free(slab);
        return NULL;
    }
    m->groups = groups;
    m->base.vtable = &pc__p_mpi_vtable;
    m->slot_res = d->result_size <= PC__MPI_RES_INLINE ? d->result_size : 0;
    pc__f_cache_init(slab, m->slot_res, pc__p_pp_slab_gone);
    pc__evc_init(&m->waited, 0);
    slab->wait = pc__p_mpi_wait_hook;
    slab->done = &m->waited;
    slab->ctx = m;
    m->slab = slab;
    m->last_busy = pc_monotonic();
    pc_condition_init_lock(&m->cond, &m->lock);
    m->load = load;
    m->size = size;
    m->root = d->root;
    m->credit = d->local_workers + d->prefetch;
    m->result_size = d->result_size;
    m->comm = comm;
    pc_thread_desc td;
    memset(&td, 0, sizeof td);
    td.daemon = PC_DAEMON_YES;
    td.target = pc__p_mpi_progress;
    td.arg = m;
    td.name = "MPICommExecutor-progress";
    m->progress = pc_thread_new(&td);
    if (m->progress && pc_thread_start(m->progress) == PC_OK) return &m->base;
    pc_thread_free(m->progress);
    pc__f_cache_close(slab);
    pc__free(load);
    pc__free(groups);
    pc__free(m);
    return NULL;
}

// ---- a serving rank --------------------------------------------------------
// A task or chunk from root, as futures of the node-local pool: one per
// item, answered once all are done.
typedef struct pc__p_mpi_job {
    struct pc__p_mpi_job *next;
    struct pc__p_mpi_job *open_next; // the rank's open jobs, oldest first
    struct pc__p_mpi_server *srv;
    pc_future *wf;              // the pool's future its end waits on (the job's), or NULL
    uint64_t id;
    size_t count, left;         // futures; not done yet (+1 while being submitted)
    pc_future **fs;
    pc_map_iter *it;            // a chunk: one map chunk of the pool (instead of fs)
    void *items;                //   its items, the job's copy
    int code;                   // a failure before the futures (or at item count)
    char msg[256];
    // Without isolation the whole job runs as one task on a thread of the
    // rank, its results encoded as each item returns (instead of fs, it).
    pc_task_fn fn;
    size_t item_size, nitems, ran;  // bytes per item (0: a pointer value); items; answered
    pc__p_buf res;              // their results, in F.task's RESULT format
    int inline_run;             // ran this way: res, ran and code are the answer
} pc__p_mpi_job;

typedef struct pc__p_mpi_server {
    pc_lock lock;               // guards done
    pc_condition cond;          // on lock: a job is done
    pc__p_mpi_job *done;
    pc__p_mpi_job *open_head, *open_tail; // not answered, oldest first (this thread's)
    pc_executor *pool;          // a process pool, or threads (no_isolation)
    size_t result_size;
    int rank, open;             // this rank; jobs not answered
    int no_isolation;
} pc__p_mpi_server;

typedef struct pc__p_mpi_sending {
    struct pc__p_mpi_sending *next;
    pc__p_buf msg;
    MPI_Request req;
} pc__p_mpi_sending;

static void pc__p_mpi_job_ready(pc__p_mpi_job *j) {
    pc__p_mpi_server *s = j->srv;
    pc_lock_acquire(&s->lock, PC_FOREVER);
    if (--j->left == 0) {
        j->next = s->done;
        s->done = j;
        pc_condition_notify_all(&s->cond);
    }
    pc_lock_release(&s->lock);
}

static void pc__p_mpi_job_callback(pc_future *f, void *ctx) {
    (void)f;
    pc__p_mpi_job_ready((pc__p_mpi_job *)ctx);
}

// Submit item i of a job: bytes by copy, or a pointer value as is.
static int pc__p_mpi_job_item(pc__p_mpi_server *s, pc_task_fn fn, const void *data,
                              size_t size, pc_future **out) {
    if (size) return pc_executor_submit_copy(s->pool, fn, data, size, out);
    uint64_t v;
    memcpy(&v, data, sizeof v);
    return pc_executor_submit(s->pool, fn, (void *)(uintptr_t)v, out);
}

// The job's own copy of its count items (pointers arrive as integers);
// out of memory, the job's code and message say so.
static void pc__p_mpi_job_copy_items(pc__p_mpi_job *j, const void *data, size_t item_size,
                                     size_t count, const char *what) {
    size_t step = item_size ? item_size : sizeof(void *);
    j->items = pc__malloc(count ? count * step : 1);
    if (!j->items) {
        j->code = PC_NOMEM;
        snprintf(j->msg, sizeof j->msg, "out of memory for a %s of %zu items", what, count);
    } else if (item_size) {
        memcpy(j->items, data, count * item_size);
    } else {
        for (size_t i = 0; i < count; i++) {
            uint64_t v;
            memcpy(&v, (const char *)data + i * sizeof v, sizeof v);
            ((void **)j->items)[i] = (void *)(uintptr_t)v;
        }
    }
}

// A chunk goes to the pool whole, as one chunk of a map (one message to a
// pool worker, not one per item); the job is ready when that chunk is.
static void pc__p_mpi_job_chunk(pc__p_mpi_server *s, pc__p_mpi_job *j, pc_task_fn fn,
                                const void *data, size_t item_size, size_t count) {
    j->left = 1;
    pc__p_mpi_job_copy_items(j, data, item_size, count, "chunk");
    pc_map_desc md;
    memset(&md, 0, sizeof md);
    md.items = j->items;
    md.count = count;
    md.item_size = item_size;
    md.chunksize = count;
    if (!j->code && pc_executor_map(s->pool, fn, &md, &j->it)) {
        j->code = pc_last_error_code();
        snprintf(j->msg, sizeof j->msg, "%s", pc_last_error());
        j->it = NULL;
    }
    if (!j->code && count && j->it->ring[0].f) {
        pc_lock_acquire(&s->lock, PC_FOREVER);
        j->left++;
        pc_lock_release(&s->lock);
        j->wf = j->it->ring[0].f;
        pc_future_add_done_callback(j->wf, pc__p_mpi_job_callback, j);
    }
    pc__p_mpi_job_ready(j);
}

// Without isolation: every item of job j on this pool thread, each result
// encoded as it returns (a task's result may sit in memory its next call
// reuses, as the process pool's worker copies it at once too).
static void *pc__p_mpi_job_run(void *arg) {
    pc__p_mpi_job *j = (pc__p_mpi_job *)arg;
    size_t step = j->item_size ? j->item_size : sizeof(void *);
    for (size_t i = 0; i < j->nitems; i++) {
        void *item = (char *)j->items + i * step;
        pc__exception_take(NULL, 0);
        void *r = j->fn(j->item_size ? item : *(void **)item);
        int code = pc__exception_take(j->msg, sizeof j->msg);
        if (code) {
            j->code = code;
            break;
        }
        pc__p_pp_put_result(&j->res, r, j->srv->result_size);
        j->ran++;
    }
    pc__p_mpi_job_ready(j);
    return NULL;
}

// Without isolation: copy the job's items and run it as one thread task.
static void pc__p_mpi_job_inline(pc__p_mpi_server *s, pc__p_mpi_job *j, pc_task_fn fn,
                                 const void *data, size_t item_size, size_t count) {
    j->inline_run = 1;
    j->left = 1;
    j->fn = fn;
    j->item_size = item_size;
    pc_future *f = NULL;
    pc__p_mpi_job_copy_items(j, data, item_size, count, "task");
    j->nitems = j->code ? 0 : count;
    if (!j->code && !s->pool) {     // one worker: this thread, between its looks at MPI
        pc__p_mpi_job_run(j);
        return;
    }
    if (!j->code && pc_executor_submit(s->pool, pc__p_mpi_job_run, j, &f) == PC_OK) {
        pc_future_release(f);       // the job says when it is done
        return;
    }
    if (!j->code) {
        j->code = pc_last_error_code();
        snprintf(j->msg, sizeof j->msg, "%s", pc_last_error());
    }
    pc__p_mpi_job_ready(j);
}

// Decode a TASK or CHUNK and submit its items to the pool.
static void pc__p_mpi_job_start(pc__p_mpi_server *s, pc__p_mpi_job *j, pc__p_buf *b,
                                unsigned kind) {
    uintptr_t addr = 0;
    size_t item_size = 0, count = 1, len = 0;
    const void *data = NULL;
    uint64_t value = 0;
    j->code = pc__p_pp_get_fn(b, &addr);
    if (!j->code && kind == PC__PP_CHUNK) {
        item_size = (size_t)pc__p_buf_get_u64(b);
        count = (size_t)pc__p_buf_get_u64(b);
        data = pc__p_buf_get_blob(b, &len);
    } else if (!j->code && pc__p_buf_get_u8(b)) {   // by value
        value = pc__p_buf_get_u64(b);
        data = &value;
    } else if (!j->code) {
        data = pc__p_buf_get_blob(b, &item_size);
        if (!item_size) {       // an empty copy: the task gets a pointer to nothing
            value = 0;
            data = &value;
        }
    }
    size_t step = item_size ? item_size : sizeof(uint64_t);
    if (!j->code && (b->bad || (kind == PC__PP_CHUNK && len / step < count)))
        j->code = pc__error(PC_VALUE, "bad task message");
    if (!j->code && s->no_isolation) {
        pc__p_mpi_job_inline(s, j, pc__p_pp_task_fn(addr), data, item_size, count);
        return;
    }
    if (!j->code && kind == PC__PP_CHUNK) {
        pc__p_mpi_job_chunk(s, j, pc__p_pp_task_fn(addr), data, item_size, count);
        return;
    }
    if (!j->code && !(j->fs = (pc_future **)pc__calloc(count ? count : 1, sizeof *j->fs)))
        j->code = PC_NOMEM;
    if (j->code) snprintf(j->msg, sizeof j->msg, "%s", pc_last_error());
    j->left = 1;
    for (size_t i = 0; !j->code && i < count; i++) {
        const char *item = (const char *)data + i * step;
        j->code = pc__p_mpi_job_item(s, pc__p_pp_task_fn(addr), item, item_size, &j->fs[i]);
        if (j->code) {
            snprintf(j->msg, sizeof j->msg, "%s", pc_last_error());
            break;
        }
        j->count = i + 1;
        pc_lock_acquire(&s->lock, PC_FOREVER);
        j->left++;
        pc_lock_release(&s->lock);
        pc_future_add_done_callback(j->fs[i], pc__p_mpi_job_callback, j);
    }
    if (j->count) j->wf = j->fs[j->count - 1];     // the last to end, mostly
    pc__p_mpi_job_ready(j);
}

// A chunk's results, encoded into res: its future is done, so they are in
// the map's slots, all of them, or those before the item that failed
// (*code and *msg then say how). Pointers as integers go in one copy.
static size_t pc__p_mpi_chunk_results(pc__p_mpi_server *s, pc__p_mpi_job *j, pc__p_buf *res,
                                      int *code, const char **msg) {
    pc__f_map_chunk *c = &j->it->ring[0];
    if (!c->f) return 0;        // an empty chunk
    int failed = PC_OK;
    const char *why = NULL;
    pc_future_exception(c->f, 0, &failed, &why);
    size_t n = failed ? c->ok : c->count;
    if (!s->result_size && sizeof(void *) == sizeof(uint64_t)) {
        pc__p_buf_put(res, c->results, n * sizeof(uint64_t));
    } else {
        for (size_t i = 0; i < n; i++) pc__p_pp_put_result(res, c->results[i], s->result_size);
    }
    if (failed) {
        *code = failed;
        *msg = why ? why : "";
    }
    return n;
}

// The reply to a finished job: F.task's RESULT (results up to the first
// failure, then its code and message).
static void pc__p_mpi_job_reply(pc__p_mpi_server *s, pc__p_mpi_job *j, pc__p_buf *out) {
    pc__p_buf res;
    memset(&res, 0, sizeof res);
    int code = PC_OK;
    const char *msg = "";
    char broken[320];
    size_t n = 0;
    int borrowed = j->inline_run;   // res is the job's (freed with it): a reply
                                    // may be made again (see pc__p_mpi_answer)
    if (borrowed) {             // the results are encoded already
        res = j->res;
        n = j->ran;
    }
    if (j->it) n = pc__p_mpi_chunk_results(s, j, &res, &code, &msg);
    for (; n < j->count; n++) {
        void *r = NULL;
        pc_future_exception(j->fs[n], PC_FOREVER, &code, &msg);
        if (code) break;
        pc_future_result(j->fs[n], 0, &r);
        pc__p_pp_put_result(&res, r, s->result_size);
    }
    if (!code && j->code) {
        code = j->code;
        msg = j->msg;
    }
    if (code == PC_BROKEN) {    // a crash: say where
        snprintf(broken, sizeof broken, "rank %d: %s", s->rank, msg ? msg : "");
        msg = broken;
    }
    if (!res.bad && res.len > (size_t)INT_MAX - 1024) {
        code = PC_VALUE;
        msg = "the results are over MPI's limit of INT_MAX bytes per message";
        n = 0;
        res.len = 0;
    }
    pc__p_buf_u8(out, PC__PP_RESULT);
    pc__p_buf_u64(out, j->id);
    pc__p_buf_u32(out, (uint32_t)code);
    pc__p_buf_str(out, code ? msg : "");
    pc__p_buf_u64(out, n);
    pc__p_buf_put(out, res.p, res.len);
    if (res.bad) out->bad = 1;
    if (!borrowed) pc__free(res.p);
}

static void pc__p_mpi_job_free(pc__p_mpi_job *j) {
    for (size_t i = 0; i < j->count; i++) pc_future_release(j->fs[i]);
    pc_map_iter_free(j->it);
    pc__free(j->items);
    pc__free(j->fs);
    pc__free(j->res.p);
    pc__free(j);
}

// Take j off the open list (mostly its head: the pool ends jobs in order).
static void pc__p_mpi_unopen(pc__p_mpi_server *s, pc__p_mpi_job *j) {
    pc__p_mpi_job *prev = NULL;
    for (pc__p_mpi_job *o = s->open_head; o; prev = o, o = o->open_next) {
        if (o != j) continue;
        if (prev) prev->open_next = j->open_next;
        else s->open_head = j->open_next;
        if (s->open_tail == j) s->open_tail = prev;
        return;
    }
}

// The reply to job j in out: alone, or appended to a batch as a blob. Out
// of memory, a short one root reads as cut short.
static void pc__p_mpi_reply_to(pc__p_mpi_server *s, pc__p_mpi_job *j, pc__p_buf *out,
                               int in_batch) {
    size_t at = out->len;
    if (in_batch) pc__p_buf_u64(out, 0);        // its length, set below
    size_t from = out->len;
    pc__p_mpi_job_reply(s, j, out);
    if (out->bad && !in_batch) {
        out->bad = 0;
        out->len = 0;
        pc__p_buf_u8(out, PC__PP_RESULT);
        pc__p_buf_u64(out, j->id);
    }
    if (in_batch && !out->bad) {
        uint64_t len = out->len - from;
        memcpy(out->p + at, &len, sizeof len);
    }
}

// Send one message to root without blocking (root may be sending to us).
static void pc__p_mpi_send_reply(pc__p_mpi_sending *o, MPI_Comm comm, int root,
                                 pc__p_mpi_sending **sending) {
    MPI_Isend(o->msg.p, (int)o->msg.len, MPI_BYTE, root, PC__MPI_TAG, comm, &o->req);
    o->next = *sending;
    *sending = o;
}

// Answer each finished job: those that ended together in one message (a
// batch), else each alone (one, or the batch would not fit).
static int pc__p_mpi_answer(pc__p_mpi_server *s, MPI_Comm comm, int root,
                            pc__p_mpi_sending **sending) {
    pc_lock_acquire(&s->lock, PC_FOREVER);
    pc__p_mpi_job *j = s->done;
    s->done = NULL;
    pc_lock_release(&s->lock);
    int n = 0;
    uint32_t count = 0;
    for (pc__p_mpi_job *o = j; o; o = o->next) count++;
    pc__p_mpi_sending *batch = count > 1 ? (pc__p_mpi_sending *)pc__calloc(1, sizeof *batch)
                                         : NULL;
    if (batch) {
        pc__p_buf_u8(&batch->msg, PC__MPI_BATCH);
        pc__p_buf_u32(&batch->msg, count);
    }
    if (batch && batch->msg.bad) {      // out of memory: each alone
        pc__free(batch->msg.p);
        pc__free(batch);
        batch = NULL;
    }
    while (j) {
        pc__p_mpi_job *next = j->next;
        pc__p_mpi_unopen(s, j);
        int alone = 1;
        if (batch && batch->msg.len < PC__MPI_BATCH_BYTES) {
            size_t was = batch->msg.len;
            pc__p_mpi_reply_to(s, j, &batch->msg, 1);
            alone = batch->msg.bad || batch->msg.len > (size_t)INT_MAX;
            if (alone) {        // out of memory or over MPI's limit: it goes alone
                batch->msg.bad = 0;
                batch->msg.len = was;
            }
        }
        if (alone && batch) {
            count--;
            memcpy(batch->msg.p + 1, &count, sizeof count);
        }
        pc__p_mpi_sending *o = alone ? (pc__p_mpi_sending *)pc__calloc(1, sizeof *o) : NULL;
        if (o) {
            pc__p_mpi_reply_to(s, j, &o->msg, 0);
            pc__p_mpi_send_reply(o, comm, root, sending);
        }
        pc__p_mpi_job_free(j);
        s->open--;
        n++;
        j = next;
    }
    if (batch && count) {
        pc__p_mpi_send_reply(batch, comm, root, sending);
    } else if (batch) {
        pc__free(batch->msg.p);
        pc__free(batch);
    }
    // Let go of the sends that are through.
    for (pc__p_mpi_sending **pp = sending; *pp;) {
        int flag = 0;
        MPI_Test(&(*pp)->req, &flag, MPI_STATUS_IGNORE);
        if (!flag) {
            pp = &(*pp)->next;
            continue;
        }
        pc__p_mpi_sending *o = *pp;
        *pp = o->next;
        pc__free(o->msg.p);
        pc__free(o);
    }
    return n;
}

// A message from root; returns 0 for STOP.
static int pc__p_mpi_take(pc__p_mpi_server *s, pc__p_buf *b);

// A task of a batch from root (a STOP inside a batch is malformed: ignored).
static void pc__p_mpi_take_of_batch(void *s, pc__p_buf *one) {
    (void)pc__p_mpi_take((pc__p_mpi_server *)s, one);
}

static int pc__p_mpi_take(pc__p_mpi_server *s, pc__p_buf *b) {
    if (b->len && b->p[0] == PC__MPI_BATCH) {
        pc__p_mpi_unbatch(b, pc__p_mpi_take_of_batch, s);
        return 1;
    }
    unsigned kind = pc__p_buf_get_u8(b);
    if (kind != PC__PP_TASK && kind != PC__PP_CHUNK) return 0;
    pc__p_mpi_job *j = (pc__p_mpi_job *)pc__calloc(1, sizeof *j);
    if (!j) return 1;       // root waits on this task forever: MPI has no room either
    j->srv = s;
    j->id = pc__p_buf_get_u64(b);
    s->open++;
    if (s->open_tail) s->open_tail->open_next = j;
    else s->open_head = j;
    s->open_tail = j;
    pc__p_mpi_job_start(s, j, b, kind);
    return 1;
}

// The pool's own wait for its future f (its cache's hook), or NULL: a
// task's future on a process pool has one; a chunk's (its own future) and
// a thread pool's do not.
static pc__f_cache *pc__p_mpi_pool_wait_of(pc_future *f) {
    pc__f_cache *c = f && (__atomic_load_n(&f->refs, __ATOMIC_RELAXED) & PC__F_SLOT)
                         ? (pc__f_cache *)f->owner
                         : NULL;
    return c && c->wait ? c : NULL;
}

// The waiter's role of this rank's process pool, taken before the tasks
// of a message go to it (1: taken; then pc__p_pp_wait_held or
// pc__p_pp_role_give). The worker woken for a task may run first on a
// busy CPU and reply before this thread is in its wait: with the role
// free, the reply wakes the pool's collector, which also waits for the
// pool's lock the submit holds, settles the task and, through the job's
// callback, wakes this thread (a third thread on 2 cores, four more
// context switches a round trip); with the role held, the reply waits in
// the ring for this thread. Without isolation: no such pool.
static int pc__p_mpi_hold(pc__p_mpi_server *s) {
    return PC__PP_RINGS && !s->no_isolation && s->pool &&
           pc__p_pp_role_take((pc__p_pp *)s->pool, PC__PP_ROLE_WAITER);
}

// Wait up to nap s for the pool's future f; held: this thread has the
// pool's waiter role (pc__p_mpi_hold), given back here. One with the
// pool's own wait goes into it at once, without the short spin
// pc__f_wait_done makes first: the worker replies within a few
// microseconds. Others: the usual wait.
static void pc__p_mpi_wait_pool(pc__p_mpi_server *s, pc_future *f, double nap, int held) {
    pc__f_cache *c = pc__p_mpi_pool_wait_of(f);
    if (held && c) {
        pc__p_pp_wait_held((pc__p_pp *)s->pool, f, pc_monotonic() + nap, nap);
        return;
    }
    if (held) pc__p_pp_role_give((pc__p_pp *)s->pool);
    if (c && c->wait(c, f, pc_monotonic() + nap, nap) != PC__F_UNWAITED) return;
    pc__f_wait_done(f, nap);
}

// Rest up to nap s between looks at MPI while jobs run (held: as
// pc__p_mpi_wait_pool's). On the oldest job's pool future when it has
// one: a process pool's waiting thread collects the results itself, so the
// worker wakes this thread straight (no hop through the pool's collector
// and this condition). Its end reaches the done list in the same thread
// before the wait returns, or, when the collector ended it, through the
// condition.
static void pc__p_mpi_rest(pc__p_mpi_server *s, double nap, int held) {
    pc_future *f = s->open_head ? s->open_head->wf : NULL;
    if (f && (held || !pc_future_done(f))) {
        pc__p_mpi_wait_pool(s, f, nap, held);
        return;
    }
    if (held) pc__p_pp_role_give((pc__p_pp *)s->pool);
    pc_lock_acquire(&s->lock, PC_FOREVER);
    if (!s->done) pc_condition_wait(&s->cond, nap);
    pc_lock_release(&s->lock);
}

// Serve root until it says stop.
static void pc__p_mpi_serve_loop(pc__p_mpi_server *s, MPI_Comm comm, int root) {
    pc__p_mpi_sending *sending = NULL;
    int stopping = 0;
    double nap = 0, last_busy = pc_monotonic();
    long slack = pc__p_os_timer_slack(1000);    // the caller's thread: given back below
    for (;;) {
        int busy = pc__p_mpi_answer(s, comm, root, &sending), took = 0, held = 0;
        pc__p_buf b;
        int src;
        while (!stopping && pc__p_mpi_poll(comm, root, &b, &src) > 0) {
            if (!held) held = pc__p_mpi_hold(s);
            stopping = !pc__p_mpi_take(s, &b);
            pc__free(b.p);
            busy = took = 1;
            // A round trip's task (the rank's only job): answered at once
            // when it ran on this thread (without isolation), or into its
            // pool's wait at once, not after another look at MPI, which
            // finds nothing and yields the CPU inside Open MPI (2 us of a
            // 45 us round trip over TCP).
            if (s->open == 1 && (!s->pool || pc__p_mpi_pool_wait_of(s->open_head->wf))) break;
        }
        // Tasks just went to the pool: into its wait now, its role held
        // since before they went (see pc__p_mpi_hold), not after another
        // look at MPI; the next look answers what ended meanwhile. Not for
        // a map's chunk: its future has no such wait (the collector ends
        // it), a look first may find more chunks for the pool, and a
        // chunk waited on in the pool's wait measured no faster.
        if (took && s->open_head && pc__p_mpi_pool_wait_of(s->open_head->wf)) {
            pc__p_mpi_rest(s, PC__MPI_NAP_MIN, held);
            held = 0;
        }
        if (held) pc__p_pp_role_give((pc__p_pp *)s->pool);
        if (stopping && s->open == 0 && !sending) break;
        if (busy) {
            nap = 0;
            last_busy = pc_monotonic();
            continue;
        }
        // Tasks running: their end wakes us, and spinning would take the
        // CPU from them (naps, then); none: the next one is awaited.
        if (nap == 0 && s->open) nap = PC__MPI_NAP_MIN;
        if (nap == 0) pc__p_os_yield();
        else pc__p_mpi_rest(s, nap, 0);
        nap = pc__p_mpi_nap(nap, last_busy);
    }
    pc__p_os_timer_slack(slack);
}

static int pc__p_mpi_serve(MPI_Comm comm, int rank, const pc_mpi_comm_executor_desc *d) {
    pc__p_mpi_server s;
    memset(&s, 0, sizeof s);
    pc_condition_init_lock(&s.cond, &s.lock);
    s.rank = rank;
    s.result_size = d->result_size;
    s.no_isolation = d->no_isolation != 0;
    pc_process_pool_desc pd;
    memset(&pd, 0, sizeof pd);
    pd.max_workers = d->local_workers;
    pd.mp_context = d->mp_context;
    pd.result_size = d->result_size;
    pc_thread_pool_desc td;
    memset(&td, 0, sizeof td);
    td.max_workers = d->local_workers;
    // Without isolation one worker is this thread itself (no hand-over to
    // another thread and back: mpi4py's way), more are a thread pool.
    if (s.no_isolation && d->local_workers > 1) s.pool = pc_thread_pool_new(&td);
    if (!s.no_isolation) s.pool = pc__p_pp_new(&pd, PC__PP_SLEEP_AT_ONCE);
    // Without a pool the loop still runs, its tasks on this thread.
    if (!s.pool && !s.no_isolation) fprintf(stderr, "rank %d: %s\n", rank, pc_last_error());
    if (!s.pool) s.no_isolation = 1;
    pc__p_mpi_serve_loop(&s, comm, d->root);
    pc_executor_free(s.pool);
    return pc__error(PC_OK, "rank %d served until rank %d shut its executor down", rank,
                     d->root);
}

static int pc__p_mpi_desc_check(const pc_mpi_comm_executor_desc *in,
                                pc_mpi_comm_executor_desc *d, int size) {
    memset(d, 0, sizeof *d);
    if (in) *d = *in;
    if (d->root < 0 || d->root >= size)
        return pc__error(PC_VALUE, "root %d is not a rank of the communicator (size %d)",
                         d->root, size);
    if (size < 2) return pc__error(PC_VALUE, "an MPI executor needs 2 or more ranks, not %d",
                                   size);
    if (d->local_workers < 0 || d->prefetch < 0)
        return pc__error(PC_VALUE, "local_workers and prefetch must be >= 0");
    if (!d->local_workers) d->local_workers = 1;
    if (!d->prefetch) d->prefetch = 2;
    if (!d->mp_context) d->mp_context = pc_get_context(PC_START_FORK);
    return PC_OK;
}

PYCONC_API pc_executor *pc_mpi_comm_executor_new(const pc_mpi_comm_executor_desc *desc) {
    pc_mpi_comm_executor_desc d;
    MPI_Comm comm;
    int size = 0, rank = 0;
    if (pc__p_mpi_init()) return NULL;
    MPI_Comm base = desc && desc->comm ? *desc->comm : MPI_COMM_WORLD;
    MPI_Comm_size(base, &size);
    MPI_Comm_rank(base, &rank);
    if (pc__p_mpi_desc_check(desc, &d, size)) return NULL;
    int err = MPI_Comm_dup(base, &comm);
    if (err != MPI_SUCCESS) {
        pc__p_mpi_fail("MPI_Comm_dup", err);
        return NULL;
    }
    if (rank != d.root) {
        pc__p_mpi_serve(comm, rank, &d);
        MPI_Comm_free(&comm);
        return NULL;
    }
    pc_executor *ex = pc__p_mpi_client(comm, size, &d);
    if (ex) return ex;
    // The other ranks serve already: tell them to end.
    unsigned char stop = PC__PP_STOP;
    int code = pc_last_error_code() ? pc_last_error_code() : PC_NOMEM;
    for (int r = 0; r < size; r++)
        if (r != d.root) MPI_Send(&stop, 1, MPI_BYTE, r, PC__MPI_TAG, comm);
    MPI_Comm_free(&comm);
    pc__error(code, "can't start the MPI executor");
    return NULL;
}
#endif // PYCONC_FUTURES_IMPLEMENTATION && PYCONC_MPI

// >>G.posix-self: this program's path and arguments, for MPI_Comm_spawn
#if defined(PYCONC_FUTURES_IMPLEMENTATION) && defined(PYCONC_MPI)
// This program's path (not /proc/self/exe: the spawner would run itself).
static char *pc__p_os_self_path(void) {
    char buf[4096];
    ssize_t n = readlink("/proc/self/exe", buf, sizeof buf - 1);
    if (n <= 0) {
        pc__os_error("readlink /proc/self/exe");
        return NULL;
    }
    buf[n] = '\0';
    char *out = (char *)pc__malloc((size_t)n + 1);
    if (out) memcpy(out, buf, (size_t)n + 1);
    else pc__error(PC_NOMEM, "out of memory");
    return out;
}

// This program's arguments after its name, NULL-terminated, in one block
// (pc__free it); NULL on failure.
static char **pc__p_os_self_args(void) {
    int fd = open("/proc/self/cmdline", O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        pc__os_error("open /proc/self/cmdline");
        return NULL;
    }
    size_t len = 0, cap = 4096;
    char *text = (char *)pc__malloc(cap);
    ssize_t n = 0;
    while (text && (n = read(fd, text + len, cap - len - 1)) > 0) {
        len += (size_t)n;
        if (cap - len < 2) {
            char *more = (char *)pc__realloc(text, cap, cap * 2);
            if (!more) pc__free(text);
            text = more;
            cap *= 2;
        }
    }
    close(fd);
    if (!text || n < 0) {
        pc__free(text);
        if (n < 0) pc__os_error("read /proc/self/cmdline");
        else pc__error(PC_NOMEM, "out of memory");
        return NULL;
    }
    text[len] = '\0';
    size_t count = 0;
    for (size_t i = 0; i < len; i++) count += text[i] == '\0';
    char **argv = (char **)pc__malloc((count + 1) * sizeof *argv + len + 1);
    if (!argv) {
        pc__free(text);
        pc__error(PC_NOMEM, "out of memory");
        return NULL;
    }
    char *copy = (char *)(argv + count + 1);
    memcpy(copy, text, len + 1);
    pc__free(text);
    size_t k = 0, at = strlen(copy) + 1;        // skip the name
    while (at < len) {
        argv[k++] = copy + at;
        at += strlen(copy + at) + 1;
    }
    argv[k] = NULL;
    return argv;
}
#endif // PYCONC_FUTURES_IMPLEMENTATION && PYCONC_MPI

// >>G.mpi-pool: MPIPoolExecutor: workers spawned with MPI_Comm_spawn
#if defined(PYCONC_FUTURES_IMPLEMENTATION) && defined(PYCONC_MPI)
// In a spawned worker: serve the parent (rank 0 of the other side), let go
// of it, finalize and exit.
static void pc__p_mpi_worker(MPI_Comm parent, const pc_mpi_pool_executor_desc *in) {
    pc_mpi_comm_executor_desc d;
    memset(&d, 0, sizeof d);
    d.result_size = in ? in->result_size : 0;
    d.local_workers = in && in->local_workers > 0 ? in->local_workers : 1;
    d.mp_context = in && in->mp_context ? in->mp_context : pc_get_context(PC_START_FORK);
    d.no_isolation = in ? in->no_isolation : 0;
    d.root = 0;
    int rank = 0;
    MPI_Comm_rank(parent, &rank);
    pc__p_mpi_serve(parent, rank, &d);
    MPI_Comm_disconnect(&parent);
    MPI_Finalize();
    exit(0);
}

// Spawn n workers of program; *out their intercommunicator.
static int pc__p_mpi_spawn(const pc_mpi_pool_executor_desc *d, int n, MPI_Comm *out) {
    char *path = d->program ? NULL : pc__p_os_self_path();
    char **args = d->argv ? NULL : pc__p_os_self_args();
    if ((!d->program && !path) || (!d->argv && !args)) {
        pc__free(path);
        pc__free(args);
        return pc_last_error_code();
    }
    MPI_Info info;
    MPI_Info_create(&info);
    MPI_Info_set(info, "map_by", "slot:OVERSUBSCRIBE");    // Open MPI's; others ignore it
    int *codes = (int *)pc__calloc((size_t)n, sizeof *codes);
    // A failed spawn returns here instead of ending the program.
    MPI_Errhandler was;
    MPI_Comm_get_errhandler(MPI_COMM_SELF, &was);
    MPI_Comm_set_errhandler(MPI_COMM_SELF, MPI_ERRORS_RETURN);
    char **argv = d->argv ? (char **)(uintptr_t)d->argv : args;     // MPI's is not const
    int err = !codes ? MPI_ERR_NO_MEM
                     : MPI_Comm_spawn(d->program ? d->program : path, argv, n, info, 0,
                                      MPI_COMM_SELF, out, codes);
    MPI_Comm_set_errhandler(MPI_COMM_SELF, was);
    MPI_Errhandler_free(&was);
    MPI_Info_free(&info);
    int rc = err == MPI_SUCCESS ? PC_OK : pc__p_mpi_fail("MPI_Comm_spawn", err);
    for (int i = 0; !rc && i < n; i++)
        if (codes[i] != MPI_SUCCESS) rc = pc__p_mpi_fail("MPI_Comm_spawn (a worker)", codes[i]);
    pc__free(codes);
    pc__free(path);
    pc__free(args);
    return rc;
}

PYCONC_API pc_executor *pc_mpi_pool_executor_new(const pc_mpi_pool_executor_desc *desc) {
    pc_mpi_pool_executor_desc d;
    memset(&d, 0, sizeof d);
    if (desc) d = *desc;
    if (pc__p_mpi_init()) return NULL;
    MPI_Comm parent = MPI_COMM_NULL;
    MPI_Comm_get_parent(&parent);
    if (parent != MPI_COMM_NULL) pc__p_mpi_worker(parent, desc);   // does not return
    if (d.max_workers < 0 || d.local_workers < 0 || d.prefetch < 0) {
        pc__error(PC_VALUE, "max_workers, local_workers and prefetch must be >= 0");
        return NULL;
    }
    int n = d.max_workers ? d.max_workers : pc_cpu_count();
    if (n < 1) n = 1;
    MPI_Comm inter;
    if (pc__p_mpi_spawn(&d, n, &inter)) return NULL;
    pc_mpi_comm_executor_desc cd;
    memset(&cd, 0, sizeof cd);
    cd.root = -1;               // every rank of the other side serves
    cd.result_size = d.result_size;
    cd.local_workers = d.local_workers ? d.local_workers : 1;
    cd.prefetch = d.prefetch ? d.prefetch : 2;
    pc_executor *ex = pc__p_mpi_client(inter, n, &cd);
    if (ex) {
        ((pc__p_mpi *)ex)->spawned = 1;
        return ex;
    }
    int code = pc_last_error_code() ? pc_last_error_code() : PC_NOMEM;
    unsigned char stop = PC__PP_STOP;
    for (int r = 0; r < n; r++) MPI_Send(&stop, 1, MPI_BYTE, r, PC__MPI_TAG, inter);
    MPI_Comm_disconnect(&inter);
    pc__error(code, "can't start the MPI pool executor");
    return NULL;
}
#endif // PYCONC_FUTURES_IMPLEMENTATION && PYCONC_MPI

// >>I.value: a manager's values, on the wire and in the server
// A request is a pack [int id, int object, str method, args...], its reply
// [int id, int status, str message, results...]. A value travels as two
// items, [int type, payload], so that None (which a pack lacks) crosses too.
#define PC__P_M_MAGIC "pcproxy2"
#define PC__P_M_KIND_MAX 32     // a typeid's bytes, with its NUL

typedef struct pc__p_m_val {
    int type;                   // a pc_arg_type: NONE, INT, DOUBLE, BYTES, STR, PROXY
    int64_t i;                  // PROXY: the object's id (data: its typeid)
    double d;
    char *data;                 // owned, NUL-terminated (bytes too)
    size_t size;
} pc__p_m_val;

static void pc__p_m_val_clear(pc__p_m_val *v) {
    pc__free(v->data);
    memset(v, 0, sizeof *v);
}

static int pc__p_m_val_set(pc__p_m_val *v, int type, int64_t i, double d, const void *data,
                         size_t size) {
    memset(v, 0, sizeof *v);
    v->type = type;
    v->i = i;
    v->d = d;
    if (type != PC_ARG_BYTES && type != PC_ARG_STR && type != PC_ARG_PROXY) return PC_OK;
    v->data = (char *)pc__malloc(size + 1);
    if (!v->data) return PC_NOMEM;
    if (size) memcpy(v->data, data, size);
    v->data[size] = '\0';
    v->size = size;
    return PC_OK;
}

// Item i of a pack as a plain value (update and extend take these).
static int pc__p_m_val_from_item(const pc_args *a, size_t i, pc__p_m_val *out) {
    int64_t n = 0;
    double d = 0;
    const void *data = NULL;
    size_t size = 0;
    const char *s = "";
    switch (pc_args_type(a, i)) {
    case PC_ARG_INT: pc_args_get_int(a, i, &n); return pc__p_m_val_set(out, PC_ARG_INT, n, 0, 0, 0);
    case PC_ARG_DOUBLE:
        pc_args_get_double(a, i, &d);
        return pc__p_m_val_set(out, PC_ARG_DOUBLE, 0, d, NULL, 0);
    case PC_ARG_BYTES:
        pc_args_get_bytes(a, i, &data, &size);
        return pc__p_m_val_set(out, PC_ARG_BYTES, 0, 0, data, size);
    case PC_ARG_STR:
        pc_args_get_str(a, i, &s);
        return pc__p_m_val_set(out, PC_ARG_STR, 0, 0, s, strlen(s));
    default: return pc__error(PC_VALUE, "item %zu is not an int, float, bytes or str", i);
    }
}

// A nested proxy's reference: a str "<id> <typeid>".
static int pc__p_m_ref_read(const pc_args *a, size_t i, pc__p_m_val *out) {
    const char *s;
    char *end;
    if (pc_args_get_str(a, i, &s)) return pc__error(PC_VALUE, "malformed proxy at item %zu", i);
    long long id = strtoll(s, &end, 10);
    size_t n = *end == ' ' ? strlen(end + 1) : 0;
    if (id <= 0 || n == 0 || n >= PC__P_M_KIND_MAX)
        return pc__error(PC_VALUE, "malformed proxy at item %zu", i);
    return pc__p_m_val_set(out, PC_ARG_PROXY, id, 0, end + 1, n);
}

// Items i, i+1 of a pack as a tagged value.
static int pc__p_m_val_read(const pc_args *a, size_t i, pc__p_m_val *out) {
    int64_t type;
    if (pc_args_get_int(a, i, &type) != PC_OK)
        return pc__error(PC_VALUE, "malformed value at item %zu", i);
    if (type == PC_ARG_NONE) return pc__p_m_val_set(out, PC_ARG_NONE, 0, 0, NULL, 0);
    if (type == PC_ARG_PROXY) return pc__p_m_ref_read(a, i + 1, out);
    if (type != PC_ARG_INT && type != PC_ARG_DOUBLE && type != PC_ARG_BYTES &&
        type != PC_ARG_STR)
        return pc__error(PC_VALUE, "value type %lld is not None, int, float, bytes or str",
                         (long long)type);
    if ((int64_t)pc_args_type(a, i + 1) != type)
        return pc__error(PC_VALUE, "malformed value at item %zu", i + 1);
    return pc__p_m_val_from_item(a, i + 1, out);
}

static int pc__p_m_put(pc_args *a, int type, int64_t i, double d, const void *data, size_t size) {
    int rc = pc_args_add_int(a, type);
    if (rc) return rc;
    switch (type) {
    case PC_ARG_NONE: return pc_args_add_int(a, 0);
    case PC_ARG_INT: return pc_args_add_int(a, i);
    case PC_ARG_DOUBLE: return pc_args_add_double(a, d);
    case PC_ARG_BYTES: return pc_args_add_bytes(a, data, size);
    case PC_ARG_STR: return pc_args_add_str(a, data ? (const char *)data : "");
    case PC_ARG_PROXY: {
        char ref[64];
        snprintf(ref, sizeof ref, "%lld %s", (long long)i, (const char *)data);
        return pc_args_add_str(a, ref);
    }
    default: return pc__error(PC_VALUE, "value type %d is not None, int, float, bytes or str",
                              type);
    }
}

static int pc__p_m_val_write(pc_args *a, const pc__p_m_val *v) {
    return pc__p_m_put(a, v->type, v->i, v->d, v->data, v->size);
}

static int pc__p_m_nested_write(pc_args *a, const pc_proxy_value *v, const pc_proxy *target);

// A caller's value into a request for the object of target.
static int pc__p_m_value_write(pc_args *a, const pc_proxy_value *v, const pc_proxy *target) {
    if (v->type == PC_ARG_PROXY) return pc__p_m_nested_write(a, v, target);
    if ((v->type == PC_ARG_BYTES && !v->data && v->size) || (v->type == PC_ARG_STR && !v->data))
        return pc__error(PC_VALUE, "value data is NULL");
    return pc__p_m_put(a, v->type, v->i, v->d, v->data, v->size);
}

// Copy item i of a user's pack into a request (update, extend).
static int pc__p_m_copy_item(pc_args *to, const pc_args *from, size_t i) {
    pc__p_m_val v;
    int rc = pc__p_m_val_from_item(from, i, &v);
    if (rc) return rc;
    switch (v.type) {
    case PC_ARG_INT: rc = pc_args_add_int(to, v.i); break;
    case PC_ARG_DOUBLE: rc = pc_args_add_double(to, v.d); break;
    case PC_ARG_BYTES: rc = pc_args_add_bytes(to, v.data, v.size); break;
    default: rc = pc_args_add_str(to, v.data); break;
    }
    pc__p_m_val_clear(&v);
    return rc;
}

PYCONC_API pc_proxy_value pc_proxy_none(void) {
    pc_proxy_value v;
    memset(&v, 0, sizeof v);
    return v;
}
PYCONC_API pc_proxy_value pc_proxy_int(int64_t i) {
    pc_proxy_value v = pc_proxy_none();
    v.type = PC_ARG_INT;
    v.i = i;
    return v;
}
PYCONC_API pc_proxy_value pc_proxy_double(double d) {
    pc_proxy_value v = pc_proxy_none();
    v.type = PC_ARG_DOUBLE;
    v.d = d;
    return v;
}
PYCONC_API pc_proxy_value pc_proxy_bytes(const void *data, size_t size) {
    pc_proxy_value v = pc_proxy_none();
    v.type = PC_ARG_BYTES;
    v.data = data;
    v.size = size;
    return v;
}
PYCONC_API pc_proxy_value pc_proxy_str(const char *s) {
    pc_proxy_value v = pc_proxy_none();
    v.type = PC_ARG_STR;
    v.data = s;
    v.size = s ? strlen(s) : 0;
    return v;
}
PYCONC_API void pc_proxy_value_free(pc_proxy_value *v) {
    if (!v) return;
    pc__free((void *)(uintptr_t)v->data);
    if (v->type == PC_ARG_PROXY) pc_proxy_free(v->proxy);
    *v = pc_proxy_none();
}

// >>I.ring: rings in shared memory for a proxy on the same machine
// A proxy's connection over a unix socket asks, as its first request
// (after the authkey handshake: nothing unauthenticated gets this far),
// for rings: the server makes one shared mapping (an anonymous raw Array)
// of two single-producer single-consumer rings (// >>A.ring), requests in its
// task ring and replies in its result ring, and sends it with the reply
// (SCM_RIGHTS). From then on a request or a reply is a record in a ring;
// one over half a ring, or holding descriptors, goes on the socket,
// announced by a pipe record at its place. A side waiting for a record
// spins a few microseconds (with more than one CPU to run on: on one, the
// other side cannot move while this one spins), then yields the CPU
// between looks for a while, then sleeps on the ring's event count (a
// futex: a wake-up is one system call) for up to PC__P_M_NAP_S, then in a
// read of the socket: a byte there is the other side's wake-up, its end of
// file the other side's end. The yields are there because the kernel
// often wakes the other side onto this side's CPU (the waker is about to
// sleep): a spin would hold it off, and a sleep costs a futex wake and
// wait on top of the switch, where a yield runs it at once; a call then
// costs half as much, on one CPU or two (bench_manager). A wait that found
// nothing that way, or found it only after a yield let a third thread run
// (the CPUs are busy: then a sleeper, woken, would have run first), skips
// spinning and yielding for its next 1, 3, 7 ... 63 waits. So a call whose peer is
// awake makes no system call or only yields, a dead server is seen within
// the nap or at once (never a hang), and an idle connection sleeps in the
// kernel, for no CPU. A batch keeps to its socket (it pipelines already).
#define PC__P_M_SPIN_S 4e-6
#define PC__P_M_YIELD_S 50e-6
#define PC__P_M_NAP_S 2e-3
#define PC__P_M_RINGS_ASK "__rings__"
#define PC__P_M_KEEP ((size_t)1 << 20)  // a buffer grown past this is let go after use

typedef struct pc__p_m_shm {
    pc__p_pp_chan chan;             // task: requests; result: replies
    // Set by a side asleep in the socket: [0] the server, [1] the client.
    // The other side that takes it (1 -> 0) owes it a byte on the socket.
    uint32_t deep[2][16];
} pc__p_m_shm;

typedef struct pc__p_m_ring {       // one side's view of the mapping
    pc_connection *conn;            // borrowed: large messages, wake-ups, the end
    pc__p_pp_ring *in, *out;
    unsigned char *in_data, *out_data;
    uint32_t *in_deep, *out_deep;   // this side's flag, the other side's
    int spin;                       // more than one CPU to run on
    unsigned misses, skip;          // looks in a row that found nothing; waits to sleep at once
    pc__p_buf buf;                  // a message being read or written
    pc_mp_array *mine;              // the server's mapping
    pc_args *pack;                  // the client's: the reply that brought the mapping
} pc__p_m_ring;

static pc__p_m_ring *pc__p_m_ring_new(pc_connection *conn, pc__p_m_shm *shm, int server) {
    pc__p_m_ring *g = (pc__p_m_ring *)pc__calloc(1, sizeof *g);
    if (!g) return NULL;
    pc__p_pp_chan *ch = &shm->chan;
    g->conn = conn;
    g->in = server ? &ch->task : &ch->result;
    g->out = server ? &ch->result : &ch->task;
    g->in_data = server ? ch->task_data : ch->result_data;
    g->out_data = server ? ch->result_data : ch->task_data;
    g->in_deep = shm->deep[server ? 0 : 1];
    g->out_deep = shm->deep[server ? 1 : 0];
    g->spin = pc_process_cpu_count() > 1;
    return g;
}

static void pc__p_m_ring_free(pc__p_m_ring *g) {
    if (!g) return;
    pc__free(g->buf.p);
    pc_mp_array_free(g->mine);
    pc_args_free(g->pack);
    pc__free(g);
}

// Append a record and wake the other side if it sleeps. The rings hold
// one call at a time (a side reads the record before it answers), so a
// full one means the other side is out of step.
static int pc__p_m_ring_put(pc__p_m_ring *g, uint32_t kind, const void *p, size_t n) {
    static const unsigned char bell = 0;
    if (!pc__p_pp_ring_put(g->out, g->out_data, kind, p, n))
        return pc__error(PC_OS, "the manager's ring is full: the other side is out of step");
    pc__evc_notify(&g->out->data, 1);
    // After the store of tail, as its sleeper sets the flag before it
    // looks at tail (all sequentially consistent): one of the two sees
    // the other.
    if (__atomic_load_n(g->out_deep, __ATOMIC_SEQ_CST) &&
        __atomic_exchange_n(g->out_deep, 0u, __ATOMIC_SEQ_CST))
        return pc__p_os_write_buf(g->conn->fd, g->conn->is_socket, &bell, 1);
    return PC_OK;
}

// Send pack a: a record, or (large, or holding descriptors) a pipe record
// and the message on the socket.
static int pc__p_m_ring_send(pc__p_m_ring *g, const pc_args *a) {
    pc__p_buf *b = &g->buf;
    int fds[1], has_fds = pc__p_args_has_fds(a), rc = PC_OK;
    size_t nfds = 0;
    b->len = b->pos = 0;
    b->bad = 0;
    if (!has_fds) {
        pc__p_buf_u32(b, PC__ARGS_MAGIC);
        rc = pc__p_args_encode(a, b, fds, &nfds, NULL);
        if (rc == PC_OK && b->bad) rc = PC_NOMEM;
        if (rc == PC_OK && b->len <= PC__PP_REC_MAX)
            return pc__p_m_ring_put(g, PC__PP_REC_MSG, b->p, b->len);
    }
    if (rc == PC_OK) rc = pc__p_m_ring_put(g, PC__PP_REC_PIPE, NULL, 0);
    if (rc == PC_OK)
        rc = has_fds ? pc_connection_send_args(g->conn, a)
                     : pc__p_frame_send_fds(g->conn->fd, g->conn->is_socket, b->p, b->len, NULL, 0);
    if (b->cap > PC__P_M_KEEP) {
        pc__free(b->p);
        memset(b, 0, sizeof *b);
    }
    return rc;
}

// Put [x, y, str, the items of tail (may be NULL)] as one message, without
// building that pack: a request [id, object, method, arguments...] or a
// reply [id, status, message, results...]. tail must hold no descriptors.
static int pc__p_m_ring_send_parts(pc__p_m_ring *g, int64_t x, int64_t y, const char *str,
                                   const pc_args *tail) {
    pc__p_buf *b = &g->buf;
    int fds[1];
    size_t nfds = 0, n = tail ? pc_args_len(tail) : 0;
    b->len = b->pos = 0;
    b->bad = 0;
    pc__p_buf_u32(b, PC__ARGS_MAGIC);
    pc__p_buf_u32(b, (uint32_t)(3 + n));
    pc__p_buf_u8(b, PC_ARG_INT);
    pc__p_buf_u64(b, (uint64_t)x);
    pc__p_buf_u8(b, PC_ARG_INT);
    pc__p_buf_u64(b, (uint64_t)y);
    pc__p_buf_u8(b, PC_ARG_STR);
    pc__p_buf_blob(b, str, strlen(str));
    size_t at = b->len;
    int rc = tail ? pc__p_args_encode(tail, b, fds, &nfds, NULL) : PC_OK;
    if (rc == PC_OK && b->bad) rc = PC_NOMEM;
    if (rc) return rc;
    if (tail) {                     // its items follow the three: drop its count
        memmove(b->p + at, b->p + at + 4, b->len - at - 4);
        b->len -= 4;
    }
    if (b->len <= PC__PP_REC_MAX) return pc__p_m_ring_put(g, PC__PP_REC_MSG, b->p, b->len);
    rc = pc__p_m_ring_put(g, PC__PP_REC_PIPE, NULL, 0);
    if (rc == PC_OK)
        rc = pc__p_frame_send_fds(g->conn->fd, g->conn->is_socket, b->p, b->len, NULL, 0);
    if (b->cap > PC__P_M_KEEP) {
        pc__free(b->p);
        memset(b, 0, sizeof *b);
    }
    return rc;
}

// Look for a record while awake: spin (with another CPU), then yield
// between looks. 1: found; 0: not; -1: found, but a yield gave the CPU to
// a third thread for longer than the whole look (the CPUs are busy: a
// sleeper woken by the record would have been run before that thread).
static int pc__p_m_ring_look_awake(pc__p_m_ring *g) {
    return pc__p_look_awake(pc__p_pp_ring_ready_look, g->in, g->spin, PC__P_M_SPIN_S,
                            PC__P_M_YIELD_S);
}

// Wait until the in ring holds a record: look while awake, nap on its
// event count, then sleep in the socket. PC_OK: look again; else the
// other side ended.
static int pc__p_m_ring_wait(pc__p_m_ring *g) {
    if (g->skip) {
        g->skip--;
    } else {
        int found = pc__p_m_ring_look_awake(g);
        if (found > 0) {
            g->misses = 0;
            return PC_OK;
        }
        if (g->misses < 6) g->misses++;
        g->skip = (1u << g->misses) - 1;
        if (found) return PC_OK;
    }
    double nap = pc_monotonic() + PC__P_M_NAP_S;
    for (;;) {
        uint32_t key = pc__evc_prepare(&g->in->data);
        if (pc__p_pp_ring_ready(g->in)) return PC_OK;
        if (pc__evc_wait(&g->in->data, key, nap) == PC_TIMEOUT) break;
    }
    __atomic_store_n(g->in_deep, 1u, __ATOMIC_SEQ_CST);
    if (pc__p_pp_ring_ready(g->in) && __atomic_exchange_n(g->in_deep, 0u, __ATOMIC_SEQ_CST))
        return PC_OK;
    // The other side took the flag (its byte comes), or will; or it ends.
    unsigned char bell;
    int rc = pc__p_conn_body(g->conn, &bell, 1, INFINITY);
    if (rc == PC_OS && errno == EIO) return pc__error(PC_EOF, "connection closed by peer");
    return rc;
}

static int pc__p_m_wire_recv(pc_connection *c, pc_args **out_req);        // >>I.wire

// Receive the next pack (the server reads a large one with its size limit).
static int pc__p_m_ring_recv(pc__p_m_ring *g, int server, pc_args **out) {
    for (;;) {
        uint32_t kind = 0;
        int got = pc__p_pp_ring_get(g->in, g->in_data, &kind, &g->buf);
        if (got < 0 || (got && kind != PC__PP_REC_MSG && kind != PC__PP_REC_PIPE))
            return pc__error(PC_OS, "the manager's ring holds a malformed record");
        if (got && kind == PC__PP_REC_PIPE)
            return server ? pc__p_m_wire_recv(g->conn, out) : pc_connection_recv_args(g->conn, out);
        if (got) {
            int rc = pc__p_args_from_bytes(g->buf.p, g->buf.len, NULL, 0, out);
            if (g->buf.cap > PC__P_M_KEEP) {
                pc__free(g->buf.p);
                memset(&g->buf, 0, sizeof g->buf);
            }
            return rc;
        }
        int rc = pc__p_m_ring_wait(g);
        if (rc) return rc;
    }
}

// The server's side. The connection the calling thread serves, once it
// has rings (NULL: its socket).
static PC__TLS pc__p_m_ring *pc__p_m_srv_ring;
static int pc__p_m_took_afresh(void);                                    // >>I.sync

static int pc__p_m_ring_asked(const pc_args *req) {
    int64_t id = -1;
    const char *m;
    return !pc__p_m_srv_ring && pc_args_get_int(req, 1, &id) == PC_OK && id == 0 &&
           pc_args_get_str(req, 2, &m) == PC_OK && strcmp(m, PC__P_M_RINGS_ASK) == 0;
}

// The mapping, its event counts set up for two processes.
static pc__p_m_ring *pc__p_m_ring_make(pc_connection *c) {
    pc_mp_array_desc ad;
    memset(&ad, 0, sizeof ad);
    ad.typecode = "q";
    ad.length = (sizeof(pc__p_m_shm) + 7) / 8;
    pc_mp_array *arr = pc_mp_raw_array_new(&ad);
    if (!arr) return NULL;
    pc__p_m_shm *shm = (pc__p_m_shm *)pc_mp_array_get_obj(arr);
    pc__evc_init(&shm->chan.task.data, 1);
    pc__evc_init(&shm->chan.result.data, 1);
    pc__p_m_ring *g = pc__p_m_ring_new(c, shm, 1);
    if (!g) pc_mp_array_free(arr);
    else g->mine = arr;
    return g;
}

static size_t pc__p_m_gathered(void);                                    // >>I.wire

// Answer the ask: [id, 0, "", the mapping], then use the rings; or an
// error (no rings here: a TCP connection, no futex, or requests sent
// behind the ask), and the socket stays.
static int pc__p_m_ring_accept(pc_connection *c, const pc_args *req) {
    int64_t rid = 0;
    pc_args_get_int(req, 0, &rid);
    int rc = PC_OK;
    pc__p_m_ring *g = NULL;
    if (!PC__PP_RINGS || !pc__p_conn_is_unix(c) || pc__p_m_gathered() || pc__p_conn_buffered(c))
        rc = pc__error(PC_VALUE, "no rings on this connection");
    else if (!(g = pc__p_m_ring_make(c)))
        rc = pc_last_error_code() ? pc_last_error_code() : PC_NOMEM;
    pc_args *head = pc_args_new();
    int ok = head && pc_args_add_int(head, rid) == PC_OK && pc_args_add_int(head, rc) == PC_OK &&
             pc_args_add_str(head, rc ? pc_last_error() : "") == PC_OK &&
             (rc || pc_args_add_mp_array(head, g->mine) == PC_OK);
    int sent = ok ? pc_connection_send_args(c, head) : PC_NOMEM;
    pc_args_free(head);
    if (sent || rc) pc__p_m_ring_free(g);
    else pc__p_m_srv_ring = g;
    return sent;
}

// A request's reply on the rings. A lock taken afresh for a client that
// died waiting for it is let go as it came (// >>I.sync), as when a reply
// cannot be written: so look whether the client is still there. While a
// request is answered its socket carries nothing; readable is its end.
static int pc__p_m_ring_gone(const pc__p_m_ring *g) {
    return pc__p_m_took_afresh() && pc__p_os_readable_now(g->conn->fd);
}

static int pc__p_m_ring_reply(const pc_args *head) {
    pc__p_m_ring *g = pc__p_m_srv_ring;
    if (pc__p_m_ring_gone(g)) return pc__error(PC_EOF, "the client is gone");
    return pc__p_m_ring_send(g, head);
}

// The same for a reply [rid, status, message, results...] in parts.
static int pc__p_m_ring_answer(int64_t rid, int status, const char *msg, const pc_args *results) {
    pc__p_m_ring *g = pc__p_m_srv_ring;
    if (!pc__p_m_took_afresh()) return pc__p_m_ring_send_parts(g, rid, status, msg, results);
    char kept[256];                 // msg may be pc_last_error's, which a look may change
    snprintf(kept, sizeof kept, "%s", msg);
    if (pc__p_m_ring_gone(g)) return pc__error(PC_EOF, "the client is gone");
    return pc__p_m_ring_send_parts(g, rid, status, kept, results);
}

// The connection's thread ends.
static void pc__p_m_ring_end(void) {
    pc__p_m_ring_free(pc__p_m_srv_ring);
    pc__p_m_srv_ring = NULL;
}

// >>I.server: the server process: a listener, a thread per connection
// Each object has a kind (a row of pc__p_m_kinds: its typeid, how it is
// made, its methods). Dicts keep items with keys, in insertion order, lists
// items without. One lock serialises every request, as the objects are
// small and each request is short; a kind whose method blocks (a lock's
// acquire) lets go of it while it waits: objects stay where they are
// (the table holds pointers), and none is freed while the server runs.
typedef struct pc__p_m_item {
    char *key;                  // dicts only
    pc__p_m_val v;
} pc__p_m_item;

typedef struct pc__p_m_obj pc__p_m_obj;
typedef struct pc__p_m_keyix pc__p_m_keyix;     // >>I.finish

typedef struct pc__p_m_kind {
    const char *name;           // the typeid a proxy names ("dict", "list" ...)
    // Set up a new object from the constructor's arguments (request items
    // from 4 on); NULL: it starts empty.
    int (*init)(pc__p_m_obj *o, const pc_args *req);
    // Method m with its arguments from request item 3 on; results to reply.
    int (*call)(pc__p_m_obj *o, const char *m, const pc_args *req, pc_args *reply);
} pc__p_m_kind;

struct pc__p_m_obj {
    int64_t id;
    const pc__p_m_kind *kind;
    pc__p_m_item *items;        // dict, list
    size_t n, cap;
    void *state;                // what other kinds keep
    // A dict's or Namespace's keys by hash (// >>I.finish; NULL: a small
    // one, scanned). With it, items[] may hold holes (key NULL) until the
    // next call that walks the items in order.
    pc__p_m_keyix *index;
};

typedef struct pc__p_m_server {
    pc_lock lock;
    pc__p_m_obj **objs;
    size_t nobjs, cap;
    int64_t next_id;
    pc_listener *listener;
    int stopping;               // atomic: a shutdown request came
} pc__p_m_server;

static pc__p_m_server pc__p_m_srv;  // one server per server process

// A value a request stores: a nested proxy must name an object here.
static int pc__p_m_val_take(const pc_args *a, size_t i, pc__p_m_val *out);

static pc__p_m_obj *pc__p_m_find_obj(int64_t id) {
    // Ids are given in order and objects never leave: a binary search.
    size_t lo = 0, hi = pc__p_m_srv.nobjs;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (pc__p_m_srv.objs[mid]->id == id) return pc__p_m_srv.objs[mid];
        if (pc__p_m_srv.objs[mid]->id < id) lo = mid + 1;
        else hi = mid;
    }
    return NULL;
}

// The dict's index, defined in >>I.finish (PC__P_M_SCAN: none, scan the items).
#define PC__P_M_SCAN ((size_t)-2)
static size_t pc__p_m_index_find(pc__p_m_obj *o, const char *key);
static void pc__p_m_index_added(pc__p_m_obj *o);
static void pc__p_m_index_remove(pc__p_m_obj *o, size_t at, pc__p_m_val *out);
static void pc__p_m_dense(pc__p_m_obj *o);
static size_t pc__p_m_live(const pc__p_m_obj *o);

static size_t pc__p_m_find_key(pc__p_m_obj *o, const char *key) {
    size_t at = pc__p_m_index_find(o, key);
    if (at != PC__P_M_SCAN) return at;
    for (size_t i = 0; i < o->n; i++)
        if (strcmp(o->items[i].key, key) == 0) return i;
    return (size_t)-1;
}


// Insert or replace key's value (v is moved into the dict on success).
static int pc__p_m_dict_store(pc__p_m_obj *o, const char *key, pc__p_m_val *v) {
    size_t at = pc__p_m_find_key(o, key);
    if (at != (size_t)-1) {
        pc__p_m_val_clear(&o->items[at].v);
        o->items[at].v = *v;
        return PC_OK;
    }
    if (pc__grow(&o->items, &o->cap, o->n + 1, sizeof(pc__p_m_item), 0)) return PC_NOMEM;
    char *k = pc__strdup(key);
    if (!k) return PC_NOMEM;
    o->items[o->n].key = k;
    o->items[o->n++].v = *v;
    pc__p_m_index_added(o);
    return PC_OK;
}

// Remove item at (keeping the order), moving its value to out (may be NULL).
static void pc__p_m_remove(pc__p_m_obj *o, size_t at, pc__p_m_val *out) {
    if (o->index) { pc__p_m_index_remove(o, at, out); return; }     // a hole, in O(1)
    pc__free(o->items[at].key);
    if (out) *out = o->items[at].v;
    else pc__p_m_val_clear(&o->items[at].v);
    memmove(&o->items[at], &o->items[at + 1], (o->n - at - 1) * sizeof(pc__p_m_item));
    o->n--;
}

static int pc__p_m_key_error(const char *key) {
    return pc__error(PC_VALUE, "KeyError: '%s'", key);
}

// get and pop: [key] or [key, default value]; pop removes.
static int pc__p_m_dict_lookup(pc__p_m_obj *o, const pc_args *req, pc_args *reply, int pop) {
    const char *key;
    if (pc_args_get_str(req, 3, &key)) return pc__error(PC_VALUE, "the key is not a str");
    size_t at = pc__p_m_find_key(o, key);
    if (at == (size_t)-1 && pc_args_len(req) < 6) return pc__p_m_key_error(key);
    pc__p_m_val v;
    int rc = at == (size_t)-1 ? pc__p_m_val_take(req, 4, &v) : PC_OK;
    if (rc) return rc;
    if (at == (size_t)-1) {
        rc = pc__p_m_val_write(reply, &v);
        pc__p_m_val_clear(&v);
        return rc;
    }
    rc = pc__p_m_val_write(reply, &o->items[at].v);
    if (rc == PC_OK && pop) pc__p_m_remove(o, at, NULL);
    return rc;
}

static int pc__p_m_dict_set(pc__p_m_obj *o, const pc_args *req) {
    const char *key;
    pc__p_m_val v;
    if (pc_args_get_str(req, 3, &key)) return pc__error(PC_VALUE, "the key is not a str");
    int rc = pc__p_m_val_take(req, 4, &v);
    if (rc == PC_OK && (rc = pc__p_m_dict_store(o, key, &v))) pc__p_m_val_clear(&v);
    return rc;
}

static int pc__p_m_dict_update(pc__p_m_obj *o, const pc_args *req) {
    size_t n = pc_args_len(req);
    if ((n - 3) % 2) return pc__error(PC_VALUE, "update: a key without a value");
    for (size_t i = 3; i < n; i += 2)       // all or nothing: check first
        if (pc_args_type(req, i) != PC_ARG_STR || pc_args_type(req, i + 1) < PC_ARG_INT ||
            pc_args_type(req, i + 1) > PC_ARG_STR)
            return pc__error(PC_VALUE, "update: item %zu is not a str key and a value", i - 3);
    for (size_t i = 3; i < n; i += 2) {
        const char *key;
        pc__p_m_val v;
        pc_args_get_str(req, i, &key);
        int rc = pc__p_m_val_from_item(req, i + 1, &v);
        if (rc == PC_OK && (rc = pc__p_m_dict_store(o, key, &v))) pc__p_m_val_clear(&v);
        if (rc) return rc;
    }
    return PC_OK;
}

static int pc__p_m_wire_dict_call(pc__p_m_obj *o, const char *m, const pc_args *req,
                                  pc_args *reply, int *out_handled);  // >>I.wire
// The methods of >>I.more: PC__P_M_NOT_MINE for a method they lack.
#define PC__P_M_NOT_MINE (-1)
static int pc__p_m_dict_more(pc__p_m_obj *o, const char *m, const pc_args *req, pc_args *reply);
static int pc__p_m_list_more(pc__p_m_obj *o, const char *m, const pc_args *req, pc_args *reply);

static int pc__p_m_dict_call(pc__p_m_obj *o, const char *m, const pc_args *req, pc_args *reply) {
    const char *key;
    int handled = 0, wrc = pc__p_m_wire_dict_call(o, m, req, reply, &handled);
    if (handled) return wrc;
    if (strcmp(m, "len") == 0) return pc_args_add_int(reply, (int64_t)pc__p_m_live(o));
    if (strcmp(m, "set") && strcmp(m, "get") && strcmp(m, "pop") && strcmp(m, "update") &&
        strcmp(m, "del") && strcmp(m, "contains"))
        pc__p_m_dense(o);               // a call that walks the items in order
    if (strcmp(m, "set") == 0) return pc__p_m_dict_set(o, req);
    if (strcmp(m, "get") == 0) return pc__p_m_dict_lookup(o, req, reply, 0);
    if (strcmp(m, "pop") == 0) return pc__p_m_dict_lookup(o, req, reply, 1);
    if (strcmp(m, "update") == 0) return pc__p_m_dict_update(o, req);
    if (strcmp(m, "keys") == 0) {
        for (size_t i = 0; i < o->n; i++)
            if (pc_args_add_str(reply, o->items[i].key)) return PC_NOMEM;
        return PC_OK;
    }
    if (strcmp(m, "clear") == 0) {
        while (o->n) pc__p_m_remove(o, o->n - 1, NULL);
        return PC_OK;
    }
    int more = pc__p_m_dict_more(o, m, req, reply);
    if (more != PC__P_M_NOT_MINE) return more;
    if (strcmp(m, "del") != 0 && strcmp(m, "contains") != 0)
        return pc__error(PC_VALUE, "dict has no method '%s'", m);
    if (pc_args_get_str(req, 3, &key)) return pc__error(PC_VALUE, "the key is not a str");
    size_t at = pc__p_m_find_key(o, key);
    if (m[0] == 'c') return pc_args_add_int(reply, at != (size_t)-1);
    if (at == (size_t)-1) return pc__p_m_key_error(key);
    pc__p_m_remove(o, at, NULL);
    return PC_OK;
}

// The index of request item 3 in a list of n (negative: from the end).
static int pc__p_m_index(const pc__p_m_obj *o, const pc_args *req, size_t *out) {
    int64_t i;
    if (pc_args_get_int(req, 3, &i)) return pc__error(PC_VALUE, "the index is not an int");
    if (i < 0) i += (int64_t)o->n;
    if (i < 0 || (uint64_t)i >= o->n) return pc__error(PC_VALUE, "IndexError: list index out "
                                                                 "of range");
    *out = (size_t)i;
    return PC_OK;
}

static int pc__p_m_list_add(pc__p_m_obj *o, pc__p_m_val *v) {
    if (pc__grow(&o->items, &o->cap, o->n + 1, sizeof(pc__p_m_item), 0)) return PC_NOMEM;
    o->items[o->n].key = NULL;
    o->items[o->n++].v = *v;
    return PC_OK;
}

static int pc__p_m_list_extend(pc__p_m_obj *o, const pc_args *req) {
    size_t n = pc_args_len(req);
    for (size_t i = 3; i < n; i++)
        if (pc_args_type(req, i) < PC_ARG_INT || pc_args_type(req, i) > PC_ARG_STR)
            return pc__error(PC_VALUE, "extend: item %zu is not an int, float, bytes or str",
                             i - 3);
    if (pc__grow(&o->items, &o->cap, o->n + (n - 3), sizeof(pc__p_m_item), 0)) return PC_NOMEM;
    for (size_t i = 3; i < n; i++) {
        pc__p_m_val v;
        int rc = pc__p_m_val_from_item(req, i, &v);
        if (rc) return rc;
        pc__p_m_list_add(o, &v);              // room made above
    }
    return PC_OK;
}

static int pc__p_m_list_call(pc__p_m_obj *o, const char *m, const pc_args *req, pc_args *reply) {
    size_t at = 0;
    pc__p_m_val v;
    int rc;
    if (strcmp(m, "len") == 0) return pc_args_add_int(reply, (int64_t)o->n);
    if (strcmp(m, "append") == 0) {
        if ((rc = pc__p_m_val_take(req, 3, &v))) return rc;
        if ((rc = pc__p_m_list_add(o, &v))) pc__p_m_val_clear(&v);
        return rc;
    }
    if (strcmp(m, "extend") == 0) return pc__p_m_list_extend(o, req);
    if (strcmp(m, "reverse") == 0) {
        for (size_t i = 0; i < o->n / 2; i++) {
            pc__p_m_item t = o->items[i];
            o->items[i] = o->items[o->n - 1 - i];
            o->items[o->n - 1 - i] = t;
        }
        return PC_OK;
    }
    if ((rc = pc__p_m_list_more(o, m, req, reply)) != PC__P_M_NOT_MINE) return rc;
    if (strcmp(m, "get") != 0 && strcmp(m, "set") != 0 && strcmp(m, "pop") != 0)
        return pc__error(PC_VALUE, "list has no method '%s'", m);
    if ((rc = pc__p_m_index(o, req, &at))) return rc;
    if (m[0] == 'g') return pc__p_m_val_write(reply, &o->items[at].v);
    if (m[0] == 'p') {
        if ((rc = pc__p_m_val_write(reply, &o->items[at].v)) == PC_OK) pc__p_m_remove(o, at, NULL);
        return rc;
    }
    if ((rc = pc__p_m_val_take(req, 4, &v))) return rc;
    pc__p_m_val_clear(&o->items[at].v);
    o->items[at].v = v;
    return PC_OK;
}

static const pc__p_m_kind pc__p_m_dict_kind = {"dict", NULL, pc__p_m_dict_call};
static const pc__p_m_kind pc__p_m_list_kind = {"list", NULL, pc__p_m_list_call};

// The kinds of >>I.data.
static int pc__p_m_ns_call(pc__p_m_obj *o, const char *m, const pc_args *req, pc_args *reply);
static int pc__p_m_value_init(pc__p_m_obj *o, const pc_args *req);
static int pc__p_m_value_call(pc__p_m_obj *o, const char *m, const pc_args *req, pc_args *reply);
static int pc__p_m_array_init(pc__p_m_obj *o, const pc_args *req);
static int pc__p_m_array_call(pc__p_m_obj *o, const char *m, const pc_args *req, pc_args *reply);
static int pc__p_m_set_call(pc__p_m_obj *o, const char *m, const pc_args *req, pc_args *reply);
static const pc__p_m_kind *pc__p_m_reg_find(const char *name);
static int pc__p_m_reg_unpack(const pc_args *a, size_t i);
static void pc__p_m_reg_destroy_all(void);
static const pc__p_m_kind pc__p_m_ns_kind = {"Namespace", NULL, pc__p_m_ns_call};
static const pc__p_m_kind pc__p_m_value_kind = {"Value", pc__p_m_value_init, pc__p_m_value_call};
static const pc__p_m_kind pc__p_m_array_kind = {"Array", pc__p_m_array_init, pc__p_m_array_call};
static const pc__p_m_kind pc__p_m_set_kind = {"set", NULL, pc__p_m_set_call};
// The kinds of // >>I.sync (their methods are there), in this order.
enum {
    PC__P_M_LOCK, PC__P_M_RLOCK, PC__P_M_SEMAPHORE, PC__P_M_BSEMAPHORE, PC__P_M_EVENT,
    PC__P_M_CONDITION, PC__P_M_BARRIER, PC__P_M_QUEUE, PC__P_M_JQUEUE
};
typedef struct pc__p_m_client pc__p_m_client;
static int pc__p_m_sync_init(pc__p_m_obj *o, const pc_args *req);
static int pc__p_m_sync_call(pc__p_m_obj *o, const char *m, const pc_args *req, pc_args *reply);
static pc__p_m_client *pc__p_m_client_new(void);
static void pc__p_m_client_answered(pc__p_m_client *me);
static void pc__p_m_client_gone(pc__p_m_client *me);
static const pc__p_m_kind pc__p_m_sync_kinds[] = {
    {"Lock", pc__p_m_sync_init, pc__p_m_sync_call},
    {"RLock", pc__p_m_sync_init, pc__p_m_sync_call},
    {"Semaphore", pc__p_m_sync_init, pc__p_m_sync_call},
    {"BoundedSemaphore", pc__p_m_sync_init, pc__p_m_sync_call},
    {"Event", pc__p_m_sync_init, pc__p_m_sync_call},
    {"Condition", pc__p_m_sync_init, pc__p_m_sync_call},
    {"Barrier", pc__p_m_sync_init, pc__p_m_sync_call},
    {"Queue", pc__p_m_sync_init, pc__p_m_sync_call},
    {"JoinableQueue", pc__p_m_sync_init, pc__p_m_sync_call},
};

// Every kind the server makes.
static const pc__p_m_kind *const pc__p_m_kinds[] = {
    &pc__p_m_dict_kind,
    &pc__p_m_list_kind,
    &pc__p_m_ns_kind,
    &pc__p_m_value_kind,
    &pc__p_m_array_kind,
    &pc__p_m_set_kind,
    &pc__p_m_sync_kinds[PC__P_M_LOCK],
    &pc__p_m_sync_kinds[PC__P_M_RLOCK],
    &pc__p_m_sync_kinds[PC__P_M_SEMAPHORE],
    &pc__p_m_sync_kinds[PC__P_M_BSEMAPHORE],
    &pc__p_m_sync_kinds[PC__P_M_EVENT],
    &pc__p_m_sync_kinds[PC__P_M_CONDITION],
    &pc__p_m_sync_kinds[PC__P_M_BARRIER],
    &pc__p_m_sync_kinds[PC__P_M_QUEUE],
    &pc__p_m_sync_kinds[PC__P_M_JQUEUE],
};

static const pc__p_m_kind *pc__p_m_kind_find(const char *name) {
    for (size_t i = 0; i < sizeof pc__p_m_kinds / sizeof pc__p_m_kinds[0]; i++)
        if (strcmp(pc__p_m_kinds[i]->name, name) == 0) return pc__p_m_kinds[i];
    return pc__p_m_reg_find(name);
}

// create: [typeid, constructor arguments...]; replies with the new id.
static int pc__p_m_create(const pc_args *req, pc_args *reply) {
    const char *name;
    const pc__p_m_kind *kind;
    if (pc_args_get_str(req, 3, &name) != PC_OK)
        return pc__error(PC_VALUE, "create: the typeid is not a str");
    if (!(kind = pc__p_m_kind_find(name)))
        return pc__error(PC_VALUE, "create: unknown typeid '%s'", name);
    pc__p_m_server *s = &pc__p_m_srv;
    if (pc__grow(&s->objs, &s->cap, s->nobjs + 1, sizeof(pc__p_m_obj *), 0)) return PC_NOMEM;
    pc__p_m_obj *o = (pc__p_m_obj *)pc__calloc(1, sizeof *o);
    if (!o) return PC_NOMEM;
    o->kind = kind;
    int rc = kind->init ? kind->init(o, req) : PC_OK;
    if (rc == PC_OK) rc = pc_args_add_int(reply, s->next_id + 1);
    if (rc) { pc__free(o); return rc; }
    o->id = ++s->next_id;
    s->objs[s->nobjs++] = o;
    return PC_OK;
}

// Run one request under the server's lock; results go to reply.
static int pc__p_m_dispatch(int64_t id, const char *m, const pc_args *req, pc_args *reply) {
    if (id == 0 && strcmp(m, "create") == 0) return pc__p_m_create(req, reply);
    if (id == 0 && strcmp(m, "shutdown") == 0) {
        __atomic_store_n(&pc__p_m_srv.stopping, 1, __ATOMIC_RELEASE);
        return PC_OK;
    }
    pc__p_m_obj *o = pc__p_m_find_obj(id);
    if (!o) return pc__error(PC_VALUE, "no object with id %lld", (long long)id);
    return o->kind->call(o, m, req, reply);
}

static int pc__p_m_wire_reply(pc_connection *c, const pc_args *head);     // >>I.wire

// Answer one received request on c. Returns what sending the reply gave.
static int pc__p_m_serve_one(pc_connection *c, const pc_args *req) {
    int64_t rid = 0, id = 0;
    const char *m = NULL;
    int rc;
    pc_args *reply = pc_args_new();
    if (!reply) return PC_NOMEM;
    if (pc_args_get_int(req, 0, &rid) || pc_args_get_int(req, 1, &id) ||
        pc_args_get_str(req, 2, &m)) {
        rc = pc__error(PC_VALUE, "malformed request: not [id, object, method, ...]");
    } else {
        pc_lock_acquire(&pc__p_m_srv.lock, PC_FOREVER);
        rc = pc__p_m_dispatch(id, m, req, reply);
        pc_lock_release(&pc__p_m_srv.lock);
    }
    if (pc__p_m_srv_ring && !pc__p_args_has_fds(reply)) {     // >>I.ring: no pack to build
        rc = pc__p_m_ring_answer(rid, rc, rc ? pc_last_error() : "", rc ? NULL : reply);
        pc_args_free(reply);
        return rc;
    }
    pc_args *head = pc_args_new();
    if (!head) { pc_args_free(reply); return PC_NOMEM; }
    int ok = pc_args_add_int(head, rid) == PC_OK && pc_args_add_int(head, rc) == PC_OK &&
             pc_args_add_str(head, rc ? pc_last_error() : "") == PC_OK;
    for (size_t i = 0; ok && rc == PC_OK && i < pc_args_len(reply); i++)
        ok = pc__p_m_copy_item(head, reply, i) == PC_OK;
    rc = ok ? pc__p_m_wire_reply(c, head) : PC_NOMEM;     // >>I.wire: replies coalesce
    pc_args_free(head);
    pc_args_free(reply);
    return rc;
}

static int pc__p_m_wire_recv(pc_connection *c, pc_args **out_req);        // >>I.wire
static int pc__p_m_wire_refuse(pc_connection *c, int rc, const pc_args *req);
static void pc__p_m_wire_end(void);

// A connection's thread: requests until the client leaves or sends a bad
// frame. A message that is not a pack gets an error reply; the server lives.
static int pc__p_m_serve_conn(void *arg) {
    pc_connection *c = (pc_connection *)arg;
    pc__p_m_client *me = pc__p_m_client_new();     // what it holds (// >>I.sync)
    if (!me) { pc_connection_free(c); return 0; }
    for (;;) {
        pc_args *req = NULL;
        int rc = pc__p_m_srv_ring ? pc__p_m_ring_recv(pc__p_m_srv_ring, 1, &req)  // >>I.ring
                                  : pc__p_m_wire_recv(c, &req);   // >>I.wire: a size limit
        if (rc == PC_VALUE || rc == PC_NOMEM) {
            rc = pc__p_m_wire_refuse(c, rc, req);  // the error, to the request's id if known
            pc_args_free(req);
        } else if (rc == PC_OK) {
            rc = pc__p_m_ring_asked(req) ? pc__p_m_ring_accept(c, req) : pc__p_m_serve_one(c, req);
            pc_args_free(req);
        }
        if (rc == PC_OK) pc__p_m_client_answered(me);
        if (rc || __atomic_load_n(&pc__p_m_srv.stopping, __ATOMIC_ACQUIRE)) break;
    }
    if (__atomic_load_n(&pc__p_m_srv.stopping, __ATOMIC_ACQUIRE)) {
        // Wake the accept; the lock keeps the main thread from freeing the
        // listener while this closes it.
        pc_lock_acquire(&pc__p_m_srv.lock, PC_FOREVER);
        if (pc__p_m_srv.listener) pc_listener_close(pc__p_m_srv.listener);
        pc_lock_release(&pc__p_m_srv.lock);
    }
    pc__p_m_wire_end();
    pc__p_m_client_gone(me);
    pc_connection_free(c);
    return 0;
}

static void pc__p_m_serve_spawn(pc_connection *c) {
    pc_thread_desc td;
    memset(&td, 0, sizeof td);
    td.target = pc__p_m_serve_conn;
    td.arg = c;
    td.daemon = PC_DAEMON_YES;
    td.name = "manager-conn";
    pc_thread *t = pc_thread_new(&td);
    if (!t || pc_thread_start(t) != PC_OK) pc_connection_free(c);
    pc_thread_free(t);
}

static int pc__p_m_serve(const char *addr, pc_family fam, const void *key, size_t keylen,
                         pc_connection *back, int early);
static int pc__p_m_init_run(pc_args *a, size_t i, pc_args **out_pack);   // >>I.finish
static void pc__p_m_auth_warn(const pc_listener *l);                     // >>I.finish

// The server's target: args [str address, int family, bytes authkey,
// connection]; it answers [status, address or message] on the connection.
static int pc__p_m_server_main(void *arg) {
    pc_args *a = (pc_args *)arg;
    const char *addr;
    const void *key;
    size_t keylen;
    int64_t fam;
    pc_connection *back;
    if (pc_args_get_str(a, 0, &addr) || pc_args_get_int(a, 1, &fam) ||
        pc_args_get_bytes(a, 2, &key, &keylen) || pc_args_take_connection(a, 3, &back))
        return 1;
    int reg = pc__p_m_reg_unpack(a, 4);     // registered types (>>I.data)
    pc_args *init = NULL;                   // the initializer's pack (>>I.finish)
    if (reg == PC_OK) reg = pc__p_m_init_run(a, 5, &init);
    int rc = pc__p_m_serve(addr, (pc_family)fam, key, keylen, back, reg);
    pc_args_free(init);
    return rc ? 1 : 0;
}

// Listen at addr and serve until a shutdown request; back (may be NULL)
// is told [status, address or message] once listening, then closed;
// early is a failure found before (told in place of the address).
// Returns the failure, or PC_OK.
static int pc__p_m_serve(const char *addr, pc_family fam, const void *key, size_t keylen,
                         pc_connection *back, int early) {
    pc_listener_desc ld;
    memset(&ld, 0, sizeof ld);
    ld.address = addr[0] ? addr : NULL;
    ld.family = fam;
    ld.authkey = key;
    ld.authkey_size = keylen;
    pc_lock_init(&pc__p_m_srv.lock);
    pc__p_m_srv.listener = pc_listener_new(&ld);
    pc_args *r = back ? pc_args_new() : NULL;
    int rc = early ? early : pc__p_m_srv.listener ? PC_OK : pc_last_error_code();
    if (back && (!r || pc_args_add_int(r, rc) ||
        pc_args_add_str(r, rc ? pc_last_error() : pc_listener_address(pc__p_m_srv.listener)) ||
        pc_connection_send_args(back, r)))
        rc = rc ? rc : PC_OS;
    pc_args_free(r);
    pc_connection_free(back);
    while (rc == PC_OK && !__atomic_load_n(&pc__p_m_srv.stopping, __ATOMIC_ACQUIRE)) {
        pc_connection *c;
        int arc = pc_listener_accept(pc__p_m_srv.listener, &c);
        if (arc == PC_OK) pc__p_m_serve_spawn(c);
        else if (arc == PC_AUTH) pc__p_m_auth_warn(pc__p_m_srv.listener);   // >>I.finish
        else if (pc_listener_fileno(pc__p_m_srv.listener) < 0) break;
        else if (arc == PC_OS) pc_sleep(0.01);      // out of descriptors: no hot loop
    }
    pc_lock_acquire(&pc__p_m_srv.lock, PC_FOREVER);
    pc_listener_free(pc__p_m_srv.listener);
    pc__p_m_srv.listener = NULL;
    pc_lock_release(&pc__p_m_srv.lock);
    pc__p_m_reg_destroy_all();
    return rc;
}

// >>I.wire: compound dict operations in the server (one round trip each)
// A missing key with incr starts at 0, as collections.Counter's does.
static int pc__p_m_dict_setdefault(pc__p_m_obj *o, const pc_args *req, pc_args *reply) {
    const char *key;
    pc__p_m_val v;
    if (pc_args_get_str(req, 3, &key)) return pc__error(PC_VALUE, "the key is not a str");
    size_t at = pc__p_m_find_key(o, key);
    if (at != (size_t)-1) return pc__p_m_val_write(reply, &o->items[at].v);
    int rc = pc__p_m_val_read(req, 4, &v);
    if (rc) return rc;
    if ((rc = pc__p_m_val_write(reply, &v)) == PC_OK) rc = pc__p_m_dict_store(o, key, &v);
    if (rc) pc__p_m_val_clear(&v);
    return rc;
}

static const char *pc__p_m_type_name(int type) {
    switch (type) {
    case PC_ARG_NONE: return "NoneType";
    case PC_ARG_INT: return "int";
    case PC_ARG_DOUBLE: return "float";
    case PC_ARG_BYTES: return "bytes";
    default: return "str";
    }
}

// sum = have + delta, as Python's + on int and float (an int result past
// 64 bits is OverflowError: Python's ints have no bound, these do).
static int pc__p_m_add(const pc__p_m_val *have, const pc__p_m_val *delta, pc__p_m_val *sum) {
    int ok_have = have->type == PC_ARG_INT || have->type == PC_ARG_DOUBLE;
    int ok_delta = delta->type == PC_ARG_INT || delta->type == PC_ARG_DOUBLE;
    if (!ok_have || !ok_delta)
        return pc__error(PC_VALUE, "TypeError: unsupported operand type(s) for +: '%s' and '%s'",
                         pc__p_m_type_name(have->type), pc__p_m_type_name(delta->type));
    memset(sum, 0, sizeof *sum);
    if (have->type == PC_ARG_INT && delta->type == PC_ARG_INT) {
        sum->type = PC_ARG_INT;
        if (__builtin_add_overflow(have->i, delta->i, &sum->i))
            return pc__error(PC_VALUE, "OverflowError: %lld + %lld is past 64 bits",
                             (long long)have->i, (long long)delta->i);
        return PC_OK;
    }
    sum->type = PC_ARG_DOUBLE;
    sum->d = (have->type == PC_ARG_INT ? (double)have->i : have->d) +
             (delta->type == PC_ARG_INT ? (double)delta->i : delta->d);
    return PC_OK;
}

static int pc__p_m_dict_incr(pc__p_m_obj *o, const pc_args *req, pc_args *reply) {
    const char *key;
    pc__p_m_val delta, sum, zero;
    if (pc_args_get_str(req, 3, &key)) return pc__error(PC_VALUE, "the key is not a str");
    int rc = pc__p_m_val_read(req, 4, &delta);
    if (rc) return rc;
    size_t at = pc__p_m_find_key(o, key);
    memset(&zero, 0, sizeof zero);
    zero.type = PC_ARG_INT;
    rc = pc__p_m_add(at == (size_t)-1 ? &zero : &o->items[at].v, &delta, &sum);
    pc__p_m_val_clear(&delta);
    if (rc == PC_OK) rc = pc__p_m_val_write(reply, &sum);
    if (rc == PC_OK && at != (size_t)-1) o->items[at].v = sum;     // a number: nothing to free
    else if (rc == PC_OK) rc = pc__p_m_dict_store(o, key, &sum);
    return rc;
}

// A request's size limit: the server reads a longer one past, a piece
// at a time, and answers it with an error (so a forged or runaway length
// costs no memory), keeping the connection in step.
#ifndef PYCONC_MANAGER_MAX_REQUEST
#define PYCONC_MANAGER_MAX_REQUEST ((size_t)64 << 20)
#endif

// Read size bytes of the stream past, keeping the request id from its
// first bytes (a pack: magic, count, then [int id ...]) in *out_rid.
static int pc__p_m_skip_request(pc_connection *c, size_t size, int64_t *out_rid) {
    unsigned char chunk[4096];
    size_t first = size < 17 ? size : 17;
    int rc = pc__p_conn_body(c, chunk, first, INFINITY);
    if (rc == PC_OK && first == 17) {
        pc__p_buf b;
        memset(&b, 0, sizeof b);
        b.p = chunk;
        b.len = 17;
        uint32_t magic = pc__p_buf_get_u32(&b), count = pc__p_buf_get_u32(&b);
        unsigned type = pc__p_buf_get_u8(&b);
        int64_t rid = (int64_t)pc__p_buf_get_u64(&b);
        if (magic == PC__ARGS_MAGIC && count > 0 && type == (unsigned)PC_ARG_INT) *out_rid = rid;
    }
    for (size_t left = size - first; rc == PC_OK && left;) {
        size_t n = left < sizeof chunk ? left : sizeof chunk;
        rc = pc__p_conn_body(c, chunk, n, INFINITY);
        left -= n;
    }
    return rc;
}

// Receive one request (pc_connection_recv_args, with the size limit). A
// request over it is PC_VALUE with *out_req = [its id] (if it had one).
static int pc__p_m_wire_recv(pc_connection *c, pc_args **out_req) {
    size_t size;
    int64_t rid = 0;
    void *msg = NULL;
    *out_req = NULL;
    if (!c->readable) return pc__error(PC_OS, "the connection's stream is out of step");
    int rc = pc__p_conn_header_plain(c, &size, INFINITY);
    if (rc) return rc == PC_EOF ? rc : pc__p_conn_header_failed(c, rc);
    if (size > PYCONC_MANAGER_MAX_REQUEST) {
        if ((rc = pc__p_m_skip_request(c, size, &rid))) return pc__p_conn_payload_failed(c, rc);
        pc_args *req = pc_args_new();
        if (req && rid && pc_args_add_int(req, rid)) { pc_args_free(req); req = NULL; }
        *out_req = req;
        return pc__error(PC_VALUE, "request of %zu bytes: over the manager's limit of %zu "
                         "(PYCONC_MANAGER_MAX_REQUEST)", size, (size_t)PYCONC_MANAGER_MAX_REQUEST);
    }
    if ((rc = pc__p_conn_payload(c, size, &msg, INFINITY))) return pc__p_conn_payload_failed(c, rc);
    return pc__p_args_from_message(msg, size, NULL, 0, out_req);
}

// Replies wait in the connection thread's buffer while more requests
// have come (a whole one read ahead, or bytes in the socket), and go out
// together before the server could wait: a burst of pipelined requests
// costs a write (and a wake-up of the client) per 64 KiB of replies, not
// per reply. A lone call's reply goes out at once, as before. (Bytes in
// the socket may be half a request: its sender is writing the rest, as a
// batch writes while it reads, so the server's read of it ends.)
#define PC__P_M_OUT_MAX ((size_t)64 << 10)
static PC__TLS pc__p_buf pc__p_m_out;

static int pc__p_m_next_is_whole(const pc_connection *c) {
    size_t have = pc__p_conn_buffered(c);
    if (have < 4 || c->has_pending) return 0;
    const unsigned char *h = c->ahead + c->ahead_pos;
    uint32_t s32 = (uint32_t)h[0] << 24 | (uint32_t)h[1] << 16 | (uint32_t)h[2] << 8 | h[3];
    return s32 <= PC__FRAME_LONG && (size_t)s32 <= have - 4;
}

// More requests are here or on their way: a whole one read ahead, part
// of one, or a full last read (the socket may hold more: ask it). A last
// read that came short, all of it used, means the client sent no more
// then: a lone call's reply goes without asking the socket.
static int pc__p_m_more_coming(const pc_connection *c) {
    if (pc__p_m_next_is_whole(c)) return 1;
    if (!pc__p_conn_buffered(c) && c->ahead_len < PC__AHEAD) return 0;
    return pc__p_os_readable_now(c->fd);
}

static int pc__p_m_flush(pc_connection *c) {
    int rc = pc__p_os_write_buf(c->fd, c->is_socket, pc__p_m_out.p, pc__p_m_out.len);
    pc__p_m_out.len = 0;
    return rc;
}

static size_t pc__p_m_gathered(void) { return pc__p_m_out.len; }

static int pc__p_m_wire_reply(pc_connection *c, const pc_args *head) {
    if (pc__p_m_srv_ring) return pc__p_m_ring_reply(head);     // >>I.ring
    pc__p_buf *b = &pc__p_m_out;
    size_t at = b->len, nfds = 0;
    int fds[1];
    unsigned char h[4] = {0, 0, 0, 0};
    pc__p_buf_put(b, h, 4);
    pc__p_buf_u32(b, PC__ARGS_MAGIC);
    int rc = pc__p_args_encode(head, b, fds, &nfds, NULL);
    if (rc == PC_OK && b->bad) rc = PC_NOMEM;
    if (rc == PC_OK && b->len - at - 4 > PC__FRAME_LONG) {     // the long form: on its own
        b->len = at;
        if ((rc = pc__p_m_flush(c)) == PC_OK) rc = pc_connection_send_args(c, head);
        return rc;
    }
    if (rc) {
        b->len = at;
        b->bad = 0;
        return rc;
    }
    pc__p_frame_header(b->p + at, b->len - at - 4);
    if (b->len < PC__P_M_OUT_MAX && pc__p_m_more_coming(c)) return PC_OK;
    return pc__p_m_flush(c);
}

// The connection's thread ends: its buffer goes.
static void pc__p_m_wire_end(void) {
    pc__p_m_ring_end();
    pc__free(pc__p_m_out.p);
    memset(&pc__p_m_out, 0, sizeof pc__p_m_out);
}

// Answer a request that could not be read (status rc, pc_last_error's
// message) with the id in req's item 0 (0 when unknown).
static int pc__p_m_wire_refuse(pc_connection *c, int rc, const pc_args *req) {
    int64_t rid = 0;
    if (req) pc_args_get_int(req, 0, &rid);
    char why[256];
    snprintf(why, sizeof why, "%s", pc_last_error());
    pc_args *head = pc_args_new();
    int ok = head && pc_args_add_int(head, rid) == PC_OK && pc_args_add_int(head, rc) == PC_OK &&
             pc_args_add_str(head, why) == PC_OK;
    rc = ok ? pc__p_m_wire_reply(c, head) : PC_NOMEM;
    pc_args_free(head);
    return rc;
}

// The dict methods of this section; *out_handled = 0 for the others.
static int pc__p_m_wire_dict_call(pc__p_m_obj *o, const char *m, const pc_args *req,
                                  pc_args *reply, int *out_handled) {
    *out_handled = 1;
    if (strcmp(m, "setdefault") == 0) return pc__p_m_dict_setdefault(o, req, reply);
    if (strcmp(m, "incr") == 0) return pc__p_m_dict_incr(o, req, reply);
    *out_handled = 0;
    return PC_OK;
}

// >>I.data: Namespace, Value, Array and set in the server; registered types
// A Namespace keeps its attributes as a dict keeps its items; a Value is
// one item and an Array items without keys, both of a typecode (o->state:
// its row of pc__p_tcodes); a set keeps its members as a list does, each
// once.
static int pc__p_m_val_take(const pc_args *a, size_t i, pc__p_m_val *out) {
    int rc = pc__p_m_val_read(a, i, out);
    if (rc || out->type != PC_ARG_PROXY) return rc;
    const pc__p_m_obj *o = pc__p_m_find_obj(out->i);
    if (o && strcmp(o->kind->name, out->data) == 0) return PC_OK;
    rc = pc__error(PC_VALUE, "no %s with id %lld in this manager", out->data, (long long)out->i);
    pc__p_m_val_clear(out);
    return rc;
}

static int pc__p_m_ns_call(pc__p_m_obj *o, const char *m, const pc_args *req, pc_args *reply) {
    const char *name;
    pc__p_m_val v;
    int rc;
    if (strcmp(m, "names") == 0) {
        pc__p_m_dense(o);
        for (size_t i = 0; i < o->n; i++)
            if (pc_args_add_str(reply, o->items[i].key)) return PC_NOMEM;
        return PC_OK;
    }
    if (strcmp(m, "set") != 0 && strcmp(m, "get") != 0 && strcmp(m, "del") != 0)
        return pc__error(PC_VALUE, "Namespace has no method '%s'", m);
    if (pc_args_get_str(req, 3, &name) || !name[0])
        return pc__error(PC_VALUE, "the attribute name is not a non-empty str");
    size_t at = pc__p_m_find_key(o, name);
    if (m[0] == 's') {
        if ((rc = pc__p_m_val_take(req, 4, &v)) == PC_OK && (rc = pc__p_m_dict_store(o, name, &v)))
            pc__p_m_val_clear(&v);
        return rc;
    }
    if (at == (size_t)-1)
        return pc__error(PC_VALUE, "AttributeError: 'Namespace' object has no attribute '%s'",
                         name);
    if (m[0] == 'g') return pc__p_m_val_write(reply, &o->items[at].v);
    pc__p_m_remove(o, at, NULL);
    return PC_OK;
}

// Request item i as a typecode a manager serves: pc_mp_value's but 'u'
// (a str item would hold a character where the others hold numbers).
static int pc__p_m_tc_read(const pc_args *req, size_t i, const pc__p_tcode **out) {
    const char *tc;
    if (pc_args_get_str(req, i, &tc)) return pc__error(PC_VALUE, "the typecode is not a str");
    const pc__p_tcode *t = tc[0] && !tc[1] && tc[0] != 'u'
                               ? pc__p_tcode_find((unsigned char)tc[0]) : NULL;
    if (!t)
        return pc__error(PC_VALUE, "unknown typecode \"%.8s\" (one of c b B h H i I l L q Q f d "
                                   "?)", tc);
    *out = t;
    return PC_OK;
}

static const pc__p_tcode *pc__p_m_tc_of(const pc__p_m_obj *o) {
    return (const pc__p_tcode *)o->state;
}

// Whether an int fits the C type of an integer typecode.
static int pc__p_m_tc_fits(const pc__p_tcode *t, int64_t i) {
    unsigned bits = t->size * 8u;
    if (t->kind == PC__TC_UNSIGNED) return i >= 0 && (bits >= 64 || (uint64_t)i >> bits == 0);
    if (bits >= 64) return 1;
    int64_t lim = (int64_t)1 << (bits - 1);
    return i >= -lim && i < lim;
}

// Make v a value of typecode t (an int becomes a float for 'f' and 'd',
// 'f' rounds as a C float does, '?' keeps 0 or 1), or say why it is not.
static int pc__p_m_tc_fit(const pc__p_tcode *t, pc__p_m_val *v) {
    const char *wants = "an int";
    if (t->kind == PC__TC_FLOAT) {
        wants = "a float or an int";
        if (v->type == PC_ARG_INT) pc__p_m_val_set(v, PC_ARG_DOUBLE, 0, (double)v->i, NULL, 0);
        if (v->type == PC_ARG_DOUBLE) {
            if (t->code == 'f') v->d = (double)(float)v->d;
            return PC_OK;
        }
    } else if (t->code == 'c') {
        wants = "bytes of length 1";
        if (v->type == PC_ARG_BYTES && v->size == 1) return PC_OK;
    } else if (v->type == PC_ARG_INT) {
        if (t->code == '?') v->i = v->i != 0;
        if (t->code == '?' || pc__p_m_tc_fits(t, v->i)) return PC_OK;
        return pc__error(PC_VALUE, "OverflowError: %lld does not fit typecode '%c'",
                         (long long)v->i, t->code);
    }
    return pc__error(PC_VALUE, "TypeError: a value of typecode '%c' is %s", t->code, wants);
}

// Typecode t's zero.
static int pc__p_m_tc_zero(const pc__p_tcode *t, pc__p_m_val *v) {
    if (t->kind == PC__TC_FLOAT) return pc__p_m_val_set(v, PC_ARG_DOUBLE, 0, 0.0, NULL, 0);
    if (t->code == 'c') return pc__p_m_val_set(v, PC_ARG_BYTES, 0, 0, "", 1);
    return pc__p_m_val_set(v, PC_ARG_INT, 0, 0, NULL, 0);
}

// Request item i (tagged) as a value of o's typecode.
static int pc__p_m_tc_take(const pc__p_tcode *t, const pc_args *req, size_t i, pc__p_m_val *v) {
    int rc = pc__p_m_val_read(req, i, v);
    if (rc == PC_OK && (rc = pc__p_m_tc_fit(t, v))) pc__p_m_val_clear(v);
    return rc;
}

// Value: [typecode, value].
static int pc__p_m_value_init(pc__p_m_obj *o, const pc_args *req) {
    const pc__p_tcode *t = NULL;
    pc__p_m_val v;
    int rc = pc__p_m_tc_read(req, 4, &t);
    if (rc == PC_OK) rc = pc__p_m_tc_take(t, req, 5, &v);
    if (rc == PC_OK && (rc = pc__p_m_list_add(o, &v))) pc__p_m_val_clear(&v);
    if (rc == PC_OK) o->state = (void *)(uintptr_t)t;
    return rc;
}

static int pc__p_m_value_call(pc__p_m_obj *o, const char *m, const pc_args *req, pc_args *reply) {
    pc__p_m_val v;
    if (strcmp(m, "get") == 0) return pc__p_m_val_write(reply, &o->items[0].v);
    if (strcmp(m, "set") != 0) return pc__error(PC_VALUE, "Value has no method '%s'", m);
    int rc = pc__p_m_tc_take(pc__p_m_tc_of(o), req, 3, &v);
    if (rc) return rc;
    pc__p_m_val_clear(&o->items[0].v);
    o->items[0].v = v;
    return PC_OK;
}

static void pc__p_m_items_free(pc__p_m_obj *o) {
    while (o->n) pc__p_m_remove(o, o->n - 1, NULL);
    pc__free(o->items);
    o->items = NULL;
    o->cap = 0;
}

// Array: [typecode, size, initial items (none: size zeros)]. Items are
// the server's general ones (tens of bytes each): a bound keeps a typo in
// a size from taking the server's memory.
#define PC__P_M_ARRAY_MAX (1 << 24)

static int pc__p_m_array_init(pc__p_m_obj *o, const pc_args *req) {
    const pc__p_tcode *t = NULL;
    int64_t size;
    int rc = pc__p_m_tc_read(req, 4, &t);
    if (rc) return rc;
    size_t given = pc_args_len(req) - 6;
    if (pc_args_get_int(req, 5, &size) || size < 0 || (given && (uint64_t)size != given))
        return pc__error(PC_VALUE, "Array: the size is not the number of items");
    if ((uint64_t)size > PC__P_M_ARRAY_MAX)
        return pc__error(PC_VALUE, "Array: too large (at most %d items)", PC__P_M_ARRAY_MAX);
    if (size && pc__grow(&o->items, &o->cap, (size_t)size, sizeof(pc__p_m_item), 0))
        return PC_NOMEM;
    o->state = (void *)(uintptr_t)t;
    for (size_t i = 0; rc == PC_OK && i < (size_t)size; i++) {
        pc__p_m_val v;
        rc = given ? pc__p_m_val_from_item(req, 6 + i, &v) : pc__p_m_tc_zero(t, &v);
        if (rc == PC_OK && (rc = pc__p_m_tc_fit(t, &v))) pc__p_m_val_clear(&v);
        if (rc == PC_OK) pc__p_m_list_add(o, &v);      // room made above
        else if (given) {
            char why[256];
            snprintf(why, sizeof why, "%s", pc_last_error());
            rc = pc__error(rc, "Array item %zu: %s", i, why);
        }
    }
    if (rc) pc__p_m_items_free(o);
    return rc;
}

// Python's slice bound: negatives count from the end, clipped to 0..n.
static size_t pc__p_m_bound(int64_t i, size_t n) {
    if (i < 0) i += (int64_t)n;
    if (i < 0) return 0;
    return (uint64_t)i > n ? n : (size_t)i;
}

static int pc__p_m_array_call(pc__p_m_obj *o, const char *m, const pc_args *req, pc_args *reply) {
    size_t at = 0;
    int64_t a, b;
    pc__p_m_val v;
    int rc;
    if (strcmp(m, "len") == 0) return pc_args_add_int(reply, (int64_t)o->n);
    if (strcmp(m, "slice") == 0) {
        if (pc_args_get_int(req, 3, &a) || pc_args_get_int(req, 4, &b))
            return pc__error(PC_VALUE, "slice: the bounds are not ints");
        size_t lo = pc__p_m_bound(a, o->n), hi = pc__p_m_bound(b, o->n);
        for (size_t i = lo; i < hi; i++) {
            pc_args *one = pc_args_new();
            rc = one ? pc__p_m_val_write(one, &o->items[i].v) : PC_NOMEM;
            if (rc == PC_OK) rc = pc__p_m_copy_item(reply, one, 1);
            pc_args_free(one);
            if (rc) return rc;
        }
        return PC_OK;
    }
    if (strcmp(m, "get") != 0 && strcmp(m, "set") != 0)
        return pc__error(PC_VALUE, "Array has no method '%s'", m);
    if ((rc = pc__p_m_index(o, req, &at))) return rc;
    if (m[0] == 'g') return pc__p_m_val_write(reply, &o->items[at].v);
    if ((rc = pc__p_m_tc_take(pc__p_m_tc_of(o), req, 4, &v))) return rc;
    pc__p_m_val_clear(&o->items[at].v);
    o->items[at].v = v;
    return PC_OK;
}

// Python's ==: 1 and 1.0 are one member, exactly (2**53 + 1 is not 2.0**53).
static int pc__p_m_val_eq(const pc__p_m_val *a, const pc__p_m_val *b) {
    if (a->type == PC_ARG_DOUBLE && b->type == PC_ARG_INT) return pc__p_m_val_eq(b, a);
    if (a->type == PC_ARG_INT && b->type == PC_ARG_DOUBLE)
        return b->d >= -9223372036854775808.0 && b->d < 9223372036854775808.0 &&
               (int64_t)b->d == a->i && (double)(int64_t)b->d == b->d;
    if (a->type != b->type) return 0;
    if (a->type == PC_ARG_INT) return a->i == b->i;
    if (a->type == PC_ARG_DOUBLE) return a->d == b->d;
    return a->size == b->size && memcmp(a->data, b->data, a->size) == 0;
}

static size_t pc__p_m_set_find(const pc__p_m_obj *o, const pc__p_m_val *v) {
    for (size_t i = 0; i < o->n; i++)
        if (pc__p_m_val_eq(&o->items[i].v, v)) return i;
    return (size_t)-1;
}

// Python's KeyError for a missing member: its repr.
static int pc__p_m_member_error(const pc__p_m_val *v) {
    switch (v->type) {
    case PC_ARG_INT: return pc__error(PC_VALUE, "KeyError: %lld", (long long)v->i);
    case PC_ARG_DOUBLE: return pc__error(PC_VALUE, "KeyError: %.17g", v->d);
    case PC_ARG_BYTES: return pc__error(PC_VALUE, "KeyError: b'%.*s'", (int)v->size, v->data);
    default: return pc__error(PC_VALUE, "KeyError: '%s'", v->data);
    }
}

// Request item i (tagged) as a member: an int, a float, bytes or a str.
static int pc__p_m_member_read(const pc_args *req, size_t i, pc__p_m_val *v) {
    int rc = pc__p_m_val_read(req, i, v);
    if (rc || (v->type >= PC_ARG_INT && v->type <= PC_ARG_STR)) return rc;
    pc__p_m_val_clear(v);
    return pc__error(PC_VALUE, "TypeError: a set member is an int, a float, bytes or a str");
}

// Add v unless it is a member already; v is moved in or cleared.
static int pc__p_m_set_add(pc__p_m_obj *o, pc__p_m_val *v) {
    if (pc__p_m_set_find(o, v) != (size_t)-1) {
        pc__p_m_val_clear(v);
        return PC_OK;
    }
    int rc = pc__p_m_list_add(o, v);
    if (rc) pc__p_m_val_clear(v);
    return rc;
}

static int pc__p_m_set_update(pc__p_m_obj *o, const pc_args *req) {
    size_t n = pc_args_len(req);
    for (size_t i = 3; i < n; i++)          // all or nothing: check first
        if (pc_args_type(req, i) < PC_ARG_INT || pc_args_type(req, i) > PC_ARG_STR)
            return pc__error(PC_VALUE, "update: item %zu is not an int, float, bytes or str",
                             i - 3);
    for (size_t i = 3; i < n; i++) {
        pc__p_m_val v;
        int rc = pc__p_m_val_from_item(req, i, &v);
        if (rc == PC_OK) rc = pc__p_m_set_add(o, &v);
        if (rc) return rc;
    }
    return PC_OK;
}

static int pc__p_m_set_call(pc__p_m_obj *o, const char *m, const pc_args *req, pc_args *reply) {
    pc__p_m_val v;
    int rc;
    if (strcmp(m, "len") == 0) return pc_args_add_int(reply, (int64_t)o->n);
    if (strcmp(m, "update") == 0) return pc__p_m_set_update(o, req);
    if (strcmp(m, "clear") == 0) {
        while (o->n) pc__p_m_remove(o, o->n - 1, NULL);
        return PC_OK;
    }
    if (strcmp(m, "items") == 0) {
        for (size_t i = 0; i < o->n; i++) {
            pc_args *one = pc_args_new();
            rc = one ? pc__p_m_val_write(one, &o->items[i].v) : PC_NOMEM;
            if (rc == PC_OK) rc = pc__p_m_copy_item(reply, one, 1);
            pc_args_free(one);
            if (rc) return rc;
        }
        return PC_OK;
    }
    if (strcmp(m, "pop") == 0) {
        if (o->n == 0) return pc__error(PC_VALUE, "KeyError: 'pop from an empty set'");
        if ((rc = pc__p_m_val_write(reply, &o->items[o->n - 1].v))) return rc;
        pc__p_m_remove(o, o->n - 1, NULL);
        return PC_OK;
    }
    if (strcmp(m, "add") != 0 && strcmp(m, "discard") != 0 && strcmp(m, "remove") != 0 &&
        strcmp(m, "contains") != 0)
        return pc__error(PC_VALUE, "set has no method '%s'", m);
    if ((rc = pc__p_m_member_read(req, 3, &v))) return rc;
    if (m[0] == 'a') return pc__p_m_set_add(o, &v);
    size_t at = pc__p_m_set_find(o, &v);
    if (m[0] == 'c') rc = pc_args_add_int(reply, at != (size_t)-1);
    else if (at != (size_t)-1) pc__p_m_remove(o, at, NULL);
    else if (m[0] == 'r') rc = pc__p_m_member_error(&v);
    pc__p_m_val_clear(&v);
    return rc;
}

// Registered types: a table the program fills before it starts a manager;
// the server gets it in its arguments (functions as funcrefs, found again
// under spawn and forkserver). Each row's kind is its first member, so an
// object's kind leads to its row.
typedef struct pc__p_m_reg {
    pc__p_m_kind kind;
    char name[PC__P_M_KIND_MAX];
    pc_manager_create_fn create;
    pc_manager_destroy_fn destroy;
    pc_manager_method *methods;     // names owned
    size_t n_methods;
} pc__p_m_reg;

static pc_lock pc__p_m_reg_lock = PC_LOCK_INIT;
static pc__p_m_reg **pc__p_m_regs;
static size_t pc__p_m_nregs, pc__p_m_regs_cap;
static int pc__p_m_reg_closed;      // a manager was started: the table is fixed

static const pc__p_m_kind *pc__p_m_reg_find(const char *name) {
    for (size_t i = 0; i < pc__p_m_nregs; i++)
        if (strcmp(pc__p_m_regs[i]->name, name) == 0) return &pc__p_m_regs[i]->kind;
    return NULL;
}

static const pc__p_m_reg *pc__p_m_reg_of(const pc__p_m_obj *o) {
    return (const pc__p_m_reg *)(const void *)o->kind;
}

// A new pack of req's items from first on.
static pc_args *pc__p_m_tail(const pc_args *req, size_t first) {
    pc_args *a = pc_args_new();
    for (size_t i = first; a && i < pc_args_len(req); i++)
        if (pc__p_m_copy_item(a, req, i)) { pc_args_free(a); return NULL; }
    return a;
}

// A user function failed with rc: keep the message it raised since seq,
// else say which function.
static int pc__p_m_user_error(int rc, uint64_t seq, const char *type, const char *fn) {
    char why[256];
    if (pc__error_seq() != seq) snprintf(why, sizeof why, "%s", pc_last_error());
    else snprintf(why, sizeof why, "%s.%s failed (status %d)", type, fn, rc);
    return pc__error(rc, "%s", why);
}

static int pc__p_m_reg_init(pc__p_m_obj *o, const pc_args *req) {
    const pc__p_m_reg *r = pc__p_m_reg_of(o);
    pc_args *in = pc__p_m_tail(req, 4);
    if (!in) return PC_NOMEM;
    uint64_t seq = pc__error_seq();
    o->state = r->create(in);
    pc_args_free(in);
    (void)pc__exception_take(NULL, 0);      // this thread serves others next
    if (o->state) return PC_OK;
    int code = pc__error_seq() != seq && pc_last_error_code() ? pc_last_error_code() : PC_VALUE;
    return pc__p_m_user_error(code, seq, r->name, "create");
}

static int pc__p_m_reg_call(pc__p_m_obj *o, const char *m, const pc_args *req, pc_args *reply) {
    const pc__p_m_reg *r = pc__p_m_reg_of(o);
    const pc_manager_method *f = NULL;
    for (size_t i = 0; !f && i < r->n_methods; i++)
        if (strcmp(r->methods[i].name, m) == 0) f = &r->methods[i];
    if (!f) return pc__error(PC_VALUE, "AttributeError: '%s' object has no method '%s'",
                             r->name, m);
    if (!o->state) return pc__error(PC_RUNTIME, "the manager's server is stopping");
    pc_args *in = pc__p_m_tail(req, 3), *out = pc_args_new();
    uint64_t seq = pc__error_seq();
    int rc = in && out ? f->fn(o->state, in, out) : PC_NOMEM;
    (void)pc__exception_take(NULL, 0);      // this thread serves others next
    if (rc) rc = pc__p_m_user_error(rc, seq, r->name, m);
    for (size_t i = 0; rc == PC_OK && i < pc_args_len(out); i++)
        if ((rc = pc__p_m_copy_item(reply, out, i)))
            rc = pc__error(rc, "%s.%s: result %zu is not an int, float, bytes or str", r->name,
                           m, i);
    pc_args_free(in);
    pc_args_free(out);
    return rc;
}

// The server stops: registered objects are released (under the lock, so
// no method runs on one after its destroy).
static void pc__p_m_reg_destroy_all(void) {
    pc_lock_acquire(&pc__p_m_srv.lock, PC_FOREVER);
    for (size_t i = 0; i < pc__p_m_srv.nobjs; i++) {
        pc__p_m_obj *o = pc__p_m_srv.objs[i];
        if (o->kind->init != pc__p_m_reg_init || !o->state) continue;
        if (pc__p_m_reg_of(o)->destroy) pc__p_m_reg_of(o)->destroy(o->state);
        o->state = NULL;
    }
    pc_lock_release(&pc__p_m_srv.lock);
}

static void pc__p_m_reg_free(pc__p_m_reg *r) {
    if (!r) return;
    for (size_t i = 0; i < r->n_methods; i++) pc__free((void *)(uintptr_t)r->methods[i].name);
    pc__free(r->methods);
    pc__free(r);
}

// A row for typeid with desc's functions (the method names copied).
static pc__p_m_reg *pc__p_m_reg_new(const char *type_id, const pc_manager_type_desc *d) {
    pc__p_m_reg *r = (pc__p_m_reg *)pc__calloc(1, sizeof *r);
    if (!r) return NULL;
    snprintf(r->name, sizeof r->name, "%s", type_id);
    r->kind.name = r->name;
    r->kind.init = pc__p_m_reg_init;
    r->kind.call = pc__p_m_reg_call;
    r->create = d->create;
    r->destroy = d->destroy;
    r->methods = (pc_manager_method *)pc__calloc(d->n_methods + 1, sizeof *r->methods);
    for (size_t i = 0; r->methods && i < d->n_methods; i++, r->n_methods++) {
        r->methods[i].fn = d->methods[i].fn;
        if (!(r->methods[i].name = pc__strdup(d->methods[i].name))) break;
    }
    if (!r->methods || r->n_methods < d->n_methods) { pc__p_m_reg_free(r); return NULL; }
    return r;
}

static int pc__p_m_reg_check(const char *type_id, const pc_manager_type_desc *d) {
    if (!type_id || !d || !d->create || (d->n_methods && !d->methods))
        return pc__error(PC_VALUE, "pc_manager_register: NULL typeid, desc, create or methods");
    if (!type_id[0] || strlen(type_id) >= PC__P_M_KIND_MAX || strchr(type_id, ' '))
        return pc__error(PC_VALUE, "pc_manager_register: typeid '%.40s' is not 1..%d bytes "
                                   "without spaces", type_id, PC__P_M_KIND_MAX - 1);
    if (pc__p_m_kind_find(type_id))
        return pc__error(PC_VALUE, "pc_manager_register: typeid '%s' is served already", type_id);
    for (size_t i = 0; i < d->n_methods; i++) {
        if (!d->methods[i].name || !d->methods[i].name[0] || !d->methods[i].fn)
            return pc__error(PC_VALUE, "pc_manager_register: method %zu has no name or "
                                       "function", i);
        for (size_t j = 0; j < i; j++)
            if (strcmp(d->methods[i].name, d->methods[j].name) == 0)
                return pc__error(PC_VALUE, "pc_manager_register: method '%s' twice",
                                 d->methods[i].name);
    }
    return PC_OK;
}

static int pc__p_m_reg_add(const char *type_id, const pc_manager_type_desc *d) {
    int rc = pc__p_m_reg_check(type_id, d);
    if (rc) return rc;
    if (pc__grow(&pc__p_m_regs, &pc__p_m_regs_cap, pc__p_m_nregs + 1, sizeof(pc__p_m_reg *), 0))
        return PC_NOMEM;
    pc__p_m_reg *r = pc__p_m_reg_new(type_id, d);
    if (!r) return PC_NOMEM;
    pc__p_m_regs[pc__p_m_nregs++] = r;
    return PC_OK;
}

PYCONC_API int pc_manager_register(const char *type_id, const pc_manager_type_desc *desc) {
    pc_lock_acquire(&pc__p_m_reg_lock, PC_FOREVER);
    int rc = __atomic_load_n(&pc__p_m_reg_closed, __ATOMIC_ACQUIRE)
                 ? pc__error(PC_RUNTIME, "pc_manager_register: a manager was started already "
                                         "(register types before pc_manager_new)")
                 : pc__p_m_reg_add(type_id, desc);
    pc_lock_release(&pc__p_m_reg_lock);
    return rc;
}

// A function pointer as the funcref machinery takes it, and back.
static int pc__p_m_fn_put(pc__p_buf *b, const void *fnp, size_t size) {
    pc_target_fn fn = NULL;
    pc__p_funcref ref;
    memcpy(&fn, fnp, size);
    int rc = pc__p_funcref_locate(fn, &ref);
    pc__p_funcref_put(b, &ref, fn != NULL);
    return rc;
}

static int pc__p_m_fn_get(pc__p_buf *b, void *fnp, size_t size) {
    pc_target_fn fn = NULL;
    pc__p_funcref ref;
    int rc = pc__p_funcref_get(b, &ref) && !b->bad ? pc__p_funcref_resolve(&ref, &fn) : PC_OK;
    memcpy(fnp, &fn, size);
    return b->bad ? pc__error(PC_VALUE, "malformed table of registered types") : rc;
}

// The table, for the server: [count, then each: typeid, create, destroy,
// method count, each method's name and function].
static int pc__p_m_reg_pack(pc_args *a) {
    pc__p_buf b;
    int rc = PC_OK;
    memset(&b, 0, sizeof b);
    pc_lock_acquire(&pc__p_m_reg_lock, PC_FOREVER);
    __atomic_store_n(&pc__p_m_reg_closed, 1, __ATOMIC_RELEASE);
    pc__p_buf_u64(&b, pc__p_m_nregs);
    for (size_t i = 0; rc == PC_OK && i < pc__p_m_nregs; i++) {
        const pc__p_m_reg *r = pc__p_m_regs[i];
        pc__p_buf_str(&b, r->name);
        rc = pc__p_m_fn_put(&b, &r->create, sizeof r->create);
        if (rc == PC_OK) rc = pc__p_m_fn_put(&b, &r->destroy, sizeof r->destroy);
        pc__p_buf_u64(&b, r->n_methods);
        for (size_t j = 0; rc == PC_OK && j < r->n_methods; j++) {
            pc__p_buf_str(&b, r->methods[j].name);
            rc = pc__p_m_fn_put(&b, &r->methods[j].fn, sizeof r->methods[j].fn);
        }
    }
    pc_lock_release(&pc__p_m_reg_lock);
    if (rc == PC_OK) rc = b.bad ? PC_NOMEM : pc_args_add_bytes(a, b.p, b.len);
    pc__free(b.p);
    return rc;
}

// One row of the table from b.
static int pc__p_m_reg_unpack_one(pc__p_buf *b) {
    pc_manager_type_desc d;
    memset(&d, 0, sizeof d);
    char *name = pc__p_buf_get_str(b);
    int rc = pc__p_m_fn_get(b, &d.create, sizeof d.create);
    if (rc == PC_OK) rc = pc__p_m_fn_get(b, &d.destroy, sizeof d.destroy);
    uint64_t n = pc__p_buf_get_u64(b);
    pc_manager_method *ms = NULL;
    if (rc == PC_OK && !b->bad && n <= b->len)
        ms = (pc_manager_method *)pc__calloc((size_t)n + 1, sizeof *ms);
    for (size_t j = 0; ms && rc == PC_OK && j < n; j++, d.n_methods++) {
        ms[j].name = pc__p_buf_get_str(b);
        rc = pc__p_m_fn_get(b, &ms[j].fn, sizeof ms[j].fn);
    }
    d.methods = ms;
    if (rc == PC_OK) rc = !ms || b->bad || !name ? pc__error(PC_VALUE, "malformed table of "
                                                            "registered types")
                                                 : pc__p_m_reg_add(name, &d);
    for (size_t j = 0; ms && j < d.n_methods; j++) pc__free((void *)(uintptr_t)ms[j].name);
    pc__free(ms);
    pc__free(name);
    return rc;
}

// In the server: the table from its arguments, unless it has it (fork).
static int pc__p_m_reg_unpack(const pc_args *a, size_t i) {
    const void *data;
    size_t n;
    if (pc__p_m_nregs || pc_args_get_bytes(a, i, &data, &n)) return PC_OK;
    pc__p_buf b;
    memset(&b, 0, sizeof b);
    b.p = (unsigned char *)(uintptr_t)data;
    b.len = n;
    uint64_t count = pc__p_buf_get_u64(&b);
    int rc = PC_OK;
    for (uint64_t k = 0; rc == PC_OK && !b.bad && k < count; k++) rc = pc__p_m_reg_unpack_one(&b);
    return rc;
}

// >>I.sync: locks, semaphores, events, conditions, barriers and queues
// A blocking method waits on a condition over the server's lock, which it
// lets go while it waits, at most as long as the client's timeout says.
// Locks belong to a connection (each client thread has its own): when a
// connection ends holding some, they are released, and their next
// acquirer learns it with PC_OWNER_DEAD.
typedef struct pc__p_m_sync pc__p_m_sync;

struct pc__p_m_client {
    int64_t held;               // locks this connection holds
    // The lock the request being answered took afresh (NULL: none): if the
    // reply never leaves, the client never held it as far as it knows.
    pc__p_m_sync *unanswered;
    int unanswered_died;        // ... and it came with PC_OWNER_DEAD
};

// The connection the calling server thread serves (each has its own thread).
static PC__TLS pc__p_m_client *pc__p_m_me;

typedef struct pc__p_m_waiter {  // a thread waiting at a barrier
    struct pc__p_m_waiter *next;
    int done, rc;
} pc__p_m_waiter;

struct pc__p_m_sync {
    int what;                   // PC__P_M_LOCK ...
    // Lock, RLock, a Condition's (re-entrant) lock
    pc__p_m_client *holder;     // NULL: free
    uint32_t depth;
    int holder_died;            // the last holder's connection ended holding it
    pc_condition free_cv;       // acquirers
    pc_condition cv;            // Semaphore, Event, Condition, Barrier waiters; a Queue's getters
    pc_condition room;          // a Queue's putters
    pc_condition done;          // a Queue's joiners
    int64_t n;                  // Semaphore's value, Event's flag, Barrier's parties,
                                // Queue's maxsize (<= 0: no bound)
    int64_t bound;              // BoundedSemaphore's initial value
    int64_t unfinished;         // a Queue's items not yet task_done
    size_t head;                // a Queue's oldest item in o->items
    pc__p_m_waiter *waiting;    // a Barrier's
    int64_t nwaiting;
    int broken;                 // a Barrier's
};

static pc__p_m_sync *pc__p_m_sync_of(const pc__p_m_obj *o) {
    for (size_t i = 0; i < sizeof pc__p_m_sync_kinds / sizeof pc__p_m_sync_kinds[0]; i++)
        if (o->kind == &pc__p_m_sync_kinds[i]) return (pc__p_m_sync *)o->state;
    return NULL;
}

// Wait on cv until notified or deadline (monotonic; INFINITY: none).
static int pc__p_m_wait(pc_condition *cv, double deadline) {
    if (deadline == INFINITY) return pc_condition_wait(cv, PC_FOREVER);
    double left = deadline - pc_monotonic();
    return left > 0 ? pc_condition_wait(cv, left) : PC_TIMEOUT;
}

// Request item i, a float timeout, as a deadline (negative: none).
static int pc__p_m_deadline_at(const pc_args *req, size_t i, double *out) {
    double t;
    if (pc_args_get_double(req, i, &t)) return pc__error(PC_VALUE, "the timeout is not a float");
    return pc__deadline(t, out);
}

// Constructor argument [int] (request item 4), dflt when absent.
static int pc__p_m_ctor_int(const pc_args *req, int64_t dflt, int64_t *out) {
    *out = dflt;
    if (pc_args_len(req) <= 4) return PC_OK;
    if (pc_args_get_int(req, 4, out)) return pc__error(PC_VALUE, "the argument is not an int");
    return PC_OK;
}

static int pc__p_m_sync_init(pc__p_m_obj *o, const pc_args *req) {
    pc__p_m_sync *s = (pc__p_m_sync *)pc__calloc(1, sizeof *s);
    if (!s) return PC_NOMEM;
    s->what = (int)(o->kind - pc__p_m_sync_kinds);
    int rc = PC_OK;
    if (s->what == PC__P_M_SEMAPHORE || s->what == PC__P_M_BSEMAPHORE) {
        rc = pc__p_m_ctor_int(req, 1, &s->n);
        if (rc == PC_OK && s->n < 0)
            rc = pc__error(PC_VALUE, "ValueError: semaphore initial value must be >= 0");
        s->bound = s->what == PC__P_M_BSEMAPHORE ? s->n : 0;
    } else if (s->what == PC__P_M_BARRIER) {
        rc = pc__p_m_ctor_int(req, 0, &s->n);
        if (rc == PC_OK && s->n < 1) rc = pc__error(PC_VALUE, "ValueError: parties must be >= 1");
    } else if (s->what == PC__P_M_QUEUE || s->what == PC__P_M_JQUEUE) {
        rc = pc__p_m_ctor_int(req, 0, &s->n);
    }
    if (rc) { pc__free(s); return rc; }
    pc_condition_init_lock(&s->free_cv, &pc__p_m_srv.lock);
    pc_condition_init_lock(&s->cv, &pc__p_m_srv.lock);
    pc_condition_init_lock(&s->room, &pc__p_m_srv.lock);
    pc_condition_init_lock(&s->done, &pc__p_m_srv.lock);
    o->state = s;
    return PC_OK;
}

static int pc__p_m_mutex_acquire(pc__p_m_sync *s, int recursive, double deadline) {
    pc__p_m_client *me = pc__p_m_me;
    if (recursive && s->holder == me) {
        if (s->depth == UINT32_MAX) return pc__error(PC_RUNTIME, "too many levels of RLock");
        s->depth++;
        return PC_OK;
    }
    while (s->holder)
        if (pc__p_m_wait(&s->free_cv, deadline) == PC_TIMEOUT && s->holder)
            return pc__error(PC_TIMEOUT, "the lock was not acquired in time");
    s->holder = me;
    s->depth = 1;
    me->held++;
    if (!s->holder_died) return PC_OK;
    s->holder_died = 0;
    return pc__error(PC_OWNER_DEAD, "the lock's last holder went away holding it; it is "
                                    "yours now");
}

// An acquire request: remember a lock taken afresh until the reply is out.
static int pc__p_m_acquire_req(pc__p_m_sync *s, int recursive, double deadline) {
    int rc = pc__p_m_mutex_acquire(s, recursive, deadline);
    if ((rc == PC_OK || rc == PC_OWNER_DEAD) && s->depth == 1) {
        pc__p_m_me->unanswered = s;
        pc__p_m_me->unanswered_died = rc == PC_OWNER_DEAD;
    }
    return rc;
}

static void pc__p_m_mutex_let_go(pc__p_m_sync *s, int died) {
    s->holder->held--;
    s->holder = NULL;
    s->depth = 0;
    s->holder_died = died;
    pc_condition_notify(&s->free_cv, 1);
}

// A Lock may be released by any connection (as threading.Lock by any
// thread); an RLock or a Condition's lock only by its holder.
static int pc__p_m_mutex_release(pc__p_m_sync *s, int recursive) {
    if (!s->holder) return pc__error(PC_RUNTIME, "RuntimeError: release unlocked lock");
    if (recursive && s->holder != pc__p_m_me)
        return pc__error(PC_RUNTIME, "RuntimeError: cannot release un-acquired lock");
    if (--s->depth == 0) pc__p_m_mutex_let_go(s, 0);
    return PC_OK;
}

// A connection's thread starts: it holds nothing.
static pc__p_m_client *pc__p_m_client_new(void) {
    pc__p_m_me = (pc__p_m_client *)pc__calloc(1, sizeof(pc__p_m_client));
    return pc__p_m_me;
}

// The reply to a request went out.
static void pc__p_m_client_answered(pc__p_m_client *me) { me->unanswered = NULL; }

// The request being answered took a lock afresh (// >>I.ring).
static int pc__p_m_took_afresh(void) { return pc__p_m_me && pc__p_m_me->unanswered; }

// A connection ended: let go of every lock it held. One whose acquire was
// never answered (the client died waiting for it) goes as it came.
static void pc__p_m_client_gone(pc__p_m_client *me) {
    pc_lock_acquire(&pc__p_m_srv.lock, PC_FOREVER);
    for (size_t i = 0; me->held > 0 && i < pc__p_m_srv.nobjs; i++) {
        pc__p_m_sync *s = pc__p_m_sync_of(pc__p_m_srv.objs[i]);
        if (s && s->holder == me)
            pc__p_m_mutex_let_go(s, s == me->unanswered ? me->unanswered_died : 1);
    }
    pc_lock_release(&pc__p_m_srv.lock);
    pc__p_m_me = NULL;
    pc__free(me);
}

static int pc__p_m_semaphore_call(pc__p_m_sync *s, const char *m, double deadline) {
    if (strcmp(m, "acquire") == 0) {
        while (s->n == 0)
            if (pc__p_m_wait(&s->cv, deadline) == PC_TIMEOUT && s->n == 0)
                return pc__error(PC_TIMEOUT, "the semaphore was not acquired in time");
        s->n--;
        return PC_OK;
    }
    if (s->bound && s->n >= s->bound)
        return pc__error(PC_VALUE, "ValueError: Semaphore released too many times");
    s->n++;
    return pc_condition_notify(&s->cv, 1);
}

static int pc__p_m_event_call(pc__p_m_sync *s, const char *m, double deadline, pc_args *reply) {
    if (strcmp(m, "is_set") == 0) return pc_args_add_int(reply, s->n);
    if (strcmp(m, "clear") == 0) { s->n = 0; return PC_OK; }
    if (strcmp(m, "set") == 0) { s->n = 1; return pc_condition_notify_all(&s->cv); }
    while (!s->n)
        if (pc__p_m_wait(&s->cv, deadline) == PC_TIMEOUT && !s->n)
            return pc__error(PC_TIMEOUT, "the event was not set in time");
    return PC_OK;
}

static int pc__p_m_condition_call(pc__p_m_sync *s, const char *m, const pc_args *req,
                                  double deadline) {
    if (strcmp(m, "acquire") == 0) return pc__p_m_acquire_req(s, 1, deadline);
    if (strcmp(m, "release") == 0) return pc__p_m_mutex_release(s, 1);
    if (s->holder != pc__p_m_me)
        return pc__error(PC_RUNTIME, "RuntimeError: cannot %s on un-acquired lock", m);
    if (strcmp(m, "notify_all") == 0) return pc_condition_notify_all(&s->cv);
    if (strcmp(m, "notify") == 0) {
        int64_t n;
        if (pc_args_get_int(req, 3, &n)) return pc__error(PC_VALUE, "notify: n is not an int");
        return pc_condition_notify(&s->cv, n > INT_MAX ? INT_MAX : (int)n);
    }
    uint32_t depth = s->depth;      // wait: let go of every level, take them back after
    pc__p_m_mutex_let_go(s, 0);
    int rc = pc__p_m_wait(&s->cv, deadline);
    int arc = pc__p_m_mutex_acquire(s, 1, INFINITY);
    if (arc == PC_OK || arc == PC_OWNER_DEAD) s->depth = depth;
    if (arc) return arc;
    return rc == PC_OK ? PC_OK : pc__error(PC_TIMEOUT, "the condition was not notified in time");
}

// Wake every waiter of a barrier with rc; broken: the barrier stays broken.
static void pc__p_m_barrier_release(pc__p_m_sync *s, int rc, int broken) {
    for (pc__p_m_waiter *w = s->waiting; w; w = w->next) {
        w->done = 1;
        w->rc = rc;
    }
    s->waiting = NULL;
    s->nwaiting = 0;
    s->broken = broken;
    pc_condition_notify_all(&s->cv);
}

static int pc__p_m_barrier_wait(pc__p_m_sync *s, double deadline, pc_args *reply) {
    if (s->broken) return pc__error(PC_BROKEN, "BrokenBarrierError: the barrier is broken");
    int64_t index = s->nwaiting;
    if (index + 1 == s->n) {
        pc__p_m_barrier_release(s, PC_OK, 0);
        return pc_args_add_int(reply, index);
    }
    pc__p_m_waiter w = {s->waiting, 0, 0};
    s->waiting = &w;
    s->nwaiting++;
    while (!w.done)     // a timeout breaks the barrier for all, as Python's
        if (pc__p_m_wait(&s->cv, deadline) == PC_TIMEOUT && !w.done)
            pc__p_m_barrier_release(s, PC_BROKEN, 1);
    if (w.rc) return pc__error(PC_BROKEN, "BrokenBarrierError: the barrier was broken, reset "
                                          "or timed out");
    return pc_args_add_int(reply, index);
}

static int pc__p_m_barrier_call(pc__p_m_sync *s, const char *m, double deadline,
                                pc_args *reply) {
    if (strcmp(m, "wait") == 0) return pc__p_m_barrier_wait(s, deadline, reply);
    if (strcmp(m, "parties") == 0) return pc_args_add_int(reply, s->n);
    if (strcmp(m, "n_waiting") == 0) return pc_args_add_int(reply, s->nwaiting);
    if (strcmp(m, "broken") == 0) return pc_args_add_int(reply, s->broken);
    pc__p_m_barrier_release(s, PC_BROKEN, m[0] == 'a');     // abort, reset
    return PC_OK;
}

static int pc__p_m_queue_put(pc__p_m_obj *o, pc__p_m_sync *s, const pc_args *req) {
    pc__p_m_val v;
    double deadline;
    int rc = pc__p_m_val_read(req, 3, &v);
    if (rc) return rc;
    if ((rc = pc__p_m_deadline_at(req, 5, &deadline))) { pc__p_m_val_clear(&v); return rc; }
    while (s->n > 0 && (int64_t)(o->n - s->head) >= s->n)
        if (pc__p_m_wait(&s->room, deadline) == PC_TIMEOUT && (int64_t)(o->n - s->head) >= s->n) {
            pc__p_m_val_clear(&v);
            return pc__error(PC_FULL, "queue.Full");
        }
    if ((rc = pc__p_m_list_add(o, &v))) { pc__p_m_val_clear(&v); return rc; }
    s->unfinished++;
    return pc_condition_notify(&s->cv, 1);
}

static int pc__p_m_queue_get(pc__p_m_obj *o, pc__p_m_sync *s, double deadline,
                             pc_args *reply) {
    while (o->n == s->head)
        if (pc__p_m_wait(&s->cv, deadline) == PC_TIMEOUT && o->n == s->head)
            return pc__error(PC_EMPTY, "queue.Empty");
    int rc = pc__p_m_val_write(reply, &o->items[s->head].v);
    if (rc) return rc;
    pc__p_m_val_clear(&o->items[s->head++].v);
    if (s->head == o->n) o->n = s->head = 0;
    else if (s->head >= 64 && s->head * 2 >= o->n) {    // the taken half goes
        memmove(o->items, o->items + s->head, (o->n - s->head) * sizeof(pc__p_m_item));
        o->n -= s->head;
        s->head = 0;
    }
    return pc_condition_notify(&s->room, 1);
}

static int pc__p_m_queue_call(pc__p_m_obj *o, pc__p_m_sync *s, const char *m,
                              const pc_args *req, double deadline, pc_args *reply) {
    int64_t len = (int64_t)(o->n - s->head);
    if (strcmp(m, "put") == 0) return pc__p_m_queue_put(o, s, req);
    if (strcmp(m, "get") == 0) return pc__p_m_queue_get(o, s, deadline, reply);
    if (strcmp(m, "qsize") == 0) return pc_args_add_int(reply, len);
    if (strcmp(m, "empty") == 0) return pc_args_add_int(reply, len == 0);
    if (strcmp(m, "full") == 0) return pc_args_add_int(reply, s->n > 0 && len >= s->n);
    if (strcmp(m, "task_done") == 0) {
        if (s->unfinished <= 0)
            return pc__error(PC_VALUE, "ValueError: task_done() called too many times");
        return --s->unfinished ? PC_OK : pc_condition_notify_all(&s->done);
    }
    while (s->unfinished) pc__p_m_wait(&s->done, INFINITY);    // join
    return PC_OK;
}

// Which methods each kind has, and which of them take a timeout (item 3).
static int pc__p_m_sync_method(int what, const char *m, int *out_timed) {
    static const char *const names[] = {
        "acquire* release ",                                       // Lock
        "acquire* release ",                                       // RLock
        "acquire* release ",                                       // Semaphore
        "acquire* release ",                                       // BoundedSemaphore
        "set clear is_set wait* ",                                 // Event
        "acquire* release wait* notify notify_all ",               // Condition
        "wait* abort reset parties n_waiting broken ",             // Barrier
        "put get* qsize empty full task_done join ",               // Queue
        "put get* qsize empty full task_done join ",               // JoinableQueue
    };
    size_t n = strlen(m);
    for (const char *w = names[what]; *w; w = strchr(w, ' ') + 1) {
        if (strncmp(w, m, n) == 0 && (w[n] == ' ' || w[n] == '*')) {
            *out_timed = w[n] == '*';
            return PC_OK;
        }
    }
    return pc__error(PC_VALUE, "%s has no method '%s'", pc__p_m_sync_kinds[what].name, m);
}

static int pc__p_m_sync_call(pc__p_m_obj *o, const char *m, const pc_args *req,
                             pc_args *reply) {
    pc__p_m_sync *s = (pc__p_m_sync *)o->state;
    double deadline = INFINITY;
    int timed = 0;
    int rc = pc__p_m_sync_method(s->what, m, &timed);
    if (rc == PC_OK && timed) rc = pc__p_m_deadline_at(req, 3, &deadline);
    if (rc) return rc;
    switch (s->what) {
    case PC__P_M_LOCK:
    case PC__P_M_RLOCK: {
        int recursive = s->what == PC__P_M_RLOCK;
        return m[0] == 'a' ? pc__p_m_acquire_req(s, recursive, deadline)
                           : pc__p_m_mutex_release(s, recursive);
    }
    case PC__P_M_SEMAPHORE:
    case PC__P_M_BSEMAPHORE: return pc__p_m_semaphore_call(s, m, deadline);
    case PC__P_M_EVENT: return pc__p_m_event_call(s, m, deadline, reply);
    case PC__P_M_CONDITION: return pc__p_m_condition_call(s, m, req, deadline);
    case PC__P_M_BARRIER: return pc__p_m_barrier_call(s, m, deadline, reply);
    default: return pc__p_m_queue_call(o, s, m, req, deadline, reply);
    }
}

// >>I.more: the rest of the dict's and the list's methods in the server
// Each answers the methods it knows and gives PC__P_M_NOT_MINE for the
// others, so that the kinds' call functions ask it with one line.
#define PC__P_M_LIST_MAX (1 << 24)      // a repeat's bound, as an Array's

// Python's == on two values: None equals None only, a nested proxy one to
// the same object; the rest is the set members' comparison (which never
// sees None: its data is NULL).
static int pc__p_m_more_eq(const pc__p_m_val *a, const pc__p_m_val *b) {
    if (a->type == PC_ARG_NONE || b->type == PC_ARG_NONE) return a->type == b->type;
    if (a->type == PC_ARG_PROXY || b->type == PC_ARG_PROXY)
        return a->type == b->type && a->i == b->i;
    return pc__p_m_val_eq(a, b);
}

static const char *pc__p_m_more_type_name(int type) {
    switch (type) {
    case PC_ARG_NONE: return "NoneType";
    case PC_ARG_INT: return "int";
    case PC_ARG_DOUBLE: return "float";
    case PC_ARG_BYTES: return "bytes";
    case PC_ARG_STR: return "str";
    default: return "proxy";
    }
}

// v as one plain reply item; what names it in the error (a pack has no None).
static int pc__p_m_more_plain(pc_args *reply, const pc__p_m_val *v, const char *what) {
    switch (v->type) {
    case PC_ARG_INT: return pc_args_add_int(reply, v->i);
    case PC_ARG_DOUBLE: return pc_args_add_double(reply, v->d);
    case PC_ARG_BYTES: return pc_args_add_bytes(reply, v->data, v->size);
    case PC_ARG_STR: return pc_args_add_str(reply, v->data);
    default:
        return pc__error(PC_VALUE, "TypeError: %s is %s, which a pack cannot hold (get it "
                                   "alone)", what, v->type == PC_ARG_NONE ? "None" : "a proxy");
    }
}

// Items lo..hi as plain reply items (values only: keys are not sent).
static int pc__p_m_more_values(const pc__p_m_obj *o, size_t lo, size_t hi, pc_args *reply,
                               int with_keys) {
    char what[64];
    for (size_t i = lo; i < hi; i++) {
        const pc__p_m_item *it = &o->items[i];
        if (with_keys && pc_args_add_str(reply, it->key)) return PC_NOMEM;
        if (it->key) snprintf(what, sizeof what, "the value of '%.40s'", it->key);
        else snprintf(what, sizeof what, "item %zu", i);
        int rc = pc__p_m_more_plain(reply, &it->v, what);
        if (rc) return rc;
    }
    return PC_OK;
}

static int pc__p_m_more_val_copy(pc__p_m_val *to, const pc__p_m_val *from) {
    return pc__p_m_val_set(to, from->type, from->i, from->d, from->data, from->size);
}

// copy: a new object of o's kind holding copies of its items; replies
// with its id.
static int pc__p_m_more_copy(const pc__p_m_obj *o, pc_args *reply) {
    pc__p_m_server *s = &pc__p_m_srv;
    if (pc__grow(&s->objs, &s->cap, s->nobjs + 1, sizeof(pc__p_m_obj *), 0)) return PC_NOMEM;
    pc__p_m_obj *c = (pc__p_m_obj *)pc__calloc(1, sizeof *c);
    if (!c) return PC_NOMEM;
    c->kind = o->kind;
    int rc = o->n && pc__grow(&c->items, &c->cap, o->n, sizeof(pc__p_m_item), 0) ? PC_NOMEM
                                                                                 : PC_OK;
    for (size_t i = 0; rc == PC_OK && i < o->n; i++) {
        pc__p_m_item *it = &c->items[i];
        it->key = NULL;
        if (o->items[i].key && !(it->key = pc__strdup(o->items[i].key))) rc = PC_NOMEM;
        else if ((rc = pc__p_m_more_val_copy(&it->v, &o->items[i].v))) pc__free(it->key);
        else c->n++;
    }
    if (rc == PC_OK) rc = pc_args_add_int(reply, s->next_id + 1);
    if (rc) {
        pc__p_m_items_free(c);
        pc__free(c);
        return rc;
    }
    c->id = ++s->next_id;
    s->objs[s->nobjs++] = c;
    return PC_OK;
}

static int pc__p_m_dict_more(pc__p_m_obj *o, const char *m, const pc_args *req,
                             pc_args *reply) {
    (void)req;
    if (strcmp(m, "items") == 0) return pc__p_m_more_values(o, 0, o->n, reply, 1);
    if (strcmp(m, "values") == 0) return pc__p_m_more_values(o, 0, o->n, reply, 0);
    if (strcmp(m, "copy") == 0) return pc__p_m_more_copy(o, reply);
    if (strcmp(m, "rkeys") == 0) {
        for (size_t i = o->n; i > 0; i--)
            if (pc_args_add_str(reply, o->items[i - 1].key)) return PC_NOMEM;
        return PC_OK;
    }
    if (strcmp(m, "popitem") != 0) return PC__P_M_NOT_MINE;
    if (o->n == 0) return pc__error(PC_VALUE, "KeyError: 'popitem(): dictionary is empty'");
    // [value, key]: the value tagged (None and proxies cross), then its key.
    int rc = pc__p_m_val_write(reply, &o->items[o->n - 1].v);
    if (rc == PC_OK) rc = pc_args_add_str(reply, o->items[o->n - 1].key);
    if (rc == PC_OK) pc__p_m_remove(o, o->n - 1, NULL);
    return rc;
}

// Request ints from item 3 on, then (want_value) a tagged value.
static int pc__p_m_more_args(const pc_args *req, int64_t *ints, size_t n, pc__p_m_val *v) {
    for (size_t i = 0; i < n; i++)
        if (pc_args_get_int(req, 3 + i, &ints[i]))
            return pc__error(PC_VALUE, "argument %zu is not an int", i);
    return v ? pc__p_m_val_read(req, 3 + n, v) : PC_OK;
}

// The first item equal to v within lo..hi, or (size_t)-1.
static size_t pc__p_m_more_find(const pc__p_m_obj *o, const pc__p_m_val *v, size_t lo,
                                size_t hi) {
    for (size_t i = lo; i < hi; i++)
        if (pc__p_m_more_eq(&o->items[i].v, v)) return i;
    return (size_t)-1;
}

// Python's <: numbers by value (an int and a float exactly), strs by code
// point (UTF-8's byte order is that), bytes by byte. NaN is less than nothing.
static int pc__p_m_more_lt(const pc__p_m_val *a, const pc__p_m_val *b) {
    if (a->type == PC_ARG_INT && b->type == PC_ARG_INT) return a->i < b->i;
    if (a->type == PC_ARG_DOUBLE && b->type == PC_ARG_DOUBLE) return a->d < b->d;
    if (a->type == PC_ARG_INT || a->type == PC_ARG_DOUBLE) {
        int flip = a->type == PC_ARG_DOUBLE;        // compare int i with double d
        int64_t i = flip ? b->i : a->i;
        double d = flip ? a->d : b->d;
        if (d != d) return 0;
        int sign;                                   // sign of i - d
        if (d >= 9223372036854775808.0) sign = -1;
        else if (d < -9223372036854775808.0) sign = 1;
        else {
            int64_t t = (int64_t)d;                 // truncated: |d - t| < 1
            double frac = d - (double)t;
            sign = i != t ? (i < t ? -1 : 1) : (frac > 0 ? -1 : frac < 0 ? 1 : 0);
        }
        return flip ? sign > 0 : sign < 0;
    }
    size_t n = a->size < b->size ? a->size : b->size;
    int c = n ? memcmp(a->data, b->data, n) : 0;
    return c < 0 || (c == 0 && a->size < b->size);
}

// The class a sort compares within: 1 numbers, 3 bytes, 4 strs, 0 none.
static int pc__p_m_more_class(int type) {
    if (type == PC_ARG_INT || type == PC_ARG_DOUBLE) return 1;
    return type == PC_ARG_BYTES || type == PC_ARG_STR ? type : 0;
}

// A stable merge sort of items lo..hi through tmp.
static void pc__p_m_more_msort(pc__p_m_item *it, pc__p_m_item *tmp, size_t lo, size_t hi,
                               int reverse) {
    if (hi - lo < 2) return;
    size_t mid = lo + (hi - lo) / 2, i = lo, j = mid, k = lo;
    pc__p_m_more_msort(it, tmp, lo, mid, reverse);
    pc__p_m_more_msort(it, tmp, mid, hi, reverse);
    while (i < mid && j < hi) {
        // Take from the right only when strictly before: equal items keep order.
        int right = reverse ? pc__p_m_more_lt(&it[i].v, &it[j].v)
                            : pc__p_m_more_lt(&it[j].v, &it[i].v);
        tmp[k++] = right ? it[j++] : it[i++];
    }
    while (i < mid) tmp[k++] = it[i++];
    while (j < hi) tmp[k++] = it[j++];
    memcpy(&it[lo], &tmp[lo], (hi - lo) * sizeof *it);
}

static int pc__p_m_more_sort(pc__p_m_obj *o, const pc_args *req) {
    int64_t reverse;
    if (pc_args_get_int(req, 3, &reverse)) return pc__error(PC_VALUE, "sort: reverse is not "
                                                                      "an int");
    if (o->n < 2) return PC_OK;                 // Python compares nothing then
    // All or nothing: a mix fails before anything moves (Python's sort
    // would leave the list partly sorted).
    int first = pc__p_m_more_class(o->items[0].v.type);
    for (size_t i = 0; i < o->n; i++) {
        int t = o->items[i].v.type;
        if (first == 0 || pc__p_m_more_class(t) != first)
            return pc__error(PC_VALUE, "TypeError: '<' not supported between instances of "
                                       "'%s' and '%s'", pc__p_m_more_type_name(t),
                             pc__p_m_more_type_name(o->items[0].v.type));
    }
    pc__p_m_item *tmp = (pc__p_m_item *)pc__malloc(o->n * sizeof *tmp);
    if (!tmp) return PC_NOMEM;
    pc__p_m_more_msort(o->items, tmp, 0, o->n, reverse != 0);
    pc__free(tmp);
    return PC_OK;
}

// insert: [index, value]; the index clipped as Python's list.insert does.
static int pc__p_m_more_insert(pc__p_m_obj *o, const pc_args *req) {
    int64_t i;
    pc__p_m_val v;
    if (pc_args_get_int(req, 3, &i)) return pc__error(PC_VALUE, "the index is not an int");
    int rc = pc__p_m_val_take(req, 4, &v);
    if (rc) return rc;
    if ((rc = pc__p_m_list_add(o, &v))) { pc__p_m_val_clear(&v); return rc; }
    size_t at = pc__p_m_bound(i, o->n - 1);
    pc__p_m_item last = o->items[o->n - 1];
    memmove(&o->items[at + 1], &o->items[at], (o->n - 1 - at) * sizeof last);
    o->items[at] = last;
    return PC_OK;
}

// *= n: the items n times (all or nothing).
static int pc__p_m_more_repeat(pc__p_m_obj *o, const pc_args *req) {
    int64_t times;
    if (pc_args_get_int(req, 3, &times)) return pc__error(PC_VALUE, "repeat: n is not an int");
    if (times <= 0 || o->n == 0) {
        while (o->n) pc__p_m_remove(o, o->n - 1, NULL);
        return PC_OK;
    }
    size_t n = o->n;
    if (times == 1) return PC_OK;
    if ((uint64_t)times > PC__P_M_LIST_MAX / n)
        return pc__error(PC_VALUE, "MemoryError: %zu items times %lld is over %d items", n,
                         (long long)times, PC__P_M_LIST_MAX);
    size_t total = n * (size_t)times;
    if (pc__grow(&o->items, &o->cap, total, sizeof(pc__p_m_item), 0)) return PC_NOMEM;
    for (size_t k = n; k < total; k++) {
        o->items[k].key = NULL;
        int rc = pc__p_m_more_val_copy(&o->items[k].v, &o->items[k - n].v);
        if (rc) {
            while (o->n > n) pc__p_m_remove(o, o->n - 1, NULL);
            return rc;
        }
        o->n++;
    }
    return PC_OK;
}

// remove, index, count, contains: [start, stop, value] for index, else [value].
static int pc__p_m_more_search(pc__p_m_obj *o, const char *m, const pc_args *req,
                               pc_args *reply) {
    int64_t b[2] = {0, INT64_MAX};
    pc__p_m_val v;
    int is_index = strcmp(m, "index") == 0;
    int rc = pc__p_m_more_args(req, b, is_index ? 2 : 0, &v);
    if (rc) return rc;
    size_t lo = pc__p_m_bound(b[0], o->n), hi = pc__p_m_bound(b[1], o->n);
    size_t at = pc__p_m_more_find(o, &v, lo, hi), count = 0;
    if (strcmp(m, "count") == 0) {
        for (size_t i = 0; i < o->n; i++) count += pc__p_m_more_eq(&o->items[i].v, &v);
        rc = pc_args_add_int(reply, (int64_t)count);
    } else if (m[0] == 'c') {
        rc = pc_args_add_int(reply, at != (size_t)-1);
    } else if (at == (size_t)-1) {
        rc = pc__error(PC_VALUE, "ValueError: list.%s(x): x not in list", m);
    } else if (is_index) {
        rc = pc_args_add_int(reply, (int64_t)at);
    } else {
        pc__p_m_remove(o, at, NULL);
    }
    pc__p_m_val_clear(&v);
    return rc;
}

static int pc__p_m_list_more(pc__p_m_obj *o, const char *m, const pc_args *req,
                             pc_args *reply) {
    int64_t b[2] = {0, 0};
    int rc;
    if (strcmp(m, "insert") == 0) return pc__p_m_more_insert(o, req);
    if (strcmp(m, "remove") == 0 || strcmp(m, "index") == 0 || strcmp(m, "count") == 0 ||
        strcmp(m, "contains") == 0)
        return pc__p_m_more_search(o, m, req, reply);
    if (strcmp(m, "sort") == 0) return pc__p_m_more_sort(o, req);
    if (strcmp(m, "repeat") == 0) return pc__p_m_more_repeat(o, req);
    if (strcmp(m, "copy") == 0) return pc__p_m_more_copy(o, reply);
    if (strcmp(m, "clear") == 0) {
        while (o->n) pc__p_m_remove(o, o->n - 1, NULL);
        return PC_OK;
    }
    if (strcmp(m, "del") == 0) {
        if ((rc = pc__p_m_more_args(req, b, 1, NULL))) return rc;
        if (b[0] < 0) b[0] += (int64_t)o->n;
        if (b[0] < 0 || (uint64_t)b[0] >= o->n)
            return pc__error(PC_VALUE, "IndexError: list assignment index out of range");
        pc__p_m_remove(o, (size_t)b[0], NULL);
        return PC_OK;
    }
    if (strcmp(m, "slice") != 0 && strcmp(m, "delslice") != 0) return PC__P_M_NOT_MINE;
    if ((rc = pc__p_m_more_args(req, b, 2, NULL))) return rc;
    size_t lo = pc__p_m_bound(b[0], o->n), hi = pc__p_m_bound(b[1], o->n);
    if (m[0] == 's') return pc__p_m_more_values(o, lo, hi, reply, 0);
    while (hi > lo) pc__p_m_remove(o, --hi, NULL);
    return PC_OK;
}

// >>I.finish: the server's initializer, a wrong key's warning, the dict's index
// The initializer crosses as a funcref (as registered types' functions
// do), then its arguments follow as items of the server's own pack.
static int pc__p_m_init_pack(pc_args *a, const pc_manager_desc *desc) {
    pc__p_buf b;
    memset(&b, 0, sizeof b);
    pc_target_fn fn = desc ? desc->initializer : NULL;
    int rc = fn ? pc__p_m_fn_put(&b, &fn, sizeof fn) : PC_OK;
    if (rc == PC_OK) rc = b.bad ? PC_NOMEM : pc_args_add_bytes(a, b.p, b.len);
    pc__free(b.p);
    const pc_args *in = desc ? desc->initargs : NULL;
    for (size_t i = 0; rc == PC_OK && in && i < in->len; i++) {
        const pc__p_arg *it = &in->items[i];
        if (it->type == PC_ARG_CONNECTION) rc = pc_args_add_connection(a, it->conn);
        else if (pc__p_arg_is_handle(it->type))
            rc = pc__p_args_add_handle(a, it->type, it->obj, it->obj_id);
        else if (it->type == PC_ARG_INT) rc = pc_args_add_int(a, it->i);
        else if (it->type == PC_ARG_DOUBLE) rc = pc_args_add_double(a, it->d);
        else rc = pc__p_args_add_data(a, it->type, it->data, it->size);
        if (rc) rc = pc__error(rc, "manager initargs: item %zu: %s", i, pc_last_error());
    }
    return rc;
}

// The items of a from i on, moved into a pack of their own (which then
// owns the connections and shared objects a received pack owns).
static pc_args *pc__p_m_init_args(pc_args *a, size_t i) {
    pc_args *out = pc_args_new();
    if (!out) return NULL;
    out->owns_connections = a->owns_connections;
    for (; i < a->len; i++) {
        pc__p_arg *it = pc__p_args_push(out, a->items[i].type);
        if (!it) { pc_args_free(out); return NULL; }
        *it = a->items[i];
        a->items[i].data = NULL;
        a->items[i].conn = NULL;
        a->items[i].obj = NULL;
    }
    return out;
}

// In the server: run the initializer item i names (an empty item: none)
// with the items after it. *out_pack is the caller's to free once the
// server stops. Returns its failure (code and message), or PC_OK.
static int pc__p_m_init_run(pc_args *a, size_t i, pc_args **out_pack) {
    const void *data;
    size_t n;
    pc_target_fn fn = NULL;
    if (pc_args_get_bytes(a, i, &data, &n) || n == 0) return PC_OK;
    pc__p_buf b;
    memset(&b, 0, sizeof b);
    b.p = (unsigned char *)(uintptr_t)data;
    b.len = n;
    int rc = pc__p_m_fn_get(&b, &fn, sizeof fn);
    if (rc) return pc__error(rc, "manager initializer: %s", pc_last_error());
    if (!(*out_pack = pc__p_m_init_args(a, i + 1))) return PC_NOMEM;
    uint64_t seq = pc__error_seq();
    (void)pc__exception_take(NULL, 0);
    rc = fn(*out_pack);
    char msg[256];
    int raised = pc__exception_take(msg, sizeof msg);
    if (raised) return pc__error(raised, "%s", msg);
    if (rc == PC_OK) return PC_OK;
    if (pc__error_seq() != seq) return pc__error(rc, "%s", pc_last_error());
    return pc__error(rc, "the manager's initializer failed (status %d)", rc);
}

// A dict's index: open addressing over the positions of items[], linear
// probing, a power-of-two table at most half full. A removed item leaves a
// hole in items[] (and a tombstone here), so that removing is O(1) while
// items[] keeps the insertion order; the holes go (pc__p_m_dense) before
// any call that walks the items, or once they are half of them.
#define PC__P_M_INDEX_MIN 16    // fewer keys: a scan is as fast
#define PC__P_M_GONE ((size_t)-1)

struct pc__p_m_keyix {
    size_t *slots;              // 0: empty; PC__P_M_GONE: a tombstone; else position + 1
    size_t cap;                 // a power of two
    size_t used;                // slots not empty
    size_t holes;               // items[] entries with key NULL
};

static uint64_t pc__p_m_hash(const char *key) {        // FNV-1a
    uint64_t h = 1469598103934665603u;
    for (const unsigned char *p = (const unsigned char *)key; *p; p++)
        h = (h ^ *p) * 1099511628211u;
    return h ^ (h >> 29);
}

static size_t pc__p_m_live(const pc__p_m_obj *o) {
    return o->n - (o->index ? o->index->holes : 0);
}

// The slot holding key (*out_found 1), or else the empty one that ends
// its probe.
static size_t pc__p_m_keyix_slot(const pc__p_m_obj *o, const char *key, int *out_found) {
    const pc__p_m_keyix *ix = o->index;
    size_t mask = ix->cap - 1, i = (size_t)pc__p_m_hash(key) & mask;
    for (;; i = (i + 1) & mask) {
        size_t s = ix->slots[i];
        if (s == 0) { *out_found = 0; return i; }
        if (s != PC__P_M_GONE && strcmp(o->items[s - 1].key, key) == 0) {
            *out_found = 1;
            return i;
        }
    }
}

// (Re)make the index for the items there are; on failure there is none
// (the object goes back to scanning, which needs no holes).
static void pc__p_m_squeeze(pc__p_m_obj *o);

static void pc__p_m_index_build(pc__p_m_obj *o) {
    size_t holes = o->index ? o->index->holes : 0, live = o->n - holes, cap = 32;
    while (cap < 2 * live + 2) cap *= 2;
    size_t *slots = (size_t *)pc__calloc(cap, sizeof(size_t));
    if (slots && !o->index && !(o->index = (pc__p_m_keyix *)pc__calloc(1, sizeof *o->index))) {
        pc__free(slots);
        slots = NULL;
    }
    if (!slots) {                       // out of memory: back to scanning, without holes
        if (o->index) pc__p_m_squeeze(o);
        if (o->index) pc__free(o->index->slots);
        pc__free(o->index);
        o->index = NULL;
        return;
    }
    pc__free(o->index->slots);
    o->index->slots = slots;
    o->index->cap = cap;
    o->index->used = live;
    for (size_t i = 0; i < o->n; i++) {
        int found;
        if (o->items[i].key) slots[pc__p_m_keyix_slot(o, o->items[i].key, &found)] = i + 1;
    }
}

static size_t pc__p_m_index_find(pc__p_m_obj *o, const char *key) {
    if (!o->index && o->n >= PC__P_M_INDEX_MIN) pc__p_m_index_build(o);
    if (!o->index) return PC__P_M_SCAN;
    int found;
    size_t i = pc__p_m_keyix_slot(o, key, &found);
    return found ? o->index->slots[i] - 1 : (size_t)-1;
}

// items[n - 1] was just appended.
static void pc__p_m_index_added(pc__p_m_obj *o) {
    pc__p_m_keyix *ix = o->index;
    if (!ix) return;
    if (2 * (ix->used + 1) > ix->cap) { pc__p_m_index_build(o); return; }    // it is in
    int found;
    size_t i = pc__p_m_keyix_slot(o, o->items[o->n - 1].key, &found);
    ix->slots[i] = o->n;
    ix->used++;
}

// Remove item at: its slot becomes a tombstone, its entry a hole (the
// last one simply goes, with the holes before it).
static void pc__p_m_index_remove(pc__p_m_obj *o, size_t at, pc__p_m_val *out) {
    pc__p_m_keyix *ix = o->index;
    int found;
    size_t i = pc__p_m_keyix_slot(o, o->items[at].key, &found);
    if (found) ix->slots[i] = PC__P_M_GONE;
    pc__free(o->items[at].key);
    o->items[at].key = NULL;
    if (out) *out = o->items[at].v;
    else pc__p_m_val_clear(&o->items[at].v);
    memset(&o->items[at].v, 0, sizeof o->items[at].v);
    ix->holes++;
    while (o->n && !o->items[o->n - 1].key) { o->n--; ix->holes--; }
    if (ix->holes > 16 && 2 * ix->holes > o->n) pc__p_m_dense(o);
}

// Close the holes (the order stays); the index is stale then.
static void pc__p_m_squeeze(pc__p_m_obj *o) {
    size_t j = 0;
    for (size_t i = 0; i < o->n; i++)
        if (o->items[i].key) o->items[j++] = o->items[i];
    o->n = j;
    o->index->holes = 0;
}

// Close the holes and index the items again.
static void pc__p_m_dense(pc__p_m_obj *o) {
    if (!o->index || !o->index->holes) return;
    pc__p_m_squeeze(o);
    pc__p_m_index_build(o);
}

// A client that fails the handshake is dropped, and said so: the server
// lives on, but whoever runs it learns that someone holds a wrong key.
static void pc__p_m_auth_warn(const pc_listener *l) {
    const char *peer = pc_listener_last_accepted(l);
    pc__p_log(PC_LOG_WARNING, "manager: a client at %s failed the authkey handshake (%s)",
              peer && peer[0] ? peer : "an unnamed unix socket", pc_last_error());
}

// >>I.proxy: a proxy's connection and its calls
// Each thread that calls through a proxy has a connection of its own (as
// Python's BaseProxy keeps one per thread), so that a call that blocks in
// the server (a lock's acquire, a queue's get) holds up no other thread.
typedef struct pc__p_m_conn {
    uint64_t thread;            // its one user's pc__p_token (a later thread never has it)
    pc_connection *conn;        // NULL until its first call, or after a broken one
    pc__p_m_ring *ring;         // its rings, when the server gave some (// >>I.ring)
    pc__p_m_ring *spent;        // rings of a broken connection, let go at the next dial
    int64_t next_request;
} pc__p_m_conn;

static void pc__p_m_conn_close(pc__p_m_conn *c) {
    pc__p_m_ring_free(c->ring);
    pc__p_m_ring_free(c->spent);
    c->ring = c->spent = NULL;
    pc_connection_free(c->conn);
    c->conn = NULL;
}

// A broken connection: the call that found it returns PC_BROKEN at once;
// unmapping its rings (tens of microseconds) waits for the next dial.
static void pc__p_m_conn_broken(pc__p_m_conn *c) {
    pc__p_m_ring_free(c->spent);
    c->spent = c->ring;
    c->ring = NULL;
    pc_connection_free(c->conn);
    c->conn = NULL;
}

struct pc_proxy {
    char *address;
    pc_family family;
    unsigned char authkey[PC_AUTHKEY_MAX];
    size_t authkey_size;
    int64_t id;                 // the object in the server (0: the server itself)
    char kind[PC__P_M_KIND_MAX];  // its typeid
    pc_lock lock;               // guards the table below, never held during a call
    pc__p_m_conn **conns;       // a thread's entry never moves (the table holds pointers)
    size_t nconns, cap;
    long pid;                   // the process the connections belong to
};

static long pc__p_m_pid(void) { return pc_process_pid(pc_process_current()); }

static pc_proxy *pc__p_m_proxy_new(const char *address, pc_family family, const void *key,
                                 size_t keylen, int64_t id, const char *kind) {
    pc_proxy *p = (pc_proxy *)pc__calloc(1, sizeof *p);
    if (!p) return NULL;
    p->address = pc__strdup(address);
    if (!p->address) { pc__free(p); return NULL; }
    p->family = family;
    memcpy(p->authkey, key, keylen);
    p->authkey_size = keylen;
    p->id = id;
    snprintf(p->kind, sizeof p->kind, "%s", kind ? kind : "");   // the stop's has none
    pc_lock_init(&p->lock);
    p->pid = pc__p_m_pid();
    return p;
}

// Close and forget every thread's connection.
static void pc__p_m_drop_conns(pc_proxy *p) {
    for (size_t i = 0; i < p->nconns; i++) {
        pc__p_m_conn_close(p->conns[i]);
        pc__free(p->conns[i]);
    }
    pc__free(p->conns);
    p->conns = NULL;
    p->nconns = p->cap = 0;
}

PYCONC_API void pc_proxy_free(pc_proxy *p) {
    if (!p) return;
    pc__p_m_drop_conns(p);
    pc__free(p->address);
    pc__free(p);
}

// PC_BROKEN, with the cause that is in pc_last_error now (copied: the
// message is written where the cause is read from).
static int pc__p_m_broken(const pc_proxy *p) {
    char why[256];
    snprintf(why, sizeof why, "%s", pc_last_error());
    return pc__error(PC_BROKEN, "manager at %s is gone: %s", p->address, why);
}

// A new connection to p's server, through the authkey handshake.
static int pc__p_m_dial(const pc_proxy *p, pc_connection **out) {
    pc_client_desc cd;
    memset(&cd, 0, sizeof cd);
    cd.address = p->address;
    cd.family = p->family;
    cd.authkey = p->authkey;
    cd.authkey_size = p->authkey_size;
    int rc = pc_client(&cd, out);
    return rc == PC_OS || rc == PC_EOF ? pc__p_m_broken(p) : rc;
}

// >>I.ring-proxy: a new connection of a thread asks for rings (on a unix
// socket, where both ends share the machine); a server that has none to
// give answers with an error, and the socket serves.
static int pc__p_m_ring_ask(const pc_proxy *p, pc__p_m_conn *c) {
    if (!PC__PP_RINGS || !pc__p_conn_is_unix(c->conn)) return PC_OK;
    pc_args *req = pc_args_new(), *reply = NULL;
    int rc = req ? PC_OK : PC_NOMEM;
    if (rc == PC_OK) rc = pc_args_add_int(req, 0);
    if (rc == PC_OK) rc = pc_args_add_int(req, 0);
    if (rc == PC_OK) rc = pc_args_add_str(req, PC__P_M_RINGS_ASK);
    if (rc == PC_OK) rc = pc_connection_send_args(c->conn, req);
    if (rc == PC_OK) rc = pc_connection_recv_args(c->conn, &reply);
    pc_args_free(req);
    int64_t rid = -1, status = -1;
    pc_mp_array *arr = NULL;
    if (rc == PC_OK && (pc_args_get_int(reply, 0, &rid) || rid != 0 ||
                        pc_args_get_int(reply, 1, &status)))
        rc = pc__error(PC_OS, "malformed reply");
    if (rc == PC_OK && status == 0 &&
        (pc_args_get_mp_array(reply, 3, &arr) ||
         pc_mp_array_length(arr) < (sizeof(pc__p_m_shm) + 7) / 8))
        rc = pc__error(PC_OS, "the server's rings are not whole");
    if (rc == PC_OK && status == 0) {
        c->ring = pc__p_m_ring_new(c->conn, (pc__p_m_shm *)pc_mp_array_get_obj(arr), 0);
        if (!c->ring) rc = PC_NOMEM;
        else c->ring->pack = reply, reply = NULL;
    }
    pc_args_free(reply);
    if (rc == PC_OK) return PC_OK;
    pc__p_m_conn_close(c);          // the server may use rings the client has not
    return rc == PC_NOMEM ? rc : pc__p_m_broken(p);
}

// The calling thread's entry, made at its first call. A fork child first
// drops every copy of the parent's connections (a reply there would go to
// whichever process reads first, Python's gh-101320) and makes its own.
static int pc__p_m_connect(pc_proxy *p, pc__p_m_conn **out) {
    long pid = pc__p_m_pid(), seen = __atomic_load_n(&p->pid, __ATOMIC_ACQUIRE);
    if (seen != pid && seen != -pid &&
        __atomic_compare_exchange_n(&p->pid, &seen, -pid, 0, __ATOMIC_ACQ_REL,
                                    __ATOMIC_ACQUIRE)) {
        // The child's first caller: the lock may have been held by a thread
        // that did not come along, so it cannot guard this; -pid holds off
        // the child's other threads meanwhile.
        pc_lock_init(&p->lock);
        pc__p_m_drop_conns(p);
        __atomic_store_n(&p->pid, pid, __ATOMIC_RELEASE);
    }
    while (__atomic_load_n(&p->pid, __ATOMIC_ACQUIRE) != pid) pc_sleep(0.0001);
    uint64_t me = pc__p_token();
    pc__p_m_conn *c = NULL;
    int rc = PC_OK;
    pc_lock_acquire(&p->lock, PC_FOREVER);
    for (size_t i = 0; !c && i < p->nconns; i++)
        if (p->conns[i]->thread == me) c = p->conns[i];
    if (!c && pc__grow(&p->conns, &p->cap, p->nconns + 1, sizeof(pc__p_m_conn *), 0) == PC_OK &&
        (c = (pc__p_m_conn *)pc__calloc(1, sizeof *c))) {
        c->thread = me;
        p->conns[p->nconns++] = c;
    }
    pc_lock_release(&p->lock);
    if (!c) return PC_NOMEM;
    if (!c->conn) {
        pc__p_m_ring_free(c->spent);
        c->spent = NULL;
        if ((rc = pc__p_m_dial(p, &c->conn)) == PC_OK) rc = pc__p_m_ring_ask(p, c);
    }
    *out = c;
    return rc;
}

static int pc__p_m_transport_error(pc_proxy *p, pc__p_m_conn *c, int rc) {
    if (rc == PC_NOMEM) return rc;
    pc__p_m_conn_broken(c);         // a half-done exchange leaves it unusable
    return pc__p_m_broken(p);
}

static int pc__p_m_replied(pc_proxy *p, pc__p_m_conn *c, pc_args *reply, pc_args **out_reply);

// Send req (its first three items filled here) on this thread's connection
// c and read the reply; *out_reply (may be NULL) gets it, results from
// item 3 on.
static int pc__p_m_exchange(pc_proxy *p, pc__p_m_conn *c, pc_args *req, pc_args **out_reply) {
    pc_args *reply = NULL;
    int rc = c->ring ? pc__p_m_ring_send(c->ring, req) : pc_connection_send_args(c->conn, req);
    if (rc == PC_OK)
        rc = c->ring ? pc__p_m_ring_recv(c->ring, 0, &reply)
                     : pc_connection_recv_args(c->conn, &reply);
    if (rc) return pc__p_m_transport_error(p, c, rc);
    return pc__p_m_replied(p, c, reply, out_reply);
}

// The same on rings, the request [id, object, method, args...] written
// without building it.
static int pc__p_m_ring_exchange(pc_proxy *p, pc__p_m_conn *c, const char *method,
                                 const pc_args *args, pc_args **out_reply) {
    pc_args *reply = NULL;
    int rc = pc__p_m_ring_send_parts(c->ring, c->next_request, p->id, method, args);
    if (rc == PC_OK) rc = pc__p_m_ring_recv(c->ring, 0, &reply);
    if (rc) return pc__p_m_transport_error(p, c, rc);
    return pc__p_m_replied(p, c, reply, out_reply);
}

// Check c's reply (taken over) to its last request; *out_reply (may be
// NULL) gets it.
static int pc__p_m_replied(pc_proxy *p, pc__p_m_conn *c, pc_args *reply, pc_args **out_reply) {
    int64_t rid, status;
    const char *msg;
    int rc;
    if (pc_args_get_int(reply, 0, &rid) || pc_args_get_int(reply, 1, &status) ||
        pc_args_get_str(reply, 2, &msg) || rid != c->next_request) {
        pc_args_free(reply);
        return pc__p_m_transport_error(p, c, pc__error(PC_OS, "malformed reply"));
    }
    if (status) {
        rc = pc__error(status > 0 && status <= PC_OWNER_DEAD ? (int)status : PC_OS, "%s", msg);
        pc_args_free(reply);
        return rc;
    }
    if (out_reply) *out_reply = reply;
    else pc_args_free(reply);
    return PC_OK;
}

// Call method with the arguments in args (may be NULL) on p's object.
static int pc__p_m_call(pc_proxy *p, const char *method, const pc_args *args, pc_args **out) {
    if (!p) return pc__error(PC_VALUE, "proxy is NULL");
    pc__p_m_conn *c = NULL;
    int rc = pc__p_m_connect(p, &c);
    if (rc) return rc;
    if (c->ring && (!args || !pc__p_args_has_fds(args))) {
        ++c->next_request;
        return pc__p_m_ring_exchange(p, c, method, args, out);
    }
    pc_args *req = pc_args_new();
    if (!req) return PC_NOMEM;
    rc = pc_args_add_int(req, ++c->next_request);
    if (rc == PC_OK) rc = pc_args_add_int(req, p->id);
    if (rc == PC_OK) rc = pc_args_add_str(req, method);
    for (size_t i = 0; rc == PC_OK && args && i < pc_args_len(args); i++)
        rc = pc__p_m_copy_item(req, args, i);
    if (rc == PC_OK) rc = pc__p_m_exchange(p, c, req, out);
    pc_args_free(req);
    return rc;
}

// A call meant for a proxy of kind: refused on NULL and on another kind.
static int pc__p_m_check(pc_proxy *p, const char *kind, const char *what) {
    if (!p) return pc__error(PC_VALUE, "%s: proxy is NULL", what);
    if (strcmp(p->kind, kind) != 0)
        return pc__error(PC_VALUE, "%s: the proxy is a %s, not a %s", what, p->kind, kind);
    return PC_OK;
}

// A call whose arguments are [key] then an optional value.
static int pc__p_m_key_call(pc_proxy *p, const char *what, const char *m, const char *key,
                          const pc_proxy_value *v, pc_args **out) {
    int rc = pc__p_m_check(p, "dict", what);
    if (rc) return rc;
    if (!key) return pc__error(PC_VALUE, "%s: key is NULL", what);
    pc_args *a = pc_args_new();
    if (!a) return PC_NOMEM;
    rc = pc_args_add_str(a, key);
    if (rc == PC_OK && v) rc = pc__p_m_value_write(a, v, p);
    if (rc == PC_OK) rc = pc__p_m_call(p, m, a, out);
    pc_args_free(a);
    return rc;
}

static int pc__p_m_nested_result(const pc_proxy *p, pc__p_m_val *v, pc_proxy_value *out);

// Results item 3 on of reply as the caller's value; frees reply.
static int pc__p_m_result_value(const pc_proxy *p, pc_args *reply, pc_proxy_value *out) {
    pc__p_m_val v;
    int rc = pc__p_m_val_read(reply, 3, &v);
    pc_args_free(reply);
    if (rc) return rc;
    if (v.type == PC_ARG_PROXY) return pc__p_m_nested_result(p, &v, out);
    out->type = (pc_arg_type)v.type;
    out->i = v.i;
    out->d = v.d;
    out->data = v.data;
    out->size = v.size;
    return PC_OK;
}

// A key call (with a value, may be NULL) whose result, a value, goes to out
// (may be NULL).
static int pc__p_m_key_value_call(pc_proxy *p, const char *what, const char *m, const char *key,
                                  const pc_proxy_value *v, pc_proxy_value *out) {
    pc_args *reply = NULL;
    if (out) *out = pc_proxy_none();
    int rc = pc__p_m_key_call(p, what, m, key, v, out ? &reply : NULL);
    return rc || !out ? rc : pc__p_m_result_value(p, reply, out);
}

static int pc__p_m_get_value(pc_proxy *p, const char *what, const char *m, const char *key,
                           const pc_proxy_value *dflt, pc_proxy_value *out) {
    if (!out) return pc__error(PC_VALUE, "%s: out_value is NULL", what);
    return pc__p_m_key_value_call(p, what, m, key, dflt, out);
}

PYCONC_API int pc_proxy_dict_set(pc_proxy *p, const char *key, pc_proxy_value value) {
    return pc__p_m_key_call(p, "pc_proxy_dict_set", "set", key, &value, NULL);
}
PYCONC_API int pc_proxy_dict_get(pc_proxy *p, const char *key, const pc_proxy_value *dflt,
                                 pc_proxy_value *out_value) {
    return pc__p_m_get_value(p, "pc_proxy_dict_get", "get", key, dflt, out_value);
}
PYCONC_API int pc_proxy_dict_pop(pc_proxy *p, const char *key, const pc_proxy_value *dflt,
                                 pc_proxy_value *out_value) {
    return pc__p_m_get_value(p, "pc_proxy_dict_pop", "pop", key, dflt, out_value);
}
PYCONC_API int pc_proxy_dict_del(pc_proxy *p, const char *key) {
    return pc__p_m_key_call(p, "pc_proxy_dict_del", "del", key, NULL, NULL);
}
PYCONC_API int pc_proxy_dict_contains(pc_proxy *p, const char *key, int *out_found) {
    pc_args *reply = NULL;
    int64_t found = 0;
    if (!out_found) return pc__error(PC_VALUE, "pc_proxy_dict_contains: out_found is NULL");
    int rc = pc__p_m_key_call(p, "pc_proxy_dict_contains", "contains", key, NULL, &reply);
    if (rc) return rc;
    rc = pc_args_get_int(reply, 3, &found) ? pc__error(PC_BROKEN, "malformed reply") : PC_OK;
    pc_args_free(reply);
    *out_found = found != 0;
    return rc;
}
PYCONC_API int pc_proxy_len(pc_proxy *p, size_t *out_len) {
    pc_args *reply = NULL;
    int64_t n = 0;
    if (!out_len) return pc__error(PC_VALUE, "pc_proxy_len: out_len is NULL");
    int rc = pc__p_m_call(p, "len", NULL, &reply);
    if (rc) return rc;
    rc = pc_args_get_int(reply, 3, &n) ? pc__error(PC_BROKEN, "malformed reply") : PC_OK;
    pc_args_free(reply);
    *out_len = (size_t)n;
    return rc;
}
PYCONC_API int pc_proxy_dict_keys(pc_proxy *p, pc_args **out_keys) {
    pc_args *reply = NULL;
    if (!out_keys) return pc__error(PC_VALUE, "pc_proxy_dict_keys: out_keys is NULL");
    int rc = pc__p_m_check(p, "dict", "pc_proxy_dict_keys");
    if (rc == PC_OK) rc = pc__p_m_call(p, "keys", NULL, &reply);
    if (rc) return rc;
    pc_args *keys = pc_args_new();
    for (size_t i = 3; keys && rc == PC_OK && i < pc_args_len(reply); i++)
        rc = pc__p_m_copy_item(keys, reply, i);
    pc_args_free(reply);
    if (!keys || rc) { pc_args_free(keys); return rc ? rc : PC_NOMEM; }
    *out_keys = keys;
    return PC_OK;
}

// A call whose arguments are the items of a user's pack (update, extend).
static int pc__p_m_pack_call(pc_proxy *p, const char *kind, const char *what, const char *m,
                           const pc_args *items) {
    int rc = pc__p_m_check(p, kind, what);
    if (rc) return rc;
    if (!items) return pc__error(PC_VALUE, "%s: the pack is NULL", what);
    return pc__p_m_call(p, m, items, NULL);
}
PYCONC_API int pc_proxy_dict_update(pc_proxy *p, const pc_args *pairs) {
    return pc__p_m_pack_call(p, "dict", "pc_proxy_dict_update", "update", pairs);
}
PYCONC_API int pc_proxy_dict_clear(pc_proxy *p) {
    int rc = pc__p_m_check(p, "dict", "pc_proxy_dict_clear");
    return rc ? rc : pc__p_m_call(p, "clear", NULL, NULL);
}
PYCONC_API int pc_proxy_list_extend(pc_proxy *p, const pc_args *items) {
    return pc__p_m_pack_call(p, "list", "pc_proxy_list_extend", "extend", items);
}
PYCONC_API int pc_proxy_list_reverse(pc_proxy *p) {
    int rc = pc__p_m_check(p, "list", "pc_proxy_list_reverse");
    return rc ? rc : pc__p_m_call(p, "reverse", NULL, NULL);
}

// A list call with arguments [index?, value?].
static int pc__p_m_list_call_at(pc_proxy *p, const char *what, const char *m, const int64_t *i,
                              const pc_proxy_value *v, pc_proxy_value *out) {
    pc_args *reply = NULL;
    int rc = pc__p_m_check(p, "list", what);
    if (rc) return rc;
    if (out) *out = pc_proxy_none();
    pc_args *a = pc_args_new();
    if (!a) return PC_NOMEM;
    if (i) rc = pc_args_add_int(a, *i);
    if (rc == PC_OK && v) rc = pc__p_m_value_write(a, v, p);
    if (rc == PC_OK) rc = pc__p_m_call(p, m, a, out ? &reply : NULL);
    pc_args_free(a);
    return rc || !out ? rc : pc__p_m_result_value(p, reply, out);
}
PYCONC_API int pc_proxy_list_append(pc_proxy *p, pc_proxy_value value) {
    return pc__p_m_list_call_at(p, "pc_proxy_list_append", "append", NULL, &value, NULL);
}
PYCONC_API int pc_proxy_list_get(pc_proxy *p, int64_t i, pc_proxy_value *out_value) {
    if (!out_value) return pc__error(PC_VALUE, "pc_proxy_list_get: out_value is NULL");
    return pc__p_m_list_call_at(p, "pc_proxy_list_get", "get", &i, NULL, out_value);
}
PYCONC_API int pc_proxy_list_set(pc_proxy *p, int64_t i, pc_proxy_value value) {
    return pc__p_m_list_call_at(p, "pc_proxy_list_set", "set", &i, &value, NULL);
}
PYCONC_API int pc_proxy_list_pop(pc_proxy *p, int64_t i, pc_proxy_value *out_value) {
    if (!out_value) return pc__error(PC_VALUE, "pc_proxy_list_pop: out_value is NULL");
    return pc__p_m_list_call_at(p, "pc_proxy_list_pop", "pop", &i, NULL, out_value);
}

// A proxy in a pack: magic, family, id, key size, key, typeid and address
// (each with its NUL).
PYCONC_API int pc_proxy_add_to_args(pc_args *a, const pc_proxy *p) {
    if (!a || !p) return pc__error(PC_VALUE, "pc_proxy_add_to_args: NULL argument");
    size_t klen = strlen(p->kind) + 1, alen = strlen(p->address) + 1;
    size_t n = 8 + 1 + 8 + 8 + p->authkey_size + klen + alen;
    unsigned char *b = (unsigned char *)pc__malloc(n), *w = b;
    if (!b) return PC_NOMEM;
    uint64_t keylen = p->authkey_size;
    memcpy(w, PC__P_M_MAGIC, 8), w += 8;
    *w++ = (unsigned char)p->family;
    memcpy(w, &p->id, 8), w += 8;
    memcpy(w, &keylen, 8), w += 8;
    memcpy(w, p->authkey, p->authkey_size), w += p->authkey_size;
    memcpy(w, p->kind, klen), w += klen;
    memcpy(w, p->address, alen);
    int rc = pc_args_add_bytes(a, b, n);
    pc__free(b);
    return rc;
}

PYCONC_API int pc_proxy_from_args(const pc_args *a, size_t i, pc_proxy **out_proxy) {
    const unsigned char *b;
    const void *data;
    const char *kind;
    size_t n, klen;
    int64_t id;
    uint64_t keylen;
    if (!out_proxy) return pc__error(PC_VALUE, "pc_proxy_from_args: out_proxy is NULL");
    if (pc_args_get_bytes(a, i, &data, &n)) return PC_VALUE;
    b = (const unsigned char *)data;
    if (n < 25 || memcmp(b, PC__P_M_MAGIC, 8) != 0 || b[8] > 3) goto bad;
    memcpy(&id, b + 9, 8);
    memcpy(&keylen, b + 17, 8);
    if (keylen > PC_AUTHKEY_MAX || n < 25 + keylen + 2 || b[n - 1] != '\0') goto bad;
    kind = (const char *)b + 25 + keylen;
    klen = strnlen(kind, n - 25 - (size_t)keylen);
    if (klen == 0 || klen >= PC__P_M_KIND_MAX || 25 + keylen + klen + 1 >= n) goto bad;
    *out_proxy = pc__p_m_proxy_new(kind + klen + 1, (pc_family)b[8], b + 25, (size_t)keylen,
                                 id, kind);
    return *out_proxy ? PC_OK : PC_NOMEM;
bad:
    return pc__error(PC_VALUE, "pc_proxy_from_args: item %zu is not a proxy", i);
}

// >>I.wire-proxy: compound dict calls, and batches of pipelined calls
PYCONC_API int pc_proxy_dict_setdefault(pc_proxy *p, const char *key, pc_proxy_value dflt,
                                        pc_proxy_value *out_value) {
    return pc__p_m_key_value_call(p, "pc_proxy_dict_setdefault", "setdefault", key, &dflt,
                                  out_value);
}
PYCONC_API int pc_proxy_dict_incr(pc_proxy *p, const char *key, pc_proxy_value delta,
                                  pc_proxy_value *out_value) {
    if (delta.type != PC_ARG_INT && delta.type != PC_ARG_DOUBLE) {
        if (out_value) *out_value = pc_proxy_none();
        return pc__error(PC_VALUE, "TypeError: pc_proxy_dict_incr: delta is not an int or "
                                   "float");
    }
    return pc__p_m_key_value_call(p, "pc_proxy_dict_incr", "incr", key, &delta, out_value);
}

// A batch: its calls' requests are framed into one buffer as they are
// queued, then written while the replies are read (poll), so neither
// socket buffer can fill up and stall both ends, whatever the sizes. The
// server answers a connection's requests in order: reply k is call k's,
// which its request id confirms.
enum { PC__P_M_OUT_NONE, PC__P_M_OUT_VALUE, PC__P_M_OUT_PACK };

typedef struct pc__p_m_slot {
    char *method;
    int out_kind;               // PC__P_M_OUT_*
    void *out;                  // a pc_proxy_value * or a pc_args **
    int status;
    char *message;              // a failed call's (NULL: none)
} pc__p_m_slot;

struct pc_proxy_batch {
    pc_proxy *proxy;            // borrowed
    pc_connection *conn;        // the batch's own, made at the first run
    long pid;                   // the process conn belongs to
    pc__p_buf frames;           // the queued requests, framed
    pc__p_m_slot *calls;
    size_t n, cap;
    int ran;                    // the calls hold a run's results
    int64_t next_request;
    size_t answered;            // calls whose replies came in the last run
    char *lost;                 // why the others failed, when the connection did
};

PYCONC_API pc_proxy_batch *pc_proxy_batch_new(pc_proxy *p) {
    if (!p) {
        pc__error(PC_VALUE, "pc_proxy_batch_new: proxy is NULL");
        return NULL;
    }
    pc_proxy_batch *b = (pc_proxy_batch *)pc__calloc(1, sizeof *b);
    if (!b) return NULL;
    b->proxy = p;
    b->pid = pc__p_m_pid();
    return b;
}

static void pc__p_m_batch_forget(pc_proxy_batch *b) {
    for (size_t i = 0; i < b->n; i++) {
        pc__free(b->calls[i].method);
        pc__free(b->calls[i].message);
    }
    b->n = 0;
    b->frames.len = 0;
    b->frames.bad = 0;
    b->ran = 0;
    b->answered = 0;
    pc__free(b->lost);
    b->lost = NULL;
}

PYCONC_API void pc_proxy_batch_free(pc_proxy_batch *b) {
    if (!b) return;
    pc__p_m_batch_forget(b);
    pc__free(b->calls);
    pc__free(b->frames.p);
    pc_connection_free(b->conn);
    pc__free(b);
}

PYCONC_API size_t pc_proxy_batch_len(const pc_proxy_batch *b) { return b ? b->n : 0; }

PYCONC_API int pc_proxy_batch_status(const pc_proxy_batch *b, size_t i) {
    if (!b || i >= b->n) return pc__error(PC_VALUE, "pc_proxy_batch_status: no call %zu", i);
    return b->calls[i].status;
}

PYCONC_API const char *pc_proxy_batch_error(const pc_proxy_batch *b, size_t i) {
    if (!b || i >= b->n) return "";
    if (i >= b->answered && b->lost) return b->lost;
    return b->calls[i].message ? b->calls[i].message : "";
}

// Frame req onto the batch's buffer: a 4-byte header, then the pack as
// pc_connection_send_args writes it.
static int pc__p_m_batch_frame(pc_proxy_batch *b, const pc_args *req) {
    size_t at = b->frames.len;
    int fds[1];
    size_t nfds = 0;
    unsigned char h[4] = {0, 0, 0, 0};
    pc__p_buf_put(&b->frames, h, 4);
    pc__p_buf_u32(&b->frames, PC__ARGS_MAGIC);
    int rc = pc__p_args_encode(req, &b->frames, fds, &nfds, NULL);
    size_t size = b->frames.len - at - 4;
    if (rc == PC_OK && size > PC__FRAME_LONG) rc = pc__error(PC_VALUE, "request too long");
    if (rc) {
        b->frames.len = at;
        b->frames.bad = 0;
        return rc;
    }
    pc__p_frame_header(b->frames.p + at, size);
    return PC_OK;
}

// Queue a call of method with args (may be NULL); out (of out_kind) is
// filled by the run.
static int pc__p_m_batch_add(pc_proxy_batch *b, const char *method, const pc_args *args,
                             int out_kind, void *out) {
    if (b->ran) pc__p_m_batch_forget(b);        // a new batch after a run
    if (pc__grow(&b->calls, &b->cap, b->n + 1, sizeof(pc__p_m_slot), 0)) return PC_NOMEM;
    pc_args *req = pc_args_new();
    char *name = pc__strdup(method);
    int rc = req && name ? PC_OK : PC_NOMEM;
    if (rc == PC_OK) rc = pc_args_add_int(req, b->next_request + 1);
    if (rc == PC_OK) rc = pc_args_add_int(req, b->proxy->id);
    if (rc == PC_OK) rc = pc_args_add_str(req, method);
    for (size_t i = 0; rc == PC_OK && args && i < pc_args_len(args); i++)
        rc = pc__p_m_copy_item(req, args, i);
    if (rc == PC_OK) rc = pc__p_m_batch_frame(b, req);
    pc_args_free(req);
    if (rc) { pc__free(name); return rc; }
    b->next_request++;
    pc__p_m_slot *s = &b->calls[b->n++];
    memset(s, 0, sizeof *s);
    s->method = name;
    s->out_kind = out_kind;
    s->out = out;
    s->status = PC_BROKEN;          // until its reply comes
    return PC_OK;
}

// A dict call [key, value?] whose result value (if out) goes to out.
static int pc__p_m_batch_key(pc_proxy_batch *b, const char *what, const char *m,
                             const char *key, const pc_proxy_value *v, pc_proxy_value *out) {
    if (!b) return pc__error(PC_VALUE, "%s: batch is NULL", what);
    int rc = pc__p_m_check(b->proxy, "dict", what);
    if (rc) return rc;
    if (!key) return pc__error(PC_VALUE, "%s: key is NULL", what);
    if (out) *out = pc_proxy_none();
    pc_args *a = pc_args_new();
    if (!a) return PC_NOMEM;
    rc = pc_args_add_str(a, key);
    if (rc == PC_OK && v) rc = pc__p_m_value_write(a, v, b->proxy);
    if (rc == PC_OK)
        rc = pc__p_m_batch_add(b, m, a, out ? PC__P_M_OUT_VALUE : PC__P_M_OUT_NONE, out);
    pc_args_free(a);
    return rc;
}

PYCONC_API int pc_proxy_batch_dict_set(pc_proxy_batch *b, const char *key,
                                       pc_proxy_value value) {
    return pc__p_m_batch_key(b, "pc_proxy_batch_dict_set", "set", key, &value, NULL);
}
PYCONC_API int pc_proxy_batch_dict_get(pc_proxy_batch *b, const char *key,
                                       const pc_proxy_value *dflt, pc_proxy_value *out_value) {
    if (!out_value) return pc__error(PC_VALUE, "pc_proxy_batch_dict_get: out_value is NULL");
    return pc__p_m_batch_key(b, "pc_proxy_batch_dict_get", "get", key, dflt, out_value);
}
PYCONC_API int pc_proxy_batch_dict_incr(pc_proxy_batch *b, const char *key,
                                        pc_proxy_value delta, pc_proxy_value *out_value) {
    if (delta.type != PC_ARG_INT && delta.type != PC_ARG_DOUBLE)
        return pc__error(PC_VALUE, "TypeError: pc_proxy_batch_dict_incr: delta is not an int "
                                   "or float");
    return pc__p_m_batch_key(b, "pc_proxy_batch_dict_incr", "incr", key, &delta, out_value);
}
PYCONC_API int pc_proxy_batch_call(pc_proxy_batch *b, const char *method, const pc_args *args,
                                   pc_args **out_results) {
    if (!b || !method || !method[0])
        return pc__error(PC_VALUE, "pc_proxy_batch_call: NULL batch or method");
    if (out_results) *out_results = NULL;
    return pc__p_m_batch_add(b, method, args, out_results ? PC__P_M_OUT_PACK : PC__P_M_OUT_NONE,
                             out_results);
}

// Give call s the reply's results: [id, status, message, results...].
static int pc__p_m_batch_fill(const pc_proxy *p, pc__p_m_slot *s, pc_args *reply) {
    int64_t status;
    const char *msg;
    if (pc_args_get_int(reply, 1, &status) || pc_args_get_str(reply, 2, &msg)) {
        pc_args_free(reply);
        return pc__error(PC_OS, "malformed reply");
    }
    int rc = PC_OK;
    if (status) {
        s->status = status > 0 && status <= PC_OWNER_DEAD ? (int)status : PC_OS;
        s->message = pc__strdup(msg);
    } else if (s->out_kind == PC__P_M_OUT_VALUE) {
        s->status = pc__p_m_result_value(p, reply, (pc_proxy_value *)s->out);
        reply = NULL;
    } else if (s->out_kind == PC__P_M_OUT_PACK) {
        pc_args *r = pc_args_new();
        s->status = r ? PC_OK : PC_NOMEM;
        for (size_t i = 3; s->status == PC_OK && i < pc_args_len(reply); i++)
            s->status = pc__p_m_copy_item(r, reply, i);
        if (s->status) pc_args_free(r);
        else *(pc_args **)s->out = r;
    } else {
        s->status = PC_OK;
    }
    if (s->status && !s->message) s->message = pc__strdup(pc_last_error());
    pc_args_free(reply);
    return rc;
}

// Write the frames while reading the replies; *out_got: calls answered.
static int pc__p_m_batch_pump(pc_proxy_batch *b, size_t *out_got) {
    pc_connection *c = b->conn;
    size_t sent = 0, len = b->frames.len;
    int64_t first = b->next_request - (int64_t)b->n + 1;
    while (*out_got < b->n) {
        int r = 1, w = 0, rc;
        if (sent < len && !pc__p_conn_buffered(c) &&
            (rc = pc__p_os_wait_rw(c->fd, 1, &r, &w)))
            return rc;
        if (w) {
            ssize_t k = pc__p_os_send_some(c->fd, b->frames.p + sent, len - sent);
            if (k < 0) return pc__os_error("send");
            sent += (size_t)k;
        }
        if (!r) continue;
        // A reply has begun (or the connection ended): the server writes it
        // whole whatever this side is sending, so reading it cannot stall.
        pc_args *reply = NULL;
        int64_t rid;
        if ((rc = pc_connection_recv_args(c, &reply))) return rc;
        if (pc_args_get_int(reply, 0, &rid) || rid != first + (int64_t)*out_got) {
            pc_args_free(reply);
            return pc__error(PC_OS, "reply out of order");
        }
        if ((rc = pc__p_m_batch_fill(b->proxy, &b->calls[(*out_got)++], reply))) return rc;
    }
    return PC_OK;
}

// The batch's connection in this process (a fork child makes its own).
static int pc__p_m_batch_connect(pc_proxy_batch *b) {
    long pid = pc__p_m_pid();
    if (b->conn && b->pid == pid) return PC_OK;
    pc_connection_free(b->conn);
    b->conn = NULL;
    b->pid = pid;
    return pc__p_m_dial(b->proxy, &b->conn);
}

PYCONC_API int pc_proxy_batch_run(pc_proxy_batch *b) {
    size_t got = 0;
    if (!b) return pc__error(PC_VALUE, "pc_proxy_batch_run: batch is NULL");
    if (b->ran) return pc__error(PC_RUNTIME, "pc_proxy_batch_run: already run; queue calls "
                                             "for the next run first");
    b->ran = 1;
    int rc = b->n ? pc__p_m_batch_connect(b) : PC_OK;
    if (rc == PC_OK && b->n) rc = pc__p_m_batch_pump(b, &got);
    if (rc) {
        if (rc != PC_NOMEM && b->conn) rc = pc__p_m_broken(b->proxy);
        if (rc != PC_NOMEM) {           // half an exchange leaves it unusable
            pc_connection_free(b->conn);
            b->conn = NULL;
        }
        b->lost = pc__strdup(pc_last_error());     // one message for them all
        for (size_t i = got; i < b->n; i++) b->calls[i].status = rc;
    }
    b->answered = got;
    b->frames.len = 0;
    for (size_t i = 0; i < b->n; i++)
        if (b->calls[i].status)
            return pc__error(b->calls[i].status, "batch call %zu (%s): %s", i,
                             b->calls[i].method, pc_proxy_batch_error(b, i));
    return PC_OK;
}

// >>I.manager: starting, connecting to and stopping a server
static int pc__p_m_init_pack(pc_args *a, const pc_manager_desc *desc);   // >>I.finish
struct pc_manager {
    pc_process *server;         // NULL: connected to a server started elsewhere
    char *address;
    pc_family family;
    unsigned char authkey[PC_AUTHKEY_MAX];
    size_t authkey_size;
    long owner;                 // the process that started the server
    int shut;
};

static pc_manager *pc__p_m_alloc(const pc_manager_desc *desc) {
    const void *key = desc ? desc->authkey : NULL;
    size_t keylen = desc ? desc->authkey_size : 0;
    if (!key) key = pc_process_authkey(pc_process_current(), &keylen);
    if (keylen == 0 || keylen > PC_AUTHKEY_MAX) {
        pc__error(PC_VALUE, "manager authkey must be 1..%d bytes", PC_AUTHKEY_MAX);
        return NULL;
    }
    if (desc && ((unsigned)desc->family > PC_AF_INET)) {
        pc__error(PC_VALUE, "manager: unknown family %d", (int)desc->family);
        return NULL;
    }
    pc_manager *m = (pc_manager *)pc__calloc(1, sizeof *m);
    if (!m) return NULL;
    memcpy(m->authkey, key, keylen);
    m->authkey_size = keylen;
    m->family = desc ? desc->family : PC_AF_DEFAULT;
    m->owner = pc__p_m_pid();
    return m;
}

// Start the server; it answers on back with [status, address or message].
static int pc__p_m_start(pc_manager *m, const pc_manager_desc *desc, pc_connection **out_back) {
    pc_connection *mine = NULL, *theirs = NULL;
    const char *addr = desc && desc->address ? desc->address : "";
    pc_family fam = addr[0] ? m->family : PC_AF_ABSTRACT;
    int rc = pc_pipe(1, &mine, &theirs);
    pc_args *a = rc ? NULL : pc_args_new();
    if (!a) { rc = rc ? rc : PC_NOMEM; goto done; }
    if ((rc = pc_args_add_str(a, addr)) || (rc = pc_args_add_int(a, fam)) ||
        (rc = pc_args_add_bytes(a, m->authkey, m->authkey_size)) ||
        (rc = pc_args_add_connection(a, theirs)) || (rc = pc__p_m_reg_pack(a)) ||
        (rc = pc__p_m_init_pack(a, desc)))
        goto done;
    pc_process_desc pd;
    memset(&pd, 0, sizeof pd);
    pd.target = pc__p_m_server_main;
    pd.args = a;
    pd.name = "SyncManager";
    pd.daemon = PC_DAEMON_YES;      // so this process's exit ends it
    pd.context = desc ? desc->context : NULL;
    m->server = pc_process_new(&pd);
    rc = m->server ? pc_process_start(m->server) : pc_last_error_code();
done:
    pc_args_free(a);
    pc_connection_free(theirs);
    if (rc) pc_connection_free(mine);
    else *out_back = mine;
    return rc;
}

PYCONC_API pc_manager *pc_manager_new(const pc_manager_desc *desc) {
    pc_connection *back = NULL;
    pc_args *r = NULL;
    int64_t status;
    const char *text;
    pc_manager *m = pc__p_m_alloc(desc);
    if (!m) return NULL;
    int rc = pc__p_m_start(m, desc, &back);
    if (rc == PC_OK && pc_connection_recv_args(back, &r) != PC_OK)
        rc = pc__error(PC_OS, "manager server exited before it listened");
    if (rc == PC_OK && (pc_args_get_int(r, 0, &status) || pc_args_get_str(r, 1, &text)))
        rc = pc__error(PC_OS, "manager server sent a malformed answer");
    if (rc == PC_OK && status) rc = pc__error((int)status, "manager server: %s", text);
    if (rc == PC_OK && !(m->address = pc__strdup(text))) rc = PC_NOMEM;
    pc_args_free(r);
    pc_connection_free(back);
    if (rc == PC_OK) return m;
    char why[256];
    snprintf(why, sizeof why, "%s", pc_last_error());
    m->shut = 1;
    if (m->server && pc_process_pid(m->server)) pc_process_join(m->server, PC_FOREVER);
    pc_manager_free(m);
    pc__error(rc, "%s", why);
    return NULL;
}

PYCONC_API pc_manager *pc_manager_connect(const pc_manager_desc *desc) {
    if (!desc || !desc->address) {
        pc__error(PC_VALUE, "pc_manager_connect: the address is required");
        return NULL;
    }
    pc_manager *m = pc__p_m_alloc(desc);
    if (!m) return NULL;
    m->shut = 1;            // nothing to stop here
    m->address = pc__strdup(desc->address);
    pc_connection *c = NULL;
    pc_client_desc cd;
    memset(&cd, 0, sizeof cd);
    cd.address = desc->address;
    cd.family = m->family;
    cd.authkey = m->authkey;
    cd.authkey_size = m->authkey_size;
    int rc = m->address ? pc_client(&cd, &c) : PC_NOMEM;
    pc_connection_free(c);
    if (rc == PC_OK) { m->shut = 0; return m; }
    char why[256];
    snprintf(why, sizeof why, "%s", pc_last_error());
    pc_manager_free(m);
    pc__error(rc, "%s", why);
    return NULL;
}

// Ask the server to exit; the reply (or the end of the connection) says
// it has stopped accepting.
static void pc__p_m_request_stop(pc_manager *m) {
    pc_proxy *p = pc__p_m_proxy_new(m->address, m->family, m->authkey, m->authkey_size, 0, 0);
    if (!p) return;
    (void)pc__p_m_call(p, "shutdown", NULL, NULL);
    pc_proxy_free(p);
}

PYCONC_API int pc_manager_shutdown(pc_manager *m) {
    if (!m) return pc__error(PC_VALUE, "pc_manager_shutdown: manager is NULL");
    if (m->shut) return PC_OK;
    m->shut = 1;
    if (!m->server || m->owner != pc__p_m_pid()) return PC_OK;
    pc__p_m_request_stop(m);
    if (pc_process_join(m->server, 1.0) != PC_OK) {
        pc_process_kill(m->server);
        pc_process_join(m->server, PC_FOREVER);
    }
    return PC_OK;
}

PYCONC_API void pc_manager_free(pc_manager *m) {
    if (!m) return;
    pc_manager_shutdown(m);
    pc_process_free(m->server);
    pc__free(m->address);
    pc__free(m);
}

PYCONC_API const char *pc_manager_address(const pc_manager *m) { return m ? m->address : NULL; }

PYCONC_API int pc_manager_join(pc_manager *m, double timeout) {
    if (!m) return pc__error(PC_VALUE, "pc_manager_join: manager is NULL");
    if (!m->server || m->owner != pc__p_m_pid()) return PC_OK;    // none of ours to wait for
    return pc_process_join(m->server, timeout);
}

// Make an object of kind in the server, with the constructor's arguments
// in args (may be NULL), and a proxy to it.
static int pc__p_m_make(pc_manager *m, const char *what, const char *kind, const pc_args *args,
                        pc_proxy **out) {
    pc_args *a = NULL, *reply = NULL;
    int64_t id = 0;
    if (!m || !out) return pc__error(PC_VALUE, "%s: NULL argument", what);
    if (m->shut) return pc__error(PC_RUNTIME, "%s: the manager is shut down", what);
    pc_proxy *p = pc__p_m_proxy_new(m->address, m->family, m->authkey, m->authkey_size, 0, kind);
    if (!p || !(a = pc_args_new())) { pc_proxy_free(p); return PC_NOMEM; }
    int rc = pc_args_add_str(a, kind);
    for (size_t i = 0; rc == PC_OK && args && i < pc_args_len(args); i++)
        rc = pc__p_m_copy_item(a, args, i);
    if (rc == PC_OK) rc = pc__p_m_call(p, "create", a, &reply);
    if (rc == PC_OK && pc_args_get_int(reply, 3, &id)) rc = pc__error(PC_BROKEN, "bad reply");
    pc_args_free(a);
    pc_args_free(reply);
    if (rc) { pc_proxy_free(p); return rc; }
    p->id = id;
    *out = p;
    return PC_OK;
}

PYCONC_API int pc_manager_dict(pc_manager *m, pc_proxy **out_proxy) {
    return pc__p_m_make(m, "pc_manager_dict", "dict", NULL, out_proxy);
}
PYCONC_API int pc_manager_list(pc_manager *m, pc_proxy **out_proxy) {
    return pc__p_m_make(m, "pc_manager_list", "list", NULL, out_proxy);
}

// >>I.data-proxy: the calls on Namespace, Value, Array, set and registered types' proxies
// A nested proxy goes as its object's reference, and only to its own server.
static int pc__p_m_nested_write(pc_args *a, const pc_proxy_value *v, const pc_proxy *target) {
    const pc_proxy *q = v->proxy;
    if (!q) return pc__error(PC_VALUE, "the nested proxy is NULL");
    if (q->id <= 0) return pc__error(PC_VALUE, "the nested proxy names no object");
    if (!target || strcmp(q->address, target->address) != 0 || q->family != target->family)
        return pc__error(PC_VALUE, "the nested proxy belongs to another manager (%s, not %s)",
                         q->address, target ? target->address : "?");
    return pc__p_m_put(a, PC_ARG_PROXY, q->id, 0, q->kind, strlen(q->kind));
}

// A reference the server gave back: a new proxy of p's server.
static int pc__p_m_nested_result(const pc_proxy *p, pc__p_m_val *v, pc_proxy_value *out) {
    pc_proxy *q = pc__p_m_proxy_new(p->address, p->family, p->authkey, p->authkey_size, v->i,
                                    v->data);
    pc__p_m_val_clear(v);
    if (!q) return PC_NOMEM;
    *out = pc_proxy_none();
    out->type = PC_ARG_PROXY;
    out->proxy = q;
    return PC_OK;
}

PYCONC_API pc_proxy_value pc_proxy_nested(pc_proxy *p) {
    pc_proxy_value v = pc_proxy_none();
    v.type = PC_ARG_PROXY;
    v.proxy = p;
    return v;
}

// A call on a proxy of kind with arguments [name?, index?, value?]; out
// (may be NULL) gets the reply.
static int pc__p_m_typed_call(pc_proxy *p, const char *kind, const char *what, const char *m,
                              const char *name, const int64_t *i, const pc_proxy_value *v,
                              pc_args **out) {
    int rc = pc__p_m_check(p, kind, what);
    if (rc) return rc;
    pc_args *a = pc_args_new();
    if (!a) return PC_NOMEM;
    if (name) rc = pc_args_add_str(a, name);
    if (rc == PC_OK && i) rc = pc_args_add_int(a, *i);
    if (rc == PC_OK && v) rc = pc__p_m_value_write(a, v, p);
    if (rc == PC_OK) rc = pc__p_m_call(p, m, a, out);
    pc_args_free(a);
    return rc;
}

// As pc__p_m_typed_call, the reply's value going to *out.
static int pc__p_m_typed_get(pc_proxy *p, const char *kind, const char *what, const char *m,
                             const char *name, const int64_t *i, pc_proxy_value *out) {
    pc_args *reply = NULL;
    if (!out) return pc__error(PC_VALUE, "%s: out_value is NULL", what);
    *out = pc_proxy_none();
    int rc = pc__p_m_typed_call(p, kind, what, m, name, i, NULL, &reply);
    return rc ? rc : pc__p_m_result_value(p, reply, out);
}

// The reply's results as a new pack (the caller's).
static int pc__p_m_result_pack(pc_args *reply, pc_args **out) {
    pc_args *a = pc_args_new();
    int rc = a ? PC_OK : PC_NOMEM;
    for (size_t i = 3; rc == PC_OK && i < pc_args_len(reply); i++)
        rc = pc__p_m_copy_item(a, reply, i);
    pc_args_free(reply);
    if (rc) { pc_args_free(a); return rc; }
    *out = a;
    return PC_OK;
}

// A call whose results become the caller's pack.
static int pc__p_m_pack_result(pc_proxy *p, const char *kind, const char *what, const char *m,
                               const pc_args *args, pc_args **out) {
    pc_args *reply = NULL;
    if (!out) return pc__error(PC_VALUE, "%s: the out pack is NULL", what);
    int rc = pc__p_m_check(p, kind, what);
    if (rc == PC_OK) rc = pc__p_m_call(p, m, args, &reply);
    return rc ? rc : pc__p_m_result_pack(reply, out);
}

static int pc__p_m_name_check(const char *what, const char *name) {
    if (!name || !name[0]) return pc__error(PC_VALUE, "%s: the name is NULL or empty", what);
    return PC_OK;
}

PYCONC_API int pc_manager_namespace(pc_manager *m, pc_proxy **out_proxy) {
    return pc__p_m_make(m, "pc_manager_namespace", "Namespace", NULL, out_proxy);
}
PYCONC_API int pc_proxy_namespace_set(pc_proxy *p, const char *name, pc_proxy_value value) {
    int rc = pc__p_m_name_check("pc_proxy_namespace_set", name);
    return rc ? rc : pc__p_m_typed_call(p, "Namespace", "pc_proxy_namespace_set", "set", name,
                                        NULL, &value, NULL);
}
PYCONC_API int pc_proxy_namespace_get(pc_proxy *p, const char *name, pc_proxy_value *out_value) {
    int rc = pc__p_m_name_check("pc_proxy_namespace_get", name);
    return rc ? rc : pc__p_m_typed_get(p, "Namespace", "pc_proxy_namespace_get", "get", name,
                                       NULL, out_value);
}
PYCONC_API int pc_proxy_namespace_del(pc_proxy *p, const char *name) {
    int rc = pc__p_m_name_check("pc_proxy_namespace_del", name);
    return rc ? rc : pc__p_m_typed_call(p, "Namespace", "pc_proxy_namespace_del", "del", name,
                                        NULL, NULL, NULL);
}
PYCONC_API int pc_proxy_namespace_names(pc_proxy *p, pc_args **out_names) {
    return pc__p_m_pack_result(p, "Namespace", "pc_proxy_namespace_names", "names", NULL,
                               out_names);
}

// The constructor's [typecode, ...] pack.
static pc_args *pc__p_m_tc_args(const char *what, const char *typecode) {
    if (!typecode) {
        pc__error(PC_VALUE, "%s: the typecode is NULL", what);
        return NULL;
    }
    pc_args *a = pc_args_new();
    if (a && pc_args_add_str(a, typecode)) { pc_args_free(a); return NULL; }
    return a;
}

PYCONC_API int pc_manager_value(pc_manager *m, const char *typecode, pc_proxy_value value,
                                pc_proxy **out_proxy) {
    if (value.type == PC_ARG_PROXY)
        return pc__error(PC_VALUE, "pc_manager_value: a Value holds no proxy");
    pc_args *a = pc__p_m_tc_args("pc_manager_value", typecode);
    if (!a) return pc_last_error_code() == PC_VALUE ? PC_VALUE : PC_NOMEM;
    int rc = pc__p_m_value_write(a, &value, NULL);
    if (rc == PC_OK) rc = pc__p_m_make(m, "pc_manager_value", "Value", a, out_proxy);
    pc_args_free(a);
    return rc;
}
PYCONC_API int pc_proxy_value_get(pc_proxy *p, pc_proxy_value *out_value) {
    return pc__p_m_typed_get(p, "Value", "pc_proxy_value_get", "get", NULL, NULL, out_value);
}
PYCONC_API int pc_proxy_value_set(pc_proxy *p, pc_proxy_value value) {
    if (value.type == PC_ARG_PROXY)
        return pc__error(PC_VALUE, "pc_proxy_value_set: a Value holds no proxy");
    return pc__p_m_typed_call(p, "Value", "pc_proxy_value_set", "set", NULL, NULL, &value, NULL);
}

PYCONC_API int pc_manager_array(pc_manager *m, const char *typecode, size_t size,
                                const pc_args *items, pc_proxy **out_proxy) {
    if (items && size && size != pc_args_len(items))
        return pc__error(PC_VALUE, "pc_manager_array: size %zu, but %zu items", size,
                         pc_args_len(items));
    pc_args *a = pc__p_m_tc_args("pc_manager_array", typecode);
    if (!a) return pc_last_error_code() == PC_VALUE ? PC_VALUE : PC_NOMEM;
    int rc = pc_args_add_int(a, (int64_t)(items ? pc_args_len(items) : size));
    for (size_t i = 0; rc == PC_OK && items && i < pc_args_len(items); i++)
        rc = pc__p_m_copy_item(a, items, i);
    if (rc == PC_OK) rc = pc__p_m_make(m, "pc_manager_array", "Array", a, out_proxy);
    pc_args_free(a);
    return rc;
}
PYCONC_API int pc_proxy_array_get(pc_proxy *p, int64_t i, pc_proxy_value *out_value) {
    return pc__p_m_typed_get(p, "Array", "pc_proxy_array_get", "get", NULL, &i, out_value);
}
PYCONC_API int pc_proxy_array_set(pc_proxy *p, int64_t i, pc_proxy_value value) {
    return pc__p_m_typed_call(p, "Array", "pc_proxy_array_set", "set", NULL, &i, &value, NULL);
}
PYCONC_API int pc_proxy_array_slice(pc_proxy *p, int64_t start, int64_t stop,
                                    pc_args **out_items) {
    pc_args *a = pc_args_new();
    int rc = a ? pc_args_add_int(a, start) : PC_NOMEM;
    if (rc == PC_OK) rc = pc_args_add_int(a, stop);
    if (rc == PC_OK)
        rc = pc__p_m_pack_result(p, "Array", "pc_proxy_array_slice", "slice", a, out_items);
    pc_args_free(a);
    return rc;
}

PYCONC_API int pc_manager_set(pc_manager *m, pc_proxy **out_proxy) {
    return pc__p_m_make(m, "pc_manager_set", "set", NULL, out_proxy);
}
PYCONC_API int pc_proxy_set_add(pc_proxy *p, pc_proxy_value value) {
    return pc__p_m_typed_call(p, "set", "pc_proxy_set_add", "add", NULL, NULL, &value, NULL);
}
PYCONC_API int pc_proxy_set_discard(pc_proxy *p, pc_proxy_value value) {
    return pc__p_m_typed_call(p, "set", "pc_proxy_set_discard", "discard", NULL, NULL, &value,
                              NULL);
}
PYCONC_API int pc_proxy_set_remove(pc_proxy *p, pc_proxy_value value) {
    return pc__p_m_typed_call(p, "set", "pc_proxy_set_remove", "remove", NULL, NULL, &value,
                              NULL);
}
PYCONC_API int pc_proxy_set_contains(pc_proxy *p, pc_proxy_value value, int *out_found) {
    pc_args *reply = NULL;
    int64_t found = 0;
    if (!out_found) return pc__error(PC_VALUE, "pc_proxy_set_contains: out_found is NULL");
    int rc = pc__p_m_typed_call(p, "set", "pc_proxy_set_contains", "contains", NULL, NULL, &value,
                                &reply);
    if (rc) return rc;
    rc = pc_args_get_int(reply, 3, &found) ? pc__error(PC_BROKEN, "malformed reply") : PC_OK;
    pc_args_free(reply);
    *out_found = found != 0;
    return rc;
}
PYCONC_API int pc_proxy_set_pop(pc_proxy *p, pc_proxy_value *out_value) {
    return pc__p_m_typed_get(p, "set", "pc_proxy_set_pop", "pop", NULL, NULL, out_value);
}
PYCONC_API int pc_proxy_set_clear(pc_proxy *p) {
    return pc__p_m_typed_call(p, "set", "pc_proxy_set_clear", "clear", NULL, NULL, NULL, NULL);
}
PYCONC_API int pc_proxy_set_update(pc_proxy *p, const pc_args *items) {
    return pc__p_m_pack_call(p, "set", "pc_proxy_set_update", "update", items);
}
PYCONC_API int pc_proxy_set_items(pc_proxy *p, pc_args **out_items) {
    return pc__p_m_pack_result(p, "set", "pc_proxy_set_items", "items", NULL, out_items);
}

PYCONC_API int pc_manager_create(pc_manager *m, const char *type_id, const pc_args *args,
                                 pc_proxy **out_proxy) {
    if (!type_id || !type_id[0] || strlen(type_id) >= PC__P_M_KIND_MAX)
        return pc__error(PC_VALUE, "pc_manager_create: typeid is NULL, empty or too long");
    return pc__p_m_make(m, "pc_manager_create", type_id, args, out_proxy);
}

PYCONC_API int pc_proxy_callmethod(pc_proxy *p, const char *method, const pc_args *in,
                                   pc_args **out) {
    pc_args *reply = NULL;
    if (!p || !method || !method[0])
        return pc__error(PC_VALUE, "pc_proxy_callmethod: NULL proxy or method");
    int rc = pc__p_m_call(p, method, in, out ? &reply : NULL);
    return rc || !out ? rc : pc__p_m_result_pack(reply, out);
}

// >>I.wire-serve: a server in the calling process
PYCONC_API int pc_manager_serve_forever(const pc_manager_desc *desc) {
    static int served;                  // the server's state is the process's one
    if (!desc || !desc->address || !desc->address[0])
        return pc__error(PC_VALUE, "pc_manager_serve_forever: the address is required");
    pc_manager *m = pc__p_m_alloc(desc);    // checks the key and the family
    if (!m) return pc_last_error_code();
    int rc = PC_OK;
    if (__atomic_exchange_n(&served, 1, __ATOMIC_ACQ_REL))
        rc = pc__error(PC_RUNTIME, "pc_manager_serve_forever: this process has served already");
    if (rc == PC_OK) rc = pc__p_m_serve(desc->address, m->family, m->authkey, m->authkey_size,
                                        NULL, 0);
    pc_manager_free(m);                 // made here: nothing to stop
    return rc;
}

// >>I.sync-proxy: the proxies of locks, events, conditions, barriers, queues
// A call meant for a proxy whose typeid is one of kinds ("Lock|RLock").
static int pc__p_m_check_any(pc_proxy *p, const char *kinds, const char *what) {
    if (!p) return pc__error(PC_VALUE, "%s: proxy is NULL", what);
    size_t n = strlen(p->kind);
    for (const char *k = kinds;; k++) {
        const char *end = strchr(k, '|');
        size_t len = end ? (size_t)(end - k) : strlen(k);
        if (len == n && memcmp(k, p->kind, n) == 0) return PC_OK;
        if (!(k = end)) break;
    }
    return pc__error(PC_VALUE, "%s: the proxy is a %s, not a %s", what, p->kind, kinds);
}

// Call m with args [value?, timeout?]; an int result (item 3) goes to
// out_int, a value result to out_value (either may be NULL).
static int pc__p_m_sync_do(pc_proxy *p, const char *kinds, const char *what, const char *m,
                           const pc_proxy_value *v, const double *timeout, int64_t *out_int,
                           pc_proxy_value *out_value) {
    pc_args *reply = NULL;
    int rc = pc__p_m_check_any(p, kinds, what);
    if (rc) return rc;
    if (timeout && *timeout != *timeout) return pc__error(PC_VALUE, "%s: timeout is NaN", what);
    pc_args *a = pc_args_new();
    if (!a) return PC_NOMEM;
    if (v) rc = pc__p_m_value_write(a, v, p);
    if (rc == PC_OK && timeout) rc = pc_args_add_double(a, *timeout);
    int want = out_int || out_value;
    if (rc == PC_OK) rc = pc__p_m_call(p, m, a, want ? &reply : NULL);
    pc_args_free(a);
    if (rc || !want) return rc;
    if (out_value) return pc__p_m_result_value(p, reply, out_value);
    rc = pc_args_get_int(reply, 3, out_int) ? pc__error(PC_BROKEN, "malformed reply") : PC_OK;
    pc_args_free(reply);
    return rc;
}

#define PC__P_M_LOCKS "Lock|RLock"
#define PC__P_M_SEMAPHORES "Semaphore|BoundedSemaphore"
#define PC__P_M_QUEUES "Queue|JoinableQueue"

static int pc__p_m_make_n(pc_manager *m, const char *what, const char *kind, int64_t n,
                          pc_proxy **out) {
    pc_args *a = pc_args_new();
    if (!a) return PC_NOMEM;
    int rc = pc_args_add_int(a, n);
    if (rc == PC_OK) rc = pc__p_m_make(m, what, kind, a, out);
    pc_args_free(a);
    return rc;
}

PYCONC_API int pc_manager_lock(pc_manager *m, pc_proxy **out_proxy) {
    return pc__p_m_make(m, "pc_manager_lock", "Lock", NULL, out_proxy);
}
PYCONC_API int pc_manager_rlock(pc_manager *m, pc_proxy **out_proxy) {
    return pc__p_m_make(m, "pc_manager_rlock", "RLock", NULL, out_proxy);
}
PYCONC_API int pc_manager_semaphore(pc_manager *m, int64_t value, pc_proxy **out_proxy) {
    return pc__p_m_make_n(m, "pc_manager_semaphore", "Semaphore", value, out_proxy);
}
PYCONC_API int pc_manager_bounded_semaphore(pc_manager *m, int64_t value,
                                            pc_proxy **out_proxy) {
    return pc__p_m_make_n(m, "pc_manager_bounded_semaphore", "BoundedSemaphore", value,
                          out_proxy);
}
PYCONC_API int pc_manager_event(pc_manager *m, pc_proxy **out_proxy) {
    return pc__p_m_make(m, "pc_manager_event", "Event", NULL, out_proxy);
}
PYCONC_API int pc_manager_condition(pc_manager *m, pc_proxy **out_proxy) {
    return pc__p_m_make(m, "pc_manager_condition", "Condition", NULL, out_proxy);
}
PYCONC_API int pc_manager_barrier(pc_manager *m, int64_t parties, pc_proxy **out_proxy) {
    return pc__p_m_make_n(m, "pc_manager_barrier", "Barrier", parties, out_proxy);
}
PYCONC_API int pc_manager_queue(pc_manager *m, int64_t maxsize, pc_proxy **out_proxy) {
    return pc__p_m_make_n(m, "pc_manager_queue", "Queue", maxsize, out_proxy);
}
PYCONC_API int pc_manager_joinable_queue(pc_manager *m, int64_t maxsize,
                                         pc_proxy **out_proxy) {
    return pc__p_m_make_n(m, "pc_manager_joinable_queue", "JoinableQueue", maxsize, out_proxy);
}

PYCONC_API int pc_proxy_lock_acquire(pc_proxy *p, double timeout) {
    return pc__p_m_sync_do(p, PC__P_M_LOCKS, "pc_proxy_lock_acquire", "acquire", NULL, &timeout,
                           NULL, NULL);
}
PYCONC_API int pc_proxy_lock_release(pc_proxy *p) {
    return pc__p_m_sync_do(p, PC__P_M_LOCKS, "pc_proxy_lock_release", "release", NULL, NULL,
                           NULL, NULL);
}
PYCONC_API int pc_proxy_semaphore_acquire(pc_proxy *p, double timeout) {
    return pc__p_m_sync_do(p, PC__P_M_SEMAPHORES, "pc_proxy_semaphore_acquire", "acquire", NULL,
                           &timeout, NULL, NULL);
}
PYCONC_API int pc_proxy_semaphore_release(pc_proxy *p) {
    return pc__p_m_sync_do(p, PC__P_M_SEMAPHORES, "pc_proxy_semaphore_release", "release", NULL,
                           NULL, NULL, NULL);
}
PYCONC_API int pc_proxy_event_set(pc_proxy *p) {
    return pc__p_m_sync_do(p, "Event", "pc_proxy_event_set", "set", NULL, NULL, NULL, NULL);
}
PYCONC_API int pc_proxy_event_clear(pc_proxy *p) {
    return pc__p_m_sync_do(p, "Event", "pc_proxy_event_clear", "clear", NULL, NULL, NULL, NULL);
}
// An int result as a flag.
static int pc__p_m_flag(pc_proxy *p, const char *kinds, const char *what, const char *m,
                        int *out) {
    int64_t n = 0;
    if (!out) return pc__error(PC_VALUE, "%s: the out argument is NULL", what);
    int rc = pc__p_m_sync_do(p, kinds, what, m, NULL, NULL, &n, NULL);
    if (rc == PC_OK) *out = n != 0;
    return rc;
}
PYCONC_API int pc_proxy_event_is_set(pc_proxy *p, int *out_set) {
    return pc__p_m_flag(p, "Event", "pc_proxy_event_is_set", "is_set", out_set);
}
PYCONC_API int pc_proxy_event_wait(pc_proxy *p, double timeout) {
    return pc__p_m_sync_do(p, "Event", "pc_proxy_event_wait", "wait", NULL, &timeout, NULL,
                           NULL);
}
PYCONC_API int pc_proxy_condition_acquire(pc_proxy *p, double timeout) {
    return pc__p_m_sync_do(p, "Condition", "pc_proxy_condition_acquire", "acquire", NULL,
                           &timeout, NULL, NULL);
}
PYCONC_API int pc_proxy_condition_release(pc_proxy *p) {
    return pc__p_m_sync_do(p, "Condition", "pc_proxy_condition_release", "release", NULL, NULL,
                           NULL, NULL);
}
PYCONC_API int pc_proxy_condition_wait(pc_proxy *p, double timeout) {
    return pc__p_m_sync_do(p, "Condition", "pc_proxy_condition_wait", "wait", NULL, &timeout,
                           NULL, NULL);
}
PYCONC_API int pc_proxy_condition_wait_for(pc_proxy *p, int (*predicate)(void *ctx), void *ctx,
                                           double timeout) {
    double deadline;
    int rc = pc__p_m_check_any(p, "Condition", "pc_proxy_condition_wait_for");
    if (rc) return rc;
    if (!predicate) return pc__error(PC_VALUE, "pc_proxy_condition_wait_for: predicate is NULL");
    if (pc__deadline(timeout, &deadline)) return PC_VALUE;
    while (!predicate(ctx)) {     // as Python's: the predicate decides, not the wake-up
        double left = deadline == INFINITY ? PC_FOREVER : deadline - pc_monotonic();
        if (deadline != INFINITY && left <= 0)
            return pc__error(PC_TIMEOUT, "the predicate stayed false");
        rc = pc_proxy_condition_wait(p, left);
        if (rc != PC_OK && rc != PC_TIMEOUT) return rc;
    }
    return PC_OK;
}
PYCONC_API int pc_proxy_condition_notify(pc_proxy *p, int n) {
    int rc = pc__p_m_check_any(p, "Condition", "pc_proxy_condition_notify");
    pc_args *a = rc ? NULL : pc_args_new();
    if (rc || !a) return rc ? rc : PC_NOMEM;
    rc = pc_args_add_int(a, n);
    if (rc == PC_OK) rc = pc__p_m_call(p, "notify", a, NULL);
    pc_args_free(a);
    return rc;
}
PYCONC_API int pc_proxy_condition_notify_all(pc_proxy *p) {
    return pc__p_m_sync_do(p, "Condition", "pc_proxy_condition_notify_all", "notify_all", NULL,
                           NULL, NULL, NULL);
}
PYCONC_API int pc_proxy_barrier_wait(pc_proxy *p, double timeout, int64_t *out_index) {
    int64_t i = 0;
    int rc = pc__p_m_sync_do(p, "Barrier", "pc_proxy_barrier_wait", "wait", NULL, &timeout, &i,
                             NULL);
    if (rc == PC_OK && out_index) *out_index = i;
    return rc;
}
PYCONC_API int pc_proxy_barrier_abort(pc_proxy *p) {
    return pc__p_m_sync_do(p, "Barrier", "pc_proxy_barrier_abort", "abort", NULL, NULL, NULL,
                           NULL);
}
PYCONC_API int pc_proxy_barrier_reset(pc_proxy *p) {
    return pc__p_m_sync_do(p, "Barrier", "pc_proxy_barrier_reset", "reset", NULL, NULL, NULL,
                           NULL);
}
// An int result, whose out argument must not be NULL.
static int pc__p_m_count(pc_proxy *p, const char *kinds, const char *what, const char *m,
                         int64_t *out) {
    if (!out) return pc__error(PC_VALUE, "%s: the out argument is NULL", what);
    return pc__p_m_sync_do(p, kinds, what, m, NULL, NULL, out, NULL);
}
PYCONC_API int pc_proxy_barrier_parties(pc_proxy *p, int64_t *out_parties) {
    return pc__p_m_count(p, "Barrier", "pc_proxy_barrier_parties", "parties", out_parties);
}
PYCONC_API int pc_proxy_barrier_n_waiting(pc_proxy *p, int64_t *out_n) {
    return pc__p_m_count(p, "Barrier", "pc_proxy_barrier_n_waiting", "n_waiting", out_n);
}
PYCONC_API int pc_proxy_barrier_broken(pc_proxy *p, int *out_broken) {
    return pc__p_m_flag(p, "Barrier", "pc_proxy_barrier_broken", "broken", out_broken);
}
PYCONC_API int pc_proxy_queue_put(pc_proxy *p, pc_proxy_value value, double timeout) {
    return pc__p_m_sync_do(p, PC__P_M_QUEUES, "pc_proxy_queue_put", "put", &value, &timeout,
                           NULL, NULL);
}
PYCONC_API int pc_proxy_queue_put_nowait(pc_proxy *p, pc_proxy_value value) {
    return pc_proxy_queue_put(p, value, 0);
}
PYCONC_API int pc_proxy_queue_get(pc_proxy *p, double timeout, pc_proxy_value *out_value) {
    if (!out_value) return pc__error(PC_VALUE, "pc_proxy_queue_get: out_value is NULL");
    *out_value = pc_proxy_none();
    return pc__p_m_sync_do(p, PC__P_M_QUEUES, "pc_proxy_queue_get", "get", NULL, &timeout, NULL,
                           out_value);
}
PYCONC_API int pc_proxy_queue_get_nowait(pc_proxy *p, pc_proxy_value *out_value) {
    return pc_proxy_queue_get(p, 0, out_value);
}
PYCONC_API int pc_proxy_queue_qsize(pc_proxy *p, size_t *out_size) {
    int64_t n = 0;
    int rc = pc__p_m_count(p, PC__P_M_QUEUES, "pc_proxy_queue_qsize", "qsize",
                           out_size ? &n : NULL);
    if (rc == PC_OK) *out_size = (size_t)n;
    return rc;
}
PYCONC_API int pc_proxy_queue_empty(pc_proxy *p, int *out_empty) {
    return pc__p_m_flag(p, PC__P_M_QUEUES, "pc_proxy_queue_empty", "empty", out_empty);
}
PYCONC_API int pc_proxy_queue_full(pc_proxy *p, int *out_full) {
    return pc__p_m_flag(p, PC__P_M_QUEUES, "pc_proxy_queue_full", "full", out_full);
}
PYCONC_API int pc_proxy_queue_task_done(pc_proxy *p) {
    return pc__p_m_sync_do(p, PC__P_M_QUEUES, "pc_proxy_queue_task_done", "task_done", NULL,
                           NULL, NULL, NULL);
}
PYCONC_API int pc_proxy_queue_join(pc_proxy *p) {
    return pc__p_m_sync_do(p, PC__P_M_QUEUES, "pc_proxy_queue_join", "join", NULL, NULL, NULL,
                           NULL);
}

// >>I.more-proxy: the calls of >>I.more
// A call on a proxy of kind with arguments [ints..., value?]; out (may be
// NULL) gets the reply.
static int pc__p_m_more_call(pc_proxy *p, const char *kind, const char *what, const char *m,
                             const int64_t *ints, size_t nints, const pc_proxy_value *v,
                             pc_args **out) {
    int rc = pc__p_m_check(p, kind, what);
    if (rc) return rc;
    pc_args *a = pc_args_new();
    if (!a) return PC_NOMEM;
    for (size_t i = 0; rc == PC_OK && i < nints; i++) rc = pc_args_add_int(a, ints[i]);
    if (rc == PC_OK && v) rc = pc__p_m_value_write(a, v, p);
    if (rc == PC_OK) rc = pc__p_m_call(p, m, a, out);
    pc_args_free(a);
    return rc;
}

// As pc__p_m_more_call, the reply's int result going to *out.
static int pc__p_m_more_int(pc_proxy *p, const char *what, const char *m, const int64_t *ints,
                            size_t nints, const pc_proxy_value *v, int64_t *out) {
    pc_args *reply = NULL;
    if (!out) return pc__error(PC_VALUE, "%s: the out argument is NULL", what);
    int rc = pc__p_m_more_call(p, "list", what, m, ints, nints, v, &reply);
    if (rc) return rc;
    rc = pc_args_get_int(reply, 3, out) ? pc__error(PC_BROKEN, "malformed reply") : PC_OK;
    pc_args_free(reply);
    return rc;
}

// copy: the server's new object as a new proxy.
static int pc__p_m_more_copy_call(pc_proxy *p, const char *kind, const char *what,
                                  pc_proxy **out) {
    pc_args *reply = NULL;
    int64_t id = 0;
    if (!out) return pc__error(PC_VALUE, "%s: out_proxy is NULL", what);
    *out = NULL;
    int rc = pc__p_m_more_call(p, kind, what, "copy", NULL, 0, NULL, &reply);
    if (rc) return rc;
    rc = pc_args_get_int(reply, 3, &id) ? pc__error(PC_BROKEN, "malformed reply") : PC_OK;
    pc_args_free(reply);
    if (rc) return rc;
    *out = pc__p_m_proxy_new(p->address, p->family, p->authkey, p->authkey_size, id, p->kind);
    return *out ? PC_OK : PC_NOMEM;
}

PYCONC_API int pc_proxy_dict_items(pc_proxy *p, pc_args **out_items) {
    return pc__p_m_pack_result(p, "dict", "pc_proxy_dict_items", "items", NULL, out_items);
}
PYCONC_API int pc_proxy_dict_values(pc_proxy *p, pc_args **out_values) {
    return pc__p_m_pack_result(p, "dict", "pc_proxy_dict_values", "values", NULL, out_values);
}
PYCONC_API int pc_proxy_dict_keys_reversed(pc_proxy *p, pc_args **out_keys) {
    return pc__p_m_pack_result(p, "dict", "pc_proxy_dict_keys_reversed", "rkeys", NULL,
                               out_keys);
}
PYCONC_API int pc_proxy_dict_popitem(pc_proxy *p, pc_proxy_value *out_key,
                                     pc_proxy_value *out_value) {
    pc_args *reply = NULL;
    const char *key;
    if (!out_key || !out_value)
        return pc__error(PC_VALUE, "pc_proxy_dict_popitem: out_key or out_value is NULL");
    *out_key = *out_value = pc_proxy_none();
    int rc = pc__p_m_more_call(p, "dict", "pc_proxy_dict_popitem", "popitem", NULL, 0, NULL,
                               &reply);
    if (rc) return rc;
    // The reply: [value (tagged), key].
    if (pc_args_get_str(reply, 5, &key)) {
        pc_args_free(reply);
        return pc__error(PC_BROKEN, "malformed reply");
    }
    char *k = pc__strdup(key);
    if (!k) { pc_args_free(reply); return PC_NOMEM; }
    rc = pc__p_m_result_value(p, reply, out_value);
    if (rc) { pc__free(k); return rc; }
    *out_key = pc_proxy_str(k);
    return PC_OK;
}
PYCONC_API int pc_proxy_dict_copy(pc_proxy *p, pc_proxy **out_proxy) {
    return pc__p_m_more_copy_call(p, "dict", "pc_proxy_dict_copy", out_proxy);
}

PYCONC_API int pc_proxy_list_insert(pc_proxy *p, int64_t i, pc_proxy_value value) {
    return pc__p_m_more_call(p, "list", "pc_proxy_list_insert", "insert", &i, 1, &value, NULL);
}
PYCONC_API int pc_proxy_list_remove(pc_proxy *p, pc_proxy_value value) {
    return pc__p_m_more_call(p, "list", "pc_proxy_list_remove", "remove", NULL, 0, &value,
                             NULL);
}
PYCONC_API int pc_proxy_list_index(pc_proxy *p, pc_proxy_value value, int64_t start,
                                   int64_t stop, size_t *out_index) {
    int64_t b[2] = {start, stop}, at = 0;
    int rc = out_index ? pc__p_m_more_int(p, "pc_proxy_list_index", "index", b, 2, &value, &at)
                       : pc__error(PC_VALUE, "pc_proxy_list_index: out_index is NULL");
    if (rc == PC_OK) *out_index = (size_t)at;
    return rc;
}
PYCONC_API int pc_proxy_list_count(pc_proxy *p, pc_proxy_value value, size_t *out_count) {
    int64_t n = 0;
    int rc = out_count ? pc__p_m_more_int(p, "pc_proxy_list_count", "count", NULL, 0, &value, &n)
                       : pc__error(PC_VALUE, "pc_proxy_list_count: out_count is NULL");
    if (rc == PC_OK) *out_count = (size_t)n;
    return rc;
}
PYCONC_API int pc_proxy_list_contains(pc_proxy *p, pc_proxy_value value, int *out_found) {
    int64_t found = 0;
    int rc = out_found ? pc__p_m_more_int(p, "pc_proxy_list_contains", "contains", NULL, 0,
                                          &value, &found)
                       : pc__error(PC_VALUE, "pc_proxy_list_contains: out_found is NULL");
    if (rc == PC_OK) *out_found = found != 0;
    return rc;
}
PYCONC_API int pc_proxy_list_sort(pc_proxy *p, int reverse) {
    int64_t r = reverse != 0;
    return pc__p_m_more_call(p, "list", "pc_proxy_list_sort", "sort", &r, 1, NULL, NULL);
}
PYCONC_API int pc_proxy_list_del(pc_proxy *p, int64_t i) {
    return pc__p_m_more_call(p, "list", "pc_proxy_list_del", "del", &i, 1, NULL, NULL);
}
PYCONC_API int pc_proxy_list_del_slice(pc_proxy *p, int64_t start, int64_t stop) {
    int64_t b[2] = {start, stop};
    return pc__p_m_more_call(p, "list", "pc_proxy_list_del_slice", "delslice", b, 2, NULL,
                             NULL);
}
PYCONC_API int pc_proxy_list_slice(pc_proxy *p, int64_t start, int64_t stop,
                                   pc_args **out_items) {
    pc_args *b = pc_args_new();
    if (!b) return PC_NOMEM;
    int rc = pc_args_add_int(b, start);
    if (rc == PC_OK) rc = pc_args_add_int(b, stop);
    if (rc == PC_OK)
        rc = pc__p_m_pack_result(p, "list", "pc_proxy_list_slice", "slice", b, out_items);
    pc_args_free(b);
    return rc;
}
PYCONC_API int pc_proxy_list_clear(pc_proxy *p) {
    return pc__p_m_more_call(p, "list", "pc_proxy_list_clear", "clear", NULL, 0, NULL, NULL);
}
PYCONC_API int pc_proxy_list_copy(pc_proxy *p, pc_proxy **out_proxy) {
    return pc__p_m_more_copy_call(p, "list", "pc_proxy_list_copy", out_proxy);
}
PYCONC_API int pc_proxy_list_repeat(pc_proxy *p, int64_t n) {
    return pc__p_m_more_call(p, "list", "pc_proxy_list_repeat", "repeat", &n, 1, NULL, NULL);
}

// >>H.entry: the program's way in, which knows every part
PYCONC_API void pc_process_bootstrap(int argc, char **argv) {
    pc__p_handles = &pc__p_shared_ops;      // a pack may carry shared objects now
    if (argc > 0 && argv && argv[0]) {
        const char *base = strrchr(argv[0], '/');
        snprintf(pc__p_proc_argv0, sizeof pc__p_proc_argv0, "%s", base ? base + 1 : argv[0]);
    }
    const char *v = pc__p_os_getenv(PC__ENV_FD);
    if (!v) return;
    // A set-user-ID (set-group-ID, file-capability) program never takes a
    // bootstrap: whoever ran it chose its environment and descriptors.
    // The variable goes, so that no child of ours sees it either.
    if (pc__p_os_secure_exec()) {
        pc__p_os_unsetenv(PC__ENV_FD);
        return;
    }
    if (strcmp(v, "3") != 0) return;
    pc__p_os_unsetenv(PC__ENV_FD);  // our own children must not mistake themselves for one
    pc__p_boot_check_peer(PC__BOOT_FD);
    pc__p_proc_init();
    pc__p_child_from_socket(PC__BOOT_FD);
}

#if !defined(PYCONC_PROCESS_NO_CONSTRUCTOR) && (defined(__GNUC__) || defined(__clang__))
__attribute__((constructor)) static void pc__p_proc_constructor(void) {
    pc_process_bootstrap(0, NULL);
}
#endif

#endif // PYCONC_PROCESS_IMPLEMENTATION

/* LICENSE: MIT or public domain (unlicense), your choice; the full text is at the end of
   pyconc.h. */

"""CPython's side of bench_connection.c: the same cases with multiprocessing.Pipe.

    python3 connection_pipe.py roundtrip N [quick]   N round trips of 64 bytes
    python3 connection_pipe.py bandwidth N [quick]   N messages of 64 KiB

Prints one number: seconds per operation, the median of several trials.
The child is a forked Process started before any timing; it echoes each
64-byte message, or acknowledges each batch of 64 big messages, as the C
side's child does.
"""
import multiprocessing as mp
import statistics
import sys
import time

SMALL = b"p" * 64
BIG = b"b" * 65536
BATCH = 64


def echo(conn, other):
    other.close()               # a forked child holds both ends: drop ours
    try:
        while True:
            conn.send_bytes(conn.recv_bytes())
    except EOFError:
        pass


def sink(conn, other):
    other.close()
    try:
        while True:
            for _ in range(BATCH):
                conn.recv_bytes()
            conn.send_bytes(b"k")
    except EOFError:
        pass


def roundtrip(conn, n):
    t0 = time.perf_counter()
    for _ in range(n):
        conn.send_bytes(SMALL)
        conn.recv_bytes()
    return (time.perf_counter() - t0) / n


def bandwidth(conn, n):
    batches = max(n // BATCH, 1)
    t0 = time.perf_counter()
    for _ in range(batches):
        for _ in range(BATCH):
            conn.send_bytes(BIG)
        conn.recv_bytes()
    return (time.perf_counter() - t0) / (batches * BATCH)


def main():
    case, n = sys.argv[1], int(sys.argv[2])
    trials = 3 if "quick" in sys.argv[3:] else 7
    ctx = mp.get_context("fork")
    ours, theirs = ctx.Pipe()
    child = ctx.Process(target=echo if case == "roundtrip" else sink, args=(theirs, ours))
    child.start()
    theirs.close()
    run = roundtrip if case == "roundtrip" else bandwidth
    run(ours, max(n // 10, 1))                      # warm-up
    print(statistics.median(run(ours, n) for _ in range(trials)), flush=True)
    ours.close()
    child.join()


if __name__ == "__main__":
    main()

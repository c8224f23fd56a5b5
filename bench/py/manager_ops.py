"""CPython's side of bench_manager.c: a SyncManager's dict (the fork context).

    python3 manager_ops.py roundtrip N [quick]   d[k] = i; d[k], N times each
    python3 manager_ops.py clients C N [quick]   C processes at once, each as roundtrip

Prints one number: seconds per proxy call (roundtrip: the median of several
trials; clients: the wall time of all calls of all C processes divided by
their number). Keys cycle through 100 strs, as the C side's do.
"""
import multiprocessing as mp
import statistics
import sys
import time

KEYS = ["k%d" % i for i in range(100)]


def calls(d, n):
    t0 = time.perf_counter()
    for i in range(n):
        k = KEYS[i % 100]
        d[k] = i
        d[k]
    return (time.perf_counter() - t0) / (2 * n)


def client(d, n, go, ready):
    d["warm"] = 0                   # the connection is made before the clock starts
    ready.release()
    go.wait()
    calls(d, n)


def main():
    case = sys.argv[1]
    quick = "quick" in sys.argv[2:]
    ctx = mp.get_context("fork")
    with ctx.Manager() as m:
        d = m.dict()
        if case == "roundtrip":
            n = int(sys.argv[2])
            calls(d, max(n // 10, 1))               # warm-up
            trials = 3 if quick else 7
            print(statistics.median(calls(d, n) for _ in range(trials)), flush=True)
            return
        c, n = int(sys.argv[2]), int(sys.argv[3])
        go, ready = ctx.Event(), ctx.Semaphore(0)
        kids = [ctx.Process(target=client, args=(d, n, go, ready)) for _ in range(c)]
        for k in kids:
            k.start()
        for _ in kids:
            ready.acquire()
        t0 = time.perf_counter()
        go.set()
        for k in kids:
            k.join()
        print((time.perf_counter() - t0) / (2 * n * c), flush=True)


if __name__ == "__main__":
    main()

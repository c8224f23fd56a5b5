"""CPython's side of bench_process.c: start + join of a trivial Process.

    python3 process_start.py METHOD N [quick]   METHOD: fork, spawn, forkserver

Prints one number: seconds per start+join, the median of several trials of
N processes each. The forkserver (when used) is warmed up before timing, as
the C side's is.
"""
import multiprocessing as mp
import statistics
import sys
import time


def nothing():
    pass


def trial(ctx, n):
    t0 = time.perf_counter()
    for _ in range(n):
        p = ctx.Process(target=nothing)
        p.start()
        p.join()
    return (time.perf_counter() - t0) / n


def main():
    method, n = sys.argv[1], int(sys.argv[2])
    rounds = 3 if len(sys.argv) > 3 else 5
    ctx = mp.get_context(method)
    trial(ctx, 1)
    print(statistics.median(trial(ctx, n) for _ in range(rounds)))


if __name__ == "__main__":
    main()

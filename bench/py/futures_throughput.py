"""Python's ThreadPoolExecutor: N trivial tasks submitted, then all waited.
usage: futures_throughput.py N WORKERS; prints seconds per task."""
import sys
import time
from concurrent.futures import ThreadPoolExecutor


def trivial(x):
    return x


def main():
    n, workers = int(sys.argv[1]), int(sys.argv[2])
    with ThreadPoolExecutor(max_workers=workers) as ex:
        ex.submit(trivial, 0).result()          # start the workers first
        t0 = time.perf_counter()
        fs = [ex.submit(trivial, i) for i in range(n)]
        for f in fs:
            f.result()
        took = time.perf_counter() - t0
    print(took / n)


main()

"""Python's ThreadPoolExecutor: one task submitted and its result awaited,
N times. usage: futures_roundtrip.py N WORKERS; prints the median seconds."""
import statistics
import sys
import time
from concurrent.futures import ThreadPoolExecutor


def trivial(x):
    return x


def main():
    n, workers = int(sys.argv[1]), int(sys.argv[2])
    times = []
    with ThreadPoolExecutor(max_workers=workers) as ex:
        for i in range(n):
            t0 = time.perf_counter()
            ex.submit(trivial, i).result()
            times.append(time.perf_counter() - t0)
    print(statistics.median(times))


main()

"""Python's ThreadPoolExecutor.map over N items, results consumed in order.
usage: futures_map.py N WORKERS; prints seconds per item."""
import sys
import time
from concurrent.futures import ThreadPoolExecutor


def trivial(x):
    return x


def main():
    n, workers = int(sys.argv[1]), int(sys.argv[2])
    with ThreadPoolExecutor(max_workers=workers) as ex:
        ex.submit(trivial, 0).result()
        t0 = time.perf_counter()
        for _ in ex.map(trivial, range(n)):
            pass
        took = time.perf_counter() - t0
    print(took / n)


main()

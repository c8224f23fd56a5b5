"""Python's ProcessPoolExecutor: N empty tasks submitted then all waited
(empty), or a CPU-bound map of N items (cpu).
usage: process_pool.py empty|cpu N WORKERS [WORK]; prints seconds per task."""
import sys
import time
from concurrent.futures import ProcessPoolExecutor


def empty(x):
    return x


def spin(x):
    acc = x
    for i in range(WORK):
        acc = (acc * 1103515245 + 12345) & 0xFFFFFFFF
    return acc


WORK = int(sys.argv[4]) if len(sys.argv) > 4 else 0


def main():
    mode, n, workers = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    with ProcessPoolExecutor(max_workers=workers) as ex:
        list(ex.map(empty, range(workers * 2)))     # start the workers first
        t0 = time.perf_counter()
        if mode == "empty":
            fs = [ex.submit(empty, i) for i in range(n)]
            for f in fs:
                f.result()
        else:
            list(ex.map(spin, range(n), chunksize=max(1, n // (4 * workers))))
        took = time.perf_counter() - t0
    print(took / n)


if __name__ == "__main__":
    main()

"""Python's process pools, as bench_pool times pyconc's:
  bulk N WORKERS          ProcessPoolExecutor: N no-op tasks submitted, then every result
  poolmap N WORKERS CHUNK multiprocessing.Pool.map over N ints in chunks of CHUNK
usage: pool.py bulk|poolmap N WORKERS [CHUNK]; prints seconds per task (per item for poolmap)."""
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import Pool


def noop(x):
    return x


def double(x):
    return x * 2


def bulk(n, workers):
    with ProcessPoolExecutor(max_workers=workers) as ex:
        list(ex.map(noop, range(workers * 2)))      # start the workers first
        t0 = time.perf_counter()
        fs = [ex.submit(noop, i) for i in range(n)]
        for f in fs:
            f.result()
        return time.perf_counter() - t0


def poolmap(n, workers, chunk):
    with Pool(workers) as pool:
        pool.map(noop, range(workers * 2))          # start the workers first
        items = list(range(n))
        t0 = time.perf_counter()
        out = pool.map(double, items, chunksize=chunk)
        took = time.perf_counter() - t0
    assert out[-1] == 2 * (n - 1)
    return took


def main():
    mode, n, workers = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    if mode == "bulk":
        took = bulk(n, workers)
    else:
        took = poolmap(n, workers, int(sys.argv[4]))
    print(took / n)


if __name__ == "__main__":
    main()

"""CPython's side of bench_mp_queue.c: multiprocessing.Queue (fork context).

    python3 mp_queue_ops.py CASE [quick]

CASE is stream or roundtrip. Prints one number: seconds per operation, the
median of several trials.
  stream     64-byte bytes items from a producer process to this one,
             seconds per item
  roundtrip  one 64-byte item there and back through two queues
"""
import multiprocessing as mp
import statistics
import sys
import time

now = time.perf_counter
ctx = mp.get_context("fork")
ITEM = bytes(64)


def producer(q, n):
    for _ in range(n):
        q.put(ITEM)


def stream(n):
    q = ctx.Queue(1024)
    p = ctx.Process(target=producer, args=(q, n))
    t0 = now()
    p.start()
    for _ in range(n):
        q.get()
    dt = now() - t0
    p.join()
    return dt / n


def echo(a, b, n):
    for _ in range(n):
        b.put(a.get())


def roundtrip(n):
    a, b = ctx.Queue(), ctx.Queue()
    p = ctx.Process(target=echo, args=(a, b, n))
    p.start()
    t0 = now()
    for _ in range(n):
        a.put(ITEM)
        b.get()
    dt = now() - t0
    p.join()
    return dt / n


def main():
    case = sys.argv[1]
    quick = len(sys.argv) > 2 and sys.argv[2] == "quick"
    n = {"stream": 20000, "roundtrip": 5000}[case] // (10 if quick else 1)
    fn = {"stream": stream, "roundtrip": roundtrip}[case]
    print(statistics.median(fn(n) for _ in range(3 if quick else 5)))


if __name__ == "__main__":
    main()

"""Python's side of bench_queue: seconds per item through queue.Queue,
SimpleQueue or PriorityQueue, median of three trials.

    queue_ops.py fifo N MAXSIZE PRODUCERS CONSUMERS
    queue_ops.py simple N 0 1 1
    queue_ops.py priority N 0 1 1     (put N ints, then get them; one thread)
"""
import queue
import statistics
import sys
import threading
import time


def threaded(make, n, producers, consumers):
    q = make()
    n -= n % (producers * consumers)
    go = threading.Barrier(producers + consumers + 1)

    def produce(start, count):
        go.wait()
        put = q.put
        for i in range(start, start + count):
            put(i)

    def consume(count, out):
        go.wait()
        get = q.get
        s = 0
        for _ in range(count):
            s += get()
        out.append(s)

    sums = []
    ts = [threading.Thread(target=produce, args=(1 + i * (n // producers), n // producers))
          for i in range(producers)]
    ts += [threading.Thread(target=consume, args=(n // consumers, sums))
           for _ in range(consumers)]
    for t in ts:
        t.start()
    go.wait()
    t0 = time.perf_counter()
    for t in ts:
        t.join()
    took = time.perf_counter() - t0
    assert sum(sums) == n * (n + 1) // 2, "items lost"
    return took / n


def priority(n):
    q = queue.PriorityQueue()
    values = [(i * 2654435761) % 1000003 for i in range(n)]
    t0 = time.perf_counter()
    for v in values:
        q.put(v)
    for _ in range(n):
        q.get()
    return (time.perf_counter() - t0) / (2 * n)


def main():
    mode, n, maxsize, producers, consumers = sys.argv[1], *map(int, sys.argv[2:6])
    trials = []
    for _ in range(3):
        if mode == "fifo":
            trials.append(threaded(lambda: queue.Queue(maxsize), n, producers, consumers))
        elif mode == "simple":
            trials.append(threaded(queue.SimpleQueue, n, producers, consumers))
        else:
            trials.append(priority(n))
    print("%.9g" % statistics.median(trials))


main()

"""CPython's side of bench_shared.c: the same cases with multiprocessing's
shared objects (the fork context).

    python3 shared_ops.py CASE [quick]

CASE is lock, value or condition. Prints one number: seconds per operation,
the median of several trials.
  lock       uncontended Lock acquire+release in one process; bound methods
             held in locals and the empty loop's cost subtracted, so the
             figure is a lower bound for Python
  value      `with v.get_lock(): v.value += 1` on a Value('i') by two
             processes at once; seconds per increment of either
  condition  round trips between two processes on a Condition: this one
             sets turn=1 and waits for 0, the partner waits for 1 and sets 0
"""
import multiprocessing as mp
import statistics
import sys
import time

now = time.perf_counter
ctx = mp.get_context("fork")


def lock_pair(n):
    lock = ctx.Lock()
    acquire, release = lock.acquire, lock.release
    t0 = now()
    for _ in range(n):
        acquire()
        release()
    t1 = now()
    for _ in range(n):
        pass
    t2 = now()
    return max((t1 - t0) - (t2 - t1), 0.0) / n


def incrementer(v, ready, go, ends, i, n):
    ready.release()
    go.wait()
    for _ in range(n):
        with v.get_lock():
            v.value += 1
    ends[i] = now()


def value_increments(n):
    """Both processes start on one Event; the time runs from its set to
    the later one's last increment (perf_counter is system-wide here)."""
    v, ready, go = ctx.Value("i", 0), ctx.Semaphore(0), ctx.Event()
    ends = ctx.RawArray("d", 2)
    procs = [ctx.Process(target=incrementer, args=(v, ready, go, ends, i, n))
             for i in range(2)]
    for p in procs:
        p.start()
    for _ in procs:
        ready.acquire()         # both are at go.wait(): their start is not timed
    t0 = now()
    go.set()
    for p in procs:
        p.join()
    if v.value != 2 * n:
        sys.exit("value: %d increments, not %d" % (v.value, 2 * n))
    return (max(ends) - t0) / (2 * n)


def partner(cond, turn, n):
    with cond:
        for _ in range(n + 1):
            while turn.value != 1:
                cond.wait()
            turn.value = 0
            cond.notify()


def condition_pingpong(n):
    cond, turn = ctx.Condition(), ctx.RawValue("i", 0)

    def serve():
        turn.value = 1
        cond.notify()
        while turn.value != 0:
            cond.wait()

    p = ctx.Process(target=partner, args=(cond, turn, n))
    p.start()
    with cond:
        serve()
        t0 = now()
        for _ in range(n):
            serve()
        dt = now() - t0
    p.join()
    return dt / n


def main(argv):
    case = argv[1] if len(argv) > 1 else "lock"
    quick = "quick" in argv[2:]
    scale = 10 if quick else 1
    trials = 3 if quick else 5
    cases = {
        "lock": lambda: lock_pair(200000 // scale),
        "value": lambda: value_increments(100000 // scale),
        "condition": lambda: condition_pingpong(5000 // scale),
    }
    if case not in cases:
        sys.exit(__doc__)
    print(statistics.median(cases[case]() for _ in range(trials)), flush=True)


if __name__ == "__main__":
    main(sys.argv)

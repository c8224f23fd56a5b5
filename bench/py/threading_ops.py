"""CPython's side of bench_threading.c: the same cases with the threading module.

    python3 threading_ops.py CASE [QUANTILE] [quick]

CASE is lock, rlock, condition, event, thread or timer. Prints one number:
seconds per operation, the median of several trials (for timer: the
QUANTILE, default 0.5, of every 1 ms Timer's oversleep). The lock cases use
the fastest Python spelling (bound methods held in locals) and subtract the
cost of the empty loop, so the figure is a lower bound for Python.
"""
import statistics
import sys
import threading
import time

now = time.perf_counter


def lock_pair(make, n):
    lock = make()
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


def condition_pingpong(n):
    """Round trips between two threads; the main thread sets turn=1 and
    waits for 0, the partner waits for 1 and sets 0."""
    cond = threading.Condition()
    state = {"turn": 0}

    def partner():
        with cond:
            for _ in range(n + 1):
                while state["turn"] != 1:
                    cond.wait()
                state["turn"] = 0
                cond.notify()

    def serve():
        state["turn"] = 1
        cond.notify()
        while state["turn"] != 0:
            cond.wait()

    t = threading.Thread(target=partner, daemon=True)
    t.start()
    with cond:
        serve()
        t0 = now()
        for _ in range(n):
            serve()
        dt = now() - t0
    t.join()
    return dt / n


def event_handoff(n):
    go, back = threading.Event(), threading.Event()

    def partner():
        for _ in range(n + 1):
            go.wait()
            go.clear()
            back.set()

    def serve():
        go.set()
        back.wait()
        back.clear()

    t = threading.Thread(target=partner, daemon=True)
    t.start()
    serve()
    t0 = now()
    for _ in range(n):
        serve()
    dt = now() - t0
    t.join()
    return dt / n


def thread_spawn(n):
    def nothing():
        pass

    t0 = now()
    for _ in range(n):
        t = threading.Thread(target=nothing)
        t.start()
        t.join()
    return (now() - t0) / n


def timer_oversleep(samples, interval=0.001):
    out = []
    for _ in range(samples):
        fired = []
        t0 = now()
        t = threading.Timer(interval, lambda: fired.append(now()))
        t.start()
        t.join()
        out.append(fired[0] - (t0 + interval))
    return out


def quantile(values, q):
    values = sorted(values)
    return values[int(q * (len(values) - 1) + 0.5)]


def main(argv):
    case = argv[1] if len(argv) > 1 else "lock"
    quick = "quick" in argv[2:]
    args = [a for a in argv[2:] if a != "quick"]
    scale = 10 if quick else 1
    trials = 3 if quick else 5
    cases = {
        "lock": lambda: lock_pair(threading.Lock, 200000 // scale),
        "rlock": lambda: lock_pair(threading.RLock, 200000 // scale),
        "condition": lambda: condition_pingpong(1000 // scale),
        "event": lambda: event_handoff(1000 // scale),
        "thread": lambda: thread_spawn(200 // scale),
    }
    if case == "timer":
        q = float(args[0]) if args else 0.5
        print("%.9g" % quantile(timer_oversleep(60 if quick else 200), q))
    elif case in cases:
        print("%.9g" % statistics.median(cases[case]() for _ in range(trials)))
    else:
        sys.exit("unknown case %r; one of: %s, timer" % (case, ", ".join(cases)))


if __name__ == "__main__":
    main(sys.argv)

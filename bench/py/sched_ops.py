"""CPython's side of bench_sched.c: the same cases with the sched module.

    python3 sched_ops.py CASE N [quick]

CASE is one of:
  run_noop N     N events entered at random due times and priorities, then
                 run() to empty with a no-op action and a no-op delayfunc;
                 seconds per event (enter + run).
  run_default N  the same with sched's default delayfunc (time.sleep in
                 3.11-3.13, which run() calls with 0 after every event).
  cancel N       N events queued at random future times; seconds per
                 cancel of a random queued event (a few dozen cancels,
                 so the queue stays at about N).
Prints one number, the median of the trials.
"""
import random
import sched
import statistics
import sys
import time

now = time.perf_counter


def noop():
    pass


def run_trial(n, delayfunc):
    rnd = random.Random(88172645463325252)
    events = [(rnd.random(), rnd.randrange(4)) for _ in range(n)]
    if delayfunc is None:
        s = sched.scheduler(time.monotonic)
    else:
        s = sched.scheduler(time.monotonic, delayfunc)
    enterabs = s.enterabs
    t0 = now()
    for when, prio in events:
        enterabs(when, prio, noop)
    s.run()
    return (now() - t0) / n


def cancel_trial(n, k):
    rnd = random.Random(2463534242)
    s = sched.scheduler(time.monotonic, lambda d: None)
    base = time.monotonic() + 1000
    handles = [s.enterabs(base + 1000 * rnd.random(), rnd.randrange(4), noop)
               for _ in range(n)]
    victims = rnd.sample(handles, k)
    t0 = now()
    for ev in victims:
        s.cancel(ev)
    return (now() - t0) / k


def main():
    case, n = sys.argv[1], int(sys.argv[2])
    quick = "quick" in sys.argv[3:]
    trials = 1 if quick else 3
    if case == "run_noop":
        results = [run_trial(n, lambda d: None) for _ in range(trials)]
    elif case == "run_default":
        results = [run_trial(n, None) for _ in range(trials)]
    elif case == "cancel":
        k = 10 if quick else 40
        results = [cancel_trial(n, min(k, n)) for _ in range(trials)]
    else:
        sys.exit("unknown case " + case)
    print(statistics.median(results))


if __name__ == "__main__":
    main()

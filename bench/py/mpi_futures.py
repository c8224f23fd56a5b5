"""mpi4py.futures' MPICommExecutor on the work bench_mpi gives pyconc's MPI
executor: NOOP no-op tasks submitted then all waited, RTT submit->result
round trips one after another, and (with IDLE 1) the client's CPU seconds
while one task sleeps 1 s. Run under mpirun on every rank; rank 0 prints
"noop S rtt S idle S" (seconds per task; CPU seconds).
usage: mpirun -np 3 python3 mpi_futures.py NOOP RTT IDLE"""
import sys
import time

from mpi4py.futures import MPICommExecutor


def noop(x):
    return x


def main():
    n_noop, n_rtt, idle = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
    with MPICommExecutor() as ex:
        if ex is None:
            return
        list(ex.map(noop, range(64)))      # every rank up and answering
        t0 = time.perf_counter()
        fs = [ex.submit(noop, i) for i in range(n_noop)]
        for f in fs:
            f.result()
        noop_s = (time.perf_counter() - t0) / n_noop
        t0 = time.perf_counter()
        for i in range(n_rtt):
            ex.submit(noop, i).result()
        rtt_s = (time.perf_counter() - t0) / n_rtt
        idle_s = float("nan")
        if idle:
            f = ex.submit(time.sleep, 1.0)
            c0 = time.process_time()
            f.result()
            idle_s = time.process_time() - c0
        print("noop %.9g rtt %.9g idle %.9g" % (noop_s, rtt_s, idle_s), flush=True)


if __name__ == "__main__":
    main()

"""Shared by the process-pool scripts: the functions the workers run, and the timing skeleton
(build the pool, warm it up with 1% of the job, time the job, print `ns_per_op=<float>`).

The functions live here, not in the scripts, so that a worker finds them by module name
whatever the start method (fork, forkserver or spawn).
"""

import sys
import time


def inc(x):
    return x + 1


def square(x):
    return x * x


def main(make_pool, job):
    n = int(sys.argv[1])
    with make_pool() as pool:
        job(pool, max(n // 100, 1))  # warm-up: start the workers
        start = time.perf_counter_ns()
        job(pool, n)
        elapsed = time.perf_counter_ns() - start
    print(f"ns_per_op={elapsed / n:.1f}")


def noop():
    return None


def main_starts(method):
    """proc-start: n times, start a multiprocessing.Process running noop and join it, with
    the given start method ("fork" or "spawn"). Prints `ns_per_op=<float>`."""
    import multiprocessing

    n = int(sys.argv[1])
    ctx = multiprocessing.get_context(method)

    def job(k):
        for _ in range(k):
            p = ctx.Process(target=noop)
            p.start()
            p.join()
            assert p.exitcode == 0

    job(max(n // 100, 1))
    start = time.perf_counter_ns()
    job(n)
    elapsed = time.perf_counter_ns() - start
    print(f"ns_per_op={elapsed / n:.1f}")

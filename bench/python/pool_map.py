"""pool-map for Python: multiprocessing.pool.ThreadPool(2).map of a small CPU function over
range(n), with Python's default chunk size. Prints `ns_per_op=<float>` (per item).
`pool_map_mp.py` runs the same job on multiprocessing.Pool(2).

Usage: python3 pool_map.py <n>
"""

import sys
import time
from multiprocessing.pool import ThreadPool

from map import f  # the same function as the `map` workload


def main(make_pool):
    n = int(sys.argv[1])
    with make_pool(2) as pool:
        pool.map(f, range(max(n // 100, 1)))  # warm-up: start the workers
        start = time.perf_counter_ns()
        out = pool.map(f, range(n))
        elapsed = time.perf_counter_ns() - start
    assert len(out) == n and out[-1] == f(n - 1)
    print(f"ns_per_op={elapsed / n:.1f}")


if __name__ == "__main__":
    main(ThreadPool)

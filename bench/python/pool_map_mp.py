"""pool-map for Python processes: multiprocessing.Pool(2).map of a small CPU function over
range(n), with Python's default chunk size. Prints `ns_per_op=<float>` (per item).

Usage: python3 pool_map_mp.py <n>
"""

import sys
import time
from multiprocessing import Pool

from map import f  # the same function as the `map` workload


def main():
    n = int(sys.argv[1])
    with Pool(2) as pool:
        pool.map(f, range(max(n // 100, 1)))  # warm-up: start the workers
        start = time.perf_counter_ns()
        out = pool.map(f, range(n))
        elapsed = time.perf_counter_ns() - start
    assert len(out) == n and out[-1] == f(n - 1)
    print(f"ns_per_op={elapsed / n:.1f}")


if __name__ == "__main__":
    main()

"""pool-map for Python: multiprocessing.pool.ThreadPool(2).map of a small CPU function over
range(n), with Python's default chunk size. Prints `ns_per_op=<float>` (per item).
`pool_map_mp.py` runs the same job on multiprocessing.Pool(2); `pool_imap_unordered.py` and
`pool_imap_unordered_mp.py` run `imap_unordered` on each.

Usage: python3 pool_map.py <n>
"""

import sys
import time
from multiprocessing.pool import ThreadPool

from map import f  # the same function as the `map` workload


def ordered(pool, n):
    """`pool.map` at its default chunk size."""
    return pool.map(f, range(n))


def unordered(pool, n):
    """`pool.imap_unordered` at the chunk size `Pool.map` would pick, `ceil(n / (4 * 2))`."""
    return list(pool.imap_unordered(f, range(n), chunksize=max(-(-n // 8), 1)))


def main(make_pool, job=ordered):
    n = int(sys.argv[1])
    with make_pool(2) as pool:
        job(pool, max(n // 100, 1))  # warm-up: start the workers
        start = time.perf_counter_ns()
        out = job(pool, n)
        elapsed = time.perf_counter_ns() - start
    assert len(out) == n and sorted(out) == sorted(f(x) for x in range(n))
    print(f"ns_per_op={elapsed / n:.1f}")


if __name__ == "__main__":
    main(ThreadPool)

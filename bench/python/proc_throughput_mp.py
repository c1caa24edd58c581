"""proc-throughput for Python: n calls of inc sent with multiprocessing.Pool(2).apply_async,
then every result's get(). Prints `ns_per_op=<float>` (per task).

Usage: python3 proc_throughput_mp.py <n>
"""

from multiprocessing import Pool

import proc_common
from proc_common import inc


def job(pool, n):
    results = [pool.apply_async(inc, (i,)) for i in range(n)]
    assert sum(r.get() for r in results) == n * (n + 1) // 2


if __name__ == "__main__":
    proc_common.main(lambda: Pool(2), job)

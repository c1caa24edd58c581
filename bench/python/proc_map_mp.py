"""proc-map for Python: multiprocessing.Pool(2).map(square, range(n)) with its default
chunksize, ceil(n / (4 * 2)). Prints `ns_per_op=<float>` (per item).

Usage: python3 proc_map_mp.py <n>
"""

from multiprocessing import Pool

import proc_common
from proc_common import square


def job(pool, n):
    out = pool.map(square, range(n))
    assert len(out) == n and out[-1] == (n - 1) ** 2


if __name__ == "__main__":
    proc_common.main(lambda: Pool(2), job)

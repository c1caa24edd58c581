"""proc-roundtrip for Python: n calls of inc, one at a time, on multiprocessing.Pool(1):
pool.apply(inc, (i,)). Prints `ns_per_op=<float>` (per round trip).

Usage: python3 proc_roundtrip_mp.py <n>
"""

from multiprocessing import Pool

import proc_common
from proc_common import inc


def job(pool, n):
    for i in range(n):
        assert pool.apply(inc, (i,)) == i + 1


if __name__ == "__main__":
    proc_common.main(lambda: Pool(1), job)

"""proc-roundtrip for Python: n calls of inc, one at a time, on
concurrent.futures.ProcessPoolExecutor(max_workers=1): submit(inc, i).result().
Prints `ns_per_op=<float>` (per round trip).

Usage: python3 proc_roundtrip_ppe.py <n>
"""

from concurrent.futures import ProcessPoolExecutor

import proc_common
from proc_common import inc


def job(ex, n):
    for i in range(n):
        assert ex.submit(inc, i).result() == i + 1


if __name__ == "__main__":
    proc_common.main(lambda: ProcessPoolExecutor(max_workers=1), job)

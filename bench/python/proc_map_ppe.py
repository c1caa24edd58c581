"""proc-map for Python: concurrent.futures.ProcessPoolExecutor(max_workers=2)
.map(square, range(n), chunksize=1000), results collected in order.
Prints `ns_per_op=<float>` (per item).

Usage: python3 proc_map_ppe.py <n>
"""

from concurrent.futures import ProcessPoolExecutor

import proc_common
from proc_common import square


def job(ex, n):
    out = list(ex.map(square, range(n), chunksize=1000))
    assert len(out) == n and out[-1] == (n - 1) ** 2


if __name__ == "__main__":
    proc_common.main(lambda: ProcessPoolExecutor(max_workers=2), job)

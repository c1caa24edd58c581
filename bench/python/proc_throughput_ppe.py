"""proc-throughput for Python: n calls of inc submitted to
concurrent.futures.ProcessPoolExecutor(max_workers=2), then every result awaited.
Prints `ns_per_op=<float>` (per task).

Usage: python3 proc_throughput_ppe.py <n>
"""

from concurrent.futures import ProcessPoolExecutor

import proc_common
from proc_common import inc


def job(ex, n):
    futures = [ex.submit(inc, i) for i in range(n)]
    assert sum(f.result() for f in futures) == n * (n + 1) // 2


if __name__ == "__main__":
    proc_common.main(lambda: ProcessPoolExecutor(max_workers=2), job)

"""subprocess-spawn with the blocking `subprocess.run(['/bin/true'])`, n times. Prints
`ns_per_op=<float>` (per run).

Usage: python3 subprocess_run.py <n>
"""

import subprocess
import sys
import time

if __name__ == "__main__":
    n = int(sys.argv[1])
    for _ in range(max(1, n // 100)):
        subprocess.run(["/bin/true"])
    start = time.perf_counter_ns()
    for _ in range(n):
        subprocess.run(["/bin/true"])
    print(f"ns_per_op={(time.perf_counter_ns() - start) / n}")

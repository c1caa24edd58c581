"""submit-wait for Python: n trivial tasks submitted to ThreadPoolExecutor(max_workers=2),
then every result waited. Prints `ns_per_op=<float>`.

Usage: python3 submit_wait.py <n>
"""

import sys
import time
from concurrent.futures import ThreadPoolExecutor


def inc(i):
    return i + 1


def job(ex, n):
    futures = [ex.submit(inc, i) for i in range(n)]
    total = sum(f.result() for f in futures)
    assert total == n * (n + 1) // 2


def main():
    n = int(sys.argv[1])
    with ThreadPoolExecutor(max_workers=2) as ex:
        job(ex, max(n // 100, 1))  # warm-up: start the workers
        start = time.perf_counter_ns()
        job(ex, n)
        elapsed = time.perf_counter_ns() - start
    print(f"ns_per_op={elapsed / n:.1f}")


if __name__ == "__main__":
    main()

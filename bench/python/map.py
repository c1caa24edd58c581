"""map for Python: ThreadPoolExecutor(max_workers=2).map of a small CPU function over
range(n), results collected in order. Prints `ns_per_op=<float>` (per item).

The function is the Rust side's `f`: four rounds of x = (x * 2654435761 mod 2^64) ^ (x >> 7).

Usage: python3 map.py <n>
"""

import sys
import time
from concurrent.futures import ThreadPoolExecutor

MASK = (1 << 64) - 1


def f(x):
    for _ in range(4):
        x = ((x * 2654435761) & MASK) ^ (x >> 7)
    return x


def main():
    n = int(sys.argv[1])
    with ThreadPoolExecutor(max_workers=2) as ex:
        list(ex.map(f, range(max(n // 100, 1))))  # warm-up: start the workers
        start = time.perf_counter_ns()
        out = list(ex.map(f, range(n)))
        elapsed = time.perf_counter_ns() - start
    assert len(out) == n and out[-1] == f(n - 1)
    print(f"ns_per_op={elapsed / n:.1f}")


if __name__ == "__main__":
    main()

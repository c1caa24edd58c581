"""aio-spawn for Python: n trivial tasks created on one asyncio loop, then each awaited.
Prints `ns_per_op=<float>` (per task). `aio_spawn_uvloop.py` runs the same on uvloop.

Usage: python3 aio_spawn.py <n>
"""

import asyncio
import sys
import time


async def one(i):
    return i + 1


async def job(n):
    tasks = [asyncio.create_task(one(i)) for i in range(n)]
    total = 0
    for t in tasks:
        total += await t
    assert total == n * (n + 1) // 2


def main(run=asyncio.run):
    n = int(sys.argv[1])
    run(job(max(n // 100, 1)))  # warm-up
    start = time.perf_counter_ns()
    run(job(n))
    elapsed = time.perf_counter_ns() - start
    print(f"ns_per_op={elapsed / n:.1f}")


if __name__ == "__main__":
    main()

"""aio-timers for Python: n tasks on one asyncio loop, task i sleeping
((i * 7919) % 10000) microseconds, then each awaited. Prints `ns_per_op=<float>` (per timer).
`aio_timers_uvloop.py` runs the same on uvloop.

Usage: python3 aio_timers.py <n>
"""

import asyncio
import sys
import time


async def one(i):
    await asyncio.sleep(((i * 7919) % 10000) / 1e6)
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

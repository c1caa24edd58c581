"""Shared by the event-loop scripts: create n tasks from `one(i)`, await each, time the run."""

import asyncio
import sys
import time


async def job(one, n):
    tasks = [asyncio.create_task(one(i)) for i in range(n)]
    total = 0
    for t in tasks:
        total += await t
    assert total == n * (n + 1) // 2


def main(one, run=asyncio.run):
    n = int(sys.argv[1])
    run(job(one, max(n // 100, 1)))  # warm-up
    start = time.perf_counter_ns()
    run(job(one, n))
    elapsed = time.perf_counter_ns() - start
    print(f"ns_per_op={elapsed / n:.1f}")

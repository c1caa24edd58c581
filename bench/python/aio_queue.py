"""aio-queue for Python: a producer and a consumer task on one asyncio loop, n round trips
through two asyncio.Queue(maxsize=1): the producer puts i on `ping` and waits for the
consumer's i + 1 on `pong`. Prints `ns_per_op=<float>` (per round trip).
`aio_queue_uvloop.py` runs the same on uvloop.

Usage: python3 aio_queue.py <n>
"""

import asyncio
import sys
import time


async def consumer(ping, pong, n):
    for _ in range(n):
        i = await ping.get()
        await pong.put(i + 1)


async def job(n):
    ping = asyncio.Queue(maxsize=1)
    pong = asyncio.Queue(maxsize=1)
    task = asyncio.create_task(consumer(ping, pong, n))
    total = 0
    for i in range(n):
        await ping.put(i)
        total += await pong.get()
    await task
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

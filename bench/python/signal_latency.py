"""signal-latency for Python: n times `os.kill(os.getpid(), SIGUSR1)` and wait until the
handler added with `loop.add_signal_handler` ran. Prints `ns_per_op=<float>` (per signal).

Usage: python3 signal_latency.py <n>
"""

import asyncio
import os
import signal
import sys
import time


async def job(n):
    loop = asyncio.get_running_loop()
    waiter = None

    def handler():
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    loop.add_signal_handler(signal.SIGUSR1, handler)
    pid = os.getpid()
    for _ in range(n):
        waiter = loop.create_future()
        os.kill(pid, signal.SIGUSR1)
        await waiter
    loop.remove_signal_handler(signal.SIGUSR1)


def main(run=asyncio.run):
    n = int(sys.argv[1])
    run(job(max(1, n // 100)))
    start = time.perf_counter_ns()
    run(job(n))
    print(f"ns_per_op={(time.perf_counter_ns() - start) / n}")


if __name__ == "__main__":
    main()

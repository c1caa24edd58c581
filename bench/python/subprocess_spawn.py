"""subprocess-spawn for Python: n times `await create_subprocess_exec('/bin/true')` then
`await proc.wait()`, one at a time. Prints `ns_per_op=<float>` (per spawn+wait).
`subprocess_spawn_uvloop.py` runs the same on uvloop.

Usage: python3 subprocess_spawn.py <n>
"""

import asyncio
import sys
import time


async def job(n):
    for _ in range(n):
        proc = await asyncio.create_subprocess_exec("/bin/true")
        await proc.wait()


def main(run=asyncio.run):
    n = int(sys.argv[1])
    run(job(max(1, n // 100)))
    start = time.perf_counter_ns()
    run(job(n))
    print(f"ns_per_op={(time.perf_counter_ns() - start) / n}")


if __name__ == "__main__":
    main()

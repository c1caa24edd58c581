"""aio-timers for Python: n tasks on one asyncio loop, task i sleeping
((i * 7919) % 10000) microseconds, then each awaited. Prints `ns_per_op=<float>` (per timer).
`aio_timers_uvloop.py` runs the same on uvloop.

Usage: python3 aio_timers.py <n>
"""

import asyncio

import aio_common


async def one(i):
    await asyncio.sleep(((i * 7919) % 10000) / 1e6)
    return i + 1


def main(run=asyncio.run):
    aio_common.main(one, run)


if __name__ == "__main__":
    main()

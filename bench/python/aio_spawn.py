"""aio-spawn for Python: n trivial tasks created on one asyncio loop, then each awaited.
Prints `ns_per_op=<float>` (per task). `aio_spawn_uvloop.py` runs the same on uvloop.

Usage: python3 aio_spawn.py <n>
"""

import asyncio

import aio_common


async def one(i):
    return i + 1


def main(run=asyncio.run):
    aio_common.main(one, run)


if __name__ == "__main__":
    main()

"""subprocess-pipe for Python: `communicate()` n MiB through `cat` (stdin in, stdout out).
Prints `ns_per_op=<float>` (per MiB). `subprocess_pipe_uvloop.py` runs it on uvloop.

Usage: python3 subprocess_pipe.py <mib>
"""

import asyncio
import sys
import time


async def job(mib):
    data = b"\x07" * (mib << 20)
    proc = await asyncio.create_subprocess_exec(
        "cat", stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE
    )
    out, _ = await proc.communicate(data)
    assert len(out) == len(data)


def main(run=asyncio.run):
    mib = int(sys.argv[1])
    run(job(max(1, mib // 100)))
    start = time.perf_counter_ns()
    run(job(mib))
    print(f"ns_per_op={(time.perf_counter_ns() - start) / mib}")


if __name__ == "__main__":
    main()

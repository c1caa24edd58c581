"""echo-remote for Python: the asyncio streams server of echo.py, the clients in another
process (the bench binary, `$BENCH_EXE`, started again with `BENCH_ECHO_CLIENTS` set: the
same tokio clients every peer of the workload gets). Prints the clients' `ns_per_op=<float>`
(per round trip). `echo_remote_uvloop.py` runs the same server on uvloop.

Usage: BENCH_EXE=<bench binary> python3 echo_remote.py <n>
"""

import asyncio
import os
import sys

from echo import CONNS, handle
import echo


async def job(n):
    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    env = dict(os.environ, BENCH_ECHO_CLIENTS=f"127.0.0.1:{port},{n // CONNS}")
    proc = await asyncio.create_subprocess_exec(
        os.environ["BENCH_EXE"], env=env, stdout=asyncio.subprocess.PIPE
    )
    out, _ = await proc.communicate()
    if proc.returncode != 0:
        sys.exit(f"the echo clients failed: {proc.returncode}")
    while echo.active:  # let the handlers see end-of-file and return
        await asyncio.sleep(0.001)
    server.close()
    await server.wait_closed()
    return out.decode()


def main(run=asyncio.run):
    n = int(sys.argv[1])
    out = run(job(n))
    print(next(l for l in out.splitlines() if l.startswith("ns_per_op=")))


if __name__ == "__main__":
    main()

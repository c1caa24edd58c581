"""echo for Python: 50 connections x n/50 round trips of 64 bytes through asyncio streams,
server and clients on one loop. Prints `ns_per_op=<float>` (per round trip).
`echo_uvloop.py` runs the same on uvloop.

Usage: python3 echo.py <n>
"""

import asyncio
import sys
import time

CONNS = 50
MSG = 64


active = 0


async def handle(reader, writer):
    global active
    active += 1
    try:
        while True:
            data = await reader.readexactly(MSG)
            writer.write(data)
            await writer.drain()
    except (asyncio.IncompleteReadError, ConnectionError):
        pass
    writer.close()
    active -= 1


async def job(n):
    per_conn = n // CONNS
    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    conns = [await asyncio.open_connection("127.0.0.1", port) for _ in range(CONNS)]
    msg = b"\x07" * MSG

    async def client(reader, writer):
        for _ in range(per_conn):
            writer.write(msg)
            await writer.drain()
            await reader.readexactly(MSG)

    start = time.perf_counter_ns()
    await asyncio.gather(*(client(r, w) for r, w in conns))
    elapsed = time.perf_counter_ns() - start
    for _, w in conns:
        w.close()
        await w.wait_closed()
    while active:  # let the handlers see end-of-file and return
        await asyncio.sleep(0.001)
    server.close()
    await server.wait_closed()
    return elapsed / (per_conn * CONNS)


def main(run=asyncio.run):
    n = int(sys.argv[1])
    run(job(max(n // 100, CONNS)))  # warm-up
    print(f"ns_per_op={run(job(n)):.1f}")


if __name__ == "__main__":
    main()

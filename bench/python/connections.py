"""connections for Python: n TCP connections opened at once on one asyncio loop, one line
round trip each, all held open until every one is, then closed. Prints `ns_per_op=<float>`
(per connection) and the RSS per connection on stderr.

Usage: python3 connections.py <n>
"""

import asyncio
import resource
import sys
import time

soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def rss():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * 4096


async def job(n):
    live = 0

    async def handle(reader, writer):
        nonlocal live
        live += 1
        while line := await reader.readline():
            writer.write(line)
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0, backlog=4096)
    port = server.sockets[0].getsockname()[1]
    opened = asyncio.Event()
    before = rss()

    async def client():
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"ping\n")
        assert await reader.readline() == b"ping\n"
        await opened.wait()
        writer.close()
        await writer.wait_closed()

    start = time.perf_counter_ns()
    tasks = [asyncio.create_task(client()) for _ in range(n)]
    while live < n:
        await asyncio.sleep(0.001)
    await asyncio.sleep(0.005)
    peak = rss()
    opened.set()
    await asyncio.gather(*tasks)
    elapsed = time.perf_counter_ns() - start
    server.close()
    return elapsed / n, (peak - before) // n


def main():
    n = int(sys.argv[1])
    ns, per_conn = asyncio.run(job(n))
    print(f"   Python asyncio: {per_conn} bytes of RSS per connection at the peak (both ends, {n} open)", file=sys.stderr)
    print(f"ns_per_op={ns:.1f}")


if __name__ == "__main__":
    main()

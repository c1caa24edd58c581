"""echo with uvloop and asyncio Protocols (no streams): 50 connections x n/50 round trips of
64 bytes, server and clients on one loop. Prints `ns_per_op=<float>` (per round trip).

Usage: python3 echo_uvloop_protocol.py <n>
"""

import asyncio
import sys
import time

import uvloop

CONNS = 50
MSG = 64


class Echo(asyncio.Protocol):
    def connection_made(self, transport):
        self.transport = transport
        self.buf = b""

    def data_received(self, data):
        self.buf += data
        while len(self.buf) >= MSG:
            self.transport.write(self.buf[:MSG])
            self.buf = self.buf[MSG:]


class Client(asyncio.Protocol):
    def __init__(self, rounds, done):
        self.rounds = rounds
        self.done = done
        self.buf = b""
        self.msg = b"\x07" * MSG

    def connection_made(self, transport):
        self.transport = transport

    def start(self):
        self.transport.write(self.msg)

    def data_received(self, data):
        self.buf += data
        while len(self.buf) >= MSG:
            self.buf = self.buf[MSG:]
            self.rounds -= 1
            if self.rounds == 0:
                self.done.set_result(None)
            else:
                self.transport.write(self.msg)


async def job(n):
    loop = asyncio.get_running_loop()
    per_conn = n // CONNS
    server = await loop.create_server(Echo, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    clients = []
    for _ in range(CONNS):
        done = loop.create_future()
        _, proto = await loop.create_connection(
            lambda: Client(per_conn, done), "127.0.0.1", port
        )
        clients.append(proto)
    start = time.perf_counter_ns()
    for c in clients:
        c.start()
    await asyncio.gather(*(c.done for c in clients))
    elapsed = time.perf_counter_ns() - start
    for c in clients:
        c.transport.close()
    server.close()
    return elapsed / (per_conn * CONNS)


def main():
    n = int(sys.argv[1])
    uvloop.run(job(max(n // 100, CONNS)))  # warm-up
    print(f"ns_per_op={uvloop.run(job(n)):.1f}")


if __name__ == "__main__":
    main()

"""A counting TCP proxy between one AMI client and Asterisk.

Every action a client sends is logged with its arrival time (one line: time, connection number,
action name, ChannelId/Channel/Conference), so the benchmark counts the requests of every
contender the same way, and sees the moment an Originate or Hangup leaves the client. Bytes
from Asterisk are passed through untouched.

Run: python bench/ami_proxy.py --listen PORT --target PORT --log FILE   (prints "ready")
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import signal
import sys
import time
from typing import IO


class Upstream(asyncio.Protocol):
    def __init__(self, down: Downstream) -> None:
        self.down = down
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.down.transport.write(data)

    def connection_lost(self, exc: Exception | None) -> None:
        self.down.transport.close()


class Downstream(asyncio.Protocol):
    ids = itertools.count(1)

    def __init__(self, target: tuple[str, int], log: IO[str]) -> None:
        self.target, self.log = target, log
        self.conn = next(self.ids)
        self.buf = b""
        self.up: Upstream | None = None
        self.early: list[bytes] = []

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        transport.get_extra_info("socket").setsockopt(6, 1, 1)  # TCP_NODELAY
        asyncio.get_running_loop().create_task(self._open())

    async def _open(self) -> None:
        loop = asyncio.get_running_loop()
        try:
            _, up = await loop.create_connection(lambda: Upstream(self), *self.target)
        except OSError:
            self.transport.close()
            return
        up.transport.get_extra_info("socket").setsockopt(6, 1, 1)
        self.up = up
        for data in self.early:
            up.transport.write(data)
        self.early.clear()

    def data_received(self, data: bytes) -> None:
        now = time.time()
        if self.up is not None and self.up.transport is not None:
            self.up.transport.write(data)  # forward first, count after
        else:
            self.early.append(data)
        self.buf += data
        while b"\r\n\r\n" in self.buf:
            block, self.buf = self.buf.split(b"\r\n\r\n", 1)
            fields: dict[str, str] = {}
            for line in block.decode(errors="replace").split("\r\n"):
                key, _, value = line.partition(":")
                fields.setdefault(key.strip().lower(), value.strip())
            if "action" in fields:
                extra = fields.get("channelid") or fields.get("channel") or fields.get("conference") or "-"
                self.log.write(f"{now:.6f}\t{self.conn}\t{fields['action']}\t{extra}\n")

    def connection_lost(self, exc: Exception | None) -> None:
        if self.up is not None and self.up.transport is not None:
            self.up.transport.close()


async def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--listen", type=int, required=True)
    p.add_argument("--target", type=int, required=True)
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--log", required=True)
    args = p.parse_args()
    log = open(args.log, "a", buffering=1 << 16)  # noqa: ASYNC230 - once, before serving
    loop = asyncio.get_running_loop()
    server = await loop.create_server(lambda: Downstream((args.host, args.target), log), args.host, args.listen)
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    print("ready", flush=True)
    while not stop.is_set():
        try:
            await asyncio.wait_for(stop.wait(), 0.2)
        except TimeoutError:
            pass
        log.flush()
    server.close()
    log.close()


if __name__ == "__main__":
    asyncio.run(main())
    sys.exit(0)

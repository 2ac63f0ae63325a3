"""Command line and lifecycle shared by the two baselines."""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
import time
from collections.abc import Awaitable, Callable

from amiraw import RawAmi


def parse_args(description: str) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--username", required=True)
    p.add_argument("--secret", required=True)
    p.add_argument("--rooms", required=True, help="comma-separated room numbers, or FIRST-LAST")
    p.add_argument("--endpoint", default="SIP-TEST")
    p.add_argument("--number", default="", help="number to dial; empty: the room number")
    p.add_argument("--context", default="conflink-join")
    p.add_argument("--interval", type=float, default=3.0, help="poll interval (poller only)")
    return p.parse_args()


def rooms_of(spec: str) -> list[str]:
    if "-" in spec and "," not in spec:
        first, last = spec.split("-")
        return [str(r) for r in range(int(first), int(last) + 1)]
    return [r for r in spec.split(",") if r]


def note(what: str, room: str, detail: str) -> None:
    # One line per action, wall-clock seconds with microseconds: the benchmark reads these.
    sys.stdout.write(f"{time.time():.6f} {what} {room} {detail}\n")
    sys.stdout.flush()


def run(main: Callable[[argparse.Namespace, RawAmi, asyncio.Event], Awaitable[None]],
        args: argparse.Namespace, events: bool, on_event_factory: Callable[[RawAmi], object] | None = None) -> None:
    async def runner() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        ami = RawAmi()
        if on_event_factory is not None:
            ami.on_event = on_event_factory(ami)  # type: ignore[assignment]
        await ami.connect(args.host, args.port, args.username, args.secret, events)
        note("ready", "-", "-")
        await main(args, ami, stop)
        note("requests", "-", str(ami.requests_sent))
        await ami.close()

    asyncio.run(runner())

"""State-machine throughput: events per second through the pure LinkMachine (no I/O, no clock),
and through the Engine's event path with a stand-in AMI that only records what it is asked to
send (timers and logging included, no sockets).

Run alone: python bench/fsm_bench.py [--profile]
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import io
import logging
import pstats
import sys
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "python-worker"))

from conflink.config import AmiConfig, Config, LinkConfig  # noqa: E402
from conflink.engine import Engine  # noqa: E402
from conflink.fsm import LinkMachine, Originate  # noqa: E402

EVENTS_PER_CYCLE = 7


def _link(i: int) -> LinkConfig:
    return LinkConfig(id=str(i), room=str(2000 + i), endpoint="SIP-TEST", number=str(2000 + i), dtmf_delay=0.0)


def room_cycles(machines: list[LinkMachine], cycles: int) -> int:
    """Each cycle on each machine: 2 internals join, the call answers and joins, both internals
    leave (hang-up issued), the call's channel goes away: 7 events. Returns events fed."""
    now = 1_700_000_000.0
    for c in range(cycles):
        for m in machines:
            now += 0.001
            a, b = f"labjoin-{c}a;2", f"labjoin-{c}b;2"
            call_id = None
            for act in m.internal_joined(a, now):
                if isinstance(act, Originate):
                    call_id = act.call_id
            m.internal_joined(b, now)
            assert call_id is not None, "no Originate on first join"
            m.external_answered(call_id, now)
            m.external_joined(call_id, "PJSIP/SIP-TEST-1", now)
            m.internal_left(a, now)
            m.internal_left(b, now)
            m.external_gone(call_id, None, now)
    return cycles * len(machines) * EVENTS_PER_CYCLE


def fsm_throughput(seconds: float = 1.0, machines: int = 1) -> dict[str, float]:
    ms = [LinkMachine(link=_link(i)) for i in range(machines)]
    room_cycles(ms, 10)  # warm-up
    best = 0.0
    total_events, total_time = 0, 0.0
    for _ in range(3):
        cycles = max(1, int(2000 / machines))
        t0 = time.perf_counter()
        n = 0
        while time.perf_counter() - t0 < seconds / 3:
            n += room_cycles(ms, cycles)
        dt = time.perf_counter() - t0
        best = max(best, n / dt)
        total_events += n
        total_time += dt
    return {"events_per_s": best, "us_per_event": 1e6 / best, "machines": machines, "events": total_events}


class _StubAmi:
    """Stands in for conflink.ami.AmiClient: ready, records sends, answers nothing."""

    def __init__(self, config: AmiConfig, on_event: Any, on_ready: Any) -> None:
        self.config = config
        self.ready = self.connected = self.logged_in = True
        self.last_error = ""
        self.requests_sent = 0
        self.connects = 1

    async def start(self) -> None:
        pass

    def stop(self) -> None:
        pass

    def send(self, action: dict[str, Any]) -> asyncio.Future:
        self.requests_sent += 1
        f: asyncio.Future = asyncio.get_running_loop().create_future()
        return f  # never answered, like an Originate still ringing


async def _engine_run(links: int, seconds: float) -> dict[str, float]:
    engine = Engine(ami_factory=_StubAmi, reconcile_interval=3600)
    config = Config(ami=AmiConfig(secret="x"), links=tuple(_link(i) for i in range(links)))
    await engine.apply_config(config)
    # The stub never sends FullyBooted: mark AMI up the way on_ami_ready's resync would.
    for machine in engine.machines.values():
        engine._run(machine.set_ami(True, time.time()))
    rooms = [_link(i).room for i in range(links)]
    n = 0
    t0 = time.perf_counter()
    c = 0
    while time.perf_counter() - t0 < seconds:
        c += 1
        for i, room in enumerate(rooms):
            a, b = f"labjoin-{c}-{i}a;2", f"labjoin-{c}-{i}b;2"
            engine.on_ami_event("ConfbridgeJoin", {"Conference": room, "Uniqueid": a, "Channel": "Local/x;2"})
            engine.on_ami_event("ConfbridgeJoin", {"Conference": room, "Uniqueid": b, "Channel": "Local/y;2"})
            call = engine.machines[str(i)].call
            call_id = call.call_id if call else "none"
            engine.on_ami_event("Newchannel", {"Uniqueid": call_id, "Channel": "PJSIP/SIP-TEST-1"})
            engine.on_ami_event("ConfbridgeJoin", {"Conference": room, "Uniqueid": call_id,
                                                   "Channel": "PJSIP/SIP-TEST-1"})
            engine.on_ami_event("ConfbridgeLeave", {"Conference": room, "Uniqueid": a, "Channel": "Local/x;2"})
            engine.on_ami_event("ConfbridgeLeave", {"Conference": room, "Uniqueid": b, "Channel": "Local/y;2"})
            engine.on_ami_event("Hangup", {"Uniqueid": call_id, "Cause": "16", "Channel": "PJSIP/SIP-TEST-1"})
            n += 7
    dt = time.perf_counter() - t0
    sent = engine.ami.requests_sent if engine.ami else 0
    await engine.stop()
    if sent < c * links:
        raise RuntimeError(f"engine benchmark is not exercising dialling: {sent} sends for {c * links} cycles")
    return {"events_per_s": n / dt, "us_per_event": 1e6 * dt / n, "links": links, "events": n}


def engine_throughput(links: int = 100, seconds: float = 1.0, log_to: str | None = "/dev/null") -> dict[str, float]:
    """Engine event path with INFO logging to `log_to` in the worker's format (the worker logs
    every decision; that is part of the cost). log_to=None: logging off."""
    handler: logging.Handler = logging.FileHandler(log_to) if log_to else logging.NullHandler()
    handler.setFormatter(logging.Formatter("%(asctime)s.%(msecs)03d %(levelname)s %(name)s %(message)s",
                                           "%H:%M:%S"))
    root = logging.getLogger()
    old = root.handlers[:], root.level
    root.handlers[:] = [handler]
    root.setLevel(logging.INFO if log_to else logging.WARNING)
    try:
        return asyncio.run(_engine_run(links, seconds))
    finally:
        root.handlers[:], level = old
        root.setLevel(level)
        handler.close()


def profile_top(fn: Any, n: int = 12) -> str:
    prof = cProfile.Profile()
    prof.enable()
    fn()
    prof.disable()
    out = io.StringIO()
    pstats.Stats(prof, stream=out).sort_stats("tottime").print_stats(n)
    return out.getvalue()


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--profile", action="store_true")
    args = p.parse_args()
    print("fsm, 1 machine:", fsm_throughput(1.0, 1))
    print("fsm, 1000 machines:", fsm_throughput(1.0, 1000))
    print("engine, 1000 links:", engine_throughput(1000, 1.0))
    if args.profile:
        print(profile_top(lambda: room_cycles([LinkMachine(link=_link(0))], 20000)))
        print(profile_top(lambda: engine_throughput(1000, 1.0)))

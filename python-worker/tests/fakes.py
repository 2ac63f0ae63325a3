"""Test doubles shared by the unit tests: one clock/scheduler, one AMI client, one engine.

Each stands in at a real boundary and keeps the real shapes: ManualClock is the engine's
Scheduler protocol, FakeAmi the AmiClient surface the engine uses, FakeEngine the control
handler's engine with status built by real LinkMachines.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import socket
import time
from collections.abc import Callable
from typing import Any

from conflink.config import AmiConfig, Config
from conflink.engine import Engine
from conflink.rules import link_id_of


class _Handle:
    __slots__ = ("cancelled",)

    def __init__(self) -> None:
        self.cancelled = False

    def cancel(self) -> None:
        self.cancelled = True


class ManualClock:
    """A clock and a scheduler in one: time moves only when a test calls `advance`."""

    def __init__(self, start: float = 1_000_000.0) -> None:
        self.now = start
        self._queue: list[tuple[float, int, _Handle, Callable[..., object], tuple[object, ...]]] = []
        self._seq = itertools.count()

    def __call__(self) -> float:
        return self.now

    def call_later(self, delay: float, callback: Callable[..., object], *args: object) -> _Handle:
        handle = _Handle()
        heapq.heappush(self._queue, (self.now + max(0.0, delay), next(self._seq), handle, callback, args))
        return handle

    def pending(self) -> list[float]:
        """Due times of the callbacks still waiting, soonest first."""
        return sorted(when for when, _, handle, _, _ in self._queue if not handle.cancelled)

    def advance(self, seconds: float) -> None:
        """Run every callback due within `seconds`, each at its own due time, in order."""
        end = self.now + seconds
        while self._queue and self._queue[0][0] <= end:
            when, _, handle, callback, args = heapq.heappop(self._queue)
            if handle.cancelled:
                continue
            self.now = max(self.now, when)
            callback(*args)
        self.now = end


class FakeAmi:
    """Stands in for AmiClient at the engine's boundary; records every action sent."""

    def __init__(self, config: AmiConfig, on_event: Any, on_ready: Any) -> None:
        self.config = config
        self.on_event = on_event
        self.on_ready = on_ready
        self.ready = self.connected = self.logged_in = False
        self.last_error = ""
        self.requests_sent = 0
        self.connects = 0
        self.sent: list[dict[str, Any]] = []
        self.originates: dict[str, asyncio.Future[Any]] = {}
        self.snapshot_rooms: dict[str, list[dict[str, str]]] = {}
        self.snapshot_channels: list[dict[str, str]] = []
        self.fail_lists: set[str] = set()  # list actions answered with None (refused)
        self.variables: dict[str, str] = {}  # Getvar answers (absent: Success without a Value)

    async def start(self) -> None:
        self.ready = self.connected = self.logged_in = True
        self.on_ready(True)

    def stop(self) -> None:
        self.ready = False

    def send(self, action: dict[str, Any]) -> asyncio.Future[Any]:
        self.sent.append(action)
        self.requests_sent += 1
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        if action["Action"] == "Originate":
            self.originates[action["ChannelId"]] = future
        elif action["Action"] == "Getvar" and action["Variable"] in self.variables:
            future.set_result({"Response": "Success", "Value": self.variables[action["Variable"]]})
        else:
            future.set_result({"Response": "Success"})
        return future

    async def list_events(self, action: dict[str, str], item_event: str) -> list[dict[str, str]] | None:
        self.sent.append(action)
        self.requests_sent += 1
        if action["Action"] in self.fail_lists:
            return None
        if action["Action"] == "ConfbridgeList":
            return list(self.snapshot_rooms.get(action["Conference"], []))
        if action["Action"] == "CoreShowChannels":
            return list(self.snapshot_channels)
        if action["Action"] == "ConfbridgeListRooms":
            return [{"Event": "ConfbridgeListRooms", "Conference": room, "Parties": str(len(items))}
                    for room, items in self.snapshot_rooms.items() if items]
        return []

    def actions(self, name: str) -> list[dict[str, Any]]:
        return [a for a in self.sent if a["Action"] == name]

    # A room as Asterisk would show it: the event goes out and later lists agree with it.
    def member_joined(self, room: str, uid: str, channel: str) -> None:
        self.snapshot_rooms.setdefault(room, []).append({"Event": "ConfbridgeList", "Uniqueid": uid,
                                                         "Channel": channel})
        self.on_event("ConfbridgeJoin", {"Event": "ConfbridgeJoin", "Conference": room, "Uniqueid": uid,
                                         "Channel": channel})

    def member_left(self, room: str, uid: str, channel: str) -> None:
        members = self.snapshot_rooms.get(room, [])
        members[:] = [m for m in members if m["Uniqueid"] != uid]
        self.on_event("ConfbridgeLeave", {"Event": "ConfbridgeLeave", "Conference": room, "Uniqueid": uid,
                                          "Channel": channel})

    def channel_hungup(self, uid: str, channel: str, cause: str = "16") -> None:
        for members in self.snapshot_rooms.values():
            members[:] = [m for m in members if m["Uniqueid"] != uid]
        self.snapshot_channels = [c for c in self.snapshot_channels if c["Uniqueid"] != uid]
        self.on_event("Hangup", {"Event": "Hangup", "Uniqueid": uid, "Channel": channel, "Cause": cause})

    def replay(self, events: list[dict[str, str]]) -> None:
        """Feed recorded events; our recorded call id becomes the engine's latest ChannelId."""
        for event in events:
            ours = list(self.originates)[-1] if self.originates else None
            event = dict(event)
            for key in ("Uniqueid", "DestUniqueid", "Linkedid", "DestLinkedid"):
                if link_id_of(event.get(key, "")) and ours:
                    event[key] = ours
            if event["Event"] == "OriginateResponse" and ours and event.get("Uniqueid") == ours:
                future = self.originates[ours]
                if not future.done():
                    future.set_result([{"Response": "Success", "Message": "Originate successfully queued"}, event])
                continue
            self.on_event(event["Event"], event)


class FakeEngine(Engine):
    """The real Engine on a FakeAmi and a ManualClock: status, dial and hangup replies are the
    real ones. Records what the control plane asked (`calls`) with the argument types the
    engine's interface promises. `load()` applies a config without awaiting (AMI already up)."""

    def __init__(self, config: Config | None = None, clock: ManualClock | None = None) -> None:
        self.clock = clock or ManualClock(time.time())
        super().__init__(clock=self.clock, scheduler=self.clock, ami_factory=FakeAmi)
        self.calls: list[tuple[Any, ...]] = []
        if config is not None:
            self.load(config)

    @property
    def fake_ami(self) -> FakeAmi:
        assert isinstance(self.ami, FakeAmi)
        return self.ami

    def load(self, config: Config) -> None:
        self.apply_links(config)
        if self.ami is None:
            ami = FakeAmi(config.ami, self.on_ami_event, self.on_ami_ready)
            ami.ready = ami.connected = ami.logged_in = True
            self.ami = ami
        now = self._clock()
        for machine in self.machines.values():
            self._run(machine.set_ami(True, now))

    async def apply_config(self, config: Config) -> dict[str, Any]:
        assert isinstance(config, Config)
        self.calls.append(("apply_config", config))
        return await super().apply_config(config)

    async def dial(self, link_id: str, *, force: bool = False, seconds: float | None = None) -> dict[str, Any]:
        assert isinstance(link_id, str) and isinstance(force, bool)
        assert seconds is None or isinstance(seconds, float)
        self.calls.append(("dial", link_id, force, seconds))
        return await super().dial(link_id, force=force, seconds=seconds)

    async def hangup(self, link_id: str) -> dict[str, Any]:
        assert isinstance(link_id, str)
        self.calls.append(("hangup", link_id))
        return await super().hangup(link_id)

    async def send_dtmf(self, link_id: str, digits: str) -> dict[str, Any]:
        assert isinstance(link_id, str) and isinstance(digits, str) and digits
        self.calls.append(("dtmf", link_id, digits))
        return await super().send_dtmf(link_id, digits)

    async def mute(self, link_id: str, muted: bool) -> dict[str, Any]:
        assert isinstance(link_id, str) and isinstance(muted, bool)
        self.calls.append(("mute" if muted else "unmute", link_id))
        return await super().mute(link_id, muted)

    # Scenes: put a link in a state the way Asterisk would, through AMI events.
    def room_of(self, link_id: str) -> str:
        return self.machines[link_id].link.room

    def internals_join(self, link_id: str, n: int = 1) -> None:
        room = self.room_of(link_id)
        for i in range(n):
            self.fake_ami.member_joined(room, f"int-{room}-{i}", f"Local/{room}@rooms-{i};2")

    def last_call_id(self, link_id: str) -> str:
        ids = [a["ChannelId"] for a in self.fake_ami.actions("Originate") if link_id_of(a["ChannelId"]) == link_id]
        assert ids, f"link {link_id} never dialled"
        return ids[-1]

    def external_joins(self, link_id: str, channel: str) -> None:
        self.fake_ami.member_joined(self.room_of(link_id), self.last_call_id(link_id), channel)

    def external_fails(self, link_id: str, cause: str, tech_cause: str = "") -> None:
        call_id = self.last_call_id(link_id)
        self.fake_ami.on_event("Hangup", {"Event": "Hangup", "Uniqueid": call_id, "Channel": "PJSIP/x",
                                          "Cause": cause, "TechCause": tech_cause})


def free_port() -> int:
    """A TCP port on 127.0.0.1 nobody listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def wait_until(condition: Callable[[], bool], what: str, turns: int = 1000) -> None:
    """Let other tasks run until `condition` holds (loop turns, never wall time)."""
    for _ in range(turns):
        if condition():
            return
        await asyncio.sleep(0)
    raise AssertionError(f"never happened: {what}")

"""Test doubles shared by the unit tests: one clock/scheduler, one AMI client, one engine.

Each stands in at a real boundary and keeps the real shapes: ManualClock is the engine's
Scheduler protocol, FakeAmi the AmiClient surface the engine uses, FakeEngine the control
handler's engine with status built by real LinkMachines.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
from collections.abc import Callable
from typing import Any

from conflink.config import AmiConfig
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


async def wait_until(condition: Callable[[], bool], what: str, turns: int = 1000) -> None:
    """Let other tasks run until `condition` holds (loop turns, never wall time)."""
    for _ in range(turns):
        if condition():
            return
        await asyncio.sleep(0)
    raise AssertionError(f"never happened: {what}")

"""Checker for "an external call is never alone in a room": works on the ConfbridgeJoin and
ConfbridgeLeave events the lab recorded (each with its arrival time ``_t``).

A member whose Uniqueid starts with ``conflink-`` is an external call; every other member is an
internal participant. A room is "lone" from the moment it holds at least one external call and
no internal participant until either an internal joins or the last external leaves.

``resets`` are times at which every channel is known to be gone although the recorder saw no
leave events (an Asterisk restart: its AMI session, and with it the events, went away too).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

EXTERNAL_PREFIX = "conflink-"


@dataclass
class LoneInterval:
    room: str
    start: float
    end: float
    externals: tuple[str, ...]
    open_at_end: bool = False  # still lone when the record ended

    @property
    def seconds(self) -> float:
        return self.end - self.start


def lone_intervals(
    events: Iterable[dict[str, Any]], end_t: float, resets: Iterable[float] = ()
) -> list[LoneInterval]:
    evs = sorted(
        (e for e in events if e.get("Event") in ("ConfbridgeJoin", "ConfbridgeLeave")),
        key=lambda e: float(e["_t"]),
    )
    marks: list[tuple[float, int, dict[str, Any] | None]] = [(float(e["_t"]), 1, e) for e in evs]
    marks += [(float(t), 0, None) for t in resets]
    marks.sort(key=lambda m: (m[0], m[1]))
    internals: dict[str, set[str]] = {}
    externals: dict[str, set[str]] = {}
    since: dict[str, float] = {}
    out: list[LoneInterval] = []

    def settle(room: str, t: float) -> None:
        lone = bool(externals.get(room)) and not internals.get(room)
        if lone and room not in since:
            since[room] = t
        elif not lone and room in since:
            out.append(LoneInterval(room, since.pop(room), t, tuple(sorted(last_ext.get(room, ())))))

    last_ext: dict[str, set[str]] = {}
    for t, _kind, e in marks:
        if e is None:  # reset: everything gone at t
            for room in list(since):
                out.append(LoneInterval(room, since.pop(room), t, tuple(sorted(last_ext.get(room, ())))))
            internals.clear()
            externals.clear()
            continue
        room = str(e.get("Conference", ""))
        uid = str(e.get("Uniqueid", ""))
        target = externals if uid.startswith(EXTERNAL_PREFIX) else internals
        members = target.setdefault(room, set())
        if e["Event"] == "ConfbridgeJoin":
            members.add(uid)
        else:
            members.discard(uid)
        if externals.get(room):
            last_ext[room] = set(externals[room])
        settle(room, t)
    for room, start in since.items():
        out.append(LoneInterval(room, start, end_t, tuple(sorted(last_ext.get(room, ()))), open_at_end=True))
    return out


def longest_lone(intervals: list[LoneInterval]) -> float:
    return max((i.seconds for i in intervals), default=0.0)


def check_no_lone(
    events: Iterable[dict[str, Any]], end_t: float, limit_by_room: dict[str, float], default_limit: float,
    resets: Iterable[float] = (),
) -> tuple[list[LoneInterval], list[LoneInterval]]:
    """(all lone intervals, those longer than the room's limit)."""
    intervals = lone_intervals(events, end_t, resets)
    bad = [i for i in intervals if i.seconds > limit_by_room.get(i.room, default_limit)]
    return intervals, bad

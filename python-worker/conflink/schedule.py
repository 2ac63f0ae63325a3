"""Schedules: the weekly time windows in which a link may dial by itself (pure time logic).

A window is written `"<days> <HH:MM>-<HH:MM>"`, e.g. `"mon-fri 08:30-18:00"`, `"sat,sun
10:00-14:00"`, `"fri 22:00-02:00"` (an end at or before the start runs past midnight into the
next day, and belongs to the day it starts on); `24:00` is the end of the day. Days are
`mon tue wed thu fri sat sun`, as single days, ranges (`mon-fri`, `fri-mon` wraps) or lists.
Times are the PBX's local time (LocalTime). No windows = always open (today's behaviour).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from .localtime import LocalTime

DAY_NAMES = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_DAY = "(?:mon|tue|wed|thu|fri|sat|sun)"
_TIME = "(?:[01][0-9]|2[0-3]):[0-5][0-9]"
# The one pattern of a window (config.PATTERNS["schedule_window"] is this text).
WINDOW_PATTERN = rf"^{_DAY}(?:-{_DAY})?(?:,{_DAY}(?:-{_DAY})?)* {_TIME}-(?:{_TIME}|24:00)$"
_WINDOW_RE = re.compile(WINDOW_PATTERN)
MAX_WINDOWS = 14
# The boundary timer never waits longer than this: a DST change or a clock step is caught
# within the hour.
MAX_WAIT_SECONDS = 3600.0
# A timer due exactly at a boundary may read a hair before it (float arithmetic): a moment
# this close to a boundary counts as past it, in both functions below.
_EPSILON_MINUTES = 1e-4


@dataclass(frozen=True, slots=True)
class Window:
    days: frozenset[int]  # 0 = Monday
    start: int  # minutes since midnight
    end: int  # minutes since midnight, 1..1440; <= start: ends the next day

    def contains(self, weekday: int, minute: float) -> bool:
        if self.start < self.end:
            return weekday in self.days and self.start <= minute < self.end
        # Past midnight: the evening part on its own days, the morning part on the day after.
        return (weekday in self.days and minute >= self.start) or (
            (weekday - 1) % 7 in self.days and minute < self.end
        )


def parse_window(text: str) -> Window | str:
    """A window, or why `text` is not one."""
    if not _WINDOW_RE.fullmatch(text):
        return "is not <days> <HH:MM>-<HH:MM>, e.g. \"mon-fri 08:00-18:00\" (days: mon tue wed thu fri sat sun)"
    days_text, times = text.split(" ")
    days: set[int] = set()
    for part in days_text.split(","):
        first, _, last = part.partition("-")
        a = DAY_NAMES.index(first)
        b = DAY_NAMES.index(last) if last else a
        days.update((a + i) % 7 for i in range((b - a) % 7 + 1))
    start_text, end_text = times.split("-")
    start = int(start_text[:2]) * 60 + int(start_text[3:])
    end = int(end_text[:2]) * 60 + int(end_text[3:])
    if start == end:
        return "starts and ends at the same time"
    return Window(frozenset(days), start, end)


def is_open(windows: tuple[Window, ...], local: LocalTime, now: float) -> bool:
    if not windows:
        return True
    weekday, minute = local.weekday_minute(now + _EPSILON_MINUTES * 60)
    return any(w.contains(weekday, minute) for w in windows)


def next_change(windows: tuple[Window, ...], local: LocalTime, now: float) -> float:
    """Seconds from `now` to the next window start or end (at most MAX_WAIT_SECONDS)."""
    _, minute = local.weekday_minute(now)
    marks = {w.start for w in windows} | {w.end % 1440 for w in windows}
    best = MAX_WAIT_SECONDS
    for mark in marks:
        ahead = (mark - minute) % 1440
        if ahead <= _EPSILON_MINUTES:
            ahead = 1440.0
        best = min(best, ahead * 60.0)
    return max(1.0, best)

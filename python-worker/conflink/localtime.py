"""Calendar questions in the PBX's time zone, for the pure rules (cost limits, schedules).

The state machine never reads a clock or a time zone itself: it asks a LocalTime. The worker
uses SystemLocalTime (the process's local time, which MikoPBX sets from its time zone
setting); tests use FixedOffset, so day boundaries are exact and need no TZ environment.
"""

from __future__ import annotations

import datetime as _dt
import time
from typing import Protocol


class LocalTime(Protocol):
    def day(self, now: float) -> int:
        """The local calendar day of `now` (a date ordinal: consecutive days differ by 1)."""
        ...

    def day_start(self, now: float) -> float:
        """Epoch seconds of the local midnight that began the day of `now`."""
        ...

    def next_day_start(self, now: float) -> float:
        """Epoch seconds of the next local midnight after `now`."""
        ...

    def weekday_minute(self, now: float) -> tuple[int, float]:
        """(weekday 0=Monday..6, minutes since local midnight) of `now`."""
        ...


class SystemLocalTime:
    """The process's local time zone (TZ / /etc/localtime), daylight saving included."""

    def day(self, now: float) -> int:
        t = time.localtime(now)
        return _dt.date(t.tm_year, t.tm_mon, t.tm_mday).toordinal()

    def day_start(self, now: float) -> float:
        t = time.localtime(now)
        return time.mktime((t.tm_year, t.tm_mon, t.tm_mday, 0, 0, 0, 0, 0, -1))

    def next_day_start(self, now: float) -> float:
        t = time.localtime(now)
        # mktime normalises day 32 etc. and picks the offset in force at that midnight.
        start = time.mktime((t.tm_year, t.tm_mon, t.tm_mday + 1, 0, 0, 0, 0, 0, -1))
        return start if start > now else now + 1.0

    def weekday_minute(self, now: float) -> tuple[int, float]:
        t = time.localtime(now)
        return t.tm_wday, t.tm_hour * 60 + t.tm_min + (now % 60) / 60


class FixedOffset:
    """A zone at a fixed offset from UTC (seconds east), for tests."""

    def __init__(self, offset_seconds: float = 0.0) -> None:
        self.offset = offset_seconds

    def _local(self, now: float) -> float:
        return now + self.offset

    def day(self, now: float) -> int:
        return int(self._local(now) // 86400) + _dt.date(1970, 1, 1).toordinal()

    def day_start(self, now: float) -> float:
        return (self._local(now) // 86400) * 86400 - self.offset

    def next_day_start(self, now: float) -> float:
        return (self._local(now) // 86400 + 1) * 86400 - self.offset

    def weekday_minute(self, now: float) -> tuple[int, float]:
        local = self._local(now)
        days = int(local // 86400)
        return (days + 3) % 7, (local - days * 86400) / 60  # 1970-01-01 was a Thursday

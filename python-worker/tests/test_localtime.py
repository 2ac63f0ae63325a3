"""SystemLocalTime (the worker's real calendar) against datetime, in a zone with DST changes."""

from __future__ import annotations

import datetime as dt
import os
import time
from collections.abc import Iterator

import pytest

from conflink.localtime import FixedOffset, SystemLocalTime


@pytest.fixture
def berlin() -> Iterator[None]:
    old = os.environ.get("TZ")
    os.environ["TZ"] = "CET-1CEST,M3.5.0,M10.5.0/3"  # POSIX rule: no zoneinfo files needed
    time.tzset()
    try:
        yield
    finally:
        if old is None:
            os.environ.pop("TZ", None)
        else:
            os.environ["TZ"] = old
        time.tzset()


def test_system_local_time_follows_the_zone_across_dst_changes(berlin: None) -> None:
    local = SystemLocalTime()
    # 2026-03-29 is a 23-hour day there, 2026-10-25 a 25-hour one.
    for y, m, d in [(2026, 3, 28), (2026, 3, 29), (2026, 10, 25), (2026, 12, 31)]:
        start = time.mktime((y, m, d, 0, 0, 0, 0, 0, -1))
        noon = start + 11 * 3600
        assert local.day_start(noon) == start
        assert local.day(noon) == dt.date(y, m, d).toordinal()
        following = time.mktime((y, m, d + 1, 0, 0, 0, 0, 0, -1))
        assert local.next_day_start(noon) == following
        assert local.day(following) == local.day(noon) + 1
        weekday, minute = local.weekday_minute(start + 3600 * 10 + 90)
        assert weekday == dt.date(y, m, d).weekday()
        # Ten hours after midnight: 11:01:30 on the short day, 09:01:30 on the long one.
        hour = {(2026, 3, 29): 11, (2026, 10, 25): 9}.get((y, m, d), 10)
        assert minute == pytest.approx(hour * 60 + 1.5)
    assert local.next_day_start(time.mktime((2026, 3, 29, 0, 0, 0, 0, 0, -1))) - time.mktime(
        (2026, 3, 29, 0, 0, 0, 0, 0, -1)) == 23 * 3600


def test_fixed_offset_days_and_weekdays() -> None:
    zone = FixedOffset(-5 * 3600)
    t = dt.datetime(2026, 12, 4, 2, 30, tzinfo=dt.UTC).timestamp()  # Thursday 21:30 at UTC-5
    assert zone.day(t) == dt.date(2026, 12, 3).toordinal()
    assert zone.weekday_minute(t) == (3, pytest.approx(21 * 60 + 30))
    assert zone.next_day_start(t) - t == pytest.approx(2.5 * 3600)
    assert zone.day_start(t) == pytest.approx(t - 21.5 * 3600)

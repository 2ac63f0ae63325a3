"""Schedules: the window rules (pure time logic) and the machine at a window's start and end."""

from __future__ import annotations

import pytest
from test_fsm import Sim

from conflink.config import ConfigError, parse_config
from conflink.fsm import SCHEDULE, WINDOW_END, StopKind
from conflink.localtime import FixedOffset
from conflink.schedule import Window, is_open, next_change, parse_window

ZONE = FixedOffset(3 * 3600)  # the PBX's zone: UTC+3
MONDAY = 4 * 86400.0  # 1970-01-05 00:00 UTC was a Monday


def local(day: int, hh: int, mm: int = 0, ss: float = 0.0) -> float:
    """Epoch of day `day` (0 = Monday 5 Jan 1970) at hh:mm:ss local time."""
    return MONDAY + day * 86400 + hh * 3600 + mm * 60 + ss - ZONE.offset


def windows(*texts: str) -> tuple[Window, ...]:
    out = []
    for text in texts:
        w = parse_window(text)
        assert isinstance(w, Window), w
        out.append(w)
    return tuple(out)


def test_window_parsing() -> None:
    assert parse_window("mon-fri 08:30-18:00") == Window(frozenset({0, 1, 2, 3, 4}), 510, 1080)
    assert parse_window("fri-mon 22:00-02:00") == Window(frozenset({4, 5, 6, 0}), 1320, 120)
    assert parse_window("sat,sun 00:00-24:00") == Window(frozenset({5, 6}), 0, 1440)
    assert parse_window("tue,thu-fri 09:00-10:00") == Window(frozenset({1, 3, 4}), 540, 600)
    for bad in ["", "mon", "mon 8:00-18:00", "Mon 08:00-18:00", "mon 08:00-24:01", "mon 24:00-01:00",
                "mon-fri  08:00-18:00", "daily 08:00-18:00", "mon 08:00-18:00 ", "mon 08:00-08:00", "mon,08:00-09:00"]:
        assert isinstance(parse_window(bad), str), bad


def test_is_open_in_the_pbx_zone_across_midnight_and_days() -> None:
    office = windows("mon-fri 08:00-18:00")
    assert not is_open(office, ZONE, local(0, 7, 59, 59))
    assert is_open(office, ZONE, local(0, 8))
    assert is_open(office, ZONE, local(4, 17, 59, 59))
    assert not is_open(office, ZONE, local(4, 18))
    assert not is_open(office, ZONE, local(5, 12))  # Saturday
    # The zone matters: 08:00 local is 05:00 UTC.
    assert not is_open(office, FixedOffset(0), local(0, 8))
    night = windows("fri 22:00-02:00")
    assert is_open(night, ZONE, local(4, 23))
    assert is_open(night, ZONE, local(5, 1, 59))  # Saturday morning belongs to Friday's window
    assert not is_open(night, ZONE, local(5, 2))
    assert not is_open(night, ZONE, local(3, 23))  # Thursday night
    assert not is_open(night, ZONE, local(0, 1))  # Monday morning: Sunday is not in the window
    assert is_open((), ZONE, local(2, 3))  # no schedule: always open


def test_next_change_finds_the_next_boundary() -> None:
    office = windows("mon-fri 08:00-18:00")
    assert next_change(office, ZONE, local(0, 7, 30)) == pytest.approx(1800)
    assert next_change(office, ZONE, local(0, 8)) == pytest.approx(3600)  # capped: re-checked hourly
    assert next_change(office, ZONE, local(0, 17, 59)) == pytest.approx(60)


def test_schedule_config_keys() -> None:
    def link(**kw: object) -> object:
        doc = {"version": 1, "links": [{"id": "1", "room": "1", "endpoint": "E", "number": "1", **kw}]}
        return parse_config(doc).links[0]

    assert link().schedule == () and link().schedule_end == "linger"  # defaults: always, as before
    assert link(schedule=["mon-fri 08:00-18:00"], schedule_end="keep").schedule_end == "keep"
    for kw, error in [({"schedule": "mon-fri 08:00-18:00"}, "links[0].schedule: "),
                      ({"schedule": ["mon-fri 8-18"]}, "links[0].schedule[0]: 'mon-fri 8-18' is not"),
                      ({"schedule": [1]}, "links[0].schedule[0]: 1 must be a quoted string"),
                      ({"schedule": ["mon 09:00-09:00"]}, "starts and ends at the same time"),
                      ({"schedule": ["mon 09:00-10:00"] * 15}, "at most 14 windows"),
                      ({"schedule_end": "hangup"}, "links[0].schedule_end: 'hangup' is not one of linger, keep")]:
        with pytest.raises(ConfigError) as info:
            link(**kw)
        assert error in str(info.value), str(info.value)


def scheduled(now: float, **link: object) -> Sim:
    sim = Sim(**link)
    sim.m.local = ZONE
    sim.now = now
    return sim


def office(**link: object) -> dict[str, object]:
    return {"schedule": windows("mon-fri 08:00-18:00"), **link}


def test_outside_the_window_nothing_is_dialled_and_the_window_opening_dials() -> None:
    sim = scheduled(local(0, 7, 50), **office())
    sim.join("a")
    assert sim.originates == [] and sim.m.stop is not None and sim.m.stop.kind is StopKind.OFF_SCHEDULE
    assert sim.m.state == "off_schedule" and sim.m.status(sim.now)["in_schedule"] is False
    sim.advance(599)
    assert sim.originates == []
    sim.advance(2)  # 08:00 local
    assert len(sim.originates) == 1 and sim.m.stop is None
    assert sim.m.status(sim.now)["in_schedule"] is True


def test_window_end_hangs_up_after_the_linger_and_no_redial_until_the_next_window() -> None:
    sim = scheduled(local(0, 17, 50), **office(linger=30.0))
    sim.join("a")
    sim.connect()
    sim.advance(600)  # 18:00
    assert WINDOW_END in sim.timers and not sim.hangups
    sim.advance(29.9)
    assert not sim.hangups
    sim.advance(0.2)
    assert len(sim.hangups) == 1
    sim.gone()
    assert sim.m.stop is not None and sim.m.stop.kind is StopKind.OFF_SCHEDULE
    sim.advance(13 * 3600)  # 07:00 next day: still outside
    assert len(sim.originates) == 1
    sim.advance(3600 + 1)  # 08:00 Tuesday
    assert len(sim.originates) == 2


def test_window_end_without_linger_hangs_up_at_once_and_keep_keeps_the_call() -> None:
    sim = scheduled(local(0, 17, 59), **office())
    sim.join("a")
    sim.connect()
    sim.advance(60.5)
    assert len(sim.hangups) == 1
    keep = scheduled(local(0, 17, 59), **office(schedule_end="keep"))
    keep.join("a")
    keep.connect()
    keep.advance(3600)
    assert keep.hangups == [] and keep.m.state == "connected"
    keep.leave("a")  # the room empties: hung up as always
    assert len(keep.hangups) == 1
    keep.gone()
    keep.join("b")  # 19:00: outside, nothing dialled
    assert len(keep.originates) == 1


def test_window_reopening_during_the_linger_keeps_the_call() -> None:
    two = windows("mon 08:00-12:00", "mon 12:00-18:00")  # back to back: never closes at 12:00
    sim = scheduled(local(0, 11, 59), schedule=two, linger=60.0)
    sim.join("a")
    sim.connect()
    sim.advance(120)
    assert WINDOW_END not in sim.timers and not sim.hangups


def test_manual_call_outside_the_window_is_allowed_and_no_schedule_keeps_no_timer() -> None:
    sim = scheduled(local(5, 12), **office())  # Saturday
    sim.join("a")
    ok, _, actions = sim.m.manual_dial(sim.now)
    sim.apply(actions)
    assert ok and len(sim.originates) == 1
    plain = scheduled(local(5, 12))
    plain.join("a")
    assert SCHEDULE not in plain.timers and len(plain.originates) == 1

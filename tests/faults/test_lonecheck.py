"""The lone-call checker itself, on hand-made event streams (it must be able to fail)."""

from __future__ import annotations

from lonecheck import check_no_lone, lone_intervals


def ev(t: float, kind: str, room: str, uid: str) -> dict:
    return {"Event": f"Confbridge{kind}", "Conference": room, "Uniqueid": uid, "_t": t}


def test_detects_a_lone_external_call() -> None:
    events = [ev(0, "Join", "1", "labjoin-1;2"), ev(1, "Join", "1", "conflink-a-1"),
              ev(5, "Leave", "1", "labjoin-1;2"), ev(9, "Leave", "1", "conflink-a-1")]
    intervals, bad = check_no_lone(events, 20, {"1": 2.0}, 2.0)
    assert [(i.start, i.end) for i in intervals] == [(5, 9)]
    assert len(bad) == 1 and bad[0].seconds == 4


def test_external_first_then_internal_and_open_end() -> None:
    events = [ev(0, "Join", "1", "conflink-a-1"), ev(1.5, "Join", "1", "labjoin-1;2"),
              ev(3, "Leave", "1", "labjoin-1;2")]
    intervals = lone_intervals(events, end_t=10)
    assert [(i.start, i.end, i.open_at_end) for i in intervals] == [(0, 1.5, False), (3, 10, True)]


def test_reset_closes_intervals_and_rooms_are_separate() -> None:
    events = [ev(0, "Join", "1", "labjoin-1;2"), ev(0, "Join", "2", "conflink-b-1"),
              ev(1, "Join", "1", "conflink-a-1"), ev(2, "Leave", "1", "labjoin-1;2")]
    intervals = lone_intervals(events, end_t=30, resets=[2.5])
    assert sorted((i.room, i.start, i.end) for i in intervals) == [("1", 2, 2.5), ("2", 0, 2.5)]

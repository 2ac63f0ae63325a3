"""Cost limits on the pure state machine: maximum call length, daily minutes, the local day."""

from __future__ import annotations

from test_fsm import Sim

from conflink.fsm import COST_LIMIT, DAY_END, StopKind, UsageChanged
from conflink.localtime import FixedOffset

DAY = 86400.0
ZONE = FixedOffset(3 * 3600)  # the PBX's zone: UTC+3


def limited(**link: object) -> Sim:
    sim = Sim(**link)
    sim.m.local = ZONE
    sim.now = 10 * DAY + 9 * 3600 - ZONE.offset  # day 10, 09:00 local
    return sim


def kind(sim: Sim) -> StopKind | None:
    return sim.m.stop.kind if sim.m.stop is not None else None


def usage_events(actions: list) -> list[UsageChanged]:
    return [a for a in actions if isinstance(a, UsageChanged)]


def test_no_limits_keep_todays_behaviour_no_timers() -> None:
    sim = limited()
    sim.join("a")
    sim.connect()
    sim.advance(3 * 3600)
    assert COST_LIMIT not in sim.timers and DAY_END not in sim.timers
    assert not sim.hangups and sim.m.state == "connected"
    assert sim.m.status(sim.now)["used_today"] == 3 * 3600


def test_max_call_length_hangs_up_and_stops_until_the_next_local_day() -> None:
    sim = limited(max_call_minutes=1)
    sim.join("a")
    sim.connect()
    sim.advance(59.9)
    assert not sim.hangups
    sim.advance(0.2)
    assert len(sim.hangups) == 1
    sim.gone()
    assert kind(sim) is StopKind.CALL_LIMIT
    status = sim.m.status(sim.now)
    assert status["stop"] == "call_limit" and "maximum length of 1 min" in status["stopped_reason"]
    assert status["used_today"] == 60 and sim.m.state == "failed"
    sim.advance(3600)
    assert len(sim.originates) == 1, "no automatic redial the same day"
    # The room empties and fills again: still the same day, still stopped.
    sim.leave("a")
    sim.join("b")
    assert len(sim.originates) == 1 and kind(sim) is StopKind.CALL_LIMIT
    # Local midnight (21:00 UTC): the limit is lifted and the busy room is dialled again.
    midnight = ZONE.next_day_start(sim.now)
    sim.advance(midnight - sim.now - 1)
    assert len(sim.originates) == 1
    sim.advance(2)
    assert len(sim.originates) == 2 and sim.m.stop is None
    assert sim.m.status(sim.now)["used_today"] == 0


def test_daily_budget_adds_up_calls_and_cuts_the_one_that_spends_it() -> None:
    sim = limited(daily_minutes=2)
    sim.join("a")
    sim.connect()
    sim.advance(90)
    sim.gone()  # the far end drops after 90 s: redial after the back-off
    sim.advance(5)
    assert len(sim.originates) == 2
    sim.connect()
    sim.advance(29.9)
    assert len(sim.hangups) == 0
    sim.advance(0.2)
    assert len(sim.hangups) == 1
    sim.gone()
    assert kind(sim) is StopKind.DAILY_BUDGET
    assert sim.m.status(sim.now)["used_today"] == 120
    sim.advance(600)
    assert len(sim.originates) == 2


def test_manual_call_is_possible_over_the_budget_is_counted_and_does_not_lift_the_day_stop() -> None:
    sim = limited(daily_minutes=1)
    sim.join("a")
    sim.connect()
    sim.advance(61)
    sim.gone()
    assert kind(sim) is StopKind.DAILY_BUDGET
    ok, _, actions = sim.m.manual_dial(sim.now)
    sim.apply(actions)
    assert ok and len(sim.originates) == 2
    sim.connect()
    sim.advance(300)  # over budget from the start: the budget does not cut it
    assert len(sim.hangups) == 1
    assert sim.m.status(sim.now)["used_today"] == 361  # 61 s (until the hang-up went through) + 300 s
    sim.gone()  # it ends: the day's stop is back, no automatic redial
    assert kind(sim) is StopKind.DAILY_BUDGET
    sim.advance(600)
    assert len(sim.originates) == 2


def test_max_call_length_also_bounds_a_manual_call() -> None:
    sim = limited(max_call_minutes=2)
    sim.join("a")
    sim.connect()
    sim.advance(121)
    sim.gone()
    sim.apply(sim.m.manual_dial(sim.now)[2])
    sim.connect()
    sim.advance(121)
    assert len(sim.hangups) == 2


def test_usage_is_reported_for_persistence_and_restored() -> None:
    sim = limited(daily_minutes=5)
    sim.join("a")
    sim.connect()
    sim.advance(100)
    actions = sim.m.external_gone(sim.call_id, None, sim.now)
    events = usage_events(actions)
    assert events and events[0].used_seconds == 100 and events[0].day == ZONE.day(sim.now)
    # A new worker restores it: 4 min 50 s used, so the next call is cut after 10 s.
    fresh = limited(daily_minutes=5)
    fresh.m.restore_usage(ZONE.day(fresh.now), 290, "", "")
    fresh.join("a")
    fresh.connect()
    fresh.advance(10.1)
    assert len(fresh.hangups) == 1
    # Spent, restored: no dial at all.
    spent = limited(daily_minutes=5)
    spent.m.restore_usage(ZONE.day(spent.now), 300, "", "")
    spent.join("a")
    assert spent.originates == [] and kind(spent) is StopKind.DAILY_BUDGET
    # Another day's usage does not count.
    old = limited(daily_minutes=5)
    old.m.restore_usage(ZONE.day(old.now) - 1, 300, "daily_budget", "x")
    old.join("a")
    assert len(old.originates) == 1 and old.m.stop is None


def test_a_call_across_midnight_counts_from_midnight_for_the_new_day() -> None:
    sim = limited(daily_minutes=10)
    sim.now = ZONE.next_day_start(sim.now) - 300  # 23:55 local
    sim.join("a")
    sim.connect()
    sim.advance(600)  # to 00:05: 5 min yesterday, 5 min today, never 10 in one day
    assert not sim.hangups
    assert sim.m.status(sim.now)["used_today"] == 300
    sim.advance(300.1)  # 00:10: today's 10 min are used up
    assert len(sim.hangups) == 1


def test_raising_a_limit_lifts_its_stop_a_budget_still_spent_stops_again() -> None:
    sim = limited(daily_minutes=1)
    sim.join("a")
    sim.connect()
    sim.advance(61)
    sim.gone()
    assert kind(sim) is StopKind.DAILY_BUDGET
    link = sim.m.link
    sim.apply(sim.m.update_config(type(link)(**{**_fields(link), "daily_minutes": 1}), sim.now))
    assert kind(sim) is StopKind.DAILY_BUDGET  # unchanged: still stopped
    sim.apply(sim.m.update_config(type(link)(**{**_fields(link), "daily_minutes": 5}), sim.now))
    assert len(sim.originates) == 2 and sim.m.stop is None
    sim.gone()
    sim.advance(10)
    sim.apply(sim.m.update_config(type(link)(**{**_fields(link), "daily_minutes": 0}), sim.now))
    assert DAY_END not in sim.timers and sim.m.stop is None and sim.m.limited is None


def _fields(link: object) -> dict[str, object]:
    return {name: getattr(link, name) for name in link.__dataclass_fields__}  # type: ignore[attr-defined]

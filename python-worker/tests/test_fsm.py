"""The behaviour list of the design, one case each, on the pure state machine."""

from __future__ import annotations

import pytest

from conflink.causes import Failure, classify
from conflink.config import LinkConfig, RetryConfig
from conflink.fsm import (
    ARM,
    FAILURE_GRACE,
    HANGUP_DEADLINE,
    JOIN_DEADLINE,
    LINGER,
    RETRY,
    CancelTimer,
    Hangup,
    LinkMachine,
    Originate,
    SnapshotCall,
    StartTimer,
    StopKind,
    VerifyRoom,
    stop_cleared_by,
)

BUSY = Failure("busy", "busy (486)")
NOT_FOUND = Failure("rejected", "number not found (404)", permanent=True)


def make_link(**overrides: object) -> LinkConfig:
    base: dict[str, object] = {"id": "1", "room": "100", "endpoint": "SIP-TEST", "number": "555"}
    base.update(overrides)
    return LinkConfig(**base)  # type: ignore[arg-type]


def stop_kind(sim: Sim) -> StopKind | None:
    return sim.m.stop.kind if sim.m.stop is not None else None


class Sim:
    """Drives a machine like the engine does: keeps timers, fires them as time advances."""

    def __init__(self, **link: object) -> None:
        self.m = LinkMachine(link=make_link(**link))
        self.now = 1000.0
        self.timers: dict[str, float] = {}
        self.originates: list[Originate] = []
        self.hangups: list[Hangup] = []

    def apply(self, actions: list) -> list:
        for action in actions:
            if isinstance(action, StartTimer):
                self.timers[action.kind] = self.now + action.delay
            elif isinstance(action, CancelTimer):
                self.timers.pop(action.kind, None)
            elif isinstance(action, Originate):
                self.originates.append(action)
            elif isinstance(action, Hangup):
                self.hangups.append(action)
        return actions

    def advance(self, seconds: float) -> None:
        end = self.now + seconds
        while True:
            due = sorted((t, k) for k, t in self.timers.items() if t <= end)
            if not due:
                break
            when, kind = due[0]
            self.now = when
            del self.timers[kind]
            self.apply(self.m.timer_fired(kind, self.now))
        self.now = end

    def join(self, uid: str) -> None:
        self.apply(self.m.internal_joined(uid, self.now))

    def leave(self, uid: str) -> None:
        self.apply(self.m.internal_left(uid, self.now))

    @property
    def call_id(self) -> str:
        return self.originates[-1].call_id

    def connect(self) -> None:
        self.apply(self.m.external_answered(self.call_id, self.now))
        self.apply(self.m.external_joined(self.call_id, "PJSIP/SIP-TEST-00000001", self.now))

    def gone(self, failure: Failure | None = None) -> None:
        self.apply(self.m.external_gone(self.call_id, failure, self.now))


def test_first_join_dials_once_even_with_concurrent_joins() -> None:
    sim = Sim()
    for i in range(10):
        sim.join(f"int-{i}")
    assert len(sim.originates) == 1
    assert sim.m.state == "dialing"
    assert sim.originates[0].call_id.startswith("conflink-1-")


def test_repeated_join_event_is_idempotent() -> None:
    sim = Sim()
    sim.join("a")
    sim.join("a")
    sim.leave("a")
    assert len(sim.m.internals) == 0


def test_connected_then_last_leave_hangs_up_at_once_without_linger() -> None:
    sim = Sim()
    sim.join("a")
    sim.connect()
    assert sim.m.state == "connected"
    sim.leave("a")
    assert [h.call_id for h in sim.hangups] == [sim.call_id]
    assert sim.m.state == "hanging_up"
    sim.gone()
    assert sim.m.state == "idle"
    assert sim.m.attempt_log[-1].result == "hung up"


def test_linger_delays_hangup_and_rejoin_cancels_it() -> None:
    sim = Sim(linger=3.0)
    sim.join("a")
    sim.connect()
    sim.leave("a")
    assert sim.m.state == "lingering" and not sim.hangups
    sim.advance(2.0)
    sim.join("b")
    assert LINGER not in sim.timers and sim.m.state == "connected"
    sim.advance(10)
    assert not sim.hangups and len(sim.originates) == 1
    sim.leave("b")
    sim.advance(2.9)
    assert not sim.hangups
    sim.advance(0.2)
    assert len(sim.hangups) == 1


def test_ringing_call_is_hung_up_when_room_empties() -> None:
    sim = Sim()
    sim.join("a")
    sim.leave("a")
    assert len(sim.hangups) == 1 and sim.hangups[0].call_id == sim.call_id
    sim.gone(BUSY)  # whatever it says, we ended it: not a failure, no retry
    assert RETRY not in sim.timers and sim.m.state == "idle"


def test_arm_delay_join_and_leave_inside_it_never_dials() -> None:
    sim = Sim(arm_delay=5.0)
    sim.join("a")
    assert sim.m.state == "arming" and not sim.originates
    sim.advance(4)
    sim.leave("a")
    sim.advance(10)
    assert not sim.originates and ARM not in sim.timers


def test_arm_delay_dials_after_stay() -> None:
    sim = Sim(arm_delay=5.0)
    sim.join("a")
    sim.advance(4.9)
    assert not sim.originates
    sim.advance(0.2)
    assert len(sim.originates) == 1


def test_failures_retry_with_backoff_then_stop_until_room_empties() -> None:
    sim = Sim(retry=RetryConfig(max_attempts=3, backoff=(2.0, 4.0)))
    sim.join("a")
    for _ in range(2):
        sim.gone(BUSY)
        assert sim.m.state == "backoff"
        sim.advance(5)
    assert len(sim.originates) == 3
    sim.gone(BUSY)
    assert sim.m.state == "failed" and stop_kind(sim) is StopKind.GAVE_UP
    assert "gave up after 3" in sim.m.status(sim.now)["stopped_reason"]
    sim.advance(1000)
    assert len(sim.originates) == 3
    sim.leave("a")
    sim.join("b")
    assert len(sim.originates) == 4 and sim.m.attempts == 1


def test_backoff_spacing_exact() -> None:
    sim = Sim(retry=RetryConfig(max_attempts=5, backoff=(2.0, 4.0)))
    sim.join("a")
    sim.gone(BUSY)
    assert sim.timers[RETRY] == pytest.approx(sim.now + 2.0)
    sim.advance(2.0)
    sim.gone(BUSY)
    assert sim.timers[RETRY] == pytest.approx(sim.now + 4.0)
    sim.advance(4.0)
    sim.gone(BUSY)
    assert sim.timers[RETRY] == pytest.approx(sim.now + 4.0)  # the last value repeats


def test_max_attempts_zero_means_no_retry() -> None:
    sim = Sim(retry=RetryConfig(max_attempts=0))
    sim.join("a")
    sim.gone(BUSY)
    assert sim.m.state == "failed" and RETRY not in sim.timers


def test_permanent_cause_stops_at_once() -> None:
    sim = Sim()
    sim.join("a")
    sim.gone(NOT_FOUND)
    assert sim.m.state == "failed" and stop_kind(sim) is StopKind.PERMANENT
    assert "404" in sim.m.last_error
    sim.advance(1000)
    assert len(sim.originates) == 1


def test_redial_on_drop() -> None:
    sim = Sim(retry=RetryConfig(backoff=(1.0,)))
    sim.join("a")
    sim.connect()
    sim.advance(60)
    sim.gone(Failure("failed", "far end hung up"))
    assert sim.m.state == "backoff" and sim.m.attempts == 0  # a stable call resets the count
    sim.advance(1.0)
    assert len(sim.originates) == 2


def test_no_redial_on_drop_when_disabled() -> None:
    sim = Sim(retry=RetryConfig(redial_on_drop=False))
    sim.join("a")
    sim.connect()
    sim.gone()
    sim.advance(1000)
    assert len(sim.originates) == 1 and sim.m.state == "failed"


def test_quick_drops_count_as_attempts() -> None:
    sim = Sim(retry=RetryConfig(max_attempts=2, backoff=(1.0,)))
    sim.join("a")
    sim.connect()
    sim.advance(5)
    sim.gone()
    sim.advance(1)
    sim.connect()
    sim.advance(5)
    sim.gone()
    assert sim.m.state == "failed" and len(sim.originates) == 2


def test_answered_but_never_joined_is_a_failed_attempt() -> None:
    sim = Sim(ring_timeout=10, dtmf_delay=1.0, retry=RetryConfig(backoff=(1.0,)))
    sim.join("a")
    sim.apply(sim.m.external_answered(sim.call_id, sim.now))
    deadline = sim.timers[JOIN_DEADLINE] - sim.now
    sim.advance(deadline + 0.01)
    assert len(sim.hangups) == 1
    sim.gone()
    assert sim.m.attempt_log[-1].result == "failed"
    assert "did not reach the room" in sim.m.last_error
    assert sim.m.state == "backoff"


def test_originate_failure_waits_for_the_hangup_cause() -> None:
    sim = Sim()
    sim.join("a")
    sim.apply(sim.m.originate_failed(sim.call_id, classify(reason="0"), sim.now))
    assert FAILURE_GRACE in sim.timers and sim.m.state == "dialing"
    sim.gone(classify(cause="1", tech_cause="404"))
    assert stop_kind(sim) is StopKind.PERMANENT


def test_originate_failure_alone_counts_after_grace() -> None:
    sim = Sim(retry=RetryConfig(backoff=(3.0,)))
    sim.join("a")
    sim.apply(sim.m.originate_failed(sim.call_id, classify(reason="5"), sim.now))
    sim.advance(1.5)
    assert sim.m.state == "backoff" and sim.m.last_error == "busy"


def test_disabled_link_never_dials_and_disabling_hangs_up() -> None:
    sim = Sim(enabled=False)
    sim.join("a")
    assert not sim.originates and sim.m.state == "disabled"
    sim.apply(sim.m.update_config(make_link(), sim.now))
    assert len(sim.originates) == 1
    sim.connect()
    sim.apply(sim.m.update_config(make_link(enabled=False), sim.now))
    assert len(sim.hangups) == 1


def test_unchanged_config_keeps_call() -> None:
    sim = Sim()
    sim.join("a")
    sim.connect()
    sim.apply(sim.m.update_config(make_link(number="777"), sim.now))
    assert not sim.hangups and sim.m.state == "connected"


def test_remove_hangs_up() -> None:
    sim = Sim()
    sim.join("a")
    sim.connect()
    actions = sim.apply(sim.m.remove(sim.now))
    assert any(isinstance(a, Hangup) for a in actions)


def test_resync_adopts_existing_call_instead_of_dialing() -> None:
    sim = Sim()
    call = SnapshotCall("conflink-1-old", "PJSIP/SIP-TEST-00000009", joined=True)
    sim.apply(sim.m.resync({"a", "b"}, [call], sim.now))
    assert not sim.originates and sim.m.state == "connected"
    assert sim.m.call is not None and sim.m.call.call_id == "conflink-1-old"


def test_resync_adopts_a_ringing_call() -> None:
    sim = Sim()
    call = SnapshotCall("conflink-1-old", "PJSIP/SIP-TEST-00000009", joined=False)
    sim.apply(sim.m.resync({"a"}, [call], sim.now))
    assert not sim.originates and sim.m.state == "dialing"


def test_resync_hangs_up_lone_call() -> None:
    sim = Sim(linger=30.0)
    call = SnapshotCall("conflink-1-old", "PJSIP/SIP-TEST-00000009", joined=True)
    sim.apply(sim.m.resync(set(), [call], sim.now))
    assert [h.call_id for h in sim.hangups] == ["conflink-1-old"]


def test_resync_hangs_up_duplicates_keeping_the_joined_one() -> None:
    sim = Sim()
    calls = [
        SnapshotCall("conflink-1-a", "PJSIP/x-1", joined=False),
        SnapshotCall("conflink-1-b", "PJSIP/x-2", joined=True),
    ]
    sim.apply(sim.m.resync({"a"}, calls, sim.now))
    assert sim.m.call is not None and sim.m.call.call_id == "conflink-1-b"
    assert [h.call_id for h in sim.hangups] == ["conflink-1-a"]


def test_resync_dials_where_a_call_is_missing() -> None:
    sim = Sim()
    sim.join("a")
    sim.connect()
    sim.advance(60)
    sim.apply(sim.m.resync({"a"}, [], sim.now, channels_listed_at=sim.now))  # vanished while we were away
    assert sim.m.state == "backoff"
    sim.advance(100)
    assert len(sim.originates) == 2


def test_resync_keeps_a_just_originated_call() -> None:
    sim = Sim()
    sim.join("a")
    sim.advance(0.1)
    sim.apply(sim.m.resync({"a"}, [], sim.now, channels_listed_at=sim.now))
    assert sim.m.state == "dialing" and len(sim.originates) == 1


def test_resync_judges_a_call_by_when_the_channels_were_listed_not_by_its_age() -> None:
    # The channel list was asked for before this call existed: its absence proves nothing,
    # however late the room list comes back.
    sim = Sim()
    listed_at = sim.now
    sim.advance(0.5)
    sim.join("a")
    sim.advance(10)
    sim.apply(sim.m.resync({"a"}, [], sim.now, channels_listed_at=listed_at))
    assert sim.m.state == "dialing" and len(sim.originates) == 1


def test_resync_without_a_channel_list_declares_nothing_gone() -> None:
    sim = Sim()
    sim.join("a")
    sim.advance(30)
    sim.apply(sim.m.resync({"a"}, [], sim.now, channels_listed_at=None))
    assert sim.m.state == "dialing" and len(sim.originates) == 1


def test_unconfirmed_originate_absent_after_reconnect_is_redialled_at_once() -> None:
    sim = Sim(retry=RetryConfig(backoff=(1.0,)))
    sim.join("a")
    sim.m.originate_unconfirmed(sim.call_id)
    sim.apply(sim.m.set_ami(False, sim.now))
    sim.advance(0.8)
    sim.apply(sim.m.resync({"a"}, [], sim.now, channels_listed_at=sim.now))
    sim.advance(1.0)
    assert len(sim.originates) == 2


def test_joined_call_beats_the_one_still_dialling() -> None:
    sim = Sim()
    sim.join("a")
    dialling = sim.call_id
    sim.apply(sim.m.external_joined("conflink-1-other", "PJSIP/x-7", sim.now))
    assert [h.call_id for h in sim.hangups] == [dialling]
    assert sim.m.call is not None and sim.m.call.call_id == "conflink-1-other" and sim.m.state == "connected"


def test_late_permanent_cause_still_stops_retries() -> None:
    sim = Sim(retry=RetryConfig(backoff=(30.0,)))
    sim.join("a")
    call_id = sim.call_id
    sim.apply(sim.m.originate_failed(call_id, classify(reason="0"), sim.now))
    sim.advance(1.5)  # grace over: booked as a temporary failure
    assert sim.m.state == "backoff"
    sim.apply(sim.m.external_gone(call_id, classify(cause="1", tech_cause="404"), sim.now))
    assert sim.m.state == "failed" and stop_kind(sim) is StopKind.PERMANENT and RETRY not in sim.timers
    assert sim.m.attempt_log[-1].cause == "number not found (404)"


def test_drop_during_linger_cancels_the_linger_timer() -> None:
    sim = Sim(linger=60.0)
    sim.join("a")
    sim.connect()
    sim.leave("a")
    sim.advance(10)
    sim.gone()
    assert LINGER not in sim.timers
    ok, _, actions = sim.m.manual_dial(sim.now, force=True, seconds=120)
    sim.apply(actions)
    sim.advance(60)
    assert ok and sim.hangups == []  # the old linger must not end the test call


def test_second_external_join_is_hung_up() -> None:
    sim = Sim()
    sim.join("a")
    sim.connect()
    sim.apply(sim.m.external_joined("conflink-1-intruder", "PJSIP/x-9", sim.now))
    assert [h.call_id for h in sim.hangups] == ["conflink-1-intruder"]
    assert sim.m.call is not None and sim.m.call.call_id == sim.call_id


def test_no_dial_while_ami_down_then_resync_dials() -> None:
    sim = Sim()
    sim.apply(sim.m.set_ami(False, sim.now))
    sim.join("a")
    assert not sim.originates
    sim.apply(sim.m.resync({"a"}, [], sim.now))
    assert len(sim.originates) == 1


def test_abort_dial_is_not_an_attempt() -> None:
    sim = Sim()
    sim.join("a")
    sim.apply(sim.m.abort_dial(sim.call_id, sim.now, "AMI is not connected"))
    assert sim.m.attempts == 0 and sim.m.call is None and len(sim.m.attempt_log) == 0


def test_manual_dial_refused_on_empty_room_unless_forced() -> None:
    sim = Sim()
    ok, why, _ = sim.m.manual_dial(sim.now)
    assert not ok and "empty" in why
    ok, why, actions = sim.m.manual_dial(sim.now, force=True, seconds=5)
    sim.apply(actions)
    assert ok and len(sim.originates) == 1 and sim.m.state == "test_call"
    sim.connect()
    assert not sim.hangups  # a test call is not "alone in an empty room"
    sim.advance(5.01)
    assert len(sim.hangups) == 1


def test_manual_dial_clears_gave_up() -> None:
    sim = Sim()
    sim.join("a")
    sim.gone(NOT_FOUND)
    ok, _, actions = sim.m.manual_dial(sim.now)
    sim.apply(actions)
    assert ok and len(sim.originates) == 2


def test_manual_hangup_holds_until_room_refills() -> None:
    sim = Sim()
    sim.join("a")
    sim.connect()
    ok, _, actions = sim.m.manual_hangup(sim.now)
    sim.apply(actions)
    sim.gone()
    sim.advance(1000)
    assert ok and len(sim.originates) == 1 and sim.m.state == "held"
    sim.leave("a")
    sim.join("a")
    assert len(sim.originates) == 2


def test_admin_hangup_holds_through_a_retry_settings_change() -> None:
    # issue 11 item 1: a config push that changed the retry settings used to lift the hold
    sim = Sim()
    sim.join("a")
    sim.connect()
    sim.apply(sim.m.manual_hangup(sim.now)[2])
    sim.gone()
    assert stop_kind(sim) is StopKind.HELD
    sim.apply(sim.m.update_config(make_link(retry=RetryConfig(max_attempts=9, backoff=(1.0,))), sim.now))
    sim.apply(sim.m.update_config(make_link(number="777", linger=5.0), sim.now))
    sim.advance(1000)
    assert len(sim.originates) == 1 and sim.m.state == "held"
    assert sim.m.status(sim.now)["stop"] == "held"
    sim.leave("a")
    assert sim.m.stop is None and sim.m.status(sim.now)["stop"] == ""
    sim.join("a")
    assert len(sim.originates) == 2


def test_new_retry_settings_lift_gave_up_but_not_a_permanent_failure() -> None:
    sim = Sim(retry=RetryConfig(max_attempts=1))
    sim.join("a")
    sim.gone(BUSY)
    assert stop_kind(sim) is StopKind.GAVE_UP
    sim.apply(sim.m.update_config(make_link(retry=RetryConfig(max_attempts=3)), sim.now))
    assert sim.m.stop is None and len(sim.originates) == 2
    sim.gone(NOT_FOUND)
    assert stop_kind(sim) is StopKind.PERMANENT
    sim.apply(sim.m.update_config(make_link(retry=RetryConfig(max_attempts=5)), sim.now))
    assert sim.m.stop is not None and len(sim.originates) == 2
    # a different number may work
    sim.apply(sim.m.update_config(make_link(number="777", retry=RetryConfig(max_attempts=5)), sim.now))
    assert sim.m.stop is None and len(sim.originates) == 3


def test_stopping_outlives_the_busy_period_and_any_settings_change() -> None:
    sim = Sim()
    sim.join("a")
    sim.apply(sim.m.shut_down(sim.now))
    sim.gone()
    sim.leave("a")
    sim.apply(sim.m.update_config(make_link(number="9", retry=RetryConfig(max_attempts=2)), sim.now))
    sim.join("b")
    assert len(sim.originates) == 1 and sim.m.status(sim.now)["stop"] == "stopping"


@pytest.mark.parametrize(
    ("kind", "change", "cleared"),
    [
        (StopKind.GAVE_UP, {"retry": RetryConfig(max_attempts=2)}, True),
        (StopKind.GAVE_UP, {"number": "9"}, True),
        (StopKind.GAVE_UP, {"linger": 4.0}, False),
        (StopKind.PERMANENT, {"retry": RetryConfig(max_attempts=2)}, False),
        (StopKind.PERMANENT, {"endpoint": "OTHER"}, True),
        (StopKind.NO_REDIAL, {"retry": RetryConfig(redial_on_drop=True)}, True),
        (StopKind.NO_REDIAL, {"retry": RetryConfig(redial_on_drop=False, max_attempts=2)}, False),
        (StopKind.HELD, {"retry": RetryConfig(max_attempts=2), "number": "9"}, False),
        (StopKind.STOPPING, {"retry": RetryConfig(max_attempts=2), "number": "9"}, False),
    ],
)
def test_stop_cleared_by(kind: StopKind, change: dict, cleared: bool) -> None:
    old = make_link(retry=RetryConfig(redial_on_drop=False)) if kind is StopKind.NO_REDIAL else make_link()
    assert stop_cleared_by(kind, old, make_link(**change)) is cleared


def test_unconfirmed_hangup_is_retried_then_the_room_is_checked_never_forgotten() -> None:
    sim = Sim()
    sim.join("a")
    sim.connect()
    sim.leave("a")
    sim.advance(15.0)
    assert len(sim.hangups) == 4 and sim.m.call is not None and sim.m.state == "hanging_up"
    assert sim.timers[HANGUP_DEADLINE] == pytest.approx(sim.now + 30.0)
    sim.join("b")  # the room refills: still no second call while the first is not confirmed gone
    assert len(sim.originates) == 1
    sim.gone()
    assert len(sim.originates) == 2


def test_unconfirmed_hangup_asks_for_a_room_check() -> None:
    sim = Sim()
    sim.join("a")
    sim.connect()
    sim.leave("a")
    sim.advance(10.0)  # two more unconfirmed hang-ups
    actions = sim.apply(sim.m.timer_fired(HANGUP_DEADLINE, sim.now + 5.0))
    assert any(isinstance(a, VerifyRoom) and a.room == "100" for a in actions)


def test_rejoin_while_hanging_up_dials_after_the_old_call_ends() -> None:
    sim = Sim()
    sim.join("a")
    sim.connect()
    sim.leave("a")
    sim.join("b")
    assert len(sim.originates) == 1  # never two calls at once
    sim.gone()
    assert len(sim.originates) == 2


def test_status_fields() -> None:
    sim = Sim(retry=RetryConfig(max_attempts=4, backoff=(7.0,)))
    sim.join("a")
    sim.gone(BUSY)
    status = sim.m.status(sim.now + 2)
    assert status["state"] == "backoff"
    assert status["attempts"] == 1 and status["max_attempts"] == 4
    assert status["next_attempt_in"] == pytest.approx(5.0)
    assert status["last_error"] == "busy (486)"
    assert status["attempt_log"][0]["result"] == "failed"


@pytest.mark.parametrize(
    ("fields", "category", "permanent"),
    [
        ({"cause": "17", "tech_cause": "486"}, "busy", False),
        ({"cause": "34", "tech_cause": "503"}, "congestion", False),
        ({"cause": "1", "tech_cause": "404"}, "rejected", True),
        ({"cause": "28", "tech_cause": "484"}, "rejected", True),
        ({"cause": "21", "tech_cause": "403"}, "rejected", True),
        ({"cause": "21", "tech_cause": "603"}, "rejected", True),
        ({"cause": "1"}, "rejected", True),
        ({"cause": "19"}, "no_answer", False),
        ({"cause": "19", "tech_cause": "480"}, "no_answer", False),
        ({"cause": "16"}, "normal", False),
        ({"dial_status": "NOANSWER"}, "noanswer", False),
        ({"reason": "3"}, "no_answer", False),
        ({"reason": "0"}, "failed", False),
    ],
)
def test_classify(fields: dict, category: str, permanent: bool) -> None:
    failure = classify(**fields)
    assert failure.category == category and failure.permanent is permanent


def test_shut_down_hangs_up_and_dials_nothing_more() -> None:
    sim = Sim(retry=RetryConfig(backoff=(1.0,)))
    sim.join("a")
    sim.connect()
    sim.apply(sim.m.shut_down(sim.now))
    assert [h.call_id for h in sim.hangups] == [sim.call_id]
    sim.gone()
    sim.join("b")
    sim.advance(100)
    assert len(sim.originates) == 1 and sim.m.attempt_log[-1].cause == "worker stopping"

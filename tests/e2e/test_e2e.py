"""The worker against a real Asterisk 22 (ConfBridge, PJSIP) with SIPp as the provider.

Every assertion is on what SIPp received/sent or what AMI shows; the worker's log is only
printed for diagnosis. Times from SIPp's message file and from the lab's AMI recorder are both
wall-clock times of this machine.
"""

from __future__ import annotations

import os
import signal
import time
from typing import Any

from e2e_support import E2E
from lab import observe

# Short back-offs keep the suite fast; the values are asserted below.
BACKOFF = [1.0, 2.0]
DTMF = "354233w#"
DTMF_DIGITS = "354233#"
DTMF_DELAY = 1.0
INTERDIGIT = 0.25  # the dialplan's SendDTMF(...,250)


def link(**kw: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "id": "1", "room": "354233", "number": "100", "dtmf": "", "dtmf_delay": 0,
        "ring_timeout": 10, "linger": 0,
        "retry": {"max_attempts": 5, "backoff": BACKOFF, "redial_on_drop": True},
    }
    base.update(kw)
    return base


def quiet_for(seconds: float) -> None:
    """Wait while nothing is expected to happen (the test then checks that nothing did)."""
    observe(seconds, "the test checks afterwards that nothing happened")


def test_first_join_one_invite_dtmf_in_order_then_bye(e2e: E2E) -> None:
    sipp = e2e.lab.sipp("answer-and-hold")
    e2e.write_config([link(dtmf=DTMF, dtmf_delay=DTMF_DELAY)])
    e2e.start_worker()

    mark = e2e.lab.a.mark()
    h = e2e.lab.join("354233")
    invite = sipp.wait_for(sipp.invites, 1, timeout=5)[0]
    e2e.record("join_to_invite", invite.t - h.join_t)
    assert invite.ruri_user == "100"
    # causality against our own send time: the reader thread's join_t stamp may come late
    assert invite.t >= h.sent_t

    # the digits arrive at the far end, in order, after dtmf_delay, then the call joins the room
    infos = sipp.wait_for(lambda: sipp.infos(invite.call_id), len(DTMF_DIGITS), timeout=10)
    answer = next(a for a in sipp.answers() if a.call_id == invite.call_id)
    assert sipp.digits(invite.call_id) == DTMF_DIGITS
    first_gap = infos[0].t - answer.t
    assert first_gap >= DTMF_DELAY, f"first digit {first_gap:.3f} s after answer, dtmf_delay {DTMF_DELAY}"
    assert first_gap < DTMF_DELAY + 1.5
    e2e.record("answer_to_first_digit", first_gap)
    # "w" = 0.5 s pause between the last two digits, on top of the inter-digit gap
    assert infos[-1].t - infos[-2].t >= 0.5 + INTERDIGIT - 0.05
    ext = e2e.wait_ext_join(mark, "354233", timeout=5)
    assert ext["Uniqueid"].startswith("conflink-1-")
    assert ext["_t"] >= infos[-1].t - 0.05, "external call joined the room before its DTMF finished"
    members = {m["Uniqueid"] for m in e2e.lab.confbridge_list("354233")}
    assert members == {h.uniqueid, ext["Uniqueid"]}
    # the module's dialplan ran MikoPBX's CDR step (AGI stand-in) for that call
    assert [r["uniqueid"] for r in e2e.lab.agi_runs()] == [ext["Uniqueid"]]

    quiet_for(1.0)
    assert len(sipp.invites()) == 1

    leave_t = e2e.lab.leave(h)
    bye = sipp.wait_for(lambda: sipp.byes("in"), 1, timeout=5)[0]
    assert bye.call_id == invite.call_id
    e2e.record("leave_to_bye", bye.t - leave_t)
    assert bye.t - leave_t < 2.0
    assert e2e.lab.conflink_channels() == []
    assert ext["Uniqueid"] in e2e.lab.hangup_handler_runs()

    elapsed = e2e.stop_worker()
    e2e.record("sigterm_to_exit", elapsed)
    assert len(sipp.invites()) == 1


def test_ten_join_at_once_one_invite(e2e: E2E) -> None:
    sipp = e2e.lab.sipp("answer-and-hold")
    e2e.write_config([link()])
    e2e.start_worker()

    mark = e2e.lab.a.mark()
    handles = e2e.lab.join_many("354233", 10)
    first_join = min(h.join_t for h in handles)
    invite = sipp.wait_for(sipp.invites, 1, timeout=5)[0]
    e2e.record("join_to_invite", invite.t - first_join, participants=10)
    e2e.wait_ext_join(mark, "354233", timeout=5)
    quiet_for(2.0)
    assert len(sipp.invites()) == 1
    members = e2e.lab.confbridge_list("354233")
    ours = [m for m in members if m["Uniqueid"].startswith("conflink-")]
    assert len(members) == 11 and len(ours) == 1

    # everyone leaves at once: one BYE, no redial
    for h in handles[:-1]:
        e2e.lab.leave(h, wait=False)
    last_leave = e2e.lab.leave(handles[-1])
    bye = sipp.wait_for(lambda: sipp.byes("in"), 1, timeout=5)[0]
    e2e.record("leave_to_bye", bye.t - last_leave, participants=10)
    quiet_for(1.5)
    assert len(sipp.invites()) == 1 and len(sipp.byes("in")) == 1


def test_bye_only_after_last_internal_leaves(e2e: E2E) -> None:
    sipp = e2e.lab.sipp("answer-and-hold")
    e2e.write_config([link()])
    e2e.start_worker()

    mark = e2e.lab.a.mark()
    a = e2e.lab.join("354233")
    b = e2e.lab.join("354233")
    e2e.wait_ext_join(mark, "354233")
    e2e.lab.leave(a)
    quiet_for(1.5)
    assert sipp.byes() == [], "external call hung up while an internal participant was still in the room"
    assert len(e2e.lab.conflink_channels()) == 1
    t_leave = e2e.lab.leave(b)
    bye = sipp.wait_for(lambda: sipp.byes("in"), 1, timeout=5)[0]
    e2e.record("leave_to_bye", bye.t - t_leave)
    assert bye.t - t_leave < 2.0
    assert len(sipp.invites()) == 1


def test_linger_delays_bye_and_rejoin_cancels_it(e2e: E2E) -> None:
    linger = 3.0
    sipp = e2e.lab.sipp("answer-and-hold")
    e2e.write_config([link(linger=linger)])
    e2e.start_worker()

    mark = e2e.lab.a.mark()
    h = e2e.lab.join("354233")
    e2e.wait_ext_join(mark, "354233")

    # leave, come back inside the linger time: the call stays, nobody dials again
    e2e.lab.leave(h)
    quiet_for(1.0)
    h2 = e2e.lab.join("354233")
    quiet_for(linger + 0.5)
    assert sipp.byes() == [], "BYE although an internal participant came back inside linger"
    assert len(sipp.invites()) == 1
    assert len(e2e.lab.conflink_channels()) == 1

    # leave for good: BYE only after ~linger
    t_leave = e2e.lab.leave(h2)
    bye = sipp.wait_for(lambda: sipp.byes("in"), 1, timeout=linger + 4)[0]
    waited = bye.t - t_leave
    e2e.record("linger_leave_to_bye", waited, linger=linger)
    assert linger - 0.05 <= waited <= linger + 1.5, f"BYE {waited:.3f} s after the last leave, linger {linger}"
    assert len(sipp.invites()) == 1


def test_busy_twice_then_answer_retries_with_backoff(e2e: E2E) -> None:
    sipp = e2e.lab.sipp("busy-then-answer", BUSY_CALLS=2)
    e2e.write_config([link()])
    e2e.start_worker()

    mark = e2e.lab.a.mark()
    e2e.lab.join("354233")
    invites = sipp.wait_for(sipp.invites, 3, timeout=15)
    finals = sipp.wait_for(sipp.finals, 3, timeout=5)
    assert [f.status for f in finals[:3]] == [486, 486, 200]
    # INVITE n+1 comes the back-off after the 486 of INVITE n
    for i, backoff in enumerate(BACKOFF):
        gap = invites[i + 1].t - finals[i].t
        e2e.record(f"busy_retry_gap_{backoff:g}s", gap, backoff=backoff)
        assert backoff - 0.05 <= gap <= backoff + 1.0, f"retry {i + 1} came {gap:.3f} s after 486, backoff {backoff}"
    ext = e2e.wait_ext_join(mark, "354233", timeout=5)
    assert ext["Uniqueid"].startswith("conflink-1-")
    quiet_for(1.5)
    assert len(sipp.invites()) == 3
    assert len(e2e.lab.conflink_channels()) == 1


def test_remote_bye_mid_meeting_redials(e2e: E2E) -> None:
    sipp = e2e.lab.sipp("answer-then-bye", BYE_CALLS=1, HOLD_MS=1500)
    e2e.write_config([link()])
    e2e.start_worker()

    mark = e2e.lab.a.mark()
    e2e.lab.join("354233")
    first = e2e.wait_ext_join(mark, "354233")
    remote_bye = sipp.wait_for(lambda: sipp.byes("out"), 1, timeout=8)[0]
    invites = sipp.wait_for(sipp.invites, 2, timeout=BACKOFF[0] + 5)
    assert invites[1].t > remote_bye.t
    assert invites[1].call_id != invites[0].call_id
    e2e.record("remote_bye_to_redial", invites[1].t - remote_bye.t, backoff=BACKOFF[0])
    second = e2e.wait_ext_join(mark, "354233", timeout=5, exclude=(first["Uniqueid"],))
    assert second["Uniqueid"] != first["Uniqueid"] and second["Uniqueid"].startswith("conflink-1-")
    quiet_for(1.5)
    assert len(sipp.invites()) == 2
    assert [c["Uniqueid"] for c in e2e.lab.conflink_channels()] == [second["Uniqueid"]]


def test_worker_sigkill_and_restart_adopts_the_call(e2e: E2E) -> None:
    sipp = e2e.lab.sipp("answer-and-hold")
    e2e.write_config([link()])
    w1 = e2e.start_worker()

    mark = e2e.lab.a.mark()
    h = e2e.lab.join("354233")
    ext = e2e.wait_ext_join(mark, "354233")
    os.kill(w1.pid, signal.SIGKILL)
    w1.proc.wait(timeout=5)

    e2e.start_worker()
    quiet_for(2.5)
    assert len(sipp.invites()) == 1, "restarted worker dialled a second external call"
    assert sipp.byes() == [], "restarted worker hung up the running call"
    assert [c["Uniqueid"] for c in e2e.lab.conflink_channels()] == [ext["Uniqueid"]]
    # adopted: the new worker hangs it up when the room empties
    t_leave = e2e.lab.leave(h)
    bye = sipp.wait_for(lambda: sipp.byes("in"), 1, timeout=5)[0]
    e2e.record("adopted_leave_to_bye", bye.t - t_leave)
    assert e2e.lab.conflink_channels() == []


def test_lone_conflink_call_found_at_start_is_hung_up(e2e: E2E) -> None:
    sipp = e2e.lab.sipp("answer-and-hold")
    e2e.write_config([link()])
    mark = e2e.lab.a.mark()
    cid = e2e.lab.originate_external("1", "354233", number="100", suffix="x")
    e2e.lab.a.wait_event(lambda e: e.get("Event") == "ConfbridgeJoin" and e.get("Uniqueid") == cid, 10, mark)
    assert [m["Uniqueid"] for m in e2e.lab.confbridge_list("354233")] == [cid]

    t0 = time.time()
    e2e.start_worker(wait_ready=False)
    bye = sipp.wait_for(lambda: sipp.byes("in"), 1, timeout=8)[0]
    e2e.record("start_to_lone_call_bye", bye.t - t0)
    assert e2e.lab.conflink_channels() == []
    quiet_for(1.0)
    assert len(sipp.invites()) == 1, "worker dialled although the room has no internal participant"


def test_two_rooms_are_independent(e2e: E2E) -> None:
    sipp = e2e.lab.sipp("answer-and-hold")
    e2e.write_config([link(id="1", room="1001", number="201"), link(id="2", room="1002", number="202")])
    e2e.start_worker()

    mark = e2e.lab.a.mark()
    a = e2e.lab.join("1001")
    inv_a = sipp.wait_for(sipp.invites, 1, timeout=5)[0]
    e2e.record("join_to_invite", inv_a.t - a.join_t, rooms=2)
    assert inv_a.ruri_user == "201"
    ext_a = e2e.wait_ext_join(mark, "1001")
    assert ext_a["Uniqueid"].startswith("conflink-1-")
    quiet_for(1.0)
    assert [i.ruri_user for i in sipp.invites()] == ["201"], "room 1002 is empty but its link dialled"

    b = e2e.lab.join("1002")
    invs = sipp.wait_for(sipp.invites, 2, timeout=5)
    assert invs[1].ruri_user == "202"
    ext_b = e2e.wait_ext_join(mark, "1002")
    assert ext_b["Uniqueid"].startswith("conflink-2-")

    t_leave = e2e.lab.leave(a)
    bye = sipp.wait_for(lambda: sipp.byes("in"), 1, timeout=5)[0]
    assert bye.call_id == inv_a.call_id
    e2e.record("leave_to_bye", bye.t - t_leave, rooms=2)
    quiet_for(1.5)
    assert [x.call_id for x in sipp.byes()] == [inv_a.call_id], "room 1002's call was touched"
    assert [c["Uniqueid"] for c in e2e.lab.conflink_channels()] == [ext_b["Uniqueid"]]
    e2e.lab.leave(b)
    sipp.wait_for(lambda: sipp.byes("in"), 2, timeout=5)
    assert len(sipp.invites()) == 2


def _link_status(e2e: E2E, link_id: str) -> dict[str, Any]:
    return next(x for x in e2e.status()["links"] if str(x.get("id")) == link_id)


def test_unallocated_and_declined_numbers_stop_retrying(e2e: E2E) -> None:
    for scenario, code in (("notfound-404", 404), ("decline-603", 603)):
        sipp = e2e.lab.sipp(scenario)
        e2e.write_config([link()])
        w = e2e.start_worker()
        h = e2e.lab.join("354233")
        sipp.wait_for(sipp.invites, 1, timeout=5)
        quiet_for(BACKOFF[0] + BACKOFF[1] + 0.5)
        assert len(sipp.invites()) == 1, f"{code}: the worker retried a number that cannot work"
        assert [f.status for f in sipp.finals()] == [code]
        st = _link_status(e2e, "1")
        assert st.get("last_error"), f"{code}: status shows no error: {st}"
        assert st.get("next_attempt_in") in (None, 0, 0.0), f"{code}: a retry is still planned: {st}"
        e2e.lab.leave(h)
        e2e.stop_worker(w)
        sipp.stop()


def test_503_retries_until_max_attempts_then_stops(e2e: E2E) -> None:
    sipp = e2e.lab.sipp("unavailable-503")
    e2e.write_config([link(retry={"max_attempts": 3, "backoff": [1], "redial_on_drop": True})])
    e2e.start_worker()
    h = e2e.lab.join("354233")
    invites = sipp.wait_for(sipp.invites, 3, timeout=8)
    finals = sipp.finals()
    for i in range(2):
        gap = invites[i + 1].t - finals[i].t
        assert 0.95 <= gap <= 2.0, f"retry {i + 1} came {gap:.3f} s after 503, backoff 1 s"
    quiet_for(2.5)
    assert len(sipp.invites()) == 3, "more attempts than retry.max_attempts"
    assert _link_status(e2e, "1").get("last_error")

    # the room empties and fills again: a new busy period gets its attempts back
    e2e.lab.leave(h)
    quiet_for(0.5)
    e2e.lab.join("354233")
    sipp.wait_for(sipp.invites, 4, timeout=5)


def test_no_answer_is_cancelled_after_ring_timeout_then_retried(e2e: E2E) -> None:
    ring_timeout = 5
    sipp = e2e.lab.sipp("never-answer")
    e2e.write_config([link(ring_timeout=ring_timeout)])
    e2e.start_worker()
    e2e.lab.join("354233")
    first = sipp.wait_for(sipp.invites, 1, timeout=5)[0]
    cancel = sipp.wait_for(sipp.cancels, 1, timeout=ring_timeout + 3)[0]
    rang = cancel.t - first.t
    e2e.record("ring_timeout_to_cancel", rang, ring_timeout=ring_timeout)
    assert ring_timeout - 0.1 <= rang <= ring_timeout + 1.5
    second = sipp.wait_for(sipp.invites, 2, timeout=BACKOFF[0] + 3)[1]
    assert second.t - cancel.t >= BACKOFF[0] - 0.1


def test_join_and_leave_inside_arm_delay_dials_nothing(e2e: E2E) -> None:
    arm = 2.0
    sipp = e2e.lab.sipp("answer-and-hold")
    e2e.write_config([link(arm_delay=arm)])
    e2e.start_worker()
    h = e2e.lab.join("354233")
    quiet_for(arm / 2)
    e2e.lab.leave(h)
    quiet_for(arm + 0.5)
    assert sipp.invites() == [], "dialled although the participant left inside arm_delay"

    h2 = e2e.lab.join("354233")
    invite = sipp.wait_for(sipp.invites, 1, timeout=arm + 3)[0]
    waited = invite.t - h2.join_t
    e2e.record("arm_delay_join_to_invite", waited, arm_delay=arm)
    assert arm - 0.05 <= waited <= arm + 1.0


def test_last_leave_while_ringing_cancels_the_call(e2e: E2E) -> None:
    sipp = e2e.lab.sipp("never-answer")
    e2e.write_config([link(ring_timeout=30)])
    e2e.start_worker()
    h = e2e.lab.join("354233")
    sipp.wait_for(sipp.invites, 1, timeout=5)
    quiet_for(0.5)
    t_leave = e2e.lab.leave(h)
    cancel = sipp.wait_for(sipp.cancels, 1, timeout=5)[0]
    e2e.record("leave_to_cancel_ringing", cancel.t - t_leave)
    assert cancel.t - t_leave < 2.0
    quiet_for(BACKOFF[0] + 1.0)
    assert len(sipp.invites()) == 1, "redialled after the room emptied"
    assert e2e.lab.conflink_channels() == []


def test_last_leave_during_dtmf_hangs_up_before_joining(e2e: E2E) -> None:
    sipp = e2e.lab.sipp("answer-and-hold")
    e2e.write_config([link(dtmf="1W2W3W4W5#", dtmf_delay=1)])
    e2e.start_worker()
    mark = e2e.lab.a.mark()
    h = e2e.lab.join("354233")
    sipp.wait_for(sipp.infos, 1, timeout=5)  # answered, DTMF under way
    t_leave = e2e.lab.leave(h)
    bye = sipp.wait_for(lambda: sipp.byes("in"), 1, timeout=5)[0]
    e2e.record("leave_to_bye_during_dtmf", bye.t - t_leave)
    assert bye.t - t_leave < 2.0
    assert len(sipp.digits()) < len("12345#"), "the DTMF went on after the room emptied"
    quiet_for(BACKOFF[0] + 1.0)
    assert len(sipp.invites()) == 1
    assert e2e.ext_joins(mark) == [], "the external call joined an empty room"
    assert e2e.lab.conflink_channels() == []

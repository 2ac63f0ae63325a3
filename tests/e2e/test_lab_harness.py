"""The lab itself: what the e2e tests and benchmarks rely on, checked against real Asterisk/SIPp."""

from __future__ import annotations

import time

import lab as labmod
import pytest

# scenario -> (final response SIPp sends, Hangup Cause Asterisk reports)
REJECTS = {
    "busy-486": (486, "17"),
    "unavailable-503": (503, "34"),
    "notfound-404": (404, "1"),
    "decline-603": (603, "21"),
}


@pytest.fixture
def lab_pair(prerequisites: None):
    a = labmod.Lab(name="harness-a")
    b = labmod.Lab(name="harness-b")
    a.start()
    try:
        b.start()
    except BaseException:
        a.stop()
        raise
    try:
        yield a, b
    finally:
        a.stop()
        b.stop()


def _wait_hangup(L: labmod.Lab, cid: str, start: int, timeout: float = 8) -> dict:
    return L.a.wait_event(lambda e: e.get("Event") == "Hangup" and e.get("Uniqueid") == cid, timeout, start)


def test_two_labs_run_at_once_with_their_own_ports_and_scenarios(lab_pair) -> None:
    a, b = lab_pair
    assert len({a.ami_port, b.ami_port, a.sip_port, b.sip_port, a.sipp_ports["SIP-TEST"],
                b.sipp_ports["SIP-TEST"]}) == 6
    assert a.asterisk_version.startswith("22."), a.asterisk_version
    assert a.rtp_end < b.rtp_start or b.rtp_end < a.rtp_start

    # lab A: an internal participant plus an external leg through the module's dialplan
    sa = a.sipp("answer-and-hold")
    h = a.join("500")
    assert h.uniqueid.startswith(labmod.INTERNAL_PREFIX)
    start = a.a.mark()
    cid = a.originate_external("9", "500", number="777", dtmf="1#", dtmf_delay_ms=200)
    a.a.wait_event(lambda e: e.get("Event") == "ConfbridgeJoin" and e.get("Uniqueid") == cid, 10, start)
    assert sa.digits() == "1#"
    assert {m["Uniqueid"] for m in a.confbridge_list("500")} == {h.uniqueid, cid}
    assert [r["uniqueid"] for r in a.agi_runs()] == [cid]
    assert a.confbridge_list("no-such-room") == []

    # lab B at the same time: each reject scenario gives its SIP code and Q.850 cause
    for scenario, (code, cause) in REJECTS.items():
        sb = b.sipp(scenario)
        start_b = b.a.mark()
        cid_b = b.originate_external("9", "500", suffix=scenario.replace("-", ""))
        ev = _wait_hangup(b, cid_b, start_b)
        assert ev.get("Cause") == cause, (scenario, ev)
        sb.wait_for(sb.finals, 1, timeout=3)
        assert [f.status for f in sb.finals()] == [code]
        sb.stop()
        assert not sb.running()

    # back in A: hang-up handler stand-in ran when the leg ended; BYE reached SIPp
    a.hangup(a.conflink_channels()[0]["Channel"])
    sa.wait_for(lambda: sa.byes("in"), 1, timeout=5)
    labmod.wait_until(lambda: cid in a.hangup_handler_runs(), 3, "the hang-up handler stand-in ran")
    a.leave(h)
    assert a.confbridge_list("500") == []


def test_templated_scenarios_follow_their_parameters(prerequisites: None) -> None:
    with labmod.Lab(name="harness-c") as L:
        s = L.sipp("busy-then-answer", BUSY_CALLS=1)
        start = L.a.mark()
        first = L.originate_external("9", "600", suffix="a")
        _wait_hangup(L, first, start)
        s.wait_for(s.finals, 1, timeout=3)
        second = L.originate_external("9", "600", suffix="b")
        L.a.wait_event(lambda e: e.get("Event") == "ConfbridgeJoin" and e.get("Uniqueid") == second, 8, start)
        assert [f.status for f in s.finals()] == [486, 200]
        s.stop()

        s = L.sipp("answer-then-bye", BYE_CALLS=1, HOLD_MS=500)
        start = L.a.mark()
        t0 = time.time()
        cid = L.originate_external("9", "600", suffix="c")
        _wait_hangup(L, cid, start)
        bye = s.wait_for(lambda: s.byes("out"), 1, timeout=3)
        assert len(bye) == 1 and 0.45 <= bye[0].t - s.answers()[0].t <= 2.0
        assert time.time() - t0 < 5
        s.stop()

        s = L.sipp("never-answer")
        start = L.a.mark()
        cid = L.originate_external("9", "600", suffix="d", timeout_ms=1500)
        _wait_hangup(L, cid, start)
        s.wait_for(s.finals, 1, timeout=3)
        assert len(s.cancels()) == 1 and [f.status for f in s.finals()] == [487]
        with pytest.raises(labmod.LabError):
            L.sipp("answer-and-hold", endpoint="NOPE")
    assert not s.running()

"""Every attempt in MikoPBX's call history (issue 12 item 7), end to end.

A real lab Asterisk 22 runs the module's dialplan (php bin/conflink-dialplan.php) with CEL on as
MikoPBX configures it; SIPp far ends answer busy (486), ring until the ring timeout, answer after
ringing, ring until the room empties, and refuse with 404; the real worker dials with its back-off. Each attempt's CEL
USER_DEFINED event goes through Core's REAL WorkerCallEvents (callEventsWorker → ActionInsertCdr)
in the MikoPBX rig, and the rows are read back through Core's CallDetailRecords model.

Stand-in: only the CEL → beanstalk transport. On a PBX Asterisk's cel_beanstalkd puts each CEL
event as JSON into the `asterisk-cel` tube; here cel_manager reports it on the lab's AMI, the
test turns it into cel_beanstalkd's JSON (same fields, EventName USER_DEFINED) and
tests/mikopbx/php/call-events.php publishes it with Core's BeanstalkClient (the rig's queue).
"""

from __future__ import annotations

import datetime as dt
import json
import time
from pathlib import Path
from typing import Any

import lab as labmod
import pytest
from driver import LabDriver
from lab import observe, wait_until
from rig import Rig

ROOM = "354233"
RING_MS = 1500  # the answering far end rings this long before its 200 OK
RING_TIMEOUT = 5  # the worker's ring_timeout (its minimum): the unanswered attempt's ring time
HOLD_S = 2.5  # the answered call stays in the room at least this long (its billsec)
TOLERANCE = 0.75  # s: row times vs SIPp times (the Originate → INVITE path and a loaded machine)

# The JSON cel_beanstalkd puts into its tube (Asterisk's cel/cel_beanstalkd.c): these fields of
# the CEL record, named as cel_manager names them on AMI.
CEL_BODY_FIELDS = ("EventName", "AccountCode", "CallerIDnum", "CallerIDname", "CallerIDani", "CallerIDrdnis",
                   "CallerIDdnid", "Exten", "Context", "Channel", "Application", "AppData", "EventTime",
                   "AMAFlags", "UniqueID", "LinkedID", "Userfield", "Peer", "PeerAccount", "Extra")


def beanstalk_body(event: dict[str, Any]) -> str:
    return json.dumps({k: str(event.get(k, "")) for k in CEL_BODY_FIELDS})


def epoch(text: str) -> float:
    """A CDR time (Core's `Y-m-d H:M:S.mmm`, the PBX's local time) as seconds; only differences are used."""
    return dt.datetime.strptime(text, "%Y-%m-%d %H:%M:%S.%f").timestamp()


def core_rows(rig: Rig, bodies: list[str]) -> dict[str, Any]:
    feed = rig.host / "cel-bodies.jsonl"
    feed.write_text("".join(b + "\n" for b in bodies))
    res = rig.php_file(f"{rig.inner}/rig/call-events.php", f"{rig.inner}/cel-bodies.jsonl", timeout=120)
    lines = [ln for ln in res.stdout.splitlines() if ln.startswith("{")]
    assert res.returncode == 0 and lines, f"call-events.php failed:\n{res.stdout}\n{res.stderr}"
    out: dict[str, Any] = json.loads(lines[-1])
    return out


@pytest.fixture
def driver(tmp_path: Path) -> Any:
    labmod.check_prerequisites()
    lab = labmod.Lab(name="call-history", endpoints=("SIP-TEST", "SIP-B"), cel=True)
    lab.start()
    env = LabDriver(lab, tmp_path, "call-history")
    try:
        yield env
    finally:
        problems = env.stop_all()
        print(env.dump())
        lab.stop()
    assert not problems, problems


def test_every_attempt_is_one_row_in_cores_call_history(rig: Rig, driver: LabDriver) -> None:
    lab = driver.lab
    far = lab.sipp("busy-ring-answer", endpoint="SIP-TEST", RING_MS=RING_MS)
    gone = lab.sipp("notfound-404", endpoint="SIP-B")
    retry = {"max_attempts": 5, "backoff": [1]}
    driver.write_config([
        {"id": "1", "room": ROOM, "endpoint": "SIP-TEST", "number": "5550100", "ring_timeout": RING_TIMEOUT,
         "retry": retry},
        {"id": "2", "room": ROOM, "endpoint": "SIP-B", "number": "5550404", "retry": retry},
    ])
    driver.start_worker()
    mark = lab.a.mark()

    member = lab.join(ROOM)
    # busy, then (back-off) rings into the ring timeout, then (back-off) answered; 404 stops link 2
    ext = driver.wait_ext_join(mark, ROOM, timeout=RING_TIMEOUT + 20)
    observe(HOLD_S, "the answered call stays in the room: no further INVITE from either link")
    assert len(far.invites()) == 3 and len(gone.invites()) == 1
    lab.leave(member)
    driver.wait_no_conflink_channels(timeout=10)
    # a second busy period: the room empties while link 1's call still rings (the worker hangs it up)
    member = lab.join(ROOM)
    far.wait_for(far.invites, 4, timeout=10)
    gone.wait_for(gone.finals, 2, timeout=10)
    lab.leave(member)
    driver.wait_no_conflink_channels(timeout=10)

    attempts = sorted({e["Uniqueid"] for e in lab.a.find_events("Newchannel", start=mark)
                       if str(e.get("Uniqueid", "")).startswith("conflink-")})
    assert len(attempts) == 6, attempts
    wait_until(lambda: len(lab.cel_events(mark, "USER_DEFINED")) >= 6, 10, "one CEL row event per attempt")
    observe(0.5, "no second row event for any attempt")
    events = lab.cel_events(mark, "USER_DEFINED")
    assert len(events) == 6, [e.get("Channel") for e in events]
    assert {e["Application"] for e in events} == {"CELGenUserEvent"}

    result = core_rows(rig, [beanstalk_body(e) for e in events])
    assert result["jobs"] == 6
    rows = {r["UNIQUEID"]: r for r in result["rows"]}
    assert len(result["rows"]) == 6 and sorted(rows) == attempts, "one row per attempt, none duplicated"
    for r in result["rows"]:
        print("row", json.dumps({k: v for k, v in r.items() if v not in ("", None)}))

    # what every row says, as designed: the room calls the number through the provider
    for uid, r in rows.items():
        link = uid.split("-")[1]
        assert r["linkedid"] == uid, "grouped with the leg's own conference-participant row"
        assert (r["src_num"], r["src_chan"], r["from_account"]) == (ROOM, f"MeetMe:{ROOM}", "")
        assert (r["dst_num"], r["to_account"]) == {"1": ("5550100", "SIP-TEST"), "2": ("5550404", "SIP-B")}[link]
        assert r["work_completed"] == "1" and r["transfer"] == "0"
        assert int(r["duration"]) == max(0, int(epoch(r["endtime"])) - int(epoch(r["start"]))), "WorkerCdr's rule"

    link1 = sorted((r for uid, r in rows.items() if uid.startswith("conflink-1-")), key=lambda r: r["start"])
    busy, unanswered, answered, cancelled = link1
    notfound, notfound_again = sorted((r for uid, r in rows.items() if uid.startswith("conflink-2-")),
                                      key=lambda r: r["start"])
    invites, finals = far.invites(), far.finals()

    def ring_time(row: dict[str, Any], end: str) -> float:
        return epoch(row[end]) - epoch(row["start"])

    # 486: BUSY; its ring time is the INVITE → 486 of SIPp
    assert (busy["dialstatus"], busy["disposition"], busy["billsec"], busy["answer"]) == ("BUSY", "BUSY", "0", "")
    sipp_busy = finals[0].t - invites[0].t
    assert finals[0].status == 486
    assert abs(ring_time(busy, "endtime") - sipp_busy) <= TOLERANCE, (ring_time(busy, "endtime"), sipp_busy)

    # rang into the ring timeout: NOANSWER after ~ring_timeout (SIPp: INVITE → Asterisk's CANCEL)
    assert (unanswered["dialstatus"], unanswered["disposition"], unanswered["billsec"]) == ("NOANSWER", "NOANSWER", "0")
    cancel = far.cancels()[0]
    sipp_ring = cancel.t - invites[1].t
    assert abs(sipp_ring - RING_TIMEOUT) <= TOLERANCE
    assert abs(ring_time(unanswered, "endtime") - sipp_ring) <= TOLERANCE, (ring_time(unanswered, "endtime"), sipp_ring)

    # 404: CHANUNAVAIL (app_dial's name for "this number cannot be reached"), no retry in that period
    for row, invite, final in zip((notfound, notfound_again), gone.invites(), gone.finals(), strict=True):
        assert (row["dialstatus"], row["disposition"], row["billsec"]) == ("CHANUNAVAIL", "CHANUNAVAIL", "0")
        assert final.status == 404
        assert abs(ring_time(row, "endtime") - (final.t - invite.t)) <= TOLERANCE

    # still ringing when the room emptied: the worker's hang-up is Core's CANCEL (the caller gave up)
    assert (cancelled["dialstatus"], cancelled["disposition"], cancelled["billsec"]) == ("CANCEL", "CANCEL", "0")
    cancel_again = far.cancels()[1]
    assert abs(ring_time(cancelled, "endtime") - (cancel_again.t - invites[3].t)) <= TOLERANCE

    # answered: ring time = answer − start (SIPp INVITE → 200), billsec = end − answer (200 → BYE)
    assert (answered["dialstatus"], answered["disposition"]) == ("ANSWERED", "ANSWERED")
    assert answered["UNIQUEID"] == ext["Uniqueid"]
    (ok,) = far.answers()
    sipp_answer = ok.t - invites[2].t
    assert abs(sipp_answer - RING_MS / 1000) <= TOLERANCE
    assert abs(ring_time(answered, "answer") - sipp_answer) <= TOLERANCE, (ring_time(answered, "answer"), sipp_answer)
    (bye,) = far.byes("in")
    talk = epoch(answered["endtime"]) - epoch(answered["answer"])
    assert abs(talk - (bye.t - ok.t)) <= TOLERANCE, (talk, bye.t - ok.t)
    assert int(answered["billsec"]) == int(epoch(answered["endtime"])) - int(epoch(answered["answer"])) >= 2
    assert answered["dst_chan"].startswith("PJSIP/SIP-TEST-")
    assert answered["dst_call_id"] == ok.call_id, "the SIP Call-ID of the answered INVITE"
    # Core's conference-participant steps still ran on that leg (the lab's stand-ins record them)
    assert answered["UNIQUEID"] in lab.hangup_handler_runs()
    assert answered["UNIQUEID"] in [a["uniqueid"] for a in lab.agi_runs()]

    # the same events once more (a replayed tube): Core's insert_cdr updates, adds nothing
    again = core_rows(rig, [beanstalk_body(e) for e in events])
    assert [r["id"] for r in again["rows"]] == [r["id"] for r in result["rows"]]


@pytest.fixture
def cel_lab() -> Any:
    labmod.check_prerequisites()
    lab = labmod.Lab(name="call-history-alone", endpoints=("SIP-TEST", "SIP-B", "SIP-C"), cel=True)
    lab.start()
    try:
        yield lab
    finally:
        lab.stop()


def originate_like_the_worker(lab: labmod.Lab, call_id: str, endpoint: str, number: str, timeout_ms: int,
                              dial_via: str = "provider") -> None:
    """The Originate the worker sends (engine._originate), with no worker to answer the stand-in."""
    resp = lab.a.action({
        "Action": "Originate", "Channel": f"PJSIP/{number}@{endpoint}", "Context": labmod.JOIN_CONTEXT,
        "Exten": ROOM, "Priority": "1", "Timeout": str(timeout_ms), "Async": "true", "ChannelId": call_id,
        "Variable": [f"CONFLINK_LINK={call_id.split('-')[1]}", f"CONFLINK_ROOM={ROOM}", "CONFLINK_DTMF=",
                     "CONFLINK_DTMF_DELAY_MS=0", f"CONFLINK_NUMBER={number}", f"CONFLINK_CALL_ID={call_id}",
                     f"CONFLINK_PROVIDER={endpoint if dial_via == 'provider' else ''}",
                     f"CONFLINK_DIAL_VIA={dial_via}", f"CONFLINK_ATTEMPT_START={time.time():.3f}"],
    })
    assert resp[0].get("Response") == "Success", resp


def test_without_the_worker_a_row_falls_back_to_reason_and_routed_calls_add_none(rig: Rig, cel_lab: Any) -> None:
    lab = cel_lab
    busy = lab.sipp("busy-486", endpoint="SIP-TEST")
    lab.sipp("never-answer", endpoint="SIP-B")
    answering = lab.sipp("answer-and-hold", endpoint="SIP-C")
    mark = lab.a.mark()
    originate_like_the_worker(lab, "conflink-1-busy", "SIP-TEST", "5550100", 10000)
    originate_like_the_worker(lab, "conflink-2-ring", "SIP-B", "5550200", 1500)
    # dial_via routes: Core's own dialplan records such calls; the module's extensions add nothing
    originate_like_the_worker(lab, "conflink-3-routedbusy", "SIP-TEST", "5550300", 10000, dial_via="routes")
    originate_like_the_worker(lab, "conflink-4-routedup", "SIP-C", "5550400", 10000, dial_via="routes")

    up = lab.a.wait_event(lambda e: e.get("Event") == "ConfbridgeJoin" and e.get("Uniqueid") == "conflink-4-routedup",
                          10, mark)
    lab.hangup(up["Channel"])
    answering.wait_for(lambda: answering.byes("in"), 1, timeout=10)

    def stand_ins_ended() -> int:
        return len([e for e in lab.a.find_events("Hangup", start=mark) if e.get("Channel") == "OutgoingSpoolFailed"])

    wait_until(lambda: stand_ins_ended() >= 3, 15, "the three failed Originates' stand-ins ended")
    observe(0.5, "no row for the routed calls")
    events = lab.cel_events(mark, "USER_DEFINED")
    assert len(events) == 2, [e.get("Channel") for e in events]
    asked = [e for e in lab.a.find_events("UserEvent", start=mark) if e.get("UserEvent") == "ConflinkFailed"]
    assert sorted(e["CallId"] for e in asked) == ["conflink-1-busy", "conflink-2-ring"], "routed: no question"

    rows = {r["UNIQUEID"]: r for r in core_rows(rig, [beanstalk_body(e) for e in events])["rows"]}
    assert sorted(rows) == ["conflink-1-busy", "conflink-2-ring"]
    # nobody answers the question: the stand-in waits its bound, then writes the row from REASON,
    # which is 0 for a busy far end as for an unreachable one (with the worker it is BUSY: test above)
    row = rows["conflink-1-busy"]
    assert (row["dialstatus"], row["disposition"]) == ("CHANUNAVAIL", "CHANUNAVAIL")
    invite, final = busy.invites()[0], busy.finals()[0]
    waited = epoch(row["endtime"]) - epoch(row["start"]) - (final.t - invite.t)
    assert 2 - 0.1 <= waited <= 2 + TOLERANCE, f"the stand-in waited {waited:.2f} s for the worker (bound 2 s)"
    assert (rows["conflink-2-ring"]["dialstatus"], rows["conflink-2-ring"]["disposition"]) == ("NOANSWER", "NOANSWER")

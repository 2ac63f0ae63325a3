"""Room controls on the lab (issue 12): keys from the room, DTMF, mute/unmute and drop of the
external party, through the real worker, conflink-ctl and Asterisk 22's ConfBridge; the far end
(SIPp) records the digits it receives."""

from __future__ import annotations

import time
from typing import Any

import farend
import pytest
from conflink.config import ANNOUNCE_SOUNDS
from e2e_support import E2E, labmod

ROOM = "354233"


def link(**kw: Any) -> dict[str, Any]:
    # No DTMF at dial time: every digit the far end gets comes from the room controls.
    return {"id": "1", "room": ROOM, "number": "100", "dtmf": "", "retry": {"backoff": [1]}, **kw}


def wait_for(check: Any, what: str, timeout: float = 8.0) -> Any:
    return labmod.wait_value(check, timeout, what, interval=0.1)


def muted_flag(e2e: E2E, channel: str) -> str:
    members = {m.get("Channel"): m.get("Muted") for m in e2e.lab.confbridge_list(ROOM)}
    return str(members.get(channel))


def press(e2e: E2E, channel: str, digits: str) -> None:
    """An internal participant presses keys: the digits arrive on its channel as from its phone."""
    for digit in digits:
        resp = e2e.lab.a.action({"Action": "PlayDTMF", "Channel": channel, "Digit": digit,
                                 "Duration": "120", "Receive": "true"})
        assert resp[0].get("Response") == "Success", resp


def test_keys_from_the_room_dtmf_mute_unmute_and_drop(e2e: E2E) -> None:
    sipp = e2e.lab.sipp("answer-and-hold")
    e2e.write_config([link(room_keys="*6")])  # a new link's keys (the worker's default is off)
    e2e.start_worker()
    mark = e2e.lab.a.mark()
    inside = e2e.lab.join(ROOM)
    ext = e2e.wait_ext_join(mark, ROOM)["Channel"]

    # Keys from the room: *6 pressed by an internal participant reaches the far end once (the
    # room itself passes no DTMF, so a second copy would mean a leak).
    t0 = time.time()
    press(e2e, inside.channel, "*6")
    wait_for(lambda: sipp.digits() == "*6", f"far end got *6 (has {sipp.digits()!r})")
    e2e.record("room_keys_to_far_end", sipp.infos()[-1].t - t0)
    press(e2e, inside.channel, "6")  # a lone 6 is not the sequence
    # The administrator's digits.
    res = e2e.ctl("dtmf", "1", "12#")
    assert res.returncode == 0, res.stdout + res.stderr
    wait_for(lambda: sipp.digits() == "*612#", f"far end got 12# after *6 (has {sipp.digits()!r})")
    bad = e2e.ctl("dtmf", "1", "1w")
    assert bad.returncode == 1 and "digits: 'w' is not a DTMF digit" in bad.stdout, bad.stdout + bad.stderr

    # Mute: ConfBridge really mutes the member, status says so; unmute undoes it.
    res = e2e.ctl("mute", "1")
    assert res.returncode == 0, res.stdout + res.stderr
    wait_for(lambda: muted_flag(e2e, ext) == "Yes", "ConfbridgeList shows the external party muted")
    st = wait_for(lambda: (s := e2e.status()["links"][0])["external_muted"] and s, "status external_muted")
    assert st["muted"] is True
    res = e2e.ctl("unmute", "1")
    assert res.returncode == 0, res.stdout + res.stderr
    wait_for(lambda: muted_flag(e2e, ext) == "No", "ConfbridgeList shows the external party unmuted")
    wait_for(lambda: e2e.status()["links"][0]["external_muted"] is False, "status external_muted false")

    # Drop = Hang up: the call ends and the link holds while people stay in the room.
    assert e2e.ctl("hangup", "1").returncode == 0
    sipp.wait_for(lambda: sipp.byes("in"), 1, timeout=5)
    wait_for(lambda: e2e.status()["links"][0]["state"] == "held", "link held after the drop")
    res = e2e.ctl("mute", "1")
    assert res.returncode == 1 and "no live external call" in res.stdout, res.stdout + res.stderr
    res = e2e.ctl("dtmf", "1", "1")
    assert res.returncode == 1 and "no live external call" in res.stdout, res.stdout + res.stderr
    assert len(sipp.invites()) == 1 and sipp.digits() == "*612#"


def test_daily_budget_cuts_the_call_and_survives_a_worker_restart(e2e: E2E) -> None:
    """1 min a day, 52 s of it already used today (as an earlier worker left it on disk): the
    call is hung up after about 8 s, nothing is redialled, and a restarted worker still knows."""
    import datetime
    import json

    usage = e2e.config_path.with_name("conflink-usage.json")
    today = datetime.date.today().toordinal()  # the worker's local day (the machine's zone)
    usage.write_text(json.dumps({"version": 1, "links": {"1": {"day": today, "used_seconds": 52}}}))
    sipp = e2e.lab.sipp("answer-and-hold")
    e2e.write_config([link(daily_minutes=1, retry={"backoff": [1]})])
    e2e.start_worker()
    assert e2e.status()["links"][0]["used_today"] == 52
    mark = e2e.lab.a.mark()
    e2e.lab.join(ROOM)
    joined = e2e.wait_ext_join(mark, ROOM)
    bye = sipp.wait_for(lambda: sipp.byes("in"), 1, timeout=20)[0]
    e2e.record("budget_cut_after", bye.t - joined["_t"])
    assert 6.0 < bye.t - joined["_t"] < 11.0, f"cut after {bye.t - joined['_t']:.1f} s, budget left 8 s"
    st = wait_for(lambda: (s := e2e.status()["links"][0])["stop"] == "daily_budget" and s, "stop daily_budget")
    assert 59 <= st["used_today"] <= 63 and st["daily_minutes"] == 1
    labmod.observe(2.5, "an automatic redial (the back-off is 1 s)")
    assert len(sipp.invites()) == 1
    saved = json.loads(usage.read_text())["links"]["1"]
    assert saved["limited"] == "daily_budget" and saved["day"] == today

    e2e.stop_worker()
    e2e.start_worker()
    st = e2e.status()["links"][0]
    assert st["stop"] == "daily_budget" and st["used_today"] >= 59, st
    labmod.observe(2.0, "a restarted worker dialling over today's budget")
    assert len(sipp.invites()) == 1, "a restarted worker must not dial over today's budget"
    # Call now still works (and counts).
    res = e2e.ctl("dial", "1")
    assert res.returncode == 0, res.stdout + res.stderr
    sipp.wait_for(sipp.invites, 2, timeout=5)


def test_schedule_no_dial_outside_dial_when_open_and_hang_up_after_the_linger_at_the_end(e2e: E2E) -> None:
    """The window's start and end are driven by config pushes here (the worker's clock is real):
    a schedule that excludes today, one that includes now, then one that excludes now again."""
    import datetime

    days = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
    other_day = days[(datetime.date.today().weekday() + 3) % 7]  # the worker's local day: not today
    closed = {"schedule": [f"{other_day} 00:00-24:00"], "linger": 1}
    sipp = e2e.lab.sipp("answer-and-hold")
    e2e.write_config([link(**closed)])
    e2e.start_worker()
    e2e.lab.join(ROOM)
    st = wait_for(lambda: (s := e2e.status()["links"][0])["stop"] == "off_schedule" and s, "off_schedule")
    assert st["state"] == "off_schedule" and st["in_schedule"] is False
    labmod.observe(1.5, "a dial outside the schedule")
    assert sipp.invites() == [], "nothing is dialled outside the schedule"

    mark = e2e.lab.a.mark()
    push(e2e, schedule=["mon-sun 00:00-24:00"], linger=1)  # the window opens (now is inside)
    sipp.wait_for(sipp.invites, 1, timeout=5)
    e2e.wait_ext_join(mark, ROOM)

    t_close = time.time()
    push(e2e, **closed)  # the window closes with the call up: hung up after the 1 s linger
    bye = sipp.wait_for(lambda: sipp.byes("in"), 1, timeout=6)[0]
    e2e.record("window_end_to_bye", bye.t - t_close)
    assert 0.8 < bye.t - t_close < 4.0, f"hung up {bye.t - t_close:.1f} s after the window ended (linger 1 s)"
    wait_for(lambda: e2e.status()["links"][0]["state"] == "off_schedule", "off_schedule after the window")
    labmod.observe(2.0, "a redial after the window closed (the back-off is 1 s)")
    assert len(sipp.invites()) == 1


def push(e2e: E2E, **kw: Any) -> None:
    endpoint = e2e.config["control"]["endpoint"]  # the one the running worker is bound to
    e2e.config = e2e.lab.write_worker_config(e2e.config_path, [link(**kw)], control_endpoint=endpoint)
    res = e2e.ctl("push-config", str(e2e.config_path))
    assert res.returncode == 0, res.stdout + res.stderr


RFC4733_EVENTS = "0123456789*#ABCD"


def rfc4733_digits(recorder: Any) -> str:
    """Digits in the RTP telephone-events (payload type 101) Asterisk sent: one per event run."""
    out = []
    ended = True
    last = None
    for p in recorder.between(0, float("inf")):
        if p.pt != 101 or len(p.payload) < 4:
            continue
        event, end = p.payload[0], bool(p.payload[1] & 0x80)
        # A new digit: another event, or the same one again after its end packets.
        if event < len(RFC4733_EVENTS) and (event != last or (ended and not end)):
            out.append(RFC4733_EVENTS[event])
        ended, last = end, event
    return "".join(out)


@pytest.mark.parametrize("e2e_dtmf_mode", ["rfc4733"], indirect=True)
def test_room_keys_and_dtmf_reach_an_rfc4733_far_end_as_rtp_events(e2e: E2E) -> None:
    """With dtmf_mode=rfc4733 on the provider, the far end gets the keys as RTP events (no INFO)."""
    recorder = farend.RtpRecorder()
    try:
        sipp = e2e.lab.sipp("answer-rfc4733", REC_PORT=recorder.port)
        e2e.write_config([link(room_keys="*6")])
        e2e.start_worker()
        mark = e2e.lab.a.mark()
        inside = e2e.lab.join(ROOM)
        e2e.wait_ext_join(mark, ROOM)
        press(e2e, inside.channel, "*6")
        wait_for(lambda: rfc4733_digits(recorder) == "*6", f"RTP events *6 (got {rfc4733_digits(recorder)!r})")
        res = e2e.ctl("dtmf", "1", "#9A")
        assert res.returncode == 0, res.stdout + res.stderr
        wait_for(lambda: rfc4733_digits(recorder) == "*6#9A", f"RTP events *6#9A (got {rfc4733_digits(recorder)!r})")
        assert sipp.infos() == [], "no SIP INFO with rfc4733"
    finally:
        recorder.close()


def test_announcements_play_into_the_room_not_to_the_far_end_and_are_not_participants(e2e: E2E) -> None:
    """announce: the room hears "connecting" beside the dial and "connected" before the far end
    joins (the announcer has left the room when the external call enters it); a busy far end is
    announced as such; the announcer is neither counted as a participant nor dialled for."""
    def played(sound: str) -> int:
        return (e2e.lab.dir / "log" / "full").read_text(errors="replace").count(f"Playing '{sound}.")

    def announcer_events(start: int, kind: str) -> list[dict[str, Any]]:
        return [e for e in e2e.lab.confbridge_events(start, ROOM)
                if e["Event"] == kind and str(e.get("Uniqueid", "")).startswith("conflinkann-")]

    sipp = e2e.lab.sipp("answer-and-hold")
    e2e.write_config([link(announce=True, retry={"max_attempts": 1, "backoff": [1]})])
    e2e.start_worker()
    mark = e2e.lab.a.mark()
    inside = e2e.lab.join(ROOM)
    ext = e2e.wait_ext_join(mark, ROOM, timeout=15)
    wait_for(lambda: played("pls-hold-while-try") == 1 and played("confbridge-has-joined") == 1, "both played")
    leaves = announcer_events(mark, "ConfbridgeLeave")
    joins = announcer_events(mark, "ConfbridgeJoin")
    assert len(joins) == 2 and len(leaves) == 2, (joins, leaves)
    assert max(e["_t"] for e in leaves) <= ext["_t"], "the announcer left before the far end joined"
    st = e2e.status()["links"][0]
    assert st["internal_participants"] == 1 and st["attempts"] == 1 and len(sipp.invites()) == 1

    # The room empties; a busy far end next time: "connecting", then "busy" (one attempt).
    e2e.lab.leave(inside)
    sipp.wait_for(lambda: sipp.byes("in"), 1, timeout=5)
    sipp.stop()
    busy = e2e.lab.sipp("busy-486")
    e2e.lab.join(ROOM)
    busy.wait_for(busy.finals, 1, timeout=5)
    wait_for(lambda: played("all-circuits-busy-now") == 1, "busy announced")
    assert played("pls-hold-while-try") == 2
    wait_for(lambda: e2e.status()["links"][0]["stop"] == "gave_up", "gave up after one attempt")
    assert e2e.status()["links"][0]["internal_participants"] == 1


@pytest.mark.parametrize("e2e_language", ["ru-ru", "en-en"], indirect=True)
def test_announcements_are_played_in_the_pbx_language(e2e: E2E, e2e_language: str) -> None:
    """A PBX set to Russian or to English, MikoPBX's two shipped languages (asterisk.conf
    defaultlanguage, the folder named as MikoPBX names it): the room hears that language's
    recordings of Asterisk's core sounds, and every sound the module announces exists in it."""
    missing = set(ANNOUNCE_SOUNDS.values()) - labmod.sound_names(e2e.lab.root, e2e_language)
    assert not missing, f"no {e2e_language} recording of {sorted(missing)}"

    def played(sound: str) -> int:
        return (e2e.lab.dir / "log" / "full").read_text(errors="replace").count(
            f"Playing '{sound}.gsm' (language '{e2e_language}')")

    sipp = e2e.lab.sipp("answer-and-hold")
    e2e.write_config([link(announce=True)])
    e2e.start_worker()
    mark = e2e.lab.a.mark()
    e2e.lab.join(ROOM)
    e2e.wait_ext_join(mark, ROOM, timeout=15)
    wait_for(lambda: played(ANNOUNCE_SOUNDS["connecting"]) == 1 and played(ANNOUNCE_SOUNDS["connected"]) == 1,
             f"connecting and connected played in {e2e_language}")
    log = (e2e.lab.dir / "log" / "full").read_text(errors="replace")
    assert "does not exist in any format" not in log
    assert len(sipp.invites()) == 1

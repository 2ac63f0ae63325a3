"""Room controls on the lab (issue 12): keys from the room, DTMF, mute/unmute and drop of the
external party, through the real worker, conflink-ctl and Asterisk 22's ConfBridge; the far end
(SIPp) records the digits it receives."""

from __future__ import annotations

import time
from typing import Any

from e2e_support import E2E

ROOM = "354233"


def link(**kw: Any) -> dict[str, Any]:
    # No DTMF at dial time: every digit the far end gets comes from the room controls.
    return {"id": "1", "room": ROOM, "number": "100", "dtmf": "", "retry": {"backoff": [1]}, **kw}


def wait_for(check: Any, what: str, timeout: float = 8.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"not within {timeout} s: {what}")


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
    e2e.write_config([link()])
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

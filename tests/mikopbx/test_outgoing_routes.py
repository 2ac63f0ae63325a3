"""dial_via: the worker's two ways of dialling, on the lab's Asterisk 22 against MikoPBX's own
outgoing routing.

The route contexts are Core's: in a rig PBX (php/outgoing-routes.php) two SIP providers A and B
are created through Core's models, with two outgoing routes (Core's OutgoingRoutingTable): route
1, 11-digit numbers starting with 7, to A with "trim 1, prepend 8"; route 2, the same numbers,
to B unchanged (failover). Core's `OutgoingContext::generate()` renders `[outgoing]` and the
route contexts; the small extensions.conf contexts they reach (`[dial_create_chan]`,
`[hangup_handler]`, …) come from Core's `ExtensionsConf::generateOtherExten()`; Core's Lua
dialplan (`dial`, `dial_answer`, `lua_dial_create_chan`, `hangup_chan`, …) is Core's unchanged
`extensions.lua` through pbx_lua (Lab(core_src=): Asterisk sees Core's tree at
/usr/www/src, so its JSON library loads as on a PBX). No stand-in takes part in the routed
call's path; the lab's own stand-ins are those of the join context (the CDR AGI and
hangup_handler_meetme, as in tests/e2e). Providers A and B are the lab's PJSIP endpoints named
after the providers' uniqids (Core's dial string is PJSIP/<number>@<uniqid>), each a SIPp.

What is shown: provider mode ignores the routes (the number as entered reaches the link's
provider); routes mode applies Core's prepend/trim, fails over to B when A refuses, joins the
room with the exact ChannelId (the Local ;1 half), keeps the room controls (keys from the room,
DTMF, mute) and hangs up when the room empties; a routed
failure says why in last_error (busy, all routes failing, no answer, no route), and a number no
route takes is retried per back-off, one attempt at a time.
"""

from __future__ import annotations

import base64
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import lab as labmod
import pytest
from driver import LabDriver
from lab import observe, wait_until
from rig import Rig

ROOM = "354233"
NUMBER = "74951234567"  # route 1 sends 8 + 4951234567 to A; route 2 sends it unchanged to B
AT_A = "84951234567"
CALLERID = "74950001122"
ROUTES = {
    "providers": ["A", "B"],
    "routes": [
        {"provider": "A", "priority": 1, "numberbeginswith": "7", "restnumbers": "10", "trimfrombegin": "1",
         "prepend": "8"},
        {"provider": "B", "priority": 2, "numberbeginswith": "7", "restnumbers": "10"},
    ],
}
NO_ROUTE = "555"
NO_ROUTE_ERROR = "no outgoing route of the PBX takes this number"
DIGITS = "1##2**3#"


class RoutedLab:
    def __init__(self, lab: labmod.Lab, a: str, b: str, core_text: str):
        self.lab, self.a, self.b, self.core_text = lab, a, b, core_text


@pytest.fixture(scope="module")
def routed() -> Iterator[RoutedLab]:
    with Rig.open(name="routes") as rig:
        res = rig.php_file(f"{rig.inner}/rig/outgoing-routes.php", json.dumps(ROUTES))
        lines = [ln for ln in res.stdout.splitlines() if ln.startswith("{")]
        assert res.returncode == 0 and lines, f"outgoing-routes.php failed:\n{res.stdout}\n{res.stderr}"
        rendered = json.loads(lines[-1])
        core_src = f"{rig.core}/src"
    a, b = rendered["providers"]["A"], rendered["providers"]["B"]
    text = rendered["outgoing"] + "\n" + rendered["other"]
    # Core's own text, as rendered: the routes in priority order, the prepend/trim, the Lua CDR
    # start and the Dial with Core's answer and create-channel subroutines.
    assert f"Gosub({a}-" in text and f"Gosub({b}-" in text
    assert text.index(f"Gosub({a}-") < text.index(f"Gosub({b}-")
    assert "Set(number=8${EXTEN:1})" in text and "[dial_create_chan]" in text and "[hangup_handler]" in text
    # MikoPBX's own transfer codes (** blind, ## attended): Core's routes Dial with T and K.
    assert "blindxfer => **" in rendered["features"] and "atxfer => ##" in rendered["features"]
    with labmod.Lab(name="routes", endpoints=[a, b], extra_dialplan=text, core_src=core_src,
                    configs={"features.conf": rendered["features"]}) as lab:
        # Core's Lua loads its JSON library from /usr/www/src as on a PBX: visible to Asterisk.
        assert lab.proc is not None
        # (read through Asterisk's own root: its mount namespace has the overlay; the link is
        # absolute inside the chroot)
        seen = Path(f"/proc/{lab.proc.pid}/root{labmod.CORE_WWW_SRC}")
        assert os.readlink(seen) == core_src, "Asterisk does not see Core's tree at /usr/www/src"
        assert lab.host(f"{core_src}/Core/Asterisk/Configs/lua/JSON.lua").is_file()
        assert "Lua/" in lab.cli("dialplan show dial"), "Core's Lua dialplan did not load"
        yield RoutedLab(lab, a, b, text)


@pytest.fixture
def env(routed: RoutedLab, tmp_path: Path) -> Iterator[LabDriver]:
    driver = LabDriver(routed.lab, tmp_path, "routes")
    try:
        yield driver
    finally:
        problems = driver.stop_all(timed=False)
        for s in list(routed.lab.sipps):
            s.stop()
        # the next test starts from an empty PBX (a failed test's leftovers are hung up, and fail it)
        try:
            wait_until(lambda: not routed.lab.channels(), 15, "no channels left")
        except AssertionError:
            left = routed.lab.channels()
            for c in left:
                routed.lab.hangup(str(c["Channel"]))
            problems.append(f"channels left behind: {[c['Channel'] for c in left]}")
        assert not problems, problems


def link(**kw: Any) -> dict[str, Any]:
    base: dict[str, Any] = {"id": "1", "room": ROOM, "number": NUMBER, "ring_timeout": 20, "linger": 0,
                            "callerid": CALLERID, "retry": {"max_attempts": 5, "backoff": [60]}}
    base.update(kw)
    return base


def our_channels(lab: labmod.Lab, start: int) -> list[dict[str, Any]]:
    """Newchannel events of the worker's calls (any half)."""
    return [e for e in lab.a.find_events("Newchannel", start) if str(e.get("Uniqueid", "")).startswith("conflink-")]


def core_cdr_actions(lab: labmod.Lab, start: int, linkedid: str) -> list[str]:
    """Actions Core's Lua reported for a call (its UserEvent CdrConnector, the CEL event's twin)."""
    actions = []
    for e in lab.a.find_events("UserEvent", start):
        if e.get("UserEvent") != "CdrConnector" or e.get("Linkedid") != linkedid:
            continue
        data = json.loads(base64.b64decode(str(e.get("AgiData", ""))))
        actions.append(str(data.get("action")))
    return actions


def test_provider_mode_dials_the_number_as_entered_and_ignores_the_routes(routed: RoutedLab, env: LabDriver) -> None:
    lab = routed.lab
    sa, sb = lab.sipp("answer-and-hold", endpoint=routed.a), lab.sipp("answer-and-hold", endpoint=routed.b)
    env.write_config([link(endpoint=routed.a)])
    env.start_worker()
    mark = lab.a.mark()
    h = lab.join(ROOM)
    invite = sa.wait_for(sa.invites, 1, timeout=10)[0]
    assert invite.ruri_user == NUMBER  # no prepend/trim: the routes are not involved
    ext = env.wait_ext_join(mark, ROOM, timeout=10)
    assert ext["Channel"].startswith(f"PJSIP/{routed.a}-")
    assert not [e for e in our_channels(lab, mark) if e["Channel"].startswith("Local/")]
    assert core_cdr_actions(lab, mark, ext["Uniqueid"]) == []  # Core's Lua dial never ran
    assert sb.invites() == []
    lab.leave(h)
    sa.wait_for(lambda: sa.byes("in"), 1, timeout=10)
    env.wait_no_conflink_channels()


def test_routes_mode_applies_cores_prepend_and_trim_joins_and_leaves_with_the_room(
    routed: RoutedLab, env: LabDriver
) -> None:
    lab = routed.lab
    sa, sb = lab.sipp("answer-and-hold", endpoint=routed.a), lab.sipp("answer-and-hold", endpoint=routed.b)
    # MikoPBX's transfer codes inside the sequence: digits for the far end, never a transfer
    env.write_config([link(dial_via="routes", dtmf=DIGITS)])
    assert "endpoint" not in env.config["links"][0]
    env.start_worker()
    mark = lab.a.mark()
    h = lab.join(ROOM)
    invite = sa.wait_for(sa.invites, 1, timeout=10)[0]
    assert invite.ruri_user == AT_A  # Core's route 1: trim 1, prepend 8
    assert f'"{CALLERID}" <sip:{CALLERID}@' in invite.raw  # the link's caller ID on the provider leg
    # the DTMF goes out through the Local pair and Core's bridge to the provider
    sa.wait_for(lambda: sa.infos(invite.call_id), len(DIGITS), timeout=15)
    assert sa.digits(invite.call_id) == DIGITS
    ext = env.wait_ext_join(mark, ROOM, timeout=10)
    call_id = ext["Uniqueid"]
    assert ";" not in call_id and ext["Channel"].startswith(f"Local/{NUMBER}@conflink-route-")
    assert ext["Channel"].endswith(";1")
    status = env.wait_link("1", lambda lk: lk["state"] == "connected", 10, "connected")
    assert status["external_channel"] == ext["Channel"]
    members = {m["Uniqueid"] for m in lab.confbridge_list(ROOM)}
    assert members == {h.uniqueid, call_id}  # the ;2 half is never in the room
    # Core's own call history path ran for it: Lua dial, create channel, answer
    actions = core_cdr_actions(lab, mark, call_id)
    assert actions[:3] == ["dial", "dial_create_chan", "dial_answer"], actions
    assert sb.invites() == []
    observe(1.0, "one call only: nothing else is dialled while it is up")
    assert len(sa.invites()) == 1 and len([e for e in our_channels(lab, mark) if ";" not in e["Uniqueid"]]) == 1

    lab.leave(h)
    sa.wait_for(lambda: sa.byes("in"), 1, timeout=10)
    env.wait_no_conflink_channels()
    assert "hangup_chan" in core_cdr_actions(lab, mark, call_id)
    assert env.link("1")["state"] == "idle"


def test_room_controls_work_on_the_routed_call(routed: RoutedLab, env: LabDriver) -> None:
    """Keys from the room, the administrator's digits and mute act on our ;1 half and reach
    the provider behind Core's route (## is MikoPBX's attended-transfer code: still digits)."""
    lab = routed.lab
    sa = lab.sipp("answer-and-hold", endpoint=routed.a)
    env.write_config([link(dial_via="routes", room_keys="##")])
    env.start_worker()
    mark = lab.a.mark()
    inside = lab.join(ROOM)
    invite = sa.wait_for(sa.invites, 1, timeout=10)[0]
    ext = env.wait_ext_join(mark, ROOM, timeout=10)["Channel"]
    for digit in "##":
        resp = lab.a.action({"Action": "PlayDTMF", "Channel": inside.channel, "Digit": digit,
                             "Duration": "120", "Receive": "true"})
        assert resp[0].get("Response") == "Success", resp
    wait_until(lambda: sa.digits(invite.call_id) == "##", 10, "the room's ## at the far end")
    res = env.ctl("dtmf", "1", "**7")
    assert res.returncode == 0, res.stdout + res.stderr
    wait_until(lambda: sa.digits(invite.call_id) == "##**7", 10, "the administrator's **7 at the far end")
    assert env.ctl("mute", "1").returncode == 0
    wait_until(lambda: {m.get("Channel"): m.get("Muted") for m in lab.confbridge_list(ROOM)}.get(ext) == "Yes", 10,
               "ConfBridge shows our ;1 half muted")
    env.wait_link("1", lambda lk: lk["external_muted"] and lk["state"] == "connected", 10, "status: muted")
    lab.leave(inside)
    sa.wait_for(lambda: sa.byes("in"), 1, timeout=10)
    env.wait_no_conflink_channels()


@pytest.mark.parametrize("refusal", ["unavailable-503", "notfound-404"])
def test_routes_fail_over_to_the_next_provider(routed: RoutedLab, env: LabDriver, refusal: str) -> None:
    lab = routed.lab
    sa, sb = lab.sipp(refusal, endpoint=routed.a), lab.sipp("answer-and-hold", endpoint=routed.b)
    env.write_config([link(dial_via="routes")])
    env.start_worker()
    mark = lab.a.mark()
    h = lab.join(ROOM)
    assert sa.wait_for(sa.invites, 1, timeout=10)[0].ruri_user == AT_A
    invite = sb.wait_for(sb.invites, 1, timeout=10)[0]
    assert invite.ruri_user == NUMBER  # route 2: unchanged
    ext = env.wait_ext_join(mark, ROOM, timeout=10)
    assert ";" not in ext["Uniqueid"]
    env.wait_link("1", lambda lk: lk["state"] == "connected", 10, "connected through B")
    lab.leave(h)
    sb.wait_for(lambda: sb.byes("in"), 1, timeout=10)
    env.wait_no_conflink_channels()


# (scenario at A, at B, ring_timeout, what last_error says) — measured on this lab, see
# docs/testing.md "Dialling through the outgoing routes".
FAILURES = [
    # (busy: when the provider leg's Hangup (17/486) comes after our ;1's, the attempt first says
    # "busy" from its DialEnd, then the ;2 half's Hangup revises it; the test waits for the end)
    pytest.param("busy-486", "answer-and-hold", 20, "busy (486)", id="busy"),
    pytest.param("unavailable-503", "unavailable-503", 20, "2 routes tried, the last: service unavailable (503)",
                 id="all-routes-fail"),
    pytest.param("never-answer", "answer-and-hold", 5, "no answer (cause 19)", id="no-answer"),
]


@pytest.mark.parametrize(("at_a", "at_b", "ring_timeout", "error"), FAILURES)
def test_a_routed_failure_says_why(routed: RoutedLab, env: LabDriver, at_a: str, at_b: str, ring_timeout: int,
                                   error: str) -> None:
    lab = routed.lab
    sa, sb = lab.sipp(at_a, endpoint=routed.a), lab.sipp(at_b, endpoint=routed.b)
    env.write_config([link(dial_via="routes", ring_timeout=ring_timeout)])
    env.start_worker()
    h = lab.join(ROOM)
    sa.wait_for(sa.invites, 1, timeout=10)
    status = env.wait_link("1", lambda lk: lk["state"] == "backoff" and lk["last_error"] == error,
                           ring_timeout + 15, f"the attempt failed: {error}")
    assert status["attempts"] == 1 and not status["permanent_failure"]
    if at_a == "busy-486":
        assert sb.invites() == []  # Core's route answers busy itself: no failover on busy
    lab.leave(h)
    env.wait_no_conflink_channels()


def test_a_number_no_route_takes_fails_clearly_and_is_retried_per_backoff(routed: RoutedLab, env: LabDriver) -> None:
    lab = routed.lab
    sa, sb = lab.sipp("answer-and-hold", endpoint=routed.a), lab.sipp("answer-and-hold", endpoint=routed.b)
    backoff = 2.0
    env.write_config([link(dial_via="routes", number=NO_ROUTE, retry={"max_attempts": 2, "backoff": [backoff]})])
    env.start_worker()
    mark = lab.a.mark()
    h = lab.join(ROOM)
    status = env.wait_link("1", lambda lk: lk["state"] == "backoff" and lk["last_error"] == NO_ROUTE_ERROR, 20,
                           "the first attempt failed: no route")
    assert not status["permanent_failure"]  # a route may be added: retried
    status = env.wait_link("1", lambda lk: lk["stop"] == "gave_up", 30, "the second attempt failed: gave up")
    assert status["attempts"] == 2
    assert NO_ROUTE_ERROR in status["last_error"]
    # one attempt at a time, the second after the back-off
    ours = [e for e in lab.a.find_events(start=mark) if e.get("Event") in ("Newchannel", "Hangup")
            and str(e.get("Uniqueid", "")).startswith("conflink-1-") and ";" not in str(e["Uniqueid"])]
    assert [e["Event"] for e in ours] == ["Newchannel", "Hangup", "Newchannel", "Hangup"], ours
    assert ours[2]["_t"] - ours[1]["_t"] >= backoff - 0.1
    assert sa.invites() == [] and sb.invites() == []
    observe(backoff + 0.5, "no third attempt after giving up")
    assert len([e for e in our_channels(lab, mark) if ";" not in e["Uniqueid"]]) == 2
    lab.leave(h)
    env.wait_no_conflink_channels()

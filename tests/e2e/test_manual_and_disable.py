"""Disabled links and the admin's manual controls (conflink-ctl dial / hangup / test call)."""

from __future__ import annotations

import time
from typing import Any

from e2e_support import E2E
from lab import observe

ROOM = "354233"


def link(**kw: Any) -> dict[str, Any]:
    return {"id": "1", "room": ROOM, "number": "100", "dtmf": "1#", "dtmf_delay": 0.2,
            "retry": {"backoff": [1]}, **kw}


def push(e2e: E2E, **kw: Any) -> None:
    endpoint = e2e.config["control"]["endpoint"]  # the one the running worker is bound to
    e2e.config = e2e.lab.write_worker_config(e2e.config_path, [link(**kw)], control_endpoint=endpoint)
    res = e2e.ctl("push-config", str(e2e.config_path))
    assert res.returncode == 0, res.stdout + res.stderr


def state(e2e: E2E) -> str:
    return e2e.status()["links"][0]["state"]


def test_disabled_link_never_dials_and_disabling_a_live_link_hangs_up(e2e: E2E) -> None:
    sipp = e2e.lab.sipp("answer-and-hold")
    e2e.write_config([link(enabled=False)])
    e2e.start_worker()
    e2e.lab.join(ROOM)
    observe(1.5, "a disabled link must not dial")
    assert sipp.invites() == [] and state(e2e) == "disabled"

    mark = e2e.lab.a.mark()
    t_enable = time.time()
    push(e2e, enabled=True)  # internals are already in: enabling dials at once
    invite = sipp.wait_for(sipp.invites, 1, timeout=5)[0]
    e2e.record("enable_to_invite", invite.t - t_enable)
    e2e.wait_ext_join(mark, ROOM)

    t_disable = time.time()
    push(e2e, enabled=False)
    bye = sipp.wait_for(lambda: sipp.byes("in"), 1, timeout=5)[0]
    e2e.record("disable_to_bye", bye.t - t_disable)
    observe(1.5, "a redial of the disabled link would show up")
    assert len(sipp.invites()) == 1 and state(e2e) == "disabled"
    assert e2e.lab.conflink_channels() == []


def test_manual_dial_hangup_and_test_call(e2e: E2E) -> None:
    sipp = e2e.lab.sipp("answer-and-hold")
    e2e.write_config([link()])
    e2e.start_worker()

    refused = e2e.ctl("dial", "1")
    assert refused.returncode == 1 and "empty" in (refused.stdout + refused.stderr)
    assert sipp.invites() == []

    t_test = time.time()
    test_call = e2e.ctl("dial", "1", "--force", "--seconds", "3")
    assert test_call.returncode == 0, test_call.stdout + test_call.stderr
    sipp.wait_for(sipp.invites, 1, timeout=5)
    bye = sipp.wait_for(lambda: sipp.byes("in"), 1, timeout=8)[0]
    assert 2.8 < bye.t - t_test < 4.5, f"test call lasted {bye.t - t_test:.1f} s, asked for 3 s"
    e2e.wait_link("1", lambda lk: lk["state"] == "idle", 5, "idle after the test call")
    assert len(sipp.invites()) == 1

    mark = e2e.lab.a.mark()
    h = e2e.lab.join(ROOM)
    e2e.wait_ext_join(mark, ROOM)
    assert e2e.ctl("hangup", "1").returncode == 0
    sipp.wait_for(lambda: sipp.byes("in"), 2, timeout=5)
    observe(2.0, "the back-off is 1 s: an automatic redial would have happened by now")
    assert len(sipp.invites()) == 2 and state(e2e) == "held"
    # A pushed change of the retry settings must not lift the administrator's hold.
    push(e2e, retry={"backoff": [1], "max_attempts": 9})
    observe(2.0, "a redial would come 1 s after the push")
    lk = e2e.status()["links"][0]
    assert len(sipp.invites()) == 2 and lk["state"] == "held" and lk["stop"] == "held", lk

    assert e2e.ctl("dial", "1").returncode == 0  # "call now" lifts the hold
    sipp.wait_for(sipp.invites, 3, timeout=5)
    e2e.lab.leave(h)
    sipp.wait_for(lambda: sipp.byes("in"), 3, timeout=5)
    assert e2e.lab.conflink_channels() == []

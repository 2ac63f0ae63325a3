"""An answered call that never reaches the room is a failed attempt (design: an Originate
counts as connected only when its ConfbridgeJoin arrives within a deadline)."""

from __future__ import annotations

from pathlib import Path

import pytest
from e2e_support import ASTERISK_VERSIONS, E2E, labmod

# A join context that answers and then never enters ConfBridge, like a dialplan that fails
# after the answer. Loaded beside the module's own conflink-join.
NEVER_JOIN = """
[conflink-lab-never-join]
exten => _X!,1,NoOp(answered, never joins the room)
 same => n,Wait(120)
 same => n,Hangup()
"""


@pytest.fixture
def never_join_e2e(prerequisites: None, tmp_path: Path, request: pytest.FixtureRequest):
    lab = labmod.Lab(name="never-join", join_dialplan=labmod.render_join_dialplan() + NEVER_JOIN)
    lab.start()
    ASTERISK_VERSIONS.add(lab.asterisk_version)
    env = E2E(lab, tmp_path, request.node.name)
    try:
        yield env
    finally:
        env.stop_all(timed=False)
        print(env.dump())
        lab.stop()


def test_answered_but_never_joined_is_hung_up_and_retried(never_join_e2e: E2E) -> None:
    e2e = never_join_e2e
    sipp = e2e.lab.sipp("answer-and-hold")
    e2e.lab.write_worker_config(
        e2e.config_path,
        [{"id": "1", "room": "354233", "number": "100", "dtmf": "", "dtmf_delay": 0, "ring_timeout": 5,
          "retry": {"max_attempts": 2, "backoff": [1]}}],
        join_context="conflink-lab-never-join",
    )
    e2e.start_worker()
    e2e.lab.join("354233")
    first = sipp.wait_for(sipp.invites, 1, timeout=5)[0]
    # deadline = ring_timeout 5 s + DTMF delay 0 + no digits + 15 s margin
    bye = sipp.wait_for(lambda: sipp.byes("in"), 1, timeout=30)[0]
    waited = bye.t - first.t
    e2e.record("answered_never_joined_to_bye", waited)
    assert 19.0 < waited < 22.0, f"hung up {waited:.1f} s after the INVITE, expected ~20 s"
    second = sipp.wait_for(sipp.invites, 2, timeout=5)[1]
    assert 0.9 < second.t - bye.t < 2.5, "retry should follow the 1 s back-off"
    link = e2e.wait_link("1", lambda lk: lk["attempts"] == 2, 5, "the second attempt in status")
    first_attempt = link["attempt_log"][0]
    assert first_attempt["result"] == "failed" and "did not reach the room" in first_attempt["cause"]
    assert link["attempts"] == 2 and link["state"] == "dialing"

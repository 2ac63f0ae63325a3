"""Scenario 5: the provider failure matrix, played by SIPp, all cases side by side in one lab
(one PJSIP endpoint, SIPp and room per case, one worker).

Every link: ring_timeout 5, retry max_attempts 3 (2 for no-answer), backoff [1, 2]. What must
hold per case (design.md, behaviour list):
- busy (486) / 503: retried with the back-off, stops after max_attempts, says why, not permanent;
- 404 / 484 / 403 / 603 ("this number will not work"): ONE attempt, stop at once, permanent_failure
  and the cause in status; a refill of the room tries again;
- no answer: each attempt cancelled at ring_timeout, retried, then stops;
- answered, then BYE from the far end after 5 s: redialled after backoff[0], connected again.
"""

from __future__ import annotations

import itertools
import json
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from conftest import Env, close_env, make_env, record
from lab import observe

FAULTS = Path(__file__).resolve().parent
REJECT = str(FAULTS / "sipp" / "reject-then-answer.xml")
BACKOFF = [1, 2]
RING_TIMEOUT = 5
OBSERVE_S = 19.0
SLACK_S = 2.5  # failure detection (Hangup event, or the 1 s grace after OriginateResponse) + polling


@dataclass
class Case:
    name: str
    scenario: str
    params: dict[str, Any] = field(default_factory=dict)
    max_attempts: int = 3
    expect_invites: int = 3
    permanent: bool = False
    cause_text: str = ""
    refill: bool = False  # empty and refill the room once the link stopped


CASES = [
    Case("busy486", "busy-486", cause_text="486"),
    Case("unavail503", "unavailable-503", cause_text="503"),
    Case("notfound404", "notfound-404", expect_invites=1, permanent=True, cause_text="404"),
    Case("decline603", "decline-603", expect_invites=1, permanent=True, cause_text="603"),
    Case("invalid484", REJECT, {"STATUS": 484, "PHRASE": "Address Incomplete", "REJECT_CALLS": 1000},
         expect_invites=1, permanent=True, cause_text="484"),
    Case("forbidden403", REJECT, {"STATUS": 403, "PHRASE": "Forbidden", "REJECT_CALLS": 1000},
         expect_invites=1, permanent=True, cause_text="403"),
    Case("noanswer", "never-answer", max_attempts=2, expect_invites=2, cause_text="no answer"),
    Case("bye5s", "answer-then-bye", {"BYE_CALLS": 1, "HOLD_MS": 5000}, expect_invites=2),
    Case("refill404", REJECT, {"STATUS": 404, "PHRASE": "Not Found", "REJECT_CALLS": 1},
         expect_invites=2, permanent=True, cause_text="404", refill=True),
]


@dataclass
class Result:
    case: Case
    room: str
    invites: list[float]
    finals: list[int]
    cancels: list[float]
    byes_out: list[float]
    samples: list[dict[str, Any]]
    final: dict[str, Any]
    stop_t: float | None
    refill_t: float | None
    hangups: list[tuple[str, str, str]]  # (Cause, Cause-txt, TechCause) of the conflink channels


@pytest.fixture(scope="module")
def matrix(prerequisites: None, tmp_path_factory: pytest.TempPathFactory,
           request: pytest.FixtureRequest) -> Iterator[dict[str, Result]]:
    env = make_env(request, tmp_path_factory.mktemp("matrix"), endpoints=tuple(f"SIP-{c.name}" for c in CASES))
    try:
        yield _run(env)
    finally:
        close_env(env)


def _run(env: Env) -> dict[str, Result]:
    rooms = {c.name: str(740001 + i) for i, c in enumerate(CASES)}
    sipps = {c.name: env.lab.sipp(c.scenario, endpoint=f"SIP-{c.name}", **c.params) for c in CASES}
    env.write_config([
        {"id": c.name, "room": rooms[c.name], "endpoint": f"SIP-{c.name}", "number": f"5{i:02d}",
         "dtmf": "12#", "dtmf_delay": 0, "ring_timeout": RING_TIMEOUT, "linger": 0,
         "retry": {"max_attempts": c.max_attempts, "backoff": BACKOFF, "redial_on_drop": True}}
        for i, c in enumerate(CASES)
    ])
    env.start_worker()
    mark = env.lab.a.mark()
    # every room gets its participant at once (one write), so sampling sees the first attempts
    bursts = {c.name: env.burst_join(rooms[c.name], 1) for c in CASES}
    for b in bursts.values():
        env.await_joins(b[0], b[1])
    handles = {name: b[0][0] for name, b in bursts.items()}
    samples: dict[str, list[dict[str, Any]]] = {c.name: [] for c in CASES}
    stop_t: dict[str, float] = {}
    refill_t: dict[str, float] = {}
    t_end = time.monotonic() + OBSERVE_S
    while time.monotonic() < t_end:
        now = time.time()
        for lk in env.status()["links"]:
            samples[lk["id"]].append({"t": now, **{k: lk[k] for k in (
                "state", "attempts", "next_attempt_in", "stopped_reason", "permanent_failure")}})
            if lk["stopped_reason"] and lk["id"] not in stop_t:
                stop_t[lk["id"]] = now
        for c in CASES:
            if c.refill and c.name in stop_t and c.name not in refill_t:
                env.lab.leave(handles[c.name])
                observe(0.3, "the room stays empty a moment: a new busy period, not the same one")
                handles[c.name] = env.lab.join(rooms[c.name])
                refill_t[c.name] = time.time()
        observe(0.2, "sampling interval of the status")
    final = {lk["id"]: lk for lk in env.status()["links"]}
    out: dict[str, Result] = {}
    for c in CASES:
        s = sipps[c.name]
        out[c.name] = Result(
            case=c, room=rooms[c.name], invites=[m.t for m in s.invites()],
            finals=[m.status for m in s.finals() if m.status is not None], cancels=[m.t for m in s.cancels()],
            byes_out=[m.t for m in s.byes("out")], samples=samples[c.name], final=final[c.name],
            stop_t=stop_t.get(c.name), refill_t=refill_t.get(c.name),
            hangups=[(str(e.get("Cause")), str(e.get("Cause-txt")), str(e.get("TechCause", "")))
                     for e in env.lab.a.find_events("Hangup", start=mark)
                     if str(e.get("Uniqueid", "")).startswith(f"conflink-{c.name}-")],
        )
    for h in handles.values():
        env.lab.leave(h, wait=False)
    env.wait_no_conflink_channels(10)
    env.assert_no_lone()
    return out


def _gaps(ts: list[float]) -> list[float]:
    return [round(b - a, 2) for a, b in itertools.pairwise(ts)]


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_provider_failure(matrix: dict[str, Result], case: Case) -> None:
    r = matrix[case.name]
    lk = r.final
    log = lk["attempt_log"]
    max_next = max((s["next_attempt_in"] or 0) for s in r.samples)
    states = []
    for s in r.samples:
        if not states or states[-1] != s["state"]:
            states.append(s["state"])
    record("provider_matrix", case.name, {
        "INVITEs": len(r.invites), "finals": r.finals, "gaps_s": _gaps(r.invites), "states": states,
        "attempts": lk["attempts"], "max_attempts": lk["max_attempts"], "last_error": lk["last_error"],
        "permanent_failure": lk["permanent_failure"], "stopped_reason": lk["stopped_reason"],
        "max_next_attempt_in": max_next, "attempt_log": [(a["result"], a["cause"]) for a in log],
        "hangup_events": r.hangups,
    })
    detail = json.dumps(lk, indent=1)
    assert len(r.invites) == case.expect_invites, f"{len(r.invites)} INVITEs, expected {case.expect_invites}\n{detail}"
    if case.name == "bye5s":
        # answered, dropped by the far end after ~5 s, redialled after backoff[0], connected again
        assert r.byes_out, "SIPp sent no BYE"
        redial = r.invites[1] - r.byes_out[0]
        assert BACKOFF[0] - 0.2 <= redial <= BACKOFF[0] + SLACK_S, f"redial {redial:.2f} s after the BYE"
        assert lk["state"] == "connected" and lk["external_joined"], detail
        assert [a["result"] for a in log] == ["dropped", "connected"], log
        assert not lk["stopped_reason"] and not lk["permanent_failure"], detail
        return
    if case.refill:
        # stopped at once on the 404; the room emptied and filled again → one more attempt, answered
        first = log[0]
        assert first["result"] == "failed" and case.cause_text in first["cause"], log
        assert r.stop_t is not None and r.refill_t is not None, "the link never reported the stop"
        assert r.invites[1] > r.refill_t - 0.5, "a second attempt came before the room was refilled"
        assert [a["result"] for a in log] == ["failed", "connected"], log
        assert lk["state"] == "connected" and not lk["permanent_failure"] and not lk["stopped_reason"], detail
        return
    # every failing case ends stopped, with the cause in status
    assert lk["state"] == "failed", detail
    assert lk["stopped_reason"], detail
    assert case.cause_text in lk["last_error"], f"last_error {lk['last_error']!r} does not name {case.cause_text!r}"
    assert case.cause_text in lk["stopped_reason"], f"stopped_reason {lk['stopped_reason']!r}"
    assert lk["permanent_failure"] is case.permanent, detail
    assert lk["next_attempt_in"] is None, detail
    assert all(a["result"] == "failed" for a in log), log
    assert all(case.cause_text in a["cause"] for a in log), log
    if case.permanent:
        assert "will not work" in lk["stopped_reason"], lk["stopped_reason"]
        assert lk["attempts"] == 1 and len(log) == 1, detail
        return
    assert lk["attempts"] == case.max_attempts == lk["max_attempts"], detail
    assert f"gave up after {case.max_attempts}" in lk["stopped_reason"], lk["stopped_reason"]
    # back-off between attempts: the attempt's own duration (ring_timeout for no answer) + backoff[k]
    ring = RING_TIMEOUT if case.name == "noanswer" else 0
    for k, gap in enumerate(_gaps(r.invites)):
        want = ring + BACKOFF[min(k, len(BACKOFF) - 1)]
        assert want - 0.2 <= gap <= want + SLACK_S, f"gap {k}: {gap} s, expected {want} s (+{SLACK_S})"
    if ring:
        assert len(r.cancels) == case.expect_invites, f"{len(r.cancels)} CANCELs (ring timeout)"
        for inv, can in zip(r.invites, r.cancels, strict=False):
            assert RING_TIMEOUT - 0.5 <= can - inv <= RING_TIMEOUT + 1.5, f"CANCEL {can - inv:.2f} s after INVITE"
    assert 0 < max_next <= max(BACKOFF), f"next_attempt_in never showed the back-off ({max_next})"
    assert "backoff" in states, states

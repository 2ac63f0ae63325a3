"""How the worker stops: a final stop leaves no external call behind; a restart keeps it."""

from __future__ import annotations

import os
import signal
import time

from e2e_support import E2E
from lab import observe


def link() -> dict[str, object]:
    return {"id": "1", "room": "354233", "number": "100", "dtmf": "1#", "dtmf_delay": 0.2,
            "retry": {"backoff": [1]}}


def test_sigterm_hangs_up_the_external_call_before_exiting(e2e: E2E) -> None:
    sipp = e2e.lab.sipp("answer-and-hold")
    e2e.write_config([link()])
    w = e2e.start_worker()
    mark = e2e.lab.a.mark()
    e2e.lab.join("354233")
    e2e.wait_ext_join(mark, "354233")
    t0 = time.time()
    e2e.stop_worker(w)  # asserts exit 0 within the 2 s limit
    bye = sipp.wait_for(lambda: sipp.byes("in"), 1, timeout=3)[0]
    e2e.record("sigterm_to_bye", bye.t - t0)
    assert e2e.lab.conflink_channels() == [], "an external call outlived the worker's final stop"


def test_sigusr1_restart_keeps_the_call_for_the_next_worker(e2e: E2E) -> None:
    sipp = e2e.lab.sipp("answer-and-hold")
    e2e.write_config([link()])
    w1 = e2e.start_worker()
    mark = e2e.lab.a.mark()
    h = e2e.lab.join("354233")
    ext = e2e.wait_ext_join(mark, "354233")
    t0 = time.monotonic()
    os.kill(w1.pid, signal.SIGUSR1)
    w1.proc.wait(timeout=3)
    assert time.monotonic() - t0 < 2.0 and w1.proc.returncode == 0
    observe(0.5, "a BYE sent by the stopping worker would reach SIPp")
    assert sipp.byes() == [], "a restart must not hang up the call"
    e2e.start_worker()
    observe(2.0, "a second call of the restarted worker would show up")
    assert len(sipp.invites()) == 1, "the restarted worker dialled a second call"
    assert [c["Uniqueid"] for c in e2e.lab.conflink_channels()] == [ext["Uniqueid"]]
    e2e.lab.leave(h)
    sipp.wait_for(lambda: sipp.byes("in"), 1, timeout=5)

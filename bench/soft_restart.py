"""MikoPBX's soft restart of the module's supervisor, repeated with one live call (bench step).

The same play as tests/e2e/test_soft_restart.py (core's part and the supervisor stand-in are
tests/lab/softrestart.py): each cycle sends the running supervisor SIGUSR1, waits as core
does, starts a new supervisor and reads the gap from the worker log. The call must survive
every cycle: one INVITE in all, no BYE until the room empties.
"""

from __future__ import annotations

import shutil
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import softrestart as sr
from lab import Lab

ROOM = "1002"


def _wait(cond: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise RuntimeError(f"soft restart bench: {what} not within {timeout} s")
        time.sleep(0.05)


def soft_restart_cycles(L: Lab, cycles: int) -> dict[str, Any]:
    for s in L.sipps:
        if s.running():
            s.stop()
    sipp = L.sipp("answer-and-hold")
    home = Path(tempfile.mkdtemp(prefix="conflink-bench-restart-"))
    wrappers: list[sr.Wrapper] = []
    gaps: list[sr.Gap] = []
    try:
        sr.config_path(home).parent.mkdir(parents=True)
        L.write_worker_config(sr.config_path(home), [{"id": "r", "room": ROOM, "number": "100", "dtmf": "",
                                                      "dtmf_delay": 0}])
        log = sr.worker_log(home)
        wrappers.append(sr.Wrapper(home, 0))
        _wait(lambda: sr.log_times(log, "resync done"), 15, "first worker ready")
        mark = L.a.mark()
        h = L.join(ROOM)
        ext = L.a.wait_event(lambda e: e.get("Event") == "ConfbridgeJoin" and e.get("Conference") == ROOM
                             and str(e.get("Uniqueid", "")).startswith("conflink-"), 10, mark)
        for i in range(cycles):
            counts = [len(sr.log_times(log, m)) for m in ("stopping", "AMI ready", "resync done")]
            exit_s, check = sr.core_soft_restart(wrappers[-1])
            wrappers.append(sr.Wrapper(home, i + 1))
            _wait(lambda c=counts: len(sr.log_times(log, "resync done")) > c[2], 15, "new worker's resync")
            gaps.append(sr.measure_gap(log, counts[0], counts[1], counts[2], exit_s, check))
            time.sleep(0.3)
        calls = [c["Uniqueid"] for c in L.conflink_channels()]
        invites, byes = len(sipp.invites()), len(sipp.byes())
        L.leave(h)
    finally:
        for w in reversed(wrappers):
            w.stop()
        sipp.stop()
        shutil.rmtree(home, ignore_errors=True)
    ok = calls == [ext["Uniqueid"]] and invites == 1 and byes == 0

    def stats(values: list[float]) -> dict[str, float]:
        return {"median": statistics.median(values), "max": max(values)}

    return {
        "cycles": cycles,
        "wrapper_exit_s": stats([g.wrapper_exit_s for g in gaps]),
        "core_check": max(g.core_check for g in gaps),
        "event_gap_s": stats([g.event_gap_s for g in gaps]),
        "adopted_s": stats([g.adopted_s for g in gaps]),
        "one_call_kept": ok,
        "invites": invites,
    }

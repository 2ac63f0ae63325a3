"""MikoPBX's soft restart of the module's supervisor, with a live call, on the real lab.

Core's part and the supervisor stand-in are in tests/lab/softrestart.py. Asserted:
- the old supervisor is gone within core's window (it hands its worker over and exits at once);
- the old worker keeps handling events until the new supervisor takes over;
- the gap — old worker stops handling events → new worker handles its first (FullyBooted) —
  and the time until it has adopted the call stay within GAP_GOAL; the call is never dropped
  or dialled twice;
- a hung worker holds neither the old supervisor past core's window nor the call.
Figures go to the e2e latency summary (soft_restart_*) and are printed.
"""

from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path

import softrestart as sr
from e2e_support import E2E

ROOM = "354233"
GAP_GOAL = 2.0


def wait_adopted(e2e: E2E, call_id: str, timeout: float) -> dict:
    """Until status shows AMI ready and the link connected on `call_id`."""
    deadline = time.monotonic() + timeout
    last: object = None
    while time.monotonic() < deadline:
        res = e2e.ctl("status", "--json", timeout=5)
        if res.returncode == 0:
            st = json.loads(res.stdout)
            lk = st["links"][0] if st.get("links") else {}
            last = st
            if st["ami"].get("ready") and lk.get("state") == "connected" and lk.get("external_call_id") == call_id:
                return st
        time.sleep(0.1)
    raise AssertionError(f"the new worker did not adopt {call_id} within {timeout} s: {last}\n{e2e.dump()}")


def start_first(e2e: E2E) -> tuple[list[sr.Wrapper], Path]:
    home = e2e.tmp
    wrappers = [sr.Wrapper(home, 0)]
    e2e.config_path = sr.config_path(home)  # where ModulePaths puts it; e2e.ctl reads it
    e2e.write_config([{"id": "1", "room": ROOM, "number": "100", "dtmf": "", "dtmf_delay": 0,
                       "retry": {"backoff": [1]}}])
    log = sr.worker_log(home)
    deadline = time.monotonic() + 15
    while not sr.log_times(log, "resync done"):
        assert time.monotonic() < deadline, f"first worker not ready:\n{e2e.dump()}"
        assert wrappers[0].proc.poll() is None, wrappers[0].output.read_text()
        time.sleep(0.1)
    return wrappers, log


def finish(e2e: E2E, wrappers: list[sr.Wrapper], workers: list[int]) -> None:
    for w in reversed(wrappers):
        w.stop()
    left = [pid for pid in workers if sr.alive(pid)]
    for pid in left:  # only after a failure: never leave a (stopped) worker behind
        os.kill(pid, signal.SIGKILL)
    # The final stop (SIGTERM to the wrapper) leaves no worker and no call behind.
    assert left == [], f"workers left running: {left}"
    assert sr.worker_pid(e2e.tmp) is None
    assert e2e.lab.conflink_channels() == []


def test_soft_restart_hands_over_inside_cores_window_with_a_short_gap(e2e: E2E) -> None:
    sipp = e2e.lab.sipp("answer-and-hold")
    wrappers, log = start_first(e2e)
    workers = [pid for pid in [sr.worker_pid(e2e.tmp)] if pid]
    try:
        mark = e2e.lab.a.mark()
        h = e2e.lab.join(ROOM)
        ext = e2e.wait_ext_join(mark, ROOM)
        wait_adopted(e2e, ext["Uniqueid"], 10)  # connected, as seen by the first worker
        old = workers[0]

        exit_s, check = sr.core_soft_restart(wrappers[0])
        assert exit_s < 1.0, f"the old wrapper took {exit_s:.2f} s to exit"
        assert sr.worker_pid(e2e.tmp) == old, "the old wrapper stopped its worker instead of handing it over"
        assert sr.log_times(log, "stopping") == [], "the old worker stopped before the new wrapper took over"

        # Core starts the new wrapper; it stops the old worker (SIGUSR1: calls stay up) and starts its own.
        wrappers.append(sr.Wrapper(e2e.tmp, 1))
        st = wait_adopted(e2e, ext["Uniqueid"], 15)
        new = sr.worker_pid(e2e.tmp)
        workers += [new] if new else []
        assert new is not None and new != old and not sr.alive(old)
        gap = sr.measure_gap(log, 0, 1, 1, exit_s, check)
        print(f"\nsoft restart: old wrapper exited {exit_s:.3f} s after SIGUSR1 (core sees it at check {check}); "
              f"event gap {gap.event_gap_s:.3f} s (old worker stopping -> new worker's FullyBooted); "
              f"call adopted {gap.adopted_s:.3f} s after the old worker stopped")
        e2e.record("soft_restart_wrapper_exit", exit_s)
        e2e.record("soft_restart_event_gap", gap.event_gap_s)
        e2e.record("soft_restart_adopted", gap.adopted_s)
        assert gap.event_gap_s <= GAP_GOAL, f"gap {gap.event_gap_s:.3f} s > {GAP_GOAL} s\n{log.read_text()[-3000:]}"
        assert gap.adopted_s <= GAP_GOAL, f"adoption {gap.adopted_s:.3f} s after the stop > {GAP_GOAL} s"

        # One call all along: never dropped, never dialled twice, owned by the new worker.
        assert len(sipp.invites()) == 1 and sipp.byes() == [], e2e.dump()
        assert [c["Uniqueid"] for c in e2e.lab.conflink_channels()] == [ext["Uniqueid"]]
        assert st["links"][0]["external_call_id"] == ext["Uniqueid"]
        e2e.lab.leave(h)
        sipp.wait_for(lambda: sipp.byes("in"), 1, timeout=5)
    finally:
        finish(e2e, wrappers, workers)


def test_a_worker_that_does_not_stop_keeps_neither_the_wrapper_nor_the_call_hostage(e2e: E2E) -> None:
    """A hung worker (SIGSTOPped here) must not hold the old wrapper past core's window, or core
    starts no new one at all; the new wrapper kills it after its grace and adopts the call."""
    sipp = e2e.lab.sipp("answer-and-hold")
    wrappers, _ = start_first(e2e)
    workers = [pid for pid in [sr.worker_pid(e2e.tmp)] if pid]
    try:
        mark = e2e.lab.a.mark()
        h = e2e.lab.join(ROOM)
        ext = e2e.wait_ext_join(mark, ROOM)
        wait_adopted(e2e, ext["Uniqueid"], 10)
        old = workers[0]
        os.kill(old, signal.SIGSTOP)
        exit_s, _ = sr.core_soft_restart(wrappers[0])
        t_new = time.monotonic()
        wrappers.append(sr.Wrapper(e2e.tmp, 1))
        wait_adopted(e2e, ext["Uniqueid"], 20)
        took = time.monotonic() - t_new
        workers += [pid for pid in [sr.worker_pid(e2e.tmp)] if pid]
        assert not sr.alive(old)
        e2e.record("soft_restart_hung_worker_adopted", took)
        print(f"\nhung worker: old wrapper exited {exit_s:.3f} s after SIGUSR1; "
              f"the new wrapper adopted the call {took:.2f} s after its start")
        assert len(sipp.invites()) == 1 and sipp.byes() == [], e2e.dump()
        assert [c["Uniqueid"] for c in e2e.lab.conflink_channels()] == [ext["Uniqueid"]]
        e2e.lab.leave(h)
        sipp.wait_for(lambda: sipp.byes("in"), 1, timeout=5)
    finally:
        finish(e2e, wrappers, workers)

"""MikoPBX's soft restart of the module's wrapper, with a live call, on the real lab.

Core restarts every worker with SIGUSR1 (on any module enable/disable, for one) and, for each,
waits at most 5 s, checking once a second, for the old process to exit; if it is still alive,
core starts no new one (Processes::handleRestartAction, soft restart). This test plays core's
part around the module's real supervisor (tests/e2e/php/wrapper.php: ChildSupervisor wired to
signals as Lib/WorkerConferenceLinkPy wires them) and the real Python worker it runs:

- the old wrapper must be gone within core's window (it hands its worker over and exits);
- the old worker keeps handling events until the new wrapper takes over;
- the gap — the old worker stops handling events ("stopping" in its log) → the new worker
  handles its first one (FullyBooted: "AMI ready") — and the time until it has adopted the
  call (its resync done) stay within GAP_GOAL; the call is never dropped or dialled twice.
Figures go to the e2e latency summary (soft_restart_*).
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import time
from datetime import datetime, timedelta
from pathlib import Path

from e2e_support import E2E, labmod

ROOM = "354233"
CORE_WAIT_S = 5  # Processes::handleRestartAction, soft restart: waitForProcessesExit($pids, 5)
GAP_GOAL = 2.0
WRAPPER = Path(__file__).resolve().parent / "php" / "wrapper.php"
LOG_LINE = re.compile(r"^(\d\d:\d\d:\d\d\.\d{3}) \w+ (\S+) (.*)$")


class Wrapper:
    """`php wrapper.php` as core would run the module's worker class."""

    def __init__(self, tmp: Path, n: int) -> None:
        self.tmp = tmp
        self.stderr = open(tmp / f"wrapper-{n}.log", "ab")
        self.proc = subprocess.Popen(
            ["php", str(WRAPPER), str(labmod.REPO), str(tmp / "etc"), str(tmp / "run"), str(tmp / "log")],
            stdin=subprocess.DEVNULL, stdout=self.stderr, stderr=subprocess.STDOUT, start_new_session=True,
        )

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)
        self.stderr.close()


def alive(pid: int) -> bool:
    """Running, not a zombie (the handed-over worker's parent has exited; who reaps it varies)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return False


def worker_pid(tmp: Path) -> int | None:
    try:
        pid = int((tmp / "run" / "conflink-worker.pid").read_text().strip())
    except (OSError, ValueError):
        return None
    return pid if alive(pid) else None


def log_times(log: Path, message: str) -> list[datetime]:
    """Times of the worker log lines whose message starts with `message` (HH:MM:SS.mmm, today)."""
    today = datetime.now().date()
    out = []
    for line in log.read_text(errors="replace").splitlines():
        m = LOG_LINE.match(line)
        if m and m.group(3).startswith(message):
            out.append(datetime.combine(today, datetime.strptime(m.group(1), "%H:%M:%S.%f").time()))
    return out


def seconds(a: datetime, b: datetime) -> float:
    d = b - a
    return (d + timedelta(days=1) if d < timedelta(0) else d).total_seconds()  # across midnight


def wait_adopted(e2e: E2E, call_id: str, timeout: float) -> dict:
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


def core_soft_restart(wrapper: Wrapper) -> tuple[float, int]:
    """Core's part: SIGUSR1, then a check once a second, at most CORE_WAIT_S times, that the
    wrapper is gone. Returns (seconds until it exited, the check that saw it); asserts core
    would start a new one. Returns at the time core would start it."""
    t0 = time.monotonic()
    os.kill(wrapper.proc.pid, signal.SIGUSR1)
    exit_s = None
    while time.monotonic() - t0 < CORE_WAIT_S:
        if wrapper.proc.poll() is not None:
            exit_s = time.monotonic() - t0
            break
        time.sleep(0.01)
    assert exit_s is not None, f"old wrapper still alive after core's {CORE_WAIT_S} s: core would start no new one"
    assert wrapper.proc.returncode == 0
    check = int(exit_s) + 1  # check 0 runs right after the kill; the next ones a second apart
    time.sleep(max(0.0, t0 + check - time.monotonic()))
    return exit_s, check


def start_first(e2e: E2E) -> tuple[list[Wrapper], Path]:
    tmp = e2e.tmp
    for d in ("etc", "run", "log"):
        (tmp / d).mkdir()
    e2e.config_path = tmp / "etc" / "conflink.yaml"  # where ModulePaths puts it; e2e.ctl reads it
    link = {"id": "1", "room": ROOM, "number": "100", "dtmf": "", "dtmf_delay": 0, "retry": {"backoff": [1]}}
    e2e.write_config([link])
    log = tmp / "log" / "conflink-worker.log"
    wrappers = [Wrapper(tmp, 0)]
    deadline = time.monotonic() + 15
    while not (log.exists() and log_times(log, "resync done")):
        assert time.monotonic() < deadline, f"first worker not ready:\n{e2e.dump()}"
        assert wrappers[0].proc.poll() is None, (tmp / "wrapper-0.log").read_text()
        time.sleep(0.1)
    return wrappers, log


def finish(e2e: E2E, wrappers: list[Wrapper], workers: list[int]) -> None:
    for w in reversed(wrappers):
        w.stop()
    left = [pid for pid in workers if alive(pid)]
    for pid in left:  # only after a failure: never leave a (stopped) worker behind
        os.kill(pid, signal.SIGKILL)
    # The final stop (SIGTERM to the wrapper) leaves no worker and no call behind.
    assert left == [], f"workers left running: {left}"
    assert worker_pid(e2e.tmp) is None
    assert e2e.lab.conflink_channels() == []


def test_soft_restart_hands_over_inside_cores_window_with_a_short_gap(e2e: E2E) -> None:
    sipp = e2e.lab.sipp("answer-and-hold")
    wrappers, log = start_first(e2e)
    workers = [pid for pid in [worker_pid(e2e.tmp)] if pid]
    try:
        mark = e2e.lab.a.mark()
        h = e2e.lab.join(ROOM)
        ext = e2e.wait_ext_join(mark, ROOM)
        wait_adopted(e2e, ext["Uniqueid"], 10)  # connected, as seen by the first worker
        old = worker_pid(e2e.tmp)
        assert old is not None

        exit_s, check = core_soft_restart(wrappers[0])
        assert exit_s < 1.0, f"the old wrapper took {exit_s:.2f} s to exit"
        assert worker_pid(e2e.tmp) == old, "the old wrapper stopped its worker instead of handing it over"
        assert log_times(log, "stopping") == [], "the old worker stopped before the new wrapper took over"

        # Core starts the new wrapper; it stops the old worker (SIGUSR1: calls stay up) and starts its own.
        wrappers.append(Wrapper(e2e.tmp, 1))
        st = wait_adopted(e2e, ext["Uniqueid"], 15)
        new = worker_pid(e2e.tmp)
        workers += [new] if new else []
        assert new is not None and new != old and not alive(old)

        stopping = log_times(log, "stopping")
        ready = log_times(log, "AMI ready")
        resynced = log_times(log, "resync done")
        assert len(stopping) == 1 and len(ready) == 2 and len(resynced) == 2, log.read_text()[-3000:]
        gap = seconds(stopping[0], ready[1])
        adopted = seconds(stopping[0], resynced[1])
        print(f"\nsoft restart: old wrapper exited {exit_s:.3f} s after SIGUSR1 (core sees it at check {check}); "
              f"event gap {gap:.3f} s (old worker stopping -> new worker's FullyBooted); "
              f"call adopted {adopted:.3f} s after the old worker stopped")
        e2e.record("soft_restart_wrapper_exit", exit_s)
        e2e.record("soft_restart_event_gap", gap)
        e2e.record("soft_restart_adopted", adopted)
        assert gap <= GAP_GOAL, f"gap {gap:.3f} s > {GAP_GOAL} s\n{log.read_text()[-3000:]}"
        assert adopted <= GAP_GOAL, f"adoption {adopted:.3f} s after the stop > {GAP_GOAL} s"

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
    workers = [pid for pid in [worker_pid(e2e.tmp)] if pid]
    try:
        mark = e2e.lab.a.mark()
        h = e2e.lab.join(ROOM)
        ext = e2e.wait_ext_join(mark, ROOM)
        wait_adopted(e2e, ext["Uniqueid"], 10)
        old = worker_pid(e2e.tmp)
        assert old is not None
        os.kill(old, signal.SIGSTOP)
        exit_s, _ = core_soft_restart(wrappers[0])
        t_new = time.monotonic()
        wrappers.append(Wrapper(e2e.tmp, 1))
        wait_adopted(e2e, ext["Uniqueid"], 20)
        took = time.monotonic() - t_new
        workers += [pid for pid in [worker_pid(e2e.tmp)] if pid]
        assert not alive(old)
        e2e.record("soft_restart_hung_worker_adopted", took)
        print(f"\nhung worker: old wrapper exited {exit_s:.3f} s after SIGUSR1; "
              f"the new wrapper adopted the call {took:.2f} s after its start")
        assert len(sipp.invites()) == 1 and sipp.byes() == [], e2e.dump()
        assert [c["Uniqueid"] for c in e2e.lab.conflink_channels()] == [ext["Uniqueid"]]
        e2e.lab.leave(h)
        sipp.wait_for(lambda: sipp.byes("in"), 1, timeout=5)
    finally:
        finish(e2e, wrappers, workers)

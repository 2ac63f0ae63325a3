"""MikoPBX's soft restart of the module's supervisor, played on the lab (e2e test and bench).

Core restarts every worker with SIGUSR1 and, for each, waits at most 5 s, checking once a
second, for the old process to exit; while it is alive core starts no new one
(Processes::handleRestartAction, soft restart). `core_soft_restart` plays that part around
the module's real supervisor, run by `tests/e2e/php/wrapper.php` (Lib/ChildSupervisor wired to
signals as Lib/WorkerConferenceLinkPy wires them, without core's WorkerBase) as `Wrapper`.

The gap is read from the worker log, which both workers append to (millisecond timestamps):
the old worker's `stopping` (it stops handling events) → the new worker's `AMI ready` (its
first event, FullyBooted) and → its `resync done` (the live call adopted).
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import lab as labmod

CORE_WAIT_S = 5  # Processes::handleRestartAction, soft restart: waitForProcessesExit($pids, 5)
WRAPPER_PHP = labmod.REPO / "tests" / "e2e" / "php" / "wrapper.php"
_LOG_LINE = re.compile(r"^(\d\d:\d\d:\d\d\.\d{3}) \w+ (\S+) (.*)$")


class Wrapper:
    """`php wrapper.php` in `home` (etc/, run/, log/ as ModulePaths lays them out)."""

    def __init__(self, home: Path, n: int) -> None:
        for d in ("etc", "run", "log"):
            (home / d).mkdir(exist_ok=True)
        self.home = home
        self.output = home / f"wrapper-{n}.log"
        self._out = open(self.output, "ab")
        self.proc = subprocess.Popen(
            ["php", str(WRAPPER_PHP), str(labmod.REPO), str(home / "etc"), str(home / "run"), str(home / "log")],
            stdin=subprocess.DEVNULL, stdout=self._out, stderr=subprocess.STDOUT, start_new_session=True,
        )

    def stop(self) -> None:
        """SIGTERM: the final stop (the wrapper stops its worker, which hangs up its calls)."""
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)
        self._out.close()


def config_path(home: Path) -> Path:
    return home / "etc" / "conflink.yaml"


def worker_log(home: Path) -> Path:
    return home / "log" / "conflink-worker.log"


def alive(pid: int) -> bool:
    """Running and not a zombie (a handed-over worker's parent has exited; who reaps it varies)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return False


def worker_pid(home: Path) -> int | None:
    try:
        pid = int((home / "run" / "conflink-worker.pid").read_text().strip())
    except (OSError, ValueError):
        return None
    return pid if alive(pid) else None


def log_times(log: Path, message: str) -> list[datetime]:
    """Times of the worker log lines whose message starts with `message`."""
    if not log.exists():
        return []
    today = datetime.now().date()
    out = []
    for line in log.read_text(errors="replace").splitlines():
        m = _LOG_LINE.match(line)
        if m and m.group(3).startswith(message):
            out.append(datetime.combine(today, datetime.strptime(m.group(1), "%H:%M:%S.%f").time()))
    return out


def seconds(a: datetime, b: datetime) -> float:
    d = b - a
    return (d + timedelta(days=1) if d < timedelta(0) else d).total_seconds()  # across midnight


def core_soft_restart(wrapper: Wrapper) -> tuple[float, int]:
    """Core's part: SIGUSR1, then a check once a second, at most CORE_WAIT_S times, that the
    wrapper is gone. Returns (seconds until it exited, the check that saw it) at the moment core
    would start the new one. Raises AssertionError when core would start none."""
    t0 = time.monotonic()
    os.kill(wrapper.proc.pid, signal.SIGUSR1)
    exit_s = None
    while time.monotonic() - t0 < CORE_WAIT_S:
        if wrapper.proc.poll() is not None:
            exit_s = time.monotonic() - t0
            break
        time.sleep(0.01)
    assert exit_s is not None, f"old wrapper still alive after core's {CORE_WAIT_S} s: core would start no new one"
    assert wrapper.proc.returncode == 0, f"old wrapper exit code {wrapper.proc.returncode}"
    check = int(exit_s) + 1  # check 0 runs right after the kill, the next ones a second apart
    time.sleep(max(0.0, t0 + check - time.monotonic()))
    return exit_s, check


@dataclass
class Gap:
    wrapper_exit_s: float  # SIGUSR1 → old wrapper gone
    core_check: int  # which of core's once-a-second checks saw it gone
    event_gap_s: float  # old worker stopping → new worker's first event (FullyBooted)
    adopted_s: float  # old worker stopping → new worker's resync done (call adopted)


def measure_gap(log: Path, before_stopping: int, before_ready: int, before_resync: int,
                wrapper_exit_s: float, core_check: int) -> Gap:
    """Reads one restart's figures from the log; the counts say how many of each line came before."""
    stopping = log_times(log, "stopping")
    ready = log_times(log, "AMI ready")
    resynced = log_times(log, "resync done")
    assert len(stopping) == before_stopping + 1, f"expected one more 'stopping' line:\n{log.read_text()[-3000:]}"
    assert len(ready) > before_ready and len(resynced) > before_resync, log.read_text()[-3000:]
    t_stop = stopping[before_stopping]
    return Gap(wrapper_exit_s, core_check, seconds(t_stop, ready[before_ready]),
               seconds(t_stop, resynced[before_resync]))

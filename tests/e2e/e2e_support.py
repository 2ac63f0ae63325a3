"""Helpers of the end-to-end suite (kept out of conftest.py so that `from e2e_support import E2E`
is unambiguous when several test folders with their own conftest.py run in one pytest call)."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

LAB_DIR = Path(__file__).resolve().parent.parent / "lab"
if str(LAB_DIR) not in sys.path:
    sys.path.insert(0, str(LAB_DIR))

import lab as labmod  # noqa: E402 - needs the path above

REPO = labmod.REPO
ARTIFACTS = REPO / "tests" / ".artifacts"
STOP_LIMIT = 2.0  # seconds the worker may take to exit on SIGTERM

LATENCIES: list[dict[str, Any]] = []
ASTERISK_VERSIONS: set[str] = set()


class E2E:
    """What a test drives: the lab, one SIPp per endpoint, the worker under test."""

    def __init__(self, lab: labmod.Lab, tmp: Path, test_name: str):
        self.lab = lab
        self.tmp = tmp
        self.test_name = test_name
        self.config_path = tmp / "conflink.yaml"
        self.config: dict[str, Any] = {}
        self.worker: labmod.Worker | None = None
        self.all_workers: list[labmod.Worker] = []

    # --- worker ------------------------------------------------------------------------------
    def write_config(self, links: list[dict[str, Any]]) -> dict[str, Any]:
        self.config = self.lab.write_worker_config(self.config_path, links)
        return self.config

    def start_worker(self, wait_ready: bool = True) -> labmod.Worker:
        w = self.lab.start_worker(self.config_path, self.tmp / f"worker-{len(self.all_workers)}.log")
        self.all_workers.append(w)
        self.worker = w
        if wait_ready:
            self.wait_worker_ready(w)
        return w

    def ctl(self, *args: str, timeout: float = 5.0) -> subprocess.CompletedProcess[str]:
        ctl = labmod.worker_bin().parent / "conflink-ctl"
        return subprocess.run(
            [str(ctl), "--config", str(self.config_path), *args], capture_output=True, text=True, timeout=timeout
        )

    def status(self) -> dict[str, Any]:
        res = self.ctl("status", "--json")
        assert res.returncode == 0, f"conflink-ctl status failed: {res.stdout} {res.stderr}"
        return json.loads(res.stdout)

    def wait_worker_ready(self, w: labmod.Worker, timeout: float = 10.0) -> float:
        """Until the worker's status says AMI is up (its resync done). Returns seconds waited."""
        t0 = time.monotonic()
        last: Any = None
        while time.monotonic() - t0 < timeout:
            assert w.running(), f"worker exited ({w.proc.returncode}):\n{w.log()[-3000:]}"
            res = self.ctl("status", "--json", timeout=5)
            if res.returncode == 0:
                with_ami = json.loads(res.stdout).get("ami", {})
                last = with_ami
                if with_ami.get("ready", with_ami.get("connected")):
                    time.sleep(0.2)  # let the first resync finish
                    return time.monotonic() - t0
            time.sleep(0.1)
        raise AssertionError(f"worker not ready within {timeout} s (ami status {last}):\n{w.log()[-3000:]}")

    def stop_worker(self, w: labmod.Worker | None = None) -> float:
        """SIGTERM; asserts the worker exits within STOP_LIMIT seconds with code 0."""
        w = w or self.worker
        assert w is not None
        elapsed, code = w.stop(timeout=STOP_LIMIT + 1)
        assert elapsed <= STOP_LIMIT and code is not None, (
            f"worker took {elapsed:.2f} s to exit on SIGTERM (limit {STOP_LIMIT} s):\n{w.log()[-2000:]}"
        )
        assert code == 0, f"worker exit code {code} on SIGTERM:\n{w.log()[-2000:]}"
        return elapsed

    # --- latency record ------------------------------------------------------------------------
    def record(self, what: str, seconds: float, **extra: Any) -> None:
        LATENCIES.append({"test": self.test_name, "what": what, "ms": round(seconds * 1000, 1), **extra})

    # --- assertions helpers --------------------------------------------------------------------
    def ext_joins(self, start: int = 0, room: str | None = None) -> list[dict[str, Any]]:
        """ConfbridgeJoin events of the worker's external calls (Uniqueid conflink-…)."""
        return [
            e for e in self.lab.confbridge_events(start, room)
            if e["Event"] == "ConfbridgeJoin" and str(e.get("Uniqueid", "")).startswith("conflink-")
        ]

    def wait_ext_join(
        self, start: int = 0, room: str | None = None, timeout: float = 10.0, exclude: tuple[str, ...] = ()
    ) -> dict[str, Any]:
        return self.lab.a.wait_event(
            lambda e: e.get("Event") == "ConfbridgeJoin"
            and str(e.get("Uniqueid", "")).startswith("conflink-")
            and e.get("Uniqueid") not in exclude
            and (room is None or e.get("Conference") == room),
            timeout, start,
        )

    def dump(self) -> str:
        parts = [f"=== asterisk {self.lab.asterisk_version}"]
        for i, w in enumerate(self.all_workers):
            parts.append(f"=== worker {i} log (pid {w.pid})\n{w.log()[-6000:]}")
        for s in self.lab.sipps:
            parts.append(f"=== sipp {s.name}: " + ", ".join(
                f"{m.direction} {m.method or m.status} {m.cseq_method} {m.ruri_user or ''} {m.digit or ''}"
                for m in s.messages()
            ))
        parts.append(self.lab.console_tail(4000))
        return "\n".join(parts)

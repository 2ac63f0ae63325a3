"""The one lab driver of the end-to-end and fault suites: a lab, the worker(s) under test and
the waits every scenario shares. tests/e2e (E2E) and tests/faults (Env) add only their own
records on top.

Every wait here is `until`-style with a deadline (lab.wait_until); a fixed pause appears only
as lab.observe(), a window in which something must NOT happen."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import lab as labmod
from lab import observe, wait_until

STOP_LIMIT = 2.0  # seconds the worker may take to exit on SIGTERM
READY_EVENT = "AMI ready (FullyBooted)"  # the engine's log line when AMI becomes ready ...
READY_LINE = "resync done (AMI ready)"  # ... and when the resync it started is over

__all__ = ["STOP_LIMIT", "LabDriver", "observe", "wait_until"]


class LabDriver:
    def __init__(self, lab: labmod.Lab, tmp: Path, name: str):
        self.lab = lab
        self.tmp = tmp
        self.name = name
        self.config_path = tmp / "conflink.yaml"
        self.config: dict[str, Any] = {}
        self.workers: list[labmod.Worker] = []
        self.worker: labmod.Worker | None = None

    # --- config and worker -----------------------------------------------------------------------
    def write_config(self, links: list[dict[str, Any]], ami_port: int | None = None, **kw: Any) -> dict[str, Any]:
        cfg = self.lab.worker_config(links, **kw)
        if ami_port is not None:
            cfg["ami"]["port"] = ami_port
        labmod.write_yaml(self.config_path, cfg)
        self.config = cfg
        return cfg

    def start_worker(self, wait_ready: bool = True, timeout: float = 10.0, extra_args: tuple[str, ...] = ()
                     ) -> labmod.Worker:
        w = self.lab.start_worker(self.config_path, self.tmp / f"worker-{len(self.workers)}.log", extra_args)
        self.workers.append(w)
        self.worker = w
        if wait_ready:
            self.wait_ready(timeout)
        return w

    def ctl(self, *args: str, stdin: str | None = None, timeout: float = 10.0) -> subprocess.CompletedProcess[str]:
        ctl = labmod.worker_bin().parent / "conflink-ctl"
        return subprocess.run(
            [str(ctl), "--config", str(self.config_path), *args], input=stdin, capture_output=True,
            text=True, timeout=timeout,
        )

    def status(self) -> dict[str, Any]:
        res = self.ctl("status", "--json")
        assert res.returncode == 0, f"conflink-ctl status failed ({res.returncode}): {res.stdout} {res.stderr}"
        return json.loads(res.stdout)

    def link(self, link_id: str) -> dict[str, Any]:
        for lk in self.status()["links"]:
            if lk["id"] == link_id:
                return lk
        raise AssertionError(f"link {link_id} not in status")

    def wait_ready(self, timeout: float = 10.0) -> float:
        """Until the worker's status says AMI is ready and its log shows the resync of every
        readiness done (so also right after a reconnect). Seconds waited."""
        w = self.worker
        assert w is not None
        last: Any = None

        def ready() -> bool:
            nonlocal last
            assert w.running(), f"worker exited ({w.proc.returncode}):\n{w.log()[-3000:]}"
            log = w.log()
            if not 1 <= log.count(READY_EVENT) <= log.count(READY_LINE):
                return False
            res = self.ctl("status", "--json", timeout=5)
            last = json.loads(res.stdout).get("ami", {}) if res.returncode == 0 else res.stderr
            return res.returncode == 0 and bool(last.get("ready"))

        try:
            return wait_until(ready, timeout, "worker ready", interval=0.05)
        except AssertionError:
            raise AssertionError(f"worker not ready within {timeout} s (ami {last}):\n{w.log()[-3000:]}") from None

    def wait_link(self, link_id: str, pred: Any, timeout: float, what: str = "") -> dict[str, Any]:
        last: dict[str, Any] = {}

        def reached() -> bool:
            nonlocal last
            res = self.ctl("status", "--json", timeout=5)
            if res.returncode != 0:
                return False
            for lk in json.loads(res.stdout)["links"]:
                if lk["id"] == link_id:
                    last = lk
                    return bool(pred(lk))
            return False

        try:
            wait_until(reached, timeout, what or "condition", interval=0.1)
        except AssertionError:
            raise AssertionError(f"link {link_id}: {what or 'condition'} not reached in {timeout} s; last status "
                                 f"{json.dumps(last, indent=1)}\n{self.worker.log()[-3000:] if self.worker else ''}"
                                 ) from None
        return last

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

    def stop_all(self, timed: bool = True) -> list[str]:
        """Stop every worker still running; what went wrong (needed SIGKILL; slower than
        STOP_LIMIT unless `timed` is off)."""
        problems = []
        for w in self.workers:
            if w.running():
                elapsed, code = w.stop(timeout=STOP_LIMIT + 1)
                if code is None or (timed and elapsed > STOP_LIMIT):
                    problems.append(f"worker pid {w.pid} needed {elapsed:.2f} s / SIGKILL on SIGTERM")
        return problems

    # --- external calls --------------------------------------------------------------------------
    def ext_joins(self, start: int = 0, room: str | None = None) -> list[dict[str, Any]]:
        """ConfbridgeJoin events of the worker's external calls (Uniqueid conflink-…)."""
        return [
            e for e in self.lab.confbridge_events(start, room)
            if e["Event"] == "ConfbridgeJoin" and str(e.get("Uniqueid", "")).startswith("conflink-")
        ]

    def wait_ext_join(self, start: int = 0, room: str | None = None, timeout: float = 10.0,
                      exclude: tuple[str, ...] = ()) -> dict[str, Any]:
        return self.lab.a.wait_event(
            lambda e: e.get("Event") == "ConfbridgeJoin" and str(e.get("Uniqueid", "")).startswith("conflink-")
            and e.get("Uniqueid") not in exclude and (room is None or e.get("Conference") == room),
            timeout, start,
        )

    def wait_no_conflink_channels(self, timeout: float = 10.0) -> float:
        last: list[dict[str, Any]] = []

        def none_left() -> bool:
            nonlocal last
            last = self.lab.conflink_channels()
            return not last

        try:
            return wait_until(none_left, timeout, "no conflink channels", interval=0.1)
        except AssertionError:
            raise AssertionError(f"conflink channels left behind after {timeout} s: "
                                 f"{[(c['Uniqueid'], c.get('ChannelStateDesc')) for c in last]}") from None

    def dump(self) -> str:
        parts = [f"=== asterisk {self.lab.asterisk_version}"]
        for i, w in enumerate(self.workers):
            parts.append(f"=== worker {i} log (pid {w.pid})\n{w.log()[-6000:]}")
        for s in self.lab.sipps:
            parts.append(f"=== sipp {s.name}: " + ", ".join(
                f"{m.direction} {m.method or m.status} {m.cseq_method} {m.ruri_user or ''} {m.digit or ''}"
                for m in s.messages()
            ))
        parts.append(self.lab.console_tail(4000))
        return "\n".join(parts)

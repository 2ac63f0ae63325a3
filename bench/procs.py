"""The benchmark's processes: /proc readings, helper children, the AMI proxy and the contenders."""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import platform
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
sys.path.insert(0, str(REPO / "tests" / "lab"))

import lab as labmod  # noqa: E402
from lab import Lab, LabError, free_port_block, write_yaml  # noqa: E402

PY = sys.executable
WORKER_LOG_RE = re.compile(r"^(\d\d:\d\d:\d\d\.\d{3}) INFO conflink\.engine link=(\S+) room=(\S+) state=\S+ (.*)$")


def proc_cpu(pid: int) -> float:
    """utime+stime of `pid` in seconds."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def proc_mem(pid: int) -> dict[str, float]:
    """VmRSS / VmHWM in MB."""
    out = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            out[key] = int(value.split()[0]) / 1024
    return out


def cpu_model() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


class Child:
    """A helper process of the benchmark (proxy, baseline, SIPp), stopped by its own PID."""

    def __init__(self, cmd: list[str], out: Path, ready_word: str | None = None, timeout: float = 10.0):
        self.out = out
        self._fh = open(out, "wb")
        self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=self._fh, stderr=subprocess.STDOUT,
                                     start_new_session=True, cwd=BENCH)
        if ready_word is not None:
            deadline = time.monotonic() + timeout
            while ready_word not in self.text():
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    self.stop()
                    raise LabError(f"{cmd[:3]} did not start: {self.text()[-2000:]}")
                time.sleep(0.02)

    @property
    def pid(self) -> int:
        return self.proc.pid

    def text(self) -> str:
        with contextlib.suppress(OSError):
            return self.out.read_text(errors="replace")
        return ""

    def stop(self) -> None:
        labmod.stop_process(self.proc, 5.0)
        with contextlib.suppress(OSError):
            self._fh.close()


class Proxy(Child):
    def __init__(self, L: Lab, name: str):
        self.port = free_port_block()
        self.log = L.workdir / f"proxy-{name}.tsv"
        self.log.touch()
        super().__init__([PY, str(BENCH / "ami_proxy.py"), "--listen", str(self.port), "--target", str(L.ami_port),
                          "--log", str(self.log)], L.workdir / f"proxy-{name}.out", ready_word="ready")

    def settled_actions(self, timeout: float = 5.0) -> list[tuple[float, str, str]]:
        """The log once two flush periods (0.2 s each) passed without a new line."""
        deadline = time.monotonic() + timeout
        seen, stable_since = -1, time.monotonic()
        while time.monotonic() < deadline:
            n = len(self.actions())
            if n != seen:
                seen, stable_since = n, time.monotonic()
            elif n and time.monotonic() - stable_since >= 0.4:
                break
            time.sleep(0.05)
        return self.actions()

    def actions(self) -> list[tuple[float, str, str]]:
        out = []
        for line in self.log.read_text().splitlines():
            parts = line.split("\t")
            if len(parts) == 4:
                out.append((float(parts[0]), parts[2].lower(), parts[3]))
        return out


def ctl_request(endpoint: str, payload: dict[str, Any], timeout: float = 5.0) -> dict[str, Any]:
    from conflink.ctl import request  # the project's own client

    return request(endpoint, payload, timeout)


class WorkerContender:
    name = "ours"

    def __init__(self, L: Lab, links: list[dict[str, Any]], tag: str):
        self.proxy = Proxy(L, tag)
        cfg = L.worker_config(links)
        cfg["ami"]["port"] = self.proxy.port
        self.endpoint = cfg["control"]["endpoint"]
        path = L.workdir / f"worker-{tag}.yaml"
        write_yaml(path, cfg)
        self.log_file = L.workdir / f"worker-{tag}.log"
        self.worker = L.start_worker(path, self.log_file)
        self.pid = self.worker.pid
        self.started = time.monotonic()
        deadline = time.monotonic() + 60
        while "resync done (AMI ready)" not in self.worker.log():
            if not self.worker.running() or time.monotonic() > deadline:
                raise LabError(f"worker {tag} not ready:\n{self.worker.log()[-3000:]}")
            time.sleep(0.05)
        self.ready_seconds = time.monotonic() - self.started

    def status(self) -> dict[str, Any]:
        return ctl_request(self.endpoint, {"cmd": "status"})

    def log_dialling(self) -> list[tuple[float, str]]:
        """(wall time, message) of the worker's 'dialling' and 'hanging up' decisions, ms precision."""
        out = []
        today = dt.date.today()
        for line in self.worker.log().splitlines():
            m = WORKER_LOG_RE.match(line)
            if m:
                t = dt.datetime.combine(today, dt.time.fromisoformat(m.group(1))).timestamp()
                out.append((t, m.group(4)))
        return out

    def stop(self) -> None:
        self.worker.stop()
        self.proxy.stop()


class BaselineContender:
    def __init__(self, L: Lab, name: str, script: str, rooms: str, extra: list[str] | None = None):
        self.name = name
        self.proxy = Proxy(L, name)
        self.child = Child([PY, str(BENCH / script), "--port", str(self.proxy.port), "--username",
                            labmod.WORKER_AMI_USER, "--secret", L.worker_secret, "--rooms", rooms, *(extra or [])],
                           L.workdir / f"{name}.out", ready_word=" ready ")
        self.pid = self.child.pid

    def stop(self) -> None:
        self.child.stop()
        self.proxy.stop()

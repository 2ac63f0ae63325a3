"""Fault and abuse suite: fixtures, the figures collector and the docs/reliability.md writer.

Run as root after `tests/lab/build-root.sh`: `.venv/bin/pytest -q tests/faults` (`make test-faults`).
Each test gets a fresh lab (Asterisk 22 + SIPp) unless it says otherwise; a missing Asterisk
root, sipp, php or conflink-worker FAILS the tests (no skips).

Every test records the figures it measured with ``record(section, key, value)``; at the end of a
full run they are written to docs/reliability.md (a filtered run writes
tests/.artifacts/reliability-partial.md instead, so a partial run never replaces the document).
Every lab is checked at teardown for an external call left alone in a room (lonecheck.py).
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

FAULTS_DIR = Path(__file__).resolve().parent
LAB_DIR = FAULTS_DIR.parent / "lab"
for p in (str(LAB_DIR), str(FAULTS_DIR)):
    if p not in sys.path:
        sys.path.insert(0, p)

import lab as labmod  # noqa: E402 - needs the path above
from lonecheck import LoneInterval, check_no_lone, longest_lone  # noqa: E402
from reliability_doc import write_document  # noqa: E402

REPO = labmod.REPO
ARTIFACTS = REPO / "tests" / ".artifacts"
STOP_LIMIT = 2.0
LONE_MARGIN = 2.0  # seconds an external call may be alone beyond the link's linger

FIGURES: dict[str, dict[str, Any]] = {}
OUTCOMES: dict[str, str] = {}
LONE: list[dict[str, Any]] = []
RUN = {"started": time.time(), "asterisk": set(), "collected": 0, "deselected": False}


def record(section: str, key: str, value: Any) -> None:
    FIGURES.setdefault(section, {})[key] = value


class Env:
    """One lab, its SIPp(s) and the worker(s) under test, plus the helpers the scenarios share."""

    def __init__(self, lab: labmod.Lab, tmp: Path, name: str):
        self.lab = lab
        self.tmp = tmp
        self.name = name
        self.config_path = tmp / "conflink.yaml"
        self.config: dict[str, Any] = {}
        self.workers: list[labmod.Worker] = []
        self.worker: labmod.Worker | None = None
        self.old_events: list[dict[str, Any]] = []  # events of lab AMI sessions closed by restarts
        self.resets: list[float] = []
        self.lone_checked = False
        self.lone_limit_extra: dict[str, float] = {}

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
        """Until the worker says AMI is ready (logged in and FullyBooted); seconds waited."""
        assert self.worker is not None
        t0 = time.monotonic()
        last: Any = None
        while time.monotonic() - t0 < timeout:
            assert self.worker.running(), f"worker exited ({self.worker.proc.returncode}):\n{self.worker.log()[-3000:]}"
            res = self.ctl("status", "--json", timeout=5)
            if res.returncode == 0:
                last = json.loads(res.stdout).get("ami", {})
                if last.get("ready"):
                    time.sleep(0.3)  # let the resync that follows readiness finish
                    return time.monotonic() - t0
            time.sleep(0.05)
        raise AssertionError(f"worker not ready within {timeout} s (ami {last}):\n{self.worker.log()[-3000:]}")

    def wait_link(self, link_id: str, pred: Any, timeout: float, what: str = "") -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        last: dict[str, Any] = {}
        while time.monotonic() < deadline:
            res = self.ctl("status", "--json", timeout=5)
            if res.returncode == 0:
                for lk in json.loads(res.stdout)["links"]:
                    if lk["id"] == link_id:
                        last = lk
                        if pred(lk):
                            return lk
            time.sleep(0.1)
        raise AssertionError(f"link {link_id}: {what or 'condition'} not reached in {timeout} s; last status "
                             f"{json.dumps(last, indent=1)}\n{self.worker.log()[-3000:] if self.worker else ''}")

    # --- participants --------------------------------------------------------------------------
    def burst_join(self, room: str, n: int) -> tuple[list[labmod.JoinHandle], int, float]:
        """n internal participants at once: their n Originates leave in ONE write on the lab's AMI
        socket, so they reach Asterisk together. Returns (handles, event index, send time)."""
        a = self.lab.a
        handles, chunks = [], []
        for _ in range(n):
            self.lab._seq += 1
            hid = f"{labmod.INTERNAL_PREFIX}{self.lab._seq}-{uuid.uuid4().hex[:6]}"
            handles.append(labmod.JoinHandle(id=hid, room=room))
            chunks.append(
                f"Action: Originate\r\nActionID: burst-{hid}\r\nChannel: Local/{room}@{labmod.ROOM_CONTEXT}\r\n"
                f"Application: Wait\r\nData: 3600\r\nAsync: true\r\nChannelId: {hid}\r\n"
                f"CallerID: lab <{1000 + self.lab._seq}>\r\n\r\n"
            )
        start = a.mark()
        t = time.time()
        a._sock.sendall("".join(chunks).encode())
        return handles, start, t

    def burst_leave(self, handles: list[labmod.JoinHandle]) -> None:
        """Hang up these participants with one write of Hangup actions (answers not awaited)."""
        data = "".join(
            f"Action: Hangup\r\nActionID: bleave-{h.id}\r\nChannel: {h.channel}\r\n\r\n" for h in handles
        )
        self.lab.a._sock.sendall(data.encode())

    def await_joins(self, handles: list[labmod.JoinHandle], start: int, timeout: float = 15.0) -> None:
        for h in handles:
            self.lab._await_join(h, start, timeout)

    def ext_joins(self, start: int = 0, room: str | None = None) -> list[dict[str, Any]]:
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
        t0 = time.monotonic()
        while True:
            chans = self.lab.conflink_channels()
            if not chans:
                return time.monotonic() - t0
            if time.monotonic() - t0 > timeout:
                raise AssertionError(f"conflink channels left behind after {timeout} s: "
                                     f"{[(c['Uniqueid'], c.get('ChannelStateDesc')) for c in chans]}")
            time.sleep(0.1)

    # --- Asterisk restart ------------------------------------------------------------------------
    def restart_asterisk(self, timeout: float = 30.0) -> dict[str, float]:
        """`core restart now` (drops every call; same process), then a new lab AMI session.
        Returns timings. The events of the old session are kept for the lone-call checker."""
        lab = self.lab
        old = lab.a
        t0 = time.time()
        lab.cli("core restart now", timeout=15)
        deadline = time.monotonic() + timeout
        while not old._closed:
            if time.monotonic() > deadline:
                raise AssertionError("lab AMI session did not close on restart")
            time.sleep(0.01)
        t_closed = time.time()
        self.old_events.extend(old.events)
        last = max((float(e["_t"]) for e in old.events), default=t0)
        self.resets.append(max(t0, last) + 0.001)
        old.close()
        while labmod._port_free(lab.ami_port, udp=False):
            if time.monotonic() > deadline:
                raise AssertionError(f"AMI port did not reopen after restart:\n{lab.console_tail()}")
            time.sleep(0.05)
        lab.ami = labmod.AmiClient("127.0.0.1", lab.ami_port, "lab", lab.lab_secret)
        lab.ami.wait_event(lambda e: e.get("Event") == "FullyBooted", max(1.0, deadline - time.monotonic()))
        t_booted = time.time()
        return {"t_cmd": t0, "t_closed": t_closed, "t_booted": t_booted, "down_s": t_booted - t0}

    # --- lone external call check --------------------------------------------------------------
    def all_events(self) -> list[dict[str, Any]]:
        return self.old_events + (list(self.lab.ami.events) if self.lab.ami else [])

    def lone_limits(self) -> dict[str, float]:
        limits: dict[str, float] = {}
        for lk in self.config.get("links", []):
            room = str(lk["room"])
            limits[room] = max(limits.get(room, 0.0), float(lk.get("linger", 0)) + LONE_MARGIN)
        for room, extra in self.lone_limit_extra.items():
            limits[room] = limits.get(room, LONE_MARGIN) + extra
        return limits

    def check_lone(self) -> tuple[list[LoneInterval], list[LoneInterval]]:
        self.lone_checked = True
        intervals, bad = check_no_lone(self.all_events(), time.time(), self.lone_limits(), LONE_MARGIN, self.resets)
        LONE.append({
            "test": self.name, "intervals": len(intervals), "longest_s": round(longest_lone(intervals), 3),
            "violations": [(i.room, round(i.seconds, 3), i.externals, i.open_at_end) for i in bad],
        })
        return intervals, bad

    def assert_no_lone(self) -> float:
        intervals, bad = self.check_lone()
        assert not bad, (
            "external call alone in a room longer than linger + 2 s: "
            + "; ".join(
                f"room {i.room} {i.seconds:.2f} s ({', '.join(i.externals)}){' still open' if i.open_at_end else ''}"
                for i in bad
            )
        )
        return longest_lone(intervals)

    def dump(self) -> str:
        parts = [f"=== asterisk {self.lab.asterisk_version}"]
        for i, w in enumerate(self.workers):
            parts.append(f"=== worker {i} log (pid {w.pid})\n{w.log()[-5000:]}")
        for s in self.lab.sipps:
            parts.append(f"=== sipp {s.name}: {len(s.invites())} INVITE(s), finals "
                         f"{[m.status for m in s.finals()]}")
        return "\n".join(parts)


def file_digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="session")
def prerequisites() -> None:
    """Fail (never skip) when the lab cannot run."""
    labmod.check_prerequisites()
    labmod.worker_bin()
    labmod.render_join_dialplan()


def make_env(request: pytest.FixtureRequest, tmp: Path, endpoints: tuple[str, ...] = ("SIP-TEST",)) -> Env:
    lab = labmod.Lab(name="f-" + request.node.name[:30], endpoints=endpoints)
    lab.start()
    RUN["asterisk"].add(lab.asterisk_version)
    return Env(lab, tmp, request.node.name)


def close_env(env: Env, check_lone: bool = True) -> None:
    problems: list[str] = []
    try:
        if check_lone and not env.lone_checked and env.lab.ami is not None:
            _, bad = env.check_lone()
            problems += [f"lone external call in room {i.room} for {i.seconds:.2f} s" for i in bad]
        for w in env.workers:
            if w.running():
                elapsed, code = w.stop(timeout=STOP_LIMIT + 1)
                if code is None:
                    problems.append(f"worker pid {w.pid} needed SIGKILL on SIGTERM ({elapsed:.2f} s)")
        print(env.dump())
    finally:
        env.lab.stop()
    assert not problems, problems


@pytest.fixture
def env(prerequisites: None, tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Env]:
    e = make_env(request, tmp_path)
    try:
        yield e
    finally:
        close_env(e)


# --- outcomes and the document -------------------------------------------------------------------

def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    RUN["collected"] = len(items)
    if config.getoption("keyword") or config.getoption("markexpr") or any(
        "::" in str(a) for a in config.args
    ) or any(Path(str(a)).is_file() for a in config.args):
        RUN["deselected"] = True


def pytest_deselected(items: list[pytest.Item]) -> None:
    if items:
        RUN["deselected"] = True


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    prev = OUTCOMES.get(report.nodeid)
    if report.when == "call":
        OUTCOMES[report.nodeid] = report.outcome if prev in (None, "passed") else prev
    elif report.failed:
        OUTCOMES[report.nodeid] = "error" if prev in (None, "passed") else prev
    elif report.when == "setup" and report.skipped:
        OUTCOMES[report.nodeid] = "skipped"


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    if not OUTCOMES:
        return
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    doc = {
        "asterisk": sorted(RUN["asterisk"]),
        "duration_s": round(time.time() - RUN["started"], 1),
        "outcomes": OUTCOMES,
        "figures": FIGURES,
        "lone": LONE,
        "finished": time.strftime("%Y-%m-%d %H:%M:%S %z"),
    }
    (ARTIFACTS / "reliability.json").write_text(json.dumps(doc, indent=2, default=str) + "\n")
    full = not RUN["deselected"]
    target = REPO / "docs" / "reliability.md" if full else ARTIFACTS / "reliability-partial.md"
    write_document(target, doc, full)

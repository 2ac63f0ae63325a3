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
from driver import LabDriver, wait_until  # noqa: E402
from lonecheck import LoneInterval, check_no_lone, longest_lone  # noqa: E402
from reliability_doc import write_document  # noqa: E402
from tcpproxy import AmiCutProxy  # noqa: E402

REPO = labmod.REPO
ARTIFACTS = REPO / "tests" / ".artifacts"
LONE_MARGIN = 2.0  # seconds an external call may be alone beyond the link's linger

FIGURES: dict[str, dict[str, Any]] = {}
OUTCOMES: dict[str, str] = {}
LONE: list[dict[str, Any]] = []
RUN = {"started": time.time(), "asterisk": set(), "collected": 0, "deselected": False}


def record(section: str, key: str, value: Any) -> None:
    FIGURES.setdefault(section, {})[key] = value


class Env(LabDriver):
    """One lab, its SIPp(s) and the worker(s) under test (tests/lab/driver.py), plus what the
    fault scenarios add: bursts of participants, Asterisk restarts, the lone-call check."""

    def __init__(self, lab: labmod.Lab, tmp: Path, name: str):
        super().__init__(lab, tmp, name)
        self.old_events: list[dict[str, Any]] = []  # events of lab AMI sessions closed by restarts
        self.resets: list[float] = []
        self.lone_checked = False
        self.lone_limit_extra: dict[str, float] = {}

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
        for h in handles:
            h.sent_t = t
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

    # --- Asterisk restart ------------------------------------------------------------------------
    def restart_asterisk(self, timeout: float = 30.0) -> dict[str, float]:
        """`core restart now` (drops every call; same process), then a new lab AMI session.
        Returns timings. The events of the old session are kept for the lone-call checker."""
        lab = self.lab
        old = lab.a
        t0 = time.time()
        lab.cli("core restart now", timeout=15)
        deadline = time.monotonic() + timeout
        wait_until(lambda: old._closed, timeout, "lab AMI session closed on restart", interval=0.01)
        t_closed = time.time()
        self.old_events.extend(old.events)
        last = max((float(e["_t"]) for e in old.events), default=t0)
        self.resets.append(max(t0, last) + 0.001)
        old.close()
        wait_until(lambda: not labmod._port_free(lab.ami_port, udp=False), max(0.0, deadline - time.monotonic()),
                   "AMI port reopened after restart", interval=0.05)
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
        problems += env.stop_all(timed=False)  # stop times are measured by test_restarts itself
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


@pytest.fixture
def proxy(env: Env) -> Iterator[AmiCutProxy]:
    """An AMI proxy between the worker and the env's Asterisk (point the worker's ami_port at it)."""
    p = AmiCutProxy(env.lab.ami_port)
    try:
        yield p
    finally:
        p.close()


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

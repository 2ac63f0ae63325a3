#!/usr/bin/env python3
"""Record raw AMI streams from the lab: the bytes the worker's AMI user receives during one
real room cycle, per provider behaviour, and the replay fixtures made from them.

    .venv/bin/python tests/lab/record_ami.py            # all scenarios, writes the fixtures
    .venv/bin/python tests/lab/record_ami.py busy_486   # one

For each scenario: a lab Asterisk, SIPp playing the provider, the worker with one link; a
second session logged in as the worker's AMI user (same rights, same event filter) records
every byte from the banner on. One internal participant joins, the worker dials, the provider
answers (or refuses), the participant leaves. Written to python-worker/tests/fixtures/:
- raw/<name>.ami: the raw stream (what test_ami_wire.py feeds through panoramisk);
- ami_<name>.json: the events of the cycle, as the engine replay test reads them.
"""

from __future__ import annotations

import json
import socket
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from lab import INTERNAL_PREFIX, WORKER_AMI_USER, Lab, LabError

FIXTURES = Path(__file__).resolve().parents[2] / "python-worker" / "tests" / "fixtures"
ROOM = "354233"
# The engine's inputs, plus the room and dial events that frame them.
KEEP = {"Newchannel", "DialBegin", "DialEnd", "ConfbridgeStart", "ConfbridgeJoin", "ConfbridgeLeave",
        "ConfbridgeEnd", "Hangup", "OriginateResponse"}


@dataclass(frozen=True)
class Scenario:
    name: str
    sipp: str
    outcome: str  # "joined" (the call reached the room) or "refused"


SCENARIOS = [
    Scenario("cycle_answered", "answer-and-hold", "joined"),
    Scenario("busy_486", "busy-486", "refused"),
    Scenario("notfound_404", "notfound-404", "refused"),
]


class RawRecorder:
    """A plain AMI session (no client library) that keeps every byte it receives."""

    def __init__(self, port: int, secret: str) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        self.data = bytearray()
        self._lock = threading.Lock()
        self._stop = False
        self.sock.sendall((f"Action: Login\r\nActionID: rec-1\r\nUsername: {WORKER_AMI_USER}\r\n"
                           f"Secret: {secret}\r\nEvents: system,call,user,dtmf\r\n\r\n").encode())
        self.sock.settimeout(0.2)
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()
        self.wait_for(b"FullyBooted", 10)

    def _read(self) -> None:
        while not self._stop:
            try:
                chunk = self.sock.recv(65536)
            except TimeoutError:
                continue
            except OSError:
                return
            if not chunk:
                return
            with self._lock:
                self.data += chunk

    def text(self) -> bytes:
        with self._lock:
            return bytes(self.data)

    def wait_for(self, needle: bytes, timeout: float, start: int = 0) -> None:
        deadline = time.monotonic() + timeout
        while needle not in self.text()[start:]:
            if time.monotonic() > deadline:
                raise LabError(f"no {needle!r} in the recorded stream within {timeout:g} s")
            time.sleep(0.02)

    def wait_events(self, pred: Any, timeout: float, start: int = 0) -> None:
        deadline = time.monotonic() + timeout
        while not pred(parse(self.text()[start:])):
            if time.monotonic() > deadline:
                raise LabError(f"the recorded stream never showed what was awaited within {timeout:g} s")
            time.sleep(0.02)

    def close(self) -> None:
        self._stop = True
        self.sock.close()
        self._thread.join(2)


def parse(raw: bytes) -> list[dict[str, str]]:
    """AMI messages of a raw stream (banner and the recorder's own Login answer left out)."""
    out = []
    for block in raw.decode("utf-8", "replace").split("\r\n\r\n"):
        fields: dict[str, str] = {}
        for line in block.split("\r\n"):
            key, sep, value = line.partition(": ")
            if sep:
                fields[key] = value
        if fields.get("Event"):
            out.append(fields)
    return out


def cycle_events(events: list[dict[str, str]]) -> list[dict[str, str]]:
    """The events of the cycle: ours (conflink-*), the lab participant's, the room's."""
    def related(e: dict[str, str]) -> bool:
        ids = (e.get("Uniqueid", ""), e.get("DestUniqueid", ""))
        return (e.get("Conference") == ROOM or any(i.startswith(("conflink-", INTERNAL_PREFIX)) for i in ids))
    return [e for e in events if e["Event"] in KEEP and related(e)]


def record(L: Lab, sc: Scenario) -> tuple[bytes, list[dict[str, str]]]:
    sipp = L.sipp(sc.sipp)
    rec = RawRecorder(L.ami_port, L.worker_secret)
    worker = None
    try:
        path = L.workdir / f"record-{sc.name}.yaml"
        L.write_worker_config(path, [{"id": "1", "room": ROOM, "number": "100", "dtmf": "1#", "dtmf_delay": 0.2,
                                      "retry": {"max_attempts": 1}}])
        worker = L.start_worker(path, L.workdir / f"record-{sc.name}.log")
        deadline = time.monotonic() + 30
        while "resync done (AMI ready)" not in worker.log():
            if time.monotonic() > deadline or not worker.running():
                raise LabError(f"worker not ready:\n{worker.log()[-2000:]}")
            time.sleep(0.05)
        start, mark = len(rec.text()), L.a.mark()
        h = L.join(ROOM)
        if sc.outcome == "joined":
            rec.wait_for(b"Uniqueid: conflink-", 20, start)
            L.a.wait_event(lambda e: e.get("Event") == "ConfbridgeJoin"
                           and str(e.get("Uniqueid", "")).startswith("conflink-"), 20, mark)
        else:
            L.a.wait_event(lambda e: e.get("Event") == "Hangup"
                           and str(e.get("Uniqueid", "")).startswith("conflink-"), 20, mark)
        L.leave(h)
        # The recording ends once the stream shows the room ended and our channel hung up.
        rec.wait_events(lambda evs: any(e["Event"] == "ConfbridgeEnd" for e in evs)
                        and any(e["Event"] == "Hangup" and e.get("Uniqueid", "").startswith("conflink-")
                                for e in evs), 20, start)
        raw = rec.text()[start:]
    finally:
        if worker is not None:
            worker.stop()
        rec.close()
        sipp.stop()
    return raw, cycle_events(parse(raw))


def main(argv: list[str]) -> int:
    chosen = [s for s in SCENARIOS if not argv or s.name in argv]
    if not chosen:
        print(f"unknown scenario; choose from {[s.name for s in SCENARIOS]}", file=sys.stderr)
        return 2
    (FIXTURES / "raw").mkdir(parents=True, exist_ok=True)
    with Lab(name="record-ami") as L:
        for sc in chosen:
            raw, events = record(L, sc)
            (FIXTURES / "raw" / f"{sc.name}.ami").write_bytes(raw)
            doc = json.dumps(events, indent=1) + "\n"
            (FIXTURES / f"ami_{sc.name}.json").write_text(doc)
            print(f"{sc.name}: {len(raw)} bytes, {len(events)} cycle events: "
                  + ", ".join(sorted({e['Event'] for e in events})))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

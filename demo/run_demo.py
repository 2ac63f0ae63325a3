#!/usr/bin/env python3
"""`make demo`: ModuleConferenceLink's worker against a real Asterisk 22, end to end.

Starts the lab (Asterisk from the Debian sid root, SIPp as the provider), starts
`conflink-worker` with a one-link demo config, lets two internal participants join and leave
room 354233, and prints what happened, in milliseconds since the start:

    internal joins -> Originate -> INVITE at the provider -> answered -> every DTMF digit the
    far end received -> external call in the room -> internal leaves -> BYE at the provider

Run as root after `make deps lab`:   .venv/bin/python demo/run_demo.py [--show-worker-log]
Everything it starts (Asterisk, SIPp, the worker) is stopped at the end.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests" / "lab"))

import subprocess  # noqa: E402

from lab import Lab, LabError, asterisk_root, check_prerequisites  # noqa: E402 - path set above

ROOM = "354233"
DEMO_LINK = {
    "id": "1",
    "room": ROOM,
    "endpoint": "SIP-TEST",
    "number": "84957776675",
    "dtmf": "354233w#",  # meeting ID, half a second pause, '#'
    "dtmf_delay": 1,
    "ring_timeout": 30,
    "linger": 0,
    "retry": {"max_attempts": 3, "backoff": [2, 5], "redial_on_drop": True},
}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--show-worker-log", action="store_true", help="print the worker's log at the end")
    args = parser.parse_args()

    try:
        check_prerequisites()
    except LabError:
        # First run on this machine: build the Asterisk root (idempotent, about a minute).
        if not (asterisk_root() / ".conflink-root-ready").exists() or subprocess.run(["which", "sipp"]).returncode:
            print("building the lab first: tests/lab/build-root.sh", file=sys.stderr)
            subprocess.run([str(REPO / "tests/lab/build-root.sh")], check=False)
    t0 = time.time()
    ext_joined = False
    timeline: list[tuple[float, str]] = []

    def note(t: float, what: str) -> None:
        timeline.append((t, what))

    try:
        with Lab(name="demo") as lab:
            note(time.time(), f"Asterisk {lab.asterisk_version} up (AMI port {lab.ami_port}, "
                              f"SIP port {lab.sip_port}; provider SIPp on port {lab.sipp_ports['SIP-TEST']})")
            sipp = lab.sipp("answer-and-hold")
            config_path = lab.workdir / "conflink-demo.yaml"
            lab.write_worker_config(config_path, [DEMO_LINK])
            worker = lab.start_worker(config_path, lab.workdir / "worker.log")
            note(time.time(), f"conflink-worker started (pid {worker.pid}), link 1: room {ROOM} -> "
                              f"PJSIP/{DEMO_LINK['number']}@SIP-TEST, dtmf {DEMO_LINK['dtmf']!r}, "
                              f"dtmf_delay {DEMO_LINK['dtmf_delay']} s")
            time.sleep(1.0)  # let it connect to AMI and resync
            mark = lab.a.mark()

            alice = lab.join(ROOM)
            note(alice.join_t, f"internal participant 1 joins room {ROOM} ({alice.uniqueid})")
            ext = lab.a.wait_event(
                lambda e: e.get("Event") == "ConfbridgeJoin" and str(e.get("Uniqueid", "")).startswith("conflink-"),
                15, mark,
            )
            ext_joined = ext is not None
            time.sleep(0.5)
            bob = lab.join(ROOM)
            note(bob.join_t, "internal participant 2 joins (no second call: the external party is already in)")
            time.sleep(1.0)
            lab.leave(alice)
            note(alice.leave_t, "internal participant 1 leaves (participant 2 still in: call stays)")
            time.sleep(1.0)
            lab.leave(bob)
            note(bob.leave_t, "internal participant 2 leaves: the room has no internal participant")
            sipp.wait_for(lambda: sipp.byes("in"), 1, timeout=10)
            time.sleep(0.3)

            # What AMI and the provider saw, merged into the timeline.
            for e in lab.a.find_events(start=mark):
                uid = str(e.get("Uniqueid", ""))
                if not uid.startswith("conflink-"):
                    continue
                if e.get("Event") == "Newchannel":
                    note(e["_t"], f"worker's Originate: Asterisk creates {e.get('Channel')} (Uniqueid {uid})")
                elif e.get("Event") == "ConfbridgeJoin":
                    note(e["_t"], f"external call enters ConfBridge {e.get('Conference')}")
                elif e.get("Event") == "ConfbridgeLeave":
                    note(e["_t"], f"external call leaves ConfBridge {e.get('Conference')}")
                elif e.get("Event") == "Hangup":
                    note(e["_t"], f"external channel hung up ({e.get('Cause-txt')})")
            for m in sipp.invites():
                note(m.t, f"provider receives INVITE for {m.ruri_user}")
            for m in sipp.answers():
                note(m.t, "provider answers (200 OK)")
            for i, m in enumerate(sipp.infos(), 1):
                note(m.t, f"provider receives DTMF digit {i}: {m.digit}")
            for m in sipp.byes("in"):
                note(m.t, "provider receives BYE: external call hung up")

            stop_elapsed, code = worker.stop()
            note(time.time(), f"conflink-worker stopped by SIGTERM in {stop_elapsed * 1000:.0f} ms (exit {code})")
            digits = sipp.digits()
            invites = len(sipp.invites())
            worker_log = worker.log()
    except LabError as exc:
        print(f"demo failed: {exc}", file=sys.stderr)
        return 1
    note(time.time(), "lab stopped (Asterisk, SIPp)")

    print(f"\nModuleConferenceLink demo: room {ROOM} linked to an external number\n")
    print("    ms  event")
    for t, what in sorted(timeline):
        print(f"{(t - t0) * 1000:8.0f}  {what}")
    expected = DEMO_LINK["dtmf"].replace("w", "").replace("W", "")
    ok = digits == expected and invites == 1 and ext_joined
    print(f"\nINVITEs at the provider: {invites}; DTMF received: {digits!r} (sent {DEMO_LINK['dtmf']!r})")
    if args.show_worker_log:
        print("\n--- worker log ---\n" + worker_log)
    if not ok:
        print("demo did NOT behave as expected", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

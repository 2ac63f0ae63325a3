"""Step 1: reaction latency over room cycles, for any contender behind its counting proxy."""

from __future__ import annotations

import random
import time
from typing import Any

from lab import Lab
from procs import WorkerContender, labmod, proc_cpu, proc_mem
from stats import summary


def ext_event(e: dict[str, Any], name: str, room: str) -> bool:
    """An external call's ConfBridge event: anything not made by the lab is a contender's call
    (the worker's are conflink-*, the baselines' floor-* and poll-*: the worker hangs up any
    conflink-* call that is not one of its links, so the baselines must not use that prefix)."""
    return (e.get("Event") == name and e.get("Conference") == room
            and not str(e.get("Uniqueid", "")).startswith(labmod.INTERNAL_PREFIX))


def latency_cycles(L: Lab, contender: Any, cycles: int, room: str, pause: float) -> dict[str, Any]:
    sipp = L.sipp("answer-and-hold", max_calls=5000)
    rng = random.Random(7)
    cpu0 = proc_cpu(contender.pid)
    rows: list[dict[str, float]] = []
    try:
        for i in range(cycles):
            mark = L.a.mark()
            h = L.join(room)
            invites = sipp.wait_for(sipp.invites, i + 1, timeout=20)
            L.a.wait_event(lambda e: ext_event(e, "ConfbridgeJoin", room), 20, mark)
            # A random pause decorrelates the cycles from the poller's 3-second phase.
            time.sleep(rng.uniform(0.05, pause))
            mark = L.a.mark()
            leave_t = L.leave(h)
            byes = sipp.wait_for(lambda: sipp.byes("in"), i + 1, timeout=20)
            L.a.wait_event(lambda e: ext_event(e, "ConfbridgeLeave", room), 20, mark)
            rows.append({"join": h.join_t, "invite": invites[i].t, "leave": leave_t, "bye": byes[i].t})
            time.sleep(rng.uniform(0.05, pause))
        time.sleep(0.3)
        invites, byes = sipp.invites(), sipp.byes("in")
    finally:
        sipp.stop()
    cpu = proc_cpu(contender.pid) - cpu0
    actions = contender.proxy.actions()
    originates = [t for t, a, _ in actions if a == "originate"]
    hangups = [t for t, a, _ in actions if a == "hangup"]
    for r in rows:
        r["originate"] = min((t for t in originates if t >= r["join"] - 0.001), default=float("nan"))
        r["hangup"] = min((t for t in hangups if t >= r["leave"] - 0.001), default=float("nan"))
    res: dict[str, Any] = {
        "cycles": cycles,
        "invites": len(invites),
        "byes": len(byes),
        "originates_sent": len(originates),
        "requests": len(actions),
        "cpu_ms_per_cycle": 1000 * cpu / cycles,
        "rss_mb": proc_mem(contender.pid).get("VmHWM", float("nan")),
        "join_originate": summary([r["originate"] - r["join"] for r in rows]),
        "originate_invite": summary([r["invite"] - r["originate"] for r in rows]),
        "join_invite": summary([r["invite"] - r["join"] for r in rows]),
        "leave_hangup": summary([r["hangup"] - r["leave"] for r in rows]),
        "hangup_bye": summary([r["bye"] - r["hangup"] for r in rows]),
        "leave_bye": summary([r["bye"] - r["leave"] for r in rows]),
    }
    if isinstance(contender, WorkerContender):
        logged = contender.log_dialling()
        dial = [t for t, msg in logged if msg.startswith("dialling")]
        hang = [t for t, msg in logged if msg.startswith("hanging up")]
        res["join_log_dialling"] = summary(
            [min((t for t in dial if t >= r["join"] - 0.002), default=float("nan")) - r["join"] for r in rows])
        res["leave_log_hangup"] = summary(
            [min((t for t in hang if t >= r["leave"] - 0.002), default=float("nan")) - r["leave"] for r in rows])
    return res

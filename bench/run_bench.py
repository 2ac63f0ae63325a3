"""Benchmarks: reaction latency, scale and footprint of the worker, side by side with two baselines.

    make bench          # the full run (about 6-8 minutes), writes docs/benchmarks.md
    make bench-smoke    # the same steps, scaled down to about 30 s (writes bench/results/ only)

Everything runs against one real lab Asterisk (tests/lab/lab.py) with SIPp as the provider:
1. reaction latency over room cycles for our worker, the floor baseline (bench/baseline_floor.py)
   and the original recipe's 3-second poller (bench/baseline_poller.py), each behind its own
   counting AMI proxy (bench/ami_proxy.py) so every contender is measured the same way;
2. the worker's AMI requests at idle with 1000 links configured;
3. scale: 1000 links (one per room), 200 rooms busy at once, >= 100 joins/leaves per second,
   every busy period checked for exactly one external call, and its end for the hang-up;
4. state-machine and engine throughput without I/O (bench/fsm_bench.py).
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import heapq
import json
import os
import platform
import random
import re
import statistics
import subprocess
import sys
import time
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
sys.path.insert(0, str(REPO / "tests" / "lab"))
sys.path.insert(0, str(BENCH))

import fsm_bench  # noqa: E402
import lab as labmod  # noqa: E402
from lab import Lab, LabError, free_port_block, write_yaml  # noqa: E402

PY = sys.executable
LAT_ROOM = "1001"
SCALE_ROOM_BASE = 2000
EXT = "conflink-"
WORKER_LOG_RE = re.compile(r"^(\d\d:\d\d:\d\d\.\d{3}) INFO conflink\.engine link=(\S+) room=(\S+) state=\S+ (.*)$")


@dataclass
class Params:
    cycles: int  # latency cycles, ours and floor
    poller_cycles: int
    links: int  # configured links in the scale phase (one per room)
    busy: int  # rooms busy at once
    per_period: int  # internal participants per busy period (overlapping chain)
    step: float  # seconds between their joins
    hold: float  # seconds each stays
    load_seconds: float
    idle_gap: float  # a room rests this long before it is used again
    rtp_ports: int
    poller_idle_seconds: float
    fsm_seconds: float
    poll_interval: float = 3.0  # the recipe's; the smoke run shortens it to fit in 30 s
    pause: float = 0.25  # max random pause between the steps of a latency cycle


FULL = Params(cycles=60, poller_cycles=50, links=1000, busy=100, per_period=6, step=1.5, hold=2.5,
              load_seconds=60, idle_gap=2.0, rtp_ports=1200, poller_idle_seconds=9.5, fsm_seconds=1.5)
SMOKE = Params(cycles=5, poller_cycles=2, links=50, busy=10, per_period=3, step=0.6, hold=1.2,
               load_seconds=5, idle_gap=0.5, rtp_ports=200, poller_idle_seconds=0, fsm_seconds=0.2,
               poll_interval=1.0, pause=0.1)


# ---------------------------------------------------------------------------------------------
# processes and /proc


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

    def actions(self) -> list[tuple[float, str, str]]:
        out = []
        for line in self.log.read_text().splitlines():
            parts = line.split("\t")
            if len(parts) == 4:
                out.append((float(parts[0]), parts[2].lower(), parts[3]))
        return out


# ---------------------------------------------------------------------------------------------
# the contenders


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


# ---------------------------------------------------------------------------------------------
# 1. reaction latency


def pct(values: list[float], q: float) -> float:
    s = sorted(values)
    if not s:
        return float("nan")
    k = (len(s) - 1) * q
    lo, hi = int(k), min(int(k) + 1, len(s) - 1)
    return s[lo] + (s[hi] - s[lo]) * (k - lo)


def summary(values: list[float]) -> dict[str, float]:
    ms = [v * 1000 for v in values]
    return {"n": len(ms), "median": pct(ms, 0.5), "p95": pct(ms, 0.95), "p99": pct(ms, 0.99),
            "max": max(ms) if ms else float("nan")}


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


# ---------------------------------------------------------------------------------------------
# 3. scale


@dataclass(order=True)
class Op:
    t: float
    seq: int
    kind: str = field(compare=False)  # "join" | "leave"
    room: str = field(compare=False)
    pid: str = field(compare=False)  # participant ChannelId
    due: float = field(compare=False, default=0.0)  # first due time (t moves when retried)


def scale_phase(L: Lab, W: WorkerContender, p: Params) -> dict[str, Any]:
    rooms = [str(SCALE_ROOM_BASE + i) for i in range(p.links)]
    sipp = L.sipp("answer-and-hold", max_calls=5000)
    rng = random.Random(11)
    pool = ThreadPoolExecutor(max_workers=8)
    idle_since = {r: -1e9 for r in rooms}
    busy: dict[str, set[str]] = {}  # room -> participant ids not yet gone (scheduled or in)
    channel_of: dict[str, str] = {}  # participant id -> ConfBridge channel (;2 half)
    in_room: set[str] = set()
    ops: list[Op] = []
    seq = 0
    n_ops = {"join": 0, "leave": 0}
    errors: list[str] = []
    periods = 0
    busy_samples: list[int] = []

    join_resp: dict[str, str] = {}

    def send(fields: dict[str, Any]) -> None:
        try:
            resp = L.a.action(fields, timeout=20)
            if fields["Action"] == "Originate":
                join_resp[fields["ChannelId"]] = f"{resp[0].get('Response')} {resp[0].get('Message', '')}"
            if resp[0].get("Response") != "Success":
                errors.append(f"{fields['Action']}: {resp[0].get('Message')}")
        except LabError as exc:
            errors.append(str(exc))

    def start_period(room: str, t0: float) -> None:
        nonlocal seq, periods
        periods += 1
        busy[room] = set()
        for j in range(p.per_period):
            seq += 1
            # Fixed width and a terminator: Asterisk refuses a ChannelId that is a prefix of a live
            # channel's Uniqueid ("labjoin-s1" vs "labjoin-s13;2"), and the join silently never happens.
            pid = f"{labmod.INTERNAL_PREFIX}s{seq:07d}x"
            busy[room].add(pid)
            tj = t0 + j * p.step + rng.uniform(0, 0.2 * p.step)
            heapq.heappush(ops, Op(tj, seq, "join", room, pid))
            heapq.heappush(ops, Op(tj + p.hold + rng.uniform(-0.1, 0.1) * p.hold, seq, "leave", room, pid))

    ami_mark = L.a.mark()
    cursor = ami_mark
    cpu0 = {"worker": proc_cpu(W.pid), "asterisk": proc_cpu(L.proc.pid), "sipp": proc_cpu(sipp.pid),
            "proxy": proc_cpu(W.proxy.pid)}
    req0 = len(W.proxy.actions())
    t_start = time.time()
    end = t_start + p.load_seconds
    free = [r for r in rooms]
    rng.shuffle(free)
    for r in free[: p.busy]:
        start_period(r, t_start + rng.uniform(0, p.step))
    last_sample = 0.0
    try:
        while True:
            now = time.time()
            # what Asterisk reported since the last pass
            new = L.a.events[cursor:]
            cursor += len(new)
            for e in new:
                uid = str(e.get("Uniqueid", ""))
                if not uid.startswith(labmod.INTERNAL_PREFIX):
                    continue
                pid = uid.split(";")[0]
                room = str(e.get("Conference", ""))
                if e.get("Event") == "ConfbridgeJoin":
                    channel_of[pid] = str(e.get("Channel"))
                    in_room.add(pid)
                elif e.get("Event") == "ConfbridgeLeave":
                    in_room.discard(pid)
                    members = busy.get(room)
                    if members is not None:
                        members.discard(pid)
                        if not members:
                            del busy[room]
                            idle_since[room] = now
            # keep `busy` rooms busy until the load ends
            if now < end and len(busy) < p.busy:
                candidates = [r for r in rooms if r not in busy and now - idle_since[r] >= p.idle_gap]
                for r in rng.sample(candidates, min(len(candidates), p.busy - len(busy))):
                    start_period(r, now)
            while ops and ops[0].t <= now:
                op = heapq.heappop(ops)
                if op.kind == "join":
                    n_ops["join"] += 1
                    pool.submit(send, {
                        "Action": "Originate", "Channel": f"Local/{op.room}@{labmod.ROOM_CONTEXT}",
                        "Application": "Wait", "Data": "3600", "Async": "true", "ChannelId": op.pid,
                        "CallerID": f"bench <{op.seq}>",
                    })
                elif op.pid in channel_of:
                    n_ops["leave"] += 1
                    pool.submit(send, {"Action": "Hangup", "Channel": channel_of[op.pid]})
                elif now - (op.due or op.t) > 30:
                    errors.append(f"participant {op.pid} never joined room {op.room} "
                                  f"(join response: {join_resp.get(op.pid)})")
                    members = busy.get(op.room)
                    if members is not None:
                        members.discard(op.pid)
                        if not members:
                            del busy[op.room]
                else:  # not in the room yet (Asterisk is behind): try again shortly
                    heapq.heappush(ops, Op(now + 0.05, op.seq, op.kind, op.room, op.pid, op.due or op.t))
            if now - last_sample >= 1.0:
                busy_samples.append(len(busy))
                last_sample = now
            if now >= end and not ops and not busy:
                break
            if now > end + 60:
                errors.append(f"load did not drain: {len(busy)} room(s) still busy, {len(ops)} op(s) left")
                break
            time.sleep(0.005)
        t_load_end = time.time()
        cpu_load = {"worker": proc_cpu(W.pid), "asterisk": proc_cpu(L.proc.pid), "sipp": proc_cpu(sipp.pid),
                    "proxy": proc_cpu(W.proxy.pid)}
        req_load = len(W.proxy.actions())
        # let the last hang-ups land
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            st = W.status()
            if all(link["state"] == "idle" and not link["external_call_id"] for link in st["links"]):
                break
            time.sleep(0.5)
        time.sleep(1.0)
        st = W.status()
        leftovers = L.conflink_channels()
        rooms_left = L.a.action({"Action": "ConfbridgeListRooms"})
        messages = sipp.messages()
    finally:
        pool.shutdown(wait=True)
        sipp.stop()
    load_s = t_load_end - t_start
    events = L.a.events[ami_mark:]
    for i, err in enumerate(errors):
        m = re.match(r"participant (\S+) never joined", err)
        if m:
            seen = [(e.get("Event"), e.get("Conference"), round(float(e["_t"]) - t_start, 3)) for e in L.a.events
                    if str(e.get("Uniqueid", "")).startswith(m.group(1) + ";")]
            errors[i] = f"{err}; events for it: {seen}"
    check = verify_scale(events, messages, rooms)
    ops_total = n_ops["join"] + n_ops["leave"]
    return {
        "links": p.links, "rooms": p.links, "busy_target": p.busy,
        "busy_mean": statistics.mean(busy_samples) if busy_samples else 0,
        "busy_max": max(busy_samples, default=0),
        "load_seconds": load_s, "ops": n_ops, "ops_per_s": ops_total / load_s, "periods": periods,
        "errors": errors[:20], "errors_total": len(errors),
        "cpu_s": {k: cpu_load[k] - cpu0[k] for k in cpu0},
        "cpu_pct": {k: 100 * (cpu_load[k] - cpu0[k]) / load_s for k in cpu0},
        "worker_mem": proc_mem(W.pid), "asterisk_mem": proc_mem(L.proc.pid),
        "requests_load": req_load - req0, "requests_per_min_load": 60 * (req_load - req0) / load_s,
        "counters": st.get("counters", {}), "ami": st.get("ami", {}),
        "leftover_conflink_channels": len(leftovers),
        "leftover_rooms": len([m for m in rooms_left if m.get("Event") == "ConfbridgeListRooms"]),
        "links_not_idle": [x["id"] for x in st["links"] if x["state"] != "idle"][:10],
        **check,
    }


def verify_scale(events: list[dict[str, Any]], messages: list[labmod.SipMsg], rooms: list[str]) -> dict[str, Any]:
    """Busy periods from the lab's ConfBridge events; per period exactly one external call joined;
    SIPp INVITEs per room (dialled number = room) equal the busy periods of that room."""
    want = set(rooms)
    internals: dict[str, set[str]] = defaultdict(set)
    externals: dict[str, set[str]] = defaultdict(set)
    periods: dict[str, list[dict[str, Any]]] = defaultdict(list)
    two_ext = 0
    for e in events:
        room = str(e.get("Conference", ""))
        if room not in want or e.get("Event") not in ("ConfbridgeJoin", "ConfbridgeLeave"):
            continue
        uid, t = str(e.get("Uniqueid", "")), float(e["_t"])
        joined = e["Event"] == "ConfbridgeJoin"
        if uid.startswith(EXT):
            if joined:
                externals[room].add(uid)
                if len(externals[room]) > 1:
                    two_ext += 1
                if periods[room]:
                    periods[room][-1]["ext"].add(uid)
            else:
                externals[room].discard(uid)
                if periods[room] and periods[room][-1]["ext_leave"] is None and not internals[room]:
                    periods[room][-1]["ext_leave"] = t
            continue
        if joined:
            if not internals[room]:
                periods[room].append({"start": t, "end": None, "ext": set(), "ext_leave": None})
            internals[room].add(uid)
        else:
            internals[room].discard(uid)
            if not internals[room] and periods[room]:
                periods[room][-1]["end"] = t
    invites_by_room: dict[str, list[labmod.SipMsg]] = defaultdict(list)
    bye_by_call: dict[str, float] = {}
    for m in messages:
        if m.direction == "in" and m.method == "INVITE" and m.ruri_user in want:
            invites_by_room[m.ruri_user].append(m)
        elif m.direction == "in" and m.method == "BYE":
            bye_by_call.setdefault(m.call_id, m.t)
    n_periods = sum(len(v) for v in periods.values())
    bad_periods = [(r, i) for r, ps in periods.items() for i, pr in enumerate(ps) if len(pr["ext"]) != 1]
    room_mismatch = [r for r in want if len(invites_by_room.get(r, [])) != len(periods.get(r, []))]
    join_inv, leave_bye, lone = [], [], []
    for room, ps in periods.items():
        invs = sorted(invites_by_room.get(room, []), key=lambda m: m.t)
        for pr in ps:
            inv = next((m for m in invs if m.t >= pr["start"] - 0.002), None)
            if inv is None:
                continue
            join_inv.append(inv.t - pr["start"])
            if pr["end"] is not None and inv.call_id in bye_by_call and bye_by_call[inv.call_id] >= pr["end"]:
                leave_bye.append(bye_by_call[inv.call_id] - pr["end"])
            if pr["end"] is not None and pr["ext_leave"] is not None:
                lone.append(pr["ext_leave"] - pr["end"])
    invites = sum(len(v) for v in invites_by_room.values())
    return {
        "periods_seen": n_periods, "rooms_used": len(periods), "invites": invites,
        "byes_in": len(bye_by_call), "periods_not_one_call": len(bad_periods),
        "rooms_invites_mismatch": len(room_mismatch), "two_externals_in_a_room": two_ext,
        "join_invite_load": summary(join_inv), "leave_bye_load": summary(leave_bye),
        "external_alone_load": summary(lone),
    }


def poller_idle(L: Lab, p: Params) -> dict[str, Any]:
    """The recipe's request rate with the same 1000 rooms configured and nobody in them."""
    rooms = f"{SCALE_ROOM_BASE}-{SCALE_ROOM_BASE + p.links - 1}"
    c = BaselineContender(L, "poller-idle", "baseline_poller.py", rooms)
    t0 = time.time()
    cpu0 = proc_cpu(c.pid)
    time.sleep(p.poller_idle_seconds)
    cpu = proc_cpu(c.pid) - cpu0
    n = len([a for a in c.proxy.actions() if a[0] >= t0])
    mem = proc_mem(c.pid)
    c.stop()
    return {"requests_per_min": 60 * n / p.poller_idle_seconds, "cpu_pct": 100 * cpu / p.poller_idle_seconds,
            "rss_mb": mem.get("VmHWM")}


# ---------------------------------------------------------------------------------------------
# report


def f(v: Any, nd: int = 1) -> str:
    if v is None or (isinstance(v, float) and v != v):
        return "n/a"
    return f"{v:.{nd}f}" if isinstance(v, float) else str(v)


def lat_row(name: str, s: dict[str, float]) -> str:
    return f"| {name} | {s['n']} | {f(s['median'])} | {f(s['p95'])} | {f(s['p99'])} | {f(s['max'])} |"


def render(r: dict[str, Any], smoke: bool, notes: str) -> str:
    L = r["latency"]
    ours, floor = L["ours"], L["floor"]
    lines = [
        "# Benchmarks",
        "",
        f"Generated by `make {'bench-smoke' if smoke else 'bench'}` (bench/run_bench.py) on {r['date']}.",
        "",
        f"- CPU: {r['cpu']} ({r['cores']} cores)",
        f"- Asterisk: {r['asterisk']} (lab instance from the sid root, ConfBridge + PJSIP, SIPp {r['sipp']})",
        f"- Python {r['python']}, worker `conflink` {r['worker_version']}",
        f"- Wall time of the whole run: {r['wall_s']:.0f} s",
        "",
        "Every contender talks to the same Asterisk through its own counting AMI proxy",
        "(bench/ami_proxy.py), dials the same `PJSIP/<room>@SIP-TEST` into the module's `conflink-join`",
        "context, and SIPp (`answer-and-hold`) answers. Times: the lab's AMI connection stamps each",
        "`ConfbridgeJoin`/`ConfbridgeLeave` on arrival, the proxy stamps each action on arrival, SIPp's",
        "message trace stamps each INVITE/BYE; all are wall-clock on one machine. linger 0, no DTMF.",
        "",
        "## 1. Reaction latency (ms)",
        "",
        "| contender / interval | n | median | p95 | p99 | max |",
        "|---|---|---|---|---|---|",
    ]
    poller = f"recipe ({r['params']['poll_interval']:g} s poller)"
    for key, label in (("ours", "worker"), ("floor", "floor (bare asyncio)"), ("recipe", poller)):
        x = L[key]
        lines.append(lat_row(f"{label}: first join → Originate at proxy", x["join_originate"]))
        lines.append(lat_row(f"{label}: Originate → INVITE at SIPp", x["originate_invite"]))
        lines.append(lat_row(f"**{label}: first join → INVITE**", x["join_invite"]))
        lines.append(lat_row(f"{label}: last leave → Hangup at proxy", x["leave_hangup"]))
        lines.append(lat_row(f"{label}: Hangup → BYE at SIPp", x["hangup_bye"]))
        lines.append(lat_row(f"**{label}: last leave → BYE**", x["leave_bye"]))
    lines += [
        lat_row("worker's own log: first join → 'dialling' line (ms clock)", ours["join_log_dialling"]),
        lat_row("worker's own log: last leave → 'hanging up' line (ms clock)", ours["leave_log_hangup"]),
        "",
        "| ratio of medians | join → INVITE | leave → BYE |",
        "|---|---|---|",
        f"| worker / floor | {r['ratios']['ours_floor_join']:.2f} | {r['ratios']['ours_floor_leave']:.2f} |",
        f"| recipe / worker | {r['ratios']['recipe_ours_join']:.0f} | {r['ratios']['recipe_ours_leave']:.0f} |",
        "",
        "| contender | cycles | INVITEs | BYEs | AMI requests | CPU ms per cycle | peak RSS MB |",
        "|---|---|---|---|---|---|---|",
    ]
    for key, label in (("ours", "worker"), ("floor", "floor"), ("recipe", "recipe")):
        x = L[key]
        lines.append(f"| {label} | {x['cycles']} | {x['invites']} | {x['byes']} | {x['requests']} | "
                     f"{f(x['cpu_ms_per_cycle'], 2)} | {f(x['rss_mb'])} |")
    idle, s = r["idle"], r["scale"]
    lines += [
        "",
        "## 2. Idle: AMI requests with all links configured, nobody in their rooms",
        "",
        "| contender | rooms | AMI requests per minute | CPU % | peak RSS MB |",
        "|---|---|---|---|---|",
        f"| worker | {idle['links']} | {f(idle['requests_per_min'], 2)} (over {idle['seconds']:.0f} s: "
        f"{idle['by_action']}) | {f(idle['cpu_pct'], 2)} | {f(idle['rss_mb'])} |",
        f"| floor | any | 0 (event driven, measured {f(L['floor']['requests'])} requests in "
        f"{floor['cycles']} cycles, all Originate/Hangup) | | |",
    ]
    if r.get("poller_idle"):
        pi = r["poller_idle"]
        lines.append(f"| recipe | {idle['links']} | {f(pi['requests_per_min'], 0)} | {f(pi['cpu_pct'], 1)} | "
                     f"{f(pi['rss_mb'])} |")
    lines += [
        "",
        f"Worker start with {idle['links']} links: ready (first resync done) after {idle['ready_s']:.2f} s, "
        f"{idle['startup_requests']} AMI requests (CoreShowChannels, ConfbridgeListRooms, then "
        "ConfbridgeList only for rooms that exist).",
        "",
        "## 3. Scale",
        "",
        f"{s['links']} links configured, one per room ({s['rooms']} rooms, number dialled = room). "
        f"Load for {s['load_seconds']:.0f} s: up to {s['busy_target']} rooms busy at once (mean "
        f"{s['busy_mean']:.0f}, max {s['busy_max']}); each busy period is a chain of {r['params']['per_period']} "
        f"internal participants (Local channels) joining {r['params']['step']:g} s apart and staying "
        f"{r['params']['hold']:g} s, so the room never empties in between; a room rests "
        f"{r['params']['idle_gap']:g} s before it is used again.",
        "",
        "| measure | value |",
        "|---|---|",
        f"| joins + leaves sent | {s['ops']['join']} + {s['ops']['leave']} = "
        f"{s['ops']['join'] + s['ops']['leave']} ({s['ops_per_s']:.0f} per second) |",
        f"| busy periods (ConfBridge events) / rooms used | {s['periods_seen']} / {s['rooms_used']} |",
        f"| INVITEs at SIPp / BYEs from Asterisk | {s['invites']} / {s['byes_in']} |",
        f"| busy periods without exactly one external call | {s['periods_not_one_call']} |",
        f"| rooms whose INVITE count ≠ their busy periods | {s['rooms_invites_mismatch']} |",
        f"| moments with two external calls in one room | {s['two_externals_in_a_room']} |",
        f"| external calls / rooms left over after the load | {s['leftover_conflink_channels']} / "
        f"{s['leftover_rooms']} |",
        f"| load generator errors | {s['errors_total']} |",
        f"| first join → INVITE under load, median / p95 / p99 / max ms | "
        f"{f(s['join_invite_load']['median'])} / {f(s['join_invite_load']['p95'])} / "
        f"{f(s['join_invite_load']['p99'])} / {f(s['join_invite_load']['max'])} |",
        f"| last leave → BYE under load, median / p95 / p99 / max ms | "
        f"{f(s['leave_bye_load']['median'])} / {f(s['leave_bye_load']['p95'])} / "
        f"{f(s['leave_bye_load']['p99'])} / {f(s['leave_bye_load']['max'])} |",
        f"| external call alone in the room (last leave → its ConfbridgeLeave), median / max ms | "
        f"{f(s['external_alone_load']['median'])} / {f(s['external_alone_load']['max'])} |",
        f"| worker CPU seconds (load) | {s['cpu_s']['worker']:.2f} ({s['cpu_pct']['worker']:.1f} % of one core) |",
        f"| Asterisk CPU seconds (load) | {s['cpu_s']['asterisk']:.2f} "
        f"({s['cpu_pct']['asterisk']:.0f} % of one core) |",
        f"| SIPp / AMI proxy CPU seconds | {s['cpu_s']['sipp']:.2f} / {s['cpu_s']['proxy']:.2f} |",
        f"| worker peak RSS (VmHWM) | {s['worker_mem'].get('VmHWM', 0):.1f} MB "
        f"(idle before the load: {idle['rss_mb']:.1f} MB) |",
        f"| Asterisk peak RSS | {s['asterisk_mem'].get('VmHWM', 0):.0f} MB |",
        f"| worker AMI requests during the load | {s['requests_load']} ({s['requests_per_min_load']:.0f} per "
        f"minute) |",
        f"| worker counters | {json.dumps(s['counters'])} |",
        "",
        "## 4. State machine throughput (no I/O)",
        "",
        "| path | events per second | µs per event |",
        "|---|---|---|",
    ]
    for label, x in r["fsm"].items():
        lines.append(f"| {label} | {x['events_per_s']:,.0f} | {x['us_per_event']:.2f} |")
    lines += ["", "A room cycle is 7 events: two internal joins, the call answered, the call joined, two leaves "
              "(hang-up issued), the channel gone.", ""]
    lines += ["## Targets", "", "| target | goal | measured | |", "|---|---|---|---|"]
    for t in r["targets"]:
        lines.append(f"| {t['what']} | {t['goal']} | {t['got']} | {'met' if t['met'] else '**missed**'} |")
    lines.append("")
    if r.get("profile"):
        # Paths of this machine say nothing to a reader: keep module-relative names only.
        r["profile"] = re.sub(r"\S*/lib/python3\.\d+/", "<stdlib>/", r["profile"].replace(str(REPO) + "/", ""))
        lines += ["## Where the in-process time goes (cProfile, engine event path, top by own time)", "",
                  "```", r["profile"].strip(), "```", ""]
    if notes:
        lines += [notes.strip(), ""]
    return "\n".join(lines)


def targets(r: dict[str, Any]) -> list[dict[str, Any]]:
    L, s, idle = r["latency"], r["scale"], r["idle"]
    ji, lb = L["ours"]["join_invite"]["median"], L["ours"]["leave_bye"]["median"]
    fl = L["floor"]["join_invite"]["median"]
    fsm = r["fsm"]["LinkMachine, 1000 machines"]["events_per_s"]
    rss = s["worker_mem"].get("VmHWM", 0)
    rec = idle["reconciles_per_min_max"]
    return [
        {"what": "join → INVITE median", "goal": "≤ 3× floor and ≤ 10 ms",
         "got": f"{ji:.2f} ms = {ji / fl:.2f}× floor ({fl:.2f} ms)", "met": ji <= 3 * fl and ji <= 10},
        {"what": "leave → BYE median", "goal": "≤ 10 ms", "got": f"{lb:.2f} ms", "met": lb <= 10},
        {"what": "FSM throughput", "goal": "≥ 50k events/s", "got": f"{fsm:,.0f} events/s", "met": fsm >= 50000},
        {"what": f"RSS at {s['links']} links", "goal": "≤ 60 MB", "got": f"{rss:.1f} MB (peak, under load)",
         "met": rss <= 60},
        {"what": "AMI requests at idle", "goal": "≤ 1 reconcile per minute, nothing else",
         "got": f"{idle['requests_per_min']:.2f} per minute ({idle['by_action']})",
         "met": idle["others"] == 0 and rec <= 1.0},
        {"what": "scale correctness", "goal": "one external call per busy period, hung up on empty",
         "got": f"{s['periods_not_one_call']} bad periods, {s['rooms_invites_mismatch']} rooms mismatched, "
                f"{s['leftover_conflink_channels']} left over",
         "met": s["periods_not_one_call"] == 0 and s["rooms_invites_mismatch"] == 0
         and s["leftover_conflink_channels"] == 0 and s["two_externals_in_a_room"] == 0},
    ]


# ---------------------------------------------------------------------------------------------


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--smoke", action="store_true", help="a scaled-down run of every step (about 30 s)")
    ap.add_argument("--out", default=None, help="markdown report (default docs/benchmarks.md; smoke: "
                    "bench/results/benchmarks-smoke.md)")
    ap.add_argument("--render", metavar="JSON", help="only re-render the report from a results JSON")
    args = ap.parse_args()
    if args.render:
        r = json.loads(Path(args.render).read_text())
        notes_file = BENCH / "notes.md"
        out = Path(args.out) if args.out else REPO / "docs/benchmarks.md"
        out.write_text(render(r, False, notes_file.read_text() if notes_file.exists() else ""))
        print(f"written: {out}")
        return 0
    p = SMOKE if args.smoke else FULL
    out = Path(args.out) if args.out else (BENCH / "results/benchmarks-smoke.md" if args.smoke
                                           else REPO / "docs/benchmarks.md")
    t_wall = time.monotonic()
    r: dict[str, Any] = {"params": p.__dict__, "date": dt.datetime.now().strftime("%Y-%m-%d %H:%M"),
                         "cpu": cpu_model(), "cores": os.cpu_count(), "python": platform.python_version()}
    from conflink import __version__

    r["worker_version"] = __version__
    sipp_v = subprocess.run(["sipp", "-v"], capture_output=True, text=True)
    m = re.search(r"SIPp v(\d+\.\d+(\.\d+)?)", sipp_v.stdout + sipp_v.stderr)
    r["sipp"] = m.group(1) if m else "?"

    def say(msg: str) -> None:
        print(f"[{time.monotonic() - t_wall:6.1f} s] {msg}", flush=True)

    with Lab(name="bench", rtp_ports=p.rtp_ports, log_verbose=0) as L:
        r["asterisk"] = L.asterisk_version
        # The lab's recorder only needs ConfBridge events; everything else costs it CPU under load.
        L.a.action({"Action": "Filter", "Operation": "Add", "Filter": "Event: Confbridge(Join|Leave)"})
        say(f"lab up: Asterisk {L.asterisk_version}")
        lat: dict[str, Any] = {}
        w = WorkerContender(L, [{"id": "lat", "room": LAT_ROOM, "number": LAT_ROOM, "dtmf_delay": 0}], "lat")
        try:
            lat["ours"] = latency_cycles(L, w, p.cycles, LAT_ROOM, p.pause)
        finally:
            w.stop()
        say(f"worker latency: join→INVITE median {lat['ours']['join_invite']['median']:.2f} ms")

        links = [{"id": str(i), "room": str(SCALE_ROOM_BASE + i), "number": str(SCALE_ROOM_BASE + i),
                  "dtmf_delay": 0} for i in range(p.links)]
        W = WorkerContender(L, links, "scale")
        try:
            time.sleep(0.5)  # the proxy flushes its log every 0.2 s
            startup = [a for a in W.proxy.actions() if a[1] != "login"]
            idle_t0, idle_cpu0 = time.time(), proc_cpu(W.pid)
            say(f"worker with {p.links} links ready in {W.ready_seconds:.2f} s; idle window starts")
            floor = BaselineContender(L, "floor", "baseline_floor.py", LAT_ROOM)
            try:
                lat["floor"] = latency_cycles(L, floor, p.cycles, LAT_ROOM, p.pause)
            finally:
                floor.stop()
            say(f"floor latency: join→INVITE median {lat['floor']['join_invite']['median']:.2f} ms")
            rec = BaselineContender(L, "recipe", "baseline_poller.py", LAT_ROOM,
                                    ["--interval", str(p.poll_interval)])
            try:
                lat["recipe"] = latency_cycles(L, rec, p.poller_cycles, LAT_ROOM, p.pause)
            finally:
                rec.stop()
            say(f"recipe latency: join→INVITE median {lat['recipe']['join_invite']['median']:.0f} ms")
            idle_t1 = time.time()
            idle_actions = [a for a in W.proxy.actions() if idle_t0 <= a[0] <= idle_t1]
            by_action: dict[str, int] = defaultdict(int)
            for _, a, _ in idle_actions:
                by_action[a] += 1
            secs = idle_t1 - idle_t0
            others = sum(v for k, v in by_action.items() if k != "confbridgelistrooms")
            r["idle"] = {
                "links": p.links, "seconds": secs, "requests_per_min": 60 * len(idle_actions) / secs,
                "by_action": ", ".join(f"{v} {k}" for k, v in sorted(by_action.items())) or "none",
                "others": others,
                "reconciles_per_min_max": 60 * by_action.get("confbridgelistrooms", 0) / max(secs, 60.0),
                "cpu_pct": 100 * (proc_cpu(W.pid) - idle_cpu0) / secs,
                "rss_mb": proc_mem(W.pid).get("VmRSS", float("nan")),
                "ready_s": W.ready_seconds, "startup_requests": len(startup),
            }
            say(f"idle: {r['idle']['requests_per_min']:.2f} AMI requests/min over {secs:.0f} s; scale load starts")
            r["scale"] = scale_phase(L, W, p)
            s = r["scale"]
            say(f"scale: {s['ops_per_s']:.0f} ops/s, {s['periods_seen']} periods, {s['invites']} INVITEs, "
                f"{s['periods_not_one_call']} bad periods, worker CPU {s['cpu_s']['worker']:.1f} s, "
                f"RSS {s['worker_mem'].get('VmHWM', 0):.1f} MB")
        finally:
            W.stop()
        if p.poller_idle_seconds > 0:
            r["poller_idle"] = poller_idle(L, p)
            say(f"recipe idle at {p.links} rooms: {r['poller_idle']['requests_per_min']:.0f} requests/min")
        r["latency"] = lat

    r["fsm"] = {
        "LinkMachine, 1 machine": fsm_bench.fsm_throughput(p.fsm_seconds, 1),
        "LinkMachine, 1000 machines": fsm_bench.fsm_throughput(p.fsm_seconds, 1000),
        "Engine event path, 1000 links, INFO logging on": fsm_bench.engine_throughput(1000, p.fsm_seconds),
        "Engine event path, 1000 links, logging off": fsm_bench.engine_throughput(1000, p.fsm_seconds, log_to=None),
    }
    say("fsm: " + ", ".join(f"{k}: {v['events_per_s']:,.0f}/s" for k, v in r["fsm"].items()))
    ours, floor_, rec_ = lat["ours"], lat["floor"], lat["recipe"]
    r["ratios"] = {
        "ours_floor_join": ours["join_invite"]["median"] / floor_["join_invite"]["median"],
        "ours_floor_leave": ours["leave_bye"]["median"] / floor_["leave_bye"]["median"],
        "recipe_ours_join": rec_["join_invite"]["median"] / ours["join_invite"]["median"],
        "recipe_ours_leave": rec_["leave_bye"]["median"] / ours["leave_bye"]["median"],
    }
    r["targets"] = targets(r)
    if not args.smoke:
        r["profile"] = "\n".join(fsm_bench.profile_top(lambda: fsm_bench.engine_throughput(1000, 1.0), 14)
                                 .splitlines()[:30])
    r["wall_s"] = time.monotonic() - t_wall
    notes_file = BENCH / "notes.md"
    text = render(r, args.smoke, notes_file.read_text() if notes_file.exists() and not args.smoke else "")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text)
    results = BENCH / "results"
    results.mkdir(exist_ok=True)
    (results / ("latest-smoke.json" if args.smoke else "latest.json")).write_text(json.dumps(r, indent=1, default=str))
    print()
    print(text)
    print(f"\nwritten: {out}")
    # Targets are goals, not gates; the run fails only when an invariant broke: two external
    # calls in one room, or a call or room left behind after the load.
    sc = r["scale"]
    broken = sc["two_externals_in_a_room"] or sc["leftover_conflink_channels"] or sc["leftover_rooms"]
    return 1 if broken else 0


if __name__ == "__main__":
    sys.exit(main())

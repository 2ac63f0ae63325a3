"""Step 3: scale. Many links, many rooms busy at once, every busy period checked afterwards.

ScaleLoad runs the load as named steps: plan a busy period, read what Asterisk reported,
keep the target number of rooms busy, send the joins/leaves that are due, then drain and
collect. verify_scale() checks the recorded ConfBridge events and SIPp's trace.
"""

from __future__ import annotations

import heapq
import itertools
import random
import re
import statistics
import time
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from conflink.rules import link_id_of
from lab import Lab, LabError
from procs import WorkerContender, labmod, proc_cpu, proc_mem
from stats import summary

SCALE_ROOM_BASE = 2000
EXT = "conflink-"
# A participant that has not joined this long after its join was sent is reported, not waited for.
JOIN_GIVE_UP_SECONDS = 30.0
DRAIN_SECONDS = 60.0


@dataclass(order=True)
class Op:
    t: float
    seq: int
    kind: str = field(compare=False)  # "join" | "leave"
    room: str = field(compare=False)
    pid: str = field(compare=False)  # participant ChannelId
    due: float = field(compare=False, default=0.0)  # first due time (t moves when retried)


@dataclass
class ScaleParams:
    links: int
    busy: int
    per_period: int
    step: float
    hold: float
    load_seconds: float
    idle_gap: float
    # The lab's cheap participants (tests/lab/asterisk/extensions.conf, BENCH_ROOM_CONTEXT), so
    # the load measures ConfBridge and the worker rather than music on hold and answer waits.
    context: str = labmod.BENCH_ROOM_CONTEXT

    def planned_ops_per_s(self) -> float:
        """Joins + leaves per second the plan asks for while `busy` rooms are kept busy."""
        period = (self.per_period - 1) * self.step + self.hold
        return self.busy * 2 * self.per_period / (period + self.idle_gap)


class ScaleLoad:
    def __init__(self, L: Lab, W: WorkerContender, p: ScaleParams) -> None:
        self.L, self.W, self.p = L, W, p
        self.rooms = [str(SCALE_ROOM_BASE + i) for i in range(p.links)]
        self.rng = random.Random(11)
        self.idle_since = {r: -1e9 for r in self.rooms}
        self.busy: dict[str, set[str]] = {}  # room -> participant ids not yet gone (scheduled or in)
        self.channel_of: dict[str, str] = {}  # participant id -> its channel in the room (the ;1 half)
        self.ops: list[Op] = []
        self.seq = 0
        self.n_ops = {"join": 0, "leave": 0}
        self.errors: list[str] = []
        self.periods = 0
        self.busy_samples: list[int] = []
        self.join_resp: dict[str, str] = {}
        self.sent_at: dict[str, float] = {}  # participant id -> when its Originate was written
        self.hangup_at: dict[str, float] = {}  # participant id -> when its Hangup was written

    # ------------------------------------------------------------------ the load

    def run(self) -> dict[str, Any]:
        L, W = self.L, self.W
        sipp = L.sipp("answer-and-hold", max_calls=5000)
        pool = ThreadPoolExecutor(max_workers=8)
        self.ami_mark = self.cursor = L.a.mark()
        cpu0 = self._cpu(sipp.pid)
        req0 = len(W.proxy.actions())
        self.t_start = time.time()
        try:
            self._start_first_periods()
            self._pump(pool)
            t_load_end = time.time()
            cpu_load = self._cpu(sipp.pid)
            req_load = len(W.proxy.actions())
            st = self._wait_worker_idle()
            leftovers = L.conflink_channels()
            rooms_left = L.a.action({"Action": "ConfbridgeListRooms"})
            messages = sipp.messages()
        finally:
            pool.shutdown(wait=True)
            sipp.stop()
        load_s = t_load_end - self.t_start
        self._explain_never_joined()
        events = L.a.events[self.ami_mark:]
        check = verify_scale(events, messages, self.rooms, W.proxy.actions())
        result = self._result(load_s, cpu0, cpu_load, req_load - req0, st, leftovers, rooms_left, check)
        result["asterisk_lag"] = self._asterisk_lag(events)
        result["planned_ops_per_s"] = self.p.planned_ops_per_s()
        return result

    def _asterisk_lag(self, events: list[dict[str, Any]]) -> dict[str, Any]:
        """Asterisk's own lag: our Originate of a participant → its ConfbridgeJoin, our Hangup →
        its ConfbridgeLeave (the load generator's actions, not the worker's)."""
        joined: dict[str, float] = {}
        left: dict[str, float] = {}
        for e in events:
            uid = str(e.get("Uniqueid", ""))
            if uid.startswith(labmod.INTERNAL_PREFIX):
                pid = uid.split(";")[0]
                (joined if e.get("Event") == "ConfbridgeJoin" else left).setdefault(pid, float(e["_t"]))
        join_lag = [joined[p] - t for p, t in self.sent_at.items() if p in joined]
        leave_lag = [left[p] - t for p, t in self.hangup_at.items() if p in left]
        return {"join": summary(join_lag), "leave": summary(leave_lag),
                "never_joined": len([p for p in self.sent_at if p not in joined])}

    def _cpu(self, sipp_pid: int) -> dict[str, float]:
        return {"worker": proc_cpu(self.W.pid), "asterisk": proc_cpu(self.L.proc.pid), "sipp": proc_cpu(sipp_pid),
                "proxy": proc_cpu(self.W.proxy.pid)}

    def _start_first_periods(self) -> None:
        free = list(self.rooms)
        self.rng.shuffle(free)
        for r in free[: self.p.busy]:
            self._plan_period(r, self.t_start + self.rng.uniform(0, self.p.step))

    def _plan_period(self, room: str, t0: float) -> None:
        """A chain of overlapping participants, so the room never empties in between."""
        p = self.p
        self.periods += 1
        self.busy[room] = set()
        for j in range(p.per_period):
            self.seq += 1
            # Fixed width and a terminator: Asterisk refuses a ChannelId that is a prefix of a live
            # channel's Uniqueid ("labjoin-s1" vs "labjoin-s13;2"), and the join silently never happens.
            pid = f"{labmod.INTERNAL_PREFIX}s{self.seq:07d}x"
            self.busy[room].add(pid)
            tj = t0 + j * p.step + self.rng.uniform(0, 0.2 * p.step)
            heapq.heappush(self.ops, Op(tj, self.seq, "join", room, pid))
            leave_t = tj + p.hold + self.rng.uniform(-0.1, 0.1) * p.hold
            heapq.heappush(self.ops, Op(leave_t, self.seq, "leave", room, pid))

    def _pump(self, pool: ThreadPoolExecutor) -> None:
        end = self.t_start + self.p.load_seconds
        last_sample = 0.0
        while True:
            now = time.time()
            self._read_events(now)
            if now < end:
                self._keep_rooms_busy(now)
            self._send_due_ops(now, pool)
            if now - last_sample >= 1.0:
                self.busy_samples.append(len(self.busy))
                last_sample = now
            if now >= end and not self.ops and not self.busy:
                return
            if now > end + DRAIN_SECONDS:
                self.errors.append(f"load did not drain: {len(self.busy)} room(s) still busy, "
                                   f"{len(self.ops)} op(s) left")
                return
            time.sleep(0.005)  # pacing of the load generator, not synchronisation

    def _read_events(self, now: float) -> None:
        new = self.L.a.events[self.cursor:]
        self.cursor += len(new)
        for e in new:
            uid = str(e.get("Uniqueid", ""))
            if not uid.startswith(labmod.INTERNAL_PREFIX):
                continue
            pid = uid.split(";")[0]
            if e.get("Event") == "ConfbridgeJoin":
                self.channel_of[pid] = str(e.get("Channel"))
            elif e.get("Event") == "ConfbridgeLeave":
                self._participant_gone(str(e.get("Conference", "")), pid, now)

    def _participant_gone(self, room: str, pid: str, now: float) -> None:
        members = self.busy.get(room)
        if members is not None:
            members.discard(pid)
            if not members:
                del self.busy[room]
                self.idle_since[room] = now

    def _keep_rooms_busy(self, now: float) -> None:
        want = self.p.busy - len(self.busy)
        if want <= 0:
            return
        candidates = [r for r in self.rooms if r not in self.busy and now - self.idle_since[r] >= self.p.idle_gap]
        for r in self.rng.sample(candidates, min(len(candidates), want)):
            self._plan_period(r, now)

    def _send_due_ops(self, now: float, pool: ThreadPoolExecutor) -> None:
        while self.ops and self.ops[0].t <= now:
            op = heapq.heappop(self.ops)
            if op.kind == "join":
                self.n_ops["join"] += 1
                pool.submit(self._send, {
                    "Action": "Originate", "Channel": f"Local/s@{self.p.context}",
                    "Application": "ConfBridge", "Data": f"{op.room},bench_bridge,bench_user",
                    "Async": "true", "ChannelId": op.pid,
                    "CallerID": f"bench <{op.seq}>",
                }, op.pid)
            elif op.pid in self.channel_of:
                self.n_ops["leave"] += 1
                pool.submit(self._send, {"Action": "Hangup", "Channel": self.channel_of[op.pid]}, op.pid)
            elif now - (op.due or op.t) > JOIN_GIVE_UP_SECONDS:
                self.errors.append(f"participant {op.pid} never joined room {op.room} "
                                   f"(join response: {self.join_resp.get(op.pid)})")
                self._participant_gone(op.room, op.pid, now)
            else:  # not in the room yet (Asterisk is behind): try again shortly
                heapq.heappush(self.ops, Op(now + 0.05, op.seq, op.kind, op.room, op.pid, op.due or op.t))

    def _send(self, fields: dict[str, Any], pid: str) -> None:
        (self.sent_at if fields["Action"] == "Originate" else self.hangup_at)[pid] = time.time()
        try:
            resp = self.L.a.action(fields, timeout=20)
            if fields["Action"] == "Originate":
                self.join_resp[fields["ChannelId"]] = f"{resp[0].get('Response')} {resp[0].get('Message', '')}"
            if resp[0].get("Response") != "Success":
                self.errors.append(f"{fields['Action']}: {resp[0].get('Message')}")
        except LabError as exc:
            self.errors.append(str(exc))

    # ------------------------------------------------------------------ after the load

    def _wait_worker_idle(self) -> dict[str, Any]:
        """Let the last hang-ups land: every link idle with no call, or 30 s."""
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            st = self.W.status()
            if all(link["state"] == "idle" and not link["external_call_id"] for link in st["links"]):
                return st
            time.sleep(0.5)
        return self.W.status()

    def _explain_never_joined(self) -> None:
        for i, err in enumerate(self.errors):
            m = re.match(r"participant (\S+) never joined", err)
            if m:
                seen = [(e.get("Event"), e.get("Conference"), round(float(e["_t"]) - self.t_start, 3))
                        for e in self.L.a.events if str(e.get("Uniqueid", "")).startswith(m.group(1) + ";")]
                self.errors[i] = f"{err}; events for it: {seen}"

    def _result(self, load_s: float, cpu0: dict[str, float], cpu_load: dict[str, float], requests: int,
                st: dict[str, Any], leftovers: list[Any], rooms_left: list[Any], check: dict[str, Any]
                ) -> dict[str, Any]:
        p, n_ops = self.p, self.n_ops
        return {
            "links": p.links, "rooms": p.links, "busy_target": p.busy,
            "busy_mean": statistics.mean(self.busy_samples) if self.busy_samples else 0,
            "busy_max": max(self.busy_samples, default=0),
            "load_seconds": load_s, "ops": n_ops, "ops_per_s": (n_ops["join"] + n_ops["leave"]) / load_s,
            "periods": self.periods,
            "errors": self.errors[:20], "errors_total": len(self.errors),
            "cpu_s": {k: cpu_load[k] - cpu0[k] for k in cpu0},
            "cpu_pct": {k: 100 * (cpu_load[k] - cpu0[k]) / load_s for k in cpu0},
            "worker_mem": proc_mem(self.W.pid), "asterisk_mem": proc_mem(self.L.proc.pid),
            "requests_load": requests, "requests_per_min_load": 60 * requests / load_s,
            "counters": st.get("counters", {}), "ami": st.get("ami", {}),
            "leftover_conflink_channels": len(leftovers),
            "leftover_rooms": len([m for m in rooms_left if m.get("Event") == "ConfbridgeListRooms"]),
            "links_not_idle": [x["id"] for x in st["links"] if x["state"] != "idle"][:10],
            **check,
        }


# ---------------------------------------------------------------------- the check


def busy_periods(
    events: list[dict[str, Any]], want: set[str], ext_times: dict[str, dict[str, float]] | None = None
) -> tuple[dict[str, list[dict[str, Any]]], int]:
    """Busy periods per room from ConfBridge events, each with the external calls that joined
    during it (or after it, before the next one); and how often a room held two external calls
    at once. `ext_times` (when given) gets each external call's join and leave time."""
    internals: dict[str, set[str]] = defaultdict(set)
    externals: dict[str, set[str]] = defaultdict(set)
    periods: dict[str, list[dict[str, Any]]] = defaultdict(list)
    two_ext = 0
    times = ext_times if ext_times is not None else {}
    for e in events:
        room = str(e.get("Conference", ""))
        if room not in want or e.get("Event") not in ("ConfbridgeJoin", "ConfbridgeLeave"):
            continue
        uid, t = str(e.get("Uniqueid", "")), float(e["_t"])
        joined = e["Event"] == "ConfbridgeJoin"
        if uid.startswith(EXT):
            times.setdefault(uid, {})["join" if joined else "leave"] = t
            if joined:
                externals[room].add(uid)
                two_ext += len(externals[room]) > 1
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
    return periods, two_ext


def verify_scale(events: list[dict[str, Any]], messages: list[labmod.SipMsg], rooms: list[str],
                 worker_actions: list[tuple[float, str, str]] | None = None) -> dict[str, Any]:
    """Per busy period exactly one external call joined; SIPp INVITEs per room (dialled
    number = room) equal the busy periods of that room; reaction times under load; each bad
    period classified by its cause (classify_bad_periods)."""
    want = set(rooms)
    ext_times: dict[str, dict[str, float]] = {}
    periods, two_ext = busy_periods(events, want, ext_times)
    invites_by_room: dict[str, list[labmod.SipMsg]] = defaultdict(list)
    bye_by_call: dict[str, float] = {}
    for m in messages:
        if m.direction == "in" and m.method == "INVITE" and m.ruri_user in want:
            invites_by_room[m.ruri_user].append(m)
        elif m.direction == "in" and m.method == "BYE":
            bye_by_call.setdefault(m.call_id, m.t)
    bad_periods = [(r, i) for r, ps in periods.items() for i, pr in enumerate(ps) if len(pr["ext"]) != 1]
    room_mismatch = [r for r in want if len(invites_by_room.get(r, [])) != len(periods.get(r, []))]
    dials: dict[str, list[float]] = defaultdict(list)  # room -> the worker's Originates (proxy times)
    for t, action, detail in worker_actions or []:
        link = link_id_of(detail) if action == "originate" else None
        if link is not None and link.isdigit():
            dials[str(SCALE_ROOM_BASE + int(link))].append(t)
    join_inv, join_orig, orig_inv, leave_bye, lone = [], [], [], [], []
    for room, ps in periods.items():
        invs = sorted(invites_by_room.get(room, []), key=lambda m: m.t)
        for pr in ps:
            inv = next((m for m in invs if m.t >= pr["start"] - 0.002), None)
            if inv is None:
                continue
            join_inv.append(inv.t - pr["start"])
            orig = next((t for t in sorted(dials.get(room, [])) if t >= pr["start"] - 0.002), None)
            if orig is not None and orig <= inv.t:
                join_orig.append(orig - pr["start"])  # the worker's share
                orig_inv.append(inv.t - orig)  # Asterisk's: Originate → INVITE on the wire
            if pr["end"] is not None and inv.call_id in bye_by_call and bye_by_call[inv.call_id] >= pr["end"]:
                leave_bye.append(bye_by_call[inv.call_id] - pr["end"])
            if pr["end"] is not None and pr["ext_leave"] is not None:
                lone.append(pr["ext_leave"] - pr["end"])
    return {
        "periods_seen": sum(len(v) for v in periods.values()), "rooms_used": len(periods),
        "invites": sum(len(v) for v in invites_by_room.values()),
        "byes_in": len(bye_by_call), "periods_not_one_call": len(bad_periods),
        "rooms_invites_mismatch": len(room_mismatch), "two_externals_in_a_room": two_ext,
        "join_invite_load": summary(join_inv), "join_originate_load": summary(join_orig),
        "originate_invite_load": summary(orig_inv), "leave_bye_load": summary(leave_bye),
        "external_alone_load": summary(lone),
        "bad_causes": classify_bad_periods(periods, ext_times, worker_actions or []),
    }


# Causes of a busy period without exactly one external call. All but the last two are Asterisk
# being late, with the worker deciding right; the last two would be the worker's mistakes.
CAUSES = {
    "dialled_joined_after_end": "dialled in time, the call reached the room only after the period ended",
    "dialled_never_joined": "dialled in time, the call never reached the room (hung up when the period ended, "
                            "or refused)",
    "previous_call_still_in": "the previous period's call was still in the room (its hang-up not done yet)",
    "earlier_call_joined_late": "a call dialled for an earlier period joined late, next to this period's",
    "redialled_after_end": "the first call ended (failed or dropped) and the worker dialled again",
    "no_dial": "the worker never dialled during the period",
    "two_calls_at_once": "two calls of the period up at the same time",
}
WORKER_FAULTS = ("no_dial", "two_calls_at_once")


def classify_bad_periods(periods: dict[str, list[dict[str, Any]]], ext_times: dict[str, dict[str, float]],
                         worker_actions: list[tuple[float, str, str]]) -> dict[str, Any]:
    """Each bad period's cause from the recorded events and the worker's Originates (its AMI
    proxy's log: time, action, ChannelId)."""
    dialled: dict[str, float] = {detail: t for t, action, detail in worker_actions if action == "originate"}
    by_room: dict[str, list[tuple[float, str]]] = defaultdict(list)
    for uid, t in dialled.items():
        link = link_id_of(uid)
        if link is not None and link.isdigit():
            by_room[str(SCALE_ROOM_BASE + int(link))].append((t, uid))
    counts: dict[str, int] = defaultdict(int)
    examples: dict[str, list[str]] = defaultdict(list)
    for room, ps in periods.items():
        for i, pr in enumerate(ps):
            if len(pr["ext"]) == 1:
                continue
            cause = _cause(room, ps, i, pr, ext_times, dialled, by_room[room])
            counts[cause] += 1
            if len(examples[cause]) < 3:
                examples[cause].append(f"room {room} period {i} ({len(pr['ext'])} calls)")
    return {"counts": dict(counts), "examples": dict(examples),
            "worker_faults": sum(counts[c] for c in WORKER_FAULTS)}


def _cause(room: str, ps: list[dict[str, Any]], i: int, pr: dict[str, Any], ext_times: dict[str, dict[str, float]],
           dialled: dict[str, float], room_dials: list[tuple[float, str]]) -> str:
    start, end = pr["start"], pr["end"] if pr["end"] is not None else float("inf")
    if not pr["ext"]:
        in_period = [uid for t, uid in room_dials if start - 0.002 <= t <= end]
        if in_period:
            joined_later = any("join" in ext_times.get(uid, {}) for uid in in_period)
            return "dialled_joined_after_end" if joined_later else "dialled_never_joined"
        if any(ext_times.get(u, {}).get("join", 0) <= start <= ext_times.get(u, {}).get("leave", float("inf"))
               for p in ps[:i] for u in p["ext"]):
            return "previous_call_still_in"
        return "no_dial"
    calls = sorted(pr["ext"], key=lambda u: ext_times.get(u, {}).get("join", 0))
    for first, second in itertools.pairwise(calls):
        if dialled.get(second, start) < start or dialled.get(first, start) < start:
            return "earlier_call_joined_late"
        if ext_times.get(first, {}).get("leave", float("inf")) <= dialled.get(second, 0) + 0.002:
            return "redialled_after_end"
    return "two_calls_at_once"

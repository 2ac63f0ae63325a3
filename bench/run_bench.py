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
4. state-machine and engine throughput without I/O (bench/fsm_bench.py);
5. MikoPBX's soft restart of the module's supervisor with a live call: the supervisor's exit
   and the gap without a worker (bench/soft_restart.py, tests/lab/softrestart.py).
6. one status request through the module's PHP code, 0.1.0's conflink-ctl path against PHP
   speaking ZeroMQ (bench/status_bench.py, bench/status_request.php).

Layout: procs.py (processes, proxy, contenders), latency.py, scale.py, fsm_bench.py,
soft_restart.py (the measurements), report.py (one section per step). A new benchmark is a step function here,
listed in LAB_STEPS (needs the lab) or OFFLINE_STEPS, plus its section in report.SECTIONS.
"""


from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import os
import platform
import re
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
sys.path.insert(0, str(REPO / "tests" / "lab"))
sys.path.insert(0, str(BENCH))

import fsm_bench  # noqa: E402
import prompts  # noqa: E402
import status_bench  # noqa: E402
from lab import Lab  # noqa: E402
from latency import latency_cycles  # noqa: E402
from procs import BaselineContender, WorkerContender, cpu_model, proc_cpu, proc_mem  # noqa: E402
from report import render, targets  # noqa: E402
from scale import SCALE_ROOM_BASE, ScaleLoad, ScaleParams  # noqa: E402
from soft_restart import soft_restart_cycles  # noqa: E402

LAT_ROOM = "1001"


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
    restart_cycles: int = 5  # MikoPBX soft restarts of the supervisor with a live call
    poll_interval: float = 3.0  # the recipe's; the smoke run shortens it to fit in 30 s
    pause: float = 0.25  # max random pause between the steps of a latency cycle
    prompt_calls: int = 50  # far-end calls per contender in the prompt-aware DTMF step
    prompt_concurrency: int = 10  # of those, at a time per contender
    status_requests: int = 50  # status requests per path with the worker up
    status_down_requests: int = 3  # and down (the old path waits its 3 s timeout each)
    status_links: int = 50
    # Capacity search: rooms busy at once, tried in this order for ramp_seconds each, until
    # Asterisk's own join lag p99 exceeds lag_limit_ms (or joins go missing / the plan is not met).
    ramp: tuple[int, ...] = (5, 10, 20, 30, 45, 60, 80, 100)
    ramp_seconds: float = 15.0
    lag_limit_ms: float = 50.0
    # and a fixed overload (the rooms busy at once of the scale runs before the capacity
    # search), to see what the worker decides when Asterisk is seconds behind; 0 = skip
    overload_busy: int = 100

    def scale(self, busy: int | None = None, seconds: float | None = None) -> ScaleParams:
        return ScaleParams(links=self.links, busy=busy or self.busy, per_period=self.per_period, step=self.step,
                           hold=self.hold, load_seconds=seconds or self.load_seconds, idle_gap=self.idle_gap)


FULL = Params(cycles=60, poller_cycles=50, links=1000, busy=100, per_period=6, step=1.5, hold=2.5,
              load_seconds=60, idle_gap=2.0, rtp_ports=1200, poller_idle_seconds=9.5, fsm_seconds=1.5)
SMOKE = Params(cycles=5, poller_cycles=2, links=50, busy=10, per_period=3, step=0.6, hold=1.2,
               load_seconds=3, idle_gap=0.5, rtp_ports=200, poller_idle_seconds=0, fsm_seconds=0.2,
               poll_interval=1.0, pause=0.1, restart_cycles=1, status_requests=5, status_down_requests=1,
               status_links=20, ramp=(2,), ramp_seconds=2.0, overload_busy=0,
               prompt_calls=4, prompt_concurrency=4)


@dataclass
class Run:
    """What the steps share: parameters, the results being built, the lab and live contenders."""

    p: Params
    smoke: bool
    r: dict[str, Any]
    t_wall: float = field(default_factory=time.monotonic)
    L: Lab | None = None
    scale_worker: WorkerContender | None = None
    idle_t0: float = 0.0
    idle_cpu0: float = 0.0
    startup_requests: int = 0

    @property
    def lab(self) -> Lab:
        assert self.L is not None
        return self.L

    @property
    def worker(self) -> WorkerContender:
        assert self.scale_worker is not None
        return self.scale_worker

    def say(self, msg: str) -> None:
        print(f"[{time.monotonic() - self.t_wall:6.1f} s] {msg}", flush=True)


# ---------------------------------------------------------------------------------------------
# steps that need the lab, in the order they run


def step_worker_latency(run: Run) -> None:
    w = WorkerContender(run.lab, [{"id": "lat", "room": LAT_ROOM, "number": LAT_ROOM, "dtmf_delay": 0}], "lat")
    try:
        run.r["latency"]["ours"] = latency_cycles(run.lab, w, run.p.cycles, LAT_ROOM, run.p.pause)
    finally:
        w.stop()
    run.say(f"worker latency: join→INVITE median {run.r['latency']['ours']['join_invite']['median']:.2f} ms")


def step_start_scale_worker(run: Run) -> None:
    """The scale worker with all its links; its idle window spans the baselines' latency steps."""
    p = run.p
    links = [{"id": str(i), "room": str(SCALE_ROOM_BASE + i), "number": str(SCALE_ROOM_BASE + i),
              "dtmf_delay": 0} for i in range(p.links)]
    run.scale_worker = W = WorkerContender(run.lab, links, "scale")
    run.startup_requests = len([a for a in W.proxy.settled_actions() if a[1] != "login"])
    run.idle_t0, run.idle_cpu0 = time.time(), proc_cpu(W.pid)
    run.say(f"worker with {p.links} links ready in {W.ready_seconds:.2f} s; idle window starts")


def step_floor_latency(run: Run) -> None:
    floor = BaselineContender(run.lab, "floor", "baseline_floor.py", LAT_ROOM)
    try:
        run.r["latency"]["floor"] = latency_cycles(run.lab, floor, run.p.cycles, LAT_ROOM, run.p.pause)
    finally:
        floor.stop()
    run.say(f"floor latency: join→INVITE median {run.r['latency']['floor']['join_invite']['median']:.2f} ms")


def step_recipe_latency(run: Run) -> None:
    rec = BaselineContender(run.lab, "recipe", "baseline_poller.py", LAT_ROOM, ["--interval", str(run.p.poll_interval)])
    try:
        run.r["latency"]["recipe"] = latency_cycles(run.lab, rec, run.p.poller_cycles, LAT_ROOM, run.p.pause)
    finally:
        rec.stop()
    run.say(f"recipe latency: join→INVITE median {run.r['latency']['recipe']['join_invite']['median']:.0f} ms")


def step_idle_window_end(run: Run) -> None:
    W, p = run.worker, run.p
    idle_t1 = time.time()
    idle_actions = [a for a in W.proxy.actions() if run.idle_t0 <= a[0] <= idle_t1]
    by_action: dict[str, int] = defaultdict(int)
    for _, a, _ in idle_actions:
        by_action[a] += 1
    secs = idle_t1 - run.idle_t0
    others = sum(v for k, v in by_action.items() if k != "confbridgelistrooms")
    run.r["idle"] = {
        "links": p.links, "seconds": secs, "requests_per_min": 60 * len(idle_actions) / secs,
        "by_action": ", ".join(f"{v} {k}" for k, v in sorted(by_action.items())) or "none",
        "others": others,
        "reconciles_per_min_max": 60 * by_action.get("confbridgelistrooms", 0) / max(secs, 60.0),
        "cpu_pct": 100 * (proc_cpu(W.pid) - run.idle_cpu0) / secs,
        "rss_mb": proc_mem(W.pid).get("VmRSS", float("nan")),
        "ready_s": W.ready_seconds, "startup_requests": run.startup_requests,
    }
    run.say(f"idle: {run.r['idle']['requests_per_min']:.2f} AMI requests/min over {secs:.0f} s")


def keeps_up(s: dict[str, Any], lag_limit_ms: float) -> bool:
    """Asterisk kept up with a load: its own join lag p99 within the limit, every participant
    joined, and at least 90 % of the planned joins and leaves happened."""
    lag = s["asterisk_lag"]
    return (lag["join"]["p99"] <= lag_limit_ms and lag["never_joined"] == 0
            and s["ops_per_s"] >= 0.9 * s["planned_ops_per_s"])


def step_capacity(run: Run) -> None:
    """The highest load the lab Asterisk keeps up with, measured by its own lag. A level that
    falls behind is tried once more before the search stops: the machine is shared, and one
    stall of another process must not decide the figure."""
    p, levels = run.p, []
    capacity = p.ramp[0]
    for busy in p.ramp:
        tries = 0
        while True:
            tries += 1
            s = ScaleLoad(run.lab, run.worker, p.scale(busy, p.ramp_seconds)).run()
            ok = keeps_up(s, p.lag_limit_ms)
            if ok or tries == 2:
                break
        levels.append({"busy": busy, "keeps_up": ok, "planned_ops_per_s": s["planned_ops_per_s"],
                       "ops_per_s": s["ops_per_s"], "join_lag": s["asterisk_lag"]["join"],
                       "leave_lag": s["asterisk_lag"]["leave"], "never_joined": s["asterisk_lag"]["never_joined"],
                       "asterisk_cpu_pct": s["cpu_pct"]["asterisk"], "worker_cpu_pct": s["cpu_pct"]["worker"],
                       "bad_periods": s["periods_not_one_call"], "join_invite_p99": s["join_invite_load"]["p99"],
                       "tries": tries})
        run.say(f"capacity: {busy} busy rooms, {s['ops_per_s']:.0f}/{s['planned_ops_per_s']:.0f} ops/s, "
                f"Asterisk join lag p99 {s['asterisk_lag']['join']['p99']:.0f} ms, "
                f"CPU {s['cpu_pct']['asterisk']:.0f} % -> {'keeps up' if ok else 'behind'}")
        if not ok:
            break
        capacity = busy
    run.r["capacity"] = {"busy": capacity, "levels": levels, "lag_limit_ms": p.lag_limit_ms,
                         "ramp_seconds": p.ramp_seconds}


def step_scale(run: Run) -> None:
    """The correctness check at the load Asterisk keeps up with."""
    busy = run.r["capacity"]["busy"]
    run.r["scale"] = s = ScaleLoad(run.lab, run.worker, run.p.scale(busy)).run()
    run.say(f"scale at {busy} busy rooms: {s['ops_per_s']:.0f} ops/s, {s['periods_seen']} periods, "
            f"{s['invites']} INVITEs, {s['periods_not_one_call']} bad periods, join→INVITE p99 "
            f"{s['join_invite_load']['p99']:.1f} ms, worker CPU {s['cpu_s']['worker']:.1f} s, "
            f"RSS {s['worker_mem'].get('VmHWM', 0):.1f} MB")


def step_scale_double(run: Run) -> None:
    """Twice that load: every bad period classified by its cause."""
    busy = 2 * run.r["capacity"]["busy"]
    run.r["scale_double"] = s = ScaleLoad(run.lab, run.worker, run.p.scale(busy)).run()
    run.say(f"scale at {busy} busy rooms: {s['periods_not_one_call']} bad periods, causes "
            f"{s['bad_causes']['counts']}, worker faults {s['bad_causes']['worker_faults']}")


def step_scale_overload(run: Run) -> None:
    """A fixed overload, every bad period classified by its cause."""
    busy = run.p.overload_busy
    if busy <= 0:
        return
    load = ScaleLoad(run.lab, run.worker, run.p.scale(busy))
    run.r["scale_overload"] = s = load.run()
    results = BENCH / "results"
    results.mkdir(exist_ok=True)
    (results / "scale-overload-inputs.json").write_text(json.dumps(load.check_inputs, default=str))
    (results / "scale-overload-worker.log").write_text(run.worker.worker.log())
    run.say(f"overload at {busy} busy rooms: {s['periods_not_one_call']} bad periods, causes "
            f"{s['bad_causes']['counts']}, worker faults {s['bad_causes']['worker_faults']}")


def step_stop_scale_worker(run: Run) -> None:
    if run.scale_worker is not None:
        run.scale_worker.stop()
        run.scale_worker = None


def step_poller_idle(run: Run) -> None:
    """The recipe's request rate with the same rooms configured and nobody in them."""
    p = run.p
    if p.poller_idle_seconds <= 0:
        return
    rooms = f"{SCALE_ROOM_BASE}-{SCALE_ROOM_BASE + p.links - 1}"
    c = BaselineContender(run.lab, "poller-idle", "baseline_poller.py", rooms)
    try:
        t0, cpu0 = time.time(), proc_cpu(c.pid)
        time.sleep(p.poller_idle_seconds)  # the measurement window itself
        cpu = proc_cpu(c.pid) - cpu0
        n = len([a for a in c.proxy.actions() if a[0] >= t0])
        mem = proc_mem(c.pid)
    finally:
        c.stop()
    run.r["poller_idle"] = {"requests_per_min": 60 * n / p.poller_idle_seconds,
                            "cpu_pct": 100 * cpu / p.poller_idle_seconds, "rss_mb": mem.get("VmHWM")}
    run.say(f"recipe idle at {p.links} rooms: {run.r['poller_idle']['requests_per_min']:.0f} requests/min")


def step_soft_restart(run: Run) -> None:
    """MikoPBX's soft restart of the module's supervisor with a live call (tests/lab/softrestart.py)."""
    sr = run.r["soft_restart"] = soft_restart_cycles(run.lab, run.p.restart_cycles)
    run.say(f"soft restart x{sr['cycles']}: supervisor gone in {sr['wrapper_exit_s']['max'] * 1000:.0f} ms, "
            f"event gap median {sr['event_gap_s']['median']:.3f} s, max {sr['event_gap_s']['max']:.3f} s, "
            f"call kept: {sr['one_call_kept']}")


# ---------------------------------------------------------------------------------------------
# steps without the lab


def step_prompts(run: Run) -> None:
    """Its own lab: a far end per call, two contenders side by side (bench/prompts.py)."""
    with tempfile.TemporaryDirectory(prefix="conflink-bench-prompts-") as work:
        run.r["prompts"] = prompts.run(run.p.prompt_calls, run.p.prompt_concurrency, Path(work), say=run.say)
    for name, c in run.r["prompts"]["contenders"].items():
        run.say(f"prompts: {name}: {c['all_after_prompt']}/{c['calls']} calls with every digit after its prompt")


def step_fsm(run: Run) -> None:
    secs = run.p.fsm_seconds
    run.r["fsm"] = {
        "LinkMachine, 1 machine": fsm_bench.fsm_throughput(secs, 1),
        "LinkMachine, 1000 machines": fsm_bench.fsm_throughput(secs, 1000),
        "Engine event path, 1000 links, INFO logging on": fsm_bench.engine_throughput(1000, secs),
        "Engine event path, 1000 links, logging off": fsm_bench.engine_throughput(1000, secs, log_to=None),
    }
    run.say("fsm: " + ", ".join(f"{k}: {v['events_per_s']:,.0f}/s" for k, v in run.r["fsm"].items()))


def step_status_request(run: Run) -> None:
    p = run.p
    run.r["status_request"] = st = status_bench.status_request_bench(p.status_requests, p.status_down_requests,
                                                                     p.status_links)
    up = st["worker_up"]
    old = up["old"]
    run.say(f"status request: new {up['new']['wall_ms']['median']:.2f} ms wall, "
            f"old {old['wall_ms']['median']:.1f} ms wall + {old['child_cpu_ms']['median']:.0f} ms child CPU")


def step_ratios(run: Run) -> None:
    lat = run.r["latency"]
    ours, floor, rec = lat["ours"], lat["floor"], lat["recipe"]
    run.r["ratios"] = {
        "ours_floor_join": ours["join_invite"]["median"] / floor["join_invite"]["median"],
        "ours_floor_leave": ours["leave_bye"]["median"] / floor["leave_bye"]["median"],
        "recipe_ours_join": rec["join_invite"]["median"] / ours["join_invite"]["median"],
        "recipe_ours_leave": rec["leave_bye"]["median"] / ours["leave_bye"]["median"],
    }
    run.r["targets"] = targets(run.r)


def step_profile(run: Run) -> None:
    if not run.smoke:
        top = fsm_bench.profile_top(lambda: fsm_bench.engine_throughput(1000, 1.0), 14)
        run.r["profile"] = "\n".join(top.splitlines()[:30])


StepFn = Callable[[Run], None]
LAB_STEPS: list[StepFn] = [
    step_worker_latency, step_start_scale_worker, step_floor_latency, step_recipe_latency,
    step_idle_window_end, step_capacity, step_scale, step_scale_double, step_scale_overload, step_stop_scale_worker,
    step_poller_idle, step_soft_restart,
]
OFFLINE_STEPS: list[StepFn] = [step_prompts, step_fsm, step_status_request, step_ratios, step_profile]


# ---------------------------------------------------------------------------------------------


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--smoke", action="store_true", help="a scaled-down run of every step (about 30 s)")
    ap.add_argument("--out", default=None, help="markdown report (default docs/benchmarks.md; smoke: "
                    "bench/results/benchmarks-smoke.md)")
    ap.add_argument("--render", metavar="JSON", help="only re-render the report from a results JSON")
    ap.add_argument("--scale-only", action="store_true",
                    help="only the scale steps (capacity, check, twice the load); their sections replace "
                         "section 3 of the report")
    return ap.parse_args(argv)


def notes_text(smoke: bool) -> str:
    notes_file = BENCH / "notes.md"
    return notes_file.read_text() if notes_file.exists() and not smoke else ""


def rerender(json_path: str, out_arg: str | None) -> int:
    r = json.loads(Path(json_path).read_text())
    out = Path(out_arg) if out_arg else REPO / "docs/benchmarks.md"
    out.write_text(render(r, False, notes_text(False)))
    print(f"written: {out}")
    return 0


def machine_facts(p: Params) -> dict[str, Any]:
    from conflink import __version__

    sipp_v = subprocess.run(["sipp", "-v"], capture_output=True, text=True)
    m = re.search(r"SIPp v(\d+\.\d+(\.\d+)?)", sipp_v.stdout + sipp_v.stderr)
    return {"params": p.__dict__, "date": dt.datetime.now().strftime("%Y-%m-%d %H:%M"),
            "cpu": cpu_model(), "cores": os.cpu_count(), "python": platform.python_version(),
            "worker_version": __version__, "sipp": m.group(1) if m else "?", "latency": {}}


def run_lab_steps(run: Run) -> None:
    with Lab(name="bench", rtp_ports=run.p.rtp_ports, log_verbose=0) as L, contextlib.ExitStack() as stack:
        run.L = L
        stack.callback(step_stop_scale_worker, run)
        run.r["asterisk"] = L.asterisk_version
        # The lab's recorder only needs ConfBridge events; everything else costs it CPU under load.
        L.a.action({"Action": "Filter", "Operation": "Add", "Filter": "Event: Confbridge(Join|Leave)"})
        run.say(f"lab up: Asterisk {L.asterisk_version}")
        for step in LAB_STEPS:
            step(run)
    run.L = None


def write_outputs(run: Run, out: Path) -> str:
    text = render(run.r, run.smoke, notes_text(run.smoke))
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text)
    results = BENCH / "results"
    results.mkdir(exist_ok=True)
    name = "latest-smoke.json" if run.smoke else "latest.json"
    (results / name).write_text(json.dumps(run.r, indent=1, default=str))
    return text


SCALE_STEPS: list[StepFn] = [step_start_scale_worker, step_capacity, step_scale, step_scale_double,
                              step_scale_overload, step_stop_scale_worker]


def scale_only(p: Params, out: Path) -> int:
    """The scale steps alone; their sections replace section 3 of an existing report."""
    from report import (
        scale_targets,
        section_capacity,
        section_scale,
        section_scale_double,
        section_scale_overload,
        target_row,
    )

    run = Run(p=p, smoke=False, r=machine_facts(p))
    with Lab(name="bench", rtp_ports=p.rtp_ports, log_verbose=0) as L, contextlib.ExitStack() as stack:
        run.L = L
        stack.callback(step_stop_scale_worker, run)
        L.a.action({"Action": "Filter", "Operation": "Add", "Filter": "Event: Confbridge(Join|Leave)"})
        for step in SCALE_STEPS[:1]:
            step(run)
        run.r["idle"] = {"rss_mb": proc_mem(run.worker.pid).get("VmRSS", float("nan"))}
        for step in SCALE_STEPS[1:]:
            step(run)
    results = BENCH / "results"
    results.mkdir(exist_ok=True)
    (results / "latest-scale.json").write_text(json.dumps(run.r, indent=1, default=str))
    sections = (section_capacity(run.r, False) + section_scale(run.r, False) + section_scale_double(run.r, False)
                + section_scale_overload(run.r, False))
    text = out.read_text()
    start, end = text.index("## 3. Scale"), text.index("## 4.")
    stamp = (f"_Section 3 regenerated alone by `bench/run_bench.py --scale-only` on {run.r['date']} "
             f"(CPU: {run.r['cpu']}, {run.r['cores']} cores, shared with other work: see \"Scale\" under "
             "Reading the figures)._")
    text = text[:start] + "\n".join([sections[0], "", stamp, *sections[1:]]) + "\n" + text[end:]
    # and the scale rows of the targets table
    lines = [ln for ln in text.split("\n") if not ln.startswith("| scale")]
    at = next(i for i, ln in enumerate(lines) if ln.startswith("| AMI requests at idle"))
    lines[at + 1:at + 1] = [target_row(t) for t in scale_targets(run.r)]
    out.write_text("\n".join(lines))
    print(f"written: {out} (section 3)")
    sc = run.r["scale"]
    return 1 if sc["two_externals_in_a_room"] or sc["leftover_conflink_channels"] or sc["leftover_rooms"] else 0


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.render:
        return rerender(args.render, args.out)
    if args.scale_only:
        return scale_only(FULL, Path(args.out) if args.out else REPO / "docs/benchmarks.md")
    p = SMOKE if args.smoke else FULL
    out = Path(args.out) if args.out else (BENCH / "results/benchmarks-smoke.md" if args.smoke
                                           else REPO / "docs/benchmarks.md")
    run = Run(p=p, smoke=args.smoke, r=machine_facts(p))
    run_lab_steps(run)
    for step in OFFLINE_STEPS:
        step(run)
    run.r["wall_s"] = time.monotonic() - run.t_wall
    text = write_outputs(run, out)
    print()
    print(text)
    print(f"\nwritten: {out}")
    # Targets are goals, not gates; the run fails only when an invariant broke: two external
    # calls in one room, or a call or room left behind after the load.
    sc = run.r["scale"]
    broken = sc["two_externals_in_a_room"] or sc["leftover_conflink_channels"] or sc["leftover_rooms"]
    return 1 if broken else 0


if __name__ == "__main__":
    sys.exit(main())

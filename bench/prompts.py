"""Step: prompt-aware DTMF against the best fixed pauses, over far ends whose prompts vary.

Every call dials a far end like a meeting service's dial-in (tests/lab/farend.py): three spoken
prompts (meeting ID, participant ID, passcode), each followed by its field. Each call's prompt
lengths are the nominal ones jittered by up to ±50 % (seeded, so runs compare). Two contenders
dial the same far end side by side: the prompt-aware sequence (`p` before each field) and the
fixed-pause sequence that is exactly right for the nominal lengths (each pause ends 0.5 s after
the nominal prompt, the first as dtmf_delay). The far end's SIPp log says when each digit
arrived and each prompt ended; a call counts only if every digit came after its prompt.
"""

from __future__ import annotations

import random
import time
from pathlib import Path
from typing import Any

import farend as fe
from lab import Lab
from stats import summary

NOMINAL = [3.0, 2.5, 3.0]
TEXTS = [
    "Welcome. Please enter your meeting ID, followed by the pound key.",
    "Enter your participant ID followed by pound. Otherwise press pound.",
    "Please enter the meeting passcode, followed by pound.",
]
AWARE = "p85012345678#p#p123456#"
JITTER = 0.5
ROOM_BASE = 1200


def _lengths(rng: random.Random) -> list[float]:
    return [round(n * rng.uniform(1 - JITTER, 1 + JITTER), 2) for n in NOMINAL]


def _call_figures(report: fe.CallReport, expected: str) -> dict[str, Any]:
    firsts: dict[int, fe.DigitArrival] = {}
    for d in report.digits:
        firsts.setdefault(d.step, d)
    lags = [firsts[k].after_prompt for k in sorted(firsts)]
    last = report.last_digit_after_answer()
    return {
        "ok": not report.lost and report.received == expected,
        "lost": len(report.lost),
        "last_digit_s": last,
        "step_lags_s": lags,
        # what a perfect caller would need: every prompt to its end, then the digits
        "ideal_s": None if last is None else last - sum(lags),
    }


def run(calls: int, concurrency: int, work: Path, say: Any = print, seed: int = 10) -> dict[str, Any]:
    fe.check_tools()
    fixed, delay = fe.fixed_pauses(AWARE, NOMINAL)
    contenders = {"prompt-aware": (AWARE, 0.0), "fixed pauses": (fixed, delay)}
    expected = fe.digits_of(AWARE)
    rng = random.Random(seed)
    plan = [_lengths(rng) for _ in range(calls)]
    endpoints = [f"SIP-P{i}" for i in range(concurrency * len(contenders))]
    results: dict[str, list[dict[str, Any]]] = {name: [] for name in contenders}
    t0 = time.monotonic()
    with Lab(name="bench-prompts", endpoints=endpoints, log_verbose=0, rtp_ports=400) as L:
        links = []
        for j in range(concurrency):
            for c, (name, (dtmf, dly)) in enumerate(contenders.items()):
                k = j * len(contenders) + c
                links.append({"id": f"p{k}", "room": str(ROOM_BASE + k), "number": "100", "endpoint": endpoints[k],
                              "dtmf": dtmf, "dtmf_delay": dly, "ring_timeout": 20, "_contender": name})
        cfg = work / "prompts-worker.yaml"
        L.write_worker_config(cfg, [{k: v for k, v in link.items() if not k.startswith("_")} for link in links])
        worker = L.start_worker(cfg, work / "prompts-worker.log")
        time.sleep(1.5)  # login + first resync
        for start in range(0, calls, concurrency):
            batch = list(range(start, min(calls, start + concurrency)))
            live = []
            for j, i in enumerate(batch):
                steps = [fe.Field(length, text) for length, text in zip(plan[i], TEXTS, strict=True)]
                far = fe.FarEnd(steps=steps, after="meeting", after_seconds=20)
                for c in range(len(contenders)):
                    k = j * len(contenders) + c
                    link = links[k]
                    xml = far.scenario(work / f"call{i}-{k}", f"call{i}-{k}")
                    live.append((link, far, L.sipp(str(xml), endpoint=link["endpoint"])))
            handles = [L.join(link["room"]) for link, _, _ in live]
            deadline = time.monotonic() + 90
            while time.monotonic() < deadline:
                reports = [fe.digit_report(far, sipp.messages()) for _, far, sipp in live]
                if all(r and r[0].admitted for r in reports):
                    break
                time.sleep(0.5)
            for (link, far, sipp), h in zip(live, handles, strict=True):
                reps = fe.digit_report(far, sipp.messages())
                figures = _call_figures(reps[0], expected) if reps else {"ok": False, "lost": None,
                                                                         "last_digit_s": None, "step_lags_s": [],
                                                                         "ideal_s": None}
                results[link["_contender"]].append(figures)
                L.leave(h)
            for _, _, sipp in live:
                try:
                    sipp.wait_for(lambda s=sipp: s.byes("in"), 1, timeout=10)
                finally:
                    sipp.stop()
            say(f"prompts: {min(calls, start + concurrency)}/{calls} calls per contender")
        worker.stop()
    out: dict[str, Any] = {"calls": calls, "concurrency": concurrency, "nominal_s": NOMINAL, "jitter": JITTER,
                           "fixed_sequence": fixed, "fixed_delay_s": delay, "aware_sequence": AWARE,
                           "wall_s": time.monotonic() - t0, "contenders": {}}
    for name, rows in results.items():
        lasts = [r["last_digit_s"] for r in rows if r["last_digit_s"] is not None]
        lags = [lag for r in rows for lag in r["step_lags_s"]]
        ideals = [r["ideal_s"] for r in rows if r["ideal_s"] is not None]
        out["contenders"][name] = {
            "calls": len(rows),
            "all_after_prompt": sum(1 for r in rows if r["ok"]),
            "lost_digits": sum(r["lost"] or 0 for r in rows),
            "last_digit": summary(lasts) if lasts else None,
            "ideal": summary(ideals) if ideals else None,
            "step_lag": summary(lags) if lags else None,
            "step_lag_max_s": max(lags) if lags else None,
        }
    return out


def section(r: dict[str, Any], smoke: bool) -> list[str]:
    p = r.get("prompts")
    if not p:
        return []
    lines = [
        "## Prompt-aware DTMF vs. fixed pauses",
        "",
        f"{p['calls']} calls per contender, {p['concurrency']} far ends at a time per contender "
        f"({p['wall_s']:.0f} s). Far end: three spoken prompts (nominal "
        f"{', '.join(f'{x:g}' for x in p['nominal_s'])} s),"
        f" each call's lengths jittered ±{p['jitter']:.0%}; digits during a prompt are lost. Prompt-aware: "
        f"`{p['aware_sequence']}` (prompt_silence 1 s). Fixed: `{p['fixed_sequence']}` with dtmf_delay "
        f"{p['fixed_delay_s']:g} s, the best fixed schedule for the nominal lengths (each field 0.5 s after "
        "its nominal prompt). Times from the far end's own log, from answer.",
        "",
        "| contender | calls with every digit after its prompt | lost digits | answer → last digit median / p95 (s) "
        "| ideal (prompt ends + digits) median (s) | wait after each prompt's end median / max (s) |",
        "|---|---|---|---|---|---|",
    ]
    for name, c in p["contenders"].items():
        last = c["last_digit"] or {}
        ideal = c["ideal"] or {}
        lag = c["step_lag"] or {}
        lines.append(
            f"| {name} | {c['all_after_prompt']}/{c['calls']} ({c['all_after_prompt'] / max(1, c['calls']):.0%}) "
            f"| {c['lost_digits']} | {last.get('median', 0) / 1000:.2f} / {last.get('p95', 0) / 1000:.2f} "
            f"| {ideal.get('median', 0) / 1000:.2f} | {lag.get('median', 0) / 1000:.2f} / "
            f"{(c['step_lag_max_s'] or 0):.2f} |"
        )
    lines.append("")
    return lines


def targets(r: dict[str, Any]) -> list[dict[str, Any]]:
    p = r.get("prompts")
    if not p:
        return []
    aware = p["contenders"]["prompt-aware"]
    lag = aware["step_lag_max_s"] or 0.0
    return [
        {"what": "prompt-aware: calls with every digit after its prompt", "goal": "100 %",
         "got": f"{aware['all_after_prompt']}/{aware['calls']}", "met": aware["all_after_prompt"] == aware["calls"]},
        {"what": "prompt-aware: wait after a prompt's end (per step)", "goal": "≤ 1.5 s",
         "got": f"max {lag:.2f} s", "met": lag <= 1.5},
    ]

#!/usr/bin/env python3
"""How Asterisk's own primitives notice the end of a far end's spoken prompt, on the lab.

Run as root: `.venv/bin/python tests/lab/measure_prompt_detection.py [--runs N]`.
Each far end is a SIPp scenario of tests/lab/farend.py playing one espeak-ng prompt of a known
length as RTP; the far end's log says when the prompt began (its ACK), so its end is known.
Candidates, each in its own small context on the channel before any bridge:
- talkdetect:   TALK_DETECT(set)=1000 → ChannelTalkingStart/Stop AMI events;
- waitfor:      WaitForNoise(200,1,20) then WaitForSilence(1000,1,20) → UserEvent after each;
- background:   BackgroundDetect(<20 s of silence>,1000,100,20000) → its `talk` extension;
- confbridge:   in a ConfBridge with talk_detection_events (dsp_silence_threshold 1000) →
                ConfbridgeTalking off, and TALK_DETECT on the same channel alongside.
Plus a far end that answers and sends no RTP at all, to see which ones report speech that
never was. Prints one table; docs/far-end.md quotes it.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import farend as fe
from lab import Lab

CONTEXTS = """
[m-talkdetect]
exten => _X!,1,Set(TALK_DETECT(set)=1000)
 same => n,Wait(25)
 same => n,Hangup()

[m-waitfor]
exten => _X!,1,WaitForNoise(200,1,20)
 same => n,UserEvent(Measure,Phase: noise ${WAITSTATUS})
 same => n,WaitForSilence(1000,1,20)
 same => n,UserEvent(Measure,Phase: silence ${WAITSTATUS})
 same => n,Wait(3)
 same => n,Hangup()

[m-background]
exten => _X!,1,BackgroundDetect(/tmp/conflink-measure-silence,1000,100,20000)
 same => n,UserEvent(Measure,Phase: nodetect)
 same => n,Hangup()
exten => talk,1,UserEvent(Measure,Phase: talk)
 same => n,Wait(3)
 same => n,Hangup()

[m-confbridge]
exten => _X!,1,Set(CONFBRIDGE(user,quiet)=yes)
 same => n,Set(CONFBRIDGE(user,talk_detection_events)=yes)
 same => n,Set(CONFBRIDGE(user,dsp_silence_threshold)=1000)
 same => n,Set(TALK_DETECT(set)=1000)
 same => n,ConfBridge(${EXTEN})
"""

VARIANTS = ("talkdetect", "waitfor", "background", "confbridge")


def run(lengths: list[float], runs: int) -> None:
    fe.check_tools()
    jobs = [(v, length, r) for v in VARIANTS for length in lengths for r in range(runs)]
    jobs += [(v, 0.0, 0) for v in ("talkdetect", "waitfor")]  # no RTP at all
    work = Path(tempfile.mkdtemp(prefix="conflink-measure-"))
    # BackgroundDetect plays a file while it listens: 20 s of mu-law silence inside the root.
    from lab import asterisk_root

    (asterisk_root() / "tmp/conflink-measure-silence.ulaw").write_bytes(fe.silence(20.0))
    endpoints = [f"SIP-M{i}" for i in range(len(jobs))]
    with Lab(name="measure", endpoints=endpoints, join_dialplan="[conflink-join]\nexten => _X!,1,Hangup()\n"
             + CONTEXTS) as L:
        print(f"Asterisk {L.asterisk_version}; prompts {lengths} s; {runs} run(s) each")
        calls = []
        for i, (variant, length, _) in enumerate(jobs):
            far = fe.FarEnd(steps=[fe.Field(length)] if length else [], after="none")
            sipp = L.sipp(str(far.scenario(work / f"j{i}", f"j{i}")), endpoint=endpoints[i])
            cid = f"measure-{i}"
            L.a.action({"Action": "Originate", "Channel": f"PJSIP/100@{endpoints[i]}", "Context": f"m-{variant}",
                        "Exten": str(500 + i), "Priority": "1", "Async": "true", "ChannelId": cid,
                        "Timeout": "10000"})
            calls.append((variant, length, cid, sipp))
        time.sleep(max(lengths) + 24)  # WaitForNoise without RTP runs into its 20 s timeout
        rows: dict[tuple[str, float], dict[str, list[float]]] = {}
        for variant, length, cid, sipp in calls:
            acks = [m for m in sipp.messages() if m.direction == "in" and m.method == "ACK"]
            if not acks:
                print(f"{variant} {length}: no call")
                continue
            start = acks[0].t
            end = start + length
            evs = [e for e in L.a.find_events() if e.get("Uniqueid") == cid]
            got: dict[str, list[float]] = rows.setdefault((variant, length), {})

            def add(key: str, t: float, got: dict[str, list[float]] = got, end: float = end) -> None:
                got.setdefault(key, []).append(t - end)

            for e in evs:
                name = e.get("Event")
                if name == "ChannelTalkingStart":
                    add("TALK_DETECT start", e["_t"])
                elif name == "ChannelTalkingStop":
                    add("TALK_DETECT stop", e["_t"])
                elif name == "ConfbridgeTalking":
                    add(f"ConfbridgeTalking {e.get('TalkingStatus')}", e["_t"])
                elif name == "UserEvent" and e.get("UserEvent") == "Measure":
                    add(str(e.get("Phase")), e["_t"])
        print(f"{'variant':<12} {'prompt':>7}  event: seconds relative to the prompt's end (negative = before)")
        for (variant, length), got in rows.items():
            text = "; ".join(
                f"{k} {statistics.median(v):+.2f}" + (f" (n={len(v)})" if len(v) > 1 else "")
                for k, v in got.items()
            ) or "no event"
            print(f"{variant:<12} {('no RTP' if not length else f'{length:g} s'):>7}  {text}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--runs", type=int, default=2)
    ap.add_argument("--lengths", type=float, nargs="+", default=[2.0, 5.0])
    args = ap.parse_args()
    run(args.lengths, args.runs)


if __name__ == "__main__":
    main()

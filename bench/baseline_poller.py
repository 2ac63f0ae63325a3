"""The original recipe's design: every 3 s, list each room (ConfbridgeList) and act on what is
found: dial when internal participants are there and no external call is, hang the external
call up when it is alone. No AMI events at all.

One kindness over the recipe: a call that was dialled but has not reached the room yet is not
visible in ConfbridgeList, so it is not dialled again for 15 s (the recipe would double-dial).

Run: python bench/baseline_poller.py --port AMI --username U --secret S --rooms 1001
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import time

from amiraw import RawAmi, originate_fields
from baseline_common import note, parse_args, rooms_of, run

PREFIX = "poll-"
DIAL_GRACE = 15.0


async def main(args: argparse.Namespace, ami: RawAmi, stop: asyncio.Event) -> None:
    rooms = rooms_of(args.rooms)
    dialled: dict[str, float] = {}  # room -> when we dialled and have not seen the call yet
    seq = itertools.count(1)
    while not stop.is_set():
        started = time.monotonic()
        for room in rooms:
            resp = await ami.request({"Action": "ConfbridgeList", "Conference": room})
            items = [m for m in resp if m.get("Event") == "ConfbridgeList"]
            ours = [m for m in items if m.get("Uniqueid", "").startswith(PREFIX)]
            internals = [m for m in items if not m.get("Uniqueid", "").startswith(PREFIX)]
            if ours:
                dialled.pop(room, None)
            if internals and not ours:
                if time.monotonic() - dialled.get(room, -1e9) > DIAL_GRACE:
                    call_id = f"{PREFIX}{next(seq)}"
                    dialled[room] = time.monotonic()
                    ami.send(originate_fields(room, args.number or room, args.endpoint, args.context, call_id))
                    note("originate", room, call_id)
            elif ours and not internals:
                for m in ours:
                    ami.send({"Action": "Hangup", "Channel": m.get("Channel", "")})
                    note("hangup", room, m.get("Channel", ""))
        delay = max(0.0, args.interval - (time.monotonic() - started))
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), delay)


if __name__ == "__main__":
    run(main, parse_args(__doc__.splitlines()[0]), events=False)

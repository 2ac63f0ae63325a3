"""Floor baseline: originate the instant the first internal participant joins a room, hang up
the instant the last one leaves. No state machine, no validation, no retries, no timers.

Run: python bench/baseline_floor.py --port AMI --username U --secret S --rooms 1001
"""

from __future__ import annotations

import argparse
import asyncio
import itertools

from amiraw import Message, RawAmi, originate_fields
from baseline_common import note, parse_args, rooms_of, run

PREFIX = "floor-"


def make_handler(args: argparse.Namespace, ami: RawAmi):
    rooms = set(rooms_of(args.rooms))
    internals: dict[str, set[str]] = {}
    external: dict[str, str] = {}  # room -> channel name of its external call
    by_uid: dict[str, str] = {}  # our Uniqueid -> room, to learn the channel name early
    seq = itertools.count(1)

    def on_event(msg: Message) -> None:
        name = msg.get("Event")
        uid = msg.get("Uniqueid", "")
        if name == "Newchannel" and uid in by_uid:
            external[by_uid[uid]] = msg.get("Channel", "")
            return
        if name not in ("ConfbridgeJoin", "ConfbridgeLeave"):
            return
        room = msg.get("Conference", "")
        if room not in rooms or uid.startswith(PREFIX):
            return
        members = internals.setdefault(room, set())
        if name == "ConfbridgeJoin":
            members.add(uid)
            if len(members) == 1:
                call_id = f"{PREFIX}{next(seq)}"
                by_uid[call_id] = room
                ami.send(originate_fields(room, args.number or room, args.endpoint, args.context, call_id))
                note("originate", room, call_id)
        else:
            members.discard(uid)
            if not members:
                channel = external.pop(room, "")
                if channel:
                    ami.send({"Action": "Hangup", "Channel": channel})
                    note("hangup", room, channel)

    return on_event


async def main(args: argparse.Namespace, ami: RawAmi, stop: asyncio.Event) -> None:
    await stop.wait()


if __name__ == "__main__":
    a = parse_args(__doc__.splitlines()[0])
    run(main, a, events=True, on_event_factory=lambda ami: make_handler(a, ami))

"""Pure rules beside the state machine: what the engine needs to know about calls and rooms
across links (no I/O, no clock: `now` is passed in).

- which `conflink-` calls are ours and of which link (`link_id_of`); a call dialled through the
  PBX's outgoing routes is a Local channel: only its ;1 half (the exact ChannelId) is our call,
  its ;2 half and the provider legs Core dials from it are evidence of why it failed (`RouteTrails`);
- calls we decided to end (never adopted, hang-up re-sent after a reconnect);
- calls that must be hung up as strays (unknown link, or in a room the link is not in);
- calls dialled into a link's previous room (never adopted into the new one);
- events that arrived while a room list was in flight, replayed on top of the snapshot;
- which members a late ConfbridgeEnd removes (only those of the bridge that ended);
- the party count the reconcile expects per room;
- the cause a failed attempt's call-history row is written with (`CauseMemory`,
  `failed_attempt_reply`).
"""

from __future__ import annotations

import re
from collections import OrderedDict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from .causes import Failure, routed
from .config import ANNOUNCER_PREFIX, ROUTE_CONTEXT, LinkConfig
from .fsm import LinkMachine, SnapshotCall

CALL_PREFIX = "conflink-"
# A call that ended is remembered this long (and at most this many), so a late list item
# or join of it is never adopted.
GONE_MEMORY_SECONDS = 120.0
GONE_MEMORY_MAX = 50000
CALL_ROOMS_MAX = 20000


# Asterisk names the ;2 half of a Local channel originated with ChannelId X "X;2".
ROUTE_HALF_SUFFIX = ";2"


def link_id_of(uniqueid: str) -> str | None:
    """`conflink-<link id>-<suffix>` → link id; None for channels that are not ours (a routed
    call's ;2 half `<call id>;2` included: it never joins the room, its end is not the call's)."""
    if not uniqueid.startswith(CALL_PREFIX) or ";" in uniqueid:
        return None
    body = uniqueid[len(CALL_PREFIX):]
    link_id, sep, suffix = body.rpartition("-")
    return link_id if sep and link_id and suffix else None


def routed_call_of(uniqueid: str) -> str | None:
    """`<call id>;2` (the ;2 half of one of our routed calls) → the call id; else None."""
    if not uniqueid.endswith(ROUTE_HALF_SUFFIX):
        return None
    call_id = uniqueid[: -len(ROUTE_HALF_SUFFIX)]
    return call_id if link_id_of(call_id) else None


def originate_channel(link: LinkConfig) -> str:
    """The Originate's Channel: the provider's endpoint, or a Local channel into the routes.

    `/n` keeps the Local pair: our ;1 half stays a channel of its own in the room (ConfBridge,
    TALK_DETECT, DTMF, mute work on it as on a PJSIP leg) while ;2 runs Core's `[outgoing]`."""
    if link.dial_via == "routes":
        return f"Local/{link.number}@{ROUTE_CONTEXT}/n"
    return f"PJSIP/{link.number}@{link.endpoint}"


def is_announcer(uniqueid: str) -> bool:
    """Our announcement player in a room (config.ANNOUNCER_PREFIX): neither a participant nor a call."""
    return uniqueid.startswith(ANNOUNCER_PREFIX)


def module_state(reply: Any) -> str:
    """Getvar IFMODULE(<module>)'s answer → "loaded", "missing", or "unknown" (refused, or a PBX
    without func_module: then nobody can tell, and the worker assumes the module is there)."""
    first = reply[0] if isinstance(reply, list) and reply else reply
    if not isinstance(first, Mapping) or str(first.get("Response", "")).lower() != "success":
        return "unknown"
    return {"1": "loaded", "0": "missing"}.get(str(first.get("Value", "")).strip(), "unknown")


def far_ends_hearing(room: str, link_id: str, machines: Iterable[LinkMachine]) -> list[str]:
    """Links (other than `link_id`) whose external call is in `room` now: an announcement played
    into the room would reach their far end, which it must never do (ConfBridge plays a sound
    to every member). Their ids, sorted; empty when the room holds only internal people."""
    return sorted(m.link.id for m in machines
                  if m.link.id != link_id and m.link.room == room and m.call is not None and m.call.joined)


def field_of(message: Any, name: str) -> str:
    """One AMI header as a string (a repeated header gives its first value)."""
    value = message.get(name, "")
    if isinstance(value, list):
        value = value[0] if value else ""
    return str(value)


# --------------------------------------------------------------------------- rooms


JournalEntry = tuple[Literal["join", "leave"], str, str]  # (kind, uniqueid, channel)


@dataclass(slots=True)
class RoomSnapshot:
    """Who is in a room: internal Uniqueids and our calls (Uniqueid → channel)."""

    internals: set[str] = field(default_factory=set)
    ours: dict[str, str] = field(default_factory=dict)
    muted: set[str] = field(default_factory=set)  # our calls the list shows muted (Muted: Yes)

    @classmethod
    def from_list(cls, items: Iterable[Any]) -> RoomSnapshot:
        snap = cls()
        for item in items:
            uid = field_of(item, "Uniqueid")
            if is_announcer(uid):
                continue
            if link_id_of(uid):
                snap.ours[uid] = field_of(item, "Channel")
                if field_of(item, "Muted").lower() == "yes":
                    snap.muted.add(uid)
            elif uid:
                snap.internals.add(uid)
        return snap

    def replay(self, journal: Iterable[JournalEntry]) -> RoomSnapshot:
        """Apply, in order, the joins/leaves that arrived while the list was in flight."""
        for kind, uid, channel in journal:
            if is_announcer(uid):
                continue
            if link_id_of(uid):
                if kind == "join":
                    self.ours[uid] = channel
                else:
                    self.ours.pop(uid, None)
            elif kind == "join":
                self.internals.add(uid)
            else:
                self.internals.discard(uid)
        return self


def ended_members(members: Iterable[str], bridges: Mapping[str, str], ended_bridge: str) -> list[str]:
    """The members a ConfbridgeEnd of `ended_bridge` removes: those that joined that bridge.

    A room name gets a new bridge as soon as someone joins after the last one left; under
    load the old bridge's End arrives after that join. Members of unknown bridge (learned
    from a room list) and an End without a BridgeUniqueid remove everyone, as before."""
    return [uid for uid in members if not ended_bridge or bridges.get(uid, "") in ("", ended_bridge)]


def expected_parties(internals: int, machines: Iterable[LinkMachine]) -> int:
    """What ConfbridgeListRooms should show for a room: its internals plus our joined calls."""
    return internals + sum(1 for m in machines if m.call is not None and m.call.joined)


def rooms_that_differ(parties: Mapping[str, int], expected: Mapping[str, int]) -> list[str]:
    """Rooms whose party count is not what we believe (a room not listed has none)."""
    return [room for room, count in expected.items() if parties.get(room, 0) != count]


# --------------------------------------------------------------------------- calls


JoinVerdict = Literal["route", "hang_up", "ignore"]


@dataclass(slots=True)
class CallBook:
    """What we know of our calls beyond each link's current one."""

    # Calls we decided to end, until their Hangup event: a resync re-sends the hang-up (it
    # may have been lost with the AMI connection) and never adopts them. uid → channel.
    doomed: dict[str, str | None] = field(default_factory=dict)
    # Calls whose Hangup we saw (uid → when), oldest first.
    gone: dict[str, float] = field(default_factory=dict)
    # Room each call was dialled into, so a link's room change never adopts an old call.
    dialled_rooms: dict[str, str] = field(default_factory=dict)

    def dialled(self, uid: str, room: str) -> None:
        self.dialled_rooms[uid] = room
        if len(self.dialled_rooms) > CALL_ROOMS_MAX:
            self.dialled_rooms.pop(next(iter(self.dialled_rooms)))

    def doom(self, uid: str, channel: str | None) -> None:
        if uid not in self.gone:
            self.doomed[uid] = channel or self.doomed.get(uid)

    def ended(self, uid: str, now: float) -> None:
        self.doomed.pop(uid, None)
        self.dialled_rooms.pop(uid, None)
        self.gone.pop(uid, None)
        self.gone[uid] = now
        self.forget_old(now)

    def forget_old(self, now: float) -> None:
        # Insertion order is time order: drop from the front, O(1) per call amortised.
        gone = self.gone
        while gone:
            uid = next(iter(gone))
            if now - gone[uid] <= GONE_MEMORY_SECONDS and len(gone) <= GONE_MEMORY_MAX:
                break
            del gone[uid]

    def on_join(self, uid: str, room: str, link_room: str | None) -> JoinVerdict:
        """One of our calls joined `room`; `link_room` is its link's room (None: no such link).

        A call whose Hangup we saw is gone: its late join (an overloaded Asterisk reports it after
        the hang-up) is ignored, never adopted. A call we decided to end is never adopted; a call
        of no link, or of a link in another room, is a stray."""
        if uid in self.gone:
            return "ignore"
        if uid in self.doomed or link_room != room:
            return "hang_up"
        return "route"

    def snapshot_calls(
        self, link_id: str, room: str, joined: Mapping[str, str], channels: Mapping[str, str]
    ) -> list[SnapshotCall]:
        """The calls of `link_id` a resync of `room` should show its machine."""
        prefix = f"{CALL_PREFIX}{link_id}-"
        calls = []
        for uid in sorted(set(joined) | set(channels)):
            if not uid.startswith(prefix) or uid in self.gone or uid in self.doomed:
                continue
            if uid not in joined and self.dialled_rooms.get(uid, room) != room:
                continue  # dialled into the link's previous room
            calls.append(SnapshotCall(uid, joined.get(uid) or channels.get(uid), uid in joined))
        return calls

    def strays_in_room(
        self, room: str, joined: Mapping[str, str], link_rooms: Mapping[str, str]
    ) -> list[tuple[str, str]]:
        """Our calls in `room` whose link does not exist or is in another room."""
        return [
            (uid, channel)
            for uid, channel in joined.items()
            if link_rooms.get(link_id_of(uid) or "") != room and uid not in self.gone
        ]

    def strays_of_unknown_links(
        self, channels: Mapping[str, str], link_ids: Iterable[str]
    ) -> list[tuple[str, str]]:
        known = set(link_ids)
        return [
            (uid, channel)
            for uid, channel in channels.items()
            if link_id_of(uid) not in known and uid not in self.gone
        ]

    def doomed_to_resend(self, channels: Mapping[str, str]) -> list[tuple[str, str | None]]:
        """After a channel list: doomed calls still present get their hang-up again; the
        others are gone and forgotten. Clears the doomed set (re-sending dooms them again)."""
        resend = [(uid, channels[uid] or channel) for uid, channel in self.doomed.items() if uid in channels]
        self.doomed.clear()
        return resend


# --------------------------------------------------------------------------- routed calls


@dataclass(slots=True)
class RouteLeg:
    """One provider leg Core's outgoing routes dialled for a routed call (Dial on the ;2 half)."""

    uid: str
    dial_status: str = ""  # its DialEnd
    cause: str = ""  # its Hangup
    tech_cause: str = ""
    ended: bool = False


@dataclass(slots=True)
class RouteTrail:
    """What the ;2 half of a routed call did: the legs it dialled, in order, and whether it ended."""

    legs: list[RouteLeg] = field(default_factory=list)
    half_ended: bool = False
    # Our ;1 ended before the ;2 half: what its own fields said, and what the machine was told.
    own: Failure | None = None
    told: Failure | None = None


@dataclass(slots=True)
class RouteTrails:
    """Trails of our routed calls in flight (call id → trail; provider leg uid → call id).

    Fed from DialBegin/DialEnd of a `<call id>;2` half and the Hangup of the legs it dialled;
    read once, when the call (the ;1 half) fails or ends. Bounded: a trail whose call never
    reports back is dropped oldest first."""

    trails: dict[str, RouteTrail] = field(default_factory=dict)
    leg_calls: dict[str, str] = field(default_factory=dict)

    def _trail(self, call_id: str) -> RouteTrail:
        trail = self.trails.get(call_id)
        if trail is None:
            trail = self.trails[call_id] = RouteTrail()
            if len(self.trails) > CALL_ROOMS_MAX:
                self.drop(next(iter(self.trails)))
        return trail

    def dialled(self, call_id: str) -> None:
        """A routed call was originated: its trail starts (so a ;2 half that ends after our ;1,
        having dialled nothing, can still say that no route took the number)."""
        self._trail(call_id)

    def dial_begin(self, half_uid: str, leg_uid: str) -> bool:
        call_id = routed_call_of(half_uid)
        if call_id is None or not leg_uid:
            return False
        self._trail(call_id).legs.append(RouteLeg(leg_uid))
        self.leg_calls[leg_uid] = call_id
        return True

    def dial_end(self, half_uid: str, leg_uid: str, status: str) -> bool:
        call_id = routed_call_of(half_uid)
        trail = self.trails.get(call_id) if call_id else None
        if trail is None:
            return False
        for leg in trail.legs:
            if leg.uid == leg_uid:
                leg.dial_status = status
        return True

    def hangup(self, uid: str, cause: str, tech_cause: str) -> tuple[str, Failure] | None:
        """A Hangup of a ;2 half or of a provider leg of ours. When it is the ;2 half of a call
        whose ;1 already ended (Asterisk reports the halves in either order): (call id, the
        truer failure) if the trail now says more than what was reported; the trail goes."""
        call_id = routed_call_of(uid)
        if call_id is not None:
            trail = self._trail(call_id)
            trail.half_ended = True
            if trail.own is None:
                return None
            self.drop(call_id)
            better = routed(trail.own, trail.legs, True)
            return (call_id, better) if better != trail.told else None
        leg_call = self.leg_calls.pop(uid, None)
        leg_trail = self.trails.get(leg_call) if leg_call else None
        for leg in leg_trail.legs if leg_trail else ():
            if leg.uid == uid:
                leg.cause, leg.tech_cause, leg.ended = cause, tech_cause, True
        return None

    def ended(self, call_id: str, own: Failure) -> Failure:
        """Our ;1 ended and its own fields say `own`: the failure to report now (causes.routed).
        The trail stays while the ;2 half is up: its Hangup may bring a truer one (hangup())."""
        trail = self.trails.get(call_id)
        if trail is None:
            return own
        told = routed(own, trail.legs, trail.half_ended)
        if trail.half_ended:
            self.drop(call_id)
        else:
            trail.own, trail.told = own, told
        return told

    def get(self, call_id: str) -> RouteTrail | None:
        return self.trails.get(call_id)

    def drop(self, call_id: str) -> None:
        trail = self.trails.pop(call_id, None)
        for leg in trail.legs if trail else ():
            self.leg_calls.pop(leg.uid, None)


# --------------------------------------------------------------------------- call history

# UserEvent of the join context's `failed` extension (Lib/CallHistoryDialplan.php FAILED_EVENT):
# the Originate's stand-in channel asks which cause to write into the attempt's history row.
FAILED_EVENT = "ConflinkFailed"
# Variable the answer is set in, on the stand-in (it waits for it, bounded).
CAUSE_VARIABLE = "CONFLINK_CAUSE"
# A stand-in's Uniqueid (`<epoch>.<n>`, `<systemname>-<epoch>.<n>`): it goes into an AMI header.
_STAND_IN_UID = re.compile(r"^[A-Za-z0-9_-]{0,40}[0-9]+\.[0-9]+$")
CAUSES_MAX = 2000


class CauseMemory:
    """The Asterisk cause of each of our calls' Hangup, for the `failed` stand-in that asks for
    it right after. Asterisk does not order the two events: the question may come first (seen
    with two attempts failing in the same millisecond), so a question about a call whose channel
    exists but has not hung up yet is answered when its Hangup arrives. Bounded: calls that
    never fail are forgotten oldest first."""

    def __init__(self, limit: int = CAUSES_MAX) -> None:
        self._causes: OrderedDict[str, str] = OrderedDict()  # "" = channel up, no Hangup yet
        self._asking: OrderedDict[str, str] = OrderedDict()  # call id -> stand-in waiting
        self._limit = limit

    def _keep(self, table: OrderedDict[str, str], call_id: str, value: str) -> None:
        table[call_id] = value
        table.move_to_end(call_id)
        while len(table) > self._limit:
            table.popitem(last=False)

    def created(self, call_id: str) -> None:
        """Newchannel of one of our calls: a Hangup with its cause will follow."""
        if link_id_of(call_id) is not None and call_id not in self._causes:
            self._keep(self._causes, call_id, "")

    def hung_up(self, call_id: str, cause: str) -> tuple[str, str] | None:
        """The call's Hangup; (stand-in, cause) when its stand-in already asked."""
        if link_id_of(call_id) is None:
            return None
        stand_in = self._asking.pop(call_id, None)
        if stand_in is not None:
            self._causes.pop(call_id, None)
            return stand_in, _cause(cause)
        self._keep(self._causes, call_id, cause or "0")
        return None

    def ask(self, call_id: str, stand_in: str) -> tuple[str, str] | None:
        """The stand-in's question: (stand-in, cause) now, or None to answer at the Hangup.
        A call never seen (no channel: the endpoint could not even be dialled) is answered "0"."""
        cause = self._causes.pop(call_id, None)
        if cause == "":
            self._keep(self._asking, call_id, stand_in)
            return None
        return stand_in, _cause(cause or "")

    def __len__(self) -> int:
        return len(self._causes) + len(self._asking)


def _cause(value: str) -> str:
    """An Asterisk cause as the dialplan takes it: 1-3 digits, "0" = unknown."""
    return value if value.isdigit() and len(value) <= 3 else "0"


def failed_attempt_reply(fields: Mapping[str, str], causes: CauseMemory) -> tuple[str, str] | None:
    """(stand-in Uniqueid, cause) to set as CAUSE_VARIABLE on the `failed` stand-in of one of
    our attempts; None for any other or a malformed UserEvent (outside input), and for a call
    whose Hangup is still to come (CauseMemory.hung_up answers then). The cause is Asterisk's
    number from that call's Hangup event, "0" when none is known (the dialplan then falls back
    to the Originate's REASON)."""
    if fields.get("UserEvent") != FAILED_EVENT:
        return None
    call_id, stand_in = fields.get("CallId", ""), fields.get("Uniqueid", "")
    if link_id_of(call_id) is None or len(call_id) > 160 or not _STAND_IN_UID.match(stand_in):
        return None
    return causes.ask(call_id, stand_in)

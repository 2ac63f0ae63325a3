"""Runs one LinkMachine per link: feeds it AMI events and timers, carries out its actions.

All of this runs on the event loop without awaiting inside event handlers, so a join is
turned into an Originate on the wire within the same callback that read the event.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Coroutine, Iterable
from typing import Any, ClassVar

from . import __version__
from .ami import AmiClient, AmiNotReady
from .causes import Failure, classify, routed
from .config import (
    ANNOUNCE_JOIN_WAIT_MS,
    ANNOUNCE_SOUNDS,
    ANNOUNCER_PREFIX,
    FAR_END_MODULES,
    TALK_DETECT_MODULE,
    Config,
    LinkConfig,
)
from .fsm import (
    Action,
    Announce,
    CancelTimer,
    Decision,
    Hangup,
    LinkMachine,
    MuteExternal,
    Originate,
    SendDigits,
    SetVar,
    StartTimer,
    UsageChanged,
    VerifyRoom,
    parse_dtmf_event,
)
from .localtime import LocalTime, SystemLocalTime
from .rules import (
    CALL_PREFIX,
    CAUSE_VARIABLE,
    FAILED_EVENT,
    CallBook,
    CauseMemory,
    JournalEntry,
    RoomSnapshot,
    RouteTrails,
    ended_members,
    expected_parties,
    failed_attempt_reply,
    far_ends_hearing,
    is_announcer,
    link_id_of,
    module_state,
    originate_channel,
    rooms_that_differ,
    routed_call_of,
)
from .rules import field_of as _field
from .sched import Handle, LoopScheduler, Scheduler
from .usage import LinkUsage, UsageStore

__all__ = ["CALL_PREFIX", "Engine", "link_id_of"]

log = logging.getLogger("conflink.engine")

RECONCILE_INTERVAL = 60.0
ROOM_RETRY_SECONDS = 30.0
# PlayDTMF tone length; Asterisk holds the manager session for it, so digits stay in order.
DIGIT_DURATION_MS = 250
# A control command that waits for Asterisk's answer waits this long at most (conflink-ctl
# gives up after 3 s by default).
CONTROL_WAIT_SECONDS = 2.0


class Engine:
    def __init__(
        self,
        *,
        clock: Callable[[], float] = time.time,
        scheduler: Scheduler | None = None,
        reconcile_interval: float = RECONCILE_INTERVAL,
        ami_factory: Callable[..., AmiClient] = AmiClient,
        local_time: LocalTime | None = None,
        usage_path: str | None = None,
    ) -> None:
        self.config: Config | None = None
        # Calendar of the cost limits (the PBX's zone) and their per-day usage on disk.
        self.local_time: LocalTime = local_time or SystemLocalTime()
        self.usage = UsageStore(usage_path)
        self.machines: dict[str, LinkMachine] = {}
        self.rooms: dict[str, list[str]] = {}
        self.room_internals: dict[str, set[str]] = {}
        # BridgeUniqueid each internal joined (a room name can get a new bridge at once)
        self.member_bridge: dict[str, str] = {}
        self.ami: AmiClient | None = None
        self.started_at = clock()
        self.reconcile_interval = reconcile_interval
        self._clock = clock
        self._scheduler: Scheduler = scheduler or LoopScheduler()
        self._ami_factory = ami_factory
        self._timers: dict[tuple[str, str], Handle] = {}
        self._dial_status: dict[str, str] = {}
        # Hangup causes of our calls, for the call-history row of a failed attempt.
        self._causes = CauseMemory()
        self.book = CallBook()
        # Routed calls (dial_via routes): what their ;2 half and its provider legs reported.
        self.routes = RouteTrails()
        self._retry_rooms: set[str] = set()
        self._journals: dict[str, list[JournalEntry]] = {}
        self._tasks: set[asyncio.Task[Any]] = set()
        self._reconcile_handle: Handle | None = None
        self._stopped = False
        self._all_gone: asyncio.Event | None = None  # set while a final stop waits for hang-ups
        self._resync_lock = asyncio.Lock()
        self._digit_locks: dict[str, asyncio.Lock] = {}  # per link: one digit sequence at a time
        self._announce_seq = 0
        # Announcers in flight: Uniqueid (;1) → [link id, ConfBridge channel (;2) once joined,
        # hang it up as soon as it joins].
        self._announcers: dict[str, list[Any]] = {}
        self.counters = {"originates": 0, "hangups": 0, "resyncs": 0, "reconciles": 0, "events": 0}
        # FAR_END_MODULES as Asterisk reported them at the last AMI start (rules.module_state).
        self.modules: dict[str, str] = {}

    # ------------------------------------------------------------------ lifecycle

    async def start(self, config: Config | None) -> None:
        if config is not None:
            await self.apply_config(config)
        self._schedule_reconcile()

    async def stop(self) -> None:
        self._stopped = True
        if self._reconcile_handle is not None:
            self._reconcile_handle.cancel()
        for handle in self._timers.values():
            handle.cancel()
        self._timers.clear()
        for task in list(self._tasks):
            task.cancel()
        if self.ami is not None:
            self.ami.stop()

    async def hang_up_all(self, wait_seconds: float) -> int:
        """Final stop: end every external call we hold, waiting up to `wait_seconds` for Asterisk."""
        now = self._clock()
        held = [m for m in self.machines.values() if m.call is not None]
        for machine in self.machines.values():
            self._run(machine.shut_down(now))
        if held:
            all_gone = self._all_gone = asyncio.Event()
            self._check_all_gone()
            deadline = self._scheduler.call_later(wait_seconds, all_gone.set)
            await all_gone.wait()
            deadline.cancel()
        return len(held)

    async def settle(self) -> None:
        """Wait until no background task (resync, reconcile, hang-up lookup) is running."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    def _check_all_gone(self) -> None:
        if self._all_gone is not None and all(m.call is None for m in self.machines.values()):
            self._all_gone.set()

    # ------------------------------------------------------------------ config

    async def apply_config(self, config: Config) -> dict[str, Any]:
        old = self.config
        notes, new_rooms = self.apply_links(config)
        if old is None or old.ami != config.ami:
            if old is not None:
                notes.append("AMI settings changed; reconnecting")
            await self._restart_ami(config)
        elif new_rooms and self.ami is not None and self.ami.ready:
            self._spawn(self.resync(f"rooms added: {', '.join(sorted(new_rooms))}", rooms=new_rooms))
        log.info("config applied: %d link(s), %d room(s)", len(self.machines), len(self.rooms))
        return {"notes": notes}

    def apply_links(self, config: Config) -> tuple[list[str], set[str]]:
        """The links of `config` into machines (no AMI I/O): notes for the admin, and the rooms
        not watched until now (what we know of them may be stale; their resync decides)."""
        now = self._clock()
        notes: list[str] = []
        new_ids = {link.id for link in config.links}
        for link_id in [i for i in self.machines if i not in new_ids]:
            notes.append(f"link {link_id}: removed" + (", hanging up its call" if self.machines[link_id].call else ""))
            self._run(self.machines.pop(link_id).remove(now))
        new_rooms: set[str] = set()
        for link in config.links:
            machine = self.machines.get(link.id)
            if machine is not None and machine.link.room != link.room:
                notes.append(f"link {link.id}: room changed {machine.link.room} -> {link.room}")
                self._run(machine.remove(now))
                machine = None
            if machine is None:
                machine = LinkMachine(link=link, ami_up=False, local=self.local_time,
                                      talk_detect=self._talk_detect())
                saved = self.usage.get(link.id)
                if saved is not None:
                    machine.restore_usage(saved.day, saved.used_seconds, saved.limited, saved.limited_text)
                self.machines[link.id] = machine
                if link.room not in self.rooms:
                    new_rooms.add(link.room)
                else:
                    machine.internals = set(self.room_internals.get(link.room, ()))
                    self._run(machine.set_ami(bool(self.ami and self.ami.ready), now))
            elif machine.link != link:
                if machine.call is not None and machine.link.dial_settings() != link.dial_settings():
                    notes.append(f"link {link.id}: dial settings changed; the live call stays, "
                                 "the change applies at the next dial")
                self._run(machine.update_config(link, now))
        self.rooms = {}
        for link in config.links:
            self.rooms.setdefault(link.room, []).append(link.id)
        self.config = config
        self.usage.keep_only(set(self.machines))
        return notes, new_rooms

    async def _restart_ami(self, config: Config) -> None:
        if self.ami is not None:
            self.ami.stop()
        self.ami = self._ami_factory(config.ami, self.on_ami_event, self.on_ami_ready)
        await self.ami.start()

    # ------------------------------------------------------------------ control

    def status(self) -> dict[str, Any]:
        now = self._clock()
        ami = self.ami
        return {
            "ami": {
                "connected": bool(ami and ami.connected),
                "logged_in": bool(ami and ami.logged_in),
                "ready": bool(ami and ami.ready),
                "host": ami.config.host if ami else None,
                "port": ami.config.port if ami else None,
                "last_error": ami.last_error if ami else "no config yet",
                "requests_sent": ami.requests_sent if ami else 0,
                "connects": ami.connects if ami else 0,
                "modules": dict(self.modules),
            },
            "links": [machine.status(now) for machine in self.machines.values()],
            "counters": dict(self.counters),
            "version": __version__,
            "uptime": round(now - self.started_at, 3),
        }

    async def dial(self, link_id: str, *, force: bool = False, seconds: float | None = None) -> dict[str, Any]:
        machine = self.machines.get(link_id)
        if machine is None:
            return {"ok": False, "error": f"no link with id {link_id!r}"}
        if self.ami is None or not self.ami.ready:
            return {"ok": False, "error": "AMI is not connected"}
        ok, message, actions = machine.manual_dial(self._clock(), force=force, seconds=seconds)
        self._run(actions)
        return {"ok": True, "message": message} if ok else {"ok": False, "error": message}

    async def hangup(self, link_id: str) -> dict[str, Any]:
        machine = self.machines.get(link_id)
        if machine is None:
            return {"ok": False, "error": f"no link with id {link_id!r}"}
        ok, message, actions = machine.manual_hangup(self._clock())
        self._run(actions)
        return {"ok": True, "message": message} if ok else {"ok": False, "error": message}

    async def send_dtmf(self, link_id: str, digits: str) -> dict[str, Any]:
        machine = self.machines.get(link_id)
        if machine is None:
            return {"ok": False, "error": f"no link with id {link_id!r}"}
        if self.ami is None or not self.ami.ready:
            return {"ok": False, "error": "AMI is not connected"}
        ok, message, actions = machine.manual_dtmf(digits, self._clock())
        if not ok:
            return {"ok": False, "error": message}
        futures = self._run(actions)
        # The reply waits for Asterisk's answer to the first digit (channel gone, refused);
        # the rest of a long sequence goes on in the background.
        error = await self._first_refusal(futures[:1])
        return {"ok": False, "error": error} if error else {"ok": True, "message": message}

    async def mute(self, link_id: str, muted: bool) -> dict[str, Any]:
        machine = self.machines.get(link_id)
        if machine is None:
            return {"ok": False, "error": f"no link with id {link_id!r}"}
        if self.ami is None or not self.ami.ready:
            return {"ok": False, "error": "AMI is not connected"}
        ok, message, actions = machine.manual_mute(muted, self._clock())
        if not ok:
            return {"ok": False, "error": message}
        error = await self._first_refusal(self._run(actions))
        return {"ok": False, "error": error} if error else {"ok": True, "message": message}

    async def _first_refusal(self, futures: list[asyncio.Future[Any]]) -> str:
        """Asterisk's error for the first of `futures` it refused ("" when all succeeded)."""
        for future in futures:
            try:
                reply = await asyncio.wait_for(asyncio.shield(future), CONTROL_WAIT_SECONDS)
            except TimeoutError:
                return "Asterisk did not answer in time"
            except AmiNotReady as exc:
                return f"AMI: {exc}"
            first = reply[0] if isinstance(reply, list) and reply else reply
            if str(_field(first, "Response")).lower() != "success":
                return f"Asterisk refused: {_field(first, 'Message') or 'error'}"
        return ""

    # ------------------------------------------------------------------ AMI input

    def on_ami_ready(self, ready: bool) -> None:
        now = self._clock()
        if ready:
            log.info("AMI ready (FullyBooted); resyncing %d room(s)", len(self.rooms))
            self._spawn(self.resync("AMI ready"))
            self._spawn(self._check_modules())
        else:
            for machine in self.machines.values():
                self._run(machine.set_ami(False, now))

    def _talk_detect(self) -> bool:
        return self.modules.get(TALK_DETECT_MODULE) != "missing"

    async def _check_modules(self) -> None:
        """Ask Asterisk which FAR_END_MODULES it loaded: IFMODULE through Getvar (ModuleCheck
        needs the `system` right, which the worker's AMI user has no business holding)."""
        found: dict[str, str] = {}
        for module in FAR_END_MODULES:
            ami = self.ami
            if ami is None or not ami.ready:
                return
            try:
                future = ami.send({"Action": "Getvar", "Variable": f"IFMODULE({module})"})
                reply = await asyncio.wait_for(asyncio.shield(future), CONTROL_WAIT_SECONDS)
            except (TimeoutError, AmiNotReady):
                return
            found[module] = module_state(reply)
        self.modules = found
        missing = sorted(m for m, state in found.items() if state == "missing")
        if missing:
            log.warning("Asterisk has not loaded %s: `p` steps wait out prompt_timeout, far-end talk "
                        "is not seen and dead_air is off", ", ".join(missing))
        now = self._clock()
        for machine in self.machines.values():
            self._run(machine.set_talk_detect(self._talk_detect(), now))

    def on_ami_event(self, name: str, message: Any) -> None:
        self.counters["events"] += 1
        handler = self._handlers.get(name)
        if handler is not None:
            handler(self, message)

    def _on_confbridge(self, message: Any, joined: bool) -> None:
        room = _field(message, "Conference")
        uid = _field(message, "Uniqueid")
        channel = _field(message, "Channel")
        if not room or not uid:
            return
        if is_announcer(uid):
            self._announcer_seen(uid, _field(message, "Channel"), joined)
            return
        journal = self._journals.get(room)
        if journal is not None:
            journal.append(("join" if joined else "leave", uid, channel))
        now = self._clock()
        link_id = link_id_of(uid)
        if link_id is None:
            internals = self.room_internals.setdefault(room, set())
            if joined:
                internals.add(uid)
                self.member_bridge[uid] = _field(message, "BridgeUniqueid")
            else:
                internals.discard(uid)
                self.member_bridge.pop(uid, None)
                if not internals:
                    del self.room_internals[room]
            for machine in self._machines_of(room):
                self._run(machine.internal_joined(uid, now) if joined else machine.internal_left(uid, now))
            return
        if not joined:
            return  # the Hangup event that follows tells us why it ended
        owner = self.machines.get(link_id)
        verdict = self.book.on_join(uid, room, owner.link.room if owner else None)
        if verdict == "ignore":
            log.info("room=%s late join of ended call %s ignored", room, uid)
            return
        if verdict == "hang_up":
            if uid not in self.book.doomed:
                log.warning("room=%s stray external call %s (no such link here): hanging up", room, uid)
            self._hangup_channel(uid, channel)
            return
        assert owner is not None
        self._run(owner.external_joined(uid, channel, now))

    def _on_join(self, message: Any) -> None:
        self._on_confbridge(message, True)

    def _on_leave(self, message: Any) -> None:
        self._on_confbridge(message, False)

    def _on_end(self, message: Any) -> None:
        # A conference ends only when nobody is left in it: drop the internals we still count
        # in THAT bridge (a late End must not empty the room's next bridge).
        room = _field(message, "Conference")
        now = self._clock()
        members = self.room_internals.get(room, set())
        for uid in ended_members(members, self.member_bridge, _field(message, "BridgeUniqueid")):
            members.discard(uid)
            self.member_bridge.pop(uid, None)
            for machine in self._machines_of(room):
                self._run(machine.internal_left(uid, now))
        if not members:
            self.room_internals.pop(room, None)

    def _on_newchannel(self, message: Any) -> None:
        uid = _field(message, "Uniqueid")
        self._causes.created(uid)
        link_id = link_id_of(uid)
        machine = self.machines.get(link_id) if link_id else None
        if machine is not None:
            machine.external_channel(uid, _field(message, "Channel"))

    def _on_dialbegin(self, message: Any) -> None:
        self.routes.dial_begin(_field(message, "Uniqueid"), _field(message, "DestUniqueid"))

    def _on_dialend(self, message: Any) -> None:
        if self.routes.dial_end(_field(message, "Uniqueid"), _field(message, "DestUniqueid"),
                                _field(message, "DialStatus")):
            return
        for key in ("DestUniqueid", "Uniqueid"):
            uid = _field(message, key)
            if link_id_of(uid):
                self._dial_status[uid] = _field(message, "DialStatus")

    def _on_hangup(self, message: Any) -> None:
        uid = _field(message, "Uniqueid")
        link_id = link_id_of(uid)
        if link_id is None:
            routed_call = routed_call_of(uid)
            if routed_call is not None and routed_call in self.book.gone and self.routes.get(routed_call) is None:
                return  # a ;2 half of a call whose story is told
            revised = self.routes.hangup(uid, _field(message, "Cause"), _field(message, "TechCause"))
            if revised is not None:
                call_id, failure = revised
                machine = self.machines.get(link_id_of(call_id) or "")
                if machine is not None:
                    self._run(machine.revised_cause(call_id, failure, self._clock()))
            return
        now = self._clock()
        self.book.ended(uid, now)
        answer = self._causes.hung_up(uid, _field(message, "Cause"))
        if answer is not None:
            self._answer_stand_in(*answer)
        failure = self.routes.ended(uid, classify(
            cause=_field(message, "Cause"),
            tech_cause=_field(message, "TechCause") or None,
            dial_status=self._dial_status.pop(uid, None),
        ))
        machine = self.machines.get(link_id)
        if machine is not None:
            self._run(machine.external_gone(uid, failure, now))
        self._check_all_gone()

    def _on_talking(self, message: Any, talking: bool) -> None:
        uid = _field(message, "Uniqueid")
        link_id = link_id_of(uid)
        machine = self.machines.get(link_id) if link_id else None
        if machine is not None:
            machine.external_channel(uid, _field(message, "Channel"))
            self._run(machine.far_end_talking(uid, talking, self._clock()))

    def _on_talking_start(self, message: Any) -> None:
        self._on_talking(message, True)

    def _on_talking_stop(self, message: Any) -> None:
        self._on_talking(message, False)

    def _on_user_event(self, message: Any) -> None:
        uid = _field(message, "Uniqueid")
        if _field(message, "UserEvent") == FAILED_EVENT:
            self._failed_attempt(message)
            return
        link_id = link_id_of(uid)
        machine = self.machines.get(link_id) if link_id else None
        report = parse_dtmf_event({k: _field(message, k) for k in ("UserEvent", "Step", "Phase", "Digits")})
        if machine is not None and report is not None:
            machine.external_channel(uid, _field(message, "Channel"))  # in case Newchannel was missed
            segment, phase, digits = report
            self._run(machine.dtmf_event(uid, segment, phase, digits, self._clock()))

    def _failed_attempt(self, message: Any) -> None:
        """The `failed` stand-in of one of our Originates waits for the cause its call-history
        row is written with (Lib/CallHistoryDialplan.php); it falls back to REASON without us."""
        reply = failed_attempt_reply({k: _field(message, k) for k in ("UserEvent", "CallId", "Uniqueid")},
                                     self._causes)
        if reply is not None:
            self._answer_stand_in(*reply)

    def _answer_stand_in(self, stand_in: str, cause: str) -> None:
        ami = self.ami
        if ami is None or not ami.ready:
            return
        try:
            future = ami.send({"Action": "Setvar", "Channel": stand_in, "Variable": CAUSE_VARIABLE, "Value": cause})
        except AmiNotReady:
            return
        # A stand-in that gave up already refuses it; nobody needs that answer.
        future.add_done_callback(lambda f: f.cancelled() or f.exception())

    def _on_dtmf_end(self, message: Any) -> None:
        # Only what a participant pressed (Received); our own PlayDTMF/SendDTMF go out as Sent.
        if _field(message, "Direction") != "Received":
            return
        uid = _field(message, "Uniqueid")
        digit = _field(message, "Digit")
        if not uid or link_id_of(uid) is not None:
            return
        now = self._clock()
        for room, internals in self.room_internals.items():
            if uid in internals:
                for machine in self._machines_of(room):
                    self._run(machine.internal_digit(uid, digit, now))

    def _on_mute(self, message: Any, muted: bool) -> None:
        uid = _field(message, "Uniqueid")
        link_id = link_id_of(uid)
        machine = self.machines.get(link_id) if link_id else None
        if machine is not None:
            machine.external_mute_seen(uid, muted)

    def _on_confbridge_mute(self, message: Any) -> None:
        self._on_mute(message, True)

    def _on_confbridge_unmute(self, message: Any) -> None:
        self._on_mute(message, False)

    def _on_originate_response(self, message: Any) -> None:
        # Reaches us only for Originates sent by an earlier connection (ours are consumed by
        # their action future); useful when the worker restarted mid-dial.
        self._originate_result(_field(message, "Uniqueid"), [message])

    def _routed(self, call_id: str, own: Failure) -> Failure:
        """A routed call's failure from its trail (causes.routed); `own` for any other call."""
        trail = self.routes.get(call_id)
        return routed(own, trail.legs, trail.half_ended) if trail is not None else own

    _handlers: ClassVar[dict[str, Callable[[Engine, Any], None]]] = {
        "ConfbridgeJoin": _on_join,
        "ConfbridgeLeave": _on_leave,
        "ConfbridgeEnd": _on_end,
        "Newchannel": _on_newchannel,
        "DialBegin": _on_dialbegin,
        "DialEnd": _on_dialend,
        "Hangup": _on_hangup,
        "OriginateResponse": _on_originate_response,
        "ChannelTalkingStart": _on_talking_start,
        "ChannelTalkingStop": _on_talking_stop,
        "UserEvent": _on_user_event,
        "DTMFEnd": _on_dtmf_end,
        "ConfbridgeMute": _on_confbridge_mute,
        "ConfbridgeUnmute": _on_confbridge_unmute,
    }

    # ------------------------------------------------------------------ actions

    def _run(self, actions: Iterable[Action]) -> list[asyncio.Future[Any]]:
        """Carry out the machine's actions; returns the AMI replies of the room controls sent."""
        sent: list[asyncio.Future[Any]] = []
        for action in actions:
            if isinstance(action, SendDigits):
                sent.extend(self._send_digits(action))
            elif isinstance(action, MuteExternal):
                sent.extend(self._send_mute(action))
            elif isinstance(action, Originate):
                self._originate(action)
            elif isinstance(action, Hangup):
                self._hangup_channel(action.call_id, action.channel)
            elif isinstance(action, StartTimer):
                self._start_timer(action.link_id, action.kind, action.delay)
            elif isinstance(action, CancelTimer):
                handle = self._timers.pop((action.link_id, action.kind), None)
                if handle is not None:
                    handle.cancel()
            elif isinstance(action, VerifyRoom):
                if self.ami is not None and self.ami.ready:
                    self._spawn(self.resync(f"verify link {action.link_id}", rooms=[action.room]))
            elif isinstance(action, Announce):
                self._announce(action)
            elif isinstance(action, UsageChanged):
                self.usage.put(action.link_id, LinkUsage(action.day, action.used_seconds, action.limited,
                                                         action.limited_text))
            elif isinstance(action, SetVar):
                self._set_var(action)
            elif isinstance(action, Decision):
                machine = self.machines.get(action.link_id)
                state = machine.state if machine else "removed"
                log.info("link=%s room=%s state=%s %s", action.link_id, action.room, state, action.reason)
        return sent

    def _send_digits(self, action: SendDigits) -> list[asyncio.Future[Any]]:
        """PlayDTMF for the first digit now, the others one after another in the background."""
        ami = self.ami
        if ami is None or not ami.ready or not action.channel:
            return []
        lock = self._digit_locks.setdefault(action.link_id, asyncio.Lock())
        first: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        # Room keys do not wait for the answer: retrieve it so a failure is not reported twice.
        first.add_done_callback(lambda f: f.cancelled() or f.exception())
        self._spawn(self._play_digits(lock, action, first))
        return [first]

    async def _play_digits(self, lock: asyncio.Lock, action: SendDigits, first: asyncio.Future[Any]) -> None:
        try:
            async with lock:
                for index, digit in enumerate(action.digits):
                    ami = self.ami
                    if ami is None or not ami.ready:
                        raise AmiNotReady("AMI not ready")
                    # Async false: panoramisk 1.4 otherwise takes "DTMF successfully queued" for
                    # the start of an event list, fails on the missing Async key and drops the link.
                    reply = await ami.send({
                        "Action": "PlayDTMF", "Channel": action.channel, "Digit": digit,
                        "Duration": str(DIGIT_DURATION_MS), "Async": "false",
                    })
                    if index == 0 and not first.done():
                        first.set_result(reply)
                    head = reply[0] if isinstance(reply, list) and reply else reply
                    if str(_field(head, "Response")).lower() != "success":
                        log.warning("link=%s PlayDTMF %s refused: %s", action.link_id, digit, _field(head, "Message"))
                        return
            log.info("link=%s sent %s to the far end on %s", action.link_id, action.digits, action.channel)
        except BaseException as exc:
            if not first.done():
                first.set_exception(exc if isinstance(exc, Exception) else AmiNotReady("cancelled"))
            raise

    def _send_mute(self, action: MuteExternal) -> list[asyncio.Future[Any]]:
        ami = self.ami
        if ami is None or not ami.ready or not action.channel:
            return []
        name = "ConfbridgeMute" if action.muted else "ConfbridgeUnmute"
        try:
            future = ami.send({"Action": name, "Conference": action.room, "Channel": action.channel})
        except AmiNotReady:
            return []
        future.add_done_callback(lambda f: self._mute_done(action, f))
        return [future]

    @staticmethod
    def _mute_done(action: MuteExternal, future: asyncio.Future[Any]) -> None:
        if future.cancelled() or future.exception() is not None:
            return
        reply = future.result()
        head = reply[0] if isinstance(reply, list) and reply else reply
        if str(_field(head, "Response")).lower() != "success":
            log.warning("link=%s %s refused: %s", action.link_id,
                        "mute" if action.muted else "unmute", _field(head, "Message"))

    def _announce(self, action: Announce) -> None:
        """A Local channel plays the sound into the room: its ;2 half joins the ConfBridge (quiet,
        through the join context's `-announce` twin), its ;1 half plays, then both hang up."""
        config = self.config
        ami = self.ami
        sound = ANNOUNCE_SOUNDS.get(action.what)
        if config is None or ami is None or not ami.ready or sound is None:
            return
        hearing = far_ends_hearing(action.room, action.link_id, self.machines.values())
        if hearing:
            log.info("link=%s room=%s not announcing %s: the far end of link(s) %s is in the room",
                     action.link_id, action.room, action.what, ",".join(hearing))
            return
        if action.interrupt:
            for entry in self._announcers.values():
                if entry[0] == action.link_id:
                    entry[2] = True  # hung up now, or the moment it joins
                    self._hangup_announcer(entry)
        self._announce_seq += 1
        request: dict[str, str | list[str]] = {
            "Action": "Originate", "Async": "true",
            "Channel": f"Local/{action.room}@{config.dialplan.join_context}-announce/n",
            "Application": "Playback", "Data": sound, "Timeout": "5000",
            "ChannelId": f"{ANNOUNCER_PREFIX}{action.link_id}-{self._announce_seq}",
        }
        try:
            future = ami.send(request)
        except AmiNotReady:
            return
        uid = str(request["ChannelId"])
        self._announcers[uid] = [action.link_id, "", False]
        # A Playback that never got into the room (or whose leave was missed) is forgotten.
        self._scheduler.call_later(60.0, self._announcers.pop, uid, None)
        # Its answer matters to nobody; retrieve it so a failure is not logged as unhandled.
        future.add_done_callback(lambda f: f.cancelled() or f.exception())
        log.info("link=%s room=%s announcing %s (%s)", action.link_id, action.room, action.what, sound)

    def _announcer_seen(self, uid: str, channel: str, joined: bool) -> None:
        entry = self._announcers.get(uid.removesuffix(";2"))
        if entry is None:
            return
        if not joined:
            self._announcers.pop(uid.removesuffix(";2"), None)
            return
        entry[1] = channel
        if entry[2]:
            self._hangup_announcer(entry)

    def _hangup_announcer(self, entry: list[Any]) -> None:
        ami = self.ami
        if entry[1] and ami is not None and ami.ready:
            with contextlib.suppress(AmiNotReady):
                ami.send({"Action": "Hangup", "Channel": entry[1], "Cause": "16"})

    def _set_var(self, action: SetVar) -> None:
        ami = self.ami
        if ami is None or not ami.ready or not action.channel:
            # The dialplan's own bound (prompt_timeout + grace) then moves the call on.
            log.warning("link=%s cannot set %s on %s: %s", action.link_id, action.name, action.call_id,
                        "no channel name yet" if ami and ami.ready else "AMI is not connected")
            return
        with contextlib.suppress(AmiNotReady):
            ami.send({"Action": "Setvar", "Channel": action.channel, "Variable": action.name, "Value": action.value})

    def _originate(self, action: Originate) -> None:
        link: LinkConfig = action.link
        config = self.config
        ami = self.ami
        machine = self.machines.get(action.link_id)
        if config is None or ami is None or not ami.ready:
            if machine is not None:
                self._run(machine.abort_dial(action.call_id, self._clock(), "AMI is not connected"))
            return
        request: dict[str, str | list[str]] = {
            "Action": "Originate",
            "Async": "true",
            "Channel": originate_channel(link),
            "Context": config.dialplan.join_context,
            "Exten": link.room,
            "Priority": "1",
            "Timeout": str(link.ring_timeout * 1000),
            "ChannelId": action.call_id,
            "Variable": [
                f"CONFLINK_LINK={link.id}",
                f"CONFLINK_ROOM={link.room}",
                f"CONFLINK_DTMF={link.dtmf}",
                f"CONFLINK_DTMF_DELAY_MS={round(link.dtmf_delay * 1000)}",
                # Not required by the dialplan: lets call history show the number dialled.
                f"CONFLINK_NUMBER={link.number}",
                f"CONFLINK_PROMPT_SILENCE_MS={round(link.prompt_silence * 1000)}",
                f"CONFLINK_PROMPT_TIMEOUT_MS={round(link.prompt_timeout * 1000)}",
                f"CONFLINK_DTMF_MODE={link.dtmf_mode}",
                # Every attempt, for call history (design.md): in routes mode Core's own Lua
                # records the call, the provider is Core's choice.
                f"CONFLINK_CALL_ID={action.call_id}",
                f"CONFLINK_PROVIDER={link.endpoint if link.dial_via == 'provider' else ''}",
                f"CONFLINK_DIAL_VIA={link.dial_via}",
                f"CONFLINK_ATTEMPT_START={time.time():.3f}",
            ],
        }
        if link.announce:
            # The call waits for "connected" to be over before joining (the far end never hears it).
            request["Variable"] = [*request["Variable"], f"CONFLINK_ANNOUNCE_MS={ANNOUNCE_JOIN_WAIT_MS}"]
        if link.callerid:
            request["CallerID"] = f"{link.callerid} <{link.callerid}>"
            if link.dial_via == "routes":
                # Set on the provider legs by conflink-route (Core's routes dial from the ;2 half).
                request["Variable"] = [*request["Variable"], f"CONFLINK_CALLERID={link.callerid}"]
        try:
            future = ami.send(request)
        except AmiNotReady:
            if machine is not None:
                self._run(machine.abort_dial(action.call_id, self._clock(), "AMI is not connected"))
            return
        self.counters["originates"] += 1
        call_id = action.call_id
        self.book.dialled(call_id, link.room)
        if link.dial_via == "routes":
            self.routes.dialled(call_id)
        future.add_done_callback(lambda f: self._originate_done(call_id, f))

    def _originate_done(self, call_id: str, future: asyncio.Future[Any]) -> None:
        if future.cancelled() or future.exception() is not None:
            # Connection lost before the answer: the Originate may never have reached
            # Asterisk. The resync after reconnect decides from the channel list.
            link_id = link_id_of(call_id)
            machine = self.machines.get(link_id) if link_id else None
            if machine is not None:
                machine.originate_unconfirmed(call_id)
            return
        result = future.result()
        self._originate_result(call_id, list(result) if isinstance(result, list) else [result])

    def _originate_result(self, call_id: str, messages: list[Any]) -> None:
        link_id = link_id_of(call_id)
        machine = self.machines.get(link_id) if link_id else None
        if machine is None:
            return
        now = self._clock()
        final = next((m for m in messages if _field(m, "Event") == "OriginateResponse"), messages[-1])
        response = _field(final, "Response").lower()
        if response == "success" and _field(final, "Event") == "OriginateResponse":
            self._run(machine.external_answered(call_id, now))
        elif response in ("failure", "error"):
            if _field(final, "Event") == "OriginateResponse":
                failure = self._routed(call_id, classify(reason=_field(final, "Reason"),
                                                         dial_status=self._dial_status.get(call_id)))
            else:
                failure = Failure("originate_error", f"Originate refused: {_field(final, 'Message')}")
                self.routes.drop(call_id)  # no channel was made: no half will report
            self._run(machine.originate_failed(call_id, failure, now))

    def _hangup_channel(self, call_id: str, channel: str | None) -> None:
        self.book.doom(call_id, channel)
        ami = self.ami
        if ami is None or not ami.ready:
            return  # the resync after reconnect re-sends it (see CallBook.doomed)
        self.counters["hangups"] += 1
        if channel:
            try:
                ami.send({"Action": "Hangup", "Channel": channel, "Cause": "16"})
            except AmiNotReady:
                pass
            return
        self._spawn(self._hangup_by_uniqueid(call_id))

    async def _hangup_by_uniqueid(self, call_id: str) -> None:
        """The channel name is not known yet (still dialling): look it up by Uniqueid."""
        assert self.ami is not None
        items = await self.ami.list_events({"Action": "CoreShowChannels"}, "CoreShowChannel")
        for item in items or []:
            if _field(item, "Uniqueid") == call_id:
                self.ami.send({"Action": "Hangup", "Channel": _field(item, "Channel"), "Cause": "16"})
                return

    def _start_timer(self, link_id: str, kind: str, delay: float) -> None:
        old = self._timers.pop((link_id, kind), None)
        if old is not None:
            old.cancel()
        self._timers[(link_id, kind)] = self._scheduler.call_later(delay, self._timer_fired, link_id, kind)

    def _timer_fired(self, link_id: str, kind: str) -> None:
        self._timers.pop((link_id, kind), None)
        machine = self.machines.get(link_id)
        if machine is not None:
            try:
                self._run(machine.timer_fired(kind, self._clock()))
            except Exception:
                log.exception("link=%s timer %s failed", link_id, kind)

    # ------------------------------------------------------------------ resync / reconcile

    async def resync(self, reason: str, rooms: Iterable[str] | None = None) -> None:
        """Rebuild rooms from ConfbridgeList and our channels from CoreShowChannels, then act.

        One ConfbridgeListRooms first: rooms it does not list are empty without asking each of
        them, so a resync of 1000 idle links costs three requests, not a thousand."""
        ami = self.ami
        if ami is None or not ami.ready:
            return
        async with self._resync_lock:
            targets = sorted(set(rooms) if rooms is not None else set(self.rooms))
            full = rooms is None
            self.counters["resyncs"] += 1
            for room in targets:
                self._journals[room] = []  # live joins/leaves, replayed on top of the list
            try:
                listed_at: float | None = self._clock()
                channels = await ami.list_events({"Action": "CoreShowChannels"}, "CoreShowChannel")
                if channels is None:
                    listed_at = None
                ours = {
                    _field(c, "Uniqueid"): _field(c, "Channel")
                    for c in channels or []
                    if link_id_of(_field(c, "Uniqueid"))
                }
                active = await self._active_rooms(ami) if len(targets) > 1 else None
                for room in targets:
                    if active is not None and room not in active:
                        self._apply_room_snapshot(room, [], ours, listed_at)
                        continue
                    items = await ami.list_events({"Action": "ConfbridgeList", "Conference": room}, "ConfbridgeList")
                    if items is None:
                        self._room_list_failed(room)
                        continue
                    self._apply_room_snapshot(room, items, ours, listed_at)
                if channels is not None:
                    self._hang_up_doomed(ours)
                    if full:
                        self._hang_up_strays(ours)
            except AmiNotReady as exc:
                log.warning("resync (%s) interrupted: %s", reason, exc)
            finally:
                for room in targets:
                    self._journals.pop(room, None)
            log.info("resync done (%s): %d room(s)", reason, len(targets))

    @staticmethod
    async def _active_rooms(ami: AmiClient) -> set[str] | None:
        items = await ami.list_events({"Action": "ConfbridgeListRooms"}, "ConfbridgeListRooms")
        return None if items is None else {_field(i, "Conference") for i in items}

    def _room_list_failed(self, room: str) -> None:
        """Keep the room working on live events and try its list again later."""
        now = self._clock()
        for machine in self._machines_of(room):
            machine.internals = set(self.room_internals.get(room, ()))
            self._run(machine.set_ami(True, now))
        if room not in self._retry_rooms:
            self._retry_rooms.add(room)
            self._scheduler.call_later(ROOM_RETRY_SECONDS, self._retry_room, room)

    def _retry_room(self, room: str) -> None:
        self._retry_rooms.discard(room)
        if room in self.rooms:
            self._spawn(self.resync("room list retry", rooms=[room]))

    def _hang_up_doomed(self, channels: dict[str, str]) -> None:
        for uid, channel in self.book.doomed_to_resend(channels):
            log.info("re-sending hang-up of %s", uid)
            self._hangup_channel(uid, channel)

    def _apply_room_snapshot(
        self, room: str, items: list[Any], channels: dict[str, str], listed_at: float | None
    ) -> None:
        now = self._clock()
        snap = RoomSnapshot.from_list(items).replay(self._journals.get(room, []))
        self.book.forget_old(now)
        for uid in self.room_internals.get(room, set()) - snap.internals:
            self.member_bridge.pop(uid, None)  # gone without a Leave we saw
        if snap.internals:
            self.room_internals[room] = set(snap.internals)
        else:
            self.room_internals.pop(room, None)
        for link_id in self.rooms.get(room, []):
            machine = self.machines.get(link_id)
            if machine is None:
                continue
            calls = self.book.snapshot_calls(link_id, room, snap.ours, channels)
            self._run(machine.resync(snap.internals, calls, now, listed_at))
            for uid in snap.ours:
                machine.external_mute_seen(uid, uid in snap.muted)
        link_rooms = {link_id: m.link.room for link_id, m in self.machines.items()}
        for uid, channel in self.book.strays_in_room(room, snap.ours, link_rooms):
            log.warning("room=%s stray external call %s: hanging up", room, uid)
            self._hangup_channel(uid, channel)

    def _hang_up_strays(self, channels: dict[str, str]) -> None:
        for uid, channel in self.book.strays_of_unknown_links(channels, self.machines):
            log.warning("stray external call %s of unknown link %s: hanging up", uid, link_id_of(uid))
            self._hangup_channel(uid, channel)

    async def reconcile(self) -> None:
        """One cheap request: compare party counts per room with what we believe."""
        ami = self.ami
        if ami is None or not ami.ready or not self.rooms:
            return
        self.counters["reconciles"] += 1
        items = await ami.list_events({"Action": "ConfbridgeListRooms"}, "ConfbridgeListRooms")
        if items is None:
            return
        parties = {_field(i, "Conference"): int(_field(i, "Parties") or 0) for i in items}
        expected = {
            room: expected_parties(len(self.room_internals.get(room, ())), self._machines_of(room))
            for room in self.rooms
        }
        suspicious = rooms_that_differ(parties, expected)
        if suspicious:
            log.warning("reconcile: %d room(s) differ from what we believe; resyncing", len(suspicious))
            await self.resync("reconcile", rooms=suspicious)

    def _schedule_reconcile(self) -> None:
        if not self._stopped:
            self._reconcile_handle = self._scheduler.call_later(self.reconcile_interval, self._reconcile_due)

    def _reconcile_due(self) -> None:
        self._spawn(self._reconcile_then_reschedule())

    async def _reconcile_then_reschedule(self) -> None:
        try:
            await self.reconcile()
        except AmiNotReady as exc:
            log.warning("reconcile skipped: %s", exc)
        except Exception:
            log.exception("reconcile failed")
        finally:
            self._schedule_reconcile()

    # ------------------------------------------------------------------ helpers

    def _machines_of(self, room: str) -> list[LinkMachine]:
        return [self.machines[i] for i in self.rooms.get(room, ()) if i in self.machines]

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)

    def _task_done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            exc = task.exception()
            if isinstance(exc, AmiNotReady):
                log.warning("AMI task interrupted: %s", exc)
            else:
                log.error("background task failed: %r", exc)

"""One pure state machine per link.

No I/O, no asyncio, no clock: every input carries `now`, every output is an action for the
engine to carry out (originate, hang up, start/cancel a timer). That keeps every rule of
the design's behaviour list a branch here, testable in microseconds.
"""

from __future__ import annotations

import itertools
from collections import deque
from dataclasses import dataclass, field
from enum import StrEnum

from .causes import Failure
from .config import TEST_CALL_SECONDS_DEFAULT, LinkConfig, check_send_digits, check_test_call_seconds
from .localtime import LocalTime, SystemLocalTime
from .schedule import is_open, next_change

# Timer kinds. The engine keeps at most one timer per (link, kind).
ARM = "arm"
LINGER = "linger"
RETRY = "retry"
JOIN_DEADLINE = "join_deadline"
HANGUP_DEADLINE = "hangup_deadline"
TEST_CALL = "test_call"
FAILURE_GRACE = "failure_grace"
PROMPT = "prompt"  # a `p` step's prompt_timeout
FAR_WAITING = "far_end_waiting"  # continuous far-end sound long enough to call it "held"
DEAD_AIR = "dead_air"  # far-end silence long enough to hang up and redial
COST_LIMIT = "cost_limit"  # the live call reaches max_call_minutes or the daily budget
DAY_END = "day_end"  # local midnight: the cost limits start afresh
SCHEDULE = "schedule"  # the next start or end of one of the link's schedule windows
WINDOW_END = "window_end"  # the linger after a window ended with a call up

# A connected call that lasted this long resets the retry count when it drops: the number
# works, so a later drop starts a fresh series instead of eating the old one's budget.
STABLE_CALL_SECONDS = 30.0
# After an OriginateResponse failure, wait this long for the Hangup event that carries the
# real cause (it travels a different path inside Asterisk and may arrive later).
FAILURE_GRACE_SECONDS = 1.0
# An async Originate creates its channel in another Asterisk thread: a channel list asked
# for this soon after the Originate may not show it yet.
CHANNEL_LIST_LAG_SECONDS = 1.0
HANGUP_DEADLINE_SECONDS = 5.0
HANGUP_RETRIES = 3
# After that many unconfirmed hang-ups, keep the call and have the room checked this often:
# forgetting it could dial a second call while the first still exists.
HANGUP_VERIFY_SECONDS = 30.0
JOIN_MARGIN_SECONDS = 15.0
ATTEMPT_LOG_SIZE = 20
# Call ids end in a sequence number shared by every machine of the process: a machine made
# anew for a link (room change, link re-added) never repeats an id of its predecessor, and
# Asterisk refuses a ChannelId that is still in use.
_CALL_SEQ = itertools.count(1)
# Room keys: the digits of one sequence must follow each other within this many seconds
# (a person pressing *6 takes well under a second; a stray * long ago must not count).
ROOM_KEYS_GAP_SECONDS = 3.0

# Far end. Sound without a pause of prompt_silence for this long is not a prompt and not a
# meeting (people pause): a lobby or waiting room playing music. Display only.
WAITING_SECONDS = 15.0
# "A long call" for the meeting-ended rule: in the room at least this long. Entering fails
# much sooner (a wrong passcode is refused within seconds of the last digit, and the
# services give up on a caller in their lobby only after minutes, so that counts as an end);
# a meeting the host ends or a time limit (40 min on free Zoom) comes after it ran.
MEETING_END_SECONDS = 60.0
MEETING_ENDS_TO_STOP = 2
# Channel variable that releases a `p` step in the join dialplan (Lib/DialplanBuilder.php).
GO_VARIABLE = "CONFLINK_GO"
DTMF_STEP_LOG_SIZE = 40


# ------------------------------------------------------------------------- stops


class StopKind(StrEnum):
    """Why a link with people in its room does not dial. The value is status's `stop` field."""

    GAVE_UP = "gave_up"  # retry budget spent
    PERMANENT = "permanent"  # a cause that says the number will not work
    NO_REDIAL = "no_redial"  # the far end hung up and redial_on_drop is off
    HELD = "held"  # the administrator hung up: hold until the room empties
    STOPPING = "stopping"  # the worker is shutting down
    MEETING_ENDED = "meeting_ended"  # the far end ended a long call twice in this busy period
    CALL_LIMIT = "call_limit"  # a call reached max_call_minutes: no automatic dial until tomorrow
    DAILY_BUDGET = "daily_budget"  # daily_minutes used up: no automatic dial until tomorrow
    OFF_SCHEDULE = "off_schedule"  # outside the link's schedule windows: no automatic dial


@dataclass(frozen=True, slots=True)
class Stop:
    kind: StopKind
    text: str


def stop_cleared_by(kind: StopKind, old: LinkConfig, new: LinkConfig) -> bool:
    """Does a config change from `old` to `new` lift a stop of this kind?

    Only a change that could make the link succeed now: new retry settings renew the
    budget, a new number/endpoint may work, turning redial_on_drop on allows the redial.
    An administrator's hold and a shutdown are never lifted by settings."""
    if kind is StopKind.GAVE_UP:
        return old.retry != new.retry or old.dial_settings() != new.dial_settings()
    if kind is StopKind.PERMANENT:
        return old.dial_settings() != new.dial_settings()
    if kind is StopKind.NO_REDIAL:
        return new.retry.redial_on_drop and not old.retry.redial_on_drop
    if kind is StopKind.MEETING_ENDED:
        # Another number or sequence is another meeting; retry or cooldown settings are not.
        return old.dial_settings() != new.dial_settings()
    if kind is StopKind.CALL_LIMIT:
        return old.max_call_minutes != new.max_call_minutes
    if kind is StopKind.DAILY_BUDGET:
        # Lifted to be checked again: a budget still spent stops the link at once.
        return old.daily_minutes != new.daily_minutes
    return False


# Kinds that hold for the rest of the local day (lifted at midnight, not by the room emptying).
_DAY_STOPS = frozenset({StopKind.CALL_LIMIT, StopKind.DAILY_BUDGET})


# Kinds that end with the busy period (the room empties); the others outlive it.
_BUSY_PERIOD_STOPS = frozenset(
    {StopKind.GAVE_UP, StopKind.PERMANENT, StopKind.NO_REDIAL, StopKind.HELD, StopKind.MEETING_ENDED}
)


# ------------------------------------------------------------------------- actions


@dataclass(frozen=True, slots=True)
class Originate:
    link_id: str
    call_id: str
    link: LinkConfig


@dataclass(frozen=True, slots=True)
class Hangup:
    link_id: str
    call_id: str
    channel: str | None


@dataclass(frozen=True, slots=True)
class StartTimer:
    link_id: str
    kind: str
    delay: float


@dataclass(frozen=True, slots=True)
class CancelTimer:
    link_id: str
    kind: str


@dataclass(frozen=True, slots=True)
class VerifyRoom:
    """Ask for a resync of the link's room: something we sent was never confirmed."""

    link_id: str
    room: str


@dataclass(frozen=True, slots=True)
class Decision:
    """A state change worth logging: what happened and why."""

    link_id: str
    room: str
    reason: str


@dataclass(frozen=True, slots=True)
class SetVar:
    """Set a channel variable on our external call (releases a `p` step of the dialplan)."""

    link_id: str
    call_id: str
    channel: str | None
    name: str
    value: str


@dataclass(frozen=True, slots=True)
class SendDigits:
    """Play `digits` to the far end on the live external call (PlayDTMF, one per digit)."""

    link_id: str
    call_id: str
    channel: str
    digits: str


@dataclass(frozen=True, slots=True)
class MuteExternal:
    """Mute (or unmute) the external party in the room (ConfbridgeMute/ConfbridgeUnmute)."""

    link_id: str
    room: str
    call_id: str
    channel: str
    muted: bool


@dataclass(frozen=True, slots=True)
class Announce:
    """Play `what` (a config.ANNOUNCE_SOUNDS key) into the room, for the people there."""

    link_id: str
    room: str
    what: str
    # Stop this link's announcements still playing first ("connected" cuts "connecting" short,
    # so nothing is left playing when the far end enters the room).
    interrupt: bool = False


@dataclass(frozen=True, slots=True)
class UsageChanged:
    """Today's call time or cost-limit stop changed: the engine persists it (worker restarts)."""

    link_id: str
    day: int
    used_seconds: float
    limited: str  # StopKind value of today's cost-limit stop, or ""
    limited_text: str


Action = (
    Originate | Hangup | StartTimer | CancelTimer | VerifyRoom | Decision | SetVar | SendDigits | MuteExternal
    | UsageChanged | Announce
)


# ------------------------------------------------------------------------- call record


@dataclass(slots=True)
class Call:
    call_id: str
    started: float
    channel: str | None = None
    answered_at: float | None = None
    joined_at: float | None = None
    test: bool = False
    # Set when we decided to end the call; its end is then not a failure.
    hangup_reason: str | None = None
    hangup_tries: int = 0
    pending_failure: Failure | None = None
    # The Originate went out on a connection that died before its answer: it may never
    # have reached Asterisk, so the next channel list decides regardless of age.
    unconfirmed: bool = False
    # Far end, from TALK_DETECT on this channel (ChannelTalkingStart/Stop).
    talking: bool = False
    sound_since: float | None = None  # start of the current stretch of sound
    quiet_since: float | None = None  # start of the current silence
    # The `p` step waiting for its prompt to end: dialplan segment number, or None.
    prompt_segment: int | None = None
    prompt_heard: bool = False
    dtmf_step: int = 0
    far_waiting: bool = False
    far_silent: bool = False
    # Muted in the room as ConfBridge last reported it (ConfbridgeMute/Unmute events).
    muted: bool = False
    # Cost limits: connected time counts from here (joined_at, or the local midnight it
    # crossed); a call that joined with the daily budget already spent (a manual Call now)
    # is not cut by the budget.
    count_from: float | None = None
    over_budget: bool = False

    @property
    def joined(self) -> bool:
        return self.joined_at is not None


@dataclass(frozen=True, slots=True)
class SnapshotCall:
    """A `conflink-` channel of this link seen in ConfbridgeList/CoreShowChannels."""

    call_id: str
    channel: str | None
    joined: bool


@dataclass(slots=True)
class AttemptRecord:
    time: float
    call_id: str
    result: str = "dialling"
    cause: str = ""
    duration: float | None = None
    # DTMF steps as they happened: {"time", "step", "steps", "event", "detail"}; event is one
    # of waiting, prompt_heard, silence, timeout, sent.
    dtmf: list[dict[str, object]] = field(default_factory=list)

    def as_dict(self) -> dict[str, object]:
        return {
            "time": self.time,
            "call_id": self.call_id,
            "result": self.result,
            "cause": self.cause,
            "duration": None if self.duration is None else round(self.duration, 3),
            "dtmf": list(self.dtmf),
        }


def dtmf_plan(dtmf: str) -> tuple[int, int]:
    """(steps, offset) of a sequence split at `p`: the dialplan numbers the segments from 1;
    a leading empty segment (the sequence starts with `p`) is not a step of its own, so
    step = segment - offset. "p123#p#" → 2 steps; "123#" → 1; "" → 0."""
    if not dtmf:
        return 0, 0
    segments = dtmf.split("p")
    offset = 1 if segments[0] == "" else 0
    return len(segments) - offset, offset


def dtmf_seconds(dtmf: str) -> float:
    """Rough time SendDTMF needs for a sequence (250 ms gap, pauses as documented)."""
    total = 0.0
    for char in dtmf:
        if char != "p":  # a prompt wait is bounded by prompt_timeout, counted by the caller
            total += 0.5 if char == "w" else 1.0 if char == "W" else 0.35
    return total


_DTMF_PHASES = frozenset({"prompt", "sent"})


def parse_dtmf_event(fields: dict[str, str]) -> tuple[int, str, int] | None:
    """(segment, phase, digits) of a join-dialplan step report, or None for any other or a
    malformed UserEvent (it is outside input: anything else on the PBX may raise UserEvents)."""
    if fields.get("UserEvent") != "ConflinkDtmf":
        return None
    step, phase, digits = fields.get("Step", ""), fields.get("Phase", ""), fields.get("Digits", "") or "0"
    if phase not in _DTMF_PHASES or not step.isdigit() or not digits.isdigit() or len(step) > 3 or len(digits) > 3:
        return None
    segment = int(step)
    return (segment, phase, int(digits)) if 1 <= segment <= 64 else None


# ------------------------------------------------------------------------- machine


@dataclass(slots=True)
class LinkMachine:
    link: LinkConfig
    internals: set[str] = field(default_factory=set)
    call: Call | None = None
    timers: dict[str, float] = field(default_factory=dict)  # kind -> due time
    attempts: int = 0
    armed: bool = False
    stop: Stop | None = None
    last_error: str = ""
    # No dialling while AMI is down; the resync after reconnect decides what is needed.
    ami_up: bool = True
    state: str = "idle"
    state_since: float = 0.0
    attempt_log: deque[AttemptRecord] = field(default_factory=lambda: deque(maxlen=ATTEMPT_LOG_SIZE))
    # Long calls the far end ended with normal clearing in this busy period (meeting ended).
    meeting_ends: int = 0
    # After a dead-air hang-up, far_end stays "silent" until the next dial (else it would
    # show for the milliseconds the hang-up takes).
    far_end_after: str = ""
    # The administrator muted the external party: holds for the busy period, so a redialled
    # call joins muted too; the room emptying clears it.
    muted: bool = False
    # Room keys typed so far per internal participant: (digits, time of the last one).
    _keys: dict[str, tuple[str, float]] = field(default_factory=dict)
    # Cost limits, per local day (`local` answers the calendar questions in the PBX's zone):
    # connected time of today's finished calls, and the limit that stopped automatic dialling
    # for the rest of the day.
    local: LocalTime = field(default_factory=SystemLocalTime)
    usage_day: int | None = None
    used_seconds: float = 0.0
    limited: Stop | None = None
    # Schedule: inside one of the link's windows now (always, without a schedule).
    window_open: bool = True
    # Asterisk reports talking on our calls (func_talkdetect loaded, or not known to be
    # missing): without it a silent far end and a talking one look alike, so no dead-air rule.
    talk_detect: bool = True
    _seq: int = 0
    _actions: list[Action] = field(default_factory=list)

    # ---------------------------------------------------------------- public inputs

    def internal_joined(self, uid: str, now: float) -> list[Action]:
        if uid not in self.internals:
            self.internals.add(uid)
            if len(self.internals) == 1:
                self._note(f"first internal participant joined ({uid})")
        return self._step(now)

    def internal_left(self, uid: str, now: float) -> list[Action]:
        self._keys.pop(uid, None)
        if uid in self.internals:
            self.internals.discard(uid)
            if not self.internals:
                self._note(f"last internal participant left ({uid})")
        return self._step(now)

    def external_answered(self, call_id: str, now: float) -> list[Action]:
        call = self._own(call_id)
        if call is not None and call.answered_at is None:
            call.answered_at = now
            self._note(f"external call {call_id} answered, sending DTMF then joining")
            if self.link.announce and not call.test and self.internals:
                self._emit(Announce(self.link.id, self.link.room, "connected", interrupt=True))
        return self._step(now)

    def external_joined(self, call_id: str, channel: str | None, now: float) -> list[Action]:
        self._on_joined(call_id, channel, now)
        return self._step(now)

    def _on_joined(self, call_id: str, channel: str | None, now: float) -> None:
        call = self.call
        if call is None:
            # Not ours in memory (e.g. after a restart): adopt it rather than dial a second one.
            self.call = Call(call_id=call_id, started=now, channel=channel, joined_at=now)
            self._note(f"adopted external call {call_id} found in the room")
            return
        if call.call_id != call_id:
            if call.joined:
                self._note(f"second external call {call_id} in the room: hanging it up")
                self._emit(Hangup(self.link.id, call_id, channel))
                return
            # Ours in the room beats ours still dialling: keep the one the far end is in.
            self._note(f"external call {call_id} is already in the room: dropping {call.call_id}")
            self._emit(Hangup(self.link.id, call.call_id, call.channel))
            self._cancel(JOIN_DEADLINE)
            self.call = Call(call_id=call_id, started=now, channel=channel, joined_at=now, answered_at=now)
            self._keep_muted()
            return
        if channel:
            call.channel = channel
        if call.joined_at is None:
            call.joined_at = now
            call.answered_at = call.answered_at or now
            self._cancel(JOIN_DEADLINE)
            record = self._current_record()
            if record is not None:
                record.result = "connected"
            self.last_error = ""
            call.prompt_segment = None
            self._cancel(PROMPT)
            self._note(f"external call {call_id} joined the room")
            self._watch_far_end(call, now)
            self._keep_muted()
            call.count_from = now
            call.over_budget = self.link.daily_minutes > 0 and self._budget_left(now) <= 0

    def internal_digit(self, uid: str, digit: str, now: float) -> list[Action]:
        """An internal participant pressed `digit` (a DTMFEnd received on its channel).

        When the participant's last digits, each within ROOM_KEYS_GAP_SECONDS of the one
        before, spell the link's `room_keys`, the external call sends them to the far end."""
        keys = self.link.room_keys
        if not keys or uid not in self.internals or len(digit) != 1:
            return []
        typed, last = self._keys.get(uid, ("", now))
        if now - last > ROOM_KEYS_GAP_SECONDS:
            typed = ""
        typed = (typed + digit)[-len(keys):]
        if typed != keys:
            self._keys[uid] = (typed, now)
            return []
        self._keys.pop(uid, None)
        call = self.call
        if call is None or not call.joined or not call.channel or call.hangup_reason is not None:
            self._note(f"room keys {keys} pressed by {uid}, but no external call is in the room")
        else:
            self._note(f"room keys {keys} pressed by {uid}: sending them to the far end")
            self._emit(SendDigits(self.link.id, call.call_id, call.channel, keys))
        return self._take()

    def manual_dtmf(self, digits: str, now: float) -> tuple[bool, str, list[Action]]:
        """The administrator sends `digits` to the far end on the live call."""
        if (error := check_send_digits(digits)) is not None:
            return False, error, []
        call = self._live_call()
        if call is None:
            return False, "no live external call in the room", []
        self._note(f"sending {digits} to the far end (administrator)")
        self._emit(SendDigits(self.link.id, call.call_id, call.channel or "", digits))
        return True, f"sending {len(digits)} digit(s)", self._take()

    def manual_mute(self, muted: bool, now: float) -> tuple[bool, str, list[Action]]:
        """The administrator mutes or unmutes the external party (for this busy period)."""
        call = self._live_call()
        if call is None:
            return False, "no live external call in the room", []
        self.muted = muted
        word = "muting" if muted else "unmuting"
        self._note(f"{word} the external party (administrator)")
        self._emit(MuteExternal(self.link.id, self.link.room, call.call_id, call.channel or "", muted))
        return True, word, self._take()

    def external_mute_seen(self, call_id: str, muted: bool) -> None:
        """ConfBridge reports the external party's mute state (ConfbridgeMute/Unmute event)."""
        call = self._own(call_id)
        if call is not None:
            call.muted = muted

    def _live_call(self) -> Call | None:
        call = self.call
        if call is None or not call.joined or not call.channel or call.hangup_reason is not None:
            return None
        return call

    def _keep_muted(self) -> None:
        call = self._live_call()
        if self.muted and call is not None and not call.muted:
            self._note(f"external call {call.call_id} joins muted (muted by the administrator)")
            self._emit(MuteExternal(self.link.id, self.link.room, call.call_id, call.channel or "", True))

    def external_channel(self, call_id: str, channel: str) -> None:
        """Learn the channel name of a call still dialling (from Newchannel/DialBegin)."""
        if self.call is not None and self.call.call_id == call_id and not self.call.channel:
            self.call.channel = channel

    # ---------------------------------------------------------------- far end

    def dtmf_event(self, call_id: str, segment: int, phase: str, digits: int, now: float) -> list[Action]:
        """A step report of the join dialplan (UserEvent ConflinkDtmf): `prompt` = a `p` step
        begins and waits for our release; `sent` = its digits went out."""
        call = self._own(call_id)
        if call is None:
            return []
        if call.joined:
            # The last step's report may come after the ConfbridgeJoin (Asterisk publishes
            # them on different topics): still log it; nothing else changes.
            if phase == "sent":
                self._dtmf_log(call, now, "sent", f"{digits} digit(s)")
            return self._take()
        if call.answered_at is None:
            call.answered_at = now
        steps, offset = dtmf_plan(self.link.dtmf)
        step = max(1, min(segment - offset, steps)) if steps else 0
        call.dtmf_step = step
        if phase == "prompt":
            call.prompt_segment = segment
            # `p` waits for new speech; a prompt already playing as the step begins is new.
            call.prompt_heard = call.talking
            self._start(PROMPT, self.link.prompt_timeout, now)
            heard = " (prompt already playing)" if call.talking else ""
            self._dtmf_log(call, now, "waiting", f"for the far end's prompt to end{heard}")
            if call.talking:
                self._dtmf_log(call, now, "prompt_heard", "")
        elif phase == "sent":
            if call.prompt_segment == segment:  # the dialplan went on by itself (worker was late)
                call.prompt_segment = None
                self._cancel(PROMPT)
            self._dtmf_log(call, now, "sent", f"{digits} digit(s)")
        return self._step(now)

    def far_end_talking(self, call_id: str, talking: bool, now: float) -> list[Action]:
        """TALK_DETECT on our channel: the far end started sound, or has been silent for
        prompt_silence (ChannelTalkingStop comes that long after the sound ended)."""
        call = self._own(call_id)
        if call is None or call.talking == talking:
            return []
        call.talking = talking
        if talking:
            call.sound_since, call.quiet_since = now, None
            self._cancel(DEAD_AIR)
            if call.far_silent:
                call.far_silent = False
                self._note("far end: sound again")
            if call.prompt_segment is not None and not call.prompt_heard:
                call.prompt_heard = True
                self._dtmf_log(call, now, "prompt_heard", "")
        else:
            call.sound_since, call.quiet_since = None, now - self.link.prompt_silence
            self._cancel(FAR_WAITING)
            if call.far_waiting:
                call.far_waiting = False
                self._note("far end: a pause in the sound; no longer held")
            if call.prompt_segment is not None and call.prompt_heard:
                self._release(call, now, "silence", f"{self.link.prompt_silence:g} s of silence after the prompt")
        self._watch_far_end(call, now)
        return self._step(now)

    def _release(self, call: Call, now: float, event: str, detail: str) -> None:
        segment = call.prompt_segment
        assert segment is not None
        call.prompt_segment = None
        self._cancel(PROMPT)
        self._dtmf_log(call, now, event, detail)
        self._emit(SetVar(self.link.id, call.call_id, call.channel, GO_VARIABLE, str(segment)))

    def _watch_far_end(self, call: Call, now: float) -> None:
        """In the room: continuous sound → "waiting" after WAITING_SECONDS; silence → dead air."""
        if not call.joined or call.hangup_reason is not None:
            return
        if call.talking:
            if FAR_WAITING not in self.timers and not call.far_waiting:
                since = call.sound_since if call.sound_since is not None else now
                self._start(FAR_WAITING, max(0.0, since + WAITING_SECONDS - now), now)
        elif self.link.dead_air > 0 and self.talk_detect and DEAD_AIR not in self.timers and not call.far_silent:
            since = call.quiet_since if call.quiet_since is not None else call.joined_at or now
            self._start(DEAD_AIR, max(0.0, since + self.link.dead_air - now), now)

    def _dtmf_log(self, call: Call, now: float, event: str, detail: str) -> None:
        steps, _ = dtmf_plan(self.link.dtmf)
        record = self._record_for(call.call_id)
        if record is not None and len(record.dtmf) < DTMF_STEP_LOG_SIZE:
            record.dtmf.append({"time": now, "step": call.dtmf_step, "steps": steps, "event": event, "detail": detail})
        text = {
            "waiting": "waiting", "prompt_heard": "prompt heard", "silence": "prompt over",
            "timeout": "prompt timeout", "sent": "sent",
        }[event]
        self._note(f"DTMF step {call.dtmf_step}/{steps}: {text}" + (f" ({detail})" if detail else ""))

    def far_end(self) -> str:
        """The contract's far-end state ("", ringing, sending_dtmf, waiting, in_meeting, silent)."""
        call = self.call
        if call is None:
            return self.far_end_after if self.internals and RETRY in self.timers else ""
        if not call.joined:
            return "ringing" if call.answered_at is None else "sending_dtmf"
        if call.far_silent:
            return "silent"
        return "waiting" if call.far_waiting else "in_meeting"

    def originate_unconfirmed(self, call_id: str) -> None:
        call = self._own(call_id)
        if call is not None and not call.joined:
            call.unconfirmed = True

    def originate_failed(self, call_id: str, failure: Failure, now: float) -> list[Action]:
        call = self._own(call_id)
        if call is None:
            return []
        if call.pending_failure is None:
            call.pending_failure = failure
            self._start(FAILURE_GRACE, FAILURE_GRACE_SECONDS, now)
        return self._take()

    def external_gone(self, call_id: str, failure: Failure | None, now: float) -> list[Action]:
        """The channel of `call_id` no longer exists (Hangup event, or absent from a snapshot)."""
        if self._own(call_id) is None:
            return self._late_cause(call_id, failure, now)
        self._on_gone(call_id, failure, now)
        return self._step(now)

    def _on_gone(self, call_id: str, failure: Failure | None, now: float) -> None:
        call = self._own(call_id)
        if call is None:
            return
        self._roll_day(now)
        if call.joined_at is not None:
            self.used_seconds += max(0.0, now - (call.count_from or call.joined_at))
            self._usage_changed()
        self.call = None
        for kind in (JOIN_DEADLINE, HANGUP_DEADLINE, TEST_CALL, FAILURE_GRACE, LINGER, PROMPT, FAR_WAITING, DEAD_AIR,
                     COST_LIMIT, WINDOW_END):
            self._cancel(kind)
        record = self._record_for(call_id)
        duration = now - call.joined_at if call.joined_at is not None else None
        # Our own hang-up (join deadline) ends with cause 16 like any normal clearing: the
        # reason we recorded before it is the real one.
        if failure is None or (failure.category in ("failed", "normal") and call.pending_failure is not None):
            failure = call.pending_failure or failure  # keep the more specific reason
        if call.hangup_reason is not None and call.far_silent:
            # Our dead-air hang-up: a failed attempt, redialled with the usual back-off and budget.
            self._finish(record, "dead air", call.hangup_reason, duration)
            self.last_error = call.hangup_reason
            self.far_end_after = "silent"
            self._schedule_retry(now)
        elif call.hangup_reason is not None:
            self._finish(record, "hung up", call.hangup_reason, duration)
            self._note(f"external call {call_id} ended ({call.hangup_reason})")
        elif call.test:
            self._finish(record, "test ended", failure.text if failure else "", duration)
            self._note(f"test call {call_id} ended")
        elif call.joined and self._meeting_ended(failure, duration):
            self.meeting_ends += 1
            self._finish(record, "meeting ended", failure.text if failure else "far end hung up", duration)
            self.attempts = 0
            if self.internals and self.meeting_ends >= MEETING_ENDS_TO_STOP:
                self.last_error = "meeting ended: the far end ended the call again"
                self._stop(StopKind.MEETING_ENDED,
                           f"meeting_ended: the far end ended a long call {self.meeting_ends} times; "
                           "dials again when the room refills")
            elif self.internals:
                self.last_error = "meeting ended by the far end"
                self._start(RETRY, float(self.link.end_cooldown), now)
                self._note(f"the far end ended the meeting after {duration:.0f} s: "
                           f"dialling again in {self.link.end_cooldown} s (end_cooldown)")
        elif call.joined:
            cause = failure.text if failure is not None and failure.category not in ("failed", "normal") else ""
            self._finish(record, "dropped", cause or "far end hung up", duration)
            if duration is not None and duration >= STABLE_CALL_SECONDS:
                self.attempts = 0
            if self.internals and not self.link.retry.redial_on_drop:
                self._stop(StopKind.NO_REDIAL, "external side hung up; redial_on_drop is off")
            else:
                self.last_error = "external side hung up"
                self._note(f"external call {call_id} dropped by the far end")
                self._schedule_retry(now)
        else:
            failure = failure or Failure("failed", "call ended before joining the room")
            self._finish(record, "failed", failure.text, None)
            self.last_error = failure.text
            if self.link.announce and self.internals:
                what = {"busy": "busy", "no_answer": "no_answer"}.get(failure.category, "failed")
                self._emit(Announce(self.link.id, self.link.room, "not_found" if failure.permanent else what))
            if failure.permanent:
                self._stop(StopKind.PERMANENT, f"number will not work: {failure.text}")
            else:
                self._note(f"attempt {self.attempts} failed: {failure.text}")
                self._schedule_retry(now)

    @staticmethod
    def _meeting_ended(failure: Failure | None, duration: float | None) -> bool:
        """A long call the far end ended with normal clearing: the host ended the meeting or a
        time limit did; dialling straight back would loop into a closed meeting."""
        # Only a Hangup that says so: a call found gone by a resync has no known cause.
        normal = failure is not None and failure.category == "normal"
        return normal and duration is not None and duration >= MEETING_END_SECONDS

    def revised_cause(self, call_id: str, failure: Failure, now: float) -> list[Action]:
        """A truer cause of an attempt that already failed: a routed call's ;2 half (and the
        provider leg behind it) may report after our ;1 ended. The attempt's record and, when it
        is the latest, last_error take it; a permanent one stops the retries as a late Hangup's
        does. Nothing else changes (the back-off already runs)."""
        record = self._record_for(call_id)
        if record is None or record.result != "failed" or self._own(call_id) is not None or (
            record.cause == failure.text
        ):
            return []
        if failure.permanent:
            return self._late_cause(call_id, failure, now)
        record.cause = failure.text
        if self.attempt_log and self.attempt_log[-1] is record and self.stop is None:
            self.last_error = failure.text
        return []

    def _late_cause(self, call_id: str, failure: Failure | None, now: float) -> list[Action]:
        """A Hangup that arrived after the failure grace: a permanent cause still stops retries."""
        record = self._record_for(call_id)
        if (
            failure is None
            or not failure.permanent
            or record is None
            or record.result != "failed"
            or self.call is not None
            or RETRY not in self.timers
        ):
            return []
        record.cause = failure.text
        self.last_error = failure.text
        self._stop(StopKind.PERMANENT, f"number will not work: {failure.text}")
        return self._step(now)

    def timer_fired(self, kind: str, now: float) -> list[Action]:
        if kind not in self.timers:
            return []  # cancelled meanwhile
        del self.timers[kind]
        call = self.call
        if kind == COST_LIMIT and call is not None:
            self._cost_limit_reached(now)
        elif kind == DAY_END:
            self._cancel(COST_LIMIT)  # re-armed by _drive against the new day's budget
        elif kind == WINDOW_END and call is not None:
            self._hangup(now, f"schedule window ended (after the linger of {self.link.linger:g} s)")
        elif kind == ARM:
            self.armed = True
            self._note(f"armed after {self.link.arm_delay:g} s")
        elif kind == LINGER and call is not None:
            self._hangup(now, f"linger of {self.link.linger:g} s over, room empty")
        elif kind == JOIN_DEADLINE and call is not None and not call.joined:
            call.pending_failure = call.pending_failure or Failure(
                "not_joined", "call did not reach the room in time"
            )
            self._hangup(now, None)
        elif kind == HANGUP_DEADLINE and call is not None:
            if call.hangup_tries >= HANGUP_RETRIES:
                self._note(f"no hang-up confirmation for {call.call_id}; checking the room")
                self._emit(VerifyRoom(self.link.id, self.link.room))
                self._send_hangup(now, HANGUP_VERIFY_SECONDS)
            else:
                self._send_hangup(now)
        elif kind == TEST_CALL and call is not None:
            self._hangup(now, "test call time over")
        elif kind == FAILURE_GRACE and call is not None and call.pending_failure is not None:
            self._on_gone(call.call_id, call.pending_failure, now)
        elif kind == PROMPT and call is not None and call.prompt_segment is not None:
            heard = "prompt heard, no silence" if call.prompt_heard else "no prompt heard"
            self._release(call, now, "timeout", f"{self.link.prompt_timeout:g} s, {heard}; sending anyway")
        elif kind == FAR_WAITING and call is not None and call.talking:
            call.far_waiting = True
            self._note(f"far end: continuous sound for {WAITING_SECONDS:g} s without a pause: "
                       "held (lobby or waiting room)")
        elif kind == DEAD_AIR and call is not None and call.joined and not call.talking:
            call.far_silent = True
            self._hangup(now, f"dead air: no sound from the far end for {self.link.dead_air} s")
        return self._step(now)

    def resync(
        self, internals: set[str], calls: list[SnapshotCall], now: float, channels_listed_at: float | None = None
    ) -> list[Action]:
        """Replace what we believe with a snapshot of the room and of our channels.

        `channels_listed_at` is when the channel list was asked for (None: no channel list,
        so a call missing from `calls` cannot be declared gone)."""
        self.internals = set(internals)
        self.ami_up = True
        ours = {c.call_id: c for c in calls}
        call = self.call
        if call is not None and call.call_id not in ours and channels_listed_at is not None:
            listed_after_start = call.started < channels_listed_at - CHANNEL_LIST_LAG_SECONDS
            if call.joined or call.unconfirmed or listed_after_start:
                self._note(f"external call {call.call_id} is gone (found by resync)")
                self._on_gone(call.call_id, call.pending_failure, now)
        call = self.call
        extra = [c for c in calls if call is None or c.call_id != call.call_id]
        if call is None and extra:
            best = max(extra, key=lambda c: c.joined)
            self.call = Call(
                call_id=best.call_id,
                started=now,
                channel=best.channel,
                joined_at=now if best.joined else None,
                answered_at=now if best.joined else None,
            )
            self._note(f"adopted external call {best.call_id} ({'in room' if best.joined else 'dialling'})")
            if not best.joined:
                self._start(JOIN_DEADLINE, self._join_deadline(), now)
            extra = [c for c in extra if c.call_id != best.call_id]
        elif call is not None:
            seen = ours.get(call.call_id)
            if seen is not None:
                if seen.channel:
                    call.channel = seen.channel
                if seen.joined and call.joined_at is None:
                    self._on_joined(call.call_id, seen.channel, now)
        for duplicate in extra:
            self._note(f"duplicate external call {duplicate.call_id}: hanging it up")
            self._emit(Hangup(self.link.id, duplicate.call_id, duplicate.channel))
        call = self.call
        if call is not None and not self.internals and LINGER not in self.timers and not call.test:
            # Found alone with no linger running: nobody to keep it for.
            self._hangup(now, "external call alone in the room")
        return self._step(now)

    def set_ami(self, up: bool, now: float) -> list[Action]:
        self.ami_up = up
        return self._step(now)

    def set_talk_detect(self, available: bool, now: float) -> list[Action]:
        """Whether Asterisk can tell us when the far end talks (see `talk_detect`)."""
        if available != self.talk_detect:
            self.talk_detect = available
            if not available:
                self._cancel(DEAD_AIR)
                if self.link.dead_air > 0:
                    self._note("dead_air is off: Asterisk has no func_talkdetect to tell silence from talk")
            elif self.call is not None:
                self._watch_far_end(self.call, now)
        return self._step(now)

    def abort_dial(self, call_id: str, now: float, reason: str) -> list[Action]:
        """The Originate could not be sent at all: not an attempt, just wait for AMI."""
        call = self._own(call_id)
        if call is None:
            return []
        self.call = None
        self.attempts = max(0, self.attempts - 1)
        self._cancel(JOIN_DEADLINE)
        record = self._record_for(call_id)
        if record is not None:
            self.attempt_log.remove(record)
        self.ami_up = False
        self._note(f"could not dial: {reason}")
        return self._step(now)

    def update_config(self, link: LinkConfig, now: float) -> list[Action]:
        old = self.link
        self.link = link
        if old.enabled != link.enabled:
            self._note("link enabled" if link.enabled else "link disabled")
        if self.stop is not None and stop_cleared_by(self.stop.kind, old, link):
            self._note(f"settings changed: lifting the stop ({self.stop.text})")
            self.stop = None
        if self.limited is not None and stop_cleared_by(self.limited.kind, old, link):
            self.limited = None
            self._usage_changed()
        if (old.max_call_minutes, old.daily_minutes) != (link.max_call_minutes, link.daily_minutes):
            self._cancel(COST_LIMIT)  # re-armed by _drive with the new limits
        return self._step(now)

    def remove(self, now: float) -> list[Action]:
        """The link left the config: end its call and its timers."""
        for kind in list(self.timers):
            self._cancel(kind)
        if self.call is not None:
            self._emit(Hangup(self.link.id, self.call.call_id, self.call.channel))
            self._note("link removed from the config; hanging up its call")
        return self._take()

    def manual_dial(
        self, now: float, *, force: bool = False, seconds: float | None = None
    ) -> tuple[bool, str, list[Action]]:
        if not self.link.enabled:
            return False, "link is disabled", []
        if seconds is not None and (error := check_test_call_seconds(seconds)) is not None:
            return False, error, []
        if self.call is not None:
            return False, f"a call is already {'in the room' if self.call.joined else 'in progress'}", []
        if not self.internals and not force:
            return False, "room is empty; use force for a test call", []
        self.stop = None
        self.attempts = 0
        self._cancel(RETRY)
        self._cancel(ARM)
        self.armed = True
        test = not self.internals
        self._originate(now, test=test)
        message = "dialling now"
        if test:
            duration = seconds if seconds is not None else TEST_CALL_SECONDS_DEFAULT
            self._start(TEST_CALL, duration, now)
            message = f"test call started for {duration:g} s"
        return True, message, self._step(now)

    def manual_hangup(self, now: float) -> tuple[bool, str, list[Action]]:
        if self.call is None:
            return False, "no external call", []
        self._hangup(now, "hung up by the administrator")
        if self.internals:
            self._stop(StopKind.HELD, "hung up by the administrator; dials again when the room refills")
        return True, "hanging up", self._step(now)

    def shut_down(self, now: float) -> list[Action]:
        """Final stop of the worker: end the call, dial nothing more."""
        self._stop(StopKind.STOPPING, "worker stopping")
        for kind in (ARM, RETRY, LINGER, TEST_CALL):
            self._cancel(kind)
        if self.call is not None:
            self._hangup(now, "worker stopping")
        return self._step(now)

    # ---------------------------------------------------------------- status

    def status(self, now: float) -> dict[str, object]:
        call = self.call
        retry_due = self.timers.get(RETRY)
        return {
            "id": self.link.id,
            "room": self.link.room,
            "enabled": self.link.enabled,
            "state": self.state,
            "state_since": self.state_since,
            "internal_participants": len(self.internals),
            "external_call_id": call.call_id if call else None,
            "external_channel": call.channel if call else None,
            "external_joined": bool(call and call.joined),
            "external_since": (call.joined_at or call.started) if call else None,
            "external_muted": bool(call and call.muted),
            "used_today": round(self.used_today(now)),
            "in_schedule": self.window_open,
            "daily_minutes": self.link.daily_minutes,
            "max_call_minutes": self.link.max_call_minutes,
            "muted": self.muted,
            "attempts": self.attempts,
            "max_attempts": self._max_attempts(),
            "last_error": self.last_error,
            "permanent_failure": self.stop is not None and self.stop.kind is StopKind.PERMANENT,
            "stopped_reason": self.stop.text if self.stop else "",
            "stop": self.stop.kind.value if self.stop else "",
            "next_attempt_in": None if retry_due is None else round(max(0.0, retry_due - now), 3),
            "far_end": self.far_end(),
            "dtmf_step": call.dtmf_step if call is not None and not call.joined and call.answered_at else None,
            "dtmf_steps": dtmf_plan(self.link.dtmf)[0] if call is not None and not call.joined else None,
            "attempt_log": [r.as_dict() for r in self.attempt_log],
        }

    # ---------------------------------------------------------------- core rule

    def _drive(self, now: float) -> None:
        self._roll_day(now)
        self._watch_schedule(now)
        link = self.link
        call = self.call
        if not link.enabled:
            for kind in (ARM, RETRY, LINGER):
                self._cancel(kind)
            if call is not None and call.hangup_reason is None:
                self._hangup(now, "link disabled")
        elif self.internals:
            self._cancel(LINGER)
            if call is not None and call.test:
                call.test = False  # someone came in: the test call becomes the real one
                self._cancel(TEST_CALL)
            if not self.armed and ARM not in self.timers:
                if link.arm_delay > 0 and call is None:
                    self._start(ARM, link.arm_delay, now)
                else:
                    self.armed = True
            if self.stop is None and call is None:
                self._check_cost_stop(now)
            if self.stop is None and call is None and not self.window_open:
                self._stop(StopKind.OFF_SCHEDULE, "off_schedule: outside the link's schedule; "
                           "dials when its next window opens")
            if (
                self.armed
                and call is None
                and RETRY not in self.timers
                and self.stop is None
                and self.ami_up
            ):
                self._originate(now)
        else:
            # Room empty: the busy period is over, so is its retry budget.
            for kind in (ARM, RETRY):
                self._cancel(kind)
            self.armed = False
            self.attempts = 0
            if self.stop is not None and self.stop.kind in _BUSY_PERIOD_STOPS:
                self.stop = None
            self.meeting_ends = 0
            self.muted = False
            self._keys.clear()
            if call is not None and call.hangup_reason is None and not call.test:
                if link.linger > 0:
                    if LINGER not in self.timers:
                        self._start(LINGER, link.linger, now)
                else:
                    self._hangup(now, "room empty")
        self._watch_cost_limits(now)
        self._set_state(now)

    def _step(self, now: float) -> list[Action]:
        self._drive(now)
        return self._take()

    # ---------------------------------------------------------------- schedule

    def _watch_schedule(self, now: float) -> None:
        """Open or close the link's window; keep the boundary timer; end a call at a window's end."""
        link = self.link
        if not link.schedule:
            for kind in (SCHEDULE, WINDOW_END):
                self._cancel(kind)
            opened = True
        else:
            opened = is_open(link.schedule, self.local, now)
            if SCHEDULE not in self.timers:
                self._start(SCHEDULE, next_change(link.schedule, self.local, now), now)
        if opened == self.window_open:
            return
        self.window_open = opened
        call = self.call
        if opened:
            self._cancel(WINDOW_END)
            if self.stop is not None and self.stop.kind is StopKind.OFF_SCHEDULE:
                self.stop = None
            self._note("schedule window opened")
            return
        self._note("schedule window closed")
        if call is None or call.test or call.hangup_reason is not None:
            return
        if link.schedule_end == "keep":
            self._note("the call stays until the room empties (schedule_end: keep)")
        elif link.linger > 0:
            self._start(WINDOW_END, link.linger, now)
        else:
            self._hangup(now, "schedule window ended")

    # ---------------------------------------------------------------- cost limits

    def restore_usage(self, day: int, used_seconds: float, limited: str, limited_text: str) -> None:
        """Today's usage as persisted by an earlier worker (ignored when it is another day's)."""
        self.usage_day = day
        self.used_seconds = max(0.0, used_seconds)
        kind = StopKind(limited) if limited in {k.value for k in _DAY_STOPS} else None
        self.limited = Stop(kind, limited_text) if kind is not None else None

    def used_today(self, now: float) -> float:
        """Connected seconds today: finished calls plus the live one."""
        call = self.call
        live = 0.0
        if call is not None and call.joined_at is not None:
            live = max(0.0, now - (call.count_from or call.joined_at))
        return self.used_seconds + live

    def _budget_left(self, now: float) -> float:
        return self.link.daily_minutes * 60.0 - self.used_today(now)

    def _roll_day(self, now: float) -> None:
        day = self.local.day(now)
        if self.usage_day == day:
            return
        fresh = self.usage_day is not None and (self.used_seconds > 0 or self.limited is not None)
        self.usage_day = day
        self.used_seconds = 0.0
        call = self.call
        if call is not None and call.joined_at is not None:
            call.count_from = max(call.count_from or call.joined_at, self.local.day_start(now))
            call.over_budget = False
        if self.limited is not None:
            self.limited = None
            if self.stop is not None and self.stop.kind in _DAY_STOPS:
                self.stop = None
        if fresh:
            self._note("a new day: the cost limits start afresh")
            self._usage_changed()

    def _check_cost_stop(self, now: float) -> None:
        """No automatic dial once today's limit stopped the link or the budget is spent."""
        if self.limited is None and self.link.daily_minutes > 0 and self._budget_left(now) <= 0:
            self.limited = Stop(StopKind.DAILY_BUDGET,
                                f"daily_budget: the {self.link.daily_minutes} min of calls for today are used up; "
                                "no automatic dial until tomorrow")
            self._usage_changed()
        if self.limited is not None:
            self._stop(self.limited.kind, self.limited.text)

    def _watch_cost_limits(self, now: float) -> None:
        """Keep the midnight timer while a limit applies and the live call's limit timer armed."""
        link = self.link
        limits = link.max_call_minutes > 0 or link.daily_minutes > 0
        if limits or self.limited is not None:
            if DAY_END not in self.timers:
                self._start(DAY_END, max(1.0, self.local.next_day_start(now) - now), now)
        else:
            self._cancel(DAY_END)
        call = self.call
        if call is None or call.joined_at is None or call.hangup_reason is not None or COST_LIMIT in self.timers:
            return
        left: list[float] = []
        if link.max_call_minutes > 0:
            left.append(link.max_call_minutes * 60.0 - (now - call.joined_at))
        if link.daily_minutes > 0 and not call.over_budget:
            left.append(self._budget_left(now))
        if left:
            self._start(COST_LIMIT, max(0.0, min(left)), now)

    def _cost_limit_reached(self, now: float) -> None:
        call = self.call
        link = self.link
        assert call is not None
        self._roll_day(now)
        if call.joined_at is None or call.hangup_reason is not None:
            return
        if link.max_call_minutes > 0 and now - call.joined_at >= link.max_call_minutes * 60.0 - 0.5:
            stop = Stop(StopKind.CALL_LIMIT,
                        f"call_limit: the call reached the maximum length of {link.max_call_minutes} min; "
                        "no automatic dial until tomorrow")
        elif link.daily_minutes > 0 and not call.over_budget and self._budget_left(now) <= 0.5:
            stop = Stop(StopKind.DAILY_BUDGET,
                        f"daily_budget: the {link.daily_minutes} min of calls for today are used up; "
                        "no automatic dial until tomorrow")
        else:
            return  # not yet (e.g. the day changed meanwhile): _drive re-arms the timer
        self.limited = stop
        self.last_error = stop.text
        self._hangup(now, stop.text)
        self._stop(stop.kind, stop.text)
        self._usage_changed()

    def _usage_changed(self) -> None:
        if self.usage_day is None:
            return
        limited = self.limited
        self._emit(UsageChanged(self.link.id, self.usage_day, round(self.used_seconds, 3),
                                limited.kind.value if limited else "", limited.text if limited else ""))

    # ---------------------------------------------------------------- helpers

    def _max_attempts(self) -> int:
        # 0 and 1 both mean one attempt and no retries.
        return max(1, self.link.retry.max_attempts)

    def _join_deadline(self) -> float:
        link = self.link
        prompts = link.dtmf.count("p") * link.prompt_timeout
        return link.ring_timeout + link.dtmf_delay + dtmf_seconds(link.dtmf) + prompts + JOIN_MARGIN_SECONDS

    def _originate(self, now: float, *, test: bool = False) -> None:
        self._seq = next(_CALL_SEQ)
        self.attempts += 1
        call_id = f"conflink-{self.link.id}-{int(now * 1000):x}{self._seq:x}"
        self.call = Call(call_id=call_id, started=now, test=test)
        self.attempt_log.append(AttemptRecord(time=now, call_id=call_id))
        self._emit(Originate(self.link.id, call_id, self.link))
        if self.link.announce and not test and self.attempts == 1:
            # Once per busy period, beside the dial (never before it).
            self._emit(Announce(self.link.id, self.link.room, "connecting"))
        self._start(JOIN_DEADLINE, self._join_deadline(), now)
        kind = "test call" if test else f"attempt {self.attempts} of {self._max_attempts()}"
        via = "the PBX's outgoing routes" if self.link.dial_via == "routes" else self.link.endpoint
        self._note(f"dialling {self.link.number} via {via} ({kind}, {call_id})")

    def _schedule_retry(self, now: float) -> None:
        if not self.internals:
            return
        if self.attempts >= self._max_attempts():
            self._stop(StopKind.GAVE_UP, f"gave up after {self.attempts} attempt(s): {self.last_error}")
            return
        delay = self.link.retry.delay_before(self.attempts + 1)
        self._start(RETRY, delay, now)
        self._note(f"next attempt in {delay:g} s")

    def _stop(self, kind: StopKind, reason: str) -> None:
        self.stop = Stop(kind, reason)
        self._cancel(RETRY)
        self._note(reason)

    def _hangup(self, now: float, reason: str | None) -> None:
        call = self.call
        if call is None:
            return
        if reason is not None and call.hangup_reason is None:
            call.hangup_reason = reason
        self._cancel(LINGER)
        self._note(f"hanging up {call.call_id}: {reason or 'attempt abandoned'}")
        self._send_hangup(now)

    def _send_hangup(self, now: float, deadline: float = HANGUP_DEADLINE_SECONDS) -> None:
        call = self.call
        assert call is not None
        call.hangup_tries += 1
        self._emit(Hangup(self.link.id, call.call_id, call.channel))
        self._start(HANGUP_DEADLINE, deadline, now)

    def _own(self, call_id: str) -> Call | None:
        return self.call if self.call is not None and self.call.call_id == call_id else None

    def _current_record(self) -> AttemptRecord | None:
        return self._record_for(self.call.call_id) if self.call else None

    def _record_for(self, call_id: str) -> AttemptRecord | None:
        for record in reversed(self.attempt_log):
            if record.call_id == call_id:
                return record
        return None

    @staticmethod
    def _finish(record: AttemptRecord | None, result: str, cause: str, duration: float | None) -> None:
        if record is not None:
            record.result = result
            record.cause = cause
            record.duration = duration

    def _start(self, kind: str, delay: float, now: float) -> None:
        self.timers[kind] = now + delay
        self._emit(StartTimer(self.link.id, kind, delay))

    def _cancel(self, kind: str) -> None:
        if self.timers.pop(kind, None) is not None:
            self._emit(CancelTimer(self.link.id, kind))

    def _emit(self, action: Action) -> None:
        self._actions.append(action)

    def _take(self) -> list[Action]:
        actions, self._actions = self._actions, []
        return actions

    def _note(self, reason: str) -> None:
        self._emit(Decision(self.link.id, self.link.room, reason))

    def _set_state(self, now: float) -> None:
        state = self._derive_state()
        if state != self.state:
            self.state = state
            self.state_since = now

    def _derive_state(self) -> str:
        call = self.call
        if call is not None:
            if call.hangup_reason is not None:
                return "hanging_up"
            if LINGER in self.timers:
                return "lingering"
            if call.test:
                return "test_call"
            return "connected" if call.joined else "dialing"
        if not self.link.enabled:
            return "disabled"
        if not self.internals:
            return "idle"
        if self.stop is not None:
            if self.stop.kind is StopKind.OFF_SCHEDULE:
                return "off_schedule"
            return "held" if self.stop.kind is StopKind.HELD else "failed"
        if RETRY in self.timers:
            return "backoff"
        if ARM in self.timers:
            return "arming"
        return "idle"

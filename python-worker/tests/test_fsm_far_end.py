"""Far-end rules of the state machine: `p` steps, far-end state, dead air, meeting ended."""

from __future__ import annotations

from test_fsm import Sim

from conflink.causes import Failure, classify
from conflink.config import ConfigError, parse_config
from conflink.fsm import (
    DEAD_AIR,
    FAR_WAITING,
    MEETING_END_SECONDS,
    PROMPT,
    RETRY,
    WAITING_SECONDS,
    Decision,
    SetVar,
    StopKind,
    dtmf_plan,
    parse_dtmf_event,
    stop_cleared_by,
)

# What the engine classifies when the far end sends BYE on an answered call (DialEnd ANSWER).
NORMAL = classify(cause="16", dial_status="ANSWER")


def test_an_answered_call_cleared_with_cause_16_is_a_normal_end() -> None:
    assert NORMAL.category == "normal"
    assert classify(cause="16").category == "normal"
CHANNEL = "PJSIP/SIP-TEST-00000001"


class FarSim(Sim):
    """Sim plus what the join dialplan and TALK_DETECT report for the call."""

    def __init__(self, **link: object) -> None:
        super().__init__(**link)
        self.setvars: list[SetVar] = []

    def apply(self, actions: list) -> list:
        self.setvars += [a for a in actions if isinstance(a, SetVar)]
        return super().apply(actions)

    def answer(self) -> None:
        self.apply(self.m.external_answered(self.call_id, self.now))
        self.m.external_channel(self.call_id, CHANNEL)

    def step(self, segment: int, phase: str, digits: int = 0) -> None:
        self.apply(self.m.dtmf_event(self.call_id, segment, phase, digits, self.now))

    def talk(self, on: bool) -> None:
        self.apply(self.m.far_end_talking(self.call_id, on, self.now))

    def joined(self) -> None:
        self.apply(self.m.external_joined(self.call_id, CHANNEL, self.now))

    def events(self) -> list[str]:
        return [str(e["event"]) for e in self.m.attempt_log[-1].dtmf]


def test_dtmf_plan_counts_steps_between_p_tokens() -> None:
    assert dtmf_plan("p123#p#p4321#") == (3, 1)
    assert dtmf_plan("123#") == (1, 0)
    assert dtmf_plan("12#p34#") == (2, 0)
    assert dtmf_plan("p123#p") == (2, 1)
    assert dtmf_plan("") == (0, 0)


def test_p_step_released_by_silence_after_new_speech() -> None:
    sim = FarSim(dtmf="p123#p4#")
    sim.join("a")
    sim.answer()
    assert sim.m.far_end() == "sending_dtmf"
    sim.step(2, "prompt")  # the dialplan numbers segments; "" before the first p is segment 1
    assert PROMPT in sim.timers
    assert sim.m.status(sim.now)["dtmf_step"] == 1 and sim.m.status(sim.now)["dtmf_steps"] == 2
    sim.advance(0.5)
    sim.talk(True)
    assert sim.setvars == []  # still speaking
    sim.advance(3.0)
    sim.talk(False)  # TALK_DETECT: prompt_silence of silence after the speech
    assert [(v.name, v.value, v.channel) for v in sim.setvars] == [("CONFLINK_GO", "2", CHANNEL)]
    assert PROMPT not in sim.timers
    sim.step(2, "sent", 4)
    assert sim.events() == ["waiting", "prompt_heard", "silence", "sent"]


def test_p_step_ignores_a_prompt_that_ended_before_the_step() -> None:
    sim = FarSim(dtmf="p1#p2#")
    sim.join("a")
    sim.answer()
    sim.talk(True)
    sim.advance(2)
    sim.talk(False)  # the prompt ended before the step began
    sim.step(2, "prompt")
    assert sim.setvars == []
    sim.advance(1)
    sim.talk(True)
    sim.advance(1)
    sim.talk(False)
    assert [v.value for v in sim.setvars] == ["2"]


def test_a_prompt_already_playing_when_the_step_starts_counts() -> None:
    sim = FarSim(dtmf="p1#p2#")
    sim.join("a")
    sim.answer()
    sim.step(2, "prompt")
    sim.talk(True)
    sim.talk(False)
    sim.step(2, "sent", 2)
    sim.talk(True)  # the far end's next prompt starts while our last digit still plays
    sim.step(3, "prompt")
    assert sim.m.status(sim.now)["dtmf_step"] == 2
    sim.advance(2)
    sim.talk(False)
    assert [v.value for v in sim.setvars] == ["2", "3"]


def test_p_step_times_out_without_dropping_the_call() -> None:
    sim = FarSim(dtmf="p1#", prompt_timeout=7.0)
    sim.join("a")
    sim.answer()
    sim.step(2, "prompt")
    sim.advance(6.9)
    assert sim.setvars == []
    sim.advance(0.2)
    assert [v.value for v in sim.setvars] == ["2"]
    assert sim.events()[-1] == "timeout"
    assert sim.hangups == []


def test_continuous_sound_without_silence_times_out_too() -> None:
    sim = FarSim(dtmf="p1#", prompt_timeout=5.0)
    sim.join("a")
    sim.answer()
    sim.step(2, "prompt")
    sim.talk(True)
    sim.advance(5.0)
    assert [v.value for v in sim.setvars] == ["2"]
    assert "prompt heard, no silence" in str(sim.m.attempt_log[-1].dtmf[-1]["detail"])


def test_far_end_states_from_ringing_to_meeting() -> None:
    sim = FarSim(dtmf="p1#")
    sim.join("a")
    assert sim.m.far_end() == "ringing"
    assert sim.m.status(sim.now)["far_end"] == "ringing"
    sim.answer()
    assert sim.m.far_end() == "sending_dtmf"
    sim.joined()
    assert sim.m.far_end() == "in_meeting"
    assert sim.m.status(sim.now)["dtmf_step"] is None


def test_continuous_sound_in_the_room_is_waiting_until_a_pause() -> None:
    sim = FarSim()
    sim.join("a")
    sim.answer()
    sim.joined()
    sim.talk(True)  # lobby music
    sim.advance(WAITING_SECONDS - 0.1)
    assert sim.m.far_end() == "in_meeting"
    sim.advance(0.2)
    assert sim.m.far_end() == "waiting"
    sim.talk(False)  # admitted: people pause
    assert sim.m.far_end() == "in_meeting"
    assert FAR_WAITING not in sim.timers


def test_music_that_started_before_the_join_counts_from_its_start() -> None:
    sim = FarSim()
    sim.join("a")
    sim.answer()
    sim.talk(True)
    sim.advance(WAITING_SECONDS - 1)
    sim.joined()
    sim.advance(1.1)
    assert sim.m.far_end() == "waiting"


def test_dead_air_hangs_up_and_redials_with_backoff() -> None:
    sim = FarSim(dead_air=10)
    sim.join("a")
    sim.answer()
    sim.joined()
    assert DEAD_AIR in sim.timers
    sim.advance(9.9)
    assert sim.hangups == []
    sim.advance(0.2)
    assert sim.m.far_end() == "silent"
    assert len(sim.hangups) == 1
    sim.gone(NORMAL)  # our hang-up went through
    assert sim.m.attempt_log[-1].result == "dead air"
    assert sim.m.far_end() == "silent"  # until the next dial
    assert "dead air" in sim.m.last_error
    assert RETRY in sim.timers
    sim.advance(sim.timers[RETRY] - sim.now + 0.01)
    assert len(sim.originates) == 2
    assert sim.m.far_end() == "ringing"


def test_dead_air_counts_from_the_last_sound() -> None:
    sim = FarSim(dead_air=10, prompt_silence=1.0)
    sim.join("a")
    sim.answer()
    sim.joined()
    sim.advance(5)
    sim.talk(True)
    assert DEAD_AIR not in sim.timers
    sim.advance(5)
    sim.talk(False)  # the sound ended prompt_silence ago
    sim.advance(8.9)
    assert sim.hangups == []
    sim.advance(0.2)
    assert len(sim.hangups) == 1


def test_dead_air_off_never_hangs_up() -> None:
    sim = FarSim(dead_air=0)
    sim.join("a")
    sim.answer()
    sim.joined()
    sim.advance(3600)
    assert sim.hangups == [] and DEAD_AIR not in sim.timers


def test_without_talk_detection_dead_air_is_off_and_a_running_timer_is_cancelled() -> None:
    """An Asterisk without func_talkdetect never reports talk: dead air would hang up every
    call that is talking, so the rule is off until talk can be seen again."""
    sim = FarSim(dead_air=10)
    sim.join("a")
    sim.answer()
    sim.joined()
    assert DEAD_AIR in sim.timers
    actions = sim.apply(sim.m.set_talk_detect(False, sim.now))
    assert DEAD_AIR not in sim.timers
    assert any(isinstance(a, Decision) and "dead_air is off" in a.reason for a in actions)
    sim.advance(3600)
    assert sim.hangups == []
    sim.apply(sim.m.set_talk_detect(True, sim.now))
    assert DEAD_AIR in sim.timers


def test_dead_air_redials_stop_at_max_attempts() -> None:
    sim = FarSim(dead_air=5)
    for _ in range(5):
        if len(sim.originates) == 0:
            sim.join("a")
        sim.answer()
        sim.joined()
        sim.advance(5.1)
        sim.gone(NORMAL)
        if RETRY in sim.timers:
            sim.advance(sim.timers[RETRY] - sim.now + 0.01)
    assert sim.m.stop is not None and sim.m.stop.kind is StopKind.GAVE_UP


def _long_call_ended(sim: FarSim) -> None:
    sim.answer()
    sim.joined()
    sim.advance(MEETING_END_SECONDS + 1)
    sim.gone(NORMAL)


def test_meeting_ended_waits_end_cooldown_then_stops_the_second_time() -> None:
    sim = FarSim(end_cooldown=120)
    sim.join("a")
    _long_call_ended(sim)
    assert sim.m.attempt_log[-1].result == "meeting ended"
    assert sim.timers[RETRY] - sim.now == 120
    sim.advance(119)
    assert len(sim.originates) == 1
    sim.advance(1.1)
    assert len(sim.originates) == 2
    _long_call_ended(sim)
    assert sim.m.stop is not None and sim.m.stop.kind is StopKind.MEETING_ENDED
    assert sim.m.status(sim.now)["stop"] == "meeting_ended"
    assert "meeting_ended" in sim.m.status(sim.now)["stopped_reason"]
    sim.advance(3600)
    assert len(sim.originates) == 2


def test_meeting_ended_resets_with_the_busy_period() -> None:
    sim = FarSim(end_cooldown=0)
    sim.join("a")
    _long_call_ended(sim)
    sim.advance(0.01)
    sim.leave("a")  # the call being dialled again is hung up
    sim.gone(NORMAL)
    sim.join("b")
    _long_call_ended(sim)
    assert sim.m.stop is None and RETRY in sim.timers


def test_a_short_call_ending_is_a_drop_not_a_meeting_end() -> None:
    sim = FarSim(end_cooldown=600)
    sim.join("a")
    sim.answer()
    sim.joined()
    sim.advance(MEETING_END_SECONDS - 1)
    sim.gone(NORMAL)
    assert sim.m.attempt_log[-1].result == "dropped"
    assert sim.timers[RETRY] - sim.now == 5  # the normal back-off


def test_a_long_call_lost_for_another_cause_is_a_drop() -> None:
    sim = FarSim(end_cooldown=600)
    sim.join("a")
    sim.answer()
    sim.joined()
    sim.advance(MEETING_END_SECONDS * 2)
    sim.gone(Failure("congestion", "network failure (cause 38)"))
    assert sim.m.attempt_log[-1].result == "dropped"


def test_meeting_ended_stop_lifted_only_by_new_dial_settings() -> None:
    sim = FarSim()
    old = sim.m.link
    assert not stop_cleared_by(StopKind.MEETING_ENDED, old, old.__class__(**{**_fields(old), "end_cooldown": 5}))
    assert stop_cleared_by(StopKind.MEETING_ENDED, old, old.__class__(**{**_fields(old), "dtmf": "p9#"}))


def _fields(link: object) -> dict[str, object]:
    return {name: getattr(link, name) for name in link.__slots__}  # type: ignore[attr-defined]


def test_join_deadline_allows_every_prompt_wait() -> None:
    sim = FarSim(dtmf="p1#p2#p3#", prompt_timeout=30.0, ring_timeout=60, dtmf_delay=0.0)
    sim.join("a")
    deadline = sim.timers["join_deadline"] - sim.now
    assert deadline >= 60 + 3 * 30


def test_parse_dtmf_event_accepts_only_our_reports() -> None:
    assert parse_dtmf_event({"UserEvent": "ConflinkDtmf", "Step": "2", "Phase": "prompt"}) == (2, "prompt", 0)
    assert parse_dtmf_event({"UserEvent": "ConflinkDtmf", "Step": "3", "Phase": "sent", "Digits": "10"}) == (
        3, "sent", 10)
    for bad in (
        {"UserEvent": "Other", "Step": "2", "Phase": "prompt"},
        {"UserEvent": "ConflinkDtmf", "Step": "x", "Phase": "prompt"},
        {"UserEvent": "ConflinkDtmf", "Step": "0", "Phase": "prompt"},
        {"UserEvent": "ConflinkDtmf", "Step": "99", "Phase": "prompt"},
        {"UserEvent": "ConflinkDtmf", "Step": "2", "Phase": "bogus"},
        {"UserEvent": "ConflinkDtmf", "Step": "2", "Phase": "sent", "Digits": "-1"},
    ):
        assert parse_dtmf_event(bad) is None, bad


def test_reports_for_another_call_are_ignored() -> None:
    sim = FarSim(dtmf="p1#")
    sim.join("a")
    assert sim.m.dtmf_event("conflink-1-other", 2, "prompt", 0, sim.now) == []
    assert sim.m.far_end_talking("conflink-1-other", True, sim.now) == []


def test_config_limits_of_the_far_end_keys() -> None:
    def link(**kw: object) -> dict[str, object]:
        return {"version": 1, "links": [{"id": "1", "room": "1", "endpoint": "E", "number": "1", **kw}]}

    cfg = parse_config(link(dtmf="p123#p#p4321#"))
    first = cfg.links[0]
    assert (first.prompt_silence, first.prompt_timeout, first.dtmf_mode, first.dead_air, first.end_cooldown) == (
        1.0, 20.0, "auto", 0, 120)
    ok = parse_config(link(prompt_silence=0.2, prompt_timeout=120, dtmf_mode="info", dead_air=5, end_cooldown=0))
    assert ok.links[0].dead_air == 5
    for key, value in (
        ("prompt_silence", 0.1), ("prompt_silence", 5.1), ("prompt_timeout", 0.5), ("prompt_timeout", 121),
        ("dtmf_mode", "sip"), ("dtmf_mode", 1), ("dead_air", 4), ("dead_air", 3601), ("dead_air", 1.5),
        ("end_cooldown", -1), ("end_cooldown", 3601), ("dtmf", "12x"),
    ):
        try:
            parse_config(link(**{key: value}))
        except ConfigError as exc:
            assert f"links[0].{key}" in str(exc)
        else:
            raise AssertionError(f"{key}={value!r} accepted")


def test_the_last_steps_report_after_the_join_is_still_logged() -> None:
    sim = FarSim(dtmf="p1#")
    sim.join("a")
    sim.answer()
    sim.step(2, "prompt")
    sim.talk(True)
    sim.talk(False)
    sim.joined()  # ConfbridgeJoin overtook the UserEvent
    sim.step(2, "sent", 2)
    sim.step(3, "prompt")  # a stray late prompt report changes nothing
    assert sim.events() == ["waiting", "prompt_heard", "silence", "sent"]
    assert PROMPT not in sim.timers and sim.m.far_end() == "in_meeting"


def test_join_deadline_reason_survives_the_normal_clearing_of_our_hangup() -> None:
    sim = FarSim(dtmf="p1#")
    sim.join("a")
    sim.answer()
    sim.advance(sim.timers["join_deadline"] - sim.now + 0.01)
    assert len(sim.hangups) == 1
    sim.gone(NORMAL)
    assert sim.m.attempt_log[-1].result == "failed"
    assert "did not reach the room" in sim.m.attempt_log[-1].cause

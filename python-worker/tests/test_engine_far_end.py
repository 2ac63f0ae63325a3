"""The engine's far-end routing on a manual clock: TALK_DETECT and the join dialplan's step
reports reach the link's machine; its release goes out as AMI Setvar on the call's channel."""

from __future__ import annotations

from typing import Any

import pytest
from fakes import FakeAmi, ManualClock

from conflink.config import parse_config
from conflink.engine import Engine

ROOM = "354233"
CHANNEL = "PJSIP/SIP-TEST-00000007"


async def started(clock: ManualClock, **link: Any) -> tuple[Engine, FakeAmi]:
    base = {"id": "1", "room": ROOM, "endpoint": "SIP-TEST", "number": "100", **link}
    engine = Engine(ami_factory=FakeAmi, clock=clock, scheduler=clock, reconcile_interval=60.0)
    await engine.start(parse_config({"version": 1, "ami": {"secret": "x"}, "links": [base]}))
    await engine.settle()
    assert isinstance(engine.ami, FakeAmi)
    return engine, engine.ami


def event(ami: FakeAmi, name: str, call_id: str, **fields: str) -> None:
    ami.on_event(name, {"Event": name, "Uniqueid": call_id, "Channel": CHANNEL, **fields})


@pytest.mark.asyncio
async def test_prompt_end_releases_the_step_with_setvar_on_the_channel() -> None:
    clock = ManualClock()
    engine, ami = await started(clock, dtmf="p1#p2#", prompt_timeout=10)
    ami.member_joined(ROOM, "in-1", "Local/in-1")
    originate = ami.actions("Originate")[-1]
    call_id = originate["ChannelId"]
    assert "CONFLINK_PROMPT_SILENCE_MS=1000" in originate["Variable"]
    # no Newchannel (missed): the step report itself names the channel
    event(ami, "UserEvent", call_id, UserEvent="ConflinkDtmf", Step="2", Steps="3", Phase="prompt")
    status = engine.status()["links"][0]
    assert (status["far_end"], status["dtmf_step"], status["dtmf_steps"]) == ("sending_dtmf", 1, 2)
    event(ami, "ChannelTalkingStart", call_id)
    clock.advance(3)
    assert ami.actions("Setvar") == []
    event(ami, "ChannelTalkingStop", call_id)
    assert ami.actions("Setvar") == [
        {"Action": "Setvar", "Channel": CHANNEL, "Variable": "CONFLINK_GO", "Value": "2"}]
    event(ami, "UserEvent", call_id, UserEvent="ConflinkDtmf", Step="2", Steps="3", Phase="sent", Digits="2")
    event(ami, "UserEvent", call_id, UserEvent="ConflinkDtmf", Step="3", Steps="3", Phase="prompt")
    clock.advance(10.1)  # no prompt at all: prompt_timeout releases it
    assert [a["Value"] for a in ami.actions("Setvar")] == ["2", "3"]
    events = [e["event"] for e in engine.status()["links"][0]["attempt_log"][-1]["dtmf"]]
    assert events == ["waiting", "prompt_heard", "silence", "sent", "waiting", "timeout"]
    await engine.stop()


@pytest.mark.asyncio
async def test_foreign_and_malformed_user_events_change_nothing() -> None:
    clock = ManualClock()
    engine, ami = await started(clock, dtmf="p1#")
    ami.member_joined(ROOM, "in-1", "Local/in-1")
    call_id = ami.actions("Originate")[-1]["ChannelId"]
    event(ami, "Newchannel", call_id)
    for fields in ({"UserEvent": "SomethingElse", "Step": "2", "Phase": "prompt"},
                   {"UserEvent": "ConflinkDtmf", "Step": "2;Hangup", "Phase": "prompt"},
                   {"UserEvent": "ConflinkDtmf", "Step": "2", "Phase": "go"}):
        event(ami, "UserEvent", call_id, **fields)
    event(ami, "UserEvent", "labjoin-1", UserEvent="ConflinkDtmf", Step="2", Phase="prompt")
    event(ami, "ChannelTalkingStart", "labjoin-1")
    status = engine.status()["links"][0]
    assert status["far_end"] == "ringing" and status["attempt_log"][-1]["dtmf"] == []
    clock.advance(60)
    assert ami.actions("Setvar") == []
    await engine.stop()


class NoTalkDetectAmi(FakeAmi):
    """An Asterisk that loaded app_waitforcond but not func_talkdetect."""

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        self.variables = {"IFMODULE(func_talkdetect.so)": "0", "IFMODULE(app_waitforcond.so)": "1"}


@pytest.mark.asyncio
async def test_the_engine_asks_asterisk_for_the_far_end_modules_and_turns_dead_air_off_without_talk() -> None:
    clock = ManualClock()
    engine = Engine(ami_factory=NoTalkDetectAmi, clock=clock, scheduler=clock, reconcile_interval=60.0)
    base = {"id": "1", "room": ROOM, "endpoint": "SIP-TEST", "number": "100", "dead_air": 10}
    await engine.start(parse_config({"version": 1, "ami": {"secret": "x"}, "links": [base]}))
    await engine.settle()
    ami = engine.ami
    assert isinstance(ami, FakeAmi)
    assert [a["Variable"] for a in ami.actions("Getvar")] == [
        "IFMODULE(func_talkdetect.so)", "IFMODULE(app_waitforcond.so)"]
    assert engine.status()["ami"]["modules"] == {"func_talkdetect.so": "missing", "app_waitforcond.so": "loaded"}
    assert engine.machines["1"].talk_detect is False
    # A link added later knows it too; the call it makes is never hung up for "dead air".
    second = {**base, "id": "2", "number": "200"}
    await engine.apply_config(parse_config({"version": 1, "ami": {"secret": "x"}, "links": [base, second]}))
    assert engine.machines["2"].talk_detect is False
    ami.member_joined(ROOM, "in-1", "Local/in-1")
    call_id = next(a["ChannelId"] for a in ami.actions("Originate") if a["ChannelId"].startswith("conflink-2-"))
    ami.originates[call_id].set_result([{"Response": "Success"}, {"Event": "OriginateResponse",
                                                                  "Response": "Success", "Uniqueid": call_id}])
    ami.member_joined(ROOM, call_id, CHANNEL)
    clock.advance(3600)
    assert not [h for h in ami.actions("Hangup") if h.get("Channel") == CHANNEL]
    await engine.stop()


@pytest.mark.asyncio
async def test_a_pbx_that_cannot_say_which_modules_it_loaded_keeps_dead_air() -> None:
    engine, _ = await started(ManualClock(), dead_air=10)
    assert engine.status()["ami"]["modules"] == {"func_talkdetect.so": "unknown", "app_waitforcond.so": "unknown"}
    assert engine.machines["1"].talk_detect is True
    await engine.stop()

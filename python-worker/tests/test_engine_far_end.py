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

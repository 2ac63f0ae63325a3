"""Announcements into the room: when the machine asks for them, and how the engine plays them."""

from __future__ import annotations

from typing import Any

import pytest
from fakes import FakeAmi, ManualClock, wait_until
from test_fsm import BUSY, NOT_FOUND, Sim

from conflink.causes import Failure
from conflink.config import ANNOUNCE_JOIN_WAIT_MS, RetryConfig, parse_config
from conflink.engine import Engine
from conflink.fsm import Announce

ROOM = "354233"


def said(actions: list) -> list[str]:
    return [a.what for a in actions if isinstance(a, Announce)]


def test_off_by_default_nothing_is_announced() -> None:
    sim = Sim()
    out = sim.apply(sim.m.internal_joined("a", sim.now))
    out += sim.apply(sim.m.external_answered(sim.call_id, sim.now))
    assert said(out) == []


def test_connecting_beside_the_first_dial_connected_at_answer_failures_by_cause() -> None:
    sim = Sim(announce=True, retry=RetryConfig(max_attempts=5, backoff=(5.0,)))
    out = sim.apply(sim.m.internal_joined("a", sim.now))
    assert said(out) == ["connecting"]
    # The Originate comes first: an announcement never delays the dial.
    kinds = [type(a).__name__ for a in out]
    assert kinds.index("Originate") < kinds.index("Announce")
    assert said(sim.apply(sim.m.external_gone(sim.call_id, BUSY, sim.now))) == ["busy"]
    sim.advance(5)
    assert len(sim.originates) == 2  # the retry: no second "connecting"
    out = sim.apply(sim.m.external_gone(sim.call_id, Failure("no_answer", "no answer (cause 19)"), sim.now))
    assert said(out) == ["no_answer"]
    sim.advance(15)
    out = sim.apply(sim.m.external_answered(sim.call_id, sim.now))
    assert said(out) == ["connected"]
    assert [a.interrupt for a in out if isinstance(a, Announce)] == [True]
    sim.apply(sim.m.external_joined(sim.call_id, "PJSIP/x", sim.now))
    other = Sim(announce=True)
    other.join("a")
    assert said(other.apply(other.m.external_gone(other.call_id, NOT_FOUND, other.now))) == ["not_found"]


def test_test_calls_and_empty_rooms_are_not_announced() -> None:
    sim = Sim(announce=True)
    ok, _, actions = sim.m.manual_dial(sim.now, force=True, seconds=10)
    sim.apply(actions)
    assert ok and said(actions) == []
    assert said(sim.apply(sim.m.external_answered(sim.call_id, sim.now))) == []


async def engine_with(**link: Any) -> tuple[Engine, FakeAmi]:
    clock = ManualClock()
    engine = Engine(ami_factory=FakeAmi, clock=clock, scheduler=clock)
    base = {"id": "1", "room": ROOM, "endpoint": "SIP-TEST", "number": "100", **link}
    await engine.start(parse_config({"version": 1, "ami": {"secret": "x"}, "links": [base]}))
    await engine.settle()
    assert isinstance(engine.ami, FakeAmi)
    return engine, engine.ami


@pytest.mark.asyncio
async def test_engine_plays_through_a_local_channel_that_is_neither_participant_nor_call() -> None:
    engine, ami = await engine_with(announce=True)
    ami.member_joined(ROOM, "in-1", "PJSIP/201-1")
    originates = ami.actions("Originate")
    call = next(a for a in originates if a.get("Context") == "conflink-join")
    ann = next(a for a in originates if a.get("Application") == "Playback")
    assert originates.index(call) < originates.index(ann), "the dial goes out first"
    assert ann["Channel"] == f"Local/{ROOM}@conflink-join-announce/n" and ann["Data"] == "pls-hold-while-try"
    assert ann["ChannelId"].startswith("conflinkann-1-")
    assert f"CONFLINK_ANNOUNCE_MS={ANNOUNCE_JOIN_WAIT_MS}" in call["Variable"]
    # The announcer in the room: not a participant, not a call; it never makes a dial.
    ami.member_joined(ROOM, ann["ChannelId"] + ";2", "Local/354233@conflink-join-announce-0001;2")
    link = engine.status()["links"][0]
    assert link["internal_participants"] == 1 and len(ami.actions("Originate")) == 2
    # Answered: "connecting" is cut short (hung up by its room channel), "connected" plays.
    future = ami.originates[call["ChannelId"]]
    future.set_result([{"Response": "Success"}, {"Event": "OriginateResponse", "Response": "Success",
                                                  "Uniqueid": call["ChannelId"]}])
    await wait_until(lambda: bool(ami.actions("Hangup")), "the announcer hung up")
    assert [h["Channel"] for h in ami.actions("Hangup")] == ["Local/354233@conflink-join-announce-0001;2"]
    assert [a["Data"] for a in ami.actions("Originate") if a.get("Application")] == [
        "pls-hold-while-try", "confbridge-has-joined"]
    # The room's only internal leaves while an announcer is still in it: hung up as always.
    ami.member_left(ROOM, "in-1", "PJSIP/201-1")
    assert engine.status()["links"][0]["internal_participants"] == 0
    await engine.stop()


@pytest.mark.asyncio
async def test_a_room_with_only_an_announcer_is_empty_for_the_resync() -> None:
    engine, ami = await engine_with(announce=True)
    ami.snapshot_rooms[ROOM] = [{"Event": "ConfbridgeList", "Uniqueid": "conflinkann-1-9;2", "Channel": "Local/x;2"}]
    await engine.resync("test")
    assert engine.status()["links"][0]["internal_participants"] == 0
    assert ami.actions("Originate") == []
    await engine.stop()


@pytest.mark.asyncio
async def test_an_announcement_never_reaches_another_links_far_end_in_the_room() -> None:
    """Two links into one room: once link 1's far end (a meeting service) is in the room, link
    2's announcements are not played there (ConfBridge would play them to every member)."""
    clock = ManualClock()
    engine = Engine(ami_factory=FakeAmi, clock=clock, scheduler=clock)
    links = [{"id": "1", "room": ROOM, "endpoint": "SIP-TEST", "number": "100"},
             {"id": "2", "room": ROOM, "endpoint": "SIP-TEST", "number": "200", "announce": True}]
    await engine.start(parse_config({"version": 1, "ami": {"secret": "x"}, "links": links}))
    await engine.settle()
    ami = engine.ami
    assert isinstance(ami, FakeAmi)
    ami.member_joined(ROOM, "in-1", "PJSIP/201-1")
    calls = {a["ChannelId"].split("-")[1]: a for a in ami.actions("Originate") if a.get("Context") == "conflink-join"}
    assert sorted(calls) == ["1", "2"]
    # Nobody external is in the room yet: link 2's "connecting" is played.
    assert [a["Data"] for a in ami.actions("Originate") if a.get("Application")] == ["pls-hold-while-try"]
    first = calls["1"]["ChannelId"]
    ami.originates[first].set_result([{"Response": "Success"}, {"Event": "OriginateResponse",
                                                                "Response": "Success", "Uniqueid": first}])
    ami.member_joined(ROOM, first, "PJSIP/SIP-TEST-0001")
    second = calls["2"]["ChannelId"]
    ami.originates[second].set_result([{"Response": "Success"}, {"Event": "OriginateResponse",
                                                                 "Response": "Success", "Uniqueid": second}])
    await wait_until(lambda: engine.status()["links"][1]["far_end"] == "sending_dtmf", "link 2's answer handled")
    # Link 2 answered with link 1's far end in the room: no "connected" for it to hear.
    assert [a["Data"] for a in ami.actions("Originate") if a.get("Application")] == ["pls-hold-while-try"]
    await engine.stop()

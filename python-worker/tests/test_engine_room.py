"""Room controls through the engine: what reaches AMI for keys from the room, DTMF and mute."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from fakes import FakeAmi, ManualClock, wait_until

from conflink.config import parse_config
from conflink.engine import Engine

ROOM = "354233"
EXT = "PJSIP/SIP-TEST-1"


def doc(**link: Any) -> dict[str, Any]:
    base = {"id": "1", "room": ROOM, "endpoint": "SIP-TEST", "number": "100"}
    base.update(link)
    return {"version": 1, "ami": {"secret": "x"}, "links": [base]}


async def in_call(**link: Any) -> tuple[Engine, FakeAmi, str]:
    clock = ManualClock()
    engine = Engine(ami_factory=FakeAmi, clock=clock, scheduler=clock)
    await engine.start(parse_config(doc(**link)))
    await engine.settle()
    ami = engine.ami
    assert isinstance(ami, FakeAmi)
    ami.member_joined(ROOM, "in-1", "PJSIP/201-1")
    call_id = ami.actions("Originate")[-1]["ChannelId"]
    ami.member_joined(ROOM, call_id, EXT)
    return engine, ami, call_id


def dtmf_event(uid: str, digit: str, direction: str = "Received") -> dict[str, str]:
    return {"Event": "DTMFEnd", "Uniqueid": uid, "Channel": "PJSIP/201-1", "Digit": digit, "Direction": direction}


def plays(ami: FakeAmi) -> list[tuple[str, str]]:
    return [(a["Channel"], a["Digit"]) for a in ami.actions("PlayDTMF")]


@pytest.mark.asyncio
async def test_a_config_without_room_keys_plays_nothing_as_in_0_1_0() -> None:
    engine, ami, _ = await in_call()
    for digit in "*6*6":
        ami.on_event("DTMFEnd", dtmf_event("in-1", digit))
    await engine.settle()
    assert plays(ami) == []
    await engine.stop()


@pytest.mark.asyncio
async def test_star6_pressed_in_the_room_is_played_to_the_far_end() -> None:
    engine, ami, _ = await in_call(room_keys="*6")
    for digit in "*6":
        ami.on_event("DTMFEnd", dtmf_event("in-1", digit))
    await wait_until(lambda: len(plays(ami)) == 2, "both digits played")
    assert plays(ami) == [(EXT, "*"), (EXT, "6")]
    # panoramisk 1.4 would drop the connection on PlayDTMF's reply without an explicit Async.
    assert all(a["Async"] == "false" for a in ami.actions("PlayDTMF"))
    await engine.stop()


@pytest.mark.asyncio
async def test_digits_sent_to_a_channel_or_by_the_external_leg_are_not_room_keys() -> None:
    engine, ami, call_id = await in_call(room_keys="*6")
    for digit in "*6":
        ami.on_event("DTMFEnd", dtmf_event("in-1", digit, direction="Sent"))
        ami.on_event("DTMFEnd", dtmf_event(call_id, digit))
        ami.on_event("DTMFEnd", dtmf_event("somebody-elsewhere", digit))
    await engine.settle()
    assert plays(ami) == []
    await engine.stop()


@pytest.mark.asyncio
async def test_digits_pressed_in_the_room_or_elsewhere_are_never_logged_or_kept(
        caplog: pytest.LogCaptureFixture) -> None:
    """The AMI user reads every DTMFEnd on the PBX (PINs typed into IVRs and voicemail too):
    only the configured room keys are ever named; other digits leave no trace in the log or
    status, and a participant's half-typed keys are dropped with the participant."""
    caplog.set_level("DEBUG")
    engine, ami, _ = await in_call(room_keys="*6")
    await engine.settle()
    before = len(caplog.records)
    for uid in ("in-1", "somebody-elsewhere"):
        for digit in "739182#":
            ami.on_event("DTMFEnd", dtmf_event(uid, digit))
    await engine.settle()
    assert plays(ami) == []
    assert [r.getMessage() for r in caplog.records[before:]] == [], "a keypress was logged"
    assert "739182" not in repr(engine.status())
    ami.member_left(ROOM, "in-1", "PJSIP/201-1")
    assert "in-1" not in engine.machines["1"]._keys
    await engine.stop()


@pytest.mark.asyncio
async def test_dtmf_command_plays_each_digit_in_order_and_refuses_without_a_call() -> None:
    engine, ami, call_id = await in_call()
    assert await engine.send_dtmf("1", "12#") == {"ok": True, "message": "sending 3 digit(s)"}
    await engine.settle()
    assert plays(ami) == [(EXT, "1"), (EXT, "2"), (EXT, "#")]
    assert (await engine.send_dtmf("2", "1"))["error"] == "no link with id '2'"
    ami.channel_hungup(call_id, EXT)
    assert await engine.send_dtmf("1", "1") == {"ok": False, "error": "no live external call in the room"}
    await engine.stop()


@pytest.mark.asyncio
async def test_mute_and_unmute_reach_confbridge_and_status_follows_its_events() -> None:
    engine, ami, call_id = await in_call()
    assert await engine.mute("1", True) == {"ok": True, "message": "muting"}
    assert ami.actions("ConfbridgeMute") == [
        {"Action": "ConfbridgeMute", "Conference": ROOM, "Channel": EXT}]
    ami.on_event("ConfbridgeMute", {"Event": "ConfbridgeMute", "Conference": ROOM, "Uniqueid": call_id})
    link = engine.status()["links"][0]
    assert link["muted"] is True and link["external_muted"] is True
    assert (await engine.mute("1", False))["ok"] is True
    assert [a["Channel"] for a in ami.actions("ConfbridgeUnmute")] == [EXT]
    ami.on_event("ConfbridgeUnmute", {"Event": "ConfbridgeUnmute", "Conference": ROOM, "Uniqueid": call_id})
    assert engine.status()["links"][0]["external_muted"] is False
    await engine.stop()


@pytest.mark.asyncio
async def test_a_refused_mute_is_reported_as_an_error() -> None:
    engine, ami, _ = await in_call()
    real_send = ami.send

    def refusing(action: dict[str, Any]) -> asyncio.Future[Any]:
        future = real_send(action)
        if action["Action"] == "ConfbridgeMute":
            future = asyncio.get_running_loop().create_future()
            future.set_result({"Response": "Error", "Message": "No Channel by that name found in Conference."})
        return future

    ami.send = refusing  # type: ignore[method-assign]
    reply = await engine.mute("1", True)
    assert reply == {"ok": False, "error": "Asterisk refused: No Channel by that name found in Conference."}
    await engine.stop()


@pytest.mark.asyncio
async def test_resync_reads_the_muted_flag_of_an_adopted_call() -> None:
    clock = ManualClock()
    engine = Engine(ami_factory=FakeAmi, clock=clock, scheduler=clock)
    ami_doc = parse_config(doc())
    # A call left by an earlier worker, muted in the room.
    await engine.start(ami_doc)
    ami = engine.ami
    assert isinstance(ami, FakeAmi)
    ami.snapshot_rooms[ROOM] = [
        {"Event": "ConfbridgeList", "Uniqueid": "in-1", "Channel": "PJSIP/201-1", "Muted": "No"},
        {"Event": "ConfbridgeList", "Uniqueid": "conflink-1-old", "Channel": EXT, "Muted": "Yes"},
    ]
    ami.snapshot_channels = [{"Event": "CoreShowChannel", "Uniqueid": "conflink-1-old", "Channel": EXT}]
    await engine.resync("test")
    link = engine.status()["links"][0]
    assert link["external_call_id"] == "conflink-1-old" and link["external_muted"] is True
    ami.snapshot_rooms[ROOM][1]["Muted"] = "No"
    await engine.resync("test")
    assert engine.status()["links"][0]["external_muted"] is False
    await engine.stop()

"""The engine's I/O paths on a FakeAmi: AMI loss, refused and lost Originates, hang-ups re-sent
after a reconnect, events that arrive while a room list is in flight, room changes."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from fakes import FakeAmi, FakeEngine, ManualClock, wait_until

from conflink.ami import AmiNotReady
from conflink.config import parse_config

ROOM = "354233"


def doc(*links: dict[str, Any]) -> dict[str, Any]:
    return {"version": 1, "ami": {"secret": "x"},
            "links": list(links) or [{"id": "1", "room": ROOM, "endpoint": "SIP-TEST", "number": "100"}]}


def engine_with(*links: dict[str, Any]) -> FakeEngine:
    return FakeEngine(parse_config(doc(*links)), ManualClock())


@pytest.mark.asyncio
async def test_dial_refusals_name_the_reason() -> None:
    engine = engine_with()
    assert await engine.dial("9") == {"ok": False, "error": "no link with id '9'"}
    assert await engine.hangup("9") == {"ok": False, "error": "no link with id '9'"}
    engine.fake_ami.ready = False
    assert await engine.dial("1", force=True) == {"ok": False, "error": "AMI is not connected"}


@pytest.mark.asyncio
async def test_ami_loss_stops_dialling_and_a_failed_send_is_not_an_attempt() -> None:
    engine = engine_with()
    engine.on_ami_ready(False)
    engine.internals_join("1")
    assert engine.fake_ami.actions("Originate") == []
    assert engine.status()["links"][0]["attempts"] == 0

    # AMI up as far as the machine knows, but the socket refuses: abort, not a failed attempt
    engine.fake_ami.ready = True
    machine = engine.machines["1"]

    def refuse(action: dict[str, Any]) -> asyncio.Future[Any]:
        raise AmiNotReady("socket gone")

    engine.fake_ami.send = refuse  # type: ignore[method-assign]
    engine._run(machine.set_ami(True, engine.clock.now))
    assert machine.attempts == 0 and machine.call is None and not machine.ami_up


@pytest.mark.asyncio
async def test_originate_lost_with_the_connection_is_redialled_by_the_resync() -> None:
    engine = engine_with({"id": "1", "room": ROOM, "endpoint": "SIP-TEST", "number": "100", "retry": {"backoff": [1]}})
    engine.internals_join("1")
    call_id = engine.last_call_id("1")
    engine.fake_ami.originates[call_id].set_exception(AmiNotReady("AMI connection lost"))
    call = engine.machines["1"].call
    assert call is not None
    await wait_until(lambda: call.unconfirmed, "the lost Originate noted")  # its done-callback runs on the loop
    engine.on_ami_ready(False)
    await engine.resync("AMI ready")  # the channel list does not show it: gone, dial again
    engine.clock.advance(1.0)
    assert len(engine.fake_ami.actions("Originate")) == 2


@pytest.mark.asyncio
async def test_originate_refused_by_asterisk_counts_after_the_grace() -> None:
    engine = engine_with()
    engine.internals_join("1")
    call_id = engine.last_call_id("1")
    engine.fake_ami.originates[call_id].set_result({"Response": "Error", "Message": "Extension does not exist."})
    call = engine.machines["1"].call
    assert call is not None
    await wait_until(lambda: call.pending_failure is not None, "the refusal noted")
    engine.clock.advance(1.1)
    link = engine.status()["links"][0]
    assert link["state"] == "backoff" and "Originate refused: Extension does not exist." in link["last_error"]


@pytest.mark.asyncio
async def test_hangup_decided_while_ami_was_down_is_sent_after_the_reconnect() -> None:
    engine = engine_with()
    engine.internals_join("1")
    engine.external_joins("1", "PJSIP/SIP-TEST-1")
    call_id = engine.last_call_id("1")
    engine.fake_ami.snapshot_channels = [{"Uniqueid": call_id, "Channel": "PJSIP/SIP-TEST-1"}]
    engine.fake_ami.ready = False
    engine.on_ami_ready(False)
    engine.fake_ami.member_left(ROOM, f"int-{ROOM}-0", "Local/x")  # the room empties meanwhile
    assert engine.fake_ami.actions("Hangup") == []
    engine.fake_ami.ready = True
    await engine.resync("AMI ready")
    assert [h["Channel"] for h in engine.fake_ami.actions("Hangup")] == ["PJSIP/SIP-TEST-1"]


@pytest.mark.asyncio
async def test_events_during_a_room_list_are_replayed_on_top_of_it() -> None:
    engine = engine_with()
    ami = engine.fake_ami
    original = ami.list_events

    async def list_then_join(action: dict[str, str], item_event: str) -> list[dict[str, str]] | None:
        items = await original(action, item_event)
        if action["Action"] == "ConfbridgeList":
            ami.member_joined(ROOM, "late-1", "Local/late")  # arrives after Asterisk built the list
        return items

    ami.list_events = list_then_join  # type: ignore[method-assign]
    await engine.resync("test", rooms=[ROOM])
    assert engine.status()["links"][0]["internal_participants"] == 1
    assert len(ami.actions("Originate")) == 1


@pytest.mark.asyncio
async def test_room_change_hangs_up_the_old_call_and_never_adopts_it() -> None:
    engine = engine_with()
    engine.internals_join("1")
    engine.external_joins("1", "PJSIP/SIP-TEST-1")
    old = engine.last_call_id("1")
    reply = await engine.apply_config(parse_config(doc({"id": "1", "room": "777", "endpoint": "SIP-TEST",
                                                         "number": "100"})))
    assert any("room changed 354233 -> 777" in n for n in reply["notes"])
    assert [h["Channel"] for h in engine.fake_ami.actions("Hangup")] == ["PJSIP/SIP-TEST-1"]
    await engine.settle()
    engine.fake_ami.snapshot_channels = [{"Uniqueid": old, "Channel": "PJSIP/SIP-TEST-1"}]
    engine.fake_ami.member_joined("777", "int-777", "Local/777")
    await engine.resync("test", rooms=["777"])
    assert engine.machines["1"].call is None or engine.machines["1"].call.call_id != old


@pytest.mark.asyncio
async def test_a_call_of_an_unknown_link_is_hung_up_as_a_stray() -> None:
    engine = engine_with()
    engine.fake_ami.member_joined(ROOM, "conflink-9-abc", "PJSIP/SIP-TEST-9")
    engine.fake_ami.snapshot_channels = [{"Uniqueid": "conflink-8-x", "Channel": "PJSIP/SIP-TEST-8"}]
    await engine.resync("full")
    assert sorted(h["Channel"] for h in engine.fake_ami.actions("Hangup")) == [
        "PJSIP/SIP-TEST-8", "PJSIP/SIP-TEST-9", "PJSIP/SIP-TEST-9"]


@pytest.mark.asyncio
async def test_background_failures_are_logged_not_raised(caplog: pytest.LogCaptureFixture) -> None:
    engine = engine_with()

    async def boom() -> None:
        raise RuntimeError("bug")

    async def gone() -> None:
        raise AmiNotReady("lost")

    engine._spawn(boom())
    engine._spawn(gone())
    await engine.settle()
    assert "background task failed" in caplog.text and "AMI task interrupted" in caplog.text


@pytest.mark.asyncio
async def test_engine_stop_cancels_timers_and_tasks() -> None:
    clock = ManualClock()
    engine = FakeEngine(parse_config(doc({"id": "1", "room": ROOM, "endpoint": "E", "number": "1", "linger": 5})),
                        clock)
    engine.internals_join("1")
    engine.external_joins("1", "PJSIP/E-1")
    engine.fake_ami.member_left(ROOM, f"int-{ROOM}-0", "Local/x")
    await engine.stop()
    clock.advance(10)
    assert engine.fake_ami.actions("Hangup") == [] and isinstance(engine.ami, FakeAmi)


@pytest.mark.asyncio
async def test_room_controls_report_refusals_of_asterisk_and_of_the_link() -> None:
    engine = engine_with()
    assert (await engine.send_dtmf("9", "1"))["error"] == "no link with id '9'"
    assert (await engine.mute("9", True))["error"] == "no link with id '9'"
    assert (await engine.send_dtmf("1", "1"))["error"] == "no live external call in the room"
    engine.internals_join("1")
    engine.external_joins("1", "PJSIP/SIP-TEST-1")
    ami = engine.fake_ami
    original = ami.send

    def refuse_playdtmf(action: dict[str, Any]) -> asyncio.Future[Any]:
        future = original(action)
        if action["Action"] == "PlayDTMF":
            future = asyncio.get_running_loop().create_future()
            future.set_result({"Response": "Error", "Message": "Channel not found"})
        return future

    ami.send = refuse_playdtmf  # type: ignore[method-assign]
    reply = await engine.send_dtmf("1", "12")
    assert reply["ok"] is False and "Channel not found" in reply["error"], reply

    def lose(action: dict[str, Any]) -> asyncio.Future[Any]:
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        future.set_exception(AmiNotReady("AMI connection lost"))
        return future

    ami.send = lose  # type: ignore[method-assign]
    reply = await engine.mute("1", True)
    assert reply == {"ok": False, "error": "AMI: AMI connection lost"}
    ami.ready = False
    assert (await engine.mute("1", False))["error"] == "AMI is not connected"
    assert (await engine.send_dtmf("1", "1"))["error"] == "AMI is not connected"


@pytest.mark.asyncio
async def test_talk_events_of_our_call_reach_its_machine_and_others_are_ignored() -> None:
    engine = engine_with()
    engine.internals_join("1")
    engine.external_joins("1", "PJSIP/SIP-TEST-1")
    call_id = engine.last_call_id("1")
    for name in ("ChannelTalkingStart", "ChannelTalkingStop"):
        engine.on_ami_event(name, {"Event": name, "Uniqueid": "not-ours"})
    engine.on_ami_event("ChannelTalkingStart", {"Event": "ChannelTalkingStart", "Uniqueid": call_id})
    call = engine.machines["1"].call
    assert call is not None and call.talking
    engine.on_ami_event("ChannelTalkingStop", {"Event": "ChannelTalkingStop", "Uniqueid": call_id})
    assert not call.talking
    engine.on_ami_event("UserEvent", {"Event": "UserEvent", "UserEvent": "junk", "Uniqueid": call_id})


@pytest.mark.asyncio
async def test_a_late_conference_end_does_not_empty_the_rooms_new_bridge() -> None:
    # Seen under overload: the last member leaves, someone joins at once (a new bridge of the
    # same name), then the OLD bridge's ConfbridgeEnd arrives. It used to drop every internal
    # of the room and hang up the call of the new busy period.
    engine = engine_with()
    ami, ev = engine.fake_ami, engine.on_ami_event

    def member(event: str, uid: str, bridge: str, channel: str) -> None:
        ev(event, {"Event": event, "Conference": ROOM, "Uniqueid": uid, "Channel": channel, "BridgeUniqueid": bridge})

    member("ConfbridgeJoin", "in-1", "B1", "L/1")
    first = engine.last_call_id("1")
    member("ConfbridgeJoin", first, "B1", "PJSIP/SIP-TEST-1")
    member("ConfbridgeLeave", "in-1", "B1", "L/1")  # room empty: the call is hung up
    assert [h["Channel"] for h in ami.actions("Hangup")] == ["PJSIP/SIP-TEST-1"]
    ami.channel_hungup(first, "PJSIP/SIP-TEST-1")
    member("ConfbridgeJoin", "in-2", "B2", "L/2")  # the room's next bridge, at once
    second = engine.last_call_id("1")
    assert second != first
    member("ConfbridgeJoin", second, "B2", "PJSIP/SIP-TEST-2")
    ev("ConfbridgeEnd", {"Event": "ConfbridgeEnd", "Conference": ROOM, "BridgeUniqueid": "B1"})  # late
    assert engine.status()["links"][0]["internal_participants"] == 1
    assert len(ami.actions("Hangup")) == 1
    ev("ConfbridgeEnd", {"Event": "ConfbridgeEnd", "Conference": ROOM, "BridgeUniqueid": "B2"})
    assert engine.status()["links"][0]["internal_participants"] == 0
    assert [h["Channel"] for h in ami.actions("Hangup")][-1] == "PJSIP/SIP-TEST-2"


@pytest.mark.asyncio
async def test_a_late_join_of_an_ended_call_is_ignored_and_the_next_period_dials() -> None:
    # An overloaded Asterisk reported our call's ConfbridgeJoin after its Hangup: the engine
    # adopted the dead call, sat in hanging_up waiting for a confirmation that had already
    # come, and dialled nothing for the next busy period (scale benchmark, 100 busy rooms).
    engine = engine_with()
    ami, ev = engine.fake_ami, engine.on_ami_event

    def member(event: str, uid: str, channel: str) -> None:
        ev(event, {"Event": event, "Conference": ROOM, "Uniqueid": uid, "Channel": channel, "BridgeUniqueid": "B1"})

    member("ConfbridgeJoin", "in-1", "L/1")
    first = engine.last_call_id("1")
    member("ConfbridgeLeave", "in-1", "L/1")  # room empty while it still rings: hung up
    ev("Hangup", {"Event": "Hangup", "Uniqueid": first, "Channel": "PJSIP/SIP-TEST-1", "Cause": "16"})
    hangups = len(ami.actions("Hangup"))
    member("ConfbridgeJoin", first, "PJSIP/SIP-TEST-1")  # late: the call is already gone
    assert engine.status()["links"][0]["external_channel"] in ("", None)
    assert len(ami.actions("Hangup")) == hangups  # nothing to hang up either
    member("ConfbridgeJoin", "in-2", "L/2")  # the next busy period
    second = engine.last_call_id("1")
    assert second != first
    assert len(ami.actions("Originate")) == 2

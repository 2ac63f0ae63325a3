"""Every engine timer path on a manual clock: link timers, reconcile, room-list retry, final stop."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from fakes import FakeAmi, ManualClock, wait_until

from conflink.config import parse_config
from conflink.engine import ROOM_RETRY_SECONDS, Engine

ROOM = "354233"


def doc(**link: Any) -> dict[str, Any]:
    base = {"id": "1", "room": ROOM, "endpoint": "SIP-TEST", "number": "100"}
    base.update(link)
    return {"version": 1, "ami": {"secret": "x"}, "links": [base]}


async def started(clock: ManualClock, **link: Any) -> tuple[Engine, FakeAmi]:
    engine = Engine(ami_factory=FakeAmi, clock=clock, scheduler=clock, reconcile_interval=60.0)
    await engine.start(parse_config(doc(**link)))
    await engine.settle()
    assert isinstance(engine.ami, FakeAmi)
    return engine, engine.ami


def join(ami: FakeAmi, uid: str) -> None:
    ami.member_joined(ROOM, uid, f"Local/{uid}")


def leave(ami: FakeAmi, uid: str) -> None:
    ami.member_left(ROOM, uid, f"Local/{uid}")


def connect_external(ami: FakeAmi) -> str:
    call_id = ami.actions("Originate")[-1]["ChannelId"]
    ami.member_joined(ROOM, call_id, "PJSIP/SIP-TEST-1")
    return call_id


def hangup_event(ami: FakeAmi, call_id: str, cause: str = "16") -> None:
    ami.channel_hungup(call_id, "PJSIP/SIP-TEST-1", cause)


@pytest.mark.asyncio
async def test_linger_timer_hangs_up_exactly_when_due() -> None:
    clock = ManualClock()
    engine, ami = await started(clock, linger=5)
    join(ami, "in-1")
    connect_external(ami)
    leave(ami, "in-1")
    clock.advance(4.9)
    assert ami.actions("Hangup") == []
    clock.advance(0.2)
    assert [h["Channel"] for h in ami.actions("Hangup")] == ["PJSIP/SIP-TEST-1"]
    await engine.stop()


@pytest.mark.asyncio
async def test_retry_timer_redials_after_the_backoff() -> None:
    clock = ManualClock()
    engine, ami = await started(clock, retry={"backoff": [7]})
    join(ami, "in-1")
    hangup_event(ami, ami.actions("Originate")[-1]["ChannelId"], cause="17")
    clock.advance(6.9)
    assert len(ami.actions("Originate")) == 1
    clock.advance(0.2)
    assert len(ami.actions("Originate")) == 2
    await engine.stop()


@pytest.mark.asyncio
async def test_reconcile_runs_once_per_interval_and_stops_with_the_engine() -> None:
    clock = ManualClock()
    engine, ami = await started(clock)
    for expected in (1, 2):
        clock.advance(60.0)
        await engine.settle()
        assert len(ami.actions("ConfbridgeListRooms")) == expected
    await engine.stop()
    clock.advance(600.0)
    await engine.settle()
    assert len(ami.actions("ConfbridgeListRooms")) == 2


@pytest.mark.asyncio
async def test_a_refused_room_list_is_asked_again_later() -> None:
    clock = ManualClock()
    engine, ami = await started(clock)
    ami.fail_lists.add("ConfbridgeList")
    await engine.resync("test", rooms=[ROOM])
    lists = len(ami.actions("ConfbridgeList"))
    ami.fail_lists.clear()
    clock.advance(ROOM_RETRY_SECONDS - 0.1)
    await engine.settle()
    assert len(ami.actions("ConfbridgeList")) == lists
    clock.advance(0.2)
    await engine.settle()
    assert len(ami.actions("ConfbridgeList")) == lists + 1
    await engine.stop()


@pytest.mark.asyncio
async def test_final_stop_waits_for_the_hangup_at_most_its_deadline() -> None:
    clock = ManualClock()
    engine, ami = await started(clock)
    join(ami, "in-1")
    connect_external(ami)
    task = asyncio.get_running_loop().create_task(engine.hang_up_all(5.0))
    await wait_until(lambda: bool(ami.actions("Hangup")), "hang-up sent")
    clock.advance(4.9)
    assert engine._all_gone is not None and not engine._all_gone.is_set()
    clock.advance(0.2)
    assert await task == 1
    await engine.stop()


@pytest.mark.asyncio
async def test_final_stop_returns_as_soon_as_asterisk_confirms() -> None:
    clock = ManualClock()
    engine, ami = await started(clock)
    join(ami, "in-1")
    call_id = connect_external(ami)
    task = asyncio.get_running_loop().create_task(engine.hang_up_all(5.0))
    await wait_until(lambda: bool(ami.actions("Hangup")), "hang-up sent")
    hangup_event(ami, call_id)
    assert await task == 1
    assert clock.pending() == [clock.now + 60.0]  # only the reconcile: the deadline was cancelled
    await engine.stop()


@pytest.mark.asyncio
async def test_admin_hangup_holds_through_a_pushed_retry_change() -> None:
    # issue 11 item 1 at the engine boundary
    clock = ManualClock()
    engine, ami = await started(clock)
    join(ami, "in-1")
    call_id = connect_external(ami)
    assert (await engine.hangup("1"))["ok"]
    hangup_event(ami, call_id)
    await engine.apply_config(parse_config(doc(retry={"max_attempts": 9, "backoff": [1]})))
    clock.advance(300)
    await engine.settle()
    assert len(ami.actions("Originate")) == 1
    link = engine.status()["links"][0]
    assert link["state"] == "held" and link["stop"] == "held"
    await engine.stop()


@pytest.mark.asyncio
async def test_test_call_length_is_checked_by_the_one_rule() -> None:
    clock = ManualClock()
    engine, ami = await started(clock)
    for bad in (0.5, 3601.0, float("nan")):
        reply = await engine.dial("1", force=True, seconds=bad)
        assert not reply["ok"] and reply["error"].startswith("seconds:"), reply
    assert ami.actions("Originate") == []
    assert (await engine.dial("1", force=True, seconds=2.0))["ok"]
    lookups = len(ami.actions("CoreShowChannels"))
    clock.advance(2.1)
    await engine.settle()
    # channel name unknown while ringing: the hang-up looks it up by Uniqueid
    assert engine.status()["links"][0]["state"] == "hanging_up"
    assert len(ami.actions("CoreShowChannels")) == lookups + 1
    await engine.stop()

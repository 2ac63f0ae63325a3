"""The engine against AMI event streams recorded from a real Asterisk 22 (tests/fixtures).

The fixtures were captured by the lab's AMI user during real cycles (answered, 486, 404).
The replay rewrites the recorded `conflink-` Uniqueid to the one the engine generated and
answers the engine's Originate with the recorded OriginateResponse, as Asterisk would.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from fakes import FakeAmi, ManualClock

from conflink.config import parse_config
from conflink.engine import Engine, link_id_of

FIXTURES = Path(__file__).parent / "fixtures"
ROOM = "354233"


def load(name: str) -> list[dict[str, str]]:
    return json.loads((FIXTURES / f"{name}.json").read_text())


def config_doc(**link: Any) -> dict[str, Any]:
    base = {"id": "1", "room": ROOM, "endpoint": "SIP-TEST", "number": "100", "dtmf": "1#", "dtmf_delay": 0.2}
    base.update(link)
    return {"version": 1, "ami": {"secret": "x"}, "links": [base]}


async def started_engine(clock: ManualClock | None = None, **link: Any) -> tuple[Engine, FakeAmi]:
    clock = clock or ManualClock()
    engine = Engine(ami_factory=FakeAmi, clock=clock, scheduler=clock)
    await engine.start(parse_config(config_doc(**link)))
    await engine.settle()  # the start-up resync
    ami = engine.ami
    assert isinstance(ami, FakeAmi)
    return engine, ami


def split_at_first(events: list[dict[str, str]], name: str, prefix: str) -> tuple[list, list]:
    for i, event in enumerate(events):
        if event["Event"] == name and event.get("Uniqueid", "").startswith(prefix):
            return events[: i + 1], events[i + 1:]
    raise AssertionError(f"no {name} for {prefix} in fixture")


def link_status(engine: Engine) -> dict[str, Any]:
    return engine.status()["links"][0]


@pytest.mark.asyncio
async def test_answered_cycle_originates_once_and_hangs_up_on_leave() -> None:
    engine, ami = await started_engine()
    events = load("ami_cycle_answered")
    before_our_call, rest = split_at_first(events, "ConfbridgeJoin", "labjoin-")
    ami.replay(before_our_call)
    originates = ami.actions("Originate")
    assert len(originates) == 1
    action = originates[0]
    assert action["Channel"] == "PJSIP/100@SIP-TEST"
    assert (action["Context"], action["Exten"], action["Priority"]) == ("conflink-join", ROOM, "1")
    assert action["Async"] == "true" and action["Timeout"] == "60000"
    assert action["ChannelId"].startswith("conflink-1-")
    assert action["Variable"][:-1] == ["CONFLINK_LINK=1", f"CONFLINK_ROOM={ROOM}", "CONFLINK_DTMF=1#",
                                       "CONFLINK_DTMF_DELAY_MS=200", "CONFLINK_NUMBER=100",
                                       "CONFLINK_PROMPT_SILENCE_MS=1000", "CONFLINK_PROMPT_TIMEOUT_MS=20000",
                                       "CONFLINK_DTMF_MODE=auto", f"CONFLINK_CALL_ID={action['ChannelId']}",
                                       "CONFLINK_PROVIDER=SIP-TEST", "CONFLINK_DIAL_VIA=provider"]
    assert action["Variable"][-1].startswith("CONFLINK_ATTEMPT_START=")
    ami.replay(rest)
    await engine.settle()
    hangups = ami.actions("Hangup")
    assert len(hangups) == 1 and hangups[0]["Channel"].startswith("PJSIP/SIP-TEST-")
    status = link_status(engine)
    assert status["state"] == "idle" and status["attempt_log"][-1]["result"] == "hung up"
    assert len(ami.actions("Originate")) == 1
    await engine.stop()


@pytest.mark.asyncio
async def test_busy_486_schedules_a_retry_with_the_real_cause() -> None:
    engine, ami = await started_engine(retry={"backoff": [30]})
    until_hangup, rest = split_at_first(load("ami_busy_486"), "Hangup", "conflink-")
    ami.replay(until_hangup)
    await engine.settle()
    status = link_status(engine)
    assert status["state"] == "backoff", status
    assert status["last_error"] == "busy (486)"
    assert 29 < status["next_attempt_in"] <= 30
    ami.replay(rest)  # the participant leaves: the busy period and its retries are over
    status = link_status(engine)
    assert status["state"] == "idle" and status["next_attempt_in"] is None
    assert len(ami.actions("Originate")) == 1
    await engine.stop()


@pytest.mark.asyncio
async def test_404_stops_retrying_at_once() -> None:
    engine, ami = await started_engine()
    until_hangup, rest = split_at_first(load("ami_notfound_404"), "Hangup", "conflink-")
    ami.replay(until_hangup)
    await engine.settle()
    status = link_status(engine)
    assert status["state"] == "failed" and status["permanent_failure"] is True
    assert status["stop"] == "permanent" and "404" in status["last_error"]
    ami.replay(rest)
    assert len(ami.actions("Originate")) == 1 and link_status(engine)["state"] == "idle"
    await engine.stop()


@pytest.mark.asyncio
async def test_startup_resync_adopts_a_call_and_hangs_up_strays() -> None:
    class PreparedAmi(FakeAmi):
        async def start(self) -> None:
            self.snapshot_rooms[ROOM] = [
                {"Event": "ConfbridgeList", "Uniqueid": "labjoin-9;2", "Channel": "Local/354233@x-1;2"},
                {"Event": "ConfbridgeList", "Uniqueid": "conflink-1-abc", "Channel": "PJSIP/SIP-TEST-00000007"},
            ]
            self.snapshot_channels = [
                {"Event": "CoreShowChannel", "Uniqueid": "conflink-1-abc", "Channel": "PJSIP/SIP-TEST-00000007"},
                {"Event": "CoreShowChannel", "Uniqueid": "conflink-99-zz", "Channel": "PJSIP/SIP-TEST-00000008"},
            ]
            await super().start()

    clock = ManualClock()
    engine = Engine(ami_factory=PreparedAmi, clock=clock, scheduler=clock)
    await engine.start(parse_config(config_doc()))
    await engine.settle()
    ami = engine.ami
    assert isinstance(ami, FakeAmi)
    status = link_status(engine)
    assert status["state"] == "connected" and status["external_call_id"] == "conflink-1-abc"
    assert ami.actions("Originate") == []
    assert [h["Channel"] for h in ami.actions("Hangup")] == ["PJSIP/SIP-TEST-00000008"]
    await engine.stop()


@pytest.mark.asyncio
async def test_apply_config_keeps_unchanged_links_and_hangs_up_removed_ones() -> None:
    doc = config_doc()
    doc["links"].append({"id": "2", "room": "777", "endpoint": "SIP-TEST", "number": "200"})
    clock = ManualClock()
    engine = Engine(ami_factory=FakeAmi, clock=clock, scheduler=clock)
    await engine.start(parse_config(doc))
    await engine.settle()
    ami = engine.ami
    assert isinstance(ami, FakeAmi)
    for room in (ROOM, "777"):
        ami.on_event("ConfbridgeJoin", {"Event": "ConfbridgeJoin", "Conference": room,
                                        "Uniqueid": f"in-{room}", "Channel": f"Local/{room}"})
    call_ids = [a["ChannelId"] for a in ami.actions("Originate")]
    for i, call_id in enumerate(call_ids):
        room = ROOM if call_id.startswith("conflink-1-") else "777"
        ami.on_event("ConfbridgeJoin", {"Event": "ConfbridgeJoin", "Conference": room,
                                        "Uniqueid": call_id, "Channel": f"PJSIP/SIP-TEST-{i}"})
    # link 2 disappears, link 1 gets a new number: link 1's call stays, link 2's is hung up
    doc2 = config_doc(number="999")
    reply = await engine.apply_config(parse_config(doc2))
    assert [h["Channel"] for h in ami.actions("Hangup")] == [
        f"PJSIP/SIP-TEST-{next(i for i, c in enumerate(call_ids) if c.startswith('conflink-2-'))}"
    ]
    assert any("next dial" in note for note in reply["notes"])
    assert link_status(engine)["state"] == "connected"
    assert engine.ami is ami  # same AMI settings: no reconnect
    await engine.stop()


def test_link_id_of() -> None:
    assert link_id_of("conflink-12-abc") == "12"
    assert link_id_of("conflink-a_b-1") == "a_b"
    assert link_id_of("labjoin-1;2") is None
    assert link_id_of("conflink--x") is None


@pytest.mark.asyncio
async def test_full_resync_lists_only_rooms_that_exist() -> None:
    class BusyRoomAmi(FakeAmi):
        async def start(self) -> None:
            self.snapshot_rooms["500"] = [
                {"Event": "ConfbridgeList", "Uniqueid": "labjoin-1;2", "Channel": "Local/500@x-1;2"},
            ]
            await super().start()

    doc = {"version": 1, "ami": {"secret": "x"}, "links": [
        {"id": str(i), "room": str(500 + i), "endpoint": "SIP-TEST", "number": "100"} for i in range(50)
    ]}
    clock = ManualClock()
    engine = Engine(ami_factory=BusyRoomAmi, clock=clock, scheduler=clock)
    await engine.start(parse_config(doc))
    await engine.settle()
    ami = engine.ami
    assert isinstance(ami, FakeAmi)
    assert [a.get("Conference") for a in ami.sent if a["Action"] == "ConfbridgeList"] == ["500"]
    # CoreShowChannels, ConfbridgeListRooms, one ConfbridgeList, one Originate (and the module check)
    assert len([a for a in ami.sent if a["Action"] != "Getvar"]) <= 4
    assert [a["Exten"] for a in ami.actions("Originate")] == ["500"]
    await engine.stop()


@pytest.mark.asyncio
async def test_malformed_ami_events_change_nothing_and_never_raise() -> None:
    import random

    engine, ami = await started_engine()
    rng = random.Random(7)
    junk_values = ["", "\x00", "conflink-", "conflink--", "conflink-1-", "conflink-9-x", ROOM, "abc",
                   "-1", "99999999999999999999", "é", "x" * 10000, "Local/;2", "None"]
    names = ["ConfbridgeJoin", "ConfbridgeLeave", "ConfbridgeEnd", "Newchannel", "DialEnd", "Hangup",
             "OriginateResponse", "Unknown", ""]
    keys = ["Conference", "Uniqueid", "Channel", "Cause", "TechCause", "DialStatus", "DestUniqueid",
            "Response", "Reason", "Parties"]
    for _ in range(3000):
        event = {k: rng.choice(junk_values) for k in rng.sample(keys, rng.randint(0, len(keys)))}
        if rng.random() < 0.2:
            event["Uniqueid"] = [rng.choice(junk_values), rng.choice(junk_values)]  # repeated header
        name = rng.choice(names)
        event["Event"] = name
        engine.on_ami_event(name, event)  # must not raise
    await engine.settle()
    # Junk may look like internal joins to the room (then one call is fine), but no junk can
    # end that call (it never carries the generated call id), so there is never a second one.
    assert len(ami.actions("Originate")) <= 1
    assert all(h["Channel"] != "" for h in ami.actions("Hangup") if "Channel" in h)
    status = link_status(engine)
    assert status["state"] in {"idle", "dialing", "connected", "backoff", "hanging_up", "failed", "lingering"}
    await engine.stop()


@pytest.mark.asyncio
async def test_reconcile_finds_a_missed_join_with_one_request_and_dials() -> None:
    engine, ami = await started_engine()
    sent_before = len(ami.sent)
    await engine.reconcile()  # nothing differs: one ConfbridgeListRooms, nothing else
    assert [a["Action"] for a in ami.sent[sent_before:]] == ["ConfbridgeListRooms"]
    # A join the worker never saw (events can be lost): the room now has a member.
    ami.snapshot_rooms[ROOM] = [{"Event": "ConfbridgeList", "Uniqueid": "labjoin-5;2", "Channel": "Local/x;2"}]
    await engine.reconcile()
    await engine.settle()
    assert "ConfbridgeList" in [a["Action"] for a in ami.sent[sent_before:]]
    assert len(ami.actions("Originate")) == 1
    assert link_status(engine)["internal_participants"] == 1
    await engine.stop()

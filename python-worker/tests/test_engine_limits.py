"""Cost limits through the engine: today's usage survives a worker restart (the usage file)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from fakes import FakeAmi, ManualClock

from conflink.config import parse_config
from conflink.engine import Engine
from conflink.localtime import FixedOffset

ROOM = "354233"
EXT = "PJSIP/SIP-TEST-1"


def doc(**link: Any) -> dict[str, Any]:
    base = {"id": "1", "room": ROOM, "endpoint": "SIP-TEST", "number": "100"}
    base.update(link)
    return {"version": 1, "ami": {"secret": "x"}, "links": [base]}


async def engine_at(clock: ManualClock, usage: Path, **link: Any) -> tuple[Engine, FakeAmi]:
    engine = Engine(ami_factory=FakeAmi, clock=clock, scheduler=clock, local_time=FixedOffset(0),
                    usage_path=str(usage))
    await engine.start(parse_config(doc(**link)))
    await engine.settle()
    assert isinstance(engine.ami, FakeAmi)
    return engine, engine.ami


@pytest.mark.asyncio
async def test_usage_survives_a_restart_and_the_budget_holds(tmp_path: Path) -> None:
    usage = tmp_path / "conflink-usage.json"
    clock = ManualClock(start=100 * 86400.0 + 3600)
    engine, ami = await engine_at(clock, usage, daily_minutes=2)
    ami.member_joined(ROOM, "in-1", "PJSIP/201-1")
    call_id = ami.actions("Originate")[-1]["ChannelId"]
    ami.member_joined(ROOM, call_id, EXT)
    clock.advance(90)
    ami.channel_hungup(call_id, EXT)  # the far end drops after 90 s
    saved = json.loads(usage.read_text())
    assert saved["links"]["1"]["used_seconds"] == 90.0 and saved["links"]["1"]["day"] == 100 + 719163
    await engine.stop()

    # A new worker the same day: 30 s left, the next call is cut after 30 s and the link stops.
    engine, ami = await engine_at(clock, usage, daily_minutes=2)
    assert engine.status()["links"][0]["used_today"] == 90
    ami.member_joined(ROOM, "in-2", "PJSIP/202-1")
    call_id = ami.actions("Originate")[-1]["ChannelId"]
    ami.member_joined(ROOM, call_id, EXT)
    clock.advance(29.9)
    assert ami.actions("Hangup") == []
    clock.advance(0.2)
    assert [h["Channel"] for h in ami.actions("Hangup")] == [EXT]
    ami.channel_hungup(call_id, EXT)
    link = engine.status()["links"][0]
    assert link["stop"] == "daily_budget" and link["used_today"] == 120
    saved = json.loads(usage.read_text())["links"]["1"]
    assert saved["limited"] == "daily_budget" and saved["used_seconds"] == pytest.approx(120.1)
    await engine.stop()


@pytest.mark.asyncio
async def test_unreadable_usage_file_starts_from_zero_and_removed_links_are_forgotten(tmp_path: Path) -> None:
    usage = tmp_path / "conflink-usage.json"
    usage.write_text("{not json")
    clock = ManualClock(start=100 * 86400.0)
    engine, _ = await engine_at(clock, usage, daily_minutes=2)
    assert engine.status()["links"][0]["used_today"] == 0
    usage.write_text(json.dumps({"version": 1, "links": {"1": {"day": 719263, "used_seconds": 5},
                                                         "9": {"day": 719263, "used_seconds": 50}}}))
    await engine.stop()
    engine, _ = await engine_at(clock, usage, daily_minutes=2)
    assert engine.status()["links"][0]["used_today"] == 5
    assert set(json.loads(usage.read_text())["links"]) == {"1"}
    await engine.stop()

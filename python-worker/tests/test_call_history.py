"""Call history of failed attempts: the join context's `failed` stand-in asks the worker for the
cause of the attempt's Hangup (UserEvent ConflinkFailed) and the worker answers with Setvar
CONFLINK_CAUSE on the stand-in (rules.CauseMemory / failed_attempt_reply; engine I/O)."""

from __future__ import annotations

from typing import Any

import pytest
from fakes import FakeEngine, ManualClock

from conflink.config import parse_config
from conflink.rules import CAUSE_VARIABLE, FAILED_EVENT, CauseMemory, failed_attempt_reply

ROOM = "354233"


def engine() -> FakeEngine:
    doc: dict[str, Any] = {"version": 1, "ami": {"secret": "x"},
                           "links": [{"id": "1", "room": ROOM, "endpoint": "SIP-TEST", "number": "100"}]}
    return FakeEngine(parse_config(doc), ManualClock())


def asked(call_id: str, stand_in: str = "1796420646.1", **extra: str) -> dict[str, str]:
    return {"Event": "UserEvent", "UserEvent": FAILED_EVENT, "CallId": call_id, "Uniqueid": stand_in,
            "Channel": "OutgoingSpoolFailed", **extra}


def test_the_cause_of_the_calls_hangup_is_given_once() -> None:
    causes = CauseMemory()
    causes.created("conflink-1-a")
    assert causes.hung_up("conflink-1-a", "17") is None, "nobody asked yet"
    assert failed_attempt_reply(asked("conflink-1-a"), causes) == ("1796420646.1", "17")
    # asked again (a repeated event): nothing remembered any more, the dialplan falls back to REASON
    assert failed_attempt_reply(asked("conflink-1-a"), causes) == ("1796420646.1", "0")


def test_a_question_before_the_hangup_is_answered_by_the_hangup() -> None:
    # two attempts failing in the same millisecond: Asterisk sent the stand-in's UserEvent first
    causes = CauseMemory()
    causes.created("conflink-1-a")
    assert failed_attempt_reply(asked("conflink-1-a", stand_in="17.2"), causes) is None
    assert causes.hung_up("conflink-1-a", "17") == ("17.2", "17")
    assert len(causes) == 0


def test_no_channel_seen_answers_zero_at_once() -> None:
    # e.g. the endpoint could not even be dialled: no channel, no Hangup event will come
    assert failed_attempt_reply(asked("conflink-1-b"), CauseMemory()) == ("1796420646.1", "0")


@pytest.mark.parametrize("fields", [
    asked("conflink-1-a", UserEvent="ConflinkDtmf"),
    asked("labjoin-1"),                       # not our call
    asked("conflink-1-a;2"),                  # the ;2 half of a routed call is not the attempt
    asked("conflink-1-a", stand_in=""),
    asked("conflink-1-a", stand_in="OutgoingSpoolFailed"),
    asked("conflink-1-a", stand_in="1.1\r\nAction: Originate"),  # header injection
    asked("conflink-1-a", stand_in="x" * 80 + "1.1"),
])
def test_other_or_malformed_events_get_no_answer(fields: dict[str, str]) -> None:
    causes = CauseMemory()
    causes.created("conflink-1-a")
    causes.hung_up("conflink-1-a", "17")
    assert failed_attempt_reply(fields, causes) is None
    assert len(causes) == 1, "a refused event takes nothing away"


def test_a_cause_that_is_not_a_small_number_is_not_passed_on() -> None:
    causes = CauseMemory()
    causes.hung_up("conflink-1-a", "17; x")
    assert failed_attempt_reply(asked("conflink-1-a"), causes) == ("1796420646.1", "0")
    causes.created("conflink-1-b")
    assert failed_attempt_reply(asked("conflink-1-b"), causes) is None
    assert causes.hung_up("conflink-1-b", "1234") == ("1796420646.1", "0")


def test_the_memory_is_bounded_and_keeps_only_our_calls() -> None:
    causes = CauseMemory(limit=3)
    causes.created("labjoin-1")
    causes.hung_up("labjoin-1", "16")
    assert len(causes) == 0
    for i in range(5):
        causes.created(f"conflink-1-{i}")
        causes.hung_up(f"conflink-1-{i}", "17")
    assert len(causes) == 3
    assert causes.ask("conflink-1-0", "1.1") == ("1.1", "0") and causes.ask("conflink-1-4", "1.1") == ("1.1", "17")
    for i in range(5):  # questions waiting for a Hangup that never comes are bounded too
        causes.created(f"conflink-2-{i}")
        causes.ask(f"conflink-2-{i}", "1.1")
    assert len(causes) <= 6


@pytest.mark.asyncio
async def test_the_engine_answers_the_stand_in_with_the_hangup_cause() -> None:
    e = engine()
    e.internals_join("1")
    call_id = e.last_call_id("1")
    e.fake_ami.on_event("Newchannel", {"Event": "Newchannel", "Uniqueid": call_id, "Channel": "PJSIP/SIP-TEST-1"})
    e.external_fails("1", cause="17")  # 486 Busy Here
    e.fake_ami.on_event("UserEvent", asked(call_id, stand_in="1796420650.3"))
    setvars = e.fake_ami.actions("Setvar")
    assert setvars == [{"Action": "Setvar", "Channel": "1796420650.3", "Variable": CAUSE_VARIABLE, "Value": "17"}]


@pytest.mark.asyncio
async def test_the_engine_answers_a_question_that_came_before_the_hangup_at_the_hangup() -> None:
    e = engine()
    e.internals_join("1")
    call_id = e.last_call_id("1")
    e.fake_ami.on_event("Newchannel", {"Event": "Newchannel", "Uniqueid": call_id, "Channel": "PJSIP/SIP-TEST-1"})
    e.fake_ami.on_event("UserEvent", asked(call_id, stand_in="1796420650.5"))
    assert e.fake_ami.actions("Setvar") == []
    e.external_fails("1", cause="1")  # 404
    assert e.fake_ami.actions("Setvar") == [
        {"Action": "Setvar", "Channel": "1796420650.5", "Variable": CAUSE_VARIABLE, "Value": "1"}]


@pytest.mark.asyncio
async def test_the_engine_ignores_a_stand_in_of_another_call_and_is_quiet_without_ami() -> None:
    e = engine()
    e.fake_ami.on_event("UserEvent", asked("labjoin-7"))
    assert e.fake_ami.actions("Setvar") == []
    e.internals_join("1")
    call_id = e.last_call_id("1")
    e.fake_ami.ready = False
    e.fake_ami.on_event("UserEvent", asked(call_id))
    assert e.fake_ami.actions("Setvar") == []

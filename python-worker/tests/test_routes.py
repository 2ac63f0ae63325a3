"""dial_via: routes — the link key, the Originate into the PBX's outgoing routes, the Local
channel's halves (only the exact ChannelId is our call) and why a routed call failed."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest
from fakes import FakeEngine, ManualClock

from conflink.causes import Failure, classify, routed
from conflink.config import ConfigError, limits_document, parse_config
from conflink.rules import RouteLeg, RouteTrails, link_id_of, originate_channel, routed_call_of

ROOM = "354233"


def doc(**link: Any) -> dict[str, Any]:
    base = {"id": "1", "room": ROOM, "number": "100"}
    return {"version": 1, "ami": {"secret": "x"}, "links": [{**base, **link}]}


def engine_with(**link: Any) -> FakeEngine:
    return FakeEngine(parse_config(doc(**link)), ManualClock())


# ---------------------------------------------------------------- config


def test_dial_via_defaults_to_the_provider_and_routes_needs_no_endpoint() -> None:
    link = parse_config(doc(endpoint="SIP-A")).links[0]
    assert (link.dial_via, link.endpoint) == ("provider", "SIP-A")
    routed_link = parse_config(doc(dial_via="routes")).links[0]
    assert (routed_link.dial_via, routed_link.endpoint) == ("routes", "")
    # an endpoint given in routes mode is still checked (never dialled)
    assert parse_config(doc(dial_via="routes", endpoint="SIP-A")).links[0].endpoint == "SIP-A"
    assert "dial_via" in limits_document()["choices"] and limits_document()["choices"]["dial_via"] == [
        "provider", "routes"]


@pytest.mark.parametrize(("link", "error"), [
    ({}, "links[0].endpoint: is required (unless dial_via is routes)"),
    ({"dial_via": "provider"}, "links[0].endpoint: is required (unless dial_via is routes)"),
    ({"dial_via": "route", "endpoint": "SIP-A"}, "links[0].dial_via: 'route' is not one of provider, routes"),
    ({"dial_via": True}, "links[0].dial_via: True is not one of provider, routes"),
    ({"dial_via": "routes", "endpoint": "bad endpoint"},
     "links[0].endpoint: 'bad endpoint' is not a PJSIP endpoint name"),
])
def test_bad_dial_via_and_a_missing_endpoint_name_the_key(link: dict[str, Any], error: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_config(doc(**link))
    assert str(info.value) == error


def test_a_change_of_dial_via_is_a_dial_setting() -> None:
    a = parse_config(doc(endpoint="SIP-A")).links[0]
    b = parse_config(doc(endpoint="SIP-A", dial_via="routes")).links[0]
    assert a.dial_settings() != b.dial_settings()


# ---------------------------------------------------------------- channel halves


def test_only_the_exact_channel_id_is_our_call() -> None:
    assert link_id_of("conflink-1-abc") == "1"
    assert link_id_of("conflink-1-abc;2") is None
    assert link_id_of("conflink-1-abc;1") is None
    assert routed_call_of("conflink-1-abc;2") == "conflink-1-abc"
    assert routed_call_of("conflink-1-abc") is None
    assert routed_call_of("1700000000.12;2") is None


def test_originate_channel_per_mode() -> None:
    assert originate_channel(parse_config(doc(endpoint="SIP-A", number="+4930")).links[0]) == "PJSIP/+4930@SIP-A"
    assert originate_channel(parse_config(doc(dial_via="routes", number="0354#")).links[0]) == (
        "Local/0354#@conflink-route/n")


def test_route_trails_follow_the_legs_and_are_bounded() -> None:
    trails = RouteTrails()
    assert not trails.dial_begin("conflink-1-a", "leg-x")  # our ;1 never dials legs
    assert not trails.dial_begin("1700.1", "leg-x")
    assert trails.dial_begin("conflink-1-a;2", "leg-1") and trails.dial_begin("conflink-1-a;2", "leg-2")
    assert trails.dial_end("conflink-1-a;2", "leg-1", "CONGESTION")
    assert trails.hangup("leg-1", "34", "503") is None
    assert trails.hangup("unrelated", "16", "") is None
    assert trails.hangup("conflink-1-a;2", "16", "") is None  # our ;1 is still up: nothing to revise
    trail = trails.get("conflink-1-a")
    assert trail is not None and trail.half_ended
    assert [(leg.uid, leg.dial_status, leg.tech_cause, leg.ended) for leg in trail.legs] == [
        ("leg-1", "CONGESTION", "503", True), ("leg-2", "", "", False)]
    trails.drop("conflink-1-a")
    assert trails.get("conflink-1-a") is None and trails.leg_calls == {}


def test_a_half_that_ends_after_our_call_revises_what_was_said() -> None:
    trails = RouteTrails()
    # no route: our ;1 reported first (a DialEnd NOANSWER is all it knew), then the ;2 half ends
    own = classify(cause="16", dial_status="NOANSWER")
    assert trails.ended("conflink-1-a", own) == own  # nothing known of the ;2 yet
    trails.dial_begin("conflink-1-b;2", "leg-b")
    trails.dial_end("conflink-1-b;2", "leg-b", "BUSY")
    told = trails.ended("conflink-1-b", classify(cause="0", reason="5"))
    assert told == Failure("busy", "busy")  # the leg's DialEnd, its Hangup not yet in
    trails.hangup("leg-b", "17", "486")
    assert trails.hangup("conflink-1-b;2", "17", "") == ("conflink-1-b", Failure("busy", "busy (486)"))
    assert trails.get("conflink-1-b") is None and trails.leg_calls == {}
    # a ;2 that ended before our ;1: told at once, nothing left to revise
    trails.hangup("conflink-1-c;2", "16", "")
    assert trails.ended("conflink-1-c", own).category == "no_route" and trails.get("conflink-1-c") is None
    # the same story twice is no revision
    trails.dial_begin("conflink-1-d;2", "leg-d")
    trails.ended("conflink-1-d", classify(reason="3"))
    assert trails.hangup("conflink-1-d;2", "19", "") is None


# ---------------------------------------------------------------- causes


def leg(status: str, cause: str = "", tech: str = "", ended: bool = True) -> RouteLeg:
    return RouteLeg("leg", status, cause, tech, ended)


HUNG_UP = classify(cause="16")  # what the ;1 half often hears: a plain hang-up


def test_no_route_matched_when_the_half_ended_without_dialling() -> None:
    failure = routed(HUNG_UP, [], half_ended=True)
    assert failure == Failure("no_route", "no outgoing route of the PBX takes this number")
    assert not failure.permanent  # retried per back-off: a route may be added
    assert routed(HUNG_UP, [], half_ended=False) == HUNG_UP  # ;2 still running: nothing known yet
    # what our ;1 hears then (a DialEnd NOANSWER) is not why
    assert routed(classify(cause="16", dial_status="NOANSWER"), [], half_ended=True).category == "no_route"


def test_the_last_legs_answer_says_why() -> None:
    assert routed(HUNG_UP, [leg("BUSY", "17", "486")], True) == Failure("busy", "busy (486)")
    assert routed(HUNG_UP, [leg("CHANUNAVAIL", "1", "404")], True).permanent
    two = routed(HUNG_UP, [leg("CONGESTION", "34", "503"), leg("CONGESTION", "34", "503")], True)
    assert two == Failure("congestion", "2 routes tried, the last: service unavailable (503)")
    # our own ring timeout cancelled the leg: the ;1's no answer stands
    no_answer = classify(reason="3")
    assert routed(no_answer, [leg("CANCEL", "16", "487")], True) == no_answer
    # a leg that has not reported yet says nothing
    assert routed(HUNG_UP, [leg("", ended=False)], False) == HUNG_UP
    # an answered call that ended: normal clearing
    assert routed(HUNG_UP, [leg("ANSWER", "16")], True).category == "normal"


# ---------------------------------------------------------------- engine


@pytest.mark.asyncio
async def test_routed_originate_and_its_variables() -> None:
    engine = engine_with(dial_via="routes", number="0354233", callerid="74950000000")
    engine.internals_join("1")
    (originate,) = engine.fake_ami.actions("Originate")
    call_id = originate["ChannelId"]
    assert originate["Channel"] == "Local/0354233@conflink-route/n"
    assert (originate["Context"], originate["Exten"]) == ("conflink-join", ROOM)
    variables = dict(v.split("=", 1) for v in originate["Variable"])
    assert variables["CONFLINK_CALL_ID"] == call_id and variables["CONFLINK_NUMBER"] == "0354233"
    assert variables["CONFLINK_PROVIDER"] == "" and variables["CONFLINK_DIAL_VIA"] == "routes"
    assert variables["CONFLINK_CALLERID"] == "74950000000"
    assert abs(float(variables["CONFLINK_ATTEMPT_START"]) - time.time()) < 60

    provider = engine_with(endpoint="SIP-A")
    provider.internals_join("1")
    (originate,) = provider.fake_ami.actions("Originate")
    variables = dict(v.split("=", 1) for v in originate["Variable"])
    assert originate["Channel"] == "PJSIP/100@SIP-A"
    assert (variables["CONFLINK_PROVIDER"], variables["CONFLINK_DIAL_VIA"]) == ("SIP-A", "provider")
    assert "CONFLINK_CALLERID" not in variables


@pytest.mark.asyncio
async def test_the_second_half_and_the_provider_legs_are_never_our_call() -> None:
    engine = engine_with(dial_via="routes")
    engine.internals_join("1")
    call_id = engine.last_call_id("1")
    ami = engine.fake_ami
    half, leg_uid = f"{call_id};2", "1700000000.77"
    ami.on_event("Newchannel", {"Event": "Newchannel", "Uniqueid": call_id, "Channel": "Local/100@conflink-route-1;1"})
    ami.on_event("Newchannel", {"Event": "Newchannel", "Uniqueid": half, "Channel": "Local/100@conflink-route-1;2"})
    ami.on_event("DialBegin", {"Event": "DialBegin", "Uniqueid": half, "DestUniqueid": leg_uid})
    ami.on_event("DialEnd", {"Event": "DialEnd", "Uniqueid": half, "DestUniqueid": leg_uid, "DialStatus": "ANSWER"})
    ami.originates[call_id].set_result([{"Response": "Success"}, {"Event": "OriginateResponse",
                                                                  "Response": "Success", "Uniqueid": call_id}])
    await asyncio.sleep(0)
    ami.member_joined(ROOM, call_id, "Local/100@conflink-route-1;1")
    link = engine.status()["links"][0]
    assert link["state"] == "connected"
    # the ;2 half ends first when the far end hangs up: the call is still ours and up
    ami.on_event("Hangup", {"Event": "Hangup", "Uniqueid": leg_uid, "Channel": "PJSIP/SIP-A-1", "Cause": "16"})
    ami.on_event("Hangup", {"Event": "Hangup", "Uniqueid": half, "Channel": "Local/100@conflink-route-1;2",
                            "Cause": "16"})
    assert engine.status()["links"][0]["state"] == "connected"
    assert engine.fake_ami.actions("Hangup") == []  # a ;2 is never a stray to hang up
    # a resync that lists both halves (and the leg) adopts nothing and hangs up nothing
    ami.snapshot_channels = [{"Uniqueid": call_id, "Channel": "Local/100@conflink-route-1;1"},
                             {"Uniqueid": half, "Channel": "Local/100@conflink-route-1;2"},
                             {"Uniqueid": leg_uid, "Channel": "PJSIP/SIP-A-1"}]
    await engine.resync("test")
    assert engine.fake_ami.actions("Hangup") == [] and engine.status()["links"][0]["state"] == "connected"
    ami.channel_hungup(call_id, "Local/100@conflink-route-1;1")
    link = engine.status()["links"][0]
    assert link["state"] != "connected" and link["last_error"] == "external side hung up"
    assert engine.routes.trails == {} and engine.routes.leg_calls == {}
    # a ;2 half that reports after our call ended leaves no trail behind
    ami.on_event("Hangup", {"Event": "Hangup", "Uniqueid": half, "Channel": "Local/100@conflink-route-1;2",
                            "Cause": "16"})
    assert engine.routes.trails == {}


@pytest.mark.asyncio
async def test_a_number_no_route_takes_fails_clearly_and_is_retried_once_per_backoff() -> None:
    engine = engine_with(dial_via="routes", retry={"backoff": [5], "max_attempts": 3})
    engine.internals_join("1")
    ami = engine.fake_ami
    call_id = engine.last_call_id("1")
    ami.on_event("Hangup", {"Event": "Hangup", "Uniqueid": f"{call_id};2", "Channel": "Local/100@conflink-route-1;2",
                            "Cause": "16"})
    ami.originates[call_id].set_result([{"Response": "Failure"}, {"Event": "OriginateResponse", "Response": "Failure",
                                                                  "Uniqueid": call_id, "Reason": "1"}])
    await asyncio.sleep(0)
    ami.channel_hungup(call_id, "Local/100@conflink-route-1;1")
    link = engine.status()["links"][0]
    assert link["last_error"] == "no outgoing route of the PBX takes this number"
    assert link["state"] == "backoff" and len(ami.actions("Originate")) == 1
    engine.clock.advance(4.9)
    assert len(ami.actions("Originate")) == 1
    engine.clock.advance(0.2)
    assert len(ami.actions("Originate")) == 2


# ---------------------------------------------------------------- measured sequences
# The events Asterisk 22 sent for routed calls on the lab against Core's own [outgoing] (two
# routes, provider A then B; tests/mikopbx/test_outgoing_routes.py), in their order. "leg1"/
# "leg2" are the provider legs; H1/H2 our ;1 / ;2 halves; OR the OriginateResponse.

MEASURED: dict[str, tuple[list[tuple[str, dict[str, str]]], str, bool]] = {
    "busy at A (Core answers busy itself)": ([
        ("DialBegin", {"Uniqueid": "H2", "DestUniqueid": "leg1"}),
        ("DialEnd", {"Uniqueid": "H2", "DestUniqueid": "leg1", "DialStatus": "BUSY"}),
        ("Hangup", {"Uniqueid": "leg1", "Cause": "17", "TechCause": "486"}),
        ("OR", {"Reason": "5"}),
        ("DialEnd", {"DestUniqueid": "H1", "DialStatus": "BUSY"}),
        ("Hangup", {"Uniqueid": "H2", "Cause": "17"}),
        ("Hangup", {"Uniqueid": "H1", "Cause": "0"}),
    ], "busy (486)", False),
    "503 at A and at B": ([
        ("DialBegin", {"Uniqueid": "H2", "DestUniqueid": "leg1"}),
        ("DialEnd", {"Uniqueid": "H2", "DestUniqueid": "leg1", "DialStatus": "CONGESTION"}),
        ("Hangup", {"Uniqueid": "leg1", "Cause": "34", "TechCause": "503"}),
        ("DialBegin", {"Uniqueid": "H2", "DestUniqueid": "leg2"}),
        ("DialEnd", {"Uniqueid": "H2", "DestUniqueid": "leg2", "DialStatus": "CONGESTION"}),
        ("Hangup", {"Uniqueid": "leg2", "Cause": "34", "TechCause": "503"}),
        ("Hangup", {"Uniqueid": "H2", "Cause": "34"}),
        ("DialEnd", {"DestUniqueid": "H1", "DialStatus": "CONGESTION"}),
        ("OR", {"Reason": "0"}),
        ("Hangup", {"Uniqueid": "H1", "Cause": "34"}),
    ], "2 routes tried, the last: service unavailable (503)", False),
    "503 at A, 404 at B": ([
        ("DialBegin", {"Uniqueid": "H2", "DestUniqueid": "leg1"}),
        ("DialEnd", {"Uniqueid": "H2", "DestUniqueid": "leg1", "DialStatus": "CONGESTION"}),
        ("Hangup", {"Uniqueid": "leg1", "Cause": "34", "TechCause": "503"}),
        ("DialBegin", {"Uniqueid": "H2", "DestUniqueid": "leg2"}),
        ("DialEnd", {"Uniqueid": "H2", "DestUniqueid": "leg2", "DialStatus": "NOANSWER"}),
        ("Hangup", {"Uniqueid": "leg2", "Cause": "1", "TechCause": "404"}),
        ("Hangup", {"Uniqueid": "H2", "Cause": "1"}),
        ("OR", {"Reason": "0"}),
        ("DialEnd", {"DestUniqueid": "H1", "DialStatus": "NOANSWER"}),
        ("Hangup", {"Uniqueid": "H1", "Cause": "1"}),
    ], "2 routes tried, the last: number not found (404)", True),
    "no route takes the number": ([
        ("Hangup", {"Uniqueid": "H2", "Cause": "16"}),
        ("DialEnd", {"DestUniqueid": "H1", "DialStatus": "NOANSWER"}),
        ("Hangup", {"Uniqueid": "H1", "Cause": "16"}),
        ("OR", {"Reason": "0"}),
    ], "no outgoing route of the PBX takes this number", False),
    "no route, our ;1's Hangup first": ([
        ("DialEnd", {"DestUniqueid": "H1", "DialStatus": "NOANSWER"}),
        ("Hangup", {"Uniqueid": "H1", "Cause": "16"}),
        ("OR", {"Reason": "0"}),
        ("Hangup", {"Uniqueid": "H2", "Cause": "16"}),
    ], "no outgoing route of the PBX takes this number", False),
    "busy at A, the leg's Hangup after our ;1's": ([
        ("DialBegin", {"Uniqueid": "H2", "DestUniqueid": "leg1"}),
        ("DialEnd", {"Uniqueid": "H2", "DestUniqueid": "leg1", "DialStatus": "BUSY"}),
        ("OR", {"Reason": "5"}),
        ("Hangup", {"Uniqueid": "H1", "Cause": "0"}),
        ("Hangup", {"Uniqueid": "leg1", "Cause": "17", "TechCause": "486"}),
        ("Hangup", {"Uniqueid": "H2", "Cause": "17"}),
    ], "busy (486)", False),
    "404 at A and B, our ;1's Hangup first": ([
        ("DialBegin", {"Uniqueid": "H2", "DestUniqueid": "leg1"}),
        ("DialEnd", {"Uniqueid": "H2", "DestUniqueid": "leg1", "DialStatus": "NOANSWER"}),
        ("Hangup", {"Uniqueid": "leg1", "Cause": "1", "TechCause": "404"}),
        ("DialBegin", {"Uniqueid": "H2", "DestUniqueid": "leg2"}),
        ("DialEnd", {"Uniqueid": "H2", "DestUniqueid": "leg2", "DialStatus": "NOANSWER"}),
        ("OR", {"Reason": "0"}),
        ("Hangup", {"Uniqueid": "H1", "Cause": "1"}),
        ("Hangup", {"Uniqueid": "leg2", "Cause": "1", "TechCause": "404"}),
        ("Hangup", {"Uniqueid": "H2", "Cause": "1"}),
    ], "2 routes tried, the last: number not found (404)", True),
    "no answer within ring_timeout": ([
        ("DialBegin", {"Uniqueid": "H2", "DestUniqueid": "leg1"}),
        ("OR", {"Reason": "3"}),
        ("Hangup", {"Uniqueid": "H1", "Cause": "19"}),
        ("DialEnd", {"Uniqueid": "H2", "DestUniqueid": "leg1", "DialStatus": "CANCEL"}),
        ("Hangup", {"Uniqueid": "H2", "Cause": "19"}),
        ("Hangup", {"Uniqueid": "leg1", "Cause": "19", "TechCause": "480"}),
    ], "no answer (cause 19)", False),
}


@pytest.mark.asyncio
@pytest.mark.parametrize("case", list(MEASURED))
async def test_measured_routed_failures_say_why(case: str) -> None:
    events, error, permanent = MEASURED[case]
    engine = engine_with(dial_via="routes", retry={"backoff": [30], "max_attempts": 5})
    engine.internals_join("1")
    call_id = engine.last_call_id("1")
    ami = engine.fake_ami
    names = {"H1": call_id, "H2": f"{call_id};2", "leg1": "1796421010.2", "leg2": "1796421010.5"}
    for name, fields in events:
        fields = {k: names.get(v, v) for k, v in fields.items()}
        if name == "OR":
            ami.originates[call_id].set_result([{"Response": "Success"}, {
                "Event": "OriginateResponse", "Response": "Failure", "Uniqueid": call_id, **fields}])
            await asyncio.sleep(0)
        else:
            ami.on_event(name, {"Event": name, **fields})
    engine.clock.advance(1.5)  # past the failure grace
    link = engine.status()["links"][0]
    assert link["last_error"] == error, link
    assert link["permanent_failure"] is permanent  # as with a provider: the last one said 404
    assert link["state"] == ("failed" if permanent else "backoff")
    assert len(ami.actions("Originate")) == 1 and engine.routes.trails == {} and engine.routes.leg_calls == {}

"""The pure rules beside the state machine (conflink/rules.py)."""

from __future__ import annotations

from conflink.config import ANNOUNCER_PREFIX, LinkConfig
from conflink.fsm import LinkMachine, SnapshotCall
from conflink.rules import (
    CALL_ROOMS_MAX,
    GONE_MEMORY_SECONDS,
    CallBook,
    RoomSnapshot,
    RouteTrails,
    expected_parties,
    field_of,
    link_id_of,
    module_state,
    rooms_that_differ,
)


def test_link_id_of() -> None:
    assert link_id_of("conflink-12-abc") == "12"
    assert link_id_of("conflink-a_b-1") == "a_b"
    assert link_id_of("labjoin-1;2") is None
    assert link_id_of("conflink--x") is None
    assert link_id_of("conflink-1-") is None


def test_field_of_takes_the_first_of_a_repeated_header() -> None:
    assert field_of({"A": ["x", "y"]}, "A") == "x"
    assert field_of({"A": []}, "A") == ""
    assert field_of({}, "A") == ""


def test_snapshot_splits_ours_from_internals_and_replays_the_journal_in_order() -> None:
    snap = RoomSnapshot.from_list([
        {"Uniqueid": "in-1", "Channel": "Local/1"},
        {"Uniqueid": "conflink-1-a", "Channel": "PJSIP/x-1"},
        {"Uniqueid": "", "Channel": "junk"},
    ])
    assert snap.internals == {"in-1"} and snap.ours == {"conflink-1-a": "PJSIP/x-1"}
    snap.replay([
        ("leave", "in-1", ""), ("join", "in-2", "Local/2"), ("join", "in-1", "Local/1"),
        ("leave", "conflink-1-a", ""), ("join", "conflink-1-b", "PJSIP/x-2"),
    ])
    assert snap.internals == {"in-1", "in-2"} and snap.ours == {"conflink-1-b": "PJSIP/x-2"}


def test_the_announcer_is_neither_a_participant_nor_a_call_in_the_list_or_the_journal() -> None:
    announcer = ANNOUNCER_PREFIX + "1-3;2"
    snap = RoomSnapshot.from_list([{"Uniqueid": announcer, "Channel": "Local/5@x-announce"}])
    assert snap.internals == set() and snap.ours == {}
    snap.replay([("join", announcer, "Local/5@x-announce"), ("join", "in-1", "Local/1")])
    assert snap.internals == {"in-1"} and snap.ours == {}


def _machine(joined: bool | None) -> LinkMachine:
    m = LinkMachine(link=LinkConfig(id="1", room="5", endpoint="E", number="1"))
    if joined is not None:
        m.resync({"in"}, [SnapshotCall("conflink-1-a", "PJSIP/x", joined)], 0.0, None)
    return m


def test_expected_parties_counts_internals_and_only_joined_calls() -> None:
    assert expected_parties(2, [_machine(True), _machine(False), _machine(None)]) == 3
    assert rooms_that_differ({"5": 3, "6": 1}, {"5": 3, "6": 0, "7": 0, "8": 2}) == ["6", "8"]


def test_a_doomed_call_is_never_routed_and_a_strays_join_is_hung_up() -> None:
    book = CallBook()
    assert book.on_join("conflink-1-a", "5", "5") == "route"
    assert book.on_join("conflink-1-a", "5", "6") == "hang_up"  # link now in another room
    assert book.on_join("conflink-9-a", "5", None) == "hang_up"  # no such link
    book.doom("conflink-1-a", "PJSIP/x")
    assert book.on_join("conflink-1-a", "5", "5") == "hang_up"
    book.ended("conflink-1-a", 10.0)
    assert "conflink-1-a" not in book.doomed
    assert book.on_join("conflink-1-a", "5", "5") == "ignore"  # a late join of a call that is gone
    book.doom("conflink-1-a", "PJSIP/x")  # already gone: nothing to re-send later
    assert "conflink-1-a" not in book.doomed


def test_doom_keeps_a_known_channel_name() -> None:
    book = CallBook()
    book.doom("conflink-1-a", "PJSIP/x")
    book.doom("conflink-1-a", None)
    assert book.doomed == {"conflink-1-a": "PJSIP/x"}


def test_snapshot_calls_skip_gone_doomed_other_links_and_the_previous_room() -> None:
    book = CallBook()
    book.dialled("conflink-1-old", "4")  # dialled before the link moved to room 5
    book.dialled("conflink-1-new", "5")
    book.ended("conflink-1-gone", 1.0)
    book.doom("conflink-1-doomed", None)
    channels = {u: f"PJSIP/{u}" for u in
                ("conflink-1-old", "conflink-1-new", "conflink-1-gone", "conflink-1-doomed", "conflink-2-x")}
    calls = book.snapshot_calls("1", "5", {"conflink-1-in": "PJSIP/in"}, channels)
    assert calls == [SnapshotCall("conflink-1-in", "PJSIP/in", True),
                     SnapshotCall("conflink-1-new", "PJSIP/conflink-1-new", False)]
    # a call of the old room that actually sits in the new room is still seen
    assert book.snapshot_calls("1", "5", {"conflink-1-old": "PJSIP/o"}, {})[0].joined


def test_strays_and_doomed_resend() -> None:
    book = CallBook()
    joined = {"conflink-1-a": "PJSIP/a", "conflink-2-b": "PJSIP/b", "conflink-3-c": "PJSIP/c"}
    book.ended("conflink-3-c", 1.0)
    assert book.strays_in_room("5", joined, {"1": "5", "2": "6"}) == [("conflink-2-b", "PJSIP/b")]
    assert book.strays_of_unknown_links(joined, ["1"]) == [("conflink-2-b", "PJSIP/b")]
    book.doom("conflink-1-a", None)
    book.doom("conflink-1-z", "PJSIP/z")
    assert book.doomed_to_resend({"conflink-1-a": "PJSIP/a"}) == [("conflink-1-a", "PJSIP/a")]
    assert book.doomed == {}


def test_gone_memory_is_bounded_in_time() -> None:
    book = CallBook()
    book.ended("conflink-1-a", 0.0)
    book.ended("conflink-1-b", GONE_MEMORY_SECONDS)
    book.forget_old(GONE_MEMORY_SECONDS + 1)
    assert list(book.gone) == ["conflink-1-b"]


def test_dialled_rooms_are_bounded() -> None:
    from conflink.rules import CALL_ROOMS_MAX

    book = CallBook()
    for i in range(CALL_ROOMS_MAX + 5):
        book.dialled(f"conflink-1-{i}", "5")
    assert len(book.dialled_rooms) == CALL_ROOMS_MAX and "conflink-1-0" not in book.dialled_rooms


def test_a_late_end_removes_only_the_members_of_the_bridge_that_ended() -> None:
    from conflink.rules import ended_members

    bridges = {"old": "B1", "new": "B2", "listed": ""}
    assert sorted(ended_members(["old", "new", "listed"], bridges, "B1")) == ["listed", "old"]
    assert sorted(ended_members(["old", "new"], bridges, "")) == ["new", "old"]



def test_route_trails_are_bounded_oldest_first() -> None:
    trails = RouteTrails()
    for n in range(CALL_ROOMS_MAX + 1):
        assert trails.dial_begin(f"conflink-1-{n};2", f"leg-{n}")
    assert len(trails.trails) == CALL_ROOMS_MAX
    assert "conflink-1-0" not in trails.trails and "leg-0" not in trails.leg_calls
    assert f"conflink-1-{CALL_ROOMS_MAX}" in trails.trails


def test_module_state_reads_ifmodule_through_getvar() -> None:
    assert module_state({"Response": "Success", "Value": "1"}) == "loaded"
    assert module_state([{"Response": "Success", "Value": "0"}]) == "missing"
    # func_module absent (empty value), refused, or no answer: nobody can tell.
    assert module_state({"Response": "Success", "Value": ""}) == "unknown"
    assert module_state({"Response": "Error", "Message": "Permission denied"}) == "unknown"
    assert module_state(None) == "unknown" and module_state([]) == "unknown"

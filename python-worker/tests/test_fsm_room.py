"""Room controls on the pure state machine: keys from the room, DTMF and mute from the administrator."""

from __future__ import annotations

from test_fsm import Sim

from conflink.fsm import ROOM_KEYS_GAP_SECONDS, MuteExternal, SendDigits


def sent(actions: list) -> list[SendDigits]:
    return [a for a in actions if isinstance(a, SendDigits)]


def mutes(actions: list) -> list[MuteExternal]:
    return [a for a in actions if isinstance(a, MuteExternal)]


def connected(**link: object) -> Sim:
    sim = Sim(**link)
    sim.join("in-1")
    sim.join("in-2")
    sim.connect()
    return sim


def press(sim: Sim, uid: str, digits: str, gap: float = 0.2) -> list:
    out: list = []
    for digit in digits:
        out += sim.apply(sim.m.internal_digit(uid, digit, sim.now))
        sim.advance(gap)
    return out


def test_room_keys_off_by_default_so_a_0_1_0_config_forwards_nothing() -> None:
    sim = connected()
    assert sim.m.link.room_keys == ""
    assert sent(press(sim, "in-1", "*6*6#9")) == []


def test_room_keys_star6_go_to_the_far_end_on_the_live_call() -> None:
    sim = connected(room_keys="*6")
    out = sent(press(sim, "in-1", "*6"))
    assert out == [SendDigits("1", sim.call_id, "PJSIP/SIP-TEST-00000001", "*6")]
    # The sequence is consumed: one more 6 is not a second *6.
    assert sent(press(sim, "in-1", "6")) == []
    assert len(sent(press(sim, "in-1", "1*6"))) == 1


def test_room_keys_need_one_participant_and_no_long_pause() -> None:
    sim = connected(room_keys="*6")
    # Two people pressing * and 6 are not one sequence.
    assert sent(press(sim, "in-1", "*") + press(sim, "in-2", "6")) == []
    # A * long ago does not count.
    press(sim, "in-1", "*", gap=ROOM_KEYS_GAP_SECONDS + 0.1)
    assert sent(press(sim, "in-1", "6")) == []
    assert len(sent(press(sim, "in-1", "*6", gap=ROOM_KEYS_GAP_SECONDS - 0.1))) == 1


def test_room_keys_are_configurable_and_can_be_off() -> None:
    sim = connected(room_keys="#9#")
    assert sent(press(sim, "in-1", "*6")) == []
    assert [s.digits for s in sent(press(sim, "in-1", "1#9#"))] == ["#9#"]
    off = connected(room_keys="")
    assert sent(press(off, "in-1", "*6*6")) == []


def test_room_keys_without_a_call_in_the_room_send_nothing() -> None:
    sim = Sim(room_keys="*6")
    sim.join("in-1")
    assert sim.m.state == "dialing"
    assert sent(press(sim, "in-1", "*6")) == []  # still dialling: not in the room yet
    # Digits from someone the machine does not count (e.g. the external leg) are ignored.
    sim.connect()
    assert sent(press(sim, "stranger", "*6")) == []
    # A participant who left and came back starts afresh.
    press(sim, "in-1", "*")
    sim.leave("in-1")
    sim.join("in-1")
    assert sent(press(sim, "in-1", "6")) == []


def test_manual_dtmf_needs_a_live_call_and_valid_digits() -> None:
    sim = Sim()
    ok, message, actions = sim.m.manual_dtmf("123#", sim.now)
    assert (ok, message, actions) == (False, "no live external call in the room", [])
    sim.join("in-1")
    ok, message, _ = sim.m.manual_dtmf("123#", sim.now)
    assert not ok  # dialling, not in the room
    sim.connect()
    ok, message, actions = sim.m.manual_dtmf("12w", sim.now)
    assert not ok and message == "digits: 'w' is not a DTMF digit (0-9 * # A-D)"
    ok, message, actions = sim.m.manual_dtmf("123#", sim.now)
    assert ok and message == "sending 4 digit(s)"
    assert sent(actions) == [SendDigits("1", sim.call_id, "PJSIP/SIP-TEST-00000001", "123#")]
    # Being hung up: no longer live.
    sim.leave("in-1")
    assert sim.m.manual_dtmf("1", sim.now)[0] is False


def test_mute_holds_for_the_busy_period_and_the_room_emptying_clears_it() -> None:
    sim = connected()
    ok, message, actions = sim.m.manual_mute(True, sim.now)
    assert ok and message == "muting"
    assert mutes(actions) == [MuteExternal("1", "100", sim.call_id, "PJSIP/SIP-TEST-00000001", True)]
    sim.m.external_mute_seen(sim.call_id, True)
    assert sim.m.status(sim.now)["muted"] is True and sim.m.status(sim.now)["external_muted"] is True
    # The far end drops; the redialled call joins muted too.
    sim.gone()
    sim.advance(10)
    assert len(sim.originates) == 2
    sim.apply(sim.m.external_answered(sim.call_id, sim.now))
    joined = sim.m.external_joined(sim.call_id, "PJSIP/SIP-TEST-00000002", sim.now)
    assert mutes(joined) == [MuteExternal("1", "100", sim.call_id, "PJSIP/SIP-TEST-00000002", True)]
    ok, message, actions = sim.m.manual_mute(False, sim.now)
    assert ok and message == "unmuting" and mutes(actions)[0].muted is False
    sim.m.manual_mute(True, sim.now)
    # Everybody leaves: the next busy period starts unmuted.
    sim.leave("in-1")
    sim.leave("in-2")
    sim.gone()
    assert sim.m.muted is False
    sim.join("in-3")
    sim.apply(sim.m.external_answered(sim.call_id, sim.now))
    assert mutes(sim.m.external_joined(sim.call_id, "PJSIP/SIP-TEST-00000003", sim.now)) == []


def test_mute_without_a_live_call_is_refused_and_changes_nothing() -> None:
    sim = Sim()
    assert sim.m.manual_mute(True, sim.now) == (False, "no live external call in the room", [])
    sim.join("in-1")
    assert sim.m.manual_mute(True, sim.now)[0] is False  # still dialling
    assert sim.m.muted is False
    sim.connect()
    assert mutes(sim.m.external_joined(sim.call_id, "PJSIP/SIP-TEST-00000001", sim.now)) == []

"""Config keys of the room controls (issue 12): defaults, limits, errors naming the key."""

from __future__ import annotations

from typing import Any

import pytest

from conflink.config import ROOM_KEYS_DEFAULT, ConfigError, check_send_digits, parse_config


def parse_link(**link: Any) -> Any:
    base = {"id": "1", "room": "100", "endpoint": "SIP-TEST", "number": "555"}
    base.update(link)
    return parse_config({"version": 1, "links": [base]}).links[0]


def test_room_keys_default_and_values() -> None:
    # Off when absent: a 0.1.0 config forwards nothing (new links get *6 from the admin UI).
    assert ROOM_KEYS_DEFAULT == ""
    assert parse_link().room_keys == ""
    assert parse_link(room_keys="*6").room_keys == "*6"
    assert parse_link(room_keys="").room_keys == ""
    assert parse_link(room_keys="#9ABCD*0").room_keys == "#9ABCD*0"


@pytest.mark.parametrize(
    ("value", "error"),
    [
        (6, "links[0].room_keys: 6 must be a quoted string"),
        ("*6w", "links[0].room_keys: 'w' is not a DTMF digit"),
        ("*,6", "links[0].room_keys: ',' is not a DTMF digit"),
        ("123456789", "links[0].room_keys: is longer than 8 characters"),
        (None, "links[0].room_keys: None must be a quoted string"),
    ],
)
def test_room_keys_refused(value: Any, error: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_link(room_keys=value)
    assert error in str(info.value)


def test_send_digits_rules() -> None:
    assert check_send_digits("0123456789*#ABCD") is None
    assert check_send_digits("") is not None
    assert check_send_digits("1p") == "digits: 'p' is not a DTMF digit (0-9 * # A-D)"
    assert check_send_digits("1" * 33) == "digits: at most 32 characters"
    assert check_send_digits(None) is not None


def test_patterns_agree_with_the_checks() -> None:
    # PATTERNS is what the PHP validator and the page's JS copy; it must say what the checks say.
    import re

    from conflink.config import PATTERNS

    for text in ["", "*6", "#", "12345678", "123456789", "1w", "p", "a", "*,6", "0123456789*#ABCD", "1" * 33]:
        room_ok = re.fullmatch(PATTERNS["room_keys"], text) is not None
        try:
            parse_link(room_keys=text)
            assert room_ok, text
        except ConfigError:
            assert not room_ok, text
        assert (re.fullmatch(PATTERNS["send_digits"], text) is not None) == (check_send_digits(text) is None), text


def test_cost_limit_keys() -> None:
    link = parse_link()
    assert (link.max_call_minutes, link.daily_minutes) == (0, 0)  # no limits: today's behaviour
    link = parse_link(max_call_minutes=90, daily_minutes=1440)
    assert (link.max_call_minutes, link.daily_minutes) == (90, 1440)
    for key, value, error in [
        ("max_call_minutes", 1441, "out of range 1..1440 or 0"),
        ("daily_minutes", -1, "out of range 1..1440 or 0"),
        ("daily_minutes", 1.5, "is not an integer"),
        ("max_call_minutes", "60", "is not an integer"),
        ("max_call_minutes", True, "is not an integer"),
    ]:
        with pytest.raises(ConfigError) as info:
            parse_link(**{key: value})
        assert f"links[0].{key}" in str(info.value) and error in str(info.value), str(info.value)

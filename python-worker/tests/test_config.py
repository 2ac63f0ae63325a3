"""Config v1: every error names the key path and the value; defaults as in the design."""

from __future__ import annotations

import os

import pytest

from conflink.config import (
    DEFAULT_ENDPOINT,
    ConfigError,
    load_config_file,
    parse_config,
    parse_config_text,
    write_config_atomic,
)

MINIMAL = {"version": 1, "links": [{"id": "1", "room": "354233", "endpoint": "SIP-1601534775", "number": "849"}]}


def doc_with_link(**fields: object) -> dict:
    link = {"id": "1", "room": "354233", "endpoint": "SIP-TEST", "number": "849", **fields}
    return {"version": 1, "links": [link]}


def error_of(doc: object) -> str:
    with pytest.raises(ConfigError) as info:
        parse_config(doc)
    return str(info.value)


def test_minimal_link_gets_the_design_defaults() -> None:
    config = parse_config(MINIMAL)
    link = config.links[0]
    assert (link.enabled, link.dtmf, link.dtmf_delay, link.callerid) == (True, "", 1.0, "")
    assert (link.ring_timeout, link.arm_delay, link.linger) == (60, 0.0, 0.0)
    assert link.retry.max_attempts == 5 and link.retry.backoff == (5, 15, 30, 60, 120)
    assert link.retry.redial_on_drop is True
    assert config.control.endpoint == DEFAULT_ENDPOINT and config.control.token == ""
    assert config.dialplan.join_context == "conflink-join"
    assert (config.ami.host, config.ami.port) == ("127.0.0.1", 5038)


def test_full_document_from_the_design() -> None:
    text = """
version: 1
ami: {host: 127.0.0.1, port: 5038, username: conflink, secret: "s3cret"}
control: {endpoint: "tcp://127.0.0.1:7391", token: "abc"}
dialplan: {join_context: conflink-join}
links:
  - id: "1"
    room: "354233"
    enabled: true
    endpoint: "SIP-1601534775"
    number: "84957776675"
    dtmf: "354233w#"
    dtmf_delay: 1.5
    callerid: "+4930123"
    ring_timeout: 45
    arm_delay: 2
    linger: 10
    retry: {max_attempts: 3, backoff: [1, 2], redial_on_drop: false}
"""
    config = parse_config_text(text)
    link = config.links[0]
    assert link.dtmf == "354233w#" and link.callerid == "+4930123" and link.retry.backoff == (1.0, 2.0)
    assert config.control.token == "abc" and config.raw["links"][0]["number"] == "84957776675"


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({"dtmf": "12x"}, "links[0].dtmf: 'x' is not a DTMF character"),
        ({"dtmf": "1" * 65}, "links[0].dtmf: is longer than 64"),
        ({"room": 354233}, "links[0].room: 354233 must be a quoted string"),
        ({"room": "35a"}, "links[0].room: '35a' is not a room number"),
        ({"number": 4930123}, "links[0].number: 4930123 must be a quoted string"),
        ({"number": "123\nHangup"}, "links[0].number:"),
        ({"number": "1,2"}, "links[0].number:"),
        ({"endpoint": "a@b"}, "links[0].endpoint:"),
        ({"endpoint": "x)" }, "links[0].endpoint:"),
        ({"callerid": "Bob"}, "links[0].callerid:"),
        ({"id": "1-2"}, "links[0].id:"),
        ({"ring_timeout": 1}, "links[0].ring_timeout: 1 is out of range 5..300"),
        ({"ring_timeout": 5.5}, "links[0].ring_timeout: 5.5 is not an integer"),
        ({"dtmf_delay": "1"}, "links[0].dtmf_delay: '1' is not a number"),
        ({"linger": -1}, "links[0].linger: -1 is out of range"),
        ({"linger": float("nan")}, "links[0].linger:"),
        ({"enabled": "yes"}, "links[0].enabled: 'yes' is not true or false"),
        ({"retry": {"backoff": []}}, "links[0].retry.backoff:"),
        ({"retry": {"backoff": [1, "x"]}}, "links[0].retry.backoff[1]: 'x' is not a number"),
        ({"retry": {"max_attempts": True}}, "links[0].retry.max_attempts: True is not an integer"),
        ({"retry": {"tries": 3}}, "links[0].retry.tries: unknown key"),
        ({"colour": "red"}, "links[0].colour: unknown key"),
    ],
)
def test_link_errors_name_the_key_and_value(fields: dict, expected: str) -> None:
    assert error_of(doc_with_link(**fields)).startswith(expected)


@pytest.mark.parametrize(
    ("doc", "expected"),
    [
        ({}, "version: is required"),
        ({"version": 2}, "version: 2 is not a supported version"),
        ({"version": 1, "extra": 1}, "extra: unknown key"),
        ({"version": 1, "ami": {"port": 70000}}, "ami.port: 70000 is out of range"),
        ({"version": 1, "ami": {"secret": "a\r\nAction: Originate"}}, "ami.secret:"),
        ({"version": 1, "ami": {"host": "a b"}}, "ami.host:"),
        ({"version": 1, "control": {"endpoint": "tcp://0.0.0.0:7391"}}, "control.endpoint:"),
        ({"version": 1, "control": {"endpoint": "tcp://10.0.0.1:7391"}}, "control.endpoint:"),
        ({"version": 1, "control": {"endpoint": "ipc://relative"}}, "control.endpoint:"),
        ({"version": 1, "control": {"endpoint": "tcp://127.0.0.1:7391\n"}}, "control.endpoint:"),
        ({"version": 1, "ami": {"host": "127.0.0.1\n"}}, "ami.host:"),
        ({"version": 1, "ami": {"host": "a..b"}}, "ami.host:"),
        ({"version": 1, "ami": {"username": "conflink\n"}}, "ami.username:"),
        ({"version": 1, "control": {"token": "has space"}}, "control.token:"),
        ({"version": 1, "dialplan": {"join_context": "a,b"}}, "dialplan.join_context:"),
        ({"version": 1, "links": {}}, "links: {} must be a list"),
        ([1, 2], "expected a mapping"),
    ],
)
def test_document_errors(doc: object, expected: str) -> None:
    assert expected in error_of(doc)


def test_duplicate_link_ids_refused() -> None:
    doc = {"version": 1, "links": [MINIMAL["links"][0], dict(MINIMAL["links"][0])]}
    assert error_of(doc).startswith("links[1].id: '1' is used by another link")


def test_yaml_type_traps_are_caught() -> None:
    # Unquoted, PyYAML reads 0354233 as the octal int 120987 and +4930123 as an int.
    text = "version: 1\nlinks:\n  - {id: '1', room: 0354233, endpoint: E, number: '1'}\n"
    with pytest.raises(ConfigError, match=r"links\[0\].room: 120987 must be a quoted string"):
        parse_config_text(text)


def test_loopback_and_ipc_endpoints_accepted() -> None:
    for endpoint in ("tcp://127.0.0.1:1", "tcp://localhost:7391", "tcp://[::1]:7391", "ipc:///run/x/ctl.sock"):
        assert parse_config({"version": 1, "control": {"endpoint": endpoint}}).control.endpoint == endpoint


def test_missing_or_empty_file_means_no_config(tmp_path) -> None:
    assert load_config_file(str(tmp_path / "absent.yaml")) is None
    empty = tmp_path / "empty.yaml"
    empty.write_text("\n")
    assert load_config_file(str(empty)) is None


def test_bad_yaml_file_is_a_config_error(tmp_path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("version: 1\nlinks: [\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config_file(str(bad))


def test_atomic_write_round_trips_and_leaves_no_temp_files(tmp_path) -> None:
    path = tmp_path / "conf" / "worker.yaml"
    config = parse_config(doc_with_link(room="0354233", number="+4930123"))
    write_config_atomic(str(path), config.raw)
    again = load_config_file(str(path))
    assert again is not None and again.links[0].room == "0354233" and again.links[0].number == "+4930123"
    assert os.listdir(path.parent) == ["worker.yaml"]
    assert (path.stat().st_mode & 0o777) == 0o600

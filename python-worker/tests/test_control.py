"""ControlHandler (pure logic, fake engine) and ControlServer (real ZeroMQ sockets)."""

from __future__ import annotations

import asyncio
import json
import os
import stat
import time
from pathlib import Path
from typing import Any

import pytest
import zmq
import zmq.asyncio
from fakes import FakeEngine, free_port

from conflink.config import Config, parse_config, write_config_atomic
from conflink.control import (
    MAX_REQUEST_BYTES,
    ControlEndpointError,
    ControlHandler,
    ControlServer,
    EndpointInUseError,
    decode_request,
    parse_endpoint,
)

VERSION = "9.9.9-test"


def link_doc(link_id: str = "1", **over: Any) -> dict[str, Any]:
    doc: dict[str, Any] = {"id": link_id, "room": "354233", "endpoint": "SIP-PROV", "number": "84957776675"}
    doc.update(over)
    return doc


def config_doc(*links: dict[str, Any], token: str | None = None, endpoint: str | None = None) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "version": 1,
        "ami": {"host": "127.0.0.1", "port": 5038, "username": "conflink", "secret": "s3cret"},
        "links": list(links) or [link_doc()],
    }
    control: dict[str, Any] = {}
    if token is not None:
        control["token"] = token
    if endpoint is not None:
        control["endpoint"] = endpoint
    if control:
        doc["control"] = control
    return doc


def make_handler(tmp_path: Path, doc: dict[str, Any] | None = None, **kw: Any) -> tuple[ControlHandler, FakeEngine]:
    path = tmp_path / "conflink.yaml"
    config = None
    if doc is not None:
        config = parse_config(doc)
        write_config_atomic(str(path), config.raw)
    engine = FakeEngine(config)
    return ControlHandler(engine, path, VERSION, time.monotonic(), **kw), engine


def read_text(path: str) -> str:
    with open(path) as fh:
        return fh.read()


async def req(endpoint: str, payload: bytes | dict[str, Any], wait: float = 3.0) -> dict[str, Any]:
    """One request on a fresh REQ socket, as conflink-ctl does it."""
    ctx = zmq.asyncio.Context.instance()
    sock = ctx.socket(zmq.REQ)
    sock.setsockopt(zmq.LINGER, 0)
    try:
        sock.connect(endpoint)
        body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        await sock.send(body)
        raw = await asyncio.wait_for(sock.recv(), wait)
    finally:
        sock.close(linger=0)
    reply = json.loads(raw)
    assert isinstance(reply, dict)
    return reply


# =========================================================================== handler


@pytest.mark.asyncio
async def test_ping_and_status(tmp_path: Path) -> None:
    handler, _ = make_handler(tmp_path, config_doc(link_doc("1"), link_doc("2", room="100")))
    assert await handler.handle({"cmd": "ping"}) == {"ok": True, "version": VERSION}
    st = await handler.handle({"cmd": "status"})
    assert st["ok"] is True and st["version"] == VERSION
    assert 0 <= st["uptime"] < 60
    assert st["ami"]["connected"] is True
    assert [lk["id"] for lk in st["links"]] == ["1", "2"]


@pytest.mark.asyncio
async def test_status_uptime_accepts_wall_clock_start(tmp_path: Path) -> None:
    engine = FakeEngine()
    handler = ControlHandler(engine, tmp_path / "c.yaml", VERSION, time.time() - 100)
    st = await handler.handle({"cmd": "status"})
    assert 99 <= st["uptime"] < 110


@pytest.mark.asyncio
async def test_apply_good_config_swaps_engine_and_writes_file(tmp_path: Path) -> None:
    handler, engine = make_handler(tmp_path, config_doc(link_doc("1")))
    engine.internals_join("1")
    engine.external_joins("1", "PJSIP/SIP-PROV-1")
    new = config_doc(link_doc("1", number="555"), link_doc("2"))
    reply = await handler.handle({"cmd": "apply_config", "config": new})
    assert reply == {"ok": True, "notes": [
        "link 1: dial settings changed; the live call stays, the change applies at the next dial"]}
    assert engine.config is not None and [lk.id for lk in engine.config.links] == ["1", "2"]
    on_disk = parse_config(__import__("yaml").safe_load(handler.config_path.read_text()))
    assert on_disk == engine.config
    assert stat.S_IMODE(handler.config_path.stat().st_mode) == 0o600


@pytest.mark.asyncio
async def test_apply_first_config_without_previous_file(tmp_path: Path) -> None:
    handler, engine = make_handler(tmp_path, None)
    assert not handler.config_path.exists()
    reply = await handler.handle({"cmd": "apply_config", "config": config_doc()})
    assert reply["ok"] is True
    assert engine.config is not None and handler.config_path.exists()


@pytest.mark.parametrize(
    ("mutate", "key"),
    [
        (lambda d: d["links"][0].update(dtmf="12x"), "links[0].dtmf"),
        (lambda d: d["links"][0].update(room=354233), "links[0].room"),
        (lambda d: d["links"].append(link_doc("1")), "links[2].id"),
        (lambda d: d.update(version=2), "version"),
        (lambda d: d.update(colour="red"), "colour"),
        (lambda d: d["ami"].update(port=70000), "ami.port"),
        (lambda d: d.update(control={"endpoint": "tcp://0.0.0.0:7391"}), "control.endpoint"),
        (lambda d: d["links"][0].update(retry={"backoff": "5,10"}), "links[0].retry.backoff"),
    ],
)
@pytest.mark.asyncio
async def test_rejected_config_changes_nothing(tmp_path: Path, mutate: Any, key: str) -> None:
    handler, engine = make_handler(tmp_path, config_doc(link_doc("1"), link_doc("2")))
    before_bytes = handler.config_path.read_bytes()
    before_mtime = handler.config_path.stat().st_mtime_ns
    before_config = engine.config
    bad = config_doc(link_doc("1"), link_doc("2"))
    mutate(bad)
    reply = await handler.handle({"cmd": "apply_config", "config": bad})
    assert reply["ok"] is False
    assert key in reply["error"], reply
    assert engine.config is before_config
    assert not [c for c in engine.calls if c[0] == "apply_config"]
    assert handler.config_path.read_bytes() == before_bytes
    assert handler.config_path.stat().st_mtime_ns == before_mtime
    assert sorted(os.listdir(tmp_path)) == ["conflink.yaml"]  # no temp file left


@pytest.mark.parametrize("cfg", [None, [], "version: 1", 1, True])
@pytest.mark.asyncio
async def test_apply_config_needs_an_object(tmp_path: Path, cfg: Any) -> None:
    handler, engine = make_handler(tmp_path, None)
    reply = await handler.handle({"cmd": "apply_config", "config": cfg})
    assert reply["ok"] is False and reply["error"].startswith("config: must be an object")
    assert engine.config is None and not handler.config_path.exists()
    reply = await handler.handle({"cmd": "apply_config"})
    assert reply == {"ok": False, "error": "config: missing"}


@pytest.mark.asyncio
async def test_unwritable_config_path_changes_nothing(tmp_path: Path) -> None:
    handler, engine = make_handler(tmp_path, config_doc())
    old = engine.config
    handler.config_path = tmp_path / "file-not-dir" / "c.yaml"
    (tmp_path / "file-not-dir").write_text("x")
    reply = await handler.handle({"cmd": "apply_config", "config": config_doc(link_doc("9"))})
    assert reply["ok"] is False and "not saved" in reply["error"]
    assert engine.config is old and not engine.calls


@pytest.mark.asyncio
async def test_engine_failure_restores_previous_file(tmp_path: Path) -> None:
    handler, engine = make_handler(tmp_path, config_doc())
    before = handler.config_path.read_bytes()

    async def boom(config: Config) -> dict[str, Any]:
        raise RuntimeError("bug")

    engine.apply_config = boom  # type: ignore[method-assign]
    reply = await handler.handle({"cmd": "apply_config", "config": config_doc(link_doc("9"))})
    assert reply["ok"] is False and "RuntimeError" in reply["error"]
    assert handler.config_path.read_bytes() == before


@pytest.mark.asyncio
async def test_endpoint_change_is_a_note_not_a_rebind(tmp_path: Path) -> None:
    handler, _ = make_handler(tmp_path, config_doc(), bound_endpoint="tcp://127.0.0.1:7391")
    reply = await handler.handle({"cmd": "apply_config", "config": config_doc(endpoint="tcp://127.0.0.1:7392")})
    assert reply["ok"] is True
    assert any("control.endpoint change takes effect after restart" in n for n in reply["notes"])
    reply = await handler.handle({"cmd": "apply_config", "config": config_doc(endpoint="tcp://127.0.0.1:7391")})
    assert not any("control.endpoint" in n for n in reply["notes"])


@pytest.mark.asyncio
async def test_bound_endpoint_defaults_to_current_config(tmp_path: Path) -> None:
    handler, _ = make_handler(tmp_path, config_doc(endpoint="tcp://127.0.0.1:7500"))
    assert handler.bound_endpoint == "tcp://127.0.0.1:7500"
    handler2 = ControlHandler(FakeEngine(None), tmp_path / "other.yaml", VERSION, time.monotonic())
    assert handler2.bound_endpoint == "tcp://127.0.0.1:7391"


@pytest.mark.parametrize("token", [None, "", "wrong", "s3cret-token ", 123, ["s3cret-token"], "s3cret-tokeñ"])
@pytest.mark.asyncio
async def test_token_refused_does_nothing(tmp_path: Path, token: Any) -> None:
    handler, engine = make_handler(tmp_path, config_doc(token="s3cret-token"))
    before = handler.config_path.read_bytes()
    old = engine.config
    requests: list[dict[str, Any]] = [
        {"cmd": "ping"},
        {"cmd": "status"},
        {"cmd": "apply_config", "config": config_doc(link_doc("7"))},
        {"cmd": "dial", "link": "1"},
        {"cmd": "hangup", "link": "1"},
        {"cmd": "no-such-cmd"},
        {},
    ]
    for r in requests:
        if token is not None:
            r["token"] = token
        assert await handler.handle(r) == {"ok": False, "error": "unauthorized"}, r
    assert engine.calls == [] and engine.config is old
    assert handler.config_path.read_bytes() == before


@pytest.mark.asyncio
async def test_token_accepted_and_rotated(tmp_path: Path) -> None:
    handler, _ = make_handler(tmp_path, config_doc(token="t1"))
    assert (await handler.handle({"cmd": "ping", "token": "t1"}))["ok"] is True
    # The request is checked against the config in force; the new token applies afterwards.
    r = await handler.handle({"cmd": "apply_config", "token": "t1", "config": config_doc(token="t2")})
    assert r["ok"] is True
    assert await handler.handle({"cmd": "ping", "token": "t1"}) == {"ok": False, "error": "unauthorized"}
    assert (await handler.handle({"cmd": "ping", "token": "t2"}))["ok"] is True
    # Removing the token opens the socket again (still local only).
    assert (await handler.handle({"cmd": "apply_config", "token": "t2", "config": config_doc()}))["ok"]
    assert (await handler.handle({"cmd": "ping"}))["ok"] is True


@pytest.mark.asyncio
async def test_no_token_configured_accepts_any_string_token(tmp_path: Path) -> None:
    handler, _ = make_handler(tmp_path, config_doc())
    assert (await handler.handle({"cmd": "ping", "token": "whatever"}))["ok"] is True
    r = await handler.handle({"cmd": "ping", "token": 5})
    assert r == {"ok": False, "error": "token: must be a string"}


@pytest.mark.asyncio
async def test_dial_and_hangup_reach_engine(tmp_path: Path) -> None:
    handler, engine = make_handler(tmp_path, config_doc(link_doc("1"), link_doc("2")))
    r = await handler.handle({"cmd": "dial", "link": "2", "force": True, "seconds": 30})
    assert r == {"ok": True, "message": "test call started for 30 s"}
    r = await handler.handle({"cmd": "dial", "link": "1"})
    assert r == {"ok": False, "error": "room is empty; use force for a test call"}
    r = await handler.handle({"cmd": "hangup", "link": "1"})
    assert r == {"ok": False, "error": "no external call"}
    assert (await handler.handle({"cmd": "hangup", "link": "2"})) == {"ok": True, "message": "hanging up"}
    assert engine.calls == [("dial", "2", True, 30.0), ("dial", "1", False, None), ("hangup", "1"), ("hangup", "2")]
    await engine.settle()  # still ringing: the hang-up looks the channel up by its Uniqueid
    assert [a["Action"] for a in engine.fake_ami.sent] == ["Originate", "CoreShowChannels"]


@pytest.mark.asyncio
async def test_room_controls_reach_engine(tmp_path: Path) -> None:
    handler, engine = make_handler(tmp_path, config_doc(link_doc("1")))
    assert await handler.handle({"cmd": "mute", "link": "1"}) == {
        "ok": False, "error": "no live external call in the room"}
    engine.internals_join("1")
    engine.external_joins("1", "PJSIP/SIP-PROV-1")
    reply = await handler.handle({"cmd": "dtmf", "link": "1", "digits": "*6"})
    assert reply["ok"] is True, reply
    assert (await handler.handle({"cmd": "unmute", "link": "1"}))["ok"] is True
    assert engine.calls == [("mute", "1"), ("dtmf", "1", "*6"), ("unmute", "1")]
    sent = [a["Action"] for a in engine.fake_ami.sent]
    assert sent[-3:] == ["PlayDTMF", "PlayDTMF", "ConfbridgeUnmute"], sent


@pytest.mark.parametrize(
    ("request_", "error"),
    [
        ({"cmd": "dtmf", "link": "1"}, "digits: missing"),
        ({"cmd": "dtmf", "link": "1", "digits": 6}, "digits: must be a string, got number"),
        ({"cmd": "dtmf", "link": "1", "digits": ""}, "digits: must be a non-empty string"),
        ({"cmd": "dtmf", "link": "1", "digits": "1w2"}, "digits: 'w' is not a DTMF digit"),
        ({"cmd": "dtmf", "link": "1", "digits": "1,2"}, "digits: ',' is not a DTMF digit"),
        ({"cmd": "dtmf", "link": "1", "digits": "1" * 33}, "digits: at most 32 characters"),
        ({"cmd": "dtmf", "digits": "1"}, "link: missing"),
        ({"cmd": "dtmf", "link": "9", "digits": "1"}, "link: no link with id '9'"),
        ({"cmd": "mute", "link": "9"}, "link: no link with id '9'"),
        ({"cmd": "unmute"}, "link: missing"),
        ({"cmd": "mute", "link": "1", "digits": "1"}, "'digits': unknown key for cmd 'mute'"),
    ],
)
@pytest.mark.asyncio
async def test_room_control_bad_requests_never_reach_engine(
    tmp_path: Path, request_: dict[str, Any], error: str
) -> None:
    handler, engine = make_handler(tmp_path, config_doc(link_doc("1")))
    reply = await handler.handle(request_)
    assert reply["ok"] is False and error in reply["error"], reply
    assert engine.calls == []


@pytest.mark.parametrize(
    ("request_", "error"),
    [
        ({"cmd": "dial"}, "link: missing"),
        ({"cmd": "dial", "link": 1}, "link: must be a string"),
        ({"cmd": "dial", "link": "a b"}, "link: 'a b' is not a valid link id"),
        ({"cmd": "dial", "link": "x" * 33}, "is not a valid link id"),
        ({"cmd": "dial", "link": "9"}, "link: no link with id '9'"),
        ({"cmd": "dial", "link": "1", "force": "yes"}, "force: must be true or false"),
        ({"cmd": "dial", "link": "1", "force": 1}, "force: must be true or false"),
        ({"cmd": "dial", "link": "1", "seconds": "10"}, "seconds: must be a number"),
        ({"cmd": "dial", "link": "1", "seconds": True}, "seconds: must be a number"),
        ({"cmd": "dial", "link": "1", "seconds": 0}, "seconds: must be between 1 and 3600"),
        ({"cmd": "dial", "link": "1", "seconds": -5}, "seconds: must be between 1 and 3600"),
        ({"cmd": "dial", "link": "1", "seconds": 1e9}, "seconds: must be between 1 and 3600"),
        ({"cmd": "dial", "link": "1", "seconds": 3600.5}, "seconds: must be between 1 and 3600"),
        ({"cmd": "dial", "link": "1", "extra": 1}, "'extra': unknown key for cmd 'dial'"),
        ({"cmd": "hangup", "link": None}, "link: must be a string"),
        ({"cmd": "hangup", "link": "1", "force": True}, "'force': unknown key for cmd 'hangup'"),
        ({"cmd": "ping", "config": {}}, "'config': unknown key"),
        ({}, "cmd: missing"),
        ({"cmd": 5}, "cmd: must be a string, got number"),
        ({"cmd": ["ping"]}, "cmd: must be a string, got array"),
        ({"cmd": "reboot"}, "cmd: unknown command 'reboot'"),
        ({"cmd": "PING"}, "cmd: unknown command"),
    ],
)
@pytest.mark.asyncio
async def test_bad_requests_named(tmp_path: Path, request_: dict[str, Any], error: str) -> None:
    handler, engine = make_handler(tmp_path, config_doc(link_doc("1")))
    reply = await handler.handle(request_)
    assert reply["ok"] is False and error in reply["error"], reply
    assert engine.calls == []


@pytest.mark.asyncio
async def test_engine_exception_becomes_error_reply(tmp_path: Path) -> None:
    handler, engine = make_handler(tmp_path, config_doc())

    def broken_status() -> dict[str, Any]:
        raise KeyError("x")

    engine.status = broken_status  # type: ignore[method-assign]
    reply = await handler.handle({"cmd": "status"})
    assert reply["ok"] is False and "internal error" in reply["error"]


def test_decode_request_errors() -> None:
    assert decode_request([b'{"cmd":"ping"}']) == ({"cmd": "ping"}, None)
    cases = {
        (): "empty request",
        (b"{}", b"{}"): "single frame",
        (b"\xff\xfe",): "not valid UTF-8",
        (b"{",): "not valid JSON",
        (b"[1]",): "must be a JSON object, got array",
        (b'"x"',): "got string",
        (b"null",): "got null",
        (b'{"a": NaN}',): "NaN",
        (b'{"cmd": "ping", "cmd": "status"}',): "duplicate key 'cmd'",
        (b"[" * 100000 + b"]" * 100000,): "not valid JSON",
        (b"1" * 5000,): "not valid JSON",
        (b" " * (MAX_REQUEST_BYTES + 1),): "request too large",
    }
    for frames, msg in cases.items():
        req_, err = decode_request(list(frames))
        assert req_ is None and err is not None and msg in err, (frames[:1], err)


@pytest.mark.parametrize(
    "ep",
    [
        "tcp://127.0.0.1:7391",
        "tcp://localhost:1",
        "tcp://[::1]:65535",
        "ipc:///run/conflink/ctl.sock",
    ],
)
def test_parse_endpoint_accepts_local(ep: str) -> None:
    assert parse_endpoint(ep).url == ep


@pytest.mark.parametrize(
    "ep",
    [
        "tcp://0.0.0.0:7391",
        "tcp://*:7391",
        "tcp://192.168.1.2:7391",
        "tcp://127.0.0.1",
        "tcp://127.0.0.1:0",
        "tcp://127.0.0.1:65536",
        "tcp://127.0.0.1:*",
        "tcp://127.0.0.2:7391",
        "ipc://relative/ctl.sock",
        "ipc:///" + "x" * 120,
        "udp://127.0.0.1:7391",
        "inproc://x",
        "",
        None,
        7391,
    ],
)
def test_parse_endpoint_refuses_others(ep: Any) -> None:
    with pytest.raises(ControlEndpointError):
        parse_endpoint(ep)


# =========================================================================== server


@pytest.mark.asyncio
async def test_tcp_server_round_trip_and_second_bind_fails(tmp_path: Path) -> None:
    handler, _ = make_handler(tmp_path, config_doc())
    ep = f"tcp://127.0.0.1:{free_port()}"
    async with ControlServer(ep, handler):
        assert await req(ep, {"cmd": "ping"}) == {"ok": True, "version": VERSION}
        st = await req(ep, {"cmd": "status"})
        assert st["ok"] is True and st["links"][0]["id"] == "1"
        second = ControlServer(ep, handler)
        with pytest.raises(EndpointInUseError) as exc:
            await second.start()
        assert str(exc.value) == (f"control endpoint {ep} is already in use (another conflink-worker running?)")
        assert await req(ep, {"cmd": "ping"}) == {"ok": True, "version": VERSION}  # first still serves
    # Released on close: a new server can bind the same port. libzmq closes the listener in
    # its I/O thread, so allow it a moment.
    again = ControlServer(ep, handler)
    for _ in range(50):
        try:
            await again.start()
            break
        except EndpointInUseError:
            await asyncio.sleep(0.02)
    try:
        assert (await req(ep, {"cmd": "ping"}))["ok"] is True
    finally:
        await again.close()


@pytest.mark.asyncio
async def test_localhost_endpoint(tmp_path: Path) -> None:
    handler, _ = make_handler(tmp_path, config_doc())
    ep = f"tcp://localhost:{free_port()}"
    async with ControlServer(ep, handler):
        assert (await req(f"tcp://127.0.0.1:{ep.rsplit(':', 1)[1]}", {"cmd": "ping"}))["ok"] is True


@pytest.mark.asyncio
async def test_ipc_server_mode_lock_and_second_instance(tmp_path: Path) -> None:
    handler, _ = make_handler(tmp_path, config_doc())
    folder = tmp_path / "run" / "conflink"
    path = folder / "ctl.sock"
    ep = f"ipc://{path}"
    async with ControlServer(ep, handler):
        assert stat.S_IMODE(folder.stat().st_mode) == 0o700
        assert stat.S_ISSOCK(path.stat().st_mode)
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        lock = str(path) + ".lock"
        assert read_text(lock).strip() == str(os.getpid())
        assert stat.S_IMODE(os.stat(lock).st_mode) == 0o600
        assert await req(ep, {"cmd": "ping"}) == {"ok": True, "version": VERSION}
        inode = path.stat().st_ino
        with pytest.raises(EndpointInUseError) as exc:
            await ControlServer(ep, handler).start()
        assert f"control endpoint {ep} is already in use" in str(exc.value)
        # The refused second instance did not steal (re-create) the socket file.
        assert path.stat().st_ino == inode
        assert await req(ep, {"cmd": "ping"}) == {"ok": True, "version": VERSION}
    assert not path.exists()  # no stale socket file once closed
    async with ControlServer(ep, handler):
        assert (await req(ep, {"cmd": "ping"}))["ok"] is True


@pytest.mark.asyncio
async def test_ipc_lock_is_held_against_other_processes(tmp_path: Path) -> None:
    handler, _ = make_handler(tmp_path, config_doc())
    path = tmp_path / "ctl.sock"
    code = (
        "import fcntl, os, sys\n"
        f"fd = os.open({str(path) + '.lock'!r}, os.O_RDWR)\n"
        "try:\n    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)\nexcept BlockingIOError:\n    sys.exit(7)\n"
        "sys.exit(0)\n"
    )
    async with ControlServer(f"ipc://{path}", handler):
        proc = await asyncio.create_subprocess_exec("python3", "-c", code)
        assert await proc.wait() == 7
    proc = await asyncio.create_subprocess_exec("python3", "-c", code)
    assert await proc.wait() == 0


@pytest.mark.asyncio
async def test_dealer_client_without_empty_frame(tmp_path: Path) -> None:
    handler, _ = make_handler(tmp_path, config_doc())
    ep = f"tcp://127.0.0.1:{free_port()}"
    ctx = zmq.asyncio.Context.instance()
    async with ControlServer(ep, handler):
        d = ctx.socket(zmq.DEALER)
        d.setsockopt(zmq.LINGER, 0)
        d.connect(ep)
        try:
            await d.send(b'{"cmd": "ping"}')
            frames = await asyncio.wait_for(d.recv_multipart(), 3)
            assert len(frames) == 1 and json.loads(frames[0]) == {"ok": True, "version": VERSION}
            await d.send_multipart([b"", b'{"cmd": "ping"}'])  # REQ-style envelope over DEALER
            frames = await asyncio.wait_for(d.recv_multipart(), 3)
            assert frames[0] == b"" and json.loads(frames[1])["ok"] is True
        finally:
            d.close(linger=0)


@pytest.mark.asyncio
async def test_oversized_message_drops_only_that_client(tmp_path: Path) -> None:
    handler, _ = make_handler(tmp_path, config_doc())
    ep = f"tcp://127.0.0.1:{free_port()}"
    ctx = zmq.asyncio.Context.instance()
    async with ControlServer(ep, handler) as server:
        big = ctx.socket(zmq.REQ)
        big.setsockopt(zmq.LINGER, 0)
        big.connect(ep)
        try:
            await big.send(b" " * (5 * MAX_REQUEST_BYTES))
            with pytest.raises(asyncio.TimeoutError):
                await asyncio.wait_for(big.recv(), 0.5)
        finally:
            big.close(linger=0)
        r = await req(ep, b'{"cmd":"x","pad":"' + b"a" * (2 * MAX_REQUEST_BYTES) + b'"}')
        assert r["ok"] is False and "request too large" in r["error"]
        assert (await req(ep, {"cmd": "ping"}))["ok"] is True
        assert server.requests_served == 2


@pytest.mark.asyncio
async def test_server_survives_raising_and_bad_handlers(tmp_path: Path) -> None:
    ep = f"tcp://127.0.0.1:{free_port()}"
    calls = 0

    async def handler(request: dict[str, Any]) -> Any:
        nonlocal calls
        calls += 1
        if request.get("cmd") == "raise":
            raise RuntimeError("handler bug")
        if request.get("cmd") == "none":
            return None
        if request.get("cmd") == "nan":
            return {"ok": True, "value": float("nan"), "obj": object(), "t": (1, 2)}
        return {"ok": True}

    async with ControlServer(ep, handler):
        r = await req(ep, {"cmd": "raise"})
        assert r["ok"] is False and "handler bug" in r["error"]
        assert (await req(ep, {"cmd": "none"}))["ok"] is False
        r = await req(ep, {"cmd": "nan"})
        assert r["ok"] is True and r["value"] is None and r["t"] == [1, 2] and isinstance(r["obj"], str)
        assert await req(ep, {"cmd": "ok"}) == {"ok": True}
    assert calls == 4


@pytest.mark.asyncio
async def test_slow_request_does_not_block_others(tmp_path: Path) -> None:
    ep = f"tcp://127.0.0.1:{free_port()}"
    release = asyncio.Event()
    slow_in = asyncio.Event()

    async def handler(request: dict[str, Any]) -> dict[str, Any]:
        if request.get("cmd") == "slow":
            slow_in.set()
            await release.wait()
        return {"ok": True, "cmd": request.get("cmd")}

    async with ControlServer(ep, handler):
        slow = asyncio.create_task(req(ep, {"cmd": "slow"}))
        await asyncio.wait_for(slow_in.wait(), 5)  # the slow one is being handled
        assert await req(ep, {"cmd": "fast"}, wait=1) == {"ok": True, "cmd": "fast"}
        release.set()
        assert await slow == {"ok": True, "cmd": "slow"}


@pytest.mark.asyncio
async def test_close_while_client_waits(tmp_path: Path) -> None:
    ep = f"tcp://127.0.0.1:{free_port()}"
    started = asyncio.Event()

    async def handler(request: dict[str, Any]) -> dict[str, Any]:
        started.set()
        await asyncio.sleep(30)
        return {"ok": True}

    server = ControlServer(ep, handler)
    await server.start()
    waiting = asyncio.create_task(req(ep, {"cmd": "x"}, wait=1))
    await asyncio.wait_for(started.wait(), 3)
    await asyncio.wait_for(server.close(), 5)  # does not wait for the 30 s handler
    with pytest.raises(asyncio.TimeoutError):
        await waiting
